"""verify(), and iteration that reads one consistent snapshot while writers go on."""

import asyncio
import hashlib
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Optional

import pytest

from mcard import (
    AsyncPersistenceWrapper, MCard, PostgresConfig, Sighting, SQLiteConfig, StorageError, UnreadableCardError, ValidationError,
    VerifyReport,
)


async def test_verify_reports_nothing_on_an_intact_store(wrapper):
    await wrapper.save_many([MCard(f"intact {i}") for i in range(250)] + [MCard(b"\x00\xff")])
    report = await wrapper.verify(page_size=100, progress=False)
    assert isinstance(report, VerifyReport)
    assert report.ok and report.checked == 251 and report.damaged == [] and report.damaged_count == 0
    assert "251 cards" in str(report)


async def test_verify_of_an_empty_store(wrapper):
    report = await wrapper.verify(progress=False)
    assert report.ok and report.checked == 0


async def test_verify_and_sync_show_their_bar_only_where_asked_or_on_a_terminal(wrapper, tmp_path, capfd):
    """Here stderr is a pipe: by default no bar (as the command line), ``progress=True`` one."""
    from mcard import sync

    await wrapper.save_many([MCard(f"barred {i}") for i in range(20)])
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "copy.db")) as copy:
        assert (await wrapper.verify()).ok and (await sync(wrapper, copy)).copied == 20
        assert capfd.readouterr().err == ""
        await wrapper.verify(progress=True)
        await sync(copy, wrapper, progress=True)
    shown = capfd.readouterr().err
    assert "verify" in shown and "sync" in shown


@pytest.mark.parametrize("page_size", [0, -1, 1.5, "10", None, True])
async def test_verify_rejects_a_bad_page_size(wrapper, page_size):
    with pytest.raises(ValidationError, match="page_size"):
        await wrapper.verify(page_size=page_size, progress=False)


async def test_verify_finds_every_row_tampered_with_directly(tmp_path):
    path = tmp_path / "cards.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        cards = [await store.create(f"card {i}") for i in range(30)] + [await store.create(b"\x01\x02")]
    changed, bad_utf8, shrunk, bytes_card = cards[3], cards[7], cards[11], cards[-1]
    db = sqlite3.connect(path)
    db.execute("UPDATE card SET content = CAST('forged' AS BLOB) WHERE hash = ?", (changed.hash,))
    db.execute("UPDATE card SET content = X'C328', size = 2 WHERE hash = ?", (bad_utf8.hash,))
    db.execute("UPDATE card SET size = 1 WHERE hash = ?", (shrunk.hash,))
    db.execute("UPDATE card SET content = X'0103' WHERE hash = ?", (bytes_card.hash,))
    db.commit()
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        report = await store.verify(page_size=4, progress=False)
        assert report.checked == 31 and not report.ok
        reasons = {damaged.hash: damaged.reason for damaged in report.damaged}
        assert set(reasons) == {changed.hash, bad_utf8.hash, shrunk.hash, bytes_card.hash}
        assert "no longer hashes" in reasons[changed.hash] and "size" in reasons[shrunk.hash]
        assert changed.hash in str(report) and "4 damaged" in str(report)
        assert await store.count() == 31, "verify only reports; it changes nothing"


async def test_default_verify_hook_works_for_any_engine(tmp_path):
    """An engine without its own ``_verify`` gets the base one, built on ``_iterate``."""
    from mcard.infrastructure.persistence.engine.base_engine import BaseStore
    from mcard.infrastructure.persistence.engine.sqlite_engine import SQLiteStore

    class PagedStore(SQLiteStore):
        _iterate = BaseStore._iterate
        _verify = BaseStore._verify

    config = SQLiteConfig(tmp_path / "c.db")
    store = PagedStore(config)
    async with store:
        await store.save_many([MCard(f"paged {i}") for i in range(25)])
        card = MCard("victim")
        await store.save(card)
        await store._writer.execute("UPDATE card SET content = CAST('x' AS BLOB) WHERE hash = ?", (card.hash,))
        await store._writer.commit()
        report = await store.verify(page_size=7, progress=False)
        assert report.checked == 26 and [d.hash for d in report.damaged] == [card.hash]
        assert len([c async for c in store.iterate(page_size=3)]) == 26


