"""What a text search finds: the reference every engine's results agree with.

Three modes. ``substring``: the query appears in the text, literally; without case
sensitivity both are compared after ``str.casefold()`` (so "straße" finds "STRASSE").
``words``: the text's words (``tokens``: casefolded runs of letters and digits, with their
combining marks, composed) satisfy a
word query (``WordQuery``): terms, ``"phrases"``, ``prefix*``, ``OR``
and ``-excluded``, ranked by BM25 (``ranking``). ``regex``: Python's ``re.search`` finds the pattern.
A bytes card whose bytes are UTF-8 is searched as its text.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from array import array
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Final, Optional, Union

from ..models.exceptions import ValidationError, brief
from ..shown import BYTE_ORDER_MARK, shown
from . import regex_process
from .clause_counts import ClauseCounter

MODES: Final = ("substring", "words", "regex")
WORD_RULES: Final = 2
"""The version of the rules ``tokens`` makes words by (2: a word keeps its combining marks and
is composed, NFC; an ideograph or a hiragana is a word of its own), stored beside a word index:
an index built by other rules is rebuilt when the store opens."""
UNICODE_VERSION: Final = int("".join(f"{int(part):02d}" for part in unicodedata.unidata_version.split(".")))
"""Python's Unicode version (15.0.0 is 150000): casefolding and words may change with it, so a
store's indexes are rebuilt when a Python with another Unicode version opens it."""
MAX_QUERY: Final = 10_000
_ASCII_SEPARATORS: Final = bytes(code if chr(code).isalnum() and code < 128 else 32 for code in range(256))
"""A ``bytes.translate`` table keeping the ASCII letters and digits (the words of an ASCII
text) and turning every other byte into a space: splitting what it gives is ~7x faster than
``re.findall`` (a bulk load's words are made on the writer's thread, a search's while the
index is behind on a reader's)."""
_MARK_CODE_POINTS: Final = (range(0x30000), range(0xE0000, 0xE1000))
"""Where Unicode places combining marks: planes 0 to 2 and, in plane 14, the variation
selectors (planes 3 and up hold ideographs, tags, private use and nothing yet)."""
_ONE_CHARACTER_WORDS: Final = (
    "\u3005-\u3007\u3021-\u3029\u3038-\u303c\u3041-\u309f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U0001b000-\U0001b16f\U00020000-\U0002fa1f\U00030000-\U000323af"
)
"""Characters that are each a word (with the marks after them), as Unicode's word boundaries
(UAX #29) and search engines split Chinese and Japanese, written without spaces: the ideographs
(CJK blocks, their iteration and number marks) and hiragana. A word query of several of them is
the phrase of them in a row, so ``东京`` finds ``我住在东京``, which is one run of letters.
Katakana words (``テキスト``) stay whole, as in UAX #29."""
_IGNORECASE_ACROSS_FOLDS: Final = re.compile("[iI\u0130\u0131]")
"""What ``re.IGNORECASE`` matches to a character of another casefold: ``i`` and ``I`` match
dotless ``ı`` and dotted ``İ`` (casefolds ``ı`` and ``i̇``). Only these four (checked against
every character ``re`` treats as the same in any case)."""


def casefold(text: str) -> str:
    return text.casefold()


@cache
def _marks() -> str:
    """Unicode's combining marks (categories M*) as the inside of a character class."""
    category = unicodedata.category
    marks = [code for codes in _MARK_CODE_POINTS for code in codes if category(chr(code))[0] == "M"]
    runs: list[tuple[int, int]] = []
    for code in marks:
        if runs and runs[-1][1] == code - 1:
            runs[-1] = (runs[-1][0], code)
        else:
            runs.append((code, code))
    return "".join(f"{re.escape(chr(low))}-{re.escape(chr(high))}" if high > low else re.escape(chr(low))
                   for low, high in runs)


@cache
def _word() -> re.Pattern[str]:
    """A word: a letter or digit, then letters, digits and combining marks; or one of
    ``_ONE_CHARACTER_WORDS`` and its marks. A vowel sign in Hindi, a vowel point in Arabic or
    Hebrew, an accent typed as a mark of its own: all are part of the word they mark (split
    there, ``हिन्दी`` was three one-letter words)."""
    single, marks = _ONE_CHARACTER_WORDS, _marks()
    return re.compile(f"[{single}][{marks}]*|[^\\W_{single}](?:[^\\W_{single}]|[{marks}])*")


@cache
def _one_character_word() -> re.Pattern[str]:
    return re.compile(f"[{_ONE_CHARACTER_WORDS}][{_marks()}]*")


@cache
def _one_mark() -> re.Pattern[str]:
    return re.compile(f"[{_marks()}]")


@cache
def _not_in_a_word() -> re.Pattern[str]:
    """A character that no word continues through: neither a letter, a digit nor a combining
    mark, or a character of ``_ONE_CHARACTER_WORDS``."""
    return re.compile(f"[^\\w{_marks()}]|[_{_ONE_CHARACTER_WORDS}]")


