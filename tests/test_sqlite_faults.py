"""Faults of the SQLite engine, caused for real: a hand-altered schema, a database file deleted
or replaced under an open store, an external write lock, readers that never pause, cancelled
iterations, descriptors running out, and a store used from a second event loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig, StorageError
from mcard.infrastructure.persistence.engine.sqlite_engine import DEFAULT_SETTINGS
from mcard.infrastructure.persistence.engine.sqlite_files import DatabaseFile

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024


def sql(path: Path, *statements: str) -> None:
    """Statements run by another tool, on its own connection."""
    db = sqlite3.connect(path)
    try:
        for statement in statements:
            db.execute(statement)
        db.commit()
    finally:
        db.close()


async def make_store(path: Path, cards: list[MCard] = ()) -> None:
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        if cards:
            await store.save_many(cards)


# -- a hand-altered schema never loses a write silently -------------------------------------
ALTERATIONS = {
    "check": (
        "PRAGMA writable_schema = ON",
        "UPDATE sqlite_master SET sql = replace(sql, 'content_type   TEXT', 'content_type TEXT CHECK (size < 5)')"
        " WHERE name = 'card'",
    ),
    "not-null": (
        "PRAGMA writable_schema = ON",
        "UPDATE sqlite_master SET sql = replace(sql, 'content_type   TEXT', 'content_type TEXT, note TEXT NOT NULL')"
        " WHERE name = 'card'",
    ),
    "trigger": ("CREATE TRIGGER drop_long BEFORE INSERT ON card WHEN new.size >= 5 BEGIN SELECT RAISE(IGNORE); END",),
}


@pytest.mark.parametrize("alteration", sorted(ALTERATIONS))
async def test_a_write_the_schema_refuses_is_a_storage_error_and_stores_nothing(tmp_path, alteration):
    path = tmp_path / "altered.db"
    await make_store(path)
    sql(path, *ALTERATIONS[alteration])
    short = MCard("ok") if alteration != "not-null" else None
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        with pytest.raises(StorageError):
            await store.create("long enough to be refused")
        with pytest.raises(StorageError):
            await store.save(MCard("another long card"))
        with pytest.raises(StorageError):
            await store.save_many([MCard("ab"), MCard("a long one in the batch"), MCard("cd")])
        outcomes = await asyncio.gather(
            *(store.create(text) for text in ("x1", "long text one", "x2", "long text two")), return_exceptions=True
        )
        assert await store.count() == (0 if short is None else 2)
        if short is not None:
            assert [type(o) for o in outcomes] == [MCard, StorageError, MCard, StorageError]
            assert await store.save(short) is True and await store.save(short) is False


async def test_a_removal_a_trigger_ignores_is_a_storage_error(tmp_path):
    path = tmp_path / "altered.db"
    kept = MCard("kept forever")
    await make_store(path, [kept, MCard("other")])
    sql(path, "CREATE TRIGGER keep BEFORE DELETE ON card WHEN old.content = CAST('kept forever' AS BLOB)"
              " BEGIN SELECT RAISE(IGNORE); END")
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        with pytest.raises(StorageError):
            await store.remove(kept.hash)
        with pytest.raises(StorageError):
            await store.remove_many([kept.hash, MCard("other").hash])
        assert await store.count() == 2



RUNAWAY = """mcard_matches('["regex", "(a+)+$", true]', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!')"""
"""A pattern that backtracks 2^44 times over its text: hours, the GIL held throughout."""


def test_a_trigger_of_another_tool_cannot_run_a_regular_expression_in_the_process(tmp_path):
    """A store file may come from elsewhere with triggers of its own: one calling mcard's
    function for the exact check of a search with a pattern that never ends held ``mcard add``
    (Ctrl-C too) for as long as it ran. Such a write now fails at once, and says why."""
    path = tmp_path / "altered.db"
    asyncio.run(make_store(path, [MCard("first")]))
    sql(path, f"CREATE TRIGGER runaway AFTER INSERT ON card BEGIN SELECT {RUNAWAY}; END")
    mcard = [sys.executable, "-m", "mcard", "--db", str(path)]
    added = subprocess.run([*mcard, "add", "second"], capture_output=True, text=True, timeout=120)
    assert added.returncode == 3 and "user-defined function raised exception" in added.stderr
    listed = subprocess.run([*mcard, "--json", "ls"], capture_output=True, text=True, timeout=120)
    assert [card["hash"] for card in json.loads(listed.stdout)] == [MCard("first").hash]


# -- the database file deleted or replaced under an open store ------------------------------
async def test_writes_to_a_deleted_database_file_are_refused(tmp_path):
    path = tmp_path / "cards.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many([MCard(f"before {i}") for i in range(10)])
        os.remove(path)
        acknowledged = 0
        for i in range(100):
            try:
                await store.create(f"after {i}")
                acknowledged += 1
            except StorageError as exc:
                assert str(path) in str(exc) and "deleted" in str(exc)
        assert acknowledged == 0
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as fresh:
        assert await fresh.count() == 0
        await fresh.create("a new start")
    check_integrity(path)


@pytest.mark.parametrize("how", ["copied-over", "renamed-over"])
async def test_a_backup_put_in_place_of_an_open_store_is_noticed_and_kept(tmp_path, how):
    path, backup = tmp_path / "cards.db", tmp_path / "backup.db"
    await make_store(backup, [MCard(f"backed up {i}") for i in range(5000)])
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many([MCard(f"current {i}") for i in range(3)])
        await store.create("one more")
        if how == "copied-over":
            shutil.copyfile(backup, path)
        else:
            shutil.copyfile(backup, tmp_path / "restore.db")
            os.replace(tmp_path / "restore.db", path)
        with pytest.raises(StorageError, match="(overwritten|replaced).*close the store") as raised:
            await store.create("written after the restore")
        assert str(path) in str(raised.value)
        with pytest.raises(StorageError):
            await store.save_many([MCard("and more")])
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as reopened:
        assert await reopened.count() == 5000
        assert (await reopened.verify(progress=False)).ok
    check_integrity(path)


def test_a_checkpoint_another_store_of_this_process_runs_is_not_taken_for_an_overwrite(tmp_path):
    """Three stores on one file in one process: one checkpointing while another wrote, the
    other took the file changed under it for one overwritten by another program, and refused
    every call after. A change no checkpoint of the process explains is still noticed."""
    path = tmp_path / "cards.db"
    sqlite3.connect(path).close()
    checkpointing, writing = DatabaseFile(path), DatabaseFile(path)
    checkpointing.opened()
    writing.opened()
    try:
        assert writing.changed() is None
        checkpointing.checkpointing()
        os.utime(path, ns=(0, 1_000_000_000))  # the checkpoint writes the file
        assert writing.changed() is None
        checkpointing.checkpointed()
        assert writing.changed() is None and checkpointing.changed() is None
        os.utime(path, ns=(0, 2_000_000_000))  # no checkpoint of this process did that
        assert "overwritten by another program" in (writing.changed() or "")
    finally:
        checkpointing.closed()
        writing.closed()


WRITER_SCRIPT = """
import asyncio, sys
from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig
async def main():
    async with AsyncPersistenceWrapper(SQLiteConfig(sys.argv[1])) as store:
        for batch in range(8):
            await store.save_many([MCard(bytes([batch, i % 256]) * 4096) for i in range(200)])
asyncio.run(main())
"""


async def test_another_process_writing_and_leaving_is_not_taken_for_a_replacement(tmp_path):
    path = tmp_path / "cards.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.create("open in a notebook")
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-c", WRITER_SCRIPT, str(path)], capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stderr
        for i in range(20):
            await store.create(f"after the other process {i}")
        assert await store.count() == 1 + 1600 + 20


PARTIAL_CHECKPOINT_SCRIPT = """
import asyncio, sqlite3, sys
from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig
reader = sqlite3.connect(sys.argv[1], isolation_level=None)
async def main():
    async with AsyncPersistenceWrapper(SQLiteConfig(sys.argv[1])) as store:
        await store.save_many([MCard(f"from the other process {i}") for i in range(1000)])
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM card").fetchone()  # a snapshot: the log past it stays
        await store.save_many([MCard(f"from the other process, later {i}") for i in range(1000)])
asyncio.run(main())
checkpointer = sqlite3.connect(sys.argv[1])
print(list(checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()))
checkpointer.close()
reader.execute("COMMIT")
reader.close()
"""


async def test_another_process_checkpointing_part_of_the_log_and_leaving_loses_no_card(tmp_path):
    """A process that copied part of the log into the file (a reader held an older snapshot)
    and left changed the file with the log's header and no lock of its own left behind: the
    store took that for the file overwritten in place, failed its next write, and on closing
    wiped the log, with the other process's cards not yet copied (they were lost, and the file
    was left damaged)."""
    path = tmp_path / "cards.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many([MCard("open in a notebook")])
        await store.save_many([MCard("and written to")])  # the log's header as the store knows it
        done = subprocess.run(  # the store idle meanwhile: its loop waits
            [sys.executable, "-c", PARTIAL_CHECKPOINT_SCRIPT, str(path)], capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stderr
        busy, logged, copied = json.loads(done.stdout)
        assert 0 < copied < logged  # the other process copied part of the log
        await store.save_many([MCard("written after it left")])
        assert await store.count() == 2 + 2000 + 1
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as reopened:
        assert await reopened.count() == 2 + 2000 + 1
    check_integrity(path)


IDLE_STORE_SCRIPT = """
import asyncio, sys
from mcard import AsyncPersistenceWrapper, SQLiteConfig
async def main():
    async with AsyncPersistenceWrapper(SQLiteConfig(sys.argv[1])) as store:  # opened for writing
        await store.wait_indexed()
        await asyncio.sleep(1)  # writes pause: its background steps run
asyncio.run(main())
"""


async def test_another_process_that_writes_nothing_neither_stops_the_store_nor_damages_the_file(tmp_path):
    """A second process that opened the store for writing (a notebook, a sync with nothing to
    copy) and wrote nothing still ran the checkpoint of a pause, copying the log up to the
    snapshot an iteration of the first store held. The log kept its size and header, and the
    other process left no lock: the first store took the file for overwritten in place,
    refused every later write, and on closing wiped the log (every card written since its
    last checkpoint lost, the file left damaged: "database disk image is malformed")."""
    path = tmp_path / "cards.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many([MCard(f"first {i}") for i in range(200)])
        await store.wait_indexed()
        await store.save_many([MCard(f"second {i}") for i in range(200)])
        async with contextlib.aclosing(store.iterate(page_size=10)) as cards:
            await anext(cards)  # a snapshot: the index's steps go on past it, no checkpoint meanwhile
            await store.wait_indexed()
            done = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-c", IDLE_STORE_SCRIPT, str(path)],
                capture_output=True, text=True, timeout=120,
            )
            assert done.returncode == 0, done.stderr
            await store.save_many([MCard(f"third {i}") for i in range(200)])
        await store.save_many([MCard(f"fourth {i}") for i in range(200)])
        assert await store.count() == 800
    check_integrity(path)
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as reopened:
        assert await reopened.count() == 800
        assert (await reopened.verify(progress=False)).ok


def check_integrity(path: Path) -> None:
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        db.close()


# -- an external write lock: every caller hears within a few timeouts of its own call --------
async def test_queued_writers_behind_an_external_lock_each_fail_within_a_few_timeouts(tmp_path):
    path, timeout = tmp_path / "cards.db", 0.2
    await make_store(path)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    waited: list[float] = []
    try:
        async with AsyncPersistenceWrapper(SQLiteConfig(path, timeout=timeout)) as store:
            async def create(i: int) -> BaseException | MCard:
                start = time.monotonic()
                try:
                    return await store.create(f"queued {i}")
                except StorageError as exc:
                    return exc
                finally:
                    waited.append(time.monotonic() - start)

            outcomes = await asyncio.gather(*(create(i) for i in range(50)))
            assert all(isinstance(o, StorageError) and o.transient for o in outcomes)
            assert max(waited) < 5 * timeout, f"the last caller waited {max(waited):.2f} s"
            blocker.execute("ROLLBACK")
            assert (await store.create("once the lock is gone")).content == "once the lock is gone"
    finally:
        blocker.close()


async def test_a_tag_or_sighting_that_failed_on_the_lock_is_not_written_afterwards(tmp_path):
    """A batch whose ``BEGIN IMMEDIATE`` timed out went on with its tag or sighting statement
    outside any transaction: it waited for the lock a second time, and once the other writer
    let go, wrote the tag the caller had just been told failed."""
    path, timeout = tmp_path / "cards.db", 0.5
    await make_store(path)
    async with AsyncPersistenceWrapper(SQLiteConfig(path, timeout=timeout)) as store:
        card = await store.create("a card to tag")
        for write in (lambda: store.tag(card.hash, "after the lock"), lambda: store.create("named", name="n.txt")):
            blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            blocker.execute("BEGIN IMMEDIATE")
            let_go = threading.Timer(timeout * 1.5, lambda: blocker.execute("ROLLBACK"))
            let_go.start()
            try:
                with pytest.raises(StorageError, match="locked"):
                    await write()
            finally:
                let_go.join()
                blocker.close()
        await asyncio.sleep(timeout)
        assert await store.tags(card.hash) == []
        assert await store.names_of([card.hash]) == {} and await store.count() == 1


def test_a_notebook_write_behind_an_external_lock_fails_after_its_own_timeout(tmp_path):
    """The store's background step met the lock too, and waited ``timeout`` for it; the writes
    queued behind it then waited their own: a notebook's create failed after 2.7 times its
    timeout, a named one after 3.7."""
    import mcard.notebook

    path, timeout = tmp_path / "cards.db", 0.5
    cards = mcard.notebook.open(path, timeout=timeout)
    try:
        cards.create("base")
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        waited = []
        for n in range(4):
            start = time.monotonic()
            with pytest.raises(StorageError, match="locked"):
                cards.create(f"card {n}", name=f"{n}.txt" if n % 2 else None)
            waited.append(time.monotonic() - start)
            time.sleep(0.3)  # the background step's delay: it runs between the calls
        blocker.execute("ROLLBACK")
        blocker.close()
        assert max(waited) < 1.8 * timeout, [round(w, 2) for w in waited]
    finally:
        cards.close()


# -- readers that overlap without a pause do not make the WAL grow without bound -------------
async def test_the_wal_stays_bounded_under_overlapping_readers_and_shrinks_after(tmp_path):
    path = tmp_path / "cards.db"
    wal = tmp_path / "cards.db-wal"
    written, peak, stop = 0, 0, asyncio.Event()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many([MCard(f"seed {i}") for i in range(200)])

        async def read_in_a_loop() -> None:
            while not stop.is_set():
                async for index, _ in aenumerate(store.iterate(page_size=20)):
                    if index == 40:
                        break
                    await asyncio.sleep(0)

        readers = [asyncio.create_task(read_in_a_loop()) for _ in range(4)]
        for batch in range(60):
            cards = [MCard(os.urandom(64 * 1024)) for _ in range(8)]
            await store.save_many(cards)
            written += sum(card.size for card in cards)
            peak = max(peak, wal.stat().st_size if wal.exists() else 0)
            await asyncio.sleep(0.005)
        stop.set()
        await asyncio.gather(*readers)
        assert written >= 30 * MiB
        assert peak <= 2 * written and peak <= 3 * DEFAULT_SETTINGS["wal_reset_bytes"], f"WAL peaked at {peak / MiB:.1f} MiB"
        for _ in range(100):
            if not wal.exists() or wal.stat().st_size == 0:
                break
            await asyncio.sleep(0.05)
        assert not wal.exists() or wal.stat().st_size == 0, "the WAL keeps its space once readers end"


async def aenumerate(iterator):
    index = 0
    async for item in iterator:
        yield index, item
        index += 1


# -- cancelling an iteration always ends as cancellation ------------------------------------
async def test_a_cancelled_iteration_always_ends_as_cancellation(tmp_path):
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "cards.db")) as store:
        await store.save_many([MCard(f"card {i}") for i in range(3000)])

        async def read_all() -> int:
            return len([card async for card in store.iterate(page_size=100)])

        outcomes: list[str] = []
        for attempt in range(400):
            task = asyncio.create_task(read_all())
            for _ in range(attempt % 7):
                await asyncio.sleep(0)
            await asyncio.sleep((attempt % 5) * 0.0005)
            asked = task.cancel()  # True: the task had not finished, so it must end cancelled
            try:
                outcomes.append(f"asked {asked}, finished {await task}")
            except asyncio.CancelledError:
                outcomes.append(f"asked {asked}, cancelled")
            except Exception as exc:  # the fault: anything else
                outcomes.append(f"{type(exc).__name__}: {exc}")
        assert set(outcomes) <= {"asked True, cancelled", "asked False, finished 3000"}, sorted(set(outcomes))
        assert "asked True, cancelled" in outcomes
        assert not store.store._snapshots
        assert await store.count() == 3000