async def test_long_reader_sees_one_snapshot_while_writers_are_not_blocked(tmp_path):
    path = tmp_path / "cards.db"
    old = datetime(2020, 1, 1, tzinfo=timezone.utc)
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as reader_store, \
            AsyncPersistenceWrapper(SQLiteConfig(path)) as writer_store:
        await writer_store.save_many([MCard(f"before {i}", g_time=old + timedelta(seconds=i)) for i in range(3000)])
        before = {card.hash async for card in reader_store.iterate()}
        seen = []
        cards = reader_store.iterate(page_size=100)
        seen.append(await anext(cards))
        # While the reader holds its snapshot: remove cards it has not reached yet, add cards
        # that sort into the part it has not read yet, and finish all of it without waiting.
        doomed = sorted(before)[::3]
        writes = [
            writer_store.remove_many(doomed),
            writer_store.save_many([MCard(f"during {i}", g_time=old + timedelta(seconds=i, microseconds=1)) for i in range(500)]),
            *(writer_store.create(f"single during {i}") for i in range(50)),
        ]
        results = await asyncio.wait_for(asyncio.gather(*writes), timeout=10)
        assert results[0] == len(doomed) and results[1] == 500
        for _ in range(1000):
            seen.append(await anext(cards))
        await writer_store.save_many([MCard(f"midway {i}", g_time=old) for i in range(100)])
        async for card in cards:
            seen.append(card)
        assert len(seen) == len(before) == len(set(seen))
        assert {card.hash for card in seen} == before
        assert await writer_store.count() == 3000 - len(doomed) + 500 + 50 + 100
        assert not reader_store.store._snapshots, "the snapshot connection is closed at the end"


async def test_heads_are_streamed_from_one_snapshot_too(tmp_path):
    """``iterate_heads`` (``mcard ls --limit 0``, an export past an unreadable row) lists the
    store as it was at its first row, whatever is written meanwhile, without blocking writers."""
    path = tmp_path / "cards.db"
    old = datetime(2020, 1, 1, tzinfo=timezone.utc)
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as reader_store, \
            AsyncPersistenceWrapper(SQLiteConfig(path)) as writer_store:
        await writer_store.save_many([MCard(f"before {i}", g_time=old + timedelta(seconds=i)) for i in range(300)])
        before = [row[0] for row in await reader_store.store.list_heads(head=0)]
        rows = reader_store.store.iterate_heads(10, head=0)
        seen = [(await anext(rows))[0]]
        writes = [
            writer_store.remove_many(before[50::2]),
            writer_store.save_many([MCard(f"during {i}", g_time=old + timedelta(seconds=i, microseconds=1)) for i in range(100)]),
        ]
        await asyncio.wait_for(asyncio.gather(*writes), timeout=10)
        seen += [row[0] async for row in rows]
        assert seen == before
        assert not reader_store.store._snapshots


async def test_abandoned_iteration_releases_its_snapshot(tmp_path):
    path = tmp_path / "cards.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many([MCard(f"c{i}") for i in range(50)])
        async for _card in store.iterate(page_size=10):
            break
        await asyncio.sleep(0.05)
        assert not store.store._snapshots
        iterator = store.iterate(page_size=10)
        await anext(iterator)
        assert len(store.store._snapshots) == 1
    assert not store.store._snapshots, "close() closes snapshots still open"
    with pytest.raises(StorageError):
        async for _card in iterator:
            pass


async def test_verify_reports_rows_whose_time_or_content_type_no_card_can_have(tmp_path):
    """Rows written by another tool: the hash matches the content, but the time is text or out
    of range, or the content type is markup; verify() names each, and showing them never fails."""
    import hashlib
    import sqlite3

    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.create("a true card")
    rows = {
        "text time": ("not a time", "text/plain"),
        "far future": (2**62, "text/plain"),
        "markup type": (0, "<b>x</b>"),
    }
    with sqlite3.connect(path) as db:
        for name, (g_time, content_type) in rows.items():
            data = name.encode()
            db.execute(
                "INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
                " VALUES (?, ?, 1, ?, 'sha256', ?, ?)",
                (hashlib.sha256(data).hexdigest(), data, g_time, len(data), content_type),
            )
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        report = await store.verify(progress=False)
        reasons = {damaged.hash: damaged.reason for damaged in report.damaged}
        assert report.checked == 4 and len(reasons) == 3
        assert reasons[hashlib.sha256(b"text time").hexdigest()].startswith("recorded time 'not a time'")
        assert reasons[hashlib.sha256(b"far future").hexdigest()].startswith("recorded time")
        assert reasons[hashlib.sha256(b"markup type").hexdigest()] == "recorded content type '<b>x</b>' is not a MIME type"
        for card in await store.list():
            assert repr(card).startswith("MCard(")


