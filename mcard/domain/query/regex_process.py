"""Regular expressions run in a child process that can be stopped (``regex_child``).

Python's ``re`` holds the GIL for a whole match, and some patterns take exponential time
(``(a+)+$`` on a long run of ``a``): run in the store's process, one would stall its event loop,
every other thread and Ctrl-C for as long as it runs. In a child, only the child waits: a search
that runs past its time limit, or is cancelled, or interrupted, kills it.

Children are started with ``python -I -S`` (a few milliseconds), in a session of their own (a
Ctrl-C in a terminal reaches only the parent, which decides), and kept for the next search
(``IDLE_CHILDREN``); each serves one caller at a time.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import logging
import math
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any, Final, Optional, Union

from mcard.domain.models.exceptions import StorageError, ValidationError

from . import regex_child

logger = logging.getLogger(__name__)
Content = Union[str, bytes, None]
"""A card's content as stored, or None for none (it matches nothing)."""

CHILD_SCRIPT: Final = Path(regex_child.__file__)
IDLE_CHILDREN: Final = 2
"""Children kept running between searches, for the next ones."""
CHUNK_CHARACTERS: Final = 1 << 22
"""Characters (or bytes) sent to a child in one request: bounds the memory a request holds."""
SNIPPET_SECONDS: Final = 2.0
"""How long marking the matches of one text for a snippet may take; after it, none are marked."""
WAITING_SEARCHES: Final = 32
"""Threads that wait on children for searches: more searches at once queue for one."""
MAX_SECONDS: Final = 2**31 - 2
"""The longest time limit kept (68 years): the child's alarm takes no more."""


class _Child:
    """One child process and its pipes. Only the thread that sends a request reads the answer
    and closes the pipes; any thread may ``kill`` the process, which ends that read."""

    def __init__(self) -> None:
        if getattr(sys, "frozen", False) or not sys.executable:
            raise StorageError("a regular expression search runs Python in a child process: this program has no"
                               " Python interpreter to start (sys.executable)")
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(CHILD_SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, bufsize=0, start_new_session=True,  # Ctrl-C reaches the parent only
            )
        except OSError as exc:
            raise StorageError(f"cannot start a process for regular expressions: {exc}") from exc

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def exchange(self, request: tuple[Any, ...]) -> Optional[list[Any]]:
        """Send one request and wait for its answer: None when the child ends first."""
        data = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            _write_all(self.process.stdin, regex_child.HEADER.pack(len(data)) + data)
            header = _read_exactly(self.process.stdout, regex_child.HEADER.size)
            size = None if header is None else regex_child.HEADER.unpack(header)[0]
            answer = None if size is None else _read_exactly(self.process.stdout, size)
        except OSError:  # the child ended while it was sent the request
            return None
        return None if answer is None else pickle.loads(answer)

    def kill(self) -> None:
        """Stop the child now (from any thread): a read waiting on it gets end of file."""
        if self.running:
            self.process.kill()
        self.process.wait()

    def discard(self) -> None:
        """Kill the child and close its pipes (by the thread that uses it)."""
        self.kill()
        _close_pipes(self.process)

    def close(self) -> None:
        """End an idle child: end of input stops it."""
        _close_pipes(self.process)
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.discard()


def _read_exactly(stream: Any, size: int) -> Optional[bytes]:
    """``size`` bytes from a pipe, or None at its end (the child ended)."""
    received = bytearray()
    while len(received) < size:
        piece = stream.read(min(size - len(received), 1 << 20))
        if not piece:
            return None
        received += piece
    return bytes(received)


def _write_all(stream: Any, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[stream.write(view):]


def _close_pipes(process: subprocess.Popen[bytes]) -> None:
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            try:
                pipe.close()
            except OSError:
                pass


class _Pool:
    """Idle children of this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Child] = []

    def take(self) -> _Child:
        with self._lock:
            while self._idle:
                child = self._idle.pop()
                if child.running:
                    return child
                child.discard()  # ended while idle: its pipes are closed here
        return _Child()

    def give_back(self, child: _Child) -> None:
        with self._lock:
            if child.running and len(self._idle) < IDLE_CHILDREN:
                self._idle.append(child)
                return
        child.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for child in idle:
            child.close()

    def forget(self) -> None:
        """In a forked process: the children are the parent's; only its copies of their pipes
        are closed (kept open, they would hold the children past the parent's exit)."""
        self._lock = threading.Lock()
        for child in self._idle:
            _close_pipes(child.process)
        self._idle = []


_POOL: Final = _Pool()
atexit.register(_POOL.close)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_POOL.forget)


@functools.cache
def _waiters() -> Executor:
    """The threads that wait on children, made on first use: importing concurrent.futures'
    threads registers an exit hook, which Python refuses while it exits (a store opened then)."""
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=WAITING_SEARCHES, thread_name_prefix="mcard-regex")


