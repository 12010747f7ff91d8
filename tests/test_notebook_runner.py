"""NotebookCards outside Jupyter: in plain code, inside a running event loop, interrupted."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import mcard.notebook
from mcard import ConfigurationError, MCard, SQLiteConfig, ValidationError
from mcard.notebook import CardList, NotebookCards


@pytest.fixture
def cards(tmp_path):
    with mcard.notebook.open(tmp_path / "cards.db") as opened:
        yield opened


def test_importing_starts_and_patches_nothing():
    code = (
        "import asyncio, sys, threading, mcard, mcard.notebook\n"
        "assert 'nest_asyncio' not in sys.modules and 'nest_asyncio2' not in sys.modules\n"
        "from mcard.notebook import runner\n"
        "assert runner._runner is None and threading.active_count() == 1\n"
        "assert not hasattr(asyncio, '_nest_patched') and asyncio.run.__module__ == 'asyncio.runners'\n"
        "print('clean')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "clean", result.stderr


def test_plain_calls(cards):
    card = cards.create("hello")
    assert cards.add("hello") == (card, False)
    other, added = cards.add(b"\x00bytes")
    assert added and other.content == b"\x00bytes"
    assert cards.count() == 2
    listed = cards.list(limit=1)
    assert isinstance(listed, CardList) and listed == [other]
    assert cards.search("ell") == [card]
    assert cards.get(card.hash) == card and cards.get_many([card.hash]) == {card.hash: card}
    assert [c.hash for c in cards.iterate(page_size=1)] == [other.hash, card.hash]
    assert cards.remove(card.hash) and not cards.remove(card.hash)
    assert cards.remove_many([other.hash]) == 1 and cards.count() == 0


def test_open_forms(tmp_path, monkeypatch):
    monkeypatch.setenv("MCARD_DB_PATH", str(tmp_path / "env.db"))
    with mcard.notebook.open() as from_env:
        assert from_env.config.db_path == str(tmp_path / "env.db")
    with mcard.notebook.open(SQLiteConfig(":memory:")) as from_config:
        assert from_config.count() == 0
    with pytest.raises(ConfigurationError, match="options apply to a SQLite path"):
        mcard.notebook.open(SQLiteConfig(":memory:"), timeout=1)
    with pytest.raises(ConfigurationError, match="bogus: not an option of SQLiteConfig"):  # was a TypeError
        mcard.notebook.open(tmp_path / "x.db", bogus=1)
    assert not (tmp_path / "x.db").exists()


def test_errors_reach_the_caller_unchanged(cards):
    with pytest.raises(ValidationError):
        cards.create("")
    with pytest.raises(ValidationError):
        cards.get("not hex")
    with pytest.raises(ValidationError):
        cards.save_many("abc")
    with pytest.raises(ValidationError):
        cards.save_many(["ok", ""])
    assert cards.count() == 0


async def test_sync_calls_inside_a_running_loop_and_awaitables(cards):
    card = cards.create("from a coroutine")
    assert await cards.aget(card.hash) == card
    assert await cards.acreate("second") == cards.get((await cards.alist(limit=1))[0].hash)
    assert await cards.asave_many(["x", MCard("y")]) == 2
    assert await cards.acount() == 4
    assert await cards.asave_many([f"batched {i}" for i in range(5)] + ["x"], batch_size=2, progress=False) == 5
    assert await cards.acount() == 9
    assert [c.content async for c in cards.aiterate(page_size=3)] == [c.content for c in cards.list()]
    assert (await cards.asearch("coroutine")) == [card]
    assert await cards.aremove(card.hash) and await cards.aremove_many(["ab" * 32]) == 0


async def test_cancelled_await_stops_the_write(tmp_path):
    async with NotebookCards(SQLiteConfig(tmp_path / "c.db")) as cards:
        task = asyncio.create_task(cards.asave_many([MCard(f"c {i}") for i in range(200_000)]))
        await asyncio.sleep(0.5)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.5)
        assert await cards.acount() == 0


async def test_a_cancelled_await_in_batches_keeps_the_batches_before(tmp_path):
    async with NotebookCards(SQLiteConfig(tmp_path / "c.db")) as cards:
        task = asyncio.create_task(
            cards.asave_many((MCard(f"c {i}") for i in range(200_000)), batch_size=1000, progress=False))
        while await cards.acount() < 3000:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        kept = await cards.acount()
        await asyncio.sleep(0.5)
        assert 3000 <= kept < 200_000 and kept % 1000 == 0 and await cards.acount() == kept


def test_calls_from_many_threads(cards):
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda n=n: results.append(cards.save_many([f"t{n}-{i}" for i in range(50)])))
        for n in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [50] * 8 and cards.count() == 400


def test_keyboard_interrupt_cancels_the_write(cards):
    """A real SIGINT while a large save_many runs: it stops, and nothing is written later."""
    items = [MCard(f"interrupted {i}") for i in range(300_000)]
    armed = threading.Event()

    def on_sigint(signum, frame):
        if armed.is_set():
            armed.clear()
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    timer = threading.Timer(0.8, lambda: signal.raise_signal(signal.SIGINT) if armed.is_set() else None)
    try:
        armed.set()
        timer.start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            cards.save_many(items, progress=False)
        assert time.monotonic() - started < 30
    finally:
        armed.clear()
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert cards.count() == 0
    time.sleep(1)
    assert cards.count() == 0
    assert cards.create("next").content == "next"


def test_blocking_call_on_the_private_loop_is_refused(cards):
    async def nested():
        cards.count()

    with pytest.raises(RuntimeError, match="await the a-method"):
        mcard.notebook.runner.runner().run(nested())


def test_progress_bar_one_transaction(cards, capsys):
    assert cards.save_many((f"p {i}" for i in range(2500)), progress=True) == 2500
    err = capsys.readouterr().err
    assert "writing cards (one transaction)" in err and "saved cards (2500 new)" in err and "2500card" in err


def test_progress_is_true_false_or_none_and_nothing_else(cards):
    """``progress="no"`` was taken for true (and ``0`` for false): refused before anything is saved."""
    for wrong in ("no", "yes", 0, 1):
        with pytest.raises(ValidationError, match="progress must be True, False or None"):
            cards.save_many(["never saved"], progress=wrong)
    assert cards.count() == 0


def test_progress_bar_in_batches(cards, capsys):
    items = [f"b {i}" for i in range(1000)] + [""]
    with pytest.raises(ValidationError):
        cards.save_many(items, batch_size=400, progress=True)
    assert cards.count() == 800
    assert "800/1001" in capsys.readouterr().err
    assert cards.save_many(items[:1000], batch_size=300) == 200


def test_a_bad_item_of_a_save_is_named_by_its_index(cards):
    """"card content must not be empty" did not say which of 50,000 items, nor what was kept."""
    items = [f"item {i}" for i in range(25)] + ["", "after"]
    with pytest.raises(ValidationError, match=r"^items\[25\]: card content must not be empty$"):
        cards.save_many(items)
    assert cards.count() == 0
    with pytest.raises(ValidationError, match=r"^items\[25\]: card content must not be empty"
                                              r" \(the 20 items of the batches before it are stored\)$"):
        cards.save_many(items, batch_size=10)
    assert cards.count() == 20
    with pytest.raises(ValidationError, match=r"^items\[1\]: card content must be str or bytes, not NoneType$"):
        cards.save_many(["fine", None])


def test_an_item_over_the_size_limit_is_named_by_its_index(tmp_path):
    """"card content is 500 bytes, over the limit of 100 bytes" did not say which item."""
    with mcard.notebook.open(tmp_path / "small.db", max_content_size=100) as small:
        items = ["fits", "also fits", MCard("x" * 500)]
        with pytest.raises(ValidationError, match=r"^items\[2\]: card content is 500 bytes, over the limit of 100 bytes$"):
            small.save_many(items)
        with pytest.raises(ValidationError, match=r"^items\[2\]: card content is 500 bytes, over the limit of 100 bytes"
                                                  r" \(the 2 items of the batches before it are stored\)$"):
            asyncio.run(small.asave_many(items, batch_size=2))
        assert small.count() == 2


def test_no_progress_bar_for_small_saves(cards, capsys):
    cards.save_many(["a", "b"])
    cards.save_many(text for text in ["c", "d", "e"])  # not counted first: a bar only once it takes a while
    assert capsys.readouterr().err == ""


def test_unclosed_store_does_not_block_exit(tmp_path):
    code = (
        "import mcard.notebook\n"
        f"cards = mcard.notebook.open({str(tmp_path / 'x.db')!r})\n"
        "cards.save_many([f'n {i}' for i in range(10)])\n"
        "print(cards.count())\n"
    )
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "10", result.stderr
    print(f"script with an unclosed store exited in {time.monotonic() - started:.2f} s")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open files in /proc")
def test_a_store_opened_again_and_again_without_close_keeps_no_threads_or_files(tmp_path):
    """A cell that opens a store, run again, drops the store it opened before: each left three
    threads and seven open files behind (a kernel ran out of descriptors after some 170 runs).
    A store nothing holds is now closed, its writes kept."""
    code = (
        "import gc, os, sys, threading, time\n"
        "import mcard.notebook\n"
        "seen = []\n"
        "for i in range(40):\n"
        "    cards = mcard.notebook.open(sys.argv[1])\n"
        "    cards.create(f'card {i}')\n"
        "    if i in (4, 39):\n"
        "        gc.collect()\n"
        "        time.sleep(0.5)\n"
        "        seen.append((threading.active_count(), len(os.listdir('/proc/self/fd'))))\n"
        "del cards\n"
        "print(seen)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "again.db")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and not result.stderr, result.stderr
    (threads_early, files_early), (threads_late, files_late) = eval(result.stdout)
    assert threads_late <= threads_early + 2 and files_late <= files_early + 4, result.stdout
    with mcard.notebook.open(tmp_path / "again.db") as cards:
        assert cards.count() == 40
