"""The SQLite schema and the functions that run on a connection's thread, one per operation.

Every statement text here is a constant; values only ever travel as bound parameters.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Final, Optional

from mcard.domain.models.card import MCard, from_micros, to_micros

from ..engine_config import SQLITE_SYNCHRONOUS_MODES
from .integrity import DamagedCard, check_stored
from .write_batcher import WriteRequest

SCHEMA_VERSION: Final = 2

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS card (
    hash           TEXT PRIMARY KEY,
    content        BLOB NOT NULL,
    is_text        INTEGER NOT NULL,
    g_time         INTEGER NOT NULL,  -- microseconds since 1970-01-01T00:00:00Z
    hash_algorithm TEXT NOT NULL,
    size           INTEGER NOT NULL,
    content_type   TEXT               -- MIME type, detected once when the card is saved
);
CREATE INDEX IF NOT EXISTS card_by_time ON card (g_time, hash);
CREATE TABLE IF NOT EXISTS mcard_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO mcard_meta (key, value) VALUES ('schema_version', 2), ('changes', 0);
"""

SET_JOURNAL_MODE: Final = {mode: f"PRAGMA journal_mode={mode}" for mode in ("WAL", "DELETE")}
SET_SYNCHRONOUS: Final = {mode: f"PRAGMA synchronous={mode}" for mode in SQLITE_SYNCHRONOUS_MODES}
COLUMNS: Final = "hash, content, is_text, g_time, hash_algorithm, size, content_type"
NEWEST_FIRST: Final = " ORDER BY g_time DESC, hash DESC"
INSERT: Final = f"INSERT OR IGNORE INTO card ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
DELETE: Final = "DELETE FROM card WHERE hash = ?"
BUMP_CHANGES: Final = "UPDATE mcard_meta SET value = value + 1 WHERE key = 'changes'"
READ_CHANGES: Final = "SELECT value FROM mcard_meta WHERE key = 'changes'"
VERIFY_ROWS: Final = "SELECT hash, content, is_text, hash_algorithm, size FROM card"
MAX_PARAMETERS: Final = 900

Row = tuple[str, bytes, int, int, str, int, Optional[str]]
TimeBounds = tuple[Optional[int], Optional[int]]


def card_row(card: MCard) -> Row:
    return (
        card.hash, card.content_bytes, int(card.is_text),
        to_micros(card.g_time), card.hash_algorithm, card.size, card.content_type,
    )


def row_card(row: Row) -> MCard:
    hash_str, data, is_text, g_time, algorithm, size, content_type = row
    content = data.decode("utf-8") if is_text else bytes(data)
    return MCard.restore(content, hash_str, from_micros(g_time), algorithm, size, content_type)


def initialize(db: sqlite3.Connection, synchronous: str, journal_mode: str) -> None:
    """Check the file is a database, set the journal and create the schema."""
    db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    db.execute(SET_JOURNAL_MODE[journal_mode]).fetchone()
    db.execute(SET_SYNCHRONOUS[synchronous])
    db.executescript(SCHEMA)
    version = db.execute("SELECT value FROM mcard_meta WHERE key = 'schema_version'").fetchone()[0]
    if version == 1:
        _add_content_types(db)
        version = SCHEMA_VERSION
    if version != SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"card schema version {version} is not supported (this mcard reads version {SCHEMA_VERSION})"
        )


def _add_content_types(db: sqlite3.Connection) -> None:
    """Schema 1 -> 2: a content_type column, filled for the cards already stored."""
    from mcard.content_types import detect_content_type

    db.execute("BEGIN IMMEDIATE")
    try:
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
        db.execute("UPDATE mcard_meta SET value = 2 WHERE key = 'schema_version'")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def stats(db: sqlite3.Connection) -> dict[str, object]:
    """Count, bytes and time span of all cards, and count and bytes per content type."""
    count, total, first, last = db.execute(
        "SELECT count(*), coalesce(sum(size), 0), min(g_time), max(g_time) FROM card"
    ).fetchone()
    by_type = db.execute(
        "SELECT coalesce(content_type, '?'), count(*), sum(size) FROM card"
        " GROUP BY 1 ORDER BY 2 DESC, 1"
    ).fetchall()
    return {
        "count": count, "total_bytes": total,
        "first": None if first is None else from_micros(first),
        "last": None if last is None else from_micros(last),
        "by_content_type": {name: (n, size) for name, n, size in by_type},
    }


class WriteCancelled(sqlite3.OperationalError):
    """Raised inside a write whose caller cancelled it, so its statement stops and rolls back."""


def _rows_until_cancelled(request: WriteRequest) -> Iterator[tuple[object, ...]]:
    """The request's rows, built on the database thread, stopping once it is cancelled.

    ``sqlite3_interrupt`` alone can miss an ``executemany``: SQLite clears the interrupt flag
    when no statement is running, which happens between two rows.
    """
    make_row = card_row if request.operation == "insert" else lambda key: (key,)
    for item in request.payload:
        if request.cancelled:
            raise WriteCancelled("write cancelled by its caller")
        yield make_row(item)


