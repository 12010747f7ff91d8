"""What a query that matched nothing may have meant, said by the command line, the notebook and
the explorer: a field name mistyped, a tag no card has, a hash typed where a query is, a word
that is a tag or in cards' names rather than in their text."""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Sequence
from typing import Final, Optional

from mcard.domain.models.exceptions import AmbiguousHashError, ValidationError
from mcard.domain.models.sighting import composed
from mcard.domain.query.filters import glob_escaped, is_glob
from mcard.domain.query.syntax import (
    SHOWN_VALUE, FindQuery, lone_word, parse_find, quoted_value, short_hash_hint, tag_value, unknown_fields_hints,
    unsearched_note, with_spaces_quoted, without_operator_words, without_value,
)
from mcard.domain.shown import quoted
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper

_HASH_PREFIX: Final = re.compile(r"[0-9a-f]{8,64}", re.IGNORECASE)


AS_A_START: Final = " as the start of longer words"
INSIDE_WORDS: Final = " inside longer words"
WITH_SPACES: Final = ", as a value with spaces is quoted"
WHOLE_NAMES: Final = ", as name: without a * matches whole names only"


async def no_match_hint(
    store: AsyncPersistenceWrapper, query: str, *, open_with: Optional[str], tags_named: bool = True,
    suggested: Optional[list[str]] = None,
) -> str:
    """`` (hint; hint)`` for ``query``, which matched no card, or "" when there is nothing to say.
    ``open_with``: what opens a card by a hash prefix where the query does not (``mcard show
    {prefix}``), None where it does (the explorer). ``tags_named``: whether to name its tags no
    card has (the command line says them apart). A query suggested is run first: it is named
    only if it finds cards, and added to ``suggested`` (the explorer shows each as a button)."""
    parsed = parse_find(query)
    hints = unknown_fields_hints(query)
    if unsearched := unsearched_note(query):
        hints.append(unsearched)
    if tags_named:
        meant: dict[str, str] = {}
        hints += await unknown_tags(store, parsed.filters.tags, parsed.filters.tag_globs, in_query=True, meant=meant)
        if suggested is not None:
            suggested += await _with_tags_meant(store, query, meant)
    if short := short_hash_hint(query):
        hints.append(short + ("" if open_with is None else f", for {open_with.format(prefix='PREFIX')}"))
    elif open_with is not None and _HASH_PREFIX.fullmatch(query.strip()):
        prefix = query.strip().lower()
        try:
            named = await store.resolve(prefix) is not None
        except AmbiguousHashError:
            named = True
        except ValidationError:
            named = False
        if named:
            hints.append(f"a hash starts with it, and a query looks in texts and fields, not hashes: {open_with.format(prefix=prefix)}")
    filters = parsed.filters
    if filters.start_time is not None and filters.end_time is not None and filters.start_time > filters.end_time:
        hints.append("after: is later than before:, and no card can be in between")
    found_how: set[str] = set()
    for alternatives, how in _instead(query, parsed):
        if (how == INSIDE_WORDS and AS_A_START in found_how) or (how == WHOLE_NAMES and WITH_SPACES in found_how):
            continue  # it would find those cards and more; name:a file* meant the name "a file*", not name:*a*
        for alternative in alternatives:  # as typed, then in other cases: names and tags are compared as they are
            try:
                total = (await store.find(alternative, 0)).total
            except ValidationError:  # a word that is no tag a card can have (too long)
                continue
            if total:
                hints.append(f"{alternative} finds {total:,} card{'' if total == 1 else 's'}{how}")
                if suggested is not None:
                    suggested.append(alternative)
                found_how.add(how)
                break
    return f" ({'; '.join(hints)})" if hints else ""


async def _with_tags_meant(store: AsyncPersistenceWrapper, query: str, meant: dict[str, str]) -> list[str]:
    """``query`` with each mistyped tag (a key of ``meant``) replaced by the tag a card has, when
    that finds cards (a tag "did you mean" came without the button other hints have)."""
    found = []
    known: Optional[list[str]] = None
    for typed, tag in meant.items():
        value = tag_value(tag)
        if not value.isprintable():  # the query box would hold a character no one sees (a zero-width space)
            glob = "".join(char if char.isprintable() else "?" for char in glob_escaped(tag))
            known = known if known is not None else await _known_tags(store)
            if [other for other in known if fnmatch.fnmatchcase(other, glob)] != [tag]:
                continue  # the glob would name other tags too
            value = quoted_value(glob)
        instead = without_value(query, "tag", typed, instead=f"tag:{value}")
        if instead != query and (await store.find(instead, 0)).total:
            found.append(instead)
    return found


