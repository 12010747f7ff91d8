"""Hash ranges on SQLite (``hash_ranges``): hashes listed through the hash index, and digests
streamed from one read snapshot in constant memory, rows sorted as ``Digester`` reads them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from .sqlite_connection import SQLiteWorker

RANGES: Final = "json_each(:ranges) AS r ON {column} >= r.value AND {column} < r.value || 'g'"
HASHES_IN: Final = f"SELECT hash FROM card JOIN {RANGES.format(column='card.hash')} ORDER BY hash"
DIGEST_ROWS: Final = (
    f"SELECT substr(c.hash, 1, :depth) AS range_group, 0, c.hash FROM card AS c JOIN {RANGES.format(column='c.hash')}"
    f" UNION ALL SELECT substr(s.hash, 1, :depth), 1, s.hash || ':' || s.key FROM sighting AS s"
    f" JOIN {RANGES.format(column='s.hash')} WHERE EXISTS (SELECT 1 FROM card WHERE card.hash = s.hash)"
    f" UNION ALL SELECT substr(t.hash, 1, :depth), 2, t.hash || ':' || t.tag FROM tag AS t"
    f" JOIN {RANGES.format(column='t.hash')} WHERE EXISTS (SELECT 1 FROM card WHERE card.hash = t.hash)"
    " ORDER BY 1, 2, 3"
)


async def hashes_in(db: SQLiteWorker, prefixes: Sequence[str]) -> list[str]:
    return [row[0] for row in await db.fetch(HASHES_IN, {"ranges": json.dumps(list(prefixes))})]


async def digest_cursor(db: SQLiteWorker, prefixes: Sequence[str], depth: int) -> Any:
    return await db.cursor(DIGEST_ROWS, {"ranges": json.dumps(list(prefixes)), "depth": depth})
