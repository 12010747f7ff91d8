"""A store opened in an ``atexit`` handler works: a real interpreter exits, its handler writes a card.

Python's thread pools stop taking work before ``atexit`` handlers run, so ``asyncio.to_thread``
there used to fail with "can't register atexit after shutdown".
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = """
import atexit, sys, threading
{imports}
path = sys.argv[1]

def write_at_exit():
    {imports_late}
    with mcard.notebook.open(path) as cards:
        card = cards.create("written at exit")
    print(card.hash, flush=True)

atexit.register(write_at_exit)
{before}
"""


def run(tmp_path: Path, *, before: str = "", at_import: bool = True) -> subprocess.CompletedProcess[str]:
    script = SCRIPT.format(
        imports="import mcard.notebook" if at_import else "",
        imports_late="" if at_import else "import mcard.notebook",
        before=textwrap.dedent(before),
    )
    return subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "cards.db")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )


def stored(path: Path) -> list[tuple[str, bytes]]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT hash, content FROM card ORDER BY g_time").fetchall()
    db.close()
    return rows


@pytest.mark.parametrize(
    "before",
    [
        pytest.param("", id="nothing-before"),
        pytest.param(
            "early = mcard.notebook.open(path)\nearly.create('written before exit')\n",
            id="a-store-left-open-before",
        ),
        pytest.param("import asyncio\nasyncio.run(asyncio.to_thread(print, end=''))\n", id="thread-pool-used-before"),
    ],
)
def test_a_store_opened_in_an_atexit_handler_stores_its_card(tmp_path, before):
    result = run(tmp_path, before=before)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    rows = stored(tmp_path / "cards.db")
    assert rows[-1] == (result.stdout.strip(), b"written at exit")
    assert len(rows) == (2 if "early" in before else 1)


def test_first_import_at_exit_says_why_it_fails(tmp_path):
    result = run(tmp_path, at_import=False)
    assert result.returncode == 0 and result.stdout == ""
    assert (
        "RuntimeError: mcard.notebook was first imported while the interpreter was exiting; import it earlier"
        in result.stderr
    )


@pytest.mark.parametrize("held", ["it = cards.iterate(page_size=2); next(it)",
                                  "it = (card.hash for card in cards.iterate(page_size=2)); next(it)"])
def test_a_script_holding_a_half_read_iteration_exits(tmp_path, held):
    """The iteration's cleanup ran while the interpreter was finalizing and waited for mcard's
    loop thread, which no longer runs then: the script never exited."""
    script = f"import sys, mcard.notebook\ncards = mcard.notebook.open(sys.argv[1])\n" \
             f"cards.save_many([f'card {{i}}' for i in range(9)], progress=False)\n{held}\nprint('done', flush=True)\n"
    try:
        result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "cards.db")],
                                capture_output=True, text=True, timeout=60, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail("the script did not exit")
    assert (result.returncode, result.stdout, result.stderr) == (0, "done\n", "")
