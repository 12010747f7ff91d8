"""How the command line prints: aligned tables for people; JSON, JSON Lines or CSV for scripts.

Data goes to stdout; notes and errors go to stderr, one line each, as ``mcard: ...``.
Everything printed may come from outside (card content, rows written by other tools, the
arguments themselves), so control characters never reach the terminal raw: C0, DEL and C1
characters (U+009B is a terminal's CSI) and undecodable argument bytes are shown escaped,
as ``\\x1b`` on a terminal and in CSV, and as ``\\u001b`` in JSON.
"""

from __future__ import annotations

import csv
import json
import sys
import unicodedata
from collections.abc import Sequence
from typing import Any, Final, Optional, TextIO

from mcard.domain.models.card import MCard
from mcard.domain.shown import BYTE_ORDER_MARK, as_cell, json_escaped
from mcard.domain.shown import shown as safe  # every control character as an escape
from mcard.exporting import card_record
from mcard.infrastructure.persistence.engine.card_rows import Row

PREVIEW_CHARS: Final = 48
HASH_SHOWN: Final = 12
"""Tables show this many leading hex digits of a hash; commands take any unique prefix of 8 or more."""
OUTPUT_FORMATS: Final = ("table", "json", "nl", "csv", "tsv")
CARD_FIELDS: Final = ("hash", "g_time", "size", "kind", "content_type", "hash_algorithm", "name", "tags")
"""A card's fields as listings print them: its own, its latest name and its tags."""


def columns_of(text: str) -> int:
    """How many terminal columns ``text`` takes: East Asian wide and full-width characters two,
    marks drawn over another character, format characters and the vowels and final consonants
    of decomposed Hangul none, the others one (as terminals count them: ``wcwidth``)."""
    if text.isascii():
        return len(text)
    return sum(_columns_of_character(character) for character in text)


_NO_COLUMNS: Final = frozenset({"Mn", "Me", "Cf"})
"""Nonspacing and enclosing marks (Thai's vowels above, Devanagari's ं, the emoji presentation
selector) and format characters. ``unicodedata.combining`` is 0 for many such marks: counted one
column each, they pushed the columns after them to the right."""


def _columns_of_character(character: str) -> int:
    if unicodedata.category(character) in _NO_COLUMNS or "\u1160" <= character <= "\u11ff" or "\ud7b0" <= character <= "\ud7ff":
        return 0
    return 2 if unicodedata.east_asian_width(character) in ("W", "F") else 1


def cut(text: str, most: int) -> str:
    """``text`` in at most ``most`` columns, ending in … where it was cut."""
    if columns_of(text) <= most:
        return text
    if text.isascii():  # a column a character: most listings, ~40x faster than counting
        return text[: most - 1] + "…"
    kept, used = [], 0
    for character in text:
        used += _columns_of_character(character)
        if used > most - 1:
            break
        kept.append(character)
    return "".join(kept) + "…"


def padded(text: str, width: int, right: bool = False) -> str:
    """``text`` filled with spaces to ``width`` columns, on the left when ``right``."""
    fill = " " * max(0, width - columns_of(text))
    return fill + text if right else text + fill


def safe_json(data: Any, indent: Optional[int] = 2) -> str:
    """``data`` as JSON whose control characters, C1 and DEL included, are ``\\u`` escapes."""
    return json_escaped(json.dumps(data, ensure_ascii=False, indent=indent, default=str))


def tag_list(tags: Sequence[str]) -> str:
    """Tags for people, joined by ", "; one that holds a comma or a quote, or starts or ends
    with a space, in quotes (its quotes doubled), so that ``a,b`` is not read as two tags."""
    def one(tag: str) -> str:
        plain = not any(mark in tag for mark in ",'\"") and tag == tag.strip()
        return safe(tag) if plain else "'" + safe(tag).replace("'", "''") + "'"

    return ", ".join(one(tag) for tag in tags) or "(none)"


DEFAULT_LIMIT: Final = 20
"""How many cards a listing (``ls``, ``search``, ``find``) shows without ``--limit``."""
HEAD_BYTES: Final = 4 * PREVIEW_CHARS * 8
"""Leading bytes of a content that give ``preview_of`` as the whole content does: it reads
``PREVIEW_CHARS * 8`` characters, and a UTF-8 character is at most 4 bytes."""


def listed_card(row: Row) -> MCard:
    """A card to print from its stored row with the content cut to ``HEAD_BYTES`` (``list_heads``,
    ``find_heads``): a listing shows its fields and a preview, so ``ls`` and ``find`` need not
    read every content whole (50 files of 8 MB: 470 MB and 0.9 s). Its content is that head:
    a card to print, never one to store (``check_card`` refuses it, its size not its content's)."""
    hash_str, head, is_text, micros, algorithm, size, content_type = row
    data = head if isinstance(head, bytes) else b""
    return MCard.restore(data.decode("utf-8", "replace") if is_text else data, hash_str, micros, algorithm, size, content_type)


