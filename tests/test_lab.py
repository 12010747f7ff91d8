"""``mcard lab --demo`` (what ``python3 dev.py lab`` runs): demo cards stored once, database exported."""

import sqlite3
import subprocess
import sys
from pathlib import Path

from mcard.cli.commands import lab_command
from mcard.demo import demo_cards


def run_lab(cwd: Path, *args: str) -> str:
    """``mcard lab --demo`` for real; ``--version`` goes on to jupyter lab, which prints and exits."""
    command = [sys.executable, "-m", "mcard.cli", "lab", "--demo", *args, "--version"]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_demo_cards_are_stored_once_however_often_the_lab_starts(tmp_path):
    db = tmp_path / "lab" / "cards.db"
    first = run_lab(tmp_path, "--db", "lab/cards.db")
    second = run_lab(tmp_path, "--db", "lab/cards.db")
    expected = {card.hash for card in demo_cards()}
    assert f"demo cards in {db}: {len(expected)} added" in first
    assert f"demo cards in {db}: 0 added" in second
    with sqlite3.connect(db) as connection:
        hashes = [row[0] for row in connection.execute("SELECT hash FROM card")]
    connection.close()
    assert len(hashes) == len(expected) and set(hashes) == expected


def test_the_lab_gives_its_kernels_the_database_as_an_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    command, env = lab_command("cards.db", ["--port", "9999"])
    assert env["MCARD_DB_PATH"] == str(tmp_path / "cards.db")
    assert command[1:4] == ["-m", "jupyter", "lab"] and command[-2:] == ["--port", "9999"]
    assert "127.0.0.1" in command and any(part.startswith("--ServerApp.root_dir=") for part in command)
    assert lab_command("postgresql://me@127.0.0.1/cards", [])[1]["MCARD_DB_PATH"] == "postgresql://me@127.0.0.1/cards"
    assert lab_command(":memory:", [])[1]["MCARD_DB_PATH"] == ":memory:"
