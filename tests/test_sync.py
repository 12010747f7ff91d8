"""``mcard.sync`` between real stores: SQLite files and PostgreSQL tables, compared by hash ranges."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mcard
from mcard import AsyncPersistenceWrapper, MCard, Sighting, SQLiteConfig, ValidationError
from mcard.infrastructure.persistence.engine.base_engine import BaseStore
from tests.postgres_support import fresh_schema, postgres_factory

START = datetime(2025, 3, 1, tzinfo=timezone.utc)
DAY: Final = timedelta(days=1)


def sample_cards(n: int, tag: str = "a") -> list[MCard]:
    """Text and bytes cards with distinct, known times."""
    return [
        MCard(f"{tag} card {i}" if i % 3 else f"{tag} bytes {i}".encode() + bytes([0, 255, i % 256]),
              g_time=START + timedelta(minutes=i))
        for i in range(n)
    ]


async def fill(store: AsyncPersistenceWrapper, cards: list[MCard], *, labels: bool = True) -> None:
    seen = [Sighting.of(card.hash, name=f"file {i}.txt", path=f"dir/file {i}.txt", source="disk")
            for i, card in enumerate(cards) if labels and i % 4 == 0]
    await store.save_many(cards, sightings=seen)
    if labels:
        await store.tag_many([(card.hash, f"tag {i % 5}") for i, card in enumerate(cards) if i % 2 == 0])


async def everything(store: AsyncPersistenceWrapper) -> set[tuple[Any, ...]]:
    """(hash, g_time, content, kind, content type, tags, sightings) of every card."""
    cards = [card async for card in store.iterate()]
    hashes = [card.hash for card in cards]
    tags, seen = await store.tags_of(hashes), await store.sightings_of(hashes)
    return {
        (card.hash, card.g_time, card.content, card.kind, card.content_type, tuple(tags.get(card.hash, [])),
         tuple(sorted((s.key, s.name, s.path, s.source, s.seen_at) for s in seen.get(card.hash, []))))
        for card in cards
    }


@pytest.fixture
def pg_url_schema() -> Any:
    yield from fresh_schema()


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[tuple[AsyncPersistenceWrapper, AsyncPersistenceWrapper]]:
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "a.db")) as a, \
            AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "b.db")) as b:
        yield a, b


@pytest.mark.postgres
async def test_sqlite_to_postgres_to_new_sqlite_keeps_every_field(tmp_path, pg_url_schema):
    url, schema = pg_url_schema
    cards = sample_cards(700)
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "first.db")) as first, \
            AsyncPersistenceWrapper(postgres_factory(url, schema)()) as shared, \
            AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "second.db")) as second:
        await fill(first, cards)
        to_shared = await mcard.sync(first, shared, batch_size=100, progress=False)
        to_second = await mcard.sync(shared, second, batch_size=100, progress=False)
        expected = await everything(first)
        assert await everything(shared) == expected
        assert await everything(second) == expected
        assert len(expected) == 700 and sum(1 for row in expected if row[5]) == 350
        for result in (to_shared, to_second):
            assert (result.copied, result.already_there, result.damaged) == (700, 0, [])
            assert result.bytes_copied == sum(card.size for card in cards)
            assert (result.sightings_added, result.tags_added) == (175, 350)
        assert await shared.range_digests([""], 3) == await second.range_digests([""], 3)


@pytest.mark.postgres
async def test_postgres_digests_equal_the_reference_for_the_same_rows(pg_url_schema):
    url, schema = pg_url_schema
    async with AsyncPersistenceWrapper(postgres_factory(url, schema)()) as store:
        await fill(store, sample_cards(300))
        await store.tag(sample_cards(300)[1].hash, "ünïcode tag", "Zebra", "apple")
        for prefixes, depth in (([""], 1), ([""], 2), (["0", "a", "f"], 3)):
            assert await store.range_digests(prefixes, depth) == await BaseStore._range_digests(store.store, prefixes, depth)
        assert await store.hashes_in_ranges(["0", "a"]) == await BaseStore._hashes_in_ranges(store.store, ["0", "a"])


@pytest.mark.postgres
async def test_postgres_digests_survive_rows_of_other_tools_whose_hash_is_not_hex(pg_url_schema):
    import asyncpg

    url, schema = pg_url_schema
    async with AsyncPersistenceWrapper(postgres_factory(url, schema)()) as store:
        await fill(store, sample_cards(50))
        before = await store.range_digests([""], 1)
        connection = await asyncpg.connect(url)
        try:
            await connection.execute(
                f'INSERT INTO "{schema}".card (hash, content, is_text, g_time, hash_algorithm, size, content_type)'
                " VALUES ('0-not-hex', 'x', true, 0, 'sha256', 1, 'text/plain')"
            )
        finally:
            await connection.close()
        after = await store.range_digests([""], 1)
        assert after == await BaseStore._range_digests(store.store, [""], 1)
        assert after["0"].count == before["0"].count + 1 and after["0"].cards != before["0"].cards
        assert {g: d for g, d in after.items() if g != "0"} == {g: d for g, d in before.items() if g != "0"}


async def test_sqlite_digests_equal_the_reference_and_see_labels(two):
    a, _ = two
    cards = sample_cards(400)
    await fill(a, cards)
    before = await a.range_digests([""], 2)
    assert before == await BaseStore._range_digests(a.store, [""], 2)
    assert sum(d.count for d in before.values()) == 400
    await a.tag(cards[7].hash, "new")
    after = await a.range_digests([""], 2)
    changed = [group for group in after if after[group] != before[group]]
    assert changed == [cards[7].hash[:2]], "a new tag changes its range's digest only"
    await a.save(cards[9], sightings=[Sighting.of(cards[9].hash, name="again.txt")])
    assert (await a.range_digests([""], 2))[cards[9].hash[:2]] != after[cards[9].hash[:2]]


async def test_second_run_copies_nothing(two):
    a, b = two
    await fill(a, sample_cards(300))
    first = await mcard.sync(a, b, progress=False)
    second = await mcard.sync(a, b, progress=False)
    assert first.copied == 300 and first.seconds > 0
    assert (second.copied, second.bytes_copied, second.already_there) == (0, 0, 300)
    assert (second.sightings_added, second.tags_added) == (0, 0)
    assert await b.count() == 300
    assert str(second).startswith("copied 0 cards (0 B), 300 already stored,")


async def test_the_progress_bar_counts_to_every_card_dest_lacks_from_the_start(two, monkeypatch):
    """The bar's total grew by the cards found so far: it stood at 79% after the first batch of
    20,000 and near 99% for the rest of the sync. The counts of the first ranges compared give
    the cards DEST lacks before any is copied."""
    import tqdm.auto

    shown: list[tuple[int, int]] = []

    class Recorded(tqdm.auto.tqdm):  # type: ignore[misc, valid-type]
        def update(self, n: float | None = 1) -> bool | None:
            done = super().update(n)
            shown.append((self.n, self.total))
            return done

    monkeypatch.setattr(tqdm.auto, "tqdm", Recorded)
    monkeypatch.setattr("mcard.syncing.LIST_CHUNK", 4)  # ranges listed a few at a time, as in a large store
    a, b = two
    await fill(a, sample_cards(3000))
    await fill(b, sample_cards(3000)[:500])
    result = await mcard.sync(a, b, batch_size=100, progress=True)
    assert result.copied == 2500
    assert {total for _, total in shown} == {2500}
    assert shown[-1] == (2500, 2500)


async def test_large_cards_are_copied_a_few_at_a_time(two, monkeypatch):
    """A batch read ``batch_size`` cards whatever their size: 100 cards of 10 MB held 1.09 GB.
    Once the first card is read, a batch holds about ``BATCH_BYTES`` (made small here)."""
    import tracemalloc

    from mcard import syncing

    a, b = two
    monkeypatch.setattr(syncing, "BATCH_BYTES", 2_000_000)
    cards = [MCard(bytes([i]) * 999_999 + b"!") for i in range(24)]
    await a.save_many(cards)
    tracemalloc.start()
    try:
        result = await mcard.sync(a, b, progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.copied == 24 and set(await b.get_many([card.hash for card in cards])) == {c.hash for c in cards}
    assert peak < 12_000_000, peak  # all 24 MB at once before


async def test_a_card_over_the_destinations_limit_is_skipped_by_its_size_unread(tmp_path, destination):
    """A card of 50 MB in the team store made every pull into a laptop's store (limit 10 MiB)
    read it whole and hash it only to skip it: 1.4-1.7 s and 200 MB at the peak, dry runs too.
    Its stored size tells it is too large before it is read; the report is the same."""
    import tracemalloc

    big = MCard(bytes(range(256)) * 80_000)  # 20.5 MB
    small = sample_cards(30)
    async with AsyncPersistenceWrapper(replace(destination[2], max_content_size=32_000_000)) as a, \
            AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "laptop.db")) as b:
        await fill(a, small)
        await a.save(big)
        await a.wait_indexed()  # the search index reads each card once, in the background
        skipped = [(big.hash, f"oversized: {big.size} B, over the destination's limit of {10 * 1024 * 1024} B")]
        for dry_run, copied, since in ((True, 30, None), (False, 30, None), (False, 0, None), (False, 0, START)):
            tracemalloc.start()
            try:
                result = await mcard.sync(a, b, dry_run=dry_run, since=since, progress=False)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            assert [(card.hash, card.reason) for card in result.damaged] == skipped
            assert (result.copied, result.already_there) == (copied, 30 - copied)
            assert "1 oversized skipped" in str(result)
            assert peak < 4_000_000, f"{peak / 1e6:.1f} MB at the peak"  # over 41 MB before
        later = await mcard.sync(a, b, since=big.g_time + timedelta(seconds=1), progress=False)
        assert (later.copied, later.damaged) == (0, [])
        assert await b.count() == 30 and await b.get(big.hash) is None


async def test_the_sentence_gives_sizes_in_units(two):
    a, b = two
    await a.save_many([MCard(bytes([n]) * 700_000) for n in range(1, 4)])
    result = await mcard.sync(a, b, progress=False)
    assert result.bytes_copied == 2_100_000
    assert str(result).startswith("copied 3 cards (2.0 MB), 0 already stored,")


async def test_two_syncs_at_once_count_each_card_copied_once(two, tmp_path):
    """Both list every card as missing; the one that stores a card second counts it as
    already there (each claimed to have copied all of them)."""
    a, b = two
    await fill(a, sample_cards(300), labels=False)
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "b.db")) as also_b:
        results = await asyncio.gather(mcard.sync(a, b, progress=False), mcard.sync(a, also_b, progress=False))
    assert sum(result.copied for result in results) == 300 == await b.count()
    assert [result.copied + result.already_there for result in results] == [300, 300]


@pytest.mark.parametrize("since, there", [(None, 200), (START + timedelta(minutes=150), 50), (START + timedelta(minutes=60), 140)])
async def test_cards_written_to_the_source_during_a_sync_are_not_counted_as_already_there(tmp_path, destination, since, there):
    """``already_there`` was the source's count at the end less the cards found lacking: 2,000
    cards imported into the source while a sync ran into an empty store were reported as
    already there. It counts the cards found in DEST as they are compared."""
    cards = sample_cards(300)
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "a.db")) as a, \
            AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "a.db")) as writer, \
            AsyncPersistenceWrapper(destination[2]) as b:
        await fill(a, cards)
        await fill(b, cards[:200], labels=False)
        written = [MCard(f"written during the sync {i}") for i in range(500)]
        save_seen = b.save_seen

        async def then_written(*args: Any) -> Any:  # once the first batch is copied, another writer imports into the source
            saved = await save_seen(*args)
            if written:
                assert await writer.save_many(written) == 500
                written.clear()
            return saved

        b.save_seen = then_written  # type: ignore[method-assign]
        result = await mcard.sync(a, b, since=since, batch_size=40, progress=False)
        del b.save_seen
        assert await a.count() == 800
        assert (result.copied, result.already_there) == (100, there)
        assert await b.count() == 300


async def test_dry_run_counts_and_changes_nothing(two):
    a, b = two
    cards = sample_cards(200)
    await fill(a, cards)
    await fill(b, cards[:50], labels=False)
    before = await everything(b)
    planned = await mcard.sync(a, b, dry_run=True, progress=False)
    assert await everything(b) == before
    assert planned.dry_run and (planned.copied, planned.already_there) == (150, 50)
    assert planned.bytes_copied == sum(card.size for card in cards[50:])
    done = await mcard.sync(a, b, progress=False)
    assert (done.copied, done.bytes_copied, done.already_there) == (planned.copied, planned.bytes_copied, 50)
    assert (done.sightings_added, done.tags_added) == (planned.sightings_added, planned.tags_added)
    assert done.tags_added == 100 and done.sightings_added == 50


async def test_labels_of_cards_both_have_are_united(two):
    a, b = two
    cards = sample_cards(60)
    await fill(a, cards, labels=False)
    await fill(b, cards, labels=False)
    await a.tag(cards[3].hash, "from a")
    await b.tag(cards[3].hash, "from b")
    await a.save(cards[4], sightings=[Sighting.of(cards[4].hash, name="a-name.txt")])
    await b.save(cards[4], sightings=[Sighting.of(cards[4].hash, name="b-name.txt")])
    await mcard.sync(a, b, progress=False)
    result = await mcard.sync(b, a, progress=False)
    assert result.copied == 0 and result.already_there == 60
    for store in (a, b):
        assert await store.tags(cards[3].hash) == ["from a", "from b"]
        assert sorted(s.name for s in await store.sightings(cards[4].hash)) == ["a-name.txt", "b-name.txt"]
    assert await everything(a) == await everything(b)


async def test_a_card_both_stores_held_keeps_its_own_time_in_each_and_an_untag_comes_back(two):
    """As the docs warn: the same file stored in two stores on different days keeps each its own
    ``g_time`` through syncs both ways (so ``--since`` picks it in one store only), and a tag
    taken off on one side comes back from the other."""
    a, b = two
    await a.save(MCard("the same file", g_time=START))
    await b.save(MCard("the same file", g_time=START + DAY))
    hash_str = MCard("the same file").hash
    await a.tag(hash_str, "trip")
    for source, dest in ((a, b), (b, a)):
        await mcard.sync(source, dest, progress=False)
    assert [(await store.get(hash_str)).g_time for store in (a, b)] == [START, START + DAY]  # type: ignore[union-attr]
    since = START + DAY / 2
    assert [await store.count(start_time=since) for store in (a, b)] == [0, 1]
    assert (await mcard.sync(a, b, since=since, progress=False)).already_there == 0
    assert await b.untag(hash_str, "trip") == 1
    assert (await mcard.sync(a, b, progress=False)).tags_added == 1
    assert await b.tags(hash_str) == ["trip"]


async def test_since_copies_only_newer_cards(two):
    a, b = two
    cards = sample_cards(100)
    await fill(a, cards)
    since = START + timedelta(minutes=60)
    result = await mcard.sync(a, b, since=since, progress=False)
    assert result.copied == 40 and result.already_there == 0
    assert {card.hash async for card in b.iterate()} == {card.hash for card in cards[60:]}
    assert (await mcard.sync(a, b, since=since, progress=False)).copied == 0
    assert (await mcard.sync(a, b, progress=False)).copied == 60


async def test_damaged_source_cards_are_reported_and_skipped(tmp_path):
    path = tmp_path / "a.db"
    cards = sample_cards(50)
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as a:
        await fill(a, cards)
    forged, bad_text = cards[1], cards[2]
    with sqlite3.connect(path) as db:
        db.execute("UPDATE card SET content = CAST('forged' AS BLOB), size = 6 WHERE hash = ?", (forged.hash,))
        db.execute("UPDATE card SET content = X'C328', size = 2 WHERE hash = ?", (bad_text.hash,))
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as a, \
            AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "b.db")) as b:
        result = await mcard.sync(a, b, batch_size=7, progress=False)
        reasons = {card.hash: card.reason for card in result.damaged}
        assert set(reasons) == {forged.hash, bad_text.hash}
        assert "no longer hashes" in reasons[forged.hash]
        assert result.copied == 48 and result.already_there == 0  # the unreadable one was counted as there
        assert await b.get(forged.hash) is None and await b.get(bad_text.hash) is None
        assert (await b.verify(progress=False)).ok
        assert "2 damaged skipped" in str(result)


async def test_a_tag_another_tool_stored_as_bytes_is_left_out_as_reads_leave_it_out(tmp_path):
    """Such a tag (here not even UTF-8) made every sync of the store fail, blaming a card,
    while listings and exports left it out."""
    cards = sample_cards(20)
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "a.db")) as a:
        await fill(a, cards)
    with sqlite3.connect(tmp_path / "a.db") as db:
        db.execute("INSERT INTO tag (hash, tag) VALUES (?, X'626164ff')", (cards[1].hash,))
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "a.db")) as a, \
            AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "b.db")) as b:
        result = await mcard.sync(a, b, progress=False)
        assert (result.copied, result.damaged) == (20, [])
        assert await everything(b) == await everything(a)
        assert (await mcard.sync(a, b, progress=False)).copied == 0


async def test_a_card_the_destination_holds_damaged_is_reported_and_the_rest_copied(tmp_path):
    """A sighting to add to a card whose row DEST holds with other content: the batch would
    record it on the forgery. That card is skipped and named; the batch's others go over."""
    cards = sample_cards(30)
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "a.db")) as a, \
            AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "b.db")) as b:
        await fill(a, cards, labels=False)
        await mcard.sync(a, b, progress=False)
        target = cards[1]
        with sqlite3.connect(tmp_path / "b.db") as db:
            db.execute("UPDATE card SET content = CAST('forged' AS BLOB), size = 6 WHERE hash = ?", (target.hash,))
        db.close()
        await a.save_many([target, *sample_cards(40)[30:]], sightings=[Sighting.of(target.hash, name="t.txt")])
        result = await mcard.sync(a, b, progress=False)
        assert [(card.hash, "DEST holds this hash damaged" in card.reason) for card in result.damaged] == [(target.hash, True)]
        assert (result.copied, result.sightings_added) == (10, 0)
        assert await b.count() == 40 and await b.sightings(target.hash) == []
        assert "1 damaged skipped" in str(result)


