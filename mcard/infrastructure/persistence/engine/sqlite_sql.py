"""The SQLite engine's statements and the operations built from them (schema: sqlite_schema).

Every statement text here is a constant; values only ever travel as bound parameters. Each
``await`` on a ``SQLiteWorker`` is one hop to the connection's thread, so an operation is one
statement wherever it can be (a page with its change stamp, ``get_many`` of any size).

Rows are shaped on the connection's thread by ``read_row``, which the first column's name
selects: ``content`` starts a card (``MCard.restore``'s arguments in order, text decoded by
SQLite, time as stored microseconds), ``stamp`` a change stamp (``flag`` any value) followed by a card,
``sorted`` and ``sorted_stamp`` the same from a statement that may sort its rows (a large content
read as a blob after the sort: ``search.SORTED_CARD``), ``head_hash`` a row of ``list_heads``, and
``verify_hash`` a raw row to re-hash for ``verify``. Other rows stay tuples.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any, Final, Optional

from mcard.domain.models.card import MAX_MICROS, MIN_MICROS, MCard, to_micros
from mcard.domain.models.exceptions import StorageError
from mcard.domain.models.sighting import Sighting
from mcard.domain.query import DEFAULT_ORDER, Filters, SearchSpec

from ..engine_config import SQLITE_SYNCHRONOUS_MODES
from .card_rows import by_hash, card_row, row_sighting
from . import sqlite_filter_walks as filter_walks
from . import sqlite_name_order as name_order
from . import sqlite_search as search
from . import sqlite_tag_check as tag_check
from . import sqlite_type_order as type_order
from .integrity import MAYBE_NOT_A_TAG, DamagedCard, Repair, StoredTag, check_stored, damaged_labels, held_by_damaged
from .sighting_rows import SQLITE_MALFORMED, SQLITE_SOUND
from .sqlite_connection import SQLiteWorker
from .sqlite_filter_walks import HITS_SORTED
from .sqlite_schema import READ_CHANGES, check_schema, ensure_schema
from .write_batcher import WriteRequest, credit_attached

SET_JOURNAL_MODE: Final = {mode: f"PRAGMA journal_mode={mode}" for mode in ("WAL", "DELETE")}
JOURNAL_SWITCH_RETRY: Final = 0.01
"""Seconds between tries of switching a rollback-journal file to WAL while another connection
writes it: SQLite then fails the switch at once, without waiting for the lock."""
SET_SYNCHRONOUS: Final = {mode: f"PRAGMA synchronous={mode}" for mode in SQLITE_SYNCHRONOUS_MODES}
COLUMNS: Final = "hash, content, is_text, g_time, hash_algorithm, size, content_type"
GET_ONE: Final = f"SELECT {search.CARD} FROM card WHERE hash = ?"
COUNT_STORED: Final = "SELECT count(*) FROM card WHERE hash IN (SELECT value FROM json_each(?))"
INSERT: Final = f"INSERT INTO card ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING"
DELETE: Final = "DELETE FROM card WHERE hash = ?"
WRITE: Final = {"insert": INSERT, "delete": DELETE}
STAMPED_CARD: Final = f"{READ_CHANGES} AS stamp, {search.CARD}"
STAMPED_SORTED_CARD: Final = f"{READ_CHANGES} AS sorted_stamp, {search.SORTED_CARD}"
STORED_COLUMNS: Final = "CAST(content AS BLOB), is_text, hash_algorithm, size, g_time, content_type FROM card"
VERIFY_ROWS: Final = f"SELECT hash AS verify_hash, {STORED_COLUMNS}"
"""Every stored row, its content as bytes whatever its storage class, as reads see it."""
STORED_ROWS: Final = f"SELECT hash AS stored_hash, {STORED_COLUMNS} WHERE hash IN (SELECT value FROM json_each(?))"
"""The rows of some hashes as ``VERIFY_ROWS`` gives them, not checked (``repair_damaged``)."""
REPAIR_ROW: Final = (
    "UPDATE card SET is_text = ?, hash_algorithm = ?, size = ?, g_time = ?, content_type = ?"
    " WHERE hash = ? AND CAST(content AS BLOB) = ? RETURNING 1"
)


class NotTagged(Exception):
    """A tag request naming hashes that are not stored (the list of them is its argument)."""


class NotSeen(Exception):
    """Sightings naming hashes that are not stored (the list of them is its argument)."""


class NotStored(sqlite3.IntegrityError):
    """A write the database silently skipped (a trigger, a hand-altered schema): not a duplicate."""


class HeldByDamaged(sqlite3.IntegrityError):
    """A card whose hash a row another tool changed holds (``integrity.held_by_damaged``)."""

    def __init__(self, key: str) -> None:
        super().__init__(held_by_damaged(key))
        self.key = key


class WriteCancelled(sqlite3.OperationalError):
    """Raised inside a write whose caller cancelled it, so its statement stops and rolls back."""


class OutsideBatch(sqlite3.OperationalError):
    """Raised as a batch's write binds its values once the batch's transaction is not open (its
    ``BEGIN IMMEDIATE`` failed): on its own the statement would wait for the lock again, and
    write as the caller hears that the batch failed."""


def read_row(cursor: sqlite3.Cursor, row: tuple[Any, ...], _restore: Any = MCard.restore) -> Any:
    """The connections' row factory (see the module docstring); runs on their threads."""
    kind = cursor.description[0][0]
    if kind == "content":
        return _restore(*row)
    if kind == "head_hash":
        return row if row[1].__class__ is not int else (row[0], large_head(cursor, row[0], row[1]), *row[2:])
    if kind in ("stamp", "flag"):
        return row[0], _restore(*row[1:])
    if kind == "sorted":
        return _restore(*row) if row[0] is not None else large_card(cursor, row)
    if kind == "sorted_stamp":
        return row[0], (_restore(*row[1:]) if row[1] is not None else large_card(cursor, row[1:]))
    if kind == "verify_hash":
        reason = check_stored(*row)
        return None if reason is None else DamagedCard(row[0], reason)
    return row


LARGE_CARD: Final = "SELECT id AS large_id, CASE WHEN is_text THEN 1 ELSE 0 END FROM card WHERE hash = ?"
"""Where a left-out content is, and whether ``CARD`` would give it as text (SQL's truth of
``is_text``: a row another tool wrote may hold another value, or a text under a false one)."""


