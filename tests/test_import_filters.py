"""``--include`` and ``--exclude`` match a path named for import by its name, as they match a
file or folder inside a folder imported, so ``dir/*`` takes what ``dir`` takes; a folder
excluded is not entered: nothing in it is read or counted."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import pytest

from mcard import AsyncPersistenceWrapper, SQLiteConfig
from mcard.importing import import_paths
from tests.test_cli import as_json, mcard


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "globt"
    (root / "sub").mkdir(parents=True)
    (root / "keep.txt").write_text("keep\n")
    (root / "secret.tmp").write_text("secret\n")
    (root / "sub" / "kept.txt").write_text("kept\n")
    (root / "sub" / "secret2.tmp").write_text("secret 2\n")
    (root / "sub" / "self").symlink_to(".", target_is_directory=True)
    return root


def names(db: Path) -> list[str]:
    return sorted(card["name"] for card in as_json(mcard("ls", "--json", db=db)))


def expanded(folder: Path) -> list[str]:
    """``folder/*`` as a shell expands it."""
    return sorted(str(path) for path in folder.iterdir() if not path.name.startswith("."))


@pytest.mark.parametrize("filters, stored, skipped", [
    (["--exclude", "*.tmp"], ["keep.txt", "kept.txt"], {"symlink to a folder": 1}),
    (["--include", "*.txt"], ["keep.txt", "kept.txt"], {"symlink to a folder": 1}),
    (["--exclude", "sub"], ["keep.txt", "secret.tmp"], {}),
    (["--include", "sub"], ["kept.txt", "secret2.tmp"], {"symlink to a folder": 1}),
], ids=["exclude-files", "include-files", "exclude-folder", "include-folder"])
def test_a_shell_glob_takes_what_its_folder_takes(folder, tmp_path, filters, stored, skipped):
    whole = as_json(mcard("import", str(folder), *filters, "--json", db=tmp_path / "whole.db"))
    globbed = as_json(mcard("import", *expanded(folder), *filters, "--json", db=tmp_path / "glob.db"))
    assert names(tmp_path / "whole.db") == names(tmp_path / "glob.db") == stored
    for summary in (whole, globbed):
        assert (summary["files"], summary["new"], summary["skipped"]) == (2, 2, skipped)


def test_a_file_named_and_left_out_is_neither_stored_nor_read(tmp_path):
    db = tmp_path / "cards.db"
    (tmp_path / "notes.md").write_text("# notes\n")
    (tmp_path / "todo.txt").write_text("to do\n")
    left_out = mcard("import", "notes.md", "--exclude", "*.md", db=db)
    assert left_out.stdout.decode() == "0 new cards, 0 already stored\n"
    os.mkfifo(tmp_path / "pipe.tmp")  # a pipe named is refused (status 2), unless left out
    taken = mcard("import", "notes.md", "todo.txt", "pipe.tmp", "--include", "*.txt", "--exclude", "*.tmp", db=db)
    assert taken.stdout.decode() == "1 new card, 0 already stored; 1 sighting and 0 tags added\n"
    assert names(db) == ["todo.txt"]


async def test_import_paths_leaves_out_a_named_path_as_the_command_line_does(folder, tmp_path):
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "cards.db")) as store:
        named = [folder / "keep.txt", folder / "secret.tmp", folder / "sub"]
        summary = await import_paths(store, named, exclude=["*.tmp", "sub"], progress=False)
        assert (summary.files, summary.new, dict(summary.skipped)) == (1, 1, {})
        assert [card.content for card in await store.list()] == ["keep\n"]


def unlistable(folder: Path, deepest_text: Optional[str] = None) -> None:
    """Folders nested below ``folder`` deeper than the system's longest path: the deepest
    cannot be listed, by any user. ``deepest_text`` goes into a file there."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(os.pathconf(folder, "PC_PATH_MAX") // 200 + 2):
            os.mkdir("d" * 199, dir_fd=descriptor)
            below = os.open("d" * 199, os.O_RDONLY | os.O_DIRECTORY, dir_fd=descriptor)
            os.close(descriptor)
            descriptor = below
        if deepest_text is not None:
            with open(os.open("deep.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=descriptor), "w") as deep:
                deep.write(deepest_text)
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


@pytest.mark.parametrize("filters, stored", [
    (["--exclude", "/drafts"], ["b.md", "top.md"]),
    (["--exclude", "/drafts/"], ["b.md", "top.md"]),
    (["--include", "/drafts"], ["a.md"]),
    (["--exclude", "/docs/drafts"], ["a.md", "top.md"]),
    (["--include", "/*.md"], ["top.md"]),
    (["--exclude", "drafts"], ["top.md"]),  # not anchored: every folder of that name
], ids=["exclude", "exclude-slash", "include", "exclude-path", "include-glob", "unanchored"])
def test_a_pattern_starting_with_a_slash_is_anchored_at_the_folder_imported(tmp_path, filters, stored):
    """As in rsync and .gitignore, ``/drafts`` is the folder imported's own ``drafts``: such a
    pattern matched nothing at all, so ``--exclude /drafts`` imported the drafts it meant to leave out."""
    tree = tmp_path / "tree"
    (tree / "drafts").mkdir(parents=True)
    (tree / "docs" / "drafts").mkdir(parents=True)
    (tree / "drafts" / "a.md").write_text("a\n")
    (tree / "docs" / "drafts" / "b.md").write_text("b\n")
    (tree / "top.md").write_text("top\n")
    mcard("import", str(tree), *filters, db=tmp_path / "cards.db")
    assert names(tmp_path / "cards.db") == stored


@pytest.mark.parametrize("filters, stored", [
    (["--include", "**/holiday/*.jpg"], ["rome.jpg", "sea.jpg"]),
    (["--exclude", "**/holiday/*.jpg"], ["notes.md", "pisa.png", "plan.md"]),
    (["--include", "**/2025/holiday"], ["pisa.png", "rome.jpg"]),
    (["--exclude", "**/2025/holiday/**"], ["notes.md", "plan.md", "sea.jpg"]),
    (["--include", "Pictures/**/holiday/*.jpg"], ["rome.jpg", "sea.jpg"]),
    (["--include", "**/holiday/"], ["pisa.png", "plan.md", "rome.jpg", "sea.jpg"]),
], ids=["include-files", "exclude-files", "include-folder", "exclude-folder", "in-the-middle", "a-name"])
def test_a_double_star_and_a_slash_stand_for_any_folders(tmp_path, filters, stored):
    """``--include '**/holiday/*.jpg'`` took no file at all, and ``--exclude`` with it left out
    none: its ``**/`` was dropped, leaving ``holiday/*.jpg``, which matches only from the folder
    imported; as in ``.gitignore``, ``**/`` is any folders, none included."""
    tree = tmp_path / "home"
    for path in ("Pictures/2025/holiday/rome.jpg", "Pictures/2025/holiday/pisa.png", "Pictures/holiday/sea.jpg",
                 "notes/holiday/plan.md", "notes/notes.md"):
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_text(f"{path}\n")
    mcard("import", str(tree), *filters, db=tmp_path / "cards.db")
    assert names(tmp_path / "cards.db") == stored


def test_an_include_that_takes_no_file_says_so(tmp_path):
    """``mcard import ~/home --include '*.PNG'`` said only "0 new cards, 0 already stored",
    whether the folder held no such file or the pattern was wrong (patterns are case-sensitive)."""
    tree = tmp_path / "home"
    (tree / "Pictures").mkdir(parents=True)
    (tree / "Pictures" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    (tree / "link").symlink_to("Pictures", target_is_directory=True)
    db = tmp_path / "cards.db"
    none = mcard("import", str(tree), "--include", "*.PNG", db=db)
    assert none.stdout.decode() == "0 new cards, 0 already stored; skipped 1 folder: 1 symlink to a folder\n"
    assert none.stderr.decode() == (
        "mcard: no file taken: none found matches --include '*.PNG' (a pattern is case-sensitive;"
        " a path in one starts at the folder named: **/ for any folders)\n"
    )
    excluded = mcard("import", str(tree), "--include", "*.png", "--exclude", "Pictures", db=db).stderr.decode()
    assert "none found matches --include '*.png' without matching --exclude 'Pictures'" in excluded
    assert mcard("import", str(tree), "--include", "*.png", db=db).stderr == b""
