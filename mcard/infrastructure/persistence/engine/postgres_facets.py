"""Facets on PostgreSQL: one pass over the chosen cards groups them for every field asked for
at once (``GROUPING SETS``: by content type, kind, size bucket, and by hour or day in integer
arithmetic, months and years summed from the days, with the first and last time), and the tags
are counted in the tag table; instead of reading every card into Python and asking for each
one's tags."""

from __future__ import annotations

from typing import Any, Final, Optional, Sequence

from mcard.domain.models.card import MIN_MICROS
from mcard.domain.query import Filters, WordQuery

from . import sql_filters
from .facets import IN_RANGE, SIZE_INDEX, from_grouped, time_unit
from .postgres_sql import Tables, dialect, left_out_keys
from .postgres_words import Lookup

Connection = Any
_KEYS: Final = {  # field: its key over a card, grouped by
    "content_type": "content_type",
    "kind": "CASE WHEN is_text THEN 'text' ELSE 'bytes' END",
    "size": SIZE_INDEX,
}


async def facets(
    conn: Connection, tables: Tables, fields: Sequence[str], filters: Filters, hashes: Optional[list[str]],
    left_out: Optional[list[str]] = None,
) -> dict[str, list[tuple[Any, int]]]:
    """Each of ``fields`` counted over the cards that pass ``filters`` (and, given ``hashes``,
    are among them: the matches of a search; given ``left_out``, are not), in one snapshot."""
    params: list[object] = []
    clauses = sql_filters.where(filters, dialect(tables), params, None, table=tables.card)
    if hashes is not None:
        params.append(hashes)
        clauses.append(f"{tables.card}.hash = ANY(${len(params)}::text[])")
    if left_out is not None:
        params.append(left_out)
        clauses.append(f"NOT ({tables.card}.hash = ANY(${len(params)}::text[]))")
    chosen, chosen_params = f"FROM {tables.card}{sql_filters.joined(clauses)}", list(params)
    keys = {field: _KEYS[field] for field in fields if field in _KEYS}
    times, unit = time_unit(fields)
    if times:
        params += [MIN_MICROS, unit]
        # NULL for a time no card can have (a row another tool wrote): its step would overflow
        keys["step"] = f"CASE WHEN {IN_RANGE} THEN (g_time - ${len(params) - 1}::bigint) / ${len(params)}::bigint END"
    rows: list[tuple[str, Any, Any]] = []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        if keys:
            rows += _grouped(list(keys), await conn.fetch(grouping_statement(list(keys.values()), chosen), *params))
        if "tag" in fields:
            tagged = f"SELECT tag, count(*) FROM {tables.tag}"
            if hashes is not None and len(clauses) == 1:  # a search's matches alone: no card to look up
                tagged += " WHERE hash IN (SELECT unnest($1::text[]))"
            elif clauses:
                tagged += f" WHERE hash IN (SELECT hash {chosen})"
            rows += [("tag", tag, n) for tag, n in await conn.fetch(f"{tagged} GROUP BY 1", *chosen_params)]
    return from_grouped(fields, rows, unit)


async def facets_without(
    conn: Connection, tables: Tables, fields: Sequence[str], filters: Filters, left_out: WordQuery,
    narrowed: Optional[list[Lookup]],
) -> dict[str, list[tuple[Any, int]]]:
    """``facets`` of the cards passing ``filters`` that ``left_out`` does not match, with its
    matches found in the same snapshot (``left_out_keys``)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        keys = await left_out_keys(conn, tables, filters, left_out, narrowed)
        return await facets(conn, tables, fields, filters, None, keys)


def grouping_statement(keys: Sequence[str], chosen: str) -> str:
    """One pass over the cards ``chosen`` (``FROM ... WHERE ...``) grouped by each of ``keys``
    (SQL over a card) alone: rows of (which keys are not grouped, as ``GROUPING``'s bits, key
    values..., count, first time, last time). Each set is a hash table filled in the one pass.
    The cards are read in a subquery the planner cannot look into (``OFFSET 0``): it took the
    day of ``g_time``, a column of distinct values, for as many groups as cards and sorted
    them all to disk (1,000,000 cards: 640-655 ms instead of 270 ms); and no set of no key,
    which would be sorted too (the first and last time come from the days)."""
    columns = [f"k{index}" for index in range(len(keys))]
    selected = ", ".join(f"{key} AS {column}" for key, column in zip(keys, columns))
    sets = ", ".join(f"({column})" for column in columns)
    span = f"min(g_time) FILTER (WHERE {IN_RANGE}), max(g_time) FILTER (WHERE {IN_RANGE})"
    return (f"SELECT GROUPING({', '.join(columns)}), {', '.join(columns)}, count(*), {span}"
            f" FROM (SELECT {selected}, g_time {chosen} OFFSET 0) AS chosen GROUP BY GROUPING SETS ({sets})")


def _grouped(fields: Sequence[str], rows: Sequence[Any]) -> list[tuple[str, Any, Any]]:
    """Rows (field, value, count) of ``grouping_statement``'s rows for ``fields`` (its keys in
    order), and for time steps the ``span`` row (field, first, last) of them all."""
    last = len(fields) - 1
    found: list[tuple[str, Any, Any]] = []
    times: list[tuple[int, int]] = []
    for bits, *values, n, first, final in rows:
        index = next(index for index in range(len(fields)) if not bits >> (last - index) & 1)
        if fields[index] == "step" and values[index] is None:  # times no card can have: left out
            continue
        found.append((fields[index], values[index], n))
        if fields[index] == "step":
            times.append((first, final))
    if times:
        found.append(("span", min(first for first, _ in times), max(final for _, final in times)))
    return found
