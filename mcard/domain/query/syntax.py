"""One query syntax for Python, the command line and the explorer.

    type:image/* tag:holiday name:*.png after:2026-01-01 before:2026-02-01 size:>1MB
    -tag:draft -type:image/gif -name:*.tmp "exact phrase" words -excluded prefix* this OR that

Fields narrow (``Filters``), ``-type:``, ``-tag:`` and ``-name:`` leave out what they name; the
rest is a word search (``text.parse_words``). ``after:`` is inclusive and ``before:`` exclusive
(a date means its first instant, UTC unless an offset is given; so does a month, ISO week or
year, in UTC), so ``after:2026-01 before:2026-02`` is January. ``size:`` takes ``>N``, ``>=N``, ``<N``, ``<=N``, ``N`` or ``N..M``, with ``B``,
``K``/``KB``/``KiB``, ``M``..., ``G``... (all powers of 1024); ``kind:`` takes ``text`` or ``bytes``. A field's value may be quoted
(``name:"my photo.png"``, a quote in it doubled: ``tag:"a""b"`` is the tag a"b). ``name:`` is a
glob over sighting names, and so is a ``tag:`` value holding ``*``, ``?`` or ``[...]`` over the
tags (``tag:trip-*``, ``-tag:draft*``, as ``fnmatchcase``); a tag holding one of those is named
with it in a set of its own (``tag:a[*]`` is the tag a*, ``tag_value``). ``text:T``, with fields
and no words, searches for T in any case inside words too (``SearchSpec`` of mode substring). A
malformed query is a ``ValidationError`` naming the position of the problem.
"""

from __future__ import annotations

import calendar
import math
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from datetime import time as dt_time
from fractions import Fraction
from typing import Final, Optional

from ..models.card import MIN_TIME, TIME_RANGE, to_utc
from ..models.exceptions import ValidationError
from ..shown import quoted
from .filters import Filters, check_kind, glob_escaped, is_glob
from .text import MAX_QUERY, SearchSpec, parse_words, tokens

FIELDS: Final = ("type", "tag", "name", "after", "before", "size", "kind", "text")
EXCLUDABLE: Final = ("type", "tag", "name")
"""The fields a ``-`` turns around: ``-tag:draft`` leaves out the cards tagged draft."""
_ITEM: Final = re.compile(r'(?P<neg>-)?(?:(?P<field>[A-Za-z]+):(?P<value>"(?:[^"]|"")*"|[^\s"]*)|"[^"]*"|[^\s"]+)|"')
"""An item. A field's value may be quoted, a quote in it doubled: ``tag:"a""b"`` is the tag a"b."""
_SIZE: Final = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>[kmgt]i?b?|b)?", re.IGNORECASE)
_DATE_WITH_OFFSET: Final = re.compile(r"(?P<date>[0-9]{4}-?[0-9]{2}-?[0-9]{2})(?P<offset>[+-][0-9]{2}:?[0-9]{2})")
_EXTENDED_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PERIOD: Final = re.compile(r"(?P<year>[0-9]{4})(?:-(?P<month>[0-9]{2})|-?W(?P<week>[0-9]{2}))?")
"""A year, a month or an ISO week (``2026``, ``2026-01``, ``2026-W05``), as facets name them; UTC."""
_HOUR: Final = re.compile(r"[0-9]{4}-?[0-9]{2}-?[0-9]{2}[Tt ][0-9]{2}(?:[+-][0-9]{2}(?::?[0-9]{2})?)?")
"""A time given to the hour (``2026-03-01T14``, as the ``hour`` facet names it), perhaps with an offset."""
_BETWEEN_MICROSECONDS: Final = re.compile(r"[Tt ][0-9]{2}(?::?[0-9]{2}){2}[.,][0-9]{6}[0-9]*[1-9]")
"""A time of day with a fraction beyond the microseconds (which Python cuts off)."""
_FRACTION_BEFORE_SECONDS: Final = re.compile(r"[Tt ][0-9]{2}(?::?[0-9]{2})?[.,]")
"""A fraction of an hour or a minute, which ISO 8601 allows and Python reads as one of a second."""
_UNITS: Final = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_ONE: Final = timedelta(microseconds=1)
MAX_SIZE: Final = 2**63 - 1
"""The largest size a filter takes (a SQL integer)."""
NOT_ISO: Final = "not an ISO 8601 date or time"
MAX_TAG_GLOBS: Final = 10
"""Most ``tag:`` globs a query holds, kept and left out: each is a test of the tag table, and
PostgreSQL's planning of 20 took 0.6 s, of 50 10 s. A tag named escaped is none (``_ONE_TAG``)."""
_ONE_TAG: Final = re.compile(r"(?:[^*?\[]|\[[*?\[]\])*")
"""A ``tag:`` value whose glob characters are all escaped (``a[*]``): one tag, tested as a tag is."""


