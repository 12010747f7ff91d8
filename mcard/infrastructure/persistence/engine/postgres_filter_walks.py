"""A page of the cards that tags or names choose, read by walking along the time index
(PostgreSQL; SQLite's counterpart is ``sqlite_filter_walks``).

PostgreSQL planned a page of ``tag:holiday`` (10,000 of 100,000 cards) from the tag index:
every tagged card was read and sorted before the newest could be taken (30 ms; a glob's 126 ms).
Types, sizes and exclusions it already walks along the time index. So when a filter lists tags
or names, their hits are counted up to the walk's threshold, sqrt(choice x wanted x cards), each
through its own index; the page walks when every one of them has at least that many, reading at
most ``SLACK`` times the cards it expects and looking each walked card's tags up; a walk that
falls short leaves the page to the planner.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final, Optional

from mcard.domain.query import Filters

from . import page_walks, sql_filters
from .postgres_search import WALK_IN_TIME_ORDER, threshold

if TYPE_CHECKING:
    from asyncpg import Connection

    from .postgres_sql import Tables

WALK_ORDERS: Final = {"newest": " ORDER BY g_time DESC, hash DESC", "oldest": " ORDER BY g_time, hash"}


def walks(filters: Filters) -> bool:
    """Whether a page of ``filters`` may walk: they list tags or names."""
    return bool(filters.tags or filters.tag_globs or filters.names)


def count_statement(tables: Tables, dialect: sql_filters.Dialect, filters: Filters, params: list[object]) -> Optional[str]:
    """The statement giving the walk's threshold (its choice x wanted cards and the table's
    name already ``params``' first two values) and the fewest hits, counted up to it, of the
    tags and names ``filters`` list, each through its own index; None when one of them can
    choose no card, or when they are more than ``page_walks.MOST_COUNTED``."""
    labels = sql_filters.label_rows(filters, dialect, params)
    if not labels or len(labels) > page_walks.MOST_COUNTED:
        return None
    counts = [f"(SELECT count(*) FROM ({hits} LIMIT (SELECT hits FROM threshold)) AS hit)" for hits in labels]
    fewest = counts[0] if len(counts) == 1 else f"least({', '.join(counts)})"
    return f"{threshold(tables, 1)} SELECT hits, {fewest} FROM threshold"


def walk_statement(
    tables: Tables, dialect: sql_filters.Dialect, filters: Filters, columns: str, params: list[object], rows: int,
    limit: int, offset: int, order: str, after: Optional[tuple[int, str]],
) -> str:
    """The statement reading ``columns`` (over ``walked``, a card's columns; their values
    already in ``params``) of the page from a walk of at most ``rows`` cards in ``order``. The
    walked rows' LIMIT keeps PostgreSQL from merging them into the statement around."""
    time_only = Filters(start_time=filters.start_time, end_time=filters.end_time)
    bounds = sql_filters.where(time_only, dialect, params, after, table=tables.card)
    params.append(rows)
    walked_rows = dialect.mark(len(params))
    others = replace(filters, start_time=None, end_time=None)
    checks = sql_filters.where(others, dialect, params, table="walked", probe=True)
    params += [limit, offset]
    return (
        f"SELECT {columns} FROM (SELECT {tables.columns} FROM {tables.card}{sql_filters.joined(bounds)}"
        f"{WALK_ORDERS[order]} LIMIT {walked_rows}) AS walked{sql_filters.joined(checks)}{WALK_ORDERS[order]}"
        f" LIMIT {dialect.mark(len(params) - 1)} OFFSET {dialect.mark(len(params))}"
    )


async def walk(
    conn: Connection,
    tables: Tables,
    dialect: sql_filters.Dialect,
    filters: Filters,
    columns: str,
    leading: list[object],
    limit: Optional[int],
    offset: int,
    order: str = "newest",
    after: Optional[tuple[int, str]] = None,
) -> Optional[list[Any]]:
    """The rows of ``columns`` (their values ``leading``) of the ``limit`` cards ``filters``
    choose after the first ``offset``, newest first (or in ``order``, one of ``WALK_ORDERS``),
    behind ``after`` (g_time, hash; newest first); None when the planner's page is the better
    one or the walk fell short."""
    if not walks(filters) or order not in WALK_ORDERS or limit is None or limit <= 0:
        return None
    wanted = offset + limit
    if wanted > page_walks.MOST_WANTED:
        return None
    params: list[object] = [page_walks.FILTER_CHOICE * wanted, tables.card]
    counting = count_statement(tables, dialect, filters, params)
    if counting is None:
        return None
    most, hits = await conn.fetchrow(counting, *params)
    if not 0 < most <= hits:
        return None
    params = list(leading)
    budget = page_walks.budget(most, page_walks.FILTER_CHOICE)
    statement = walk_statement(tables, dialect, filters, columns, params, budget, limit, offset, order, after)
    async with conn.transaction(readonly=True):
        await conn.execute(WALK_IN_TIME_ORDER)
        found = await conn.fetch(statement, *params)
    return found if len(found) == limit else None
