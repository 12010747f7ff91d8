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

from mcard.exporting import export
from mcard.importing import HELD_BY_DAMAGED, import_paths, import_records
from mcard import AsyncPersistenceWrapper, HeldByDamagedError, MCard, Sighting, SQLiteConfig
from tests.postgres_support import fresh_schema, postgres_factory

TRUE_TEXT = "original river, the only copy"
CHANGES = {
    "other content": ("forged river!", None),
    "same size": ("forged river, the only copy!", None),
    "other size": (None, 3),
}
"""How another tool changed the row: (its new content, its new size), None where kept."""

Tamper = Callable[..., Awaitable[None]]
"""``tamper(statement, *params)``: a statement of another tool on the store's tables (``{card}``
names the card table, ``?`` the parameters)."""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_and_tamper(request: Any, tmp_path: Path) -> Iterator[tuple[Any, Tamper]]:
    """(config, tamper) of an empty store."""
    if request.param == "sqlite":
        path = tmp_path / "cards.db"

        async def tamper_sqlite(statement: str, *params: Any) -> None:
            with sqlite3.connect(path) as db:
                db.execute(statement.format(card="card"), params)
            db.close()

        yield SQLiteConfig(path), tamper_sqlite
        return
    schemas = fresh_schema()
    url, schema = next(schemas)

    async def tamper_postgres(statement: str, *params: Any) -> None:
        import asyncpg

        parts = statement.format(card=f'"{schema}".card').split("?")
        numbered = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], 1))
        connection = await asyncpg.connect(url)
        try:
            await connection.execute(numbered, *params)
        finally:
            await connection.close()

    yield postgres_factory(url, schema)(), tamper_postgres
    next(schemas, None)


async def _changed(store: AsyncPersistenceWrapper, tamper: Tamper, how: str) -> MCard:
    true = await store.create(TRUE_TEXT)
    content, size = CHANGES[how]
    data = TRUE_TEXT.encode() if content is None else content.encode()
    await tamper("UPDATE {card} SET content = ?, size = ? WHERE hash = ?", data, len(data) if size is None else size, true.hash)
    return true


@pytest.mark.parametrize("how", CHANGES)
async def test_no_write_counts_a_changed_row_as_the_content_stored(store_and_tamper, how):
    config, tamper = store_and_tamper
    async with AsyncPersistenceWrapper(config) as store:
        true = await _changed(store, tamper, how)
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
        whole = how == "other size"  # only its size was changed: mended, not removed
        assert (await store.repair_damaged(report.damaged), await store.remove_damaged(report.damaged)) == (whole, not whole)
        assert await store.save_many([other, MCard(TRUE_TEXT)], sightings=[seen]) == 2 - whole
        assert (await store.get(true.hash)).content == TRUE_TEXT
        assert [s.name for s in await store.sightings(true.hash)] == ["river.txt"]


async def test_writes_at_once_each_hear_their_own_outcome(store_and_tamper):
    """Writes that share a transaction: the one the changed row refuses fails alone."""
    import asyncio

    config, tamper = store_and_tamper
    async with AsyncPersistenceWrapper(config) as store:
        true = await _changed(store, tamper, "other content")
        outcomes = await asyncio.gather(
            *(store.save(MCard(f"neighbour {i}")) for i in range(5)), store.save(MCard(TRUE_TEXT)),
            return_exceptions=True,
        )
        assert outcomes[:5] == [True] * 5
        assert isinstance(outcomes[5], HeldByDamagedError) and outcomes[5].hash == true.hash


async def test_an_import_of_the_true_file_says_it_was_not_stored(store_and_tamper, tmp_path):
    """The import said the file was already stored, and recorded its sighting on the forgery.
    Inside folders nothing is fatal: the file is counted skipped, the others are stored."""
    config, tamper = store_and_tamper
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "river.txt").write_text(TRUE_TEXT)
    (folder / "river copy.txt").write_text(TRUE_TEXT)
    (folder / "other.txt").write_text("another file")
    async with AsyncPersistenceWrapper(config) as store:
        true = await _changed(store, tamper, "other content")
        summary = await import_paths(store, [folder], progress=False)
        assert (summary.files, summary.new, summary.already_stored) == (1, 1, 0)
        assert summary.skipped == {HELD_BY_DAMAGED: 2} and "2 held by a damaged card" in str(summary)
        assert await store.sightings(true.hash) == [] and await store.count() == 2


async def test_restoring_an_export_skips_the_record_held_and_its_tags_and_goes_on(store_and_tamper, tmp_path):
    """A record whose hash the store holds damaged, exported with tags: the import stopped at its
    tags (a tag on the forgery is refused); it is counted skipped, untagged, the rest restored."""
    config, tamper = store_and_tamper
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "source.db")) as source:
        true, other = await source.create(TRUE_TEXT), await source.create("another card")
        await source.tag_many([(true.hash, "river"), (other.hash, "river")])
        await export(source, tmp_path / "cards.jsonl", progress=False)
    async with AsyncPersistenceWrapper(config) as store:
        assert (await _changed(store, tamper, "other content")).hash == true.hash
        summary = await import_records(store, tmp_path / "cards.jsonl", tags="restored", progress=False)
        assert (summary.new, summary.tags_added, summary.skipped) == (1, 2, {HELD_BY_DAMAGED: 1})
        assert await store.tags_of([true.hash, other.hash]) == {other.hash: ["restored", "river"]}