_DOTTED_I: Final = "i\u0307"
"""Turkish ``İ`` casefolded: ``i`` and a combining dot. In a word it is ``i``, so ``İstanbul``
and ``istanbul`` are one word (with the dot kept, no word typed in lowercase found them)."""


def tokens(text: str) -> list[str]:
    """The words of a text: casefolded, maximal runs of letters and digits (Unicode categories
    L* and N*) with the combining marks (M*) that follow them; anything else separates words,
    as does a mark after no letter or digit. An ideograph or a hiragana is a word of its own
    (``_ONE_CHARACTER_WORDS``); ``İ`` is ``i`` (``_DOTTED_I``). Each word is composed (NFC):
    ``café`` typed as one character and as ``e`` with an accent apart (as macOS writes file
    names) is one word."""
    if len(text) <= TOKEN_SLICE:
        return _tokens(text)
    return [word for piece in _slices(text) for word in _tokens(piece)]


def joined_tokens(text: str) -> str:
    """``" ".join(tokens(text))``, holding the words of one slice of the text at a time: the
    list of every word of a 100 MB text took 1.7 GB."""
    if len(text) <= TOKEN_SLICE:
        return " ".join(_tokens(text))
    return " ".join(joined for piece in _slices(text) if (joined := " ".join(_tokens(piece))))


def count_tokens(text: str) -> int:
    """``len(tokens(text))``, holding the words of one slice of the text at a time."""
    return sum(len(_tokens(piece)) for piece in _slices(text))


def count_and_keep_tokens(text: str, keep: Callable[[str], bool]) -> tuple[int, set[str]]:
    """``count_tokens(text)``, and the distinct tokens that ``keep`` keeps, holding the words
    of one slice of the text at a time."""
    count, kept = 0, set()
    for piece in _slices(text):
        words = _tokens(piece)
        count += len(words)
        kept.update(word for word in words if keep(word))
    return count, kept


TOKEN_SLICE: Final = 1 << 20
"""Characters of a text tokenized in one call: each call holds the GIL throughout, so other
threads (an event loop) wait at most that long, not for a whole large text."""
_SPACE: Final = re.compile(r"\s")


def _slices(text: str) -> Iterator[str]:
    """The text in pieces of about ``TOKEN_SLICE`` characters, each cut before a space (no word
    is cut, and nothing on either side folds into a word with it)."""
    start = 0
    while start < len(text):
        cut = _SPACE.search(text, start + TOKEN_SLICE) if start + TOKEN_SLICE < len(text) else None
        end = len(text) if cut is None else cut.start()
        yield text[start:end]
        start = end


def _tokens(text: str) -> list[str]:
    if text.isascii():  # casefolded as lowercased
        return text.encode("ascii").translate(_ASCII_SEPARATORS).lower().decode("ascii").split()
    folded = casefold(text)
    if folded.isascii():
        return folded.encode("ascii").translate(_ASCII_SEPARATORS).decode("ascii").split()
    words = _word().findall(folded)
    composed = unicodedata.is_normalized("NFC", folded)
    if _DOTTED_I in folded:  # the i then takes the marks after the dot: í may compose
        words, composed = [word.replace(_DOTTED_I, "i") for word in words], False
    if composed:
        return words
    return [word if word.isascii() else unicodedata.normalize("NFC", word) for word in words]


# -- word queries ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Term:
    word: str
    prefix: bool = False


@dataclass(frozen=True)
class Phrase:
    words: tuple[str, ...]


Clause = Union[Term, Phrase]


