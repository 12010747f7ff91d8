"""Hash ranges on SQLite (``hash_ranges``): neighbouring ranges merged into intervals, each read
through the hash index in hash order (no sort), a page at a time, and summed in Python."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from .hash_ranges import RangeDigest, Sums, range_end
from .sqlite_connection import SQLiteWorker

PAGE: Final = 20_000
"""Hashes read per call while summing: memory stays bounded however large the range."""
HASHES_BETWEEN: Final = "SELECT hash FROM card WHERE hash >= ? AND hash < ? ORDER BY hash"
FIRST_PAGE: Final = "SELECT hash FROM card WHERE hash >= ? AND hash < ? ORDER BY hash LIMIT ?"
NEXT_PAGE: Final = "SELECT hash FROM card WHERE hash > ? AND hash < ? ORDER BY hash LIMIT ?"
SIGHTINGS_BETWEEN: Final = (
    "SELECT s.hash, s.key FROM sighting AS s WHERE s.hash >= ? AND s.hash < ?"
    " AND EXISTS (SELECT 1 FROM card WHERE card.hash = s.hash)"
)
TAGS_BETWEEN: Final = (
    "SELECT t.hash, t.tag FROM tag AS t WHERE t.hash >= ? AND t.hash < ?"
    " AND EXISTS (SELECT 1 FROM card WHERE card.hash = t.hash)"
)

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


async def _page(db: SQLiteWorker, start: str, high: str, first: bool) -> list[str]:
    """A page of the hashes from ``start`` (or after it) up to ``high``, in order."""
    return [row[0] for row in await db.fetch(FIRST_PAGE if first else NEXT_PAGE, (start, high, PAGE))]


async def _labels(db: SQLiteWorker, low: str, high: str) -> tuple[list[Any], list[Any]]:
    return await db.fetch(SIGHTINGS_BETWEEN, (low, high)), await db.fetch(TAGS_BETWEEN, (low, high))


async def digests(read: Read, prefixes: Sequence[str], depth: int) -> dict[str, RangeDigest]:
    """The ranges' digests. Each page is its own read: a write between two of them can only make
    the digests differ from the other store's, which a sync then looks into."""
    sums = Sums(depth)
    for low, high in intervals(prefixes):
        sightings, tags = await read(_labels, low, high)
        sums.add_sightings(sightings)
        sums.add_tags(tags)
        hashes = await read(_page, low, high, True)
        while hashes:
            sums.add_hashes(hashes)
            hashes = await read(_page, hashes[-1], high, False) if len(hashes) == PAGE else []
    return sums.result()

