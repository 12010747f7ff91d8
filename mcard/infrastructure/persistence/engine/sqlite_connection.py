"""One SQLite connection on its aiosqlite worker thread, used through aiosqlite's public API.

Each call is one hop to the connection's thread. Besides SQLite itself, what runs there is the
connection's row factory (``sqlite_sql.read_row``): it builds cards (or re-hashes a row for
``verify``) while rows are fetched, so a page of cards costs the event loop only the hop.

A connection nobody closed must not keep the interpreter (or a Jupyter kernel) from exiting.
aiosqlite before 0.22 runs each connection as a ``Thread`` of its own, made a daemon here;
from 0.22 on the worker thread is not a daemon, so connections still open when the main thread
has finished are stopped (``Connection.stop()``) before the interpreter waits for threads.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final, Optional, TypeVar

import aiosqlite

from mcard.domain.models.exceptions import StorageError, UnreadableCardError

from .integrity import FACET_VALUE, NOT_UTF8_FACET, NOT_UTF8_LABEL, NOT_UTF8_TEXT
from .sqlite_files import explain

T = TypeVar("T")
Statement = str
"""A statement the caller built from constants (its own call is checked: tests/test_sql_injection)."""

_TRANSIENT_CODES: Final = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
MOST_ROWS_AT_ONCE: Final = 2**31 - 1
_NOT_UTF8: Final = "Could not decode to UTF-8"
_NOT_UTF8_COLUMN: Final = re.compile(r"Could not decode to UTF-8 column '(.*)' with text", re.DOTALL)
_LABEL_COLUMN: Final = re.compile(r"(?:CAST\(\w+\.)?(?:name|path|source|tag|key)(?: AS TEXT\))?")
"""A column of sightings or tags, as ``sqlite3`` names it in that error (``tag``, ``CAST(t.tag
AS TEXT)``). Any other column (``content``) is taken for a card's, but facets' values."""


def storage_error(exc: BaseException, where: str) -> StorageError:
    """A ``StorageError`` naming the database and the cause; busy/locked are transient.

    When ``where`` is a file path, what the file system says is added (read-only, full...).
    Stored text that is not UTF-8 is never quoted: a card's (damaged) is an
    ``UnreadableCardError``, a sighting's or tag's a ``StorageError`` that says so.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    transient = code is not None and (code & 0xFF) in _TRANSIENT_CODES
    transient = transient or "database is locked" in str(exc)
    if str(exc).startswith(_NOT_UTF8):
        column = _NOT_UTF8_COLUMN.match(str(exc))
        name = "" if column is None else column.group(1)
        if _LABEL_COLUMN.fullmatch(name):
            error: StorageError = StorageError(f"{where}: {NOT_UTF8_LABEL}")
        elif name == FACET_VALUE:  # a content type or a tag, whichever the facets met
            error = StorageError(f"{where}: {NOT_UTF8_FACET}")
        else:
            error = UnreadableCardError(f"{where}: {NOT_UTF8_TEXT}")
    else:
        hint = explain(exc, Path(where)) if os.path.isabs(where) else ""
        error = StorageError(f"{where}: {exc}" + (f"; {hint}" if hint else ""), transient=transient)
    error.__cause__ = exc
    return error


def _retrieved(hop: asyncio.Future[Any]) -> None:
    """Mark a finished step's exception as seen (asyncio logs those never retrieved)."""
    if not hop.cancelled():
        hop.exception()


