"""Facets on SQLite: counted in indexes where they can be, else by ``GROUP BY`` over the
chosen cards.

Over the whole store, time buckets are ranges of the time index and size buckets ranges of
the size index, each counted without reading a row (``count(*)`` of a range). Over the cards
a query chooses, one statement reads their columns once and groups them for every field asked
for: by day or hour (integer arithmetic, no date formatting per row), months and years summed
from the days.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final, Optional

from mcard.domain.models.card import MAX_MICROS, MIN_MICROS
from mcard.domain.query import Filters, SearchSpec

from .facets import (
    DAY_MICROS, HOUR_MICROS, IN_RANGE, SIZE_BUCKETS, SIZE_INDEX, bucket_bounds, from_grouped, most_first,
    stored_span_width, time_counts, time_unit,
)
from .integrity import FACET_VALUE
from .sqlite_connection import SQLiteWorker
from . import sqlite_filter_walks as filter_walks
from . import sqlite_tag_check as tag_check
from . import sqlite_search as search

MOST_RANGES: Final = 2000
"""Past this many buckets, one pass over the cards beats counting each range of the index."""
_COUNT_IN_RANGE: Final = {
    column: f"(SELECT count(*) FROM card WHERE {column} >= bucket.low AND {column} < bucket.high)"
    for column in ("g_time", "size")
}
_TAGS_OF_CARDS: Final = (
    f"SELECT tag, n FROM {tag_check.WHEN_HELD} CROSS JOIN (SELECT tag, count(*) AS n FROM tag GROUP BY tag)"
    f" UNION ALL SELECT tag, n FROM {tag_check.UNLESS_HELD} CROSS JOIN (SELECT tag, count(*) AS n FROM tag"
    " WHERE EXISTS (SELECT 1 FROM card WHERE card.hash = tag.hash) GROUP BY tag) ORDER BY 2 DESC, 1"
)
"""Tags over every card: counted in the tag index while every tag names a stored card
(``sqlite_tag_check``), else those of stored cards alone, a look-up each (500,000 tags of
1,000,000 cards: ~47 ms in the index, ~430 ms looking each card up)."""
_STORED_SPAN: Final = (
    f"SELECT (SELECT g_time FROM card WHERE {IN_RANGE} ORDER BY g_time LIMIT 1),"
    f" (SELECT g_time FROM card WHERE {IN_RANGE} ORDER BY g_time DESC LIMIT 1)"
)
"""The first and last time a card can have, each read at an end of the time index: ``min`` and
``max`` of the times that pass ``IN_RANGE`` read every row (174 ms of 1,000,000 cards)."""
_OVER_EVERY_CARD: Final = {  # counted in the type index, and in the table
    "content_type": f"SELECT content_type AS {FACET_VALUE}, count(*) FROM card GROUP BY 1",
    "kind": f"SELECT CASE WHEN is_text THEN 'text' ELSE 'bytes' END AS {FACET_VALUE}, count(*) FROM card GROUP BY 1",
}
_TAGS_OF_CHOSEN: Final = "chosen CROSS JOIN tag ON tag.hash = chosen.hash GROUP BY 2"
_GROUPED: Final = {  # rows (field, value, count, first time, last time) over the chosen cards, ``chosen``
    # the value column is named by the first part: a text that is not UTF-8 in any part is
    # said to be a content type or a tag (``storage_error``), whichever part comes first
    "content_type": f"SELECT 'content_type', content_type AS {FACET_VALUE}, count(*), NULL, NULL FROM chosen GROUP BY 2",
    "kind": f"SELECT 'kind', CASE WHEN is_text THEN 'text' ELSE 'bytes' END AS {FACET_VALUE}, count(*), NULL, NULL"
            " FROM chosen GROUP BY 2",
    "size": f"SELECT 'size', {SIZE_INDEX} AS {FACET_VALUE}, count(*), NULL, NULL FROM chosen GROUP BY 2",
    # Each chosen card's tags looked up in the tag table's key: ``hash IN (SELECT hash FROM
    # chosen)`` built an index of every chosen hash first (10 s for 1,000,000 cards, no tags).
    "tag": f"SELECT 'tag', tag.tag AS {FACET_VALUE}, count(*), NULL, NULL FROM {_TAGS_OF_CHOSEN}",
    # the cards of one tag, while every tag names a stored card (``sqlite_tag_check``): their
    # tags read beside that tag's rows, no card looked up
    "tag of one tag": f"SELECT 'tag', other.tag AS {FACET_VALUE}, count(*), NULL, NULL FROM {tag_check.WHEN_HELD} CROSS JOIN tag AS one"
                      " CROSS JOIN tag AS other ON other.hash = one.hash WHERE one.tag = ? GROUP BY 2",
    "tag unless held": f"SELECT 'tag', tag.tag AS {FACET_VALUE}, count(*), NULL, NULL FROM {tag_check.UNLESS_HELD} CROSS JOIN {_TAGS_OF_CHOSEN}",
    # times another tool stored that no card can have (text sorts after every number) are left
    # out; the span is that of the steps' first and last times: a pass of its own had SQLite
    # keep every chosen card aside for two passes (a time facet alone of a tag's 100,000 of
    # 1,000,000 cards: 433 ms)
    "step": f"SELECT 'step', (g_time - ?) / ? AS {FACET_VALUE}, count(*), min(g_time), max(g_time) FROM chosen WHERE {IN_RANGE} GROUP BY 2",
}


def _chosen(
    filters: Filters, spec: Optional[SearchSpec], left_out: Optional[SearchSpec], params: list[object],
    lead: Optional[filter_walks.Lead] = None, rows_read: bool = True,
) -> str:
    """The cards a facet counts: ``FROM card ... WHERE`` text selecting them (read through
    ``lead``'s index when filters alone choose them and one of them has few hits);
    ``rows_read``: columns of their rows are read, not only their hashes."""
    if left_out is not None:
        return f"FROM card WHERE {search.left_out(left_out, filters, params)}"
    if spec is None and rows_read and _of_labels_alone(filters):
        # the ids first, from the hash index alone, then the rows in the order of their ids: in
        # the order of the hashes, each row read cost a page read (a tag on 100,000 of 1,000,000
        # cards: its month facet 583-705 -> 376-398 ms, its four default facets 703-920 -> 595-774)
        return f"FROM card WHERE card.id IN (SELECT card.id FROM card{filter_walks.where(filters, lead, params)})"
    if spec is None:
        return f"FROM card{filter_walks.where(filters, lead, params)}"
    return f"FROM card WHERE {search.matched(spec, filters, params)}"


def _of_labels_alone(filters: Filters) -> bool:
    """Whether ``filters`` choose cards by tags and names alone, at least one of them held:
    the test of each of these reads the hash index alone."""
    held = filters.tags or filters.tag_globs or filters.names
    return bool(held) and replace(filters, tags=(), tag_globs=(), names=(), excluded_tags=(), excluded_tag_globs=(),
                                  excluded_names=()).empty


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


def of_indexed_columns(filters: Filters) -> bool:
    """Whether ``filters`` are of types, sizes and times alone: each is counted in its own index."""
    return replace(filters, content_type=None, min_size=None, max_size=None, start_time=None, end_time=None).empty


def every_card_statement(filters: Filters, params: list[object]) -> str:
    """For ``filters`` of types, sizes and times alone (``of_indexed_columns``), the statement
    giving the highest card id, then the hits of each of these filters, counted in its own index."""
    parts = [part for part in (Filters(content_type=filters.content_type),
                               Filters(min_size=filters.min_size, max_size=filters.max_size),
                               Filters(start_time=filters.start_time, end_time=filters.end_time)) if not part.empty]
    counts = [f"(SELECT count(*) FROM card{search.where(part, params)})" for part in parts]
    return f"SELECT {', '.join(['(SELECT coalesce(max(id), 0) FROM card)', *counts])}"


async def chooses_every_card(db: SQLiteWorker, filters: Filters) -> bool:
    """Whether ``filters`` (of types, sizes and times alone, ``of_indexed_columns``) choose every card: facets over
    them are then those over every card, counted in the indexes. Over the chosen cards, every
    card is read: the four default facets of ``type:text/plain`` over 1,000,000 texts took
    2.3 s, those of ``size:<50`` over cards all smaller 3.0 s. Every card is counted only when
    each filter's hits are the same and at least half the highest id (cards are never given an
    id again, so fewer hits cannot be every card of a store that removed few)."""
    params: list[object] = []
    [(highest, *hits)] = await db.fetch(every_card_statement(filters, params), params)
    if len(set(hits)) != 1 or hits[0] * 2 < highest:
        return False
    [(every,)] = await db.fetch("SELECT count(*) FROM card")
    return hits[0] == every


async def over_everything(db: SQLiteWorker, fields: list[str]) -> dict[str, list[tuple[Any, int]]]:
    """Each of ``fields`` counted over every card, a statement or two a field: ``db`` reads
    them in one transaction, so that they all count one state of the store."""
    return {field: await _field_over_everything(db, field) for field in fields}


async def _field_over_everything(db: SQLiteWorker, field: str) -> list[tuple[Any, int]]:
    if field == "tag":
        return [(tag, n) for tag, n in await db.fetch(_TAGS_OF_CARDS)]
    if field == "size":
        edges = [low for low, _ in SIZE_BUCKETS[1:]] + [1 << 62]
        return await _range_counts(db, "size", [(label, low, high) for (low, label), high in zip(SIZE_BUCKETS, edges)])
    if field in _OVER_EVERY_CARD:
        return most_first(await db.fetch(_OVER_EVERY_CARD[field]))
    [(first, last)] = await db.fetch(_STORED_SPAN)
    if first is None:
        return []
    width = stored_span_width(first, last) if field == "time" else field
    bounds = bucket_bounds(width, first, last, MOST_RANGES)
    if bounds is not None:
        return await _range_counts(db, "g_time", [(label, low, MAX_MICROS + 1 if high is None else high)
                                                  for label, low, high in bounds])
    unit = HOUR_MICROS if width == "hour" else DAY_MICROS
    steps = await db.fetch(f"SELECT (g_time - ?) / ?, count(*) FROM card WHERE {IN_RANGE} GROUP BY 1", (MIN_MICROS, unit))
    return time_counts(width, first, last, steps, unit)


async def over_chosen(
    db: SQLiteWorker, fields: list[str], filters: Filters, spec: Optional[SearchSpec], left_out: Optional[SearchSpec]
) -> dict[str, list[tuple[Any, int]]]:
    """One statement for every field: the chosen cards' columns are read once (looking each
    up costs ~5 us at 100,000 cards), then each field groups them; SQLite materializes
    ``chosen`` when more than one part reads it, and folds it into a lone one. Counting each
    field on its own read the cards again for every field, twice for a time facet (the
    explorer's four facets over 10,000 tagged cards of 100,000: 73-81 ms, 276 ms before)."""
    lead = await filter_walks.lead(db, filters) if spec is None and left_out is None else None
    params: list[object] = []
    rows_read = fields != ["tag"]  # a tag facet alone reads the chosen cards' hashes alone
    chosen = (f"WITH chosen AS (SELECT card.hash, card.g_time, card.size, card.content_type,"
              f" card.is_text {_chosen(filters, spec, left_out, params, lead, rows_read)})")
    times, unit = time_unit(fields)
    one_tag = filters.tag_alone if spec is None and left_out is None else None
    parts = [_GROUPED[field] for field in fields if field in _GROUPED and not (one_tag is not None and field == "tag")]
    if one_tag is not None and "tag" in fields:
        parts += [_GROUPED["tag of one tag"], _GROUPED["tag unless held"]]
        params.append(one_tag)
    if times:
        parts.append(_GROUPED["step"])
        params += [MIN_MICROS, unit]
    rows = await db.fetch(f"{chosen} {' UNION ALL '.join(parts)}", params)
    steps = [row for row in rows if row[0] == "step"]
    span = [("span", min(row[3] for row in steps), max(row[4] for row in steps))] if steps else []
    return from_grouped(fields, [row[:3] for row in rows] + span, unit)
