"""Where recent newest-first pages ended, so that the next page continues from there (keyset)
instead of skipping ``offset`` rows again. Engine-agnostic; each engine validates a mark with
its own change stamp."""

from __future__ import annotations

from collections import OrderedDict
from typing import Final, Optional

from mcard.domain.models.card import MCard, to_micros
from mcard.domain.models.exceptions import StorageError
from mcard.domain.query import Filters

Mark = tuple[int, int, str]
"""(change stamp, g_time in microseconds, hash) of the last card of a page."""


def told_total(shown: int, limit: Optional[int], offset: int) -> Optional[int]:
    """How many cards match in all, as a page of ``shown`` cards read at ``limit`` and
    ``offset`` tells it (from the page's own snapshot): when it is not full and not past the
    last match; else None (count them)."""
    if (limit is None or shown < limit) and (shown or offset == 0):
        return offset + shown
    return None


def _kept_by_stamp(filters: Filters) -> bool:
    """Whether the change stamp moves whenever the cards ``filters`` choose may change: not
    when they name tags or sighting names, which change without a card being saved or removed."""
    return not filters.by_labels


class PageMarks:
    """The last ``capacity`` page ends, keyed by (filters, offset just after the page)."""

    def __init__(self, capacity: int = 256) -> None:
        self._capacity: Final = capacity
        self._marks: OrderedDict[tuple[Filters, int], Mark] = OrderedDict()

    def __len__(self) -> int:
        return len(self._marks)

    def get(self, filters: Filters, offset: int) -> Optional[Mark]:
        """The end of a page that stopped just before ``offset``, if one is remembered."""
        return self._marks.get((filters, offset)) if offset and _kept_by_stamp(filters) else None

    def remember(self, filters: Filters, offset: int, stamp: int, page: list[MCard]) -> None:
        """Note where ``page``, read at ``offset`` and change ``stamp``, ended."""
        if not page or not _kept_by_stamp(filters):
            return
        try:
            micros = to_micros(page[-1].g_time)
        except StorageError:  # a stored time no card can have (another tool's row): no mark
            return
        key = (filters, offset + len(page))
        self._marks[key] = (stamp, micros, page[-1].hash)
        self._marks.move_to_end(key)
        while len(self._marks) > self._capacity:
            self._marks.popitem(last=False)

    def clear(self) -> None:
        self._marks.clear()
