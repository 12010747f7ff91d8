"""Searching and counting cards on SQLite: candidates from the index, an exact check each.

A search collects candidate ids from ``card_text`` (trigram, casefolded) for the literal text
every match must hold (the substring, a regular expression's literal part, one of the words of
a word query's group), plus always the cards the index does not cover yet and the texts
holding a NUL. Every candidate is then checked against its content: ``instr`` for a
case-sensitive substring, else ``mcard_matches`` (``mcard.domain.query.text``), so results are
exactly the reference's. Without anything to look up (a query under three characters, a
regular expression without a literal part) every card with text is checked. Word searches are
ranked by ``text.rank`` (BM25), on a worker thread.

SQLite's own word tokenizer (unicode61) is not used: it splits words elsewhere than the
reference does (combining marks, symbols and characters newer than Unicode 6.1), so its index
could miss a match.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final, Optional

from mcard.domain.models.card import MCard, from_micros
from mcard.domain.query import Filters, SearchSpec, casefold
from mcard.domain.query.text import rank, required_literals

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


def where(filters: Filters, params: list[object], after: Optional[tuple[int, str]] = None) -> str:
    return sql_filters.joined(sql_filters.where(filters, DIALECT, params, after))


def fts_string(text: str) -> str:
    """``text`` as one FTS5 string: every character literal (operators, ``*``, quotes too)."""
    return '"' + text.replace('"', '""') + '"'


def _literal_lookup(literals: list[str], params: list[object]) -> Optional[str]:
    """Candidates holding one of ``literals`` (casefolded, at least 3 characters each)."""
    if not literals or any(len(text) < 3 or "\x00" in text for text in literals):
        return None
    params.extend(fts_string(text) for text in literals)
    return " UNION ".join([TRIGRAMS] * len(literals))  # a card may hold several


def candidates(spec: SearchSpec, params: list[object]) -> str:
    """The statement giving (id, rank) of every card the search may match."""
    lookup = None
    if spec.mode == "words":
        for group in spec.words.literals:
            lookup = _literal_lookup(group, params)
            if lookup:
                break
    elif spec.mode == "regex":
        found = required_literals(spec.query)
        lookup = _literal_lookup([casefold(found[0])], params) if found else None
    else:
        lookup = _literal_lookup([casefold(spec.query)], params)
    return f"{lookup} UNION ALL {UNCOVERED}" if lookup else EVERY_TEXT


def check(spec: SearchSpec, params: list[object]) -> str:
    """The exact test of a candidate ``card``."""
    key = json.dumps([spec.mode, spec.query, spec.case_sensitive])
    if spec.mode == "substring" and spec.case_sensitive:
        params += [spec.query.encode("utf-8"), key]
        return "instr(card.content, ?) > 0 AND (card.is_text OR mcard_matches(?, card.content))"
    params.append(key)
    return "mcard_matches(?, card.content)"


def _matching(spec: SearchSpec, filters: Filters, params: list[object], columns: str) -> str:
    found = candidates(spec, params)
    test = check(spec, params)
    conditions = where(filters, params)
    filtered = f" AND {conditions[len(' WHERE '):]}" if conditions else ""
    return f"SELECT {columns} FROM ({found}) AS hit JOIN card ON card.id = hit.id WHERE {test}{filtered}"


async def search(
    db: SQLiteWorker, spec: SearchSpec, filters: Filters, limit: Optional[int], offset: int, with_total: bool
) -> tuple[list[MCard], Optional[int]]:
    params: list[object] = []
    statement = _matching(spec, filters, params, CARD)
    if spec.mode == "words":
        ranked = await asyncio.to_thread(rank, spec, await db.fetch(statement + NEWEST_FIRST, params))
        return (ranked[offset:] if limit is None else ranked[offset:offset + limit]), len(ranked)
    cards = await db.fetch(f"{statement}{NEWEST_FIRST} LIMIT ? OFFSET ?", (*params, -1 if limit is None else limit, offset))
    if not with_total:
        return cards, None
    if limit is None or (len(cards) < limit and (cards or offset == 0)):
        return cards, offset + len(cards)
    params = []
    [(total,)] = await db.fetch(_matching(spec, filters, params, "count(*)"), params)
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
    inner = _matching(spec, filters, params, "card.id")
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
