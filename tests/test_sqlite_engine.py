"""SQLite-specific behaviour: files, memory databases, connections, locking and failures."""

import asyncio
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from mcard import AsyncPersistenceWrapper, MCard, Sighting, SQLiteConfig, StorageError
from mcard.domain.query import Filters, SearchSpec
from mcard.infrastructure.persistence.engine import sqlite_filter_walks, sqlite_search, sqlite_sql
from mcard.infrastructure.persistence.engine.sqlite_engine import DEFAULT_SETTINGS, SQLiteStore


async def test_creates_missing_parent_folders(tmp_path):
    path = tmp_path / "a" / "b" / "cards.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.create("x")
    assert path.exists()


async def test_data_persists_across_reopen(tmp_path):
    path = tmp_path / "cards.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        card = await store.create("persisted")
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        assert await store.get(card.hash) == card


async def test_uses_wal_and_the_configured_synchronous_mode(tmp_path):
    path = tmp_path / "cards.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path, synchronous="FULL")) as store:
        await store.create("x")
        mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
        writer = store.store._writer
        assert await writer.fetch("PRAGMA synchronous") == [(2,)]
        assert await writer.fetch("PRAGMA busy_timeout") == [(5000,)]



async def test_a_store_in_rollback_journal_opens_while_another_connection_writes_it(tmp_path):
    """Switching to WAL failed at once with "database is locked" while another connection held
    a write transaction, busy timeout or not: imports run together into a new store failed."""
    path = tmp_path / "cards.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.create("before")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        assert other.execute("PRAGMA journal_mode=DELETE").fetchone() == ("delete",)
        other.execute("BEGIN IMMEDIATE")
        opening = asyncio.ensure_future(AsyncPersistenceWrapper(SQLiteConfig(path)).__aenter__())
        await asyncio.sleep(0.3)
        assert not opening.done()
        other.execute("COMMIT")
        store = await opening
    finally:
        other.close()
    async with store:
        assert [card.content for card in await store.list()] == ["before"]
        await store.create("after")
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone() == ("wal",)

async def test_listing_and_ranges_use_the_time_index(tmp_path):
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        plan = await store.store._writer.fetch(
            "EXPLAIN QUERY PLAN SELECT hash FROM card WHERE g_time >= 1 AND g_time <= 2"
            " AND (g_time, hash) < (3, 'x') ORDER BY g_time DESC, hash DESC"
        )
    assert "card_by_time" in str(plan) and "TEMP B-TREE" not in str(plan)


async def test_a_page_by_name_looks_up_each_cards_latest_name_once(tmp_path):
    """The explorer's name column sorted 50,000 cards (45,000 named) in 1.2 s, looking up each
    card's latest name twice: once to put the unnamed last, once to sort by it."""
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        plan = await store.store._writer.fetch(f"EXPLAIN QUERY PLAN SELECT hash FROM card{sqlite_sql.ORDER_BY['name']} LIMIT 25")
        for n, name in enumerate(["b.txt", None, "a.txt"]):
            await store.create(f"card {n}", name=name, source="test")
        found = await store.find("", order="name")
    assert sum("SCALAR SUBQUERY" in str(row) for row in plan) == 1
    assert [card.content for card in found] == ["card 2", "card 0", "card 1"]


async def test_a_regular_expression_of_alternatives_is_read_through_the_index(tmp_path):
    """``quokka|WOMBAT`` looks up both words in the trigram index instead of checking every text."""
    texts = [f"note {i} {('Quokka', 'wombat', 'hay')[i % 3]}" for i in range(300)]
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        await store.save_many([MCard(text) for text in texts])
        await store.store.wait_indexed()
        spec = SearchSpec.of("quokka|WOMBAT", "regex", case_sensitive=False)
        index, argument, _ = sqlite_search.lookup(spec)
        [(hits,)] = await store.store._writer.fetch(f"SELECT count(*) FROM {index} WHERE {index} MATCH ?", [argument])
        found = await store.search("quokka|WOMBAT", mode="regex", case_sensitive=False)
    assert hits == 200 and len(found) == 200
    assert sqlite_search.lookup(SearchSpec.of("quokka|wo", "regex")) is None  # "wo" is too short to look up



