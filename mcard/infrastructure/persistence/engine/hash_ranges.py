"""Hash ranges: how two stores are compared without reading either whole (``mcard.sync``).

A range is every hash that starts with a hex prefix (``""`` is every hash). It has two digests,
SHA-256 of canonical texts: ``cards`` of its hashes, one a line, and ``labels`` of the
``hash:key`` lines of its sightings, an empty line, then the ``hash:tag`` lines of its tags; the
lines sorted by code point (as SQL's binary or "C" collation sorts UTF-8). Two stores hold the
same cards, sightings and tags in a range exactly when its digests match; every engine computes
the same texts, so stores of different engines compare.
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


def digest_groups(
    depth: int,
    hashes: Iterable[str],
    sightings: Iterable[tuple[str, str]],
    tags: Iterable[tuple[str, str]],
) -> dict[str, RangeDigest]:
    """The digest of each range of prefix length ``depth`` that holds a card, from the hashes of
    the cards and the (hash, key) of their sightings and (hash, tag) of their tags. Sightings and
    tags of hashes not among ``hashes`` are left out."""
    known = set(hashes)
    rows = [(hash_str[:depth], 0, hash_str) for hash_str in known]
    for part, pairs in enumerate((sightings, tags), 1):
        rows.extend((h[:depth], part, f"{h}:{label}") for h, label in pairs if h in known)
    digester = Digester()
    digester.add_rows(sorted(rows))
    return digester.result()


class Digester:
    """Range digests from rows (range, part, line) sorted by all three: part 0 a hash, 1 a
    sighting's ``hash:key``, 2 a tag's ``hash:tag``. Fed in chunks, it keeps one range's state."""

    def __init__(self) -> None:
        self._found: dict[str, RangeDigest] = {}
        self._group: Optional[str] = None
        self._cards = hashlib.sha256()
        self._labels = hashlib.sha256()
        self._part = 0
        self._first = True
        self._count = 0

    def add_rows(self, rows: Iterable[tuple[str, int, str]]) -> None:
        for group, part, line in rows:
            if group != self._group:
                self._finish()
                self._group, self._part, self._first, self._count = group, 0, True, 0
                self._cards, self._labels = hashlib.sha256(), hashlib.sha256()
            if part != self._part:
                if part == 2:
                    self._labels.update(b"\n\n")
                self._part, self._first = part, True
            update = self._labels.update if part else self._cards.update
            if not self._first:
                update(b"\n")
            update(line.encode("utf-8", "surrogatepass"))
            self._first = False
            self._count += part == 0

    def _finish(self) -> None:
        if self._group is None or not self._count:
            return
        if self._part < 2:
            self._labels.update(b"\n\n")
        self._found[self._group] = RangeDigest(self._count, self._cards.hexdigest(), self._labels.hexdigest())

    def result(self) -> dict[str, RangeDigest]:
        self._finish()
        self._group = None
        return self._found


def range_digest(hashes: Sequence[str], sightings: Sequence[str], tags: Sequence[str]) -> RangeDigest:
    """The digests of one range from its sorted lines (the definition ``Digester`` streams)."""
    labels = "\n".join(sightings) + "\n\n" + "\n".join(tags)
    return RangeDigest(
        len(hashes),
        hashlib.sha256("\n".join(hashes).encode("utf-8", "surrogatepass")).hexdigest(),
        hashlib.sha256(labels.encode("utf-8", "surrogatepass")).hexdigest(),
    )
