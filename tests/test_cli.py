"""The real ``mcard`` console script, in a subprocess, against real files."""

import gzip
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from mcard.domain.shown import shown

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
    os.mkfifo(folder / "pipe")
    summary = as_json(mcard("import", str(folder), "--json", db=db))
    assert summary["new"] == 9 and summary["already_stored"] == 1  # link-in.txt repeats note.txt
    assert summary["skipped"] == {"empty": 1, "too large": 1, "symlink out of tree": 1, "not a regular file": 1}
    assert summary["files"] == 10  # stored: with the skipped ones, every file found (the empty one was counted)
    assert summary["sightings_added"] == 10  # each file imported is a sighting, the repeated one too
    again = as_json(mcard("import", str(folder), "--json", db=db))
    assert again["new"] == 0 and again["already_stored"] == 10 and again["sightings_added"] == 0
    human = mcard("import", str(folder), db=db).stdout.decode()
    assert summary["not_utf8"] == 1  # latin1.txt
    assert human == ("0 new cards, 10 already stored; 1 text file not in UTF-8, stored as bytes whose words are not found;"
                     " skipped 4 files: 1 empty, 1 not a regular file, 1 symlink out of tree, 1 too large\n")


def test_import_names_the_files_it_skipped_for_a_reason_to_act_on(folder, tmp_path):
    """A count alone ("1 too large", "2 unreadable") leaves its user to search a tree for the
    files: those are named on stderr, one a line, and in --json; an empty file, a link out of
    the tree or a pipe, skipped by design, is only counted."""
    db = tmp_path / "cards.db"
    os.mkfifo(folder / "pipe")
    (folder / "docs" / "dangling").symlink_to("nowhere.txt")
    (folder / "loop").symlink_to("loop")
    (folder / "esc\x1b]0;x\x07.bin").write_bytes(b"\x00" * (TEN_MIB + 1))
    result = mcard("import", "files", "--json", db=db)
    named = [("files/docs/dangling", "broken symlink"), ("files/esc\x1b]0;x\x07.bin", "too large"),
             ("files/huge.bin", "too large"), ("files/loop", "symlink loop")]  # by path
    assert [(file["path"], file["reason"]) for file in as_json(result)["skipped_files"]] == named  # JSON: as it is
    assert b"\\u001b]0;x\\u0007" in result.stdout  # as escapes of JSON, which a terminal does not obey
    lines = result.stderr.decode().splitlines()
    assert lines[:4] == [f"mcard: skipped ({reason}): {shown(path)}" for path, reason in named]
    assert lines[4].startswith("mcard: 2 files over the store's limit") and len(lines) == 5


def test_import_names_at_most_50_skipped_files_on_stderr_and_all_in_json(tmp_path):
    root = tmp_path / "links"
    root.mkdir()
    for number in range(60):
        (root / f"link{number:02}").symlink_to(f"gone{number:02}")
    db = tmp_path / "cards.db"
    lines = mcard("import", "links", db=db).stderr.decode().splitlines()
    assert lines[:50] == [f"mcard: skipped (broken symlink): links/link{number:02}" for number in range(50)]
    assert lines[50:] == ["mcard: and 10 more files skipped so: import --json lists them all (skipped_files)"]
    named = as_json(mcard("import", "links", "--json", db=db))["skipped_files"]
    assert [file["path"] for file in named] == [f"links/link{number:02}" for number in range(60)]


