"""Which store a command opens, and how: commands that only read open it read-only."""

from __future__ import annotations

import argparse
import os

from mcard.domain.models.exceptions import NoCardStoreError
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper
from mcard.infrastructure.persistence.config_url import DB_URL_ENV, config_of
from mcard.infrastructure.persistence.engine_config import (
    DB_PATH_ENV,
    DEFAULT_DB_FILENAME,
    SQLiteConfig,
)


def db_target(args: argparse.Namespace) -> str:
    """``--db``, else ``$MCARD_DB_URL``, else ``$MCARD_DB_PATH``, else ``mcard.db``."""
    return args.db or os.environ.get(DB_URL_ENV) or os.environ.get(DB_PATH_ENV) or DEFAULT_DB_FILENAME


def reading_store(args: argparse.Namespace) -> AsyncPersistenceWrapper:
    """The store, opened read-only: nothing is created, upgraded or changed; a missing
    database, or one that is not a card store, is a ``StorageError``."""
    return AsyncPersistenceWrapper(config_of(db_target(args), read_only=True))


def writing_store(args: argparse.Namespace, *, create: bool = True) -> AsyncPersistenceWrapper:
    """The store, opened for writing; created when missing, unless ``create`` is false (a
    missing SQLite file is then a ``StorageError``, and no file is made)."""
    config = config_of(db_target(args))
    if not create and isinstance(config, SQLiteConfig) and not config.in_memory and not config.path.exists():
        raise NoCardStoreError(f"{config.location}: no card store here (no such file)")
    return AsyncPersistenceWrapper(config)
