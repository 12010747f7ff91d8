"""Run coroutines on a private event loop in a daemon thread, from plain (blocking) code.

Why a private loop rather than patching the caller's loop (``nest-asyncio2``): nothing global
is patched, the same code path serves notebook cells, widget callbacks, scripts and tests,
and an interrupted call is cancelled for real. Its task is cancelled on the private loop and
the caller waits until the cancellation has settled (the SQLite engine skips a queued write,
interrupts and rolls back a running one), so nothing is written after ``KeyboardInterrupt``.

Everything a store creates (connections, futures, tasks) lives on the private loop, so
awaiting it from another loop goes through :meth:`LoopRunner.arun`, which hops there too.

A store can be opened in an ``atexit`` handler: the loop's default executor (what
``asyncio.to_thread`` uses) falls back to a thread per call once Python's thread pools take no
more work. Some Python 3.12 releases (3.12.1 among them) forbid new threads at that point
altogether; there the call raises a ``RuntimeError`` saying so.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Final, Optional, TypeVar

from mcard.domain.models.exceptions import ConfigurationError, ValidationError

try:
    from concurrent.futures import ThreadPoolExecutor
except RuntimeError as exc:  # its first import registers an atexit hook, refused during shutdown
    raise RuntimeError(
        "mcard.notebook was first imported while the interpreter was exiting; import it earlier"
    ) from exc

T = TypeVar("T")

logger = logging.getLogger(__name__)

CANCEL_WAIT: Final = 60.0
"""Seconds an interrupted call waits at most for its cancellation to settle."""

_POLL: Final = 0.25
ARGUMENT_ERRORS: Final = (ValidationError, ConfigurationError)
"""Errors of what the caller asked (a bad argument, a query that does not parse, a card not
stored): raised at the call without the loop thread's frames, which made a one-line message
a traceback of 10-15 frames through the engine and ``concurrent.futures``."""


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


class _ExitSafeExecutor(ThreadPoolExecutor):
    """A thread pool that, once the interpreter is exiting (``atexit`` handlers run after every
    ``ThreadPoolExecutor`` has stopped taking work), runs each call in a daemon thread of its own."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        try:
            return super().submit(fn, *args, **kwargs)
        except RuntimeError:  # "cannot schedule new futures after interpreter shutdown"
            pass
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def work() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)

        _start_thread(work, "mcard-notebook-exit-worker")
        return future


def _start_thread(target: Callable[[], object], name: str) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    try:
        thread.start()
    except RuntimeError as exc:  # e.g. Python 3.12.1 at exit: "can't create new thread at interpreter shutdown"
        raise RuntimeError(f"mcard could not start its {name} thread: {exc}") from exc
    return thread


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
                loop.set_default_executor(_ExitSafeExecutor(thread_name_prefix="mcard-notebook-worker"))
                try:
                    thread = _start_thread(loop.run_forever, "mcard-notebook-loop")
                except RuntimeError:
                    loop.close()
                    raise
                self._loop, self._thread = loop, thread
            return self._loop

    def _submit(self, coro: Coroutine[Any, Any, T]) -> _Call:
        try:
            loop = self.loop()
        except BaseException:
            coro.close()
            raise
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError(
                "a blocking mcard call was made on mcard's own event loop; await the a-method instead"
            )
        return _Call(loop, coro)

    def start_soon(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Start ``coro`` on the private loop, from any thread (its own included), without
        waiting for it; a failure is logged."""
        if self._loop is None or self._loop.is_closed():
            coro.close()
            return
        call = _Call(self._loop, coro)
        call.outcome.add_done_callback(
            lambda outcome: outcome.cancelled() or outcome.exception() is None
            or logger.warning("mcard: %s", outcome.exception())
        )

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
        try:
            return call.outcome.result()
        except ARGUMENT_ERRORS as exc:
            raise at_the_call(exc)

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the private loop from any other event loop.

        Cancelling the caller cancels the task there and waits until it has finished.
        """
        call = self._submit(coro)
        waiter = asyncio.wrap_future(call.outcome)
        try:
            return await asyncio.shield(waiter)
        except ARGUMENT_ERRORS as exc:
            raise at_the_call(exc)
        except asyncio.CancelledError:
            call.cancel()
            await asyncio.wait([waiter], timeout=CANCEL_WAIT)
            raise


def at_the_call(error: BaseException) -> BaseException:
    """``error`` without the frames it was raised through; they are logged at DEBUG level (the
    ``mcard`` logger), for a developer looking into where it came from."""
    logger.debug("mcard call failed: %s", error, exc_info=error)
    return error.with_traceback(None)


_runner: Optional[LoopRunner] = None
_runner_lock = threading.Lock()


def runner() -> LoopRunner:
    """The process-wide runner (its thread starts with the first call, not at import)."""
    global _runner
    with _runner_lock:
        if _runner is None:
            _runner = LoopRunner()
        return _runner
