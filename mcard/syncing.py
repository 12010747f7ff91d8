"""Sync between stores: bring over the cards, sightings and tags the destination lacks.

The stores are compared by hash ranges (``range_digests``): a digest of each range's hashes,
sightings (each with its ``seen_at``) and tags on both sides, descending only into ranges whose
digests differ, until they are small enough to list. So the cost follows the difference, not
the size of the stores. A sighting both hold keeps the time it was first seen: where the source
saw it earlier, the destination's ``seen_at`` is moved back to the source's (never forward), so
a sync each way leaves both with the earlier one. A range where only the destination holds
something (a card, a sighting, a tag, an earlier ``seen_at``) differs until a sync the other way,
and each sync one way looks into it again: the cost follows these differences too.

Cards are copied with their hash, content, kind, content type and ``g_time``, in batches: each
batch's cards and sightings are one transaction, the sightings of its cards both hold the next
(``add_sightings``: their contents are neither read nor sent), its tags the next. An interrupted
sync keeps the batches it committed, and a rerun finishes the rest (a range missing anything still differs)
without duplicating anything. Cards are never changed on either side, and removals are not
propagated: a card removed from one store comes back from the other at the next sync. A card
that fails verification on the source (its content no longer hashes to its hash) is reported
and never copied.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final, Optional

from mcard.domain.models.card import MCard, to_micros, to_utc
from mcard.domain.models.exceptions import HeldByDamagedError, NoCardStoreError, NotStoredError, StorageError, ValidationError
from mcard.domain.models.sighting import Sighting
from mcard.domain.numbers import positive_count
from mcard.domain.progress import checked_progress
from mcard.domain.shown import counted, human_size
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper, save_all_but_held
from mcard.infrastructure.persistence.engine_config import EngineConfig, SQLiteConfig
from mcard.infrastructure.persistence.engine.base_engine import stored_reason
from mcard.infrastructure.persistence.engine.hash_ranges import MAX_DEPTH, range_end
from mcard.infrastructure.persistence.engine.integrity import DamagedCard
from mcard.reading import readable_cards

logger = logging.getLogger(__name__)
_HEX: Final = re.compile(r"[0-9a-f]{1,128}")

NOT_HEX: Final = "the hash is not lowercase hex (a row of another tool)"
OVERSIZED: Final = "oversized"
"""How the reason of a sound card the destination cannot hold starts (``SyncResult.damaged``
lists it too: it is not copied)."""
HELD_BY_DAMAGED: Final = "DEST holds this hash damaged (other content or size): mcard verify --remove on DEST frees it"
"""Why a card is not copied whose hash a row DEST holds with other content (``HeldByDamagedError``)."""
DEFAULT_BATCH: Final = 1000
"""Cards looked at (and at most copied) per transaction."""
BATCH_BYTES: Final = 64 * 1024 * 1024
"""About the most content a batch reads: once cards are read, a batch holds fewer than
``batch_size`` of them when theirs are large (1,000 photos of 10 MB would be 10 GB)."""
PROGRESS_DELAY: Final = 1.0
"""Seconds a sync runs before its progress bar shows unless asked for (``progress=True``): a
quick sync shows none."""
FIRST_DEPTH: Final = (2, 6)
"""The first comparison's prefix length, at least and at most: as long as makes ranges of about
``GROUP_TARGET`` cards. Every later one only reads ranges found to differ, but the first reads
everything: made fine at once, it leaves little to list when differences are spread everywhere
(1% of a million cards touches every range of 4,000), while sending one row per range."""
LEAF: Final = 64
"""Ranges that differ and hold about this many cards or fewer are listed and compared hash by hash."""
GROUP_TARGET: Final = 16
"""A descent goes as deep as needed for the ranges to hold about this many cards each."""
DENSE: Final = 0.5
DENSE_LIST: Final = 16384
"""When more than half the ranges compared differ, the differences are denser than the ranges: a
finer comparison would find most of its ranges differing too, and a pass over them costs about
as much as listing their hashes (measured at 1,000,000 cards, SQLite and PostgreSQL on one
machine). Ranges of up to this many cards are then listed at once."""
LABEL_LEAF: Final = 4
"""Ranges whose cards are the same on both sides but whose sightings or tags differ (a sighting
first seen at another time) are narrowed until they hold about this many cards: each hash
listed from them costs a read of its sightings and tags on both sides, each range compared one
row of sums."""
PARENT_CHUNK: Final = 4096
"""Ranges whose digests are asked in one call."""
LIST_CHUNK: Final = 256
"""Ranges whose hashes are listed in one call."""
LISTED_ROWS: Final = 10_000
"""Rows streamed (without content) per fetch to name those that no range holds."""


@dataclass
class SyncResult:
    """What a sync did (or with ``dry_run`` would do): cards copied and the content bytes sent
    for them, cards the destination already had (also those another writer stored there
    meanwhile), sightings and tags added, sightings both had whose ``seen_at`` was moved back to
    the source's earlier one, source cards skipped as damaged (with the reason), and the time
    it took."""

    copied: int = 0
    bytes_copied: int = 0
    already_there: int = 0
    sightings_added: int = 0
    tags_added: int = 0
    seen_at_earlier: int = 0
    damaged: list[DamagedCard] = field(default_factory=list)
    seconds: float = 0.0
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "copied": self.copied, "bytes_copied": self.bytes_copied, "already_there": self.already_there,
            "sightings_added": self.sightings_added, "tags_added": self.tags_added,
            "seen_at_earlier": self.seen_at_earlier,
            "damaged": [{"hash": card.hash, "reason": card.reason} for card in self.damaged],
            "seconds": round(self.seconds, 3), "dry_run": self.dry_run,
        }

    @property
    def oversized(self) -> int:
        """How many of ``damaged`` are sound cards too large for the destination."""
        return sum(card.reason.startswith(OVERSIZED) for card in self.damaged)

    def __str__(self) -> str:
        verb = "would copy" if self.dry_run else "copied"
        text = (
            f"{verb} {counted(self.copied, 'card')} ({human_size(self.bytes_copied)}), {self.already_there:,} already stored, "
            f"{counted(self.sightings_added, 'sighting')} and {counted(self.tags_added, 'tag')} {'to add' if self.dry_run else 'added'}"
        )
        if self.seen_at_earlier:
            text += f", {counted(self.seen_at_earlier, 'sighting')} {'to date' if self.dry_run else 'dated'} earlier"
        oversized = self.oversized
        if len(self.damaged) > oversized:
            text += f", {len(self.damaged) - oversized:,} damaged skipped"
        if oversized:
            text += f", {oversized:,} {OVERSIZED} skipped"
        return text + f" in {self.seconds:.2f} s"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's display: the sentence, not the fields."""
        printer.text(str(self))


