"""SIGTERM and SIGHUP end a command as Ctrl-C does: the event loop cancels it where it awaits,
so it cleans up and exits 143 (129) with one line on stderr. A ``signal.signal`` handler that
raised wherever the main thread was landed inside asyncpg's protocol callbacks and tasks'
cleanup: tracebacks on stderr, exit 1, and at times a SIGSEGV of the whole process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mcard.cli import main
from mcard.cli.commands import COMMANDS
from tests.postgres_support import fresh_schema, server_value
from tests.test_cli import MCARD
from tests.test_cli_sync import make_store, run


@pytest.mark.parametrize("ending", [signal.SIGTERM, signal.SIGHUP])
def test_a_termination_cancels_the_command_where_it_awaits_not_in_the_middle_of_a_step(tmp_path, monkeypatch, capsys, ending):
    steps: list[str] = []

    async def command(args: object) -> int:
        try:
            os.kill(os.getpid(), ending)  # delivered at once, while this step runs on
            total = 0
            for number in range(200_000):  # a step of synchronous work (a driver's callback)
                total += number
            steps.append("step finished")
            await asyncio.sleep(30)
            steps.append("not cancelled")
            return 0
        finally:
            steps.append("cleaned up")

    monkeypatch.setitem(COMMANDS, "stats", command)
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        status = main(["stats", "--db", str(tmp_path / "cards.db")])
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    assert steps == ["step finished", "cleaned up"]
    assert status == 128 + ending
    assert capsys.readouterr().err == "mcard: terminated\n"


@pytest.mark.postgres
def test_sigterm_during_an_import_into_postgres_is_one_line_and_a_rerun_finishes(tmp_path):
    n = 30_000
    make_store(tmp_path / "a.db", n, size=100)
    run("export", "--db", "a.db", "cards.jsonl", cwd=tmp_path)
    for url, schema in fresh_schema():
        target = f"{url}?schema={schema}&application_name={schema}"  # its sessions, told from other tests'
        for delay in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
            ended(url, schema)  # a write the last run sent before it died lands now, not during this one
            before = stored(url, schema)
            process = subprocess.Popen([MCARD, "import", "--records", "cards.jsonl", "--db", target], cwd=tmp_path,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 60
            while stored(url, schema) <= before and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)  # until it writes: a signal before its handlers are in place ends it outright
            time.sleep(delay)
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=60)
            if process.returncode == 0 or (process.returncode == -signal.SIGTERM and stored(url, schema) == n):
                # it finished first: nothing to stop (Python's finalization restores the default
                # action of a signal, so one landing while the finished process exits ends it)
                break
            assert (process.returncode, err) == (143, "mcard: terminated\n")
        run("import", "--records", "cards.jsonl", "--db", target, cwd=tmp_path)
        assert stored(url, schema) == n


def ended(url: str, schema: str) -> None:
    """Wait until the server has ended every session of the stopped imports into ``schema``
    (named after it): a COMMIT one sent just before it was stopped may still land, and counted
    as the next run's first write it had that run signalled before its handlers were in place
    (exit -15, nothing on stderr)."""
    deadline = time.monotonic() + 30
    sessions = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
    while server_value(url, sessions, schema) and time.monotonic() < deadline:
        time.sleep(0.05)


def stored(url: str, schema: str) -> int:
    """Cards in the schema's table (0 before it is made), read with asyncpg alone."""
    import asyncpg

    try:
        return int(server_value(url, f'SELECT count(*) FROM "{schema}".card'))  # type: ignore[arg-type]
    except asyncpg.UndefinedTableError:
        return 0


INTERRUPTED_WHILE_IMPORTING = """
import os, signal, sys

class Interrupting:  # Ctrl-C while the command line's modules are being imported
    def find_spec(self, name, path=None, target=None):
        if name == "mcard.cli.commands":
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, Interrupting())
sys.argv = ["mcard", "ls", "--db", sys.argv[1]]
from mcard.command import main
sys.exit(main())
"""


def test_ctrl_c_while_the_command_starts_is_one_line_not_a_traceback(tmp_path):
    """``import mcard`` took ~0.2 s before any handler ran: Ctrl-C then printed a traceback of
    the imports. The ``mcard`` command now starts from ``mcard.command``, which imports the rest
    inside ``main``: the interrupt is one line and status 130, as it is later."""
    done = subprocess.run([sys.executable, "-c", INTERRUPTED_WHILE_IMPORTING, str(tmp_path / "cards.db")],
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr, done.stdout) == (130, "mcard: interrupted\n", "")
    assert not (tmp_path / "cards.db").exists()


def test_the_installed_command_starts_light_and_every_public_name_resolves():
    script = Path(MCARD).read_text()
    assert "from mcard.command import main" in script, script
    listed = subprocess.run([sys.executable, "-X", "importtime", "-c", "import mcard.command"],
                            capture_output=True, text=True, timeout=60).stderr
    imported = {line.split("|")[-1].strip() for line in listed.splitlines() if "|" in line}
    assert not {"asyncio", "mcard.cli", "mcard.infrastructure", "sqlite3"} & imported, sorted(imported)
    every_name = ("import mcard; from mcard import *; import mcard.syncing as s; assert set(dir(mcard)) >= set(mcard.__all__);"
                  " assert [n for n in mcard.__all__ if getattr(mcard, n) is not globals()[n]] == [];"
                  " assert mcard.sync is s.sync and mcard.MCard.__module__ == 'mcard.domain.models.card'")
    subprocess.run([sys.executable, "-c", every_name], check=True, timeout=60)
