"""The engine interface, written once.

An engine implements the ``_``-prefixed hooks plus ``initialize`` and ``close``. The public
methods here check their arguments first, so every engine rejects bad input the same way and
its hooks only ever see valid, normalized values.
"""

from __future__ import annotations

import asyncio
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import aclosing, contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Optional

from mcard.domain.models.card import DIGEST_HEX_LENGTHS, MCard, check_card as check_true_card, from_micros, to_micros, to_utc
from mcard.domain.models.exceptions import AmbiguousHashError, brief, NotStoredError, StorageError, ValidationError
from mcard.domain.models.sighting import Sighting, check_tag, stored_tag_fault
from mcard.domain.numbers import MAX_SQL_INTEGER, whole_number
from mcard.domain.progress import checked_progress
from mcard.domain.query import DEFAULT_ORDER, Filters, Match, SearchSpec, card_snippet, check_order, parse_find, sort_cards
from mcard.domain.query.order import BY_NAME
from mcard.domain.query.regex_process import RegexRun
from mcard.domain.query.text import text_of

from .card_rows import MAX_HEAD, Row, head_row
from .card_stream import CardStream
from .facets import FACETS, facet_values, order_facet, time_width
from .hash_ranges import RangeDigest, check_ranges, digest_groups
from .integrity import DamagedCard, Repair, StoredTag, VerifyReport, check_stored, repair_of
from .page_marks import told_total

if TYPE_CHECKING:
    from ..engine_config import EngineConfig

DEFAULT_PAGE_SIZE: Final = 1000
READ_AHEAD_BYTES: Final = 16 * 1024 * 1024
"""About the most content an iteration reads ahead of its caller: a page holds fewer cards than
its ``page_size`` when theirs are large (a page of 1,000 cards of 10 MB would be 10 GB)."""
_LONGEST_HASH: Final = 128
_HEX: Final = re.compile(f"[0-9a-fA-F]{{1,{_LONGEST_HASH}}}")
_LOWER_HEX: Final = b"0123456789abcdef"

PageKey = tuple[datetime, str]
"""Where a newest-first listing stopped: the last card's (g_time, hash)."""


