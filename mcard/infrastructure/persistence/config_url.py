"""Choosing an engine from one string: ``config_from_url``, ``default_config`` and ``config_of``."""

from __future__ import annotations

import dataclasses
import difflib
import os
from os import PathLike
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from mcard.domain.models.exceptions import brief, ConfigurationError, ValidationError

from .engine_config import (
    DB_PATH_ENV,
    MEMORY_PATH,
    POSTGRES_SCHEMES,
    EngineConfig,
    PostgresConfig,
    SQLiteConfig,
    without_password,
)

DB_URL_ENV: Final = "MCARD_DB_URL"
_COMMON: Final = {
    "max_connections": int, "timeout": float, "max_content_size": int, "hash_algorithm": str, "read_only": bool,
    "regex_timeout": float,
}
_SQLITE: Final = {**_COMMON, "synchronous": str, "check_same_thread": bool}
_POSTGRES: Final = {**_COMMON, "schema": str, "table": str}
_KIND_NAMES: Final = {int: "an integer", float: "a number", bool: "true or false"}
"""How a refused value's kind is named (every text is a ``str``: none is refused)."""
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _convert(name: str, value: str, kind: type) -> Any:
    try:
        if kind is bool:
            if value.lower() not in _TRUE + _FALSE:
                raise ValueError(value)
            return value.lower() in _TRUE
        return kind(value)
    except ValueError:
        raise ConfigurationError(f"option {name} must be {_KIND_NAMES[kind]}, got {brief(value)}") from None


def config_from_url(url: str) -> EngineConfig:
    """The configuration a URL names, with mcard options as query parameters.

    ``sqlite:///relative.db``, ``sqlite:////absolute/path.db``, ``sqlite://:memory:``,
    ``postgresql://user:password@host:port/database`` (or ``postgres://``); e.g.
    ``?max_connections=10&timeout=2&schema=team``. Other query parameters of a PostgreSQL
    URL (``sslmode``...) are passed on to the driver.
    """
    if not isinstance(url, str) or "://" not in url:
        raise ConfigurationError(f"expected a database URL such as sqlite:///cards.db, got {brief(url)}")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigurationError(f"not a valid database URL: {without_password(url)!r} ({exc})") from exc
    query = parse_qsl(parts.query, keep_blank_values=True)
    if parts.scheme == "sqlite":
        path = MEMORY_PATH if parts.netloc == MEMORY_PATH else unquote(parts.path[1:])
        if parts.netloc not in ("", MEMORY_PATH) or not path:
            raise ConfigurationError(
                f"a SQLite URL is sqlite:///relative.db, sqlite:////absolute.db or sqlite://:memory:, got {brief(url)}"
            )
        return SQLiteConfig(path, **_options(query, _SQLITE, url, keep_unknown=False)[0])
    if parts.scheme in POSTGRES_SCHEMES:
        try:
            url.encode("utf-8")
        except UnicodeEncodeError:  # bytes of a command line that are not UTF-8: no server takes them
            raise ConfigurationError(
                f"a PostgreSQL URL is text, but {without_password(url)!r} holds bytes that are not UTF-8"
            ) from None
        options, rest = _options(query, _POSTGRES, url, keep_unknown=True)
        dsn = urlunsplit(parts._replace(query=urlencode(rest)))
        return PostgresConfig(dsn, **options)
    raise ConfigurationError(f"unknown database URL scheme {parts.scheme!r} in {without_password(url)!r}; use sqlite or postgresql")


def _options(
    query: list[tuple[str, str]], known: dict[str, type], url: str, *, keep_unknown: bool
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    options: dict[str, Any] = {}
    rest: list[tuple[str, str]] = []
    for name, value in query:
        if name in known:
            if name in options:
                raise ConfigurationError(f"option {name!r} is given twice in {without_password(url)!r}")
            options[name] = _convert(name, value, known[name])
        elif keep_unknown and not (close := _meant(name, known)):
            rest.append((name, value))
        else:
            meant = f"; did you mean {close[0]!r}?" if (close := _meant(name, known)) else f"; known: {sorted(known)}"
            raise ConfigurationError(f"unknown option {name!r} in {without_password(url)!r}{meant}")
    return options, rest


def _meant(name: str, known: dict[str, type]) -> list[str]:
    """The option a name not known means: spelled otherwise (``Schema``, ``read-only``) or
    mistyped (``max_conections``), which would otherwise reach PostgreSQL as server settings it
    does not know, and fail far from the typo."""
    return difflib.get_close_matches(name.lower().replace("-", "_"), known, n=1, cutoff=0.85)


def default_config() -> EngineConfig:
    """The configuration the environment names: ``$MCARD_DB_URL``, else ``$MCARD_DB_PATH``
    (a URL or a SQLite file path), else ``mcard.db`` in the working directory."""
    url = os.environ.get(DB_URL_ENV) or os.environ.get(DB_PATH_ENV) or ""
    if "://" in url:
        return config_from_url(url)
    return SQLiteConfig(url) if url else SQLiteConfig()


def config_of(store: EngineConfig | str | PathLike[str], *, read_only: bool = False) -> EngineConfig:
    """A store named as every entry point takes one: an ``EngineConfig``, an engine URL
    (``postgresql://...``, ``sqlite:///...``) or a SQLite file path; ``read_only`` opens it for
    reading only, whatever the configuration or URL says."""
    if isinstance(store, EngineConfig):
        config = store
    elif isinstance(store, str) and "://" in store:
        config = config_from_url(store)
    elif isinstance(store, (str, PathLike)):
        return SQLiteConfig(store, read_only=read_only)
    else:
        raise ValidationError(f"a store is an EngineConfig, a URL or a path, not {type(store).__name__}")
    return dataclasses.replace(config, read_only=True) if read_only and not config.read_only else config
