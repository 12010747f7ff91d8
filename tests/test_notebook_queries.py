"""The notebook facade finds, filters, counts and labels cards as the async wrapper does,
plainly and awaited, and its DataFrames carry names, tags and snippets."""

from __future__ import annotations

import asyncio
import warnings
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

import mcard.notebook
from mcard import DamagedCard, MCard, Sighting, ValidationError
from mcard.importing import import_paths
from mcard.notebook import CreateForm

JAN = datetime(2026, 1, 15, tzinfo=timezone.utc)
PNG = bytes.fromhex("89504e470d0a1a0a") + bytes(24)


@pytest.fixture
def cards(tmp_path):
    with mcard.notebook.open(tmp_path / "queries.db") as opened:
        yield opened


@pytest.fixture
def filled(cards):
    holiday = cards.create("Beach holiday photos, the big blue sea", name="beach.txt", source="camera")
    cards.create("Quarterly report: the big numbers", name="report.md")
    cards.create("grocery list: STRASSE bread milk")
    picture = cards.create(PNG, name="dot.png")
    cards.tag(holiday.hash, "holiday", "summer")
    cards.tag(picture.hash, "holiday")
    return cards


def test_filters_reach_every_listing(filled):
    assert filled.count(tag="holiday") == 2 and filled.count(content_type="image/*") == 1
    assert [card.content for card in filled.list(name="*.md")] == ["Quarterly report: the big numbers"]
    assert {card.content_type for card in filled.iterate(page_size=1, tag="holiday")} == {"text/plain", "image/png"}
    assert len(filled.list_df(min_size=33)) == 2
    with pytest.raises(ValidationError):
        filled.list(colour="red")


def test_search_modes_and_snippets(filled):
    assert [c.content for c in filled.search("straße", case_sensitive=False)] == ["grocery list: STRASSE bread milk"]
    found = filled.search('"big blue" OR numbers', mode="words")
    assert len(found) == 2 and str(found.snippet(found[0])).count("«") >= 1
    shown = repr([found.snippet(card) for card in found])  # as a cell shows the list: the marked texts
    assert shown.startswith("[Match('") and shown.count("«") >= 2 and "parts=" not in shown, shown
    assert len(filled.search(r"\bbig\s+\w+", mode="regex")) == 2
    frame = filled.search_df("BIG", case_sensitive=False, snippets=True)
    assert sorted(frame["snippet"]) == ["Beach holiday photos, the «big» blue sea", "Quarterly report: the «big» numbers"]
    assert "snippet" not in filled.search_df("big").columns
    with pytest.raises(ValidationError, match="mode"):
        filled.search("x", mode="fuzzy")


def test_display_columns_show_control_characters_as_escapes(cards):
    """Printed in a terminal (a script, IPython, jupyter console), a frame cannot drive it."""
    cards.create("evil \x1b[31mred\x1b]0;title\x07 moon \u202eright to left")
    frame = cards.search_df("moon", mode="words", snippets=True)
    shown = " ".join([*frame["preview"], *frame["snippet"]])
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
    assert "\\x1b[31mred\\x1b]0;title\\x07" in frame["preview"][0] and "\\u202e" in frame["snippet"][0]
    assert "«moon»" in frame["snippet"][0]


def test_find_counts_every_match_and_frames_it(filled):
    found = filled.find("tag:holiday", limit=1)
    assert len(found) == 1 and found.total == 2
    frame = filled.find_df("big -report", snippets=True)
    assert frame.attrs["total"] == 1 and list(frame["name"]) == ["beach.txt"]
    assert list(frame["tags"]) == [("holiday", "summer")] and "«big»" in frame["snippet"][0]
    with pytest.raises(ValidationError, match="position"):
        filled.find('type:image/* "unclosed')
    without = filled.find_df("tag:holiday -beach", snippets=True)  # exclusions alone; a picture holds no word
    assert without.attrs["total"] == 1 and list(without["name"]) == ["dot.png"]
    assert [c.content for c in filled.find("-big -png")] == [PNG, "grocery list: STRASSE bread milk"]  # newest first


def test_facets_and_stats(filled):
    facets = filled.facets(by=("content_type", "tag"))
    assert facets["content_type"][0] == ("text/plain", 3) and dict(facets["tag"]) == {"holiday": 2, "summer": 1}
    assert dict(filled.facets("tag:summer", by=("tag",))["tag"]) == {"holiday": 1, "summer": 1}
    assert filled.facets("tag:summer", by="tag") == filled.facets("tag:summer", by=("tag",))  # one field, not letters
    stats = filled.stats()
    assert stats.count == 4 and stats.by_content_type["image/png"] == (1, len(PNG))


