"""The explorer driven without a browser, over a real SQLite store: every action is the method
a click in the browser sends (``_on_message`` dispatches to them), and the state traitlets
are what the browser draws."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import re
import struct
import subprocess
import sys
import tomllib
import wave
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import traitlets
from PIL import Image
from tests.test_display_escaping import check_markup, parse

import mcard.notebook
from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig, ValidationError
from mcard.demo import demo_files
from mcard.domain.query.syntax import lone_word, symbols_as_text, with_spaces_quoted, without_operator_words
from mcard.domain.query.text import text_of, tokens
from mcard.infrastructure.persistence.engine.facets import time_bucket
from mcard.notebook.explorer import Explorer, rows

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 3, 1, tzinfo=timezone.utc)
HOSTILE = "<img src=x onerror=alert(1)><script>alert('x')</script>"


def png(width: int = 900, height: int = 600) -> bytes:
    out = io.BytesIO()
    Image.effect_noise((width, height), 50).convert("RGB").save(out, "PNG")
    return out.getvalue()


def wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(n / 5))) for n in range(4000)))
    return out.getvalue()


SPECIAL = {
    "json": '{"name": "card", "items": [1, 2, {"deep": true}], "note": "<b>not bold</b>"}',
    "csv": "city,country,people\nLyon,France,522000\nPorto,Portugal,232000\nGent,Belgium,265000\n",
    "markdown": f"# Notes\n\nSome **bold** and *italic* text with `code`.\n\n- one\n- two\n\n{HOSTILE}\n\n[a link](https://example.org) [bad](javascript:alert(1))\n",
    "svg": '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(4)" width="10" height="10"><circle r="4"/></svg>',
    "hostile": f"{HOSTILE} fox",
}


def _seed(path: Path) -> dict[str, MCard]:
    """40 sentences over 40 days, and one card of each special kind, some seen under names."""

    async def seed() -> dict[str, MCard]:
        made: dict[str, MCard] = {}
        async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
            words = ["fox", "dog", "moon"]
            sentences = [
                MCard(f"The {words[n % 3]} number {n} walks by", g_time=START + timedelta(days=n))
                for n in range(40)
            ]
            await store.save_many(sentences)
            made.update({f"sentence {n}": card for n, card in enumerate(sentences)})
            for key, content in [*SPECIAL.items(), ("png", png()), ("wav", wav()), ("bytes", bytes(range(256)) * 8)]:
                name = {"markdown": "notes.md", "png": "photo.png", "hostile": f"{HOSTILE}.txt"}.get(key)
                made[key] = await store.create(content, name=name, source="seed")
            await store.tag(made["png"].hash, "holiday", "2026")
            await store.tag(made["hostile"].hash, HOSTILE)
        return made

    return asyncio.run(seed())


@pytest.fixture
def store(tmp_path):
    made = _seed(tmp_path / "cards.db")
    cards = mcard.notebook.open(tmp_path / "cards.db")
    yield cards, made
    cards.close()


def stored_tags(cards, hash_str: str) -> list[str]:
    return cards._run(cards._wrapper.tags(hash_str))


def test_the_explorer_opens_on_the_newest_cards_with_a_total_and_facets(store):
    cards, made = store
    explorer = cards.explorer()
    assert isinstance(explorer, Explorer)
    assert explorer.total == cards.count() == len(made)
    assert [row["hash"] for row in explorer.rows] == [card.hash for card in cards.list(limit=25)]
    assert explorer.status == f"1–25 of {len(made)} cards, newest first" and explorer.status_kind == "info"
    assert set(explorer.facets) == {"content_type", "tag", "time", "size"}
    types = dict(explorer.facets["content_type"])
    assert types["image/png"] == 1 and types["text/csv"] == 1 and types["application/json"] == 1
    assert dict(explorer.facets["tag"]) == {"holiday": 1, "2026": 1, HOSTILE: 1}
    row = next(r for r in explorer.rows if r["hash"] == made["png"].hash)
    assert row["name"] == "photo.png" and row["tags"] == ["2026", "holiday"]
    assert re.fullmatch(r"\d+\.\d [KM]B", row["size"]) and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row["time"])
    assert row["thumb"].startswith("data:image/jpeg;base64,")


def test_enter_runs_the_query_and_marks_the_matches(store):
    cards, made = store
    explorer = cards.explorer(page_size=50)
    counted = explorer.facet_loads
    explorer._on_message(explorer, {"action": "run", "query": "fox"}, [])
    assert explorer.query == "fox" and explorer.total == 15  # 14 sentences and the hostile card
    assert explorer.facet_loads == counted + 1 and dict(explorer.facets["content_type"]) == {"text/plain": 15}
    assert explorer.status == "1–15 of 15 cards, best first"
    for row in explorer.rows:
        assert ["fox", True] in row["snippet"]
    explorer.query = "fox -walks"  # setting the traitlet from code runs it too
    assert [row["hash"] for row in explorer.rows] == [made["hostile"].hash]
    explorer.run("-fox -walks")  # exclusions alone: every other card, newest first, the image too
    assert explorer.status == f"1–{explorer.total} of {explorer.total} cards, newest first"
    assert made["png"].hash in {row["hash"] for row in explorer.rows}
    kept = [c for c in made.values() if not {"fox", "walks"} & set(tokens(text_of(c.content) or ""))]
    assert explorer.total == len(kept) and sum(n for _, n in explorer.facets["content_type"]) == explorer.total


def test_refresh_keeps_the_suggestions_of_the_status_it_adds_to(store):
    """Refresh that closed a card removed meanwhile dropped the buttons of a "did you mean"."""
    cards, made = store
    explorer = cards.explorer()
    explorer.run("tag:holliday")
    assert explorer.suggestions == ["tag:holiday"]
    opened = cards.create("opened, then removed elsewhere")
    explorer.select(opened.hash)
    cards.remove(opened.hash)
    explorer.refresh()
    assert explorer.selected == "" and "was removed meanwhile, and closed" in explorer.status
    assert explorer.suggestions == ["tag:holiday"]


def test_a_row_starts_its_snippet_at_the_text_rather_than_leave_out_a_short_word(store):
    """"…hash ignores the moon": a "…" in the place of "A " hid a word and saved no room; in the
    place of "A notebook " (no longer than the lead kept before the match) it hid the start of a
    line that shows whole."""
    cards, _ = store
    cards.create("A hash ignores the moonbeam (#87).")
    cards.create("A notebook ignores the moonbeam (#148).")
    cards.create("Every notebook in the library remembers the moonbeam (#12).")
    explorer = cards.explorer()
    explorer.run("moonbeam")
    shown = sorted("".join(text for text, _ in row["snippet"]) for row in explorer.rows)
    assert shown == ["A hash ignores the moonbeam (#87).", "A notebook ignores the moonbeam (#148).",
                     "…remembers the moonbeam (#12)."], shown


def test_the_pane_shows_a_match_that_lies_past_the_head_of_a_long_text(store):
    """The row marked it; the pane showed the text's first 20,000 characters without it."""
    cards, _ = store
    late = cards.create("lorem ipsum " * 2_500 + "\nzebra appears here\n" + "dolor " * 4_000)
    early = cards.create("a zebra first, " + "lorem ipsum " * 2_500 + "zebra again")
    explorer = cards.explorer("zebra")
    explorer.select(late.hash)
    preview = explorer.detail["preview"]["html"]
    total = len(text_of(late.content))
    assert preview.startswith(  # said above the text, where it shows before any scrolling
        f'<p class="mcx-part-shown">characters 30,002–50,001 of {total:,} shown; download it for the whole text</p>'
        "<pre>… 30,001 earlier characters\n<mark>zebra</mark> appears here")
    assert preview.endswith(f"… {total - 30_001 - 20_000:,} more characters</pre>")
    explorer.select(early.hash)
    preview = explorer.detail["preview"]["html"]
    assert preview.startswith('<p class="mcx-part-shown">characters 1–20,000 of')
    assert "<pre>a <mark>zebra</mark> first" in preview and "earlier characters" not in preview
    explorer.select(cards.create("short and whole").hash)
    assert explorer.detail["preview"]["html"] == "<pre>short and whole</pre>"
    near_the_end = cards.create("lorem " * 6_000 + "zebra")  # a whole window still, not the last few characters
    explorer.run("zebra")
    explorer.select(near_the_end.hash)
    assert explorer.detail["preview"]["html"].startswith(
        '<p class="mcx-part-shown">characters 16,006–36,005 of 36,005 shown;')


def test_a_new_query_closes_a_card_it_does_not_show_and_marks_its_own_words_in_one_it_does(store):
    """The pane kept a card the new query left out (Remove… then named a card the grid did not
    show), and marked the words of the query before."""
    cards, made = store
    explorer = cards.explorer(page_size=50)
    explorer.run("moon")
    explorer.select(made["sentence 2"].hash)  # "The moon number 2 walks by"
    assert "<mark>moon</mark>" in explorer.detail["preview"]["html"]
    explorer.run("walks")
    assert explorer.selected == made["sentence 2"].hash
    preview = explorer.detail["preview"]["html"]
    assert "<mark>walks</mark>" in preview and "<mark>moon</mark>" not in preview
    explorer.go(0)  # pages and orders keep it: the same results
    explorer.sort("oldest")
    assert explorer.selected == made["sentence 2"].hash
    explorer.run("fox")
    assert explorer.selected == "" and explorer.detail == {}


def test_a_malformed_query_shows_its_error_and_keeps_the_results(store):
    cards, _ = store
    explorer = cards.explorer()
    explorer.go(1)
    before = list(explorer.rows)
    explorer.run('"an unclosed phrase')
    assert explorer.page == 1 and explorer.query == '"an unclosed phrase'
    assert explorer.shown_query == ""  # the page marks the grid as this query's
    assert explorer.status_kind == "error" and "unclosed quote in the query at position 0" in explorer.status
    assert explorer.rows == before
    explorer.run("size:huge")
    assert explorer.status_kind == "error" and "not a size" in explorer.status
    explorer.run("(((")
    assert explorer.status_kind == "error" and "excluded" not in explorer.status
    assert explorer.status.endswith("punctuation and symbols alone are no words (text: looks for them as text), at position 0")
    explorer._on_message(explorer, {"action": "page", "page": "two"}, [])
    assert explorer.status_kind == "error" and explorer.page == 1
    explorer.go("x")
    assert explorer.status == "a page is a whole number, got 'x'" and explorer.page == 1
    explorer.select("0" * 64)
    assert "no card is stored under '000" in explorer.status and explorer.selected == ""
    explorer.run("fox")
    explorer.run("fox size:huge")
    assert explorer.shown_query == "fox" and explorer.query == "fox size:huge"
    explorer.sort("oldest")  # orders and pages go on with the query shown
    assert explorer.shown_query == "fox" and explorer.status.endswith("oldest first")
    with pytest.raises(traitlets.TraitError):  # what the grid shows, not a control
        explorer.shown_query = "dog"


