"""A Parquet file read back by pandas (``pd.read_parquet``) is a frame whose list columns hold
NumPy arrays: it imports as the frame it was written from does."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest

import mcard.notebook
from mcard import MCard


@pytest.fixture
def cards(tmp_path):
    """Text and bytes, tagged (one card with no tag), seen under names that are not ASCII."""
    with mcard.notebook.open(tmp_path / "source.db") as store:
        contents = ["straße and 東京", b"\x89PNG\r\n\x1a\n" + bytes(range(24)), "no tags, no name"]
        for i, content in enumerate(contents):
            card = MCard(content, g_time=datetime(2025, 3, 1 + i, 8, 30, 15, 123456, tzinfo=timezone.utc))
            store.save(card)
            if i < 2:
                store.tag(card.hash, "日本", f"t{i}")
                store.create(content, name=f"фото {i}.dat")
                store.create(content, name=f"copy {i}.dat", source="camera")
        yield store


def restored(frame, tmp_path):
    with mcard.notebook.open(tmp_path / "copy.db") as copy:
        copy.import_records(frame)
        return copy.list_df(content=True), {card.hash: copy.sightings(card.hash) for card in copy.iterate()}


def test_a_frame_written_to_parquet_and_read_by_pandas_imports(cards, tmp_path):
    """Its tags came back as arrays: the import failed with NumPy's 'truth value of an array'."""
    frame = cards.list_df(content=True)
    frame.to_parquet(tmp_path / "cards.parquet")
    read = pd.read_parquet(tmp_path / "cards.parquet")
    copy, _ = restored(read, tmp_path)
    pd.testing.assert_frame_equal(copy, frame)


def test_an_export_read_by_pandas_imports_with_its_sightings(cards, tmp_path):
    cards.export(tmp_path / "export.parquet")
    read = pd.read_parquet(tmp_path / "export.parquet")
    copy, sightings = restored(read, tmp_path)
    pd.testing.assert_frame_equal(copy, cards.list_df(content=True))
    assert sightings == {card.hash: cards.sightings(card.hash) for card in cards.iterate()}
    assert sum(map(len, sightings.values())) == 4
