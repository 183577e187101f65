"""Static typing of expressions against a table schema: the type each node yields, and the checks that
turn a type error into one clear line before any data is read (a non-boolean predicate, a comparison of
a number with a string column, arithmetic on strings).

The families follow Spark's implicit-cast groups: values of one family compare and combine; a literal
is coerced to the column it meets (`date_col > '2024-01-03'`), two columns of different families are an
error. Pure logic over the expression tree; nothing here touches Arrow.
"""

from __future__ import annotations

import difflib
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Iterable, TypeGuard

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol.expr_ast import (
    And, Arith, Case, Cast, Cmp, Col, Expr, Func, In, IsNull, Lit, Not, Or, children,
)
from lakehouse.protocol.functions import common_type, lookup
from lakehouse.protocol.schema import DataType, DecimalType, PrimitiveType, StructType, type_name

_INTEGERS = ("byte", "short", "integer", "long")
_FLOATS = ("float", "double")
BOOLEAN = PrimitiveType("boolean")
DOUBLE = PrimitiveType("double")
LONG = PrimitiveType("long")

# Spark's decimal form of each integer type (DecimalType.forType): used when integers meet decimals.
INTEGER_DECIMALS = {"byte": DecimalType(3, 0), "short": DecimalType(5, 0), "integer": DecimalType(10, 0),
                    "long": DecimalType(20, 0)}


def field_type(schema: StructType, path: tuple[str, ...]) -> DataType:
    """The type of a (possibly nested) column, or `InvalidArgumentError` naming the unknown column."""
    dtype = _lookup(schema, path)
    if dtype is None:
        raise unknown_column_error(".".join(path), column_paths(schema))
    return dtype


def _lookup(schema: StructType, path: tuple[str, ...]) -> DataType | None:
    """The type at ``path``, None when a name is unknown; a path through a non-struct is an error."""
    dtype: DataType = schema
    for i, part in enumerate(path):
        if not isinstance(dtype, StructType):
            raise InvalidArgumentError(f"column {'.'.join(path[:i])} is a {type_name(dtype)}, not a struct: "
                                       f"'{'.'.join(path)}' names no field")
        try:
            dtype = dtype.field(part).type
        except KeyError:
            return None
    return dtype


def column_paths(schema: StructType) -> list[str]:
    """Every column's dotted path, nested struct fields included (`s`, `s.x`), for "did you mean"."""
    out: list[str] = []
    stack: list[tuple[str, StructType]] = [("", schema)]
    while stack:
        prefix, struct = stack.pop()
        for f in struct.fields:
            out.append(prefix + f.name)
            if isinstance(f.type, StructType):
                stack.append((prefix + f.name + ".", f.type))
    return out


def unknown_column_error(name: str, candidates: Iterable[str], *, where: str = "", text: str = "",
                         compared: bool = False) -> InvalidArgumentError:
    """The error for a column ``name`` that is not among ``candidates``: one line naming it and the
    columns, plus a Help line: "did you mean" the closest name, or (``compared``: the name is an operand of
    a comparison, like `bob` in `name = bob`) to quote string literals."""
    names = list(candidates)
    name = name if isinstance(name, str) else repr(name)  # a non-string "name" (columns=[1]) is shown as given
    shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    message = f"unknown column '{name}'{where}; the columns are {shown}"
    if name in names:  # a dotted name given as one column (a DNF term): it is a nested field's path
        head, _, rest = name.partition(".")
        return InvalidArgumentError(f"{message}\nHelp: '{name}' is field '{rest}' of struct column '{head}': "
                                    f"filter it in SQL ({name} = ...) or polars (pl.col('{head}').struct.field('{rest}'))")
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6) or \
        [n for n in names if n.lower() == name.lower()][:1]
    if close:
        return InvalidArgumentError(f"{message}\nHelp: did you mean '{close[0]}'?")
    if text and f'"{name}"' in text:
        return InvalidArgumentError(f"{message}\nHelp: string literals take single quotes: '{name}' "
                                    "(double quotes name columns)")
    if compared and "." not in name:
        return InvalidArgumentError(f"{message}\nHelp: quote string literals: '{name}'")
    return InvalidArgumentError(message)


