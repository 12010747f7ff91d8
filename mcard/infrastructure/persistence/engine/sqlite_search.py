"""Searching and counting cards on SQLite: candidates from the index, an exact check each.

A search collects candidate ids from ``card_text`` (trigram, casefolded) for the literal text
every match must hold (the substring, a regular expression's literal part, one of the words of
a word query's group), plus always the cards the index does not cover yet and the texts
holding a NUL. Every candidate is then checked against its content: ``instr`` for a
case-sensitive substring, else ``mcard_matches`` (``mcard.domain.query.text``), so results are
exactly the reference's; a regular expression's candidates are checked by the engine, in a child
process. Without anything to look up (a query under three characters, a regular expression
without a literal part) every card with text is checked. Word searches are
ranked by ``text.rank`` (BM25), on a worker thread.

SQLite's own word tokenizer (unicode61) is not used: it splits words elsewhere than the
reference does (combining marks, symbols and characters newer than Unicode 6.1), so its index
could miss a match.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any, Final, Optional

from mcard.domain.models.card import MCard, stored_time_order
from mcard.domain.query import Filters, SearchSpec, WordQuery, casefold
from mcard.domain.query.ranking import WordStats, counted_stats, phrases, ranked_counted
from mcard.domain.query.text import Clause, Term, text_of, tokens

from . import page_walks, sql_filters
from .name_globs import sqlite_glob
from .page_marks import told_total
from .sighting_rows import SQLITE_SOUND
from .sqlite_connection import SQLiteWorker
from .sqlite_schema import TO_COMPOSE

CARD: Final = (
    "CASE WHEN card.is_text THEN CAST(card.content AS TEXT) ELSE CAST(card.content AS BLOB) END AS content,"
    " card.hash, card.g_time, card.hash_algorithm, card.size, card.content_type"
)
"""A card's columns for the row factory: text as text and bytes as bytes, whatever storage
class another tool gave the content (``'hello'`` as TEXT, a number), as ``verify`` reads it."""
BLOB_READ_FROM: Final = 16384
"""Contents larger than this (bytes) are read through incremental blob I/O where a statement
sorts its rows or cuts their contents: a sort holds every value it sorts, and ``substr`` reads
the whole value first (a type filter over 200 images of 5 MB: 1.4-2.0 s for a page of 5, 16-20 ms)."""
SORTED_CARD: Final = (
    f"CASE WHEN card.size > {BLOB_READ_FROM} AND typeof(card.content) IN ('blob', 'text') THEN NULL"
    " WHEN card.is_text THEN CAST(card.content AS TEXT) ELSE CAST(card.content AS BLOB) END AS sorted,"
    " card.hash, card.g_time, card.hash_algorithm, card.size, card.content_type"
)
"""``CARD`` for a statement that may sort its rows: a large content is NULL, and read as a blob
by the row factory once sorted."""
NEWEST_FIRST: Final = " ORDER BY card.g_time DESC, card.hash DESC"
WALK_ORDERS: Final = {"newest": NEWEST_FIRST, "oldest": " ORDER BY card.g_time, card.hash"}
"""The orders a walk reads the time index in (``walked_cards``)."""
def seen_under(mark: Callable[[], str]) -> str:
    """Names matched as they are where that is their composed form (through ``sighting_by_name``,
    a literal name or prefix sought in it), the others composed in Python, found through the
    partial index ``sighting_by_name_to_compose`` (a scan of the table where it is missing)."""
    return (
        f"SELECT hash FROM sighting WHERE name GLOB {mark()} AND NOT {TO_COMPOSE} AND {SQLITE_SOUND}"
        f" UNION ALL SELECT hash FROM sighting WHERE {TO_COMPOSE} AND mcard_composed(CAST(name AS BLOB)) GLOB {mark()}"
        f" AND {SQLITE_SOUND}"
    )


DIALECT: Final = sql_filters.Dialect(
    mark=lambda _: "?", seen_under=seen_under, glob_value=sqlite_glob, glob_operator="GLOB",
    among=lambda mark: f"IN (SELECT value FROM json_each({mark}))", among_value=json.dumps, tag_table="tag",
)
INDEXED_UP_TO: Final = "SELECT value FROM mcard_meta WHERE key = 'text_indexed'"
"""The indexes cover the cards up to this id; newer ones are checked by scanning."""
TAKEN_AGAIN: Final = "SELECT card.id FROM card_text_garbage CROSS JOIN card ON card.id = card_text_garbage.id"
"""Cards whose ids the indexes still hold other content under until it is purged: another tool
gave a removed card's id to another card (``INSERT OR REPLACE`` onto it) or changed a card's
content (``card_rewritten``). They are checked by scanning, and the indexes' hits of those ids
left out."""
NOT_INDEXED: Final = f"SELECT id FROM card WHERE id > ({INDEXED_UP_TO}) UNION ALL {TAKEN_AGAIN}"
OUT_OF_DATE: Final = "SELECT id FROM card_text_garbage"
"""The ids whose entries in the indexes are not the stored card's (removed or taken again)."""
COUNT_WORD_MATCHES: Final = f"SELECT count(*) FROM card_words WHERE card_words MATCH ? AND rowid NOT IN ({OUT_OF_DATE})"
"""Stored cards ``card_words`` matches: all it holds but what is not purged yet."""
BEHIND: Final = f"SELECT EXISTS ({NOT_INDEXED})"
WORDS_BEHIND: Final = f"SELECT EXISTS (SELECT 1 FROM card_text_garbage) OR EXISTS (SELECT id FROM card WHERE id > ({INDEXED_UP_TO}))"
"""For a word search, also removed cards the index still holds: FTS5's ``bm25()`` counts them
in its statistics until a background step purges them, so they would change the order. (Any id
taken again is among them: ``TAKEN_AGAIN``, which reads the whole queue, is not needed here.)"""

