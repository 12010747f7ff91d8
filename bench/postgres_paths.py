"""PostgreSQL engine figures, each against a baseline measured in the same process.

    .venv/bin/python -m bench.postgres_paths [postgresql://postgres@127.0.0.1/test] [cards]

- save_many (COPY straight into the table) vs raw asyncpg ``copy_records_to_table``
  into an identical table (no conflict handling, no count of new rows): the floor.
- concurrent ``create`` (one card per call, pool of 5) vs the same with ``save_many``.
- paging page by page with ``list(limit, offset)`` (continued from remembered page ends), and
  one page far away without a remembered end (offset skipped in the index) vs a plain
  ``LIMIT/OFFSET`` over the table, before and after VACUUM (index-only scans need it).
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
            await admin.execute(  # the card table's columns, key and time index (no search index)
                f'CREATE TABLE "{schema}".raw (LIKE "{schema}".card INCLUDING DEFAULTS, PRIMARY KEY (hash));'
                f' CREATE INDEX ON "{schema}".raw (g_time, hash)'
            )
            ours, again, raw = [], [], []
            for round_ in tqdm(range(3), desc="save_many vs COPY", leave=False):
                cards = [MCard(f"benchmark card {round_}/{i} " + "x" * 60) for i in range(n)]
                records = [
                    (c.hash, c.content_bytes, c.is_text, to_micros(c.g_time), c.hash_algorithm, c.size, c.content_type)
                    for c in cards
                ]
                t = time.perf_counter()
                assert await store.save_many(cards) == n
                ours.append(time.perf_counter() - t)
                t = time.perf_counter()
                assert await store.save_many(cards) == 0
                again.append(time.perf_counter() - t)
                t = time.perf_counter()
                await admin.copy_records_to_table("raw", records=records, schema_name=schema, columns=sql.COLUMN_LIST)
                raw.append(time.perf_counter() - t)
            ours_s, again_s, raw_s = (sorted(x)[1] for x in (ours, again, raw))
            print(f"save_many {n:,} new cards (median of 3):  {rate(n, ours_s)}")
            print(f"save_many {n:,} already stored:          {rate(n, again_s)}")
            print(
                f"raw copy_records_to_table {n:,} rows:    {rate(n, raw_s)}"
                f"  -> save_many at {raw_s / ours_s:.0%} of raw COPY's speed"
            )

            contents = [f"concurrent create {i}" for i in range(2000)]
            t = time.perf_counter()
            await asyncio.gather(*(store.create(c) for c in contents))
            creates = time.perf_counter() - t
            t = time.perf_counter()
            await store.save_many(MCard(c + " batch") for c in contents)
            batch = time.perf_counter() - t
            print(f"2,000 concurrent create():       {rate(2000, creates)}; one save_many: {rate(2000, batch)}")

            tables = sql.Tables.named(schema, "card")
            plain = f"SELECT {sql.COLUMNS} FROM {tables.card}{sql.NEWEST_FIRST} LIMIT $1 OFFSET $2"
            page, total = 100, await store.count()
            for when in ("before VACUUM", "after VACUUM"):
                if when == "after VACUUM":
                    await admin.execute(f'VACUUM ANALYZE "{schema}".card')
                await store.close()
                await store.initialize()  # forget the page marks
                times = []
                for offset in tqdm(range(0, total, page), desc=f"paging ({when})", leave=False):
                    t = time.perf_counter()
                    await store.list(limit=page, offset=offset)
                    times.append(time.perf_counter() - t)
                first, last = sum(times[:50]) / 50, sum(times[-50:]) / 50
                await store.close()
                await store.initialize()
                t = time.perf_counter()
                await store.list(limit=page, offset=total - page)
                cold = time.perf_counter() - t
                t = time.perf_counter()
                await admin.fetch(plain, page, total - page)
                baseline = time.perf_counter() - t
                print(
                    f"paging {total:,} cards by {page} {when}: first 50 pages {first * 1000:.2f} ms/page,"
                    f" last 50 {last * 1000:.2f} ms/page; last page without a mark {cold * 1000:.1f} ms"
                    f" vs plain LIMIT/OFFSET {baseline * 1000:.1f} ms"
                )
            last = await store.list(limit=page, offset=total - page)
            assert [c.hash for c in last] == [r[0] for r in await admin.fetch(plain, page, total - page)]
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
