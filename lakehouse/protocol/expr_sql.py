"""Spark SQL text to the expression tree: the one parser behind every place that takes an expression
(filters, DELETE/UPDATE predicates and SET values, MERGE conditions and values, replaceWhere, CHECK
constraints).

sqlglot parses with Spark's grammar and functions, with one ANSI difference that delta-rs users rely on:
double-quoted names are identifiers (`"my col" = 'x'`), as with Spark's
`spark.sql.ansi.doubleQuotedIdentifiers`; string literals take single quotes, a quote inside one is
doubled (`'it''s'`) and a backslash is an ordinary character (LIKE patterns escape with it). Anything
outside the language (subqueries, aggregates, window functions, unknown functions) is one
`InvalidArgumentError` naming the construct.
"""

from __future__ import annotations

import re
import sys
import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol import expr_fast
from lakehouse.protocol.expr_ast import And, Arith, ArithOp, Case, Cast, Cmp, CmpOp, Col, Expr, Func, In, IsNull, Lit, Not, Or
from lakehouse.protocol.functions import lookup
from lakehouse.protocol.schema import DataType, DecimalType, PrimitiveType

# Parenthesis nesting a predicate may have. sqlglot's parser recurses about a dozen frames per level;
# machine-built predicates are wide (long OR chains, handled iteratively), not deep.
MAX_NESTING = 100
_PARSE_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _dialect() -> Any:
    from sqlglot.dialects.spark import Spark

    class LakehouseSpark(Spark):
        class Tokenizer(Spark.Tokenizer):
            QUOTES = ["'"]
            IDENTIFIERS = ["`", '"']
            STRING_ESCAPES = ["'"]  # 'it''s' (ANSI, as delta-rs); a backslash is an ordinary character

        class Parser(Spark.Parser):  # type: ignore[valid-type, misc]  # sqlglot types Spark.Parser as a variable (Parser = SparkParser)
            # Functions with a datetime pattern stay plain calls: sqlglot rewrites a pattern into strftime
            # and back, which mangles quoted text in a pattern ("'day' dd" came back as "dayyyy dd").
            FUNCTIONS = {k: v for k, v in Spark.Parser.FUNCTIONS.items() if k not in _PATTERN_FUNCTIONS}
            # `v:a.b[0]` extracts from a variant (Databricks SQL; Spark's variant_get with a path).
            COLON_IS_VARIANT_EXTRACT = True

    return LakehouseSpark


_PATTERN_FUNCTIONS = {"DATE_FORMAT", "TO_DATE", "TO_TIMESTAMP", "UNIX_TIMESTAMP", "TO_UNIX_TIMESTAMP", "FROM_UNIXTIME"}


def _nesting(text: str) -> int:
    depth = deepest = 0
    quote = ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth -= 1
    return deepest


def parse(text: str, *, now: datetime | None = None) -> Expr:
    """Parse a Spark SQL expression (a predicate or a value) into the tree (constants not yet folded).
    ``now`` is the instant `current_timestamp`, `now()` and `current_date` stand for (one per query, as
    Spark folds them; default: the clock when parsing)."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidArgumentError("expression must be a non-empty SQL string")
    if _nesting(text) > MAX_NESTING:
        raise InvalidArgumentError(
            f"expression nests parentheses {_nesting(text)} deep; the limit is {MAX_NESTING}\n"
            "Help: flatten it (long OR chains of `=` are better written as `col IN (...)`)")
    fast = expr_fast.parse(text)  # the common comparisons, without importing sqlglot
    return fast if fast is not None else parse_with_sqlglot(text, now=now)


def parse_with_sqlglot(text: str, *, now: datetime | None = None) -> Expr:
    """`parse` through sqlglot, for any text (the fast path's differential test calls it directly)."""
    import sqlglot
    from sqlglot.errors import ParseError, TokenError

    # The recursion limit is process-wide: one parse at a time raises and restores it, so a concurrent
    # parse never finds it lowered under its feet.
    with _PARSE_LOCK:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 12_000))
        try:
            try:
                tree = sqlglot.parse_one(text, read=_dialect())
            except (ParseError, TokenError) as e:
                raise InvalidArgumentError(_parse_message(text, e)) from None
            return _Converter(text, now).convert(tree)
        finally:
            sys.setrecursionlimit(limit)


