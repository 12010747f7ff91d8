"""BM25 in SQL for the texts whose words SQL can count exactly: texts all plain ASCII.

A text with no NUL, no backslash and no byte over 127 is its own escape encoding (``postgres_search.PLAIN``),
and its words (``tokens``) are its runs of ASCII letters and digits, lowercased. Such a run is
found exactly by a POSIX regular expression with look-around for the run's ends
(``occurrences``): a word, every word a prefix begins, every start of a phrase. So for these
texts SQL decides the matches, counts each phrase's hits and ranks them, computing the idfs
and ``ranking.Scores`` operation by operation on the same doubles as Python (which passes the
constants, the mean length and the hits it found elsewhere), and only a page of them leaves the
server. Other texts are ranked in Python (``postgres_words``).
"""

from __future__ import annotations

import re
from typing import Final, Optional

from mcard.domain.query.ranking import B, K1, WordStats, phrases, weights
from mcard.domain.query.text import Clause, Phrase, WordQuery

from .postgres_search import ESCAPED, in_any_ascii_case

PAGE_COLUMNS: Final = "c.hash, c.content, c.is_text, c.g_time, c.hash_algorithm, c.size, c.content_type"

NO_MEMOIZE: Final = "SET LOCAL enable_memoize = off"
"""For the transaction of ``ranking_statement`` (PostgreSQL 14 on): not knowing how many texts
it reads, the planner caches its lateral subqueries by the whole text, every lookup a miss
(1,000,000 cards, 617,410 read: 4.6 s instead of 3.7 s)."""
_WORD: Final = re.compile(r"[a-z0-9]+")
_STARTS: Final = "(?<![A-Za-z0-9])"
_ENDS: Final = "(?![A-Za-z0-9])"


class Values:
    """The values of one statement, each appended as it is marked ``$n``."""

    def __init__(self, first: list[object]) -> None:
        self.list = list(first)

    def mark(self, value: object) -> str:
        self.list.append(value)
        return f"${len(self.list)}"


def occurrences(clause: Clause) -> Optional[str]:
    """A POSIX regular expression with one match per occurrence of ``clause`` (as
    ``WordQuery.counts`` counts them) in a plain text; None when no plain text holds it."""
    words = clause.words if isinstance(clause, Phrase) else (clause.word,)
    if not all(_WORD.fullmatch(word) for word in words):
        return None
    spelled = [in_any_ascii_case(word) for word in words]
    if isinstance(clause, Phrase):  # every start, overlapping ones too: a zero-width match each
        return _STARTS + "(?=" + "[^A-Za-z0-9]+".join(spelled) + _ENDS + ")"
    return _STARTS + spelled[0] + ("[A-Za-z0-9]*" if clause.prefix else _ENDS)


def holds(pattern: Optional[str], values: Values, text: str = ESCAPED) -> str:
    return "false" if pattern is None else f"{text} ~ {values.mark(pattern)}"


def matches(query: WordQuery, patterns: dict[Clause, Optional[str]], values: Values) -> str:
    """Whether a plain text matches ``query``: every group, and none of the excluded."""
    groups = ["(" + " OR ".join(holds(patterns[clause], values) for clause in group) + ")" for group in query.groups]
    excluded = [holds(patterns[clause], values) for clause in query.excluded]
    return " AND ".join(groups) + (" AND NOT (" + " OR ".join(excluded) + ")" if excluded else "")


