"""Every command of the real ``mcard`` console script, failing: one line on stderr, no
traceback, the documented exit status (1 not found, 2 bad usage or input, 3 storage failure),
control characters escaped; and a records import that stops at a bad record."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import socket
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mcard import AsyncPersistenceWrapper, SQLiteConfig
from mcard.domain.models.exceptions import StorageError, ValidationError
from mcard.cli.commands import COMMANDS
from mcard.importing import import_records
from tests.test_cli import MCARD, mcard

CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
TEXT = "a card to find"


def record(content: str, **fields: object) -> str:
    """One line of a JSON Lines export (with content)."""
    return json.dumps({"content": content, "content_encoding": "utf-8", "kind": "text",
                       "g_time": "2026-01-02T03:04:05.000006Z", **fields})


def records_file(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def lines(*texts: str) -> bytes:
    return "".join(text + "\n" for text in texts).encode()


def damaged_db(tmp_path: Path) -> Path:
    """A store with one card whose content was changed behind mcard's back."""
    db = tmp_path / "damaged.db"
    if db.exists():
        return db
    mcard("import", records_file(tmp_path, "one.txt", b"soon damaged"), db=db)
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE card SET content = X'00'")
    raw.close()
    return db


def damaged_tag_db(tmp_path: Path) -> Path:
    """A store of one sound card and a tag another tool stored as bytes."""
    db = tmp_path / "damaged-tag.db"
    mcard("import", records_file(tmp_path, "one.txt", b"sound"), db=db)
    with sqlite3.connect(db) as raw:
        raw.execute("INSERT INTO tag (hash, tag) SELECT hash, X'78' FROM card")
    raw.close()
    return db


def not_a_database(tmp_path: Path) -> Path:
    path = tmp_path / "notes.db"
    path.write_bytes(b"plain text, not a database" * 50)
    return path


def symlink_loop(tmp_path: Path) -> str:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    return str(tmp_path / "loop")


def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "plain.txt"
    path.write_text("a file, not a folder")
    return path


def naive_parquet(tmp_path: Path) -> str:
    """Records another tool wrote to Parquet with times of no time zone."""
    from datetime import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "naive.parquet"
    pq.write_table(pa.table({"content": ["x"], "g_time": pa.array([datetime(2026, 1, 1, 10)], pa.timestamp("us"))}), path)
    return str(path)


