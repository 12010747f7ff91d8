"""Contract: sightings (where content was seen, under what name) and tags, on every engine."""

import asyncio
import contextlib
import sqlite3
import unicodedata
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcard import AsyncPersistenceWrapper, HeldByDamagedError, MCard, NotStoredError, Sighting, StorageError, ValidationError
from mcard.domain.models.sighting import escaped

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


async def test_create_with_a_name_records_a_sighting(wrapper):
    card = await wrapper.create("seen as a file", name="notes.txt", source="upload")
    again = await wrapper.create("seen as a file", name="copy of notes.txt", source="upload")
    plain = await wrapper.create("seen with no name")
    assert again == card
    seen = await wrapper.sightings(card.hash)
    assert [(s.name, s.source, s.size) for s in seen] == [("notes.txt", "upload", card.size),
                                                           ("copy of notes.txt", "upload", card.size)]
    assert seen[0].seen_at <= seen[1].seen_at and seen[0].seen_at.tzinfo is not None
    assert await wrapper.sightings(plain.hash) == []
    assert await wrapper.names_of([card.hash, plain.hash]) == {card.hash: "copy of notes.txt"}


async def test_the_same_sighting_is_recorded_once_keeping_the_first_time(wrapper):
    card = MCard("imported twice")
    first = Sighting.of(card.hash, name="a.txt", path="docs/a.txt", size=14, mtime=T0, source="/data", seen_at=T0)
    later = Sighting.of(card.hash, name="a.txt", path="docs/a.txt", size=14, mtime=T0, source="/data",
                        seen_at=T0 + timedelta(days=1))
    other = Sighting.of(card.hash, name="b.txt", path="b.txt", size=14, mtime=T0, source="/data", seen_at=T0)
    assert await wrapper.save_many([card], sightings=[later]) == 1
    assert await wrapper.save_many([card], sightings=[first, other]) == 0
    seen = await wrapper.sightings(card.hash)
    assert [(s.path, s.seen_at) for s in seen] == [("docs/a.txt", T0), ("b.txt", T0)]
    assert seen[0].mtime == T0 and seen[0].source == "/data" and seen[0].size == 14


async def test_a_sightings_times_finer_than_a_microsecond_are_held_as_stored(wrapper):
    pd = pytest.importorskip("pandas")
    card = MCard("seen at a nanosecond")
    seen = Sighting.of(card.hash, name="n.txt", mtime=pd.Timestamp("2026-03-01T10:00:00.000001999Z"),
                       seen_at=pd.Timestamp("2026-03-02T10:00:00.999999999Z"))
    assert (seen.mtime, seen.seen_at) == (T0 + timedelta(hours=10, microseconds=1),
                                          T0 + timedelta(days=1, hours=10, microseconds=999999))
    assert type(seen.mtime) is datetime and type(seen.seen_at) is datetime
    await wrapper.save_many([card], sightings=[seen])
    assert await wrapper.sightings(card.hash) == [seen]


async def test_sightings_of_three_identical_files_show_them_as_one_card(wrapper):
    card = MCard(b"same bytes")
    files = [Sighting.of(card.hash, name=name, path=f"dir/{name}", size=10, source="/root") for name in "xyz"]
    assert await wrapper.save_many([card, card, card], sightings=files) == 1
    assert sorted(s.name for s in await wrapper.sightings(card.hash)) == ["x", "y", "z"]


async def test_a_sighting_of_a_card_not_saved_with_it_is_refused(wrapper):
    stored = await wrapper.create("stored before")
    with pytest.raises(ValidationError, match="not among the cards"):
        await wrapper.save_many([MCard("new")], sightings=[Sighting.of(stored.hash, name="x")])
    assert await wrapper.count() == 1


@pytest.mark.parametrize("bad", [
    dict(name=""), dict(name="a\nb"), dict(path="x\x1b[2J"), dict(size=-1), dict(size=True), dict(size=2**63),
    dict(mtime=datetime(2026, 1, 1)), dict(source=7), dict(name="x" * 5000),
])
def test_a_sighting_with_bad_fields_is_a_validation_error(bad):
    with pytest.raises(ValidationError):
        Sighting.of("ab" * 32, **bad)