def _parse_message(text: str, error: Exception) -> str:
    """One line saying where the text stops parsing and what was expected there, in SQL words: sqlglot's
    own text names its Python classes and underlines with terminal escape codes."""
    errors = getattr(error, "errors", None) or [{}]
    first = errors[0]
    where = f" at column {first.get('col')}" if first.get("col") else ""
    near = str(first.get("highlight") or "").strip()
    raw = str(first.get("description") or str(error) or "syntax error").splitlines()[0]
    if "missing for" in raw:  # "Required keyword: 'expression' missing for <class '...EQ'>"
        desc = f"'{near}' is missing an operand" if near else "an operand is missing"
    elif raw.startswith("Invalid expression / Unexpected token"):
        desc = f"unexpected '{near}'" if near else "unexpected token"
    elif raw.startswith("Expecting "):
        desc = f"expected {raw[len('Expecting '):].strip()!r}" + (f" near '{near}'" if near else "")
    elif raw.startswith("Error tokenizing") or isinstance(error, _token_error()):
        desc = "unterminated string or quoted name" if _unbalanced(text) else "invalid token"
    else:
        desc = _ESCAPES.sub("", raw)
        desc = re.sub(r"<class '(?:[\w]+\.)*(\w+)'>", r"\1", desc)
    hint = ""
    if '"' in text and "'" not in text:
        hint = "\nHelp: string literals take single quotes ('bob'); double quotes name columns"
    return f"cannot parse expression {text!r}{where}: {desc}{hint}"


_ESCAPES = re.compile(r"\x1b\[[0-9;]*m")


def _token_error() -> type:
    from sqlglot.errors import TokenError

    return TokenError


def _unbalanced(text: str) -> bool:
    return any(text.count(q) % 2 for q in ("'", '"', "`"))


_CMP: dict[str, CmpOp] = {"EQ": "=", "NEQ": "!=", "LT": "<", "LTE": "<=", "GT": ">", "GTE": ">=", "NullSafeEQ": "<=>"}
_ARITH: dict[str, ArithOp] = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Mod": "%", "IntDiv": "div"}
# sqlglot node -> (function name, argument keys in order)
_FUNCS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Upper": ("upper", ("this",)), "Lower": ("lower", ("this",)), "Length": ("length", ("this",)),
    "Substring": ("substring", ("this", "start", "length")), "Replace": ("replace", ("this", "expression", "replacement")),
    "StartsWith": ("startswith", ("this", "expression")), "EndsWith": ("endswith", ("this", "expression")),
    "Contains": ("contains", ("this", "expression")), "SplitPart": ("split_part", ("this", "delimiter", "part_index")),
    "RegexpExtract": ("regexp_extract", ("this", "expression", "group")), "Abs": ("abs", ("this",)),
    "Round": ("round", ("this", "decimals")), "Floor": ("floor", ("this",)), "Ceil": ("ceil", ("this",)),
    "Sqrt": ("sqrt", ("this",)), "Pow": ("pow", ("this", "expression")), "Ln": ("ln", ("this",)),
    "Log": ("log", ("this", "expression")), "Exp": ("exp", ("this",)), "IsNan": ("isnan", ("this",)),
    "Nanvl": ("nanvl", ("this", "expression")), "Nullif": ("nullif", ("this", "expression")),
    "TsOrDsAdd": ("date_add", ("this", "expression")), "DateAdd": ("date_add", ("this", "expression")),
    "DateSub": ("date_sub", ("this", "expression")), "DateDiff": ("datediff", ("this", "expression")),
    "AddMonths": ("add_months", ("this", "expression")), "Year": ("year", ("this",)), "Month": ("month", ("this",)),
    "Quarter": ("quarter", ("this",)), "Day": ("day", ("this",)), "DayOfMonth": ("day", ("this",)),
    "Hour": ("hour", ("this",)), "Minute": ("minute", ("this",)), "Second": ("second", ("this",)),
    "DayOfWeek": ("dayofweek", ("this",)), "DayOfYear": ("dayofyear", ("this",)),
    "TsOrDsToDate": ("to_date", ("this", "format")), "StrToTime": ("to_timestamp", ("this", "format")),
    "StrToDate": ("to_date", ("this", "format")), "TimeStrToTime": ("to_timestamp", ("this",)),
    "TimeToStr": ("date_format", ("this", "format")), "StrToUnix": ("unix_timestamp", ("this", "format")),
    "UnixToStr": ("from_unixtime", ("this", "format")), "UnixToTime": ("from_unixtime", ("this", "format")),
    "ArraySize": ("size", ("this",)), "ArrayContains": ("array_contains", ("this", "expression")),
    "Concat": ("concat", ("expressions",)), "ConcatWs": ("concat_ws", ("expressions",)),
    "Coalesce": ("coalesce", ("this", "expressions")), "Greatest": ("greatest", ("this", "expressions")),
    "Least": ("least", ("this", "expressions")), "DPipe": ("concat", ("this", "expression")),
    "Like": ("like", ("this", "expression")), "ILike": ("ilike", ("this", "expression")),
    "RegexpLike": ("rlike", ("this", "expression")), "Initcap": ("initcap", ("this",)),
    "JSONFormat": ("to_json", ("this",)), "ParseJSON": ("parse_json", ("this",)),
}
_REFUSED = {"Subquery": "subqueries", "Select": "subqueries", "Exists": "subqueries", "Window": "window functions",
            "AggFunc": "aggregate functions", "Lambda": "lambda functions", "Star": "*",
            "Placeholder": "parameters", "Parameter": "parameters"}
