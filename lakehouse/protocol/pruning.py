"""Deciding from partition values alone which files may hold rows matching a predicate.

Used by replaceWhere, by the conflict checker (`may_match`) and, later, by scans. The predicate is first
restricted to partition columns (`expr.restrict`): atoms on data columns become TRUE, so a file is ruled
out only when its partition values make the predicate not TRUE for every row it could hold.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pyarrow as pa

from lakehouse.protocol import arrow_values as av
from lakehouse.protocol.arrow_plans import filter_rows
from lakehouse.protocol.actions import Add
from lakehouse.protocol.arrow_conform import physical_name
from lakehouse.protocol.expr import Expr, columns, partition_table, restrict, to_arrow
from lakehouse.protocol.expr_ast import is_literal
from lakehouse.protocol.properties import ColumnMappingMode
from lakehouse.protocol.schema import StructType


def is_partition_only(predicate: Expr, partition_columns: Sequence[str]) -> bool:
    """Whether the predicate refers to partition columns only (then it holds for whole files)."""
    return columns(predicate) <= set(partition_columns)


def partition_mask(partition_values: Sequence[Mapping[str, str | None]], predicate: Expr, schema: StructType,
                   partition_columns: Sequence[str], mode: ColumnMappingMode = "none") -> np.ndarray:
    """For each file's partition values: True when the file may hold a matching row."""
    n = len(partition_values)
    restricted = restrict(predicate, set(partition_columns))
    if is_literal(restricted, True) or n == 0:
        return np.ones(n, dtype=bool)
    fields = [schema.field(c) for c in partition_columns]
    table = partition_table(list(partition_values), fields, key=lambda f: physical_name(f, mode))
    expr = to_arrow(restricted, StructType(tuple(fields)))
    indexed = table.append_column("__row__", av.array(np.arange(n)))
    hits = av.to_numpy(filter_rows(indexed, expr).column("__row__"))
    mask = np.zeros(n, dtype=bool)
    mask[hits] = True
    return mask


def exact_partition_matches(adds: pa.Table, predicate: Expr, schema: StructType, partition_columns: Sequence[str],
                            mode: ColumnMappingMode = "none") -> np.ndarray:
    """For each file of a predicate on partition columns only: True when the predicate is TRUE for it,
    hence for every row it holds. Unlike the pruning masks this is exact, not "may match": it decides
    which files an operation removes whole."""
    if not is_partition_only(predicate, partition_columns):
        raise ValueError("exact_partition_matches needs a predicate on partition columns only")
    values = [dict(pv or []) for pv in adds.column("partitionValues").to_pylist()]
    return partition_mask(values, predicate, schema, partition_columns, mode)


def may_match(add: Add, predicate: Expr, schema: StructType, partition_columns: Sequence[str],
              mode: ColumnMappingMode = "none") -> bool:
    """Whether one added file may hold a row matching ``predicate`` (conservative: True when unsure)."""
    return bool(partition_mask([add.partition_values], predicate, schema, partition_columns, mode)[0])