@pytest.mark.parametrize("query, mode, case_sensitive", [
    ("zq", "substring", False), ("NOTE", "substring", False), ("note", "substring", True),
    ("river|stone", "regex", True), (r"\w+", "regex", False),
])
@pytest.mark.parametrize("filters", [{"tag": "holiday"}, {"name": "*.txt"}, {"tag": ["holiday", "work"], "start_time": 1}])
async def test_a_search_with_a_tag_or_name_never_pairs_every_tagged_hash_with_every_candidate(
    tmp_path, query, mode, case_sensitive, filters
):
    """A tag or name filter beside the candidates' ids must not become a search of the hash
    index for every (hash, id) pair of the two lists: at 100,000 cards, 10,000 of them tagged,
    such a plan took 120-200 s for one search."""
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        cards = [MCard(f"note {i} river stone") for i in range(200)]
        await store.save_many(cards)
        await store.tag_many((card.hash, "holiday") for card in cards[::10])
        await store.store.wait_indexed()
        filters = {key: datetime.fromtimestamp(value, timezone.utc) if key == "start_time" else value
                   for key, value in filters.items()}
        params: list[object] = []
        condition = sqlite_search.matched(SearchSpec.of(query, mode, case_sensitive), Filters.of(**filters), params)
        plan = await store.store._writer.fetch(f"EXPLAIN QUERY PLAN SELECT hash FROM card WHERE {condition}", params)
        found = await store.search(query, mode=mode, case_sensitive=case_sensitive, **filters)
        assert len(found) == (20 if filters.get("tag") == "holiday" and query != "zq" else 0)
    assert not [row for row in plan if "AND rowid=?" in row[-1]], plan


async def steps_of(store: AsyncPersistenceWrapper, read) -> int:
    """How much work SQLite does for ``read`` (run once before, so that its readers are open):
    its virtual machine's steps, in hundreds, on every reader of ``store``. The store's
    background work (the search index, the session's look at every tag) runs on those readers
    too: it is over before the count starts."""
    await read()
    await store.store.wait_indexed()
    steps = 0

    def step() -> int:
        nonlocal steps
        steps += 1
        return 0

    for reader in store.store._readers:
        await reader.connection.set_progress_handler(step, 100)
    await read()
    for reader in store.store._readers:
        await reader.connection.set_progress_handler(None, 100)
    return steps


def leave_a_tag_of_no_card(path) -> None:
    """Another tool's tag of a card that is not stored: the store no longer counts a tag's cards
    in the tag index alone (``sqlite_tag_check``), so a tag's total looks each of its cards up,
    the work these tests compare with."""
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO tag (hash, tag) VALUES (?, 'common')", ("ab" * 32,))
    db.close()


@pytest.mark.parametrize("query", ["tag:common", "tag:comm*", "-tag:rare", "tag:common type:text/*", "tag:common -tag:rare"])
async def test_a_page_of_a_filter_most_cards_pass_reads_only_the_newest_cards(tmp_path, query):
    """Its page walks down the time index: planned from the tag index, every tagged card was
    looked up and sorted first (100,000 of 1,000,000 tagged: 390 ms for a page of 20)."""
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        cards = [MCard(f"tagged {i}", g_time=datetime.fromtimestamp(1_700_000_000 + i, timezone.utc)) for i in range(5000)]
        await store.save_many(cards)
        await store.tag_many([(card.hash, "common") for card in cards] + [(cards[0].hash, "rare")])
        leave_a_tag_of_no_card(tmp_path / "c.db")
        counted = await steps_of(store, lambda: store.find(query, 0))  # the total alone
        paged = {order: await steps_of(store, lambda: store.find(query, 20, 40, order=order)) for order in ("newest", "oldest")}
        assert (await store.find(query, 20, 40, order="oldest")).total == 5000 - ("rare" in query)
        assert [card.content for card in await store.find(query, 3)] == ["tagged 4999", "tagged 4998", "tagged 4997"]
    assert all(steps - counted < counted / 5 for steps in paged.values()), (paged, counted)


@pytest.mark.parametrize("order", ["newest", "oldest"])
async def test_a_page_of_a_filter_few_cards_pass_reads_those_few_not_the_time_index(tmp_path, order):
    """SQLite walked the whole time index for a size few cards have (``size:>1000`` at
    1,000,000 cards: 543 ms); counted first, their few hits are read and sorted (0.3 ms)."""
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        small = [MCard(f"small {i}", g_time=datetime.fromtimestamp(1_700_000_000 + i, timezone.utc)) for i in range(5000)]
        large = [MCard(f"large {i} " + "x" * 2000, g_time=datetime.fromtimestamp(1_700_000_000 + 5 * i, timezone.utc))
                 for i in range(3)]
        await store.save_many(small + large)
        paged = await steps_of(store, lambda: store.list(20, min_size=1000, order=order))
        listed = await steps_of(store, lambda: store.list(20, order=order))
        assert [card.content[:7] for card in await store.list(20, min_size=1000, order=order)] == (
            ["large 2", "large 1", "large 0"] if order == "newest" else ["large 0", "large 1", "large 2"])
        heads = await store.store.find_heads("size:>1000", 20, order=order, head=7)
        assert [row[1] for row in heads] == [card.content[:7].encode() for card in await store.list(20, min_size=1000, order=order)]
    assert paged < listed * 3, (paged, listed)


