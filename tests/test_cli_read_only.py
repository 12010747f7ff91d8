"""Commands that only read (ls, show, search, stats, verify, export) open the store read-only,
with the real ``mcard`` console script: a missing database is not created (nor its folders), a
database another application wrote is refused and left byte for byte as it was (journal mode
included), a schema missing on PostgreSQL is not created, and a file no one may write to
(chmod 444) can be read."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.test_cli import MCARD, mcard

TEXT = "a card that stays as it is"
HASH = hashlib.sha256(TEXT.encode()).hexdigest()


def reading_commands(out: Path) -> list[list[str]]:
    return [["ls"], ["ls", "--limit", "0"], ["show", HASH], ["search", "card"], ["stats"], ["verify"], ["export", str(out)]]


def run(db: str, args: list[str], *, as_user: list[str] | None = None, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*(as_user or []), MCARD, *args, "--db", db], capture_output=True, timeout=60, cwd=cwd)


def assert_refused(result: subprocess.CompletedProcess[bytes], says: str) -> None:
    stderr = result.stderr.decode()
    assert result.returncode == 3, stderr
    assert len(stderr.splitlines()) == 1 and says in stderr and "Traceback" not in stderr, stderr
    assert result.stdout == b""


def test_reading_a_missing_database_creates_nothing(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    db = tmp_path / "missing" / "folder" / "cards.db"
    for args in reading_commands(work / "out.jsonl"):
        assert_refused(run(str(db), args, cwd=work), "no card store here (no such file)")
        assert_refused(run(f"sqlite:///{db}", args, cwd=work), "no card store here (no such file)")
    assert not (tmp_path / "missing").exists()
    assert list(work.iterdir()) == []


def foreign_database(path: Path) -> None:
    """Another application's SQLite file, in the default rollback-journal mode."""
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        raw.executemany("INSERT INTO notes (body) VALUES (?)", [("first",), ("second",)])
    raw.close()


def journal_mode(path: Path) -> str:
    raw = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        return raw.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        raw.close()


def test_a_foreign_database_is_refused_and_left_byte_for_byte_as_it_was(tmp_path):
    db = tmp_path / "notes.db"
    foreign_database(db)
    before, mode = db.read_bytes(), journal_mode(db)
    assert mode == "delete"
    for args in reading_commands(tmp_path / "out.jsonl"):
        assert_refused(run(str(db), args, cwd=tmp_path), "not a card store (its tables: notes)")
    assert db.read_bytes() == before and journal_mode(db) == "delete"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.db"]


def test_reading_commands_leave_a_card_store_unchanged(tmp_path):
    db = tmp_path / "cards.db"
    mcard("add", TEXT, db=db)
    sqlite3.connect(db).close()  # the store is closed: its WAL is checkpointed and removed
    (tmp_path / "export").mkdir()
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.name != "export"}
    for args in reading_commands(tmp_path / "export" / "out.jsonl"):
        result = run(str(db), args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr.decode()
    after = {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.name != "export"}
    assert after.keys() - {"cards.db-wal", "cards.db-shm"} == before.keys()
    assert after["cards.db"] == before["cards.db"]


NOBODY = 65534


def as_another_user() -> list[str]:
    """How to run a command as a user whom file modes bind (root writes to any file)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: cannot drop to a user that file modes bind")
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


@pytest.fixture
def users_folder() -> Iterator[Path]:
    """A folder of the test user's own (pytest's folders are private to root): the user may
    create files in it, such as SQLite's -wal and -shm."""
    folder = Path(tempfile.mkdtemp(prefix="mcard-read-only-"))
    folder.chmod(0o755)
    if os.geteuid() == 0:
        os.chown(folder, NOBODY, NOBODY)
    yield folder
    shutil.rmtree(folder)


def test_a_file_the_user_may_not_read_is_said_so_not_called_read_only(users_folder):
    """chmod 600 of another user's: "the file ... is read-only" sent the user to chmod u+w."""
    db = users_folder / "cards.db"
    mcard("add", TEXT, db=db)
    user = as_another_user()
    if not user:
        pytest.skip("needs root, to read as another user")
    os.chown(db, 0, 0)
    db.chmod(0o600)
    for args in (["ls"], ["add", "more"], ["stats"]):
        result = run(str(db), args, as_user=user, cwd=users_folder)
        assert_refused(result, f"no permission to read the file {db}")
        assert "is read-only" not in result.stderr.decode()


