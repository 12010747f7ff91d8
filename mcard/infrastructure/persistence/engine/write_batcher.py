"""Group commit: writes that arrive while one is running are committed together.

Each caller still gets its own result or error. Engine-agnostic: the engine supplies a function
that executes one batch (one transaction, one savepoint per request) and fills in each request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Optional


@dataclass(eq=False)
class WriteRequest:
    """One caller's write. The database thread reads ``cancelled`` before executing it and
    sets ``skipped`` when it did not; it sets ``result`` or ``error`` when it did."""

    operation: str
    payload: Any
    done: asyncio.Future[int]
    result: int = 0
    error: Optional[BaseException] = None
    cancelled: bool = False
    skipped: bool = False


class WriteBatcher:
    """Serializes writes through one connection and batches the ones that queue up meanwhile."""

    def __init__(
        self,
        execute_batch: Callable[[list[WriteRequest]], Awaitable[None]],
    ) -> None:
        self._execute_batch = execute_batch
        self._pending: list[WriteRequest] = []
        self._in_flight: list[WriteRequest] = []
        self._drain_task: Optional[asyncio.Task[None]] = None

    async def submit(self, operation: str, payload: Any) -> int:
        """Queue a write, wait for its transaction to commit, return its count of changed rows.

        Cancelled before the database started it, the write never happens; cancelled while it
        runs alone in its transaction, the engine aborts and rolls it back; either way the
        cancellation returns only once the outcome is settled, so nothing is written later.
        """
        loop = asyncio.get_running_loop()
        request = WriteRequest(operation, payload, loop.create_future())
        self._pending.append(request)
        if self._drain_task is None or self._drain_task.done():
            self._drain_task = loop.create_task(self._drain())
        try:
            return await asyncio.shield(request.done)
        except asyncio.CancelledError:
            request.cancelled = True
            if request in self._pending:
                self._pending.remove(request)
                request.done.cancel()
            elif request in self._in_flight:
                await asyncio.wait([request.done])
                if not request.done.cancelled():
                    request.done.exception()
            raise

    async def wait_idle(self) -> None:
        """Wait until every queued write has been committed or has failed."""
        while self._drain_task is not None and not self._drain_task.done():
            await asyncio.wait([self._drain_task])

    async def _drain(self) -> None:
        while self._pending:
            batch = [request for request in self._pending if not request.cancelled]
            self._pending = []
            if not batch:
                continue
            self._in_flight = batch
            try:
                await self._execute_batch(batch)
            except Exception as exc:  # nothing of the batch was committed: every caller learns why
                for request in batch:
                    request.error = exc
            except BaseException:
                for request in batch:
                    request.skipped = True
                raise
            finally:
                self._in_flight = []
                for request in batch:
                    if request.done.done():
                        continue
                    if request.skipped:
                        request.done.cancel()
                    elif request.error is not None:
                        request.done.set_exception(request.error)
                    else:
                        request.done.set_result(request.result)
