"""Running a child program so that stopping ``mcard`` stops it too."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Mapping, Sequence
from typing import Final, Optional

FORWARDED: Final = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


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
    ``128 + signal``.
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
        child = await asyncio.create_subprocess_exec(*command, env=dict(env), process_group=0)
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