def test_content_types_are_detected_at_import(folder, tmp_path):
    db = tmp_path / "cards.db"
    mcard("rm", mcard("add", "x", db=db).stdout.decode().strip(), db=db)
    assert mcard("stats", db=db).stdout.decode() == "0 cards, 0 bytes\n"  # not "from - to -" over an empty table
    mcard("import", str(folder), db=db)
    listed = {c["content_type"] for c in as_json(mcard("ls", "--limit", "0", "--json", db=db))}
    assert listed == {
        "text/plain", "application/json", "text/csv", "image/svg+xml", "image/png",
        "application/pdf", "application/gzip", "application/octet-stream",
    }
    stats = as_json(mcard("stats", "--json", db=db))
    assert stats["count"] == 9 and stats["by_content_type"]["image/png"] == {"count": 1, "bytes": len(PNG)}
    assert stats["first"].endswith("Z") and stats["last"].endswith("Z")  # as every time mcard prints
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
    past = mcard("ls", "--offset", "100", db=db)  # said, not a header alone
    assert past.stderr.decode() == "mcard: no card past --offset 100\n"
    path = tmp_path / "notes.txt"
    path.write_text("a note")
    added = mcard("add", str(path), db=db)  # the file's path stored as text: said, with what stores the file
    assert added.stderr.decode() == f"mcard: stored '{path}' as text, not the file it names: mcard import '{path}' stores a file\n"

    target = found[0]["hash"]
    assert as_json(mcard("rm", target, "--json", db=db)) == {"removed": [target], "not_found": []}
    gone = mcard("rm", target, db=db, check=1)
    assert gone.stderr.decode().startswith("mcard: no card with hash") and b"Traceback" not in gone.stderr
    mcard("show", target, db=db, check=1)


@pytest.mark.parametrize(
    "args",
    [["show", "not-hex"], ["ls", "--since", "yesterday"], ["ls", "--limit", "-1"], ["search", ""], ["export", "x.xlsx"],
     ["rm", "abc"], ["nonsense"]],
)
def test_bad_input_is_one_line_on_stderr_with_status_2_and_creates_nothing(args, tmp_path):
    result = mcard(*args, db=tmp_path / "cards.db", check=2)
    assert b"Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, text, said", [
    ("listing.jsonl", '{"hash": "ab", "name": "x"}\n', "line 1: the record has no content"),
    ("notes.jsonl", "just some notes\n", "line 1: not JSON"),
    ("table.csv", "a,b\n1,2\n", "not the header of an mcard CSV export"),
    ("cards.parquet", "not parquet at all", "not a readable Parquet file"),
], ids=["no-content", "not-json", "not-an-export-csv", "not-parquet"])
def test_restoring_a_file_that_is_no_export_makes_no_store(name, text, said, tmp_path):
    """``mcard import --records`` of a file whose first record is none (an export made without
    content, another file) failed with status 2 but left an empty store behind, made for it."""
    if name.endswith(".parquet"):
        pytest.importorskip("pyarrow")
    (tmp_path / name).write_text(text)
    result = mcard("import", "--records", name, db=tmp_path / "copy.db", check=2)
    assert said in result.stderr.decode() and len(result.stderr.splitlines()) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == [name]


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
def test_a_default_export_restores_every_card_with_its_g_time(folder, tmp_path, suffix):
    db, copy = tmp_path / "cards.db", tmp_path / "copy.db"
    mcard("import", str(folder), db=db)
    out = tmp_path / f"export{suffix}"
    assert as_json(mcard("export", str(out), "--json", db=db))["exported"] == 9
    restored = as_json(mcard("import", "--records", str(out), "--json", db=copy))
    assert restored["new"] == 9
    original = as_json(mcard("ls", "--limit", "0", "--json", db=db))
    assert as_json(mcard("ls", "--limit", "0", "--json", db=copy)) == original
    for card in original:
        assert mcard("show", card["hash"], db=copy).stdout == mcard("show", card["hash"], db=db).stdout


def test_export_to_stdout_then_import_records_from_stdin_round_trip(folder, tmp_path):
    db, copy = tmp_path / "cards.db", tmp_path / "copy.db"
    mcard("import", str(folder), db=db)
    exported = mcard("export", "-", db=db)
    assert len(exported.stdout.splitlines()) == 9 and exported.stderr == b"mcard: exported 9 cards to standard output\n"
    restored = as_json(mcard("import", "--records", "-", "--json", db=copy, stdin=exported.stdout))
    assert restored["new"] == 9
    assert as_json(mcard("ls", "--limit", "0", "--json", db=copy)) == as_json(mcard("ls", "--limit", "0", "--json", db=db))


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_an_export_saved_with_a_byte_order_mark_restores_as_it_was(folder, tmp_path, suffix):
    """An editor that saves UTF-8 with a byte order mark: JSON Lines were refused (line 1: not
    JSON), and CSV read its first column as another (the hash went unchecked)."""
    db, copy = tmp_path / "cards.db", tmp_path / "copy.db"
    mcard("import", str(folder), db=db)
    out = tmp_path / f"export{suffix}"
    mcard("export", str(out), db=db)
    out.write_bytes(b"\xef\xbb\xbf" + out.read_bytes())
    assert as_json(mcard("import", "--records", str(out), "--json", db=copy))["new"] == 9
    assert as_json(mcard("ls", "--limit", "0", "--json", db=copy)) == as_json(mcard("ls", "--limit", "0", "--json", db=db))
    text = out.read_text(encoding="utf-8-sig")
    first = as_json(mcard("ls", "--limit", "1", "--json", db=db))[0]["hash"]
    out.write_bytes(b"\xef\xbb\xbf" + text.replace(first, "0" * 64, 1).encode())  # a hash the content does not have
    refused = mcard("import", "--records", str(out), db=tmp_path / "other.db", check=2)
    assert b"hash" in refused.stderr


