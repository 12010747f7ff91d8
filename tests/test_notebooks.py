"""Every tutorial notebook runs top to bottom in a fresh kernel, in a temporary folder, and shows
nothing it does not mean to: no error, no traceback, and nothing on stderr.

A cell that means to show stderr (a warning it teaches about) carries the cell tag
``allow-stderr``; none of the tutorials needs one. Tracebacks are never allowed.
"""

import asyncio
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook


FOLDER = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))
ALLOW_STDERR = "allow-stderr"
"""The cell tag that lets a cell write to stderr."""
ONE_AS_MANY = re.compile(r"(?<![\d.,])\b1 (?:[a-z]+ )?cards\b")
"""A count of one with a plural noun ("1 long cards"): a tutorial prints its counts so they read right."""


def snapshot(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` (hidden ones too) with its modification time."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def execute(notebook: nbformat.NotebookNode, folder: Path) -> nbformat.NotebookNode:
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    return notebook


def unintended_output(notebook: nbformat.NotebookNode) -> list[str]:
    """What the cells showed that they do not mean to: stderr (unless tagged), errors, tracebacks."""
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        allowed = ALLOW_STDERR in cell.metadata.get("tags", [])
        for output in cell.outputs:
            text = output.get("text", "") + (json.dumps(output["data"]) if "data" in output else "")
            if output.output_type == "error" or "traceback" in output or "Traceback (most recent call last)" in text:
                found.append(f"cell {index}: traceback {output.get('ename', '')} {text[:300]}")
            elif output.output_type == "stream" and output.name == "stderr" and not allowed:
                found.append(f"cell {index}: stderr {text[:300]}")
    return found


def test_the_tutorials_are_there():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    """Over a store that does not exist yet: a tutorial that shows the demo cards stores them."""
    db_path = tmp_path / "cards.db"
    monkeypatch.setenv("MCARD_DB_PATH", str(db_path))
    work = tmp_path / path.name
    shutil.copy(path, work)
    before = snapshot(FOLDER)
    notebook = execute(nbformat.read(work, as_version=4), tmp_path)
    assert unintended_output(notebook) == []
    assert all(c.execution_count for c in notebook.cells if c.cell_type == "code")
    assert snapshot(FOLDER) == before, "a tutorial wrote into the repository"
    printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert not ONE_AS_MANY.findall(printed)


@pytest.mark.postgres
@pytest.mark.parametrize("name", ["01_quickstart", "03_widgets"])
def test_a_tutorial_on_the_demo_cards_runs_over_a_postgres_store(name, tmp_path, monkeypatch, postgres_schema):
    """``mcard.notebook.open()`` reads ``$MCARD_DB_URL`` first: the tutorials work on what it names."""
    url, schema = postgres_schema
    monkeypatch.setenv("MCARD_DB_URL", f"{url}?schema={schema}")
    monkeypatch.setenv("MCARD_DB_PATH", str(tmp_path / "not-this.db"))
    work = tmp_path / f"{name}.ipynb"
    shutil.copy(FOLDER / f"{name}.ipynb", work)
    notebook = execute(nbformat.read(work, as_version=4), tmp_path)
    assert unintended_output(notebook) == []
    shown = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert f"({schema}.card)" in shown and not (tmp_path / "not-this.db").exists()


def test_stderr_and_tracebacks_are_caught_unless_the_cell_allows_stderr(tmp_path):
    notebook = execute(
        new_notebook(cells=[
            new_code_cell("import logging, sys, traceback\nprint('fine')"),
            new_code_cell("sys.stderr.write('a stray line\\n')"),
            new_code_cell("logging.getLogger('somewhere').warning('a warning')"),
            new_code_cell("sys.stderr.write('meant\\n')", metadata={"tags": [ALLOW_STDERR]}),
            new_code_cell("try:\n    1 / 0\nexcept ZeroDivisionError:\n    traceback.print_exc(file=sys.stdout)"),
        ]),
        tmp_path,
    )
    found = unintended_output(notebook)
    assert [line.split(":")[0] for line in found] == ["cell 1", "cell 2", "cell 4"], found
    assert "a stray line" in found[0] and "a warning" in found[1] and "ZeroDivisionError" in found[2]


def test_expected_retries_in_the_background_do_not_reach_the_notebook(tmp_path):
    """The background index step finds the database locked by another writer and retries later:
    expected, so nothing shows (the library logs it at DEBUG, and adds no handler of its own)."""
    path = tmp_path / "cards.db"
    notebook = execute(
        new_notebook(cells=[
            new_code_cell(
                "import sqlite3, time\nimport mcard.notebook\n"
                f"cards = mcard.notebook.open({str(path)!r}, timeout=0.05)\n"
                "cards.save_many([f'note {i}' for i in range(200)])\n"
                f"blocker = sqlite3.connect({str(path)!r})\n"
                "blocker.execute('BEGIN IMMEDIATE')\n"
                "time.sleep(1.0)\n"
                "blocker.rollback(); blocker.close()\n"
                "print(len(cards.search('note 19')))"
            ),
            new_code_cell("cards.close()"),
        ]),
        tmp_path,
    )
    assert notebook.cells[0].outputs[-1].text == "11\n"
    assert unintended_output(notebook) == []


@pytest.mark.postgres
def test_the_sync_tutorial_shares_through_postgres_and_drops_its_schema(tmp_path, monkeypatch):
    import asyncpg

    from tests.postgres_support import require_server

    url = require_server()
    monkeypatch.setenv("MCARD_TUTORIAL_POSTGRES_URL", url)
    monkeypatch.setenv("MCARD_DB_PATH", str(tmp_path / "cards.db"))
    work = tmp_path / "04_engines.ipynb"
    shutil.copy(FOLDER / "04_engines.ipynb", work)
    notebook = execute(nbformat.read(work, as_version=4), tmp_path)
    assert unintended_output(notebook) == []
    shown = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    schema = shown.split("PostgreSQL, schema ")[1].split()[0]
    assert "shared: copied 4 cards" in shown and "again:  copied 0 cards" in shown
    assert "tags of the minutes: ['meeting', 'reviewed']" in shown
    assert "cards: laptop 5 | team 5 | colleague 5" in shown
    assert "find: 4 with \"card\" but not \"3\"; 3 without \"3\" or \"4\"" in shown  # a custom engine's defaults
    displayed = json.dumps([o.get("data", {}) for c in notebook.cells if c.cell_type == "code" for o in c.outputs])
    assert "syncing cards:" not in displayed, "a sync of a few cards showed a progress bar"

    async def schema_left() -> bool:
        connection = await asyncpg.connect(url)
        try:
            return bool(await connection.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema))
        finally:
            await connection.close()

    assert not asyncio.run(schema_left()), "the tutorial left its schema behind"


def test_the_weekly_chart_of_the_dataframes_tutorial_ends_without_a_false_dip(tmp_path):
    """The generated cards start on a Thursday and end on a Tuesday: weeks cut by those ends,
    plotted with the whole ones, made the chart's line fall to a third at the end, a drop the
    cards do not have. The line drawn is read back from the figure."""
    notebook = nbformat.read(FOLDER / "02_dataframes.ipynb", as_version=4)
    chart = next(i for i, cell in enumerate(notebook.cells) if "Cards per week" in cell.source)
    notebook.cells.insert(chart + 1, new_code_cell("print(json.dumps([float(y) for y in ax.lines[0].get_ydata()]))"))
    notebook = execute(notebook, tmp_path)
    weeks = json.loads(notebook.cells[chart + 1].outputs[0]["text"])
    middle = sorted(weeks)[len(weeks) // 2]
    assert len(weeks) > 20 and min(weeks[0], weeks[-1]) > middle / 2, weeks
