"""String functions (Spark semantics: characters, not bytes; 1-based positions; LIKE, ILIKE, RLIKE)."""

from __future__ import annotations

import re
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.errors import InvalidArgumentError
from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.schema import PrimitiveType
from lakehouse.protocol.functions.registry import (
    BOOLEAN, INT, NOT_LITERAL, STRING, Call, NULL_BOOL, as_string, register, udf,
)

# -- strings -------------------------------------------------------------------------------------------------
def _concat(call: Call) -> pc.Expression:
    parts = [as_string(a, t) for a, t in zip(call.args, call.types)]
    return pc.binary_join_element_wise(*parts, av.lit(""), null_handling="emit_null")


def _concat_ws(call: Call) -> pc.Expression:
    parts = [as_string(a, t) for a, t in zip(call.args[1:], call.types[1:])]
    sep = as_string(call.args[0], call.types[0])
    if not parts:
        return pc.if_else(sep.is_valid(), av.lit(""), av.lit(None, pa.string()))

    def join(separators: pa.Array, *columns: pa.Array) -> pa.Array:
        # Not binary_join_element_wise(null_handling="skip"): Arrow drops the rows where every part is
        # NULL (the result comes back shorter than its input) instead of giving ''.
        rows = zip(separators.to_pylist(), *(c.to_pylist() for c in columns))
        return av.array([None if row[0] is None else row[0].join(v for v in row[1:] if v is not None) for row in rows],
                        pa.string())
    return udf("concat_ws", join, [pa.string()] * (len(parts) + 1), pa.string(), [sep, *parts])


def _trim(kind: str) -> Callable[[Call], pc.Expression]:
    fn = {"both": pc.utf8_trim, "left": pc.utf8_ltrim, "right": pc.utf8_rtrim}[kind]

    def build(call: Call) -> pc.Expression:
        chars = call.literal(1, "trim characters") if len(call.args) > 1 else " "  # Spark trims spaces only
        if chars is None:
            return av.lit(None, pa.string())
        return fn(call.args[0], characters=str(chars))
    return build


def _substring(call: Call) -> pc.Expression:
    if any(lit is NOT_LITERAL for lit in call.literals[1:]):  # positions computed per row: substr(s, 1, l)
        ints = [a.cast(pa.int64()) for a in call.args[1:]]
        return udf("substring_rows", _substring_rows, [pa.string()] + [pa.int64()] * len(ints), pa.string(),
                   [call.args[0], *ints])
    pos = call.literal(1, "position")
    length = call.literal(2, "length") if len(call.args) > 2 else None
    if pos is None or (len(call.args) > 2 and length is None):
        return av.lit(None, pa.string())
    start = int(pos) - 1 if pos > 0 else int(pos)  # Spark: position 0 is position 1; negative counts from the end
    if length is None:
        return pc.utf8_slice_codeunits(call.args[0], start=start)
    if length <= 0:
        return pc.if_else(call.args[0].is_valid(), av.lit(""), av.lit(None, pa.string()))
    stop = start + int(length)
    if start < 0 <= stop:
        return pc.utf8_slice_codeunits(call.args[0], start=start)
    return pc.utf8_slice_codeunits(call.args[0], start=max(start, 0) if pos > 0 else start, stop=stop)


def _substring_rows(values: pa.Array, positions: pa.Array, lengths: pa.Array | None = None) -> pa.Array:
    """Spark's UTF8String.substringSQL for each row."""
    out: list[str | None] = []
    lens = lengths.to_pylist() if lengths is not None else [2**31 - 1] * len(values)
    for v, pos, length in zip(values.to_pylist(), positions.to_pylist(), lens):
        if v is None or pos is None or length is None:
            out.append(None)
            continue
        start = pos - 1 if pos > 0 else len(v) + pos if pos < 0 else 0
        end = start + length
        start = max(start, 0)
        out.append(v[start:end] if start < end else "")
    return av.array(out, pa.string())


def _replace(call: Call) -> pc.Expression:
    search = call.literal(1, "search string")
    repl = call.literal(2, "replacement") if len(call.args) > 2 else ""
    if search is None or repl is None:
        return av.lit(None, pa.string())
    if search == "":
        return call.args[0]
    return pc.replace_substring(call.args[0], pattern=search, replacement=repl)