@dataclass(frozen=True)
class WordQuery:
    """Groups that must all match (each an OR of clauses), and clauses that must not."""

    groups: tuple[tuple[Clause, ...], ...]
    excluded: tuple[Clause, ...] = ()

    @classmethod
    def parse(cls, query: str) -> WordQuery:
        return parse_words(query)

    def matches(self, text: str) -> bool:
        return self.matches_words(tokens(text))

    def matches_words(self, words: Sequence[str]) -> bool:
        """Whether a text whose ``tokens`` are ``words`` matches."""
        return self.matches_counts(self.counts(words))

    def counts(self, words: Sequence[str]) -> dict[int, int]:
        """How often each clause occurs in a text whose ``tokens`` are ``words``, by the
        clause's index: the positive clauses group by group (``ranking.phrases``), then the
        excluded ones; the clauses not found are left out."""
        return self._counter.counts(words)

    def matches_counts(self, found: dict[int, int]) -> bool:
        """Whether a text whose clauses occur as ``found`` (``counts``) matches."""
        positive, group_of, groups = self._match_rule
        if max(found, default=-1) >= positive:  # an excluded clause
            return False
        if groups == positive:  # a clause a group (most queries): every one must be found
            return len(found) == groups
        return len({group_of[index] for index in found}) == groups

    @cached_property
    def _match_rule(self) -> tuple[int, list[int], int]:
        """The positive clauses, the group of each, and the groups."""
        return len(self._group_of), self._group_of, len(self.groups)

    @cached_property
    def _group_of(self) -> list[int]:
        return [number for number, group in enumerate(self.groups) for _ in group]

    @cached_property
    def _counter(self) -> ClauseCounter:
        clauses = [clause for group in self.groups for clause in group] + list(self.excluded)
        return ClauseCounter([(clause.words, False) if isinstance(clause, Phrase) else ((clause.word,), clause.prefix)
                              for clause in clauses])

    @property
    def literals(self) -> list[list[str]]:
        """Per group, the casefolded strings one of which every matching text contains."""
        return [[_literal(clause) for clause in group] for group in self.groups]

    def left_out(self) -> str:
        """A word query matching the texts that hold one of the excluded clauses (the cards a
        query of exclusions alone leaves out)."""
        return " OR ".join(
            f'"{" ".join(clause.words)}"' if isinstance(clause, Phrase) else clause.word + ("*" if clause.prefix else "")
            for clause in self.excluded
        )

    @property
    def terms(self) -> list[str]:
        """The words the ranking counts (every positive clause's words)."""
        return [word for group in self.groups for clause in group
                for word in (clause.words if isinstance(clause, Phrase) else (clause.word,))]


def _literal(clause: Clause) -> str:
    return " ".join(clause.words) if isinstance(clause, Phrase) and len(clause.words) == 1 else (
        clause.words[0] if isinstance(clause, Phrase) else clause.word
    )


_WORD_QUERY: Final = re.compile(r'\s*(?:(?P<neg>-)?(?:"(?P<phrase>[^"]*)"|(?P<word>[^\s"]+)))')


MAX_WORD: Final = 8000
"""The longest word a word search looks for: SQLite's word index cuts words at 32,768 bytes, so
a longer one (8,192 characters of four bytes each) could match words it does not equal."""


def parse_words(query: object, offset: int = 0, *, exclusions_alone: bool = False) -> WordQuery:
    """Terms (all must be there), ``"a phrase"``, ``prefix*``, ``a OR b``, ``-excluded``.
    ``offset`` places error positions within a larger query. With ``exclusions_alone``, a
    query of excluded words only is a ``WordQuery`` without groups (not a word search: the
    cards it names are those whose text holds none of them, ``WordQuery.left_out``)."""
    if not isinstance(query, str) or not query.strip():
        raise ValidationError("a word search needs at least one word")
    if len(query) > MAX_QUERY:
        raise ValidationError(f"a query is at most {MAX_QUERY:,} characters")
    groups: list[list[Clause]] = []
    excluded: list[Clause] = []
    first_excluded: Optional[int] = None
    first_punctuation: Optional[int] = None
    joining = False
    excluded_before: Optional[int] = None  # where the word just read was excluded (its -)
    position = 0
    while position < len(query):
        if not query[position:].strip():
            break
        match = _WORD_QUERY.match(query, position)
        if match is None:
            column = offset + len(query[:position]) + len(query[position:]) - len(query[position:].lstrip())
            raise ValidationError(f"unclosed quote in the query at position {column}")
        start = offset + match.start("phrase" if match.group("phrase") is not None else "word") - (
            1 if match.group("phrase") is not None else 0)
        position = match.end()
        raw = match.group("phrase") if match.group("phrase") is not None else match.group("word")
        if raw == "OR" and match.group("phrase") is None and not match.group("neg"):
            if excluded_before is not None and not joining:
                raise ValidationError(f"OR cannot join an excluded word, at position {excluded_before}")
            if not groups or joining:
                raise ValidationError(f"OR needs a word on each side, at position {start}")
            joining = True
            continue
        clause = _clause(raw, match.group("phrase") is not None, start)
        if clause is None:
            first_punctuation = start if first_punctuation is None else first_punctuation
            continue
        if match.group("neg"):
            if joining:
                raise ValidationError(f"OR cannot join an excluded word, at position {start - 1}")  # its -
            excluded.append(clause)
            first_excluded = start - 1 if first_excluded is None else first_excluded
            excluded_before = start - 1
            continue
        excluded_before = None
        if joining:
            groups[-1].append(clause)
            joining = False
        else:
            groups.append([clause])
    if joining:
        raise ValidationError(f"OR needs a word on each side, at position {offset + len(query.rstrip())}")
    if not groups and not (exclusions_alone and excluded):
        raise ValidationError(_no_word_to_look_for(first_excluded, first_punctuation))
    # A word given twice asks nothing more (each copy cost a pass: 500 copies took 19 s).
    unique = dict.fromkeys(tuple(dict.fromkeys(group)) for group in groups)
    return WordQuery(tuple(unique), tuple(dict.fromkeys(excluded)))


