"""Date and time functions in the UTC session time zone, with Spark's datetime patterns (`yyyy-MM-dd`)."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timezone
from typing import Any, Callable

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.functions.registry import (
    DATE, INT, LONG, STRING, TIMESTAMP, Call, null_of, register, udf,
)
from lakehouse.protocol.schema import DecimalType, PrimitiveType

TIMESTAMP_NTZ = PrimitiveType("timestamp_ntz")

# -- dates and times ---------------------------------------------------------------------------------------
def _days(arg: pc.Expression) -> pc.Expression:
    return arg.cast(pa.date32()).cast(pa.int32())


def _date_add(sign: int) -> Callable[[Call], pc.Expression]:
    def build(call: Call) -> pc.Expression:
        days = call.args[1].cast(pa.int32())
        moved = (pc.add_checked if sign > 0 else pc.subtract_checked)(_days(call.args[0]), days)
        return moved.cast(pa.date32())
    return build


def _datediff(call: Call) -> pc.Expression:
    return pc.subtract(_days(call.args[0]), _days(call.args[1]))


def _add_months(call: Call) -> pc.Expression:
    def add(days: pa.Array, months: pa.Array) -> pa.Array:
        out: list[date | None] = []
        for d, m in zip(days.to_pylist(), months.to_pylist()):
            if d is None or m is None:
                out.append(None)
                continue
            index = d.year * 12 + d.month - 1 + m
            y, mo = divmod(index, 12)
            if not 1 <= y <= 9999:
                raise InvalidArgumentError(f"add_months(): {d} plus {m} months is outside years 1 to 9999")
            out.append(date(y, mo + 1, min(d.day, calendar.monthrange(y, mo + 1)[1])))
        return av.array(out, pa.date32())
    return udf("add_months", add, [pa.date32(), pa.int32()], pa.date32(), [call.args[0], call.args[1]])


def _add_interval_months(call: Call) -> pc.Expression:
    """`x + INTERVAL n MONTH`: add_months that keeps a timestamp's time of day (a date stays a date)."""
    dtype = call.types[0]
    if dtype not in (TIMESTAMP, TIMESTAMP_NTZ):
        return _add_months(call)
    arrow = pa.timestamp("us", tz="UTC") if dtype == TIMESTAMP else pa.timestamp("us")

    def add(stamps: pa.Array, months: pa.Array) -> pa.Array:
        out: list[datetime | None] = []
        for t, m in zip(stamps.to_pylist(), months.to_pylist()):
            if t is None or m is None:
                out.append(None)
                continue
            y, mo = divmod(t.year * 12 + t.month - 1 + m, 12)
            if not 1 <= y <= 9999:
                raise InvalidArgumentError(f"{t} plus {m} months is outside years 1 to 9999")
            out.append(t.replace(year=y, month=mo + 1, day=min(t.day, calendar.monthrange(y, mo + 1)[1])))
        return av.array(out, arrow)
    return udf("add_interval_months", add, [arrow, pa.int32()], arrow, [call.args[0], call.args[1]])


def _field(fn: Callable[..., pc.Expression], **options: Any) -> Callable[[Call], pc.Expression]:
    def build(call: Call) -> pc.Expression:
        arg = call.args[0]
        if call.types[0] == STRING:  # Spark's text parse: a date, or a timestamp without offset in UTC
            arg = _parse_timestamp_text(arg)
        return fn(arg, **options).cast(pa.int32())
    return build


_TRUNC_UNITS = {"year": "year", "yyyy": "year", "yy": "year", "quarter": "quarter", "month": "month",
                "mon": "month", "mm": "month", "week": "week", "day": "day", "dd": "day", "hour": "hour",
                "minute": "minute", "second": "second", "millisecond": "millisecond", "microsecond": "microsecond"}


def _date_trunc(call: Call) -> pc.Expression:
    unit = call.literal(0, "unit")
    if unit is None:
        return null_of(TIMESTAMP)
    key = _TRUNC_UNITS.get(str(unit).lower())
    if key is None:
        raise InvalidArgumentError(f"date_trunc(): unknown unit {unit!r}; units are {sorted(set(_TRUNC_UNITS.values()))}")
    arg = call.args[1]
    if call.types[1] == STRING:
        arg = _parse_timestamp_text(arg)
    elif call.types[1] == DATE:
        arg = arg.cast(pa.timestamp("us", tz="UTC"))
    return pc.floor_temporal(arg, unit=key, week_starts_monday=True)


# Java DateTimeFormatter letters Spark uses -> strftime. Only these are accepted; anything else is refused.
_JAVA_FORMAT = [("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"), ("ss", "%S"),
                ("yy", "%y"), ("EEEE", "%A"), ("EEE", "%a"), ("MMMM", "%B"), ("MMM", "%b"), ("a", "%p")]


def java_format(fmt: str) -> str:
    """A Spark (Java) datetime pattern as a strftime format; unsupported letters are an error."""
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "'":
            end = fmt.find("'", i + 1)
            out.append(fmt[i + 1:end if end > 0 else len(fmt)].replace("%", "%%") or "'")
            i = end + 1 if end > 0 else len(fmt)
            continue
        for java, c in sorted(_JAVA_FORMAT, key=lambda p: -len(p[0])):
            if fmt.startswith(java, i):
                out.append(c)
                i += len(java)
                break
        else:
            if fmt[i].isalpha():
                raise InvalidArgumentError(
                    f"datetime pattern {fmt!r}: letter {fmt[i]!r} is not supported; supported: "
                    + ", ".join(j for j, _ in _JAVA_FORMAT))
            out.append(fmt[i].replace("%", "%%"))
            i += 1
    return "".join(out)


