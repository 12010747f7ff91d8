"""Gets served on the event loop's own connection: small cards only, never waiting there, and
whatever it cannot serve read on a thread as before."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig, StorageError, ValidationError
from mcard.infrastructure.persistence.engine.sqlite_loop_reads import LOOP_READ_SETTINGS


async def opened_loop_reader(store: AsyncPersistenceWrapper) -> None:
    """The first get opens the loop's connection on a thread; wait until it is there."""
    await store.get("0" * 64)
    while not store.store.loop_holds:
        await asyncio.sleep(0.01)
        await store.get("0" * 64)


async def test_small_cards_are_read_on_the_loop_and_large_ones_on_a_thread(tmp_path):
    big = MCard(b"\x01" * (LOOP_READ_SETTINGS["bytes"] + 1))
    small = [MCard(f"small {i}") for i in range(20)]
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        await store.save_many([big, *small])
        await opened_loop_reader(store)
        before = len(store.store.loop_holds)
        assert await store.get(small[0].hash) == small[0]
        assert await store.get(big.hash) == big  # found on the loop, content read on a thread
        both = await store.get_many([small[1].hash, big.hash, "f" * 64])
        assert both == {small[1].hash: small[1], big.hash: big}
        assert len(store.store.loop_holds) == before + 3
        many = await store.get_many([card.hash for card in small])  # more than the loop takes
        assert len(many) == 20 and len(store.store.loop_holds) == before + 3


class BusyConnection:
    """Stands in for the loop's connection meeting SQLITE_BUSY: a WAL reader only meets it while
    another connection recovers the log, which a test cannot bring about on purpose."""

    def execute(self, *args: object) -> None:
        raise sqlite3.OperationalError("database is locked")

    def close(self) -> None:
        pass


async def test_a_read_the_loop_cannot_do_goes_to_a_thread(tmp_path):
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        card = await store.create("read elsewhere")
        await opened_loop_reader(store)
        loop_reader = store.store._loop_reader_opening.result()
        real, loop_reader._db = loop_reader._db, BusyConnection()
        try:
            assert await store.get(card.hash) == card
            assert await store.get_many([card.hash, "0" * 64]) == {card.hash: card}
        finally:
            loop_reader._db = real


def test_a_notebook_get_is_served_on_the_callers_thread_and_stays_exact(tmp_path):
    """The notebook's plain get reads a small card right on the calling thread once the
    store's loop connection is open, and falls back to the loop whenever it cannot."""
    import mcard.notebook

    with mcard.notebook.open(tmp_path / "now.db") as cards:
        small = cards.create("small enough to read at once")
        large = cards.create("x" * (LOOP_READ_SETTINGS["bytes"] + 1))
        assert cards.get(small.hash) == small  # the first get starts opening the loop's connection
        store = cards._wrapper.store
        deadline = time.monotonic() + 30
        while not store._loop_reader_opening.done() and time.monotonic() < deadline:
            time.sleep(0.01)  # it opens on a thread; until then gets go to threads too
        assert store.get_now(small.hash) == {small.hash: small}
        assert store.get_now(large.hash) is None and cards.get(large.hash) == large
        assert store.get_now("0" * 64) == {} and cards.get("0" * 64) is None
        with pytest.raises(ValidationError):
            cards.get("not a hash")
        cards.remove(small.hash)
        assert cards.get(small.hash) is None
    with pytest.raises(StorageError):
        cards.get(large.hash)  # closed: no stale answer from the loop's connection
