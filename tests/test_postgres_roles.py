"""A shared PostgreSQL store: roles that may not create or alter its tables, and tables of
another schema version. Each refusal says what is missing and leaves the tables as they were."""

import asyncio
import json
import subprocess
import uuid
from collections.abc import AsyncIterator

import pytest
from tests.test_cli import MCARD

from mcard import AsyncPersistenceWrapper, MCard, NoCardStoreError, PostgresConfig, StorageError, config_from_url

pytestmark = pytest.mark.postgres

WRITER_GRANTS = (
    'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}";'
    ' GRANT USAGE ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"'
)



@pytest.fixture
async def writer(admin, postgres_schema) -> AsyncIterator[str]:
    """The URL of a role that may use the schema but owns nothing and may create nothing; the
    tables' privileges are granted by ``grant_writer`` once they exist."""
    url, schema = postgres_schema
    role = f"mcard_role_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE ROLE "{role}" LOGIN')
    await admin.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"; GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
    try:
        yield url.replace("postgres@", f"{role}@", 1)
    finally:
        await admin.execute(f'DROP OWNED BY "{role}"; DROP ROLE "{role}"')


async def grant_writer(admin, schema: str, url: str) -> None:
    role = url.split("://", 1)[1].split("@", 1)[0]
    await admin.execute(WRITER_GRANTS.format(schema=schema, role=role))


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


@pytest.mark.parametrize("read_only", [False, True])
async def test_an_older_store_that_this_role_may_not_upgrade_says_its_owner_must_open_it(
    postgres_schema, admin, writer, read_only
):
    url, schema = postgres_schema
    async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema)) as store:
        card = await store.create("written before the upgrade")
    await admin.execute(  # back to the version 2 layout: no label tables
        f'DROP TABLE "{schema}".card_sighting, "{schema}".card_tag;'
        f" UPDATE \"{schema}\".card_meta SET value = 2 WHERE key = 'schema_version'"
    )
    await grant_writer(admin, schema, writer)
    before = await relations(admin, schema)
    with pytest.raises(StorageError, match=r"written by an older mcard \(schema 2;.*open it once.*as the owner of its tables"):
        await AsyncPersistenceWrapper(PostgresConfig(writer, schema=schema, read_only=read_only)).initialize()
    assert await relations(admin, schema) == before and await stored_version(admin, schema) == 2
    async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema)):
        pass  # the owner upgrades it
    await grant_writer(admin, schema, writer)
    async with AsyncPersistenceWrapper(PostgresConfig(writer, schema=schema, read_only=read_only)) as store:
        assert [found.hash for found in await store.list()] == [card.hash]


async def test_a_role_that_may_not_create_the_store_is_told_so(postgres_schema, admin, writer):
    """A mistyped table name, say, in a schema where the role may create nothing."""
    schema = postgres_schema[1]
    with pytest.raises(StorageError, match="no card store here, and this role may not create one") as raised:
        await AsyncPersistenceWrapper(PostgresConfig(writer, schema=schema, table="crads")).initialize()
    assert "permission denied for schema" in str(raised.value)
    assert await relations(admin, schema) == []


async def test_the_connections_search_path_does_not_choose_the_store(postgres_schema):
    """``schema=`` does: a role's or URL's ``search_path`` leaves mcard's tables where they are."""
    url, schema = postgres_schema
    async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema, table="notes")) as store:
        card = await store.create("a note in the team's schema")
    on_path = f"{url}?search_path={schema}&table=notes"
    with pytest.raises(NoCardStoreError, match=r"\(public\.notes\)"):
        await AsyncPersistenceWrapper(config_from_url(f"{on_path}&read_only=1")).initialize()
    async with AsyncPersistenceWrapper(config_from_url(f"{on_path}&schema={schema}&read_only=1")) as store:
        assert await store.list() == [card]