def write_batch(db: sqlite3.Connection, batch: Sequence[WriteRequest]) -> None:
    """Run the requests in one transaction, each in its own savepoint so one failure stays its own."""
    db.execute("BEGIN IMMEDIATE")
    try:
        changed = 0
        own_savepoints = len(batch) > 1
        for request in batch:
            if request.cancelled:
                request.skipped = True
                continue
            if own_savepoints:
                db.execute("SAVEPOINT request")
            try:
                statement = INSERT if request.operation == "insert" else DELETE
                request.result = db.executemany(statement, _rows_until_cancelled(request)).rowcount
            except sqlite3.Error as exc:
                if not own_savepoints:
                    raise
                db.execute("ROLLBACK TO request")
                request.error = exc
            finally:
                if own_savepoints:
                    db.execute("RELEASE request")
            changed += request.result
        if changed:
            db.execute(BUMP_CHANGES)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _time_filter(bounds: TimeBounds, after: Optional[tuple[int, str]]) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    start, end = bounds
    if start is not None:
        clauses.append("g_time >= ?")
        params.append(start)
    if end is not None:
        clauses.append("g_time <= ?")
        params.append(end)
    if after is not None:
        clauses.append("(g_time, hash) < (?, ?)")
        params.extend(after)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def list_page(
    db: sqlite3.Connection,
    bounds: TimeBounds,
    limit: Optional[int],
    offset: int,
    after: Optional[tuple[int, str]],
    resume: Optional[tuple[int, int, str]],
) -> tuple[list[MCard], int]:
    """A newest-first page and the change stamp it was read at.

    ``resume`` is (stamp, g_time, hash) of the card just before ``offset``, remembered from an
    earlier page: when nothing changed since, the page continues from it instead of skipping
    ``offset`` rows, so paging through a large store stays as fast at the end as at the start.
    """
    db.execute("BEGIN")
    try:
        stamp = db.execute(READ_CHANGES).fetchone()[0]
        if resume is not None and resume[0] == stamp:
            after, offset = resume[1:], 0
        where, params = _time_filter(bounds, after)
        rows = db.execute(
            f"SELECT {COLUMNS} FROM card{where}{NEWEST_FIRST} LIMIT ? OFFSET ?",
            (*params, -1 if limit is None else limit, offset),
        ).fetchall()
    finally:
        db.execute("COMMIT")
    return [row_card(row) for row in rows], stamp


def snapshot_cards(db: sqlite3.Connection, bounds: TimeBounds) -> sqlite3.Cursor:
    """Open a read transaction and a newest-first cursor over it: the iteration's snapshot."""
    where, params = _time_filter(bounds, None)
    db.execute("BEGIN")
    return db.execute(f"SELECT {COLUMNS} FROM card{where}{NEWEST_FIRST}", params)


def snapshot_rows_to_verify(db: sqlite3.Connection) -> sqlite3.Cursor:
    """Open a read transaction and a cursor over every stored row, in storage order."""
    db.execute("BEGIN")
    return db.execute(VERIFY_ROWS)


def fetch_cards(db: sqlite3.Connection, cursor: sqlite3.Cursor, size: int) -> list[MCard]:
    return [row_card(row) for row in cursor.fetchmany(size)]


def fetch_verified(
    db: sqlite3.Connection, cursor: sqlite3.Cursor, size: int
) -> list[Optional[DamagedCard]]:
    """Re-hash the next ``size`` raw rows: one entry per row, None when the row is intact."""
    return [
        None if reason is None else DamagedCard(hash_str, reason)
        for hash_str, data, is_text, algorithm, size_ in cursor.fetchmany(size)
        for reason in [check_stored(hash_str, bytes(data), bool(is_text), algorithm, size_)]
    ]


def end_snapshot(db: sqlite3.Connection, cursor: Optional[sqlite3.Cursor]) -> None:
    if cursor is not None:
        cursor.close()
    if db.in_transaction:
        db.execute("COMMIT")


def count(db: sqlite3.Connection, bounds: TimeBounds) -> int:
    where, params = _time_filter(bounds, None)
    return db.execute(f"SELECT count(*) FROM card{where}", params).fetchone()[0]


def get_many(db: sqlite3.Connection, hashes: Sequence[str]) -> dict[str, MCard]:
    found: dict[str, MCard] = {}
    for start in range(0, len(hashes), MAX_PARAMETERS):
        chunk = hashes[start : start + MAX_PARAMETERS]
        marks = ", ".join("?" * len(chunk))
        for row in db.execute(f"SELECT {COLUMNS} FROM card WHERE hash IN ({marks})", chunk):
            found[row[0]] = row_card(row)
    return found


def search(db: sqlite3.Connection, query: bytes, limit: Optional[int], offset: int) -> list[MCard]:
    rows = db.execute(
        f"SELECT {COLUMNS} FROM card WHERE is_text = 1 AND instr(content, ?) > 0"
        f"{NEWEST_FIRST} LIMIT ? OFFSET ?",
        (query, -1 if limit is None else limit, offset),
    ).fetchall()
    return [row_card(row) for row in rows]
