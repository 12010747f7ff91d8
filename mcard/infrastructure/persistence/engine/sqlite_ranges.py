"""Hash ranges on SQLite (``hash_ranges``): neighbouring ranges merged into intervals, each read
through the hash index in hash order (no sort), a page at a time, and summed in Python.

Rows of other tools may hold values of any type: only text hashes sort within a range of hex
text (numbers sort below it, blobs above), keys and tags are read as text, and a sighting's
``seen_at`` as an integer (0 if it is none)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, Optional

from .hash_ranges import RangeDigest, Sums, all_hex, range_end
from .sqlite_connection import SQLiteWorker

PAGE: Final = 20_000
"""Hashes read per call while summing: memory stays bounded however large the range."""
HASHES_BETWEEN: Final = "SELECT hash FROM card WHERE hash >= ? AND hash < ? ORDER BY hash"
FIRST_ROWS: Final = "SELECT hash FROM card WHERE hash >= ? AND hash < ? ORDER BY hash LIMIT ?"
NEXT_ROWS: Final = "SELECT hash FROM card WHERE hash > ? AND hash < ? ORDER BY hash LIMIT ?"
FIRST_PAGE: Final = f"SELECT group_concat(hash, char(10)), max(hash), count(*) FROM ({FIRST_ROWS})"
"""A page of hashes as one text, a line each (in any order: only their sums are wanted), the
last of them, where the next page starts, and how many there are: one row instead of a row (and
a call of the connection's row factory) per hash. A hash of another tool holding a newline
makes more lines than hashes: that page is read again as rows."""
NEXT_PAGE: Final = f"SELECT group_concat(hash, char(10)), max(hash), count(*) FROM ({NEXT_ROWS})"
SIGHTINGS_BETWEEN: Final = (
    "SELECT s.hash, CAST(s.key AS TEXT), ifnull(CAST(s.seen_at AS INTEGER), 0) FROM sighting AS s"
    " WHERE s.hash >= ? AND s.hash < ?"
    " AND EXISTS (SELECT 1 FROM card WHERE card.hash = s.hash)"
)
IN_SPANS: Final = (
    "JOIN json_each(?) AS r ON x.hash >= json_extract(r.value, '$[0]') AND x.hash < json_extract(r.value, '$[1]')"
)
"""Rows in any of several intervals (a JSON list of [low, high]): an index range search each."""
HASHES_IN: Final = f"SELECT x.hash FROM card AS x {IN_SPANS} ORDER BY x.hash"
IN_CARDS: Final = "EXISTS (SELECT 1 FROM card WHERE card.hash = x.hash)"
SIGHTINGS_IN: Final = (
    f"SELECT x.hash, CAST(x.key AS TEXT), ifnull(CAST(x.seen_at AS INTEGER), 0) FROM sighting AS x {IN_SPANS}"
    f" WHERE {IN_CARDS}"
)
TAGS_IN: Final = f"SELECT x.hash, CAST(x.tag AS TEXT) FROM tag AS x {IN_SPANS} WHERE {IN_CARDS} AND typeof(x.tag) != 'blob'"
SCATTERED: Final = 256
"""Intervals read in one statement when there are several (a sort of their rows, no page)."""
TAGS_BETWEEN: Final = (
    "SELECT t.hash, CAST(t.tag AS TEXT) FROM tag AS t WHERE t.hash >= ? AND t.hash < ?"
    " AND EXISTS (SELECT 1 FROM card WHERE card.hash = t.hash) AND typeof(t.tag) != 'blob'"
)
"""Tags of stored cards, but one another tool wrote as a blob, which reads leave out too (read
as text, one that is not UTF-8 failed every sync)."""

Read = Callable[..., Awaitable[Any]]
"""The store's ``_read``: runs ``operation(worker, *args)`` on an idle reader."""


def intervals(prefixes: Sequence[str]) -> list[tuple[str, str]]:
    """The ranges as [low, high) intervals of strings, ranges next to each other merged (with
    hex prefixes of one length, ``0f`` and ``10`` hold every hash from ``0f`` up to ``10g``)."""
    merged: list[list[str]] = []
    for prefix in sorted(prefixes):
        last = merged[-1] if merged else None
        if last and prefix and len(last[2]) == len(prefix) and int(prefix, 16) == int(last[2], 16) + 1:
            last[1], last[2] = range_end(prefix), prefix
        else:
            merged.append([prefix, range_end(prefix), prefix])
    return [(low, high) for low, high, _ in merged]


async def hashes_between(db: SQLiteWorker, low: str, high: str) -> list[str]:
    return [row[0] for row in await db.fetch(HASHES_BETWEEN, (low, high))]


async def hashes_in(db: SQLiteWorker, spans: Sequence[tuple[str, str]]) -> list[str]:
    return [row[0] for row in await db.fetch(HASHES_IN, (json.dumps(spans),))]


async def _scattered(db: SQLiteWorker, spans: Sequence[tuple[str, str]]) -> tuple[list[Any], ...]:
    """The hashes, sightings and tags in several intervals, from one snapshot."""
    given = (json.dumps(spans),)
    return tuple(await db.in_turn(
        [db.fetch(HASHES_IN, given), db.fetch(SIGHTINGS_IN, given), db.fetch(TAGS_IN, given)], snapshot=True
    ))


async def listed(read: Read, prefixes: Sequence[str]) -> list[str]:
    """The hashes in the ranges, in order: one interval read through the index, several at once."""
    spans = intervals(prefixes)
    if len(spans) == 1:
        return await read(hashes_between, *spans[0])
    found: list[str] = []
    for start in range(0, len(spans), SCATTERED):
        found.extend(await read(hashes_in, spans[start:start + SCATTERED]))
    return found


async def _page(db: SQLiteWorker, start: str, high: str, first: bool) -> tuple[list[str], Optional[str], bool]:
    """The hashes of the page from ``start`` (or after it) up to ``high``, the last one, and
    whether they are all hex (``hash_ranges.all_hex``)."""
    [(text, last, count)] = await db.fetch(FIRST_PAGE if first else NEXT_PAGE, (start, high, PAGE))
    lines = text.split("\n") if text else []
    if len(lines) != count:
        hashes = [row[0] for row in await db.fetch(FIRST_ROWS if first else NEXT_ROWS, (start, high, PAGE))]
        return hashes, hashes[-1] if hashes else None, False
    return lines, last, all_hex(lines, text or "")


async def _labels(db: SQLiteWorker, low: str, high: str) -> tuple[list[Any], list[Any]]:
    return await db.fetch(SIGHTINGS_BETWEEN, (low, high)), await db.fetch(TAGS_BETWEEN, (low, high))


async def digests(read: Read, prefixes: Sequence[str], depth: int) -> dict[str, RangeDigest]:
    """The ranges' digests. Each page is its own read: a write between two of them can only make
    the digests differ from the other store's, which a sync then looks into."""
    sums = Sums(depth)
    spans = intervals(prefixes)
    if len(spans) > 1:
        for start in range(0, len(spans), SCATTERED):
            hashes, sightings, tags = await read(_scattered, spans[start:start + SCATTERED])
            sums.add_hashes(sorted(row[0] for row in hashes))
            sums.add_sightings(sightings)
            sums.add_tags(tags)
        return sums.result()
    for low, high in spans:
        sightings, tags = await read(_labels, low, high)
        sums.add_sightings(sightings)
        sums.add_tags(tags)
        hashes, last, checked = await read(_page, low, high, True)
        while hashes:
            sums.add_hashes(hashes, checked)
            hashes, last, checked = await read(_page, last, high, False) if len(hashes) == PAGE else ([], None, False)
    return sums.result()

