"""Gets served on the event loop's own connection: small cards only, never waiting there, and
whatever it cannot serve read on a thread as before."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import datetime, timedelta, timezone

import pytest

from mcard import AsyncPersistenceWrapper, MCard, Sighting, SQLiteConfig, StorageError, ValidationError
from mcard.infrastructure.persistence.engine.sqlite_loop_reads import LOOP_READ_SETTINGS

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


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


async def test_a_page_of_a_common_text_is_walked_on_the_loop_and_a_rare_one_on_a_thread(tmp_path, monkeypatch):
    """A page the newest cards fill (or that they hold all of: every card within the time
    bounds walked) is read on the loop's connection; one that older cards may hold, whose walk
    would take longer, or that meets a card too large to check there, is read on a thread.
    Every page is the slice of all matches, newest first."""
    in_time = LOOP_READ_SETTINGS["walk_seconds"]
    monkeypatch.setitem(LOOP_READ_SETTINGS, "walk_seconds", 10.0)  # a busy machine must not fail the short walks
    common = [MCard(f"river {n} ä", g_time=T0 + timedelta(seconds=n)) for n in range(300)]
    bytes_text = MCard("RIVER in bytes".encode("utf-8"), g_time=T0 + timedelta(hours=1))
    not_text = MCard(b"\xff river", g_time=T0 + timedelta(hours=2))
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        await store.save_many([*common, bytes_text, not_text])
        await store.tag_many([(card.hash, "even") for card in common[::2]])
        await store.add_sightings([Sighting.of(common[-1].hash, name="Ri\u0308ver.txt", seen_at=T0)])
        await opened_loop_reader(store)
        every = await store.search("river", case_sensitive=False)
        assert every[0] == bytes_text and not_text not in every

        async def read(query: str, limit: int, offset: int = 0, **filters: object) -> tuple[list[MCard], bool]:
            """The page, and whether the loop's connection served it."""
            before = store.store.loop_walks_served
            page = await store.search(query, limit, offset, case_sensitive=False, **filters)
            return page, store.store.loop_walks_served == before + 1

        async def served_on_the_loop(query: str, limit: int, offset: int = 0, **filters: object) -> list[MCard]:
            page, served = await read(query, limit, offset, **filters)
            assert served
            return page

        async def read_on_a_thread(query: str, limit: int, offset: int = 0, **filters: object) -> list[MCard]:
            page, served = await read(query, limit, offset, **filters)
            assert not served
            assert page == (await store.search(query, case_sensitive=False, **filters))[offset:offset + limit]
            return page

        assert await served_on_the_loop("river", 10) == every[:10]
        assert await served_on_the_loop("RIVER", 5, 20) == every[20:25]
        assert await served_on_the_loop("river", 4, tag="even") == [common[n] for n in (298, 296, 294, 292)]
        assert await served_on_the_loop("river", 1, name="Rïver.*") == [common[-1]]  # composed (NFC)
        since = T0 + timedelta(seconds=290)  # 12 cards from then on: all of them walked
        assert await served_on_the_loop("river", 3, name="rïver.*", start_time=since) == []  # names match as they are
        assert await served_on_the_loop("river", 3, name="Rïver.*", start_time=since) == [common[-1]]
        assert await served_on_the_loop("ä", 2, end_time=T0 + timedelta(seconds=5)) == [common[5], common[4]]

        assert await read_on_a_thread("river", 3, name="Rïver.*") == [common[-1]]  # older cards may match
        assert await read_on_a_thread("river 1", 5) == [common[n] for n in (199, 198, 197, 196, 195)]
        assert await read_on_a_thread("river 29", 12) == [common[n] for n in (299, 298, 297, 296, 295, 294, 293,
                                                                                 292, 291, 290, 29)]
        assert await read_on_a_thread("RIVER 29", 3, 9) == [common[290], common[29]]
        monkeypatch.setitem(LOOP_READ_SETTINGS, "walk_seconds", 0.0)  # stopped at once
        assert await read_on_a_thread("river", 3) == every[:3]
        monkeypatch.setitem(LOOP_READ_SETTINGS, "walk_seconds", 10.0)

        large = MCard("river " + "x" * LOOP_READ_SETTINGS["walk_bytes"], g_time=T0 + timedelta(hours=3))
        await store.save(large)
        assert await read_on_a_thread("river", 2) == [large, bytes_text]  # too large to check on the loop

        monkeypatch.setitem(LOOP_READ_SETTINGS, "walk_seconds", in_time)
        rare = MCard("the only quokka", g_time=T0 - timedelta(days=1))
        await store.save_many([rare, *(MCard(f"filler {n}") for n in range(20_000))])
        assert await read_on_a_thread("QUOKKA", 5) == [rare]  # not among the newest cards


