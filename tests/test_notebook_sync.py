"""The notebook's sync (to and from another store, named as ``mcard.notebook.open`` names
one), import and export."""

from __future__ import annotations

import asyncio

import pytest

import mcard.notebook
from mcard import SQLiteConfig, ValidationError


@pytest.fixture
def mine(tmp_path):
    with mcard.notebook.open(tmp_path / "mine.db") as cards:
        yield cards


def test_sync_to_another_store_and_back(mine, tmp_path):
    card = mine.create("shared with the team", name="notes.txt")
    mine.tag(card.hash, "team")
    with mcard.notebook.open(tmp_path / "team.db") as team:
        result = mine.sync_to(team, progress=False)
        assert (result.copied, result.already_there) == (1, 0)
        assert team.get(card.hash) == card and team.get(card.hash).g_time == card.g_time
        assert team.tags(card.hash) == ["team"] and [s.name for s in team.sightings(card.hash)] == ["notes.txt"]
        assert mine.sync_to(team, progress=False).copied == 0
        theirs = team.create("a colleague's card")
        assert mine.sync_from(team, progress=False).copied == 1
        assert mine.get(theirs.hash) == theirs


def test_sync_to_a_path_a_url_or_a_configuration(mine, tmp_path):
    mine.save_many([f"card {i}" for i in range(5)], progress=False)
    assert mine.sync_to(tmp_path / "by path.db", progress=False).copied == 5
    assert mine.sync_to(f"sqlite:///{tmp_path / 'by url.db'}", progress=False).copied == 5
    assert mine.sync_to(SQLiteConfig(tmp_path / "by config.db"), progress=False).copied == 5
    with mcard.notebook.open(tmp_path / "by path.db") as copy:
        assert copy.count() == 5
    planned = mine.sync_to(tmp_path / "dry.db", dry_run=True, progress=False)
    assert planned.dry_run and planned.copied == 5
    with pytest.raises(ValidationError):
        mine.sync_to(42)


def test_awaited_sync(mine, tmp_path):
    mine.create("awaited")

    async def both_ways():
        to = await mine.async_to(tmp_path / "other.db", progress=False)
        back = await mine.async_from(tmp_path / "other.db", progress=False)
        return to.copied, back.copied

    assert asyncio.run(both_ways()) == (1, 0)


def test_a_dry_run_and_the_source_write_nothing(mine, tmp_path):
    mine.create("only counted")
    missing = tmp_path / "not yet.db"
    planned = mine.sync_to(missing, dry_run=True, progress=False)
    assert planned.copied == 1 and not missing.exists()
    source = tmp_path / "source.db"
    with mcard.notebook.open(source) as other:
        other.create("pulled")
    before = source.stat().st_mtime_ns
    assert mine.sync_from(source, progress=False).copied == 1
    assert source.stat().st_mtime_ns == before


def test_import_files_export_and_restore_from_a_notebook(mine, tmp_path):
    """``import_paths``, ``export`` and ``import_records`` given the notebook's store failed with
    a raw AttributeError or TypeError: they need the wrapper on the store's own loop."""
    from mcard.exporting import export
    from mcard.importing import import_paths

    folder = tmp_path / "files"
    (folder / "notes").mkdir(parents=True)
    (folder / "notes" / "a.txt").write_text("first note")
    (folder / "b.bin").write_bytes(b"\x00\x01 bytes")
    summary = mine.import_paths(folder, exclude=["*.bin"], progress=False)
    assert (summary.new, summary.sightings_added) == (1, 1)
    assert mine.import_paths([folder], progress=False).new == 1
    mine.tag(mine.find("name:a.txt")[0].hash, "kept")
    assert mine.export(tmp_path / "backup.jsonl", progress=False).exported == 2
    with mcard.notebook.open(tmp_path / "restored.db") as restored:
        assert asyncio.run(restored.aimport_records(tmp_path / "backup.jsonl", progress=False)).new == 2
        assert restored.find("tag:kept name:a.txt").total == 1
        assert asyncio.run(restored.aexport(tmp_path / "again.csv", progress=False)).exported == 2
    for call in (lambda: import_paths(mine, [folder]), lambda: export(mine, tmp_path / "x.jsonl")):
        with pytest.raises(ValidationError, match=r"NotebookCards has its own: \.(import_paths|export)\("):
            asyncio.run(call())


def test_waiting_for_the_search_index_from_a_notebook(mine, tmp_path):
    """Its only way was the private ``cards._wrapper.store.wait_indexed()``, which waited for ever
    (the store lives on another loop)."""
    import sqlite3

    mine.save_many([f"word{i} and more" for i in range(3000)], progress=False)
    mine.wait_indexed()
    with sqlite3.connect(tmp_path / "mine.db") as db:
        indexed = db.execute("SELECT value FROM mcard_meta WHERE key = 'text_indexed'").fetchone()[0]
        assert indexed == db.execute("SELECT max(id) FROM card").fetchone()[0]
    db.close()
    assert mine.find("word2999").total == 1
    asyncio.run(mine.await_indexed())
