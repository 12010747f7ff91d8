"""Substring search on PostgreSQL through a trigram index (pg_trgm) maintained in the background.

The index is a GIN ``gin_trgm_ops`` index on ``encode(content, 'escape')`` of the text cards
whose ``text_indexed`` flag is set. The escape encoding is immutable, never fails (texts may hold
NUL) and maps bytes one by one (concatenation is kept), so "query in content" implies
"escape(query) in escape(content)": a ``LIKE '%escape(query)%'`` over the index finds every hit,
and ``position(query IN content)`` then keeps exactly the contract's results.

A search in any case, or by a regular expression, reads candidates through the same index:
each run of three or more ASCII letters and digits in its casefolded literals must be in the
escaped content in some ASCII case, or else a character whose casefold could supply part of
the run must be (``folded_patterns``); each candidate is then checked exactly.

Indexing a ~100-byte text costs ~30 us (5x the insert itself), so writes only leave new text
cards unflagged (``text_indexed`` false, found through a small partial index); background steps
flag them, which puts them into the trigram index. Searches read the index for flagged cards and
scan the unflagged ones, so results are exact at every point of the catch-up.

pg_trgm is a contrib extension; when it cannot be created (not installed, no privilege), the
store logs it and searches by scanning.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Optional

from mcard.domain.query import Filters

from . import sql_filters

if TYPE_CHECKING:
    from .postgres_sql import Tables

logger = logging.getLogger(__name__)

INDEX_STEP: Final = 500
"""Most cards flagged (and so indexed) by one background transaction."""
VACUUM_FROM: Final = 1000
"""Cards flagged since the last VACUUM from which the end of a catch-up vacuums the table."""
FOLDS_INTO_ASCII: Final = {char: char.casefold() for char in "ßẞſ\u212aﬀﬁﬂﬃﬄﬅﬆİŉǰẖẗẘẙẚ"}
"""Every character outside ASCII whose casefold holds an ASCII one (a test checks them all):
``ß`` is ``ss``, the Kelvin sign ``k``, ``ﬁ`` ``fi``, ``ẙ`` ``y`` and a combining ring."""
DOTTED_I: Final = ("\u0130", "\u0307")
"""A word (``tokens``) reads ``İ``, and ``i`` with a combining dot above, as ``i``: a text that
holds one of these may hold a word's ``i`` where its casefold (``i`` and the dot) does not."""
FOLDED_RUN: Final = re.compile(r"[a-z0-9]{3,}")
ESCAPED: Final = "encode(content, 'escape')"
"""What the trigram index holds of a text card, and what its patterns are matched against."""
FIRST_ESCAPE: Final = f"strpos({ESCAPED}, '\\')"
"""Where a text's escape encoding first escaped a byte (a NUL, a backslash, a byte over 127), 0 for none."""
PLAIN: Final = f"{FIRST_ESCAPE} = 0"
"""A text all ASCII, without NUL or backslash: the escape encoding left it as it was, and its
casefold is its ASCII lowercase."""
PREFER_INDEXES: Final = "SET LOCAL enable_seqscan = off; SET LOCAL jit = off"
"""For a search's transaction: until VACUUM records the GIN index's size, the planner prices it
far too high, so sequential scans are off; JIT too, as a scan that no index can replace is then
priced so high that it would be compiled first (tens of milliseconds)."""
SEARCHED_BYTES: Final = {
    # once words are counted (postgres_words): the bytes cards that are UTF-8 or not looked at
    # yet, as an OR of the terms of their partial index, which the planner matches to it
    True: "(NOT is_text AND NOT text_indexed AND words IS NULL OR NOT is_text AND NOT text_indexed AND words >= 0)",
    False: "NOT is_text",
}
"""SQL by whether words are counted: the bytes cards a search reads (a bytes card that is UTF-8
is searched as its text). Counted, an image is never read."""
TRIGRAM: Final = re.compile(rb"[A-Za-z0-9]{3}")
"""A query whose escaped form holds no run of 3 alphanumerics gives pg_trgm no trigram."""
Connection = Any


