"""Hash ranges on PostgreSQL (``hash_ranges``): the digests are summed by the server in one pass
(no sort), so a comparison sends one row per range, never the hashes themselves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


def _text_value(line: str, half: int) -> str:
    """``hash_ranges.text_value`` of ``line`` (with its kind in front): a half of its MD5."""
    return f"('x' || substr(md5({line}), {1 + 16 * half}, 16))::bit(64)::bigint"


def _hex_value(column: str, kind: str, half: int, guarded: bool) -> str:
    """``hash_ranges.hex_value``: hex digits 1-15 or 16-30 of ``column``. Unguarded, a value that
    is not hex fails the statement (SQLSTATE 22P02): checking every row costs more than the sum."""
    digits = f"('x' || substr({column}, {1 + 15 * half}, 15))::bit(60)::bigint"
    if not guarded:
        return digits
    is_hex = f"length({column}) >= 30 AND translate(substr({column}, 1, 30), '0123456789abcdef', '') = ''"
    text = _text_value(f"'{kind}' || {column}", half)
    return f"CASE WHEN {is_hex} THEN {digits} ELSE {text} END"


def _digest_statement(tables: Any, guarded: bool) -> str:
    def values(column: str, kind: str) -> str:
        return f"{_hex_value(column, kind, 0, guarded)} AS a, {_hex_value(column, kind, 1, guarded)} AS b"

    tag = "'t' || x.hash || ':' || x.tag"
    lines = (
        f"SELECT left(x.hash, $2) AS g, true AS card, {values('x.hash', 'c')} FROM {_in_ranges(tables.card, 'hash')}"
        f" UNION ALL SELECT left(x.hash, $2), false, {values('x.key', 's')}"
        f" FROM {_in_ranges(tables.sighting, 'hash, key')}"
        f" UNION ALL SELECT left(x.hash, $2), false, {_text_value(tag, 0)}, {_text_value(tag, 1)}"
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
        group: RangeDigest(count, f"{first}:{second}", f"{label_first or 0}:{label_second or 0}")
        for group, count, first, second, label_first, label_second in rows
    }
