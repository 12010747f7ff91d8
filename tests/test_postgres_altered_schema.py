"""A card table altered by hand (a constraint, a column, a trigger, a rule) never loses a write
silently: a card is either stored or the whole write fails with a ``StorageError``."""

from __future__ import annotations

import asyncio

import pytest
from tests.postgres_support import postgres_factory

from mcard import AsyncPersistenceWrapper, MCard, StorageError

pytestmark = pytest.mark.postgres

LARGE = 1500
"""Cards of a ``save_many`` that goes by COPY."""


@pytest.fixture
async def store(postgres_schema):
    async with AsyncPersistenceWrapper(postgres_factory(*postgres_schema)()) as opened:
        yield opened


def trigger(schema: str, condition: str) -> str:
    """A BEFORE INSERT trigger that drops (returns NULL for) the rows matching ``condition``."""
    return f"""
        CREATE FUNCTION "{schema}".drop_rows() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN IF {condition} THEN RETURN NULL; END IF; RETURN NEW; END $$;
        CREATE TRIGGER drop_rows BEFORE INSERT ON "{schema}".card
        FOR EACH ROW EXECUTE FUNCTION "{schema}".drop_rows()"""


ALTERATIONS = {
    "check constraint": lambda schema: f'ALTER TABLE "{schema}".card ADD CONSTRAINT tiny CHECK (size < 5)',
    "not null column": lambda schema: f'ALTER TABLE "{schema}".card ADD COLUMN note text NOT NULL',
    "trigger returning null": lambda schema: trigger(schema, "true"),
}

WRITES = {
    "create": lambda store: store.create("a card of some length"),
    "save": lambda store: store.save(MCard("another card of some length")),
    "small save_many": lambda store: store.save_many(MCard(f"small batch card {i}") for i in range(3)),
    "COPY save_many": lambda store: store.save_many(MCard(f"large batch card {i}") for i in range(LARGE)),
    "grouped creates": lambda store: asyncio.gather(*(store.create(f"grouped card {i}") for i in range(20))),
}


async def stored(admin, schema: str) -> int:
    return await admin.fetchval(f'SELECT count(*) FROM "{schema}".card')


@pytest.mark.parametrize("write", sorted(WRITES))
@pytest.mark.parametrize("alteration", sorted(ALTERATIONS))
async def test_a_write_the_table_refuses_fails_and_stores_nothing(store, admin, postgres_schema, alteration, write):
    schema = postgres_schema[1]
    await admin.execute(ALTERATIONS[alteration](schema))
    with pytest.raises(StorageError):
        await WRITES[write](store)
    assert await stored(admin, schema) == 0


@pytest.mark.parametrize("large", [False, True], ids=["INSERT", "COPY"])
async def test_a_dropped_card_is_named_and_fails_its_whole_write(store, admin, postgres_schema, large):
    schema = postgres_schema[1]
    await admin.execute(trigger(schema, "NEW.content = 'dropped'::bytea"))
    cards = [MCard(f"kept {i}") for i in range(LARGE if large else 5)] + [MCard("dropped")]
    with pytest.raises(StorageError, match=f"{cards[-1].hash} was neither inserted nor already stored"):
        await store.save_many(cards)
    assert await stored(admin, schema) == 0


async def test_grouped_writes_fail_only_where_a_card_was_dropped(store, admin, postgres_schema):
    """Writes committed together: the one whose card was dropped fails alone; the rest are stored."""
    schema = postgres_schema[1]
    await admin.execute(trigger(schema, "NEW.content = 'dropped'::bytea"))
    results = await asyncio.gather(
        *(store.create(f"fine {i}") for i in range(10)),
        store.create("dropped"),
        store.save_many([MCard("in the failing batch"), MCard("dropped")]),
        *(store.create(f"also fine {i}") for i in range(10)),
        return_exceptions=True,
    )
    errors = [result for result in results if isinstance(result, BaseException)]
    assert len(errors) == 2 and all(isinstance(error, StorageError) for error in errors)
    assert all(MCard("dropped").hash in str(error) for error in errors)
    assert await stored(admin, schema) == 20 and await store.search("in the failing batch") == []


async def test_cards_a_trigger_skips_because_they_are_stored_count_as_already_stored(store, admin, postgres_schema):
    """Only cards not stored may be reported missing: a trigger that skips the rows already
    stored (rather than letting them conflict) leaves every count right, on every path."""
    schema = postgres_schema[1]
    first = await store.create("stored first")
    batch = [MCard(f"batch {i}") for i in range(LARGE)]
    assert await store.save_many(batch[:10]) == 10
    await admin.execute(trigger(schema, f'EXISTS (SELECT FROM "{schema}".card AS c WHERE c.hash = NEW.hash)'))
    assert await store.save(MCard("stored first")) is False
    assert await store.create("stored first") == first
    assert await store.save_many([MCard("new one"), MCard("stored first")]) == 1
    assert await store.save_many(batch) == LARGE - 10
    assert await stored(admin, schema) == LARGE + 2


async def test_a_rule_never_hides_a_lost_write(store, admin, postgres_schema):
    """An INSERT rule that discards every row: the INSERTs of small writes report nothing
    inserted and the cards are not there (a ``StorageError``); COPY ignores rules, so a large
    batch is really stored. Either way what a write reports is what the table holds."""
    schema = postgres_schema[1]
    await admin.execute(f'CREATE RULE discard AS ON INSERT TO "{schema}".card DO INSTEAD NOTHING')
    for write in ("create", "save", "small save_many", "grouped creates"):
        with pytest.raises(StorageError):
            await WRITES[write](store)
        assert await stored(admin, schema) == 0
    assert await WRITES["COPY save_many"](store) == LARGE
    assert await stored(admin, schema) == LARGE