async def test_a_content_another_tool_stored_as_text_or_a_number_is_a_card_everywhere(tmp_path):
    """``INSERT ... VALUES ('hello')`` stores TEXT, not a BLOB. Reads gave such a card, yet
    ``verify`` called it damaged and ``remove_damaged`` deleted it; a bytes card so stored came
    back as a str, and a regular expression search failed with a raw ``TypeError`` on a number
    or on a size stored as text. Every path now reads the content's bytes alike."""
    from mcard import sync

    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.create("made by mcard")
    rows = [("hello text", 1, "hello text", 10), ("12345", 1, 12345, 5), ("bytes stored as text", 0, "bytes stored as text", 20),
            ("hello sized", 1, b"hello sized", "eleven")]
    with sqlite3.connect(path) as db:
        for expected, kind, stored, size in rows:
            db.execute("INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
                       " VALUES (?, ?, ?, 1700000000000000, 'sha256', ?, 'text/plain')",
                       (hashlib.sha256(expected.encode()).hexdigest(), stored, kind, size))
    db.close()
    hashes = {expected: hashlib.sha256(expected.encode()).hexdigest() for expected, *_ in rows}
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        report = await store.verify(progress=False)
        assert [(d.hash, d.reason) for d in report.damaged] == [
            (hashes["hello sized"], "recorded size 'eleven' but the content has 11 B")]
        assert (await store.get(hashes["hello text"])).content == "hello text"
        assert (await store.get(hashes["12345"])).content == "12345"
        assert (await store.get(hashes["bytes stored as text"])).content == b"bytes stored as text"
        listed = {card.hash: card.content for card in await store.list()}
        assert listed[hashes["bytes stored as text"]] == b"bytes stored as text" and listed[hashes["12345"]] == "12345"
        assert {card.hash async for card in store.iterate(page_size=2)} == set(listed)  # a size that is no number too
        found = await store.search(r"hel+o|\d{5}|stored", mode="regex")
        assert {card.hash for card in found} >= {hashes["hello text"], hashes["12345"], hashes["bytes stored as text"]}
        async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "copy.db")) as copy:
            result = await sync(store, copy, progress=False)
            assert result.copied == 4 and [d.hash for d in result.damaged] == [hashes["hello sized"]]
            assert (await copy.get(hashes["bytes stored as text"])).content == b"bytes stored as text"
        assert await store.remove_damaged(report.damaged) == 0, "a whole content is mended, not removed"
        assert await store.repair_damaged(report.damaged) == 1
        assert (await store.verify(progress=False)).ok and await store.count() == 5
        assert (await store.get(hashes["hello sized"])).size == 11


async def test_a_card_another_tool_stored_without_a_content_type_is_found_by_its_type(tmp_path):
    """Such a card showed its detected type (``text/plain``), yet ``type:text/plain`` and the
    type facet missed it: its row's type is filled in by the background step, as detected."""
    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.create("made by mcard")
    png = bytes.fromhex("89504e470d0a1a0a") + bytes(24)
    rows = [("a text without a type".encode(), 1), (png, 0), (b"\xc3\x28 not UTF-8", 1)]
    with sqlite3.connect(path) as db:
        db.executemany("INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
                       " VALUES (?, ?, ?, 1700000000000000, 'sha256', ?, NULL)",
                       [(hashlib.sha256(data).hexdigest(), data, kind, len(data)) for data, kind in rows])
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.wait_indexed()
        assert (await store.find("type:text/plain")).total == 2
        assert [card.content for card in await store.list(content_type="image/*")] == [png]
        assert dict((await store.facets(by=("content_type",)))["content_type"]) == {
            "text/plain": 2, "image/png": 1, "application/octet-stream": 1}
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM card WHERE content_type IS NULL").fetchone() == (0,)
    db.close()


async def test_verify_reports_sightings_and_tags_of_cards_not_stored(tmp_path):
    """Rows another tool wrote into the label tables, naming no card."""
    import sqlite3

    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        card = await store.create("a true card", name="true.txt")
    ghost = "ab" * 32
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO sighting (key, hash, name, seen_at) VALUES ('k1', ?, 'ghost.txt', 0)", (ghost,))
        db.execute("INSERT INTO tag (hash, tag) VALUES (?, 'ghostly')", (ghost,))
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        report = await store.verify(progress=False)
        for query in ("", "type:text/*"):  # reads pass over them: over every card, facets did not
            assert (await store.facets(query, by=("tag",)))["tag"] == [], query
        assert (await store.find("tag:ghostly")).total == 0
    assert report.checked == 1
    assert sorted(d.reason for d in report.damaged) == [
        "a sighting of a card that is not stored", "a tag of a card that is not stored"]
    assert {d.hash for d in report.damaged} == {ghost} and card.hash not in {d.hash for d in report.damaged}