def test_parquet_export_keeps_g_time_as_a_utc_timestamp(folder, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    db = tmp_path / "cards.db"
    mcard("import", str(folder), db=db)
    out = tmp_path / "cards.parquet"
    mcard("export", str(out), db=db)
    table = pq.read_table(out)
    assert table.schema.field("g_time").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("content").type == pa.binary() and table.schema.field("size").type == pa.int64()
    listed = as_json(mcard("ls", "--limit", "0", "--json", db=db))
    times = [moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ") for moment in table.column("g_time").to_pylist()]
    assert times == [card["g_time"] for card in listed]


def test_export_with_no_content_lists_metadata_only(folder, tmp_path):
    db = tmp_path / "cards.db"
    mcard("import", str(folder), db=db)
    out = tmp_path / "meta.jsonl"
    mcard("export", str(out), "--no-content", db=db)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 9 and all("content" not in r for r in records)
    rejected = mcard("import", "--records", str(out), db=tmp_path / "copy.db", check=2)
    assert b"an export made without content, mcard export --no-content" in rejected.stderr
    folder_export = mcard("export", str(tmp_path / "folder"), "--format", "files", "--no-content", db=db, check=2)
    assert b"a folder of files is the cards' contents" in folder_export.stderr  # it wrote them all
    assert not (tmp_path / "folder").exists()


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


def test_a_records_import_counts_the_sightings_and_tags_it_adds_to_cards_already_stored(folder, tmp_path):
    """Restored over the same cards imported anew, it said "0 new cards, 9 already stored" and
    added their sightings and tags unsaid."""
    db, copy = tmp_path / "cards.db", tmp_path / "copy.db"
    mcard("import", str(folder), db=db)
    hashes = [card["hash"] for card in as_json(mcard("ls", "--json", db=db))]
    mcard("tag", hashes[0], "kept", "2026", db=db)
    mcard("export", str(tmp_path / "cards.jsonl"), db=db)
    shutil.copytree(folder, tmp_path / "elsewhere", symlinks=True)
    mcard("import", str(tmp_path / "elsewhere"), db=copy)  # the same cards, seen at other paths
    restored = mcard("import", "--records", str(tmp_path / "cards.jsonl"), db=copy)
    assert "0 new cards, 9 already stored; 10 sightings and 2 tags added" in restored.stdout.decode()
    again = as_json(mcard("import", "--records", str(tmp_path / "cards.jsonl"), "--json", db=copy))
    assert (again["new"], again["sightings_added"], again["tags_added"]) == (0, 0, 0)


def test_importing_the_folder_that_holds_the_database_never_imports_the_database(tmp_path):
    db = tmp_path / "cards.db"
    (tmp_path / "note.txt").write_text("a note beside the database")
    first = as_json(mcard("import", str(tmp_path), "--json", db=db))
    assert first["new"] == 1 and first["skipped"]["the store's own file"] >= 1
    size = db.stat().st_size
    second = as_json(mcard("import", str(tmp_path), ".", "--json", db=db))
    assert second["new"] == 0 and second["already_stored"] == 2
    third = as_json(mcard("import", str(db), "--json", db=db))
    assert third == {"files": 0, "new": 0, "already_stored": 0, "bytes": 0, "skipped": {"the store's own file": 1},
                     "skipped_files": [], "sightings_added": 0, "tags_added": 0, "removed_before_tagged": 0,
                     "not_utf8": 0}
    assert as_json(mcard("stats", "--json", db=db))["count"] == 1
    assert db.stat().st_size < size * 2


def test_import_says_which_text_files_are_not_utf8_and_so_not_searched(tmp_path):
    """A Latin-1 or UTF-16 ``.txt`` is stored as bytes, as it is: word and text searches do not
    read it, and the import said nothing of it."""
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "latin1.txt").write_bytes("café crème".encode("latin-1"))
    (folder / "utf16.log").write_bytes("hello".encode("utf-16"))
    (folder / "image.bin").write_bytes(bytes(range(256)))
    (folder / "plain.csv").write_text("a,b\n1,2\n")
    (folder / "stray-nul.txt").write_bytes(b"abc\0def")  # UTF-8: a bytes card for its NUL, searched as text
    (folder / "russian.txt").write_bytes("Привет, мир. " .encode("utf-16-le") * 20)  # valid UTF-8 bytes, but no word in it
    db = tmp_path / "cards.db"
    said = mcard("import", str(folder), db=db).stdout.decode()
    assert said.rstrip().endswith("; 3 text files not in UTF-8, stored as bytes whose words are not found")
    assert as_json(mcard("import", str(folder), "--json", db=db))["not_utf8"] == 3
    assert "not in UTF-8" not in mcard("import", str(folder / "plain.csv"), db=db).stdout.decode()
    assert [card["name"] for card in as_json(mcard("find", "def", "--json", db=db))] == ["stray-nul.txt"]


def test_a_store_reached_through_a_link_is_still_its_own(tmp_path):
    db = tmp_path / "data" / "cards.db"
    db.parent.mkdir()
    mcard("add", "x", db=db)
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "link.db").symlink_to(db)
    summary = as_json(mcard("import", str(tmp_path), "--json", db=db))
    assert summary["new"] == 0 and as_json(mcard("stats", "--json", db=db))["count"] == 1


