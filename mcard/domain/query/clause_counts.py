"""How often each clause of a word query occurs in a text's words, in one pass over the text.

A query may hold hundreds of clauses (``cat* OR dog* OR ...``). Testing each clause against
every word costs clauses x words a text: 300 prefixes over 20,000 short texts took 47 s to
match and rank. Here a text's distinct words are looked up among the exact words asked for,
among the prefixes of each length asked for, and among the first words of the phrases. A
query of a few clauses (most queries) counts each clause in C instead (``list.count``,
``list.index``): the lookups would cost more than they save.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

ClauseWords = tuple[tuple[str, ...], bool]
"""A clause as counted: its words (one for a term or a prefix), and whether it is a prefix."""
FEW_CLAUSES = 8
"""Clauses counted one by one; a longer list is looked up word by word."""


class ClauseCounter:
    """Counts every clause of a list at once: a term's word, each word a prefix begins, each
    start of a phrase (its words in a row)."""

    def __init__(self, clauses: Sequence[ClauseWords]) -> None:
        self._few = list(clauses) if len(clauses) <= FEW_CLAUSES else None
        self._exact: dict[str, list[int]] = {}
        by_length: dict[int, dict[str, list[int]]] = {}
        self._phrases: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
        for index, (words, prefix) in enumerate(clauses):
            if prefix:
                by_length.setdefault(len(words[0]), {}).setdefault(words[0], []).append(index)
            elif len(words) == 1:
                self._exact.setdefault(words[0], []).append(index)
            else:
                self._phrases.setdefault(words[0], []).append((index, words))
        self._prefixes = sorted(by_length.items())

    def counts(self, words: Sequence[str]) -> dict[int, int]:
        """The clauses found in ``words`` (by their index in the list), each with how often."""
        if self._few is not None:
            return _counted_one_by_one(self._few, words)
        found: dict[int, int] = {}
        tally = Counter(words)
        exact = self._exact
        if len(exact) < len(tally):
            pairs = ((indices, tally[word]) for word, indices in exact.items() if word in tally)
        else:
            pairs = ((indices, occurrences) for word, occurrences in tally.items() if (indices := exact.get(word)))
        for indices, occurrences in pairs:
            for index in indices:
                found[index] = found.get(index, 0) + occurrences
        for length, starts in self._prefixes:
            for word, occurrences in tally.items():
                # a shorter word is its own slice, never a prefix of this length
                for index in starts.get(word[:length], ()):
                    found[index] = found.get(index, 0) + occurrences
        if self._phrases:
            for start, word in enumerate(words):
                for index, phrase in self._phrases.get(word, ()):
                    if tuple(words[start:start + len(phrase)]) == phrase:
                        found[index] = found.get(index, 0) + 1
        return found


def _counted_one_by_one(clauses: Sequence[ClauseWords], words: Sequence[str]) -> dict[int, int]:
    found: dict[int, int] = {}
    for index, (phrase, prefix) in enumerate(clauses):
        if len(phrase) > 1:
            occurrences = _phrase_starts(phrase, words)
        elif prefix:
            first = phrase[0]
            occurrences = sum(1 for word in words if word.startswith(first))
        else:
            occurrences = words.count(phrase[0])
        if occurrences:
            found[index] = occurrences
    return found


def _phrase_starts(phrase: tuple[str, ...], words: Sequence[str]) -> int:
    occurrences, start = 0, -1
    while True:
        try:
            start = words.index(phrase[0], start + 1)
        except ValueError:
            return occurrences
        occurrences += tuple(words[start:start + len(phrase)]) == phrase
