"""PostgreSQL-specific behaviour: server failures, lost connections, cancellation, shared databases.

Everything else the engine does is held to the contract suite, which runs on every engine.
"""

import asyncio
import hashlib
import json
import re
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from tests.postgres_support import card_insert, drop_schema, postgres_factory

from mcard import AsyncPersistenceWrapper, MCard, PostgresConfig, Sighting, StorageError, UnreadableCardError, retry_operation
from mcard.domain.models.card import from_micros, to_micros
from mcard.exporting import export
from mcard.domain.query import Filters
from mcard.infrastructure.persistence.engine import postgres_orders as orders, postgres_sql as sql
from mcard.infrastructure.persistence.engine.card_rows import card_row

pytestmark = pytest.mark.postgres


@pytest.fixture
def make_config(postgres_schema):
    """Configurations of a store in this test's schema (PostgreSQL only, unlike the contract suite's)."""
    return postgres_factory(*postgres_schema)


async def refuse_inserts_of(admin, schema: str, content: str) -> None:
    """A real database failure: a trigger that aborts inserts of one content."""
    await admin.execute(
        f"""CREATE FUNCTION "{schema}".refuse() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN IF NEW.content = '{content}'::bytea THEN RAISE EXCEPTION 'refused'; END IF;
            RETURN NEW; END $$;
            CREATE TRIGGER refuse BEFORE INSERT ON "{schema}".card
            FOR EACH ROW EXECUTE FUNCTION "{schema}".refuse()"""
    )


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port nothing listens on: bound (so nobody else takes it) but not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


async def test_server_down_raises_a_transient_storage_error(postgres_schema, closed_port):
    config = PostgresConfig(host="127.0.0.1", port=closed_port, user="postgres", database="test", timeout=2)
    store = AsyncPersistenceWrapper(config)
    with pytest.raises(StorageError) as raised:
        await store.initialize()
    assert raised.value.transient and isinstance(raised.value.__cause__, OSError)
    assert f"127.0.0.1:{config.port}/test" in str(raised.value)
    with pytest.raises(StorageError, match="initialize"):
        await store.get("ab" * 32)


async def test_auth_failure_raises_a_lasting_storage_error(postgres_schema):
    import asyncpg

    url = postgres_schema[0].replace("postgres@", "no_such_role:secret@")
    with pytest.raises(StorageError) as raised:
        await AsyncPersistenceWrapper(PostgresConfig(url, schema=postgres_schema[1])).initialize()
    assert not raised.value.transient
    assert isinstance(raised.value.__cause__, asyncpg.PostgresError)
    assert "no_such_role" in str(raised.value) and "secret" not in str(raised.value)


async def test_unknown_database_raises_storage_error(postgres_schema):
    url = postgres_schema[0].rsplit("/", 1)[0] + "/no_such_database_here"
    with pytest.raises(StorageError, match="no_such_database_here"):
        await AsyncPersistenceWrapper(PostgresConfig(url)).initialize()


async def _activity(admin, query: str, *args: object) -> object:
    """``query`` over ``pg_stat_activity`` as it is now: inside a transaction the server
    otherwise answers from the copy it took at the transaction's first look."""
    await admin.execute("SELECT pg_stat_clear_snapshot()")
    return await admin.fetchval(query, *args)


async def wait_for_lock_wait(admin, schema: str) -> int:
    """The pid of the backend of a store of ``schema`` that waits on a lock (polls until
    there is one), other than a background search-index step. (Other mcard processes may
    use the server meanwhile.)"""
    for _ in range(500):
        pid = await _activity(
            admin,
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'mcard' AND wait_event_type = 'Lock'"
            " AND query LIKE $1 AND query NOT LIKE '%SET text_indexed%' LIMIT 1",
            f'%"{schema}"%',
        )
        if pid is not None:
            return pid
        await asyncio.sleep(0.01)
    raise AssertionError("no mcard query ever waited on the lock")


