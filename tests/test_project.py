"""Project hygiene a user relies on: one distribution name, matching dependency lists, a light
and side-effect-free import, the version written once, a license shipped."""

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

import mcard
from mcard.extras import DISTRIBUTION
from tests.test_notebook_kernel import run as run_in_kernel
from tests.test_notebook_kernel import start as start_kernel

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
UI_LIBRARIES = ("tqdm", "pandas", "numpy", "ipywidgets", "matplotlib")
"""What ``import mcard``, ``mcard.cli`` and ``mcard.notebook`` must not import: they load when used."""


def _requirement(spec: str) -> tuple[str, str, frozenset[str]]:
    """(normalized name, version constraint, extras) of a requirement such as ``a[b,c]>=1``."""
    name, extras, constraint = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(?:\[([^\]]*)\])?\s*(.*?)\s*", spec).groups()
    named = frozenset(e.strip() for e in (extras or "").split(",") if e.strip())
    return re.sub(r"[-_.]+", "-", name).lower(), constraint.replace(" ", ""), named


def _resolved(specs: list[str]) -> set[tuple[str, str]]:
    """The requirements, with this distribution's own extras (``mcard-store[notebook]``) expanded."""
    found = set()
    for spec in specs:
        name, constraint, extras = _requirement(spec)
        if name == DISTRIBUTION:
            for extra in extras:
                found |= _resolved(PROJECT["optional-dependencies"][extra])
        else:
            found.add((name, constraint))
    return found


def _environment_yml() -> set[tuple[str, str]]:
    listed = set()
    for entry in yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]:
        for spec in entry["pip"] if isinstance(entry, dict) else [entry]:
            name, constraint, _ = _requirement(spec)
            if name not in {"python", "pip"}:
                listed.add((name, constraint))
    return listed


def test_environment_yml_lists_the_core_every_extra_and_the_dev_group():
    extras = PROJECT["optional-dependencies"]
    wanted = _resolved(PROJECT["dependencies"]) | _resolved(extras["all"])
    wanted |= _resolved(tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]["dev"])
    assert _environment_yml() == wanted


def test_the_all_extra_installs_every_extra():
    extras = PROJECT["optional-dependencies"]
    every = set().union(*(_resolved(specs) for name, specs in extras.items() if name != "all"))
    assert _resolved(extras["all"]) == every


def test_the_core_is_light_and_the_toolkits_are_extras():
    core = {name for name, _ in _resolved(PROJECT["dependencies"])}
    assert core == {"aiosqlite", "filetype", "tqdm"}
    notebook = {name for name, _ in _resolved(PROJECT["optional-dependencies"]["notebook"])}
    assert {"pandas", "ipywidgets", "anywidget", "pillow"} <= notebook
    lab = {name for name, _ in _resolved(PROJECT["optional-dependencies"]["lab"])}
    assert notebook | {"jupyterlab", "matplotlib"} <= lab
    assert ("aiosqlite", ">=0.20,<0.23") in _resolved(PROJECT["dependencies"])


def test_development_tools_are_a_group_that_is_not_published():
    assert "dev" not in PROJECT["optional-dependencies"]
    dev = {name for name, _ in _resolved(tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]["dev"])}
    assert {"pytest", "hypothesis", "playwright", "build"} <= dev


def test_install_commands_name_this_distribution():
    """``pip install mcard`` installs another project: no page or file tells anyone to run it."""
    assert PROJECT["name"] == DISTRIBUTION
    pages = [ROOT / "README.md", ROOT / "environment.yml", *sorted((ROOT / "docs").glob("*.md"))]
    wrong = [
        f"{page.name}: {line.strip()}"
        for page in pages
        for line in page.read_text().splitlines()
        if re.search(r"pip install(?:\s+-[-\w=]+)*\s+['\"]?mcard(?![\w-])", line)
    ]
    assert wrong == []


