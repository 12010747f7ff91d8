"""Facets: the fields cards are counted by, their buckets, and the reference every engine's
counts agree with (``facet_values``, ``order_facet``)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from collections.abc import Iterable, Sequence
from typing import Any, Final, Optional

from mcard.domain.models.card import MAX_MICROS, MIN_MICROS, MCard, from_micros, to_micros

FACETS: Final = ("content_type", "tag", "size", "year", "month", "week", "day", "hour", "time", "kind")
SIZE_BUCKETS: Final = (
    (0, "< 1 KB"), (1024, "1 KB - 10 KB"), (10 * 1024, "10 KB - 100 KB"), (100 * 1024, "100 KB - 1 MB"),
    (1024**2, "1 MB - 10 MB"), (10 * 1024**2, ">= 10 MB"),
)
"""The size facet's buckets: (lowest size in bytes, label), in order."""
TIME_WIDTHS: Final = ("year", "month", "week", "day", "hour")
_DATE_PARTS: Final = ("year", "month", "day", "hour")
"""The widths whose label is the leading parts of a date and time (a week is an ISO week)."""
IN_RANGE: Final = f"g_time BETWEEN {int(MIN_MICROS)} AND {int(MAX_MICROS)} AND g_time = CAST(g_time AS BIGINT)"
"""SQL, both engines: a row's time is one a card can have, a whole number of microseconds in
range (a row another tool wrote may hold any value; SQLite sorts text after every number)."""
HOUR_MICROS: Final = 3_600_000_000
DAY_MICROS: Final = 24 * HOUR_MICROS
SIZE_INDEX: Final = (
    "CASE WHEN size >= 10485760 THEN 5 WHEN size >= 1048576 THEN 4 WHEN size >= 102400 THEN 3"
    " WHEN size >= 10240 THEN 2 WHEN size >= 1024 THEN 1 ELSE 0 END"
)
"""SQL: the index in ``SIZE_BUCKETS`` of the bucket of a row's ``size``."""


def size_bucket(size: int) -> str:
    return next(label for low, label in reversed(SIZE_BUCKETS) if size >= low)


def facet_values(field: str, card: MCard, tags: Sequence[str]) -> Sequence[Any]:
    """The values a card with ``tags`` has for a facet (the reference the engines' SQL agrees with)."""
    if field == "content_type":
        return [card.content_type]
    if field == "kind":
        return [card.kind]
    if field == "size":
        return [size_bucket(card.size)]
    if field == "tag":
        return tags
    return [time_bucket(field, card.g_time)]


def time_bucket(width: str, moment: datetime) -> str:
    """The bucket a UTC time falls in: ``2026``, ``2026-03``, ``2026-W09`` (its ISO week, from
    Monday), ``2026-03-01``, ``2026-03-01T14``."""
    if width == "week":
        year, week, _ = moment.isocalendar()
        return f"{year:04d}-W{week:02d}"
    parts = (f"{moment.year:04d}", f"-{moment.month:02d}", f"-{moment.day:02d}", f"T{moment.hour:02d}")
    return "".join(parts[: _DATE_PARTS.index(width) + 1])


def time_width(first: Optional[datetime], last: Optional[datetime]) -> str:
    """The bucket width for a ``time`` facet: at most about 60 buckets over the span (hours up
    to two days, days up to two months, weeks up to 14 months, months up to five years), then
    years."""
    if first is None or last is None:
        return "month"
    span = last - first
    if span.days > 5 * 365:
        return "year"
    if span.days > 14 * 30:
        return "month"
    if span.days > 60:
        return "week"
    if span.days >= 2:
        return "day"
    return "hour"


def _bucket_start(width: str, moment: datetime) -> datetime:
    if width == "year":
        return moment.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if width == "month":
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if width == "day":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if width == "week":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=moment.weekday())
    return moment.replace(minute=0, second=0, microsecond=0)


def next_bucket_start(width: str, start: datetime) -> Optional[datetime]:
    """The start of the bucket after the one starting at ``start`` (None past year 9999)."""
    try:
        if width == "year":
            return start.replace(year=start.year + 1)
        if width == "month":
            return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        return start + {"week": timedelta(days=7), "day": timedelta(days=1)}.get(width, timedelta(hours=1))
    except (ValueError, OverflowError):
        return None


