"""``fnmatchcase`` patterns (the ``name`` filter, and ``tag:`` globs) as SQLite ``GLOB`` and
PostgreSQL regular expressions that match exactly the same names or tags.

A ``[...]`` set is read as ``fnmatch`` reads it (a ``!`` first negates, a ``]`` first is a
member, a range whose ends are reversed is dropped, a set left empty matches nothing) into
ranges of code points, and each dialect writes those ranges in its own syntax. Copying the
set's text instead went wrong wherever the two syntaxes differ: ``[]-b]``, ``[^-a]``, ``[^]``,
``[z-a]`` (a reversed range made PostgreSQL fail).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Final, Optional, Union


@dataclass(frozen=True)
class CharSet:
    """One character in (or, ``negated``, not in) the ranges ``(first, last)`` of code points."""

    negated: bool
    ranges: tuple[tuple[int, int], ...]


class Wildcard(str):
    """``*`` (any run of characters) or ``?`` (any one character), as opposed to a literal one."""


STAR: Final = Wildcard("*")
ANY: Final = Wildcard("?")
Part = Union[str, CharSet]
"""A literal character, ``STAR``, ``ANY`` or a ``CharSet``."""


def glob_parts(pattern: str) -> Optional[list[Part]]:
    """``pattern`` as ``fnmatch`` reads it, or None when it can match no name at all."""
    parts: list[Part] = []
    index, length = 0, len(pattern)
    while index < length:
        char = pattern[index]
        index += 1
        if char == "*":
            if not parts or parts[-1] is not STAR:
                parts.append(STAR)
        elif char == "?":
            parts.append(ANY)
        elif char != "[":
            if char == "\x00" or "\ud800" <= char <= "\udfff":
                return None  # no stored name holds one (and SQLite reads a pattern up to a NUL)
            parts.append(char)
        else:
            end = index
            if end < length and pattern[end] == "!":
                end += 1
            if end < length and pattern[end] == "]":
                end += 1
            while end < length and pattern[end] != "]":
                end += 1
            if end >= length:  # never closed: a literal "["
                parts.append("[")
                continue
            found = _char_set(pattern[index - 1:end + 1])
            if found is None:
                return None
            parts.append(found)
            index = end + 1
    return parts


def literal(parts: list[Part]) -> Optional[str]:
    """The one text ``parts`` match when they match no other (``a[*]``: ``a*``), else None."""
    chars = []
    for part in parts:
        if isinstance(part, CharSet) and not part.negated and len(part.ranges) == 1 and part.ranges[0][0] == part.ranges[0][1]:
            chars.append(chr(part.ranges[0][0]))
        elif type(part) is str:
            chars.append(part)
        else:
            return None
    return "".join(chars)


def _char_set(text: str) -> Optional[Union[CharSet, Wildcard]]:
    """The set ``text`` (brackets included) as ranges, exactly as ``fnmatch`` reads it: its
    own translation decides membership, which changes only at a character of ``text`` or
    just after one, so testing one character per stretch between those points is exact.
    Surrogates are left out (no stored name holds one); NUL only ever in a negated set."""
    member = re.compile(fnmatch.translate(text)).fullmatch
    points = sorted({0, _END} | {ord(c) for c in text} | {ord(c) + 1 for c in text})
    ranges: list[tuple[int, int]] = []
    for first, after in zip(points, points[1:]):
        if member(chr(first)):
            if ranges and ranges[-1][1] == first - 1:
                first = ranges.pop()[0]
            ranges.append((first, after - 1))
    ranges = [piece for first, last in ranges for piece in _without_surrogates(first, last)]
    if not ranges:
        return None
    if ranges[0][0] > 0:
        return CharSet(False, tuple(ranges))
    outside = _complement(ranges)
    return CharSet(True, tuple(outside)) if outside else ANY


_END: Final = 0x110000
_SURROGATES: Final = (0xD800, 0xDFFF)


def _without_surrogates(first: int, last: int) -> list[tuple[int, int]]:
    low, high = _SURROGATES
    pieces = [(first, min(last, low - 1)), (max(first, high + 1), last)]
    return [(a, b) for a, b in pieces if a <= b]


def _complement(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The code points (surrogates aside) in none of ``ranges``, which are sorted and apart."""
    gaps, at = [], 0
    for first, last in ranges:
        gaps += _without_surrogates(at, first - 1)
        at = last + 1
    return gaps + _without_surrogates(at, _END - 1)


# -- SQLite GLOB -------------------------------------------------------------------------------
_GLOB_SPECIAL: Final = frozenset("*?[")
_IN_GLOB_SET: Final = (ord("-"), ord("]"), ord("^"))  # in code point order
"""Characters a GLOB set reads by position: each is written alone, where it is a member."""


def sqlite_glob(parts: list[Part]) -> str:
    """A SQLite ``GLOB`` pattern for ``parts``."""
    out = []
    for part in parts:
        if isinstance(part, CharSet):
            out.append(_glob_set(part))
        elif isinstance(part, Wildcard):
            out.append(str(part))
        else:
            out.append(f"[{part}]" if part in _GLOB_SPECIAL else part)
    return "".join(out)


def _glob_set(found: CharSet) -> str:
    """``[...]`` as SQLite reads it: ``^`` first negates, ``]`` first is a member, ``a-b`` is a
    range after a member; so ``]`` goes first, ``-`` last, ``^`` never first, and no range
    starts or ends at one of them."""
    plain: list[tuple[int, int]] = []
    special = set()
    for first, last in found.ranges:
        for cut in _IN_GLOB_SET:
            if first <= cut <= last:
                special.add(cut)
                if first < cut:
                    plain.append((first, cut - 1))
                first = cut + 1
        if first <= last:
            plain.append((first, last))
    body = "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in plain)
    if ord("^") in special:
        body += "^"
    if ord("-") in special:
        body += "-"
    if ord("]") in special:
        body = "]" + body
    elif body.startswith("^") and not found.negated:  # "[^" would negate: the caret goes last
        if body == "^":
            return "^"
        body = body[1:] + "^"
    if not found.negated and len(body) == 1 and body not in _GLOB_SPECIAL:
        return body
    return "[" + ("^" if found.negated else "") + body + "]"


# -- PostgreSQL regular expressions ------------------------------------------------------------
_PLAIN: Final = re.compile(r"[A-Za-z0-9 _/,:;@#%&=~'\"<>!`-]")
"""Characters an ARE reads as themselves outside a bracket expression (``_`` and ``%`` too, as
``~`` is no LIKE); others are written as ``\\u`` escapes."""


def postgres_regex(parts: list[Part]) -> str:
    """A PostgreSQL regular expression (``~``) for ``parts``, anchored at both ends."""
    out = ["^"]
    for part in parts:
        if part is STAR:
            out.append(".*")
        elif part is ANY:
            out.append(".")
        elif isinstance(part, CharSet):
            body = "".join(_are_char(a) if a == b else f"{_are_char(a)}-{_are_char(b)}" for a, b in part.ranges)
            out.append("[" + ("^" if part.negated else "") + body + "]")
        else:
            out.append(part if _PLAIN.fullmatch(part) else _are_char(ord(part)))
    return "".join(out) + "$"


def _are_char(code: int) -> str:
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
