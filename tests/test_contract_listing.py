"""Contract: listing, counting, time ranges, paging and search — the same on every engine."""

import asyncio
import fnmatch
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcard import AsyncPersistenceWrapper, MCard, Sighting, ValidationError
from mcard.domain.models.card import to_micros
from mcard.domain.query import ORDERS, Filters, sort_cards
from tests.writing import written_meanwhile

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
async def timeline(wrapper):
    """Ten cards one second apart: 'card 0' at T0 ... 'card 9' at T0+9s."""
    cards = [MCard(f"card {i}", g_time=at(i)) for i in range(10)]
    await wrapper.save_many(cards)
    return cards


async def test_list_is_newest_first(wrapper, timeline):
    assert await wrapper.list() == timeline[::-1]


async def test_list_limit_and_offset(wrapper, timeline):
    assert await wrapper.list(limit=3) == timeline[9:6:-1]
    assert await wrapper.list(limit=3, offset=8) == timeline[1::-1]
    assert await wrapper.list(limit=0) == []
    assert await wrapper.list(offset=20) == []


async def test_time_bounds_are_inclusive(wrapper, timeline):
    assert await wrapper.list(start_time=at(3), end_time=at(5)) == timeline[5:2:-1]
    assert await wrapper.count(start_time=at(3), end_time=at(5)) == 3
    assert await wrapper.count(start_time=at(8)) == 2
    assert await wrapper.count(end_time=at(0)) == 1
    assert await wrapper.count(start_time=at(6), end_time=at(2)) == 0


async def test_time_bounds_have_microsecond_precision(wrapper, timeline):
    just_after = at(3) + timedelta(microseconds=1)
    assert await wrapper.count(start_time=just_after, end_time=at(5)) == 2
    assert await wrapper.count(start_time=at(3), end_time=at(5) - timedelta(microseconds=1)) == 2


async def test_time_bounds_compare_instants_across_offsets(wrapper, timeline):
    new_york = timezone(timedelta(hours=-5))
    start = at(3).astimezone(new_york)
    assert start.hour == 19
    assert await wrapper.count(start_time=start, end_time=at(5)) == 3


async def test_naive_or_non_datetime_bounds_are_rejected(wrapper, timeline):
    with pytest.raises(ValidationError, match="timezone-aware"):
        await wrapper.list(start_time=datetime(2026, 1, 1))
    with pytest.raises(ValidationError):
        await wrapper.count(end_time="2026-01-01")


@pytest.mark.parametrize("options", [{"limit": -1}, {"offset": -1}, {"limit": "5"}, {"offset": 1.5}, {"limit": True}, {"limit": 2**63}])
async def test_bad_limit_or_offset_is_rejected(wrapper, options):
    with pytest.raises(ValidationError):
        await wrapper.list(**options)


LARGEST = 2**63 - 1


@pytest.mark.parametrize("limit, offset", [(1, LARGEST), (LARGEST, 1), (2**62, 2**62), (LARGEST, LARGEST)])
async def test_the_largest_limit_and_offset_together(wrapper, timeline, limit, offset):
    """Each is in range on its own; their sum is not, and no engine may pass it on as is."""
    expected = timeline[::-1][offset:][:limit]  # every card matches "card", all scored alike
    assert await wrapper.list(limit, offset) == expected
    assert await wrapper.list(limit, offset, order="oldest") == timeline[offset:][:limit]
    for mode in ("substring", "words", "regex"):
        assert await wrapper.search("card", limit, offset, mode=mode) == expected
    for query in ("card", "after:2025-01-01", "card after:2025-01-01"):
        found = await wrapper.find(query, limit, offset)
        assert list(found) == expected and found.total == 10


GLOB_NAMES = ["a", "_", "z", "-", "^", "]", "[", "!", "b.png", "photo [1].png", "é", "😀", "\\", "a-b", "x%y", "A"]
GLOB_PATTERNS = [
    "*.png", "[!a]*", "[^a]*", "photo [[]1].png", "a[b", "[]]", "[!]]", "*[*]*", "?.png", "[a-c]*", "[]-b]", "[^-a]",
    "[^]", "[z-a]", "[!]-b]", "[!z-a]", "[--0]", "[\\]", "[a-]", "[!-]", "x%y", "x_y", "[z-a-c]", "*", "[!é]",
    "[-^]", "[^-]", "[-^-]", "a\x00", "a\udcff*",
]


async def test_name_globs_match_as_fnmatchcase(wrapper):
    cards = [MCard(f"named {name}") for name in GLOB_NAMES]
    for card, name in zip(cards, GLOB_NAMES):
        await wrapper.save(card, sightings=[Sighting.of(card.hash, name=name)])
    for pattern in GLOB_PATTERNS:
        found = {card.content for card in await wrapper.list(name=pattern)}
        assert found == {f"named {n}" for n in GLOB_NAMES if fnmatch.fnmatchcase(n, pattern)}, pattern


