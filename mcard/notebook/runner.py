"""Run coroutines on a private event loop in a daemon thread, from plain (blocking) code.

Why a private loop rather than patching the caller's loop (``nest-asyncio2``): nothing global
is patched, the same code path serves notebook cells, widget callbacks, scripts and tests,
and an interrupted call is cancelled for real. Its task is cancelled on the private loop and
the caller waits until the cancellation has settled (the SQLite engine skips a queued write,
interrupts and rolls back a running one), so nothing is written after ``KeyboardInterrupt``.

Everything a store creates (connections, futures, tasks) lives on the private loop, so
awaiting it from another loop goes through :meth:`LoopRunner.arun`, which hops there too.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine
from typing import Any, Final, Optional, TypeVar

T = TypeVar("T")

logger = logging.getLogger(__name__)

CANCEL_WAIT: Final = 60.0
"""Seconds an interrupted call waits at most for its cancellation to settle."""

_POLL: Final = 0.25


class _Call:
    """One coroutine running as a task on the private loop, and its outcome for other threads."""

    def __init__(self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> None:
        self.loop = loop
        self.outcome: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.finished = threading.Event()
        self._task: Optional[asyncio.Task[Any]] = None
        self._coro = coro
        loop.call_soon_threadsafe(self._start)

    def _start(self) -> None:
        self._task = self.loop.create_task(self._coro)
        self._task.add_done_callback(self._settle)

    def _settle(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            self.outcome.cancel()
        elif task.exception() is not None:
            self.outcome.set_exception(task.exception())
        else:
            self.outcome.set_result(task.result())
        self.finished.set()

    def cancel(self) -> None:
        """Ask the task to stop (thread-safe); ``finished`` is set once it really has."""
        self.loop.call_soon_threadsafe(lambda: self._task is not None and self._task.cancel())


class LoopRunner:
    """A private event loop in a daemon thread, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def started(self) -> bool:
        return self._loop is not None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="mcard-notebook-loop", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def _submit(self, coro: Coroutine[Any, Any, T]) -> _Call:
        loop = self.loop()
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError(
                "a blocking mcard call was made on mcard's own event loop; await the a-method instead"
            )
        return _Call(loop, coro)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the private loop and return its result, blocking this thread.

        On ``KeyboardInterrupt`` the task is cancelled and the call returns (re-raising) only
        once the task has finished, so the interrupted operation does nothing afterwards.
        """
        call = self._submit(coro)
        try:
            while not call.finished.wait(_POLL):
                pass
        except KeyboardInterrupt:
            call.cancel()
            if not call.finished.wait(CANCEL_WAIT):
                logger.warning("an interrupted mcard call was still running after %s s", CANCEL_WAIT)
            raise
        return call.outcome.result()

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the private loop from any other event loop.

        Cancelling the caller cancels the task there and waits until it has finished.
        """
        call = self._submit(coro)
        waiter = asyncio.wrap_future(call.outcome)
        try:
            return await asyncio.shield(waiter)
        except asyncio.CancelledError:
            call.cancel()
            await asyncio.wait([waiter], timeout=CANCEL_WAIT)
            raise


_runner: Optional[LoopRunner] = None
_runner_lock = threading.Lock()


def runner() -> LoopRunner:
    """The process-wide runner (its thread starts with the first call, not at import)."""
    global _runner
    with _runner_lock:
        if _runner is None:
            _runner = LoopRunner()
        return _runner
