"""What the real ``mcard`` console script prints from untrusted input reaches the terminal
escaped, and an imported tree with symlink loops is imported all the same."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from mcard import AsyncPersistenceWrapper, SQLiteConfig
from mcard.importing import import_paths
from tests.test_cli import MCARD, as_json, mcard

CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")  # bidi too
"""C0 but newline, DEL, C1 and the bidirectional controls: what must never be printed raw."""
HOSTILE_TEXT = "title \u202e \x1b]0;pwned\x07 clear \x1b[2J csi \x9b31m del \x7f nul \x00 end"
HOSTILE_TYPE = "text/\x1b[31mplain\x9b"
HOSTILE_HASH = "\x1b[2J\x07" + "0" * 60


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A text card with escape sequences in its content (stored from Python: a file with a NUL
    byte is imported as bytes), and a row another tool wrote with escape sequences in its hash
    and content type."""
    path = tmp_path / "cards.db"
    asyncio.run(_stored(path, HOSTILE_TEXT))
    with sqlite3.connect(path) as raw:
        raw.execute(
            "INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
            " VALUES (?, ?, 1, 1000000, 'sha256', 9, ?)",
            (HOSTILE_HASH, b"title raw", HOSTILE_TYPE),
        )
    raw.close()
    return path


async def _stored(path: Path, text: str) -> None:
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.create(text, name="hostile.txt", source="test")


def printed(result: subprocess.CompletedProcess[bytes]) -> str:
    """stdout and stderr, checked to hold no control character but newlines."""
    text = result.stdout.decode("utf-8") + result.stderr.decode("utf-8")
    assert not CONTROL.search(text), text
    return text


@pytest.mark.parametrize(
    "args, status",
    [(["ls"], 0), (["search", "title"], 0), (["find", "title"], 0), (["search", "-i", "TITLE"], 0), (["stats"], 0),
     (["verify"], 1), (["export", "out", "--format", "files"], 1)],
)
def test_terminal_output_shows_control_characters_escaped(db, args, status):
    text = printed(mcard(*args, db=db, check=status))
    if args[0] in ("search", "find"):
        assert "\\x1b]0;pwned\\x07" in text and "\\x9b31m" in text and "\\x7f" in text and "\\u202e" in text
    elif args[0] == "ls":  # a preview as wide as any other: the first escapes
        assert "\\u202e \\x1b]0;pwned\\x07" in text
    assert "\\x1b[31mplain\\x9b" in text or "\\x1b[2J\\x07" in text


@pytest.mark.parametrize("args, status", [(["ls"], 0), (["search", "title"], 0), (["stats"], 0), (["verify"], 1)])
def test_json_output_escapes_control_characters_and_keeps_their_values(db, args, status):
    result = mcard(*args, "--json", db=db, check=status)
    printed(result)
    data, raw = json.loads(result.stdout), result.stdout.decode()
    assert "\\u001b" in raw and ("\\u009b" in raw or args[0] == "verify")
    if args[0] in ("ls", "search"):
        assert {card["content_type"] for card in data} >= {HOSTILE_TYPE}
        assert HOSTILE_HASH in {card["hash"] for card in data}
    elif args[0] == "stats":
        assert HOSTILE_TYPE in data["by_content_type"]
    else:
        assert HOSTILE_HASH in data["damaged"]


@pytest.mark.parametrize("args", [["ls", "--nl"], ["ls", "--csv"], ["ls", "--limit", "0", "--table"], ["search", "title", "--csv"]])
def test_script_formats_escape_control_characters(db, args):
    text = printed(mcard(*args, db=db))
    if "--nl" in args:
        records = [json.loads(line) for line in text.splitlines()]
        assert HOSTILE_TYPE in {record["content_type"] for record in records}
    else:
        assert "\\x1b[31mplain\\x9b" in text or "\\x1b[2J\\x07" in text


def test_arguments_that_are_not_utf8_are_echoed_escaped(db, tmp_path):
    """As the bytes they are (``\\xe9``), which is how an imported file's name shows them too."""
    exported = subprocess.run([MCARD, "--db", str(db), "export", b"caf\xe9.jsonl"], capture_output=True, cwd=tmp_path, timeout=60)
    assert exported.returncode == 1  # the hostile row is refused; the rest is exported
    assert "exported 1 card to caf\\xe9.jsonl" in printed(exported)
    assert (tmp_path.joinpath(os.fsdecode(b"caf\xe9.jsonl"))).stat().st_size > 0
    removed = subprocess.run([MCARD, "--db", str(db), "rm", b"\x9b\xff"], capture_output=True, cwd=tmp_path, timeout=60)
    assert removed.returncode == 2 and len(removed.stderr.splitlines()) == 1
    assert "\\udc9b\\udcff" in printed(removed)  # a value quoted as Python writes it


