"""The tag facet over every card of a SQLite store, and the count of a tag's cards: counted in
the tag index while every tag names a stored card, and exact whatever another program writes
into the file meanwhile."""

import sqlite3
from pathlib import Path

import pytest

from mcard import AsyncPersistenceWrapper, SQLiteConfig
from mcard.infrastructure.persistence.engine import sqlite_schema as schema
from mcard.infrastructure.persistence.engine import sqlite_tag_check as tag_check

GHOST = "ab" * 32
"""The hash of a card that is not stored."""
TAGS_OF_STORED_CARDS = (
    "SELECT tag, count(*) FROM tag WHERE hash IN (SELECT hash FROM card) GROUP BY tag ORDER BY 2 DESC, 1"
)
"""The facet by its definition: the tags of stored cards."""
TAGS_BESIDE_HOLIDAY = (
    "SELECT tag, count(*) FROM tag WHERE hash IN (SELECT hash FROM card)"
    " AND hash IN (SELECT hash FROM tag WHERE tag = 'holiday') GROUP BY tag ORDER BY 2 DESC, 1"
)
"""The tag facet of ``tag:holiday`` by its definition: the tags of the stored cards tagged so."""
NOTED = f"SELECT {tag_check.HELD}"


async def tagged_store(path: Path) -> list[str]:
    """Three cards tagged by mcard, the first two 'holiday' and all three 'work'; their hashes."""
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        cards = [await store.create(f"card {n}") for n in range(3)]
        await store.tag_many([(card.hash, "holiday") for card in cards[:2]] + [(card.hash, "work") for card in cards])
        await store.wait_indexed()
    return [card.hash for card in cards]


def by_definition(path: Path, statement: str = TAGS_OF_STORED_CARDS) -> list[tuple[str, int]]:
    with sqlite3.connect(path) as db:
        return [tuple(row) for row in db.execute(statement)]


def noted(path: Path) -> bool:
    with sqlite3.connect(path) as db:
        return db.execute(NOTED).fetchone() == (1,)


FOREIGN_WRITES = {  # the statements, and the tags of stored cards they leave
    "a tag of a card not stored": (
        ["INSERT INTO tag (hash, tag) VALUES (:ghost, 'holiday')"], [("work", 3), ("holiday", 2)],
    ),
    "a tag moved to a card not stored": (
        ["UPDATE tag SET hash = :ghost WHERE hash = :first AND tag = 'holiday'"], [("work", 3), ("holiday", 1)],
    ),
    "a card's hash changed": (["UPDATE card SET hash = :ghost WHERE hash = :first"], [("work", 2), ("holiday", 1)]),
    "a card deleted": (["DELETE FROM card WHERE hash = :first"], [("work", 2), ("holiday", 1)]),
    "a tag inserted, then its card": (
        ["INSERT INTO tag (hash, tag) VALUES (:ghost, 'holiday')",
         "INSERT INTO card (hash, is_text, g_time, hash_algorithm, size, content_type, content)"
         " VALUES (:ghost, 1, 0, 'sha256', 1, 'text/plain', 'x')"],
        [("holiday", 3), ("work", 3)],
    ),
}


@pytest.mark.parametrize("write", FOREIGN_WRITES)
async def test_another_programs_write_while_the_store_is_open_is_counted_as_it_leaves_the_tags(tmp_path, write):
    """Every write that can leave a tag naming no stored card, by another program while the
    store is open, after the store noted that every tag names one: the facet counts the tags
    of stored cards, as its definition does."""
    path = tmp_path / "cards.db"
    hashes = await tagged_store(path)
    statements, expected = FOREIGN_WRITES[write]
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        assert (await store.facets("", by=("tag",)))["tag"] == [("work", 3), ("holiday", 2)]
        assert noted(path)
        with sqlite3.connect(path) as db:
            for statement in statements:
                db.execute(statement, {"ghost": GHOST, "first": hashes[0]})
        db.close()
        assert (await store.facets("", by=("tag",)))["tag"] == expected == by_definition(path)
        for tag in ("holiday", "work"):
            assert await store.count(tag=tag) == (await store.find(f"tag:{tag}")).total == dict(expected)[tag]
        beside = by_definition(path, TAGS_BESIDE_HOLIDAY)
        assert (await store.facets("tag:holiday", by=("tag",)))["tag"] == beside
        assert (await store.facets("tag:holiday", by=("tag", "month")))["tag"] == beside