async def test_tags_are_attached_detached_and_sorted(wrapper):
    card = await wrapper.create("tagged card")
    assert await wrapper.tag(card.hash, "holiday", "beach", " beach ") == 2
    assert await wrapper.tag(card.hash, "beach") == 0
    assert await wrapper.tags(card.hash) == ["beach", "holiday"]
    assert await wrapper.untag(card.hash, "beach", "never there") == 1
    assert await wrapper.tags(card.hash) == ["holiday"]
    assert await wrapper.tags_of([card.hash, MCard("other").hash]) == {card.hash: ["holiday"]}


async def test_the_short_hash_cards_are_shown_with_is_refused_not_found_untagged(wrapper):
    """A listing shows 12 hex digits of each hash: given those, the calls on one card's labels
    say it is a prefix, as ``get`` does, instead of telling of no tags or untagging nothing."""
    card = await wrapper.create("tagged card", name="seen.txt")
    await wrapper.tag(card.hash, "keep")
    for call in (wrapper.tags, wrapper.sightings, lambda key: wrapper.untag(key, "keep"),
                 lambda key: wrapper.tag(key, "more"), wrapper.get):
        with pytest.raises(ValidationError, match="a hash prefix"):
            await call(card.hash[:12])
    assert await wrapper.tags(card.hash) == ["keep"]


async def test_tagging_cards_that_are_not_stored_names_one_and_counts_the_others(wrapper):
    """The error stays a line however many hashes are missing (5,000 wrote 330 KB), and a
    hash prefix, as a table shows one, is said to be one."""
    kept = await wrapper.create("kept")
    gone = [MCard(f"gone {i}").hash for i in range(5000)]
    with pytest.raises(NotStoredError, match=r"^cannot tag cards that are not stored: [0-9a-f]{64} \(nor 4999 more\)$") as raised:
        await wrapper.tag_many([(kept.hash, "x")] + [(key, "x") for key in gone])
    assert sorted(raised.value.hashes) == sorted(gone) and isinstance(raised.value, ValidationError)
    assert await wrapper.tags(kept.hash) == []
    with pytest.raises(ValidationError, match=rf"^cannot tag cards that are not stored: {kept.hash[:12]}"
                                              r" \(a hash prefix\? resolve\(\) gives the whole hash\)$"):
        await wrapper.tag(kept.hash[:12], "x")


async def test_a_filter_of_forty_thousand_tags_finds_the_card_that_has_them_all(wrapper):
    """Every tag of a filter must be there: one list however many (PostgreSQL refused more than
    32,767 placeholders)."""
    both, one = await wrapper.create("has them all"), await wrapper.create("has one")
    tags = [f"t{i}" for i in range(40_000)]
    await wrapper.tag_many([(both.hash, tag) for tag in tags] + [(one.hash, tags[0])])
    assert await wrapper.list(tag=tags) == [both]
    assert await wrapper.list(20, tag=tags[:200]) == await wrapper.list(20, tag=tags) == [both]
    assert await wrapper.count(tag=tags) == 1
    assert [card.hash for card in await wrapper.search("has", tag=tags)] == [both.hash]
    assert await wrapper.count(tag=tags[:1]) == 2


@pytest.mark.parametrize("bad", ["", "   ", "a\tb", "bell\a", "x" * 201, "\udc80", 7, None])
async def test_a_tag_that_is_not_one_is_a_validation_error(wrapper, bad):
    card = await wrapper.create("card")
    with pytest.raises(ValidationError):
        await wrapper.tag(card.hash, bad)
    assert await wrapper.tags(card.hash) == []


async def test_tagging_a_hash_not_stored_fails_the_whole_batch(wrapper):
    stored = await wrapper.create("stored")
    missing = MCard("never stored").hash
    with pytest.raises(ValidationError, match=missing):
        await wrapper.tag_many([(stored.hash, "kept?"), (missing, "x")])
    assert await wrapper.tags(stored.hash) == []
    with pytest.raises(ValidationError):
        await wrapper.tag(missing, "x")
    assert await wrapper.tag_many([(stored.hash, "a"), (stored.hash, "b")]) == 2


