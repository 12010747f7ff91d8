"""What the explorer sends to the browser for a page of cards and for one card: plain values
(the browser puts them in the page as text), thumbnails as data URLs, escaped preview HTML."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Optional

from mcard.domain.models.card import MCard
from mcard.domain.models.sighting import Sighting
from mcard.domain.query.text import SearchSpec, card_snippet
from mcard.domain.shown import human_size, shown

from ..display import UNREADABLE, preview as one_line
from ..media import human_time, thumbnail
from .previews import preview

ROW_THUMBNAIL_PX: Final = 40
SNIPPET_CHARS: Final = 140
SNIPPET_LEAD: Final = 16
"""Characters of a row's snippet before its first match: the cell shows a line's first 30-80
characters after the name and tags, and a third of the snippet (46) hid most rows' matches."""
ROW_TAGS_SHOWN: Final = 3
"""Tags a grid row shows, then "+N more": the row is one line, and a card with hundreds of tags
sent them all to the page and into the row's tooltip."""
SIGHTINGS_SHOWN: Final = 20
TAGS_SHOWN: Final = 20
"""Tags the pane shows before its "show all" toggle: 300 tags, each with its ×, pushed the
preview screens down."""


def _read(read: Any) -> str:
    try:
        return str(read())
    except Exception:  # a row another tool wrote: show what can be shown
        return UNREADABLE


def _snippet(card: MCard, spec: Optional[SearchSpec]) -> list[list[Any]]:
    """The card's text as [text, is_match] parts: around the matches when there are words."""
    try:
        match = card_snippet(spec, card.content, SNIPPET_CHARS, SNIPPET_LEAD) if spec is not None else None
        if match is not None and any(hit for _, hit in match.parts):
            parts = [[text, hit] for text, hit in match.parts]
            if match.cut_before:
                parts.insert(0, ["…", False])
            if match.cut_after:
                parts.append(["…", False])
            return parts
        return [[one_line(card, SNIPPET_CHARS), False]]
    except Exception:
        return [[UNREADABLE, False]]


def row(card: MCard, name: Optional[str], tags: Sequence[str], spec: Optional[SearchSpec]) -> dict[str, Any]:
    """One grid row: its first ``ROW_TAGS_SHOWN`` tags and how many more it has."""
    try:
        small = thumbnail(card, ROW_THUMBNAIL_PX)
    except Exception:
        small = None
    return {
        "hash": _read(lambda: card.hash),
        "time": _read(lambda: human_time(card.g_time)),
        "size": _read(lambda: human_size(card.size)),
        "bytes": card.size if isinstance(card.size, int) else 0,
        "type": _read(lambda: card.content_type),
        "name": shown(name or ""),
        "tags": list(tags[:ROW_TAGS_SHOWN]),
        "tags_left_out": max(0, len(tags) - ROW_TAGS_SHOWN),
        "snippet": _snippet(card, spec),
        "thumb": small.url if small is not None else "",
    }


def detail(
    card: MCard,
    names: Sequence[Sighting],
    tags: Sequence[str],
    spec: Optional[SearchSpec],
    name: Optional[str],
) -> dict[str, Any]:
    """The detail pane: facts, names and sightings, tags and the preview."""
    try:
        previewed = preview(card, spec, name)
    except Exception:
        previewed = {"kind": "note", "html": "<em>content cannot be shown</em>"}
    return {
        "hash": _read(lambda: card.hash),
        "time": _read(lambda: human_time(card.g_time)) + " UTC",
        "size": _read(lambda: f"{human_size(card.size)} ({card.size:,} bytes)"),
        "type": _read(lambda: card.content_type),
        "algorithm": _read(lambda: card.hash_algorithm),
        "name": shown(name or ""),
        "sightings": [_sighting(s) for s in list(names)[-SIGHTINGS_SHOWN:]][::-1],
        "sightings_total": len(names),
        "sightings_left_out": _left_out(len(names)),
        **pane_tags(tags),
        "preview": previewed,
        "confirm": False,
    }


def pane_tags(tags: Sequence[str]) -> dict[str, Any]:
    """The pane's tags, all of them (any can be removed), and how many its list leaves out
    until the user shows them all."""
    return {"tags": list(tags), "tags_left_out": max(0, len(tags) - TAGS_SHOWN)}


def _left_out(total: int) -> str:
    """What the pane's list of sightings (the latest ones) leaves out, "" for nothing."""
    older = total - SIGHTINGS_SHOWN
    if older <= 0:
        return ""
    return f"the {SIGHTINGS_SHOWN} latest shown; {older:,} older left out (cards.sightings(hash) lists every one)"


def _sighting(seen: Sighting) -> dict[str, str]:
    return {
        "name": _read(lambda: shown(seen.name or "")),
        "source": _read(lambda: shown(seen.source or seen.path or "")),
        "time": _read(lambda: human_time(seen.seen_at)) + " UTC",
    }