async def _known_tags(store: AsyncPersistenceWrapper) -> list[str]:
    """The tags cards have."""
    return [str(value) for value, _ in (await store.facets("", by=("tag",)))["tag"]]


def _instead(query: str, parsed: FindQuery) -> list[tuple[list[str], str]]:
    """(queries, how they find cards) to try in turn: a lone word looked for as a tag and in
    names, as the start of longer words and inside them; ``text:`` without its ``*``; a
    ``name:`` or ``tag:`` value typed with spaces, quoted; ``AND`` and ``NOT`` written as the
    syntax has them; a ``name:`` without a wildcard, which matches whole names alone, as a part,
    and a ``name:`` glob in other cases."""
    tried = []
    parts = lone_word(query)
    if parts is not None:
        before, word, after = parts
        tried.append(([f"{before}tag:{tag_value(case)}{after}".strip() for case in _cases(word)], " by tag"))
        tried.append(([f"{before}name:*{case}*{after}".strip() for case in _cases(word)], " by name"))
        if not query[len(before):].lstrip().startswith(f"{word}*"):  # typed without its *
            tried.append(([f"{before}{word}*{after}".strip()], AS_A_START))
            tried.append(([f"{before}text:{quoted_value(word)}{after}".strip()], INSIDE_WORDS))
    text = parsed.words.query if parsed.words is not None and parsed.words.mode == "substring" else ""
    if text.endswith("*") and text.rstrip("*"):  # text:ไทย* looks for the * too
        instead = without_value(query, "text", text, instead=f"text:{quoted_value(text.rstrip('*'))}")
        tried.append(([instead], ", as text: takes no wildcard"))
    for joined in with_spaces_quoted(query):
        tried.append((joined, WITH_SPACES))
    instead_of_operators = without_operator_words(query)
    if instead_of_operators is not None:
        named = [word for word in ("AND", "NOT") if re.search(rf"(?<!\S){word}(?!\S)", query)]
        read_as = "AND and NOT are words" if len(named) == 2 else f"{named[0]} is a word"
        meant = {"AND": "every word must match already", "NOT": "-word leaves a word out"}
        tried.append(([instead_of_operators], f", as {read_as} here: {', and '.join(meant[word] for word in named)}"))
    for name in parsed.filters.names:
        if len(name) > SHOWN_VALUE or not name.isprintable():
            continue
        if not is_glob(name):
            instead = [without_value(query, "name", name, instead=f"name:{quoted_value(f'*{case}*')}") for case in _cases(name)]
            if instead[0] != query:  # typed as it is stored (a name typed decomposed is not)
                tried.append((instead, WHOLE_NAMES))
        elif cased := [without_value(query, "name", name, instead=f"name:{quoted_value(case)}") for case in _cases(name)[1:]]:
            tried.append(([instead for instead in cased if instead != query], ", as names are compared in their case"))
    return tried


def _cases(word: str) -> list[str]:
    """``word`` as typed, then in lower case, capitalized and in upper case: names and tags are
    compared as they are, and ``HILLS`` meant hills.png."""
    return list(dict.fromkeys((word, word.lower(), word.capitalize(), word.upper())))


async def unknown_tags(store: AsyncPersistenceWrapper, tags: Sequence[str], globs: Sequence[str] = (),
                       *, in_query: bool = False, meant: Optional[dict[str, str]] = None) -> list[str]:
    """For each of ``tags`` that no card has, a line saying so, with the closest tag a card
    has (put in ``meant``, by the tag typed): a mistyped tag found nothing, as a tag no card
    matched with the other filters did. Likewise for each of ``globs`` (``tag:trip-*``) that
    matches no tag a card has. With ``in_query``, the closest tag is written as a ``tag:``
    value names it (``a[*]``)."""
    if not tags and not globs:
        return []
    known = await _known_tags(store)
    said = []
    for tag in dict.fromkeys(tags):
        stored = composed(tag.strip())
        if stored not in known:
            same = [tag for tag in known if tag.casefold() == stored.casefold()]  # HOLIDAY for holiday
            close = same[:1] or difflib.get_close_matches(stored, known, n=1)
            said.append(f"no card is tagged {quoted(tag)}"
                        + (f"; did you mean {quoted(glob_escaped(close[0]) if in_query else close[0])}?" if close else ""))
            if close and meant is not None:
                meant[tag] = close[0]
    for pattern in dict.fromkeys(globs):
        if not any(fnmatch.fnmatchcase(tag, pattern) for tag in known):
            said.append(f"no tag matches {quoted(pattern)}")
    return said