async def test_a_tag_of_a_card_not_stored_that_is_not_utf8_text_is_named_and_removed(tmp_path):
    """Another tool's tag of no card, stored as text that is not UTF-8: ``verify`` failed with
    'a stored text card is not valid UTF-8', so nothing could remove it."""
    import sqlite3

    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        card = await store.create("a true card")
        await store.tag(card.hash, "kept")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO tag (hash, tag) VALUES (?, CAST(X'FF61' AS TEXT))", ("ab" * 32,))
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        report = await store.verify(progress=False)
        assert [(d.hash, d.reason, d.label) for d in report.damaged] == [
            ("ab" * 32, "a tag of a card that is not stored", b"\xffa")]
        assert await store.remove_damaged(report.damaged) == 1
        assert (await store.verify(progress=False)).damaged == []
        assert await store.tags(card.hash) == ["kept"]


async def test_a_tag_of_no_card_whose_hash_is_not_utf8_text_is_named_and_removed(tmp_path):
    """Another tool's tags and sighting whose hash is not stored as UTF-8 text (no card has
    it): ``verify`` failed with 'a stored text card is not valid UTF-8'; it names each by the
    hash's bytes, and ``remove_damaged`` removes those tags (it refused them), and only them: a
    tag of the same bytes stored as text is another, named as text."""
    import sqlite3

    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        card = await store.create("a true card")
        await store.tag(card.hash, "kept")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO tag (hash, tag) VALUES (CAST(X'FF61' AS TEXT), 'odd')")
        db.execute("INSERT INTO tag (hash, tag) VALUES (X'FF61', CAST(X'FE' AS TEXT))")
        db.execute("INSERT INTO tag (hash, tag) VALUES (X'6162', 'blob'), ('ab', 'blob')")
        db.execute("INSERT INTO sighting (key, hash, name, seen_at) VALUES ('k1', CAST(X'FF62' AS TEXT), 'x.txt', 0)")
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        report = await store.verify(progress=False)
        named = sorted(((d.hash, d.part, d.label, d.reason) for d in report.damaged), key=repr)
        assert named == sorted([
            (b"\xffa", "tag", "odd", "a tag of a card that is not stored"),
            (b"\xffa", "tag", b"\xfe", "a tag of a card that is not stored"),
            (b"ab", "tag", "blob", "a tag of a card that is not stored"),
            ("ab", "tag", "blob", "a tag of a card that is not stored"),
            (b"\xffb", "sighting", "k1", "a sighting of a card that is not stored"),
        ], key=repr)
        as_bytes = [d for d in report.damaged if isinstance(d.hash, bytes)]
        assert await store.remove_damaged(as_bytes) == 4
        assert [(d.hash, d.label) for d in (await store.verify(progress=False)).damaged] == [("ab", "blob")]
        assert await store.tags(card.hash) == ["kept"]


LONG_TAG = "t" * 300
LATER = 4_102_444_800_000_000
"""2100-01-01 in microseconds: a malformed sighting newer than every sound one."""


async def damaged_labels_are_named_left_out_and_removed_alone(config, tamper, tmp_path) -> None:
    """Sightings and tags another tool wrote that mcard would not store: ``verify`` names each
    as a sighting or tag, readers leave them out (an export of the store imports again, a sync
    copies the true tags; names, name filters and the name order read the sound sightings
    alone), and ``remove_damaged`` deletes them, never their cards (it deleted the card a
    sighting belonged to)."""
    from mcard import sync
    from mcard.exporting import export
    from mcard.importing import import_records

    async with AsyncPersistenceWrapper(config) as store:
        first = await store.create("first card", name="first.txt")
        second = await store.create("second card")
        await store.tag(first.hash, "fine")
    await tamper(first.hash, second.hash)
    async with AsyncPersistenceWrapper(config) as store:
        report = await store.verify(progress=False)
        assert {(d.hash, d.part, d.label) for d in report.damaged} == {
            (first.hash, "sighting", "negative size"), (second.hash, "sighting", "far past"),
            (first.hash, "tag", "tab\there"), (first.hash, "tag", " padded"), (second.hash, "tag", LONG_TAG)}
        assert await store.tags_of([first.hash, second.hash]) == {first.hash: ["fine"]}
        assert await store.tags(second.hash) == []
        assert await store.names_of([first.hash, second.hash]) == {first.hash: "first.txt"}
        assert (await store.find("name:x")).total == 0
        assert [c.hash for c in await store.find("name:first.txt")] == [first.hash]
        assert [c.hash for c in await store.find("", order="name")] == [first.hash, second.hash]
        for query in ("", "type:text/plain"):  # over every card, and over the cards a query chooses
            assert (await store.facets(query, by=("tag",)))["tag"] == [("fine", 1)]
        await export(store, tmp_path / "backup.jsonl", progress=False)
        async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "restored.db")) as restored:
            assert (await import_records(restored, tmp_path / "backup.jsonl", progress=False)).new == 2
            assert await restored.tags(first.hash) == ["fine"]
        async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "synced.db")) as synced:
            result = await sync(store, synced, progress=False)
            assert result.copied == 2 and await synced.tags(first.hash) == ["fine"]

        assert await store.remove_damaged(report.damaged) == 5
        assert (await store.verify(progress=False)).ok
        assert await store.get_many([first.hash, second.hash]) == {first.hash: first, second.hash: second}
        assert await store.tags(first.hash) == ["fine"]
        assert [s.name for s in (await store.sightings_of([first.hash]))[first.hash]] == ["first.txt"]


