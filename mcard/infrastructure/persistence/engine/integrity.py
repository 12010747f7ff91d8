"""What ``verify()`` reports: every stored card whose content no longer matches its hash."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Optional

from mcard.domain.models.card import (
    DIGEST_HEX_LENGTHS,
    HASH_ALGORITHMS,
    MAX_MICROS,
    MIN_MICROS,
    TIME_RANGE,
    MCard,
    is_digest,
    is_mime_type,
)
from mcard.domain.models.sighting import MAX_LABEL, MAX_TAG, stored_tag_fault
from mcard.domain.shown import counted

StoredTag = tuple[str | bytes, str | bytes]
"""A tag as stored, for ``remove_damaged``: its hash and tag, each as text, or as bytes when
SQLite holds it otherwise than as UTF-8 text (another tool's)."""


@dataclass(frozen=True)
class DamagedCard:
    """A stored row that failed verification, and why: a card (``part="card"``), or a sighting
    or tag of the card ``hash`` (``part`` ``"sighting"`` or ``"tag"``, ``label`` the sighting's
    key or the tag as stored), which ``remove_damaged`` deletes without its card."""

    hash: str
    reason: str
    part: str = "card"
    label: Optional[str] = None


@dataclass
class VerifyReport:
    """The outcome of ``verify()``: how many cards were re-hashed and which ones are damaged."""

    checked: int = 0
    damaged: list[DamagedCard] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.damaged

    @property
    def damaged_count(self) -> int:
        return len(self.damaged)

    def __str__(self) -> str:
        if self.ok:
            return f"verified {counted(self.checked, 'card')}: all match their hashes"
        listed = "; ".join(f"{card.hash}: {card.reason}" for card in self.damaged[:10])
        more = f" (and {len(self.damaged) - 10:,} more)" if len(self.damaged) > 10 else ""
        return f"verified {counted(self.checked, 'card')}: {len(self.damaged):,} damaged: {listed}{more}"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's display: the sentence, not the fields."""
        printer.text(str(self))


NOT_UTF8_TEXT: Final = "a stored text card is not valid UTF-8 (damaged: verify() names it)"
"""What a read that meets such a row says, without quoting the bytes."""
NOT_UTF8_LABEL: Final = "a stored name or tag is not valid UTF-8 (damaged: verify() names it)"
"""The same of a sighting or tag another tool stored as such text: the cards are sound."""
FACET_VALUE: Final = "facet_value"
"""The column facets count values in (content types, tags), named so that such text met
there is said to be one of those."""
NOT_UTF8_FACET: Final = "a stored content type or tag is not valid UTF-8 (damaged: verify() names it)"


def damaged_rows(rows: Iterable[Sequence[Any]]) -> list[DamagedCard]:
    """The rows of ``check_stored``'s columns that are damaged, each with why."""
    found = []
    for row in rows:
        reason = check_stored(*row)
        if reason is not None:
            found.append(DamagedCard(row[0], reason))
    return found


def check_stored(
    hash_str: object, data: object, is_text: object, algorithm: object, size: object,
    g_time: object, content_type: object,
) -> Optional[str]:
    """Why a stored row is damaged, or None when it is a true card: its content still hashes
    to its hash, and its size, time and content type are what a card can have. Every value
    may come from another tool, so none is trusted to have the right type."""
    if not isinstance(algorithm, str) or algorithm not in HASH_ALGORITHMS:
        return f"unknown hash algorithm {algorithm!r}"
    if not is_digest(hash_str, algorithm):
        return f"the hash is not a {algorithm} digest ({DIGEST_HEX_LENGTHS[algorithm]} lowercase hex digits)"
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return f"the content is stored as {type(data).__name__}, not as bytes"
    data = bytes(data)
    if hashlib.new(algorithm, data).hexdigest() != hash_str:
        return f"content no longer hashes to its {algorithm} hash"
    if not data:
        return "the content is empty (no card is empty)"
    if is_text not in (0, 1):  # True and False are 1 and 0
        return f"recorded kind {is_text!r} is neither text (1) nor bytes (0)"
    if size.__class__ is not int or len(data) != size:
        return f"recorded size {size!r} but the content has {len(data)} B"
    if is_text:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return f"text content is not valid UTF-8: {exc.reason}"
    if g_time.__class__ is not int or not MIN_MICROS <= g_time <= MAX_MICROS:  # type: ignore[operator]
        return f"recorded time {g_time!r} is not a time within {TIME_RANGE}"
    if content_type is not None and not is_mime_type(content_type):
        return f"recorded content type {content_type!r} is not a MIME type"
    return None


@dataclass(frozen=True)
class Repair:
    """A damaged row whose content is whole: the columns it should have. ``true_hash`` is the
    hash its content names; where it differs from ``hash`` (the row's, upper case or with
    spaces), the card goes under ``true_hash`` and the row is removed."""

    hash: str
    true_hash: str
    content: bytes
    is_text: bool
    algorithm: str
    size: int
    g_time: int
    content_type: Optional[str]

    @property
    def in_place(self) -> bool:
        return self.hash == self.true_hash

    def card(self) -> MCard:
        """The card the row stands for, under its true hash."""
        content = self.content.decode("utf-8") if self.is_text else self.content
        return MCard.restore(content, self.true_hash, self.g_time, self.algorithm, self.size, self.content_type)


_NUMBER_START: Final = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _read_as_text(is_text: object) -> bool:
    """The truth SQL gives a stored kind, as reads use it: a text is the number it starts with."""
    if isinstance(is_text, (bool, int, float)):
        return bool(is_text)
    if isinstance(is_text, str):
        start = _NUMBER_START.match(is_text)
        return start is not None and float(start[0]) != 0
    return False


def _mime_type_of(value: object) -> Optional[str]:
    """A stored content type as a MIME type (``IMAGE/JPEG; charset=x`` is ``image/jpeg``), or
    None for one to detect again."""
    if not isinstance(value, str):
        return None
    bare = value.split(";", 1)[0].strip().lower()
    return bare if is_mime_type(bare) else None


def repair_of(row: Sequence[Any], now: int) -> Optional[Repair]:
    """The repair of a damaged row (``check_stored``'s columns) whose content is the one its
    hash names, or None: the row is sound, or its content is not whole (removal is all that is
    left). Readers keep seeing what they saw: a kind as SQL reads it (a text that is not UTF-8
    becomes bytes), the content's own size; a time no card can have becomes ``now``."""
    hash_str, data, is_text, algorithm, size, g_time, content_type = row
    if check_stored(*row) is None or not isinstance(data, (bytes, bytearray, memoryview)) or not data:
        return None
    name = algorithm.strip().lower() if isinstance(algorithm, str) else None
    if name not in HASH_ALGORITHMS or not isinstance(hash_str, str):
        return None
    data = bytes(data)
    true_hash = hashlib.new(name, data).hexdigest()
    if hash_str.strip().lower() != true_hash:
        return None
    text = _read_as_text(is_text)
    if text:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            text = False
    in_range = g_time.__class__ is int and MIN_MICROS <= g_time <= MAX_MICROS  # type: ignore[operator]
    return Repair(
        hash_str, true_hash, data, text, name, len(data), g_time if in_range else now, _mime_type_of(content_type)
    )


def holds_its_hash(hash_str: object, algorithm: object, size: object, data: object) -> bool:
    """Whether a stored row holds the content its hash names: a write of that content finds it
    already stored only then. Another tool may have put other content, or another size, under
    the hash; its kind, time and content type do not change what the content is."""
    if not isinstance(algorithm, str) or algorithm not in HASH_ALGORITHMS:
        return False
    if not isinstance(data, (bytes, bytearray, memoryview)) or size.__class__ is not int or size != len(data):
        return False
    return hashlib.new(algorithm, data).hexdigest() == hash_str


def held_by_damaged(hash_str: str) -> str:
    """Why a write of ``hash_str``'s content, or of a sighting or tag of it, stored nothing: a row
    another tool changed holds its place."""
    return (
        f"{hash_str} is stored with other content or size (damaged: verify() names it); nothing of"
        " the write was stored: remove the damaged card, then store its content again"
    )


TAGS_LEFT_DECOMPOSED: Final = (
    "%s: an earlier mcard stored some tags decomposed (NFD); opened read-only they are left out"
    " until the store is opened once for writing, which composes them"
)
"""The warning of a read-only open of a store whose tags are not composed yet (``%s``: where)."""

LABEL_FAULTS: Final = {
    "no card": "a {part} of a card that is not stored",
    "not utf-8": "a {part} stored as text that is not UTF-8 (reading it fails until it is removed)",
    "malformed": (
        "a sighting whose fields are not of their kinds, whose size or times no file can have, or whose"
        f" name, path or source is empty, over {MAX_LABEL} characters or holds a control character"
        " (left out when sightings are read)"
    ),
}
"""Why a sighting or tag is damaged, by the code an engine's query gives."""
MAYBE_NOT_A_TAG: Final = f"length(tag) NOT BETWEEN 1 AND {int(MAX_TAG)}"
"""With a test for any character outside printable ASCII and for a space at either end (each
engine writes its own), the stored tags that may not be tags: ``stored_tag_fault`` decides."""


def damaged_labels(rows: Iterable[Sequence[Any]]) -> list[DamagedCard]:
    """The damaged sightings and tags among rows of (hash, part, label, fault): a fault code of
    ``LABEL_FAULTS``, or None for a tag that may not be one, which ``stored_tag_fault`` decides."""
    found = []
    for hash_str, part, label, fault in rows:
        if fault is None:
            not_a_tag = stored_tag_fault(label)
            if not_a_tag is None:
                continue
            reason = f"a tag mcard would not store: {not_a_tag} (left out when tags are read)"
        else:
            reason = LABEL_FAULTS[fault].format(part=part)
        found.append(DamagedCard(hash_str, reason, part, label))
    return found
