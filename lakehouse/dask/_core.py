"""The single-process `write_delta`'s planning helpers, used by the Dask write so both plan alike.

They are private in `lakehouse.operations.write`; importing them in this one place keeps the Dask
write's semantics (schema planning, conforming rows, overwrite removes, idempotent writes) identical to
the single-process write's without copying them. When `lakehouse.operations.write` exposes its planning
publicly (a `plan_write` returning the plan, and `overwrite_candidates`/`remove_for` helpers), this
module becomes a list of public imports and nothing else in `lakehouse.dask` changes.

This module must not add behaviour of its own.
"""

from __future__ import annotations

from lakehouse.operations.write import _MODES as MODES
from lakehouse.operations.write import Mode, SchemaMode
from lakehouse.operations.write import _already_applied as already_applied
from lakehouse.operations.write import _conform_batches as conform_batches
from lakehouse.operations.write import _normalize_schema as normalize_schema
from lakehouse.operations.write import _plan as plan_write
from lakehouse.operations.write import _remove_as_add as remove_as_add
from lakehouse.operations.write import _remove_for as remove_for

__all__ = ["MODES", "Mode", "SchemaMode", "already_applied", "conform_batches", "normalize_schema", "plan_write",
           "remove_as_add", "remove_for"]
