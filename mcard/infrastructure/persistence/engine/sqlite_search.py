"""Searching and counting cards on SQLite: candidates from the indexes, an exact check each.

A search collects candidate ids: from ``card_text`` (trigram, casefolded) for a substring or
a regular expression's literal parts, from ``card_words`` (unicode61, casefolded; BM25 rank)
for words, plus always the cards the indexes do not cover yet and the texts holding a NUL.
Every candidate is then checked against its content: ``instr`` for a case-sensitive
substring, else ``mcard_matches`` (``mcard.domain.query.text``), so results are exactly the
reference's whatever the indexes find. Without anything to look up (a query under three
characters, a regular expression without a literal part) every card with text is checked.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any, Final, Optional

from mcard.domain.models.card import MCard, from_micros
from mcard.domain.query import Filters, SearchSpec, WordQuery, casefold
from mcard.domain.query.text import Phrase, Term, required_literals

from . import sql_filters
from .base_engine import SIZE_BUCKETS, TIME_WIDTHS, time_width
from .sqlite_connection import SQLiteWorker

CARD: Final = (
    "CASE WHEN card.is_text THEN CAST(card.content AS TEXT) ELSE card.content END AS content,"
    " card.hash, card.g_time, card.hash_algorithm, card.size, card.content_type"
)
NEWEST_FIRST: Final = " ORDER BY card.g_time DESC, card.hash DESC"
DIALECT: Final = sql_filters.Dialect(
    mark=lambda _: "?", glob=lambda mark: f"name GLOB {mark}", glob_value=sql_filters.sqlite_glob,
    tag_table="tag", sighting_table="sighting",
)
UNCOVERED: Final = (
    "SELECT id, 0.0 AS rank FROM card WHERE id > (SELECT value FROM mcard_meta WHERE key = 'text_indexed')"
    " UNION ALL SELECT id, 0.0 AS rank FROM card_searchable WHERE has_nul"
)
"""Candidates the indexes cannot give: cards not indexed yet, texts with a NUL."""
EVERY_TEXT: Final = f"SELECT id, 0.0 AS rank FROM card_searchable WHERE NOT has_nul UNION ALL {UNCOVERED}"
TRIGRAMS: Final = "SELECT rowid AS id, 0.0 AS rank FROM card_text WHERE card_text MATCH ?"
WORDS: Final = "SELECT rowid AS id, bm25(card_words) AS rank FROM card_words WHERE card_words MATCH ?"
_STABLE_BELOW: Final = 0x0530
_TOKEN_CATEGORIES: Final = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nd", "Nl", "No"})


def where(filters: Filters, params: list[object], after: Optional[tuple[int, str]] = None) -> str:
    return sql_filters.joined(sql_filters.where(filters, DIALECT, params, after))


def fts_string(text: str) -> str:
    """``text`` as one FTS5 string: every character literal (operators, ``*``, quotes too)."""
    return '"' + text.replace('"', '""') + '"'


def _stable(word: str) -> bool:
    """Whether SQLite's unicode61 tokenizer (Unicode 6.1) and Python agree on the word's
    characters being word characters: scripts encoded long before both."""
    return all(ord(char) < _STABLE_BELOW and unicodedata.category(char) in _TOKEN_CATEGORIES for char in word)


def words_match(query: WordQuery) -> Optional[str]:
    """The FTS5 query finding every text the word query can match (exclusions are left to
    the exact check), or None when a word is not safe to look up by unicode61's tokens."""
    groups = []
    for group in query.groups:
        clauses = []
        for clause in group:
            words = clause.words if isinstance(clause, Phrase) else (clause.word,)
            if not all(_stable(word) for word in words):
                return None
            prefix = isinstance(clause, Term) and clause.prefix
            clauses.append(fts_string(" ".join(words)) + (" *" if prefix else ""))
        groups.append("(" + " OR ".join(clauses) + ")")
    return " AND ".join(groups)


def _literal_lookup(literals: list[str], params: list[object]) -> Optional[str]:
    """Candidates holding one of ``literals`` (casefolded, at least 3 characters each)."""
    if not literals or any(len(text) < 3 or "\x00" in text for text in literals):
        return None
    params.extend(fts_string(text) for text in literals)
    return " UNION ALL ".join([TRIGRAMS] * len(literals))


def candidates(spec: SearchSpec, params: list[object]) -> tuple[str, bool]:
    """The statement giving (id, rank) of every card the search may match, and whether the
    rank orders them (words found through ``card_words``)."""
    lookup = None
    if spec.mode == "words":
        words = spec.words
        fts = words_match(words)
        if fts is not None:
            params.append(fts)
            return f"{WORDS} UNION ALL {UNCOVERED}", True
        for group in words.literals:
            lookup = _literal_lookup(group, params)
            if lookup:
                break
    elif spec.mode == "regex":
        found = required_literals(spec.query)
        lookup = _literal_lookup([casefold(found[0])], params) if found else None
    else:
        lookup = _literal_lookup([casefold(spec.query)], params)
    return (f"{lookup} UNION ALL {UNCOVERED}" if lookup else EVERY_TEXT), False