def test_the_time_histogram_shows_the_empty_buckets_between_as_empty_bars(tmp_path):
    days = (0, 1, 10, 50)

    async def seed() -> None:
        async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "spaced.db")) as store:
            await store.save_many([MCard(f"day {n}", g_time=START + timedelta(days=n)) for n in days])

    asyncio.run(seed())
    with mcard.notebook.open(tmp_path / "spaced.db") as cards:
        bars = cards.explorer().facets["time"]
    expected = [(START + timedelta(days=n)).strftime("%Y-%m-%d") for n in range(51)]
    assert [label for label, _ in bars] == expected
    assert [count for _, count in bars] == [1 if day in days else 0 for day in range(51)]


def test_a_quarter_is_a_histogram_of_weeks_and_a_click_keeps_one_week(tmp_path):
    days = (1, 3, 40, 90)  # START is a Sunday: days 1 and 3 share a week, Monday first

    async def seed() -> None:
        async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "weeks.db")) as store:
            await store.save_many([MCard(f"day {n}", g_time=START + timedelta(days=n)) for n in days])

    asyncio.run(seed())
    with mcard.notebook.open(tmp_path / "weeks.db") as cards:
        explorer = cards.explorer()
        bars = explorer.facets["time"]
        weeks = sorted({(START + timedelta(days=n)).isocalendar()[:2] for n in range(1, 91)})
        assert [label for label, _ in bars] == [f"{year:04d}-W{week:02d}" for year, week in weeks]
        assert sum(n for _, n in bars) == 4 and len(bars) <= 15
        busiest = next(label for label, n in bars if n == 2)
        explorer._on_message(explorer, {"action": "facet", "field": "time", "value": busiest}, [])
        assert explorer.total == 2 and sorted(r["snippet"][0][0] for r in explorer.rows) == ["day 1", "day 3"]


def test_a_click_on_a_narrower_time_bucket_replaces_the_wider_one(tmp_path):
    async def seed() -> None:
        async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "times.db")) as store:
            await store.save_many([MCard(f"day {n}", g_time=START + timedelta(days=n)) for n in (1, 3, 40, 90)])

    asyncio.run(seed())
    with mcard.notebook.open(tmp_path / "times.db") as cards:
        explorer = cards.explorer("day")
        explorer.add_filter("time", "2026-03")
        explorer.add_filter("time", "2026-03-02")
        assert explorer.query == "day after:2026-03-02 before:2026-03-03" and explorer.total == 1


def test_a_click_on_a_time_bar_at_the_edge_of_the_querys_range_shows_the_cards_it_counts(tmp_path):
    """A bar counts only the cards within the query's own after:/before:; the click replaced
    those bounds with the whole bar, and showed cards outside them, more than the bar said."""
    async def seed() -> None:
        async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "edges.db")) as store:
            await store.save_many([MCard(f"note {day} {hour}", g_time=datetime(2026, 3, day, hour, tzinfo=timezone.utc))
                                   for day in (1, 2, 3) for hour in (6, 18)])

    asyncio.run(seed())
    with mcard.notebook.open(tmp_path / "edges.db") as cards:
        for query, bar, kept in (("after:2026-03-01T12:00", "2026-03-01", ["note 1 18"]),
                                 ("note before:2026-03-03T07:30:15.5", "2026-03-03", ["note 3 6"]),
                                 ("after:2026-02", "2026-03-02", ["note 2 18", "note 2 6"])):
            explorer = cards.explorer(query)
            counted = dict(explorer.facets["time"])[bar]
            explorer.add_filter("time", bar)
            assert ["".join(part[0] for part in row["snippet"]) for row in explorer.rows] == kept, query
            assert explorer.total == counted == len(kept), query
            explorer.add_filter("time", bar)
            assert explorer.total == len(kept)


@pytest.mark.parametrize("when", [datetime(850, 6, 1, tzinfo=timezone.utc), datetime(5, 1, 1, 7, tzinfo=timezone.utc)])
def test_a_click_on_a_time_bucket_before_the_year_1000_keeps_its_cards(tmp_path, when):
    async def seed() -> None:
        async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "old.db")) as store:
            await store.save_many([MCard("in the bucket", g_time=when), MCard("a year later", g_time=when.replace(year=when.year + 1))])

    asyncio.run(seed())
    with mcard.notebook.open(tmp_path / "old.db") as cards:
        explorer = cards.explorer()
        explorer.add_filter("time", time_bucket("hour", when))
        assert explorer.status_kind == "info" and explorer.total == 1
        assert explorer.rows[0]["snippet"][0][0] == "in the bucket"
        assert explorer.query.startswith(f"after:{when.year:04d}-")


def test_a_histogram_of_more_than_a_thousand_buckets_shows_those_with_cards(tmp_path):
    years = (850, 1100, 2026)

    async def seed() -> None:
        async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "ages.db")) as store:
            await store.save_many([MCard(f"year {y}", g_time=datetime(y, 1, 1, tzinfo=timezone.utc)) for y in years])

    asyncio.run(seed())
    with mcard.notebook.open(tmp_path / "ages.db") as cards:
        assert cards.explorer().facets["time"] == [[f"{y:04d}", 1] for y in years]
        assert len(cards.explorer("-2026").facets["time"]) == 251  # 0850 to 1100, every year


def test_the_facets_say_how_many_values_they_leave_out(tmp_path):
    async def seed() -> None:
        async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "tags.db")) as store:
            card = await store.create("tagged thirty times")
            await store.tag(card.hash, *(f"tag-{n:02d}" for n in range(30)))

    asyncio.run(seed())
    with mcard.notebook.open(tmp_path / "tags.db") as cards:
        explorer = cards.explorer()
        assert len(explorer.facets["tag"]) + explorer.facets_left_out["tag"] == 30
        assert explorer.facets_left_out["tag"] > 0 and explorer.facets_left_out["content_type"] == 0


def test_a_click_on_a_facet_narrows_the_query(store):
    cards, made = store
    explorer = cards.explorer("walks")
    explorer._on_message(explorer, {"action": "facet", "field": "time", "value": "2026-03"}, [])
    assert explorer.query == "walks after:2026-03-01 before:2026-04-01"
    assert explorer.total == 31
    status = explorer.status
    explorer.add_filter("time", "2026-03")  # within it already (the one bar of an hour, clicked): said, not silent
    assert explorer.query == "walks after:2026-03-01 before:2026-04-01" and explorer.status == f"{status} (already within 2026-03)"
    explorer.run("")
    explorer.add_filter("content_type", "image/png")
    assert explorer.query == "type:image/png" and [r["hash"] for r in explorer.rows] == [made["png"].hash]
    explorer.add_filter("content_type", "image/png")  # twice: the query stays as it is
    assert explorer.query == "type:image/png"
    explorer.run("")
    explorer.add_filter("tag", HOSTILE)
    assert explorer.status_kind == "info" and [r["hash"] for r in explorer.rows] == [made["hostile"].hash]
    explorer.run("")
    explorer.add_filter("size", "1 KB - 10 KB")  # written as a person reads it ("size:1024..10239" before)
    assert explorer.query == "size:>=1KB size:<10KB"
    assert {r["hash"] for r in explorer.rows} == {c.hash for c in made.values() if 1024 <= c.size < 10240}
    assert explorer.facets_chosen["size"] == [["1 KB - 10 KB", False]]  # marked as chosen, as a type or tag is
    explorer._on_message(explorer, {"action": "unfilter", "field": "size", "value": "1 KB - 10 KB", "left_out": False}, [])
    assert explorer.query == "" and explorer.total == len(made)
    explorer.add_filter("size", ">= 10 MB")
    assert explorer.query == "size:>=10MB" and explorer.facets_chosen["size"] == [[">= 10 MB", False]]
    explorer.add_filter("size", "no such bucket")
    assert explorer.status_kind == "error" and "not a size bucket" in explorer.status


def test_a_type_or_a_tag_of_the_facets_can_be_left_out(store):
    cards, made = store
    explorer = cards.explorer("")
    every = explorer.total

    def types() -> list[str]:
        return [value for value, _ in explorer.facets["content_type"]]

    assert "image/png" in types()
    explorer._on_message(explorer, {"action": "leave_out", "field": "content_type", "value": "image/png"}, [])
    assert explorer.query == "-type:image/png" and explorer.total == every - 1
    assert made["png"].hash not in {r["hash"] for r in explorer.rows}
    assert "image/png" not in types() and types()
    explorer.run("")
    explorer.add_filter("tag", HOSTILE)
    explorer.leave_out("tag", HOSTILE)  # leaving out what the query keeps replaces the keep
    assert explorer.query.startswith("-tag:") and explorer.total == every - 1
    assert made["hostile"].hash not in {r["hash"] for r in explorer.rows}
    explorer.leave_out("size", "1 KB - 10 KB")
    assert explorer.status_kind == "error" and "only a type or a tag can be left out" in explorer.status


def test_a_type_or_a_tag_the_query_holds_is_marked_and_a_click_takes_it_out(store):
    """A type clicked hid every other type, and a second click on it did nothing: the way back
    was to edit the query. The facets mark what the query keeps and leaves out, and a click on
    one takes it out of the query, as typed (``tag:a[*]`` for the tag a*) or quoted."""
    cards, made = store
    cards.tag(made["png"].hash, 'say "hi"', "a*")
    explorer = cards.explorer("fox")
    assert explorer.facets_chosen == {"content_type": [], "tag": [], "size": []}
    explorer.add_filter("content_type", "image/png")
    explorer.add_filter("tag", 'say "hi"')
    explorer.add_filter("tag", "a*")
    explorer.leave_out("tag", "holiday")
    assert explorer.query == 'fox type:image/png tag:"say ""hi""" tag:a[*] -tag:holiday'
    assert explorer.facets_chosen == {
        "content_type": [["image/png", False]], "tag": [['say "hi"', False], ["a*", False], ["holiday", True]], "size": []}
    explorer._on_message(explorer, {"action": "unfilter", "field": "tag", "value": "holiday", "left_out": True}, [])
    assert explorer.query == 'fox type:image/png tag:"say ""hi""" tag:a[*]'
    explorer.remove_filter("tag", 'say "hi"')
    explorer.remove_filter("tag", "a*")
    explorer.remove_filter("content_type", "image/png")
    assert explorer.query == "fox" and explorer.facets_chosen == {"content_type": [], "tag": [], "size": []}
    assert explorer.total == cards.find("fox", 0).total
    explorer.remove_filter("time", "2026-03")
    assert explorer.status_kind == "error" and "only a type, a tag or a size bucket the query holds" in explorer.status


