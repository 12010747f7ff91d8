"""SQLite engine: one writer connection with group commit, a pool of reader connections."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing
from datetime import datetime
from typing import Any, Final, Optional

from mcard.domain.models.card import MCard, to_micros
from mcard.domain.models.exceptions import StorageError

from ..engine_config import SQLiteConfig
from . import sqlite_schema
from . import sqlite_sql as sql
from .base_engine import BaseStore, PageKey, StoreStats
from .integrity import DamagedCard
from .page_marks import PageMarks, micros_bounds
from .sqlite_connection import SQLiteWorker, storage_error
from .sqlite_files import check_file
from .write_batcher import WriteBatcher, WriteRequest

logger = logging.getLogger(__name__)

DEFAULT_SETTINGS: Final = {
    # WAL lets readers run while one writer commits; with synchronous=NORMAL an application
    # crash loses nothing committed, a power loss may lose the last transactions.
    "journal_mode": "WAL",
    # Pages remembered per (time bounds, offset) so that page-by-page listing continues from
    # where the last page ended instead of skipping ``offset`` rows again.
    "page_marks": 256,
    # The search index is extended in the background once writes pause this long (seconds),
    # at most this many cards or bytes of text per transaction (~0.5 us a byte), so that a
    # step never delays a write by more than some tens of milliseconds.
    "index_delay": 0.1,
    "index_step": 500,
    "index_step_bytes": 64 * 1024,
}


class SQLiteStore(BaseStore):
    """Cards in one SQLite file (or in memory), through aiosqlite.

    Writes go through one connection and are grouped into shared transactions when they
    arrive together; reads spread over up to ``max_connections - 1`` more connections (WAL
    readers never wait for the writer). ``":memory:"`` uses SQLite's ``memdb`` VFS under a
    name private to this store, so all of its connections share one in-memory database.
    """

    config: SQLiteConfig

    def __init__(self, config: SQLiteConfig) -> None:
        if not isinstance(config, SQLiteConfig):
            raise TypeError(f"SQLiteStore needs a SQLiteConfig, got {type(config).__name__}")
        super().__init__(config)
        self._where = str(config.db_path) if config.in_memory else str(config.path.absolute())
        if config.in_memory:
            self._database = f"file:/mcard-{uuid.uuid4().hex}?vfs=memdb"
            self._connect_kwargs: dict[str, Any] = {"uri": True}
        else:
            self._database = str(config.path)
            self._connect_kwargs = {}
        self._connect_kwargs.update(timeout=config.timeout, check_same_thread=config.check_same_thread)
        self._writer: Optional[SQLiteWorker] = None
        self._readers: list[SQLiteWorker] = []
        self._readers_opening = 0
        self._snapshots: set[SQLiteWorker] = set()
        self._batcher: Optional[WriteBatcher] = None
        self._opening: Optional[asyncio.Future[None]] = None
        self._page_marks = PageMarks(DEFAULT_SETTINGS["page_marks"])

    # -- lifecycle ---------------------------------------------------------------------------
    async def initialize(self) -> None:
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open())
        try:
            await asyncio.shield(self._opening)
        except BaseException:
            if self._opening.done():
                self._opening = None
            raise

    async def _open(self) -> None:
        if not self.config.in_memory:
            try:
                await asyncio.to_thread(self.config.path.parent.mkdir, parents=True, exist_ok=True)
                unusable = await asyncio.to_thread(check_file, self.config.path)
            except OSError as exc:
                raise storage_error(exc, self._where) from exc
            if unusable:
                raise StorageError(f"{self._where}: {unusable}")
        writer = await SQLiteWorker.open(self._database, self._where, **self._connect_kwargs)
        try:
            await writer.run(
                sql.initialize, self.config.synchronous, DEFAULT_SETTINGS["journal_mode"], self._where
            )
        except BaseException:
            await writer.close()
            raise
        self._writer = writer
        self._batcher = WriteBatcher(self._write_batch, self._index_step, DEFAULT_SETTINGS["index_delay"])
        self._batcher.run_idle_when_quiet()
        logger.debug("opened SQLite card store %s", self._where)

    async def close(self) -> None:
        opening, self._opening = self._opening, None
        if opening is None:
            return
        if not opening.done() or opening.exception() is not None:
            await asyncio.wait([opening])
        if self._batcher is not None:
            self._batcher.stop_idle()
            await self._batcher.wait_idle()
        workers = [*self._snapshots, *self._readers, *([self._writer] if self._writer else [])]
        self._writer, self._batcher, self._readers = None, None, []
        self._snapshots.clear()
        self._page_marks.clear()
        for worker in workers:
            await worker.close()

    async def wait_indexed(self) -> None:
        """Wait until the search index covers every stored card.

        Searches are exact either way; this only makes their speed predictable (benchmarks,
        after a bulk load). The index is otherwise extended in the background.
        """
        _, batcher = self._open_writer()
        batcher.run_idle()
        await batcher.wait_idle()

    async def _index_step(self) -> bool:
        writer, _ = self._open_writer()
        return await writer.run(
            sqlite_schema.index_step, DEFAULT_SETTINGS["index_step"], DEFAULT_SETTINGS["index_step_bytes"]
        )

    # -- connections -------------------------------------------------------------------------
    def _open_writer(self) -> tuple[SQLiteWorker, WriteBatcher]:
        if self._writer is None or self._batcher is None:
            raise StorageError(f"{self._where}: the store is not open; call initialize() first")
        return self._writer, self._batcher

    async def _reader(self) -> SQLiteWorker:
        """The least busy reader, opening another while all are busy and the pool allows."""
        writer, _ = self._open_writer()
        if self.config.max_connections == 1:
            return writer
        idle = min(self._readers, key=lambda worker: worker.in_flight, default=None)
        room = len(self._readers) + self._readers_opening < self.config.max_connections - 1
        if idle is not None and (idle.in_flight == 0 or not room):
            return idle
        if not room:
            return writer
        self._readers_opening += 1
        try:
            reader = await self._open_reader()
        finally:
            self._readers_opening -= 1
        if self._writer is None:
            await reader.close()
            self._open_writer()
        self._readers.append(reader)
        return reader

    async def _open_reader(self) -> SQLiteWorker:
        reader = await SQLiteWorker.open(self._database, self._where, **self._connect_kwargs)
        try:
            await reader.run(lambda db: db.execute("PRAGMA query_only = ON"))
        except BaseException:
            await reader.close()
            raise
        return reader

    async def _snapshot(
        self, begin: Callable[..., sqlite3.Cursor], begin_args: tuple[Any, ...],
        fetch: Callable[..., list[Any]], size: int,
    ) -> AsyncIterator[list[Any]]:
        """Chunks read from one read transaction on a connection of its own, one hop each.

        WAL keeps that snapshot for as long as the loop runs without blocking writers; the
        connection is closed when the loop ends (or the store closes).
        """
        self._open_writer()
        worker = await self._open_reader()
        self._snapshots.add(worker)
        cursor: Optional[sqlite3.Cursor] = None
        try:
            cursor = await worker.run(begin, *begin_args)
            while True:
                chunk = await worker.run(fetch, cursor, size)
                yield chunk
                if len(chunk) < size:
                    return
        finally:
            if worker in self._snapshots:
                self._snapshots.discard(worker)
                try:
                    await worker.run(sql.end_snapshot, cursor)
                finally:
                    await worker.close()

    async def _read(self, fn: Any, *args: Any) -> Any:
        for reader in self._readers:  # the usual case, without a coroutine to pick one
            if not reader.in_flight and self._writer is not None:
                return await reader.run(fn, *args)
        return await (await self._reader()).run(fn, *args)

    async def _write_batch(self, batch: list[WriteRequest]) -> None:
        writer, batcher = self._open_writer()
        await writer.run(sql.write_batch, batch, on_cancel=lambda: _cancel_all(batch))
        if any(request.result for request in batch):
            batcher.run_idle_when_quiet()
        for request in batch:
            if isinstance(request.error, sqlite3.Error):
                request.error = storage_error(request.error, self._where)

    # -- engine hooks ------------------------------------------------------------------------
    async def _save_many(self, cards: Sequence[MCard]) -> int:
        _, batcher = self._open_writer()
        return await batcher.submit("insert", cards)

    async def _remove_many(self, hashes: Sequence[str]) -> int:
        _, batcher = self._open_writer()
        return await batcher.submit("delete", hashes)

    async def _get_many(self, hashes: Sequence[str]) -> dict[str, MCard]:
        return await self._read(sql.get_many, hashes)

    async def _stats(self) -> StoreStats:
        return StoreStats(**await self._read(sql.stats))

    async def _count(self, start_time: Optional[datetime], end_time: Optional[datetime]) -> int:
        return await self._read(sql.count, micros_bounds(start_time, end_time))

    async def _search(self, query: str, limit: Optional[int], offset: int) -> list[MCard]:
        return await self._read(sql.search, query, limit, offset)

    async def _iterate(
        self, start_time: Optional[datetime], end_time: Optional[datetime], page_size: int
    ) -> AsyncIterator[MCard]:
        bounds = micros_bounds(start_time, end_time)
        snapshot = self._snapshot(sql.snapshot_cards, (bounds,), sql.fetch_cards, page_size)
        async with aclosing(snapshot) as chunks:
            async for cards in chunks:
                for card in cards:
                    yield card

    async def _verify(self, page_size: int) -> AsyncIterator[tuple[int, list[DamagedCard]]]:
        snapshot = self._snapshot(sql.snapshot_rows_to_verify, (), sql.fetch_verified, page_size)
        async with aclosing(snapshot) as chunks:
            async for rows in chunks:
                if rows:
                    yield len(rows), [row for row in rows if row is not None]

    async def _list(
        self,
        start_time: Optional[datetime],
        end_time: Optional[datetime],
        limit: Optional[int],
        offset: int,
        after: Optional[PageKey],
    ) -> list[MCard]:
        bounds = micros_bounds(start_time, end_time)
        after_key = None if after is None else (to_micros(after[0]), after[1])
        resume = self._page_marks.get(bounds, offset) if after is None else None
        cards, stamp = await self._read(sql.list_page, bounds, limit, offset, after_key, resume)
        if after is None:
            self._page_marks.remember(bounds, offset, stamp, cards)
        return cards



def _cancel_all(batch: list[WriteRequest]) -> None:
    """Make a running batch stop at its next row (an interrupt between rows would be lost)."""
    for request in batch:
        request.cancelled = True
