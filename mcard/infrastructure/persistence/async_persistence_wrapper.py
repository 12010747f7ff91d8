"""``AsyncPersistenceWrapper``: the one object applications use to work with a card store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any, Optional

from mcard.domain.models.card import MCard
from mcard.domain.models.exceptions import HeldByDamagedError, StorageError, ValidationError
from mcard.domain.models.sighting import Sighting

from .engine.base_engine import DEFAULT_PAGE_SIZE, BaseStore, Found, Recorded, Saved, StoreStats
from .engine.hash_ranges import RangeDigest
from .engine.integrity import DamagedCard, VerifyReport
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

    def __repr__(self) -> str:
        return f"AsyncPersistenceWrapper({self.config!r})"

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

    async def create(
        self, content: str | bytes, *, name: Optional[str] = None, source: Optional[str] = None
    ) -> MCard:
        """Store ``content`` as a card and return the stored card.

        When the content is already stored, that card (with its original ``g_time``) is returned.
        With a ``name`` (a file name) or a ``source``, a sighting of the content is recorded too.
        """
        return (await self.add(content, name=name, source=source))[0]

    async def add(
        self, content: str | bytes, *, name: Optional[str] = None, source: Optional[str] = None
    ) -> tuple[MCard, bool]:
        """Like ``create``, and whether the card is new (False: it was already stored)."""
        card = MCard(content, hash_algorithm=self.config.hash_algorithm)
        seen = (
            [Sighting.of(card.hash, name=name, source=source, size=card.size)]
            if name is not None or source is not None else []
        )
        if await self.store.save(card, sightings=seen):
            return card, True
        stored = await self.store.get(card.hash)  # the store checked that it holds this content
        if stored is None:  # neither inserted nor there: the database dropped it
            raise StorageError(f"{card.hash} was not stored and is not in the store")
        return stored, False

    async def save(self, card: MCard, *, sightings: Iterable[Sighting] = ()) -> bool:
        """Store ``card``; False when its content was already stored (the first card stays).
        ``sightings`` of it are recorded in the same transaction."""
        return await self.store.save(card, sightings=sightings)

    async def save_many(self, cards: Iterable[MCard], *, sightings: Iterable[Sighting] = ()) -> int:
        """Store all cards in one transaction, all or none; return how many were new.
        ``sightings`` of these cards are recorded in the same transaction."""
        return await self.store.save_many(cards, sightings=sightings)

    async def save_seen(self, cards: Iterable[MCard], sightings: Iterable[Sighting]) -> Saved:
        """``save_many`` with ``sightings``: how many cards and sightings were new (``Saved``),
        exact while other writers record the same ones."""
        return await self.store.save_seen(cards, sightings)

    async def add_sightings(self, sightings: Iterable[Sighting]) -> Recorded:
        """Record sightings of stored cards without their content, all or none: how many were
        new and how many moved back to an earlier ``seen_at`` (``Recorded``), exact while other
        writers record the same ones. ``NotStoredError`` (nothing written) if a card is not stored."""
        return await self.store.add_sightings(sightings)

    async def sightings(self, hash_str: str) -> list[Sighting]:
        """Every time the card's content was seen with a name or source, oldest first."""
        return await self.store.sightings(hash_str)

    async def sightings_of(self, hashes: Iterable[str]) -> dict[str, list[Sighting]]:
        return await self.store.sightings_of(hashes)

    async def names_of(self, hashes: Iterable[str]) -> dict[str, str]:
        """The latest name each card was seen under, for those seen with one."""
        return await self.store.names_of(hashes)

    async def tags(self, hash_str: str) -> list[str]:
        """The card's tags, sorted."""
        return await self.store.tags(hash_str)

    async def tags_of(self, hashes: Iterable[str]) -> dict[str, list[str]]:
        return await self.store.tags_of(hashes)

    async def tag(self, hash_str: str, *tags: str) -> int:
        """Attach tags to a stored card; how many are new. A tag is a non-empty string without
        control characters, at most 200 characters (surrounding spaces are dropped)."""
        return await self.store.tag(hash_str, *tags)

    async def untag(self, hash_str: str, *tags: str) -> int:
        """Detach tags from a card; how many it had."""
        return await self.store.untag(hash_str, *tags)

    async def tag_many(self, pairs: Iterable[tuple[str, str]]) -> int:
        """Attach each (hash, tag) in one transaction, all or nothing; how many are new."""
        return await self.store.tag_many(pairs)

    async def untag_many(self, pairs: Iterable[tuple[str, str]]) -> int:
        return await self.store.untag_many(pairs)

    async def get(self, hash_str: str) -> Optional[MCard]:
        return await self.store.get(hash_str)

    async def get_many(self, hashes: Iterable[str]) -> dict[str, MCard]:
        return await self.store.get_many(hashes)

    async def resolve(self, prefix: str) -> Optional[str]:
        """The stored hash a prefix of at least 8 hex digits names (None if no card); more
        than one card starting with it is an ``AmbiguousHashError`` listing them."""
        return await self.store.resolve(prefix)

    async def hashes_in_ranges(self, prefixes: Iterable[str]) -> list[str]:
        """Stored hashes starting with one of ``prefixes`` (hex, ``""`` for all), in order."""
        return await self.store.hashes_in_ranges(prefixes)

    async def range_digests(self, prefixes: Iterable[str], depth: int) -> dict[str, RangeDigest]:
        """Per range of hashes sharing ``depth`` leading hex digits within ``prefixes``: card
        count and digest of hashes, sightings and tags (how ``mcard.sync`` compares stores)."""
        return await self.store.range_digests(prefixes, depth)

    async def list(
        self,
        limit: Optional[int] = None,
        offset: int = 0,
        start_time: Optional[datetime] = None,
        end_time: Optional[datetime] = None,
        *,
        order: str = "newest",
        **filters: Any,
    ) -> list[MCard]:
        """Cards newest first, or in ``order``: ``"oldest"``, ``"largest"``, ``"smallest"``,
        ``"type"``, ``"name"`` (the latest name; cards without one last). Filters (every
        listing takes them): ``start_time``/``end_time`` (inclusive, timezone-aware),
        ``content_type`` (``"image/png"`` or ``"image/*"``), ``min_size``/``max_size`` (bytes,
        inclusive), ``tag`` (one or several: all of them), ``name`` (a glob, such as
        ``"*.png"``, over the names the card was seen under)."""
        return await self.store.list(limit, offset, start_time, end_time, order=order, **filters)

    async def count(
        self, start_time: Optional[datetime] = None, end_time: Optional[datetime] = None, **filters: Any
    ) -> int:
        """How many cards pass the filters (as ``list``)."""
        return await self.store.count(start_time, end_time, **filters)

    def iterate(
        self,
        page_size: int = DEFAULT_PAGE_SIZE,
        start_time: Optional[datetime] = None,
        end_time: Optional[datetime] = None,
        **filters: Any,
    ) -> AsyncIterator[MCard]:
        """Every card newest first (filtered as ``list``), streamed page by page:
        ``async for card in wrapper.iterate()``."""
        return self.store.iterate(page_size, start_time, end_time, **filters)

    async def verify(self, page_size: int = DEFAULT_PAGE_SIZE, progress: Optional[bool] = None) -> VerifyReport:
        """Re-hash every stored card; the report lists each one whose content no longer matches."""
        return await self.store.verify(page_size, progress)

    async def search(
        self,
        query: str,
        limit: Optional[int] = None,
        offset: int = 0,
        *,
        mode: str = "substring",
        case_sensitive: bool = True,
        **filters: Any,
    ) -> list[MCard]:
        """Cards whose text matches ``query`` (filtered as ``list``): ``mode="substring"``
        (literal; ``case_sensitive=False`` compares after ``str.casefold()``), ``"words"``
        (terms, ``"phrases"``, ``prefix*``, ``OR``, ``-excluded``; best first) or ``"regex"``
        (Python's ``re``). Text cards and bytes cards that are UTF-8; newest first but words."""
        return await self.store.search(query, limit, offset, mode=mode, case_sensitive=case_sensitive, **filters)

    async def find(
        self, query: str, limit: Optional[int] = None, offset: int = 0, *, order: Optional[str] = None
    ) -> Found:
        """Cards a query in mcard's query syntax names (``type:image/* tag:holiday
        name:*.png after:2026-01-01 before:2026-02-01 size:>1MB -tag:draft "exact phrase" words
        -excluded``); ``.total`` counts every match, whatever ``limit`` and ``offset``. Best
        first when it has words, else newest first; ``order`` as ``list`` takes it."""
        return await self.store.find(query, limit, offset, order=order)

    async def facets(
        self, query: str = "", by: Iterable[str] = ("content_type", "tag", "month", "size")
    ) -> dict[str, list[tuple[Any, int]]]:
        """Per field of ``by``, (value, count) over the cards ``query`` names: most frequent
        first; time (``year``, ``month``, ``day``, ``hour``, ``time``) and size buckets in order."""
        return await self.store.facets(query, by)

    async def stats(self) -> StoreStats:
        """Card count, total bytes, first/last ``g_time``, and (count, bytes) per content type."""
        return await self.store.stats()

    async def wait_indexed(self) -> None:
        """Wait until the search indexes cover every stored card: searches are exact either
        way, and as fast as they get once it returns (after a bulk load, seconds to minutes)."""
        await self.store.wait_indexed()

    async def remove(self, hash_str: str) -> bool:
        """Delete a card; return whether it was there."""
        return await self.store.remove(hash_str)

    async def remove_many(self, hashes: Iterable[str]) -> int:
        return await self.store.remove_many(hashes)

    async def remove_damaged(self, damaged: Iterable[DamagedCard]) -> int:
        """Delete the damaged cards ``verify()`` named, by their hashes as stored, but those whose
        content is whole (``repair_damaged`` mends them)."""
        return await self.store.remove_damaged(damaged)

    async def repair_damaged(self, damaged: Iterable[DamagedCard]) -> int:
        """Mend the damaged cards ``verify()`` named whose content is whole, and the tags only
        written otherwise (decomposed, spaces around); how many."""
        return await self.store.repair_damaged(damaged)


def check_wrapper(store: object, action: str) -> None:
    """A ``ValidationError`` unless ``store`` is an ``AsyncPersistenceWrapper``, naming the method
    doing ``action`` on a store that has one (a notebook's ``cards.export(...)``)."""
    if isinstance(store, AsyncPersistenceWrapper):
        return
    hint = f"; {type(store).__name__} has its own: .{action}(...)" if callable(getattr(store, action, None)) else ""
    raise ValidationError(f"{action} takes an AsyncPersistenceWrapper, got {type(store).__name__}{hint}")


async def save_all_but_held(
    store: AsyncPersistenceWrapper, cards: Sequence[MCard], sightings: Sequence[Sighting]
) -> tuple[Saved, set[str]]:
    """``save_seen`` of ``cards`` with their ``sightings``, but those whose hash a damaged row
    holds (``HeldByDamagedError``): the batch is saved again without each such card. How many
    cards and sightings were new, and the hashes left out."""
    held: set[str] = set()
    while True:
        try:
            kept = [card for card in cards if card.hash not in held]
            return await store.save_seen(kept, [s for s in sightings if s.hash not in held]), held
        except HeldByDamagedError as exc:
            if exc.hash in held:
                raise
            held.add(exc.hash)
