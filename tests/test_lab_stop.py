"""Stopping ``mcard lab`` stops everything it started: JupyterLab and its kernels.

A real ``mcard lab`` runs on a free loopback port with a token; a kernel is started through
the REST API; then ``mcard lab`` alone gets the signal. Every process it started is found by
walking /proc: its descendants, and any process whose environment carries the test's marker
or whose command line names the test's port, token or runtime folder (a kernel is in a session
of its own, and an orphan's parent is init).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

MCARD = str(Path(sys.executable).with_name("mcard"))
MARKER = "MCARD_LAB_TEST_MARKER"
START_TIMEOUT = 90.0
GONE_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    start: int  # clock ticks after boot: with the pid, names one process even if the pid is reused
    state: str  # R running, S sleeping, Z zombie...
    cmdline: str
    environ: bytes

    @property
    def zombie(self) -> bool:
        return self.state == "Z"


def processes() -> dict[int, Proc]:
    """Every process /proc shows now (those that end while it is read are left out)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            try:
                environ = (entry / "environ").read_bytes()
            except PermissionError:
                environ = b""
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry.name)] = Proc(int(entry.name), int(fields[1]), int(fields[19]), fields[0], cmdline, environ)
    return found


def started_by(root: int | None, clues: list[str], marker: str) -> set[tuple[int, int]]:
    """(pid, start) of the live processes under ``root`` (if given: a pid still running), or
    carrying ``marker`` or a clue."""
    table = processes()
    children: dict[int, list[int]] = {}
    for proc in table.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    found: set[int] = set()
    todo = [] if root is None else [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, []))
    needle = f"{MARKER}={marker}".encode()
    found |= {p.pid for p in table.values() if needle in p.environ or any(clue in p.cmdline for clue in clues)}
    return {(pid, table[pid].start) for pid in found if pid in table and not table[pid].zombie}


def alive(started: set[tuple[int, int]]) -> set[tuple[int, int]]:
    table = processes()
    return {(pid, start) for pid, start in started if pid in table and table[pid].start == start and not table[pid].zombie}


def call(url: str, method: str = "GET") -> object:
    request = urllib.request.Request(url, method=method, data=b"{}" if method == "POST" else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def wait_for(check, what: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not check():
        assert server.poll() is None, f"mcard lab exited with {server.returncode}: {log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {log.read_text()[-2000:]}"
        time.sleep(0.2)


def kill_all(started: set[tuple[int, int]]) -> None:
    for pid, _ in alive(started):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def lab_launch(tmp_path: Path) -> tuple[int, str, str, Path, dict[str, str], list[str]]:
    """A port, a token and a marker its kernels carry in their environment; the runtime folder,
    the environment and the command of an ``mcard lab`` of its own under ``tmp_path``."""
    port, token, marker = free_port(), secrets.token_hex(16), secrets.token_hex(8)
    runtime = tmp_path / "runtime"
    env = {**os.environ, MARKER: marker, "JUPYTER_RUNTIME_DIR": str(runtime),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"), "DISPLAY": "",
           "XDG_DATA_HOME": str(tmp_path / "data")}
    command = [MCARD, "lab", "--db", str(tmp_path / "lab.db"), f"--port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", "--no-browser", "--LabApp.news_url=None"]
    return port, token, marker, runtime, env, command


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGKILL], ids=lambda s: s.name)
def test_stopping_mcard_lab_stops_jupyterlab_and_its_kernels(tmp_path, stop):
    """Whatever stops ``mcard lab``, JupyterLab and its kernels stop too: a SIGKILL, which
    ``mcard lab`` cannot pass on, left JupyterLab running with its port."""
    port, token, marker, runtime, env, command = lab_launch(tmp_path)
    log = tmp_path / "lab.log"
    with log.open("wb") as out:
        server = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    clues = [f"--port={port}", token, str(runtime)]
    started: set[tuple[int, int]] = set()
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(f"{base}/api/status?token={token}"), "/api/status", server, log)
        kernel = call(f"{base}/api/kernels?token={token}", "POST")["id"]  # type: ignore[index]
        wait_for(lambda: _kernel_listens(runtime / f"kernel-{kernel}.json"), "the kernel to listen", server, log)

        started = started_by(server.pid, clues, marker)
        commands = [proc.cmdline for pid, proc in processes().items() if (pid, proc.start) in started]
        assert any("jupyter" in c and "lab" in c for c in commands), commands
        assert any(f"kernel-{kernel}.json" in c for c in commands), commands

        server.send_signal(stop)
        status_after = server.wait(60)
        deadline = time.monotonic() + GONE_TIMEOUT
        while (left := alive(started) | started_by(None, clues, marker)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, [processes()[pid].cmdline for pid, _ in left if pid in processes()]
        assert status_after == (-stop if stop == signal.SIGKILL else 128 + stop), log.read_text()[-2000:]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        kill_all(started | started_by(None, clues, marker))


def _kernel_listens(connection_file: Path) -> bool:
    """Whether the kernel is up: its shell port, from its connection file, takes connections."""
    try:
        port = json.loads(connection_file.read_text())["shell_port"]
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except (OSError, ValueError, KeyError):
        return False
    return True


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def test_ctrl_c_at_the_terminal_stops_mcard_lab_at_once(tmp_path):
    """Ctrl-C at a terminal is a SIGINT to the whole foreground job. JupyterLab with a terminal
    on its standard input takes a SIGINT as a question ("Shut down this Jupyter server
    (y/[n])?") and runs on when it gets no answer in 5 s: one Ctrl-C stops it, kernels too."""
    port, token, marker, runtime, env, command = lab_launch(tmp_path)
    log = tmp_path / "lab.log"
    terminal, job_side = os.openpty()  # the job reads and writes a terminal, as in a shell
    seen = bytearray()
    reader = threading.Thread(target=_drain, args=(terminal, seen), daemon=True)
    reader.start()
    with log.open("wb") as out:  # a job of its own: its process group is the terminal's foreground
        server = subprocess.Popen(command, env=env, cwd=tmp_path, stdin=job_side, stdout=job_side, stderr=out,
                                  start_new_session=True)
    os.close(job_side)
    clues = [f"--port={port}", token, str(runtime)]
    started: set[tuple[int, int]] = set()
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(f"{base}/api/status?token={token}"), "/api/status", server, log)
        kernel = call(f"{base}/api/kernels?token={token}", "POST")["id"]  # type: ignore[index]
        wait_for(lambda: _kernel_listens(runtime / f"kernel-{kernel}.json"), "the kernel to listen", server, log)
        started = started_by(server.pid, clues, marker)

        os.killpg(server.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        try:
            status = server.wait(20)
        except subprocess.TimeoutExpired:
            status = None
        assert status == 128 + signal.SIGINT, bytes(seen).decode(errors="replace")[-500:] + log.read_text()[-1500:]
        deadline = time.monotonic() + GONE_TIMEOUT
        while (left := alive(started) | started_by(None, clues, marker)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, [processes()[pid].cmdline for pid, _ in left if pid in processes()]
        assert b"Shut down this Jupyter server" not in seen
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        kill_all(started | started_by(None, clues, marker))
        os.close(terminal)


def _drain(terminal: int, seen: bytearray) -> None:
    """Read what the job writes to its terminal, so that it never waits on a full one."""
    while True:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # closed
            return
        if not chunk:
            return
        seen += chunk
