"""Pages in name order (``order="name"`` or ``"name_desc"``: each card's latest name, cards
without one last, newest first) read in two parts instead of looking up every card's latest
name and sorting them all.

The cards with a name are read down ``sighting_by_name``, each sighting tested for being its
card's latest, so a page costs about as many sightings as its offset and length. When they do
not fill the page, the cards without a name follow newest first, read down the time index,
each tested for a name, after as many as the named cards, counted in the same statement, leave
of the page; both parts are then read again in one snapshot, so a name given meanwhile moves a
card in both or in neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from mcard.domain.query import Filters

from . import sqlite_search as search
from .sighting_rows import SQLITE_SOUND
from .sqlite_connection import SQLiteWorker

NAMED: Final = f"card.hash IN (SELECT sighting.hash FROM sighting WHERE sighting.name IS NOT NULL AND {SQLITE_SOUND})"
"""A card seen under a name (the name order's latest name is not NULL)."""
UNNAMED: Final = (
    "NOT EXISTS (SELECT 1 FROM sighting WHERE sighting.hash = card.hash AND sighting.name IS NOT NULL"
    f" AND {SQLITE_SOUND})"
)
LATEST_NAMES: Final = (
    "(SELECT sighting.hash, sighting.name, sighting.seen_at, sighting.key FROM sighting"
    f" WHERE sighting.name IS NOT NULL AND {SQLITE_SOUND}) AS latest JOIN card ON card.hash = latest.hash"
    " WHERE NOT EXISTS (SELECT 1 FROM sighting WHERE sighting.hash = latest.hash AND sighting.name IS NOT NULL"
    f" AND (sighting.seen_at, sighting.key) > (latest.seen_at, latest.key) AND {SQLITE_SOUND})"
)
"""Each named card with its latest name (``sqlite_sql.LATEST_NAME``: the sound named sighting
last seen, the greatest key among those seen at once), read in ``sighting_by_name``'s order."""
NAME_ORDER: Final = {
    "name": " ORDER BY latest.name, card.g_time DESC, card.hash DESC",
    "name_desc": " ORDER BY latest.name DESC, card.g_time DESC, card.hash DESC",
}


async def page(
    db: SQLiteWorker, filters: Filters, limit: int, offset: int, order: str, columns: str,
    column_params: Sequence[object],
) -> list[Any]:
    """The rows of ``columns`` of a page in name ``order`` of the cards ``filters`` (time bounds
    alone) choose."""
    named_params = [*column_params]
    named = named_statement(filters, columns, order, named_params, limit, offset)
    first = await db.fetch_snapshot(named, named_params)
    if len(first) == limit:
        return first
    unnamed_params: list[object] = []
    unnamed = unnamed_statement(filters, columns, column_params, unnamed_params, limit, offset)
    first, then = await db.in_turn([db.fetch(named, named_params), db.fetch(unnamed, unnamed_params)], snapshot=True)
    return [*first, *then]


def named_statement(filters: Filters, columns: str, order: str, params: list[object], limit: int, offset: int) -> str:
    """``columns`` of the named cards of the page, read down the names in order."""
    conditions = search.also(filters, params)
    params += (limit, offset)
    return f"SELECT {columns} FROM {LATEST_NAMES}{conditions}{NAME_ORDER[order]} LIMIT ? OFFSET ?"


def unnamed_statement(
    filters: Filters, columns: str, column_params: Sequence[object], params: list[object], limit: int, offset: int
) -> str:
    """``columns`` (whose values are ``column_params``) of the cards of the page without a
    name, newest first, after as many as the named cards leave of the page (counted once)."""
    counted = search.also(filters, params)
    params += column_params
    conditions = search.also(filters, params)
    params += (limit, limit, offset, offset)
    return (f"WITH named(cards) AS MATERIALIZED (SELECT count(*) FROM card WHERE {NAMED}{counted})"
            f" SELECT {columns} FROM card WHERE {UNNAMED}{conditions}{search.NEWEST_FIRST}"
            " LIMIT max(0, ? - max(0, min(?, (SELECT cards FROM named) - ?))) OFFSET max(0, ? - (SELECT cards FROM named))")
