"""An import goes on past what its user may not read: a folder it may list but not enter (read
without execute permission) counts its files as unreadable, a folder it may not list counts as
an unreadable folder, and a folder excluded is not looked into. Run as a user whom file modes
bind (root reads everything)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_cli import MCARD
from tests.test_cli_read_only import NOBODY, as_another_user

CLOSED = {"noexec": 0o644, "locked": 0o000}
"""Folders of the tree, and the modes that keep the user out of them."""


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder the user may enter and write in (pytest's folders are private to root), holding
    ``tree``: ``ok.txt``, and two files in each folder of ``CLOSED``."""
    folder = Path(tempfile.mkdtemp(prefix="mcard-import-"))
    folder.chmod(0o755)
    if os.geteuid() == 0:
        os.chown(folder, NOBODY, NOBODY)
    (folder / "tree").mkdir()
    (folder / "tree" / "ok.txt").write_text("readable\n")
    for name, mode in CLOSED.items():
        (folder / "tree" / name).mkdir()
        for file in ("a.txt", "b.txt"):
            (folder / "tree" / name / file).write_text(f"{name}/{file}\n")
        (folder / "tree" / name).chmod(mode)
    yield folder
    for name in CLOSED:
        (folder / "tree" / name).chmod(0o755)
    shutil.rmtree(folder)


def as_user(shared: Path, *command: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*as_another_user(), *command], capture_output=True, timeout=60, cwd=shared)


def imported(shared: Path, *args: str) -> dict[str, object]:
    result = as_user(shared, MCARD, "--db", str(shared / "cards.db"), "import", *args, "--json")
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)


def test_folders_the_user_may_not_enter_are_counted_and_the_import_goes_on(shared):
    user = as_another_user()
    assert subprocess.run([*user, "cat", str(shared / "tree" / "noexec" / "a.txt")], capture_output=True).returncode != 0
    assert subprocess.run([*user, "ls", str(shared / "tree" / "noexec")], capture_output=True).returncode == 0
    summary = imported(shared, "tree")
    assert (summary["files"], summary["new"]) == (1, 1)  # stored; with the skipped ones, every file found
    assert summary["skipped"] == {"unreadable": 2, "unreadable folder": 1}
    said = as_user(shared, MCARD, "--db", str(shared / "cards.db"), "import", "tree")
    assert said.stdout.decode().rstrip().endswith("; skipped 2 files and 1 folder: 2 unreadable, 1 unreadable folder")


def test_excluded_folders_are_not_looked_into(shared):
    summary = imported(shared, "tree", "--exclude", "noexec", "--exclude", "locked")
    assert (summary["files"], summary["new"], summary["skipped"]) == (1, 1, {})


def test_import_paths_counts_a_file_named_in_a_folder_it_may_not_enter(shared):
    script = (
        "import asyncio, json, sys\n"
        "from mcard import AsyncPersistenceWrapper, SQLiteConfig\n"
        "from mcard.importing import import_paths\n"
        "async def main():\n"
        "    async with AsyncPersistenceWrapper(SQLiteConfig('cards.db')) as store:\n"
        "        summary = await import_paths(store, sys.argv[1:], progress=False)\n"
        "    print(json.dumps(summary.as_dict()))\n"
        "asyncio.run(main())\n"
    )
    result = as_user(shared, sys.executable, "-c", script, "tree/noexec/a.txt", "tree/ok.txt")
    assert result.returncode == 0, result.stderr.decode()
    summary = json.loads(result.stdout)
    assert (summary["new"], summary["skipped"]) == (1, {"unreadable": 1})