def far_parquet(tmp_path: Path) -> str:
    """Records another tool wrote to Parquet, the second with a time of the year 33658."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "far.parquet"
    times = pa.array([1_767_225_600, 10**12, 1_767_225_600], pa.timestamp("s", tz="UTC"))
    pq.write_table(pa.table({"content": ["first", "second", "third"], "g_time": times}), path)
    return str(path)


Args = Callable[[Path], list[str]]
CASES: list[tuple[str, Args, int, str]] = [
    # import --records: the file named on the command line is missing or malformed
    ("records-bad-json", lambda t: ["import", "--records", records_file(t, "r.jsonl", lines(record("one"), record("two"), '{"content": '))], 2, "line 3: not JSON"),
    ("records-bad-base64", lambda t: ["import", "--records", records_file(t, "r.jsonl", lines(record("!!not base64!!", content_encoding="base64", kind="bytes")))], 2, "line 1: the content is not valid base64"),
    ("records-no-g_time", lambda t: ["import", "--records", records_file(t, "r.jsonl", lines(json.dumps({"content": "x", "kind": "text"})))], 2, "line 1: the record has no g_time"),
    ("records-bad-g_time", lambda t: ["import", "--records", records_file(t, "r.jsonl", lines(record("x", g_time="yesterday")))], 2, "g_time is not an ISO 8601 time"),
    ("records-g_time-out-of-range", lambda t: ["import", "--records", records_file(t, "r.jsonl", lines(record("x", g_time="0001-01-01T00:00:00+14:00")))], 2, "outside the range"),
    ("records-not-utf8", lambda t: ["import", "--records", records_file(t, "r.jsonl", lines(record("x")) + b"\xff\xfe{}\n")], 2, "line 2: not UTF-8"),
    ("records-not-an-object", lambda t: ["import", "--records", records_file(t, "r.jsonl", lines("[1, 2]"))], 2, "line 1: a record is an object"),
    ("records-wrong-hash", lambda t: ["import", "--records", records_file(t, "r.jsonl", lines(record("x", hash="\x1b[2J")))], 2, "does not hash to '\\x1b[2J'"),
    ("records-number-of-5000-digits", lambda t: ["import", "--records", records_file(t, "r.jsonl", lines('{"size": ' + "9" * 5000 + "}"))], 2, "line 1: Exceeds the limit (4300 digits)"),
    ("records-g_time-a-number", lambda t: ["import", "--records", records_file(t, "r.jsonl", lines(record("x", g_time=1796391308)))], 2, "g_time is an ISO 8601 text, not int"),
    ("records-uppercase-hash", lambda t: ["import", "--records", records_file(t, "r.jsonl", lines(record("x", hash=hashlib.sha256(b"x").hexdigest().upper())))], 2, "is not lowercase"),
    ("records-empty-content", lambda t: ["import", "--records", records_file(t, "r.jsonl", lines(record("")))], 2, "line 1: the record's content is empty"),
    ("records-csv-naive-g_time", lambda t: ["import", "--records", records_file(t, "r.csv", b"content,g_time\nx,2026-01-01T00:00:00Z\nz,2026-01-01\n")], 2, "line 3: g_time '2026-01-01' has no UTC offset: add one, such as Z for UTC"),
    ("records-naive-sighting-mtime", lambda t: ["import", "--records", records_file(t, "r.jsonl", lines(record("x", sightings=[{"name": "x.txt", "mtime": "2026-01-01T10:00:00", "seen_at": "2026-01-02T00:00:00Z"}])))], 2, "line 1: a sighting's mtime '2026-01-01T10:00:00' has no UTC offset"),
    ("records-parquet-naive-g_time", lambda t: ["import", "--records", naive_parquet(t)], 2, "row 1: g_time '2026-01-01T10:00:00' has no UTC offset"),
    ("records-parquet-g_time-past-9999", lambda t: ["import", "--records", far_parquet(t)], 2, "row 2: g_time cannot be read: date value out of range"),
    ("records-not-parquet", lambda t: ["import", "--records", records_file(t, "r.parquet", b"not parquet at all")], 2, "not a readable Parquet file"),
    ("records-unknown-suffix", lambda t: ["import", "--records", records_file(t, "r.txt", b"{}")], 2, "records are read from"),
    ("records-missing-file", lambda t: ["import", "--records", str(t / "missing.jsonl")], 2, "missing.jsonl: No such file or directory"),
    ("records-a-folder", lambda t: ["import", "--records", str(t)], 2, "a folder, not a file of records (a folder export is imported as files: mcard import FOLDER)"),
    ("import-missing-path", lambda t: ["import", str(t / "missing")], 2, "No such file or directory"),
    ("import-named-symlink-loop", lambda t: ["import", symlink_loop(t)], 2, "symbolic links"),
    ("import-stdin-twice", lambda t: ["import", "-", "-"], 2, "standard input (-) can be named only once"),
    ("import-format-without-records", lambda t: ["import", "-", "--format", "csv"], 2, "--format is for --records"),
    ("records-stdin-as-parquet", lambda t: ["import", "--records", "-", "--format", "parquet"], 2, "standard input: Parquet records are read from a file"),
    # add
    ("add-empty-stdin", lambda t: ["add", "-"], 2, "standard input is empty: nothing to add"),
    ("add-empty-text", lambda t: ["add", "fine", ""], 2, "TEXT 2 is empty: a card's content must not be empty"),
    ("add-missing-folder", lambda t: ["add", "x", "--db", str(a_file(t) / "cards.db")], 3, "storage error"),
    # ls: times at the edges of the range, bad options
    ("ls-since-before-year-1", lambda t: ["ls", "--since", "0001-01-01T00:00:00+14:00"], 2, "--since 0001-01-01T00:00:00+14:00 is outside the range"),
    ("ls-since-after-year-9999", lambda t: ["ls", "--since", "9999-12-31T23:00-14:00"], 2, "--since 9999-12-31T23:00:00-14:00 is outside the range"),
    ("ls-until-before-year-1", lambda t: ["ls", "--until", "0001-01-01T00:00:00+14:00"], 2, "--until"),
    ("ls-until-after-year-9999", lambda t: ["ls", "--until", "9999-12-31T23:00-14:00"], 2, "--until"),
    ("ls-since-not-a-time", lambda t: ["ls", "--since", "yesterday\x1b[2J"], 2, "'yesterday\\x1b[2J'"),
    ("ls-since-not-a-time-as-typed", lambda t: ["ls", "--since", r"2026\01"], 2, r"not an ISO 8601 time or date: '2026\01'"),
    ("ls-until-a-fraction-of-an-hour", lambda t: ["ls", "--until", "2026-03-01T10.5"], 2, "--until '2026-03-01T10.5': a fraction is taken of a second only"),
    ("ls-since-past-the-last-microsecond", lambda t: ["ls", "--since", "9999-12-31T23:59:59.9999995"], 2, "--since '9999-12-31T23:59:59.9999995': after the last time a card can have"),
    ("ls-limit-not-a-number", lambda t: ["ls", "--limit", "x"], 2, "invalid int value"),
    ("ls-offset-negative", lambda t: ["ls", "--offset", "-1", "--limit", "0"], 2, "--offset must not be negative"),
    ("ls-two-formats", lambda t: ["ls", "--csv", "--json"], 2, "choose one output format: --json or --csv"),
    ("ls-csv-empty-tag", lambda t: ["ls", "--csv", "--tag", ""], 2, "a tag must not be empty"),
    ("ls-json-bad-type", lambda t: ["ls", "--json", "--type", "image"], 2, "a content type is like"),
    ("ls-limit-too-large", lambda t: ["ls", "--limit", str(2**64)], 2, f"--limit is a whole number from 0 to {2**63 - 1}, got {2**64}"),
    ("search-limit-just-too-large", lambda t: ["search", "x", "--limit", str(2**63)], 2, f"from 0 to {2**63 - 1}, got {2**63}"),
    ("find-mistyped-option", lambda t: ["find", "hello", "--limt", "5"], 2, "unrecognized arguments: --limt 5; did you mean --limit? (see mcard find --help)"),
    ("ls-missing-database", lambda t: ["ls", "--db", str(t / "missing" / "cards.db")], 3,
     "no card store here (no such file) (mcard add or mcard import makes one)"),
    ("ls-a-folder", lambda t: ["ls", "--db", str(t)], 3, "no card store here (a folder)\n"),  # where none is made
    # show
    *([("show-over-a-file-whose-folder-takes-no-new-file", lambda t: ["show", "HASH", "-o", "/proc/version"], 2,
        "/proc/version: cannot make the new file beside it in /proc, to replace it once written whole: No such file")]
      if Path("/proc/version").is_file() else []),  # said "/proc/version: No such file or directory"
    ("show-to-a-missing-folder", lambda t: ["show", "HASH", "-o", str(t / "missing" / "out.txt")], 2, "No such file or directory"),
    ("show-to-a-file-under-a-file", lambda t: ["show", "HASH", "-o", str(a_file(t) / "out.txt")], 2, "Not a directory"),
    ("show-not-found", lambda t: ["show", "0" * 64], 1, "no card with hash"),
    ("show-bad-hash-echoed-escaped", lambda t: ["show", "\x1b]0;title\x07\u009b"], 2, "\\x1b]0;title\\x07\\x9b"),
    # search, rm
    ("search-empty", lambda t: ["search", ""], 2, "search"),
    ("search-nothing-found", lambda t: ["search", "absent\x07text"], 1, "no card matches 'absent\\x07text'"),
    ("search-long-echoed-cut", lambda t: ["search", "q" * 9_000], 1, f"no card matches '{'q' * 200}…' (9,000 characters)"),
    ("search-bad-regex", lambda t: ["search", "--regex", "(\x1b"], 2, "at position 0"),
    ("search-regex-nothing-found-as-typed", lambda t: ["search", "--regex", r"v\d+\.\d+"], 1, r"no card matches 'v\d+\.\d+'"),
    ("find-nothing-found-as-typed", lambda t: ["find", r"C:\notes"], 1, r"no card matches 'C:\notes'"),
    ("find-nothing-found", lambda t: ["find", "tag:none absent\x07"], 1, "no card matches 'tag:none absent\\x07'; no card is tagged 'none'"),
    ("find-query-starting-with-a-dash", lambda t: ["find", "-draft"], 2, "goes after --: mcard find -- -draft"),
    ("search-text-starting-with-a-dash", lambda t: ["search", "-x"], 2, "goes after --: mcard search -- -draft"),
    ("facets-query-starting-with-a-dash", lambda t: ["facets", "-draft"], 2, "cards.db facets -- -draft"),  # as typed: --db too
    ("search-unknown-option-named-in-the-hint", lambda t: ["search", "quick", "-x"], 2,
     "cards.db search -- 'quick -x'"),
    ("unknown-command-level-option-before-search", lambda t: ["-i", "search", "QUICK"], 2,
     "a command's own options go after its name: mcard search -i ..."),
    ("before-command-option-mistyped", lambda t: ["--dbb", "c.db", "ls"], 2,
     "unrecognized option --dbb before the command; did you mean --db? (see mcard --help)"),  # not "invalid choice: 'c.db'"
    ("before-command-option-mistyped-and-no-command", lambda t: ["--verison"], 2, "unrecognized option --verison before the command; did you mean --version?"),
    ("before-command-common-option-mistyped", lambda t: ["--jsn", "ls"], 2, "unrecognized arguments: --jsn; did you mean --json?"),
    ("before-command-its-option-with-a-value", lambda t: ["--tag", "x", "ls"], 2,
     "unrecognized option --tag before the command; a command's own options go after its name: mcard ls --tag ..."),
    ("tag-starting-with-a-dash", lambda t: ["tag", "0" * 64, "-neg"], 2, "a value that starts with - goes after --: mcard tag ... -- -value"),
    ("rm-nothing-typed", lambda t: ["rm"], 2, "the following arguments are required: HASH (see mcard rm --help)"),  # no -- advice
    ("find-words-not-quoted", lambda t: ["find", "type:text/plain", "report"], 2,
     "unrecognized arguments: report; a query of several words is one argument, quoted: mcard find 'type:text/plain report'"),
    ("search-dash-hint-keeps-the-options", lambda t: ["search", "--words", "invoice*", "-draft"], 2,
     "cards.db search --words -- 'invoice* -draft'"),
    ("find-malformed", lambda t: ["find", 'size:>1XB "open'], 2, "at position"),
    ("words-only-excluded", lambda t: ["search", "--words", "--", "  -draft"], 2,
     "only excludes words; a word search needs one that is not excluded, at position 2 (find takes exclusions alone"),
    ("find-not-a-database", lambda t: ["find", "x", "--db", str(not_a_database(t))], 3, "storage error"),
    ("facets-by-nothing", lambda t: ["facets", "--by", " , "], 2, "--by names no facet; the facets are content_type"),
    ("facets-unknown-field", lambda t: ["facets", "--by", "colour\x1b"], 2, "unknown facet 'colour\\x1b'"),
    ("facets-malformed", lambda t: ["facets", "after:2026-13-01"], 2, "at position 6"),
    ("tag-not-found", lambda t: ["tag", "0" * 64, "x"], 1, "no card with hash"),
    ("tag-stdin-without-a-tag", lambda t: ["tag", "-"], 2, "required: TAG (see mcard tag --help)"),  # "-" is no dashed value
    ("add-not-utf8", lambda t: ["add", "fine", b"caf\xe9"], 2, "TEXT 2 is not UTF-8 (another encoding?): 'caf\\xe9'"),
    ("tag-bad-tag", lambda t: ["tag", "HASH", "bell\x07"], 2, "bell\\x07"),
    ("untag-short-prefix", lambda t: ["untag", "abc", "x"], 2, "at least 8 hex digits"),
    ("info-not-found", lambda t: ["info", "0" * 64], 1, "no card with hash"),
    ("rm-not-found", lambda t: ["rm", "0" * 64], 1, "no card with hash"),
    ("rm-bad-hash", lambda t: ["rm", "zz\x1b"], 2, "\\x1b"),
    ("rm-short-prefix", lambda t: ["rm", "abcdef1"], 2, "at least 8 hex digits"),
    ("rm-missing-database", lambda t: ["rm", "0" * 64, "--db", str(t / "missing.db")], 3, "no card store here (no such file)"),
    # stats, verify: storage failure, damage
    ("stats-not-a-database", lambda t: ["stats", "--db", str(not_a_database(t))], 3, "storage error"),
    ("upgrade-not-a-database", lambda t: ["upgrade", "--db", str(not_a_database(t))], 3, "storage error"),
    ("verify-damaged", lambda t: ["verify", "--db", str(damaged_db(t))], 1, "1 of 1 card is damaged"),
    ("verify-damaged-tag", lambda t: ["verify", "--db", str(damaged_tag_db(t))], 1, "1 sighting or tag damaged, 1 card sound"),
    ("verify-not-a-database", lambda t: ["verify", "--db", str(not_a_database(t))], 3, "storage error"),
    # export
    ("export-unwritable-file", lambda t: ["export", "/proc/mcard-export.jsonl"], 2, "/proc/mcard-export.jsonl"),
    ("export-unwritable-folder", lambda t: ["export", "/proc/mcard-export", "--format", "files"], 2, "/proc/mcard-export"),
    ("export-under-a-file", lambda t: ["export", str(a_file(t) / "out.jsonl")], 2, "Not a directory"),
    ("export-unknown-format", lambda t: ["export", str(t / "out.xlsx")], 2, "cannot tell the export format"),
    ("export-not-a-database", lambda t: ["export", str(t / "out.jsonl"), "--db", str(not_a_database(t))], 3, "storage error"),
    ("export-files-to-stdout", lambda t: ["export", "-", "--format", "files"], 2, "cannot be written to a stream"),
    # sync
    ("sync-missing-source", lambda t: ["sync", str(t / "missing.db"), str(t / "b.db")], 3, "no card store here (no such file)"),
    ("sync-not-a-database", lambda t: ["sync", str(not_a_database(t)), str(t / "b.db")], 3, "storage error"),
    ("sync-bad-since", lambda t: ["sync", "a.db", "b.db", "--since", "yesterday\x1b[2J"], 2, "'yesterday\\x1b[2J'"),
    ("sync-damaged-source", lambda t: ["sync", str(damaged_db(t)), str(t / "b.db")], 1, "skipped 1 damaged card"),
    ("sync-with-db", lambda t: ["sync", "a.db", "b.db", "--db", str(t / "c.db")], 2, "sync takes no --db: it copies from SOURCE to DEST"),
    ("lab-with-json", lambda t: ["lab", "--json", "--tutorials", str(t / "tutorials")], 2, "lab takes no --json"),
    ("show-with-json", lambda t: ["show", "0" * 64, "--json"], 2, "show takes no --json"),
    ("ls-empty-time-range", lambda t: ["ls", "--since", "2026-12-06", "--until", "2026-12-01"], 2, "is after --until"),
    ("empty-db", lambda t: ["add", "lost?", "--db", ""], 2, "--db is empty"),
    # a store in memory ends with the command: an add into one was reported stored, then lost
    ("memory-add", lambda t: ["add", "lost?", "--db", ":memory:"], 2, ":memory: is a store in memory"),
    ("memory-url-rm", lambda t: ["rm", "0" * 64, "--db", "sqlite://:memory:"], 2, "is a store in memory"),
    ("memory-ls", lambda t: ["ls", "--db", ":memory:"], 2, "is a store in memory"),
    ("sync-into-memory", lambda t: ["sync", "a.db", ":memory:"], 2, "is a store in memory"),
    # lab
    ("lab-demo-not-a-database", lambda t: ["lab", "--demo", "--tutorials", str(t / "tutorials"), "--db", str(not_a_database(t))], 3, "storage error"),
    ("lab-tutorials-under-a-file", lambda t: ["lab", "--tutorials", str(a_file(t) / "tutorials")], 2, "Not a directory"),
    # usage
    ("no-command", lambda t: [], 2, "required: COMMAND"),
    ("unknown-command", lambda t: ["nonsense\x1b"], 2, "invalid choice: 'nonsense\\x1b'"),
    ("unknown-option", lambda t: ["ls", "--bogus"], 2, "unrecognized arguments: --bogus"),
]


def assert_one_line_failure(result: subprocess.CompletedProcess[bytes], status: int, says: str) -> None:
    stderr = result.stderr.decode("utf-8")
    assert result.returncode == status, stderr
    assert "Traceback" not in stderr
    assert len(stderr.splitlines()) == 1 and stderr.startswith("mcard: ") and stderr.endswith("\n"), stderr
    assert not CONTROL.search(stderr[:-1]), stderr
    assert says in stderr, stderr


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store holding one text card."""
    path = tmp_path / "cards.db"
    mcard("import", records_file(tmp_path, "card.txt", TEXT.encode()), db=path)
    return path


