"""The SQLite schema: version 1 files are upgraded in place, newer versions are refused,
the search index follows every write."""

import asyncio
import re
import sqlite3
from datetime import timedelta
from typing import Final

import pytest

from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig, StorageError
from mcard.domain.query import WordQuery, tokens
from mcard.domain.query.ranking import Scores, stats_of
from mcard.domain.query.text import WORD_RULES
from mcard.infrastructure.persistence.engine import sqlite_card_key as card_key
from mcard.infrastructure.persistence.engine import sqlite_schema as schema
from mcard.infrastructure.persistence.engine import sqlite_search
from mcard.infrastructure.persistence.engine.card_rows import card_row

INDEXED_UP_TO = "SELECT value FROM mcard_meta WHERE key = 'text_indexed'"
SCHEMA_V3 = """
CREATE TABLE card (id INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT NOT NULL UNIQUE, content BLOB NOT NULL,
                   is_text INTEGER NOT NULL, g_time INTEGER NOT NULL, hash_algorithm TEXT NOT NULL,
                   size INTEGER NOT NULL, content_type TEXT);
CREATE INDEX card_by_time ON card (g_time, hash);
CREATE INDEX card_with_nul ON card (id) WHERE is_text = 1 AND instr(content, x'00') > 0;
CREATE VIRTUAL TABLE card_text USING fts5(content, content='', tokenize='trigram case_sensitive 1');
CREATE TABLE card_text_garbage (id INTEGER PRIMARY KEY, content BLOB NOT NULL);
CREATE TABLE mcard_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO mcard_meta (key, value) VALUES ('schema_version', 3), ('changes', 0), ('text_indexed', 0);
CREATE TRIGGER card_deleted AFTER DELETE ON card BEGIN
    UPDATE mcard_meta SET value = value + 1 WHERE key = 'changes';
    INSERT INTO card_text_garbage (id, content) SELECT old.id, old.content
    WHERE old.id <= (SELECT value FROM mcard_meta WHERE key = 'text_indexed') AND old.is_text = 1;
END;
"""
"""The schema as the previous mcard wrote it (version 3)."""
SCHEMA_V1 = """
CREATE TABLE card (hash TEXT PRIMARY KEY, content BLOB NOT NULL, is_text INTEGER NOT NULL,
                   g_time INTEGER NOT NULL, hash_algorithm TEXT NOT NULL, size INTEGER NOT NULL);
CREATE INDEX card_by_time ON card (g_time, hash);
CREATE TABLE mcard_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO mcard_meta (key, value) VALUES ('schema_version', 1), ('changes', 0);
"""


def write_old(path, cards, version=1):
    """A file as an older mcard wrote it: schema 1, 2 (with content types) or 3 (the index
    without the triggers that make each background step one statement)."""
    if version == 3:
        with sqlite3.connect(path) as db:
            db.executescript(SCHEMA_V3)
            db.executemany(
                "INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)", [card_row(c) for c in cards],
            )
        db.close()
        return
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_V1)
        if version == 1:
            db.executemany("INSERT INTO card VALUES (?, ?, ?, ?, ?, ?)", [card_row(c)[:6] for c in cards])
        else:
            db.execute("ALTER TABLE card ADD COLUMN content_type TEXT")
            db.executemany("INSERT INTO card VALUES (?, ?, ?, ?, ?, ?, ?)", [card_row(c) for c in cards])
            db.execute("UPDATE mcard_meta SET value = 2 WHERE key = 'schema_version'")
    db.close()


@pytest.mark.parametrize("version", [1, 2, 3])
async def test_older_file_is_upgraded_with_a_search_index(tmp_path, version):
    path = tmp_path / "old.db"
    cards = [MCard(f"old note {i}") for i in range(50)] + [MCard(b"old bytes note"), MCard("x\x00old note")]
    write_old(path, cards, version)
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        assert await store.get_many([c.hash for c in cards]) == {c.hash: c for c in cards}
        assert sorted(c.hash for c in await store.search("old note")) == sorted(
            c.hash for c in cards if c.is_text
        )
        await store.store.wait_indexed()
        found = await store.search("old note")
        assert sorted(c.hash for c in found) == sorted(c.hash for c in cards if c.is_text)
        new = await store.create("a new note")
        assert await store.search("new note") == [new]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM mcard_meta WHERE key = 'schema_version'").fetchone() == (schema.SCHEMA_VERSION,)
        assert db.execute("SELECT count(*) FROM card_text WHERE card_text MATCH '\"old note\"'").fetchone() == (50,)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()


async def test_index_is_built_in_the_background_and_not_by_close(tmp_path):
    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many([MCard(f"bulk {i}") for i in range(3000)])
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM mcard_meta WHERE key = 'text_indexed'").fetchone() == (0,)
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        indexed = 0
        for _ in range(200):
            await asyncio.sleep(0.05)
            [(indexed,)] = await store.store._writer.fetch(INDEXED_UP_TO)
            if indexed == 3000:
                break
        assert indexed == 3000
        assert len(await store.search("bulk 29")) == 111


async def test_newer_schema_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "future.db"
    write_old(path, [MCard("from the future")])
    with sqlite3.connect(path) as db:
        db.execute("UPDATE mcard_meta SET value = 99 WHERE key = 'schema_version'")
    db.close()
    before = path.read_bytes()
    with pytest.raises(StorageError, match="version 99"):
        await AsyncPersistenceWrapper(SQLiteConfig(path)).initialize()
    assert path.read_bytes() == before


async def test_index_is_exact_after_removes_and_reinserts(tmp_path):
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        cards = [MCard(f"word{i % 3} card {i}") for i in range(30)]
        await store.save_many(cards[:20])
        await store.store.wait_indexed()
        await store.save_many(cards[20:])
        await store.remove_many([c.hash for c in cards if "word1" in c.content])
        await store.save(cards[1])
        assert [c.hash for c in await store.search("word1")] == [cards[1].hash]
        await store.store.wait_indexed()
        assert [c.hash for c in await store.search("word1")] == [cards[1].hash]
        rows = await store.store._writer.fetch("SELECT count(*) FROM card_text WHERE card_text MATCH 'card'")
        assert rows == [(await store.count(),)]
        rows = await store.store._writer.fetch("SELECT count(*) FROM card_words WHERE card_words MATCH 'card'")
        assert rows == [(await store.count(),)]


