"""The functions that run on a connection's thread, one per operation (schema: sqlite_schema).

Every statement text here is a constant; values only ever travel as bound parameters.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from itertools import starmap
from operator import itemgetter
from typing import Any, Callable, Final, Optional, TypeVar

from mcard.domain.models.card import MCard, from_micros, to_micros

from ..engine_config import SQLITE_SYNCHRONOUS_MODES
from .integrity import DamagedCard, check_stored
from .sqlite_schema import ensure_schema
from .write_batcher import WriteRequest

SET_JOURNAL_MODE: Final = {mode: f"PRAGMA journal_mode={mode}" for mode in ("WAL", "DELETE")}
SET_SYNCHRONOUS: Final = {mode: f"PRAGMA synchronous={mode}" for mode in SQLITE_SYNCHRONOUS_MODES}
COLUMNS: Final = "hash, content, is_text, g_time, hash_algorithm, size, content_type"
# What a read returns: ``MCard.restore``'s arguments in order, text already decoded by SQLite
# (in C) and the time as stored microseconds, so a row becomes a card in one call.
CARD: Final = (
    "CASE WHEN is_text THEN CAST(content AS TEXT) ELSE content END AS content,"
    " hash, g_time, hash_algorithm, size, content_type"
)
NEWEST_FIRST: Final = " ORDER BY g_time DESC, hash DESC"
GET_ONE: Final = f"SELECT {CARD} FROM card WHERE hash = ?"
INSERT: Final = f"INSERT OR IGNORE INTO card ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
DELETE: Final = "DELETE FROM card WHERE hash = ?"
WRITE: Final = {"insert": INSERT, "delete": DELETE}
# Grows with every change: inserts raise the AUTOINCREMENT sequence, deletes the counter (trigger).
READ_CHANGES: Final = (
    "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'card'), 0)"
    " + (SELECT value FROM mcard_meta WHERE key = 'changes')"
)
VERIFY_ROWS: Final = "SELECT hash, content, is_text, hash_algorithm, size FROM card"
MAX_PARAMETERS: Final = 900
SEARCH_SCAN: Final = "is_text = 1 AND instr(content, ?) > 0"
SEARCH_INDEXED: Final = (
    "id IN (SELECT rowid FROM card_text WHERE card_text MATCH ?"
    " UNION ALL SELECT id FROM card WHERE is_text = 1 AND instr(content, x'00') > 0"
    " UNION ALL SELECT id FROM card WHERE id > (SELECT value FROM mcard_meta WHERE key = 'text_indexed'))"
    f" AND {SEARCH_SCAN}"
)

Row = tuple[str, bytes, int, int, str, int, Optional[str]]
TimeBounds = tuple[Optional[int], Optional[int]]
F = TypeVar("F", bound=Callable[..., Any])


def card_row(card: MCard) -> Row:
    return (
        card.hash, card.content_bytes, int(card.is_text),
        to_micros(card.g_time), card.hash_algorithm, card.size, card.content_type,
    )


def row_card(row: Row, _restore: Any = MCard.restore) -> MCard:
    """A card from a row of ``COLUMNS`` (the time stays microseconds until it is read)."""
    hash_str, data, is_text, g_time, algorithm, size, content_type = row
    content = data.decode("utf-8") if is_text else data
    return _restore(content, hash_str, g_time, algorithm, size, content_type)


def cards(rows: Iterable[tuple[Any, ...]], _restore: Any = MCard.restore) -> list[MCard]:
    """Cards from rows of ``CARD``."""
    return list(starmap(_restore, rows))


def reads_text(fn: F) -> F:
    """Report a stored text that is not UTF-8 (a damaged card) without its content: sqlite3's
    own message would quote the whole text."""

    @functools.wraps(fn)
    def read(*args: Any) -> Any:
        try:
            return fn(*args)
        except sqlite3.OperationalError as exc:
            if not str(exc).startswith("Could not decode to UTF-8"):
                raise
            raise ValueError("a stored text card is not valid UTF-8 (damaged: verify() names it)") from None

    return read  # type: ignore[return-value]


def initialize(db: sqlite3.Connection, synchronous: str, journal_mode: str, where: str) -> None:
    """Check the file is a database, create or upgrade the schema, then set the journal
    (so that a file refused for its schema version is left byte for byte as it was)."""
    db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    db.execute(SET_SYNCHRONOUS[synchronous])
    ensure_schema(db, where)
    db.execute(SET_JOURNAL_MODE[journal_mode]).fetchone()


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
    make_row = _make_row(request)
    for item in request.payload:
        if request.cancelled:
            raise WriteCancelled("write cancelled by its caller")
        yield make_row(item)


def _make_row(request: WriteRequest) -> Any:
    return card_row if request.operation == "insert" else _key_row


def _key_row(key: str) -> tuple[str]:
    return (key,)


def write_batch(db: sqlite3.Connection, batch: Sequence[WriteRequest]) -> None:
    """Run the requests in one transaction; when one fails, again with a savepoint each, so
    that a failure stays its caller's own.

    A lone one-row write is a single statement, which SQLite commits atomically by itself.
    """
    if len(batch) == 1 and len(batch[0].payload) == 1:
        request = batch[0]
        if request.cancelled:
            request.skipped = True
        else:
            row = _make_row(request)(request.payload[0])
            request.result = db.execute(WRITE[request.operation], row).rowcount
        return
    if len(batch) > 1:
        try:
            _run_in_one_transaction(db, batch, own_savepoints=False)
            return
        except sqlite3.Error:
            for request in batch:
                request.result, request.skipped = 0, False
    _run_in_one_transaction(db, batch, own_savepoints=len(batch) > 1)


def _run_in_one_transaction(
    db: sqlite3.Connection, batch: Sequence[WriteRequest], own_savepoints: bool
) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        for request in batch:
            if request.cancelled:
                request.skipped = True
                continue
            if not own_savepoints:
                request.result = db.executemany(WRITE[request.operation], _rows_until_cancelled(request)).rowcount
                continue
            db.execute("SAVEPOINT request")
            try:
                request.result = db.executemany(WRITE[request.operation], _rows_until_cancelled(request)).rowcount
            except sqlite3.Error as exc:
                db.execute("ROLLBACK TO request")
                request.error = exc
            finally:
                db.execute("RELEASE request")
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


@reads_text
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
        page = cards(db.execute(
            f"SELECT {CARD} FROM card{where}{NEWEST_FIRST} LIMIT ? OFFSET ?",
            (*params, -1 if limit is None else limit, offset),
        ))
    finally:
        db.execute("COMMIT")
    return page, stamp


@reads_text
def snapshot_cards(db: sqlite3.Connection, bounds: TimeBounds) -> sqlite3.Cursor:
    """Open a read transaction and a newest-first cursor over it: the iteration's snapshot."""
    where, params = _time_filter(bounds, None)
    db.execute("BEGIN")
    return db.execute(f"SELECT {CARD} FROM card{where}{NEWEST_FIRST}", params)