# -- descriptors running out ---------------------------------------------------------------
DESCRIPTORS_SCRIPT = """
import asyncio, json, os, resource, sys
from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig, StorageError

resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))

def descriptors():
    return len(os.listdir("/proc/self/fd"))

async def main(path):
    report = {}
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many([MCard(f"card {i}") for i in range(500)])
        await store.count()
        report["before"] = descriptors()

        async def read_all():
            seen = 0
            async for _ in store.iterate(page_size=50):
                seen += 1
                if seen % 50 == 0:
                    await asyncio.sleep(0.01)
            return seen

        outcomes = await asyncio.gather(*(read_all() for _ in range(200)), return_exceptions=True)
        report["storm"] = sorted({o if isinstance(o, int) else type(o).__name__ for o in outcomes}, key=str)
        report["after storm"] = descriptors()

        hogs = []
        try:
            while True:
                hogs.append(open(os.devnull))
        except OSError:
            pass
        starved = await asyncio.gather(read_all(), store.count(), store.create("starved"), return_exceptions=True)
        report["starved"] = [type(o).__name__ for o in starved]
        for hog in hogs:
            hog.close()
        report["recovered"] = [await read_all(), await store.count(), (await store.create("after")).content]
        open(os.devnull).close()
        report["at the end"] = descriptors()
    print(json.dumps(report))

asyncio.run(main(sys.argv[1]))
"""