@pytest.mark.parametrize("name, make_args, status, says", CASES, ids=[case[0] for case in CASES])
def test_every_failure_is_one_escaped_line_with_its_exit_status(name, make_args, status, says, db, tmp_path):
    args = make_args(tmp_path)
    if "HASH" in args:
        args[args.index("HASH")] = json.loads(mcard("ls", "--json", db=db).stdout)[0]["hash"]
    store = [] if args[:1] == ["sync"] else ["--db", str(db)]  # sync names its stores itself
    result = subprocess.run([MCARD, *store, *args], capture_output=True, stdin=subprocess.DEVNULL, timeout=60, cwd=tmp_path)
    assert_one_line_failure(result, status, says)
    if status in (2, 3):  # bad input or storage: no data a script could take for an answer
        assert result.stdout == b"", result.stdout


@pytest.mark.parametrize("args, says", [
    (["lss"], "invalid choice: 'lss' (choose from"),
    (["serach", "fox"], "did you mean search? (see mcard --help)"),
    (["ls", "--limt", "5"], "unrecognized arguments: --limt 5; did you mean --limit? (see mcard ls --help)"),
    (["ls", "--limt=5"], "unrecognized arguments: --limt=5; did you mean --limit? (see mcard ls --help)"),
    (["sync", "a.db", "b.db", "--dryrun"], "--dryrun; did you mean --dry-run? (see mcard sync --help)"),
    (["export", "out.jsonl", "--sinse", "2026-01-01"], "did you mean --since? (see mcard export --help)"),
    (["stats", "--bogus"], "unrecognized arguments: --bogus (see mcard stats --help)"),
    # an option of other commands is named as theirs ("did you mean --words?" for search --order)
    (["search", "-i", "x", "--order", "largest"], "--order is an option of ls and find, not of search (see mcard search --help)"),
])
def test_a_mistyped_command_or_option_names_the_closest_one_and_the_help_that_lists_them(args, says, tmp_path):
    """A typo is the usage error met first: the line says what was meant, if anything is close,
    and points at the help of the command whose options it lists, not at ``mcard --help``."""
    result = subprocess.run([MCARD, *args, "--db", str(tmp_path / "cards.db")], capture_output=True, timeout=60,
                            cwd=tmp_path)
    assert_one_line_failure(result, 2, says)
    if args == ["lss"]:
        assert result.stderr.decode().rstrip().endswith("; did you mean ls? (see mcard --help)")
    assert not (tmp_path / "cards.db").exists()