async def test_a_pair_to_tag_is_any_two_items_in_order(wrapper):
    """A row of ``df[["hash", "tag"]].values`` (a NumPy array) or a list was refused: only a tuple was a pair."""
    import numpy as np

    card = await wrapper.create("tagged from a frame")
    rows = np.array([[card.hash, "a"], [card.hash, "b"]], dtype=object)
    assert await wrapper.tag_many(rows) == 2
    assert await wrapper.tag_many([[card.hash, "c"]]) == 1
    assert await wrapper.tags(card.hash) == ["a", "b", "c"]
    assert await wrapper.untag_many([[card.hash, "a"]]) == 1
    for bad in ([card.hash], [card.hash, "x", "y"], "ab", {card.hash: "x", "y": 1}):
        with pytest.raises(ValidationError, match="takes \\(hash, tag\\) pairs"):
            await wrapper.tag_many([bad])


async def test_removing_a_card_removes_its_sightings_and_tags(wrapper):
    card = await wrapper.create("short lived", name="gone.txt")
    await wrapper.tag(card.hash, "doomed")
    assert await wrapper.remove(card.hash)
    assert await wrapper.sightings(card.hash) == [] and await wrapper.tags(card.hash) == []
    back = await wrapper.create("short lived")
    assert await wrapper.sightings(back.hash) == [] and await wrapper.tags(back.hash) == []
    assert (await wrapper.verify()).ok  # with its progress bar, as called by default


async def test_concurrent_tagging_and_saving_each_get_their_outcome(wrapper):
    import asyncio

    cards = [await wrapper.create(f"card {i}") for i in range(5)]
    missing = MCard("absent").hash
    outcomes = await asyncio.gather(
        *(wrapper.tag(card.hash, "group", f"n{i}") for i, card in enumerate(cards)),
        wrapper.tag(missing, "nope"),
        *(wrapper.create(f"more {i}", name=f"more{i}.txt") for i in range(5)),
        return_exceptions=True,
    )
    assert outcomes[:5] == [2] * 5 and isinstance(outcomes[5], ValidationError)
    assert all(isinstance(o, MCard) for o in outcomes[6:])
    assert await wrapper.tags(cards[3].hash) == ["group", "n3"]
    assert len(await wrapper.sightings(outcomes[6].hash)) == 1


TAGS = st.sampled_from(["a", "b", "c", "Holiday", "holiday", "ü", "u\u0308", "two words", "caf\u00e9", "cafe\u0301"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.booleans(), st.integers(0, 2), st.lists(TAGS, max_size=3)), max_size=12))
async def test_tags_behave_like_a_set_per_card(make_config, steps):
    async with AsyncPersistenceWrapper(make_config()) as store:
        cards = [await store.create(f"model card {i}") for i in range(3)]
        model: dict[str, set[str]] = {card.hash: set() for card in cards}
        for attach, index, words in steps:
            key = cards[index].hash
            words = [unicodedata.normalize("NFC", word) for word in words]  # one tag however typed
            if attach:
                assert await store.tag(key, *words) == len(set(words) - model[key])
                model[key] |= set(words)
            else:
                assert await store.untag(key, *words) == len(set(words) & model[key])
                model[key] -= set(words)
        assert await store.tags_of(model) == {key: sorted(tags) for key, tags in model.items() if tags}
        await store.remove_many(list(model))


COMPOSED, DECOMPOSED = "caf\u00e9", "cafe\u0301"