async def test_lost_connection_raises_transient_storage_error_then_recovers(make_config, admin, postgres_schema):
    schema = postgres_schema[1]
    async with AsyncPersistenceWrapper(make_config()) as store:
        card = await store.create("survives")
        async with admin.transaction():
            await admin.execute(f'LOCK TABLE "{schema}".card IN ACCESS EXCLUSIVE MODE')
            counting = asyncio.ensure_future(store.count())
            await admin.fetchval("SELECT pg_terminate_backend($1)", await wait_for_lock_wait(admin, schema))
            with pytest.raises(StorageError) as raised:
                await counting
        assert raised.value.transient and raised.value.__cause__ is not None
        assert await store.count() == 1 and await store.get(card.hash) == card


async def test_retry_operation_rides_over_a_dropped_connection(make_config, admin, postgres_schema):
    schema = postgres_schema[1]
    attempts = []
    async with AsyncPersistenceWrapper(make_config()) as store:

        @retry_operation(max_retries=2, base_delay=0.01)
        async def save_note() -> MCard:
            attempts.append(1)
            return await store.create("written despite the drop")

        async with admin.transaction():
            await admin.execute(f'LOCK TABLE "{schema}".card IN ACCESS EXCLUSIVE MODE')
            saving = asyncio.ensure_future(save_note())
            await admin.fetchval("SELECT pg_terminate_backend($1)", await wait_for_lock_wait(admin, schema))
        card = await saving
        assert len(attempts) == 2 and await store.get(card.hash) == card


async def test_lock_timeout_is_a_transient_storage_error(make_config, admin, postgres_schema):
    async with AsyncPersistenceWrapper(make_config(timeout=0.2)) as store:
        async with admin.transaction():
            await admin.execute(f'LOCK TABLE "{postgres_schema[1]}".card IN ACCESS EXCLUSIVE MODE')
            with pytest.raises(StorageError, match="lock timeout") as raised:
                await store.create("waits too long")
        assert raised.value.transient
        assert await store.count() == 0


async def test_cancelled_write_is_rolled_back_before_the_cancellation_returns(make_config, admin, postgres_schema):
    schema = postgres_schema[1]
    async with AsyncPersistenceWrapper(make_config()) as store:
        async with admin.transaction():
            await admin.execute(f'LOCK TABLE "{schema}".card IN SHARE MODE')
            saving = asyncio.ensure_future(store.save_many(MCard(f"cancelled {i}") for i in range(5000)))
            pid = await wait_for_lock_wait(admin, schema)
            saving.cancel()
            with pytest.raises(asyncio.CancelledError):
                await saving
            assert await _activity(admin, "SELECT state FROM pg_stat_activity WHERE pid = $1", pid) != "active"
        await asyncio.sleep(0.2)
        assert await admin.fetchval(f'SELECT count(*) FROM "{schema}".card') == 0
        assert await store.save_many([MCard("after the cancel")]) == 1


async def test_stores_in_one_database_are_separate(postgres_schema):
    url, schema = postgres_schema
    first, second, third = (
        PostgresConfig(url, schema=schema),
        PostgresConfig(url, schema=schema, table="other_cards"),
        PostgresConfig(url, schema=schema + "_b"),
    )
    try:
        async with AsyncPersistenceWrapper(first) as a, AsyncPersistenceWrapper(second) as b, \
                AsyncPersistenceWrapper(third) as c:
            card = await a.create("only in the first")
            assert await b.get(card.hash) is None and await c.count() == 0
            await b.create("only in the second")
            assert await a.count() == 1 and await b.count() == 1
        async with AsyncPersistenceWrapper(first) as again:
            assert await again.get(card.hash) == card
    finally:
        await asyncio.to_thread(drop_schema, url, schema + "_b")


async def test_large_batches_over_copy_are_all_or_nothing(make_config, admin, postgres_schema):
    """Batches from 1,000 cards on are copied in; a failure part way stores none of them."""
    schema = postgres_schema[1]
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.create("already here")
        cards = [MCard(f"bulk {i}") for i in range(3000)] + [MCard("already here"), MCard("bulk 7")]
        await refuse_inserts_of(admin, schema, "bulk 2999")
        with pytest.raises(StorageError, match="refused"):
            await store.save_many(cards)
        assert await store.count() == 1
        await admin.execute(f'DROP TRIGGER refuse ON "{schema}".card')
        assert await store.save_many(cards) == 3000
        assert await store.save_many(cards) == 0 and await store.count() == 3001
        assert (await store.get(cards[5].hash)) == cards[5]