def test_dataframes_show_latest_names_and_tags(filled):
    frame = filled.list_df().set_index("name")
    assert frame.loc["beach.txt", "tags"] == ("holiday", "summer")
    assert frame.loc["dot.png", "tags"] == ("holiday",)
    unnamed = filled.list_df(name=None).query("content_type == 'text/plain'")
    assert unnamed["name"].isna().sum() == 1
    assert str(frame.reset_index()["name"].dtype) == "string"


def test_tags_and_sightings_plainly_and_awaited(filled):
    card = filled.find("name:report.md")[0]
    assert filled.tag(card.hash, "work", "q3") == 2 and filled.tags(card.hash) == ["q3", "work"]
    assert filled.untag(card.hash, "q3", "never") == 1
    assert [(s.name, s.source) for s in filled.sightings(card.hash)] == [("report.md", None)]
    with pytest.raises(ValidationError):
        filled.tag(card.hash, "bad\x07tag")
    with pytest.raises(ValidationError):
        filled.tag_many([(card.hash, "fine"), ("0" * 64, "not stored")])
    assert filled.tags(card.hash) == ["work"]

    async def awaited() -> tuple[list[str], list[str], int]:
        await filled.atag(card.hash, "awaited")
        await filled.auntag(card.hash, "work")
        seen = [s.name for s in await filled.asightings(card.hash)]
        found = await filled.afind("tag:awaited")
        return await filled.atags(card.hash), seen, found.total

    assert asyncio.run(awaited()) == (["awaited"], ["report.md"], 1)


def test_awaited_queries_match_plain_ones(filled):
    async def awaited():
        return (
            await filled.acount(tag="holiday"),
            [c.hash for c in await filled.asearch("big", mode="words")],
            await filled.afacets(by=("tag",)),
            (await filled.astats()).count,
            [c.hash async for c in filled.aiterate(content_type="image/png")],
        )

    count, searched, facets, total, images = asyncio.run(awaited())
    assert count == filled.count(tag="holiday") and searched == [c.hash for c in filled.search("big", mode="words")]
    assert facets == filled.facets(by=("tag",)) and total == 4
    assert images == [c.hash for c in filled.list(content_type="image/png")]


def test_awaited_dataframes_match_plain_ones(filled):
    async def awaited() -> list[pd.DataFrame]:
        return [
            await filled.alist_df(tag="holiday"),
            await filled.alist_df(content=True, name="*.md"),
            await filled.asearch_df("BIG", case_sensitive=False, snippets=True),
            await filled.afind_df("big -report", snippets=True),
            await filled.aframe(await filled.asearch("big"), content=True),
        ]

    frames = asyncio.run(awaited())
    plain = [
        filled.list_df(tag="holiday"),
        filled.list_df(content=True, name="*.md"),
        filled.search_df("BIG", case_sensitive=False, snippets=True),
        filled.find_df("big -report", snippets=True),
        filled.frame(filled.search("big"), content=True),
    ]
    for got, expected in zip(frames, plain):
        pd.testing.assert_frame_equal(got, expected)
    assert frames[3].attrs["total"] == 1 and list(frames[3]["tags"]) == [("holiday", "summer")]


def test_every_method_but_the_explorer_widget_has_an_awaitable_twin():
    public = {name for name in dir(mcard.notebook.NotebookCards) if not name.startswith("_")}
    lacking = {name for name in public if f"a{name}" not in public and name not in ("add", "sync_to", "sync_from")
               and not (name.startswith("a") and name[1:] in public)}
    assert lacking == {"explorer"}


def test_create_with_a_name_records_a_sighting(cards):
    card = cards.create("named once", name="a.txt", source="notes")
    again, new = cards.add("named once", name="b.txt")
    assert again == card and not new
    assert [(s.name, s.source) for s in cards.sightings(card.hash)] == [("a.txt", "notes"), ("b.txt", None)]
    plain = cards.create("never named")
    assert cards.sightings(plain.hash) == []


