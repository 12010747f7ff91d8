"""The operations measured through mcard's public API (``AsyncPersistenceWrapper``)."""

from __future__ import annotations

import asyncio
import importlib
import time
from types import ModuleType
from typing import Any, Optional

from mcard import AsyncPersistenceWrapper, EngineConfig, MCard


def find_frames() -> Optional[ModuleType]:
    """``mcard.notebook.frames`` when this installation can make DataFrames, else None."""
    try:
        return importlib.import_module("mcard.notebook.frames")
    except ImportError:
        return None


class McardSide:
    """One mcard store; each method does a whole measured operation and returns its count."""

    name = "mcard"

    def __init__(self, config: EngineConfig) -> None:
        self.cards = AsyncPersistenceWrapper(config)
        self.page_times: list[float] = []

    async def open(self) -> None:
        await self.cards.initialize()

    async def close(self) -> None:
        await self.cards.close()

    async def create_seq(self, texts: list[str]) -> list[str]:
        return [(await self.cards.create(text)).hash for text in texts]

    async def create_concurrent(self, texts: list[str]) -> list[str]:
        created = await asyncio.gather(*(self.cards.create(text) for text in texts))
        return [card.hash for card in created]

    async def save_many(self, contents: list[Any]) -> list[str]:
        cards = [MCard(content) for content in contents]
        await self.cards.save_many(cards)
        return [card.hash for card in cards]

    async def get_seq(self, hashes: list[str]) -> int:
        found = 0
        for key in hashes:
            found += (await self.cards.get(key)) is not None
        return found

    async def get_many(self, hashes: list[str]) -> int:
        return len(await self.cards.get_many(hashes))

    async def list_pages(self, page_size: int) -> int:
        """Every card through ``list(limit, offset)``, page after page; records each page's time."""
        self.page_times, seen, offset = [], 0, 0
        while True:
            started = time.perf_counter()
            page = await self.cards.list(limit=page_size, offset=offset)
            if page:
                self.page_times.append(time.perf_counter() - started)
            seen += len(page)
            offset += page_size
            if len(page) < page_size:
                return seen

    async def iterate(self, page_size: int) -> int:
        seen = 0
        async for _ in self.cards.iterate(page_size=page_size):
            seen += 1
        return seen

    async def to_dataframe(self) -> int:
        """Every card as the DataFrame ``list_df(labels=False)`` gives (heads read, no cards built)."""
        frames = find_frames()
        assert frames is not None
        return len(frames.heads_frame(await self.cards.store.list_heads(head=frames.preview_head_bytes())))

    async def wait_indexed(self) -> int:
        """Wait for an engine that builds its search index in the background (0 if it has none)."""
        wait = getattr(self.cards.store, "wait_indexed", None)
        if wait is None:
            return 0
        await wait()
        return 1

    async def search(self, word: str) -> int:
        return len(await self.cards.search(word))

    async def remove_seq(self, hashes: list[str]) -> int:
        removed = 0
        for key in hashes:
            removed += await self.cards.remove(key)
        return removed

    async def remove_many(self, hashes: list[str]) -> int:
        return await self.cards.remove_many(hashes)
