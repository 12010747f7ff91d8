"""Pages in type order on PostgreSQL (``order="type"``), read one content type at a time
instead of sorting every card of the time window (as ``sqlite_type_order``).

The table has no index of content types (one would cost every insert), so each type's part
of a page is read down the (g_time, hash) index, each card's type tested: a common type fills
its part at once, a rare one after the cards of other types before its own. How many cards each
type holds is counted in a scan of the window and kept with the change stamp, which every write
of mcard moves (not another program's: see ``postgres_sql``); the page is read in one
repeatable-read snapshot with the stamp, and the counts taken again when it moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mcard.domain.query import Filters

from . import sql_filters
from .type_runs import TypeCounts, TypeRun, parts, runs_of

if TYPE_CHECKING:
    from asyncpg import Connection

    from .postgres_sql import Tables


async def rows(
    conn: Connection, tables: Tables, dialect: sql_filters.Dialect, known: TypeCounts, filters: Filters,
    limit: int, offset: int, selected: str, leading: Sequence[object],
) -> list[Any]:
    """The rows of ``selected`` (over ``card AS c``; its values are ``leading``) of a page in
    type order of the cards ``filters`` (time bounds alone) choose."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        stamp = await conn.fetchval(f"SELECT {tables.stamp}")
        counted = known.get(filters)
        if counted is None or counted[0] != stamp:
            params: list[object] = []
            groups = await conn.fetch(counts_statement(tables, dialect, filters, params), *params)
            counted = stamp, runs_of((None if stored is None else stored.encode("utf-8"), count) for stored, count in groups)
            known.remember(filters, counted)
        found: list[Any] = []
        for run, wanted, skipped in parts(counted[1], limit, offset):
            params = [*leading]
            found += await conn.fetch(part_statement(tables, dialect, run, filters, selected, params, wanted, skipped), *params)
        return found


def counts_statement(tables: Tables, dialect: sql_filters.Dialect, filters: Filters, params: list[object]) -> str:
    clauses = sql_filters.where(filters, dialect, params, None, table="c")
    return f"SELECT c.content_type, count(*) FROM {tables.card} AS c{sql_filters.joined(clauses)} GROUP BY c.content_type"


def part_statement(
    tables: Tables, dialect: sql_filters.Dialect, run: TypeRun, filters: Filters, selected: str, params: list[object],
    limit: int, skipped: int,
) -> str:
    """``selected`` of ``limit`` cards of ``run`` newest first, after its first ``skipped``."""
    if run.key:
        params.append(run.key.decode("utf-8"))
        condition = f"c.content_type = ${len(params)}"
    elif run.null and run.empty:
        condition = "(c.content_type IS NULL OR c.content_type = '')"
    else:
        condition = "c.content_type IS NULL" if run.null else "c.content_type = ''"
    clauses = sql_filters.where(filters, dialect, params, None, table="c")
    params += (limit, skipped)
    return (f"SELECT {selected} FROM {tables.card} AS c WHERE {condition}{sql_filters.joined(clauses, ' AND ')}"
            f" ORDER BY c.g_time DESC, c.hash DESC LIMIT ${len(params) - 1} OFFSET ${len(params)}")
