"""Generated columns, identity columns and column defaults as declared in a schema's field metadata
(PROTOCOL.md "Generated Columns", "Identity Columns", "Default Columns"): reading the declarations, and
refusing invalid ones when a table is created or its schema changes.

Declarations live on top-level fields only (as in Spark): ``delta.generationExpression`` (Spark SQL over
the row's other columns), ``delta.identity.start`` / ``.step`` / ``.allowExplicitInsert`` /
``.highWaterMark``, and ``CURRENT_DEFAULT`` (a Spark SQL expression without column references).

``now()``, ``current_timestamp()`` and ``current_date()`` are one constant per write, as Spark folds them
per query: the parser turns those calls (never text inside a string literal) into that instant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Mapping

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol.expr import Expr, Func, columns, parse_sql
from lakehouse.protocol.expr_ast import children
from lakehouse.protocol.expr_types import check_expression, family, type_of
from lakehouse.protocol.schema import DataType, PrimitiveType, StructField, StructType, type_name

GENERATION_KEY = "delta.generationExpression"
IDENTITY_PREFIX = "delta.identity."
START, STEP = "delta.identity.start", "delta.identity.step"
ALLOW_EXPLICIT, HIGH_WATER_MARK = "delta.identity.allowExplicitInsert", "delta.identity.highWaterMark"
DEFAULT_KEY = "CURRENT_DEFAULT"

# Spark's non-deterministic functions: a generation expression using them could never be checked.
_NON_DETERMINISTIC = ("rand", "randn", "random", "uuid", "shuffle", "monotonically_increasing_id",
                      "spark_partition_id", "input_file_name")


@dataclass(frozen=True)
class Identity:
    """One identity column: first value, increment, whether explicit values are kept (BY DEFAULT) or
    refused (ALWAYS), and the highest (lowest for a negative step) value handed out so far."""

    column: str
    start: int
    step: int
    allow_explicit_insert: bool
    high_water_mark: int | None

    def next_values(self, count: int) -> tuple[list[int], int | None]:
        """``count`` fresh values after the high-water mark, and the new mark (unchanged when 0)."""
        first = self.start if self.high_water_mark is None else self.high_water_mark + self.step
        values = [first + i * self.step for i in range(count)]
        return values, (values[-1] if values else self.high_water_mark)

    def task_values(self, count: int, task: int, tasks: int, done: int = 0) -> tuple[list[int], int | None]:
        """Values for task ``task`` of ``tasks`` writing at once (Spark's distributed scheme): task ``i``
        hands out ``base + step * (i + 1)`` and then every ``step * tasks``, ``base`` being the mark (or
        ``start - step``), so no two tasks share a value and no task needs another's row count; ``done``
        values of this task came before. Returns the values and the task's last value (the mark it
        reaches). Gaps are allowed: PROTOCOL.md asks for unique values in the step's direction."""
        base = self.start - self.step if self.high_water_mark is None else self.high_water_mark
        first = base + self.step * (task + 1) + self.step * tasks * done
        values = [first + i * self.step * tasks for i in range(count)]
        return values, (values[-1] if values else None)

    def after_explicit(self, values: list[int]) -> int | None:
        """The mark after explicit values were kept (BY DEFAULT): moved past any value beyond it in the
        step's direction, so later generated values cannot collide with them (as Spark's
        `updateToValidHighWaterMark` does for values on the step's grid)."""
        mark = self.high_water_mark
        for v in values:
            if (v - self.start) % self.step != 0:
                continue  # off the grid: generated values can never equal it
            if self.step > 0 and v >= self.start and (mark is None or v > mark):
                mark = v
            if self.step < 0 and v <= self.start and (mark is None or v < mark):
                mark = v
        return mark


@dataclass(frozen=True)
class ColumnRules:
    """Every declaration of a schema: generated expressions (with their SQL), identity columns and
    defaults, by top-level column name, in schema order."""

    generated: Mapping[str, tuple[str, Expr]] = field(default_factory=dict)
    identities: Mapping[str, Identity] = field(default_factory=dict)
    defaults: Mapping[str, tuple[str, Expr]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.generated or self.identities or self.defaults)