async def test_word_index_scores_as_the_reference_does(tmp_path):
    """FTS5's bm25() over ``card_words`` is ``ranking.Scores`` to the last bit."""
    texts = ["fox fox quick", "Fox, brown fox!", "quick brown dog", "straße fox", "x"]
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        await store.save_many([MCard(text) for text in texts])
        await store.store.wait_indexed()
        for query in ("fox", "fox quick", '"brown fox" OR dog', "qu*"):
            words = WordQuery.parse(query)
            stats = stats_of(words, [tokens(text) for text in texts])
            rows = await store.store._writer.fetch(
                "SELECT -bm25(card_words), CAST(content AS TEXT) FROM card_words JOIN card ON card.id = card_words.rowid"
                " WHERE card_words MATCH ?", (sqlite_search.word_expression(words),),
            )
            assert rows and {text: value for value, text in rows} == {
                text: Scores(words, stats).of(tokens(text)) for _, text in rows
            }


async def test_indexes_are_rebuilt_for_another_unicode_version(tmp_path):
    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many([MCard(f"Straße number {i}") for i in range(40)])
        await store.store.wait_indexed()
    with sqlite3.connect(path) as db:  # as if indexed under another Unicode, and left wrong
        for name, function in (("mcard_searchable", schema.searchable), ("mcard_words", schema.words),
                               ("mcard_word_count", schema.word_count)):
            db.create_function(name, -1, function)
        db.execute("INSERT INTO card_words (card_words) VALUES ('delete-all')")
        db.execute("UPDATE mcard_meta SET value = 1 WHERE key = 'unicode_version'")
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.store.wait_indexed()
        assert len(await store.search("strasse number", mode="words")) == 40
        assert len(await store.search("STRASSE", case_sensitive=False)) == 40
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM mcard_meta WHERE key = 'unicode_version'").fetchone() == (
            schema.UNICODE_VERSION,
        )


async def test_a_word_index_built_by_other_word_rules_is_rebuilt(tmp_path):
    """A store indexed when a word stopped at a combining mark (``हिन्दी`` as ह न द) gets the
    words of these rules when opened for writing: its index would otherwise miss the word."""
    path = tmp_path / "c.db"
    texts = ["मैं हिन्दी बोलता हूँ", "plain words"]
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many([MCard(text) for text in texts])
        await store.store.wait_indexed()
    split_at_marks = lambda content, is_text: " ".join(re.findall(r"[^\W_]+", bytes(content).decode().casefold()))
    with sqlite3.connect(path) as db:  # the index as the earlier rules built it
        for name, function in (("mcard_searchable", schema.searchable), ("mcard_words", schema.words),
                               ("mcard_word_count", schema.word_count)):
            db.create_function(name, -1, function)
        db.execute("INSERT INTO card_words (card_words) VALUES ('delete-all')")
        for key, content, is_text in db.execute("SELECT id, content, is_text FROM card").fetchall():
            db.execute("INSERT INTO card_words (rowid, words) VALUES (?, ?)", (key, split_at_marks(content, is_text)))
        db.execute("UPDATE mcard_meta SET value = 1 WHERE key = 'word_rules'")
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.store.wait_indexed()
        assert [card.content for card in await store.search("हिन्दी", mode="words")] == [texts[0]]
        assert await store.search("ह न द", mode="words") == []
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM mcard_meta WHERE key = 'word_rules'").fetchone() == (WORD_RULES,)


OLD_TRIGGERS = (
    """CREATE TRIGGER card_text_extended AFTER UPDATE OF value ON mcard_meta
        WHEN new.key = 'text_indexed' AND new.value > old.value BEGIN
        INSERT INTO card_searchable (id, has_nul, words)
            SELECT id, instr(folded, char(0)) > 0, mcard_word_count(content, is_text) FROM (
                SELECT id, content, is_text, mcard_searchable(content, is_text) AS folded
                FROM card WHERE id > old.value AND id <= new.value) WHERE folded IS NOT NULL;
        INSERT INTO card_text (rowid, content)
            SELECT card.id, mcard_searchable(content, is_text) FROM card JOIN card_searchable USING (id)
            WHERE card.id > old.value AND card.id <= new.value AND NOT has_nul;
        INSERT INTO card_words (rowid, words)
            SELECT card.id, mcard_words(content, is_text) FROM card JOIN card_searchable USING (id)
            WHERE card.id > old.value AND card.id <= new.value;
    END""",
    """CREATE TRIGGER card_text_purged AFTER DELETE ON card_text_garbage BEGIN
        INSERT INTO card_text (card_text, rowid, content)
            SELECT 'delete', old.id, folded FROM (SELECT mcard_searchable(old.content, old.is_text) AS folded)
            WHERE instr(folded, char(0)) = 0;
        INSERT INTO card_words (card_words, rowid, words)
            VALUES ('delete', old.id, mcard_words(old.content, old.is_text));
    END""",
    """CREATE TRIGGER card_deleted AFTER DELETE ON card BEGIN
        UPDATE mcard_meta SET value = value + 1 WHERE key = 'changes';
        INSERT INTO card_text_garbage (id, content, is_text) SELECT old.id, old.content, old.is_text
            WHERE EXISTS (SELECT 1 FROM card_searchable WHERE id = old.id);
        DELETE FROM card_searchable WHERE id = old.id;
        DELETE FROM sighting WHERE hash = old.hash;
        DELETE FROM tag WHERE hash = old.hash;
    END""",
)
"""The triggers of an earlier mcard (schema 4): every text folded and split in Python, and the
change counter bumped by an UPDATE (which other tools' connections could not run)."""


