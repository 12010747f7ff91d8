"""Which stored sighting rows are ones mcard would store, as SQL of each engine.

Another tool may write rows with values of the wrong kind or out of range; readers leave them
out (``card_rows.row_sighting`` is the same test in Python) and ``verify`` names them.
"""

from __future__ import annotations

from typing import Final

from mcard.domain.models.card import MAX_MICROS, MIN_MICROS

SQLITE_MALFORMED: Final = (
    "typeof(seen_at) != 'integer' OR typeof(mtime) NOT IN ('integer', 'null')"
    " OR typeof(size) NOT IN ('integer', 'null') OR size < 0 OR typeof(name) NOT IN ('text', 'null')"
    " OR typeof(path) NOT IN ('text', 'null') OR typeof(source) NOT IN ('text', 'null')"
    f" OR seen_at NOT BETWEEN {int(MIN_MICROS)} AND {int(MAX_MICROS)} OR mtime NOT BETWEEN {int(MIN_MICROS)} AND {int(MAX_MICROS)}"
)
"""A row of SQLite's ``sighting`` mcard would not store: a value of the wrong kind, a negative
size, a time no card can have."""
SQLITE_SOUND: Final = f"({SQLITE_MALFORMED}) IS NOT 1"
"""A sighting row mcard would store (a test left unknown by NULLs is none of the faults):
names are read from these alone, as sightings are."""
POSTGRES_SOUND: Final = (
    f"(size IS NULL OR size >= 0) AND seen_at BETWEEN {int(MIN_MICROS)} AND {int(MAX_MICROS)}"
    f" AND (mtime IS NULL OR mtime BETWEEN {int(MIN_MICROS)} AND {int(MAX_MICROS)})"
)
"""The same for PostgreSQL, whose columns hold values of their kind only."""
