"""Faults of a PostgreSQL store in use, each produced for real: connections the
server closed while idle, a stored time no card can have, a card removed while it is tagged,
the URL's ``application_name``, and another application's tables beside a card store's."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from urllib.parse import urlencode

import pytest
from tests.test_postgres_engine import wait_for_lock_wait

from mcard import AsyncPersistenceWrapper, MCard, PostgresConfig, StorageError, ValidationError, config_from_url

pytestmark = pytest.mark.postgres


def with_query(url: str, **params: str) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def close_idle_connections(url: str, schema: str) -> int:
    """Terminate the store's backends (those whose last statement named ``schema``) and wait
    until they are gone, blocking the caller's event loop meanwhile: the store then reads the
    server's notice and the closed socket only when its loop runs again."""
    import asyncpg

    async def terminate() -> int:
        conn = await asyncpg.connect(url)
        try:
            pids = [row[0] for row in await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'mcard' AND query LIKE $1"
                " AND pid <> pg_backend_pid()", f'%"{schema}"%',
            )]
            await conn.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", pids)
            while await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", pids):
                await asyncio.sleep(0.01)
            return len(pids)
        finally:
            await conn.close()

    killed: list[int] = []
    thread = threading.Thread(target=lambda: killed.append(asyncio.run(terminate())))
    thread.start()
    thread.join()
    assert killed and killed[0] >= 1, "no backend of the store was found"
    return killed[0]


async def loop_turns(turns: int) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


NOTICED = {
    "closed": lambda: asyncio.sleep(0.2),
    # one turn reads the server's termination notice, the closed socket is read in the next
    "notice read, close not yet": lambda: loop_turns(2),
}


@pytest.mark.parametrize("noticed", sorted(NOTICED))
async def test_a_lone_read_after_the_server_closed_idle_connections_runs_on_another(postgres_schema, noticed):
    """The connection kept aside for lone reads was closed while idle: ``get``, ``get_many``
    and a page of ``list`` still answer, without an error (they were never sent)."""
    url, schema = postgres_schema
    async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema, max_connections=5)) as store:
        card = await store.create("hello")
        reads = {
            "get": (lambda: store.get(card.hash), card),
            "get_many": (lambda: store.get_many([card.hash]), {card.hash: card}),
            "list": (lambda: store.list(limit=10), [card]),
        }
        for name, (read, expected) in reads.items():
            await read()
            close_idle_connections(url, schema)
            await NOTICED[noticed]()
            assert await read() == expected, name


async def test_iterate_goes_on_when_the_server_closes_idle_connections_between_pages(postgres_schema):
    url, schema = postgres_schema
    async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema, max_connections=5)) as store:
        cards = [MCard(f"card {i}") for i in range(30)]
        await store.save_many(cards)
        seen = []
        async for card in store.iterate(5):
            seen.append(card.hash)
            if len(seen) % 5 == 0:
                close_idle_connections(url, schema)
                await NOTICED["closed" if len(seen) % 10 else "notice read, close not yet"]()
        assert sorted(seen) == sorted(card.hash for card in cards)


async def test_a_pooled_connection_whose_close_is_not_read_yet_is_a_transient_error(postgres_schema):
    """No connection kept aside (``max_connections=2``): the read goes through the pool, onto
    a connection that has read the server's notice of its end only; the error is transient,
    and the next read works."""
    url, schema = postgres_schema
    async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema, max_connections=2)) as store:
        card = await store.create("hello")
        close_idle_connections(url, schema)
        await NOTICED["notice read, close not yet"]()
        try:
            assert await store.get(card.hash) == card
        except StorageError as error:
            assert error.transient, error
        assert await store.get(card.hash) == card


def late_row(schema: str, content: str, g_time: int) -> tuple[str, tuple[object, ...]]:
    return (
        f'INSERT INTO "{schema}".card (hash, content, is_text, g_time, hash_algorithm, size, content_type)'
        " VALUES ($1, $2, true, $3, 'sha256', $4, 'text/plain')",
        (hashlib.sha256(content.encode()).hexdigest(), content.encode(), g_time, len(content)),
    )


