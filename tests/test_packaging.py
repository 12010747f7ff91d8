"""The distribution as a user gets it: the sdist and the wheel built from a copy of the checkout
(the wheel from the sdist, as ``python -m build`` does), and the core wheel alone installed into
a fresh virtual environment, where ``import mcard`` and the ``mcard`` command must work.

Needs the package index (or pip's cache) for the build backend and the core's dependencies.
"""

from __future__ import annotations

import email.message
import email.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import venv
import zipfile
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

import pytest

import mcard
from mcard.extras import DISTRIBUTION

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[1]
CORE = {"mcard-store", "aiosqlite", "filetype", "tqdm"}
README_FIGURES = re.compile(r"\*\*(\d+) packages, ([\d.]+) MB\*\*")
"""How the README states the core install: ``**4 packages, 3.4 MB**``, within 20-25% of what it measures."""
LINK = re.compile(r"\]\(([^)\s]+)\)")

INSTALLED = """\
import importlib.metadata, json, os
sizes = {}
for dist in importlib.metadata.distributions():
    paths = [str(f.locate()) for f in dist.files or ()]
    sizes[dist.metadata['Name'].lower()] = sum(os.path.getsize(p) for p in paths if os.path.isfile(p))
print(json.dumps(sizes))
"""
"""Prints each installed distribution's name and the bytes of its files on disk."""


@dataclass(frozen=True)
class Built:
    sdist: Path
    wheel: Path


@dataclass(frozen=True)
class Environment:
    bin: Path
    work: Path
    before: dict[str, int]
    after: dict[str, int]

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "MCARD_DB_URL", "MCARD_DB_PATH"}}
        result = subprocess.run(
            [str(self.bin / command[0]), *command[1:]], cwd=self.work, env=env, capture_output=True, text=True, timeout=240
        )
        if check:
            assert result.returncode == 0, f"{command}: {result.stderr}"
        return result


