"""Cards read by hash from a store that may hold rows no card can be built from (a text
another tool stored that is not UTF-8): those rows are told apart, the other cards read."""

from __future__ import annotations

from collections.abc import Sequence

from mcard.domain.models.card import MCard
from mcard.domain.models.exceptions import UnreadableCardError
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper


async def readable_cards(store: AsyncPersistenceWrapper, hashes: Sequence[str]) -> tuple[dict[str, MCard], dict[str, str]]:
    """The stored cards among ``hashes`` that can be read, and why each unreadable one cannot:
    in one call, or one call a card when a row among them cannot be read."""
    try:
        return await store.get_many(hashes), {}
    except UnreadableCardError:
        pass
    found: dict[str, MCard] = {}
    unreadable: dict[str, str] = {}
    for hash_str in hashes:
        try:
            card = await store.get(hash_str)
        except UnreadableCardError as error:
            unreadable[hash_str] = f"cannot be read: {error}"
            continue
        if card is not None:
            found[hash_str] = card
    return found, unreadable