async def test_facets_leave_out_stored_times_no_card_can_have(postgres_schema, admin):
    """Rows another tool wrote with the largest and smallest ``bigint`` as time: counted by
    type, kind and size, left out of every time facet (as on SQLite)."""
    url, schema = postgres_schema
    async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema)) as store:
        await store.create("hello")
        for content, g_time in (("late", 2**63 - 1), ("early", -(2**63))):
            statement, args = late_row(schema, content, g_time)
            await admin.execute(statement, *args)
        found = await store.facets("", ("content_type", "kind", "size", "year", "month", "day", "hour", "time"))
    assert found["content_type"] == [("text/plain", 3)] and found["kind"] == [("text", 3)]
    assert found["size"] == [("< 1 KB", 3)]
    for field in ("year", "month", "day", "hour", "time"):
        assert [n for _, n in found[field]] == [1], (field, found[field])


async def test_tagging_a_card_another_writer_is_removing_is_a_validation_error(postgres_schema, admin):
    """The removal holds the card's row when the tag is written, and commits: the tag fails as
    tags of cards that are not stored do, not with the table's foreign key error."""
    url, schema = postgres_schema
    async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema)) as store:
        card = await store.create("going away")
        async with admin.transaction():
            await admin.execute(f'DELETE FROM "{schema}".card WHERE hash = $1', card.hash)
            tagging = asyncio.ensure_future(store.tag(card.hash, "late"))
            await wait_for_lock_wait(admin, schema)
        with pytest.raises(ValidationError, match="cannot tag cards that are not stored"):
            await asyncio.wait_for(tagging, 30)
        assert await admin.fetchval(f'SELECT count(*) FROM "{schema}".card_tag') == 0
        kept = await store.create("kept")
        assert await store.tag(kept.hash, "late") == 1


@pytest.mark.parametrize("given", [None, "team_etl"])
async def test_the_urls_application_name_stands(postgres_schema, admin, given):
    url, schema = postgres_schema
    params = {"schema": schema, **({"application_name": given} if given else {})}
    async with AsyncPersistenceWrapper(config_from_url(with_query(url, **params))) as store:
        await store.create("named")
        names = await admin.fetch(
            "SELECT DISTINCT application_name FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()",
            f'%"{schema}"%',
        )
    assert [row[0] for row in names] == [given or "mcard"]


FOREIGN_TABLES = {
    "card_tag": "CREATE TABLE {}.card_tag (hash text, tag text, owner text)",
    "card_sighting": "CREATE TABLE {}.card_sighting (id serial, stuff text)",
}


async def relations(admin, schema: str) -> list[str]:
    rows = await admin.fetch(
        "SELECT relname FROM pg_class JOIN pg_namespace ON pg_namespace.oid = relnamespace"
        " WHERE nspname = $1 ORDER BY 1", schema,
    )
    return [row[0] for row in rows]


@pytest.mark.parametrize("read_only", [False, True])
@pytest.mark.parametrize("taken", [["card_tag"], ["card_sighting"], ["card_sighting", "card_tag"]])
async def test_another_applications_companion_tables_are_refused_and_left_as_they_were(
    postgres_schema, admin, taken, read_only
):
    url, schema = postgres_schema
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    for name in taken:
        await admin.execute(FOREIGN_TABLES[name].format(f'"{schema}"'))
    before = await relations(admin, schema)
    with pytest.raises(StorageError, match="not a card store: another application's table has this name"):
        await AsyncPersistenceWrapper(PostgresConfig(url, schema=schema, read_only=read_only)).initialize()
    assert await relations(admin, schema) == before
    async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema, table="cards")) as store:
        assert await store.count() == 0  # a table of its own works


async def test_another_applications_table_beside_a_card_store_is_refused(postgres_schema, admin):
    url, schema = postgres_schema
    async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema)) as store:
        await store.create("stored")
    await admin.execute(f'DROP TABLE "{schema}".card_sighting')
    await admin.execute(FOREIGN_TABLES["card_sighting"].format(f'"{schema}"'))
    before = await relations(admin, schema)
    with pytest.raises(StorageError, match=r"another application's table has this name \(.*card_sighting"):
        await AsyncPersistenceWrapper(PostgresConfig(url, schema=schema)).initialize()
    assert await relations(admin, schema) == before
    assert await admin.fetchval(f'SELECT count(*) FROM "{schema}".card') == 1