async def test_a_bulk_load_lies_on_the_tables_pages_oldest_first(make_config, admin, postgres_schema):
    """A large batch is copied in time order, so the newest cards of a bulk load share a few
    of the table's pages: a page of them reads those, not one table page per card (as in
    hash order, the order a batch used to go in)."""
    async with AsyncPersistenceWrapper(make_config()) as store:
        cards = [MCard(f"bulk {i} " + "x" * 60) for i in range(5000)]
        assert await store.save_many(reversed(cards)) == 5000
    pages = await admin.fetchval(
        "SELECT count(DISTINCT (ctid::text::point)[0]) FROM"
        f' (SELECT ctid FROM "{postgres_schema[1]}".card ORDER BY g_time DESC, hash DESC LIMIT 1000) AS newest'
    )
    assert pages <= 40, pages  # ~36 rows to a page of 8 KB; in hash order nearly all 139 pages


async def test_a_bulk_write_ended_to_break_a_deadlock_is_run_again(make_config, admin, postgres_schema):
    """A large batch goes in time order, so another writer may take two of its cards in the
    other order: PostgreSQL ends one of the two transactions to break the deadlock. When it
    is the store's, the store runs it again, and the batch is stored whole."""
    schema = postgres_schema[1]
    cards = [MCard(f"bulk {i}") for i in range(1500)]
    oldest, newest = cards[0], cards[-1]
    insert = card_insert(schema)
    async with AsyncPersistenceWrapper(make_config()) as store:
        await admin.execute("SET deadlock_timeout = '20s'")  # the store's backend (1 s) finds the deadlock
        writing = admin.transaction()
        await writing.start()
        try:
            await admin.execute(insert, *card_row(newest))
            saving = asyncio.ensure_future(store.save_many(cards))
            await wait_for_lock_wait(admin, schema)  # the copy holds the oldest card, waits for the newest
            await admin.execute(insert, *card_row(oldest))  # waits for the store's oldest card: a deadlock
        except BaseException:
            await writing.rollback()
            raise
        await writing.commit()
        assert await saving == 1498
        assert await store.count() == 1500
        assert set(await store.get_many([card.hash for card in cards])) == {card.hash for card in cards}


async def test_a_bulk_write_run_again_after_a_deadlock_takes_its_cards_in_hash_order(make_config, admin, postgres_schema):
    """Writers saving the same contents stamped with other times take them in other orders, and
    each deadlock ends one of them. Run again in time order, a batch met the same deadlock
    every time and failed after its last retry; run again in hash order, the order every
    writer shares, it waits for the other writer instead, and is stored whole."""
    schema = postgres_schema[1]
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    cards = [MCard(f"bulk {i}", g_time=start + timedelta(seconds=i)) for i in range(1500)]
    oldest = max(cards[:750], key=lambda card: card.hash)
    newest = min(cards[750:], key=lambda card: card.hash)
    assert newest.hash < oldest.hash  # the other writer takes the two in hash order
    insert = card_insert(schema)
    async with AsyncPersistenceWrapper(make_config()) as store:
        await admin.execute("SET deadlock_timeout = '20s'")  # the store's backend (1 s) finds each deadlock
        writing = admin.transaction()
        await writing.start()
        try:
            await admin.execute(insert, *card_row(newest))
            saving = asyncio.ensure_future(store.save_many(cards))
            for _ in range(sql.DEADLOCK_RETRIES + 1):
                await wait_for_lock_wait(admin, schema)  # the store waits for the newest card
                await admin.execute("SAVEPOINT other")
                await admin.execute(insert, *card_row(oldest))  # a deadlock if the store holds the oldest
                await admin.execute("ROLLBACK TO SAVEPOINT other")
        finally:
            await writing.rollback()
        assert await saving == 1500
        assert set(await store.get_many([card.hash for card in cards])) == {card.hash for card in cards}