@dataclass(frozen=True)
class FindQuery:
    """A parsed query: its filters and, when it has words to look for, the word search (for a
    ``text:`` item, a search of that text in any case, inside words too: ``words.mode`` is
    ``substring``); when it only excludes words (``tag:x -draft``), ``left_out``: a word search
    for the cards it leaves out (those whose text holds an excluded word; a card without text
    holds none)."""

    filters: Filters
    words: Optional[SearchSpec]
    left_out: Optional[SearchSpec] = None


def parse_find(query: object) -> FindQuery:
    if not isinstance(query, str):
        raise ValidationError(f"a query is a str, not {type(query).__name__}")
    if len(query) > MAX_QUERY:
        raise ValidationError(f"a query is at most {MAX_QUERY:,} characters")
    try:
        query.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationError(f"the query is not valid Unicode ({exc.reason}), at position {exc.start}") from None
    words = list(query)
    found: dict[str, list[object]] = {}
    excluded: dict[str, list[object]] = {}
    for match in _ITEM.finditer(query):
        if match.group() == '"':
            raise ValidationError(f"unclosed quote in the query at position {match.start()}")
        field = (match.group("field") or "").lower()
        if field not in FIELDS:
            continue
        excluding = bool(match.group("neg"))
        if excluding and field not in EXCLUDABLE:
            raise ValidationError(
                f"{field}: cannot be excluded (words, phrases, type:, tag: and name: can; after:, before:"
                f" and size: take the range to keep, kind: the other kind; text: is one search), at position {match.start()}"
            )
        if field in ("type", "kind", "text") and field in found and not excluding:
            raise ValidationError(f"{field}: may be given once, at position {match.start()}")
        raw = match.group("value")
        value = raw[1:-1].replace('""', '"') if raw.startswith('"') else raw
        position = match.start("value")
        if not value:
            if not raw and query[position:position + 1] == '"':
                raise ValidationError(f"unclosed quote in the query at position {position}")
            raise ValidationError(f"{field}: needs a value, at position {position}")
        if field in ("after", "before") and not raw.startswith('"'):
            _refuse_a_time_apart(query, field, value, match.end())
        checked = _value(field, value, position)
        if field == "tag" and isinstance(checked, str) and is_glob(checked):
            field = "tag_glob"
            globs = {glob for glob in (*found.get(field, []), *excluded.get(field, []), checked)
                     if not _ONE_TAG.fullmatch(glob)}  # type: ignore[arg-type]
            if len(globs) > MAX_TAG_GLOBS:
                raise ValidationError(f"a query holds at most {MAX_TAG_GLOBS} tag: globs, at position {match.start()}")
        (excluded if excluding else found).setdefault(field, []).append(checked)
        words[match.start():match.end()] = " " * (match.end() - match.start())
    text = "".join(words)
    filters = Filters.of(
        content_type=found.get("type", [None])[0],  # type: ignore[arg-type]
        tag=found.get("tag"),
        name=found.get("name"),
        start_time=max(found.get("after", []), default=None),  # type: ignore[type-var]
        end_time=min(found.get("before", []), default=None),  # type: ignore[type-var]
        kind=found.get("kind", [None])[0],  # type: ignore[arg-type]
    )
    filters = replace(filters, tag_globs=tuple(dict.fromkeys(found.get("tag_glob", []))))  # type: ignore[arg-type]
    filters = replace(filters, **{
        f"excluded_{field}s": tuple(dict.fromkeys(values)) for field, values in excluded.items()  # type: ignore[arg-type]
    })
    for low, high in found.get("size", []):  # type: ignore[misc]
        filters = filters.merged(Filters.of(min_size=low, max_size=high))
    if "text" in found:
        return FindQuery(filters, _text_search(query, str(found["text"][0]), text))
    try:
        if not text.strip():
            return FindQuery(filters, None)
        excluding = parse_words(text, exclusions_alone=True)
        if excluding.groups:
            return FindQuery(filters, SearchSpec.of(text, "words"))
        left_out = excluding.left_out()
        if len(left_out) > MAX_QUERY:
            raise ValidationError(f"too many words excluded to search ({len(excluding.excluded)}): together they"
                                  f" are longer than a query may be ({MAX_QUERY:,} characters)")
        return FindQuery(filters, None, SearchSpec.of(left_out, "words"))
    except ValidationError as exc:
        _refuse_or_beside_a_field(query)
        hint = unknown_fields_hint(query)
        if not hint:
            raise
        raise ValidationError(f"{exc}{hint}") from exc