def large_card(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> MCard:
    """The card of a ``search.SORTED_CARD`` row whose content was left out, read as a blob.

    Such statements run in a read transaction (``fetch_snapshot``), so the card is read from
    the snapshot the row came from."""
    blob, as_text = _open_content(cursor, row[1])
    with blob:
        content: str | bytes = blob.read()
    if as_text:
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError:
            raise sqlite3.OperationalError("Could not decode to UTF-8 column 'content'") from None
    return MCard.restore(content, *row[1:])


def large_head(cursor: sqlite3.Cursor, hash_str: str, head: int) -> bytes:
    """The first ``head`` bytes of a large content, as a blob (in a read transaction, as ``large_card``)."""
    blob, _ = _open_content(cursor, hash_str)
    with blob:
        return blob.read(head)


def _open_content(cursor: sqlite3.Cursor, hash_str: str) -> tuple[sqlite3.Blob, int]:
    [(rowid, as_text)] = cursor.connection.execute(LARGE_CARD, (hash_str,)).fetchall()
    return cursor.connection.blobopen("card", "content", rowid, readonly=True), as_text


def key_list(keys: Iterable[str]) -> str:
    """Hashes as one JSON array for ``json_each``: checked hashes are hex, joined as they are;
    any other string (the hash a damaged card was stored under, ``remove_damaged``) is encoded.
    A guard given malformed JSON fails with an error, not a rollback: its write was committed."""
    listed = keys if isinstance(keys, list) else list(keys)
    joined = '","'.join(listed)
    if listed and joined.isascii() and joined.isprintable() and "\\" not in joined and joined.count('"') == 2 * (len(listed) - 1):
        return f'["{joined}"]'
    return json.dumps(listed)


async def initialize(
    db: SQLiteWorker, synchronous: str, journal_mode: str, where: str, read_only: bool, timeout: float
) -> Optional[int]:
    """Check the file is a database, create or upgrade the schema, then set the journal
    (so that a file refused for its schema version is left byte for byte as it was).
    Read-only, only check that it holds a card store of this version. A file whose text
    encoding is not UTF-8 is refused: every text card is stored as its UTF-8 bytes. Returns
    the version an upgrade started from (``ensure_schema``). A lock is waited for up to
    ``timeout`` seconds, the journal's switch included (``set_journal_mode``)."""
    await db.fetch("SELECT count(*) FROM sqlite_master")
    [(encoding,)] = await db.fetch("PRAGMA encoding")
    if encoding != "UTF-8":  # stored bytes are read as text in the file's encoding
        raise StorageError(f"{where}: the database stores text as {encoding}; a card store needs UTF-8")
    if read_only:
        await check_schema(db, where)
        return None
    await db.execute(SET_SYNCHRONOUS[synchronous])
    upgraded_from = await ensure_schema(db, where)
    await set_journal_mode(db, journal_mode, timeout)
    return upgraded_from


async def set_journal_mode(db: SQLiteWorker, journal_mode: str, timeout: float) -> None:
    """Set the journal mode, trying again for up to ``timeout`` seconds while the file is
    locked. Leaving rollback journaling for WAL while another connection holds a write
    transaction fails at once, busy timeout or not: processes opening a new store together
    (one creating the schema while another switches) failed with "database is locked"."""
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    while True:
        try:
            await db.fetch(SET_JOURNAL_MODE[journal_mode])
            return
        except StorageError as exc:
            if not exc.transient or loop.time() >= until:
                raise
        await asyncio.sleep(JOURNAL_SWITCH_RETRY)


STATS: Final = (
    "SELECT coalesce(content_type, '?'), count(*), coalesce(sum(size) FILTER (WHERE typeof(size) = 'integer'), 0),"
    " min(g_time) FILTER (WHERE typeof(g_time) = 'integer' AND g_time BETWEEN ?1 AND ?2),"
    " max(g_time) FILTER (WHERE typeof(g_time) = 'integer' AND g_time BETWEEN ?1 AND ?2)"
    " FROM card GROUP BY 1 ORDER BY 2 DESC, 1"
)
"""``StoreStats.of_types``' rows, in one statement (one state of the store). Sizes and times
of rows another tool wrote with values no card can have are left out (``verify`` names those
rows)."""


async def stats(db: SQLiteWorker) -> list[Any]:
    return await db.fetch(STATS, (MIN_MICROS, MAX_MICROS))


# -- writes ------------------------------------------------------------------------------------
# A write is a pipeline of statements queued on the writer's thread at once (see
# ``SQLiteWorker.pipeline``), so that its transaction never waits on the event loop. A batch
# (writes grouped while one ran) is ``BEGIN IMMEDIATE``, the batch's mark, then per run of
# requests of one kind (inserts, removals) one statement over all their rows with what it
# takes to count them and a guard, then ``COMMIT``. Whatever goes wrong on the way (a failing
# row, a trigger that drops rows, a full disk mid-way, a cancelled request whose rows stop
# early), the guard then finds the run's rows not all there (or, for removals, not all gone)
# and rolls the whole transaction back (``UPDATE OR ROLLBACK`` of a NOT NULL column to NULL).
# Once no transaction is open (it failed to start, or was rolled back), later rows yield
# nothing (so no statement of the batch commits on its own, nor waits again for a busy
# database) and later guards fail on the mark, which the rollback took back. Only a duplicate
# hash leaves an insert undone. A lone one-row write is its statement alone, atomic by itself.
# The last guard, just before ``COMMIT``, fails once the write's caller cancelled it: a
# cancellation that comes after the rows went in (while the write is counted and checked) still
# rolls it back.
GUARD_TABLE: Final = (
    "CREATE TEMP TABLE IF NOT EXISTS mcard_guard"
    " (ok INTEGER NOT NULL, batch INTEGER NOT NULL, last_id INTEGER NOT NULL, unstored TEXT, refused TEXT)"
)
GUARD_ROW: Final = (
    "INSERT INTO mcard_guard (ok, batch, last_id) SELECT 1, 0, 0 WHERE NOT EXISTS (SELECT 1 FROM mcard_guard)"
)
MARK_BATCH: Final = "UPDATE mcard_guard SET batch = ?"
NOTE_LAST_ID: Final = (
    "UPDATE mcard_guard SET last_id = max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'card'), 0),"
    " coalesce((SELECT max(id) FROM card), 0))"
)
"""The id the next insert goes past: AUTOINCREMENT's sequence, or a higher id another tool gave
a row (an UPDATE of ``id`` leaves the sequence behind)."""
INSERTED: Final = "SELECT hash FROM card WHERE id > (SELECT last_id FROM mcard_guard)"
"""The cards a run of inserts stored: AUTOINCREMENT ids only grow, and the batch holds the lock."""
INSERTED_COUNT: Final = "SELECT count(*) FROM card WHERE id > (SELECT last_id FROM mcard_guard)"
STORED_AMONG: Final = "SELECT hash FROM card WHERE hash IN (SELECT value FROM json_each(?))"
HOLDS_ITS_HASH: Final = "mcard_holds_hash(hash, hash_algorithm, size, CAST(content AS BLOB))"
"""Whether a stored row holds the content its hash names (``integrity.holds_its_hash``)."""
HELD_BY_DAMAGED: Final = f"SELECT hash FROM card WHERE hash IN (SELECT value FROM json_each(?)) AND NOT {HOLDS_ITS_HASH} LIMIT 1"
"""After a write's guard failed: a hash it named that a changed row holds, if any."""
STORED_WHOLE: Final = f"SELECT {HOLDS_ITS_HASH} FROM card WHERE hash = ?"
"""For a card an insert left as it was: a row if stored, whether it holds the card's content."""
GUARD: Final = {
    # All the run's cards are there: the new ones counted by id (a quick range), else by hash,
    # those stored before only when they hold the content their hash names.
    "insert": "UPDATE OR ROLLBACK mcard_guard SET ok = CASE WHEN batch = ? AND ("
              "(SELECT count(*) FROM card WHERE id > (SELECT last_id FROM mcard_guard)) = ?3"
              " OR (SELECT count(*) FROM card WHERE hash IN (SELECT value FROM json_each(?2))"
              f" AND (id > (SELECT last_id FROM mcard_guard) OR {HOLDS_ITS_HASH})) = ?3) THEN 1 END",
    "delete": "UPDATE OR ROLLBACK mcard_guard SET ok = CASE WHEN batch = ? AND NOT EXISTS (SELECT 1 FROM card"
              " WHERE hash IN (SELECT value FROM json_each(?))) THEN 1 END",
}
NOT_CANCELLED: Final = "UPDATE OR ROLLBACK mcard_guard SET ok = CASE WHEN ? THEN 1 END"
"""The guard before ``COMMIT``: rolls the batch back when its parameter, read as SQLite binds it
on the writer's thread, says a request of the batch was cancelled."""


# Sightings and tags. A save's sightings go in one statement (from a JSON list built on the
# writer's thread), and the save's guard checks them too. A tag or untag request is one
# statement, atomic by itself: tagging does nothing at all when a hash is not stored or its row
# holds other content (``TAG_REFUSAL``).
SIGHTING_ROWS: Final = (
    "INSERT INTO sighting (key, hash, name, path, size, mtime, source, seen_at)"
    " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),"
    " json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'),"
    " json_extract(value, '$[6]'), json_extract(value, '$[7]')"
)
KEEP_EARLIEST: Final = " ON CONFLICT (key) DO UPDATE SET seen_at = min(seen_at, excluded.seen_at)"
SIGHTINGS_SAVED: Final = f"{SIGHTING_ROWS} FROM json_each(?) WHERE true{KEEP_EARLIEST}"
SIGHTINGS_UNRECORDED: Final = "SELECT value FROM json_each(?) WHERE value NOT IN (SELECT key FROM sighting)"
"""Of a write's sighting keys, those not recorded yet (run inside its transaction, which holds
the write lock, so that no other writer records one meanwhile)."""
SIGHTINGS_THERE: Final = (
    "UPDATE OR ROLLBACK mcard_guard SET ok = CASE WHEN batch = ? AND (SELECT count(*) FROM sighting"
    " WHERE key IN (SELECT value FROM json_each(?))) = ? THEN 1 END"
)
SEEN_UNSTORED: Final = (
    "SELECT DISTINCT json_extract(value, '$[1]') FROM json_each(?)"
    " WHERE json_extract(value, '$[1]') NOT IN (SELECT hash FROM card) ORDER BY 1"
)
"""Of an ``add_sightings`` request's sighting rows, the hashes no card has."""
SEEN_NEW: Final = (
    "SELECT json_extract(value, '$[0]') FROM json_each(?)"
    " WHERE json_extract(value, '$[0]') NOT IN (SELECT key FROM sighting)"
)
SEEN_EARLIER: Final = (
    "SELECT count(*) FROM json_each(?) JOIN sighting ON sighting.key = json_extract(value, '$[0]')"
    " WHERE json_extract(value, '$[7]') < sighting.seen_at"
)
"""Of an ``add_sightings`` request's rows, those recorded later than given (each key once)."""
_SEEN_BLOCKED: Final = (
    "EXISTS (SELECT 1 FROM json_each(?1) AS asked WHERE json_extract(asked.value, '$[1]') NOT IN (SELECT hash FROM card))"
    " OR EXISTS (SELECT 1 FROM card WHERE hash IN (SELECT json_extract(value, '$[1]') FROM json_each(?1))"
    f" AND NOT {HOLDS_ITS_HASH})"
)
"""Whether a sighting of an ``add_sightings`` request names a hash no card has, or one a row
holds with other content (each test made once per statement, the second only after the first)."""
SEEN_SAVED: Final = f"{SIGHTING_ROWS} FROM json_each(?1) WHERE NOT ({_SEEN_BLOCKED}){KEEP_EARLIEST}"
"""``SIGHTINGS_SAVED`` that writes nothing when the request is blocked (``_SEEN_BLOCKED``)."""
SEEN_THERE: Final = (
    "UPDATE OR ROLLBACK mcard_guard SET ok = CASE WHEN batch = ?2 AND ((SELECT count(*) FROM sighting"
    " WHERE key IN (SELECT json_extract(value, '$[0]') FROM json_each(?1))) = json_array_length(?1)"
    f" OR {_SEEN_BLOCKED}) THEN 1 END"
)
TAG_REFUSAL: Final = (
    "UPDATE mcard_guard SET unstored = (SELECT json_group_array(hash) FROM (SELECT DISTINCT json_extract(value, '$[0]')"
    " AS hash FROM json_each(?1) WHERE json_extract(value, '$[0]') NOT IN (SELECT hash FROM card) ORDER BY 1)),"
    " refused = (SELECT hash FROM card WHERE hash IN (SELECT json_extract(value, '$[0]') FROM json_each(?1))"
    f" AND NOT {HOLDS_ITS_HASH} ORDER BY hash LIMIT 1) RETURNING unstored, refused"
)
"""Before a tag request's write, in its transaction: the hashes it names that no card has (a JSON
list), and the first a row holds with other content (a tag on a forgery would name it), or
NULL; kept for ``TAG_WRITE``, which writes nothing unless both are empty."""
TAG_WRITE: Final = {
    "tag": "INSERT INTO tag (hash, tag) SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]')"
           " FROM json_each(?) WHERE (SELECT unstored = '[]' AND refused IS NULL FROM mcard_guard)"
           " ON CONFLICT DO NOTHING RETURNING hash",
    "untag": "DELETE FROM tag WHERE (hash, tag) IN"
             " (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)) RETURNING hash",
}
SIGHTINGS_OF: Final = (
    "SELECT hash, name, path, size, mtime, source, seen_at FROM sighting"
    " WHERE hash IN (SELECT value FROM json_each(?)) ORDER BY hash, seen_at, key"
)
NAMES_OF: Final = (
    "SELECT hash, name FROM (SELECT hash, name, row_number() OVER (PARTITION BY hash ORDER BY seen_at DESC, key DESC)"
    f" AS latest FROM sighting WHERE hash IN (SELECT value FROM json_each(?)) AND name IS NOT NULL AND {SQLITE_SOUND})"
    " WHERE latest = 1"
)
TAGS_OF: Final = "SELECT hash, tag FROM tag WHERE hash IN (SELECT value FROM json_each(?)) ORDER BY hash, tag"
EVERY_NAME: Final = (
    "SELECT hash, name FROM (SELECT hash, name, row_number() OVER (PARTITION BY hash ORDER BY seen_at DESC, key DESC)"
    f" AS latest FROM sighting WHERE name IS NOT NULL AND {SQLITE_SOUND}) WHERE latest = 1"
)
EVERY_TAG: Final = "SELECT hash, tag FROM tag ORDER BY hash, tag"


def sighting_row(sighting: Sighting) -> list[object]:
    return [
        sighting.key, sighting.hash, sighting.name, sighting.path, sighting.size,
        None if sighting.mtime is None else to_micros(sighting.mtime), sighting.source, to_micros(sighting.seen_at),
    ]


class _Lazy(Sequence[object]):
    """Statement parameters built only when SQLite binds them, on the writer's thread: the
    event loop never builds the JSON of a large write."""

    def __init__(self, build: Any, length: int) -> None:
        self._build, self._length = build, length
        self._values: Optional[tuple[object, ...]] = None

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: Any) -> Any:
        if self._values is None:
            self._values = tuple(self._build())
        return self._values[index]