@pytest.fixture
def tree_with_loops(tmp_path: Path) -> Path:
    """Three files, and symbolic links that go round: to itself, in a pair, through a folder."""
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("first file")
    (root / "sub" / "b.txt").write_text("second file")
    (root / "z.txt").write_text("last file, after the loops")
    (root / "self").symlink_to("self")
    (root / "ping").symlink_to("pong")
    (root / "pong").symlink_to("ping")
    (root / "sub" / "around").symlink_to("../sub/around")
    return root


def test_import_skips_symlink_loops_and_imports_the_rest(tree_with_loops, tmp_path):
    db = tmp_path / "cards.db"
    summary = json.loads(mcard("import", str(tree_with_loops), "--json", db=db).stdout)
    assert summary["new"] == 3 and summary["skipped"] == {"symlink loop": 4}
    human = mcard("import", str(tree_with_loops), db=db).stdout.decode()
    assert "4 symlink loops" in human


async def test_import_paths_counts_symlink_loops_as_skipped(tree_with_loops, tmp_path):
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        summary = await import_paths(store, [tree_with_loops, tree_with_loops / "self"], progress=False)
        stored = {card.hash async for card in store.iterate()}
    assert summary.new == 3 and summary.skipped == {"symlink loop": 5}
    assert stored == {hashlib.sha256(text.encode()).hexdigest() for text in ("first file", "second file", "last file, after the loops")}


def test_json_lines_on_stdout_escape_control_characters_and_restore_them_exactly(db, tmp_path):
    exported = mcard("export", "-", db=db, check=1)  # the row with a forged hash is refused
    text = exported.stdout.decode("utf-8")
    assert not CONTROL.search(text) and "\u2028" not in text
    assert [json.loads(line)["content"] for line in text.splitlines()] == [HOSTILE_TEXT]
    copy = tmp_path / "copy.db"
    mcard("import", "--records", "-", db=copy, stdin=exported.stdout)
    digest = hashlib.sha256(HOSTILE_TEXT.encode()).hexdigest()
    assert mcard("show", digest, db=copy).stdout == HOSTILE_TEXT.encode()


def test_a_preview_of_control_characters_is_no_wider_than_any_other(tmp_path):
    """Escapes are cut to the preview's width, not the characters they stand for."""
    db = tmp_path / "cards.db"
    source = tmp_path / "controls.txt"
    source.write_bytes(b"\x01" * 100)
    mcard("import", str(source), db=db)
    mcard("add", "x" * 100, db=db)
    lines = printed(mcard("ls", db=db)).splitlines()
    assert len(lines) == 3 and len({len(line) for line in lines[1:]}) == 1, lines
    assert "\\x01" in lines[1] + lines[2]


def test_verify_remove_takes_away_a_row_stored_under_no_hash(db):
    """A row another tool stored under a string that is no hash (escape sequences here): `rm`
    cannot name it, `verify --remove` deletes what verify found, and says so escaped."""
    assert b"at least 8 hex digits" in mcard("rm", HOSTILE_HASH, db=db, check=2).stderr
    text = printed(mcard("verify", "--remove", db=db, check=1))
    assert "\\x1b[2J\\x07" in text and "removed 1 damaged card" in text and "1 of 2 cards is damaged; 0 repaired, 1 removed" in text
    assert printed(mcard("verify", db=db)).startswith("checked 1 card: 0 damaged")
    assert "title" in printed(mcard("ls", db=db))
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE card SET content = X'00'")  # the card left, damaged now
    raw.close()
    hint = mcard("verify", "--json", db=db, check=1)
    assert "removed" not in json.loads(hint.stdout) and b"mcard verify --remove mends or deletes them" in hint.stderr
    assert json.loads(mcard("verify", "--remove", "--json", db=db, check=1).stdout)["removed"] == 1
    assert as_json(mcard("ls", "--json", db=db)) == []


def test_verify_remove_mends_a_card_whose_content_is_whole(tmp_path):
    """A content type another tool wrote as ``image/jpeg; charset=binary``: ``show`` served the
    card, and ``verify --remove`` deleted it with its tags."""
    db = tmp_path / "cards.db"
    key = mcard("add", "a photo, say", db=db).stdout.decode().split()[0]
    mcard("tag", key, "keep", db=db)
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE card SET content_type = 'image/jpeg; charset=binary'")
    raw.close()
    done = mcard("verify", "--remove", "--json", db=db, check=1)
    assert {k: json.loads(done.stdout)[k] for k in ("repaired", "removed")} == {"repaired": 1, "removed": 0}
    assert b"1 repaired, 0 removed" in done.stderr
    assert printed(mcard("verify", db=db)).startswith("checked 1 card: 0 damaged")
    assert mcard("show", key, db=db).stdout == b"a photo, say"
    assert as_json(mcard("info", key, "--json", db=db))["tags"] == ["keep"]