async def test_paging_sees_writes_made_by_other_stores_between_pages(make_config):
    """Page ends are remembered per store; the change stamp lives in the database, so a write
    through another store (another process, another machine) still moves the next page."""
    from datetime import datetime, timedelta, timezone

    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    async with AsyncPersistenceWrapper(make_config()) as reader, AsyncPersistenceWrapper(make_config()) as writer:
        await writer.save_many([MCard(f"p{i}", g_time=t0 + timedelta(seconds=i)) for i in range(30)])
        first = await reader.list(limit=10, offset=0)
        assert await reader.list(limit=10, offset=10) == (await reader.list())[10:20]
        await writer.save(MCard("newest", g_time=t0 + timedelta(days=1)))
        assert (await reader.list(limit=10, offset=10))[0] == first[-1]
        await writer.remove_many([first[0].hash, first[1].hash])
        assert await reader.list(limit=10, offset=20) == (await reader.list())[20:30]
        assert await writer.save(MCard("p3", g_time=t0)) is False  # nothing changed: marks stay valid
        assert reader.store._page_marks


async def test_an_unknown_schema_version_is_refused(make_config, admin, postgres_schema):
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.create("kept")
    await admin.execute(f'UPDATE "{postgres_schema[1]}".card_meta SET value = 99 WHERE key = \'schema_version\'')
    with pytest.raises(StorageError, match="schema version 99"):
        await AsyncPersistenceWrapper(make_config()).initialize()


@pytest.mark.parametrize("schema_case", [str.lower, str.upper])
async def test_a_store_named_with_capitals_opens_read_only(postgres_schema, admin, schema_case):
    """``schema=`` and ``table=`` keep their case (they are quoted): the read-only open, which
    every reading command of the command line makes, finds the store under the same names."""
    url, schema = postgres_schema
    names = {"schema": schema_case(schema), "table": "Notes"}
    try:
        async with AsyncPersistenceWrapper(PostgresConfig(url, **names)) as store:
            card = await store.create("a team note")
        async with AsyncPersistenceWrapper(PostgresConfig(url, **names, read_only=True)) as store:
            assert await store.list() == [card]
    finally:
        await admin.execute(f'''DROP SCHEMA IF EXISTS "{names["schema"]}" CASCADE''')


async def test_a_page_by_name_looks_up_each_cards_latest_name_once(make_config):
    """50,000 cards (45,000 named) took 1.5-1.9 s to sort by name, each card's latest name
    looked up twice: once to put the unnamed last, once to sort by it."""
    async with AsyncPersistenceWrapper(make_config()) as store:
        for n, name in enumerate(["b.txt", None, "a.txt"]):
            await store.create(f"card {n}", name=name, source="test")
        query = f"SELECT c.hash FROM {store.store._tables.card} AS c{orders.ordering(store.store._tables, 'name')}"
        plan = "\n".join(row[0] for row in await store.store._pool.fetch(f"EXPLAIN {query}"))
        found = await store.find("", order="name")
    assert set(re.findall(r"SubPlan (\d+)", plan)) == {"1"}
    assert [card.content for card in found] == ["card 2", "card 0", "card 1"]


async def test_listing_walks_the_time_index(make_config, admin, postgres_schema):
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.save_many(MCard(f"indexed {i}") for i in range(5000))
    await admin.execute(f'VACUUM ANALYZE "{postgres_schema[1]}".card')
    tables = sql.Tables.named(postgres_schema[1], "card")
    query, *params = sql._page_query(tables, Filters.of(start_time=from_micros(1), end_time=from_micros(2**53)), 10, 4000, None)
    plan = "\n".join(row[0] for row in await admin.fetch(f"EXPLAIN {query}", *params))
    assert "Index Only Scan Backward using card_by_time" in plan and "Sort" not in plan