def _text_search(query: str, value: str, words: str) -> SearchSpec:
    """The search of a ``text:`` item: its text in any case, inside words too (Thai, written
    without spaces; a part of a katakana compound; an emoji). A query holds no words beside it:
    a card would have to match two searches, each with its own order and marks."""
    beside = next((match for match in _ITEM.finditer(words) if match.group().strip()), None)
    if beside is not None:
        raise ValidationError(
            f"text: looks for a text inside words and takes no words beside it; put them in its quotes"
            f' (text:"a b") or leave text: out, at position {beside.start()}'
        )
    return SearchSpec.of(value, "substring", case_sensitive=False)


def _refuse_or_beside_a_field(query: str) -> None:
    """``name:*.md OR name:*.json`` was refused as "OR needs a word on each side", which it has
    not, to the eye: a ``ValidationError`` that says OR joins no fields."""
    items = [match for match in _ITEM.finditer(query) if match.group() != '"']
    for at, item in enumerate(items):
        if item.group() != "OR":
            continue
        beside = [items[index] for index in (at - 1, at + 1) if 0 <= index < len(items)]
        field = next((other.group() for other in beside if (other.group("field") or "").lower() in FIELDS), None)
        if field is not None:
            shown = field if len(field) <= SHOWN_VALUE else field[:SHOWN_VALUE] + "…"
            raise ValidationError(
                f"OR joins words and phrases, not fields such as {shown}: a card must match every field of a"
                f" query, at position {item.start()}"
            )


_TIME_APART: Final = re.compile(r" +(?P<time>[0-9]{1,2}:[0-9]{2}\S*)")
"""A time of day after a space, as ``str()`` of a pandas Timestamp or a datetime writes one."""


def _refuse_a_time_apart(query: str, field: str, value: str, end: int) -> None:
    """``after:2026-01-01 12:00`` read the time as words to search, so it found nothing, and
    said nothing: a ``ValidationError`` that says how to write it."""
    apart = _TIME_APART.match(query, end)
    if apart and _EXTENDED_DATE.fullmatch(value):
        time = apart["time"]
        raise ValidationError(
            f"{field}:{value} is followed by a time: join them with T ({field}:{value}T{time}) or quote"
            f' both ({field}:"{value} {time}"), at position {apart.start("time")}'
        )


def without_field(query: str, field: str, item: Optional[str] = None) -> str:
    """``query`` without its ``field:`` items (a quoted value whole; with ``item``, only those
    written so), the rest as it was; the items leaving something out (``-tag:x``) stay."""
    kept, at = [], 0
    for match in _ITEM.finditer(query):
        if (match.group("field") or "").lower() == field and not match.group("neg") and item in (None, match.group()):
            kept.append(query[at:match.start()])
            at = match.end()
    return "".join([*kept, query[at:]]).strip()


def tag_named(glob: str) -> str:
    """The tag a ``tag:`` glob whose glob characters are all escaped names (``a[*]`` is a*);
    any other glob as it is."""
    return re.sub(r"\[([*?\[])\]", r"\1", glob) if _ONE_TAG.fullmatch(glob) else glob


def without_value(query: str, field: str, value: str, *, left_out: bool = False, instead: str = "") -> str:
    """``query`` without its ``field:`` items (``-field:`` items with ``left_out``) whose value
    is ``value``, as typed or escaped (``tag:a[*]`` names the tag a*), or with ``instead`` in
    their place, the rest as it was: what a click on a type or tag the query holds takes out."""
    names = {value, glob_escaped(value)}
    kept, at = [], 0
    for match in _ITEM.finditer(query):
        raw = match.group("value")
        if raw is None or (match.group("field") or "").lower() != field or bool(match.group("neg")) != left_out:
            continue
        typed = raw[1:-1].replace('""', '"') if raw.startswith('"') else raw
        if typed.strip() in names:
            kept.append(query[at:match.start()] + instead)
            at = match.end()
    return " ".join("".join([*kept, query[at:]]).split())