def test_the_version_is_written_once():
    assert "version" not in PROJECT and "version" in PROJECT["dynamic"]
    setting = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["dynamic"]["version"]
    assert setting == {"attr": "mcard.__version__"}
    assert importlib.metadata.version(DISTRIBUTION) == mcard.__version__


def test_the_license_is_mit_and_shipped():
    assert PROJECT["license"] == "MIT" and PROJECT["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    metadata = importlib.metadata.metadata(DISTRIBUTION)
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("Classifier") and metadata["Keywords"] and metadata["Author"]


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


def _loaded_after(statement: str, tmp_path: Path) -> list[str]:
    """The UI libraries in ``sys.modules`` after ``statement`` in a fresh interpreter."""
    probe = f"import sys\n{statement}\nprint(' '.join(m for m in {UI_LIBRARIES!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_importing_mcard_and_its_notebook_layer_loads_no_ui_library(tmp_path):
    assert _loaded_after("import mcard, mcard.notebook", tmp_path) == []


def test_importing_mcard_in_a_kernel_loads_no_ui_library(tmp_path):
    """Inside a Jupyter kernel tqdm.auto would bring ipywidgets along: neither loads at import."""
    km, kc = start_kernel(tmp_path)
    try:
        loaded = run_in_kernel(kc, f"""
            import sys
            before = set(sys.modules)
            import mcard, mcard.notebook
            print(sorted(m for m in {UI_LIBRARIES!r} if m in sys.modules and m not in before))
        """)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert loaded == "[]"


def test_importing_the_command_line_loads_no_dataframe_or_widget_library(tmp_path):
    loaded = _loaded_after("import mcard, mcard.cli, mcard.notebook", tmp_path)
    assert [m for m in loaded if m != "tqdm"] == []


def test_importing_the_command_line_loads_no_progress_bar_library(tmp_path):
    assert _loaded_after("import mcard, mcard.cli, mcard.notebook", tmp_path) == []


def _missing_extra_message(tmp_path: Path, hidden: tuple[str, ...], use: str) -> str:
    """The ``MissingExtraError`` message of ``use`` with ``hidden`` made unimportable, as in an
    install without the ``notebook`` extra (the packaging tests see the same in a real one)."""
    probe = (
        "import sys\n"
        f"for name in {hidden!r}: sys.modules[name] = None\n"
        "import mcard.notebook\n"
        "from mcard.extras import MissingExtraError\n"
        f"cards = mcard.notebook.open({str(tmp_path / 'cards.db')!r})\n"
        "cards.create('x')\n"
        "try:\n"
        f"    {use}\n"
        "except MissingExtraError as exc:\n"
        "    print(exc)\n"
        "cards.close()\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_dataframes_without_pandas_name_the_extra_to_install(tmp_path):
    for use in ("cards.list_df()", "cards.search_df('x')", "mcard.notebook.to_dataframe(cards.list())"):
        message = _missing_extra_message(tmp_path, ("numpy", "pandas"), use)
        assert message.startswith("DataFrames") and message.strip().endswith("pip install 'mcard-store[notebook]'")


def test_forms_without_ipywidgets_name_the_extra_to_install(tmp_path):
    message = _missing_extra_message(tmp_path, ("ipywidgets",), "mcard.notebook.Explorer")
    assert "'ipywidgets'" in message and message.strip().endswith("pip install 'mcard-store[notebook]'")


def test_public_names_are_exported():
    for name in mcard.__all__:
        assert getattr(mcard, name) is not None
    assert (ROOT / "mcard" / "py.typed").exists()
    shown = dir(mcard)
    assert set(mcard.__all__) <= set(shown) and "domain" in shown  # a submodule, imported by the names
    assert not {"TYPE_CHECKING", "annotations", "importlib", "logging", "ModuleType"} & set(shown)


def test_no_stray_files_are_tracked():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    stray = [p for p in tracked if re.search(r"\.(db|sqlite3?|log|bak|pyc)$|__pycache__|\.ipynb_checkpoints", p)]
    assert stray == []
