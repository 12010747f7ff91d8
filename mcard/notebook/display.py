"""HTML views of cards for Jupyter: one card, and a list of cards as a table.

Every value a card carries is untrusted (a row may have been written by another tool), so
each one is escaped, in text and in attributes alike, and a value that cannot be read shows
as a placeholder instead of failing the whole view. Cards whose content type is one of the
known image types (PNG, JPEG, GIF, WebP, SVG) show as a thumbnail, through an ``<img>`` data
URI, where no script can run; any other type never gets a data URI. Every view is bounded: a
list shows at most ``options.display_limit`` rows (in HTML and in plain text) and says how many
there are, one card shows a text head, a thumbnail or a hex head.

Cards display through IPython's formatter, registered by :func:`register_formatter` when
``mcard.notebook`` is imported, so the domain model needs nothing of this layer.
"""

from __future__ import annotations

import html
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Optional

from mcard.content_types import IMAGE_TYPES, OCTET_STREAM
from mcard.domain.models.card import MCard, is_digest
from mcard.domain.models.exceptions import MCardError
from mcard.domain.shown import BYTE_ORDER_MARK, counted, holds_unsafe_in_lines, human_size, shown, shown_in_lines

from .labels import Labels
from .media import count_setting, hex_head, human_time, options, thumbnail

HASH_PREFIX: Final = 12
PREVIEW_CHARS: Final = 80
TAGS_SHOWN: Final = 20
"""Tags a card's row or view shows; the rest are counted (``cards.tags(hash)`` lists them)."""
UNREADABLE: Final = "?"
"""Shown for a stored value that cannot be read (e.g. a time that is not a number)."""
CANNOT_SHOW: Final = "<em>content cannot be shown</em>"
# Theme-aware inline styles: JupyterLab's CSS variables, no colours of their own.
_BOX: Final = "border:1px solid var(--jp-border-color2);padding:6px;border-radius:4px;max-width:100%"
_PRE: Final = "white-space:pre-wrap;margin:0;max-height:24em;overflow:auto"
_HASH: Final = "user-select:all;word-break:break-all;font-size:85%"
_TAG: Final = "border:1px solid var(--jp-border-color2);border-radius:3px;padding:0 3px"
_CELL: Final = "text-align:left;vertical-align:top;max-width:24em"
_NOWRAP: Final = "white-space:nowrap;vertical-align:top"
_NUMBER: Final = "text-align:right;white-space:nowrap;vertical-align:top"


def escape(value: object) -> str:
    """``value`` as text, safe in HTML text and in a quoted attribute value, its control and
    bidirectional characters written as escapes (``mcard.domain.shown``) but for tabs and
    newlines: a card's text cannot reorder or hide itself where it is shown."""
    return html.escape(shown_in_lines(value), quote=True)


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
    if isinstance(content, bytes):
        return bytes_preview(content[:preview_head_bytes(chars)], len(content), card.content_type, chars)
    return text_preview(content if isinstance(content, str) else str(content), True, chars)  # str: another tool's value


def whitespace_note(size: int) -> str:
    """What the explorer shows for a text of whitespace alone, which showed as nothing at all."""
    return f"(whitespace only, {counted(size, 'byte')})"


def preview_head_bytes(chars: int = PREVIEW_CHARS) -> int:
    """How many leading bytes of a content give the same preview as the whole content: a
    UTF-8 character is at most 4 bytes, and ``text_preview`` reads ``2 * chars + 1`` characters."""
    return 4 * (2 * chars + 1)


def text_preview(text: str, whole: bool, chars: int = PREVIEW_CHARS) -> str:
    """``preview`` of a text from ``text``: the whole text, or (``whole`` false) at least its
    first ``2 * chars + 1`` characters."""
    text = text.removeprefix(BYTE_ORDER_MARK)
    if whole and len(text) <= chars and text.isprintable():
        return text
    head = text[:chars]
    if head.isprintable() and head[:1] != " " and head[-1:] != " " and "  " not in head:
        # folding would leave the head as it is (a DataFrame of 100,000 texts: ~40 ms less)
        more = not whole or len(text) > chars * 2 or not text[chars:chars * 2].isspace()
        return head + ("…" if more else "")
    folded = " ".join(text[: chars * 2].split())
    cut = len(folded) > chars or not whole or len(text) > chars * 2
    return shown(folded[:chars]) + ("…" if cut else "")  # control characters as escapes


