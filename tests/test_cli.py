"""The real ``mcard`` console script, in a subprocess, against real files."""

import gzip
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_content_types import PNG

MCARD = str(Path(sys.executable).with_name("mcard"))
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
TEN_MIB = 10 * 1024 * 1024


def mcard(*args: str, db: Path, check: int | None = 0, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run([MCARD, *args, "--db", str(db)], capture_output=True, input=stdin, timeout=60, cwd=db.parent)
    if check is not None:
        assert result.returncode == check, result.stderr.decode()
    return result


def as_json(result: subprocess.CompletedProcess[bytes]) -> object:
    return json.loads(result.stdout)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Text, JSON, CSV, SVG, PNG, PDF, gzip and binary files, plus files an import must skip."""
    root = tmp_path / "files"
    (root / "docs" / "deep").mkdir(parents=True)
    (root / "img").mkdir()
    (root / "docs" / "note.txt").write_text("The quick brown fox.\n")
    (root / "docs" / "data.json").write_text('{"cards": [1, 2, 3]}')
    (root / "docs" / "deep" / "table.csv").write_text("name,size,kind\na,1,x\nb,2,y\n")
    (root / "img" / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>')
    (root / "img" / "pixel.png").write_bytes(PNG)
    (root / "docs" / "paper.pdf").write_bytes(PDF)
    (root / "docs" / "archive.gz").write_bytes(gzip.compress(b"zipped"))
    (root / "blob.bin").write_bytes(bytes(range(256)) * 3)
    (root / "latin1.txt").write_bytes("café".encode("latin-1"))
    (root / "empty.txt").write_bytes(b"")
    (root / "huge.bin").write_bytes(b"\x00" * (TEN_MIB + 1))
    (tmp_path / "outside.txt").write_text("outside the tree")
    (root / "link-out.txt").symlink_to(tmp_path / "outside.txt")
    (root / "link-in.txt").symlink_to(root / "docs" / "note.txt")
    return root


def test_import_reports_new_already_stored_and_skipped(folder, tmp_path):
    db = tmp_path / "cards.db"
    summary = as_json(mcard("import", str(folder), "--json", db=db))
    assert summary["new"] == 9 and summary["already_stored"] == 1  # link-in.txt repeats note.txt
    assert summary["skipped"] == {"empty": 1, "too large": 1, "symlink out of tree": 1}
    again = as_json(mcard("import", str(folder), "--json", db=db))
    assert again["new"] == 0 and again["already_stored"] == 10
    human = mcard("import", str(folder), db=db).stdout.decode()
    assert "0 new, 10 already stored" in human and "1 too large" in human


def test_content_types_are_detected_at_import(folder, tmp_path):
    db = tmp_path / "cards.db"
    mcard("import", str(folder), db=db)
    listed = {c["content_type"] for c in as_json(mcard("ls", "--limit", "0", "--json", db=db))}
    assert listed == {
        "text/plain", "application/json", "text/csv", "image/svg+xml", "image/png",
        "application/pdf", "application/gzip", "application/octet-stream",
    }
    stats = as_json(mcard("stats", "--json", db=db))
    assert stats["count"] == 9 and stats["by_content_type"]["image/png"] == {"count": 1, "bytes": len(PNG)}
    assert stats["total_bytes"] == sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink() and 0 < f.stat().st_size <= TEN_MIB)


def test_include_and_exclude_globs(folder, tmp_path):
    db = tmp_path / "cards.db"
    summary = as_json(mcard("import", str(folder), "--include", "*.txt", "--include", "docs/*", "--exclude", "*.pdf", "--json", db=db))
    assert summary["new"] == 5  # note, data, table, archive, latin1 (link-in repeats note)
    types = {c["content_type"] for c in as_json(mcard("ls", "--json", db=db))}
    assert "application/pdf" not in types and "image/png" not in types


def test_show_is_byte_exact(folder, tmp_path):
    db = tmp_path / "cards.db"
    mcard("import", str(folder), db=db)
    for name in ["img/pixel.png", "latin1.txt", "docs/note.txt", "blob.bin"]:
        original = (folder / name).read_bytes()
        card = next(c for c in as_json(mcard("ls", "--limit", "0", "--json", db=db)) if c["size"] == len(original) and _same(db, c["hash"], original))
        assert mcard("show", card["hash"], db=db).stdout == original
        out = tmp_path / "out.bin"
        mcard("show", card["hash"], "-o", str(out), db=db)
        assert out.read_bytes() == original


def _same(db: Path, hash_str: str, data: bytes) -> bool:
    return sqlite3.connect(db).execute("SELECT content = ? FROM card WHERE hash = ?", (data, hash_str)).fetchone()[0] == 1


def test_ls_search_rm_and_exit_codes(folder, tmp_path):
    db = tmp_path / "cards.db"
    mcard("import", str(folder), db=db)
    found = as_json(mcard("search", "quick brown", "--json", db=db))
    assert len(found) == 1 and found[0]["content_type"] == "text/plain"
    assert "quick brown" in mcard("search", "quick brown", db=db).stdout.decode()
    mcard("search", "absent text", db=db, check=1)
    assert len(as_json(mcard("ls", "--limit", "3", "--json", db=db))) == 3
    assert as_json(mcard("ls", "--since", "2999-01-01", "--json", db=db)) == []
    assert len(as_json(mcard("ls", "--until", "2999-01-01T00:00:00+02:00", "--limit", "0", "--json", db=db))) == 9

    target = found[0]["hash"]
    assert as_json(mcard("rm", target, "--json", db=db)) == {"removed": [target], "not_found": []}
    gone = mcard("rm", target, db=db, check=1)
    assert gone.stderr.decode().startswith("mcard: not found") and b"Traceback" not in gone.stderr
    mcard("show", target, db=db, check=1)


@pytest.mark.parametrize(
    "args",
    [["show", "not-hex"], ["ls", "--since", "yesterday"], ["ls", "--limit", "-1"], ["search", ""], ["export", "x.xlsx"], ["nonsense"]],
)
def test_bad_input_is_one_line_on_stderr_with_status_2(args, tmp_path):
    result = mcard(*args, db=tmp_path / "cards.db", check=2)
    assert b"Traceback" not in result.stderr and result.stderr.strip()


def test_storage_failure_is_one_line_with_status_3(tmp_path):
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_bytes(b"plain text, not a database" * 50)
    result = mcard("ls", db=not_a_db, check=3)
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "storage error" in lines[0] and str(not_a_db) in lines[0]


def test_verify_reports_tampered_cards(folder, tmp_path):
    db = tmp_path / "cards.db"
    mcard("import", str(folder), db=db)
    assert as_json(mcard("verify", "--json", db=db))["damaged"] == []
    with sqlite3.connect(db) as raw:
        victim = raw.execute("SELECT hash FROM card WHERE content_type = 'image/png'").fetchone()[0]
        raw.execute("UPDATE card SET content = X'00' WHERE hash = ?", (victim,))
    report = mcard("verify", db=db, check=1)
    assert victim in report.stdout.decode()


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_export_with_content_then_import_records_round_trip(folder, tmp_path, suffix):
    db, copy = tmp_path / "cards.db", tmp_path / "copy.db"
    mcard("import", str(folder), db=db)
    out = tmp_path / f"export{suffix}"
    assert as_json(mcard("export", str(out), "--content", "--json", db=db))["exported"] == 9
    restored = as_json(mcard("import", "--records", str(out), "--json", db=copy))
    assert restored["new"] == 9
    original = as_json(mcard("ls", "--limit", "0", "--json", db=db))
    assert as_json(mcard("ls", "--limit", "0", "--json", db=copy)) == original


def test_export_without_content_lists_metadata(folder, tmp_path):
    db = tmp_path / "cards.db"
    mcard("import", str(folder), db=db)
    out = tmp_path / "meta.jsonl"
    mcard("export", str(out), db=db)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 9 and all("content" not in r for r in records)
    rejected = mcard("import", "--records", str(out), db=tmp_path / "copy.db", check=2)
    assert b"--content" in rejected.stderr


def test_export_to_files_then_reimport_gives_identical_hashes(folder, tmp_path):
    db, copy = tmp_path / "cards.db", tmp_path / "copy.db"
    mcard("import", str(folder), db=db)
    out = tmp_path / "exported"
    mcard("export", str(out), "--format", "files", db=db)
    names = {p.name for p in out.iterdir()}
    assert any(n.endswith(".png") for n in names) and any(n.endswith(".pdf") for n in names)
    assert as_json(mcard("import", str(out), "--json", db=copy))["new"] == 9
    hashes = lambda path: {c["hash"] for c in as_json(mcard("ls", "--limit", "0", "--json", db=path))}  # noqa: E731
    assert hashes(copy) == hashes(db)


def test_database_from_environment(folder, tmp_path):
    db = tmp_path / "env.db"
    env = {**os.environ, "MCARD_DB_PATH": str(db)}
    subprocess.run([MCARD, "import", str(folder / "docs")], env=env, check=True, capture_output=True)
    listed = subprocess.run([MCARD, "ls", "--json"], env=env, check=True, capture_output=True).stdout
    assert len(json.loads(listed)) == 5


def test_options_may_come_before_the_command(folder, tmp_path):
    db = tmp_path / "cards.db"
    subprocess.run([MCARD, "--db", str(db), "import", str(folder / "img")], check=True, capture_output=True)
    listed = subprocess.run([MCARD, "--db", str(db), "--json", "ls"], check=True, capture_output=True).stdout
    assert {c["content_type"] for c in json.loads(listed)} == {"image/png", "image/svg+xml"}


@pytest.mark.postgres
def test_engine_url_from_the_environment(folder, tmp_path, postgres_schema):
    server, schema = postgres_schema
    env = {**os.environ, "MCARD_DB_URL": f"{server}?schema={schema}"}
    subprocess.run([MCARD, "import", str(folder / "img")], env=env, check=True, capture_output=True)
    stats = json.loads(subprocess.run([MCARD, "stats", "--json"], env=env, check=True, capture_output=True).stdout)
    assert stats["count"] == 2 and set(stats["by_content_type"]) == {"image/png", "image/svg+xml"}
