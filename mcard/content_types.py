"""Content-type (MIME) detection, done once when a card is first made.

Binary formats are recognized by their magic bytes with ``filetype`` (pure Python, no
libmagic; right on PNG, JPEG, GIF, WebP, PDF, ZIP, gzip and SQLite, ~40 µs for bytes it does not
know), plus Parquet, which it lacks. Text is parsed: JSON; markup (HTML, XHTML, SVG, other
XML) by its doctype and root element; CSV and TSV when the text is a table whose cells are
data, not sentences; anything else is ``text/plain``. Unknown bytes are
``application/octet-stream``.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import statistics
from typing import Final, Optional

import filetype

TEXT_PLAIN: Final = "text/plain"
OCTET_STREAM: Final = "application/octet-stream"
JSON: Final = "application/json"
XML: Final = "application/xml"
SVG: Final = "image/svg+xml"
HTML: Final = "text/html"
XHTML: Final = "application/xhtml+xml"
CSV: Final = "text/csv"
TSV: Final = "text/tab-separated-values"
PARQUET: Final = "application/vnd.apache.parquet"
PDF: Final = "application/pdf"

IMAGE_TYPES: Final = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", SVG})

_SNIFF_BYTES: Final = 64 * 1024
_MARKUP_START: Final = re.compile(
    r"\s*(?P<declaration><\?xml[^>]*>\s*)?(?:<!--.*?-->\s*|(?P<doctype><!DOCTYPE[^>]*>)\s*)*<(?P<root>[A-Za-z_][\w:.-]*)",
    re.S | re.I,
)
_XHTML_NAMESPACE: Final = "http://www.w3.org/1999/xhtml"
_HTML_ELEMENTS: Final = frozenset(
    "html head body title meta link style script noscript base main header footer nav section article aside "
    "div span p a em strong b i u s small code pre kbd samp var sub sup br hr img picture figure figcaption "
    "ul ol li dl dt dd table thead tbody tfoot tr th td caption colgroup col form input button select option "
    "textarea label fieldset legend iframe video audio source canvas blockquote q cite abbr details summary "
    "h1 h2 h3 h4 h5 h6 template".split()
)

_TABLE_ROWS: Final = 50
"""Rows of a text looked at to tell whether it is a table."""
_DELIMITERS: Final = {",": CSV, ";": CSV, "\t": TSV}
_SENTENCE_END: Final = re.compile(r"[.!?:;,][\"'”’»)\]]*$")


def detect_content_type(content: str | bytes) -> str:
    """The MIME type of a card's content."""
    if isinstance(content, str):
        return _text_type(content)
    if content[:4] == b"PAR1" and content[-4:] == b"PAR1" and len(content) >= 12:
        return PARQUET
    kind = filetype.guess_mime(content[:_SNIFF_BYTES])
    if kind:
        return "application/gzip" if kind == "application/x-gzip" else kind
    return OCTET_STREAM


def _text_type(text: str) -> str:
    head = text.lstrip()[:1]
    if head in ("{", "[") and _is_json(text):
        return JSON
    if head == "<":
        markup = _markup_type(text)
        if markup:
            return markup
    if "\n" in text.strip() and any(d in text for d in _DELIMITERS):
        return _table_type(text) or TEXT_PLAIN
    return TEXT_PLAIN


def _is_json(text: str) -> bool:
    """Whether Python's ``json`` reads ``text`` (arrays nested deeper than it recurses are not)."""
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _markup_type(text: str) -> Optional[str]:
    """HTML (a page or a fragment), XHTML, SVG or other XML, from the prolog and root element;
    None when the text does not start and end as markup."""
    match = _MARKUP_START.match(text[:_SNIFF_BYTES])
    if not match or not text.rstrip().endswith(">"):
        return None
    root = match["root"]
    local = root.rsplit(":", 1)[-1]
    doctype = (match["doctype"] or "").lower()
    if local == "svg":
        return SVG
    if doctype.startswith("<!doctype html") or root.lower() in _HTML_ELEMENTS:
        if match["declaration"] or "xhtml" in doctype or _XHTML_NAMESPACE in text[match.end() : match.end() + 500].split(">", 1)[0]:
            return XHTML if root.lower() == "html" else XML
        return HTML if ":" not in root else XML
    return XML


def _table_type(text: str) -> Optional[str]:
    """CSV or TSV when the text's first rows split into the same number of cells (at least 2
    that are not always empty) and the cells read as data; None otherwise. Prose with commas
    is not a table: most of its cells start with a space after the comma and most of its
    lines end a sentence, or its cells are many words long."""
    sample = text[:_SNIFF_BYTES]
    cut = len(text) > len(sample)
    best: Optional[tuple[int, str]] = None
    for delimiter, kind in _DELIMITERS.items():
        if delimiter not in sample:
            continue
        width = _table_width(sample, delimiter, cut)
        if width and (best is None or width > best[0]):
            best = (width, kind)
    return best[1] if best else None


def _table_width(sample: str, delimiter: str, cut: bool) -> int:
    """The number of columns when ``sample`` reads as a table with ``delimiter``, else 0."""
    try:
        rows = [row for row in itertools.islice(csv.reader(io.StringIO(sample), delimiter=delimiter), _TABLE_ROWS) if row]
    except csv.Error:
        return 0
    if cut and len(rows) > 2:
        rows = rows[:-1]  # the last row may be cut short
    widths = {len(row) for row in rows}
    if len(rows) < 2 or len(widths) != 1:
        return 0
    width = widths.pop()
    filled = sum(1 for column in zip(*rows) if any(cell.strip() for cell in column))
    if filled < 2 or (filled == 2 and len(rows) < 3) or _reads_as_prose(rows, sample):
        return 0
    return width


def _reads_as_prose(rows: list[list[str]], sample: str) -> bool:
    cells = [cell for row in rows for cell in row if cell.strip()]
    later = [cell for row in rows for cell in row[1:] if cell.strip()]
    spaced = sum(cell[:1].isspace() for cell in later) / max(len(later), 1)
    lines = [line.rstrip() for line in sample.splitlines()[: len(rows)] if line.strip()]
    ending = sum(bool(_SENTENCE_END.search(line)) for line in lines) / max(len(lines), 1)
    words = statistics.median(len(cell.split()) for cell in cells)
    return (spaced >= 0.5 and ending >= 0.5) or words > 3
