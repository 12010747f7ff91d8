"""Where recent newest-first pages ended, so that the next page continues from there (keyset)
instead of skipping ``offset`` rows again. Engine-agnostic; each engine validates a mark with
its own change stamp."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Final, Optional

from mcard.domain.models.card import MCard, to_micros

TimeBounds = tuple[Optional[int], Optional[int]]
Mark = tuple[int, int, str]
"""(change stamp, g_time in microseconds, hash) of the last card of a page."""


def micros_bounds(start_time: Optional[datetime], end_time: Optional[datetime]) -> TimeBounds:
    """Inclusive time bounds as microseconds since the epoch (None: unbounded)."""
    return (
        None if start_time is None else to_micros(start_time),
        None if end_time is None else to_micros(end_time),
    )


class PageMarks:
    """The last ``capacity`` page ends, keyed by (time bounds, offset just after the page)."""

    def __init__(self, capacity: int = 256) -> None:
        self._capacity: Final = capacity
        self._marks: OrderedDict[tuple[TimeBounds, int], Mark] = OrderedDict()

    def __len__(self) -> int:
        return len(self._marks)

    def get(self, bounds: TimeBounds, offset: int) -> Optional[Mark]:
        """The end of a page that stopped just before ``offset``, if one is remembered."""
        return self._marks.get((bounds, offset)) if offset else None

    def remember(self, bounds: TimeBounds, offset: int, stamp: int, page: list[MCard]) -> None:
        """Note where ``page``, read at ``offset`` and change ``stamp``, ended."""
        if not page:
            return
        key = (bounds, offset + len(page))
        self._marks[key] = (stamp, to_micros(page[-1].g_time), page[-1].hash)
        self._marks.move_to_end(key)
        while len(self._marks) > self._capacity:
            self._marks.popitem(last=False)

    def clear(self) -> None:
        self._marks.clear()
