"""Cards as a pandas DataFrame with a fixed schema, built column by column.

============  ====================  ===============================================
column        dtype                 meaning
============  ====================  ===============================================
hash          string                hex digest of the content
g_time        datetime64[us, UTC]   when the content was first stored
size          int64                 content size in bytes (UTF-8 for text); Int64 with the
                                    size missing where a row another tool wrote has none
kind          string                ``"text"`` or ``"bytes"``
content_type  string                MIME type, detected once when the card was made
name          string                the latest name it was seen under (missing if none)
tags          object                its tags, a sorted tuple (empty if none)
preview       string                one line: text start, or content type and hex
snippet       string (on request)   for a search: the text around the matches, «marked»
content       object (on request)   the content itself, ``str`` or ``bytes``
============  ====================  ===============================================

Name and tags come from the store (``NotebookCards.list_df`` and friends look them up); a
frame built from cards alone has them missing and empty.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Final, Optional

from mcard.domain.models.card import MAX_MICROS, MIN_MICROS, MCard
from mcard.domain.models.exceptions import StorageError
from mcard.infrastructure.persistence.engine.card_rows import Row
from mcard.extras import missing_extra

try:
    import numpy as np
    import pandas as pd
except ModuleNotFoundError as exc:
    raise missing_extra(exc, "DataFrames (list_df, search_df, to_dataframe)", "notebook") from exc

from .arguments import card_list
from .display import bytes_preview, preview, preview_head_bytes, text_preview

if TYPE_CHECKING:
    from mcard.domain.models.sighting import Sighting

    from .labels import Labels

COLUMNS: Final = ("hash", "g_time", "size", "kind", "content_type", "name", "tags", "preview")
TIME_DTYPE: Final = "datetime64[us, UTC]"
NAT: Final = np.iinfo(np.int64).min
"""The int64 that ``datetime64`` reads as NaT."""


def _objects(values: list[object]) -> pd.Series:
    """An object column as it is: a frame made of an object array of strings alone would read
    it as pandas 3's str dtype, so the content column's dtype would follow the cards."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return pd.Series(array, dtype=object, copy=False)


def to_dataframe(
    cards: Iterable[MCard],
    *,
    content: bool = False,
    labels: Optional[Labels] = None,
    snippet: Optional[Callable[[MCard], object]] = None,
) -> pd.DataFrame:
    """One row per card (schema in this module's docstring); ``content=True`` adds the content.
    ``labels``: the cards' names and tags (``NotebookCards.labels``); ``snippet`` gives a card's snippet (or None)
    and adds that column.

    Built from a few list comprehensions and one vectorised time conversion: no per-row
    dict or Series, so 100,000 cards take a fraction of a second.
    """
    cards = card_list(cards, "to_dataframe")
    columns = _columns(
        [card.hash for card in cards],
        _card_times(cards),
        [card.size for card in cards],
        [card.is_text for card in cards],
        [card.content_type for card in cards],
        [preview(card) for card in cards],
        labels,
    )
    if snippet is not None:
        marked = [snippet(card) for card in cards]
        columns["snippet"] = pd.array([None if m is None else str(m) for m in marked], dtype="string")
    if content:
        columns["content"] = _objects([card.content for card in cards])
    return pd.DataFrame(columns)


def heads_frame(rows: Sequence[Row], labels: Optional[Labels] = None) -> pd.DataFrame:
    """The frame ``to_dataframe`` makes of the cards, made from their stored rows with the
    content cut to its first ``preview_head_bytes()`` bytes (``list_heads``): no card is built
    and no content is read whole, which more than halves the time for a store of small cards."""
    hashes, heads, texts, micros, _, sizes, types = ([row[i] for row in rows] for i in range(7))
    whole = preview_head_bytes()
    previews = [
        text_preview(head.decode("utf-8", "replace"), shown <= whole) if text else bytes_preview(head, shown, content_type)
        for head, text, shown, content_type in zip(heads, texts, _shown_sizes(sizes, whole), types)
    ]
    return pd.DataFrame(_columns(hashes, _times(micros), sizes, texts, types, previews, labels))