SEARCHED_CARDS: Final = (
    f"(card.id IN (SELECT id FROM card_searchable) OR card.id > ({INDEXED_UP_TO}) OR card.id IN ({OUT_OF_DATE}))"
)
"""The cards a search looks at: those the indexes hold text of, those they do not cover yet,
and those whose entries are out of date. A text they pass over (another tool's row put back
under an old id, ``index_passed_over``) is left out by every search and every walk, so a page is
always a slice of all matches (a walk testing ``is_text`` first took the marker's 2,000 cards
0.85 ms instead of 1.09 ms, and found such a text in pages only)."""

READ_AS_REPLACEMENT: Final = frozenset("\ufffd\ufffe\uffff")
"""SQLite reads the noncharacters U+FFFE and U+FFFF as U+FFFD: the index cannot tell these
three apart, so its hits for a literal holding one are checked (every other character of a
casefolded text is indexed as itself, checked over all of Unicode)."""


def paging(limit: Optional[int], offset: int, params: list[object]) -> str:
    """`` LIMIT ? OFFSET ?`` with its values added to ``params``, or nothing when every row is
    wanted: under a LIMIT, even an unlimited one, SQLite sorts differently and up to a third
    slower (any-case search of 1,000 matches at 100,000 cards: 3.3 against 2.5 ms)."""
    if limit is None and not offset:
        return ""
    params += (-1 if limit is None else limit, offset)
    return " LIMIT ? OFFSET ?"


def where(filters: Filters, params: list[object], after: Optional[tuple[int, str]] = None) -> str:
    """`` WHERE`` and the filters' conditions (nothing when there are none)."""
    return sql_filters.joined(sql_filters.where(filters, DIALECT, params, after))


def also(filters: Filters, params: list[object], keyless: bool = False) -> str:
    """`` AND`` and the filters' conditions, to follow other conditions (nothing when none)."""
    return sql_filters.joined(sql_filters.where(filters, DIALECT, params, None, keyless=keyless), " AND ")


def fts_string(text: str) -> str:
    """``text`` as one FTS5 string: every character literal (operators, ``*``, quotes too)."""
    return '"' + text.replace('"', '""') + '"'


def word_expression(query: WordQuery) -> str:
    """``query`` as an FTS5 expression over ``card_words``: the same matches, the same phrases."""

    def phrase(clause: Clause) -> str:
        if isinstance(clause, Term):
            return fts_string(clause.word) + (" *" if clause.prefix else "")
        return fts_string(" ".join(clause.words))

    wanted = " AND ".join("(" + " OR ".join(phrase(c) for c in group) + ")" for group in query.groups)
    if not query.excluded:
        return wanted
    return f"({wanted}) NOT (" + " OR ".join(phrase(c) for c in query.excluded) + ")"