async def test_a_tag_for_a_card_the_destination_holds_damaged_is_reported_and_the_rest_added(tmp_path):
    """New tags alone (no sighting) for a card whose row DEST holds with other content: put on the
    forgery they would label it. That card is skipped and named; the other card's tag goes over,
    and once DEST's damaged card is removed the next sync brings the card with its tags."""
    cards = sample_cards(30)
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "a.db")) as a, \
            AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "b.db")) as b:
        await fill(a, cards, labels=False)
        await mcard.sync(a, b, progress=False)
        target, other = cards[1], cards[2]
        with sqlite3.connect(tmp_path / "b.db") as db:
            db.execute("UPDATE card SET content = CAST('forged' AS BLOB), size = 6 WHERE hash = ?", (target.hash,))
        db.close()
        await a.tag_many([(target.hash, "holiday"), (other.hash, "holiday")])
        result = await mcard.sync(a, b, progress=False)
        assert [(card.hash, "DEST holds this hash damaged" in card.reason) for card in result.damaged] == [(target.hash, True)]
        assert result.tags_added == 1
        assert await b.tags_of([target.hash, other.hash]) == {other.hash: ["holiday"]}
        await b.remove_damaged((await b.verify()).damaged)
        again = await mcard.sync(a, b, progress=False)
        assert (again.copied, again.tags_added, again.damaged) == (1, 1, [])
        assert await b.tags(target.hash) == ["holiday"] and await b.get(target.hash) == target