def _no_word_to_look_for(first_excluded: Optional[int], first_punctuation: Optional[int]) -> str:
    """Why a query without a word to look for is refused, and where: at its first excluded word
    (``-draft`` alone matches nothing to rank), else at its first item of punctuation alone."""
    if first_excluded is not None:
        return (f"the query only excludes words; a word search needs one that is not excluded, at position"
                f" {first_excluded} (find takes exclusions alone: every card without them)")
    return (f"a word search needs a word of letters or digits; punctuation and symbols alone are no words (text:"
            f" looks for them as text), at position {first_punctuation}")


def _clause(raw: str, quoted: bool, position: int) -> Optional[Clause]:
    prefix = not quoted and raw.endswith("*")
    _check_stars(raw, quoted, position)
    words = tokens(raw[:-1] if prefix else raw)
    if prefix and words and _one_character_word().fullmatch(words[-1]):
        prefix = False  # no word starts with an ideograph but itself: 東京* is the phrase 東京
    if prefix and len(words) > 1:
        raise ValidationError(f"'*' marks the prefix of one word, and {brief(raw)} holds {len(words)} words"
                              f" ({' '.join(words)}): a prefix cannot end a phrase, at position {position + len(raw) - 1}")
    if any(len(word) > MAX_WORD for word in words):
        raise ValidationError(f"a word to search for is at most {MAX_WORD:,} characters, at position {position}")
    if not words:
        if quoted or raw.strip("*"):
            return None  # punctuation only: no word to look for
        raise ValidationError(f"'*' needs the start of a word before it, at position {position}")
    if prefix and len(words) == 1:
        return Term(words[0], prefix=True)
    if len(words) == 1 and not quoted:
        return Term(words[0])
    return Phrase(tuple(words))


@cache
def _star_ending_a_word() -> re.Pattern[str]:
    return re.compile(f"[\\w{_marks()}]\\*")


def _check_stars(raw: str, quoted: bool, position: int) -> None:
    """Refuse a ``*`` the search would drop: one inside an item (``rep*about``), or one ending
    a word inside quotes (``"quick bro*"``, a phrase is found as written)."""
    if quoted:
        inside = _star_ending_a_word().search(raw)
        if inside is not None:
            raise ValidationError("a '*' inside quotes is not a prefix (a phrase is found as written),"
                                  f" at position {position + inside.end()}")  # the quote is at position
        return
    word = raw.rstrip("*")
    if word and ("*" in word or raw.endswith("**")):
        column = word.find("*") if "*" in word else len(word) + 1
        raise ValidationError(f"'*' marks a prefix only at the end of a word, at position {position + column}")


def text_of(content: object) -> Optional[str]:
    """The text a search sees in a card's content: text, or bytes that are UTF-8, else None."""
    if isinstance(content, str):
        return content
    if isinstance(content, bytes):
        try:
            return content.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


# -- regular expressions and substrings -----------------------------------------------------
def compile_regex(pattern: object, flags: int = 0) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise ValidationError("a regex search needs a pattern")
    if len(pattern) > MAX_QUERY:
        raise ValidationError(f"a pattern is at most {MAX_QUERY:,} characters")
    try:
        with warnings.catch_warnings():  # "Possible nested set" (``[[``): re's future, not the pattern's fault
            warnings.simplefilter("ignore", FutureWarning)
            return re.compile(pattern, flags)
    except re.error as exc:  # re's own frames would follow the message: it says everything
        where = "" if exc.pos is None else f" at position {exc.pos}"
        raise ValidationError(f"not a regular expression: {exc.msg}{where}") from None
    except OverflowError as exc:  # a repeat count past what re can hold: a{4294967295}
        raise ValidationError(f"not a regular expression: {exc}") from None
    except RecursionError:  # groups nested hundreds deep
        raise ValidationError("not a regular expression: nested too deeply for Python's re") from None
    except ValueError as exc:  # flags re refuses together after parsing, (?u)(?a): not an re.error
        raise ValidationError(f"not a regular expression: {exc}") from None


_META: Final = frozenset(".^$*+?{}[]()|")
_QUANTIFIERS: Final = frozenset("*+?{")
_COMMENTS: Final = re.compile(r"\(\?(?:#|[aiLmsux-]*x)")
"""A comment group, or flags turning verbose mode on or off (``(?x:``, ``(?ix)``, ``(?-x:``)."""
_BRACES: Final = re.compile(r"\{\d*(?:,\d*)?\}")
"""A counted quantifier (``{2}``, ``{2,}``, ``{,3}``, ``{2,3}``); any other brace is literal."""


def _class_end(pattern: str, start: int) -> int:
    """Where the character class opening at ``start`` ends (just past its ``]``)."""
    index = start + 1
    if pattern[index:index + 1] == "^":
        index += 1
    if pattern[index:index + 1] == "]":  # a ``]`` first is a member
        index += 1
    while index < len(pattern) and pattern[index] != "]":
        index += 2 if pattern[index] == "\\" else 1
    return index + 1


