"""put-if-absent, the commit primitive: of racing writers exactly one wins each name, its bytes intact.

Races use real subprocesses on local disk and threads against the moto S3 server and `memory://`. A
backend without an atomic create must refuse commits unless the user opts in (spec/commit-protocol.md,
ways to lose data 1 and 12).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

import lakehouse
from lakehouse.errors import CommitError, ObjectExistsError
from lakehouse.storage import open_storage

WORKER = textwrap.dedent(
    """
    import json, sys, time
    from lakehouse.storage import open_storage
    from lakehouse.errors import ObjectExistsError
    root, me, names, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    storage = open_storage(root)
    while time.time() < start:
        time.sleep(0.001)
    won = []
    for i in range(names):
        try:
            storage.put_if_absent(f"_delta_log/{i:020d}.json", (me + "\\n").encode() * 200)
            won.append(i)
        except ObjectExistsError:
            pass
    print(json.dumps(won))
    """
)


def test_local_processes_race_exactly_one_winner_per_name(tmp_path: Path):
    import time

    names, writers = 60, 6
    start = time.time() + 1.5
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path), f"w{i}", str(names), str(start)],
                         stdout=subprocess.PIPE, text=True)
        for i in range(writers)
    ]
    wins = {f"w{i}": json.loads(p.communicate(timeout=120)[0]) for i, p in enumerate(procs)}
    counts = Counter(n for won in wins.values() for n in won)
    assert sorted(counts) == list(range(names)) and set(counts.values()) == {1}
    storage = open_storage(tmp_path)
    for writer, won in wins.items():
        for n in won:
            assert storage.read_bytes(f"_delta_log/{n:020d}.json") == (writer + "\n").encode() * 200
    assert not [p for p in (tmp_path / "_delta_log").iterdir() if p.name.endswith(".tmp")], "temp files left behind"


def _thread_race(uri: str, options: dict | None, names: int = 20, writers: int = 4) -> None:
    storages = [open_storage(uri, options) for _ in range(writers)]
    barrier = threading.Barrier(writers)
    wins: dict[int, list[int]] = {w: [] for w in range(writers)}

    def run(w: int) -> None:
        barrier.wait()
        for i in range(names):
            try:
                storages[w].put_if_absent(f"_delta_log/{i:020d}.json", f"writer {w}".encode())
                wins[w].append(i)
            except ObjectExistsError:
                pass

    threads = [threading.Thread(target=run, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    counts = Counter(n for won in wins.values() for n in won)
    assert sorted(counts) == list(range(names)) and set(counts.values()) == {1}
    for w, won in wins.items():
        for n in won:
            assert storages[0].read_bytes(f"_delta_log/{n:020d}.json") == f"writer {w}".encode()


def test_s3_conditional_put_race(s3_bucket):
    bucket, options, _ = s3_bucket
    _thread_race(f"s3://{bucket}/t", options)


def test_memory_race():
    _thread_race("memory://put-if-absent-race", None)


def test_second_put_is_refused_and_leaves_the_first(tmp_path: Path):
    storage = open_storage(tmp_path)
    storage.put_if_absent("_delta_log/00000000000000000000.json", b"first")
    with pytest.raises(ObjectExistsError):
        storage.put_if_absent("_delta_log/00000000000000000000.json", b"second")
    assert storage.read_bytes("_delta_log/00000000000000000000.json") == b"first"


def test_non_atomic_backend_refuses_commits_unless_opted_in(tmp_path: Path):
    uri = f"local://{tmp_path}/t"  # fsspec's LocalFileSystem by another name: no atomic create here
    data = pa.table({"id": [1]})
    with pytest.raises(CommitError, match="allow_unsafe_commits"):
        lakehouse.write_delta(uri, data)
    assert not (tmp_path / "t" / "_delta_log").exists() or not list((tmp_path / "t" / "_delta_log").glob("*.json"))
    lakehouse.write_delta(uri, data, storage_options={"lakehouse.allow_unsafe_commits": True})
    assert lakehouse.read_delta(tmp_path / "t").to_pylist() == [{"id": 1}]