async def test_bad_arguments_are_validation_errors(two):
    a, b = two
    for kwargs in ({"batch_size": 0}, {"batch_size": True}, {"since": datetime(2025, 1, 1)}):
        with pytest.raises(ValidationError):
            await mcard.sync(a, b, progress=False, **kwargs)
    with pytest.raises(ValidationError):
        await mcard.sync(a, "b.db", progress=False)  # type: ignore[arg-type]
    for prefixes, depth in ((["A"], 2), (["a", "ab"], 3), (["abc"], 3), ("abc", 4), ([""], 0), ([""], 129)):
        with pytest.raises(ValidationError):
            await a.range_digests(prefixes, depth)


async def writer(store: AsyncPersistenceWrapper, name: str, stop: asyncio.Event) -> list[str]:
    written: list[str] = []
    i = 0
    while not stop.is_set():
        card = MCard(f"{name} wrote {i}")
        await store.save(card)
        written.append(card.hash)
        i += 1
        await asyncio.sleep(0)
    return written


async def test_syncs_in_opposite_directions_while_writers_run_lose_nothing(two):
    a, b = two
    shared = sample_cards(500)
    await fill(a, shared[:350])
    await fill(b, shared[150:])
    stop = asyncio.Event()
    writers = [asyncio.create_task(writer(a, "a", stop)), asyncio.create_task(writer(b, "b", stop))]
    await asyncio.gather(
        mcard.sync(a, b, batch_size=40, progress=False), mcard.sync(b, a, batch_size=40, progress=False)
    )
    stop.set()
    wrote_a, wrote_b = await asyncio.gather(*writers)
    assert wrote_a and wrote_b
    for store, own in ((a, wrote_a), (b, wrote_b)):
        held = set(await store.hashes_in_ranges([""]))
        assert {card.hash for card in shared} <= held, "every card either side held before is on both"
        assert set(own) <= held, "nothing its writer wrote is lost"
    await mcard.sync(a, b, progress=False)
    await mcard.sync(b, a, progress=False)
    union = {card.hash for card in shared} | set(wrote_a) | set(wrote_b)
    assert set(await a.hashes_in_ranges([""])) == set(await b.hashes_in_ranges([""])) == union
    assert await everything(a) == await everything(b)


