"""The notebook layer and its widget forms over PostgreSQL, opened from a URL; rows written
by another tool shown escaped and reported by ``verify()``."""

from __future__ import annotations

import pytest
from tests.test_display_escaping import COLUMNS, FOREIGN_ROWS, HOSTILE_HASH, check_markup

import mcard.notebook
from mcard import PostgresConfig
from mcard.notebook import BrowseForm, CreateForm, SearchForm, card_html

pytestmark = pytest.mark.postgres


@pytest.fixture
def cards(postgres_schema):
    url, schema = postgres_schema
    with mcard.notebook.open(f"{url}?schema={schema}&max_connections=3") as opened:
        yield opened


def test_notebook_layer_over_postgres(cards, postgres_schema):
    assert isinstance(cards.config, PostgresConfig) and cards.config.schema == postgres_schema[1]
    card, new = cards.add("hello from a notebook")
    assert new and cards.add("hello from a notebook") == (card, False)
    assert cards.save_many([b"\x00raw bytes", "fox one", "fox two"]) == 3
    assert cards.count() == 4 and cards.get(card.hash) == card
    assert [c.content for c in cards.search("fox")] == ["fox two", "fox one"]
    frame = cards.list_df(content=True)
    assert list(frame["hash"]) == [c.hash for c in cards.list()]
    assert set(frame["content"]) == {"hello from a notebook", b"\x00raw bytes", "fox one", "fox two"}


def test_widget_forms_over_postgres(cards):
    create = CreateForm(cards)
    create.text.value = "fox from the form"
    create.add_button.click()
    assert create.message.startswith("added ") and not create.failed
    cards.save_many([f"fox {i}" for i in range(4)])
    search = SearchForm(cards, page_size=3)
    search.query.value = "fox"
    search.search_button.click()
    assert search.message == "matches 1–3 for 'fox'"
    search.next_button.click()
    assert search.message == "matches 4–5 for 'fox'"
    browse = BrowseForm(cards, page_size=2)
    browse.refresh_button.click()
    assert browse.message == "cards 1–2 of 5, newest first"


def fits_postgres(row) -> bool:
    """Rows the typed PostgreSQL columns can hold (text hash, bytea content, bigint time and size)."""
    key, content, _, g_time, _, size, _ = row
    return isinstance(key, str) and isinstance(content, bytes) and isinstance(g_time, int) and isinstance(size, int)


async def write_foreign_rows(url: str, schema: str, rows) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.executemany(
            f'INSERT INTO "{schema}"."card" ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)',
            [(key, content, bool(is_text), *rest) for key, content, is_text, *rest in rows],
        )
    finally:
        await conn.close()


async def test_foreign_rows_are_shown_as_text_and_reported_by_verify(cards, postgres_schema):
    made = await cards.acreate("a card mcard made")
    rows = [row for row in FOREIGN_ROWS.values() if fits_postgres(row)]
    assert {row[0] for row in rows} >= {HOSTILE_HASH, "a" * 64, "d" * 64}
    await write_foreign_rows(*postgres_schema, rows)
    listed = await cards.alist()
    assert len(listed) == len(rows) + 1
    for markup in (listed._repr_html_(), *map(card_html, listed)):
        check_markup(markup, listed)
    titles = [value for _, attrs in check_markup(listed._repr_html_(), listed).elements for name, value in attrs if name == "title"]
    assert sorted(titles) == sorted(card.hash for card in listed)
    report = await cards.averify(progress=False)
    reasons = {damaged.hash: damaged.reason for damaged in report.damaged}
    assert report.checked == len(rows) + 1 and set(reasons) == {row[0] for row in rows} and made.hash not in reasons
    assert reasons[HOSTILE_HASH] == "the hash is not a sha256 digest (64 lowercase hex digits)"
    assert cards.verify(progress=False).damaged == report.damaged


def test_counts_and_sizes_read_off_a_frame_are_bound_as_integers(cards):
    """asyncpg binds a Python int, not NumPy's, for a limit or a size."""
    from tests.test_notebook_queries import numbers_from_a_frame

    cards.save_many(["fox one", "fox two", b"\x00raw", "fox three"])
    numbers = numbers_from_a_frame(cards)
    assert len(cards.list_df(**numbers)) == 2 and len(cards.find_df("fox", limit=numbers["limit"])) == 2


def test_a_frame_of_another_store_imports_as_it_is(cards, tmp_path):
    with mcard.notebook.open(tmp_path / "other.db") as other:
        other.save_many(["fox one", b"\xff\x00 bytes", "Zürich 東京"])
        other.create("named", name="фото.txt")
        other.tag(other.list()[0].hash, "日本")
        frame = other.list_df(content=True)
    assert cards.import_records(frame).new == 4
    assert cards.list_df(content=True).sort_values("hash", ignore_index=True).equals(frame.sort_values("hash", ignore_index=True))
