"""The orders of listings and ordered searches (``mcard.domain.query.order``) as PostgreSQL
ORDER BY clauses over ``card AS c``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from mcard.domain.query.order import BY_NAME, DEFAULT_ORDER

from .sighting_rows import POSTGRES_SOUND

if TYPE_CHECKING:
    from .postgres_sql import Tables

ORDER_BY: Final = {
    "oldest": " ORDER BY c.g_time, c.hash",
    "largest": " ORDER BY c.size DESC, c.g_time DESC, c.hash DESC",
    "smallest": " ORDER BY c.size, c.g_time DESC, c.hash DESC",
    "type": """ ORDER BY coalesce(c.content_type, '') COLLATE "C", c.g_time DESC, c.hash DESC""",
}
"""Each order but newest first and name (``mcard.domain.query.order``) as SQL over ``card AS c``;
text compares by code point (``COLLATE "C"``), as Python does."""


def ordering(tables: Tables, order: str) -> str:
    """The ORDER BY clause of ``order`` over ``card AS c``."""
    if order in BY_NAME:  # the latest name, as names_of reads it; cards without one last
        latest = (
            f"(SELECT s.name FROM {tables.sighting} AS s WHERE s.hash = c.hash AND s.name IS NOT NULL"
            f" AND {POSTGRES_SOUND} ORDER BY s.seen_at DESC, s.key DESC LIMIT 1)"
        )
        direction = " DESC" if order == "name_desc" else ""
        return f""" ORDER BY {latest} COLLATE "C"{direction} NULLS LAST, c.g_time DESC, c.hash DESC"""  # looked up once
    return " ORDER BY c.g_time DESC, c.hash DESC" if order == DEFAULT_ORDER else ORDER_BY[order]
