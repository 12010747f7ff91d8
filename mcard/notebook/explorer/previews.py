"""The detail pane's preview of one card, by content type, as escaped HTML or a media URL.

Every piece of text that comes from a card is escaped before any markup is added around it:
Markdown is rendered from escaped text (no raw HTML passes), JSON becomes a tree of
``<details>``, CSV/TSV a table of the first rows, SVG is only ever an ``<img>`` source.
Each view is bounded (characters, nodes, rows, bytes) so a huge card previews quickly.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any, Final, Optional

from mcard.content_types import CSV, IMAGE_TYPES, JSON, OCTET_STREAM, PDF, TSV
from mcard.domain.models.card import MCard
from mcard.domain.query.text import SearchSpec, text_of
from mcard.domain.shown import holds_unsafe_in_lines

from ..display import escape, whitespace_note
from ..media import hex_head, thumbnail

TEXT_CHARS: Final = 20_000
LEAD_CHARS: Final = 2_000
"""Characters a text's pane shows before the query's first match when that match lies past the
text's first ``TEXT_CHARS`` (from the first line that starts within them)."""
JSON_NODES: Final = 400
JSON_PARSE_LIMIT: Final = 2 * 1024 * 1024
"""Larger JSON shows as text: parsing it all for a 400-node tree is not worth it."""
TABLE_ROWS: Final = 25
TABLE_COLUMNS: Final = 20
HEX_BYTES: Final = 256
MEDIA_LIMIT: Final = 16 * 1024 * 1024
"""Audio and video up to this many bytes play inline; larger ones are for download."""
IMAGE_PX: Final = 480
PDF_LIMIT: Final = 32 * 1024 * 1024
"""PDFs up to this many bytes get their first page drawn."""
MARKDOWN_NAMES: Final = (".md", ".markdown")
_HEADING: Final = re.compile(r"(#{1,6})\s+(.*)")
_LIST_ITEM: Final = re.compile(r"\s*(?:[-*+]|(?P<number>[0-9]{1,9})[.)])\s+(?P<item>.*)")
_QUOTE: Final = re.compile(r"\s{0,3}>\s?(.*)")
_LINK: Final = re.compile(r"\[([^\[\]\n]+)\]\((https?://[^\s)\"'<>]+)\)")
_BOLD: Final = re.compile(r"\*\*(.+?)\*\*|(?<![\w_])__(?!\s)([^_]+?)(?<!\s)__(?![\w_])")
_ITALIC: Final = re.compile(r"(?<![\w*])\*(?!\s)([^*]+?)(?<!\s)\*(?![\w*])|(?<![\w_])_(?!\s)([^_]+?)(?<!\s)_(?![\w_])")
"""Link texts and emphasis hold no ``[``, ``*`` or ``_`` of their own: each match attempt stops
at the next one, so a line of thousands of them is read in one pass, not one pass per mark.
An ``_`` inside a word (``snake_case_name``) is no emphasis, as in CommonMark."""
_CODE: Final = re.compile(r"`([^`\n]+)`")


def preview(card: MCard, spec: Optional[SearchSpec] = None, name: Optional[str] = None) -> dict[str, Any]:
    """``{"kind": ..., "html": ...}`` or ``{"kind": "image"|"audio"|"video", "url": ...}``."""
    mime = card.content_type
    if mime in IMAGE_TYPES:
        small = thumbnail(card, IMAGE_PX)
        if small is not None:
            return {"kind": "image", "url": small.url, "label": f"{mime} image"}
        return _note(f"{mime} image: too large to preview; download it")
    if mime.startswith(("audio/", "video/")):
        if card.size > MEDIA_LIMIT:
            return _note(f"{mime}: too large to play here; download it")
        data = base64.b64encode(card.content_bytes).decode("ascii")
        return {"kind": mime.split("/")[0], "url": f"data:{mime};base64,{data}", "label": mime}
    if mime == PDF:
        return _pdf_preview(card)
    text = text_of(card.content)
    if text is not None and isinstance(card.content, bytes) and mime == OCTET_STREAM and holds_unsafe_in_lines(text):
        text = None  # bytes of no known type that are UTF-8 but not readable text (NULs...): shown as bytes
    if text is None:
        return {"kind": "hex", "html": f"<pre>{escape(hex_head(card.content_bytes, HEX_BYTES))}</pre>"}
    if not text.strip():
        return _note(whitespace_note(card.size))
    flat = text.replace("\r\n", "\n")  # Windows line ends are line ends
    spans = sorted(spec.spans(flat)) if spec is not None else []
    if spans and (mime in (JSON, CSV, TSV) or is_markdown(text, name)):  # a table, tree or page showed no mark, nor where the match was
        return {"kind": "text", "html": highlighted(flat, spans)}
    if mime == JSON and len(text) <= JSON_PARSE_LIMIT:
        tree = _json_html(text)
        if tree is not None:
            return {"kind": "json", "html": tree}
    if mime in (CSV, TSV):
        return {"kind": "table", "html": _table_html(text, "\t" if mime == TSV else None)}
    if is_markdown(text, name):
        html = markdown_html(text[:TEXT_CHARS]) + _more(len(text) - TEXT_CHARS, "<p><em>{}</em></p>")
        return {"kind": "markdown", "html": _part_shown(0, TEXT_CHARS, len(text)) + html}
    return {"kind": "text", "html": highlighted(flat, spans)}


