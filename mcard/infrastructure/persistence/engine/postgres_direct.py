"""One pooled PostgreSQL connection kept aside for single reads, used directly.

Through the pool, a ``get`` costs about twice the query itself: acquiring and releasing a
connection, and the task that guards cancellation, add ~45 us to a ~35 us round trip. A store
keeps one connection out of its pool (when it may have more than two) and runs a lone read on
it directly when no other read is using it; otherwise, or before it is there, the read goes
through the pool as before. A read cancelled or failed on it gives the connection back to the
pool (which cleans it up) and the next read takes another; so does a read that finds it closed
by the server meanwhile, and goes through the pool (``PostgresStore._run_direct``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Optional

logger = logging.getLogger(__name__)


class DirectConnection:
    """The connection a store reads through directly while it is free."""

    def __init__(self, pool: Any, timeout: float) -> None:
        self._pool = pool
        self._timeout = timeout
        self._acquiring: Optional[asyncio.Future[Any]] = None
        self._busy = False

    def take(self) -> Optional[Any]:
        """The connection, now busy, or None (in use, or not acquired yet: it is asked for)."""
        if self._busy:
            return None
        if self._acquiring is None:
            self._acquiring = asyncio.ensure_future(self._pool.acquire(timeout=self._timeout))
            return None
        if not self._acquiring.done() or self._acquiring.cancelled() or self._acquiring.exception() is not None:
            if self._acquiring.done():
                self._acquiring = None  # could not be acquired: asked for again next time
            return None
        self._busy = True
        return self._acquiring.result()

    def give_back(self) -> None:
        """The read on it ended normally: it is free again."""
        self._busy = False

    def discard(self) -> None:
        """A read on it was cancelled or failed: back to the pool, which resets or drops it."""
        acquiring, self._acquiring, self._busy = self._acquiring, None, False
        if acquiring is not None:
            asyncio.ensure_future(self._release(acquiring))

    async def close(self) -> None:
        """Give the connection back (the pool's close waits for every connection)."""
        acquiring, self._acquiring = self._acquiring, None
        if acquiring is not None:
            await self._release(acquiring)

    async def _release(self, acquiring: asyncio.Future[Any]) -> None:
        await asyncio.wait([acquiring])
        if acquiring.cancelled() or acquiring.exception() is not None:
            return
        connection = acquiring.result()
        try:
            await self._pool.release(connection, timeout=self._timeout)
        except Exception as exc:  # asyncpg errors, timeouts: the connection is dropped instead
            logger.debug("direct connection dropped: %s", exc)
            connection.terminate()
