"""Filtered reads of the conformance corpus (../shared/conformance): for every case with an expected
Parquet file, filters built from the expected data itself must return exactly the expected rows that an
independent evaluator (`tests.scan.sqlpred`) selects.

For the first non-null value ``v`` of up to two primitive columns: ``col = v``, ``col > v``,
``col != v``, ``NOT (col <= v)``, ``col IS NULL`` and ``col IS NOT NULL``, plus one conjunction and one
disjunction across the two columns. Cases with an expected error, an ``.assertion.txt`` expectation,
no reliable expectation, or a known-wrong expected file are left out (tests/test_conformance.py covers
them). Outside CI a missing corpus skips this module with one message; under CI (CI=true) it fails.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import lakehouse
from tests.support.conformance import MISSING, canonical_rows, corpus_dir, describe_difference
from tests.support import sqlpred as sp

CORPUS = corpus_dir()

if CORPUS is None:  # corpus_dir() raises under CI, so this skip only happens in a user's clone
    pytest.skip(MISSING, allow_module_level=True)

MANIFEST = json.loads((CORPUS / "MANIFEST.json").read_text())


def _usable(table: dict, entry: dict) -> bool:
    if entry.get("expected_error") or entry.get("expected_error_on_data_read"):
        return False
    if str(entry.get("expectation", "")).startswith("none"):
        return False
    return str(entry.get("expected_file") or "").endswith(".parquet")


CASES = [
    pytest.param(table, entry, id=f"{table['name']}@v{entry['version']}")
    for table in MANIFEST["tables"]
    for entry in table["versions"]
    if _usable(table, entry)
]


def test_corpus_has_filterable_cases():
    assert len(CASES) >= 100


def _normalise(t: pa.Table) -> pa.Table:
    """Timestamps at microseconds (the corpus comparison precision); other columns unchanged."""
    cols = []
    for f in t.schema:
        c = t.column(f.name)
        if pa.types.is_timestamp(f.type) and f.type.unit == "ns":
            c = c.cast(pa.timestamp("us", tz=f.type.tz), safe=False)
        cols.append(c)
    return pa.table(cols, names=t.column_names)


def _filterable(t: pa.DataType) -> bool:
    return sp.literal_supported(t) and not pa.types.is_large_string(t)


def build_filters(expected: pa.Table) -> list[sp.P]:
    rows = expected.to_pylist()
    candidates = [f for f in expected.schema if _filterable(f.type)]
    # the first filterable column, then the first one of another type (more kinds of literal per case)
    picked = candidates[:1] + [f for f in candidates[1:] if f.type != candidates[0].type][:1] if candidates else []
    if len(picked) == 1 and len(candidates) > 1:
        picked.append(candidates[1])
    chosen: list[tuple[sp.C, sp.L]] = []
    for f in picked:
        value = next((r[f.name] for r in rows if r[f.name] is not None), None)
        chosen.append((sp.C(f.name), sp.L(value, f.type)))  # value None (all null): IS [NOT] NULL only
    preds: list[sp.P] = []
    for col, lit in chosen:
        preds += [sp.IsNull(col), sp.IsNull(col, negated=True)]
        if lit.value is None:
            continue
        if isinstance(lit.value, bool):
            preds += [sp.Cmp("=", col, lit), sp.Cmp("!=", col, lit), sp.Bare(col)]
            continue
        preds += [sp.Cmp("=", col, lit), sp.Cmp(">", col, lit), sp.Cmp("!=", col, lit),
                  sp.Not(sp.Cmp("<=", col, lit))]
    with_values = [(c, lit) for c, lit in chosen if lit.value is not None and not isinstance(lit.value, bool)]
    if len(with_values) == 2:
        (c1, l1), (c2, l2) = with_values
        preds.append(sp.And(sp.Cmp("=", c1, l1), sp.Cmp(">=", c2, l2)))
        preds.append(sp.Or(sp.Cmp("<", c1, l1), sp.IsNull(c2)))
    return preds


@pytest.mark.parametrize("table,entry", CASES)
def test_filtered_read_matches_expected(table: dict, entry: dict):
    path = CORPUS / table["table_path"]
    version = entry["version"]
    expected = _normalise(pq.read_table(CORPUS / entry["expected_file"]))
    preds = build_filters(expected)
    if not preds:  # nothing to filter on (only nested or binary columns): nothing to check
        assert not any(_filterable(f.type) for f in expected.schema)
        return
    dt = lakehouse.DeltaTable(path, version=version)
    rows = expected.to_pylist()
    failures = []
    for pred in preds:
        sql = sp.to_sql(pred)
        want = canonical_rows(pa.Table.from_pylist(sp.filter_rows(pred, rows), schema=expected.schema))
        try:
            got = canonical_rows(dt.to_arrow(filter=sql))
        except Exception as e:  # noqa: BLE001 - collect every filter's outcome before failing
            failures.append(f"{sql}: raised {type(e).__name__}: {e}")
            continue
        if got != want:
            failures.append(f"{sql}: {describe_difference(got, want, limit=2)}")
    assert not failures, "\n".join(failures)


def test_every_case_gets_filters():
    """Most cases have a filterable column; the few that do not are named here."""
    without = []
    for param in CASES:
        table, entry = param.values
        expected = pq.read_table(CORPUS / entry["expected_file"])
        if not build_filters(expected):
            without.append(table["name"])
    assert len(without) <= len(CASES) // 10, without