async def prepare_writer(db: SQLiteWorker) -> None:
    """The writer's own guard table (temporary: one per connection). Its transaction writes
    the temporary database only, so it needs no lock of the store's file."""
    await db.execute(GUARD_TABLE)
    await db.execute("BEGIN")
    await db.execute(GUARD_ROW)
    await db.commit()


def _rows(db: SQLiteWorker, run: Sequence[WriteRequest], in_batch: bool) -> Iterator[tuple[object, ...]]:
    """The rows of a run of requests, built on the writer's thread while SQLite consumes them;
    none unless the batch's transaction is open (``in_batch``), and none of a request once it
    is cancelled (the guard then rolls the write back)."""
    if in_batch and not db.connection.in_transaction:
        return
    inserting = run[0].operation == "insert"
    for request in run:
        for item in request.payload:
            if request.cancelled:
                break
            yield card_row(item) if inserting else (item,)


def _keys(run: Sequence[WriteRequest]) -> list[str]:
    """Every key a run of requests names, once each, in order."""
    if run[0].operation == "insert":
        return list(dict.fromkeys(card.hash for request in run for card in request.payload))
    return list(dict.fromkeys(key for request in run for key in request.payload))


class _Keys(Sequence[object]):
    """Parameters naming a run's keys (as one JSON list, and how many), built only when SQLite
    binds them, on the writer's thread: the event loop never builds the key list of a large
    write. ``prefix`` comes first (the batch's mark for a guard)."""

    def __init__(self, run: Sequence[WriteRequest], prefix: tuple[object, ...], with_count: bool) -> None:
        self._run, self._prefix, self._with_count = run, prefix, with_count
        self._values: Optional[tuple[object, ...]] = None

    def _bound(self) -> tuple[object, ...]:
        if self._values is None:
            keys = _keys(self._run)
            self._values = (*self._prefix, key_list(keys), *((len(keys),) if self._with_count else ()))
        return self._values

    def __len__(self) -> int:
        return len(self._prefix) + 1 + self._with_count

    def __getitem__(self, index: Any) -> Any:
        return self._bound()[index]