async def test_a_tag_is_one_tag_whatever_its_unicode_normal_form(wrapper):
    typed, from_mac, other = [await wrapper.create(f"tagged {i}") for i in range(3)]
    assert await wrapper.tag(typed.hash, COMPOSED) == 1
    assert await wrapper.tag(from_mac.hash, DECOMPOSED, f" {DECOMPOSED} ") == 1
    assert await wrapper.tag_many([(typed.hash, DECOMPOSED), (other.hash, DECOMPOSED)]) == 1
    assert await wrapper.tags(from_mac.hash) == [COMPOSED]
    assert await wrapper.tags_of([typed.hash, other.hash]) == {typed.hash: [COMPOSED], other.hash: [COMPOSED]}
    expected = {typed.hash, from_mac.hash, other.hash}
    for tag in (COMPOSED, DECOMPOSED):
        assert {c.hash for c in await wrapper.list(tag=tag)} == expected
        assert {c.hash for c in await wrapper.find(f"tag:{tag}")} == expected
        assert await wrapper.facets(f"tag:{tag}", by=["tag"]) == {"tag": [(COMPOSED, 3)]}
    assert await wrapper.facets(by=["tag"]) == {"tag": [(COMPOSED, 3)]}
    assert await wrapper.untag(typed.hash, DECOMPOSED) == 1
    assert await wrapper.untag_many([(from_mac.hash, COMPOSED), (other.hash, DECOMPOSED)]) == 2
    assert await wrapper.facets(by=["tag"]) == {"tag": []}


def needs_a_second_connection(make_config) -> None:
    if getattr(make_config(), "in_memory", False):
        pytest.skip("a :memory: store is one connection's")


def needs_a_read_only_open(make_config) -> None:
    if getattr(make_config(), "in_memory", False):
        pytest.skip("a :memory: store cannot be opened read-only")


@contextlib.asynccontextmanager
async def three_writers(make_config) -> AsyncIterator[list[AsyncPersistenceWrapper]]:
    """Three stores open on the engine's one database, writing at once."""
    needs_a_second_connection(make_config)
    async with contextlib.AsyncExitStack() as opened:
        yield [await opened.enter_async_context(AsyncPersistenceWrapper(make_config())) for _ in range(3)]


async def _tags_written_as_they_are(config, hash_str: str, tags: list[str], *, before_composing: bool) -> None:
    """``tags`` of ``hash_str`` stored as they are (by another tool); ``before_composing``: by a
    store of an earlier mcard, which never composed its tags."""
    if hasattr(config, "db_path"):
        with sqlite3.connect(config.db_path) as db:
            db.executemany("INSERT INTO tag (hash, tag) VALUES (?, ?)", [(hash_str, tag) for tag in tags])
            if before_composing:
                db.execute("DELETE FROM mcard_meta WHERE key = 'composed_tags'")
        return
    import asyncpg

    conn = await asyncpg.connect(config.dsn)
    try:
        prefix = f'"{config.schema}"."{config.table}'
        await conn.executemany(f'INSERT INTO {prefix}_tag" (hash, tag) VALUES ($1, $2)', [(hash_str, t) for t in tags])
        if before_composing:
            await conn.execute(f"DELETE FROM {prefix}_meta\" WHERE key = 'composed_tags'")
    finally:
        await conn.close()


async def test_tags_an_earlier_mcard_stored_decomposed_are_composed_when_the_store_opens(make_config):
    needs_a_second_connection(make_config)
    async with AsyncPersistenceWrapper(make_config()) as cards:
        both, mac = await cards.create("tagged twice"), await cards.create("tagged on a Mac")
        await cards.tag(both.hash, COMPOSED, "plain")
    await _tags_written_as_they_are(make_config(), both.hash, [DECOMPOSED], before_composing=True)
    await _tags_written_as_they_are(make_config(), mac.hash, [DECOMPOSED, "nai\u0308ve"], before_composing=True)
    async with AsyncPersistenceWrapper(make_config()) as cards:
        assert await cards.tags_of([both.hash, mac.hash]) == {
            both.hash: [COMPOSED, "plain"], mac.hash: [COMPOSED, "na\u00efve"],
        }
        assert await cards.facets(by=["tag"]) == {"tag": [(COMPOSED, 2), ("na\u00efve", 1), ("plain", 1)]}
        assert {c.hash for c in await cards.find(f"tag:{DECOMPOSED}")} == {both.hash, mac.hash}
        assert await cards.untag(mac.hash, "na\u00efve") == 1
        assert not (await cards.verify()).damaged
    await _tags_written_as_they_are(make_config(), mac.hash, ["re\u0301sume\u0301"], before_composing=False)
    async with AsyncPersistenceWrapper(make_config()) as cards:  # another tool's, as tags with spaces around
        assert await cards.tags(mac.hash) == [COMPOSED]
        [damaged] = (await cards.verify()).damaged
        assert (damaged.part, damaged.label) == ("tag", "re\u0301sume\u0301") and "composed (NFC)" in damaged.reason