def _calls(expr: Expr) -> set[str]:
    """The function names called in ``expr`` (the parsed tree: never text inside a string literal)."""
    names = {expr.name} if isinstance(expr, Func) else set()
    for child in children(expr):
        names |= _calls(child)
    return names


def _parse(sql: str, column: str, what: str, now: datetime) -> Expr:
    try:
        expr = parse_sql(sql, now=now)
    except InvalidArgumentError as e:
        # The language refuses the non-deterministic functions; say why they cannot be used here.
        named = [n for n in _NON_DETERMINISTIC if re.search(rf"\b{n}\s*\(", sql.lower())]
        if not named:
            raise InvalidArgumentError(f"{what} of column '{column}' ({sql}) cannot be parsed: {e}") from None
        called = named
    else:
        called = sorted(_calls(expr) & set(_NON_DETERMINISTIC))  # should the language ever support one
        if not called:
            return expr
    raise InvalidArgumentError(f"{what} of column '{column}' ({sql}) calls {called[0]}(), which is not "
                               "deterministic.\nHelp: use an expression of the row's columns only.")


def _int(meta: Mapping[str, str], key: str, column: str, default: int | None) -> int | None:
    raw = meta.get(key)
    if raw is None:
        return default
    try:
        return int(str(raw))
    except ValueError:
        raise InvalidArgumentError(f"column '{column}': {key} must be an integer, got {raw!r}") from None


def _identity(f: StructField) -> Identity:
    meta = f.metadata
    start = _int(meta, START, f.name, 1)
    step = _int(meta, STEP, f.name, 1)
    raw_allow = str(meta.get(ALLOW_EXPLICIT, "false")).lower()
    if raw_allow not in ("true", "false"):
        raise InvalidArgumentError(f"column '{f.name}': {ALLOW_EXPLICIT} must be true or false, got {raw_allow!r}")
    assert start is not None and step is not None
    return Identity(f.name, start, step, raw_allow == "true", _int(meta, HIGH_WATER_MARK, f.name, None))


def column_rules(schema: StructType, *, now: datetime | None = None) -> ColumnRules:
    """The declarations of ``schema``'s top-level fields (``now`` fixes the per-query constants)."""
    now = now or datetime.now(timezone.utc)
    generated, identities, defaults = {}, {}, {}
    for f in schema.fields:
        meta = f.metadata
        if GENERATION_KEY in meta:
            sql = str(meta[GENERATION_KEY])
            generated[f.name] = (sql, _parse(sql, f.name, "generation expression", now))
        if any(k.startswith(IDENTITY_PREFIX) for k in meta):
            identities[f.name] = _identity(f)
        if DEFAULT_KEY in meta:
            sql = str(meta[DEFAULT_KEY])
            defaults[f.name] = (sql, _parse(sql, f.name, "default", now))
    return ColumnRules(generated, identities, defaults)


def _nested_declarations(schema: StructType) -> None:
    from lakehouse.protocol.schema import walk_types

    top = {id(f) for f in schema.fields}
    for f, _ in walk_types(schema):
        if f is None or id(f) in top:
            continue
        for key in f.metadata:
            if key == GENERATION_KEY or key.startswith(IDENTITY_PREFIX) or key == DEFAULT_KEY:
                raise InvalidArgumentError(f"nested field '{f.name}' declares {key!r}; generated, identity and "
                                           "default columns must be top-level columns (as in Spark)")


def _assignable(source: DataType | None, target: DataType | None) -> bool:
    """Whether a value of type ``source`` can be stored in ``target`` without Spark refusing the
    generation expression (same type, or both numeric / both string / both datetime)."""
    if source is None or source == target:
        return True
    return family(source) == family(target) and family(target) in ("numeric", "string", "datetime")


