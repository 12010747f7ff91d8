"""The ``mcard`` command line. ``main()`` returns the exit status:
0 ok, 1 not found, 2 bad usage or input, 3 storage failure, 130 interrupted.

Every non-zero status comes with exactly one line on stderr, control characters escaped.
"""

from __future__ import annotations

import asyncio
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


def main(argv: Optional[Sequence[str]] = None) -> int:
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
