"""A DataFrame of cards that went through pandas' own operations imports as the cards it holds."""

from __future__ import annotations

import pandas as pd
import pytest

import mcard.notebook
from mcard import ValidationError


def test_a_frame_whose_sizes_pandas_made_floats_imports(tmp_path):
    """An outer merge leaves a row without a card, so pandas holds the sizes as float64; with
    that row dropped, each card was refused: 'the record's size 5.0 is not its content's 5 bytes'."""
    with mcard.notebook.open(tmp_path / "source.db") as cards:
        for text in ("first", "second one", "straße"):
            cards.create(text, name=f"{text}.txt")
        frame = cards.list_df(content=True)
    scores = pd.DataFrame({"hash": [frame.hash[0], "0" * 64], "score": [0.5, 0.9]})
    merged = frame.merge(scores, on="hash", how="outer").dropna(subset=["content"])
    assert merged["size"].dtype == "float64"
    with mcard.notebook.open(tmp_path / "copy.db") as copy:
        assert copy.import_records(merged).new == 3
        pd.testing.assert_frame_equal(copy.list_df(content=True), frame)


def test_a_frame_given_where_cards_go_is_named(tmp_path):
    """``cards.frame(df)`` said "got a str among them": a DataFrame iterates over its column names."""
    with mcard.notebook.open(tmp_path / "cards.db") as cards:
        cards.create("one")
        frame = cards.list_df(content=True)
        with pytest.raises(ValidationError, match=r"frame takes cards, not a DataFrame \(import_records\(df\) stores"):
            cards.frame(frame)
