"""A notebook's lone creates written right on the calling thread: small cards only, never
waiting there, exact either way, and whatever cannot be written there going through the
store's loop as before."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest

import mcard.notebook
from mcard import StorageError, ValidationError
from mcard.infrastructure.persistence.engine.sqlite_direct_writes import DIRECT_WRITE_SETTINGS
from mcard.infrastructure.persistence.engine.write_batcher import WriteBatcher


def test_a_notebook_create_is_written_on_the_callers_thread_and_stays_exact(tmp_path):
    path = tmp_path / "now.db"
    with mcard.notebook.open(path) as cards:
        store = cards._wrapper.store
        card = cards.create("written at once")
        assert store.direct_writes == 1 and cards.get(card.hash) == card
        again, new = cards.add("written at once")
        assert (again, new) == (card, False)  # already there: the stored card
        named = cards.create("with a name", name="a.txt")  # a sighting too: through the loop
        assert cards.sightings(named.hash)[0].name == "a.txt"
        large = cards.create("x" * (DIRECT_WRITE_SETTINGS["bytes"] + 1))
        assert cards.get(large.hash) == large and store.direct_writes == 1
        with pytest.raises(ValidationError):
            cards.create("")
        assert cards.count() == 3
    with sqlite3.connect(path) as other:
        assert other.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_create_while_another_connection_writes_waits_through_the_loop(tmp_path):
    path = tmp_path / "busy.db"
    with mcard.notebook.open(path, timeout=5) as cards:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO mcard_meta (key, value) VALUES ('held', 1)")
        waiting = threading.Thread(target=lambda: cards.create("waits for the lock"))
        waiting.start()
        waiting.join(0.3)
        assert waiting.is_alive()  # busy: it waits through the loop, with the store's timeout
        other.execute("COMMIT")
        other.close()
        waiting.join(10)
        assert cards.count() == 1 and cards.search("waits for the lock")
        assert cards._wrapper.store.direct_writes == 0


def test_a_create_the_database_skips_is_a_storage_error(tmp_path):
    path = tmp_path / "altered.db"
    with mcard.notebook.open(path) as cards:
        with sqlite3.connect(path) as other:
            other.execute("CREATE TRIGGER drop_long BEFORE INSERT ON card WHEN new.size >= 20"
                          " BEGIN SELECT RAISE(IGNORE); END")
        cards.create("short")
        with pytest.raises(StorageError):
            cards.create("long enough to be dropped by the trigger")
        assert cards.count() == 1 and cards._wrapper.store.direct_writes == 1


def test_notebook_creates_from_several_threads_all_land_once(tmp_path):
    with mcard.notebook.open(tmp_path / "threads.db") as cards:
        def create(thread: int) -> None:
            for i in range(200):
                cards.create(f"card {i % 150} of {thread % 2}")

        workers = [threading.Thread(target=create, args=(n,)) for n in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert cards.count() == 300
        assert sorted(card.content for card in cards.list()) == sorted(f"card {i} of {t}" for i in range(150) for t in (0, 1))
    with sqlite3.connect(tmp_path / "threads.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_notebook_create_after_the_file_was_replaced_is_refused(tmp_path):
    path, copy = tmp_path / "cards.db", tmp_path / "copy.db"
    with mcard.notebook.open(copy) as other:
        other.save_many([f"other {i}" for i in range(500)], progress=False)
    with mcard.notebook.open(path) as cards:
        cards.create("before")
        copy.replace(path)
        with pytest.raises(StorageError, match="replaced"):
            cards.create("after the replacement")


def test_a_stream_of_notebook_creates_is_indexed_once_it_pauses(tmp_path):
    """A stream of creates on the caller's thread is taken into the index once it pauses, with
    no ``wait_indexed`` (the wake-ups they save: the test below)."""
    path = tmp_path / "stream.db"
    with mcard.notebook.open(path) as cards:
        store = cards._wrapper.store
        cards.create("the first card")
        cards._run(store.wait_indexed())  # nothing pending: only the stream can start a step
        before = store.direct_writes
        for i in range(300):
            cards.create(f"streamed note {i} zebrafinch")
        assert store.direct_writes - before > 250  # a few wait behind an index step
        with sqlite3.connect(path) as db:
            [(last_id,)] = db.execute("SELECT max(id) FROM card")
            deadline, indexed = time.monotonic() + 30, 0
            while indexed < last_id and time.monotonic() < deadline:
                time.sleep(0.05)
                [(indexed,)] = db.execute("SELECT value FROM mcard_meta WHERE key = 'text_indexed'")
        assert indexed >= last_id
        assert len(cards.search("zebrafinch", case_sensitive=False)) == 300


def test_writes_noted_on_another_thread_hold_the_background_step_until_they_pause():
    """While a timer is armed, a write on another thread only notes its time (no wake-up of
    the loop); the timer still waits for the writes to pause before the background step."""

    async def scenario() -> tuple[list[float], list[bool], float, list[float]]:
        ran: list[float] = []

        async def step() -> bool:
            ran.append(time.monotonic())
            return False

        async def write(batch: object) -> None:
            raise AssertionError("no write is queued here")

        batcher = WriteBatcher(write, step, idle_delay=0.5)
        assert batcher.noted_elsewhere()  # no timer armed: the caller wakes the loop
        batcher.run_idle_when_quiet()
        woken: list[bool] = []
        stop = threading.Event()

        def stream() -> None:
            while not stop.is_set():
                woken.append(batcher.noted_elsewhere())
                time.sleep(0.01)

        writer = threading.Thread(target=stream)
        writer.start()
        await asyncio.sleep(1.5)
        stop.set()
        await asyncio.to_thread(writer.join)
        paused_at = time.monotonic()
        held = list(ran)
        for _ in range(100):
            if ran:
                break
            await asyncio.sleep(0.05)
        await batcher.close()
        return held, woken, paused_at, ran

    held, woken, paused_at, ran = asyncio.run(scenario())
    assert held == []  # not while the writes went on, three times the quiet delay
    assert len(woken) > 50 and sum(woken) <= 3  # the armed timer saw them: no wake-ups
    assert len(ran) == 1 and ran[0] >= paused_at - 0.5