@pytest.mark.parametrize("query", ["tag:common size:>1000", "tag:comm* type:image/*", "tag:common tag:rare", "tag:common name:big-*", "size:<100 name:big-*"])
async def test_a_filter_few_cards_pass_leads_one_most_cards_pass(tmp_path, monkeypatch, query):
    """Of two filters, SQLite read every card of the common one to test the rare one
    (``tag:holiday size:<20`` at 1,000,000 cards: 520 ms for a page, as much for its total);
    each is counted first, and the one with few hits leads the page and the total."""
    monkeypatch.setattr(sqlite_filter_walks, "LEAD_CAP", 1000)  # the common filter passes more cards
    common = 7000
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        cards = [MCard(f"small {i}", g_time=datetime.fromtimestamp(1_700_000_000 + i, timezone.utc)) for i in range(common)]
        big = [MCard(b"\x89PNG\r\n\x1a\n" + bytes([i]) * 2000, g_time=datetime.fromtimestamp(1_700_000_000 + 7 * i, timezone.utc))
               for i in range(3)]
        await store.save_many(cards + big, sightings=[Sighting.of(card.hash, name=f"big-{i}.png") for i, card in enumerate(big)])
        await store.tag_many([(card.hash, "common") for card in cards + big] + [(big[1].hash, "rare")])
        leave_a_tag_of_no_card(tmp_path / "c.db")
        alone = await steps_of(store, lambda: store.find("tag:common", 0))  # the total of the common filter alone
        both = await steps_of(store, lambda: store.find(query, 20))
        found = await store.find(query, 20)
        want = [big[1]] if "rare" in query else [] if query.startswith("size:<") else big[::-1]
        assert (list(found), found.total) == (want, len(want))
        heads = await store.store.find_heads(query, 20, head=4)
        assert [row[0] for row in heads] == [card.hash for card in want]
        assert await store.count(tag="common", max_size=99, name="big-*") == 0
    assert both < alone / 4, (both, alone)


async def test_every_card_a_filter_few_cards_pass_chooses_is_read_through_its_index(tmp_path, monkeypatch):
    """Listing, streaming and counting every card of two filters read every card of the
    common one (or walked the whole time index for a size only old cards have): the filter
    with few hits leads."""
    monkeypatch.setattr(sqlite_filter_walks, "LEAD_CAP", 1000)  # the common filter passes more cards
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        large = [MCard(f"large {i} " + "x" * 2000, g_time=datetime.fromtimestamp(1_600_000_000 + i, timezone.utc)) for i in range(3)]
        small = [MCard(f"small {i}", g_time=datetime.fromtimestamp(1_700_000_000 + i, timezone.utc)) for i in range(7000)]
        await store.save_many(large + small)
        await store.tag_many([(card.hash, "common") for card in small + large])
        leave_a_tag_of_no_card(tmp_path / "c.db")

        async def streamed(**filters) -> list[MCard]:
            return [card async for card in store.iterate(page_size=2, **filters)]

        alone = await steps_of(store, lambda: store.count(tag="common"))
        for filters in ({"tag": "common", "min_size": 1000}, {"min_size": 1000}):
            for read in (store.list, streamed, lambda **f: store.store.list_heads(head=5, **f), store.count):
                steps = await steps_of(store, lambda: read(**filters))
                assert steps < alone / 4, (filters, read, steps, alone)
            assert await store.list(**filters) == await streamed(**filters) == large[::-1]
            assert [row[0] for row in await store.store.list_heads(head=5, **filters)] == [card.hash for card in large[::-1]]
            assert await store.count(**filters) == 3