def test_an_option_after_the_dashes_that_end_options_is_said_to_go_before_them(tmp_path):
    """``find -- -draft --limit 1``: ``--limit`` is a known option, read as part of the query;
    "did you mean --limit?" would suggest what was typed."""
    db = tmp_path / "cards.db"
    result = subprocess.run([MCARD, "--db", str(db), "find", "--", "-draft", "--limit", "1"], capture_output=True,
                            timeout=60, cwd=tmp_path)
    assert_one_line_failure(result, 2, "unrecognized arguments: --limit 1; after -- everything is the query's: --limit goes before --")
    assert "did you mean" not in result.stderr.decode()

def test_every_command_has_a_failure_case(tmp_path):
    covered = {make_args(tmp_path)[0] for name, make_args, _, _ in CASES if not name.startswith(("no-", "unknown-c", "before-command-"))}
    assert covered == set(COMMANDS)


def test_a_failed_records_import_keeps_the_records_before_the_bad_line(tmp_path):
    db = tmp_path / "cards.db"
    good = [record(f"card {i}") for i in range(1, 6)]
    bad = record("!!", content_encoding="base64", kind="bytes")
    after = [record(f"card {i}") for i in range(7, 9)]
    path = records_file(tmp_path, "cards.jsonl", lines(*good, bad, *after))

    result = mcard("import", "--records", path, db=db, check=None)
    assert_one_line_failure(result, 2, "cards.jsonl: line 6: the content is not valid base64; the 5 records before it are"
                                       " stored: imported again once it is mended, they count as already stored")
    assert stored_texts(db) == {f"card {i}" for i in range(1, 6)}

    fixed = record(base64.b64encode(b"card 6").decode(), content_encoding="base64", kind="bytes")
    Path(path).write_bytes(lines(*good, fixed, *after))
    summary = json.loads(mcard("import", "--records", path, "--json", db=db).stdout)
    assert (summary["new"], summary["already_stored"]) == (3, 5)
    assert stored_texts(db) == {f"card {i}" for i in range(1, 9)}


