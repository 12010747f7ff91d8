"""Export cards to CSV, JSON Lines, Parquet, or a folder of files, streaming in constant memory."""

from __future__ import annotations

import asyncio
import base64
import csv
import errno
import glob
import hashlib
import io
import json
import mimetypes
import os
import re
import secrets
import stat
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, BinaryIO, Final, NamedTuple, Optional

from mcard.domain.models.card import DIGEST_HEX_LENGTHS, HASH_ALGORITHMS, MCard, is_digest, is_mime_type, to_micros
from mcard.domain.models.exceptions import StorageError, UnreadableCardError, ValidationError, brief
from mcard.domain.models.sighting import Sighting
from mcard.domain.progress import checked_progress
from mcard.domain.shown import as_cell, counted, json_escaped
from mcard.extras import install_command
from mcard.importing import store_files
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper, check_wrapper
from mcard.reading import readable_cards
from mcard.records import LABEL_FIELDS, label_fields
from mcard.threads import run_to_the_end

FORMATS: Final = ("csv", "jsonl", "parquet", "files")
FIELDS: Final = ("hash", "g_time", "size", "kind", "content_type", "hash_algorithm")
"""A card's own fields; a record adds ``LABEL_FIELDS`` (name, tags, sightings) and the content."""
CONTENT_FIELDS: Final = ("content", "content_encoding")
PAGE_SIZE: Final = 1000
"""The most cards written in one step."""
PAGE_BYTES: Final = 8 * 1024 * 1024
"""A page is written once its contents reach this many bytes, however few cards it has."""
FETCH_SIZE: Final = 64
"""Cards read from the store at a time: with contents of up to 10 MiB each, memory stays bounded."""
_SUFFIX: Final = re.compile(r"\.[A-Za-z0-9_+-]{1,16}")
_UNSAFE_IN_NAME: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""Control, line-separator, bidirectional-override and lone surrogate characters."""
FOLDER_PART: Final = "mcard"
"""The stem of the temporary files a folder export writes before renaming each into place."""
MAX_NAME_BYTES: Final = 240
"""Longest exported file name in UTF-8 bytes (file systems allow 255; the hash suffix needs room)."""


def json_line(record: dict[str, Any]) -> str:
    """One JSON Lines record: UTF-8 text as is, but no control character raw (C0 is escaped
    by ``json`` itself, the rest here), so an export printed on a terminal cannot drive it; the
    values read back are the same."""
    return json_escaped(json.dumps(record, ensure_ascii=False)) + "\n"


class RefusedCard(NamedTuple):
    """A stored card that export would not write: its hash as stored (untrusted: show it
    escaped, as ``repr`` does) and why."""

    hash: str
    reason: str


@dataclass
class ExportResult:
    """What ``export()`` did: how many cards it wrote, and the cards it refused to write.
    ``kept``: it exported no card, so the file that was at the destination (a backup) was left
    as it was, not replaced by an empty export."""

    exported: int = 0
    refused: list[RefusedCard] = field(default_factory=list)
    kept: bool = False

    @property
    def ok(self) -> bool:
        return not self.refused

    def __str__(self) -> str:
        refused = f"; refused {len(self.refused)} (see .refused)" if self.refused else ""
        kept = "; the file there was left as it was" if self.kept else ""
        return f"exported {counted(self.exported, 'card')}{refused}{kept}"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's display: the sentence, not the fields."""
        printer.text(str(self))


