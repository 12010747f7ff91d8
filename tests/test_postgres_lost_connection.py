"""Connections lost or gone silent mid-write: the caller gets a transient ``StorageError``, the
write is all or nothing, ``close()`` returns and the store works afterwards.

The faults are real: ``pg_terminate_backend`` from a second connection, and a TCP relay
between the store and the server that stops relaying (a network gone silent).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from typing import Any

import pytest
from tests.postgres_support import card_insert, postgres_factory
from tests.test_postgres_engine import wait_for_lock_wait

from mcard import AsyncPersistenceWrapper, MCard, PostgresConfig, StorageError

pytestmark = pytest.mark.postgres

BULK = 20_000
SAFETY = 60
"""Seconds after which a test gives up waiting: a hang, not slowness (the faults end in ~1 s)."""


@pytest.fixture(scope="module")
def bulk() -> list[MCard]:
    """Cards (40 MB) whose COPY lasts long enough to be caught at any point (shared: cards
    are immutable)."""
    return [MCard(f"bulk card {i:06d} {'.' * 2000}") for i in range(BULK)]


@pytest.fixture
def make_config(postgres_schema):
    return postgres_factory(*postgres_schema)


async def stored(admin, schema: str) -> int:
    return await admin.fetchval(f'SELECT count(*) FROM "{schema}".card')


async def store_backend(store: AsyncPersistenceWrapper, admin, schema: str) -> int:
    """The pid of the one server backend of a store opened with ``max_connections=1``."""
    await store.count()
    pids = await admin.fetch(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'mcard' AND query LIKE $1",
        f'%"{schema}"."card"%',
    )
    assert len(pids) == 1
    return pids[0]["pid"]


def at_copy_progress(
    url: str, pid: int, table: str, rows: int, saving: asyncio.Future, act: Callable[[Any], Awaitable[None]]
) -> Awaitable[None]:
    """Once backend ``pid`` has copied ``rows`` rows into ``table`` (as quoted in its COPY),
    run ``act(connection)`` on a connection of its own.

    Watches from a thread with its own event loop: the store's loop may not yield while it
    encodes rows the server takes as fast as they come."""
    import asyncpg

    finished = threading.Event()
    saving.add_done_callback(lambda _: finished.set())

    async def watch() -> None:
        conn = await asyncpg.connect(url)
        try:
            for _ in range(SAFETY * 1000):
                if finished.is_set():
                    break
                done = await conn.fetchval(
                    "SELECT tuples_processed FROM pg_stat_progress_copy JOIN pg_stat_activity USING (pid)"
                    " WHERE pid = $1 AND query LIKE $2",
                    pid, f"COPY {table}%",
                )
                if done is not None and done >= rows:
                    return await act(conn)
                await asyncio.sleep(0.001)
            raise AssertionError(f"backend {pid} never copied {rows} rows into {table}")
        finally:
            await conn.close()

    return asyncio.to_thread(asyncio.run, watch())


async def terminate(pid: int, conn) -> None:
    assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)


async def assert_store_works(store: AsyncPersistenceWrapper, tag: str) -> None:
    """Small and large writes (INSERT and COPY paths) and reads go through."""
    card = await store.create(f"{tag}: one")
    assert await store.save_many(MCard(f"{tag}: {i}") for i in range(2000)) == 2000
    assert await store.get(card.hash) == card


@pytest.mark.parametrize("point", [0.01, 0.5, 0.85], ids=["early", "middle", "late"])
@pytest.mark.parametrize("path", ["direct", "through_temp_table"])
async def test_backend_terminated_during_copy(bulk, make_config, admin, postgres_schema, path, point):
    """``save_many`` of 20,000 cards, its backend terminated while the COPY runs: a transient
    ``StorageError`` instead of a hang; none of the batch stored; the store carries on."""
    schema = postgres_schema[1]
    store = AsyncPersistenceWrapper(make_config(timeout=1, max_connections=1))
    await store.initialize()
    try:
        table = f'"{schema}"."card"'
        if path == "through_temp_table":  # the first row is stored: the COPY goes to a temp table
            await store.save(min(bulk, key=lambda card: card.hash))
            table = '"pg_temp"."mcard_incoming"'
        before = await stored(admin, schema)
        pid = await store_backend(store, admin, schema)
        saving = asyncio.ensure_future(store.save_many(bulk))
        await at_copy_progress(postgres_schema[0], pid, table, int(BULK * point), saving, partial(terminate, pid))
        with pytest.raises(StorageError) as raised:
            await asyncio.wait_for(saving, SAFETY)
        assert raised.value.transient
        assert await stored(admin, schema) == before
        await assert_store_works(store, "after the kill")
        assert await stored(admin, schema) == before + 2001
    finally:
        await asyncio.wait_for(store.close(), SAFETY)


@pytest.mark.parametrize("point", [0.01, 0.5, 0.85], ids=["early", "middle", "late"])
async def test_backend_terminated_while_its_copy_waits(bulk, make_config, admin, postgres_schema, point):
    """The COPY reaches a card another transaction is inserting and waits for it; meanwhile
    the client fills the socket and waits for the server to read. Its backend terminated
    then: a transient ``StorageError``, nothing stored, the store carries on."""
    from mcard.infrastructure.persistence.engine.card_rows import card_row

    schema = postgres_schema[1]
    ordered = sorted(bulk, key=lambda card: card.hash)
    blocker = ordered[int(len(ordered) * point)]
    store = AsyncPersistenceWrapper(make_config(timeout=5, max_connections=1))
    await store.initialize()
    try:
        pid = await store_backend(store, admin, schema)
        other = admin.transaction()
        await other.start()
        try:
            await admin.execute(card_insert(schema), *card_row(blocker))
            saving = asyncio.ensure_future(store.save_many(bulk))
            assert await wait_for_lock_wait(admin, schema) == pid
            await asyncio.sleep(0.3)  # the client fills the socket buffers meanwhile
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
            with pytest.raises(StorageError) as raised:
                await asyncio.wait_for(saving, SAFETY)
        finally:
            await other.rollback()
        assert raised.value.transient
        assert await stored(admin, schema) == 0
        await assert_store_works(store, "after the kill")
    finally:
        await asyncio.wait_for(store.close(), SAFETY)


OPERATIONS = {
    "get": lambda store: store.get("ab" * 32),
    "count": lambda store: store.count(),
    "create": lambda store: store.create("terminated while waiting"),
    "small save_many": lambda store: store.save_many(MCard(f"small {i}") for i in range(10)),
    "COPY save_many": lambda store: store.save_many(MCard(f"copied {i}") for i in range(20_000)),
}
LOCKS = {"get": "ACCESS EXCLUSIVE", "count": "ACCESS EXCLUSIVE"}
"""The lock that makes an operation wait: SHARE holds writers up once their statement runs
(a COPY then has sent data the server does not read), but not reads."""


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
async def test_backend_terminated_during_other_operations(make_config, admin, postgres_schema, operation):
    """Every path, reads and small writes included: terminated while it waits on a lock, it
    fails transiently, stores nothing, and the pool replaces the connection."""
    schema = postgres_schema[1]
    async with AsyncPersistenceWrapper(make_config(timeout=3)) as store:
        async with admin.transaction():
            await admin.execute(f'LOCK TABLE "{schema}".card IN {LOCKS.get(operation, "SHARE")} MODE')
            running = asyncio.ensure_future(OPERATIONS[operation](store))
            await admin.fetchval("SELECT pg_terminate_backend($1)", await wait_for_lock_wait(admin, schema))
            with pytest.raises(StorageError) as raised:
                await asyncio.wait_for(running, SAFETY)
        assert raised.value.transient
        assert await stored(admin, schema) == 0
        await assert_store_works(store, "after the kill")


class SilentNetwork:
    """A TCP relay to the server, in threads of its own. ``freeze()`` stops relaying on the
    connections open so far without closing them (the network goes silent); connections
    made afterwards relay normally."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._links: list[tuple[socket.socket, socket.socket, threading.Event]] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed
                return
            server = socket.create_connection(self._target)
            frozen = threading.Event()
            with self._lock:
                self._links.append((client, server, frozen))
                for source, sink in ((client, server), (server, client)):
                    thread = threading.Thread(target=self._relay, args=(source, sink, frozen), daemon=True)
                    self._threads.append(thread)
                    thread.start()

    def _relay(self, source: socket.socket, sink: socket.socket, frozen: threading.Event) -> None:
        try:
            while data := source.recv(65536):
                while frozen.is_set() and not self._stop.is_set():
                    self._stop.wait(0.05)
                if self._stop.is_set():
                    return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            if not frozen.is_set():
                _shut(source, sink)

    def freeze(self) -> None:
        with self._lock:
            for _, _, frozen in self._links:
                frozen.set()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            for client, server, _ in self._links:
                _shut(client, server)
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=SAFETY)
        for client, server, _ in self._links:
            client.close()
            server.close()