def test_running_out_of_descriptors_fails_reads_properly_and_the_store_recovers(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", DESCRIPTORS_SCRIPT, str(tmp_path / "cards.db")],
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["storm"] == [500], "200 iterations at once under a limit of 128 descriptors all finish"
    assert report["after storm"] <= report["before"] + 64, report
    assert set(report["starved"]) <= {"StorageError", "int", "MCard"} and "StorageError" in report["starved"], report
    count = 500 + report["starved"].count("MCard")
    assert report["recovered"] == [count, count, "after"], report
    assert report["at the end"] <= report["before"] + 64, report


# -- one store, two event loops ------------------------------------------------------------
async def test_a_store_used_from_another_event_loop_fails_at_once(tmp_path):
    store = AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "cards.db"))
    await store.initialize()
    try:
        await store.create("on the first loop")
        outcome: dict[str, object] = {}

        def other_loop() -> None:
            async def use() -> None:
                for name, call in (("create", lambda: store.create("from the second loop")),
                                   ("wait_indexed", store.wait_indexed)):  # it waited for ever
                    try:
                        await asyncio.wait_for(call(), timeout=10)
                        outcome[name] = "done"
                    except Exception as exc:
                        outcome[name] = exc

            asyncio.run(use())

        thread = threading.Thread(target=other_loop)
        thread.start()
        while thread.is_alive():
            await asyncio.sleep(0.01)
        for result in outcome.values():
            assert isinstance(result, StorageError) and "another event loop" in str(result), outcome
        assert await store.count() == 1
    finally:
        await store.close()
    reopened = asyncio.new_event_loop()
    try:
        def reuse() -> int:
            async def again() -> int:
                async with store:
                    return await store.count()
            return reopened.run_until_complete(again())
        assert await asyncio.to_thread(reuse) == 1, "once closed, a store may be opened on another loop"
    finally:
        reopened.close()


