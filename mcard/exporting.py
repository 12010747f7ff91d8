"""Export cards to CSV, JSON Lines, Parquet, or a folder of files, streaming in constant memory."""

from __future__ import annotations

import asyncio
import base64
import csv
import json
import mimetypes
import os
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Final, Optional

from tqdm.auto import tqdm

from mcard.domain.models.card import MCard
from mcard.domain.models.exceptions import ValidationError
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper

FORMATS: Final = ("csv", "jsonl", "parquet", "files")
FIELDS: Final = ("hash", "g_time", "size", "kind", "content_type", "hash_algorithm")
CONTENT_FIELDS: Final = ("content", "content_encoding")
PAGE_SIZE: Final = 1000


def card_record(card: MCard, with_content: bool, binary: bool = False) -> dict[str, Any]:
    """One card as a flat record; text formats carry bytes content as base64."""
    record: dict[str, Any] = {
        "hash": card.hash, "g_time": card.g_time_text, "size": card.size, "kind": card.kind,
        "content_type": card.content_type, "hash_algorithm": card.hash_algorithm,
    }
    if with_content:
        if binary:
            record["content"], record["content_encoding"] = card.content_bytes, "raw"
        elif card.is_text:
            record["content"], record["content_encoding"] = card.content, "utf-8"
        else:
            record["content"] = base64.b64encode(card.content_bytes).decode("ascii")
            record["content_encoding"] = "base64"
    return record


def format_for(destination: str | os.PathLike[str], format: Optional[str]) -> str:
    """The export format: given, or from the destination's suffix; a folder means files."""
    path = Path(destination)
    by_suffix = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet", "": "files"}
    chosen = format or by_suffix.get("" if path.is_dir() else path.suffix)
    if chosen is None:
        raise ValidationError(
            f"cannot tell the export format from {path.name!r}: use .csv, .jsonl, .parquet, "
            "a folder, or --format"
        )
    if chosen not in FORMATS:
        raise ValidationError(f"unknown export format {chosen!r}; choose one of {', '.join(FORMATS)}")
    return chosen


class _Writer:
    """Writes pages of cards to one destination, on a worker thread."""

    def __init__(self, destination: Path, format: str, with_content: bool) -> None:
        self.destination, self.format, self.with_content = destination, format, with_content
        self._file: Optional[IO[str]] = None
        self._csv: Any = None
        self._parquet: Any = None

    def open(self) -> None:
        if self.format == "files":
            self.destination.mkdir(parents=True, exist_ok=True)
            return
        self.destination.parent.mkdir(parents=True, exist_ok=True)
        if self.format == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError as exc:
                raise ValidationError("Parquet export needs pyarrow: pip install 'mcard[parquet]'") from exc
            return
        self._file = self.destination.open("w", encoding="utf-8", newline="")
        if self.format == "csv":
            fields = FIELDS + (CONTENT_FIELDS if self.with_content else ())
            self._csv = csv.DictWriter(self._file, fieldnames=fields)
            self._csv.writeheader()

    def write(self, cards: list[MCard]) -> None:
        if self.format == "files":
            for card in cards:
                suffix = mimetypes.guess_extension(card.content_type) or ""
                (self.destination / f"{card.hash}{suffix}").write_bytes(card.content_bytes)
        elif self.format == "parquet":
            self._write_parquet(cards)
        else:
            assert self._file is not None
            records = (card_record(card, self.with_content) for card in cards)
            if self._csv is not None:
                self._csv.writerows(records)
            else:
                self._file.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)

    def _write_parquet(self, cards: list[MCard]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist([card_record(c, self.with_content, binary=True) for c in cards])
        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self.destination, table.schema)
        self._parquet.write_table(table)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._parquet is not None:
            self._parquet.close()
        elif self.format == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            fields = FIELDS + (CONTENT_FIELDS if self.with_content else ())
            pq.write_table(pa.table({name: pa.array([], pa.string()) for name in fields}), self.destination)


async def export(
    store: AsyncPersistenceWrapper,
    destination: str | os.PathLike[str],
    *,
    format: Optional[str] = None,
    with_content: bool = False,
    start_time: Optional[datetime] = None,
    end_time: Optional[datetime] = None,
    progress: bool | None = None,
) -> int:
    """Write the cards (newest first, optionally within a time range) to ``destination``.

    CSV and JSON Lines carry text content as is and bytes as base64 (``content_encoding``);
    Parquet stores raw bytes; ``files`` writes each card's exact bytes to ``<hash><ext>``.
    Returns how many cards were exported.
    """
    writer = _Writer(Path(destination), format_for(destination, format), with_content)
    total = await store.count(start_time, end_time)
    await asyncio.to_thread(writer.open)
    exported = 0
    try:
        with tqdm(total=total, unit="card", disable=None if progress is None else not progress) as bar:
            async for page in _pages(store, start_time, end_time):
                await asyncio.to_thread(writer.write, page)
                exported += len(page)
                bar.update(len(page))
    finally:
        await asyncio.to_thread(writer.close)
    return exported


async def _pages(
    store: AsyncPersistenceWrapper, start_time: Optional[datetime], end_time: Optional[datetime]
) -> Any:
    page: list[MCard] = []
    async for card in store.iterate(PAGE_SIZE, start_time, end_time):
        page.append(card)
        if len(page) == PAGE_SIZE:
            yield page
            page = []
    if page:
        yield page