def _runs(requests: Sequence[WriteRequest]) -> list[list[WriteRequest]]:
    """Consecutive inserts, or removals, go as one statement; each tag request on its own."""
    runs: list[list[WriteRequest]] = []
    for request in requests:
        if runs and runs[-1][0].operation == request.operation and request.operation in WRITE:
            runs[-1].append(request)
        else:
            runs.append([request])
    return runs


def _in_batch(db: SQLiteWorker, build: Callable[[], tuple[object, ...]]) -> Callable[[], tuple[object, ...]]:
    """``build``, refused unless the batch's transaction is open (``OutsideBatch``)."""
    def checked() -> tuple[object, ...]:
        if not db.connection.in_transaction:
            raise OutsideBatch("the batch's transaction is not open")
        return build()
    return checked


def _pairs_json(pairs: Sequence[tuple[str, str]]) -> str:
    """A tag request's (hash, tag) pairs as JSON, in hash order: each page of the tag table and
    of the card table's hash index is then visited once (100,000 random hashes tagged: 1.1 s
    -> 0.27 s for the insert alone)."""
    return json.dumps(sorted(pairs))


def _sightings_json(run: Sequence[WriteRequest]) -> tuple[object, ...]:
    return (json.dumps([sighting_row(s) for request in run for s in request.attached]),)


def _sighting_keys(run: Sequence[WriteRequest]) -> list[str]:
    return list(dict.fromkeys(s.key for request in run for s in request.attached))


def _sighting_guard(run: Sequence[WriteRequest], marker: int) -> tuple[object, ...]:
    keys = _sighting_keys(run)
    return marker, key_list(keys), len(keys)


async def write_batch(db: SQLiteWorker, batch: Sequence[WriteRequest], marker: int) -> None:
    """Run the live requests of ``batch`` as one transaction, all or nothing, and fill in each
    one's count of changed rows."""
    for request in batch:
        request.skipped = request.cancelled
    live = [request for request in batch if not request.cancelled]
    if not live:
        return
    if len(live) == 1 and len(live[0].payload) == 1 and live[0].operation in WRITE and not live[0].attached:
        await _write_one(db, live[0])
        return
    steps: list[Any] = [db.execute("BEGIN IMMEDIATE"), db.execute(MARK_BATCH, (marker,))]
    counted: list[tuple[list[WriteRequest], int]] = []
    guards: set[int] = set()
    tagged: list[tuple[WriteRequest, int]] = []
    recorded: list[tuple[list[WriteRequest], int]] = []
    seen: list[tuple[WriteRequest, int]] = []
    for run in _runs(live):
        operation = run[0].operation
        if operation == "seen":
            build = functools.cache(lambda request=run[0]: (json.dumps([sighting_row(s) for s in request.payload]),))
            seen.append((run[0], len(steps)))
            steps += [db.fetch(SEEN_UNSTORED, _Lazy(build, 1)), db.fetch(SEEN_NEW, _Lazy(build, 1)),
                      db.fetch(SEEN_EARLIER, _Lazy(build, 1)), db.execute(SEEN_SAVED, _Lazy(_in_batch(db, build), 1)),
                      db.fetch("SELECT changes()")]
            guards.add(len(steps))
            steps.append(db.execute(SEEN_THERE, _Lazy(lambda build=build: (*build(), marker), 2)))
            continue
        if operation in TAG_WRITE:
            pairs = functools.cache(lambda request=run[0]: (_pairs_json(request.payload),))
            tagged.append((run[0], len(steps)))
            if operation == "tag":
                steps.append(db.fetch(TAG_REFUSAL, _Lazy(pairs, 1)))
            steps.append(db.fetch(TAG_WRITE[operation], _Lazy(_in_batch(db, pairs), 1)))
            continue
        inserting = operation == "insert"
        if inserting:
            steps += [db.execute(NOTE_LAST_ID), db.executemany(INSERT, _rows(db, run, True))]
            counted.append((run, len(steps)))
            steps.append(db.fetch(INSERTED if len(run) > 1 else INSERTED_COUNT))
            if any(request.attached for request in run):
                recorded.append((run, len(steps)))
                steps.append(db.fetch(SIGHTINGS_UNRECORDED, _Lazy(lambda run=run: (key_list(_sighting_keys(run)),), 1)))
                steps.append(db.execute(SIGHTINGS_SAVED, _Lazy(_in_batch(db, lambda run=run: _sightings_json(run)), 1)))
                guards.add(len(steps))
                steps.append(db.execute(SIGHTINGS_THERE, _Lazy(lambda run=run: _sighting_guard(run, marker), 3)))
        else:
            counted.append((run, len(steps)))
            steps += [db.fetch(STORED_AMONG, _Keys(run, (), False)), db.executemany(DELETE, _rows(db, run, True))]
        guards.add(len(steps))
        steps.append(db.execute(GUARD[operation], _Keys(run, (marker,), inserting)))
    steps.append(db.execute(NOT_CANCELLED, _Lazy(lambda: (not any(request.cancelled for request in live),), 1)))
    steps.append(db.commit())
    outcomes = await db.pipeline(steps)
    failed = next((index for index, outcome in enumerate(outcomes) if isinstance(outcome, BaseException)), None)
    if failed is not None:
        if db.connection.in_transaction:
            await db.rollback()
        if any(request.cancelled for request in live):
            raise WriteCancelled("write cancelled by its caller")
        if failed in guards:
            inserted = [key for run in _runs(live) if run[0].operation == "insert" for key in _keys(run)]
            damaged = await db.fetch(HELD_BY_DAMAGED, (key_list(inserted),)) if inserted else []
            if damaged:
                raise HeldByDamaged(damaged[0][0])
            raise NotStored("the database did not store every card of the write (a trigger or constraint?)")
        raise outcomes[failed]
    for run, index in counted:
        if run[0].operation == "insert" and len(run) == 1:
            run[0].result = outcomes[index][0][0]
        else:
            _credit(run, {row[0] for row in outcomes[index]})
    for run, index in recorded:
        credit_attached(run, {row[0] for row in outcomes[index]})
    for request, index in seen:
        if outcomes[index]:
            request.error = NotSeen([row[0] for row in outcomes[index]])
        elif not outcomes[index + 4][0][0]:  # blocked by a changed row (or one changed since)
            hashes = key_list(sorted({s.hash for s in request.payload}))
            damaged = await db.fetch(HELD_BY_DAMAGED, (hashes,))
            request.error = HeldByDamaged(damaged[0][0]) if damaged else NotStored("a card changed during the write")
        else:
            request.result, request.earlier = len(outcomes[index + 1]), outcomes[index + 2][0][0]
    for request, index in tagged:
        if request.operation == "untag":
            request.result = len(outcomes[index])
            continue
        [(unstored, refused)], changed = outcomes[index:index + 2]
        request.result = len(changed)
        if unstored != "[]":
            request.error = NotTagged(json.loads(unstored))
        elif refused is not None:
            request.error = HeldByDamaged(refused)


