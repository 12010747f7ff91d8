"""Bulk import: files and folders, or the records of an export, into a card store."""

from __future__ import annotations

import asyncio
import base64
import csv
import errno
import fnmatch
import itertools
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final

from tqdm.auto import tqdm

from mcard.content_types import OCTET_STREAM
from mcard.domain.models.card import MCard
from mcard.domain.models.exceptions import ValidationError
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper

DEFAULT_BATCH_FILES: Final = 500
DEFAULT_BATCH_BYTES: Final = 64 * 1024 * 1024
SYMLINK_LOOP: Final = "symlink loop"


@dataclass
class ImportSummary:
    """What an import did: files seen, cards new or already stored, files skipped by reason."""

    files: int = 0
    new: int = 0
    already_stored: int = 0
    bytes: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def add(self, files: int, cards: Sequence[MCard], new: int) -> None:
        """Count one stored batch: ``files`` read, ``cards`` saved, ``new`` of them new."""
        self.files += files
        self.new += new
        self.already_stored += len(cards) - new
        self.bytes += sum(card.size for card in cards)

    def merge(self, other: ImportSummary) -> None:
        self.files += other.files
        self.new += other.new
        self.already_stored += other.already_stored
        self.bytes += other.bytes
        self.skipped.update(other.skipped)

    def as_dict(self) -> dict[str, object]:
        return {
            "files": self.files, "new": self.new, "already_stored": self.already_stored,
            "bytes": self.bytes, "skipped": dict(self.skipped),
        }


def card_from_file_bytes(data: bytes) -> MCard:
    """UTF-8 files become text cards (searchable, same bytes back); files in a binary format
    (known by their magic bytes, even when ASCII like many PDFs) and other bytes stay bytes."""
    binary = MCard(data)
    if binary.content_type != OCTET_STREAM:
        return binary
    try:
        return MCard(data.decode("utf-8"), g_time=binary.g_time)
    except UnicodeDecodeError:
        return binary


def _matches(relative: str, patterns: Sequence[str]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(relative, p) or fnmatch.fnmatchcase(name, p) for p in patterns)


def _link_target(path: Path) -> Path | None:
    """Where the symbolic link ``path`` leads, or None when its links go round in a loop."""
    try:
        return path.resolve(strict=True)
    except RuntimeError:  # Python 3.11 and 3.12 report a loop so
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None
        return path.resolve()  # a link to nothing: read later, and counted as unreadable


def iter_files(
    paths: Iterable[str | os.PathLike[str]],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    skipped: Counter[str] | None = None,
) -> Iterator[Path]:
    """Regular files under ``paths`` in a stable order, never leaving a given folder's tree.

    Symbolic links are followed only to files inside the tree they were found in; links that
    go round in a loop are counted in ``skipped`` as ``"symlink loop"``.
    """
    skipped = Counter() if skipped is None else skipped
    for given in map(Path, paths):
        if given.is_symlink() and _link_target(given) is None:
            skipped[SYMLINK_LOOP] += 1
            continue
        if not given.exists() and not given.is_symlink():
            skipped["missing"] += 1
            continue
        if not given.is_dir():
            yield given
            continue
        root = given.resolve()
        for folder, dirs, names in os.walk(given):
            dirs.sort()
            for name in sorted(names):
                path = Path(folder, name)
                relative = path.relative_to(given).as_posix()
                if (include and not _matches(relative, include)) or _matches(relative, exclude):
                    continue
                if path.is_symlink():
                    target = _link_target(path)
                    if target is None:
                        skipped[SYMLINK_LOOP] += 1
                        continue
                    if not target.is_relative_to(root):
                        skipped["symlink out of tree"] += 1
                        continue
                yield path


def _read_batch(paths: list[Path], max_size: int, skipped: Counter[str]) -> list[MCard]:
    cards = []
    for path in paths:
        try:
            if not path.exists():
                skipped["unreadable"] += 1
                continue
            if not path.is_file():
                skipped["not a regular file"] += 1
                continue
            if path.stat().st_size > max_size:
                skipped["too large"] += 1
                continue
            data = path.read_bytes()
        except OSError:
            skipped["unreadable"] += 1
            continue
        if not data:
            skipped["empty"] += 1
        elif len(data) > max_size:
            skipped["too large"] += 1
        else:
            cards.append(card_from_file_bytes(data))
    return cards


async def import_paths(
    store: AsyncPersistenceWrapper,
    paths: Iterable[str | os.PathLike[str]],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    batch_files: int = DEFAULT_BATCH_FILES,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    progress: bool | None = None,
) -> ImportSummary:
    """Store every readable file under ``paths`` as a card, ``batch_files`` per transaction.

    Files are read on a worker thread, one batch per hop. Nothing is fatal: missing paths, and
    files too large, unreadable, empty, linked from outside the tree or through a symlink loop
    are counted in ``summary.skipped``.
    ``progress=None`` shows a bar only on a terminal or in a notebook.
    """
    summary = ImportSummary()
    max_size = store.config.max_content_size
    files = await asyncio.to_thread(
        lambda: [(path, _size_or_zero(path)) for path in iter_files(paths, include, exclude, summary.skipped)]
    )
    with tqdm(total=len(files), unit="file", disable=None if progress is None else not progress) as bar:
        start = 0
        while start < len(files):
            batch, size = [], 0
            while start < len(files) and len(batch) < batch_files and size < batch_bytes:
                path, file_size = files[start]
                batch.append(path)
                size += file_size
                start += 1
            cards = await asyncio.to_thread(_read_batch, batch, max_size, summary.skipped)
            summary.add(len(batch), cards, await store.save_many(cards))
            bar.update(len(batch))
    return summary


