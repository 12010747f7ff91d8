"""``save_many`` with a ``tqdm.auto`` progress bar (a widget in Jupyter, text elsewhere)."""

from __future__ import annotations

from collections.abc import Iterable, Sized
from itertools import islice
from typing import TYPE_CHECKING, Final, Optional

from mcard.domain.models.card import MCard
from mcard.infrastructure.persistence.engine.base_engine import check_count

if TYPE_CHECKING:
    from .cards import Content, NotebookCards


UNKNOWN_DELAY: Final = 1.0
"""Seconds a save of cards that cannot be counted first (a generator) runs before its progress
bar shows: three cards showed one."""


def save_in_batches(
    store: NotebookCards,
    items: Iterable[MCard | Content],
    batch_size: Optional[int],
    progress: Optional[bool],
) -> int:
    """See :meth:`NotebookCards.save_many`."""
    from tqdm.auto import tqdm

    from .cards import AUTO_PROGRESS

    size = None if batch_size is None else check_count("batch_size", batch_size, allow_none=False)
    if size == 0:
        size = None
    total = len(items) if isinstance(items, Sized) else None
    show = progress if progress is not None else total is None or total >= AUTO_PROGRESS
    delay = UNKNOWN_DELAY if progress is None and total is None else 0
    store_all = store._wrapper.save_many
    with tqdm(total=total, disable=not show, unit="card", desc="saving cards", delay=delay) as bar:
        if size is None:
            bar.set_description("preparing cards", refresh=not delay)
            cards = []
            for item in items:
                cards.append(store._card(item))
                if len(cards) % 1000 == 0:
                    bar.update(1000)
            bar.update(len(cards) - bar.n)
            bar.set_description("writing cards (one transaction)", refresh=not delay)
            added = store._run(store_all(cards))
            bar.set_description(f"saved cards ({added} new)", refresh=not delay)
            return added
        added = 0
        iterator = iter(items)
        while batch := [store._card(item) for item in islice(iterator, size)]:
            added += store._run(store_all(batch))
            bar.update(len(batch))
        bar.set_description(f"saved cards ({added} new)", refresh=not delay)
        return added
