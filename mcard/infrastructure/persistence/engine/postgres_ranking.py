"""BM25 in SQL for the texts whose words SQL can count exactly: texts all plain ASCII.

A text with no NUL, no backslash and no byte over 127 is its own escape encoding (``PLAIN``),
and its words (``tokens``) are its runs of ASCII letters and digits, lowercased. Such a run is
found exactly by a POSIX regular expression with look-around for the run's ends
(``occurrences``): a word, every word a prefix begins, every start of a phrase. So for these
texts SQL decides the matches, counts each phrase's hits and ranks them, computing
``ranking.score`` operation by operation on the same doubles (Python passes the constants,
the mean length and the weights), and only a page of them leaves the server. Other texts are
ranked in Python (``postgres_words``).
"""

from __future__ import annotations

import re
from typing import Final, Optional

from mcard.domain.query.ranking import B, K1
from mcard.domain.query.text import Clause, Phrase, WordQuery

from .postgres_search import ESCAPED, in_any_ascii_case

PLAIN: Final = f"strpos({ESCAPED}, '\\') = 0"
"""A text all ASCII, without NUL or backslash: the escape encoding left it as it was."""
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
    ``ranking.frequency`` counts them) in a plain text; None when no plain text holds it."""
    words = clause.words if isinstance(clause, Phrase) else (clause.word,)
    if not all(_WORD.fullmatch(word) for word in words):
        return None
    spelled = [in_any_ascii_case(word) for word in words]
    if isinstance(clause, Phrase):  # every start, overlapping ones too: a zero-width match each
        return _STARTS + "(?=" + "[^A-Za-z0-9]+".join(spelled) + _ENDS + ")"
    return _STARTS + spelled[0] + ("[A-Za-z0-9]*" if clause.prefix else _ENDS)


def holds(pattern: Optional[str], values: Values) -> str:
    return "false" if pattern is None else f"{ESCAPED} ~ {values.mark(pattern)}"


def hit_counts(phrases: list[Optional[str]], values: Values) -> str:
    """For each phrase, how many plain texts hold it (columns of an aggregate)."""
    return ", ".join(f"count(*) FILTER (WHERE {holds(pattern, values)})" for pattern in phrases)


def matches(query: WordQuery, patterns: dict[Clause, Optional[str]], values: Values) -> str:
    """Whether a plain text matches ``query``: every group, and none of the excluded."""
    groups = ["(" + " OR ".join(holds(patterns[clause], values) for clause in group) + ")" for group in query.groups]
    excluded = [holds(patterns[clause], values) for clause in query.excluded]
    return " AND ".join(groups) + (" AND NOT (" + " OR ".join(excluded) + ")" if excluded else "")


def frequencies(phrases: list[Optional[str]], values: Values, server_major: int) -> str:
    """A ``LATERAL`` subquery naming each phrase's occurrences in a plain text ``found.f0``...
    (``regexp_count`` from PostgreSQL 15 on, half the time of counting ``regexp_matches``)."""
    def occurring(pattern: str) -> str:
        if server_major >= 15:
            return f"regexp_count({ESCAPED}, {values.mark(pattern)})::float8"
        return f"(SELECT count(*) FROM regexp_matches({ESCAPED}, {values.mark(pattern)}, 'g'))::float8"

    counts = [("0.0::float8" if pattern is None else occurring(pattern)) + f" AS f{index}"
              for index, pattern in enumerate(phrases)]
    return "LATERAL (SELECT " + ", ".join(counts) + ") AS found"


def score(average: float, idfs: list[float], values: Values) -> str:
    """``ranking.score`` of a plain text as SQL over its ``words`` and ``frequencies``."""
    k1, k1_plus_1, one_minus_b, b = (values.mark(value) for value in (K1, K1 + 1.0, 1 - B, B))
    length = f"({one_minus_b} + {b} * words::float8 / {values.mark(average)})"
    total = "0.0::float8"
    for index, idf in enumerate(idfs):
        found = f"found.f{index}"
        total = f"({total} + {values.mark(idf)} * (({found} * {k1_plus_1}) / ({found} + {k1} * {length})))"
    return total