def _more(left: int, html: str, where: str = "more") -> str:
    """The note of the ``left`` characters a preview leaves out, set in ``html``; or nothing."""
    return html.format(escape(f"… {left:,} {where} characters")) if left > 0 else ""


def _part_shown(first: int, count: int, total: int) -> str:
    """The line above a preview of part of a text, which says so before any scrolling (the
    note at its end showed only once scrolled to); or nothing for a text shown whole."""
    if count >= total:
        return ""
    return f'<p class="mcx-part-shown">characters {first + 1:,}–{first + count:,} of {total:,} shown; download it for the whole text</p>'


def _pdf_preview(card: MCard) -> dict[str, Any]:
    """The first page of a PDF as an image (``pypdfium2``, the ``pdf`` extra), or a note."""
    try:
        import pypdfium2 as pdfium
    except ModuleNotFoundError:
        return _note("PDF: install mcard-store[pdf] to see its first page here; download it to read it")
    if card.size > PDF_LIMIT:
        return _note("PDF: too large to preview; download it")
    try:
        document = pdfium.PdfDocument(card.content_bytes)
        try:
            pages = len(document)
            page = document[0]
            scale = IMAGE_PX / max(page.get_width(), page.get_height(), 1.0)
            image = page.render(scale=scale).to_pil()
            page.close()
        finally:
            document.close()
    except Exception:  # a damaged or encrypted file: pdfium says why in its own terms
        return _note("PDF: its first page cannot be read here; download it")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return {"kind": "image", "url": url, "label": f"first page of a {pages}-page PDF"}


def _note(message: str) -> dict[str, Any]:
    return {"kind": "note", "html": f"<em>{escape(message)}</em>"}


def highlighted(text: str, spans: list[tuple[int, int]]) -> str:
    """``TEXT_CHARS`` of the text in ``<pre>``, each match of the query (``spans``, in order) in ``<mark>``: its head,
    or, when the first match lies past the head, the part from a little before that match (the
    grid's row marks it wherever it is), with what is left out before and after said."""
    shown_from = 0
    if spans and spans[0][1] > TEXT_CHARS:
        first = spans[0][0]
        shown_from = max(0, min(first - LEAD_CHARS, len(text) - TEXT_CHARS))  # a match near the end: a whole window
        line = text.find("\n", shown_from, first)
        shown_from = shown_from if line < 0 else line + 1
    shown = text[shown_from:shown_from + TEXT_CHARS]
    parts, at = [_more(shown_from, "{}\n", "earlier")], 0
    for start, end in spans:
        start, end = start - shown_from, end - shown_from
        if start < at or end > len(shown):
            continue
        parts.append(escape(shown[at:start]) + f"<mark>{escape(shown[start:end])}</mark>")
        at = end
    parts.append(escape(shown[at:]))
    more = _more(len(text) - shown_from - len(shown), chr(10) + "{}")
    return f"{_part_shown(shown_from, len(shown), len(text))}<pre>{''.join(parts)}{more}</pre>"


def _json_html(text: str) -> Optional[str]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    budget = [JSON_NODES]
    return f'<div class="mcx-json">{_node(value, budget, 0)}</div>'


def _node(value: Any, budget: list[int], depth: int) -> str:
    budget[0] -= 1
    if budget[0] < 0:
        return "<em>…</em>"
    if isinstance(value, dict):
        items: Iterator[tuple[str, Any]] = ((str(k), v) for k, v in value.items())
        return _branch("{", "}", len(value), items, budget, depth)
    if isinstance(value, list):
        return _branch("[", "]", len(value), ((str(i), v) for i, v in enumerate(value)), budget, depth)
    kind = "null" if value is None else type(value).__name__
    return f'<span class="mcx-json-{kind}">{escape(json.dumps(value, ensure_ascii=False))}</span>'


def _branch(left: str, right: str, count: int, items: Iterator[tuple[str, Any]], budget: list[int], depth: int) -> str:
    children = []
    for key, child in items:
        if budget[0] <= 0:
            children.append(f"<li><em>… {count - len(children):,} more</em></li>")
            break
        children.append(f'<li><span class="mcx-json-key">{escape(key)}</span>: {_node(child, budget, depth + 1)}</li>')
    summary = f"{left} {count} {'item' if count == 1 else 'items'} {right}"
    opened = " open" if depth < 2 else ""
    return f"<details{opened}><summary>{escape(summary)}</summary><ul>{''.join(children)}</ul></details>"