def validate_declarations(schema: StructType, partition_columns: tuple[str, ...] | list[str] = ()) -> ColumnRules:
    """Refuse invalid declarations (when a table is created or its schema changes) and return them.

    Generation expressions must parse, be deterministic, refer only to existing columns that are neither
    generated nor identity columns, and have a type the column can hold. Identity columns must be
    ``long``, with a non-zero step, and carry no generation expression or default. Defaults must refer
    to no column and fit the column's type.
    """
    _nested_declarations(schema)
    rules = column_rules(schema)
    names = set(schema.names)
    for name, (sql, expr) in rules.generated.items():
        target = schema.field(name).type
        refs = {c.split(".")[0] for c in columns(expr)}
        bad = sorted(refs - names)
        if bad:
            raise InvalidArgumentError(f"generation expression of column '{name}' ({sql}) refers to unknown "
                                       f"column(s) {bad}; the table has {sorted(names)}")
        derived = sorted(refs & (set(rules.generated) | set(rules.identities)))
        if derived:
            raise InvalidArgumentError(f"generation expression of column '{name}' ({sql}) refers to generated or "
                                       f"identity column(s) {derived}, which Spark does not allow")
        check_expression(expr, schema, boolean=False, text=sql)
        result = type_of(expr, schema)
        if not _assignable(result, target):
            raise InvalidArgumentError(f"generation expression of column '{name}' ({sql}) has type "
                                       f"{type_name(result)}, which column '{name}' ({type_name(target)}) "
                                       "cannot hold.\nHelp: CAST the expression to the column's type.")
    for name, ident in rules.identities.items():
        f = schema.field(name)
        if f.type != PrimitiveType("long"):
            raise InvalidArgumentError(f"identity column '{name}' must have type long (bigint), got {type_name(f.type)}")
        if ident.step == 0:
            raise InvalidArgumentError(f"identity column '{name}': {STEP} must not be 0")
        if name in rules.generated or name in rules.defaults:
            raise InvalidArgumentError(f"identity column '{name}' cannot also have a generation expression or default")
        if name in partition_columns:
            raise InvalidArgumentError(f"identity column '{name}' cannot be a partition column (as in Spark)")
    for name, (sql, expr) in rules.defaults.items():
        if name in rules.generated:
            raise InvalidArgumentError(f"column '{name}' cannot have both a default and a generation expression")
        if columns(expr):
            raise InvalidArgumentError(f"default of column '{name}' ({sql}) refers to column(s) "
                                       f"{sorted(columns(expr))}; a default must be a constant expression")
        check_expression(expr, schema, boolean=False, text=sql)
        if not _assignable(type_of(expr, schema), schema.field(name).type):
            raise InvalidArgumentError(f"default of column '{name}' ({sql}) has type {type_name(type_of(expr, schema))}, "
                                       f"which column '{name}' ({type_name(schema.field(name).type)}) cannot hold")
    return rules


def with_high_water_marks(schema: StructType, marks: Mapping[str, int | None]) -> StructType:
    """``schema`` with ``delta.identity.highWaterMark`` of each identity column in ``marks`` set."""
    fields = []
    for f in schema.fields:
        mark = marks.get(f.name)
        if mark is not None and str(f.metadata.get(HIGH_WATER_MARK)) != str(mark):
            f = StructField(f.name, f.type, f.nullable, {**f.metadata, HIGH_WATER_MARK: mark})
        fields.append(f)
    return StructType(tuple(fields))


def features_declared(schema: StructType) -> set[str]:
    """The writer features the declarations in ``schema`` need."""
    needed = set()
    for f in schema.fields:
        if GENERATION_KEY in f.metadata:
            needed.add("generatedColumns")
        if any(k.startswith(IDENTITY_PREFIX) for k in f.metadata):
            needed.add("identityColumns")
        if DEFAULT_KEY in f.metadata:
            needed.add("allowColumnDefaults")
    return needed
