"""Word searches on PostgreSQL: BM25 over the whole store without reading every card.

The background index step counts each card's words (``tokens``) into ``words``: ``NO_TEXT``
for a bytes card that is not UTF-8, NULL until counted (those are found through a partial
index, with the bytes cards that are UTF-8: ``SCANNED``). A word search then works in one
snapshot: the counted cards' number and words in all come from one aggregate; the counted
cards that may hold one of the query's phrases are found through the trigram index
(``postgres_search.folded_patterns`` of the phrase's words: a token is a run of the casefolded
text). Plain ASCII texts among them are counted, matched and ranked in SQL
(``postgres_ranking``); the others, and the uncounted cards, are read and ranked in Python;
the two are merged, so the statistics and the order are the reference's. The words without a
run of three ASCII letters or digits (``99``, ``of``, ``日``), which the trigram index cannot
look up, are listed per card (``short_words``, GIN-indexed) as they are counted. A prefix of
such characters (``fo*``) cannot be looked up: every plain text is then tested in SQL, and
the others read. A query of more than ``MOST_PHRASES`` phrases reads every card, as a store
without counts does.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Optional

from mcard.domain.models.card import MCard
from mcard.domain.query import Filters, WordQuery, tokens
from mcard.domain.query.ranking import Scores, WordStats, phrases, stats_of
from mcard.domain.query.text import UNICODE_VERSION, WORD_RULES, Phrase, Term, count_and_keep_tokens, text_of

from . import postgres_orders as orders
from . import postgres_ranking as ranking
from . import postgres_search as search
from . import sql_filters
from .base_engine import MAX_SQL_INTEGER
from .card_rows import row_card

if TYPE_CHECKING:
    from .postgres_sql import Tables

logger = logging.getLogger(__name__)
Connection = Any

NO_TEXT: Final = -1
"""``words`` of a bytes card that is not UTF-8: no text, not searchable."""
SCANNED: Final = "words IS NULL OR NOT text_indexed AND (is_text OR words >= 0)"
"""The cards searches read outside the trigram index: not counted yet, texts not indexed, bytes
that are UTF-8. It replaces the index of texts not indexed (``postgres_search``): one partial
index for new cards to enter, not two."""
UNPLAIN: Final = f"text_indexed AND words >= 0 AND NOT {search.PLAIN}"
"""The indexed texts a word search ranks in Python (not plain ASCII): a partial index lists
them, and statistics on ``PLAIN``'s expression tell the planner how few they are, so a search
reads them through that index instead of rechecking every text that may hold a phrase
(``add_unplain_index``)."""
PROBE: Final = 4096
"""Bytes of a bytes card read first: one that is not UTF-8 there (an image) is not read whole."""
STEP_BYTES: Final = 16 * 1024 * 1024
"""Most content a counting step reads, one card at least (500 large texts would otherwise all
be in memory at once)."""
COLUMNS: Final = "hash, content, is_text, g_time, hash_algorithm, size, content_type"
MOST_PHRASES: Final = 256
"""Phrases of a word query looked up and ranked in SQL (a column each; PostgreSQL allows 1,664):
a longer query reads every card."""
LONGEST_LISTED: Final = 256
"""Bytes (UTF-8) of the longest short word listed: a GIN key holds at most 2,712, and one
longer word made a counting step fail, and every step after it (a run of 1,500 random
combining marks, 1,000 Hangul syllables). A phrase is looked up by its words listed."""
SHORT_UNKNOWN: Final = "words >= 0 AND short_words IS NULL"
"""Counted cards whose short words are not listed (counted by an earlier layout or mcard):
a search reads them as if they held every short word, and counting steps list them."""
SCAN_EVERY_TEXT: Final = "SET LOCAL enable_seqscan = on"
"""For the statements of a word search that no pattern narrows (``PREFER_INDEXES`` turned
sequential scans off)."""
OLDEST_FIRST: Final = "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off"
"""A counting step walks the partial index oldest first and stops at its limit: planned as a
bitmap scan and a sort, each step read every uncounted card (a catch-up quadratic in them)."""


async def add_counts(conn: Connection, tables: Tables) -> bool:
    """Add the ``words`` column and the ``SCANNED`` partial index unless they are there, in
    the caller's transaction; False, logged, when this user may not (searches then read every
    card for a word search, as before)."""
    if await has_counts(conn, tables):
        return True
    try:
        async with conn.transaction():  # a savepoint: a failure here leaves the schema intact
            await conn.execute(
                f"ALTER TABLE {tables.card} ADD COLUMN IF NOT EXISTS words integer;"
                f" CREATE INDEX IF NOT EXISTS {tables.scanned} ON {tables.card} (g_time) WHERE {SCANNED};"
                f" DROP INDEX IF EXISTS {tables.schema}.{tables.unindexed}"
            )
    except Exception as exc:  # asyncpg errors: not the table's owner
        logger.warning("no word counts for %s, word searches read every card: %s", tables.card, exc)
        return False
    return True


async def add_unplain_index(conn: Connection, tables: Tables) -> None:
    """Add the ``UNPLAIN`` partial index and the statistics on its expression unless they are
    there, in the caller's transaction (PostgreSQL 14 on, which keeps statistics on an
    expression; without them the planner prices that index as reading nearly every text). A
    table that already holds indexed texts is analyzed at once (a sample of its rows), as
    no catch-up of the search index would run the ANALYZE that fills those statistics. A
    store without them is searched as before; a failure is logged."""
    if conn.get_server_version().major < 14 or await search.index_exists(conn, tables, tables.unplain):
        return
    try:
        async with conn.transaction():
            await conn.execute(
                f"CREATE INDEX IF NOT EXISTS {tables.unplain} ON {tables.card} (g_time) WHERE {UNPLAIN};"
                f" CREATE STATISTICS IF NOT EXISTS {tables.plain_statistics}"
                f" ON ({search.FIRST_ESCAPE}) FROM {tables.card}"
            )
            if await conn.fetchval(f"SELECT EXISTS (SELECT FROM {tables.card} WHERE text_indexed)"):
                await conn.execute(f"ANALYZE {tables.card}")
    except Exception as exc:  # asyncpg errors: not the table's owner
        logger.warning("no index of the texts that are not plain in %s: %s", tables.card, exc)


async def add_short_words(conn: Connection, tables: Tables) -> bool:
    """Add the ``short_words`` column (each counted text's distinct words that the trigram
    index cannot look up: no run of 3 ASCII letters or digits, as ``12``, ``of``, ``東京``),
    its GIN index, and the index of the counted cards that lack it (``SHORT_UNKNOWN``, listed
    by later counting steps), unless they are there, in the caller's transaction; whether
    they are. False, logged, when this user may not (such words are then looked for in every
    text)."""
    if await has_short_words(conn, tables):
        return True
    try:
        async with conn.transaction():  # a savepoint: a failure here leaves the schema intact
            await conn.execute(
                f"ALTER TABLE {tables.card} ADD COLUMN IF NOT EXISTS short_words text[];"
                f" CREATE INDEX IF NOT EXISTS {tables.short_unknown} ON {tables.card} (g_time) WHERE {SHORT_UNKNOWN};"
                f" CREATE INDEX IF NOT EXISTS {tables.short_words} ON {tables.card}"
                " USING gin (short_words) WHERE short_words IS NOT NULL"
            )
    except Exception as exc:  # asyncpg errors: not the table's owner
        logger.warning("no short words listed for %s, word searches for them test every text: %s", tables.card, exc)
        return False
    return True


async def has_short_words(conn: Connection, tables: Tables) -> bool:
    return await search.index_exists(conn, tables, tables.short_words) and await search.index_exists(
        conn, tables, tables.short_unknown)


async def recount_by_these_rules(conn: Connection, tables: Tables) -> None:
    """Once per store, in the caller's transaction: have the background step count again the
    words of the cards counted with another Unicode version or other word rules (``WORD_RULES``),
    but plain ASCII texts, whose words are the same under any. A role that may not write
    leaves it to a later open (the counts only weigh the ranking)."""
    stored = dict(await conn.fetch(f"SELECT key, value FROM {tables.meta} WHERE key IN ('unicode_version', 'word_rules')"))
    if stored == {"unicode_version": UNICODE_VERSION, "word_rules": WORD_RULES}:
        return
    try:
        async with conn.transaction():  # a savepoint: a failure here leaves the counts as they were
            status = await conn.execute(
                f"UPDATE {tables.card} SET words = NULL WHERE {UNPLAIN} OR NOT is_text AND words > 0"
            )
            await conn.execute(
                f"INSERT INTO {tables.meta} VALUES ('unicode_version', $1), ('word_rules', $2)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value", UNICODE_VERSION, WORD_RULES,
            )
    except Exception as exc:  # asyncpg errors: not permitted
        logger.info("the words of %s are not counted again yet: %s", tables.card, exc)
        return
    if status != "UPDATE 0":
        logger.info("%s: counting words again for Unicode %s and word rules %s (%s)", tables.card,
                    unicodedata.unidata_version, WORD_RULES, status)


async def has_counts(conn: Connection, tables: Tables) -> bool:
    return await search.index_exists(conn, tables, tables.scanned)


async def behind(conn: Connection, tables: Tables, short: bool) -> bool:
    """Whether some card's words are not counted yet (a text card then is not indexed either),
    or, with ``short`` words listed, some counted card's short words are not."""
    unknown = f" OR EXISTS (SELECT FROM {tables.card} WHERE {SHORT_UNKNOWN})" if short else ""
    return await conn.fetchval(f"SELECT EXISTS (SELECT FROM {tables.card} WHERE words IS NULL){unknown}")


