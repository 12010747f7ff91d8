"""A shared PostgreSQL store: roles that may not create or alter its tables, and tables of
another schema version. Each refusal says what is missing and leaves the tables as they were."""

import pytest

from mcard import AsyncPersistenceWrapper, PostgresConfig, StorageError

pytestmark = pytest.mark.postgres


@pytest.fixture
async def admin(postgres_schema):
    import asyncpg

    conn = await asyncpg.connect(postgres_schema[0])
    yield conn
    await conn.close()


async def relations(admin, schema: str) -> list[str]:
    rows = await admin.fetch(
        "SELECT relname FROM pg_class WHERE relnamespace = to_regnamespace($1) AND relkind IN ('r', 'i')"
        " ORDER BY relname", schema,
    )
    return [row[0] for row in rows]


async def stored_version(admin, schema: str) -> int:
    return await admin.fetchval(f"SELECT value FROM \"{schema}\".card_meta WHERE key = 'schema_version'")


async def test_a_store_of_a_newer_schema_is_refused_and_left_as_it_was(postgres_schema, admin):
    """A newer mcard's layout may lack what this one would create: nothing is added to it."""
    url, schema = postgres_schema
    async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema)) as store:
        await store.create("kept")
    await admin.execute(
        f"UPDATE \"{schema}\".card_meta SET value = 99 WHERE key = 'schema_version';"
        f' DROP INDEX "{schema}".card_by_time; DROP TABLE "{schema}".card_tag'
    )
    before = await relations(admin, schema)
    with pytest.raises(StorageError, match="card schema version 99 is not supported"):
        await AsyncPersistenceWrapper(PostgresConfig(url, schema=schema)).initialize()
    assert await relations(admin, schema) == before
    assert await stored_version(admin, schema) == 99
