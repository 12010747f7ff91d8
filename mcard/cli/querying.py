"""``mcard search``, ``mcard find`` and ``mcard facets``: the store's search modes and its
query syntax (``mcard.domain.query``) on the command line, read-only."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final, Optional

from mcard.domain.models.card import MCard
from mcard.domain.models.exceptions import ValidationError
from mcard.domain.query import ORDERS, SearchSpec, card_snippet, parse_find
from mcard.domain.query.syntax import unsearched_note
from mcard.domain.shown import quoted
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper
from mcard.infrastructure.persistence.engine.base_engine import Found, check_facets, next_page_size
from mcard.infrastructure.persistence.engine.facets import FACETS, TIME_WIDTHS
from mcard.unmatched import no_match_hint, unknown_tags

from .labelling import labels_of
from .output import DEFAULT_LIMIT, HEAD_BYTES, PREVIEW_CHARS, CardPrinter, emit, fail, listed_card, note, table
from .stores import reading_store

DEFAULT_FACETS: Final = ("content_type", "tag", "month", "size")
BAR_WIDTH: Final = 24


MAX_LIMIT: Final = 2**63 - 1


def limit_of(value: int) -> Optional[int]:
    """A ``--limit`` (0: none). The largest, 2**63-1, is none too: no store holds that many
    cards, and the listings read one card past the limit to tell whether there are more."""
    if not 0 <= value <= MAX_LIMIT:
        raise ValidationError(f"--limit is a whole number from 0 to {MAX_LIMIT}, got {value}")
    return None if value == MAX_LIMIT else value or None


def offset_of(value: int) -> int:
    if value < 0:
        raise ValidationError("--offset must not be negative")
    return value


def next_page(limit: int, offset: int) -> str:
    return f"--offset {offset + limit} shows the next ones, --limit 0 all"


FIRST_PAGE: Final = DEFAULT_LIMIT
"""Cards ``search`` and ``find`` read first, whole (to mark what matched): a listing of the
default length in one call. Each page after holds twice as many, or fewer once their contents
reach about ``READ_AHEAD_BYTES``, but never fewer than this: every page searches anew (on
PostgreSQL, texts that are not ASCII are ranked in Python, each read at every search)."""


class _Pages:
    """The cards ``fetch(count, offset)`` gives from ``offset`` on (``count`` None: all), at
    most ``limit`` (None: all), a page at a time: a listing of large texts holds one page of
    them, not every match (120 texts of 1 MB held 133 MB at once, now 50 MB). ``whole``: in one call,
    where pages would save nothing. ``total``: the first page's (``Found.total``), if it tells one;
    ``more``: whether cards past ``limit`` match."""

    def __init__(
        self, fetch: Callable[[Optional[int], int], Awaitable[list[Any]]], limit: Optional[int], offset: int, whole: bool = False
    ) -> None:
        self._fetch, self._limit, self._offset = fetch, limit, offset
        self._first_page = None if whole else FIRST_PAGE
        self.shown = 0
        self.more = False
        self.total: Optional[int] = None

    async def __aiter__(self) -> AsyncIterator[list[Any]]:
        wanted = self._first_page
        while self._limit is None or self.shown < self._limit:
            left = None if self._limit is None else self._limit - self.shown
            count = left if wanted is None else wanted if left is None else min(wanted, left)
            found = await self._fetch(None if count is None else count + 1, self._offset + self.shown)  # one more: is there a next page?
            if self.total is None:
                self.total = getattr(found, "total", None)
            page = found[:count]
            self.shown += len(page)
            yield page
            if count is None or len(found) <= count:
                return
            wanted = None if wanted is None else max(FIRST_PAGE, next_page_size(2 * wanted, page))
        self.more = True


async def _print(
    printer: CardPrinter, store: AsyncPersistenceWrapper, cards: list[Any], spec: Optional[SearchSpec], output_format: str
) -> None:
    """Cards with their names and tags, and the text around what matched: the preview of a
    table, ``snippet`` in records."""
    for card, labelled in zip(cards, await labels_of(store, cards)):
        found = card_snippet(spec, card.content, PREVIEW_CHARS * 2) if spec is not None else None
        if found is None:
            printer.add(card, **labelled)
        elif output_format == "table":
            printer.add(card, preview=found.marked(), **labelled)
        else:
            printer.add(card, snippet=found.marked(), **labelled)


async def cmd_search(args: argparse.Namespace) -> int:
    limit, offset = limit_of(args.limit), offset_of(args.offset)
    mode = "words" if args.words else "regex" if args.regex else "substring"
    spec = SearchSpec.of(args.text, mode, not args.ignore_case)
    async with reading_store(args) as store:

        async def fetch(count: Optional[int], at: int) -> list[MCard]:
            return await store.search(args.text, count, at, mode=mode, case_sensitive=not args.ignore_case)

        # A regular expression is checked outside SQL on every card up to the page's end: each
        # page would read all the cards before it again.
        pages = _Pages(fetch, limit, offset, whole=mode == "regex")
        with CardPrinter(args.output_format, extra_fields=("snippet",)) as printer:
            async for page in pages:
                await _print(printer, store, page, spec, args.output_format)
    if not pages.shown:
        fail(f"no card matches {quoted(args.text)}" + (f" past --offset {offset}" if offset else ""))
        return 1
    if pages.more:
        note(f"stopped at --limit {limit}; {next_page(pages.shown, offset)}")
    return 0


async def cmd_find(args: argparse.Namespace) -> int:
    limit, offset = limit_of(args.limit), offset_of(args.offset)
    parsed = parse_find(args.query)  # a malformed query is reported before the store is opened
    async with reading_store(args) as store:

        async def fetch(count: Optional[int], at: int) -> Found:
            if parsed.words is None:  # nothing to mark: the rows cut to their previews
                found = await store.store.find_heads(args.query, count, at, order=args.order, head=HEAD_BYTES)
                return Found([listed_card(row) for row in found], found.total)
            return await store.find(args.query, count, at, order=args.order)

        pages = _Pages(fetch, limit, offset, whole=parsed.words is None and parsed.left_out is None)
        with CardPrinter(args.output_format, extra_fields=("snippet",)) as printer:
            async for page in pages:
                await _print(printer, store, page, parsed.words, args.output_format)
        matched = pages.total or 0
        said = "" if matched else await _no_match(store, args.query)
    if not matched:
        fail(f"no card matches {quoted(args.query)}{said}")
        return 1
    shown, total = pages.shown, f"{matched:,} match{'es' if matched != 1 else ''}"
    if offset or shown < matched:
        first, last = min(offset + 1, matched), offset + shown
        more = f"; {next_page(shown, offset)}" if limit is not None and last < matched else ""
        total += f"; showing {first:,} to {last:,}{more}" if shown else f"; none past --offset {offset}"
    note(total)
    if unsearched := unsearched_note(args.query):
        note(unsearched)
    return 0 if shown else 1  # as search: no card listed


async def cmd_facets(args: argparse.Namespace) -> int:
    fields = check_facets(DEFAULT_FACETS if args.by is None else [name.strip() for name in args.by.split(",") if name.strip()])
    if not fields:
        raise ValidationError(f"--by names no facet; the facets are {', '.join(FACETS)}")
    parse_find(args.query)
    async with reading_store(args) as store:
        facets = await store.facets(args.query, by=fields)
        # every card has one value of each facet but tags: any of their counts says a card matched
        partitions = [counts for field, counts in facets.items() if field != "tag"]
        matched = any(partitions) if partitions else bool((await store.find(args.query, 0)).total)
        unmatched = bool(args.query.strip()) and not matched
        said = await _no_match(store, args.query) if unmatched else ""
    human = "\n\n".join(_facet_table(field, counts) for field, counts in facets.items())
    emit({field: [[value, count] for value, count in counts] for field, counts in facets.items()}, human, args.json)
    if said:  # empty tables are the answer; a line only where there is something to tell
        note(f"no card matches {quoted(args.query)}{said}")
    return 0


async def _no_match(store: AsyncPersistenceWrapper, query: str) -> str:
    """What follows "no card matches QUERY": what the query may have meant, and the tags it
    names that no card has (with the closest one a card has); "" when there is nothing to tell."""
    filters = parse_find(query).filters
    unknown = await unknown_tags(store, filters.tags, filters.tag_globs, in_query=True)
    hint = await no_match_hint(store, query, open_with="mcard show {prefix}", tags_named=False)
    return hint + "".join(f"; {line}" for line in unknown)


def _facet_table(field: str, counts: list[tuple[Any, int]], most: int = 30) -> str:
    """One facet: value, count and a bar; at most ``most`` values, saying how many are left out.
    Time buckets are in time order, and the latest are shown: the most frequent come first."""
    top = max((count for _, count in counts), default=0)
    over = len(counts) - most
    in_time = field in (*TIME_WIDTHS, "time")
    shown = counts if over <= 0 else counts[-most:] if in_time else counts[:most]
    rows = [[str(value) if value is not None else "(none)", f"{count:,}", "█" * max(1, round(BAR_WIDTH * count / top))]
            for value, count in shown]
    heading = field.replace("_", " ").upper()
    lines = table([heading, "CARDS", ""], rows, right=[1]) if rows else f"{heading}\n(none)"
    if over > 0 and in_time:
        header, body = lines.split("\n", 1)
        return f"{header}\n… {over:,} earlier values (--json lists them all)\n{body}"
    if over > 0:
        lines += f"\n… {over:,} more values (--json lists them all)"
    return lines


AFTER_DASHES: Final = "one that starts with - goes after --: mcard {command} -- -draft"


def order_option(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--order", choices=ORDERS, metavar="ORDER",
                        help=f"{', '.join(ORDERS)} (default: {default}); name is each card's latest name"
                             " (name_desc from the end), cards never named last")


def add_parsers(add: Any, listing: Any) -> None:
    """The three commands' arguments (``add`` makes a subcommand, ``listing`` adds output options)."""
    cmd = add("search", "cards whose text contains TEXT (or matches it as words or a regular expression)")
    cmd.add_argument("text", help=f"what to find; {AFTER_DASHES.format(command='search')}")
    cmd.add_argument("-i", "--ignore-case", action="store_true", help="match in any case (Unicode casefolding; with --regex, re.IGNORECASE)")
    how = cmd.add_mutually_exclusive_group()
    how.add_argument("--words", action="store_true",
                     help='word search, best first: words, "phrases", prefix*, OR, -excluded (any case)')
    how.add_argument("--regex", action="store_true", help="a Python regular expression")
    listing(cmd)
    cmd.add_argument("--offset", type=int, default=0, help="skip this many first")

    cmd = add("find", "cards a query names: type:image/* tag:T (or tag:trip-*) name:*.png after:DATE before:DATE size:>1MB and words")
    cmd.add_argument("query", help=f"the query; {AFTER_DASHES.format(command='find')}")
    listing(cmd)
    cmd.add_argument("--offset", type=int, default=0, help="skip this many first")
    order_option(cmd, "best first with words, else newest")

    cmd = add("facets", "counts of the cards a query names, by content type, tag, month, size...")
    cmd.add_argument("query", nargs="?", default="", help=AFTER_DASHES.format(command="facets"))
    cmd.add_argument("--by", metavar="FIELDS", help=f"comma-separated, of: {', '.join(FACETS)} "
                     f"(default: {','.join(DEFAULT_FACETS)})")