def _shut(*socks: socket.socket) -> None:
    """End both directions (wakes a thread blocked reading it)."""
    for sock in socks:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


@pytest.fixture
def silent_network(postgres_schema) -> Iterator[SilentNetwork]:
    from urllib.parse import urlsplit

    url = urlsplit(postgres_schema[0])
    network = SilentNetwork(url.hostname or "127.0.0.1", url.port or 5432)
    yield network
    network.close()


def relayed_config(postgres_schema, network: SilentNetwork, **options) -> PostgresConfig:
    from urllib.parse import urlsplit

    url = urlsplit(postgres_schema[0])
    return PostgresConfig(
        host="127.0.0.1", port=network.port, user=url.username, password=url.password,
        database=url.path.lstrip("/"), schema=postgres_schema[1], **options,
    )


async def test_a_read_queued_behind_a_read_gone_silent_says_the_pool_gave_no_connection(silent_network, postgres_schema):
    """The one pooled connection goes silent under a read: a read queued behind it fails once
    twice the timeout passes with no call ending, saying what it waited for."""
    store = AsyncPersistenceWrapper(relayed_config(postgres_schema, silent_network, timeout=0.5, max_connections=1))
    await store.initialize()
    try:
        await store.create("a card")
        silent_network.freeze()
        stuck = asyncio.ensure_future(store.find("card"))
        await asyncio.sleep(0.1)
        with pytest.raises(StorageError) as raised:
            await asyncio.wait_for(store.find("card"), SAFETY)
        assert "no connection of the pool within 2 x the configuration's timeout (0.5 s): none of its 1 was" \
               " given back meanwhile, or the server did not answer" in str(raised.value)
        assert raised.value.transient
        assert not stuck.done()
        silent_network.close()
        with pytest.raises(StorageError):
            await asyncio.wait_for(stuck, SAFETY)
    finally:
        await store.close()