def preview_of(card: MCard) -> str:
    if not card.is_text:
        return f"<{card.size} bytes>"
    # escaped before it is cut, so that a text of control characters is no wider than another
    text = str(card.content).removeprefix(BYTE_ORDER_MARK)
    return cut(safe(" ".join(text[: PREVIEW_CHARS * 8].split())), PREVIEW_CHARS)  # not all of a long text


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """Aligned columns; every cell is escaped (see ``safe``), so a row stays one line."""
    cells = [[safe(cell) for cell in row] for row in [header, *rows]]
    widths = [max(columns_of(cell) for cell in column) for column in zip(*cells)]

    def line(row: Sequence[str]) -> str:
        return "  ".join(padded(cell, width, index in right) for index, (cell, width) in enumerate(zip(row, widths))).rstrip()

    return "\n".join(line(row) for row in cells)


_TABLE_COLUMNS: Final = (
    ("HASH", HASH_SHOWN, False), ("G_TIME", 27, False), ("SIZE", 8, True), ("TYPE", 24, False), ("NAME", 24, False),
)
NAME_SHOWN: Final = 24
"""A table cuts longer names (with …); script formats give them whole."""


def _table_line(cells: Sequence[str]) -> str:
    """One line of a card table: fixed widths (a longer cell pushes the rest along), so cards
    can be printed as they come, without reading them all first."""
    fixed = [padded(cell, width, right) for cell, (_, width, right) in zip(cells, _TABLE_COLUMNS)]
    return "  ".join([*fixed, *cells[len(_TABLE_COLUMNS):]]).rstrip()


class CardPrinter:
    """Prints cards to a stream as they come, in one of ``OUTPUT_FORMATS``: a table for people,
    a JSON array, JSON Lines (one object a line), or CSV or TSV with a header. Memory stays
    constant however many cards go through. Nothing is printed before the first card, or the
    end without an error: a command that fails first (a bad filter) leaves stdout empty. A
    table of no card is no header either (stderr says why none is listed); CSV and TSV keep
    theirs, JSON is ``[]``.
    ``extra_fields`` (such as ``snippet``) are columns after ``CARD_FIELDS`` in CSV and TSV,
    empty for a card without them."""

    def __init__(
        self, output_format: str, stream: Optional[TextIO] = None, extra_fields: Sequence[str] = (),
    ) -> None:
        self.format = output_format
        self.stream = stream or sys.stdout
        self.columns = (*CARD_FIELDS, *extra_fields)
        self.count = 0
        self._csv: Any = None
        self._started = False

    def __enter__(self) -> CardPrinter:
        return self

    def _start(self) -> None:
        self._started = True
        if self.format == "table":
            self._write(_table_line([name for name, _, _ in _TABLE_COLUMNS] + ["PREVIEW"]) + "\n")
        elif self.format in ("csv", "tsv"):
            # TSV has no quoting: a cell holds no tab or line break (``safe`` escapes them), and a
            # quote is a character like any other (``cut -f`` reads the cells as they are).
            tsv = {"delimiter": "\t", "quoting": csv.QUOTE_NONE, "quotechar": None}
            self._csv = csv.writer(self.stream, lineterminator="\n", **({"delimiter": ","} if self.format == "csv" else tsv))
            self._csv.writerow(self.columns)
        elif self.format == "json":
            self._write("[")

    def add(
        self, card: MCard, preview: Optional[str] = None, *, name: Optional[str] = None,
        tags: Sequence[str] = (), **extra: Any,
    ) -> None:
        """Print one card with its latest ``name`` and its ``tags``; a table shows ``preview``
        (default: the content's start); ``extra`` fields (such as ``new``) go into JSON records,
        and those of ``extra_fields`` into CSV and TSV."""
        record = {**card_record(card, False), "name": name, "tags": list(tags), **extra}
        if not self._started:
            self._start()
        if self.format == "table":
            shown = preview_of(card) if preview is None else preview
            fields = (card.g_time_text, str(card.size), str(card.content_type))
            escaped = safe(card.hash)  # another tool's hash, escaped, still fits its column
            hash_cell = card.hash[:HASH_SHOWN] if escaped == card.hash else cut(escaped, HASH_SHOWN)
            cells = [hash_cell, *(safe(field) for field in fields), cut(safe(name or ""), NAME_SHOWN), safe(shown)]
            self._write(_table_line(cells) + "\n")
        elif self._csv is not None:
            cells = {**dict.fromkeys(self.columns, ""), **record,
                     "name": name or "", "tags": json.dumps(list(tags), ensure_ascii=False)}
            self._csv.writerow([as_cell(safe(cells[field])) for field in self.columns])
        elif self.format == "nl":
            self._write(safe_json(record, indent=None) + "\n")
        else:
            text = safe_json(record).replace("\n", "\n  ")
            self._write(("\n  " if self.count == 0 else ",\n  ") + text)
        self.count += 1

    def __exit__(self, error_type: Optional[type[BaseException]], *exc_info: object) -> None:
        if not self._started:
            if error_type is not None or self.format == "table":
                return
            self._start()
        if self.format == "json":
            self._write("\n]\n" if self.count else "]\n")
        self.stream.flush()

    def _write(self, text: str) -> None:
        self.stream.write(text)


def emit(data: Any, human: str, as_json: bool) -> None:
    """Print ``data`` as JSON, or ``human``: text whose parts from outside are already ``safe``."""
    print(safe_json(data) if as_json else human)


def note(message: str) -> None:
    """One line on stderr: a notice beside the data, or the reason for a non-zero exit status."""
    print(f"mcard: {safe(message)}", file=sys.stderr, flush=True)


fail = note