@dataclass
class _Pending:
    """Hashes found to differ, waiting for the next batch."""

    missing: list[str] = field(default_factory=list)
    common: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.missing) + len(self.common)


async def sync(
    source: AsyncPersistenceWrapper,
    dest: AsyncPersistenceWrapper,
    *,
    since: Optional[datetime] = None,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH,
    progress: Optional[bool] = None,
) -> SyncResult:
    """Copy to ``dest`` the cards of ``source`` it lacks (hash, content, content type,
    ``g_time`` kept), and the sightings and tags of ``source``'s cards that ``dest`` lacks; a
    sighting both hold gets ``source``'s ``seen_at`` in ``dest`` where that is earlier.

    ``since``: only cards with ``g_time`` at or after it. ``dry_run``: count, write nothing.
    ``batch_size`` cards per transaction, fewer when they are large (``BATCH_BYTES``);
    ``progress`` shows a bar (None: on a terminal or in a notebook only). Both stores must be
    open.
    """
    for name, store in (("source", source), ("dest", dest)):
        if not hasattr(store, "range_digests") or not hasattr(store, "save_many"):
            raise ValidationError(f"{name} must be an open card store, got {type(store).__name__}")
    batch_size = positive_count("batch_size", batch_size)
    since = None if since is None else to_utc(since, "since")
    progress = checked_progress(progress)
    from tqdm.auto import tqdm

    started = time.perf_counter()
    result = SyncResult(dry_run=dry_run)
    hidden, delay = (None, PROGRESS_DELAY) if progress is None else (not progress, 0)
    with tqdm(desc="syncing cards", unit="card", total=0, delay=delay, disable=hidden) as bar:
        copier = _Copier(source, dest, since, dry_run, result, bar)
        pending = _Pending()
        walk = _Walk() if since is None else await _timed_walk(source, since)
        not_hex = walk.not_hex
        async for prefixes, depth, labelled in _differing(source, dest, walk):
            copier.expected = walk.lacking if since is None else 0  # with since, older cards are not copied
            mine, theirs = await asyncio.gather(source.hashes_in_ranges(prefixes), dest.hashes_in_ranges(prefixes))
            there = set(theirs)
            for hash_str in mine:
                if not _HEX.fullmatch(hash_str):
                    if not hash_str.startswith(tuple(group for group in not_hex if group)):  # else reported with its start
                        copier.damaged(hash_str, None, NOT_HEX)
                elif hash_str not in there:
                    pending.missing.append(hash_str)
                else:
                    walk.found_card(hash_str)
                    if hash_str[:depth] in labelled:  # the range's sightings or tags differ
                        pending.common.append(hash_str)
            if len(pending) >= batch_size:
                await copier.batches(pending, batch_size)
                pending = _Pending()
        await copier.batches(pending, batch_size)
        bar.total = copier.found  # the cards found lacking, the first estimate aside (shown as the bar closes)
        if walk.in_ranges < walk.stored:
            await _count_past_every_range(source, not_hex)
        for group, rows in not_hex.items():  # rows of other tools, in no range of hex digits
            which = "1 stored row whose hash starts" if rows == 1 else f"{rows:,} stored rows whose hashes start"
            copier.damaged(group, None, f"{which} with {group!r}: {NOT_HEX}")
    result.already_there = max(0, result.already_there + walk.there)
    result.seconds = time.perf_counter() - started
    logger.info("sync: %s", result)
    return result


