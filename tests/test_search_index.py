"""Search through an index gives exactly the contract's substring results, whatever the history."""

from tests.test_bad_input_properties import as_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcard import AsyncPersistenceWrapper, MCard

ALPHABET = st.sampled_from(list("abAB %_\"'*\\\x00é☕") + ["AND", "OR", "NEAR", "NOT", "(", ")", ":", "^"])
texts = st.lists(ALPHABET, min_size=1, max_size=12).map("".join)
queries = st.lists(ALPHABET, min_size=1, max_size=5).map("".join)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


async def expected(store: AsyncPersistenceWrapper, query: str) -> list[MCard]:
    return [card for card in await store.list() if query in as_text(card)]


@SETTINGS
@given(
    saved=st.lists(st.one_of(texts, texts.map(str.encode)), min_size=1, max_size=25),
    singles=st.lists(texts, max_size=5),
    removed=st.lists(st.integers(min_value=0, max_value=40), max_size=8),
    asked=st.lists(queries, min_size=1, max_size=6),
    indexed_at=st.integers(min_value=0, max_value=3),
)
async def test_search_equals_a_brute_force_filter(make_config, saved, singles, removed, asked, indexed_at):
    """Whatever part of the history the engine's index has caught up with (``wait_indexed``)."""
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.remove_many([card.hash async for card in store.iterate()])
        wait_indexed = getattr(store.store, "wait_indexed", None)

        async def step(number: int) -> None:
            if number == indexed_at and wait_indexed is not None:
                await wait_indexed()

        cards = [MCard(content) for content in saved]
        await store.save_many(cards)
        await step(1)
        for text in singles:
            await store.create(text)
        await step(2)
        gone = {cards[i % len(cards)].hash for i in removed}
        for key in list(gone)[:2]:
            await store.remove(key)
        await store.remove_many(gone)
        await step(3)
        stored = {card.content async for card in store.iterate() if card.is_text}
        for query in [*asked, *(text[1:4] for text in stored)]:
            if query:
                assert await store.search(query) == await expected(store, query), query


async def test_search_finds_words_after_a_nul_and_long_needles(wrapper):
    card = await wrapper.create("before\x00after the NUL, NEAR the end")
    assert await wrapper.search("after the") == [card]
    assert await wrapper.search("e\x00a") == [card]
    assert await wrapper.search("NEAR") == [card]
    assert await wrapper.search("NUL, NEAR the end") == [card]
    assert await wrapper.search("nul") == []


def test_the_trigram_index_holds_every_casefolded_character_as_itself_but_three():
    """A substring in any case is decided by the index alone unless its literal holds one of
    ``READ_AS_REPLACEMENT``: every other character a casefolded text can hold is its own
    trigram (the index's own table definition, over all of Unicode)."""
    import sqlite3
    import sys
    from collections import defaultdict

    from mcard.infrastructure.persistence.engine.sqlite_schema import SEARCH
    from mcard.infrastructure.persistence.engine.sqlite_search import READ_AS_REPLACEMENT

    characters = sorted({folded for code in range(1, sys.maxunicode + 1) if not 0xD800 <= code <= 0xDFFF
                         and len(folded := chr(code).casefold()) == 1})
    db = sqlite3.connect(":memory:")
    [table] = [statement for statement in SEARCH if "VIRTUAL TABLE card_text" in statement]
    db.execute(table)
    db.execute("CREATE VIRTUAL TABLE seen USING fts5vocab(card_text, 'instance')")
    db.executemany("INSERT INTO card_text (rowid, content) VALUES (?, ?)", enumerate(char * 3 for char in characters))
    read_as: dict[str, set[str]] = defaultdict(set)
    for row, term in db.execute("SELECT doc, term FROM seen"):
        read_as[term].add(characters[row])
    assert len(read_as) == len(characters) - 2
    assert [chars for chars in read_as.values() if len(chars) > 1] == [set(READ_AS_REPLACEMENT)]
