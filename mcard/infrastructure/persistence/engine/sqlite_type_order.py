"""Pages in type order (``order="type"``: content type, then newest first) read one content
type at a time down ``card_by_type``, instead of sorting every card of the time window.

The statement of the whole order sorts every card in the window to give one page (100,000
cards: ~90 ms a page, 1,000,000: about a second). The cards of one type lie in ``card_by_type``
in time order, so a page needs only how many cards each type holds (counted in that index alone,
~5 ms at 100,000 cards, ~90 ms at 1,000,000) to know which types it spans and where it starts in
each; each type's part is then read down the index. The counts are read with the store's change
stamp and the parts in one snapshot with it, used only when it has not moved in between. They
are counted for every page: kept from one page to the next, they went stale when another program
replaced a row in place (``INSERT OR REPLACE`` keeping its id), which moves no stamp. A store
whose types another tool wrote as neither text nor NULL is left to the sort.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from mcard.domain.query import Filters

from . import sqlite_search as search
from .sqlite_connection import SQLiteWorker
from .sqlite_schema import READ_CHANGES


@dataclass(frozen=True)
class TypeRun:
    """The cards of one place in the order: a content type as stored (bytes, so that any text
    another tool wrote compares as SQLite compares it), or ``b""`` for the cards whose type is
    NULL or empty, which the order puts first, together."""

    key: bytes
    count: int
    null: bool = False
    empty: bool = False


Counted = tuple[int, list[TypeRun]]
"""The change stamp the counts were read at, and the runs in the order."""


def _runs(groups: Iterable[tuple[Optional[bytes], int]]) -> list[TypeRun]:
    """The runs of the order from (stored type as bytes, or None for NULL; its count of cards)."""
    runs: dict[bytes, TypeRun] = {}
    for stored, count in groups:
        key = stored or b""
        run = runs.get(key, TypeRun(key, 0))
        runs[key] = TypeRun(key, run.count + count, run.null or stored is None, run.empty or stored == b"")
    return [runs[key] for key in sorted(runs)]


def _parts(runs: list[TypeRun], limit: int, offset: int) -> list[tuple[TypeRun, int, int]]:
    """Each run a page of ``limit`` cards at ``offset`` spans: how many of its cards the page
    takes, after how many of them."""
    spanned, start = [], 0
    for run in runs:
        end = start + run.count
        if end > offset and start < offset + limit:
            skipped = max(0, offset - start)
            spanned.append((run, min(run.count - skipped, offset + limit - start - skipped), skipped))
        start = end
    return spanned


def _condition(run: TypeRun, params: list[object]) -> str:
    """The test of the cards of ``run`` (a type as stored, compared byte for byte)."""
    if run.key:
        params.append(run.key)
        return "card.content_type = CAST(? AS TEXT)"
    if run.null and run.empty:
        return "(card.content_type IS NULL OR card.content_type = '')"
    return "card.content_type IS NULL" if run.null else "card.content_type = ''"


async def page(
    db: SQLiteWorker, filters: Filters, limit: int, offset: int, columns: str, column_params: Sequence[object],
) -> Optional[list[Any]]:
    """The rows of ``columns`` of a page in type order of the cards ``filters`` (time bounds
    alone) choose; None when this store must be sorted instead (types of another storage
    class), or when it was written to at each of three tries while the page was read."""
    for _ in range(3):
        counted = await _count(db, filters)
        if counted is None:
            return None
        rows = await _read_parts(db, counted, filters, limit, offset, columns, column_params)
        if rows is not None:
            return rows
    return None


def counts_statement(filters: Filters, params: list[object]) -> str:
    """The change stamp, and each stored type's storage class, bytes and count of cards."""
    return (f"SELECT {READ_CHANGES}, typeof(card.content_type), CAST(card.content_type AS BLOB), count(*)"
            f" FROM card{search.where(filters, params)} GROUP BY card.content_type")


def part_statement(run: TypeRun, filters: Filters, columns: str, params: list[object], limit: int, skipped: int) -> str:
    """``columns`` of ``limit`` cards of ``run`` newest first, after its first ``skipped``.

    An OFFSET reads the row of each card it skips, so the cards before the page are skipped in
    ``card_by_type`` alone: the time of the ``skipped``-th card is read there, and only the cards
    of that time before it are skipped by reading their rows (at 475,000 cards into one type:
    312 -> 49 ms)."""
    within = _within(run, filters, params)
    if not skipped:
        params.append(limit)
        return f"SELECT {columns} FROM card WHERE {within}{search.NEWEST_FIRST} LIMIT ?"
    first = _time_at(run, filters, params, skipped)
    params += (limit, skipped)
    newer_within = _within(run, filters, params)
    newer_first = _time_at(run, filters, params, skipped)
    return (f"SELECT {columns} FROM card WHERE {within} AND card.g_time <= {first}{search.NEWEST_FIRST}"
            f" LIMIT ? OFFSET ? - (SELECT count(*) FROM card WHERE {newer_within} AND card.g_time > {newer_first})")


def _within(run: TypeRun, filters: Filters, params: list[object]) -> str:
    """The conditions of the cards of ``run`` within the time bounds of ``filters``."""
    return _condition(run, params) + search.also(filters, params)


def _time_at(run: TypeRun, filters: Filters, params: list[object], skipped: int) -> str:
    """The time of the card of ``run`` after its first ``skipped``, read in the index alone."""
    within = _within(run, filters, params)
    params.append(skipped)
    return f"(SELECT card.g_time FROM card WHERE {within} ORDER BY card.g_time DESC LIMIT 1 OFFSET ?)"


async def _count(db: SQLiteWorker, filters: Filters) -> Optional[Counted]:
    params: list[object] = []
    rows = await db.fetch(counts_statement(filters, params), params)
    if not rows:
        return None  # no card in the window: an empty page, which the sort gives at once
    if any(kind not in ("text", "null") for _, kind, _, _ in rows):
        return None
    return rows[0][0], _runs((None if kind == "null" else stored, count) for _, kind, stored, count in rows)


async def _read_parts(
    db: SQLiteWorker, counted: Counted, filters: Filters, limit: int, offset: int,
    columns: str, column_params: Sequence[object],
) -> Optional[list[Any]]:
    """The page from each run it spans, read in one snapshot; None when the stamp moved since
    ``counted`` was read."""
    stamp, runs = counted
    reads = [db.fetch(f"SELECT {READ_CHANGES}")]
    for run, wanted, skipped in _parts(runs, limit, offset):
        params = [*column_params]
        reads.append(db.fetch(part_statement(run, filters, columns, params, wanted, skipped), params))
    [[(now,)], *read] = await db.in_turn(reads, snapshot=True)
    if now != stamp:
        return None
    return [row for part in read for row in part]
