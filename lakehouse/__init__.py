"""lakehouse: a Python engine for the Delta Lake table format.

Public API: `DeltaTable`, `read_delta`, `write_delta`, `variant_to_json` (variant columns as JSON text),
`FilterLike` (what every filter and predicate accepts), and the errors in `lakehouse.errors`.
"""

from lakehouse import errors
from lakehouse.errors import LakehouseError
from lakehouse.history import HistoryEntry
from lakehouse.operations.write import write_delta
from lakehouse.polars_io import scan_delta
from lakehouse.protocol.expr import FilterLike
from lakehouse.protocol.variant import variant_to_json
from lakehouse.scan import Scan, ScanMetrics
from lakehouse.table import DeltaTable, read_delta
from lakehouse.transaction import AppTransaction, CommitProperties, CommitResult

from lakehouse._version import __version__

__all__ = [
    "AppTransaction",
    "CommitProperties",
    "CommitResult",
    "DeltaTable",
    "FilterLike",
    "HistoryEntry",
    "LakehouseError",
    "errors",
    "read_delta",
    "scan_delta",
    "variant_to_json",
    "Scan",
    "ScanMetrics",
    "write_delta",
    "__version__",
]