def content_refusal(card: MCard) -> Optional[str]:
    """Why ``card``'s content may not be written out as the content its hash names, or None.
    Its stored hash names its file, so only a true digest of its algorithm (lowercase hex of the
    right length) is accepted: a row written by another tool may hold ``../../x`` or an
    absolute path there. A content that no longer hashes to its hash (damaged), or is empty, is
    refused too: importing the export would stop there. (A content type that is not a MIME type
    is left out of the export's record: the import detects it again.)"""
    algorithm = card.hash_algorithm
    if algorithm not in HASH_ALGORITHMS:
        return f"unknown hash algorithm {algorithm!r}"
    if not is_digest(card.hash, algorithm):
        return f"the stored hash is not a {algorithm} digest ({DIGEST_HEX_LENGTHS[algorithm]} lowercase hex digits)"
    data = card.content_bytes
    if hashlib.new(algorithm, data).hexdigest() != card.hash:
        return f"damaged: the content no longer hashes to its {algorithm} hash"
    if not data:
        return "damaged: the content is empty (no card is empty)"
    if len(data) != card.size:
        return f"damaged: recorded size {card.size!r} but the content has {len(data)} B"
    return None


def refusal(card: MCard) -> Optional[str]:
    """Why ``card`` may not be exported, or None: ``content_refusal``, or a time that is not
    one (the record could not be restored)."""
    refused = content_refusal(card)
    if refused is None:
        try:
            card.g_time
        except StorageError:
            return "damaged: the recorded time is not a time"
    return refused


def file_name(card: MCard) -> str:
    """``<hash><ext>`` of a card ``refusal`` accepted; only a well-formed MIME type gives the
    extension (from the system's MIME table), never the stored text itself."""
    content_type = card.content_type
    suffix = (mimetypes.guess_extension(content_type) or "") if is_mime_type(content_type) else ""
    return f"{card.hash}{suffix if _SUFFIX.fullmatch(suffix) else ''}"


def safe_file_name(name: Optional[str]) -> Optional[str]:
    """A sighting's name as one file name in the export folder, or None when it cannot be
    one: names come from other tools too, so a separator, ``.``/``..``, a hidden or
    over-long name, or a name that is not plain text never names a file."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
        return None
    if _UNSAFE_IN_NAME.search(name) or len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return None
    return name


SQLITE_COMPANIONS: Final = ("-journal", "-wal", "-shm")
"""The files SQLite keeps beside a database ``X`` and reads when it opens ``X``: a hot
``X-journal`` is rolled back into ``X``, an ``X-wal`` replayed."""


def companion_of(folder: Path, name: str) -> Optional[str]:
    """The file of ``folder`` that SQLite would take ``name`` for a journal, log or shared
    memory of (``cards.db`` for ``cards.db-journal``), or None. A card so named, written there,
    would change that database (the store's own among them) the next time it is opened."""
    for suffix in SQLITE_COMPANIONS:
        if name.endswith(suffix) and len(name) > len(suffix) and os.path.lexists(folder / name[: -len(suffix)]):
            return name[: -len(suffix)]
    return None


def _marked(name: str, mark: object) -> str:
    """``photo.png`` as ``photo-<mark>.png``: the hash's first 8 digits for a card whose name is
    taken, a number for a card's hash name that a card of the export took."""
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}-{mark}.{suffix}" if dot and stem else f"{name}-{mark}"


