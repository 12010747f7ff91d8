"""mcard: a content-addressable card store with an async, database-agnostic persistence layer."""

import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())

from mcard.domain.models.card import MCard
from mcard.domain.models.sighting import Sighting
from mcard.domain.models.exceptions import (
    AmbiguousHashError,
    ConfigurationError,
    HeldByDamagedError,
    MCardError,
    NewerStoreError,
    NoCardStoreError,
    NotStoredError,
    OlderStoreError,
    StorageError,
    UnreadableCardError,
    ValidationError,
)
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper
from mcard.infrastructure.persistence.engine.base_engine import BaseStore
from mcard.infrastructure.persistence.config_url import config_from_url, default_config
from mcard.infrastructure.persistence.engine.integrity import DamagedCard, VerifyReport
from mcard.infrastructure.persistence.engine_config import EngineConfig, PostgresConfig, SQLiteConfig
from mcard.infrastructure.persistence.store import CardStore, retry_operation

__version__ = "0.1.0"



def __getattr__(name: str) -> object:
    """``mcard.sync`` and ``mcard.SyncResult``, imported when first used (``import mcard`` stays light)."""
    if name in ("sync", "SyncResult"):
        import importlib

        module = importlib.import_module("mcard.syncing")
        value = getattr(module, name) if name == "SyncResult" else module.sync
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MCard",
    "Sighting",
    "MCardError",
    "ValidationError",
    "AmbiguousHashError",
    "StorageError",
    "NoCardStoreError",
    "OlderStoreError",
    "NewerStoreError",
    "UnreadableCardError",
    "HeldByDamagedError",
    "NotStoredError",
    "ConfigurationError",
    "AsyncPersistenceWrapper",
    "BaseStore",
    "CardStore",
    "EngineConfig",
    "SQLiteConfig",
    "PostgresConfig",
    "config_from_url",
    "default_config",
    "retry_operation",
    "VerifyReport",
    "DamagedCard",
    "sync",
    "SyncResult",
]
