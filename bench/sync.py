"""``python -m bench --sync``: sync between a SQLite file and PostgreSQL against a full copy.

Both stores start with the same N cards. Then: a sync each way of the identical stores; 1% new
cards written on each side and a sync each way; against a full copy of all N cards into an empty
store (every card read and saved with ``save_many``, as ``export`` + ``import --records`` would,
without their files). The ratio is how many times faster than the full copy the sync is. Each
timing starts once the stores' background search indexing is done.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from mcard import AsyncPersistenceWrapper, MCard, PostgresConfig, SQLiteConfig
from mcard.syncing import sync

from .run import Result, Row
from .workload import Workload

LOAD_BATCH = 10_000


async def drop_schema(dsn: str, schema: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await connection.close()


async def load(store: AsyncPersistenceWrapper, cards: list[MCard], desc: str) -> None:
    for start in tqdm(range(0, len(cards), LOAD_BATCH), desc=desc, unit="batch", leave=False):
        await store.save_many(cards[start:start + LOAD_BATCH])


async def settle(*stores: AsyncPersistenceWrapper) -> None:
    """Let the background search indexing finish, so that it does not share the CPU with a timing."""
    for store in stores:
        await store.wait_indexed()


async def full_copy(source: AsyncPersistenceWrapper, dest: AsyncPersistenceWrapper) -> float:
    """Seconds to read every card of ``source`` and save them all into ``dest``."""
    started = time.perf_counter()
    batch: list[MCard] = []
    async for card in source.iterate(page_size=LOAD_BATCH):
        batch.append(card)
        if len(batch) == LOAD_BATCH:
            await dest.save_many(batch)
            batch = []
    if batch:
        await dest.save_many(batch)
    return time.perf_counter() - started


async def timed_sync(source: AsyncPersistenceWrapper, dest: AsyncPersistenceWrapper) -> tuple[Any, float]:
    started = time.perf_counter()
    result = await sync(source, dest, progress=False)
    return result, time.perf_counter() - started


async def run_sync(n: int, work: Workload, folder: Path, dsn: str, schema: str) -> Result:
    """The figures for stores of ``n`` cards (``work.texts`` plus 1% new on each side)."""
    schema = f"{schema}_sync"
    await drop_schema(dsn, schema)
    cards = [MCard(text) for text in work.texts[:n]]
    extra = max(1, n // 100)
    new_here = [MCard(f"new on SQLite {i}") for i in range(extra)]
    new_there = [MCard(f"new on PostgreSQL {i}") for i in range(extra)]
    result = Result(n)
    lite_path, copy_path = folder / "sync-lite.db", folder / "sync-copy.db"
    lite = AsyncPersistenceWrapper(SQLiteConfig(lite_path))
    shared = AsyncPersistenceWrapper(PostgresConfig(dsn, schema=schema, table="cards"))
    empty_pg = AsyncPersistenceWrapper(PostgresConfig(dsn, schema=schema, table="copy"))
    empty_lite = AsyncPersistenceWrapper(SQLiteConfig(copy_path))
    stores = (lite, shared, empty_pg, empty_lite)
    try:
        for store in stores:
            await store.initialize()
        await load(lite, cards, "load SQLite")
        await load(shared, cards, "load PostgreSQL")
        await settle(lite, shared)
        to_pg_full = await full_copy(lite, empty_pg)
        to_lite_full = await full_copy(shared, empty_lite)
        for copy in (empty_pg, empty_lite):
            await copy.close()  # their background indexing of the copies would share the CPU

        def row(operation: str, seconds: float, full: float, outcome: Any) -> None:
            result.rows.append(Row(operation, n, n / seconds, n / full, note=f"{seconds:.2f} s vs {full:.2f} s; {outcome}"))

        outcome, seconds = await timed_sync(lite, shared)
        row("sync identical SQLite -> PostgreSQL", seconds, to_pg_full, f"copied {outcome.copied}")
        outcome, seconds = await timed_sync(shared, lite)
        row("sync identical PostgreSQL -> SQLite", seconds, to_lite_full, f"copied {outcome.copied}")
        await lite.save_many(new_here)
        await shared.save_many(new_there)
        await settle(lite, shared)
        outcome, seconds = await timed_sync(lite, shared)
        row("sync 1% new each side: SQLite -> PostgreSQL", seconds, to_pg_full, f"copied {outcome.copied}")
        outcome, seconds = await timed_sync(shared, lite)
        row("sync 1% new each side: PostgreSQL -> SQLite", seconds, to_lite_full, f"copied {outcome.copied}")
        same = await lite.range_digests([""], 2) == await shared.range_digests([""], 2)
        counts = (await lite.count(), await shared.count())
        result.facts.append(
            f"raw ops/s: a full copy of the {n:,} cards into an empty store (read all, save_many);"
            f" ratio: times faster than it. After the syncs both hold {counts[0]:,} / {counts[1]:,} cards,"
            f" {'the same' if same else 'MISMATCH: not the same'} digests."
        )
        started = time.perf_counter()
        listed = await asyncio.gather(lite.hashes_in_ranges([""]), shared.hashes_in_ranges([""]))
        result.facts.append(
            f"for scale: listing every hash of both stores took {time.perf_counter() - started:.2f} s"
            f" ({len(listed[0]):,} + {len(listed[1]):,})"
        )
    finally:
        for store in stores:
            await store.close()
        await drop_schema(dsn, schema)
        for path in (lite_path, copy_path):
            for leftover in path.parent.glob(path.name + "*"):
                leftover.unlink()
    return result
