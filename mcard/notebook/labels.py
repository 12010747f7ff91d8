"""What the notebook facade says about cards beside their content: sightings, names and tags.

A mixin of :class:`mcard.notebook.cards.NotebookCards`: plain calls and their ``a``-prefixed
await twins, as everywhere in the facade.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Optional

from mcard.domain.models.card import MCard, is_digest
from mcard.domain.models.sighting import Sighting
from mcard.infrastructure.persistence.engine.card_rows import Row

from .arguments import card_list, listed

if TYPE_CHECKING:
    import pandas as pd

    from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper

DUPLICATE_PAGE: Final = 1000
"""Cards whose sightings are read in one call while looking for duplicates."""
_HASH, _ALGORITHM, _SIZE = 0, 4, 5
"""Columns of a stored row (``card_rows.Row``)."""


@dataclass(frozen=True)
class Labels:
    """The latest name of each card seen with one, and the tags of each card that has any."""

    names: dict[str, str] = field(default_factory=dict)
    tags: dict[str, list[str]] = field(default_factory=dict)

    def name(self, hash_str: str) -> Optional[str]:
        return self.names.get(hash_str)

    def tags_of(self, hash_str: str) -> list[str]:
        return list(self.tags.get(hash_str, ()))


def stored_hashes(cards: Iterable[MCard]) -> list[str]:
    """The hashes of ``cards`` that a label lookup accepts (a foreign row's hash that is not a
    digest has no labels: it could not have been tagged or seen)."""
    return digests((card.hash, card.hash_algorithm) for card in cards)


def digests(keys: Iterable[tuple[object, str]]) -> list[str]:
    """Of (hash, hash algorithm) pairs, the hashes that are digests of their algorithm."""
    return [hash_str for hash_str, algorithm in keys if isinstance(hash_str, str) and is_digest(hash_str, algorithm)]


class LabelMethods:
    """Sightings, names and tags of cards (see the wrapper's methods of the same names)."""

    _wrapper: AsyncPersistenceWrapper
    _run: Callable[[Any], Any]  # NotebookCards': a coroutine run on the private loop
    _arun: Callable[[Any], Awaitable[Any]]  # and awaited from the caller's loop

    # -- plain calls -------------------------------------------------------------------------
    def sightings(self, hash_str: str) -> list[Sighting]:
        """Every time the card's content was seen with a name or source, oldest first."""
        return self._run(self._wrapper.sightings(hash_str))

    def tags(self, hash_str: str) -> list[str]:
        """The card's tags, sorted."""
        return self._run(self._wrapper.tags(hash_str))

    def tag(self, hash_str: str, *tags: str) -> int:
        """Attach tags to a stored card; how many it did not have yet."""
        return self._run(self._wrapper.tag(hash_str, *tags))

    def untag(self, hash_str: str, *tags: str) -> int:
        """Detach tags from a card; how many it had."""
        return self._run(self._wrapper.untag(hash_str, *tags))

    def tag_many(self, pairs: Iterable[tuple[str, str]]) -> int:
        """Attach each (hash, tag) in one transaction, all or nothing; how many are new."""
        return self._run(self._wrapper.tag_many(listed(pairs, "tag_many")))

    def untag_many(self, pairs: Iterable[tuple[str, str]]) -> int:
        return self._run(self._wrapper.untag_many(listed(pairs, "untag_many")))

    def labels(self, cards: Iterable[MCard]) -> Labels:
        """Each card's latest name (None if it was never seen with one) and tags, in two queries."""
        return self._run(self._labels(card_list(cards, "labels")))

    def duplicates_df(self) -> pd.DataFrame:
        """Content seen under more than one name or path: ``hash``, ``names``, ``paths`` (sorted
        lists), ``size``, ``sightings`` (how many), most sightings first."""
        return self._run(self._duplicates())

    # -- awaitable calls ---------------------------------------------------------------------
    async def asightings(self, hash_str: str) -> list[Sighting]:
        return await self._arun(self._wrapper.sightings(hash_str))

    async def atags(self, hash_str: str) -> list[str]:
        return await self._arun(self._wrapper.tags(hash_str))

    async def atag(self, hash_str: str, *tags: str) -> int:
        return await self._arun(self._wrapper.tag(hash_str, *tags))

    async def auntag(self, hash_str: str, *tags: str) -> int:
        return await self._arun(self._wrapper.untag(hash_str, *tags))

    async def atag_many(self, pairs: Iterable[tuple[str, str]]) -> int:
        return await self._arun(self._wrapper.tag_many(listed(pairs, "tag_many")))

    async def auntag_many(self, pairs: Iterable[tuple[str, str]]) -> int:
        return await self._arun(self._wrapper.untag_many(listed(pairs, "untag_many")))

    async def alabels(self, cards: Iterable[MCard]) -> Labels:
        return await self._arun(self._labels(card_list(cards, "labels")))

    async def aduplicates_df(self) -> pd.DataFrame:
        return await self._arun(self._duplicates())

    # -- on the store's loop -----------------------------------------------------------------
    async def _labels(self, cards: Iterable[MCard]) -> Labels:
        return await self._labels_of(stored_hashes(cards))

    async def _labels_of(self, keys: list[str]) -> Labels:
        if not keys:
            return Labels()
        names, tags = await asyncio.gather(self._wrapper.names_of(keys), self._wrapper.tags_of(keys))
        return Labels(names, tags)

    async def _duplicates(self) -> pd.DataFrame:
        """The rows of the cards seen under a name, without their contents (a page of 2 MB files
        held 2 GB), then the sightings of a page of them at a time."""
        from .frames import duplicates_frame

        rows = await self._wrapper.store.list_heads(head=0, name="*")
        found: list[tuple[Row, list[Sighting]]] = []
        for start in range(0, len(rows), DUPLICATE_PAGE):
            found += await self._repeated(rows[start:start + DUPLICATE_PAGE])
        return duplicates_frame(found)

    async def _repeated(self, rows: list[Row]) -> list[tuple[Row, list[Sighting]]]:
        """The cards of ``rows`` seen under more than one name or path, with their sightings (a
        row another tool wrote with a size that is no number is left out, as ``verify`` names it)."""
        rows = [row for row in rows if row[_SIZE].__class__ is int]
        keys = digests((row[_HASH], row[_ALGORITHM]) for row in rows)
        seen = await self._wrapper.sightings_of(keys) if keys else {}
        repeated = []
        for row in rows:
            sightings = seen.get(row[_HASH], [])
            if len({(s.name, s.path) for s in sightings if s.name is not None or s.path is not None}) > 1:
                repeated.append((row, sightings))
        return repeated
