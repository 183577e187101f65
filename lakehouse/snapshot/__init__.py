"""The snapshot layer: a table's state at one version (`Snapshot`), built from the log; history, version
and timestamp resolution (`history`), and checkpoints written from a snapshot (`checkpoint`)."""

from lakehouse.snapshot.snapshot import Snapshot, latest_snapshot, load_snapshot

__all__ = ["Snapshot", "latest_snapshot", "load_snapshot"]
