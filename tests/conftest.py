"""Shared fixtures: every engine the contract suite runs against."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from mcard import AsyncPersistenceWrapper, EngineConfig, SQLiteConfig

ConfigFactory = Callable[..., EngineConfig]


def _sqlite_file(tmp_path: Path) -> ConfigFactory:
    return lambda **options: SQLiteConfig(db_path=tmp_path / "cards.db", **options)


def _sqlite_memory(tmp_path: Path) -> ConfigFactory:
    return lambda **options: SQLiteConfig(db_path=":memory:", **options)


ENGINES = {"sqlite-file": _sqlite_file, "sqlite-memory": _sqlite_memory}


@pytest.fixture(params=sorted(ENGINES))
def make_config(request: pytest.FixtureRequest, tmp_path: Path) -> ConfigFactory:
    """Builds a configuration of the engine under test; keyword options override defaults."""
    return ENGINES[request.param](tmp_path)


@pytest.fixture
async def wrapper(make_config: ConfigFactory) -> AsyncIterator[AsyncPersistenceWrapper]:
    async with AsyncPersistenceWrapper(make_config()) as opened:
        yield opened
