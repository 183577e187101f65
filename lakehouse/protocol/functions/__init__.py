"""The scalar functions of the expression language, one registry row per Spark SQL function: how many
arguments it takes, which must be literals, the type it yields, and how to compute it with Arrow.

Semantics are Spark's (ANSI mode where the two modes differ, as Spark 4 and Databricks default to):
strings are counted in characters, positions are 1-based, a NULL argument gives NULL unless the
function says otherwise (`concat_ws`, `coalesce`, `greatest`), the session time zone is UTC. Where Arrow
has no kernel with those semantics the function is a vectorised Python function registered with Arrow
once (`_udf`), so it still runs inside Arrow's filters and projections.
"""

from lakehouse.protocol.functions import collections, datetimes, numbers, strings, variants  # noqa: F401 - they register
from lakehouse.protocol.functions.registry import (
    FUNCTIONS,
    NOT_LITERAL,
    STRING,
    Call,
    Function,
    common_type,
    lookup,
    udf,
)

__all__ = ["FUNCTIONS", "NOT_LITERAL", "STRING", "Call", "Function", "common_type", "lookup", "udf"]
