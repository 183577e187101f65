"""lakehouse: a Python engine for the Delta Lake table format.

Public API: `DeltaTable`, `read_delta`, and the errors in `lakehouse.errors`.
"""

from lakehouse import errors
from lakehouse.errors import LakehouseError
from lakehouse.history import HistoryEntry
from lakehouse.operations.write import write_delta
from lakehouse.table import DeltaTable, read_delta
from lakehouse.transaction import AppTransaction, CommitProperties, CommitResult

from lakehouse._version import __version__

__all__ = [
    "AppTransaction",
    "CommitProperties",
    "CommitResult",
    "DeltaTable",
    "HistoryEntry",
    "LakehouseError",
    "errors",
    "read_delta",
    "write_delta",
    "__version__",
]
