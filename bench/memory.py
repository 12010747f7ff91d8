"""Peak memory while streaming every card of a large store (``python -m bench --memory MB``).

A store of MB megabytes of 10 KB cards is built, then a fresh process iterates over all of it
with ``iterate()`` and reports its own peak RSS, so nothing of the build counts.
"""

from __future__ import annotations

import asyncio
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig

CARD_SIZE = 10 * 1024
CHUNK = 2000


async def build(path: Path, megabytes: int) -> int:
    total = megabytes * 2**20 // CARD_SIZE
    rng = random.Random(megabytes)
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as cards:
        with tqdm(total=total, desc=f"building a {megabytes} MB store", unit="card", leave=False) as bar:
            for start in range(0, total, CHUNK):
                count = min(CHUNK, total - start)
                await cards.save_many([MCard(rng.randbytes(CARD_SIZE)) for _ in range(count)])
                bar.update(count)
    return total


def rss_mib() -> float:
    """This process's peak RSS. ``VmHWM`` rather than ``ru_maxrss``, which on Linux also
    counts the parent's memory at the fork that started this process."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def stream(path: Path) -> None:
    """Run in the probe process: iterate every card, print peak RSS before and after."""
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as cards:
        before = rss_mib()
        started, count, size = time.perf_counter(), 0, 0
        async for card in cards.iterate(page_size=1000):
            count += 1
            size += card.size
        elapsed = time.perf_counter() - started
    print(
        f"streamed {count:,} cards ({size / 2**20:,.0f} MiB) in {elapsed:.1f} s "
        f"({count / elapsed:,.0f} cards/s); peak RSS {before:.0f} MiB after opening, "
        f"{rss_mib():.0f} MiB at the end"
    )


async def measure(folder: Path, megabytes: int) -> None:
    path = folder / "memory.db"
    started = time.perf_counter()
    count = await build(path, megabytes)
    size = sum(p.stat().st_size for p in folder.glob("memory.db*"))
    print(f"built {count:,} cards of {CARD_SIZE // 1024} KB, file {size / 2**20:,.0f} MiB, "
          f"in {time.perf_counter() - started:.1f} s", flush=True)
    subprocess.run([sys.executable, "-m", "bench.memory", str(path)], check=True)


if __name__ == "__main__":
    asyncio.run(stream(Path(sys.argv[1])))
