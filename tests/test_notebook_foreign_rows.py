"""Rows written into a store's file by another tool, shown and verified through the notebook layer.

Each row of ``FOREIGN_ROWS`` is written with plain ``sqlite3`` next to a card mcard made; the
views must show every stored value as text (the hash as the title too), make no element or
attribute of their own from it, and inline an image only for a known image type (the DataFrame
view too, which pandas escapes). ``verify()`` reports every such row.
"""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest
from tests.test_display_escaping import FOREIGN_ROWS, HOSTILE_HASH, MICROS, _row, check_markup, parse, write_foreign_rows

import mcard.notebook
from mcard import AsyncPersistenceWrapper, SQLiteConfig
from mcard.content_types import IMAGE_TYPES
from mcard.notebook import card_html, cards_html
from mcard.notebook.media import human_time


@pytest.fixture
def path(tmp_path):
    return tmp_path / "cards.db"


def store_with(path, *rows):
    with mcard.notebook.open(path) as cards:
        made = cards.create("a card mcard made")
    write_foreign_rows(path, rows)
    return made


@pytest.mark.parametrize("name", FOREIGN_ROWS)
def test_every_stored_value_of_a_foreign_row_shows_as_text(name, path):
    key, content, _, g_time, _, size, content_type = FOREIGN_ROWS[name]
    store_with(path, FOREIGN_ROWS[name])
    with mcard.notebook.open(path) as cards:
        listed = cards.list()
        [card] = [card for card in listed if card.hash == key]
        views = {
            "card_html": card_html(card),
            "cards_html": cards_html([card]),
            "list()._repr_html_": listed._repr_html_(),
        }
    images = 1 if content_type in IMAGE_TYPES and isinstance(content, (bytes, int)) else 0  # a number: its digits' bytes
    time = human_time(card.g_time) if isinstance(g_time, int) and g_time < 2**60 else "?"
    for view, markup in views.items():
        parsed = check_markup(markup, listed)
        text = "".join(parsed.text)
        titles = [value for _, attrs in parsed.elements for attr, value in attrs if attr == "title"]
        assert str(key) in titles, view
        assert str(key)[:12] in text and time in text and str(content_type) in text, view
        assert str(size) in text, view
        shown = [tag for tag, _ in parsed.elements if tag == "img"]
        assert len(shown) == images, view


def test_a_hash_that_is_not_a_digest_is_marked(path):
    made = store_with(path, FOREIGN_ROWS["markup-hash"])
    with mcard.notebook.open(path) as cards:
        [foreign] = [card for card in cards.list() if card.hash == HOSTILE_HASH]
    assert "(not a valid hash)" in "".join(check_markup(card_html(foreign), [foreign]).text)
    assert "(not a valid hash)" not in card_html(made)


@pytest.mark.parametrize("name", ["markup-image-type", "uppercase-image-type", "png-as-html"])
def test_image_bytes_under_another_type_get_no_data_uri(name, path):
    store_with(path, FOREIGN_ROWS[name])
    with mcard.notebook.open(path) as cards:
        listed = cards.list()
    assert [card.content[:4] for card in listed if not card.is_text] == [b"\x89PNG"]
    for markup in (listed._repr_html_(), *map(card_html, listed)):
        assert "data:" not in markup and not [tag for tag, _ in check_markup(markup, listed).elements if tag == "img"]


def test_verify_reports_every_foreign_row_through_the_notebook_layer(path):
    made = store_with(path, *FOREIGN_ROWS.values())
    with mcard.notebook.open(path) as cards:
        report = cards.verify(progress=False)
    reasons = {damaged.hash: damaged.reason for damaged in report.damaged}
    assert report.checked == len(FOREIGN_ROWS) + 1 and not report.ok
    assert made.hash not in reasons and set(reasons) == {row[0] for row in FOREIGN_ROWS.values()}
    assert reasons[HOSTILE_HASH] == "the hash is not a sha256 digest (64 lowercase hex digits)"
    assert reasons[HOSTILE_HASH.encode()] == reasons[HOSTILE_HASH]


async def test_averify_reports_a_hash_that_is_not_a_digest(path):
    store_with(path, FOREIGN_ROWS["markup-hash"])
    async with mcard.notebook.open(path) as cards:
        report = await cards.averify(progress=False)
    assert report.checked == 2 and [damaged.hash for damaged in report.damaged] == [HOSTILE_HASH]


def test_dataframe_view_shows_markup_as_text(path):
    names = ["markup-hash", "markup-image-type", "markup-algorithm-and-type"]
    store_with(path, *(FOREIGN_ROWS[name] for name in names))
    with mcard.notebook.open(path) as cards:
        parsed = parse(cards.list_df()._repr_html_())
    assert {tag for tag, _ in parsed.elements} <= {"div", "style", "table", "thead", "tbody", "tr", "th", "td"}
    assert not [name for _, attrs in parsed.elements for name, _ in attrs if name.startswith("on")]
    text = "".join(parsed.text)  # pandas cuts long values at 50 characters
    assert HOSTILE_HASH[:40] in text and all(str(FOREIGN_ROWS[name][6])[:40] in text for name in names)


def test_a_number_stored_as_content_under_a_large_size_is_listed_with_its_digits(path):
    """The heads of large contents are read as blobs; a value that is no blob or text must not
    be opened as one, whatever size its row claims."""
    store_with(path, _row("4" * 64, 43, is_text=0, g_time=MICROS + 9, size=1 << 40))
    with mcard.notebook.open(path) as cards:
        frame = cards.list_df(labels=False)

    async def heads() -> list[tuple]:
        async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
            return await store.store.list_heads(head=10)

    rows = asyncio.run(heads())
    assert list(frame["hash"]).count("4" * 64) == 1
    assert [row[1] for row in rows if row[0] == "4" * 64] == [b"43"]


@pytest.mark.parametrize("name", FOREIGN_ROWS)
def test_every_dataframe_lists_a_foreign_row(name, path):
    """A value another tool wrote that is no size or time is missing in its column; the row is
    still listed, with a preview, by every DataFrame helper."""
    _, _, _, g_time, _, size, _ = FOREIGN_ROWS[name]
    made = store_with(path, FOREIGN_ROWS[name])
    with mcard.notebook.open(path) as cards:
        frames = {"heads": cards.list_df(), "cards": cards.list_df(content=True), "find": cards.find_df("")}
    for how, frame in frames.items():
        assert len(frame) == 2, how
        [row] = [row for row in frame.itertuples() if row.hash != made.hash]
        assert isinstance(row.preview, str) and row.preview, how
        if isinstance(size, int):
            assert row.size == size, how
        else:
            assert pd.isna(row.size), how
        if not isinstance(g_time, int) or g_time >= 2**60:
            assert pd.isna(row.g_time), how
