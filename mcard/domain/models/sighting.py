"""What is learned about a card beside its content: where it was seen, and what people call it.

A card's identity stays its content hash. A ``Sighting`` records one time its content was seen
with a name (a file in an import, an upload, a caller's label); a tag is a word attached to a
hash. Both are mutable knowledge about the content, never part of it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Final, Optional, TypeGuard

from .card import format_time, stored_time
from .exceptions import brief, ValidationError

MAX_TAG: Final = 200
MAX_LABEL: Final = 4096
"""Longest name, path or source a sighting keeps (a path of a deep tree fits)."""


_NOT_LABEL_TEXT: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""Control characters (Unicode's Cc) and lone surrogates: no tag, name, path or source holds one."""


def composed(text: str) -> str:
    """``text`` in Unicode's composed form (NFC): ``café`` typed on a keyboard and ``café`` as a
    macOS file name (``e`` and a combining accent, NFD) are then the same text."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def check_tag(tag: object) -> str:
    """A tag as stored: a string without control characters, surrounding spaces removed,
    ``composed`` (so ``café`` is one tag however it was typed), non-empty, at most ``MAX_TAG``
    characters."""
    return checked_tag_text(tag, "tag", MAX_TAG)


def checked_tag_text(value: object, noun: str, longest: int) -> str:
    """``value`` kept as ``check_tag`` keeps a tag, at most ``longest`` characters; else a
    ``ValidationError`` that calls it a ``noun`` (a tag, a pattern of tags)."""
    if not isinstance(value, str):
        raise ValidationError(f"a {noun} is a string, not {type(value).__name__}")
    text = composed(value.strip())
    if not text:
        raise ValidationError(f"a {noun} must not be empty")
    if len(text) > longest:
        raise ValidationError(f"a {noun} is at most {longest} characters, got {len(text)}")
    if _NOT_LABEL_TEXT.search(text):
        raise ValidationError(f"a {noun} must not hold control characters or lone surrogates: {brief(text)}")
    return text


def stored_tag_fault(tag: object) -> Optional[str]:
    """Why a tag as stored is not one ``check_tag`` would store (another tool wrote it), or None."""
    if isinstance(tag, str) and tag.isascii() and tag.isprintable() and 0 < len(tag) <= MAX_TAG and tag.strip() == tag:
        return None  # the common case, decided without a pass per character in Python
    try:
        stored = check_tag(tag)
    except ValidationError as exc:
        return str(exc)
    if stored == tag:
        return None
    spaced = isinstance(tag, str) and tag.strip() != tag
    return "a tag must not start or end with spaces" if spaced else "a tag is stored composed (NFC)"


def escaped(text: str) -> str:
    """``text`` with control characters, and bytes that were not UTF-8 (``os.fsdecode``'s lone
    surrogates), as ``\\xNN`` escapes: how a sighting holds them."""
    return _NOT_LABEL_TEXT.sub(lambda match: f"\\x{ord(match[0]) & 0xFF:02x}", text)


def as_label(text: str) -> str:
    """Text from outside (a file name, a path, a name in a record) as a sighting can hold it:
    ``escaped``, cut to ``MAX_LABEL`` characters."""
    shown = escaped(text)
    return shown if len(shown) <= MAX_LABEL else shown[: MAX_LABEL - 1] + "…"


def is_label(value: object) -> TypeGuard[Optional[str]]:
    """Whether ``value`` is a name, path or source a sighting holds: None, or a non-empty string
    of at most ``MAX_LABEL`` characters without control characters or lone surrogates. Stored
    rows are read by this test, so mcard serves only what ``Sighting.of`` takes."""
    return value is None or (
        isinstance(value, str) and 0 < len(value) <= MAX_LABEL and _NOT_LABEL_TEXT.search(value) is None
    )


def _check_label(name: str, value: object) -> Optional[str]:
    if is_label(value):
        return value
    if not isinstance(value, str) or not value or len(value) > MAX_LABEL:
        raise ValidationError(f"a sighting's {name} is a non-empty string of at most {MAX_LABEL} characters, got {brief(value)}")
    if any("\ud800" <= char <= "\udfff" for char in value):
        raise ValidationError(
            f"a sighting's {name} must not hold lone surrogates, which stand for bytes that were not UTF-8"
            f" (as os.fsdecode and os.listdir give them): write them as \\xNN escapes, as an import does: {brief(value)}"
        )
    raise ValidationError(f"a sighting's {name} must not hold control characters: {brief(value)}")


@dataclass(frozen=True)
class Sighting:
    """One time a card's content was seen: under what ``name`` (a file name), at what ``path``
    (relative to the import's root), how large and last modified when (``size``, ``mtime``),
    from what ``source`` (the import's root, ``upload``, or the caller's word), and when
    (``seen_at``). Times are aware UTC datetimes."""

    hash: str
    name: Optional[str]
    path: Optional[str]
    size: Optional[int]
    mtime: Optional[datetime]
    source: Optional[str]
    seen_at: datetime

    @classmethod
    def of(
        cls,
        hash_str: str,
        *,
        name: Optional[str] = None,
        path: Optional[str] = None,
        size: Optional[int] = None,
        mtime: Optional[datetime] = None,
        source: Optional[str] = None,
        seen_at: Optional[datetime] = None,
    ) -> Sighting:
        """A checked sighting (``seen_at`` defaults to now)."""
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < 2**63):
            raise ValidationError(f"a sighting's size is a byte count (0 to 2**63 - 1), got {brief(size)}")
        return cls(
            hash_str,
            _check_label("name", name),
            _check_label("path", path),
            size,
            None if mtime is None else stored_time(mtime, "mtime"),
            _check_label("source", source),
            datetime.now(timezone.utc) if seen_at is None else stored_time(seen_at, "seen_at"),
        )

    @functools.cached_property
    def key(self) -> str:
        """What makes two sightings the same one (``seen_at`` aside): the same content seen
        under the same name, path, size, mtime and source. Seen again, only the first time is
        kept, so importing a folder twice, or syncing two stores, records nothing new. Made
        once per sighting: a save reads it up to four times."""
        mtime = None if self.mtime is None else format_time(self.mtime)
        identity = json.dumps([self.hash, self.name, self.path, self.size, mtime, self.source])
        return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]