def quoted_value(value: str) -> str:
    """``value`` as a field's value in a query: quoted (a quote in it doubled) when it must be."""
    if not value or '"' in value or any(c.isspace() for c in value):
        return '"' + value.replace('"', '""') + '"'
    return value


def tag_value(tag: str) -> str:
    """A ``tag:`` value that names ``tag`` alone: its glob characters escaped (``a[*]`` for the
    tag a*, which ``tag:a*`` would match among others), quoted when it must be."""
    return quoted_value(glob_escaped(tag))


def unknown_fields(query: str) -> list[str]:
    """The names before a ``:`` in ``query`` that are not fields (``typ:image/*``): such items
    are searched as words, which a mistyped field name makes surprising."""
    names = (match.group("field") for match in _ITEM.finditer(query) if match.group("field"))
    return list(dict.fromkeys(name for name in names if name.lower() not in FIELDS))


SLASHED: Final = re.compile(r"(?<!\S)/[^/\s]\S*/(?!\S)")
"""An item written as a regular expression is in other tools (``/fo+x/``)."""
REGEX_HINT: Final = '/.../ is read as words, not as a regular expression: mcard search --regex or search(..., mode="regex") takes one'


def unknown_fields_hint(query: str) -> str:
    """`` (typ: is read as words; the fields are type:, ...)`` for a query naming something
    that is not a field, and likewise for a ``/regular expression/``; else ""."""
    hints = unknown_fields_hints(query)
    return f" ({'; '.join(hints)})" if hints else ""


def unknown_fields_hints(query: str) -> list[str]:
    """``unknown_fields_hint``'s hints, each alone."""
    hints = []
    unknown = [name + ":" for name in unknown_fields(query)]
    if unknown:
        fields = ", ".join(name + ":" for name in FIELDS)
        hints.append(f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} read as words; the fields are {fields}")
    if SLASHED.search(query):
        hints.append(REGEX_HINT)
    return hints


_SHORT_HASH: Final = re.compile(r"(?=[a-f]*[0-9])[0-9a-f]{4,7}", re.IGNORECASE)
"""4 to 7 hex digits, one a digit at least: the start of a hash, too short to name a card."""
SHORT_HASH_HINT: Final = "a hash prefix is 8 or more hex digits"
_NAME_WORD: Final = re.compile(r"[^\s\"*?\[\]:-][^\s\"*?\[\]]*")


def lone_word(query: str) -> Optional[tuple[str, str, str]]:
    """``(before, word, after)`` for a query with one word (or ``prefix*``, its ``*`` left out)
    among its fields: the word a query that found nothing may have meant as a tag or a name (a
    word of a file's name is not in its content). None for a query with no word, or more than
    one, or a phrase, an OR, a word left out, or a word too long or not printable to repeat."""
    plain = [match for match in _ITEM.finditer(query) if not match.group("field") and match.group() != '"']
    if len(plain) != 1 or plain[0].group() == "OR":
        return None
    word = plain[0].group().rstrip("*")
    if not _NAME_WORD.fullmatch(word) or not word.isprintable() or len(word) > SHOWN_VALUE:
        return None
    return query[:plain[0].start()], word, query[plain[0].end():]


_SYMBOLS: Final = re.compile(r"[^\w\s\"'.,;:!?()\[\]{}*-]+")
"""A run of characters that are neither letters, digits, spaces nor the punctuation of phrases:
in a word query, one holding a symbol (``So``: an emoji, ©) is looked for in no word."""


def unsearched_note(query: str) -> str:
    """What a word query left out, holding no letter or digit: an item of none (``love 🎸``
    finds the cards holding love, 🎸 or not), or a symbol such as an emoji in a word or a phrase
    (``"love 🎸"``), and says so; "" when it left out nothing (punctuation goes unsaid)."""
    items: list[str] = []
    for match in _ITEM.finditer(query):
        item = match.group()
        if match.group("field") or item in ('"', "OR") or not item.lstrip("-").strip('"*'):
            continue
        if not tokens(item):
            items.append(item)
        else:
            items += [run.group() for run in _SYMBOLS.finditer(item)
                      if any(unicodedata.category(char) == "So" for char in run.group())]
    if not items:
        return ""
    shown = ", ".join(quoted(item) for item in items[:3]) + (", …" if len(items) > 3 else "")
    one = len(items) == 1
    said = f"{shown} {'was' if one else 'were'} not looked for: no letter or digit, so no word"
    kept = [item.strip('"') for item in items if not item.startswith("-")]  # text: leaves nothing out
    return said + (f" (text:{quoted_value(kept[0])} looks for it as text)" if len(kept) == 1 else "")


