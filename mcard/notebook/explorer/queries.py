"""From a facet the user clicked to the query term that filters by it, the time facet with its
empty buckets, and hash prefixes."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from collections.abc import Sequence
from typing import Final, Optional

from mcard.domain.models.exceptions import ValidationError, brief
from mcard.domain.query.syntax import parse_find, quoted_value, tag_named, tag_value, without_field, without_value
from mcard.infrastructure.persistence.engine.facets import SIZE_BUCKETS, next_bucket_start, time_bucket

FACET_FIELDS: Final = ("content_type", "tag", "time", "size")
LEAVABLE: Final = ("content_type", "tag")
"""The facets whose values can be left out (``-type:``, ``-tag:``)."""
_PREFIX: Final = re.compile(r"[0-9a-fA-F]{8,128}")
_TIME_LABEL: Final = re.compile(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?(?:T(\d{2}))?")
_WEEK_LABEL: Final = re.compile(r"(\d{4})-W(\d{2})")
MAX_TIME_BARS: Final = 1000
"""Most buckets the explorer's time histogram fills in with the empty ones between."""


def hash_prefix(query: str) -> Optional[str]:
    """The query as a hash prefix (8 or more hex digits, nothing else), lowercased, or None."""
    text = query.strip()
    return text.lower() if _PREFIX.fullmatch(text) else None


def _bucket(label: str) -> tuple[str, datetime, Optional[datetime]]:
    """A time facet label's width (``TIME_WIDTHS``), its first instant and the next bucket's
    (None after the last bucket of year 9999)."""
    week, match = _WEEK_LABEL.fullmatch(label), _TIME_LABEL.fullmatch(label)
    try:
        if week:
            monday = date.fromisocalendar(int(week[1]), int(week[2]), 1)
            width, start = "week", datetime(monday.year, monday.month, monday.day, tzinfo=timezone.utc)
        elif match:
            year, month, day, hour = (int(part) if part else None for part in match.groups())
            start = datetime(year, month or 1, day or 1, hour or 0, tzinfo=timezone.utc)  # type: ignore[arg-type]
            width = "hour" if hour is not None else "day" if day is not None else "month" if month is not None else "year"
        else:
            raise ValueError(label)
    except ValueError:
        raise ValidationError(f"not a time bucket: {brief(label)}") from None
    return width, start, next_bucket_start(width, start)


def _time_term(label: str) -> str:
    _, start, end = _bucket(label)
    return f"after:{_iso(start)}" + (f" before:{_iso(end)}" if end is not None else "")


def every_time_bucket(counts: Sequence[tuple[str, int]], most: int = MAX_TIME_BARS) -> list[tuple[str, int]]:
    """The time facet's (label, count) from its first bucket to its last, a bucket without cards
    as 0, so that a histogram of it spaces time evenly; as it was past ``most`` buckets (a
    foreign row's time far from the others)."""
    found = dict(counts)
    if len(found) < 2:
        return list(counts)
    label, last = min(found), max(found)
    filled = []
    while True:
        filled.append((label, found.get(label, 0)))
        if label == last:
            return filled
        if len(filled) == most:
            return list(counts)
        width, _, end = _bucket(label)
        if end is None:
            return list(counts)
        label = time_bucket(width, end)


def _iso(moment: datetime) -> str:
    """A bucket's start as the query syntax takes it; four-digit years (``0850-01-01``), which
    ``strftime`` does not pad."""
    day = moment.date().isoformat()
    return f"{day}T{moment.hour:02d}:{moment.minute:02d}Z" if moment.hour or moment.minute else day


_SIZE_BOUNDS: Final[dict[str, tuple[Optional[int], Optional[int]]]] = {
    name: (low or None, next_low - 1 if next_low is not None else None)
    for (low, name), next_low in zip(SIZE_BUCKETS, [*(low for low, _ in SIZE_BUCKETS[1:]), None])
}
"""Each size bucket's label and its (least, most) bytes, as a query's filters hold them."""


def _in_units(size: int) -> str:
    """A bucket's bound as the query syntax takes it and a person reads it (``1MB``)."""
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def _size_term(label: str) -> str:
    """``size:>=1MB size:<10MB`` for the bucket "1 MB - 10 MB" (its lowest and highest ends)."""
    bounds = _SIZE_BOUNDS.get(label)
    if bounds is None:
        raise ValidationError(f"not a size bucket: {brief(label)}")
    least, most = bounds
    return " ".join([*([f"size:>={_in_units(least)}"] if least is not None else []),
                     *([f"size:<{_in_units(most + 1)}"] if most is not None else [])])


