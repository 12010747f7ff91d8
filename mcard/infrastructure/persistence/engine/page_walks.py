"""When a page of a search is read by walking down the time index, for both engines.

Through the trigram index a page newest first costs every hit: all are read and sorted before
the newest can be taken. A walk down the time index checks the newest cards in turn and stops
once the page is full: it expects to read wanted x cards / hits of them. Each engine counts the
index's hits up to a threshold, sqrt(choice x wanted x cards), and walks when there are at least
that many, reading at most ``SLACK`` times what it expects; a walk that falls short (the
matches lie among older cards) leaves the page to the index. A substring's page first looks
among the ``PROBE_ROWS`` newest cards: a common text fills it there, and two or more matches
among them tell its share without the count (``probed_budget``).
"""

from __future__ import annotations

from typing import Final, Optional

REGEX_CHOICE: Final = 8
"""The threshold's choice for a regular expression, whose walk sends every card it reads to
the child process, where its index path sends only the hits (SQLite, a literal in 1% of
100,000 cards: 21 ms walking with the choice of a substring, 5.6 ms through the index)."""
FILTER_CHOICE: Final = 0.5
"""The threshold's choice for a page that filters alone choose (``sqlite_filter_walks``,
``postgres_filter_walks``): a walked card costs about what a hit of the filter's own index does
(its tags looked up there, the hit read and sorted)."""
SLACK: Final = 4
PROBE_ROWS: Final = 64
"""A substring's page with a limit is first looked for among this many of the newest cards:
a common text fills its page there, and counting the index's hits up to the threshold (0.5-1.2
ms at 100,000 cards on SQLite, ~13 ms on PostgreSQL for a word in 37% of them) is not needed."""
PROBE_SHARE: Final = 2
"""Matches among those cards that stand for the share of cards holding the text
(``probed_budget``); with fewer, the hits are counted (the text may be rare, or common among
older cards only)."""
MOST_WANTED: Final = 10_000
"""Pages reaching deeper than this are read through the index on PostgreSQL, and on SQLite
those of a regular expression; SQLite reads a deeper page of filters down the time index
without a budget when they are common (``sqlite_filter_walks.deep_walk_statement``)."""
MOST_COUNTED: Final = 64
"""Filters (tags, names...) whose hits a page counts at most: the page of a query of more is
left to the planner (40,000 tags made a statement of 40,000 counts, which SQLite refused and
PostgreSQL took minutes to plan)."""


def choice(mode: str, substring_choice: float) -> float:
    """The threshold's choice for a search in ``mode``: the engine's own for a substring."""
    return REGEX_CHOICE if mode == "regex" else substring_choice


def budget(threshold: int, choice: float) -> int:
    """How many of the newest cards a walk may read: ``SLACK`` times the most it expects
    (wanted x cards / threshold, the threshold being sqrt(choice x wanted x cards))."""
    return int(SLACK * threshold / choice) + 1


def probed_budget(threshold: int, choice: float, wanted: int, matches: int) -> Optional[int]:
    """How many of the newest cards a walk may read for the first ``wanted`` matches when the
    newest ``PROBE_ROWS`` held ``matches`` of them (at least ``PROBE_SHARE``, too few to fill
    the page), or None when their share makes the text rare (fewer hits expected than the
    threshold, sqrt(choice x wanted x cards): the index's path is the better one). The walk
    reads at most ``SLACK`` times what that share makes it expect: the newest cards may hold a
    rare text only because they were written together, and then the walk stops early and
    leaves the page to the index."""
    if threshold <= 0 or threshold * matches < PROBE_ROWS * choice * wanted:
        return None
    return min(budget(threshold, choice), SLACK * (wanted * PROBE_ROWS // matches) + 1)
