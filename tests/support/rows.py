"""Reading a table with both engines and comparing rows: lakehouse and deltalake at a version, rows as
multisets (`canonical_rows`) or as lists sorted by a key column, and per-version reference models checked at
every version with both readers.

delta-rs reads through `to_pyarrow_table()` where it can and through its DataFusion engine (`QueryBuilder`)
for tables with deletion vectors or column mapping, which its pyarrow reader refuses.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import deltalake
import pyarrow as pa

import lakehouse
from tests.support.conformance import canonical_rows, describe_difference


def lh_read(path: str, version: Any = None, storage_options: Mapping[str, Any] | None = None) -> pa.Table:
    return lakehouse.DeltaTable(path, version=version, storage_options=storage_options).to_arrow()


def dl_read(path: str, version: int | None = None, storage_options: Mapping[str, str] | None = None,
            sql: bool = False, **kwargs: Any) -> pa.Table:
    """deltalake's read; ``sql=True`` uses its DataFusion engine (needed for column mapping, which the
    pyarrow path of deltalake 1.6 reads as all-null columns)."""
    dt = deltalake.DeltaTable(path, version=version, storage_options=dict(storage_options) if storage_options else None)
    config = dt.metadata().configuration
    if (config.get("delta.columnMapping.mode") or "none") != "none" and not kwargs:
        sql = True
    if sql:
        return pa.table(deltalake.QueryBuilder().register("t", dt).execute("SELECT * FROM t").read_all())
    try:
        return dt.to_pyarrow_table(**kwargs)
    except deltalake.exceptions.DeltaProtocolError:
        # deltalake's pyarrow reader refuses deletion vectors; its DataFusion engine applies them.
        if kwargs:
            raise
        return pa.table(deltalake.QueryBuilder().register("t", dt).execute("SELECT * FROM t").read_all())


def dl_sql_read(path: str, version: int | None = None) -> pa.Table:
    """deltalake's read through its DataFusion engine always (it applies deletion vectors and reads dates and
    timestamps of any year, which its pyarrow path cannot)."""
    return dl_read(path, version, sql=True)


def as_table(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, list):
        return pa.Table.from_pylist(data)
    if isinstance(data, dict):
        return pa.table(data)
    raise TypeError(type(data))


def assert_rows(got: pa.Table, want: Any, label: str = "") -> None:
    want = as_table(want)
    assert sorted(got.column_names) == sorted(want.column_names), f"{label}: columns {got.column_names} != {want.column_names}"
    g, w = canonical_rows(got), canonical_rows(want)
    assert g == w, f"{label}: rows differ ({sum(g.values())} rows vs {sum(w.values())} expected)\n{describe_difference(g, w)}"


def assert_version(path: str, version: int, expected: Any, *, lh_options: Mapping[str, Any] | None = None,
                   dl_options: Mapping[str, str] | None = None, use_deltalake: bool = True) -> None:
    """A *new* lakehouse DeltaTable and deltalake both read exactly ``expected`` at ``version``."""
    lt = lakehouse.DeltaTable(path, version=version, storage_options=lh_options)
    assert lt.version == version
    assert_rows(lt.to_arrow(), expected, f"lakehouse v{version}")
    if use_deltalake:
        assert_rows(dl_read(path, version, dl_options), expected, f"deltalake v{version}")


class Versions:
    """Expected contents per version of one table, checked at every version with both readers."""

    def __init__(self, path: str, *, lh_options: Mapping[str, Any] | None = None,
                 dl_options: Mapping[str, str] | None = None, use_deltalake: bool = True):
        """``use_deltalake=False`` only for tables with features deltalake cannot read."""
        self.use_deltalake = use_deltalake
        self.path = path
        self.lh_options = lh_options
        self.dl_options = dl_options
        self.expected: dict[int, pa.Table] = {}

    def __setitem__(self, version: int, data: Any) -> None:
        self.expected[version] = as_table(data)

    def __getitem__(self, version: int) -> pa.Table:
        return self.expected[version]

    @property
    def latest(self) -> int:
        return max(self.expected)

    def check(self, versions: Any = None) -> None:
        latest = lakehouse.DeltaTable(self.path, storage_options=self.lh_options)
        assert latest.version == self.latest
        if self.use_deltalake:
            dl = deltalake.DeltaTable(self.path, storage_options=dict(self.dl_options) if self.dl_options else None)
            assert dl.version() == self.latest
        for v in (versions if versions is not None else sorted(self.expected)):
            assert_version(self.path, v, self.expected[v], lh_options=self.lh_options, dl_options=self.dl_options,
                           use_deltalake=self.use_deltalake)


def concat(*tables: Any) -> pa.Table:
    ts = [as_table(t) for t in tables]
    return pa.concat_tables(ts, promote_options="permissive") if len(ts) > 1 else ts[0]


def rows_of(table: pa.Table | list[dict[str, Any]], columns: list[str] | None = None) -> Counter:
    if isinstance(table, list):
        table = pa.Table.from_pylist(table) if table else pa.table({c: pa.array([], pa.null()) for c in (columns or [])})
    if columns is not None:
        table = table.select(columns)
    return canonical_rows(table)


def assert_same_rows(got: Any, want: Any, label: str = "", columns: list[str] | None = None) -> None:
    g, w = rows_of(got, columns), rows_of(want, columns)
    assert g == w, f"{label}: rows differ ({sum(g.values())} vs {sum(w.values())} expected)\n{describe_difference(g, w)}"


def assert_versions_agree(path: str, columns: list[str] | None = None) -> None:
    """Every version of the table is read identically by lakehouse and deltalake."""
    latest = lakehouse.DeltaTable(path).version
    assert deltalake.DeltaTable(path).version() == latest
    for v in range(latest + 1):
        assert_same_rows(dl_read(path, v), lh_read(path, v), f"deltalake vs lakehouse at v{v}", columns)


def sort_rows(rows: Iterable[Mapping[str, Any]], key: str = "id") -> list[dict[str, Any]]:
    """Rows as plain dicts sorted by ``key`` (None first, then by value; ties by the row's repr)."""
    out = [dict(r) for r in rows]
    return sorted(out, key=lambda r: (r[key] is not None, r[key] if r[key] is not None else 0, repr(sorted(r.items(), key=str))))


def lh_rows(path: str | Path, version: Any = None, key: str = "id") -> list[dict[str, Any]]:
    """Every row of the table at ``version`` read by a fresh lakehouse `DeltaTable`, sorted by ``key``."""
    return sort_rows(lakehouse.DeltaTable(str(path), version=version).to_arrow().to_pylist(), key)


def dl_table(path: str | Path, version: int | None = None) -> pa.Table:
    """The table at ``version`` as delta-rs reads it (DataFusion for column mapping and deletion vectors:
    `dl_read`)."""
    return dl_read(str(path), version)


def dl_rows(path: str | Path, version: int | None = None, key: str = "id") -> list[dict[str, Any]]:
    """Every row delta-rs reads at ``version``, sorted by ``key``."""
    return sort_rows(dl_table(path, version).to_pylist(), key)


def assert_same(got: list[dict[str, Any]], want: list[dict[str, Any]], label: str) -> None:
    """Equal row lists, reporting the first differing row (and the lengths) when they are not."""
    if got == want:
        return
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            raise AssertionError(f"{label}: {len(got)} rows vs {len(want)} expected; first difference at row {i}:\n"
                                 f"  got  {g}\n  want {w}")
    raise AssertionError(f"{label}: {len(got)} rows vs {len(want)} expected; extra/missing tail "
                         f"{(got[len(want):] or want[len(got):])[:3]}")


class Model:
    """Expected rows per version of one table; `check` reopens the table at every version with lakehouse
    and with delta-rs and compares every row with the model."""

    def __init__(self, path: str | Path, key: str = "id", *, deltalake_reads: bool = True):
        self.path = str(path)
        self.key = key
        self.deltalake_reads = deltalake_reads
        self.versions: dict[int, list[dict[str, Any]]] = {}

    def record(self, version: int, rows: Iterable[Mapping[str, Any]] | pa.Table) -> None:
        """Expect ``rows`` at ``version``."""
        if isinstance(rows, pa.Table):
            rows = rows.to_pylist()
        self.versions[version] = sort_rows(rows, self.key)

    def same_as(self, version: int, earlier: int) -> None:
        """Expect at ``version`` exactly the rows of ``earlier`` (maintenance commits change no data)."""
        self.versions[version] = list(self.versions[earlier])

    def latest(self) -> list[dict[str, Any]]:
        """The rows expected at the newest recorded version (a fresh list)."""
        return [dict(r) for r in self.versions[max(self.versions)]]

    def check(self, versions: Sequence[int] | None = None) -> None:
        """Every recorded version (or ``versions``) read by both engines equals the model."""
        latest = lakehouse.DeltaTable(self.path).version
        assert latest == max(self.versions), f"latest version {latest}, model has {max(self.versions)}"
        for v in versions if versions is not None else sorted(self.versions):
            assert_same(lh_rows(self.path, v, self.key), self.versions[v], f"lakehouse v{v}")
            if self.deltalake_reads:
                assert_same(dl_rows(self.path, v, self.key), self.versions[v], f"delta-rs v{v}")
