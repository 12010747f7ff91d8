"""PostgreSQL search index (pg_trgm, filled in the background), its upgrade, and the COPY path."""

from tests.test_bad_input_properties import as_text
import asyncio
import random
import re
import sys
import uuid
from collections.abc import Awaitable, Iterator
from datetime import timedelta

import pytest
from tests.postgres_support import fresh_database, postgres_factory
from tests.test_postgres_engine import make_config  # noqa: F401  (a fixture)

from mcard import AsyncPersistenceWrapper, MCard, PostgresConfig
from mcard.domain.query import SearchSpec, reference_search, sort_cards
from mcard.infrastructure.persistence.engine import postgres_search as search
from mcard.infrastructure.persistence.engine import postgres_sql as sql
from mcard.infrastructure.persistence.engine import postgres_words as words
from mcard.domain.query import Filters, WordQuery, tokens
from mcard.domain.query.text import WORD_RULES, text_of
from mcard.infrastructure.persistence.engine.facets import SIZE_INDEX

pytestmark = pytest.mark.postgres
QUERIES = ["needle", "NEEDLE", "dle 1", "%", "_", "50%_", "a\\b", "it's", "é☕", "\x00x", "ne", "zzz"]


def texts(n: int) -> list[str]:
    special = ["50%_off", "a\\b c", "it's", "é☕ ok", "x\x00x", "NEEDLE 1"]
    return [f"text {i} needle {i % 7}" if i % 5 == 0 else f"text {i} hay" for i in range(n)] + special


async def assert_exact(store: AsyncPersistenceWrapper) -> None:
    stored = await store.list()
    for query in QUERIES:
        expected = [card for card in stored if query in as_text(card)]
        assert await store.search(query) == expected, query
        assert await store.search(query, limit=2, offset=1) == expected[1:3], query
        in_any_case = reference_search(SearchSpec.of(query, case_sensitive=False), stored)
        assert await store.search(query, case_sensitive=False) == in_any_case, query


def test_escape_is_postgresql_escape_encoding_and_like_is_literal():
    assert search.escape(b"a\\b\x00\xc3\xa9%_") == b"a\\\\b\\000\\303\\251%_"
    assert search.like_pattern(b"a%_\\bcd") == "%a\\%\\_\\\\\\\\bcd%"
    assert search.like_pattern(b"ab") is None and search.like_pattern(b"%%%") is None


async def test_search_reads_the_trigram_index_and_stays_exact(make_config, admin, postgres_schema):
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.save_many([MCard(text) for text in texts(3000)] + [MCard(b"bytes needle")])
        await assert_exact(store)  # nothing indexed yet: the unflagged cards are scanned
        await store.store.wait_indexed()
        flagged = await admin.fetch(f'SELECT is_text, text_indexed, count(*) FROM "{postgres_schema[1]}".card GROUP BY 1, 2')
        assert {(row[0], row[1]): row[2] for row in flagged} == {(True, True): 3006, (False, False): 1}
        await assert_exact(store)
        await store.save_many([MCard("late needle"), MCard("text 3 hay")])  # partly indexed
        await assert_exact(store)
        holding = {card.hash for card in await store.list() if b"needle" in card.content_bytes}
    explaining = Explaining(admin)  # texts through the trigram index, bytes through their partial index
    rows = await sql.matching_rows(explaining, sql.Tables.named(postgres_schema[1], "card"), Filters(), b"needle", [],
                                   True, True)
    assert {row[0] for row in rows} == holding and len(holding) == 602
    texts_plan, bytes_plan = explaining.plans
    assert "card_text" in texts_plan and "card_scanned" in texts_plan and "card_scanned" in bytes_plan
    assert "Seq Scan" not in texts_plan + bytes_plan


def test_every_character_folding_into_ascii_is_known():
    folding = {chr(code): chr(code).casefold() for code in range(0x80, sys.maxunicode + 1)
               if any(char.isascii() for char in chr(code).casefold())}
    assert folding == search.FOLDS_INTO_ASCII


FOLDING = "sSßẞſkK\u212afiFﬁﬂﬀﬃﬄﬅﬆİıiItTẗyẙnŉaẚhẖjǰwẘe .\\"


