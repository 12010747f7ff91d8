"""``ls`` and ``search`` output for scripts (``--json``, ``--nl``, ``--csv``, ``--tsv``, ``--table``),
hash prefixes wherever a hash is typed, and ``ls --limit 0`` streaming in bounded memory,
with the real ``mcard`` console script."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig
from tests.test_cli import MCARD, as_json, mcard

COLLIDING = ("collide 31899", "collide 39735")
"""Two texts whose SHA-256 digests share their first 8 hex digits."""
FIELDS = ["hash", "g_time", "size", "kind", "content_type", "hash_algorithm", "name", "tags"]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "cards.db"
    mcard("add", "first, with a comma", 'second "quoted"\nover two lines', *COLLIDING, db=path)
    return path


def test_every_output_format_lists_the_same_cards(db):
    mcard("tag", sha256(COLLIDING[0]), 'say "hi"', "a,b", db=db)
    records = as_json(mcard("ls", "--json", db=db))
    assert [list(record) for record in records] == [FIELDS] * 4
    assert {record["hash"] for record in records} == {sha256(t) for t in ("first, with a comma", 'second "quoted"\nover two lines', *COLLIDING)}
    lines = mcard("ls", "--nl", db=db).stdout.decode().splitlines()
    assert [json.loads(line) for line in lines] == records
    def from_cells(row: dict[str, str]) -> dict[str, object]:  # CSV cells: name "" when none, tags as JSON
        return {**row, "size": int(row["size"]), "name": row["name"] or None, "tags": json.loads(row["tags"])}

    rows = list(csv.DictReader(io.StringIO(mcard("ls", "--csv", db=db).stdout.decode())))
    assert [from_cells(row) for row in rows] == records
    header, *lines = mcard("ls", "--tsv", db=db).stdout.decode().splitlines()  # TSV: cells between tabs, as cut -f reads them
    assert [from_cells(dict(zip(header.split("\t"), line.split("\t"), strict=True))) for line in lines] == records
    for table in (mcard("ls", db=db).stdout.decode(), mcard("ls", "--table", db=db).stdout.decode()):
        header, *cells = table.splitlines()
        assert header.split() == ["HASH", "G_TIME", "SIZE", "TYPE", "NAME", "PREVIEW"]
        assert [line.split()[0] for line in cells] == [record["hash"][:12] for record in records]
        assert [line.split()[1] for line in cells] == [record["g_time"] for record in records]
    assert as_json(mcard("ls", "--json", "--limit", "0", db=db)) == records
    assert [json.loads(line) for line in mcard("ls", "--nl", "--limit", "0", db=db).stdout.splitlines()] == records


def test_search_has_the_same_formats(db):
    found = as_json(mcard("search", "collide", "--json", db=db))
    assert sorted(card["hash"] for card in found) == sorted(sha256(t) for t in COLLIDING)
    rows = list(csv.DictReader(io.StringIO(mcard("search", "collide", "--csv", db=db).stdout.decode())))
    assert [row["hash"] for row in rows] == [card["hash"] for card in found]
    assert [json.loads(line)["hash"] for line in mcard("search", "collide", "--nl", db=db).stdout.splitlines()] == [card["hash"] for card in found]


@pytest.mark.parametrize("output, delimiter", [("--csv", ","), ("--tsv", "\t")])
def test_search_and_find_csv_and_tsv_carry_the_snippet_escaped(output, delimiter, tmp_path):
    db = tmp_path / "cards.db"
    mcard("add", "a \x1b[31mred\x1b[0m fox", "no match here", db=db)
    for command in (["search", "fox"], ["find", "fox"]):
        rows = list(csv.DictReader(io.StringIO(mcard(*command, output, db=db).stdout.decode()), delimiter=delimiter))
        assert [row["snippet"] for row in rows] == ["a \\x1b[31mred\\x1b[0m «fox»"]
    rows = list(csv.DictReader(io.StringIO(mcard("find", "type:text/plain", output, db=db).stdout.decode()), delimiter=delimiter))
    assert len(rows) == 2 and "snippet" in rows[0]


def test_a_table_of_no_card_prints_nothing_where_csv_keeps_its_header(db):
    """``mcard find zzz`` printed a table header above its "no card matches" line."""
    missed = mcard("find", "nowhere", db=db, check=1)
    assert missed.stdout == b"" and missed.stderr.decode() == "mcard: no card matches 'nowhere'\n"
    assert mcard("ls", "--tag", "nowhere", db=db).stdout == b""
    assert mcard("ls", "--tag", "nowhere", "--csv", db=db).stdout.decode().startswith("hash,g_time,")
    assert as_json(mcard("ls", "--tag", "nowhere", "--json", db=db)) == []


def test_ls_of_filters_no_card_passes_says_so_on_stderr(db, tmp_path):
    """``ls --since`` a future date, ``--name '['`` (an unclosed bracket, a name of its own) and
    ``--type image/*`` of a store of texts printed nothing at all, where ``find`` says no card
    matches; the listing is empty, the status 0."""
    for args, typed in [(["--since", "2999-01-01"], "--since '2999-01-01'"), (["--name", "["], "--name '['"),
                        (["--type", "image/*", "--until", "2026-01-01"], "--type 'image/*' --until '2026-01-01'")]:
        listed = mcard("ls", *args, db=db)
        assert listed.stdout == b"" and listed.stderr.decode() == f"mcard: no card matches {typed}\n"
    assert mcard("ls", "--json", "--name", "x\x1b[31m", db=db).stderr.decode() == "mcard: no card matches --name 'x\\x1b[31m'\n"
    async def make_empty() -> None:
        async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "empty.db")):
            pass

    asyncio.run(make_empty())
    assert mcard("ls", db=tmp_path / "empty.db").stderr == b""  # no filter: an empty store lists nothing, unsaid


def test_ls_offset_and_limit_page_the_same_way_streamed_or_not(db):
    every = [card["hash"] for card in as_json(mcard("ls", "--json", db=db))]
    assert [card["hash"] for card in as_json(mcard("ls", "--json", "--offset", "1", "--limit", "2", db=db))] == every[1:3]
    assert [card["hash"] for card in as_json(mcard("ls", "--json", "--offset", "1", "--limit", "0", db=db))] == every[1:]
    assert as_json(mcard("ls", "--json", "--offset", "9", "--limit", "0", db=db)) == []


def test_ls_and_find_list_in_the_order_asked_for_paged_or_not(db, tmp_path):
    (tmp_path / "b.txt").write_text("bee notes, longer than the rest")
    (tmp_path / "a.txt").write_text("ant notes")
    mcard("import", str(tmp_path / "b.txt"), str(tmp_path / "a.txt"), db=db)
    listed = lambda *args: [(card["name"], card["size"]) for card in as_json(mcard(*args, "--json", db=db))]
    by_size = sorted(listed("ls"), key=lambda card: -card[1])
    assert listed("ls", "--order", "largest", "--limit", "0") == by_size
    assert listed("ls", "--order", "largest", "--limit", "2", "--offset", "1") == by_size[1:3]
    assert [name for name, _ in listed("ls", "--order", "name_desc")][:2] == ["b.txt", "a.txt"]
    assert [name for name, _ in listed("ls", "--order", "name")][:2] == ["a.txt", "b.txt"]
    assert [name for name, _ in listed("find", "notes", "--order", "name_desc")] == ["b.txt", "a.txt"]
    assert listed("find", "kind:text", "--order", "smallest") == by_size[::-1]
    refused = mcard("ls", "--order", "random", db=db, check=2)
    assert b"invalid choice: 'random'" in refused.stderr and b"name_desc" in refused.stderr


def test_a_byte_order_mark_is_kept_in_the_card_and_shown_in_no_preview(db, tmp_path):
    """Some editors write U+FEFF first in a UTF-8 file: previews and snippets showed it as
    ``\\ufeffBonjour``. The card keeps the file's bytes."""
    from mcard import MCard
    from mcard.domain.query import SearchSpec, card_snippet
    from mcard.notebook.display import preview

    (tmp_path / "bom.txt").write_bytes("\ufeffBonjour le monde".encode())
    mcard("import", str(tmp_path / "bom.txt"), db=db)
    assert "  Bonjour le monde" in mcard("ls", db=db).stdout.decode()
    assert "  «Bonjour» le monde" in mcard("find", "bonjour", db=db).stdout.decode()
    [record] = as_json(mcard("find", "bonjour", "--json", db=db))
    assert mcard("show", record["hash"], db=db).stdout == "\ufeffBonjour le monde".encode()
    card = MCard("\ufeffBonjour le monde")
    assert preview(card) == "Bonjour le monde"
    assert str(card_snippet(None, card.content)) == "Bonjour le monde"
    assert str(card_snippet(SearchSpec.of("le", "words"), card.content)) == "Bonjour «le» monde"


def test_show_and_rm_take_a_unique_prefix_and_list_an_ambiguous_one(db):
    first, second = (sha256(text) for text in COLLIDING)
    assert first[:8] == second[:8] and first[:9] != second[:9]
    ambiguous = mcard("show", first[:8], db=db, check=2)
    assert ambiguous.stdout == b""
    lines = ambiguous.stderr.decode().splitlines()
    assert len(lines) == 1 and first in lines[0] and second in lines[0] and "more than one card" in lines[0]
    assert mcard("show", first[:12], db=db).stdout == COLLIDING[0].encode()
    assert mcard("show", second[:9].upper(), db=db).stdout == COLLIDING[1].encode()
    refused = mcard("rm", first[:8], db=db, check=2)
    assert first in refused.stderr.decode() and len(as_json(mcard("ls", "--json", db=db))) == 4
    oldest_in_the_table = mcard("ls", db=db).stdout.decode().splitlines()[-1].split()[0]
    assert oldest_in_the_table == sha256("first, with a comma")[:12]
    removed = as_json(mcard("rm", oldest_in_the_table, second[:10], "--json", db=db))
    assert removed == {"removed": [sha256("first, with a comma"), second], "not_found": []}
    gone = mcard("rm", second[:10], db=db, check=1)
    assert gone.stderr.decode() == f"mcard: no card with hash {second[:10]}\n"
    mcard("show", "0123456789ab", db=db, check=1)


def fill_store(path: Path, megabytes: int) -> int:
    """A store of about ``megabytes`` MB of 100 kB cards, half text, half bytes; its file size."""

    async def fill() -> None:
        async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
            for batch in range(megabytes // 10):
                await store.save_many(
                    [MCard(os.urandom(50_000).hex()) if i % 2 else MCard(os.urandom(100_000)) for i in range(100)]
                )

    asyncio.run(fill())
    return path.stat().st_size


PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)\n"
)
"""Runs a command with stdout thrown away and prints its peak resident memory in bytes
(``ru_maxrss`` is in kB on Linux): run in a fresh process, it sees no other child."""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in kB on Linux only")
@pytest.mark.parametrize("output", ["--table", "--json", "--nl", "--csv", "--tsv"])
def test_ls_all_streams_in_memory_far_below_the_store_size(output, tmp_path_factory):
    db = tmp_path_factory.getbasetemp() / "big-store" / "cards.db"
    if not db.exists():
        db.parent.mkdir()
        fill_store(db, 200)
    size = db.stat().st_size
    assert size > 190_000_000
    command = [MCARD, "ls", "--limit", "0", output, "--db", str(db)]
    peak = int(subprocess.run([sys.executable, "-c", PEAK_RSS, *command], capture_output=True, text=True, timeout=300, check=True).stdout)
    assert peak < size * 0.4, f"peak RSS {peak / 1e6:.0f} MB for a store of {size / 1e6:.0f} MB"
    listed = subprocess.run(command, capture_output=True, timeout=300, check=True).stdout
    assert len(listed.splitlines()) >= 2000


def test_unicode_line_separators_never_cut_a_row(tmp_path):
    """U+2028 and U+2029 were printed raw: ``str.splitlines`` (and many readers) cut the row, a
    TSV cell took two lines."""
    db = tmp_path / "cards.db"
    key = mcard("add", "one\u2028two\u2029three", db=db).stdout.decode().split()[0]
    mcard("tag", key, "a\u2028tag", db=db)
    for args in (["ls"], ["ls", "--tsv"], ["ls", "--csv"], ["info", key]):
        text = mcard(*args, db=db).stdout.decode()
        assert "\u2028" not in text and "\u2029" not in text, args
        assert args == ["ls"] or "\\u2028" in text, args  # the table's preview shows it as a space
    assert len(mcard("ls", "--tsv", db=db).stdout.decode().splitlines()) == 2


MIXED = [
    "short", "tab\there", "  spaced   out\n\nlines  " * 40, "ü€" * 400, "😀" * 500, "x" * 383, "y" * 385,
    "a\x00b", '{"key": "value"}', b"\x00\x01" * 2000, b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
]


@pytest.mark.parametrize("output", ["--table", "--json", "--nl", "--csv", "--tsv"])
def test_a_page_listed_from_the_first_bytes_is_the_listing_of_the_whole_cards(output, tmp_path):
    """``ls`` and ``find`` without words print a page from the stored rows cut to the preview's
    bytes, and ``ls --limit 0`` streams such rows: each prints what the whole cards show."""
    db = tmp_path / "cards.db"

    async def fill() -> None:
        async with AsyncPersistenceWrapper(SQLiteConfig(db)) as store:
            await store.save_many([MCard(content) for content in MIXED])
            await store.add("named", name="a.txt")

    asyncio.run(fill())
    whole = mcard("ls", "--limit", "0", output, db=db).stdout
    assert mcard("ls", "--limit", "100", output, db=db).stdout == whole
    if output not in ("--csv", "--tsv"):  # their columns include find's snippet
        assert mcard("find", "size:>0", "--limit", "100", output, db=db).stdout == whole


BYTES_READ = (
    "import sys\n"
    "from mcard.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "read = next(line for line in open('/proc/self/io') if line.startswith('rchar:'))\n"
    "print(int(read.split()[1]), file=sys.stderr)\n"
    "sys.exit(code)\n"
)
"""Runs ``mcard`` with the given arguments in this process and prints on stderr how many bytes
the process read through system calls (``rchar``: files, the page cache included)."""


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="counts the bytes read from /proc/self/io")
def test_listing_every_card_reads_no_content_whole(tmp_path):
    """``ls --limit 0`` read every byte of the store (72 MB here) to print heads."""
    db = tmp_path / "cards.db"

    async def fill() -> None:
        async with AsyncPersistenceWrapper(SQLiteConfig(db, max_content_size=10_000_000)) as store:
            await store.save_many([MCard(os.urandom(6_000_000)) for _ in range(12)])

    asyncio.run(fill())
    for output in ("--table", "--json"):
        run = subprocess.run([sys.executable, "-c", BYTES_READ, "ls", "--limit", "0", output, "--db", str(db)],
                             capture_output=True, text=True, timeout=300, check=True)
        assert len(run.stdout.splitlines()) >= 12
        read = int(run.stderr.split()[-1])
        assert read < 20_000_000, f"{read / 1e6:.0f} MB read to list a store of {db.stat().st_size / 1e6:.0f} MB"


TRACED_PEAK = (
    "import sys, tracemalloc\n"
    "tracemalloc.start()\n"
    "from mcard.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print(tracemalloc.get_traced_memory()[1], file=sys.stderr)\n"
    "sys.exit(code)\n"
)
"""Runs ``mcard`` with the given arguments in this process and prints on stderr the most
memory Python held at once (``tracemalloc``: what the command's objects took)."""


@pytest.mark.parametrize("command", [
    ["find", "needle", "--limit", "0"], ["search", "--words", "needle", "--limit", "0"], ["find", "needle", "--limit", "50"],
    ["search", "needle", "--limit", "0"], ["search", "-i", "NEEDLE", "--limit", "0"],
])
def test_the_matches_among_large_texts_are_listed_a_page_at_a_time(command, tmp_path_factory):
    """``find WORD --limit 0`` read every matching text whole at once, to mark what matched in
    each: 120 texts of 1 MB held 133 MB. The matches now come a page at a time, each holding
    about ``READ_AHEAD_BYTES`` (16 MiB) of them."""
    db = tmp_path_factory.getbasetemp() / "large-texts" / "cards.db"
    if not db.exists():
        db.parent.mkdir()

        async def fill() -> None:
            async with AsyncPersistenceWrapper(SQLiteConfig(db)) as store:
                await store.save_many([MCard(f"needle {i} " + "lorem ipsum dolor " * 56_000) for i in range(120)])
                await store.store.wait_indexed()  # else every text is read to rank the words

        asyncio.run(fill())
    run = subprocess.run([sys.executable, "-c", TRACED_PEAK, *command, "--json", "--db", str(db)],
                         capture_output=True, text=True, timeout=300, check=True)
    listed = json.loads(run.stdout)
    async def in_order() -> list[str]:
        async with AsyncPersistenceWrapper(SQLiteConfig(db)) as store:
            if command[0] == "find":
                return [card.hash for card in await store.find("needle")]
            mode = "words" if "--words" in command else "substring"
            return [card.hash for card in await store.search(command[-3], mode=mode, case_sensitive="-i" not in command)]

    assert [card["hash"] for card in listed] == asyncio.run(in_order())[:len(listed)]  # pages in the order of one call
    assert len({card["hash"] for card in listed}) == (50 if "50" in command else 120)
    assert all(card["snippet"].startswith("«needle» ") for card in listed)
    peak = int(run.stderr.split()[-1])
    assert peak < 90_000_000, f"{peak / 1e6:.0f} MB held to list {len(listed)} MB of texts"


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in kB on Linux only")
@pytest.mark.parametrize("command", [["ls", "--limit", "50"], ["find", "size:>1MB", "--limit", "50"]])
def test_a_page_of_large_files_is_listed_without_reading_them_whole(command, tmp_path_factory):
    """A page of 50 files of 8 MB took 470 MB and 0.9 s: every content was read whole for a
    preview that says "<8000000 bytes>"."""
    db = tmp_path_factory.getbasetemp() / "large-files" / "cards.db"
    if not db.exists():
        db.parent.mkdir()

        async def fill() -> None:
            async with AsyncPersistenceWrapper(SQLiteConfig(db, max_content_size=10_000_000)) as store:
                await store.save_many([MCard(os.urandom(6_000_000)) for _ in range(12)])

        asyncio.run(fill())
    peak = int(subprocess.run([sys.executable, "-c", PEAK_RSS, MCARD, *command, "--db", str(db)],
                              capture_output=True, text=True, timeout=300, check=True).stdout)
    assert peak < 60_000_000, f"peak RSS {peak / 1e6:.0f} MB for 12 cards of 6 MB"