def test_duplicates_df_lists_content_seen_under_several_names(cards, tmp_path):
    folder = tmp_path / "photos"
    (folder / "2025").mkdir(parents=True)
    (folder / "a.txt").write_text("same words")
    (folder / "2025" / "a.txt").write_text("same words")
    (folder / "copy of a.txt").write_text("same words")
    (folder / "b.txt").write_text("only once")
    (folder / "c.bin").write_bytes(b"\x00twice")
    (folder / "d.bin").write_bytes(b"\x00twice")
    asyncio.run(_import(cards, folder))
    asyncio.run(_import(cards, folder))  # the same files again: no new sightings
    frame = cards.duplicates_df()
    assert list(frame.columns) == ["hash", "names", "paths", "size", "sightings"]
    assert list(frame["names"]) == [["a.txt", "copy of a.txt"], ["c.bin", "d.bin"]]
    assert frame["paths"][0] == ["2025/a.txt", "a.txt", "copy of a.txt"]
    assert list(frame["size"]) == [10, 6] and list(frame["sightings"]) == [3, 2]
    assert cards.duplicates_df().equals(frame)


def test_duplicates_df_reads_no_content(cards):
    """It read every named card whole (300 files of 2 MB: 834 MB at its peak); now their rows
    without contents."""
    import tracemalloc

    from mcard import AsyncPersistenceWrapper

    big = [MCard(bytes([0xFF, i]) * 1_000_000) for i in range(10)]  # not UTF-8: no search index reads them

    async def save() -> None:
        async with AsyncPersistenceWrapper(cards.config) as store:
            await store.save_many(big, sightings=[Sighting.of(card.hash, name=f"{i}-{copy}.bin", path=f"{copy}/{i}.bin")
                                                  for i, card in enumerate(big) for copy in ("a", "b")])

    asyncio.run(save())
    tracemalloc.start()
    try:
        frame = cards.duplicates_df()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sorted(frame["hash"]) == sorted(card.hash for card in big) and set(frame["size"]) == {2_000_000}
    assert peak < 8_000_000, peak  # 10 x 2 MB read at once before


async def _import(cards, folder) -> None:
    from mcard import AsyncPersistenceWrapper

    async with AsyncPersistenceWrapper(cards.config) as store:
        await import_paths(store, [folder], progress=False)


def test_uploads_are_imported_like_files(cards):
    form = CreateForm(cards)
    now = datetime.now(timezone.utc)
    data = "city,people\nBerlin,3.7\nParis,2.1\n".encode()
    form.upload.value = ({"name": "cities.csv", "type": "", "size": len(data), "content": memoryview(data), "last_modified": now},)
    assert form.message.startswith("cities.csv added") and not form.failed
    card = cards.list()[0]
    assert card.content == data.decode() and card.content_type == "text/csv"
    assert [(s.name, s.source) for s in cards.sightings(card.hash)] == [("cities.csv", "upload")]
    assert list(cards.list_df()["name"]) == ["cities.csv"]


def test_frames_without_a_store_have_empty_labels():
    frame = mcard.notebook.to_dataframe([mcard.MCard("alone")])
    assert frame["name"].isna().all() and list(frame["tags"]) == [()]
    assert isinstance(frame, pd.DataFrame)


def test_labels_of_a_large_frame_are_right_whichever_way_they_are_read(cards):
    """Past a few thousand cards, labels are read from the whole (smaller) table; either way
    every card gets its own name and tags."""
    cards.save_many([f"plain card {i}" for i in range(2500)], progress=False)
    named = [cards.create(f"named card {i}", name=f"n{i}.txt") for i in range(3)]
    cards.tag_many([(named[0].hash, "first"), (named[0].hash, "both"), (named[2].hash, "both")])
    frame = cards.list_df().set_index("hash")
    assert len(frame) == 2503 and frame["name"].notna().sum() == 3
    assert [frame.loc[card.hash, "name"] for card in named] == ["n0.txt", "n1.txt", "n2.txt"]
    assert [frame.loc[card.hash, "tags"] for card in named] == [("both", "first"), (), ("both",)]
    small = cards.list_df(limit=5).set_index("hash")  # a short list: looked up by hash
    assert small.loc[named[2].hash, "tags"] == ("both",) and small.loc[named[2].hash, "name"] == "n2.txt"
    assert cards.list_df(labels=False)["name"].isna().all()


def test_tables_of_listings_show_names_and_tags(filled):
    listed, found = filled.list()._repr_html_(), filled.find("tag:summer")._repr_html_()
    assert "beach.txt" in listed and "summer" in listed and "dot.png" in listed
    assert "beach.txt" in found and "summer" in found and "report.md" not in found