@contextlib.asynccontextmanager
async def dry_run_destination(config: EngineConfig) -> AsyncIterator[AsyncPersistenceWrapper]:
    """The store a dry run counts against: ``config``'s (opened read-only), or where none is yet
    (no file, no table, an empty database) an empty one in memory, so nothing is created."""
    store = AsyncPersistenceWrapper(replace(config, read_only=True))
    try:
        await store.initialize()
    except NoCardStoreError:
        await store.close()
        store = AsyncPersistenceWrapper(SQLiteConfig(":memory:"))
        await store.initialize()
    try:
        yield store
    finally:
        await store.close()


@dataclass
class _Walk:
    """What a walk down the ranges saw of the source: the rows whose hashes start with other
    than hex digits, by their start (``not_hex``); how many rows it holds, and how many of them
    sort where the ranges are (below ``g``)."""

    listed: Optional[list[str]] = None
    """With ``since``: the source's hashes on the smaller side of ``since`` (those in time, or
    those older), sorted, listed before any range is compared; ``in_time`` says which."""
    in_time: bool = True
    not_hex: dict[str, int] = field(default_factory=dict)
    stored: int = 0
    in_ranges: int = 0
    lacking: int = 0
    """At least how many cards DEST lacks, by the counts of the first ranges compared: what the
    progress bar counts up to from the start (the ranges below them are compared on the way)."""
    there: int = 0
    """Source cards (in time) found in DEST as they were compared: those of ranges whose digests
    are equal, and those listed on both sides. Counted as found, not from the source's count at
    the end, which another writer may have grown or shrunk since."""

    def found_range(self, prefix: str, count: int) -> None:
        """Count the ``count`` cards of the range ``prefix``, equal on both sides, as in DEST
        (with ``since``, those of them in time)."""
        if self.listed is None:
            self.there += count
            return
        start = bisect.bisect_left(self.listed, prefix)
        listed = bisect.bisect_left(self.listed, range_end(prefix), start) - start
        self.there += listed if self.in_time else count - listed

    def found_card(self, hash_str: str) -> None:
        """Count a card listed on both sides as in DEST (with ``since``, when it is in time)."""
        if self.listed is None:
            self.there += 1
            return
        at = bisect.bisect_left(self.listed, hash_str)
        self.there += int((at < len(self.listed) and self.listed[at] == hash_str) == self.in_time)


