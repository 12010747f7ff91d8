"""Small reads on the event loop's own thread: a ``get``, and a page of a search whose text is
common, without the hop to a worker thread.

A point read of a small card costs SQLite ~10 us; the hop to aiosqlite's thread and back costs
75-155 us on this kind of machine (an idle second CPU wakes slowly). A connection the loop owns
(opened on a worker thread, then used on the loop's thread only) serves reads of up to
``LOOP_READ_SETTINGS["cards"]`` cards of at most ``["bytes"]`` each, with a busy timeout of
zero: whenever the read could wait (the file locked for a WAL recovery, a card too large, any
error at all), it returns what it could not serve and the caller reads that on a worker thread
as before, where errors are reported. The loop is held for the SQLite call and the building of
the cards; each hold is recorded (``holds``) so the benchmark can show p50 and p99.

A page of a substring search newest first (``fetch``) is looked for there among the newest
``page_walks.PROBE_ROWS`` cards (within the time bounds): a common text fills its page
within a few dozen, where a reader's thread would first count the index's hits (a hop) and
then walk (a second hop); a page of a store with no more cards than that is whole there too.
Another page is read on a thread, told how many matches those cards held, which for a text in
a few percent of the cards spares it the count (``sqlite_search.probed_walk``). A walk still
running after ``LOOP_READ_SETTINGS["walk_seconds"]`` is stopped by SQLite's progress handler.
"""

from __future__ import annotations

import collections
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from typing import Any, Final, Optional

from mcard.domain.models.card import MCard

from . import page_walks
from .sqlite_connection import Statement
from .sqlite_schema import composed_name, matches

logger = logging.getLogger(__name__)

LOOP_READ_SETTINGS: Final = {
    # At most this many cards, each at most this large, are read on the loop; more goes to a
    # thread: reading them would hold the loop longer than the hop it saves.
    "cards": 16,
    "bytes": 64 * 1024,
    # How many hold times are kept for the benchmark's percentiles.
    "holds_kept": 100_000,
    # A search page walked on the loop stops after this long (seconds), a safety net for
    # cards slow to check: a page on a thread costs two hops (100-150 us each here at the
    # median) and counting the index's hits (0.5-1.2 ms for a common text at 100,000 cards);
    # the 64 newest cards walk in 100-220 us (a common text's page of 20 in 60-200 us).
    "walk_seconds": 300e-6,
    # The most cards such a page may want (offset + limit): those the walk reads, or it would
    # hold the loop for a page it cannot fill.
    "walk_cards": page_walks.PROBE_ROWS,
    # The largest content a walk checks on the loop (bytes): each check is one call SQLite
    # cannot stop (a casefold of 4 KiB of text outside ASCII ~10 us; of 64 KiB, 150-200 us).
    "walk_bytes": 4096,
    # The walk's time is looked at every this many SQLite virtual machine steps (~13 a card).
    "walk_check_steps": 64,
}
_COLUMNS: Final = (
    "hash, CASE WHEN size <= ? THEN CASE WHEN is_text THEN CAST(content AS TEXT) ELSE CAST(content AS BLOB) END END,"
    " g_time, hash_algorithm, size, content_type"
)
GET_ONE: Final = f"SELECT {_COLUMNS} FROM card WHERE hash = ?"
GET_SOME: Final = f"SELECT {_COLUMNS} FROM card WHERE hash IN (SELECT value FROM json_each(?))"


