"""The notebook layer inside a real Jupyter kernel, driven through jupyter_client.

nbclient sends one cell at a time; these tests queue several execute requests at once, as
JupyterLab's "Run All" does, interrupt the kernel mid-write, and shut a kernel down whose
store was never closed.
"""

from __future__ import annotations

import sqlite3
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

TIMEOUT = 120


def wait_reply(kc: Any, msg_id: str, timeout: float = TIMEOUT) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        reply = kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply["content"]


def outputs(kc: Any, msg_id: str, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
    """The iopub messages of one request, until the kernel reports idle for it."""
    found = []
    deadline = time.monotonic() + timeout
    while True:
        message = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            return found
        found.append(message)


def run(kc: Any, code: str) -> str:
    """Execute ``code``; return its stdout and its result text; fail on any error."""
    msg_id = kc.execute(textwrap.dedent(code))
    reply = wait_reply(kc, msg_id)
    messages = outputs(kc, msg_id)
    assert reply["status"] == "ok", reply
    text = []
    for message in messages:
        content = message["content"]
        if message["msg_type"] == "stream":
            text.append(content["text"])
        elif message["msg_type"] == "execute_result":
            text.append(content["data"]["text/plain"])
        elif message["msg_type"] == "error":
            pytest.fail("\n".join(content["traceback"]))
    return "".join(text).strip()


def start(tmp: Path) -> tuple[KernelManager, Any]:
    """A python3 kernel over IPC sockets in ``tmp`` (no network at all)."""
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp / "kernel-ipc"))
    km.start_kernel(cwd=str(tmp))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=TIMEOUT)
    return km, kc


def rows(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT count(*) FROM card").fetchone()[0]


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Path]]:
    tmp = tmp_path_factory.mktemp("kernel")
    km, kc = start(tmp)
    try:
        yield km, kc, tmp
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_six_cells_queued_at_once_all_reply_ok(kernel):
    km, kc, tmp = kernel
    db = tmp / "queued.db"
    cells = [
        f"import mcard.notebook\nqueued = mcard.notebook.open({str(db)!r})\nfirst = queued.create('one')",
        "second = queued.create('two'); print(queued.count())",
        "print(len(await queued.alist()))",
        "df = queued.list_df(); print(list(df['preview']))",
        "import asyncio\nawait asyncio.sleep(0.01)\nprint(queued.search('o'))",
        "print((await queued.aget(first.hash)) == first, queued.get(second.hash) == second)",
    ]
    ids = [kc.execute(cell) for cell in cells]
    replies = [wait_reply(kc, msg_id) for msg_id in ids]
    assert [reply["status"] for reply in replies] == ["ok"] * 6, replies
    printed = [
        "".join(m["content"].get("text", "") for m in outputs(kc, msg_id) if m["msg_type"] == "stream")
        for msg_id in ids
    ]
    assert printed[1].strip() == "2"
    assert printed[2].strip() == "2"
    assert printed[3].strip() == "['two', 'one']"
    assert printed[5].strip() == "True True"


def test_object_lives_across_cells_sync_and_await(kernel):
    km, kc, tmp = kernel
    run(kc, f"import mcard.notebook\nacross = mcard.notebook.open({str(tmp / 'across.db')!r})")
    run(kc, "card = across.create('made in one cell')")
    assert run(kc, "print((await across.aget(card.hash)).content)") == "made in one cell"
    assert run(kc, "print(across.get(card.hash) == card, await across.acount())") == "True 1"
    assert run(kc, "print([c.content async for c in across.aiterate()])") == "['made in one cell']"
    assert run(kc, "await across.acreate('awaited'); print(across.count())") == "2"
    assert run(kc, "print(type(get_ipython().display_formatter.format(card)[0]['text/html']).__name__, across.list()._repr_html_().count('<tr>'))") == "str 3"
    run(kc, "across.close()")


def test_a_long_card_list_shows_as_plain_text_bounded_saying_what_is_left_out(kernel):
    km, kc, tmp = kernel
    run(kc, f"""
        import mcard.notebook
        from mcard import MCard
        plain_list = mcard.notebook.open({str(tmp / 'plain.db')!r})
        plain_list.save_many([MCard(f"card {{i}}") for i in range(255)], progress=False)
    """)
    lines = run(kc, "plain_list.list(limit=None)").splitlines()
    assert len(lines) == 21 and all(line.startswith("MCard(hash=") for line in lines[:20])
    assert lines[-1].startswith("20 of 255 cards shown: .to_dataframe() holds the 255 of this list")
    page = run(kc, "plain_list.find('card', limit=3)").splitlines()
    assert len(page) == 4 and page[-1].startswith("3 of 255 cards shown: 252 more match, not fetched")
    assert run(kc, "plain_list.find('nothing')") == "no cards"
    run(kc, "plain_list.close()")


def test_interrupt_during_a_slow_write_stops_it_for_good(kernel):
    km, kc, tmp = kernel
    db = tmp / "interrupt.db"
    run(kc, f"""
        import mcard.notebook
        from mcard import MCard
        slow = mcard.notebook.open({str(db)!r})
        items = [MCard(f"slow card {{i}}") for i in range(300_000)]
    """)
    msg_id = kc.execute("slow.save_many(items, progress=False)")
    time.sleep(0.8)
    try:
        kc.get_shell_msg(timeout=0.01)
        pytest.fail("the write finished before the interrupt: make it slower")
    except Empty:
        pass
    started = time.monotonic()
    km.interrupt_kernel()
    reply = wait_reply(kc, msg_id)
    stopped_after = time.monotonic() - started
    outputs(kc, msg_id)
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt", reply
    assert rows(db) == 0
    time.sleep(2)
    assert rows(db) == 0
    assert run(kc, "print(slow.count())") == "0"
    assert run(kc, "slow.create('after the interrupt'); print(slow.count())") == "1"
    assert rows(db) == 1
    print(f"interrupted save_many of 300,000 cards returned {stopped_after:.2f} s after the interrupt")


def test_kernel_with_unclosed_store_shuts_down_promptly(tmp_path):
    km, kc = start(tmp_path)
    db = tmp_path / "unclosed.db"
    try:
        run(kc, f"""
            import mcard.notebook
            left_open = mcard.notebook.open({str(db)!r})
            left_open.save_many([f"kept {{i}}" for i in range(100)])
            left_open.list(limit=5); print(left_open.count())
        """)
        started = time.monotonic()
        kc.shutdown()
        while km.is_alive() and time.monotonic() - started < 30:
            time.sleep(0.05)
        took = time.monotonic() - started
        assert not km.is_alive(), "the kernel did not exit on its own"
        print(f"kernel with an unclosed store exited {took:.2f} s after the shutdown request")
    finally:
        kc.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=True)
        else:
            km.cleanup_resources()
    assert rows(db) == 100
