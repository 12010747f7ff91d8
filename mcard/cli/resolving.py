"""Cards named on the command line: a full hash, or a unique prefix of at least 8 hex digits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from mcard.domain.models.card import MCard
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper

HASH_HELP: Final = "a card's hash, or a unique prefix of at least 8 hex digits"


def listed_hashes(lines: str) -> list[str]:
    """The hashes or prefixes standard input lists, one a line (``tag -``, ``rm -``): blank
    lines and spaces around them left out, each once, in order."""
    return list(dict.fromkeys(line.strip().lower() for line in lines.splitlines() if line.strip()))


class NotFound(Exception):
    """What was asked for is not in the store (exit status 1)."""


def no_card(missing: Sequence[str], why: str = "") -> NotFound:
    """``NotFound`` of the cards typed as ``missing``: the first named, and how many more."""
    return NotFound(f"no card with hash {missing[0]}" + (f" (nor {len(missing) - 1} more)" if len(missing) > 1 else "") + why)


async def card_named(store: AsyncPersistenceWrapper, typed: str) -> MCard:
    """The card a typed hash or unique prefix names; ``NotFound`` if none (an ambiguous
    prefix is an ``AmbiguousHashError`` listing the candidates)."""
    full = await store.resolve(typed)
    card = await store.get(full) if full else None
    if card is None:
        raise no_card([typed])
    return card
