"""mcard: a content-addressable card store with an async, database-agnostic persistence layer.

The names below are imported when first used: ``import mcard`` (and the ``mcard`` command's
start, ``mcard.command``) stays light, so an interrupt while a command starts is one line too.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import TYPE_CHECKING

logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"

_EXCEPTIONS = "mcard.domain.models.exceptions"
_PERSISTENCE = "mcard.infrastructure.persistence"
_HOMES: dict[str, str] = {
    "MCard": "mcard.domain.models.card",
    "Sighting": "mcard.domain.models.sighting",
    **dict.fromkeys(
        ["MCardError", "ValidationError", "AmbiguousHashError", "StorageError", "NoCardStoreError", "OlderStoreError",
         "NewerStoreError", "UnreadableCardError", "HeldByDamagedError", "NotStoredError", "ConfigurationError"],
        _EXCEPTIONS,
    ),
    "AsyncPersistenceWrapper": f"{_PERSISTENCE}.async_persistence_wrapper",
    "BaseStore": f"{_PERSISTENCE}.engine.base_engine",
    "CardStore": f"{_PERSISTENCE}.store",
    "retry_operation": f"{_PERSISTENCE}.store",
    "EngineConfig": f"{_PERSISTENCE}.engine_config",
    "SQLiteConfig": f"{_PERSISTENCE}.engine_config",
    "PostgresConfig": f"{_PERSISTENCE}.engine_config",
    "config_from_url": f"{_PERSISTENCE}.config_url",
    "default_config": f"{_PERSISTENCE}.config_url",
    "VerifyReport": f"{_PERSISTENCE}.engine.integrity",
    "DamagedCard": f"{_PERSISTENCE}.engine.integrity",
    "sync": "mcard.syncing",
    "SyncResult": "mcard.syncing",
}
"""Each public name and the module it is defined in."""

__all__ = [
    "MCard", "Sighting", "MCardError", "ValidationError", "AmbiguousHashError", "StorageError", "NoCardStoreError",
    "OlderStoreError", "NewerStoreError", "UnreadableCardError", "HeldByDamagedError", "NotStoredError",
    "ConfigurationError", "AsyncPersistenceWrapper", "BaseStore", "CardStore", "EngineConfig", "SQLiteConfig",
    "PostgresConfig", "config_from_url", "default_config", "retry_operation", "VerifyReport", "DamagedCard", "sync",
    "SyncResult",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names and the submodules imported so far, not this module's own helpers."""
    submodules = [name for name, value in globals().items()
                  if isinstance(value, ModuleType) and value.__name__ == f"{__name__}.{name}"]
    return sorted({*__all__, "__version__", *submodules})


if TYPE_CHECKING:
    from mcard.domain.models.card import MCard
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
    from mcard.domain.models.sighting import Sighting
    from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper
    from mcard.infrastructure.persistence.config_url import config_from_url, default_config
    from mcard.infrastructure.persistence.engine.base_engine import BaseStore
    from mcard.infrastructure.persistence.engine.integrity import DamagedCard, VerifyReport
    from mcard.infrastructure.persistence.engine_config import EngineConfig, PostgresConfig, SQLiteConfig
    from mcard.infrastructure.persistence.store import CardStore, retry_operation
    from mcard.syncing import SyncResult, sync
