"""``Filters`` as SQL conditions on the card table, for both engines.

Each engine gives its dialect: how a placeholder is written and how a glob over sighting
names (or tags) is matched. Statements are built from constants and the placeholders only; values
travel as parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from mcard.domain.query import Filters

from .name_globs import Part, glob_parts, literal

Params = list[object]


def not_in(hashed: str, subquery: str) -> str:
    """``Dialect.not_among`` for SQLite, which reads the subquery once into a temporary index."""
    return f"{hashed} NOT IN ({subquery})"


def not_exists(hashed: str, subquery: str) -> str:
    """``Dialect.not_among`` for PostgreSQL: ``NOT IN`` over a subquery cannot become an
    anti-join (a NULL would change its meaning), so once the subquery's hashes outgrow
    ``work_mem`` each row scanned them all again (a plan costed at 32 million over 100,000
    cards, 30,000 of them tagged); ``NOT EXISTS`` is a hash anti-join."""
    return f"NOT EXISTS (SELECT 1 FROM ({subquery}) AS left_out WHERE left_out.hash = {hashed})"


@dataclass(frozen=True)
class Dialect:
    """``mark(n)`` writes the n-th (1-based) placeholder; ``seen_under`` a subquery of the hashes
    seen under a name (of a sighting mcard would store, as ``names_of`` reads them) that a glob
    matches once composed (``Filters.matches``), writing the glob's placeholder by calling its
    argument (once per use); ``glob_value`` writes the glob's value from a parsed pattern
    (``name_globs``), which ``glob_operator`` tests a text against (``tag:`` globs); ``among`` a test that a value is one of a list given as one placeholder,
    whose value ``among_value`` writes; ``tag_table`` the tag table's name; ``not_among(hashed,
    subquery)`` a test that a hash is none of those a subquery gives (``-tag:``, ``-name:``)."""

    mark: Callable[[int], str]
    seen_under: Callable[[Callable[[], str]], str]
    glob_value: Callable[[list[Part]], str]
    glob_operator: str
    among: Callable[[str], str]
    among_value: Callable[[list[str]], object]
    tag_table: str
    not_among: Callable[[str, str], str] = not_in
    probe_fence: str = ""
    """Ends a subquery a test runs per row (``where(probe=True)``), so that it stays one:
    PostgreSQL turned ``EXISTS (... tag ~ $1)`` into a join with every tag the glob matches,
    compared with each walked card (1.5 million comparisons for 166 cards)."""


def tag_globs(patterns: tuple[str, ...]) -> tuple[list[str], list[list[Part]], bool]:
    """``tag:`` globs as (the tags those matching one text alone name, which are tested as tags
    are, through the index: ``a[*]`` is the tag a*; the other globs' parts; whether one of them
    matches no tag at all)."""
    tags, globs, nothing = [], [], False
    for pattern in patterns:
        parts = glob_parts(pattern)
        if parts is None:
            nothing = True
        elif (text := literal(parts)) is not None:
            tags.append(text)
        else:
            globs.append(parts)
    return tags, globs, nothing


def where(
    filters: Filters, dialect: Dialect, params: Params, after: Optional[tuple[int, str]] = None, table: str = "card",
    keyless: bool = False, probe: bool = False,
) -> list[str]:
    """The conditions (to join with AND) of ``filters`` on ``table``, appending their values
    to ``params``; ``after`` continues a newest-first listing behind (g_time, hash).
    ``keyless``: no test serves as an index key (``+card.hash IN``, ``+card.content_type =``),
    for rows chosen by a list of ids: SQLite sought every (hash, id) pair of the two lists (a
    search with a tag filter at 100,000 cards took up to 200 s), and walked the whole type
    index for a type (14 ms for a word no card holds, 0.1 ms leading with the ids).
    ``probe``: tag tests look each card's tags up, for rows read one by one along the time
    index: a test against every tagged hash first lists them all (100,000 of them: ~40 ms)."""
    clauses: list[str] = []
    column = ("+" if keyless else "") + table
    hashed = f"{column}.hash"
    tags_of = f"FROM {dialect.tag_table} WHERE {dialect.tag_table}.hash = {table}.hash AND"

    def holding(condition: str, all_of: int = 1) -> str:
        """A test that the card carries ``all_of`` tags meeting ``condition``."""
        if probe:
            if all_of == 1:
                return f"EXISTS (SELECT 1 {tags_of} {condition}{dialect.probe_fence})"
            return f"(SELECT count(*) {tags_of} {condition}) = {all_of}"
        grouped = "" if all_of == 1 else f" GROUP BY hash HAVING count(*) = {all_of}"
        return f"{hashed} IN (SELECT hash FROM {dialect.tag_table} WHERE {condition}{grouped})"

    def holding_none(condition: str) -> str:
        if probe:
            return f"NOT EXISTS (SELECT 1 {tags_of} ({condition}){dialect.probe_fence})"
        return dialect.not_among(hashed, f"SELECT hash FROM {dialect.tag_table} WHERE {condition}")

    def mark(value: object) -> str:
        params.append(value)
        return dialect.mark(len(params))

    start, end = filters.time_bounds
    if start is not None:
        clauses.append(f"{column}.g_time >= {mark(start)}")
    if end is not None:
        clauses.append(f"{column}.g_time <= {mark(end)}")

    def of_type(content_type: str) -> str:
        if content_type.endswith("/*"):
            prefix = content_type[:-1]
            low, high = mark(prefix), mark(prefix[:-1] + "0")  # "image/" <= type < "image0"
            return f"{column}.content_type >= {low} AND {column}.content_type < {high}"
        return f"{column}.content_type = {mark(content_type)}"

    if filters.content_type is not None:
        clauses.append(of_type(filters.content_type))
    for content_type in filters.excluded_types:
        clauses.append(f"({column}.content_type IS NULL OR NOT ({of_type(content_type)}))")
    if filters.kind is not None:  # as the kind facet tells them apart
        clauses.append(f"(CASE WHEN {column}.is_text THEN 'text' ELSE 'bytes' END) = {mark(filters.kind)}")
    if filters.min_size is not None:
        clauses.append(f"{column}.size >= {mark(filters.min_size)}")
    if filters.max_size is not None:
        clauses.append(f"{column}.size <= {mark(filters.max_size)}")
    named, globs, nothing = tag_globs(filters.tag_globs)
    tags = sorted(set(filters.tags) | set(named))
    if len(tags) == 1:
        clauses.append(holding(f"tag = {mark(tags[0])}"))
    elif tags:  # one test for all: a test per tag made SQLite's expression too deep past 996
        # one list parameter: a placeholder per tag slowed PostgreSQL's planning past 50 tags and was refused past 32,767
        clauses.append(holding(f"tag {dialect.among(mark(dialect.among_value(tags)))}", len(tags)))
    if nothing:
        clauses.append("1 = 0")
    for parts in globs:
        clauses.append(holding(f"tag {dialect.glob_operator} {mark(dialect.glob_value(parts))}"))
    named, globs, _ = tag_globs(filters.excluded_tag_globs)
    excluded = sorted(set(filters.excluded_tags) | set(named))
    if excluded:
        listed = f"= {mark(excluded[0])}" if len(excluded) == 1 else dialect.among(mark(dialect.among_value(excluded)))
        clauses.append(holding_none(f"tag {listed}"))
    if globs:  # one anti-join for them all
        clauses.append(holding_none(" OR ".join(
            f"tag {dialect.glob_operator} {mark(dialect.glob_value(parts))}" for parts in globs)))

    def seen_under(pattern: str) -> Optional[str]:
        parts = glob_parts(pattern)
        if parts is None:  # a set that holds no character: no name matches
            return None
        value = dialect.glob_value(parts)
        return dialect.seen_under(lambda: mark(value))

    for pattern in filters.names:
        clauses.append(f"{hashed} IN ({subquery})" if (subquery := seen_under(pattern)) is not None else "1 = 0")
    for pattern in filters.excluded_names:
        if (subquery := seen_under(pattern)) is not None:
            clauses.append(dialect.not_among(hashed, subquery))
    if after is not None:
        g_time, key = mark(after[0]), mark(after[1])
        clauses.append(f"({column}.g_time, {table}.hash) < ({g_time}, {key})")
    return clauses


def label_rows(filters: Filters, dialect: Dialect, params: Params) -> Optional[list[str]]:
    """Per tag, tag glob and name glob ``filters`` keep cards by, a query of the rows holding
    it (the tag's rows, the sightings under such a name), through their indexes: what a page's
    walk counts their hits in (``page_walks``); None when one of them can match nothing."""
    def mark(value: object) -> str:
        params.append(value)
        return dialect.mark(len(params))

    named, globs, nothing = tag_globs(filters.tag_globs)
    names = [parts for pattern in filters.names if (parts := glob_parts(pattern)) is not None]
    if nothing or len(names) < len(filters.names):
        return None
    rows = [f"SELECT 1 FROM {dialect.tag_table} WHERE tag = {mark(tag)}" for tag in sorted(set(filters.tags) | set(named))]
    rows += [f"SELECT 1 FROM {dialect.tag_table} WHERE tag {dialect.glob_operator} {mark(dialect.glob_value(parts))}"
             for parts in globs]
    for parts in names:
        value = dialect.glob_value(parts)
        rows.append(dialect.seen_under(lambda: mark(value)))
    return rows


def joined(clauses: list[str], keyword: str = " WHERE ") -> str:
    return keyword + " AND ".join(clauses) if clauses else ""
