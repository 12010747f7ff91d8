"""Cards read by hash from a store that may hold rows no card can be built from (a text
another tool stored that is not UTF-8, a row stored under no hash): those rows are told apart,
the other cards read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from mcard.domain.models.card import MCard
from mcard.domain.models.exceptions import UnreadableCardError, ValidationError
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper
from mcard.infrastructure.persistence.engine.base_engine import check_hash

NO_HASH: Final = "is stored under no hash (not lowercase hex): no card can be read by it; mcard verify --remove deletes it"


def _named(hash_str: str) -> bool:
    """Whether a stored hash names its row as ``get`` reads it (another tool may have stored
    ``../x``, or upper case, which ``get`` refuses or reads as lower case)."""
    try:
        return check_hash(hash_str) == hash_str
    except ValidationError:
        return False


async def readable_cards(store: AsyncPersistenceWrapper, hashes: Sequence[str]) -> tuple[dict[str, MCard], dict[str, str]]:
    """The stored cards among ``hashes`` that can be read, and why each unreadable one cannot:
    in one call, or one call a card when a row among them cannot be read."""
    unreadable = {hash_str: NO_HASH for hash_str in hashes if not _named(hash_str)}
    named = [hash_str for hash_str in hashes if hash_str not in unreadable]
    try:
        return await store.get_many(named), unreadable
    except UnreadableCardError:
        pass
    found: dict[str, MCard] = {}
    for hash_str in named:
        try:
            card = await store.get(hash_str)
        except UnreadableCardError as error:
            unreadable[hash_str] = f"cannot be read: {error}"
            continue
        if card is not None:
            found[hash_str] = card
    return found, unreadable