async def test_any_case_and_regex_candidates_come_from_the_index_and_stay_exact(make_config, admin, postgres_schema):
    """Texts where a character outside ASCII casefolds into the letters a query looks up
    (``ß`` into ``ss``, the Kelvin sign into ``k``, ``ẙ`` into ``y`` and a ring) are found."""
    rng = random.Random(3)
    made = {"".join(rng.choice(FOLDING) for _ in range(rng.randrange(1, 14))) for _ in range(500)}
    made |= {"Straße", "STRASSE", "ﬁle", "FILE", "\u212aelvin", "kelvin", "holidaẙ", "İstanbul", "Dıe", "ŉote"}
    queries = ["strasse", "file", "kelvin", "holiday", "istanbul", "die", "note", "sst", "ffi", "aft"]
    queries += ["".join(rng.choice(FOLDING) for _ in range(rng.randrange(3, 7))) for _ in range(150)]
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.save_many([MCard(text) for text in sorted(made)] + [MCard("Straße".encode()), MCard(b"\xffkelvin")])
        await store.store.wait_indexed()
        stored = await store.list()
        narrowed = 0
        for query in queries:
            for mode, pattern in (("substring", query), ("regex", re.escape(query))):
                spec = SearchSpec.of(pattern, mode, False)
                narrowed += bool(search.alternative_patterns(spec.folded_alternatives()))
                found = await store.search(pattern, mode=mode, case_sensitive=False)
                assert found == reference_search(spec, stored), (mode, query)
        assert narrowed > 100 and store.store._indexed
    statement = search.folded_texts(sql.Tables.named(postgres_schema[1], "card"), [2], True)
    async with admin.transaction():
        await admin.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(row[0] for row in await admin.fetch(f"EXPLAIN {statement}", *search.folded_patterns(["kelvin", "strasse"])))
    assert "card_text" in plan and "card_scanned" in plan and "Seq Scan" not in plan


async def test_alternatives_are_read_through_the_index(make_config, admin, postgres_schema):
    """``quokka|WOMBAT|note 299 hay`` reads the texts that may match one alternative through the
    trigram index; an alternative of several runs needs them all."""
    texts = [f"note {i} {('Quokka', 'wombat', 'hay')[i % 3]}" for i in range(300)]
    query = "quokka|WOMBAT|note 299 HAY"
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.save_many([MCard(text) for text in texts] + [MCard("wombat".encode()), MCard(b"\xffwombat")])
        await store.store.wait_indexed()
        assert len(await store.search(query, mode="regex", case_sensitive=False)) == 100 + 100 + 1 + 1
    alternatives = search.alternative_patterns(SearchSpec.of(query, "regex", case_sensitive=False).folded_alternatives())
    assert [len(patterns) for patterns in alternatives] == [1, 1, 3]
    explaining = Explaining(admin)
    tables = sql.Tables.named(postgres_schema[1], "card")
    rows = await search.find_folded(explaining, tables, alternatives, True, True, None, Filters(), sql.dialect(tables))
    assert len(rows) == 100 + 100 + 1 + 1  # every Quokka and wombat text, "note 299 hay", the bytes that are UTF-8
    assert "card_text" in explaining.plans[0] and "card_scanned" in explaining.plans[1]
    assert "Seq Scan" not in "".join(explaining.plans)
    assert search.alternative_patterns(SearchSpec.of("quokka|wo", "regex").folded_alternatives()) == []


async def test_plain_candidates_of_a_search_in_any_case_are_decided_in_sql(make_config, admin, postgres_schema):
    """Of the plain texts the trigram index gives for ``River Stone.``, only those holding it
    in some case are read (the others cannot match); every text that is not plain is read
    and checked, and the search is exact either way."""
    made = [MCard(f"{n} {('river stone.', 'RIVER STONE. x', 'stone river.', 'river, stone.')[n % 4]}") for n in range(400)]
    made += [MCard("ﬆone river stone."), MCard("Straße river stone"), MCard("river ſtone. 1")]
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.save_many(made)
        await store.store.wait_indexed()
        stored = await store.list()
        for query in ("River Stone.", "river STONE", "stone river.", "river ſtone", "ſtone"):
            spec = SearchSpec.of(query, case_sensitive=False)
            assert await store.search(query, case_sensitive=False) == reference_search(spec, stored), query
    spec = SearchSpec.of("River Stone.", case_sensitive=False)
    tables = sql.Tables.named(postgres_schema[1], "card")
    rows = await search.find_folded(admin, tables, search.alternative_patterns(spec.folded_alternatives()), True, True,
                                    "river stone.", Filters(), sql.dialect(tables))
    read = {bytes(row[1]).decode() for row in rows}
    assert read == {card.content for card in made if "river stone." in card.content.lower() or not card.content.isascii()}