@pytest.mark.parametrize("bad, says", [
    (record("big", sightings=[{"name": "big.bin", "size": 2**63, "seen_at": "2026-01-01T00:00:00Z"}]),
     "line 2: a sighting's size is a byte count (0 to 2**63 - 1)"),
    ("[" * 100_000 + "]" * 100_000, "line 2: JSON nested too deeply to read"),
])
def test_a_records_import_refuses_what_no_store_can_hold_in_one_line(tmp_path, bad, says):
    db = tmp_path / "cards.db"
    result = mcard("import", "--records", records_file(tmp_path, "cards.jsonl", lines(record("first"), bad)),
                   db=db, check=None)
    assert_one_line_failure(result, 2, f"cards.jsonl: {says}")
    assert stored_texts(db) == {"first"}
    assert mcard("verify", db=db).returncode == 0


def test_a_failed_csv_records_import_names_the_line_and_keeps_what_came_before(tmp_path):
    db, copy = tmp_path / "cards.db", tmp_path / "copy.db"
    for i in range(3):
        mcard("import", records_file(tmp_path, f"f{i}.txt", f"card {i}\nsecond line".encode()), db=db)
    out = tmp_path / "cards.csv"
    mcard("export", str(out), "--content", db=db)
    rows = out.read_bytes().split(b"\n")  # the header, then each card over two lines (quoted newline)
    assert len(rows) == 8
    rows[5] = rows[5].replace(b"Z,", b"not a time,", 1)  # the third card's g_time, on line 6
    out.write_bytes(b"\n".join(rows))
    result = mcard("import", "--records", str(out), db=copy, check=None)
    assert_one_line_failure(result, 2, "cards.csv: line 6: g_time is not an ISO 8601 time")
    assert len(stored_texts(copy)) == 2


