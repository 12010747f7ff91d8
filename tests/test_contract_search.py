"""Contract: search modes, filters, the query syntax and facets, against a brute-force scan.

Each engine must find exactly what the reference (``mcard.domain.query``) finds over every
card, whether its indexes cover the cards yet or not.
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
import random
import re
import sys
import unicodedata
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from mcard import AsyncPersistenceWrapper, MCard, Sighting, ValidationError
from mcard.domain.query.text import parse_words, required_literals, top_level_branches
from mcard.domain.query import (
    ORDERS, Filters, SearchSpec, WordQuery, card_snippet, count_tokens, reference_search, sort_cards, tokens,
)
from mcard.domain.query.syntax import parse_find
from mcard.domain.query.ranking import Scores, stats_of
from mcard.infrastructure.persistence.engine.facets import SIZE_BUCKETS, size_bucket, time_bucket
from mcard.infrastructure.persistence.engine.sqlite_loop_reads import LOOP_READ_SETTINGS
from tests.writing import written_meanwhile

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
T0 = datetime(2025, 11, 20, tzinfo=timezone.utc)
WORDS = ["straße", "STRASSE", "Strasse", "fox", "Fox", "foxes", "quick", "brown", "ﬁle", "file", "ς", "Σ", "σ",
         "İstanbul", "istanbul", "café", "cafe\u0301", "naïve", "日本語", "x_y", "a-b", "100%", "99", "the", "Ⅻ",
         "Dıe", "KIRMIZI", "kırmızı", "ab\ufffdcd", "ab\ufffecd", "ab\uffffcd"]
TYPES = ["text/plain", "application/json", "image/png", "image/svg+xml", "text/csv"]
TAGS = ["holiday", "work", "Holiday", "two words"]
NAMES = ["a.png", "b.PNG", "notes.txt", "photo [1].png", "data.csv", "x*y.txt"]


def corpus(seed: int = 5) -> list[tuple[MCard, list[str], list[str]]]:
    """Cards with texts mixing the words above (and some bytes), tags and sighting names."""
    rng = random.Random(seed)
    made, seen = [], set()
    for index in range(140):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 7))) + rng.choice(["", ".", "\x00end", ", ok"])
        content: str | bytes = text
        if index % 9 == 0:
            content = text.encode("utf-8")
        elif index % 13 == 0:
            content = b"\xff\xfe" + text.encode("utf-8")
        card = MCard(content, g_time=T0 + timedelta(hours=index * 7))
        if card.hash in seen:  # stored once: the first one stays
            continue
        seen.add(card.hash)
        tags = rng.sample(TAGS, rng.randrange(0, 3))
        names = rng.sample(NAMES, rng.randrange(0, 3))
        made.append((card, tags, names))
    return made


CORPUS = corpus()


def text_of(card: MCard) -> str | None:
    if card.is_text:
        return card.content
    try:
        return card.content.decode("utf-8")
    except UnicodeDecodeError:
        return None


@pytest.fixture
async def store(make_config):
    async with AsyncPersistenceWrapper(make_config()) as opened:
        for card, _, names in CORPUS:
            await opened.save_many(
                [card], sightings=[Sighting.of(card.hash, name=name, seen_at=T0) for name in names]
            )
        await opened.tag_many([(card.hash, tag) for card, tags, _ in CORPUS for tag in tags])
        yield opened


def newest_first(cards):
    return sorted(cards, key=lambda card: (card.g_time, card.hash), reverse=True)


def expected(spec: SearchSpec, filters: Filters = Filters()) -> list[MCard]:
    matcher = spec.matcher()
    found = [card for card, tags, names in CORPUS
             if (text := text_of(card)) is not None and matcher(text) and passes(filters, card, tags, names)]
    return newest_first(found)


def passes(filters: Filters, card: MCard, tags, names) -> bool:
    from mcard.domain.models.card import to_micros

    return filters.matches(content_type=card.content_type, size=card.size, micros=to_micros(card.g_time),
                           tags=tags, names=names, kind=card.kind)


async def both_states(store, check) -> None:
    """Run ``check`` before the search indexes cover the cards, and after."""
    await check()
    if hasattr(store.store, "wait_indexed"):
        await store.store.wait_indexed()
        await check()


async def indexed_or_not(wrapper):
    """Yield twice: before the search indexes cover the cards, and after (a search reads the
    cards not indexed yet otherwise than the index)."""
    yield False
    if hasattr(wrapper.store, "wait_indexed"):
        await wrapper.store.wait_indexed()
        yield True


async def regex_agrees_with_the_reference(store, pattern):
    """``pattern`` finds what the reference finds, in both cases, before and after indexing."""
    async def check():
        for case_sensitive in (True, False):
            spec = SearchSpec.of(pattern, "regex", case_sensitive)
            assert await store.search(pattern, mode="regex", case_sensitive=case_sensitive) == expected(spec)

    await both_states(store, check)


# -- substring ----------------------------------------------------------------------------------
async def test_case_insensitive_substring_follows_casefold(store):
    async def check():
        found = await store.search("straße", case_sensitive=False)
        assert {text_of(c) for c in found} >= {text_of(c) for c, _, _ in CORPUS if text_of(c) and "STRASSE" in text_of(c)}
        assert found == expected(SearchSpec.of("straße", case_sensitive=False))
        assert await store.search("100%", case_sensitive=False) == expected(SearchSpec.of("100%", case_sensitive=False))
        assert await store.search("x_y", case_sensitive=False) == expected(SearchSpec.of("x_y", case_sensitive=False))
        for query in ("b\ufffdc", "B\ufffeC", "ab\uffff"):  # SQLite reads U+FFFE and U+FFFF as U+FFFD
            assert await store.search(query, case_sensitive=False) == expected(SearchSpec.of(query, case_sensitive=False))

    await both_states(store, check)


QUERIES = st.one_of(
    st.sampled_from(WORDS + ["ss", "SS", "ﬁ", "FI", "ΣΑ", "i̇", "é", "e\u0301", "x", "%", "_", "\x00", "\x00e", ". ", "fox f",
                             "b\ufffdc", "b\ufffec", "AB\uffff", "quick brown", "QUICK bro", "brown.", "fox, OK", "the 99"]),
    st.text(st.sampled_from(list("aAsSß fxoFOXé_%.\x00ΣσςİiI")), min_size=1, max_size=4),
)


@SETTINGS
@given(query=QUERIES, case_sensitive=st.booleans())
async def test_substring_matches_a_scan(store, query, case_sensitive):
    spec = SearchSpec.of(query, "substring", case_sensitive)
    assert await store.search(query, case_sensitive=case_sensitive) == expected(spec)


@SETTINGS
@given(query=QUERIES, case_sensitive=st.booleans(), limit=st.integers(1, 12), offset=st.integers(0, 30))
async def test_substring_pages_are_slices_of_every_match_newest_first(store, query, case_sensitive, limit, offset):
    spec = SearchSpec.of(query, "substring", case_sensitive)
    assert await store.search(query, limit, offset, case_sensitive=case_sensitive) == expected(spec)[offset:offset + limit]


@pytest.mark.parametrize("on_the_loop", [True, False], ids=["walks on the loop", "walks on a thread"])
async def test_a_page_of_a_common_text_is_its_newest_matches_wherever_they_lie(make_config, monkeypatch, on_the_loop):
    """A page of a text many cards hold may be read by walking down the cards from the newest;
    it must be the same page when the matches lie only among older cards, when only their case
    differs, beside bytes that are not text, in a large text, with filters, and whether the
    index covers the cards yet or not. SQLite walks short pages on the event loop's connection
    (``sqlite_loop_reads``), else on a reader's thread: both are checked."""
    if not on_the_loop:
        monkeypatch.setitem(LOOP_READ_SETTINGS, "walk_cards", 0)
    older = [MCard(f"river bank {n}", g_time=T0 + timedelta(minutes=max(n, 5))) for n in range(150)]  # 6 tied
    newer = [MCard(f"stone wall {n}", g_time=T0 + timedelta(days=1, minutes=n)) for n in range(400)]
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.save_many(older + newer)
        await store.tag_many([(card.hash, "bank") for card in older[::3]])

        async def pages(query: str, limit: int, offset: int = 0, **options) -> None:
            every = await store.search(query, **options)
            assert await store.search(query, limit, offset, **options) == every[offset:offset + limit]
            regex = re.escape(query) if "mode" not in options else query
            everything = await store.search(regex, mode="regex", case_sensitive=options.get("case_sensitive", True))
            assert await store.search(regex, limit, offset, mode="regex",
                                      case_sensitive=options.get("case_sensitive", True)) == everything[offset:offset + limit]

        async def check() -> None:
            for case_sensitive in (True, False):
                await pages("river", 5, case_sensitive=case_sensitive)
                await pages("river", 3, 40, case_sensitive=case_sensitive)
                await pages("RIVER", 5, case_sensitive=case_sensitive)
            assert await store.search("river", 4, tag="bank") == [older[n] for n in (147, 144, 141, 138)]
            assert await store.search("river", 3, end_time=T0 + timedelta(minutes=100)) == older[100:97:-1]
            for query in ("river", "river -mouth", "type:text/plain river", "before:2025-11-20T02:00 river", "stone",
                          "mouth"):
                every = await store.find(query)
                for order, limit, offset in (("newest", 5, 0), ("newest", 3, 40), ("oldest", 4, 2), ("oldest", 3, 60)):
                    found = await store.find(query, limit, offset, order=order)
                    assert found.total == every.total
                    assert list(found) == sort_cards(list(every), order)[offset:offset + limit]

        async def only_older_cards_match() -> None:
            await check()
            assert [card.content for card in await store.search("river", 2)] == ["river bank 149", "river bank 148"]
            assert await store.search("river", 3, start_time=T0 + timedelta(minutes=148)) == [older[149], older[148]]

        await both_states(store, only_older_cards_match)
        await store.save_many([MCard(f"{n} " + "zq" * 10_000, g_time=T0 + timedelta(days=1, hours=n)) for n in range(40)])
        await both_states(store, only_older_cards_match)  # large texts among the newest
        large = MCard("x" * 40_000 + " River", g_time=T0 + timedelta(days=3))
        utf8 = MCard("a river in bytes".encode("utf-8"), g_time=T0 + timedelta(days=3, minutes=1))
        not_text = MCard(b"\xff\xfe river " + bytes(range(256)) * 100, g_time=T0 + timedelta(days=3, minutes=2))
        upper = [MCard(f"RIVER mouth {n}", g_time=T0 + timedelta(days=2, minutes=n)) for n in range(200)]
        await store.save_many([large, utf8, not_text, *upper])
        await both_states(store, check)
        assert await store.search("river", 3, case_sensitive=False) == [utf8, large, upper[-1]]
        assert await store.search("river", 2) == [utf8, older[149]]
        assert await store.search("river", 2, mode="regex", case_sensitive=False) == [utf8, large]


