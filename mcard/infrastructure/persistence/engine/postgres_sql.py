"""The PostgreSQL schema of one card table and the operations run on an asyncpg connection.

Schema and table names are checked by ``PostgresConfig`` and quoted here; values only ever
travel as bound parameters. Times are stored as microseconds since the epoch (``bigint``),
exactly as in SQLite, so bounds and ordering compare instants with the same precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Optional

from mcard.domain.models.card import MCard, to_micros

from .sqlite_sql import row_card

SCHEMA_VERSION: Final = 1
COLUMNS: Final = "hash, content, is_text, g_time, hash_algorithm, size"
NEWEST_FIRST: Final = " ORDER BY g_time DESC, hash DESC"
MAX_CHUNK_BYTES: Final = 32 * 1024 * 1024
"""Content bytes per INSERT statement (a bound array must stay far below PostgreSQL's 1 GB)."""

TimeBounds = tuple[Optional[int], Optional[int]]
Connection = Any  # asyncpg.Connection; asyncpg is imported lazily


@dataclass(frozen=True)
class Tables:
    """The quoted names of a store's tables and the statements over them."""

    schema: str
    card: str
    meta: str
    index: str
    lock_key: str

    @classmethod
    def named(cls, schema: str, table: str) -> Tables:
        return cls(
            schema=f'"{schema}"',
            card=f'"{schema}"."{table}"',
            meta=f'"{schema}"."{table}_meta"',
            index=f'"{table}_by_time"',
            lock_key=f"mcard:{schema}.{table}",
        )

    @property
    def insert(self) -> str:
        return (
            f"INSERT INTO {self.card} ({COLUMNS}) SELECT * FROM unnest("
            "$1::text[], $2::bytea[], $3::boolean[], $4::bigint[], $5::text[], $6::integer[])"
            " ON CONFLICT (hash) DO NOTHING"
        )


async def initialize(conn: Connection, tables: Tables) -> int:
    """Create what is missing (under an advisory lock: concurrent first opens would race) and
    return the schema version found."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", tables.lock_key)
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {tables.schema}")
        await conn.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {tables.card} (
                hash           text COLLATE "C" PRIMARY KEY,
                content        bytea NOT NULL,
                is_text        boolean NOT NULL,
                g_time         bigint NOT NULL,  -- microseconds since 1970-01-01T00:00:00Z
                hash_algorithm text NOT NULL,
                size           integer NOT NULL
            );
            CREATE INDEX IF NOT EXISTS {tables.index} ON {tables.card} (g_time, hash);
            CREATE TABLE IF NOT EXISTS {tables.meta} (key text PRIMARY KEY, value bigint NOT NULL);
            INSERT INTO {tables.meta} VALUES ('schema_version', {SCHEMA_VERSION}) ON CONFLICT DO NOTHING;
            """
        )
        return await conn.fetchval(f"SELECT value FROM {tables.meta} WHERE key = 'schema_version'")


def _affected(status: str) -> int:
    """The row count of a command status such as ``INSERT 0 42`` or ``DELETE 3``."""
    return int(status.rsplit(" ", 1)[1])


def _chunks(cards: Sequence[MCard]) -> list[Sequence[MCard]]:
    chunks: list[Sequence[MCard]] = []
    start = size = 0
    for end, card in enumerate(cards):
        if size and size + card.size > MAX_CHUNK_BYTES:
            chunks.append(cards[start:end])
            start, size = end, 0
        size += card.size
    chunks.append(cards[start:])
    return chunks


async def insert(conn: Connection, tables: Tables, cards: Sequence[MCard]) -> int:
    """Insert the cards not stored yet, atomically; return how many were new.

    Rows go in hash order, so concurrent writers lock keys in one order and cannot deadlock;
    the sort is stable, so of equal cards in one batch the first one's time is kept.
    """
    ordered = sorted(cards, key=lambda card: card.hash)
    chunks = _chunks(ordered)
    if len(chunks) == 1:
        return await _insert_chunk(conn, tables, chunks[0])
    async with conn.transaction():
        return sum([await _insert_chunk(conn, tables, chunk) for chunk in chunks])


async def _insert_chunk(conn: Connection, tables: Tables, cards: Sequence[MCard]) -> int:
    status = await conn.execute(
        tables.insert,
        [card.hash for card in cards],
        [card.content_bytes for card in cards],
        [card.is_text for card in cards],
        [to_micros(card.g_time) for card in cards],
        [card.hash_algorithm for card in cards],
        [card.size for card in cards],
    )
    return _affected(status)


async def delete(conn: Connection, tables: Tables, hashes: Sequence[str]) -> int:
    status = await conn.execute(
        f"DELETE FROM {tables.card} WHERE hash = ANY($1::text[])", sorted(hashes)
    )
    return _affected(status)


async def get_many(conn: Connection, tables: Tables, hashes: Sequence[str]) -> dict[str, MCard]:
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM {tables.card} WHERE hash = ANY($1::text[])", list(hashes)
    )
    return {row[0]: row_card(row) for row in rows}


def _where(bounds: TimeBounds, after: Optional[tuple[int, str]]) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    start, end = bounds
    if start is not None:
        params.append(start)
        clauses.append(f"g_time >= ${len(params)}")
    if end is not None:
        params.append(end)
        clauses.append(f"g_time <= ${len(params)}")
    if after is not None:
        params.extend(after)
        clauses.append(f"(g_time, hash) < (${len(params) - 1}, ${len(params)})")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


async def list_page(
    conn: Connection,
    tables: Tables,
    bounds: TimeBounds,
    limit: Optional[int],
    offset: int,
    after: Optional[tuple[int, str]],
) -> list[MCard]:
    """A newest-first page.

    An ``offset`` is skipped inside the (g_time, hash) index alone: a sub-select finds the
    first card of the page by an index-only scan, and only the page's rows are read from the
    table, instead of reading and discarding every skipped row.
    """
    where, params = _where(bounds, after)
    n = len(params)
    if offset:
        first = (
            f"(SELECT g_time, hash FROM {tables.card}{where}{NEWEST_FIRST} LIMIT 1 OFFSET ${n + 2})"
        )
        where = f"{where} AND " if where else " WHERE "
        where += f"(g_time, hash) <= {first}"
        params.append(offset)
    query = f"SELECT {COLUMNS} FROM {tables.card}{where}{NEWEST_FIRST} LIMIT ${n + 1}"
    rows = await conn.fetch(query, *params[:n], limit, *params[n:])
    return [row_card(row) for row in rows]


async def count(conn: Connection, tables: Tables, bounds: TimeBounds) -> int:
    where, params = _where(bounds, None)
    return await conn.fetchval(f"SELECT count(*) FROM {tables.card}{where}", *params)


async def search(
    conn: Connection, tables: Tables, query: bytes, limit: Optional[int], offset: int
) -> list[MCard]:
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM {tables.card} WHERE is_text AND position($1::bytea IN content) > 0"
        f"{NEWEST_FIRST} LIMIT $2 OFFSET $3",
        query, limit, offset,
    )
    return [row_card(row) for row in rows]