LONGEST_LOOKUP: Final = 32
"""The most characters of a literal looked up in ``card_text``. FTS5 finds a phrase of n
trigrams in a text in time growing with n and with how often the text holds them: 5,000
characters of ``x`` sought in a text of 100,000 took 9 s, 32 of them 44 ms. Longer literals
are looked up by their first 32 characters, as choosy in any other text, and the hits checked."""


def lookup(spec: SearchSpec) -> Optional[tuple[str, str, bool]]:
    """(index, its ``MATCH`` argument, whether its hits are sure) for the cards the index
    covers, or None when it cannot narrow them (an alternative without a literal of three
    characters or more). A regular expression's alternatives are looked up together, the
    longest literal of each (``cat|dog`` as ``"cat" OR "dog"``), each cut to ``LONGEST_LOOKUP``
    characters. Hits are sure when the index alone decides: words, a substring in any case
    short enough to be looked up whole; otherwise each is checked (``check``)."""
    if spec.mode == "words":
        return "card_words", word_expression(spec.words), True
    looked_up = []
    for alternative in spec.folded_alternatives():
        usable = [literal for literal in alternative if len(literal) >= 3 and "\x00" not in literal]
        if not usable:
            return None
        looked_up.append(usable[0])
    if not looked_up:
        return None
    sure = (spec.mode == "substring" and not spec.case_sensitive and READ_AS_REPLACEMENT.isdisjoint(looked_up[0])
            and len(looked_up[0]) <= LONGEST_LOOKUP)
    cut = dict.fromkeys(literal[:LONGEST_LOOKUP] for literal in looked_up)
    return "card_text", " OR ".join(fts_string(literal) for literal in cut), sure


def check(spec: SearchSpec, params: list[object]) -> str:
    """The exact test of a candidate ``card`` the index alone does not decide."""
    key = json.dumps([spec.mode, spec.query, spec.case_sensitive])
    if spec.mode == "substring" and spec.case_sensitive:
        params += [spec.query.encode("utf-8"), key]
        return "instr(card.content, ?) > 0 AND (card.is_text OR mcard_matches(?, card.content))"
    if spec.mode == "substring":
        # A text all ASCII (as many characters as bytes, so no NUL either) casefolds as LIKE
        # folds it: compared in SQL, as fast as a LIKE scan; other texts go to Python.
        # LIKE's ESCAPE clause is left out when nothing needs escaping (~15% of a scan).
        folded = casefold(spec.query)
        plain = folded.isascii() and "\x00" not in folded  # else no such text can hold it
        like = "0"
        if plain:
            escaped = folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params.append(f"%{escaped}%")
            like = "CAST(card.content AS TEXT) LIKE ?" + (" ESCAPE '\\'" if escaped != folded else "")
        params.append(key)
        return (
            "CASE WHEN card.is_text AND length(CAST(card.content AS TEXT)) = length(CAST(card.content AS BLOB))"
            f" THEN {like} ELSE mcard_matches(?, card.content) END"
        )
    if spec.mode == "regex":  # checked outside SQLite, in a child process (``regex_candidates``)
        return "1"
    params.append(key)
    return "mcard_matches(?, card.content)"


