"""``--exclude`` leaves out a folder whole: it is not entered, so nothing in it is read or
counted."""

from __future__ import annotations

import os
from pathlib import Path

from tests.test_cli import as_json, mcard


def names(db: Path) -> list[str]:
    return sorted(card["name"] for card in as_json(mcard("ls", "--json", db=db)))


def unlistable(folder: Path) -> None:
    """Folders nested below ``folder`` deeper than the system's longest path: the deepest
    cannot be listed, by any user."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(os.pathconf(folder, "PC_PATH_MAX") // 200 + 2):
            os.mkdir("d" * 199, dir_fd=descriptor)
            below = os.open("d" * 199, os.O_RDONLY | os.O_DIRECTORY, dir_fd=descriptor)
            os.close(descriptor)
            descriptor = below
    finally:
        os.close(descriptor)


def test_an_excluded_folder_is_not_entered(tmp_path):
    db, tree = tmp_path / "cards.db", tmp_path / "project"
    (tree / "node_modules" / "pkg").mkdir(parents=True)
    (tree / "main.py").write_text("print('hello')\n")
    (tree / "node_modules" / "pkg" / "index.js").write_text("module.exports = 1\n")
    (tree / "node_modules" / "pkg" / "self").symlink_to(".", target_is_directory=True)
    unlistable(tree / "node_modules")
    summary = as_json(mcard("import", str(tree), "--exclude", "node_modules", "--json", db=db))
    assert (summary["files"], summary["new"], summary["skipped"]) == (1, 1, {})
    assert names(db) == ["main.py"]