contents = st.lists(st.binary(min_size=1, max_size=8), max_size=60, unique=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(left=contents, right=contents, shared=contents, batch=st.integers(1, 50))
async def test_sync_both_ways_gives_the_union(left, right, shared, batch):
    async with AsyncPersistenceWrapper(SQLiteConfig(":memory:")) as a, \
            AsyncPersistenceWrapper(SQLiteConfig(":memory:")) as b:
        if left + shared:
            await a.save_many([MCard(data) for data in left + shared])
        if right + shared:
            await b.save_many([MCard(data) for data in right + shared])
        await mcard.sync(a, b, batch_size=batch, progress=False)
        result = await mcard.sync(b, a, batch_size=batch, progress=False)
        union = {MCard(data).hash for data in left + right + shared}
        assert set(await a.hashes_in_ranges([""])) == set(await b.hashes_in_ranges([""])) == union
        assert result.copied == len({MCard(data).hash for data in right} - {MCard(data).hash for data in left + shared})


def test_import_mcard_stays_light():
    import subprocess
    import sys

    code = "import mcard, sys; assert 'mcard.syncing' not in sys.modules and 'tqdm' not in sys.modules; print(mcard.sync.__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "sync"


@pytest.mark.postgres
async def test_cards_read_from_sqlite_save_into_postgres_with_their_time(tmp_path, pg_url_schema):
    """A card read back keeps its time as stored microseconds until asked: saving it elsewhere
    before its time was ever read must store that time, not fail."""
    url, schema = pg_url_schema
    cards = sample_cards(5)
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "a.db")) as a, \
            AsyncPersistenceWrapper(postgres_factory(url, schema)()) as shared:
        await a.save_many(cards)
        read = [card async for card in a.iterate()]
        assert await shared.save_many(read) == 5
        assert {(c.hash, c.g_time) for c in await shared.list()} == {(c.hash, c.g_time) for c in cards}