async def test_copy_over_a_network_gone_silent(bulk, silent_network, admin, postgres_schema):
    """The network stops answering mid-COPY (nothing closes): once the COPY has made no progress
    for twice the timeout it is given up, transiently; nothing is stored; new connections work."""
    schema = postgres_schema[1]
    store = AsyncPersistenceWrapper(relayed_config(postgres_schema, silent_network, timeout=1, max_connections=1))
    await store.initialize()
    try:
        pid = await store_backend(store, admin, schema)
        saving = asyncio.ensure_future(store.save_many(bulk))

        async def freeze(_conn) -> None:
            silent_network.freeze()

        await at_copy_progress(postgres_schema[0], pid, f'"{schema}"."card"', BULK // 4, saving, freeze)
        with pytest.raises(StorageError, match="no progress") as raised:
            await asyncio.wait_for(saving, SAFETY)
        assert raised.value.transient
        assert await stored(admin, schema) == 0
        await assert_store_works(store, "after the silence")
    finally:
        await asyncio.wait_for(store.close(), SAFETY)


async def test_a_copy_of_large_cards_is_not_given_up_while_the_server_stores_them(make_config, admin, postgres_schema):
    """asyncpg takes the rows of a COPY well ahead of the server, which stores what it holds
    after the last one: ``mcard sync`` of 100 cards of 10 MB to PostgreSQL failed with "COPY
    made no progress for 10 s" (as did ``save_many`` of 30 of them), nothing stored. Here the
    time allowed (twice the timeout) is shorter than the server's work after the last row."""
    import random

    rng = random.Random(7)
    cards = [MCard(rng.randbytes(1_000_000).hex()) for _ in range(24)]
    async with AsyncPersistenceWrapper(make_config(timeout=0.25)) as store:
        assert await asyncio.wait_for(store.save_many(cards), SAFETY) == len(cards)
    assert await stored(admin, postgres_schema[1]) == len(cards)


async def test_close_returns_when_the_network_is_silent(silent_network, admin, postgres_schema):
    """Closing waits for the server to acknowledge each connection's end; when it never does,
    ``close()`` still returns (after the timeout) and the connections are dropped."""
    store = AsyncPersistenceWrapper(relayed_config(postgres_schema, silent_network, timeout=1))
    await store.initialize()
    await store.create("stored before the silence")
    await store.store.wait_indexed()
    silent_network.freeze()
    await asyncio.wait_for(store.close(), SAFETY)
    assert await stored(admin, postgres_schema[1]) == 1


async def test_a_server_gone_away_is_told_at_the_next_call_and_logs_nothing_meanwhile(
    silent_network, postgres_schema, caplog
):
    """A server restarted, or unreachable, while a notebook's store sits open: its next call
    fails with a transient ``StorageError``, and nothing tries to reconnect in the background
    (the driver logged a traceback at 1, 2, 4... 60 s for as long as the server was away)."""
    store = AsyncPersistenceWrapper(relayed_config(postgres_schema, silent_network, timeout=1))
    await store.initialize()
    try:
        await store.create("stored before the server went away")
        await store.store.wait_indexed()
        silent_network.close()  # connections dropped, new ones refused
        await asyncio.sleep(2.5)
        with pytest.raises(StorageError) as raised:
            await store.count()
        assert raised.value.transient
        # the pool's new connection was refused: the message says what to check
        assert str(raised.value).endswith("; is a PostgreSQL server running there, and are the URL's host and port (or socket folder) right?")
    finally:
        await asyncio.wait_for(store.close(), SAFETY)
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []
