"""``save_many`` with a ``tqdm.auto`` progress bar (a widget in Jupyter, text elsewhere)."""

from __future__ import annotations

from collections.abc import Coroutine, Generator, Iterable, Iterator, Sized
from contextlib import contextmanager
from itertools import islice
from typing import TYPE_CHECKING, Any, Final, Optional

from mcard.domain.models.card import MCard
from mcard.domain.models.exceptions import ValidationError
from mcard.domain.numbers import positive_count
from mcard.domain.progress import checked_progress

if TYPE_CHECKING:
    from .cards import Content, NotebookCards


UNKNOWN_DELAY: Final = 1.0
"""Seconds a save of cards that cannot be counted first (a generator) runs before its progress
bar shows: three cards showed one."""


Saving = Generator[Coroutine[Any, Any, int], int, int]
"""``save_many``'s work: it yields each write for its caller to run and be sent the result."""


def save_in_batches(
    store: NotebookCards,
    items: Iterable[MCard | Content],
    batch_size: Optional[int],
    progress: Optional[bool],
) -> int:
    """See :meth:`NotebookCards.save_many`."""
    with _saving(store, items, batch_size, progress) as saving:
        try:
            write = next(saving)
            while True:
                write = saving.send(store._run(write))
        except StopIteration as done:
            return done.value


async def asave_in_batches(
    store: NotebookCards,
    items: Iterable[MCard | Content],
    batch_size: Optional[int],
    progress: Optional[bool],
) -> int:
    """``save_in_batches`` awaited from the caller's event loop."""
    with _saving(store, items, batch_size, progress) as saving:
        try:
            write = next(saving)
            while True:
                write = saving.send(await store._arun(write))
        except StopIteration as done:
            return done.value


@contextmanager
def _saving(
    store: NotebookCards, items: Iterable[MCard | Content], batch_size: Optional[int], progress: Optional[bool]
) -> Iterator[Saving]:
    from tqdm.auto import tqdm

    from .cards import AUTO_PROGRESS

    size = None if batch_size is None else positive_count("batch_size", batch_size, " (None: one transaction)")
    progress = checked_progress(progress)
    total = len(items) if isinstance(items, Sized) else None
    show = progress if progress is not None else total is None or total >= AUTO_PROGRESS
    delay = UNKNOWN_DELAY if progress is None and total is None else 0
    with tqdm(total=total, disable=not show, unit="card", desc="saving cards", delay=delay) as bar:
        saving = _batches(store, items, size, bar, not delay)
        try:
            yield saving
        finally:
            saving.close()


def _batches(store: NotebookCards, items: Iterable[MCard | Content], size: Optional[int], bar: Any, refresh: bool) -> Saving:
    store_all = store._wrapper.save_many
    numbered = enumerate(items)
    if size is None:
        bar.set_description("preparing cards", refresh=refresh)
        cards = []
        for index, item in numbered:
            cards.append(_card(store, index, item))
            if len(cards) % 1000 == 0:
                bar.update(1000)
        bar.update(len(cards) - bar.n)
        bar.set_description("writing cards (one transaction)", refresh=refresh)
        added = yield store_all(cards)
        bar.set_description(f"saved cards ({added} new)", refresh=refresh)
        return added
    added = stored = 0
    while batch := [_card(store, index, item, stored) for index, item in islice(numbered, size)]:
        added += yield store_all(batch)
        stored += len(batch)
        bar.update(len(batch))
    bar.set_description(f"saved cards ({added} new)", refresh=refresh)
    return added


def _card(store: NotebookCards, index: int, item: MCard | Content, stored: int = 0) -> MCard:
    """``items[index]`` as a card; a bad one, or one over the store's ``max_content_size``
    (which the store refuses without saying which of the items it is), is named by its index,
    with the items of earlier batches already ``stored``."""
    try:
        card = store._card(item)
        limit = store.config.max_content_size
        if card.size > limit:
            raise ValidationError(f"card content is {card.size:,} bytes, over the limit of {limit:,} bytes")
        return card
    except ValidationError as exc:
        kept = f" (the {stored} items of the batches before it are stored)" if stored else ""
        raise ValidationError(f"items[{index}]: {exc}{kept}") from None
