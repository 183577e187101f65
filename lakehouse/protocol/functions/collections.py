"""Array, map and struct access: element_at, [] , size, array_contains (NULL out of range, ANSI sizes)."""

from __future__ import annotations

from typing import Any, Callable

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.functions.registry import (
    BOOLEAN, INT, NOT_LITERAL, Call, arrow_type_of, null_of, register, udf,
)
from lakehouse.protocol.schema import ArrayType, DataType, MapType, type_name

# -- arrays, maps, structs ---------------------------------------------------------------------------------
def _element_at(zero_based: bool) -> Callable[[Call], pc.Expression]:
    def build(call: Call) -> pc.Expression:
        container, key = call.args
        if call.literals[1] is NOT_LITERAL:  # an index or key computed per row: arr[i], m[s.k]
            out = arrow_type_of(_element_type(call.types))
            return udf("element_at_rows", _pick_rows(zero_based, isinstance(call.types[0], MapType)),
                       [arrow_type_of(call.types[0]), arrow_type_of(call.types[1])], out, [container, key])
        if isinstance(call.types[0], MapType):
            return pc.map_lookup(container, query_key=_map_key(call, call.types[0]), occurrence="first")
        index = call.literal(1, "index")
        if index is None:
            return null_of(_element_type(call.types))
        if not zero_based and index == 0:
            raise InvalidArgumentError("element_at(): array indexes start at 1 (or -1 from the end), not 0")
        if zero_based and index < 0:  # arr[-1] is out of range (only element_at counts from the end): NULL
            return null_of(_element_type(call.types))
        length = pc.list_value_length(container)
        if index < 0 and not zero_based:
            position = pc.add(length, pc.scalar(int(index)))
        else:
            position = pc.scalar(int(index) - (0 if zero_based else 1))
        inside = (position >= av.lit(0)) & (position < length)
        # Out of range is NULL: the list itself is replaced by NULL before list_element sees the index.
        safe = pc.if_else(pc.coalesce(inside, av.lit(False)), container, av.lit(None, arrow_type_of(call.types[0])))
        if index < 0 and not zero_based:
            return udf("element_at_from_end", _from_end(int(index)), [arrow_type_of(call.types[0])],
                        arrow_type_of(_element_type(call.types)), [safe])
        return pc.list_element(safe, pc.scalar(int(index) - (0 if zero_based else 1)))
    return build


def _pick_rows(zero_based: bool, is_map: bool) -> Callable[[pa.Array, pa.Array], pa.Array]:
    """element_at / [] with the index or key of each row: the same rules as with a literal one."""
    def pick(containers: pa.Array, keys: pa.Array) -> pa.Array:
        out: list[Any] = []
        for c, k in zip(containers.to_pylist(), keys.to_pylist()):
            if c is None or k is None:
                out.append(None)
            elif is_map:
                out.append(next((v for key, v in c if key == k), None))
            elif not zero_based and k == 0:
                raise InvalidArgumentError("element_at(): array indexes start at 1 (or -1 from the end), not 0")
            else:
                i = k if zero_based else k - 1 if k > 0 else len(c) + k
                out.append(c[i] if 0 <= i < len(c) else None)
        value_type = containers.type.item_type if is_map else containers.type.value_type
        return av.array(out, value_type)
    return pick


def _from_end(index: int) -> Callable[[pa.Array], pa.Array]:
    def pick(lists: pa.Array) -> pa.Array:
        out = [None if v is None or len(v) < -index else v[index] for v in lists.to_pylist()]
        return av.array(out, lists.type.value_type)
    return pick


def _map_key(call: Call, map_type: MapType) -> Any:
    key = call.literal(1, "map key")
    key_type = map_type.key_type
    try:
        return av.scalar(key, arrow_type_of(key_type))
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        raise InvalidArgumentError(f"{call.name}(): key {key!r} does not fit the map's {type_name(key_type)} keys") from None




def _element_type(types: list[DataType | None]) -> DataType | None:
    t = types[0] if types else None
    if isinstance(t, ArrayType):
        return t.element_type
    if isinstance(t, MapType):
        return t.value_type
    return None


def _size(call: Call) -> pc.Expression:
    if call.types[0] is not None and not isinstance(call.types[0], (ArrayType, MapType)):
        raise InvalidArgumentError(f"{call.name}() takes an array or a map, got {type_name(call.types[0])}")
    if isinstance(call.types[0], MapType):
        def entries(maps: pa.Array) -> pa.Array:
            return av.array([None if m is None else len(m) for m in maps.to_pylist()], pa.int32())
        return udf("map_size", entries, [arrow_type_of(call.types[0])], pa.int32(), call.args)
    # ANSI (Spark 4) semantics: the size of a NULL array is NULL, not the legacy -1.
    return pc.list_value_length(call.args[0]).cast(pa.int32())


def _array_contains(call: Call) -> pc.Expression:
    list_type = arrow_type_of(call.types[0])
    value = call.literals[1] if len(call.literals) > 1 else NOT_LITERAL
    if value is not NOT_LITERAL and value is not None:
        try:
            av.scalar(value, list_type.value_type)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            raise InvalidArgumentError(f"array_contains(): {value!r} cannot be an element of "
                                       f"{type_name(call.types[0])}") from None

    def contains(lists: pa.Array, values: pa.Array) -> pa.Array:
        out: list[bool | None] = []
        for items, v in zip(lists.to_pylist(), values.to_pylist()):
            if items is None or v is None:
                out.append(None)
            elif v in items:
                out.append(True)
            else:
                out.append(None if None in items else False)  # Spark: a NULL element makes "not found" NULL
        return av.array(out, pa.bool_())
    return udf("array_contains", contains, [list_type, list_type.value_type], pa.bool_(), call.args)


register("element_at", 2, 2, _element_type, _element_at(False))
register("get_item", 2, 2, _element_type, _element_at(True))  # a[i] (0-based) and m[k]
register("size", 1, 1, INT, _size, aliases=("cardinality", "array_size"))
register("array_contains", 2, 2, BOOLEAN, _array_contains)