COMPOSED, DECOMPOSED = "caf\u00e9", "cafe\u0301"
UNICODE_NAMES = [
    f"{COMPOSED}.txt", f"{DECOMPOSED}.txt", "cafe.txt", "\u212b.txt", "\u00c5ngstr\u00f6m.txt",
    "A\u030angstro\u0308m.txt", "\u65e5\u672c.png", "\u0391\u0301\u03b8\u03ae\u03bd\u03b1.txt", "\U0001f600.txt",
]
UNICODE_PATTERNS = [
    f"{COMPOSED}*", f"{DECOMPOSED}*", "caf?.txt", "caf[\u00e9].txt", "caf[!e].txt", "cafe*", "*\u0301*",
    "\u00c5*", "A\u030a*", "\u212b.txt", "\u0386*", "*.txt", "\u65e5*",
]


async def test_a_name_filter_finds_a_name_whatever_its_normal_form(wrapper):
    cards = [MCard(f"named {name}") for name in UNICODE_NAMES]
    for card, name in zip(cards, UNICODE_NAMES):
        await wrapper.save(card, sightings=[Sighting.of(card.hash, name=name)])
    both = {f"named {COMPOSED}.txt", f"named {DECOMPOSED}.txt"}
    for pattern, expected in [(f"{COMPOSED}*", both), (f"{DECOMPOSED}*", both), ("caf[\u00e9].txt", both),
                              ("caf?.txt", both | {"named cafe.txt"}), ("cafe*", {"named cafe.txt"})]:
        assert {card.content for card in await wrapper.list(name=pattern)} == expected, ascii(pattern)
        assert {card.content for card in await wrapper.find(f"name:{pattern}")} == expected, ascii(pattern)
    for pattern in UNICODE_PATTERNS:
        expected = {f"named {n}" for n in UNICODE_NAMES if Filters.of(name=pattern).matches(
            content_type=None, size=0, micros=0, tags=(), names=[n])}
        assert {card.content for card in await wrapper.list(name=pattern)} == expected, ascii(pattern)
    assert [s.name for s in await wrapper.sightings(cards[1].hash)] == [f"{DECOMPOSED}.txt"]  # kept as seen


NAME_PIECES = st.sampled_from(["e", "\u0301", "\u00e9", "a", "\u0308", "\u00e4", "K", "\u212a", "\u0323", "\u1ec7", "."])
GLOB_PIECES = st.one_of(NAME_PIECES, st.sampled_from(["*", "?", "[", "]", "!"]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.text(NAME_PIECES, min_size=1, max_size=5), min_size=1, max_size=6),
       patterns=st.lists(st.text(GLOB_PIECES, min_size=1, max_size=5), min_size=1, max_size=4))
async def test_name_filters_over_any_normal_form_agree_with_the_reference(make_config, names, patterns):
    async with AsyncPersistenceWrapper(make_config()) as store:
        cards = [MCard(f"seen as {i}") for i in range(len(names))]
        await store.save_many(cards, sightings=[Sighting.of(c.hash, name=n) for c, n in zip(cards, names)])
        for pattern in patterns:
            reference = Filters.of(name=pattern)
            expected = {c.hash for c, n in zip(cards, names)
                        if reference.matches(content_type=None, size=0, micros=0, tags=(), names=[n])}
            assert {c.hash for c in await store.list(name=pattern)} == expected, (ascii(names), ascii(pattern))
            assert await store.count(name=pattern) == len(expected)
        await store.remove_many([c.hash for c in cards])


async def test_a_thousand_tag_filters_are_one_test(wrapper):
    card, other = await wrapper.create("tagged a thousand times"), await wrapper.create("tagged once")
    tags = [f"t{i:04d}" for i in range(1000)]
    await wrapper.tag(card.hash, *tags)
    await wrapper.tag(other.hash, tags[0])
    assert await wrapper.list(tag=tags) == [card]
    assert await wrapper.count(tag=[*tags, "missing"]) == 0
    found = await wrapper.find(" ".join(f"tag:{tag}" for tag in tags[:900]))
    assert list(found) == [card] and found.total == 1


async def test_equal_times_are_ordered_by_hash(wrapper):
    cards = [MCard(f"tie {i}", g_time=T0) for i in range(5)]
    await wrapper.save_many(cards)
    listed = await wrapper.list()
    assert [c.hash for c in listed] == sorted((c.hash for c in cards), reverse=True)


