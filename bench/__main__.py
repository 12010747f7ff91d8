"""``python -m bench``: run the benchmark and print the table."""

from __future__ import annotations

import argparse
import asyncio
import platform
import sqlite3
import sys
import tempfile
from pathlib import Path

from .engines import EngineUnavailable, postgres_engine, sqlite_engine
from .mcard_side import find_frames
from .memory import measure
from .report import render
from .run import load_average, peak_rss_mib, run_one
from .search import run_search
from .sync import run_sync
from .workload import make_workload


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--engine", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--n", help="comma-separated card counts (default 10000,100000; --sync: 10000)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--dir", type=Path, help="where database files go (default: a temp folder)")
    parser.add_argument("--search", action="store_true",
                        help="instead: search modes, find and facets against hand-written SQL (SQLite)")
    parser.add_argument("--sync", action="store_true",
                        help="instead: mcard sync SQLite <-> PostgreSQL, identical and 1%% new each side, against a full copy")
    parser.add_argument("--memory", type=int, metavar="MB",
                        help="instead: peak RSS while streaming a store of MB megabytes (SQLite)")
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--pg-schema", default="mcard_bench",
                        help="PostgreSQL schema for the stores (one the run makes is dropped after it)")
    return parser.parse_args(argv)


async def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    counts = args.n or ("10000" if args.sync else "10000,100000")
    sizes = [int(part.replace("_", "")) for part in counts.split(",") if part]
    blobs, blob_size, gets, removes, searches = 1000, 100 * 1024, 10_000, 1000, 20
    if args.quick:
        sizes, blobs, blob_size, gets, removes, searches = [100, 200], 5, 1024, 50, 20, 3
    work = make_workload(max(sizes), blobs, blob_size)
    print(
        f"mcard benchmark: engine {args.engine}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, load average {load_average()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="mcard-bench-", dir=args.dir) as folder:
        if args.memory:
            await measure(Path(folder), args.memory)
            return 0
        if args.sync:
            try:
                import asyncpg  # noqa: F401
            except ImportError as exc:
                print(f"skipped: sync needs PostgreSQL: asyncpg is not installed ({exc})")
                return 0
            for n in sizes:
                print(render(await run_sync(n, work, Path(folder), args.dsn, args.pg_schema)), flush=True)
            return 0
        if args.search:
            for n in sizes:
                print(render(await run_search(n, work, Path(folder), 1 if args.quick else 5)), flush=True)
            return 0
        try:
            engine = (
                sqlite_engine(Path(folder)) if args.engine == "sqlite" else postgres_engine(args.dsn, args.pg_schema)
            )
        except EngineUnavailable as exc:
            print(f"skipped: {args.engine} cannot be benchmarked: {exc}")
            return 0
        made_schema = False
        if engine.name == "postgres":
            from .raw_postgres import drop_empty_schema, schema_exists

            made_schema = not await schema_exists(args.dsn, args.pg_schema)  # made for this run: not left behind
        try:
            for n in sizes:
                result = await run_one(
                    n, work, engine.make_mcard, engine.make_raw,
                    gets=gets, removes=removes, searches=searches, page_size=1000,
                    mcard_file=engine.mcard_file, raw_file=engine.raw_file,
                    dataframe=find_frames() is not None, reads=1 if args.quick else 3,
                )
                print(render(result), flush=True)
        finally:
            if made_schema:
                await drop_empty_schema(args.dsn, args.pg_schema)
    print(f"peak RSS of the whole run: {peak_rss_mib():.0f} MiB; load average {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
