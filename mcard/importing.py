"""Bulk import: files and folders, or the records of an export, into a card store."""

from __future__ import annotations

import asyncio
import base64
import csv
import fnmatch
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
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


def iter_files(
    paths: Iterable[str | os.PathLike[str]],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    skipped: Counter[str] | None = None,
) -> Iterator[Path]:
    """Regular files under ``paths`` in a stable order, never leaving a given folder's tree.

    Symbolic links are followed only to files inside the tree they were found in.
    """
    skipped = Counter() if skipped is None else skipped
    for given in map(Path, paths):
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
                if path.is_symlink() and not path.resolve().is_relative_to(root):
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

    Files are read on a worker thread, one batch per hop. Nothing is fatal: files too large,
    unreadable, empty or linked from outside the tree are counted in ``summary.skipped``.
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


def record_card(record: dict[str, object]) -> MCard:
    """Rebuild a card from an export record that has its content (keeps its ``g_time``)."""
    if "content" not in record or record["content"] in (None, ""):
        raise ValidationError("the export record has no content (export with --content)")
    content = record["content"]
    if record.get("content_encoding") == "base64":
        content = base64.b64decode(str(content), validate=True)
    elif isinstance(content, bytes) and record.get("kind") == "text":
        content = content.decode("utf-8")
    g_time = datetime.fromisoformat(str(record["g_time"]).replace("Z", "+00:00"))
    card = MCard(content, hash_algorithm=str(record.get("hash_algorithm") or "sha256"), g_time=g_time)  # type: ignore[arg-type]
    if record.get("hash") and card.hash != record["hash"]:
        raise ValidationError(f"record content does not hash to {record['hash']}")
    return card


def read_records(path: str | os.PathLike[str]) -> Iterator[dict[str, object]]:
    """The records of an mcard export (.jsonl, .csv or .parquet), one dict each."""
    path = Path(path)
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as lines:
            yield from (json.loads(line) for line in lines if line.strip())
    elif path.suffix == ".csv":
        csv.field_size_limit(2**31 - 1)
        with path.open(encoding="utf-8", newline="") as rows:
            yield from csv.DictReader(rows)
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches():
            yield from batch.to_pylist()
    else:
        raise ValidationError(f"{path}: records are read from .jsonl, .csv or .parquet exports")


async def import_records(
    store: AsyncPersistenceWrapper,
    path: str | os.PathLike[str],
    *,
    batch_size: int = 1000,
    progress: bool | None = None,
) -> ImportSummary:
    """Restore the cards of an export made with content, with their original ``g_time``."""
    summary = ImportSummary()
    records = read_records(path)
    with tqdm(unit="card", disable=None if progress is None else not progress) as bar:
        while True:
            chunk = await asyncio.to_thread(lambda: [record_card(r) for _, r in zip(range(batch_size), records)])
            if not chunk:
                return summary
            summary.add(len(chunk), chunk, await store.save_many(chunk))
            bar.update(len(chunk))
