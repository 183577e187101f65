"""Unit tests of `lakehouse.protocol.paths.resolve_relative` (PROTOCOL.md "Add File and Remove File")."""

from __future__ import annotations

import pytest

from lakehouse.errors import InvalidLogError
from lakehouse.protocol.paths import is_inside_root, resolve_relative

ROOT = "file:///data/tables/t1"


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("part-0.parquet", "part-0.parquet"),
        ("p=1/part-0.parquet", "p=1/part-0.parquet"),
        ("./p=1/part-0.parquet", "p=1/part-0.parquet"),
        ("p=1//part-0.parquet", "p=1/part-0.parquet"),
        ("a/b/../c.parquet", "a/c.parquet"),
        ("p=a%20b/part-0.parquet", "p=a b/part-0.parquet"),
        ("ts=2021-09-08%2011%253A11%253A11/f.parquet", "ts=2021-09-08 11%3A11%3A11/f.parquet"),
        ("p=x%3Ay/f.parquet", "p=x:y/f.parquet"),
        ("deletion_vector_%C3%A9.bin", "deletion_vector_\u00e9.bin"),
    ],
)
def test_relative_paths(raw, expected):
    assert resolve_relative(raw, ROOT) == expected


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("file:///data/tables/t1/part-0.parquet", "part-0.parquet"),
        ("file:/data/tables/t1/p=1/part-0.parquet", "p=1/part-0.parquet"),
        ("/data/tables/t1/part-0.parquet", "part-0.parquet"),
        ("file:///data/tables/t1/p=a%20b/part-0.parquet", "p=a b/part-0.parquet"),
        ("file:///data/tables/t1/sub/../part-0.parquet", "part-0.parquet"),
    ],
)
def test_absolute_paths_inside_root(raw, expected):
    assert resolve_relative(raw, ROOT) == expected


def test_absolute_paths_inside_remote_root():
    assert resolve_relative("s3://bucket/tables/t1/a/f.parquet", "s3://bucket/tables/t1") == "a/f.parquet"
    assert resolve_relative("s3://bucket/tables/t1/f.parquet", "s3://bucket/tables/t1/") == "f.parquet"


@pytest.mark.parametrize(
    "raw",
    [
        "file:///data/tables/other/part-0.parquet",
        "file:///data/tables/t1x/part-0.parquet",  # shares a prefix with the root, but is not inside it
        "file:///data/tables/t1",
        "file:///etc/passwd",
        "/etc/passwd",
        "file:///data/tables/t1/../other/f.parquet",
        "s3://bucket/tables/t1/part-0.parquet",
        "https://evil.example.com/tables/t1/part-0.parquet",
    ],
)
def test_absolute_paths_outside_root_are_refused(raw):
    with pytest.raises(InvalidLogError) as exc_info:
        resolve_relative(raw, ROOT)
    assert raw in str(exc_info.value)


def test_other_bucket_refused():
    with pytest.raises(InvalidLogError):
        resolve_relative("s3://other/tables/t1/f.parquet", "s3://bucket/tables/t1")


@pytest.mark.parametrize(
    "raw",
    [
        "../other/part-0.parquet",
        "../../etc/passwd",
        "a/../../x.parquet",
        "..",
        ".",
        "",
        "%2E%2E/etc/passwd",  # percent-encoded ".."
        "a/%2e%2e/%2e%2e/etc/passwd",
        "..%2Fetc%2Fpasswd",
    ],
)
def test_relative_paths_escaping_root_are_refused(raw):
    with pytest.raises(InvalidLogError):
        resolve_relative(raw, ROOT)


@pytest.mark.parametrize(
    "raw",
    [
        "file:///data/tables/t1/%2E%2E/other/f.parquet",
        "file:///data/tables/t1/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/data/tables/t1/%2E%2E/other/f.parquet",
        "file:///data/tables/t1/a/%2E%2E/%2E%2E/other/f.parquet",
    ],
)
def test_absolute_paths_escaping_root_with_encoded_dots_are_refused(raw):
    # Percent-decoding must not turn an inside-looking absolute URI into one that climbs out of the root.
    try:
        rel = resolve_relative(raw, ROOT)
    except InvalidLogError:
        return
    assert not rel.startswith("..") and "/../" not in f"/{rel}/", f"{raw!r} resolved to {rel!r}, outside the root"


def test_refusal_names_the_path_the_kind_and_the_version():
    with pytest.raises(InvalidLogError) as info:
        resolve_relative("../victim/deletion_vector_x.bin", ROOT, kind="deletion vector", version=7)
    text = str(info.value)
    assert "deletion vector path '../victim/deletion_vector_x.bin'" in text and "version 7" in text
    assert "\n" not in text


@pytest.mark.parametrize("rel", ["f.parquet", "p=1/f.parquet", "_change_data/cdc.parquet",
                                 "ts=2021-09-08 11%3A11%3A11/f.parquet", "p=%2E%2E/f.parquet", "a..b/c.parquet"])
def test_is_inside_root(rel):
    # Storage keys are not decoded: `p=%2E%2E` is a directory with that literal name, inside the root.
    assert is_inside_root(rel)


@pytest.mark.parametrize("rel", ["", ".", "..", "../victim/f.parquet", "a/../../victim/f.parquet", "a/./f.parquet",
                                 "/etc/passwd", "file:///etc/passwd", "s3://bucket/k", "a//b.parquet",
                                 "..\\victim\\f.parquet"])
def test_is_not_inside_root(rel):
    assert not is_inside_root(rel)
