"""PostgreSQL search figures for queries the trigram index cannot look up, each against SQL a
user could write by hand over the same cards, measured in the same process.

    .venv/bin/python -m bench.postgres_search [postgresql://postgres@127.0.0.1/test] [cards]

The cards are ``bench.workload``'s texts (~100 bytes of 12 words) and 1% notes in Japanese.
The queries hold no run of 3 ASCII letters or digits (``12``, ``fo*``, ``東京``), so the plain
texts are decided in SQL and only the others read into Python; ``river`` (looked up through
the index) is there for comparison.

- words, best 20, against PostgreSQL's own full-text search by hand: ``to_tsvector('simple',
  text) @@ to_tsquery(...)`` ranked by ``ts_rank`` (no index: mcard's words are not
  PostgreSQL's lexemes, so none would serve);
- a substring in any case, every match, against ``ILIKE`` over the text;
- ``find`` in time order, and the default facets (no hand-written counterpart).

Best of 3, mcard and the hand-written SQL alternating; in a throw-away schema, dropped at the end.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from bench.workload import make_workload
from mcard import AsyncPersistenceWrapper, MCard, PostgresConfig

WORDS = (("12", "12"), ("fo*", "fo:*"), ("東京", "東京"), ("12 OR 13", "12 | 13"), ("river", "river"))
"""(mcard's word query, the same as a ``to_tsquery``)."""
SUBSTRINGS = ("12", "東京", "e 1", "river")
ROUNDS = 3


async def best(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    """The fastest of ``ROUNDS`` calls, in ms, and what the last one returned."""
    fastest, result = float("inf"), None
    for _ in range(ROUNDS):
        started = time.perf_counter()
        result = await call()
        fastest = min(fastest, time.perf_counter() - started)
    return fastest * 1000, result


async def main(url: str, n: int) -> None:
    schema = f"mcard_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(url)
    card = f'"{schema}".card'
    text = "convert_from(content, 'UTF8')"
    by_hand_words = (
        f"SELECT hash FROM {card} WHERE is_text AND to_tsvector('simple', {text}) @@ to_tsquery('simple', $1)"
        f" ORDER BY ts_rank(to_tsvector('simple', {text}), to_tsquery('simple', $1)) DESC, g_time DESC LIMIT 20"
    )
    by_hand_substring = f"SELECT hash, content FROM {card} WHERE is_text AND {text} ILIKE '%' || $1 || '%'"
    try:
        async with AsyncPersistenceWrapper(PostgresConfig(url, schema=schema)) as store:
            texts = make_workload(n, 0, 0).texts + [f"日本語のノート {i} 東京" for i in range(max(1, n // 100))]
            await store.save_many(MCard(content) for content in texts)
            started = time.perf_counter()
            await store.wait_indexed()
            print(f"{len(texts):,} cards; the search index caught up in {time.perf_counter() - started:.1f} s")
            for query, tsquery in WORDS:
                ours, found = await best(lambda: store.search(query, 20, mode="words"))
                raw, rows = await best(lambda: admin.fetch(by_hand_words, tsquery))
                print(f"words {query!r}, best 20: {ours:,.0f} ms ({len(found)} cards) vs to_tsvector by hand"
                      f" {raw:,.0f} ms ({len(rows)}): {raw / ours:.2f}x")
            for query in SUBSTRINGS:
                ours, found = await best(lambda: store.search(query, case_sensitive=False))
                raw, rows = await best(lambda: admin.fetch(by_hand_substring, query))
                print(f"any case {query!r}, every match: {ours:,.0f} ms ({len(found)} cards) vs ILIKE"
                      f" {raw:,.0f} ms ({len(rows)}): {raw / ours:.2f}x")
            for query, _ in WORDS:
                ordered, found = await best(lambda: store.find(query, limit=20, order="newest"))
                counted, _ = await best(lambda: store.facets(query))
                print(f"find {query!r} newest first: {ordered:,.0f} ms (total {found.total:,}); facets {counted:,.0f} ms")
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main(
        sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1/test",
        int(sys.argv[2]) if len(sys.argv) > 2 else 100_000,
    ))
