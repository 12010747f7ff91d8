"""The JupyterLab that ``dev.py lab`` starts listens on 127.0.0.1 only and requires its token.

``dev.py lab`` runs ``mcard lab --demo --db ...``; the test runs that same command for real
(plus a free port), then probes it over HTTP and through the kernel's table of listening sockets.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.test_lab_stop import free_port, kill_all, started_by

ROOT = Path(__file__).resolve().parent.parent


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a socket listening on ``port``, from /proc/net/tcp and tcp6."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        lines = Path(table).read_text().splitlines()[1:] if Path(table).exists() else []
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                raw = bytes.fromhex(address)
                if len(raw) == 4:
                    found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:
                    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                    found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def test_lab_listens_on_loopback_only_and_refuses_requests_without_its_token(tmp_path):
    assert '"lab", "--demo"' in (ROOT / "dev.py").read_text(), "dev.py lab no longer runs mcard lab"
    command = [str(Path(sys.executable).parent / "mcard"), "lab", "--demo", "--db", str(tmp_path / "lab.db")]
    port, marker = free_port(), secrets.token_hex(8)
    env = {**os.environ, "MCARD_LAB_TEST_MARKER": marker, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"), "DISPLAY": "",
           "XDG_DATA_HOME": str(tmp_path / "data")}
    server = subprocess.Popen(
        [*command, f"--port={port}", "--ServerApp.port_retries=0", "--no-browser", "--LabApp.news_url=None"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    log: list[str] = []
    threading.Thread(target=lambda: log.extend(server.stdout), daemon=True).start()
    try:
        token = None
        deadline = time.monotonic() + 60
        while token is None and time.monotonic() < deadline and server.poll() is None:
            match = re.search(rf"http://127\.0\.0\.1:{port}/lab\?token=(\w+)", "".join(log))
            token = match and match[1]
            time.sleep(0.2)
        assert token, "".join(log)[-2000:]
        assert len(token) >= 32, "the token must be a long random secret"
        base = f"http://127.0.0.1:{port}"
        while status(f"{base}/api/status?token={token}") != 200:
            assert time.monotonic() < deadline, "".join(log)[-2000:]
            time.sleep(0.2)
        for path in ("/api/status", "/api/contents", "/api/kernels", "/api/sessions"):
            assert status(f"{base}{path}") == 403, path
            assert status(f"{base}{path}?token=wrong{token}") == 403, path
        assert status(f"{base}/api/contents?token={token}") == 200
        addresses = listening_addresses(port)
        assert addresses == {"127.0.0.1"}, f"listening on {addresses}"
    finally:
        server.send_signal(signal.SIGTERM)  # mcard lab passes it on: JupyterLab stops too
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        kill_all(started_by(None, [f"--port={port}"], marker))
