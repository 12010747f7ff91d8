"""SQLite engine: one writer connection with group commit, a pool of reader connections."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import secrets
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Final, Optional, TypeVar, Union

from mcard.domain.models.card import MCard, to_micros
from mcard.domain.models.exceptions import HeldByDamagedError, NoCardStoreError, StorageError, UnreadableCardError
from mcard.domain.models.sighting import Sighting
from mcard.domain.query import Filters, SearchSpec
from mcard.domain.query.regex_process import RegexRun

from ..engine_config import SQLiteConfig
from . import sqlite_facets, sqlite_ranges, sqlite_schema, sqlite_search as search, sqlite_tag_check as tag_check
from . import page_walks, sqlite_sql as sql
from .base_engine import (
    BaseStore, PageKey, Recorded, Saved, StoreStats, check_card, check_card_hash, next_page_size, not_stored,
)
from .card_rows import Row
from .hash_ranges import RangeDigest
from .integrity import NOT_UTF8_TEXT, DamagedCard, Repair, StoredTag
from .page_marks import PageMarks
from .sqlite_connection import SQLiteWorker, storage_error
from .sqlite_files import DatabaseFile, check_file
from .sqlite_loop_reads import LOOP_READ_SETTINGS, LoopReader
from .sqlite_direct_writes import DirectWriter
from .write_batcher import WriteBatcher, WriteRequest

logger = logging.getLogger(__name__)
T = TypeVar("T")

FOLDER_NAMED: Final = "a folder, where the database file was expected; name a file, such as {file}"
"""Why a store cannot be made at a folder's path (``--db ~/notes``): a store is one file."""