async def test_cards_indexed_by_older_triggers_stay_exact_under_the_current_ones(tmp_path):
    """A store opened for writing replaces older indexing triggers; the entries they made are
    the ones the current triggers make, so removing those cards leaves no entry behind."""
    path = tmp_path / "c.db"
    texts = ["Plain ASCII card_one", "Straße card two", "KELVIN \u212a card three", "nul\x00 card four",
             "MiXeD-case, card five!", "\ufb01ve ligature card six"]
    cards = [MCard(text) for text in texts] + [MCard("bytes card seven".encode()), MCard(b"\xff\xfe card eight")]
    async with AsyncPersistenceWrapper(SQLiteConfig(path)):
        pass
    with sqlite3.connect(path) as db:
        for name, function in (("mcard_searchable", schema.searchable), ("mcard_words", schema.words),
                               ("mcard_word_count", schema.word_count)):
            db.create_function(name, 2, function)
        for name, sql in zip(("card_text_extended", "card_text_purged", "card_deleted"), OLD_TRIGGERS):
            db.execute(f"DROP TRIGGER {name}")
            db.execute(sql)
        db.executemany(
            "INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)", [card_row(card) for card in cards],
        )
        db.execute("UPDATE mcard_meta SET value = (SELECT max(id) FROM card) WHERE key = 'text_indexed'")
        assert db.execute("SELECT count(*) FROM card_searchable").fetchone() == (7,)
    db.close()

    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        stored = dict(await store.store._writer.fetch(schema.STORED_TRIGGERS))
        assert {name: stored[name] for name in schema.OWN_TRIGGERS} == schema.OWN_TRIGGERS
        fresh = [MCard("Another ASCII card nine"), MCard("Ärger card ten")]
        await store.save_many(fresh)
        await store.store.wait_indexed()
        assert len(await store.search("CARD", case_sensitive=False)) == 9
        assert len(await store.search("card", mode="words")) == 9
        assert [c.hash for c in await store.search("kelvin k", case_sensitive=False)] == [cards[2].hash]
        assert {c.hash for c in await store.search("five", mode="words")} == {cards[4].hash, cards[5].hash}
        assert {c.hash for c in await store.search("ascii card", case_sensitive=False)} == {cards[0].hash, fresh[0].hash}
        assert {c.hash for c in await store.search("ärger", mode="words")} == {fresh[1].hash}
        await store.remove_many([card.hash for card in cards + fresh if card.hash != cards[1].hash])
        await store.store.wait_indexed()
        for index in ("card_text", "card_words"):
            rows = await store.store._writer.fetch(f"SELECT rowid FROM {index} WHERE {index} MATCH 'card'")
            assert rows == [(2,)]  # the second card stored
        assert [c.hash for c in await store.search("STRASSE", case_sensitive=False)] == [cards[1].hash]



async def test_another_tool_removes_and_adds_cards_without_mcards_functions(tmp_path):
    """Another tool's connection, without mcard's SQL functions, can delete and insert cards:
    the store open beside it sees the changes, searches find the new card at once, and the
    index drops the removed card and takes the new one."""
    path = tmp_path / "c.db"
    kept, removed = MCard("a note about quokkas"), MCard("another note about quokkas")
    added = MCard("quokkas again, from another tool", g_time=kept.g_time - timedelta(days=1))
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many([kept, removed])
        await store.tag(removed.hash, "holiday")
        await store.store.wait_indexed()
        assert len(await store.list(1)) == 1  # a page whose end is remembered until a change
        with sqlite3.connect(path) as other:
            other.execute("DELETE FROM card WHERE hash = ?", (removed.hash,))
            other.execute("INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
                          " VALUES (?, ?, ?, ?, ?, ?, ?)", card_row(added))
        other.close()
        assert await store.get(removed.hash) is None
        assert [card.hash for card in await store.list(1, 0)] == [kept.hash]
        assert [card.hash for card in await store.list(1, 1)] == [added.hash]
        assert await store.tags(removed.hash) == []
        for _ in range(2):  # the new card scanned, then found in the index
            assert [card.hash for card in await store.search("QUOKKAS", case_sensitive=False)] == [kept.hash, added.hash]
            assert {card.hash for card in await store.search("quokkas", mode="words")} == {kept.hash, added.hash}
            await store.tag(kept.hash, "seen")  # a write of the store's own wakes its indexer
            await store.store.wait_indexed()
        for index in ("card_text", "card_words"):
            rows = await store.store._writer.fetch(f"SELECT rowid FROM {index} WHERE {index} MATCH 'quokkas'")
            assert rows == [(1,), (3,)]  # the card stored first and the one the other tool added

