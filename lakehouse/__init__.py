"""lakehouse: a Python engine for the Delta Lake table format.

Public API: `DeltaTable`, `read_delta`, and the errors in `lakehouse.errors`.
"""

from lakehouse import errors
from lakehouse.errors import LakehouseError
from lakehouse.history import HistoryEntry
from lakehouse.table import DeltaTable, read_delta

__version__ = "0.1.0"

__all__ = ["DeltaTable", "read_delta", "HistoryEntry", "LakehouseError", "errors", "__version__"]
