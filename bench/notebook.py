"""Notebook layer figures: DataFrame building, sync-call overhead, bulk saves.

    .venv/bin/python -m bench.notebook [N_CARDS]

Each figure is compared with a baseline measured in the same process.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

import mcard.notebook
from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig
from mcard.notebook import to_dataframe
from mcard.notebook.display import preview

from .raw_sqlite import INSERT, SELECT, RawSQLiteSide, row


def best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def row_by_row(cards: list[MCard]) -> pd.DataFrame:
    """The obvious way: one dict per card, then conversions."""
    frame = pd.DataFrame(
        [{"hash": c.hash, "g_time": c.g_time, "size": c.size, "kind": c.kind, "preview": preview(c)} for c in cards]
    )
    frame["g_time"] = pd.to_datetime(frame["g_time"], utc=True).dt.as_unit("us")
    return frame.astype({"hash": "string", "kind": "string", "preview": "string"})


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    cards = [MCard(f"benchmark card {i} " + "x" * (i % 50)) for i in range(count)]
    to_dataframe(cards[:10])
    fast, slow = best(lambda: to_dataframe(cards)), best(lambda: row_by_row(cards))
    print(f"to_dataframe({count:,} cards): {fast:.3f} s; row-by-row dicts {slow:.3f} s ({slow / fast:.1f}x)")

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        with mcard.notebook.open(path) as store:
            started = time.perf_counter()
            store.save_many(cards, progress=False)
            saved = time.perf_counter() - started
            print(f"save_many({count:,}) through the notebook store: {saved:.2f} s ({count / saved:,.0f} cards/s)")
            listed = best(lambda: store.list())
            frame = best(lambda: store.list_df())
            print(f"list() of {count:,}: {listed:.3f} s; list_df(): {frame:.3f} s (DataFrame part {frame - listed:.3f} s)")
            calls = 2000
            raw = RawSQLiteSide(Path(folder) / "raw.db")
            asyncio.run(raw.open())
            asyncio.run(raw.save_many([card.content for card in cards]))  # so that raw gets find the card too
            gets, creates = [], []
            for turn in range(3):  # interleaved: the notebook's plain calls, then raw sqlite3
                gets.append((best(lambda: [store.get(cards[0].hash) for _ in range(calls)]) / calls,
                             best(lambda: raw_gets(raw, cards[0].hash, calls)) / calls))
                texts = [f"one more {turn} {i}" for i in range(calls // 4)]
                creates.append((best(lambda: [store.create(text) for text in texts], 1) / len(texts),
                                best(lambda: raw_creates(raw, [t + " raw" for t in texts]), 1) / len(texts)))
            hopped = best(lambda: [store.count() for _ in range(calls // 10)], 1) / (calls // 10)
            raw.db.close()
        sync = min(mine for mine, _ in gets)

        async def direct() -> float:
            async with AsyncPersistenceWrapper(SQLiteConfig(path)) as wrapper:
                started = time.perf_counter()
                for _ in range(calls):
                    await wrapper.get(cards[0].hash)
                return (time.perf_counter() - started) / calls

        awaited = asyncio.run(direct())
        print(
            f"one get() call: plain call {sync * 1e6:.0f} us (served on the caller's thread); "
            f"awaited on the caller's loop {awaited * 1e6:.0f} us ({sync / awaited:.2f}x)"
        )
        for name, pairs in (("get", gets), ("create", creates)):
            print(f"notebook {name}() vs raw sqlite3, 3 interleaved turns: " + ", ".join(
                f"{mine * 1e6:.0f} us vs {theirs * 1e6:.0f} us ({theirs / mine:.2f})" for mine, theirs in pairs))
        print(f"a call through the private loop: count() {hopped * 1e6:.0f} us")


def raw_creates(raw: RawSQLiteSide, texts: list[str]) -> None:
    """One commit per card, as ``RawSQLiteSide.create_seq`` does, without an event loop."""
    for text in texts:
        raw.db.execute(INSERT, row(text))


def raw_gets(raw: RawSQLiteSide, key: str, calls: int) -> None:
    for _ in range(calls):
        if raw.db.execute(f"{SELECT} WHERE hash = ?", (key,)).fetchone() is None:
            raise LookupError(f"raw sqlite3 does not hold {key}")


if __name__ == "__main__":
    main()
