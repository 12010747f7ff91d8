"""Engine configurations. A configuration validates its values when built and makes its store."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sqlite3
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Optional
from urllib.parse import urlsplit

from mcard.domain.models.card import DEFAULT_HASH_ALGORITHM, HASH_ALGORITHMS
from mcard.domain.models.exceptions import brief, ConfigurationError

if TYPE_CHECKING:
    from .engine.base_engine import BaseStore

MiB: Final = 1024 * 1024
DEFAULT_MAX_CONTENT_SIZE: Final = 10 * MiB
DB_PATH_ENV: Final = "MCARD_DB_PATH"
DEFAULT_DB_FILENAME: Final = "mcard.db"
MEMORY_PATH: Final = ":memory:"

SQLITE_SYNCHRONOUS_MODES: Final = ("OFF", "NORMAL", "FULL", "EXTRA")
POSTGRES_SCHEMES: Final = ("postgresql", "postgres")
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,47}")
SQLITE_ROW_ROOM: Final = 64 * 1024
"""Bytes of SQLite's largest value kept for a card row's other columns (hash, time, type...)."""


POSTGRES_MAX_CONTENT_SIZE: Final = 1_000_000_000 - SQLITE_ROW_ROOM
"""The largest content a PostgreSQL card may be given: a value of PostgreSQL (and a message of
its protocol) holds at most 1 GiB, and a card of 1.1 GB failed the import with a connection
reset by the server; as SQLite's (tested: saved and read back), so both engines take the same."""


@functools.cache
def sqlite_max_content_size() -> int:
    """The largest content a SQLite card can hold: SQLite's limit on a string or blob, which
    bounds a whole row too (1,000,000,000 bytes unless SQLite was built with another), less
    ``SQLITE_ROW_ROOM``. A store allowed more read a file of 1.1 GB whole, then failed the import
    with "string or blob too big", the other files of the batch unsaved."""
    with contextlib.closing(sqlite3.connect(MEMORY_PATH)) as db:
        return db.getlimit(sqlite3.SQLITE_LIMIT_LENGTH) - SQLITE_ROW_ROOM


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(f"{name} must be an integer >= {minimum}, got {brief(value)}")


