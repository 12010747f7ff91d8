"""Property tests of the public API under hostile input, on every engine.

Whatever the input, the outcome is a correct result or a ``ValidationError``/``StorageError``
with a message — never another exception type, and never a changed store after an error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcard import AsyncPersistenceWrapper, MCard, Sighting, StorageError, ValidationError
from mcard.infrastructure.persistence.engine.base_engine import SHORTEST_DIGEST

LIMIT = 64
MAX_SQL_INTEGER = 2**63 - 1
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ANY_CHAR = st.characters(blacklist_categories=())  # every plane, NUL and lone surrogates included
SQL_PAYLOADS = [
    "' OR '1'='1", "'; DROP TABLE card; --", '" OR 1=1 --', "%", "_", "%_%", "\\", "\\%", "*",
    "AND", "OR", "NOT", "NEAR", "NEAR(a b)", '"', '""', "a*", "card*", "content:x", "^x",
    "') UNION SELECT hash, content, 1, 0, 'sha256', 1 FROM card --", "\x00", "/*", "*/", "?", ":name",
]
payload_text = st.one_of(st.sampled_from(SQL_PAYLOADS), st.text(ANY_CHAR, max_size=20),
                         st.lists(st.sampled_from(SQL_PAYLOADS + ["card", " ", "1"]), min_size=1, max_size=4).map("".join))
weird_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    st.text(max_size=5), st.binary(max_size=5), st.just([1]), st.just(object()),
)


def sized_text(n: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(max_codepoint=127, blacklist_categories=("Cs",)), min_size=n, max_size=n)


contents = st.one_of(
    st.text(ANY_CHAR, max_size=LIMIT + 8),
    st.binary(max_size=LIMIT + 8),
    *(sized_text(n) for n in (LIMIT - 1, LIMIT, LIMIT + 1)),
    *(st.binary(min_size=n, max_size=n) for n in (LIMIT - 1, LIMIT, LIMIT + 1)),
    st.sampled_from(["", b"", "\x00", b"\x00", "\ud800", "a\udfffb", "\U0001f600" * 16, "é" * 32, "é" * 33]),
    weird_values,
)


def as_text(card: MCard) -> str:
    """A card's text as search sees it: text, or bytes that are UTF-8 (else none)."""
    if card.is_text:
        return card.content
    try:
        return card.content.decode("utf-8")
    except UnicodeDecodeError:
        return ""


@pytest.fixture
async def store(make_config) -> AsyncIterator[AsyncPersistenceWrapper]:
    """A small-limit store holding cards whose times and texts make listing and search checkable."""
    base = datetime(2024, 1, 1, tzinfo=timezone.utc)
    seeds = ["plain", "50% off", "a_b", "it's", 'say "hi"', "back\\slash", "star*", "x AND y", "NEAR here", "card"]
    async with AsyncPersistenceWrapper(make_config(max_content_size=LIMIT)) as opened:
        await opened.save_many(
            [MCard(text, g_time=base + timedelta(hours=i)) for i, text in enumerate(seeds)]
            + [MCard(b"bytes % card", g_time=base + timedelta(hours=20))]
        )
        yield opened


async def everything(store: AsyncPersistenceWrapper) -> list[MCard]:
    return [card async for card in store.iterate()]


async def outcome(store: AsyncPersistenceWrapper, call):
    """The call's result, or its error after checking it is ours and left the store unchanged."""
    before = await everything(store)
    try:
        return await call()
    except (ValidationError, StorageError) as error:
        assert str(error), "an error must say what went wrong"
        assert await everything(store) == before, "a failed call changed the store"
        return error


def is_valid_count(value: object, allow_none: bool) -> bool:
    if value is None:
        return allow_none
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SQL_INTEGER


def content_is_valid(content: object) -> bool:
    if not isinstance(content, (str, bytes)) or not content:
        return False
    try:
        data = content.encode("utf-8") if isinstance(content, str) else content
    except UnicodeEncodeError:
        return False
    return len(data) <= LIMIT


