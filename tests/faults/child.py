"""A writer process for the crash and contention tests: ``python child.py MODE DB ...``.

It prints one line per completed operation, flushed at once, so the parent knows exactly what
had returned when it killed the process.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig

BATCH_SIZE = 2000
CREATE_TASKS = 4


def say(*parts: object) -> None:
    """One line in one write, flushed at once: a kill can tear only the very last line."""
    sys.stdout.write(" ".join(map(str, parts)) + "\n")
    sys.stdout.flush()


async def batches(wrapper: AsyncPersistenceWrapper, run: str) -> None:
    """Long ``save_many`` calls, one after another, until killed."""
    batch = 0
    say("ready")
    while True:
        cards = [MCard(f"run {run} batch {batch} card {i} of {BATCH_SIZE}") for i in range(BATCH_SIZE)]
        await wrapper.save_many(cards)
        say("batch", batch)
        batch += 1


async def creates(wrapper: AsyncPersistenceWrapper, run: str) -> None:
    """Single creates from a few concurrent tasks, until killed."""

    async def task(t: int) -> None:
        n = 0
        while True:
            card = await wrapper.create(f"run {run} task {t} create {n}")
            say("created", card.hash)
            n += 1

    say("ready")
    await asyncio.gather(*(task(t) for t in range(CREATE_TASKS)))


async def contend(wrapper: AsyncPersistenceWrapper, proc: str, tasks: int, seconds: float) -> None:
    """Tasks that write and read for ``seconds``; prints a JSON summary at the end."""
    created: list[str] = []
    errors: list[str] = []
    ops = 0
    say("ready")
    sys.stdin.readline()
    deadline = time.monotonic() + seconds

    async def task(t: int) -> None:
        nonlocal ops
        n = 0
        while time.monotonic() < deadline:
            try:
                if n % 10 == 9:
                    batch = [MCard(f"proc {proc} task {t} batch {n} card {i}") for i in range(5)]
                    if await wrapper.save_many(batch) != 5:
                        errors.append(f"batch {n}: not every card was new")
                    created.extend(card.hash for card in batch)
                else:
                    card = await wrapper.create(f"proc {proc} task {t} create {n}")
                    created.append(card.hash)
                    if await wrapper.get(card.hash) != card:
                        errors.append(f"{card.hash} not read back")
                if n % 5 == 0:
                    await wrapper.count()
                    await wrapper.list(limit=20)
                    await wrapper.search(f"proc {proc} task {t}", limit=5)
                ops += 1
            except Exception as exc:  # every failure is reported to the parent, none hidden
                errors.append(f"{type(exc).__name__}: {exc}")
            n += 1

    await asyncio.gather(*(task(t) for t in range(tasks)))
    say(json.dumps({"created": created, "errors": errors, "ops": ops}))


async def main() -> None:
    mode, db_path, *args = sys.argv[1:]
    async with AsyncPersistenceWrapper(SQLiteConfig(db_path)) as wrapper:
        if mode == "batches":
            await batches(wrapper, *args)
        elif mode == "creates":
            await creates(wrapper, *args)
        else:
            await contend(wrapper, args[0], int(args[1]), float(args[2]))


if __name__ == "__main__":
    asyncio.run(main())
