"""``mcard lab``: demo cards stored once, the database passed on, and the shipped tutorials
copied to a folder of the user's own (missing ones copied, unedited ones updated, edited ones
never overwritten), all by the real command in a subprocess.

``--version`` after ``lab`` goes on to ``jupyter lab``, which prints its version and exits:
everything ``mcard lab`` does before starting JupyterLab happens for real.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from mcard import AsyncPersistenceWrapper, SQLiteConfig
from mcard.cli import tutorials
from mcard.cli.lab import lab_command
from mcard.demo import demo_cards

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "mcard" / "tutorials"
TUTORIALS = sorted(path.name for path in SHIPPED.glob("*.ipynb"))
MCARD = str(Path(sys.executable).with_name("mcard"))


def run_lab(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``mcard lab`` for real, with umask 022 and the user data folder in ``cwd / "data"``."""
    env = {**os.environ, "XDG_DATA_HOME": str(cwd / "data")}
    done = subprocess.run(
        ["sh", "-c", 'umask 022 && exec "$0" "$@"', MCARD, "lab", *args, "--version"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done


def notes(done: subprocess.CompletedProcess[str]) -> list[str]:
    """mcard's own lines on stderr."""
    return [line for line in done.stderr.splitlines() if line.startswith("mcard: ")]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.postgres
def test_the_demo_note_names_a_postgres_store_without_its_password(tmp_path, postgres_schema):
    url, schema = postgres_schema
    with_password = url.replace("://postgres@", "://postgres:s3cr3t@") + f"?schema={schema}"
    assert "s3cr3t" in with_password  # the server trusts any password
    done = run_lab(tmp_path, "--demo", "--db", with_password)
    assert any(f"({schema}.card)" in line for line in notes(done)) and "s3cr3t" not in done.stderr


def test_demo_cards_fill_an_empty_store_once_and_cards_removed_stay_removed(tmp_path):
    db = tmp_path / "lab" / "cards.db"
    first = run_lab(tmp_path, "--demo", "--db", "lab/cards.db")
    expected = {card.hash for card in demo_cards()}
    assert f"mcard: demo cards in {db}: {len(expected)} added" in notes(first)
    assert first.stdout.strip() and "mcard" not in first.stdout  # stdout is jupyter lab's version alone
    with sqlite3.connect(db) as connection:
        hashes = [row[0] for row in connection.execute("SELECT hash FROM card")]
    connection.close()
    assert len(hashes) == len(expected) and set(hashes) == expected

    removed = sorted(expected)[0]
    asyncio.run(_remove(db, removed))
    second = run_lab(tmp_path, "--demo", "--db", "lab/cards.db")
    assert notes(second) == [f"mcard: demo cards in {db}: none added, it holds cards already (the demo fills an empty store)"]
    with sqlite3.connect(db) as connection:
        hashes = [row[0] for row in connection.execute("SELECT hash FROM card")]
    connection.close()
    assert set(hashes) == expected - {removed}


async def _remove(db, hash_str: str) -> None:
    async with AsyncPersistenceWrapper(SQLiteConfig(db)) as store:
        assert await store.remove(hash_str)


def test_the_lab_gives_its_kernels_the_database_as_an_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    command, env = lab_command("cards.db", ["--port", "9999"], tmp_path / "tutorials")
    assert env["MCARD_DB_PATH"] == str(tmp_path / "cards.db")
    assert command[1:4] == ["-m", "jupyter", "lab"] and command[-2:] == ["--port", "9999"]
    assert "127.0.0.1" in command and f"--ServerApp.root_dir={tmp_path / 'tutorials'}" in command
    assert lab_command("~/x.db", [], tmp_path)[1]["MCARD_DB_PATH"] == str(tmp_path / "home" / "x.db")
    assert lab_command("postgresql://me@127.0.0.1/cards", [], tmp_path)[1]["MCARD_DB_PATH"] == "postgresql://me@127.0.0.1/cards"
    assert lab_command(":memory:", [], tmp_path)[1]["MCARD_DB_PATH"] == ":memory:"


def test_the_lab_database_is_what_its_kernels_open_even_with_a_url_in_the_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MCARD_DB_URL", "sqlite:///other.db")
    env = lab_command("cards.db", [], tmp_path)[1]
    opened = subprocess.run(
        [sys.executable, "-c", "import mcard; print(mcard.default_config().location)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    )
    assert opened.stdout.strip() == str(tmp_path / "cards.db")


@pytest.mark.parametrize(("named", "file", "algorithm"), [
    ("sqlite:///cards.db?hash_algorithm=blake2b", "cards.db", "blake2b"),
    ("sqlite:///my%20cards.db", "my cards.db", "sha256"),
])
def test_a_relative_sqlite_url_names_the_same_file_for_the_kernels(tmp_path, monkeypatch, named, file, algorithm):
    """Kernels run in the tutorials' folder: a relative ``sqlite:///`` URL reaches them as the
    file it names from where ``mcard lab`` was started, with its options."""
    monkeypatch.chdir(tmp_path)
    tutorials = tmp_path / "tutorials"
    tutorials.mkdir()
    env = lab_command(named, [], tutorials)[1]
    opened = subprocess.run(
        [sys.executable, "-c", "import mcard; c = mcard.default_config(); print(c.location); print(c.hash_algorithm)"],
        cwd=tutorials, env=env, capture_output=True, text=True, check=True,
    )
    assert opened.stdout.splitlines() == [str(tmp_path / file), algorithm]


def test_the_first_run_copies_the_tutorials_to_the_user_data_folder(tmp_path):
    done = run_lab(tmp_path, "--db", "cards.db")
    folder = tmp_path / "data" / "mcard" / "tutorials"
    assert notes(done) == [f"mcard: tutorials in {folder}: {len(TUTORIALS)} copied"]
    assert sorted(path.name for path in folder.glob("*.ipynb")) == TUTORIALS
    for name in TUTORIALS:
        assert (folder / name).read_bytes() == (SHIPPED / name).read_bytes()
        assert (folder / name).stat().st_mode & 0o777 == 0o644  # the umask's, as a copy by hand
    assert sorted(path.name for path in folder.iterdir()) == sorted([*TUTORIALS, ".mcard-tutorials.json"])
    manifest = json.loads((folder / ".mcard-tutorials.json").read_text())
    assert sorted(manifest["tutorials"]) == TUTORIALS
    assert notes(run_lab(tmp_path, "--db", "cards.db")) == []  # up to date: nothing to say


def edited(path: Path) -> bytes:
    """The notebook with a cell the user added."""
    notebook = json.loads(path.read_text())
    notebook["cells"].append({"cell_type": "markdown", "metadata": {}, "source": ["my own notes"]})
    data = json.dumps(notebook, indent=1).encode()
    path.write_bytes(data)
    return data


def as_an_older_mcard_left_it(folder: Path, name: str, older: bytes, on_disk: bytes) -> None:
    """``name`` as copied by an earlier mcard (whose manifest held the whole file's hash) whose
    version of it was ``older``; the file now holds ``on_disk`` (``older`` itself when the user
    has not edited it)."""
    (folder / name).write_bytes(on_disk)
    manifest_path = folder / ".mcard-tutorials.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["tutorials"][name] = {"copied": sha256(older)}
    manifest_path.write_text(json.dumps(manifest))


def with_first_cell_changed(data: bytes) -> bytes:
    notebook = json.loads(data)
    notebook["cells"][0]["source"] = ["an older version's words"]
    return json.dumps(notebook, indent=1).encode()


def run_and_saved(path: Path) -> bytes:
    """The notebook as JupyterLab saves it once run: outputs, execution counts, its kernel's
    metadata."""
    notebook = json.loads(path.read_text())
    for number, cell in enumerate(notebook["cells"], 1):
        if cell["cell_type"] == "code":
            cell["execution_count"] = number
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["ran\n"]}]
    notebook["metadata"]["language_info"] = {"name": "python", "version": "3.11.7"}
    data = json.dumps(notebook, indent=1).encode()
    path.write_bytes(data)
    return data


def test_a_tutorial_run_and_saved_keeps_its_outputs_and_still_gets_a_newer_version(tmp_path):
    """Running and saving a tutorial changes no cell: it is not edited. Its outputs stay while
    the shipped version is the same, and it is updated when another ships."""
    shipped, folder = tmp_path / "shipped", tmp_path / "mine"
    shipped.mkdir()
    (shipped / "01_intro.ipynb").write_bytes(with_first_cell_changed((SHIPPED / TUTORIALS[0]).read_bytes()))
    assert tutorials.sync(folder, shipped).copied == ["01_intro.ipynb"]
    ran = run_and_saved(folder / "01_intro.ipynb")
    assert tutorials.sync(folder, shipped).summary() is None
    assert (folder / "01_intro.ipynb").read_bytes() == ran

    (shipped / "01_intro.ipynb").write_bytes((SHIPPED / TUTORIALS[0]).read_bytes())
    assert tutorials.sync(folder, shipped).updated == ["01_intro.ipynb"]
    assert (folder / "01_intro.ipynb").read_bytes() == (SHIPPED / TUTORIALS[0]).read_bytes()

    edited(folder / "01_intro.ipynb")
    run_and_saved(folder / "01_intro.ipynb")
    mine = (folder / "01_intro.ipynb").read_bytes()
    (shipped / "01_intro.ipynb").write_bytes(with_first_cell_changed((SHIPPED / TUTORIALS[0]).read_bytes()))
    assert tutorials.sync(folder, shipped).kept == ["01_intro.ipynb"]
    assert (folder / "01_intro.ipynb").read_bytes() == mine


def test_an_edited_tutorial_is_never_overwritten_an_unedited_one_is_updated(tmp_path):
    folder = tmp_path / "mine"
    run_lab(tmp_path, "--tutorials", str(folder))
    first, second, third = TUTORIALS[:3]

    mine = edited(folder / first)
    assert notes(run_lab(tmp_path, "--tutorials", str(folder))) == []  # no newer version: nothing to say
    assert (folder / first).read_bytes() == mine

    older = with_first_cell_changed((SHIPPED / second).read_bytes())
    as_an_older_mcard_left_it(folder, second, older, older)
    as_an_older_mcard_left_it(folder, first, older, mine)
    (folder / third).unlink()
    done = run_lab(tmp_path, "--tutorials", str(folder))
    assert notes(done) == [
        f"mcard: tutorials in {folder}: 1 copied; 1 updated; kept your edited {first}"
        " (a newer version ships with mcard: rename yours to get it)"
    ]
    assert (folder / first).read_bytes() == mine
    assert (folder / second).read_bytes() == (SHIPPED / second).read_bytes()
    assert (folder / third).read_bytes() == (SHIPPED / third).read_bytes()

    assert notes(run_lab(tmp_path, "--tutorials", str(folder))) == []  # said once
    assert (folder / first).read_bytes() == mine
    (folder / first).rename(folder / f"my-{first}")
    assert notes(run_lab(tmp_path, "--tutorials", str(folder))) == [f"mcard: tutorials in {folder}: 1 copied"]
    assert (folder / first).read_bytes() == (SHIPPED / first).read_bytes()
    assert (folder / f"my-{first}").read_bytes() == mine


def test_a_tutorial_already_there_that_mcard_did_not_copy_is_kept(tmp_path):
    folder = tmp_path / "existing"
    folder.mkdir()
    (folder / TUTORIALS[0]).write_text("{}")
    done = run_lab(tmp_path, "--tutorials", str(folder))
    assert f"kept your edited {TUTORIALS[0]}" in notes(done)[0]
    assert (folder / TUTORIALS[0]).read_text() == "{}"


def test_the_source_checkouts_notebooks_folder_is_used_as_it_is(tmp_path):
    """``mcard lab --tutorials notebooks/`` in a source checkout: the package's own folder, to
    edit the tutorials themselves (``dev.py lab`` runs a copy in ``.lab/tutorials``)."""
    assert (ROOT / "notebooks").resolve() == SHIPPED
    before = {path.name: path.read_bytes() for path in SHIPPED.iterdir()}
    done = run_lab(tmp_path, "--tutorials", str(ROOT / "notebooks"))
    assert notes(done) == []
    assert {path.name: path.read_bytes() for path in SHIPPED.iterdir()} == before
    assert not (tmp_path / "data").exists()
