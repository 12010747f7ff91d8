import os
import re
import sqlite3
from pathlib import Path

import pytest

from mcard import AsyncPersistenceWrapper, ConfigurationError, SQLiteConfig


def test_spec_defaults():
    config = SQLiteConfig(db_path="database.db")
    assert (config.max_connections, config.timeout, config.check_same_thread) == (5, 5.0, False)
    assert config.max_content_size == 10 * 1024 * 1024
    assert config.synchronous == "NORMAL" and config.hash_algorithm == "sha256"


def test_db_path_defaults_to_environment_then_working_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("MCARD_DB_PATH", str(tmp_path / "env.db"))
    assert SQLiteConfig().db_path == str(tmp_path / "env.db")
    monkeypatch.setenv("MCARD_DB_PATH", f"sqlite:///{tmp_path / 'url.db'}")  # the docs: a URL or a path
    assert SQLiteConfig().path == tmp_path / "url.db"
    monkeypatch.setenv("MCARD_DB_PATH", "postgresql://someone:secret@127.0.0.1/cards")
    with pytest.raises(ConfigurationError, match="names a Postgres store, not a SQLite file") as raised:
        SQLiteConfig()
    assert "secret" not in str(raised.value)
    monkeypatch.delenv("MCARD_DB_PATH")
    assert SQLiteConfig().db_path == "mcard.db"


def test_db_path_may_be_positional_and_a_path():
    assert SQLiteConfig(Path("a/b.db")).path == Path("a/b.db")


@pytest.mark.parametrize(
    "options",
    [
        {"max_connections": 0},
        {"max_connections": 2.5},
        {"max_connections": True},
        {"timeout": 0},
        {"timeout": -1},
        {"timeout": float("nan")},
        {"timeout": "5"},
        {"max_content_size": 0},
        {"max_content_size": "big"},
        {"db_path": ""},
        {"db_path": 42},
        {"db_path": "."},
        {"db_path": "/"},
        {"db_path": "cards/.."},
        {"check_same_thread": "no"},
        {"synchronous": "SOMETIMES"},
        {"hash_algorithm": "crc32"},
    ],
)
def test_invalid_values_fail_at_construction(options):
    with pytest.raises(ConfigurationError):
        SQLiteConfig(**{"db_path": "x.db", **options})


def test_synchronous_is_case_insensitive():
    assert SQLiteConfig("x.db", synchronous="full").synchronous == "FULL"


def test_max_content_size_is_at_most_what_a_sqlite_row_can_hold(tmp_path):
    """SQLite holds no string or blob over 1,000,000,000 bytes: a store allowed 2 GB read a file
    of 1.1 GB whole, then failed the import with "string or blob too big" (status 3)."""
    import subprocess

    from tests.test_cli import MCARD

    from mcard.infrastructure.persistence.engine_config import SQLITE_ROW_ROOM, sqlite_max_content_size

    largest = sqlite_max_content_size()  # 999,934,464 with SQLite's default limit: 64 KiB left for the row
    assert largest == sqlite3.connect(":memory:").getlimit(sqlite3.SQLITE_LIMIT_LENGTH) - SQLITE_ROW_ROOM
    with pytest.raises(ConfigurationError, match=rf"at most {largest:,} bytes in SQLite .* got 2,000,000,000"):
        SQLiteConfig("x.db", max_content_size=2_000_000_000)
    assert SQLiteConfig("x.db", max_content_size=largest).max_content_size == largest
    (tmp_path / "note.txt").write_text("a note")
    result = subprocess.run([MCARD, "import", "note.txt", "--db", "sqlite:///cards.db?max_content_size=2000000000"],
                            capture_output=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and f"max_content_size must be at most {largest:,} bytes".encode() in result.stderr
    assert not (tmp_path / "cards.db").exists()


@pytest.mark.parametrize("field, value, message", [
    ("timeout", "10", "timeout must be a positive number of seconds, got '10'"),
    ("max_content_size", "abc", "max_content_size must be an integer >= 1, got 'abc'"),
    ("db_path", None, "db_path must be a non-empty path, got None"),
    ("regex_timeout", -5, "regex_timeout must be a positive number of seconds, got -5"),
    ("max_connections", 0, "max_connections must be an integer >= 1, got 0"),
    ("synchronous", "sometimes", "synchronous must be one of"),
])
def test_a_value_set_on_a_configuration_after_it_was_built_is_checked_by_the_store(tmp_path, field, value, message):
    config = SQLiteConfig(tmp_path / "cards.db")
    setattr(config, field, value)
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        AsyncPersistenceWrapper(config)
    assert list(tmp_path.iterdir()) == []


def test_a_value_set_on_a_configuration_after_it_was_built_is_used_as_checked(tmp_path):
    config = SQLiteConfig(tmp_path / "cards.db")
    config.synchronous, config.db_path = "full", "~/cards.db"
    store = AsyncPersistenceWrapper(config).store
    assert (store.config.synchronous, store.config.db_path) == ("FULL", os.path.expanduser("~/cards.db"))