def _shown_sizes(sizes: list[object], whole: int) -> Iterable[int]:
    """Sizes for the previews; one a row another tool wrote does not give as a number counts
    as larger than the head read, so its preview says that more may follow."""
    return (size if size.__class__ is int else whole + 1 for size in sizes)


def _card_times(cards: list[MCard]) -> pd.DatetimeIndex:
    """The cards' times; one a row another tool wrote does not give as a time is missing (NaT)."""
    try:
        return pd.DatetimeIndex([card.g_time for card in cards], dtype=TIME_DTYPE)
    except (TypeError, ValueError, OverflowError, StorageError):
        return pd.DatetimeIndex([_time_or_none(card) for card in cards], dtype=TIME_DTYPE)


def _time_or_none(card: MCard) -> Optional[datetime]:
    try:
        return card.g_time
    except StorageError:  # a time no card can have
        return None


def _sizes(sizes: list[object]) -> object:
    """Sizes as int64; where a row another tool wrote holds no whole number, as Int64 with that
    size missing."""
    try:
        return np.array(sizes, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        return pd.array([size if size.__class__ is int and -2**63 <= size < 2**63 else None for size in sizes],
                        dtype="Int64")


def _times(micros: list[object]) -> pd.DatetimeIndex:
    """Stored microseconds since the epoch as times; a value another tool wrote that is not
    one a card can have (``TIME_RANGE``) is missing (NaT), as in ``to_dataframe``."""
    try:
        values = np.array(micros, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        values = np.array([m if m.__class__ is int and MIN_MICROS <= m <= MAX_MICROS else NAT for m in micros],
                          dtype=np.int64)
    values[(values < MIN_MICROS) | (values > MAX_MICROS)] = NAT
    return pd.DatetimeIndex(values.view("datetime64[us]")).tz_localize("UTC")


def _columns(
    hashes: list[str],
    times: pd.DatetimeIndex,
    sizes: list[int],
    texts: list[object],
    types: list[Optional[str]],
    previews: list[str],
    labels: Optional[Labels],
) -> dict[str, object]:
    columns: dict[str, object] = {
        "hash": pd.array(hashes, dtype="string"),
        "g_time": times,
        "size": _sizes(sizes),
        "kind": pd.array(["text" if text else "bytes" for text in texts], dtype="string"),
        "content_type": pd.array(types, dtype="string"),
    }
    if labels is None:
        columns["name"] = pd.array([None] * len(hashes), dtype="string")
        columns["tags"] = _objects([()] * len(hashes))
    else:
        columns["name"] = pd.array([labels.name(key) for key in hashes], dtype="string")
        tagged = labels.tags
        columns["tags"] = _objects([tuple(tagged[key]) if key in tagged else () for key in hashes])
    columns["preview"] = pd.array(previews, dtype="string")
    return columns


def duplicates_frame(found: Iterable[tuple[Row, list[Sighting]]]) -> pd.DataFrame:
    """One row per card seen under several names or paths (see ``duplicates_df``), from its
    stored row (``card_rows.Row``) and its sightings."""
    rows = sorted(found, key=lambda item: (-len(item[1]), item[0][0]))
    return pd.DataFrame(
        {
            "hash": pd.array([row[0] for row, _ in rows], dtype="string"),
            "names": _objects([sorted({s.name for s in seen if s.name}) for _, seen in rows]),
            "paths": _objects([sorted({s.path for s in seen if s.path}) for _, seen in rows]),
            "size": np.fromiter((row[5] for row, _ in rows), dtype=np.int64, count=len(rows)),
            "sightings": np.fromiter((len(seen) for _, seen in rows), dtype=np.int64, count=len(rows)),
        }
    )