@pytest.mark.parametrize("cards", [63, 64, 65])
async def test_a_page_of_a_store_the_walk_reads_whole_is_served_on_the_loop(tmp_path, monkeypatch, cards):
    """The walk on the loop reads the 64 newest cards: in a store of no more, a page they do
    not fill is still whole, and served there; one more card, and it is read on a thread."""
    monkeypatch.setitem(LOOP_READ_SETTINGS, "walk_seconds", 10.0)
    made = [MCard(f"{'river' if n % 10 == 0 else 'stone'} {n}", g_time=T0 + timedelta(seconds=n)) for n in range(cards)]
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        await store.save_many(made)
        await opened_loop_reader(store)
        before = store.store.loop_walks_served
        page = await store.search("RIVER", 20, case_sensitive=False)
        assert page == [card for card in reversed(made) if card.content.startswith("river")]
        assert store.store.loop_walks_served == before + (cards <= 64)


async def test_a_store_of_negative_ids_pages_as_it_searches(tmp_path, monkeypatch):
    """Another program may write every row under a negative id: a page is still the slice of
    every match, whatever the walk on the loop found (max(id) is then below zero)."""
    monkeypatch.setitem(LOOP_READ_SETTINGS, "walk_seconds", 10.0)
    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)):
        pass
    made = [MCard(f"{'river' if n % 10 == 0 else 'stone'} {n}", g_time=T0 + timedelta(seconds=n)) for n in range(100)]
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO card (id, hash, content, is_text, g_time, hash_algorithm, size, content_type)"
            " VALUES (?, ?, ?, 1, ?, 'sha256', ?, 'text/plain')",
            [(-(n + 1), card.hash, card.content.encode(), int(card.g_time.timestamp() * 1_000_000), card.size)
             for n, card in enumerate(made)])
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.store.wait_indexed()
        await opened_loop_reader(store)
        every = await store.search("river", case_sensitive=False)
        assert len(every) == 10
        assert await store.search("river", 8, case_sensitive=False) == every[:8]
        assert await store.search("river", 8, 1, case_sensitive=False) == every[1:9]


@pytest.mark.parametrize("on_the_loop", [True, False], ids=["walks on the loop", "walks on a thread"])
async def test_a_page_leaves_out_what_every_search_leaves_out(tmp_path, monkeypatch, on_the_loop):
    """A text another program put back under an id the indexes cover is passed over by
    searches until a store opened for writing indexes it; a page of a common text, read by a
    walk, passes over it too: a page is always a slice of all matches."""
    if not on_the_loop:
        monkeypatch.setitem(LOOP_READ_SETTINGS, "walk_cards", 0)
    monkeypatch.setitem(LOOP_READ_SETTINGS, "walk_seconds", 10.0)
    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many([MCard(f"river {n}", g_time=T0 + timedelta(seconds=n)) for n in range(60)])
        await store.store.wait_indexed()
    put_back = MCard(b"a river bed")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO card (id, hash, content, is_text, g_time, hash_algorithm, size, content_type)"
                   " VALUES (-1, ?, ?, 1, ?, 'sha256', 11, 'text/plain')",
                   (put_back.hash, b"a river bed", 2_000_000_000_000_000))
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path, read_only=True)) as store:
        await opened_loop_reader(store)
        for case_sensitive in (True, False):
            every = await store.search("river", case_sensitive=case_sensitive)
            assert put_back.hash not in {card.hash for card in every}
            assert await store.search("river", 5, 2, case_sensitive=case_sensitive) == every[2:7]


async def test_a_content_larger_than_its_size_column_says_is_not_checked_on_the_loop(tmp_path, monkeypatch):
    """Another program may write a wrong ``size``; the loop tells a content's length from the
    content itself, so a large one is left to a thread, whatever its row says."""
    monkeypatch.setitem(LOOP_READ_SETTINGS, "walk_seconds", 10.0)
    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        small = [MCard(f"river {n}", g_time=T0 + timedelta(seconds=n)) for n in range(30)]
        large = MCard("river " + "x" * 200_000, g_time=T0 + timedelta(hours=1))
        await store.save_many([*small, large])
        with sqlite3.connect(path) as db:
            db.execute("UPDATE card SET size = 10 WHERE hash = ?", (large.hash,))
        db.close()
        await opened_loop_reader(store)
        before = store.store.loop_walks_served
        page = await store.search("RIVER", 3, case_sensitive=False)
        assert [card.hash for card in page] == [large.hash, small[-1].hash, small[-2].hash]
        assert store.store.loop_walks_served == before
