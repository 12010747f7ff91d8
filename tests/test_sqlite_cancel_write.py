"""A large write cancelled while SQLite is inserting its rows is rolled back, for good, and
quietly: the steps it leaves to fail log nothing. Cancelled once its rows are in, while it is
counted and checked, it is still rolled back."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading

import pytest

from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig
from mcard.infrastructure.persistence.engine import sqlite_sql


async def test_cancelled_executemany_is_rolled_back(tmp_path, caplog):
    caplog.set_level(logging.ERROR, logger="asyncio")
    cards = [MCard(f"row {i}") for i in range(200_000)]
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "cards.db")) as wrapper:
        batcher = wrapper.store._batcher
        task = asyncio.create_task(wrapper.save_many(cards))
        while not batcher._in_flight:
            assert not task.done()
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)
        assert not task.done(), "the write finished before it could be cancelled"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await wrapper.count() == 0
        await asyncio.sleep(0.5)
        assert await wrapper.count() == 0
        assert (await wrapper.create("after")).content == "after"
        assert await wrapper.count() == 1
    gc.collect()  # a task's exception never retrieved is logged when the task is collected
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


async def _cancelled_at(task: asyncio.Task[int], reached: threading.Event) -> None:
    while not reached.is_set():
        assert not task.done()
        await asyncio.sleep(0.005)
    task.cancel()


async def test_write_cancelled_after_its_rows_went_in_is_rolled_back(tmp_path, monkeypatch):
    """Cancelled while its guard is bound (every row inserted, not yet committed), the write
    is rolled back: it was committed and reported as cancelled."""
    cards = [MCard(f"row {i}") for i in range(1000)]
    reached, go_on = threading.Event(), threading.Event()
    keys = sqlite_sql._keys

    def held_keys(run):  # on the writer's thread, as SQLite binds the guard of the inserts
        reached.set()
        go_on.wait(10)
        return keys(run)

    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "cards.db")) as wrapper:
        monkeypatch.setattr(sqlite_sql, "_keys", held_keys)
        task = asyncio.create_task(wrapper.save_many(cards))
        await _cancelled_at(task, reached)
        await asyncio.sleep(0.05)
        go_on.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        monkeypatch.setattr(sqlite_sql, "_keys", keys)
        assert await wrapper.count() == 0
        assert await wrapper.save_many(cards) == 1000
