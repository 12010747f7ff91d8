"""Writes of content whose hash a row another tool changed holds, on every engine.

Such a row keeps the hash but not the content it names (other bytes, another size). A write of
the true content must not count it as already stored: the caller would be told the content is
safe while the store holds something else, and its sightings would name the forgery.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mcard.importing import import_paths
from mcard import AsyncPersistenceWrapper, HeldByDamagedError, MCard, Sighting, SQLiteConfig, StorageError
from tests.postgres_support import fresh_schema, postgres_factory

TRUE_TEXT = "original river, the only copy"
CHANGES = {
    "other content": ("forged river!", None),
    "same size": ("forged river, the only copy!", None),
    "other size": (None, 3),
}
"""How another tool changed the row: (its new content, its new size), None where kept."""

Changer = Callable[[str, bytes, int], Awaitable[None]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_and_changer(request: Any, tmp_path: Path) -> Iterator[tuple[Any, Changer]]:
    """(config, change): ``change(hash, content, size)`` rewrites a stored row as another tool."""
    if request.param == "sqlite":
        path = tmp_path / "cards.db"

        async def change_sqlite(key: str, content: bytes, size: int) -> None:
            with sqlite3.connect(path) as db:
                db.execute("UPDATE card SET content = ?, size = ? WHERE hash = ?", (content, size, key))
            db.close()

        yield SQLiteConfig(path), change_sqlite
        return
    schemas = fresh_schema()
    url, schema = next(schemas)

    async def change_postgres(key: str, content: bytes, size: int) -> None:
        import asyncpg

        connection = await asyncpg.connect(url)
        try:
            await connection.execute(f'UPDATE "{schema}".card SET content = $1, size = $2 WHERE hash = $3', content, size, key)
        finally:
            await connection.close()

    yield postgres_factory(url, schema)(), change_postgres
    next(schemas, None)


async def _changed(store: AsyncPersistenceWrapper, change: Changer, how: str) -> MCard:
    true = await store.create(TRUE_TEXT)
    content, size = CHANGES[how]
    data = TRUE_TEXT.encode() if content is None else content.encode()
    await change(true.hash, data, len(data) if size is None else size)
    return true


@pytest.mark.parametrize("how", CHANGES)
async def test_no_write_counts_a_changed_row_as_the_content_stored(store_and_changer, how):
    config, change = store_and_changer
    async with AsyncPersistenceWrapper(config) as store:
        true = await _changed(store, change, how)
        other = MCard("a card of the same batch")
        seen = Sighting.of(true.hash, name="river.txt")
        attempts: list[Callable[[], Awaitable[Any]]] = [
            lambda: store.save(MCard(TRUE_TEXT)),
            lambda: store.save(MCard(TRUE_TEXT), sightings=[seen]),
            lambda: store.save_many([other, MCard(TRUE_TEXT)]),
            lambda: store.save_many([MCard(TRUE_TEXT)], sightings=[seen]),
            lambda: store.save_many([MCard(f"card {i}") for i in range(1500)] + [MCard(TRUE_TEXT)]),
            lambda: store.create(TRUE_TEXT, name="river.txt"),
        ]
        for attempt in attempts:
            with pytest.raises(HeldByDamagedError, match=f"{true.hash} is stored with other content") as raised:
                await attempt()
            assert raised.value.hash == true.hash
        assert await store.count() == 1, "nothing of a refused batch is stored"
        assert await store.sightings(true.hash) == [] and await store.names_of([true.hash]) == {}
        report = await store.verify(progress=False)
        assert [card.hash for card in report.damaged] == [true.hash]
        await store.remove_damaged(report.damaged)
        assert await store.save_many([other, MCard(TRUE_TEXT)], sightings=[seen]) == 2
        assert (await store.get(true.hash)).content == TRUE_TEXT
        assert [s.name for s in await store.sightings(true.hash)] == ["river.txt"]


async def test_writes_at_once_each_hear_their_own_outcome(store_and_changer):
    """Writes that share a transaction: the one the changed row refuses fails alone."""
    import asyncio

    config, change = store_and_changer
    async with AsyncPersistenceWrapper(config) as store:
        true = await _changed(store, change, "other content")
        outcomes = await asyncio.gather(
            *(store.save(MCard(f"neighbour {i}")) for i in range(5)), store.save(MCard(TRUE_TEXT)),
            return_exceptions=True,
        )
        assert outcomes[:5] == [True] * 5
        assert isinstance(outcomes[5], HeldByDamagedError) and outcomes[5].hash == true.hash


async def test_an_import_of_the_true_file_says_it_was_not_stored(store_and_changer, tmp_path):
    config, change = store_and_changer
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "river.txt").write_text(TRUE_TEXT)
    (folder / "other.txt").write_text("another file")
    async with AsyncPersistenceWrapper(config) as store:
        true = await _changed(store, change, "other content")
        with pytest.raises(StorageError, match=f"{true.hash} is stored with other content"):
            await import_paths(store, [folder], progress=False)
        assert await store.sightings(true.hash) == []


async def test_content_another_tool_stored_as_it_is_counts_as_stored(store_and_changer):
    """Only the content matters: a row with its true bytes is the card, whatever else differs."""
    config, change = store_and_changer
    async with AsyncPersistenceWrapper(config) as store:
        true = await store.create(TRUE_TEXT)
        await change(true.hash, TRUE_TEXT.encode(), len(TRUE_TEXT.encode()))
        assert await store.save(MCard(TRUE_TEXT)) is False
        assert await store.save_many([MCard(TRUE_TEXT), MCard("new")]) == 1