def insert_rows_of_another_tool(path, keys: list[str]) -> None:
    """Rows stored under ``keys`` (no hash of theirs) straight into mcard's table."""
    with sqlite3.connect(path) as db:
        db.executemany("INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
                       " VALUES (?, X'78', 1, 0, 'sha256', 1, 'text/plain')", [(key,) for key in keys])
    db.close()


NEAR_COPIES: Final = (" ", "\n", "upper")
"""How another tool may write a card's hash: with a space or a newline after it, in upper case."""


async def _store_under(store: AsyncPersistenceWrapper, engine: str, where: Any, card: MCard, key: str) -> None:
    """A row of ``card`` that another tool stored under ``key``, in place of any it stored before."""
    if engine == "sqlite":
        with sqlite3.connect(where) as db:
            db.execute("DELETE FROM card WHERE hash != ?", (card.hash,))
            db.execute("INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
                       " VALUES (?, ?, 1, ?, 'sha256', ?, 'text/plain')", (key, card.content_bytes, 10**15, card.size))
        db.close()
        return
    import asyncpg

    url, schema = where
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f'DELETE FROM "{schema}".card WHERE hash != $1', card.hash)
        await connection.execute(
            f'INSERT INTO "{schema}".card (hash, content, is_text, g_time, hash_algorithm, size, content_type)'
            " VALUES ($1, $2, true, 1000000000000000, 'sha256', $3, 'text/plain')", key, card.content_bytes, card.size,
        )
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def destination(request: Any, tmp_path: Path) -> Iterator[tuple[str, Any, Any]]:
    """(engine, where its rows are, config) of an empty store to sync into."""
    if request.param == "sqlite":
        yield "sqlite", tmp_path / "b.db", SQLiteConfig(tmp_path / "b.db")
        return
    schemas = fresh_schema()
    url, schema = next(schemas)
    yield "postgres", (url, schema), postgres_factory(url, schema)()
    next(schemas, None)


async def test_a_row_under_a_near_copy_of_a_hash_does_not_stand_for_the_card(tmp_path, destination):
    """A destination holding a card's content under its hash with a space after it (or in upper
    case) had equal digests: each hash stood for its first 30 digits. Sync said the card was
    already there, run after run, and never copied it."""
    engine, where, config = destination
    card = MCard("Contract signed, only copy")
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "a.db")) as a, AsyncPersistenceWrapper(config) as b:
        await a.save(card)
        for variant in NEAR_COPIES:
            key = card.hash.upper() if variant == "upper" else card.hash + variant
            await _store_under(b, engine, where, card, key)
            await b.remove(card.hash)  # stored by the previous round
            assert await b.count() == 1
            result = await mcard.sync(a, b, progress=False)
            assert (result.copied, result.already_there) == (1, 0), variant
            assert await b.get(card.hash) == card


