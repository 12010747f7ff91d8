"""``mcard tag``, ``mcard untag`` and ``mcard info``: what is known about a card beside its
content (its sightings and tags), and the names and tags every listing shows."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

from mcard.domain.models.card import MCard, is_digest
from mcard.domain.models.exceptions import ValidationError
from mcard.domain.shown import counted
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper
from mcard.infrastructure.persistence.engine.base_engine import check_prefix
from mcard.records import sighting_record
from mcard.unmatched import unknown_tags

from .output import emit, note, safe, table, tag_list
from .resolving import HASH_HELP, NotFound, card_named, listed_hashes, no_card
from .stores import existing_store, reading_store


async def labels_of(store: AsyncPersistenceWrapper, cards: Sequence[MCard]) -> list[dict[str, Any]]:
    """For each card, the ``name`` and ``tags`` a listing prints with it (two calls in all).
    A row another tool wrote with a hash that is no digest has neither (and cannot be asked)."""
    hashes = [card.hash for card in cards if is_digest(card.hash, card.hash_algorithm)]
    names, tags = await store.names_of(hashes), await store.tags_of(hashes)
    return [{"name": names.get(card.hash), "tags": tags.get(card.hash, [])} for card in cards]


async def cmd_tag(args: argparse.Namespace) -> int:
    if args.hash == "-":
        return await _tag_listed(args)
    check_prefix(args.hash)
    async with existing_store(args) as store:
        card = await card_named(store, args.hash)
        async with _removed_meanwhile(store, [card.hash]):
            changed = await (store.tag if args.command == "tag" else store.untag)(card.hash, *args.tags)
        tags = await store.tags(card.hash)
    verb = "added" if args.command == "tag" else "removed"
    emit({"hash": card.hash, verb: changed, "tags": tags},
         f"{safe(card.hash[:12])}: {changed} {verb}; tags now: {tag_list(tags)}", args.json)
    return 0


async def _tag_listed(args: argparse.Namespace) -> int:
    """``tag -`` and ``untag -``: the cards whose hashes (or unique prefixes) standard input
    lists, one a line, all in one transaction: a script tags thousands at once, where a call
    per card pays for opening the store each time (~0.1 s)."""
    typed = listed_hashes(sys.stdin.read())
    for given in typed:
        check_prefix(given)
    done = f"{args.command}ged"
    untouched = f"; no card was {done}: the cards listed are {done} all together or not at all"
    async with existing_store(args) as store:
        whole = [given for given in typed if is_digest(given, store.config.hash_algorithm)]
        stored = await store.get_many(whole) if whole else {}
        missing = [given for given in whole if given not in stored]
        if missing:
            raise no_card(missing, untouched)
        try:
            hashes = [given if given in stored else (await card_named(store, given)).hash for given in typed]
        except NotFound as exc:
            raise NotFound(f"{exc}{untouched}") from None
        pairs = [(key, tag) for key in dict.fromkeys(hashes) for tag in args.tags]
        async with _removed_meanwhile(store, hashes, untouched):
            changed = await (store.tag_many if args.command == "tag" else store.untag_many)(pairs)
    cards = len(set(hashes))
    verb = "added" if args.command == "tag" else "removed"
    emit({"cards": cards, verb: changed}, f"{counted(cards, 'card')}: {changed} {verb}", args.json)
    return 0


@contextlib.asynccontextmanager
async def _removed_meanwhile(store: AsyncPersistenceWrapper, hashes: Sequence[str], untouched: str = "") -> AsyncIterator[None]:
    """A tag refused because a card found a moment before was removed meanwhile (another
    process): that card is not found (status 1), as when it was gone before, not bad input;
    ``untouched`` ends the message (what was not done)."""
    try:
        yield
    except ValidationError:
        stored = await store.get_many(list(dict.fromkeys(hashes)))
        missing = [key for key in dict.fromkeys(hashes) if key not in stored]
        if missing:
            raise no_card(missing, f": removed while it was being tagged{untouched}") from None
        raise


async def cmd_info(args: argparse.Namespace) -> int:
    check_prefix(args.hash)
    async with reading_store(args) as store:
        card = await card_named(store, args.hash)
        sightings, tags = await store.sightings(card.hash), await store.tags(card.hash)
        [labels] = await labels_of(store, [card])
    data = {"hash": card.hash, "g_time": card.g_time_text, "size": card.size, "kind": card.kind,
            "content_type": card.content_type, "hash_algorithm": card.hash_algorithm, "name": labels["name"],
            "tags": tags, "sightings": [sighting_record(seen) for seen in sightings]}
    fields = [f"{key}: {safe('(none)' if value is None else value)}"
              for key, value in data.items() if key not in ("tags", "sightings")]
    # with the file's mtime: a file imported again after it was touched or restored is a sighting of its own
    seen_rows = [[s["seen_at"], s["name"] or "", s["path"] or "", s["mtime"] or "", s["source"] or ""]
                 for s in data["sightings"]]
    seen_table = table(["SEEN_AT", "NAME", "PATH", "MTIME", "SOURCE"], seen_rows)
    human = "\n".join([*fields, f"tags: {tag_list(tags)}",
                       f"sightings: {len(sightings)}" + (f"\n{seen_table}" if seen_rows else "")])
    emit(data, human, args.json)
    return 0


def add_parsers(add: Any) -> None:
    for name, help in (("tag", "attach tags to a card"), ("untag", "detach tags from a card")):
        cmd = add(name, help)
        cmd.add_argument("hash", help=f"{HASH_HELP}; - reads them from standard input, one a line (all in one transaction)")
        cmd.add_argument("tags", nargs="+", metavar="TAG", help="1 to 200 characters, no control characters")
    cmd = add("info", "a card's fields, tags and sightings (every name and path it was seen under)")
    cmd.add_argument("hash", help=HASH_HELP)


async def note_unknown_tags(store: AsyncPersistenceWrapper, tags: Sequence[str]) -> bool:
    """``unknown_tags`` on stderr (``ls --tag``, ``export --tag``); whether there were any."""
    lines = await unknown_tags(store, tags)
    for line in lines:
        note(line)
    return bool(lines)