def facet_term(field: str, value: object) -> str:
    """The query term that keeps the cards of one facet value (``type:image/png``, ``tag:x``,
    ``after:2026-01-01 before:2026-02-01``, ``size:>=1KB size:<10KB``); a tag holding a glob
    character escaped (``tag:a[*]``), so that it keeps that tag alone."""
    if not isinstance(value, str):
        raise ValidationError(f"a facet value is a string (as the facets give it), not {type(value).__name__}")
    text = value
    if field == "content_type":
        return f"type:{quoted_value(text)}"
    if field == "tag":
        return f"tag:{tag_value(text)}"
    if field == "time":
        return _time_term(text)
    if field == "size":
        return _size_term(text)
    raise ValidationError(f"no facet {brief(field)}; the facets are {', '.join(FACET_FIELDS)}")


def leave_out_term(field: str, value: object) -> str:
    """The query term that leaves out the cards of one type or tag of the facets
    (``-type:image/gif``, ``-tag:x``)."""
    if field not in LEAVABLE:
        raise ValidationError(f"only a type or a tag can be left out, not {brief(field)}")
    return "-" + facet_term(field, value)


def chosen_values(query: str) -> dict[str, list[list[object]]]:
    """The types and tags (and globs of them) ``query`` keeps or leaves out, and the size bucket
    its size bounds are, as ``[value, left_out]`` per facet: the facets mark them, and a click on
    one takes it out of the query (``without_facet_value``)."""
    try:
        filters = parse_find(query).filters
    except ValidationError:
        return {}
    types = [[filters.content_type, False]] if filters.content_type else []
    kept = dict.fromkeys((*filters.tags, *map(tag_named, filters.tag_globs)))
    left_out = dict.fromkeys((*filters.excluded_tags, *map(tag_named, filters.excluded_tag_globs)))
    sizes = [[name, False] for name, bounds in _SIZE_BOUNDS.items() if bounds == (filters.min_size, filters.max_size)]
    return {
        "content_type": types + [[kind, True] for kind in filters.excluded_types],
        "tag": [[tag, False] for tag in kept] + [[tag, True] for tag in left_out],
        "size": sizes,
    }


def without_facet_value(query: str, field: str, value: object, left_out: bool) -> str:
    """``query`` without the type or tag ``value`` it keeps (or, ``left_out``, leaves out), or
    without its size bounds (a size bucket chosen)."""
    if field == "size" and not left_out:
        return without_field(query, "size")
    if field not in LEAVABLE or not isinstance(value, str):
        raise ValidationError(f"only a type, a tag or a size bucket the query holds can be taken out of it, not {brief(field)}")
    return without_value(query, "type" if field == "content_type" else "tag", value, left_out=left_out)


def with_term(query: str, term: str) -> str:
    """``query`` narrowed by ``term`` (unchanged when it holds the term already). A term that
    leaves out what the query keeps (``-tag:x`` beside ``tag:x``) replaces it."""
    words = query.split()
    if all(part in words for part in term.split()):
        return query
    if term.startswith("-"):
        query = without_field(query, "tag" if term.startswith("-tag:") else "type", term[1:])
    if term.startswith("type:"):  # a query names one type: the clicked one, within it, replaces it
        query = without_field(query, "type")
    if term.startswith("after:"):  # a time bucket (a click on the histogram) replaces the query's bounds, within them
        term = _within_bounds(query, term)
        query = without_field(without_field(query, "after"), "before")
    return f"{query.strip()} {term}".strip()


def _within_bounds(query: str, term: str) -> str:
    """The time bucket ``term`` cut to the bounds ``query`` already has: a bar at the edge of
    the query's range counts only the cards within it, and a click shows those alone."""
    own, bucket = parse_find(query).filters, parse_find(term).filters
    start = max((moment for moment in (own.start_time, bucket.start_time) if moment is not None), default=None)
    last = min((moment for moment in (own.end_time, bucket.end_time) if moment is not None), default=None)
    bounds = [] if start is None else [f"after:{_exact(start)}"]
    if last is not None:
        bounds.append(f"before:{_exact(last + timedelta(microseconds=1))}")  # ``end_time`` is the last instant kept
    return " ".join(bounds)


def _exact(moment: datetime) -> str:
    """``_iso``, to the microsecond where the moment has a part of a minute."""
    if moment.second or moment.microsecond:
        return f"{moment.date().isoformat()}T{moment.time().isoformat()}Z"
    return _iso(moment)