def escape(query: bytes) -> bytes:
    """``encode(query, 'escape')`` as PostgreSQL computes it."""
    out = bytearray()
    for byte in query:
        if byte == 0 or byte >= 0x80:
            out += b"\\%03o" % byte
        elif byte == 0x5C:
            out += b"\\\\"
        else:
            out.append(byte)
    return bytes(out)


def like_pattern(query: bytes) -> Optional[str]:
    """The ``LIKE`` pattern matching the escaped content of every text holding ``query``, or
    None when the index cannot narrow the search (too short for a trigram)."""
    escaped = escape(query)
    if not TRIGRAM.search(escaped):
        return None
    literal = escaped.replace(b"\\", b"\\\\").replace(b"%", b"\\%").replace(b"_", b"\\_")
    return "%" + literal.decode("ascii") + "%"


def folded_patterns(literals: Iterable[str]) -> list[str]:
    """POSIX regular expressions over ``encode(content, 'escape')`` that every text whose
    casefold holds all of ``literals`` (casefolded) matches; pg_trgm reads them off the index.
    Empty when no literal has a run of three ASCII letters or digits: the index cannot help.

    Such a run in a casefolded text comes from the same letters in some ASCII case, unless a
    character of ``FOLDS_INTO_ASCII`` supplies part of it; then the text holds that character.
    """
    return [_run_pattern(run) for literal in literals for run in FOLDED_RUN.findall(literal)]


def alternative_patterns(alternatives: Sequence[Sequence[str]]) -> list[list[str]]:
    """``folded_patterns`` of each of ``alternatives`` (``SearchSpec.folded_alternatives``): a
    text holding all the literals of one matches all the patterns of that one. Empty when one
    has no run of three ASCII letters or digits: the index cannot help."""
    found: dict[tuple[str, ...], list[str]] = {}
    for alternative in alternatives:
        patterns = folded_patterns(alternative)
        if not patterns:
            return []
        found.setdefault(tuple(patterns), patterns)
    return list(found.values())


def _run_pattern(run: str) -> str:
    spelled = in_any_ascii_case(run)
    suppliers = [char for char, fold in FOLDS_INTO_ASCII.items() if _can_supply(fold, run)]
    suppliers += [char for char in DOTTED_I if "i" in run and char not in suppliers]
    supplied = [escape(char.encode("utf-8")).decode("ascii").replace("\\", "\\\\") for char in suppliers]
    return "|".join([spelled, *supplied])


def in_any_ascii_case(word: str) -> str:
    """A POSIX regular expression of ``word`` (lowercase ASCII letters and digits) in any ASCII case."""
    return "".join(f"[{char}{char.upper()}]" if char.isalpha() else char for char in word)


def _can_supply(fold: str, run: str) -> bool:
    """Whether a character casefolding to ``fold`` can supply part of ``run`` where ``run``
    stands in a casefolded text (its fold may reach past either end of the run)."""
    return any(
        all(fold[index - offset] == run[index] for index in range(max(0, offset), min(len(run), offset + len(fold))))
        for offset in range(1 - len(fold), len(run))
    )


def quote_identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier (double quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


async def create_index(conn: Connection, tables: Tables) -> bool:
    """Create pg_trgm (if allowed) and the trigram index, inside the caller's transaction.
    False, logged, when the extension is unavailable: search then scans."""
    try:
        async with conn.transaction():  # a savepoint: a failure here leaves the schema intact
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('mcard:pg_trgm'))")
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            where = await conn.fetchval(
                "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
                " WHERE e.extname = 'pg_trgm'"
            )
            await conn.execute(
                f"CREATE INDEX IF NOT EXISTS {tables.unindexed} ON {tables.card} (g_time)"
                " WHERE is_text AND NOT text_indexed;"
                f" CREATE INDEX IF NOT EXISTS {tables.text_index} ON {tables.card}"
                f" USING gin (encode(content, 'escape') {quote_identifier(where)}.gin_trgm_ops) WHERE text_indexed"
            )
    except Exception as exc:  # asyncpg errors: extension missing or not permitted
        logger.warning("no trigram index for %s, search scans: %s", tables.card, exc)
        return False
    return True


async def has_index(conn: Connection, tables: Tables) -> bool:
    return await index_exists(conn, tables, tables.text_index)


