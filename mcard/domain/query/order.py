"""The orders a listing can be read in, and the same orders applied in Python.

Every order ends on newest first (``g_time``, then ``hash``, both descending), so pages are
stable whatever the first key leaves equal. ``name`` is a card's latest name (``name_desc``:
the same, from the end of the alphabet); cards seen under no name come last either way. Text
compares by code point on every engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, Optional

from ..models.card import MCard, time_order
from ..models.exceptions import ValidationError, brief

ORDERS: Final = ("newest", "oldest", "largest", "smallest", "type", "name", "name_desc")
DEFAULT_ORDER: Final = "newest"
BY_NAME: Final = ("name", "name_desc")
"""The orders that read each card's latest name."""


def check_order(order: object) -> str:
    if order not in ORDERS:
        raise ValidationError(f"order must be one of {', '.join(ORDERS)}, got {brief(order)}")
    return str(order)


def sort_cards(cards: Iterable[MCard], order: str, names: Optional[Mapping[str, str]] = None) -> list[MCard]:
    """``cards`` in ``order`` (``names``: each card's latest name, for ``name``)."""
    newest = sorted(cards, key=lambda card: (time_order(card), card.hash), reverse=True)
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
    with_names = sorted((card for card in newest if card.hash in named), key=lambda card: named[card.hash],
                        reverse=order == "name_desc")  # a stable sort, reversed or not: ties stay newest first
    return with_names + [card for card in newest if card.hash not in named]
