"""The ``mcard`` command line. ``main()`` returns the exit status:
0 ok, 1 not found, 2 bad usage or input, 3 storage failure, 130 interrupted.

Every non-zero status comes with exactly one line on stderr, control characters escaped.
"""

from __future__ import annotations

import asyncio
import errno
import io
import os
import sys
from collections.abc import Sequence
from typing import Optional

from mcard.domain.models.exceptions import ConfigurationError, StorageError, ValidationError

from .commands import COMMANDS
from .output import fail
from .parser import parse
from .resolving import NotFound

EXIT_OK, EXIT_NOT_FOUND, EXIT_BAD_INPUT, EXIT_STORAGE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class _ClosedOutput(io.RawIOBase):
    """Standard output when the command was started with it closed (``mcard ls >&-``): the
    first write fails as a write to a closed descriptor does, which ``main`` reports."""

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF), "standard output")


def _closed_streams_replaced() -> None:
    """Python gives a stream closed at start as None: standard error then writes nowhere (the
    exit status still tells), standard output fails on its first write."""
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (open for the process's life)
    if sys.stdout is None:
        sys.stdout = io.TextIOWrapper(_ClosedOutput(), write_through=True)  # type: ignore[arg-type]


def main(argv: Optional[Sequence[str]] = None) -> int:
    _closed_streams_replaced()
    sys.stdout.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    args = parse(argv)
    try:
        return asyncio.run(COMMANDS[args.command](args)) or EXIT_OK
    except NotFound as exc:
        fail(str(exc))
        return EXIT_NOT_FOUND
    except (ValidationError, ConfigurationError) as exc:
        fail(str(exc))
        return EXIT_BAD_INPUT
    except StorageError as exc:
        fail(f"storage error: {exc}")
        return EXIT_STORAGE
    except KeyboardInterrupt:
        fail("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of stdout stopped (``mcard ls | head``): not a failure
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:  # a file named on the command line: missing, unreadable, unwritable
        fail(f"{exc.filename}: {exc.strerror}" if exc.filename is not None and exc.strerror else str(exc))
        return EXIT_BAD_INPUT


__all__ = ["main"]
