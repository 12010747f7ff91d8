"""The SQLite schema (version 5), its creation and the upgrades from versions 1 to 4.

Version 2 added ``content_type``. Version 3 gives ``card`` an explicit
``id INTEGER PRIMARY KEY AUTOINCREMENT`` (a rowid that ``VACUUM`` never renumbers and no insert
ever reuses) and a full-text index ``card_text`` over text cards: FTS5 with the trigram
tokenizer, case-sensitive, contentless (no copy of the text).

Indexing costs ~50 us per small card, ten times an insert, so it is not done by the insert:
the index covers the cards with ``id <= text_indexed`` (in ``mcard_meta``) and is extended in
the background, in small transactions (``index_step``). Version 4 makes each step a single
statement, atomic by itself whatever happens between two: raising ``text_indexed`` indexes the
cards it now covers, and deleting a queued text removes it from the index (two triggers).
Version 5 keeps
what is learned about a card beside it: its sightings (``sighting``: each time its content was
seen with a name, once per distinct sighting) and its tags (``tag``); removing a card removes
both in the same statement (a trigger). A search looks up the index for the
cards it covers and scans the few newer ones, so results are exact at every moment. A deleted
card's id is never used again, so the index entries it leaves behind match no card; a trigger
queues its text in ``card_text_garbage`` and the background steps remove them from the index
(FTS5 deletes cost as much as inserts). The same trigger counts deletes in ``changes``, which
with the AUTOINCREMENT sequence tells listings whether anything changed. FTS5 stops reading
text at a NUL character, so texts holding one are never indexed and are found through the
small partial index ``card_with_nul``; every candidate is checked against the content.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final, Optional

from mcard.domain.models.exceptions import StorageError

if TYPE_CHECKING:
    from .sqlite_connection import SQLiteWorker

logger = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 5

# Which cards the index holds: text without a NUL (row ``old`` in a trigger, ``card`` in a step).
OLD_INDEXED: Final = "old.is_text = 1 AND instr(old.content, x'00') = 0"
CARD_INDEXED: Final = "card.is_text = 1 AND instr(card.content, x'00') = 0"

CARD_TABLE: Final = (
    """CREATE TABLE card (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        hash           TEXT NOT NULL UNIQUE,
        content        BLOB NOT NULL,
        is_text        INTEGER NOT NULL,
        g_time         INTEGER NOT NULL,  -- microseconds since 1970-01-01T00:00:00Z
        hash_algorithm TEXT NOT NULL,
        size           INTEGER NOT NULL,
        content_type   TEXT               -- MIME type, detected once when the card is saved
    )""",
    "CREATE INDEX card_by_time ON card (g_time, hash)",
    "CREATE INDEX card_with_nul ON card (id) WHERE is_text = 1 AND instr(content, x'00') > 0",
)

TEXT_INDEX: Final = (
    "CREATE VIRTUAL TABLE card_text USING fts5(content, content='', "
    "tokenize='trigram case_sensitive 1')",
    "CREATE TABLE card_text_garbage (id INTEGER PRIMARY KEY, content BLOB NOT NULL)",
    f"""CREATE TRIGGER card_deleted AFTER DELETE ON card BEGIN
        UPDATE mcard_meta SET value = value + 1 WHERE key = 'changes';
        INSERT INTO card_text_garbage (id, content) SELECT old.id, old.content
        WHERE old.id <= (SELECT value FROM mcard_meta WHERE key = 'text_indexed') AND {OLD_INDEXED};
    END""",
)

INDEX_STEPS: Final = (
    f"""CREATE TRIGGER card_text_extended AFTER UPDATE OF value ON mcard_meta
        WHEN new.key = 'text_indexed' AND new.value > old.value BEGIN
        INSERT INTO card_text (rowid, content) SELECT id, content FROM card
        WHERE id > old.value AND id <= new.value AND {CARD_INDEXED};
    END""",
    """CREATE TRIGGER card_text_purged AFTER DELETE ON card_text_garbage BEGIN
        INSERT INTO card_text (card_text, rowid, content) VALUES ('delete', old.id, old.content);
    END""",
)

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
    "CREATE TABLE tag (hash TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (hash, tag)) WITHOUT ROWID",
    "CREATE INDEX tag_by_tag ON tag (tag, hash)",
    """CREATE TRIGGER card_labels_deleted AFTER DELETE ON card BEGIN
        DELETE FROM sighting WHERE hash = old.hash;
        DELETE FROM tag WHERE hash = old.hash;
    END""",
)

META: Final = (
    "CREATE TABLE mcard_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT INTO mcard_meta (key, value)"
    f" VALUES ('schema_version', {SCHEMA_VERSION}), ('changes', 0), ('text_indexed', 0)",
)

UPGRADE_FROM_2: Final = (
    (
        "ALTER TABLE card RENAME TO card_v2",
        "DROP INDEX card_by_time",  # index names are global: the new table takes them
    )
    + CARD_TABLE
    + TEXT_INDEX
    + (
        "INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
        " SELECT hash, content, is_text, g_time, hash_algorithm, size, content_type FROM card_v2"
        " ORDER BY g_time, hash",
        "DROP TABLE card_v2",
        "INSERT INTO mcard_meta (key, value) VALUES ('text_indexed', 0)",
        "UPDATE mcard_meta SET value = value + 1 WHERE key = 'changes'",
    )
)
UPGRADE_FROM_3: Final = INDEX_STEPS
UPGRADE_FROM_4: Final = LABELS + (
    f"UPDATE mcard_meta SET value = {SCHEMA_VERSION} WHERE key = 'schema_version'",
)
CREATE: Final = CARD_TABLE + TEXT_INDEX + META + INDEX_STEPS + LABELS

STATEMENTS: Final = {text: text for text in CREATE + UPGRADE_FROM_2 + UPGRADE_FROM_3 + UPGRADE_FROM_4}
"""Every schema statement, looked up as ``STATEMENTS[text]``: a table of constants."""


async def add_content_types(db: SQLiteWorker) -> None:
    """Schema 1 -> 2: a content_type column, filled for the cards already stored."""
    from mcard.content_types import detect_content_type

    def content_type(data: bytes, is_text: int) -> str:
        return detect_content_type(data.decode("utf-8") if is_text else data)

    await db.create_function("mcard_content_type", 2, content_type)
    await db.execute("ALTER TABLE card ADD COLUMN content_type TEXT")
    await db.execute("UPDATE card SET content_type = mcard_content_type(content, is_text)")


async def stored_version(db: SQLiteWorker) -> Optional[int]:
    """The schema version of the database, None when it holds no mcard schema yet."""
    if not await db.fetch("SELECT 1 FROM sqlite_master WHERE name = 'mcard_meta'"):
        return None
    rows = await db.fetch("SELECT value FROM mcard_meta WHERE key = 'schema_version'")
    return rows[0][0] if rows else None


async def _foreign_tables(db: SQLiteWorker) -> list[str]:
    """The tables of a database that holds no card store (another application's)."""
    return [row[0] for row in await db.fetch(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    )]


async def check_schema(db: SQLiteWorker, where: str) -> None:
    """That the database holds a card store of this version, for reading only."""
    version = await stored_version(db)
    if version == SCHEMA_VERSION:
        return
    if version is None:
        tables = await _foreign_tables(db)
        raise StorageError(
            f"{where}: not a card store (its tables: {', '.join(tables)})" if tables
            else f"{where}: no card store here (an empty database)"
        )
    if version < SCHEMA_VERSION:
        raise StorageError(
            f"{where}: written by an older mcard (schema {version}); open it once for writing to upgrade it"
        )
    raise StorageError(f"{where}: card schema version {version} is not supported (this mcard reads up to {SCHEMA_VERSION})")


async def ensure_schema(db: SQLiteWorker, where: str) -> None:
    """Create the schema, or upgrade an older one, in one transaction (all or nothing).

    A current schema is only read, so a store opens while another process holds the write lock.
    A database that holds other tables but no card store is another application's: refused,
    left as it was.
    """
    if await stored_version(db) == SCHEMA_VERSION:
        return
    await db.execute("BEGIN IMMEDIATE")
    try:
        version = await stored_version(db)
        if version is None and (tables := await _foreign_tables(db)):
            raise StorageError(
                f"{where}: not a card store: it holds another application's tables ({', '.join(tables[:5])})"
                "; use a file of its own"
            )
        if version is None:
            for statement in CREATE:
                await db.execute(STATEMENTS[statement])
        elif version in (1, 2, 3, 4):
            logger.info("upgrading card store %s from schema %s to %s", where, version, SCHEMA_VERSION)
            if version == 1:
                await add_content_types(db)
            upgrades = (
                (UPGRADE_FROM_2 if version < 3 else ())
                + (UPGRADE_FROM_3 if version < 4 else ())
                + UPGRADE_FROM_4
            )
            for statement in upgrades:
                await db.execute(STATEMENTS[statement])
        elif version != SCHEMA_VERSION:
            raise StorageError(
                f"{where}: card schema version {version} is not supported (this mcard reads up to {SCHEMA_VERSION})"
            )
        await db.execute("COMMIT")
    except BaseException:
        if db.connection.in_transaction:
            await db.execute("ROLLBACK")
        raise


PURGE_GARBAGE: Final = "DELETE FROM card_text_garbage WHERE id IN (SELECT id FROM card_text_garbage ORDER BY id LIMIT ?)"
EXTEND_INDEX: Final = (
    "UPDATE mcard_meta SET value = (SELECT coalesce(max(id), mcard_meta.value) FROM ("
    " SELECT id, sum(size * is_text) OVER (ORDER BY id) - size * is_text AS before"
    " FROM card WHERE id > mcard_meta.value ORDER BY id LIMIT ?) WHERE before < ?)"
    " WHERE key = 'text_indexed'"
)
INDEX_BEHIND: Final = (
    "SELECT EXISTS (SELECT 1 FROM card WHERE id > (SELECT value FROM mcard_meta WHERE key = 'text_indexed'))"
    " OR EXISTS (SELECT 1 FROM card_text_garbage)"
)


async def index_step(db: SQLiteWorker, step: int, step_bytes: int) -> bool:
    """Bring the index closer to the table, in two statements, each atomic by itself (so a
    step that fails half way leaves the index exact): remove the entries of up to ``step``
    deleted cards, then index up to ``step`` more cards or ``step_bytes`` of text (at least one
    card). They go as one pipeline, so neither waits on the event loop. True if more remain.
    """
    outcomes = await db.pipeline([
        db.execute(PURGE_GARBAGE, (step,)), db.execute(EXTEND_INDEX, (step, step_bytes)), db.fetch(INDEX_BEHIND),
    ])
    failure = next((outcome for outcome in outcomes if isinstance(outcome, BaseException)), None)
    if failure is not None:
        raise failure
    return bool(outcomes[-1][0][0])