def _table_html(text: str, delimiter: Optional[str]) -> str:
    sample = text[: 64 * 1024]
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(sample[:4096], delimiters=",;\t").delimiter
        except csv.Error:
            delimiter = ","
    rows, counted, widest = [], 0, 0
    for row in csv.reader(io.StringIO(sample), delimiter=delimiter):
        counted += 1
        widest = max(widest, len(row))
        if len(rows) <= TABLE_ROWS:
            rows.append(row[:TABLE_COLUMNS])
    if not rows:
        return "<em>an empty table</em>"
    head = "".join(f"<th>{escape(cell)}</th>" for cell in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows[1:])
    return f'<table class="mcx-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>' + (
        f"<p><em>{escape(_table_extent(len(rows) - 1, counted - 1, len(sample) < len(text), widest))}</em></p>"
    )


def _table_extent(shown: int, read: int, cut: bool, columns: int) -> str:
    """What a table preview shows of the table: its rows (past the header) and columns."""
    if cut:
        extent = f"the first {shown:,} rows of a longer table"
    elif read > shown:
        extent = f"the first {shown:,} of {read:,} rows"
    else:
        extent = f"all {read:,} {'row' if read == 1 else 'rows'}"
    return extent + (f", {TABLE_COLUMNS} of {columns:,} columns" if columns > TABLE_COLUMNS else "")


def is_markdown(text: str, name: Optional[str]) -> bool:
    """A name ending in ``.md``, or text that opens with a Markdown heading."""
    if name and name.lower().endswith(MARKDOWN_NAMES):
        return True
    first = next((line for line in text[:2000].splitlines() if line.strip()), "")
    return _HEADING.fullmatch(first.strip()) is not None


def _inline(line: str) -> str:
    """Inline Markdown over already escaped text: code, links (http/https only), bold, italic.
    Code and whole links are set aside first, so that a ``*`` in code or in a link's address is
    never read as emphasis (a link's text gets its own)."""
    kept: list[str] = []

    def keep(html: str) -> str:
        kept.append(html)
        return f"\x00{len(kept) - 1}\x00"

    def emphasized(text: str) -> str:
        bold = _BOLD.sub(lambda m: f"<strong>{m[1] or m[2]}</strong>", text)
        return _ITALIC.sub(lambda m: f"<em>{m[1] or m[2]}</em>", bold)

    def restored(text: str) -> str:
        return re.sub("\x00(\\d+)\x00", lambda m: restored(kept[int(m[1])]), text)

    line = _CODE.sub(lambda m: keep(f"<code>{m[1]}</code>"), line)
    line = _LINK.sub(lambda m: keep(
        f'<a href="{m[2]}" target="_blank" rel="noopener noreferrer nofollow">{emphasized(m[1])}</a>'), line)
    return restored(emphasized(line))


def markdown_html(text: str) -> str:
    """A safe subset of Markdown: headings, paragraphs, lists (numbered ones from their first
    number), quotes, fenced code, inline code, emphasis and http(s) links. The text is escaped
    first, so no HTML in it ever renders."""
    out: list[str] = []
    paragraph: list[str] = []
    quote: list[str] = []
    items: list[str] = []
    first_number: Optional[int] = None  # of a numbered list; None for bullets
    fence: Optional[list[str]] = None

    def flush() -> None:
        nonlocal first_number
        if paragraph:
            out.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()
        if quote:
            out.append(f"<blockquote><p>{_inline(' '.join(quote))}</p></blockquote>")
            quote.clear()
        if items:
            listed = "".join(f"<li>{_inline(item)}</li>" for item in items)
            if first_number is None:
                out.append(f"<ul>{listed}</ul>")
            else:
                start = "" if first_number == 1 else f' start="{first_number}"'
                out.append(f"<ol{start}>{listed}</ol>")
            items.clear()
        first_number = None

    for raw in text.replace("\x00", "").splitlines():
        if raw.strip().startswith("```"):
            if fence is None:
                flush()
                fence = []
            else:
                out.append(f"<pre><code>{chr(10).join(fence)}</code></pre>")
                fence = None
            continue
        line = escape(raw)
        if fence is not None:
            fence.append(line)
        elif not raw.strip():
            flush()
        elif heading := _HEADING.fullmatch(line.strip()):
            flush()
            level = len(heading[1])
            out.append(f"<h{level}>{_inline(heading[2])}</h{level}>")
        elif item := _LIST_ITEM.fullmatch(line):
            number = None if item["number"] is None else int(item["number"])
            if paragraph or quote or (items and (number is None) != (first_number is None)):  # a list of the other kind
                flush()
            if not items:
                first_number = number
            items.append(item["item"])
        elif quoted := _QUOTE.fullmatch(raw):
            if paragraph or items:
                flush()
            quote.append(escape(quoted[1]).strip())
        else:
            if items or quote:
                flush()
            paragraph.append(line.strip())
    if fence is not None:
        out.append(f"<pre><code>{chr(10).join(fence)}</code></pre>")
    flush()
    return f'<div class="mcx-markdown">{"".join(out)}</div>'