def test_a_kept_tag_past_the_first_ones_is_listed_with_its_count_and_a_query_finding_nothing_keeps_its_choices(tmp_path):
    """A tag kept by the query but not among the 12 most frequent was listed without its count
    and counted among those left out; a query that found nothing emptied the facets, and with
    them the choices to undo."""
    cards = mcard.notebook.open(tmp_path / "cards.db")
    try:
        card = cards.create("a card of many tags")
        cards.tag(card.hash, *[f"tag{n:02d}" for n in range(35)])
        explorer = cards.explorer("tag:tag20")
        listed = dict(explorer.facets["tag"])
        assert listed["tag20"] == 1 and len(listed) == 13 and explorer.facets_left_out["tag"] == 22
        explorer.run("tag:tag20 -type:text/plain")
        assert explorer.total == 0 and explorer.facets["tag"] == []
        assert explorer.facets_chosen == {"content_type": [["text/plain", True]], "tag": [["tag20", False]], "size": []}
        explorer.run(card.hash[:10])  # a hash prefix shows a card, without facets or choices
        assert explorer.facets == {} and explorer.facets_chosen == {}
    finally:
        cards.close()


def test_a_facet_value_holding_a_quote_filters_like_any_other(store):
    cards, made = store
    cards.tag(made["png"].hash, 'say "hi"')
    explorer = cards.explorer("")
    explorer.add_filter("tag", 'say "hi"')
    assert explorer.query == 'tag:"say ""hi"""' and explorer.status_kind == "info"
    assert [r["hash"] for r in explorer.rows] == [made["png"].hash]


def test_a_facet_tag_holding_glob_characters_selects_that_tag_alone(store):
    """A click on the facet of the tag ``a*`` writes ``tag:a[*]``: ``tag:a*`` is a glob that
    also keeps the cards tagged ``ab``; leaving it out likewise leaves out that tag alone."""
    cards, made = store
    named = {"a*": made["png"], "ab": made["csv"], "a?": made["json"], "[x]": made["svg"], "x": made["markdown"]}
    for tag, card in named.items():
        cards.tag(card.hash, tag)
    explorer = cards.explorer("")
    every = explorer.total
    for tag, card in named.items():
        explorer.run("")
        explorer._on_message(explorer, {"action": "facet", "field": "tag", "value": tag}, [])
        assert explorer.status_kind == "info" and [r["hash"] for r in explorer.rows] == [card.hash], tag
        explorer._on_message(explorer, {"action": "leave_out", "field": "tag", "value": tag}, [])
        assert explorer.query.startswith("-tag:") and explorer.total == every - 1, tag
        assert card.hash not in {r["hash"] for r in explorer.rows}, tag
    explorer.run("")
    explorer.add_filter("tag", "a*")
    assert explorer.query == "tag:a[*]"
    explorer.run("tag:a*")
    assert {r["hash"] for r in explorer.rows} == {made["png"].hash, made["csv"].hash, made["json"].hash}


def test_pages_come_from_the_database(store):
    cards, made = store
    explorer = cards.explorer("walks", page_size=15)
    assert explorer.total == 40
    seen = []
    for page in range(3):
        explorer._on_message(explorer, {"action": "page", "page": page}, [])
        seen += [row["hash"] for row in explorer.rows]
    assert explorer.status == "31–40 of 40 cards, best first"
    assert len(seen) == len(set(seen)) == 40
    explorer.go(99)
    assert explorer.page == 2
    explorer.page = 0
    assert len(explorer.rows) == 15 and explorer.rows[0]["hash"] == seen[0]
    explorer.page = 2
    explorer.page_size = 10  # set from code: pages of 10, from the one holding the first card shown
    assert explorer.page == 3 and explorer.status == "31–40 of 40 cards, best first"
    assert [row["hash"] for row in explorer.rows] == seen[30:]


def test_a_page_number_typed_goes_to_that_page_and_one_out_of_range_is_said(store):
    """Over thousands of pages First, Previous, Next and Last were the only ways to move: the
    pager's box takes a page number (counted from 1, as "page N of M" shows it) on Enter."""
    cards, _ = store
    explorer = cards.explorer("walks", page_size=10)
    assert explorer.pages == 4
    everything = [row["hash"] for page in range(4) for row in (explorer.go(page) or explorer.rows)]
    explorer.go(0)
    explorer._on_message(explorer, {"action": "go_to", "page": " 3 "}, [])
    assert explorer.page == 2 and explorer.status == "21–30 of 40 cards, best first"
    assert [row["hash"] for row in explorer.rows] == everything[20:30]
    explorer.go_to("1,000")
    assert explorer.page == 3 and explorer.status_kind == "info"
    assert explorer.status == "no page 1,000 (page 1 to 4): 31–40 of 40 cards, best first"
    explorer.go_to("9" * 5000)  # no int() of it: Python refuses that many digits
    assert explorer.page == 3 and explorer.status.startswith(f"no page '{'9' * 39}…' (page 1 to 4)")  # what was typed
    explorer.go_to("12345678901234567890")
    assert explorer.page == 3 and explorer.status.startswith("no page '12345678901234567890' (page 1 to 4)")
    explorer.go_to(0)
    assert explorer.page == 0 and explorer.status == "no page 0 (page 1 to 4): 1–10 of 40 cards, best first"
    explorer.go_to("-2")
    assert explorer.page == 0 and explorer.status.startswith("no page -2 ")
    explorer.go_to(2)
    rows = explorer.rows
    for typed in ["", "two", "2.5", "1e3", "٣", True]:  # refused: the grid stays on its page
        explorer._on_message(explorer, {"action": "go_to", "page": typed}, [])
        assert explorer.status_kind == "error" and explorer.page == 1 and explorer.rows == rows, typed
        assert explorer.status.startswith("not a page number: ") and explorer.status.endswith("from 1 to 4, then Enter")
    explorer.go_to("4")
    assert explorer.status == "31–40 of 40 cards, best first" and explorer.status_kind == "info"
    explorer.run("no such word anywhere")
    assert explorer.pages == 1
    explorer.go_to("5")
    assert explorer.page == 0 and explorer.status_kind == "info" and explorer.status.startswith("no page 5 (page 1 to 1)")


def test_a_page_size_chosen_keeps_the_first_card_shown_in_view(store):
    """The pager's choice of how many cards a page shows goes on from the page that holds the
    first card shown, and a size out of range is said in the status line, not raised."""
    cards, _ = store
    explorer = cards.explorer("walks", page_size=10)
    explorer.go(3)
    first = explorer.rows[0]["hash"]  # the 31st card
    explorer._on_message(explorer, {"action": "page_size", "size": 25}, [])
    assert explorer.page_size == 25 and explorer.page == 1 and explorer.pages == 2
    assert explorer.status == "26–40 of 40 cards, best first" and first in [row["hash"] for row in explorer.rows]
    explorer.set_page_size(200)
    assert explorer.page == 0 and len(explorer.rows) == 40 and explorer.pages == 1
    explorer.set_page_size(10)
    rows = explorer.rows
    for size in [0, 201, "50", None, 2.5]:
        explorer._on_message(explorer, {"action": "page_size", "size": size}, [])
        assert explorer.status_kind == "error" and "page_size must be a whole number from 1 to 200" in explorer.status
        assert explorer.page_size == 10 and explorer.page == 0 and explorer.rows == rows
    explorer.sort("oldest")
    explorer.go(2)
    first = explorer.rows[0]["hash"]
    explorer.set_page_size(50)  # the order shown is kept
    assert explorer.order == "oldest" and explorer.rows[20]["hash"] == first


def test_column_headers_sort_in_the_database(store):
    cards, made = store
    explorer = cards.explorer(page_size=10)
    explorer._on_message(explorer, {"action": "sort", "order": "largest"}, [])
    assert explorer.order == "largest" and explorer.page == 0
    assert [row["hash"] for row in explorer.rows] == [card.hash for card in cards.list(10, order="largest")]
    assert explorer.status == f"1–10 of {len(made)} cards, largest first"
    explorer.go(1)
    assert [row["hash"] for row in explorer.rows] == [card.hash for card in cards.list(10, 10, order="largest")]
    explorer.run("walks")  # a new query keeps the order the grid shows
    assert [row["hash"] for row in explorer.rows] == [card.hash for card in cards.find("walks", 10, order="largest")]
    explorer.sort("")
    assert explorer.status.endswith("best first") and explorer.own_order == "best"
    explorer.run("")
    assert explorer.own_order == "newest"  # the time header then goes back and forth, without a third step
    explorer.sort("oldest")
    explorer.sort("newest")  # the query's own order: kept as such, so the next query comes in its own
    assert explorer.order == "" and explorer.status.endswith("newest first")
    explorer.run("walks")
    assert explorer.status.endswith("best first")
    explorer.run("")
    explorer.sort("name")
    named = [row["name"] for row in explorer.rows if row["name"]]
    assert named and named == sorted(named) and explorer.rows[0]["name"] and explorer.status.endswith("by name")
    explorer.sort("name_desc")  # the name header's second click
    named = [row["name"] for row in explorer.rows if row["name"]]
    assert named and named == sorted(named, reverse=True) and explorer.status.endswith("by name, Z to A")
    explorer.sort("random")
    assert explorer.status_kind == "error" and "order must be one of" in explorer.status


def test_a_card_opened_from_its_hash_is_said_before_the_page_shows_it(store):
    """The page's own word on the open card (its copy button's "copied ...") is replaced by any
    status the kernel sends after it: the status of the opening comes before the card."""
    cards, made = store
    card = made["csv"]
    explorer = cards.explorer()
    heard: list[tuple[str, object]] = []
    explorer.observe(lambda change: heard.append((change["name"], change["new"])), names=["status", "detail"])
    explorer.run(card.hash[:10])
    opened = next(at for at, (name, value) in enumerate(heard) if name == "detail" and value)
    assert ("status", f"card {card.hash}") in heard[:opened]
    assert all(name == "detail" for name, _ in heard[opened:])


def test_a_hash_prefix_opens_that_card(store):
    cards, made = store
    card = made["csv"]
    explorer = cards.explorer()
    explorer.run(f"  {card.hash[:10].upper()} ")
    assert explorer.selected == card.hash and explorer.detail["hash"] == card.hash
    assert explorer.total == 1 and explorer.status == f"card {card.hash}"
    explorer.run("deadbeef00")  # no card starts so: a word search for it
    assert explorer.total == 0 and explorer.status == "no cards match (nor does a hash start with it)"
    explorer.run("tags:holiday")  # a field misspelled is read as words: said when nothing matches
    assert explorer.status == ("no cards match (tags: is read as words; the fields are type:, tag:, name:, after:,"
                               " before:, size:, kind:, text:)")
    explorer.run("/fo+x/")  # the query box takes no regular expression: said where it is searched
    assert explorer.status == ('no cards match (/.../ is read as words, not as a regular expression:'
                               ' mcard search --regex or search(..., mode="regex") takes one)')


