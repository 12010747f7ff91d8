"""Damaged storage, caused for real: truncated and foreign files, read-only files and folders,
a full disk. Each gives a ``StorageError`` naming the path and the cause, and the file is left
as it was.

The tests run as root, and root ignores file permissions, so "read-only" is made by the kernel:
a read-only bind mount of the file, a read-only tmpfs for the folder, a 1 MiB tmpfs for the
full disk. Where mounting is not permitted they are skipped, saying so.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig, StorageError

Mount = Callable[..., Path]


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Mount]:
    """``mount(target, *options, source=...)`` mounts for the test and unmounts afterwards."""
    mounted: list[Path] = []

    def do_mount(target: Path, *options: str, source: str = "tmpfs") -> Path:
        if not target.exists():
            target.mkdir()
        command = ["mount", *options, source, str(target)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"mounting is not permitted here ({' '.join(command)}: {result.stderr.strip()})")
        mounted.append(target)
        return target

    yield do_mount
    for target in reversed(mounted):
        if subprocess.run(["umount", str(target)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(target)], capture_output=True)


def remount_read_only(target: Path, *, bind: bool = False) -> None:
    options = "remount,ro,bind" if bind else "remount,ro"
    subprocess.run(["mount", "-o", options, str(target)], check=True)


def remount_writable(target: Path) -> None:
    subprocess.run(["mount", "-o", "remount,rw", str(target)], check=True)


async def fill(path: Path, n: int = 3000) -> list[MCard]:
    cards = [MCard(f"card {i} " + "x" * 100) for i in range(n)]
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many(cards)
    return cards


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir()) if p.is_file()}


async def open_fails(path: Path, *causes: str) -> StorageError:
    with pytest.raises(StorageError) as raised:
        async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
            await store.create("must not be written")
    message = str(raised.value)
    assert str(path.absolute()) in message
    assert any(cause in message for cause in causes), message
    return raised.value


async def test_truncated_database_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "cards.db"
    await fill(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = snapshot(tmp_path)
    await open_fails(path, "truncated")
    assert snapshot(tmp_path) == before


async def test_damaged_page_gives_a_storage_error_that_says_so(tmp_path):
    path = tmp_path / "cards.db"
    await fill(path)
    with sqlite3.connect(path) as db:  # the time index, which iterate() walks
        page = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'card_by_time'").fetchone()[0]
    db.close()
    data = bytearray(path.read_bytes())
    data[4096 * (page - 1) : 4096 * (page - 1) + 200] = b"\xff" * 200
    path.write_bytes(bytes(data))
    with pytest.raises(StorageError, match="damaged") as raised:
        async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
            [card async for card in store.iterate()]
    assert str(path) in str(raised.value) and isinstance(raised.value.__cause__, sqlite3.DatabaseError)


async def test_read_only_file_is_refused_and_left_untouched(tmp_path, mount):
    path = tmp_path / "cards.db"
    cards = await fill(path)
    mount(path, "--bind", source=str(path))
    remount_read_only(path, bind=True)
    before = snapshot(tmp_path)
    error = await open_fails(path, "is read-only")
    assert isinstance(error.__cause__, OSError)
    assert snapshot(tmp_path) == before
    subprocess.run(["umount", str(path)], check=True)
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        assert await store.count() == len(cards)


async def test_read_only_folder_is_refused_and_left_untouched(tmp_path, mount):
    folder = mount(tmp_path / "ro", "-t", "tmpfs", "-o", "size=4m")
    path = folder / "cards.db"
    cards = await fill(path)
    remount_read_only(folder)
    before = snapshot(folder)
    await open_fails(path, "read-only file system")
    await open_fails(folder / "new.db", "read-only file system")
    assert snapshot(folder) == before
    remount_writable(folder)
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        assert await store.count() == len(cards)


async def test_missing_parent_folder_on_a_read_only_path(tmp_path, mount):
    folder = mount(tmp_path / "ro", "-t", "tmpfs", "-o", "size=1m,ro")
    error = await open_fails(folder / "missing" / "deeper" / "cards.db", "read-only file system")
    assert "cannot be created" in str(error) and isinstance(error.__cause__, OSError)
    assert os.listdir(folder) == []


async def test_full_disk_fails_cleanly_and_writing_works_again_once_space_is_freed(tmp_path, mount):
    folder = mount(tmp_path / "small", "-t", "tmpfs", "-o", "size=1m")
    path = folder / "cards.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        stored = [await store.create("first card")]
        (folder / "filler").write_bytes(b"\0" * 600 * 1024)
        with pytest.raises(StorageError) as raised:
            for i in range(100_000):
                stored.append(await store.create(f"card {i} " + "y" * 2000))
        message = str(raised.value)
        assert str(path) in message and "full" in message, message
        count = await store.count()
        assert count == len(stored)
        with pytest.raises(StorageError, match="full"):
            await store.save_many([MCard(f"batch {i} " + "z" * 2000) for i in range(200)])
        assert await store.count() == count, "a failed batch stores nothing"
        (folder / "filler").unlink()
        after = await store.create("written once space was freed")
        assert await store.save_many([MCard(f"batch {i} " + "z" * 2000) for i in range(100)]) == 100
        assert await store.get(after.hash) == after
    check = sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0]
    assert check == "ok"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        report = await store.verify(progress=False)
        assert report.ok and report.checked == count + 101
        assert await store.get_many(card.hash for card in stored) == {card.hash: card for card in stored}