def test_a_read_only_file_can_be_read(users_folder):
    """The file is the user's to read, not to write (chmod 444, or another owner's)."""
    db = users_folder / "cards.db"
    mcard("add", TEXT, db=db)
    db.chmod(0o444)
    before = db.read_bytes()
    user = as_another_user()
    denied = subprocess.run([*user, "sh", "-c", f"echo x >> '{db}'"], capture_output=True, timeout=30)
    assert denied.returncode != 0, "the test user can write to the file: the test would prove nothing"
    listed = run(str(db), ["ls", "--json"], as_user=user, cwd=users_folder)
    assert listed.returncode == 0, listed.stderr.decode()
    assert [card["hash"] for card in json.loads(listed.stdout)] == [HASH]
    shown = run(str(db), ["show", HASH[:8]], as_user=user, cwd=users_folder)
    assert shown.stdout == TEXT.encode()
    for args in (["stats"], ["verify"], ["search", "stays"], ["export", "-"]):
        result = run(str(db), args, as_user=user, cwd=users_folder)
        assert result.returncode == 0, (args, result.stderr.decode())
    assert db.read_bytes() == before
    written = run(str(db), ["add", "more"], as_user=user, cwd=users_folder)
    assert written.returncode == 3 and len(written.stderr.splitlines()) == 1


def schema_exists(url: str, schema: str) -> bool:
    import asyncpg

    async def look() -> bool:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            return await conn.fetchval("SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1", schema) == 1
        finally:
            await conn.close()

    return asyncio.run(look())


@pytest.mark.postgres
def test_reading_commands_do_not_create_a_postgres_schema(postgres_schema, tmp_path):
    server, schema = postgres_schema
    url = f"{server}?schema={schema}"
    for args in reading_commands(tmp_path / "out.jsonl"):
        assert_refused(run(url, args, cwd=tmp_path), "storage error")
    assert not schema_exists(server, schema)
    assert not (tmp_path / "out.jsonl").exists()
    mcard_at: Callable[..., subprocess.CompletedProcess[bytes]] = lambda *args: run(url, list(args), cwd=tmp_path)  # noqa: E731
    assert mcard_at("add", TEXT).returncode == 0
    for args in reading_commands(tmp_path / "out.jsonl"):
        result = run(url, args, cwd=tmp_path)
        assert result.returncode == 0, (args, result.stderr.decode())
    assert json.loads(mcard_at("ls", "--json").stdout)[0]["hash"] == HASH


def changing_commands() -> list[list[str]]:
    """Commands that change cards but create no store: they need one that holds cards."""
    return [["rm", HASH], ["tag", HASH, "x"], ["untag", HASH, "x"], ["verify", "--remove"]]


def test_changing_commands_create_no_sqlite_store(tmp_path):
    db = tmp_path / "missing" / "cards.db"
    for args in changing_commands():
        assert_refused(run(str(db), args, cwd=tmp_path), "no card store here (no such file)")
    assert not (tmp_path / "missing").exists()


def test_changing_commands_leave_an_empty_file_empty(tmp_path):
    """An empty file (touch cards.db) is no store, as for the reading commands: it became one."""
    db = tmp_path / "cards.db"
    db.touch()
    for args in changing_commands():
        assert_refused(run(str(db), args, cwd=tmp_path), "no card store here (an empty database)")
    assert db.stat().st_size == 0


@pytest.mark.postgres
def test_changing_commands_create_no_postgres_schema(postgres_schema, tmp_path):
    """They created the schema and its tables, then said no card had the hash (status 1)."""
    from urllib.parse import urlsplit

    server, schema = postgres_schema
    url = urlsplit(server)
    for args in changing_commands():
        assert_refused(run(f"{server}?schema={schema}", args, cwd=tmp_path),
                       f"no card store here (no such table in database {url.path.lstrip('/')!r})")
    assert not schema_exists(server, schema)
    without_database = url._replace(path="").geturl()  # reaches the database named as the user, which the message says
    assert_refused(run(f"{without_database}?schema={schema}", ["ls"], cwd=tmp_path), f"(no such table in database {url.username!r})")