async def index_exists(conn: Connection, tables: Tables, index: str) -> bool:
    """Whether the store's schema holds ``index`` (a quoted name of ``Tables``)."""
    return await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{tables.schema}.{index}")


async def behind(conn: Connection, tables: Tables) -> bool:
    """Whether some text card is not in the index yet."""
    return await conn.fetchval(f"SELECT EXISTS (SELECT FROM {tables.card} WHERE is_text AND NOT text_indexed)")


async def index_step(conn: Connection, tables: Tables, most: int) -> int:
    """Flag (and so index) up to ``most`` more text cards; how many were (fewer than ``most``:
    none may be left). Rows locked by a writer are left for a later step, so a step never
    waits on a row."""
    status = await conn.execute(
        f"WITH batch AS (SELECT hash FROM {tables.card} WHERE is_text AND NOT text_indexed"
        " ORDER BY g_time LIMIT $1 FOR UPDATE SKIP LOCKED)"
        f" UPDATE {tables.card} AS c SET text_indexed = true FROM batch WHERE c.hash = batch.hash",
        most,
    )
    return int(status.rsplit(" ", 1)[1])


async def vacuum(conn: Connection, tables: Tables) -> bool:
    """VACUUM and ANALYZE the card table, on ``conn`` outside any transaction, when this user
    may (owner or superuser); whether it ran. Flagging a card rewrites its row, leaving the old
    version dead; this frees them once a catch-up ends, instead of whenever autovacuum comes by,
    and gives the planner the statistics of the cards just indexed (``postgres_words.UNPLAIN``).

    ``SKIP_LOCKED``: skipped, not waited for, while another VACUUM (autovacuum) holds the
    table; ``TRUNCATE false``: never the brief exclusive lock that would stop readers and
    writers to cut the file's empty tail. Readers and writers otherwise go on meanwhile.
    """
    owner = "SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = $1::regclass"
    if not await conn.fetchval(owner, tables.card):
        logger.debug("%s: not its owner, left to autovacuum", tables.card)
        return False
    await conn.execute(f"VACUUM (SKIP_LOCKED, TRUNCATE false, ANALYZE) {tables.card}")
    return True


async def find_folded(
    conn: Connection, tables: Tables, alternatives: Sequence[Sequence[str]], indexed: bool, counted: bool,
    folded: Optional[str], filters: Filters, dialect: sql_filters.Dialect,
) -> list[Any]:
    """Rows (``COLUMNS``) of the cards that pass ``filters`` (written in ``dialect``) whose
    escaped content matches all the patterns of one of ``alternatives``
    (``alternative_patterns``): text cards through the trigram index when there is one, bytes
    cards as ``SEARCHED_BYTES``. For a substring in any case, its casefold ``folded``: of the
    plain contents (``PLAIN``) only those that hold it (``plain_holding``), so the candidates
    that cannot match are not read into Python to be checked there. Without ``alternatives``
    (a query the index cannot look up) every card may match, and the table is scanned."""
    sizes = [len(patterns) for patterns in alternatives]
    values: list[object] = [pattern for patterns in alternatives for pattern in patterns]
    also = ("" if folded is None else plain_holding(folded, values)) + passing(tables, filters, dialect, values)
    async with conn.transaction(isolation="repeatable_read", readonly=True):  # texts and bytes: one snapshot
        if indexed and alternatives:
            await conn.execute(PREFER_INDEXES)
        rows = list(await conn.fetch(folded_texts(tables, sizes, indexed, also), *values))
        rows += await conn.fetch(folded_bytes(tables, sizes, counted, also), *values)
    return rows


def passing(tables: Tables, filters: Filters, dialect: sql_filters.Dialect, values: list[object]) -> str:
    """SQL `` AND ...``: the card passes ``filters``, their values added to ``values``."""
    return "".join(f" AND {clause}" for clause in sql_filters.where(filters, dialect, values, table=tables.card))


def folded_bytes(tables: Tables, sizes: Sequence[int], counted: bool, also: str = "") -> str:
    """``folded_texts`` for the bytes cards a search reads (``SEARCHED_BYTES``)."""
    return f"SELECT {tables.columns} FROM {tables.card} WHERE {SEARCHED_BYTES[counted]} AND {_matching(sizes)}{also}"


