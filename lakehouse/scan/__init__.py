"""The scan layer: planning a read (`scan`: pruning, skipping), reading data files (`read`), deletion
vectors (`deletion_vectors`) and change data feed reads (`cdf`)."""

from lakehouse.scan.scan import Scan, ScanMetrics

__all__ = ["Scan", "ScanMetrics"]
