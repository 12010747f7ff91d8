"""Rich display of cards and the DataFrame schema."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
import warnings
from datetime import datetime, timezone

import pandas as pd
import pytest
from hypothesis import given, strategies as st
from PIL import Image

import mcard.notebook

from mcard import MCard, ValidationError
from mcard.notebook import CardList, card_html, to_dataframe
from mcard.notebook.display import preview, preview_head_bytes, text_preview
from mcard.notebook.media import human_time

IMAGES = {
    "image/png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 8,
    "image/jpeg": b"\xff\xd8\xff\xe0" + b"\x00" * 8,
    "image/gif": b"GIF89a" + b"\x00" * 8,
    "image/webp": b"RIFF\x10\x00\x00\x00WEBPVP8 ",
}
SCHEMA = {"hash": "string", "g_time": "datetime64[us, UTC]", "size": "int64", "kind": "string", "content_type": "string", "name": "string", "tags": "object", "preview": "string"}


def test_card_html_escapes_content():
    card = MCard("<script>alert('x')</script> & more")
    markup = card_html(card)
    assert "<script>" not in markup and "&lt;script&gt;" in markup and "&amp; more" in markup
    assert card.hash[:12] in markup and human_time(card.g_time) in markup and f"{card.size} B" in markup
    assert repr(card).startswith("MCard(hash=")


@pytest.mark.parametrize("mime", sorted(IMAGES))
def test_images_show_as_images(mime):
    card = MCard(IMAGES[mime])
    assert card.content_type == mime
    assert f'<img src="data:{mime};base64,' in card_html(card)
    assert f'<img src="data:{mime};base64,' in CardList([card])._repr_html_()


def test_svg_text_shows_as_an_image_that_runs_no_script():
    card = MCard('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="4"/></svg>')
    markup = card_html(card)
    assert markup.count('<img src="data:image/svg+xml;base64,') == 1 and "onload" not in markup


def test_other_bytes_show_as_hex():
    card = MCard(b"<b>\x00\xff")
    markup = card_html(card)
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


@pytest.mark.parametrize("contents", [[], ["text", "only"], [b"bytes", b"only"], ["text", b"bytes"]])
def test_the_content_column_is_object_whatever_the_cards(contents):
    """pandas 3 reads a column of strings alone as its str dtype: a text-only search's content
    column would be another dtype than a mixed listing's, and comparing or concatenating them would tell."""
    assert str(to_dataframe([MCard(c) for c in contents], content=True)["content"].dtype) == "object"


def test_list_df_and_search_df(tmp_path):
    import mcard.notebook

    with mcard.notebook.open(tmp_path / "df.db") as cards:
        cards.save_many([f"row {i}" for i in range(5)] + [b"\x00"])
        assert len(cards.list_df()) == 6 and len(cards.list_df(limit=2)) == 2
        found = cards.search_df("row", content=True)
        assert sorted(found["content"]) == [f"row {i}" for i in range(5)]
        assert {name: str(dtype) for name, dtype in cards.search_df("zzz").dtypes.items()} == SCHEMA


MIXED = [
    "short", "tab\there", "  spaced   out\n\nlines  " * 20, "ü" * 161, "€" * 200, "x" * 160, "y" * 161,
    "a\x00b", "😀" * 400, "😀" * 10 + " " * 70 + "😀" * 100, b"\x00\x01" * 50, b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
]


def test_list_df_reads_heads_yet_equals_the_frame_of_the_cards(tmp_path):
    with mcard.notebook.open(tmp_path / "heads.db") as cards:
        cards.save_many(MIXED)
        cards.add("named", name="a.txt")
        cards.tag(cards.list(limit=1)[0].hash, "kept")
        for options in ({}, {"order": "largest"}, {"limit": 4, "offset": 2}, {"content_type": "text/*"}, {"tag": "kept"}):
            pd.testing.assert_frame_equal(cards.list_df(**options), cards.frame(cards.list(**options)))
        pd.testing.assert_frame_equal(cards.list_df(labels=False), cards.frame(cards.list(), labels=False))
        assert cards.list_df(tag="kept")["tags"].tolist() == [("kept",)]


