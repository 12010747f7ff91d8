"""``mcard lab``: JupyterLab on the tutorials, over a card store.

The tutorials are copied from the package to a folder of the user's own first (see
:mod:`mcard.cli.tutorials`); ``--tutorials DIR`` chooses it (a source checkout's
``notebooks/`` is the package's own folder: nothing is copied there).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from mcard.domain.models.exceptions import ConfigurationError
from mcard.extras import install_command
from mcard.infrastructure.persistence.config_url import DB_URL_ENV, config_of
from mcard.infrastructure.persistence.engine_config import DB_PATH_ENV, MEMORY_PATH

from . import tutorials
from .children import run_forwarding_signals
from .output import note
from .stores import db_target


def lab_command(target: str, extra: list[str], folder: Path) -> tuple[list[str], dict[str, str]]:
    """``jupyter lab`` on ``folder``, and its environment: notebooks find the database in
    ``$MCARD_DB_PATH``, made absolute (``~`` expanded; a ``sqlite:///`` URL's file too) since
    kernels run in the notebooks' folder; ``$MCARD_DB_URL``, which notebooks would read first,
    is left out (``target`` came from it when no database was named)."""
    target = absolute_target(target)
    command = [sys.executable, "-m", "jupyter", "lab", "--ip", "127.0.0.1", f"--ServerApp.root_dir={folder}"]
    if not os.environ.get("DISPLAY"):
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    environment = {name: value for name, value in os.environ.items() if name != DB_URL_ENV}
    return command + extra, {**environment, DB_PATH_ENV: target}


def absolute_target(target: str) -> str:
    """``target`` with its SQLite file named by an absolute path (``~`` expanded), as a path or,
    for a ``sqlite:///`` URL, as a URL keeping its options; other targets as they are."""
    if target == MEMORY_PATH:
        return target
    if "://" not in target:
        return str(Path(target).expanduser().resolve())
    parts = urlsplit(target)
    if parts.scheme != "sqlite" or parts.netloc:
        return target
    named = unquote(parts.path[1:])
    if named == MEMORY_PATH:
        return target
    path = Path(named).expanduser().resolve()
    return f"sqlite:///{quote(str(path))}" + (f"?{parts.query}" if parts.query else "")


async def cmd_lab(args: argparse.Namespace) -> int:
    """JupyterLab until it exits; stopping ``mcard lab`` (SIGTERM, SIGINT, SIGHUP) stops it."""
    from mcard.demo import fill

    if importlib.util.find_spec("jupyterlab") is None:
        raise ConfigurationError(f"mcard lab needs JupyterLab, which is not installed: {install_command('lab')}")
    folder = Path(args.tutorials).expanduser().absolute() if args.tutorials else tutorials.default_folder()
    command, env = lab_command(db_target(args), args.lab_args, folder)
    target = env[DB_PATH_ENV]
    notes = []
    if args.demo:
        config = config_of(target)
        added = await fill(config, empty_only=True)
        notes.append(f"demo cards in {config.location}: {added} added" if added is not None else
                     f"demo cards in {config.location}: none added, it holds cards already (the demo fills an empty store)")
    changed = tutorials.sync(folder).summary()
    notes += [changed] if changed else []
    for line in notes:  # once everything is ready: a failure is one line on stderr, alone
        note(line)
    # JupyterLab stops cleanly, its kernels with it, on SIGTERM. A SIGHUP would kill it outright
    # and leave its kernels to notice on their own; a SIGINT, with a terminal on its standard
    # input, asks "Shut down this Jupyter server (y/[n])?" and resumes after 5 s without an
    # answer (and without one, ends without stopping its kernels): both are passed on as SIGTERM.
    stop = {signal.SIGHUP: signal.SIGTERM, signal.SIGINT: signal.SIGTERM}
    return await run_forwarding_signals(command, env, sent_as=stop)
