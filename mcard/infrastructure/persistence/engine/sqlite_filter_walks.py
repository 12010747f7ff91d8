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

The planner, given two filters, may read every card of the common one to test the rare one, and
given one filter whose cards are all old, may walk the time index past every newer card. A page
without a walk, an iteration, a count and the facets over filtered cards are led by the filter
with the fewest hits (``lead``): its index alone serves the statement (``where``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final, Optional

from mcard.domain.query import Filters

from . import page_walks, sql_filters
from . import sqlite_search as search
from .sqlite_connection import SQLiteWorker
from .sqlite_search import DIALECT, WALK_ORDERS

THRESHOLD: Final = "WITH threshold(hits) AS (SELECT mcard_isqrt(? * coalesce(max(id), 0)) FROM card)"
UP_TO: Final = "LIMIT (SELECT hits FROM threshold)"
HITS_SORTED: Final = {"newest": " ORDER BY +card.g_time DESC, +card.hash DESC", "oldest": " ORDER BY +card.g_time, +card.hash"}
"""``WALK_ORDERS`` that no index serves (``+``): SQLite reads the few hits through the filters'
indexes and sorts them."""


DEEP_PROBE: Final = 4096
"""Cards a deep page first tests where its walk would start: it walks only when they hold
enough of the filters' cards to fill the page within the walk's budget. A tag of the oldest
100,000 of 1,000,000 cards, at offset 15,000, took 2.7 s walking past the 900,000 newer cards,
0.6 s by the planner."""

Lead = tuple[Filters, Filters]
"""One filter that chooses cards (alone) and the other filters: a statement led by it reads the
cards through that filter's index and tests the others per row (``where``)."""
LEAD_CAP: Final = 50_000
"""Hits counted per filter when a statement looks for a filter to lead it (``lead``): reading
that many cards through their filter's index and sorting them costs less than walking the
time index past most of 1,000,000 cards, or reading every card of a tag."""


def choosing(filters: Filters) -> Optional[list[Lead]]:
    """Each filter that chooses cards by itself (an exclusion or a time range does not), with
    the other filters; None when they are more than ``page_walks.MOST_COUNTED``."""
    sized = filters.min_size is not None or filters.max_size is not None
    kinds = (filters.content_type is not None) + sized
    if kinds + len(filters.tags) + len(filters.tag_globs) + len(filters.names) > page_walks.MOST_COUNTED:
        return None
    parts: list[Lead] = []
    if filters.content_type is not None:
        parts.append((Filters(content_type=filters.content_type), replace(filters, content_type=None)))
    if sized:
        parts.append((Filters(min_size=filters.min_size, max_size=filters.max_size),
                      replace(filters, min_size=None, max_size=None)))
    for field in ("tags", "tag_globs", "names"):
        values: tuple[str, ...] = getattr(filters, field)
        for at, value in enumerate(values):
            parts.append((Filters(**{field: (value,)}), replace(filters, **{field: values[:at] + values[at + 1:]})))
    return parts


def counts(parts: list[Lead], params: list[object], up_to: str) -> Optional[list[str]]:
    """Per part, the count of its filter's hits up to ``up_to`` (a LIMIT clause), each through
    its own index (a tag's in the tag index: listing the cards that carry it would list them all
    first); None when one of them can choose none."""
    counted = []
    for chosen, _ in parts:
        if chosen.content_type is not None or chosen.min_size is not None or chosen.max_size is not None:
            hits = f"SELECT 1 FROM card{sql_filters.joined(sql_filters.where(chosen, DIALECT, params))}"
        else:
            labels = sql_filters.label_rows(chosen, DIALECT, params)
            if labels is None:
                return None
            [hits] = labels
        counted.append(f"(SELECT count(*) FROM ({hits} {up_to}))")
    return counted


def count_statement(parts: list[Lead], params: list[object]) -> Optional[str]:
    """The statement giving the walk's threshold (the choice x wanted cards, already in
    ``params``) and the hits of each of ``parts``, counted up to it; None when one of them can
    choose none."""
    counted = counts(parts, params, UP_TO)
    return None if counted is None else f"{THRESHOLD} SELECT {', '.join(['hits', *counted])} FROM threshold"


def lead_statement(parts: list[Lead], params: list[object]) -> Optional[str]:
    """The statement giving the hits of each of ``parts``, counted up to ``LEAD_CAP``; None
    when one of them can choose none."""
    counted = counts(parts, params, f"LIMIT {LEAD_CAP}")
    return None if counted is None else f"SELECT {', '.join(counted)}"


async def lead(db: SQLiteWorker, filters: Filters, fewest_filters: int = 2) -> Optional[Lead]:
    """The filter to lead a statement over the cards ``filters`` choose, of at least
    ``fewest_filters`` that choose cards: the one with the fewest hits, when they are under
    ``LEAD_CAP``. SQLite would read every card of a tag to test a size none of them has
    (``tag:holiday size:<20`` at 1,000,000 cards: 520 ms for the total), or walk the time
    index past most cards for a size only old cards have (``size:<30``: 330 ms for a page)."""
    parts = choosing(filters)
    if parts is None or len(parts) < fewest_filters:
        return None
    params: list[object] = []
    counting = lead_statement(parts, params)
    if counting is None:
        return None
    [hits] = await db.fetch(counting, params)
    fewest = min(hits)
    return parts[hits.index(fewest)] if fewest < LEAD_CAP else None


def where(filters: Filters, lead: Optional[Lead], params: list[object], after: Optional[tuple[int, str]] = None) -> str:
    """`` WHERE`` and the conditions of ``filters`` (``search.where``); led by ``lead`` when
    given: only its filter can serve as an index key, the others, the time range and ``after``
    are tested per row."""
    if lead is None:
        return search.where(filters, params, after)
    chosen, others = lead
    return sql_filters.joined(sql_filters.where(chosen, DIALECT, params)
                              + sql_filters.where(others, DIALECT, params, after, keyless=True, probe=True))


def _walked_range_and_tests(
    filters: Filters, after: Optional[tuple[int, str]], range_params: list[object], test_params: list[object]
) -> tuple[list[str], list[str]]:
    """A walk's conditions: its range of the time index (the time bounds and ``after``), and the
    other filters' tests of each walked card (no index key; tags looked up per card), each with
    its values in its own list (statements place them in different orders)."""
    time_only = Filters(start_time=filters.start_time, end_time=filters.end_time)
    others = replace(filters, start_time=None, end_time=None)
    return (sql_filters.where(time_only, DIALECT, range_params, after),
            sql_filters.where(others, DIALECT, test_params, keyless=True, probe=True))


WALKED_COLUMNS: Final = "SELECT card.id, card.hash, card.g_time, card.size, card.content_type, card.is_text FROM card"
"""What a walk reads of each card it passes: what the tests of ``_walked_range_and_tests`` read."""


def probe_statement(filters: Filters, params: list[object], order: str, after: Optional[tuple[int, str]]) -> str:
    """The statement giving how many of the first ``DEEP_PROBE`` cards along the time index in
    ``order`` (within the time bounds, behind ``after``) it read, and how many of them pass
    ``filters``."""
    range_params: list[object] = []
    bounds, checks = _walked_range_and_tests(filters, after, range_params, params)  # the tests come first
    params += [*range_params, DEEP_PROBE]
    walked = f"{WALKED_COLUMNS} INDEXED BY card_by_time{sql_filters.joined(bounds)}{WALK_ORDERS[order]} LIMIT ?"
    return f"SELECT count(*), coalesce(sum({' AND '.join(checks) or '1'}), 0) FROM ({walked}) AS card"


def deep_walk_statement(
    filters: Filters, columns: str, params: list[object], limit: int, offset: int, order: str,
    after: Optional[tuple[int, str]],
) -> str:
    """The statement reading ``columns`` (of ``card``, their values already in ``params``) of a
    page deeper than a budgeted walk goes (``page_walks.MOST_WANTED``), down the time index in
    ``order``, each card tested: SQLite skips the cards before the page without reading their
    columns (``type:text/*`` over 1,000,000 text cards, at offset 500,000: 2.7 s sorting every
    card of the type index, 0.22 s in SQL this way)."""
    bounds, checks = _walked_range_and_tests(filters, after, params, params)
    params += [limit, offset]
    walked = f"card INDEXED BY card_by_time{sql_filters.joined(bounds + checks)}{WALK_ORDERS[order]}"
    return f"SELECT {columns} FROM {walked} LIMIT ? OFFSET ?"


def walk_statement(
    filters: Filters, columns: str, params: list[object], rows: int, limit: int, offset: int, order: str,
    after: Optional[tuple[int, str]],
) -> str:
    """The statement reading ``columns`` (of ``card``, their values already in ``params``) of
    the page from a walk of at most ``rows`` cards along the time index in ``order``. The walked
    rows' LIMIT keeps SQLite from merging them into the statement around, which reads them in
    their order; only the page's cards are read whole."""
    test_params: list[object] = []
    bounds, checks = _walked_range_and_tests(filters, after, params, test_params)
    params += [rows, *test_params, limit, offset]
    walked = f"{WALKED_COLUMNS} INDEXED BY card_by_time{sql_filters.joined(bounds)}{WALK_ORDERS[order]} LIMIT ?"
    page = f"SELECT card.id AS id FROM ({walked}) AS card{sql_filters.joined(checks)} LIMIT ? OFFSET ?"
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
) -> tuple[Optional[list[Any]], Optional[Lead]]:
    """The rows of ``columns`` (of ``card``, their values in ``column_params``) of the
    ``limit`` cards ``filters`` choose after the first ``offset``, newest first (or in
    ``order``), behind ``after`` (g_time, hash; newest first), walked, or None; and, when a
    filter has fewer hits than the threshold, the one with the fewest, to lead the planner's
    page (``where``), which sorts its hits (``HITS_SORTED``): SQLite may walk the whole time
    index for a size no card has (``size:>1000`` at 1,000,000 cards: 543 ms, against 0.3 ms
    sorting its hits), or read every card of a tag to test that size (520 ms)."""
    wanted = offset + (limit or 0)
    if limit == 0 or order not in WALK_ORDERS:
        return None, None
    if limit is None:  # every card
        return None, await lead(db, filters, fewest_filters=1)
    params: list[object] = [page_walks.FILTER_CHOICE * wanted]
    parts = choosing(filters)
    if parts is None:
        return None, None
    counting = count_statement(parts, params)
    if counting is None:
        return None, None
    [(threshold, *hits)] = await db.fetch(counting, params)
    fewest = min(hits, default=threshold)
    deep = wanted > page_walks.MOST_WANTED
    if not 0 < threshold <= fewest:
        leads = fewest < (min(threshold, LEAD_CAP) if deep else threshold)
        return None, (parts[hits.index(fewest)] if leads else None)
    budget = page_walks.budget(threshold, page_walks.FILTER_CHOICE)
    params = list(column_params)
    if deep:  # every filter common: the page read down the time index, without a budget, is final
        probe_params: list[object] = []
        [(probed, chosen)] = await db.fetch(probe_statement(filters, probe_params, order, after), probe_params)
        if chosen * budget < wanted * probed:  # too few where the walk starts: the planner reads it
            # every filter has the threshold's hits: past LEAD_CAP, none leads (no count again)
            return None, (None if threshold >= LEAD_CAP else await lead(db, filters, fewest_filters=1))
        statement = deep_walk_statement(filters, columns, params, limit, offset, order, after)
        return await db.fetch_snapshot(statement, params), None
    statement = walk_statement(filters, columns, params, budget, limit, offset, order, after)
    found = await db.fetch_snapshot(statement, params)
    return (found, None) if len(found) == limit else (None, await lead(db, filters, fewest_filters=1))
