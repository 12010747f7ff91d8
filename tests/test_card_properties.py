"""Property tests of the card invariants, through every engine."""

import hashlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcard import AsyncPersistenceWrapper, MCard

utf8_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1)
contents = st.one_of(utf8_text, st.binary(min_size=1))
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@given(contents)
def test_hash_is_the_sha256_of_the_content_bytes(content):
    data = content.encode("utf-8") if isinstance(content, str) else content
    card = MCard(content)
    assert card.hash == hashlib.sha256(data).hexdigest() and card.size == len(data)
    assert card.content_bytes == data and card.hash_matches()


@SETTINGS
@given(contents=st.lists(contents, min_size=1, max_size=8))
async def test_round_trip_is_exact_and_reinsert_is_idempotent(make_config, contents):
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.remove_many([card.hash async for card in store.iterate()])
        cards = [await store.create(content) for content in contents]
        distinct = {card.hash: card for card in reversed(cards)}
        assert await store.count() == len(distinct)
        for content, card in zip(contents, cards):
            stored = await store.get(card.hash)
            assert stored == distinct[card.hash]
            assert stored.hash_matches()
            if MCard(content).hash == card.hash and type(stored.content) is type(content):
                assert stored.content == content
        assert await store.save_many(cards) == 0
        assert [await store.get(card.hash) for card in cards] == [distinct[c.hash] for c in cards]
