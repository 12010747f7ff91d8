"""The card table's key, as mcard relies on it, after another tool rebuilt the table.

A card's id is the table's ``INTEGER PRIMARY KEY AUTOINCREMENT``: the search indexes cover the
cards up to an id, listings' page marks and the change stamp read the sequence, and no id is
given twice. A rebuild by another tool (``sqlite-utils transform``) can undo that:

- ``transform --pk hash`` makes ``id`` a plain column, so cards stored then get no id and no
  search finds them: such a store is refused for writing (``KEY_LOST``), read with a warning;
- sqlite-utils before 4.2 drops ``AUTOINCREMENT`` (its issue 602), so the ids of removed cards
  come back: such a table is rebuilt with it once (``sqlite_schema.ensure_schema``);
- a rebuild that keeps it starts the sequence again at the highest id left, so the ids of the
  newest removed cards, which the indexes may still cover, come back: the sequence is set past
  them (``seed_sequence``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from .sqlite_connection import SQLiteWorker

ID_IS_THE_ROWID: Final = (
    "SELECT count(*) = 1 AND sum(name = 'id' AND upper(type) = 'INTEGER') = 1"
    " FROM pragma_table_info('card') WHERE pk > 0"
)
HAS_AUTOINCREMENT: Final = (
    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'card'"
    " AND instr(upper(sql), 'AUTOINCREMENT') > 0)"
)
KEY_LOST: Final = (
    "the card table's id is no longer its INTEGER PRIMARY KEY (another tool rebuilt the table, as"
    " `sqlite-utils transform --pk` does), which mcard's search index and paging rely on"
)
_PAST_EVERY_ID: Final = (
    "max(coalesce((SELECT max(id) FROM card), 0), coalesce((SELECT max(id) FROM card_text_garbage), 0),"
    " (SELECT value FROM mcard_meta WHERE key = 'text_indexed'))"
)
"""An id no card was given yet: past the stored cards, the removed ones still to be purged
from the indexes, and every id the indexes cover."""
SEQUENCE_BEHIND: Final = f"SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'card'), 0) < {_PAST_EVERY_ID}"
RAISE_SEQUENCE: Final = f"UPDATE sqlite_sequence SET seq = {_PAST_EVERY_ID} WHERE name = 'card' AND seq < {_PAST_EVERY_ID}"
START_SEQUENCE: Final = (
    f"INSERT INTO sqlite_sequence (name, seq) SELECT 'card', {_PAST_EVERY_ID}"
    " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'card')"
)


async def key_state(db: SQLiteWorker) -> str:
    """``"kept"``; ``"no autoincrement"`` (the id is still the rowid); or ``"lost"``."""
    [(rowid,)] = await db.fetch(ID_IS_THE_ROWID)
    if not rowid:
        return "lost"
    [(counted,)] = await db.fetch(HAS_AUTOINCREMENT)
    return "kept" if counted else "no autoincrement"


async def sequence_behind(db: SQLiteWorker) -> bool:
    """Whether the next id AUTOINCREMENT gives could be one a card had (``"kept"`` key only)."""
    [(behind,)] = await db.fetch(SEQUENCE_BEHIND)
    return bool(behind)


async def seed_sequence(db: SQLiteWorker) -> None:
    """Set the sequence past every id a card had, in the caller's transaction."""
    await db.execute(RAISE_SEQUENCE)
    await db.execute(START_SEQUENCE)
