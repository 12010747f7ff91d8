"""Group commit: writes that arrive while one is running are committed together.

Each caller still gets its own result or error: the engine's batch function fills in each
request, and when a shared transaction fails as a whole its requests are run again one per
transaction, unless the database was busy (then each caller gets that error at once: trying
them one by one would make the last caller wait one timeout per request before it). Engine-agnostic. A write that finds nothing
running or queued skips the queue and runs in its caller's task. The engine may also supply
background work (``idle``) that runs in small steps while no write is waiting, started at once
(``run_idle``) or once writes have paused for ``idle_delay`` seconds (``run_idle_when_quiet``).
With an ``idle_max_delay``, work started that way gives way to writes: a write that arrives
during a step waits for that step only, then the work pauses until writes pause again, or for
``idle_max_delay`` seconds at most, so that a steady stream of writes neither waits behind every
step nor stops the work.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Optional

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class WriteRequest:
    """One caller's write. The database thread reads ``cancelled`` before executing it and
    sets ``skipped`` when it did not; it sets ``result`` or ``error`` when it did."""

    operation: str
    payload: Any
    done: asyncio.Future[int]
    attached: Any = ()
    """What the engine writes with the payload, in the same transaction (a save's sightings)."""
    result: int = 0
    attached_result: int = 0
    """How many of ``attached`` were new (a save's sightings not recorded before)."""
    earlier: int = 0
    """How many recorded sightings the write moved back to an earlier ``seen_at`` (``add_sightings``)."""
    error: Optional[BaseException] = None
    cancelled: bool = False
    skipped: bool = False


def credit_attached(requests: Iterable[WriteRequest], new: set[str]) -> None:
    """Each request's ``attached_result``: how many of its attached items' keys (``.key``) are
    among ``new``, each key credited to the first request naming it."""
    for request in requests:
        mine = new.intersection(item.key for item in request.attached)
        new -= mine
        request.attached_result = len(mine)


class WriteBatcher:
    """Serializes writes through one connection and batches the ones that queue up meanwhile."""

    def __init__(
        self,
        execute_batch: Callable[[list[WriteRequest]], Awaitable[None]],
        idle: Optional[Callable[[], Awaitable[bool]]] = None,
        idle_delay: float = 0.1,
        idle_max_delay: Optional[float] = None,
    ) -> None:
        self._execute_batch = execute_batch
        self._idle = idle
        self._idle_wanted = False
        self._idle_yields = False
        self._idle_delay = idle_delay
        self._idle_max_delay = idle_max_delay
        self._idle_timer: Optional[asyncio.TimerHandle] = None
        self._last_write = 0.0
        self._deferred_since: Optional[float] = None
        self._closed = False
        self._pending: list[WriteRequest] = []
        self._in_flight: list[WriteRequest] = []
        self._drain_task: Optional[asyncio.Task[None]] = None
        self._alone: Optional[asyncio.Future[None]] = None
        self._settled: Optional[asyncio.Future[None]] = None  # the batch in flight is done

    async def submit(self, operation: str, payload: Any, attached: Any = ()) -> int:
        """Queue a write, wait for its transaction to commit, return its count of changed rows.

        Cancelled before the database started it, the write never happens; cancelled while it
        runs alone in its transaction, the engine aborts and rolls it back; either way the
        cancellation returns only once the outcome is settled, so nothing is written later.
        """
        return (await self.submit_request(operation, payload, attached)).result

    async def submit_request(self, operation: str, payload: Any, attached: Any = ()) -> WriteRequest:
        """``submit``, giving back the committed request with its counts."""
        loop = asyncio.get_running_loop()
        request = WriteRequest(operation, payload, loop.create_future(), attached)
        if not self._busy():
            await self._run_alone(request, loop)
            return request
        self._pending.append(request)  # the running drain or lone write picks it up
        try:
            await request.done
            return request
        except asyncio.CancelledError:
            request.cancelled = True
            if request in self._pending:
                self._pending.remove(request)
            else:
                while request in self._in_flight and self._settled is not None:
                    await asyncio.wait([self._settled])
            raise

    @property
    def busy(self) -> bool:
        """Whether a write (or a background step) is running or queued."""
        return self._busy()

    def _busy(self) -> bool:
        return (self._drain_task is not None and not self._drain_task.done()) or (
            self._alone is not None and not self._alone.done()
        )

    async def _run_alone(self, request: WriteRequest, loop: asyncio.AbstractEventLoop) -> None:
        """Nothing is running or queued: execute in the caller's own task, skipping the queue.

        Writes arriving meanwhile queue up and are drained as one batch afterwards. Cancelled,
        the engine's execute aborts the write and returns once it has stopped.
        """
        self._alone = loop.create_future()
        self._in_flight = [request]
        try:
            await self._execute_batch(self._in_flight)
        except Exception as exc:
            request.error = exc
        finally:
            self._in_flight = []
            self._alone.set_result(None)
            if self._pending or self._idle_wanted:
                self._drain_task = loop.create_task(self._drain())
        if request.error is not None:
            raise request.error

    def run_idle(self, yielding: bool = False) -> None:
        """Start the background work: one ``idle()`` step at a time, whenever no write is
        queued, until a step returns False (nothing left) or fails (logged; tried again on
        the next call). ``yielding``: it pauses once a write comes in (see the module
        docstring); else it goes on between writes until it is done (``wait_indexed``)."""
        self._cancel_idle_timer()
        self._deferred_since = None
        if self._idle is None or self._closed:
            return
        self._idle_yields = yielding and (self._idle_yields or not self._idle_wanted)
        self._idle_wanted = True
        if not self._busy():
            self._drain_task = asyncio.get_running_loop().create_task(self._drain())

    def run_idle_when_quiet(self) -> None:
        """Note a write: the background work starts once writes have paused for ``idle_delay``.

        One timer at a time, re-armed when it fires too early, so a stream of writes does not
        create and cancel a timer each.
        """
        if self._idle is None or self._closed:
            return
        self._last_write = time.monotonic()
        if self._deferred_since is None:
            self._deferred_since = self._last_write
        if self._idle_timer is None:
            self._idle_timer = asyncio.get_running_loop().call_later(self._idle_delay, self._when_quiet)

    def noted_elsewhere(self) -> bool:
        """Note a write made on another thread (``SQLiteStore.save_now``); True when no timer
        is armed, so the caller must wake the loop to ``run_idle_when_quiet``. A timer armed
        sees the write's time when it fires: a stream of such writes wakes the loop about once
        per ``idle_delay`` instead of once per write (each wake-up cost the writing thread a
        switch of the GIL to the loop's thread and back)."""
        self._last_write = time.monotonic()
        return self._idle_timer is None

    def _when_quiet(self) -> None:
        now = time.monotonic()
        wait = self._last_write + self._idle_delay - now
        if self._idle_max_delay is not None and self._deferred_since is not None:
            wait = min(wait, self._deferred_since + self._idle_max_delay - now)
        if wait > 0:  # re-armed in place: a writer on another thread never sees no timer here
            self._idle_timer = asyncio.get_running_loop().call_later(wait, self._when_quiet)
        else:
            self._idle_timer = None
            self.run_idle(yielding=self._idle_max_delay is not None)

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    async def close(self) -> None:
        """Start no further background step (the one running, if any, finishes), wait for
        the writes queued so far; nothing is started afterwards."""
        self._closed = True
        self._cancel_idle_timer()
        self._idle_wanted = False
        await self.wait_idle()

    async def wait_idle(self) -> None:
        """Wait until every queued write has been committed or has failed, and the background
        work started by ``run_idle`` is finished or stopped."""
        while self._busy():
            await asyncio.wait([task for task in (self._drain_task, self._alone) if task is not None])

    async def _drain(self) -> None:
        while True:
            await self._drain_pending()
            if not self._idle_wanted or self._idle is None:
                return
            try:
                more = await self._idle()
            except Exception as exc:
                # A busy database is expected (another writer holds the lock): tried again once
                # writes pause; anything else on the next write.
                transient = getattr(exc, "transient", False)
                logger.log(logging.DEBUG if transient else logging.WARNING,
                           "background write step failed, retried later: %s", exc)
                more = False
                if transient:
                    self.run_idle_when_quiet()
            self._idle_wanted = self._idle_wanted and more
            if self._idle_wanted and self._idle_yields and self._pending:
                # Writes came in during the step: they go first (the loop drains them), then
                # the work waits for a pause, unless run_idle asks for it meanwhile (wait_indexed).
                self._idle_wanted = False
                self.run_idle_when_quiet()

    async def _drain_pending(self) -> None:
        while self._pending:
            batch = [request for request in self._pending if not request.cancelled]
            self._pending = []
            if not batch:
                continue
            self._in_flight = batch
            self._settled = asyncio.get_running_loop().create_future()
            try:
                await self._execute_batch(batch)
            except Exception as exc:  # nothing of the batch was committed
                if len(batch) == 1 or getattr(exc, "transient", False):
                    # A busy database fails every request alike: each caller hears it now,
                    # instead of after one more timeout per request queued before it.
                    for request in batch:
                        request.error = exc
                else:
                    await self._one_by_one(batch)
            except BaseException:
                for request in batch:
                    request.skipped = True
                raise
            finally:
                self._in_flight = []
                self._settled.set_result(None)
                for request in batch:
                    if request.done.done():
                        continue
                    if request.skipped:
                        request.done.cancel()
                    elif request.error is not None:
                        request.done.set_exception(request.error)
                    else:
                        request.done.set_result(request.result)

    async def _one_by_one(self, batch: list[WriteRequest]) -> None:
        """After a shared transaction failed, give each request its own, so that one caller's
        bad write does not fail the others and each learns its own outcome."""
        for request in batch:
            request.result, request.attached_result, request.earlier, request.error = 0, 0, 0, None
            if request.cancelled:
                request.skipped = True
                continue
            try:
                await self._execute_batch([request])
            except Exception as exc:
                request.error = exc
