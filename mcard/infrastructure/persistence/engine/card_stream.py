"""What ``iterate()`` returns: an async iterator object rather than an async generator.

An event loop closes every async generator still open when it shuts down, all at once. A
generator that closes another one in its own cleanup (``aclosing``, ``async with`` a generator
based context manager) then finds it already being closed, and Python prints ``RuntimeError:
athrow(): asynchronous generator is already running``: the end of a script that left an
``async for`` by ``break`` in a store it never closed. With this object outside and no
generator nested in an engine's stream, one generator is open per iteration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Optional, TypeVar

T = TypeVar("T")


class CardStream(AsyncIterator[T]):
    """Streams the cards (or rows: ``iterate_heads``) of ``start()``, called when the first is
    asked for (so that its checks raise where the loop reads, as a generator's would);
    ``aclose()`` ends the stream."""

    def __init__(self, start: Callable[[], AsyncIterator[T]]) -> None:
        self._start: Optional[Callable[[], AsyncIterator[T]]] = start
        self._cards: Optional[AsyncIterator[T]] = None

    def __aiter__(self) -> CardStream[T]:
        return self

    async def __anext__(self) -> T:
        if self._cards is None:
            if self._start is None:
                raise StopAsyncIteration
            start, self._start = self._start, None
            self._cards = start()
        return await self._cards.__anext__()

    async def aclose(self) -> None:
        """End the stream, releasing what it reads from (as an async generator's ``aclose``)."""
        self._start = None
        cards, self._cards = self._cards, None
        close = getattr(cards, "aclose", None)  # an engine's stream may be any async iterator
        if close is not None:
            await close()
