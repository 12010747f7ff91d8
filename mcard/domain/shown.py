"""Untrusted text made safe to show: in a terminal, a notebook's plain output, a page.

A card's content, a name or a tag may hold control characters that a terminal obeys (ESC starts
a sequence that recolours it or sets its title), bidirectional controls that make a screen show
characters in another order than they are stored (U+202E), and characters of no width that make
two texts look the same. ``shown`` writes each such character as an escape (``\\x1b``,
``\\u202e``), so what is displayed is exactly what is stored.
"""

from __future__ import annotations

import re
from typing import Final

_BEYOND_C0: Final = (
    r"\x7f-\x9f\xad\u034f\u061c\u180e\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069"
    r"\u3164\ufeff\uffa0\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f"
)
"""DEL, C1, the bidirectional controls, the Unicode line and paragraph separators (which
``str.splitlines`` and many readers take for line breaks: a line of a table or a cell of a TSV
would be cut), characters that show nothing (a soft hyphen, a zero-width space, a word joiner,
invisible operators, a byte order mark, the grapheme joiner, the Mongolian vowel separator, the
Hangul fillers, the annotation marks, the tag characters: two tags that differ by one look the
same), and lone surrogates (bytes that were not UTF-8). The joiners U+200C and U+200D stay:
scripts and emoji need them; so do the tag characters of a subdivision flag (``_FLAG``)."""
_FLAG: Final = r"\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f"
"""A flag of a subdivision (England's: a black flag, the tag letters of ``gbeng``, a cancel tag)."""
UNSAFE: Final = re.compile(rf"{_FLAG}|[\x00-\x1f{_BEYOND_C0}]")
"""C0 and ``_BEYOND_C0`` (a match longer than a character is a flag, shown as it is)."""


BYTE_ORDER_MARK: Final = "\ufeff"
"""What some editors write first in a UTF-8 file: part of the text, shown in no snippet or preview."""


def _escaped(match: re.Match[str]) -> str:
    if len(match[0]) > 1:  # a flag
        return match[0]
    code = ord(match[0])
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (a path's, decoded by os.fsdecode)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def shown(text: object) -> str:
    """``text`` with every character of ``UNSAFE`` written as its escape."""
    return UNSAFE.sub(_escaped, str(text))


QUOTED_CHARS: Final = 200
"""The most characters of a value a message echoes (a search for a 30,000-character text echoed all of it)."""


def quoted(text: str) -> str:
    """``text`` the user typed (or a stored value) echoed in a message: in quotes, as typed, only
    its control characters escaped (``repr`` would double every backslash of a pattern); a
    long one cut, saying its length."""
    if len(text) > QUOTED_CHARS:
        return f"'{shown(text[:QUOTED_CHARS])}…' ({len(text):,} characters)"
    return f"'{shown(text)}'"


UNSAFE_IN_LINES: Final = re.compile(rf"{_FLAG}|[\x00-\x08\x0b-\x1f{_BEYOND_C0}]")
"""``UNSAFE`` but tab and newline, which a block of text (HTML ``<pre>``) keeps as layout."""


def shown_in_lines(text: object) -> str:
    """``shown``, keeping tabs and newlines: for text shown as a block of lines."""
    return UNSAFE_IN_LINES.sub(_escaped, str(text))


def holds_unsafe_in_lines(text: str) -> bool:
    """Whether ``shown_in_lines`` would write an escape in ``text``."""
    return any(len(match[0]) == 1 for match in UNSAFE_IN_LINES.finditer(text))


RAW_IN_JSON: Final = re.compile(rf"[\u2028\u2029{_BEYOND_C0}]")
"""What ``json.dumps(ensure_ascii=False)`` leaves raw (it escapes C0 itself) that a terminal or
a line reader may act on: ``UNSAFE`` and the Unicode line separators."""


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # JSON writes a character past U+FFFF as its two UTF-16 surrogates
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def json_escaped(text: str) -> str:
    """JSON text from ``json.dumps(ensure_ascii=False)`` with ``RAW_IN_JSON`` as ``\\u``
    escapes: printed, it cannot drive a terminal; parsed, it gives the same values."""
    return RAW_IN_JSON.sub(_json_escape, text)


_FORMULA: Final = re.compile(r"'*[=+\-@\t\r]")
"""A cell a spreadsheet takes for a formula (``=HYPERLINK(...)``, ``+1+1``, ``-2``, ``@SUM``,
one behind a tab or a CR that it trims), behind any number of the quotes ``as_cell`` adds."""


def as_cell(text: str) -> str:
    """``text`` for a CSV or TSV cell that a spreadsheet opens: one that it would run as a
    formula gets a ``'`` first, which makes it text, as does one that a quote already protects
    (``'=x`` is written ``''=x``), so that ``from_cell`` gives back exactly ``text``."""
    return "'" + text if _FORMULA.match(text) else text


def from_cell(cell: str) -> str:
    """The text ``as_cell`` wrote as ``cell``."""
    return cell[1:] if cell.startswith("'") and _FORMULA.match(cell) else cell


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1: "1 card", "2 cards"."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


_UNITS: Final = ("B", "KB", "MB", "GB", "TB")


def human_size(size: object) -> str:
    """``512 B``, ``4.0 KB``, ``3.9 MB`` (powers of 1024, as in the query syntax); a stored
    value that is not a size is shown as it is."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return shown(size)
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