async def test_facets_of_filters_every_card_passes_are_counted_in_the_indexes(tmp_path):
    """The facets of ``type:text/plain`` over a store of texts read every card (2.2 s at
    1,000,000 cards); once each filter's count in its index is every card's, they are the
    facets over every card, counted in the indexes."""
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        cards = [MCard(f"text {i}", g_time=datetime.fromtimestamp(1_700_000_000 + 600 * i, timezone.utc)) for i in range(5000)]
        await store.save_many(cards)
        await store.tag_many([(card.hash, "third") for card in cards[::3]])
        by = ("content_type", "tag", "month", "size", "time", "kind")
        every = await store.facets("", by=by)
        for query in ("type:text/plain", "size:<100", "type:text/* size:<100 after:2020-01-01"):
            assert await store.facets(query, by=by) == every, query
        assert (await store.facets("size:<9", by=by))["size"] == [("< 1 KB", 1000)]  # not every card
        most = datetime.fromtimestamp(1_700_000_000 + 600 * 100, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        assert (await store.facets(f"after:{most}", by=by))["kind"] == [("text", 4900)]  # nor 98% of them
        over_every = await steps_of(store, lambda: store.facets("", by=by))
        typed = await steps_of(store, lambda: store.facets("type:text/plain", by=by))
    assert typed < over_every * 1.25, (typed, over_every)  # reading every chosen card: 1.76x


async def test_time_facets_over_every_card_read_the_span_at_the_ends_of_the_time_index(tmp_path):
    """The span a time facet over every card spans is read at the two ends of the time index,
    not by testing every row's time (174 ms of 1,000,000 cards); its buckets are then ranges
    of that index, counted without reading a row, like the size buckets in theirs."""
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        start = datetime(2025, 11, 20, tzinfo=timezone.utc)
        times = [start + timedelta(hours=i) for i in range(20_000)]
        await store.save_many([MCard(f"text {i}", g_time=time) for i, time in enumerate(times)])
        assert (await store.facets("", by=("month",)))["month"] == sorted(Counter(time.strftime("%Y-%m") for time in times).items())
        by_month = await steps_of(store, lambda: store.facets("", by=("month",)))
        by_size = await steps_of(store, lambda: store.facets("", by=("size",)))
    assert by_month < by_size * 2, (by_month, by_size)  # testing every row's time first: 5x


async def test_a_time_facet_of_chosen_cards_reads_them_once(tmp_path):
    """A time facet's span is taken from its steps: counted on their own, the span and the
    steps read the chosen cards twice, kept aside for both, where another facet reads them once."""
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        start = datetime(2025, 11, 20, tzinfo=timezone.utc)
        times = [start + timedelta(hours=i) for i in range(6000)]
        cards = [MCard(f"text {i}", g_time=time) for i, time in enumerate(times)]
        await store.save_many(cards)
        await store.tag_many([(card.hash, "half") for card in cards[::2]])
        months = Counter(time.strftime("%Y-%m") for time in times[::2])
        assert (await store.facets("tag:half", by=("month",)))["month"] == sorted(months.items())
        by_month = await steps_of(store, lambda: store.facets("tag:half", by=("month",)))
        by_type = await steps_of(store, lambda: store.facets("tag:half", by=("content_type",)))
    assert by_month < by_type * 1.9, (by_month, by_type)  # 1.6x; the span counted on its own: 2.2x


def _indexed_up_to(path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT value FROM mcard_meta WHERE key = 'text_indexed'").fetchone()[0]


async def _until(condition, failure: str, seconds: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, failure
        await asyncio.sleep(0.01)


async def test_lone_writes_after_a_bulk_load_do_not_wait_behind_the_index(tmp_path):
    """Once the background index has started on a backlog, a write that comes in waits for
    the step running then, and the index pauses while writes go on: the old way, every lone
    write waited for one more step (500 cards each)."""
    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many([MCard(f"bulk card {i} with a few words") for i in range(30_000)])
        started = _indexed_up_to(path)
        await _until(lambda: _indexed_up_to(path) > started, "the index did not start once writes paused")
        before = _indexed_up_to(path)
        for i in range(50):
            await store.create(f"lone card {i}")
        during = _indexed_up_to(path) - before
        assert during <= 5 * 500, f"{during} cards indexed while 50 lone writes ran"
        await _until(lambda: _indexed_up_to(path) >= 30_050, "the index did not go on once writes paused")
        assert len(await store.search("lone card")) == 50


async def test_a_steady_stream_of_writes_does_not_starve_the_index(tmp_path):
    """Writes never 0.1 s apart still let the background index take a step now and then
    (every ``index_max_delay`` seconds)."""
    path = tmp_path / "c.db"
    loop = asyncio.get_running_loop()

    async def stream(seconds: float) -> None:
        until = loop.time() + seconds
        while loop.time() < until:
            await store.create(f"stream {loop.time()}")
            await asyncio.sleep(0.005)

    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many([MCard(f"bulk card {i}") for i in range(20_000)])
        await stream(0.3)
        before = _indexed_up_to(path)
        await stream(1.5)
        assert _indexed_up_to(path) > before
        await store.store.wait_indexed()
        assert _indexed_up_to(path) == await store.count()


async def test_word_totals_leave_out_removed_cards_the_index_still_holds(tmp_path, monkeypatch):
    """Removed cards stay in the word index until a background step purges them: a total
    counted in the index must not count them."""
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        cards = [MCard(f"river card {i}") for i in range(40)]
        await store.save_many(cards)
        await store.store.wait_indexed()
        monkeypatch.setitem(DEFAULT_SETTINGS, "index_delay", 3600)  # no purge from here on
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        assert await store.remove_many(card.hash for card in cards[:15]) == 15
        [(unpurged,)] = await store.store._writer.fetch("SELECT count(*) FROM card_text_garbage")
        found = await store.find("river", limit=10)
        assert unpurged == 15 and found.total == 25 and len(found) == 10
        assert (await store.find("river card", limit=5, offset=20)).total == 25


async def test_no_background_step_runs_after_close(tmp_path, caplog):
    """A write that finishes while the store closes arms no step for after the close."""
    caplog.set_level(logging.DEBUG, logger="mcard")
    store = AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db"))
    await store.initialize()
    await store.save_many([MCard(f"bulk card {i}") for i in range(5_000)])
    writing = asyncio.ensure_future(store.create("written while closing"))
    await asyncio.sleep(0)
    await store.close()
    await asyncio.wait([writing])
    await asyncio.sleep(0.5)
    assert not [record.getMessage() for record in caplog.records if "step failed" in record.getMessage()]


@pytest.mark.parametrize("garbage", [b"this is not a database at all" * 100, b"SQLite format 3\x00" + b"\x01" * 90])
async def test_file_that_is_not_a_database_raises_and_is_left_untouched(tmp_path, garbage):
    path = tmp_path / "notes.db"
    path.write_bytes(garbage)
    before = path.stat()
    with pytest.raises(StorageError) as raised:
        await AsyncPersistenceWrapper(SQLiteConfig(path)).initialize()
    assert str(path) in str(raised.value) and raised.value.__cause__ is not None
    assert "not a database" in str(raised.value)
    assert path.read_bytes() == garbage and path.stat().st_mtime_ns == before.st_mtime_ns
    assert sorted(os.listdir(tmp_path)) == ["notes.db"]


async def test_memory_database_creates_no_file_and_is_private_per_wrapper(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = SQLiteConfig(":memory:", max_connections=4)
    async with AsyncPersistenceWrapper(config) as first, AsyncPersistenceWrapper(config) as second:
        card = await first.create("only in first")
        assert await second.get(card.hash) is None
        reads = await asyncio.gather(*(first.get(card.hash) for _ in range(20)))
        assert all(r == card for r in reads)
        assert len(first.store._readers) > 1
    assert os.listdir(tmp_path) == []


async def test_reads_of_a_store_in_memory_go_between_the_steps_of_indexing():
    """In memory (no WAL) a read waits for the write that holds the lock: back-to-back index
    steps over 25 MB of new text kept it waiting for the whole catch-up, and it failed with
    "database is locked" once that took longer than ``timeout``. It now waits for a step."""
    import random

    rng = random.Random(5)
    texts = [rng.randbytes(128 * 1024).hex() for _ in range(100)]
    async with AsyncPersistenceWrapper(SQLiteConfig(":memory:", timeout=1)) as store:
        await store.save_many(MCard(text) for text in texts)
        started, reads = time.monotonic(), 0
        indexed = asyncio.create_task(store.store.wait_indexed())
        while not indexed.done():
            assert await store.count() == len(texts)
            reads += 1
            await asyncio.sleep(0.01)
        await indexed
        assert time.monotonic() - started > 1 and reads > 10  # the catch-up outlasted the timeout
        assert [card.hash for card in await store.search(texts[-1][:40])] == [MCard(texts[-1]).hash]


@pytest.mark.parametrize("max_connections", [1, 2, 4])
async def test_max_connections_bounds_the_connections_opened(tmp_path, max_connections):
    config = SQLiteConfig(tmp_path / "c.db", max_connections=max_connections)
    async with AsyncPersistenceWrapper(config) as store:
        await store.save_many([MCard(f"m{i}") for i in range(200)])
        await asyncio.gather(*(store.list(limit=100) for _ in range(30)), *(store.create(f"n{i}") for i in range(30)))
        readers = store.store._readers
        assert 1 + len(readers) <= max_connections
        if max_connections > 2:
            assert len(readers) >= 2


@pytest.mark.parametrize("max_connections", [1, 2, 4])
async def test_reads_cancelled_at_any_step_leave_no_reader_in_an_old_state(tmp_path, max_connections):
    """Facets over every card and a regular expression's search read on a pooled reader lent
    them in one transaction; cancelled at any await, the reader goes back with the transaction
    ended, so that the reads after see every card stored since."""
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db", max_connections=max_connections)) as store:
        await store.save_many([MCard(f"m{i}") for i in range(50)])
        stored = 50
        for steps in range(60):
            read = store.facets("", by=("content_type", "size", "month", "time")) if steps % 3 == 0 else store.search(
                r"m\d+", mode="regex")
            reading = asyncio.ensure_future(read)
            for _ in range(steps // 3):
                await asyncio.sleep(0)
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
            await store.create(f"after {steps}")
            stored += 1
            counts = await asyncio.gather(*(store.count() for _ in range(4)), store.facets("", by=["kind"]))
            assert counts[:4] == [stored] * 4 and counts[4]["kind"] == [("text", stored)]
        assert not store.store._lent


async def test_a_reader_lent_with_a_cursor_left_open_is_never_handed_out_again(tmp_path):
    """A cursor whose opening was cancelled is still made on the reader's thread, and its
    statement keeps the reader in the old snapshot even past the ROLLBACK: such a reader is
    closed, so that the reads after see every card stored since."""
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db", max_connections=2)) as store:
        await store.save_many([MCard(f"m{i}") for i in range(50)])
        async with store.store._lent_reader() as reader:
            opening = asyncio.ensure_future(reader.cursor("SELECT hash FROM card"))
            await asyncio.sleep(0)
            opening.cancel()
            await asyncio.gather(opening, return_exceptions=True)
        await store.create("after the cursor")
        assert await asyncio.gather(*(store.count() for _ in range(3))) == [51] * 3
        assert reader not in store.store._readers


async def test_two_wrappers_on_one_file_write_concurrently_without_lock_errors(tmp_path):
    config = SQLiteConfig(tmp_path / "shared.db")
    async with AsyncPersistenceWrapper(config) as a, AsyncPersistenceWrapper(config) as b:
        await asyncio.gather(
            *(a.create(f"a{i}") for i in range(200)),
            *(b.create(f"b{i}") for i in range(200)),
            *(a.save_many([MCard(f"batch {i}-{j}") for j in range(50)]) for i in range(5)),
        )
        assert await a.count() == 650 == await b.count()


def _fail_on(path, content: str) -> None:
    """A real database failure: a trigger that aborts inserts of one content."""
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON card WHEN NEW.content = CAST(? AS BLOB)"
        " BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END".replace("?", repr(content))
    )
    db.commit()
    db.close()


async def test_database_failure_mid_batch_stores_nothing(tmp_path):
    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.create("before")
    _fail_on(path, "poison")
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        batch = [MCard(f"ok {i}") for i in range(50)] + [MCard("poison")] + [MCard("ok late")]
        with pytest.raises(StorageError, match="refused by trigger") as raised:
            await store.save_many(batch)
        assert isinstance(raised.value.__cause__, sqlite3.Error)
        assert await store.count() == 1


async def test_grouped_writes_fail_one_by_one(tmp_path):
    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)):
        pass
    _fail_on(path, "poison")
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        results = await asyncio.gather(
            *(store.create(f"fine {i}") for i in range(20)),
            store.create("poison"),
            store.save_many([MCard("in failing batch"), MCard("poison")]),
            *(store.create(f"also fine {i}") for i in range(20)),
            return_exceptions=True,
        )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 2 and all(isinstance(e, StorageError) for e in errors)
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        assert await store.count() == 40
        assert await store.search("in failing batch") == []


async def test_locked_database_raises_transient_storage_error(tmp_path):
    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path, timeout=0.2)) as store:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(StorageError) as raised:
                await store.create("blocked")
            assert raised.value.transient and "locked" in str(raised.value)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert (await store.create("unblocked")).content == "unblocked"