async def count_step(conn: Connection, tables: Tables, most: int, short: bool) -> int:
    """Count the words of up to ``most`` uncounted cards, oldest first, at most ``STEP_BYTES``
    of content (one card at least), and flag the text ones for the trigram index, in one
    transaction; how many were looked at, or ``most`` when the budget left some of them for the
    next step (fewer than ``most``: none may be left). With ``short`` words listed, list them
    too, and fill the step with cards counted without them (``SHORT_UNKNOWN``), counted again.
    Rows a writer holds are left for a later step; the counting runs on a thread."""
    async with conn.transaction():
        await conn.execute(OLDEST_FIRST)
        locked = await conn.fetch(step_statement(tables), most)
        if short and len(locked) < most:  # a step that counted any new card was taken for the last
            locked += await conn.fetch(step_statement(tables, SHORT_UNKNOWN), most - len(locked))
        if not locked:
            return 0
        taken, read = [], 0
        for key, is_text, size in locked:
            read += size if is_text else min(size, PROBE)
            if taken and read > STEP_BYTES:
                break
            taken.append(key)
        rows = await conn.fetch(
            f"SELECT hash, is_text, size, CASE WHEN is_text THEN content ELSE substring(content FROM 1 FOR {PROBE}) END"
            f" FROM {tables.card} WHERE hash = ANY($1::text[])",
            taken,
        )
        counts, whole = await asyncio.to_thread(_counts, rows)
        del rows
        sizes = {key: size for key, _, size in locked}
        for batch in _within_step(whole, sizes):
            fetched = await conn.fetch(f"SELECT hash, content FROM {tables.card} WHERE hash = ANY($1::text[])", batch)
            counts.update(await asyncio.to_thread(_counted, fetched))
            del fetched
        listing = ", short_words = string_to_array(u.short, ' ')" if short else ""
        await conn.execute(
            f"UPDATE {tables.card} AS c SET words = u.words, text_indexed = c.is_text{listing}"
            " FROM unnest($1::text[], $2::integer[], $3::text[]) AS u(hash, words, short) WHERE c.hash = u.hash",
            list(counts), [words for words, _ in counts.values()], [listed for _, listed in counts.values()],
        )
        return len(locked) if len(taken) == len(locked) else most