def plain_holding(folded: str, values: list[object]) -> str:
    """SQL `` AND ...``: a content that is not plain, or a plain one whose casefold holds
    ``folded`` (a casefolded query), decided exactly by a POSIX regular expression over the
    plain text (each ASCII letter in either case, anything else as itself), added to
    ``values``. No plain text holds a ``folded`` outside ASCII, or with a NUL or a backslash.
    Nothing for one run of ASCII letters and digits: its pattern (``folded_patterns``) decides
    already, and a second test of every candidate costs more than it saves (1,000,000 cards,
    ``river``: 2.34-2.48 s against 2.16-2.21 s)."""
    if FOLDED_RUN.fullmatch(folded):
        return ""
    if not folded.isascii() or "\x00" in folded or "\\" in folded:
        return f" AND NOT {PLAIN}"
    values.append("".join(
        in_any_ascii_case(char) if char.isalpha() else char if char.isdigit() else "\\" + char for char in folded
    ))
    return f" AND (NOT {PLAIN} OR {ESCAPED} ~ ${len(values)})"


def folded_texts(tables: Tables, sizes: Sequence[int], indexed: bool, also: str = "") -> str:
    """The text cards matching the patterns ``$1``... as ``_matching(sizes)`` (and ``also``, a
    condition starting with `` AND``): flagged ones through the trigram index and unflagged
    ones through their partial index (``indexed``), else by a scan."""
    if not indexed:
        return f"SELECT {tables.columns} FROM {tables.card} WHERE is_text AND {_matching(sizes)}{also}"
    return (
        f"SELECT {tables.columns} FROM {tables.card} WHERE text_indexed AND {_matching(sizes)}{also}"
        f" UNION ALL SELECT {tables.columns} FROM {tables.card}"
        f" WHERE is_text AND NOT text_indexed AND {_matching(sizes)}{also}"
    )


def _matching(sizes: Sequence[int]) -> str:
    """SQL: the escaped content matches all the patterns of one group; the patterns are ``$1``...
    in order, ``sizes`` of them a group. Any content, for no group."""
    if not sizes:
        return "true"
    groups, first = [], 1
    for size in sizes:
        groups.append("(" + " AND ".join(f"{ESCAPED} ~ ${number}" for number in range(first, first + size)) + ")")
        first += size
    return "(" + " OR ".join(groups) + ")"


async def find(
    conn: Connection, tables: Tables, query: bytes, indexed: bool, counted: bool,
    filters: Filters, dialect: sql_filters.Dialect,
) -> list[Any]:
    """Rows (``COLUMNS``) of the cards that pass ``filters`` (written in ``dialect``) holding
    ``query``: text cards through the trigram index when there is one and the query is long
    enough for it, bytes cards as ``SEARCHED_BYTES``. The two statements read one snapshot
    (``REPEATABLE READ``): under READ COMMITTED, a ``save_many`` or ``remove_many`` committed
    between them was seen half, its bytes cards without its texts.

    The index covers flagged cards, a partial index the unflagged ones: two scans joined by
    ``UNION ALL`` (an ``OR`` makes the planner scan the whole table).
    """
    pattern = like_pattern(query) if indexed else None
    values: list[object] = [query]
    also = passing(tables, filters, dialect, values)
    async with conn.transaction(isolation="repeatable_read", readonly=True):  # texts and bytes: one snapshot
        if pattern is not None or counted:
            await conn.execute(PREFER_INDEXES)
        rows = list(await conn.fetch(texts_holding(tables, pattern is not None, len(values) + 1, also),
                                     *values, *([pattern] if pattern is not None else [])))
        rows += await conn.fetch(bytes_holding(tables, counted, also), *values)
    return rows


HOLDS: Final = "position($1::bytea IN content) > 0"
"""A content holding the bytes ``$1``."""