def bytes_preview(head: bytes, size: int, content_type: Optional[str], chars: int = PREVIEW_CHARS) -> str:
    """``preview`` of bytes of ``size`` from their first bytes (at least ``chars // 3``; as
    text, ``preview_head_bytes(chars)``): bytes of no known type whose head is readable UTF-8
    text (a log stored as bytes) as that text, as the explorer's pane shows them; else hex."""
    if content_type == OCTET_STREAM:
        text = _readable_head(head, whole=size <= len(head))
        if text is not None:
            return text_preview(text, size <= len(head), chars)
    shown = head[: chars // 3].hex(" ") + ("…" if size > chars // 3 else "")
    return shown if content_type == OCTET_STREAM else f"{content_type} · {shown}"


def _readable_head(head: bytes, whole: bool) -> Optional[str]:
    """The text of ``head`` when it is UTF-8 (a character cut at the end of a head that is not
    the whole content aside) with nothing a line would show as an escape (a NUL...), else None."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if whole or exc.reason != "unexpected end of data":
            return None
        text = head[:exc.start].decode("utf-8")
    return None if not text or holds_unsafe_in_lines(text) else text


def _image_html(card: MCard, max_px: int) -> Optional[str]:
    """A downscaled image of an image card, a note when it cannot be inlined, or None."""
    mime = card.content_type
    if mime not in IMAGE_TYPES:
        return None
    small = thumbnail(card, max_px)
    if small is None:
        return f"<em>{escape(mime)} image, {escape(human_size(card.size))} (no preview)</em>"
    alt = escape(f"{small.mime} card {str(card.hash)[:HASH_PREFIX]}")
    return (
        f'<img src="{small.url}" alt="{alt}" '
        f'style="max-width:{max_px}px;max-height:{max_px}px">'
    )


def _body_html(card: MCard) -> str:
    image = _image_html(card, options.card_image_px)
    if image is not None:
        return image
    content = card.content
    chars = options.text_chars
    if isinstance(content, str):
        shown = content[:chars] + (f"… ({len(content) - chars:,} more characters)" if len(content) > chars else "")
        return f'<pre style="{_PRE}">{escape(shown)}</pre>'
    return f'<pre style="{_PRE}">{escape(hex_head(content, options.hex_bytes))}</pre>'


def _shown(render: Callable[[], str]) -> str:
    try:
        return render()
    except Exception:  # content of a foreign row that is neither str nor bytes
        return CANNOT_SHOW


def _hash_html(card: MCard) -> str:
    return hash_html(str(card.hash), is_digest(card.hash, card.hash_algorithm))


def hash_html(full: str, digest: bool) -> str:
    """The full hash, selected whole by one click; a hash that is not a digest is marked."""
    shown = f'<code title="{escape(full)}" style="{_HASH}">{escape(full)}</code>'
    if not digest:
        shown += " <em>(not a valid hash)</em>"
    return shown


def _facts(card: MCard) -> tuple[str, str, str]:
    """UTC time, content type and size, human and escaped; ``?`` for one that cannot be read."""
    return (
        escape(_read(lambda: human_time(card.g_time))),
        escape(_read(lambda: card.content_type)),
        escape(_read(lambda: human_size(card.size))),
    )


def labels_html(name: Optional[str], tags: Iterable[str], more: int = 0) -> str:
    """The name and the first ``TAGS_SHOWN`` tags, then how many more there are (``more``
    beyond ``tags``): a card with 10,000 tags made a table of five rows 1 MB of HTML."""
    tags = list(tags)
    more += max(0, len(tags) - TAGS_SHOWN)
    parts = [f"<code>{escape(name)}</code>"] if name else []
    parts += [f'<span style="{_TAG}">{escape(tag)}</span>' for tag in tags[:TAGS_SHOWN]]
    if more:
        parts.append(f"<em>and {more:,} more tags</em>")
    return " ".join(parts)


def card_html(card: MCard, name: Optional[str] = None, tags: Iterable[str] = ()) -> str:
    """One card, bounded: full hash, UTC time, type, size, name and tags, then a text head,
    a thumbnail or a hex head (``options`` sets how much)."""
    time, mime, size = _facts(card)
    labels = labels_html(name, tags)
    return (
        f'<div class="mcard-card" style="{_BOX}">'
        f"<div>{_hash_html(card)}</div><div>{time} UTC · {mime} · {size}"
        f"{' · ' + labels if labels else ''}</div>"
        f"{_shown(lambda: _body_html(card))}</div>"
    )


def _row_html(card: MCard, labels: Optional[tuple[Optional[str], Iterable[str]]]) -> str:
    time, mime, size = _facts(card)
    shown = _shown(lambda: _image_html(card, options.thumbnail_px) or escape(preview(card)))
    return table_row_html(_hash_html(card), time, mime, size, None if labels is None else labels_html(*labels), shown)


def table_row_html(hash_cell: str, time: str, mime: str, size: str, labels: Optional[str], shown: str) -> str:
    """A row of ``cards_html``'s table from its cells' HTML (``labels`` None: no such column)."""
    named = f'<td style="{_CELL}">{labels}</td>' if labels is not None else ""
    return (
        f'<tr><td style="{_CELL}">{hash_cell}</td><td style="{_NOWRAP}">{time}</td>'
        f'<td style="{_CELL}">{mime}</td><td style="{_NUMBER}">{size}</td>'
        f'{named}<td style="{_CELL}">{shown}</td></tr>'
    )


def cards_html(
    cards: Sequence[MCard],
    *,
    limit: Optional[int] = None,
    total: Optional[int] = None,
    names: Optional[Mapping[str, str]] = None,
    tags: Optional[Mapping[str, Sequence[str]]] = None,
) -> str:
    """A table of at most ``limit`` cards (``options.display_limit`` by default), images as
    thumbnails, with a line saying how many there are and how to see the rest."""
    limit = options.display_limit if limit is None else max(0, limit)
    total = len(cards) if total is None else total
    names, tags = names or {}, tags or {}
    shown = cards[:limit]
    labelled = any(str(card.hash) in names or tags.get(str(card.hash)) for card in shown)
    rows = [
        _row_html(card, (names.get(str(card.hash)), tags.get(str(card.hash), ())) if labelled else None)
        for card in shown
    ]
    return table_html(rows, labelled, len(cards), total)


def table_html(rows: Sequence[str], labelled: bool, listed: int, total: int) -> str:
    """``cards_html``'s table of ``rows`` (``table_row_html``) shown of ``listed`` cards at hand
    and ``total`` that match, with the line saying how to see the rest."""
    if not rows and total == 0:
        return '<p class="mcard-cards"><em>no cards</em></p>'
    titles = ["hash", "time (UTC)", "type", "size", *(["name, tags"] if labelled else []), "preview"]
    head = "".join(
        f'<th style="{_NUMBER if title == "size" else _CELL}">{title}</th>' for title in titles
    )
    table = f'<table class="mcard-cards"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    if total <= len(rows):
        return table
    return table + f'<p class="mcard-more">{_left_out(len(rows), listed, total, _code)}</p>'


def _code(text: str) -> str:
    return f"<code>{text}</code>"


def _left_out(shown: int, listed: int, total: int, code: Callable[[str], str] = str) -> str:
    """The line under a list shown in part: how many of ``total`` cards show (``shown`` of the
    ``listed`` ones, which may be one page of the matches) and how to see the rest; ``code``
    marks up a name to type."""
    notes = []
    if listed > shown:
        notes.append(f"{code('.to_dataframe()')} holds the {listed:,} of this list; "
                     f"{code('mcard.notebook.options.display_limit')} sets how many rows show")
    if total > listed:
        notes.append(f"{total - listed:,} more match, not fetched: {code('limit')} and {code('offset')} fetch them")
    return f"{shown:,} of {total:,} cards shown: {'; '.join(notes)}."


def cards_text(
    cards: Sequence[MCard], *, limit: Optional[int] = None, total: Optional[int] = None,
    names: Optional[Mapping[str, str]] = None, tags: Optional[Mapping[str, Sequence[str]]] = None,
) -> str:
    """``cards_html`` as plain text (a console, a text export): one line per card with its name
    and first tags when known, at most ``limit`` lines (``options.display_limit`` by default),
    then a line saying what is left out."""
    limit = options.display_limit if limit is None else max(0, limit)
    total = len(cards) if total is None else total
    lines = [plain(card) + _labels_text(card, names or {}, tags or {}) for card in cards[:limit]]
    if not lines and total == 0:
        return "no cards"
    if total > len(lines):
        lines.append(_left_out(len(lines), len(cards), total))
    return "\n".join(lines)


def _labels_text(card: MCard, names: Mapping[str, str], tags: Mapping[str, Sequence[str]]) -> str:
    """``  name: a.txt  tags: x, y`` of a card (its first ``TAGS_SHOWN`` tags, then how many
    more), escaped as every value shown; "" for a card without them."""
    name, labels = names.get(card.hash), list(tags.get(card.hash, ()))
    text = f"  name: {shown(name)}" if name else ""
    if labels:
        more = len(labels) - TAGS_SHOWN
        text += "  tags: " + ", ".join(shown(tag) for tag in labels[:TAGS_SHOWN]) + (f" (+{more:,} more)" if more > 0 else "")
    return text


class CardList(list[MCard]):
    """A list of cards that displays as a bounded table in Jupyter.

    ``names`` and ``tags`` (by hash) show beside each card; ``total`` is how many cards the
    query matched when this list is one page of them; ``limit`` overrides
    ``options.display_limit`` for this list. Its DataFrame's ``name`` and ``tags`` columns come
    from ``labels_of(cards)`` when given (a store's lookup: the list may hold the labels of the
    cards shown only), else from ``names`` and ``tags`` when given, else they are missing.
    ``labelled_first``: how many leading cards ``names`` and ``tags`` were looked up for (all
    by default); a table showing more (a larger ``display_limit`` since) looks the rest up.
    """

    def __init__(
        self,
        cards: Iterable[MCard] = (),
        *,
        total: Optional[int] = None,
        names: Optional[Mapping[str, str]] = None,
        tags: Optional[Mapping[str, Sequence[str]]] = None,
        limit: Optional[int] = None,
        labels_of: Optional[Callable[[list[MCard]], Labels]] = None,
        labelled_first: Optional[int] = None,
    ) -> None:
        super().__init__(cards)
        self.total = total
        self._labelled = names is not None or tags is not None
        self._labels_of = labels_of
        self._labelled_first = len(self) if labelled_first is None else labelled_first
        self.names = dict(names or {})
        self.tags = {key: list(value) for key, value in (tags or {}).items()}
        self.limit = None if limit is None else count_setting(limit, "limit")

    def _repr_html_(self) -> str:
        self._label_shown()
        return cards_html(self, limit=self.limit, total=self.total, names=self.names, tags=self.tags)

    def _label_shown(self) -> None:
        """Look up the labels of the cards the table shows past those looked up already."""
        showing = min(len(self), options.display_limit if self.limit is None else self.limit)
        if self._labels_of is None or showing <= self._labelled_first:
            return
        try:
            labels = self._labels_of(self[:showing])
        except MCardError:  # a store closed since: the table shows what it has
            return
        self.names.update(labels.names)
        self.tags.update({key: list(value) for key, value in labels.tags.items()})
        self._labelled_first = showing

    def __repr__(self) -> str:
        """One line a card, bounded as the HTML is (``print``, a console): a list of 100,000
        cards printed whole runs to megabytes."""
        self._label_shown()
        return cards_text(self, limit=self.limit, total=self.total, names=self.names, tags=self.tags)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's text/plain display."""
        printer.text("CardList(...)" if cycle else repr(self))

    def to_dataframe(self, *, content: bool = False):  # type: ignore[no-untyped-def]
        """These cards as a DataFrame (see :func:`mcard.notebook.to_dataframe`), with their
        names and tags (see the class)."""
        from .frames import to_dataframe

        labels = Labels(self.names, self.tags) if self._labelled else None
        return to_dataframe(self, content=content, labels=self._labels_of(self) if self._labels_of else labels)


def register_formatter() -> None:
    """Show cards through IPython's HTML formatter (the domain model renders nothing itself).

    Only where IPython already runs: a plain script does not import it for this."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:
        shell.display_formatter.formatters["text/html"].for_type(MCard, card_html)
