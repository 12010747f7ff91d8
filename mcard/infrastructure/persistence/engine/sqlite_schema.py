"""The SQLite schema (version 5), its creation and the upgrades from versions 1 to 4.

Version 2 added ``content_type``; version 3 an explicit ``id INTEGER PRIMARY KEY AUTOINCREMENT``
(a rowid that ``VACUUM`` never renumbers and no insert ever reuses) and a trigram index.
Version 4 searches every card whose content is text (text cards, and bytes cards whose bytes
are UTF-8) through one contentless FTS5 trigram index over the casefolded text (``card_text``):
it finds the candidates of every kind of search, which are then checked exactly; and it keeps
sightings (``sighting``) and tags (``tag``) beside the cards. Version 5 stores ``content`` as
the last column: SQLite reaches a column stored after a large value by walking its overflow
pages, so with the content second every read of ``size`` or ``g_time`` from the table read each
large card whole.

Indexing costs ~50 us per small card, ten times an insert, so it is not done by the insert:
the index covers the cards with ``id <= text_indexed`` (in ``mcard_meta``) and are extended in
the background (``index_step``), each step a single statement atomic by itself: raising
``text_indexed`` indexes the cards it now covers (a trigger), deleting queued texts removes
them (a trigger). ``card_searchable`` lists the covered cards that have text, and those with
a NUL in it (FTS5 stops reading at one), which searches check by scanning. A search looks up
the index for the cards it covers and scans the few newer ones, and every candidate is
checked against the content, so results are exact at every moment. A deleted card's id is
never used again; the deletion trigger queues its text in ``card_text_garbage``, removes its
sightings and tags, and counts the deletion in ``changes`` (as another trigger counts a change
to a stored row), which with the AUTOINCREMENT sequence tells listings whether anything changed.
A card whose content another tool changes under its id is queued the same way
(``card_rewritten``) and checked by scanning until the purge, which indexes it again.

The folding function ``mcard_searchable(content, is_text)`` is registered on every mcard
connection (``register_functions``); only mcard's own background steps call it, so other
tools can still read, insert and delete cards (``CARD_DELETED``).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import unicodedata
from typing import TYPE_CHECKING, Any, Final, Optional

from mcard.content_types import detect_content_type
from mcard.domain.models.exceptions import NewerStoreError, NoCardStoreError, OlderStoreError, StorageError
from mcard.domain.models.sighting import composed, stored_tag_fault
from mcard.domain.query.text import UNICODE_VERSION, WORD_RULES, SearchSpec, count_tokens, joined_tokens, text_of

from . import sqlite_card_key as card_key
from .integrity import TAGS_LEFT_DECOMPOSED, holds_its_hash
from .sqlite_tag_check import CARD_REHASHED, TAG_MOVED, TAG_OF_NO_CARD, TAGS_CHECKED

if TYPE_CHECKING:
    from .sqlite_connection import SQLiteWorker

logger = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 5
READABLE_VERSIONS: Final = (4, 5)
"""Versions opened read-only as they are: version 4 differs only in the order of the columns."""

CARD_COLUMNS: Final = """(
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        hash           TEXT NOT NULL UNIQUE,
        is_text        INTEGER NOT NULL,
        g_time         INTEGER NOT NULL,  -- microseconds since 1970-01-01T00:00:00Z
        hash_algorithm TEXT NOT NULL,
        size           INTEGER NOT NULL,
        content_type   TEXT,              -- MIME type, detected once when the card is saved
        content        BLOB NOT NULL      -- last: the columns before it are read without it
    )"""
CARD_BY_TIME: Final = "CREATE INDEX card_by_time ON card (g_time, hash)"
CARD_TABLE: Final = (f"CREATE TABLE card {CARD_COLUMNS}", CARD_BY_TIME)

META: Final = (
    "CREATE TABLE mcard_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT INTO mcard_meta (key, value)"
    f" VALUES ('schema_version', {SCHEMA_VERSION}), ('changes', 0), ('text_indexed', 0)",
)
TEXT_READING: Final = 2
"""How the index triggers tell a text all ASCII (``PLAIN_TEXT``), stored beside the indexes as
``text_reading`` (2: by its bytes; before, a text another tool stored as TEXT rather than a
BLOB, and not all ASCII, was indexed as ASCII: ``ensure_schema`` rebuilds the indexes of a
store that holds one)."""
SET_TEXT_RULES: Final = (
    "INSERT OR REPLACE INTO mcard_meta (key, value)"
    f" VALUES ('unicode_version', {int(UNICODE_VERSION)}), ('word_rules', {int(WORD_RULES)}),"
    f" ('text_reading', {TEXT_READING})"
)
REBUILD_INDEXES: Final = (
    "DELETE FROM card_text_garbage",
    "INSERT INTO card_text (card_text) VALUES ('delete-all')",
    "INSERT INTO card_words (card_words) VALUES ('delete-all')",
    "DELETE FROM card_searchable",
    "UPDATE mcard_meta SET value = 0 WHERE key = 'text_indexed'",
    SET_TEXT_RULES,
)

PLAIN_TEXT: Final = "is_text AND length(CAST(content AS TEXT)) = length(CAST(content AS BLOB))"
"""A text all ASCII (as many characters as bytes: no NUL either; its bytes counted as bytes
also in a value another tool stored as TEXT, whose ``length`` counts characters), whose
casefolded text and words SQL gives as the reference does: ``lower`` folds ASCII alone, and
FTS5's ``ascii`` tokenizer splits at every character but ASCII letters and digits, where
``tokens`` splits such a text. Only other contents go to Python (at 100,000 small cards,
calling it for every one took a quarter of the index build's CPU time)."""
FOLDED: Final = f"CASE WHEN {PLAIN_TEXT} THEN lower(CAST(content AS TEXT)) ELSE mcard_searchable(content, is_text) END"
WORDS: Final = f"CASE WHEN {PLAIN_TEXT} THEN CAST(content AS TEXT) ELSE mcard_words(content, is_text) END"
_INDEX_TEXTS: Final = (
    "INSERT INTO card_text (rowid, content) SELECT id, folded FROM ("
    f" SELECT card.id AS id, {FOLDED} AS folded FROM card WHERE "
)
_INDEX_TEXTS_END: Final = ") WHERE folded IS NOT NULL AND instr(folded, char(0)) = 0"
_INDEX_WORDS: Final = (
    f"INSERT INTO card_words (rowid, words) SELECT id, words FROM (SELECT card.id AS id, {WORDS} AS words FROM card WHERE "
)
_INDEX_WORDS_END: Final = ") WHERE words IS NOT NULL"
_INDEX_SEARCHABLE: Final = (
    "INSERT INTO card_searchable (id, has_nul, words)"
    " SELECT id, instr(folded, char(0)) > 0, mcard_word_count(content, is_text) FROM ("
    f" SELECT card.id AS id, card.content AS content, card.is_text AS is_text, {FOLDED} AS folded FROM card WHERE "
)
_INDEX_SEARCHABLE_END: Final = ") WHERE folded IS NOT NULL"
"""The statements that index chosen cards below what the indexes cover, each the text before
and after the condition choosing them (``card_searchable`` last: a condition that chooses by
its absence holds for the first two), as ``CARD_TEXT_EXTENDED`` indexes new ones."""
TAKEN_AGAIN: Final = (
    "card.id = old.id AND card.id <= (SELECT value FROM mcard_meta WHERE key = 'text_indexed')"
    " AND card.id NOT IN (SELECT id FROM card_searchable)"
)
"""In ``card_text_purged``: the card that holds the purged id again (another tool's ``INSERT OR
REPLACE`` onto it, or an update of its content, ``card_rewritten``), indexed once its old
entries are gone."""
CARD_TEXT_EXTENDED: Final = f"""CREATE TRIGGER card_text_extended AFTER UPDATE OF value ON mcard_meta
        WHEN new.key = 'text_indexed' AND new.value > old.value BEGIN
        INSERT INTO card_searchable (id, has_nul, words)
            SELECT id, instr(folded, char(0)) > 0, mcard_word_count(content, is_text) FROM (
                SELECT id, content, is_text, {FOLDED} AS folded
                FROM card WHERE id > old.value AND id <= new.value) WHERE folded IS NOT NULL;
        INSERT INTO card_text (rowid, content)
            SELECT card.id, {FOLDED} FROM card JOIN card_searchable USING (id)
            WHERE card.id > old.value AND card.id <= new.value AND NOT has_nul;
        INSERT INTO card_words (rowid, words)
            SELECT card.id, {WORDS} FROM card JOIN card_searchable USING (id)
            WHERE card.id > old.value AND card.id <= new.value;
    END"""
CARD_TEXT_PURGED: Final = f"""CREATE TRIGGER card_text_purged AFTER DELETE ON card_text_garbage BEGIN
        INSERT INTO card_text (card_text, rowid, content)
            SELECT 'delete', old.id, folded FROM (
                SELECT {FOLDED} AS folded FROM (SELECT old.content AS content, old.is_text AS is_text))
            WHERE instr(folded, char(0)) = 0;
        INSERT INTO card_words (card_words, rowid, words)
            SELECT 'delete', old.id, {WORDS} FROM (SELECT old.content AS content, old.is_text AS is_text);
        {_INDEX_TEXTS}{TAKEN_AGAIN}{_INDEX_TEXTS_END};
        {_INDEX_WORDS}{TAKEN_AGAIN}{_INDEX_WORDS_END};
        {_INDEX_SEARCHABLE}{TAKEN_AGAIN}{_INDEX_SEARCHABLE_END};
    END"""
READ_CHANGES: Final = (
    "(SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'card'), 0)"
    " + (SELECT value FROM mcard_meta WHERE key = 'changes'))"
)
"""The change stamp: it grows with every change (inserts raise the AUTOINCREMENT sequence,
deletes and updates the counter, ``COUNT_A_CHANGE``)."""
COUNT_A_CHANGE: Final = """INSERT INTO mcard_meta (key, value) SELECT 'changes counted', value + 1 FROM mcard_meta
            WHERE key = 'changes';
        DELETE FROM mcard_meta WHERE key = 'changes';
        UPDATE mcard_meta SET key = 'changes' WHERE key = 'changes counted';"""
"""The change counter's bump in a trigger that another tool's write sets off. That connection has
none of mcard's Python functions, so nothing it sets off may compile a trigger calling them: an
UPDATE of ``value`` in mcard_meta compiles card_text_extended (a rename of the key does not).
Neither may a statement of these triggers rely on its conflict clause: the write that sets it
off imposes its own (``INSERT OR REPLACE``; the ``DO UPDATE`` of an upsert, ABORT). sqlite-utils
writes both and turns ``PRAGMA recursive_triggers`` on, which has a REPLACE's deletion compile
the deleted table's DELETE triggers (card_text_purged); hence the queued text's DO NOTHING."""
CARD_DELETED: Final = f"""CREATE TRIGGER card_deleted AFTER DELETE ON card BEGIN
        {COUNT_A_CHANGE}
        INSERT INTO card_text_garbage (id, content, is_text) SELECT old.id, old.content, old.is_text
            WHERE EXISTS (SELECT 1 FROM card_searchable WHERE id = old.id) ON CONFLICT DO NOTHING;
        DELETE FROM card_searchable WHERE id = old.id;
        DELETE FROM sighting WHERE hash = old.hash;
        DELETE FROM tag WHERE hash = old.hash;
    END"""
CARD_CHANGED: Final = f"""CREATE TRIGGER card_changed AFTER UPDATE ON card BEGIN
        {COUNT_A_CHANGE}
    END"""
"""mcard never changes a stored card but its missing content type; another tool may move a card
in time (or change what a filter reads): counted as a change, so a listing's next page is read
afresh instead of continued from a page mark that no longer holds."""
CARD_REWRITTEN: Final = """CREATE TRIGGER card_rewritten AFTER UPDATE OF id, is_text, content ON card BEGIN
        INSERT INTO card_text_garbage (id, content, is_text) SELECT old.id, old.content, old.is_text
            WHERE EXISTS (SELECT 1 FROM card_searchable WHERE id = old.id) ON CONFLICT DO NOTHING;
        DELETE FROM card_searchable WHERE id = old.id;
    END"""
"""Another tool changed what the indexes hold of a card (its content, or its id): the old
entries are queued for the purge, as a deletion's, and the card is read as not indexed until
``card_text_purged`` indexes it again."""
OWN_TRIGGERS: Final = {
    "card_text_extended": CARD_TEXT_EXTENDED, "card_text_purged": CARD_TEXT_PURGED, "card_deleted": CARD_DELETED,
    "card_changed": CARD_CHANGED, "card_rewritten": CARD_REWRITTEN, "tag_of_no_card": TAG_OF_NO_CARD,
    "tag_moved": TAG_MOVED, "card_rehashed": CARD_REHASHED,
}
"""The triggers that index, unindex and remove cards, and tell whether every tag names a stored
card (``sqlite_tag_check``). They are code more than schema: a store opened for writing
replaces ones that differ (an older mcard's), whose entries are the same."""
DROP_OWN_TRIGGERS: Final = {
    "card_text_extended": "DROP TRIGGER IF EXISTS card_text_extended",
    "card_text_purged": "DROP TRIGGER IF EXISTS card_text_purged",
    "card_deleted": "DROP TRIGGER IF EXISTS card_deleted", "card_changed": "DROP TRIGGER IF EXISTS card_changed",
    "tag_of_no_card": "DROP TRIGGER IF EXISTS tag_of_no_card", "tag_moved": "DROP TRIGGER IF EXISTS tag_moved",
    "card_rehashed": "DROP TRIGGER IF EXISTS card_rehashed", "card_rewritten": "DROP TRIGGER IF EXISTS card_rewritten",
}
STORED_TRIGGERS: Final = "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
CARD_TRIGGERS_DROPPED: Final = (
    "SELECT count(*) < 2 FROM sqlite_master WHERE type = 'trigger' AND name IN ('card_deleted', 'card_changed')"
)
"""Whether the triggers every mcard since schema 4 keeps on ``card`` are gone: another program
rebuilt the table (``sqlite-utils transform``), and what it wrote meanwhile went unseen by the
search indexes, which are rebuilt."""


CARD_INDEXES: Final = (
    "CREATE INDEX card_by_type ON card (content_type, g_time)",
    "CREATE INDEX card_by_size ON card (size)",  # size filters, and the size facet counted in it
)
SEARCH: Final = CARD_INDEXES + (
    "CREATE VIRTUAL TABLE card_text USING fts5(content, content='', tokenize='trigram case_sensitive 1')",
    "CREATE VIRTUAL TABLE card_words USING fts5(words, content='', tokenize='ascii')",
    """CREATE TABLE card_searchable (
        id      INTEGER PRIMARY KEY,
        has_nul INTEGER NOT NULL,  -- not in card_text: FTS5 would stop reading at the NUL
        words   INTEGER NOT NULL   -- how many words card_words holds for it
    )""",
    "CREATE INDEX card_searchable_with_nul ON card_searchable (id) WHERE has_nul",
    "CREATE TABLE card_text_garbage (id INTEGER PRIMARY KEY, content BLOB NOT NULL, is_text INTEGER NOT NULL)",
    CARD_TEXT_EXTENDED,
    CARD_TEXT_PURGED,
)

TO_COMPOSE: Final = (
    "name GLOB '*[^ -\u02ff\u0388-\u038a\u038e-\u03a1\u03a3-\u0482\u048a-\u052f\u05d0-\u05ea"
    "\u061b-\u064a\u0671-\u06d5\u1e00-\u1f15\u2010-\u2027\u3041-\u3096\u309b-\u30ff"
    "\u3220-\ua48c\uac00-\ud7a3\U0001f300-\U0001f6d7]*'"
)
"""A sighting name that may not be composed (NFC): one with a character outside these ranges
(Latin to U+02FF and precomposed Latin; Greek, Cyrillic, Hebrew and Arabic letters; dashes and
quotes; kana, CJK, Hangul syllables, pictographs), all assigned, none a combining mark,
decomposed, or composed with the character before it, so a name of them alone is composed now
and in every later Unicode version. A name filter matches such names as they are, through
``sighting_by_name``."""
NAMES_TO_COMPOSE: Final = f"CREATE INDEX IF NOT EXISTS sighting_by_name_to_compose ON sighting (name) WHERE {TO_COMPOSE}"
"""The names a name filter composes before matching; made when missing (a store of an earlier
mcard) by any open for writing."""

LABELS: Final = (
    """CREATE TABLE sighting (
        id      INTEGER PRIMARY KEY,
        key     TEXT NOT NULL UNIQUE,  -- Sighting.key: the same sighting is recorded once
        hash    TEXT NOT NULL,
        name    TEXT,
        path    TEXT,
        size    INTEGER,
        mtime   INTEGER,               -- microseconds since 1970-01-01T00:00:00Z
        source  TEXT,
        seen_at INTEGER NOT NULL       -- microseconds since 1970-01-01T00:00:00Z
    )""",
    "CREATE INDEX sighting_by_hash ON sighting (hash, seen_at)",
    "CREATE INDEX sighting_by_name ON sighting (name)",
    NAMES_TO_COMPOSE,
    "CREATE TABLE tag (hash TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (hash, tag)) WITHOUT ROWID",
    "CREATE INDEX tag_by_tag ON tag (tag, hash)",
)

CURRENT: Final = SEARCH + LABELS + (CARD_DELETED, CARD_CHANGED, CARD_REWRITTEN, TAG_OF_NO_CARD, TAG_MOVED, CARD_REHASHED)
TAGS_COMPOSED: Final = "INSERT OR REPLACE INTO mcard_meta (key, value) VALUES ('composed_tags', 1)"
"""Every tag is stored composed (NFC), as ``check_tag`` stores it: a store made before mcard
composed tags has its tags composed by its next open for writing (``compose_tags``)."""
HAS_TAGS_COMPOSED: Final = "SELECT 1 FROM mcard_meta WHERE key = 'composed_tags'"
TAGS_TO_COMPOSE: Final = "SELECT hash, CAST(tag AS BLOB) FROM tag WHERE tag GLOB '*[^ -~]*'"
"""The tags that may not be composed (not all ASCII), as bytes: one that is not UTF-8 (another
tool's) is no tag to compose, and reading it as text would fail."""
TAG_COMPOSED: Final = "INSERT OR IGNORE INTO tag (hash, tag) VALUES (?, ?)"
TAG_DECOMPOSED: Final = "DELETE FROM tag WHERE hash = ? AND tag = ?"
CREATE: Final = CARD_TABLE + META + CURRENT + (SET_TEXT_RULES, TAGS_COMPOSED, TAGS_CHECKED)

UPGRADE_FROM_2: Final = (
    "ALTER TABLE card RENAME TO card_v2",
    "DROP INDEX card_by_time",  # index names are global: the new table takes them
) + CARD_TABLE + (
    "INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
    " SELECT hash, content, is_text, g_time, hash_algorithm, size, content_type FROM card_v2"
    " ORDER BY g_time, hash",
    "DROP TABLE card_v2",
    "INSERT INTO mcard_meta (key, value) VALUES ('text_indexed', 0)",
)
UPGRADE_FROM_3: Final = (
    "DROP TRIGGER IF EXISTS card_deleted",
    "DROP TRIGGER IF EXISTS card_labels_deleted",  # an early version 5's: card_deleted removes labels now
    "DROP TRIGGER IF EXISTS card_text_extended",  # an early version 4's, on the index dropped next
    "DROP TRIGGER IF EXISTS card_text_purged",
    "DROP TABLE IF EXISTS card_text",
    "DROP TABLE IF EXISTS card_text_garbage",
    "DROP INDEX IF EXISTS card_with_nul",
    "UPDATE mcard_meta SET value = 0 WHERE key = 'text_indexed'",
)
SET_ASIDE: Final = (
    "DROP TRIGGER IF EXISTS card_deleted",  # this mcard's own triggers are made again after the copy
    "DROP TRIGGER IF EXISTS card_changed",
    "DROP TRIGGER IF EXISTS card_text_extended",
    "DROP TRIGGER IF EXISTS card_text_purged",
    f"CREATE TABLE card_v5 {CARD_COLUMNS}",
)
COPY_STEP: Final = (
    "INSERT INTO card_v5 (id, hash, is_text, g_time, hash_algorithm, size, content_type, content)"
    " SELECT id, hash, is_text, g_time, hash_algorithm, size, content_type, content FROM card"
    " WHERE id > (SELECT coalesce(max(id), 0) FROM card_v5) ORDER BY id LIMIT ?"
)
OTHERS_ON_CARD: Final = (
    "SELECT sql FROM sqlite_master WHERE tbl_name = 'card' AND type IN ('index', 'trigger') AND sql IS NOT NULL"
    " AND name NOT IN ('card_by_time', 'card_by_type', 'card_by_size', 'card_with_nul') ORDER BY type, name"
)
"""Indexes and triggers another tool put on ``card``: dropped with the old table, made again."""
SWAP: Final = (
    # The sequence goes on past deleted cards' ids: none is ever used again.
    "DELETE FROM sqlite_sequence WHERE name = 'card_v5'",
    "UPDATE sqlite_sequence SET name = 'card_v5' WHERE name = 'card'",
    "DROP TABLE card",
    # Legacy mode: the rename leaves views, triggers and foreign keys that name ``card`` as
    # they are (they then name the new table), where it would check them against a schema
    # that has no ``card`` for that moment, and fail.
    "PRAGMA legacy_alter_table = ON",
    "ALTER TABLE card_v5 RENAME TO card",
    CARD_BY_TIME,
)
COPY_SETTINGS: Final = {"cards_per_step": 500, "progress_from_cards": 10_000}
"""The copy of versions 3 and 4 to 5: cards per statement, and the table size from which it
shows a progress bar (it copies ~65 MB/s here: 15 s for 1 GB)."""
COUNT_CHANGE: Final = "UPDATE mcard_meta SET value = value + 1 WHERE key = 'changes'"
"""A change mcard's own connection makes that neither an insert nor a trigger counts."""
COUNTED_IF_CHANGED: Final = f"{COUNT_CHANGE} AND changes() > 0"
"""``COUNT_CHANGE`` if the statement before it changed a row."""
STAMP_VERSION: Final = (f"UPDATE mcard_meta SET value = {SCHEMA_VERSION} WHERE key = 'schema_version'", COUNT_CHANGE)
FINISH_UPGRADE: Final = CURRENT + STAMP_VERSION + (SET_TEXT_RULES,)
UPGRADE_FROM_4: Final = CARD_INDEXES + (CARD_TEXT_EXTENDED, CARD_TEXT_PURGED, CARD_DELETED, CARD_CHANGED) + STAMP_VERSION
"""Version 4 -> 5 after the copy: the search indexes are kept, the ids they hold are the same."""

STATEMENTS: Final = {
    text: text
    for text in CREATE + UPGRADE_FROM_2 + UPGRADE_FROM_3 + SET_ASIDE + SWAP + FINISH_UPGRADE + UPGRADE_FROM_4
    + REBUILD_INDEXES + (TAGS_COMPOSED,)
}
"""Every schema statement, looked up as ``STATEMENTS[text]``: a table of constants."""


# -- functions every connection has --------------------------------------------------------------
def searchable(content: object, is_text: object) -> Optional[str]:
    """The casefolded text of a card whose content is text (a text card, or bytes that are
    UTF-8), else None: what the search indexes hold."""
    if isinstance(content, str):
        return content.casefold()
    if not isinstance(content, bytes):
        return None
    try:
        return content.decode("utf-8").casefold()
    except UnicodeDecodeError:
        return None


IN_SQL_MODES: Final = ("substring", "words")
"""The searches ``mcard_matches`` checks: their matches take time in proportion to the text.
A regular expression is matched in a child process (``regex_process``), never in SQL: called
from a view or trigger another tool stored in the file, a pattern that backtracks without end
held the process, Ctrl-C included."""


@functools.lru_cache(maxsize=64)
def _matcher(spec: str) -> Any:
    mode, query, case_sensitive = json.loads(spec)
    if mode not in IN_SQL_MODES:
        raise ValueError(f"mcard_matches checks {' and '.join(IN_SQL_MODES)} searches, not {mode!r}")
    return SearchSpec(mode, query, case_sensitive).matcher()


def matches(spec: str, content: object) -> bool:
    """Whether a card's content is text that the search ``spec`` (JSON: mode, query,
    case_sensitive) matches: the exact check of every candidate."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return isinstance(content, str) and bool(_matcher(spec)(content))


def words(content: object, is_text: object) -> Optional[str]:
    """The words of a card whose content is text (``tokens``), one space apart: what
    ``card_words`` indexes, its ``ascii`` tokenizer splitting exactly there."""
    text = text_of(content)
    return None if text is None else joined_tokens(text)


def word_count(content: object, is_text: object) -> int:
    text = text_of(content)
    return 0 if text is None else count_tokens(text)


def composed_name(name: object) -> object:
    """A sighting's name ``composed`` (NFC), as a name filter matches it, given as its bytes
    (``CAST(name AS BLOB)``): a text another tool stored that is not UTF-8 is None, matching no
    glob (given as text, it failed the whole query: "user-defined function raised exception").
    Any other value as it is."""
    if isinstance(name, bytes):
        try:
            name = name.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return composed(name) if isinstance(name, str) else name


def isqrt(number: Optional[float]) -> int:
    """The integer square root of a count (``sqrt`` is not in every SQLite build)."""
    return math.isqrt(max(0, int(number or 0)))


def content_type(data: Optional[bytes], is_text: int) -> Optional[str]:
    """What a card of ``data`` shows as its content type when its row has none (another tool's):
    detected from its text, or from its bytes (also those of a text that is not UTF-8)."""
    if data is None:
        return None
    if is_text:
        try:
            return detect_content_type(data.decode("utf-8"))
        except UnicodeDecodeError:
            pass
    return detect_content_type(data)


async def register_functions(db: SQLiteWorker) -> None:
    await db.create_function("mcard_content_type", 2, content_type)
    await db.create_function("mcard_holds_hash", 4, holds_its_hash)
    await db.create_function("mcard_isqrt", 1, isqrt)
    await db.create_function("mcard_searchable", 2, searchable)
    await db.create_function("mcard_words", 2, words)
    await db.create_function("mcard_word_count", 2, word_count)
    await db.create_function("mcard_matches", 2, matches)
    await db.create_function("mcard_composed", 1, composed_name)


# -- creation and upgrades ---------------------------------------------------------------------
HAS_CONTENT_TYPES: Final = "SELECT 1 FROM pragma_table_info('card') WHERE name = 'content_type'"


async def add_content_types(db: SQLiteWorker) -> None:
    """Schema 1 -> 2: a content_type column, filled for the cards already stored."""
    await db.execute("ALTER TABLE card ADD COLUMN content_type TEXT")
    await db.execute(f"UPDATE card SET {DETECTED_TYPE}")


async def indexed_by_these_rules(db: SQLiteWorker) -> bool:
    """Whether the search indexes were built with this Python's Unicode version and these word
    rules (``WORD_RULES``): a contentless index can only delete the entries its texts give, so
    one built otherwise is rebuilt."""
    rows = await db.fetch("SELECT key, value FROM mcard_meta WHERE key IN ('unicode_version', 'word_rules')")
    return dict(rows) == {"unicode_version": UNICODE_VERSION, "word_rules": WORD_RULES}


_MISREAD: Final = "is_text AND typeof(content) = 'text' AND length(CAST(content AS BLOB)) != length(content)"
MISREAD_TEXTS: Final = (
    f"SELECT 1 FROM card WHERE id <= (SELECT value FROM mcard_meta WHERE key = 'text_indexed') AND {_MISREAD}"
    f" UNION ALL SELECT 1 FROM card_text_garbage WHERE {_MISREAD} LIMIT 1"
)
"""An indexed text another tool stored as TEXT that is not all ASCII (or holds a NUL), stored or
removed and still to be purged: indexes read before ``TEXT_READING`` 2 hold it as ASCII, and
deleting those entries needs them as held."""


async def texts_read_as_bytes(db: SQLiteWorker) -> bool:
    """Whether the indexes were built by ``TEXT_READING``'s rules."""
    return bool(await db.fetch(f"SELECT 1 FROM mcard_meta WHERE key = 'text_reading' AND value = {TEXT_READING}"))


async def stored_version(db: SQLiteWorker) -> Optional[int]:
    """The schema version of the database, None when it holds no mcard schema yet."""
    if not await db.fetch("SELECT 1 FROM sqlite_master WHERE name = 'mcard_meta'"):
        return None
    rows = await db.fetch("SELECT value FROM mcard_meta WHERE key = 'schema_version'")
    return rows[0][0] if rows else None


async def layout_version(db: SQLiteWorker) -> Optional[int]:
    """The version whose layout the database holds: the stored version, but 3 for a version 4
    or 5 without ``card_searchable``, and for a version 2 with ``card_text``. The first mcard of
    version 4 kept version 3's case-sensitive trigram index (no word index, sightings or tags),
    and the first of version 5 added sightings and tags to that; the trigram index's own version
    2 had that index without content types. All are upgraded as version 3 is."""
    version = await stored_version(db)
    if version in (4, 5) and not await db.fetch("SELECT 1 FROM sqlite_master WHERE name = 'card_searchable'"):
        return 3
    if version == 2 and await db.fetch("SELECT 1 FROM sqlite_master WHERE name = 'card_text'"):
        return 3
    return version


async def _foreign_tables(db: SQLiteWorker) -> list[str]:
    """The tables of a database that holds no card store (another application's)."""
    return [row[0] for row in await db.fetch(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    )]


async def check_card_key(db: SQLiteWorker, where: str) -> str:
    """The card table's key (``sqlite_card_key.key_state``); ``StorageError`` when lost."""
    state = await card_key.key_state(db)
    if state == "lost":
        raise StorageError(f"{where}: {card_key.KEY_LOST}: open it read-only to export its cards to a new store")
    return state


async def check_schema(db: SQLiteWorker, where: str) -> None:
    """That the database holds a card store of this version, for reading only."""
    version = await layout_version(db)
    if version in READABLE_VERSIONS:
        if await card_key.key_state(db) == "lost":
            logger.warning("%s: %s; searches may miss cards", where, card_key.KEY_LOST)
        if not await indexed_by_these_rules(db):
            logger.warning(
                "%s: its search indexes were built with another Unicode version or other word rules; opened"
                " read-only they cannot be rebuilt, so a search may miss cards whose text uses changed characters", where,
            )
        if not await db.fetch(HAS_TAGS_COMPOSED) and _to_compose(await db.fetch(TAGS_TO_COMPOSE)):
            logger.warning(TAGS_LEFT_DECOMPOSED, where)
        return
    if version is None:
        tables = await _foreign_tables(db)
        if tables:
            raise StorageError(f"{where}: not a card store (its tables: {', '.join(tables)})")
        raise NoCardStoreError(f"{where}: no card store here (an empty database)")
    if version < SCHEMA_VERSION:
        raise OlderStoreError(
            f"{where}: written by an older mcard ({await _schema_named(db, version)});"
            " open it once for writing to upgrade it"
        )
    raise NewerStoreError(where, version, SCHEMA_VERSION)


async def _schema_named(db: SQLiteWorker, layout: int) -> str:
    """The schema a store's version names, and an earlier layout where the number is shared."""
    version = await stored_version(db)
    return f"schema {version}" if version == layout else f"schema {version} of an earlier layout"


HAS_NAMES_TO_COMPOSE: Final = "SELECT 1 FROM sqlite_master WHERE name = 'sighting_by_name_to_compose'"


async def put_back_triggers(db: SQLiteWorker, where: str) -> None:
    """Make this mcard's triggers again where another tool dropped or changed them while the
    store is open (a rebuild of their table drops them: ``sqlite-utils transform``), rebuilding
    the search indexes if the card table's were gone (``CARD_TRIGGERS_DROPPED``), and set the
    sequence past every id a card had (``sqlite_card_key``), in one transaction.
    ``StorageError`` when the card table lost its key: the store must not write to it."""
    kept = await card_key.key_state(db) == "kept" and not await card_key.sequence_behind(db)
    if kept and not await _stale_triggers(db):
        return
    await db.execute("BEGIN IMMEDIATE")
    try:
        if await check_card_key(db, where) != "kept":
            raise StorageError(f"{where}: another program rebuilt the card table without AUTOINCREMENT;"
                               " close the store and open it again to rebuild it")
        await card_key.seed_sequence(db)
        [(dropped,)] = await db.fetch(CARD_TRIGGERS_DROPPED)
        if dropped:
            logger.info("rebuilding the search indexes of %s: another program dropped the card table's triggers", where)
            for statement in REBUILD_INDEXES:
                await db.execute(STATEMENTS[statement])
        made = await _make_stale_triggers(db)
        await db.execute("COMMIT")
    except BaseException:
        if db.connection.in_transaction:
            await db.execute("ROLLBACK")
        raise
    if made:
        logger.info("%s: made again the triggers %s, which another program dropped or changed", where, ", ".join(made))


async def _make_stale_triggers(db: SQLiteWorker) -> list[str]:
    """Replace the stale triggers (``_stale_triggers``) with this mcard's; their names."""
    stale = await _stale_triggers(db)
    for name in stale:
        await db.execute(DROP_OWN_TRIGGERS[name])
        await db.execute(OWN_TRIGGERS[name])
    return stale


async def _stale_triggers(db: SQLiteWorker) -> list[str]:
    """This mcard's triggers that a store holds in another version, or not at all (a store an
    older mcard made)."""
    stored = dict(await db.fetch(STORED_TRIGGERS))
    return [name for name, sql in OWN_TRIGGERS.items() if stored.get(name) != sql]


async def ensure_schema(db: SQLiteWorker, where: str) -> Optional[int]:
    """Create the schema, or upgrade an older one, in one transaction (all or nothing); return
    the stored version it upgraded from, None when there was none to upgrade.

    A current schema is only read, so a store opens while another process holds the write lock.
    A database that holds other tables but no card store is another application's: refused,
    left as it was.
    """
    current = await layout_version(db) == SCHEMA_VERSION
    if current:
        current = await check_card_key(db, where) == "kept" and not await card_key.sequence_behind(db)
    current = current and await indexed_by_these_rules(db)
    current = current and bool(await db.fetch(HAS_NAMES_TO_COMPOSE)) and bool(await db.fetch(HAS_TAGS_COMPOSED))
    if current and await texts_read_as_bytes(db) and not await _stale_triggers(db):
        return None
    await db.execute("BEGIN IMMEDIATE")
    try:
        version = await layout_version(db)
        # Versions 1 and 2 build their indexes anew; an earlier mcard's trigger may have indexed
        # since the store was last read as bytes.
        read_as_bytes = version in (None, 1, 2) or (
            await texts_read_as_bytes(db) and "card_text_extended" not in await _stale_triggers(db))
        [(dropped,)] = await db.fetch(CARD_TRIGGERS_DROPPED) if version in (4, SCHEMA_VERSION) else [(False,)]
        upgraded_from = await stored_version(db) if version in (1, 2, 3, 4) else None
        if version is None and (tables := await _foreign_tables(db)):
            raise StorageError(
                f"{where}: not a card store: it holds another application's tables ({', '.join(tables[:5])})"
                "; use a file of its own"
            )
        if version is None:
            for statement in CREATE:
                await db.execute(STATEMENTS[statement])
        elif version in (1, 2, 3, 4):
            logger.info("upgrading card store %s from schema %s to %s", where, upgraded_from, SCHEMA_VERSION)
            if version == 1 or not await db.fetch(HAS_CONTENT_TYPES):
                await add_content_types(db)
            if version < 3:
                upgrades = UPGRADE_FROM_2 + FINISH_UPGRADE
            else:
                await check_card_key(db, where)  # the copy takes the rows by their ids
                if version == 3:
                    for statement in UPGRADE_FROM_3:
                        await db.execute(STATEMENTS[statement])
                await _put_content_last(db, where)
                upgrades = await _finish_from_3(db) if version == 3 else UPGRADE_FROM_4
            for statement in upgrades:
                await db.execute(STATEMENTS[statement])
        elif version != SCHEMA_VERSION:
            raise NewerStoreError(where, version, SCHEMA_VERSION)
        elif await check_card_key(db, where) == "no autoincrement":
            logger.info("rebuilding the card table of %s with AUTOINCREMENT, which another program dropped", where)
            await _put_content_last(db, where)
            for statement in CARD_INDEXES:
                await db.execute(STATEMENTS[statement])
        if version is not None:
            await card_key.seed_sequence(db)
        if not await indexed_by_these_rules(db):
            logger.info("rebuilding the search indexes of %s for Unicode %s and word rules %s", where,
                        unicodedata.unidata_version, WORD_RULES)
            for statement in REBUILD_INDEXES:
                await db.execute(STATEMENTS[statement])
        elif not read_as_bytes and await db.fetch(MISREAD_TEXTS):
            logger.info("rebuilding the search indexes of %s: they hold texts another tool stored as TEXT as ASCII", where)
            for statement in REBUILD_INDEXES:
                await db.execute(STATEMENTS[statement])
        elif dropped:
            logger.info("rebuilding the search indexes of %s: another program dropped the card table's triggers", where)
            for statement in REBUILD_INDEXES:
                await db.execute(STATEMENTS[statement])
        else:
            await db.execute(SET_TEXT_RULES)
        await _make_stale_triggers(db)
        await db.execute(STATEMENTS[NAMES_TO_COMPOSE])
        if not await db.fetch(HAS_TAGS_COMPOSED):
            await compose_tags(db, where)
        await db.execute("COMMIT")
        return upgraded_from
    except BaseException:
        if db.connection.in_transaction:
            await db.execute("ROLLBACK")
        raise


def _to_compose(rows: list[Any]) -> list[tuple[str, str, str]]:
    """(hash, tag as stored, tag composed) of the ``TAGS_TO_COMPOSE`` rows an earlier mcard
    stored decomposed that are tags once composed (one over ``MAX_TAG`` characters then, or not
    UTF-8, is left for ``verify`` to name)."""
    found = []
    for hash_str, stored in rows:
        try:
            tag = bytes(stored).decode("utf-8")
        except (TypeError, UnicodeDecodeError):
            continue
        if (tag_composed := composed(tag)) != tag and stored_tag_fault(tag_composed) is None:
            found.append((hash_str, tag, tag_composed))
    return found


async def compose_tags(db: SQLiteWorker, where: str) -> None:
    """Store each tag an earlier mcard stored decomposed (``café`` as ``e`` and an accent) as
    ``check_tag`` stores it, merged with the same tag typed composed, in the caller's
    transaction: the ``tag:`` filter, ``untag`` and facets then see one tag."""
    pending = _to_compose(await db.fetch(TAGS_TO_COMPOSE))
    if pending:
        await db.executemany(TAG_COMPOSED, [(hash_str, tag_composed) for hash_str, _, tag_composed in pending])
        await db.executemany(TAG_DECOMPOSED, [(hash_str, tag) for hash_str, tag, _ in pending])
        logger.info("%s: %d tags stored decomposed are now stored composed (NFC)", where, len(pending))
    await db.execute(TAGS_COMPOSED)


async def _finish_from_3(db: SQLiteWorker) -> tuple[str, ...]:
    """The statements that finish an upgrade from version 3's layout: the sightings and tags of
    an early version 5 are kept (their tables are not made again)."""
    if not await db.fetch("SELECT 1 FROM sqlite_master WHERE name = 'sighting' AND type = 'table'"):
        return FINISH_UPGRADE
    return tuple(statement for statement in FINISH_UPGRADE if statement not in LABELS)


async def _put_content_last(db: SQLiteWorker, where: str) -> None:
    """Copy the table of version 3 or 4 (or one another tool rebuilt without AUTOINCREMENT)
    with the content last, ids kept, step by step (one transaction: the caller's), with a
    progress bar for a large table; then put the copy in its place, SQLite's steps for
    changing a table's layout: views, triggers and foreign keys of other tools that name
    ``card`` keep working, their indexes and triggers on it are made again. This mcard's own
    indexes and triggers are made by the statements that follow."""
    from tqdm.auto import tqdm

    for statement in SET_ASIDE:
        await db.execute(STATEMENTS[statement])
    [(total,)] = await db.fetch("SELECT count(*) FROM card")
    shown = total >= COPY_SETTINGS["progress_from_cards"]
    with tqdm(total=total, desc=f"upgrading {where}", unit="card", disable=not shown) as bar:
        while True:
            await db.execute(COPY_STEP, (COPY_SETTINGS["cards_per_step"],))
            [(copied,)] = await db.fetch("SELECT changes()")
            if not copied:
                break
            bar.update(copied)
    others = [row[0] for row in await db.fetch(OTHERS_ON_CARD)]
    try:
        for statement in SWAP:
            await db.execute(STATEMENTS[statement])
    finally:
        await db.execute("PRAGMA legacy_alter_table = OFF")
    for stored_schema_sql in others:  # the file's own schema, as it held it already
        await db.execute(stored_schema_sql)


# -- background steps --------------------------------------------------------------------------
PURGE_GARBAGE: Final = "DELETE FROM card_text_garbage WHERE id IN (SELECT id FROM card_text_garbage ORDER BY id LIMIT ?)"
PURGE_ALL_GARBAGE: Final = "DELETE FROM card_text_garbage"
EXTEND_INDEX: Final = (
    "UPDATE mcard_meta SET value = (SELECT coalesce(max(id), mcard_meta.value) FROM ("
    " SELECT id, sum(size) OVER (ORDER BY id) - size AS before"
    " FROM card WHERE id > mcard_meta.value ORDER BY id LIMIT ?) WHERE before < ?)"
    " WHERE key = 'text_indexed'"
)
DETECTED_TYPE: Final = (
    "content_type = mcard_content_type(CAST(content AS BLOB), CASE WHEN is_text THEN 1 ELSE 0 END)"
)
FILL_TYPES: Final = (
    f"UPDATE card SET {DETECTED_TYPE} WHERE id IN (SELECT id FROM ("
    " SELECT id, sum(size) OVER (ORDER BY id) - size AS before"
    " FROM card WHERE content_type IS NULL ORDER BY id LIMIT ?) WHERE before < ?)"
)
"""The content types of up to so many cards or bytes (at least one card) another tool stored
without one: as a card read back shows its type (detected), filters and facets now find it."""
INDEX_BEHIND: Final = (
    "SELECT EXISTS (SELECT 1 FROM card WHERE id > (SELECT value FROM mcard_meta WHERE key = 'text_indexed'))"
    " OR EXISTS (SELECT 1 FROM card_text_garbage) OR EXISTS (SELECT 1 FROM card WHERE content_type IS NULL)"
)


_NOT_INDEXED_BELOW: Final = (
    "card.id <= (SELECT value FROM mcard_meta WHERE key = 'text_indexed') AND card.is_text"
    " AND card.id NOT IN (SELECT id FROM card_searchable) AND card.id NOT IN (SELECT id FROM card_text_garbage)"
)
"""A text card the indexes say they cover, but hold nothing of: another tool inserted it under
an id below what they cover (a row put back with its old id, ``sqlite-utils insert`` of an
export), which no trigger follows (one on every insert would cost each card ~4.5 us, as much
as the insert). A card whose old entries are still to be purged waits for that."""
PASSED_OVER_TEXTS: Final = f"SELECT card.id FROM card WHERE {_NOT_INDEXED_BELOW}"
_CHOSEN_PASSED_OVER: Final = f"card.id IN (SELECT value FROM json_each(?)) AND {_NOT_INDEXED_BELOW}"
_TEXTS_PASSED_OVER: Final = f"{_INDEX_TEXTS}{_CHOSEN_PASSED_OVER}{_INDEX_TEXTS_END}"
_WORDS_PASSED_OVER: Final = f"{_INDEX_WORDS}{_CHOSEN_PASSED_OVER}{_INDEX_WORDS_END}"
_SEARCHABLE_PASSED_OVER: Final = f"{_INDEX_SEARCHABLE}{_CHOSEN_PASSED_OVER}{_INDEX_SEARCHABLE_END}"


async def index_passed_over(db: SQLiteWorker, ids: list[int]) -> int:
    """Index those of the cards ``ids`` (``PASSED_OVER_TEXTS``) still passed over and holding
    text, as ``CARD_TEXT_EXTENDED`` does (``card_searchable`` last: the others choose by its
    absence), and count a change if there were any, in one transaction: a listing's page mark
    did not see them come. How many were indexed."""
    chosen = (json.dumps(ids),)
    outcomes = await db.in_turn([
        db.execute(_TEXTS_PASSED_OVER, chosen), db.execute(_WORDS_PASSED_OVER, chosen),
        db.execute(_SEARCHABLE_PASSED_OVER, chosen), db.fetch("SELECT changes()"), db.execute(COUNTED_IF_CHANGED),
    ], snapshot=True)
    return int(outcomes[3][0][0])


async def index_step(db: SQLiteWorker, step: int, step_bytes: int, wait: float, timeout: float) -> tuple[bool, int]:
    """Bring the indexes closer to the table, in statements each atomic by itself (so a step
    that fails half way leaves them exact): remove the entries of up to ``step`` deleted cards,
    index up to ``step`` more cards or ``step_bytes`` of content (at least one card), and fill
    in the content type of as many stored without one (``FILL_TYPES``). They go as one
    pipeline, so none waits on the event loop, waiting at most ``wait`` seconds for another
    connection's write lock (then ``timeout`` again). Whether more remain, and the schema's
    version (``put_back_triggers`` when it changed)."""
    outcomes = await db.pipeline([
        db.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}"),
        db.execute(PURGE_GARBAGE, (step,)), db.execute(EXTEND_INDEX, (step, step_bytes)),
        db.execute(FILL_TYPES, (step, step_bytes)), db.fetch(INDEX_BEHIND), db.fetch("PRAGMA schema_version"),
        db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}"),
    ])
    failure = next((outcome for outcome in outcomes if isinstance(outcome, BaseException)), None)
    if failure is not None:
        raise failure
    return bool(outcomes[-3][0][0]), int(outcomes[-2][0][0])
