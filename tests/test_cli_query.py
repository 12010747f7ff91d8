"""``mcard search`` modes, ``mcard find`` and ``mcard facets``, with the real console script."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mcard import MCard
from mcard.cli.querying import _facet_table
from tests.test_cli import MCARD, as_json, mcard

TEXTS = ("The quick brown Fox", "Straße in Berlin", "foxes and hounds, fox after fox", "STRASSE 5", "order 66 shipped")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "cards.db"
    mcard("add", *TEXTS, db=path)
    return path


def contents(result) -> list[str]:
    return [record["snippet"].replace("«", "").replace("»", "") for record in as_json(result)]


def test_search_in_any_case_follows_casefolding(db):
    assert mcard("search", "STRASSE", "--json", db=db).stdout.count(b'"hash"') == 1
    found = contents(mcard("search", "-i", "strasse", "--json", db=db))
    assert sorted(found) == ["STRASSE 5", "Straße in Berlin"]
    table = mcard("search", "--ignore-case", "straße", db=db).stdout.decode()
    assert "«STRASSE» 5" in table and "«Straße» in Berlin" in table


def test_word_search_ranks_and_marks_the_words(db):
    found = as_json(mcard("search", "--words", "fox", "--json", db=db))
    assert [record["snippet"] for record in found] == ["foxes and hounds, «fox» after «fox»", "The quick brown «Fox»"]
    prefixed = contents(mcard("search", "--words", "fox* -quick", "--json", db=db))
    assert prefixed == ["foxes and hounds, fox after fox"]


def test_regex_search_and_a_bad_pattern(db):
    assert contents(mcard("search", "--regex", r"\d+", "--json", db=db)) == ["order 66 shipped", "STRASSE 5"]
    bad = mcard("search", "--regex", "fox(", db=db, check=2)
    assert bad.stdout == b"" and bad.stderr.decode().count("\n") == 1 and b"position 3" in bad.stderr
    flags = mcard("search", "--regex", "(?u)(?a)fox", db=db, check=2)  # re raises ValueError for these
    assert flags.stderr == b"mcard: not a regular expression: ASCII and UNICODE flags are incompatible\n"
    both = mcard("search", "--regex", "--words", "fox", db=db, check=2)
    assert b"not allowed with" in both.stderr



def test_a_regex_python_warns_of_says_nothing_but_its_matches(db):
    """``[[`` is a set holding ``[`` today: Python's FutureWarning about it, two lines with a
    source path on stderr, is no fault of the pattern."""
    found = mcard("search", "--regex", "[[S]TRASSE", "--json", db=db)
    assert contents(found) == ["STRASSE 5"] and found.stderr == b""

def test_find_combines_fields_and_words_and_reports_the_total(db):
    result = mcard("find", "type:text/plain fox", "--limit", "1", "--json", db=db)
    assert len(as_json(result)) == 1
    assert result.stderr.decode().strip() == "mcard: 2 matches; showing 1 to 1; --offset 1 shows the next ones, --limit 0 all"
    assert mcard("find", "type:image/* fox", db=db, check=1).stderr.decode().startswith("mcard: no card matches")
    mistyped = mcard("find", "typ:image", db=db, check=1).stderr.decode()
    assert "typ: is read as words; the fields are type:, tag:" in mistyped
    slashed = mcard("find", "/fo+x/", db=db, check=1).stderr.decode()
    assert slashed.endswith('(/.../ is read as words, not as a regular expression: mcard search --regex or'
                            ' search(..., mode="regex") takes one)\n')
    assert mcard("find", "and/or", db=db, check=1).stderr.decode() == "mcard: no card matches 'and/or'\n"
    mistyped = mcard("find", "typ:image/*", db=db, check=2).stderr.decode()  # as words, a prefix of two
    assert "a prefix cannot end a phrase, at position 10 (typ: is read as words; the fields are type:, tag:" in mistyped
    bad = mcard("find", "size:>1XB", db=db, check=2)
    assert b"position" in bad.stderr and bad.stdout == b""
    def excluding(query: str) -> list[str]:  # exclusions alone: every card without them, newest first
        result = subprocess.run([MCARD, "--db", str(db), "find", "--json", "--", query], capture_output=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stderr.decode().startswith("mcard: ") and b"\x1b" not in result.stdout
        return [record["hash"] for record in as_json(result)]

    assert excluding("-fox -strasse") == [MCard(TEXTS[4]).hash]
    assert sorted(excluding("-strasse")) == sorted(MCard(TEXTS[n]).hash for n in (0, 2, 4))
    mcard("tag", MCard(TEXTS[0]).hash, "seen", db=db)
    assert sorted(excluding("-tag:seen -type:image/*")) == sorted(MCard(text).hash for text in TEXTS[1:])
    assert excluding("-tag:seen -strasse") == [MCard(TEXTS[n]).hash for n in (4, 2)]
    refused = mcard("find", "fox -size:>1KB", db=db, check=2).stderr.decode()
    assert refused.startswith("mcard: size: cannot be excluded") and refused.endswith("at position 4\n")


def test_find_of_a_word_in_a_file_name_says_the_name_item_that_finds_it(db):
    """A word of a file's name is not in its text: ``mcard find report`` said only "no card
    matches"; it names the query that finds the file by name. Seven hex digits are no hash
    prefix, and a hash prefix is no query: ``mcard show`` opens the card."""
    (db.parent / "report-2026.txt").write_text("quarterly figures")
    mcard("import", str(db.parent / "report-2026.txt"), db=db)
    missed = mcard("find", "report", db=db, check=1).stderr.decode()
    assert missed == "mcard: no card matches 'report' (name:*report* finds 1 card by name)\n"
    assert len(as_json(mcard("find", "name:*report*", "--json", db=db))) == 1
    assert mcard("find", "type:image/* report", db=db, check=1).stderr.decode() == "mcard: no card matches 'type:image/* report'\n"
    assert mcard("find", "0a1b2c3", db=db, check=1).stderr.decode() == (
        "mcard: no card matches '0a1b2c3' (a hash prefix is 8 or more hex digits, for mcard show PREFIX)\n")
    prefix = MCard(TEXTS[0]).hash[:10].upper()  # a query is no hash: what opens the card is named
    assert mcard("find", prefix, db=db, check=1).stderr.decode() == (
        f"mcard: no card matches '{prefix}' (a hash starts with it, and a query looks in texts and fields, not hashes:"
        f" mcard show {prefix.lower()})\n")
    assert mcard("find", "deadbeef00", db=db, check=1).stderr.decode() == "mcard: no card matches 'deadbeef00'\n"


def test_find_of_a_part_of_a_longer_word_names_the_prefix_or_the_text_search(db):
    mcard("add", "ภาษาไทย ดีมาก", "テキストエディタを使う", db=db)
    assert mcard("find", "ไทย", db=db, check=1).stderr.decode() == (
        "mcard: no card matches 'ไทย' (text:ไทย finds 1 card inside longer words)\n")
    assert len(as_json(mcard("find", "text:ไทย", "--json", db=db))) == 1
    assert mcard("find", "テキスト", db=db, check=1).stderr.decode() == (
        "mcard: no card matches 'テキスト' (テキスト* finds 1 card as the start of longer words)\n")
    refused = mcard("find", "🍕", db=db, check=2).stderr.decode()
    assert "symbols alone are no words (text: looks for them as text)" in refused


def test_find_with_and_or_not_says_they_are_words_and_what_finds_the_cards(db):
    """``draft AND report`` and ``NOT draft`` said only "no card matches": AND and NOT are words
    of the query, as in no search syntax a user knows them. The hint names the query meant."""
    mcard("add", "the draft report", "a report, final", db=db)
    assert mcard("find", "draft AND report", db=db, check=1).stderr.decode() == (
        "mcard: no card matches 'draft AND report' (draft report finds 1 card, as AND is a word here:"
        " every word must match already)\n")
    assert mcard("find", "report AND NOT draft", db=db, check=1).stderr.decode() == (
        "mcard: no card matches 'report AND NOT draft' (report -draft finds 1 card, as AND and NOT are words here:"
        " every word must match already, and -word leaves a word out)\n")
    others = len(as_json(mcard("ls", "--json", db=db))) - 2
    assert mcard("find", "NOT report", db=db, check=1).stderr.decode() == (
        f"mcard: no card matches 'NOT report' (-report finds {others} cards, as NOT is a word here: -word leaves a word out)\n")
    assert mcard("find", "zzz AND yyy", db=db, check=1).stderr.decode() == "mcard: no card matches 'zzz AND yyy'\n"
    assert len(as_json(mcard("find", "report OR nothing", "--json", db=db))) == 2  # OR is no word


def test_find_of_a_name_or_tag_with_spaces_not_quoted_names_the_query_quoted(db, tmp_path):
    """``name:a file*`` is the name "a" and the word "file*": it found nothing and said no more."""
    typed = tmp_path / "my notes of today.txt"
    typed.write_text("written today")
    mcard("import", str(typed), "--tag", "to do", db=db)
    assert mcard("find", "name:my notes*", db=db, check=1).stderr.decode() == (
        """mcard: no card matches 'name:my notes*' (name:"my notes*" finds 1 card, as a value with spaces is quoted)\n""")
    assert mcard("find", "name:my notes of today.txt", db=db, check=1).stderr.decode() == (
        """mcard: no card matches 'name:my notes of today.txt' (name:"my notes of today.txt" finds 1 card,"""
        """ as a value with spaces is quoted)\n""")
    assert mcard("find", "tag:to do", db=db, check=1).stderr.decode() == (
        """mcard: no card matches 'tag:to do' (tag:"to do" finds 1 card, as a value with spaces is quoted);"""
        """ no card is tagged 'to'\n""")
    filed = tmp_path / "my file.txt"
    filed.write_text("a file of notes")
    mcard("import", str(filed), db=db)  # name:*my* file* finds it too, but is not what was meant
    assert mcard("find", "name:my file*", db=db, check=1).stderr.decode() == (
        """mcard: no card matches 'name:my file*' (name:"my file*" finds 1 card, as a value with spaces is quoted)\n""")
    assert mcard("find", "name:*.TXT", db=db, check=1).stderr.decode() == (  # a glob, in another case
        "mcard: no card matches 'name:*.TXT' (name:*.txt finds 2 cards, as names are compared in their case)\n")


def test_find_says_which_items_of_its_query_went_unsearched(db):
    """``love 🎸`` listed the cards holding love, 🎸 or not, as if 🎸 had been looked for."""
    mcard("add", "love 🍕 and pizza", db=db)
    found = mcard("find", "love 🎸", "--json", db=db)
    assert [card["size"] for card in as_json(found)] == [len("love 🍕 and pizza".encode())]
    assert found.stderr.decode() == (
        "mcard: 1 match\nmcard: '🎸' was not looked for: no letter or digit, so no word (text:🎸 looks for it as text)\n")
    assert mcard("find", "love", db=db).stderr.decode() == "mcard: 1 match\n"
    in_a_phrase = mcard("find", '"love 🎸"', db=db).stderr.decode()  # a symbol inside a phrase is dropped too
    assert in_a_phrase.endswith("mcard: '🎸' was not looked for: no letter or digit, so no word (text:🎸 looks for it as text)\n")
    assert mcard("find", "v2.0 C++", db=db, check=1).stderr.decode() == "mcard: no card matches 'v2.0 C++'\n"  # punctuation goes unsaid
    assert mcard("find", "text:🍕*", db=db, check=1).stderr.decode() == (
        "mcard: no card matches 'text:🍕*' (text:🍕 finds 1 card, as text: takes no wildcard)\n")


def test_find_takes_the_kind_the_facets_count(db):
    """``mcard facets --by kind`` counted text and bytes, and ``find kind:bytes`` read the
    field as words."""
    mcard("add", "-", db=db, stdin=b"\x00\x01 bytes")
    assert as_json(mcard("facets", "--by", "kind", "--json", db=db))["kind"] == [["text", len(TEXTS)], ["bytes", 1]]
    found = as_json(mcard("find", "kind:bytes", "--json", db=db))
    assert [record["kind"] for record in found] == ["bytes"]
    assert len(as_json(mcard("find", "kind:text", "--json", "--limit", "0", db=db))) == len(TEXTS)


def test_or_between_fields_is_refused_as_such(db):
    """``name:*.md OR name:*.json`` was refused as "OR needs a word on each side": it has a
    field on each side, which OR does not join."""
    refused = mcard("find", "name:*.md OR name:*.json", db=db, check=2).stderr.decode()
    assert refused == ("mcard: OR joins words and phrases, not fields such as name:*.md: a card must match every"
                       " field of a query, at position 10\n")
    assert mcard("find", "fox OR tag:x", db=db, check=2).stderr.decode().startswith("mcard: OR joins words and phrases, not fields such as tag:x")
    assert mcard("find", "OR name:*.md", db=db, check=2).stderr.decode().startswith("mcard: OR joins words and phrases, not fields such as name:*.md")
    assert mcard("find", "fox OR", db=db, check=2).stderr.decode() == "mcard: OR needs a word on each side, at position 6\n"


def test_search_and_find_page_with_an_offset(db):
    every = contents(mcard("search", "-i", "s", "--json", "--limit", "0", db=db))
    pages = [contents(mcard("search", "-i", "s", "--json", "--limit", "2", "--offset", str(at), db=db)) for at in (0, 2)]
    assert pages[0] + pages[1] == every and len(every) == 4
    second = mcard("find", "fox", "--limit", "1", "--offset", "1", "--json", db=db)
    assert contents(second) == ["The quick brown Fox"] and b"showing 2 to 2" in second.stderr
    assert mcard("search", "--words", "fox", "--offset", "2", db=db, check=1).stderr.endswith(b"past --offset 2\n")
    assert mcard("find", "fox", "--offset", "2", db=db, check=1).stderr == b"mcard: 2 matches; none past --offset 2\n"
    far = mcard("find", "fox", "--offset", "12345", db=db, check=1).stderr  # as typed: --offset takes no separators
    assert far == b"mcard: 2 matches; none past --offset 12345\n"
    most = str(2**63 - 1)  # the largest limit the API takes: every card
    for command in (["ls"], ["search", "-i", "s"], ["find", "s*"]):
        assert as_json(mcard(*command, "--limit", most, "--json", db=db)) == as_json(mcard(*command, "--limit", "0", "--json", db=db))
    dashed = subprocess.run([MCARD, "--db", str(db), "search", "--words", "--json", "--", "-quick fox"],
                            capture_output=True, timeout=60)
    assert contents(dashed) == ["foxes and hounds, fox after fox"]


def test_facets_count_what_a_query_names(db):
    facets = as_json(mcard("facets", "--by", "content_type,kind,size", "--json", db=db))
    assert facets == {"content_type": [["text/plain", 5]], "kind": [["text", 5]], "size": [["< 1 KB", 5]]}
    assert as_json(mcard("facets", "fox", "--by", "kind", "--json", db=db)) == {"kind": [["text", 2]]}
    table = mcard("facets", db=db).stdout.decode()
    for header in ("CONTENT TYPE", "TAG", "MONTH", "SIZE"):
        assert header in table
    assert b"unknown facet 'colour'" in mcard("facets", "--by", "colour", db=db, check=2).stderr


def test_facets_of_a_mistyped_field_say_it_was_read_as_words(db):
    """Empty tables and status 0 were all it printed, where find names the mistyped field."""
    mistyped = mcard("facets", "tpye:text/plain", "--by", "kind", db=db)
    assert mistyped.stderr.decode() == (
        "mcard: no card matches 'tpye:text/plain' (tpye: is read as words; the fields are"
        " type:, tag:, name:, after:, before:, size:, kind:, text:)\n"
    )
    assert mcard("facets", "nowhere", "--by", "kind", db=db).stderr == b""  # nothing to tell: the empty tables say it
    mcard("tag", as_json(mcard("ls", "--json", db=db))[0]["hash"], "holiday", db=db)
    near = mcard("facets", "tag:holidya", "--by", "kind", db=db)  # a tag mistyped: said as find says it
    assert near.stderr.decode() == "mcard: no card matches 'tag:holidya'; no card is tagged 'holidya'; did you mean 'holiday'?\n"


def test_a_long_facet_says_what_it_leaves_out():
    shown = _facet_table("tag", [(f"t{n}", 40 - n) for n in range(40)])
    assert "t29" in shown and "t30" not in shown and "… 10 more values (--json lists them all)" in shown


def test_until_a_month_a_week_or_a_year_includes_all_of_it():
    from datetime import datetime, timezone

    from mcard import ValidationError
    from mcard.cli.commands import parse_time

    last_moment = datetime.max.time()
    assert parse_time("2024-02", "until", end_of_day=True) == datetime.combine(datetime(2024, 2, 29), last_moment, timezone.utc)
    assert parse_time("2026-W01", "until", end_of_day=True) == datetime.combine(datetime(2026, 1, 4), last_moment, timezone.utc)
    assert parse_time("2026", "until", end_of_day=True) == datetime.combine(datetime(2026, 12, 31), last_moment, timezone.utc)
    assert parse_time("2026-W01", "since") == datetime(2025, 12, 29, tzinfo=timezone.utc)
    assert parse_time("2026-02", "since") == datetime(2026, 2, 1, tzinfo=timezone.utc)
    with pytest.raises(ValidationError, match="--until: not an ISO 8601 time or date"):
        parse_time("2026-00", "until", end_of_day=True)
    assert parse_time("9999-W52", "until", end_of_day=True) == datetime.max.replace(tzinfo=timezone.utc)  # to 10000-01-02


def test_since_and_until_take_a_date_with_an_offset_as_that_day_there():
    from datetime import datetime, timezone

    from mcard import ValidationError
    from mcard.cli.commands import parse_time

    east = parse_time("2026-01-01+02:00", "since")
    assert east == datetime(2025, 12, 31, 22, tzinfo=timezone.utc)
    assert parse_time("2026-01-01-05:00", "until", end_of_day=True) == datetime(2026, 1, 2, 4, 59, 59, 999999, tzinfo=timezone.utc)
    assert parse_time("2026-01-01", "since") == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert parse_time("20260101+02:00", "since") == east  # the basic format too
    with pytest.raises(ValidationError, match="--since: not an ISO 8601 time or date"):
        parse_time("2026-01-01+25:00", "since")


def test_a_long_time_facet_shows_the_latest_buckets():
    """Time buckets are in time order: the table showed the oldest 30 of 40 months."""
    months = [(f"{2020 + n // 12}-{n % 12 + 1:02d}", 1) for n in range(40)]
    lines = _facet_table("month", months).splitlines()
    assert lines[1] == "… 10 earlier values (--json lists them all)"
    assert [line.split()[0] for line in lines[2:]] == [value for value, _ in months[10:]]