@SETTINGS
@given(content=contents)
async def test_create_any_content(store, content):
    before = {card.hash: card for card in await everything(store)}
    result = await outcome(store, lambda: store.create(content))
    if content_is_valid(content):
        card = MCard(content)
        assert isinstance(result, MCard) and result.hash == card.hash and result.content_bytes == card.content_bytes
        if card.hash in before:  # the same bytes were stored already, maybe as the other type
            assert result == before[card.hash]
        else:
            assert type(result.content) is type(content) and result.content == content
        assert await store.get(result.hash) == result and result.hash_matches()
    else:
        assert isinstance(result, ValidationError), result


@SETTINGS
@given(contents=st.lists(contents, min_size=1, max_size=4))
async def test_save_many_is_all_or_nothing_for_any_contents(store, contents):
    cards = []
    for content in contents:
        try:
            cards.append(MCard(content))
        except ValidationError:
            cards.append(content)  # not a card: save_many must refuse the whole batch
    result = await outcome(store, lambda: store.save_many(cards))
    if all(isinstance(c, MCard) and content_is_valid(c.content) for c in cards):
        assert isinstance(result, int)
        assert set((await store.get_many(c.hash for c in cards))) == {c.hash for c in cards}
    else:
        assert isinstance(result, ValidationError), result


@SETTINGS
@given(limit=st.one_of(weird_values, st.integers(-3, 15), st.just(MAX_SQL_INTEGER), st.just(MAX_SQL_INTEGER + 1)),
       offset=st.one_of(weird_values, st.integers(-3, 15), st.just(MAX_SQL_INTEGER), st.just(MAX_SQL_INTEGER + 1)))
async def test_list_and_search_with_any_limit_and_offset(store, limit, offset):
    all_cards = await everything(store)
    valid = is_valid_count(limit, True) and is_valid_count(offset, False)
    for call, expected in [
        (lambda: store.list(limit, offset), all_cards),
        (lambda: store.search("a", limit, offset), [c for c in all_cards if "a" in as_text(c)]),
    ]:
        result = await outcome(store, call)
        if valid:
            stop = None if limit is None else offset + limit
            assert result == expected[offset:stop]
        else:
            assert isinstance(result, ValidationError), result


aware = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12, minutes=-30))]),
)
times = st.one_of(st.none(), aware, st.datetimes(), weird_values)


@SETTINGS
@given(start=times, end=times)
async def test_count_and_list_with_any_time_bounds(store, start, end):
    all_cards = await everything(store)
    valid = all(t is None or (isinstance(t, datetime) and t.tzinfo is not None) for t in (start, end))
    expected = [c for c in all_cards if (start is None or c.g_time >= start) and (end is None or c.g_time <= end)] if valid else None
    counted = await outcome(store, lambda: store.count(start, end))
    listed = await outcome(store, lambda: store.list(start_time=start, end_time=end))
    if valid:
        assert counted == len(expected) and listed == expected
    else:
        assert isinstance(counted, ValidationError) and isinstance(listed, ValidationError)


@SETTINGS
@given(key=st.one_of(payload_text, st.text(ANY_CHAR), weird_values,
                     st.text("0123456789abcdefABCDEF", min_size=1, max_size=140)))
async def test_get_and_remove_with_any_hash(store, key):
    before = await everything(store)
    got = await outcome(store, lambda: store.get(key))
    many = await outcome(store, lambda: store.get_many([key]))
    removed = await outcome(store, lambda: store.remove(key))
    stored = {c.hash for c in before}
    is_hex = isinstance(key, str) and 0 < len(key) <= 128 and all(ch in "0123456789abcdefABCDEF" for ch in key)
    if is_hex and len(key) < SHORTEST_DIGEST:  # no card's: the prefix a table shows is refused as one
        assert isinstance(got, ValidationError) and isinstance(removed, ValidationError) and many == {}
        assert await everything(store) == before
    elif is_hex:
        assert got == ({c.hash: c for c in before}.get(key.lower())) and many == ({} if got is None else {got.hash: got})
        assert removed is (key.lower() in stored)
    else:
        assert all(isinstance(r, ValidationError) for r in (got, many, removed)), (got, many, removed)
        assert await everything(store) == before