async def test_leaving_tags_and_names_out_is_an_anti_join_whatever_work_mem(make_config, admin, postgres_schema):
    """``-tag:x`` as ``NOT IN (subquery)`` cannot be an anti-join: once the tagged hashes
    outgrew ``work_mem``, every card scanned them all again (over 100,000 cards, 30,000 tagged,
    a plan costed at 32 million)."""
    async with AsyncPersistenceWrapper(make_config()) as store:
        cards = [MCard(f"tagged or not {i}") for i in range(3000)]
        await store.save_many(cards, sightings=[Sighting.of(card.hash, name=f"n{i}.tmp") for i, card in enumerate(cards[:1500])])
        await store.tag_many((card.hash, "x") for card in cards[::2])
        assert (await store.find("-tag:x -name:*.tmp")).total == 750
    await admin.execute(f'ANALYZE "{postgres_schema[1]}".card, "{postgres_schema[1]}".card_tag, "{postgres_schema[1]}".card_sighting')
    tables = sql.Tables.named(postgres_schema[1], "card")
    where, params = sql._where(tables, Filters(excluded_tags=("x",), excluded_names=("*.tmp",)), None)
    async with admin.transaction():
        await admin.execute("SET LOCAL work_mem = '64kB'")
        plan = "\n".join(row[0] for row in await admin.fetch(f"EXPLAIN SELECT count(*) FROM {tables.card}{where}", *params))
    assert plan.count("Anti Join") == 2 and "SubPlan" not in plan, plan


WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from mcard import AsyncPersistenceWrapper, MCard, PostgresConfig

    url, schema, index = sys.argv[1], sys.argv[2], int(sys.argv[3])
    CARDS, PROCESSES, TASKS = 20_000, 4, 8
    share = CARDS // PROCESSES
    # this process's quarter plus half of the next one's: every card is written by 1 or 2 processes
    mine = [(index * share + i) % CARDS for i in range(share + share // 2)]

    async def task(store, numbers):
        new = 0
        singles, batched = numbers[: len(numbers) // 4], numbers[len(numbers) // 4 :]
        for n in singles:
            card = MCard(f"card {n}")
            new += await store.save(card)
        for start in range(0, len(batched), 100):
            new += await store.save_many(MCard(f"card {n}") for n in batched[start : start + 100])
        return new

    async def main():
        async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema)) as store:
            print("ready", flush=True)
            sys.stdin.readline()
            counts = await asyncio.gather(*(task(store, mine[t::TASKS]) for t in range(TASKS)))
            print(sum(counts), flush=True)

    asyncio.run(main())
    """
)


async def test_four_processes_of_eight_tasks_write_20000_cards_exactly(postgres_schema, admin):
    url, schema = postgres_schema
    async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema)):
        pass  # the table exists before the race, as for any store in use
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, schema, str(index)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for index in range(4)
    ]
    try:
        for process in processes:
            assert process.stdout.readline().strip() == "ready"
        for process in processes:
            process.stdin.write("go\n")
            process.stdin.flush()
        outputs = [process.communicate(timeout=120)[0] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    assert [process.returncode for process in processes] == [0, 0, 0, 0]
    assert sum(int(output) for output in outputs) == 20_000
    table = f'"{schema}".card'
    assert await admin.fetchval(f"SELECT count(*) FROM {table}") == 20_000
    assert await admin.fetchval(f"SELECT count(DISTINCT hash) FROM {table}") == 20_000
    expected = {MCard(f"card {n}").hash: f"card {n}".encode() for n in range(20_000)}
    stored = {row["hash"]: row["content"] for row in await admin.fetch(f"SELECT hash, content FROM {table}")}
    assert stored == expected


async def test_grouped_writes_fail_one_by_one(make_config, admin, postgres_schema):
    """A failing write grouped with others fails alone: every other caller's card is stored."""
    schema = postgres_schema[1]
    async with AsyncPersistenceWrapper(make_config()) as store:
        await refuse_inserts_of(admin, schema, "poison")
        results = await asyncio.gather(
            *(store.create(f"fine {i}") for i in range(20)),
            store.create("poison"),
            store.save_many([MCard("in failing batch"), MCard("poison")]),
            *(store.create(f"also fine {i}") for i in range(20)),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 2 and all(isinstance(e, StorageError) and "refused" in str(e) for e in errors)
        assert await store.count() == 40 and await store.search("in failing batch") == []


async def test_cancelled_lone_reads_give_their_connections_back(make_config, admin, postgres_schema):
    """Single gets run on a connection kept aside from the pool: cancelled while the server
    makes them wait, they leave no query running and every later read (and close) works."""
    schema = postgres_schema[1]
    async with AsyncPersistenceWrapper(make_config(max_connections=4)) as store:
        card = await store.create("read again after the cancel")
        await store.store.wait_indexed()  # no index step is running when queries are counted
        for _ in range(3):
            assert await store.get(card.hash) == card
        async with admin.transaction():
            await admin.execute(f'LOCK TABLE "{schema}".card IN ACCESS EXCLUSIVE MODE')
            getting = [asyncio.ensure_future(store.get(card.hash)) for _ in range(3)]
            await wait_for_lock_wait(admin, schema)
            for get in getting:
                get.cancel()
            for get in getting:
                with pytest.raises(asyncio.CancelledError):
                    await get
        for _ in range(20):
            found = await asyncio.wait_for(asyncio.gather(*(store.get(card.hash) for _ in range(6))), 10)
            assert found == [card] * 6
        waiting = await _activity(
            admin,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mcard' AND state = 'active'"
            " AND query LIKE $1",
            f'%"{schema}"%',
        )
        assert waiting == 0
    assert await asyncio.wait_for(_activity(
        admin, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mcard' AND query LIKE $1",
        f'%"{schema}"%'), 10) == 0


async def test_cancelled_list_pages_give_their_connections_back(make_config, admin, postgres_schema):
    """Pages are lone reads too (the connection kept aside): cancelled while the server makes
    them wait, they leave no query running, and later pages are still exact."""
    schema = postgres_schema[1]
    async with AsyncPersistenceWrapper(make_config(max_connections=4)) as store:
        await store.save_many([MCard(f"page card {i}") for i in range(30)])
        await store.store.wait_indexed()  # no index step is running when queries are counted
        every = await store.list()
        assert await store.list(limit=10, offset=0) == every[:10]
        async with admin.transaction():
            await admin.execute(f'LOCK TABLE "{schema}".card IN ACCESS EXCLUSIVE MODE')
            listing = [asyncio.ensure_future(store.list(limit=10, offset=10)) for _ in range(3)]
            await wait_for_lock_wait(admin, schema)
            for page in listing:
                page.cancel()
            for page in listing:
                with pytest.raises(asyncio.CancelledError):
                    await page
        for _ in range(5):
            pages = await asyncio.wait_for(
                asyncio.gather(*(store.list(limit=10, offset=offset) for offset in (0, 10, 20, 30))), 10
            )
            assert pages == [every[:10], every[10:20], every[20:], []]
        waiting = await _activity(
            admin,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'mcard' AND state = 'active'"
            " AND query LIKE $1",
            f'%"{schema}"%',
        )
        assert waiting == 0


async def test_a_user_who_may_write_but_owns_nothing_opens_the_store_and_writes(postgres_schema, admin):
    """A team's second role: privileges on the tables, no ownership, no right to create. It
    opens the store another role made, writes, tags and searches it."""
    import uuid

    url, schema = postgres_schema
    async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema)) as owner:
        first = await owner.create("made by the owner")
        await owner.store.wait_indexed()
    role = f"mcard_writer_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        await admin.execute(
            f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}";'
            f' GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" TO "{role}";'
            f' GRANT USAGE ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"'
        )
        role_url = url.replace("postgres@", f"{role}@", 1)
        async with AsyncPersistenceWrapper(PostgresConfig(role_url, schema=schema)) as writer:
            second = await writer.create("written by another role", name="second.txt")
            assert await writer.tag(first.hash, "shared") == 1
            assert [card.hash for card in await writer.search("role", case_sensitive=False)] == [second.hash]
            assert [card.hash for card in await writer.find("tag:shared")] == [first.hash]
            assert await writer.remove(second.hash)
        assert await admin.fetchval(f'SELECT count(*) FROM "{schema}".card') == 1
    finally:
        await admin.execute(f'DROP OWNED BY "{role}"; DROP ROLE "{role}"')


