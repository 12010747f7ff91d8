"""HTML views of cards for Jupyter: one card, and a list of cards as a table.

Every value a card carries is untrusted (a row may have been written by another tool), so
each one is escaped, in text and in attributes alike, and a value that cannot be read shows
as a placeholder instead of failing the whole view. Cards whose content type is one of the
known image types (PNG, JPEG, GIF, WebP, SVG) show as that image, through an ``<img>`` data
URI, where no script can run; any other type never gets a data URI.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Iterable
from typing import Final, Optional

from mcard.content_types import IMAGE_TYPES, OCTET_STREAM
from mcard.domain.models.card import MCard, is_digest

HASH_PREFIX: Final = 12
PREVIEW_CHARS: Final = 80
CARD_PREVIEW_CHARS: Final = 2000
INLINE_IMAGE_LIMIT: Final = 2 * 1024 * 1024
"""Images up to this many bytes are inlined; larger ones are only named."""
UNREADABLE: Final = "?"
"""Shown for a stored value that cannot be read (e.g. a time that is not a number)."""
CANNOT_SHOW: Final = "<em>content cannot be shown</em>"


def escape(value: object) -> str:
    """``value`` as text, safe in HTML text and in a quoted attribute value."""
    return html.escape(str(value), quote=True)


def _read(read: Callable[[], object]) -> str:
    try:
        return str(read())
    except Exception:  # a damaged or foreign row: show what can be shown
        return UNREADABLE


def plain(card: MCard) -> str:
    """``repr(card)``; for a foreign row it cannot describe, the stored hash alone."""
    try:
        return repr(card)
    except Exception:
        return f"card {card.hash}"


def preview(card: MCard, chars: int = PREVIEW_CHARS) -> str:
    """A one-line plain-text preview: text with whitespace runs folded, bytes as hex."""
    content = card.content
    if isinstance(content, str):
        if len(content) <= chars and content.isprintable():
            return content
        text = " ".join(content[: chars * 2].split())
        return text[:chars] + ("…" if len(text) > chars or len(content) > chars * 2 else "")
    head = content[: chars // 3].hex(" ") + ("…" if len(content) > chars // 3 else "")
    return head if card.content_type == OCTET_STREAM else f"{card.content_type} · {head}"


def _image_html(card: MCard, max_px: int) -> Optional[str]:
    mime = card.content_type
    if mime not in IMAGE_TYPES:
        return None
    content = card.content_bytes
    if len(content) > INLINE_IMAGE_LIMIT:
        return f"<em>{escape(mime)} image, {len(content)} bytes (too large to show inline)</em>"
    data = base64.b64encode(content).decode("ascii")
    alt = escape(f"{mime} card {str(card.hash)[:HASH_PREFIX]}")
    return (
        f'<img src="data:{mime};base64,{data}" alt="{alt}" '
        f'style="max-width:{max_px}px;max-height:{max_px}px">'
    )


def _body_html(card: MCard, chars: int, max_px: int) -> str:
    image = _image_html(card, max_px)
    if image is not None:
        return image
    content = card.content
    if isinstance(content, str):
        shown = content[:chars] + ("…" if len(content) > chars else "")
        return f'<pre style="white-space:pre-wrap;margin:0">{escape(shown)}</pre>'
    return f"<code>{escape(preview(card, chars))}</code>"


def _shown(render: Callable[[], str]) -> str:
    try:
        return render()
    except Exception:  # content of a foreign row that is neither str nor bytes
        return CANNOT_SHOW


def _hash_html(card: MCard) -> str:
    """The hash prefix, the full hash on hover; a hash that is not a digest is marked."""
    full = str(card.hash)
    shown = f'<code title="{escape(full)}">{escape(full[:HASH_PREFIX])}…</code>'
    if not is_digest(card.hash, card.hash_algorithm):
        shown += " <em>(not a valid hash)</em>"
    return shown


def _facts(card: MCard) -> tuple[str, str, str]:
    """UTC time, content type and size, escaped; ``?`` for one that cannot be read."""
    return (
        escape(_read(lambda: card.g_time_text)),
        escape(_read(lambda: card.content_type)),
        escape(_read(lambda: card.size)),
    )


def card_html(card: MCard) -> str:
    """One card: hash prefix (full hash on hover), UTC time, content type, size, escaped content."""
    time, mime, size = _facts(card)
    return (
        '<div class="mcard-card" style="border:1px solid #ccc;padding:6px;border-radius:4px">'
        f"<div>{_hash_html(card)} · {time} · {mime} · {size} B</div>"
        f"{_shown(lambda: _body_html(card, CARD_PREVIEW_CHARS, 320))}</div>"
    )


def _row_html(card: MCard) -> str:
    time, mime, size = _facts(card)
    shown = _shown(lambda: _image_html(card, 64) or escape(preview(card)))
    return (
        f"<tr><td>{_hash_html(card)}</td><td>{time}</td><td>{mime}</td>"
        f'<td style="text-align:right">{size}</td><td style="text-align:left">{shown}</td></tr>'
    )


def cards_html(cards: Iterable[MCard]) -> str:
    """A table of cards, one row each, images as thumbnails."""
    rows = [_row_html(card) for card in cards]
    if not rows:
        return '<p class="mcard-cards"><em>no cards</em></p>'
    head = "<tr><th>hash</th><th>g_time (UTC)</th><th>type</th><th>bytes</th><th>preview</th></tr>"
    return f'<table class="mcard-cards"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


class CardList(list[MCard]):
    """A list of cards that displays as a table in Jupyter."""

    def _repr_html_(self) -> str:
        return cards_html(self)

    def to_dataframe(self, *, content: bool = False):  # type: ignore[no-untyped-def]
        """These cards as a DataFrame (see :func:`mcard.notebook.to_dataframe`)."""
        from .frames import to_dataframe

        return to_dataframe(self, content=content)
