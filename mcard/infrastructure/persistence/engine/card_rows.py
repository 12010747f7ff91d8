"""Cards to and from the stored columns, shared by the engines.

``hash, content, is_text, g_time, hash_algorithm, size, content_type``: content as bytes (UTF-8
for text), ``g_time`` as integer microseconds since the Unix epoch.
"""

from __future__ import annotations

from typing import Any, Optional

from mcard.domain.models.card import MCard, to_micros

Row = tuple[str, bytes, int, int, str, int, Optional[str]]


def card_row(card: MCard) -> Row:
    return (
        card.hash, card.content_bytes, int(card.is_text),
        to_micros(card.g_time), card.hash_algorithm, card.size, card.content_type,
    )


def row_card(row: Row, _restore: Any = MCard.restore) -> MCard:
    """A card from a row of the stored columns (the time stays microseconds until it is read)."""
    hash_str, data, is_text, g_time, algorithm, size, content_type = row
    content = data.decode("utf-8") if is_text else data
    return _restore(content, hash_str, g_time, algorithm, size, content_type)