def next_page_size(page_size: int, page: Sequence[MCard]) -> int:
    """How many cards an iteration's next page asks for after ``page`` (its first asks for one):
    ``page_size``, fewer when the cards of ``page`` were large (``READ_AHEAD_BYTES``). A size
    that is no number (a row another tool wrote, which ``verify`` names) counts as none."""
    size = sum(card.size for card in page if card.size.__class__ is int)
    return max(1, min(page_size, READ_AHEAD_BYTES * len(page) // size)) if size else page_size


class Saved(NamedTuple):
    """What a save with sightings added: how many of its cards and of its sightings were new."""

    cards: int
    sightings: int


class Recorded(NamedTuple):
    """What ``add_sightings`` did: how many sightings were new, and how many the store held
    whose ``seen_at`` it moved back to the earlier one given."""

    added: int
    earlier: int


@dataclass(frozen=True)
class StoreStats:
    """What a store holds: card count, content bytes, time span, and (count, bytes) per type."""

    count: int
    total_bytes: int
    first: Optional[datetime]
    last: Optional[datetime]
    by_content_type: dict[str, tuple[int, int]]

    @classmethod
    def of_types(cls, rows: Iterable[tuple[str, int, int, Optional[int], Optional[int]]]) -> StoreStats:
        """The stats of one statement's rows (content type, count, bytes, first and last time
        in microseconds), most cards first: totals summed from them, so that they agree."""
        by_type = list(rows)
        firsts = [first for _, _, _, first, _ in by_type if first is not None]
        lasts = [last for *_, last in by_type if last is not None]
        return cls(
            count=sum(n for _, n, _, _, _ in by_type), total_bytes=sum(size for _, _, size, _, _ in by_type),
            first=from_micros(min(firsts)) if firsts else None, last=from_micros(max(lasts)) if lasts else None,
            by_content_type={name: (n, size) for name, n, size, _, _ in by_type},
        )


def check_card(card: object, max_content_size: int) -> MCard:
    """``card`` if it may enter a store: a true card (see ``mcard.domain.models.card.check_card``)
    within the size limit."""
    check_true_card(card)
    assert isinstance(card, MCard)
    if card.size > max_content_size:
        raise ValidationError(
            f"card content is {card.size} bytes, over the limit of {max_content_size} bytes"
        )
    return card


MIN_PREFIX: Final = 8
"""Fewest hex digits a hash prefix must have (``resolve``): as many as a short hash shows."""


def check_prefix(value: object) -> str:
    """A hash prefix as typed: at least ``MIN_PREFIX`` hex digits, any case."""
    if not isinstance(value, str) or not _HEX.fullmatch(value.strip()) or len(value.strip()) < MIN_PREFIX:
        raise ValidationError(
            f"a hash or hash prefix is at least {MIN_PREFIX} hex digits, got {brief(value)}"
        )
    return value.strip().lower()


def check_hash(value: object, _is_hex: Callable[[str], object] = _HEX.fullmatch) -> str:
    """A hash as stored: lowercase hex."""
    if not isinstance(value, str) or not _is_hex(value):
        raise ValidationError(f"a card hash is a string of hex digits, got {brief(value)}")
    return value.lower()


def check_card_hash(value: object) -> str:
    """``check_hash`` for a lookup of one card (``get``, ``remove``): a hash shorter than any
    card's is refused as the prefix it must be, rather than found nowhere."""
    key = check_hash(value)
    if len(key) < SHORTEST_DIGEST:
        raise ValidationError(
            f"no card has a hash of {len(key)} hex digits ({key}): a hash prefix? resolve() gives the whole hash"
        )
    return key


def check_count(name: str, value: object, *, allow_none: bool) -> Optional[int]:
    if value is None and allow_none:
        return None
    count = whole_number(value)
    if count is None or not 0 <= count <= MAX_SQL_INTEGER:
        raise ValidationError(f"{name} must be an integer from 0 to 2**63-1, got {brief(value)}")
    return count


def check_head(head: object) -> int:
    """A head's length as given (a count of bytes), no longer than any value (``MAX_HEAD``)."""
    return min(check_count("head", head, allow_none=False) or 0, MAX_HEAD)


def check_time(name: str, value: object) -> Optional[datetime]:
    return None if value is None else to_utc(value, name)


def _true_tags(found: dict[str, list[str]]) -> dict[str, list[str]]:
    """``found`` without the tags mcard would not store (another tool wrote them; ``verify``
    names them): every reader sees the same tags, and a copy of them can be imported again."""
    if all(stored_tag_fault(tag) is None for tags in found.values() for tag in tags):
        return found
    kept = {key: [tag for tag in tags if stored_tag_fault(tag) is None] for key, tags in found.items()}
    return {key: tags for key, tags in kept.items() if tags}


def check_page_size(value: object) -> int:
    size = whole_number(value)
    if size is None or not 1 <= size <= MAX_SQL_INTEGER:
        raise ValidationError(f"page_size must be an integer from 1 to 2**63-1, got {brief(value)}")
    return size


FILTERS: Final = ("content_type", "min_size", "max_size", "tag", "name", "start_time", "end_time", "kind")


class Found(list):  # type: ignore[type-arg]
    """Cards found (``find_heads``: their rows), ``total``: how many match without ``limit``
    and ``offset``, and ``words``: the query's word search, if it has one (what ``snippet`` marks)."""

    def __init__(self, cards: Iterable[MCard | Row], total: int, words: Optional[SearchSpec] = None) -> None:
        super().__init__(cards)
        self.total = total
        self.words = words

    def __repr__(self) -> str:
        return f"Found({super().__repr__()}, total={self.total})"

    def snippet(self, card: MCard, width: int = 160) -> Optional[Match]:
        """The card's text around the words it matched, marked (None for a card without text)."""
        return card_snippet(self.words, card.content, width)


def check_filters(start_time: object, end_time: object, filters: dict[str, Any]) -> Filters:
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise ValidationError(f"unknown filter {brief(unknown[0])}; the filters are {', '.join(FILTERS)}")
    return Filters.of(start_time=start_time, end_time=end_time, **filters)  # type: ignore[arg-type]


def check_facets(by: object) -> list[str]:
    fields = [by] if isinstance(by, str) else by
    if not isinstance(fields, Iterable):
        raise ValidationError(f"by names facets, got {brief(by)}")
    checked = list(dict.fromkeys(fields))
    for field in checked:
        if field not in FACETS:
            raise ValidationError(f"unknown facet {brief(field)}; the facets are {', '.join(FACETS)}")
    return checked


def _hash_list(hashes: Iterable[str], name: str) -> list[str]:
    """``check_hash`` of each of ``hashes``, each once, in order. Hashes as stores hand them
    out (strings of lowercase hex) are checked all at once, in a few passes over the list
    (100,000 of them: ~11 ms instead of ~46 ms one by one); any other list one by one."""
    if isinstance(hashes, (str, bytes)) or not isinstance(hashes, Iterable):
        raise ValidationError(f"{name} takes an iterable of hashes, got {type(hashes).__name__}")
    given = list(hashes)
    lengths = set(map(len, given)) if set(map(type, given)) == {str} else set()
    if lengths and 0 < min(lengths) and max(lengths) <= _LONGEST_HASH:
        try:
            rest = "".join(given).encode("ascii").translate(None, _LOWER_HEX)
        except UnicodeEncodeError:
            rest = b"not ASCII"
        if not rest:
            return list(dict.fromkeys(given))
    return list(dict.fromkeys(check_hash(h) for h in given))


def check_sighting_list(sightings: Iterable[Sighting], name: str = "sightings") -> list[Sighting]:
    if isinstance(sightings, Sighting) or not isinstance(sightings, Iterable):
        raise ValidationError(f"{name} is an iterable of Sighting, got {type(sightings).__name__}")
    seen = list(sightings)
    for sighting in seen:
        if not isinstance(sighting, Sighting):
            raise ValidationError(f"expected a Sighting, got {type(sighting).__name__}")
    return seen


def check_sightings(sightings: Iterable[Sighting], cards: Sequence[MCard]) -> list[Sighting]:
    """Sightings of the given cards only (each names one of them by hash)."""
    seen = check_sighting_list(sightings)
    hashes = {card.hash for card in cards} if seen else set()
    for sighting in seen:
        if sighting.hash not in hashes:
            raise ValidationError(f"a sighting names {sighting.hash!r}, which is not among the cards saved")
    return seen


SHORTEST_DIGEST: Final = min(DIGEST_HEX_LENGTHS.values())
"""Hex digits of the shortest hash any card can have: a hash typed shorter is a prefix."""


def earliest_of_each(sightings: Iterable[Sighting]) -> list[Sighting]:
    """Each distinct sighting once (by ``key``), at the earliest ``seen_at`` given, in key order
    (the order every writer of the same ones takes their rows in)."""
    first: dict[str, Sighting] = {}
    for sighting in sightings:
        kept = first.get(sighting.key)
        if kept is None or sighting.seen_at < kept.seen_at:
            first[sighting.key] = sighting
    return [first[key] for key in sorted(first)]


def not_stored(doing: str, hashes: Sequence[str]) -> NotStoredError:
    """The error of labelling ``hashes`` no card has (``doing``: "tag", "add sightings of"): one
    line naming the first and counting the others, and saying that a hash too short for any
    card is a prefix (``resolve`` completes it)."""
    first = hashes[0]
    more = f" (nor {len(hashes) - 1} more)" if len(hashes) > 1 else ""
    prefix = " (a hash prefix? resolve() gives the whole hash)" if len(first) < SHORTEST_DIGEST else ""
    return NotStoredError(f"cannot {doing} cards that are not stored: {first}{more}{prefix}", list(hashes))


def check_tag_pairs(pairs: Iterable[tuple[str, str]], name: str) -> list[tuple[str, str]]:
    """The (hash, tag) pairs, checked; a pair may be any two items in order, such as a list or
    a row of ``df[["hash", "tag"]].values``."""
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Iterable):
        raise ValidationError(f"{name} takes (hash, tag) pairs, got {type(pairs).__name__}")
    checked: dict[tuple[str, str], None] = {}
    tags: dict[str, str] = {}  # each distinct tag checked once: a bulk tagging repeats a few
    for pair in pairs:
        items: Optional[tuple[object, ...]]
        if pair.__class__ is tuple:
            items = pair
        else:
            items = None if isinstance(pair, (str, bytes, dict)) or not isinstance(pair, Iterable) else tuple(pair)
        if items is None or len(items) != 2:
            raise ValidationError(f"{name} takes (hash, tag) pairs, got {brief(pair)}")
        key, given = check_hash(items[0]), items[1]
        tag = tags.get(given) if given.__class__ is str else None
        if tag is None:
            tag = check_tag(given)
            if given.__class__ is str:
                tags[given] = tag
        checked[(key, tag)] = None
    return list(checked)


def stored_reason(card: MCard) -> Optional[str]:
    """``check_stored`` for a card read back: why its row is damaged, or None."""
    try:
        micros = to_micros(card.g_time)
    except (OverflowError, TypeError, ValueError, StorageError):
        return "recorded time is not a time"
    content = card.content
    data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    return check_stored(card.hash, data, card.is_text, card.hash_algorithm, card.size, micros, card.content_type)


def _mended_tag(damaged: DamagedCard) -> Optional[tuple[str, str]]:
    """(hash, tag as ``check_tag`` stores it) for a damaged tag that is only written otherwise
    (decomposed, spaces around) on a card named by its hash; else None."""
    if not isinstance(damaged.label, str) or stored_tag_fault(damaged.label) is None:
        return None
    try:
        return check_hash(damaged.hash), check_tag(damaged.label)  # type: ignore[arg-type]
    except ValidationError:
        return None


def _damaged_items(damaged: Iterable[DamagedCard], method: str) -> Iterator[DamagedCard]:
    """The items of ``verify()``'s report, each checked to name what it is as stored."""
    if isinstance(damaged, (str, bytes, DamagedCard)) or not isinstance(damaged, Iterable):
        raise ValidationError(f"{method} takes the damaged cards of a VerifyReport, got {type(damaged).__name__}")
    for card in damaged:
        if not isinstance(card, DamagedCard):
            raise ValidationError(f"{method} takes DamagedCard items (VerifyReport.damaged), got {type(card).__name__}")
        if card.part not in ("card", "sighting", "tag"):
            raise ValidationError(f"a damaged part is a card, a sighting or a tag, not {brief(card.part)}")
        named_well = {  # a sighting goes by its key, a tag by its hash and tag
            "card": isinstance(card.hash, (str, bytes)),
            "sighting": isinstance(card.label, str),
            "tag": isinstance(card.hash, (str, bytes)) and isinstance(card.label, (str, bytes)),  # bytes: not stored as text
        }[card.part]
        if not named_well:
            named = card.label if card.part == "sighting" or isinstance(card.hash, (str, bytes)) else card.hash
            raise ValidationError(f"a stored {card.part} named by a {type(named).__name__} cannot be named for removal")
        yield card


class BaseStore(ABC):
    """A card store over one database. Open with ``initialize()`` or ``async with``."""

    def __init__(self, config: EngineConfig) -> None:
        config.validate()  # a value set on it after it was built, as its constructor checks one
        self.config = config
        self._where: str = type(self).__name__
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._regex_runs: set[RegexRun] = set()
        self.upgraded_from: Optional[int] = None
        """The schema version this store's open upgraded it from; None when it was current or new."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    # -- the event loop ----------------------------------------------------------------------
    def _bind_loop(self) -> None:
        """Tie the store to the running loop (engines call this when they open): its
        connections, futures and locks belong to that loop, so using it from another loop
        would hang or corrupt them. Until closed, every call checks it runs there."""
        self._check_loop()
        self._loop = asyncio.get_running_loop()

    def _begin_closing(self) -> None:
        """What ``close`` does first: free the store of its loop, and end the regular
        expression searches running (a runaway pattern would hold them, and their connections,
        until ``regex_timeout``)."""
        self._loop = None
        for run in self._regex_runs:
            run.stop(f"{self._where}: the store was closed during the regular expression search")

    @contextmanager
    def _regex_running(self, spec: SearchSpec) -> Iterator[RegexRun]:
        """A run of ``spec``'s regular expression for one search, stopped if the store closes."""
        run = spec.regex_run(self.config.regex_timeout)
        self._regex_runs.add(run)
        try:
            yield run
        finally:
            self._regex_runs.discard(run)
            run.close()

    def _check_loop(self) -> None:
        if self._loop is not None and asyncio.get_running_loop() is not self._loop:
            if self._loop.is_closed():
                raise StorageError(
                    f"{self._where}: this store was opened on an event loop that has ended (each asyncio.run()"
                    " is a loop of its own), and can be used, and closed, only there: open and close it in one"
                    " asyncio.run(), as `async with AsyncPersistenceWrapper(config) as cards:` does"
                    " (mcard.notebook runs every call on one loop of its own)"
                )
            raise StorageError(
                f"{self._where}: this store was opened on another event loop and can only be used"
                " there; open one store per event loop (mcard.notebook runs every call on one loop)"
            )

    # -- lifecycle ---------------------------------------------------------------------------
    @abstractmethod
    async def initialize(self) -> None:
        """Open connections and create the schema; calling it again does nothing."""

    @abstractmethod
    async def close(self) -> None:
        """Close every connection; calling it again does nothing."""

    async def __aenter__(self) -> BaseStore:
        await self.initialize()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def identity(self) -> Optional[tuple[object, ...]]:
        """What names this store however it was reached, or None where the engine cannot tell:
        equal for two stores that are one (a server reached by two URLs, ``localhost`` and
        ``127.0.0.1``, with its port and without)."""
        self._check_loop()
        return None

    async def wait_indexed(self) -> None:
        """Wait until the search indexes cover every stored card. Searches are exact either
        way; this makes their speed predictable after a bulk load. An engine that indexes as it
        writes has nothing to wait for."""
        self._check_loop()

    # -- engine hooks ------------------------------------------------------------------------
    @abstractmethod
    async def _save_many(self, cards: Sequence[MCard]) -> int:
        """Store the cards not yet stored, all in one transaction; return how many were new."""

    @abstractmethod
    async def _get_many(self, hashes: Sequence[str]) -> dict[str, MCard]:
        """The stored cards among ``hashes`` (distinct, lowercase)."""

    @abstractmethod
    async def _list(
        self, filters: Filters, limit: Optional[int], offset: int, after: Optional[PageKey]
    ) -> list[MCard]:
        """Cards newest first (ties by hash, descending) that pass ``filters``.

        ``after`` continues a listing behind the card it names (keyset pagination).
        """

    @abstractmethod
    async def _count(self, filters: Filters) -> int:
        """How many cards pass ``filters``."""

    @abstractmethod
    async def _search(
        self, spec: SearchSpec, filters: Filters, limit: Optional[int], offset: int, total: bool
    ) -> tuple[list[MCard], Optional[int]]:
        """Cards (text, or bytes that are UTF-8) that ``spec`` matches and pass ``filters``:
        newest first, or for words by relevance (then newest); and with ``total`` how many
        match in all (``limit`` 0: the total alone, no card read). ``spec.matcher()`` is what
        decides (``mcard.domain.query.text``)."""

    async def _search_ordered(
        self, spec: SearchSpec, filters: Filters, limit: Optional[int], offset: int, order: str
    ) -> tuple[list[MCard], int]:
        """A page of the cards ``spec`` matches that pass ``filters``, in ``order`` (``ORDERS``),
        and how many match in all; this default sorts every match."""
        matches, _ = await self._search(spec, filters, None, 0, False)
        ordered = await self._sorted(matches, order)
        return (ordered[offset:] if limit is None else ordered[offset:offset + limit]), len(matches)

    async def _excluding(
        self, left_out: SearchSpec, filters: Filters, limit: Optional[int], offset: int, order: str
    ) -> tuple[list[MCard], int]:
        """A page of the cards that pass ``filters`` and that the word search ``left_out``
        does not match (a card without text is among them), in ``order`` (``ORDERS``), and
        how many there are in all (a query of exclusions alone); the engines read them in one
        snapshot, this default checks every card ``_iterate`` yields."""
        cards = [card async for card in self._iterate(filters, DEFAULT_PAGE_SIZE)]
        kept = await asyncio.to_thread(
            lambda: [card for card in cards if (text := text_of(card.content)) is None or not left_out.words.matches(text)]
        )
        ordered = await self._sorted(kept, order)
        return (ordered[offset:] if limit is None else ordered[offset:offset + limit]), len(kept)

    async def _facets(
        self, fields: list[str], filters: Filters, spec: Optional[SearchSpec], left_out: Optional[SearchSpec] = None
    ) -> dict[str, list[tuple[Any, int]]]:
        """Each of ``fields`` counted over the cards that pass ``filters`` (and match ``spec``,
        or that ``left_out`` does not match); this default counts them one by one (``_facet``)."""
        cards = [card async for card in self._matching(filters, spec, left_out)]
        return {field: await self._facet(field, cards) for field in fields}

    async def _facet(self, field: str, cards: list[MCard]) -> list[tuple[Any, int]]:
        """(value, count) of ``cards`` for one of ``FACETS``."""
        if field == "time":
            times = [card.g_time for card in cards]
            field = time_width(min(times, default=None), max(times, default=None))
        tagged = await self._tags([card.hash for card in cards]) if field == "tag" and cards else {}  # one read
        counts: dict[Any, int] = {}
        for card in cards:
            for value in facet_values(field, card, tagged.get(card.hash, ())):
                counts[value] = counts.get(value, 0) + 1
        return order_facet(field, counts)

    async def _matching(
        self, filters: Filters, spec: Optional[SearchSpec], left_out: Optional[SearchSpec] = None
    ) -> AsyncIterator[MCard]:
        if spec is None and left_out is None:
            async for card in self._iterate(filters, DEFAULT_PAGE_SIZE):
                yield card
            return
        if spec is not None:
            found, _ = await self._search(spec, filters, None, 0, False)
        else:
            found, _ = await self._excluding(left_out, filters, None, 0, DEFAULT_ORDER)  # type: ignore[arg-type]
        for card in found:
            yield card

    @abstractmethod
    async def _remove_many(self, hashes: Sequence[str]) -> int:
        """Delete the cards among ``hashes`` in one transaction; return how many were removed."""

    async def _hashes_starting(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` stored hashes that start with ``prefix``, in hash order.

        This default reads every card; engines look the prefix up in their hash index instead.
        """
        found = sorted(card.hash async for card in self._iterate(Filters(), DEFAULT_PAGE_SIZE)
                       if card.hash.startswith(prefix))
        return found[:limit]

    async def _hashes_in_ranges(self, prefixes: Sequence[str]) -> list[str]:
        """The stored hashes that start with one of ``prefixes`` (ranges that do not overlap),
        in hash order. This default looks each prefix up with ``_hashes_starting``."""
        found: list[str] = []
        for prefix in prefixes:
            found.extend(await self._hashes_starting(prefix, MAX_SQL_INTEGER))
        return sorted(found)

    async def _range_digests(self, prefixes: Sequence[str], depth: int) -> dict[str, RangeDigest]:
        """The digest (``hash_ranges``) of each range ``hash[:depth]`` within ``prefixes`` that
        holds a card. This default lists the ranges' hashes, then their sightings and tags."""
        hashes = await self._hashes_in_ranges(prefixes)
        sightings: list[tuple[str, str, int]] = []
        tags: list[tuple[str, str]] = []
        for start in range(0, len(hashes), DEFAULT_PAGE_SIZE):
            chunk = hashes[start:start + DEFAULT_PAGE_SIZE]
            seen, tagged = await self._sightings(chunk), await self._tags(chunk)
            sightings.extend((s.hash, s.key, to_micros(s.seen_at)) for found in seen.values() for s in found)
            tags.extend((key, tag) for key, words in tagged.items() for tag in words)
        return digest_groups(depth, hashes, sightings, tags)

    # -- sightings and tags: an engine without them keeps these defaults ----------------------
    async def _save_seen(self, cards: Sequence[MCard], sightings: Sequence[Sighting]) -> Saved:
        """``_save_many`` and the cards' sightings, in one transaction."""
        if sightings:
            raise StorageError(f"{self._where}: this engine keeps no sightings")
        return Saved(await self._save_many(cards), 0)

    async def _add_sightings(self, sightings: Sequence[Sighting]) -> Recorded:
        """Record ``sightings`` (distinct, ``earliest_of_each``) of stored cards in one
        transaction, moving a recorded one's ``seen_at`` back where given earlier; nothing when a
        card is not stored (``not_stored``) or its row does not hold its content
        (``HeldByDamagedError``). Each counted by the writer that wrote it."""
        raise StorageError(f"{self._where}: this engine keeps no sightings")

    async def _sightings(self, hashes: Sequence[str]) -> dict[str, list[Sighting]]:
        """The sightings of each of ``hashes`` that has any, oldest first."""
        return {}

    async def _names(self, hashes: Sequence[str]) -> dict[str, str]:
        """The name of the latest named sighting of each of ``hashes`` that has one."""
        found = await self._sightings(hashes)
        return {
            key: named[-1].name for key, seen in found.items()
            if (named := [s for s in seen if s.name is not None]) and named[-1].name is not None
        }

    async def _tags(self, hashes: Sequence[str]) -> dict[str, list[str]]:
        """The tags of each of ``hashes`` that has any, sorted."""
        return {}

    async def _damaged_labels(self) -> list[DamagedCard]:
        """Sightings and tags another tool wrote that name no stored card or are not what mcard
        stores, for ``verify`` (``integrity.damaged_labels``)."""
        return []

    async def _remove_labels(self, sighting_keys: Sequence[str], tags: Sequence[StoredTag]) -> int:
        """Delete these sightings (by key) and tags, as stored, in one transaction; how many."""
        raise StorageError(f"{self._where}: this engine keeps no sightings or tags")

    async def _stored_rows(self, hashes: Sequence[str]) -> list[tuple[Any, ...]]:
        """The stored rows of these hashes as ``integrity.check_stored`` takes them, for
        ``repair_damaged`` and ``remove_damaged`` to look at again. An engine that cannot read
        its rows so gives none: nothing is mended, and damaged cards are removed as named."""
        return []

    async def _repair_rows(self, repairs: Sequence[Repair]) -> int:
        """Set each row's columns to its repair's, while it still holds the repair's content,
        in one transaction; how many rows were set."""
        raise StorageError(f"{self._where}: this engine cannot mend stored rows")

    async def _remove_under_bytes(self, hashes: Sequence[bytes]) -> int:
        """Delete the cards stored under these hashes as bytes (a BLOB another tool wrote where
        a hash goes), in one transaction; how many. Only an engine whose hash column can hold
        bytes has such rows."""
        raise ValidationError(f"{self._where}: a card stored under a hash of bytes cannot be named here")

    async def _tag_many(self, pairs: Sequence[tuple[str, str]], attach: bool) -> int:
        """Attach (or with ``attach`` False, detach) each (hash, tag), all in one transaction;
        how many changed. Attaching to a hash that is not stored is a ``ValidationError``."""
        raise StorageError(f"{self._where}: this engine keeps no tags")

    async def _iterate(self, filters: Filters, page_size: int) -> AsyncIterator[MCard]:
        """Every card that passes ``filters``, newest first, fetched ``page_size`` at a time
        (fewer when they are large: ``next_page_size``).

        This default pages by keyset through ``_list``: each page is its own snapshot, so a
        card removed or added (with an older ``g_time``) during the iteration may be missed
        or seen. Engines that can hold one read snapshot for the whole iteration override it.
        """
        after: Optional[PageKey] = None
        wanted = 1
        while True:
            page = await self._list(filters, wanted, 0, after)
            for card in page:
                yield card
            if len(page) < wanted:
                return
            after = (page[-1].g_time, page[-1].hash)
            wanted = next_page_size(page_size, page)
            del page, card  # not held while the next page is read

    async def _iterate_heads(self, filters: Filters, page_size: int, head: int) -> AsyncIterator[Row]:
        """``iterate_heads``' rows. By default cut from the cards ``_iterate`` yields; an engine
        with SQL reads only the heads."""
        async for card in self._iterate(filters, page_size):
            yield head_row(card, head)

    async def _verify(self, page_size: int) -> AsyncIterator[tuple[int, list[DamagedCard]]]:
        """Re-hash every stored card; yield (cards checked, damaged among them) per chunk.

        This default re-hashes the cards ``_iterate`` yields; engines may check raw rows instead.
        """
        checked, damaged = 0, []
        async for card in self._iterate(Filters(), page_size):
            checked += 1
            reason = stored_reason(card)
            if reason:
                damaged.append(DamagedCard(card.hash, reason))
            if checked == page_size:
                yield checked, damaged
                checked, damaged = 0, []
        if checked:
            yield checked, damaged

    async def _stats(self) -> StoreStats:
        """Engines with a cheaper way (one aggregate query) override this full scan."""
        count = total = 0
        first = last = None
        by_type: dict[str, tuple[int, int]] = {}
        async for card in self.iterate():
            count, total = count + 1, total + card.size
            first = card.g_time if first is None or card.g_time < first else first
            last = card.g_time if last is None or card.g_time > last else last
            seen, size = by_type.get(card.content_type, (0, 0))
            by_type[card.content_type] = (seen + 1, size + card.size)
        ordered = dict(sorted(by_type.items(), key=lambda item: (-item[1][0], item[0])))
        return StoreStats(count, total, first, last, ordered)

    # -- public API --------------------------------------------------------------------------
    async def save(self, card: MCard, *, sightings: Iterable[Sighting] = ()) -> bool:
        """Store ``card``; return False when its content was already stored (the first stays).

        ``sightings`` of the card are recorded with it, in the same transaction."""
        self._check_loop()
        checked = [check_card(card, self.config.max_content_size)]
        seen = check_sightings(sightings, checked)
        return ((await self._save_seen(checked, seen)).cards if seen else await self._save_many(checked)) == 1

    async def save_many(self, cards: Iterable[MCard], *, sightings: Iterable[Sighting] = ()) -> int:
        """Store all cards in one transaction (all or none); return how many were new.

        ``sightings`` of these cards (each names one of them by hash) are recorded in the same
        transaction, also for cards that were already stored."""
        return (await self._save_checked("save_many", cards, sightings)).cards

    async def save_seen(self, cards: Iterable[MCard], sightings: Iterable[Sighting]) -> Saved:
        """``save_many`` of ``cards`` with ``sightings``: how many cards and how many sightings
        were new. Exact while other writers record the same ones: each is counted by the
        writer that recorded it."""
        return await self._save_checked("save_seen", cards, sightings)

    async def _save_checked(self, action: str, cards: Iterable[MCard], sightings: Iterable[Sighting]) -> Saved:
        self._check_loop()
        if isinstance(cards, (str, bytes, MCard)) or not isinstance(cards, Iterable):
            raise ValidationError(f"{action} takes an iterable of MCard, got {type(cards).__name__}")
        limit = self.config.max_content_size
        checked = [check_card(card, limit) for card in cards]
        seen = check_sightings(sightings, checked)
        if not checked:
            return Saved(0, 0)
        return await self._save_seen(checked, seen) if seen else Saved(await self._save_many(checked), 0)

    async def add_sightings(self, sightings: Iterable[Sighting]) -> Recorded:
        """Record sightings of cards already stored, without their content, in one transaction
        (all or none): how many were new, and how many recorded before were moved back to an
        earlier ``seen_at`` given (``Recorded``). Exact while other writers record the same
        ones, as ``save_seen``. A sighting of a card that is not stored (another writer removed
        it) is a ``NotStoredError`` naming the cards, one of a card whose row holds other content
        a ``HeldByDamagedError``, and nothing is written: no sighting is left without its card or
        names other content (the rows are checked where they are stored, as a save checks them)."""
        self._check_loop()
        seen = check_sighting_list(sightings)
        return await self._add_sightings(earliest_of_each(seen)) if seen else Recorded(0, 0)

    async def sightings(self, hash_str: str) -> list[Sighting]:
        """Every time this card's content was seen with a name or source, oldest first."""
        self._check_loop()
        key = check_card_hash(hash_str)
        return (await self._sightings([key])).get(key, [])

    async def sightings_of(self, hashes: Iterable[str]) -> dict[str, list[Sighting]]:
        """The sightings of each of ``hashes`` that has any, oldest first."""
        self._check_loop()
        keys = _hash_list(hashes, "sightings_of")
        return await self._sightings(keys) if keys else {}

    async def names_of(self, hashes: Iterable[str]) -> dict[str, str]:
        """The latest name each of ``hashes`` was seen under, for those seen with one."""
        self._check_loop()
        keys = _hash_list(hashes, "names_of")
        return await self._names(keys) if keys else {}

    async def tags(self, hash_str: str) -> list[str]:
        """The card's tags, sorted."""
        self._check_loop()
        key = check_card_hash(hash_str)
        return _true_tags(await self._tags([key])).get(key, [])

    async def tags_of(self, hashes: Iterable[str]) -> dict[str, list[str]]:
        """The tags of each of ``hashes`` that has any, sorted."""
        self._check_loop()
        keys = _hash_list(hashes, "tags_of")
        return _true_tags(await self._tags(keys)) if keys else {}

    async def tag(self, hash_str: str, *tags: str) -> int:
        """Attach tags to a stored card; how many it did not have yet."""
        key = check_hash(hash_str)
        return await self.tag_many((key, tag) for tag in tags)

    async def untag(self, hash_str: str, *tags: str) -> int:
        """Detach tags from a card; how many it had."""
        key = check_card_hash(hash_str)
        return await self.untag_many((key, tag) for tag in tags)

    async def tag_many(self, pairs: Iterable[tuple[str, str]]) -> int:
        """Attach each (hash, tag), all in one transaction (all or none); how many were new.
        A hash that is not stored, or a tag that is not one, is a ``ValidationError``; a card
        whose row another tool changed, a ``HeldByDamagedError``."""
        self._check_loop()
        checked = check_tag_pairs(pairs, "tag_many")
        return await self._tag_many(checked, True) if checked else 0

    async def untag_many(self, pairs: Iterable[tuple[str, str]]) -> int:
        """Detach each (hash, tag), all in one transaction; how many were there."""
        self._check_loop()
        checked = check_tag_pairs(pairs, "untag_many")
        return await self._tag_many(checked, False) if checked else 0

    async def get(self, hash_str: str) -> Optional[MCard]:
        """The card with this hash, or None."""
        self._check_loop()
        key = check_card_hash(hash_str)
        return (await self._get_many([key])).get(key)

    def get_now(self, hash_str: str) -> Optional[dict[str, MCard]]:
        """A get served at once on the calling thread, without the event loop, when the engine
        can (``{hash: card}``, or ``{}`` when there is none); None when it cannot, and the
        caller awaits ``get``. By default never: only an embedded engine can read that cheaply."""
        check_card_hash(hash_str)
        return None

    def save_now(self, card: MCard) -> Optional[bool]:
        """A lone ``save`` done at once on the calling thread, without the event loop, when the
        engine can: True (stored) or False (already there); None when it cannot, and the caller
        awaits ``save``. ``ValidationError`` as ``save``. By default never: only an embedded
        engine can write that cheaply."""
        check_card(card, self.config.max_content_size)
        return None

    async def _list_ordered(self, filters: Filters, limit: Optional[int], offset: int, order: str) -> list[MCard]:
        """A page in ``order`` (not newest first). By default every card that passes the
        filters is read and sorted here; an engine with SQL sorts in its database."""
        ordered = await self._sorted(await self._list(filters, None, 0, None), order)
        return ordered[offset:] if limit is None else ordered[offset:offset + limit]

    async def _list_heads(self, filters: Filters, limit: Optional[int], offset: int, order: str, head: int) -> list[Row]:
        """``list_heads``' rows. By default cut from the cards ``list`` reads; an engine with
        SQL reads only the heads."""
        if order == DEFAULT_ORDER:
            cards = await self._list(filters, limit, offset, None)
        else:
            cards = await self._list_ordered(filters, limit, offset, order)
        return [head_row(card, head) for card in cards]

    async def _sorted(self, cards: list[MCard], order: str) -> list[MCard]:
        names = await self._names([card.hash for card in cards]) if order in BY_NAME and cards else {}
        return sort_cards(cards, order, names)

    async def resolve(self, prefix: str) -> Optional[str]:
        """The stored hash that starts with ``prefix`` (at least 8 hex digits, any case; a whole
        hash gives itself), or None when no card does; ``AmbiguousHashError`` (a
        ``ValidationError``, listing candidates) when several do. Rows another tool stored
        under no hex hash (a hash with a newline after it) are no candidates: no call takes them."""
        self._check_loop()
        key = check_prefix(prefix)
        found = [stored for stored in await self._hashes_starting(key, 11) if stored == stored.lower() and _HEX.fullmatch(stored)]
        if len(found) > 1 and key not in found:
            raise AmbiguousHashError(key, found)
        return key if key in found else (found[0] if found else None)

    async def get_many(self, hashes: Iterable[str]) -> dict[str, MCard]:
        """The stored cards among ``hashes``, keyed by hash, in the order asked."""
        self._check_loop()
        keys = _hash_list(hashes, "get_many")
        if not keys:
            return {}
        found = await self._get_many(keys)
        if len(found) == len(keys):  # each found (engines find none but those asked): no test per key
            return dict(zip(keys, map(found.__getitem__, keys)))
        return {key: found[key] for key in keys if key in found}

    async def hashes_in_ranges(self, prefixes: Iterable[str]) -> list[str]:
        """The stored hashes that start with one of ``prefixes`` (lowercase hex, ``""`` for
        all; ranges must not overlap), in hash order."""
        self._check_loop()
        checked = check_ranges(prefixes)
        return await self._hashes_in_ranges(checked) if checked else []

    async def range_digests(self, prefixes: Iterable[str], depth: int) -> dict[str, RangeDigest]:
        """For each range of hashes sharing their first ``depth`` hex digits within ``prefixes``
        (``""`` for all) that holds a card: its card count and the digest of its hashes,
        sightings and tags (``hash_ranges``), comparable between stores of any engine."""
        self._check_loop()
        checked = check_ranges(prefixes, depth)
        return await self._range_digests(checked, depth) if checked else {}

    async def list(
        self,
        limit: Optional[int] = None,
        offset: int = 0,
        start_time: Optional[datetime] = None,
        end_time: Optional[datetime] = None,
        *,
        order: str = DEFAULT_ORDER,
        **filters: Any,
    ) -> list[MCard]:
        """Cards newest first, optionally filtered (``FILTERS``: time bounds inclusive,
        ``content_type`` such as ``"image/*"``, ``min_size``/``max_size`` in bytes, ``tag``,
        ``name`` a glob over the names the card was seen under); ``order`` one of ``ORDERS``
        (``mcard.domain.query.order``)."""
        limit, offset, order, checked = self._listing(limit, offset, order, start_time, end_time, filters)
        if limit == 0:
            return []
        if order != DEFAULT_ORDER:
            return await self._list_ordered(checked, limit, offset, order)
        return await self._list(checked, limit, offset, None)

    async def list_heads(
        self,
        limit: Optional[int] = None,
        offset: int = 0,
        start_time: Optional[datetime] = None,
        end_time: Optional[datetime] = None,
        *,
        order: str = DEFAULT_ORDER,
        head: int,
        **filters: Any,
    ) -> list[Row]:
        """``list`` as stored rows (``card_rows.Row``: hash, content, is_text, g_time in
        microseconds, hash_algorithm, size, content_type) whose content is cut to its first
        ``head`` bytes: a table of many cards (``list_df``) needs a preview, not every card's
        content read whole and built into a card."""
        limit, offset, order, checked = self._listing(limit, offset, order, start_time, end_time, filters)
        head = check_head(head)
        if limit == 0:
            return []
        return await self._list_heads(checked, limit, offset, order, head)

    def _listing(
        self, limit: object, offset: object, order: object, start_time: object, end_time: object, filters: dict[str, Any]
    ) -> tuple[Optional[int], int, str, Filters]:
        """A listing's arguments, checked: limit, offset, order and filters."""
        self._check_loop()
        return (
            check_count("limit", limit, allow_none=True),
            check_count("offset", offset, allow_none=False) or 0,
            check_order(order),
            check_filters(start_time, end_time, filters),
        )

    async def count(
        self, start_time: Optional[datetime] = None, end_time: Optional[datetime] = None, **filters: Any
    ) -> int:
        """How many cards are stored, optionally filtered (as ``list``)."""
        self._check_loop()
        return await self._count(check_filters(start_time, end_time, filters))

    def iterate(
        self,
        page_size: int = DEFAULT_PAGE_SIZE,
        start_time: Optional[datetime] = None,
        end_time: Optional[datetime] = None,
        **filters: Any,
    ) -> CardStream[MCard]:
        """Every card newest first (optionally filtered, as ``list``), fetched ``page_size``
        at a time (fewer when their contents are large: about ``READ_AHEAD_BYTES`` at most), in
        constant memory: ``async for card in store.iterate()``.

        Engines that support it (SQLite does) read the whole iteration from one snapshot: the
        cards stored when the first card was fetched, however long the loop takes, while
        writers go on unblocked.
        """

        def start() -> AsyncIterator[MCard]:
            self._check_loop()
            return self._iterate(check_filters(start_time, end_time, filters), check_page_size(page_size))

        return CardStream(start)

    def iterate_heads(
        self,
        page_size: int = DEFAULT_PAGE_SIZE,
        start_time: Optional[datetime] = None,
        end_time: Optional[datetime] = None,
        *,
        head: int,
        **filters: Any,
    ) -> CardStream[Row]:
        """``iterate`` as stored rows whose content is cut to its first ``head`` bytes (as
        ``list_heads`` gives them): every card of a store to list or to name, read
        ``page_size`` rows at a time without reading any content whole. Engines that support
        it (SQLite does) read the whole iteration from one snapshot, as ``iterate``."""

        def start() -> AsyncIterator[Row]:
            self._check_loop()
            checked = check_filters(start_time, end_time, filters)
            return self._iterate_heads(checked, check_page_size(page_size), check_head(head))

        return CardStream(start)

    async def verify(self, page_size: int = DEFAULT_PAGE_SIZE, progress: Optional[bool] = None) -> VerifyReport:
        """Re-hash every stored card and report each one whose content no longer matches its hash.

        Reads in constant memory, ``page_size`` cards at a time; ``progress`` shows a bar (None:
        on a terminal or in a notebook only).
        """
        self._check_loop()
        from tqdm.auto import tqdm

        size = check_page_size(page_size)
        progress = checked_progress(progress)
        report = VerifyReport()
        total = await self._count(Filters()) if progress is not False else None
        with tqdm(total=total, desc="verifying cards", unit="card", disable=None if progress is None else not progress) as bar:
            async with aclosing(self._verify(size)) as chunks:
                async for checked, damaged in chunks:
                    report.checked += checked
                    report.damaged.extend(damaged)
                    bar.update(checked)
        report.damaged.extend(await self._damaged_labels())
        return report

    async def search(
        self,
        query: str,
        limit: Optional[int] = None,
        offset: int = 0,
        *,
        mode: str = "substring",
        case_sensitive: bool = True,
        **filters: Any,
    ) -> list[MCard]:
        """Cards whose text matches ``query``, optionally filtered (as ``list``).

        ``mode="substring"``: the query appears literally (``%``, ``_``, quotes are ordinary
        characters); without ``case_sensitive`` compared after ``str.casefold()``.
        ``mode="words"``: terms, ``"phrases"``, ``prefix*``, ``OR``, ``-excluded``, best
        matches first. ``mode="regex"``: Python's ``re.search``. Text cards and bytes cards
        whose bytes are UTF-8 are searched; other bytes never match. Newest first, except words.
        """
        self._check_loop()
        spec = SearchSpec.of(query, mode, case_sensitive)
        limit = check_count("limit", limit, allow_none=True)
        offset = check_count("offset", offset, allow_none=False) or 0
        checked = check_filters(filters.pop("start_time", None), filters.pop("end_time", None), filters)
        if limit == 0:
            return []
        return (await self._search(spec, checked, limit, offset, False))[0]

    async def find(
        self, query: str, limit: Optional[int] = None, offset: int = 0, *, order: Optional[str] = None
    ) -> Found:
        """The cards a query in mcard's query syntax names (``mcard.domain.query.syntax``):
        ``type:image/* tag:holiday name:*.png after:2026-01-01 before:2026-02-01 size:>1MB
        "exact phrase" words -excluded``. Best matches first when it has words, else newest
        first, unless ``order`` (``ORDERS``) says otherwise; ``.total`` is the number of
        matches without ``limit`` and ``offset``. A query of exclusions alone (``tag:x
        -draft``) names the cards whose text holds none of them, cards without text too."""
        self._check_loop()
        parsed = parse_find(query)
        limit = check_count("limit", limit, allow_none=True)
        offset = check_count("offset", offset, allow_none=False) or 0
        order = None if order is None else check_order(order)
        if parsed.left_out is not None:
            cards, total = await self._excluding(parsed.left_out, parsed.filters, limit, offset, order or DEFAULT_ORDER)
            return Found(cards, total)
        if parsed.words is None:
            if limit == 0:
                return Found([], await self._count(parsed.filters))
            if order in (None, DEFAULT_ORDER):
                cards = await self._list(parsed.filters, limit, offset, None)
            else:
                cards = await self._list_ordered(parsed.filters, limit, offset, order)
            told = told_total(len(cards), limit, offset)  # the page's own snapshot, writers or not
            return Found(cards, await self._count(parsed.filters) if told is None else told)
        if order is not None:
            cards, total = await self._search_ordered(parsed.words, parsed.filters, limit, offset, order)
            return Found(cards, total, parsed.words)
        cards, total = await self._search(parsed.words, parsed.filters, limit, offset, True)  # 0: the total alone
        return Found(cards, total or 0, parsed.words)

    async def find_heads(
        self, query: str, limit: Optional[int] = None, offset: int = 0, *, order: Optional[str] = None, head: int
    ) -> Found:
        """``find`` as stored rows whose content is cut to its first ``head`` bytes (as
        ``list_heads`` gives them): a page of large cards to list. A query without words or
        exclusions reads only the heads; one with them tests each card's text, so reads the
        matches whole, then cuts them."""
        self._check_loop()
        head = check_head(head)
        parsed = parse_find(query)
        if parsed.words is not None or parsed.left_out is not None:
            found = await self.find(query, limit, offset, order=order)
            return Found([head_row(card, head) for card in found], found.total, found.words)
        limit = check_count("limit", limit, allow_none=True)
        offset = check_count("offset", offset, allow_none=False) or 0
        order = DEFAULT_ORDER if order is None else check_order(order)
        rows = [] if limit == 0 else await self._list_heads(parsed.filters, limit, offset, order, head)
        told = None if limit == 0 else told_total(len(rows), limit, offset)
        return Found(rows, await self._count(parsed.filters) if told is None else told)

    async def facets(
        self, query: str = "", by: Iterable[str] = ("content_type", "tag", "month", "size")
    ) -> dict[str, list[tuple[Any, int]]]:
        """For each field of ``by`` (``FACETS``), (value, count) over the cards ``query``
        names: most frequent first; time buckets (``year``, ``month``, ``day``, ``hour``, or
        ``time`` for a width chosen from the span) and ``size`` buckets in their own order."""
        self._check_loop()
        parsed = parse_find(query)
        fields = check_facets(by)
        if not fields:
            return {}
        counted = await self._facets(fields, parsed.filters, parsed.words, parsed.left_out)
        if "tag" in counted:  # as every read of tags, without those mcard would not store
            counted["tag"] = [(tag, n) for tag, n in counted["tag"] if stored_tag_fault(tag) is None]
        return counted

    async def stats(self) -> StoreStats:
        """How many cards, how many bytes, from when to when, and per content type."""
        self._check_loop()
        return await self._stats()

    async def remove(self, hash_str: str) -> bool:
        """Delete the card with this hash; return whether there was one."""
        self._check_loop()
        return await self._remove_many([check_card_hash(hash_str)]) == 1

    async def remove_many(self, hashes: Iterable[str]) -> int:
        """Delete the cards with these hashes in one transaction; return how many were removed."""
        self._check_loop()
        if isinstance(hashes, (str, bytes)) or not isinstance(hashes, Iterable):
            raise ValidationError(f"remove_many takes an iterable of hashes, got {type(hashes).__name__}")
        keys = list(dict.fromkeys(check_hash(h) for h in hashes))
        return await self._remove_many(keys) if keys else 0

    async def remove_damaged(self, damaged: Iterable[DamagedCard]) -> int:
        """Delete what ``verify()`` named (``VerifyReport.damaged``), as stored: the damaged
        sightings and tags alone, never their cards, in one transaction; then the damaged cards
        by their hashes (another tool may have stored one that is no hash at all, ``../x`` or
        upper case, which ``remove`` refuses), in another. How many rows were removed.

        Each card's row is looked at again first: one that is sound by now is kept, and so is
        one whose content is whole (``repair_damaged`` mends it), unless its content is stored
        under its true hash already."""
        self._check_loop()
        keys: list[str] = []
        sighting_keys: list[str] = []
        tags: list[StoredTag] = []
        under_bytes: list[bytes] = []
        for card in _damaged_items(damaged, "remove_damaged"):
            if card.part == "card" and isinstance(card.hash, bytes):
                under_bytes.append(card.hash)
            elif card.part == "card":
                keys.append(card.hash)
            elif card.part == "sighting":
                sighting_keys.append(card.label)  # type: ignore[arg-type]  # checked by _damaged_items
            else:
                tags.append((card.hash, card.label))  # type: ignore[arg-type]
        removed = 0
        if sighting_keys or tags:  # first: those of a damaged card would go with it, uncounted
            removed += await self._remove_labels(list(dict.fromkeys(sighting_keys)), list(dict.fromkeys(tags)))
        keys = await self._still_damaged(list(dict.fromkeys(keys)))
        removed += await self._remove_many(keys) if keys else 0
        return removed + (await self._remove_under_bytes(list(dict.fromkeys(under_bytes))) if under_bytes else 0)

    async def repair_damaged(self, damaged: Iterable[DamagedCard]) -> int:
        """Mend the damaged cards ``verify()`` named whose content is whole (it hashes to the
        row's hash, written in any case, with any spaces around): their other columns are set
        to what readers already see, as ``integrity.repair_of`` says, with their tags and
        sightings kept; a card stored under its hash written otherwise is stored under its true
        hash (where no row holds that), and ``remove_damaged`` then deletes the row. A tag
        stored decomposed or with spaces around (another tool's) is attached as ``check_tag``
        stores it, so ``remove_damaged`` takes only the stored form away. How many cards and
        tags were mended."""
        self._check_loop()
        items = list(_damaged_items(damaged, "repair_damaged"))
        keys = list(dict.fromkeys(card.hash for card in items if card.part == "card" and isinstance(card.hash, str)))
        return await self._repair_cards(keys) + await self._repair_tags(items)

    async def _repair_tags(self, damaged: list[DamagedCard]) -> int:
        """Attach, as ``check_tag`` stores it, each damaged tag that is one written otherwise;
        a card removed meanwhile is left out. How many were new."""
        pairs = list(dict.fromkeys(pair for card in damaged if card.part == "tag" and (pair := _mended_tag(card))))
        while pairs:
            try:
                return await self._tag_many(pairs, True)
            except NotStoredError as exc:
                gone = set(exc.hashes)
                pairs = [pair for pair in pairs if pair[0] not in gone]
        return 0

    async def _repair_cards(self, keys: list[str]) -> int:
        """Mend the damaged cards of ``keys`` whose content is whole; how many."""
        now = to_micros(datetime.now(timezone.utc))
        repairs = [repair for row in (await self._stored_rows(keys) if keys else []) if (repair := repair_of(row, now))]
        in_place = [repair for repair in repairs if repair.in_place]
        mended = await self._repair_rows(in_place) if in_place else 0
        moved = {repair.true_hash: repair for repair in repairs if not repair.in_place}
        if moved:
            held = {row[0] for row in await self._stored_rows(list(moved))}
            cards = [repair.card() for true_hash, repair in moved.items() if true_hash not in held]
            mended += await self.save_many(cards) if cards else 0
        return mended

    async def _still_damaged(self, keys: list[str]) -> list[str]:
        """Of the damaged cards named for removal, those to delete as they are now."""
        rows = {row[0]: row for row in await self._stored_rows(keys)} if keys else {}
        if not rows:
            return keys
        now = to_micros(datetime.now(timezone.utc))
        repairs = {key: repair_of(row, now) for key, row in rows.items()}
        elsewhere = [repair.true_hash for repair in repairs.values() if repair is not None and not repair.in_place]
        whole_there = {row[0] for row in await self._stored_rows(elsewhere) if check_stored(*row) is None} if elsewhere else set()

        def to_delete(key: str) -> bool:
            if key not in rows:
                return True
            repair = repairs[key]
            if repair is None:  # sound by now, or its content is not whole
                return check_stored(*rows[key]) is not None
            return not repair.in_place and repair.true_hash in whole_there
        return [key for key in keys if to_delete(key)]
