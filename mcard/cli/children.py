"""Running a child program so that stopping ``mcard`` stops it too."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Final, Optional

FORWARDED: Final = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
STOPPED_WITH_PARENT: Final = """\
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG, kept across exec
except (OSError, AttributeError):  # a C library without it: run as before
    pass
if os.getppid() != int(sys.argv[1]):  # the parent died before that
    sys.exit(128 + signal.SIGTERM)
os.execvp(sys.argv[2], sys.argv[2:])
"""
"""Run by ``sys.executable`` with the parent's pid and a command: the command, which gets a
SIGTERM when its parent dies, even of a SIGKILL that no handler sees (Linux)."""


def stopped_with_parent(command: Sequence[str]) -> list[str]:
    """``command`` run so that it stops when this process dies, however it dies (on Linux;
    elsewhere as it is): a launcher killed outright left JupyterLab running, holding its port."""
    if not sys.platform.startswith("linux"):
        return list(command)
    return [sys.executable, "-c", STOPPED_WITH_PARENT, str(os.getpid()), *command]


async def run_forwarding_signals(
    command: Sequence[str], env: Mapping[str, str], sent_as: Mapping[int, int] | None = None
) -> int:
    """Run ``command`` until it exits and return its status, passing on to it every SIGTERM,
    SIGINT and SIGHUP this process gets (``sent_as`` may pass one on as another), so that it
    stops, and what it started with it, instead of running on without its parent.

    The child runs in a process group of its own, so a terminal's Ctrl-C (a SIGINT to the
    foreground group) reaches it only as this process passes it on: once, and as ``sent_as``
    says, not also directly. The handlers are in place before the child starts, so a signal in
    between is not lost. A child that ends by a forwarded signal, or after one, gives
    ``128 + signal``. If this process dies without passing a signal on (a SIGKILL), the child
    gets a SIGTERM (``stopped_with_parent``).
    """
    sent_as = sent_as or {}
    loop = asyncio.get_running_loop()
    child: Optional[asyncio.subprocess.Process] = None
    received: list[int] = []

    def forward(sig: int) -> None:
        received.append(sig)
        if child is not None and child.returncode is None:
            try:
                child.send_signal(sent_as.get(sig, sig))
            except ProcessLookupError:  # it has just exited
                pass

    for sig in FORWARDED:
        loop.add_signal_handler(sig, forward, sig)
    try:
        child = await asyncio.create_subprocess_exec(*stopped_with_parent(command), env=dict(env), process_group=0)
        for sig in received:
            child.send_signal(sent_as.get(sig, sig))
        status = await child.wait()
    except BaseException:
        if child is not None and child.returncode is None:
            child.terminate()
        raise
    finally:
        for sig in FORWARDED:
            loop.remove_signal_handler(sig)
    if status < 0:
        return 128 - status
    return 128 + received[0] if received else status
