"""``AsyncPersistenceWrapper``: the one object applications use to work with a card store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Optional

from mcard.domain.models.card import MCard
from mcard.domain.models.exceptions import StorageError, ValidationError

from .engine.base_engine import DEFAULT_PAGE_SIZE, BaseStore, StoreStats
from .engine.integrity import VerifyReport
from .engine_config import EngineConfig


class AsyncPersistenceWrapper:
    """Creates cards and delegates every operation to the engine that ``config`` builds.

    Use ``await wrapper.initialize()`` ... ``await wrapper.close()``, or ``async with``.
    """

    def __init__(self, config: EngineConfig) -> None:
        if not isinstance(config, EngineConfig):
            raise ValidationError(f"expected an EngineConfig, got {type(config).__name__}")
        self.config = config
        self.store: BaseStore = config.create_store()

    async def initialize(self) -> None:
        """Open the store (create the database and schema if needed); idempotent."""
        await self.store.initialize()

    async def close(self) -> None:
        """Finish queued writes and close every connection; idempotent."""
        await self.store.close()

    async def __aenter__(self) -> AsyncPersistenceWrapper:
        await self.initialize()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def create(self, content: str | bytes) -> MCard:
        """Store ``content`` as a card and return the stored card.

        When the content is already stored, that card (with its original ``g_time``) is returned.
        """
        return (await self.add(content))[0]

    async def add(self, content: str | bytes) -> tuple[MCard, bool]:
        """Like ``create``, and whether the card is new (False: it was already stored)."""
        card = MCard(content, hash_algorithm=self.config.hash_algorithm)
        if await self.store.save(card):
            return card, True
        stored = await self.store.get(card.hash)
        if stored is None:  # neither inserted nor there: the database dropped it
            raise StorageError(f"{card.hash} was not stored and is not in the store")
        return stored, False

    async def save(self, card: MCard) -> bool:
        """Store ``card``; False when its content was already stored (the first card stays)."""
        return await self.store.save(card)

    async def save_many(self, cards: Iterable[MCard]) -> int:
        """Store all cards in one transaction, all or none; return how many were new."""
        return await self.store.save_many(cards)

    async def get(self, hash_str: str) -> Optional[MCard]:
        return await self.store.get(hash_str)

    async def get_many(self, hashes: Iterable[str]) -> dict[str, MCard]:
        return await self.store.get_many(hashes)

    async def resolve(self, prefix: str) -> Optional[str]:
        """The stored hash a prefix of at least 8 hex digits names (None if no card); more
        than one card starting with it is an ``AmbiguousHashError`` listing them."""
        return await self.store.resolve(prefix)

    async def list(
        self,
        limit: Optional[int] = None,
        offset: int = 0,
        start_time: Optional[datetime] = None,
        end_time: Optional[datetime] = None,
    ) -> list[MCard]:
        """Cards newest first; time bounds are inclusive and must be timezone-aware."""
        return await self.store.list(limit, offset, start_time, end_time)

    async def count(
        self, start_time: Optional[datetime] = None, end_time: Optional[datetime] = None
    ) -> int:
        return await self.store.count(start_time, end_time)

    def iterate(
        self,
        page_size: int = DEFAULT_PAGE_SIZE,
        start_time: Optional[datetime] = None,
        end_time: Optional[datetime] = None,
    ) -> AsyncIterator[MCard]:
        """Every card newest first, streamed page by page: ``async for card in wrapper.iterate()``."""
        return self.store.iterate(page_size, start_time, end_time)

    async def verify(self, page_size: int = DEFAULT_PAGE_SIZE, progress: bool = True) -> VerifyReport:
        """Re-hash every stored card; the report lists each one whose content no longer matches."""
        return await self.store.verify(page_size, progress)

    async def search(self, query: str, limit: Optional[int] = None, offset: int = 0) -> list[MCard]:
        """Text cards containing ``query`` literally (case-sensitive), newest first."""
        return await self.store.search(query, limit, offset)

    async def stats(self) -> StoreStats:
        """Card count, total bytes, first/last ``g_time``, and (count, bytes) per content type."""
        return await self.store.stats()

    async def remove(self, hash_str: str) -> bool:
        """Delete a card; return whether it was there."""
        return await self.store.remove(hash_str)

    async def remove_many(self, hashes: Iterable[str]) -> int:
        return await self.store.remove_many(hashes)
