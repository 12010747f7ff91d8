"""Hash ranges on PostgreSQL (``hash_ranges``): the digests are summed by the server in one pass
(no sort), so a comparison sends one row per range, never the hashes themselves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from .hash_ranges import RangeDigest

Connection = Any  # asyncpg.Connection; asyncpg is imported lazily


def _in_ranges(table: str, columns: str) -> str:
    """Rows of ``table`` whose hash is in one of the ranges ``$1``: an index range scan per range
    (``OFFSET 0`` keeps the planner from merging the subquery into a join that filters a scan of
    the whole table against every range)."""
    return (
        f"unnest($1::text[]) AS r(p) CROSS JOIN LATERAL (SELECT {columns} FROM {table} AS x"
        f' WHERE x.hash >= r.p COLLATE "C" AND x.hash < (r.p || \'g\') COLLATE "C" OFFSET 0) AS x'
    )


async def _fetch(conn: Connection, statement: str, *args: Any) -> list[Any]:
    """Rows of a statement over many rows, without just-in-time compilation (hundreds of
    milliseconds of compiling for a plan that runs in less)."""
    async with conn.transaction(readonly=True):
        await conn.execute("SET LOCAL jit = off")
        return await conn.fetch(statement, *args)


async def hashes_in(conn: Connection, tables: Any, prefixes: Sequence[str]) -> list[str]:
    """The hashes in the ranges, in order: ranges in order, each read in index order (so the
    sort is a pass over an already sorted list)."""
    rows = await _fetch(conn, f"SELECT x.hash FROM {_in_ranges(tables.card, 'hash')}", sorted(prefixes))
    return sorted(row[0] for row in rows)


HALF: Final = 2**60
"""A line's number is its high 60 bits times this plus its low 60 bits (``hash_ranges.value``)."""


def _halves(column: str, kind: str, guarded: bool) -> str:
    """The two 60-bit halves of ``hash_ranges.value`` of ``column``, as ``a`` and ``b``.
    Unguarded, a value that is not hex fails the statement (SQLSTATE 22P02): checking every row
    costs more than the sums, so it is done only for a store that needs it."""
    digits = column
    if guarded:
        is_hex = f"length({column}) >= 30 AND translate(substr({column}, 1, 30), '0123456789abcdef', '') = ''"
        digits = f"(CASE WHEN {is_hex} THEN {column} ELSE md5('{kind}' || {column}) END)"
    return (
        f"('x' || substr({digits}, 1, 15))::bit(60)::bigint AS a,"
        f" ('x' || substr({digits}, 16, 15))::bit(60)::bigint AS b"
    )


def _digest_statement(tables: Any, guarded: bool) -> str:
    tag = _halves("md5('t' || x.hash || ':' || x.tag)", "t", False)
    lines = (
        f"SELECT left(x.hash, $2) AS g, true AS card, {_halves('x.hash', 'c', guarded)}"
        f" FROM {_in_ranges(tables.card, 'hash')}"
        f" UNION ALL SELECT left(x.hash, $2), false, {_halves('x.key', 's', guarded)}"
        f" FROM {_in_ranges(tables.sighting, 'hash, key')}"
        f" UNION ALL SELECT left(x.hash, $2), false, {tag}"
        f" FROM {_in_ranges(tables.tag, 'hash, tag')}"
    )
    return (
        "SELECT g, count(*) FILTER (WHERE card), sum(a) FILTER (WHERE card), sum(b) FILTER (WHERE card),"
        " sum(a) FILTER (WHERE NOT card), sum(b) FILTER (WHERE NOT card)"
        f" FROM ({lines}) AS lines GROUP BY g HAVING count(*) FILTER (WHERE card) > 0"
    )


async def digests(conn: Connection, tables: Any, prefixes: Sequence[str], depth: int) -> dict[str, RangeDigest]:
    """The ranges' digests, summed by the server; a store holding rows of other tools whose
    hashes or keys are not hex is summed again, checking every row."""
    try:
        rows = await _fetch(conn, _digest_statement(tables, False), list(prefixes), depth)
    except Exception as exc:
        if getattr(exc, "sqlstate", None) != "22P02":
            raise
        rows = await _fetch(conn, _digest_statement(tables, True), list(prefixes), depth)
    return {
        group: RangeDigest(count, str(int(high) * HALF + int(low)), str(int(label_high or 0) * HALF + int(label_low or 0)))
        for group, count, high, low, label_high, label_low in rows
    }
