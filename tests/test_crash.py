"""Crash mid-write: a writer process is killed with SIGKILL at random points, several times.

``MCARD_CRASH_RUNS`` sets the runs per kind of writer (default 3); the figures are printed
(``pytest -s``). Every run reuses the database the previous kill left behind.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path


from mcard import AsyncPersistenceWrapper, SQLiteConfig

CHILD = Path(__file__).parent / "faults" / "child.py"
RUNS = int(os.environ.get("MCARD_CRASH_RUNS", "3"))
BATCH_CONTENT = re.compile(r"run (\S+) batch (\d+) card \d+ of (\d+)")


def run_and_kill(db: Path, mode: str, run: str, delay: float) -> list[str]:
    """Start a writer, SIGKILL it ``delay`` seconds after it is ready; the lines it printed."""
    child = subprocess.Popen(
        [sys.executable, str(CHILD), mode, str(db), run],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        for line in child.stdout:
            if line == "ready\n":
                ready.set()
            elif line.endswith("\n"):  # a line torn by the kill was never reported complete
                lines.append(line.strip())

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        assert ready.wait(30), f"the writer did not start: {child.stderr.read()}"
        time.sleep(delay)
        assert child.poll() is None, f"the writer died by itself: {child.stderr.read()}"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        reader.join(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    return lines


def stored_contents(db: Path) -> tuple[str, list[str]]:
    """``PRAGMA integrity_check`` and every stored text, read with plain sqlite3."""
    connection = sqlite3.connect(db)
    try:
        check = connection.execute("PRAGMA integrity_check").fetchone()[0]
        texts = [row[0].decode() for row in connection.execute("SELECT content FROM card")]
    finally:
        connection.close()
    return check, texts


async def reopen_and_verify(db: Path) -> tuple[int, set[str]]:
    async with AsyncPersistenceWrapper(SQLiteConfig(db)) as store:
        report = await store.verify(progress=False)
        assert report.ok, str(report)
        hashes = {card.hash async for card in store.iterate()}
        assert report.checked == len(hashes) == await store.count()
        after = await store.create(f"written after crash {len(hashes)}")
        assert await store.get(after.hash) == after
        return report.checked, hashes


def test_killed_save_many_leaves_each_batch_whole_or_absent(tmp_path):
    db, rng = tmp_path / "cards.db", random.Random()
    seed = rng.randrange(2**32)
    rng.seed(seed)
    returned = 0
    for run in range(RUNS):
        lines = run_and_kill(db, "batches", f"b{run}", rng.uniform(0.05, 1.5))
        done = {int(m[1]) for m in map(re.compile(r"batch (\d+)").fullmatch, lines) if m}
        assert len(done) == len(lines), lines
        returned += len(done)
        check, texts = stored_contents(db)
        assert check == "ok", f"seed {seed}: {check}"
        cards_per_batch: dict[tuple[str, int], int] = {}
        for text in texts:
            match = BATCH_CONTENT.fullmatch(text)
            if match:
                key = (match[1], int(match[2]))
                cards_per_batch[key] = cards_per_batch.get(key, 0) + 1
        sizes = {int(m[3]) for m in map(BATCH_CONTENT.fullmatch, texts) if m}
        partial = {key: n for key, n in cards_per_batch.items() if (n,) != tuple(sizes)}
        assert not partial, f"seed {seed}: batches stored in part: {partial}"
        lost = {batch for batch in done if (f"b{run}", batch) not in cards_per_batch}
        assert not lost, f"seed {seed}: batches that had returned are missing: {lost}"
        asyncio.run(reopen_and_verify(db))
    stored = sum(1 for text in stored_contents(db)[1] if BATCH_CONTENT.fullmatch(text))
    print(f"\ncrash/save_many: {RUNS} kills, {returned} batches returned, "
          f"{stored} cards stored in whole batches, 0 lost, 0 partial (seed {seed})")


def test_killed_stream_of_creates_loses_nothing_that_returned(tmp_path):
    db, rng = tmp_path / "cards.db", random.Random()
    seed = rng.randrange(2**32)
    rng.seed(seed)
    returned: set[str] = set()
    for run in range(RUNS):
        lines = run_and_kill(db, "creates", f"c{run}", rng.uniform(0.05, 1.5))
        hashes_returned = {m[1] for m in map(re.compile(r"created ([0-9a-f]{64})").fullmatch, lines) if m}
        assert len(hashes_returned) == len(lines), [line for line in lines if not line.startswith("created ")]
        returned |= hashes_returned
        check, _ = stored_contents(db)
        assert check == "ok", f"seed {seed}: {check}"
        _, hashes = asyncio.run(reopen_and_verify(db))
        lost = returned - hashes
        assert not lost, f"seed {seed}: {len(lost)} created cards lost after run {run}"
    print(f"\ncrash/create: {RUNS} kills, {len(returned)} returned creates all present, 0 lost (seed {seed})")
