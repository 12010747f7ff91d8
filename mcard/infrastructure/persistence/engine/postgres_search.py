"""Substring search on PostgreSQL through a trigram index (pg_trgm) maintained in the background.

The index is a GIN ``gin_trgm_ops`` index on ``encode(content, 'escape')`` of the text cards
whose ``text_indexed`` flag is set. The escape encoding is immutable, never fails (texts may hold
NUL) and maps bytes one by one (concatenation is kept), so "query in content" implies
"escape(query) in escape(content)": a ``LIKE '%escape(query)%'`` over the index finds every hit,
and ``position(query IN content)`` then keeps exactly the contract's results.

Indexing a ~100-byte text costs ~30 us (5x the insert itself), so writes only leave new text
cards unflagged (``text_indexed`` false, found through a small partial index); background steps
flag them, which puts them into the trigram index. Searches read the index for flagged cards and
scan the unflagged ones, so results are exact at every point of the catch-up.

pg_trgm is a contrib extension; when it cannot be created (not installed, no privilege), the
store logs it and searches by scanning.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final, Optional

logger = logging.getLogger(__name__)

INDEX_STEP: Final = 500
"""Most cards flagged (and so indexed) by one background transaction."""
TRIGRAM: Final = re.compile(rb"[A-Za-z0-9]{3}")
"""A query whose escaped form holds no run of 3 alphanumerics gives pg_trgm no trigram."""
Connection = Any


def escape(query: bytes) -> bytes:
    """``encode(query, 'escape')`` as PostgreSQL computes it."""
    out = bytearray()
    for byte in query:
        if byte == 0 or byte >= 0x80:
            out += b"\\%03o" % byte
        elif byte == 0x5C:
            out += b"\\\\"
        else:
            out.append(byte)
    return bytes(out)


def like_pattern(query: bytes) -> Optional[str]:
    """The ``LIKE`` pattern matching the escaped content of every text holding ``query``, or
    None when the index cannot narrow the search (too short for a trigram)."""
    escaped = escape(query)
    if not TRIGRAM.search(escaped):
        return None
    literal = escaped.replace(b"\\", b"\\\\").replace(b"%", b"\\%").replace(b"_", b"\\_")
    return "%" + literal.decode("ascii") + "%"


async def create_index(conn: Connection, card: str, index: str, unindexed: str) -> bool:
    """Create pg_trgm (if allowed) and the trigram index, inside the caller's transaction.
    False, logged, when the extension is unavailable: search then scans."""
    try:
        async with conn.transaction():  # a savepoint: a failure here leaves the schema intact
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('mcard:pg_trgm'))")
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            where = await conn.fetchval(
                "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
                " WHERE e.extname = 'pg_trgm'"
            )
            opclass = '"' + where.replace('"', '""') + '".gin_trgm_ops'
            await conn.execute(
                f"CREATE INDEX IF NOT EXISTS {unindexed} ON {card} (g_time) WHERE is_text AND NOT text_indexed;"
                f" CREATE INDEX IF NOT EXISTS {index} ON {card}"
                f" USING gin (encode(content, 'escape') {opclass}) WHERE text_indexed"
            )
    except Exception as exc:  # asyncpg errors: extension missing or not permitted
        logger.warning("no trigram index for %s, search scans: %s", card, exc)
        return False
    return True


async def has_index(conn: Connection, schema: str, index: str) -> bool:
    return await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{schema}.{index}")


async def behind(conn: Connection, card: str) -> bool:
    """Whether some text card is not in the index yet."""
    return await conn.fetchval(f"SELECT EXISTS (SELECT FROM {card} WHERE is_text AND NOT text_indexed)")


def step_statement(card: str) -> str:
    """Flag up to ``$1`` unflagged text cards; locked rows are left for a later step."""
    return (
        f"WITH batch AS (SELECT hash FROM {card} WHERE is_text AND NOT text_indexed"
        " ORDER BY g_time LIMIT $1 FOR UPDATE SKIP LOCKED)"
        f" UPDATE {card} AS c SET text_indexed = true FROM batch WHERE c.hash = batch.hash"
    )


def search_statement(card: str, columns: str, order: str, indexed: bool) -> str:
    """Texts holding ``$1`` (bytes), newest first, ``LIMIT $2 OFFSET $3``; with ``indexed``,
    candidates come from the trigram index (``$4`` the pattern) and the unflagged cards, as
    two separate scans (one ``OR`` makes the planner scan the whole table)."""
    holds = "position($1::bytea IN content) > 0"
    if not indexed:
        return f"SELECT {columns} FROM {card} WHERE is_text AND {holds}{order} LIMIT $2 OFFSET $3"
    return (
        f"SELECT * FROM (SELECT {columns} FROM {card}"
        f" WHERE text_indexed AND encode(content, 'escape') LIKE $4 AND {holds}"
        f" UNION ALL SELECT {columns} FROM {card} WHERE is_text AND NOT text_indexed AND {holds}) AS hit"
        f"{order} LIMIT $2 OFFSET $3"
    )