async def test_facets_over_every_card_group_them_in_one_pass(make_config, admin, postgres_schema):
    """The content type, size and day of every card are counted in one pass, one hash table
    each: the planner took the day of ``g_time`` (a column of distinct values) for as many
    groups as cards, and sorted them all to disk first (1,000,000 cards: 639-655 ms -> 267-274 ms)."""
    from mcard.infrastructure.persistence.engine import postgres_facets

    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.save_many([MCard(f"card {i}") for i in range(5000)])
        await store.store.wait_indexed()
        assert (await store.facets(by=("content_type", "size", "day")))["content_type"] == [("text/plain", 5000)]
    tables = sql.Tables.named(postgres_schema[1], "card")
    await admin.execute(f"ANALYZE {tables.card}; SET work_mem = '64kB'")  # 5,000 groups no longer fit, 200 do
    keys = ["content_type", SIZE_INDEX, "(g_time - $1::bigint) / $2::bigint"]
    statement = postgres_facets.grouping_statement(keys, f"FROM {tables.card}")
    plan = "\n".join(row[0] for row in await admin.fetch(f"EXPLAIN {statement}", 0, 86_400_000_000))
    assert "HashAggregate" in plan and "Sort" not in plan, plan


WORD_TEXTS = ["Straße und STRASSE", "ﬁle a file", "\u212aelvin kelvin", "holidaẙ holiday", "İstanbul istanbul",
              "quick brown fox", "the quick fox jumps", "fox-trot, fox_trot", "rivers river", "日本語 fox", "99 bottles"]
WORD_QUERIES = ["fox", "quick fox", '"quick brown"', "fox -quick", "quick OR kelvin", "strasse", "file", "kelvin",
                "holiday", "istanbul", "riv*", "river*", "trot", "bottles", "99", "fo*", "日本語"]


async def test_words_counted_by_other_word_rules_are_counted_again(make_config, admin, postgres_schema):
    """A store whose words were counted when a word stopped at a combining mark (``हिन्दी`` as
    three words) has them counted again by these rules, once, when opened for writing: a
    count weighs every word search's ranking. Plain ASCII texts keep theirs."""
    made = [MCard("मैं हिन्दी बोलता हूँ"), MCard("plain words"), MCard("मैं हिन्दी".encode())]
    card = f'"{postgres_schema[1]}".card'
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.save_many(made)
        await store.store.wait_indexed()
    await admin.execute(f"UPDATE {card} SET words = words + 3 WHERE hash = ANY($1::text[])", [c.hash for c in made])
    await admin.execute(f"""UPDATE "{postgres_schema[1]}".card_meta SET value = 1 WHERE key = 'word_rules'""")
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.store.wait_indexed()
        counts = dict(await admin.fetch(f"SELECT hash, words FROM {card}"))
        assert counts == {made[0].hash: 4, made[1].hash: 2 + 3, made[2].hash: 2}
        stored = await store.list()
        spec = SearchSpec.of("हिन्दी", "words")
        assert await store.search("हिन्दी", mode="words") == reference_search(spec, stored)
    rules = await admin.fetchval(f"""SELECT value FROM "{postgres_schema[1]}".card_meta WHERE key = 'word_rules'""")
    assert rules == WORD_RULES


async def test_word_searches_rank_from_stored_counts_and_the_index(make_config, admin, postgres_schema):
    """After the catch-up a word search reads the cards that may hold its phrases, not every
    card, and still ranks and filters exactly as the reference over the whole store."""
    rng = random.Random(8)
    made = [MCard(" ".join(rng.choice(WORD_TEXTS) for _ in range(rng.randrange(1, 4)))) for _ in range(400)]
    made += [MCard(b"\x89PNG fox" + bytes(range(256)) * 20), MCard("fox é".encode() * 1000), MCard(b"fox \xc3")]
    made += [MCard(("x" * 4095 + "é fox").encode())]  # a character cut where the first read ends
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.save_many(made)
        stored = await store.list()
        tagged = [card.hash for card in stored[::3]]
        await store.tag_many((key, "picked") for key in tagged)
        for state in ("behind", "caught up"):
            if state == "caught up":
                await store.store.wait_indexed()
            for query in WORD_QUERIES:
                spec = SearchSpec.of(query, "words")
                assert await store.search(query, mode="words") == reference_search(spec, stored), (state, query)
                picked = [card for card in stored if card.hash in set(tagged)]
                assert await store.search(query, mode="words", tag="picked") == reference_search(spec, picked, stored)
        counts = dict(await admin.fetch(f'SELECT hash, words FROM "{postgres_schema[1]}".card'))
    assert counts == {card.hash: len(tokens(text)) if (text := text_of(card.content)) is not None else words.NO_TEXT
                      for card in made}
    assert sum(words.narrowing(SearchSpec.of(query, "words").words, True) is not None for query in WORD_QUERIES) >= 12
    explaining = Explaining(admin)
    spec, picked = SearchSpec.of("quick fox", "words"), [card for card in stored if card.hash in set(tagged)]
    page, total = await sql.word_search(explaining, sql.Tables.named(postgres_schema[1], "card"),
                                        Filters.of(tag="picked"), spec.words, words.narrowing(spec.words, True), 5, 2)
    assert page == reference_search(spec, picked, stored)[2:7] and total == len(reference_search(spec, picked, stored))
    totals, *reads = explaining.plans  # the totals read every row; the rest go through indexes
    assert "card_text" in "".join(reads) and "card_scanned" in "".join(reads)
    assert not any("Seq Scan" in plan for plan in reads), reads


