"""Facets on PostgreSQL: one statement reads the chosen cards' columns once and groups them for
every field asked for (by hour or day, in integer arithmetic; months and years summed from the
days), instead of reading every card into Python and asking for each one's tags."""

from __future__ import annotations

from typing import Any, Final, Optional, Sequence

from mcard.domain.models.card import MIN_MICROS
from mcard.domain.query import Filters

from . import sql_filters
from .facets import SIZE_INDEX, from_grouped, time_unit
from .postgres_sql import Tables, dialect

Connection = Any
_GROUPED: Final = {  # rows (field, label, number, count) over the chosen cards, ``chosen``
    "content_type": "SELECT 'content_type', content_type, NULL::bigint, count(*) FROM chosen GROUP BY 2",
    "kind": "SELECT 'kind', CASE WHEN is_text THEN 'text' ELSE 'bytes' END, NULL, count(*) FROM chosen GROUP BY 2",
    "size": f"SELECT 'size', NULL, {SIZE_INDEX}, count(*) FROM chosen GROUP BY 3",
    "span": "SELECT 'span', NULL, min(g_time), max(g_time) FROM chosen",
}


async def facets(
    conn: Connection, tables: Tables, fields: Sequence[str], filters: Filters, hashes: Optional[list[str]]
) -> dict[str, list[tuple[Any, int]]]:
    """Each of ``fields`` counted over the cards that pass ``filters`` (and, given ``hashes``,
    are among them: the matches of a search)."""
    params: list[object] = []
    clauses = sql_filters.where(filters, dialect(tables), params, None, table=tables.card)
    if hashes is not None:
        params.append(hashes)
        clauses.append(f"{tables.card}.hash = ANY(${len(params)}::text[])")
    chosen = (f"WITH chosen AS MATERIALIZED (SELECT hash, g_time, size, content_type, is_text"
              f" FROM {tables.card}{sql_filters.joined(clauses)})")
    parts = [_GROUPED[field] for field in fields if field in _GROUPED]
    if "tag" in fields:
        parts.append(f"SELECT 'tag', tag, NULL, count(*) FROM {tables.tag} WHERE hash IN (SELECT hash FROM chosen) GROUP BY 2")
    times, unit = time_unit(fields)
    if times:
        params += [MIN_MICROS, unit]
        parts += [_GROUPED["span"],
                  f"SELECT 'step', NULL, (g_time - ${len(params) - 1}::bigint) / ${len(params)}::bigint, count(*)"
                  " FROM chosen GROUP BY 3"]
    rows = await conn.fetch(f"{chosen} {' UNION ALL '.join(parts)}", *params)
    return from_grouped(fields, ((field, label if number is None else number, n) for field, label, number, n in rows), unit)
