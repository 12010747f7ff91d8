"""Facets on SQLite: counted in indexes where they can be, else one ``GROUP BY`` over the
chosen cards.

Over the whole store, time buckets are ranges of the time index and size buckets ranges of
the size index, each counted without reading a row (``count(*)`` of a range). Over the cards
a query chooses, one pass groups them by day or hour (integer arithmetic, no date
formatting per row), and months and years are summed from the days.
"""

from __future__ import annotations

from typing import Any, Final, Optional

from mcard.domain.models.card import MAX_MICROS, MIN_MICROS, from_micros
from mcard.domain.query import Filters, SearchSpec

from .facets import DAY_MICROS, HOUR_MICROS, SIZE_BUCKETS, TIME_WIDTHS, bucket_bounds, time_bucket, time_width
from .sqlite_connection import SQLiteWorker
from .sqlite_search import matching, where

MOST_RANGES: Final = 2000
"""Past this many buckets, one pass over the cards beats counting each range of the index."""
_SIZE_CASE: Final = (  # the index of the card's bucket in SIZE_BUCKETS
    "CASE WHEN card.size >= 10485760 THEN 5 WHEN card.size >= 1048576 THEN 4 WHEN card.size >= 102400 THEN 3"
    " WHEN card.size >= 10240 THEN 2 WHEN card.size >= 1024 THEN 1 ELSE 0 END"
)
_COUNT_IN_RANGE: Final = {
    column: f"(SELECT count(*) FROM card WHERE {column} >= bucket.low AND {column} < bucket.high)"
    for column in ("g_time", "size")
}
_COUNTED: Final = {
    "content_type": "card.content_type",
    "kind": "CASE WHEN card.is_text THEN 'text' ELSE 'bytes' END",
    "size": _SIZE_CASE,
}


def _chosen(filters: Filters, spec: Optional[SearchSpec], params: list[object]) -> str:
    """The cards a facet counts: ``FROM card ... WHERE`` text selecting them."""
    if spec is None:
        return f"FROM card{where(filters, params)}"
    return f"FROM card WHERE card.id IN ({matching(spec, filters, params, 'card.id')})"


async def _range_counts(db: SQLiteWorker, column: str, ranges: list[tuple[str, int, int]]) -> list[tuple[Any, int]]:
    """(label, count) of the non-empty ranges ``[low, high)`` of an indexed ``column``."""
    if not ranges:
        return []
    values = ", ".join("(?, ?, ?)" for _ in ranges)
    rows = await db.fetch(
        f"WITH bucket(label, low, high) AS (VALUES {values}) SELECT label, {_COUNT_IN_RANGE[column]} FROM bucket",
        [value for bucket in ranges for value in bucket],
    )
    return [(label, n) for label, n in rows if n]


async def facet(db: SQLiteWorker, field: str, filters: Filters, spec: Optional[SearchSpec]) -> list[tuple[Any, int]]:
    everything = filters.empty and spec is None
    params: list[object] = []
    if field == "tag":
        if everything:
            statement = "SELECT tag, count(*) FROM tag GROUP BY tag"
        else:
            statement = f"SELECT tag, count(*) FROM tag WHERE hash IN (SELECT card.hash {_chosen(filters, spec, params)}) GROUP BY tag"
        return [(tag, n) for tag, n in await db.fetch(statement + " ORDER BY 2 DESC, 1", params)]
    if field in TIME_WIDTHS or field == "time":
        return await _time_facet(db, field, filters, spec, everything)
    if field == "size" and everything:
        edges = [low for low, _ in SIZE_BUCKETS[1:]] + [1 << 62]
        return await _range_counts(db, "size", [(label, low, high) for (low, label), high in zip(SIZE_BUCKETS, edges)])
    rows = await db.fetch(f"SELECT {_COUNTED[field]}, count(*) {_chosen(filters, spec, params)} GROUP BY 1", params)
    if field == "size":
        return [(SIZE_BUCKETS[index][1], n) for index, n in sorted(rows)]
    return sorted(((value, n) for value, n in rows), key=lambda item: (-item[1], str(item[0])))


async def _time_facet(
    db: SQLiteWorker, field: str, filters: Filters, spec: Optional[SearchSpec], everything: bool
) -> list[tuple[Any, int]]:
    params: list[object] = []
    [(first, last)] = await db.fetch(f"SELECT min(card.g_time), max(card.g_time) {_chosen(filters, spec, params)}", params)
    if first is None:
        return []
    if field == "time":
        field = time_width(from_micros(first), from_micros(last))
    if everything and (bounds := bucket_bounds(field, first, last, MOST_RANGES)) is not None:
        return await _range_counts(db, "g_time", [(label, low, MAX_MICROS + 1 if high is None else high)
                                                  for label, low, high in bounds])
    unit = HOUR_MICROS if field == "hour" else DAY_MICROS
    params = [MIN_MICROS, unit]
    rows = await db.fetch(f"SELECT (card.g_time - ?) / ?, count(*) {_chosen(filters, spec, params)} GROUP BY 1", params)
    counts: dict[str, int] = {}
    for step, n in rows:
        label = time_bucket(field, from_micros(MIN_MICROS + step * unit))
        counts[label] = counts.get(label, 0) + n
    return sorted(counts.items())
