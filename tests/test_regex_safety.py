"""Regular expressions that take exponential time: they run in a child process, so the store's
event loop, its other tasks and Ctrl-C go on, and a time limit or a cancellation kills them."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest
from tests.test_lab_stop import processes

from mcard import AsyncPersistenceWrapper, ConfigurationError, MCard, SQLiteConfig, StorageError, ValidationError
from mcard.domain.query import SearchSpec, card_snippet
from mcard.domain.query import regex_process

RUNAWAY = "(a+)+$"
"""Backtracks through every split of a run of ``a`` that does not end the text: 2**n steps."""
STUCK = "a" * 48 + "!"
MCARD = str(Path(sys.executable).with_name("mcard"))


def regex_children(parent: int) -> dict[int, str]:
    """pid -> state (``R`` running, ``S`` waiting...) of the regex children of ``parent``."""
    return {proc.pid: proc.state for proc in processes().values()
            if proc.ppid == parent and "regex_child.py" in proc.cmdline}


async def test_a_runaway_pattern_stops_at_the_time_limit_while_the_loop_runs_on(make_config):
    async with AsyncPersistenceWrapper(make_config(regex_timeout=1.5)) as store:
        await store.create(STUCK)
        kept = await store.create("aaa")
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        ticker = asyncio.create_task(tick())
        started = time.monotonic()
        with pytest.raises(ValidationError, match=r"did not finish in 1\.5 s.*regex_timeout"):
            await store.search(RUNAWAY, mode="regex")
        ticker.cancel()
        assert time.monotonic() - started < 30
        assert ticks >= 5  # ~30 in 1.5 s; a match holding the GIL would have let none through
        assert not any(state == "R" for state in regex_children(os.getpid()).values())
        assert await store.search("^a{3}$", mode="regex") == [kept]
        assert (await store.search("a+!", mode="regex", limit=1))[0].content == STUCK


def threads_waiting_on_a_child() -> int:
    return sum(any("regex_process" in frame.f_code.co_filename for frame, _ in traceback.walk_stack(top))
               for top in sys._current_frames().values())


async def until_the_child_runs_the_match() -> None:
    for _ in range(100):
        await asyncio.sleep(0.05)
        if "R" in regex_children(os.getpid()).values():
            break
    assert "R" in regex_children(os.getpid()).values()


async def until_no_thread_waits_on_a_child() -> None:
    """The thread that waited on a killed child ends too, long before the time limit."""
    for _ in range(100):
        if not threads_waiting_on_a_child():
            break
        await asyncio.sleep(0.1)
    assert not threads_waiting_on_a_child()


async def test_cancelling_a_regex_search_kills_its_process(make_config):
    async with AsyncPersistenceWrapper(make_config(regex_timeout=600)) as store:
        await store.create(STUCK)
        search = asyncio.create_task(store.search(RUNAWAY, mode="regex"))
        await until_the_child_runs_the_match()
        search.cancel()
        with pytest.raises(asyncio.CancelledError):
            await search
        assert "R" not in regex_children(os.getpid()).values()
        await until_no_thread_waits_on_a_child()
        assert [card.content for card in await store.search("!$", mode="regex")] == [STUCK]


async def test_a_regex_search_cancelled_at_any_step_ends_as_cancellation(make_config):
    """Cancelled while it takes a connection, reads, or waits on the child: never a late
    answer or a time-out in place of the cancellation."""
    async with AsyncPersistenceWrapper(make_config(regex_timeout=5)) as store:
        await store.save_many([MCard(STUCK + str(number)) for number in range(30)])
        outcomes = set()
        for steps in range(16):
            search = asyncio.create_task(store.search(RUNAWAY, mode="regex"))
            for _ in range(steps):
                await asyncio.sleep(0)
            search.cancel()
            try:
                outcomes.add(f"finished with {len(await search)}")
            except asyncio.CancelledError:
                outcomes.add("cancelled")
            except Exception as exc:  # the fault: anything else
                outcomes.add(f"{type(exc).__name__}: {exc}")
        assert outcomes == {"cancelled"}
        assert [card.content for card in await store.search("!0$", mode="regex")] == [STUCK + "0"]


async def test_closing_the_store_ends_its_running_regex_search(make_config):
    store = AsyncPersistenceWrapper(make_config(regex_timeout=600))
    await store.initialize()
    try:
        await store.create(STUCK)
        search = asyncio.create_task(store.search(RUNAWAY, mode="regex"))
        await until_the_child_runs_the_match()
    finally:
        await store.close()
    with pytest.raises(StorageError, match="the store was closed during the regular expression search"):
        await asyncio.wait_for(search, 30)
    assert "R" not in regex_children(os.getpid()).values()
    await until_no_thread_waits_on_a_child()


def test_a_snippet_whose_matches_take_too_long_is_shown_unmarked():
    """The search finds ``x`` at once; marking every match would try the runaway part at
    each of the 48 positions of the run."""
    spec = SearchSpec.of("x|" + RUNAWAY, "regex")
    text = "x " + STUCK
    started = time.monotonic()
    snippet = card_snippet(spec, text)
    assert time.monotonic() - started < regex_process.SNIPPET_SECONDS + 10
    assert snippet is not None and not any(marked for _, marked in snippet.parts)
    assert "".join(part for part, _ in snippet.parts) == text
    assert card_snippet(SearchSpec.of("a!", "regex"), text).parts[-1] == ("a!", True)


def test_a_bytes_card_that_is_utf8_is_checked_as_text_and_other_bytes_are_not():
    """Bytes that are not UTF-8 are told apart (None): a bytes card, or a damaged text."""
    run = SearchSpec.of("é+", "regex").regex_run(30)
    try:
        assert asyncio.run(run.found(["café", "cafe", "é".encode(), b"\xff\xe9", "ée".encode("utf-16"), None])) == [
            True, False, True, None, None, False]
    finally:
        run.close()


def test_large_inputs_go_in_several_requests_and_keep_their_order():
    texts = ["x" * 1000 + str(number) for number in range(5000)]  # ~5 MB: two requests
    run = SearchSpec.of(r"\d*7$", "regex").regex_run(60)
    try:
        found = run.run("search", texts)
    finally:
        run.close()
    assert found == [str(number).endswith("7") for number in range(5000)]


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan"), True, "5"])
def test_regex_timeout_must_be_a_positive_number_of_seconds(tmp_path, bad):
    with pytest.raises(ConfigurationError, match="regex_timeout"):
        SQLiteConfig(db_path=tmp_path / "x.db", regex_timeout=bad)


@pytest.mark.parametrize("sent, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_ctrl_c_stops_a_runaway_search_on_the_command_line(tmp_path, sent, status):
    """Ctrl-C, ``kill`` and a closed terminal alike: the child stops with the command (killed,
    it ran on until its time limit, a minute by default)."""
    db = tmp_path / "cards.db"
    subprocess.run([MCARD, "--db", str(db), "add", "-"], input=STUCK.encode(), check=True, capture_output=True)
    command = subprocess.Popen([MCARD, "--db", str(db), "search", "--regex", RUNAWAY],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        children: dict[int, str] = {}
        for _ in range(200):
            time.sleep(0.05)
            children = regex_children(command.pid)
            if "R" in children.values():
                break
        assert "R" in children.values()
        command.send_signal(sent)
        command.wait(timeout=30)
    finally:
        command.kill()
        command.communicate()
    assert command.returncode == status
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)


def test_the_command_line_sets_the_time_limit_in_the_database_url(tmp_path):
    db = tmp_path / "cards.db"
    subprocess.run([MCARD, "--db", str(db), "add", "-"], input=STUCK.encode(), check=True, capture_output=True)
    stopped = subprocess.run([MCARD, "--db", f"sqlite:///{db}?regex_timeout=1", "search", "--regex", RUNAWAY],
                             capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 2
    assert "did not finish in 1 s" in stopped.stderr and stopped.stdout == ""


async def test_a_page_stays_full_while_cards_come_and_go(make_config):
    """Each page is read from the snapshot its matches were found in: a card removed meanwhile
    cannot leave a hole in it."""
    async with AsyncPersistenceWrapper(make_config()) as store:
        # Newest first: the card that comes and goes, 4 matches, 60 cards that do not match: the
        # first candidates read hold just the page, so one card missing would leave a hole.
        texts = [f"match {n}" for n in range(10)] + [f"other {n}" for n in range(60)]
        for text in texts + [f"match late {n}" for n in range(4)]:
            await store.create(text)
        stop = asyncio.Event()

        async def come_and_go() -> None:
            for number in itertools.count():
                if stop.is_set():
                    return
                card = await store.create(f"match churn {number}")
                await asyncio.sleep(0)
                await store.remove(card.hash)

        churn = asyncio.create_task(come_and_go())
        try:
            sizes = [len(await store.search(r"^m\w+h", 5, mode="regex")) for _ in range(400)]
        finally:
            stop.set()
            await churn
        assert set(sizes) == {5}


def test_a_huge_time_limit_is_kept_as_the_longest_one():
    run = SearchSpec.of("a", "regex").regex_run(1e300)
    try:
        assert run.run("search", ["a", "b"]) == [True, False]
        assert asyncio.run(run.found(["ba"])) == [True]
    finally:
        run.close()


def test_ctrl_c_at_the_terminal_reaches_the_program_not_the_regex_child(tmp_path):
    """A terminal's Ctrl-C signals the whole foreground group. A program that handles SIGINT
    itself (here by ignoring it) must see its search finish."""
    script = tmp_path / "handles_sigint.py"
    script.write_text(
        "import asyncio, signal, sys\n"
        "from mcard import AsyncPersistenceWrapper, SQLiteConfig\n"
        "signal.signal(signal.SIGINT, lambda *_: print('SIGINT handled', flush=True))\n"
        "async def main():\n"
        f"    async with AsyncPersistenceWrapper(SQLiteConfig(db_path={str(tmp_path / 'c.db')!r})) as store:\n"
        f"        await store.create({'a' * 23 + '!'!r})\n"
        "        print('searching', flush=True)\n"
        f"        print(len(await store.search({RUNAWAY!r}, mode='regex')), flush=True)\n"
        "asyncio.run(main())\n"
    )
    program = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                               start_new_session=True)  # a group of its own, as a terminal's job
    try:
        assert program.stdout.readline() == "searching\n"
        for _ in range(100):
            time.sleep(0.02)
            if "R" in regex_children(program.pid).values():
                break
        os.killpg(program.pid, signal.SIGINT)
        out, _ = program.communicate(timeout=120)
    finally:
        program.kill()
    assert program.returncode == 0 and out.splitlines()[-1] == "0"


async def test_runaway_searches_leave_other_work_its_threads(make_config):
    """More runaway searches than asyncio's default executor has threads: a plain search and
    the engine's other work on threads still run at once."""
    config = make_config(regex_timeout=600)
    if getattr(config, "in_memory", False):
        pytest.skip("in memory there is no WAL: reads that never end hold off writes, and new reads wait behind them")
    async with AsyncPersistenceWrapper(config) as store:
        await store.create(STUCK)
        hello = await store.create("hello there")
        runaways = [asyncio.create_task(store.search(RUNAWAY, mode="regex")) for _ in range(12)]
        try:
            await asyncio.sleep(0.5)
            assert await asyncio.wait_for(store.search("h.llo", mode="regex"), 60) == [hello]
            assert await asyncio.wait_for(store.search("hello", mode="words"), 60) == [hello]
            assert await asyncio.wait_for(asyncio.to_thread(lambda: "a thread"), 60) == "a thread"
        finally:
            for runaway in runaways:
                runaway.cancel()
            await asyncio.gather(*runaways, return_exceptions=True)


def test_a_pattern_that_is_not_one_is_refused_without_the_frames_of_re():
    """The message says what and where; re's parser frames chained below it were noise in a
    notebook (seven of them)."""
    import traceback

    from mcard.domain.query.text import compile_regex

    with pytest.raises(ValidationError, match="missing \\), unterminated subpattern at position 0") as caught:
        compile_regex("(")
    printed = "".join(traceback.format_exception(caught.value))
    assert "_parser.py" not in printed and "sre_parse" not in printed and printed.count('File "') == 2  # the test's, mcard's