_LONG_ESCAPE: Final = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|N\{[^}]*\}|[0-9]{1,3})")
"""Escapes longer than two characters: a character by its code (hex, name, octal) or a group by
its number (up to three digits taken, to be safe: what follows is a literal or not)."""


def _escape_end(pattern: str, index: int) -> int:
    """Where the escape of a letter or digit at ``index`` ends."""
    found = _LONG_ESCAPE.match(pattern, index)
    return found.end() if found is not None else index + 2


def _quantified(pattern: str, index: int) -> bool:
    """Whether a quantifier starts at ``index`` (so the item before it may repeat 0 times)."""
    char = pattern[index:index + 1]
    return char in ("*", "+", "?") or (char == "{" and _BRACES.match(pattern, index) is not None)


def _unscannable(pattern: str) -> bool:
    """Whether ``pattern`` has flags up front or comments (``(?#...)``, verbose groups, where
    ``#`` starts one), which the scans below do not read: they give it no literals."""
    return pattern.startswith("(?") or _COMMENTS.search(pattern) is not None


def required_literals(pattern: str) -> list[str]:
    """Strings every match of ``pattern`` contains, longest first: the runs of plain
    characters of its top level (a run ends at any special character, a character class or
    an escape such as ``\\d``; a character a quantifier follows is dropped). Conservative:
    none at all when the pattern has a top-level ``|``, flags or comments; what it misses
    only costs a scan, never a result."""
    if _unscannable(pattern):
        return []
    literals, current, depth, index = [], "", 0, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "[":
            literals.append(current)
            current, index = "", _class_end(pattern, index)
            continue
        if char == "{" and (braces := _BRACES.match(pattern, index)) is not None:
            literals.append(current[:-1])
            current, index = "", braces.end()
            continue
        if char == "\\":
            nxt = pattern[index + 1:index + 2]
            if nxt and not nxt.isalnum():
                char, index = nxt, index + 1
            else:  # a class (\d, \w...), an anchor, a back-reference, a character by code: not a literal
                literals.append(current)
                current, index = "", _escape_end(pattern, index)
                continue
        elif char in _META:
            if char == "|" and depth == 0:
                return []
            depth += {"(": 1, ")": -1}.get(char, 0)
            if char in _QUANTIFIERS and current:
                current = current[:-1]
            literals.append(current)
            current, index = "", index + 1
            continue
        if depth == 0:
            if _quantified(pattern, index + 1):
                literals.append(current)
                current = ""
            else:
                current += char
        index += 1
    literals.append(current)
    return sorted((literal for literal in literals if literal), key=len, reverse=True)


def top_level_branches(pattern: str) -> list[str]:
    """The alternatives of ``pattern``: split at each ``|`` outside groups, classes and
    escapes (``[pattern]`` when there is none). A match of ``pattern`` is a match of one.
    Comments are not read (``_unscannable``)."""
    branches, start, depth, index = [], 0, 0, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "[":
            index = _class_end(pattern, index)
            continue
        if char == "\\":
            nxt = pattern[index + 1:index + 2]
            index = index + 2 if not nxt.isalnum() else _escape_end(pattern, index)
            continue
        if char == "|" and depth == 0:
            branches.append(pattern[start:index])
            start = index + 1
        depth += {"(": 1, ")": -1}.get(char, 0)
        index += 1
    return [*branches, pattern[start:]]


