"""Pages in name order on PostgreSQL (``order="name"`` or ``"name_desc"``), read in two parts
instead of looking up every card's latest name and sorting them all (as ``sqlite_name_order``).

The cards with a name come first: each named sighting that is its card's latest, sorted by name.
When they do not fill the page, the named cards in the time window are counted and the cards
without a name follow, newest first down the (g_time, hash) index, each tested for a name. All
of it is read in one repeatable-read snapshot, so a name given meanwhile moves a card in both
parts or in neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from mcard.domain.query import Filters

from . import sql_filters
from .sighting_rows import POSTGRES_SOUND

if TYPE_CHECKING:
    from asyncpg import Connection

    from .postgres_sql import Tables

DIRECTION: Final = {"name": "", "name_desc": " DESC"}
PROBE: Final = " OFFSET 0"
"""Keeps a test for a card's sightings a look-up in ``sighting_index`` per card: without it,
statistics from before a bulk load of sightings had the planner compare every card with every
sighting (100,000 cards, 10,000 named: 43 s for a page at offset 50,000)."""


async def rows(
    conn: Connection, tables: Tables, dialect: sql_filters.Dialect, filters: Filters, limit: int, offset: int,
    order: str, selected: str, leading: list[object],
) -> list[Any]:
    """The rows of ``selected`` (over ``card AS c``; its values are ``leading``) of a page in
    name ``order`` of the cards ``filters`` (time bounds alone) choose."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        params = [*leading]
        named = await conn.fetch(named_statement(tables, dialect, filters, selected, params, limit, offset, order), *params)
        if len(named) == limit:
            return named
        params = []
        counted = await conn.fetchval(named_count_statement(tables, dialect, filters, params), *params)
        params = [*leading]
        unnamed = unnamed_statement(tables, dialect, filters, selected, params, limit - len(named), max(0, offset - counted))
        return [*named, *await conn.fetch(unnamed, *params)]


def named_statement(
    tables: Tables, dialect: sql_filters.Dialect, filters: Filters, selected: str, params: list[object],
    limit: int, offset: int, order: str,
) -> str:
    """``selected`` of the named cards of the page: each card's latest sound named sighting
    (``postgres_orders.ordering``: last seen, the greatest key among those seen at once)."""
    clauses = sql_filters.where(filters, dialect, params, None, table="c")
    return (
        f"SELECT {selected} FROM (SELECT s.hash AS named, s.name AS latest_name, s.seen_at AS named_at, s.key AS named_key"
        f" FROM {tables.sighting} AS s WHERE s.name IS NOT NULL AND {POSTGRES_SOUND}) AS latest"
        f" JOIN {tables.card} AS c ON c.hash = latest.named WHERE NOT EXISTS"
        f" {_sightings_named(tables, 'latest.named', ' AND (s.seen_at, s.key) > (latest.named_at, latest.named_key)')}"
        f"{sql_filters.joined(clauses, ' AND ')}"
        f""" ORDER BY latest.latest_name COLLATE "C"{DIRECTION[order]}, c.g_time DESC, c.hash DESC"""
        f"{_paged(params, limit, offset)}"
    )


def named_count_statement(tables: Tables, dialect: sql_filters.Dialect, filters: Filters, params: list[object]) -> str:
    """How many cards in the time window have a name."""
    clauses = sql_filters.where(filters, dialect, params, None, table="c")
    return (f"SELECT count(*) FROM {tables.card} AS c WHERE c.hash IN (SELECT s.hash FROM {tables.sighting} AS s"
            f" WHERE s.name IS NOT NULL AND {POSTGRES_SOUND}){sql_filters.joined(clauses, ' AND ')}")


def unnamed_statement(
    tables: Tables, dialect: sql_filters.Dialect, filters: Filters, selected: str, params: list[object],
    limit: int, offset: int,
) -> str:
    """``selected`` of ``limit`` cards without a name newest first, after the first ``offset``."""
    clauses = sql_filters.where(filters, dialect, params, None, table="c")
    return (f"SELECT {selected} FROM {tables.card} AS c WHERE NOT EXISTS {_sightings_named(tables, 'c.hash')}"
            f"{sql_filters.joined(clauses, ' AND ')} ORDER BY c.g_time DESC, c.hash DESC{_paged(params, limit, offset)}")


def _sightings_named(tables: Tables, card_hash: str, condition: str = "") -> str:
    """The sound sightings with a name of the card whose hash is ``card_hash`` (a column), that
    also meet ``condition``: a look-up in the sighting index per card (``PROBE``)."""
    return (f"(SELECT 1 FROM {tables.sighting} AS s WHERE s.hash = {card_hash} AND s.name IS NOT NULL{condition}"
            f" AND {POSTGRES_SOUND}{PROBE})")


def _paged(params: list[object], limit: int, offset: int) -> str:
    params += (limit, offset)
    return f" LIMIT ${len(params) - 1} OFFSET ${len(params)}"