class _ExitWatch:
    """Stops the aiosqlite connections still open once the main thread has finished."""

    def __init__(self) -> None:
        self._open: weakref.WeakSet[aiosqlite.Connection] = weakref.WeakSet()
        self._stopped: weakref.WeakSet[aiosqlite.Connection] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._watcher: Optional[threading.Thread] = None

    def keep_from_blocking_exit(self, connection: aiosqlite.Connection) -> None:
        if isinstance(connection, threading.Thread):  # aiosqlite < 0.22: the connection is its thread
            connection.daemon = True
            return
        if not threading.main_thread().is_alive():  # opened by an atexit handler: threads are no longer joined
            return
        with self._lock:
            self._open.add(connection)
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._stop_at_exit, name="mcard-sqlite-exit", daemon=True)
                self._watcher.start()

    def closing(self, connection: aiosqlite.Connection) -> bool:
        """Take the connection off the watch before it is closed (closing ends its thread);
        False when it was already stopped at exit: closing it then would wait forever."""
        with self._lock:
            self._open.discard(connection)
            return connection not in self._stopped

    def _stop_at_exit(self) -> None:
        threading.main_thread().join()
        with self._lock:
            left = list(self._open)
            self._stopped.update(left)
        for connection in left:
            connection.stop()


_EXIT_WATCH: Final = _ExitWatch()


