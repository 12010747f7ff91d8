"""Hash ranges: how two stores are compared without reading either whole (``mcard.sync``).

A range is every hash that starts with a hex prefix (``""`` is every hash). Its digests are
sums, so that a database computes them in one pass in any order, without sorting. Each hash
stands for the number its first 30 hex digits write (a card's hash is already a uniform
digest), each sighting for that of its key (itself a digest of the sighting) times its
``seen_at`` (microseconds, plus ``SEEN_OFFSET``), each tag for that of the first 30 hex digits of
the MD5 of ``t<hash>:<tag>``. So a sighting both stores hold, first seen at different times on
each, makes its range differ, and a sync brings over the earlier time. So do hashes and keys that are not
lowercase hex all through, rows of other tools, with ``c`` or ``s`` in front: a hash with a
space after it, or in upper case, must not stand for the card it copies, or a store holding
only that row would seem to hold the card. ``cards`` is the sum over the
range's hashes, ``labels`` over its sightings and tags, both exact: a chance match of different
contents is about 2**-120 (a key's number is uniform: times weigh it, they cannot cancel it out). Stores of different engines compute the same sums, so they compare.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from itertools import groupby, repeat
from operator import itemgetter
from dataclasses import dataclass
from typing import Final

from mcard.domain.models.exceptions import brief, ValidationError

MAX_DEPTH: Final = 128
"""The longest hash (SHA-512) has this many hex digits: a deeper prefix names one hash at most."""
_PREFIX: Final = re.compile(r"[0-9a-f]{0,128}")


@dataclass(frozen=True)
class RangeDigest:
    """How many cards a range holds, the digest of their hashes and that of their sightings and tags."""

    count: int
    cards: str
    labels: str


def range_end(prefix: str) -> str:
    """The first string above every lowercase hex hash that starts with ``prefix``."""
    return prefix + "g"


def check_ranges(prefixes: object, depth: object = None) -> list[str]:
    """Distinct lowercase hex prefixes, none the prefix of another (ranges that do not overlap),
    each shorter than ``depth`` when one is given."""
    if isinstance(prefixes, (str, bytes)) or not isinstance(prefixes, Iterable):
        raise ValidationError(f"ranges are given as an iterable of hex prefixes, got {type(prefixes).__name__}")
    checked = sorted(set(prefixes))
    for prefix in checked:
        if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
            raise ValidationError(f"a range is a prefix of up to {MAX_DEPTH} lowercase hex digits, got {brief(prefix)}")
    for before, after in zip(checked, checked[1:]):
        if after.startswith(before):
            raise ValidationError(f"ranges must not overlap: {before!r} holds {after!r}")
    if depth is not None:
        if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
            raise ValidationError(f"depth is a prefix length from 1 to {MAX_DEPTH}, got {brief(depth)}")
        if any(len(prefix) >= depth for prefix in checked):
            raise ValidationError(f"depth {depth} must be longer than every range's prefix")
    return checked


_HEX_DIGITS: Final = "0123456789abcdef"
_NOT_HEX: Final = b"0123456789abcdef\n"
SEEN_OFFSET: Final = 4_611_686_018_427_387_904
"""2**62, added to a sighting's ``seen_at`` before it weighs its key: every time a sighting can hold
(years 1 to 9999) then counts, the epoch's zero too."""
DIGITS: Final = 30
"""Hex digits a line stands for: two 60-bit halves, as PostgreSQL sums them in ``bigint``."""


def md5_number(kind: str, text: str) -> int:
    """The number the first ``DIGITS`` hex digits of the MD5 of ``kind + text`` write."""
    data = (kind + text).encode("utf-8", "surrogatepass")
    return int(hashlib.md5(data, usedforsecurity=False).hexdigest()[:DIGITS], 16)


def value(kind: str, text: str) -> int:
    """What a hash or a key adds to a digest: the number its first ``DIGITS`` hex digits write,
    or, unless it is lowercase hex all through, ``md5_number``."""
    if len(text) < DIGITS or text.strip(_HEX_DIGITS):
        return md5_number(kind, text)
    return int(text[:DIGITS], 16)


def all_hex(lines: list[str], text: str) -> bool:
    """Whether every line (``text`` is them joined by newlines) is lowercase hex of at least
    ``DIGITS`` digits: then each stands for its own digits, without a check per line."""
    return bool(lines) and min(map(len, lines)) >= DIGITS and text.isascii() and not text.encode().translate(None, _NOT_HEX)


class Sums:
    """The digests of ranges being read: fed hashes and labels in any order."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self._count: dict[str, int] = {}
        self._cards: dict[str, int] = {}
        self._labels: dict[str, int] = {}

    def add_hashes(self, hashes: list[str], checked: bool = False) -> None:
        """Hashes of stored cards; ``checked``: ``all_hex`` holds for them."""
        count, cards = self._count, self._cards
        for group, run in groupby(hashes, itemgetter(slice(0, self.depth))):
            members = list(run)
            total = sum(map(int, [h[:DIGITS] for h in members], repeat(16))) if checked else sum(
                value("c", h) for h in members
            )
            count[group] = count.get(group, 0) + len(members)
            cards[group] = cards.get(group, 0) + total

    def add_sightings(self, rows: Iterable[tuple[str, str, int]]) -> None:
        """(hash, key, seen_at in microseconds) of sightings of stored cards."""
        self._add_labels((hash_str, value("s", key) * (seen_at + SEEN_OFFSET)) for hash_str, key, seen_at in rows)

    def add_tags(self, pairs: Iterable[tuple[str, str]]) -> None:
        """(hash, tag) of tags of stored cards."""
        self._add_labels((hash_str, md5_number("t", f"{hash_str}:{tag}")) for hash_str, tag in pairs)

    def _add_labels(self, values: Iterable[tuple[str, int]]) -> None:
        labels, depth = self._labels, self.depth
        for hash_str, number in values:
            labels[hash_str[:depth]] = labels.get(hash_str[:depth], 0) + number

    def result(self) -> dict[str, RangeDigest]:
        labels = self._labels
        return {
            group: RangeDigest(count, str(self._cards[group]), str(labels.get(group, 0)))
            for group, count in self._count.items()
        }


def digest_groups(
    depth: int,
    hashes: Iterable[str],
    sightings: Iterable[tuple[str, str, int]],
    tags: Iterable[tuple[str, str]],
) -> dict[str, RangeDigest]:
    """The digests of each range of prefix length ``depth`` that holds a card, from the hashes of
    the cards, the (hash, key, seen_at in microseconds) of their sightings and the (hash, tag) of
    their tags. Sightings and tags of hashes not among ``hashes`` are left out."""
    known = set(hashes)
    sums = Sums(depth)
    sums.add_hashes(sorted(known))
    sums.add_sightings(row for row in sightings if row[0] in known)
    sums.add_tags((h, tag) for h, tag in tags if h in known)
    return sums.result()