def _chunks(contents: Sequence[Content]) -> Iterator[Sequence[Content]]:
    start, size = 0, 0
    for end, content in enumerate(contents, 1):
        size += len(content) if content is not None else 0
        if size >= CHUNK_CHARACTERS:
            yield contents[start:end]
            start, size = end, 0
    if start < len(contents):
        yield contents[start:]


class RegexRun:
    """One search's use of a child: ``found`` (or ``run``) as many times as needed, within
    ``seconds`` in all from when the run is made; ``close`` at the end. A call that fails, runs
    out of time or is cancelled (or interrupted) kills the child."""

    def __init__(self, pattern: str, flags: int, seconds: float) -> None:
        self.pattern, self.flags, self.seconds = pattern, flags, seconds
        self.deadline = time.monotonic() + min(seconds, MAX_SECONDS)
        self._lock = threading.Lock()
        self._child: Optional[_Child] = None
        self._failed = False
        self._exchanging = False
        self._expired = False
        self._stopped_because: Optional[str] = None

    def run(self, kind: str, contents: Sequence[Content]) -> list[Any]:
        """Per content (bytes are decoded as UTF-8 by the child), whether it matches
        (``"search"``: None for bytes that are not UTF-8) or where (``"spans"``: none in such
        bytes); blocking, the
        time limit kept by a timer that kills the child."""
        timer = threading.Timer(self._remaining(), self._expire)
        timer.start()
        try:
            return self._exchange_all(kind, contents)
        except BaseException:
            self.stop()
            raise
        finally:
            timer.cancel()

    async def found(self, contents: Sequence[Content]) -> list[Optional[bool]]:
        """Per content, whether it is text (or UTF-8 bytes) that matches; None for bytes that
        are not UTF-8 (a bytes card matches nothing, a text is damaged). A thread of this
        module's own waits on the child (never one that other work needs), so the event loop
        goes on meanwhile; the loop keeps the time limit."""
        waiting = asyncio.get_running_loop().run_in_executor(_waiters(), self._exchange_all, "search", contents)
        try:
            async with asyncio.timeout(self._remaining()):  # not wait_for: on 3.11 it drops a
                return await waiting  # cancellation that comes as the answer does
        except TimeoutError:
            self._expire()
            raise self._timed_out() from None
        except BaseException:
            self.stop()
            raise

    def _remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.0)

    def _exchange_all(self, kind: str, contents: Sequence[Content]) -> list[Any]:
        answers: list[Any] = []
        for chunk in _chunks(contents):
            alarm = min(math.ceil(self._remaining()) + 1, MAX_SECONDS)  # the child's own limit
            child = self._begin_exchange()
            answer = None
            try:
                answer = child.exchange((kind, self.pattern, self.flags, alarm, list(chunk)))
            finally:
                self._end_exchange(child, answer is not None)
            if answer is None:
                if self._expired:
                    raise self._timed_out()
                raise StorageError(self._stopped_because
                                   or f"the process running the regular expression stopped ({child.process.returncode})")
            answers += answer
        return answers

    def _timed_out(self) -> ValidationError:
        return ValidationError(
            f"the regular expression search did not finish in {self.seconds:g} s; a pattern that can match"
            r" a text in many ways (repeats nested or side by side, such as (a+)+ or \w+ \w+) can take very long"
            " on a large text: make it more specific, or allow more time (regex_timeout)"
        )

    def _begin_exchange(self) -> _Child:
        """The run's child, taken when first needed; an error once the run is stopped (a
        ``stop`` from another thread never misses a child taken meanwhile)."""
        with self._lock:
            if self._failed:
                raise StorageError(self._stopped_because or "the regular expression search was stopped")
            if self._child is None:
                self._child = _POOL.take()
            self._exchanging = True
            return self._child

    def _end_exchange(self, child: _Child, answered: bool) -> None:
        with self._lock:
            self._exchanging = False
            if not answered:
                self._failed = True
            if self._failed:  # its pipes are closed here, by their reader
                child.discard()

    def _expire(self) -> None:
        self._expired = True
        self.stop()

    def stop(self, because: Optional[str] = None) -> None:
        """Kill the child (from any thread): a call waiting on it ends, with a ``StorageError``
        that says ``because`` when given."""
        with self._lock:
            self._failed = True
            if because is not None and self._stopped_because is None:
                self._stopped_because = because
            child = self._child
            if child is not None and not self._exchanging:
                child.discard()
        if child is not None:
            child.kill()

    def close(self) -> None:
        with self._lock:
            child, self._child = self._child, None
            healthy = not self._failed
        if child is not None and healthy:
            _POOL.give_back(child)


def spans(pattern: str, flags: int, text: str) -> list[tuple[int, int]]:
    """Where ``pattern`` matches in ``text`` (``regex_child.spans_of``), for a snippet: none
    when that takes longer than ``SNIPPET_SECONDS``."""
    run = RegexRun(pattern, flags, SNIPPET_SECONDS)
    try:
        [found] = run.run("spans", [text])
    except ValidationError:
        logger.warning("matches of %r not marked: they took over %s s to find", pattern, SNIPPET_SECONDS)
        return []
    finally:
        run.close()
    return found