async def test_cancelled_slow_write_is_rolled_back_and_never_happens_later(tmp_path):
    path = tmp_path / "c.db"
    cards = [MCard(f"slow {i} " + "x" * 200) for i in range(300_000)]
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        task = asyncio.ensure_future(store.save_many(cards))
        await asyncio.sleep(0.15)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        count_after_cancel = await store.count()
        await asyncio.sleep(0.5)
        assert await store.count() == count_after_cancel == 0
        assert (await store.create("next call works")).content == "next call works"


async def test_cancelled_queued_write_is_skipped(tmp_path):
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        big = asyncio.ensure_future(store.save_many([MCard(f"big {i}") for i in range(50_000)]))
        await asyncio.sleep(0)
        queued = asyncio.ensure_future(store.create("queued then cancelled"))
        await asyncio.sleep(0.01)
        queued.cancel()
        assert await big == 50_000
        with pytest.raises(asyncio.CancelledError):
            await queued
        await asyncio.sleep(0.2)
        assert await store.search("queued then cancelled") == []


def test_unclosed_store_does_not_block_interpreter_exit(tmp_path):
    script = textwrap.dedent(
        f"""
        import asyncio
        from mcard import AsyncPersistenceWrapper, SQLiteConfig
        async def main():
            store = AsyncPersistenceWrapper(SQLiteConfig({str(tmp_path / 'c.db')!r}, max_connections=3))
            await store.initialize()
            await store.create("never closed")
            await asyncio.gather(*(store.list() for _ in range(5)))
            global reading  # an iteration left open holds its snapshot connection
            reading = store.iterate(page_size=1)
            await anext(reading)
        asyncio.new_event_loop().run_until_complete(main())  # the loop is never closed either
        print("done")
        """
    )
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done" and time.monotonic() - started < 15
    assert sqlite3.connect(tmp_path / "c.db").execute("SELECT count(*) FROM card").fetchone()[0] == 1