def test_find_df_without_words_reads_heads_yet_equals_the_frame_of_the_cards(tmp_path):
    """A query without words has nothing to mark: its frame is made from the stored rows cut to
    the previews, as ``list_df``'s, and is the frame of the cards it finds (a frame of 200 texts
    of 5 MB read and held 1 GB)."""
    with mcard.notebook.open(tmp_path / "heads.db") as cards:
        cards.save_many(MIXED)
        cards.add("named", name="a.txt")
        cards.tag(cards.list(limit=1)[0].hash, "kept")
        for query, options in [("", {}), ("type:text/*", {"order": "largest"}), ("size:<100", {"limit": 3, "offset": 1}),
                               ("tag:kept", {"snippets": True}), ("name:*.txt", {"labels": False}), ("type:nothing/x", {})]:
            found = cards.find(query, options.get("limit"), options.get("offset", 0), order=options.get("order"))
            shape = {key: options[key] for key in ("snippets", "labels") if key in options}
            frame = cards.find_df(query, **options)
            pd.testing.assert_frame_equal(frame, cards.frame(found, **shape))
            assert frame.attrs["total"] == found.total


def test_find_df_without_words_reads_no_content_whole(tmp_path):
    import tracemalloc

    with mcard.notebook.open(tmp_path / "large.db") as cards:
        cards.save_many([f"text {n} " + "lorem ipsum " * 250_000 for n in range(12)])  # 3 MB each
        cards.wait_indexed()  # the background indexer reads the texts too
        tracemalloc.start()
        try:
            frame = cards.find_df("type:text/plain size:>1MB")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert len(frame) == 12 and peak < 3_000_000, f"{peak:,} bytes at the peak"


@given(st.text(st.sampled_from(" \n😀ü") | st.characters(codec="utf-8"), min_size=1, max_size=400))
def test_a_text_preview_from_the_head_of_the_content_is_the_preview_of_the_card(text):
    card = MCard(text)
    head = card.content_bytes[: preview_head_bytes()]
    assert text_preview(head.decode("utf-8", "replace"), card.size <= preview_head_bytes()) == preview(card)


@given(st.text(st.sampled_from(" \t\n\u00a0\u202ea") | st.characters(codec="utf-8"), max_size=200),
       st.booleans(), st.integers(1, 12))
def test_a_text_preview_is_its_text_folded_cut_and_escaped(text, whole, chars):
    """Every path of ``text_preview`` against its definition: whitespace runs folded to one
    space, ``chars`` characters kept, control characters escaped, "…" when there is more."""
    from mcard.domain.shown import shown

    folded = " ".join(text[: chars * 2].split())
    if whole and len(text) <= chars and text.isprintable():
        expected = text
    else:
        expected = shown(folded[:chars]) + ("…" if len(folded) > chars or not whole or len(text) > chars * 2 else "")
    assert text_preview(text, whole, chars) == expected


def test_the_domain_imports_nothing_of_the_notebook_layer():
    code = (
        "import sys, mcard, mcard.domain\nfrom mcard import MCard\n"
        "card = MCard('x'); repr(card)\n"
        "print(sorted(m for m in sys.modules if m.startswith('mcard.notebook')), hasattr(MCard, '_repr_html_'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[] False"


def test_ipython_shows_a_card_through_the_notebook_layer():
    code = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\nfrom mcard import MCard\n"
        "card = MCard('<b>shown</b>')\n"
        "print('text/html' in shell.display_formatter.format(card)[0])\n"
        "import mcard.notebook\n"
        "html = shell.display_formatter.format(card)[0]['text/html']\n"
        "print(card.hash in html, '&lt;b&gt;shown' in html, '<b>' not in html)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True", "True", "True"]


def many(count: int) -> list[MCard]:
    return [MCard(f"card {n}") for n in range(count)]