class SQLiteWorker:
    """A connection and its thread; each method is one hop there.

    No ``sqlite3`` cursor ever reaches the event loop's thread, where dropping it would reset
    its statement (cached and shared with other cursors) while the connection's thread is
    running it: rows are fetched where the cursor was made (``fetch``), ``executemany`` goes
    through one cursor kept for the worker's life, and a snapshot's cursor is closed there.
    ``in_flight`` counts the calls queued or running, so the store can pick an idle reader.
    """

    def __init__(self, connection: aiosqlite.Connection, rows: aiosqlite.Cursor, where: str) -> None:
        self.connection = connection
        self._rows = rows
        self._where = where
        self.in_flight = 0
        self.cursors_open = 0

    @classmethod
    async def open(
        cls, database: str, where: str, row_factory: Callable[[sqlite3.Cursor, tuple[Any, ...]], Any],
        **connect_kwargs: Any,
    ) -> SQLiteWorker:
        """Connect, in autocommit mode: every transaction is explicit."""
        connection = aiosqlite.connect(database, isolation_level=None, **connect_kwargs)
        _EXIT_WATCH.keep_from_blocking_exit(connection)
        try:
            await connection
            rows = await connection.cursor()
        except BaseException as exc:  # cancelled too: a connection left open warns when collected
            if _EXIT_WATCH.closing(connection):
                await connection.close()
            if isinstance(exc, (sqlite3.Error, OSError)):
                raise storage_error(exc, where) from exc
            raise
        connection.row_factory = row_factory
        return cls(connection, rows, where)

    async def _call(self, hop: Awaitable[T]) -> T:
        self.in_flight += 1
        try:
            return await hop
        except (sqlite3.Error, OSError, ValueError) as exc:
            # Its frames hold the failed cursor, whose unfinished statement would keep a read
            # snapshot open for as long as the error is kept (or until the cycle collector runs).
            exc.__traceback__ = None
            raise storage_error(exc, self._where) from exc
        finally:
            self.in_flight -= 1

    async def fetch(self, statement: Statement, parameters: Iterable[Any] = ()) -> list[Any]:
        """Every row of ``statement``, as the row factory makes them."""
        return list(await self._call(self.connection.execute_fetchall(statement, parameters)))

    async def fetch_snapshot(self, statement: Statement, parameters: Iterable[Any] = ()) -> list[Any]:
        """``fetch`` in a read transaction of its own, for a row factory that reads more after a
        row: it runs once the cursor has stepped past the row, which for the last row ends the
        statement (and, without a transaction, the snapshot the row came from)."""
        [rows] = await self.in_turn([self.fetch(statement, parameters)], snapshot=True)
        return rows

    async def execute(self, statement: Statement, parameters: Iterable[Any] = ()) -> None:
        """Run one statement whose rows, if any, are not wanted."""
        await self._call(self.connection.execute_fetchall(statement, parameters))

    async def executemany(self, statement: Statement, rows: Iterable[Iterable[Any]]) -> int:
        """Run one statement per row (``rows`` is consumed on the connection's thread); how
        many rows it changed (not counting triggers). Right only while no other
        ``executemany`` of this worker runs before it is read: the caller serializes them."""
        return (await self._call(self._rows.executemany(statement, rows))).rowcount

    async def commit(self) -> None:
        """Commit the transaction open on the connection, if any."""
        await self._call(self.connection.commit())

    async def rollback(self) -> None:
        await self._call(self.connection.rollback())

    async def pipeline(self, steps: Sequence[Awaitable[Any]]) -> list[Any]:
        """Run ``steps`` (calls of this worker, not yet awaited) back to back: all are queued
        on the connection's thread at once, so none of them waits for the event loop, however
        busy it is, and a transaction among them never holds its lock on the loop's account.
        Returns each step's result, or the exception it raised."""
        hops = [asyncio.ensure_future(step) for step in steps]
        try:
            await asyncio.wait(hops)
        except asyncio.CancelledError:  # the steps run on: their failures are the caller's to see
            for hop in hops:
                hop.add_done_callback(_retrieved)
            raise
        return [hop.exception() or hop.result() for hop in hops]

    async def in_turn(self, steps: Sequence[Awaitable[Any]], snapshot: bool = False) -> list[Any]:
        """The results of ``steps`` (calls of this worker), run back to back in one hop; with
        ``snapshot``, in one read transaction, so they all see one state of the database.
        The first failure is raised once all have run (a transaction left open is rolled back)."""
        if snapshot:
            steps = [self.execute("BEGIN"), *steps, self.execute("COMMIT")]
        outcomes = await self.pipeline(steps)
        failure = next((outcome for outcome in outcomes if isinstance(outcome, BaseException)), None)
        if failure is not None:
            if self.connection.in_transaction:
                await self.rollback()
            raise failure
        return outcomes[1:-1] if snapshot else outcomes

    async def cursor(self, statement: Statement, parameters: Iterable[Any] = ()) -> aiosqlite.Cursor:
        """A cursor over ``statement``, to ``fetch_more`` from and ``close_cursor``. It counts in
        ``cursors_open`` from the call on: cancelled, the call still makes it on the thread, where
        its statement holds a read snapshot even past a ROLLBACK until it is closed."""
        self.cursors_open += 1
        try:
            return await self._call(self.connection.execute(statement, parameters))
        except asyncio.CancelledError:
            raise
        except BaseException:
            self.cursors_open -= 1
            raise

    async def fetch_more(self, cursor: aiosqlite.Cursor, size: int) -> list[Any]:
        """Up to ``size`` more rows (``sqlite3`` takes at most a C int at once). The list
        aiosqlite's thread returned is emptied: that thread holds it until its next call ends,
        which would keep a stream's previous page (of cards of 10 MB...) while it reads the next."""
        fetched = await self._call(cursor.fetchmany(min(size, MOST_ROWS_AT_ONCE)))
        rows = list(fetched)
        if isinstance(fetched, list):
            fetched.clear()
        return rows

    async def close_cursor(self, cursor: aiosqlite.Cursor) -> None:
        await self._call(cursor.close())
        self.cursors_open -= 1

    async def create_function(self, name: str, arity: int, function: Callable[..., Any]) -> None:
        await self._call(self.connection.create_function(name, arity, function, deterministic=True))

    async def interrupt(self) -> None:
        """Stop the statement running now (a no-op between statements)."""
        await self.connection.interrupt()

    async def close(self) -> None:
        """Close the connection once the calls queued before have run."""
        if not _EXIT_WATCH.closing(self.connection):
            return
        try:
            await self._rows.close()
        except (sqlite3.Error, ValueError):  # the connection is already gone: nothing to close
            pass
        try:
            await self.connection.close()
        except (sqlite3.Error, OSError, ValueError) as exc:
            raise storage_error(exc, self._where) from exc