def test_a_query_that_finds_nothing_says_what_would(store):
    """A word of a file's name is not in its content: the grid said only "no cards match" for
    ``photo``; it names the name: item that finds the card. Seven hex digits of a hash are no
    hash prefix: it says how many a prefix needs."""
    cards, made = store
    explorer = cards.explorer()
    explorer.run("photo")
    assert explorer.total == 0
    assert explorer.status == "no cards match (name:*photo* finds 1 card by name)"
    assert explorer.suggestions == ["name:*photo*"]
    explorer.run('"open')  # an error says nothing to run
    assert explorer.status_kind == "error" and explorer.suggestions == []
    explorer.run("name:*photo*")
    assert [row["hash"] for row in explorer.rows] == [made["png"].hash]
    explorer.run("type:image/png phot*")  # the word becomes a name: item, the rest stays
    assert explorer.status == "no cards match (type:image/png name:*phot* finds 1 card by name)"
    explorer.run("type:audio/* photo")  # no card of the rest has such a name: nothing to suggest
    assert explorer.status == "no cards match"
    explorer.run("holiday")  # a tag, not a word of any text
    assert explorer.status == "no cards match (tag:holiday finds 1 card by tag)"
    explorer.run("PHOTO")  # names and tags are compared as they are: another case is tried
    assert explorer.status == "no cards match (name:*photo* finds 1 card by name)"
    explorer.run("name:photo")  # a name without a wildcard is a whole name
    assert explorer.status == "no cards match (name:*photo* finds 1 card, as name: without a * matches whole names only)"
    explorer.run("tag:HOLIDAY")  # too far from holiday for a close match, but its case alone differs
    assert explorer.status == "no cards match (no card is tagged 'HOLIDAY'; did you mean 'holiday'?)"
    assert explorer.suggestions == ["tag:holiday"]  # a button, as for the other hints
    explorer.run("photo tag:holidy")  # the rest of the query stays; suggested only where it finds cards
    assert explorer.status == "no cards match (no card is tagged 'holidy'; did you mean 'holiday'?)"
    assert explorer.suggestions == []
    explorer.run("type:image/png tag:holidy")
    assert explorer.suggestions == ["type:image/png tag:holiday"]
    explorer.run("name:PHOTO")
    assert explorer.status == "no cards match (name:*photo* finds 1 card, as name: without a * matches whole names only)"
    explorer.run("after:2026-03 before:2026-02")
    assert explorer.status == "no cards match (after: is later than before:, and no card can be in between)"
    cards.save_many([MCard("ภาษาไทย ดีมาก")])  # written without spaces: a word inside a longer one
    explorer.run("ไทย")
    assert explorer.status == "no cards match (text:ไทย finds 1 card inside longer words)"
    assert explorer.suggestions == ["text:ไทย"]  # the page shows it as a button that runs it
    explorer.run("text:ไทย")  # a text inside words, in any case: newest first, marked
    assert explorer.status == "1–1 of 1 card, newest first" and explorer.own_order == "newest"
    assert explorer.suggestions == []
    assert [text for text, hit in explorer.rows[0]["snippet"] if hit] == ["ไทย"]
    explorer.run("ภาษาไทย 🎸")  # found, and the emoji said to be no word
    assert explorer.status == ("1–1 of 1 card, best first ('🎸' was not looked for: no letter or digit, so no word"
                               " (text:🎸 looks for it as text))")
    short = next(card.hash[:7] for card in made.values() if any(digit in card.hash[:7] for digit in "0123456789"))
    explorer.run(short)
    assert explorer.status == "no cards match (a hash prefix is 8 or more hex digits)"


def test_a_tag_suggested_that_holds_an_invisible_character_is_written_so_the_box_shows_it(tmp_path):
    """The suggestion put a zero-width space, unseen, in the query box; it is now a ``?`` of a
    glob that names that tag alone, and none is made when such a glob would name others too."""
    cards = mcard.notebook.open(tmp_path / "cards.db")
    try:
        note = cards.create("a holiday note")
        cards.tag(note.hash, "holi\u200bday")
        explorer = cards.explorer("note tag:holidy")
        assert explorer.status == "no cards match (no card is tagged 'holidy'; did you mean 'holi\\u200bday'?)"
        assert explorer.suggestions == ["note tag:holi?day"]
        explorer.run(explorer.suggestions[0])
        assert [row["hash"] for row in explorer.rows] == [note.hash]
        cards.tag(cards.create("another").hash, "holiXday")
        explorer.run("note tag:holidy")
        assert explorer.suggestions == []  # tag:holi?day would find holiXday too
    finally:
        cards.close()


def test_a_query_of_a_symbol_alone_offers_the_text_query_that_finds_it(tmp_path):
    """``🍕`` is refused as no word, and the error named ``text:`` without the button every other
    hint has; it is offered when it finds cards, and runs."""
    cards = mcard.notebook.open(tmp_path / "cards.db")
    try:
        pizza = cards.create("dinner: 🍕 and salad")
        explorer = cards.explorer()
        explorer.run("🍕")
        assert explorer.status_kind == "error" and "symbols alone are no words" in explorer.status
        assert explorer.suggestions == ["text:🍕"] and explorer.total == 1  # the rows shown stay
        explorer.run(explorer.suggestions[0])
        assert [row["hash"] for row in explorer.rows] == [pizza.hash]
        explorer.run("🎸")  # no card holds it: nothing to offer
        assert explorer.status_kind == "error" and explorer.suggestions == []
    finally:
        cards.close()


@pytest.mark.parametrize("query, instead", [
    ("🍕", "text:🍕"), ('"🍕 🎸"', 'text:"🍕 🎸"'), ("...", "text:..."), ("🍕 salad", None), ("-🍕", None), ("tag:🍕", None), ("🍕 🎸", None),
])
def test_a_query_of_one_item_without_a_letter_is_tried_as_text(query, instead):
    assert symbols_as_text(query) == instead


def test_a_name_suggested_in_place_of_a_whole_name_replaces_that_item_alone(tmp_path):
    """``name:hillside name:hills``: the item ``name:hills`` is what becomes ``name:*hills*``,
    not the start of ``name:hillside`` that reads the same."""
    cards = mcard.notebook.open(tmp_path / "cards.db")
    try:
        cards.create("a picture", name="hills.png")
        cards.create("a walk", name="hillside")
        explorer = cards.explorer("name:hillside name:hills")
        assert explorer.status == ("no cards match (name:hillside name:*hills* finds 1 card,"
                                   " as name: without a * matches whole names only)")
    finally:
        cards.close()


@pytest.mark.parametrize("query, parts", [
    ("hills", ("", "hills", "")), ("hills*", ("", "hills", "")), ("tag:trip hills.png", ("tag:trip ", "hills.png", "")),
    ("-hills", None), ('"the hills"', None), ("hills OR dales", None), ("hills dales", None), ("tag:trip", None),
    ("hills\x07", None), ("\u202egnp.exe", None), ("h" * 61, None), ("name:*x* *", None),
])
def test_the_lone_word_a_query_that_found_nothing_may_have_meant_as_a_tag_or_name(query, parts):
    """One plain word alone; a phrase, words left out or joined, and a word that would put a
    control character or 61 characters in the message are none."""
    assert lone_word(query) == parts


@pytest.mark.parametrize("query, meant", [
    ("draft AND report", "draft report"), ("NOT draft", "-draft"), ("x AND NOT tag:y", "x -tag:y"),
    ('"a AND b" c', None), ("a OR b", None), ("and not", None), ("AND", None), ("NOT", None), ("a NOT -b", None),
    ('a NOT "b c"', None), ("name:AND x", None),
])
def test_and_and_not_typed_as_operators_are_read_as_the_query_meant(query, meant):
    """AND is left out (every item must match already) and ``NOT word`` becomes ``-word``;
    in a phrase, in lower case, alone or before what cannot be left out, they are words."""
    assert without_operator_words(query) == meant


@pytest.mark.parametrize("query, joined", [
    ("name:a file*", [['name:"a file*"']]), ("tag:to do", [['tag:"to do"']]),
    ("name:my file of notes.txt", [['name:"my file" of notes.txt', 'name:"my file of" notes.txt', 'name:"my file of notes.txt"']]),
    ("x name:a b tag:c d", [['x name:"a b" tag:c d'], ['x name:a b tag:"c d"']]),
    ('tag:"to do" x', []), ("name:a -b", []), ("tag:a OR b", []), ('name:a "b c"', []), ("type:text/plain x", []),
])
def test_a_name_or_tag_typed_with_spaces_is_tried_quoted_with_the_words_after_it(query, joined):
    assert with_spaces_quoted(query) == joined


def test_a_sort_a_page_or_a_refresh_keeps_the_card_a_hash_prefix_opened(store):
    """They searched the prefix as words: the grid said "no cards match (nor does a hash start
    with it)" beside the open card, and its headers were gone, so the sort could not be undone."""
    cards, made = store
    card = made["csv"]
    explorer = cards.explorer()
    explorer.run(card.hash[:10])
    for act in (lambda: explorer._on_message(explorer, {"action": "sort", "order": "largest"}, []),
                lambda: explorer._on_message(explorer, {"action": "page", "page": 0}, []),
                explorer.refresh, lambda: explorer.sort("")):
        act()
        assert [row["hash"] for row in explorer.rows] == [card.hash] and explorer.total == 1
        assert explorer.status == f"card {card.hash}" and explorer.status_kind == "info"
        assert explorer.selected == card.hash and explorer.shown_query == card.hash[:10]
    assert explorer.order == ""


def open_card(explorer: Explorer, card: MCard, query: str = "") -> dict:
    explorer.run(query)
    answered = explorer.answered
    explorer._on_message(explorer, {"action": "select", "hash": card.hash}, [])
    assert explorer.selected == card.hash and explorer.answered == answered + 1  # the page knows it was heard
    return explorer.detail["preview"]


def test_markdown_emphasis_never_reaches_into_a_links_address_or_code():
    from mcard.notebook.explorer.previews import markdown_html

    html = markdown_html("See [the search](https://example.org/q=*) for *all*, **[a](https://x.org/**y) b**, `a*b*`")
    assert '<a href="https://example.org/q=*"' in html and "<em>all</em>" in html
    assert '<strong><a href="https://x.org/**y"' in html and "</a> b</strong>" in html and "<code>a*b*</code>" in html
    html = markdown_html("an _em_ word, __strong__, snake_case_name, [a_b_](https://x.org/a_b_c) `_c_`")
    assert "an <em>em</em> word, <strong>strong</strong>, snake_case_name," in html  # _em_ showed as typed
    assert '<a href="https://x.org/a_b_c"' in html and ">a_b_</a>" in html and "<code>_c_</code>" in html


def test_markdown_numbered_lists_keep_their_numbers_and_quotes_show_as_quotes():
    """"1. first" showed as a bullet, and "> a quote" as the text "> a quote"."""
    from mcard.notebook.explorer.previews import markdown_html

    html = markdown_html("1. first\n2. second\n\n3) third\n- a bullet\n\n> a quoted **word**\n> and more\n\n> <b>no</b>")
    assert html == (
        '<div class="mcx-markdown"><ol><li>first</li><li>second</li></ol><ol start="3"><li>third</li></ol>'
        "<ul><li>a bullet</li></ul><blockquote><p>a quoted <strong>word</strong> and more</p></blockquote>"
        "<blockquote><p>&lt;b&gt;no&lt;/b&gt;</p></blockquote></div>")