async def _timed_walk(source: AsyncPersistenceWrapper, since: datetime) -> _Walk:
    """A walk that counts the cards found in DEST that are in time: the source's hashes on the
    smaller side of ``since`` are listed without their contents (none when every card is on
    one side: a ``since`` before every card, or after)."""
    in_time, stored = await source.count(start_time=since), await source.count()
    older = stored - in_time
    listed: list[str] = []
    if min(in_time, older):
        bounds = {"start_time": since} if in_time <= older else {"end_time": since - timedelta(microseconds=1)}
        async with contextlib.aclosing(source.store.iterate_heads(LISTED_ROWS, head=0, **bounds)) as rows:
            listed = sorted([row[0] async for row in rows if isinstance(row[0], str)])
    return _Walk(listed=listed, in_time=in_time <= older)


async def _count_past_every_range(source: AsyncPersistenceWrapper, not_hex: dict[str, int]) -> None:
    """Add to ``not_hex`` the source's rows whose hashes sort after every hex hash (another
    tool's ``zzz``, ``é1``): no range holds them, so (when the ranges held fewer rows than the
    store) the rows are listed without their contents to name them by their start."""
    depth = min((len(group) for group in not_hex), default=FIRST_DEPTH[0])
    async with contextlib.aclosing(source.store.iterate_heads(LISTED_ROWS, head=0)) as rows:
        async for row in rows:
            if isinstance(row[0], str) and row[0] >= range_end(""):
                not_hex[row[0][:depth]] = not_hex.get(row[0][:depth], 0) + 1


async def _differing(
    source: AsyncPersistenceWrapper, dest: AsyncPersistenceWrapper, walk: _Walk
) -> AsyncIterator[tuple[list[str], int, set[str]]]:
    """Chunks of the smallest ranges found to differ where ``source`` holds cards, with their
    prefix length and those of them whose sightings or tags differ. The first characters of
    source hashes that are not hex go to ``walk.not_hex``, with how many rows share them."""
    walk.stored, theirs_stored = await asyncio.gather(source.count(), dest.count())
    most = max(walk.stored, theirs_stored)
    fine = round(math.log(max(most, 1) / GROUP_TARGET, 16)) if most > GROUP_TARGET else 0
    parents, depth = [""], min(max(fine, FIRST_DEPTH[0]), FIRST_DEPTH[1])
    depth_first = True
    while parents:
        differing: list[str] = []
        labelled: set[str] = set()
        same_cards: dict[str, int] = {}  # ranges whose labels alone differ, with their card counts
        cards = compared = 0
        for chunk in _chunks(parents, PARENT_CHUNK):
            mine, theirs = await asyncio.gather(source.range_digests(chunk, depth), dest.range_digests(chunk, depth))
            compared += len(mine)
            if parents == [""]:
                walk.in_ranges = sum(digest.count for digest in mine.values())
            for group, digest in sorted(mine.items()):
                if not _HEX.fullmatch(group):  # only rows of other tools, whose hashes are not hex
                    walk.not_hex[group] = digest.count
                    continue
                other = theirs.get(group)
                if digest == other:
                    walk.found_range(group, digest.count)
                else:
                    differing.append(group)
                    if depth_first:
                        walk.lacking += max(0, digest.count - (other.count if other is not None else 0))
                    cards += max(digest.count, other.count if other is not None else 0)
                    if other is None or digest.labels != other.labels:
                        labelled.add(group)
                    if other is not None and (digest.count, digest.cards) == (other.count, other.cards):
                        same_cards[group] = digest.count
        depth_first = False
        if not differing:
            return
        average = cards / len(differing)
        dense = len(differing) > DENSE * compared and average <= DENSE_LIST
        if average <= LEAF or dense or depth >= MAX_DEPTH:
            narrow = sum(same_cards.values()) > LABEL_LEAF * len(same_cards) and depth < MAX_DEPTH
            listed = [group for group in differing if not (narrow and group in same_cards)]
            for chunk in _chunks(listed, LIST_CHUNK):
                yield chunk, depth, labelled.intersection(chunk)
            if not narrow:
                return
            parents = sorted(same_cards)
            average = sum(same_cards.values()) / len(same_cards)
            depth = min(MAX_DEPTH, depth + max(1, round(math.log(average / LABEL_LEAF, 16))))
            continue
        parents = differing
        depth = min(MAX_DEPTH, depth + max(1, math.floor(math.log(average / GROUP_TARGET, 16))))