def test_a_script_left_by_break_in_an_unclosed_store_ends_quietly(tmp_path):
    """``asyncio.run`` closes every async generator left open at its end, all at once: an
    iteration made of generators that close one another printed ``RuntimeError: athrow():
    asynchronous generator is already running`` at the end of such a script."""
    script = textwrap.dedent(
        f"""
        import asyncio
        from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig
        async def main():
            store = AsyncPersistenceWrapper(SQLiteConfig({str(tmp_path / 'c.db')!r}))
            await store.initialize()
            await store.save_many([MCard(f"card {{i}}") for i in range(10)])
            async for card in store.iterate(page_size=2):
                break
        asyncio.run(main())
        print("done")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "done", "")


def test_store_needs_a_sqlite_config():
    with pytest.raises(TypeError):
        SQLiteStore(object())


async def test_a_head_longer_than_any_value_gives_whole_contents(tmp_path):
    cards = [MCard(b"small bytes"), MCard(bytes(range(256)) * 100)]  # the second's head is read as a blob
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        await store.save_many(cards)
        for head in (2**31 - 1, 2**31, 2**63 - 1):
            rows = await store.store.list_heads(head=head)
            assert sorted(row[1] for row in rows) == sorted(card.content for card in cards)


@pytest.mark.parametrize("read", ["list by type", "largest", "search", "heads"])
async def test_large_contents_come_from_the_snapshot_of_their_rows(tmp_path, monkeypatch, read):
    """A large content is read after its row comes out of the statement (for the last row,
    after the statement has ended): removals another connection commits right then must not
    show, and every card listed comes back whole."""
    from mcard.infrastructure.persistence.engine import sqlite_schema as schema
    from mcard.infrastructure.persistence.engine import sqlite_sql

    path = tmp_path / "c.db"
    cards = [MCard(f"big {i} " + "x" * 20_000, g_time=datetime(2026, 1, 1 + i, tzinfo=timezone.utc)) for i in range(3)]
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many(cards)
        other = sqlite3.connect(path, check_same_thread=False)  # used on the reading connection's thread
        for name, function in (("mcard_searchable", schema.searchable), ("mcard_words", schema.words),
                               ("mcard_word_count", schema.word_count)):
            other.create_function(name, 2, function)

        def removing_first(read_large):
            def read(cursor, *args):
                other.execute("DELETE FROM card")
                other.commit()
                return read_large(cursor, *args)
            return read

        monkeypatch.setattr(sqlite_sql, "large_card", removing_first(sqlite_sql.large_card))
        monkeypatch.setattr(sqlite_sql, "large_head", removing_first(sqlite_sql.large_head))
        newest_first = cards[::-1]
        if read == "list by type":
            assert await store.list(content_type="text/plain") == newest_first
        elif read == "largest":
            assert await store.list(order="largest") == newest_first  # one size: newest first among them
        elif read == "search":
            assert await store.search("big") == newest_first
        else:
            rows = await store.store.list_heads(head=5)
            assert [(row[0], row[1]) for row in rows] == [(card.hash, card.content.encode()[:5]) for card in newest_first]
        assert await store.count() == 0
        other.close()


async def test_large_rows_another_tool_wrote_read_the_same_through_every_path(tmp_path):
    """Text or bytes as ``CARD`` gives them (SQL's truth of ``is_text``; a text stored under a
    false one is its bytes, as ``verify`` reads it), whether the content was read in the
    statement or as a blob after a sort."""
    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)):
        pass
    text, data = "t" * 20_000, b"b" * 20_000
    rows = [(text, 0), (data, "yes"), (data, b"\x01"), (text, 1), (data, 1), (data, 0)]
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
            " VALUES (?, ?, ?, ?, 'sha256', 20000, 'text/plain')",
            [(f"{n:064x}", content, is_text, 1_700_000_000_000_000 + n) for n, (content, is_text) in enumerate(rows)],
        )
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        plain = await store.list()
        assert [type(card.content) for card in plain[::-1]] == [bytes, bytes, bytes, str, str, bytes]
        assert await store.list(content_type="text/plain") == plain
        assert [card async for card in store.iterate(min_size=1)] == plain
        assert await store.get_many([card.hash for card in plain]) == {card.hash: card for card in plain}


async def test_a_failed_read_on_the_only_connection_holds_no_old_snapshot(tmp_path):
    """A read that fails once SQLite has given its row (a damaged text) leaves no statement
    open: with one connection, later reads see other writers' cards and writes go through."""
    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many([MCard(f"card {i}") for i in range(5)])
    row = "INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type) VALUES (?, ?, 1, ?, 'sha256', 2, 'text/plain')"
    with sqlite3.connect(path) as other:
        other.execute(row, ("7" * 64, b"\xff\xfe", 1_700_000_000_000_000))
    other.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path, max_connections=1)) as store:
        with pytest.raises(StorageError, match="not valid UTF-8"):
            await store.list(order="oldest")
        with sqlite3.connect(path) as other:
            other.execute(row, ("8" * 64, b"ok", 1_700_000_000_000_001))
        other.close()
        assert await store.count() == 7
        await store.save_many([MCard("new card A"), MCard("new card B")])
        assert await store.count() == 9


