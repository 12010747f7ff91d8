"""What an export record says about a card beyond its content: its latest ``name``, its
``tags`` and its ``sightings``, written by ``mcard.exporting`` and read back, checked, by
``mcard.importing``.

In JSON Lines they are JSON values; in CSV, cells holding JSON (``tags`` a list, ``sightings``
a list of objects); in Parquet, a list of strings and a list of structs with timestamps.
"""

from __future__ import annotations

import ast
import json
import re
from datetime import datetime
from typing import Any, Final, Optional

from mcard.domain.models.card import format_time
from mcard.domain.models.exceptions import brief, ValidationError
from mcard.domain.models.sighting import Sighting, as_label, check_tag

LABEL_FIELDS: Final = ("name", "tags", "sightings")
SIGHTING_FIELDS: Final = ("name", "path", "size", "mtime", "source", "seen_at")
_DATE_THEN_TIME: Final = re.compile(r"[0-9]{4}(?:-[0-9]{2}-[0-9]{2}|[0-9]{4}|-?W[0-9]{2}(?:-?[1-7])?)(?:[Tt ]|$)")
"""A date, alone or then ``T``, ``t`` or a space: Python takes any character there
(``2026-01-02+03:00Z`` was read as 03:00 UTC)."""


def sighting_record(seen: Sighting, binary: bool = False) -> dict[str, Any]:
    """A sighting as a record (times ISO 8601 text, or ``datetime`` for Parquet)."""
    times = {"mtime": seen.mtime, "seen_at": seen.seen_at}
    if not binary:
        times = {key: None if value is None else format_time(value) for key, value in times.items()}
    return {"name": seen.name, "path": seen.path, "size": seen.size, **times, "source": seen.source}


def label_fields(name: Optional[str], tags: list[str], sightings: list[Sighting], *, binary: bool, cells: bool) -> dict[str, Any]:
    """``name``, ``tags`` and ``sightings`` of a record; with ``cells`` (CSV) the lists as JSON text."""
    seen = [sighting_record(s, binary) for s in sightings]
    if cells:
        return {"name": name or "", "tags": json.dumps(tags, ensure_ascii=False),
                "sightings": json.dumps(seen, ensure_ascii=False)}
    return {"name": name, "tags": tags, "sightings": seen}


def _listed(record: dict[str, Any], field: str) -> list[Any]:
    value = record.get(field)
    if value is None or value == "":
        return []
    if isinstance(value, str):  # a CSV cell
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            value = _python_literal(value, (list, tuple))
            if value is None:
                raise ValidationError(f"{field} is not a JSON list: {exc.msg}") from None
            value = list(value)
        except ValueError as exc:  # a number of more digits than Python converts
            raise ValidationError(f"{field}: {str(exc).split(';')[0]}") from None
        except RecursionError:
            raise ValidationError(f"{field}: JSON nested too deeply to read") from None
    if not isinstance(value, list):
        raise ValidationError(f"{field} is a list, not {type(value).__name__}")
    return value


def _python_literal(cell: str, kinds: tuple[type, ...]) -> Any:
    """The value of a cell pandas' ``to_csv`` wrote as its ``repr`` (a frame's tags tuple
    ``('a', 'b')``, a bytes content ``b'\\x89PNG'``) when it is one of ``kinds``, else None."""
    if not cell.startswith(("(", "[", "b'", 'b"')):
        return None
    try:
        value = ast.literal_eval(cell)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, kinds) else None


def bytes_literal(cell: str) -> Optional[bytes]:
    """The bytes of a cell holding a ``b'...'`` literal (a bytes content pandas wrote), or None."""
    return _python_literal(cell, (bytes,)) if cell.startswith(("b'", 'b"')) else None


def aware_time(value: str | datetime, field: str) -> datetime:
    """A record's time, ISO 8601 text (JSON Lines, CSV) or a timestamp (Parquet), which must
    carry its UTC offset: without one it could be any time zone's."""
    if isinstance(value, datetime):
        moment, shown = value, value.isoformat()
    else:
        try:
            if not _DATE_THEN_TIME.match(value):
                raise ValueError(value)
            moment, shown = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00")), value
        except ValueError:
            raise ValidationError(f"{field} is not an ISO 8601 time: {brief(value)}") from None
    if moment.utcoffset() is None:
        raise ValidationError(f"{field} {brief(shown)} has no UTC offset: add one, such as Z for UTC")
    return moment


def _time(value: object, field: str) -> Optional[datetime]:
    if value is None:
        return None
    if not isinstance(value, (str, datetime)):
        raise ValidationError(f"a sighting's {field} is an ISO 8601 time, not {type(value).__name__}")
    return aware_time(value, f"a sighting's {field}")


def record_tags(record: dict[str, Any]) -> list[str]:
    """The record's tags, each checked as ``tag()`` checks it."""
    return [check_tag(tag) for tag in _listed(record, "tags")]


def _text(item: dict[str, Any], field: str) -> Optional[str]:
    value = item.get(field)
    return as_label(value) if isinstance(value, str) and value else value


def _record_name(record: dict[str, Any]) -> Optional[str]:
    value = record.get("name")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError(f"a record's name is a string, not {type(value).__name__}")
    return as_label(value)


def _latest_name(sightings: list[Sighting]) -> Optional[str]:
    """The name a store gives a card seen so: that of its latest named sighting (ties by key)."""
    named = [seen for seen in sightings if seen.name is not None]
    return max(named, key=lambda seen: (seen.seen_at, seen.key)).name if named else None


def record_sightings(record: dict[str, Any], hash_str: str) -> list[Sighting]:
    """The record's sightings of the card ``hash_str``, each checked as ``Sighting.of`` checks
    it; names, paths and sources from another tool keep control characters as escapes."""
    found = []
    for item in _listed(record, "sightings"):
        if not isinstance(item, dict) or set(item) - set(SIGHTING_FIELDS):
            raise ValidationError(f"a sighting is an object of {', '.join(SIGHTING_FIELDS)}, got {brief(item)}")
        if item.get("seen_at") is None:
            raise ValidationError("a sighting has no seen_at")
        found.append(Sighting.of(
            hash_str, name=_text(item, "name"), path=_text(item, "path"), size=item.get("size"),
            mtime=_time(item.get("mtime"), "mtime"), source=_text(item, "source"),
            seen_at=_time(item.get("seen_at"), "seen_at"),
        ))
    return found


def name_sighting(record: dict[str, Any], listed: list[Sighting], hash_str: str, size: int) -> Optional[Sighting]:
    """The sighting a record's ``name`` adds when it is not the latest of its ``listed``
    sightings (a record of another tool, an edited export, a DataFrame row): seen now, with
    ``size``, as ``create(content, name=...)`` sees it."""
    name = _record_name(record)
    if name is None or name == _latest_name(listed):
        return None
    return Sighting.of(hash_str, name=name, size=size)