def card_record(card: MCard, with_content: bool, binary: bool = False) -> dict[str, Any]:
    """One card as a flat record; text formats carry ``g_time`` as ISO 8601 text and bytes
    content as base64, ``binary`` ones (Parquet) a timestamp and the raw bytes."""
    record: dict[str, Any] = {
        "hash": card.hash, "g_time": card.g_time if binary else card.g_time_text, "size": card.size, "kind": card.kind,
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


def format_for(destination: str | os.PathLike[str] | BinaryIO, format: Optional[str], with_content: bool = True) -> str:
    """The export format: given, or from the destination's suffix; a folder means files, a
    stream (standard output) JSON Lines. A folder of files is the contents: without them, refused."""
    if not isinstance(destination, (str, os.PathLike)):
        if isinstance(destination, io.TextIOBase):
            raise ValidationError("an export is written to a binary stream (sys.stdout.buffer, open(path, 'wb')), not a text one")
        chosen = format or "jsonl"
        if chosen == "files":
            raise ValidationError("a folder of files cannot be written to a stream: name a folder")
    else:
        path = Path(destination)
        chosen = format or _format_of_path(path)
        if chosen is None:
            raise ValidationError(
                f"cannot tell the export format from {path.name!r}: use .csv, .jsonl, .parquet, "
                "a folder, or name the format (format= in Python, --format on the command line)"
            )
    if chosen not in FORMATS:
        raise ValidationError(f"unknown export format {brief(chosen)}; choose one of {', '.join(FORMATS)}")
    if chosen == "files" and not with_content:
        raise ValidationError("a folder of files is the cards' contents: without content, export to .jsonl, .csv or .parquet")
    return chosen


def _format_of_path(path: Path) -> Optional[str]:
    """The format a destination's path names: a folder (or a new name without a suffix) files,
    else its suffix; a pipe or a device (``>(gzip > cards.jsonl.gz)``, ``/dev/null``) is a
    stream, JSON Lines. None when it cannot be told."""
    try:
        mode: Optional[int] = path.stat().st_mode
    except OSError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        return "files"
    by_suffix = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}
    if path.suffix.lower() in by_suffix:  # cards.JSONL too
        return by_suffix[path.suffix.lower()]
    if mode is None:
        return None if path.suffix else "files"
    return None if stat.S_ISREG(mode) else "jsonl"


def parquet_schema(with_content: bool) -> Any:
    """The columns of a Parquet export: ``g_time`` a UTC timestamp in microseconds, ``size``
    an integer, ``content`` raw bytes."""
    import pyarrow as pa

    moment = pa.timestamp("us", tz="UTC")
    sighting = pa.struct([
        ("name", pa.string()), ("path", pa.string()), ("size", pa.int64()), ("mtime", moment),
        ("seen_at", moment), ("source", pa.string()),
    ])
    columns = [
        ("hash", pa.string()), ("g_time", moment), ("size", pa.int64()),
        ("kind", pa.string()), ("content_type", pa.string()), ("hash_algorithm", pa.string()),
        ("name", pa.string()), ("tags", pa.list_(pa.string())), ("sightings", pa.list_(sighting)),
    ]
    if with_content:
        columns += [("content", pa.binary()), ("content_encoding", pa.string())]
    return pa.schema(columns)


def open_beside(path: Path) -> tuple[BinaryIO, Optional[tuple[Path, Path]]]:
    """The file to write for ``path``, and (it, ``path``) when it is to replace the file there
    once complete. A file is written beside itself and renamed over the old one when the
    writing is complete, so a failed or interrupted export leaves the previous file (a backup)
    as it was; the new file keeps the old one's permissions, and a link is followed to the file
    it names. A device or pipe (``/dev/stdout``, a shell's ``>(...)``) is written directly
    (None). The folder must exist."""
    try:
        existing: Optional[os.stat_result] = os.stat(path)
    except FileNotFoundError:
        existing = None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        return path.open("wb"), None
    target = Path(os.path.realpath(path))
    sweep_parts(target.parent, target.name)
    temporary = part_path(target.parent, target.name)
    try:
        opened = temporary.open("xb")
    except OSError as exc:
        said = exc.strerror
        if existing is not None:  # not said of the file, which is there
            said = f"cannot make the new file beside it in {target.parent}, to replace it once written whole: {said}"
        elif target.parent.is_dir():  # not a missing folder
            said = f"cannot make a file in {target.parent}: {said}"
        raise OSError(exc.errno, said, str(path)) from exc
    if existing is not None:
        try:
            os.fchmod(opened.fileno(), stat.S_IMODE(existing.st_mode))
        except OSError as exc:  # a file system without Unix permissions (vfat, some FUSE)
            opened.close()
            temporary.unlink(missing_ok=True)
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
    return opened, (temporary, target)


