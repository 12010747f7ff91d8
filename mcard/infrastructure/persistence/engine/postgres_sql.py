"""The PostgreSQL schema of one card table and the operations run on an asyncpg connection.

Schema and table names are checked by ``PostgresConfig`` and quoted here; values only ever
travel as bound parameters. Times are stored as microseconds since the epoch (``bigint``),
exactly as in SQLite, so bounds and ordering compare instants with the same precision.

Change stamp: every write transaction that changes cards adds 1 to one of ``STAMP_SLOTS``
counter rows (its store's slot), as its last statement. The stamp is the sum of the slots, read
in the same snapshot as a page: it changes whenever a committed write becomes visible, yet
writers of different slots never wait for each other (one counter row would serialize every
writer of the table), and a writer holds its slot's lock only while it commits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from operator import attrgetter
from typing import Any, Final, Optional

from mcard.domain.models.card import MAX_MICROS, MIN_MICROS, MCard, to_micros
from mcard.domain.models.sighting import Sighting, composed, stored_tag_fault

from mcard.domain.query import Filters, WordQuery
from mcard.domain.query.order import BY_NAME
from mcard.domain.query.text import text_of

from . import postgres_copy as copy
from . import postgres_filter_walks as filter_walks
from . import postgres_name_order as name_order
from . import postgres_orders as orders
from . import postgres_search as search
from . import postgres_words as words
from . import sql_filters
from .base_engine import not_stored
from .card_rows import by_hash, card_row, row_card, row_cards, row_sighting, stamped_cards
from .name_globs import postgres_regex
from .integrity import MAYBE_NOT_A_TAG, DamagedCard, Repair, StoredTag, damaged_labels, held_by_damaged, holds_its_hash
from .sighting_rows import POSTGRES_SOUND
from .write_batcher import WriteRequest, credit_attached

logger = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 3
"""1: cards; 2: ``text_indexed`` and the trigram search index (``postgres_search``);
3: sightings and tags (``_sighting``, ``_tag``), removed with their card (foreign keys)."""
PLAIN_NAME: Final = "CASE WHEN octet_length(name) = char_length(name) THEN true ELSE name IS NFC NORMALIZED END"
"""A sighting name that is its own composed form (NFC): a name filter matches it as it is, through
the name index where the glob starts with a literal prefix (a C collation). A CASE, so that a
database in another encoding than UTF-8 (``SQL_ASCII``: every name counts as all ASCII there)
never asks PostgreSQL for a normalization it refuses."""
COLUMNS: Final = "hash, content, is_text, g_time, hash_algorithm, size, content_type"
COLUMN_LIST: Final = COLUMNS.split(", ")
UNIQUE_VIOLATION: Final = "23505"
INSUFFICIENT_PRIVILEGE: Final = "42501"
NEWEST_FIRST: Final = " ORDER BY g_time DESC, hash DESC"
MAX_ARRAY_BYTES: Final = 32 * 1024 * 1024
"""Most content bytes bound as one array (PostgreSQL limits a value to 1 GB); more go by COPY."""
COPY_FROM_ROWS: Final = 1000
"""From this many cards on, ``save_many`` copies them in (COPY) instead of binding arrays."""
INCOMING: Final = "pg_temp.mcard_incoming"
INCOMING_TABLE: Final = (
    f'CREATE TEMP TABLE IF NOT EXISTS {INCOMING} (hash text COLLATE "C", content bytea, is_text boolean,'
    " g_time bigint, hash_algorithm text, size bigint, content_type text) ON COMMIT DELETE ROWS"
)
"""Where large batches are copied to, then inserted from: one per connection, emptied at commit."""
DEADLOCK: Final = "40P01"
DEADLOCK_RETRIES: Final = 3
"""Times ``write_batch`` runs a transaction again that PostgreSQL ended to break a deadlock:
writers that share cards at different times may take their keys in different orders
(``insert``), and the one whose wait PostgreSQL ends first loses all of its transaction,
nothing of it stored; it runs again in hash order, which every such writer shares. (A
``timeout`` of the store at or under the server's ``deadlock_timeout`` ends the wait first, as
a lock timeout, which is not run again.)"""
STORED_DIGEST: Final = (
    "CASE s.hash_algorithm WHEN 'sha256' THEN encode(sha256(s.content), 'hex')"
    " WHEN 'sha512' THEN encode(sha512(s.content), 'hex') WHEN 'sha384' THEN encode(sha384(s.content), 'hex')"
    " WHEN 'sha224' THEN encode(sha224(s.content), 'hex') WHEN 'md5' THEN md5(s.content) END"
)
"""The digest of stored row ``s``'s content by its algorithm, where the server has it (else NULL)."""
HOLDS_ITS_HASH: Final = f"(s.size = octet_length(s.content) AND {STORED_DIGEST} = s.hash)"
"""Whether row ``s`` holds the content its hash names (``integrity.holds_its_hash``); NULL when
the server cannot tell (an algorithm it has no function for): Python then checks the row."""
STAMP_SLOTS: Final = 64

Connection = Any  # asyncpg.Connection; asyncpg is imported lazily


@dataclass(frozen=True)
class Tables:
    """The quoted names of a store's tables and the statements over them."""

    schema: str
    card: str
    names: tuple[str, str]
    """(schema, table) unquoted, for the driver's COPY, which quotes them itself."""
    meta: str
    changes: str
    index: str
    text_index: str
    unindexed: str
    scanned: str
    unplain: str
    short_words: str
    short_unknown: str
    plain_statistics: str
    lock_key: str
    sighting: str
    tag: str
    sighting_index: str
    sighting_names: str
    names_to_compose: str
    tag_index: str

    @classmethod
    def named(cls, schema: str, table: str) -> Tables:
        return cls(
            schema=f'"{schema}"',
            card=f'"{schema}"."{table}"',
            names=(schema, table),
            meta=f'"{schema}"."{table}_meta"',
            changes=f'"{schema}"."{table}_changes"',
            index=f'"{table}_by_time"',
            text_index=f'"{table}_text"',
            unindexed=f'"{table}_unindexed"',
            scanned=f'"{table}_scanned"',
            unplain=f'"{table}_unplain"',
            short_words=f'"{table}_short_words"',
            short_unknown=f'"{table}_short_unknown"',
            plain_statistics=f'"{schema}"."{table}_plain"',
            lock_key=f"mcard:{schema}.{table}",
            sighting=f'"{schema}"."{table}_sighting"',
            tag=f'"{schema}"."{table}_tag"',
            sighting_index=f'"{table}_sighting_by_hash"',
            sighting_names=f'"{table}_sighting_by_name"',
            names_to_compose=f'"{table}_sighting_to_compose"',
            tag_index=f'"{table}_tag_by_tag"',
        )

    @property
    def insert(self) -> str:
        return (
            f"INSERT INTO {self.card} ({COLUMNS}) SELECT * FROM unnest("
            "$1::text[], $2::bytea[], $3::boolean[], $4::bigint[], $5::text[], $6::bigint[], $7::text[])"
            " ON CONFLICT (hash) DO NOTHING"
        )

    @property
    def insert_one(self) -> str:
        """One card (``$1``-``$7``) inserted and, if it went in, the change stamp of slot ``$8``
        bumped, in one statement (one round trip, atomic by itself): how many rows went in,
        and whether a row stored before the statement began holds its content (NULL: no row,
        or one the server cannot check)."""
        return (
            f"WITH added AS (INSERT INTO {self.card} ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (hash) DO NOTHING RETURNING hash),"
            f" bumped AS (INSERT INTO {self.changes} AS c SELECT $8, 1 FROM added"
            " ON CONFLICT (slot) DO UPDATE SET value = c.value + 1)"  # runs whether read or not
            f" SELECT (SELECT count(*) FROM added),"
            f" (SELECT {HOLDS_ITS_HASH} FROM {self.card} AS s WHERE s.hash = $1)"
        )

    @property
    def absent(self) -> str:
        """Whether ``given.key`` is not a stored hash: a subquery per key, so one index probe
        each, whatever the planner makes of the list of keys."""
        return f"(SELECT true FROM {self.card} AS stored WHERE stored.hash = given.key) IS NULL"

    @property
    def columns(self) -> str:
        return COLUMNS

    @property
    def newest_first(self) -> str:
        return NEWEST_FIRST

    @property
    def bump(self) -> str:
        return (
            f"INSERT INTO {self.changes} AS c VALUES ($1, 1)"
            " ON CONFLICT (slot) DO UPDATE SET value = c.value + 1"
        )

    @property
    def stamp(self) -> str:
        return f"(SELECT coalesce(sum(value), 0)::bigint FROM {self.changes})"


