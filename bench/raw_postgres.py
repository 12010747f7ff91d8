"""The PostgreSQL limit: plain ``asyncpg`` doing the same work, in a schema of its own."""

from __future__ import annotations

from typing import Any

import asyncpg

from .raw_sqlite import FRAME_COLUMNS, HEAD_BYTES, row

COLUMNS = "hash, content, is_text, g_time, hash_algorithm, size"
CHUNK = 10_000


async def drop_table(dsn: str, schema: str, table: str) -> None:
    """Remove what an earlier run left, so every store starts empty."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await connection.execute(f"DROP TABLE IF EXISTS {schema}.{table} CASCADE")
    finally:
        await connection.close()


async def schema_exists(dsn: str, schema: str) -> bool:
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchval("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema)
    finally:
        await connection.close()


async def drop_empty_schema(dsn: str, schema: str) -> None:
    """Remove ``schema`` if nothing is left in it (a run drops its tables as it closes them)."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f"DROP SCHEMA IF EXISTS {schema} RESTRICT")
    except asyncpg.exceptions.DependentObjectsStillReferencedError:
        pass
    finally:
        await connection.close()


class RawPostgresSide:
    """One table like mcard's, driven by one asyncpg connection (the fastest path)."""

    name = "raw asyncpg"

    def __init__(self, dsn: str, schema: str, table: str) -> None:
        self.dsn, self.schema, self.name = dsn, schema, table
        self.table = f"{schema}.{table}"
        self.db: asyncpg.Connection

    async def open(self) -> None:
        await drop_table(self.dsn, self.schema, self.name)
        self.db = await asyncpg.connect(self.dsn)
        await self.db.execute(
            f"CREATE TABLE {self.table} (hash text PRIMARY KEY, content bytea NOT NULL,"
            " is_text boolean NOT NULL, g_time bigint NOT NULL, hash_algorithm text NOT NULL,"
            " size integer NOT NULL);"
            f" CREATE INDEX ON {self.table} (g_time, hash)"
        )

    async def close(self) -> None:
        await self.db.execute(f"DROP TABLE IF EXISTS {self.table}")
        await self.db.close()

    def _insert(self) -> str:
        return f"INSERT INTO {self.table} ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"

    async def create_seq(self, texts: list[str]) -> list[str]:
        keys, statement = [], self._insert()
        for text in texts:
            values = row(text)
            await self.db.execute(statement, *values)
            keys.append(values[0])
        return keys

    async def save_many(self, contents: list[Any]) -> list[str]:
        rows = [row(content) for content in contents]
        async with self.db.transaction():
            await self.db.copy_records_to_table(
                self.name, schema_name=self.schema, records=rows, columns=COLUMNS.split(", ")
            )
        return [values[0] for values in rows]

    async def get_seq(self, hashes: list[str]) -> int:
        statement = f"SELECT {COLUMNS} FROM {self.table} WHERE hash = $1"
        found = 0
        for key in hashes:
            found += await self.db.fetchrow(statement, key) is not None
        return found

    async def get_many(self, hashes: list[str]) -> int:
        statement = f"SELECT {COLUMNS} FROM {self.table} WHERE hash = ANY($1::text[])"
        found = 0
        for start in range(0, len(hashes), CHUNK):
            found += len(await self.db.fetch(statement, hashes[start : start + CHUNK]))
        return found

    async def list_pages(self, page_size: int) -> int:
        order = "ORDER BY g_time DESC, hash DESC LIMIT $1"
        rows = await self.db.fetch(f"SELECT {COLUMNS} FROM {self.table} {order}", page_size)
        seen = 0
        while rows:
            seen += len(rows)
            last = rows[-1]
            rows = await self.db.fetch(
                f"SELECT {COLUMNS} FROM {self.table} WHERE (g_time, hash) < ($2, $3) {order}",
                page_size, last["g_time"], last["hash"],
            )
        return seen

    async def to_dataframe(self) -> int:
        import pandas as pd

        rows = await self.db.fetch(
            f"SELECT hash, substring(content FROM 1 FOR {HEAD_BYTES}), is_text, g_time, size FROM {self.table}"
            " ORDER BY g_time DESC, hash DESC"
        )
        frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=FRAME_COLUMNS)
        frame["g_time"] = pd.to_datetime(frame["g_time"], unit="us", utc=True)
        return len(frame)

    async def search(self, word: str) -> int:
        rows = await self.db.fetch(
            f"SELECT {COLUMNS} FROM {self.table} WHERE is_text AND content LIKE $1"
            " ORDER BY g_time DESC, hash DESC",
            f"%{word}%".encode(),
        )
        return len(rows)

    async def remove_seq(self, hashes: list[str]) -> int:
        removed = 0
        for key in hashes:
            removed += (await self.db.execute(f"DELETE FROM {self.table} WHERE hash = $1", key)) == "DELETE 1"
        return removed

    async def remove_many(self, hashes: list[str]) -> int:
        status = await self.db.execute(f"DELETE FROM {self.table} WHERE hash = ANY($1::text[])", hashes)
        return int(status.split()[1])
