"""The README as a user reads it: its quickstart runs as written, its links lead somewhere."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from mcard import MCard
from mcard.domain.models.card import HASH_ALGORITHMS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PYTHON_BLOCKS = re.findall(r"^```python\n(.*?)^```", README, re.S | re.M)
LINK = re.compile(r"\]\(([^)\s]+)\)")
PENDING = {ROOT / "docs" / "command-line.md"} - set(PAGES)
"""Pages linked to before they are written (the command-line page comes with the CLI work)."""


def _run(code: str, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=120)


def test_the_readme_opens_with_the_two_commands():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    assert README.index("```bash") < README.index("\n## ")
    assert [line.split("#")[0].strip() for line in first_block.splitlines()] == [
        "python3 dev.py lab", "python3 dev.py test"
    ]


def test_the_python_quickstart_runs_as_written(tmp_path: Path):
    code = next(block for block in PYTHON_BLOCKS if "async with" in block)
    program = "import asyncio\n\nasync def main():\n" + textwrap.indent(code, "    ") + "\nasyncio.run(main())\n"
    result = _run(program, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Hello, World!" in result.stdout
    with sqlite3.connect(tmp_path / "cards.db") as db:
        assert db.execute("SELECT count(*) FROM card").fetchone() == (1,)


def test_the_notebook_quickstart_runs_as_written(tmp_path: Path):
    code = next(block for block in PYTHON_BLOCKS if "mcard.notebook" in block)
    result = _run(code + "\nprint(len(cards.list_df()), type(cards.explorer()).__name__)\ncards.close()\n", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "Explorer"]


def test_every_relative_link_leads_to_a_file_or_a_heading():
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if linked in PENDING:
                continue
            if not linked.exists():
                broken.append(f"{page.name} -> {target}")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{page.name} -> {target} (no such heading)")
    assert broken == []


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of the page's headings: lowercase, punctuation dropped, spaces as ``-``."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_the_hash_algorithms_the_python_page_names_are_those_accepted():
    bullet = re.search(r"^- `hash` .*?(?=^- )", (ROOT / "docs" / "python.md").read_text(), re.S | re.M).group(0)
    named = set(re.findall(r"\b(?:sha\w+|blake2\w|md5)\b", bullet))
    assert named == HASH_ALGORITHMS
    for name in named:
        assert MCard("x", hash_algorithm=name).hash_algorithm == name