def _size_or_zero(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def record_card(record: object) -> MCard:
    """Rebuild a card from an export record that has its content (keeps its ``g_time``).

    Records come from files: every field is checked, and anything wrong is a ``ValidationError``.
    """
    if not isinstance(record, dict):
        raise ValidationError(f"a record is an object of fields, not {type(record).__name__}")
    content = record.get("content")
    if content is None or content == "":
        raise ValidationError("the record has no content (export with --content)")
    encoding = record.get("content_encoding") or ("raw" if isinstance(content, bytes) else "utf-8")
    if encoding == "base64":
        try:
            content = base64.b64decode(str(content), validate=True)
        except ValueError:
            raise ValidationError("the content is not valid base64") from None
    elif encoding == "raw" and isinstance(content, bytes) and record.get("kind") == "text":
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError("the text content is not UTF-8") from None
    elif encoding not in ("utf-8", "raw"):
        raise ValidationError(f"unknown content_encoding {encoding!r}")
    card = MCard(content, hash_algorithm=str(record.get("hash_algorithm") or "sha256"), g_time=_g_time(record))  # type: ignore[arg-type]
    if record.get("hash") and card.hash != record["hash"]:
        raise ValidationError(f"the content does not hash to {record['hash']!r}")
    return card


def _g_time(record: dict[str, object]) -> datetime:
    text = record.get("g_time")
    if not isinstance(text, str) or not text:
        raise ValidationError("the record has no g_time")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"g_time is not an ISO 8601 time: {text!r}") from None


def read_records(path: str | os.PathLike[str]) -> Iterator[tuple[str, object]]:
    """The records of an mcard export (.jsonl, .csv or .parquet), each with where it is in the
    file (``"line 7"``, ``"row 7"``). A line that cannot be read is a ``ValidationError`` that
    names it; a file that cannot be opened is an ``OSError``."""
    path = Path(path)
    if path.suffix == ".jsonl":
        with path.open("rb") as lines:
            for number, line in enumerate(lines, 1):
                text = _decoded(line, number)
                if text.strip():
                    try:
                        yield f"line {number}", json.loads(text)
                    except json.JSONDecodeError as exc:
                        raise ValidationError(f"line {number}: not JSON: {exc.msg} (column {exc.colno})") from None
    elif path.suffix == ".csv":
        csv.field_size_limit(2**31 - 1)
        with path.open("rb") as lines:
            rows = csv.DictReader(_decoded(line, number) for number, line in enumerate(lines, 1))
            end = 1  # the header's line
            try:
                for row in rows:
                    start, end = end + 1, rows.line_num
                    yield f"line {start}", row
            except csv.Error as exc:
                raise ValidationError(f"line {rows.line_num}: not CSV: {exc}") from None
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            batches = pq.ParquetFile(path).iter_batches()
            number = 0
            for batch in batches:
                for record in batch.to_pylist():
                    number += 1
                    yield f"row {number}", record
        except ValueError as exc:  # pyarrow's ArrowInvalid and ArrowException are ValueErrors
            raise ValidationError(f"not a readable Parquet file: {exc}") from None
    else:
        raise ValidationError("records are read from .jsonl, .csv or .parquet exports")


def _decoded(line: bytes, number: int) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"line {number}: not UTF-8") from None


def _cards(path: str | os.PathLike[str]) -> Iterator[MCard]:
    """The cards of an export's records; an error names the file and the record."""
    try:
        for where, record in read_records(path):
            try:
                yield record_card(record)
            except ValidationError as exc:
                raise ValidationError(f"{where}: {exc}") from None
    except ValidationError as exc:
        raise ValidationError(f"{path}: {exc}") from None


def _next_cards(cards: Iterator[MCard], count: int) -> tuple[list[MCard], ValidationError | None]:
    """Up to ``count`` cards, and the error that stopped them short, if any."""
    chunk: list[MCard] = []
    try:
        chunk.extend(itertools.islice(cards, count))
    except ValidationError as exc:
        return chunk, exc
    return chunk, None


async def import_records(
    store: AsyncPersistenceWrapper,
    path: str | os.PathLike[str],
    *,
    batch_size: int = 1000,
    progress: bool | None = None,
) -> ImportSummary:
    """Restore the cards of an export made with content, with their original ``g_time``.

    Records are stored in order, ``batch_size`` per transaction. A record that is not a whole
    card stops the import with a ``ValidationError`` naming its line (or Parquet row): every
    record before it is stored, none from it on, so importing again once it is fixed stores
    only the rest (cards already stored count as ``already_stored``).
    """
    summary = ImportSummary()
    with closing(_cards(path)) as cards, tqdm(unit="card", disable=None if progress is None else not progress) as bar:
        while True:
            chunk, error = await asyncio.to_thread(_next_cards, cards, batch_size)
            if chunk:
                summary.add(len(chunk), chunk, await store.save_many(chunk))
                bar.update(len(chunk))
            if error is not None:
                raise error
            if len(chunk) < batch_size:
                return summary