@dataclass(frozen=True)
class SearchSpec:
    """A text search, checked: its ``mode``, its ``query`` and how it is matched."""

    mode: str
    query: str
    case_sensitive: bool = True

    @classmethod
    def of(cls, query: object, mode: object = "substring", case_sensitive: object = True) -> SearchSpec:
        if mode not in MODES:
            raise ValidationError(f"search mode must be one of {', '.join(MODES)}, got {brief(mode)}")
        if not isinstance(case_sensitive, bool):
            raise ValidationError(f"case_sensitive must be a bool, got {brief(case_sensitive)}")
        if not isinstance(query, str):
            raise ValidationError(f"search query must be a str, got {type(query).__name__}")
        if not query:
            raise ValidationError("search query must not be empty")
        try:
            query.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError(f"search query is not valid Unicode ({exc.reason}), at position {exc.start}") from None
        spec = cls(str(mode), query, case_sensitive)
        if mode == "substring" and len(query) > MAX_QUERY:  # as words and patterns: longer ones failed in the engines
            raise ValidationError(f"a search text is at most {MAX_QUERY:,} characters, got {len(query):,}")
        if mode == "words":
            spec.words  # parsed here, once: a malformed query fails before any work
        elif mode == "regex":
            spec.regex  # compiled here: a malformed pattern fails before any work
        return spec

    @cached_property
    def words(self) -> WordQuery:
        return parse_words(self.query)

    @property
    def regex_flags(self) -> int:
        return 0 if self.case_sensitive else re.IGNORECASE

    @property
    def regex(self) -> re.Pattern[str]:
        return compile_regex(self.query, self.regex_flags)

    def regex_run(self, seconds: float) -> regex_process.RegexRun:
        """A run of this regular expression in a child process, stopped after ``seconds``
        (a search's exact checks, ``regex_process``)."""
        return regex_process.RegexRun(self.query, self.regex_flags, seconds)

    @property
    def folded(self) -> bool:
        """Whether texts are compared casefolded (words are; substrings on request)."""
        return self.mode == "words" or (self.mode == "substring" and not self.case_sensitive)

    def folded_literals(self) -> list[str]:
        """Strings the casefolded text of every match holds, longest first (an index of
        casefolded text looks them up): the query of a substring search; the required
        literals of a regular expression, split where ``re.IGNORECASE`` would match a letter
        of another casefold (``(?i)die`` matches ``Dıe``, whose casefold holds no ``die``).
        Not for a word search."""
        if self.mode == "words":
            raise ValueError("a word search has no literals")
        if self.mode == "substring":
            return [casefold(self.query)]
        return self._folded(required_literals(self.query))

    def folded_alternatives(self) -> list[list[str]]:
        """What an index of casefolded text can look up for a search that is not by words:
        lists of strings, such that the casefolded text of every match holds all the strings of
        one of them. A regular expression gives one list per top-level alternative (``cat|dog``
        gives ``[["cat"], ["dog"]]``), anything else one (``folded_literals``). Empty when some
        alternative holds no literal, so that nothing can be looked up."""
        if self.mode != "regex" or _unscannable(self.query):
            alternatives = [self.folded_literals()]
        else:
            alternatives = [self._folded(required_literals(branch)) for branch in top_level_branches(self.query)]
        return alternatives if all(alternatives) else []

    def _folded(self, literals: list[str]) -> list[str]:
        if not self.case_sensitive:
            literals = [part for literal in literals for part in _IGNORECASE_ACROSS_FOLDS.split(literal)]
        return sorted((casefold(literal) for literal in literals if literal), key=len, reverse=True)

    def matcher(self) -> Callable[[str], bool]:
        """A function telling whether a text matches (made once per search)."""
        if self.mode == "words":
            words = self.words
            return words.matches
        if self.mode == "regex":
            regex = self.regex
            return lambda text: regex.search(text) is not None
        if self.case_sensitive:
            query = self.query
            return lambda text: query in text
        folded = casefold(self.query)
        return lambda text: folded in casefold(text)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where the text matches, as (start, end) in the text, for snippets."""
        if self.mode == "regex":  # in a child process: a match can take exponential time
            return regex_process.spans(self.query, self.regex_flags, text)
        if self.mode == "substring":
            if self.case_sensitive:
                return _finds(text, self.query)
            return _folded_finds(text, casefold(self.query))
        return _word_spans(self.words, text)


MOST_SPANS: Final = 50
"""Matches a snippet or a preview marks at most."""


def _word_spans(query: WordQuery, text: str) -> list[tuple[int, int]]:
    """Where the text holds a positive clause of ``query``: a term's word (or a word that
    starts with a prefix), or a phrase's words in a row, marked from its first to its last (a
    word of a phrase elsewhere is not a match)."""
    clauses = [clause for group in query.groups for clause in group]
    terms = {c.word for c in clauses if isinstance(c, Term) and not c.prefix}
    prefixes = tuple(c.word for c in clauses if isinstance(c, Term) and c.prefix)
    phrases = [c.words for c in clauses if isinstance(c, Phrase)]
    longest = max(map(len, phrases), default=0)
    recent: deque[tuple[str, tuple[int, int]]] = deque(maxlen=longest)  # the last words and their runs
    spans: list[tuple[int, int]] = []
    words = (*terms, *prefixes, *(phrase[0] for phrase in phrases))
    needles = tuple(dict.fromkeys(form for word in words for form in _written_forms(word)))
    for match, folded in _runs_to_check(text, needles, max(0, longest - 1)):
        for word in (folded,) if folded.isascii() else tokens(match.group()):
            recent.append((word, match.span()))
            ends = [len(phrase) for phrase in phrases
                    if len(recent) >= len(phrase) and tuple(recent[i - len(phrase)][0] for i in range(len(phrase))) == phrase]
            if ends:
                span = (recent[-max(ends)][1][0], match.end())
            elif word in terms or (prefixes and word.startswith(prefixes)):
                span = match.span()
            else:
                continue
            while spans and spans[-1][1] > span[0]:  # a phrase ending here covers what it holds
                span = (min(span[0], spans.pop()[0]), span[1])
            spans.append(span)
        if len(spans) >= MOST_SPANS:
            break
    return spans[:MOST_SPANS]


def _written_forms(word: str) -> list[str]:
    """The forms a word takes in a text's casefold: composed, decomposed, and with each ``i``
    an ``İ`` casefolded (``_DOTTED_I``)."""
    forms = [word, unicodedata.normalize("NFD", word)]
    return forms + [form.replace("i", _DOTTED_I) for form in forms] if "i" in word else forms


def _runs_to_check(text: str, needles: Sequence[str], following: int) -> Iterator[tuple[re.Match[str], str]]:
    """The words of ``text`` as written (``_word``), each with its casefold, where a clause may
    match: each run whose casefold holds a needle (a term, a prefix, a phrase's first word) and
    the ``following`` runs after it (a run gives one word or more). The runs between are never read in Python
    (the first match in a text of 10 MB took 1.6 s to find). A phrase's words before a run
    left out are no longer among the last words when its first word comes again: a run that
    gives it holds a needle."""
    finder = _NeedleFinder(text, needles)
    at, left = 0, 0
    while True:
        if left:
            match = _word().search(text, at)
        else:
            found = finder.next_at(at)
            if found is None:
                return
            if not text[found].isalnum():  # a mark whose casefold is a letter (ͅ folds to ι)
                marked = _marked(text, at, found)
                if marked is None:  # after no letter or digit: in no word
                    at = found + 1
                    continue
                found = marked
            match = _word().search(text, _run_start(text, at, found))
        if match is None:
            return
        folded = casefold(match.group())
        yield match, folded
        at = match.end()
        left = following if any(needle in folded for needle in needles) else left - 1


_BACK_STEP: Final = 4096


def _marked(text: str, at: int, found: int) -> Optional[int]:
    """The letter or digit the marks up to ``found`` follow (their word), not before ``at``;
    None when they follow none."""
    mark = _one_mark()
    base = found
    while base > at and mark.fullmatch(text[base]):
        base -= 1
    return base if text[base].isalnum() else None


def _run_start(text: str, at: int, found: int) -> int:
    """Where the word holding ``found`` starts, not before ``at`` (the end
    of a run): its last character before it that is none, found in reversed pieces of the text
    (a run may be millions of characters long, as in a hex dump)."""
    end = found
    while end > at:
        begin = max(at, end - _BACK_STEP)
        gap = _not_in_a_word().search(text[begin:end][::-1])
        if gap is not None:
            return end - gap.start()
        end = begin
    return at


class _NeedleFinder:
    """Where the next needle starts in a text's casefold, folded a slice at a time
    (``TOKEN_SLICE``), as a position in the text."""

    def __init__(self, text: str, needles: Sequence[str]) -> None:
        self._pieces = _slices(text)
        self._needles = needles
        self._start, self._piece, self._folded = 0, "", ""
        self._map: Optional[_FoldMap] = None

    def next_at(self, at: int) -> Optional[int]:
        """The position from ``at`` of the character whose casefold holds the start of the
        first needle, or None."""
        while True:
            if at < self._start + len(self._piece):
                found = self._in_piece(max(0, at - self._start))
                if found is not None:
                    return self._start + found
            piece = next(self._pieces, None)
            if piece is None:
                return None
            self._start, self._piece = self._start + len(self._piece), piece
            self._folded = casefold(piece)
            self._map = None if len(self._folded) == len(piece) else _FoldMap(piece)

    def _in_piece(self, at: int) -> Optional[int]:
        offset = at if self._map is None else self._map.offset(at)
        found = min((where for where in (self._folded.find(needle, offset) for needle in self._needles) if where >= 0),
                    default=None)
        return found if found is None or self._map is None else self._map.character(found)


def _finds(text: str, needle: str) -> list[tuple[int, int]]:
    spans, start = [], text.find(needle)
    while start >= 0 and len(spans) < MOST_SPANS:
        spans.append((start, start + len(needle)))
        start = text.find(needle, start + max(len(needle), 1))
    return spans


def _folded_finds(text: str, folded: str) -> list[tuple[int, int]]:
    """Spans of the text whose casefolding contains ``folded``, covering whole characters."""
    joined = casefold(text)
    if len(joined) == len(text):
        return _finds(joined, folded)
    character = _FoldMap(text).character
    return [(character(begin), character(max(begin, end - 1)) + 1) for begin, end in _finds(joined, folded)]


class _FoldMap:
    """Offsets in a text's casefold to its characters and back. Casefold may lengthen a
    character (``ß`` to ``ss``), never shorten one: an offset maps through the characters
    that lengthen before it."""

    def __init__(self, text: str) -> None:
        self._places = array("q")  # where each lengthening character starts in the casefold
        self._indexes = array("q")  # and in the text
        self._widths = array("q")
        grown = 0
        for match in _lengthening().finditer(text):
            width = len(casefold(match.group()))
            self._places.append(match.start() + grown)
            self._indexes.append(match.start())
            self._widths.append(width)
            grown += width - 1

    def character(self, offset: int) -> int:
        """The index of the character whose casefold holds ``offset``."""
        at = bisect_right(self._places, offset) - 1
        if at < 0:
            return offset
        if offset < self._places[at] + self._widths[at]:
            return self._indexes[at]
        return self._indexes[at] + 1 + offset - self._places[at] - self._widths[at]

    def offset(self, index: int) -> int:
        """Where the casefold of the character at ``index`` starts."""
        before = bisect_right(self._indexes, index - 1)
        if not before:
            return index
        last = before - 1
        return index + self._places[last] - self._indexes[last] + self._widths[last] - 1


@cache
def _lengthening() -> re.Pattern[str]:
    """The characters whose casefold is longer than themselves."""
    chars = (chr(code) for code in range(0x110000))
    return re.compile("[" + "".join(re.escape(char) for char in chars if len(casefold(char)) > 1) + "]")


# -- snippets ----------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class Match:
    """A text around its matches: ``parts`` alternate plain text and matched text. Shown as
    the marked text (``str``, and ``repr`` in a list): ``Match('the «quick» fox…')``."""

    parts: tuple[tuple[str, bool], ...]
    cut_before: bool
    cut_after: bool

    def marked(self, start: str = "«", end: str = "»") -> str:
        body = "".join(f"{start}{text}{end}" if hit else text for text, hit in self.parts)
        return ("…" if self.cut_before else "") + body + ("…" if self.cut_after else "")

    def __str__(self) -> str:
        return self.marked()

    def __repr__(self) -> str:
        return f"Match({self.marked()!r})"


def _spaced(text: str) -> str:
    """Whitespace runs as one space (ends kept), so a snippet stays on one line; control
    characters as escapes (``mcard.domain.shown``)."""
    return shown(re.sub(r"\s+", " ", text))


WORD_CUT: Final = 16
"""How far (characters) a snippet's cut may move to fall between two words, not inside one."""
SHORTEST_CUT: Final = 5
"""A snippet leaves out fewer characters before its match than this, or than the lead it keeps
before the match, only by starting at the text's start: a "…" in the place of "A " or "The " hid
a word for no room, and in the place of "A notebook " (before "ignores the moon", the lead) it
hid the start of a line that shows whole."""


def _between_words(text: str, at: int, low: int, high: int) -> int:
    """The place nearest ``at`` within ``WORD_CUT`` and ``[low, high]`` that is not inside a
    word (an end of the text, or beside whitespace), else ``at``."""
    for distance in range(WORD_CUT + 1):
        for place in (at - distance, at + distance):
            if low <= place <= high and (place in (0, len(text)) or text[place - 1].isspace() or text[place].isspace()):
                return place
    return at


def snippet(text: str, spans: Iterable[tuple[int, int]], width: int = 160, lead: Optional[int] = None) -> Match:
    """About ``width`` characters of ``text`` around its first matches, on one line, cut
    between words where one is near: from about ``lead`` characters before the first match
    (a third of ``width`` by default; fewer where little of the line shows, as in a grid cell)."""
    if text.startswith(BYTE_ORDER_MARK):
        return snippet(text[1:], [(max(0, begin - 1), max(0, end - 1)) for begin, end in spans], width, lead)
    spans = sorted(spans)
    if not spans:
        end = _between_words(text, min(len(text), width), 1, len(text))
        return Match(((_spaced(text[:end]).strip(), False),), False, end < len(text))
    before = width // 3 if lead is None else lead
    begin = _between_words(text, max(0, spans[0][0] - before), 0, spans[0][0])
    begin = 0 if begin < max(SHORTEST_CUT, before) else begin  # a cut no longer than the lead kept
    end = _between_words(text, min(len(text), begin + width), spans[0][1], len(text))
    parts: list[tuple[str, bool]] = []
    at = begin
    for start, stop in spans:
        if start < at or start >= end:
            continue
        parts += [(_spaced(text[at:start]), False), (_spaced(text[start:min(stop, end)]), True)]
        at = min(stop, end)
    parts.append((_spaced(text[at:end]), False))
    if not parts[0][1]:  # no space before the first word or after the last (a "…" marks a cut)
        parts[0] = (parts[0][0].lstrip(), False)
    parts[-1] = (parts[-1][0].rstrip(), False)
    return Match(tuple((part, hit) for part, hit in parts if part), begin > 0, end < len(text))


def card_snippet(
    spec: Optional[SearchSpec], content: object, width: int = 160, lead: Optional[int] = None
) -> Optional[Match]:
    """About ``width`` characters of a card's text around what ``spec`` matched in it (its
    start when there is no search), or None when the content is not text."""
    text = text_of(content)
    if text is None:
        return None
    return snippet(text, spec.spans(text) if spec is not None else [], width, lead)