def part_path(folder: Path, stem: str) -> Path:
    """A new temporary file in ``folder`` for ``stem``; its name carries this process's id, so
    that a later export removes what a killed one left (``sweep_parts``)."""
    return folder / f".{stem}.{os.getpid()}-{secrets.token_hex(6)}.part"


def sweep_parts(folder: Path, stem: str) -> None:
    """Remove the temporary files for ``stem`` that exports killed before they could remove
    them left in ``folder`` (each may be as large as a whole backup): those whose process is gone."""
    try:
        leftovers = list(folder.glob(f".{glob.escape(stem)}.*.part"))
    except OSError:
        return
    for leftover in leftovers:
        owner = leftover.name[len(stem) + 2:-len(".part")].split("-", 1)[0]
        if owner.isascii() and owner.isdigit() and not _running(int(owner)):
            leftover.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # no signal sent: only whether the process exists
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # another user's
        return True
    return True


def write_file(path: Path, data: bytes) -> None:
    """``data`` to ``path`` as an export writes a file (``open_beside``): the file there is
    replaced only once all of ``data`` is written and durable."""
    binary, replaced = open_beside(path)
    complete = False
    try:
        try:
            binary.write(data)
            if replaced is not None:
                binary.flush()
                os.fsync(binary.fileno())
        finally:
            binary.close()
        if replaced is not None:
            os.replace(*replaced)
        complete = True
    except OSError as exc:  # a full disk, a file size limit: named by the destination
        exc.filename, exc.filename2 = str(path), None
        raise
    finally:
        if replaced is not None and not complete:
            replaced[0].unlink(missing_ok=True)


def _cells(record: dict[str, Any]) -> dict[str, Any]:
    """A CSV record whose text cells a spreadsheet shows as text, never runs as formulas (a
    name or a content of ``=HYPERLINK(...)``); ``import_records`` reads them back exactly."""
    return {key: as_cell(value) if isinstance(value, str) else value for key, value in record.items()}