def test_an_hour_as_facets_name_it_is_the_whole_hour_for_since_and_until(tmp_path):
    db, records = tmp_path / "cards.db", tmp_path / "cards.jsonl"
    times = ["2026-03-01T13:59:59.999999Z", "2026-03-01T14:00:00.000000Z", "2026-03-01T14:30:00.000000Z",
             "2026-03-01T14:59:59.999999Z", "2026-03-01T15:00:00.000000Z"]
    records.write_text("".join(json.dumps({"content": f"card {i}", "g_time": t}) + "\n" for i, t in enumerate(times)))
    mcard("import", "--records", str(records), db=db)
    hours = as_json(mcard("facets", "--by", "hour", "--json", db=db))["hour"]
    assert hours == [["2026-03-01T13", 1], ["2026-03-01T14", 3], ["2026-03-01T15", 1]]
    for hour, count in hours:
        listed = as_json(mcard("ls", "--json", "--since", hour, "--until", hour, db=db))
        assert sorted(c["g_time"] for c in listed) == [t for t in times if t.startswith(hour)]
        assert len(listed) == count
    assert len(as_json(mcard("ls", "--json", "--until", "2026-03-01T15+01:00", db=db))) == 4  # to 14:59:59.999999Z
    assert len(as_json(mcard("ls", "--json", "--until", "2026-03-01T14:30", db=db))) == 3  # a minute is its instant


def test_a_date_alone_as_until_includes_that_whole_day(tmp_path):
    db, records = tmp_path / "cards.db", tmp_path / "cards.jsonl"
    times = ["2026-03-01T00:00:00.000000Z", "2026-03-01T23:59:59.999999Z", "2026-03-02T00:00:00.000000Z"]
    records.write_text("".join(json.dumps({"content": f"card {i}", "g_time": t}) + "\n" for i, t in enumerate(times)))
    mcard("import", "--records", str(records), db=db)
    listed = lambda *args: sorted(c["g_time"] for c in as_json(mcard("ls", "--json", *args, db=db)))  # noqa: E731
    assert listed("--until", "2026-03-01") == times[:2]
    assert listed("--since", "2026-03-01", "--until", "2026-03-01") == times[:2]
    assert listed("--since", "2026-03-02") == times[2:]
    assert listed("--until", "2026-03-01T12:00:00Z") == times[:1]
    exported = mcard("export", "-", "--until", "2026-03-01", db=db).stdout.splitlines()
    assert sorted(json.loads(line)["g_time"] for line in exported) == times[:2]