def _credit(run: Sequence[WriteRequest], changed: set[str]) -> None:
    """Each request's count: the keys it named that the run changed, each key credited to
    the first request that named it."""
    inserting = run[0].operation == "insert"
    for request in run:
        keys = {card.hash for card in request.payload} if inserting else set(request.payload)
        mine = changed & keys
        changed -= mine
        request.result = len(mine)


async def _write_one(db: SQLiteWorker, request: WriteRequest) -> None:
    """A lone one-row write: its statement alone (a duplicate or a missing card is checked once
    it is over, which only an insert of a card already there, or a removal of a card not there,
    may leave unchanged)."""
    request.result = await db.executemany(WRITE[request.operation], _rows(db, [request], False))
    if request.result:
        return
    if request.cancelled:
        raise WriteCancelled("write cancelled by its caller")
    if request.operation == "insert":
        key = request.payload[0].hash
        stored = await db.fetch(STORED_WHOLE, (key,))
        if not stored:
            raise NotStored(f"{key} was neither stored nor already there (a trigger or constraint?)")
        if not stored[0][0]:
            raise HeldByDamaged(key)
        return
    key = request.payload[0]
    [(present,)] = await db.fetch(COUNT_STORED, (key_list([key]),))
    if present:
        raise NotStored(f"{key} is still there after its removal (a trigger?)")


# -- reads -------------------------------------------------------------------------------------
async def list_page(
    db: SQLiteWorker,
    filters: Filters,
    limit: Optional[int],
    offset: int,
    after: Optional[tuple[int, str]],
    resume: Optional[tuple[int, int, str]],
) -> tuple[list[MCard], Optional[int]]:
    """A newest-first page and the change stamp it was read at (None for an empty page).

    ``resume`` is (stamp, g_time, hash) of the card just before ``offset``, remembered from an
    earlier page: the page is first read from there (keyset), and kept when it was read at the
    same stamp, i.e. nothing changed since; otherwise ``offset`` rows are skipped. The stamp is
    a column of the page's own statement, so both come from one snapshot. When nothing follows
    that card, the stamp read right after tells whether the listing has truly ended: the stamp
    only grows, so the same stamp means no write committed since the mark, hence none before
    the page's read either (the page past the end skipped every card of the store again).
    """
    if resume is not None:
        rows = await _page(db, filters, limit, 0, resume[1:])
        if rows and rows[0][0] == resume[0]:
            return [card for _, card in rows], resume[0]
        if not rows and (await db.fetch(f"SELECT {READ_CHANGES}"))[0][0] == resume[0]:
            return [], None
    rows = await _page(db, filters, limit, offset, after)
    return [card for _, card in rows], (rows[0][0] if rows else None)


async def _page(
    db: SQLiteWorker, filters: Filters, limit: Optional[int], offset: int, after: Optional[tuple[int, str]]
) -> list[tuple[int, MCard]]:
    walked, lead = (await filter_walks.walk(db, filters, STAMPED_SORTED_CARD, [], limit, offset, after=after)
                    if may_sort(filters) else (None, None))
    if walked is not None:
        return walked
    params: list[object] = []
    conditions, offset = _page_conditions(filters, lead, params, offset, DEFAULT_ORDER, after)
    page = search.paging(limit, offset, params)
    if may_sort(filters):
        ordering = orderings(DEFAULT_ORDER, lead)
        return await db.fetch_snapshot(f"SELECT {STAMPED_SORTED_CARD} FROM card{conditions}{ordering}{page}", params)
    return await db.fetch(f"SELECT {STAMPED_CARD} FROM card{conditions}{search.NEWEST_FIRST}{page}", params)


def _page_conditions(
    filters: Filters, lead: Optional[filter_walks.Lead], params: list[object], offset: int, order: str,
    after: Optional[tuple[int, str]] = None,
) -> tuple[str, int]:
    """`` WHERE`` and the conditions of a page (``filter_walks.where``), and the offset its
    statement still has to skip: none when the filters are time bounds alone and the order that
    of the time index, whose cards before the page the conditions skip (``_from_the_offset``)."""
    if order in search.WALK_ORDERS and not may_sort(filters):
        return _from_the_offset(filters, params, offset, order, after), 0
    return filter_walks.where(filters, lead, params, after), offset


def _from_the_offset(
    filters: Filters, params: list[object], offset: int, order: str, after: Optional[tuple[int, str]] = None
) -> str:
    """`` WHERE`` and the conditions of ``filters`` (time bounds alone) and ``after``, and, for
    an ``offset``, a test keeping the cards from the ``offset``-th one they choose on in ``order``
    (newest or oldest first). That card is found by a sub-select over the time index alone, so
    the rows of the cards skipped are never read (a page at offset 99,000 of 100,000: 10.5 ms
    skipping rows, 4.3 ms skipping index entries)."""
    conditions = search.where(filters, params, after)
    if not offset:
        return conditions
    skipped = search.where(filters, params, after)
    params.append(offset)
    first = f"(SELECT card.g_time, card.hash FROM card{skipped}{search.WALK_ORDERS[order]} LIMIT 1 OFFSET ?)"
    side = "<=" if order == "newest" else ">="
    return (f"{conditions} AND " if conditions else " WHERE ") + f"(card.g_time, card.hash) {side} {first}"