async def test_remove_damaged_counts_every_row_it_named(tmp_path):
    """A damaged card's own bad tag went with the card, uncounted: 2 named, "removed 1"."""
    path = tmp_path / "cards.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        card = await store.create("soon changed")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE card SET content = CAST('changed' AS BLOB) WHERE hash = ?", (card.hash,))
        db.execute("INSERT INTO tag (hash, tag) VALUES (?, ' padded')", (card.hash,))
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        report = await store.verify(progress=False)
        assert sorted(d.part for d in report.damaged) == ["card", "tag"]
        assert await store.remove_damaged(report.damaged) == 2 and (await store.verify(progress=False)).ok


async def test_damaged_sightings_and_tags_are_removed_alone_sqlite(tmp_path):
    path = tmp_path / "cards.db"

    async def tamper(first: str, second: str) -> None:
        db = sqlite3.connect(path)
        db.executemany("INSERT INTO sighting (key, hash, name, size, seen_at) VALUES (?, ?, 'x', ?, ?)",
                       [("negative size", first, -1, LATER), ("far past", second, None, -2**62)])
        db.executemany("INSERT INTO tag (hash, tag) VALUES (?, ?)",
                       [(first, "tab\there"), (first, " padded"), (second, LONG_TAG)])
        db.commit()
        db.close()

    await damaged_labels_are_named_left_out_and_removed_alone(SQLiteConfig(path), tamper, tmp_path)


@pytest.mark.postgres
async def test_damaged_sightings_and_tags_are_removed_alone_postgres(postgres_schema, tmp_path):
    import asyncpg

    url, schema = postgres_schema

    async def tamper(first: str, second: str) -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.executemany(f'INSERT INTO "{schema}".card_sighting (key, hash, name, size, seen_at)'
                                   " VALUES ($1, $2, 'x', $3, $4)",
                                   [("negative size", first, -1, LATER), ("far past", second, None, -2**62)])
            await conn.executemany(f'INSERT INTO "{schema}".card_tag (hash, tag) VALUES ($1, $2)',
                                   [(first, "tab\there"), (first, " padded"), (second, LONG_TAG)])
        finally:
            await conn.close()

    await damaged_labels_are_named_left_out_and_removed_alone(PostgresConfig(url, schema=schema), tamper, tmp_path)


SightingRow = tuple[str, str, Optional[str], Optional[str], Optional[str], int]
"""(key, hash, name, path, source, seen_at) of a sighting row as another tool writes it."""
KEPT_NAME = 'C:\\Users\\"ann"\u00a0°.txt'
"""A name mcard stores (a backslash, quotes, characters past ASCII), seen later than the card."""


def sqlite_sighting_writer(path) -> Callable[[list[SightingRow]], Awaitable[None]]:
    """Writes sighting rows into the SQLite store at ``path`` as another tool does."""

    async def write_rows(rows: list[SightingRow]) -> None:
        db = sqlite3.connect(path)
        db.executemany("INSERT INTO sighting (key, hash, name, path, source, seen_at) VALUES (?, ?, ?, ?, ?, ?)", rows)
        db.commit()
        db.close()

    return write_rows


def postgres_sighting_writer(url: str, schema: str) -> Callable[[list[SightingRow]], Awaitable[None]]:
    """Writes sighting rows into the PostgreSQL store in ``schema`` as another tool does."""

    async def write_rows(rows: list[SightingRow]) -> None:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            await conn.executemany(f'INSERT INTO "{schema}".card_sighting (key, hash, name, path, source, seen_at)'
                                   " VALUES ($1, $2, $3, $4, $5, $6)", rows)
        finally:
            await conn.close()

    return write_rows