_TYPES = {"INT": "integer", "BIGINT": "long", "SMALLINT": "short", "TINYINT": "byte", "FLOAT": "float",
          "DOUBLE": "double", "BOOLEAN": "boolean", "DATE": "date", "TIMESTAMP": "timestamp",
          "TIMESTAMPTZ": "timestamp", "TIMESTAMPLTZ": "timestamp", "TIMESTAMPNTZ": "timestamp_ntz",
          "DATETIME": "timestamp_ntz", "VARCHAR": "string", "CHAR": "string", "TEXT": "string", "NVARCHAR": "string",
          "NCHAR": "string", "BINARY": "binary", "VARBINARY": "binary", "BLOB": "binary", "VARIANT": "variant"}
_INTERVAL_UNITS = {"DAY": "days", "DAYS": "days", "HOUR": "hours", "HOURS": "hours", "MINUTE": "minutes",
                   "MINUTES": "minutes", "SECOND": "seconds", "SECONDS": "seconds", "WEEK": "weeks", "WEEKS": "weeks",
                   "MILLISECOND": "milliseconds", "MILLISECONDS": "milliseconds",
                   "MICROSECOND": "microseconds", "MICROSECONDS": "microseconds"}


def sql_type(node: Any) -> DataType:
    """A sqlglot DataType node as a Delta type; unsupported targets are an error naming them."""
    kind = node.this.name if hasattr(node.this, "name") else str(node.this)
    if kind == "DECIMAL":
        params = [int(p.this.this) if hasattr(p.this, "this") else int(p.name) for p in node.expressions]
        precision, scale = (params + [10, 0][len(params):])[:2] if params else (10, 0)
        if not 1 <= precision <= 38 or not 0 <= scale <= precision:
            raise InvalidArgumentError(f"decimal({precision},{scale}) is outside precision 1..38, scale 0..precision")
        return DecimalType(precision, scale)
    if kind in _TYPES:
        return PrimitiveType(_TYPES[kind])
    raise InvalidArgumentError(f"CAST to {node.sql()} is not supported; types are {sorted(set(_TYPES.values()))} "
                               "and decimal(p,s)")


