"""One SQLite connection on its aiosqlite worker thread, running whole operations in one hop.

aiosqlite hops to its thread once per call (``execute``, ``fetchall``, ``commit``...). mcard
runs each operation as a single function on that thread instead (``Connection._execute``), so
an operation costs one hop whatever its number of statements or rows, and a transaction
never spans several hops. The worker thread is made a daemon so that a store nobody closed
cannot keep the interpreter (or a Jupyter kernel) from exiting.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, TypeVar

import aiosqlite

from mcard.domain.models.exceptions import StorageError

from .sqlite_files import explain

T = TypeVar("T")

_TRANSIENT_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def storage_error(exc: BaseException, where: str) -> StorageError:
    """A ``StorageError`` naming the database and the cause; busy/locked are transient.

    When ``where`` is a file path, what the file system says is added (read-only, full...).
    """
    code = getattr(exc, "sqlite_errorcode", None)
    transient = code is not None and (code & 0xFF) in _TRANSIENT_CODES
    transient = transient or "database is locked" in str(exc)
    hint = explain(exc, Path(where)) if os.path.isabs(where) else ""
    error = StorageError(f"{where}: {exc}" + (f"; {hint}" if hint else ""), transient=transient)
    error.__cause__ = exc
    return error


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class SQLiteWorker:
    """A connection and its thread. ``run(fn, ...)`` calls ``fn(sqlite3_connection, ...)`` there."""

    def __init__(self, connection: aiosqlite.Connection, where: str) -> None:
        self._connection = connection
        self._where = where
        self._lock = threading.Lock()
        self._running: Optional[object] = None
        self.in_flight = 0

    @classmethod
    async def open(cls, database: str, where: str, **connect_kwargs: Any) -> SQLiteWorker:
        connection = aiosqlite.connect(database, isolation_level=None, **connect_kwargs)
        connection._thread.daemon = True
        try:
            await connection
        except (sqlite3.Error, OSError) as exc:
            raise storage_error(exc, where) from exc
        return cls(connection, where)

    @property
    def raw(self) -> sqlite3.Connection:
        return self._connection._conn

    async def run(
        self, fn: Callable[..., T], *args: Any, on_cancel: Optional[Callable[[], None]] = None
    ) -> T:
        """Run ``fn`` in one hop. Cancelled, it is skipped if not started, else ``on_cancel``
        is called and the statement interrupted; the cancellation propagates only after the
        function has returned.

        The caller awaits the hop's future directly (no task, no shield: one event-loop turn
        fewer per operation); if cancelled meanwhile, the thread reports the end of ``fn``
        through a second future created only then.
        """
        loop = asyncio.get_running_loop()
        token = object()
        state: dict[str, Any] = {"cancelled": False, "finished": False, "settled": None}

        def finish() -> None:
            state["finished"] = True
            if state["settled"] is not None:
                loop.call_soon_threadsafe(_settle, state["settled"])

        def call() -> T:
            with self._lock:
                if state["cancelled"]:
                    finish()
                    raise asyncio.CancelledError
                self._running = token
            try:
                return fn(self._connection._conn, *args)
            finally:
                with self._lock:
                    self._running = None
                    finish()

        connection = self._connection
        if not connection._running or connection._connection is None:
            raise storage_error(ValueError("Connection closed"), self._where)
        # What aiosqlite's ``_execute`` does, without wrapping the wait in a task of its own.
        hop: asyncio.Future[T] = loop.create_future()
        connection._tx.put_nowait((hop, call))
        self.in_flight += 1
        try:
            try:
                return await hop
            except asyncio.CancelledError:
                if hop.done() and not hop.cancelled():
                    hop.exception()
                    raise
                with self._lock:
                    if not state["finished"]:
                        state["settled"] = loop.create_future()
                        state["cancelled"] = True
                        if on_cancel is not None:
                            on_cancel()
                        if self._running is token:
                            connection._conn.interrupt()
                if state["settled"] is not None:
                    await asyncio.wait([state["settled"]])
                raise
        except (sqlite3.Error, OSError, ValueError) as exc:
            raise storage_error(exc, self._where) from exc
        finally:
            self.in_flight -= 1

    async def close(self) -> None:
        try:
            await self._connection.close()
        except (sqlite3.Error, OSError, ValueError) as exc:
            raise storage_error(exc, self._where) from exc
