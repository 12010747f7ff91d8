"""Every code example of the persistence-layer specification, run as written."""

import ast
import re
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

import pytest

from mcard import MCard

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "docs" / "persistence-layer.md"
SHARED_SPEC = ROOT.parent / "shared" / "spec" / "persistence-layer.md"
BLOCKS = [
    textwrap.dedent(code)
    for _, code in re.findall(r"^( *)```python\n(.*?)^\1```", SPEC.read_text(), re.S | re.M)
]


def test_the_spec_copy_is_current():
    if not SHARED_SPEC.exists():
        pytest.skip(f"{SHARED_SPEC} is not beside this checkout")
    assert SPEC.read_text() == SHARED_SPEC.read_text()


def test_the_spec_has_its_examples():
    assert len(BLOCKS) >= 15


async def _namespace(tmp_path: Path) -> dict[str, object]:
    from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper
    from mcard.infrastructure.persistence.engine.base_engine import BaseStore
    from mcard.infrastructure.persistence.engine_config import SQLiteConfig

    config = SQLiteConfig(db_path=str(tmp_path / "given.db"))
    wrapper = AsyncPersistenceWrapper(config)
    await wrapper.initialize()
    card = MCard(content="a card made before the example")
    await wrapper.save(card)
    return {
        "MCard": MCard, "Optional": Optional, "BaseStore": BaseStore, "pytest": pytest,
        "AsyncPersistenceWrapper": AsyncPersistenceWrapper, "SQLiteConfig": SQLiteConfig,
        "config": config, "wrapper": wrapper, "card": card, "hash_str": card.hash,
        "start": datetime.now(timezone.utc) - timedelta(hours=1), "end": datetime.now(timezone.utc),
        "items": [MCard(content=f"item {i}") for i in range(250)],
    }


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=lambda i: f"example{i + 1}")
async def test_example_runs_as_written(index, tmp_path, monkeypatch, capsys):
    from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper
    from mcard.infrastructure.persistence.engine.base_engine import BaseStore

    monkeypatch.chdir(tmp_path)
    namespace = await _namespace(tmp_path)
    given = namespace["wrapper"]
    code = compile(BLOCKS[index], f"spec-example-{index + 1}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    try:
        result = eval(code, namespace)
        if result is not None:
            await result
        for name, value in list(namespace.items()):
            if name.startswith("test_") and callable(value):
                await value()
        if "process_batch" in namespace:
            await namespace["process_batch"](namespace["wrapper"], namespace["items"])
            assert await namespace["wrapper"].count() == 251
        if "save_with_retry" in namespace:
            await namespace["save_with_retry"](namespace["wrapper"], MCard(content="retried"))
    finally:  # the stores the example opened and left open, and the one it was given (``wrapper`` rebound)
        for store in {id(value): value for value in (given, *namespace.values())
                      if isinstance(value, (AsyncPersistenceWrapper, BaseStore))}.values():
            await store.close()
    printed = capsys.readouterr().out
    if "create(None)" in BLOCKS[index]:
        assert printed.startswith("Validation error:")
    elif "print(" in BLOCKS[index] and "except" not in BLOCKS[index]:
        assert printed