class _Converter:
    def __init__(self, text: str, now: datetime | None = None):
        self.text = text
        self.now = now

    def instant(self) -> datetime:
        """The query's `current_timestamp` (UTC)."""
        return (self.now or datetime.now(timezone.utc)).astimezone(timezone.utc)

    def fail(self, node: Any, what: str | None = None) -> InvalidArgumentError:
        name = what or type(node).__name__
        return InvalidArgumentError(f"{name} are not supported in expressions ({node.sql()!r} in {self.text!r})"
                                    if what else f"unsupported construct {name} ({node.sql()!r}) in {self.text!r}")

    def convert(self, node: Any) -> Expr:
        from sqlglot import exp

        kind = type(node).__name__
        if isinstance(node, exp.Paren):
            return self.convert(node.this)
        if isinstance(node, (exp.And, exp.Or)):
            items = tuple(self.convert(n) for n in _chain(node, type(node)))
            return And(items) if isinstance(node, exp.And) else Or(items)
        if isinstance(node, exp.Not):
            return Not(self.convert(node.this))
        if kind in _CMP:
            return Cmp(_CMP[kind], self.convert(node.this), self.convert(node.expression))
        if kind == "NullSafeNEQ":
            return Not(Cmp("<=>", self.convert(node.this), self.convert(node.expression)))
        if kind in _ARITH:
            return self.arithmetic(_ARITH[kind], node)
        if isinstance(node, exp.Neg):
            inner = self.convert(node.this)
            if isinstance(inner, Lit) and isinstance(inner.value, Decimal):
                return Lit(inner.value.copy_negate())  # exact: `-` would round to 28 digits
            if isinstance(inner, Lit) and isinstance(inner.value, (int, float)) and not isinstance(inner.value, bool):
                return Lit(-inner.value)
            return Func("negative", (inner,))
        if isinstance(node, exp.Between):
            item = self.convert(node.this)
            return And((Cmp(">=", item, self.convert(node.args["low"])), Cmp("<=", item, self.convert(node.args["high"]))))
        if isinstance(node, exp.Is):
            return self.is_(node)
        if isinstance(node, exp.In):
            return self.in_(node)
        if isinstance(node, (exp.Column, exp.Dot)):
            return Col(self.path(node))
        if isinstance(node, exp.Literal):
            return Lit(node.this) if node.is_string else Lit(_number(node.this))
        if isinstance(node, exp.Boolean):
            return Lit(bool(node.this))
        if isinstance(node, exp.Null):
            return Lit(None)
        if isinstance(node, exp.HexString):
            return Lit(bytes.fromhex(node.this if len(node.this) % 2 == 0 else "0" + node.this))
        if isinstance(node, exp.Cast):  # TryCast is a Cast in sqlglot
            return self.cast(node)
        if isinstance(node, exp.JSONExtract) and node.args.get("variant_extract"):
            return Func("variant_get", (self.convert(node.this), Lit(self.variant_path(node.expression))))
        if isinstance(node, exp.Case):
            return self.case(node)
        if isinstance(node, exp.If):
            return Case(((self.convert(node.this), self.convert(node.args["true"])),),
                        self.convert(node.args["false"]) if node.args.get("false") is not None else Lit(None))
        if kind == "Nvl2":
            cond = IsNull(self.convert(node.this), negated=True)
            return Case(((cond, self.convert(node.args["true"])),), self.convert(node.args["false"]))
        if kind == "Escape":
            like = node.this
            name = "ilike" if type(like).__name__ == "ILike" else "like"
            call = Func(name, (self.convert(like.this), self.convert(like.expression), self.convert(node.expression)))
            return Not(call) if like.args.get("negate") else call
        if kind == "Trim":
            return self.trim(node)
        if kind == "Pad":
            operands = [node.this, node.expression] + ([node.args["fill_pattern"]] if node.args.get("fill_pattern") else [])
            return Func("lpad" if node.args.get("is_left") else "rpad", tuple(self.convert(a) for a in operands))
        if kind == "Bracket":
            key = node.expressions[0] if len(node.expressions) == 1 else None
            if key is None:
                raise self.fail(node)
            name = "element_at" if node.args.get("offset") == 1 else "get_item"
            return Func(name, (self.convert(node.this), self.convert(key)))
        if isinstance(node, exp.CurrentDate):
            return Lit(self.instant().date())
        if isinstance(node, exp.CurrentTimestamp):
            return Lit(self.instant())
        if kind == "TimestampTrunc" or kind == "DateTrunc":
            unit = node.args.get("unit")
            return Func("date_trunc", (Lit(unit.name if unit is not None else "DAY"), self.convert(node.this)))
        if isinstance(node, exp.Interval):
            return self.interval(node)
        if kind in _FUNCS:
            name, keys = _FUNCS[kind]
            ignored = [k for k, v in node.args.items() if k not in keys and _meaningful(kind, k, v)]
            if any(type(a).__name__ == "TsOrDsToDate" and a.this is None for a in self.args(node, keys)):
                # sqlglot wraps a date argument in to_date() even when it is missing (year(), datediff(d))
                raise InvalidArgumentError(f"{name}() is missing an argument in {self.text!r}")
            if ignored:  # floor(x, 1), round(x, 1, 3), datediff(MONTH, a, b): refused, never half-read
                raise InvalidArgumentError(f"{name}() does not take this form of arguments: {node.sql()!r} "
                                           f"in {self.text!r}")
            args = tuple(self.convert(a) for a in self.args(node, keys))
            if "format" in keys and node.args.get("format") is not None and isinstance(args[-1], Lit) \
                    and isinstance(args[-1].value, str):
                args = args[:-1] + (Lit(_java_pattern(args[-1].value)),)
            call = Func(name, args)
            return Not(call) if node.args.get("negate") else call  # x NOT LIKE p
        if isinstance(node, exp.Anonymous):
            return self.anonymous(node)
        for cls, what in _REFUSED.items():
            if isinstance(node, getattr(exp, cls, ())):
                raise self.fail(node, what)
        if isinstance(node, exp.Func):
            raise InvalidArgumentError(f"function {node.sql_name().lower()}() is not supported in expressions "
                                       f"({node.sql()!r} in {self.text!r})")
        raise self.fail(node)

    @staticmethod
    def args(node: Any, keys: tuple[str, ...]) -> list[Any]:
        out: list[Any] = []
        for key in keys:
            value = node.args.get(key)
            if isinstance(value, list):
                out.extend(value)
            elif value is not None:
                out.append(value)
        return out

    def path(self, node: Any) -> tuple[str, ...]:
        from sqlglot import exp

        if isinstance(node, exp.Column):
            return tuple(p.name for p in node.parts)
        parts: list[str] = []
        while isinstance(node, exp.Dot):
            parts.insert(0, node.expression.name)
            node = node.this
        if not isinstance(node, exp.Column):
            raise self.fail(node)
        return tuple(p.name for p in node.parts) + tuple(parts)

    def arithmetic(self, op: ArithOp, node: Any) -> Expr:
        left, right = self.convert(node.this), self.convert(node.expression)
        if op in ("+", "-") and isinstance(right, Lit) and isinstance(right.value, (timedelta, _Months)):
            return _shift(left, right.value, negate=op == "-")
        if op == "+" and isinstance(left, Lit) and isinstance(left.value, (timedelta, _Months)):
            return _shift(right, left.value, negate=False)
        return Arith(op, left, right)

    def is_(self, node: Any) -> Expr:
        from sqlglot import exp

        item = self.convert(node.this)
        if isinstance(node.expression, exp.Null):
            return IsNull(item)
        if isinstance(node.expression, exp.Boolean):  # x IS TRUE / IS FALSE: never NULL
            return Cmp("<=>", item, Lit(bool(node.expression.this)))
        raise self.fail(node)

    def in_(self, node: Any) -> Expr:
        if node.args.get("query") is not None:
            raise self.fail(node, "subqueries")
        items = tuple(self.convert(v) for v in node.expressions)
        values = tuple(v for v in items if isinstance(v, Lit))
        if not values or len(values) != len(items):
            raise InvalidArgumentError(f"IN lists must hold literals only in {self.text!r}")
        return In(self.convert(node.this), values)

    def cast(self, node: Any) -> Expr:
        from sqlglot import exp

        to = sql_type(node.to)
        item = self.convert(node.this)
        safe = bool(node.args.get("safe"))
        if isinstance(node.this, exp.Literal) and node.this.is_string and isinstance(item, Lit):
            try:
                typed = _typed_literal(item.value, to)  # DATE '...', TIMESTAMP '...'
            except InvalidArgumentError:
                if not safe:
                    raise
                return Lit(None)  # TRY_CAST of text that is no date: NULL
            if typed is not None:
                return typed
        return Cast(item, to, safe)

    def case(self, node: Any) -> Expr:
        subject = self.convert(node.this) if node.args.get("this") is not None else None
        whens = []
        for branch in node.args.get("ifs") or []:
            cond = self.convert(branch.this)
            if subject is not None:
                cond = Cmp("=", subject, cond)
            whens.append((cond, self.convert(branch.args["true"])))
        default = node.args.get("default")
        return Case(tuple(whens), self.convert(default) if default is not None else Lit(None))

    def trim(self, node: Any) -> Expr:
        position = str(node.args.get("position") or "").upper()
        name = {"LEADING": "ltrim", "TRAILING": "rtrim"}.get(position, "trim")
        chars = node.args.get("expression")
        return Func(name, (self.convert(node.this),) + ((self.convert(chars),) if chars is not None else ()))

    def interval(self, node: Any) -> Expr:
        unit = (node.args.get("unit").name if node.args.get("unit") is not None else "").upper()
        raw = node.this.this if hasattr(node.this, "this") else node.this
        try:
            amount = int(str(raw).strip())
        except ValueError:
            raise InvalidArgumentError(f"INTERVAL {raw!r} {unit}: the amount must be a whole number") from None
        if unit in ("MONTH", "MONTHS", "YEAR", "YEARS"):
            return Lit(_Months(amount * (12 if unit.startswith("YEAR") else 1)))
        if unit not in _INTERVAL_UNITS:
            raise InvalidArgumentError(f"INTERVAL unit {unit or '?'} is not supported; units are "
                                       "YEAR, MONTH, WEEK, DAY, HOUR, MINUTE, SECOND, MILLISECOND, MICROSECOND")
        return Lit(timedelta(**{_INTERVAL_UNITS[unit]: amount}))

    def variant_path(self, node: Any) -> str:
        """The normalized path (``$['a'][0]``) of a `:` extraction's sqlglot JSONPath."""
        from lakehouse.protocol.functions.variants import path_text

        steps: list[str | int] = []
        for part in node.expressions:
            kind = type(part).__name__
            if kind == "JSONPathKey":
                steps.append(str(part.this))
            elif kind == "JSONPathSubscript" and isinstance(part.this, int):
                steps.append(part.this)
            elif kind != "JSONPathRoot":
                raise InvalidArgumentError(f"variant path {node.sql()!r} in {self.text!r}: only keys and array "
                                           "indexes are supported (no wildcards or slices)")
        return path_text(tuple(steps))

    def variant_get(self, node: Any, name: str, args: tuple[Expr, ...]) -> Expr:
        """``variant_get(v, path[, type])`` as the sub-variant at the path, CAST (try_: TRY_CAST) to the type."""
        from lakehouse.protocol.functions.variants import parse_path, path_text

        path, to = args[1], args[2] if len(args) == 3 else Lit("variant")
        if not (isinstance(path, Lit) and isinstance(path.value, str)):
            raise InvalidArgumentError(f"{name}(): the path must be a string literal in {self.text!r}")
        if not (isinstance(to, Lit) and isinstance(to.value, str)):
            raise InvalidArgumentError(f"{name}(): the type must be a string literal such as 'int' in {self.text!r}")
        import sqlglot

        try:
            target = sql_type(sqlglot.parse_one(f"CAST(NULL AS {to.value})", read=_dialect()).args["to"])
        except Exception as e:  # noqa: BLE001 - any failure to read the type is the same user error
            reason = str(e).splitlines()[0] if isinstance(e, InvalidArgumentError) else "not a type"
            raise InvalidArgumentError(f"{name}(): {to.value!r} is not a type lakehouse casts to ({reason}) "
                                       f"in {self.text!r}") from None
        extracted = Func("variant_get", (args[0], Lit(path_text(parse_path(path.value)))))
        return extracted if target == PrimitiveType("variant") else Cast(extracted, target, name.startswith("try_"))

    def anonymous(self, node: Any) -> Expr:
        name = str(node.this).lower()
        args = tuple(self.convert(a) for a in node.expressions)
        if name == "isnull" and len(args) == 1:
            return IsNull(args[0])
        if name == "isnotnull" and len(args) == 1:
            return IsNull(args[0], negated=True)
        if name in ("iff", "if") and len(args) == 3:
            return Case(((args[0], args[1]),), args[2])
        if name in ("try_cast",):
            raise self.fail(node)
        if name == "now" and not args:  # Spark's synonym of current_timestamp()
            return Lit(self.instant())
        if name in ("variant_get", "try_variant_get") and len(args) in (2, 3):
            return self.variant_get(node, name, args)
        lookup(name)  # an unknown function is an error with "did you mean"
        return Func(name, args)


