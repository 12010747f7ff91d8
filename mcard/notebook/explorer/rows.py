"""What the explorer sends to the browser for a page of cards and for one card: plain values
(the browser puts them in the page as text), thumbnails as data URLs, escaped preview HTML."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, Optional

from mcard.domain.models.card import MCard, from_micros, is_digest
from mcard.domain.models.sighting import Sighting
from mcard.domain.query.text import SearchSpec, card_snippet
from mcard.domain.shown import counted, human_size, shown
from mcard.infrastructure.persistence.engine.card_rows import Row

from ..display import (
    HASH_PREFIX, UNREADABLE, bytes_preview, escape, hash_html, labels_html, preview as one_line, preview_head_bytes,
    table_html, table_row_html, text_preview, whitespace_note,
)
from ..media import human_time, pixel_size, thumbnail, thumbnail_of
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
        content = card.content
        if isinstance(content, bytes):
            pixels = _image_pixels(content[:HEAD_BYTES], card.content_type)
            if pixels:
                return [[pixels, False]]
        elif not content.strip():
            return [[whitespace_note(card.size), False]]
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
        "digest": is_digest(card.hash, card.hash_algorithm),
        "time": _read(lambda: human_time(card.g_time)),
        "size": _read(lambda: human_size(card.size)),
        "bytes": card.size if isinstance(card.size, int) else 0,
        "type": _read(lambda: card.content_type),
        "name": shown(name or ""),
        **row_tags(tags),
        "snippet": _snippet(card, spec),
        "thumb": small.url if small is not None else "",
    }


HEAD_BYTES: Final = preview_head_bytes(SNIPPET_CHARS)
"""Leading bytes of a content that give a row's preview (``find_heads``)."""


def head_row(stored: Row, name: Optional[str], tags: Sequence[str], read: Callable[[], Optional[MCard]]) -> dict[str, Any]:
    """``row`` of a card without words to mark, from its stored row cut to ``HEAD_BYTES``:
    ``read`` gives the whole card (None once removed), asked only for an image's thumbnail not
    made yet, or for a row stored without its type (another tool's), which its content tells."""
    hash_str, head, is_text, micros, algorithm, size, content_type = stored
    if content_type is None:
        card = read()
        if card is not None:
            return row(card, name, tags, None)
    try:
        small = thumbnail_of(hash_str, content_type, size, ROW_THUMBNAIL_PX, lambda: _content_of(read()))
    except Exception:
        small = None
    return {
        "hash": _read(lambda: hash_str),
        "digest": is_digest(hash_str, algorithm),
        "time": _read(lambda: human_time(from_micros(micros))),
        "size": _read(lambda: human_size(size)),
        "bytes": size if isinstance(size, int) else 0,
        "type": _read(lambda: content_type if content_type is not None else UNREADABLE),
        "name": shown(name or ""),
        **row_tags(tags),
        "snippet": [[_read(lambda: _head_preview(head, is_text, size, content_type)), False]],
        "thumb": small.url if small is not None else "",
    }


def _content_of(card: Optional[MCard]) -> Optional[bytes]:
    return None if card is None else card.content_bytes


def _head_preview(head: bytes, is_text: object, size: object, content_type: Optional[str]) -> str:
    """``display.preview`` of a content from its first ``HEAD_BYTES``."""
    whole = isinstance(size, int) and size <= HEAD_BYTES
    pixels = "" if is_text else _image_pixels(head, content_type)
    if pixels:
        return pixels
    if is_text:
        text = head.decode("utf-8", "replace")
        if whole and isinstance(size, int) and not text.strip():
            return whitespace_note(size)
        return text_preview(text, whole, SNIPPET_CHARS)
    return bytes_preview(head, size if isinstance(size, int) else HEAD_BYTES + 1, content_type, SNIPPET_CHARS)


def _image_pixels(head: bytes, content_type: Optional[str]) -> str:
    """"4,000 × 3,000 px" for an image whose first bytes tell its size, else "": a row of a
    picture showed its first bytes in hex, which tell a person nothing."""
    size = pixel_size(head, content_type)
    return "" if size is None else f"{size[0]:,} × {size[1]:,} px"


def row_tags(tags: Sequence[str]) -> dict[str, Any]:
    """A grid row's first ``ROW_TAGS_SHOWN`` tags and how many more the card has."""
    return {"tags": list(tags[:ROW_TAGS_SHOWN]), "tags_left_out": max(0, len(tags) - ROW_TAGS_SHOWN)}


def snapshot_html(grid: Sequence[dict[str, Any]], total: int) -> str:
    """The grid's rows as the table a card list shows (``cards_html``), made from the rows
    alone: a saved notebook's view of the explorer needs no card held or read again."""
    labelled = any(grid_row["name"] or grid_row["tags"] for grid_row in grid)
    table = [
        table_row_html(
            hash_html(grid_row["hash"], grid_row["digest"]), escape(grid_row["time"]), escape(grid_row["type"]),
            escape(grid_row["size"]),
            labels_html(grid_row["name"], grid_row["tags"], grid_row["tags_left_out"]) if labelled else None,
            _snapshot_preview(grid_row),
        )
        for grid_row in grid
    ]
    shown = table_html(table, labelled, len(grid), len(grid))
    if total <= len(grid):
        return shown
    return shown + f'<p class="mcard-more">{len(grid):,} of {total:,} cards shown: the explorer pages through the rest once its cell runs.</p>'


def _snapshot_preview(grid_row: dict[str, Any]) -> str:
    if grid_row["thumb"]:
        alt = escape(f"{grid_row['type']} card {grid_row['hash'][:HASH_PREFIX]}")
        px = ROW_THUMBNAIL_PX
        return f'<img src="{escape(grid_row["thumb"])}" alt="{alt}" style="max-width:{px}px;max-height:{px}px">'
    return escape("".join(text for text, _ in grid_row["snippet"]))


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
        "size": _read(lambda: f"{human_size(card.size)} ({counted(card.size, 'byte')})"),
        "type": _read(lambda: card.content_type),
        "pixels": _read(lambda: _image_pixels(card.content_bytes, card.content_type)),
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
