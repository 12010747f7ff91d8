"""The engines a benchmark can run on: factories for the mcard side and the raw side."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from mcard import SQLiteConfig

from .mcard_side import McardSide
from .raw_sqlite import RawSQLiteSide


class EngineUnavailable(Exception):
    """The engine cannot be benchmarked here; the message says why."""


@dataclass
class Engine:
    name: str
    make_mcard: Callable[[str], Any]
    make_raw: Callable[[str], Any]
    mcard_file: Callable[[str], Optional[Path]]
    raw_file: Callable[[str], Optional[Path]]


def sqlite_engine(folder: Path) -> Engine:
    def mcard_path(name: str) -> Path:
        return folder / f"mcard-{name}.db"

    def raw_path(name: str) -> Path:
        return folder / f"raw-{name}.db"

    return Engine(
        "sqlite",
        lambda name: McardSide(SQLiteConfig(mcard_path(name))),
        lambda name: RawSQLiteSide(raw_path(name)),
        mcard_path,
        raw_path,
    )


def postgres_engine(dsn: str, schema: str) -> Engine:
    """Stores in their own tables of ``schema`` (dropped at close), mcard's and raw asyncpg's."""
    try:
        from mcard import PostgresConfig
    except ImportError as exc:
        raise EngineUnavailable("mcard has no PostgresConfig in this installation") from exc
    try:
        from .raw_postgres import RawPostgresSide, drop_table
    except ImportError as exc:
        raise EngineUnavailable(f"asyncpg is not installed ({exc})") from exc

    class PostgresMcardSide(McardSide):
        def __init__(self, name: str) -> None:
            self.table = f"mcard_{name}"
            super().__init__(PostgresConfig(dsn, schema=schema, table=self.table))

        async def drop(self) -> None:
            for suffix in ("_sighting", "_tag", "", "_meta", "_changes"):
                await drop_table(dsn, schema, self.table + suffix)

        async def open(self) -> None:
            await self.drop()
            await super().open()

        async def close(self) -> None:
            await super().close()
            await self.drop()

    return Engine(
        "postgres",
        PostgresMcardSide,
        lambda name: RawPostgresSide(dsn, schema, f"raw_{name}"),
        lambda name: None,
        lambda name: None,
    )