DEFAULT_SETTINGS: Final = {
    # WAL lets readers run while one writer commits; with synchronous=NORMAL an application
    # crash loses nothing committed, a power loss may lose the last transactions.
    "journal_mode": "WAL",
    # Pages remembered per (time bounds, offset) so that page-by-page listing continues from
    # where the last page ended instead of skipping ``offset`` rows again.
    "page_marks": 256,
    # The search index is extended in the background once writes pause this long (seconds),
    # at most this many cards or bytes of text per transaction (~0.5 us a byte), so that a
    # step never delays a write by more than some tens of milliseconds. A write that comes in
    # pauses it until writes pause again, or for index_max_delay seconds at most (under a
    # steady stream of writes it then takes a step that often: the catch-up slows, writes don't).
    "index_delay": 0.1,
    "index_max_delay": 0.25,
    "index_step": 500,
    "index_step_bytes": 64 * 1024,
    # How long (seconds) a step waits for another connection's write lock before it gives up
    # until writes pause again: a step that waited ``timeout`` made the store's own writes queued
    # behind it wait for it, then for the lock themselves (two or three times ``timeout``).
    "index_lock_wait": 0.05,
    # In memory there is no WAL: a write transaction locks readers out, and SQLite's busy handler
    # tries again only every few to 100 ms, so back-to-back steps kept a read waiting until the
    # whole catch-up was done (5 s for 48 MB of text: past ``timeout``, "database is locked").
    # There a step first lets the reads already waiting go, checking this often (seconds), for
    # ``timeout`` at most.
    "memory_read_gap": 0.002,
    # Checkpoints are run by the store, not automatically by SQLite, so that it knows when its
    # own hand changed the file (see DatabaseFile): after a write once the WAL holds this much
    # (SQLite's own default: 1000 pages of 4 KiB), without waiting for readers. The WAL cannot
    # start over while readers overlap without a break, so it would grow with every write: from
    # ``wal_reset_bytes`` on, the checkpoint waits up to ``wal_reset_wait`` seconds for the
    # readers of older snapshots (new readers are not held up: they read the checkpointed
    # file). When writes pause it runs again, so the space goes back once readers end.
    "checkpoint_bytes": 4 * 1024 * 1024,
    "wal_reset_bytes": 8 * 1024 * 1024,
    "wal_reset_wait": 0.1,
    # What a WAL that starts over keeps of its file (SQLite truncates it to this much).
    "journal_size_limit": 8 * 1024 * 1024,
    # Iterations (and verifies) reading at once, each on a connection of its own, at most
    # (and at most an eighth of the process's file descriptors): further ones wait for a
    # slot, failing only when none ends for ``timeout`` seconds. A connection closed while others of the process hold the
    # file keeps its descriptor until they all close (POSIX locks), so unbounded iterations
    # could use up every descriptor of the process until the store closes.
    "max_snapshots": 64,
    # Memory each connection of the store (the writer, the pooled readers, the event loop's)
    # may keep of the file's pages (SQLite's default: 2 MiB). Pages are kept once read and
    # dropped when another connection has written since, so a store explored without writes
    # stays in memory instead of being read from the file again (at 100,000 cards: a 1% term
    # found in any case 25-35% faster, a word search 40-60%, save_many ~13%). Iterations read
    # once on connections of their own, which keep SQLite's default, as does a store in memory.
    "page_cache_bytes": 32 * 1024 * 1024,
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
        self._where = config.location
        if config.in_memory:
            self._database = f"file:/mcard-{uuid.uuid4().hex}?vfs=memdb"
            self._connect_kwargs: dict[str, Any] = {"uri": True}
            self._file: Optional[DatabaseFile] = None
        elif config.read_only:
            self._database = config.path.absolute().as_uri() + "?mode=ro"
            self._connect_kwargs = {"uri": True}
            self._file = DatabaseFile(config.path.absolute())
        else:
            self._database = str(config.path)
            self._connect_kwargs = {}
            self._file = DatabaseFile(config.path.absolute())
        self._connect_kwargs.update(timeout=config.timeout, check_same_thread=config.check_same_thread)
        self._writer: Optional[SQLiteWorker] = None
        self._readers: list[SQLiteWorker] = []
        self._readers_opening = 0
        self._snapshots: set[SQLiteWorker] = set()
        self._lent: set[SQLiteWorker] = set()
        # Reads running on each reader, counted from the moment one is chosen (before its first
        # hop is queued): a reader lent for a transaction of its own must have none.
        self._reading: collections.Counter[SQLiteWorker] = collections.Counter()
        self._batcher: Optional[WriteBatcher] = None
        self._opening: Optional[asyncio.Future[None]] = None
        self._page_marks = PageMarks(DEFAULT_SETTINGS["page_marks"])
        # A store in memory is all in memory already: a page cache would copy it again.
        self._page_cache: Optional[int] = None if config.in_memory else DEFAULT_SETTINGS["page_cache_bytes"]
        self._lost: Optional[str] = None
        self._checkpoint_at = DEFAULT_SETTINGS["checkpoint_bytes"]
        self._batches = itertools.count(1)
        self._snapshot_slots_total = _snapshot_slots()
        self._snapshot_slots = asyncio.Semaphore(self._snapshot_slots_total)
        self._snapshots_ended = 0
        self._loop_reader_opening: Optional[asyncio.Future[LoopReader]] = None
        self._loop_walks_served = 0
        self._direct_writer: Optional[DirectWriter] = None
        self._session_check: Optional[asyncio.Task[None]] = None
        self._schema_seen: Optional[int] = None
        self._refused: Optional[str] = None
        """Why writes are refused: the card table lost its key while the store was open."""
        self._file_check = threading.Lock()  # the file is checked from a notebook's thread too

    # -- lifecycle ---------------------------------------------------------------------------
    async def initialize(self) -> None:
        self._bind_loop()
        if self._opening is None:
            self._opening = asyncio.ensure_future(self._open())
        try:
            await asyncio.shield(self._opening)
        except BaseException:
            if self._opening is not None and self._opening.done():
                self._opening = None
            raise

    async def _open(self) -> None:
        read_only = self.config.read_only
        if self._file is not None:
            try:
                if read_only and not await asyncio.to_thread(self.config.path.is_file):
                    what = "a folder" if await asyncio.to_thread(self.config.path.is_dir) else "no such file"
                    raise NoCardStoreError(f"{self._where}: no card store here ({what})")
                if not read_only and await asyncio.to_thread(self.config.path.is_dir):
                    raise StorageError(f"{self._where}: {FOLDER_NAMED.format(file=self.config.path / 'cards.db')}")
                if not read_only:
                    await asyncio.to_thread(self.config.path.parent.mkdir, parents=True, exist_ok=True)
                unusable = await asyncio.to_thread(check_file, self.config.path, not read_only)
            except OSError as exc:
                raise storage_error(exc, self._where) from exc
            if unusable:
                raise StorageError(f"{self._where}: {unusable}")
        writer = await self._new_connection(self._page_cache)
        try:
            self.upgraded_from = await sql.initialize(
                writer, self.config.synchronous, DEFAULT_SETTINGS["journal_mode"], self._where, read_only,
                self.config.timeout,
            )
            if not read_only:
                await writer.execute(f"PRAGMA journal_size_limit = {int(DEFAULT_SETTINGS['journal_size_limit'])}")
                await sql.prepare_writer(writer)
            if self._file is not None:
                await writer.execute("PRAGMA wal_autocheckpoint = 0")  # checkpoints: _after_write
                await asyncio.to_thread(self._file.opened)
            if self._file is not None and not read_only:
                self._direct_writer = await self._open_direct_writer()
        except BaseException:
            await writer.close()
            raise
        self._writer, self._lost = writer, None
        self._batcher = WriteBatcher(
            self._write_batch, None if read_only else self._background_step,
            DEFAULT_SETTINGS["index_delay"], DEFAULT_SETTINGS["index_max_delay"],
        )
        self._batcher.run_idle_when_quiet()
        logger.debug("opened SQLite card store %s%s", self._where, " (read-only)" if read_only else "")

    async def close(self) -> None:
        self._check_loop()
        opening, self._opening = self._opening, None
        if opening is None:
            return
        self._begin_closing()
        if not opening.done() or opening.exception() is not None:
            await asyncio.wait([opening])
        if self._batcher is not None:
            await self._batcher.close()
            await self._stop_session_check()
            await self._purge_removed()
        await self._close_loop_connections()
        workers = [*self._snapshots, *self._readers, *([self._writer] if self._writer else [])]
        self._writer, self._batcher, self._readers = None, None, []
        self._snapshots.clear()
        self._page_marks.clear()
        if self._lost is not None and self._file is not None:
            self._file.forget_stale_log()
        try:
            for worker in workers:
                await worker.close()
        finally:
            if self._file is not None:
                self._file.closed()

    async def _stop_session_check(self) -> None:
        running, self._session_check = self._session_check, None
        if running is not None:
            running.cancel()
            await asyncio.wait([running])

    async def _purge_removed(self) -> None:
        """Drop what the search index still holds of removed cards, as the background steps do:
        until then a word search ranks in Python (FTS5's statistics would count them), and a
        store opened read-only never purges. A store closed right after a removal (``mcard rm``)
        left every later word search 5-20x slower."""
        if self.config.read_only or self._writer is None or self._lost is not None:
            return
        try:
            await self._writer.execute(sqlite_schema.PURGE_ALL_GARBAGE)
        except StorageError as exc:  # the next writable session purges
            logger.debug("%s: removed cards left in the search index: %s", self._where, exc)

    async def _open_direct_writer(self) -> Optional[DirectWriter]:
        try:
            return await asyncio.to_thread(
                DirectWriter.connect, self._database, self.config.synchronous, **self._connect_kwargs
            )
        except sqlite3.Error as exc:  # every write then goes through the loop
            logger.debug("%s: the direct write connection could not be opened: %s", self._where, exc)
            return None

    async def _close_loop_connections(self) -> None:
        direct_writer, self._direct_writer = self._direct_writer, None
        if direct_writer is not None:
            direct_writer.close()
        opening, self._loop_reader_opening = self._loop_reader_opening, None
        if opening is None:
            return
        await asyncio.wait([opening])
        if not opening.cancelled() and opening.exception() is None:
            opening.result().close()
        elif not opening.cancelled():
            logger.debug("%s: the loop's connection could not be opened: %s", self._where, opening.exception())

    @property
    def loop_holds(self) -> list[float]:
        """How long each read on the loop's connection held the loop, in seconds (benchmark)."""
        reader = _opened(self._loop_reader_opening)
        return list(reader.holds) if reader is not None else []

    @property
    def loop_walk_holds(self) -> list[float]:
        """How long each search page tried on the loop's connection held the loop, in seconds
        (benchmark)."""
        reader = _opened(self._loop_reader_opening)
        return list(reader.walk_holds) if reader is not None else []

    @property
    def loop_walks_served(self) -> int:
        """How many search pages the loop's connection served (the others went to a thread)."""
        return self._loop_walks_served

    @property
    def direct_writes(self) -> int:
        """How many cards ``save_now`` has written on its callers' threads."""
        return self._direct_writer.written if self._direct_writer is not None else 0

    async def wait_indexed(self) -> None:
        """Wait until the search index covers every stored card.

        Searches are exact either way; this only makes their speed predictable (benchmarks,
        after a bulk load). The index is otherwise extended in the background.
        """
        self._check_loop()
        _, batcher = self._open_writer()
        batcher.run_idle()
        await batcher.wait_idle()
        if self._session_check is not None:
            await asyncio.shield(self._session_check)

    # -- connections -------------------------------------------------------------------------
    async def _new_connection(self, cache_bytes: Optional[int] = None) -> SQLiteWorker:
        """A connection with mcard's SQL functions, keeping up to ``cache_bytes`` of pages
        (default: SQLite's)."""
        worker = await SQLiteWorker.open(self._database, self._where, sql.read_row, **self._connect_kwargs)
        try:
            await sqlite_schema.register_functions(worker)
            if cache_bytes is not None:
                await worker.execute(f"PRAGMA cache_size = {int(-(cache_bytes // 1024))}")
        except BaseException:
            await worker.close()
            raise
        return worker

    def _open_writer(self) -> tuple[SQLiteWorker, WriteBatcher]:
        if self._writer is None or self._batcher is None:
            raise StorageError(f"{self._where}: the store is not open; call initialize() first")
        if self._lost is not None:
            raise StorageError(f"{self._where}: {self._lost}; close the store and open it again")
        return self._writer, self._batcher

    async def _reader(self) -> SQLiteWorker:
        """The least busy reader, opening another while all are busy and the pool allows."""
        writer, _ = self._open_writer()
        if self.config.max_connections == 1:
            return writer
        idle = min((worker for worker in self._readers if worker not in self._lent), key=self._load, default=None)
        room = len(self._readers) + self._readers_opening < self.config.max_connections - 1
        if idle is not None and (self._load(idle) == 0 or not room):
            return idle
        if not room:
            return writer
        self._readers_opening += 1
        try:
            reader = await self._open_reader(self._page_cache)
        finally:
            self._readers_opening -= 1
        if self._writer is None:
            await reader.close()
            self._open_writer()
        self._readers.append(reader)
        return reader

    async def _open_reader(self, cache_bytes: Optional[int] = None) -> SQLiteWorker:
        """A read-only connection, keeping up to ``cache_bytes`` of pages (default: SQLite's)."""
        reader = await self._new_connection(cache_bytes)
        try:
            await reader.execute("PRAGMA query_only = ON")
        except BaseException:
            await reader.close()
            raise
        return reader

    async def _read(self, operation: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run a read on an idle reader. A reader whose connection failed for a reason other
        than a busy database is closed and replaced by the next read (a file that could not be
        opened while descriptors ran out works again once they are free)."""
        self._open_writer()
        reader = next((worker for worker in self._readers if not self._load(worker) and worker not in self._lent), None)
        if reader is None:
            reader = await self._reader()
        self._reading[reader] += 1
        try:
            return await operation(reader, *args)
        except StorageError as exc:
            if not exc.transient and reader in self._readers:
                self._readers.remove(reader)
                await reader.close()
            raise
        finally:
            self._reading[reader] -= 1
            if not self._reading[reader]:
                del self._reading[reader]

    def _load(self, worker: SQLiteWorker) -> int:
        """How busy a reader is: its hops queued or running, and the reads that chose it."""
        return worker.in_flight + self._reading[worker]

    @contextlib.asynccontextmanager
    async def _lent_reader(self) -> AsyncIterator[SQLiteWorker]:
        """An idle pooled reader, kept from every other read while the block runs, in one read
        transaction: statements that depend on each other's results see one state of the
        store, read through a warm page cache (a ``_snapshot_reader``'s own connection starts
        cold). With no idle reader to lend (a pool of one connection, every reader busy), a
        ``_snapshot_reader``. A reader is handed out again only with its transaction ended and
        no cursor left open (a cursor's statement would keep it in the old snapshot); else it
        is closed."""
        reader = await self._reader()
        if reader is self._writer or self._load(reader) or reader in self._lent:
            async with self._snapshot_reader() as worker:
                yield worker
            return
        self._lent.add(reader)
        ended = False
        try:
            await reader.execute("BEGIN")
            yield reader
        finally:
            try:
                if reader in self._readers:  # else the store was closed meanwhile, and closes it
                    await reader.rollback()
                    ended = not reader.cursors_open
            finally:
                self._lent.discard(reader)
                if not ended and reader in self._readers:  # it may still read the old snapshot
                    self._readers.remove(reader)
                    await reader.close()

    @contextlib.asynccontextmanager
    async def _snapshot_reader(self) -> AsyncIterator[SQLiteWorker]:
        """A connection of its own in one read transaction (``_begin_snapshot``)."""
        worker = await self._begin_snapshot()
        try:
            yield worker
        finally:
            await self._end_snapshot(worker)

    async def _begin_snapshot(self) -> SQLiteWorker:
        """A connection of its own in one read transaction, until ``_end_snapshot``.

        WAL keeps that snapshot for as long as the loop runs without blocking writers; the
        connection is closed (which ends the transaction) when the read ends or the store
        closes. A read is never interrupted: a cancelled one finishes, then the connection
        closes, so cancellation always ends as cancellation.
        """
        self._open_writer()
        await self._take_snapshot_slot()
        try:
            worker = await self._open_reader()
        except BaseException:
            self._give_snapshot_slot()
            raise
        self._snapshots.add(worker)
        try:
            await worker.execute("BEGIN")
        except BaseException:
            await self._end_snapshot(worker)
            raise
        return worker

    async def _end_snapshot(self, worker: SQLiteWorker) -> None:
        self._give_snapshot_slot()
        if worker in self._snapshots:
            self._snapshots.discard(worker)
            await worker.close()
            if self._batcher is not None and self._lost is None:
                self._batcher.run_idle_when_quiet()  # the WAL may start over now

    async def _take_snapshot_slot(self) -> None:
        """Wait for one of the slots iterations read in. A long queue is not a fault: the wait
        fails only when no iteration has ended for ``timeout`` seconds (one that never ends
        holds its slot until the store closes)."""
        while True:
            ended = self._snapshots_ended
            try:
                async with asyncio.timeout(self.config.timeout):  # not wait_for: on 3.11 it drops
                    await self._snapshot_slots.acquire()  # a cancellation that comes as a slot does
                return
            except TimeoutError:
                if self._snapshots_ended == ended:
                    raise StorageError(
                        f"{self._where}: {self._snapshot_slots_total} iterations are reading at once; none ended"
                        f" within {self.config.timeout} s", transient=True,
                    ) from None

    def _give_snapshot_slot(self) -> None:
        self._snapshots_ended += 1
        self._snapshot_slots.release()

    # -- writes ------------------------------------------------------------------------------
    async def _on_writer(self, operation: Callable[[SQLiteWorker], Awaitable[T]], on_cancel: Callable[[], None]) -> T:
        """Run a write on the writer in the caller's task. Cancelled, ``on_cancel`` stops the
        rows still to come, the statement running is interrupted, and the cancellation
        propagates only once everything queued for the write has run (a transaction left open
        is rolled back): nothing is written behind the caller's back afterwards. The file is
        told of the write (``DatabaseFile.writing``)."""
        writer, _ = self._open_writer()
        file = self._file
        if file is not None:
            file.writing()
        try:
            return await operation(writer)
        except asyncio.CancelledError:
            on_cancel()
            await writer.interrupt()
            await _settle(writer)
            raise
        except sql.HeldByDamaged as exc:
            raise HeldByDamagedError(f"{self._where}: {exc}", exc.key) from exc
        except sqlite3.Error as exc:
            raise storage_error(exc, self._where) from exc
        finally:
            if file is not None:
                file.written()

    async def _write_batch(self, batch: list[WriteRequest]) -> None:
        _, batcher = self._open_writer()
        marker = next(self._batches)
        await self._on_writer(lambda writer: sql.write_batch(writer, batch, marker), lambda: _cancel_all(batch))
        await self._after_write()
        if any(request.result for request in batch):
            batcher.run_idle_when_quiet()
        for request in batch:
            if isinstance(request.error, sql.NotTagged):
                request.error = not_stored("tag", request.error.args[0])
            elif isinstance(request.error, sql.NotSeen):
                request.error = not_stored("add sightings of", request.error.args[0])
            elif isinstance(request.error, sql.HeldByDamaged):
                request.error = HeldByDamagedError(f"{self._where}: {request.error}", request.error.key)
            elif isinstance(request.error, sqlite3.Error):
                request.error = storage_error(request.error, self._where)

    async def _after_write(self) -> None:
        """Never acknowledge a write that cannot be read back: fail it when the file at the
        path is no longer the one opened. Keep the WAL from growing without bound."""
        if self._file is None or self._lost is not None:
            return
        self._check_file(self._file)
        wal = self._file.wal_size()
        if wal >= self._checkpoint_at and self._file.appended:
            wait = DEFAULT_SETTINGS["wal_reset_wait"] if wal >= DEFAULT_SETTINGS["wal_reset_bytes"] else 0
            step = DEFAULT_SETTINGS["checkpoint_bytes"]
            self._checkpoint_at = step if await self._checkpoint(wait) else wal + step // 2

    def _check_file(self, file: DatabaseFile) -> None:
        """``StorageError`` from now on once the file at the path is not the one opened."""
        with self._file_check:
            self._lost = self._lost or file.changed()
        if self._lost is not None:
            logger.warning("%s: %s", self._where, self._lost)
            raise StorageError(f"{self._where}: {self._lost}; close the store and open it again")

    async def _reads_first(self) -> None:
        """Wait while a read is running or waiting for the lock (``memory_read_gap``), for
        ``timeout`` at most."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self.config.timeout
        while any(worker.in_flight for worker in (*self._readers, *self._snapshots)) and loop.time() < until:
            await asyncio.sleep(DEFAULT_SETTINGS["memory_read_gap"])

    async def _checkpoint(self, wait: float) -> bool:
        """Copy the WAL into the database file and empty it, waiting at most ``wait`` seconds
        for the readers of older snapshots (without waiting, it copies what no reader needs);
        whether it was complete. SQLite's automatic checkpoint is off: the store runs its
        own, so that it knows when its own hand changed the file (see ``DatabaseFile``)."""
        async def checkpoint(writer: SQLiteWorker) -> bool:
            _, outcome, restored = await writer.pipeline([
                writer.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}"),
                writer.fetch("PRAGMA main.wal_checkpoint(TRUNCATE)"),  # temp (the guard table) has no log
                writer.execute(f"PRAGMA busy_timeout = {int(self.config.timeout * 1000)}"),
            ])
            for failure in (outcome, restored):
                if isinstance(failure, BaseException):
                    raise failure
            [(busy, _, _)] = outcome
            return not busy

        file = self._file
        if file is not None:
            file.checkpointing()
        try:
            return await self._on_writer(checkpoint, lambda: None)
        finally:
            if file is not None:
                file.checkpointed()

    async def _background_step(self) -> bool:
        """One step of the work done while writes pause: extend the search index, then give
        the WAL's space back once no reader holds it."""
        if self.config.in_memory:
            await self._reads_first()
        more, schema = await self._on_writer(
            lambda writer: sqlite_schema.index_step(
                writer, DEFAULT_SETTINGS["index_step"], DEFAULT_SETTINGS["index_step_bytes"],
                DEFAULT_SETTINGS["index_lock_wait"], self.config.timeout,
            ),
            lambda: None,
        )
        if schema != self._schema_seen:  # another program may have rebuilt a table, dropping its triggers
            try:
                await self._on_writer(lambda writer: sqlite_schema.put_back_triggers(writer, self._where), lambda: None)
            except StorageError as exc:
                if self._refused is None:
                    logger.warning("%s", exc)
                self._refused = str(exc)
                return False
            self._refused, self._schema_seen = None, schema
        if not more and not self._snapshots and self._file is not None and self._lost is None:
            if self._file.wal_size() > 0 and self._file.appended:
                await self._checkpoint(0)
        if not more and self._session_check is None:
            self._session_check = asyncio.ensure_future(self._check_session())
        return more

    async def _check_session(self) -> None:
        """Once a session, after the first catch-up of the indexes, what only a look at every
        row tells: cards another tool put below what the indexes cover, and tags of no card.
        The long parts run on a reader, holding no lock."""
        await self._index_passed_over()
        await self._check_tags()

    async def _index_passed_over(self) -> None:
        """Index the text cards another tool inserted under ids the indexes already cover
        (``sqlite_schema.PASSED_OVER_TEXTS``): searches would miss them for good."""
        try:
            ids = [row[0] for row in await self._read(lambda reader: reader.fetch(sqlite_schema.PASSED_OVER_TEXTS))]
            indexed = await self._on_writer(
                lambda writer: sqlite_schema.index_passed_over(writer, ids), lambda: None) if ids else 0
            if indexed:
                logger.info("%s: indexed %s cards another program stored under ids the indexes cover", self._where, indexed)
        except StorageError as exc:  # the next session looks again
            logger.debug("%s: cards passed over by the indexes not looked for: %s", self._where, exc)

    async def _check_tags(self) -> None:
        """Note that every tag names a stored card, if it does and the store does not say so
        yet (``sqlite_tag_check``); its look-up of each tag's card runs on a reader."""
        try:
            [(held,)] = await self._read(lambda reader: reader.fetch(tag_check.IS_HELD))
            if held:
                return
            marker = secrets.randbits(62)
            await self._on_writer(lambda writer: writer.execute(tag_check.CHECK_BEGUN, (marker,)), lambda: None)
            [(found, schema)] = await self._read(lambda reader: reader.fetch(tag_check.TAG_OF_NO_CARD_FOUND))
            await self._on_writer(
                lambda writer: writer.execute(tag_check.CHECK_ENDED, (marker,)) if found else writer.in_turn([
                    writer.execute(tag_check.CHECK_PASSED, (marker, schema)),
                    writer.execute(tag_check.CHECK_ENDED, (marker,)),
                ]),
                lambda: None,
            )
            if found:
                logger.debug("%s: another program left tags of cards that are not stored", self._where)
        except StorageError as exc:  # the next session checks again
            logger.debug("%s: tags not checked: %s", self._where, exc)

    # -- engine hooks ------------------------------------------------------------------------
    async def _save_many(self, cards: Sequence[MCard]) -> int:
        return await self._write_queue().submit("insert", cards)

    async def _remove_many(self, hashes: Sequence[str]) -> int:
        return await self._write_queue().submit("delete", hashes)

    def _write_queue(self) -> WriteBatcher:
        _, batcher = self._open_writer()
        if self.config.read_only:
            raise StorageError(f"{self._where}: the store was opened read-only")
        if self._refused is not None:
            raise StorageError(self._refused)
        return batcher

    async def _hashes_starting(self, prefix: str, limit: int) -> list[str]:
        return await self._read(sql.hashes_starting, prefix, limit)

    async def _hashes_in_ranges(self, prefixes: Sequence[str]) -> list[str]:
        return await sqlite_ranges.listed(self._read, prefixes)

    async def _range_digests(self, prefixes: Sequence[str], depth: int) -> dict[str, RangeDigest]:
        return await sqlite_ranges.digests(self._read, prefixes, depth)

    async def _save_seen(self, cards: Sequence[MCard], sightings: Sequence[Sighting]) -> Saved:
        done = await self._write_queue().submit_request("insert", cards, sightings)
        return Saved(done.result, done.attached_result)

    async def _add_sightings(self, sightings: Sequence[Sighting]) -> Recorded:
        done = await self._write_queue().submit_request("seen", sightings)
        return Recorded(done.result, done.earlier)

    async def _tag_many(self, pairs: Sequence[tuple[str, str]], attach: bool) -> int:
        return await self._write_queue().submit("tag" if attach else "untag", pairs)

    async def _sightings(self, hashes: Sequence[str]) -> dict[str, list[Sighting]]:
        return await self._read(sql.sightings, hashes)

    async def _names(self, hashes: Sequence[str]) -> dict[str, str]:
        return await self._read(sql.names, hashes)

    async def _tags(self, hashes: Sequence[str]) -> dict[str, list[str]]:
        return await self._read(sql.tags, hashes)

    async def _damaged_labels(self) -> list[DamagedCard]:
        return await self._read(sql.damaged_label_rows)

    async def _remove_labels(self, sighting_keys: Sequence[str], tags: Sequence[StoredTag]) -> int:
        removed = await self._on_writer(lambda writer: sql.remove_labels(writer, sighting_keys, tags), lambda: None)
        if tags and self._session_check is not None and self._session_check.done():
            self._session_check = None  # the tags of cards not stored may all be gone: checked again
            self._open_writer()[1].run_idle_when_quiet()
        return removed

    async def _remove_under_bytes(self, hashes: Sequence[bytes]) -> int:
        return await self._on_writer(lambda writer: sql.remove_under_bytes(writer, hashes), lambda: None)

    async def _stored_rows(self, hashes: Sequence[str]) -> list[tuple[Any, ...]]:
        return await self._read(sql.stored_rows, hashes)

    async def _repair_rows(self, repairs: Sequence[Repair]) -> int:
        return await self._on_writer(lambda writer: sql.repair_rows(writer, repairs), lambda: None)

    async def _get_many(self, hashes: Sequence[str]) -> dict[str, MCard]:
        """A few small cards are read on the loop's own connection (``sqlite_loop_reads``);
        the rest, and whatever it could not serve, on a reader's thread."""
        loop_reader = self._loop_reader()
        if loop_reader is not None and len(hashes) <= LOOP_READ_SETTINGS["cards"]:
            served = loop_reader.get_many(hashes)
            if served is not None:
                found, large = served
                if large:
                    found.update(await self._read(sql.get_many, large))
                return found
        return await self._read(sql.get_many, hashes)

    def get_now(self, hash_str: str) -> Optional[dict[str, MCard]]:
        """A get from any thread, without the event loop, when the loop's read connection is
        open and free and the card small: ``{hash: card}`` or ``{}``; None when it cannot be
        served that way (the caller awaits ``get``). ``ValidationError`` for a bad hash."""
        key = check_card_hash(hash_str)
        reader = _opened(self._loop_reader_opening)
        served = None if reader is None else reader.get_many([key], wait=False)
        if served is None or served[1]:
            return None
        return served[0]

    def save_now(self, card: MCard) -> Optional[bool]:
        """A lone save from any thread, without the event loop, when the loop's write
        connection is open and free, no write of the store is queued or running and the card
        is small (``sqlite_direct_writes``): True (stored) or False (already there); None when it
        cannot be done that way (the caller awaits ``save``). ``ValidationError`` as ``save``."""
        checked = check_card(card, self.config.max_content_size)
        writer, file, batcher, loop = self._direct_writer, self._file, self._batcher, self._loop
        if writer is None or file is None or batcher is None or loop is None or self._lost is not None or self._refused:
            return None
        if batcher.busy or file.wal_size() >= self._checkpoint_at:  # a checkpoint is due: a queued write runs it
            return None
        began = False

        def before() -> None:
            nonlocal began
            began = True
            file.writing()
            self._check_file(file)

        stored = writer.insert(checked, before=before)
        if began:  # else nothing was written here: no write to note
            file.written()
        if stored is None:
            return None
        if stored and batcher.noted_elsewhere():
            try:
                loop.call_soon_threadsafe(batcher.run_idle_when_quiet)  # index it once writes pause
            except RuntimeError:  # the loop has closed: so has the store, the card is stored
                pass
        return bool(stored)

    def _loop_reader(self) -> Optional[LoopReader]:
        """The loop's connection once open; the first call opens it on a thread, meanwhile
        reads go to threads (and keep doing so if it cannot be opened)."""
        self._open_writer()
        if self._loop_reader_opening is None:
            self._loop_reader_opening = asyncio.ensure_future(
                asyncio.to_thread(
                    LoopReader.connect, self._database, self._page_cache, **self._connect_kwargs
                )
            )
        return _opened(self._loop_reader_opening)

    async def _stats(self) -> StoreStats:
        return StoreStats.of_types(await self._read(sql.stats))

    async def _count(self, filters: Filters) -> int:
        return await self._read(sql.count, filters)

    async def _search(
        self, spec: SearchSpec, filters: Filters, limit: Optional[int], offset: int, total: bool
    ) -> tuple[list[MCard], Optional[int]]:
        if spec.mode == "regex":
            return await self._regex_search(spec, filters, limit, offset, total)
        probed = None
        if spec.mode == "substring" and limit is not None and not total:
            probed = self._walk_on_loop(spec, filters, limit, offset)
            if isinstance(probed, list):
                return probed, None
        return await self._read(search.search, spec, filters, limit, offset, total, probed)

    def _walk_on_loop(
        self, spec: SearchSpec, filters: Filters, limit: int, offset: int
    ) -> Union[list[MCard], tuple[int, int], None]:
        """A page of a substring search from a short walk on the loop's own connection
        (``sqlite_loop_reads``); else (matches, max(id)) for the page read on a thread
        (``search.walk``), or None."""
        loop_reader = self._loop_reader()
        wanted = offset + limit
        if loop_reader is None or wanted > LOOP_READ_SETTINGS["walk_cards"]:
            return None
        params: list[object] = []
        statement = search.loop_walk(spec, filters, wanted, int(LOOP_READ_SETTINGS["walk_bytes"]), params)
        walked = loop_reader.fetch(statement, params)
        if walked is None:
            return None
        cards, (within, stored) = walked
        if len(cards) < wanted and within > page_walks.PROBE_ROWS:  # older cards may hold more
            return len(cards), stored
        self._loop_walks_served += 1
        return cards[offset:]

    async def _search_ordered(
        self, spec: SearchSpec, filters: Filters, limit: Optional[int], offset: int, order: str
    ) -> tuple[list[MCard], int]:
        if spec.mode == "regex" or filters.by_labels:
            # a regular expression's matches are found outside SQL; a tag or name filter beside
            # the index's ids is tested card by card, and counting the matches again doubled it
            # (a word in 37% of 100,000 cards, 10% tagged: 45 ms by sorting, 67 ms in SQL)
            return await super()._search_ordered(spec, filters, limit, offset, order)
        return await self._read(sql.ordered_search, spec, filters, limit, offset, order)

    async def _excluding(
        self, left_out: SearchSpec, filters: Filters, limit: Optional[int], offset: int, order: str
    ) -> tuple[list[MCard], int]:
        return await self._read(sql.page_without, left_out, filters, limit, offset, order)

    async def _facets(
        self, fields: list[str], filters: Filters, spec: Optional[SearchSpec], left_out: Optional[SearchSpec] = None
    ) -> dict[str, list[tuple[Any, int]]]:
        if spec is not None and spec.mode == "regex":  # its matches are found outside SQL
            return await super()._facets(fields, filters, spec)
        if spec is None and left_out is None and sqlite_facets.of_indexed_columns(filters):
            async with self._lent_reader() as reader:  # one snapshot: the counts, then the facets
                if filters.empty or await sqlite_facets.chooses_every_card(reader, filters):
                    return await sqlite_facets.over_everything(reader, fields)
                return await sqlite_facets.over_chosen(reader, fields, filters, None, None)
        return await self._read(sqlite_facets.over_chosen, fields, filters, spec, left_out)

    async def _regex_search(
        self, spec: SearchSpec, filters: Filters, limit: Optional[int], offset: int, total: bool
    ) -> tuple[list[MCard], Optional[int]]:
        """``_search`` for a regular expression, in one snapshot. A page without a total reads
        newest first and stops once full: down the time index while the index says its literal
        is common (``search.walk_rows``), else, or when that walk falls short, from the index's
        candidates. The page is read from the same snapshot."""
        wanted = None if total or limit is None else offset + limit
        with self._regex_running(spec) as run:
            async with self._lent_reader() as worker:
                walk = None if wanted is None else await search.walk_rows(worker, spec, wanted)
                ids: list[int] = []
                if walk is not None:
                    ids = await self._regex_ids(worker, run, search.regex_walk(worker, walk, filters), wanted)
                if walk is None or len(ids) < (wanted or 0):
                    candidates = search.regex_candidates(worker, spec, filters, newest_first=wanted is not None)
                    ids = await self._regex_ids(worker, run, candidates, wanted)
                ids_json = await asyncio.to_thread(json.dumps, ids)
                cards = await search.page_of(worker, ids_json, limit, offset) if ids else []
        return cards, (len(ids) if total else None)

    async def _regex_ids(
        self, worker: SQLiteWorker, run: RegexRun, opening: Awaitable[Any], wanted: Optional[int]
    ) -> list[int]:
        """The ids of the candidates (rows of ``search.regex_candidates``) the cursor
        ``opening`` opens that ``run`` matches, in its order, stopping once it has ``wanted``.
        A chunk is checked in the child process while the next is read: few rows first when a
        page is wanted, then more."""
        ids: list[int] = []
        checking: Optional[asyncio.Future[list[bool]]] = None
        size = search.REGEX_FIRST_ROWS if wanted is not None else search.REGEX_ROWS
        cursor = await opening
        try:
            rows = await worker.fetch_more(cursor, size)
            while rows:
                checking = asyncio.ensure_future(_regex_hits(worker, run, rows, self._where))
                more = len(rows) == size
                size = min(size * 4, search.REGEX_ROWS)
                following = await worker.fetch_more(cursor, size) if more else []
                ids += [row[0] for row, hit in zip(rows, await checking) if hit]
                checking = None
                if wanted is not None and len(ids) >= wanted:
                    break
                rows = following
            return ids
        finally:
            if checking is not None:  # failed or cancelled while a chunk is checked: it
                run.stop()  # stops before the snapshot's connection closes
                checking.cancel()
                if checking.done() and not checking.cancelled():
                    checking.exception()  # retrieved: the failure raised here says enough
            if worker in self._snapshots or worker in self._readers:  # not closed with the store
                await worker.close_cursor(cursor)

    async def _iterate(self, filters: Filters, page_size: int) -> AsyncIterator[MCard]:
        async with _SnapshotCursor(self, lambda worker: sql.cards_cursor(worker, filters)) as (worker, cursor):
            wanted = 1
            while True:
                cards = await worker.fetch_more(cursor, wanted)
                for card in cards:
                    yield card
                if len(cards) < wanted:
                    return
                wanted = next_page_size(page_size, cards)
                del cards, card  # not held while the next page is read

    async def _iterate_heads(self, filters: Filters, page_size: int, head: int) -> AsyncIterator[Row]:
        async with _SnapshotCursor(self, lambda worker: sql.heads_cursor(worker, filters, head)) as (worker, cursor):
            while True:
                rows = await worker.fetch_more(cursor, page_size)
                for row in rows:
                    yield row
                if len(rows) < page_size:
                    return

    async def _verify(self, page_size: int) -> AsyncIterator[tuple[int, list[DamagedCard]]]:
        async with _SnapshotCursor(self, sql.verify_cursor) as (worker, cursor):
            while True:
                rows = await worker.fetch_more(cursor, page_size)
                if rows:
                    yield len(rows), [row for row in rows if row is not None]
                if len(rows) < page_size:
                    return

    async def _list_ordered(self, filters: Filters, limit: Optional[int], offset: int, order: str) -> list[MCard]:
        return await self._read(sql.ordered_page, filters, limit, offset, order)

    async def _list_heads(self, filters: Filters, limit: Optional[int], offset: int, order: str, head: int) -> list[Row]:
        return await self._read(sql.heads_page, filters, limit, offset, order, head)

    async def _list(
        self, filters: Filters, limit: Optional[int], offset: int, after: Optional[PageKey]
    ) -> list[MCard]:
        after_key = None if after is None else (to_micros(after[0]), after[1])
        resume = self._page_marks.get(filters, offset) if after is None else None
        cards, stamp = await self._read(sql.list_page, filters, limit, offset, after_key, resume)
        if after is None and stamp is not None:
            self._page_marks.remember(filters, offset, stamp, cards)
        return cards


class _SnapshotCursor:
    """The cursor ``open_cursor`` opens on a snapshot connection of ``store``'s own, and that
    connection: a class rather than a generator-based context manager, so that an iteration
    holding it is one async generator (see ``card_stream``)."""

    def __init__(self, store: SQLiteStore, open_cursor: Callable[[SQLiteWorker], Awaitable[Any]]) -> None:
        self._store = store
        self._open_cursor = open_cursor

    async def __aenter__(self) -> tuple[SQLiteWorker, Any]:
        self._worker = await self._store._begin_snapshot()
        try:
            self._cursor = await self._open_cursor(self._worker)
        except BaseException:
            await self._store._end_snapshot(self._worker)
            raise
        return self._worker, self._cursor

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            if self._worker in self._store._snapshots:  # else the store closed it
                await self._worker.close_cursor(self._cursor)
        finally:
            await self._store._end_snapshot(self._worker)


async def _regex_hits(
    worker: SQLiteWorker, run: RegexRun, rows: list[tuple[int, Any, int, Any]], where: str
) -> list[bool]:
    """Per candidate row of ``search.regex_candidates``, whether the regular expression matches
    its content: the contents read with the rows at once, those left out a batch at a time.
    A text that is not UTF-8 (a row another tool wrote) is an ``UnreadableCardError``, as
    every other read that meets it."""
    hits = [False] * len(rows)

    def note(places: list[int], found: list[Optional[bool]]) -> None:
        for place, hit in zip(places, found):
            if hit is None and rows[place][3]:
                raise UnreadableCardError(f"{where}: {NOT_UTF8_TEXT}")
            hits[place] = bool(hit)

    read = [place for place, row in enumerate(rows) if row[1] is not None]
    note(read, await run.found([rows[place][1] for place in read]))
    for batch in search.large_batches(rows):
        note(batch, await run.found(await search.contents_of(worker, [rows[place][0] for place in batch])))
    return hits


def _opened(opening: Optional[asyncio.Future[T]]) -> Optional[T]:
    """What ``opening`` opened, once it has; None while it opens or if it failed."""
    if opening is None or not opening.done() or opening.cancelled() or opening.exception() is not None:
        return None
    return opening.result()


async def _settle(writer: SQLiteWorker) -> None:
    """Wait, through further cancellations, until all queued on the writer so far has run,
    then roll back a transaction it left open."""
    barrier = asyncio.ensure_future(writer.fetch("SELECT 1"))
    while not barrier.done():
        try:
            await asyncio.shield(barrier)
        except asyncio.CancelledError:
            continue
        except Exception:
            break
    if writer.connection.in_transaction:
        rollback = asyncio.ensure_future(writer.rollback())
        await asyncio.wait([rollback])


def _snapshot_slots() -> int:
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return int(DEFAULT_SETTINGS["max_snapshots"])
    return max(1, min(int(DEFAULT_SETTINGS["max_snapshots"]), soft // 8 if soft > 0 else 1 << 30))


def _cancel_all(batch: list[WriteRequest]) -> None:
    """Make a running batch stop at its next row (an interrupt between rows would be lost)."""
    for request in batch:
        request.cancelled = True