def test_a_damaged_row_a_command_meets_says_which_command_mends_it(tmp_path):
    """The message named the Python call ``verify()``, which a user of the command line has not."""
    db = tmp_path / "cards.db"
    mcard("add", "a note", db=db)
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE card SET g_time = 9223372036854775807")
    raw.close()
    for args in (["ls"], ["search", "note"]):
        said = mcard(*args, db=db, check=3).stderr.decode()
        assert "mcard verify --remove mends or removes it" in said and "verify()" not in said
    mcard("verify", "--remove", db=db, check=1)
    assert "a note" in printed(mcard("ls", db=db))


def test_labels_another_tool_stored_as_text_that_is_not_utf8_are_removed_by_verify(tmp_path):
    """One such sighting name made every ``ls`` fail while ``verify`` found nothing to remove."""
    db = tmp_path / "cards.db"
    key = mcard("add", "a note", db=db).stdout.decode().split()[0]
    with sqlite3.connect(db) as raw:
        raw.execute("INSERT INTO sighting (key, hash, name, seen_at) VALUES ('k1', ?, CAST(X'FF41' AS TEXT), 1700000000000000)", (key,))
        raw.execute("INSERT INTO tag (hash, tag) VALUES (?, CAST(X'FF42' AS TEXT))", (key,))
    raw.close()
    assert b"mcard verify --remove" in mcard("ls", db=db, check=3).stderr
    report = json.loads(mcard("verify", "--json", db=db, check=1).stdout)
    assert sorted(label["label"] for label in report["labels"]) == ["b'\\xffB'", "k1"]
    assert b"0 repaired, 2 removed" in mcard("verify", "--remove", db=db, check=1).stderr
    assert "a note" in printed(mcard("ls", db=db))


def test_verify_names_and_removes_a_row_stored_under_a_hash_of_bytes(db):
    """``verify --json`` failed with a TypeError (bytes as a JSON key); ``--remove`` refused."""
    with sqlite3.connect(db) as raw:
        raw.execute("INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
                    " VALUES (?, X'7878', 1, 1000000, 'sha256', 2, 'text/plain')", (HOSTILE_HASH.encode(),))
    raw.close()
    report = json.loads(mcard("verify", "--json", db=db, check=1).stdout)
    named = repr(HOSTILE_HASH.encode())
    assert named in report["damaged"] and named in report["reasons"] and len(report["damaged"]) == 2
    assert json.loads(mcard("verify", "--remove", "--json", db=db, check=1).stdout)["removed"] == 2
    assert printed(mcard("verify", db=db)).startswith("checked 1 card: 0 damaged")


def test_a_hash_another_tool_stored_keeps_the_table_columns_in_line(db):
    """Escaped, its first 12 characters took more room than the column: the rest of the row moved."""
    lines = printed(mcard("ls", db=db)).splitlines()
    at = lines[0].index("G_TIME")
    assert all(re.match(r"\d{4}-\d\d-\d\d", line[at:]) for line in lines[1:]), lines


@pytest.mark.parametrize("output", ["--csv", "--tsv"])
def test_listings_for_a_spreadsheet_show_formulas_in_names_tags_and_snippets_as_text(tmp_path, output):
    source = tmp_path / "=HYPERLINK(A1).txt"
    source.write_text('=HYPERLINK("http://example.invalid/","click") needle')
    db = tmp_path / "cards.db"
    mcard("import", str(source), db=db)
    [card] = as_json(mcard("ls", "--json", db=db))
    mcard("tag", card["hash"], "@risky", db=db)
    for args in (["ls"], ["search", "HYPERLINK"], ["find", "needle"]):
        lines = mcard(*args, output, db=db).stdout.decode().splitlines()
        dialect = {"delimiter": ","} if output == "--csv" else {"delimiter": "\t", "quoting": csv.QUOTE_NONE}
        cells = [cell for row in csv.reader(lines[1:], **dialect) for cell in row]
        assert "'=HYPERLINK(A1).txt" in cells and not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@")]


def on_a_terminal(*args: str, db: Path) -> tuple[int, bytes, str]:
    """``mcard`` run with its stdout a terminal (a pseudo-terminal): its status, what reached
    the terminal, and stderr."""
    import pty

    controller, terminal = pty.openpty()
    try:
        process = subprocess.run([MCARD, *args, "--db", str(db)], stdout=terminal, stderr=subprocess.PIPE, timeout=60, cwd=db.parent)
        os.close(terminal)
        terminal = -1
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal's other end is closed: all is read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    return process.returncode, shown, process.stderr.decode()