def may_sort(filters: Filters, order: str = DEFAULT_ORDER) -> bool:
    """Whether rows may be sorted rather than read in order from ``card_by_time`` (another
    order, or a filter another index serves): such a statement reads ``SORTED_CARD``."""
    return order != DEFAULT_ORDER or not replace(filters, start_time=None, end_time=None).empty


LATEST_NAME: Final = (
    "(SELECT sighting.name FROM sighting WHERE sighting.hash = card.hash AND sighting.name IS NOT NULL"
    f" AND {SQLITE_SOUND} ORDER BY sighting.seen_at DESC, sighting.key DESC LIMIT 1)"
)
ORDER_BY: Final = {
    "oldest": " ORDER BY card.g_time, card.hash",
    "largest": " ORDER BY card.size DESC, card.g_time DESC, card.hash DESC",
    "smallest": " ORDER BY card.size, card.g_time DESC, card.hash DESC",
    "type": " ORDER BY coalesce(card.content_type, ''), card.g_time DESC, card.hash DESC",
    "name": f" ORDER BY {LATEST_NAME} NULLS LAST, card.g_time DESC, card.hash DESC",
    "name_desc": f" ORDER BY {LATEST_NAME} DESC NULLS LAST, card.g_time DESC, card.hash DESC",
}
"""Each order but newest first (``mcard.domain.query.order``) as SQL. A card's latest name is
named once: written twice (``IS NULL``, then the name), SQLite looked it up twice a card."""


def orderings(order: str, lead: Optional[filter_walks.Lead] = None) -> str:
    """The ``ORDER BY`` of a page or stream in ``order``; a statement ``lead`` leads sorts the
    few cards it reads (``HITS_SORTED``) instead of reading them along an index."""
    if lead is not None:
        return HITS_SORTED[order]
    return search.NEWEST_FIRST if order == DEFAULT_ORDER else ORDER_BY[order]


HEADS: Final = (
    "card.hash AS head_hash,"
    f" CASE WHEN card.size > {search.BLOB_READ_FROM} AND typeof(card.content) IN ('blob', 'text') THEN ?"
    " ELSE substr(CAST(card.content AS BLOB), 1, ?) END,"
    " card.is_text, card.g_time, card.hash_algorithm, card.size, card.content_type"
)
"""What ``list_heads`` reads: the rows with the content cut; for a large content, the head's
length instead, whose bytes the row factory reads as a blob (``large_head``)."""


SIZE_SKIPS: Final = {"largest": (" DESC", "<=", ">"), "smallest": ("", ">=", "<")}
"""For a page of every card in size order at an offset: the direction ``card_by_size`` is read
in, the test keeping the cards from the page's size on, and the one counting those before it."""


def _from_the_size(order: str, columns: str, params: list[object], limit: int, offset: int) -> str:
    """The statement of ``columns`` of a page of every card in size ``order`` at ``offset``. An
    OFFSET reads the row of each card it skips (to sort each size's cards by time), so the size
    of the page's first card, and how many cards come before that size, are read in
    ``card_by_size`` alone, and only the cards of that size before the page are skipped by
    reading their rows (300,000 cards of up to 3 KB, offset 150,000: 905 -> 8 ms)."""
    direction, kept, before = SIZE_SKIPS[order]
    first = f"(SELECT card.size FROM card ORDER BY card.size{direction} LIMIT 1 OFFSET ?)"
    params += (offset, limit, offset, offset)
    return (f"SELECT {columns} FROM card WHERE card.size {kept} {first}{ORDER_BY[order]}"
            f" LIMIT ? OFFSET ? - (SELECT count(*) FROM card WHERE card.size {before} {first})")


ORDERED_BY_PARTS: Final = ("type", "name", "name_desc")
"""Orders whose pages are read in parts, without sorting every card (``type_order``, ``name_order``)."""


async def _page_without_sorting(
    db: SQLiteWorker, filters: Filters, limit: Optional[int], offset: int, order: str, columns: str,
    column_params: list[object],
) -> Optional[list[Any]]:
    """``columns`` (their values ``column_params``) of a page in type or name order of the cards
    in a time window, or at an offset in size order of every card, read without sorting all the
    cards before it; None when the page is to be sorted."""
    if limit is None:
        return None
    if order in ORDERED_BY_PARTS and not may_sort(filters):
        if order == "type":
            return await type_order.page(db, filters, limit, offset, columns, column_params)
        return await name_order.page(db, filters, limit, offset, order, columns, column_params)
    if offset and order in SIZE_SKIPS and filters.empty:
        params = [*column_params]
        return await db.fetch_snapshot(_from_the_size(order, columns, params, limit, offset), params)
    return None


async def ordered_page(db: SQLiteWorker, filters: Filters, limit: Optional[int], offset: int, order: str) -> list[MCard]:
    cards = await _page_without_sorting(db, filters, limit, offset, order, search.SORTED_CARD, [])
    if cards is not None:
        return cards
    walked, lead = (await filter_walks.walk(db, filters, search.SORTED_CARD, [], limit, offset, order)
                    if may_sort(filters) else (None, None))
    if walked is not None:
        return walked
    params: list[object] = []
    conditions, offset = _page_conditions(filters, lead, params, offset, order)
    ordering = orderings(order, lead)
    page = search.paging(limit, offset, params)
    if may_sort(filters, order):
        return await db.fetch_snapshot(f"SELECT {search.SORTED_CARD} FROM card{conditions}{ordering}{page}", params)
    return await db.fetch(f"SELECT {search.CARD} FROM card{conditions}{ordering}{page}", params)


async def ordered_search(
    db: SQLiteWorker, spec: SearchSpec, filters: Filters, limit: Optional[int], offset: int, order: str
) -> tuple[list[MCard], int]:
    """A page of the cards ``spec`` (not a regular expression: those are checked outside SQL)
    matches, in ``order``, and how many match in all: sorted in SQL, or newest or oldest first
    walked along the time index when the words are common (``search.walk``), where sorting
    every match in Python took 2.0-2.2 s for a word in 375,340 of 1,000,000 cards. A word
    search's total is counted in the word index alone while it covers every card, else given by
    a page that is not full, else counted."""
    walked = None
    if order in search.WALK_ORDERS and limit is not None:
        walked = await search.walk(db, spec, filters, limit, offset, order)
    in_index = spec.mode == "words" and filters.empty
    steps: list[Awaitable[Any]] = []
    if in_index:
        steps += [db.fetch(search.BEHIND), db.fetch(search.COUNT_WORD_MATCHES, [search.word_expression(spec.words)])]
    if walked is None:
        params: list[object] = []
        condition = search.matched(spec, filters, params)
        ordering = orderings(order)
        page = search.paging(limit, offset, params)
        steps.append(db.fetch(f"SELECT {search.SORTED_CARD} FROM card WHERE {condition}{ordering}{page}", params))
    outcomes = await db.in_turn(steps, snapshot=True) if steps else []
    cards = walked if walked is not None else outcomes.pop()
    if in_index:
        [(behind,)], [(total,)] = outcomes
        if not behind:
            return cards, total
    return cards, await search.total_of(db, spec, filters, cards, limit, offset)