def _checkout_copy(destination: Path) -> Path:
    """The files a checkout has (tracked, or new and not ignored), symbolic links kept as links."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_symlink() or source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name, follow_symlinks=False)
    return destination


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    source = _checkout_copy(tmp_path_factory.mktemp("checkout"))
    dist = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(source)], capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (sdist,), (wheel,) = dist.glob("*.tar.gz"), dist.glob("*.whl")
    return Built(sdist, wheel)


@pytest.fixture(scope="module")
def core(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Environment:
    """A fresh virtual environment with the core wheel alone installed (no extra)."""
    folder = tmp_path_factory.mktemp("core-venv")
    venv.create(folder, with_pip=True)
    work = tmp_path_factory.mktemp("work")
    bare = Environment(folder / "bin", work, {}, {})
    before = json.loads(bare.run("python", "-c", INSTALLED).stdout)
    bare.run("python", "-m", "pip", "install", "-q", "--disable-pip-version-check", str(built.wheel))
    after = json.loads(bare.run("python", "-c", INSTALLED).stdout)
    return Environment(bare.bin, work, before, after)


def _wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(archive.read(name).decode())


def test_the_wheel_holds_the_package_its_license_and_its_data(built: Built):
    with zipfile.ZipFile(built.wheel) as archive:
        names = set(archive.namelist())
        (license_name,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert archive.read(license_name) == (ROOT / "LICENSE").read_bytes()
    assert {n.split("/")[0] for n in names} == {"mcard", f"mcard_store-{mcard.__version__}.dist-info"}
    assert "mcard/py.typed" in names
    package = {str(p.relative_to(ROOT)) for p in (ROOT / "mcard").rglob("*.py")}
    assert package <= names
    tutorials = ROOT / "mcard" / "tutorials"
    if tutorials.is_dir():  # the tutorials ship inside the package, for `mcard lab`
        wanted = {f"mcard/tutorials/{p.name}" for p in tutorials.glob("*.ipynb")}
        assert wanted and wanted <= names
    browser_side = {str(p.relative_to(ROOT)) for ext in ("js", "css") for p in (ROOT / "mcard").rglob(f"*.{ext}")}
    assert {"mcard/notebook/explorer/explorer.js", "mcard/notebook/explorer/explorer.css"} <= browser_side <= names


def test_the_wheel_metadata_names_this_distribution_and_its_version_once(built: Built):
    metadata = _wheel_metadata(built.wheel)
    assert metadata["Name"] == DISTRIBUTION
    assert metadata["Version"] == mcard.__version__
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("Classifier") and metadata["Keywords"] and metadata["Author"]
    assert len(metadata.get_payload()) > 1000, "the README is the long description"
    unconditional = {re.split(r"[<>=!~ ;\[]", r)[0].lower() for r in metadata.get_all("Requires-Dist") if "extra ==" not in r}
    assert unconditional == CORE - {DISTRIBUTION}
    extras = set(metadata.get_all("Provides-Extra"))
    assert extras == set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])


def test_the_sdist_holds_the_license_and_every_page_the_readme_links_to(built: Built):
    with tarfile.open(built.sdist) as archive:
        top = f"mcard_store-{mcard.__version__}"
        names = {n.removeprefix(f"{top}/") for n in archive.getnames()}
        assert archive.extractfile(f"{top}/LICENSE").read() == (ROOT / "LICENSE").read_bytes()
        pages = ["README.md", *sorted(n for n in names if re.fullmatch(r"docs/[^/]+\.md", n))]
        texts = {page: archive.extractfile(f"{top}/{page}").read().decode() for page in pages}
    assert "docs/persistence-layer.md" in names
    missing = []
    for page, text in texts.items():
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:|#", target):
                continue
            path = os.path.normpath(os.path.join(os.path.dirname(page), target.split("#")[0]))
            if path not in names and not any(n.startswith(path + "/") for n in names):
                missing.append(path)
    pending = {"docs/command-line.md"} - {str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")}
    assert set(missing) <= pending, "linked to but not in the sdist (nor pending, as docs/command-line.md is)"


def test_the_core_install_is_the_few_packages_the_readme_states(core: Environment):
    added = {name: size for name, size in core.after.items() if name not in core.before}
    assert set(added) == CORE
    count, megabytes = README_FIGURES.search((ROOT / "README.md").read_text()).groups()
    assert len(added) == int(count)
    measured = sum(added.values()) / 1e6
    assert float(megabytes) * 0.8 <= measured <= float(megabytes) * 1.25, f"{measured:.2f} MB installed"


def test_the_core_install_imports_mcard_and_runs_the_command_line(core: Environment, tmp_path: Path):
    assert core.run("python", "-c", "import mcard; print(mcard.__version__)").stdout.strip() == mcard.__version__
    note = tmp_path / "note.txt"
    note.write_bytes("a note from a fresh install\n".encode())
    db = str(tmp_path / "cards.db")
    core.run("mcard", "--db", db, "import", str(note))
    (listed,) = json.loads(core.run("mcard", "--db", db, "--json", "ls").stdout)
    assert listed["hash"] == sha256(note.read_bytes()).hexdigest()
    assert listed["content_type"] == "text/plain"
    table = core.run("mcard", "--db", db, "ls").stdout
    assert listed["hash"][:12] in table and "a note from a fresh install" in table
    shown = subprocess.run(
        [str(core.bin / "mcard"), "--db", db, "show", listed["hash"]], cwd=core.work, capture_output=True, timeout=60
    )
    assert shown.returncode == 0 and shown.stdout == note.read_bytes()


def test_the_core_install_adds_a_card_and_reports_its_version(core: Environment, tmp_path: Path):
    assert mcard.__version__ in core.run("mcard", "--version").stdout
    db = str(tmp_path / "cards.db")
    printed = core.run("mcard", "--db", db, "add", "a card from a fresh install").stdout.split()
    digest = sha256(b"a card from a fresh install").hexdigest()
    assert printed and digest.startswith(printed[0])
    (listed,) = json.loads(core.run("mcard", "--db", db, "--json", "ls").stdout)
    assert listed["hash"] == digest


def test_dataframes_and_forms_without_the_notebook_extra_name_the_extra_to_install(core: Environment, tmp_path: Path):
    probe = (
        "import mcard.notebook\n"
        f"cards = mcard.notebook.open({str(tmp_path / 'cards.db')!r})\n"
        "cards.create('x')\n"
        "print(cards.list()[0].content)\n"
        "{}\n"
    )
    for use, feature in (("cards.list_df()", "DataFrames"), ("mcard.notebook.Explorer", "the explorer's widgets"), ("mcard.notebook.SearchForm", "the notebook forms")):
        result = core.run("python", "-c", probe.format(use), check=False)
        assert result.returncode == 1 and result.stdout == "x\n"
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith(f"mcard.extras.MissingExtraError: {feature}")
        assert last.endswith("pip install 'mcard-store[notebook]'")


def test_lab_without_the_lab_extra_names_the_extra_to_install(core: Environment, tmp_path: Path):
    result = core.run("mcard", "--db", str(tmp_path / "cards.db"), "lab", "--demo", check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().endswith("pip install 'mcard-store[lab]'") and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "cards.db").exists()


def test_parquet_without_the_parquet_extra_names_the_extra_to_install(core: Environment, tmp_path: Path):
    """Export and import alike: one line, status 2, and an import that makes no store."""
    db = tmp_path / "cards.db"
    core.run("mcard", "--db", str(db), "add", "a card")
    exported = core.run("mcard", "--db", str(db), "export", str(tmp_path / "cards.parquet"), check=False)
    (tmp_path / "other.parquet").write_bytes(b"PAR1")
    fresh = tmp_path / "fresh.db"
    imported = core.run("mcard", "--db", str(fresh), "import", "--records", str(tmp_path / "other.parquet"), check=False)
    for result in (exported, imported):
        assert result.returncode == 2 and result.stdout == "", result.stderr
        assert len(result.stderr.splitlines()) == 1 and result.stderr.strip().endswith("pip install 'mcard-store[parquet]'")
    assert not fresh.exists()


def _lowest(spec: str) -> str | None:
    """``spec`` pinned to the lowest version its range allows (``pandas>=2.2.1`` -> ``pandas==2.2.1``)."""
    found = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*>=\s*([\w.]+).*", spec)
    return f"{found.group(1)}=={found.group(2)}" if found else None


@pytest.fixture(scope="module")
def oldest_notebook(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Environment:
    """A fresh virtual environment with the wheel and its notebook extra at the lowest versions
    the core's and the extra's ranges allow, as a resolver may pick them."""
    folder = tmp_path_factory.mktemp("oldest-venv")
    venv.create(folder, with_pip=True)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["notebook"]
    constraints = folder / "lowest.txt"
    constraints.write_text("\n".join(pin for spec in specs if (pin := _lowest(spec))) + "\n")
    environment = Environment(folder / "bin", tmp_path_factory.mktemp("oldest-work"), {}, {})
    environment.run("python", "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", str(constraints),
                    f"{built.wheel}[notebook]")
    return environment


def test_the_lowest_versions_the_notebook_extra_allows_run_a_tutorials_first_cells_silently(
    oldest_notebook: Environment, tmp_path: Path
):
    """A tutorial fails on any stderr: pandas 2.2.0, which ``pandas>=2.2`` allowed, printed a
    DeprecationWarning about pyarrow at its import, which the notebook extra does not install."""
    probe = (
        "import pandas as pd\n"
        "import mcard.notebook\n"
        f"cards = mcard.notebook.open({str(tmp_path / 'cards.db')!r})\n"
        "cards.create('Hello, notebook!')\n"
        "print(len(cards.list_df()), type(cards.explorer()).__name__)\n"
    )
    result = oldest_notebook.run("python", "-c", probe)
    assert (result.stdout, result.stderr) == ("1 Explorer\n", "")