class LoopReader:
    """A read-only connection for short reads on the event loop's thread, and (``wait=False``)
    on a thread that calls in directly, such as a notebook cell's (``SQLiteStore.get_now``);
    a lock keeps them one at a time."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._turn = threading.Lock()
        self._closed = False
        self.holds: collections.deque[float] = collections.deque(maxlen=int(LOOP_READ_SETTINGS["holds_kept"]))
        self.walk_holds: collections.deque[float] = collections.deque(maxlen=int(LOOP_READ_SETTINGS["holds_kept"]))

    @classmethod
    def connect(cls, database: str, cache_bytes: Optional[int], **connect_kwargs: Any) -> LoopReader:
        """Open (on a worker thread: opening a file may wait) a connection for the loop,
        keeping up to ``cache_bytes`` of pages (None: SQLite's default)."""
        options = {**connect_kwargs, "timeout": 0, "check_same_thread": False, "isolation_level": None}
        connection = sqlite3.connect(database, **options)
        try:
            connection.execute("PRAGMA query_only = ON")
            connection.create_function("mcard_matches", 2, matches, deterministic=True)
            connection.create_function("mcard_composed", 1, composed_name, deterministic=True)
            if cache_bytes is not None:
                connection.execute(f"PRAGMA cache_size = {int(-(cache_bytes // 1024))}")
        except sqlite3.Error:
            connection.close()
            raise
        return cls(connection)

    def get_many(self, hashes: Sequence[str], wait: bool = True) -> Optional[tuple[dict[str, MCard], list[str]]]:
        """The stored cards among ``hashes``, and the hashes found but too large to read here;
        None when the read could not be done here at all (the caller reads on a thread).
        Without ``wait``, also None when another read is using the connection."""
        if not self._turn.acquire(blocking=wait):
            return None
        started = time.perf_counter()
        try:
            if self._closed:
                return None
            if len(hashes) == 1:
                rows = self._db.execute(GET_ONE, (LOOP_READ_SETTINGS["bytes"], hashes[0])).fetchall()
            else:
                rows = self._db.execute(GET_SOME, (LOOP_READ_SETTINGS["bytes"], json.dumps(list(hashes)))).fetchall()
            found, large = {}, []
            for hash_str, content, g_time, algorithm, size, content_type in rows:
                if content is None:
                    large.append(hash_str)
                else:
                    found[hash_str] = MCard.restore(content, hash_str, g_time, algorithm, size, content_type)
        except (sqlite3.Error, ValueError, TypeError) as exc:  # a thread's read reports it properly
            logger.debug("loop read fell back to a thread: %s", exc)
            return None
        finally:
            self.holds.append(time.perf_counter() - started)
            self._turn.release()
        return found, large

    def fetch(self, statement: Statement, params: Sequence[object]) -> Optional[tuple[list[MCard], tuple[int, int]]]:
        """The cards of a walk (``sqlite_search.loop_walk``) and what its row without a hash
        tells (cards within its time bounds, max(id)), when it ends within
        ``LOOP_READ_SETTINGS["walk_seconds"]`` and meets no card it may not check here; None
        otherwise (stopped, busy, any error: the caller reads the page on a thread). The loop
        may be held past that time by one card's check, or while another thread holds the GIL."""
        started = time.perf_counter()
        deadline = started + LOOP_READ_SETTINGS["walk_seconds"]
        with self._turn:
            try:
                if self._closed:
                    return None
                self._db.set_progress_handler(
                    lambda: time.perf_counter() > deadline, int(LOOP_READ_SETTINGS["walk_check_steps"]))
                try:
                    rows = self._db.execute(statement, params).fetchall()
                finally:
                    self._db.set_progress_handler(None, 0)
                cards, extent = [], None
                for hash_str, content, g_time, algorithm, size, content_type in rows:
                    if hash_str is None:
                        extent = (int(content), int(g_time))
                    elif content is None:
                        return None
                    else:
                        cards.append(MCard.restore(content, hash_str, g_time, algorithm, size, content_type))
                return None if extent is None else (cards, extent)
            except (sqlite3.Error, ValueError, TypeError) as exc:
                logger.debug("loop walk fell back to a thread: %s", exc)
                return None
            finally:
                self.walk_holds.append(time.perf_counter() - started)

    def close(self) -> None:
        with self._turn:
            self._closed = True
            try:
                self._db.close()
            except sqlite3.Error as exc:
                logger.debug("closing the loop's connection: %s", exc)