async def test_content_another_tool_stored_as_it_is_counts_as_stored(store_and_tamper):
    """Only the content matters: a row with its true bytes is the card, whatever else differs."""
    config, tamper = store_and_tamper
    async with AsyncPersistenceWrapper(config) as store:
        true = await store.create(TRUE_TEXT)
        await tamper("UPDATE {card} SET content = ? WHERE hash = ?", TRUE_TEXT.encode(), true.hash)
        assert await store.save(MCard(TRUE_TEXT)) is False
        assert await store.save_many([MCard(TRUE_TEXT), MCard("new")]) == 1


WHOLE_BUT = {
    "a content type with capitals and a parameter": ("content_type = ?", ("IMAGE/PNG; charset=binary",), "image/png"),
    "a content type that is no MIME type": ("content_type = ?", ("x-custom",), None),
    "another size": ("size = ?", (3,), None),
    "a time no card can have": ("g_time = ?", (2**62,), None),
    "its algorithm in capitals": ("hash_algorithm = ?", ("SHA256",), None),
}
"""Rows another tool changed whose content is whole: (what it set, to what, the content type
the mended card has where the change was to it)."""


@pytest.mark.parametrize("change", WHOLE_BUT)
async def test_a_row_whose_content_is_whole_is_mended_never_removed(store_and_tamper, change):
    """``verify --remove`` deleted such a card, with its tags and sightings, though its
    content still hashed to its hash (``show`` and ``export`` served it)."""
    config, tamper = store_and_tamper
    columns, values, content_type = WHOLE_BUT[change]
    async with AsyncPersistenceWrapper(config) as store:
        card = await store.create(TRUE_TEXT, name="river.txt")
        await store.tag(card.hash, "important")
        await tamper(f"UPDATE {{card}} SET {columns} WHERE hash = ?", *values, card.hash)
        report = await store.verify(progress=False)
        assert [damaged.hash for damaged in report.damaged] == [card.hash]
        assert await store.remove_damaged(report.damaged) == 0
        assert await store.repair_damaged(report.damaged) == 1
        assert (await store.verify(progress=False)).ok
        mended = await store.get(card.hash)
        assert (mended.content, mended.size, mended.hash_algorithm) == (TRUE_TEXT, card.size, "sha256")
        if change.startswith("a content type"):
            assert mended._content_type == content_type
        if change == "a time no card can have":
            assert mended.g_time > card.g_time
        else:
            assert mended.g_time == card.g_time
        assert await store.tags(card.hash) == ["important"]
        assert [s.name for s in await store.sightings(card.hash)] == ["river.txt"]
        assert await store.repair_damaged(report.damaged) == 0, "nothing left to mend"


async def test_a_card_stored_under_its_hash_in_capitals_is_stored_under_its_hash(store_and_tamper):
    config, tamper = store_and_tamper
    true = MCard(TRUE_TEXT)
    async with AsyncPersistenceWrapper(config) as store:
        await tamper(
            "INSERT INTO {card} (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
            " VALUES (?, ?, ?, 1700000000000000, 'sha256', ?, 'text/plain')",
            true.hash.upper() + " ", TRUE_TEXT.encode(), True, true.size,
        )
        report = await store.verify(progress=False)
        assert await store.remove_damaged(report.damaged) == 0, "its content is stored nowhere else"
        assert await store.repair_damaged(report.damaged) == 1
        assert await store.remove_damaged(report.damaged) == 1
        assert (await store.verify(progress=False)).ok
        assert [(card.hash, card.content) for card in await store.list()] == [(true.hash, TRUE_TEXT)]


async def test_a_row_mended_since_the_report_is_not_removed(store_and_tamper):
    """``remove_damaged`` of an earlier report deleted a card another tool had set right since."""
    config, tamper = store_and_tamper
    async with AsyncPersistenceWrapper(config) as store:
        card = await store.create(TRUE_TEXT)
        await tamper("UPDATE {card} SET content = ?, size = 6 WHERE hash = ?", b"forged", card.hash)
        report = await store.verify(progress=False)
        await tamper("UPDATE {card} SET content = ?, size = ? WHERE hash = ?", TRUE_TEXT.encode(), card.size, card.hash)
        assert await store.remove_damaged(report.damaged) == 0
        assert (await store.get(card.hash)).content == TRUE_TEXT


async def test_kinds_another_tool_wrote_are_mended_to_what_reads_show(tmp_path):
    """SQLite only: its kind column takes any value. A text that is not UTF-8 becomes bytes."""
    path = tmp_path / "cards.db"
    contents = {"2": b"kind two", "'yes'": b"kind yes", "1": b"\xff not utf-8"}
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        cards = {kind: await store.create(data) for kind, data in contents.items()}
    with sqlite3.connect(path) as db:
        for kind, card in cards.items():
            db.execute(f"UPDATE card SET is_text = {kind} WHERE hash = ?", (card.hash,))
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        report = await store.verify(progress=False)
        assert len(report.damaged) == 3
        assert await store.repair_damaged(report.damaged) == 3
        assert (await store.verify(progress=False)).ok
        got = await store.get_many([card.hash for card in cards.values()])
        assert {kind: got[card.hash].content for kind, card in cards.items()} == {
            "2": "kind two", "'yes'": b"kind yes", "1": b"\xff not utf-8"}


async def test_a_prefix_names_its_card_beside_a_row_under_its_hash_and_a_newline(store_and_tamper):
    """``mcard show 7876c5db`` (the prefix ``ls`` shows) said the prefix matched two cards."""
    config, tamper = store_and_tamper
    async with AsyncPersistenceWrapper(config) as store:
        card = await store.create(TRUE_TEXT)
        await tamper(
            "INSERT INTO {card} (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
            " VALUES (?, ?, ?, 1700000000000000, 'sha256', ?, 'text/plain')",
            card.hash + "\n", TRUE_TEXT.encode(), True, card.size,
        )
        assert await store.resolve(card.hash[:12]) == card.hash
