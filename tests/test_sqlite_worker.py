"""The connection worker: a cancelled operation is skipped, or awaited until it has ended."""

import asyncio
import sqlite3
import threading
import time

import pytest

from mcard import AsyncPersistenceWrapper, SQLiteConfig


async def test_cancelled_running_operation_returns_only_once_it_has_ended(tmp_path):
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        worker, ended = store.store._writer, []

        def slow(db):
            time.sleep(0.3)
            ended.append("slow")

        task = asyncio.ensure_future(worker.run(slow))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert ended == ["slow"]
        assert await worker.run(lambda db: db.execute("SELECT 1").fetchone()) == (1,)


async def test_cancelled_queued_operation_never_runs(tmp_path):
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        worker, ran = store.store._writer, []
        blocker = asyncio.ensure_future(worker.run(lambda db: time.sleep(0.2)))
        queued = asyncio.ensure_future(worker.run(lambda db: ran.append("queued")))
        await asyncio.sleep(0.05)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        await blocker
        await worker.run(lambda db: None)
        assert ran == []


async def test_on_cancel_runs_and_a_long_statement_is_interrupted(tmp_path):
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        worker, told = store.store._writer, []
        endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
        task = asyncio.ensure_future(
            worker.run(lambda db: db.execute(endless).fetchone(), on_cancel=lambda: told.append(1))
        )
        await asyncio.sleep(0.1)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert told == [1] and time.monotonic() - started < 2


async def test_the_aiosqlite_internals_relied_on_are_there(tmp_path):
    """The one-hop worker uses aiosqlite's queue and thread directly (pinned below 0.23):
    an aiosqlite release that renames them fails here, not in a user's store."""
    import aiosqlite

    connection = aiosqlite.connect(str(tmp_path / "c.db"))
    assert isinstance(connection._thread, threading.Thread) and hasattr(connection._tx, "put_nowait")
    await connection
    try:
        assert connection._running and isinstance(connection._conn, sqlite3.Connection)
        assert connection._connection is connection._conn
    finally:
        await connection.close()
