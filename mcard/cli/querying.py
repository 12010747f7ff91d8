"""``mcard search``, ``mcard find`` and ``mcard facets``: the store's search modes and its
query syntax (``mcard.domain.query``) on the command line, read-only."""

from __future__ import annotations

import argparse
from typing import Any, Final, Optional

from mcard.domain.models.exceptions import ValidationError
from mcard.domain.query import SearchSpec, card_snippet, parse_find
from mcard.domain.query.syntax import unknown_fields_hint
from mcard.infrastructure.persistence.engine.base_engine import check_facets
from mcard.infrastructure.persistence.engine.facets import FACETS, TIME_WIDTHS

from .labelling import labels_of, unknown_tags
from .output import HEAD_BYTES, PREVIEW_CHARS, CardPrinter, emit, fail, listed_card, note, quoted, table
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


def _print(cards: list[Any], labels: list[dict[str, Any]], spec: Optional[SearchSpec], output_format: str) -> None:
    """Cards with their names and tags, and the text around what matched: the preview of a
    table, ``snippet`` in records."""
    with CardPrinter(output_format, extra_fields=("snippet",)) as printer:
        for card, labelled in zip(cards, labels):
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
        cards = await store.search(args.text, None if limit is None else limit + 1, offset,
                                   mode=mode, case_sensitive=not args.ignore_case)
        labels = await labels_of(store, cards[:limit])
    _print(cards[:limit], labels, spec, args.output_format)
    if not cards:
        fail(f"no card matches {quoted(args.text)}" + (f" past --offset {offset}" if offset else ""))
        return 1
    if limit is not None and len(cards) > limit:
        note(f"stopped at --limit {limit}; {next_page(limit, offset)}")
    return 0


async def cmd_find(args: argparse.Namespace) -> int:
    limit, offset = limit_of(args.limit), offset_of(args.offset)
    parsed = parse_find(args.query)  # a malformed query is reported before the store is opened
    async with reading_store(args) as store:
        if parsed.words is None:  # nothing to mark: the rows cut to their previews
            found = await store.store.find_heads(args.query, limit, offset, head=HEAD_BYTES)
            cards = [listed_card(row) for row in found]
        else:
            found = await store.find(args.query, limit, offset)
            cards = list(found)
        labels = await labels_of(store, cards)
        unknown = [] if found.total else await unknown_tags(store, parsed.filters.tags)
    _print(cards, labels, found.words, args.output_format)
    if not found.total:
        fail(f"no card matches {quoted(args.query)}{unknown_fields_hint(args.query)}" + "".join(f"; {line}" for line in unknown))
        return 1
    shown, total = len(found), f"{found.total:,} match{'es' if found.total != 1 else ''}"
    if offset or shown < found.total:
        first, last = min(offset + 1, found.total), offset + shown
        more = f"; {next_page(shown, offset)}" if limit is not None and last < found.total else ""
        total += f"; showing {first:,} to {last:,}{more}" if shown else f"; none past --offset {offset}"
    note(total)
    return 0 if shown else 1  # as search: no card listed


async def cmd_facets(args: argparse.Namespace) -> int:
    fields = check_facets(DEFAULT_FACETS if args.by is None else [name.strip() for name in args.by.split(",") if name.strip()])
    if not fields:
        raise ValidationError(f"--by names no facet; the facets are {', '.join(FACETS)}")
    parse_find(args.query)
    hint = unknown_fields_hint(args.query)
    async with reading_store(args) as store:
        facets = await store.facets(args.query, by=fields)
        unmatched = bool(hint) and not (await store.find(args.query, 0)).total
    human = "\n\n".join(_facet_table(field, counts) for field, counts in facets.items())
    emit({field: [[value, count] for value, count in counts] for field, counts in facets.items()}, human, args.json)
    if unmatched:
        note(f"no card matches {quoted(args.query)}{hint}")
    return 0


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

    cmd = add("find", "cards a query names: type:image/* tag:T name:*.png after:DATE before:DATE size:>1MB and words")
    cmd.add_argument("query", help=f"the query; {AFTER_DASHES.format(command='find')}")
    listing(cmd)
    cmd.add_argument("--offset", type=int, default=0, help="skip this many first")

    cmd = add("facets", "counts of the cards a query names, by content type, tag, month, size...")
    cmd.add_argument("query", nargs="?", default="", help=AFTER_DASHES.format(command="facets"))
    cmd.add_argument("--by", metavar="FIELDS", help=f"comma-separated, of: {', '.join(FACETS)} "
                     f"(default: {','.join(DEFAULT_FACETS)})")