def matched(spec: SearchSpec, filters: Filters, params: list[object]) -> str:
    """The condition on ``card`` choosing every card passing ``filters`` that ``spec`` matches.

    The candidates are the ids from each place a match can be (the index's hits, the cards it
    does not cover yet, texts with a NUL), each card in one place only; the statement around
    reads each chosen card once and sorts them all at once. (Rows of the places joined by
    ``UNION ALL`` had SQLite sort each place and merge them: a 1% term at 100,000 cards took
    20-25% longer.) A place that scans checks its rows there, so only its matches are read again."""
    found = lookup(spec)
    if found is None:  # every card with text is a candidate: tested as it is read, no list of ids
        return f"{SEARCHED_CARDS}{also(filters, params)} AND {check(spec, params)}"
    index, argument, sure = found
    # The cards not indexed yet are a range of ids: scanned in id order (NOT INDEXED keeps the
    # planner from walking a whole index instead), like a plain scan of that range.
    places = [
        f"SELECT id FROM card NOT INDEXED WHERE card.id > ({INDEXED_UP_TO}){also(filters, params)}"
        f" AND {check(spec, params)}",
        f"SELECT id FROM card WHERE card.id IN ({TAKEN_AGAIN}) AND {check(spec, params)}",  # few: filtered around
        f"SELECT rowid FROM {index} WHERE {index} MATCH ? AND rowid NOT IN ({OUT_OF_DATE})",
    ]
    params.append(argument)
    if index == "card_text":  # FTS5 stops reading a text at a NUL: those are checked
        with_nul = "SELECT id FROM card_searchable WHERE has_nul"
        places.append(f"SELECT card.id FROM card WHERE card.id IN ({with_nul}) AND {check(spec, params)}"
                      if sure else with_nul)
    condition = f"card.id IN ({' UNION ALL '.join(places)}){also(filters, params, keyless=True)}"
    return condition if sure else f"{condition} AND {check(spec, params)}"


def left_out(spec: SearchSpec, filters: Filters, params: list[object]) -> str:
    """The condition on ``card`` choosing every card passing ``filters`` that the word search
    ``spec`` does not match (``FindQuery.left_out``): SQLite reads the ids of its matches once
    (``matched``), then each card is one look-up among them."""
    return f"NOT ({matched(spec, Filters(), params)}){also(filters, params)}"


async def search(
    db: SQLiteWorker, spec: SearchSpec, filters: Filters, limit: Optional[int], offset: int, with_total: bool,
    probed: Optional[tuple[int, int]] = None,
) -> tuple[list[MCard], Optional[int]]:
    """A page of the cards ``spec`` matches among those passing ``filters``, newest first, and
    with ``with_total`` how many match in all. ``probed``: as ``walk`` takes it."""
    if spec.mode == "words":
        return await _words(db, spec, filters, limit, offset, with_total)
    walked = None if limit is None else await walk(db, spec, filters, limit, offset, probed=probed)
    if walked is not None:
        cards = walked
    else:
        params: list[object] = []
        condition = matched(spec, filters, params)
        page = paging(limit, offset, params)
        cards = await db.fetch_snapshot(f"SELECT {SORTED_CARD} FROM card WHERE {condition}{NEWEST_FIRST}{page}", params)
    return cards, (await total_of(db, spec, filters, cards, limit, offset) if with_total else None)


async def total_of(
    db: SQLiteWorker, spec: SearchSpec, filters: Filters, page: list[MCard], limit: Optional[int], offset: int
) -> int:
    """How many cards ``spec`` matches among those passing ``filters``: told by ``page`` (read
    at ``limit`` and ``offset``) when it is not full and not past the last match, else counted."""
    told = told_total(len(page), limit, offset)
    if told is not None:
        return told
    params: list[object] = []
    [(total,)] = await db.fetch(f"SELECT count(*) FROM card WHERE {matched(spec, filters, params)}", params)
    return int(total)


# -- a page read by walking down the time index (``page_walks``) --------------------------------
WALK_CHOICE: Final = 0.5
"""The walk's threshold is sqrt(WALK_CHOICE x wanted x cards) for a substring: a walked card
costs 0.5-0.8 us, an index hit ~1 us (at 1,000,000 cards, a page of 20 for a word in 37% of
them: 320-380 ms -> 0.5-0.8 ms)."""
WORDS_WALK_CHOICE: Final = 4
"""The threshold's choice for a word search, whose walk checks each card's words in Python
(~4-8 us a card)."""
INDEXES: Final = ("card_text", "card_words")
HITS_UP_TO: Final = {
    index: ("WITH threshold(hits) AS (SELECT mcard_isqrt(? * coalesce(max(id), 0)) FROM card)"
            f" SELECT hits, (SELECT count(*) FROM (SELECT rowid FROM {index} WHERE {index} MATCH ?"
            " LIMIT (SELECT hits FROM threshold))) FROM threshold")
    for index in INDEXES
}
"""Per index, the walk's threshold and the index's hits counted up to it (max(id) stands for
the cards)."""
AMONG_HITS: Final = {index: f"card.id IN (SELECT rowid FROM {index} WHERE {index} MATCH ?)" for index in INDEXES}
Walk = tuple[str, str, int]
"""The index a search looks up, its ``MATCH`` argument, and how many of the newest cards the
walk may read."""