def test_a_folder_no_one_may_write_in_is_named_as_the_cause(users_folder):
    """Reading a database in WAL mode needs its -shm file beside it: when the folder is read
    only, the message names the folder, not only the file."""
    db = users_folder / "cards.db"
    mcard("add", TEXT, db=db)
    sqlite3.connect(db).close()  # the WAL and -shm files are gone: a reader would have to make them
    db.chmod(0o444)
    users_folder.chmod(0o555)
    try:
        result = run(str(db), ["ls"], as_user=as_another_user(), cwd=Path("/"))
    finally:
        users_folder.chmod(0o755)
    assert_refused(result, f"no permission to write in the folder {users_folder}")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="runs commands as two other users")
def test_a_write_blocked_by_another_users_wal_files_says_so():
    """One user's reads leave SQLite's -wal and -shm files, which another user's writes cannot
    use: the write said only that the database file, which it may write, is read-only."""
    shared = Path(tempfile.mkdtemp(prefix="mcard-shared-"))
    try:
        shared.chmod(0o777)
        db = shared / "cards.db"

        def as_user(uid: int, *args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([MCARD, "--db", str(db), *args], capture_output=True, text=True, timeout=60,
                                  user=uid, group=uid, extra_groups=[], cwd=shared)

        assert as_user(1001, "add", "mine").returncode == 0
        assert as_user(1002, "stats").returncode == 0
        refused = as_user(1001, "add", "mine too")
        assert refused.returncode == 3
        assert "this user may not write cards.db-wal and cards.db-shm beside it" in refused.stderr
    finally:
        shutil.rmtree(shared)


def test_an_older_store_is_refused_by_reading_commands_and_brought_up_to_date_by_upgrade(tmp_path):
    """The commands that read name the command that upgrades; ``upgrade`` changes no card."""
    from tests.test_sqlite_schema import write_old

    from mcard import MCard

    db = tmp_path / "old.db"
    write_old(db, [MCard(TEXT), MCard("another card")], version=3)
    before = db.read_bytes()
    for args in reading_commands(tmp_path / "out.jsonl"):
        assert_refused(run(str(db), args, cwd=tmp_path), "older mcard (schema 3)")
        assert "mcard upgrade" in run(str(db), args, cwd=tmp_path).stderr.decode()
    assert db.read_bytes() == before
    upgraded = run(str(db), ["upgrade", "--json"], cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr.decode()
    assert json.loads(upgraded.stdout) == {"upgraded_from": 3}
    assert json.loads(run(str(db), ["upgrade", "--json"], cwd=tmp_path).stdout) == {"upgraded_from": None}
    listed = run(str(db), ["ls", "--json"], cwd=tmp_path)
    assert sorted(card["hash"] for card in json.loads(listed.stdout)) == sorted([HASH, MCard("another card").hash])


def test_upgrade_brings_a_store_read_only_commands_can_read_up_to_date(tmp_path):
    """A version 4 file is read as it is; ``upgrade`` still upgrades it."""
    from tests.test_sqlite_schema import write_version_4

    db = tmp_path / "v4.db"
    kept, named = asyncio.run(write_version_4(db))
    assert run(str(db), ["stats"], cwd=tmp_path).returncode == 0
    upgraded = run(str(db), ["upgrade"], cwd=tmp_path)
    assert upgraded.stdout.decode().strip() == "upgraded from schema 4", upgraded.stderr.decode()
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT value FROM mcard_meta WHERE key = 'schema_version'").fetchone() == (5,)
        assert raw.execute("SELECT count(*) FROM card").fetchone() == (len(kept) + 1,)
    raw.close()


def test_upgrade_creates_no_store(tmp_path):
    db = tmp_path / "missing.db"
    assert_refused(run(str(db), ["upgrade"], cwd=tmp_path), "no card store here (no such file)")
    assert not db.exists()


def as_written_by(server: str, schema: str, version: int, change: str = "") -> None:
    """The PostgreSQL store of ``schema`` made to say schema ``version``, after ``change`` (SQL)
    of its tables, as another mcard would have left it."""
    async def rewrite() -> None:
        import asyncpg

        conn = await asyncpg.connect(server)
        try:
            if change:
                await conn.execute(change)
            await conn.execute(f"UPDATE \"{schema}\".card_meta SET value = $1 WHERE key = 'schema_version'", version)
        finally:
            await conn.close()

    asyncio.run(rewrite())


@pytest.mark.postgres
def test_upgrade_brings_an_older_postgres_store_up_to_date(postgres_schema, tmp_path):
    server, schema = postgres_schema
    url = f"{server}?schema={schema}"
    assert run(url, ["add", TEXT], cwd=tmp_path).returncode == 0
    as_written_by(server, schema, 2, f'DROP TABLE "{schema}".card_sighting, "{schema}".card_tag')  # no label tables
    assert_refused(run(url, ["ls"], cwd=tmp_path), "older mcard (schema 2")
    assert "mcard upgrade" in run(url, ["ls"], cwd=tmp_path).stderr.decode()
    assert json.loads(run(url, ["upgrade", "--json"], cwd=tmp_path).stdout) == {"upgraded_from": 2}
    assert json.loads(run(url, ["upgrade", "--json"], cwd=tmp_path).stdout) == {"upgraded_from": None}
    assert json.loads(run(url, ["ls", "--json"], cwd=tmp_path).stdout)[0]["hash"] == HASH


NEWER = "a newer mcard wrote it"
INSTALL = "pip install --upgrade mcard-store"


def newer_store_commands(out: Path) -> list[list[str]]:
    """The commands that read, then those that would write or upgrade it."""
    return [*reading_commands(out), ["add", "another"], ["upgrade"], ["import", str(out.parent)]]


def test_a_store_a_newer_mcard_wrote_says_to_install_a_newer_mcard(tmp_path):
    """``upgrade`` cannot help with it: the message names what can, and the file is left as it was."""
    from tests.test_sqlite_schema import write_old

    from mcard import MCard, NewerStoreError, SQLiteConfig
    from mcard.infrastructure.persistence.engine.sqlite_engine import SQLiteStore

    db = tmp_path / "future.db"
    write_old(db, [MCard(TEXT)])
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE mcard_meta SET value = 99 WHERE key = 'schema_version'")
    raw.close()
    before = db.read_bytes()
    work = tmp_path / "work"
    work.mkdir()
    for args in newer_store_commands(work / "out.jsonl"):
        result = run(str(db), args, cwd=work)
        assert_refused(result, NEWER)
        assert INSTALL in result.stderr.decode() and "mcard upgrade" not in result.stderr.decode()
    assert db.read_bytes() == before
    for read_only in (False, True):
        with pytest.raises(NewerStoreError, match=NEWER) as raised:
            asyncio.run(SQLiteStore(SQLiteConfig(db, read_only=read_only)).initialize())
        assert raised.value.version == 99


@pytest.mark.postgres
def test_a_postgres_store_a_newer_mcard_wrote_says_to_install_a_newer_mcard(postgres_schema, tmp_path):
    server, schema = postgres_schema
    url = f"{server}?schema={schema}"
    assert run(url, ["add", TEXT], cwd=tmp_path).returncode == 0
    as_written_by(server, schema, 99)
    work = tmp_path / "work"
    work.mkdir()
    for args in newer_store_commands(work / "out.jsonl"):
        result = run(url, args, cwd=work)
        assert_refused(result, NEWER)
        assert INSTALL in result.stderr.decode() and "mcard upgrade" not in result.stderr.decode()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="runs commands as another user")
def test_a_write_after_reading_a_read_only_file_names_the_read_only_files_its_read_left():
    """SQLite gives the -wal and -shm files a read makes the database file's permissions: after a
    read of a file made read-only (chmod 444) and writable again, a write still fails, and the
    message blamed another user's reads, of which there were none."""
    shared = Path(tempfile.mkdtemp(prefix="mcard-own-"))
    try:
        shared.chmod(0o777)
        db = shared / "cards.db"

        def as_user(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([MCARD, "--db", str(db), *args], capture_output=True, text=True, timeout=60,
                                  user=1003, group=1003, extra_groups=[], cwd=shared)

        assert as_user("add", "mine").returncode == 0
        db.chmod(0o444)
        assert as_user("ls").returncode == 0
        db.chmod(0o644)
        refused = as_user("add", "mine too")
        assert refused.returncode == 3 and len(refused.stderr.splitlines()) == 1
        assert "cards.db-shm beside it is read-only: SQLite made it with the permissions the database file had" \
            in refused.stderr, refused.stderr
        assert "another user" not in refused.stderr
        (shared / "cards.db-shm").chmod(0o644)  # as the message says
        assert as_user("add", "mine too").returncode == 0
    finally:
        shutil.rmtree(shared)
