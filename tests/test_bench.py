"""The benchmark runs (tiny sizes): its figures are never asserted, only that it works."""

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.postgres_support import drop_schema, require_server

ROOT = Path(__file__).resolve().parents[1]
OPERATIONS = [
    "create, one by one", "create, concurrent (gather)", "save_many", "get, one by one",
    "get_many (all)", "list page by page", "iterate (stream)", "search marker",
    "remove, one by one", "remove_many", "save_many 5 x 1 KB bytes",
]


def run_bench(*args: str, tmp_path: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--dir", str(tmp_path), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_quick_sqlite_run_prints_every_operation_against_the_raw_driver(tmp_path):
    out = run_bench(tmp_path=tmp_path)
    for operation in OPERATIONS:
        assert f"| {operation}" in out, operation
    assert "found by each" in out and "MISMATCH" not in out
    assert "peak RSS" in out and "database size" in out
    assert list(tmp_path.iterdir()) == []


def test_quick_search_run_compares_every_mode_with_hand_written_sql(tmp_path):
    out = run_bench("--search", tmp_path=tmp_path)
    for operation in ("search any case, right after the load", "words, best 20: rare word, right after the load",
                      "search any case: marker", "words, best 20: rare word",
                      "words, best 20: phrase", "words, best 20: prefix", "regex with a literal part"):
        assert f"| {operation}" in out, operation
    assert "found by each" in out and "MISMATCH" not in out
    assert "index build" in out and "facets (target" in out and "together" in out and "find(" in out
    assert list(tmp_path.iterdir()) == []


@pytest.mark.postgres
def test_quick_postgres_run_prints_every_operation(tmp_path):
    url, schema = require_server(), f"bench_{uuid.uuid4().hex[:12]}"
    try:
        out = run_bench("--engine", "postgres", "--dsn", url, "--pg-schema", schema, tmp_path=tmp_path)
        left = asyncio.run(_schema_exists(url, schema))
    finally:
        drop_schema(url, schema)
    for operation in OPERATIONS:
        assert f"| {operation}" in out, operation
    assert "found by each" in out and "MISMATCH" not in out
    assert not left, "the run left the schema it made behind"


async def _schema_exists(url: str, schema: str) -> bool:
    import asyncpg

    connection = await asyncpg.connect(url, timeout=5)
    try:
        return await connection.fetchval("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema)
    finally:
        await connection.close()


def test_notebook_figures_run(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bench.notebook", "2000"], cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stderr
    assert "DataFrame" in result.stdout and "one get() call" in result.stdout


def test_explorer_figures_run():
    result = subprocess.run(
        [sys.executable, "-m", "bench.explorer", "2000"], cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stderr
    assert "query to rows" in result.stdout and "facets after the rows" in result.stdout
    assert "each facet alone: every field within 200 ms for" in result.stdout
    assert "a click on a column header to its first page (ms): newest" in result.stdout and "name_desc" in result.stdout


@pytest.mark.postgres
def test_postgres_path_figures_run():
    result = subprocess.run(
        [sys.executable, "-m", "bench.postgres_paths", require_server(), "2000"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert "save_many" in result.stdout


@pytest.mark.postgres
def test_postgres_search_figures_run():
    result = subprocess.run(
        [sys.executable, "-m", "bench.postgres_search", require_server(), "1000"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr
    for line in ("words '東京', best 20: ", "vs to_tsvector by hand", "any case '12', every match: ", "vs ILIKE",
                 "find 'fo*' newest first: "):
        assert line in result.stdout, line


@pytest.mark.postgres
def test_quick_sync_run_compares_with_a_full_copy(tmp_path):
    url, schema = require_server(), f"bench_{uuid.uuid4().hex[:12]}"
    try:
        out = run_bench("--sync", "--dsn", url, "--pg-schema", schema, tmp_path=tmp_path)
    finally:
        drop_schema(url, f"{schema}_sync")
    for operation in ("sync identical SQLite -> PostgreSQL", "sync identical PostgreSQL -> SQLite",
                      "sync 1% new each side: SQLite -> PostgreSQL", "sync 1% new each side: PostgreSQL -> SQLite"):
        assert f"| {operation}" in out, operation
    assert "the same digests" in out and "MISMATCH" not in out and "copied 2" in out
    assert list(tmp_path.iterdir()) == []


def test_the_raw_frame_reads_as_many_content_bytes_as_mcards():
    from bench.raw_sqlite import HEAD_BYTES
    from mcard.notebook.display import preview_head_bytes

    assert HEAD_BYTES == preview_head_bytes()
