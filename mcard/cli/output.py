"""How the command line prints: aligned tables for people, JSON for scripts.

Everything printed may come from outside (card content, rows written by other tools, the
arguments themselves), so control characters never reach the terminal raw: C0, DEL and C1
characters (U+009B is a terminal's CSI) and undecodable argument bytes are shown escaped,
as ``\\x1b`` on a terminal and as ``\\u001b`` in JSON.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from typing import Any, Final

from mcard.domain.models.card import MCard

PREVIEW_CHARS = 48

_UNSAFE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""C0, DEL, C1, and lone surrogates (bytes of an argument that were not UTF-8)."""
_UNSAFE_IN_JSON: Final = re.compile(r"[\x7f-\x9f\ud800-\udfff]")
"""What ``json.dumps(ensure_ascii=False)`` leaves raw: it escapes C0 itself."""


def _backslashed(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def safe(text: object) -> str:
    """``text`` with every control character shown as an escape: safe to print on a terminal."""
    return _UNSAFE.sub(_backslashed, str(text))


def safe_json(data: Any) -> str:
    """``data`` as JSON whose control characters, C1 and DEL included, are ``\\u`` escapes."""
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    return _UNSAFE_IN_JSON.sub(lambda match: f"\\u{ord(match[0]):04x}", text)


def preview(card: MCard) -> str:
    if not card.is_text:
        return f"<{card.size} bytes>"
    text = " ".join(str(card.content).split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def card_rows(cards: Sequence[MCard]) -> list[list[str]]:
    return [[c.hash, c.g_time_text, str(c.size), str(c.content_type), preview(c)] for c in cards]


CARD_HEADER = ["HASH", "G_TIME", "SIZE", "TYPE", "PREVIEW"]


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """Aligned columns; every cell is escaped (see ``safe``), so a row stays one line."""
    cells = [[safe(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(cell) for cell in column) for column in zip(*cells)]

    def line(row: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(row, widths))
        ]
        return "  ".join(padded).rstrip()

    return "\n".join(line(row) for row in cells)


def emit(data: Any, human: str, as_json: bool) -> None:
    """Print ``data`` as JSON, or ``human``: text whose parts from outside are already ``safe``."""
    print(safe_json(data) if as_json else human)


def fail(message: str) -> None:
    """The one line on stderr that explains a non-zero exit status."""
    print(f"mcard: {safe(message)}", file=sys.stderr)