def texts_holding(tables: Tables, indexed: bool, mark: int, also: str = "") -> str:
    """The text cards holding ``$1`` (``HOLDS``) and passing ``also``: with ``indexed``, the
    flagged ones the trigram index finds for the ``LIKE`` pattern ``$mark``, and the
    unflagged ones; else by a scan."""
    if not indexed:
        return f"SELECT {tables.columns} FROM {tables.card} WHERE is_text AND {HOLDS}{also}"
    return (
        f"SELECT {tables.columns} FROM {tables.card}"
        f" WHERE text_indexed AND {ESCAPED} LIKE ${mark} AND {HOLDS}{also}"
        f" UNION ALL SELECT {tables.columns} FROM {tables.card} WHERE is_text AND NOT text_indexed AND {HOLDS}{also}"
    )


def bytes_holding(tables: Tables, counted: bool, also: str = "") -> str:
    """``texts_holding`` for the bytes cards a search reads (``SEARCHED_BYTES``)."""
    return f"SELECT {tables.columns} FROM {tables.card} WHERE {SEARCHED_BYTES[counted]} AND {HOLDS}{also}"


# -- a page read by walking down the time index (``page_walks``) --------------------------------
@dataclass(frozen=True)
class WalkTests:
    """For a walk down the time index: the trigram index's test of a search and the walk's test
    of each card it reads (keeping the cards the exact check may accept), each with its values
    ``$1``..."""

    index_test: str
    index_values: list[object]
    walk_test: str
    walk_values: list[object]


def walk_tests(query: Optional[bytes], alternatives: Sequence[Sequence[str]]) -> Optional[WalkTests]:
    """The ``WalkTests`` of ``query`` (bytes) for a substring in its case, else of
    ``alternatives`` (``alternative_patterns``); None when the index cannot narrow the search."""
    if query is not None:
        pattern = like_pattern(query)
        if pattern is None:
            return None
        return WalkTests(f"{ESCAPED} LIKE $1", [pattern], "position($1::bytea IN content) > 0", [query])
    if not alternatives:
        return None
    matching = _matching([len(patterns) for patterns in alternatives])
    values: list[object] = [pattern for patterns in alternatives for pattern in patterns]
    return WalkTests(matching, values, matching, values)


WALK_IN_TIME_ORDER: Final = "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off"
"""For a walk's statement, after the count of hits (which needs the GIN index's bitmap scan):
a table never ANALYZEd has no statistics for ``g_time``, and a walk within time bounds was
planned as a bitmap scan of the whole range and a sort (78 ms where the walk takes 6.5 ms)."""
WALK_IN_ANY_ORDER: Final = "SET LOCAL enable_bitmapscan TO DEFAULT; SET LOCAL enable_sort TO DEFAULT"
"""Undoes ``WALK_IN_TIME_ORDER`` for a count of hits after a walk fell short."""
UNCOUNTED_CARDS: Final = 10_000
"""A table VACUUM and ANALYZE have not counted yet has its cards counted up to this many."""


def threshold(tables: Tables, first: int) -> str:
    """``WITH threshold(hits)``: a walk's threshold, sqrt(``$first`` x cards) (the planner's
    count of rows, kept by VACUUM and ANALYZE); ``$first + 1`` is the table's name."""
    cards = (f"CASE WHEN reltuples >= 0 THEN reltuples::float8 ELSE"
             f" (SELECT count(*) FROM (SELECT FROM {tables.card} LIMIT {UNCOUNTED_CARDS}) AS counted) END")
    return (f"WITH threshold AS (SELECT floor(sqrt(${first}::float8 * {cards}))::bigint AS hits"
            f" FROM pg_class WHERE oid = ${first + 1}::regclass)")


def threshold_alone(tables: Tables) -> str:
    """The walk's ``threshold`` alone (``$1`` its choice x wanted cards, ``$2`` the table's name)."""
    return f"{threshold(tables, 1)} SELECT hits FROM threshold"


def hits_up_to(tables: Tables, index_test: str, first: int) -> str:
    """The walk's ``threshold`` and the index's hits for ``index_test`` counted up to it."""
    return (
        f"{threshold(tables, first)} SELECT hits, (SELECT count(*) FROM (SELECT FROM {tables.card}"
        f" WHERE text_indexed AND {index_test} LIMIT (SELECT hits FROM threshold)) AS found) FROM threshold"
    )
