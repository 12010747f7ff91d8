"""Hash ranges: how two stores are compared without reading either whole (``mcard.sync``).

A range is every hash that starts with a hex prefix (``""`` is every hash). Its digest is the
SHA-256 of a canonical text: its hashes in order, then ``hash:key`` of its sightings, then
``hash:tag`` of its tags (each sorted, one a line, the parts separated by an empty line). Two
stores hold the same cards, sightings and tags in a range exactly when the digests match; every
engine computes the same text, so stores of different engines compare.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from mcard.domain.models.exceptions import ValidationError

MAX_DEPTH: Final = 128
"""The longest hash (SHA-512) has this many hex digits: a deeper prefix names one hash at most."""
_PREFIX: Final = re.compile(r"[0-9a-f]{0,128}")


@dataclass(frozen=True)
class RangeDigest:
    """How many cards a range holds and the digest of what it holds."""

    count: int
    digest: str


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
    cards: dict[str, list[str]] = {}
    for hash_str in sorted(hashes):
        cards.setdefault(hash_str[:depth], []).append(hash_str)
    labels: dict[str, tuple[list[str], list[str]]] = {group: ([], []) for group in cards}
    known = {hash_str for group in cards.values() for hash_str in group}
    for part, pairs in enumerate((sightings, tags)):
        for hash_str, label in sorted(pairs):
            if hash_str in known:
                labels[hash_str[:depth]][part].append(f"{hash_str}:{label}")
    return {
        group: RangeDigest(len(members), digest_text(members, *labels[group]))
        for group, members in cards.items()
    }


def digest_text(hashes: Sequence[str], sightings: Sequence[str], tags: Sequence[str]) -> str:
    text = "\n".join(hashes) + "\n\n" + "\n".join(sightings) + "\n\n" + "\n".join(tags)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