class _Copier:
    """Copies batches of differing hashes from ``source`` to ``dest``."""

    def __init__(
        self, source: AsyncPersistenceWrapper, dest: AsyncPersistenceWrapper, since: Optional[datetime],
        dry_run: bool, result: SyncResult, bar: Any,
    ) -> None:
        self.source, self.dest, self.since, self.dry_run = source, dest, since, dry_run
        self.result, self.bar = result, bar
        self.limit: Optional[int] = getattr(getattr(dest, "config", None), "max_content_size", None)
        self.too_large: Optional[dict[str, tuple[Any, Any]]] = None  # listed at the first read
        self.batch_count = self.cards_read = self.bytes_read = 0
        self.found = self.expected = 0  # cards found lacking so far; how many at least, from the start

    async def batches(self, pending: _Pending, size: int) -> None:
        """Copy ``pending`` ``size`` hashes at a time (fewer while the cards read so far were
        large: ``BATCH_BYTES``; one in the first batch, to learn how large they are)."""
        hashes = [(h, True) for h in pending.missing] + [(h, False) for h in pending.common]
        self.found += len(pending.missing)
        self.bar.total = max(self.found, self.expected)  # the bar counts to all it will copy, not to what is found so far
        start = 0
        while start < len(hashes):
            wanted = size if not self.bytes_read else max(1, min(size, BATCH_BYTES * self.cards_read // self.bytes_read))
            chunk = hashes[start:start + (wanted if self.batch_count else 1)]
            start += len(chunk)
            self.batch_count += 1
            await self._batch([h for h, new in chunk if new], [h for h, new in chunk if not new])

    async def _batch(self, missing: list[str], common: list[str]) -> None:
        source, dest = self.source, self.dest
        seen_here, tags_here = await _labels(source, missing + common)
        seen_there, tags_there = await _labels(dest, common)
        there = set(common)
        new_seen: dict[str, list[Sighting]] = {}
        earlier: dict[str, int] = {}  # sightings dest holds, first seen later there, by hash
        new_tags: list[tuple[str, str]] = []
        for hash_str in missing + common:
            seen_at = {s.key: s.seen_at for s in seen_there.get(hash_str, [])}
            fresh: list[Sighting] = []
            for seen in seen_here.get(hash_str, []):
                key = seen.key
                if key not in seen_at or seen.seen_at < seen_at[key]:
                    fresh.append(seen)
                    earlier[hash_str] = earlier.get(hash_str, 0) + (key in seen_at)
            if fresh:
                new_seen[hash_str] = fresh
            tagged = set(tags_there.get(hash_str, []))
            new_tags.extend((hash_str, tag) for tag in tags_here.get(hash_str, []) if tag not in tagged)
        tagged_common = {h for h, _ in new_tags} if self.since is not None else set()
        timed = self.since is not None  # a common card's time is known only from its row: read it
        wanted = missing + [h for h in common if timed and (h in new_seen or h in tagged_common)]
        cards, damaged = await self._read(wanted)
        in_time = {h: card for h, card in cards.items() if self.since is None or card.g_time >= self.since}
        kept = set(in_time) | (set() if timed else there)
        copied = [in_time[h] for h in missing if h in in_time]
        new = len(copied)
        with_cards = [s for h in missing if h in in_time for s in new_seen.get(h, [])]
        seen = [s for h in common if h in kept for s in new_seen.get(h, [])]
        dated = sum(count for h, count in earlier.items() if h in kept)
        recorded = len(with_cards) + len(seen) - dated
        pairs = [(h, tag) for h, tag in new_tags if h in kept]
        held: set[str] = set()
        if not self.dry_run:
            if copied:  # another writer may have stored some of them since they were listed
                (new, recorded), held = await save_all_but_held(dest, copied, with_cards)
            else:
                recorded = 0
            added, dated, gone, restored = await self._add_sightings(seen, seen_here)
            recorded += added
            if held:
                for hash_str in held:
                    self.damaged(hash_str, None, HELD_BY_DAMAGED)
                copied = [card for card in copied if card.hash not in held]
            self.result.already_there += len(copied) - new  # stored by another writer since they were listed
            pairs = [(h, tag) for h, tag in pairs if h not in held | gone | restored]
            pairs += [(h, tag) for h in sorted(restored) for tag in tags_here.get(h, [])]
            self.result.tags_added += await self._tag(pairs, there, seen_here, tags_here)
        else:
            self.result.tags_added += len(pairs)
        self.result.copied += new
        if new:  # another writer may have stored some (then their bytes are counted here too) or all
            self.result.bytes_copied += sum(card.size for card in copied)
        self.result.sightings_added += recorded
        self.result.seen_at_earlier += dated
        self.bar.update(len(copied))

    async def _add_sightings(
        self, seen: list[Sighting], source_seen: dict[str, list[Sighting]]
    ) -> tuple[int, int, set[str], set[str]]:
        """``add_sightings`` of cards both hold, without their content: how many were new and
        dated earlier, the hashes whose sightings were dropped, and those copied again. A card
        another writer removed from dest since it was listed is copied again whole
        (``_copy_again``: a sighting is never left without its card); one that cannot be
        (damaged), or that dest holds damaged, loses its sightings."""
        added = dated = 0
        dropped: set[str] = set()
        restored: set[str] = set()
        while seen:
            try:
                done = await self.dest.add_sightings(seen)
                return added + done.added, dated + done.earlier, dropped, restored
            except HeldByDamagedError as error:  # recorded on a forgery, they would name it
                if error.hash not in {s.hash for s in seen}:
                    raise
                self.damaged(error.hash, None, HELD_BY_DAMAGED)
                dropped.add(error.hash)
                seen = [s for s in seen if s.hash != error.hash]
                continue
            except NotStoredError as error:
                gone = set(error.hashes).intersection(s.hash for s in seen)
                if not gone:
                    raise
            recorded, copied = await self._copy_again(gone, source_seen)
            added += recorded
            restored |= copied
            dropped |= gone - copied
            seen = [s for s in seen if s.hash not in gone]
        return added, dated, dropped, restored

    async def _copy_again(self, gone: set[str], source_seen: dict[str, list[Sighting]]) -> tuple[int, set[str]]:
        """Copy again the cards of ``gone``, found in dest when listed but removed from it since
        by another writer, with every sighting ``source_seen`` holds of them: only the sightings
        and tags dest lacked were to be written, and with those alone the card came back with
        part of its labels (its tags all go too, ``_tag``). How many sightings were recorded, and
        the hashes copied; one that cannot be (damaged there or here) is reported."""
        cards, damaged = await self._read(sorted(gone))
        seen = [s for h in cards for s in source_seen.get(h, [])]
        (new, recorded), held = await save_all_but_held(self.dest, list(cards.values()), seen)
        for hash_str in held:
            self.damaged(hash_str, None, HELD_BY_DAMAGED)
        self.result.copied += new
        if new:
            self.result.bytes_copied += sum(card.size for card in cards.values() if card.hash not in held)
        self.result.already_there -= new + len(damaged | held)  # found there when listed, but gone
        return recorded, set(cards) - held

    async def _tag(
        self, pairs: list[tuple[str, str]], listed: set[str], source_seen: dict[str, list[Sighting]],
        source_tags: dict[str, list[str]],
    ) -> int:
        """``tag_many`` of ``pairs`` in dest. A card of ``listed`` (found in dest when listed)
        that another writer removed from dest since is copied again whole, with all its
        sightings and tags; the tags of one this sync copied, removed since, are left out (the
        card went whole, and the next sync copies it back), and so are those of a card dest
        holds damaged (reported)."""
        while pairs:
            try:
                return await self.dest.tag_many(pairs)
            except HeldByDamagedError as error:  # put on a forgery, they would label it
                if error.hash not in {h for h, _ in pairs}:
                    raise
                self.damaged(error.hash, None, HELD_BY_DAMAGED)
                pairs = [(h, tag) for h, tag in pairs if h != error.hash]
                continue
            except NotStoredError as error:
                gone = set(error.hashes).intersection(h for h, _ in pairs)
                if not gone:
                    raise
            recorded, copied = await self._copy_again(gone & listed, source_seen) if gone & listed else (0, set())
            self.result.sightings_added += recorded
            pairs = [(h, tag) for h, tag in pairs if h not in gone]
            pairs += [(h, tag) for h in sorted(copied) for tag in source_tags.get(h, [])]
        return 0

    async def _read(self, hashes: Sequence[str]) -> tuple[dict[str, MCard], set[str]]:
        """The source's cards among ``hashes`` that pass verification and fit in dest, and the
        hashes of those that do not (reported in the result, unless older than ``since``): one
        over dest's limit by its stored size is not read."""
        if not hashes:
            return {}, set()
        damaged_before = {card.hash for card in self.result.damaged}
        too_large = await self._too_large()
        for hash_str in (h for h in hashes if h in too_large):
            size, micros = too_large[hash_str]
            if self.since is None or not isinstance(micros, int) or micros >= to_micros(self.since):
                self.damaged(hash_str, None, self._oversized(size))
        found, unreadable = await readable_cards(self.source, [h for h in hashes if h not in too_large])
        for hash_str, reason in unreadable.items():
            self.damaged(hash_str, None, reason)
        good: dict[str, MCard] = {}
        for hash_str, card in found.items():
            reason = stored_reason(card)
            if reason is None and self.limit is not None and card.size > self.limit:  # stored since the listing
                reason = self._oversized(card.size)
            if reason is None:
                good[hash_str] = card
            else:
                self.damaged(hash_str, card, reason)
        self.cards_read += len(good)
        self.bytes_read += sum(card.size for card in good.values())
        return good, {card.hash for card in self.result.damaged} - damaged_before

    async def _too_large(self) -> dict[str, tuple[Any, Any]]:
        """The source's cards over DEST's limit, by hash, with their stored size and ``g_time``
        (microseconds): listed once without their contents, so that such a card is skipped by
        its size, not read whole (and hashed) at every sync only to be skipped."""
        if self.too_large is None:
            self.too_large = {}
            if self.limit is not None:
                listed = self.source.store.iterate_heads(LISTED_ROWS, head=0, min_size=self.limit + 1)
                async with contextlib.aclosing(listed) as rows:
                    async for row in rows:
                        self.too_large[row[0]] = (row[5], row[3])
        return self.too_large

    def _oversized(self, size: int) -> str:
        return f"{OVERSIZED}: {size} B, over the destination's limit of {self.limit} B"

    def damaged(self, hash_str: str, card: Optional[MCard], reason: str) -> None:
        if self.since is not None and card is not None:
            try:
                if card.g_time < self.since:
                    return
            except StorageError:  # a time no card can have
                pass
        logger.warning("sync: skipped damaged card %s: %s", hash_str, reason)
        self.result.damaged.append(DamagedCard(hash_str, reason))


async def _labels(
    store: AsyncPersistenceWrapper, hashes: list[str]
) -> tuple[dict[str, list[Sighting]], dict[str, list[str]]]:
    if not hashes:
        return {}, {}
    return await store.sightings_of(hashes), await store.tags_of(hashes)


def _chunks(items: Sequence[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])
