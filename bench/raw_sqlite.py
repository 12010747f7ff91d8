"""The limit: plain ``sqlite3`` doing the same work (SHA-256 per card, same columns and index)."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path
from typing import Any

from mcard.infrastructure.persistence.engine.sqlite_engine import DEFAULT_SETTINGS

SCHEMA = """
CREATE TABLE card (hash TEXT PRIMARY KEY, content BLOB NOT NULL, is_text INTEGER NOT NULL,
                   g_time INTEGER NOT NULL, hash_algorithm TEXT NOT NULL, size INTEGER NOT NULL);
CREATE INDEX card_by_time ON card (g_time, hash);
"""
COLUMNS = "hash, content, is_text, g_time, hash_algorithm, size"
INSERT = f"INSERT OR IGNORE INTO card ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
SELECT = f"SELECT {COLUMNS} FROM card"
CHUNK = 900
HEAD_BYTES = 644
"""As many leading bytes of each content as mcard's DataFrame reads for its preview."""
FRAME_COLUMNS = ["hash", "head", "is_text", "g_time", "size"]


def row(content: Any) -> tuple[Any, ...]:
    data = content.encode("utf-8") if isinstance(content, str) else content
    micros = time.time_ns() // 1000
    return (hashlib.sha256(data).hexdigest(), data, isinstance(content, str), micros, "sha256", len(data))


SET_CACHE = f"PRAGMA cache_size = {-(DEFAULT_SETTINGS['page_cache_bytes'] // 1024)}"
"""The page cache mcard's connections keep, so that both sides read and write from memory alike."""


class RawSQLiteSide:
    """One SQLite file in WAL mode with synchronous=NORMAL, driven synchronously by ``sqlite3``."""

    name = "raw sqlite3"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db: sqlite3.Connection

    async def open(self) -> None:
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(SET_CACHE)
        self.db.executescript(SCHEMA)

    async def close(self) -> None:
        self.db.close()

    async def create_seq(self, texts: list[str]) -> list[str]:
        """One transaction (one commit) per card."""
        keys = []
        for text in texts:
            values = row(text)
            self.db.execute(INSERT, values)
            keys.append(values[0])
        return keys

    async def save_many(self, contents: list[Any]) -> list[str]:
        rows = [row(content) for content in contents]
        self.db.execute("BEGIN")
        self.db.executemany(INSERT, rows)
        self.db.execute("COMMIT")
        return [values[0] for values in rows]

    async def get_seq(self, hashes: list[str]) -> int:
        found = 0
        for key in hashes:
            found += self.db.execute(f"{SELECT} WHERE hash = ?", (key,)).fetchone() is not None
        return found

    async def get_many(self, hashes: list[str]) -> int:
        found = 0
        for start in range(0, len(hashes), CHUNK):
            chunk = hashes[start : start + CHUNK]
            marks = ", ".join("?" * len(chunk))
            found += len(self.db.execute(f"{SELECT} WHERE hash IN ({marks})", chunk).fetchall())
        return found

    async def list_pages(self, page_size: int) -> int:
        """Keyset pagination, newest first."""
        seen = 0
        rows = self.db.execute(f"{SELECT} ORDER BY g_time DESC, hash DESC LIMIT ?", (page_size,)).fetchall()
        while rows:
            seen += len(rows)
            last = rows[-1]
            rows = self.db.execute(
                f"{SELECT} WHERE (g_time, hash) < (?, ?) ORDER BY g_time DESC, hash DESC LIMIT ?",
                (last[3], last[0], page_size),
            ).fetchall()
        return seen

    async def to_dataframe(self) -> int:
        """The frame a user would make by hand: each content's first bytes, times as datetimes."""
        import pandas as pd

        rows = self.db.execute(
            f"SELECT hash, substr(content, 1, {HEAD_BYTES}), is_text, g_time, size FROM card ORDER BY g_time DESC, hash DESC"
        ).fetchall()
        frame = pd.DataFrame.from_records(rows, columns=FRAME_COLUMNS)
        frame["g_time"] = pd.to_datetime(frame["g_time"], unit="us", utc=True)
        return len(frame)

    async def search(self, word: str) -> int:
        """The ``LIKE '%word%'`` scan (the reference an index must beat)."""
        return len(self.db.execute(
            f"{SELECT} WHERE is_text = 1 AND CAST(content AS TEXT) LIKE ? ORDER BY g_time DESC, hash DESC",
            (f"%{word}%",),
        ).fetchall())

    async def remove_seq(self, hashes: list[str]) -> int:
        return sum(self.db.execute("DELETE FROM card WHERE hash = ?", (key,)).rowcount for key in hashes)

    async def remove_many(self, hashes: list[str]) -> int:
        self.db.execute("BEGIN")
        removed = self.db.executemany("DELETE FROM card WHERE hash = ?", [(k,) for k in hashes]).rowcount
        self.db.execute("COMMIT")
        return removed
