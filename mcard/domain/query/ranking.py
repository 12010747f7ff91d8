"""Relevance of a word search: BM25 over the whole store, as SQLite's FTS5 ``bm25()`` computes it.

Each positive clause of a word query is a *phrase* (a term, a prefix or a quoted phrase). For a
matching text of ``D`` words, a phrase found ``f`` times in it and in ``hits`` of the store's
``rows`` searchable cards scores ``idf * f * (k1 + 1) / (f + k1 * (1 - b + b * D / avgdl))``
with ``idf = max(1e-6, log((rows - hits + 0.5) / (hits + 0.5)))``, k1 1.2, b 0.75 and ``avgdl``
the mean number of words of a searchable card; a text's score is the sum over the phrases, in
query order. The arithmetic is FTS5's, step for step, so an engine that ranks in SQL and one
that ranks here put cards in the same order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from ..models.card import time_order
from .text import Clause, SearchSpec, WordQuery, text_of, tokens

K1 = 1.2
B = 0.75


@dataclass(frozen=True)
class WordStats:
    """What BM25 needs to know of the whole store: its searchable cards (``rows``), their words
    in all, and for each phrase of the query how many cards hold it."""

    rows: int
    words: int
    hits: tuple[int, ...]

    def __add__(self, other: WordStats) -> WordStats:
        return WordStats(self.rows + other.rows, self.words + other.words,
                         tuple(a + b for a, b in zip(self.hits, other.hits)))


def phrases(query: WordQuery) -> list[Clause]:
    """The phrases BM25 sums over, in query order (excluded clauses never occur in a match)."""
    return [clause for group in query.groups for clause in group]


def stats_of(query: WordQuery, texts: Iterable[Sequence[str]]) -> WordStats:
    """``WordStats`` over the word lists of some searchable cards."""
    counts = query.counts
    return counted_stats(query, ((len(text), counts(text)) for text in texts))


def counted_stats(query: WordQuery, texts: Iterable[tuple[int, dict[int, int]]]) -> WordStats:
    """``WordStats`` over searchable cards given as their number of words and their clauses
    found (``query.counts``), each text's words counted once for its statistics and its score."""
    rows = words = 0
    hits = [0] * len(phrases(query))
    for length, found in texts:
        rows += 1
        words += length
        for index in found:
            if index < len(hits):  # an excluded clause counts for nothing
                hits[index] += 1
    return WordStats(rows, words, tuple(hits))


def weights(stats: WordStats) -> tuple[float, list[float]]:
    """The mean words of a searchable card, and each phrase's inverse document frequency (a
    count of hits above the rows, which only damaged statistics can give, counts as every row)."""
    rows = stats.rows
    average = stats.words / rows if rows and stats.words else 1.0
    hits = [min(count, rows) for count in stats.hits]
    return average, [max(1e-6, math.log((rows - count + 0.5) / (count + 0.5))) for count in hits]


class Scores:
    """BM25 scores of texts for one query over one store's statistics."""

    def __init__(self, query: WordQuery, stats: WordStats) -> None:
        self.query = query
        self.average, self.idfs = weights(stats)

    def of(self, words: Sequence[str]) -> float:
        """The score of a matching text's words (higher is better)."""
        return self.of_counts(self.query.counts(words), len(words))

    def of_match(self, words: Sequence[str]) -> Optional[float]:
        """The score of a text's words, None when they do not match."""
        found = self.query.counts(words)
        return self.of_counts(found, len(words)) if self.query.matches_counts(found) else None

    def of_counts(self, found: dict[int, int], length: int) -> float:
        """The score of a matching text of ``length`` words whose clauses occur as ``found``
        (``query.counts``): phrase by phrase in query order, as FTS5 adds them (a phrase not
        found adds 0.0, which leaves the sum as it is)."""
        idfs = self.idfs
        norm = K1 * (1 - B + B * length / self.average)
        total = 0.0
        for index in sorted(found):
            if index >= len(idfs):  # an excluded clause's, and every one after it
                break
            occurrences = float(found[index])
            total += idfs[index] * ((occurrences * (K1 + 1.0)) / (occurrences + norm))
        return total


def ranked(query: WordQuery, matches: Iterable[tuple[Any, Sequence[str]]], stats: WordStats) -> list[Any]:
    """Matching cards (given with their words), best first; equal scores newest first."""
    counts = query.counts
    return ranked_counted(query, ((card, len(words), counts(words)) for card, words in matches), stats)


def ranked_counted(
    query: WordQuery, matches: Iterable[tuple[Any, int, dict[int, int]]], stats: WordStats,
    newest: Callable[[Any], tuple[Any, ...]] = lambda card: (time_order(card), card.hash),
) -> list[Any]:
    """``ranked``, the matches given with their number of words and their clauses found; equal
    scores in the order of ``newest`` (of cards by default, or of the rows a store read)."""
    scores = Scores(query, stats)
    scored = [(scores.of_counts(found, length), match) for match, length, found in matches]
    scored.sort(key=lambda item: (item[0], *newest(item[1])), reverse=True)
    return [match for _, match in scored]


def reference_search(spec: SearchSpec, chosen: Iterable[Any], store: Optional[Iterable[Any]] = None) -> list[Any]:
    """The cards of ``chosen`` that ``spec`` matches, in a search's order: newest first; for
    words best first, with BM25 statistics over ``store`` (every card, ``chosen`` among them;
    default ``chosen``). What an engine without an index of its own can return as it is."""
    chosen = list(chosen)
    if spec.mode != "words":
        matcher = spec.matcher()
        found = [card for card in chosen if (text := text_of(card.content)) is not None and matcher(text)]
        return sorted(found, key=lambda card: (card.g_time, card.hash), reverse=True)
    query = spec.words
    words_of = {card.hash: tokens(text) for card in (chosen if store is None else store)
                if (text := text_of(card.content)) is not None}
    stats = stats_of(query, words_of.values())
    matches = [(card, words) for card in chosen
               if (words := words_of.get(card.hash)) is not None and query.matches_words(words)]
    return ranked(query, matches, stats)
