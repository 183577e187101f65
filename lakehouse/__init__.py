"""lakehouse: a Python engine for the Delta Lake table format.

Public API: `DeltaTable` (with the `dt.optimize` and `dt.alter` namespaces, `TableOptimizer` and
`TableAlterer`), `read_delta`, `write_delta`, `variant_to_json` (variant columns as JSON text), `FilterLike`
(what every filter and predicate accepts), the result of every mutating call (each with the ``version``
it committed, None when nothing was committed: `CommitResult`, `DeleteMetrics`, `UpdateMetrics`,
`MergeMetrics`, `OptimizeMetrics`, `VacuumMetrics`, `RestoreMetrics`, `AlterResult`), the other results
(`MergeBuilder` from `dt.merge`, `TableDetail`, `VerifyReport` from `verify_table` / `dt.verify()`,
`HistoryEntry`, `Scan`, `ScanMetrics`), `Progress` and `ProgressEvent` (the ``progress=`` callback of long
operations), the Delta schema types `StructType` / `StructField` / `PrimitiveType` (e.g. `PrimitiveType("variant")`) with `schema_to_json` and `type_to_json`
(the table's schema string and one column's type as Delta spells them), and the errors in
`lakehouse.errors`.
"""

from lakehouse import errors
from lakehouse.errors import LakehouseError
from lakehouse.snapshot.history import HistoryEntry
from lakehouse.namespaces import AlterResult, TableAlterer, TableOptimizer
from lakehouse.operations.delete import DeleteMetrics
from lakehouse.operations.detail import TableDetail
from lakehouse.operations.merge_builder import MergeBuilder
from lakehouse.operations.merge import MergeMetrics
from lakehouse.operations.optimize import OptimizeMetrics
from lakehouse.operations.restore import RestoreMetrics
from lakehouse.operations.update import UpdateMetrics
from lakehouse.operations.vacuum import VacuumMetrics
from lakehouse.operations.verify import Problem, VerifyReport, verify_table
from lakehouse.operations.write import write_delta
from lakehouse.integrations.polars import scan_delta
from lakehouse.progress import Progress, ProgressEvent
from lakehouse.protocol.expr import FilterLike
from lakehouse.protocol.schema import PrimitiveType, StructField, StructType, schema_to_json, type_to_json
from lakehouse.protocol.variant import variant_to_json
from lakehouse.scan import Scan, ScanMetrics
from lakehouse.table import DeltaTable, read_delta
from lakehouse.write.transaction import AppTransaction, CommitProperties, CommitResult

from lakehouse._version import __version__

__all__ = [
    "AlterResult",
    "AppTransaction",
    "CommitProperties",
    "CommitResult",
    "DeleteMetrics",
    "DeltaTable",
    "FilterLike",
    "HistoryEntry",
    "LakehouseError",
    "MergeBuilder",
    "MergeMetrics",
    "OptimizeMetrics",
    "PrimitiveType",
    "Problem",
    "Progress",
    "ProgressEvent",
    "RestoreMetrics",
    "StructField",
    "StructType",
    "TableDetail",
    "TableAlterer",
    "TableOptimizer",
    "UpdateMetrics",
    "VacuumMetrics",
    "VerifyReport",
    "errors",
    "read_delta",
    "scan_delta",
    "schema_to_json",
    "type_to_json",
    "variant_to_json",
    "verify_table",
    "Scan",
    "ScanMetrics",
    "write_delta",
    "__version__",
]