def test_a_list_makes_the_frame_of_every_card_it_holds_with_their_names_and_tags(cards):
    """``cards.list().to_dataframe()`` carries names and tags (it had none: ``()`` read as
    untagged), also of cards past the rows its table shows; a frame of cards in a generator,
    even one of the store's own calls, holds every card."""
    oldest = cards.create("named", name="named.txt")
    cards.tag(oldest.hash, "keep")
    cards.save_many([f"plain {i}" for i in range(30)], progress=False)
    listed = cards.list()
    assert len(listed) == 31 and listed[-1] == oldest  # past the 20 rows the table shows
    assert "named.txt" not in listed._repr_html_()
    mcard.notebook.options.display_limit = 40  # raised since: the rows past 20 showed no names
    try:
        assert "named.txt" in listed._repr_html_() and "keep" in listed._repr_html_()
    finally:
        mcard.notebook.options.display_limit = 20
    frame = listed.to_dataframe().set_index("hash")
    assert frame.loc[oldest.hash, "name"] == "named.txt" and frame.loc[oldest.hash, "tags"] == ("keep",)
    assert frame["name"].notna().sum() == 1
    found = cards.find("named")
    assert found.to_dataframe().set_index("hash").loc[oldest.hash, "tags"] == ("keep",)
    for given in ((card for card in listed), cards.iterate()):
        framed = cards.frame(given).set_index("hash")
        assert len(framed) == 31 and framed.loc[oldest.hash, "name"] == "named.txt"
    assert cards.labels(card for card in cards.iterate()).names == {oldest.hash: "named.txt"}
    assert cards.remove_many(card.hash for card in cards.iterate() if card.content == "plain 3") == 1
    named = [*cards.verify(progress=False).damaged, DamagedCard("0" * 64, "a row no longer there")]
    assert cards.remove_damaged(d for d in named if cards.get(d.hash) is None) == 0  # the store's calls in it


@pytest.mark.parametrize("call", [
    lambda cards: cards.frame([1]), lambda cards: cards.labels([1]), lambda cards: cards.frame(5),
    lambda cards: cards.tag_many(5), lambda cards: cards.facets(by=5), lambda cards: cards.get_many(5),
    lambda cards: cards.remove_many(None), lambda cards: cards.remove_damaged("x"),
])
def test_arguments_of_the_wrong_kind_are_validation_errors(cards, call):
    with pytest.raises(ValidationError):
        call(cards)


def test_a_query_that_matches_nothing_says_which_items_were_no_field(filled):
    """``tpye:text/plain`` is two words no card holds: the notebook showed "no cards" alone,
    where the command line and the explorer say which item was no field."""
    missed = filled.find("tpye:text/plain")
    assert missed.total == 0 and missed.note.startswith("tpye: is read as words; the fields are type:")
    assert "<code>tpye:</code> is read as words" in missed._repr_html_() and missed.note.endswith("kind:, text:.")
    assert filled.find("type:text/plain").note == "" and filled.find("nothing holds this").note == ""
    assert asyncio.run(filled.afind("colour:blue")).note.startswith("colour: is read as words")
    card = filled.list(1)[0]  # a hash is no query: what opens its card is named
    assert filled.find(card.hash[:10]).note == (
        f"a hash starts with it, and a query looks in texts and fields, not hashes: cards.resolve('{card.hash[:10]}').")


def test_a_word_inside_longer_words_is_named_with_what_finds_it(cards):
    """Thai is written without spaces and a katakana compound is one word: a word search for a
    part of either found nothing and said nothing."""
    cards.save_many([MCard("ภาษาไทย ดีมาก"), MCard("テキストエディタを使う")])
    assert cards.find("ไทย").note == "text:ไทย finds 1 card inside longer words."
    assert cards.find("テキスト").note == "テキスト* finds 1 card as the start of longer words."
    assert cards.find("テキスト*").total == 1 and cards.find("nowhere").note == ""
    cards.save_many([MCard("love 🍕 and pizza")])  # an emoji is no word: found with love, said unsearched
    found = cards.find("love 🎸 -☕")
    assert found.total == 1 and found.note == (
        "'🎸', '-☕' were not looked for: no letter or digit, so no word (text:🎸 looks for it as text).")
    assert cards.find("love").note == ""