async def walk_rows(db: SQLiteWorker, spec: SearchSpec, wanted: int) -> Optional[Walk]:
    """The walk for the first ``wanted`` matches of ``spec``, or None when the index's hits
    are too few for a walk to pay (or it has none). A page of any depth may walk (a word in 37%
    of 1,000,000 cards at offset 20,000: 1.35 s sorting every hit, 94 ms walking), but a regular
    expression's no deeper than ``page_walks.MOST_WANTED``: its walk sends every card it reads
    to the child process."""
    found = lookup(spec)
    if found is None or wanted <= 0 or (spec.mode == "regex" and wanted > page_walks.MOST_WANTED):
        return None
    index, argument, _ = found
    choice = WORDS_WALK_CHOICE if spec.mode == "words" else page_walks.choice(spec.mode, WALK_CHOICE)
    [(threshold, hits)] = await db.fetch(HITS_UP_TO[index], [choice * wanted, argument])
    return (index, argument, page_walks.budget(threshold, choice)) if 0 < threshold <= hits else None


def newest_ids(filters: Filters, rows: int, params: list[object], order: str = "newest") -> str:
    """The ids of the newest (or in ``order``, the oldest) ``rows`` cards within ``filters``'
    time bounds, in that order, read from the time index alone."""
    bounds = []
    for value, test in zip(filters.time_bounds, ("card.g_time >= ?", "card.g_time <= ?")):
        if value is not None:
            bounds.append(test)
            params.append(value)
    params.append(rows)
    return f"SELECT card.id FROM card INDEXED BY card_by_time{sql_filters.joined(bounds)}{WALK_ORDERS[order]} LIMIT ?"


def time_walk(filters: Filters, rows: int, params: list[object], order: str = "newest") -> str:
    """`` FROM`` the cards of ``newest_ids``, in that order, each card's row read once."""
    return f" FROM ({newest_ids(filters, rows, params, order)}) AS walked CROSS JOIN card ON card.id = walked.id"


def walked_cards(walk: Walk, filters: Filters, params: list[object], order: str = "newest") -> str:
    """`` FROM`` the newest (or in ``order``, the oldest) cards ``walk`` may read, within
    ``filters``' time bounds (a range of the time index), kept in that order and to those that
    can match: ``SEARCHED_CARDS``, and of those over ``BLOB_READ_FROM`` bytes only the ones
    among the index's hits (listed once, when the walk meets the first such card), so a walk past
    large texts does not read them (1,000 texts of 200 KB among the newest: 185 ms -> ~1 ms; a
    ``MATCH`` per card took 55 us each). The ids are read from the time index alone, each card's
    row then once (the rows passed through a subquery took half as long again: 2,000 cards 1.38
    -> 0.85 ms); the subquery's LIMIT keeps SQLite from merging it into the statement around,
    which reads its rows in its order."""
    index, argument, rows = walk
    walked = time_walk(filters, rows, params, order)
    params.append(argument)
    return (f"{walked} WHERE {SEARCHED_CARDS} AND CASE WHEN card.size > {BLOB_READ_FROM} AND card.id <= ({INDEXED_UP_TO})"
            f" AND card.id NOT IN ({OUT_OF_DATE}) AND card.id NOT IN (SELECT id FROM card_searchable WHERE has_nul)"
            f" THEN {AMONG_HITS[index]} ELSE 1 END")


def probed_walk(spec: SearchSpec, wanted: int, matches: int, cards: int) -> Optional[Walk]:
    """The walk for the first ``wanted`` matches of a substring's page when the newest
    ``page_walks.PROBE_ROWS`` cards held ``matches`` of them (``page_walks.probed_budget``)
    and ``cards`` (max(id): negative when another program wrote every row under such an id)
    stand for the cards stored; None for the index's path."""
    found = lookup(spec)
    threshold = math.isqrt(max(0, int(WALK_CHOICE * wanted * cards)))
    rows = page_walks.probed_budget(threshold, WALK_CHOICE, wanted, matches)
    if found is None or rows is None:
        return None
    index, argument, _ = found
    return index, argument, rows


