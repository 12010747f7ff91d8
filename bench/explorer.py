"""Explorer figures: from a query to the grid's rows, and to its facets, in Python.

    .venv/bin/python -m bench.explorer [N_CARDS]

What the browser waits for after Enter is the rows (the facets follow); the baseline is the
bare ``find`` of one page through the same private loop, in the same run. Each facet is also
counted alone (the slowest field is printed): the goal is each within 200 ms at 1,000,000 cards. The browser's own
figure (Enter to the redrawn grid) comes from ``tests/test_explorer_browser.py``. Last, the grid
of every card is sorted by each order, as a click on a column header does.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tqdm.auto import tqdm

import mcard.notebook
from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig
from mcard.domain.query import ORDERS
from mcard.notebook.explorer.queries import FACET_FIELDS

QUERIES = [
    "fox", "moon", "dog walks", "type:text/plain", "number 4", "fox -moon", "walks after:2026-02-01",
    '"the moon"', "size:<50", "dog", "fox moon", "tag:holiday", "tag:holi* -tag:work",
]
TAGGED = 10
"""Every TAGGED-th card carries the tag holiday, every TAGGED-th of those work too."""
WORDS = (["fox", "dog", "moon", "walks", "number"], ["quick", "lazy", "bright", "the", "of"])
BATCH = 50_000


def cards(first: int, count: int) -> list[MCard]:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return [
        MCard(f"The {WORDS[1][n % 5]} {WORDS[0][n % 5]} {WORDS[0][(n // 5) % 5]} number {n}", g_time=start + timedelta(seconds=60 * n))
        for n in range(first, first + count)
    ]


async def fill(path: Path, count: int) -> None:
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        for first in tqdm(range(0, count, BATCH), desc="cards", unit_scale=BATCH):
            batch = cards(first, min(BATCH, count - first))
            await store.save_many(batch)
            await store.tag_many([(card.hash, "holiday") for card in batch[::TAGGED]]
                                 + [(card.hash, "work") for card in batch[::TAGGED * TAGGED]])
        started = time.perf_counter()
        await store.wait_indexed()  # the figures are a store at rest, not one catching up
        print(f"search indexes built in the background in {time.perf_counter() - started:.1f} s")


def timed(call) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        asyncio.run(fill(path, count))
        with mcard.notebook.open(path) as store:
            explorer = store.explorer(page_size=25)
            rows, facets, bare, slowest = [], [], [], []
            for query in QUERIES:
                bare.append(timed(lambda: store._run(store._wrapper.find(query, 25, 0))))
                explorer._set_quietly(query=query, page=0)
                rows.append(timed(lambda: explorer._load(query)))
                facets.append(timed(explorer._load_facets))
                alone = {field: timed(lambda: store._run(store._wrapper.facets(query, (field,)))) for field in FACET_FIELDS}
                slowest.append(max((ms, field) for field, ms in alone.items()))
            explorer.run("")
            sorted_ms = {order: timed(lambda: explorer.sort(order)) for order in ORDERS}
            assert explorer.status_kind == "info", explorer.status
    median = statistics.median
    print(f"explorer over {count:,} cards, per query: rows ms, facets ms, the slowest facet alone ms")
    for query, row_ms, facet_ms, (alone_ms, field) in zip(QUERIES, rows, facets, slowest):
        print(f"  {query:<28} {row_ms:8.1f} {facet_ms:8.1f} {alone_ms:8.1f} ({field})")
    print(f"explorer over {count:,} cards, {len(QUERIES)} queries (median ms):")
    print(f"  query to rows {median(rows):.1f} ms (max {max(rows):.1f}); bare find of one page {median(bare):.1f} ms "
          f"({median(rows) / median(bare):.2f}x)")
    print(f"  facets after the rows {median(facets):.1f} ms (max {max(facets):.1f})")
    within = sum(ms <= 200 for ms, _ in slowest)
    print(f"  each facet alone: every field within 200 ms for {within} of {len(QUERIES)} queries")
    print("  every card, a click on a column header to its first page (ms): "
          + ", ".join(f"{order} {ms:.1f}" for order, ms in sorted_ms.items()))


if __name__ == "__main__":
    main()
