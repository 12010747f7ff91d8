"""Cards written by another task while a test reads: for reads that must see one state."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from mcard import AsyncPersistenceWrapper, MCard


@contextlib.asynccontextmanager
async def written_meanwhile(store: AsyncPersistenceWrapper) -> AsyncIterator[None]:
    """While the block runs, another task saves five text cards holding "fox" at a time."""
    done = asyncio.Event()

    async def writer() -> None:
        made = 0
        while not done.is_set():
            await store.save_many([MCard(f"fox written meanwhile {made} {n}") for n in range(5)])
            made += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(writer())
    try:
        yield
    finally:
        done.set()
        await task
