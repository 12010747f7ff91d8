"""The ``mcard`` command's entry point (``python -m mcard`` too). The command line is imported
here, inside ``main``: an interrupt (Ctrl-C) during the imports is said in one line and exits
130, as one later does, not shown as a traceback."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from mcard.cli import main as run_command
    except KeyboardInterrupt:
        print("mcard: interrupted", file=sys.stderr, flush=True)
        return 130
    return run_command()