def symbols_as_text(query: str) -> Optional[str]:
    """``text:ITEM`` for a query of one item holding no letter or digit (``🎸``), which a word
    search refuses as no word: ``text:`` looks for it as text. None for any other query."""
    items = list(_ITEM.finditer(query))
    if len(items) != 1 or items[0].group("field") or items[0].group("neg"):
        return None
    item = items[0].group().strip('"')
    return f"text:{quoted_value(item)}" if item.strip() and not tokens(item) else None


def with_spaces_quoted(query: str, most_words: int = 3) -> list[list[str]]:
    """For each unquoted ``name:`` or ``tag:`` value followed by plain words: ``query`` with
    that value and the next 1 to ``most_words`` words quoted as one value, the shortest first
    (``name:a file*`` looked for the name "a" and the word "file*", not the name "a file*")."""
    items = list(_ITEM.finditer(query))
    found = []
    for place, item in enumerate(items):
        value = item.group("value") or ""
        if (item.group("field") or "").lower() not in ("name", "tag") or not value or value[0] == '"':
            continue
        joined = []
        for following in items[place + 1:place + 1 + most_words]:
            if following.group("field") or following.group()[0] in '-"' or following.group() == "OR":
                break
            typed = query[item.start("value"):following.end()]
            joined.append(f"{query[:item.start('value')]}{quoted_value(typed)}{query[following.end():]}")
        if joined:
            found.append(joined)
    return found


def without_operator_words(query: str) -> Optional[str]:
    """``query`` with each bare ``AND`` left out and each ``NOT word`` written ``-word``, when it
    has any: they are words here (every item must match already; ``-`` leaves one out), and
    ``draft AND report`` found no card unless a card held "and". None when it has none."""
    items = [(match.start(), match.end(), match.group()) for match in _ITEM.finditer(query)]
    kept: list[str] = []
    changed = False
    for place, (_, _, item) in enumerate(items):
        following = items[place + 1][2] if place + 1 < len(items) else ""
        if item == "AND" or (item == "NOT" and following and following[0] not in '-"'):
            changed = True
            continue
        kept.append(f"-{item}" if place and items[place - 1][2] == "NOT" and item[0] not in '-"' else item)
    return " ".join(kept) if changed and kept else None


def short_hash_hint(query: str) -> str:
    """``SHORT_HASH_HINT`` for a query that is only the start of a hash too short to open a
    card (``810cb98``), else ""."""
    return SHORT_HASH_HINT if _SHORT_HASH.fullmatch(query.strip()) else ""


SHOWN_VALUE: Final = 60
"""Characters of a field's value an error repeats (a name glob may be 4,096)."""


def _value(field: str, value: str, position: int) -> object:
    try:
        if field in ("after", "before"):
            moment = _time(value)
            if field == "after":
                return moment
            if moment <= MIN_TIME:
                raise ValidationError(f"no card can be older than {MIN_TIME.date()}, the earliest time a card has")
            return moment - _ONE
        if field == "size":
            return _size_range(value)
        if field == "kind":
            return check_kind(value)
        if field == "tag":
            from ..models.sighting import check_tag
            from .filters import check_tag_glob

            return check_tag_glob(value) if is_glob(value) else check_tag(value)
        if field == "type":
            from .filters import check_content_type

            return check_content_type(value)
        if field == "name":
            from .filters import check_glob

            return check_glob(value)
        return value
    except ValidationError as exc:
        shown = value if len(value) <= SHOWN_VALUE else value[:SHOWN_VALUE] + "…"
        raise ValidationError(f"{field}:{shown} at position {position}: {exc}") from None