async def test_a_page_the_newest_cards_hold_a_few_matches_of_is_the_slice_of_all(make_config):
    """The newest cards may hold a text too seldom to fill a page but often enough to tell its
    share, and a page is then walked without counting the index's hits: it must still be the
    slice of all matches, also when that share misleads (a rare text written together, newest,
    the rest of its matches far older)."""
    common = [MCard(f"{'kestrel' if n % 8 == 0 else 'plover'} {n}", g_time=T0 + timedelta(seconds=n)) for n in range(3000)]
    together = [MCard(f"osprey nest {n}", g_time=T0 + timedelta(days=1, seconds=n)) for n in range(6)]
    older = [MCard(f"an old osprey {n}", g_time=T0 - timedelta(days=1, seconds=n)) for n in range(30)]
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.save_many(common + together + older)

        async def check() -> None:
            for query, limit, offset in (("kestrel", 20, 0), ("KESTREL", 12, 5), ("osprey", 20, 0), ("OSPREY", 5, 10)):
                for case_sensitive in (True, False):
                    every = await store.search(query, case_sensitive=case_sensitive)
                    page = await store.search(query, limit, offset, case_sensitive=case_sensitive)
                    assert page == every[offset:offset + limit]
            assert len(await store.search("osprey", 20)) == 20

        await both_states(store, check)


# -- words --------------------------------------------------------------------------------------
WORD_TERMS = st.sampled_from(["fox", "Fox", "foxes", "fox*", "fo*", "quick", "straße", "strasse", "ﬁle", "file",
                              "café", "cafe", "σ", "ς", "日本語", "x", "y", "a", "b", "100", "99", "the", "xii", "ⅻ"])
WORD_QUERIES = st.lists(
    st.one_of(WORD_TERMS, WORD_TERMS.map(lambda t: "-" + t), st.tuples(WORD_TERMS, WORD_TERMS).map(lambda p: f'"{p[0]} {p[1]}"'),
              st.tuples(WORD_TERMS, WORD_TERMS).map(lambda p: f"{p[0]} OR {p[1]}")),
    min_size=1, max_size=3,
).map(" ".join)


@SETTINGS
@given(query=WORD_QUERIES)
async def test_words_find_the_same_set_as_a_scan(store, query):
    try:
        spec = SearchSpec.of(query, "words")
    except ValidationError:
        with pytest.raises(ValidationError):
            await store.search(query, mode="words")
        return
    found = await store.search(query, mode="words")
    assert sorted(c.hash for c in found) == sorted(c.hash for c in expected(spec))
    assert len(found) == len({c.hash for c in found})


async def test_words_rank_better_matches_first_and_page_stably(store):
    many = MCard("fox fox fox fox quick", g_time=T0 - timedelta(days=9))
    await store.save(many)
    if hasattr(store.store, "wait_indexed"):  # cards not indexed yet come after ranked ones
        await store.store.wait_indexed()
    found = await store.search("fox quick", mode="words")
    assert found[0] == many
    pages = [card for offset in range(0, len(found), 3) for card in await store.search("fox quick", 3, offset, mode="words")]
    assert pages == found


@pytest.mark.parametrize("query", ["fox", "fox quick", '"the fox" OR straße', "fox* -quick", "99 OR 100"])
async def test_words_rank_by_bm25_over_the_whole_store(store, query):
    """Best first by the reference BM25 (``ranking``: FTS5's arithmetic), with statistics over
    every card that has text, whether the index covers the cards yet or not."""
    words = WordQuery.parse(query)
    texts = [tokens(text) for card, _, _ in CORPUS if (text := text_of(card)) is not None]
    stats = stats_of(words, texts)

    async def check():
        found = await store.search(query, mode="words")
        assert sorted(c.hash for c in found) == sorted(c.hash for c in expected(SearchSpec.of(query, "words")))
        scores = [Scores(words, stats).of(tokens(text_of(card))) for card in found]
        assert all(a >= b - 1e-9 for a, b in zip(scores, scores[1:])), scores

    await both_states(store, check)


async def test_words_rank_while_removed_cards_are_still_in_the_index(wrapper):
    """A word search while the index is behind, right after a removal (whose index entries
    are purged later), ranks only stored cards (it raised ValueError: math domain error)."""
    first, removed = MCard("quokka one", g_time=T0), MCard("quokka two", g_time=T0 + timedelta(hours=1))
    await wrapper.save_many([first, removed])
    if hasattr(wrapper.store, "wait_indexed"):
        await wrapper.store.wait_indexed()
    await wrapper.remove(removed.hash)
    newer = MCard("quokka three", g_time=T0 + timedelta(hours=2))
    await wrapper.save(newer)
    found = await wrapper.search("quokka", mode="words")
    assert sorted(card.hash for card in found) == sorted([first.hash, newer.hash])
    assert (await wrapper.find("quokka", limit=1)).total == 2


async def test_words_rank_right_after_a_removal_as_over_the_cards_left(wrapper):
    """The removed cards no longer count in the statistics (SQLite's index holds them until a
    background step purges them, and its bm25() counted them: the best match came second)."""
    top, second = MCard("alpha alpha", g_time=T0), MCard("beta beta", g_time=T0 - timedelta(days=1))
    gone = [MCard(f"beta note {i}", g_time=T0 - timedelta(days=2)) for i in range(3)]
    rest = [MCard("alpha gamma", g_time=T0 - timedelta(days=3))] + [MCard(f"filler {i}") for i in range(6)]
    await wrapper.save_many([top, second, *gone, *rest])
    if hasattr(wrapper.store, "wait_indexed"):
        await wrapper.store.wait_indexed()
    await wrapper.remove_many([card.hash for card in gone])
    expected = reference_search(SearchSpec.of("alpha OR beta", "words"), [top, second, *rest])
    assert [card.content for card in expected][:2] == ["beta beta", "alpha alpha"]
    assert await wrapper.search("alpha OR beta", mode="words") == expected
    assert await wrapper.search("alpha OR beta", 1, mode="words") == expected[:1]


async def test_a_word_given_again_changes_nothing(store):
    """Repeats are asked once: the same cards in the same order (500 copies of a common word
    took 19 s at 50,000 cards, each copy a pass of its own)."""
    assert WordQuery.parse("fox " * 500 + '"quick brown" "quick brown" -lazy -lazy') == WordQuery.parse('fox "quick brown" -lazy')
    for once, again in (("fox", "fox fox"), ("fox dog", "fox dog fox"), ("fox -lazy", "fox -lazy fox -lazy")):
        assert await store.search(again, mode="words") == await store.search(once, mode="words")
        assert (await store.find(again)).total == (await store.find(once)).total


async def test_words_longer_than_the_index_keeps_are_refused(wrapper):
    """SQLite's word index cuts a word at 32,768 bytes: a query word is at most 8,000 characters
    (of up to four bytes), so what matches is what equals, on every engine."""
    letter = "\U00010428"  # a letter of four bytes in UTF-8 (Deseret)
    long_word = await wrapper.create(letter * 9000)
    assert await wrapper.search(letter * 8000, mode="words") == []
    assert await wrapper.search(letter * 8000 + "*", mode="words") == [long_word]
    for query in (letter * 8192, f"{letter * 8001}*", f"alpha -{letter * 8001}"):
        with pytest.raises(ValidationError, match="at most 8,000 characters"):
            await wrapper.search(query, mode="words")


async def test_a_search_text_longer_than_a_query_is_refused_before_the_engine_reads_it(wrapper):
    """A text of more than 10,000 characters is a ``ValidationError``, as a word query and a
    pattern are: case-insensitively, SQLite failed past 50,000 bytes (LIKE pattern too
    complex) and PostgreSQL worked on its pattern for seconds before failing."""
    card = await wrapper.create("AB" * 10_000 + " end")
    assert await wrapper.search("ab" * 5_000, case_sensitive=False) == [card]
    for case_sensitive in (True, False):
        with pytest.raises(ValidationError, match="^a search text is at most 10,000 characters, got 30,000$"):
            await wrapper.search("ab" * 15_000, case_sensitive=case_sensitive)


@pytest.mark.parametrize("bad", ['"unclosed', "-only", "a OR", "OR a", "*", ""])
async def test_a_malformed_word_query_is_a_validation_error(store, bad):
    with pytest.raises(ValidationError):
        await store.search(bad, mode="words")


# -- regex --------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, message", [
    ("[unclosed", "unterminated character set at position 0$"),
    ("(?<=a+)b", "look-behind requires fixed-width pattern$"),  # re gives no position
    ("a{4294967295}", "the repetition number is too large$"),
    ("(" * 500 + "a" + ")" * 500, "nested too deeply for Python's re$"),
    ("(?u)(?a)a", "ASCII and UNICODE flags are incompatible$"),  # re raises ValueError, not re.error
    ("(?a)(?u)fox", "ASCII and UNICODE flags are incompatible$"),
])
async def test_a_pattern_re_cannot_compile_is_a_validation_error(store, bad, message):
    with pytest.raises(ValidationError, match=f"^not a regular expression: {re.escape(message[:-1])}$"):
        await store.search(bad, mode="regex")


REGEXES = st.one_of(
    st.sampled_from([r"fox(es)?\b", r"^[A-Z]", r"\d+%", r"straße|STRASSE", r"ﬁ\w+", r"caf(e\u0301|é)", r"\x00",
                     r"(?i)fox", r"qu.ck", r"[σς]", r"日本", r"\s{2,}", r"a-b", r"die", r"istanbul", r"kirmizi"]),
    st.text(st.sampled_from(list("foxquickFOX.*+?|()[]^$\\ab")), min_size=1, max_size=6),
)


@pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")  # re's note on "[[" in a made-up pattern
@SETTINGS
@given(pattern=REGEXES, case_sensitive=st.booleans())
async def test_regex_matches_python_re(store, pattern, case_sensitive):
    try:
        re.compile(pattern)
    except re.error:
        with pytest.raises(ValidationError, match="position"):
            await store.search(pattern, mode="regex")
        return
    spec = SearchSpec.of(pattern, "regex", case_sensitive)
    assert await store.search(pattern, mode="regex", case_sensitive=case_sensitive) == expected(spec)


@SETTINGS
@given(pattern=REGEXES, limit=st.integers(1, 30), offset=st.integers(0, 60))
async def test_regex_pages_are_slices_of_every_match_newest_first(store, pattern, limit, offset):
    """A page without a total stops reading once it is full: it must still be the same slice."""
    try:
        spec = SearchSpec.of(pattern, "regex")
    except ValidationError:
        return
    assert await store.search(pattern, limit, offset, mode="regex") == expected(spec)[offset:offset + limit]


async def test_a_large_text_is_checked_whole(make_config):
    async with AsyncPersistenceWrapper(make_config()) as store:
        large = await store.create("x" * 200_000 + " needle")
        await store.save_many([MCard(f"small {n}", g_time=T0 + timedelta(minutes=n)) for n in range(300)])
        assert await store.search(r"x needle$", 1, mode="regex") == [large]
        assert await store.search(r"x needle$", mode="regex") == [large]
        every = await store.search(r"needle$|small 2\d\d", mode="regex")
        assert every[0] == large and [card.content for card in every[1:]] == [f"small {n}" for n in range(299, 199, -1)]
        assert await store.search(r"needle$|small 2\d\d", 3, 98, mode="regex") == every[98:101]


async def test_a_long_text_is_found_exactly_where_it_repeats_and_where_only_its_start_is(make_config):
    """A text longer than the part of it the index looks up is found only where it is whole,
    in either case, also in a text made of one letter repeated."""
    long_text = "The quick brown fox jumps over the lazy dog and then rests by the river"
    async with AsyncPersistenceWrapper(make_config()) as store:
        whole = await store.create(f"start {long_text} end")
        shouted = await store.create(long_text.upper())
        await store.create(long_text[:50] + " but not the rest")
        repeated = await store.create("x" * 20_000 + " tail")
        await store.create("x" * 999 + "y" + "x" * 999)
        await store.store.wait_indexed()
        assert await store.search(long_text) == [whole]
        assert set(await store.search(long_text.lower(), case_sensitive=False)) == {whole, shouted}
        assert await store.search(long_text[:50] + " but not") != []
        for case_sensitive in (True, False):
            assert await store.search("x" * 5000, case_sensitive=case_sensitive) == [repeated]
            assert await store.search("x" * 1000 + "y", case_sensitive=case_sensitive) == []
            assert await store.search("x" * 999 + "yx", 1, case_sensitive=case_sensitive) != []


PATTERN_PARTS = st.sampled_from([
    "a", "b", "ab", "x", ".", "[ab]", "[^a]", "[]a]", "[a-x]", "a?", "b*", "x+", "(ab)?", "a{0}", "b{2}", "x{,2}",
    "a{1,3}", "{", "}", "\\.", "\\d", "\\b", "^", "$", "(?=a)", "(?:x)", "|",
    "\\x61", "\\x62b", "\\u0061", "\\U00000062", "\\N{LATIN SMALL LETTER A}", "\\141", "\\0", "(a)\\1", "(b)\\1b",
    "(?#x)", "(?#(|)", "(?x:#)\n", "(?x: a | b )", ")",
])


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(PATTERN_PARTS, min_size=1, max_size=6), text=st.text(st.sampled_from("abx.{}2 "), max_size=14))
def test_every_match_holds_the_literals_the_index_looks_up(parts, text):
    """The index narrows a regular expression by its required literals: a literal that some
    match lacks would lose that match."""
    pattern = "".join(parts)
    try:
        found = re.search(pattern, text)
    except re.error:
        return
    if found is not None:
        assert all(literal in found.group(0) for literal in required_literals(pattern)), pattern


LITERAL_TEXT = st.text(st.sampled_from("aiIıİsSſßkKKxé. "), max_size=10)


@settings(max_examples=500, deadline=None)
@given(parts=st.lists(st.one_of(PATTERN_PARTS, LITERAL_TEXT), min_size=1, max_size=4), text=LITERAL_TEXT,
       case_sensitive=st.booleans())
def test_the_casefolded_text_of_every_match_holds_the_folded_literals(parts, text, case_sensitive):
    """An index of casefolded text is looked up with these: in any case, ``i`` matches ``ı``
    and ``İ``, whose casefolds are other letters, so no literal may span them."""
    spec, folded = folded_match("".join(parts), text, case_sensitive)
    if folded is not None:
        assert all(literal in folded for literal in spec.folded_literals()), spec.query


def folded_match(pattern: str, text: str, case_sensitive: bool) -> tuple[SearchSpec, str | None]:
    """The regex search of ``pattern`` and the casefold of its first match in ``text`` (None
    when nothing matches or the pattern is not valid)."""
    spec = SearchSpec(mode="regex", query=pattern, case_sensitive=case_sensitive)
    try:
        found = re.search(pattern, text, 0 if case_sensitive else re.IGNORECASE)
    except re.error:
        return spec, None
    return spec, None if found is None else found.group(0).casefold()


@settings(max_examples=500, deadline=None)
@given(parts=st.lists(st.one_of(PATTERN_PARTS, LITERAL_TEXT, st.just("|")), min_size=1, max_size=6),
       text=LITERAL_TEXT, case_sensitive=st.booleans())
def test_every_match_holds_the_literals_of_one_alternative(parts, text, case_sensitive):
    """The index looks up one literal of each top-level alternative (``cat|dog``): a match
    that holds none of them would be lost."""
    spec, folded = folded_match("".join(parts), text, case_sensitive)
    if folded is not None:
        alternatives = spec.folded_alternatives()
        assert not alternatives or any(all(literal in folded for literal in alternative) for alternative in alternatives)


def test_alternatives_are_split_at_the_top_level_only():
    assert top_level_branches("cat|dog") == ["cat", "dog"]
    assert top_level_branches(r"a\|b|[|]c|(d|e)f|") == [r"a\|b", "[|]c", "(d|e)f", ""]
    assert SearchSpec.of("Straße|fox", "regex", False).folded_alternatives() == [["strasse"], ["fox"]]
    assert SearchSpec.of("fox|", "regex").folded_alternatives() == []  # the empty alternative matches anything
    assert SearchSpec.of("quokka|wombat", "regex").folded_alternatives() == [["quokka"], ["wombat"]]


@pytest.mark.parametrize("pattern", [r"fox|quick", r"straße|KIRMIZI", r"Fox\b|日本語", r"(?i)FOX|brown", r"fox|q",
                                     r"caf(e\u0301|é)|istanbul", r"\x00end|naïve", r"brown\b|\bthe\b|file",
                                     "\\b(?x:#)\nfox#the\n|quick)", "quick(?#()|brown", "quickk(?#x)?"])
async def test_alternatives_search_the_index_and_stay_exact(store, pattern):
    await regex_agrees_with_the_reference(store, pattern)


def test_only_i_and_its_kin_match_a_letter_of_another_casefold_in_any_case():
    """Every pair of characters Python's ``re`` treats as equal in any case has one casefold,
    but for ``i``, ``I``, ``ı`` and ``İ`` (what ``folded_literals`` splits at)."""
    import _sre
    from collections import defaultdict
    from re import _casefix

    groups: dict[int, set[int]] = defaultdict(set)
    for code in range(sys.maxunicode + 1):
        groups[_sre.unicode_tolower(code)].add(code)
    classes = [group for group in groups.values() if len(group) > 1]
    classes += [{code, *others} for code, others in _casefix._EXTRA_CASES.items()]
    across = {chr(a) for group in classes for a in group for b in group
              if a != b and re.fullmatch(re.escape(chr(a)), chr(b), re.IGNORECASE)
              and chr(a).casefold() != chr(b).casefold()}
    assert across == set("iIıİ")


@pytest.mark.parametrize("pattern", [r"fox(es)?\b", r"fox\.", r"quick$", r"straße\s+\w", r"Fox", r"istanbul", r"dıe",
                                     r"\x66ox", r"caf\u00e9", r"\N{LATIN SMALL LETTER F}ox", r"\146ox", r"(f)ox \1ox"])
async def test_regex_candidates_from_the_index_are_checked(store, pattern):
    """The index gives candidates holding the literal part in any case: each is checked."""
    await regex_agrees_with_the_reference(store, pattern)


# -- filters ------------------------------------------------------------------------------------
FILTERS = st.fixed_dictionaries({}, optional={
    "content_type": st.sampled_from(TYPES + ["image/*", "text/*", "application/*", "video/*"]),
    "min_size": st.integers(0, 60),
    "max_size": st.integers(0, 60),
    "tag": st.one_of(st.sampled_from(TAGS), st.lists(st.sampled_from(TAGS), max_size=2)),
    "name": st.sampled_from(["*.png", "*.PNG", "[ab].*", "[!a]*", "photo [[]1].png", "*[*]*", "notes.???", "*"]),
    "start_time": st.integers(0, 900).map(lambda h: T0 + timedelta(hours=h)),
    "end_time": st.integers(0, 900).map(lambda h: T0 + timedelta(hours=h)),
    "kind": st.sampled_from(["text", "bytes"]),
})


@SETTINGS
@given(filters=FILTERS)
async def test_filters_agree_with_the_reference_everywhere(store, filters):
    checked = Filters.of(**filters)
    want = newest_first([card for card, tags, names in CORPUS if passes(checked, card, tags, names)])
    assert await store.list(**filters) == want
    assert await store.count(**filters) == len(want)
    assert [c async for c in store.iterate(page_size=7, **filters)] == want
    assert await store.list(5, 2, **filters) == want[2:7]
    for query, mode, case_sensitive in (("o", "substring", False), ("fox", "substring", True),
                                        ("Fox Q", "substring", False), ("straße", "substring", False),
                                        ("fox(es)?", "regex", False)):
        spec = SearchSpec.of(query, mode, case_sensitive)  # scanned, then through the index
        found = await store.search(query, mode=mode, case_sensitive=case_sensitive, **filters)
        assert found == expected(spec, checked), (query, mode, case_sensitive)


# -- the query syntax and facets ----------------------------------------------------------------
async def test_find_combines_fields_and_words_and_counts_everything(store):
    found = await store.find('fox tag:work type:text/* -quick', limit=2)
    spec = SearchSpec.of("fox -quick", "words")
    want = [c for c, tags, names in CORPUS if "work" in tags and c.content_type.startswith("text/")
            and (t := text_of(c)) is not None and spec.matcher()(t)]
    assert found.total == len(want) and len(found) == min(2, len(want))
    assert {c.hash for c in found} <= {c.hash for c in want}
    everything = await store.find("", limit=3)
    assert everything.total == len(CORPUS) and len(everything) == 3
    january = await store.find(f"after:{T0.date().isoformat()} before:{(T0 + timedelta(days=10)).date().isoformat()}")
    assert january.total == sum(1 for c, _, _ in CORPUS if T0 <= c.g_time < T0 + timedelta(days=10))


async def test_find_leaves_out_the_types_tags_and_names_a_minus_names(store):
    """``-type:``, ``-tag:`` and ``-name:`` leave out the cards they name: a card without tags
    or names is kept, as is a card of another type; with words, with fields, counted and
    faceted alike."""
    def kept(test) -> list[MCard]:
        return newest_first([card for card, tags, names in CORPUS if test(card, tags, names)])

    cases = {
        "-tag:work": lambda card, tags, names: "work" not in tags,
        "-tag:work -tag:holiday": lambda card, tags, names: not {"work", "holiday"} & set(tags),
        "tag:work -tag:holiday": lambda card, tags, names: "work" in tags and "holiday" not in tags,
        "-type:text/*": lambda card, tags, names: not card.content_type.startswith("text/"),
        "-type:text/plain -type:image/png": lambda card, tags, names: card.content_type != "text/plain",
        "-name:*.png": lambda card, tags, names: not any(name.endswith(".png") for name in names),
        "name:*.png -name:a*": lambda card, tags, names: any(name.endswith(".png") for name in names)
        and not any(name.startswith("a") for name in names),
    }
    for query, test in cases.items():
        want = kept(test)
        assert 0 < len(want) < len(CORPUS), query
        found = await store.find(query)
        assert [card.hash for card in found] == [card.hash for card in want] and found.total == len(want), query
        facets = await store.facets(query, by=("content_type",))
        assert sum(count for _, count in facets["content_type"]) == len(want), query
        fox = SearchSpec.of("fox", "words").matcher()
        with_words = await store.find(f"fox {query}")
        assert {card.hash for card in with_words} == {card.hash for card in want if (t := text_of(card)) and fox(t)}, query


GLOB_TAGS = ["trip-paris", "trip-rome", "trip", "Trip-x", "2026/01", "2026/02/x", "2026", "draft", "draft-2", "a*", "a?",
             "ab", "[x]", "x", "a[b", "caf\u00e9", "cafe", "\u65e5\u672c", "\U0001f600", "!", "]", "-", "^", "*"]
TAG_GLOBS = [
    "trip-*", "2026/*", "draft*", "a[*]", "a[?]", "a*", "a?", "[[]x]", "a[[]b", "a[b", "[!a]*", "[!]]", "[]]", "[^a]*",
    "[!-]", "*", "?", "??", "[*]", "caf?", "caf[\u00e9]", "cafe\u0301", "[!e]", "\u65e5*", "[\U0001f600]", "[!!-~]*",
    "[z-a]", "nomatch*", "T*", "*-*", "[]-b]", "[--0]*",
]


def tag_glob_reference(tags: list[str], pattern: str) -> bool:
    """Whether a card carrying ``tags`` has one ``fnmatchcase`` matches to ``pattern`` (composed,
    as a typed tag is)."""
    return any(fnmatch.fnmatchcase(tag, unicodedata.normalize("NFC", pattern)) for tag in tags)


async def test_a_tag_value_holding_a_glob_character_matches_the_tags_as_fnmatchcase(make_config):
    """``tag:trip-*``, ``tag:2026/*``, ``-tag:draft*`` match the tags as ``fnmatchcase`` does, in
    ``find``, ``find_heads`` and ``facets``; a tag holding ``*``, ``?`` or ``[`` is named escaped
    (``tag:a[*]``); a value without one is a tag, and so is the ``tag=`` of the listings. They
    were all read as tags: ``tag:trip-*`` found nothing."""
    rng = random.Random(7)
    cards = [(MCard(f"tagged card {i}", g_time=T0 + timedelta(hours=i)), rng.sample(GLOB_TAGS, rng.randrange(0, 4)))
             for i in range(60)]
    cards += [(MCard(f"tagged alone {tag}", g_time=T0 - timedelta(hours=i)), [tag]) for i, tag in enumerate(GLOB_TAGS)]

    def kept(test) -> list[str]:
        return [card.hash for card in newest_first([card for card, tags in cards if test(tags)])]

    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.save_many([card for card, _ in cards])
        await store.tag_many([(card.hash, tag) for card, tags in cards for tag in tags])
        queries = {f"tag:{pattern}": lambda tags, p=pattern: tag_glob_reference(tags, p) for pattern in TAG_GLOBS}
        queries |= {f"-tag:{pattern}": lambda tags, p=pattern: not tag_glob_reference(tags, p) for pattern in TAG_GLOBS}
        queries |= {
            "tag:trip-* -tag:*rome": lambda tags: tag_glob_reference(tags, "trip-*") and not tag_glob_reference(tags, "*rome"),
            "tag:2026/* tag:*x": lambda tags: tag_glob_reference(tags, "2026/*") and tag_glob_reference(tags, "*x"),
            "-tag:a* -tag:[!a]*": lambda tags: not tags,
            "tag:trip -tag:draft* -tag:x": lambda tags: "trip" in tags and not tag_glob_reference(tags, "draft*") and "x" not in tags,
            "tag:a[*] tag:ab": lambda tags: {"a*", "ab"} <= set(tags),
            "tag:* -tag:[z-a]": lambda tags: bool(tags),
        }
        for query, test in queries.items():
            want = kept(test)
            found = await store.find(query)
            assert [card.hash for card in found] == want and found.total == len(want), ascii(query)
            heads = await store.store.find_heads(query, 5, 1, head=4)
            assert [row[0] for row in heads] == want[1:6] and heads.total == len(want), ascii(query)
            assert (await store.find(query, limit=0)).total == len(want), ascii(query)
            facets = await store.facets(query, by=("tag",))
            tags_of = {card.hash: tags for card, tags in cards}
            counted = Counter(tag for key in want for tag in tags_of[key])
            assert dict(facets["tag"]) == dict(counted), ascii(query)
        assert await store.find("tag:nomatch*") == [] and len(await store.find("-tag:nomatch*")) == len(cards)
        for tag in ("a*", "a?", "[x]", "a[b", "*"):
            assert [c.hash for c in await store.list(tag=tag)] == kept(lambda tags, t=tag: t in tags), tag
        assert [c.hash for c in await store.find("tag:trip")] == kept(lambda tags: "trip" in tags)


async def test_a_query_holds_at_most_ten_tag_globs(store):
    """Each ``tag:`` glob is a test of the tag table (PostgreSQL took 10 s to plan 50): an
    eleventh is refused, saying where; a tag named escaped (``tag:a[*]``) is a tag, not counted."""
    ten = "tag:[hw]* " + " ".join(f"-tag:*{digit}*" for digit in range(1, 10))
    escaped = " ".join(f"-tag:x{i}[*]" for i in range(20))
    want = [card.hash for card in newest_first([c for c, tags, _ in CORPUS if any(t[0] in "hw" for t in tags)])]
    for query in (ten, f"{ten} {escaped}", f"{ten} tag:[hw]*"):
        found = await store.find(query)
        assert [card.hash for card in found] == want and found.total == len(want), query
    with pytest.raises(ValidationError, match=f"^a query holds at most 10 tag: globs, at position {len(ten) + 1}$"):
        await store.find(f"{ten} tag:*o*")
    with pytest.raises(ValidationError, match="at most 10 tag: globs"):
        await store.facets(f"{ten} -tag:?")


TAG_PIECES = st.sampled_from(["a", "b", "-", "/", "\u00e9", "e\u0301", "\u65e5", "*", "?", "[", "]", "!", "^"])
GLOB_PIECES = st.one_of(TAG_PIECES, st.sampled_from(["*", "?", "[!", "[", "]", "[a-b]", "[!\u00e9]"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tagged=st.lists(st.lists(st.lists(TAG_PIECES, min_size=1, max_size=4).map("".join), max_size=3), min_size=1, max_size=6),
       patterns=st.lists(st.lists(GLOB_PIECES, min_size=1, max_size=4).map("".join).filter(lambda p: set("*?[") & set(p)),
                         min_size=1, max_size=3))
async def test_tag_globs_over_any_tags_agree_with_fnmatchcase(make_config, tagged, patterns):
    async with AsyncPersistenceWrapper(make_config()) as store:
        cards = [MCard(f"tags {i}", g_time=T0 + timedelta(hours=i)) for i in range(len(tagged))]
        await store.save_many(cards)
        await store.tag_many([(card.hash, tag) for card, tags in zip(cards, tagged) for tag in tags])
        stored = [[unicodedata.normalize("NFC", tag) for tag in tags] for tags in tagged]
        for pattern in patterns:
            value = '"' + pattern.replace('"', '""') + '"'
            want = [c.hash for c, tags in zip(cards, stored) if tag_glob_reference(tags, pattern)][::-1]
            assert [c.hash for c in await store.find(f"tag:{value}")] == want, (ascii(tagged), ascii(pattern))
            left = [c.hash for c, tags in zip(cards, stored) if not tag_glob_reference(tags, pattern)][::-1]
            assert [c.hash for c in await store.find(f"-tag:{value}")] == left, (ascii(tagged), ascii(pattern))
        await store.remove_many([c.hash for c in cards])


async def test_find_counts_the_cards_it_lists_while_another_task_writes(store):
    """Without a limit, ``total`` is the number of cards listed, from the same snapshot, also
    while cards are being added: it was counted apart from the page (a few in ten disagreed)."""
    async with written_meanwhile(store):
        for _ in range(25):
            for query in ("", "type:text/*", "fox", "-fox", "type:text/* -quick -fox"):
                found = await store.find(query)
                assert len(found) == found.total, query
                if "-fox" in query:  # what is written meanwhile holds it
                    assert not any("fox" in tokens(text_of(card) or "") for card in found), query


@pytest.mark.parametrize("query", ["", "fox", "tag:work", "-fox", "type:text/*", "f.x"])
async def test_facets_by_no_field_are_none_whatever_the_query(store, query):
    """SQLite failed with "incomplete input" for every query but the empty one."""
    assert await store.facets(query, by=()) == {}
    with pytest.raises(ValidationError, match="position"):
        await store.facets(query + ' "open', by=())


async def test_facets_of_one_call_count_one_state_of_the_store_while_another_task_writes(store):
    """Every field of one ``facets`` call counts the same cards, also while cards are being
    added: over every card, SQLite counted each field on its own (two could disagree)."""
    async with written_meanwhile(store):
        for _ in range(25):
            for query in ("", "type:text/*", "-fox"):
                facets, found = await asyncio.gather(  # reads beside it keep to their own snapshots
                    store.facets(query, by=("content_type", "kind", "size", "month", "time")), store.find("fox"))
                totals = {field: sum(n for _, n in counts) for field, counts in facets.items()}
                assert len(set(totals.values())) == 1, (query, totals)
                assert len(found) == found.total


async def test_reads_of_every_kind_at_once_give_what_each_gives_alone(store):
    """A search, a page, facets and a regular expression run together, in every order of
    starting: on SQLite a reader chosen by one read (before its first statement was queued)
    was lent to another for a transaction of its own ("cannot start a transaction within a
    transaction")."""
    reads = {
        "find": lambda: store.find("fox", limit=10),
        "page": lambda: store.list(limit=5),
        "facets": lambda: store.facets("", by=("content_type", "month")),
        "regex": lambda: store.search("f.x", mode="regex", limit=5),
    }

    def seen(name: str, result: object) -> object:
        return result if name == "facets" else [card.hash for card in result]  # type: ignore[attr-defined]

    alone = {name: seen(name, await read()) for name, read in reads.items()}
    for order in itertools.permutations(reads):
        for _ in range(3):
            results = await asyncio.gather(*(reads[name]() for name in order))
            assert {name: seen(name, result) for name, result in zip(order, results)} == alone, order


@pytest.mark.parametrize("query", ["", "type:text/*", "fox"])
async def test_the_total_is_right_for_a_partial_a_full_and_an_empty_page(store, query):
    total = (await store.find(query)).total
    assert total > 3
    assert (await store.find(query, limit=3, offset=total - 2)).total == total  # told by the page
    assert (await store.find(query, limit=total)).total == total  # a full page: counted
    past = await store.find(query, limit=3, offset=total + 5)  # past the end: counted
    assert list(past) == [] and past.total == total


async def test_a_size_apart_from_its_sign_and_too_many_exclusions_say_what_to_write(store):
    for sign in (">", ">=", "<", "="):
        with pytest.raises(ValidationError, match=f"position 5: a size goes right after '{sign}', with no space, such as size:{sign}1MB"):
            await store.find(f"size:{sign} 1MB")
    with pytest.raises(ValidationError, match=r"too many words excluded to search \(1400\): .* \(10,000 characters\)$"):
        await store.find(" ".join(f"-w{i}" for i in range(1400)))


@pytest.mark.parametrize("bad, position", [
    ("size:>lots", 5), ('"open', 0), ("type:nope", 5), ("-size:>1MB", 0), ("fox -after:2026-01-01", 4), ("-tag:", 5), ("after:2025-11-28 12:00:00+00:00", 17), ("after:x", 6), ("before:0001-01-01", 7),
    ('tag:"open', 4), ("size:99999999999999999999999GB", 5), ("size:>9223372036854775807", 5), ("size:5..2", 5),
    ("size:<0", 5), ("size:20.5", 5), ("size:5ib", 5), ("size:5i", 5), ("after:2026-01-01x02:00", 6),
    ("after:2026-01-01+24:00", 6), ("before:2026-01-01+23:60", 7),
    # a fraction of an hour or a minute (Python reads "T10.5" as 10:00:00.5, ISO 8601 as 10:30)
    ("after:2026-01-01T10.5", 6), ("fox before:2026-01-01T10:30.5Z", 11), ("after:2026-01-01T1030,25", 6),
    # a '*' the search would drop: inside a word, ending a phrase, inside quotes
    ("fox OR -draft", 7), ("fox -draft OR memo", 4), ("tag:x -draft OR memo", 6), ("fox rep*about", 7), ("fox txt.ex*", 10), ('fox "quick bro*"', 14), ("type:text/* ab**", 15),
    ("type:text/plain fox type:image/png", 20), ("fox name:" + "x" * 5000, 9), ("\ud800", 0), ("fox \udcff", 4),
])
async def test_a_malformed_query_points_at_the_position(store, bad, position):
    with pytest.raises(ValidationError, match=f"position {position}"):
        await store.find(bad)


async def test_or_after_an_excluded_word_is_refused_not_read_as_joining_the_word_before(store):
    """``fox -draft OR memo`` was read as ``(fox OR memo) -draft``."""
    for query in ("fox -draft OR memo", "-draft OR memo"):
        with pytest.raises(ValidationError, match="OR cannot join an excluded word"):
            await store.find(query)
        with pytest.raises(ValidationError, match="OR cannot join an excluded word"):
            await store.search(query, mode="words")


async def test_a_time_apart_from_its_date_is_refused_saying_how_to_write_it(store):
    """``str()`` of a pandas Timestamp puts a space between date and time: the time was
    searched as words, and the query found nothing without a word of why."""
    moment = T0 + timedelta(days=3, hours=5)
    with pytest.raises(ValidationError, match=r"join them with T \(after:(\S+)\) or quote both") as refused:
        await store.find(f"after:{moment.date()} {moment.time()}")
    joined, quoted = re.search(r"\((after:\S+)\) or quote both \((after:\"[^\"]+\")\)", str(refused.value)).groups()
    want = sum(1 for card, _, _ in CORPUS if card.g_time >= moment)
    assert 0 < want < len(CORPUS) and (await store.find(joined)).total == (await store.find(quoted)).total == want


async def test_utc_is_z_in_either_case(store):
    moment = (T0 + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")
    upper, lower = await store.find(f"after:{moment}Z"), await store.find(f"after:{moment}z")
    assert upper.total == lower.total == sum(1 for c, _, _ in CORPUS if c.g_time >= datetime.fromisoformat(moment + "+00:00"))


async def test_a_name_glob_over_the_longest_name_says_so_without_repeating_itself(store):
    with pytest.raises(ValidationError, match="^name:x{60}… at position 5: .* at most 4096 characters .*, got 5000$"):
        await store.find("name:" + "x" * 5000)
    with pytest.raises(ValidationError, match="at most 4096 characters .*, got 5000$"):
        await store.list(name="x" * 5000)


async def test_a_date_with_an_offset_is_its_midnight_there(store):
    """``after:2026-01-01+02:00`` starts at that date's midnight two hours east of UTC."""
    east = T0.replace(hour=0, minute=0, second=0, microsecond=0)
    offset = f"{east.date().isoformat()}+02:00"
    found = await store.find(f"after:{offset}")
    start = east - timedelta(hours=2)
    assert found.total == sum(1 for c, _, _ in CORPUS if c.g_time >= start)
    west = await store.find(f"before:{east.date().isoformat()}-05:00")
    assert west.total == sum(1 for c, _, _ in CORPUS if c.g_time < east + timedelta(hours=5))


async def test_a_month_a_week_or_a_year_is_its_first_instant(store):
    """``after:2025-12 before:2026-01`` is December, as a month facet names it; so are ISO weeks
    and years, all in UTC."""
    def between(start: datetime, end: datetime) -> int:
        return sum(1 for card, _, _ in CORPUS if start <= card.g_time < end)

    december = datetime(2025, 12, 1, tzinfo=timezone.utc), datetime(2026, 1, 1, tzinfo=timezone.utc)
    week_48 = datetime(2025, 11, 24, tzinfo=timezone.utc), datetime(2025, 12, 1, tzinfo=timezone.utc)
    assert between(*december) and between(*week_48)
    assert (await store.find("after:2025-12 before:2026-01")).total == between(*december)
    assert (await store.find("after:2025-W48 before:2025W49")).total == between(*week_48)
    assert (await store.find("after:2025 before:2026")).total == between(datetime(2025, 1, 1, tzinfo=timezone.utc), december[1])
    for bad, position in (("after:2025-13", 6), ("before:2025-W54", 7), ("after:2025-1", 6), ("after:202512", 6)):
        with pytest.raises(ValidationError, match=f"position {position}"):
            await store.find(bad)


async def test_a_time_between_two_microseconds_bounds_as_the_time_it_lies_before(store):
    """Cards keep microseconds: ``after:`` and ``before:`` a time with more fractional digits
    start at the next microsecond (Python cuts the digits off, which moved the bound back)."""
    card = CORPUS[0][0]
    moment = card.g_time.strftime("%Y-%m-%dT%H:%M:%S.%f")
    assert card.hash not in {c.hash for c in await store.find(f"after:{moment}0001Z")}
    assert card.hash in {c.hash for c in await store.find(f"before:{moment}0001Z")}
    assert card.hash in {c.hash for c in await store.find(f"after:{moment}0000Z")}


async def test_sizes_are_exact_to_the_byte(store):
    """A size is read as a decimal number: no rounding through a float, even near 2**63."""
    largest = await store.find("size:>=9223372036854775807")
    assert largest.total == 0
    between = await store.find("size:0.5KB..1.5KB")
    assert between.total == sum(1 for card, _, _ in CORPUS if 512 <= card.size <= 1536)


async def test_a_quote_in_a_fields_value_is_doubled(store):
    card = CORPUS[0][0]
    await store.tag(card.hash, 'say "hi"', '"')
    await store.save_many([card], sightings=[Sighting.of(card.hash, name='my "best".txt')])
    for query in ('tag:"say ""hi"""', 'tag:""""', 'name:"my ""best"".txt"', 'name:"*""best""*"'):
        found = await store.find(query)
        assert [c.hash for c in found] == [card.hash], query
    with pytest.raises(ValidationError, match="unclosed quote in the query at position 14"):
        await store.find('tag:"say ""hi""')


async def test_a_bound_between_two_whole_sizes_keeps_the_sizes_on_its_side(store):
    """Sizes are whole bytes: ``size:<N.5`` keeps a card of N bytes, ``size:>N.5`` one of N + 1."""
    sizes = sorted({card.size for card, _, _ in CORPUS})
    n = sizes[len(sizes) // 2]
    for query, keeps in ((f"size:<{n}.5", lambda size: size < n + 0.5), (f"size:<={n}.5", lambda size: size <= n + 0.5),
                         (f"size:>{n}.5", lambda size: size > n + 0.5), (f"size:>={n}.5", lambda size: size >= n + 0.5),
                         (f"size:{n - 1}.5..{n}.5", lambda size: n - 0.5 <= size <= n + 0.5),
                         (f"size:<{n / 1024}KB", lambda size: size < n)):
        found = await store.find(query)
        assert found.total == sum(1 for card, _, _ in CORPUS if keeps(card.size)), query


async def test_facets_count_what_the_query_names(store):
    if hasattr(store.store, "wait_indexed"):  # word queries then read the index and the stored counts
        await store.store.wait_indexed()
    facets = await store.facets("", by=("content_type", "tag", "month", "size", "kind", "time"))
    cards = [card for card, _, _ in CORPUS]
    assert facets["content_type"] == sorted(Counter(c.content_type for c in cards).items(), key=lambda i: (-i[1], i[0]))
    assert facets["tag"] == sorted(Counter(t for _, tags, _ in CORPUS for t in tags).items(), key=lambda i: (-i[1], i[0]))
    assert facets["month"] == sorted(Counter(time_bucket("month", c.g_time) for c in cards).items())
    order = [label for _, label in SIZE_BUCKETS]
    assert facets["size"] == sorted(Counter(size_bucket(c.size) for c in cards).items(), key=lambda i: order.index(i[0]))
    assert facets["kind"] == sorted(Counter(c.kind for c in cards).items(), key=lambda i: (-i[1], i[0]))
    assert sum(n for _, n in facets["time"]) == len(cards) and facets["time"] == sorted(facets["time"])
    every_field = ("content_type", "tag", "month", "size", "kind", "day")
    for query, chosen in (("tag:work", [(c, tags) for c, tags, _ in CORPUS if "work" in tags]),
                          ("type:text/*", [(c, tags) for c, tags, _ in CORPUS if c.content_type.startswith("text/")]),
                          ("kind:bytes", [(c, tags) for c, tags, _ in CORPUS if c.kind == "bytes"])):
        counted = await store.facets(query, by=every_field)  # one pass over the chosen cards for all
        assert counted["content_type"] == sorted(Counter(c.content_type for c, _ in chosen).items(), key=lambda i: (-i[1], i[0]))
        assert counted["tag"] == sorted(Counter(t for _, tags in chosen for t in tags).items(), key=lambda i: (-i[1], i[0]))
        assert counted["size"] == sorted(Counter(size_bucket(c.size) for c, _ in chosen).items(), key=lambda i: order.index(i[0]))
        assert counted["kind"] == sorted(Counter(c.kind for c, _ in chosen).items(), key=lambda i: (-i[1], i[0]))
        for width in ("month", "day"):
            assert counted[width] == sorted(Counter(time_bucket(width, c.g_time) for c, _ in chosen).items())
    work = await store.facets("tag:work fox", by=["content_type", "tag"])
    spec = SearchSpec.of("fox", "words")
    chosen = [(c, tags) for c, tags, _ in CORPUS if "work" in tags and (t := text_of(c)) and spec.matcher()(t)]
    assert dict(work["content_type"]) == dict(Counter(c.content_type for c, _ in chosen))
    assert dict(work["tag"]) == dict(Counter(t for _, tags in chosen for t in tags))
    for query, words in (("tag:work", ""), ("quick -brown", "quick -brown"), ('"quick brown" OR straße', '"quick brown" OR straße')):
        spec = SearchSpec.of(words, "words") if words else None
        chosen = [(c, tags) for c, tags, _ in CORPUS if ("work" in tags if not words else
                                                         (t := text_of(c)) is not None and spec.matcher()(t))]
        mixed = await store.facets(query, by=("tag", "day", "kind"))  # the kind first of the grouped fields
        assert mixed["tag"] == sorted(Counter(t for _, tags in chosen for t in tags).items(), key=lambda i: (-i[1], i[0]))
        assert mixed["day"] == sorted(Counter(time_bucket("day", c.g_time) for c, _ in chosen).items())
        assert mixed["kind"] == sorted(Counter(c.kind for c, _ in chosen).items(), key=lambda i: (-i[1], i[0]))
    with pytest.raises(ValidationError):
        await store.facets("", by=["colour"])


MOMENTS = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)),
    st.datetimes(min_value=datetime(1969, 12, 30), max_value=datetime(1970, 1, 2)),  # around the epoch
    st.datetimes(min_value=datetime(2025, 12, 31), max_value=datetime(2026, 1, 1, 2)),
    st.sampled_from([datetime(2026, 1, 1), datetime(2025, 12, 31, 23, 59, 59, 999999), datetime(1, 1, 1),
                     datetime(9999, 12, 31, 23, 59, 59, 999999), datetime(1970, 1, 1), datetime(2026, 3, 1)]),
).map(lambda moment: moment.replace(tzinfo=timezone.utc))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moments=st.lists(MOMENTS, min_size=1, max_size=30), width=st.sampled_from(["year", "month", "week", "day", "hour", "time"]))
async def test_time_facets_match_the_reference_over_any_span(wrapper, moments, width):
    """Whole store (counted in the time index), chosen cards (one pass) and a filter every card
    passes (counted as the whole store), years 1 to 9999."""
    await wrapper.remove_many([card.hash async for card in wrapper.iterate()])
    cards = [MCard(f"at {moment.isoformat()} #{index}", g_time=moment) for index, moment in enumerate(moments)]
    await wrapper.save_many(cards)
    chosen = [card for index, card in enumerate(cards) if index % 2 == 0]
    await wrapper.tag_many([(card.hash, "even") for card in chosen])
    for query, counted in (("", cards), ("tag:even", chosen), ("type:text/plain", cards)):
        counted_by = await wrapper.facets(query, by=[width, "kind"])
        assert counted_by["kind"] == [("text", len(counted))]
        got = counted_by[width]
        if width == "time":
            assert sum(n for _, n in got) == len(counted) and got == sorted(got)
            width_used = "week" if "-W" in got[0][0] else {4: "year", 7: "month", 10: "day", 13: "hour"}[len(got[0][0])]
            assert got == sorted(Counter(time_bucket(width_used, c.g_time) for c in counted).items())
        else:
            assert got == sorted(Counter(time_bucket(width, c.g_time) for c in counted).items())


@pytest.mark.parametrize("days, width", [(1, "hour"), (45, "day"), (91, "week"), (400, "week"), (500, "month"), (3000, "year")])
async def test_the_time_facet_keeps_to_about_sixty_buckets(wrapper, days, width):
    """Its width follows the span: a quarter is counted by ISO week (Monday first), not in 91 days."""
    start = datetime(2026, 1, 5, tzinfo=timezone.utc)  # a Monday
    moments = [start + timedelta(days=days) * step / 10 for step in range(11)]
    await wrapper.save_many([MCard(f"moment {m.isoformat()}", g_time=m) for m in moments])
    for query in ("", "moment"):
        got = (await wrapper.facets(query, by=("time",)))["time"]
        assert got == sorted(Counter(time_bucket(width, m) for m in moments).items())


@pytest.mark.parametrize("order", ORDERS)
async def test_every_order_sorts_as_the_reference_and_pages_the_same(store, order):
    every = await store.list()
    names = await store.names_of(card.hash for card in every)
    expected = [card.hash for card in sort_cards(every, order, names)]
    assert [card.hash for card in await store.list(order=order)] == expected
    paged = [card.hash for offset in range(0, len(every), 25) for card in await store.list(25, offset, order=order)]
    assert paged == expected
    tagged = [card for card in every if card.hash in {c.hash for c in await store.list(tag="holiday")}]
    assert [c.hash for c in await store.list(order=order, tag="holiday")] == [c.hash for c in sort_cards(tagged, order, names)]
    found = await store.find("fox", 5, 3, order=order)
    matches = await store.find("fox")
    assert found.total == matches.total
    assert [c.hash for c in found] == [c.hash for c in sort_cards(matches, order, names)][3:8]


FIND_FIELDS = st.sampled_from(["", "type:text/plain ", "type:application/* ", "size:<30 ", "size:>12 ",
                                "after:2025-11-28 ", "before:2025-12-05 ", "tag:holiday ", "name:*.png ",
                                "-tag:holiday ", "-tag:work -tag:holiday ", "-type:text/* ", "-type:text/plain -name:*.png ",
                                "tag:work -name:[ab]* ", "tag:[hH]oli* ", "-tag:*o* ", "tag:?o* -tag:work ",
                                "-tag:[!w]* tag:* ", "kind:bytes ", "kind:text tag:work "])


@SETTINGS
@given(fields=FIND_FIELDS, words=WORD_QUERIES, order=st.sampled_from(ORDERS), limit=st.none() | st.integers(0, 12),
       offset=st.integers(0, 20))
async def test_find_in_an_order_is_a_slice_of_every_match_sorted(store, fields, words, order, limit, offset):
    """A word search in an order other than relevance is sorted by the engine: the same page
    and total as sorting every match."""
    try:
        parsed = parse_find(fields + words)
    except ValidationError:
        return
    if parsed.words is not None:
        matches = expected(parsed.words, parsed.filters)
    else:  # exclusions alone
        excluding = parse_words(words, exclusions_alone=True)
        matches = newest_first([c for c, tags, names in CORPUS if passes(parsed.filters, c, tags, names)
                                and ((t := text_of(c)) is None or excluding.matches(t))])
    names = await store.names_of(card.hash for card in matches)
    found = await store.find(fields + words, limit, offset, order=order)
    assert found.total == len(matches)
    end = None if limit is None else offset + limit
    assert [c.hash for c in found] == [c.hash for c in sort_cards(matches, order, names)][offset:end]


async def test_a_query_of_exclusions_alone_names_every_card_without_them(store):
    """``tag:x -draft``: the cards passing the fields whose text holds none of the excluded
    words, newest first, cards without text (bytes that are not UTF-8) among them; counted and faceted the
    same, before the indexes cover the cards and after."""
    fox = SearchSpec.of('fox OR "the quick" OR caf*', "words").matcher()

    def kept(fields) -> list[MCard]:
        return newest_first([c for c, tags, names in CORPUS if fields(c, tags) and ((t := text_of(c)) is None or not fox(t))])

    async def check() -> None:
        for query, fields in (('-fox -"the quick" -caf*', lambda c, tags: True),
                              ('tag:work -fox -"the quick" -caf*', lambda c, tags: "work" in tags),
                              ('-fox type:application/* -"the quick" -caf*',
                               lambda c, tags: c.content_type.startswith("application/"))):
            want = kept(fields)
            assert any(text_of(c) is None for c in want) and len(want) < len([c for c, tags, _ in CORPUS if fields(c, tags)])
            found = await store.find(query)
            assert list(found) == want and found.total == len(want), query
            page = await store.find(query, limit=3, offset=2)
            assert list(page) == want[2:5] and page.total == len(want)
            assert (await store.find(query, limit=0)).total == len(want)
            assert list(await store.find(query, order="smallest")) == sort_cards(want, "smallest")
            facets = await store.facets(query, by=("content_type", "tag"))
            assert facets["content_type"] == sorted(Counter(c.content_type for c in want).items(), key=lambda i: (-i[1], i[0]))
            tags = {card.hash: tags for card, tags, _ in CORPUS}
            assert facets["tag"] == sorted(Counter(t for c in want for t in tags[c.hash]).items(), key=lambda i: (-i[1], i[0]))

    await both_states(store, check)
    with pytest.raises(ValidationError, match="only excludes words; .* at position 0"):
        await store.search("-fox", mode="words")  # a word search still needs a word to rank


async def test_an_unknown_order_is_refused(store):
    with pytest.raises(ValidationError, match="order"):
        await store.list(order="random")
    with pytest.raises(ValidationError, match="order"):
        await store.find("fox", order="size")


async def test_a_snippet_starts_and_ends_with_a_word(wrapper):
    text = "\n  draft invoice for client \n"
    card = await wrapper.create(text)
    for found in (await wrapper.find("invoice"), await wrapper.find("invoice", order="newest")):
        assert str(found.snippet(card)) == "draft «invoice» for client"
    words = " ".join(f"word{n:03}" for n in range(100))  # cut on both sides: between two words
    long = await wrapper.create(words)
    found = await wrapper.find("word050", limit=1)
    cut = str(found.snippet(long, width=100))
    assert cut.startswith("…word") and cut.endswith("…") and "«word050»" in cut
    assert all(len(word) == 7 for word in cut.strip("…").replace("«", "").replace("»", "").split())
    assert len(cut) <= 100 + 2 * 16 + 4
    start = str((await wrapper.find(f"size:{long.size}")).snippet(long, width=100))  # no words: the start
    assert start.startswith("word000 ") and start.endswith("…") and len(start.split()[-1]) == 8  # "word0xx…"


async def test_a_phrase_is_marked_where_its_words_are_in_a_row(wrapper):
    """Not each of its words wherever it stands: the snippet of a long text marked every "the"
    from its start and never reached where the card matched."""
    log = "The telescope was aligned with the pole star and the motor was checked. " * 30
    card = await wrapper.create(log + "At midnight we pointed it at the moon and saw the crater Tycho.")
    found = await wrapper.find('"the moon" tycho')
    assert found == [card]
    snippet = found.snippet(card)
    assert [text for text, hit in snippet.parts if hit] == ["the moon", "Tycho"] and snippet.cut_before


@pytest.mark.parametrize("query", ['"İstanbul"', "İSTANBUL", "straße"])
async def test_a_word_match_is_marked_in_its_snippet_whatever_casefolding_does(wrapper, query):
    """A word whose casefold is longer than itself (İ folds to i and a combining dot, ß to ss)
    is marked as the search matched it, not left unmarked."""
    await wrapper.save_many([MCard("Welcome to İstanbul"), MCard("STRASSE und Straße"), MCard("nothing here")])
    async for indexed in indexed_or_not(wrapper):
        found = await wrapper.find(query)
        assert len(found) >= 1, (query, indexed)
        for card in found:
            assert any(hit for _, hit in found.snippet(card).parts), (query, card.content)


@pytest.mark.parametrize("filler", ["lorem ipsum ", "Straße Œuvre "])
def test_an_any_case_snippet_of_a_large_text_takes_memory_of_the_order_of_the_text(filler):
    """``mcard search -i`` on a 10 MB text peaked at 1.6 GB and took 3.5 s (the text was
    mapped back one character at a time, in lists of Python ints), where a case-sensitive
    search took 65 MB."""
    import tracemalloc

    text = filler * (2_000_000 // len(filler)) + "the END marker"
    spec = SearchSpec.of("end MARKER", case_sensitive=False)
    tracemalloc.start()
    try:
        found = card_snippet(spec, text, width=40)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found is not None and [part for part, hit in found.parts if hit] == ["END marker"]
    assert spec.spans(text) == [(len(text) - len("END marker"), len(text))]
    assert peak < 16 * len(text), peak  # casefold alone takes 12 bytes a character (was 124)


@pytest.mark.parametrize("text, query, marked", [
    ("ﬁle STRASSE straße İstanbul ǰ", "SS", ["SS", "ß"]),
    ("aßb ﬃx ßß", "fix", ["ﬃx"]),
    ("aßb ﬃx ßß", "ssss", ["ßß"]),
    ("aßb ﬃx ßß", "ﬀ", ["ﬃ"]),
    ("İİi", "i̇i", ["İİ"]),
])
def test_an_any_case_span_covers_whole_characters_of_the_text(text, query, marked):
    spans = SearchSpec.of(query, case_sensitive=False).spans(text)
    assert [text[start:end] for start, end in spans] == marked


@given(st.text(alphabet=st.sampled_from("ab ßİ\u0301\t\n,1á东\u0345"), max_size=200), st.integers(1, 20))
@example(text="a\u0301 \u0130\u0301", slice_size=1)  # the dotted I's i takes the accent after the dot
def test_a_large_text_tokenized_a_slice_at_a_time_gives_the_words_of_the_whole(text, slice_size):
    """Texts over ``TOKEN_SLICE`` characters are tokenized a slice at a time, cut before a
    space, so that the GIL is let go between slices (a search over a 100 MB text held the event
    loop 8-11 s): the words are those of the whole text."""
    from mcard.domain.query import text as query_text

    whole = tokens(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(query_text, "TOKEN_SLICE", slice_size)
        assert tokens(text) == whole and count_tokens(text) == len(whole)
        assert query_text.joined_tokens(text) == " ".join(whole)


@given(st.text(alphabet=st.characters(max_codepoint=127) | st.sampled_from("\u017f\u212a\u00df"), max_size=60))
@example(text="Row_1 x\x1c\x1fy\tZ9,\u212aelvin \u017ftop")  # _ and separators; K and s that fold to ASCII
def test_ascii_words_are_made_as_the_rule_for_every_text_makes_them(text):
    """An ASCII text (or one that folds to ASCII) is split by a translation table, not a
    regular expression: the words are the runs of letters and digits of its casefold."""
    assert tokens(text) == re.findall(r"[^\W_]+", text.casefold())


@pytest.mark.parametrize("text, words", [
    ("मैं हिन्दी बोलता हूँ", ["मैं", "हिन्दी", "बोलता", "हूँ"]),  # vowel signs and a virama
    ("مَرْحَبًا بالعالم", ["مَرْحَبًا", "بالعالم"]),  # vowel points
    ("שָׁלוֹם עולם", ["שָׁלוֹם", "עולם"]),
    ("Cafe\u0301 NOIR café", ["café", "noir", "café"]),  # an accent typed as a mark of its own: composed
    ("\u1112\u1161\u11ab\u1100\u116e\u11a8", ["한국"]),  # Hangul as macOS writes it in file names
    ("我住在东京。", ["我", "住", "在", "东", "京"]),  # an ideograph is a word
    ("日本語のテキストです", ["日", "本", "語", "の", "テキスト", "で", "す"]),  # so is a hiragana; katakana words stay whole
    ("1\u20e3 \u0301alone", ["1\u20e3", "alone"]),  # a keycap; a mark after no letter is no word
    ("İstanbul İZMİR", ["istanbul", "izmir"]),  # İ folds to i and a combining dot: i in a word
])
def test_a_word_keeps_its_combining_marks(text, words):
    """Split at their marks, Hindi, Arabic and Hebrew words were runs of one or two letters:
    ``हिन्दी`` was the three words ह न द, also found in ``हाँ नदी``."""
    assert tokens(text) == words


def test_the_marks_a_word_keeps_are_every_combining_mark_in_unicode():
    """The marks are looked for in the planes Unicode puts them in, not in all 1.1 million code
    points (a scan of every one took 0.18 s at the first search of a text that is not ASCII);
    and a word's letters and digits are Unicode's L* and N*, as ``tokens`` says."""
    from mcard.domain.query import text as query_text

    mark = re.compile(f"[{query_text._marks()}]")
    letter_or_digit = re.compile(r"[^\W_]")
    for code in range(sys.maxunicode + 1):
        char, category = chr(code), unicodedata.category(chr(code))
        assert bool(mark.match(char)) == (category[0] == "M"), hex(code)
        assert bool(letter_or_digit.match(char)) == (category[0] in "LN"), hex(code)


async def test_chinese_and_japanese_words_are_found_inside_a_run_of_ideographs(wrapper):
    """Written without spaces, a sentence was one word: ``东京`` found nothing in
    ``我住在东京。``, so neither did ``find`` nor the explorer's search box."""
    tokyo, apart, japanese = MCard("我住在东京。"), MCard("东方的京城"), MCard("日本語のテキストです")
    await wrapper.save_many([tokyo, apart, japanese, MCard("plain words")])
    by_hash = lambda cards: sorted(cards, key=lambda card: card.hash)
    async for indexed in indexed_or_not(wrapper):
        for query, expected in (("东京", [tokyo]), ('"东 京"', [tokyo]), ("东", [tokyo, apart]), ("テキスト", [japanese]),
                                ("日本語 です", [japanese]), ("京东", []), ("东京*", [tokyo]), ("东*", [tokyo, apart]),
                                ("テキ*", [japanese])):
            assert by_hash(await wrapper.search(query, mode="words")) == by_hash(expected), (query, indexed)
            assert by_hash(await wrapper.find(query)) == by_hash(expected), (query, indexed)
    found = await wrapper.find("东京")
    assert [text for text, hit in found.snippet(tokyo).parts if hit] == ["东京"]


async def test_a_turkish_capital_i_is_found_by_a_word_typed_in_lowercase(wrapper):
    """``İ`` casefolds to ``i`` and a combining dot: ``istanbul`` found nothing in
    ``İstanbul'da``, nor ``İstanbul`` in a text typed in lowercase. Once the cards were indexed,
    PostgreSQL still found nothing: its index was asked for ``izmir`` as the text spells it."""
    capital, lowercase = MCard("İstanbul'da ve İZMİR'de"), MCard("istanbul küçük harf")
    dotted = MCard("i\u0307zmi\u0307r, an i and a combining dot")
    await wrapper.save_many([capital, lowercase, dotted, MCard("ankara")])
    by_hash = lambda cards: sorted(cards, key=lambda card: card.hash)
    async for indexed in indexed_or_not(wrapper):
        for query, expected in (("istanbul", [capital, lowercase]), ("İstanbul", [capital, lowercase]),
                                ("ISTANBUL", [capital, lowercase]), ("izmir", [capital, dotted]),
                                ("İzm*", [capital, dotted])):
            assert by_hash(await wrapper.search(query, mode="words")) == by_hash(expected), (query, indexed)
            found = await wrapper.find(query)
            assert by_hash(found) == by_hash(expected), (query, indexed)
            assert [text for text, hit in found.snippet(capital).parts if hit][:1] in (["İstanbul"], ["İZMİR"]), query


async def test_a_text_item_finds_a_text_inside_words_in_any_case_with_the_fields(wrapper):
    """``text:`` finds what no word search can: a part of a Thai run, of a compound, an emoji;
    in any case, newest first, with the query's fields, its total, facets, orders and marks."""
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    thai, compound, emoji, image = (MCard(text, g_time=at + timedelta(hours=hour)) for hour, text in enumerate(
        ["ภาษาไทย ดีมาก", "テキストエディタを使う", "Love 🍕 and PIZZA", b"\x89PNG\r\n\x1a\n pizza"], 1))
    nothing = MCard("nothing", g_time=at)
    await wrapper.save_many([thai, compound, emoji, image, nothing])
    await wrapper.tag(emoji.hash, "food")
    assert list(await wrapper.find("text:ไทย")) == [thai]
    assert list(await wrapper.find("text:エディタ")) == [compound]
    assert list(await wrapper.find("text:🍕")) == [emoji]
    assert list(await wrapper.find('text:"ve 🍕 a"')) == [emoji]  # inside words, its spaces kept
    pizza = await wrapper.find("text:pizza")  # in any case; bytes that are not UTF-8 hold no text
    assert list(pizza) == [emoji] and pizza.total == 1
    assert [text for text, hit in pizza.snippet(emoji).parts if hit] == ["PIZZA"]
    assert list(await wrapper.find("text:O")) == [emoji, nothing]  # newest first
    assert list(await wrapper.find("text:o", order="oldest")) == [nothing, emoji]
    page = await wrapper.find("text:o", 1, 1)
    assert list(page) == [nothing] and page.total == 2 and (await wrapper.find("text:o", 0)).total == 2
    assert list(await wrapper.find("text:o tag:food")) == [emoji]
    assert list(await wrapper.find("text:o -tag:food type:text/plain")) == [nothing]
    assert await wrapper.facets("text:pizza", by=("tag", "kind")) == {"tag": [("food", 1)], "kind": [("text", 1)]}
    assert [row[0] for row in await wrapper.store.find_heads("text:o", head=4)] == [emoji.hash, nothing.hash]
    for bad, said in (("text:a word", "takes no words beside it"), ("-text:a", "cannot be excluded"),
                      ("text:a text:b", "may be given once"), ("text:", "needs a value")):
        with pytest.raises(ValidationError, match=said):
            await wrapper.find(bad)


async def test_a_word_typed_composed_or_decomposed_finds_both(wrapper):
    """``café`` as one character finds ``café`` written as ``e`` and an accent (NFD, as
    macOS writes file names), and the other way round; the snippet marks either."""
    composed, decomposed, plain = MCard("un café noir"), MCard("un cafe\u0301 au lait"), MCard("un cafe sans accent")
    await wrapper.save_many([composed, decomposed, plain])
    by_hash = lambda cards: sorted(cards, key=lambda card: card.hash)
    async for indexed in indexed_or_not(wrapper):
        for query, expected in (("café", [composed, decomposed]), ("cafe\u0301", [composed, decomposed]),
                                ("CAFÉ", [composed, decomposed]), ("caf*", [composed, decomposed, plain]),
                                ("cafe", [plain]), ('"café noir"', [composed])):
            expected = by_hash(expected)
            assert by_hash(await wrapper.search(query, mode="words")) == expected, (query, indexed)
            found = await wrapper.find(query)
            assert by_hash(found) == expected, (query, indexed)
            for card in found:
                assert [text for text, hit in found.snippet(card).parts if hit][0].startswith("caf"), (query, card)


async def test_a_word_search_finds_words_with_their_marks_and_marks_them_whole(wrapper):
    hindi, river, arabic = MCard("मैं हिन्दी बोलता हूँ"), MCard("हाँ नदी के पास"), MCard("قال مَرْحَبًا للجميع")
    await wrapper.save_many([hindi, river, arabic, MCard("قال مرحبا"), MCard("plain words here")])
    async for indexed in indexed_or_not(wrapper):
        for query, found in (("हिन्दी", [hindi]), ("हिन्*", [hindi]), ("नदी", [river]), ("مَرْحَبًا", [arabic]),
                             ("हि", [])):
            assert await wrapper.search(query, mode="words") == found, (query, indexed)
            assert await wrapper.find(query) == found, (query, indexed)
    result = await wrapper.find("हिन्दी")
    assert [text for text, hit in result.snippet(hindi).parts if hit] == ["हिन्दी"]


def test_the_words_index_of_a_large_text_holds_one_slice_of_its_words_at_a_time():
    """What ``card_words`` indexes of a text is its words one space apart: building them as a
    list of every word first held 1.7 GB for a 100 MB text that is not ASCII."""
    import tracemalloc

    from mcard.infrastructure.persistence.engine.sqlite_schema import words

    text = "le café est très naïve über straße 12 " * 250_000  # 9.75 M characters, 2 M words
    tracemalloc.start()
    try:
        joined = words(text, True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert joined == " ".join(tokens(text))
    assert peak < 4 * len(joined), f"{peak:,} bytes at the peak for {len(joined):,} characters"


SPAN_WORDS = ["ab", "a", "b1", "straße", "ss", "İi", "i", "ſt", "st", "K", "k", "ﬁ", "fi", "ͅ", "ι", "东", "京", "东京", "aé", "テキ"]


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(st.sampled_from(["ab", "a", "B1", "STRASSE", "ß", "İ", "ſt", "K", "ﬁ", "\u0345", "ι",
                                           "\u0301", " ", ", ", "\n", "_", "x", "东", "京", "テキ", "e\u0301", "é"]),
                  max_size=60).map("".join),
    clauses=st.lists(st.tuples(st.sampled_from(["term", "prefix", "phrase"]), st.lists(
        st.sampled_from(SPAN_WORDS), min_size=1, max_size=3)), min_size=1, max_size=3),
    slice_size=st.integers(1, 12),
)
@example(text="\u0345 ι", clauses=[("term", ["ι"])], slice_size=12)  # ͅ folds to ι: no run of the text
@example(text="ab x b1 ab B1", clauses=[("phrase", ["ab", "b1"])], slice_size=3)
@example(text="ßßßßßß ab x ab", clauses=[("term", ["ab"])], slice_size=12)  # the casefold is longer
@example(text="B1ab", clauses=[("term", ["ab"])], slice_size=12)  # "ab" ends a longer word
@example(text="STRASSE ab ß ſt", clauses=[("prefix", ["ss"]), ("term", ["st"])], slice_size=12)
@example(text="我东京东京", clauses=[("phrase", ["东", "京"])], slice_size=12)  # one-character words in a run
@example(text="东\u0345", clauses=[("term", ["\u0345"])], slice_size=1)  # a mark folding to a letter, after an ideograph
@example(text="abテキ东テキ", clauses=[("term", ["テキ"])], slice_size=3)
@example(text="ae\u0301 aé", clauses=[("term", ["aé"])], slice_size=12)  # composed and decomposed
def test_word_spans_are_those_of_every_run_read_in_turn(text, clauses, slice_size):
    """A snippet looks only at the runs of a text that hold a query's word (the first match in
    a text of 10 MB took 1.6 s to find): the spans are those of reading every run."""
    from mcard.domain.query import text as query_text

    parts = [words[0] + "*" if kind == "prefix" else f'"{" ".join(words)}"' if kind == "phrase" else words[0]
             for kind, words in clauses]
    try:
        spec = SearchSpec.of(" OR ".join(parts), "words")
    except ValidationError:
        assume(False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(query_text, "TOKEN_SLICE", slice_size)
        patch.setattr(query_text, "_BACK_STEP", max(1, slice_size // 3))  # back to a run's start in steps
        found = spec.spans(text)
        every_run = lambda text, *_: ((run, query_text.casefold(run.group())) for run in query_text._word().finditer(text))
        patch.setattr(query_text, "_runs_to_check", every_run)
        assert found == spec.spans(text)


def test_a_snippet_reads_no_run_before_the_one_holding_a_word(monkeypatch):
    from mcard.domain.query import text as query_text

    monkeypatch.setattr(query_text, "_BACK_STEP", 3)
    text = "a" * 10 + " " + "b" * 10 + "abc tail"
    assert [run.group() for run, _ in query_text._runs_to_check(text, ["abc"], 0)] == ["b" * 10 + "abc"]


@given(st.text(alphabet=st.sampled_from("aß İﬃŉͅ1"), max_size=40))
def test_a_fold_map_takes_a_character_to_its_casefold_and_back(text):
    from mcard.domain.query.text import _FoldMap

    folds = _FoldMap(text)
    for index in range(len(text)):
        offset = len(text[:index].casefold())
        assert folds.offset(index) == offset
        assert {folds.character(at) for at in range(offset, offset + len(text[index].casefold()))} == {index}
