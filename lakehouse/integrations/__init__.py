"""Integrations on the public API: polars (`polars`), Dask (`dask`, optional extra) and Delta Sharing
(`sharing`, optional extra). Nothing below this package is imported by the core."""
