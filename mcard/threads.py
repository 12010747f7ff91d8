"""Steps of a file's reading or writing run on a worker thread, to their end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def run_to_the_end(call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` on a worker thread, waited for to the end even when cancelled (then the
    cancellation goes on): a step on a file never overlaps the next, nor its closing (a
    generator closed while it runs raises ``ValueError: generator already executing`` in place
    of the interruption, and a cancelled export returns only once its file is removed)."""
    step = asyncio.ensure_future(asyncio.to_thread(call, *args))
    try:
        return await asyncio.shield(step)
    except asyncio.CancelledError:
        await asyncio.wait([step])
        if not step.cancelled():
            step.exception()  # retrieved: the cancellation is what the caller is told
        raise