hex_keys = st.text("0123456789abcdefABCDEF", min_size=0, max_size=130)


@SETTINGS
@given(data=st.data())
async def test_get_many_with_any_list_of_hashes(store, data):
    """A list of hashes is checked as a whole where it can be: the outcome is still the one
    of checking each hash (any hash that is not 1-128 hex digits fails the call, in any case
    the stored card comes back once, under its lowercase hash, in the order asked)."""
    before = await everything(store)
    stored = [card.hash for card in before]
    key = st.one_of(st.sampled_from(stored), st.sampled_from(stored).map(str.upper), hex_keys,
                    payload_text, weird_values)
    keys = data.draw(st.lists(key, max_size=6))
    many = await outcome(store, lambda: store.get_many(keys))
    valid = all(isinstance(k, str) and 0 < len(k) <= 128 and set(k) <= set("0123456789abcdefABCDEF") for k in keys)
    if valid:
        by_hash = {card.hash: card for card in before}
        asked = list(dict.fromkeys(k.lower() for k in keys))
        assert many == {k: by_hash[k] for k in asked if k in by_hash} and list(many) == [k for k in asked if k in by_hash]
    else:
        assert isinstance(many, ValidationError), many


@SETTINGS
@given(query=st.one_of(payload_text, weird_values))
async def test_search_is_literal_for_any_query(store, query):
    all_cards = await everything(store)
    result = await outcome(store, lambda: store.search(query))
    try:
        valid = isinstance(query, str) and bool(query) and bool(query.encode("utf-8"))
    except UnicodeEncodeError:
        valid = False
    if valid:
        assert result == [c for c in all_cards if query in as_text(c)]
    else:
        assert isinstance(result, ValidationError), result
    assert await everything(store) == all_cards


async def test_progress_is_true_false_or_none_for_every_long_operation(store, tmp_path):
    """``progress="no"`` was taken for true: every long operation refuses what is not a bool
    or None, before it reads, writes or shows anything."""
    import mcard
    from mcard.exporting import export
    from mcard.importing import import_paths, import_records

    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a.txt").write_text("a file never imported")
    records = tmp_path / "records.jsonl"
    await export(store, records, progress=False)
    before = await everything(store)
    async with AsyncPersistenceWrapper(mcard.SQLiteConfig(tmp_path / "dest.db")) as dest:
        calls = [
            lambda: store.verify(progress="no"),
            lambda: export(store, tmp_path / "out.jsonl", progress="no"),
            lambda: import_paths(store, tmp_path / "files", progress="no"),
            lambda: import_records(dest, records, progress="no"),
            lambda: mcard.sync(store, dest, progress="no"),
        ]
        for call in calls:
            with pytest.raises(ValidationError, match="progress must be True, False or None, got 'no'"):
                await call()
        assert await dest.count() == 0
    assert await everything(store) == before and not (tmp_path / "out.jsonl").exists()


HUGE = "x" * 1_000_000


@pytest.mark.parametrize("call", [
    lambda cards: cards.get(HUGE),
    lambda cards: cards.get_many([HUGE]),
    lambda cards: cards.resolve(HUGE),
    lambda cards: cards.list(content_type=HUGE),
    lambda cards: cards.list(order=HUGE),
    lambda cards: cards.search("x", mode=HUGE),
    lambda cards: cards.add_sightings([Sighting.of("0" * 64, name=HUGE)]),
], ids=["get", "get_many", "resolve", "content_type", "order", "mode", "sighting"])
async def test_a_huge_bad_value_is_named_in_a_short_message(wrapper, call):
    """A message repeats the start of what it refuses and says how long it was, not a megabyte."""
    with pytest.raises(ValidationError) as raised:
        await call(wrapper)
    assert len(str(raised.value)) < 300 and "(1,000,000 characters)" in str(raised.value), str(raised.value)[:300]
