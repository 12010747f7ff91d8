"""Regular expressions run in a child process that can be stopped (``regex_child``).

Python's ``re`` holds the GIL for a whole match, and some patterns take exponential time
(``(a+)+$`` on a long run of ``a``): run in the store's process, one would stall its event loop,
every other thread and Ctrl-C for as long as it runs. In a child, only the child waits: a search
that runs past its time limit, or is cancelled, or interrupted, kills it.

Children are started with ``python -I -S`` (a few milliseconds) and kept for the next search
(``IDLE_CHILDREN``); each serves one caller at a time.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final, Optional, Union

from mcard.domain.models.exceptions import StorageError, ValidationError

from . import regex_child

logger = logging.getLogger(__name__)

CHILD_SCRIPT: Final = Path(regex_child.__file__)
IDLE_CHILDREN: Final = 2
"""Children kept running between searches, for the next ones."""
CHUNK_CHARACTERS: Final = 1 << 22
"""Characters (or bytes) sent to a child in one request: bounds the memory a request holds."""
SNIPPET_SECONDS: Final = 2.0
"""How long marking the matches of one text for a snippet may take; after it, none are marked."""


class _Child:
    """One child process and its pipes. Only the thread that sends a request reads the answer
    and closes the pipes; any thread may ``kill`` the process, which ends that read."""

    def __init__(self) -> None:
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(CHILD_SCRIPT)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0,
            )
        except OSError as exc:
            raise StorageError(f"cannot start a process for regular expressions: {exc}") from exc
        self.expired = False

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def exchange(self, request: tuple[Any, ...], deadline: float, seconds: float) -> list[Any]:
        """Send one request and wait for its answer until ``deadline`` (``time.monotonic``);
        past it the child is killed and the search fails with a ``ValidationError``."""
        data = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        timer = threading.Timer(max(deadline - time.monotonic(), 0), self._expire)
        timer.start()
        try:
            _write_all(self.process.stdin, regex_child.HEADER.pack(len(data)) + data)
            header = _read_exactly(self.process.stdout, regex_child.HEADER.size)
            answer = None if header is None else _read_exactly(self.process.stdout, regex_child.HEADER.unpack(header)[0])
        except OSError:  # the child ended while it was sent the request
            answer = None
        finally:
            timer.cancel()
        if answer is None:
            self.discard()
            if self.expired:
                raise ValidationError(
                    f"the regular expression search did not finish in {seconds:g} s; a pattern with"
                    " nested repeats such as (a+)+ can take exponential time: simplify it, or"
                    " allow more time (regex_timeout)"
                )
            raise StorageError(f"the process running the regular expression stopped ({self.process.returncode})")
        return pickle.loads(answer)

    def _expire(self) -> None:
        self.expired = True
        self.kill()

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
    """Idle children, for this process only (a forked process starts its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Child] = []
        self._pid = os.getpid()

    def take(self) -> _Child:
        with self._lock:
            if self._pid != os.getpid():
                self._idle, self._pid = [], os.getpid()
            while self._idle:
                child = self._idle.pop()
                if child.running:
                    return child
        return _Child()

    def give_back(self, child: _Child) -> None:
        with self._lock:
            if self._pid == os.getpid() and child.running and len(self._idle) < IDLE_CHILDREN:
                self._idle.append(child)
                return
        child.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for child in idle:
            child.close()


_POOL: Final = _Pool()
atexit.register(_POOL.close)


def _chunks(contents: Sequence[Union[str, bytes]]) -> Iterator[Sequence[Union[str, bytes]]]:
    start, size = 0, 0
    for end, content in enumerate(contents, 1):
        size += len(content)
        if size >= CHUNK_CHARACTERS:
            yield contents[start:end]
            start, size = end, 0
    if start < len(contents):
        yield contents[start:]


class RegexRun:
    """One search's use of a child: ``found`` and ``run`` as many times as needed, within
    ``seconds`` in all from when the run is made; ``close`` at the end. A call that fails or is
    cancelled (or interrupted) kills the child."""

    def __init__(self, pattern: str, flags: int, seconds: float) -> None:
        self.pattern, self.flags, self.seconds = pattern, flags, seconds
        self.deadline = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._child: Optional[_Child] = None
        self._failed = False
        self._exchanging = False

    def run(self, kind: str, contents: Sequence[Union[str, bytes]]) -> list[Any]:
        """Per content (bytes are decoded as UTF-8 by the child, and match nothing when they
        are not), whether it matches (``"search"``) or where (``"spans"``); blocking."""
        answers: list[Any] = []
        try:
            for chunk in _chunks(contents):
                request = (kind, self.pattern, self.flags, max(self.deadline - time.monotonic(), 0), list(chunk))
                child = self._begin_exchange()
                try:
                    answers += child.exchange(request, self.deadline, self.seconds)
                finally:
                    self._end_exchange(child)
        except BaseException:
            self.stop()
            raise
        return answers

    async def found(self, contents: Sequence[Union[str, bytes]]) -> list[bool]:
        """Per content, whether it is text (or UTF-8 bytes) that matches; checked on a thread,
        so the event loop goes on while the child works."""
        try:
            return await asyncio.to_thread(self.run, "search", contents)
        except BaseException:
            self.stop()
            raise

    def _begin_exchange(self) -> _Child:
        """The run's child, taken when first needed; an error once the run is stopped (a
        ``stop`` from another thread never misses a child taken meanwhile)."""
        with self._lock:
            if self._failed:
                raise StorageError("the regular expression search was stopped")
            if self._child is None:
                self._child = _POOL.take()
            self._exchanging = True
            return self._child

    def _end_exchange(self, child: _Child) -> None:
        with self._lock:
            self._exchanging = False
            if self._failed:  # stopped meanwhile: its pipes are closed here, by their reader
                child.discard()

    def stop(self) -> None:
        """Kill the child (from any thread): a call waiting on it ends."""
        with self._lock:
            self._failed = True
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
