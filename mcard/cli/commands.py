"""The command line's commands: each opens the store, does one thing, prints the outcome."""

from __future__ import annotations

import argparse
import os
import signal
import stat
import sys
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Final, Optional

from mcard.domain.models.card import to_utc
from mcard.domain.models.exceptions import ValidationError
from mcard.exporting import ExportResult, card_record, export
from mcard.importing import ImportSummary, import_paths, import_records
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper
from mcard.infrastructure.persistence.config_url import DB_URL_ENV, config_from_url
from mcard.infrastructure.persistence.engine_config import (
    DB_PATH_ENV,
    DEFAULT_DB_FILENAME,
    MEMORY_PATH,
    EngineConfig,
    SQLiteConfig,
)

from .children import run_forwarding_signals
from .output import CARD_HEADER, card_rows, emit, fail, safe, table


class NotFound(Exception):
    """What was asked for is not in the store (exit status 1)."""


def db_target(args: argparse.Namespace) -> str:
    """``--db``, else ``$MCARD_DB_URL``, else ``$MCARD_DB_PATH``, else ``mcard.db``."""
    return args.db or os.environ.get(DB_URL_ENV) or os.environ.get(DB_PATH_ENV) or DEFAULT_DB_FILENAME


def config_for(target: str) -> EngineConfig:
    """A SQLite path, or an engine URL such as ``postgresql://user@host/db``."""
    return config_from_url(target) if "://" in target else SQLiteConfig(target)


def store_for(args: argparse.Namespace) -> AsyncPersistenceWrapper:
    return AsyncPersistenceWrapper(config_for(db_target(args)))


