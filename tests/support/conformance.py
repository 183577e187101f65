"""Helpers for the conformance corpus: locating it and comparing tables as its README prescribes.

Rows are compared by column name as a multiset; timestamps as UTC instants at microsecond precision,
decimals by value, floats exactly (NaN equal to NaN), maps as unordered key/value sets, nested values by
canonical JSON text.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

REPO = Path(__file__).resolve().parents[2]
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


MISSING = "conformance corpus not found (set LAKEHOUSE_CONFORMANCE_DIR or put shared/conformance beside the repo)"


def corpus_dir() -> Path | None:
    """The conformance corpus: $LAKEHOUSE_CONFORMANCE_DIR, else ../shared/conformance beside the repo.

    None (tests that need it skip with `MISSING`) only outside CI: in a user's fresh clone the corpus may
    be absent, but under CI (CI=true) a missing corpus is a failure, never a silent skip.
    """
    env = os.environ.get("LAKEHOUSE_CONFORMANCE_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "conformance")
    for c in candidates:
        if (c / "MANIFEST.json").is_file():
            return c
    if os.environ.get("CI", "").lower() == "true":
        raise RuntimeError(MISSING)
    return None


def _canon(v: Any, t: pa.DataType) -> Any:
    if v is None:
        return None
    if pa.types.is_map(t):
        items = sorted(json.dumps([_canon(k, t.key_type), _canon(x, t.item_type)], sort_keys=True) for k, x in v)
        return {"map": items}
    if pa.types.is_struct(t):
        return {t.field(i).name: _canon(v.get(t.field(i).name), t.field(i).type) for i in range(t.num_fields)}
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return [_canon(x, t.value_type) for x in v]
    if isinstance(v, float):
        return "NaN" if math.isnan(v) else repr(v)
    if isinstance(v, Decimal):
        return f"dec:{v.normalize()}" if v != 0 else "dec:0"
    if isinstance(v, datetime):
        aware = v if v.tzinfo is not None else v.replace(tzinfo=timezone.utc)
        delta = aware - _EPOCH
        return f"ts:{delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds}"
    if isinstance(v, date):
        return f"date:{v.isoformat()}"
    if isinstance(v, bytes):
        return f"bin:{v.hex()}"
    return v


def canonical_rows(table: pa.Table) -> Counter:
    """The table's rows as a multiset of canonical JSON strings keyed by column name."""
    names = sorted(table.column_names)
    table = table.select(names)
    types = {f.name: f.type for f in table.schema}
    rows = Counter()
    for row in table.to_pylist():
        rows[json.dumps({k: _canon(row[k], types[k]) for k in names}, sort_keys=True, default=str)] += 1
    return rows


def describe_difference(got: Counter, want: Counter, limit: int = 5) -> str:
    """A short human-readable diff of two row multisets."""
    extra = list((got - want).elements())[:limit]
    missing = list((want - got).elements())[:limit]
    return f"unexpected rows {extra}\nmissing rows {missing}"


def parse_assertion_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """The ASCII tables of a `.assertion.txt` file as (column names, rows of cell strings)."""
    tables = []
    lines = [ln.strip() for ln in text.splitlines()]
    i = 0
    while i < len(lines):
        if lines[i].startswith("+-") and i + 2 < len(lines) and lines[i + 1].startswith("|"):
            header = [c.strip() for c in lines[i + 1].strip("|").split("|")]
            rows = []
            j = i + 3
            while j < len(lines) and lines[j].startswith("|"):
                rows.append([c.strip() for c in lines[j].strip("|").split("|")])
                j += 1
            tables.append((header, rows))
            i = j + 1
        else:
            i += 1
    return tables


def format_cell(v: Any) -> str:
    """A value as delta-kernel-rs prints it in its test assertions."""
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    return str(v)