async def test_a_row_of_another_tool_with_a_hash_that_is_not_hex_is_reported(tmp_path):
    path = tmp_path / "a.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as a:
        await fill(a, sample_cards(20))
    insert_rows_of_another_tool(path, ["0-not-hex", "00000000zz"])
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as a, \
            AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "b.db")) as b:
        result = await mcard.sync(a, b, progress=False)
        assert result.copied == 20 and result.already_there == 0
        # a hash in a range of hex digits is named; others by the start they share, with a count
        assert sorted(card.hash for card in result.damaged) == ["0-", "00000000zz"]
        assert all("not lowercase hex" in card.reason for card in result.damaged)
        reasons = {card.hash: card.reason for card in result.damaged}
        assert "1 stored row whose hash starts with '0-'" in reasons["0-"]
        since = await mcard.sync(a, b, since=datetime(2000, 1, 1, tzinfo=timezone.utc), progress=False)
        assert (since.copied, since.already_there) == (0, 20)  # the rows' times are not known


async def test_a_row_under_the_empty_hash_does_not_hide_the_other_rows_that_are_not_hex(tmp_path):
    """Every hash starts with ``''``: a row stored under it had every other hash that is not hex
    counted as reported with it, and none of them was named."""
    path = tmp_path / "a.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as a:
        await fill(a, sample_cards(20))
    insert_rows_of_another_tool(path, ["", "00000000zz"])
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as a, \
            AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "b.db")) as b:
        result = await mcard.sync(a, b, progress=False)
        assert (result.copied, result.already_there) == (20, 0)
        assert sorted(card.hash for card in result.damaged) == ["", "00000000zz"]


@pytest.mark.parametrize("count", [20, 3000])  # a range or two, or every range, differing
async def test_rows_under_no_hash_anywhere_in_the_order_are_reported_once(tmp_path, count):
    """``zzz`` and ``é1`` sort after every hex hash: no range held them, so they were counted as
    already there and not reported. Upper case sorts between the digits and the letters: a
    merged range listed it, and it was reported by hash and with its start besides."""
    path = tmp_path / "a.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as a:
        await fill(a, sample_cards(count))
    insert_rows_of_another_tool(path, ["zzz999", "é123", "Gabc", "ABCDEF" + "0" * 58])
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as a, \
            AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "b.db")) as b:
        result = await mcard.sync(a, b, progress=False)
        assert result.copied == count and result.already_there == 0
        assert sorted(card.hash for card in result.damaged) == ["AB", "Ga", "zz", "é1"]  # each by its start, once



async def seen_at(store: AsyncPersistenceWrapper, cards: list[MCard]) -> dict[str, datetime]:
    """The ``seen_at`` of every sighting of ``cards``, by its key."""
    found = await store.sightings_of([card.hash for card in cards])
    return {s.key: s.seen_at for seen in found.values() for s in seen}


def seen_twice(cards: list[MCard], at: datetime) -> list[Sighting]:
    """A sighting of each card, named by its hash, first seen a second after the one before it."""
    return [Sighting.of(card.hash, name=f"{card.hash[:12]}.txt", path=f"dir/{card.hash[:12]}.txt",
                        seen_at=at + timedelta(seconds=i)) for i, card in enumerate(cards)]


async def test_a_sync_each_way_leaves_every_sighting_with_its_earliest_time(two, destination):
    """The same file imported into two stores at different times kept a different ``seen_at`` on
    each side after a sync each way: a range's digest covered a sighting by its key alone."""
    a, _ = two
    cards = sample_cards(300)
    async with AsyncPersistenceWrapper(destination[2]) as b:
        await a.save_many(cards[:200], sightings=seen_twice(cards[:100], START) + seen_twice(cards[100:200], START + DAY))
        await b.save_many(cards[50:], sightings=seen_twice(cards[50:100], START + 2 * DAY) + seen_twice(cards[100:200], START))
        earliest = await seen_at(a, cards[:100]) | await seen_at(b, cards[100:200])
        forth = await mcard.sync(a, b, progress=False)
        back = await mcard.sync(b, a, progress=False)
        assert (forth.copied, forth.sightings_added, forth.seen_at_earlier) == (50, 50, 50)
        assert (back.copied, back.sightings_added, back.seen_at_earlier) == (100, 0, 100)
        assert "100 sightings dated earlier" in str(back)
        for store in (a, b):
            assert await seen_at(store, cards) == earliest
        assert await everything(a) == await everything(b)
        assert await a.range_digests([""], 3) == await b.range_digests([""], 3)
        for source, dest in ((a, b), (b, a)):
            again = await mcard.sync(source, dest, progress=False)
            assert (again.copied, again.sightings_added, again.seen_at_earlier, again.already_there) == (0, 0, 0, 300)


