"""Names and tags on the command line: ``tag``, ``untag``, ``info``, and listings that show the
latest name and filter by tag, type and name, with the real console script."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.test_cli import as_json, mcard


@pytest.fixture
def db(tmp_path: Path) -> Path:
    folder = tmp_path / "files"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("the same words\n")
    (folder / "sub" / "copy of notes.txt").write_text("the same words\n")
    (folder / "data.json").write_text('{"n": 1}')
    path = tmp_path / "cards.db"
    mcard("import", str(folder), db=path)
    return path


def hash_of(db: Path, name: str) -> str:
    return next(r["hash"] for r in as_json(mcard("ls", "--json", db=db)) if r["name"] == name)


def test_listings_show_the_latest_name_and_the_tags(db):
    records = as_json(mcard("ls", "--json", db=db))
    assert sorted(r["name"] for r in records) == ["copy of notes.txt", "data.json"]
    assert all(r["tags"] == [] for r in records)
    header, *rows = mcard("ls", db=db).stdout.decode().splitlines()
    assert header.split()[:6] == ["HASH", "G_TIME", "SIZE", "TYPE", "NAME", "PREVIEW"]
    assert any("copy of notes.txt" in row and "the same words" in row for row in rows)
    rows = list(csv.DictReader(io.StringIO(mcard("ls", "--csv", db=db).stdout.decode())))
    assert {row["name"] for row in rows} == {"copy of notes.txt", "data.json"} and {row["tags"] for row in rows} == {"[]"}


def test_tag_untag_and_filter_by_tag(db):
    notes = hash_of(db, "copy of notes.txt")
    result = as_json(mcard("tag", notes[:10], "todo", "two words", "--json", db=db))
    assert result == {"hash": notes, "added": 2, "tags": ["todo", "two words"]}
    assert [r["hash"] for r in as_json(mcard("ls", "--tag", "todo", "--json", db=db))] == [notes]
    assert as_json(mcard("ls", "--tag", "todo", "--tag", "other", "--json", db=db)) == []
    assert [r["hash"] for r in as_json(mcard("find", 'tag:"two words"', "--json", db=db))] == [notes]
    assert as_json(mcard("untag", notes, "todo", "absent", "--json", db=db))["removed"] == 1
    assert as_json(mcard("ls", "--tag", "todo", "--json", db=db)) == []


def test_ls_filters_by_type_and_name(db):
    assert [r["name"] for r in as_json(mcard("ls", "--type", "application/*", "--json", db=db))] == ["data.json"]
    assert [r["name"] for r in as_json(mcard("ls", "--name", "notes.*", "--json", db=db))] == ["copy of notes.txt"]
    streamed = as_json(mcard("ls", "--limit", "0", "--name", "*.json", "--json", db=db))
    assert [r["name"] for r in streamed] == ["data.json"]


def test_info_lists_every_sighting(db):
    notes = hash_of(db, "copy of notes.txt")
    data = as_json(mcard("info", notes[:8], "--json", db=db))
    assert [(s["name"], s["path"]) for s in data["sightings"]] == [("notes.txt", "notes.txt"),
                                                                   ("copy of notes.txt", "sub/copy of notes.txt")]
    assert all(s["source"].endswith("files") and s["size"] == 15 for s in data["sightings"])
    shown = mcard("info", notes, db=db).stdout.decode()
    assert "sightings: 2" in shown and "sub/copy of notes.txt" in shown


def test_info_tells_sightings_of_one_file_apart_by_its_mtime(db):
    """A file imported again after it was touched is a sighting of its own: the table showed two
    rows alike (when, name, path, source) with nothing to tell them apart."""
    import os

    folder = db.parent / "files"
    os.utime(folder / "data.json", (0, 1_700_000_000))
    mcard("import", str(folder), db=db)
    os.utime(folder / "data.json", (0, 1_800_000_000))
    mcard("import", str(folder), db=db)
    header, *rows = mcard("info", hash_of(db, "data.json"), db=db).stdout.decode().split("sightings: 3\n")[1].splitlines()
    assert header.split() == ["SEEN_AT", "NAME", "PATH", "MTIME", "SOURCE"]
    assert [row.split()[3] for row in rows[1:]] == ["2023-11-14T22:13:20.000000Z", "2027-01-15T08:00:00.000000Z"]


def test_info_has_the_fields_of_a_listed_record_and_its_sightings(db):
    notes = hash_of(db, "copy of notes.txt")
    [listed] = [r for r in as_json(mcard("ls", "--json", db=db)) if r["hash"] == notes]
    data = as_json(mcard("info", notes, "--json", db=db))
    assert {key: value for key, value in data.items() if key != "sightings"} == listed
    assert data["name"] == "copy of notes.txt"
    assert "name: copy of notes.txt" in mcard("info", notes, db=db).stdout.decode().splitlines()


def test_label_failures_are_one_line_with_their_status(db):
    notes = hash_of(db, "copy of notes.txt")
    bad = mcard("tag", notes, "bell\x07", db=db, check=2)
    assert bad.stderr.decode().count("\n") == 1 and "\\x07" in bad.stderr.decode()
    assert b"no card with hash" in mcard("tag", "0" * 64, "x", db=db, check=1).stderr
    assert b"no card with hash" in mcard("info", "0" * 12, db=db, check=1).stderr
    assert as_json(mcard("info", notes, "--json", db=db))["tags"] == []  # nothing half-done


def test_names_written_by_another_tool_are_shown_escaped(db):
    """A name another tool wrote that reorders or hides text (U+202E, U+200B) is shown escaped;
    one with control characters (ESC, BEL) is one mcard does not store: left out, newer as it
    is, and named by verify."""
    import sqlite3

    notes = hash_of(db, "copy of notes.txt")
    with sqlite3.connect(db) as raw:
        raw.executemany("INSERT INTO sighting (key, hash, name, seen_at) VALUES (?, ?, ?, ?)",
                        [("k", notes, "a\u202eb\u200bc.txt", 9999999999999998), ("c", notes, "\x1b]0;pwned\x07.txt", 9999999999999999)])
    raw.close()
    table = mcard("ls", db=db).stdout.decode()
    assert "a\\u202eb\\u200bc.txt" in table and "\u202e" not in table and "pwned" not in table
    record = next(r for r in as_json(mcard("ls", "--json", db=db)) if r["hash"] == notes)
    assert record["name"] == "a\u202eb\u200bc.txt"  # JSON keeps the value, escaped in the text
    assert "\\u202e" in mcard("ls", "--json", db=db).stdout.decode()
    json.loads(mcard("info", notes, "--json", db=db).stdout)
    assert "pwned" not in mcard("info", notes, db=db).stdout.decode()
    assert "1 sighting or tag" in mcard("verify", db=db, check=1).stdout.decode()


def listed_files(tmp_path: Path, texts: dict[str, str]) -> tuple[int, list[str]]:
    """Where ``mcard ls`` puts its PREVIEW column, and its lines, after importing the files
    ``texts`` names (and plain.txt)."""
    folder = tmp_path / "files"
    folder.mkdir()
    for name, text in {**texts, "plain.txt": "plain ascii note"}.items():
        (folder / name).write_text(text)
    db = tmp_path / "cards.db"
    mcard("import", str(folder), db=db)
    lines = mcard("ls", db=db).stdout.decode().splitlines()
    return lines[0].index("PREVIEW"), lines


def test_a_table_aligns_names_and_previews_of_wide_characters(tmp_path):
    """A CJK character takes two columns of a terminal: names are cut, and columns padded, by
    the columns they take (cut to 24 characters, a CJK name took 48 and pushed its preview on)."""
    header, lines = listed_files(tmp_path, {"東京メモ長い名前のファイルです.txt": "東京の天気は晴れです。" * 6})
    plain = next(line for line in lines if "plain.txt" in line)
    wide = next(line for line in lines if "東京メモ" in line)
    assert plain.index("plain ascii note") == header
    name, preview = wide.split("…", 1)[0], wide.split("…", 1)[1]
    assert name.endswith("東京メモ長い名前のファ") and preview.startswith("   東京の天気は晴れです。")  # 22 + 1 columns, 1 + 2 spaces
    assert wide.endswith("…") and len(preview.strip().rstrip("…")) * 2 <= 48


@pytest.mark.parametrize("text, columns", [
    ("ที่นี่ดีมาก", 6),  # Thai vowels and tone marks above their consonant
    ("हिंदी", 4),  # Devanagari: the nasal sign above takes none, the vowel signs ि and ी one each
    ("\u1112\u1161\u11ab\u1100\u116e\u11a8", 4),  # Hangul decomposed (NFD), as macOS names files
    ("\u2764\ufe0f ok", 4),  # the emoji presentation selector
    ("cafe\u0301", 4),
])
def test_a_terminal_column_is_counted_for_what_it_draws(text, columns):
    from mcard.cli.output import columns_of

    assert columns_of(text) == columns


def test_a_table_aligns_names_of_thai_after_their_marks(tmp_path):
    header, lines = listed_files(tmp_path, {"ที่นี่ดีมาก.txt": "a Thai note"})
    thai = next(line for line in lines if "a Thai note" in line)
    assert thai.index("a Thai note") == header + 5  # five marks, drawn in no column of their own


def test_a_tag_holding_a_comma_or_a_quote_is_quoted_for_people(db):
    """Tags are listed joined by ", ": the tag ``a,b`` must not read as the tags a and b."""
    notes = hash_of(db, "copy of notes.txt")
    said = mcard("tag", notes, "a,b", "c", "it's", db=db).stdout.decode()
    assert said.rstrip().endswith("tags now: 'a,b', c, 'it''s'")
    assert "tags: 'a,b', c, 'it''s'" in mcard("info", notes, db=db).stdout.decode()


REMOVED_WHILE_TAGGING = """
import subprocess, sys
from mcard.cli import main
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper
rm, db, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
def removed_first(original):
    async def write(self, *args, **kwargs):  # another process removes the card at this moment
        subprocess.run([rm, "rm", "--db", db, argv[1] if argv[1] != "-" else sys.stdin_hash], check=True, capture_output=True)
        return await original(self, *args, **kwargs)
    return write
