"""Choosing an engine from a URL or the environment, and PostgresConfig's checks (no server needed)."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mcard import ConfigurationError, PostgresConfig, SQLiteConfig, config_from_url, default_config


@pytest.mark.parametrize(
    "url, path",
    [
        ("sqlite:///cards.db", "cards.db"),
        ("sqlite:///data/cards.db", "data/cards.db"),
        ("sqlite:////abs/path/cards.db", "/abs/path/cards.db"),
        ("sqlite://:memory:", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_sqlite_urls(url, path):
    config = config_from_url(url)
    assert isinstance(config, SQLiteConfig) and str(config.db_path) == path


def test_sqlite_url_options_are_converted_and_checked():
    config = config_from_url(
        "sqlite:///c.db?max_connections=2&timeout=1.5&synchronous=full&check_same_thread=yes&regex_timeout=300")
    assert (config.max_connections, config.timeout, config.synchronous, config.check_same_thread,
            config.regex_timeout) == (2, 1.5, "FULL", True, 300.0)
    for bad in ("sqlite:///c.db?max_connections=many", "sqlite:///c.db?colour=blue", "sqlite:///c.db?timeout=0",
                "sqlite:///c.db?regex_timeout=-1"):
        with pytest.raises(ConfigurationError):
            config_from_url(bad)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgres_urls_keep_driver_options_and_take_mcard_ones(scheme):
    config = config_from_url(f"{scheme}://me:pw@127.0.0.1:5433/cards?max_connections=10&schema=team&sslmode=disable")
    assert isinstance(config, PostgresConfig)
    assert (config.max_connections, config.schema, config.table) == (10, "team", "card")
    assert config.dsn == f"{scheme}://me:pw@127.0.0.1:5433/cards?sslmode=disable"
    assert config.location == f"{scheme}://me@127.0.0.1:5433/cards (team.card)"


@pytest.mark.parametrize(
    "url",
    ["cards.db", "", None, "mysql://x/y", "sqlite://host/cards.db", "sqlite://", "postgresql://h:notaport/db",
     "postgresql://h/db?schema=bad-name", "postgresql://h/db?max_connections=0", "postgresql://h/db?schema=a&schema=b",
     "sqlite:///c.db?timeout=1&timeout=2"],
)
def test_bad_urls_raise_configuration_error(url):
    with pytest.raises(ConfigurationError):
        config_from_url(url)


def test_default_config_reads_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("MCARD_DB_URL", raising=False)
    monkeypatch.delenv("MCARD_DB_PATH", raising=False)
    assert default_config() == SQLiteConfig("mcard.db")
    monkeypatch.setenv("MCARD_DB_PATH", str(tmp_path / "env.db"))
    assert default_config() == SQLiteConfig(str(tmp_path / "env.db"))
    monkeypatch.setenv("MCARD_DB_PATH", "postgresql://u@127.0.0.1/test?schema=s")
    assert default_config() == PostgresConfig("postgresql://u@127.0.0.1/test", schema="s")
    monkeypatch.setenv("MCARD_DB_URL", "sqlite://:memory:")
    assert default_config() == SQLiteConfig(":memory:")


def test_postgres_defaults():
    config = PostgresConfig()
    assert (config.dsn, config.host, config.schema, config.table) == (None, None, "public", "card")
    assert (config.max_connections, config.timeout, config.max_content_size) == (5, 5.0, 10 * 1024 * 1024)
    explicit = PostgresConfig(host="127.0.0.1", port=5432, user="me", password="pw", database="test")
    assert explicit.location == "postgresql://me@127.0.0.1:5432/test (public.card)"


@pytest.mark.parametrize(
    "options",
    [
        {"dsn": "mysql://x/y"},
        {"dsn": 5},
        {"dsn": "postgresql://h/db", "host": "127.0.0.1"},
        {"host": ""},
        {"port": 0},
        {"port": 70000},
        {"port": "5432"},
        {"user": 3},
        {"schema": "has space"},
        {"schema": 'quote"d'},
        {"table": ""},
        {"table": "x" * 49},
        {"max_connections": 0},
        {"timeout": -1},
        {"hash_algorithm": "crc32"},
    ],
)
def test_invalid_postgres_values_fail_at_construction(options):
    with pytest.raises(ConfigurationError):
        PostgresConfig(**options)


def test_without_asyncpg_the_engine_names_the_extra(tmp_path):
    probe = textwrap.dedent(
        """
        import sys
        sys.modules["asyncpg"] = None  # as if it were not installed
        from mcard import AsyncPersistenceWrapper, ConfigurationError, config_from_url
        config = config_from_url("postgresql://u@127.0.0.1/test")
        try:
            AsyncPersistenceWrapper(config)
        except ConfigurationError as exc:
            print(exc)
        """
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=Path(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "pip install 'mcard-store[postgres]'" in result.stdout


def test_postgres_repr_never_shows_the_password():
    for config in (PostgresConfig("postgresql://me:s3cret@127.0.0.1/db"), PostgresConfig(user="me", password="s3cret")):
        assert "s3cret" not in repr(config) and "me@" in repr(config)
    shown = repr(PostgresConfig("postgresql://me@127.0.0.1/db", regex_timeout=5.0, read_only=True))
    assert "regex_timeout=5.0" in shown and "read_only=True" in shown  # as SQLiteConfig's repr shows them


@pytest.mark.parametrize(
    "url, hint",
    [
        ("postgresql://alice:s3c@r3t@127.0.0.1:5432/test", "percent-encode @"),  # a second @
        ("postgresql://alice:s3c/r3t@127.0.0.1:5432/test", "percent-encode @"),  # the port would be "s3c"
        ("postgresql://alice:s3c#r3t@127.0.0.1:5432/test", "percent-encode @"),
        ("postgresql://alice:s3cr3t@127.0.0.1:5432/test?timeout=1&timeout=2", "given twice"),
        ("postgresql://alice:s3cr3t@127.0.0.1:5432/test?timeout=soon", "must be a number"),
        ("postgresql://alice:s3cr3t@127.0.0.1:5432/test?max_connections=many", "must be an integer, got 'many'"),
        ("postgresql://alice:s3cr3t@127.0.0.1:5432/test?read_only=maybe", "must be true or false, got 'maybe'"),
        ("postgresql://alice:s3cr3t@[127.0.0.1/test", "not a valid database URL"),
        ("mysql://alice:s3cr3t@127.0.0.1/test", "unknown database URL scheme"),
        ("postgresql://alice:12/s3cr3t@127.0.0.1/test", "percent-encode @"),  # "12" would pass for a port
        ("postgresql://alice@127.0.0.1/test?password=s3cr3t&timeout=1&timeout=2", "given twice"),
        # bytes of a command line that are not UTF-8 (asyncpg failed with a traceback)
        ("postgresql://alice:s3cr3t@127.0.0.1/test?application_name=\udcff", "not UTF-8"),
        ("postgresql://alice:s3c\udcffr3t@127.0.0.1/test", "not UTF-8"),
    ],
)
def test_a_malformed_postgres_url_is_refused_with_a_hint_and_without_its_password(url, hint):
    with pytest.raises(ConfigurationError, match=hint) as refused:
        config_from_url(url)
    message = str(refused.value)
    assert "s3c" not in message and "r3t" not in message
    assert "alice" in message or "must be" in message


@pytest.mark.parametrize("port", ["0", "65536", "99999", "five"])
def test_a_dsn_whose_port_is_no_port_number_is_refused_naming_the_port(port):
    """As ``PostgresConfig(port=...)`` refuses it: a port 0 was accepted and shown as no port."""
    dsn = f"postgresql://alice@127.0.0.1:{port}/test"
    for make in (PostgresConfig, config_from_url):
        with pytest.raises(ConfigurationError, match="port from 1 to 65535"):
            make(dsn)


def test_a_dsn_with_an_unclosed_ipv6_bracket_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="alice"):
        PostgresConfig("postgresql://alice@[::1/test")


def test_an_ipv6_server_is_shown_in_brackets():
    """As in the URL: ``::1:5433`` would not tell the address from the port."""
    assert PostgresConfig("postgresql://me@[::1]:5433/cards").location == "postgresql://me@[::1]:5433/cards (public.card)"
    assert PostgresConfig(host="::1", port=5433, user="me", database="cards").location == \
        "postgresql://me@[::1]:5433/cards (public.card)"


def test_a_percent_encoded_password_is_decoded_for_the_driver():
    config = config_from_url("postgresql://alice:p%40s%2Fs%23@127.0.0.1:5432/test")
    assert isinstance(config, PostgresConfig) and "p%40s%2Fs%23" not in repr(config)
    assert config.location == "postgresql://alice@127.0.0.1:5432/test (public.card)"


@pytest.mark.parametrize("url, meant", [
    ("postgresql://h/db?Schema=team", "schema"), ("postgresql://h/db?read-only=1", "read_only"),
    ("sqlite:///c.db?Timeout=2", "timeout"), ("postgresql://h/db?max_conections=3", "max_connections"),
    ("postgresql://h/db?read_onyl=1", "read_only"), ("postgresql://h/db?Max-Content-Size=9", "max_content_size"),
])
def test_an_option_spelled_otherwise_is_named_not_sent_to_the_server(url, meant):
    """``?Schema=team`` reached PostgreSQL as a server setting, which refused it on connecting
    ("unrecognized configuration parameter"), far from the typo."""
    with pytest.raises(ConfigurationError, match=f"unknown option .*; did you mean {meant!r}"):
        config_from_url(url)
    settings = "?TimeZone=UTC&sslmode=disable&statement_timeout=5000&application_name=x&search_path=a"
    assert config_from_url(f"postgresql://h/db{settings}").dsn.endswith(settings)


def test_max_content_size_is_at_most_what_a_postgresql_value_can_hold():
    """A card of 1.1 GB, allowed by max_content_size=2000000000, failed its import with the
    server resetting the connection (status 3); 999,934,464 bytes, as in SQLite, is saved and read."""
    url = "postgresql://me@127.0.0.1/cards?max_content_size="
    with pytest.raises(ConfigurationError, match=r"at most 999,934,464 bytes in PostgreSQL .* got 2,000,000,000"):
        config_from_url(url + "2000000000")
    assert config_from_url(url + "999934464").max_content_size == 999_934_464
