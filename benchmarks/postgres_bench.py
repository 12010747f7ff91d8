"""PostgreSQL engine figures, each against a baseline measured in the same process.

    .venv/bin/python benchmarks/postgres_bench.py [postgresql://postgres@127.0.0.1/test] [cards]

- save_many (unnest INSERT ... ON CONFLICT DO NOTHING) vs raw asyncpg ``copy_records_to_table``
  into an identical table (no conflict handling, no count of new rows): the floor.
- concurrent ``create`` (one card per call, pool of 5) vs the same with ``save_many``.
- paging with ``list(limit, offset)`` to the end: offset skipped in the index (what the engine
  does) vs a plain ``LIMIT/OFFSET`` over the table.
Everything runs in a throw-away schema, dropped at the end.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

import asyncpg
from tqdm.auto import tqdm

from mcard import AsyncPersistenceWrapper, MCard, PostgresConfig
from mcard.domain.models.card import to_micros
from mcard.infrastructure.persistence.engine import postgres_sql as sql


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s ({seconds * 1000:,.0f} ms)"


async def main(url: str, n: int) -> None:
    schema = f"mcard_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url)
    try:
        async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema)) as store:
            cards = [MCard(f"benchmark card number {i} " + "x" * 60) for i in range(n)]
            t = time.perf_counter()
            assert await store.save_many(cards) == n
            ours = time.perf_counter() - t
            t = time.perf_counter()
            assert await store.save_many(cards) == 0
            again = time.perf_counter() - t

            await admin.execute(f'CREATE TABLE "{schema}".raw (LIKE "{schema}".card INCLUDING ALL)')
            records = [
                (c.hash, c.content_bytes, c.is_text, to_micros(c.g_time), c.hash_algorithm, c.size)
                for c in cards
            ]
            t = time.perf_counter()
            await admin.copy_records_to_table("raw", records=records, schema_name=schema)
            raw = time.perf_counter() - t
            print(f"save_many {n:,} new cards:        {rate(n, ours)}")
            print(f"save_many {n:,} already stored:   {rate(n, again)}")
            print(f"raw copy_records_to_table:       {rate(n, raw)}  -> save_many at {raw / ours:.0%} of raw COPY")

            contents = [f"concurrent create {i}" for i in range(2000)]
            t = time.perf_counter()
            await asyncio.gather(*(store.create(c) for c in contents))
            creates = time.perf_counter() - t
            t = time.perf_counter()
            await store.save_many(MCard(c + " batch") for c in contents)
            batch = time.perf_counter() - t
            print(f"2,000 concurrent create():       {rate(2000, creates)}; one save_many: {rate(2000, batch)}")

            await admin.execute(f'VACUUM ANALYZE "{schema}".card')
            tables = sql.Tables.named(schema, "card")
            page = 100
            pages = range(0, n, n // 20)
            t = time.perf_counter()
            for offset in tqdm(pages, desc="paging (engine)", leave=False):
                await store.list(limit=page, offset=offset)
            engine = (time.perf_counter() - t) / len(pages)
            plain = f"SELECT {sql.COLUMNS} FROM {tables.card}{sql.NEWEST_FIRST} LIMIT $1 OFFSET $2"
            t = time.perf_counter()
            for offset in tqdm(pages, desc="paging (plain OFFSET)", leave=False):
                await admin.fetch(plain, page, offset)
            baseline = (time.perf_counter() - t) / len(pages)
            last = await store.list(limit=page, offset=n - page)
            assert [c.hash for c in last] == [r[0] for r in await admin.fetch(plain, page, n - page)]
            print(
                f"list page of {page} at offsets 0..{n:,}: engine {engine * 1000:.1f} ms/page,"
                f" plain LIMIT/OFFSET {baseline * 1000:.1f} ms/page ({baseline / engine:.1f}x)"
            )
            t = time.perf_counter()
            streamed = sum([1 async for _ in store.iterate(page_size=1000)])
            print(f"iterate() over {streamed:,} cards:     {rate(streamed, time.perf_counter() - t)}")
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main(
        sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1/test",
        int(sys.argv[2]) if len(sys.argv) > 2 else 100_000,
    ))