async def server_identity(conn: Connection, tables: Tables) -> tuple[object, ...]:
    """The server (its start and port: no two running servers share both), the database and
    the table: what ``identity`` compares, readable by any role."""
    row = await conn.fetchrow("SELECT pg_postmaster_start_time(), current_setting('port'), current_database()")
    return (*row, tables.card)


async def stored_version(conn: Connection, tables: Tables) -> Optional[int]:
    """The schema version of the store's tables, None when there is no card store there."""
    if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", tables.meta):
        return None
    return await conn.fetchval(f"SELECT value FROM {tables.meta} WHERE key = 'schema_version'")


VERIFIED_COLUMNS: Final = "hash, content, is_text, hash_algorithm, size, g_time, content_type"
"""The stored values ``integrity.check_stored`` takes, in its order."""


async def verify_page(conn: Connection, tables: Tables, after: Optional[str], limit: int) -> list[Any]:
    """Raw rows in hash order, after ``after``: ``verify`` checks the stored values themselves
    (a text that is not UTF-8 included), never cards built from them."""
    if after is None:
        return await conn.fetch(f"SELECT {VERIFIED_COLUMNS} FROM {tables.card} ORDER BY hash LIMIT $1", limit)
    return await conn.fetch(
        f"SELECT {VERIFIED_COLUMNS} FROM {tables.card} WHERE hash > $1 ORDER BY hash LIMIT $2", after, limit
    )


async def stored_rows(conn: Connection, tables: Tables, hashes: Sequence[str]) -> list[Any]:
    """The rows of some hashes as ``verify_page`` gives them (``repair_damaged``)."""
    return await conn.fetch(f"SELECT {VERIFIED_COLUMNS} FROM {tables.card} WHERE hash = ANY($1::text[])", list(hashes))


async def repair_rows(conn: Connection, tables: Tables, repairs: Sequence[Repair], slot: int) -> int:
    """Set the rows' columns to their repairs' (``integrity.repair_of``) while they still hold
    the repairs' contents, in one transaction that bumps the change stamp of ``slot``."""
    async with conn.transaction():
        mended = await conn.fetch(
            f"UPDATE {tables.card} AS c SET is_text = r.is_text, hash_algorithm = r.algorithm, size = r.size,"
            " g_time = r.g_time, content_type = r.content_type FROM unnest($1::text[], $2::bytea[], $3::boolean[],"
            " $4::text[], $5::bigint[], $6::bigint[], $7::text[])"
            " AS r(hash, content, is_text, algorithm, size, g_time, content_type)"
            " WHERE c.hash = r.hash AND c.content = r.content RETURNING 1",
            *zip(*((r.hash, r.content, r.is_text, r.algorithm, r.size, r.g_time, r.content_type) for r in repairs)),
        )
        if mended:
            await conn.execute(tables.bump, slot)
    return len(mended)


def _used_columns(tables: Tables) -> dict[str, tuple[str, ...]]:
    """Each table of a store (qualified name) and the columns mcard reads and writes in it."""
    return {
        tables.card: (), tables.meta: ("key", "value"), tables.changes: ("slot", "value"),
        tables.sighting: ("key", "hash", "name", "path", "size", "mtime", "source", "seen_at"),
        tables.tag: ("hash", "tag"),
    }


async def foreign_table(conn: Connection, tables: Tables) -> Optional[str]:
    """The first of the store's table names taken by a table that is not a card store's, or
    None. mcard creates every table with ``_meta`` in one transaction, so one there without
    ``_meta`` is not its; nor is one that lacks a column mcard uses (another application's
    ``card_tag`` or ``card_sighting`` beside a card store's ``card``)."""
    used = _used_columns(tables)
    return await conn.fetchval(
        "SELECT name FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS given(name, columns, n)"
        " WHERE to_regclass(name) IS NOT NULL AND (to_regclass($3) IS NULL OR"
        " (SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass(name) AND attnum > 0"
        "  AND NOT attisdropped AND attname = ANY(string_to_array(columns, ',')))"
        " < cardinality(string_to_array(columns, ',')))"
        " ORDER BY n LIMIT 1",
        list(used), [",".join(columns) for columns in used.values()], tables.meta,
    )


async def hashes_starting(conn: Connection, tables: Tables, prefix: str, limit: int) -> list[str]:
    """Stored hashes that start with ``prefix`` (lowercase hex: they all sort below
    ``prefix || 'g'`` in the C collation), through the primary key."""
    rows = await conn.fetch(
        f"SELECT hash FROM {tables.card} WHERE hash >= $1 AND hash < $2 ORDER BY hash LIMIT $3",
        prefix, prefix + "g", limit,
    )
    return [row[0] for row in rows]


def _relations(tables: Tables) -> list[str]:
    """The qualified names of every table and index ``initialize`` creates."""
    indexes = (tables.index, tables.sighting_index, tables.sighting_names, tables.tag_index)
    return [tables.card, tables.meta, tables.changes, tables.sighting, tables.tag,
            *(f"{tables.schema}.{index}" for index in indexes)]


async def _complete(conn: Connection, tables: Tables) -> bool:
    """Whether every table and index is there, with a schema version: then nothing is created
    (PostgreSQL checks the right to create, and ownership, before ``IF NOT EXISTS``, so a
    user who may write to the tables but does not own them could not open the store)."""
    missing = await conn.fetchval(
        "SELECT count(*) FILTER (WHERE to_regclass(name) IS NULL) FROM unnest($1::text[]) AS name", _relations(tables)
    )
    return not missing and await conn.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM {tables.meta} WHERE key = 'schema_version')"
    )


async def initialize(conn: Connection, tables: Tables) -> tuple[int, Optional[int]]:
    """Create what is missing (under an advisory lock: concurrent first opens would race),
    upgrade a version 1 or 2 table, and return the schema version found and the one it was
    upgraded from (None: no upgrade). A newer version's tables are left as they are."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", tables.lock_key)
        if not await conn.fetchval("SELECT to_regnamespace($1) IS NOT NULL", tables.schema):
            # stores of other tables in the schema may be creating it too: one at a time
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"mcard:{tables.schema}")
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {tables.schema}")  # needs CREATE on the database
        found = await stored_version(conn, tables)
        if found is not None and found > SCHEMA_VERSION:
            return found, None
        if not await _complete(conn, tables):
            await _create(conn, tables)
        version = await conn.fetchval(f"SELECT value FROM {tables.meta} WHERE key = 'schema_version'")
        if version == 1:
            await conn.execute(
                f"ALTER TABLE {tables.card} ADD COLUMN IF NOT EXISTS text_indexed boolean NOT NULL DEFAULT false"
            )
        upgraded_from = version if version in (1, 2) else None
        if version in (1, 2):  # the label tables were created above
            await conn.execute(f"UPDATE {tables.meta} SET value = {SCHEMA_VERSION} WHERE key = 'schema_version'")
            version = SCHEMA_VERSION
        if version == SCHEMA_VERSION:
            if not await search.has_index(conn, tables):
                await search.create_index(conn, tables)
            if await words.add_counts(conn, tables):
                await words.add_unplain_index(conn, tables)
                await words.add_short_words(conn, tables)
                await words.recount_by_these_rules(conn, tables)
            if not await search.index_exists(conn, tables, tables.names_to_compose):
                await _index_names_to_compose(conn, tables)
            if not await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {tables.meta} WHERE key = 'composed_tags')"):
                await _compose_tags(conn, tables)
        return version, upgraded_from


async def _compose_tags(conn: Connection, tables: Tables) -> None:
    """Store each tag an earlier mcard stored decomposed (``café`` as ``e`` and an accent) as
    ``check_tag`` stores it, merged with the same tag typed composed, once per store (then
    ``composed_tags`` in the meta table), inside the caller's transaction: the ``tag:`` filter,
    ``untag`` and facets then see one tag. A tag no longer valid once composed is left for
    ``verify`` to name; a role that may not write the tags leaves them to a later open."""
    try:
        async with conn.transaction():  # a savepoint: a failure here leaves the tags as they were
            pairs = await _tags_to_compose(conn, tables)
            if pairs:
                hashes, tags, kept = (list(column) for column in zip(*pairs))
                await conn.execute(
                    f"INSERT INTO {tables.tag} (hash, tag) SELECT * FROM unnest($1::text[], $2::text[])"
                    " ON CONFLICT DO NOTHING", hashes, kept,
                )
                await conn.execute(
                    f"DELETE FROM {tables.tag} AS t USING unnest($1::text[], $2::text[]) AS d(hash, tag)"
                    " WHERE t.hash = d.hash AND t.tag = d.tag", hashes, tags,
                )
                logger.info("%s: %d tags stored decomposed are now stored composed (NFC)", tables.tag, len(pairs))
            await conn.execute(f"INSERT INTO {tables.meta} VALUES ('composed_tags', 1) ON CONFLICT DO NOTHING")
    except Exception as exc:  # asyncpg errors: not permitted
        logger.info("the tags of %s are not composed yet: %s", tables.tag, exc)


async def _tags_to_compose(conn: Connection, tables: Tables) -> list[tuple[str, str, str]]:
    """(hash, tag as stored, tag composed) of the tags stored decomposed that compose to a tag."""
    rows = await conn.fetch(f"SELECT hash, tag FROM {tables.tag} WHERE tag ~ '[^ -~]'")
    return [(row[0], row[1], composed(row[1])) for row in rows
            if composed(row[1]) != row[1] and stored_tag_fault(composed(row[1])) is None]


async def tags_left_decomposed(conn: Connection, tables: Tables) -> bool:
    """Whether an earlier mcard stored tags decomposed that no open for writing has composed
    yet (readers leave them out)."""
    if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {tables.meta} WHERE key = 'composed_tags')"):
        return False
    return bool(await _tags_to_compose(conn, tables))


async def _index_names_to_compose(conn: Connection, tables: Tables) -> None:
    """The partial index of the names that are not composed (``seen_under``), inside the
    caller's transaction; a role that may not create it is left without it (a scan finds them)."""
    try:
        async with conn.transaction():  # a savepoint: a failure here leaves the schema intact
            await conn.execute(
                f"CREATE INDEX IF NOT EXISTS {tables.names_to_compose} ON {tables.sighting} (name) WHERE NOT ({PLAIN_NAME})"
            )
    except Exception as exc:  # asyncpg errors: not permitted
        logger.info("no index of the names to compose for %s, a name filter scans: %s", tables.sighting, exc)


async def _create(conn: Connection, tables: Tables) -> None:
    """The tables and indexes, those missing."""
    await conn.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {tables.card} (
            hash           text COLLATE "C" PRIMARY KEY,
            content        bytea NOT NULL,
            is_text        boolean NOT NULL,
            g_time         bigint NOT NULL,  -- microseconds since 1970-01-01T00:00:00Z
            hash_algorithm text NOT NULL,
            size           bigint NOT NULL,
            content_type   text,             -- MIME type, detected once when the card is saved
            text_indexed   boolean NOT NULL DEFAULT false  -- in the trigram index (postgres_search)
        );
        CREATE INDEX IF NOT EXISTS {tables.index} ON {tables.card} (g_time, hash);
        CREATE TABLE IF NOT EXISTS {tables.meta} (key text PRIMARY KEY, value bigint NOT NULL);
        CREATE TABLE IF NOT EXISTS {tables.changes} (slot integer PRIMARY KEY, value bigint NOT NULL);
        CREATE TABLE IF NOT EXISTS {tables.sighting} (
            id      bigserial PRIMARY KEY,
            key     text COLLATE "C" NOT NULL UNIQUE,  -- Sighting.key: the same sighting once
            hash    text COLLATE "C" NOT NULL REFERENCES {tables.card} (hash) ON DELETE CASCADE,
            name    text,
            path    text,
            size    bigint,
            mtime   bigint,                            -- microseconds since the epoch
            source  text,
            seen_at bigint NOT NULL                    -- microseconds since the epoch
        );
        CREATE INDEX IF NOT EXISTS {tables.sighting_index} ON {tables.sighting} (hash, seen_at);
        CREATE INDEX IF NOT EXISTS {tables.sighting_names} ON {tables.sighting} (name);
        CREATE TABLE IF NOT EXISTS {tables.tag} (
            hash text COLLATE "C" NOT NULL REFERENCES {tables.card} (hash) ON DELETE CASCADE,
            tag  text NOT NULL,
            PRIMARY KEY (hash, tag)
        );
        CREATE INDEX IF NOT EXISTS {tables.tag_index} ON {tables.tag} (tag, hash);
        INSERT INTO {tables.meta} VALUES ('schema_version', {SCHEMA_VERSION}) ON CONFLICT DO NOTHING;
        """
    )


def _affected(status: str) -> int:
    """The row count of a command status such as ``INSERT 0 42`` or ``DELETE 3``."""
    return int(status.rsplit(" ", 1)[1])


class NotStored(Exception):
    """A card a write neither inserted nor found stored: something in the table (a trigger
    returning NULL, say) dropped it. The write's transaction is rolled back."""

    def __init__(self, key: str) -> None:
        super().__init__(f"card {key} was neither inserted nor already stored: the table dropped it")