async def page_without(
    db: SQLiteWorker, left_out: SearchSpec, filters: Filters, limit: Optional[int], offset: int, order: str
) -> tuple[list[MCard], int]:
    """A page of the cards passing ``filters`` that the word search ``left_out`` does not
    match, in ``order``, and how many there are, in one snapshot."""
    params: list[object] = []
    condition = search.left_out(left_out, filters, params)
    steps = [db.fetch(f"SELECT count(*) FROM card WHERE {condition}", list(params))]
    if limit != 0:
        ordering = orderings(order)
        page = search.paging(limit, offset, params)
        steps.append(db.fetch(f"SELECT {search.SORTED_CARD} FROM card WHERE {condition}{ordering}{page}", params))
    [(total,)], *cards = await db.in_turn(steps, snapshot=True)
    return (cards[0] if cards else []), int(total)


async def heads_page(
    db: SQLiteWorker, filters: Filters, limit: Optional[int], offset: int, order: str, head: int
) -> list[tuple[Any, ...]]:
    """``list_heads``' rows, in one statement (after a count, when a walk may pay: ``filter_walks``;
    in type, name or size order, as ``_page_without_sorting`` reads them)."""
    rows = await _page_without_sorting(db, filters, limit, offset, order, HEADS, [head, head])
    if rows is not None:
        return rows
    walked, lead = (await filter_walks.walk(db, filters, HEADS, [head, head], limit, offset, order)
                    if may_sort(filters) else (None, None))
    if walked is not None:
        return walked
    params: list[object] = [head, head]
    conditions, offset = _page_conditions(filters, lead, params, offset, order)
    ordering = orderings(order, lead)
    page = search.paging(limit, offset, params)
    return await db.fetch_snapshot(f"SELECT {HEADS} FROM card{conditions}{ordering}{page}", params)


async def cards_cursor(db: SQLiteWorker, filters: Filters) -> Any:
    """An iteration's cursor: every card that passes the filters, newest first, read through
    the filter with the fewest hits when they are few (``filter_walks.lead``)."""
    lead = await filter_walks.lead(db, filters, fewest_filters=1) if may_sort(filters) else None
    params: list[object] = []
    conditions = filter_walks.where(filters, lead, params)
    columns = search.SORTED_CARD if may_sort(filters) else search.CARD
    ordering = orderings(DEFAULT_ORDER, lead)
    return await db.cursor(f"SELECT {columns} FROM card{conditions}{ordering}", params)


async def heads_cursor(db: SQLiteWorker, filters: Filters, head: int) -> Any:
    """``iterate_heads``' cursor: the rows of ``list_heads``, newest first."""
    lead = await filter_walks.lead(db, filters, fewest_filters=1) if may_sort(filters) else None
    params: list[object] = [head, head]
    conditions = filter_walks.where(filters, lead, params)
    ordering = orderings(DEFAULT_ORDER, lead)
    return await db.cursor(f"SELECT {HEADS} FROM card{conditions}{ordering}", params)


async def verify_cursor(db: SQLiteWorker) -> Any:
    """``verify``'s cursor: every row, re-hashed by ``read_row`` as it is fetched."""
    return await db.cursor(VERIFY_ROWS)


CARDS_OF_TAG: Final = (
    f"SELECT CASE WHEN {tag_check.HELD} THEN (SELECT count(*) FROM tag WHERE tag = ?1)"
    " ELSE (SELECT count(*) FROM card WHERE card.hash IN (SELECT hash FROM tag WHERE tag = ?1)) END"
)
"""The cards of one tag: its rows in the tag index while every tag names a stored card
(``sqlite_tag_check``), else each of their cards looked up (``tag:holiday`` on 100,000 of
1,000,000 cards: ~110 ms looked up)."""


async def count(db: SQLiteWorker, filters: Filters) -> int:
    if filters.tag_alone is not None:
        [(total,)] = await db.fetch(CARDS_OF_TAG, (filters.tag_alone,))
        return total
    lead = await filter_walks.lead(db, filters)
    params: list[object] = []
    conditions = filter_walks.where(filters, lead, params)
    [(total,)] = await db.fetch(f"SELECT count(*) FROM card{conditions}", params)
    return total


GET_CHUNK: Final = 500
"""Hashes looked up by one statement of ``get_many``: a list of placeholders is read faster
than a JSON array (``json_each``), and all full chunks share one prepared statement."""


async def get_many(db: SQLiteWorker, hashes: Sequence[str]) -> dict[str, MCard]:
    if len(hashes) == 1:  # ``get``: one constant statement, prepared once per connection
        return by_hash(await db.fetch(GET_ONE, hashes))
    chunks = [hashes[start:start + GET_CHUNK] for start in range(0, len(hashes), GET_CHUNK)]
    pages = await db.in_turn([
        db.fetch(f"SELECT {search.CARD} FROM card WHERE hash IN ({', '.join('?' * len(chunk))})", chunk)
        for chunk in chunks
    ], snapshot=len(chunks) > 1)
    return by_hash([card for page in pages for card in page])


async def hashes_starting(db: SQLiteWorker, prefix: str, limit: int) -> list[str]:
    """Stored hashes that start with ``prefix`` (lowercase hex: they all sort below
    ``prefix + "g"``), through the hash index."""
    rows = await db.fetch(
        "SELECT hash FROM card WHERE hash >= ? AND hash < ? ORDER BY hash LIMIT ?", (prefix, prefix + "g", limit)
    )
    return [row[0] for row in rows]


async def sightings(db: SQLiteWorker, hashes: Sequence[str]) -> dict[str, list[Sighting]]:
    found: dict[str, list[Sighting]] = {}
    for hash_str, name, path, size, mtime, source, seen_at in await db.fetch(SIGHTINGS_OF, (key_list(hashes),)):
        if (seen := row_sighting((hash_str, name, path, size, mtime, source, seen_at))) is not None:
            found.setdefault(hash_str, []).append(seen)
    return found


WHOLE_TABLE_KEYS: Final = 2000
"""From this many hashes on, labels are read from the whole sighting or tag table when it has
fewer rows than hashes asked, and matched in Python: SQLite spends ~3 us per hash turning a
JSON list into an ``IN`` set (0.2-0.4 s for a DataFrame of 100,000 cards), far more than
reading a small table."""


LABEL_ROWS: Final = {"sighting": "SELECT count(*) FROM sighting", "tag": "SELECT count(*) FROM tag"}
LABELS_OF: Final = {"sighting": NAMES_OF, "tag": TAGS_OF}
EVERY_LABEL: Final = {"sighting": EVERY_NAME, "tag": EVERY_TAG}


async def _label_rows(db: SQLiteWorker, table: str, hashes: Sequence[str]) -> list[Any]:
    if len(hashes) >= WHOLE_TABLE_KEYS:
        rows = (await db.fetch(LABEL_ROWS[table]))[0][0]
        if rows < len(hashes):
            wanted = set(hashes)
            return [row for row in await db.fetch(EVERY_LABEL[table]) if row[0] in wanted]
    return await db.fetch(LABELS_OF[table], (key_list(hashes),))


