"""Maintenance on the S3 test server (moto on 127.0.0.1): OPTIMIZE, VACUUM with its bulk deletes,
RESTORE and verify work through fsspec exactly as on local disk."""

from __future__ import annotations

import pyarrow as pa

import lakehouse


def test_optimize_vacuum_restore_verify_on_s3(s3_bucket) -> None:
    bucket, options, fs = s3_bucket
    uri = f"s3://{bucket}/t"
    for i in range(6):
        lakehouse.write_delta(uri, pa.table({"id": [i, i + 100], "p": ["a", "b"]}), mode="append",
                              partition_by=["p"], storage_options=options)
    table = lakehouse.DeltaTable(uri, storage_options=options)
    rows = sorted(table.to_arrow().column("id").to_pylist())
    metrics = table.optimize.compact()
    assert metrics.num_files_removed == 12 and metrics.num_files_added == 2
    assert sorted(table.to_arrow().column("id").to_pylist()) == rows
    dry = table.vacuum(retention_hours=0, enforce_retention_duration=False)
    assert dry.num_files == 12
    assert all(fs.exists(f"{bucket}/t/{p}") for p in dry.files)
    done = table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    assert set(done.files) == set(dry.files)
    assert not any(fs.exists(f"{bucket}/t/{p}") for p in dry.files)
    assert sorted(table.to_arrow().column("id").to_pylist()) == rows
    assert table.verify().ok
    # The versions before OPTIMIZE lost their files: RESTORE to one fails and changes nothing.
    version = table.version
    try:
        table.restore(2)
    except lakehouse.errors.DataFileNotFoundError:
        pass
    else:
        raise AssertionError("restore to a vacuumed version must fail")
    assert lakehouse.DeltaTable(uri, storage_options=options).version == version
    table.restore(6)  # the OPTIMIZE version: its files still exist
    assert sorted(table.to_arrow().column("id").to_pylist()) == rows
