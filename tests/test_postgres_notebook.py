"""The notebook layer and its widget forms over PostgreSQL, opened from a URL."""

from __future__ import annotations

import pytest

import mcard.notebook
from mcard import PostgresConfig
from mcard.notebook import BrowseForm, CreateForm, SearchForm

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
