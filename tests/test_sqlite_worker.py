"""The SQLite engine's connections: aiosqlite through its public API, at both ends of the
declared version range, and writes that cancellation stops for good."""

import asyncio
import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.version import Version

import mcard
from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig

ROOT = Path(__file__).resolve().parents[1]
ENGINE = Path(mcard.__file__).parent / "infrastructure" / "persistence" / "engine"
AIOSQLITE_PRIVATE = {"_conn", "_connection", "_tx", "_thread", "_running", "_execute", "_stop_running", "_connect"}


def test_the_engine_uses_no_private_name_of_aiosqlite():
    used = []
    for path in sorted(ENGINE.glob("sqlite_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in AIOSQLITE_PRIVATE:
                used.append(f"{path.name}:{node.lineno}: .{node.attr}")
    assert used == []


async def test_a_write_cancelled_while_queued_never_runs(tmp_path):
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        big = asyncio.ensure_future(store.save_many([MCard(f"bulk {i}") for i in range(100_000)]))
        await asyncio.sleep(0.01)
        queued = asyncio.ensure_future(store.create("queued behind the bulk write"))
        await asyncio.sleep(0.01)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        assert await big == 100_000
        await store.store.wait_indexed()
        assert await store.search("queued behind") == []
        assert await store.count() == 100_000


LOWER_BOUND_SCRIPT = """
import asyncio, sys, aiosqlite
from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig

async def main(path):
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        card = await store.create("at the lower bound")
        assert await store.save_many([MCard(f"n{i}") for i in range(500)]) == 500
        assert (await store.get(card.hash)).content == "at the lower bound"
        assert len(await store.list(limit=10, offset=5)) == 10
        assert [c.hash for c in await store.search("lower bound")] == [card.hash]
        assert len([c async for c in store.iterate(page_size=64)]) == 501
        assert (await store.verify(progress=False)).ok
        assert await store.remove(card.hash)
    never_closed = AsyncPersistenceWrapper(SQLiteConfig(path))
    await never_closed.initialize()
    print(aiosqlite.__version__, await never_closed.count())

asyncio.run(main(sys.argv[1]))
"""


def _declared_aiosqlite_range() -> tuple[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    spec = next(d for d in project["dependencies"] if d.startswith("aiosqlite"))
    lower, upper = re.fullmatch(r"aiosqlite>=([\d.]+),<([\d.]+)", spec).groups()
    return lower, upper


def test_the_declared_lower_bound_of_aiosqlite_works(tmp_path):
    """The oldest aiosqlite the project admits runs the engine (installed for real into a
    folder of its own); a store left open does not keep the process from exiting."""
    lower, _ = _declared_aiosqlite_range()
    target = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), f"aiosqlite=={lower}"],
        capture_output=True, text=True, timeout=300,
    )
    if installed.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"could not install aiosqlite {lower}: {installed.stderr}")
        pytest.skip(f"could not install aiosqlite {lower} (no package index?): {installed.stderr[-200:]}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-c", LOWER_BOUND_SCRIPT, str(tmp_path / "c.db")],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert done.returncode == 0, done.stderr
    version, count = done.stdout.split()
    assert Version(version) == Version(lower) and count == "500"
