"""A notebook's lone creates written right on the calling thread: small cards only, never
waiting there, exact either way, and whatever cannot be written there going through the
store's loop as before."""

from __future__ import annotations

import sqlite3
import threading

import pytest

import mcard.notebook
from mcard import StorageError, ValidationError
from mcard.infrastructure.persistence.engine.sqlite_direct_writes import DIRECT_WRITE_SETTINGS


def test_a_notebook_create_is_written_on_the_callers_thread_and_stays_exact(tmp_path):
    path = tmp_path / "now.db"
    with mcard.notebook.open(path) as cards:
        store = cards._wrapper.store
        card = cards.create("written at once")
        assert store.direct_writes == 1 and cards.get(card.hash) == card
        again, new = cards.add("written at once")
        assert (again, new) == (card, False)  # already there: the stored card
        named = cards.create("with a name", name="a.txt")  # a sighting too: through the loop
        assert cards.sightings(named.hash)[0].name == "a.txt"
        large = cards.create("x" * (DIRECT_WRITE_SETTINGS["bytes"] + 1))
        assert cards.get(large.hash) == large and store.direct_writes == 1
        with pytest.raises(ValidationError):
            cards.create("")
        assert cards.count() == 3
    with sqlite3.connect(path) as other:
        assert other.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_create_while_another_connection_writes_waits_through_the_loop(tmp_path):
    path = tmp_path / "busy.db"
    with mcard.notebook.open(path, timeout=5) as cards:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO mcard_meta (key, value) VALUES ('held', 1)")
        waiting = threading.Thread(target=lambda: cards.create("waits for the lock"))
        waiting.start()
        waiting.join(0.3)
        assert waiting.is_alive()  # busy: it waits through the loop, with the store's timeout
        other.execute("COMMIT")
        other.close()
        waiting.join(10)
        assert cards.count() == 1 and cards.search("waits for the lock")
        assert cards._wrapper.store.direct_writes == 0


def test_a_create_the_database_skips_is_a_storage_error(tmp_path):
    path = tmp_path / "altered.db"
    with mcard.notebook.open(path) as cards:
        with sqlite3.connect(path) as other:
            other.execute("CREATE TRIGGER drop_long BEFORE INSERT ON card WHEN new.size >= 20"
                          " BEGIN SELECT RAISE(IGNORE); END")
        cards.create("short")
        with pytest.raises(StorageError):
            cards.create("long enough to be dropped by the trigger")
        assert cards.count() == 1 and cards._wrapper.store.direct_writes == 1


def test_notebook_creates_from_several_threads_all_land_once(tmp_path):
    with mcard.notebook.open(tmp_path / "threads.db") as cards:
        def create(thread: int) -> None:
            for i in range(200):
                cards.create(f"card {i % 150} of {thread % 2}")

        workers = [threading.Thread(target=create, args=(n,)) for n in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert cards.count() == 300
        assert sorted(card.content for card in cards.list()) == sorted(f"card {i} of {t}" for i in range(150) for t in (0, 1))
    with sqlite3.connect(tmp_path / "threads.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_notebook_create_after_the_file_was_replaced_is_refused(tmp_path):
    path, copy = tmp_path / "cards.db", tmp_path / "copy.db"
    with mcard.notebook.open(copy) as other:
        other.save_many([f"other {i}" for i in range(500)], progress=False)
    with mcard.notebook.open(path) as cards:
        cards.create("before")
        copy.replace(path)
        with pytest.raises(StorageError, match="replaced"):
            cards.create("after the replacement")
