"""Which stored sighting rows are ones mcard would store, as SQL of each engine.

Another tool may write rows with values of the wrong kind or out of range, or with a name, path
or source ``Sighting.of`` refuses; readers leave them out (``card_rows.row_sighting`` is the same
test in Python) and ``verify`` names them.
"""

from __future__ import annotations

from typing import Final

from mcard.domain.models.card import MAX_MICROS, MIN_MICROS
from mcard.domain.models.sighting import MAX_LABEL

_LABELS: Final = ("name", "path", "source")
_SQLITE_LABEL_TEXT: Final = "(" + " || ".join(f"coalesce({column}, '')" for column in _LABELS) + ")"
"""A row's name, path and source as one text (``||`` keeps every byte, a NUL too)."""
_SQLITE_CONTROL: Final = (
    f"CASE WHEN json_valid('\"' || {_SQLITE_LABEL_TEXT} || '\"') AND instr({_SQLITE_LABEL_TEXT}, char(127)) = 0"
    f" AND instr(CAST({_SQLITE_LABEL_TEXT} AS BLOB), X'C2') = 0 THEN 0"
    f" ELSE instr({_SQLITE_LABEL_TEXT}, char(0)) > 0"
    f" OR {_SQLITE_LABEL_TEXT} GLOB ('*[' || char(1) || '-' || char(31) || char(127) || '-' || char(159) || ']*') END"
)
"""Whether a row's name, path or source holds a control character (Unicode's Cc: U+0000-U+001F,
U+007F-U+009F). SQLite reads a GLOB's character class again at every character, so most rows
are cleared by byte scans first: text that is a valid JSON string once quoted holds no byte
below 0x20, and text without the bytes 7F and C2 (the first byte of U+0080-U+00BF) none of the
others. The GLOB decides the rest, with ``instr`` for NUL, at which a GLOB stops."""
_POSTGRES_NO_CONTROL: Final = r"concat(name, path, source) !~ '[\x01-\x1f\x7f-\x9f]'"
"""That none of a row's name, path and source holds a control character, in PostgreSQL (whose
text holds no NUL)."""
SQLITE_MALFORMED: Final = (
    "typeof(seen_at) != 'integer' OR typeof(mtime) NOT IN ('integer', 'null')"
    " OR typeof(size) NOT IN ('integer', 'null') OR size < 0"
    f" OR seen_at NOT BETWEEN {int(MIN_MICROS)} AND {int(MAX_MICROS)} OR mtime NOT BETWEEN {int(MIN_MICROS)} AND {int(MAX_MICROS)}"
    + "".join(
        f" OR typeof({column}) NOT IN ('text', 'null') OR length({column}) NOT BETWEEN 1 AND {int(MAX_LABEL)}"
        for column in _LABELS
    )
    + f" OR {_SQLITE_CONTROL}"
)
"""A row of SQLite's ``sighting`` mcard would not store: a value of the wrong kind, a negative
size, a time no card can have, a name, path or source ``Sighting.of`` refuses (empty, over
``MAX_LABEL`` characters, holding a control character)."""
SQLITE_SOUND: Final = f"({SQLITE_MALFORMED}) IS NOT 1"
"""A sighting row mcard would store (a test left unknown by NULLs is none of the faults):
names are read from these alone, as sightings are."""
POSTGRES_SOUND: Final = (
    f"(size IS NULL OR size >= 0) AND seen_at BETWEEN {int(MIN_MICROS)} AND {int(MAX_MICROS)}"
    f" AND (mtime IS NULL OR mtime BETWEEN {int(MIN_MICROS)} AND {int(MAX_MICROS)})"
    + "".join(
        f" AND ({column} IS NULL OR ({column} <> ''"
        f" AND (octet_length({column}) <= {int(MAX_LABEL)} OR char_length({column}) <= {int(MAX_LABEL)})))"
        for column in _LABELS
    )
    + f" AND {_POSTGRES_NO_CONTROL}"
)
"""The same for PostgreSQL, whose columns hold values of their kind only (a label's characters
are counted only when it has more bytes than ``MAX_LABEL``)."""
