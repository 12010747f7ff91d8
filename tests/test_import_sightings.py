"""Imports record where each card was seen: one sighting per file (copies included), per
standard input, per upload; names from outside are kept readable and safe."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mcard import AsyncPersistenceWrapper, SQLiteConfig, ValidationError
from mcard.importing import import_paths, import_stream, import_upload
from tests.test_import_filters import unlistable


@pytest.fixture
async def store(tmp_path):
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "cards.db")) as opened:
        yield opened


def tree(root: Path) -> Path:
    (root / "photos" / "2026").mkdir(parents=True)
    (root / "notes.txt").write_text("same words\n")
    (root / "photos" / "copy of notes.txt").write_text("same words\n")
    (root / "photos" / "2026" / "data.json").write_text('{"a": 1}')
    os.utime(root / "notes.txt", (0, 1_700_000_000))
    return root


async def test_every_file_is_a_sighting_and_copies_share_their_card(store, tmp_path):
    root = tree(tmp_path / "files")
    summary = await import_paths(store, [root], progress=False)
    assert (summary.files, summary.new, summary.already_stored) == (3, 2, 1)
    [notes] = await store.search("same words")
    seen = await store.sightings(notes.hash)
    assert sorted((s.name, s.path) for s in seen) == [("copy of notes.txt", "photos/copy of notes.txt"),
                                                      ("notes.txt", "notes.txt")]
    assert {s.source for s in seen} == {str(root.absolute())} and {s.size for s in seen} == {11}
    assert next(s for s in seen if s.name == "notes.txt").mtime == datetime.fromtimestamp(1_700_000_000, timezone.utc)
    [data] = await store.search('"a"')
    assert (await store.names_of([data.hash])) == {data.hash: "data.json"}


async def test_importing_again_records_nothing_new(store, tmp_path):
    root = tree(tmp_path / "files")
    await import_paths(store, [root], progress=False)
    before = {c.hash: await store.sightings(c.hash) for c in await store.list()}
    await import_paths(store, [root], progress=False)
    assert {c.hash: await store.sightings(c.hash) for c in await store.list()} == before
    (root / "photos" / "extra").mkdir()  # the same folder, or file, spelt another way
    await import_paths(store, [root / "photos" / "extra" / ".." / ".." / ".." / "files"], progress=False)
    await import_paths(store, [root / "photos" / ".." / "notes.txt"], progress=False)
    assert {c.hash: await store.sightings(c.hash) for c in await store.list()} == before


async def test_a_file_given_alone_is_seen_in_its_folder(store, tmp_path):
    root = tree(tmp_path / "files")
    await import_paths(store, [root / "photos" / "2026" / "data.json"], progress=False)
    [card] = await store.list()
    [seen] = await store.sightings(card.hash)
    assert (seen.name, seen.path, seen.source) == ("data.json", "data.json", str((root / "photos" / "2026").absolute()))


async def test_names_that_are_not_text_are_kept_escaped(store, tmp_path):
    root = tmp_path / "odd"
    root.mkdir()
    (root / "bell\x07.txt").write_text("one")
    with open(os.path.join(os.fsencode(root), b"caf\xe9.txt"), "w") as latin1:  # a name that is not UTF-8
        latin1.write("two")
    summary = await import_paths(store, [root], progress=False)
    assert summary.new == 2 and not summary.skipped
    names = sorted((await store.names_of([c.hash for c in await store.list()])).values())
    assert names == ["bell\\x07.txt", "caf\\xe9.txt"]


async def test_a_name_filter_given_as_the_system_gives_the_name_finds_the_file(store, tmp_path):
    """A file's name as ``os.listdir`` or a shell gives it (bytes that are not UTF-8, a control
    character) filters as the name is stored, ``\\xNN``, from Python and the command line."""
    root = tmp_path / "odd"
    root.mkdir()
    (root / "bell\x07.txt").write_text("one")
    with open(os.path.join(os.fsencode(root), b"caf\xe9.txt"), "w") as latin1:
        latin1.write("two")
    await import_paths(store, [root], progress=False)
    for name, content in zip(sorted(os.listdir(root)), ["one", "two"]):  # 'bell\x07.txt', 'caf\udce9.txt'
        assert [card.content for card in await store.list(name=name)] == [content]
        assert [card.content for card in await store.list(name=name[:4] + "*")] == [content]
    listed = subprocess.run([sys.executable, "-m", "mcard", "--db", str(tmp_path / "cards.db"), "ls", "--nl",
                             "--name", b"caf\xe9*"], capture_output=True, text=True)
    assert listed.returncode == 0 and [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["caf\\xe9.txt"]


FAR_MTIMES = (253_402_300_800, -62_135_596_801)
"""Seconds since 1970 of the years 10000 and 0: beyond every time a card or sighting can have."""


@pytest.fixture
def far_times_folder(tmp_path):
    """A folder whose file system keeps modification times of the years 0 and 10000 (ext4 keeps
    1901 to 2446; tmpfs keeps them); skips when there is none."""
    for parent in (tmp_path, Path("/dev/shm")):
        if not parent.is_dir() or not os.access(parent, os.W_OK):
            continue
        folder = Path(tempfile.mkdtemp(dir=parent))
        probe = folder / "probe"
        probe.write_text("")
        kept = True
        for seconds in FAR_MTIMES:
            os.utime(probe, (seconds, seconds))
            kept = kept and os.stat(probe).st_mtime == seconds
        probe.unlink()
        if kept:
            yield folder
            shutil.rmtree(folder)
            return
        shutil.rmtree(folder)
    pytest.skip("no file system here keeps modification times of the years 0 and 10000")


@pytest.mark.parametrize("mtime", FAR_MTIMES)
async def test_a_file_modified_outside_the_times_a_sighting_can_have_is_imported_without_its_mtime(
    store, far_times_folder, mtime
):
    (far_times_folder / "odd.txt").write_text("from a broken clock")
    (far_times_folder / "fine.txt").write_text("from a good clock")
    os.utime(far_times_folder / "odd.txt", (mtime, mtime))
    summary = await import_paths(store, [far_times_folder], progress=False)
    assert summary.new == 2 and not summary.skipped
    [odd] = await store.search("broken clock")
    [seen] = await store.sightings(odd.hash)
    assert (seen.name, seen.mtime) == ("odd.txt", None)
    [fine] = await store.search("good clock")
    assert (await store.sightings(fine.hash))[0].mtime is not None


async def test_standard_input_is_seen_as_such(store):
    await import_stream(store, io.BytesIO(b"piped in"))
    [card] = await store.list()
    [seen] = await store.sightings(card.hash)
    assert (seen.source, seen.name, seen.size) == ("standard input", None, 8)


async def test_an_upload_is_imported_like_a_file_with_its_name(store):
    card, new = await import_upload(store, "table.csv", b"name,size\na,1\nb,2\nc,3\n")
    assert new and card.content == "name,size\na,1\nb,2\nc,3\n" and card.content_type == "text/csv"
    again, new = await import_upload(store, "same table.csv", b"name,size\na,1\nb,2\nc,3\n")
    assert again == card and not new
    assert [(s.name, s.source) for s in await store.sightings(card.hash)] == [("table.csv", "upload"),
                                                                              ("same table.csv", "upload")]
    picture, _ = await import_upload(store, "dot.png", bytes.fromhex("89504e470d0a1a0a") + bytes(20))
    assert isinstance(picture.content, bytes) and picture.content_type == "image/png"


async def test_an_empty_or_too_large_upload_stores_nothing(tmp_path):
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "small.db", max_content_size=10)) as store:
        with pytest.raises(ValidationError, match="empty"):
            await import_upload(store, "empty.txt", b"")
        with pytest.raises(ValidationError, match="max_content_size"):
            await import_upload(store, "big.txt", b"x" * 11)
        assert await store.count() == 0


async def test_an_upload_that_is_not_bytes_is_refused_not_converted(store):
    for name, data in (("five.bin", 5), ("l.bin", [72, 105]), ("a.txt", "str"), ("x", None), (5, b"data")):
        with pytest.raises(ValidationError, match="upload's"):
            await import_upload(store, name, data)
    assert await store.count() == 0
    card, new = await import_upload(store, "view.txt", memoryview(b"from a widget"))
    assert new and card.content == "from a widget"


async def test_one_path_or_one_pattern_is_not_taken_for_a_list_of_characters(store, tmp_path, monkeypatch):
    root = tmp_path / "root"
    for folder in ("a", "b", "ab"):
        (root / folder).mkdir(parents=True)
        (root / folder / f"{folder}.txt").write_text(f"in {folder}\n")
        (root / folder / f"{folder}.md").write_text(f"# {folder}\n")
    monkeypatch.chdir(root)
    summary = await import_paths(store, "ab", progress=False)
    assert summary.files == 2 and sorted(c.content for c in await store.list()) == ["# ab\n", "in ab\n"]
    only_md = await import_paths(store, root, include="*.md", progress=False)
    assert only_md.files == 3
    no_txt = await import_paths(store, Path("a"), exclude="*.txt", progress=False)
    assert no_txt.files == 1
    assert sorted(c.content for c in await store.list()) == ["# a\n", "# ab\n", "# b\n", "in ab\n"]


@pytest.mark.parametrize("pattern, kept", [
    ("drafts", ["a.md", "b.txt", "sub/e.md"]), ("drafts/", ["a.md", "b.txt", "sub/e.md"]),
    ("./drafts/*", ["a.md", "b.txt", "sub/e.md"]), ("**/drafts/**", ["a.md", "b.txt", "sub/e.md"]),
    ("deep", ["a.md", "b.txt", "drafts/c.md", "sub/e.md"]), ("*.md", ["b.txt"]), ("sub/*.md", ["a.md", "b.txt", "drafts/c.md", "drafts/deep/d.md"]),
])
async def test_a_folder_is_excluded_by_its_name_or_path(store, tmp_path, pattern, kept):
    """As rsync, git and ripgrep read it: ``--exclude drafts`` took nothing out."""
    from mcard.importing import iter_files

    root = tmp_path / "root"
    for relative in ("a.md", "b.txt", "drafts/c.md", "drafts/deep/d.md", "sub/e.md"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(relative)
    assert sorted(found.relative for found in iter_files(root, exclude=pattern)) == kept


@pytest.mark.parametrize("paths, include", [(b"bytes", ()), (5, ()), ([Path("."), 5], ()), (["."], b"*.md"),
                                            (["."], ["*.md", 3])])
async def test_paths_and_patterns_of_other_kinds_are_refused(store, paths, include):
    with pytest.raises(ValidationError):
        await import_paths(store, paths, include=include, progress=False)
    assert await store.count() == 0


@pytest.mark.parametrize("batches", [{"batch_files": 0}, {"batch_bytes": 0}, {"batch_files": -1}, {"batch_files": 1.5}])
async def test_batches_of_no_files_are_refused(store, tmp_path, batches):
    """``batch_files=0`` (or ``batch_bytes=0``) read no file per batch and never ended."""
    root = tree(tmp_path / "root")
    with pytest.raises(ValidationError, match=f"{next(iter(batches))} must be a positive integer"):
        await asyncio.wait_for(import_paths(store, [root], progress=False, **batches), 30)
    assert await store.count() == 0


async def test_a_link_to_a_folder_is_not_followed_and_counted(store, tmp_path):
    root = tree(tmp_path / "root")
    (root / "loop").symlink_to(root / "photos", target_is_directory=True)
    summary = await import_paths(store, [root], progress=False)
    assert summary.files == 3 and summary.skipped == {"symlink to a folder": 1}


def test_a_link_swapped_in_after_the_listing_is_not_followed_out_of_the_tree(tmp_path):
    """Files are listed, then read a batch at a time: a file replaced by a link to a file
    outside the tree in between is skipped, never read."""
    from collections import Counter

    from mcard.importing import _read_batch, iter_files

    tree, outside = tmp_path / "tree", tmp_path / "secret.txt"
    tree.mkdir()
    outside.write_text("outside the tree")
    (tree / "a.txt").write_text("inside")
    (tree / "b.txt").write_text("inside too")
    listed = list(iter_files(tree))
    (tree / "b.txt").unlink()
    (tree / "b.txt").symlink_to(outside)
    os.mkfifo(tree / "a.txt.new")
    os.replace(tree / "a.txt.new", tree / "a.txt")  # a pipe: never opened
    writer = subprocess.Popen([sys.executable, "-c", f"open({str(tree / 'a.txt')!r}, 'w').write('x')"])
    try:
        for _ in range(500):  # until the writer waits in the kernel for a reader of the pipe
            if Path(f"/proc/{writer.pid}/wchan").read_text() in ("wait_for_partner", "fifo_open"):
                break
            time.sleep(0.01)
        skipped: Counter[str] = Counter()
        cards, _ = _read_batch(listed, 1024, skipped)
        assert cards == [] and skipped == Counter({"changed during the import": 1, "not a regular file": 1})
        with pytest.raises(subprocess.TimeoutExpired):
            writer.wait(timeout=0.5)  # still waiting for a reader: the import did not open the pipe
    finally:
        writer.kill()
        writer.wait()


def test_a_folder_swapped_for_a_link_after_the_listing_is_not_followed_out_of_the_tree(tmp_path):
    """A folder of the tree replaced by a link to a folder outside it, between the listing and
    the read: its file is skipped, never read through the link (only the file's own name was
    opened without following links)."""
    from collections import Counter

    from mcard.importing import _read_batch, iter_files

    tree, secret = tmp_path / "tree", tmp_path / "secret"
    (tree / "z").mkdir(parents=True)
    secret.mkdir()
    (tree / "a.txt").write_text("inside")
    (tree / "z" / "notes.txt").write_text("harmless")
    (secret / "notes.txt").write_text("PRIVATE KEY")
    listed = list(iter_files(tree))
    (tree / "z").rename(tree / "z.old")
    (tree / "z").symlink_to(secret)
    skipped: Counter[str] = Counter()
    cards, _ = _read_batch(listed, 1024, skipped)
    assert [card.content for card in cards] == ["inside"] and skipped == Counter({"changed during the import": 1})


def test_files_and_folders_removed_after_the_listing_are_counted_as_removed_not_unreadable(tmp_path):
    """Files are listed, then read: a file deleted in between, or a folder deleted before it was
    listed, is called removed, not unreadable (which sends its user looking at permissions)."""
    from collections import Counter

    from mcard.importing import _read_batch, iter_files

    tree = tmp_path / "tree"
    for folder in ("a", "b"):
        (tree / folder).mkdir(parents=True)
        (tree / folder / "x.txt").write_text(f"in {folder}")
    (tree / "top.txt").write_text("stays")
    (tree / "gone.txt").write_text("deleted after the listing")
    skipped: Counter[str] = Counter()
    found = iter_files(tree, skipped=skipped)
    listed = [next(found)]  # gone.txt: the walk has listed tree, not yet a or b
    shutil.rmtree(tree / "b")
    listed += list(found)
    (tree / "gone.txt").unlink()
    cards, _ = _read_batch(listed, 1024, skipped)
    assert sorted(card.content for card in cards) == ["in a", "stays"]
    assert skipped == Counter({"removed during the import": 2})


async def test_a_file_with_a_nul_byte_near_its_start_is_bytes_not_text(store, tmp_path):
    """A zeroed file of 4 KiB and a UTF-16 note were stored as text/plain: valid UTF-8, but
    no text (a zeroed disk image of 1 GB would then have been indexed for words, holding 15 GB)."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "zeros.img").write_bytes(bytes(4096))
    (tree / "note-utf16.txt").write_bytes("a note".encode("utf-16-le"))
    (tree / "note.txt").write_text("a note")
    (tree / "late-nul.txt").write_bytes(b"a note\n" * 2000 + b"\x00")  # past the first 8,000 bytes
    await import_paths(store, [tree], progress=False)
    kinds = {name: (card.is_text, card.content_type) for card in await store.list()
             for name in [(await store.names_of([card.hash]))[card.hash]]}
    assert kinds == {"zeros.img": (False, "application/octet-stream"), "note-utf16.txt": (False, "application/octet-stream"),
                     "note.txt": (True, "text/plain"), "late-nul.txt": (True, "text/plain")}
    assert sorted((await store.names_of([c.hash for c in await store.find("note")])).values()) == ["late-nul.txt", "note.txt"]