async def test_a_store_of_an_earlier_mcard_is_checked_once_opened_for_writing(tmp_path):
    """A store without the note (an earlier mcard's, its triggers missing): opened for writing,
    its triggers are made and its tags checked in the background; tags of cards not stored keep
    the note away until they are removed."""
    path = tmp_path / "cards.db"
    await tagged_store(path)
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM mcard_meta WHERE key = 'tags_of_stored_cards'")
        for name in ("tag_of_no_card", "tag_moved", "card_rehashed"):
            db.execute(schema.DROP_OWN_TRIGGERS[name])
        db.execute("INSERT INTO tag (hash, tag) VALUES (?, 'holiday')", (GHOST,))
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.wait_indexed()
        assert not noted(path)
        assert (await store.facets("", by=("tag",)))["tag"] == [("work", 3), ("holiday", 2)]
        report = await store.verify(progress=False)
        assert [d.reason for d in report.damaged] == ["a tag of a card that is not stored"]
        await store.remove_damaged(report.damaged)
        await store.wait_indexed()
        assert noted(path)
        with sqlite3.connect(path) as db:  # the triggers are back: another program's orphan is seen
            db.execute("INSERT INTO tag (hash, tag) VALUES (?, 'work')", (GHOST,))
        db.close()
        assert (await store.facets("", by=("tag",)))["tag"] == [("work", 3), ("holiday", 2)]


async def test_tags_written_while_another_tool_had_dropped_the_triggers_are_checked_again(tmp_path):
    """Another tool rebuilt the tag and card tables (``sqlite-utils transform`` does), which
    drops their triggers, and wrote a tag of a card not stored and deleted a tagged card: the
    next open for writing makes the triggers again and checks the tags again."""
    path = tmp_path / "cards.db"
    hashes = await tagged_store(path)
    with sqlite3.connect(path) as db:
        for name in ("tag_of_no_card", "card_deleted"):
            db.execute(schema.DROP_OWN_TRIGGERS[name])
        db.execute("INSERT INTO tag (hash, tag) VALUES (?, 'work')", (GHOST,))
        db.execute("DELETE FROM card WHERE hash = ?", (hashes[0],))
    db.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        await store.wait_indexed()
        assert (await store.facets("", by=("tag",)))["tag"] == [("work", 2), ("holiday", 1)] == by_definition(path)
        assert await store.count(tag="holiday") == 1
    assert not noted(path)


@pytest.mark.parametrize("made_again", [False, True], ids=["left dropped", "made again"])
async def test_tags_written_while_another_tool_drops_the_triggers_of_an_open_store_are_looked_up(tmp_path, made_again):
    """Another tool drops the triggers while a store is open, writes a tag of a card not stored,
    and maybe makes the triggers again as they were; then the store removes a card itself
    (without ``card_deleted``, its tags stay): every read of tags looks their cards up."""
    path = tmp_path / "cards.db"
    hashes = await tagged_store(path)
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        assert noted(path)
        with sqlite3.connect(path) as db:
            for name in ("tag_of_no_card", "card_deleted"):
                db.execute(schema.DROP_OWN_TRIGGERS[name])
            db.execute("INSERT INTO tag (hash, tag) VALUES (?, 'work')", (GHOST,))
            if made_again:
                for name in ("tag_of_no_card", "card_deleted"):
                    db.execute(schema.OWN_TRIGGERS[name])
        db.close()
        await store.remove(hashes[0])
        assert not noted(path)
        assert (await store.facets("", by=("tag",)))["tag"] == [("work", 2), ("holiday", 1)] == by_definition(path)
        assert await store.count(tag="work") == (await store.find("tag:work")).total == 2
        assert (await store.facets("tag:holiday", by=("tag",)))["tag"] == by_definition(path, TAGS_BESIDE_HOLIDAY)