async def test_a_destination_that_saw_a_sighting_first_keeps_its_time(two, destination):
    """A sync from a store that saw a sighting later changes nothing, run after run; a dry run
    the other way counts the sightings it would date earlier and writes nothing."""
    a, _ = two
    cards = sample_cards(80)
    async with AsyncPersistenceWrapper(destination[2]) as b:
        await a.save_many(cards, sightings=seen_twice(cards, START))
        await b.save_many(cards, sightings=seen_twice(cards, START + DAY))
        first, later = await seen_at(a, cards), await seen_at(b, cards)
        for _ in range(2):
            result = await mcard.sync(b, a, progress=False)
            assert (result.copied, result.bytes_copied, result.sightings_added, result.seen_at_earlier) == (0, 0, 0, 0)
            assert await seen_at(a, cards) == first
        planned = await mcard.sync(a, b, dry_run=True, progress=False)
        assert (planned.seen_at_earlier, planned.sightings_added, planned.copied) == (80, 0, 0)
        assert planned.as_dict()["seen_at_earlier"] == 80 and "80 sightings to date earlier" in str(planned)
        assert await seen_at(b, cards) == later
        done = await mcard.sync(a, b, batch_size=7, progress=False)
        assert (done.seen_at_earlier, done.sightings_added, done.copied) == (80, 0, 0)
        assert await seen_at(b, cards) == first
        assert await a.range_digests([""], 2) == await b.range_digests([""], 2)


async def test_a_range_digest_follows_the_time_a_sighting_was_first_seen(two, destination):
    a, _ = two
    cards = sample_cards(40)
    sooner = replace(seen_twice(cards, START)[5], seen_at=START - timedelta(microseconds=1))
    async with AsyncPersistenceWrapper(destination[2]) as b:
        for store in (a, b):
            await store.save_many(cards, sightings=seen_twice(cards, START))
        before = await a.range_digests([""], 2)
        assert before == await b.range_digests([""], 2) == await BaseStore._range_digests(b.store, [""], 2)
        for store in (a, b):
            await store.save_seen([cards[5]], [sooner])
        after = await a.range_digests([""], 2)
        assert [group for group in after if after[group] != before[group]] == [cards[5].hash[:2]]
        assert after == await b.range_digests([""], 2) == await BaseStore._range_digests(b.store, [""], 2)
        epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
        await a.save_seen([cards[6]], [Sighting.of(cards[6].hash, name="at the epoch", seen_at=epoch)])
        assert (await a.range_digests([""], 2))[cards[6].hash[:2]] != after[cards[6].hash[:2]]


async def test_ranges_whose_sightings_alone_differ_are_narrowed_before_their_labels_are_read(two, monkeypatch):
    """A sync from a store that saw 10 of 3,000 sightings later read the sightings and tags of
    every card in the 10 ranges of ~12 cards holding them, on both sides, at every run; now the
    ranges are narrowed to about a card first."""
    a, b = two
    cards = sample_cards(3000)
    await a.save_many(cards, sightings=seen_twice(cards, START + DAY))
    await b.save_many(cards, sightings=seen_twice(cards, START + DAY))
    sooner = [replace(seen, seen_at=START) for seen in seen_twice(cards, START + DAY)[::300]]
    await b.save_seen([cards[i] for i in range(0, 3000, 300)], sooner)
    read: list[int] = []
    for store in (a, b):
        labels_of = store.sightings_of

        async def counted(hashes: list[str], labels_of: Any = labels_of) -> Any:
            read.append(len(hashes))
            return await labels_of(hashes)

        monkeypatch.setattr(store, "sightings_of", counted)
    for _ in range(2):
        read.clear()
        result = await mcard.sync(a, b, progress=False)
        assert (result.seen_at_earlier, result.sightings_added, result.already_there) == (0, 0, 3000)
        assert sum(read) <= 2 * 30, read
    back = await mcard.sync(b, a, progress=False)
    assert back.seen_at_earlier == 10 and await everything(a) == await everything(b)


async def test_sightings_of_cards_both_hold_go_over_without_their_content(two, destination, monkeypatch):
    """Two stores that imported the same files: a sync read every such card's content from the
    source and saved it again to send its sightings (40 photos of 5 MB: 1.54 s, 200 MB). Only
    the sightings go now; a card the destination lacks is still read and copied."""
    a, _ = two
    cards = sample_cards(120)
    async with AsyncPersistenceWrapper(destination[2]) as b:
        await a.save_many(cards, sightings=seen_twice(cards, START) + [Sighting.of(cards[7].hash, name="only a.txt")])
        await b.save_many(cards[:100], sightings=seen_twice(cards[:100], START + DAY))
        read: list[str] = []
        get_many = a.get_many

        async def counted(hashes: Any) -> Any:
            read.extend(hashes)
            return await get_many(hashes)

        monkeypatch.setattr(a, "get_many", counted)
        result = await mcard.sync(a, b, batch_size=30, progress=False)
        assert sorted(read) == sorted(card.hash for card in cards[100:])
        assert (result.copied, result.already_there, result.sightings_added, result.seen_at_earlier) == (20, 100, 21, 100)
        assert result.bytes_copied == sum(card.size for card in cards[100:])
        assert await seen_at(b, cards) == await seen_at(a, cards)
        assert await everything(a) == await everything(b)
        again = await mcard.sync(a, b, progress=False)
        assert (again.copied, again.sightings_added, again.seen_at_earlier) == (0, 0, 0)


@contextlib.contextmanager
def removed_once_read(store: AsyncPersistenceWrapper, read: str, other: AsyncPersistenceWrapper, hash_str: str) -> Iterator[None]:
    """``store.<read>`` (how sync reads the destination's labels, or writes its sightings) followed,
    the first time it is given ``hash_str`` (or a sighting of it), by ``other`` removing that
    card: another writer's removal in the middle of a sync."""
    reading = getattr(store, read)
    removed: list[bool] = []

    async def then_removed(items: Any) -> Any:
        found = await reading(items)
        if not removed and hash_str in {item if isinstance(item, str) else item.hash for item in items}:
            removed.append(await other.remove(hash_str))
        return found

    setattr(store, read, then_removed)
    try:
        yield
    finally:
        delattr(store, read)
    assert removed == [True], f"{hash_str} was not removed after {read}"