async def walk(
    db: SQLiteWorker, spec: SearchSpec, filters: Filters, limit: int, offset: int, order: str = "newest",
    probed: Optional[tuple[int, int]] = None,
) -> Optional[list[MCard]]:
    """The ``limit`` cards ``spec`` matches after the first ``offset``, newest first (or in
    ``order``, one of ``WALK_ORDERS``), from a walk along the time index; None when the index
    path is the better one or the walk fell short. The cards skipped are checked in SQL, not
    read (a page at offset 20 held the 20 cards before it too). ``probed``: (matches, cards
    stored) from a ``loop_walk`` of a substring that did not fill the page (``probed_walk``)."""
    wanted = offset + limit
    if probed is not None and probed[0] >= page_walks.PROBE_SHARE:
        planned = probed_walk(spec, wanted, *probed)
    else:
        planned = await walk_rows(db, spec, wanted)
    if planned is None:
        return None
    params: list[object] = []
    statement = (f"SELECT {CARD}{walked_cards(planned, filters, params, order)}{also(filters, params)}"
                 f" AND {check(spec, params)} LIMIT ? OFFSET ?")
    params += [limit, offset]
    cards = await db.fetch(statement, params)
    return cards if len(cards) == limit else None


LOOP_UNCHECKED: Final = "NOT (typeof(card.content) = 'blob' AND length(card.content) <= ?)"
"""A card a walk on the loop does not check: larger than it may check there, or whose content is
not stored as a blob (another tool's), whose length SQLite would have to read it whole to tell
(the ``size`` column is not trusted: another tool may have written it)."""
LOOP_WALK_CONTENT: Final = (
    f"CASE WHEN {LOOP_UNCHECKED} THEN NULL WHEN card.is_text THEN CAST(card.content AS TEXT)"
    " ELSE CAST(card.content AS BLOB) END"
)


def loop_walk(spec: SearchSpec, filters: Filters, wanted: int, most_bytes: int, params: list[object]) -> str:
    """A walk for a connection without mcard's functions but ``mcard_matches`` and
    ``mcard_composed`` (``sqlite_loop_reads``): rows (hash, content, g_time, hash_algorithm,
    size, content_type) of the newest ``wanted`` cards passing ``filters`` that a substring
    ``spec`` matches among the newest ``page_walks.PROBE_ROWS`` within the filters' time bounds,
    and one row (NULL, how many cards are within those bounds up to that + 1, max(id),
    NULL...), from one snapshot. A card that may match but is ``LOOP_UNCHECKED`` (over
    ``most_bytes``) comes with its content NULL: the caller leaves that page to a reader's
    thread."""
    params.append(most_bytes)
    walked = time_walk(filters, page_walks.PROBE_ROWS, params)
    conditions = also(filters, params)
    params.append(most_bytes)
    test = check(spec, params)
    params.append(wanted)
    read = newest_ids(filters, page_walks.PROBE_ROWS + 1, params)
    return (f"SELECT * FROM (SELECT card.hash, {LOOP_WALK_CONTENT}, card.g_time, card.hash_algorithm, card.size,"
            f" card.content_type{walked} WHERE {SEARCHED_CARDS}{conditions} AND ({LOOP_UNCHECKED} OR {test}) LIMIT ?)"
            f" UNION ALL SELECT NULL, (SELECT count(*) FROM ({read})), (SELECT coalesce(max(id), 0) FROM card),"
            " NULL, NULL, NULL")


# -- regular expressions ---------------------------------------------------------------------
REGEX_FIRST_ROWS: Final = 64
REGEX_ROWS: Final = 4096
"""Candidates of a regular expression read, and sent to its child process, at a time: few
first (the newest often hold a page of matches), then four times as many each time, up to this."""
LARGE_CONTENTS_BYTES: Final = 1 << 24
"""Contents larger than ``BLOB_READ_FROM`` are read this many bytes' worth at a time (at least
one), so a chunk of candidates never holds many large contents at once."""


