"""Hash ranges: how two stores are compared without reading either whole (``mcard.sync``).

A range is every hash that starts with a hex prefix (``""`` is every hash). Its digests are
sums, so that a database computes them in one pass in any order, without sorting. Each hash
stands for two integers, its hex digits 1-15 and 16-30 (a card's hash is already a uniform
digest); each sighting for those of its key (itself a digest of the sighting); each tag for the
halves of the MD5 of ``t<hash>:<tag>`` as signed 64-bit integers (text that is not hex: hashes
and keys of rows written by other tools too, with ``c``/``s`` before them). ``cards`` is the
count and two sums of the range's hashes, ``labels`` two sums of its sightings and tags. Two
sums of 60 bits make a chance match of different contents negligible (about 2**-120). Stores of
different engines compute the same sums, so they compare.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Optional

from mcard.domain.models.exceptions import ValidationError

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
            raise ValidationError(f"a range is a prefix of up to {MAX_DEPTH} lowercase hex digits, got {prefix!r}")
    for before, after in zip(checked, checked[1:]):
        if after.startswith(before):
            raise ValidationError(f"ranges must not overlap: {before!r} holds {after!r}")
    if depth is not None:
        if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
            raise ValidationError(f"depth is a prefix length from 1 to {MAX_DEPTH}, got {depth!r}")
        if any(len(prefix) >= depth for prefix in checked):
            raise ValidationError(f"depth {depth} must be longer than every range's prefix")
    return checked


_HEX_DIGITS: Final = "0123456789abcdef"


def text_value(kind: str, text: str) -> tuple[int, int]:
    """What one line adds to a digest: the halves of the MD5 of ``kind + text`` as signed 64-bit
    integers (as PostgreSQL reads ``('x' || substr(md5(line), 1, 16))::bit(64)::bigint``)."""
    digest = hashlib.md5((kind + text).encode("utf-8", "surrogatepass"), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big", signed=True), int.from_bytes(digest[8:], "big", signed=True)


def hex_value(kind: str, text: str) -> tuple[int, int]:
    """What a hash (``kind`` "c") or a sighting's key ("s") adds: its hex digits 1-15 and 16-30,
    or, when those are not lowercase hex, ``text_value``."""
    head = text[:30]
    if len(head) == 30 and not head.strip(_HEX_DIGITS):
        return int(head[:15], 16), int(head[15:], 16)
    return text_value(kind, text)


class Sums:
    """The digests of ranges being read: fed hashes and labels in any order."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self._cards: dict[str, list[int]] = {}
        self._labels: dict[str, list[int]] = {}

    def add_hashes(self, hashes: Iterable[str]) -> None:
        depth, cards, digits = self.depth, self._cards, _HEX_DIGITS
        for hash_str in hashes:
            head = hash_str[:30]
            if len(head) == 30 and not head.strip(digits):  # hex_value, inlined: a million calls
                first, second = int(head[:15], 16), int(head[15:], 16)
            else:
                first, second = text_value("c", hash_str)
            found = cards.get(hash_str[:depth])
            if found is None:
                cards[hash_str[:depth]] = [1, first, second]
            else:
                found[0] += 1
                found[1] += first
                found[2] += second

    def add_sightings(self, pairs: Iterable[tuple[str, str]]) -> None:
        """(hash, key) of sightings of stored cards."""
        self._add_labels((hash_str, hex_value("s", key)) for hash_str, key in pairs)

    def add_tags(self, pairs: Iterable[tuple[str, str]]) -> None:
        """(hash, tag) of tags of stored cards."""
        self._add_labels((hash_str, text_value("t", f"{hash_str}:{tag}")) for hash_str, tag in pairs)

    def _add_labels(self, values: Iterable[tuple[str, tuple[int, int]]]) -> None:
        for hash_str, (first, second) in values:
            found = self._labels.setdefault(hash_str[:self.depth], [0, 0])
            found[0] += first
            found[1] += second

    def result(self) -> dict[str, RangeDigest]:
        return {
            group: RangeDigest(count, f"{first}:{second}", "{}:{}".format(*self._labels.get(group, (0, 0))))
            for group, (count, first, second) in self._cards.items()
        }


def digest_groups(
    depth: int,
    hashes: Iterable[str],
    sightings: Iterable[tuple[str, str]],
    tags: Iterable[tuple[str, str]],
) -> dict[str, RangeDigest]:
    """The digests of each range of prefix length ``depth`` that holds a card, from the hashes of
    the cards and the (hash, key) of their sightings and (hash, tag) of their tags. Sightings and
    tags of hashes not among ``hashes`` are left out."""
    known = set(hashes)
    sums = Sums(depth)
    sums.add_hashes(known)
    sums.add_sightings((h, key) for h, key in sightings if h in known)
    sums.add_tags((h, tag) for h, tag in tags if h in known)
    return sums.result()