# -- iterations waiting for a slot ---------------------------------------------------------
async def test_iterations_queue_for_a_slot_and_fail_only_when_none_ends(tmp_path, monkeypatch):
    """A queue longer than ``timeout`` is not a fault while iterations keep ending; iterations
    that never end make the next one fail after ``timeout`` with a ``StorageError``."""
    monkeypatch.setitem(DEFAULT_SETTINGS, "max_snapshots", 2)
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "cards.db", timeout=0.3)) as store:
        await store.save_many([MCard(f"card {i}") for i in range(20)])

        async def read_slowly() -> int:  # ~0.2 s each: eight through two slots take ~0.8 s
            seen = 0
            async for _ in store.iterate(page_size=5):
                seen += 1
                await asyncio.sleep(0.01)
            return seen

        assert await asyncio.gather(*(read_slowly() for _ in range(8))) == [20] * 8

        held = [store.iterate(page_size=5).__aiter__() for _ in range(2)]
        for iteration in held:
            await iteration.__anext__()  # each holds a slot, and never ends
        started = time.monotonic()
        with pytest.raises(StorageError, match="none ended within 0.3 s"):
            await read_slowly()
        assert time.monotonic() - started < 3
        for iteration in held:
            await iteration.aclose()
        assert await read_slowly() == 20
