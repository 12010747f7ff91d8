"""A lone small insert right on the calling thread (a notebook cell's): a ``create`` without
the two hops through the store's event loop and the writer's thread.

A notebook's plain call otherwise goes to the store's private loop, which hands the write to
the writer's thread: two cross-thread trips (~150-250 us on this kind of machine, where an idle
CPU wakes slowly) around a ~70 us insert. When nothing else of the store is being written (its
write queue is idle, so the writer's thread holds no transaction), one small card is inserted on
a connection of its own, in one autocommit statement: all or nothing, with a busy timeout of
zero. Whenever the insert could wait (another connection or process writing) or fails in any
way, nothing was written and the caller goes through the loop as before, where waits, retries
and errors are handled. A lock keeps callers one at a time; none ever waits for it. No event
loop is held: the caller's thread waits for its own write, as it would for the loop's answer.
Automatic checkpoints are off here too: the store runs its own (``SQLiteStore._after_write``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Final, Optional

from mcard.domain.models.card import MCard

from .card_rows import card_row
from .integrity import holds_its_hash
from .sqlite_sql import INSERT, SET_SYNCHRONOUS

logger = logging.getLogger(__name__)

DIRECT_WRITE_SETTINGS: Final = {
    # A card larger than this goes through the loop: a lone large write gains little from
    # skipping two hops.
    "bytes": 16 * 1024,
}
STORED: Final = "SELECT hash_algorithm, size, CAST(content AS BLOB) FROM card WHERE hash = ?"


class DirectWriter:
    """A connection for lone inserts on a thread that calls in directly (opened on a worker
    thread, so that opening the file never waits on the caller's)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._turn = threading.Lock()
        self._closed = False
        self.written = 0
        """Inserts done here (a test can tell which way a write went)."""

    @classmethod
    def connect(cls, database: str, synchronous: str, **connect_kwargs: Any) -> DirectWriter:
        """Open a connection set as the store's writer is (``synchronous``, no automatic
        checkpoint)."""
        options = {**connect_kwargs, "timeout": 0, "check_same_thread": False, "isolation_level": None}
        connection = sqlite3.connect(database, **options)
        try:
            connection.execute(SET_SYNCHRONOUS[synchronous])
            connection.execute("PRAGMA wal_autocheckpoint = 0")
        except sqlite3.Error:
            connection.close()
            raise
        return cls(connection)

    def insert(self, card: MCard, before: Callable[[], None]) -> Optional[int]:
        """1 when ``card`` was stored, 0 when it was already there; None when it could not be
        written here (nothing was written: the caller goes through the loop), another thread's
        insert running included. ``before`` runs first, in the same turn (the store's check of
        its file; what it raises is raised)."""
        if card.size > DIRECT_WRITE_SETTINGS["bytes"] or not self._turn.acquire(blocking=False):
            return None
        try:
            if self._closed:
                return None
            before()
            if self._db.execute(INSERT, card_row(card)).rowcount:
                self.written += 1
                return 1
            # Unchanged: already there, or skipped or held by a changed row (the loop reports those).
            stored = self._db.execute(STORED, (card.hash,)).fetchall()
            return 0 if stored and holds_its_hash(card.hash, *stored[0]) else None
        except (sqlite3.Error, ValueError, TypeError) as exc:
            logger.debug("direct write went through the loop instead: %s", exc)
            return None
        finally:
            self._turn.release()

    def close(self) -> None:
        with self._turn:
            self._closed = True
            try:
                self._db.close()
            except sqlite3.Error as exc:
                logger.debug("closing the direct write connection: %s", exc)
