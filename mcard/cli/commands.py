"""The command line's commands: each opens the store, does one thing, prints the outcome.

Commands that only read (``ls``, ``show``, ``search``, ``find``, ``facets``, ``stats``, ``verify``, ``export``) open
the store read-only, so they never create or change a file, a table or a schema. Data goes
to stdout, notes and errors to stderr; ``-`` names standard input or output.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
import stat
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Final, Optional

from mcard.domain.models.card import MCard, format_time, to_utc
from mcard.domain.models.exceptions import MCardError, StorageError, ValidationError
from mcard.domain.query import DEFAULT_ORDER
from mcard.domain.query.filters import is_glob
from mcard.domain.query.syntax import NOT_ISO, parse_iso
from mcard.domain.query.text import text_of
from mcard.domain.shown import counted, holds_unsafe_in_lines, human_size, quoted, shown_in_lines
from mcard.exporting import ExportResult, content_refusal, export, format_for, not_the_store, write_file
from mcard.importing import (
    LINKED_FOLDER,
    STDIN_NAME,
    TOO_LARGE,
    ImportSummary,
    SkippedFile,
    card_from_file_bytes,
    check_first_record,
    checked_tags,
    import_paths,
    import_records,
    import_stream,
    left_out,
    read_at_most,
    records_format,
)
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper
from mcard.infrastructure.persistence.engine.base_engine import check_prefix
from mcard.infrastructure.persistence.engine.integrity import VerifyReport
from mcard.unmatched import unknown_tags

from .lab import cmd_lab
from .labelling import cmd_info, cmd_tag, labels_of, note_unknown_tags
from .querying import cmd_facets, cmd_find, cmd_search, limit_of, next_page, offset_of
from .output import HEAD_BYTES, CardPrinter, emit, fail, listed_card, note, safe, table
from .resolving import card_named, listed_hashes, no_card
from .syncing import cmd_sync
from .stores import existing_store, indexed, reading_store, writing_store

STDIO: Final = "-"
LIST_FETCH: Final = 256
"""Rows ``ls --limit 0`` reads and labels at a time: it streams their heads, no content whole."""
REFUSED_NAMED: Final = 5
"""How many refused cards the line on stderr names; stdout lists them all."""


def parse_time(text: Optional[str], name: str, *, end_of_day: bool = False) -> Optional[datetime]:
    """ISO 8601; no offset means UTC. A date alone means its first instant, or with
    ``end_of_day`` its last (``--until 2026-01-31`` includes all of the 31st)."""
    if text is None:
        return None
    try:
        moment = parse_iso(text, end_of_day=end_of_day)
    except ValidationError as exc:
        if str(exc) == NOT_ISO:
            raise ValidationError(f"--{name}: not an ISO 8601 time or date: {quoted(text)}") from None
        raise ValidationError(f"--{name} {quoted(text)}: {exc}") from None
    return to_utc(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc), f"--{name}")


def _time_range(args: argparse.Namespace) -> tuple[Optional[datetime], Optional[datetime]]:
    """``--since`` and ``--until``; a range that holds no time is refused, as ``size:50..10`` is."""
    since, until = parse_time(args.since, "since"), parse_time(args.until, "until", end_of_day=True)
    if since is not None and until is not None and since > until:
        raise ValidationError(f"--since {quoted(args.since)} is after --until {quoted(args.until)}: no card can be in between")
    return since, until


def _one_stdin(names: list[str]) -> None:
    if names.count(STDIO) > 1:
        raise ValidationError("standard input (-) can be named only once")


def is_terminal(destination: str) -> bool:
    """Whether the path ``destination`` names a terminal (``/dev/tty``, ``/dev/pts/3``): it
    obeys the control characters written to it, as standard output on a terminal does."""
    try:
        if not stat.S_ISCHR(os.stat(destination).st_mode):
            return False
        device = os.open(destination, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return os.isatty(device)
    finally:
        os.close(device)


def is_stdout(destination: str) -> bool:
    """Whether ``destination`` is standard output: ``-``, or a path to the same file
    (``/dev/stdout``, or the file stdout is redirected to)."""
    if destination == STDIO:
        return True
    try:
        return os.path.samestat(os.stat(destination), os.fstat(sys.stdout.fileno()))
    except (OSError, ValueError):
        return False


def check_named_paths(paths: list[str], records: bool, include: Sequence[str] = (), exclude: Sequence[str] = ()) -> None:
    """Every path named on the command line must be there and readable: a regular file, or a
    folder (not for records); a file or folder that ``include`` and ``exclude`` leave out is
    never read, so it need only be there. ``OSError`` or ``ValidationError`` otherwise, before
    anything is stored."""
    for name in paths:
        mode = os.stat(name).st_mode  # missing, a symlink loop, a folder on the way not searchable
        folder = stat.S_ISDIR(mode) and not records
        if not records and left_out(name, folder, include, exclude):
            continue
        if folder:
            os.scandir(name).close()
        elif stat.S_ISREG(mode):
            open(name, "rb").close()
        elif records and stat.S_ISDIR(mode):  # an export to a folder holds files, no records
            raise ValidationError(f"{name}: a folder, not a file of records (a folder export is imported as files: mcard import FOLDER)")
        else:
            raise ValidationError(f"{name}: not a regular file" + ("" if records else " or a folder"))


def too_large_note(skipped: int, limit: int) -> str:
    """What to do about files over the store's size limit, which an import skips (a limit of the
    store, so it says how to open the store with a larger one)."""
    return (
        f"{counted(skipped, 'file')} over the store's limit of {human_size(limit)} ({limit:,} bytes) skipped;"
        " a larger limit: ?max_content_size=BYTES in a --db URL (sqlite:///cards.db?max_content_size=104857600)"
    )


SKIPS_NAMED: Final = 50
"""The most skipped files an import names on stderr, one a line (``--json`` lists them all)."""


def named_skips(files: Sequence[SkippedFile]) -> None:
    """Name on stderr the files an import skipped for a reason their user may act on (unreadable,
    too large, removed...), so that a count such as "2 unreadable" can be followed up."""
    for file in files[:SKIPS_NAMED]:
        note(f"skipped ({file.reason}): {file.path}")
    if len(files) > SKIPS_NAMED:
        note(f"and {len(files) - SKIPS_NAMED:,} more files skipped so: import --json lists them all (skipped_files)")


def _found(summary: ImportSummary) -> int:
    """How many files the filters took: stored or skipped, links to folders aside (they are
    counted whatever the patterns, as they are not followed)."""
    return summary.files + sum(count for reason, count in summary.skipped.items() if reason != LINKED_FOLDER)


def _none_taken(include: Sequence[str], exclude: Sequence[str]) -> str:
    """Why an import with ``--include`` took no file: a summary of 0 cards alone left a user to
    guess whether the folder was empty or the pattern wrong."""
    def listed(option: str, patterns: Sequence[str]) -> str:
        return " or ".join(f"{option} {quoted(pattern)}" for pattern in patterns)

    unless = f" without matching {listed('--exclude', exclude)}" if exclude else ""
    return (
        f"no file taken: none found matches {listed('--include', include)}{unless} (a pattern is case-sensitive;"
        " a path in one starts at the folder named: **/ for any folders)"
    )


async def cmd_import(args: argparse.Namespace) -> int:
    _one_stdin(args.paths)
    if args.format and not args.records:
        raise ValidationError("--format is for --records")
    tags = checked_tags(args.tag)
    files = [path for path in args.paths if path != STDIO]
    check_named_paths(files, args.records, args.include, args.exclude)
    for path in args.paths if args.records else ():  # a format refused fails before the store is made
        try:
            records_format(sys.stdin.buffer if path == STDIO else path, args.format)
        except ValidationError as exc:
            raise ValidationError(f"{STDIN_NAME if path == STDIO else path}: {exc}") from None
    store = writing_store(args)
    for path in files if args.records else ():  # a file that is no export fails before the store is made
        await asyncio.to_thread(check_first_record, path, args.format, store.config.max_content_size)
    async with store:
        summary = ImportSummary()
        if args.records:
            for path in args.paths:
                source = sys.stdin.buffer if path == STDIO else path
                summary.merge(await import_records(store, source, format=args.format, tags=tags))
        else:
            if STDIO in args.paths:
                summary.merge(await import_stream(store, sys.stdin.buffer, tags=tags))
            if files:
                summary.merge(await import_paths(store, files, include=args.include, exclude=args.exclude, tags=tags))
        emit(summary.as_dict(), str(summary), args.json)
        named_skips(summary.skipped_files)
        if files and args.include and not _found(summary):
            note(_none_taken(args.include, args.exclude))
        if summary.skipped.get(TOO_LARGE):
            note(too_large_note(summary.skipped[TOO_LARGE], store.config.max_content_size))
        await indexed(store)
    return 0


def _stdin_content(stream: BinaryIO, max_size: int) -> str | bytes:
    data = read_at_most(stream, max_size)
    if not data:
        raise ValidationError("standard input is empty: nothing to add")
    if len(data) > max_size:
        raise ValidationError(f"standard input holds more than the largest card ({max_size} bytes)")
    return card_from_file_bytes(data).content


async def cmd_add(args: argparse.Namespace) -> int:
    """Store each TEXT as a text card (``-``: standard input, text when UTF-8, else bytes);
    print each card's hash, or its record with ``--json``. Every TEXT is checked before the
    store is opened, so a bad one stores nothing."""
    _one_stdin(args.texts)
    store = writing_store(args)
    max_size = store.config.max_content_size
    contents = [
        await asyncio.to_thread(_stdin_content, sys.stdin.buffer, max_size) if text == STDIO else text
        for text in args.texts
    ]
    for number, content in enumerate(contents, 1):
        _check_text(number, content, max_size)
    async with store:
        added = [await store.add(content) for content in contents]
        await indexed(store)
    if args.json:
        with CardPrinter("json") as printer:
            for card, new in added:
                printer.add(card, new=new)
    else:
        print("\n".join(safe(card.hash) for card, _ in added))
    paths = [text for text in args.texts if text != STDIO and _names_a_file(text)]
    if paths:
        note(f"stored {quoted(paths[0])}{' and others' if len(paths) > 1 else ''} as text, not the file it names:"
             f" mcard import {quoted(paths[0])} stores a file")
    return 0


def _names_a_file(text: str) -> bool:
    """Whether a TEXT of ``add`` is the path of a file (the user may have meant ``import``)."""
    try:
        return len(text) < 4096 and "\n" not in text and Path(text).is_file()
    except (OSError, ValueError):
        return False


_NOT_UTF8: Final = re.compile("[\udc80-\udcff]")
"""What a byte of an argument that is not UTF-8 becomes (Python's ``surrogateescape``)."""


def _check_text(number: int, content: str | bytes, max_size: int) -> None:
    """Refuse the ``number``-th TEXT of ``add`` as a card's content, naming it among the others."""
    if not content:
        raise ValidationError(f"TEXT {number} is empty: a card's content must not be empty")
    if isinstance(content, str) and _NOT_UTF8.search(content):  # bytes the system could not decode
        raise ValidationError(f"TEXT {number} is not UTF-8 (another encoding?): {quoted(content)}; mcard add - stores"
                              " standard input as it is")
    if MCard(content).size > max_size:
        raise ValidationError(f"a card holds at most {max_size} bytes; TEXT {number} has more")


def card_filters(args: argparse.Namespace) -> dict[str, object]:
    """The filters of ``--tag``, ``--type`` and ``--name`` (``ls``, ``export``), for ``list``."""
    return {"tag": args.tag or None, "content_type": args.type, "name": args.name}


async def cmd_ls(args: argparse.Namespace) -> int:
    limit, offset = limit_of(args.limit), offset_of(args.offset)
    since, until = _time_range(args)
    more, shown = False, 0
    filters = card_filters(args)
    async with reading_store(args) as store:
        with CardPrinter(args.output_format) as printer:

            async def show(cards: list[MCard]) -> None:
                nonlocal shown
                shown += len(cards)
                for card, labels in zip(cards, await labels_of(store, cards)):
                    printer.add(card, **labels)

            if limit is None and args.order in (None, DEFAULT_ORDER):
                batch: list[MCard] = []
                async for row in store.store.iterate_heads(LIST_FETCH, since, until, head=HEAD_BYTES, **filters):
                    if offset:
                        offset -= 1
                        continue
                    batch.append(listed_card(row))
                    if len(batch) == LIST_FETCH:
                        await show(batch)
                        batch = []
                await show(batch)
            else:  # in another order, every row at once, as find does: only their heads are read
                rows = await store.store.list_heads(None if limit is None else limit + 1, offset, since, until,
                                                    order=args.order or DEFAULT_ORDER, head=HEAD_BYTES, **filters)
                await show([listed_card(row) for row in rows[:limit]])
                more = limit is not None and len(rows) > limit
        said = not shown and bool(args.tag) and await note_unknown_tags(store, args.tag)
        if not shown and args.name and not is_glob(args.name) and not args.offset:
            said = await _note_names_holding(store, args.name, since, until, filters) or said
    if more:
        note(f"stopped at --limit {limit}; {next_page(limit, offset)}")
    elif not shown and args.offset:
        note(f"no card past --offset {args.offset:,}")
    elif not shown and not said and (typed := _typed_filters(args)):  # said nothing, where find says no card matches
        note(f"no card matches {typed}")
    return 0


def _typed_filters(args: argparse.Namespace) -> str:
    """The filters of ``ls`` as they were typed, "" for none."""
    given = [("--tag", tag) for tag in args.tag or []] + [
        (option, value) for option, value in (("--type", args.type), ("--name", args.name), ("--since", args.since),
                                              ("--until", args.until)) if value is not None]
    return " ".join(f"{option} {quoted(value)}" for option, value in given)


async def _note_names_holding(
    store: AsyncPersistenceWrapper, name: str, since: Optional[datetime], until: Optional[datetime], filters: dict[str, object]
) -> bool:
    """Say how many cards a name holding ``name`` would list (whether it said so): ``--name`` without a wildcard is a
    whole name, and ``ls --name hello`` listed nothing and said nothing (``find name:hello`` says
    as much)."""
    holding = await store.count(since, until, **{**filters, "name": f"*{name}*"})
    if holding:
        wider = shlex.quote(f"*{name}*")
        note(f"no card is named {quoted(name)}: --name matches whole names; --name {wider} finds {counted(holding, 'card')}")
    return bool(holding)


async def cmd_show(args: argparse.Namespace) -> int:
    check_prefix(args.hash)
    to_file = args.output is not None and not is_stdout(args.output) and not is_terminal(args.output)
    async with reading_store(args) as store:
        card = await card_named(store, args.hash)
        if to_file:
            await asyncio.to_thread(not_the_store, store, Path(args.output))
    damaged = await asyncio.to_thread(content_refusal, card)  # re-hashed: a row another tool changed
    if damaged is not None:
        raise StorageError(f"card {card.hash}: {damaged}; nothing shown (mcard verify lists them all)")
    if to_file:
        await asyncio.to_thread(write_file, Path(args.output), card.content_bytes)
    elif args.output is not None and not is_stdout(args.output):  # a terminal named by its path
        await asyncio.to_thread(write_file, Path(args.output), for_terminal(card))
    else:
        as_is = args.output is not None or not sys.stdout.isatty()
        sys.stdout.buffer.write(card.content_bytes if as_is else for_terminal(card))
        sys.stdout.flush()
    return 0


def for_terminal(card: MCard) -> bytes:
    """A card's content for ``show`` on a terminal, which obeys the control characters it
    is sent (ESC ] 52 writes the clipboard, ESC ] 0 the window's title, a CR overwrites the
    line): text with them written as escapes (line ends kept), and a note saying so; bytes
    that are not text are refused. ``-o -`` writes the content as it is."""
    text = text_of(card.content)
    if text is None:
        raise ValidationError(
            f"card {card.hash[:12]} is bytes ({card.content_type}), not text, and a terminal would take them for"
            " commands: -o FILE writes them to a file, -o - to standard output anyway"
        )
    lines = text.split("\r\n")
    if not any(map(holds_unsafe_in_lines, lines)):
        return card.content_bytes
    note(f"card {card.hash[:12]}: control characters shown as escapes (\\x1b) on a terminal; -o - writes them as they are")
    return "\r\n".join(shown_in_lines(line) for line in lines).encode("utf-8")


async def cmd_rm(args: argparse.Namespace) -> int:
    hashes = args.hashes
    if STDIO in hashes:  # the hashes a pipeline lists (ls --nl | jq -r .hash | mcard rm -), as tag - reads them
        if len(hashes) > 1:
            raise ValidationError("rm - reads the hashes from standard input, one a line: name no other")
        hashes = listed_hashes(sys.stdin.read())
    prefixes = dict.fromkeys(check_prefix(typed) for typed in hashes)  # in any case: one prefix
    async with existing_store(args) as store:
        resolved = {prefix: await store.resolve(prefix) for prefix in prefixes}
        named = list(dict.fromkeys(full for full in resolved.values() if full is not None))  # a card named twice is one
        removed = [full for full in named if await store.remove(full)]
    gone = set(removed)
    missing = [prefix for prefix, full in resolved.items() if full not in gone]
    asked = len(named) + sum(full is None for full in resolved.values())
    emit({"removed": removed, "not_found": missing}, f"removed {len(removed):,} of {asked:,}", args.json)
    if missing:
        raise no_card(missing)
    return 0


async def cmd_stats(args: argparse.Namespace) -> int:
    async with reading_store(args) as store:
        stats = await store.stats()
    first = format_time(stats.first) if stats.first else None
    last = format_time(stats.last) if stats.last else None
    data = {
        "count": stats.count, "total_bytes": stats.total_bytes, "first": first, "last": last,
        "by_content_type": {k: {"count": n, "bytes": b} for k, (n, b) in stats.by_content_type.items()},
    }
    rows = [[name, str(n), str(b)] for name, (n, b) in stats.by_content_type.items()]
    span = f", from {first} to {last}" if first and last else ""
    human = f"{counted(stats.count, 'card')}, {counted(stats.total_bytes, 'byte')}{span}"
    if rows:  # an empty store: "0 cards, 0 bytes", not "from - to -" and a table of nothing
        human += "\n\n" + table(["CONTENT TYPE", "CARDS", "BYTES"], rows, right=[1, 2])
    emit(data, human, args.json)
    return 0


async def cmd_upgrade(args: argparse.Namespace) -> int:
    """Bring a store an older mcard wrote up to date, which the commands that read cannot do
    (they open it read-only); a current store is left as it is."""
    async with existing_store(args) as store:
        upgraded_from = store.store.upgraded_from
    human = "already up to date" if upgraded_from is None else f"upgraded from schema {upgraded_from}"
    emit({"upgraded_from": upgraded_from}, human, args.json)
    return 0


def _as_text(stored: object) -> str:
    """A stored hash or tag as text: another tool may have stored bytes there (shown as ``b'...'``)."""
    return stored if isinstance(stored, str) else repr(stored)


async def cmd_verify(args: argparse.Namespace) -> int:
    """Re-hash every card; with ``--remove``, mend the damaged ones whose content is whole and
    delete the others it found."""
    mended: Optional[tuple[int, int]] = None
    async with existing_store(args) if args.remove else reading_store(args) as store:
        report = await store.verify(progress=sys.stderr.isatty())
        if args.remove:
            try:
                mended = (await store.repair_damaged(report.damaged), await store.remove_damaged(report.damaged))
            except MCardError:  # the scan's findings are said before the failure to mend them
                _emit_verified(report, None, args.json)
                raise
    found = _emit_verified(report, mended, args.json)
    if report.damaged:
        done = f"; {mended[0]:,} repaired, {mended[1]:,} removed" if mended else "; mcard verify --remove mends or deletes them"
        fail(found + done)
        return 1
    return 0


def _repaired(count: int, labels: bool) -> str:
    if not labels:
        return f"{counted(count, 'card')} whose content was whole"
    return f"{counted(count, 'damaged row')} (cards whose content was whole, tags written decomposed or with spaces around)"


def _emit_verified(report: VerifyReport, mended: Optional[tuple[int, int]], as_json: bool) -> str:
    """Print what ``verify`` found and, when given, how many cards were (repaired, removed);
    return the summary of the damage."""
    damaged = [_as_text(card.hash) for card in report.damaged if card.part == "card"]
    labels = [card for card in report.damaged if card.part != "card"]
    labelled = f"{len(labels):,} {'sighting or tag' if len(labels) == 1 else 'sightings or tags'}"
    also = f", and {labelled}" if labels else ""
    emit(
        {"checked": report.checked, "damaged": damaged,
         "reasons": {_as_text(card.hash): card.reason for card in report.damaged if card.part == "card"},
         "labels": [{"hash": _as_text(card.hash), "part": card.part, "label": _as_text(card.label), "reason": card.reason} for card in labels],
         **({"repaired": mended[0], "removed": mended[1]} if mended else {})},
        f"checked {counted(report.checked, 'card')}: {len(damaged):,} damaged{also}"
        + "".join(f"\n  {safe(card.hash)}  {safe(card.reason)}" for card in report.damaged)
        + (f"\nrepaired {_repaired(mended[0], bool(labels))}; removed {counted(mended[1], 'damaged row' if labels else 'damaged card')}"
           if mended else ""),
        as_json,
    )
    if not damaged:  # labels alone: "0 of 1 card are damaged, and 3 sightings or tags" read wrong
        return f"{labelled} damaged, {counted(report.checked, 'card')} sound"
    return f"{len(damaged):,} of {counted(report.checked, 'card')} {'is' if len(damaged) == 1 else 'are'} damaged{also}"


async def cmd_export(args: argparse.Namespace) -> int:
    """Export to a file, a folder, or stdout (``-``: JSON Lines unless ``--format`` says
    otherwise). The report goes to stdout, or, when stdout carries the export, to stderr."""
    start, end = _time_range(args)
    to_stdout = is_stdout(args.destination)
    destination = sys.stdout.buffer if to_stdout else args.destination
    chosen = format_for(destination, args.format, args.content)  # a bad destination fails before the store is opened
    on_terminal = sys.stdout.isatty() if to_stdout else is_terminal(args.destination)
    if on_terminal and chosen != "jsonl":
        raise ValidationError(
            f"a {_FORMAT_NAMES.get(chosen, chosen)} export carries names and content as they are, which a terminal would take for"
            " commands (ESC ] 52 writes the clipboard): write it to a file or a pipe; JSON Lines (the default) is escaped"
        )
    async with reading_store(args) as store:
        result = await export(
            store, destination, format=args.format, with_content=args.content, start_time=start, end_time=end,
            **card_filters(args),
        )
        unknown = await unknown_tags(store, args.tag) if not result.exported and args.tag else []
    if not result.kept:
        for line in unknown:
            note(line)
    if to_stdout and not result.refused:
        note(f"exported {counted(result.exported, 'card')} to standard output")
    elif not to_stdout and (args.json or not result.kept):  # "exported 0 cards to F" read as F overwritten
        emit(
            {"exported": result.exported, "destination": args.destination,
             "refused": [{"hash": card.hash, "reason": card.reason} for card in result.refused], "kept": result.kept},
            _export_text(result, args.destination),
            args.json,
        )
    if result.kept:  # one line, as every failure: why no card matched in it
        why = f" ({'; '.join(unknown)})" if unknown else ""
        fail(f"no card to export{why}: {safe(args.destination)} was left as it was")
        return 1
    if result.refused:
        named = ", ".join(quoted(card.hash) for card in result.refused[:REFUSED_NAMED])
        more = len(result.refused) - REFUSED_NAMED
        fail(f"refused {counted(len(result.refused), 'card')}, not exported: {named}" + (f" and {more} more" if more > 0 else ""))
        return 1
    return 0


_FORMAT_NAMES: Final = {"csv": "CSV", "parquet": "Parquet"}


def _export_text(result: ExportResult, destination: str) -> str:
    text = f"exported {counted(result.exported, 'card')} to {safe(destination)}"
    if result.refused:
        text += f"; refused {len(result.refused)}:" + "".join(
            f"\n  {safe(card.hash)}  {safe(card.reason)}" for card in result.refused
        )
    return text


COMMANDS: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {
    "import": cmd_import, "add": cmd_add, "ls": cmd_ls, "show": cmd_show, "search": cmd_search, "find": cmd_find, "facets": cmd_facets,
    "rm": cmd_rm, "stats": cmd_stats, "verify": cmd_verify, "export": cmd_export, "lab": cmd_lab, "tag": cmd_tag, "untag": cmd_tag, "info": cmd_info,
    "sync": cmd_sync, "upgrade": cmd_upgrade,
}
