"""Counting a word query's clauses in a text, matching and BM25, against their definitions."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mcard.domain.query.ranking import B, K1, Scores, WordStats, phrases, stats_of, weights
from mcard.domain.query.text import Phrase, Term, WordQuery

VOCABULARY = ["a", "ab", "abc", "abd", "b", "ba", "fox", "foxes", "日", "日本", "12", "123"]
WORDS = st.lists(st.sampled_from(VOCABULARY), max_size=30)
CLAUSES = st.one_of(
    st.builds(Term, st.sampled_from(VOCABULARY), st.booleans()),
    st.builds(Phrase, st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=3).map(tuple)),
)
# up to 40 clauses: both the few counted one by one and the many looked up word by word
QUERIES = st.builds(
    WordQuery,
    st.lists(st.lists(CLAUSES, min_size=1, max_size=12).map(tuple), min_size=1, max_size=4).map(tuple),
    st.lists(CLAUSES, max_size=4).map(tuple),
)


def occurrences(clause: Term | Phrase, words: list[str]) -> int:
    """A term's word, every word a prefix begins, every start of a phrase."""
    if isinstance(clause, Term):
        return sum(word.startswith(clause.word) if clause.prefix else word == clause.word for word in words)
    size = len(clause.words)
    return sum(tuple(words[start:start + size]) == clause.words for start in range(len(words) - size + 1))


@settings(max_examples=400, deadline=None)
@given(query=QUERIES, words=WORDS)
def test_each_clause_is_counted_and_a_text_matches_as_defined(query, words):
    clauses = [*phrases(query), *query.excluded]
    assert query.counts(words) == {index: found for index, clause in enumerate(clauses)
                                   if (found := occurrences(clause, words))}
    assert query.matches_words(words) == (
        all(any(occurrences(clause, words) for clause in group) for group in query.groups)
        and not any(occurrences(clause, words) for clause in query.excluded)
    )


@settings(max_examples=300, deadline=None)
@given(query=QUERIES, texts=st.lists(WORDS, min_size=1, max_size=8), words=WORDS)
def test_statistics_and_scores_are_bm25_to_the_last_bit(query, texts, words):
    """Every phrase in query order, FTS5's arithmetic: a score equal to the bit, as SQLite's
    bm25() is compared with it."""
    clauses = phrases(query)
    stats = stats_of(query, texts)
    assert stats == WordStats(len(texts), sum(map(len, texts)),
                              tuple(sum(occurrences(clause, text) > 0 for text in texts) for clause in clauses))
    average, idfs = weights(stats)
    expected = 0.0
    for clause, idf in zip(clauses, idfs):
        found = float(occurrences(clause, words))
        expected += idf * ((found * (K1 + 1.0)) / (found + K1 * (1 - B + B * len(words) / average)))
    scores = Scores(query, stats)
    assert scores.of(words) == expected
    assert scores.of_match(words) == (expected if query.matches_words(words) else None)