def stored_texts(db: Path) -> set[str]:
    with sqlite3.connect(db) as raw:
        texts = {bytes(row[0]).decode() for row in raw.execute("SELECT content FROM card")}
    raw.close()
    return texts


async def test_import_records_from_python_stores_every_record_before_the_bad_one(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    jsonl = records_file(tmp_path, "cards.jsonl", lines(*(record(f"card {i}") for i in range(1, 6)), record("x", g_time=""), record("card 7")))
    parquet = tmp_path / "cards.parquet"
    pq.write_table(pa.table({"content": ["first", "second", "third"], "g_time": ["2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "9999-12-31T23:00-14:00"]}), parquet)
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        with pytest.raises(ValidationError, match="cards.jsonl: line 6: the record has no g_time"):
            await import_records(store, jsonl, batch_size=2, progress=False)
        assert await store.count() == 5
        with pytest.raises(ValidationError, match="cards.parquet: row 3: g_time .* is outside the range"):
            await import_records(store, parquet, batch_size=2, progress=False)
        assert await store.count() == 7


async def test_a_records_stream_opened_from_a_file_is_named_by_its_file(tmp_path):
    """It was called standard input, which a notebook's open(path, "rb") is not."""
    path = records_file(tmp_path, "backup.jsonl", lines(record("fine"), record("x", g_time="")))
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        with open(path, "rb") as stream, pytest.raises(ValidationError) as raised:
            await import_records(store, stream, progress=False)
        assert str(raised.value) == (f"{path}: line 2: the record has no g_time; the 1 record before it is stored:"
                                     " imported again once it is mended, they count as already stored")
        assert await store.count() == 1


def test_a_record_over_the_stores_size_limit_is_named_and_the_records_before_it_are_kept(tmp_path):
    """It failed the whole batch it was saved in (up to 999 records before it lost), unnamed."""
    db = f"sqlite:///{tmp_path / 'small.db'}?max_content_size=20"
    path = records_file(tmp_path, "cards.jsonl", lines(record("small"), record("well over twenty bytes of text"), record("after")))
    result = subprocess.run([MCARD, "--db", db, "import", "--records", path], capture_output=True, timeout=60)
    assert_one_line_failure(result, 2, "cards.jsonl: line 2: the card is 30 bytes, over this store's max_content_size (20)")
    assert stored_texts(tmp_path / "small.db") == {"small"}
    assert "a store opened with a larger one takes it (a URL's ?max_content_size=BYTES)" in result.stderr.decode()


@pytest.mark.parametrize("data, fmt, says", [
    (b'"g_time","content"\n"2026-01-01T00:00:00Z","x"\n"2026-01-01T00:00:01Z"', None,
     "line 3: the record's content is missing (a line cut short?)"),
    (lines(record("a json line")), "csv", "line 1: not the header of an mcard CSV export (no hash or content column)"),
])
def test_a_cut_or_mistaken_records_file_says_so(tmp_path, data, fmt, says):
    """A CSV cut short, or JSON Lines read as CSV, were reported as an export made without content."""
    path = records_file(tmp_path, "cards.csv", data)
    result = mcard("import", "--records", path, *(["--format", fmt] if fmt else []), db=tmp_path / "c.db", check=None)
    assert_one_line_failure(result, 2, says)


@pytest.mark.parametrize("args", [["x.txt"], ["-", "--format", "parquet"]])
def test_a_records_format_refused_leaves_no_database_behind(tmp_path, args):
    (tmp_path / "x.txt").write_bytes(lines(record("x")))
    result = subprocess.run([MCARD, "--db", "new.db", "import", "--records", *args], capture_output=True,
                            input=b"", timeout=60, cwd=tmp_path)
    assert result.returncode == 2 and not (tmp_path / "new.db").exists(), result.stderr


async def test_import_records_refuses_a_batch_size_below_one_and_a_text_stream(tmp_path):
    import io

    path = records_file(tmp_path, "cards.jsonl", lines(record("x")))
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        for size in (0, -1, True, 1.5):  # 0 read nothing at each turn, for ever
            with pytest.raises(ValidationError, match="batch_size must be a positive integer"):
                await asyncio.wait_for(import_records(store, path, batch_size=size, progress=False), 30)
        with pytest.raises(ValidationError, match="binary stream"):
            await import_records(store, io.StringIO(lines(record("x")).decode()), progress=False)
        assert await store.count() == 0


@pytest.mark.parametrize("fields, says", [
    ({"size": 99}, "the record's size 99 is not its content's 5 bytes"),
    ({"size": True}, "the record's size True is not its content's 5 bytes"),
    ({"size": 5.0}, "the record's size 5.0 is not its content's 5 bytes"),
    ({"kind": "image"}, "kind is text or bytes, not 'image'"),
    ({"kind": "bytes"}, "the record's kind is bytes but its content is text"),
])
def test_a_record_whose_size_or_kind_is_not_its_contents_is_refused(tmp_path, fields, says):
    """They were accepted silently: the file was changed by hand, or is not what it says."""
    db = tmp_path / "c.db"
    path = records_file(tmp_path, "cards.jsonl", lines(record("first", size=5), record("hello", **fields)))
    assert_one_line_failure(mcard("import", "--records", path, db=db, check=None), 2, f"cards.jsonl: line 2: {says}")
    assert stored_texts(db) == {"first"}


def test_help_lists_no_option_a_command_refuses(tmp_path):
    """``sync --help`` offered ``--db`` and ``lab --help`` offered ``--json``, each refused."""
    for command, option in (("sync", "--db"), ("lab", "--json"), ("show", "--json")):
        shown = mcard(command, "--help", db=tmp_path / "unused.db").stdout.decode()
        assert option not in shown and "usage:" in shown
    assert "--json" in mcard("info", "--help", db=tmp_path / "unused.db").stdout.decode()


@pytest.mark.parametrize("args", [["add", "a note"], ["import", "notes"]])
def test_a_store_named_by_a_folder_says_a_file_is_needed(args, tmp_path):
    """``--db ~/notes`` for ``--db ~/notes/cards.db``: the line says what to give instead of the
    system's ``[Errno 21] Is a directory``, and nothing is created in the folder."""
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text("a note")
    result = subprocess.run([MCARD, "--db", "notes", *args], capture_output=True, timeout=60, cwd=tmp_path)
    assert_one_line_failure(result, 3, f"{folder}: a folder, where the database file was expected; name a file,"
                                       f" such as {Path('notes', 'cards.db')}")
    assert [p.name for p in folder.iterdir()] == ["a.txt"]


async def test_a_store_opened_at_a_folder_is_refused_with_the_file_to_name(tmp_path):
    with pytest.raises(StorageError, match="a folder, where the database file was expected") as raised:
        await AsyncPersistenceWrapper(SQLiteConfig(tmp_path)).initialize()
    assert "Errno" not in str(raised.value) and str(tmp_path / "cards.db") in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_a_postgres_server_without_ssl_asked_for_ssl_says_so(tmp_path):
    """``?sslmode=require`` to a server that takes no SSL said to check that a server runs at
    that host and port, which it did."""
    asyncpg = pytest.importorskip("asyncpg")
    from tests.postgres_support import require_server

    server = require_server()
    url = server + ("&" if "?" in server else "?") + "sslmode=require"

    async def takes_ssl() -> bool:
        try:
            await (await asyncpg.connect(url)).close()
        except ConnectionError:
            return False
        return True

    if asyncio.run(takes_ssl()):
        pytest.skip("this server takes SSL connections")
    result = subprocess.run([MCARD, "--db", url, "ls"], capture_output=True, timeout=60, cwd=tmp_path)
    assert_one_line_failure(result, 3, "rejected SSL upgrade; the server takes no SSL connections: leave sslmode=require"
                                       " (or verify-ca, verify-full) out of the URL, or turn SSL on in the server")


def test_a_postgres_server_that_is_down_is_named_with_what_to_check(tmp_path):
    """No server at the URL's port (stopped, or another port): one line, status 3, that says
    what to check beside the system's own words."""
    pytest.importorskip("asyncpg")
    with socket.socket() as probe:  # a port nothing listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for args in (["ls"], ["add", "a note"]):
        result = subprocess.run([MCARD, "--db", f"postgresql://postgres@127.0.0.1:{port}/cards", *args],
                                capture_output=True, timeout=60, cwd=tmp_path)
        assert_one_line_failure(result, 3, f"Connect call failed ('127.0.0.1', {port}); is a PostgreSQL server"
                                           " running there, and are the URL's host and port (or socket folder) right?")
    assert list(tmp_path.iterdir()) == []