def test_a_long_markdown_text_or_json_tree_says_what_its_preview_leaves_out():
    """A Markdown preview ended mid-word at 20,000 characters, and a JSON tree in a bare "…"."""
    from mcard.notebook.explorer.previews import preview

    markdown = preview(MCard("# Notes\n\n" + "word " * 10_000), name="notes.md")
    assert markdown["kind"] == "markdown" and markdown["html"].endswith("<p><em>… 30,009 more characters</em></p>")
    assert markdown["html"].startswith('<p class="mcx-part-shown">characters 1–20,000 of 50,009 shown;')
    tree = preview(MCard(json.dumps({str(number): number for number in range(1000)})))
    assert tree["kind"] == "json" and "<li><em>… 601 more</em></li>" in tree["html"]


def test_previews_by_content_type(store):
    cards, made = store
    explorer = cards.explorer()
    text = open_card(explorer, made["sentence 3"], "fox")
    assert text["kind"] == "text" and "<mark>fox</mark>" in text["html"]
    tree = open_card(explorer, made["json"])
    assert tree["kind"] == "json" and tree["html"].count("<details") == 3
    assert "&lt;b&gt;not bold&lt;/b&gt;" in tree["html"] and "<b>" not in tree["html"]
    table = open_card(explorer, made["csv"])
    assert table["kind"] == "table" and table["html"].count("<tr>") == 4 and "<th>people</th>" in table["html"]
    assert "<td>Porto</td>" in table["html"] and "<em>all 3 rows</em>" in table["html"]
    wide = cards.create("\n".join(",".join(f"r{row}c{column}" for column in range(30)) for row in range(101)), name="wide.csv")
    table = open_card(explorer, wide)
    assert table["html"].count("<th>") == 20 and table["html"].count("<tr>") == 26  # what it leaves out, it says
    assert "<em>the first 25 of 100 rows, 20 of 30 columns</em>" in table["html"]
    found = open_card(explorer, wide, "r80c5")  # a query's match: the text, marked where it is (row 80 of a table of 25)
    assert found["kind"] == "text" and "<mark>r80c5</mark>" in found["html"] and found["html"].count("<mark>") == 1
    assert open_card(explorer, made["json"], "type:application/json")["kind"] == "json"  # no words: the tree
    markdown = open_card(explorer, made["markdown"])
    assert markdown["kind"] == "markdown"
    assert "<h1>Notes</h1>" in markdown["html"] and "<strong>bold</strong>" in markdown["html"]
    assert "<em>italic</em>" in markdown["html"] and "<li>one</li>" in markdown["html"]
    assert '<a href="https://example.org"' in markdown["html"] and "javascript:alert(1))" in markdown["html"]
    assert "<script>" not in markdown["html"] and "<img" not in markdown["html"] and 'href="javascript' not in markdown["html"]
    image = open_card(explorer, made["png"])
    assert image["kind"] == "image"
    shown = Image.open(io.BytesIO(base64.b64decode(image["url"].split(",", 1)[1])))
    assert max(shown.size) == 480
    svg = open_card(explorer, made["svg"])
    assert svg["kind"] == "image" and svg["url"].startswith("data:image/svg+xml;base64,")
    sound = open_card(explorer, made["wav"])
    assert sound["kind"] == "audio" and sound["url"].startswith(f"data:{made['wav'].content_type};base64,")
    raw = open_card(explorer, made["bytes"])
    assert raw["kind"] == "hex" and "00 01 02 03" in raw["html"] and "more bytes" in raw["html"]


def test_a_row_of_bytes_that_are_readable_text_shows_the_text_as_the_pane_does(store):
    """A log stored as bytes of no known type: the pane showed its text, its row hex
    (``61 20 6c 69 6e 65``); bytes with a NUL stay hex in both."""
    cards, made = store
    log = cards.create(b"a line of a log\n" * 500, name="server.log")
    cut = cards.create("é".encode() * 2_000, name="accents.bin")  # a row's head ends inside a character
    explorer = cards.explorer()
    snippets = {row["hash"]: "".join(part for part, _ in row["snippet"]) for row in explorer.rows}
    assert log.content_type == "application/octet-stream"
    assert snippets[log.hash].startswith("a line of a log a line of a log") and snippets[log.hash].endswith("…")
    assert snippets[cut.hash].startswith("éééé")
    explorer.run("type:application/octet-stream -name:*.log -name:*.bin")
    assert "".join(part for part, _ in explorer.rows[0]["snippet"]).startswith("00 01 02 03")
    assert cards.list_df().set_index("hash").loc[log.hash, "preview"].startswith("a line of a log")  # as in a DataFrame


def test_a_text_of_whitespace_alone_says_so_in_its_row_and_its_pane(store):
    """A card of one space showed as nothing in its row and in the pane."""
    cards, _ = store
    space, blank = cards.create(" "), cards.create("\n\t\n")
    explorer = cards.explorer()
    for query in ("", "size:<4"):  # a page of heads, and the cards a query found
        explorer.run(query)
        snippets = {row["hash"]: "".join(part for part, _ in row["snippet"]) for row in explorer.rows}
        assert (snippets[space.hash], snippets[blank.hash]) == ("(whitespace only, 1 byte)", "(whitespace only, 3 bytes)")
    assert open_card(explorer, space) == {"kind": "note", "html": "<em>(whitespace only, 1 byte)</em>"}


