"""Whether every tag of a SQLite store names a stored card, so that reads of tags alone take
the tag index: the tag facet over every card, the count of one tag's cards and their tag facet.

mcard tags stored cards only, and a card's deletion removes its tags (``card_deleted``), but
another tool may write a tag of a card that is not stored: such a tag is no card's, and is
counted nowhere. Telling those apart costs a look-up of each tag's card (~0.8 us a tag: the tag
facet over 1,000,000 cards with 500,000 tags took 430 ms, ~50 ms in the index alone). So
``mcard_meta`` holds ``tags_of_stored_cards`` while every tag names a stored card, and the
triggers below delete it within every write that could leave one naming none, whichever
program writes:

- a tag inserted, or moved to another hash, whose card is not stored;
- a card's hash changed while tags name it.

The note holds the schema's version (``PRAGMA schema_version``) and counts only while that is
unchanged: a tool that drops a trigger, or rebuilds a table and with it its triggers
(``sqlite-utils transform``), changes the schema, and what it writes meanwhile goes unseen. A
check writes the note only while those triggers exist; an open store makes them again at its
next background step (``sqlite_schema.put_back_triggers``).

A card deleted takes its tags along (``card_deleted``). SQLite runs no trigger for a row that a
``REPLACE`` conflict resolution deletes (``INSERT OR REPLACE``, ``UPDATE OR REPLACE`` onto
another card's id, or onto a value of another tool's unique index), nor does the search index
follow that change; a trigger on every insert into ``card`` would cost each card ~5 us, as
much as the insert itself, so such a write is left to ``verify``, which names the tags it
leaves.

A new store holds the note. One without it (made by an earlier mcard, or after such a write
or a change of schema) is checked in the background once per session opened for writing
(``SQLiteStore._check_tags``): the note is written only if no tag names a missing card, and
only if no such write, no change of schema and no other session's check came between the
check and the writing: such a write's trigger deletes the check's marker
(``tags_being_checked``, a number of its own), another check replaces it.
"""

from __future__ import annotations

from typing import Final

HELD: Final = (
    "EXISTS (SELECT 1 FROM mcard_meta, pragma_schema_version()"
    " WHERE key = 'tags_of_stored_cards' AND value = schema_version)"
)
WHEN_HELD: Final = f"(SELECT 1 WHERE {HELD}) AS held"
UNLESS_HELD: Final = f"(SELECT 1 WHERE NOT {HELD}) AS unheld"
"""Tables of one row when every tag names a stored card (``WHEN_HELD``) or unless it does
(``UNLESS_HELD``), else empty: a statement led by one (``CROSS JOIN``) reads nothing else when
it is empty, where a ``WHERE`` on the note was tested on each row its loops read."""
_FORGOTTEN: Final = "DELETE FROM mcard_meta WHERE key IN ('tags_of_stored_cards', 'tags_being_checked')"

TAG_OF_NO_CARD: Final = f"""CREATE TRIGGER tag_of_no_card AFTER INSERT ON tag
        WHEN NOT EXISTS (SELECT 1 FROM card WHERE hash = new.hash) BEGIN {_FORGOTTEN}; END"""
TAG_MOVED: Final = f"""CREATE TRIGGER tag_moved AFTER UPDATE OF hash ON tag
        WHEN NOT EXISTS (SELECT 1 FROM card WHERE hash = new.hash) BEGIN {_FORGOTTEN}; END"""
CARD_REHASHED: Final = f"""CREATE TRIGGER card_rehashed AFTER UPDATE OF hash ON card
        WHEN old.hash IS NOT new.hash AND EXISTS (SELECT 1 FROM tag WHERE hash = old.hash) BEGIN {_FORGOTTEN}; END"""
TAGS_CHECKED: Final = (
    "INSERT OR REPLACE INTO mcard_meta (key, value) SELECT 'tags_of_stored_cards', schema_version"
    " FROM pragma_schema_version()"
)
"""A new store's note: it has no tag yet."""
IS_HELD: Final = f"SELECT {HELD}"
CHECK_BEGUN: Final = "INSERT OR REPLACE INTO mcard_meta (key, value) VALUES ('tags_being_checked', ?)"
"""The marker of one check: its own number, so that a check another session begins meanwhile
(which writes its own) keeps this one from writing the note."""
TAG_OF_NO_CARD_FOUND: Final = (
    "SELECT EXISTS (SELECT 1 FROM tag WHERE NOT EXISTS (SELECT 1 FROM card WHERE card.hash = tag.hash)),"
    " (SELECT schema_version FROM pragma_schema_version())"
)
"""Whether a tag names no stored card, and the schema version it was looked up at."""
CHECK_PASSED: Final = (
    "INSERT OR REPLACE INTO mcard_meta (key, value) SELECT 'tags_of_stored_cards', schema_version"
    " FROM mcard_meta, pragma_schema_version() WHERE key = 'tags_being_checked' AND value = ?1 AND schema_version = ?2"
    " AND (SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
    " AND name IN ('card_deleted', 'tag_of_no_card', 'tag_moved', 'card_rehashed')) = 4"
)
"""The note, if the check's marker is still its own, the schema is as it was looked up and
holds the triggers that keep it (a rebuild of a table drops that table's)."""
CHECK_ENDED: Final = "DELETE FROM mcard_meta WHERE key = 'tags_being_checked' AND value = ?"