def _meaningful(kind: str, key: str, value: Any) -> bool:
    """A sqlglot argument the function row does not read, and that is not sqlglot's own default."""
    from sqlglot import exp

    if not isinstance(value, exp.Expression):
        return False  # flags such as zero_start or safe
    if key == "unit" and kind in ("TsOrDsAdd", "DateAdd", "DateSub", "DateDiff"):
        return value.name.upper() not in ("DAY", "DAYS")
    return not (kind == "Initcap" and key == "expression" and value.sql() == "' '")


def _java_pattern(parsed: str) -> str:
    """sqlglot stores a Spark datetime pattern in its own strftime notation; give back Spark's text."""
    from sqlglot.time import format_time

    dialect = _dialect()
    return format_time(parsed, dialect.INVERSE_TIME_MAPPING, dialect.INVERSE_TIME_TRIE) or parsed


class _Months(int):
    """An INTERVAL of whole months (YEAR and MONTH intervals), applied with add_months."""


def _shift(item: Expr, by: timedelta | _Months, *, negate: bool) -> Expr:
    if isinstance(by, _Months):  # a date stays a date, a timestamp keeps its time of day
        return Func("add_interval_months", (item, Lit(-int(by) if negate else int(by))))
    return Arith("-" if negate else "+", item, Lit(by))