async def test_verify_remove_by_a_role_that_may_only_read_lists_the_damage_then_is_refused(
    postgres_schema, admin, writer, tmp_path
):
    """The scan's findings are said before the refusal to mend them, not lost with it."""
    url, schema = postgres_schema
    async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema)) as store:
        await store.create("a whole card")
    damaged = "d" * 64
    await admin.execute(
        f'INSERT INTO "{schema}".card (hash, content, is_text, g_time, hash_algorithm, size, content_type)'
        " VALUES ($1, 'tampered', true, 1796391308000600, 'sha256', 8, 'text/plain')", damaged,
    )
    role = writer.split("://", 1)[1].split("@", 1)[0]
    await admin.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
    for extra in ([], ["--json"]):
        result = await asyncio.to_thread(
            subprocess.run, [MCARD, "verify", "--remove", *extra, "--db", f"{writer}?schema={schema}"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path,
        )
        assert result.returncode == 3, result.stderr
        assert "permission denied for table card" in result.stderr and "Traceback" not in result.stderr
        found = json.loads(result.stdout)["damaged"] if extra else result.stdout
        assert damaged in found and ("checked 2 cards: 1 damaged" in found or extra)
    assert await admin.fetchval(f'SELECT count(*) FROM "{schema}".card') == 2


async def test_a_role_whose_transactions_default_to_serializable_writes_from_several_stores(
    postgres_schema, admin, writer
):
    """mcard's writes are made for READ COMMITTED (conflicts skipped, stamps per writer): under
    a role's SERIALIZABLE default, writers failed each other's whole batches."""
    url, schema = postgres_schema
    async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema)) as store:
        shared = [await store.create(f"shared {i}") for i in range(10)]
    await grant_writer(admin, schema, writer)
    role = writer.split("://", 1)[1].split("@", 1)[0]
    await admin.execute(f"ALTER ROLE \"{role}\" SET default_transaction_isolation = 'serializable'")
    stores = [AsyncPersistenceWrapper(PostgresConfig(writer, schema=schema)) for _ in range(3)]
    try:
        for store in stores:
            await store.initialize()

        async def write(n: int, store: AsyncPersistenceWrapper) -> None:
            if n % 3 == 0:
                await store.create(f"note {n}")
            elif n % 3 == 1:
                await store.tag(shared[n % 10].hash, f"tag {n % 4}")
            else:
                await store.save_many([MCard(f"batch {n} {i}") for i in range(20)] + shared[:2])

        outcomes = await asyncio.gather(
            *(write(n, store) for n in range(60) for store in stores), return_exceptions=True
        )
        assert [outcome for outcome in outcomes if outcome is not None] == []
    finally:
        for store in stores:
            await store.close()


async def test_a_role_whose_strings_are_not_standard_conforming_searches(postgres_schema, admin, writer):
    """mcard's statements write a backslash as itself (``'\\'``): under a role's (or database's)
    ``standard_conforming_strings = off``, every search but a case-sensitive substring failed
    with ``syntax error at or near "escape"``."""
    url, schema = postgres_schema
    async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema)) as store:
        card = await store.create("a back\\slash river note")
        await store.store.wait_indexed()
    await grant_writer(admin, schema, writer)
    role = writer.split("://", 1)[1].split("@", 1)[0]
    await admin.execute(f'ALTER ROLE "{role}" SET standard_conforming_strings = off')
    async with AsyncPersistenceWrapper(PostgresConfig(writer, schema=schema)) as store:
        assert await store.search("BACK\\SLASH", case_sensitive=False) == [card]
        assert await store.search("river", mode="words") == [card]
        assert list(await store.find("river note")) == [card]
        assert await store.facets("river", by=("kind",)) == {"kind": [("text", 1)]}