def step_statement(tables: Tables, which: str = "words IS NULL") -> str:
    """Up to ``$1`` uncounted cards (hash, kind, size), oldest first, locked (those a writer
    holds are skipped); or those ``which`` names (a partial index's condition)."""
    return (
        f"SELECT hash, is_text, size FROM {tables.card}"
        f" WHERE {which} ORDER BY g_time LIMIT $1 FOR UPDATE SKIP LOCKED"
    )


Counted = tuple[int, Optional[str]]
"""A card's words (``NO_TEXT`` for none), and its short words, space-separated (None: no text)."""


def _counts(rows: Sequence[Any]) -> tuple[dict[str, Counted], list[str]]:
    """Words per card of the rows read, and the bytes cards to read whole (UTF-8 so far)."""
    counts: dict[str, Counted] = {}
    whole: list[str] = []
    for key, is_text, size, content in rows:
        if is_text or len(content) >= size:
            counts[key] = _count(content)
        elif _may_be_utf8(content):
            whole.append(key)
        else:
            counts[key] = (NO_TEXT, None)
    return counts, whole


def _within_step(keys: Sequence[str], sizes: dict[str, int]) -> Iterator[list[str]]:
    """``keys`` in runs of at most ``STEP_BYTES`` of content (one card at least). A step takes
    bytes cards at their probe's size, then reads whole those that start as UTF-8: in one
    statement, 500 such cards of 10 MB were 5 GB at once."""
    run: list[str] = []
    held = 0
    for key in keys:
        if run and held + sizes[key] > STEP_BYTES:
            yield run
            run, held = [], 0
        run.append(key)
        held += sizes[key]
    if run:
        yield run