async def test_a_store_closed_right_after_a_removal_leaves_nothing_of_it_in_the_index(tmp_path):
    """As ``mcard rm`` does: a later store, read-only too, ranks words over the index alone."""
    path = tmp_path / "cards.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as cards:
        made = [await cards.create(f"wombat note {i}") for i in range(20)]
        await cards.store.wait_indexed()
        await cards.remove_many([card.hash for card in made[:5]])
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM card_text_garbage").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM card_words WHERE card_words MATCH 'wombat'").fetchone() == (15,)
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path, read_only=True)) as cards:
        assert len(await cards.search("wombat", mode="words")) == 15


async def test_paging_sees_a_card_another_tool_moved_in_time(tmp_path):
    """The next page continued from the last page's mark: a card another tool moved from the
    oldest to the newest shifted every page by one, unseen. A store made before the trigger
    that counts such a change gets it when opened for writing."""
    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many([MCard(f"card {i:03}", g_time=datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=i))
                               for i in range(40)])
    with sqlite3.connect(path) as db:
        db.execute("DROP TRIGGER IF EXISTS card_changed")  # as a store made before it
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.list(limit=10, offset=0)
        await store.list(limit=10, offset=10)
        with sqlite3.connect(path) as db:
            db.execute("UPDATE card SET g_time = g_time + 100000000000 WHERE id = (SELECT id FROM card ORDER BY g_time LIMIT 1)")
        db.close()
        assert await store.list(limit=10, offset=20) == (await store.list())[20:30]


