from pathlib import Path

import pytest

from mcard import ConfigurationError, SQLiteConfig


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