def parse_time(text: Optional[str], name: str) -> Optional[datetime]:
    """ISO 8601; a date means its midnight; no offset means UTC; in UTC, within ``TIME_RANGE``."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            raise ValidationError(f"--{name}: not an ISO 8601 time or date: {text!r}") from None
    return to_utc(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc), f"--{name}")


def _limit(value: int) -> Optional[int]:
    if value < 0:
        raise ValidationError("--limit must not be negative")
    return value or None


def _summary_text(summary: ImportSummary) -> str:
    skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(summary.skipped.items())) or "none"
    return (
        f"{summary.files} files: {summary.new} new, {summary.already_stored} already stored, "
        f"skipped: {skipped}"
    )


def check_named_paths(paths: list[str], records: bool) -> None:
    """Every path named on the command line must be there and readable: a regular file, or a
    folder (not for records). ``OSError`` or ``ValidationError`` otherwise, before anything is
    stored."""
    for name in paths:
        mode = os.stat(name).st_mode  # missing, a symlink loop, a folder on the way not searchable
        if stat.S_ISDIR(mode) and not records:
            os.scandir(name).close()
        elif stat.S_ISREG(mode):
            open(name, "rb").close()
        else:
            raise ValidationError(f"{name}: not a regular file" + ("" if records else " or a folder"))


async def cmd_import(args: argparse.Namespace) -> int:
    check_named_paths(args.paths, args.records)
    async with store_for(args) as store:
        if args.records:
            summary = ImportSummary()
            for path in args.paths:
                summary.merge(await import_records(store, path))
        else:
            summary = await import_paths(store, args.paths, include=args.include, exclude=args.exclude)
    emit(summary.as_dict(), _summary_text(summary), args.json)
    return 0


async def cmd_ls(args: argparse.Namespace) -> int:
    async with store_for(args) as store:
        cards = await store.list(
            _limit(args.limit), args.offset, parse_time(args.since, "since"), parse_time(args.until, "until")
        )
    emit([card_record(c, False) for c in cards], table(CARD_HEADER, card_rows(cards), right=[2]), args.json)
    return 0


async def cmd_show(args: argparse.Namespace) -> int:
    async with store_for(args) as store:
        card = await store.get(args.hash)
    if card is None:
        raise NotFound(f"no card with hash {args.hash}")
    if args.output:
        Path(args.output).write_bytes(card.content_bytes)
    else:
        sys.stdout.buffer.write(card.content_bytes)
        sys.stdout.flush()
    return 0


async def cmd_search(args: argparse.Namespace) -> int:
    async with store_for(args) as store:
        cards = await store.search(args.text, _limit(args.limit))
    emit([card_record(c, False) for c in cards], table(CARD_HEADER, card_rows(cards), right=[2]), args.json)
    if not cards:
        fail(f"no text card contains {args.text!r}")
        return 1
    return 0


async def cmd_rm(args: argparse.Namespace) -> int:
    async with store_for(args) as store:
        removed = [h for h in args.hashes if await store.remove(h)]
    missing = [h for h in args.hashes if h not in removed]
    emit({"removed": removed, "not_found": missing}, f"removed {len(removed)} of {len(args.hashes)}", args.json)
    if missing:
        raise NotFound(f"not found: {' '.join(missing)}")
    return 0


async def cmd_stats(args: argparse.Namespace) -> int:
    async with store_for(args) as store:
        stats = await store.stats()
    first = stats.first.isoformat() if stats.first else None
    last = stats.last.isoformat() if stats.last else None
    data = {
        "count": stats.count, "total_bytes": stats.total_bytes, "first": first, "last": last,
        "by_content_type": {k: {"count": n, "bytes": b} for k, (n, b) in stats.by_content_type.items()},
    }
    rows = [[name, str(n), str(b)] for name, (n, b) in stats.by_content_type.items()]
    human = (
        f"{stats.count} cards, {stats.total_bytes} bytes, from {first or '-'} to {last or '-'}\n\n"
        + table(["CONTENT TYPE", "CARDS", "BYTES"], rows, right=[1, 2])
    )
    emit(data, human, args.json)
    return 0


async def cmd_verify(args: argparse.Namespace) -> int:
    async with store_for(args) as store:
        report = await store.verify(progress=sys.stderr.isatty())
    damaged = [card.hash for card in report.damaged]
    emit(
        {"checked": report.checked, "damaged": damaged,
         "reasons": {card.hash: card.reason for card in report.damaged}},
        f"checked {report.checked} cards: {len(damaged)} damaged"
        + "".join(f"\n  {safe(card.hash)}  {safe(card.reason)}" for card in report.damaged),
        args.json,
    )
    if damaged:
        fail(f"{len(damaged)} of {report.checked} cards are damaged")
        return 1
    return 0


REFUSED_NAMED: Final = 5
"""How many refused cards the line on stderr names; stdout lists them all."""


async def cmd_export(args: argparse.Namespace) -> int:
    start, end = parse_time(args.since, "since"), parse_time(args.until, "until")
    async with store_for(args) as store:
        result = await export(store, args.destination, format=args.format, with_content=args.content, start_time=start, end_time=end)
    emit(
        {"exported": result.exported, "destination": args.destination,
         "refused": [{"hash": card.hash, "reason": card.reason} for card in result.refused]},
        _export_text(result, args.destination),
        args.json,
    )
    if result.refused:
        named = ", ".join(repr(card.hash) for card in result.refused[:REFUSED_NAMED])
        more = len(result.refused) - REFUSED_NAMED
        fail(f"refused {len(result.refused)} cards, not exported: {named}" + (f" and {more} more" if more > 0 else ""))
        return 1
    return 0


def _export_text(result: ExportResult, destination: str) -> str:
    text = f"exported {result.exported} cards to {safe(destination)}"
    if result.refused:
        text += f"; refused {len(result.refused)}:" + "".join(
            f"\n  {safe(card.hash)}  {safe(card.reason)}" for card in result.refused
        )
    return text


def tutorials_folder() -> Path:
    folder = Path(__file__).resolve().parents[2] / "notebooks"
    if not folder.is_dir():
        raise ValidationError("the tutorials are not here: run mcard lab from a source checkout")
    return folder


def lab_command(target: str, extra: list[str]) -> tuple[list[str], dict[str, str]]:
    """``jupyter lab`` on the tutorials, and its environment: notebooks find the database in
    ``$MCARD_DB_PATH``, made absolute since kernels run in the notebooks' folder."""
    if "://" not in target and target != MEMORY_PATH:
        target = str(Path(target).resolve())
    command = [sys.executable, "-m", "jupyter", "lab", "--ip", "127.0.0.1", f"--ServerApp.root_dir={tutorials_folder()}"]
    if not os.environ.get("DISPLAY"):
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return command + extra, {**os.environ, DB_PATH_ENV: target}


async def cmd_lab(args: argparse.Namespace) -> int:
    """JupyterLab until it exits; stopping ``mcard lab`` (SIGTERM, SIGINT, SIGHUP) stops it."""
    from mcard.demo import fill

    command, env = lab_command(db_target(args), args.lab_args)
    target = env[DB_PATH_ENV]
    if args.demo:
        added = await fill(config_for(target))
        print(f"demo cards in {safe(target)}: {added} added", flush=True)
    # JupyterLab stops cleanly, its kernels with it, on SIGTERM and SIGINT; a SIGHUP would
    # kill it outright and leave its kernels to notice on their own, so it gets a SIGTERM.
    return await run_forwarding_signals(command, env, sent_as={signal.SIGHUP: signal.SIGTERM})


COMMANDS: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {
    "import": cmd_import, "ls": cmd_ls, "show": cmd_show, "search": cmd_search, "rm": cmd_rm,
    "stats": cmd_stats, "verify": cmd_verify, "export": cmd_export, "lab": cmd_lab,
}