async def test_paging_by_offset_matches_the_full_listing(wrapper):
    cards = [MCard(f"page {i}", g_time=at(i // 3)) for i in range(95)]
    await wrapper.save_many(cards)
    pages = []
    for offset in range(0, 100, 10):
        pages.extend(await wrapper.list(limit=10, offset=offset))
    assert pages == await wrapper.list()


async def test_paging_sees_writes_made_between_pages(wrapper):
    await wrapper.save_many([MCard(f"p{i}", g_time=at(i)) for i in range(20)])
    first = await wrapper.list(limit=5, offset=0)
    newest = MCard("newest", g_time=at(100))
    await wrapper.save(newest)
    second = await wrapper.list(limit=5, offset=5)
    assert second[0] == first[-1]
    await wrapper.remove(newest.hash)
    await wrapper.remove(first[0].hash)
    third = await wrapper.list(limit=5, offset=5)
    assert third == (await wrapper.list())[5:10]



async def test_paging_by_tag_or_name_sees_labels_changed_between_pages(wrapper):
    """Tagging, untagging or a new sighting between two pages moves cards in or out of a
    filtered listing without a card being saved or removed: the next page still follows."""
    from mcard import Sighting

    cards = [MCard(f"labelled {i}", g_time=at(i)) for i in range(6)]
    await wrapper.save_many(cards, sightings=[Sighting.of(card.hash, name=f"{i}.txt", seen_at=at(40)) for i, card in
                                               enumerate(cards[:4])])
    await wrapper.tag_many((card.hash, "t") for card in cards[:4])
    for index, change in enumerate((
        lambda: wrapper.tag(cards[5].hash, "t"),
        lambda: wrapper.untag(cards[3].hash, "t"),
        lambda: wrapper.save_many([cards[5]], sightings=[Sighting.of(cards[5].hash, name="new.txt", seen_at=at(50))]),
    )):
        filters = {"tag": "t"} if index < 2 else {"name": "*.txt"}
        await wrapper.list(2, **filters)
        await change()
        assert await wrapper.list(2, 2, **filters) == (await wrapper.list(**filters))[2:4]


PAGED = [MCard(f"paged {i}", g_time=at(i // 4)) for i in range(48)]
"""Cards four to a second: pages start and end inside runs of equal times (ordered by hash)."""


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reads=st.lists(st.tuples(st.integers(0, 13), st.integers(0, 13), st.integers(0, 55), st.integers(1, 12),
                                st.booleans()), min_size=1, max_size=6))
async def test_pages_at_any_offset_and_time_window_are_slices_of_the_listing(make_config, reads):
    """A page at any offset, whether the page before it was read (its end remembered) or not,
    and after a write between pages, is the slice of every card in the window, newest or
    oldest first."""
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.save_many(PAGED)
        held = list(PAGED)
        try:
            await read_pages(store, held, reads)
        finally:  # the next example opens the same store
            await store.remove_many([card.hash for card in held])


def newest_first(cards: list[MCard]) -> list[MCard]:
    return sorted(cards, key=lambda card: (card.g_time, card.hash), reverse=True)


async def read_pages(
    store: AsyncPersistenceWrapper, held: list[MCard], reads: list[tuple[int, int, int, int, bool]]
) -> None:
    for first, last, offset, limit, write_before in reads:
        if write_before:  # a write between pages: the stamp of every page end moves
            extra = MCard(f"written between pages {len(held)}", g_time=at(first))
            await store.save(extra)
            held.append(extra)
        bounds = {"start_time": at(first), "end_time": at(last)}
        window = newest_first([card for card in held if at(first) <= card.g_time <= at(last)])
        oldest_first = window[::-1]
        for at_offset in (offset, offset + limit, offset + 2 * limit):  # each page follows the one before
            page = slice(at_offset, at_offset + limit)
            assert await store.list(limit, at_offset, **bounds) == window[page]
            assert await store.list(limit, at_offset) == newest_first(held)[page]
            assert await store.list(limit, at_offset, order="oldest", **bounds) == oldest_first[page]
            for order, cards in (("newest", window), ("oldest", oldest_first)):
                heads = await store.store.list_heads(limit, at_offset, order=order, head=3, **bounds)
                assert [(row[0], row[1]) for row in heads] == [(card.hash, card.content_bytes[:3]) for card in cards[page]]


def typed_content(i: int) -> str | bytes:
    """Contents of five types, the later ones rarer: runs of each type differ in length."""
    if i % 7 < 3:
        return f"typed {i}"
    if i % 7 < 5:
        return f'{{"typed": {i}}}'
    return b"\x89PNG\r\n\x1a\n" + bytes([i]) * 8 if i % 7 == 5 else (b"GIF89a" if i % 2 else b"\x00\xff") + bytes([i])


TYPED = [MCard(typed_content(i), g_time=at(i // 3)) for i in range(40)]
"""Cards of five content types, three to a second: runs of equal times span types."""


def in_type_order(cards: list[MCard]) -> list[MCard]:
    return sorted(newest_first(cards), key=lambda card: card.content_type)


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reads=st.lists(st.tuples(st.integers(0, 14), st.integers(0, 14), st.integers(0, 45), st.integers(1, 12),
                                st.integers(0, 60)), min_size=1, max_size=6))
async def test_pages_in_type_order_at_any_offset_and_time_window_are_slices_of_the_listing(make_config, reads):
    """A page in type order (types in order, newest first within each) at any offset and in
    any time window, its cards or their heads, is the slice of every card in the window: also
    when it spans types, and right after a write of a card of a type the store held or not."""
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.save_many(TYPED)
        held = list(TYPED)
        try:
            for first, last, offset, limit, written in reads:
                if written % 3 == 0:  # a write between pages: the counts of each type change
                    extra = MCard(typed_content(written) if written % 2 else f"<html>{written} {len(held)}</html>",
                                  g_time=at(first))
                    if await store.save(extra):
                        held.append(extra)
                bounds = {"start_time": at(first), "end_time": at(last)}
                window = in_type_order([card for card in held if at(first) <= card.g_time <= at(last)])
                every = in_type_order(held)
                for at_offset in (offset, offset + limit):
                    page = slice(at_offset, at_offset + limit)
                    assert await store.list(limit, at_offset, order="type", **bounds) == window[page]
                    assert await store.list(limit, at_offset, order="type") == every[page]
                    heads = await store.store.list_heads(limit, at_offset, order="type", head=4, **bounds)
                    assert [(row[0], row[1]) for row in heads] == [(card.hash, card.content_bytes[:4]) for card in window[page]]
        finally:  # the next example opens the same store
            await store.remove_many([card.hash for card in held])


NAMED_PAGED = [MCard(f"named {i}", g_time=at(i // 3)) for i in range(36)]


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(named=st.sets(st.integers(0, 35), max_size=36),
       reads=st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(0, 40), st.integers(1, 12),
                                st.integers(0, 60)), min_size=1, max_size=5))
async def test_pages_in_name_order_at_any_offset_and_time_window_are_slices_of_the_listing(make_config, named, reads):
    """A page in name order, A to Z or Z to A (cards without a name last, newest first), at
    any offset and in any time window, its cards or their heads, is the slice of every card in
    the window: whether few or most cards have a name, names shared or not, and right after a
    card was given a name or a card without one was stored."""
    async with AsyncPersistenceWrapper(make_config()) as store:
        sightings = [Sighting.of(NAMED_PAGED[i].hash, name=f"n{i * 7 % 11}.txt", seen_at=at(100 + i)) for i in sorted(named)]
        await store.save_many(NAMED_PAGED, sightings=sightings)
        names = {seen.hash: seen.name for seen in sightings}
        held = list(NAMED_PAGED)
        try:
            for first, last, offset, limit, change in reads:
                if change % 3 == 0:  # a card's first name, or a later one
                    card = held[change % len(held)]
                    await store.save_many([card], sightings=[Sighting.of(card.hash, name=f"m{change}.txt", seen_at=at(200 + change))])
                    names[card.hash] = f"m{change}.txt"
                elif change % 3 == 1:
                    extra = MCard(f"stored between pages {len(held)}", g_time=at(first))
                    if await store.save(extra):
                        held.append(extra)
                bounds = {"start_time": at(first), "end_time": at(last)}
                window = [card for card in held if at(first) <= card.g_time <= at(last)]
                for order in ("name", "name_desc"):
                    in_window, every = sort_cards(window, order, names), sort_cards(held, order, names)
                    for at_offset in (offset, offset + limit):
                        page = slice(at_offset, at_offset + limit)
                        assert await store.list(limit, at_offset, order=order, **bounds) == in_window[page]
                        assert await store.list(limit, at_offset, order=order) == every[page]
                        heads = await store.store.list_heads(limit, at_offset, order=order, head=4, **bounds)
                        assert [row[0] for row in heads] == [card.hash for card in in_window[page]]
        finally:  # the next example opens the same store (a card's sightings go with it)
            await store.remove_many([card.hash for card in held])


async def test_pages_in_size_order_at_any_offset_are_slices_of_the_listing(wrapper):
    """A page of every card, largest or smallest first, at any offset, its cards or their
    heads, is the slice of the whole listing: also where it starts or ends inside a run of
    cards of one size, and of one size and time."""
    cards = [MCard(f"{i:02d}" + "s" * (i * 7 % 5) * 3, g_time=at(i // 3)) for i in range(44)]
    await wrapper.save_many(cards)
    for order in ("largest", "smallest"):
        every = sort_cards(cards, order)
        assert await wrapper.list(order=order) == every
        for limit in (1, 3, 8):
            for offset in range(0, 47, limit):
                assert await wrapper.list(limit, offset, order=order) == every[offset:offset + limit], (order, limit, offset)
                heads = await wrapper.store.list_heads(limit, offset, order=order, head=2)
                assert [row[0] for row in heads] == [card.hash for card in every[offset:offset + limit]]


async def test_a_deep_page_of_a_filter_of_the_oldest_cards_is_the_slice_of_them(wrapper, monkeypatch):
    """A page deeper than a walk goes, of a filter that chooses most cards but none among the
    newest, is left to the planner (a walk would read past every newer card first): newest
    and oldest first, it is the same slice of the filter's cards."""
    from mcard.infrastructure.persistence.engine import page_walks, sqlite_filter_walks

    monkeypatch.setattr(page_walks, "MOST_WANTED", 20)
    monkeypatch.setattr(sqlite_filter_walks, "DEEP_PROBE", 100)
    old = [MCard(f"old {i}", g_time=at(i)) for i in range(3000)]
    await wrapper.save_many(old + [MCard(f"new {i}", g_time=at(10_000 + i)) for i in range(2000)])
    await wrapper.tag_many((card.hash, "old") for card in old)
    chosen = newest_first(old)
    for order, cards in (("newest", chosen), ("oldest", chosen[::-1])):
        assert await wrapper.list(10, 2500, tag="old", order=order) == cards[2500:2510]
        assert await wrapper.list(10, 2995, tag="old", order=order) == cards[2995:]


async def test_the_page_past_the_end_sees_writes_made_since(wrapper):
    await wrapper.save_many([MCard(f"end {i}", g_time=at(i)) for i in range(20)])
    last = await wrapper.list(limit=10, offset=10)
    assert await wrapper.list(limit=10, offset=20) == []
    await wrapper.save(MCard("newest", g_time=at(100)))
    assert await wrapper.list(limit=10, offset=20) == [last[-1]]


async def test_iterate_streams_every_card_newest_first(wrapper):
    cards = [MCard(f"it {i}", g_time=at(i % 7)) for i in range(53)]
    await wrapper.save_many(cards)
    streamed = [card async for card in wrapper.iterate(page_size=10)]
    assert streamed == await wrapper.list()
    window = [card async for card in wrapper.iterate(page_size=4, start_time=at(2), end_time=at(3))]
    assert window == await wrapper.list(start_time=at(2), end_time=at(3))
    for huge in (2**31, 2**63 - 1):  # more rows than sqlite3 fetches at once
        assert [card async for card in wrapper.iterate(page_size=huge)] == streamed
        report = await wrapper.verify(page_size=huge)
        assert report.checked == 53 and report.ok
    for bad in (0, -1, 2**63, 1.5, True):
        with pytest.raises(ValidationError, match=f"page_size must be an integer from 1 to 2\\*\\*63-1, got {bad!r}"):
            [card async for card in wrapper.iterate(page_size=bad)]


async def test_iterate_reads_large_cards_a_few_at_a_time(wrapper, monkeypatch):
    """A page of ``page_size`` cards held all their contents at once: ``iterate()`` of cards of
    10 MB, 1,000 to a page, would hold 10 GB. Pages of large cards now hold about
    ``READ_AHEAD_BYTES`` (made small here), and the page before is let go as the next is read."""
    import tracemalloc

    from mcard.infrastructure.persistence.engine import base_engine

    monkeypatch.setattr(base_engine, "READ_AHEAD_BYTES", 2_000_000)
    cards = [MCard(bytes([i]) * 999_999 + b"!") for i in range(24)]
    await wrapper.save_many(cards)
    await wrapper.store.wait_indexed()  # the background indexing reads these cards too, in steps of its own
    tracemalloc.start()
    try:
        seen = [card.hash async for card in wrapper.iterate(page_size=1000)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sorted(seen) == sorted(card.hash for card in cards)
    assert peak < 12_000_000, peak  # all 24 MB at once before


async def test_search_finds_substrings_newest_first(wrapper, timeline):
    assert [c.content for c in await wrapper.search("card 1")] == ["card 1"]
    assert len(await wrapper.search("card")) == 10
    assert await wrapper.search("card", limit=2) == timeline[9:7:-1]
    assert await wrapper.search("card", limit=2, offset=8) == timeline[1::-1]
    assert await wrapper.search("nothing like this") == []


async def test_search_is_case_sensitive(wrapper):
    await wrapper.create("The Quick Fox")
    assert len(await wrapper.search("Quick")) == 1
    assert await wrapper.search("quick") == []


@pytest.mark.parametrize("needle", ["%", "_", "'", '"', "\\", "100%", "a_b", "it's", "x\\y", "*", "[a]"])
async def test_search_metacharacters_match_literally(wrapper, needle):
    target = await wrapper.create(f"before {needle} after")
    await wrapper.create("plain words only ab abc xy")
    assert await wrapper.search(needle) == [target]


async def test_search_finds_bytes_that_are_utf8_and_skips_other_bytes(wrapper):
    utf8 = await wrapper.create("findme in bytes ü".encode("utf-8"))
    await wrapper.create(b"findme in \xff not utf-8")
    text = await wrapper.create("findme in text")
    assert await wrapper.search("findme") == [text, utf8]
    assert await wrapper.search("FINDME IN BYTES Ü", case_sensitive=False) == [utf8]


async def test_search_matches_non_ascii(wrapper):
    card = await wrapper.create("naïve café ☕")
    assert await wrapper.search("é ☕") == [card]


@pytest.mark.parametrize("bad", ["", None, 3, b"bytes", "\ud800"])
async def test_bad_search_query_is_rejected(wrapper, bad):
    with pytest.raises(ValidationError):
        await wrapper.search(bad)


async def test_concurrent_creates_all_succeed_and_none_is_lost(wrapper):
    contents = [f"concurrent {i}" for i in range(300)] * 2
    cards = await asyncio.gather(*(wrapper.create(c) for c in contents))
    assert len({c.hash for c in cards}) == 300
    assert await wrapper.count() == 300


async def test_concurrent_reads_and_writes(wrapper):
    await wrapper.save_many([MCard(f"seed {i}") for i in range(100)])

    async def reader() -> int:
        return len(await wrapper.list(limit=50)) + await wrapper.count()

    results = await asyncio.gather(
        *(reader() for _ in range(20)), *(wrapper.create(f"w {i}") for i in range(50))
    )
    assert all(isinstance(r, int) and r >= 150 for r in results[:20])
    assert await wrapper.count() == 150


def _cut(card: MCard, head: int) -> tuple:
    return (card.hash, card.content_bytes[:head], card.is_text, to_micros(card.g_time), card.hash_algorithm, card.size, card.content_type)


async def test_list_heads_are_the_listed_cards_with_their_content_cut(wrapper):
    cards = [
        MCard("short", g_time=at(0)), MCard("ü" * 300, g_time=at(1)), MCard(b"\x00\x01" * 50, g_time=at(2)),
        MCard("x" * 1000, g_time=at(3)), MCard(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, g_time=at(3)),
        MCard("ü€" * 20_000, g_time=at(4)), MCard(bytes(range(256)) * 300, g_time=at(5)),  # heads of large values
    ]
    await wrapper.save_many(cards)
    await wrapper.add("y" * 20, name="b.txt")
    for order in ORDERS:
        for head in (0, 3, 7, 700):
            listed = await wrapper.list(order=order)
            assert await wrapper.store.list_heads(order=order, head=head) == [_cut(card, head) for card in listed]
    filtered = await wrapper.list(limit=2, offset=1, min_size=10, end_time=at(3))
    assert len(filtered) == 2
    rows = await wrapper.store.list_heads(limit=2, offset=1, min_size=10, end_time=at(3), head=5)
    assert rows == [_cut(card, 5) for card in filtered]
    assert await wrapper.store.list_heads(limit=0, head=5) == []
    for longest in (2**31, 2**63 - 1):  # longer than any value: the whole contents (PostgreSQL refused it)
        whole = [_cut(card, longest) for card in await wrapper.list()]
        assert await wrapper.store.list_heads(head=longest) == whole
        assert [row async for row in wrapper.store.iterate_heads(head=longest)] == whole
        assert list(await wrapper.store.find_heads("", head=longest)) == whole


async def test_iterate_heads_streams_the_listed_rows_with_their_content_cut(wrapper):
    cards = [MCard(f"it {i} " + "ü" * i, g_time=at(i % 7)) for i in range(53)]
    cards += [MCard("ü€" * 20_000, g_time=at(4)), MCard(bytes(range(256)) * 300, g_time=at(5))]  # heads of large values
    await wrapper.save_many(cards)
    await wrapper.add("y" * 20, name="b.txt")
    for head in (0, 3, 700):
        for page_size in (1, 10, 2**63 - 1):
            streamed = [row async for row in wrapper.store.iterate_heads(page_size, head=head)]
            assert streamed == await wrapper.store.list_heads(head=head)
    window = [row async for row in wrapper.store.iterate_heads(4, at(2), at(3), head=5, min_size=10)]
    assert window == [_cut(card, 5) for card in await wrapper.list(start_time=at(2), end_time=at(3), min_size=10)]
    assert [row async for row in wrapper.store.iterate_heads(head=5, name="*.txt")] == await wrapper.store.list_heads(head=5, name="*.txt")
    for bad in (-1, None, 1.5):
        with pytest.raises(ValidationError, match="head"):
            [row async for row in wrapper.store.iterate_heads(head=bad)]
    with pytest.raises(ValidationError, match="page_size"):
        [row async for row in wrapper.store.iterate_heads(0, head=5)]


async def test_iterate_heads_never_reads_a_content_whole(wrapper):
    """Listing every card of a store of large files (``mcard ls --limit 0``) read every byte
    of it; the heads of 24 cards of 1 MB now come without their contents."""
    import tracemalloc

    cards = [MCard(bytes([i]) * 999_999 + b"!") for i in range(24)]
    await wrapper.save_many(cards)
    await wrapper.store.wait_indexed()
    tracemalloc.start()
    try:
        rows = [row async for row in wrapper.store.iterate_heads(1000, head=64)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sorted(row[0] for row in rows) == sorted(card.hash for card in cards)
    assert {len(row[1]) for row in rows} == {64}
    assert peak < 1_000_000, peak


async def test_large_cards_read_back_whole_from_every_kind_of_read(wrapper):
    """Reads that may sort their rows read large contents after the sort (SQLite: as blobs)."""
    large_text, large_bytes = MCard("ü€ large " * 5000, g_time=at(1)), MCard(bytes(range(256)) * 300, g_time=at(2))
    small = MCard("small large", g_time=at(3))
    await wrapper.save_many([large_text, large_bytes, small])
    every = [small, large_bytes, large_text]
    for order in ORDERS:
        assert sorted(await wrapper.list(order=order), key=lambda card: card.hash) == sorted(every, key=lambda card: card.hash)
    assert await wrapper.list(min_size=1) == every
    assert await wrapper.list(2, 1, min_size=1) == every[1:]
    assert await wrapper.list(order="largest") == [large_bytes, large_text, small]
    assert [card async for card in wrapper.iterate(page_size=2, min_size=1)] == every
    assert await wrapper.search("large") == [small, large_text]
    assert await wrapper.search("LARGE", limit=1, offset=1, case_sensitive=False) == [large_text]
    assert list(await wrapper.find("size:>1KB")) == [large_bytes, large_text]


@pytest.mark.parametrize("bad", [-1, None, 1.5, "8"])
async def test_list_heads_rejects_a_bad_head(wrapper, bad):
    with pytest.raises(ValidationError, match="head"):
        await wrapper.store.list_heads(head=bad)
    with pytest.raises(ValidationError, match="head"):
        await wrapper.store.find_heads("type:text/*", head=bad)


async def test_find_heads_are_the_found_cards_with_their_content_cut(wrapper):
    """``find_heads`` names the cards ``find`` names, in its order and with its total, for
    queries with and without words; only the content is cut."""
    cards = [
        MCard("alpha river " * 3000, g_time=at(0)), MCard("alpha stone", g_time=at(1)), MCard(b"\x00\x01" * 9000, g_time=at(2)),
        MCard("river ü€" * 50, g_time=at(3)), MCard(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, g_time=at(4)), MCard("draft river", g_time=at(5)),
    ]
    await wrapper.save_many(cards)
    await wrapper.add("named beta", name="notes/b.txt")
    await wrapper.tag(cards[1].hash, "keep")
    queries = ["", "type:text/*", "size:>1KB", "name:*.txt", "tag:keep", "river", "alpha OR beta", "river -draft", "size:<100 -draft"]
    for query in queries:
        for order in (None, *ORDERS):
            for limit, offset in ((None, 0), (2, 1), (0, 0), (3, 10)):
                found = await wrapper.find(query, limit, offset, order=order)
                heads = await wrapper.store.find_heads(query, limit, offset, order=order, head=9)
                assert list(heads) == [_cut(card, 9) for card in found], (query, order, limit, offset)
                assert heads.total == found.total and (heads.words is None) == (found.words is None)
    with pytest.raises(ValidationError, match="position"):
        await wrapper.store.find_heads('"open', head=9)


async def test_stats_sum_up_the_stored_cards_in_one_state_while_another_task_writes(wrapper):
    """``stats()`` agrees with the cards stored; its totals and its counts per type come from
    one state of the store, also while cards are being added (each counted apart could differ)."""
    cards = [MCard(f"card {i}", g_time=at(i)) for i in range(5)] + [MCard(b"\x89PNG\r\n\x1a\n" + bytes(20), g_time=at(-3))]
    await wrapper.save_many(cards)
    stats = await wrapper.stats()
    assert (stats.count, stats.total_bytes, stats.first, stats.last) == (6, sum(c.size for c in cards), at(-3), at(4))
    assert stats.by_content_type == {"text/plain": (5, sum(c.size for c in cards[:5])), "image/png": (1, 28)}
    assert list(stats.by_content_type) == ["text/plain", "image/png"]  # most cards first
    async with written_meanwhile(wrapper):
        for _ in range(40):
            stats = await wrapper.stats()
            assert stats.count == sum(n for n, _ in stats.by_content_type.values())
            assert stats.total_bytes == sum(size for _, size in stats.by_content_type.values())


@pytest.mark.parametrize("deepest_walk", [None, 20], ids=["pages as deep as walks go", "pages deeper than walks go"])
async def test_a_page_of_a_common_filter_is_its_newest_cards_wherever_they_lie(wrapper, monkeypatch, deepest_walk):
    """A filter many cards pass may be paged by walking down the cards from the newest: each
    page, in each order, with and without time bounds, is the same slice of every card the
    filter passes, when they lie only among the oldest cards, share times, are large, or the
    filters together pass few of them; a filter few cards pass leads the others. Pages deeper
    than a walk goes are read down the time index when the filters are common, else by the
    planner."""
    from mcard.infrastructure.persistence.engine import page_walks

    if deepest_walk is not None:
        monkeypatch.setattr(page_walks, "MOST_WANTED", deepest_walk)
    older = [MCard(f"older {i}", g_time=at(max(i, 3))) for i in range(200)]  # four share a time
    newer = [MCard(f"newer {i}", g_time=at(1000 + i)) for i in range(1500)]
    large = [MCard(f"large {i} " + "z" * 40_000, g_time=at(5000 + i)) for i in range(6)]
    every = older + newer + large
    await wrapper.save_many(every, sightings=[Sighting.of(card.hash, name=f"old-{i}.txt") for i, card in enumerate(older)])
    await wrapper.tag_many([(card.hash, "old") for card in older] + [(card.hash, "new") for card in newer + large]
                           + [(card.hash, "third") for card in every[::3]])
    labels = {card.hash: ({"old"} if card in older else {"new"}) | ({"third"} if i % 3 == 0 else set())
              for i, card in enumerate(every)}
    names = {card.hash: f"old-{i}.txt" for i, card in enumerate(older)}
    checks = {
        "tag:old": lambda c: "old" in labels[c.hash],
        "tag:new": lambda c: "new" in labels[c.hash],
        "tag:n*": lambda c: "new" in labels[c.hash],
        "-tag:old": lambda c: "old" not in labels[c.hash],
        "tag:new tag:third": lambda c: {"new", "third"} <= labels[c.hash],
        "-tag:third -tag:o*": lambda c: not labels[c.hash] & {"old", "third"},
        "name:old-*.txt": lambda c: c.hash in names,
        "type:text/*": lambda c: True,
        "size:>8": lambda c: c.size > 8,
        "size:>8 tag:old": lambda c: c.size > 8 and "old" in labels[c.hash],
        "size:>8 tag:third -tag:new": lambda c: c.size > 8 and labels[c.hash] == {"old", "third"},
        "tag:old after:2026-01-01T00:00:50": lambda c: "old" in labels[c.hash] and c.g_time >= at(50),
        "tag:new before:2026-01-01T00:20:00": lambda c: "new" in labels[c.hash] and c.g_time < at(1200),
        "tag:new size:>40000": lambda c: "new" in labels[c.hash] and c.size > 40000,
        "type:text/* tag:third size:>40000": lambda c: "third" in labels[c.hash] and c.size > 40000,
        "tag:third name:old-1*.txt -tag:new": lambda c: "third" in labels[c.hash] and names.get(c.hash, "").startswith("old-1"),
    }
    for query, passes in checks.items():
        chosen = sorted((card for card in every if passes(card)), key=lambda c: (c.g_time, c.hash), reverse=True)
        for order, want in (("newest", chosen), ("oldest", chosen[::-1])):
            for limit, offset in ((20, 0), (7, 13), (30, 100), (5, max(0, len(chosen) - 2))):
                found = await wrapper.find(query, limit, offset, order=order)
                assert (list(found), found.total) == (want[offset:offset + limit], len(chosen)), (query, order, offset)
                heads = await wrapper.store.find_heads(query, limit, offset, order=order, head=8)
                assert [row[0] for row in heads] == [card.hash for card in want[offset:offset + limit]]
        paged = [card for offset in range(0, len(chosen) + 25, 25) for card in await wrapper.find(query, 25, offset)]
        assert paged == chosen, query
        faceted = await wrapper.facets(query, by=("content_type", "tag"))
        assert sum(n for _, n in faceted["content_type"]) == len(chosen), query
        assert dict(faceted["tag"]) == {tag: n for tag in ("old", "new", "third")
                                        if (n := sum(tag in labels[card.hash] for card in chosen))}, query
