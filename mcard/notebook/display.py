"""HTML views of cards for Jupyter: one card, and a list of cards as a table.

Content is always escaped (a card holding ``<script>`` shows it as text); cards whose content
type is an image (PNG, JPEG, GIF, WebP, SVG) show as that image, through an ``<img>`` data URI,
where no script can run.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable
from typing import Final, Optional

from mcard.content_types import IMAGE_TYPES, OCTET_STREAM
from mcard.domain.models.card import MCard

HASH_PREFIX: Final = 12
PREVIEW_CHARS: Final = 80
CARD_PREVIEW_CHARS: Final = 2000
INLINE_IMAGE_LIMIT: Final = 2 * 1024 * 1024
"""Images up to this many bytes are inlined; larger ones are only named."""

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
        return f"<em>{mime} image, {len(content)} bytes (too large to show inline)</em>"
    data = base64.b64encode(content).decode("ascii")
    return (
        f'<img src="data:{mime};base64,{data}" alt="{mime} card {card.hash[:HASH_PREFIX]}" '
        f'style="max-width:{max_px}px;max-height:{max_px}px">'
    )


def _body_html(card: MCard, chars: int, max_px: int) -> str:
    image = _image_html(card, max_px)
    if image is not None:
        return image
    content = card.content
    if isinstance(content, str):
        shown = content[:chars] + ("…" if len(content) > chars else "")
        return f'<pre style="white-space:pre-wrap;margin:0">{html.escape(shown)}</pre>'
    return f"<code>{html.escape(preview(card, chars))}</code>"


def _hash_html(card: MCard) -> str:
    return f'<code title="{card.hash}">{card.hash[:HASH_PREFIX]}…</code>'


def card_html(card: MCard) -> str:
    """One card: hash prefix (full hash on hover), UTC time, kind, size, escaped content."""
    return (
        '<div class="mcard-card" style="border:1px solid #ccc;padding:6px;border-radius:4px">'
        f"<div>{_hash_html(card)} · {card.g_time_text} · {html.escape(card.content_type)} · {card.size} B</div>"
        f"{_body_html(card, CARD_PREVIEW_CHARS, 320)}</div>"
    )


def cards_html(cards: Iterable[MCard]) -> str:
    """A table of cards, one row each, images as thumbnails."""
    rows = [
        f"<tr><td>{_hash_html(card)}</td><td>{card.g_time_text}</td><td>{html.escape(card.content_type)}</td>"
        f'<td style="text-align:right">{card.size}</td>'
        f"<td style=\"text-align:left\">{_image_html(card, 64) or html.escape(preview(card))}</td></tr>"
        for card in cards
    ]
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
