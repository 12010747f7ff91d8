"""A page of the cards that filters alone choose, read by walking along the time index.

SQLite plans such a page from the filter's own index: every card carrying a tag (or of a type,
or in a size range) is looked up and sorted before the newest can be taken, so the more cards a
filter chooses, the slower its first page (``tag:holiday`` on 100,000 of 1,000,000 cards: 390
ms). A walk down the time index checks the newest cards in turn and stops once the page is full
(0.2 ms there), but reads the whole index for a filter that chooses few cards. As for a search
(``page_walks``), the hits of each filter are counted up to a threshold, sqrt(choice x wanted x
cards), each through its own index; the page walks when every filter has at least that many,
reading at most ``SLACK`` times the cards it expects, and a walk that falls short (the cards lie
among older ones, or the filters together choose few) leaves the page to the planner.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final, Optional

from mcard.domain.query import Filters

from . import page_walks, sql_filters
from .sqlite_connection import SQLiteWorker
from .sqlite_search import DIALECT, WALK_ORDERS

THRESHOLD: Final = "WITH threshold(hits) AS (SELECT mcard_isqrt(? * coalesce(max(id), 0)) FROM card)"
UP_TO: Final = "LIMIT (SELECT hits FROM threshold)"
HITS_SORTED: Final = {"newest": " ORDER BY +card.g_time DESC, +card.hash DESC", "oldest": " ORDER BY +card.g_time, +card.hash"}
"""``WALK_ORDERS`` that no index serves (``+``): SQLite reads the few hits through the filters'
indexes and sorts them."""


def count_statement(filters: Filters, params: list[object]) -> Optional[str]:
    """The statement giving the walk's threshold (the choice x wanted cards, already in
    ``params``) and the fewest hits, counted up to it, of a filter that chooses cards (an
    exclusion does not), each through its own index; None when one of them can choose none.
    A tag's hits are its rows in the tag index: listing the cards that carry it would list
    them all first."""
    rows = [f"SELECT 1 FROM card{sql_filters.joined(sql_filters.where(only, DIALECT, params))}"
            for only in (Filters(content_type=filters.content_type), Filters(min_size=filters.min_size, max_size=filters.max_size))
            if not only.empty]
    labels = sql_filters.label_rows(filters, DIALECT, params)
    if labels is None:
        return None
    counts = [f"(SELECT count(*) FROM ({hits} {UP_TO}))" for hits in rows + labels]
    fewest = counts[0] if len(counts) == 1 else f"min({', '.join(counts)})" if counts else "hits"
    return f"{THRESHOLD} SELECT hits, {fewest} FROM threshold"


def walk_statement(
    filters: Filters, columns: str, params: list[object], rows: int, limit: int, offset: int, order: str,
    after: Optional[tuple[int, str]],
) -> str:
    """The statement reading ``columns`` (of ``card``, their values already in ``params``) of
    the page from a walk of at most ``rows`` cards along the time index in ``order``. The walked
    rows' LIMIT keeps SQLite from merging them into the statement around, which reads them in
    their order; only the page's cards are read whole."""
    time_only = Filters(start_time=filters.start_time, end_time=filters.end_time)
    bounds = sql_filters.where(time_only, DIALECT, params, after)
    params.append(rows)
    others = replace(filters, start_time=None, end_time=None)
    checks = sql_filters.joined(sql_filters.where(others, DIALECT, params, keyless=True, probe=True))
    params += [limit, offset]
    walked = ("SELECT card.id, card.hash, card.g_time, card.size, card.content_type FROM card INDEXED BY card_by_time"
              f"{sql_filters.joined(bounds)}{WALK_ORDERS[order]} LIMIT ?")
    page = f"SELECT card.id AS id FROM ({walked}) AS card{checks} LIMIT ? OFFSET ?"
    return f"SELECT {columns} FROM ({page}) AS page JOIN card ON card.id = page.id{WALK_ORDERS[order]}"


async def walk(
    db: SQLiteWorker,
    filters: Filters,
    columns: str,
    column_params: list[object],
    limit: Optional[int],
    offset: int,
    order: str = "newest",
    after: Optional[tuple[int, str]] = None,
) -> tuple[Optional[list[Any]], bool]:
    """The rows of ``columns`` (of ``card``, their values in ``column_params``) of the
    ``limit`` cards ``filters`` choose after the first ``offset``, newest first (or in
    ``order``), behind ``after`` (g_time, hash; newest first), walked, or None; and whether a
    filter has fewer hits than the threshold, so that the planner's page should sort them
    (``HITS_SORTED``): SQLite may walk the whole time index for a size no card has
    (``size:>1000`` at 1,000,000 cards: 543 ms, against 0.3 ms sorting its hits)."""
    wanted = offset + (limit or 0)
    if limit is None or limit <= 0 or wanted > page_walks.MOST_WANTED or order not in WALK_ORDERS:
        return None, False
    params: list[object] = [page_walks.FILTER_CHOICE * wanted]
    counting = count_statement(filters, params)
    if counting is None:
        return None, False
    [(threshold, hits)] = await db.fetch(counting, params)
    if not 0 < threshold <= hits:
        return None, hits < threshold
    params = list(column_params)
    budget = page_walks.budget(threshold, page_walks.FILTER_CHOICE)
    statement = walk_statement(filters, columns, params, budget, limit, offset, order, after)
    found = await db.fetch_snapshot(statement, params)
    return (found if len(found) == limit else None), False
