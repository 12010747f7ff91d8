"""Lone creates written on the event loop's own connection: small cards only, never waiting
there, exact either way, and whatever it cannot write written on the writer's thread as before."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig, StorageError, ValidationError
from mcard.infrastructure.persistence.engine.sqlite_loop_writes import LOOP_WRITE_SETTINGS


async def test_lone_small_creates_are_written_on_the_loop_and_read_back_everywhere(tmp_path):
    path = tmp_path / "c.db"
    big = MCard(b"\x01" * (LOOP_WRITE_SETTINGS["bytes"] + 1))
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        cards = [await store.create(f"lone {i}") for i in range(20)]
        assert len(store.store.loop_write_holds) == 20  # each written on the loop
        assert await store.add("lone 3") == (cards[3], False)  # already there: nothing written
        assert len(store.store.loop_write_holds) == 21
        assert await store.save(big) and len(store.store.loop_write_holds) == 21  # too large: on the thread
        assert await store.get_many([card.hash for card in cards]) == {card.hash: card for card in cards}
        assert set(await store.search("lone 1")) == {card for card in cards if "lone 1" in card.content}
    with sqlite3.connect(path) as other:
        assert other.execute("SELECT count(*) FROM card").fetchone()[0] == 21
        assert other.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_a_create_while_another_connection_writes_waits_on_the_thread_not_the_loop(tmp_path):
    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path, timeout=5)) as store:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO mcard_meta (key, value) VALUES ('held', 1)")
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        creating = asyncio.create_task(store.create("written once the lock is free"))
        await asyncio.sleep(0.3)
        assert not creating.done() and ticks >= 10  # it waits, and the loop goes on meanwhile
        other.execute("COMMIT")
        card = await creating
        ticker.cancel()
        other.close()
        assert await store.get(card.hash) == card and await store.count() == 1


async def test_a_create_the_database_skips_is_a_storage_error_on_the_loop_too(tmp_path):
    path = tmp_path / "altered.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        with sqlite3.connect(path) as other:
            other.execute("CREATE TRIGGER drop_long BEFORE INSERT ON card WHEN new.size >= 20"
                          " BEGIN SELECT RAISE(IGNORE); END")
        await store.create("short")
        with pytest.raises(StorageError):
            await store.create("long enough to be dropped by the trigger")
        assert await store.count() == 1 and len(store.store.loop_write_holds) == 2


def test_a_notebook_create_is_written_on_the_callers_thread_and_stays_exact(tmp_path):
    """The notebook's plain create writes a small new card right on the calling thread when
    nothing else of the store is being written, and goes through the loop whenever it cannot."""
    import mcard.notebook

    path = tmp_path / "now.db"
    with mcard.notebook.open(path) as cards:
        store = cards._wrapper.store
        card = cards.create("written at once")
        assert len(store.loop_write_holds) == 1 and cards.get(card.hash) == card
        again, new = cards.add("written at once")
        assert (again, new) == (card, False)  # already there: the stored card
        named = cards.create("with a name", name="a.txt")  # a sighting too: through the loop
        assert cards.sightings(named.hash)[0].name == "a.txt"
        large = cards.create("x" * (LOOP_WRITE_SETTINGS["bytes"] + 1))
        assert cards.get(large.hash) == large and len(store.loop_write_holds) == 2
        with pytest.raises(ValidationError):
            cards.create("")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        waiting = threading.Thread(target=lambda: cards.create("waits for the lock"))
        waiting.start()
        waiting.join(0.3)
        assert waiting.is_alive()  # busy: it waits through the loop, with the store's timeout
        other.execute("COMMIT")
        other.close()
        waiting.join(10)
        assert cards.count() == 4 and cards.search("waits for the lock")


def test_notebook_creates_from_several_threads_all_land_once(tmp_path):
    import mcard.notebook

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
