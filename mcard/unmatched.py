"""What a query that matched nothing may have meant, said by the command line and the explorer:
a field name mistyped, a hash prefix too short to open a card, a word that is in cards' names
rather than in their text."""

from __future__ import annotations

from mcard.domain.query.syntax import names_instead, short_hash_hint, unknown_fields_hints
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper


async def no_match_hint(store: AsyncPersistenceWrapper, query: str) -> str:
    """`` (hint; hint)`` for ``query``, which matched no card, or "" when there is nothing to say.
    A name glob suggested is counted first: it is named only if it finds cards."""
    hints = unknown_fields_hints(query)
    if short_hash_hint(query):
        hints.append(short_hash_hint(query))
    alternative = names_instead(query)
    if alternative is not None:
        total = (await store.find(alternative, 0)).total
        if total:
            hints.append(f"no card's text holds it, but {alternative} finds {total:,} card{'' if total == 1 else 's'} by name")
    return f" ({'; '.join(hints)})" if hints else ""
