"""Data on stdout, notes on stderr, and ``-`` for standard input or output, with the real
``mcard`` console script: ``add``, ``import -``, ``import --records -``, ``export -``,
``show -o -``, and exporting to a path that is stdout."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
from pathlib import Path

import pytest

from tests.test_cli import MCARD, as_json, mcard
from tests.test_content_types import PNG


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_add_prints_the_hash_of_each_text_and_stores_it(tmp_path):
    db = tmp_path / "cards.db"
    added = mcard("add", "first note", "second note", db=db)
    assert added.stdout.decode().split() == [sha256(b"first note"), sha256(b"second note")]
    assert added.stderr == b""
    assert mcard("show", sha256(b"first note"), db=db).stdout == b"first note"
    again = as_json(mcard("add", "first note", "--json", db=db))
    assert [(card["hash"], card["new"], card["kind"]) for card in again] == [(sha256(b"first note"), False, "text")]


def test_add_dash_stores_standard_input_as_text_or_bytes(tmp_path):
    db = tmp_path / "cards.db"
    text = "piped in\nover two lines\n".encode()
    assert mcard("add", "-", db=db, stdin=text).stdout.decode().strip() == sha256(text)
    assert mcard("add", "-", db=db, stdin=PNG).stdout.decode().strip() == sha256(PNG)
    listed = {card["hash"]: card for card in as_json(mcard("ls", "--json", db=db))}
    assert listed[sha256(text)]["kind"] == "text" and listed[sha256(PNG)]["content_type"] == "image/png"
    assert mcard("show", sha256(PNG), db=db).stdout == PNG


def test_add_stores_nothing_when_one_text_is_bad(tmp_path):
    db = tmp_path / "cards.db"
    mcard("add", "kept", db=db)
    mcard("add", "good", "", db=db, check=2)
    mcard("add", "also good", "-", db=db, check=2, stdin=b"")
    assert [card["hash"] for card in as_json(mcard("ls", "--json", db=db))] == [sha256(b"kept")]
    missing = tmp_path / "never.db"
    mcard("add", "-", db=missing, check=2, stdin=b"")
    assert not missing.exists()


def test_import_dash_stores_standard_input_as_one_card(tmp_path):
    db = tmp_path / "cards.db"
    data = b"one,two\n1,2\n3,4\n"
    summary = as_json(mcard("import", "-", "--json", db=db, stdin=data))
    assert (summary["files"], summary["new"], summary["skipped"]) == (1, 1, {})
    assert as_json(mcard("ls", "--json", db=db))[0]["hash"] == sha256(data)
    empty = as_json(mcard("import", "-", "--json", db=db, stdin=b""))
    assert (empty["new"], empty["skipped"]) == (0, {"empty": 1})
    assert not (tmp_path / "-").exists()


def test_import_dash_together_with_files(tmp_path):
    db = tmp_path / "cards.db"
    (tmp_path / "a.txt").write_text("from a file")
    summary = as_json(mcard("import", "-", str(tmp_path / "a.txt"), "--json", db=db, stdin=b"from stdin"))
    assert (summary["files"], summary["new"]) == (2, 2)


def test_import_records_dash_reads_json_lines_or_csv_from_standard_input(tmp_path):
    source, copy = tmp_path / "cards.db", tmp_path / "copy.db"
    mcard("add", "alpha", "beta", db=source)
    mcard("add", "-", db=source, stdin=PNG)
    csv_export = mcard("export", "-", "--format", "csv", db=source).stdout
    restored = as_json(mcard("import", "--records", "-", "--format", "csv", "--json", db=copy, stdin=csv_export))
    assert restored["new"] == 3
    assert as_json(mcard("ls", "--json", db=copy)) == as_json(mcard("ls", "--json", db=source))
    bad = mcard("import", "--records", "-", db=copy, check=2, stdin=b'{"content": "x"\n')
    assert bad.stderr.decode().startswith("mcard: standard input: line 1: not JSON: ")


def test_export_dash_writes_only_data_to_stdout_and_creates_no_file(tmp_path):
    db = tmp_path / "cards.db"
    mcard("add", "alpha", "beta", db=db)
    result = mcard("export", "-", db=db)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [record["content"] for record in records] == ["beta", "alpha"]
    assert result.stderr == b"mcard: exported 2 cards to standard output\n"
    assert sorted(path.name for path in tmp_path.iterdir() if not path.name.startswith("cards.db")) == []
    csv_rows = mcard("export", "-", "--format", "csv", "--no-content", db=db).stdout.decode().splitlines()
    assert csv_rows[0] == "hash,g_time,size,kind,content_type,hash_algorithm,name,tags,sightings" and len(csv_rows) == 3


def test_export_to_dev_stdout_redirected_to_a_file_holds_only_the_data(tmp_path):
    db, out = tmp_path / "cards.db", tmp_path / "redirected.jsonl"
    mcard("add", "alpha", "beta", db=db)
    with out.open("wb") as stdout:
        done = subprocess.run([MCARD, "--db", str(db), "export", "/dev/stdout"], stdout=stdout, stderr=subprocess.PIPE, timeout=60)
    assert done.returncode == 0 and done.stderr == b"mcard: exported 2 cards to standard output\n"
    assert [json.loads(line)["content"] for line in out.read_bytes().splitlines()] == ["beta", "alpha"]


def test_export_to_a_pipe_through_dev_stdout(tmp_path):
    db = tmp_path / "cards.db"
    mcard("add", "alpha", db=db)
    piped = subprocess.run(f"'{MCARD}' --db '{db}' export /dev/stdout | cat", shell=True, capture_output=True, timeout=60)
    assert [json.loads(line)["content"] for line in piped.stdout.splitlines()] == ["alpha"]
    assert b"exported" not in piped.stdout


def test_export_to_a_named_pipe_or_a_device_writes_json_lines_there(tmp_path):
    """A pipe (a shell's ``>(gzip > cards.jsonl.gz)``, a FIFO) or a device has no suffix to
    tell the format by: it is a stream, written as JSON Lines, as ``-`` is."""
    db, fifo = tmp_path / "cards.db", tmp_path / "pipe"
    mcard("add", "alpha", "beta", db=db)
    os.mkfifo(fifo)
    read: list[bytes] = []
    reader = threading.Thread(target=lambda: read.append(fifo.read_bytes()), daemon=True)
    reader.start()
    mcard("export", str(fifo), db=db)
    reader.join(timeout=60)
    assert [json.loads(line)["content"] for line in read[0].splitlines()] == ["beta", "alpha"]
    assert b"exported 2 cards to /dev/null" in mcard("export", "/dev/null", db=db).stdout
    if Path("/dev/full").exists():
        assert mcard("export", "/dev/full", db=db, check=2).stderr == b"mcard: /dev/full: No space left on device\n"
    (tmp_path / "plain").write_bytes(b"")
    unnamed = mcard("export", "plain", db=db, check=2)
    assert b"cannot tell the export format from 'plain'" in unnamed.stderr


def test_show_dash_writes_to_stdout_not_to_a_file_named_dash(tmp_path):
    db = tmp_path / "cards.db"
    mcard("add", "-", db=db, stdin=PNG)
    assert mcard("show", sha256(PNG), "-o", "-", db=db).stdout == PNG
    assert not (tmp_path / "-").exists()


def test_a_file_report_goes_to_stdout_and_a_limit_note_to_stderr(tmp_path):
    db = tmp_path / "cards.db"
    mcard("add", *(f"card {i}" for i in range(3)), db=db)
    exported = mcard("export", str(tmp_path / "out.jsonl"), db=db)
    assert exported.stdout.decode() == f"exported 3 cards to {tmp_path / 'out.jsonl'}\n" and exported.stderr == b""
    listed = mcard("ls", "--limit", "2", "--nl", db=db)
    assert len(listed.stdout.splitlines()) == 2
    assert listed.stderr == b"mcard: stopped at --limit 2; --offset 2 shows the next ones, --limit 0 all\n"
    assert mcard("ls", "--limit", "3", db=db).stderr == b""
    found = mcard("search", "card", "--limit", "1", "--csv", db=db)
    assert len(found.stdout.splitlines()) == 2 and found.stderr == b"mcard: stopped at --limit 1; --offset 1 shows the next ones, --limit 0 all\n"


def test_a_broken_pipe_ends_quietly(tmp_path):
    db = tmp_path / "cards.db"
    mcard("import", "-", db=db, stdin=b"x")
    mcard("add", *(f"card number {i}" for i in range(2000)), db=db)
    piped = subprocess.run(f"'{MCARD}' --db '{db}' ls --limit 0 | head -n 1", shell=True, capture_output=True, timeout=60)
    assert piped.stdout.startswith(b"HASH") and piped.stderr == b""


def _closing(stream: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    """``mcard ARGS`` started with ``stream`` (0: stdin, 1: stdout, 2: stderr) closed, as ``>&-`` does."""
    return subprocess.run(["bash", "-c", f'"$0" "$@" {stream}>&-', MCARD, *args], capture_output=True, timeout=60)


def test_closed_standard_streams_are_read_or_write_errors_and_a_closed_standard_error_is_quiet(tmp_path):
    db = tmp_path / "cards.db"
    mcard("add", "hello", db=db)
    listed = _closing("1", "ls", "--db", str(db))
    assert listed.returncode == 2 and listed.stderr == b"mcard: standard output: Bad file descriptor\n"
    found = _closing("2", "find", "hello", "--csv", "--db", str(db))  # the count note is not in the data
    assert found.returncode == 0 and found.stdout.decode().splitlines()[1].startswith(sha256(b"hello"))
    assert len(found.stdout.decode().splitlines()) == 2
    exported = _closing("2", "export", "-", "--db", str(db))  # its progress bar has nowhere to go
    assert exported.returncode == 0 and json.loads(exported.stdout)["content"] == "hello"
    for args in (["add", "-"], ["import", "-"], ["import", "--records", "-"]):
        read = _closing("0", *args, "--db", str(db))
        assert read.returncode == 2 and read.stderr == b"mcard: standard input: Bad file descriptor\n", args


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
def test_a_full_standard_output_is_named_in_one_line(tmp_path):
    db = tmp_path / "cards.db"
    mcard("add", "hello", db=db)
    for args in (["ls", "--limit", "0"], ["show", sha256(b"hello")]):
        with open("/dev/full", "wb") as full:
            done = subprocess.run([MCARD, *args, "--db", str(db)], stdout=full, stderr=subprocess.PIPE, timeout=60)
        assert done.returncode == 2 and done.stderr == b"mcard: standard output: No space left on device\n", args