class _Writer:
    """Writes pages of cards to one destination (a path, or a binary stream left open), on a
    worker thread."""

    def __init__(self, destination: Path | BinaryIO, format: str, with_content: bool) -> None:
        self.destination, self.format, self.with_content = destination, format, with_content
        self._binary: Optional[BinaryIO] = None
        self._replaced: Optional[tuple[Path, Path]] = None
        """(temporary file, the file it replaces once the export is complete)."""
        self._file: Optional[IO[str]] = None
        self._csv: Any = None
        self._parquet: Any = None
        self._names: set[str] = set()

    @property
    def _folder(self) -> Path:
        assert isinstance(self.destination, Path)
        return self.destination

    def open(self) -> None:
        if self.format == "files":
            _make_folder(self._folder)
            sweep_parts(self._folder, FOLDER_PART)
            return
        schema = None
        if self.format == "parquet":
            try:
                schema = parquet_schema(self.with_content)
            except ImportError as exc:
                raise ValidationError(f"Parquet export needs pyarrow: {install_command('parquet')}") from exc
        if isinstance(self.destination, Path):
            self._binary, self._replaced = open_beside(self.destination)
            binary: BinaryIO = self._binary
        else:
            binary = self.destination
        if schema is not None:
            import pyarrow.parquet as pq

            self._parquet = pq.ParquetWriter(_Sequential(binary), schema)
            return
        self._file = io.TextIOWrapper(binary, encoding="utf-8", newline="", write_through=True)
        if self.format == "csv":
            fields = FIELDS + LABEL_FIELDS + (CONTENT_FIELDS if self.with_content else ())
            self._csv = csv.DictWriter(self._file, fieldnames=fields)
            self._csv.writeheader()

    def write(self, cards: list[MCard], labels: dict[str, Labels]) -> None:
        """Write a page of cards, each with its ``labels`` (name, tags, sightings)."""
        try:
            self._write(cards, labels)
        except OSError as exc:
            self._name_the_file(exc)
            raise

    def _write(self, cards: list[MCard], labels: dict[str, Labels]) -> None:
        if not cards:
            return
        if self.format == "files":
            for card in cards:
                self._write_file(self._file_name(card, labels[card.hash].name), card.content_bytes)
            return
        binary, cells = self.format == "parquet", self.format == "csv"
        records = []
        for card in cards:
            record = card_record(card, self.with_content, binary)
            if not is_mime_type(record["content_type"]):  # a row another tool wrote: detected again on import
                record["content_type"] = None
            content = {key: record.pop(key) for key in CONTENT_FIELDS if key in record}
            records.append({**record, **label_fields(*labels[card.hash], binary=binary, cells=cells), **content})
        if binary:
            import pyarrow as pa

            self._parquet.write_table(pa.Table.from_pylist(records, schema=self._parquet.schema))
        elif self._csv is not None:
            self._csv.writerows(_cells(record) for record in records)
        else:
            assert self._file is not None
            self._file.writelines(json_line(r) for r in records)

    def _file_name(self, card: MCard, name: Optional[str]) -> str:
        """The card's latest name; its name with the hash's first 8 digits when an earlier card
        of this export took the name or a different file is there; else ``<hash><ext>``, or
        ``<hash>-2<ext>``... when an earlier card of this export was named so."""
        chosen = safe_file_name(name)
        for candidate in ([chosen, _marked(chosen, card.hash[:8])] if chosen else []):
            if candidate not in self._names and self._free_for(candidate, card):
                self._names.add(candidate)
                return candidate
        own = candidate = file_name(card)
        number = 1
        while candidate in self._names:
            number += 1
            candidate = _marked(own, number)
        self._names.add(candidate)
        return candidate

    def _free_for(self, name: str, card: MCard) -> bool:
        """No file by that name in the folder, or one holding exactly this content already;
        never the name SQLite reads beside a file of the folder (``companion_of``)."""
        existing = self._folder / name
        try:
            if companion_of(self._folder, name) is not None:
                return False
            if existing.is_symlink():
                return False
            if not existing.exists():
                return True
            return existing.is_file() and existing.stat().st_size == card.size and existing.read_bytes() == card.content_bytes
        except OSError:
            return False

    def _write_file(self, name: str, data: bytes) -> None:
        """Write ``data`` to ``name`` in the folder through a temporary file renamed over it, so
        a link already there is replaced, not followed, and no half-written file is left. The
        file gets the umask's permissions, as the other exports (``mkstemp`` gives 0600)."""
        temporary = part_path(self._folder, FOLDER_PART)
        try:
            with temporary.open("xb") as file:
                file.write(data)
            os.replace(temporary, self._folder / name)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def close(self, complete: bool) -> None:
        """Finish the destination; a file written beside its path replaces the file there only
        when the export is ``complete`` (made durable first), else it is removed."""
        try:
            try:
                if self._parquet is not None:
                    self._parquet.close()
                if self._file is not None:
                    self._file.flush()
                    self._file.detach()  # the binary file (or stream) is closed below, or left open
                elif self._binary is None and not isinstance(self.destination, Path):
                    self.destination.flush()
                if complete and self._replaced is not None and self._binary is not None:
                    self._binary.flush()
                    os.fsync(self._binary.fileno())
            finally:
                if self._binary is not None:
                    self._binary.close()
            if complete and self._replaced is not None:
                os.replace(*self._replaced)
                self._replaced = None
        except OSError as exc:
            self._name_the_file(exc)
            raise
        finally:
            if self._replaced is not None:
                self._replaced[0].unlink(missing_ok=True)

    def _name_the_file(self, error: OSError) -> None:
        """A full disk, a file size limit, a failed rename: have ``error`` name the destination
        file (not the file written beside it). A stream's errors (a closed pipe) stay as they are."""
        if isinstance(self.destination, Path):
            error.filename, error.filename2 = str(self.destination), None