def _chain(node: Any, cls: type[Any]) -> list[Any]:
    """The operands of a left-deep chain of one binary operator (AND or OR), without recursion."""
    from sqlglot import exp

    out, stack = [], [node]
    while stack:
        n = stack.pop()
        while isinstance(n, exp.Paren) and isinstance(n.this, cls):
            n = n.this
        if isinstance(n, cls):
            stack.append(n.expression)
            stack.append(n.this)
        else:
            out.append(n)
    return out


def _number(text: str) -> int | float | Decimal:
    # Spark: digits are an integer, digits with a point a decimal, an exponent a double.
    try:
        return int(text)
    except ValueError:
        return float(text) if ("e" in text.lower()) else Decimal(text)


def _typed_literal(raw: str, to: DataType) -> Lit | None:
    try:
        if to == PrimitiveType("date"):
            return Lit(date.fromisoformat(raw.strip()))
        if isinstance(to, PrimitiveType) and to.name in ("timestamp", "timestamp_ntz"):
            return Lit(parse_timestamp(raw, ntz=to.name == "timestamp_ntz"))
    except ValueError:
        raise InvalidArgumentError(f"literal {raw!r} is not a valid {to}") from None
    return None


def parse_timestamp(raw: str, *, ntz: bool) -> datetime:
    """An ISO-8601 timestamp text: UTC when it has no offset (the session time zone), naive for NTZ."""
    dt = datetime.fromisoformat(raw.strip().replace("Z", "+00:00").replace(" ", "T", 1))
    if ntz:
        return dt.replace(tzinfo=None) if dt.tzinfo is None else dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)
