"""Which store a command opens, and how: commands that only read open it read-only."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import sys
from collections.abc import AsyncIterator
from typing import Final

from mcard.domain.models.exceptions import ConfigurationError, NoCardStoreError, StorageError
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper
from mcard.infrastructure.persistence.config_url import DB_URL_ENV, config_of
from mcard.infrastructure.persistence.engine_config import (
    DB_PATH_ENV,
    DEFAULT_DB_FILENAME,
    EngineConfig,
    SQLiteConfig,
)

from .output import note, safe

INDEX_NOTE_AFTER: Final = 1.0
"""Seconds of indexing after which a terminal is told what the command still does."""


def db_target(args: argparse.Namespace) -> str:
    """``--db``, else ``$MCARD_DB_URL``, else ``$MCARD_DB_PATH``, else ``mcard.db``."""
    return args.db or os.environ.get(DB_URL_ENV) or os.environ.get(DB_PATH_ENV) or DEFAULT_DB_FILENAME


def command_config(target: str, *, read_only: bool = False) -> EngineConfig:
    """The store ``target`` names, for a command: a ``:memory:`` one is refused, since it ends
    with the command (a card added there was reported stored, then lost)."""
    config = config_of(target)
    if isinstance(config, SQLiteConfig) and config.in_memory:
        raise ConfigurationError(f"{safe(target)} is a store in memory, which ends with the command and keeps nothing: name a database file")
    return dataclasses.replace(config, read_only=True) if read_only else config


def reading_store(args: argparse.Namespace) -> AsyncPersistenceWrapper:
    """The store, opened read-only: nothing is created, upgraded or changed; a missing
    database, or one that is not a card store, is a ``StorageError``."""
    return AsyncPersistenceWrapper(command_config(db_target(args), read_only=True))


def writing_store(args: argparse.Namespace) -> AsyncPersistenceWrapper:
    """The store, opened for writing; created when missing."""
    return AsyncPersistenceWrapper(command_config(db_target(args)))


@contextlib.asynccontextmanager
async def existing_store(args: argparse.Namespace) -> AsyncIterator[AsyncPersistenceWrapper]:
    """The store, opened for writing where there is one: a missing one (no SQLite file, an
    empty one, no table) is a ``NoCardStoreError``, and nothing is created."""
    config = command_config(db_target(args))
    await _check_there(config)
    async with AsyncPersistenceWrapper(config) as store:
        yield store


async def _check_there(config: EngineConfig) -> None:
    """``NoCardStoreError`` where ``config`` names no store yet, found by opening it read-only.
    A transient failure (the server unreachable) is raised too; others are left to the open
    that writes, which may bring an older store up to date."""
    probe = AsyncPersistenceWrapper(dataclasses.replace(config, read_only=True))
    try:
        await probe.initialize()
    except StorageError as exc:
        if isinstance(exc, NoCardStoreError) or exc.transient:
            raise
    finally:
        await probe.close()


async def indexed(store: AsyncPersistenceWrapper) -> None:
    """Wait until the search indexes cover the cards just stored. A store indexes in the
    background once writes pause, and a command ends right after its writes, while the commands
    that read open the store read-only and never index: without this wait, a store filled from
    the command line was never indexed, and every search scanned all its texts. On a terminal,
    a wait of more than ``INDEX_NOTE_AFTER`` seconds says what it is; Ctrl-C stops it, keeping
    what was stored (the next command that writes goes on indexing)."""
    waiting = asyncio.ensure_future(store.wait_indexed())
    try:
        done, _ = await asyncio.wait([waiting], timeout=INDEX_NOTE_AFTER)
        if not done and sys.stderr.isatty():
            note("indexing the texts for search (Ctrl-C stops it: the cards are stored, searches only slower)")
        await waiting
    finally:
        waiting.cancel()