async def test_a_search_the_index_cannot_look_up_reads_only_what_may_match(make_config, admin, postgres_schema):
    """A substring in any case, or a word, with no run of 3 ASCII letters or digits (``12``,
    ``東京``) is decided in SQL for the plain texts: only those holding it are read into Python
    with the texts that are not plain (every card was read: 100,000 cards, 0.6-3.8 s). The
    results stay the reference's."""
    made = [MCard(f"Note {i}: river") for i in range(400)]
    made += [MCard("Straße 12"), MCard("東京 12"), MCard("東京タワー"), MCard("a\\b 12"), MCard(b"12 \xff")]
    tables = sql.Tables.named(postgres_schema[1], "card")
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.save_many(made)
        await store.store.wait_indexed()
        for query in ("12", "東京", "e 1", "NOTE 12:"):
            assert await store.search(query, case_sensitive=False) == reference_search(
                SearchSpec.of(query, case_sensitive=False), made), query
        for query in ("12", "東京", "12 OR 東京", "-river 12", "fo*"):
            spec = SearchSpec.of(query, "words")
            found = await store.find(query)
            assert (list(found), found.total) == (reference_search(spec, made), len(reference_search(spec, made)))
            for order in ("newest", "smallest"):
                assert list(await store.find(query, order=order)) == sort_cards(reference_search(spec, made), order)
        not_plain = {card.hash for card in made if isinstance(card.content, str) and not (
            card.content.isascii() and "\\" not in card.content)}
        for query, holding in (("12", {"Note 12: river", "Note 112: river", "Note 212: river", "Note 312: river"}
                                | {f"Note {i}: river" for i in range(120, 130)}), ("東京", set())):
            rows = await sql.matching_rows(admin, tables, Filters(), None, [], True, True, query)
            texts = {row[0] for row in rows if row[2]}  # COLUMNS: hash, content, is_text
            assert texts == not_plain | {card.hash for card in made if card.content in holding}, query
            spec = SearchSpec.of(query, "words")
            page, total = await sql.word_search(admin, tables, Filters(), spec.words, words.narrowing(spec.words, True), None, 0)
            assert (page, total) == (reference_search(spec, made), len(reference_search(spec, made)))


async def test_a_ranked_search_reads_the_texts_that_are_not_plain_through_their_own_index(make_config, admin, postgres_schema):
    """Once a catch-up has analyzed the table, the few indexed texts ranked in Python (not plain
    ASCII) are read through the partial index that lists them, not by rechecking every text
    that may hold a phrase (1,000,000 cards: 2.5 s instead of 3.4 s for ``river stone``; without
    the ANALYZE, 10,000 cards are enough for the planner to pick the recheck); and they still
    rank with the rest exactly."""
    made = [MCard(f"note {i} river {('stone', 'cloud', 'paper')[i % 3]}") for i in range(10_000)]
    made += [MCard("café river stone"), MCard("river stone ünd stone"), MCard("a\\b river")]
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.save_many(made)
        await store.store.wait_indexed()
        stored = await store.list()
        for query in ("river stone", "stone -note", "river"):
            found = await store.find(query, limit=20)
            expected = reference_search(SearchSpec.of(query, "words"), stored)
            assert (found, found.total) == (expected[:20], len(expected)), query
    tables, spec = sql.Tables.named(postgres_schema[1], "card"), SearchSpec.of("river stone", "words")

    async def assert_read_through_their_index() -> None:
        statistics = await admin.fetchval(
            "SELECT count(*) FROM pg_statistic_ext WHERE stxname = 'card_plain' AND stxnamespace = $1::regnamespace",
            postgres_schema[1],
        )
        assert await search.index_exists(admin, tables, tables.unplain) and statistics == 1
        explaining = Explaining(admin)
        page, total = await sql.word_search(explaining, tables, Filters(), spec.words, words.narrowing(spec.words, True), 5, 0)
        assert (page, total) == (reference_search(spec, stored)[:5], len(reference_search(spec, stored)))
        elsewhere = next(plan for plan in explaining.plans if "Append" in plan)  # texts not indexed, texts not plain
        assert "card_unplain" in elsewhere and "card_text" not in elsewhere, elsewhere

    await assert_read_through_their_index()
    # A table of an earlier version, indexed and analyzed without them, gains both on open,
    # and the statistics are gathered then: no catch-up will run for it.
    await admin.execute(f'DROP INDEX "{postgres_schema[1]}".card_unplain; DROP STATISTICS "{postgres_schema[1]}".card_plain')
    await admin.execute(f'ANALYZE "{postgres_schema[1]}".card')
    async with AsyncPersistenceWrapper(make_config()):
        pass
    await assert_read_through_their_index()