def refused_label_rows(first: str, second: str, with_nul: bool) -> tuple[list[SightingRow], list[SightingRow]]:
    """Sighting rows with the names, paths and sources ``Sighting.of`` takes (kept) and refuses
    (newer, so a read that let them through would name the card by them)."""
    kept = [
        ("longest name", first, "é" * 4096, "p" * 4096, "upload", LATER - 1),
        ("kept", first, KEPT_NAME, "dir\\sub/x.txt", "\\\\share\\root", LATER),
    ]
    refused = [
        ("all empty", first, "", "", "", LATER + 1),
        ("empty path", first, "x.txt", "", None, LATER + 2),
        ("long path", first, "x.txt", "p" * 4097, None, LATER + 3),
        ("long name", first, "é" * 4097, None, None, LATER + 4),
        ("tab in name", first, "tab\there", None, None, LATER + 5),
        ("C1 control in source", first, "x.txt", None, "upload\x85", LATER + 6),
        ("DEL in path", first, "x.txt", "a\x7fb", None, LATER + 7),
        ("empty source", second, None, None, "", LATER + 8),
    ]
    if with_nul:  # PostgreSQL's text holds no NUL
        refused.append(("NUL in name", first, "x\x00.txt", None, None, LATER + 9))
    return kept, refused


async def refused_labels_are_named_left_out_and_removed_alone(config, write_rows, with_nul: bool, tmp_path) -> None:
    """Sightings another tool wrote with a name, path or source ``Sighting.of`` refuses (empty,
    over 4096 characters, a control character): ``verify`` names each, names, name filters,
    sightings, export and sync leave them out (the export imports again: it stopped at such a
    line), and ``remove_damaged`` deletes them alone."""
    from mcard import sync
    from mcard.exporting import export
    from mcard.importing import import_records

    async with AsyncPersistenceWrapper(config) as store:
        first = await store.create("first card", name="first.txt")
        second = await store.create("second card")
    kept, refused = refused_label_rows(first.hash, second.hash, with_nul)
    await write_rows(kept + refused)
    kept_names = ["first.txt", "é" * 4096, KEPT_NAME]
    async with AsyncPersistenceWrapper(config) as store:
        report = await store.verify(progress=False)
        assert {(d.hash, d.part, d.label) for d in report.damaged} == {(row[1], "sighting", row[0]) for row in refused}
        assert all("name, path or source is empty" in d.reason for d in report.damaged)
        assert await store.names_of([first.hash, second.hash]) == {first.hash: KEPT_NAME}
        seen = await store.sightings_of([first.hash, second.hash])
        assert list(seen) == [first.hash] and [s.name for s in seen[first.hash]] == kept_names
        assert (await store.find("name:x.txt")).total == 0

        await export(store, tmp_path / "backup.jsonl", progress=False)
        async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "restored.db")) as restored:
            assert (await import_records(restored, tmp_path / "backup.jsonl", progress=False)).new == 2
            assert await restored.names_of([first.hash, second.hash]) == {first.hash: KEPT_NAME}
        async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "synced.db")) as synced:
            assert (await sync(store, synced, progress=False)).copied == 2
            assert [s.name for s in await synced.sightings(first.hash)] == kept_names
            assert await synced.sightings(second.hash) == []

        assert await store.remove_damaged(report.damaged) == len(refused)
        assert (await store.verify(progress=False)).ok
        assert await store.get_many([first.hash, second.hash]) == {first.hash: first, second.hash: second}
        assert [s.name for s in await store.sightings(first.hash)] == kept_names


async def test_sightings_with_a_name_path_or_source_mcard_refuses_are_left_out_sqlite(tmp_path):
    path = tmp_path / "cards.db"
    await refused_labels_are_named_left_out_and_removed_alone(SQLiteConfig(path), sqlite_sighting_writer(path), True, tmp_path)


@pytest.mark.postgres
async def test_sightings_with_a_name_path_or_source_mcard_refuses_are_left_out_postgres(postgres_schema, tmp_path):
    url, schema = postgres_schema
    await refused_labels_are_named_left_out_and_removed_alone(
        PostgresConfig(url, schema=schema), postgres_sighting_writer(url, schema), False, tmp_path)


def label_values(with_nul: bool) -> list[str]:
    """Names, paths and sources at each edge of what a sighting holds: every character below
    U+0300 between two letters, and empty, longest and one too long texts of one, two and four
    bytes a character."""
    values = [f"a{chr(code)}b" for code in range(0 if with_nul else 1, 0x300)]
    values += [chr(code) for code in (0x7F, 0x80, 0x9F, 0xA0, 0x2028, 0xFEFF, 0xFFFD, 0x10FFFF)]
    return values + ["", "x" * 4096, "x" * 4097, "é" * 4096, "é" * 4097, "\U0001F600" * 4096, "\U0001F600" * 4097, '"', "\\", "a\\u0001"]