@pytest.mark.parametrize("between", ["a tag of no card", "another session's check", "a change of schema"])
def test_what_comes_between_a_check_and_its_note_keeps_the_note_away(tmp_path, between):
    """The background check's steps, with a write of another program, another session's check
    (it found the tag of no card this one did not see), or a change of schema landing between
    the look-up and the note: the note is not written."""
    path = tmp_path / "cards.db"
    with sqlite3.connect(path, isolation_level=None) as db:
        for statement in schema.CREATE:
            db.execute(statement)
        db.execute("DELETE FROM mcard_meta WHERE key = 'tags_of_stored_cards'")
        db.execute(tag_check.CHECK_BEGUN, (1,))
        found, version = db.execute(tag_check.TAG_OF_NO_CARD_FOUND).fetchone()
        assert found == 0
        if between == "a change of schema":
            db.execute("CREATE INDEX another_tools_index ON tag (hash)")
        else:
            db.execute("INSERT INTO tag (hash, tag) VALUES (?, 'late')", (GHOST,))
        if between == "another session's check":
            db.execute(tag_check.CHECK_BEGUN, (2,))
        db.execute(tag_check.CHECK_PASSED, (1, version))
        db.execute(tag_check.CHECK_ENDED, (1,))
        assert db.execute(NOTED).fetchone() == (0,)
        db.execute("DELETE FROM tag")
        db.execute(tag_check.CHECK_BEGUN, (3,))  # and nothing between: written
        found, version = db.execute(tag_check.TAG_OF_NO_CARD_FOUND).fetchone()
        db.execute(tag_check.CHECK_PASSED, (3, version))
        assert db.execute(NOTED).fetchone() == (1,)
    db.close()


async def test_triggers_another_tool_drops_from_an_open_store_are_made_again_before_it_removes_a_card(tmp_path):
    """Another tool rebuilds the card table while a store has it open (``sqlite-utils
    transform``), which drops the table's triggers; the store noted the tags afterwards and then
    removed a card itself, whose tags stayed, counted by the note. Its background steps see
    the schema change and make the triggers again first."""
    path = tmp_path / "cards.db"
    hashes = await tagged_store(path)
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        with sqlite3.connect(path) as db:
            db.execute("DELETE FROM mcard_meta WHERE key = 'tags_of_stored_cards'")  # checked in this session
            for name in ("card_deleted", "card_changed", "card_rehashed"):
                db.execute(schema.DROP_OWN_TRIGGERS[name])
        db.close()
        await store.wait_indexed()
        await store.remove(hashes[0])
        assert await store.tags(hashes[0]) == []
        assert (await store.facets("", by=("tag",)))["tag"] == [("work", 2), ("holiday", 1)] == by_definition(path)
        assert await store.count(tag="holiday") == (await store.find("tag:holiday")).total == 1
        assert noted(path)


def test_a_check_of_a_store_without_the_triggers_that_keep_the_note_writes_none(tmp_path):
    """A table rebuilt drops its triggers: no tag of no card now, but nothing keeps it so."""
    path = tmp_path / "cards.db"
    with sqlite3.connect(path, isolation_level=None) as db:
        for statement in schema.CREATE:
            db.execute(statement)
        db.execute("DELETE FROM mcard_meta WHERE key = 'tags_of_stored_cards'")
        db.execute(schema.DROP_OWN_TRIGGERS["card_deleted"])
        db.execute(tag_check.CHECK_BEGUN, (1,))
        found, version = db.execute(tag_check.TAG_OF_NO_CARD_FOUND).fetchone()
        assert found == 0
        db.execute(tag_check.CHECK_PASSED, (1, version))
        assert db.execute(NOTED).fetchone() == (0,)
    db.close()
