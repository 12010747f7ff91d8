"""HTML views of cards for Jupyter: one card, and a list of cards as a table.

Content is always escaped (a card holding ``<script>`` shows it as text); bytes that start
like a PNG, JPEG, GIF or WebP image show as that image.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable
from typing import Final, Optional

from mcard.domain.models.card import MCard

HASH_PREFIX: Final = 12
PREVIEW_CHARS: Final = 80
CARD_PREVIEW_CHARS: Final = 2000
INLINE_IMAGE_LIMIT: Final = 2 * 1024 * 1024
"""Images up to this many bytes are inlined; larger ones are only named."""

_IMAGE_MAGIC: Final = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def image_type(data: bytes) -> Optional[str]:
    """The MIME type of an image recognised by its first bytes, else None."""
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def preview(card: MCard, chars: int = PREVIEW_CHARS) -> str:
    """A one-line plain-text preview: text with whitespace runs folded, bytes as hex."""
    content = card.content
    if isinstance(content, str):
        if len(content) <= chars and content.isprintable():
            return content
        text = " ".join(content[: chars * 2].split())
        return text[:chars] + ("…" if len(text) > chars or len(content) > chars * 2 else "")
    mime = image_type(content)
    head = content[: chars // 3].hex(" ")
    return f"{mime} image" if mime else head + ("…" if len(content) > chars // 3 else "")


def _image_html(card: MCard, max_px: int) -> Optional[str]:
    content = card.content
    if not isinstance(content, bytes):
        return None
    mime = image_type(content)
    if mime is None:
        return None
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
        f"<div>{_hash_html(card)} · {card.g_time_text} · {card.kind} · {card.size} B</div>"
        f"{_body_html(card, CARD_PREVIEW_CHARS, 320)}</div>"
    )


def cards_html(cards: Iterable[MCard]) -> str:
    """A table of cards, one row each, images as thumbnails."""
    rows = [
        f"<tr><td>{_hash_html(card)}</td><td>{card.g_time_text}</td><td>{card.kind}</td>"
        f'<td style="text-align:right">{card.size}</td>'
        f"<td style=\"text-align:left\">{_image_html(card, 64) or html.escape(preview(card))}</td></tr>"
        for card in cards
    ]
    if not rows:
        return '<p class="mcard-cards"><em>no cards</em></p>'
    head = "<tr><th>hash</th><th>g_time (UTC)</th><th>kind</th><th>bytes</th><th>preview</th></tr>"
    return f'<table class="mcard-cards"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


class CardList(list[MCard]):
    """A list of cards that displays as a table in Jupyter."""

    def _repr_html_(self) -> str:
        return cards_html(self)

    def to_dataframe(self, *, content: bool = False):  # type: ignore[no-untyped-def]
        """These cards as a DataFrame (see :func:`mcard.notebook.to_dataframe`)."""
        from .frames import to_dataframe

        return to_dataframe(self, content=content)
