"""`verify` (fsck): check that a table's log and files are whole, without changing anything.

Checks, each reported as a `Problem` naming the file and version at fault:

1. ``log_gap`` — commit versions are contiguous from the oldest kept commit (or checkpoint) to the latest.
2. ``bad_commit`` — every kept commit file parses.
3. ``bad_checkpoint`` — every complete checkpoint reads; ``checkpoint_mismatch`` — its state (protocol,
   metadata, active files with sizes and deletion vectors) equals the state rebuilt without it, from an
   older checkpoint or the commits.
4. ``last_checkpoint`` — `_last_checkpoint` names a checkpoint that exists.
5. ``missing_file`` / ``size_mismatch`` — every file the latest version references exists with the size
   its `add` records; ``missing_dv`` / ``bad_dv`` — every deletion vector loads and matches its checksum
   and cardinality.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from lakehouse.scan.deletion_vectors import dv_file_path, load_deleted_rows
from lakehouse.errors import DataFileNotFoundError, LakehouseError, TableNotFoundError
from lakehouse.log.checkpoints import read_checkpoint
from lakehouse.log.commits import read_log_files
from lakehouse.log.listing import list_log, read_last_checkpoint
from lakehouse.progress import Progress, reporter
from lakehouse.protocol.codec import decode_deletion_vector
from lakehouse.protocol.paths import resolve_relative
from lakehouse.protocol.segment import complete_checkpoints
from lakehouse.snapshot import Snapshot, load_snapshot
from lakehouse.storage import Storage, open_storage

@dataclass(frozen=True)
class Problem:
    """One thing wrong with the table."""

    kind: str
    path: str | None
    version: int | None
    message: str


@dataclass
class VerifyReport:
    """The outcome of `verify_table`: ``ok`` when no problem was found."""

    location: str
    version: int | None
    problems: list[Problem] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the table passed every check."""
        return not self.problems


def _state(snapshot: Snapshot) -> tuple[Any, ...]:
    files = sorted(zip(snapshot.adds.column("path").to_pylist(), snapshot.adds.column("size").to_pylist(),
                       [str(d) if d else None for d in snapshot.adds.column("deletionVector").to_pylist()]))
    # The schema is compared parsed: the same schema may be serialised with different whitespace.
    return snapshot.protocol, replace(snapshot.metadata, schema_string=""), snapshot.schema, files


def _check_log(storage: Storage, report: VerifyReport) -> list:
    listing = list_log(storage)
    if not listing:
        raise TableNotFoundError(f"no Delta table at {storage.root_uri}: _delta_log/ is missing or empty")
    commits = sorted(f.version for f in listing if f.kind == "commit")
    checkpoints = complete_checkpoints(listing)
    if commits:
        start = commits[0]
        for expected, actual in zip(range(start, start + len(commits)), commits):
            if expected != actual:
                report.problems.append(Problem("log_gap", f"_delta_log/{expected:020d}.json", expected,
                                               f"commit {expected} is missing; the log jumps to {actual}"))
                break
        if start > 0 and not any(c.version >= start - 1 for c in checkpoints):
            report.problems.append(Problem("log_gap", None, start,
                                           f"commits before {start} are gone and no checkpoint covers them"))
    report.checked["commits"] = len(commits)
    report.checked["checkpoints"] = len(checkpoints)
    for f in (f for f in listing if f.kind == "commit"):
        try:
            read_log_files(storage, [f])
        except LakehouseError as e:
            report.problems.append(Problem("bad_commit", f"_delta_log/{f.name}", f.version, str(e).splitlines()[0]))
    hint = read_last_checkpoint(storage)
    if hint is not None and not any(c.version == hint.version for c in checkpoints):
        report.problems.append(Problem("last_checkpoint", "_delta_log/_last_checkpoint", hint.version,
                                       f"_last_checkpoint names version {hint.version}, which has no complete checkpoint"))
    return checkpoints