class Explaining:
    """A connection that EXPLAINs each SELECT before it runs it, keeping the plans."""

    def __init__(self, conn) -> None:
        self.conn, self.plans = conn, []

    def transaction(self, **options):
        return self.conn.transaction(**options)

    def get_server_version(self):
        return self.conn.get_server_version()

    async def execute(self, statement, *values):
        return await self.conn.execute(statement, *values)

    async def fetch(self, statement, *values):
        self.plans.append("\n".join(row[0] for row in await self.conn.fetch(f"EXPLAIN {statement}", *values)))
        return await self.conn.fetch(statement, *values)

    async def fetchrow(self, statement, *values):
        return (await self.fetch(statement, *values))[0]


async def test_each_counting_step_reads_only_the_oldest_uncounted_cards(make_config, admin, postgres_schema):
    """A step walks the partial index in time order and stops at its limit: sorting every
    uncounted card each step made a catch-up of 100,000 cards quadratic."""
    async with AsyncPersistenceWrapper(make_config(read_only=False)) as store:
        await store.save_many([MCard(f"uncounted {i}") for i in range(3000)])
        async with admin.transaction():
            await admin.execute(words.OLDEST_FIRST)
            statement = words.step_statement(sql.Tables.named(postgres_schema[1], "card"))
            plan = "\n".join(row[0] for row in await admin.fetch(f"EXPLAIN {statement}", 500))
    assert "Index Scan using card_scanned" in plan and "Sort" not in plan, plan


async def test_a_counting_step_reads_bytes_that_start_as_text_a_bounded_amount_at_a_time(make_config, admin, postgres_schema, monkeypatch):
    """A step took bytes cards at their probe's size, then read whole, in one statement, every
    one whose start was UTF-8: 24 such cards of 1 MB were 24 MB at once (500 of 10 MB, 5 GB)."""
    import tracemalloc

    monkeypatch.setattr(words, "STEP_BYTES", 2_000_000)
    schema, tables = postgres_schema[1], sql.Tables.named(postgres_schema[1], "card")
    cards = [MCard(bytes([65 + i]) * 999_999 + b"!") for i in range(24)]
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.save_many(cards)
    await admin.execute(f'UPDATE "{schema}".card SET words = NULL, text_indexed = false')
    tracemalloc.start()
    try:
        while await words.count_step(admin, tables, 500, True):
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert await admin.fetchval(f'SELECT count(*) FROM "{schema}".card WHERE words = 1') == 24  # one word each
    assert peak < 8_000_000, peak


async def test_a_counting_step_reads_a_bounded_amount_of_content(make_config, admin, postgres_schema, monkeypatch):
    """Large texts are counted a few at a time (one at least), oldest first, until none is left."""
    monkeypatch.setattr(words, "STEP_BYTES", 1000)
    schema, tables = postgres_schema[1], sql.Tables.named(postgres_schema[1], "card")
    async with AsyncPersistenceWrapper(make_config()) as store:
        for card in [MCard(f"{i} " + "word " * 80) for i in range(12)] + [MCard("huge " * 2000)]:
            await store.save(card)  # one by one: each a little newer
    await admin.execute(f'UPDATE "{schema}".card SET words = NULL, text_indexed = false')
    counted, reported = [], []
    while looked_at := await words.count_step(admin, tables, 500, True):
        reported.append(looked_at)  # 500: the budget left some, there is more to count
        counted.append(await admin.fetchval(f'SELECT count(*) FROM "{schema}".card WHERE words IS NOT NULL'))
    assert counted == [2, 4, 6, 8, 10, 12, 13] and reported == [500] * 6 + [1]
    async with AsyncPersistenceWrapper(make_config(read_only=True)) as store:
        stored = await store.list()
        assert await store.search("huge", mode="words") == reference_search(SearchSpec.of("huge", "words"), stored)
    await admin.execute(f'UPDATE "{schema}".card SET words = NULL, text_indexed = false')
    async with AsyncPersistenceWrapper(make_config()) as store:  # the store's own catch-up goes on to the end
        await store.store.wait_indexed()
    assert await admin.fetchval(f'SELECT count(*) FROM "{schema}".card WHERE words IS NULL') == 0


