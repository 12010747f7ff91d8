"""Contract: storing, reading and removing cards — the same on every engine."""

import hashlib
from datetime import datetime, timezone

import pytest

from mcard import AsyncPersistenceWrapper, MCard, StorageError, ValidationError
from mcard.domain.models.card import HASH_ALGORITHMS


async def test_create_then_get_returns_the_same_card(wrapper):
    card = await wrapper.create("Hello, World!")
    assert card.hash == hashlib.sha256(b"Hello, World!").hexdigest()
    assert await wrapper.get(card.hash) == card


@pytest.mark.parametrize(
    "content",
    ["plain", "ünïcødé ✓ 𝄞", "nul\x00inside", b"\x00", b"\xff\xfe\xfd not utf-8", bytes(range(256))],
)
async def test_round_trip_is_exact_for_str_and_bytes(wrapper, content):
    card = await wrapper.create(content)
    stored = await wrapper.get(card.hash)
    assert type(stored.content) is type(content) and stored.content == content
    assert stored.g_time == card.g_time and stored.size == card.size


async def test_same_content_is_stored_once_and_keeps_the_first_time(wrapper):
    first = await wrapper.create("twice")
    again = await wrapper.create("twice")
    assert again == first
    assert await wrapper.save(MCard("twice")) is False
    assert await wrapper.count() == 1
    assert (await wrapper.get(first.hash)).g_time == first.g_time


async def test_text_and_bytes_of_the_same_bytes_share_one_hash(wrapper):
    text = await wrapper.create("same")
    assert await wrapper.save(MCard(b"same")) is False
    assert (await wrapper.get(text.hash)).content == "same"


async def test_save_returns_whether_the_card_was_new(wrapper):
    card = MCard("new one")
    assert await wrapper.save(card) is True
    assert await wrapper.save(card) is False


@pytest.mark.parametrize("algorithm", sorted(HASH_ALGORITHMS))
async def test_configured_hash_algorithm_is_used_and_recorded(make_config, algorithm):
    from mcard import AsyncPersistenceWrapper

    async with AsyncPersistenceWrapper(make_config(hash_algorithm=algorithm)) as store:
        card = await store.create("abc")
        assert card.hash == hashlib.new(algorithm, b"abc").hexdigest()
        stored = await store.get(card.hash)
        assert stored.hash_algorithm == algorithm and stored.hash_matches()


@pytest.mark.parametrize("bad", [None, "", b"", 7, {"k": "v"}, ["a"], "lone \udc80 surrogate"])
async def test_bad_content_raises_validation_error_and_stores_nothing(wrapper, bad):
    with pytest.raises(ValidationError):
        await wrapper.create(bad)
    assert await wrapper.count() == 0


async def test_save_rejects_what_is_not_a_card(wrapper):
    with pytest.raises(ValidationError):
        await wrapper.save("not a card")
    with pytest.raises(ValidationError):
        await wrapper.save_many("not cards")


async def test_max_content_size_counts_bytes_inclusive(make_config):
    from mcard import AsyncPersistenceWrapper

    async with AsyncPersistenceWrapper(make_config(max_content_size=8)) as store:
        assert (await store.create("é" * 4)).size == 8
        assert (await store.create(b"12345678")).size == 8
        with pytest.raises(ValidationError, match="9 bytes"):
            await store.create("é" * 4 + "x")
        with pytest.raises(ValidationError):
            await store.save_many([MCard("ok"), MCard(b"123456789")])
        assert await store.count() == 2


async def test_save_many_counts_new_cards_and_dedupes(wrapper):
    await wrapper.create("c1")
    cards = [MCard(f"c{i}") for i in range(5)] + [MCard("c3")]
    assert await wrapper.save_many(cards) == 4
    assert await wrapper.count() == 5
    assert await wrapper.save_many(cards) == 0
    assert await wrapper.save_many([]) == 0


async def test_save_many_with_an_invalid_card_stores_nothing(wrapper):
    batch = [MCard("a"), MCard("b"), "not a card", MCard("c")]
    with pytest.raises(ValidationError):
        await wrapper.save_many(batch)
    assert await wrapper.count() == 0


async def test_save_many_accepts_any_iterable(wrapper):
    assert await wrapper.save_many(MCard(f"g{i}") for i in range(3)) == 3


async def test_get_many_returns_found_cards_in_the_order_asked(wrapper):
    a, b, c = [await wrapper.create(x) for x in ("a", "b", "c")]
    missing = "0" * 64
    found = await wrapper.get_many([c.hash, missing, a.hash.upper(), c.hash])
    assert list(found) == [c.hash, a.hash] and found[a.hash] == a
    assert await wrapper.get_many([]) == {}


async def test_get_many_handles_more_hashes_than_sql_parameters(wrapper):
    cards = [MCard(f"many {i}") for i in range(2500)]
    await wrapper.save_many(cards)
    found = await wrapper.get_many(card.hash for card in cards)
    assert len(found) == 2500


