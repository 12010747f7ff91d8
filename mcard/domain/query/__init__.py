"""What to look for: filters, text matching (substring, words, regex), and the query syntax.

These define the results exactly; engines use indexes to find candidates fast and these
functions to decide, so every engine finds the same cards.
"""

from .filters import Filters
from .order import DEFAULT_ORDER, ORDERS, check_order, sort_cards
from .syntax import FindQuery, parse_find
from .ranking import reference_search
from .text import Match, SearchSpec, WordQuery, card_snippet, casefold, count_tokens, snippet, tokens

__all__ = [
    "Filters", "FindQuery", "parse_find", "Match", "SearchSpec", "WordQuery", "card_snippet", "casefold",
    "reference_search", "snippet", "tokens", "count_tokens", "DEFAULT_ORDER", "ORDERS", "check_order", "sort_cards",
]
