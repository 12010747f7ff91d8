"""Cards to and from the stored columns, shared by the engines.

``hash, content, is_text, g_time, hash_algorithm, size, content_type``: content as bytes (UTF-8
for text), ``g_time`` as integer microseconds since the Unix epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any, Final, Optional

from mcard.domain.models.card import MAX_MICROS, MIN_MICROS, MCard, from_micros, to_micros
from mcard.domain.models.sighting import Sighting, is_label

Row = tuple[str, bytes, int, int, str, int, Optional[str]]
MAX_HEAD: Final = 2**31 - 1
"""The longest head a row is cut to: no value is longer on either engine (SQLite's limit;
PostgreSQL's ``bytea`` stops at 1 GB), and neither's ``substr`` takes a larger length."""
_FIELDS: Final = attrgetter("_hash", "_content", "_g_time", "_hash_algorithm", "_size", "_content_type")


def card_row(card: MCard, _fields: Any = _FIELDS) -> Row:
    """The stored columns of ``card``, its fields read in one C call: building rows is most of
    a bulk save's Python time. ``is_text`` is a ``bool`` (SQLite stores it as 1 or 0)."""
    key, content, moment, algorithm, size, kind = _fields(card)
    if kind is None:
        kind = card.content_type
    is_text = isinstance(content, str)
    # an int unless given as a datetime; a row another tool wrote may hold anything (reading
    # g_time raises the card's StorageError then)
    micros = moment if moment.__class__ is int else to_micros(card.g_time)
    return key, content.encode() if is_text else content, is_text, micros, algorithm, size, kind


def head_row(card: MCard, head: int) -> Row:
    """``card_row`` with the content cut to its first ``head`` bytes (``list_heads``)."""
    hash_str, data, is_text, g_time, algorithm, size, content_type = card_row(card)
    return hash_str, data[:head], is_text, g_time, algorithm, size, content_type


def row_card(row: Row, _restore: Any = MCard.restore) -> MCard:
    """A card from a row of the stored columns (the time stays microseconds until it is read)."""
    hash_str, data, is_text, g_time, algorithm, size, content_type = row
    content = data.decode("utf-8") if is_text else data
    return _restore(content, hash_str, g_time, algorithm, size, content_type)


def row_cards(rows: Any, _restore: Any = MCard.restore) -> list[MCard]:
    """``row_card`` of each row, in one loop that unpacks each row in place."""
    return [
        _restore(data.decode("utf-8") if is_text else data, hash_str, g_time, algorithm, size, content_type)
        for hash_str, data, is_text, g_time, algorithm, size, content_type in rows
    ]


def by_hash(cards: Sequence[MCard], _hash_of: Any = attrgetter("_hash")) -> dict[str, MCard]:
    """``cards`` keyed by hash, the dict built in C: a Python loop reading each card's
    ``hash`` held the event loop ~0.3 us a card (a ``get_many`` of 100,000: ~30 ms)."""
    return dict(zip(map(_hash_of, cards), cards))


def stamped_cards(rows: Any, _restore: Any = MCard.restore) -> list[MCard]:
    """Cards from rows of (change stamp, the stored columns), as ``row_card`` builds them:
    one loop that unpacks each row in place, without a slice per row (a page of 1,000 rows
    is ~15% faster to build)."""
    return [
        _restore(data.decode("utf-8") if is_text else data, hash_str, g_time, algorithm, size, content_type)
        for _, hash_str, data, is_text, g_time, algorithm, size, content_type in rows
    ]


def _micros(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and MIN_MICROS <= value <= MAX_MICROS


def row_sighting(row: tuple[Any, ...]) -> Optional[Sighting]:
    """A sighting from its stored columns (``hash, name, path, size, mtime, source, seen_at``),
    or None for a row another tool wrote that ``Sighting.of`` would refuse (``verify`` names it)."""
    hash_str, name, path, size, mtime, source, seen_at = row
    texts_ok = is_label(name) and is_label(path) and is_label(source)
    size_ok = size is None or (isinstance(size, int) and not isinstance(size, bool) and size >= 0)
    if not (isinstance(hash_str, str) and texts_ok and size_ok and _micros(seen_at) and (mtime is None or _micros(mtime))):
        return None
    return Sighting(hash_str, name, path, size, None if mtime is None else from_micros(mtime), source, from_micros(seen_at))