def _check_checkpoints(storage: Storage, checkpoints: list, report: VerifyReport) -> None:
    for cp in checkpoints:
        name = f"_delta_log/{cp.files[0].name}"
        try:
            read_checkpoint(storage, cp)
            with_cp = load_snapshot(storage, cp.version)
        except LakehouseError as e:
            report.problems.append(Problem("bad_checkpoint", name, cp.version, str(e).splitlines()[0]))
            continue
        try:
            without = load_snapshot(storage, cp.version, exclude_checkpoints=frozenset({cp.key}))
        except LakehouseError:
            continue  # nothing older to rebuild from (earlier commits cleaned up): nothing to compare
        if _state(with_cp) != _state(without):
            report.problems.append(Problem("checkpoint_mismatch", name, cp.version,
                                           f"checkpoint {cp.version} does not match the replay of the log"))


def _check_files(snapshot: Snapshot, report: VerifyReport, progress: Callable[[int, int], None] | None) -> None:
    storage = snapshot.storage
    listed = {f.path: f.size for f in storage.list_tree("")}
    rows = snapshot.adds.select(["path", "size", "deletionVector"]).to_pylist()
    if progress:
        progress(0, len(rows))
    for i, row in enumerate(rows):
        rel = resolve_relative(row["path"], storage.root_uri)
        size = listed.get(rel)
        if size is None:
            report.problems.append(Problem("missing_file", rel, snapshot.version,
                                           f"data file {rel} of version {snapshot.version} does not exist"))
        elif size != row["size"]:
            report.problems.append(Problem("size_mismatch", rel, snapshot.version,
                                           f"data file {rel} has {size} bytes; the log records {row['size']}"))
        if row["deletionVector"]:
            _check_dv(storage, row, rel, listed, snapshot.version, report)
        if progress and (i % 256 == 0 or i + 1 == len(rows)):
            progress(i + 1, len(rows))
    report.checked["data_files"] = len(rows)
    report.checked["deletion_vectors"] = sum(1 for r in rows if r["deletionVector"])


def _check_dv(storage: Storage, row: Mapping[str, Any], rel: str, listed: Mapping[str, int], version: int,
              report: VerifyReport) -> None:
    dv = decode_deletion_vector(row["deletionVector"], path=row["path"])
    dv_rel = dv_file_path(dv, storage.root_uri)
    if dv_rel is not None and dv_rel not in listed:
        report.problems.append(Problem("missing_dv", dv_rel, version,
                                       f"deletion vector file {dv_rel} of {rel} does not exist"))
        return
    try:
        load_deleted_rows(storage, dv, data_path=rel)
    except DataFileNotFoundError:
        report.problems.append(Problem("missing_dv", dv_rel, version, f"deletion vector of {rel} cannot be read"))
    except LakehouseError as e:
        report.problems.append(Problem("bad_dv", dv_rel or rel, version, str(e).splitlines()[0]))


def verify_table(uri: str | os.PathLike[str] | Storage, *, storage_options: Mapping[str, Any] | None = None,
                 progress: Progress | None = None) -> VerifyReport:
    """Check the table at ``uri`` (see the module docstring). Damage is reported, not raised; only a
    missing table raises (`TableNotFoundError`). ``progress`` receives a `ProgressEvent` (operation
    ``VERIFY``, unit ``files``) as the data files of the latest version are checked."""
    counter = reporter(progress, "VERIFY", "files")
    storage = uri if isinstance(uri, Storage) else open_storage(uri, storage_options)
    report = VerifyReport(storage.root_uri, None)
    checkpoints = _check_log(storage, report)
    _check_checkpoints(storage, checkpoints, report)
    try:
        snapshot = load_snapshot(storage)
    except LakehouseError as e:
        report.problems.append(Problem("unreadable", None, None, str(e).splitlines()[0]))
        return report
    report.version = snapshot.version
    _check_files(snapshot, report, counter)
    return report