def regex_candidates(db: SQLiteWorker, spec: SearchSpec, filters: Filters, newest_first: bool) -> Awaitable[Any]:
    """A cursor over (id, content as bytes (a text's UTF-8), size, is_text) of every card that may
    match the regular expression ``spec`` and passes ``filters``, in no order or
    ``newest_first``. A content larger than ``BLOB_READ_FROM`` is NULL, read by ``contents_of``
    (a chunk of rows stays small, and a sort never holds it). The engine checks each content in
    a child process (``regex_process``), as ``re`` holds the GIL for as long as a match takes."""
    params: list[object] = []
    content = f"CASE WHEN card.size > {BLOB_READ_FROM} THEN NULL ELSE CAST(card.content AS BLOB) END"
    order = NEWEST_FIRST if newest_first else ""
    return db.cursor(f"SELECT card.id AS regex_id, {content}, card.size, card.is_text FROM card"
                     f" WHERE {matched(spec, filters, params)}{order}", params)


def regex_walk(db: SQLiteWorker, walk: Walk, filters: Filters) -> Awaitable[Any]:
    """``regex_candidates`` newest first, from a ``walk`` down the time index (``walk_rows``)."""
    params: list[object] = []
    content = f"CASE WHEN card.size > {BLOB_READ_FROM} THEN NULL ELSE CAST(card.content AS BLOB) END"
    return db.cursor(f"SELECT card.id AS regex_id, {content}, card.size, card.is_text"
                     f"{walked_cards(walk, filters, params)}{also(filters, params)}", params)


def large_batches(rows: list[tuple[int, Any, int, Any]]) -> list[list[int]]:
    """The places in ``rows`` of those whose content was left out, in groups of
    ``LARGE_CONTENTS_BYTES``."""
    batches: list[list[int]] = []
    size = LARGE_CONTENTS_BYTES
    for place, (_, content, card_size, _) in enumerate(rows):
        if content is not None:
            continue
        if card_size.__class__ is not int:  # another tool's row (``verify`` names it): a batch of its own
            card_size = LARGE_CONTENTS_BYTES
        if size + card_size > LARGE_CONTENTS_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(place)
        size += card_size
    return batches


async def contents_of(db: SQLiteWorker, ids: list[int]) -> list[object]:
    """The contents of the cards ``ids``, in that order (None for a card no longer stored)."""
    rows = await db.fetch("SELECT card.id AS regex_id, CAST(card.content AS BLOB) FROM card"
                          " WHERE card.id IN (SELECT value FROM json_each(?))", [json.dumps(ids)])
    read = dict(rows)
    return [read.get(card_id) for card_id in ids]


async def page_of(db: SQLiteWorker, ids: str, limit: Optional[int], offset: int) -> list[MCard]:
    """A page of the cards whose ids are in the JSON list ``ids``, newest first; in the read
    transaction the ids were found in."""
    params: list[object] = [ids]
    return await db.fetch(f"SELECT {SORTED_CARD} FROM card WHERE card.id IN (SELECT value FROM json_each(?))"
                          f"{NEWEST_FIRST}{paging(limit, offset, params)}", params)


