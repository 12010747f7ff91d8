"""``mcard sync SOURCE DEST``: the real console script in a subprocess, against real stores."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mcard import AsyncPersistenceWrapper, MCard, Sighting, SQLiteConfig
from mcard.domain.models.card import to_micros
from tests.postgres_support import fresh_schema, schema_exists
from tests.test_cli import MCARD


def run(*args: str, cwd: Path, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([MCARD, *args], capture_output=True, text=True, timeout=120, cwd=cwd)
    if check is not None:
        assert result.returncode == check, result.stderr
    return result


def make_store(path: Path, n: int, *, size: int = 40, labelled: bool = True) -> list[MCard]:
    cards = [MCard(f"card {i} " + "x" * size) for i in range(n)]

    async def fill() -> None:
        async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
            for start in range(0, n, 5000):
                chunk = cards[start:start + 5000]
                seen = [Sighting.of(card.hash, name=f"{i}.txt") for i, card in enumerate(chunk) if labelled and i % 10 == 0]
                await store.save_many(chunk, sightings=seen)
                if labelled:
                    await store.tag_many([(card.hash, "odd") for i, card in enumerate(chunk) if i % 2])

    asyncio.run(fill())
    return cards


def rows(path: Path, query: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


def killed_once(process: subprocess.Popen[bytes], reached: Callable[[], bool]) -> None:
    """SIGKILL ``process`` as soon as ``reached()`` holds (within 60 s); it must still be running."""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and process.poll() is None and not reached():
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the sync finished before it could be killed"


def test_sync_copies_then_finds_nothing_to_do(tmp_path):
    make_store(tmp_path / "a.db", 120)
    first = run("sync", "a.db", "b.db", "--json", cwd=tmp_path)
    report = json.loads(first.stdout)
    assert (report["copied"], report["already_there"], report["tags_added"], report["sightings_added"]) == (120, 0, 60, 12)
    assert report["damaged"] == [] and not report["dry_run"]
    again = run("sync", "a.db", "b.db", cwd=tmp_path)
    assert again.stdout.startswith("copied 0 cards (0 B), 120 already stored")
    assert rows(tmp_path / "b.db", "SELECT count(*), count(DISTINCT hash) FROM card") == [(120, 120)]


def test_dry_run_writes_nothing_not_even_a_file(tmp_path):
    cards = make_store(tmp_path / "a.db", 30)
    planned = json.loads(run("sync", "a.db", "b.db", "--dry-run", "--json", cwd=tmp_path).stdout)
    assert planned["dry_run"] and planned["copied"] == 30
    assert planned["bytes_copied"] == sum(card.size for card in cards)
    assert not (tmp_path / "b.db").exists()
    run("sync", "a.db", "b.db", "--batch-size", "7", cwd=tmp_path)
    make_store(tmp_path / "a.db", 35)
    assert json.loads(run("sync", "a.db", "b.db", "--dry-run", "--json", cwd=tmp_path).stdout)["copied"] == 5
    assert rows(tmp_path / "b.db", "SELECT count(*) FROM card") == [(30,)]


def test_since_takes_a_time(tmp_path):
    make_store(tmp_path / "a.db", 10)
    result = json.loads(run("sync", "a.db", "b.db", "--since", "2999-01-01", "--json", cwd=tmp_path).stdout)
    assert result["copied"] == 0
    assert json.loads(run("sync", "a.db", "b.db", "--since", "2000-01-01T00:00Z", "--json", cwd=tmp_path).stdout)["copied"] == 10


@pytest.mark.parametrize(
    "args, status, message",
    [
        (["missing.db", "b.db"], 3, "no card store here"),
        (["a.db", "b.db", "--since", "yesterday"], 2, "--since: not an ISO 8601"),
        (["a.db", "b.db", "--batch-size", "0"], 2, "--batch-size must be at least 1"),
        (["a.db"], 2, "the following arguments are required: DEST"),
        (["a.db", "b.db", "--verbose"], 2, "unrecognized arguments"),
    ],
)
def test_errors_are_one_line_with_a_documented_status(tmp_path, args, status, message):
    make_store(tmp_path / "a.db", 3)
    result = run("sync", *args, cwd=tmp_path, check=status)
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "b.db").exists()


def test_damaged_cards_are_named_on_stderr_with_status_1(tmp_path):
    cards = make_store(tmp_path / "a.db", 20)
    db = sqlite3.connect(tmp_path / "a.db")
    db.execute("UPDATE card SET content = CAST('forged\x1b[31m' AS BLOB) WHERE hash = ?", (cards[5].hash,))
    db.commit()
    db.close()
    result = run("sync", "a.db", "b.db", cwd=tmp_path, check=1)
    assert result.stderr.strip() == f"mcard: skipped 1 damaged card: {cards[5].hash}"
    assert "copied 19 cards" in result.stdout and cards[5].hash in result.stdout and "\x1b" not in result.stdout
    assert rows(tmp_path / "b.db", "SELECT count(*) FROM card") == [(19,)]


def test_a_card_over_the_destinations_limit_is_called_oversized_not_damaged(tmp_path):
    make_store(tmp_path / "a.db", 3, size=0, labelled=False)
    big = MCard("a card well over the destination's limit of twenty bytes")

    async def add() -> None:
        async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "a.db")) as store:
            await store.save(big)

    asyncio.run(add())
    result = run("sync", "a.db", f"sqlite:///{tmp_path / 'b.db'}?max_content_size=20", cwd=tmp_path, check=1)
    assert result.stderr.strip() == f"mcard: skipped 1 oversized card: {big.hash}"
    assert "copied 3 cards" in result.stdout and "1 oversized skipped" in result.stdout
    assert f"oversized: {big.size} B, over the destination's limit of 20 B" in result.stdout


def test_a_row_whose_hash_is_not_hex_is_reported_damaged_not_counted_as_there(tmp_path):
    make_store(tmp_path / "a.db", 20)
    db = sqlite3.connect(tmp_path / "a.db")
    for odd in ("../../evil\x1b[31m", "ab/../x"):  # no range of hex digits holds the first
        db.execute("INSERT INTO card (hash, is_text, g_time, hash_algorithm, size, content_type, content)"
                   " VALUES (?, 1, 1, 'sha256', 3, 'text/plain', CAST('bad' AS BLOB))", (odd,))
    db.commit()
    db.close()
    for dry_run in (["--dry-run"], [], []):
        report = json.loads(run("sync", "a.db", "b.db", "--json", *dry_run, cwd=tmp_path, check=1).stdout)
        assert sorted(card["hash"] for card in report["damaged"]) == ["..", "ab/../x"]
        assert report["copied"] + report["already_there"] == 20, report
    assert rows(tmp_path / "b.db", "SELECT count(*) FROM card") == [(20,)]


def test_a_sync_killed_part_way_finishes_on_the_next_run(tmp_path):
    n = 40_000
    make_store(tmp_path / "a.db", n, size=400)
    dest = tmp_path / "b.db"
    process = subprocess.Popen([MCARD, "sync", "a.db", "b.db", "--batch-size", "200"], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def copied_enough() -> bool:
        try:
            return dest.exists() and rows(dest, "SELECT count(*) FROM card")[0][0] >= 1000
        except sqlite3.OperationalError:  # the schema is being made
            return False

    killed_once(process, copied_enough)
    held = rows(dest, "SELECT count(*) FROM card")[0][0]
    assert 0 < held < n, f"killed with {held} of {n} cards copied"
    result = json.loads(run("sync", "a.db", "b.db", "--json", cwd=tmp_path).stdout)
    assert result["copied"] == n - held and result["already_there"] == held
    assert rows(dest, "SELECT count(*), count(DISTINCT hash) FROM card") == [(n, n)]
    assert rows(dest, "SELECT count(*), count(DISTINCT key) FROM sighting") == [(n // 10, n // 10)]
    assert rows(dest, "SELECT count(*) FROM tag") == [(n // 2,)]
    assert json.loads(run("sync", "a.db", "b.db", "--json", cwd=tmp_path).stdout)["copied"] == 0
    assert run("verify", "--db", "b.db", cwd=tmp_path).returncode == 0


@pytest.mark.postgres
def test_sync_through_a_postgres_url(tmp_path):
    for url, schema in fresh_schema():
        shared = f"{url}?schema={schema}"
        make_store(tmp_path / "a.db", 50)
        assert json.loads(run("sync", "a.db", shared, "--json", cwd=tmp_path).stdout)["copied"] == 50
        assert json.loads(run("sync", shared, "c.db", "--json", cwd=tmp_path).stdout)["copied"] == 50
        again = json.loads(run("sync", "c.db", shared, "--json", cwd=tmp_path).stdout)
        assert (again["copied"], again["already_there"]) == (0, 50)
        missing = f"{url}?schema={schema}_none"  # a dry run counts a store not made yet as empty
        planned = json.loads(run("sync", "c.db", missing, "--dry-run", "--json", cwd=tmp_path).stdout)
        assert (planned["copied"], planned["already_there"]) == (50, 0)
        assert not schema_exists(url, f"{schema}_none")
        assert rows(tmp_path / "c.db", "SELECT count(*) FROM card") == [(50,)]
        assert rows(tmp_path / "c.db", "SELECT count(*) FROM tag") == [(25,)]


@pytest.mark.postgres
def test_a_postgres_store_synced_into_itself_by_another_url_is_refused(tmp_path):
    """``localhost`` for ``127.0.0.1``, or the port left out, reached the same store under another
    URL: the sync went ahead as between two stores."""
    from urllib.parse import urlsplit

    for (url, schema), (_, other_schema) in zip(fresh_schema(), fresh_schema()):
        shared = f"{url}?schema={schema}"
        make_store(tmp_path / "a.db", 5)
        run("sync", "a.db", shared, cwd=tmp_path)
        parts = urlsplit(url)
        host = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}.get(parts.hostname or "", parts.hostname)
        others = [parts._replace(netloc=parts.netloc.replace(parts.hostname or "", host or "", 1)).geturl()]
        if parts.port == 5432:
            others.append(parts._replace(netloc=parts.netloc.replace(":5432", "", 1)).geturl())
        for other in others:
            for args in ((shared, f"{other}?schema={schema}"), (shared, f"{other}?schema={schema}", "--dry-run")):
                refused = run("sync", *args, cwd=tmp_path, check=2)
                assert refused.stderr.startswith("mcard: SOURCE and DEST are the same store"), args
        assert json.loads(run("sync", shared, "b.db", "--json", cwd=tmp_path).stdout)["copied"] == 5
        elsewhere = f"{url}?schema={other_schema}"  # another schema of the same server is another store
        assert json.loads(run("sync", shared, elsewhere, "--json", cwd=tmp_path).stdout)["copied"] == 5


def test_a_card_damaged_in_dest_comes_back_after_verify_remove_there(tmp_path):
    """Sync compares hashes: a damaged copy counts as there. The documented way out."""
    cards = make_store(tmp_path / "a.db", 5)
    run("sync", "a.db", "b.db", cwd=tmp_path)
    with sqlite3.connect(tmp_path / "b.db") as db:
        db.execute("UPDATE card SET content = CAST('tampered' AS BLOB) WHERE hash = ?", (cards[2].hash,))
    db.close()
    assert "copied 0 cards" in run("sync", "a.db", "b.db", cwd=tmp_path).stdout
    assert "removed 1 damaged card" in run("--db", "b.db", "verify", "--remove", cwd=tmp_path, check=1).stdout
    assert "copied 1 card " in run("sync", "a.db", "b.db", cwd=tmp_path).stdout
    run("--db", "b.db", "verify", cwd=tmp_path)
    assert rows(tmp_path / "b.db", "SELECT count(*) FROM card") == [(5,)]


def test_two_syncs_at_once_count_each_card_and_sighting_once(tmp_path):
    """Both syncs reported the same sightings added, and one "copied 0 cards (144.2 KB)"."""
    make_store(tmp_path / "a.db", 2000)
    run("sync", "a.db", "b.db", "--json", "--since", "9999-01-01", cwd=tmp_path)  # b.db made, nothing copied
    start = time.time() + 2  # each process waits for it, so that they write at once
    script = ("import sys, time; time.sleep(max(0, float(sys.argv[1]) - time.time()));"
              " from mcard.cli import main; sys.exit(main(sys.argv[2:]))")
    processes = [subprocess.Popen([sys.executable, "-c", script, str(start), "sync", "a.db", "b.db", "--json"],
                                  cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [err.decode() for _, err in outputs]
    results = [json.loads(out) for out, _ in outputs]
    assert sum(result["copied"] for result in results) == 2000
    assert sum(result["sightings_added"] for result in results) == 200
    assert sum(result["tags_added"] for result in results) == 1000
    assert all(result["bytes_copied"] > 0 for result in results if result["copied"])
    assert all(result["bytes_copied"] == 0 for result in results if not result["copied"])


def test_a_sync_killed_while_dating_sightings_earlier_finishes_on_the_next_run(tmp_path):
    """DEST imported the same files a day later: every sighting gets SOURCE's earlier time, those
    of the batches committed before the kill at once, the rest on the next run."""
    n = 20_000
    make_store(tmp_path / "a.db", n, labelled=False)
    cards = [MCard(f"card {i} " + "x" * 40) for i in range(n)]
    first = datetime(2026, 1, 1, tzinfo=timezone.utc)

    async def see(path: Path, at: datetime) -> None:
        async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
            for start in range(0, n, 5000):
                chunk = cards[start:start + 5000]
                await store.save_many(chunk, sightings=[Sighting.of(card.hash, name=f"{start + i}.txt", seen_at=at)
                                                        for i, card in enumerate(chunk)])

    make_store(tmp_path / "b.db", n, labelled=False)
    asyncio.run(see(tmp_path / "a.db", first))
    asyncio.run(see(tmp_path / "b.db", first + timedelta(days=1)))
    dest, early = tmp_path / "b.db", to_micros(first)
    process = subprocess.Popen([MCARD, "sync", "a.db", "b.db", "--batch-size", "20"], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    killed_once(process, lambda: rows(dest, f"SELECT count(*) FROM sighting WHERE seen_at = {early}")[0][0] >= 500)
    dated = rows(dest, f"SELECT count(*) FROM sighting WHERE seen_at = {early}")[0][0]
    assert 0 < dated < n, f"killed with {dated} of {n} sightings dated earlier"
    result = json.loads(run("sync", "a.db", "b.db", "--json", cwd=tmp_path).stdout)
    assert (result["seen_at_earlier"], result["sightings_added"], result["copied"]) == (n - dated, 0, 0)
    assert rows(dest, "SELECT count(*), min(seen_at), max(seen_at) FROM sighting") == [(n, early, early)]
    for source, other in (("a.db", "b.db"), ("b.db", "a.db")):
        again = json.loads(run("sync", source, other, "--json", cwd=tmp_path).stdout)
        assert (again["seen_at_earlier"], again["sightings_added"], again["copied"]) == (0, 0, 0)


def test_a_store_synced_into_itself_is_refused(tmp_path):
    """``mcard sync cards.db cards.db`` (or a link to it) said "copied 0 cards, 3 already
    stored", as if two stores had been compared and found equal."""
    make_store(tmp_path / "cards.db", 3)
    (tmp_path / "link.db").symlink_to("cards.db")
    for dest in ("cards.db", "./link.db", f"sqlite:///{tmp_path / 'cards.db'}"):
        refused = run("sync", "cards.db", dest, cwd=tmp_path, check=2)
        assert refused.stdout == "" and refused.stderr.startswith("mcard: SOURCE and DEST are the same store"), dest
    assert run("sync", "cards.db", "copy.db", cwd=tmp_path).stdout.startswith("copied 3 cards")
