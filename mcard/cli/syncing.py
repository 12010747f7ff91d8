"""``mcard sync SOURCE DEST``: bring the cards, sightings and tags DEST lacks over from SOURCE
(``mcard.sync``). SOURCE is opened read-only; with ``--dry-run`` DEST is too (a DEST that does
not exist yet counts as empty), and nothing is written."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import TYPE_CHECKING, Any, Final

from mcard.domain.models.exceptions import ValidationError
from mcard.domain.shown import counted
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper
from mcard.infrastructure.persistence.engine_config import EngineConfig, SQLiteConfig

from .output import emit, fail, safe
from .stores import command_config, indexed

if TYPE_CHECKING:
    from mcard.syncing import SyncResult

REPORTED: Final = 5
"""How many skipped cards the line on stderr names; stdout lists them all."""


async def cmd_sync(args: argparse.Namespace) -> int:
    from mcard.syncing import dry_run_destination, sync

    from .commands import parse_time

    if args.batch_size < 1:
        raise ValidationError("--batch-size must be at least 1")
    since = parse_time(args.since, "since")
    source_config = command_config(args.source, read_only=True)
    dest_config = command_config(args.dest, read_only=args.dry_run)
    same = ValidationError(
        f"SOURCE and DEST are the same store ({safe(args.source)}, {safe(args.dest)}): a sync copies from one store to another"
    )
    if _same_store(source_config, dest_config):
        raise same
    destination = dry_run_destination(dest_config) if args.dry_run else AsyncPersistenceWrapper(dest_config)
    async with AsyncPersistenceWrapper(source_config) as source, destination as dest:
        named = await source.store.identity()
        if named is not None and named == await dest.store.identity():  # one server reached by two URLs
            raise same
        result = await sync(
            source, dest, since=since, dry_run=args.dry_run, batch_size=args.batch_size,
            progress=sys.stderr.isatty(),
        )
        status = _reported(result, args.json)
        if not args.dry_run:
            await indexed(dest)
    return status


def _same_store(source: EngineConfig, dest: EngineConfig) -> bool:
    """Whether two configurations name one store: the same SQLite file (by any path or link), or
    the same engine URL; two URLs of one server are told once the stores are open
    (``identity``). Syncing a store into itself said "copied 0 cards", as if the two stores had
    been compared and found equal."""
    if isinstance(source, SQLiteConfig) and isinstance(dest, SQLiteConfig):
        try:
            return os.path.samefile(source.path, dest.path)
        except OSError:  # one is missing: DEST is made
            return False
    return dataclasses.replace(source, read_only=False) == dataclasses.replace(dest, read_only=False)


def _reported(result: SyncResult, as_json: bool) -> int:
    """Print what a sync did; the exit status: 1 when it skipped cards."""
    from mcard.syncing import OVERSIZED

    human = str(result) + "".join(f"\n  {safe(card.hash)}  {safe(card.reason)}" for card in result.damaged)
    emit(result.as_dict(), human, as_json)
    if result.damaged:
        named = ", ".join(card.hash for card in result.damaged[:REPORTED])
        more = len(result.damaged) - REPORTED
        oversized = result.oversized
        what = "damaged" if not oversized else OVERSIZED if oversized == len(result.damaged) else f"damaged or {OVERSIZED}"
        fail(f"skipped {counted(len(result.damaged), what + ' card')}: {named}" + (f" and {more} more" if more > 0 else ""))
        return 1
    return 0


def add_parsers(add: Any) -> None:
    cmd = add(
        "sync",
        "copy to DEST the cards, sightings and tags of SOURCE it lacks (removals are not propagated; "
        "damaged cards are skipped and reported)",
    )
    cmd.add_argument("source", metavar="SOURCE", help="SQLite file or engine URL to copy from (read-only)")
    cmd.add_argument("dest", metavar="DEST", help="SQLite file or engine URL to copy to (created when missing)")
    cmd.add_argument("--dry-run", action="store_true", help="count what would be copied, write nothing")
    cmd.add_argument("--since", metavar="TIME", help="only cards with g_time at or after TIME (ISO 8601, UTC unless an offset is given)")
    cmd.add_argument("--batch-size", type=int, default=1000, metavar="N", help="cards per transaction (default 1000)")