async def test_a_read_only_open_of_a_store_with_tags_not_yet_composed_says_they_are_left_out(make_config, caplog):
    """PostgreSQL left them out without a word."""
    needs_a_read_only_open(make_config)
    async with AsyncPersistenceWrapper(make_config()) as cards:
        card = await cards.create("tagged on a Mac")
    await _tags_written_as_they_are(make_config(), card.hash, [DECOMPOSED], before_composing=True)
    async with AsyncPersistenceWrapper(make_config(read_only=True)) as cards:
        assert await cards.tags(card.hash) == []
    assert "opened once for writing" in caplog.text
    caplog.clear()
    async with AsyncPersistenceWrapper(make_config()) as cards:
        assert await cards.tags(card.hash) == [COMPOSED]
    async with AsyncPersistenceWrapper(make_config(read_only=True)) as cards:
        assert await cards.tags(card.hash) == [COMPOSED]
    assert "decomposed" not in caplog.text


async def test_tags_another_tool_wrote_decomposed_or_spaced_are_mended_not_lost(make_config):
    """``repair_damaged`` attaches such a tag as mcard stores it and ``remove_damaged`` takes the
    stored form away: the card keeps its tag (``verify --remove`` deleted it)."""
    needs_a_second_connection(make_config)
    async with AsyncPersistenceWrapper(make_config()) as cards:
        mac, both, gone = [await cards.create(text) for text in ("from a Mac", "tagged twice", "removed meanwhile")]
        await cards.tag(both.hash, COMPOSED)
    await _tags_written_as_they_are(make_config(), mac.hash, ["re\u0301sume\u0301", " inbox ", "a\tb"], before_composing=False)
    await _tags_written_as_they_are(make_config(), both.hash, [DECOMPOSED], before_composing=False)
    await _tags_written_as_they_are(make_config(), gone.hash, [DECOMPOSED], before_composing=False)
    async with AsyncPersistenceWrapper(make_config()) as cards:
        report = await cards.verify()
        assert len(report.damaged) == 5
        await cards.remove(gone.hash)
        assert await cards.repair_damaged(report.damaged) == 2
        assert await cards.remove_damaged(report.damaged) == 4
        assert await cards.tags_of([mac.hash, both.hash, gone.hash]) == {
            mac.hash: ["inbox", "r\u00e9sum\u00e9"], both.hash: [COMPOSED],
        }
        assert not (await cards.verify()).damaged
        assert await cards.repair_damaged(report.damaged) == 0


async def test_a_read_only_store_shows_labels_and_refuses_to_change_them(make_config):
    needs_a_read_only_open(make_config)
    async with AsyncPersistenceWrapper(make_config()) as writer:
        card = await writer.create("labelled", name="l.txt")
        await writer.tag(card.hash, "kept")
    async with AsyncPersistenceWrapper(make_config(read_only=True)) as reader:
        assert await reader.tags(card.hash) == ["kept"] and len(await reader.sightings(card.hash)) == 1
        with pytest.raises(StorageError):
            await reader.tag(card.hash, "new")


async def test_sightings_at_the_same_moment_are_ordered_alike_on_every_engine(wrapper):
    """Ties on ``seen_at`` go by the sighting's key: the latest name, the order of
    ``sightings()`` and ``order="name"`` do not depend on the engine or on the order given."""
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    a, b = MCard("card a"), MCard("card b")
    given = [Sighting.of(a.hash, name=name, seen_at=at) for name in ("a-zeta", "a-alpha")]
    await wrapper.save(a, sightings=given)
    await wrapper.save(b, sightings=[Sighting.of(b.hash, name="a-middle", seen_at=at)])
    by_key = sorted(given, key=lambda s: s.key)
    assert [s.name for s in await wrapper.sightings(a.hash)] == [s.name for s in by_key]
    assert (await wrapper.names_of([a.hash]))[a.hash] == by_key[-1].name
    named_a = by_key[-1].name
    assert [c.content for c in await wrapper.list(order="name")] == (
        ["card a", "card b"] if named_a < "a-middle" else ["card b", "card a"])


