"""Opening SQLite files for reading only, and files that belong to other applications."""

import os
import sqlite3

import pytest

from mcard import AsyncPersistenceWrapper, ConfigurationError, SQLiteConfig, StorageError, config_from_url


def other_application(path):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    db.execute("INSERT INTO invoices (total) VALUES (12.5)")
    db.commit()
    db.close()


@pytest.mark.parametrize("read_only", [True, False])
async def test_another_applications_database_is_refused_and_left_as_it_was(tmp_path, read_only):
    path = tmp_path / "app.db"
    other_application(path)
    before = path.read_bytes()
    with pytest.raises(StorageError, match="not a card store.*invoices"):
        await AsyncPersistenceWrapper(SQLiteConfig(path, read_only=read_only)).initialize()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["app.db"]
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    db.close()


async def test_a_read_only_file_can_be_read(tmp_path):
    path = tmp_path / "cards.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        card = await store.create("kept read-only")
    path.chmod(0o444)
    try:
        async with AsyncPersistenceWrapper(SQLiteConfig(path, read_only=True)) as store:
            assert await store.get(card.hash) == card
    finally:
        path.chmod(0o644)


async def test_a_store_an_older_mcard_wrote_is_not_upgraded_read_only(tmp_path):
    from tests.test_sqlite_schema import write_old
    from mcard import MCard

    path = tmp_path / "old.db"
    write_old(path, [MCard("old")], version=2)
    before = path.read_bytes()
    with pytest.raises(StorageError, match="older mcard.*open it once for writing"):
        await AsyncPersistenceWrapper(SQLiteConfig(path, read_only=True)).initialize()
    assert path.read_bytes() == before


def test_home_is_expanded_and_urls_are_decoded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert SQLiteConfig("~/cards.db").path == tmp_path / "cards.db"
    assert config_from_url("sqlite:///my%20cards.db").path.name == "my cards.db"
    assert config_from_url("sqlite:///cards.db?read_only=1").read_only is True
    with pytest.raises(ConfigurationError):
        SQLiteConfig(":memory:", read_only=True)