def check(spec: SearchSpec, params: list[object]) -> str:
    """The exact test of a candidate ``card``."""
    key = json.dumps([spec.mode, spec.query, spec.case_sensitive])
    if spec.mode == "substring" and spec.case_sensitive:
        params += [spec.query.encode("utf-8"), key]
        return "instr(card.content, ?) > 0 AND (card.is_text OR mcard_matches(?, card.content))"
    params.append(key)
    return "mcard_matches(?, card.content)"


def _matching(spec: SearchSpec, filters: Filters, params: list[object], columns: str) -> tuple[str, bool]:
    found, ranked = candidates(spec, params)
    test = check(spec, params)
    conditions = where(filters, params)
    filtered = f" AND {conditions[len(' WHERE '):]}" if conditions else ""
    return f"SELECT {columns} FROM ({found}) AS hit JOIN card ON card.id = hit.id WHERE {test}{filtered}", ranked


async def search(
    db: SQLiteWorker, spec: SearchSpec, filters: Filters, limit: Optional[int], offset: int, with_total: bool
) -> tuple[list[MCard], Optional[int]]:
    params: list[object] = []
    statement, ranked = _matching(spec, filters, params, CARD)
    order = " ORDER BY hit.rank, card.g_time DESC, card.hash DESC" if ranked else NEWEST_FIRST
    cards = await db.fetch(f"{statement}{order} LIMIT ? OFFSET ?", (*params, -1 if limit is None else limit, offset))
    if not with_total:
        return cards, None
    if limit is None or (len(cards) < limit and (cards or offset == 0)):
        return cards, offset + len(cards)
    params = []
    statement, _ = _matching(spec, filters, params, "count(*)")
    [(total,)] = await db.fetch(statement, params)
    return cards, total


# -- facets ----------------------------------------------------------------------------------
_SIZE_CASE: Final = (  # the index of the card's bucket in SIZE_BUCKETS
    "CASE WHEN card.size >= 10485760 THEN 5 WHEN card.size >= 1048576 THEN 4 WHEN card.size >= 102400 THEN 3"
    " WHEN card.size >= 10240 THEN 2 WHEN card.size >= 1024 THEN 1 ELSE 0 END"
)
_TIME_FORMATS: Final = {"year": "%Y", "month": "%Y-%m", "day": "%Y-%m-%d", "hour": "%Y-%m-%dT%H"}
_COUNTED: Final = {
    "content_type": "card.content_type",
    "kind": "CASE WHEN card.is_text THEN 'text' ELSE 'bytes' END",
    "size": _SIZE_CASE,
}


def _chosen(filters: Filters, spec: Optional[SearchSpec], params: list[object]) -> str:
    """The cards a facet counts: ``FROM card ... WHERE`` text selecting them."""
    if spec is None:
        return f"FROM card{where(filters, params)}"
    inner, _ = _matching(spec, filters, params, "card.id")
    return f"FROM card WHERE card.id IN ({inner})"


async def facet(db: SQLiteWorker, field: str, filters: Filters, spec: Optional[SearchSpec]) -> list[tuple[Any, int]]:
    params: list[object] = []
    if field == "tag":
        if filters.empty and spec is None:
            statement = "SELECT tag, count(*) FROM tag GROUP BY tag"
        else:
            statement = f"SELECT tag, count(*) FROM tag WHERE hash IN (SELECT card.hash {_chosen(filters, spec, params)}) GROUP BY tag"
        rows = await db.fetch(statement + " ORDER BY 2 DESC, 1", params)
        return [(tag, n) for tag, n in rows]
    if field == "time":
        [(first, last)] = await db.fetch(f"SELECT min(card.g_time), max(card.g_time) {_chosen(filters, spec, params)}", params)
        field = time_width(None if first is None else from_micros(first), None if last is None else from_micros(last))
        params = []
    if field in TIME_WIDTHS:
        bucket = f"strftime('{_TIME_FORMATS[field]}', card.g_time / 1e6, 'unixepoch')"
        rows = await db.fetch(f"SELECT {bucket}, count(*) {_chosen(filters, spec, params)} GROUP BY 1 ORDER BY 1", params)
        return [(value, n) for value, n in rows]
    rows = await db.fetch(f"SELECT {_COUNTED[field]}, count(*) {_chosen(filters, spec, params)} GROUP BY 1", params)
    if field == "size":
        return [(SIZE_BUCKETS[index][1], n) for index, n in sorted(rows)]
    return sorted(((value, n) for value, n in rows), key=lambda item: (-item[1], str(item[0])))