def _to_timestamp(date_only: bool) -> Callable[[Call], pc.Expression]:
    def build(call: Call) -> pc.Expression:
        arg, dtype = call.args[0], call.types[0]
        if len(call.args) > 1:
            fmt = call.literal(1, "format")
            if fmt is None:
                return null_of(DATE if date_only else TIMESTAMP)
            parsed = pc.strptime(arg, format=java_format(str(fmt)), unit="us", error_is_null=True)
            value = parsed.cast(pa.timestamp("us", tz="UTC"))
        elif dtype == STRING:
            value = _parse_timestamp_text(arg)
        else:
            value = arg.cast(pa.timestamp("us", tz="UTC"))
        return value.cast(pa.date32()) if date_only else value
    return build


def _parse_timestamp_text(arg: pc.Expression) -> pc.Expression:
    """Spark's default parse of a date or timestamp string; text that is neither is NULL."""
    def parse(values: pa.Array) -> pa.Array:
        out = []
        for v in values.to_pylist():
            try:
                dt = datetime.fromisoformat(v.strip().replace("Z", "+00:00")) if v is not None else None
            except ValueError:
                dt = None
            if dt is not None:
                dt = dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)
            out.append(dt)
        return av.array(out, pa.timestamp("us", tz="UTC"))
    return udf("parse_timestamp", parse, [pa.string()], pa.timestamp("us", tz="UTC"), [arg])


def _date_format(call: Call) -> pc.Expression:
    fmt = call.literal(1, "format")
    if fmt is None:
        return av.lit(None, pa.string())
    arg = call.args[0]
    if call.types[0] == STRING:
        arg = _parse_timestamp_text(arg)
    elif call.types[0] == DATE:
        arg = arg.cast(pa.timestamp("us", tz="UTC"))
    return _strftime(arg, str(fmt))


def _strftime(value: pc.Expression, fmt: str) -> pc.Expression:
    # Whole seconds first: Arrow's %S prints the sub-second digits of the timestamp's unit.
    seconds = pc.floor_temporal(value, unit="second").cast(pa.timestamp("s", tz="UTC"))
    return pc.strftime(seconds, format=java_format(fmt))


def _unix_timestamp(call: Call) -> pc.Expression:
    arg = call.args[0]
    if call.types[0] == STRING:
        arg = _to_timestamp(False)(call)
    micros = arg.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return pc.divide(pc.subtract(micros, pc.if_else(micros < av.lit(0), pc.scalar(999_999), av.lit(0))),
                     pc.scalar(1_000_000))


def _from_unixtime(call: Call) -> pc.Expression:
    fmt = call.literal(1, "format") if len(call.args) > 1 else "yyyy-MM-dd HH:mm:ss"
    if fmt is None:
        return av.lit(None, pa.string())
    seconds = call.args[0]
    if call.types[0] in (PrimitiveType("double"), PrimitiveType("float")) or isinstance(call.types[0], DecimalType):
        seconds = pc.trunc(seconds.cast(pa.float64()))  # Spark casts the seconds to bigint (toward zero)
    micros = pc.multiply_checked(seconds.cast(pa.int64()), pc.scalar(1_000_000))
    return _strftime(micros.cast(pa.timestamp("us", tz="UTC")), str(fmt))


register("date_add", 2, 2, DATE, _date_add(1), aliases=("dateadd",))
register("date_sub", 2, 2, DATE, _date_add(-1))
register("datediff", 2, 2, INT, _datediff)
register("add_months", 2, 2, DATE, _add_months)
register("add_interval_months", 2, 2, lambda types: types[0] if types[0] in (TIMESTAMP, TIMESTAMP_NTZ) else DATE,
         _add_interval_months)
register("year", 1, 1, INT, _field(pc.year), family="datetime")
register("quarter", 1, 1, INT, _field(pc.quarter), family="datetime")
register("month", 1, 1, INT, _field(pc.month), family="datetime")
register("day", 1, 1, INT, _field(pc.day), family="datetime", aliases=("dayofmonth",))
register("hour", 1, 1, INT, _field(pc.hour), family="datetime")
register("minute", 1, 1, INT, _field(pc.minute), family="datetime")
register("second", 1, 1, INT, _field(pc.second), family="datetime")
register("dayofweek", 1, 1, INT, _field(pc.day_of_week, count_from_zero=False, week_start=7), family="datetime")
register("dayofyear", 1, 1, INT, _field(pc.day_of_year), family="datetime")
register("date_trunc", 2, 2, TIMESTAMP, _date_trunc)
register("to_date", 1, 2, DATE, _to_timestamp(True), family="datetime")  # not numbers (Spark refuses to_date(1))
register("to_timestamp", 1, 2, TIMESTAMP, _to_timestamp(False))
register("date_format", 2, 2, STRING, _date_format)
register("unix_timestamp", 1, 2, LONG, _unix_timestamp, aliases=("to_unix_timestamp",))
register("from_unixtime", 1, 2, STRING, _from_unixtime)
