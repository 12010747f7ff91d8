"""The child process that runs regular expressions for ``regex_process``: a script of the
standard library alone, started as ``python -I -S regex_child.py``.

It reads requests from stdin and answers on stdout, each message an 8-byte little-endian
length and a pickle. A request is ``(kind, pattern, flags, seconds, contents)``; the answer is,
per content (a text, or bytes that are text when UTF-8), whether the pattern is found in it
(kind ``"search"``: None for bytes that are not UTF-8) or the spans of its first matches
(``"spans"``).

Python's ``re`` holds the GIL for a whole match, so a pattern that takes exponential time would
stall every thread of the process that runs it; here it stalls only this child, which the
parent kills. ``seconds`` (whole, at least 1) arms an alarm whose default action ends the
child, so it also stops when no parent is left to kill it. End of input ends it.
"""

from __future__ import annotations

import pickle
import re
import signal
import struct
import sys
from itertools import islice
from typing import BinaryIO

HEADER = struct.Struct("<Q")
MAX_SPANS = 50
"""Most spans given for one text: what a snippet can show."""


def spans_of(regex: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    """Where ``regex`` matches in ``text``, the first ``MAX_SPANS`` non-empty matches."""
    return [match.span() for match in islice((m for m in regex.finditer(text) if m.end() > m.start()), MAX_SPANS)]


def text_of(content: object) -> str | None:
    """A content as text: bytes are text when they are UTF-8 (None: a card no longer stored)."""
    if isinstance(content, str):
        return content
    try:
        return content.decode("utf-8") if isinstance(content, bytes) else None
    except UnicodeDecodeError:
        return None


def found(regex: re.Pattern[str], content: object) -> bool | None:
    """Whether ``regex`` is found in a content; None when it is bytes that are not UTF-8 (the
    caller tells a bytes card, which such a pattern never matches, from a damaged text)."""
    text = text_of(content)
    if text is None:
        return None if isinstance(content, bytes) else False
    return regex.search(text) is not None


def answer(kind: str, regex: re.Pattern[str], contents: list[object]) -> list[object]:
    if kind == "search":
        return [found(regex, content) for content in contents]
    return [[] if text is None else spans_of(regex, text) for text in map(text_of, contents)]


def read_message(stream: BinaryIO) -> object:
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        raise EOFError
    (size,) = HEADER.unpack(header)
    return pickle.loads(stream.read(size))


def main() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    alarm = getattr(signal, "alarm", lambda seconds: 0)  # not on Windows: there the parent kills
    while True:
        try:
            kind, pattern, flags, seconds, contents = read_message(stdin)
        except EOFError:
            return
        alarm(seconds)
        result = answer(kind, re.compile(pattern, flags), contents)
        alarm(0)
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.write(HEADER.pack(len(data)) + data)
        stdout.flush()


if __name__ == "__main__":
    main()
