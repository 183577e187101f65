"""Writing data files: Parquet files with Hive-style partitions, rolling at a target size, with stats."""
