"""Rich display of cards and the DataFrame schema."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest

from mcard import MCard
from mcard.notebook import CardList, to_dataframe

IMAGES = {
    "image/png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 8,
    "image/jpeg": b"\xff\xd8\xff\xe0" + b"\x00" * 8,
    "image/gif": b"GIF89a" + b"\x00" * 8,
    "image/webp": b"RIFF\x10\x00\x00\x00WEBPVP8 ",
}
SCHEMA = {"hash": "string", "g_time": "datetime64[us, UTC]", "size": "int64", "kind": "string", "content_type": "string", "name": "string", "tags": "object", "preview": "string"}


def test_card_html_escapes_content():
    card = MCard("<script>alert('x')</script> & more")
    markup = card._repr_html_()
    assert "<script>" not in markup and "&lt;script&gt;" in markup and "&amp; more" in markup
    assert card.hash[:12] in markup and card.g_time_text in markup and f"{card.size} B" in markup
    assert repr(card).startswith("MCard(hash=")


@pytest.mark.parametrize("mime", sorted(IMAGES))
def test_images_show_as_images(mime):
    card = MCard(IMAGES[mime])
    assert card.content_type == mime
    assert f'<img src="data:{mime};base64,' in card._repr_html_()
    assert f'<img src="data:{mime};base64,' in CardList([card])._repr_html_()


def test_svg_text_shows_as_an_image_that_runs_no_script():
    card = MCard('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="4"/></svg>')
    markup = card._repr_html_()
    assert markup.count('<img src="data:image/svg+xml;base64,') == 1 and "onload" not in markup


def test_other_bytes_show_as_hex():
    card = MCard(b"<b>\x00\xff")
    markup = card._repr_html_()
    assert "<img" not in markup and "3c 62 3e 00 ff" in markup


def test_card_list_table():
    cards = CardList([MCard("one <i>"), MCard(b"\x01")])
    markup = cards._repr_html_()
    assert markup.count("<tr>") == 3 and "one &lt;i&gt;" in markup
    assert "no cards" in CardList()._repr_html_()
    assert list(cards.to_dataframe()["kind"]) == ["text", "bytes"]


def test_dataframe_schema_and_values():
    moments = [datetime(2026, 1, 1, 12, 0, 0, n, tzinfo=timezone.utc) for n in (1, 2, 3)]
    cards = [MCard("a\nb  c", g_time=moments[0]), MCard(b"\x00\x01", g_time=moments[1]), MCard("é" * 100, g_time=moments[2])]
    frame = to_dataframe(cards)
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == SCHEMA
    assert list(frame["hash"]) == [card.hash for card in cards]
    assert list(frame["g_time"]) == [pd.Timestamp(m) for m in moments]
    assert list(frame["size"]) == [6, 2, 200]
    assert list(frame["preview"])[:2] == ["a b c", "00 01"]
    assert frame["preview"][2] == "é" * 80 + "…"
    with_content = to_dataframe(cards, content=True)
    assert list(with_content["content"]) == [card.content for card in cards]
    assert frame.groupby("kind")["size"].sum().to_dict() == {"bytes": 2, "text": 206}
    assert frame.set_index("g_time").resample("1h")["size"].count().iloc[0] == 3


def test_empty_dataframe_has_the_same_columns():
    assert {name: str(dtype) for name, dtype in to_dataframe([]).dtypes.items()} == SCHEMA
    assert list(to_dataframe([], content=True).columns) == [*SCHEMA, "content"]


def test_list_df_and_search_df(tmp_path):
    import mcard.notebook

    with mcard.notebook.open(tmp_path / "df.db") as cards:
        cards.save_many([f"row {i}" for i in range(5)] + [b"\x00"])
        assert len(cards.list_df()) == 6 and len(cards.list_df(limit=2)) == 2
        found = cards.search_df("row", content=True)
        assert sorted(found["content"]) == [f"row {i}" for i in range(5)]
        assert {name: str(dtype) for name, dtype in cards.search_df("zzz").dtypes.items()} == SCHEMA