async def names(db: SQLiteWorker, hashes: Sequence[str]) -> dict[str, str]:
    return dict(await _label_rows(db, "sighting", hashes))


async def tags(db: SQLiteWorker, hashes: Sequence[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for hash_str, tag in await _label_rows(db, "tag", hashes):
        found.setdefault(hash_str, []).append(tag)
    return found


DAMAGED_LABELS: Final = (
    "SELECT CAST(hash AS BLOB), typeof(hash), 'sighting', key, 'no card', NULL FROM sighting"
    " WHERE hash NOT IN (SELECT hash FROM card)"
    " UNION ALL SELECT hash, 'text', 'sighting', key, 'malformed', NULL FROM sighting"
    f" WHERE hash IN (SELECT hash FROM card) AND ({SQLITE_MALFORMED})"
    " UNION ALL SELECT CAST(hash AS BLOB), typeof(hash), 'tag', CAST(tag AS BLOB), 'no card', typeof(tag) FROM tag"
    " WHERE hash NOT IN (SELECT hash FROM card)"
    " UNION ALL SELECT hash, 'text', 'tag', CAST(tag AS BLOB), NULL, typeof(tag) FROM tag"
    " WHERE hash IN (SELECT hash FROM card)"
    f" AND (typeof(tag) != 'text' OR tag GLOB '*[^ -~]*' OR tag GLOB ' *' OR tag GLOB '* ' OR {MAYBE_NOT_A_TAG})"
)
"""(hash, its storage class, part, label, fault, the tag's storage class): a tag, and the hash
of a label of no card, come as their bytes (``_as_stored``), since reading text that is not
UTF-8 fails."""
NOT_ASCII_SIGHTINGS: Final = (
    "SELECT hash, key, CAST(name AS BLOB), CAST(path AS BLOB), CAST(source AS BLOB) FROM sighting"
    " WHERE hash IN (SELECT hash FROM card)"
    " AND (name GLOB '*[^ -~]*' OR path GLOB '*[^ -~]*' OR source GLOB '*[^ -~]*')"
)
"""Sightings whose name, path or source may be text that is not UTF-8, which SQLite keeps as
another tool casts it: reading it fails, so the bytes are read and decoded here."""


def _utf8(data: object) -> bool:
    if not isinstance(data, bytes):
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _as_stored(rows: Iterable[Sequence[Any]]) -> Iterator[tuple[Any, ...]]:
    """``DAMAGED_LABELS`` rows for ``damaged_labels``: a hash or a tag stored as UTF-8 text is
    given as its text (a tag of a stored card: ``stored_tag_fault`` decides), else as its bytes,
    which name it for removal."""
    for hashed, hash_stored_as, part, label, fault, stored_as in rows:
        as_text = isinstance(hashed, bytes) and hash_stored_as == "text" and _utf8(hashed)
        hash_str = hashed.decode("utf-8") if as_text else hashed
        if part != "tag":
            yield hash_str, part, label, fault
        elif stored_as == "text" and _utf8(label):
            yield hash_str, part, label.decode("utf-8"), fault
        else:
            yield hash_str, part, label, fault or ("not utf-8" if stored_as == "text" else None)


async def damaged_label_rows(db: SQLiteWorker) -> list[DamagedCard]:
    """Sightings and tags another tool left: of no stored card, not what mcard stores, or
    stored as text that is not UTF-8."""
    found = damaged_labels(_as_stored(await db.fetch(DAMAGED_LABELS)))
    named = {card.label for card in found if card.part == "sighting"}
    not_utf8 = [
        (hash_str, "sighting", key, "not utf-8") for hash_str, key, *texts in await db.fetch(NOT_ASCII_SIGHTINGS)
        if key not in named and not all(map(_utf8, texts))
    ]
    return found + damaged_labels(not_utf8)


REMOVE_SIGHTINGS: Final = "DELETE FROM sighting WHERE key IN (SELECT value FROM json_each(?)) RETURNING 1"
REMOVE_TAGS: Final = (
    "DELETE FROM tag WHERE (hash, tag) IN"
    " (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)) RETURNING 1"
)


_HASH_AS_STORED: Final = {"text": "hash = ?1", "bytes": "hash = ?1", "not utf-8": "hash IN (?1, CAST(?1 AS TEXT))"}
_TAG_AS_STORED: Final = {
    "text": "tag = ?2",
    "bytes": "CAST(tag AS BLOB) = ?2 AND typeof(tag) != 'text'",
    "not utf-8": "CAST(tag AS BLOB) = ?2",
}
"""A tag's hash (looked up in the tag table's key) and tag as ``verify()`` names them
(``_as_stored``): text; bytes that are UTF-8, stored otherwise than as text (as text they are
another, sound value; a BLOB never equals a text); bytes that are not, stored either way."""
REMOVE_TAG_NAMED: Final = {
    (hash_kind, tag_kind): f"DELETE FROM tag WHERE {_HASH_AS_STORED[hash_kind]} AND {_TAG_AS_STORED[tag_kind]} RETURNING 1"
    for hash_kind in _HASH_AS_STORED for tag_kind in _TAG_AS_STORED
}


def _stored_as(value: object) -> str:
    return "text" if not isinstance(value, bytes) else "bytes" if _utf8(value) else "not utf-8"


REMOVE_UNDER_BYTES: Final = "DELETE FROM card WHERE hash = ? AND typeof(hash) = 'blob' RETURNING 1"


async def remove_under_bytes(db: SQLiteWorker, hashes: Sequence[bytes]) -> int:
    """Delete the cards another tool stored under a BLOB for a hash, in one transaction."""
    removed = await db.in_turn([db.fetch(REMOVE_UNDER_BYTES, (key,)) for key in hashes], snapshot=True)
    return sum(len(rows) for rows in removed)


async def stored_rows(db: SQLiteWorker, hashes: Sequence[str]) -> list[tuple[Any, ...]]:
    return await db.fetch(STORED_ROWS, (key_list(hashes),))


async def repair_rows(db: SQLiteWorker, repairs: Sequence[Repair]) -> int:
    """Set the rows' columns to their repairs', in one transaction (``integrity.repair_of``)."""
    steps = [
        db.fetch(REPAIR_ROW, (int(r.is_text), r.algorithm, r.size, r.g_time, r.content_type, r.hash, r.content))
        for r in repairs
    ]
    return sum(len(rows) for rows in await db.in_turn(steps, snapshot=True))


async def remove_labels(db: SQLiteWorker, sighting_keys: Sequence[object], tags: Sequence[StoredTag]) -> int:
    """Delete the sightings (by key) and tags (by hash and tag, each as text or, not stored
    as UTF-8 text, as its bytes) as stored, in one transaction."""
    named = [(tuple(map(_stored_as, pair)), pair) for pair in tags]
    as_text = [list(pair) for kinds, pair in named if kinds == ("text", "text")]
    removed = await db.in_turn([
        db.fetch(REMOVE_SIGHTINGS, (json.dumps(list(sighting_keys)),)),
        db.fetch(REMOVE_TAGS, (json.dumps(as_text),)),
        *(db.fetch(REMOVE_TAG_NAMED[kinds], pair) for kinds, pair in named if kinds != ("text", "text")),
    ], snapshot=True)
    return sum(len(rows) for rows in removed)
