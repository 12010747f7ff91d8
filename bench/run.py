"""One benchmark run at one N: every operation through mcard and through the raw driver."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import resource
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from tqdm.auto import tqdm

from mcard import MCard
from mcard.domain.models.card import check_card

from .workload import MARKER, Workload


@dataclass
class Row:
    """One line of the result table; ``raw_rate`` None means there is no raw counterpart."""

    operation: str
    count: int
    rate: Optional[float]
    raw_rate: Optional[float]
    target: str = ""
    note: str = ""

    @property
    def ratio(self) -> Optional[float]:
        if self.rate is None or not self.raw_rate:
            return None
        return self.rate / self.raw_rate


@dataclass
class Result:
    n: int
    rows: list[Row] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)


async def timed(action: Callable[[], Awaitable[Any]]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = await action()
    return value, time.perf_counter() - started


def file_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


async def run_one(
    n: int,
    work: Workload,
    make_mcard: Callable[[str], Any],
    make_raw: Callable[[str], Any],
    *,
    gets: int,
    removes: int,
    searches: int,
    page_size: int,
    mcard_file: Callable[[str], Optional[Path]],
    raw_file: Callable[[str], Optional[Path]],
    dataframe: bool,
    reads: int = 3,
) -> Result:
    """Measure everything at one N; ``make_*`` build an unopened side for a store name."""
    result = Result(n)
    texts = work.texts[:n]
    rng = random.Random(n)
    progress = tqdm(total=14, desc=f"N={n:,}", leave=False)

    async def both(
        operation: str, count: int, mcard_op: Any, raw_op: Any, target: str = "", repeat: int = 1
    ) -> Row:
        """Time both sides, alternating; read-only operations run ``repeat`` times and keep
        each side's best, which keeps the ratio meaningful while other work loads the machine."""
        mcard_s = raw_s = float("inf")
        for _ in range(repeat):
            mcard_s = min(mcard_s, (await timed(mcard_op))[1])
            if raw_op is not None:
                raw_s = min(raw_s, (await timed(raw_op))[1])
        raw_rate = None if raw_op is None else count / raw_s
        row = Row(operation, count, count / mcard_s, raw_rate, target)
        result.rows.append(row)
        progress.update()
        return row

    async def opened(factory: Callable[[str], Any], name: str) -> Any:
        side = factory(f"{name}_{n}")
        await side.open()
        return side

    # Writes, each into fresh stores.
    seq_m, seq_r = await opened(make_mcard, "seq"), await opened(make_raw, "seq")
    seq = await both("create, one by one", n, lambda: seq_m.create_seq(texts),
                     lambda: seq_r.create_seq(texts), ">= 0.6")
    await seq_m.close(), await seq_r.close()

    conc_m = await opened(make_mcard, "concurrent")
    row = await both("create, concurrent (gather)", n, lambda: conc_m.create_concurrent(texts), None,
                     ">= 3 (vs one commit per card)")
    row.raw_rate, row.note = seq.raw_rate, "raw: one commit per card"
    await conc_m.close()

    main_m, main_r = await opened(make_mcard, "main"), await opened(make_raw, "main")
    hashes: list[str] = []

    async def save_many() -> None:
        hashes.extend(await main_m.save_many(texts))

    await both("save_many", n, save_many, lambda: main_r.save_many(texts), ">= 0.6")
    indexed, index_s = await timed(main_m.wait_indexed)
    if indexed:
        result.rows.append(Row("search index build (background, after save_many)", n, n / index_s, None))

    restored = [MCard.restore(text, key, 0, "sha256", len(text.encode())) for text, key in zip(texts, hashes)]
    data = [text.encode() for text in texts]

    async def check_restored() -> None:
        for card in restored:
            check_card(card)

    async def hash_only() -> None:
        for item in data:
            hashlib.sha256(item).hexdigest()

    row = await both("check of restored cards (before they are stored)", n, check_restored, hash_only, repeat=reads)
    row.note = "raw: SHA-256 of the content alone; cards made by MCard() skip the check"

    sample = rng.sample(hashes, min(gets, n))
    await both("get, one by one", len(sample), lambda: main_m.get_seq(sample),
               lambda: main_r.get_seq(sample), ">= 0.6", repeat=reads)
    holds = getattr(main_m.cards.store, "loop_holds", [])
    if holds:
        hop = await thread_hop_times(200)
        result.facts.append(
            f"get on the event loop's own connection: held the loop p50 {percentile(holds, 50) * 1e6:.1f} us,"
            f" p99 {percentile(holds, 99) * 1e6:.1f} us over {len(holds):,} reads;"
            f" the thread hop it saves: p50 {percentile(hop, 50) * 1e6:.0f} us, p99 {percentile(hop, 99) * 1e6:.0f} us"
        )
    await both("get_many (all)", n, lambda: main_m.get_many(hashes),
               lambda: main_r.get_many(hashes), ">= 0.7", repeat=reads)
    row = await both(f"list page by page ({page_size}/page)", n, lambda: main_m.list_pages(page_size),
                     lambda: main_r.list_pages(page_size), ">= 0.7, flat", repeat=reads)
    pages = main_m.page_times
    tenth = max(1, len(pages) // 10)
    first, last = statistics.median(pages[:tenth]), statistics.median(pages[-tenth:])
    row.note = f"median page: first tenth {first * 1e3:.2f} ms, last {last * 1e3:.2f} ms"
    await both("iterate (stream)", n, lambda: main_m.iterate(page_size),
               lambda: main_r.list_pages(page_size), "", repeat=reads)
    if dataframe:
        row = await both("to_dataframe (all)", n, main_m.to_dataframe, main_r.to_dataframe,
                         ">= 0.7", repeat=reads)
        row.note = f"{n / row.rate:.2f} s" if row.rate else ""
    else:
        result.facts.append("to_dataframe: skipped (this installation has no pandas)")
        progress.update()

    async def repeat(op: Callable[[str], Awaitable[int]], word: str) -> int:
        found = 0
        for _ in range(searches):
            found = await op(word)
        return found

    unique = texts[n // 2].split(":")[0] + ":"  # "note 5000:" is in one card only
    for label, word, target in ((f"search marker (1% match, x{searches})", MARKER, ">= 10 (vs LIKE scan)"),
                                (f"search a unique phrase (x{searches})", unique, ">= 30 (vs LIKE scan)")):
        row = await both(label, searches, lambda word=word: repeat(main_m.search, word),
                         lambda word=word: repeat(main_r.search, word), target, repeat=reads)
        found_m, found_r = await main_m.search(word), await main_r.search(word)
        row.note = f"{found_m} found by each" if found_m == found_r else f"MISMATCH {found_m} vs {found_r}"

    doomed = rng.sample(hashes, min(2 * removes, n))
    one_by_one, at_once = doomed[: len(doomed) // 2], doomed[len(doomed) // 2 :]
    await both("remove, one by one", len(one_by_one), lambda: main_m.remove_seq(one_by_one),
               lambda: main_r.remove_seq(one_by_one))
    await both("remove_many", len(at_once), lambda: main_m.remove_many(at_once),
               lambda: main_r.remove_many(at_once))
    await both(f"save_many {len(work.blobs)} x {len(work.blobs[0]) // 1024} KB bytes",
               len(work.blobs), lambda: main_m.save_many(work.blobs),
               lambda: main_r.save_many(work.blobs))
    await main_m.close(), await main_r.close()
    progress.close()

    sizes = [(name, path(f"main_{n}")) for name, path in (("mcard", mcard_file), ("raw", raw_file))]
    shown = ", ".join(f"{name} {file_size(p) / 2**20:.1f} MiB" for name, p in sizes if p is not None)
    if shown:
        result.facts.append(f"database size after the run (N text + bytes cards): {shown}")
    return result


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


async def thread_hop_times(count: int) -> list[float]:
    """How long a hop to a worker thread and back takes, doing nothing there."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        await asyncio.to_thread(int)
        times.append(time.perf_counter() - started)
    return times


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())