async def stored_labels_are_judged_as_sighting_of_judges_them(config, write_rows, with_nul: bool) -> None:
    """Each name, path or source another tool stores: ``verify`` names the row exactly when
    ``Sighting.of`` refuses it, and ``sightings_of`` and ``names_of`` read the others alone
    (every refused row is newer than every other, so ``names_of`` passes over them all)."""
    async with AsyncPersistenceWrapper(config) as store:
        card = await store.create("labelled card")
    taken: list[tuple[str, Optional[str], Optional[str], Optional[str]]] = []
    refused: list[tuple[str, Optional[str], Optional[str], Optional[str]]] = []
    for number, value in enumerate(label_values(with_nul)):
        for column in range(3):
            labels: list[Optional[str]] = ["name.txt", None, "source"]
            labels[column] = value
            try:
                Sighting.of(card.hash, name=labels[0], path=labels[1], source=labels[2])
            except ValidationError:
                refused.append((f"{column}:{number}", *labels))
            else:
                taken.append((f"{column}:{number}", *labels))
    taken.append(("latest kept", "latest kept.txt", None, None))
    rows = [(key, card.hash, name, path, source, LATER + at) for at, (key, name, path, source) in enumerate(taken + refused)]
    await write_rows(rows)
    async with AsyncPersistenceWrapper(config) as store:
        report = await store.verify(progress=False)
        assert sorted(d.label for d in report.damaged) == sorted(row[0] for row in refused)
        seen = (await store.sightings_of([card.hash]))[card.hash]
        assert [(s.name, s.path, s.source) for s in seen] == [row[1:] for row in taken]
        assert await store.names_of([card.hash]) == {card.hash: "latest kept.txt"}


async def test_stored_labels_are_judged_as_sighting_of_judges_them_sqlite(tmp_path):
    path = tmp_path / "cards.db"
    await stored_labels_are_judged_as_sighting_of_judges_them(SQLiteConfig(path), sqlite_sighting_writer(path), True)


@pytest.mark.postgres
async def test_stored_labels_are_judged_as_sighting_of_judges_them_postgres(postgres_schema):
    url, schema = postgres_schema
    await stored_labels_are_judged_as_sighting_of_judges_them(
        PostgresConfig(url, schema=schema), postgres_sighting_writer(url, schema), False)


STORED_UNDER_NO_HASH = ["../../x\x1b[31m", hashlib.sha256(b"x").hexdigest().upper(), 'a"b\\c', "zz" * 32, "é" * 10]
"""Hashes another tool may store rows under that ``remove()`` refuses to take (not hex)."""


