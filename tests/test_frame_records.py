"""A DataFrame of cards written by pandas itself (``to_csv``, ``to_parquet``, ``to_json``)
imports back as the same cards, with their times, names and tags."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

import mcard.notebook
from mcard import MCard, ValidationError

TOKYO = timezone(timedelta(hours=9))


@pytest.fixture
def frame(tmp_path):
    """Text, UTF-8 and other bytes, a PNG; names and tags that are not ASCII; times over years."""
    with mcard.notebook.open(tmp_path / "source.db") as cards:
        contents = [
            "straße, 東京 and a\ttab\nover lines",
            "it's \"quoted\", with a comma",
            b"\x89PNG\r\n\x1a\n" + bytes(range(24)),
            b"\xff\xfe not utf-8 \x00 'single' \"double\"",
            "Zürich".encode(),
            "=1+2 looks like a formula",
        ]
        for i, content in enumerate(contents):
            card = MCard(content, g_time=datetime(2019 + i, 3, 1, 8, 30, 15, 123456, tzinfo=TOKYO))
            cards.save(card)
            cards.tag(card.hash, "日本", f"t{i}")
            if i % 2:
                cards.create(content, name=f"фото {i}.dat")
        yield cards.list_df(content=True)


def imported(path, tmp_path):
    with mcard.notebook.open(tmp_path / "copy.db") as copy:
        copy.import_records(path)
        return copy.list_df(content=True)


@pytest.mark.parametrize("index", [False, True])
def test_a_frame_written_as_csv_imports_back(frame, tmp_path, index):
    frame.to_csv(tmp_path / "cards.csv", index=index)
    pd.testing.assert_frame_equal(imported(tmp_path / "cards.csv", tmp_path), frame)


@pytest.mark.parametrize("write", ["to_parquet", "to_json"])
def test_a_frame_written_as_parquet_or_json_lines_imports_back(frame, tmp_path, write):
    path = tmp_path / ("cards.parquet" if write == "to_parquet" else "cards.jsonl")
    if write == "to_parquet":
        frame.to_parquet(path)
    else:
        frame[frame.kind == "text"].to_json(path, orient="records", lines=True, date_format="iso", date_unit="us")
        frame = frame[frame.kind == "text"].reset_index(drop=True)
    pd.testing.assert_frame_equal(imported(path, tmp_path), frame)


def test_a_bytes_literal_is_read_only_for_a_bytes_record(tmp_path):
    """Text that merely looks like a literal stays text; a literal that is not its hash's is refused."""
    text = MCard("b'\\x00'")
    with mcard.notebook.open(tmp_path / "copy.db") as copy:
        (tmp_path / "a.csv").write_text(f"hash,g_time,kind,content\n{text.hash},2026-01-01 00:00:00Z,text,{text.content}\n")
        copy.import_records(tmp_path / "a.csv")
        assert copy.get(text.hash).content == "b'\\x00'"
        (tmp_path / "b.csv").write_text(f"hash,g_time,kind,content\n{text.hash},2026-01-01 00:00:00Z,bytes,b'\\x01'\n")
        with pytest.raises(ValidationError, match="does not hash to"):
            copy.import_records(tmp_path / "b.csv")
        (tmp_path / "c.csv").write_text("g_time,content,tags\n2026-01-01 00:00:00Z,x,\"(1, __import__('os'))\"\n")
        with pytest.raises(ValidationError, match="tags is not a JSON list"):
            copy.import_records(tmp_path / "c.csv")


def test_a_frame_imports_as_it_is(frame, tmp_path):
    """Filtered and edited in pandas, then restored without a file between."""
    edited = frame[frame.kind == "bytes"].assign(tags=lambda f: f.tags.map(lambda tags: tuple(sorted((*tags, "kept")))))
    with mcard.notebook.open(tmp_path / "copy.db") as copy:
        summary = copy.import_records(edited)
        assert (summary.new, summary.tags_added) == (3, 9)
        pd.testing.assert_frame_equal(copy.list_df(content=True), edited.reset_index(drop=True))


def test_a_frame_row_that_is_no_card_is_named(frame, tmp_path):
    with mcard.notebook.open(tmp_path / "copy.db") as copy:
        with pytest.raises(ValidationError, match=r"^the DataFrame: row 2 \(index 1\): the record's size 1 is not its content's"):
            copy.import_records(frame.assign(size=[frame["size"][0], 1, *frame["size"][2:]]))
        with pytest.raises(ValidationError, match=r"row 1 \(index 0\): g_time .* has no UTC offset"):
            copy.import_records(frame.assign(g_time=frame.g_time.dt.tz_localize(None)))
        filtered = frame[frame.kind == "bytes"].assign(size=1)  # the index keeps the frame's labels
        assert filtered.index[0] != 0
        with pytest.raises(ValidationError, match=rf"^the DataFrame: row 1 \(index {filtered.index[0]}\): the record's size 1"):
            copy.import_records(filtered)
        with pytest.raises(ValidationError, match="a DataFrame is read as it is"):
            copy.import_records(frame, format="csv")
        with pytest.raises(ValidationError, match="not a list"):
            copy.import_records(frame.to_dict("records"))
        assert copy.count() == 1


def test_a_frame_without_content_says_how_to_make_one_that_imports(frame, tmp_path):
    """A frame of list_df() without content=True: it said 'an export made with --no-content
    cannot be imported', a command-line flag, at its first row."""
    with mcard.notebook.open(tmp_path / "copy.db") as copy:
        with pytest.raises(ValidationError, match=r"^the DataFrame: it has no content column: a frame made with content=True"
                                                  r" imports, such as cards.list_df\(content=True\)"):
            copy.import_records(frame.drop(columns="content"))
        assert copy.import_records(frame.drop(columns="content").head(0)).new == 0
        assert copy.count() == 0


@pytest.mark.parametrize("index", [["g_time"], ["hash"], ["content_type", "g_time"]])
def test_a_frame_indexed_by_its_columns_imports(frame, tmp_path, index):
    """As a frame is after resample() or groupby(): the index holds g_time or the hash."""
    with mcard.notebook.open(tmp_path / "copy.db") as copy:
        assert copy.import_records(frame.set_index(index)).new == len(frame)
        pd.testing.assert_frame_equal(copy.list_df(content=True), frame)


def test_a_frame_of_the_stores_own_cards_imported_back_adds_no_sighting(tmp_path):
    """A name the store lists the card under already is not seen again; a name edited in the
    frame is, and the card is listed under it."""
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "one.txt").write_text("one")
    (folder / "two.txt").write_text("two")
    with mcard.notebook.open(tmp_path / "cards.db") as cards:
        cards.import_paths(folder, progress=False)
        cards.upload("three.txt", b"three")
        before = {card.hash: cards.sightings(card.hash) for card in cards.list()}
        frame = cards.list_df(content=True)
        cards.import_records(frame, progress=False)
        assert {card.hash: cards.sightings(card.hash) for card in cards.list()} == before
        assert cards.duplicates_df().empty

        frame.loc[frame.name == "two.txt", "name"] = "second.txt"
        cards.import_records(frame, progress=False)
        renamed = frame.hash[frame.name == "second.txt"].item()
        assert [seen.name for seen in cards.sightings(renamed)] == ["two.txt", "second.txt"]
        assert cards.list_df().set_index("hash").name[renamed] == "second.txt"
        assert all(cards.sightings(key) == seen for key, seen in before.items() if key != renamed)
