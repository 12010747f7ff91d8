"""Rows another tool wrote with values no card can have (a time out of range or not a number,
a size or content type of the wrong type, empty content). Every command either carries on or
fails in one line, never with a traceback; ``verify`` names each such row; ``export`` refuses
it and writes the rest; ``sync`` skips it and copies the rest."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.test_cli import MCARD, mcard

ODD = b"odd row"
ODD_HASH = hashlib.sha256(ODD).hexdigest()
EMPTY_HASH = hashlib.sha256(b"").hexdigest()

VALUES = {
    "time out of range": ("g_time = ?", 2**62),
    "time not an integer": ("g_time = ?", 1.5),
    "time as text": ("g_time = ?", "yesterday"),
    "size as text": ("size = ?", "abc"),
    "content type as bytes": ("content_type = ?", b"\xff\xfe"),
}
COMMANDS = [["ls"], ["ls", "--json"], ["stats"], ["info", ODD_HASH], ["facets"], ["find", "odd"], ["search", "odd"]]


def store_with(tmp_path: Path, assignment: str, value: object) -> Path:
    """A store of two good cards and one row changed by another tool."""
    db = tmp_path / "cards.db"
    mcard("add", "a good card", "another good card", db=db)
    with sqlite3.connect(db) as raw:
        raw.execute(
            "INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
            " VALUES (?, ?, 1, 1796391308000600, 'sha256', ?, 'text/plain')", (ODD_HASH, ODD, len(ODD)),
        )
        raw.execute(f"UPDATE card SET {assignment} WHERE hash = ?", (value, ODD_HASH))
    raw.close()
    return db


@pytest.mark.parametrize("case", VALUES)
def test_every_command_carries_on_or_fails_in_one_line(tmp_path, case):
    db = store_with(tmp_path, *VALUES[case])
    for command in COMMANDS:
        carries_on_or_fails_in_one_line(mcard(*command, db=db, check=None), command)
    # a query of exclusions alone (its cards tested in Python): the row's time was a TypeError
    command = ["--db", str(db), "find", "--", "-missing"]
    carries_on_or_fails_in_one_line(subprocess.run([MCARD, *command], capture_output=True, timeout=60), command)


def carries_on_or_fails_in_one_line(done: subprocess.CompletedProcess[bytes], command: list[str]) -> None:
    errors = done.stderr.decode()
    assert "Traceback" not in errors and done.returncode in (0, 3), (command, errors)
    assert errors.count("\n") <= 1, (command, errors)
    if done.returncode == 3:
        assert ODD_HASH in errors and "verify" in errors, (command, errors)


@pytest.mark.parametrize("case", VALUES)
def test_verify_names_the_row_and_export_refuses_it_and_writes_the_rest(tmp_path, case):
    """A true content with a content type that is not a MIME type is exported without it (the
    import detects it again); a row without a true time or size is refused."""
    db = store_with(tmp_path, *VALUES[case])
    report = json.loads(mcard("verify", "--json", db=db, check=1).stdout)
    assert report["damaged"] == [ODD_HASH]
    kept = case == "content type as bytes"
    exported = mcard("export", str(tmp_path / "out.jsonl"), db=db, check=0 if kept else 1)
    assert (ODD_HASH in exported.stderr.decode()) != kept and "Traceback" not in exported.stderr.decode()
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(r["content"] for r in records) == ["a good card", "another good card", *(["odd row"] if kept else [])]
    restored = json.loads(mcard("import", "--records", str(tmp_path / "out.jsonl"), "--json", db=tmp_path / "back.db").stdout)
    assert restored["new"] == len(records)


def test_an_empty_row_is_damaged_for_verify_export_and_sync(tmp_path):
    db = tmp_path / "cards.db"
    mcard("add", "a good card", db=db)
    with sqlite3.connect(db) as raw:
        raw.execute(
            "INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
            " VALUES (?, x'', 1, 1796391308000600, 'sha256', 0, 'text/plain')", (EMPTY_HASH,),
        )
    raw.close()
    report = json.loads(mcard("verify", "--json", db=db, check=1).stdout)
    assert report["damaged"] == [EMPTY_HASH] and "empty" in report["reasons"][EMPTY_HASH]
    mcard("export", str(tmp_path / "out.jsonl"), db=db, check=1)
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 1
    synced = subprocess.run([MCARD, "sync", str(db), str(tmp_path / "copy.db")], capture_output=True, timeout=60)
    assert synced.returncode == 1 and EMPTY_HASH in synced.stderr.decode()
    assert json.loads(mcard("stats", "--json", db=tmp_path / "copy.db").stdout)["count"] == 1


def test_show_refuses_a_card_whose_stored_content_was_changed(tmp_path):
    """Another tool replaced a card's content: ``show`` must not pass the forgery off as the
    content its hash names."""
    db = tmp_path / "cards.db"
    true = mcard("add", "my precious document", db=db).stdout.decode().split()[0]
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE card SET content = CAST('attacker text!!' AS BLOB) WHERE hash = ?", (true,))
    raw.close()
    for args in (["show", true], ["show", true, "-o", str(tmp_path / "out.txt")]):
        refused = mcard(*args, db=db, check=3)
        assert refused.stdout == b"" and f"card {true}: damaged" in refused.stderr.decode()
    assert not (tmp_path / "out.txt").exists()


@pytest.mark.parametrize("change", ["content = CAST('attacker text!!' AS BLOB)", "size = -1000"])
async def test_storing_content_whose_stored_row_was_changed_fails_and_says_how_to_repair(tmp_path, change):
    """The true content of a hash whose row another tool changed: ``create`` never hands back
    the forgery as the stored card; once the damaged card is removed, it is stored again."""
    from mcard import AsyncPersistenceWrapper, SQLiteConfig, StorageError

    db = tmp_path / "cards.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(db)) as store:
        true = await store.create("my precious document")
    with sqlite3.connect(db) as raw:
        raw.execute(f"UPDATE card SET {change} WHERE hash = ?", (true.hash,))
    raw.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(db)) as store:
        with pytest.raises(StorageError, match="stored with other content .*remove the damaged card"):
            await store.create("my precious document")
        assert await store.remove(true.hash)
        assert (await store.create("my precious document")).content == "my precious document"


def test_the_notebook_create_never_hands_back_a_changed_row(tmp_path):
    import mcard.notebook
    from mcard import StorageError

    db = tmp_path / "cards.db"
    cards = mcard.notebook.open(str(db))
    true = cards.create("my precious document")
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE card SET content = CAST('attacker text!!' AS BLOB) WHERE hash = ?", (true.hash,))
    raw.close()
    try:
        with pytest.raises(StorageError, match="stored with other content"):
            cards.create("my precious document")
    finally:
        cards.close()


@pytest.mark.parametrize("kind", [2, "yes"])
def test_verify_names_a_row_whose_kind_is_neither_text_nor_bytes(tmp_path, kind):
    db = store_with(tmp_path, "is_text = ?", kind)
    report = json.loads(mcard("verify", "--json", db=db, check=1).stdout)
    assert report["damaged"] == [ODD_HASH] and "neither text" in report["reasons"][ODD_HASH]


@pytest.mark.parametrize("case", [case for case in VALUES if case.startswith("time")])
@pytest.mark.parametrize("query", ["", "good"])
def test_a_time_no_card_can_have_is_left_out_of_the_time_facets(tmp_path, case, query):
    """The good cards' hour is the one bucket; the row's time widens nothing and lands nowhere."""
    db = store_with(tmp_path, *VALUES[case])
    args = ["facets", *([query] if query else []), "--by", "time,year", "--json"]
    facets = json.loads(mcard(*args, db=db).stdout)
    assert [n for _, n in facets["time"]] == [2] and len(facets["time"][0][0]) == len("2026-12-04T14")
    assert [n for _, n in facets["year"]] == [2]


@pytest.mark.parametrize("destination", ["out.jsonl", "out"])
def test_export_refuses_a_text_that_is_not_utf8_and_writes_every_other_card(tmp_path, destination):
    """A text row another tool wrote that is not UTF-8 stopped the whole export (nothing
    written, exit 3): the backup of every other card could not be made."""
    db = tmp_path / "cards.db"
    mcard("add", *(f"card {i}" for i in range(150)), db=db)
    bad = b"\xffnot text"
    bad_hash = hashlib.sha256(bad).hexdigest()
    with sqlite3.connect(db) as raw:
        [(middle,)] = raw.execute("SELECT g_time FROM card ORDER BY g_time LIMIT 1 OFFSET 100").fetchall()
        raw.execute(
            "INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
            " VALUES (?, ?, 1, ?, 'sha256', ?, 'text/plain')", (bad_hash, bad, middle, len(bad)),
        )
    raw.close()
    out = tmp_path / destination
    done = mcard("export", str(out), "--json", *(["--format", "files"] if destination == "out" else []), db=db, check=1)
    report = json.loads(done.stdout)
    assert report["exported"] == 150 and [card["hash"] for card in report["refused"]] == [bad_hash]
    assert "cannot be read" in report["refused"][0]["reason"]
    if destination == "out":
        texts = sorted(path.read_text() for path in out.iterdir())
    else:
        texts = sorted(json.loads(line)["content"] for line in out.read_text().splitlines())
    assert texts == sorted(f"card {i}" for i in range(150))


async def test_a_row_whose_time_is_before_every_card_is_listed_last(tmp_path):
    """Last on a page, its time was read to remember where the page ended: ``list()``,
    ``find("")`` and the explorer failed, though the row is listed elsewhere (its time "?")."""
    from mcard import AsyncPersistenceWrapper, SQLiteConfig

    db = store_with(tmp_path, "g_time = ?", -(2**62))
    async with AsyncPersistenceWrapper(SQLiteConfig(db)) as store:
        assert [card.hash for card in await store.list()][-1] == ODD_HASH
        assert (await store.find("")).total == 3
        first, second = await store.list(limit=2), await store.list(limit=2, offset=2)
        assert [card.hash for card in first + second][-1] == ODD_HASH and len(first + second) == 3