def test_a_tilde_in_the_database_path_means_home(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path)}
    run = lambda *args: subprocess.run([MCARD, *args], env=env, capture_output=True, timeout=60, cwd=tmp_path / "elsewhere")  # noqa: E731
    (tmp_path / "elsewhere").mkdir()
    assert run("--db", "~/cards.db", "add", "at home").returncode == 0
    assert run("add", "also at home", "--db=~/cards.db").returncode == 0
    assert json.loads(run("ls", "--json", "--db", "~/cards.db").stdout)[0]["hash"]
    assert (tmp_path / "cards.db").is_file() and list((tmp_path / "elsewhere").iterdir()) == []
    assert run("stats", "--db", "sqlite:///~/cards.db").returncode == 0
    from_env = subprocess.run([MCARD, "stats", "--json"], env={**env, "MCARD_DB_PATH": "~/cards.db"}, capture_output=True, timeout=60)
    assert json.loads(from_env.stdout)["count"] == 2


@pytest.mark.parametrize("command", [[MCARD], [sys.executable, "-m", "mcard"]], ids=["script", "python-m"])
def test_version_is_the_installed_one(command, tmp_path):
    import mcard as package

    done = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == f"mcard {package.__version__}\n" and done.stderr == ""
    assert list(tmp_path.iterdir()) == []


def test_python_m_mcard_runs_the_command_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mcard", "add", "via -m", "--db", str(tmp_path / "c.db")], capture_output=True, timeout=60)
    assert done.returncode == 0 and len(done.stdout.split()) == 1


def test_tag_and_untag_take_many_hashes_from_standard_input(tmp_path):
    """``tag - TAG`` tags every card a script lists, in one transaction (a call per card
    opened the store each time: 10,000 cards took about 18 minutes)."""
    db = tmp_path / "cards.db"
    hashes = [mcard("add", f"card {i}", db=db).stdout.decode().strip() for i in range(3)]
    listed = "\n".join([hashes[0], hashes[1][:10].upper(), "", hashes[2], hashes[0]]).encode()
    assert as_json(mcard("tag", "-", "bulk", "to do", "--json", db=db, stdin=listed)) == {"cards": 3, "added": 6}
    assert len(as_json(mcard("ls", "--tag", "bulk", "--json", db=db))) == 3
    missing = mcard("tag", "-", "other", db=db, stdin=f"{hashes[0]}\n{'0' * 64}\n".encode(), check=1)
    assert missing.stderr.decode().strip() == (
        f"mcard: no card with hash {'0' * 64}; no card was tagged: the cards listed are tagged all together or not at all")
    unknown_prefix = mcard("untag", "-", "bulk", db=db, stdin=f"{hashes[1]}\nabcdef012345\n".encode(), check=1)
    assert unknown_prefix.stderr.decode().strip() == (
        "mcard: no card with hash abcdef012345; no card was untagged: the cards listed are untagged all together or not at all")
    assert len(as_json(mcard("ls", "--tag", "bulk", "--json", db=db))) == 3
    assert as_json(mcard("ls", "--tag", "other", "--json", db=db)) == []  # all or nothing
    assert as_json(mcard("untag", "-", "bulk", "--json", db=db, stdin=listed)) == {"cards": 3, "removed": 3}


def test_rm_takes_the_hashes_standard_input_lists(tmp_path):
    """``rm -`` removes the cards a pipeline lists, as ``tag -`` tags them: it was refused as
    "a hash or hash prefix is at least 8 hex digits, got '-'"."""
    db = tmp_path / "cards.db"
    hashes = [mcard("add", f"card {i}", db=db).stdout.decode().strip() for i in range(4)]
    listed = "\n".join([hashes[0], f"  {hashes[1][:10].upper()}  ", "", hashes[2], hashes[0]]).encode()
    removed = as_json(mcard("rm", "-", "--json", db=db, stdin=listed))
    assert removed == {"removed": hashes[:3], "not_found": []}
    assert [card["hash"] for card in as_json(mcard("ls", "--json", db=db))] == [hashes[3]]
    missing = mcard("rm", "-", db=db, stdin=f"{hashes[3]}\n{'0' * 64}\n".encode(), check=1)
    assert missing.stdout == b"removed 1 of 2\n" and b"no card with hash " + b"0" * 64 in missing.stderr
    alone = mcard("rm", "-", hashes[3], db=db, check=2)
    assert b"rm - reads the hashes from standard input" in alone.stderr