async def test_stores_of_one_new_schema_open_at_once(make_config):
    """A team's notebooks starting together, each with a table of its own in a schema none of
    them has created yet: every store opens, none fails on the schema another one created."""
    stores = [AsyncPersistenceWrapper(make_config(table=f"notes_{i}")) for i in range(6)]
    try:
        opened = await asyncio.gather(*(store.initialize() for store in stores), return_exceptions=True)
        assert [outcome for outcome in opened if outcome is not None] == []
        for i, store in enumerate(stores):
            await store.create(f"note {i}")
            assert await store.count() == 1
    finally:
        for store in stores:
            await store.close()


async def test_a_timeout_says_what_timed_out(postgres_schema):
    url, schema = postgres_schema
    with pytest.raises(StorageError, match="timed out waiting for the server") as raised:
        async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema, timeout=1e-6)):
            pass
    assert raised.value.transient


async def test_reads_queued_behind_reads_that_each_wait_out_a_lock_get_the_lock_timeout_in_turn(
        make_config, admin, postgres_schema):
    """Every connection waits on a table another session has locked: each read queued behind
    them gets a connection once one ends, and is told of the lock, not of a busy pool."""
    async with AsyncPersistenceWrapper(make_config(timeout=0.5, max_connections=2)) as store:
        await store.create("a card")
        await admin.execute("BEGIN")
        await admin.execute(f'LOCK TABLE "{postgres_schema[1]}".card IN ACCESS EXCLUSIVE MODE')
        try:
            outcomes = await asyncio.gather(*(store.find("card") for _ in range(6)), return_exceptions=True)
        finally:
            await admin.execute("ROLLBACK")
        assert all(isinstance(outcome, StorageError) and outcome.transient for outcome in outcomes), outcomes
        assert all("lock timeout" in str(outcome) for outcome in outcomes), outcomes
        assert [card.content for card in await store.find("card")] == ["a card"]


async def test_many_reads_at_once_queue_for_a_connection_past_the_timeout(make_config):
    """Reads queue for the pool's connections as long as those ahead end: 100 scans of 2 MB
    on 2 connections take longer in all than a wait for a connection may (2 x the timeout),
    and each is answered."""
    async with AsyncPersistenceWrapper(make_config(timeout=0.2, max_connections=2)) as store:
        await store.save_many([MCard(f"{i} " + "lorem ipsum " * 8_000) for i in range(20)])
        started = time.perf_counter()
        outcomes = await asyncio.gather(*(store.search(r"ipsum\s+zz", mode="regex") for _ in range(100)),
                                        return_exceptions=True)
        waited = time.perf_counter() - started
        assert [outcome for outcome in outcomes if not isinstance(outcome, list)] == []
        assert waited > 0.4, f"the reads were too fast to queue past the timeout: {waited:.2f} s"


@pytest.mark.parametrize("read_only", [False, True])
async def test_another_applications_card_table_is_refused_and_left_as_it_was(make_config, admin, postgres_schema, read_only):
    schema = postgres_schema[1]
    await admin.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    await admin.execute(f'CREATE TABLE "{schema}".card (id integer PRIMARY KEY, title text)')
    await admin.execute(f"INSERT INTO \"{schema}\".card VALUES (1, 'an invoice')")
    with pytest.raises(StorageError, match="not a card store: another application's table has this name"):
        await AsyncPersistenceWrapper(make_config(read_only=read_only)).initialize()
    tables = await admin.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", schema)
    assert [row[0] for row in tables] == ["card"]
    assert [tuple(row) for row in await admin.fetch(f'SELECT * FROM "{schema}".card')] == [(1, "an invoice")]
    async with AsyncPersistenceWrapper(make_config(table="cards")) as store:  # a table of its own works
        assert await store.count() == 0


NOT_UTF8 = b"\xffsecret-text"


