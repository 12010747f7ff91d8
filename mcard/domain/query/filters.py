"""Filters every listing takes: content type, size, tags, sighting names, time."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, Optional

from ..models.card import MAX_MICROS, to_micros, to_utc
from ..models.exceptions import ValidationError, brief
from ..models.sighting import MAX_LABEL, MAX_TAG, check_tag, checked_tag_text, composed, escaped
from ..numbers import whole_number

MAX_SIZE: Final = 2**63 - 1
_TYPE: Final = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/(\*|[a-z0-9][a-z0-9!#$&^_.+-]{0,126})")


def _size(name: str, value: object) -> Optional[int]:
    if value is None:
        return None
    size = whole_number(value)
    if size is None or not 0 <= size <= MAX_SIZE:
        raise ValidationError(f"{name} must be a byte count from 0 to 2**63-1, got {brief(value)}")
    return size


def _strings(name: str, value: object, check: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable) or isinstance(items, bytes):
        raise ValidationError(f"{name} must be a string or strings, got {brief(value)}")
    return tuple(dict.fromkeys(check(item) for item in items))


def check_glob(pattern: object) -> str:
    """A glob over sighting names (``*``, ``?``, ``[abc]``, ``[!abc]``), as ``fnmatchcase``; its
    control characters and bytes that were not UTF-8 ``escaped``, as an imported name holds them,
    and ``composed``: it matches names as they read composed, whichever form they were seen in."""
    if not isinstance(pattern, str) or not pattern:
        raise ValidationError(f"a name pattern is a non-empty glob such as '*.png', got {brief(pattern)}")
    pattern = composed(escaped(pattern))
    if len(pattern) > MAX_LABEL:
        raise ValidationError(f"a name pattern is at most {MAX_LABEL} characters (as a name), got {len(pattern)}")
    return pattern


GLOB_CHARACTERS: Final = frozenset("*?[")
"""What makes a ``tag:`` value a glob over the tags rather than one tag."""
MAX_TAG_GLOB: Final = 3 * MAX_TAG
"""The longest tag glob: the longest tag with every character escaped (``[*]``)."""


def is_glob(value: str) -> bool:
    """Whether ``value`` holds a glob character (``*``, ``?``, ``[``)."""
    return not GLOB_CHARACTERS.isdisjoint(value)


def glob_escaped(text: str) -> str:
    """A glob that ``fnmatchcase`` matches to ``text`` alone: each ``*``, ``?`` and ``[`` in a
    set of its own (``a*`` is ``a[*]``), as a query names a tag that holds one."""
    return "".join(f"[{char}]" if char in GLOB_CHARACTERS else char for char in text)


def check_tag_glob(pattern: object) -> str:
    """A glob over tags (``trip-*``, ``2026/*``, ``[!.]*``), as ``fnmatchcase`` reads it; kept as
    ``check_tag`` keeps a tag (surrounding spaces removed, ``composed``), so it matches the tags
    as they are stored."""
    return checked_tag_text(pattern, "tag pattern", MAX_TAG_GLOB)


KINDS: Final = ("text", "bytes")


def check_kind(value: object) -> str:
    """``"text"`` or ``"bytes"``, as ``MCard.kind`` names them."""
    if not isinstance(value, str) or value.strip().lower() not in KINDS:
        raise ValidationError(f"a kind is text or bytes, not {brief(value)}")
    return value.strip().lower()


def check_content_type(value: object) -> str:
    """A MIME type, or a type with any subtype (``image/*``); any case, kept lowercase."""
    text = value.strip().lower() if isinstance(value, str) else value
    if not isinstance(text, str) or not _TYPE.fullmatch(text):
        raise ValidationError(f"a content type is like 'image/png' or 'image/*', got {brief(value)}")
    return text


@dataclass(frozen=True)
class Filters:
    """Which cards a listing, count, search or iteration considers; every field narrows.

    ``content_type``: a MIME type or ``type/*``; ``min_size``/``max_size``: bytes, inclusive;
    ``tags``: the card carries every one; ``names``: the card was seen under a name matching
    each glob (``fnmatchcase``: case-sensitive; the name ``composed``, as the glob is, so a name
    seen decomposed is found too); ``start_time``/``end_time``: inclusive, aware.
    ``excluded_types``, ``excluded_tags``, ``excluded_names``: the card has none of these types
    (a card stored without a type by another tool has none), carries none of these tags, and
    was seen under no name matching any of these globs (``-type:``, ``-tag:``, ``-name:``).
    ``tag_globs``: the card carries a tag matching each glob (``fnmatchcase`` over the tags as
    stored, ``tag:trip-*``); ``excluded_tag_globs``: it carries none matching any of these
    (``-tag:draft*``). ``tag=`` of the listings is always a tag itself: only the query
    syntax reads a ``tag:`` value holding ``*``, ``?`` or ``[`` as a glob. ``kind``: ``"text"``
    or ``"bytes"``, as ``MCard.kind`` and the ``kind`` facet tell cards apart.
    """

    content_type: Optional[str] = None
    min_size: Optional[int] = None
    max_size: Optional[int] = None
    tags: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    start_time: Optional[datetime] = None
    end_time: Optional[datetime] = None
    excluded_types: tuple[str, ...] = ()
    excluded_tags: tuple[str, ...] = ()
    excluded_names: tuple[str, ...] = ()
    tag_globs: tuple[str, ...] = ()
    excluded_tag_globs: tuple[str, ...] = ()
    kind: Optional[str] = None

    @classmethod
    def of(
        cls,
        *,
        content_type: Optional[str] = None,
        min_size: Optional[int] = None,
        max_size: Optional[int] = None,
        tag: Any = None,
        name: Any = None,
        start_time: Optional[datetime] = None,
        end_time: Optional[datetime] = None,
        kind: Optional[str] = None,
    ) -> Filters:
        """Checked filters from the keyword arguments every listing takes (``tag`` and
        ``name`` may be one string or several)."""
        return cls(
            None if content_type is None else check_content_type(content_type),
            _size("min_size", min_size),
            _size("max_size", max_size),
            _strings("tag", tag, check_tag),
            _strings("name", name, check_glob),
            None if start_time is None else to_utc(start_time, "start_time"),
            None if end_time is None else to_utc(end_time, "end_time"),
            kind=None if kind is None else check_kind(kind),
        )

    def merged(self, other: Filters) -> Filters:
        """Both sets of filters at once (the narrower of each bound, every tag and name)."""
        def narrower(a: Any, b: Any, pick: Any) -> Any:
            return b if a is None else a if b is None else pick(a, b)

        return replace(
            self,
            content_type=other.content_type or self.content_type,
            min_size=narrower(self.min_size, other.min_size, max),
            max_size=narrower(self.max_size, other.max_size, min),
            tags=tuple(dict.fromkeys(self.tags + other.tags)),
            names=tuple(dict.fromkeys(self.names + other.names)),
            start_time=narrower(self.start_time, other.start_time, max),
            end_time=narrower(self.end_time, other.end_time, min),
            excluded_types=tuple(dict.fromkeys(self.excluded_types + other.excluded_types)),
            excluded_tags=tuple(dict.fromkeys(self.excluded_tags + other.excluded_tags)),
            excluded_names=tuple(dict.fromkeys(self.excluded_names + other.excluded_names)),
            tag_globs=tuple(dict.fromkeys(self.tag_globs + other.tag_globs)),
            excluded_tag_globs=tuple(dict.fromkeys(self.excluded_tag_globs + other.excluded_tag_globs)),
            kind=other.kind or self.kind,
        )

    @property
    def empty(self) -> bool:
        return self == Filters()

    @property
    def tag_alone(self) -> Optional[str]:
        """The tag, when these filters choose the cards of one tag and nothing else: an engine
        whose every tag names a stored card counts them in its tag index."""
        return self.tags[0] if len(self.tags) == 1 and self == Filters(tags=self.tags) else None

    @property
    def time_bounds(self) -> tuple[Optional[int], Optional[int]]:
        """Inclusive bounds in microseconds since the epoch (None: unbounded)."""
        return (
            None if self.start_time is None else to_micros(self.start_time),
            None if self.end_time is None else min(to_micros(self.end_time), MAX_MICROS),
        )

    @property
    def by_labels(self) -> bool:
        """Whether they test tags or sighting names, which change without a card being saved
        or removed."""
        return bool(self.tags or self.names or self.excluded_tags or self.excluded_names
                    or self.tag_globs or self.excluded_tag_globs)

    def type_matches(self, content_type: Optional[str]) -> bool:
        return (self.content_type is None or _of_type(content_type, self.content_type)) and not any(
            _of_type(content_type, excluded) for excluded in self.excluded_types
        )

    def matches(self, *, content_type: Optional[str], size: int, micros: int,
                tags: Iterable[str], names: Iterable[str], kind: Optional[str] = None) -> bool:
        """Whether a card passes (the reference the engines' SQL must agree with); ``kind`` is
        the card's (``MCard.kind``), needed where these filters test it."""
        start, end = self.time_bounds
        names, tags = list(names), list(tags)
        return (
            self.type_matches(content_type)
            and (self.kind is None or kind == self.kind)
            and (self.min_size is None or size >= self.min_size)
            and (self.max_size is None or size <= self.max_size)
            and (start is None or micros >= start)
            and (end is None or micros <= end)
            and set(self.tags) <= set(tags)
            and not set(self.excluded_tags) & set(tags)
            and all(any(fnmatch.fnmatchcase(tag, pattern) for tag in tags) for pattern in self.tag_globs)
            and not any(fnmatch.fnmatchcase(tag, pattern) for tag in tags for pattern in self.excluded_tag_globs)
            and all(any(fnmatch.fnmatchcase(composed(n), pattern) for n in names) for pattern in self.names)
            and not any(fnmatch.fnmatchcase(composed(n), pattern) for n in names for pattern in self.excluded_names)
        )


def _of_type(content_type: Optional[str], wanted: str) -> bool:
    """Whether ``content_type`` is ``wanted`` (``type/*``: any subtype); None is of no type."""
    if content_type is None:
        return False
    if wanted.endswith("/*"):
        return content_type.startswith(wanted[:-1])
    return content_type == wanted
