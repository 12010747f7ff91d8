"""Arguments of the notebook layer: iterables taken whole on the caller's thread, page sizes.

A plain call runs on the facade's private loop: an iterable it consumed there would run there
too, and a generator of the facade's own calls (``c.hash for c in cards.iterate()``) cannot
run on the loop it waits for. So iterables become lists before the call is handed over.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from mcard.domain.models.card import MCard
from mcard.domain.models.exceptions import brief, ValidationError
from mcard.domain.numbers import whole_number
from mcard.frame_records import is_frame


def listed(values: object, call: str) -> list[Any]:
    """``values`` as a list; ``ValidationError`` for a ``str``, ``bytes`` or a non-iterable."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValidationError(f"{call} takes a list or another iterable, not {type(values).__name__}")
    return values if isinstance(values, list) else list(values)


def card_list(cards: object, call: str) -> list[MCard]:
    """``cards`` as a list of cards (a list subclass such as a search's result kept as it is)."""
    if isinstance(cards, (str, bytes, MCard)) or not isinstance(cards, Iterable):
        raise ValidationError(f"{call} takes cards (a list or another iterable), not {type(cards).__name__}")
    if is_frame(cards):  # iterated, it gives its column names
        raise ValidationError(f"{call} takes cards, not a DataFrame (import_records(df) stores the cards of one)")
    taken = cards if isinstance(cards, list) else list(cards)
    wrong = next((number for number, card in enumerate(taken) if not isinstance(card, MCard)), None)
    if wrong is not None:  # an item that is None is named too
        raise ValidationError(f"{call} takes cards, got {type(taken[wrong]).__name__} at position {wrong}")
    return taken


MAX_PAGE_SIZE: Final = 200


def checked_page_size(value: object) -> int:
    """A page size of the explorer or a form: a whole number from 1 to ``MAX_PAGE_SIZE``."""
    size = whole_number(value)
    if size is None or not 1 <= size <= MAX_PAGE_SIZE:
        raise ValidationError(f"page_size must be a whole number from 1 to {MAX_PAGE_SIZE}, got {brief(value)}")
    return size
