"""Hash ranges on PostgreSQL (``hash_ranges``): the digests are computed by the server, so a
comparison sends one row per range, never the hashes themselves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .hash_ranges import RangeDigest

Connection = Any  # asyncpg.Connection; asyncpg is imported lazily


def _in_ranges(column: str) -> str:
    return f'{column} >= r.p COLLATE "C" AND {column} < (r.p || \'g\') COLLATE "C"'


async def hashes_in(conn: Connection, tables: Any, prefixes: Sequence[str]) -> list[str]:
    rows = await conn.fetch(
        f"SELECT c.hash FROM unnest($1::text[]) AS r(p) JOIN {tables.card} AS c ON {_in_ranges('c.hash')}"
        " ORDER BY c.hash",
        list(prefixes),
    )
    return [row[0] for row in rows]


async def digests(conn: Connection, tables: Any, prefixes: Sequence[str], depth: int) -> dict[str, RangeDigest]:
    """The texts ``hash_ranges.range_digest`` hashes, built and hashed by the server per range
    (lines in the "C" collation, which sorts as Python sorts strings)."""
    rows = await conn.fetch(
        f"""
        WITH r AS (SELECT p FROM unnest($1::text[]) AS r(p)),
        c AS (SELECT left(c.hash, $2) AS g, count(*) AS n, string_agg(c.hash, E'\\n' ORDER BY c.hash) AS lines
              FROM r JOIN {tables.card} AS c ON {_in_ranges('c.hash')} GROUP BY 1),
        s AS (SELECT left(s.hash, $2) AS g,
                     string_agg(s.hash || ':' || s.key, E'\\n' ORDER BY (s.hash || ':' || s.key) COLLATE "C") AS lines
              FROM r JOIN {tables.sighting} AS s ON {_in_ranges('s.hash')} GROUP BY 1),
        t AS (SELECT left(t.hash, $2) AS g,
                     string_agg(t.hash || ':' || t.tag, E'\\n' ORDER BY (t.hash || ':' || t.tag) COLLATE "C") AS lines
              FROM r JOIN {tables.tag} AS t ON {_in_ranges('t.hash')} GROUP BY 1)
        SELECT c.g, c.n, encode(sha256(convert_to(c.lines, 'UTF8')), 'hex'),
            encode(sha256(convert_to(coalesce(s.lines, '') || E'\\n\\n' || coalesce(t.lines, ''), 'UTF8')), 'hex')
        FROM c LEFT JOIN s USING (g) LEFT JOIN t USING (g)
        """,
        list(prefixes), depth,
    )
    return {group: RangeDigest(count, cards, labels) for group, count, cards, labels in rows}