async def test_a_word_query_of_many_phrases_reads_every_card_that_has_text(make_config, admin, postgres_schema):
    """PostgreSQL allows 1,664 columns a row: a query of more phrases than SQL ranks reads every
    card that has text and ranks them in Python; a bytes card that is not UTF-8 (an image) is
    not read."""
    image = MCard(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64)
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.save_many([MCard("abc def"), MCard("xyz abd w7"), MCard("Straße 12 abc"), MCard(b"abc bytes"), image])
        await store.store.wait_indexed()
        stored = await store.list()
        for count in (words.MOST_PHRASES, words.MOST_PHRASES + 1, 1200):
            query = " OR ".join(["abc", "ab*", *(f"w{number}" for number in range(count - 2))])
            assert len(WordQuery.parse(query).terms) == count
            spec = SearchSpec.of(query, "words")
            assert await store.search(query, mode="words") == reference_search(spec, stored)
            assert await store.search(query, mode="words", content_type="text/*") == reference_search(
                spec, [card for card in stored if card.content_type.startswith("text/")], stored)
    rows = await sql.rows_chosen(admin, sql.Tables.named(postgres_schema[1], "card"), Filters(), True)
    assert sorted(row[0] for _, row in rows) == sorted(card.hash for card in stored if card != image)


async def test_a_table_without_word_counts_gains_them(make_config, admin, postgres_schema):
    """A table of an earlier layout (no ``words`` column): read-only, word searches read every
    card; opened for writing, the column is added and every card counted in the background."""
    schema = postgres_schema[1]
    cards = [MCard(text) for text in WORD_TEXTS] + [MCard(b"\xff\xfe fox")]
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.save_many(cards)
        await store.store.wait_indexed()
    await admin.execute(f'DROP INDEX "{schema}".card_scanned; ALTER TABLE "{schema}".card DROP COLUMN words')
    async with AsyncPersistenceWrapper(make_config(read_only=True)) as store:
        assert store.store._counted is False
        stored = await store.list()
        for query in WORD_QUERIES:
            assert await store.search(query, mode="words") == reference_search(SearchSpec.of(query, "words"), stored)
    async with AsyncPersistenceWrapper(make_config()) as store:
        assert store.store._counted is True
        for query in WORD_QUERIES:  # uncounted cards are read whole meanwhile
            assert await store.search(query, mode="words") == reference_search(SearchSpec.of(query, "words"), stored)
        await store.store.wait_indexed()
        assert await admin.fetchval(f'SELECT count(*) FROM "{schema}".card WHERE words IS NULL') == 0
        for query in WORD_QUERIES:
            assert await store.search(query, mode="words") == reference_search(SearchSpec.of(query, "words"), stored)