class HeldByDamaged(Exception):
    """A card whose hash a row another tool changed holds (``integrity.held_by_damaged``). The
    write's transaction is rolled back."""

    def __init__(self, key: str) -> None:
        super().__init__(held_by_damaged(key))
        self.key = key


_size: Final = attrgetter("size")


class _Skipped(Exception):
    """A COPY stored fewer rows than it was given (see ``insert``)."""


async def insert(
    conn: Connection, tables: Tables, cards: Sequence[MCard], stall: float, returning: bool = False,
    in_hash_order: bool = False,
) -> Any:
    """Insert the cards not stored yet (inside the caller's transaction): how many were new,
    or with ``returning`` the list of their hashes.

    Of equal cards in one call the first is kept. Small batches are one ``INSERT`` of bound
    arrays, in hash order; large ones are copied (``COPY``, binary) straight into the table,
    which overlaps building the rows with the server's work (~1.5x faster at 100,000 cards);
    when a card is already stored that fails at its row, and the batch goes through a
    temporary table and ``INSERT ... ON CONFLICT`` instead (rows that were copied are rolled
    back). A large batch goes in time order, oldest first, so that the table's pages hold
    cards of nearby times: a page of the newest cards then reads a few of them, not one
    per card (in hash order the 1,000 newest of a bulk load lay on ~1,000 pages). Writers that
    share cards may then take their keys in different orders: ``write_batch`` runs a
    transaction PostgreSQL ended to break a deadlock again, ``in_hash_order``, the order every
    writer of the same cards shares, so that it waits instead of meeting the same deadlock
    again. A COPY that makes no progress
    for ``stall`` seconds is given up (``postgres_copy``).

    Only a card already stored may be left out: when fewer rows went in than cards were
    given, every card left out is looked up, and ``NotStored`` names the first one missing.
    """
    first: dict[str, MCard] = {}
    for card in cards:
        first.setdefault(card.hash, card)
    suffix = " RETURNING hash" if returning else ""
    if len(first) < COPY_FROM_ROWS and sum(card.size for card in first.values()) <= MAX_ARRAY_BYTES:
        return await _insert_arrays(conn, tables, [first[key] for key in sorted(first)], returning)
    in_order = [first[key] for key in sorted(first)] if in_hash_order else sorted(first.values(), key=_time_and_hash)
    try:
        async with conn.transaction():  # a savepoint
            status = await copy.copy_in(conn, tables.names, in_order, card_row, stall, COLUMN_LIST, _size)
            if _affected(status) < len(in_order):
                raise _Skipped  # which rows are not known: insert again, naming them
        return [card.hash for card in in_order] if returning else len(in_order)
    except _Skipped:
        pass
    except Exception as exc:
        if getattr(exc, "sqlstate", None) != UNIQUE_VIOLATION:
            raise
    try:
        async with conn.transaction():  # a savepoint: the role may be refused temporary tables
            await conn.execute(INCOMING_TABLE)
    except Exception as exc:
        if getattr(exc, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
            raise
        return await _insert_in_chunks(conn, tables, in_order, returning)
    await copy.copy_in(conn, ("pg_temp", "mcard_incoming"), in_order, card_row, stall, size=_size)
    statement = (
        f"INSERT INTO {tables.card} ({COLUMNS}) SELECT {COLUMNS} FROM {INCOMING}"
        f" ORDER BY {'hash' if in_hash_order else 'g_time, hash'} ON CONFLICT (hash) DO NOTHING{suffix}"
    )
    result = _outcome(await conn.fetch(statement) if returning else await conn.execute(statement), returning)
    return await _all_stored(conn, tables, in_order, result, copied=True)


async def _insert_arrays(conn: Connection, tables: Tables, ordered: Sequence[MCard], returning: bool) -> Any:
    """``insert`` of distinct cards, in their order, as one statement of bound arrays."""
    columns = zip(*map(card_row, ordered))
    result = _outcome(await conn.fetch(tables.insert + " RETURNING hash", *columns) if returning
                      else await conn.execute(tables.insert, *columns), returning)
    return await _all_stored(conn, tables, ordered, result)


async def _insert_in_chunks(conn: Connection, tables: Tables, ordered: Sequence[MCard], returning: bool) -> Any:
    """``insert`` of distinct cards as statements of bound arrays, each within the limits of one:
    for a batch that a role refused temporary tables cannot pass through one."""
    results: list[Any] = []
    chunk: list[MCard] = []
    size = 0
    for card in ordered:
        if chunk and (len(chunk) + 1 >= COPY_FROM_ROWS or size + card.size > MAX_ARRAY_BYTES):
            results.append(await _insert_arrays(conn, tables, chunk, returning))
            chunk, size = [], 0
        chunk.append(card)
        size += card.size
    results.append(await _insert_arrays(conn, tables, chunk, returning))
    return [key for result in results for key in result] if returning else sum(results)


async def _all_stored(
    conn: Connection, tables: Tables, ordered: Sequence[MCard], result: Any, copied: bool = False
) -> Any:
    """``result`` of inserting ``ordered`` (distinct), once every card it left out is found
    stored; else ``NotStored`` for the first one that is not (in hash order). With ``copied``
    the cards are looked up from the temporary table they were copied to."""
    inserted = result if isinstance(result, int) else len(result)
    if inserted == len(ordered):
        return result
    if copied:
        missing = await conn.fetchval(
            f"SELECT key FROM (SELECT hash AS key FROM {INCOMING}) AS given WHERE {tables.absent} ORDER BY key LIMIT 1"
        )
    else:
        new = set() if isinstance(result, int) else set(result)
        missing = await conn.fetchval(
            f"SELECT key FROM unnest($1::text[]) WITH ORDINALITY AS given(key, n) WHERE {tables.absent} ORDER BY n LIMIT 1",
            [card.hash for card in ordered if card.hash not in new],
        )
    if missing is not None:
        raise NotStored(missing)
    keys = f"SELECT hash FROM {INCOMING}" if copied else "SELECT unnest($1::text[])"
    suspects = await conn.fetch(
        f"SELECT s.hash, s.hash_algorithm, s.size, s.content FROM {tables.card} AS s"
        f" WHERE s.hash IN ({keys}) AND {HOLDS_ITS_HASH} IS NOT TRUE",
        *(() if copied else ([card.hash for card in ordered],)),
    )
    for key, algorithm, size, content in sorted(suspects):
        if not holds_its_hash(key, algorithm, size, content):
            raise HeldByDamaged(key)
    return result


def _time_and_hash(card: MCard, _slots: Any = attrgetter("_g_time", "_hash")) -> tuple[int, str]:
    """A card's time in microseconds, as ``card_row`` stores it, and its hash: the order a large
    batch is written in, the same for every writer of the same cards."""
    moment, key = _slots(card)
    return (moment if moment.__class__ is int else to_micros(moment)), key


def _outcome(result: Any, returning: bool) -> Any:
    """The hashes a ``RETURNING hash`` statement gave, or the row count of a command status."""
    return [row[0] for row in result] if returning else _affected(result)


async def delete(conn: Connection, tables: Tables, hashes: Sequence[str], returning: bool = False) -> Any:
    """Delete the cards among ``hashes``: how many were, or with ``returning`` their hashes."""
    statement = f"DELETE FROM {tables.card} WHERE hash = ANY($1::text[])"
    keys = sorted(hashes)
    if returning:
        return _outcome(await conn.fetch(statement + " RETURNING hash", keys), True)
    return _affected(await conn.execute(statement, keys))


async def write_batch(
    conn: Connection, tables: Tables, batch: Sequence[WriteRequest], slot: int, stall: float
) -> None:
    """Run the requests in one transaction, fill in each one's result, bump the change stamp.

    Consecutive requests of one kind run as one statement; each request is credited with the
    rows of its own payload that the statement changed, the first request naming a row first.
    """
    live = [request for request in batch if not request.cancelled]
    for request in batch:
        request.skipped = request.cancelled
    if len(live) == 1 and live[0].operation == "insert" and len(live[0].payload) == 1 and not live[0].attached:
        added = await insert_one(conn, tables, live[0].payload[0], slot)
        if added is not None:
            live[0].result = added
            return
    for attempt in range(DEADLOCK_RETRIES + 1):
        try:
            async with conn.transaction():
                await _write_requests(conn, tables, live, slot, stall, in_hash_order=attempt > 0)
            return
        except Exception as exc:
            if getattr(exc, "sqlstate", None) != DEADLOCK or attempt == DEADLOCK_RETRIES:
                raise
            logger.debug("%s: a write ended to break a deadlock, run again: %s", tables.card, exc)
        for request in batch:  # nothing of the attempt is stored: the next one starts afresh
            request.result, request.attached_result, request.earlier = 0, 0, 0
            request.error, request.skipped = None, request.cancelled
        live = [request for request in live if not request.cancelled]
        if not live:
            return


async def _write_requests(
    conn: Connection, tables: Tables, live: Sequence[WriteRequest], slot: int, stall: float, in_hash_order: bool
) -> None:
    """``write_batch``'s work, inside its transaction (inserts ``in_hash_order``: see ``insert``)."""
    if len(live) == 1 and live[0].operation in ("insert", "delete"):
        request = live[0]
        if request.operation == "insert":
            request.result = await insert(conn, tables, request.payload, stall, in_hash_order=in_hash_order)
        else:
            request.result = await delete(conn, tables, request.payload)
    else:
        start = 0
        while start < len(live):
            end = start + 1
            if live[start].operation in ("insert", "delete"):
                while end < len(live) and live[end].operation == live[start].operation:
                    end += 1
                await _merged(conn, tables, live[start:end], stall, in_hash_order)
            elif live[start].operation == "seen":
                await _seen(conn, tables, live[start])
            else:
                await _tag(conn, tables, live[start])
            start = end
    new, _ = await _record_sightings(conn, tables, [s for request in live for s in request.attached])
    credit_attached(live, new)
    if any(request.result for request in live if request.operation in ("insert", "delete")):
        await conn.execute(tables.bump, slot)


async def insert_one(conn: Connection, tables: Tables, card: MCard, slot: int) -> Optional[int]:
    """A lone card without sightings in one statement instead of a transaction of four round
    trips: 1 if it went in, 0 if it was stored already; None when neither shows (a trigger
    kept the row out, another writer stored the card after this statement's snapshot was
    taken, or the stored row may hold other content): the caller then writes it the long way,
    which tells them apart."""
    added, stored_whole = await conn.fetchrow(tables.insert_one, *card_row(card), slot)
    if added:
        return 1
    return 0 if stored_whole else None


async def _record_sightings(conn: Connection, tables: Tables, sightings: Sequence[Sighting]) -> tuple[set[str], int]:
    """Record sightings of stored cards (inside the caller's transaction), each distinct one
    once, keeping the first time it was seen: the keys of those not recorded before, and how
    many recorded ones were moved back to an earlier time. An insert that skips a key another
    writer holds waits for that writer's outcome, so that a sighting two writers record at
    once is new to one of them alone (an update, likewise, moves a time back for one alone)."""
    if not sightings:
        return set(), 0
    rows = list({s.key: sighting_row(s) for s in sorted(sightings, key=lambda s: s.seen_at, reverse=True)}.values())
    inserted = await conn.fetch(
        f"INSERT INTO {tables.sighting} (key, hash, name, path, size, mtime, source, seen_at)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],"
        " $7::text[], $8::bigint[]) ORDER BY 1 ON CONFLICT (key) DO NOTHING RETURNING key",
        *zip(*rows),
    )
    new = {row[0] for row in inserted}
    moved = 0
    if len(new) < len(rows):  # recorded before: keep the earlier time
        earlier = [(row[0], row[7]) for row in rows if row[0] not in new]
        moved = _affected(await conn.execute(
            f"UPDATE {tables.sighting} AS s SET seen_at = given.seen_at"
            " FROM unnest($1::text[], $2::bigint[]) AS given (key, seen_at)"
            " WHERE s.key = given.key AND given.seen_at < s.seen_at",
            *zip(*earlier),
        ))
    return new, moved


async def _labelled_cards(conn: Connection, tables: Tables, hashes: Iterable[str]) -> tuple[list[str], Optional[str]]:
    """Of ``hashes`` to label, those no card has, and the first a row holds with other content,
    if any. The stored ones are locked (``FOR KEY SHARE``) as they are found, so that no other
    writer removes one before its labels go in: a removal committed first, or still waited on,
    leaves it unstored here."""
    given = sorted(set(hashes))
    stored = await conn.fetch(
        f"SELECT s.hash, {HOLDS_ITS_HASH} IS NOT TRUE FROM {tables.card} AS s WHERE s.hash = ANY($1::text[])"
        " ORDER BY s.hash FOR KEY SHARE",
        given,
    )
    unstored = sorted(set(given).difference(row[0] for row in stored))
    suspects = [row[0] for row in stored if row[1]]  # the server could not tell, or it is damaged
    if unstored or not suspects:
        return unstored, None
    rows = await conn.fetch(
        f"SELECT hash, hash_algorithm, size, content FROM {tables.card} WHERE hash = ANY($1::text[]) ORDER BY hash",
        suspects,
    )
    return [], next((key for key, algorithm, size, content in rows if not holds_its_hash(key, algorithm, size, content)), None)


async def _seen(conn: Connection, tables: Tables, request: WriteRequest) -> None:
    """One ``add_sightings`` request: a sighting of a card that is not stored, or that a row
    holds with other content (``HeldByDamaged``), fails the request alone (nothing of it is
    written), the others of the batch go on."""
    unstored, damaged = await _labelled_cards(conn, tables, {s.hash for s in request.payload})
    if unstored:
        request.error = not_stored("add sightings of", unstored)
        return
    if damaged is not None:
        request.error = HeldByDamaged(damaged)
        return
    new, request.earlier = await _record_sightings(conn, tables, request.payload)
    request.result = len(new)


async def _tag(conn: Connection, tables: Tables, request: WriteRequest) -> None:
    """One tag or untag request: a tag on a hash that is not stored, or that a row holds with
    other content (``HeldByDamaged``: a tag on a forgery would name it), fails the request alone
    (nothing of it is written), the others of the batch go on. The cards to tag are locked as
    they are found (``_labelled_cards``)."""
    hashes, words = (list(column) for column in zip(*request.payload))
    if request.operation == "tag":
        unstored, damaged = await _labelled_cards(conn, tables, hashes)
        if unstored:
            request.error = not_stored("tag", unstored)
            return
        if damaged is not None:
            request.error = HeldByDamaged(damaged)
            return
        status = await conn.execute(
            f"INSERT INTO {tables.tag} (hash, tag) SELECT * FROM unnest($1::text[], $2::text[]) ORDER BY 1, 2"
            " ON CONFLICT DO NOTHING",
            hashes, words,
        )
    else:
        status = await conn.execute(
            f"DELETE FROM {tables.tag} WHERE (hash, tag) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
            hashes, words,
        )
    request.result = _affected(status)


async def _merged(
    conn: Connection, tables: Tables, run: Sequence[WriteRequest], stall: float, in_hash_order: bool
) -> None:
    if run[0].operation == "insert":
        payload = [card for r in run for card in r.payload]
        changed = set(await insert(conn, tables, payload, stall, True, in_hash_order))
        keys = [[card.hash for card in request.payload] for request in run]
    else:
        changed = set(await delete(conn, tables, list({key for r in run for key in r.payload}), True))
        keys = [list(request.payload) for request in run]
    for request, request_keys in zip(run, keys):
        mine = changed.intersection(request_keys)
        changed -= mine
        request.result = len(mine)


def sighting_row(sighting: Sighting) -> tuple[object, ...]:
    return (
        sighting.key, sighting.hash, sighting.name, sighting.path, sighting.size,
        None if sighting.mtime is None else to_micros(sighting.mtime), sighting.source, to_micros(sighting.seen_at),
    )


async def sightings(conn: Connection, tables: Tables, hashes: Sequence[str]) -> dict[str, list[Sighting]]:
    found: dict[str, list[Sighting]] = {}
    rows = await conn.fetch(
        f"SELECT hash, name, path, size, mtime, source, seen_at FROM {tables.sighting}"
        " WHERE hash = ANY($1::text[]) ORDER BY hash, seen_at, key",
        list(hashes),
    )
    for hash_str, name, path, size, mtime, source, seen_at in rows:
        if (seen := row_sighting((hash_str, name, path, size, mtime, source, seen_at))) is not None:
            found.setdefault(hash_str, []).append(seen)
    return found


async def names(conn: Connection, tables: Tables, hashes: Sequence[str]) -> dict[str, str]:
    rows = await conn.fetch(
        f"SELECT DISTINCT ON (hash) hash, name FROM {tables.sighting}"
        f" WHERE hash = ANY($1::text[]) AND name IS NOT NULL AND {POSTGRES_SOUND} ORDER BY hash, seen_at DESC, key DESC",
        list(hashes),
    )
    return {row[0]: row[1] for row in rows}


async def tags(conn: Connection, tables: Tables, hashes: Sequence[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    rows = await conn.fetch(
        f'SELECT hash, tag FROM {tables.tag} WHERE hash = ANY($1::text[]) ORDER BY hash, tag COLLATE "C"', list(hashes)
    )
    for hash_str, tag in rows:
        found.setdefault(hash_str, []).append(tag)
    return found


async def damaged_label_rows(conn: Connection, tables: Tables) -> list[DamagedCard]:
    """Sightings and tags another tool left: of no stored card (only if the foreign keys were
    dropped by hand), a sighting mcard would not store (``POSTGRES_SOUND``), or not what mcard
    stores as a tag."""
    stored = f"EXISTS (SELECT 1 FROM {tables.card} AS c WHERE c.hash = given.hash)"
    rows = await conn.fetch(
        f"SELECT hash, 'sighting', key, 'no card' FROM {tables.sighting} AS given WHERE NOT {stored}"
        f" UNION ALL SELECT hash, 'sighting', key, 'malformed' FROM {tables.sighting} AS given WHERE {stored}"
        f" AND NOT ({POSTGRES_SOUND})"
        f" UNION ALL SELECT hash, 'tag', tag, 'no card' FROM {tables.tag} AS given WHERE NOT {stored}"
        f" UNION ALL SELECT hash, 'tag', tag, NULL FROM {tables.tag} AS given WHERE {stored}"
        f" AND (tag ~ '[^ -~]' OR tag LIKE ' %' OR tag LIKE '% ' OR {MAYBE_NOT_A_TAG})"
    )
    return damaged_labels(rows)


async def remove_labels(
    conn: Connection, tables: Tables, sighting_keys: Sequence[str], tags: Sequence[StoredTag]
) -> int:
    """Delete the sightings (by key) and tags (by hash and tag) as stored, in one transaction.
    A tag named by bytes (SQLite's, stored otherwise than as UTF-8 text) names none here."""
    tags = [pair for pair in tags if isinstance(pair[0], str) and isinstance(pair[1], str)]
    async with conn.transaction():
        seen = await conn.execute(f"DELETE FROM {tables.sighting} WHERE key = ANY($1::text[])", list(sighting_keys))
        tagged = await conn.execute(
            f"DELETE FROM {tables.tag} WHERE (hash, tag) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
            [pair[0] for pair in tags], [pair[1] for pair in tags],
        )
    return _affected(seen) + _affected(tagged)


async def get_many(conn: Connection, tables: Tables, hashes: Sequence[str]) -> dict[str, MCard]:
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM {tables.card} WHERE hash = ANY($1::text[])", list(hashes)
    )
    return by_hash(row_cards(rows))


def seen_under(tables: Tables, mark: Any) -> str:
    """The hashes seen under a name a glob matches composed (``Filters.matches``): names already
    composed matched as they are, the others (found through the partial index
    ``names_to_compose``, else by a scan) composed first."""
    return (
        f"SELECT hash FROM {tables.sighting} WHERE name ~ {mark()} AND ({PLAIN_NAME}) AND {POSTGRES_SOUND}"
        f" UNION ALL SELECT hash FROM {tables.sighting} WHERE NOT ({PLAIN_NAME})"
        f" AND (CASE WHEN {PLAIN_NAME} THEN NULL ELSE normalize(name, NFC) END) ~ {mark()} AND {POSTGRES_SOUND}"
    )


def dialect(tables: Tables) -> sql_filters.Dialect:
    return sql_filters.Dialect(
        mark=lambda n: f"${n}", glob_value=postgres_regex, glob_operator="~",
        seen_under=lambda mark: seen_under(tables, mark),
        among=lambda mark: f"= ANY({mark}::text[])", among_value=list,
        tag_table=tables.tag, not_among=sql_filters.not_exists, probe_fence=" OFFSET 0",
    )


def _where(tables: Tables, filters: Filters, after: Optional[tuple[int, str]]) -> tuple[str, list[object]]:
    params: list[object] = []
    clauses = sql_filters.where(filters, dialect(tables), params, after, table=tables.card)
    return sql_filters.joined(clauses), params


async def ordered_page(
    conn: Connection, tables: Tables, filters: Filters, limit: Optional[int], offset: int, order: str
) -> list[MCard]:
    return [row_card(row) for row in await _ordered_rows(conn, tables, filters, limit, offset, order, "cards")]


SELECTED: Final = {
    "cards": COLUMNS,
    "heads": "hash, substring(content FROM 1 FOR $1), is_text, g_time, hash_algorithm, size, content_type",
}
"""What a page in some order reads: cards, or their rows with the content cut (``list_heads``)."""


async def heads_page(
    conn: Connection, tables: Tables, filters: Filters, limit: Optional[int], offset: int, order: str, head: int
) -> list[tuple[Any, ...]]:
    """``list_heads``' rows, in one statement (in name order, in parts)."""
    rows = await _ordered_rows(conn, tables, filters, limit, offset, order, "heads", head)
    return [tuple(row) for row in rows]


async def heads_after(
    conn: Connection, tables: Tables, filters: Filters, limit: int, after: Optional[tuple[int, str]], head: int
) -> list[tuple[Any, ...]]:
    """A newest-first page of ``iterate_heads``' rows: those after ``after`` (g_time in
    microseconds, hash), from the newest without it."""
    params: list[object] = [head]
    clauses = sql_filters.where(filters, dialect(tables), params, after, table=tables.card)
    rows = await conn.fetch(
        f"SELECT {SELECTED['heads']} FROM {tables.card}{sql_filters.joined(clauses)}{NEWEST_FIRST} LIMIT ${len(params) + 1}",
        *params, limit,
    )
    return [tuple(row) for row in rows]


async def _ordered_rows(
    conn: Connection, tables: Tables, filters: Filters, limit: Optional[int], offset: int, order: str,
    selected: str, *leading: object,
) -> list[Any]:
    """Rows of a page in ``order``: the ``SELECTED`` columns (their parameters first, ``leading``);
    in name order, of the cards in a time window, read in two parts (``name_order``) without
    sorting them all."""
    if order in BY_NAME and limit is not None and replace(filters, start_time=None, end_time=None).empty:
        return await name_order.rows(conn, tables, dialect(tables), filters, limit, offset, order, SELECTED[selected], [*leading])
    walked = await filter_walks.walk(conn, tables, dialect(tables), filters, SELECTED[selected], [*leading], limit, offset, order)
    if walked is not None:
        return walked
    params: list[object] = [*leading]
    clauses = sql_filters.where(filters, dialect(tables), params, None, table="c")
    if offset and order in filter_walks.WALK_ORDERS and replace(filters, start_time=None, end_time=None).empty:
        clauses.append(_from_the_offset(tables, clauses, params, offset, order))
        offset = 0
    return await conn.fetch(
        f"SELECT {SELECTED[selected]} FROM {tables.card} AS c{sql_filters.joined(clauses)}{orders.ordering(tables, order)}"
        f" LIMIT ${len(params) + 1} OFFSET ${len(params) + 2}",
        *params, limit, offset,
    )


def _from_the_offset(tables: Tables, clauses: list[str], params: list[object], offset: int, order: str) -> str:
    """The test keeping the rows of ``card AS c`` from the ``offset``-th one ``clauses`` (on
    its time alone) choose in ``order``, newest or oldest first, on: a sub-select finds that
    card by an index-only scan of the (g_time, hash) index, so the rows of the cards skipped
    are never read (a page of ``list_df`` at offset 99,000 of 100,000: 89-94 -> 12-15 ms)."""
    params.append(offset)
    side = "<=" if order == "newest" else ">="
    return (f"(c.g_time, c.hash) {side} (SELECT c.g_time, c.hash FROM {tables.card} AS c{sql_filters.joined(clauses)}"
            f"{orders.ordering(tables, order)} LIMIT 1 OFFSET ${len(params)})")


async def list_page(
    conn: Connection,
    tables: Tables,
    filters: Filters,
    limit: Optional[int],
    offset: int,
    after: Optional[tuple[int, str]],
    resume: Optional[tuple[int, int, str]],
) -> tuple[list[MCard], Optional[int]]:
    """A newest-first page and the change stamp it was read at (None for an empty page).

    ``resume`` is (stamp, g_time, hash) of the card just before ``offset``, remembered from an
    earlier page: when the stamp is still the same, the page continues from that card (keyset)
    instead of skipping ``offset`` rows. When nothing follows that card, the stamp read right
    after tells whether the listing has truly ended: the stamp only grows, so the same stamp
    means no write committed since the mark, hence none before the page's snapshot either.
    Otherwise the offset is skipped inside the (g_time, hash) index: a sub-select finds the
    page's first card by an index-only scan, so only the page's rows are read from the table.
    """
    if resume is not None:
        rows = await _page_rows(conn, tables, filters, limit, 0, resume[1:])
        if rows and rows[0][0] == resume[0]:
            return stamped_cards(rows), rows[0][0]
        if not rows and await conn.fetchval(f"SELECT {tables.stamp}") == resume[0]:
            return [], None
    rows = await _page_rows(conn, tables, filters, limit, offset, after)
    return stamped_cards(rows), (rows[0][0] if rows else None)


async def _page_rows(
    conn: Connection, tables: Tables, filters: Filters, limit: Optional[int], offset: int, after: Optional[tuple[int, str]]
) -> list[Any]:
    """The rows of a newest-first page, each with the change stamp: walked
    (``filter_walks``), else as ``_page_query`` plans them."""
    walked = await filter_walks.walk(conn, tables, dialect(tables), filters, f"{tables.stamp}, {COLUMNS}", [], limit, offset,
                                     after=after)
    return walked if walked is not None else await conn.fetch(*_page_query(tables, filters, limit, offset, after))


def _page_query(
    tables: Tables,
    filters: Filters,
    limit: Optional[int],
    offset: int,
    after: Optional[tuple[int, str]],
) -> tuple[object, ...]:
    where, params = _where(tables, filters, after)
    n = len(params)
    if offset:
        first = f"(SELECT g_time, hash FROM {tables.card}{where}{NEWEST_FIRST} LIMIT 1 OFFSET ${n + 2})"
        where = (f"{where} AND " if where else " WHERE ") + f"(g_time, hash) <= {first}"
    query = f"SELECT {tables.stamp}, {COLUMNS} FROM {tables.card}{where}{NEWEST_FIRST} LIMIT ${n + 1}"
    return (query, *params, limit, *([offset] if offset else []))


async def count(conn: Connection, tables: Tables, filters: Filters) -> int:
    if filters.tag_alone is not None:
        # its rows in the tag index: every tag names a stored card (a foreign key), so looking
        # each card up as well (~120 ms for 100,000 cards) counts the same
        return await conn.fetchval(f"SELECT count(*) FROM {tables.tag} WHERE tag = $1", filters.tag_alone)
    where, params = _where(tables, filters, None)
    return await conn.fetchval(f"SELECT count(*) FROM {tables.card}{where}", *params)


async def matching_rows(
    conn: Connection, tables: Tables, filters: Filters, query: Optional[bytes],
    alternatives: Sequence[Sequence[str]], indexed: bool, counted: bool, folded: Optional[str] = None,
) -> list[Any]:
    """Rows (in ``COLUMNS`` order) of every card that passes ``filters`` and may match:
    holding ``query`` (bytes) when given, else matching all the patterns of one of
    ``alternatives`` (``search.alternative_patterns``) when there are any (and, for a
    substring in any case, holding its casefold ``folded`` if plain, with alternatives or
    without: ``search.find_folded``);
    text cards through the trigram index when it helps. What decides, and sorts, is the
    caller's exact check."""
    if query is not None:
        return await search.find(conn, tables, query, indexed, counted, filters, dialect(tables))
    if alternatives or folded is not None:
        return await search.find_folded(conn, tables, alternatives, indexed, counted, folded, filters, dialect(tables))
    where, params = _where(tables, filters, None)
    return await conn.fetch(f"SELECT {COLUMNS} FROM {tables.card}{where}{NEWEST_FIRST}", *params)


WALK_BYTES: Final = 1 << 20
"""Most content bytes a walk reads; past them, the page is read through the index."""


def walk_statement(
    tables: Tables, filters: Filters, tests: search.WalkTests, counted: bool, rows: int
) -> tuple[str, list[object]]:
    """A walk down the time index (``page_walks``) for a search whose ``search.walk_tests`` are
    ``tests``: the cards among the newest ``rows`` that pass ``filters`` and may match, newest
    first, until ``WALK_BYTES`` of contents are read (large texts among the newest would
    otherwise make it read more than the index path: it reads no further contents, and the
    page falls short). The LIMIT keeps PostgreSQL from merging the walk into the statement
    around, which reads its rows in its order."""
    walk_test, params = tests.walk_test, list(tests.walk_values)
    mark = dialect(tables).mark
    bounds = []
    for value, test in zip(filters.time_bounds, ("g_time >=", "g_time <=")):
        if value is not None:
            params.append(value)
            bounds.append(f"{test} {mark(len(params))}")
    params.append(rows)
    newest = mark(len(params))
    params.append(WALK_BYTES)
    most_bytes = mark(len(params))
    clauses = sql_filters.where(filters, dialect(tables), params, None, table="walked")
    return (
        f"SELECT {COLUMNS} FROM (SELECT {COLUMNS}, text_indexed, words,"
        f" sum(CASE WHEN is_text OR {search.SEARCHED_BYTES[counted]} THEN size ELSE 0 END)"
        " OVER (ORDER BY g_time DESC, hash DESC ROWS UNBOUNDED PRECEDING) AS bytes_read"
        f" FROM {tables.card}{sql_filters.joined(bounds)} ORDER BY g_time DESC, hash DESC LIMIT {newest}) AS walked"
        f" WHERE (is_text OR {search.SEARCHED_BYTES[counted]})"
        f" AND CASE WHEN bytes_read > {most_bytes} THEN false ELSE {walk_test} END"
        f"{sql_filters.joined(clauses, ' AND ')} ORDER BY g_time DESC, hash DESC"
    ), params


async def rows_chosen(conn: Connection, tables: Tables, filters: Filters, counted: bool) -> list[tuple[bool, Any]]:
    """(passes ``filters``, row in ``COLUMNS`` order) of every card a word search may find: it
    ranks against the whole store. Once words are ``counted``, the bytes cards that are not
    UTF-8 (no text, nothing to rank) are left out, so an image is never read."""
    chosen, params = words.chosen_flag(tables, filters, dialect(tables))
    searchable = " WHERE words IS NULL OR words >= 0" if counted else ""
    rows = await conn.fetch(f"SELECT {chosen}, {COLUMNS} FROM {tables.card}{searchable}", *params)
    return [(row[0], tuple(row)[1:]) for row in rows]


async def word_search(
    conn: Connection, tables: Tables, filters: Filters, query: WordQuery, narrowed: list[words.Lookup],
    limit: Optional[int], offset: int,
) -> tuple[list[MCard], int]:
    """A word search that ``postgres_words`` ranks (``postgres_words.ranked_page``)."""
    return await words.ranked_page(conn, tables, filters, dialect(tables), query, narrowed, limit, offset)


async def ordered_word_search(
    conn: Connection, tables: Tables, filters: Filters, query: WordQuery, narrowed: list[words.Lookup],
    wanted: Optional[int], order: str,
) -> tuple[list[MCard], int]:
    """The first ``wanted`` matches of a word search that ``postgres_words`` ranks, in
    ``order``, among others (``postgres_words.ordered_matches``), and how many match in all."""
    return await words.ordered_matches(conn, tables, filters, dialect(tables), query, narrowed, wanted, order)


async def word_matches(
    conn: Connection, tables: Tables, filters: Filters, query: WordQuery, narrowed: list[words.Lookup]
) -> list[str]:
    """The hashes of every match of a word search that ``postgres_words`` ranks
    (``postgres_words.matching_keys``)."""
    return await words.matching_keys(conn, tables, filters, dialect(tables), query, narrowed)


WITHOUT_KEYS: Final = "SET LOCAL enable_seqscan TO DEFAULT; SET LOCAL plan_cache_mode = force_custom_plan"
"""For reading cards without a list of hashes (``NOT (hash = ANY($n))``), after ``left_out_keys``
(whose word search prefers indexes): planned for the list given, which PostgreSQL 14 on then
looks each card up in as a hash table; a generic plan of the prepared statement compared each
card with every hash in turn (100,000 cards without 37,000: 41 s instead of 0.2 s)."""


async def left_out_keys(
    conn: Connection, tables: Tables, filters: Filters, left_out: WordQuery, narrowed: Optional[list[words.Lookup]]
) -> list[str]:
    """The hashes of the cards passing ``filters`` that ``left_out`` matches, as a word search
    finds them (``words.matching_keys`` when ``narrowed``, else each such card checked in
    Python), in the caller's transaction, which then reads cards without them (``WITHOUT_KEYS``)."""
    if narrowed is not None:
        keys = await words.matching_keys(conn, tables, filters, dialect(tables), left_out, narrowed)
    else:
        rows = await matching_rows(conn, tables, filters, None, (), False, False)
        keys = await asyncio.to_thread(
            lambda: [card.hash for card in map(row_card, rows)
                     if (text := text_of(card.content)) is not None and left_out.matches(text)]
        )
    await conn.execute(WITHOUT_KEYS)
    return keys


async def page_without(
    conn: Connection, tables: Tables, filters: Filters, left_out: WordQuery, narrowed: Optional[list[words.Lookup]],
    limit: Optional[int], offset: int, order: str,
) -> tuple[list[MCard], int]:
    """A page of the cards passing ``filters`` that ``left_out`` does not match, in ``order``,
    and how many there are, in one snapshot: the hashes of its matches first
    (``left_out_keys``), then the page and the count without them."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        params: list[object] = []
        clauses = sql_filters.where(filters, dialect(tables), params, None, table="c")
        params.append(await left_out_keys(conn, tables, filters, left_out, narrowed))
        clauses.append(f"NOT (c.hash = ANY(${len(params)}::text[]))")
        chosen = f"FROM {tables.card} AS c{sql_filters.joined(clauses)}"
        total = await conn.fetchval(f"SELECT count(*) {chosen}", *params)
        if limit == 0:
            return [], total
        rows = await conn.fetch(
            f"SELECT {COLUMNS} {chosen}{orders.ordering(tables, order)} LIMIT ${len(params) + 1} OFFSET ${len(params) + 2}",
            *params, limit, offset,
        )
    return [row_card(row) for row in rows], total


async def index_step(conn: Connection, tables: Tables, most: int) -> int:
    """One background step of the search index, in its own transaction: cards flagged."""
    async with conn.transaction():
        return await search.index_step(conn, tables, most)


async def stats(conn: Connection, tables: Tables) -> list[tuple[str, int, int, Optional[int], Optional[int]]]:
    """``StoreStats.of_types``' rows, in one statement (one state of the store)."""
    rows = await conn.fetch(
        f"SELECT coalesce(content_type, '?') COLLATE \"C\", count(*), coalesce(sum(size), 0),"
        " min(g_time) FILTER (WHERE g_time BETWEEN $1 AND $2), max(g_time) FILTER (WHERE g_time BETWEEN $1 AND $2)"
        f" FROM {tables.card} GROUP BY 1 ORDER BY 2 DESC, 1",
        MIN_MICROS, MAX_MICROS,
    )
    return [(name, n, int(size), first, last) for name, n, size, first, last in rows]