def test_import_and_export_results_display_as_a_sentence(cards, tmp_path):
    """They showed as their dataclass fields, wrapped mid-word in a notebook."""
    from IPython.lib.pretty import pretty

    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a.txt").write_text("a note")
    (tmp_path / "files" / "empty.txt").write_text("")
    assert pretty(cards.import_paths(tmp_path / "files", progress=False)) == (
        "1 new card, 0 already stored; 1 sighting and 0 tags added; skipped 1 file: 1 empty")
    assert pretty(cards.export(tmp_path / "out.jsonl", progress=False)) == "exported 1 card"
    assert pretty(cards.verify(progress=False)).startswith("verified 1 card")
    assert pretty(cards.sync_to(tmp_path / "copy.db", progress=False)).startswith("copied 1 card")


def numbers_from_a_frame(cards):
    """A frame's integers are NumPy's: the counts and sizes a user reads off one to ask again."""
    frame = cards.list_df()
    assert type(frame["size"].max()) is np.int64
    return {"limit": np.int64(2), "offset": frame.index[1], "min_size": frame["size"].min(), "max_size": frame["size"].max()}


def test_counts_and_sizes_read_off_a_frame_are_taken(filled):
    numbers = numbers_from_a_frame(filled)
    as_ints = {key: int(value) for key, value in numbers.items()}
    assert list(filled.list_df(**numbers)["hash"]) == list(filled.list_df(**as_ints)["hash"])
    assert len(filled.list_df(**numbers)) == 2 and filled.count(min_size=numbers["min_size"], max_size=numbers["max_size"]) == 4
    assert len(filled.find_df("big", limit=numbers["limit"], offset=numbers["offset"])) == 1
    assert len(filled.search_df("big", limit=np.uint8(1))) == 1 and len(list(filled.iterate(page_size=np.int64(1)))) == 4
    assert filled.explorer(page_size=np.int16(3)).page_size == 3
    for wrong in (np.True_, 2.0, np.float64(2), np.int64(-1)):
        with pytest.raises(ValidationError, match="limit must be an integer"):
            filled.list_df(limit=wrong)


def test_a_missing_time_read_off_an_empty_frame_is_named(filled):
    last = filled.list_df(tag="no such tag")["g_time"].max()
    assert last is pd.NaT
    with pytest.raises(ValidationError, match="^start_time is NaT, a missing time"):
        filled.list_df(start_time=last)
    with pytest.raises(ValidationError, match="^g_time is NaT"):
        MCard("x", g_time=pd.NaT)


def test_a_frame_of_a_query_with_a_mistyped_field_says_so(filled):
    """``find_df("kinds:bytes")`` gave an empty frame and nothing else; ``find`` gave a note."""
    with pytest.warns(UserWarning, match="^kinds: is read as words; the fields are type:"):
        frame = filled.find_df("kinds:bytes")
    assert frame.empty and frame.attrs["note"] == filled.find("kinds:bytes").note
    assert set(filled.find_df("kind:bytes")["kind"]) <= {"bytes"}  # a field now: no note
    with pytest.warns(UserWarning, match="^colour: is read as words"):
        assert asyncio.run(filled.afind_df("colour:blue")).attrs["total"] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "note" not in filled.find_df("type:text/plain").attrs and filled.find_df("nothing holds this").empty


def test_a_bad_argument_is_raised_at_the_call_not_from_the_loop_threads_frames(cards):
    """A notebook shows the error a few frames from the cell: it came through 10-15 frames of
    the engine, the write queue and ``concurrent.futures`` for a one-line message."""
    import traceback

    def frames(error: BaseException) -> list[str]:
        return [frame.filename for frame in traceback.extract_tb(error.__traceback__)]

    for call in (lambda: cards.list(limit=-1), lambda: cards.find('"open'), lambda: cards.tag("0" * 64, "x"),
                 lambda: cards.get("zz")):
        with pytest.raises(ValidationError) as caught:
            call()
        assert len(frames(caught.value)) <= 5 and not any("engine" in name or "futures" in name for name in frames(caught.value))

    async def awaited() -> list[str]:
        with pytest.raises(ValidationError, match="min_size") as caught:
            await cards.acount(min_size=-1)
        return frames(caught.value)

    assert not any("engine" in name or "asyncio" in name for name in asyncio.run(awaited()))


def test_batches_of_no_cards_are_refused_not_taken_as_one_transaction(cards):
    for wrong in (0, -1, 1.5, "10", False):
        with pytest.raises(ValidationError, match=f"batch_size must be a positive integer .*got {wrong!r}"):
            cards.save_many(["a", "b"], batch_size=wrong, progress=False)
    assert cards.count() == 0
    assert cards.save_many(["a", "b"], batch_size=1, progress=False) == 2