async def test_short_words_are_listed_and_looked_up_through_their_index(make_config, admin, postgres_schema):
    """The words the trigram index cannot look up (no run of 3 ASCII letters or digits: ``12``,
    ``of``, ``東``) are listed per card that has text (``short_words``), and a word search
    finds them through their GIN index (100,000 cards, ``12``: 0.34 s -> 34 ms). A table of
    an earlier layout gains the column when opened for writing: its cards, counted without
    it, may hold any such word until the background lists theirs; so may a card that an
    earlier mcard counts later."""
    schema, tables = postgres_schema[1], sql.Tables.named(postgres_schema[1], "card")
    tower, image = MCard("東京タワー 12"), MCard(b"12 \xff")
    made = [MCard(f"Note {i}: river of stone") for i in range(300)]
    made += [tower, MCard("Straße 12 of"), MCard("a\\b 12"), MCard(b"bytes 12 of"), image]
    # words longer than a GIN key may be: a counting step failed on them, and every step after
    rng = random.Random(4)
    zalgo = "h" + "".join(chr(rng.randrange(0x300, 0x370)) for _ in range(1500)) + "i"
    hangul = "".join(chr(rng.randrange(0xAC00, 0xD7A4)) for _ in range(1000))
    made += [MCard(f"{zalgo} 12"), MCard(f"of {hangul}")]
    queries = ("12", "東京", "of 12", '"river of"', "12 OR 東京", "-river 12", "12 -of", "タワー", "1*", "o*",
               hangul, f'"of {hangul}"', f"{zalgo} OR 東京")

    async def assert_exact(store) -> None:
        for query in queries:
            expected = reference_search(SearchSpec.of(query, "words"), made)
            found = await store.find(query)
            assert (list(found), found.total) == (expected, len(expected)), query
            assert list(await store.find(query, order="oldest")) == sort_cards(expected, "oldest"), query

    def unknown() -> Awaitable[int]:
        return admin.fetchval(f'SELECT count(*) FROM "{schema}".card WHERE {words.SHORT_UNKNOWN}')

    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.save_many(made)
        await store.store.wait_indexed()
        await assert_exact(store)
    listed = dict(await admin.fetch(f'SELECT hash, short_words FROM "{schema}".card'))
    assert listed == {card.hash: None if card == image else sorted(
        {word for word in tokens(text_of(card.content)) if not re.search("[a-z0-9]{3}", word)
         and len(word.encode()) <= words.LONGEST_LISTED}) for card in made}
    assert listed[tower.hash] == sorted(["東", "京", "タワー", "12"])
    explaining = Explaining(admin)
    spec = SearchSpec.of("12", "words")
    await sql.word_search(explaining, tables, Filters(), spec.words, words.narrowing(spec.words, True), 5, 0)
    assert "card_short_words" in "".join(explaining.plans)

    await admin.execute(f'DROP INDEX "{schema}".card_short_words, "{schema}".card_short_unknown;'
                        f' ALTER TABLE "{schema}".card DROP COLUMN short_words')
    async with AsyncPersistenceWrapper(make_config(read_only=True)) as store:
        assert store.store._short is False
        await assert_exact(store)
    assert await words.add_short_words(admin, tables)  # as a store opened for writing does
    assert await unknown() == len(made) - 1  # every card with text
    for query in queries:
        spec = SearchSpec.of(query, "words")
        expected, narrowed = reference_search(spec, made), words.narrowing(spec.words, True)
        assert await sql.word_search(admin, tables, Filters(), spec.words, narrowed, None, 0) == (expected, len(expected))
        found, total = await sql.ordered_word_search(admin, tables, Filters(), spec.words, narrowed, None, "oldest")
        assert (sort_cards(found, "oldest"), total) == (sort_cards(expected, "oldest"), len(expected)), query
    # a card left uncounted (by another writer): counting it must not end the listing
    await admin.execute(f'UPDATE "{schema}".card SET words = NULL WHERE hash = $1', made[0].hash)
    async with AsyncPersistenceWrapper(make_config()) as store:
        assert store.store._short is True
        await store.store.wait_indexed()
        assert await unknown() == 0
        await assert_exact(store)
        await admin.execute(f'UPDATE "{schema}".card SET short_words = NULL WHERE hash = $1', tower.hash)
        await assert_exact(store)


async def test_a_version_1_table_is_upgraded_and_indexed(make_config, admin, postgres_schema):
    schema = postgres_schema[1]
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.save_many([MCard(text) for text in texts(200)])
    await admin.execute(  # back to the version 1 layout
        f'DROP INDEX "{schema}".card_text, "{schema}".card_scanned;'
        f' DROP TABLE "{schema}".card_sighting, "{schema}".card_tag;'
        f' ALTER TABLE "{schema}".card DROP COLUMN text_indexed, DROP COLUMN words;'
        f" UPDATE \"{schema}\".card_meta SET value = 1 WHERE key = 'schema_version'"
    )
    async with AsyncPersistenceWrapper(make_config()) as store:
        await assert_exact(store)
        await store.store.wait_indexed()
        await assert_exact(store)
        card = (await store.list(limit=1))[0]
        assert await store.tag(card.hash, "after the upgrade") == 1
    assert await admin.fetchval(f"SELECT value FROM \"{schema}\".card_meta WHERE key = 'schema_version'") == 3
    assert await admin.fetchval(f'SELECT count(*) FROM "{schema}".card WHERE NOT text_indexed') == 0


async def test_without_pg_trgm_search_scans(postgres_schema, caplog):
    """A database without pg_trgm, opened by a role that may not create extensions there."""
    import asyncpg

    url, name = postgres_schema[0], f"mcard_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.execute(f'CREATE ROLE "{name}" LOGIN')
        base, _, _ = url.rpartition("/")
        owner = await asyncpg.connect(f"{base}/{name}")
        try:
            await owner.execute(f'CREATE SCHEMA s AUTHORIZATION "{name}"')
        finally:
            await owner.close()
        role_url = f"{base.replace('postgres@', f'{name}@', 1)}/{name}"
        async with AsyncPersistenceWrapper(PostgresConfig(role_url, schema="s")) as store:
            await store.save_many([MCard(text) for text in texts(1200)])
            await assert_exact(store)
            assert store.store._indexed is False
        assert "no trigram index" in caplog.text
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'DROP ROLE IF EXISTS "{name}"')
        await admin.close()


