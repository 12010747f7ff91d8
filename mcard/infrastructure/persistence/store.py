"""What every card store offers (``CardStore``), and retrying transient storage failures."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Optional, ParamSpec, Protocol, TypeVar, runtime_checkable

from mcard.domain.models.card import MCard
from mcard.domain.models.exceptions import brief, StorageError

from .engine.integrity import VerifyReport

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


@runtime_checkable
class CardStore(Protocol):
    """The card operations shared by every engine and by ``AsyncPersistenceWrapper``."""

    async def initialize(self) -> None: ...
    async def close(self) -> None: ...
    async def save(self, card: MCard) -> bool: ...
    async def save_many(self, cards: Iterable[MCard]) -> int: ...
    async def get(self, hash_str: str) -> Optional[MCard]: ...
    async def get_many(self, hashes: Iterable[str]) -> dict[str, MCard]: ...
    async def list(
        self,
        limit: Optional[int] = None,
        offset: int = 0,
        start_time: Optional[datetime] = None,
        end_time: Optional[datetime] = None,
    ) -> list[MCard]: ...
    async def count(
        self, start_time: Optional[datetime] = None, end_time: Optional[datetime] = None
    ) -> int: ...
    async def search(self, query: str, limit: Optional[int] = None, offset: int = 0) -> list[MCard]: ...
    async def remove(self, hash_str: str) -> bool: ...
    async def verify(self, page_size: int = ..., progress: Optional[bool] = ...) -> VerifyReport: ...


def is_transient(error: BaseException) -> bool:
    """Whether trying again may succeed: a ``StorageError`` marked transient (busy, locked)."""
    return isinstance(error, StorageError) and error.transient


def retry_operation(
    max_retries: int = 3,
    base_delay: float = 0.05,
    max_delay: float = 2.0,
    retry_if: Callable[[BaseException], bool] = is_transient,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Retry an async function on transient storage failures, with exponential backoff.

    The function runs at most ``max_retries + 1`` times; waits double from ``base_delay``
    up to ``max_delay`` seconds, with jitter. ``ValidationError`` and every other error that
    ``retry_if`` rejects propagate at once; when the retries run out the last error is raised.
    """
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be an integer >= 0, got {brief(max_retries)}")
    if base_delay < 0 or max_delay < 0:
        raise ValueError("delays must not be negative")

    def decorate(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        if not asyncio.iscoroutinefunction(fn):
            raise TypeError(f"retry_operation decorates async functions, not {fn!r}")

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            for attempt in range(max_retries + 1):
                try:
                    return await fn(*args, **kwargs)
                except Exception as error:
                    if attempt == max_retries or not retry_if(error):
                        raise
                    delay = min(max_delay, base_delay * 2**attempt) * random.uniform(0.5, 1.0)
                    logger.info(
                        "%s failed (%s); retry %s of %s in %.3f s",
                        fn.__qualname__, error, attempt + 1, max_retries, delay,
                    )
                    await asyncio.sleep(delay)
            raise AssertionError("unreachable")

        return wrapper

    return decorate