def _counted(rows: Sequence[Any]) -> dict[str, Counted]:
    return {key: _count(content) for key, content in rows}


def _count(content: bytes) -> Counted:
    text = text_of(content)
    if text is None:
        return NO_TEXT, None
    count, short = count_and_keep_tokens(text, _short)
    return count, " ".join(sorted(short))


def _short(word: str) -> bool:
    """Whether ``word`` is listed: the trigram index cannot look it up
    (``search.folded_patterns``), and it is at most ``LONGEST_LISTED`` bytes."""
    return search.FOLDED_RUN.search(word) is None and len(word.encode("utf-8")) <= LONGEST_LISTED


def _may_be_utf8(start: bytes) -> bool:
    """Whether ``start`` can begin UTF-8 text (a character cut at its end is allowed)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(start, final=False)
    except UnicodeDecodeError:
        return False
    return True


# -- searching -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lookup:
    """How the texts that may hold a phrase are found: by every one of ``patterns`` through the
    trigram index (``search.folded_patterns``), else by all of its ``short`` words listed
    (``_short``) among the texts' ``short_words``; with neither (a prefix such as ``fo*``, a store that lists no short
    words) any text may hold it."""

    patterns: tuple[str, ...] = ()
    short: tuple[str, ...] = ()

    @property
    def narrows(self) -> bool:
        return bool(self.patterns or self.short)


def narrowing(query: WordQuery, short: bool) -> Optional[list[Lookup]]:
    """For each phrase of ``query`` (``ranking.phrases``), how the texts that may hold it are
    found (``Lookup``), through ``short_words`` when the store lists them (``short``); None
    when there are more than ``MOST_PHRASES`` phrases (every card is read)."""
    if len(phrases(query)) > MOST_PHRASES:
        return None
    found = []
    for clause in phrases(query):
        words = clause.words if isinstance(clause, Phrase) else (clause.word,)
        patterns = tuple(search.folded_patterns(words))
        prefix = isinstance(clause, Term) and clause.prefix
        listed = tuple(word for word in words if _short(word)) if short and not patterns and not prefix else ()
        found.append(Lookup(patterns, listed))
    return found


def chosen_flag(
    tables: Tables, filters: Filters, dialect: sql_filters.Dialect, table: Optional[str] = None
) -> tuple[str, list[object]]:
    """A boolean column telling whether a card (of ``table``, the card table by default)
    passes ``filters``, and its values."""
    params: list[object] = []
    clauses = sql_filters.where(filters, dialect, params, None, table=table or tables.card)
    return (f"coalesce({' AND '.join(clauses)}, false)" if clauses else "true"), params


async def ranked_page(
    conn: Connection, tables: Tables, filters: Filters, dialect: sql_filters.Dialect, query: WordQuery,
    narrowed: list[Lookup], limit: Optional[int], offset: int,
) -> tuple[list[MCard], int]:
    """A page of the matches of ``query`` among the cards passing ``filters``, best first, and
    how many there are. ``narrowed``: the lookup of each phrase (``narrowing``). The cards
    ranked in Python are read and counted first; one statement then counts, matches and ranks
    the plain texts (``postgres_ranking.ranking_statement``) with those counts."""
    chosen, chosen_params = chosen_flag(tables, filters, dialect, table="c")
    clauses = phrases(query)
    exact = {clause: ranking.occurrences(clause) for clause in (*clauses, *query.excluded)}
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        rows, words = await conn.fetchrow(
            f"SELECT count(*), coalesce(sum(words), 0) FROM {tables.card} WHERE words >= 0"
        )  # an aggregate FILTER over every row: 30 ms at the median at 100,000 cards, this 26 ms
        uncounted, others = await _read_elsewhere(conn, tables, filters, dialect, narrowed)
        elsewhere, read = await asyncio.to_thread(_read, query, _flagged(uncounted), _flagged(others))
        known = WordStats(rows, int(words), (0,) * len(clauses)) + elsewhere
        values = ranking.Values(chosen_params)
        plain_narrowed = [lookup if exact[clause] is not None else None for clause, lookup in zip(clauses, narrowed)]
        candidates = f"c.text_indexed AND c.words >= 0 AND {search.PLAIN} AND ({_holding(plain_narrowed, values)})"
        wanted = None if limit is None else min(offset + limit, MAX_SQL_INTEGER)  # each may be 2**63-1
        server_major = conn.get_server_version().major
        statement = ranking.ranking_statement(tables.card, candidates, chosen, query, exact, known, values, wanted, server_major)
        if server_major >= 14:
            await conn.execute(ranking.NO_MEMOIZE)
        page = await conn.fetch(statement, *values.list)
    stats = known + WordStats(0, 0, tuple(page[0][:len(clauses)]))
    scores = Scores(query, stats)
    scored = await asyncio.to_thread(
        lambda: [(found, card) for card, words in read if (found := scores.of_match(words)) is not None]
    ) if read else []
    total = len(scored) + page[0]["matching"]
    scored += [(row["score"], row_card(tuple(row)[len(clauses) + 2:])) for row in page if row["score"] is not None]
    scored.sort(key=lambda item: (item[0], item[1].g_time, item[1].hash), reverse=True)
    found = [card for _, card in scored]
    return (found[offset:] if limit is None else found[offset:offset + limit]), total


async def ordered_matches(
    conn: Connection, tables: Tables, filters: Filters, dialect: sql_filters.Dialect, query: WordQuery,
    narrowed: list[Lookup], wanted: Optional[int], order: str,
) -> tuple[list[MCard], int]:
    """The first ``wanted`` (all for None) plain texts that match ``query`` and pass
    ``filters`` in ``order`` (``postgres_orders``), with every other card that
    matches, not in order; and how many match in all. Unranked, so without statistics. The
    texts that pass ``filters`` and may match are read once through the trigram index
    (``held``: the plain ones that match, and those that are not plain; filters first, as
    the words' regular expressions cost most): the plain ones are counted and paged in
    SQL, which reads the contents of the page alone; the others are read whole and checked in
    Python, with the uncounted cards and the bytes cards (as ``ranked_page`` reads them)."""
    plain, matching = await _held_matches(conn, tables, filters, dialect, query, narrowed, wanted, order)
    return [row_card(tuple(row)[1:]) for row in plain] + matching, len(matching) + (plain[0][0] if plain else 0)


async def matching_keys(
    conn: Connection, tables: Tables, filters: Filters, dialect: sql_filters.Dialect, query: WordQuery,
    narrowed: list[Lookup],
) -> list[str]:
    """The hashes of every card that passes ``filters`` and matches ``query``, in no order
    (what facets count): as ``ordered_matches`` finds them, without reading the contents of
    the plain texts that match, nor ranking them."""
    plain, matching = await _held_matches(conn, tables, filters, dialect, query, narrowed, None, None)
    return [row[1] for row in plain] + [card.hash for card in matching]


async def _held_matches(
    conn: Connection, tables: Tables, filters: Filters, dialect: sql_filters.Dialect, query: WordQuery,
    narrowed: list[Lookup], wanted: Optional[int], order: Optional[str],
) -> tuple[list[Any], list[MCard]]:
    """In one snapshot, the rows of the plain texts that match (``plain_rows``), and the
    other cards that pass ``filters`` and match ``query``: the texts of ``held`` that are not
    plain, the uncounted and unindexed cards, each checked in Python."""
    held, values = _held(tables, filters, dialect, query, narrowed)
    statement = (
        f"{held} {plain_rows(tables, values, wanted, order)}"
        f" UNION ALL SELECT NULL, {ranking.PAGE_COLUMNS} FROM held JOIN {tables.card} AS c ON c.hash = held.hash"
        " WHERE NOT held.plain"
    )
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        uncounted, unindexed = await _read_elsewhere(conn, tables, filters, dialect, narrowed, unranked=query)
        rows = await conn.fetch(statement, *values.list)
    plain = [row for row in rows if row[0] is not None]
    others = [(True, tuple(row)[1:]) for row in rows if row[0] is None]
    matching = await asyncio.to_thread(_matching, query, _flagged(uncounted) + _flagged(unindexed) + others)
    return plain, matching


def plain_rows(tables: Tables, values: ranking.Values, wanted: Optional[int], order: Optional[str]) -> str:
    """The plain texts of ``held`` that match, each a row starting with a column never NULL:
    in ``order``, the first ``wanted`` (all for None), how many in all then the card's
    columns; with no order, the hashes alone (then as many NULLs)."""
    if order is None:
        return "SELECT true, held.hash, NULL, NULL, NULL, NULL, NULL, NULL FROM held WHERE held.plain"
    page = f"SELECT count(*) OVER () AS matching, c.hash AS key FROM held AS c WHERE c.plain{orders.ordering(tables, order)}"
    if wanted is not None:
        page += f" LIMIT {values.mark(min(wanted, MAX_SQL_INTEGER))}"
    return f"SELECT page.matching, {ranking.PAGE_COLUMNS} FROM ({page}) AS page JOIN {tables.card} AS c ON c.hash = page.key"


def _held(
    tables: Tables, filters: Filters, dialect: sql_filters.Dialect, query: WordQuery, narrowed: list[Lookup],
) -> tuple[str, ranking.Values]:
    """``WITH held``: the counted texts that pass ``filters`` and may match ``query`` through
    the trigram index (filters first, as the words' regular expressions cost most), with
    whether each is plain: the plain ones that match, and those that are not plain; and its
    values, to which the statement around adds its own."""
    chosen, params = chosen_flag(tables, filters, dialect, table="c")
    values = ranking.Values(params)
    exact = {clause: ranking.occurrences(clause) for clause in (*phrases(query), *query.excluded)}
    return (
        "WITH held AS MATERIALIZED (SELECT c.hash, c.g_time, c.size, c.content_type, p.plain"
        f" FROM {tables.card} AS c CROSS JOIN LATERAL (SELECT {search.PLAIN} AS plain) AS p"
        f" WHERE c.text_indexed AND c.words >= 0 AND {_required(query, narrowed, values)} AND {chosen}"
        f" AND (NOT p.plain OR {ranking.matches(query, exact, values)}))"
    ), values


async def _read_elsewhere(
    conn: Connection, tables: Tables, filters: Filters, dialect: sql_filters.Dialect, narrowed: list[Lookup],
    unranked: Optional[WordQuery] = None,
) -> tuple[list[Any], list[Any]]:
    """The rows (passing ``filters`` or not, then ``COLUMNS``) a word search reads and checks
    in Python: the cards not counted yet; and those that may hold a phrase (``narrowed``) but
    are not in the trigram index yet, or are indexed texts that are not plain. For the
    ``unranked`` search of a query (``ordered_matches``), only cards that pass the filters and
    may match it, and none of the indexed texts (its own statement reads them). When no
    pattern narrows the texts, the statements after it in the transaction may scan the table:
    through the trigram index, the planner read all of it to list every indexed text (100,000
    cards: 92 ms of a 578 ms search)."""
    chosen, params = chosen_flag(tables, filters, dialect)
    wanted = "" if unranked is None else f" AND {chosen}"  # ranking counts every card
    await conn.execute(search.PREFER_INDEXES)
    uncounted = await conn.fetch(f"SELECT {chosen}, {COLUMNS} FROM {tables.card} WHERE words IS NULL{wanted}", *params)
    values = ranking.Values(params)
    holding = _holding(narrowed, values) if unranked is None else _required(unranked, narrowed, values)
    statement = (f"SELECT {chosen}, {COLUMNS} FROM {tables.card}"
                 f" WHERE NOT text_indexed AND words >= 0 AND ({holding}){wanted}")
    if unranked is None:
        statement += (
            f" UNION ALL SELECT {chosen}, {COLUMNS} FROM {tables.card}"
            f" WHERE {UNPLAIN} AND ({holding})"
        )
    others = await conn.fetch(statement, *values.list)
    if not _narrows(narrowed, unranked):
        await conn.execute(SCAN_EVERY_TEXT)
    return uncounted, others


def _narrows(narrowed: list[Lookup], unranked: Optional[WordQuery]) -> bool:
    """Whether the indexes narrow the texts a search reads: every phrase's lookup (ranking
    reads the texts holding any), or every lookup of some group (``_required``)."""
    if unranked is None:
        return all(lookup.narrows for lookup in narrowed)
    lookups = iter(narrowed)
    return any(all([next(lookups).narrows for _ in group]) for group in unranked.groups)


def _matching(query: WordQuery, rows: Flagged) -> list[MCard]:
    """The cards of ``rows`` chosen by the filters whose text matches ``query``."""
    cards = (row_card(row) for chosen, row in rows if chosen)
    return [card for card in cards if (text := text_of(card.content)) is not None and query.matches_words(tokens(text))]


Flagged = list[tuple[bool, Any]]


def _holding(narrowed: Sequence[Optional[Lookup]], values: ranking.Values) -> str:
    """Whether a card may hold a phrase of ``narrowed`` (``Lookup``), through the indexes; any
    card, when one of them does not narrow. A phrase of None (that no plain text can hold, for
    the plain texts) adds nothing. A card counted without its short words may hold any."""
    if not all(lookup is None or lookup.narrows for lookup in narrowed):
        return "true"
    conditions = []
    for lookup in narrowed:
        if lookup is None:
            continue
        if lookup.patterns:
            conditions.append(
                "(" + " AND ".join(f"{ranking.ESCAPED} ~ {values.mark(pattern)}" for pattern in lookup.patterns) + ")"
            )
        else:
            conditions.append(f"(short_words @> {values.mark(list(lookup.short))}::text[] OR {SHORT_UNKNOWN})")
    return " OR ".join(conditions) or "false"


def _required(query: WordQuery, narrowed: list[Lookup], values: ranking.Values) -> str:
    """Whether a card may match ``query``: for every group, it may hold one of the group's
    phrases (``_holding`` of their ``narrowed`` lookups, in the order of ``phrases``). Narrower
    than ``_holding``, which any phrase passes (what ranking counts)."""
    lookups = iter(narrowed)
    return " AND ".join(f"({_holding([next(lookups) for _ in group], values)})" for group in query.groups)


def _flagged(rows: Sequence[Any]) -> Flagged:
    return [(row[0], tuple(row)[1:]) for row in rows]


def _read(query: WordQuery, uncounted: Flagged, others: Flagged) -> tuple[WordStats, list[tuple[MCard, list[str]]]]:
    """The statistics of the cards read (the rows and words of the ``uncounted``, the hits of
    both), and the chosen ones among them with their words."""
    def read(rows: Flagged) -> list[tuple[bool, MCard, list[str]]]:
        return [(chosen, card, tokens(text)) for chosen, row in rows
                if (text := text_of((card := row_card(row)).content)) is not None]

    new, old = read(uncounted), read(others)
    stats = WordStats(0, 0, stats_of(query, (words for _, _, words in old)).hits)
    stats += stats_of(query, (words for _, _, words in new))
    return stats, [(card, words) for chosen, card, words in new + old if chosen]
