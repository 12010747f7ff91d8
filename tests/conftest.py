"""Shared fixtures: every engine the contract suite runs against."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings
from tests.postgres_support import fresh_schema, postgres_factory

from mcard import AsyncPersistenceWrapper, EngineConfig, SQLiteConfig

ConfigFactory = Callable[..., EngineConfig]

# No property test fails for its speed: a busy machine stalls an example past any deadline
# (speed is measured by the benchmark).
settings.register_profile("untimed", deadline=None)
settings.load_profile("untimed")


def _sqlite_file(request: pytest.FixtureRequest) -> ConfigFactory:
    tmp_path = request.getfixturevalue("tmp_path")
    return lambda **options: SQLiteConfig(db_path=tmp_path / "cards.db", **options)


def _sqlite_memory(request: pytest.FixtureRequest) -> ConfigFactory:
    return lambda **options: SQLiteConfig(db_path=":memory:", **options)


def _postgres(request: pytest.FixtureRequest) -> ConfigFactory:
    return postgres_factory(*request.getfixturevalue("postgres_schema"))


ENGINES = {"sqlite-file": _sqlite_file, "sqlite-memory": _sqlite_memory, "postgres": _postgres}
"""Engine name -> builder of a configuration factory, given the test's fixture request."""


@pytest.fixture
def postgres_schema() -> Iterator[tuple[str, str]]:
    """(server URL, schema): a fresh schema on the test server, dropped after the test.

    Skips when the server is unreachable, unless ``CI`` is set: then the test fails."""
    yield from fresh_schema()


@pytest.fixture
async def admin(postgres_schema: tuple[str, str]) -> AsyncIterator[Any]:
    """A plain asyncpg connection to the test server, beside the store under test."""
    import asyncpg

    conn = await asyncpg.connect(postgres_schema[0])
    yield conn
    await conn.close()


@pytest.fixture(
    params=[
        pytest.param(name, marks=[pytest.mark.postgres] if name == "postgres" else [])
        for name in sorted(ENGINES)
    ]
)
def make_config(request: pytest.FixtureRequest) -> ConfigFactory:
    """Builds a configuration of the engine under test; keyword options override defaults."""
    return ENGINES[request.param](request)


@pytest.fixture
async def wrapper(make_config: ConfigFactory) -> AsyncIterator[AsyncPersistenceWrapper]:
    async with AsyncPersistenceWrapper(make_config()) as opened:
        yield opened