async def test_by_name_from_the_end_keeps_ties_newest_first_and_unnamed_cards_last(wrapper):
    """``order="name_desc"`` is not ``"name"`` reversed: cards of one name stay newest first,
    and cards never named come last, newest first, as in ``"name"``."""
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    cards = [MCard(f"card {i}", g_time=at + timedelta(minutes=i)) for i in range(6)]
    names = ["b.txt", "a.txt", "b.txt", None, "C.txt", None]
    for card, name in zip(cards, names):
        await wrapper.save(card, sightings=[Sighting.of(card.hash, name=name, seen_at=at)] if name else [])
    expected = [cards[2], cards[0], cards[1], cards[4], cards[5], cards[3]]  # by code point: "C" < "a" < "b"
    assert await wrapper.list(order="name_desc") == expected
    assert await wrapper.list(2, 1, order="name_desc") == expected[1:3]
    assert await wrapper.list(order="name") == [cards[4], cards[1], cards[2], cards[0], cards[5], cards[3]]
    assert list(await wrapper.find("card", order="name_desc")) == expected
    assert list(await wrapper.find("kind:text", order="name_desc")) == expected


async def test_save_seen_counts_the_cards_and_sightings_that_were_new(wrapper):
    card, other = MCard("counted"), MCard("counted too")
    a = Sighting.of(card.hash, name="a.txt", seen_at=T0 + timedelta(days=1))
    b = Sighting.of(card.hash, name="b.txt", seen_at=T0)
    a_earlier = Sighting.of(card.hash, name="a.txt", seen_at=T0)
    assert await wrapper.save_seen([card, card], [a, a, b]) == (1, 2)
    assert await wrapper.save_seen([card, other], [a_earlier]) == (1, 0)
    assert sorted((s.name, s.seen_at) for s in await wrapper.sightings(card.hash)) == [("a.txt", T0), ("b.txt", T0)]
    assert await wrapper.save_seen([other], []) == (0, 0)


async def test_stores_recording_the_same_sightings_at_once_count_each_once(make_config):
    """Each new sighting is counted by the one writer that recorded it: three imports of the
    same files at once reported 7,000 to 9,000 new sightings of 3,000."""
    import asyncio

    async with three_writers(make_config) as stores:
        for round in range(4):
            cards = [MCard(f"round {round} file {i}") for i in range(150)]
            seen = [Sighting.of(card.hash, name=f"f{i}.txt", path=f"r{round}/f{i}.txt", seen_at=T0)
                    for i, card in enumerate(cards)]
            halves = [seen[:100], seen[50:], seen]  # each writer its own mix, in batches of 10
            saved = await asyncio.gather(*(
                _save_in_batches(store, cards, mine[::-1] if n % 2 else mine)
                for n, (store, mine) in enumerate(zip(stores, halves))
            ))
            assert sum(cards for cards, _ in saved) == 150
            assert sum(recorded for _, recorded in saved) == 150
            assert len(await stores[0].names_of([card.hash for card in cards])) == 150


async def _save_in_batches(store: AsyncPersistenceWrapper, cards: list[MCard], seen: list[Sighting]) -> tuple[int, int]:
    by_hash = {card.hash: card for card in cards}
    new = recorded = 0
    for start in range(0, len(seen), 10):
        batch = seen[start:start + 10]
        saved = await store.save_seen([by_hash[s.hash] for s in batch], batch)
        new, recorded = new + saved.cards, recorded + saved.sightings
    return new, recorded


