"""COPY with a watchdog.

asyncpg's COPY waits for the socket to take more data before it sends the next chunk; when the
connection is lost while that wait is on (the server's backend was terminated, the network
dropped), nothing ever ends the wait, so the COPY, and closing its pool, would wait forever.
The watchdog ends it: at once when the connection closes, or when the COPY made no progress
for ``stall`` seconds (a network gone silent): no row was taken, or, once all were, the server
did not answer. Either way the transaction it ran in is lost, so nothing of it is stored.
asyncpg takes rows well ahead of the server, whose work after the last row (storing the rows it
holds) grows with their bytes: the answer is awaited ``stall`` seconds more than that work takes
at ``FINISHING_RATE``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from operator import length_hint
from typing import Any, Final, Optional

Connection = Any  # asyncpg.Connection or a pool's proxy of one; asyncpg is imported lazily
FINISHING_RATE: Final = 4 * 1024 * 1024
"""Bytes a second the server is granted, at the least, to store rows it took before the last
(a loaded two-core machine stored ~30 MB/s of 10 MB texts)."""


class CopyStalled(TimeoutError):
    """The COPY made no progress for the stall time; its connection was terminated."""


async def copy_in(
    conn: Connection,
    names: tuple[str, str],
    items: Sequence[Any],
    row: Callable[[Any], tuple[Any, ...]],
    stall: float,
    columns: Optional[Sequence[str]] = None,
    size: Callable[[Any], int] = lambda _item: 0,
) -> str:
    """COPY ``row(item)`` for each item into the table ``names`` (schema, table); the server's
    command status (``COPY n``). Progress is how many items remain on their iterator, hence
    a sequence; ``size(item)`` is its bytes, to wait for the server's answer (``FINISHING_RATE``).

    Raises ``ConnectionError`` when the connection closes during the COPY and ``CopyStalled``
    when for ``stall`` seconds no item was taken nor, after the last and the time the items'
    bytes take, the server answered (the connection is then terminated, so the pool replaces
    it). Cancelled, the COPY is cancelled and waited for.
    """
    loop = asyncio.get_running_loop()
    source = iter(items)
    lost: asyncio.Future[None] = loop.create_future()

    def on_close(_conn: object) -> None:
        if not lost.done():
            lost.set_result(None)

    conn.add_termination_listener(on_close)
    copying = asyncio.ensure_future(conn.copy_records_to_table(
        names[1], schema_name=names[0], records=map(row, source), columns=columns
    ))
    terminated = False
    left, moved = length_hint(source), loop.time()
    finishing = sum(map(size, items)) / FINISHING_RATE
    try:
        while not copying.done():
            await asyncio.wait([copying, lost], timeout=stall / 4, return_when=asyncio.FIRST_COMPLETED)
            if copying.done():
                break
            if lost.done():
                await _stop(copying)
                raise ConnectionError("the connection was lost during COPY") from _error(copying)
            now = length_hint(source)
            limit = stall if now else stall + finishing
            if now != left:
                left, moved = now, loop.time()
            elif loop.time() - moved >= limit:
                await _stop(copying)  # asyncpg's own clean-up: CopyFail, a cancel request
                if not lost.done():
                    terminated = True
                    conn.terminate()
                raise CopyStalled(f"COPY made no progress for {limit:.3g} s; connection terminated")
    except asyncio.CancelledError:
        await _stop(copying)
        raise
    finally:
        # A closed connection has dropped its listeners (and left the pool): nothing to remove.
        if not (lost.done() or terminated):
            conn.remove_termination_listener(on_close)
    return copying.result()


async def _stop(task: asyncio.Future[Any]) -> None:
    task.cancel()
    await asyncio.wait([task])
    _error(task)


def _error(task: asyncio.Future[Any]) -> Optional[BaseException]:
    """The exception a finished task ended with (retrieved, so asyncio does not log it)."""
    return None if task.cancelled() else task.exception()
