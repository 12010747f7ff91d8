"""``Filters`` as SQL conditions on the card table, for both engines.

Each engine gives its dialect: how a placeholder is written and how a glob over sighting
names is matched. Statements are built from constants and the placeholders only; values
travel as parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from mcard.domain.query import Filters

Params = list[object]


@dataclass(frozen=True)
class Dialect:
    """``mark(n)`` writes the n-th (1-based) placeholder; ``glob`` a sighting-name test of
    placeholder ``m``; ``tables`` the tag and sighting tables' names."""

    mark: Callable[[int], str]
    glob: Callable[[str], str]
    glob_value: Callable[[str], str]
    tag_table: str
    sighting_table: str


def where(
    filters: Filters, dialect: Dialect, params: Params, after: Optional[tuple[int, str]] = None, table: str = "card",
    hash_keyless: bool = False,
) -> list[str]:
    """The conditions (to join with AND) of ``filters`` on ``table``, appending their values
    to ``params``; ``after`` continues a newest-first listing behind (g_time, hash).
    ``hash_keyless``: the tag and name tests never serve as index keys (``+hash IN``), for rows
    chosen by a list of ids: SQLite sought every (hash, id) pair of the two lists (a search
    with a tag filter at 100,000 cards took up to 200 s)."""
    clauses: list[str] = []
    hashed = ("+" if hash_keyless else "") + f"{table}.hash"

    def mark(value: object) -> str:
        params.append(value)
        return dialect.mark(len(params))

    start, end = filters.time_bounds
    if start is not None:
        clauses.append(f"{table}.g_time >= {mark(start)}")
    if end is not None:
        clauses.append(f"{table}.g_time <= {mark(end)}")
    if filters.content_type is not None:
        if filters.content_type.endswith("/*"):
            prefix = filters.content_type[:-1]
            low, high = mark(prefix), mark(prefix[:-1] + "0")  # "image/" <= type < "image0"
            clauses.append(f"{table}.content_type >= {low} AND {table}.content_type < {high}")
        else:
            clauses.append(f"{table}.content_type = {mark(filters.content_type)}")
    if filters.min_size is not None:
        clauses.append(f"{table}.size >= {mark(filters.min_size)}")
    if filters.max_size is not None:
        clauses.append(f"{table}.size <= {mark(filters.max_size)}")
    for tag in filters.tags:
        clauses.append(f"{hashed} IN (SELECT hash FROM {dialect.tag_table} WHERE tag = {mark(tag)})")
    for pattern in filters.names:
        test = dialect.glob(mark(dialect.glob_value(pattern)))
        clauses.append(f"{hashed} IN (SELECT hash FROM {dialect.sighting_table} WHERE {test})")
    if after is not None:
        g_time, key = mark(after[0]), mark(after[1])
        clauses.append(f"({table}.g_time, {table}.hash) < ({g_time}, {key})")
    return clauses


def joined(clauses: list[str], keyword: str = " WHERE ") -> str:
    return keyword + " AND ".join(clauses) if clauses else ""


def _bracket_end(pattern: str, start: int) -> Optional[int]:
    """Where the ``[...]`` set that opens at ``start`` closes, as ``fnmatch`` reads it (a ``!``
    and then a ``]`` first in the set are part of it), or None when it never closes."""
    end = start + 1
    if end < len(pattern) and pattern[end] == "!":
        end += 1
    if end < len(pattern) and pattern[end] == "]":
        end += 1
    while end < len(pattern) and pattern[end] != "]":
        end += 1
    return end if end < len(pattern) else None


def sqlite_glob(pattern: str) -> str:
    """An ``fnmatchcase`` pattern as a SQLite ``GLOB`` pattern (the same matches)."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char != "[":
            out.append(char)
            index += 1
            continue
        end = _bracket_end(pattern, index)
        if end is None:  # no closing bracket: a literal "["
            out.append("[[]")
            index += 1
            continue
        body = pattern[index + 1:end]
        negated = body.startswith("!")
        if negated:
            body = body[1:]
        if body.startswith("^"):  # a literal caret for fnmatch, a negation for GLOB
            body = body[1:] + "^"
        out.append("[" + ("^" if negated else "") + body + "]")
        index = end + 1
    return "".join(out)


def postgres_similar(pattern: str) -> str:
    """An ``fnmatchcase`` pattern as a PostgreSQL ``SIMILAR TO`` pattern (the same matches)."""
    out: list[str] = []
    index = 0
    special = set("%_|*+?{}()\\")
    while index < len(pattern):
        char = pattern[index]
        if char == "*":
            out.append("%")
        elif char == "?":
            out.append("_")
        elif char == "[":
            end = _bracket_end(pattern, index)
            if end is None:
                out.append("\\[")
                index += 1
                continue
            body = pattern[index + 1:end]
            negated = body.startswith("!")
            body = body[1:] if negated else body
            body = "".join("\\" + c if c in "\\^[" else c for c in body)
            out.append("[" + ("^" if negated else "") + body + "]")
            index = end
        elif char in special or char in "[]^$.":
            out.append("\\" + char)
        else:
            out.append(char)
        index += 1
    return "".join(out)