def _check_seconds(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {brief(value)}")


@dataclass(kw_only=True)
class EngineConfig(ABC):
    """Settings every engine shares. Subclasses add their own and implement ``create_store``.

    - ``max_connections``: the most database connections one store opens.
    - ``timeout``: seconds to wait for a busy database (a lock, a free connection) before failing.
    - ``max_content_size``: the largest card content accepted, in bytes (inclusive).
    - ``hash_algorithm``: the hashlib algorithm that ``create`` addresses new cards with.
    - ``regex_timeout``: seconds a regular expression search (``mode="regex"``) may run before
      it stops with a ``ValidationError``; patterns run in a child process, which is killed.
    - ``read_only``: open an existing card store for reading only. Nothing is created, upgraded
      or written (no file, folder, table or schema; no journal change): a missing store, a
      database that is not a card store, or one an older mcard wrote, is a ``StorageError``,
      and so is every write.
    """

    max_connections: int = 5
    timeout: float = 5.0
    max_content_size: int = DEFAULT_MAX_CONTENT_SIZE
    hash_algorithm: str = DEFAULT_HASH_ALGORITHM
    regex_timeout: float = 60.0
    read_only: bool = False

    def __post_init__(self) -> None:
        _check_int("max_connections", self.max_connections, 1)
        _check_int("max_content_size", self.max_content_size, 1)
        _check_seconds("timeout", self.timeout)
        _check_seconds("regex_timeout", self.regex_timeout)
        if self.hash_algorithm not in HASH_ALGORITHMS:
            raise ConfigurationError(
                f"hash_algorithm must be one of {sorted(HASH_ALGORITHMS)}, got {brief(self.hash_algorithm)}"
            )
        if not isinstance(self.read_only, bool):
            raise ConfigurationError(f"read_only must be a bool, got {brief(self.read_only)}")

    def validate(self) -> None:
        """Check every value as the constructor does, a value set since included (a store
        built from the configuration calls it): a ``ConfigurationError`` names a bad one."""
        self.__post_init__()

    @property
    def location(self) -> str:
        """Where the cards are, for messages and displays (never a password); an engine of
        one's own may say more than its class name."""
        return type(self).__name__

    @abstractmethod
    def create_store(self) -> BaseStore:
        """Build (but do not open) the store this configuration describes."""


def default_db_path() -> str:
    """``$MCARD_DB_PATH`` when set (a ``sqlite:///`` URL's path too), else ``mcard.db`` in the
    working directory."""
    named = os.environ.get(DB_PATH_ENV) or DEFAULT_DB_FILENAME
    if "://" not in named:
        return named
    from .config_url import config_from_url

    config = config_from_url(named)
    if not isinstance(config, SQLiteConfig):
        raise ConfigurationError(
            f"${DB_PATH_ENV} names a {type(config).__name__[:-len('Config')]} store, not a SQLite file:"
            " default_config() opens it"
        )
    return os.fspath(config.db_path)


@dataclass(kw_only=True)
class SQLiteConfig(EngineConfig):
    """SQLite through aiosqlite: one file (or ``":memory:"``), WAL journal.

    - ``db_path``: the database file (``~`` is expanded); missing parent folders are created.
      ``":memory:"`` keeps the data in memory, shared by the store's connections and gone when
      the store closes.
    - ``check_same_thread``: passed to ``sqlite3.connect``; each connection lives on its own
      worker thread either way.
    - ``synchronous``: ``"NORMAL"`` (default; in WAL an application crash loses nothing
      committed, a power loss may lose the last transactions) or ``"FULL"`` (survives power loss).
    """

    db_path: str | os.PathLike[str] = field(default_factory=default_db_path, kw_only=False)
    check_same_thread: bool = False
    synchronous: str = "NORMAL"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.db_path, (str, os.PathLike)) or not os.fspath(self.db_path):
            raise ConfigurationError(f"db_path must be a non-empty path, got {brief(self.db_path)}")
        if "\0" in os.fspath(self.db_path):
            raise ConfigurationError("db_path must not contain NUL characters")
        if not self.in_memory:
            self.db_path = os.path.expanduser(os.fspath(self.db_path))
            if self.path.name in ("", ".", ".."):
                raise ConfigurationError(f"db_path must name a file, not a folder: {self.db_path!r}")
        elif self.read_only:
            raise ConfigurationError("a :memory: store starts empty: it cannot be opened read-only")
        if not isinstance(self.check_same_thread, bool):
            raise ConfigurationError(f"check_same_thread must be a bool, got {brief(self.check_same_thread)}")
        if self.max_content_size > sqlite_max_content_size():
            raise ConfigurationError(
                f"max_content_size must be at most {sqlite_max_content_size():,} bytes in SQLite (its largest"
                f" string or blob, less room for the card's other columns), got {self.max_content_size:,}"
            )
        mode = self.synchronous.upper() if isinstance(self.synchronous, str) else self.synchronous
        if mode not in SQLITE_SYNCHRONOUS_MODES:
            raise ConfigurationError(
                f"synchronous must be one of {SQLITE_SYNCHRONOUS_MODES}, got {brief(self.synchronous)}"
            )
        self.synchronous = mode

    @property
    def in_memory(self) -> bool:
        return os.fspath(self.db_path) == MEMORY_PATH

    @property
    def path(self) -> Path:
        return Path(os.fspath(self.db_path))

    @property
    def location(self) -> str:
        """The file's absolute path (``..`` resolved), or ``:memory:``."""
        return MEMORY_PATH if self.in_memory else os.path.abspath(self.path)

    def create_store(self) -> BaseStore:
        from .engine.sqlite_engine import SQLiteStore

        return SQLiteStore(self)


_PASSWORD_PARAMETER: Final = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


def without_password(url: str) -> str:
    """``url`` for messages: what stands between ``user:`` and the last ``@``, and a
    ``password=`` parameter's value, as ``***``. The last ``@``, as a password may hold an
    ``@``, ``/`` or ``#`` that was not percent-encoded."""
    url = _PASSWORD_PARAMETER.sub(r"\1***", url)
    scheme, found, rest = url.partition("://")
    userinfo, at, after = rest.rpartition("@")
    if not found or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.partition(':')[0]}:***@{after}"


ENCODE_IN_USERINFO: Final = "percent-encode @ / # ? : in a user name or password (%40 %2F %23 %3F %3A)"


