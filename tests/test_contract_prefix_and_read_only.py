"""Contract: hashes typed as prefixes, and stores opened for reading only, on every engine."""

import hashlib

import pytest

from mcard import AmbiguousHashError, AsyncPersistenceWrapper, MCard, StorageError, ValidationError

# Two texts whose SHA-256 digests share their first 8 hex digits (found by a birthday search).
TWINS = ("collide 31899", "collide 39735")


async def test_a_unique_prefix_resolves_to_its_hash(wrapper):
    card = await wrapper.create("resolved by a prefix")
    assert await wrapper.resolve(card.hash) == card.hash
    for length in (8, 12, 40):
        assert await wrapper.resolve(card.hash[:length]) == card.hash
    assert await wrapper.resolve(card.hash[:10].upper()) == card.hash
    assert await wrapper.resolve(f"  {card.hash[:9]} ") == card.hash
    assert await wrapper.resolve("0" * 8 if not card.hash.startswith("0" * 8) else "f" * 8) is None


async def test_get_or_remove_of_a_prefix_says_it_is_one(wrapper):
    """A table shows a card's hash as ``2d711642b726…``: get and remove of those digits found
    nothing (None, False), as if no such card were stored."""
    card = await wrapper.create("looked up by the digits a table shows")
    for call in (wrapper.get, wrapper.remove):
        with pytest.raises(ValidationError, match=rf"no card has a hash of 12 hex digits \({card.hash[:12]}\): a hash prefix\?"):
            await call(card.hash[:12])
    assert await wrapper.get(card.hash) == card and await wrapper.get(card.hash.upper()) == card
    assert await wrapper.get("0" * 32) is None  # as long as the shortest hash (MD5's): no card has it


@pytest.mark.parametrize("bad", ["abc", "1234567", "xyz12345", "", "12345678 9", None, 12345678])
async def test_a_prefix_too_short_or_not_hex_is_refused(wrapper, bad):
    with pytest.raises(ValidationError):
        await wrapper.resolve(bad)


async def test_an_ambiguous_prefix_lists_its_candidates(wrapper):
    hashes = sorted(hashlib.sha256(text.encode()).hexdigest() for text in TWINS)
    assert hashes[0][:8] == hashes[1][:8]
    for text in TWINS:
        await wrapper.create(text)
    with pytest.raises(AmbiguousHashError) as raised:
        await wrapper.resolve(hashes[0][:8])
    assert raised.value.candidates == hashes and all(h in str(raised.value) for h in hashes)
    assert isinstance(raised.value, ValidationError)
    assert await wrapper.resolve(hashes[1][:20]) == hashes[1]


def skip_memory(make_config) -> None:
    if getattr(make_config(), "in_memory", False):
        pytest.skip("a :memory: store starts empty: it cannot be opened read-only")


async def test_a_store_opened_read_only_reads_and_refuses_every_write(make_config):
    skip_memory(make_config)
    async with AsyncPersistenceWrapper(make_config()) as writer:
        kept = await writer.create("written before")
    async with AsyncPersistenceWrapper(make_config(read_only=True)) as reader:
        assert await reader.get(kept.hash) == kept
        assert await reader.count() == 1 and [c.hash for c in await reader.list()] == [kept.hash]
        assert [c.hash for c in await reader.search("written")] == [kept.hash]
        assert [c.hash async for c in reader.iterate()] == [kept.hash]
        assert (await reader.verify(progress=False)).ok
        assert await reader.resolve(kept.hash[:8]) == kept.hash
        for write in (reader.create("new"), reader.save(MCard("new")), reader.save_many([MCard("new")]),
                      reader.remove(kept.hash)):
            with pytest.raises(StorageError, match="read-only"):
                await write
        assert await reader.count() == 1


async def test_opening_a_missing_store_read_only_creates_nothing(make_config, tmp_path):
    skip_memory(make_config)
    config = make_config(read_only=True)
    with pytest.raises(StorageError, match="no card store"):
        await AsyncPersistenceWrapper(config).initialize()
    if hasattr(config, "path"):
        assert not config.path.exists() and list(tmp_path.iterdir()) == []
    else:  # PostgreSQL: the schema was not created either
        async with AsyncPersistenceWrapper(make_config()) as created:
            assert await created.count() == 0
