"""Contention: 3 processes x 8 tasks write and read one SQLite file at once, default timeout.

``MCARD_CONTENTION_SECONDS`` sets how long they run (default 5); the figures are printed
(``pytest -s``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from mcard import AsyncPersistenceWrapper, SQLiteConfig

CHILD = Path(__file__).parent / "faults" / "child.py"
SECONDS = float(os.environ.get("MCARD_CONTENTION_SECONDS", "5"))
PROCESSES, TASKS = 3, 8


def test_processes_writing_one_file_see_no_lock_errors_and_lose_nothing(tmp_path):
    db = tmp_path / "shared.db"
    children = [
        subprocess.Popen(
            [sys.executable, str(CHILD), "contend", str(db), str(p), str(TASKS), str(SECONDS)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for p in range(PROCESSES)
    ]
    try:
        for child in children:
            assert child.stdout.readline().strip() == "ready", child.stderr.read()
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [child.communicate(timeout=SECONDS + 60) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    summaries = []
    for child, (out, err) in zip(children, outputs):
        assert child.returncode == 0, err
        summaries.append(json.loads(out.strip().splitlines()[-1]))
    errors = [error for summary in summaries for error in summary["errors"]]
    assert not errors, f"{len(errors)} errors reached callers, e.g. {errors[:5]}"
    created = [card for summary in summaries for card in summary["created"]]
    assert len(created) == len(set(created)), "a card was reported created twice"

    async def stored() -> tuple[set[str], int]:
        async with AsyncPersistenceWrapper(SQLiteConfig(db)) as store:
            assert (await store.verify(progress=False)).ok
            return {card.hash async for card in store.iterate()}, await store.count()

    hashes, count = asyncio.run(stored())
    assert hashes == set(created) and count == len(created), "cards lost or unexpected cards stored"
    ops = sum(summary["ops"] for summary in summaries)
    print(f"\ncontention: {PROCESSES} processes x {TASKS} tasks for {SECONDS:g} s: {ops} operations, "
          f"{len(created)} cards written, 0 lock errors, 0 lost, 0 duplicated")