def _check_dsn(dsn: object) -> None:
    if not isinstance(dsn, str):
        raise ConfigurationError(f"dsn must be a postgresql:// URL, got {type(dsn).__name__}")
    try:
        url = urlsplit(dsn) if "\0" not in dsn else None
        valid = url is not None and url.scheme in POSTGRES_SCHEMES and (url.port is None or url.port >= 1)
    except ValueError:  # a port that is not a number or past 65535, an unclosed [ of an IPv6 address
        url, valid = None, False
    misread = url is not None and (url.netloc.count("@") > 1 or "@" in url.path or "@" in url.fragment)
    if not valid or url is None or misread:
        raise ConfigurationError(
            f"dsn must be a postgresql://user:password@host:port/database URL, port from 1 to 65535"
            f" ({ENCODE_IN_USERINFO}), got {without_password(dsn)!r}"
        )


def _shown_host(host: Optional[str]) -> str:
    """A host as a URL writes it: an IPv6 address in brackets."""
    return f"[{host}]" if host and ":" in host and not host.startswith("/") else host or ""


@dataclass(kw_only=True)
class PostgresConfig(EngineConfig):
    """PostgreSQL through asyncpg (``pip install 'mcard-store[postgres]'``).

    - ``dsn``: a ``postgresql://user:password@host:port/database?...`` URL; or leave it out and
      give ``host``, ``port``, ``user``, ``password``, ``database`` (unset ones fall back to
      libpq's ``PG*`` environment variables and defaults), not both.
    - ``schema`` and ``table``: where the cards live (created when missing), so several stores
      can share one database. Plain identifiers: letters, digits, ``_``, at most 48 characters.
    - ``max_connections``: the asyncpg pool's maximum size. ``timeout``: seconds to connect, to
      wait for a free pooled connection and for a row or table lock (``lock_timeout``).
    """

    dsn: Optional[str] = field(default=None, kw_only=False)
    host: Optional[str] = None
    port: Optional[int] = None
    user: Optional[str] = None
    password: Optional[str] = None
    database: Optional[str] = None
    schema: str = "public"
    table: str = "card"

    def __post_init__(self) -> None:
        super().__post_init__()
        parts = (self.host, self.port, self.user, self.password, self.database)
        if self.dsn is not None:
            _check_dsn(self.dsn)
            if any(part is not None for part in parts):
                raise ConfigurationError("give either dsn or host/port/user/password/database, not both")
        for name in ("host", "user", "password", "database"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value or "\0" in value):
                raise ConfigurationError(f"{name} must be a non-empty string, got {brief(value)}")
        if self.port is not None:
            _check_int("port", self.port, 1)
            if self.port > 65535:
                raise ConfigurationError(f"port must be at most 65535, got {brief(self.port)}")
        for name in ("schema", "table"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
                raise ConfigurationError(
                    f"{name} must be a plain identifier (letters, digits, _; at most 48), got {brief(value)}"
                )
        if self.max_content_size > POSTGRES_MAX_CONTENT_SIZE:
            raise ConfigurationError(
                f"max_content_size must be at most {POSTGRES_MAX_CONTENT_SIZE:,} bytes in PostgreSQL (its largest"
                f" value is 1 GiB), got {self.max_content_size:,}"
            )

    def __repr__(self) -> str:
        """Never shows the password (notebooks print configurations)."""
        return (
            f"PostgresConfig({self.location!r}, max_connections={self.max_connections},"
            f" timeout={self.timeout}, max_content_size={self.max_content_size},"
            f" hash_algorithm={self.hash_algorithm!r}, regex_timeout={self.regex_timeout}, read_only={self.read_only})"
        )

    @property
    def location(self) -> str:
        """Where the cards are, for messages: the server, database and table, never the password."""
        if self.dsn is not None:
            url = urlsplit(self.dsn)
            user = f"{url.username}@" if url.username else ""
            server = f"{url.scheme}://{user}{_shown_host(url.hostname)}{f':{url.port}' if url.port else ''}{url.path}"
        else:
            user = f"{self.user}@" if self.user else ""
            port = f":{self.port}" if self.port else ""
            server = f"postgresql://{user}{_shown_host(self.host)}{port}/{self.database or ''}"
        return f"{server} ({self.schema}.{self.table})"

    def create_store(self) -> BaseStore:
        from .engine.postgres_engine import PostgresStore

        return PostgresStore(self)