async def test_get_many_sees_a_batch_removal_whole_or_not_at_all(wrapper):
    """A large get_many reads one state of the store: never half of an all-or-nothing batch."""
    import asyncio

    cards = [MCard(f"batch {i}") for i in range(3000)]
    hashes = [card.hash for card in cards]
    for _ in range(3):
        await wrapper.save_many(cards)
        removal = asyncio.ensure_future(wrapper.remove_many(hashes))
        seen = set()
        while not removal.done():
            seen.add(len(await wrapper.get_many(hashes)))
        await removal
        seen.add(len(await wrapper.get_many(hashes)))
        assert seen <= {0, 3000}, seen


async def test_get_of_unknown_hash_is_none(wrapper):
    assert await wrapper.get("ab" * 32) is None


@pytest.mark.parametrize("bad", ["", "xyz", "' OR 1=1 --", "%", None, 5, b"ab"])
async def test_malformed_hash_raises_validation_error(wrapper, bad):
    with pytest.raises(ValidationError):
        await wrapper.get(bad)
    with pytest.raises(ValidationError):
        await wrapper.remove(bad)


async def test_remove_tells_whether_a_card_was_removed(wrapper):
    card = await wrapper.create("bye")
    assert await wrapper.remove(card.hash) is True
    assert await wrapper.get(card.hash) is None
    assert await wrapper.remove(card.hash) is False


async def test_remove_many(wrapper):
    cards = [await wrapper.create(f"r{i}") for i in range(4)]
    assert await wrapper.remove_many([c.hash for c in cards[:3]] + ["0" * 64]) == 3
    assert await wrapper.count() == 1


async def test_removed_content_can_be_stored_again_with_a_new_time(wrapper):
    first = await wrapper.create("again")
    await wrapper.remove(first.hash)
    second = await wrapper.create("again")
    assert second.hash == first.hash and second.g_time >= first.g_time
    assert await wrapper.count() == 1


async def test_operations_before_initialize_raise_storage_error(make_config):
    from mcard import AsyncPersistenceWrapper

    store = AsyncPersistenceWrapper(make_config())
    with pytest.raises(StorageError, match="initialize"):
        await store.create("x")


async def test_initialize_and_close_are_idempotent(make_config):
    from mcard import AsyncPersistenceWrapper

    store = AsyncPersistenceWrapper(make_config())
    await store.initialize()
    await store.initialize()
    card = await store.create("kept")
    await store.close()
    await store.close()
    with pytest.raises(StorageError):
        await store.get(card.hash)


async def test_g_time_survives_with_microseconds(wrapper):
    moment = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=timezone.utc)
    card = MCard("precise", g_time=moment)
    await wrapper.save(card)
    assert (await wrapper.get(card.hash)).g_time == moment


async def test_a_time_finer_than_a_microsecond_is_held_as_the_microsecond_stored(wrapper):
    pd = pytest.importorskip("pandas")
    card = MCard("finer than stored", g_time=pd.Timestamp("2026-03-04T05:06:07.891011999Z"))
    assert type(card.g_time) is datetime
    assert card.g_time == datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=timezone.utc)
    await wrapper.save(card)
    assert await wrapper.get(card.hash) == card
    assert await wrapper.list(start_time=card.g_time, end_time=card.g_time) == [card]


async def test_the_wrapper_its_store_and_a_find_say_what_they_are(wrapper):
    await wrapper.create("a note")
    assert repr(wrapper) == f"AsyncPersistenceWrapper({wrapper.config!r})"
    assert repr(wrapper.store) == f"{type(wrapper.store).__name__}({wrapper.config!r})"
    found = await wrapper.find("note", limit=0)
    assert repr(found) == "Found([], total=1)"


def test_a_store_opened_in_one_asyncio_run_says_how_to_use_it_in_another(make_config):
    """Each ``asyncio.run`` is a loop of its own: a store opened in one and used (or closed) in
    the next is told to open and close it in one."""
    import asyncio

    cards = AsyncPersistenceWrapper(make_config())
    asyncio.run(cards.initialize())
    with pytest.raises(StorageError, match=r"opened on an event loop that has ended \(each asyncio.run\(\) is a loop"
                                           r" of its own\), and can be used, and closed, only there: open and close it"
                                           r" in one asyncio.run\(\)"):
        asyncio.run(cards.close())


async def test_a_store_used_from_another_event_loop_fails_at_once_and_never_hangs(wrapper):
    """A store belongs to the loop that opened it; from another loop a call raises at once."""
    import asyncio
    import threading

    await wrapper.create("on the first loop")
    outcome: dict[str, object] = {}

    def other_loop() -> None:
        async def use() -> None:
            try:
                outcome["result"] = await asyncio.wait_for(wrapper.count(), timeout=10)
            except Exception as exc:
                outcome["result"] = exc

        asyncio.run(use())

    thread = threading.Thread(target=other_loop)
    thread.start()
    while thread.is_alive():
        await asyncio.sleep(0.01)
    assert isinstance(outcome["result"], StorageError) and "another event loop" in str(outcome["result"])
    assert await wrapper.count() == 1