async def test_copied_batches_with_stored_cards_count_each_request(make_config):
    """Batches of 1,000+ cards, some stored already: each request counts its own new cards,
    and a stored card keeps its first time."""
    async with AsyncPersistenceWrapper(make_config()) as store:
        kept = MCard("copy 1500")
        await store.save(kept)
        later = kept.g_time + timedelta(days=1)
        first = [MCard(f"copy {i}") for i in range(1000, 3000)]
        second = [MCard(f"copy {i}") for i in range(2500, 4000)] + [MCard("copy 1500", g_time=later)]
        third = [MCard(f"copy {i}") for i in range(0, 1200)]
        counts = await asyncio.gather(*(store.save_many(batch) for batch in (first, second, third)))
        assert sum(counts) == 4000 - 1 and await store.count() == 4000
        assert counts[0] == 1999 and (await store.get(kept.hash)).g_time == kept.g_time


async def dead_rows(conn, schema: str) -> int:
    """Dead row versions on the card table's pages (pgstattuple, created in the test's schema
    unless the database has it already, so it goes with the schema)."""
    await conn.execute(f'CREATE EXTENSION IF NOT EXISTS pgstattuple SCHEMA "{schema}"')
    where = await conn.fetchval(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pgstattuple'"
    )
    return await conn.fetchval(
        f"SELECT dead_tuple_count FROM {where}.pgstattuple($1::regclass)", f'"{schema}".card'
    )


@pytest.fixture
def database_of_its_own() -> Iterator[str]:
    yield from fresh_database()


async def test_indexing_leaves_no_dead_rows(database_of_its_own):
    """Flagging a card for the index rewrites its row; the end of the catch-up vacuums the old
    versions away (autovacuum is off for the table, so only the store can have done it). The
    store has a database of its own: other tests' open transactions would keep the rows."""
    import asyncpg

    schema = "cards"
    admin = await asyncpg.connect(database_of_its_own)
    async with AsyncPersistenceWrapper(postgres_factory(database_of_its_own, schema)()) as store:
        await admin.execute(f'ALTER TABLE "{schema}".card SET (autovacuum_enabled = false)')
        await store.save_many([MCard(text) for text in texts(3000)] + [MCard(b"bytes needle")])
        await store.store.wait_indexed()
        unflagged = await admin.fetchval(
            f'SELECT count(*) FROM "{schema}".card WHERE is_text AND NOT text_indexed'
        )
        vacuumed = await admin.fetchval(
            "SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relid = $1::regclass", f'"{schema}".card'
        )
        dead = await dead_rows(admin, schema)
        await admin.close()
        assert unflagged == 0 and vacuumed and dead == 0
        await assert_exact(store)


@pytest.mark.parametrize("case_sensitive", [True, False])
async def test_a_search_reads_texts_and_bytes_in_one_snapshot(make_config, postgres_schema, monkeypatch, case_sensitive):
    """Text cards and bytes cards are read by two statements; a removal committed between them
    (here, made just then on another connection) must not be seen half: one remove_many took the
    text and the bytes card together, so a search finds both or neither (READ COMMITTED found
    the text alone)."""
    import threading

    import asyncpg

    url, schema = postgres_schema
    async with AsyncPersistenceWrapper(make_config()) as store:
        pair = [MCard("needle text"), MCard(b"needle bytes")]
        await store.save_many(pair)
        await store.wait_indexed()  # no background step holds a row the removal would wait for

        async def remove() -> None:
            conn = await asyncpg.connect(url)
            try:
                await conn.execute(f'DELETE FROM "{schema}".card WHERE hash = ANY($1::text[])', [c.hash for c in pair])
            finally:
                await conn.close()

        def meanwhile(build):
            def built(*args, **kwargs):  # called once the texts' statement has run
                thread = threading.Thread(target=asyncio.run, args=(remove(),))
                thread.start()
                thread.join()
                return build(*args, **kwargs)
            return built

        monkeypatch.setattr(search, "bytes_holding", meanwhile(search.bytes_holding))
        monkeypatch.setattr(search, "folded_bytes", meanwhile(search.folded_bytes))
        found = await store.search("needle", case_sensitive=case_sensitive)
        assert {card.hash for card in found} == {card.hash for card in pair}
        monkeypatch.undo()
        assert await store.search("needle", case_sensitive=case_sensitive) == []