async def test_a_role_with_a_connection_limit_needs_max_connections_within_it(postgres_schema, admin, writer):
    """Past the role's ``CONNECTION LIMIT`` a call fails, transient and saying why; a pool
    within it queues the calls instead."""
    url, schema = postgres_schema
    async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema)) as store:
        await store.create("a river note")
    await grant_writer(admin, schema, writer)
    role = writer.split("://", 1)[1].split("@", 1)[0]
    await admin.execute(f'ALTER ROLE "{role}" CONNECTION LIMIT 2')
    async with AsyncPersistenceWrapper(PostgresConfig(writer, schema=schema, max_connections=5)) as store:
        outcomes = await asyncio.gather(*(store.find("river") for _ in range(8)), return_exceptions=True)
        refused = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
        assert refused and all(isinstance(outcome, StorageError) and outcome.transient for outcome in refused)
        assert all("too many connections for role" in str(outcome) for outcome in refused)
    async with AsyncPersistenceWrapper(PostgresConfig(writer, schema=schema, max_connections=2)) as store:
        assert all(len(found) == 1 for found in await asyncio.gather(*(store.find("river") for _ in range(8))))


async def test_a_write_refused_to_a_role_that_may_only_read_says_which_privileges_writing_takes(
    postgres_schema, admin, writer
):
    """PostgreSQL names the table alone (tagging is refused on ``card``, not ``card_tag``)."""
    url, schema = postgres_schema
    async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema)) as store:
        card = await store.create("a note")
    role = writer.split("://", 1)[1].split("@", 1)[0]
    await admin.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
    async with AsyncPersistenceWrapper(PostgresConfig(writer, schema=schema)) as store:
        assert await store.list() == [card]
        for write in (lambda: store.create("another note"), lambda: store.tag(card.hash, "shared")):
            with pytest.raises(StorageError, match="permission denied for table card") as refused:
                await write()
            assert "INSERT, UPDATE, DELETE" in str(refused.value) and not refused.value.transient
    assert await admin.fetchval(f'SELECT count(*) FROM "{schema}".card_tag') == 0


async def test_a_role_refused_temporary_tables_stores_a_large_batch_holding_a_stored_card(
    postgres_schema, admin, writer
):
    """A large batch with a card already stored goes through a temporary table: a role refused
    them (``REVOKE TEMPORARY ON DATABASE ... FROM PUBLIC``, a common hardening) had such
    batches fail whole (a restore of an export over its own cards, say)."""
    url, schema = postgres_schema
    async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema)) as store:
        stored = await store.create("already stored")
    await grant_writer(admin, schema, writer)
    database = await admin.fetchval("SELECT current_database()")
    public_may = await admin.fetchval("SELECT has_database_privilege('public', current_database(), 'TEMP')")
    await admin.execute(f'REVOKE TEMPORARY ON DATABASE "{database}" FROM PUBLIC')  # superusers are not held by it
    try:
        batch = [MCard(f"batch card {i}") for i in range(1500)] + [stored]
        async with AsyncPersistenceWrapper(PostgresConfig(writer, schema=schema)) as store:
            assert await store.save_many(batch) == 1500
            assert await store.save_many(batch) == 0
            assert await store.count() == 1501
    finally:
        if public_may:
            await admin.execute(f'GRANT TEMPORARY ON DATABASE "{database}" TO PUBLIC')


async def test_an_open_that_waits_past_the_timeout_for_another_ones_upgrade_says_so(
    postgres_schema, admin, writer
):
    """The owner's upgrade of a large table holds the store for minutes; the others' opens
    said only ``canceling statement due to lock timeout``."""
    from mcard.infrastructure.persistence.engine.postgres_sql import Tables

    url, schema = postgres_schema
    async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema)) as store:
        card = await store.create("a note")
    await grant_writer(admin, schema, writer)
    upgrading = admin.transaction()
    await upgrading.start()
    try:
        await admin.execute("SELECT pg_advisory_xact_lock(hashtext($1))", Tables.named(schema, "card").lock_key)
        waiting = r"another process is creating or upgrading the store.*\(1 s\)"
        with pytest.raises(StorageError, match=waiting) as waited:
            await AsyncPersistenceWrapper(PostgresConfig(writer, schema=schema, timeout=1)).initialize()
        assert waited.value.transient
    finally:
        await upgrading.rollback()
    async with AsyncPersistenceWrapper(PostgresConfig(writer, schema=schema, timeout=1)) as store:
        assert await store.list() == [card]
