"""A lone small insert on the event loop's own thread (or a notebook cell's): a ``create``
without the hop to the writer.

A lone insert costs SQLite ~40 us in WAL mode with ``synchronous=NORMAL`` (the commit writes
the log, it does not sync the disk); the hop to the writer's thread and back costs 75-155 us on
this kind of machine. When nothing else is being written (the write queue is idle, so the
writer's thread holds no transaction), one small card is inserted on a connection the loop
owns, in one autocommit statement: all or nothing, and never cancelled halfway, since nothing
runs on the loop meanwhile. Its busy timeout is zero: whenever the insert could wait (another
connection or process writing) or fails in any way, nothing was written and the caller runs
the write on the writer's thread as before, where waits, retries and errors are handled.
A thread that calls in directly (``SQLiteStore.save_now``, a notebook's ``create``) uses the
same connection when it is free; a lock keeps them one at a time, and neither ever waits for it.
Automatic checkpoints are off here too: the store runs its own after each write
(``SQLiteStore._after_write``), so the loop never syncs the disk. Each hold is recorded
(``holds``) so the benchmark can show p50 and p99.
"""

from __future__ import annotations

import collections
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, Final, Optional

from mcard.domain.models.card import MCard

from .card_rows import card_row
from .sqlite_sql import INSERT, SET_SYNCHRONOUS

logger = logging.getLogger(__name__)

LOOP_WRITE_SETTINGS: Final = {
    # A card larger than this is written on the writer's thread: copying it into the log
    # would hold the loop longer than the hop it saves.
    "bytes": 16 * 1024,
    # How many hold times are kept for the benchmark's percentiles.
    "holds_kept": 100_000,
}
STORED: Final = "SELECT EXISTS (SELECT 1 FROM card WHERE hash = ?)"


class LoopWriter:
    """A connection for lone inserts on the event loop's thread, or on a thread that calls in
    directly (opened on a worker thread)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection
        self._turn = threading.Lock()
        self._closed = False
        self.holds: collections.deque[float] = collections.deque(maxlen=int(LOOP_WRITE_SETTINGS["holds_kept"]))

    @classmethod
    def connect(cls, database: str, synchronous: str, **connect_kwargs: Any) -> LoopWriter:
        """Open a connection for the loop, set as the store's writer is (``synchronous``,
        no automatic checkpoint). Run on a worker thread: opening a file may wait."""
        options = {**connect_kwargs, "timeout": 0, "check_same_thread": False, "isolation_level": None}
        connection = sqlite3.connect(database, **options)
        try:
            connection.execute(SET_SYNCHRONOUS[synchronous])
            connection.execute("PRAGMA wal_autocheckpoint = 0")
        except sqlite3.Error:
            connection.close()
            raise
        return cls(connection)

    def insert(self, card: MCard, before: Callable[[], None] = lambda: None) -> Optional[int]:
        """1 when ``card`` was stored, 0 when it was already there; None when it could not be
        written here (nothing was written: the caller writes on the writer's thread), the
        connection being busy with another thread's insert included. ``before`` runs first,
        in the same turn (the store's check of its file; what it raises is raised)."""
        if card.size > LOOP_WRITE_SETTINGS["bytes"] or not self._turn.acquire(blocking=False):
            return None
        started = time.perf_counter()
        try:
            if self._closed:
                return None
            before()
            if self._db.execute(INSERT, card_row(card)).rowcount:
                return 1
            # Unchanged: already there, or skipped by something else (the thread reports that).
            [(present,)] = self._db.execute(STORED, (card.hash,)).fetchall()
            return 0 if present else None
        except (sqlite3.Error, ValueError, TypeError) as exc:
            logger.debug("loop write fell back to the writer's thread: %s", exc)
            return None
        finally:
            self.holds.append(time.perf_counter() - started)
            self._turn.release()

    def close(self) -> None:
        with self._turn:
            self._closed = True
            try:
                self._db.close()
            except sqlite3.Error as exc:
                logger.debug("closing the loop's write connection: %s", exc)
