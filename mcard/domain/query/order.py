"""The orders a listing can be read in, and the same orders applied in Python.

Every order ends on newest first (``g_time``, then ``hash``, both descending), so pages are
stable whatever the first key leaves equal. ``name`` is a card's latest name; cards seen under
no name come last. Text compares by code point on every engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, Optional

from ..models.card import MCard
from ..models.exceptions import ValidationError

ORDERS: Final = ("newest", "oldest", "largest", "smallest", "type", "name")
DEFAULT_ORDER: Final = "newest"


def check_order(order: object) -> str:
    if order not in ORDERS:
        raise ValidationError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    return str(order)


def sort_cards(cards: Iterable[MCard], order: str, names: Optional[Mapping[str, str]] = None) -> list[MCard]:
    """``cards`` in ``order`` (``names``: each card's latest name, for ``name``)."""
    newest = sorted(cards, key=lambda card: (card.g_time, card.hash), reverse=True)
    if order == "newest":
        return newest
    if order == "oldest":
        return newest[::-1]
    if order == "largest":
        return sorted(newest, key=lambda card: card.size, reverse=True)
    if order == "smallest":
        return sorted(newest, key=lambda card: card.size)
    if order == "type":
        return sorted(newest, key=lambda card: card.content_type or "")
    named = names or {}
    return sorted(newest, key=lambda card: (card.hash not in named, named.get(card.hash, "")))