def test_ls_by_a_name_without_a_wildcard_says_what_names_holding_it_list(tmp_path):
    """``ls --name hello`` listed nothing and said nothing: --name matches whole names."""
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "hello.txt").write_text("a")
    (folder / "say hello.md").write_text("b")
    db = tmp_path / "cards.db"
    mcard("import", str(folder), db=db)
    said = mcard("ls", "--name", "hello", db=db)
    assert said.stdout == b"" and said.stderr == b"mcard: no card is named 'hello': --name matches whole names; --name '*hello*' finds 2 cards\n"
    assert mcard("ls", "--name", "hello", "--type", "image/png", db=db).stderr == (  # counted within the other filters
        b"mcard: no card matches --type 'image/png' --name 'hello'\n")
    assert mcard("ls", "--name", "zzz", db=db).stderr == b"mcard: no card matches --name 'zzz'\n"  # no wider name either
    assert [card["name"] for card in as_json(mcard("ls", "--name", "*hello*", "--json", db=db))] == ["say hello.md", "hello.txt"]


def test_links_to_folders_are_counted_as_folders_skipped(tmp_path):
    """"skipped 2 files: 2 symlink to a folder": a link to a folder is no file (and two are links)."""
    (tmp_path / "elsewhere").mkdir()
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    for name in ("one", "two"):
        (folder / name).symlink_to(tmp_path / "elsewhere")
    said = mcard("import", str(folder), db=tmp_path / "cards.db").stdout.decode()
    assert said.rstrip().endswith("; skipped 2 folders: 2 symlinks to a folder"), said


def test_a_card_named_twice_in_rm_is_counted_once(tmp_path):
    """``rm H H`` (or a hash and its prefix) said "removed 1 of 2", as if a removal had failed."""
    db = tmp_path / "cards.db"
    target, kept = (mcard("add", text, db=db).stdout.decode().strip() for text in ("twice", "kept"))
    said = mcard("rm", target, target[:10], target, db=db)
    assert (said.stdout, said.stderr) == (b"removed 1 of 1\n", b"")
    assert [card["hash"] for card in as_json(mcard("ls", "--json", db=db))] == [kept]
    missing = mcard("rm", kept, "f" * 64, "F" * 64, db=db, check=1)  # one prefix in two cases: one asked
    assert missing.stdout == b"removed 1 of 2\n" and missing.stderr == b"mcard: no card with hash " + b"f" * 64 + b"\n"


def test_an_import_that_skips_files_over_the_size_limit_says_how_to_raise_it(tmp_path):
    """"skipped 1 file: 1 too large" named neither the limit nor a way past it."""
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "clip.mp4").write_bytes(b"\x00" * (TEN_MIB + 1))
    db = tmp_path / "cards.db"
    result = mcard("import", str(folder), db=db)
    assert result.stdout.decode() == "0 new cards, 0 already stored; skipped 1 file: 1 too large\n"
    assert result.stderr.decode() == (
        f"mcard: skipped (too large): {folder / 'clip.mp4'}\n"
        "mcard: 1 file over the store's limit of 10.0 MB (10,485,760 bytes) skipped; a larger limit:"
        " ?max_content_size=BYTES in a --db URL (sqlite:///cards.db?max_content_size=104857600)\n"
    )
    assert json.loads(mcard("import", str(folder), "--json", db=db).stdout)["skipped"] == {"too large": 1}
    raised = subprocess.run([MCARD, "import", str(folder), "--db", f"sqlite:///{db}?max_content_size={2 * TEN_MIB}"],
                            capture_output=True, timeout=60, cwd=tmp_path)
    assert raised.stdout.decode().startswith("1 new card, 0 already stored") and raised.stderr == b""
