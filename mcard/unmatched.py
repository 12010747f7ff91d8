"""What a query that matched nothing may have meant, said by the command line and the explorer:
a field name mistyped, a hash typed where a query is, a word that is in cards' names rather
than in their text."""

from __future__ import annotations

import re
from typing import Final, Optional

from mcard.domain.models.exceptions import AmbiguousHashError, ValidationError
from mcard.domain.query.syntax import lone_word, parse_find, short_hash_hint, tag_value, unknown_fields_hints
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper

_HASH_PREFIX: Final = re.compile(r"[0-9a-f]{8,64}", re.IGNORECASE)


async def no_match_hint(store: AsyncPersistenceWrapper, query: str, *, open_with: Optional[str]) -> str:
    """`` (hint; hint)`` for ``query``, which matched no card, or "" when there is nothing to say.
    ``open_with``: what opens a card by a hash prefix where the query does not (``mcard show
    {prefix}``), None where it does (the explorer). A query suggested is run first: it is named
    only if it finds cards."""
    hints = unknown_fields_hints(query)
    if short_hash_hint(query):
        hints.append(short_hash_hint(query) + ("" if open_with is None else f", for {open_with.format(prefix='PREFIX')}"))
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
    filters = parse_find(query).filters
    if filters.start_time is not None and filters.end_time is not None and filters.start_time > filters.end_time:
        hints.append("after: is later than before:, and no card can be in between")
    for alternative, how in _instead(query):
        try:
            total = (await store.find(alternative, 0)).total
        except ValidationError:  # a word that is no tag a card can have (too long)
            continue
        if total:
            hints.append(f"{alternative} finds {total:,} card{'' if total == 1 else 's'} {how}")
    return f" ({'; '.join(hints)})" if hints else ""


def _instead(query: str) -> list[tuple[str, str]]:
    """(query, how it finds cards): a lone word looked for as a tag and in names instead."""
    parts = lone_word(query)
    if parts is None:
        return []
    before, word, after = parts
    return [(f"{before}{item}{after}".strip(), how) for item, how in ((f"tag:{tag_value(word)}", "by tag"), (f"name:*{word}*", "by name"))]