async def test_remove_damaged_takes_away_what_verify_named_even_under_no_hash_sqlite(tmp_path):
    path = tmp_path / "cards.db"

    async def tamper(rows, forged) -> None:
        db = sqlite3.connect(path)
        db.executemany("INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        db.execute("UPDATE card SET content = CAST('tampered' AS BLOB) WHERE hash = ?", (forged,))
        db.commit()
        db.close()

    await removing_what_verify_named(SQLiteConfig(path), tamper)


async def test_remove_damaged_takes_away_a_card_stored_under_a_hash_of_bytes(tmp_path):
    """Another tool wrote a hash as a BLOB (``hexdigest().encode()``): ``verify`` named it, and
    ``remove_damaged`` refused the whole report, so no damaged row could be removed. The true
    card whose hash is the same text stays."""
    path = tmp_path / "cards.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        kept = await store.create("a true card")
    with sqlite3.connect(path) as db:
        db.executemany("INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
                       " VALUES (?, ?, 1, 1700000000000000, 'sha256', ?, 'text/plain')",
                       [(kept.hash.encode(), b"a true card", 11), ("../x", b"px", 2)])
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        report = await store.verify(progress=False)
        assert sorted(map(repr, (card.hash for card in report.damaged))) == sorted(map(repr, [kept.hash.encode(), "../x"]))
        assert await store.remove_damaged(report.damaged) == 2
        assert (await store.verify(progress=False)).ok
        assert [card.hash for card in await store.list()] == [kept.hash]


@pytest.mark.postgres
async def test_remove_damaged_takes_away_what_verify_named_even_under_no_hash_postgres(postgres_schema):
    import asyncpg

    url, schema = postgres_schema

    async def tamper(rows, forged) -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.executemany(f'INSERT INTO "{schema}".card (hash, content, is_text, g_time, hash_algorithm, size,'
                                   " content_type) VALUES ($1, $2, $3, $4, $5, $6, $7)", rows)
            await conn.execute(f"""UPDATE "{schema}".card SET content = 'tampered'::bytea WHERE hash = $1""", forged)
        finally:
            await conn.close()

    await removing_what_verify_named(PostgresConfig(url, schema=schema), tamper)


async def removing_what_verify_named(config, tamper) -> None:
    """Rows under strings ``remove()`` refuses (not hex) and a tampered card: ``verify()``
    names them, ``remove_damaged`` takes exactly those away, all at once."""
    async with AsyncPersistenceWrapper(config) as store:
        kept = await store.create("a true card")
        forged = await store.create("forged later")
    await tamper([(key, b"x", True, 1_700_000_000_000_000, "sha256", 1, "text/plain") for key in STORED_UNDER_NO_HASH],
                 forged.hash)
    async with AsyncPersistenceWrapper(config) as store:
        for key in STORED_UNDER_NO_HASH:
            if key.lower() != hashlib.sha256(b"x").hexdigest():
                with pytest.raises(ValidationError):
                    await store.remove(key)
            else:  # read as its lower case, which no row has
                assert not await store.remove(key)
        report = await store.verify(progress=False)
        assert sorted(card.hash for card in report.damaged) == sorted([*STORED_UNDER_NO_HASH, forged.hash])
        with pytest.raises(ValidationError, match="DamagedCard"):
            await store.remove_damaged([*report.damaged, kept.hash])
        assert await store.count() == 2 + len(STORED_UNDER_NO_HASH), "a refused call removes nothing"
        # The row under the upper case of the hash of its content holds that content whole:
        # removed only once it is stored under its true hash.
        assert await store.remove_damaged(report.damaged) == len(report.damaged) - 1
        assert await store.repair_damaged(report.damaged) == 1
        assert await store.remove_damaged(report.damaged) == 1
        assert (await store.verify(progress=False)).ok
        assert {card.hash: card.content for card in await store.list()} == {
            kept.hash: "a true card", hashlib.sha256(b"x").hexdigest(): "x"}
        assert await store.remove_damaged(report.damaged) == 0


async def test_labels_stored_as_text_that_is_not_utf8_are_named_and_removed(tmp_path):
    """SQLite keeps whatever bytes another tool casts to TEXT. One such sighting name made every
    listing fail ("not valid UTF-8: verify names it") while verify said nothing was damaged; one
    such tag made verify itself fail. Both are named now, and removed alone."""
    path = tmp_path / "cards.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        card = await store.create("a card with foreign labels", name="kept.txt")
        await store.tag(card.hash, "kept")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO sighting (key, hash, name, seen_at) VALUES ('k1', ?, CAST(X'FF41' AS TEXT), 9999999999999999)",
                   (card.hash,))
        db.execute("INSERT INTO tag (hash, tag) VALUES (?, CAST(X'FF42' AS TEXT))", (card.hash,))
        db.execute("INSERT INTO tag (hash, tag) VALUES (?, X'43')", (card.hash,))
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        # a name filter passes such a name by (it failed: "user-defined function raised exception")
        assert [c.hash for c in await store.list(name="kept*")] == [card.hash] and await store.count(name="*A") == 0
        for read in (store.names_of([card.hash]), store.tags(card.hash)):  # said as such, not as a card
            with pytest.raises(StorageError, match="a stored name or tag is not valid UTF-8") as caught:
                await read
            assert not isinstance(caught.value, UnreadableCardError)
        for fields in (("content_type", "tag"), ("tag", "content_type")):  # a union names its values by its first part
            for query in ("", "card"):  # over every card, a statement a field; over a query's, a union
                with pytest.raises(StorageError, match="a stored (name|content type) or tag is not valid UTF-8") as caught:
                    await store.facets(query, by=fields)
                assert not isinstance(caught.value, UnreadableCardError)
        report = await store.verify(progress=False)
        named = sorted((damaged.part, damaged.label) for damaged in report.damaged)
        assert named == [("sighting", "k1"), ("tag", b"C"), ("tag", b"\xffB")]
        reasons = {damaged.label: damaged.reason for damaged in report.damaged}
        assert "not UTF-8" in reasons["k1"] and "not UTF-8" in reasons[b"\xffB"] and "not bytes" in reasons[b"C"]
        assert await store.remove_damaged(report.damaged) == 3
        assert (await store.verify(progress=False)).ok
        assert await store.names_of([card.hash]) == {card.hash: "kept.txt"} and await store.tags(card.hash) == ["kept"]