async def test_a_link_to_nothing_is_a_broken_symlink(store, tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "note.txt").write_text("here")
    (tree / "dangling").symlink_to("nowhere.txt")
    (tree / "into a missing folder").symlink_to("missing/x.txt")
    summary = await import_paths(store, [tree], progress=False)
    assert summary.new == 1 and summary.skipped == {"broken symlink": 2}


async def test_a_folder_that_cannot_be_listed_is_counted(store, tmp_path):
    """Folders nested deeper than the system's longest path cannot be listed: the import says
    so rather than finding no file there."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "top.txt").write_text("listed")
    unlistable(tree, deepest_text="too deep to list")
    summary = await import_paths(store, [tree], progress=False)
    assert summary.files == 1 and summary.skipped["unreadable folder"] >= 1


def _imports_at_once(target: str, folder: Path, count: int) -> list[dict[str, object]]:
    """``count`` processes importing ``folder`` into ``target`` at the same moment: their summaries."""
    start = time.time() + 2  # each process waits for it, so that they save at once
    script = ("import sys, time; time.sleep(max(0, float(sys.argv[1]) - time.time()));"
              " from mcard.cli import main; sys.exit(main(sys.argv[2:]))")
    processes = [
        subprocess.Popen([sys.executable, "-c", script, str(start), "import", str(folder), "--json", "--db", target],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(count)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0] * count, [err.decode() for _, err in outputs]
    return [json.loads(out) for out, _ in outputs]


def _same_files_imported_at_once(target: str, folder: Path) -> None:
    summaries = _imports_at_once(target, folder, 3)
    assert sum(summary["new"] for summary in summaries) == 400
    assert sum(summary["sightings_added"] for summary in summaries) == 600


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_imports_of_the_same_files_at_once_count_each_sighting_once(tmp_path, engine):
    """Three imports of the same 3,000 files at once reported 7,000 to 9,000 sightings added."""
    from tests.postgres_support import fresh_schema

    folder = tmp_path / "files"
    folder.mkdir()
    for i in range(600):
        (folder / f"f{i}.txt").write_text(f"file {i % 400}\n")  # 400 contents, 200 of them twice
    if engine == "sqlite":
        _same_files_imported_at_once(str(tmp_path / "cards.db"), folder)
    else:
        for url, schema in fresh_schema():
            _same_files_imported_at_once(f"{url}?schema={schema}", folder)


async def test_import_paths_names_the_files_skipped_for_a_reason_to_act_on(store, tmp_path):
    from mcard.importing import SkippedFile

    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "note.txt").write_text("stored")
    (tree / "empty.txt").write_text("")
    (tree / "big.bin").write_bytes(b"x" * (store.config.max_content_size + 1))
    (tree / "dangling").symlink_to("nowhere")
    summary = await import_paths(store, [tree], progress=False)
    assert summary.skipped == {"empty": 1, "too large": 1, "broken symlink": 1}
    assert summary.skipped_files == [SkippedFile(str(tree / "big.bin"), "too large"),
                                     SkippedFile(str(tree / "dangling"), "broken symlink")]
    assert summary.as_dict()["skipped_files"] == [{"path": str(tree / "big.bin"), "reason": "too large"},
                                                  {"path": str(tree / "dangling"), "reason": "broken symlink"}]


async def test_cards_another_writer_removes_before_they_are_tagged_are_left_out_and_counted(store, tmp_path, monkeypatch):
    """``import --tag`` raced with an ``rm`` of the same cards: tagging failed as a whole
    ("cannot tag cards that are not stored"), ending the import after a batch, exit 2."""
    import mcard.importing as importing

    root = tmp_path / "files"
    root.mkdir()
    for n in range(12):
        (root / f"{n}.txt").write_text(f"file {n}")
    real_save, removed = importing.save_all_but_held, set()

    async def save_then_removed_elsewhere(target, cards, sightings):
        saved = await real_save(target, cards, sightings)
        async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "cards.db")) as other:
            removed.update(card.content for card in cards[::2])
            await other.remove_many([card.hash for card in cards[::2]])
        return saved

    monkeypatch.setattr(importing, "save_all_but_held", save_then_removed_elsewhere)
    summary = await import_paths(store, root, tags=["kept"], batch_files=4)
    assert (summary.files, summary.new, summary.removed_before_tagged, summary.tags_added) == (12, 12, 6, 6)
    assert "6 cards removed by another writer before being tagged" in str(summary)
    assert {card.content for card in await store.list(tag="kept")} == {f"file {n}" for n in range(12)} - removed