AsyncPersistenceWrapper.tag = removed_first(AsyncPersistenceWrapper.tag)
AsyncPersistenceWrapper.tag_many = removed_first(AsyncPersistenceWrapper.tag_many)
sys.stdin_hash = sys.stdin.readline().strip() if argv[1] == "-" else None
if argv[1] == "-":
    import io
    sys.stdin = io.StringIO(sys.stdin_hash + "\\n")
sys.exit(main(argv))
"""


@pytest.mark.parametrize("how", ["one", "stdin"])
def test_a_card_removed_while_it_is_tagged_is_not_found_not_bad_input(db, how):
    """``tag`` looks the card up, then tags it: a removal by another process in between
    failed the tag with the store's ValidationError, status 2 (bad usage or input), where a
    card removed a moment earlier is status 1 (not found)."""
    import subprocess
    import sys

    from tests.test_cli import MCARD

    key = hash_of(db, "data.json")
    argv = ["tag", key if how == "one" else "-", "raced", "--db", str(db)]
    done = subprocess.run([sys.executable, "-c", REMOVED_WHILE_TAGGING, str(MCARD), str(db), *argv],
                          capture_output=True, text=True, timeout=60, input=key + "\n" if how == "stdin" else None)
    assert done.returncode == 1, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"mcard: no card with hash {key}")
    assert mcard("info", key, db=db, check=1).returncode == 1


def test_a_tag_typed_composed_or_decomposed_is_one_tag(db):
    notes, data = hash_of(db, "copy of notes.txt"), hash_of(db, "data.json")
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    assert as_json(mcard("tag", notes, decomposed, "--json", db=db))["tags"] == [composed]
    assert as_json(mcard("tag", data, composed, "--json", db=db))["added"] == 1
    assert as_json(mcard("tag", notes, composed, "--json", db=db))["added"] == 0
    for typed in (composed, decomposed):
        assert {r["hash"] for r in as_json(mcard("find", f"tag:{typed}", "--json", db=db))} == {notes, data}
    rows = [line.split() for line in mcard("facets", "--by", "tag", db=db).stdout.decode().splitlines()[1:]]
    assert [row[:2] for row in rows if row] == [[composed, "2"]]
    assert as_json(mcard("untag", data, decomposed, "--json", db=db))["removed"] == 1


def test_a_name_filter_finds_a_name_seen_decomposed(tmp_path):
    folder = tmp_path / "from a mac"
    folder.mkdir()
    (folder / "cafe\u0301 menu.txt").write_text("soup of the day\n")
    path = tmp_path / "cards.db"
    mcard("import", str(folder), db=path)
    for typed in ("name:caf\u00e9*", "name:cafe\u0301*", 'name:"caf? menu.txt"'):
        assert [r["name"] for r in as_json(mcard("find", typed, "--json", db=path))] == ["cafe\u0301 menu.txt"], typed


def folder_of(folder: Path, files: dict[str, str]) -> Path:
    """``folder``, made, holding a text file per name."""
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_import_tags_every_card_it_stores(tmp_path):
    """``mcard import ~/Pictures/holiday --tag holiday`` was refused (unrecognized arguments:
    --tag): the cards of a folder could only be tagged afterwards, by piping their hashes from
    a listing into ``tag -``."""
    folder = folder_of(tmp_path / "holiday", {**{f"note {i}.txt": f"day {i}\n" for i in range(3)}, "copy.txt": "day 0\n"})
    db = tmp_path / "cards.db"
    summary = as_json(mcard("import", str(folder), "--tag", "holiday", "--tag", " 2026 ", "--json", db=db))
    assert (summary["new"], summary["already_stored"], summary["tags_added"]) == (3, 1, 6)
    assert sorted(tuple(r["tags"]) for r in as_json(mcard("ls", "--json", db=db))) == [("2026", "holiday")] * 3
    (folder / "note 3.txt").write_text("day 3\n")
    again = mcard("import", str(folder), "--tag", "holiday", "--tag", "seen twice", db=db).stdout.decode()
    assert again.startswith("1 new card, 4 already stored; 1 sighting and 5 tags added")
    assert len(as_json(mcard("ls", "--tag", "seen twice", "--json", db=db))) == 4
    assert mcard("import", "-", "--tag", "stdin", db=db, stdin=b"piped\n").stdout.startswith(b"1 new card")
    assert [r["tags"] for r in as_json(mcard("ls", "--tag", "stdin", "--json", db=db))] == [["stdin"]]
    copy = tmp_path / "copy.db"
    mcard("import", "--records", "-", "--tag", "restored", db=copy, stdin=mcard("export", "-", db=db).stdout)
    restored = as_json(mcard("ls", "--tag", "restored", "--json", db=copy))
    assert len(restored) == 5 and {"holiday", "2026", "restored"} <= {tag for r in restored for tag in r["tags"]}


def test_import_refuses_a_bad_tag_before_storing_anything(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    db = tmp_path / "cards.db"
    refused = mcard("import", str(folder), "--tag", "\x1b]0;x\x07", db=db, check=2)
    assert refused.stderr.decode() == "mcard: a tag must not hold control characters or lone surrogates: '\\x1b]0;x\\x07'\n"
    assert not db.exists()


def test_ls_names_a_tag_no_card_has_with_the_closest_one(db):
    """``mcard ls --tag holdiay`` printed the header alone and nothing on stderr: a mistyped tag
    looked like a tag whose cards were all gone."""
    mcard("tag", hash_of(db, "data.json"), "holiday", "to do", db=db)
    listed = mcard("ls", "--tag", "holdiay", "--tag", "to do", "--tag", "zzz", db=db)
    assert listed.stdout.decode().splitlines()[1:] == []
    assert listed.stderr.decode() == "mcard: no card is tagged 'holdiay'; did you mean 'holiday'?\nmcard: no card is tagged 'zzz'\n"
    assert mcard("ls", "--tag", "holiday", "--type", "image/*", db=db).stderr == (  # tagged, not of that type
        b"mcard: no card matches --tag 'holiday' --type 'image/*'\n")
    assert mcard("ls", "--tag", " holiday ", "--json", db=db).stderr == b""
    found = mcard("find", 'tag:holdiay tag:"to do"', db=db, check=1)
    assert found.stderr.decode() == "mcard: no card matches 'tag:holdiay tag:\"to do\"'; no card is tagged 'holdiay'; did you mean 'holiday'?\n"


def test_find_takes_a_tag_glob_and_says_when_it_matches_no_tag(db):
    """``mcard find 'tag:trip-*'`` keeps the cards with a tag the glob matches; one matching no
    tag was named as a tag no card has (``no card is tagged 'nope-*'``), with a tag to try
    instead; a tag holding ``*`` is suggested as the query names it."""
    data = hash_of(db, "data.json")
    notes = next(r["hash"] for r in as_json(mcard("ls", "--json", db=db)) if r["hash"] != data)
    mcard("tag", notes, "trip-paris", "a*", db=db)
    mcard("tag", data, "trip-rome", "ab", db=db)
    assert {r["hash"] for r in as_json(mcard("find", "tag:trip-*", "--json", db=db))} == {notes, data}
    assert [r["hash"] for r in as_json(mcard("find", "tag:trip-* -tag:*rome", "--json", db=db))] == [notes]
    assert [r["hash"] for r in as_json(mcard("find", "tag:a[*]", "--json", db=db))] == [notes]
    assert {r["hash"] for r in as_json(mcard("find", "tag:a*", "--json", db=db))} == {notes, data}
    none = mcard("find", "tag:trip-* tag:nope-* tag:2026/*", db=db, check=1)
    assert none.stderr.decode() == (
        "mcard: no card matches 'tag:trip-* tag:nope-* tag:2026/*'; no tag matches 'nope-*'; no tag matches '2026/*'\n"
    )
    assert mcard("find", "tag:*paris tag:ab*", db=db, check=1).stderr.decode() == "mcard: no card matches 'tag:*paris tag:ab*'\n"
    mcard("tag", notes, "draft*", db=db)
    near = mcard("find", "tag:drafts", db=db, check=1)
    assert near.stderr.decode() == "mcard: no card matches 'tag:drafts'; no card is tagged 'drafts'; did you mean 'draft[*]'?\n"


def test_export_takes_the_filters_ls_takes(tmp_path):
    """``mcard export holiday/ --tag holiday`` was refused (unrecognized arguments): an export
    held every card of the store, or those of a time range, and no other selection."""
    folder = folder_of(tmp_path / "files", {**{f"day {i}.txt": f"day {i}\n" for i in range(4)}, "data.json": '{"n": 1}'})
    db = tmp_path / "cards.db"
    mcard("import", str(folder), db=db)
    days = {r["name"]: r["hash"] for r in as_json(mcard("ls", "--json", db=db))}
    mcard("tag", days["day 1.txt"], "holiday", db=db)
    mcard("tag", days["day 2.txt"], "holiday", db=db)
    mcard("tag", days["data.json"], "holiday", db=db)
    out = tmp_path / "holiday"
    assert mcard("export", str(out), "--tag", "holiday", "--type", "text/plain", db=db).stdout == f"exported 2 cards to {out}\n".encode()
    assert sorted(path.name for path in out.iterdir()) == ["day 1.txt", "day 2.txt"]
    records = mcard("export", "-", "--name", "day [03]*", db=db).stdout
    copy = tmp_path / "copy.db"
    mcard("import", "--records", "-", db=copy, stdin=records)
    assert sorted(r["name"] for r in as_json(mcard("ls", "--json", db=copy))) == ["day 0.txt", "day 3.txt"]
    none = mcard("export", str(tmp_path / "none.jsonl"), "--tag", "holliday", db=db)
    assert none.stderr.decode() == "mcard: no card is tagged 'holliday'; did you mean 'holiday'?\n"
