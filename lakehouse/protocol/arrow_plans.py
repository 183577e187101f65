"""Arrow's query engine (Acero) over in-memory tables: projecting an expression, an inner join.

pyarrow.acero and ``Table.join``/``Table.filter(expression)`` import pyarrow.dataset, whose import loads
pandas when it is installed (0.1-0.2 s and ~30 MiB per process, more than a whole DELETE with deletion
vectors takes); the plans here are built on the compiled module behind pyarrow.acero, which loads nothing
more. No I/O.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


def _acero() -> Any:
    """The compiled Acero module (see the module docstring for why not pyarrow.acero)."""
    try:
        import pyarrow._acero as acero
    except ImportError:  # pragma: no cover - a pyarrow that moved it
        from pyarrow import acero
    return acero


def project(table: pa.Table, expression: pc.Expression) -> pa.ChunkedArray:
    """The values of an Arrow expression over an in-memory table, rows in order (Acero, one thread:
    projection keeps the table's row order)."""
    acero = _acero()
    plan = acero.Declaration.from_sequence([
        acero.Declaration("table_source", acero.TableSourceNodeOptions(table)),
        acero.Declaration("project", acero.ProjectNodeOptions([expression], ["v"])),
    ])
    return plan.to_table(use_threads=False).column("v")


def inner_join(left: pa.Table, right: pa.Table, keys: list[str], left_output: list[str],
               right_output: list[str]) -> pa.Table:
    """The inner equi-join of two in-memory tables on ``keys`` (Acero's hash join, one thread; rows in
    no particular order), keeping the named columns of each side."""
    acero = _acero()
    join = acero.HashJoinNodeOptions("inner", keys, keys, left_output=left_output, right_output=right_output)
    plan = acero.Declaration("hashjoin", join, inputs=[
        acero.Declaration("table_source", acero.TableSourceNodeOptions(left)),
        acero.Declaration("table_source", acero.TableSourceNodeOptions(right)),
    ])
    return plan.to_table(use_threads=False)


def filter_rows(table: pa.Table, expression: pc.Expression) -> pa.Table:
    """The rows of an in-memory table for which an Arrow expression is true (null drops the row), in
    order: ``Table.filter(expression)`` without its pyarrow.dataset import."""
    acero = _acero()
    plan = acero.Declaration.from_sequence([
        acero.Declaration("table_source", acero.TableSourceNodeOptions(table)),
        acero.Declaration("filter", acero.FilterNodeOptions(expression)),
    ])
    return plan.to_table(use_threads=False)