def within_times(micros: object) -> int:
    """A stored time brought within the times a card can have: a row another tool wrote with a
    time out of that range, or not an integer (SQLite sorts text after every number), is left
    out of the time facets (``verify`` names it), not an error."""
    if isinstance(micros, float) and math.isfinite(micros):  # SQLite holds reals among integers
        micros = int(micros)
    if micros.__class__ is not int:
        return MAX_MICROS
    return min(max(micros, MIN_MICROS), MAX_MICROS)  # type: ignore[call-overload]


def stored_span_width(first: int, last: int) -> str:
    """``time_width`` of the stored times ``first`` to ``last`` (see ``within_times``)."""
    return time_width(from_micros(within_times(first)), from_micros(within_times(last)))


def bucket_bounds(width: str, first: int, last: int, most: int) -> Optional[list[tuple[str, int, Optional[int]]]]:
    """(label, first microsecond, first microsecond of the next bucket or None) of every
    ``width`` bucket from the time ``first`` to ``last`` (stored microseconds), or None when
    there would be more than ``most``: counting ranges of a time index is then no faster."""
    first, last = within_times(first), within_times(last)
    start = _bucket_start(width, from_micros(first).astimezone(timezone.utc))
    bounds: list[tuple[str, int, Optional[int]]] = []
    while start is not None and to_micros(start) <= last:
        if len(bounds) == most:
            return None
        following = next_bucket_start(width, start)
        bounds.append((time_bucket(width, start), to_micros(start), None if following is None else to_micros(following)))
        start = following
    return bounds


def order_facet(field: str, counts: dict[Any, int]) -> list[tuple[Any, int]]:
    """Most frequent first (then by value); time and size buckets in their own order."""
    if field == "size":
        order = {label: index for index, (_, label) in enumerate(SIZE_BUCKETS)}
        return sorted(counts.items(), key=lambda item: order[item[0]])
    if field in (*TIME_WIDTHS, "time"):
        return sorted(counts.items())
    return sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))


def most_first(counts: list[tuple[Any, int]]) -> list[tuple[Any, int]]:
    """(value, count) pairs most frequent first, then by value (``order_facet``)."""
    return sorted(counts, key=lambda item: (-item[1], str(item[0])))


def size_counts(by_index: list[tuple[int, int]]) -> list[tuple[str, int]]:
    """(label, count) of the size buckets from (``SIZE_INDEX``, count) pairs, in bucket order."""
    return [(SIZE_BUCKETS[index][1], n) for index, n in sorted(by_index)]


def time_counts(
    field: str, first: Optional[int], last: Optional[int], steps: list[tuple[int, int]], unit: int
) -> list[tuple[str, int]]:
    """(label, count) of ``field``'s buckets, in time order, from counts per ``unit`` (an hour
    or a day) since ``MIN_MICROS``; ``time`` takes its width from the stored times ``first``
    to ``last``."""
    if first is None or last is None:
        return []
    if field == "time":
        field = stored_span_width(first, last)
    counts: dict[str, int] = {}
    for step, n in sorted((step, n) for step, n in steps if step.__class__ is int):
        if not MIN_MICROS <= MIN_MICROS + step * unit <= MAX_MICROS:
            continue  # see within_times
        label = time_bucket(field, from_micros(MIN_MICROS + step * unit))
        counts[label] = counts.get(label, 0) + n
    return sorted(counts.items())


def time_unit(fields: Sequence[str]) -> tuple[list[str], int]:
    """The time fields of ``fields`` and the step they are counted in: an hour when one of
    them may need hours (``hour``, ``time``), else a day."""
    times = [field for field in fields if field in TIME_WIDTHS or field == "time"]
    return times, HOUR_MICROS if "hour" in times or "time" in times else DAY_MICROS


def from_grouped(fields: Sequence[str], rows: Iterable[tuple[str, Any, Any]], unit: int) -> dict[str, list[tuple[Any, int]]]:
    """Each field's facet from rows (field, value, count) of one grouping statement, with the
    ``span`` row (first, last) and ``step`` rows (steps of ``unit`` since ``MIN_MICROS``, count)."""
    counted: dict[str, list[tuple[Any, Any]]] = {field: [] for field in (*fields, "span", "step")}
    for field, value, n in rows:
        counted[field].append((value, n))
    found = {field: most_first(counted[field]) for field in fields}
    if "size" in fields:
        found["size"] = size_counts(counted["size"])
    [(first, last)] = counted["span"] or [(None, None)]
    for field in time_unit(fields)[0]:
        found[field] = time_counts(field, first, last, counted["step"], unit)
    return found