@pytest.mark.parametrize("read", [
    "get", "get_many", "list", "iterate", "list by type", "search", "search any case", "search words", "find",
    "search regex", "search regex, a page",
])
async def test_a_text_row_that_is_not_utf8_is_a_storage_error_and_verify_names_it(make_config, admin, postgres_schema, read):
    """A row another tool wrote: every read that meets it fails in one line, without quoting it."""
    async with AsyncPersistenceWrapper(make_config()) as store:
        good = await store.create("a good secret-text card")
        damaged = hashlib.sha256(NOT_UTF8).hexdigest()
        await admin.execute(
            f'INSERT INTO "{postgres_schema[1]}".card (hash, content, is_text, g_time, hash_algorithm, size, content_type)'
            " VALUES ($1, $2, true, $3, 'sha256', $4, 'text/plain')",
            damaged, NOT_UTF8, 1_796_391_308_000_600, len(NOT_UTF8),
        )
        reads = {
            "get": lambda: store.get(damaged),
            "get_many": lambda: store.get_many([good.hash, damaged]),
            "list": lambda: store.list(),
            "iterate": lambda: _all(store.iterate()),
            "list by type": lambda: store.list(content_type="text/plain"),
            "search": lambda: store.search("secret-text"),
            "search any case": lambda: store.search("SECRET", case_sensitive=False),
            "search words": lambda: store.search("secret", mode="words"),
            "search regex": lambda: store.search("secret-te?xt", mode="regex"),
            "search regex, a page": lambda: store.search(r"\w+-", 5, mode="regex"),
            "find": lambda: store.find("type:text/plain"),
        }
        with pytest.raises(UnreadableCardError, match="not valid UTF-8") as caught:
            await reads[read]()
        assert "secret" not in str(caught.value) and f"its content hashes to {damaged}" in str(caught.value)
        report = await store.verify(progress=False)
        assert report.checked == 2 and [(d.hash, "not valid UTF-8" in d.reason) for d in report.damaged] == [(damaged, True)]


async def _all(cards):
    return [card async for card in cards]


async def test_an_export_refuses_a_text_row_that_is_not_utf8_and_writes_the_rest(make_config, admin, postgres_schema, tmp_path):
    async with AsyncPersistenceWrapper(make_config()) as store:
        await store.save_many([MCard(f"card {i}", g_time=datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=i))
                               for i in range(150)])
        damaged = hashlib.sha256(NOT_UTF8).hexdigest()
        await admin.execute(
            f'INSERT INTO "{postgres_schema[1]}".card (hash, content, is_text, g_time, hash_algorithm, size, content_type)'
            " VALUES ($1, $2, true, $3, 'sha256', $4, 'text/plain')",
            damaged, NOT_UTF8, to_micros(datetime(2026, 1, 1, 0, 1, 40, tzinfo=timezone.utc)), len(NOT_UTF8),
        )
        result = await export(store, tmp_path / "out.jsonl", progress=False)
    assert result.exported == 150 and [card.hash for card in result.refused] == [damaged]
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["content"] for line in lines) == sorted(f"card {i}" for i in range(150))


async def test_a_time_out_of_range_is_left_out_of_stats_and_facets_and_named_when_read(make_config, admin, postgres_schema):
    async with AsyncPersistenceWrapper(make_config()) as store:
        good = await store.create("a good card")
        odd = hashlib.sha256(b"odd row").hexdigest()
        await admin.execute(
            f'INSERT INTO "{postgres_schema[1]}".card (hash, content, is_text, g_time, hash_algorithm, size, content_type)'
            " VALUES ($1, 'odd row', true, $2, 'sha256', 7, 'text/plain')", odd, 2**62,
        )
        stats = await store.stats()
        assert stats.count == 2 and stats.first == stats.last == good.g_time
        [read] = [card for card in await store.list() if card.hash == odd]
        with pytest.raises(StorageError, match=f"card {odd}: its stored time .* is not a time"):
            read.g_time
        assert [d.hash for d in (await store.verify(progress=False)).damaged] == [odd]
        assert sum(n for _, n in (await store.facets(by=("time",)))["time"]) == 1