def _match(kind: str) -> Callable[[Call], pc.Expression]:
    def build(call: Call) -> pc.Expression:
        pattern = call.literal(1, "pattern")
        if pattern is None:
            return pc.scalar(NULL_BOOL)
        fn = {"startswith": pc.starts_with, "endswith": pc.ends_with, "contains": pc.match_substring}[kind]
        return fn(call.args[0], pattern=str(pattern))
    return build


def _pad(left: bool) -> Callable[[Call], pc.Expression]:
    def build(call: Call) -> pc.Expression:
        width = call.literal(1, "length")
        fill = call.literal(2, "padding") if len(call.args) > 2 else " "
        if width is None or fill is None:
            return av.lit(None, pa.string())
        width, fill = max(int(width), 0), str(fill)

        def pad(values: pa.Array) -> pa.Array:
            out = []
            for v in values.to_pylist():
                if v is None or len(v) >= width or not fill:
                    out.append(None if v is None else v[:width])
                    continue
                need = width - len(v)
                padding = (fill * (need // len(fill) + 1))[:need]
                out.append(padding + v if left else v + padding)
            return av.array(out, pa.string())
        return udf("lpad" if left else "rpad", pad, [pa.string()], pa.string(), [call.args[0]])
    return build


def _split_part(call: Call) -> pc.Expression:
    delim, index = call.literal(1, "delimiter"), call.literal(2, "part index")
    if delim is None or index is None:
        return av.lit(None, pa.string())
    if index == 0:
        raise InvalidArgumentError("split_part(): the part index must not be 0 (parts count from 1, or -1 from the end)")

    def split(values: pa.Array) -> pa.Array:
        out: list[str | None] = []
        for v in values.to_pylist():
            if v is None:
                out.append(None)
                continue
            parts = v.split(delim) if delim else [v]
            i = index - 1 if index > 0 else len(parts) + index
            out.append(parts[i] if 0 <= i < len(parts) else "")
        return av.array(out, pa.string())
    return udf("split_part", split, [pa.string()], pa.string(), [call.args[0]])


def _regexp_extract(call: Call) -> pc.Expression:
    pattern = call.literal(1, "pattern")
    group = call.literal(2, "group index") if len(call.args) > 2 else 1
    if pattern is None or group is None:
        return av.lit(None, pa.string())
    try:
        compiled = re.compile(pattern)
    except re.error as e:
        raise InvalidArgumentError(f"regexp_extract(): invalid pattern {pattern!r}: {e}") from None
    if not 0 <= group <= compiled.groups:
        raise InvalidArgumentError(f"regexp_extract(): group {group} does not exist in {pattern!r} "
                                   f"({compiled.groups} groups)")

    def extract(values: pa.Array) -> pa.Array:
        out = []
        for v in values.to_pylist():
            m = compiled.search(v) if v is not None else None
            out.append(None if v is None else "" if m is None else (m.group(group) or ""))
        return av.array(out, pa.string())
    return udf("regexp_extract", extract, [pa.string()], pa.string(), [call.args[0]])


def _like(ignore_case: bool) -> Callable[[Call], pc.Expression]:
    def build(call: Call) -> pc.Expression:
        escape = call.literal(2, "escape character") if len(call.args) > 2 else "\\"
        if call.literals[1] is NOT_LITERAL:  # a pattern computed per row (t.s LIKE concat(s.k, '%'))
            return udf("like_rows", _like_rows(ignore_case, str(escape)), [pa.string(), pa.string()], pa.bool_(),
                       [call.args[0], as_string(call.args[1], call.types[1])])
        pattern = call.literal(1, "pattern")
        if pattern is None:
            return pc.scalar(NULL_BOOL)
        return pc.match_like(call.args[0], pattern=_like_pattern(str(pattern), escape), ignore_case=ignore_case)
    return build


def _like_rows(ignore_case: bool, escape: str) -> Callable[[pa.Array, pa.Array], pa.Array]:
    def match(values: pa.Array, patterns: pa.Array) -> pa.Array:
        compiled: dict[str, re.Pattern[str]] = {}
        out: list[bool | None] = []
        for v, p in zip(values.to_pylist(), patterns.to_pylist()):
            if v is None or p is None:
                out.append(None)
                continue
            if ignore_case:  # Spark's ILIKE: lower(v) LIKE lower(p)
                v, p = v.lower(), p.lower()
            rx = compiled.get(p)
            if rx is None:
                rx = compiled[p] = re.compile(_like_regex(p, escape), re.DOTALL)
            out.append(rx.fullmatch(v) is not None)
        return av.array(out, pa.bool_())
    return match


def _like_regex(pattern: str, escape: str) -> str:
    """A LIKE pattern as a Python regular expression: % any run, _ one character, escape + c the c."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == escape and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return "".join(out)


def _like_pattern(pattern: str, escape: str) -> str:
    """A LIKE pattern with Spark's escape character rewritten to Arrow's backslash."""
    if escape == "\\":
        return pattern
    if len(escape) != 1:
        raise InvalidArgumentError(f"LIKE ... ESCAPE takes one character, got {escape!r}")
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == escape and i + 1 < len(pattern):
            out.append("\\" + pattern[i + 1])
            i += 2
            continue
        out.append("\\\\" if ch == "\\" else ch)
        i += 1
    return "".join(out)


def _rlike(call: Call) -> pc.Expression:
    pattern = call.literal(1, "pattern")
    if pattern is None:
        return pc.scalar(NULL_BOOL)
    try:  # checked once here, not per row at evaluation (where the error would name a row, not the pattern)
        pc.match_substring_regex(av.array([""]), pattern=str(pattern))
    except pa.ArrowInvalid as e:
        reason = str(e).strip().splitlines()[0].replace("Invalid regular expression: ", "")
        raise InvalidArgumentError(f"{call.name}(): invalid pattern {pattern!r}: {reason}\n"
                                   "Help: RLIKE patterns are RE2 regular expressions (no lookaround or backreferences)") from None
    return pc.match_substring_regex(call.args[0], pattern=str(pattern))


def _initcap(values: pa.Array) -> pa.Array:
    """Spark's initcap: lower-case everything, then upper-case the first letter of each word, words being
    separated by spaces only (`a-b c_d` is `A-b C_d`, where Arrow's title case gives `A-B C_D`)."""
    out: list[str | None] = []
    for v in values.to_pylist():
        if v is None:
            out.append(None)
            continue
        low = v.lower()
        out.append("".join(ch.upper() if i == 0 or low[i - 1] == " " else ch for i, ch in enumerate(low)))
    return av.array(out, pa.string())


def _length(call: Call) -> pc.Expression:
    # Spark: characters of a string, bytes of a binary value.
    if call.types[0] == PrimitiveType("binary"):
        return pc.binary_length(call.args[0]).cast(pa.int32())
    return pc.utf8_length(as_string(call.args[0], call.types[0])).cast(pa.int32())


register("concat", 1, None, STRING, _concat, aliases=("||",))
register("concat_ws", 1, None, STRING, _concat_ws, null_in_null_out=False)
register("upper", 1, 1, STRING, lambda c: pc.utf8_upper(c.args[0]), family="string", aliases=("ucase",))
register("lower", 1, 1, STRING, lambda c: pc.utf8_lower(c.args[0]), family="string", aliases=("lcase",))
register("trim", 1, 2, STRING, _trim("both"), family="string", aliases=("btrim",))
register("ltrim", 1, 2, STRING, _trim("left"), family="string")
register("rtrim", 1, 2, STRING, _trim("right"), family="string")
register("substring", 2, 3, STRING, _substring, aliases=("substr",))
register("initcap", 1, 1, STRING, lambda c: udf("initcap", _initcap, [pa.string()], pa.string(), [c.args[0]]),
         family="string")
register("length", 1, 1, INT, _length,
          aliases=("char_length", "character_length", "len"))
register("replace", 2, 3, STRING, _replace, family="string")
register("startswith", 2, 2, BOOLEAN, _match("startswith"), family="string", aliases=("starts_with",))
register("endswith", 2, 2, BOOLEAN, _match("endswith"), family="string", aliases=("ends_with",))
register("contains", 2, 2, BOOLEAN, _match("contains"), family="string")
register("lpad", 2, 3, STRING, _pad(True), family=None)
register("rpad", 2, 3, STRING, _pad(False), family=None)
register("split_part", 3, 3, STRING, _split_part)
register("regexp_extract", 2, 3, STRING, _regexp_extract)
register("like", 2, 3, BOOLEAN, _like(False), family="string")
register("ilike", 2, 3, BOOLEAN, _like(True), family="string")
register("rlike", 2, 2, BOOLEAN, _rlike, family="string", aliases=("regexp", "regexp_like"))
