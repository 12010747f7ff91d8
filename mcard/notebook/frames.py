"""Cards as a pandas DataFrame with a fixed schema, built column by column.

============  ====================  ===============================================
column        dtype                 meaning
============  ====================  ===============================================
hash          string                hex digest of the content
g_time        datetime64[us, UTC]   when the content was first stored
size          int64                 content size in bytes (UTF-8 for text)
kind          string                ``"text"`` or ``"bytes"``
content_type  string                MIME type, detected once when the card was made
preview       string                one line: text start, or content type and hex
content       object (on request)   the content itself, ``str`` or ``bytes``
============  ====================  ===============================================
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from mcard.domain.models.card import MCard
from mcard.extras import missing_extra

try:
    import numpy as np
    import pandas as pd
except ModuleNotFoundError as exc:
    raise missing_extra(exc, "DataFrames (list_df, search_df, to_dataframe)", "notebook") from exc

from .display import preview

COLUMNS: Final = ("hash", "g_time", "size", "kind", "content_type", "preview")
TIME_DTYPE: Final = "datetime64[us, UTC]"


def to_dataframe(cards: Iterable[MCard], *, content: bool = False) -> pd.DataFrame:
    """One row per card (schema in this module's docstring); ``content=True`` adds the content.

    Built from a few list comprehensions and one vectorised time conversion: no per-row
    dict or Series, so 100,000 cards take a fraction of a second.
    """
    cards = cards if isinstance(cards, list) else list(cards)
    texts = [card.is_text for card in cards]
    columns: dict[str, object] = {
        "hash": pd.array([card.hash for card in cards], dtype="string"),
        "g_time": pd.DatetimeIndex([card.g_time for card in cards], dtype=TIME_DTYPE),
        "size": np.fromiter((card.size for card in cards), dtype=np.int64, count=len(cards)),
        "kind": pd.array(["text" if text else "bytes" for text in texts], dtype="string"),
        "content_type": pd.array([card.content_type for card in cards], dtype="string"),
        "preview": pd.array([preview(card) for card in cards], dtype="string"),
    }
    if content:
        values = np.empty(len(cards), dtype=object)
        values[:] = [card.content for card in cards]
        columns["content"] = values
    return pd.DataFrame(columns)