class _Sequential(io.RawIOBase):
    """A binary stream that only goes forward, and knows its position: Parquet's writer asks
    for it, and a pipe (standard output) cannot tell."""

    def __init__(self, target: BinaryIO) -> None:
        super().__init__()
        self.target, self.position = target, 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.target.write(data)
        size = memoryview(data).nbytes
        self.position += size
        return size

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        self.target.flush()

    def close(self) -> None:
        self.flush()  # the target is closed by its owner
        super().close()


async def export(
    store: AsyncPersistenceWrapper,
    destination: str | os.PathLike[str] | BinaryIO,
    *,
    format: Optional[str] = None,
    with_content: bool = True,
    start_time: Optional[datetime] = None,
    end_time: Optional[datetime] = None,
    progress: bool | None = None,
    **filters: Any,
) -> ExportResult:
    """Write the cards (newest first, optionally within a time range and filtered as ``list``
    filters them: ``tag``, ``content_type``, ``name``...) to ``destination``: a
    path, or a binary stream (such as ``sys.stdout.buffer``), which is left open.

    Content is included unless ``with_content`` is false (then the export lists cards but
    cannot restore them). CSV and JSON Lines carry text content as is and bytes as base64
    (``content_encoding``), ``g_time`` as ISO 8601 text; Parquet stores raw bytes and ``g_time``
    as a UTC timestamp. Every record carries the card's latest ``name``, its ``tags`` and its
    ``sightings`` (``mcard.records``), which ``import_records`` restores. ``files`` writes each
    card's exact bytes under its latest name (``name-<8 hex digits>.ext`` when that name is
    taken by another card or file, or the journal, log or shared memory SQLite reads beside a
    database of the folder; ``<hash><ext>`` for a card without a usable name, numbered
    when a card of the export was named so) in the
    folder, and nothing anywhere else. A stored card whose hash is not a digest of its
    algorithm (a row written by another tool), whose content no longer hashes to it (damaged)
    or whose text is not UTF-8 (another tool's row no card can be built from) is written in no
    format: it is listed in ``result.refused`` and the export carries on.
    Memory stays bounded whatever the store's size. A file is replaced only once the export is
    complete: a failed or interrupted export leaves the file that was there as it was, and so
    does one that exported no card (a filter that matched nothing: ``result.kept``). Failures
    to create or write the destination are ``OSError``.
    """
    check_wrapper(store, "export")
    progress = checked_progress(progress)
    chosen = format_for(destination, format, with_content)
    target = Path(destination) if isinstance(destination, (str, os.PathLike)) else destination
    if isinstance(target, Path):
        await asyncio.to_thread(not_the_store, store, target)
    writer = _Writer(target, chosen, with_content)
    replacing = isinstance(target, Path) and chosen != "files" and await asyncio.to_thread(target.is_file)
    total = await store.count(start_time, end_time, **filters)
    result = ExportResult()
    complete = False
    try:
        await run_to_the_end(writer.open)
        from tqdm.auto import tqdm

        with tqdm(total=total, unit="card", desc="exporting cards", disable=None if progress is None else not progress) as bar:
            # closed as the export ends, cancelled too: the iteration's snapshot goes with it,
            # not once the generator is collected, perhaps after the store or its loop
            async with aclosing(_pages(store, start_time, end_time, result.refused, filters)) as pages:
                async for page in pages:
                    accepted = []
                    reasons = await asyncio.to_thread(lambda: [refusal(card) for card in page])  # re-hashes each card
                    for card, reason in zip(page, reasons):
                        if reason is None:
                            accepted.append(card)
                        else:
                            result.refused.append(RefusedCard(card.hash, reason))
                    labels = await _labels(store, [card.hash for card in accepted])
                    await run_to_the_end(writer.write, accepted, labels)
                    result.exported += len(accepted)
                    bar.update(len(page))
        result.kept = replacing and not result.exported  # a mistyped filter must not empty a backup
        complete = not result.kept
    finally:
        await run_to_the_end(writer.close, complete)
    return result


