"""Project hygiene a user relies on: matching dependency lists, a side-effect-free import."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

import mcard

ROOT = Path(__file__).resolve().parents[1]


def _requirement(spec: str) -> tuple[str, str]:
    name, constraint = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*", spec).groups()
    return re.sub(r"[-_.]+", "-", name).lower(), constraint.replace(" ", "")


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_requirement(s) for s in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        wanted |= {_requirement(s) for s in extra}

    listed = set()
    for entry in yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]:
        specs = entry["pip"] if isinstance(entry, dict) else [entry]
        listed |= {_requirement(s) for s in specs}
    listed = {(name, constraint) for name, constraint in listed if name not in {"python", "pip"}}
    assert listed == wanted


def test_import_has_no_side_effects(tmp_path):
    probe = (
        "import asyncio, logging, os, sys\n"
        "before = (asyncio.get_event_loop_policy().__class__, list(logging.root.handlers), dict(os.environ))\n"
        "import mcard, mcard.infrastructure.persistence.engine.sqlite_engine\n"
        "assert 'nest_asyncio' not in sys.modules and 'nest_asyncio2' not in sys.modules\n"
        "assert before == (asyncio.get_event_loop_policy().__class__, list(logging.root.handlers), dict(os.environ))\n"
        "assert not hasattr(asyncio.get_event_loop_policy(), '_nest_patched')\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    assert list(tmp_path.iterdir()) == []


def test_public_names_are_exported():
    for name in mcard.__all__:
        assert getattr(mcard, name) is not None
    assert (ROOT / "mcard" / "py.typed").exists()


def test_no_stray_files_are_tracked():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    stray = [p for p in tracked if re.search(r"\.(db|sqlite3?|log|bak|pyc)$|__pycache__|\.ipynb_checkpoints", p)]
    assert stray == []
