"""The PostgreSQL server the tests use: found once per session, one fresh schema per test."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from mcard import EngineConfig, PostgresConfig

TEST_URL_ENV = "MCARD_TEST_POSTGRES_URL"
DEFAULT_TEST_URL = "postgresql://postgres@127.0.0.1:5432/test"
HOW_TO_ENABLE = (
    f"start PostgreSQL on 127.0.0.1:5432 with a database 'test' (python3 dev.py test does),"
    f" or set {TEST_URL_ENV}; with CI set these tests are required"
)


def test_url() -> str:
    return os.environ.get(TEST_URL_ENV) or DEFAULT_TEST_URL


def _probe(url: str) -> None:
    import asyncpg

    async def probe() -> None:
        conn = await asyncpg.connect(url, timeout=5)
        await conn.close()

    asyncio.run(probe())


_reachable: dict[str, BaseException | None] = {}


def require_server() -> str:
    """The test server's URL; skips the test when it is unreachable, fails it when CI is set."""
    url = test_url()
    if url not in _reachable:
        try:
            _probe(url)
            _reachable[url] = None
        except Exception as exc:  # asyncpg missing, server down, no such database...
            _reachable[url] = exc
    problem = _reachable[url]
    if problem is not None:
        message = f"PostgreSQL at {url} is not usable ({type(problem).__name__}: {problem})"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI requires the PostgreSQL tests", pytrace=False)
        pytest.skip(f"{message}: {HOW_TO_ENABLE}")
    return url


def drop_schema(url: str, schema: str) -> None:
    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    asyncio.run(drop())


def server_value(url: str, query: str, *args: object) -> object:
    """The first value ``query`` returns, on a connection of its own to the test server."""
    import asyncpg

    async def fetch() -> object:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()

    return asyncio.run(fetch())


def schema_exists(url: str, schema: str) -> bool:
    return bool(server_value(url, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema))


def fresh_schema() -> Iterator[tuple[str, str]]:
    """(url, schema): a schema name no other test uses, dropped afterwards, also when the test
    fails (a test looping over this generator leaves it at its ``yield`` then)."""
    url = require_server()
    schema = f"mcard_test_{uuid.uuid4().hex[:16]}"
    try:
        yield url, schema
    finally:
        drop_schema(url, schema)


def fresh_database() -> Iterator[str]:
    """The URL of a database no other test uses, dropped afterwards. VACUUM removes a dead row
    only once no transaction in the same database may still see it; tests run in parallel
    keep such transactions open in the shared one."""
    import asyncpg

    url = require_server()
    name = f"mcard_test_{uuid.uuid4().hex[:16]}"

    async def run(statement: str) -> None:
        conn = await asyncpg.connect(url, timeout=5)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    finally:
        asyncio.run(run(f'DROP DATABASE "{name}" WITH (FORCE)'))


def postgres_factory(url: str, schema: str) -> Callable[..., EngineConfig]:
    return lambda **options: PostgresConfig(url, **{"schema": schema, **options})


def card_insert(schema: str) -> str:
    """A plain ``INSERT`` of one card's row (the values of ``card_rows.card_row``) into the store
    of ``schema``, as another connection beside the store writes it."""
    return (f'INSERT INTO "{schema}".card (hash, content, is_text, g_time, hash_algorithm, size, content_type)'
            " VALUES ($1, $2, $3, $4, $5, $6, $7)")