def test_a_pdf_previews_as_its_first_page(store, monkeypatch):
    cards, _ = store
    poster = dict(demo_files())["poster.pdf"]
    cards.save(poster)
    explorer = cards.explorer()
    shown = open_card(explorer, poster, "type:application/pdf")
    assert shown["kind"] == "image" and shown["label"] == "first page of a 1-page PDF"
    drawn = Image.open(io.BytesIO(base64.b64decode(shown["url"].split(",", 1)[1])))
    assert max(drawn.size) == 480 and drawn.getpixel((drawn.width // 2, drawn.height // 2)) != (255, 255, 255)
    broken = MCard(b"%PDF-1.4\n" + bytes(200))
    cards.save(broken)
    assert "cannot be read" in open_card(explorer, broken, "type:application/pdf")["html"]
    monkeypatch.setitem(sys.modules, "pypdfium2", None)  # the pdf extra not installed
    assert "mcard-store[pdf]" in open_card(explorer, poster, "type:application/pdf")["html"]


def test_the_detail_shows_names_and_sightings(store):
    cards, made = store
    explorer = cards.explorer()
    open_card(explorer, made["png"])
    detail = explorer.detail
    assert detail["name"] == "photo.png" and detail["sightings_total"] == 1
    assert detail["sightings"][0]["name"] == "photo.png" and detail["sightings"][0]["source"] == "seed"
    assert detail["sightings"][0]["time"].endswith(" UTC") and detail["time"].endswith(" UTC")
    assert detail["tags"] == ["2026", "holiday"] and detail["type"] == "image/png"
    assert detail["pixels"] == "900 × 600 px"  # the pane gave a picture's size in bytes alone
    name, mime, data = explorer.download_payload()
    assert (name, mime, data) == ("photo.png", "image/png", made["png"].content)
    explorer.download()  # no browser to send it to: it must not fail
    assert explorer.status_kind == "info" and "photo.png" in explorer.status
    spoof = cards.create("not a program", name="\u202egnp.exe")  # shown as "\u202egnp.exe", not a file name
    open_card(explorer, spoof)
    assert explorer.download_payload()[0] == spoof.hash[:12] + ".txt"
    assert detail["sightings_left_out"] == ""
    assert detail["size"] == f"1.3 MB ({made['png'].size:,} bytes)"
    open_card(explorer, cards.create("!"))
    assert explorer.detail["size"] == "1 B (1 byte)"  # said "1 B (1 bytes)"


def test_the_pane_says_how_many_older_sightings_its_list_leaves_out(store):
    """The list held the 20 latest of 40 sightings under "Names and sightings (40)", saying
    nothing of the other 20."""
    cards, _ = store
    for n in range(40):
        card = cards.create("seen in many places", name=f"copy-{n}.txt")
    explorer = cards.explorer()
    open_card(explorer, card)
    detail = explorer.detail
    assert detail["sightings_total"] == 40 and [s["name"] for s in detail["sightings"]][:2] == ["copy-39.txt", "copy-38.txt"]
    assert len(detail["sightings"]) == 20
    assert detail["sightings_left_out"] == "the 20 latest shown; 20 older left out (cards.sightings(hash) lists every one)"


def test_the_pane_says_how_many_tags_its_list_leaves_out_and_any_can_be_removed(store):
    """A card with 300 tags listed every one with its × and pushed the preview far down: the
    pane lists the first 20 and says how many more there are (its grid row, on one line, 3 and
    "+297 more"); all of them stay in ``detail``
    (its "show all" toggle lists them), and removing one past the 20th counts again."""
    cards, made = store
    card = made["csv"]
    wanted = sorted(f"t{n:03}" for n in range(300))
    cards.tag(card.hash, *wanted)
    explorer = cards.explorer()
    open_card(explorer, card)
    assert rows.TAGS_SHOWN == 20
    assert explorer.detail["tags"] == wanted and explorer.detail["tags_left_out"] == 280
    row = next(r for r in explorer.rows if r["hash"] == card.hash)  # its grid row: a line of its own
    assert row["tags"] == wanted[: rows.ROW_TAGS_SHOWN] == ["t000", "t001", "t002"] and row["tags_left_out"] == 297
    explorer._on_message(explorer, {"action": "untag", "tag": "t299", "hash": card.hash}, [])
    assert explorer.status == "untagged t299" and "t299" not in stored_tags(cards, card.hash)
    assert explorer.detail["tags"] == wanted[:-1] and explorer.detail["tags_left_out"] == 279
    cards.untag(card.hash, *wanted[20:])
    explorer.refresh()
    assert explorer.detail["tags"] == wanted[:20] and explorer.detail["tags_left_out"] == 0

def test_tags_are_edited_in_the_detail_pane(store):
    cards, made = store
    card = made["csv"]
    explorer = cards.explorer()
    open_card(explorer, card)
    explorer._on_message(explorer, {"action": "tag", "tag": " cities "}, [])
    assert explorer.detail["tags"] == ["cities"] == stored_tags(cards, card.hash)
    assert dict(explorer.facets["tag"])["cities"] == 1
    assert next(r for r in explorer.rows if r["hash"] == card.hash)["tags"] == ["cities"]
    explorer._on_message(explorer, {"action": "untag", "tag": "cities"}, [])
    assert explorer.detail["tags"] == [] == stored_tags(cards, card.hash)
    assert "cities" not in dict(explorer.facets["tag"])
    explorer.tag("bad\x00tag")
    assert explorer.status_kind == "error" and stored_tags(cards, card.hash) == []


def test_the_grid_and_its_total_follow_a_tag_edited_in_the_pane_as_the_facets_do(store):
    """Untagging the open card under ``tag:walk`` recounted the facets (walk: 1) while the grid
    went on listing it under "1–2 of 2 cards", as neither ``mcard find`` nor the facets did."""
    cards, made = store
    first, second = made["sentence 3"], made["sentence 4"]
    for card in (first, second):
        cards.tag(card.hash, "walk")
    explorer = cards.explorer()
    open_card(explorer, first, "tag:walk")
    assert explorer.total == 2
    explorer._on_message(explorer, {"action": "untag", "tag": "walk", "hash": first.hash}, [])
    assert explorer.total == 1 == dict(explorer.facets["tag"])["walk"] == cards.find("tag:walk").total
    assert [row["hash"] for row in explorer.rows] == [second.hash]
    assert explorer.selected == first.hash and explorer.detail["tags"] == [] and explorer.status == "untagged walk"
    explorer._on_message(explorer, {"action": "tag", "tag": "walk", "hash": first.hash}, [])  # put back from the pane
    assert explorer.total == 2 == dict(explorer.facets["tag"])["walk"]
    assert {row["hash"] for row in explorer.rows} == {first.hash, second.hash}
    assert next(row for row in explorer.rows if row["hash"] == first.hash)["tags"] == ["walk"]
    assert explorer.status == "tagged walk"


def test_remove_asks_for_confirmation(store):
    cards, made = store
    card = made["json"]
    explorer = cards.explorer()
    explorer.confirm_remove()
    assert explorer.status_kind == "error" and "nothing to confirm" in explorer.status
    open_card(explorer, card)
    explorer._on_message(explorer, {"action": "remove"}, [])
    assert explorer.detail["confirm"] and cards.get(card.hash) is not None
    explorer._on_message(explorer, {"action": "cancel"}, [])
    assert not explorer.detail["confirm"] and cards.get(card.hash) is not None
    explorer.confirm_remove()
    assert cards.get(card.hash) is not None
    explorer.ask_remove()
    explorer._on_message(explorer, {"action": "confirm"}, [])
    assert cards.get(card.hash) is None and explorer.status == f"removed {card.hash}"
    assert explorer.selected == "" and explorer.detail == {} and explorer.total == len(made) - 1
    assert card.hash not in {row["hash"] for row in explorer.rows}
    named = made["png"]  # a card seen under a name is called by it too, not by its hash alone
    open_card(explorer, named)
    explorer.ask_remove()
    assert explorer.status.startswith(f"remove photo.png ({named.hash})?")
    explorer.cancel_remove()
    assert explorer.status == f"kept photo.png ({named.hash})"
    explorer.ask_remove()
    explorer.confirm_remove()
    assert explorer.status == f"removed photo.png ({named.hash})" and cards.get(named.hash) is None


def test_the_panes_actions_act_only_on_the_card_the_pane_shows(store):
    """A click on another row is answered before what was clicked next in the pane still drawn
    for the card before (its preview took the kernel a while): a tag typed there, a tag's ×,
    Remove… or Download name the card that pane shows, and never act on the newly opened one."""
    cards, made = store
    shown, opened = made["csv"], made["png"]
    explorer = cards.explorer()
    open_card(explorer, shown)
    explorer._on_message(explorer, {"action": "select", "hash": opened.hash}, [])  # the click on the row
    answered = explorer.answered
    for message in ({"action": "tag", "tag": "cities"}, {"action": "untag", "tag": "holiday"},
                    {"action": "remove"}, {"action": "download"}):
        explorer._on_message(explorer, {**message, "hash": shown.hash}, [])
        assert explorer.status_kind == "error", message
        assert explorer.status.startswith(f"not done: that was in the pane of card {shown.hash[:12]}…")
        assert f"card {opened.hash[:12]}… is open now" in explorer.status
    assert explorer.answered == answered + 4
    assert stored_tags(cards, shown.hash) == [] and stored_tags(cards, opened.hash) == ["2026", "holiday"]
    assert explorer.selected == opened.hash and not explorer.detail["confirm"]
    explorer._on_message(explorer, {"action": "remove", "hash": opened.hash}, [])  # Remove… in its own pane
    explorer._on_message(explorer, {"action": "select", "hash": ""}, [])  # Close
    explorer._on_message(explorer, {"action": "confirm", "hash": opened.hash}, [])
    assert cards.get(opened.hash) is not None and "no card is open now" in explorer.status
    open_card(explorer, opened)
    explorer._on_message(explorer, {"action": "tag", "tag": "seen", "hash": opened.hash}, [])
    assert stored_tags(cards, opened.hash) == ["2026", "holiday", "seen"] and explorer.status == "tagged seen"
    explorer._on_message(explorer, {"action": "tag", "tag": "by code"}, [])  # naming no card: the open one
    assert "by code" in stored_tags(cards, opened.hash)
    explorer.select(shown.hash.upper())  # opened by code, the hash as typed: the pane shows the stored one
    explorer._on_message(explorer, {"action": "tag", "tag": "cities", "hash": explorer.detail["hash"]}, [])
    assert stored_tags(cards, shown.hash) == ["cities"] and explorer.status == "tagged cities"


def test_selection_comes_back_as_a_card_list(store):
    cards, made = store
    explorer = cards.explorer()
    assert explorer.selection == []
    open_card(explorer, made["csv"])
    assert [c.hash for c in explorer.selection] == [made["csv"].hash]
    for key in ("png", "markdown"):
        explorer._on_message(explorer, {"action": "mark", "hash": made[key].hash}, [])
    chosen = explorer.selection
    assert [c.hash for c in chosen] == [made["png"].hash, made["markdown"].hash]
    assert chosen.names[made["png"].hash] == "photo.png" and chosen.tags[made["png"].hash] == ["2026", "holiday"]
    assert list(chosen.to_dataframe()["hash"]) == [made["png"].hash, made["markdown"].hash]
    explorer.toggle_mark(made["png"].hash)
    assert [c.hash for c in explorer.selection] == [made["markdown"].hash]
    with pytest.raises(ValidationError, match="a query is a str"):
        cards.explorer(query=5)
    explorer.toggle_mark("zzz")  # said in the status line; reading the selection raised it later
    assert explorer.status_kind == "error" and "hex" in explorer.status
    assert [c.hash for c in explorer.selection] == [made["markdown"].hash]


def test_checked_rows_the_grid_does_not_show_are_counted_beside_a_way_to_uncheck_them(store):
    """Checks outlived a new query with nothing on screen saying so: ``selection`` held cards the
    grid no longer showed, for code (a bulk remove) to act on unseen."""
    cards, _ = store
    explorer = cards.explorer("fox", page_size=10)
    assert explorer.marked_note == ""
    for row in explorer.rows[:2]:
        explorer._on_message(explorer, {"action": "mark", "hash": row["hash"]}, [])
    assert explorer.marked_note == "2 checked"
    explorer.go(1)
    assert explorer.marked_note == "2 checked (2 not shown here)"
    explorer.run("moon")
    explorer._on_message(explorer, {"action": "mark", "hash": explorer.rows[0]["hash"]}, [])
    assert explorer.marked_note == "3 checked (2 not shown here)" and len(explorer.selection) == 3
    explorer._on_message(explorer, {"action": "clear_marks"}, [])  # Uncheck all
    assert explorer.marked == [] and explorer.marked_note == "" and explorer.selection == []


def test_the_checked_cards_are_tagged_and_untagged_together_beside_the_count(store):
    """Checks could only be read back in Python: tagging ten cards took ten opened panes, or code."""
    cards, made = store
    explorer = cards.explorer("fox", page_size=5)
    for row in explorer.rows[:2]:
        explorer._on_message(explorer, {"action": "mark", "hash": row["hash"]}, [])
    explorer.go(1)
    explorer._on_message(explorer, {"action": "mark", "hash": explorer.rows[0]["hash"]}, [])
    checked = list(explorer.marked)
    open_card(explorer, made["png"], "tag:holiday")  # a card checked elsewhere, its pane open
    explorer.toggle_mark(made["png"].hash)
    explorer._on_message(explorer, {"action": "tag_marked", "tag": " holiday "}, [])
    assert explorer.status == "tagged 4 checked cards with holiday (3 new)"
    assert all(stored_tags(cards, hash_str) == ["holiday"] for hash_str in checked)
    assert explorer.total == 4 == dict(explorer.facets["tag"])["holiday"] == cards.find("tag:holiday").total
    assert explorer.detail["tags"] == ["2026", "holiday"]
    explorer._on_message(explorer, {"action": "untag_marked", "tag": "holiday"}, [])
    assert explorer.status == "untagged holiday from 4 checked cards (4 removed)"
    assert explorer.total == 0 and explorer.rows == [] and cards.find("tag:holiday").total == 0
    assert explorer.detail["tags"] == ["2026"] and explorer.selected == made["png"].hash
    explorer._on_message(explorer, {"action": "clear_marks"}, [])
    explorer._on_message(explorer, {"action": "tag_marked", "tag": "x"}, [])
    assert explorer.status_kind == "error" and explorer.status == "check cards and type a tag first"
    assert cards.find("tag:x").total == 0


def test_refresh_shows_what_another_process_changed_on_the_same_page(store, tmp_path):
    """Enter was the only way to see another process's changes, and it went back to page 1 and
    closed an open card that page did not show."""
    cards, _ = store
    explorer = cards.explorer(page_size=10)
    explorer.sort("oldest")
    explorer.go(2)
    explorer.select(explorer.rows[0]["hash"])
    opened, tagged, removed = (row["hash"] for row in explorer.rows[:3])
    total = explorer.total
    mcard = [str(Path(sys.executable).with_name("mcard")), "--db", str(tmp_path / "cards.db")]
    subprocess.run([*mcard, "tag", tagged, "elsewhere"], check=True, capture_output=True)
    subprocess.run([*mcard, "rm", removed], check=True, capture_output=True)
    explorer._on_message(explorer, {"action": "refresh"}, [])
    assert explorer.page == 2 and explorer.order == "oldest" and explorer.total == total - 1
    assert [row["hash"] for row in explorer.rows[:2]] == [opened, tagged] and removed not in str(explorer.rows)
    assert explorer.rows[1]["tags"] == ["elsewhere"] and dict(explorer.facets["tag"])["elsewhere"] == 1
    assert explorer.selected == opened and explorer.status == f"21–30 of {total - 1} cards, oldest first"


def test_checked_cards_another_process_removed_are_unchecked_not_counted(store, tmp_path):
    """A checked card removed by ``mcard rm`` stayed counted after Refresh ("3 checked (2 not
    shown here)"), and tagging the checked cards failed as a whole, naming its hash."""
    cards, _ = store
    explorer = cards.explorer("fox")
    first, second, third = (row["hash"] for row in explorer.rows[:3])
    for hash_str in (first, second, third):
        explorer.toggle_mark(hash_str)
    mcard = [str(Path(sys.executable).with_name("mcard")), "--db", str(tmp_path / "cards.db")]
    subprocess.run([*mcard, "rm", first], check=True, capture_output=True)
    explorer._on_message(explorer, {"action": "refresh"}, [])
    assert explorer.marked == [second, third] and explorer.marked_note == "2 checked"
    assert explorer.status == "1–14 of 14 cards, best first; 1 checked card was removed meanwhile, and unchecked"
    subprocess.run([*mcard, "rm", second], check=True, capture_output=True)
    explorer._on_message(explorer, {"action": "tag_marked", "tag": "kept"}, [])
    assert explorer.status == "tagged 1 checked card with kept (1 new); 1 checked card was removed meanwhile, and unchecked"
    assert explorer.marked == [third] and stored_tags(cards, third) == ["kept"]
    explorer.select(third)  # the card open, and checked, removed elsewhere: said as news, not as an error
    subprocess.run([*mcard, "rm", third], check=True, capture_output=True)
    explorer._on_message(explorer, {"action": "refresh"}, [])
    assert (explorer.selected, explorer.detail, explorer.marked, explorer.status_kind) == ("", {}, [], "info")
    assert explorer.status == (f"1–12 of 12 cards, best first; card {third[:12]}… was removed meanwhile, and closed;"
                               " 1 checked card was removed meanwhile, and unchecked")


def test_tagging_cards_another_process_removed_says_so(store, tmp_path):
    """Every checked card removed elsewhere: "check cards and type a tag first" (with cards checked
    and a tag typed). The open card removed elsewhere: the hash of "cannot tag cards that are not
    stored", the pane left open and its row in the grid."""
    cards, _ = store
    explorer = cards.explorer("fox")
    first, second, third = (row["hash"] for row in explorer.rows[:3])
    explorer.toggle_mark(first)
    explorer.toggle_mark(second)
    mcard = [str(Path(sys.executable).with_name("mcard")), "--db", str(tmp_path / "cards.db")]
    subprocess.run([*mcard, "rm", first, second], check=True, capture_output=True)
    explorer._on_message(explorer, {"action": "tag_marked", "tag": "ghost"}, [])
    assert (explorer.status, explorer.status_kind, explorer.marked) == (
        "nothing to tag: the 2 checked cards were removed meanwhile, and unchecked", "error", [])
    explorer.select(third)
    subprocess.run([*mcard, "rm", third], check=True, capture_output=True)
    explorer._on_message(explorer, {"action": "tag", "tag": "ghost"}, [])
    assert (explorer.status, explorer.status_kind) == (f"not tagged: card {third[:12]}… was removed meanwhile, and closed", "error")
    assert (explorer.selected, explorer.detail, explorer.total) == ("", {}, 12) and third not in str(explorer.rows)


def test_a_rows_snippet_starts_just_before_its_first_match(store):
    """A row's snippet began a third of its 140 characters (46) before the match, and the grid's
    cell, after a name and tags, shows some 30-80: at 50,000 cards, 4 of 25 rows of
    ``"quick brown"`` showed a match, 22 now."""
    cards, _ = store
    card = cards.create("lorem ipsum dolor sit amet " * 4 + "zebrafish in the tank", name="fish.txt")
    explorer = cards.explorer("zebrafish")
    [row] = [row for row in explorer.rows if row["hash"] == card.hash]
    before = "".join(text for text, hit in row["snippet"][:next(i for i, (_, hit) in enumerate(row["snippet"]) if hit)])
    assert before == "…dolor sit amet "
    assert str(cards.find("zebrafish").snippet(card)).startswith("…lorem ipsum dolor sit amet lorem")  # elsewhere, a third


def test_hostile_names_tags_and_content_stay_text(store):
    cards, made = store
    explorer = cards.explorer("fox")
    row = next(r for r in explorer.rows if r["hash"] == made["hostile"].hash)
    assert row["name"] == f"{HOSTILE}.txt" and row["tags"] == [HOSTILE]  # the browser sets them as text
    preview = open_card(explorer, made["hostile"], "fox")
    assert "<script>" not in preview["html"] and "&lt;script&gt;" in preview["html"]
    assert "<mark>fox</mark>" in preview["html"]
    snapshot = explorer._repr_html_()
    check_markup(snapshot, list(made.values()))
    assert "<script>" not in snapshot and "&lt;script&gt;" in snapshot
    bundle = explorer._repr_mimebundle_()
    bundle = bundle[0] if isinstance(bundle, tuple) else bundle
    assert bundle["text/html"] == snapshot and "application/vnd.jupyter.widget-view+json" in bundle
    # a terminal or a text export shows one line of what the explorer shows (it was "<...Explorer object at 0x...>")
    explorer.run("fox\x1b[2J")
    assert bundle["text/plain"].startswith("<mcard explorer: fox · 15 cards · 1–15 of 15 cards")
    assert repr(explorer) == "<mcard explorer: fox\\x1b[2J · 0 cards · no cards match>"
    for kind in ("markdown", "json", "csv"):
        markup = open_card(explorer, made[kind])["html"]
        elements = {tag for tag, _ in parse(markup).elements}
        assert elements <= {"div", "pre", "code", "h1", "p", "strong", "em", "ul", "li", "a", "details", "summary", "span", "table", "thead", "tbody", "tr", "th", "td"}
        assert not [name for _, attrs in parse(markup).elements for name, _ in attrs if name.startswith("on")]


def test_the_snapshot_is_bounded(store):
    cards, made = store
    explorer = cards.explorer(page_size=5)
    snapshot = explorer._repr_html_()
    assert snapshot.count("<tr>") == 1 + 5
    assert f"5 of {len(made)} cards shown: the explorer pages through the rest once its cell runs." in snapshot
    assert "limit" not in snapshot  # a card list's advice ("limit and offset fetch them"), not the explorer's


def test_an_error_gives_way_to_what_the_grid_shows_once_the_next_action_succeeds(store):
    """A red "no card is stored under …" stayed in the status line beside the card opened next."""
    cards, made = store
    explorer = cards.explorer()
    shown = explorer.status
    gone = cards.create("removed in another cell")
    cards.remove(gone.hash)
    send = lambda action, **values: lambda: explorer._on_message(explorer, {"action": action, **values}, [])  # noqa: E731
    for failing, succeeding in [
        (send("select", hash=gone.hash), send("select", hash=made["csv"].hash)),
        (send("mark", hash="zzz"), send("mark", hash=made["csv"].hash)),
        (send("tag", tag="x", hash=made["png"].hash), send("select", hash="")),  # then Close
    ]:
        failing()
        assert explorer.status_kind == "error"
        succeeding()
        assert explorer.status == shown and explorer.status_kind == "info"
    explorer.run(made["png"].hash[:10])
    explorer.select("0" * 64)
    explorer.select(made["png"].hash)
    assert explorer.status == f"card {made['png'].hash}" and explorer.status_kind == "info"
    cards.close()
    explorer.refresh()
    explorer.toggle_mark(made["png"].hash)  # said until the store is open again
    assert explorer.status_kind == "closed"


def test_a_closed_store_says_what_to_run(store):
    cards, _ = store
    explorer = cards.explorer()
    cards.close()
    explorer.run("fox")
    assert explorer.status_kind == "closed"
    assert explorer.status == "the store is closed: run cards.initialize(), then press Enter here"
    explorer.go(1)
    assert explorer.status_kind == "closed"
    cards.initialize()
    explorer.run("fox")
    assert explorer.status_kind == "info" and explorer.total == 15


def test_a_page_or_page_size_set_from_code_on_a_closed_store_keeps_the_pager_true(store):
    """Setting ``page_size`` (or ``page``) from code when the read fails left the trait at the
    new value while the grid still showed the old page: the pager said "of 1" over a page of
    10 of 40. The traits go back, as ``set_page_size`` and ``go`` put them back."""
    cards, _ = store
    explorer = cards.explorer("walks", page_size=10)
    explorer.page = 1
    rows = explorer.rows
    cards.close()
    explorer.page_size = 50
    assert explorer.status_kind == "closed"
    assert explorer.page_size == 10 and explorer.page == 1 and explorer.pages == 4 and explorer.rows == rows
    explorer.page = 3
    assert explorer.status_kind == "closed" and explorer.page == 1 and explorer.rows == rows
    cards.initialize()
    explorer.page_size = 20  # from the page holding card 11
    assert explorer.status_kind == "info" and explorer.page_size == 20 and explorer.page == 0 and explorer.pages == 2
    assert explorer.status == "1–20 of 40 cards, best first"
    explorer.page = 1
    assert explorer.page == 1 and explorer.status == "21–40 of 40 cards, best first"

def test_an_order_set_from_code_sorts_the_grid(store):
    """``explorer.order = "largest"`` left the rows newest first under a size header marked
    sorted; it sorts as ``sort("largest")`` does, and an order that is none is refused."""
    cards, _ = store
    explorer = cards.explorer("walks", page_size=10)
    newest = explorer.rows
    explorer.sort("largest")
    largest = explorer.rows
    explorer.sort("")
    assert explorer.rows == newest != largest
    explorer.order = "largest"
    assert explorer.order == "largest" and explorer.rows == largest and explorer.status.endswith("largest first")
    with pytest.raises(ValidationError, match="order must be one of"):
        explorer.order = "biggest"
    assert explorer.order == "largest" and explorer.rows == largest
    explorer.page = 2
    cards.close()
    explorer.order = "oldest"  # the page cannot be read: the order of the rows still shown stays
    assert explorer.status_kind == "closed" and explorer.order == "largest" and explorer.page == 2
    cards.initialize()
    explorer.order = ""
    assert explorer.order == "" and explorer.page == 0 and explorer.rows == newest

def test_the_browser_side_ships_with_the_package():
    folder = ROOT / "mcard" / "notebook" / "explorer"
    assert "export default" in (folder / "explorer.js").read_text()
    css = (folder / "explorer.css").read_text()
    assert not re.search(r"#[0-9a-fA-F]{3,8}\b|rgb\(|hsl\(", css), "colours must come from the theme's variables"
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["mcard"]
    assert {"notebook/explorer/*.js", "notebook/explorer/*.css"} <= set(data)
    widget = Explorer.__new__(Explorer)
    assert "export default" in str(Explorer._esm) or "export default" in getattr(widget, "_esm", "")


def test_page_size_is_checked(store):
    cards, _ = store
    with pytest.raises(mcard.ValidationError):
        cards.explorer(page_size=0)
    assert json.dumps(cards.explorer(page_size=3).rows)


def test_an_ambiguous_prefix_lists_the_cards_it_could_be(tmp_path):
    from tests.test_display_escaping import _row, write_foreign_rows

    path = tmp_path / "ambiguous.db"
    with mcard.notebook.open(path) as cards:
        cards.create("a card of our own")
    twins = ["abcdef01" + "0" * 56, "abcdef01" + "1" * 56]
    write_foreign_rows(path, [_row(twins[0], b"one twin"), _row(twins[1], b"other twin", g_time=2)])
    with mcard.notebook.open(path) as cards:
        explorer = cards.explorer()
        explorer.run("abcdef01")  # shown to pick from (the message listed their hashes as text)
        for _ in range(2):  # and again by a sort
            assert explorer.status == "2 cards' hashes start with abcdef01: pick one" and explorer.status_kind == "info"
            assert sorted(row["hash"] for row in explorer.rows) == twins and explorer.shown_query == "abcdef01"
            explorer.sort("oldest")
        explorer.run("abcdef011")
        assert explorer.selected == twins[1] and explorer.detail["preview"]["html"] == "<pre>other twin</pre>"


def test_a_saved_notebook_keeps_a_snapshot_of_the_explorer(tmp_path):
    import nbformat
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    _seed(tmp_path / "cards.db")
    notebook = new_notebook(cells=[
        new_code_cell(f"import mcard.notebook\ncards = mcard.notebook.open({str(tmp_path / 'cards.db')!r})"),
        new_code_cell("cards.explorer('fox', page_size=20)"),
    ])
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    saved = nbformat.reads(nbformat.writes(notebook), as_version=4)
    [output] = saved.cells[1].outputs
    assert "application/vnd.jupyter.widget-view+json" in output.data
    snapshot = output.data["text/html"]
    assert snapshot.startswith('<p class="mcard-snapshot">') and "15 cards" in snapshot
    assert snapshot.count("<tr>") == 1 + 15
    assert "<script>" not in snapshot and "&lt;script&gt;" in snapshot


def test_a_type_facet_replaces_the_querys_type(store):
    cards, made = store
    explorer = cards.explorer("type:text/*")
    wide = explorer.total
    content_type, count = explorer.facets["content_type"][-1]
    assert content_type.startswith("text/") and count < wide
    explorer.add_filter("content_type", content_type)
    assert explorer.query == f"type:{content_type}" and explorer.status_kind == "info"
    assert explorer.total == count == len(cards.find(f"type:{content_type}"))


def test_after_a_failed_query_the_grid_pages_the_results_it_shows(store):
    cards, _ = store
    explorer = cards.explorer("walks", page_size=15)
    explorer.run('walks "oops')
    assert explorer.status_kind == "error" and explorer.query == 'walks "oops'
    explorer.go(1)
    assert explorer.page == 1 and explorer.status == "16–30 of 40 cards, best first"
    explorer.sort("oldest")
    assert explorer.status_kind == "info" and explorer.total == 40
    explorer.add_filter("tag", "holiday")
    assert explorer.query == "walks tag:holiday" and explorer.status_kind == "info"


def interrupt_next_read(monkeypatch, cards) -> None:
    """The kernel's ■ during the explorer's next read of the store: the plain call is cancelled
    and raises ``KeyboardInterrupt`` (what ``LoopRunner.run`` does), once."""
    run = cards._run

    def interrupted(coro):  # type: ignore[no-untyped-def]
        monkeypatch.setattr(cards, "_run", run)
        coro.close()
        raise KeyboardInterrupt

    monkeypatch.setattr(cards, "_run", interrupted)


def test_an_interrupted_query_page_or_order_leaves_the_grid_as_it_says(store, monkeypatch):
    """■ while the explorer reads a page (a slow query over a large store) stops it; the pager,
    the order and the status line still describe the rows shown, so Next goes on from them."""
    cards, _ = store
    explorer = cards.explorer("walks", page_size=10)
    explorer.go(2)
    rows = explorer.rows
    for act in (lambda: explorer.run("fox"), lambda: explorer.go(3), lambda: explorer.sort("largest"),
                lambda: explorer._on_message(explorer, {"action": "page", "page": 3}, [])):
        interrupt_next_read(monkeypatch, cards)
        with pytest.raises(KeyboardInterrupt):
            act()
        assert explorer.rows == rows and explorer.page == 2 and explorer.order == ""
        assert explorer.shown_query == "walks"
        assert explorer.status == "interrupted: still the cards of “walks”" and explorer.status_kind == "error"
    explorer.go(explorer.page + 1)  # Next
    assert explorer.status == "31–40 of 40 cards, best first"


@pytest.mark.parametrize("size", [0, 1000, "10", 2.5, True])
def test_a_page_size_out_of_range_is_refused_whenever_it_is_set(store, size):
    cards, _ = store
    with pytest.raises(ValidationError, match="page_size"):
        cards.explorer(page_size=size)
    explorer = cards.explorer(page_size=10)
    with pytest.raises((ValidationError, traitlets.TraitError)):
        explorer.page_size = size
    assert explorer.page_size == 10


def test_rows_another_tool_wrote_are_listed_with_the_others(tmp_path):
    """A hash that is not a digest and a time no card can have: the explorer lists them (its
    names and tags are looked up for the true cards only) and counts its facets."""
    import sqlite3

    path = tmp_path / "cards.db"
    with mcard.notebook.open(path) as cards:
        cards.create("a true card")
    row = ("INSERT INTO card (hash, content, is_text, g_time, hash_algorithm, size, content_type)"
           " VALUES (?, ?, 1, ?, 'sha256', 2, 'text/plain')")
    with sqlite3.connect(path) as raw:
        raw.execute(row, ("<script>x</script>", b"ok", 1_700_000_000_000_000))
        raw.execute(row, ("9" * 64, b"hi", 2**62))
    raw.close()
    with mcard.notebook.open(path) as cards:
        explorer = cards.explorer()
        assert explorer.status == "1–3 of 3 cards, newest first" and len(explorer.rows) == 3
        assert dict(explorer.facets["content_type"])["text/plain"] == 3
        assert sum(n for _, n in explorer.facets["time"]) == 2  # the time out of range is left out


def test_actions_given_values_of_the_wrong_kind_say_so_and_change_nothing(store):
    cards, made = store
    explorer = cards.explorer()
    explorer.select(made["png"].hash)
    explorer.tag(None)
    assert explorer.status_kind == "error" and "a tag is a string" in explorer.status
    explorer.add_filter("tag", None)
    assert explorer.status_kind == "error" and explorer.query == ""
    explorer.untag("never attached")
    assert explorer.status == "not tagged never attached"
    assert stored_tags(cards, made["png"].hash) == ["2026", "holiday"]


def test_a_text_preview_takes_windows_line_ends_as_line_ends():
    from mcard.notebook.explorer.previews import preview

    shown = preview(MCard("first line\r\nsecond line\r\n"))
    assert shown["kind"] == "text" and "\\x0d" not in shown["html"] and "first line\nsecond line" in shown["html"]


@pytest.mark.parametrize("label, term", [("9999-W52", "after:9999-12-27"), ("9999", "after:9999-01-01"),
                                         ("9999-12", "after:9999-12-01"), ("2026-W01", "after:2025-12-29 before:2026-01-05")])
def test_a_time_bucket_at_the_end_of_time_narrows_to_its_start(label, term):
    from mcard.notebook.explorer.queries import facet_term

    assert facet_term("time", label) == term


def test_a_page_without_words_shows_each_card_as_the_whole_card_would(store):
    """Without words to mark, the grid reads stored rows cut to what a row shows; each row is
    the one the whole card gives: preview, thumbnail, time, type, size, name and tags."""
    cards, made = store
    long_text = cards.create("a long line of text, " * 20_000 + "the end", name="long.txt")
    cards._run(cards._wrapper.tag(long_text.hash, "one", "two", "three", "four", "five"))
    cards.create("ü€\tcontrol\x07 and  spaces " * 60)
    explorer = cards.explorer(page_size=200)
    listed = cards.list()
    hashes = [card.hash for card in listed]
    names, tags = cards._run(cards._wrapper.names_of(hashes)), cards._run(cards._wrapper.tags_of(hashes))
    assert explorer.rows == [rows.row(card, names.get(card.hash), tags.get(card.hash, ()), None) for card in listed]
    long_row = next(row for row in explorer.rows if row["hash"] == long_text.hash)
    assert long_row["tags_left_out"] == 2 and long_row["snippet"][0][0].endswith("…")
    assert next(row for row in explorer.rows if row["hash"] == made["png"].hash)["thumb"].startswith("data:image/")


def test_a_page_of_large_cards_is_not_read_whole(tmp_path):
    """A page of large texts reads their first bytes only, and a page of large images holds
    one of them at a time while it makes their thumbnails: the grid of 200 cards of 5 MB held
    every one (1.2 GB)."""
    import tracemalloc

    cards = mcard.notebook.open(tmp_path / "cards.db")
    try:
        for n in range(12):
            cards.create(f"text {n} " + "lorem ipsum " * 250_000)  # 3 MB each
        image = Image.effect_noise((1100, 1000), 50).convert("RGB")
        photos = []
        for n in range(4):
            out = io.BytesIO()
            image.rotate(n * 90).save(out, "PNG", compress_level=0)
            photos.append(cards.create(out.getvalue()))
        largest_photo = max(photo.size for photo in photos)
        assert largest_photo > 3_000_000
        cards.wait_indexed()  # the background indexer reads the texts too
        tracemalloc.start()
        try:
            explorer = cards.explorer(page_size=50)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert explorer.total == 16 and all(row["thumb"] for row in explorer.rows[:4])
        assert peak < 3 * largest_photo, f"{peak:,} bytes at the peak"
    finally:
        cards.close()


def test_tags_given_to_a_card_opened_by_its_hash_show_in_its_row_as_in_any_row(store):
    cards, made = store
    explorer = cards.explorer(made["csv"].hash[:12])
    explorer.tag("t1", "t2", "t3", "t4", "t5")
    [row] = explorer.rows
    assert row["tags"] == ["t1", "t2", "t3"] and row["tags_left_out"] == 2


def test_a_pictures_row_says_its_size_in_pixels_not_its_bytes_in_hex(tmp_path):
    """A page of photos showed "image/png · 89 50 4e 47 0d 0a …" in every row; each row now says
    how large the picture is, read from its first bytes, PNG, JPEG, GIF and WebP alike, while
    bytes of no picture keep their hex."""
    cards = mcard.notebook.open(tmp_path / "cards.db")
    made = {}
    for kind in ["PNG", "JPEG", "GIF", "WEBP"]:
        out = io.BytesIO()
        Image.new("RGB", (1200 + len(kind), 800), (20, 90, 160)).save(out, kind)
        made[kind] = cards.create(out.getvalue(), name=f"picture.{kind.lower()}")
    blob = cards.create(bytes(range(256)) * 8)
    for query in ["", "name:picture.*"]:  # stored rows cut to a preview, and whole cards
        explorer = cards.explorer(query=query)
        snippets = {row["hash"]: "".join(text for text, _ in row["snippet"]) for row in explorer.rows}
        for kind, card in made.items():
            assert snippets[card.hash] == f"{1200 + len(kind):,} × 800 px", (kind, query)
    assert "00 01 02 03" in "".join(text for text, _ in next(r for r in cards.explorer().rows if r["hash"] == blob.hash)["snippet"])
    cards.close()
