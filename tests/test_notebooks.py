"""Every tutorial notebook runs top to bottom in a fresh kernel, in a temporary folder."""

import asyncio
import json
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from mcard.demo import fill

FOLDER = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))


def snapshot(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` (hidden ones too) with its modification time."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


def test_the_tutorials_are_there():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    db_path = tmp_path / "cards.db"
    monkeypatch.setenv("MCARD_DB_PATH", str(db_path))
    asyncio.run(fill(str(db_path)))
    work = tmp_path / path.name
    shutil.copy(path, work)
    before = snapshot(FOLDER)
    notebook = nbformat.read(work, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    assert all(c.execution_count for c in notebook.cells if c.cell_type == "code")
    assert snapshot(FOLDER) == before, "a tutorial wrote into the repository"
