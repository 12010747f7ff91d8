"""Import and export from Python, and content types kept in the database."""

import sqlite3

from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig
from mcard.exporting import export
from mcard.importing import import_paths, import_records
from tests.test_content_types import PNG
from mcard.infrastructure.persistence.engine import sqlite_schema as schema


async def test_import_paths_and_export_from_python(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for i in range(30):
        (source / f"f{i}.txt").write_text(f"file number {i}")
    (source / "pixel.png").write_bytes(PNG)
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        summary = await import_paths(store, [source], batch_files=7, progress=False)
        assert (summary.files, summary.new, summary.already_stored) == (31, 31, 0)
        assert len(await store.search("file number 2")) == 11  # 2 and 20-29
        out = tmp_path / "out.jsonl"
        assert (await export(store, out, with_content=True, progress=False)).exported == 31
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "copy.db")) as copy:
        assert (await import_records(copy, out, batch_size=4, progress=False)).new == 31
        original = [c async for c in store_cards(tmp_path / "c.db")]
        assert [c async for c in copy.iterate()] == original


async def store_cards(path):
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        async for card in store.iterate():
            yield card


async def test_content_type_is_read_back_not_detected_again(tmp_path):
    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        card = await store.create(PNG)
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT content_type FROM card").fetchone() == ("image/png",)
        raw.execute("UPDATE card SET content_type = 'image/x-as-stored'")
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        assert (await store.get(card.hash)).content_type == "image/x-as-stored"


async def test_a_version_1_database_gains_content_types(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as raw:
        raw.executescript(
            """
            CREATE TABLE card (hash TEXT PRIMARY KEY, content BLOB NOT NULL, is_text INTEGER NOT NULL,
                               g_time INTEGER NOT NULL, hash_algorithm TEXT NOT NULL, size INTEGER NOT NULL);
            CREATE INDEX card_by_time ON card (g_time, hash);
            CREATE TABLE mcard_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
            INSERT INTO mcard_meta VALUES ('schema_version', 1), ('changes', 0);
            """
        )
        for card in (MCard(PNG), MCard('{"a": 1}'), MCard("plain")):
            raw.execute(
                "INSERT INTO card VALUES (?, ?, ?, ?, ?, ?)",
                (card.hash, card.content_bytes, int(card.is_text), 0, "sha256", card.size),
            )
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        types = sorted(c.content_type for c in await store.list())
        assert types == ["application/json", "image/png", "text/plain"]
        assert (await store.create("new after migration")).content_type == "text/plain"
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT value FROM mcard_meta WHERE key = 'schema_version'").fetchone() == (schema.SCHEMA_VERSION,)
