"""The snapshot layer: a table's state at one version (`Snapshot`), built from the log; history, version
and timestamp resolution (`history`), and the thin calls that checkpoint or clean up the log from a
snapshot's state (`checkpoint`; the writing itself is `lakehouse.log`)."""

from lakehouse.snapshot.snapshot import Snapshot, latest_snapshot, load_snapshot

__all__ = ["Snapshot", "latest_snapshot", "load_snapshot"]