async def test_add_sightings_records_sightings_of_stored_cards_and_counts_them(wrapper):
    """Sightings of cards a store holds go in without their content (what sync sends for the
    cards both stores hold): each new one counted once, one recorded later moved back to the
    earlier time given and counted as such, never forward."""
    card, other = await wrapper.create("seen again"), await wrapper.create("seen again too")
    a_later = Sighting.of(card.hash, name="a.txt", seen_at=T0 + timedelta(days=2))
    a = Sighting.of(card.hash, name="a.txt", seen_at=T0 + timedelta(days=1))
    b = Sighting.of(other.hash, name="b.txt", seen_at=T0)
    assert await wrapper.add_sightings([a_later, a, b, b]) == (2, 0)
    assert await wrapper.add_sightings([Sighting.of(card.hash, name="a.txt", seen_at=T0), a_later, b]) == (0, 1)
    assert [(s.name, s.seen_at) for s in await wrapper.sightings(card.hash)] == [("a.txt", T0)]
    assert await wrapper.add_sightings(iter([])) == (0, 0)
    assert (await wrapper.add_sightings([b])).added == 0 and await wrapper.count() == 2


async def test_add_sightings_of_a_card_not_stored_writes_none_of_them(wrapper):
    """No sighting is ever left without its card: one naming a card the store lacks (another
    writer removed it) fails the call, naming every such card, and nothing of it is written."""
    kept, removed, never = await wrapper.create("kept"), await wrapper.create("removed"), MCard("never stored")
    await wrapper.remove(removed.hash)
    given = [Sighting.of(h, name=f"{n}.txt", seen_at=T0) for n, h in enumerate([kept.hash, removed.hash, never.hash])]
    with pytest.raises(NotStoredError) as raised:
        await wrapper.add_sightings(given)
    assert isinstance(raised.value, ValidationError)
    assert sorted(raised.value.hashes) == sorted([removed.hash, never.hash])
    assert await wrapper.sightings_of([kept.hash, removed.hash, never.hash]) == {}
    assert (await wrapper.verify()).ok


async def test_add_sightings_refuses_bad_arguments(wrapper):
    card = await wrapper.create("argued")
    for bad in (Sighting.of(card.hash, name="x"), "x", None, [card]):
        with pytest.raises(ValidationError):
            await wrapper.add_sightings(bad)


async def test_a_name_holding_bytes_that_were_not_utf8_is_refused_saying_how_to_write_it(wrapper):
    """``os.listdir`` gives a file name that is not UTF-8 with lone surrogates: the message
    says so, not that it holds control characters; escaped, it is stored."""
    raw_name = b"caf\xe9.txt".decode("utf-8", "surrogateescape")
    with pytest.raises(ValidationError, match=r"lone surrogates, which stand for bytes that were not UTF-8 .*as an import does"):
        await wrapper.create("a file", name=raw_name)
    card = await wrapper.create("a file", name=escaped(raw_name))
    assert [seen.name for seen in await wrapper.sightings(card.hash)] == ["caf\\xe9.txt"]


async def test_add_sightings_to_a_row_another_tool_changed_writes_none_of_them(make_config):
    """A sighting names content by its hash: recorded on a row holding other content it would
    name that content. The call fails as a save of the card does, naming it."""
    needs_a_second_connection(make_config)
    async with AsyncPersistenceWrapper(make_config()) as cards:
        sound, target = await cards.create("sound"), await cards.create("to be changed")
    await _content_changed(make_config(), target.hash)
    async with AsyncPersistenceWrapper(make_config()) as cards:
        with pytest.raises(HeldByDamagedError) as raised:
            await cards.add_sightings([Sighting.of(sound.hash, name="s"), Sighting.of(target.hash, name="t")])
        assert raised.value.hash == target.hash
        assert await cards.sightings_of([sound.hash, target.hash]) == {}
        assert await cards.add_sightings([Sighting.of(sound.hash, name="s")]) == (1, 0)