async def test_a_card_removed_from_the_destination_during_a_sync_is_copied_again_with_its_sightings(two, destination):
    """Between listing a card both stores hold and adding its sightings, another writer removes
    it from the destination: the card is copied again with them (a sync brings back what a
    removal took, as the next sync would), never leaving sightings without their card."""
    a, _ = two
    cards = sample_cards(30)
    async with AsyncPersistenceWrapper(destination[2]) as b, AsyncPersistenceWrapper(destination[2]) as other:
        await a.save_many(cards, sightings=seen_twice(cards, START))
        await b.save_many(cards, sightings=seen_twice(cards[:20], START))
        gone = cards[25]
        with removed_once_read(b, "sightings_of", other, gone.hash):
            result = await mcard.sync(a, b, progress=False)
        assert (result.copied, result.bytes_copied, result.sightings_added, result.already_there) == (1, gone.size, 10, 29)
        assert await b.get(gone.hash) == gone and len(await b.sightings(gone.hash)) == 1
        assert await everything(a) == await everything(b)
        assert (await b.verify(progress=False)).ok


async def test_two_syncs_at_once_count_each_sighting_added_or_dated_once(two, destination):
    """Two syncs of the same stores at once: each sighting the destination lacked, and each it
    held first seen later, is counted by the one sync that wrote it (the earlier times were
    counted by both)."""
    a, _ = two
    cards = sample_cards(200)
    async with AsyncPersistenceWrapper(destination[2]) as b, AsyncPersistenceWrapper(destination[2]) as also_b:
        await a.save_many(cards, sightings=seen_twice(cards, START))
        await b.save_many(cards, sightings=seen_twice(cards[:120], START + DAY))
        results = await asyncio.gather(*(mcard.sync(a, dest, batch_size=20, progress=False) for dest in (b, also_b)))
        assert sum(result.sightings_added for result in results) == 80
        assert sum(result.seen_at_earlier for result in results) == 120
        assert await everything(a) == await everything(b)


async def test_a_card_removed_from_the_destination_while_its_tags_are_synced_comes_back_with_them(two, destination):
    """Both stores hold the same cards; one is tagged in the source alone. Another writer removes
    it from the destination once its labels are read: the sync goes on and copies it again with
    its tag (it was left out, for the next sync to copy the card back)."""
    a, _ = two
    cards = sample_cards(10)
    async with AsyncPersistenceWrapper(destination[2]) as b, AsyncPersistenceWrapper(destination[2]) as other:
        await a.save_many(cards)
        await b.save_many(cards)
        gone, kept = cards[4], cards[7]
        await a.tag_many([(gone.hash, "holiday"), (kept.hash, "holiday")])
        with removed_once_read(b, "tags_of", other, gone.hash):
            result = await mcard.sync(a, b, progress=False)
        assert (result.copied, result.already_there, result.tags_added) == (1, 9, 2)
        assert await b.get(gone.hash) == gone and await b.tags(gone.hash) == await b.tags(kept.hash) == ["holiday"]
        assert await everything(a) == await everything(b)
        again = await mcard.sync(a, b, progress=False)
        assert (again.copied, again.tags_added, again.already_there) == (0, 0, 10)


@pytest.mark.parametrize("step, sightings", [("sightings_of", 21), ("add_sightings", 22)])
async def test_a_card_removed_from_the_destination_during_a_sync_comes_back_with_all_its_sightings_and_tags(
    two, destination, step, sightings
):
    """Both stores held the same files, tagged ``one``; the source then imported them again
    under another folder with ``--tag three``. Another writer removed a card from the
    destination while the sync added those: it came back with the new sighting and tag alone
    (or without its tags, when removed once its sightings were added), the sync ended well, and
    only the next one mended it. It is copied again whole."""
    a, _ = two
    cards = sample_cards(20)
    async with AsyncPersistenceWrapper(destination[2]) as b, AsyncPersistenceWrapper(destination[2]) as other:
        await a.save_many(cards, sightings=seen_twice(cards, START))
        await a.tag_many([(card.hash, "one") for card in cards])
        await mcard.sync(a, b, progress=False)
        await a.save_seen(cards, [Sighting.of(card.hash, name=f"{card.hash[:12]}.txt", path=f"three/{card.hash[:12]}.txt",
                                              seen_at=START + DAY) for card in cards])
        await a.tag_many([(card.hash, "three") for card in cards])
        gone = cards[9]
        with removed_once_read(b, step, other, gone.hash):
            result = await mcard.sync(a, b, batch_size=7, progress=False)
        assert len(await b.sightings(gone.hash)) == 2 and await b.tags(gone.hash) == ["one", "three"]
        assert await everything(a) == await everything(b)
        assert (result.copied, result.already_there, result.tags_added, result.damaged) == (1, 19, 21, [])
        assert result.sightings_added == sightings  # once added, the new sighting is added again with the card
        again = await mcard.sync(a, b, progress=False)
        assert (again.copied, again.sightings_added, again.tags_added) == (0, 0, 0)
