#!/usr/bin/env python3
"""Set up and run mcard from a fresh checkout, with nothing but Python 3.11+ and the OS packages.

    python3 dev.py lab     # virtual environment + demo database + JupyterLab on the tutorials
    python3 dev.py test    # virtual environment + test services + the whole test suite

Both install mcard editable into ``.venv``: ``lab`` with its ``lab`` extra, ``test`` with every
extra and the ``dev`` dependency group. They reinstall only when pyproject.toml changes. The lab
runs a copy of ``notebooks/`` in ``.lab/tutorials`` (``mcard lab``'s copy: a tutorial the user
has not edited follows ``notebooks/``), so running and saving them leaves the checkout as it was.

Extra arguments after ``test`` go to pytest (``python3 dev.py test -k contract``); the tests
run on a worker per CPU (pytest-xdist) unless they say ``-n 0`` or another number.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"
INSTALL_STAMP = VENV / ".mcard-installed"
LAB_DIR = ROOT / ".lab"
LAB_DB = LAB_DIR / "cards.db"
LAB_TUTORIALS = LAB_DIR / "tutorials"
PYPROJECT = ROOT / "pyproject.toml"
INSTALLS = {  # what each command needs installed; each one's set includes the one before it
    "lab": ["-e", f"{ROOT}[lab]"],
    "test": ["-e", f"{ROOT}[all]", "--group", f"{PYPROJECT}:dev"],
}


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def run(*command: str | os.PathLike[str], **kwargs: object) -> None:
    subprocess.run([str(part) for part in command], check=True, **kwargs)  # type: ignore[call-overload]


def as_root(*command: str) -> list[str] | None:
    """The command run as root: directly when we are root, through passwordless sudo otherwise."""
    if os.geteuid() == 0:
        return list(command)
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n", *command]
    return None


def apt_install(*packages: str) -> bool:
    if not shutil.which("apt-get"):
        return False
    update, install = as_root("apt-get", "update", "-qq"), as_root("apt-get", "install", "-y", "-qq", *packages)
    if update is None or install is None:
        return False
    say(f"installing {' '.join(packages)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(update, env=env).returncode == 0 and subprocess.run(install, env=env).returncode == 0


def ensure_venv(command: str) -> None:
    """``.venv`` with what ``command`` needs (see ``INSTALLS``), installed when pyproject.toml changes."""
    if sys.version_info < (3, 11):
        sys.exit(f"mcard needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        say(f"creating the virtual environment {VENV.relative_to(ROOT)}/")
        try:
            venv.create(VENV, with_pip=True)
        except subprocess.CalledProcessError:
            shutil.rmtree(VENV, ignore_errors=True)
            version = f"python{sys.version_info.major}.{sys.version_info.minor}-venv"
            if not apt_install(version):
                sys.exit(f"could not create a virtual environment: install {version} (apt-get) and retry")
            venv.create(VENV, with_pip=True)
    digest = hashlib.sha256(PYPROJECT.read_bytes()).hexdigest()
    stamp = INSTALL_STAMP.read_text().split() if INSTALL_STAMP.exists() else []
    installed = set(stamp[1:]) if stamp[:1] == [digest] else set()
    if command in installed:
        return
    say(f"installing mcard and what `dev.py {command}` needs into the virtual environment")
    run(PYTHON, "-m", "pip", "install", "-q", "--upgrade", "pip>=25.1")  # 25.1: --group
    if subprocess.run([PYTHON, "-m", "pip", "show", "-q", "mcard"], capture_output=True).returncode == 0:
        say("removing the distribution 'mcard' (mcard's old name, or another project's): it installs `mcard` too")
        run(PYTHON, "-m", "pip", "uninstall", "-q", "-y", "mcard")
    run(PYTHON, "-m", "pip", "install", "-q", *INSTALLS[command])
    covered = list(INSTALLS)[: list(INSTALLS).index(command) + 1]
    INSTALL_STAMP.write_text(" ".join([digest, *sorted(installed | set(covered))]))


def ensure_chromium() -> None:
    """The browser tests drive Debian's Chromium; install it when it is missing."""
    if Path("/usr/bin/chromium").exists() or apt_install("chromium"):
        return
    say("Chromium is not installed and cannot be installed here: the browser tests will be skipped")


def ensure_postgres() -> None:
    """Start the local PostgreSQL cluster when one is installed but not running."""
    if not shutil.which("pg_lsclusters") or not Path("/etc/postgresql").is_dir():
        return
    status = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True).stdout
    for line in status.splitlines():
        version, cluster, _port, state, *_ = line.split()
        if state != "online":
            command = as_root("pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "start")
            if command:
                say(f"starting PostgreSQL {version}/{cluster}")
                subprocess.run(command)
    ensure_test_database()


def ensure_test_database() -> None:
    """Create the tests' database ``test`` on 127.0.0.1:5432 when the server lacks it."""
    if not shutil.which("psql") or not shutil.which("createdb"):
        return
    server = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"]
    found = subprocess.run(
        ["psql", *server, "-d", "postgres", "-tAc", "SELECT 1 FROM pg_database WHERE datname = 'test'"],
        capture_output=True, text=True,
    )
    if found.returncode == 0 and not found.stdout.strip():
        say("creating the PostgreSQL database 'test'")
        subprocess.run(["createdb", *server, "test"])


def lab(args: list[str]) -> int:
    ensure_venv("lab")
    db = os.environ.get("MCARD_DB_PATH", str(LAB_DB))
    say(f"JupyterLab on a copy of notebooks/ in {LAB_TUTORIALS.relative_to(ROOT)}/ over {db}")
    mcard = str(VENV / "bin" / "mcard")
    os.execv(mcard, [mcard, "lab", "--demo", "--db", db, "--tutorials", str(LAB_TUTORIALS), *args])  # signals reach mcard lab


PARALLEL: list[str] = ["--numprocesses", "auto"]
"""How ``test`` runs pytest unless told otherwise (``-n``, ``-p no:xdist``): a worker per CPU,
the tests shared out between them. Many tests wait on processes (kernels, JupyterLab,
Chromium, mcard commands) rather than compute."""


def pytest_args(args: list[str]) -> list[str]:
    """``args`` with ``PARALLEL`` first unless they choose the workers themselves."""
    chosen = any(arg.startswith(("-n", "--numprocesses")) or arg == "no:xdist" for arg in args)
    return args if chosen else [*PARALLEL, *args]


def test(args: list[str]) -> int:
    ensure_venv("test")
    ensure_chromium()
    ensure_postgres()
    return subprocess.run([str(PYTHON), "-m", "pytest", *pytest_args(args)], cwd=ROOT).returncode


def main() -> int:
    commands = {"lab": lab, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
