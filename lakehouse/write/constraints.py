"""Enforcing NOT NULL columns, CHECK constraints and column invariants on written rows (PROTOCOL.md
"Column Invariants", "CHECK Constraints").

A CHECK constraint is violated by a row where it evaluates to FALSE (NULL passes, as in SQL). Expressions
are parsed with the shared predicate language; one it cannot parse makes the write fail with
`UnsupportedFeatureError` rather than go unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.errors import ConstraintViolationError, InvalidArgumentError, UnsupportedFeatureError
from lakehouse.protocol.arrow_plans import filter_rows
from lakehouse.protocol.expr import Expr, parse_sql, to_arrow
from lakehouse.protocol.schema import StructField, StructType

CONSTRAINT_PREFIX = "delta.constraints."


@dataclass(frozen=True)
class Check:
    """One named boolean expression every written row must not violate."""

    name: str
    sql: str
    expr: Expr


def table_checks(schema: StructType, configuration: dict[str, str | None]) -> list[Check]:
    """The CHECK constraints (table properties) and invariants (column metadata) of a table."""
    checks = []
    sources = [(k[len(CONSTRAINT_PREFIX):], v) for k, v in configuration.items() if k.startswith(CONSTRAINT_PREFIX) and v]
    for f in schema.fields:
        raw = f.metadata.get("delta.invariants")
        if raw:
            try:
                sql = orjson.loads(raw)["expression"]["expression"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                raise UnsupportedFeatureError(f"invariant of column '{f.name}' cannot be read: {raw!r}", feature="invariants") from None
            sources.append((f"invariant({f.name})", sql))
    for name, sql in sources:
        try:
            checks.append(Check(name, sql, parse_sql(sql)))
        except InvalidArgumentError as e:
            raise UnsupportedFeatureError(
                f"constraint '{name}' ({sql}) uses SQL lakehouse cannot evaluate, so writes cannot be checked: {e}",
                feature="checkConstraints",
            ) from None
    return checks


def _non_null_violations(table: pa.Table, fields: tuple[StructField, ...], prefix: str = "") -> str | None:
    for f in fields:
        if f.name not in table.column_names:
            continue
        col = table.column(f.name)
        if not f.nullable and col.null_count:
            return f"{prefix}{f.name}"
        if isinstance(f.type, StructType):
            valid = table.filter(pc.is_valid(col)) if col.null_count else table
            inner = pa.table({c.name: pc.struct_field(valid.column(f.name), c.name) for c in f.type.fields})
            found = _non_null_violations(inner, f.type.fields, f"{prefix}{f.name}.")
            if found:
                return found
    return None


def enforce(table: pa.Table, schema: StructType, checks: list[Check]) -> None:
    """Raise `ConstraintViolationError` naming the column or constraint when a row breaks one."""
    column = _non_null_violations(table, schema.fields)
    if column:
        raise ConstraintViolationError(f"NOT NULL column '{column}' received null values; nothing was written.")
    for check in checks:
        bad = filter_rows(table, ~to_arrow(check.expr, schema))
        if bad.num_rows:
            sample = bad.slice(0, 1).to_pylist()[0]
            raise ConstraintViolationError(
                f"{bad.num_rows} row(s) violate constraint {check.name} ({check.sql}), e.g. {sample}; nothing was written."
            )
