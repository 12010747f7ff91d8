"""How the command line prints: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from mcard.domain.models.card import MCard

PREVIEW_CHARS = 48


def preview(card: MCard) -> str:
    if not card.is_text:
        return f"<{card.size} bytes>"
    text = " ".join(str(card.content).split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def card_rows(cards: Sequence[MCard]) -> list[list[str]]:
    return [[c.hash, c.g_time_text, str(c.size), c.content_type, preview(c)] for c in cards]


CARD_HEADER = ["HASH", "G_TIME", "SIZE", "TYPE", "PREVIEW"]


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            str(cell).rjust(width) if index in right else str(cell).ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths))
        ]
        return "  ".join(padded).rstrip()

    return "\n".join([line(header), *(line(row) for row in rows)])


def emit(data: Any, human: str, as_json: bool) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str) if as_json else human)


def fail(message: str) -> None:
    print(f"mcard: {message}", file=sys.stderr)
