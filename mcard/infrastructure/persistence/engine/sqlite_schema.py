"""The SQLite schema (version 3), its creation and the upgrades from versions 1 and 2.

Version 2 added ``content_type``. Version 3 gives ``card`` an explicit
``id INTEGER PRIMARY KEY AUTOINCREMENT`` (a rowid that ``VACUUM`` never renumbers and no insert
ever reuses) and a full-text index ``card_text`` over text cards: FTS5 with the trigram
tokenizer, case-sensitive, contentless (no copy of the text).

Indexing costs ~50 us per small card, ten times an insert, so it is not done by the insert:
the index covers the cards with ``id <= text_indexed`` (in ``mcard_meta``) and is extended in
the background, in small transactions (``index_step``). A search looks up the index for the
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
import sqlite3
from typing import Final, Optional

logger = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 3

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
        f"UPDATE mcard_meta SET value = {SCHEMA_VERSION} WHERE key = 'schema_version'",
        "UPDATE mcard_meta SET value = value + 1 WHERE key = 'changes'",
    )
)
CREATE: Final = CARD_TABLE + TEXT_INDEX + META

STATEMENTS: Final = {text: text for text in CREATE + UPGRADE_FROM_2}
"""Every schema statement, looked up as ``STATEMENTS[text]``: a table of constants."""


def add_content_types(db: sqlite3.Connection) -> None:
    """Schema 1 -> 2: a content_type column, filled for the cards already stored."""
    from mcard.content_types import detect_content_type

    db.execute("ALTER TABLE card ADD COLUMN content_type TEXT")
    rows = db.execute("SELECT hash, content, is_text FROM card")
    while chunk := rows.fetchmany(1000):
        db.executemany(
            "UPDATE card SET content_type = ? WHERE hash = ?",
            [
                (detect_content_type(data.decode("utf-8") if is_text else data), key)
                for key, data, is_text in chunk
            ],
        )


def stored_version(db: sqlite3.Connection) -> Optional[int]:
    """The schema version of the database, None when it holds no mcard schema yet."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'mcard_meta'").fetchone() is None:
        return None
    row = db.execute("SELECT value FROM mcard_meta WHERE key = 'schema_version'").fetchone()
    return None if row is None else row[0]


def ensure_schema(db: sqlite3.Connection, where: str) -> None:
    """Create the schema, or upgrade an older one, in one transaction (all or nothing)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = stored_version(db)
        if version is None:
            for statement in CREATE:
                db.execute(STATEMENTS[statement])
        elif version in (1, 2):
            logger.info("upgrading card store %s from schema %s to %s", where, version, SCHEMA_VERSION)
            if version == 1:
                add_content_types(db)
            for statement in UPGRADE_FROM_2:
                db.execute(STATEMENTS[statement])
        elif version != SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"card schema version {version} is not supported (this mcard reads up to {SCHEMA_VERSION})"
            )
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def index_step(db: sqlite3.Connection, step: int, step_bytes: int) -> bool:
    """Bring the index closer to the table by at most ``step`` cards or ``step_bytes`` of text
    (at least one card), in one transaction; True if more remain.

    First the entries of deleted cards are removed, then the next ids are indexed.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        garbage = db.execute(
            "SELECT max(id), count(*) FROM (SELECT id FROM card_text_garbage ORDER BY id LIMIT ?)", (step,)
        ).fetchone()
        if garbage[1]:
            db.execute(
                "INSERT INTO card_text (card_text, rowid, content)"
                " SELECT 'delete', id, content FROM card_text_garbage WHERE id <= ?",
                (garbage[0],),
            )
            db.execute("DELETE FROM card_text_garbage WHERE id <= ?", (garbage[0],))
        done = db.execute("SELECT value FROM mcard_meta WHERE key = 'text_indexed'").fetchone()[0]
        upper, budget = done, step_bytes
        for key, size in db.execute(
            "SELECT id, size * is_text FROM card WHERE id > ? ORDER BY id LIMIT ?", (done, max(step - garbage[1], 1))
        ):
            upper, budget = key, budget - size
            if budget <= 0:
                break
        if upper > done:
            db.execute(
                f"INSERT INTO card_text (rowid, content) SELECT id, content FROM card"
                f" WHERE id > ? AND id <= ? AND {CARD_INDEXED}",
                (done, upper),
            )
            db.execute("UPDATE mcard_meta SET value = ? WHERE key = 'text_indexed'", (upper,))
        more = db.execute("SELECT 1 FROM card WHERE id > ? LIMIT 1", (upper,)).fetchone() is not None
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return more or garbage[1] == step
