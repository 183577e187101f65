"""DNF tuple filters, as pyarrow (`pyarrow.parquet.filters_to_expression`) and deltalake take them, to the
expression tree: ``[("a", "=", 1), ("b", "in", [1, 2])]`` is a conjunction, ``[[...], [...]]`` a
disjunction of conjunctions.

Operators: ``=``/``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``, ``not in``. A value is a literal of
the column's type or of a type Spark coerces to it (a string for a date or timestamp column, as pyarrow and
deltalake accept); the coercion and its errors are the tree's (`expr_arrow.coerce_literal`), so a DNF
filter and the SQL string it stands for select the same rows. Pure logic over Python values.
"""

from __future__ import annotations

from typing import Any, Sequence, TypeGuard

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol.expr_ast import FALSE, TRUE, And, Cmp, CmpOp, Col, Expr, In, Lit, Or

_OPS: dict[str, CmpOp] = {"=": "=", "==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_HELP = "Help: a DNF filter is [(column, op, value), ...] (AND) or [[...], [...]] (OR of ANDs); op is one of " \
        "=, ==, !=, <, <=, >, >=, in, not in"


def is_dnf(value: Any) -> TypeGuard[Sequence[Any]]:
    """Whether ``value`` has the shape of a DNF filter (a list or tuple of tuples or lists)."""
    return isinstance(value, (list, tuple)) and not isinstance(value, str)


def from_dnf(filters: Sequence[Any]) -> Expr:
    """The predicate a DNF filter stands for; `InvalidArgumentError` naming the malformed term."""
    if not filters:
        # Refused rather than read as "no filter": `delete([])` must not delete every row.
        raise InvalidArgumentError(f"empty DNF filter {filters!r}: give at least one (column, op, value) term\n{_HELP}")
    # A tuple is always a term (pyarrow's form); a list is a term when it looks like one, else a group.
    if all(isinstance(t, tuple) or _is_term(t) for t in filters):
        return _conjunction(filters)
    if all(isinstance(group, (list, tuple)) and not _is_term(group) for group in filters):
        ors = tuple(_conjunction(group) for group in filters)
        return ors[0] if len(ors) == 1 else Or(ors)
    for item in filters:
        if not isinstance(item, (list, tuple)):
            raise InvalidArgumentError(f"malformed DNF filter entry {item!r}: expected a (column, op, value) tuple\n{_HELP}")
    raise InvalidArgumentError(f"malformed DNF filter {filters!r}: it mixes (column, op, value) terms and lists of them\n{_HELP}")


def _is_term(item: Any) -> bool:
    return isinstance(item, (list, tuple)) and len(item) == 3 and isinstance(item[0], str) and isinstance(item[1], str)


def _conjunction(group: Sequence[Any]) -> Expr:
    if not group:
        raise InvalidArgumentError(f"empty conjunction [] in DNF filter\n{_HELP}")
    items = tuple(_term(t) for t in group)
    return items[0] if len(items) == 1 else And(items)


def _term(term: Any) -> Expr:
    if not _is_term(term):
        raise InvalidArgumentError(f"malformed DNF filter term {term!r}: expected (column, op, value)\n{_HELP}")
    column, op, value = term
    if not column:
        raise InvalidArgumentError(f"DNF filter term {term!r} has an empty column name")
    col = Col((column,))
    key = op.strip().lower()
    if key in _OPS:
        if isinstance(value, (list, tuple, set, frozenset)):
            raise InvalidArgumentError(f"DNF filter term {term!r} compares with a collection; use 'in'\n{_HELP}")
        return Cmp(_OPS[key], col, Lit(_python(value)))
    if key in ("in", "not in"):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise InvalidArgumentError(f"DNF filter term {term!r}: '{op}' takes a list of values, got {value!r}")
        values = tuple(Lit(_python(v)) for v in value)
        if not values:
            return FALSE if key == "in" else TRUE  # SQL: nothing is IN an empty list, everything is NOT IN it
        return In(col, values, negated=key == "not in")
    raise InvalidArgumentError(f"unsupported operator {op!r} in DNF filter term {term!r}\n{_HELP}")


def _python(value: Any) -> Any:
    """Plain Python values for Arrow/NumPy/pandas scalars, which users pass straight from their data."""
    if hasattr(value, "as_py"):
        return value.as_py()
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    if type(value).__name__ == "Timestamp" and hasattr(value, "to_pydatetime"):
        return value.to_pydatetime()
    return value
