"""Shared fixtures: a real S3-compatible server (moto) on 127.0.0.1 for storage tests.

The server is started once per session as a subprocess on a free port and stopped at the end. Each test
gets its own bucket. Credentials are dummies; the EC2 metadata lookup is disabled so nothing leaves the
machine, and s3fs's instance and listing caches are off so every test sees fresh listings.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    # s3fs sends us-east-1 as an explicit LocationConstraint, which S3 (and moto) reject; default elsewhere.
    "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "eu-west-1"),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _moto_command(port: int) -> list[str]:
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if exe:
        return [exe, "-H", "127.0.0.1", "-p", str(port)]
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


@pytest.fixture(scope="session")
def s3_server():
    """Start moto_server on 127.0.0.1 and yield its endpoint URL; check put-if-absent semantics first."""
    for k, v in S3_ENV.items():
        os.environ.setdefault(k, v)
    port = _free_port()
    proc = subprocess.Popen(_moto_command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("moto_server did not start on 127.0.0.1")
            time.sleep(0.1)
    try:
        _check_conditional_put(endpoint)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _s3fs(endpoint: str):
    import s3fs

    return s3fs.S3FileSystem(
        key=S3_ENV["AWS_ACCESS_KEY_ID"],
        secret=S3_ENV["AWS_SECRET_ACCESS_KEY"],
        client_kwargs={"endpoint_url": endpoint, "region_name": S3_ENV["AWS_DEFAULT_REGION"]},
        skip_instance_cache=True,
        use_listings_cache=False,
    )


def _check_conditional_put(endpoint: str) -> None:
    """The server must refuse a second `If-None-Match: *` put, or commit tests would prove nothing."""
    fs = _s3fs(endpoint)
    bucket = f"probe-{uuid.uuid4().hex[:12]}"
    fs.mkdir(bucket)
    fs.pipe_file(f"{bucket}/x", b"1", mode="create")
    try:
        fs.pipe_file(f"{bucket}/x", b"2", mode="create")
    except FileExistsError:
        return
    raise RuntimeError("the S3 test server accepted a second conditional put: put-if-absent cannot be tested")


@pytest.fixture
def s3_bucket(s3_server):
    """A fresh bucket; yields (bucket name, storage_options for lakehouse/fsspec)."""
    fs = _s3fs(s3_server)
    bucket = f"t-{uuid.uuid4().hex[:16]}"
    fs.mkdir(bucket)
    options = {
        "key": S3_ENV["AWS_ACCESS_KEY_ID"],
        "secret": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        "client_kwargs": {"endpoint_url": s3_server, "region_name": S3_ENV["AWS_DEFAULT_REGION"]},
        "skip_instance_cache": True,
        "use_listings_cache": False,
    }
    yield bucket, options, fs


@pytest.fixture
def table_path(tmp_path):
    """An existing, empty directory for a new table (see test_first_write_creates_missing_directory
    for writes to a directory that does not exist yet)."""
    p = tmp_path / "t"
    p.mkdir()
    return str(p)
