"""Reading checkpoints: classic, multi-part and v2 (JSON or Parquet, with sidecars)
(PROTOCOL.md "Checkpoints", "Sidecar Files", "Checkpoint Schema", "V2 Spec").

File actions are returned as Arrow tables (`ADD_SCHEMA`/`REMOVE_SCHEMA`); the few non-file actions as
typed actions. Any unreadable or malformed checkpoint file raises `InvalidLogError` naming it, which lets
the snapshot loader fall back to an older checkpoint or to the JSON commits.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lakehouse.errors import DataFileNotFoundError, InvalidLogError, LakehouseError
from lakehouse.protocol.actions import Action, Add, Remove, Sidecar
from lakehouse.protocol.codec import decode_action, encode_action, parse_commit_bytes
from lakehouse.protocol.file_table import (
    ADD_SCHEMA,
    ADD_TYPE,
    REMOVE_SCHEMA,
    REMOVE_TYPE,
    adds_to_table,
    struct_rows_to_table,
)
from lakehouse.protocol.log_path import LOG_DIR, SIDECAR_DIR
from lakehouse.protocol.schema import empty_table
from lakehouse.protocol.segment import Checkpoint
from lakehouse.storage.base import Storage

_NON_FILE = ("protocol", "metaData", "txn", "domainMetadata", "checkpointMetadata", "sidecar")


@dataclass
class CheckpointData:
    """What one checkpoint holds: non-file actions, active adds and remove tombstones."""

    actions: list[Action] = field(default_factory=list)
    adds: list[pa.Table] = field(default_factory=list)
    removes: list[pa.Table] = field(default_factory=list)

    def add_table(self) -> pa.Table:
        """All checkpointed adds as one table."""
        return pa.concat_tables(self.adds) if self.adds else empty_table(ADD_SCHEMA)

    def remove_table(self) -> pa.Table:
        """All checkpointed remove tombstones as one table."""
        return pa.concat_tables(self.removes) if self.removes else empty_table(REMOVE_SCHEMA)


def _read_parquet(storage: Storage, rel: str, version: int, data: CheckpointData) -> list[Sidecar]:
    fs, root = storage.arrow_filesystem()
    try:
        pf = pq.ParquetFile(f"{root}/{rel}", filesystem=fs)
        table = pf.read(columns=_wanted_columns(pf.schema_arrow))
    except FileNotFoundError:
        raise InvalidLogError("checkpoint file is missing", path=rel, version=version) from None
    except (pa.ArrowException, OSError, ValueError) as e:
        raise InvalidLogError(f"checkpoint file cannot be read as Parquet: {e}", path=rel, version=version) from None
    sidecars: list[Sidecar] = []
    try:
        if "add" in table.column_names:
            adds = struct_rows_to_table(table.column("add"), ADD_TYPE)
            for required in ("path", "size", "partitionValues"):
                if adds.column(required).null_count:
                    raise InvalidLogError(f"checkpoint add rows lack required field '{required}'", path=rel, version=version)
            data.adds.append(adds)
        if "remove" in table.column_names:
            data.removes.append(struct_rows_to_table(table.column("remove"), REMOVE_TYPE))
    except (pa.ArrowException, ValueError, TypeError) as e:
        raise InvalidLogError(f"checkpoint file actions have an unexpected shape: {e}", path=rel, version=version) from None
    for name in _NON_FILE:
        if name not in table.column_names:
            continue
        col = table.column(name)
        rows = col.filter(pc.is_valid(col)).to_pylist() if col.null_count < len(col) else []
        for row in rows:
            if not isinstance(row, dict):
                raise InvalidLogError(f"checkpoint column '{name}' is not a struct", path=rel, version=version)
            action = decode_action({name: _drop_nulls(row)}, path=rel, version=version)
            if isinstance(action, Sidecar):
                sidecars.append(action)
            else:
                data.actions.append(action)
    return sidecars


def _wanted_columns(schema: pa.Schema) -> list[str]:
    """The columns replay needs, down to the fields of `add` and `remove`: fields the file table does not
    keep (`remove.stats`, `add.partitionValues_parsed`, ...) are not decoded at all. `add.stats_parsed` is
    read only when `add.stats` is absent (it then becomes the stats)."""
    wanted: list[str] = []
    for name, keep in (("add", ADD_SCHEMA.names), ("remove", REMOVE_SCHEMA.names)):
        if name not in schema.names:
            continue
        struct = schema.field(name).type
        if not pa.types.is_struct(struct):
            wanted.append(name)  # not a struct: let the shape check below report it
            continue
        present = [struct.field(i).name for i in range(struct.num_fields)]
        fields = [f for f in present if f in keep]
        if name == "add" and "stats_parsed" in present:
            fields.append("stats_parsed")  # both forms may be there; only the reader knows which rows lack stats
        # No known field at all: read the whole struct so that the shape check reports it.
        wanted += [f"{name}.{f}" for f in fields] if fields else [name]
    return wanted + [c for c in _NON_FILE if c in schema.names]


def _drop_nulls(row: dict) -> dict:
    # Parquet rows carry every schema field, null where the action had none; the codec wants them absent.
    return {k: v for k, v in row.items() if v is not None}


def _read_json(storage: Storage, rel: str, version: int, data: CheckpointData) -> list[Sidecar]:
    try:
        blob = storage.read_bytes(rel)
    except DataFileNotFoundError:
        raise InvalidLogError("checkpoint file is missing", path=rel, version=version) from None
    adds: list[Add] = []
    removes: list[Remove] = []
    sidecars: list[Sidecar] = []
    for action in parse_commit_bytes(blob, path=rel, version=version):
        if isinstance(action, Add):
            adds.append(action)
        elif isinstance(action, Remove):
            removes.append(action)
        elif isinstance(action, Sidecar):
            sidecars.append(action)
        else:
            data.actions.append(action)
    if adds:
        data.adds.append(adds_to_table(adds))
    if removes:
        rows = [encode_action(r)["remove"] for r in removes]
        data.removes.append(pa.Table.from_pylist(rows, schema=REMOVE_SCHEMA))
    return sidecars


def _sidecar_rel(sidecar: Sidecar, version: int) -> str:
    """Where a sidecar lives: always `_delta_log/_sidecars/<name>` (PROTOCOL.md "Sidecar File
    Information"); a path that would leave that directory is refused, not followed."""
    path = unquote(sidecar.path)  # PROTOCOL.md: the sidecar path is a URI
    if "/" in path and not path.startswith(SIDECAR_DIR + "/"):
        # An absolute URI or nested path: only the file name identifies it inside _sidecars/.
        path = path.rsplit("/", 1)[-1]
    name = posixpath.normpath(path[len(SIDECAR_DIR) + 1:] if path.startswith(SIDECAR_DIR + "/") else path)
    if name in ("", ".", "..") or name.startswith(("../", "/")):
        raise InvalidLogError(
            f"the checkpoint's sidecar path {sidecar.path!r} escapes {LOG_DIR}/{SIDECAR_DIR}/ (it lies outside "
            "the table); lakehouse refuses to read files outside the table", version=version)
    return f"{LOG_DIR}/{SIDECAR_DIR}/{name}"


def read_checkpoint(storage: Storage, checkpoint: Checkpoint) -> CheckpointData:
    """Read every part (and sidecar) of a checkpoint."""
    data = CheckpointData()
    sidecars: list[Sidecar] = []
    for f in checkpoint.files:
        rel = f"{LOG_DIR}/{f.name}"
        if f.fmt == "json":
            sidecars += _read_json(storage, rel, checkpoint.version, data)
        else:
            sidecars += _read_parquet(storage, rel, checkpoint.version, data)
    for sc in sidecars:
        rel = _sidecar_rel(sc, checkpoint.version)
        try:
            side = _read_parquet(storage, rel, checkpoint.version, data)
        except LakehouseError as e:
            raise InvalidLogError(f"sidecar of the checkpoint cannot be read: {e}", path=rel, version=checkpoint.version) from None
        if side:
            raise InvalidLogError("a sidecar file may not reference further sidecars", path=rel, version=checkpoint.version)
    return data