def check_columns(expr: Expr, schema: StructType, *, text: str = "", what: str = "") -> None:
    """Raise `InvalidArgumentError` for the first column ``expr`` refers to that ``schema`` lacks (nested
    struct paths included), with a "did you mean" or "quote string literals" Help line."""
    where = f" in {what} {text!r}" if what and text else f" in {what}" if what else f" in {text!r}" if text else ""
    stack: list[tuple[Expr, bool]] = [(expr, False)]
    while stack:
        e, compared = stack.pop()
        if isinstance(e, Col):
            if _lookup(schema, e.path) is None:
                raise unknown_column_error(".".join(e.path), column_paths(schema), where=where, text=text,
                                           compared=compared)
            continue
        if isinstance(e, Cmp):
            stack.extend(((e.left, True), (e.right, True)))
        elif isinstance(e, In):
            stack.append((e.item, True))
        else:
            stack.extend((c, False) for c in children(e))


def literal_type(value: Any) -> DataType | None:
    """The type Spark gives a literal (None for NULL, whose type comes from where it is used)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return LONG
    if isinstance(value, float):
        return DOUBLE
    if isinstance(value, Decimal):
        sign, digits, exponent = value.as_tuple()
        scale = max(0, -int(exponent))
        return DecimalType(max(len(digits), scale, 1), scale)
    if isinstance(value, str):
        return PrimitiveType("string")
    if isinstance(value, datetime):
        return PrimitiveType("timestamp" if value.tzinfo is not None else "timestamp_ntz")
    if isinstance(value, date):
        return PrimitiveType("date")
    if isinstance(value, (bytes, bytearray)):
        return PrimitiveType("binary")
    return None


def family(dtype: DataType | None) -> str:
    """The implicit-cast family of a type: numeric, string, binary, boolean, datetime or nested."""
    if dtype is None:
        return "null"
    if isinstance(dtype, DecimalType):
        return "numeric"
    if isinstance(dtype, PrimitiveType):
        if dtype.name in _INTEGERS or dtype.name in _FLOATS:
            return "numeric"
        if dtype.name in ("date", "timestamp", "timestamp_ntz"):
            return "datetime"
        return dtype.name
    return "nested"


def is_floating(dtype: DataType | None) -> TypeGuard[PrimitiveType]:
    """float or double: the types with NaN and signed zeros."""
    return isinstance(dtype, PrimitiveType) and dtype.name in _FLOATS


def is_integer(dtype: DataType | None) -> TypeGuard[PrimitiveType]:
    """byte, short, integer or long."""
    return isinstance(dtype, PrimitiveType) and dtype.name in _INTEGERS


def _arith_type(op: str, left: DataType | None, right: DataType | None) -> DataType | None:
    if left is None or right is None:
        return left or right
    if op == "div":
        return LONG
    if op == "/" or is_floating(left) or is_floating(right):
        return DOUBLE
    if isinstance(left, DecimalType) or isinstance(right, DecimalType):
        # check_expression admits only numbers to arithmetic, so a side that is not a decimal is an integer.
        a = left if isinstance(left, DecimalType) else INTEGER_DECIMALS[left.name]  # type: ignore[union-attr]  # see above
        b = right if isinstance(right, DecimalType) else INTEGER_DECIMALS[right.name]  # type: ignore[union-attr]  # see above
        scale = max(a.scale, b.scale)
        if op == "*":
            return DecimalType(min(38, a.precision + b.precision + 1), min(38, a.scale + b.scale))
        return DecimalType(min(38, max(a.precision - a.scale, b.precision - b.scale) + scale + 1), scale)
    return LONG


def type_of(expr: Expr, schema: StructType) -> DataType | None:
    """The type ``expr`` yields over ``schema`` (None for an untyped NULL)."""
    if isinstance(expr, Col):
        return field_type(schema, expr.path)
    if isinstance(expr, Lit):
        return literal_type(expr.value)
    if isinstance(expr, Arith):
        left, right = type_of(expr.left, schema), type_of(expr.right, schema)
        if isinstance(expr.right, Lit) and isinstance(expr.right.value, timedelta):
            return left if left != PrimitiveType("string") else PrimitiveType("timestamp")  # date/timestamp +- INTERVAL
        return _arith_type(expr.op, left, right)
    if isinstance(expr, Func):
        return lookup(expr.name).result([type_of(a, schema) for a in expr.args])
    if isinstance(expr, Case):
        return common_type([type_of(v, schema) for _, v in expr.whens] + [type_of(expr.default, schema)])
    if isinstance(expr, Cast):
        return expr.to
    return BOOLEAN


def _describe(expr: Expr, dtype: DataType | None) -> str:
    if isinstance(expr, Col):
        return f"column {'.'.join(expr.path)} ({type_name(dtype)})" if dtype is not None else "NULL"
    if isinstance(expr, Lit):
        return f"literal {expr.value!r}" + (f" ({type_name(dtype)})" if dtype is not None else "")
    return f"an expression of type {type_name(dtype)}" if dtype is not None else "NULL"


def check_expression(expr: Expr, schema: StructType, *, boolean: bool, text: str = "") -> None:
    """Raise `InvalidArgumentError` for a type error anywhere in ``expr``; with ``boolean`` the whole
    expression must be a predicate (a condition, filter or constraint)."""
    where = f" in {text!r}" if text else ""
    check_columns(expr, schema, text=text)
    stack: list[tuple[Expr, bool]] = [(expr, boolean)]
    while stack:
        e, want_bool = stack.pop()
        if want_bool:
            dtype = type_of(e, schema)
            if dtype is not None and dtype != BOOLEAN:
                raise InvalidArgumentError(
                    f"{_describe(e, dtype)} is not a boolean condition{where}\n"
                    "Help: compare it with a value, e.g. `id = 1` or `flag = true`")
        if isinstance(e, (And, Or)):
            stack.extend((i, True) for i in e.items)
        elif isinstance(e, Not):
            stack.append((e.item, True))
        elif isinstance(e, Cmp):
            _check_comparable(e.left, e.right, schema, where)
            stack.extend(((e.left, False), (e.right, False)))
        elif isinstance(e, Arith) and isinstance(e.right, Lit) and isinstance(e.right.value, timedelta):
            dtype = type_of(e.left, schema)
            if family(dtype) not in ("datetime", "null"):
                raise InvalidArgumentError(f"cannot add an INTERVAL to {_describe(e.left, dtype)}{where}")
            stack.append((e.left, False))
        elif isinstance(e, Arith):
            for side in (e.left, e.right):
                dtype = type_of(side, schema)
                if family(dtype) not in ("numeric", "null"):
                    raise InvalidArgumentError(
                        f"cannot apply '{e.op}' to {_describe(side, dtype)}{where}: arithmetic needs numbers")
            stack.extend(((e.left, False), (e.right, False)))
        elif isinstance(e, In):
            for v in e.values:
                _check_comparable(e.item, v, schema, where)
            stack.append((e.item, False))
        elif isinstance(e, IsNull):
            stack.append((e.item, False))
        elif isinstance(e, Func):
            _check_call(e, schema, where)
            stack.extend((a, False) for a in e.args)
        elif isinstance(e, Case):
            stack.extend((c, True) for c, _ in e.whens)
            stack.extend((v, False) for _, v in e.whens)
            stack.append((e.default, False))
        elif isinstance(e, Cast):
            stack.append((e.item, False))


def _check_call(e: Func, schema: StructType, where: str) -> None:
    fn = lookup(e.name)
    n = len(e.args)
    if n < fn.min_args or (fn.max_args is not None and n > fn.max_args):
        want = (f"{fn.min_args}" if fn.max_args == fn.min_args else
                f"{fn.min_args} or more" if fn.max_args is None else f"{fn.min_args} to {fn.max_args}")
        raise InvalidArgumentError(f"{e.name}() takes {want} argument(s), got {n}{where}")
    if fn.arg_family in ("numeric", "datetime"):
        for arg in e.args[:1] if fn.arg_family == "datetime" else e.args:
            dtype = type_of(arg, schema)
            ok = family(dtype) in (fn.arg_family, "null") or (fn.arg_family == "datetime" and family(dtype) == "string")
            if not ok:
                raise InvalidArgumentError(f"{e.name}() takes {'numbers' if fn.arg_family == 'numeric' else 'a date or timestamp'}, "
                                           f"got {_describe(arg, dtype)}{where}")


def _check_comparable(left: Expr, right: Expr, schema: StructType, where: str) -> None:
    # A literal meets a column on the column's terms (coerce_literal decides and names the misfit);
    # two computed sides must already be of one family.
    lt, rt = type_of(left, schema), type_of(right, schema)
    if isinstance(left, Lit) or isinstance(right, Lit):
        if "variant" not in (family(lt), family(rt)):
            return
    lf, rf = family(lt), family(rt)
    # Nested values and variants are not comparable (PROTOCOL.md "Variant Data Type": "Variant is not a
    # comparable data type").
    if "null" in (lf, rf) or lf == rf and lf not in ("nested", "variant"):
        return
    if "variant" in (lf, rf):
        side, dtype = (left, lt) if lf == "variant" else (right, rt)
        raise InvalidArgumentError(f"cannot compare {_describe(side, dtype)}{where}: variant values are not "
                                   "comparable\nHelp: CAST it first, e.g. `v:a::int = 1`, "
                                   "`variant_get(v, '$.a', 'string') = 'x'`")
    raise InvalidArgumentError(f"cannot compare {_describe(left, lt)} with {_describe(right, rt)}{where}\n"
                               "Help: CAST one side to the other's type")
