"""The function registry: what a registry row holds, how rows are added and looked up, the widening of
argument types (`common_type`), and vectorised Python functions registered with Arrow (`udf`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.schema import DataType, DecimalType, PrimitiveType, to_arrow_type

BOOLEAN, INT, LONG, DOUBLE = PrimitiveType("boolean"), PrimitiveType("integer"), PrimitiveType("long"), PrimitiveType("double")
STRING, DATE, TIMESTAMP = PrimitiveType("string"), PrimitiveType("date"), PrimitiveType("timestamp")
INTS = ("byte", "short", "integer", "long")
NULL_BOOL = pa.nulls(1, pa.bool_())[0]  # not av.scalar(None, ...): converting a Python object imports pandas


@dataclass(frozen=True)
class Call:
    """One call being compiled: its Arrow argument expressions, their types, and literal values (None
    where an argument is not a literal)."""

    name: str
    args: list[pc.Expression]
    types: list[DataType | None]
    literals: list[Any]

    def literal(self, i: int, what: str) -> Any:
        """The literal value of argument ``i``; a column there is an error naming ``what``."""
        if i >= len(self.literals) or self.literals[i] is NOT_LITERAL:
            raise InvalidArgumentError(f"{self.name}(): the {what} must be a literal")
        return self.literals[i]


NOT_LITERAL = object()


@dataclass(frozen=True)
class Function:
    """A registry row: arity, result type from argument types, and the Arrow builder."""

    name: str
    min_args: int
    max_args: int | None
    result: Callable[[list[DataType | None]], DataType | None]
    build: Callable[[Call], pc.Expression]
    arg_family: str | None = None  # "string", "numeric", "datetime": what every argument must be
    null_in_null_out: bool = True


FUNCTIONS: dict[str, Function] = {}


def register(name: str, lo: int, hi: int | None, result: Callable[[list[DataType | None]], DataType | None] | DataType,
              build: Callable[[Call], pc.Expression], *, family: str | None = None, aliases: Sequence[str] = (),
              null_in_null_out: bool = True) -> None:
    fn = result if callable(result) else (lambda types, _r=result: _r)
    row = Function(name, lo, hi, fn, build, family, null_in_null_out)
    for n in (name, *aliases):
        FUNCTIONS[n] = row


def lookup(name: str) -> Function:
    """The registry row for ``name``; an unknown name is an error listing close matches."""
    try:
        return FUNCTIONS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, FUNCTIONS, n=3)
        hint = f"\nHelp: did you mean {', '.join(close)}?" if close else ""
        raise InvalidArgumentError(f"unknown function {name}(){hint}") from None


# -- type helpers ------------------------------------------------------------------------------------------
def common_type(types: Sequence[DataType | None]) -> DataType | None:
    """The type values of ``types`` meet in (CASE branches, COALESCE, GREATEST): Spark's widening."""
    known = [t for t in types if t is not None]
    if not known:
        return None
    if all(t == known[0] for t in known):
        return known[0]
    names = {t.name if isinstance(t, PrimitiveType) else "decimal" if isinstance(t, DecimalType) else "other" for t in known}
    if names <= {*INTS, "float", "double", "decimal"}:
        if names & {"float", "double"}:
            return DOUBLE
        if "decimal" in names:
            decs = [t if isinstance(t, DecimalType) else _INT_DECIMAL[t.name]
                    for t in known if isinstance(t, (DecimalType, PrimitiveType))]  # every one: numbers only
            scale = max(d.scale for d in decs)
            whole = max(d.precision - d.scale for d in decs)
            return DecimalType(min(38, whole + scale), scale)
        return max((t for t in known if isinstance(t, PrimitiveType)), key=lambda t: INTS.index(t.name))  # all integers
    if names <= {"date", "timestamp"}:
        return TIMESTAMP
    if "string" in names:
        return STRING
    return known[0]


_INT_DECIMAL = {"byte": DecimalType(3, 0), "short": DecimalType(5, 0), "integer": DecimalType(10, 0),
                "long": DecimalType(20, 0)}


def first_type(types: list[DataType | None]) -> DataType | None:
    return types[0] if types else None


def cast_all(call: Call, to: DataType | None) -> list[pc.Expression]:
    if to is None:
        return call.args
    want = to_arrow_type(to)
    # A bare NULL (typed boolean in Arrow, which casts to few types) becomes a NULL of the common type.
    return [a if t == to else av.lit(None, want) if t is None else a.cast(want)
            for a, t in zip(call.args, call.types)]


def as_string(arg: pc.Expression, dtype: DataType | None) -> pc.Expression:
    """``arg`` as text, printed as Spark's CAST to string prints it (`1.0`, `NaN`, no `Z` on timestamps)."""
    from lakehouse.protocol.functions.casts import to_text  # casts builds on this module

    return to_text(arg, dtype)


def null_of(dtype: DataType | None) -> pc.Expression:
    return av.lit(None, to_arrow_type(dtype) if dtype is not None else pa.bool_())


# -- vectorised Python functions registered with Arrow -------------------------------------------------------
_REGISTERED: set[str] = set()


def udf(name: str, fn: Callable[..., pa.Array], in_types: Sequence[pa.DataType], out: pa.DataType,
         args: Sequence[pc.Expression]) -> pc.Expression:
    """An Arrow expression calling ``fn`` (arrays in, array out).

    Arrow's function registry is process-wide and keeps the first function registered under a name, so
    the name carries both the signature and what ``fn`` captured (`lpad`'s width and padding, a
    regexp): two calls that differ only in a literal argument are two functions, never one reused.
    """
    captured = hashlib.sha1(repr(_identity(fn)).encode()).hexdigest()[:16]
    key = "lakehouse_" + name + "_" + "_".join(re.sub(r"\W", "", str(t)) for t in (*in_types, out)) + "_" + captured
    if key not in _REGISTERED:
        def run(ctx: Any, *arrays: Any) -> pa.Array:
            # A literal argument arrives as a scalar: give the function one value per row.
            return fn(*(a if isinstance(a, (pa.Array, pa.ChunkedArray)) else
                        av.array([a.as_py()] * ctx.batch_length, a.type) for a in arrays))

        try:
            pc.register_scalar_function(
                run, key, {"summary": name, "description": f"lakehouse {name}"},
                {f"a{i}": t for i, t in enumerate(in_types)}, out)
        except pa.ArrowKeyError:
            pass  # registered by an earlier import of this module in the process
        _REGISTERED.add(key)
    return pc.Expression._call(key, [a.cast(t) for a, t in zip(args, in_types)])

def _identity(value: Any, depth: int = 0) -> Any:
    """What a function computes: its code and, recursively, the values its closure captured."""
    code = getattr(value, "__code__", None)
    if code is not None and depth < 8:
        cells = tuple(_identity(c.cell_contents, depth + 1) for c in (value.__closure__ or ()))
        defaults = tuple(_identity(d, depth + 1) for d in (value.__defaults__ or ()))
        return (code.co_filename, code.co_firstlineno, code.co_name, cells, defaults)
    if isinstance(value, re.Pattern):
        return ("re", value.pattern, value.flags)
    return (type(value).__name__, repr(value))


def arrow_type_of(dtype: DataType | None) -> pa.DataType:
    return to_arrow_type(dtype) if dtype is not None else pa.null()