# -- word searches -----------------------------------------------------------------------------
async def _words(
    db: SQLiteWorker, spec: SearchSpec, filters: Filters, limit: Optional[int], offset: int, with_total: bool
) -> tuple[list[MCard], Optional[int]]:
    """Matches from ``card_words``, ranked by FTS5's ``bm25()`` (``ranking`` is the same
    arithmetic); the page is chosen first and only its cards' contents are read (sorting
    every match with its content cost a third more for a word in 1% of 100,000 cards). While the index is behind, the cards it misses are checked and every match is
    ranked in Python, with the statistics of the index and of those cards together."""
    params: list[object] = [word_expression(spec.words)]
    # CROSS JOIN: the word index leads. Given a filter with an index of its own (a content
    # type), SQLite walked that index and asked FTS5 to match each card on its own (~30 us a
    # card: 3 s for a word and text/plain at 100,000 cards, 25 ms now).
    matched = f"FROM card_words CROSS JOIN card ON card.id = card_words.rowid WHERE card_words MATCH ?{also(filters, params)}"
    page_params = list(params)
    steps = [
        db.fetch(WORDS_BEHIND),
        db.fetch(f"SELECT {SORTED_CARD} FROM (SELECT card.id AS id, bm25(card_words) AS score, card.g_time AS g, card.hash AS h"
                 f" {matched} ORDER BY score, g DESC, h DESC{paging(limit, offset, page_params)}) AS page"
                 " JOIN card ON card.id = page.id ORDER BY page.score, page.g DESC, page.h DESC",
                 page_params),
    ]
    if with_total:  # without filters, counted in the index alone (~7x faster for 50,000 matches)
        steps.append(db.fetch(COUNT_WORD_MATCHES, params) if filters.empty
                     else db.fetch(f"SELECT count(*) {matched}", params))
    # One snapshot: the total counts the cards the page was read from. Coverage only grows:
    # when the index covers every card before the page is read, it misses none of them.
    behind, cards, *counted = await db.in_turn(steps, snapshot=True)
    if not behind[0][0]:
        return cards, (counted[0][0][0] if counted else None)
    return await _words_behind(db, spec, filters, limit, offset)


async def _words_behind(
    db: SQLiteWorker, spec: SearchSpec, filters: Filters, limit: Optional[int], offset: int
) -> tuple[list[MCard], int]:
    """The page and the total of a word search over the index's matches and the cards it does
    not cover yet, read as rows: cards are built for the page alone."""
    query = spec.words
    chosen_params: list[object] = []
    chosen = "1" if filters.empty else f"card.id IN (SELECT card.id FROM card{where(filters, chosen_params)})"
    steps = [
        db.fetch("SELECT count(*), coalesce(sum(words), 0) FROM card_searchable"),
        *(db.fetch(COUNT_WORD_MATCHES, [word_expression(WordQuery(((clause,),)))]) for clause in phrases(query)),
        db.fetch(f"SELECT 1 AS {RANKED_ROW}, {CARD} FROM card_words CROSS JOIN card ON card.id = card_words.rowid"
                 f" WHERE card_words MATCH ? AND card.id NOT IN ({OUT_OF_DATE}) AND {chosen}",
                 [word_expression(query), *chosen_params]),
        db.fetch(f"SELECT {chosen} AS {RANKED_ROW}, {CARD} FROM card WHERE card.id IN ({NOT_INDEXED})", chosen_params),
    ]
    outcomes = await db.in_turn(steps, snapshot=True)
    [(rows, words)] = outcomes[0]
    indexed = WordStats(rows, words, tuple(found[0][0] for found in outcomes[1:-2]))
    return await asyncio.to_thread(_rank_behind, query, indexed, outcomes[-2], outcomes[-1], limit, offset)


RANKED_ROW: Final = "ranked_row"
"""The first column of the rows a word search ranks while the index is behind: whether the
card passes the filters, then ``CARD``'s columns (the row factory leaves such rows as they are)."""


def _rank_behind(
    query: WordQuery, indexed: WordStats, matches: list[tuple[Any, ...]], new: list[tuple[Any, ...]],
    limit: Optional[int], offset: int, _restore: Any = MCard.restore,
) -> tuple[list[MCard], int]:
    """Rank the index's matches with the cards not indexed yet (``new``: rows whose first
    column says whether they pass the filters), which count in the statistics either way; the
    page as cards, and the total."""
    counts = query.counts
    texts = [(row, len(words), counts(words)) for row in new
             if (text := text_of(row[1])) is not None for words in (tokens(text),)]
    stats = indexed + counted_stats(query, ((length, found) for _, length, found in texts))
    scored = [(row, len(words), counts(words)) for row in matches for words in (tokens(text_of(row[1]) or ""),)]
    scored += [(row, length, found) for row, length, found in texts if row[0] and query.matches_counts(found)]
    found = ranked_counted(query, scored, stats, lambda row: (stored_time_order(row[3]), row[2]))
    page = found[offset:] if limit is None else found[offset:offset + limit]
    return [_restore(*row[1:]) for row in page], len(found)