def snapshot_rows_to_verify(db: sqlite3.Connection) -> sqlite3.Cursor:
    """Open a read transaction and a cursor over every stored row, in storage order."""
    db.execute("BEGIN")
    return db.execute(VERIFY_ROWS)


@reads_text
def fetch_cards(db: sqlite3.Connection, cursor: sqlite3.Cursor, size: int) -> list[MCard]:
    return cards(cursor.fetchmany(size))


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


@reads_text
def get_many(db: sqlite3.Connection, hashes: Sequence[str]) -> dict[str, MCard]:
    if len(hashes) == 1:  # ``get``: one constant statement, prepared once per connection
        row = db.execute(GET_ONE, hashes).fetchone()
        return {} if row is None else {row[1]: MCard.restore(*row)}
    found: dict[str, MCard] = {}
    for start in range(0, len(hashes), MAX_PARAMETERS):
        chunk = hashes[start : start + MAX_PARAMETERS]
        marks = ", ".join("?" * len(chunk))
        for card in cards(db.execute(f"SELECT {CARD} FROM card WHERE hash IN ({marks})", chunk)):
            found[card.hash] = card
    return found


def fts_phrase(query: str) -> str:
    """``query`` as one FTS5 string: every character literal (operators, ``*``, quotes too)."""
    return '"' + query.replace('"', '""') + '"'


@reads_text
def search(db: sqlite3.Connection, query: str, limit: Optional[int], offset: int) -> list[MCard]:
    """Text cards containing ``query``: candidates from the trigram index (plus the cards it
    does not cover yet, see ``sqlite_schema``), each checked against the content.

    Queries under 3 characters (a trigram index cannot look them up) or holding a NUL
    (texts with a NUL are not in the index) scan the table instead. Without a limit, every
    match is returned anyway, so the rows are sorted here: SQLite would sort them whole,
    content included, in a temporary b-tree (~1 us a row), Python sorts the keys only.
    """
    needle = query.encode("utf-8")
    if len(query) >= 3 and "\x00" not in query:
        where, params = SEARCH_INDEXED, (fts_phrase(query), needle)
    else:
        where, params = SEARCH_SCAN, (needle,)
    if limit is not None:
        return cards(db.execute(
            f"SELECT {CARD} FROM card WHERE {where}{NEWEST_FIRST} LIMIT ? OFFSET ?", (*params, limit, offset)
        ))
    rows = db.execute(f"SELECT {CARD} FROM card WHERE {where}", params).fetchall()
    rows.sort(key=_NEWEST_FIRST_KEY, reverse=True)
    return cards(rows[offset:] if offset else rows)


_NEWEST_FIRST_KEY: Final = itemgetter(2, 1)  # (g_time, hash) of a ``CARD`` row