def test_a_card_list_shows_at_most_the_display_limit_and_says_how_many_there_are(monkeypatch):
    cards = CardList(many(30))
    markup = cards._repr_html_()
    assert markup.count("<tr>") == 1 + 20 and "20 of 30 cards shown" in markup
    assert "display_limit" in markup and ".to_dataframe()" in markup
    monkeypatch.setattr(mcard.notebook.options, "display_limit", 5)
    assert CardList(many(30))._repr_html_().count("<tr>") == 1 + 5
    assert CardList(many(30), limit=3)._repr_html_().count("<tr>") == 1 + 3
    page = CardList(many(3), total=1000)._repr_html_()
    assert page.count("<tr>") == 1 + 3 and "3 of 1,000 cards shown" in page
    assert "cards shown" not in CardList(many(3))._repr_html_()
    for bad in (-1, None, "x", True, 2.5):  # -1 showed all rows but one, None all, "x" failed every display
        with pytest.raises(ValidationError, match="display_limit is a whole number of 0 or more"):
            mcard.notebook.options.display_limit = bad
    with pytest.raises(ValidationError, match="no setting 'display_limt'"):
        mcard.notebook.options.display_limt = 5
    assert mcard.notebook.options.display_limit == 5 and CardList(many(30))._repr_html_().count("<tr>") == 1 + 5


def test_a_card_lists_own_limit_is_checked_as_the_display_limit_is():
    """-1 showed no row, 2.5 and "3" failed the list's every display later, with a TypeError."""
    for bad in (-1, "3", True, 2.5):
        with pytest.raises(ValidationError, match="limit is a whole number of 0 or more"):
            CardList(many(5), limit=bad)
    assert str(CardList(many(5), limit=0)).startswith("0 of 5 cards shown")


def test_a_printed_card_list_is_bounded_as_its_table_is():
    """``print(cards.list())`` printed every card of the list, saying nothing was left out."""
    printed = str(CardList(many(5000)))
    lines = printed.splitlines()
    assert len(lines) == 21 and lines[-1].startswith("20 of 5,000 cards shown")
    three = many(3)
    assert repr(CardList(three)) == "\n".join(repr(card) for card in three)


def test_a_printed_card_list_shows_the_names_and_tags_its_table_shows():
    """The table showed each card's name and tags, ``print`` the cards alone: the docs say both
    show the same rows. Values are escaped as everywhere (a bidirectional control as ``\\u202e``)."""
    card, other = MCard("x"), MCard("y")
    tags = [f"t{i}" for i in range(25)]
    printed = repr(CardList([card, other], names={card.hash: "notes\u202e.txt"}, tags={card.hash: tags}))
    first, second = printed.splitlines()
    assert first == f"{card!r}  name: notes\\u202e.txt  tags: {', '.join(tags[:20])} (+5 more)"
    assert second == repr(other)


def test_rows_show_the_full_hash_human_sizes_and_times_names_and_tags():
    card = MCard("x" * 5000, g_time=datetime(2026, 3, 1, 9, 5, 7, 123456, tzinfo=timezone.utc))
    markup = CardList([card], names={card.hash: "<notes>.txt"}, tags={card.hash: ["a&b", "<tag>"]})._repr_html_()
    assert card.hash in markup.replace(f'title="{card.hash}"', "")
    assert "user-select:all" in markup
    assert "4.9 KB" in markup and "2026-03-01 09:05:07" in markup and "123456" not in markup
    assert "&lt;notes&gt;.txt" in markup and "a&amp;b" in markup and "&lt;tag&gt;" in markup
    assert "<tag>" not in markup and "<notes>" not in markup
    assert "name, tags" in markup and "name, tags" not in CardList([card])._repr_html_()


def test_a_card_with_thousands_of_tags_shows_the_first_and_counts_the_rest():
    """A row and a card's view show the first 20 tags and how many more there are: a card of
    10,000 tags made a table of five rows 1 MB of HTML."""
    card = MCard("tagged")
    tags = [f"tag{i:05d}" for i in range(10_000)]
    markup = CardList([card], tags={card.hash: tags})._repr_html_()
    assert len(markup) < 5000
    assert "tag00019" in markup and "tag00020" not in markup and "and 9,980 more tags" in markup
    assert "and 9,980 more tags" in card_html(card, tags=tags) and len(card_html(card, tags=tags)) < 5000
    assert "more tags" not in card_html(card, tags=tags[:20])


