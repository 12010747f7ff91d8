"""A large write cancelled while SQLite is inserting its rows is rolled back, for good, and
quietly: the steps it leaves to fail log nothing."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig


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