async def test_tags_on_a_row_another_tool_changed_write_none_of_them(make_config):
    """A tag names content by its hash, as a sighting does: put on a row holding other content it
    would label that content. The call fails naming the card, nothing of it is written, in a
    batch with other writes too; taking tags off such a row is allowed."""
    needs_a_second_connection(make_config)
    async with AsyncPersistenceWrapper(make_config()) as cards:
        sound, target = await cards.create("sound"), await cards.create("to be changed")
        await cards.tag(target.hash, "before")
    await _content_changed(make_config(), target.hash)
    async with AsyncPersistenceWrapper(make_config()) as cards:
        with pytest.raises(HeldByDamagedError) as raised:
            await cards.tag_many([(sound.hash, "s"), (target.hash, "t")])
        assert raised.value.hash == target.hash
        for tags in (("before", "t"), ("before",)):  # tags it has already: refused all the same
            with pytest.raises(HeldByDamagedError):
                await cards.tag(target.hash, *tags)
        other = MCard("written beside the refused tags")
        outcomes = await asyncio.gather(cards.save(other), cards.tag(target.hash, "t"), cards.tag(sound.hash, "s"),
                                        return_exceptions=True)
        assert isinstance(outcomes[1], HeldByDamagedError) and outcomes[0] is True and outcomes[2] == 1
        assert await cards.tags_of([sound.hash, target.hash]) == {sound.hash: ["s"], target.hash: ["before"]}
        assert await cards.untag(target.hash, "before") == 1
        assert await cards.get(other.hash) == other
        # in one batch with a later write that takes the tag or the card away, each call says its own outcome
        outcomes = await asyncio.gather(cards.save(MCard("first of the batch")), cards.tag(sound.hash, "s"),
                                        cards.untag(sound.hash, "s"), cards.tag(target.hash, "u"), cards.remove(target.hash),
                                        return_exceptions=True)
        assert outcomes[:3] == [True, 0, 1] and isinstance(outcomes[3], HeldByDamagedError) and outcomes[4] is True


async def _content_changed(config, hash_str: str) -> None:
    """The row of ``hash_str`` given other content of its size, as another tool might."""
    if hasattr(config, "db_path"):
        with sqlite3.connect(config.db_path) as db:
            db.execute("UPDATE card SET content = CAST('forged' AS BLOB), size = 6 WHERE hash = ?", (hash_str,))
        db.close()
        return
    import asyncpg

    conn = await asyncpg.connect(config.dsn)
    try:
        await conn.execute(f'UPDATE "{config.schema}"."{config.table}" SET content = $1, size = 6 WHERE hash = $2',
                           b"forged", hash_str)
    finally:
        await conn.close()


async def test_a_read_only_store_refuses_to_add_sightings(make_config):
    needs_a_read_only_open(make_config)
    async with AsyncPersistenceWrapper(make_config()) as writer:
        card = await writer.create("only read")
    async with AsyncPersistenceWrapper(make_config(read_only=True)) as reader:
        with pytest.raises(StorageError):
            await reader.add_sightings([Sighting.of(card.hash, name="r.txt")])
        assert await reader.sightings(card.hash) == []


async def test_stores_adding_the_same_sightings_at_once_count_each_once(make_config):
    """As with ``save_seen``: three writers adding the same sightings (and earlier times of
    them) at once count each new sighting, and each time moved back, once between them."""
    import asyncio

    async with three_writers(make_config) as stores:
        cards = [await stores[0].create(f"added at once {i}") for i in range(150)]
        for round, at in enumerate((T0 + timedelta(days=1), T0)):
            seen = [Sighting.of(card.hash, name=f"f{i}.txt", seen_at=at) for i, card in enumerate(cards)]
            halves = [seen[:100], seen[50:], seen]
            done = await asyncio.gather(*(
                _add_in_batches(store, mine[::-1] if n % 2 else mine) for n, (store, mine) in enumerate(zip(stores, halves))
            ))
            assert [sum(column) for column in zip(*done)] == ([150, 0] if round == 0 else [0, 150])
        assert {s.seen_at for found in (await stores[1].sightings_of([c.hash for c in cards])).values() for s in found} == {T0}


async def _add_in_batches(store: AsyncPersistenceWrapper, seen: list[Sighting]) -> tuple[int, int]:
    added = earlier = 0
    for start in range(0, len(seen), 10):
        done = await store.add_sightings(seen[start:start + 10])
        added, earlier = added + done.added, earlier + done.earlier
    return added, earlier
