"""``python -m bench.import_files N``: importing a folder of N small files (text, JSON, CSV,
bytes; one in ten a copy of another), the way ``mcard import`` does it, timed end to end: into
a new store, then again into the same store (every file already stored, as a daily re-run)."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mcard import AsyncPersistenceWrapper, SQLiteConfig
from mcard.importing import import_paths


def make_folder(root: Path, n: int, seed: int = 3) -> None:
    rng = random.Random(seed)
    for index in range(n):
        folder = root / f"d{index % 50:02d}"
        folder.mkdir(exist_ok=True)
        kind = index % 4
        if index % 10 == 9:  # a copy of an earlier file under another name
            source = sorted(root.glob(f"d{(index - 9) % 50:02d}/*"))[0]
            (folder / f"copy-{index}{source.suffix}").write_bytes(source.read_bytes())
        elif kind == 0:
            (folder / f"note-{index}.txt").write_text(f"note {index}: " + " ".join(rng.choice("ab cd ef gh") for _ in range(40)))
        elif kind == 1:
            (folder / f"data-{index}.json").write_text(json.dumps({"n": index, "v": rng.random()}))
        elif kind == 2:
            (folder / f"table-{index}.csv").write_text(f"a,b\n{index},{rng.random()}\n")
        else:
            (folder / f"blob-{index}.bin").write_bytes(rng.randbytes(300))


async def import_once(folder: Path, db: Path) -> float:
    async with AsyncPersistenceWrapper(SQLiteConfig(db)) as store:
        started = time.perf_counter()
        summary = await import_paths(store, [folder], progress=False)
        elapsed = time.perf_counter() - started
    assert summary.files > 0
    return elapsed


async def main(n: int, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="mcard-import-") as temp:
        folder = Path(temp, "files")
        folder.mkdir()
        make_folder(folder, n)
        times, again = [], []
        for run in range(runs):
            times.append(await import_once(folder, Path(temp, f"run{run}.db")))
            again.append(await import_once(folder, Path(temp, f"run{run}.db")))
        for label, measured in (("into a new store", times), ("again, every file already stored", again)):
            print(f"import of {n:,} files {label}: median {statistics.median(measured):.2f} s "
                  f"(runs: {', '.join(f'{t:.2f}' for t in measured)})")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000, int(sys.argv[2]) if len(sys.argv) > 2 else 3))
