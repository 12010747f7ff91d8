"""The ``mcard`` command line. ``main()`` returns the exit status:
0 ok, 1 not found, 2 bad usage or input, 3 storage failure, 130 interrupted (143, 129: SIGTERM, SIGHUP).

Every non-zero status comes with exactly one line on stderr, control characters escaped.
"""

from __future__ import annotations

import asyncio
import errno
import io
import os
import signal
import sys
from collections.abc import Awaitable, Sequence
from typing import Final, Optional

from mcard.domain.models.exceptions import ConfigurationError, NoCardStoreError, OlderStoreError, StorageError, ValidationError

from .commands import COMMANDS
from .output import fail
from .parser import parse
from .resolving import NotFound

EXIT_OK, EXIT_NOT_FOUND, EXIT_BAD_INPUT, EXIT_STORAGE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class _ClosedStream(io.RawIOBase):
    """A standard stream the command was started without (``mcard ls >&-``, ``add - <&-``):
    reading or writing fails as on a closed descriptor, which ``main`` reports."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def readinto(self, buffer: object) -> int:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF), self.name)

    def write(self, data: object) -> int:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF), self.name)


def _hold(descriptor: int, flags: int) -> None:
    """Take a closed standard descriptor with /dev/null opened the other way, so that no file
    opened later becomes it (and reading or writing it still fails)."""
    try:
        os.fstat(descriptor)
        return
    except OSError:
        pass
    opened = os.open(os.devnull, flags)
    if opened != descriptor:
        os.dup2(opened, descriptor)
        os.close(opened)


def _closed_streams_replaced() -> None:
    """Python gives a standard stream closed at start as None: standard input and output then
    fail on their first use; standard error writes nowhere (the exit status still tells)."""
    if sys.stdin is None:
        _hold(0, os.O_WRONLY)
        sys.stdin = io.TextIOWrapper(_ClosedStream("standard input"))  # type: ignore[arg-type]
    if sys.stdout is None:
        _hold(1, os.O_RDONLY)
        sys.stdout = io.TextIOWrapper(_ClosedStream("standard output"), write_through=True)  # type: ignore[arg-type]
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (open for the process's life)


class _Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (a closed terminal), ended as Ctrl-C ends a command: what runs is
    cancelled and cleaned up (a regular expression's child process is stopped, where it went on
    until its time limit), then the exit status is 128 + the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


PYTHON_VERIFY: Final = "verify() names it"
COMMAND_VERIFY: Final = "mcard verify names it; mcard verify --remove mends or removes it"
"""How an error of a damaged row says what to do, in the store's API and on the command line."""


_ENDINGS: Final = tuple(ending for ending in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if ending is not None)


def _terminated(signum: int, _frame: object) -> None:
    raise _Terminated(signum)


async def _stoppable(command: Awaitable[Optional[int]]) -> Optional[int]:
    """Run ``command`` with SIGTERM and SIGHUP handled as ``asyncio.run`` handles Ctrl-C: the
    event loop cancels the command where it awaits, and it cleans up as after Ctrl-C. An
    exception raised by a ``signal.signal`` handler lands wherever the main thread is, also
    inside asyncpg's protocol callbacks or a task's cleanup: a traceback on stderr, exit 1, and
    at times a crash of the process (SIGSEGV in asyncpg's protocol). Before and after the loop
    runs, ``_terminated`` raises as it did."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    received: list[int] = []

    def stop(signum: int) -> None:
        received.append(signum)
        if task is not None:
            task.cancel()

    installed: list[int] = []
    for ending in _ENDINGS:
        try:
            loop.add_signal_handler(ending, stop, ending)
        except (NotImplementedError, RuntimeError, ValueError):  # no loop signal handlers here (Windows)
            continue
        installed.append(ending)
    try:
        return await command
    except asyncio.CancelledError:
        if not received:
            raise
        fail("terminated")
        return 128 + received[0]
    finally:
        for ending in installed:
            loop.remove_signal_handler(ending)  # it sets the default action: ours again, for the shutdown
            signal.signal(ending, _terminated)


def main(argv: Optional[Sequence[str]] = None) -> int:
    _closed_streams_replaced()
    sys.stdout.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    try:
        args = parse(argv)
        for ending in _ENDINGS:
            signal.signal(ending, _terminated)
        return asyncio.run(_stoppable(COMMANDS[args.command](args))) or EXIT_OK
    except NotFound as exc:
        fail(str(exc))
        return EXIT_NOT_FOUND
    except (ValidationError, ConfigurationError) as exc:
        fail(str(exc))
        return EXIT_BAD_INPUT
    except OlderStoreError as exc:
        fail(f"storage error: {exc} (mcard upgrade does)")
        return EXIT_STORAGE
    except NoCardStoreError as exc:  # a folder holds none, and none is made there
        fail(f"storage error: {exc}" + ("" if str(exc).endswith("(a folder)") else " (mcard add or mcard import makes one)"))
        return EXIT_STORAGE
    except StorageError as exc:
        fail(f"storage error: {str(exc).replace(PYTHON_VERIFY, COMMAND_VERIFY)}")
        return EXIT_STORAGE
    except _Terminated as exc:
        fail("terminated")
        return 128 + exc.signum
    except KeyboardInterrupt:
        fail("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of stdout stopped (``mcard ls | head``): not a failure
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:  # a file named on the command line: missing, unreadable, unwritable
        where = _where(exc)
        fail(f"{where}: {exc.strerror}" if where is not None and exc.strerror else str(exc))
        return EXIT_BAD_INPUT


_WRITE_ERRORS: Final = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


def _where(failure: OSError) -> Optional[str]:
    """The file an error names; a file mcard writes is named, so a write error naming none is
    standard output's (``mcard ls > /dev/full``)."""
    if failure.filename is not None:
        return str(failure.filename)
    return "standard output" if failure.errno in _WRITE_ERRORS else None


__all__ = ["main"]
