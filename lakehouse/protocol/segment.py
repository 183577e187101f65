"""Log segment selection: which log files make up the snapshot at a version (pure logic).

Given a listing of `_delta_log/` and a target version, pick the newest complete checkpoint at or below
the target and the contiguous commits after it (PROTOCOL.md "Checkpoints": readers prefer the newest
complete checkpoint, must ignore multi-part checkpoints with missing parts, and must not use a checkpoint
newer than a time-travel version). Log compaction files may stand in for runs of commits
(PROTOCOL.md "Log Compaction Files").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from lakehouse.errors import InvalidLogError, TableNotFoundError, VersionNotFoundError
from lakehouse.protocol.log_path import LogFile


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A complete checkpoint: all its part files, sorted by part number."""

    version: int
    checkpoint_id: str
    files: tuple[LogFile, ...]

    @property
    def key(self) -> tuple[int, str]:
        """Identity of this checkpoint among others of the same version."""
        return (self.version, self.checkpoint_id)


@dataclass(frozen=True, slots=True)
class LogSegment:
    """The files that replay to the snapshot at ``version``.

    ``deltas`` are commit files or compaction files in ascending version order, covering exactly the
    versions after ``checkpoint`` (or from 0) up to ``version``. ``commits`` lists every commit file of
    that range (used for commit timestamps and history even where a compaction replaces them).
    """

    version: int
    checkpoint: Checkpoint | None
    deltas: tuple[LogFile, ...]
    commits: tuple[LogFile, ...] = field(default=())

    @property
    def start_version(self) -> int:
        """First version replayed from JSON (0 without a checkpoint)."""
        return self.checkpoint.version + 1 if self.checkpoint else 0


def complete_checkpoints(files: Iterable[LogFile]) -> list[Checkpoint]:
    """Group checkpoint files into checkpoints, keeping only those with every part present."""
    groups: dict[tuple[int, str], dict[int, LogFile]] = {}
    for f in files:
        if f.kind == "checkpoint":
            groups.setdefault((f.version, f.checkpoint_id), {})[f.part] = f
    out = []
    for (version, cid), parts in groups.items():
        n = next(iter(parts.values())).num_parts
        if len(parts) == n and set(parts) == set(range(1, n + 1)):
            out.append(Checkpoint(version, cid, tuple(parts[i] for i in range(1, n + 1))))
    # Prefer, within a version, classic/uuid (single file) over multi-part: fewer reads.
    out.sort(key=lambda c: (c.version, -len(c.files)))
    return out


def build_segment(
    files: Sequence[LogFile],
    version: int | None = None,
    *,
    exclude_checkpoints: frozenset[tuple[int, str]] = frozenset(),
    use_compactions: bool = True,
    table_path: str = "",
) -> LogSegment:
    """Choose the log segment for ``version`` (None = latest) from a listing.

    Raises `TableNotFoundError` when there is nothing to replay, `VersionNotFoundError` when the version is
    outside the reachable history, and `InvalidLogError` when commits are missing between the chosen
    checkpoint and the target.
    """
    commits = {f.version: f for f in files if f.kind == "commit"}
    checkpoints = [c for c in complete_checkpoints(files) if c.key not in exclude_checkpoints]
    if not commits and not checkpoints:
        raise TableNotFoundError(f"no Delta log found at {table_path or 'this location'}: _delta_log/ has no commits")

    latest = max([*commits, *(c.version for c in checkpoints)])
    if version is None:
        version = latest
    elif version < 0:
        raise VersionNotFoundError(f"version {version} is negative")
    elif version > latest:
        raise VersionNotFoundError(
            f"version {version} does not exist; the latest version of {table_path or 'the table'} is {latest}"
        )

    usable = [c for c in checkpoints if c.version <= version]
    chosen = usable[-1] if usable else None
    start = chosen.version + 1 if chosen else 0

    missing = [v for v in range(start, version + 1) if v not in commits]
    if missing:
        earliest = min(commits) if commits else None
        if chosen is None and earliest is not None and earliest > 0 and missing == list(range(0, min(earliest, version + 1))):
            # The head of the log was cleaned up and no checkpoint at or below the target covers it.
            raise VersionNotFoundError(
                f"version {version} is not reachable in {table_path or 'the table'}: the earliest commit left is "
                f"{earliest} and no checkpoint at or before version {version} exists"
            )
        raise InvalidLogError(
            f"log versions are not contiguous: missing commit(s) {missing[:10]} needed for version {version}",
            path=table_path or None,
            version=version,
        )

    selected = tuple(commits[v] for v in range(start, version + 1))
    deltas = _apply_compactions(selected, files, start, version) if use_compactions else selected
    return LogSegment(version=version, checkpoint=chosen, deltas=deltas, commits=selected)


def _apply_compactions(selected: tuple[LogFile, ...], files: Sequence[LogFile], start: int, end: int) -> tuple[LogFile, ...]:
    """Replace runs of commits by compaction files that fit inside [start, end], widest first."""
    candidates = sorted(
        (f for f in files if f.kind == "compacted" and f.version >= start and (f.end_version or 0) <= end),
        key=lambda f: (f.version, -(f.end_version or 0)),
    )
    out: list[LogFile] = []
    v = start
    by_version = {f.version: f for f in selected}
    ci = 0
    while v <= end:
        while ci < len(candidates) and candidates[ci].version < v:
            ci += 1
        if ci < len(candidates) and candidates[ci].version == v:
            comp = candidates[ci]
            out.append(comp)
            v = (comp.end_version or v) + 1
            continue
        out.append(by_version[v])
        v += 1
    return tuple(out)