def test_show_on_a_terminal_writes_its_escape_sequences_as_text_and_o_dash_as_they_are(tmp_path):
    source = tmp_path / "hostile.txt"
    content = "set \x1b]52;c;ZXZpbA==\x07 title \x1b]0;pwned\x07 over\rwritten\r\nnext line\n"
    source.write_text(content, newline="")
    db = tmp_path / "cards.db"
    mcard("import", str(source), db=db)
    [card] = as_json(mcard("ls", "--json", db=db))
    status, shown, errors = on_a_terminal("show", card["hash"], db=db)
    assert status == 0 and b"\x1b" not in shown and b"\x07" not in shown
    assert b"\\x1b]52;c;ZXZpbA==\\x07" in shown and b"over\\x0dwritten" in shown and "control characters" in errors
    status, shown, _ = on_a_terminal("show", card["hash"], "-o", "-", db=db)
    assert status == 0 and b"\x1b]52;c;ZXZpbA==\x07" in shown
    assert mcard("show", card["hash"], db=db).stdout == content.encode()  # a pipe gets the bytes


def test_show_on_a_terminal_refuses_bytes_that_are_not_text(tmp_path):
    source = tmp_path / "data.bin"
    source.write_bytes(b"\x00\xff\x1b]52;c;ZXZpbA==\x07\xfe")
    db = tmp_path / "cards.db"
    mcard("import", str(source), db=db)
    [card] = as_json(mcard("ls", "--json", db=db))
    status, shown, errors = on_a_terminal("show", card["hash"], db=db)
    assert status == 2 and b"\x1b" not in shown and "-o FILE" in errors
    status, shown, _ = on_a_terminal("show", card["hash"], "-o", "-", db=db)
    assert status == 0 and b"\x1b]52" in shown


@pytest.mark.parametrize("export_format", ["csv", "parquet"])
def test_an_export_in_a_format_that_is_not_escaped_is_not_written_to_a_terminal(tmp_path, export_format):
    source = tmp_path / "hostile.txt"
    source.write_text("set \x1b]52;c;ZXZpbA==\x07 title \x1b]0;pwned\x07\n")
    db = tmp_path / "cards.db"
    mcard("import", str(source), db=db)
    status, shown, errors = on_a_terminal("export", "-", "--format", export_format, db=db)
    assert status == 2 and b"\x1b" not in shown and "write it to a file or a pipe" in errors
    status, shown, _ = on_a_terminal("export", "-", db=db)  # JSON Lines: escaped
    assert status == 0 and b"\\u001b]52;c;ZXZpbA==\\u0007" in shown and b"\x1b" not in shown
    assert b"\x1b]52;c;ZXZpbA==\x07" in mcard("export", "-", "--format", "csv", db=db).stdout  # a pipe gets it as it is


def test_a_terminal_named_by_its_path_is_kept_from_escape_sequences_too(tmp_path):
    """``export /dev/tty --format csv`` and ``show HASH -o /dev/tty`` wrote them raw."""
    import pty

    source = tmp_path / "hostile.txt"
    source.write_text("set \x1b]52;c;ZXZpbA==\x07 title\n")
    (tmp_path / "data.bin").write_bytes(b"\x00\xff\x1b]0;pwned\x07")
    db = tmp_path / "cards.db"
    mcard("import", str(source), str(tmp_path / "data.bin"), db=db)
    text_hash, bytes_hash = (hashlib.sha256(path.read_bytes()).hexdigest() for path in (source, tmp_path / "data.bin"))
    controller, terminal = pty.openpty()
    try:
        device = os.ttyname(terminal)
        refused = mcard("export", device, "--format", "csv", db=db, check=2)
        assert "write it to a file or a pipe" in refused.stderr.decode()
        shown = mcard("show", text_hash, "-o", device, db=db)
        assert "control characters shown as escapes" in shown.stderr.decode()
        assert "a terminal would take them for commands" in mcard("show", bytes_hash, "-o", device, db=db, check=2).stderr.decode()
        os.set_blocking(controller, False)
        reached = os.read(controller, 65536)
    finally:
        os.close(controller)
        os.close(terminal)
    assert b"\\x1b]52;c;ZXZpbA==\\x07" in reached and b"\x1b" not in reached


def test_verify_remove_keeps_a_tag_another_tool_wrote_decomposed(tmp_path):
    """The card keeps ``café`` that a tool on macOS wrote as ``e`` and an accent; it was deleted."""
    db = tmp_path / "cards.db"
    key = mcard("add", "a note", db=db).stdout.decode().split()[0]
    with sqlite3.connect(db) as raw:
        raw.execute("INSERT INTO tag (hash, tag) VALUES (?, ?)", (key, "cafe\u0301"))
    raw.close()
    done = mcard("verify", "--remove", db=db, check=1)
    assert b"repaired 1 damaged row" in done.stdout and b"removed 1 damaged row" in done.stdout
    assert as_json(mcard("info", key, "--json", db=db))["tags"] == ["caf\u00e9"]
    assert printed(mcard("verify", db=db)).startswith("checked 1 card: 0 damaged")