async def test_save_many_counts_its_own_cards_after_another_tool_moved_one_past_the_sequence(tmp_path):
    """An UPDATE of a card's id past AUTOINCREMENT's sequence leaves the sequence behind: the
    moved card was counted among the cards the next save stored."""
    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        assert await store.save_many([MCard("a"), MCard("b"), MCard("c")]) == 3
        with sqlite3.connect(path) as other:
            other.execute("UPDATE card SET id = 1000 WHERE id = 1")
        other.close()
        assert await store.save_many([MCard("d"), MCard("e")]) == 2
        assert await store.save_many([MCard("d"), MCard("f")]) == 1
        assert await store.count() == 6


@pytest.mark.parametrize("types", [("", None), (None,), ("",), (b"\xff\xfe", None)], ids=["empty and NULL", "NULL", "empty", "bytes"])
async def test_pages_in_type_order_of_types_another_tool_wrote_are_slices_of_the_order(tmp_path, types):
    """Cards another tool left without a type (NULL or empty) come first in type order,
    together, newest first; a type stored as bytes is sorted as SQLite sorts it. Each page is
    the slice of the whole listing wherever it lies."""
    path = tmp_path / "cards.db"
    cards = [MCard(f'{{"n": {i}}}' if i % 3 else f"typed {i}", g_time=datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=i // 2))
             for i in range(30)]
    async with AsyncPersistenceWrapper(SQLiteConfig(str(path))) as store:
        await store.save_many(cards)
        await store.store.wait_indexed()
    by_hash = sorted(cards, key=lambda card: card.hash)
    with sqlite3.connect(path) as other:
        for index, value in enumerate(types):
            other.execute("UPDATE card SET content_type = ? WHERE hash IN (SELECT hash FROM card ORDER BY hash LIMIT ? OFFSET ?)",
                          (value, 4, 4 * index))
    other.close()
    untyped = [card for index, value in enumerate(types) if value in ("", None) for card in by_hash[4 * index:4 * index + 4]]
    async with AsyncPersistenceWrapper(SQLiteConfig(str(path), read_only=True)) as store:  # types are left unfilled
        every = await store.list(order="type")
        heads = await store.store.list_heads(order="type", head=3)
        assert sorted(card.hash for card in every) == [card.hash for card in by_hash]
        assert every[:len(untyped)] == sorted(untyped, key=lambda card: (card.g_time, card.hash), reverse=True)
        for limit in (1, 3, 7, 30):
            for offset in range(0, 32, limit):
                assert await store.list(limit, offset, order="type") == every[offset:offset + limit], (limit, offset)
                assert await store.store.list_heads(limit, offset, order="type", head=3) == heads[offset:offset + limit]


async def test_a_page_in_type_order_sees_a_row_another_tool_replaced_in_place(tmp_path):
    """Another program's ``INSERT OR REPLACE`` keeping a card's id moves no change stamp; the
    next page in type order still shows the card under its new type."""
    path = tmp_path / "cards.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(str(path))) as store:
        await store.save_many([MCard(f"text {i}", g_time=datetime(2026, 1, 1, i, tzinfo=timezone.utc)) for i in range(4)])
        assert {card.content_type for card in await store.list(10, order="type")} == {"text/plain"}
        with sqlite3.connect(path) as other:
            other.execute("INSERT OR REPLACE INTO card (id, hash, is_text, g_time, hash_algorithm, size, content_type, content)"
                          " SELECT id, hash, is_text, g_time, hash_algorithm, size, 'application/x-other', content FROM card WHERE id = 1")
        other.close()
        page = await store.list(10, order="type")
        assert [card.content_type for card in page] == ["application/x-other", *["text/plain"] * 3]
        assert page == await store.list(order="type")
