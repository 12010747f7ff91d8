"""The widgets tutorial in real JupyterLab, driven in headless Chromium as a user would.

JupyterLab runs on a free loopback port over a temporary root folder and database; the test
runs all cells from the Run menu, then adds a card with the form, finds it, removes it, and
checks the database file itself after each step. Screenshots land in test-artifacts/browser/.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mcard.demo import fill

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "03_widgets.ipynb"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
NOTIFICATION_SETTINGS = {"fetchNews": "false", "checkForUpdates": False}
START_TIMEOUT = 60.0


def unavailable(reason: str) -> None:
    """Skip, except under CI, where the browser test must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required when CI is set)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@dataclass
class Lab:
    base: str
    token: str
    root: Path
    db: Path
    process: subprocess.Popen[bytes]

    def url(self, path: str) -> str:
        separator = "&" if "?" in path else "?"
        return f"{self.base}{path}{separator}token={self.token}"

    def wait_until(self, ready: object, what: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"JupyterLab exited with {self.process.returncode}; see {ARTIFACTS}/server.log")
            try:
                if ready():  # type: ignore[operator]
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    def kernel_idle(self) -> bool:
        sessions = get_json(self.url("/api/sessions"))
        return bool(sessions) and all(s["kernel"]["execution_state"] == "idle" for s in sessions)  # type: ignore[index, union-attr]


def run_all(page, lab: Lab, notebook: str) -> None:  # type: ignore[no-untyped-def]
    """Open ``notebook`` in JupyterLab, wait for its kernel, and Run All from the Run menu."""
    page.goto(lab.url(f"/lab/tree/{notebook}") + "&reset")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    lab.wait_until(lab.kernel_idle, "an idle kernel")
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()


def launch_lab(root: Path, settings: Path, db: Path, work: Path, log_path: Path) -> Lab:
    """JupyterLab on a free loopback port with a token, over ``root``, its settings in
    ``settings``, ``MCARD_DB_PATH`` set to ``db``; its output goes to ``log_path``."""
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "MCARD_DB_PATH": str(db),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(work / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
    }
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip", "127.0.0.1",
        "--port", str(port), "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT)
    return Lab(f"http://127.0.0.1:{port}", token, root, db, process)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """JupyterLab over a copy of the widgets tutorial and a demo database, stopped by its pid."""
    root, settings, db = tmp_path / "root", tmp_path / "settings", tmp_path / "cards.db"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps(NOTIFICATION_SETTINGS))
    asyncio.run(fill(str(db)))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    server = launch_lab(root, settings, db, tmp_path, ARTIFACTS / "server.log")
    process = server.process
    try:
        server.wait_until(lambda: get_json(server.url("/api/status")) is not None, "/api/status")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stored(db: Path, hash_str: str) -> str | None:
    """The text of the card with this hash, read from the database file, or None."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        row = connection.execute("SELECT content FROM card WHERE hash = ?", (hash_str,)).fetchone()
    connection.close()
    return None if row is None else bytes(row[0]).decode("utf-8")


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium and Playwright for Python, checked before any server starts."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing and could not be installed (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("Playwright for Python is not installed")
    return CHROMIUM


def test_widgets_tutorial_in_jupyterlab(chromium: Path, lab: Lab) -> None:
    from playwright.sync_api import expect, sync_playwright

    for old in ARTIFACTS.glob("*.png"):
        old.unlink()

    text = f"A card typed in the browser {secrets.token_hex(4)}"
    digest = hashlib.sha256(text.encode()).hexdigest()
    short = digest[:12]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(30_000)
            run_all(page, lab, NOTEBOOK.name)
            prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-prompt")
            code_cells = sum(c["cell_type"] == "code" for c in json.loads(NOTEBOOK.read_text())["cells"])
            expect(prompts).to_have_count(code_cells)
            for index in range(code_cells):
                expect(prompts.nth(index)).to_have_text(re.compile(r"^\[\d+\]"), timeout=60_000)
            lab.wait_until(lab.kernel_idle, "the kernel to finish Run All")
            assert page.locator('[data-mime-type="application/vnd.jupyter.stderr"]').count() == 0
            page.screenshot(path=ARTIFACTS / "01-run-all.png")

            def form(placeholder: str):  # the code cell whose output holds this form
                return page.locator(".jp-Notebook .jp-CodeCell").filter(has=page.get_by_placeholder(placeholder)).first

            create = form("Text of the new card")
            create.get_by_placeholder("Text of the new card").fill(text)
            create.get_by_role("button", name="Add card").click()
            expect(create.locator(".mcard-status")).to_have_text(f"added {short}")
            assert stored(lab.db, digest) == text
            create.screenshot(path=ARTIFACTS / "02-added.png")

            search = form("Text to find (case-sensitive)")
            search.get_by_placeholder("Text to find (case-sensitive)").fill("typed in the browser")
            search.get_by_role("button", name="Search").click()
            expect(search.locator(".mcard-status")).to_contain_text("matches 1–1")
            results = search.locator("table.mcard-cards tbody tr")
            expect(results).to_have_count(1)
            expect(results.first).to_contain_text(text)
            copied = results.first.locator("code").get_attribute("title")
            assert copied == digest
            search.screenshot(path=ARTIFACTS / "03-found.png")

            remove = form("Hash of the card to remove (or its first 8+ hex digits)")
            remove.get_by_placeholder("Hash of the card to remove (or its first 8+ hex digits)").fill(copied)
            remove.get_by_role("button", name=re.compile(r"\bRemove$")).click()  # after its icon
            expect(remove.locator(".mcard-status")).to_contain_text(f"remove {short}?")
            expect(remove.locator("div.mcard-card")).to_contain_text(text)
            assert stored(lab.db, digest) == text, "removed before it was confirmed"
            remove.screenshot(path=ARTIFACTS / "04-confirm.png")
            remove.get_by_role("button", name="Yes, remove it").click()
            expect(remove.locator(".mcard-status")).to_have_text(f"removed {short}")
            assert stored(lab.db, digest) is None
            remove.screenshot(path=ARTIFACTS / "05-removed.png")

            search.get_by_role("button", name="Search").click()
            expect(search.locator(".mcard-status")).to_have_text("no cards contain 'typed in the browser'")
            expect(search.locator("table.mcard-cards tbody tr")).to_have_count(0)
            search.screenshot(path=ARTIFACTS / "06-gone.png")
        finally:
            browser.close()
