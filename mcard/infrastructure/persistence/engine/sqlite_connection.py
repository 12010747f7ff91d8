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

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` in one hop. Cancelled, it is skipped if not started, else interrupted;
        the cancellation propagates only after the function has returned."""
        token = object()
        state = {"cancelled": False}

        def call() -> T:
            with self._lock:
                if state["cancelled"]:
                    raise asyncio.CancelledError
                self._running = token
            try:
                return fn(self._connection._conn, *args)
            finally:
                with self._lock:
                    self._running = None

        self.in_flight += 1
        try:
            hop = asyncio.ensure_future(self._connection._execute(call))
            try:
                return await asyncio.shield(hop)
            except asyncio.CancelledError:
                if hop.done() and not hop.cancelled() and hop.exception() is None:
                    raise
                with self._lock:
                    state["cancelled"] = True
                    if self._running is token:
                        self._connection._conn.interrupt()
                await asyncio.wait([hop])
                if not hop.cancelled():
                    hop.exception()
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
