"""Hash ranges on PostgreSQL (``hash_ranges``): the digests are summed by the server in one pass
(no sort), so a comparison sends one row per range, never the hashes themselves.

Rows in the ranges ``$1`` are read through a lateral subquery per table: an index range scan
per range (``OFFSET 0`` keeps the planner from merging the subquery into a join that filters a
scan of the whole table against every range). Just-in-time compilation is off for these
statements: hundreds of milliseconds of compiling for plans that run in less."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from .hash_ranges import SEEN_OFFSET, RangeDigest

if TYPE_CHECKING:
    from .postgres_sql import Tables

Connection = Any  # asyncpg.Connection; asyncpg is imported lazily

HALF: Final = 2**60
"""A line's number is its high 60 bits times this plus its low 60 bits (``hash_ranges.value``)."""
NO_JIT: Final = "SET LOCAL jit = off"
RANGES: Final = "unnest($1::text[]) AS r(p) CROSS JOIN LATERAL"
IN_RANGE: Final = """x.hash >= r.p COLLATE "C" AND x.hash < (r.p || 'g') COLLATE "C" OFFSET 0"""


HASH_NOT_HEX: Final = """x.hash COLLATE "C" ~ '[^0-9a-f]'"""
"""A hash that is not lowercase hex all through."""
KEY_NOT_HEX: Final = """x.key COLLATE "C" ~ '[^0-9a-f]'"""
CHECKED_HASH: Final = f"(CASE WHEN {HASH_NOT_HEX} OR length(x.hash) < 30 THEN md5('c' || x.hash) ELSE x.hash END)"
"""A hash of 30 lowercase hex digits or more, else the MD5 of ``c`` and it (rows of other tools)."""
CHECKED_KEY: Final = f"(CASE WHEN {KEY_NOT_HEX} OR length(x.key) < 30 THEN md5('s' || x.key) ELSE x.key END)"
TAG_LINE: Final = "md5('t' || x.hash || ':' || x.tag)"
HASH_HALVES: Final = (
    f"('x' || CASE WHEN {HASH_NOT_HEX} THEN 'not hex' ELSE substr(x.hash, 1, 15) END)::bit(60)::bigint AS a,"
    " ('x' || substr(x.hash, 16, 15))::bit(60)::bigint AS b"
)
"""``hash_ranges.value`` of a hash, as two 60-bit halves ``a`` and ``b``. A hash that is not hex
all through (upper case, a space after it) fails the statement (SQLSTATE 22P02), and the sums
are made again with the checked forms, which cost 1.6x more (1,000,000 hashes: 370 ms, 600 ms
checked, 240 ms without the test of the characters). A shorter hash than 30 digits is read as if
zeros followed it here, and by its MD5 there: only a walk deeper into its range differs."""
KEY_HALVES: Final = (
    f"('x' || CASE WHEN {KEY_NOT_HEX} THEN 'not hex' ELSE substr(x.key, 1, 15) END)::bit(60)::bigint AS a,"
    " ('x' || substr(x.key, 16, 15))::bit(60)::bigint AS b"
)
CHECKED_HASH_HALVES: Final = (
    f"('x' || substr({CHECKED_HASH}, 1, 15))::bit(60)::bigint AS a,"
    f" ('x' || substr({CHECKED_HASH}, 16, 15))::bit(60)::bigint AS b"
)
CHECKED_KEY_HALVES: Final = (
    f"('x' || substr({CHECKED_KEY}, 1, 15))::bit(60)::bigint AS a,"
    f" ('x' || substr({CHECKED_KEY}, 16, 15))::bit(60)::bigint AS b"
)
TAG_HALVES: Final = (
    f"('x' || substr({TAG_LINE}, 1, 15))::bit(60)::bigint AS a, ('x' || substr({TAG_LINE}, 16, 15))::bit(60)::bigint AS b"
)
SUMS: Final = (
    "SELECT g, count(*) FILTER (WHERE card), sum(a) FILTER (WHERE card), sum(b) FILTER (WHERE card),"
    " sum(a) FILTER (WHERE NOT card), sum(b) FILTER (WHERE NOT card), sum(seen_a), sum(seen_b)"
)
"""Per range: its cards, the sums of their halves, those of its tags' halves, and those of its
sightings' halves each times the sighting's weight (``hash_ranges.SEEN_OFFSET``), in ``numeric``:
the products pass 2**120."""
SEEN_WEIGHT: Final = f"(x.seen_at::numeric + {SEEN_OFFSET})"


async def hashes_in(conn: Connection, tables: Tables, prefixes: Sequence[str]) -> list[str]:
    """The hashes in the ranges, in order: ranges in order, each read in index order (so the
    sort is a pass over an already sorted list)."""
    async with conn.transaction(readonly=True):
        await conn.execute(NO_JIT)
        rows = await conn.fetch(
            f"SELECT x.hash FROM {RANGES} (SELECT hash FROM {tables.card} AS x WHERE {IN_RANGE}) AS x",
            sorted(prefixes),
        )
    return sorted(row[0] for row in rows)


async def digests(conn: Connection, tables: Tables, prefixes: Sequence[str], depth: int) -> dict[str, RangeDigest]:
    """The ranges' digests, summed by the server; a store holding rows of other tools whose
    hashes or keys are not hex is summed again, checking every row."""
    try:
        rows = await _sums(conn, tables, prefixes, depth, False)
    except Exception as exc:
        if getattr(exc, "sqlstate", None) != "22P02":
            raise
        rows = await _sums(conn, tables, prefixes, depth, True)
    return {
        group: RangeDigest(
            count, str(int(high) * HALF + int(low)),
            str((int(label_high or 0) + int(seen_high or 0)) * HALF + int(label_low or 0) + int(seen_low or 0)),
        )
        for group, count, high, low, label_high, label_low, seen_high, seen_low in rows
    }


async def _sums(conn: Connection, tables: Tables, prefixes: Sequence[str], depth: int, checked: bool) -> list[Any]:
    hash_halves = CHECKED_HASH_HALVES if checked else HASH_HALVES
    key_halves = CHECKED_KEY_HALVES if checked else KEY_HALVES
    cards = f"SELECT left(x.hash, $2) AS g, true AS card, {hash_halves}, NULL::numeric AS seen_a," \
        f" NULL::numeric AS seen_b FROM {RANGES} (SELECT hash FROM {tables.card} AS x WHERE {IN_RANGE}) AS x"
    sightings = f"SELECT g, false, NULL, NULL, a * w, b * w FROM (SELECT left(x.hash, $2) AS g, {key_halves}," \
        f" {SEEN_WEIGHT} AS w FROM {RANGES}" \
        f" (SELECT hash, key, seen_at FROM {tables.sighting} AS x WHERE {IN_RANGE}) AS x) AS seen"
    tags = f"SELECT left(x.hash, $2), false, {TAG_HALVES}, NULL, NULL FROM {RANGES}" \
        f" (SELECT hash, tag FROM {tables.tag} AS x WHERE {IN_RANGE}) AS x"
    async with conn.transaction(readonly=True):
        await conn.execute(NO_JIT)
        return await conn.fetch(
            f"{SUMS} FROM ({cards} UNION ALL {sightings} UNION ALL {tags}) AS lines"
            " GROUP BY g HAVING count(*) FILTER (WHERE card) > 0",
            list(prefixes), depth,
        )