def not_the_store(store: AsyncPersistenceWrapper, destination: Path) -> None:
    """Refuse to write over the store's own database (or its ``-wal``, ``-shm`` files)."""
    try:
        found = destination.stat()
    except OSError:
        return
    if (found.st_dev, found.st_ino) in store_files(store):
        raise ValidationError(f"{destination} is the store's own file: write to another file")


class Labels(NamedTuple):
    """What a store knows about a card besides its content."""

    name: Optional[str]
    tags: list[str]
    sightings: list[Sighting]


async def _labels(store: AsyncPersistenceWrapper, hashes: list[str]) -> dict[str, Labels]:
    """Name (the latest named sighting), tags and sightings of each card, in two calls."""
    seen, tags = await store.sightings_of(hashes), await store.tags_of(hashes)
    labels = {}
    for key in hashes:
        sightings = seen.get(key, [])
        named = [s.name for s in sightings if s.name is not None]
        labels[key] = Labels(named[-1] if named else None, tags.get(key, []), sightings)
    return labels


def _make_folder(folder: Path) -> None:
    """Create ``folder`` when missing, in a folder that exists (a mistyped path fails instead
    of creating folders elsewhere); a file in the way is ``NotADirectoryError``."""
    try:
        folder.mkdir(exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder)) from None


async def _pages(
    store: AsyncPersistenceWrapper, start_time: Optional[datetime], end_time: Optional[datetime],
    refused: list[RefusedCard], filters: dict[str, Any],
) -> AsyncIterator[list[MCard]]:
    """The cards, newest first, in pages of at most ``PAGE_SIZE`` cards or about ``PAGE_BYTES``
    bytes. ``iterate`` stops at a row no card can be built from (another tool's text that is not
    UTF-8): the cards past it are read by hash, and such rows added to ``refused``."""
    page: list[MCard] = []
    size = 0
    last: Optional[MCard] = None
    unreadable = False
    try:
        async with aclosing(store.iterate(FETCH_SIZE, start_time, end_time, **filters)) as cards:
            async for card in cards:
                page.append(card)
                last = card
                size += card.size if card.size.__class__ is int else 0  # a bad size is refused with the card
                if len(page) == PAGE_SIZE or size >= PAGE_BYTES:
                    yield page
                    page, size = [], 0
    except UnreadableCardError:
        unreadable = True
    if page:
        yield page
    if unreadable:
        async for page in _pages_past(store, start_time, end_time, last, refused, filters):
            yield page


async def _pages_past(
    store: AsyncPersistenceWrapper, start_time: Optional[datetime], end_time: Optional[datetime],
    last: Optional[MCard], refused: list[RefusedCard], filters: dict[str, Any],
) -> AsyncIterator[list[MCard]]:
    """The cards after ``last`` in ``iterate``'s order (all of them without it), read by hash
    ``FETCH_SIZE`` at a time from the rows ``iterate_heads`` streams (no content read); a row
    no card can be built from is added to ``refused``."""
    after = None if last is None else (to_micros(last.g_time), last.hash)
    until = end_time if last is None else last.g_time

    async def readable(hashes: list[str]) -> list[MCard]:
        found, unreadable = await readable_cards(store, hashes)
        refused.extend(RefusedCard(hash_str, reason) for hash_str, reason in unreadable.items())
        return [found[hash_str] for hash_str in hashes if hash_str in found]

    hashes: list[str] = []
    async with aclosing(store.store.iterate_heads(FETCH_SIZE, start_time, until, head=0, **filters)) as rows:
        async for row in rows:
            if after is None or not (row[3].__class__ is int and (row[3], row[0]) >= after):
                hashes.append(row[0])
            if len(hashes) == FETCH_SIZE:
                if cards := await readable(hashes):
                    yield cards
                hashes = []
    if hashes and (cards := await readable(hashes)):
        yield cards