def parse_iso(text: str, *, end_of_day: bool = False) -> datetime:
    """An ISO 8601 date or time; naive when it has no offset. A date is its first instant (with
    ``end_of_day``, its last), also with an offset: ``2026-01-01+02:00`` is that day two hours
    east of UTC; a year, a month or an ISO week (``2026``, ``2026-01``, ``2026-W05``, in UTC) is
    its first day's first instant (with ``end_of_day``, its last day's last); a time given to the
    hour (``2026-01-05T14``) is its first instant (with ``end_of_day``, its last); a time between two
    microseconds (cards keep microseconds) is the first microsecond after it (with
    ``end_of_day``, the last before it). A fraction of an hour or a minute is refused (Python
    would read it as one of a second). Between a date and its time only ``T`` or a space
    (Python 3.11 takes any character there, and read ``+02:00`` as a time of day)."""
    text = text.replace("Z", "+00:00").replace("z", "+00:00")  # RFC 3339 allows either case
    period = _PERIOD.fullmatch(text)
    dated = _DATE_WITH_OFFSET.fullmatch(text)
    try:
        if period:
            day = _period_day(period, last=end_of_day)
        else:
            day = date.fromisoformat(dated["date"] if dated else text)
    except ValueError:
        if _EXTENDED_DATE.match(text) and len(text) > 10 and text[10] not in "Tt ":
            raise ValidationError(NOT_ISO) from None
        if _FRACTION_BEFORE_SECONDS.search(text):
            raise ValidationError("a fraction is taken of a second only: give the seconds before it (10:30:00.5)")
        try:
            moment = datetime.fromisoformat(text)  # cut to the microsecond
        except ValueError:
            raise ValidationError(NOT_ISO) from None
        if end_of_day and _HOUR.fullmatch(text):
            return moment.replace(minute=59, second=59, microsecond=999999)
        if end_of_day or not _BETWEEN_MICROSECONDS.search(text):
            return moment
        try:
            return moment + timedelta(microseconds=1)
        except OverflowError:
            raise ValidationError(f"after the last time a card can have ({TIME_RANGE})") from None
    moment = datetime.combine(day, dt_time.max if end_of_day else dt_time.min)
    if dated is None:
        return moment
    try:
        return moment.replace(tzinfo=datetime.fromisoformat(f"2000-01-01T00:00{dated['offset']}").tzinfo)
    except ValueError:  # an offset of 24 hours or more
        raise ValidationError(NOT_ISO) from None


def _period_day(period: re.Match[str], *, last: bool) -> date:
    """The first (or last) day of a year, month or ISO week; ``ValueError`` for none such."""
    year = int(period["year"])
    if period["week"]:
        monday = date.fromisocalendar(year, int(period["week"]), 1)
        return monday + timedelta(days=min(6, (date.max - monday).days)) if last else monday
    month = int(period["month"] or (12 if last else 1))
    return date(year, month, calendar.monthrange(year, month)[1] if last else 1)


def _time(text: str) -> datetime:
    moment = parse_iso(text)
    return to_utc(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc), "time")


def _bytes(text: str) -> Fraction:
    match = _SIZE.fullmatch(text.strip())
    unit = (match.group("unit") or "").lower().replace("i", "").rstrip("b") if match else None
    if match is None or unit not in _UNITS:
        raise ValidationError("not a size such as 500, 10KB or 1.5MB")
    return Fraction(match.group("number")) * _UNITS[unit]  # exact: floats and decimals round


def _size_range(text: str) -> tuple[Optional[int], Optional[int]]:
    """(least, most) whole bytes, either None for no bound (``<20.5`` keeps a size of 20)."""
    if ".." in text:
        low, high = text.split("..", 1)
        bounds = (math.ceil(_bytes(low)) if low else None, math.floor(_bytes(high)) if high else None)
    else:
        for operator, bounding in ((">=", lambda n: (math.ceil(n), None)),
                                   ("<=", lambda n: (None, math.floor(n))),
                                   (">", lambda n: (math.floor(n) + 1, None)),
                                   ("<", lambda n: (None, math.ceil(n) - 1)),
                                   ("=", lambda n: (math.ceil(n), math.floor(n))),
                                   ("", lambda n: (math.ceil(n), math.floor(n)))):
            if text.startswith(operator):
                if operator and not text[len(operator):].strip():
                    raise ValidationError(f"a size goes right after {operator!r}, with no space, such as size:{operator}1MB")
                bounds = bounding(_bytes(text[len(operator):]))
                break
    if any(bound is not None and bound > MAX_SIZE for bound in bounds):
        raise ValidationError(f"a size is at most {MAX_SIZE} bytes (8 EiB)")
    low, high = bounds
    if (high is not None and high < 0) or (low is not None and high is not None and low > high):
        raise ValidationError("no size is in this range")
    return bounds