async def test_a_card_another_tool_puts_back_under_its_old_id_is_indexed_by_the_next_session(tmp_path):
    """A row put back as it was exported (``sqlite-utils insert`` of ``rows``), id and all: its
    id is one the indexes already cover, and no trigger follows an insert, so searches missed
    it for good. The next session opened for writing finds and indexes it, once; a bytes card
    and a text that is not UTF-8 (a damaged card) are left as they were."""
    path = tmp_path / "c.db"
    cards = [MCard("apple pie"), MCard("banana split"), MCard(b"\x89PNG banana bytes"), MCard("to be damaged")]
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many(cards)
        await store.store.wait_indexed()
        exported = await store.store._writer.fetch(f"SELECT id, {COLUMNS} FROM card ORDER BY id")
        await store.remove_many([card.hash for card in cards[1:]])
        await store.store.wait_indexed()
    damaged = (*exported[3][:2], b"\xe2\x82banana", *exported[3][3:])  # an unfinished character: not indexed
    with sqlite3.connect(path) as other:
        other.executemany(f"INSERT INTO card (id, {COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          [exported[1], exported[2], damaged])
    other.close()
    for _ in range(2):
        async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
            await store.store.wait_indexed()
            for found in (await store.search("BANANA", case_sensitive=False), await store.search("banana", mode="words"),
                          await store.search("ban+ana", mode="regex")):
                assert [card.hash for card in found] == [cards[1].hash]
            assert await store.store._writer.fetch(schema.PASSED_OVER_TEXTS) == [(4,)]
            assert await store.store._writer.fetch("SELECT count(*) FROM card_words WHERE card_words MATCH 'banana'") == [(1,)]


def rebuild_card_table(path, change=lambda table: table) -> None:
    """Rebuild the card table as ``sqlite-utils transform`` does: a new table (its SQL
    ``change``d), the rows copied, ids and all, the old table and its triggers dropped, its
    indexes made again. AUTOINCREMENT's sequence starts again at the highest id copied."""
    with sqlite3.connect(path) as db:
        [(table,)] = db.execute("SELECT sql FROM sqlite_master WHERE name = 'card'").fetchall()
        indexes = [sql for (sql,) in db.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'card' AND type = 'index' AND sql IS NOT NULL")]
        db.execute("PRAGMA legacy_alter_table = ON")
        db.execute("ALTER TABLE card RENAME TO card_old")
        db.execute(change(table))
        db.execute("INSERT INTO card SELECT * FROM card_old")
        db.execute("DROP TABLE card_old")
        for index in indexes:
            db.execute(index)
    db.close()


async def test_a_card_table_whose_id_lost_its_key_is_refused_for_writing_and_read_with_a_warning(tmp_path, caplog):
    """``sqlite-utils transform --pk hash`` rebuilds the card table with ``id`` a plain column:
    cards mcard then stored got no id, and no search found them. Opened for writing, such a
    store is refused, left as it was; opened read-only, its cards are listed (to be exported).
    A store that has it open stops writing once its background step sees it."""
    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.create("old apple")
        rebuild_card_table(path, lambda table: table.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER").replace(
            "NOT NULL UNIQUE", "PRIMARY KEY"))
        await store.store.wait_indexed()
        with pytest.raises(StorageError, match="INTEGER PRIMARY KEY"):
            await store.create("new apple")
    before = path.read_bytes()
    with pytest.raises(StorageError, match="INTEGER PRIMARY KEY.*read-only to export"):
        async with AsyncPersistenceWrapper(SQLiteConfig(path)):
            pass
    assert path.read_bytes() == before
    async with AsyncPersistenceWrapper(SQLiteConfig(path, read_only=True)) as store:
        assert [card.content for card in await store.list()] == ["old apple"]
    assert "searches may miss cards" in caplog.text


@pytest.mark.parametrize("opened", [False, True], ids=["store closed", "store open"])
async def test_what_another_tool_writes_after_rebuilding_the_card_table_is_searched_as_it_is(tmp_path, opened):
    """A rebuild of the card table drops its triggers, so the writes that follow went unseen:
    an updated card was searched as its old content, a removed one's words still counted. A
    store that finds the table's triggers gone rebuilds its search indexes."""
    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        cards = await store.save_many([MCard("cherry tart"), MCard("banana split"), MCard("apple pie")])
        await store.store.wait_indexed()
    kiwi = card_row(MCard("kiwi tart"))

    def rebuild_and_write() -> None:
        rebuild_card_table(path)
        with sqlite3.connect(path) as other:
            other.execute("UPDATE card SET hash = ?, content = ?, size = ? WHERE id = 1", (kiwi[0], kiwi[1], kiwi[5]))
            other.execute("DELETE FROM card WHERE id = 2")
        other.close()

    if not opened:
        rebuild_and_write()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        if opened:
            rebuild_and_write()
        await store.store.wait_indexed()
        for mode in ("substring", "words"):
            assert [card.content for card in await store.search("KIWI", case_sensitive=False, mode=mode)] == ["kiwi tart"]
            assert await store.search("CHERRY", case_sensitive=False, mode=mode) == []
        assert (await store.find("banana")).total == 0
    assert cards == 3


@pytest.mark.parametrize("autoincrement", ["kept", "dropped"])
async def test_ids_of_removed_cards_are_never_given_again_after_another_tool_rebuilt_the_card_table(tmp_path, autoincrement):
    """A rebuild starts AUTOINCREMENT's sequence again at the highest id left (or drops the
    keyword: sqlite-utils before 4.2), so a new card took the id of the newest removed card,
    which the indexes covered: no search found it. The sequence is set past every id a card
    had, by the next open or, with the store open, its next background step; a table without
    AUTOINCREMENT is rebuilt with it, another tool's index on it kept."""
    path = tmp_path / "c.db"
    change = (lambda table: table) if autoincrement == "kept" else (
        lambda table: table.replace("AUTOINCREMENT", ""))
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        cards = [await store.create(f"note {n}") for n in range(3)]
        await store.store.wait_indexed()
        await store.remove(cards[-1].hash)
        with sqlite3.connect(path) as db:
            db.execute("CREATE INDEX another_tools_index ON card (hash_algorithm)")
        db.close()
        rebuild_card_table(path, change)
        if autoincrement == "kept":
            await store.store.wait_indexed()
            added = await store.create("a quokka, stored with the store open")
            assert [card.hash for card in await store.search("quokka")] == [added.hash]
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        added = await store.create("a quokka, stored after the store opened again")
        await store.store.wait_indexed()
        assert added.hash in {card.hash for card in await store.search("QUOKKA", case_sensitive=False)}
        assert await store.store._writer.fetch("SELECT max(id) > 3 FROM card") == [(1,)]
        assert await store.store._writer.fetch(card_key.HAS_AUTOINCREMENT) == [(1,)]
        assert await store.store._writer.fetch(
            "SELECT count(*) FROM sqlite_master WHERE name IN ('another_tools_index', 'card_by_time', 'card_deleted')"
        ) == [(3,)]


async def test_a_word_search_while_the_index_is_behind_ranks_a_card_whose_time_is_not_a_time(tmp_path):
    """A time stored as text (sqlite-utils writes a ``datetime`` so) is no card's: ``verify``
    names it, listings and the other searches return the card. A word search ranked it by its
    time in Python while the index was behind, and that read raised ``StorageError``; it is
    ranked where SQL puts it, as once indexed."""
    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.create("apple seed")
        await store.store.wait_indexed()
        with sqlite3.connect(path) as other:
            for text in ("apple from a datetime row", "apple pie row"):
                key, content, is_text, _, algorithm, size, kind = card_row(MCard(text))
                other.execute("INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
                              " VALUES (?, ?, ?, '2024-01-02T03:04:05', ?, ?, ?)", (key, content, is_text, algorithm, size, kind))
        other.close()
        behind = [card.hash for card in await store.search("apple", mode="words")]
        await store.create("a write of the store's own: it wakes the indexer")
        await store.store.wait_indexed()
        assert [card.hash for card in await store.search("apple", mode="words")] == behind
        assert len(behind) == 3


@pytest.mark.parametrize("rewrite", ["content updated in place", "another card replaced onto its id"])
async def test_a_card_another_tool_rewrites_under_its_id_is_searched_as_it_now_is(tmp_path, rewrite):
    """Another tool changes the content under a card's id: an UPDATE of its content (and hash),
    or, with ``PRAGMA recursive_triggers`` on, an ``INSERT OR REPLACE`` of another card onto
    its id. The indexes held the old content under that id: searches found the new card by the
    old words and missed it by the new ones. It is checked by scanning until the purge of the
    old entries, which then indexes it."""
    path = tmp_path / "c.db"
    old, kept, new = MCard("an old note about quokkas"), MCard("a kept note about wombats"), MCard("a new note, numbats")
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many([old, kept])
        await store.store.wait_indexed()
        [(old_id,)] = await store.store._writer.fetch("SELECT id FROM card WHERE hash = ?", [old.hash])
        key, content, is_text, g_time, algorithm, size, kind = card_row(new)
        other = sqlite3.connect(path, isolation_level=None)
        try:
            if rewrite == "content updated in place":
                other.execute("UPDATE card SET hash = ?, content = ?, size = ? WHERE id = ?", (key, content, size, old_id))
            else:
                other.execute("PRAGMA recursive_triggers = ON")
                other.execute(f"INSERT OR REPLACE INTO card (id, {COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                              (old_id, key, content, is_text, g_time, algorithm, size, kind))
        finally:
            other.close()
        for _ in range(2):  # before the old entries are purged, then after
            for query, mode in (("NUMBATS", "substring"), ("numbats", "words"), ("n.mbats", "regex")):
                assert [card.hash for card in await store.search(query, case_sensitive=False, mode=mode)] == [new.hash]
                assert [card.hash for card in await store.search(query, 1, case_sensitive=False, mode=mode)] == [new.hash]
            for query, mode in (("QUOKKAS", "substring"), ("quokkas", "words")):
                assert await store.search(query, case_sensitive=False, mode=mode) == []
            assert (await store.find("numbats")).total == 1 and (await store.find("quokkas")).total == 0
            assert [card.hash for card in await store.search("NUMBATS", case_sensitive=False, content_type="text/*")] == [
                new.hash]
            assert await store.search("NUMBATS", case_sensitive=False, max_size=10) == []
            await store.create("a write of the store's own: it wakes the indexer")
            await store.store.wait_indexed()
        for index in ("card_text", "card_words"):
            assert await store.store._writer.fetch(f"SELECT rowid FROM {index} WHERE {index} MATCH 'numbats'") == [(old_id,)]
            assert await store.store._writer.fetch(f"SELECT rowid FROM {index} WHERE {index} MATCH 'quokkas'") == []


TEXTS_STORED_AS_TEXT = {"Grüße aus ÄPFELHAUSEN": ("äpfel", "ÄPFEL", "grüße"), "before\x00AFTER the nul": ("after", "AFTER", "nul")}
"""Contents another tool stored as TEXT (a JSON string by ``sqlite-utils insert``, a quoted SQL
literal): the text's (any case, exact case, word) that a search of each mode finds it by."""
COLUMNS = "hash, content, is_text, g_time, hash_algorithm, size, content_type"


def insert_as_text(path, texts) -> list[str]:
    """Insert ``texts`` as another tool may: the content as TEXT, not a BLOB; their hashes."""
    rows = [card_row(MCard(text)) for text in texts]
    with sqlite3.connect(path) as other:
        other.executemany(f"INSERT INTO card ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                          [(key, content.decode(), *rest) for key, content, *rest in rows])
    other.close()
    return [row[0] for row in rows]


async def found_in_every_mode(store, texts) -> None:
    for text, (any_case, exact_case, word) in texts.items():
        key = MCard(text).hash
        assert [card.hash for card in await store.search(any_case.upper(), case_sensitive=False)] == [key]
        assert [card.hash for card in await store.search(exact_case)] == [key]
        assert [card.hash for card in await store.search(word.upper(), mode="words")] == [key]
        assert [card.hash for card in await store.search(re.escape(exact_case), mode="regex")] == [key]


async def test_a_text_another_tool_stored_as_text_is_found_in_every_mode(tmp_path):
    """A content stored as TEXT counts its characters where a BLOB counts bytes: such a text not
    all ASCII, or with a NUL, was taken for ASCII, its lower case and words read by SQL (``Ä``
    stayed ``Ä``; ``grüße`` was two words; the words after a NUL were lost)."""
    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.create("a card of the store's own")
        await store.store.wait_indexed()
        insert_as_text(path, TEXTS_STORED_AS_TEXT)
        await found_in_every_mode(store, TEXTS_STORED_AS_TEXT)  # scanned
        await store.create("another card of the store's own")  # a write of its own wakes the indexer
        await store.store.wait_indexed()
        await found_in_every_mode(store, TEXTS_STORED_AS_TEXT)  # in the indexes
        assert await store.remove_many([MCard(text).hash for text in TEXTS_STORED_AS_TEXT]) == 2
        await store.store.wait_indexed()
        for index, word in (("card_text", '"pfel"'), ("card_words", "grüße")):
            assert await store.store._writer.fetch(f"SELECT rowid FROM {index} WHERE {index} MATCH ?", [word]) == []


@pytest.mark.parametrize("removed", [False, True], ids=["stored", "removed by another tool"])
async def test_indexes_that_read_a_text_stored_as_text_as_ascii_are_rebuilt(tmp_path, removed):
    """An earlier mcard indexed such texts as ASCII. Its store is rebuilt once opened for
    writing, so that searches find them and removing them later deletes the entries the indexes
    hold, also when another tool removed them meanwhile (their entries still to be purged); a
    store without such a text keeps its indexes."""
    path, kept = tmp_path / "c.db", tmp_path / "kept.db"
    for store_path in (path, kept):
        async with AsyncPersistenceWrapper(SQLiteConfig(store_path)) as store:
            await store.create("a card of the store's own")
    insert_as_text(path, TEXTS_STORED_AS_TEXT)
    for store_path in (path, kept):
        with sqlite3.connect(store_path) as db:
            for name, function in (("mcard_searchable", schema.searchable), ("mcard_words", schema.words),
                                   ("mcard_word_count", schema.word_count)):
                db.create_function(name, 2, function)  # named by the triggers' statements
            db.execute("DROP TRIGGER card_text_extended")
            db.execute(schema.CARD_TEXT_EXTENDED.replace(schema.PLAIN_TEXT, ANCIENT_PLAIN_TEXT))
            db.execute("UPDATE mcard_meta SET value = (SELECT max(id) FROM card) WHERE key = 'text_indexed'")
            db.execute("DELETE FROM mcard_meta WHERE key = 'text_reading'")
            [(held,)] = db.execute(AS_ASCII).fetchall()
            assert held == (store_path == path)  # indexed as an earlier mcard did: 'Ä' not lower case
            if removed:
                db.execute("DELETE FROM card WHERE typeof(content) = 'text'")
        db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(kept)) as store:
        assert await store.store._writer.fetch("SELECT value FROM mcard_meta WHERE key = 'text_indexed'") == [(1,)]
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.store.wait_indexed()
        assert await store.store._writer.fetch(AS_ASCII) == [(0,)]
        if not removed:
            await found_in_every_mode(store, TEXTS_STORED_AS_TEXT)
            assert await store.remove_many([MCard(text).hash for text in TEXTS_STORED_AS_TEXT]) == 2
            await store.store.wait_indexed()
        for index, word in (("card_text", '"pfel"'), ("card_words", "grüße")):
            assert await store.store._writer.fetch(f"SELECT rowid FROM {index} WHERE {index} MATCH ?", [word]) == []


ANCIENT_PLAIN_TEXT = "is_text AND length(CAST(content AS TEXT)) = length(content)"
"""How mcard told a text all ASCII before ``TEXT_READING`` 2."""
AS_ASCII = "SELECT count(*) FROM card_words WHERE card_words MATCH '\"Äpfelhausen\"'"
"""The word index's entries of 'ÄPFELHAUSEN' folded as ASCII alone (FTS5's ``ascii`` tokenizer)."""


REPLACING_THE_COUNTER = "INSERT OR REPLACE INTO mcard_meta (key, value) SELECT key, value + 1 FROM mcard_meta WHERE key = 'changes';"
TRIGGERS_BEFORE_RECURSIVE_ONES: Final = {
    "card_deleted": OLD_TRIGGERS[-1].replace("UPDATE mcard_meta SET value = value + 1 WHERE key = 'changes';",
                                             REPLACING_THE_COUNTER),
    "card_changed": f"CREATE TRIGGER card_changed AFTER UPDATE ON card BEGIN\n        {REPLACING_THE_COUNTER}\n    END",
}
"""Triggers of the previous mcard, which another tool's ``INSERT OR REPLACE`` (with ``PRAGMA
recursive_triggers`` on) and upsert could not get past."""


async def test_another_tool_replaces_and_upserts_cards_as_sqlite_utils_does(tmp_path):
    """sqlite-utils turns ``PRAGMA recursive_triggers`` on, writes ``INSERT OR REPLACE`` for
    ``replace=True`` and ``ON CONFLICT DO UPDATE`` for an upsert. Without mcard's SQL functions,
    such a connection adds a card, replaces a stored one (a deletion, followed as any other: its
    tags go) and moves one in time (its tags stay), each counted as a change, in a store whose
    triggers an earlier mcard wrote, once this mcard has opened it."""
    path = tmp_path / "c.db"
    kept, replaced = MCard("a note about quokkas"), MCard("another note about quokkas")
    added = MCard("quokkas again, from another tool", g_time=kept.g_time - timedelta(days=1))
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many([kept, replaced])
        await store.tag(replaced.hash, "holiday")
        await store.tag(kept.hash, "kept")
        await store.store.wait_indexed()
    with sqlite3.connect(path) as db:
        for name, sql in TRIGGERS_BEFORE_RECURSIVE_ONES.items():
            db.execute(f"DROP TRIGGER {name}")
            db.execute(sql)
    db.close()
    columns = "hash, content, is_text, g_time, hash_algorithm, size, content_type"
    replace = f"INSERT OR REPLACE INTO card ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?)"
    upsert = (f"INSERT INTO card ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?)"
              " ON CONFLICT (hash) DO UPDATE SET g_time = excluded.g_time")
    replaced_at, kept_at = replaced.g_time - timedelta(days=2), kept.g_time - timedelta(days=3)
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        assert [card.hash for card in await store.list(1)] == [replaced.hash]  # its end is remembered until a change
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("PRAGMA recursive_triggers = ON")
            other.execute(replace, card_row(added))
            other.execute(replace, card_row(MCard(replaced.content, g_time=replaced_at)))
            other.execute(upsert, card_row(MCard(kept.content, g_time=kept_at)))
        finally:
            other.close()
        stored = await store.get_many([replaced.hash, kept.hash])
        assert (stored[replaced.hash].g_time, stored[kept.hash].g_time) == (replaced_at, kept_at)
        assert await store.tags(replaced.hash) == []
        assert await store.tags(kept.hash) == ["kept"]
        assert await store.facets(by=("tag",)) == {"tag": [("kept", 1)]}
        assert [card.hash for card in await store.list(1, 1)] == [replaced.hash]
        newest_first = [added.hash, replaced.hash, kept.hash]
        assert [card.hash for card in await store.list()] == newest_first
        for _ in range(2):  # the new rows scanned, then found in the index
            assert [card.hash for card in await store.search("QUOKKAS", case_sensitive=False)] == newest_first
            assert {card.hash for card in await store.search("quokkas", mode="words")} == set(newest_first)
            await store.tag(kept.hash, "seen")  # a write of the store's own wakes its indexer
            await store.store.wait_indexed()
        for index in ("card_text", "card_words"):
            rows = await store.store._writer.fetch(f"SELECT rowid FROM {index} WHERE {index} MATCH 'quokkas'")
            assert rows == [(1,), (3,), (4,)]  # the replaced card's first row (2) is purged


SCHEMA_V4_CARD = """CREATE TABLE card (id INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT NOT NULL UNIQUE,
    content BLOB NOT NULL, is_text INTEGER NOT NULL, g_time INTEGER NOT NULL, hash_algorithm TEXT NOT NULL,
    size INTEGER NOT NULL, content_type TEXT)"""
"""The card table of schema 4: the content second. The rest of schema 4 is the current schema."""
V4_COLUMNS = "id, hash, content, is_text, g_time, hash_algorithm, size, content_type"


def as_version_4(path):
    """The store at ``path`` rewritten as schema 4 kept it: same ids, indexes, labels and sequence."""
    with sqlite3.connect(path) as db:
        for name, function in (("mcard_searchable", schema.searchable), ("mcard_words", schema.words),
                               ("mcard_word_count", schema.word_count)):
            db.create_function(name, 2, function)  # named by the triggers' statements
        for name in schema.OWN_TRIGGERS:
            db.execute(f"DROP TRIGGER {name}")
        db.execute("ALTER TABLE card RENAME TO card_v5")
        for name in ("card_by_time", "card_by_type", "card_by_size"):
            db.execute(f"DROP INDEX {name}")
        db.execute(SCHEMA_V4_CARD)
        db.execute(f"INSERT INTO card ({V4_COLUMNS}) SELECT {V4_COLUMNS} FROM card_v5")
        db.execute("UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'card_v5')"
                   " WHERE name = 'card'")
        db.execute("DROP TABLE card_v5")
        for statement in (schema.CARD_TABLE[1], *schema.CARD_INDEXES, *schema.OWN_TRIGGERS.values()):
            db.execute(statement)
        db.execute("UPDATE mcard_meta SET value = 4 WHERE key = 'schema_version'")
    db.close()


IMAGE = MCard(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 400)  # 100 KB: its head is read as a blob


async def write_version_4(path):
    """A schema 4 store: 30 notes and an image, tags, a name, removed cards (the last one too)."""
    cards = [MCard(f"kept note {i}") for i in range(30)] + [IMAGE]
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.save_many(cards)
        await store.tag(cards[0].hash, "kept")
        named, _ = await store.add("a named note", name="named.txt")
        last = await store.create("removed last")
        await store.store.wait_indexed()
        await store.remove_many([cards[1].hash, last.hash])
        await store.store.wait_indexed()
    as_version_4(path)
    return [card for card in cards if card.hash != cards[1].hash], named


async def test_a_version_4_file_gets_the_content_last_and_keeps_its_index_and_labels(tmp_path, monkeypatch, capsys):
    path = tmp_path / "v4.db"
    kept, named = await write_version_4(path)
    monkeypatch.setitem(schema.COPY_SETTINGS, "cards_per_step", 7)  # several steps, a bar for any size
    monkeypatch.setitem(schema.COPY_SETTINGS, "progress_from_cards", 1)
    with sqlite3.connect(path) as db:
        [indexed] = db.execute(INDEXED_UP_TO).fetchone()
        [sequence] = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'card'").fetchone()
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        writer = store.store._writer
        total = len(kept) + 1
        assert f"{total}/{total}" in capsys.readouterr().err
        assert [row[1] for row in await writer.fetch("PRAGMA table_info(card)")][-1] == "content"
        assert await writer.fetch(INDEXED_UP_TO) == [(indexed,)]  # nothing to index again
        assert await store.get_many([card.hash for card in kept]) == {card.hash: card for card in kept}
        notes = sorted(card.hash for card in kept if card.is_text)
        assert sorted(card.hash for card in await store.search("kept note")) == notes
        assert sorted(card.hash for card in await store.search("note", mode="words")) == sorted([*notes, named.hash])
        assert await store.find("tag:kept") == [kept[0]]
        assert await store.find("name:named.txt") == [named]
        assert [row[1] for row in await store.store.list_heads(head=20) if row[0] == IMAGE.hash] == [IMAGE.content[:20]]
        new = await store.create("a note after the upgrade")
        assert await writer.fetch("SELECT id FROM card WHERE hash = ?", (new.hash,)) == [(sequence + 1,)]
        await store.remove(kept[2].hash)
        await store.store.wait_indexed()
        assert kept[2].hash not in {card.hash for card in await store.search("kept note")}
        assert len(await store.search("note", mode="words")) == len(notes) + 1
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM mcard_meta WHERE key = 'schema_version'").fetchone() == (5,)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM card_words WHERE card_words MATCH 'note'").fetchone() == (len(notes) + 1,)
    db.close()


async def test_a_version_4_file_is_read_as_it_is_read_only(tmp_path):
    path = tmp_path / "v4.db"
    kept, _ = await write_version_4(path)
    before = path.read_bytes()
    async with AsyncPersistenceWrapper(SQLiteConfig(path, read_only=True)) as store:
        assert await store.get(IMAGE.hash) == IMAGE
        assert len(await store.search("kept note")) == len(kept) - 1
        assert [row[1] for row in await store.store.list_heads(head=20) if row[0] == IMAGE.hash] == [IMAGE.content[:20]]
    assert path.read_bytes() == before


async def test_the_upgrade_to_5_keeps_what_other_tools_built_on_the_card_table(tmp_path):
    """Views, foreign keys and triggers elsewhere that name ``card`` still work; indexes and
    triggers on ``card`` itself are made again."""
    path = tmp_path / "v4.db"
    await write_version_4(path)
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE VIEW card_sizes AS SELECT hash, size FROM card;
            CREATE TABLE notes (hash TEXT REFERENCES card (hash), note TEXT);
            CREATE TABLE audit (hash TEXT, cards INTEGER);
            CREATE TRIGGER sighting_audit AFTER INSERT ON sighting
                BEGIN INSERT INTO audit SELECT new.hash, (SELECT count(*) FROM card); END;
            CREATE INDEX my_index ON card (hash_algorithm, size);
            CREATE TABLE log (hash TEXT);
            CREATE TRIGGER card_logged AFTER INSERT ON card BEGIN INSERT INTO log VALUES (new.hash); END;
        """)
        [(count,)] = db.execute("SELECT count(*) FROM card").fetchall()
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        added, _ = await store.add("named after the upgrade", name="after.txt")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM mcard_meta WHERE key = 'schema_version'").fetchone() == (5,)
        assert db.execute("SELECT count(*) FROM card_sizes").fetchone() == (count + 1,)
        assert db.execute("SELECT hash, cards FROM audit").fetchall() == [(added.hash, count + 1)]
        assert db.execute("SELECT hash FROM log").fetchall() == [(added.hash,)]
        assert {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'card'")} >= {
            "my_index", "card_logged", "card_deleted", "card_by_time", "card_by_type", "card_by_size"}
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("INSERT INTO notes VALUES (?, 'a note on a card')", (added.hash,))
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert "card_v" not in " ".join(row[0] or "" for row in db.execute("SELECT sql FROM sqlite_master"))
    db.close()


async def test_a_database_that_stores_text_as_utf16_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "utf16.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA encoding = 'UTF-16le'")
        db.execute("CREATE TABLE scratch (x)")
        db.execute("DROP TABLE scratch")
    db.close()
    before = path.read_bytes()
    for read_only in (False, True):
        with pytest.raises(StorageError, match="UTF-16le; a card store needs UTF-8"):
            await AsyncPersistenceWrapper(SQLiteConfig(path, read_only=read_only)).initialize()
    assert path.read_bytes() == before


EARLY_V4_TRIGGERS = """
CREATE TRIGGER card_text_extended AFTER UPDATE OF value ON mcard_meta
    WHEN new.key = 'text_indexed' AND new.value > old.value BEGIN
    INSERT INTO card_text (rowid, content) SELECT id, content FROM card
    WHERE id > old.value AND id <= new.value AND card.is_text = 1 AND instr(card.content, x'00') = 0;
END;
CREATE TRIGGER card_text_purged AFTER DELETE ON card_text_garbage BEGIN
    INSERT INTO card_text (card_text, rowid, content) VALUES ('delete', old.id, old.content);
END;
"""
"""What the first mcard of schema 4 added to schema 3: its index steps as triggers (no word
index, sightings or tags yet)."""
EARLY_V5_LABELS = """
CREATE TABLE sighting (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, hash TEXT NOT NULL, name TEXT,
                       path TEXT, size INTEGER, mtime INTEGER, source TEXT, seen_at INTEGER NOT NULL);
CREATE INDEX sighting_by_hash ON sighting (hash, seen_at);
CREATE INDEX sighting_by_name ON sighting (name);
CREATE TABLE tag (hash TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (hash, tag)) WITHOUT ROWID;
CREATE INDEX tag_by_tag ON tag (tag, hash);
CREATE TRIGGER card_labels_deleted AFTER DELETE ON card BEGIN
    DELETE FROM sighting WHERE hash = old.hash;
    DELETE FROM tag WHERE hash = old.hash;
END;
"""
"""What the first mcard of schema 5 added to that: sightings and tags, with the content second."""


def write_early(path, cards, version):
    """A store as the first mcard of schema 4 or 5 wrote it, its trigram index built; version 5
    with a tag and a name on the first card."""
    write_old(path, cards, version=3)
    with sqlite3.connect(path) as db:
        db.executescript(EARLY_V4_TRIGGERS + (EARLY_V5_LABELS if version == 5 else ""))
        db.execute("UPDATE mcard_meta SET value = (SELECT max(id) FROM card) WHERE key = 'text_indexed'")
        db.execute("UPDATE mcard_meta SET value = ? WHERE key = 'schema_version'", (version,))
        if version == 5:
            db.execute("INSERT INTO tag VALUES (?, 'kept')", (cards[0].hash,))
            db.execute("INSERT INTO sighting (key, hash, name, seen_at) VALUES ('k', ?, 'first.txt', 1)", (cards[0].hash,))
    db.close()


@pytest.mark.parametrize("version", [4, 5])
async def test_a_store_of_the_first_schema_4_or_5_is_upgraded_with_its_labels(tmp_path, version):
    path = tmp_path / "early.db"
    cards = [MCard(f"early Note {i}") for i in range(40)] + [MCard(b"early note bytes"), IMAGE]
    write_early(path, cards, version)
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        assert await store.get_many([c.hash for c in cards]) == {c.hash: c for c in cards}
        notes = sorted(c.hash for c in cards[:41])
        assert sorted(c.hash for c in await store.search("note", case_sensitive=False)) == notes
        assert sorted(c.hash for c in await store.search("note", mode="words")) == notes
        if version == 5:
            assert await store.find("tag:kept") == [cards[0]]
            assert await store.find("name:first.txt") == [cards[0]]
        await store.tag(cards[1].hash, "new")
        assert await store.find("tag:new") == [cards[1]]
        await store.remove(cards[0].hash)
        assert await store.find("tag:kept") == []
    with sqlite3.connect(path) as db:
        assert [row[1] for row in db.execute("PRAGMA table_info(card)")][-1] == "content"
        assert db.execute("SELECT count(*) FROM sighting").fetchone() == (0,)
        assert "card_labels_deleted" not in {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()


@pytest.mark.parametrize("version", [4, 5])
async def test_a_store_of_the_first_schema_4_or_5_opened_read_only_asks_for_an_upgrade(tmp_path, version):
    path = tmp_path / "early.db"
    write_early(path, [MCard("early note")], version)
    before = path.read_bytes()
    with pytest.raises(StorageError, match="older mcard.*open it once for writing"):
        async with AsyncPersistenceWrapper(SQLiteConfig(path, read_only=True)) as store:
            await store.search("note")
    assert path.read_bytes() == before


async def test_a_store_of_the_trigram_index_s_schema_2_gets_content_types_and_is_upgraded(tmp_path):
    """Version 2 as the trigram index first wrote it: version 3's layout without content types."""
    path = tmp_path / "v2.db"
    cards = [MCard(f"trigram Note {i}") for i in range(20)] + [IMAGE]
    write_old(path, cards, version=3)
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE card DROP COLUMN content_type")
        db.execute("UPDATE mcard_meta SET value = 2 WHERE key = 'schema_version'")
    db.close()
    with pytest.raises(StorageError, match=r"older mcard \(schema 2 of an earlier layout\)"):
        async with AsyncPersistenceWrapper(SQLiteConfig(path, read_only=True)) as store:
            await store.count()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        assert await store.get_many([c.hash for c in cards]) == {c.hash: c for c in cards}
        assert len(await store.search("note", case_sensitive=False)) == 20
        assert await store.find("type:image/png") == [IMAGE]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM mcard_meta WHERE key = 'schema_version'").fetchone() == (5,)
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()


def test_a_name_of_the_plain_ranges_alone_is_composed():
    """No character of ``TO_COMPOSE``'s ranges is unassigned, a combining mark, decomposed, or
    the second of a pair that composes: a name of them alone is matched as it is."""
    import re
    import unicodedata

    seconds = set()
    for code in range(0x110000):
        parts = unicodedata.decomposition(chr(code)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            seconds.add(int(parts[1], 16))
    ranges = re.fullmatch(r"name GLOB '\*\[\^(.*)\]\*'", schema.TO_COMPOSE, re.S)[1]
    plain = [(ord(ranges[i]), ord(ranges[i + 2])) for i in range(0, len(ranges), 3)]
    assert plain[0] == (0x20, 0x2FF) and all(ranges[i + 1] == "-" for i in range(0, len(ranges), 3))
    for first, last in plain:
        for code in range(first, last + 1):
            char = chr(code)
            assert code in range(0x7F, 0xA0) or unicodedata.category(char) not in ("Cn", "Cs", "Co"), hex(code)
            assert unicodedata.combining(char) == 0 and unicodedata.is_normalized("NFC", char), hex(code)
            assert code not in seconds and not 0x1160 <= code <= 0x11FF, hex(code)


async def test_a_store_of_an_earlier_mcard_finds_decomposed_names_and_gets_their_index(tmp_path):
    path = tmp_path / "cards.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(str(path))) as cards:
        card = await cards.create("seen on a Mac", name="cafe\u0301.txt")
        plain = await cards.create("seen here", name="caf\u00e9 menu.txt")
    with sqlite3.connect(path) as db:
        db.execute("DROP INDEX sighting_by_name_to_compose")
    async with AsyncPersistenceWrapper(SQLiteConfig(str(path), read_only=True)) as cards:
        assert {c.hash for c in await cards.list(name="caf\u00e9*")} == {card.hash, plain.hash}
    async with AsyncPersistenceWrapper(SQLiteConfig(str(path))) as cards:
        assert [c.hash for c in await cards.list(name="caf\u00e9.*")] == [card.hash]
    with sqlite3.connect(path) as db:
        db.create_function("mcard_composed", 1, schema.composed_name)
        plan = " ".join(row[3] for row in db.execute(
            "EXPLAIN QUERY PLAN SELECT hash FROM card WHERE hash IN (" + sqlite_search.seen_under(lambda: "?") + ")",
            ("caf\u00e9.txt", "caf\u00e9.txt"),
        ))
    assert "sighting_by_name (name>? AND name<?)" in plan and "USING INDEX sighting_by_name_to_compose" in plan, plan
