"""The runs of a listing in type order (``order="type"``: content type, then newest first),
shared by the engines that read such a page one content type at a time
(``sqlite_type_order``, ``postgres_type_order``): each type's count of cards, kept with the
change stamp it was read at, and which runs a page spans."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Optional

from mcard.domain.query import Filters

COUNTS_KEPT: Final = 8
"""How many time windows' counts a store keeps (the explorer pages one window at a time)."""


@dataclass(frozen=True)
class TypeRun:
    """The cards of one place in the order: a content type as stored (its UTF-8 bytes, so that
    any text compares as SQLite's BINARY and PostgreSQL's ``"C"`` collation compare it), or
    ``b""`` for the cards whose type is NULL or empty, which the order puts first, together."""

    key: bytes
    count: int
    null: bool = False
    empty: bool = False


Counted = tuple[int, list[TypeRun]]
"""The change stamp the counts were read at, and the runs in the order."""


def runs_of(groups: Iterable[tuple[Optional[bytes], int]]) -> list[TypeRun]:
    """The runs of the order from (stored type as bytes, or None for NULL; its count of cards)."""
    runs: dict[bytes, TypeRun] = {}
    for stored, count in groups:
        key = stored or b""
        run = runs.get(key, TypeRun(key, 0))
        runs[key] = TypeRun(key, run.count + count, run.null or stored is None, run.empty or stored == b"")
    return [runs[key] for key in sorted(runs)]


def parts(runs: list[TypeRun], limit: int, offset: int) -> list[tuple[TypeRun, int, int]]:
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


class TypeCounts:
    """The latest counts of each of the last ``COUNTS_KEPT`` time windows."""

    def __init__(self) -> None:
        self._kept: OrderedDict[Filters, Counted] = OrderedDict()

    def get(self, filters: Filters) -> Optional[Counted]:
        return self._kept.get(filters)

    def remember(self, filters: Filters, counted: Counted) -> None:
        self._kept[filters] = counted
        self._kept.move_to_end(filters)
        while len(self._kept) > COUNTS_KEPT:
            self._kept.popitem(last=False)

    def clear(self) -> None:
        self._kept.clear()