def big_png(width: int = 1600, height: int = 1200) -> bytes:
    image = Image.effect_noise((width, height), 60).convert("RGB")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_large_images_show_as_small_thumbnails():
    card = MCard(big_png())
    assert card.size > 1_000_000
    for markup, px in ((CardList([card])._repr_html_(), 96), (card_html(card), 320)):
        match = re.search(r'src="data:(image/[a-z]+);base64,([^"]+)"', markup)
        assert match and len(markup) < 60_000
        shown = Image.open(io.BytesIO(base64.b64decode(match[2])))
        assert max(shown.size) == px


@pytest.mark.parametrize("side", [4_500, 10_000, 20_000])  # 20 megapixels: too slow; 100: Pillow warns; 400: it refuses
def test_an_image_of_more_pixels_than_pillow_decodes_is_never_inlined_nor_warned_about(side):
    """A few KB of PNG that decode to a huge bitmap: no preview (inlined, the browser decoded
    it: 3 GB for one card; decoded, Pillow warned on the cell's stderr)."""
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, "PNG", optimize=True)
    card = MCard(out.getvalue())
    assert card.size < 64 * 1024
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        for markup in (CardList([card])._repr_html_(), card_html(card)):
            assert "data:image" not in markup and len(markup) < 5000
    assert warned == []


def test_a_photo_of_many_pixels_is_read_at_a_small_scale_and_shown():
    """A JPEG is decoded at an eighth of its size or less for a thumbnail: 48 megapixels pass."""
    out = io.BytesIO()
    Image.new("RGB", (8000, 6000), (200, 80, 40)).save(out, "JPEG")
    match = re.search(r'src="data:image/jpeg;base64,([^"]+)"', card_html(MCard(out.getvalue())))
    assert match and max(Image.open(io.BytesIO(base64.b64decode(match[1]))).size) == 320


def test_one_card_shows_a_bounded_head_of_its_content():
    data = bytes(range(256)) * 40
    markup = card_html(MCard(data))
    assert "00 01 02 03" in markup and "… 10,112 more bytes" in markup and len(markup) < 2000
    text = card_html(MCard("word " * 10_000))
    assert "more characters" in text and len(text) < 3000
    assert re.search(r"… \(\d{2},\d{3} more characters\)", text)  # grouped, as every other count shown


def test_a_page_of_a_larger_result_says_the_rest_was_not_fetched():
    page = CardList(many(3), total=10)._repr_html_()
    assert "3 of 10 cards shown" in page and "7 more match, not fetched" in page and ".to_dataframe()" not in page
    long_page = CardList(many(30), total=100)._repr_html_()
    assert "20 of 100 cards shown" in long_page and "holds the 30 of this list" in long_page
    assert "70 more match, not fetched" in long_page
    hidden = CardList(many(4), limit=0)._repr_html_()
    assert "no cards" not in hidden and "0 of 4 cards shown" in hidden


def test_bytes_of_no_known_type_preview_as_hex_even_when_they_are_utf8():
    from mcard.notebook.explorer.previews import preview

    shown = preview(MCard(b"\x00" * 10))
    assert shown["kind"] == "hex" and "00 00 00" in shown["html"]
    assert preview(MCard(b"plain words as bytes"))["kind"] == "text"


def test_to_dataframe_refuses_what_is_not_cards():
    import mcard.notebook as notebook
    from mcard import ValidationError

    for bad in (None, ["a"], "abc", 5):
        with pytest.raises(ValidationError, match="to_dataframe takes cards"):
            notebook.to_dataframe(bad)
    with pytest.raises(ValidationError, match="to_dataframe takes cards, got NoneType at position 1"):
        notebook.to_dataframe([MCard("x"), None])
    assert len(notebook.to_dataframe(iter([MCard("x")]))) == 1