def ranking_statement(
    card: str, candidates: str, chosen: str, query: WordQuery, exact: dict[Clause, Optional[str]], known: WordStats,
    values: Values, wanted: Optional[int], server_major: int,
) -> str:
    """One statement ranking the plain texts that pass ``candidates`` (rows of ``card AS c``).
    Each text is read once (``held``): whether it holds each phrase (``h.h0``...: the phrases'
    hits), whether it is a match (``matched``: it also passes ``chosen``) and, for a match, each
    phrase's occurrences (``f.f0``...); from these come the idfs and the scores. ``known``: the
    store's statistics but for these hits (all its rows and words, the hits of the texts ranked
    in Python). One row per card of the best ``wanted`` (all for None), best first: the hits,
    ``matching``, the score, then the card's columns; one row of NULL card columns when none
    match. Each lateral subquery has ``OFFSET 0`` so that it is computed once per row."""
    clauses = phrases(query)
    indexes = range(len(clauses))
    holding = ", ".join(f"{holds(exact[clause], values, 'e.text')} AS h{index}" for index, clause in enumerate(clauses))
    found = iter(indexes)
    groups = " AND ".join("(" + " OR ".join(f"h{next(found)}" for _ in group) + ")" for group in query.groups)
    excluded = [holds(exact[clause], values, "x.text") for clause in query.excluded]
    matched = f"{groups} AND {chosen}" + (f" AND NOT ({' OR '.join(excluded)})" if excluded else "")
    counts = ", ".join(
        f"CASE WHEN h.matched THEN {_occurring(exact[clause], values, server_major)} END AS f{index}"
        for index, clause in enumerate(clauses)
    )
    held = (
        f"SELECT c.hash, c.g_time, c.words, {', '.join(f'h.h{index}, f.f{index}' for index in indexes)}, h.matched"
        f" FROM {card} AS c CROSS JOIN LATERAL (SELECT encode(c.content, 'escape') AS text OFFSET 0) AS e"
        f" CROSS JOIN LATERAL (SELECT *, {matched} AS matched FROM (SELECT e.text, {holding} OFFSET 0) AS x) AS h"
        f" CROSS JOIN LATERAL (SELECT {counts} OFFSET 0) AS f"
        f" WHERE {candidates}"
    )
    hits = ", ".join(f"count(*) FILTER (WHERE h{index}) AS h{index}" for index in indexes)
    rows = values.mark(known.rows)
    idfs = ", ".join(_idf(f"h{index}", values.mark(other), rows) + f" AS w{index}" for index, other in enumerate(known.hits))
    best = (
        f"SELECT {_score(weights(known)[0], len(clauses), values)} AS score, held.g_time AS g, held.hash AS key"
        " FROM held CROSS JOIN idfs WHERE held.matched ORDER BY score DESC, g DESC, key DESC"
    )
    if wanted is not None:
        best += f" LIMIT {values.mark(wanted)}"
    return (
        f"WITH held AS MATERIALIZED ({held}),"
        f" hits AS (SELECT {hits}, count(*) FILTER (WHERE matched) AS matching FROM held),"
        f" idfs AS (SELECT {idfs} FROM hits)"
        f" SELECT hits.*, best.score, {PAGE_COLUMNS} FROM hits LEFT JOIN (({best}) AS best"
        f" JOIN {card} AS c ON c.hash = best.key) ON true ORDER BY best.score DESC, best.g DESC, best.key DESC"
    )


def _occurring(pattern: Optional[str], values: Values, server_major: int) -> str:
    """How many times ``pattern`` matches ``h.text``, as a double (``regexp_count`` from
    PostgreSQL 15 on, half the time of counting ``regexp_matches``)."""
    if pattern is None:
        return "0.0::float8"
    if server_major >= 15:
        return f"regexp_count(h.text, {values.mark(pattern)})::float8"
    return f"(SELECT count(*) FROM regexp_matches(h.text, {values.mark(pattern)}, 'g'))::float8"


def _idf(hits: str, elsewhere: str, rows: str) -> str:
    """``ranking.weights``' idf of a phrase found in ``hits`` plain texts and ``elsewhere``
    others, operation by operation (C's ``log`` in both)."""
    count = f"least({hits} + {elsewhere}::bigint, {rows}::bigint)"
    return f"greatest(1e-6::float8, ln((({rows}::bigint - {count})::float8 + 0.5) / ({count}::float8 + 0.5)))"


def _score(average: float, phrase_count: int, values: Values) -> str:
    """``ranking.Scores`` of a held text over its ``words``, its counts ``f0``... and the idfs
    ``w0``..."""
    k1, k1_plus_1, one_minus_b, b = (values.mark(value) for value in (K1, K1 + 1.0, 1 - B, B))
    length = f"({one_minus_b} + {b} * held.words::float8 / {values.mark(average)})"
    total = "0.0::float8"
    for index in range(phrase_count):
        found = f"held.f{index}"
        total = f"({total} + idfs.w{index} * (({found} * {k1_plus_1}) / ({found} + {k1} * {length})))"
    return total
