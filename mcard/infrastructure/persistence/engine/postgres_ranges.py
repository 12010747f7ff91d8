"""Hash ranges on PostgreSQL (``hash_ranges``): the digests are computed by the server, so a
comparison sends one row per range, never the hashes themselves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .hash_ranges import RangeDigest

Connection = Any  # asyncpg.Connection; asyncpg is imported lazily


def _in_ranges(table: str, alias: str, columns: str) -> str:
    """Rows of ``table`` whose hash is in one of the ranges ``r.p``: a lateral subquery, so that
    each range is an index range scan (a plain join may be planned as a scan of the whole
    table filtered against every range)."""
    return (
        f"unnest($1::text[]) AS r(p) CROSS JOIN LATERAL (SELECT {columns} FROM {table} AS x"
        f' WHERE x.hash >= r.p COLLATE "C" AND x.hash < (r.p || \'g\') COLLATE "C") AS {alias}'
    )


async def hashes_in(conn: Connection, tables: Any, prefixes: Sequence[str]) -> list[str]:
    """The hashes in the ranges, in order: ranges in order, each read in index order (so the
    sort is a pass over an already sorted list)."""
    rows = await conn.fetch(f"SELECT c.hash FROM {_in_ranges(tables.card, 'c', 'hash')}", sorted(prefixes))
    return sorted(row[0] for row in rows)


async def digests(conn: Connection, tables: Any, prefixes: Sequence[str], depth: int) -> dict[str, RangeDigest]:
    """The texts ``hash_ranges.range_digest`` hashes, built and hashed by the server per range
    (lines in the "C" collation, which sorts as Python sorts strings)."""
    rows = await conn.fetch(
        f"""
        WITH c AS (SELECT left(c.hash, $2) AS g, count(*) AS n, string_agg(c.hash, E'\\n' ORDER BY c.hash) AS lines
              FROM {_in_ranges(tables.card, 'c', 'hash')} GROUP BY 1),
        s AS (SELECT left(s.hash, $2) AS g,
                     string_agg(s.hash || ':' || s.key, E'\\n' ORDER BY (s.hash || ':' || s.key) COLLATE "C") AS lines
              FROM {_in_ranges(tables.sighting, 's', 'hash, key')} GROUP BY 1),
        t AS (SELECT left(t.hash, $2) AS g,
                     string_agg(t.hash || ':' || t.tag, E'\\n' ORDER BY (t.hash || ':' || t.tag) COLLATE "C") AS lines
              FROM {_in_ranges(tables.tag, 't', 'hash, tag')} GROUP BY 1)
        SELECT c.g, c.n, encode(sha256(convert_to(c.lines, 'UTF8')), 'hex'),
            encode(sha256(convert_to(coalesce(s.lines, '') || E'\\n\\n' || coalesce(t.lines, ''), 'UTF8')), 'hex')
        FROM c LEFT JOIN s USING (g) LEFT JOIN t USING (g)
        """,
        list(prefixes), depth,
    )
    return {group: RangeDigest(count, cards, labels) for group, count, cards, labels in rows}
