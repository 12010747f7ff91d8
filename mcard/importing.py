"""Bulk import: files and folders, or the records of an export, into a card store."""

from __future__ import annotations

import asyncio
import base64
import csv
import errno
import fnmatch
import functools
import io
import json
import mimetypes
import os
import re
import stat
from collections import Counter
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Final, Optional

from mcard.content_types import OCTET_STREAM
from mcard.domain.models.card import MCard, is_mime_type
from mcard.domain.models.exceptions import NotStoredError, ValidationError, brief
from mcard.domain.models.sighting import Sighting, as_label, check_tag
from mcard.domain.numbers import positive_count
from mcard.domain.progress import checked_progress
from mcard.domain.shown import counted, from_cell, shown
from mcard.extras import install_command
from mcard.frame_records import frame_records, is_frame
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper, check_wrapper, save_all_but_held
from mcard.infrastructure.persistence.engine_config import SQLiteConfig
from mcard.records import aware_time, bytes_literal, name_sighting, record_sightings, record_tags
from mcard.threads import run_to_the_end

DEFAULT_BATCH_FILES: Final = 500
DEFAULT_BATCH_BYTES: Final = 64 * 1024 * 1024
SYMLINK_LOOP: Final = "symlink loop"
TOO_LARGE: Final = "too large"
HELD_BY_DAMAGED: Final = "held by a damaged card (mcard verify --remove frees it)"
"""A file whose content's hash a row another tool changed holds: not stored (``HeldByDamagedError``)."""
LINKED_FOLDER: Final = "symlink to a folder"
"""A link to a folder inside a folder walked is not followed (it could lead anywhere, or back)."""
UNREADABLE_FOLDER: Final = "unreadable folder"
"""A folder that cannot be listed (no permission, a path longer than the system takes)."""
REMOVED: Final = "removed during the import"
"""A file listed, then gone (deleted or moved away) before it was read: not a file one may not read."""
OUT_OF_TREE: Final = "symlink out of tree"
NOT_REGULAR: Final = "not a regular file"
BROKEN_LINK: Final = "broken symlink"
"""A symbolic link to nothing (its target was removed or never was): there is nothing to read."""
OWN_FILE: Final = "the store's own file"
STDIN_NAME: Final = "standard input"
UPLOAD: Final = "upload"
"""The source of a sighting of an uploaded file."""
RECORD_FORMATS: Final = ("jsonl", "csv", "parquet")
NAMED_SKIPS: Final = frozenset({
    "missing", "unreadable", UNREADABLE_FOLDER, TOO_LARGE, REMOVED, "changed during the import", BROKEN_LINK, SYMLINK_LOOP,
})
"""Why a file was skipped that its user did not choose and may act on: such files are named in
``ImportSummary.skipped_files`` (an empty file, a link out of the tree or to a folder, a pipe or
the store's own file is only counted)."""
_SQLITE_COMPANIONS: Final = ("", "-wal", "-shm", "-journal")
_PLURAL_REASONS: Final = {
    SYMLINK_LOOP: "symlink loops", BROKEN_LINK: "broken symlinks", LINKED_FOLDER: "symlinks to a folder",
    UNREADABLE_FOLDER: "unreadable folders", OUT_OF_TREE: "symlinks out of tree", NOT_REGULAR: "not regular files",
    OWN_FILE: "of the store's own files",
}
"""The reasons that are things, as a summary counts several ("2 broken symlinks"); the others
say what the files were ("2 unreadable")."""


def _progress_bar(**options: Any) -> Any:
    """A ``tqdm.auto`` bar, imported only when an import runs."""
    from tqdm.auto import tqdm

    return tqdm(**options)


@dataclass(frozen=True)
class SkippedFile:
    """A file (or folder) an import skipped for one of ``NAMED_SKIPS``: its path as the import
    reached it (``os.fsdecode``: ``os.fsencode`` gives its bytes back, a file name that is not
    UTF-8 included), and why. Shown on a screen, its control characters are escapes."""

    path: str
    reason: str


class SkipCount(Counter[str]):
    """Files skipped, by reason, and the ``files`` skipped for one of ``NAMED_SKIPS``, in the
    order met: so that an import can say which files it left out, not only how many."""

    def __init__(self, *counts: Any, **by_reason: int) -> None:
        super().__init__(*counts, **by_reason)
        self.files: list[SkippedFile] = list(getattr(counts[0], "files", ())) if counts else []


def _skip(skipped: Counter[str], reason: str, path: str | os.PathLike[str]) -> None:
    """Count ``path`` skipped for ``reason``; a ``SkipCount`` also keeps it when the reason is named."""
    skipped[reason] += 1
    if isinstance(skipped, SkipCount) and reason in NAMED_SKIPS:
        skipped.files.append(SkippedFile(os.fsdecode(path), reason))


@dataclass
class ImportSummary:
    """What an import did: files stored (their contents new or already stored, one card each)
    and files skipped by reason, which together are every file found; for records, the
    sightings and tags it added (to cards already stored too). ``skipped_files`` names the files
    skipped for a reason their user may act on (``NAMED_SKIPS``: unreadable, too large...)."""

    files: int = 0
    new: int = 0
    already_stored: int = 0
    bytes: int = 0
    skipped: Counter[str] = field(default_factory=SkipCount)
    sightings_added: int = 0
    tags_added: int = 0
    removed_before_tagged: int = 0
    """Cards stored here that another writer removed before their tags were attached."""
    not_utf8: int = 0
    """Files named as text (``notes.txt``, ``data.csv``) whose bytes are not UTF-8 (Latin-1,
    UTF-16, Shift-JIS): stored as they are, as bytes, in which no word search finds their words
    (a search of UTF-16 reads its bytes as text between NULs)."""

    @property
    def skipped_files(self) -> list[SkippedFile]:
        """The files skipped for one of ``NAMED_SKIPS``, by path."""
        return sorted(getattr(self.skipped, "files", ()), key=lambda file: file.path)

    def add(self, files: int, cards: Sequence[MCard], new: int) -> None:
        """Count one stored batch: ``files`` read, ``cards`` saved, ``new`` of them new."""
        self.files += files
        self.new += new
        self.already_stored += len(cards) - new
        self.bytes += sum(card.size for card in cards)

    async def save(
        self, store: AsyncPersistenceWrapper, files: int, cards: Sequence[MCard], sightings: Sequence[Sighting],
        tags: Sequence[str] = (),
    ) -> set[str]:
        """Save ``cards`` with their ``sightings`` (one transaction) and count them, and the
        sightings that were not recorded yet (a file imported again adds none); then attach
        ``tags`` (checked) to each card saved, counting those it did not have yet. A content whose
        hash a damaged row holds is not stored (nor tagged): its files are counted skipped, the
        rest saved. Returns the hashes of such contents."""
        saved, held = await save_all_but_held(store, cards, sightings)
        if held:
            left_out = sum(card.hash in held for card in cards)
            self.skipped[HELD_BY_DAMAGED] += left_out
            files -= left_out
            cards = [card for card in cards if card.hash not in held]
        self.add(files, cards, saved.cards)
        self.sightings_added += saved.sightings
        await self.tag(store, [(card.hash, tag) for card in cards for tag in tags])
        return held

    async def tag(self, store: AsyncPersistenceWrapper, pairs: Sequence[tuple[str, str]]) -> None:
        """Attach each (hash, tag), counting the new ones; the cards another writer removed
        since they were saved are left out and counted (``removed_before_tagged``), as a sync
        leaves out cards removed while it runs: the import goes on."""
        while pairs:
            try:
                self.tags_added += await store.tag_many(pairs)
                return
            except NotStoredError as exc:
                removed = set(exc.hashes)
                if not removed & {key for key, _ in pairs}:
                    raise
                self.removed_before_tagged += len(removed)
                pairs = [pair for pair in pairs if pair[0] not in removed]

    def merge(self, other: ImportSummary) -> None:
        self.files += other.files
        self.new += other.new
        self.already_stored += other.already_stored
        self.bytes += other.bytes
        self.skipped.update(other.skipped)
        if isinstance(self.skipped, SkipCount):
            self.skipped.files.extend(other.skipped_files)
        self.sightings_added += other.sightings_added
        self.tags_added += other.tags_added
        self.removed_before_tagged += other.removed_before_tagged
        self.not_utf8 += other.not_utf8

    def __str__(self) -> str:
        text = f"{counted(self.new, 'new card')}, {self.already_stored:,} already stored"
        if self.sightings_added or self.tags_added:
            text += f"; {counted(self.sightings_added, 'sighting')} and {counted(self.tags_added, 'tag')} added"
        if self.removed_before_tagged:
            text += f"; {counted(self.removed_before_tagged, 'card')} removed by another writer before being tagged"
        if self.not_utf8:
            text += f"; {counted(self.not_utf8, 'text file')} not in UTF-8, stored as bytes whose words are not found"
        if self.skipped:
            reasons = ", ".join(f"{n:,} {reason if n == 1 else _PLURAL_REASONS.get(reason, reason)}"
                                for reason, n in sorted(self.skipped.items()))
            folders = self.skipped.get(UNREADABLE_FOLDER, 0) + self.skipped.get(LINKED_FOLDER, 0)
            files = sum(self.skipped.values()) - folders
            what = " and ".join(counted(n, kind) for n, kind in ((files, "file"), (folders, "folder")) if n)
            text += f"; skipped {what}: {reasons}"
        return text

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's display: the sentence, not the fields."""
        printer.text(str(self))

    def as_dict(self) -> dict[str, object]:
        return {
            "files": self.files, "new": self.new, "already_stored": self.already_stored,
            "bytes": self.bytes, "skipped": dict(self.skipped),
            "skipped_files": [{"path": file.path, "reason": file.reason} for file in self.skipped_files],
            "sightings_added": self.sightings_added, "tags_added": self.tags_added,
            "removed_before_tagged": self.removed_before_tagged, "not_utf8": self.not_utf8,
        }


BINARY_SNIFF_BYTES: Final = 8000
"""A file with a NUL byte among its first so many bytes is not text, whatever its encoding
(as git and grep decide): zeroed or sparse files, UTF-16, database pages."""
CONTROL_SHARE: Final = 4
"""A file named as text stored as bytes for its NULs is counted as not in UTF-8 (its words are
not found) when control bytes (NULs and the like) are at least one byte in this many: UTF-16
read as UTF-8 is half NULs (Latin letters) or half controls (Cyrillic: 0x04 in every other
byte), where a UTF-8 text with a stray NUL has one or two."""
_CONTROL_BYTES: Final = bytes(byte for byte in range(0x20) if byte not in b"\t\n\r\x0c")


def card_from_file_bytes(data: bytes) -> MCard:
    """UTF-8 files become text cards (searchable, same bytes back); files in a binary format
    (known by their magic bytes, even when ASCII like many PDFs), files with a NUL byte near
    their start (``BINARY_SNIFF_BYTES``) and other bytes stay bytes."""
    binary = MCard(data)
    if binary.content_type != OCTET_STREAM or b"\x00" in data[:BINARY_SNIFF_BYTES]:
        return binary
    try:
        return MCard(data.decode("utf-8"), g_time=binary.g_time)
    except UnicodeDecodeError:
        return binary


def checked_tags(tags: str | Iterable[str]) -> list[str]:
    """The tags an import attaches to every card it stores (a str alone is one tag), each
    checked as ``tag`` checks it, so that a bad one is a ``ValidationError`` before anything is
    read or stored."""
    if isinstance(tags, (bytes, bytearray)) or not isinstance(tags, (str, Iterable)):
        raise ValidationError(f"tags must be a tag or an iterable of them, got {type(tags).__name__}")
    return list(dict.fromkeys(check_tag(tag) for tag in ([tags] if isinstance(tags, str) else tags)))


def _matches(relative: str, patterns: Sequence[str]) -> bool:
    """Whether a file (its path under the folder imported, ``/``-separated) matches one of
    ``patterns``: by that path, by its name, or by a folder it is in, named by its name or its
    path (``drafts`` or ``docs/drafts`` takes every file under it, as rsync and git read them).
    A pattern starting with ``/`` is anchored there, as in rsync and ``.gitignore``: ``/drafts``
    is the folder imported's own ``drafts`` (not ``docs/drafts``), and its ``*`` stays within a
    name (``/*.md`` is a file at the top), ``**`` standing for any folders. Elsewhere a ``**/``
    stands for any folders too, none included (``**/holiday/*.jpg``, ``docs/**/drafts``)."""
    parts = relative.split("/")
    names = {relative, *parts, *("/".join(parts[:end]) for end in range(1, len(parts)))}
    return any(
        any(_anchored(pattern[1:].split("/"), parts[:end]) for end in range(1, len(parts) + 1))
        if pattern.startswith("/")
        else any(fnmatch.fnmatchcase(name, variant) for variant in _any_folders(pattern) for name in names)
        for pattern in patterns
    )


_ANY_FOLDERS: Final = re.compile(r"(?:^|(?<=/))\*\*/")


@functools.lru_cache(maxsize=256)
def _any_folders(pattern: str) -> tuple[str, ...]:
    """The ``fnmatch`` patterns an unanchored ``pattern`` stands for, each ``**/`` (at its start
    or after a ``/``) taken as no folder or as some (``*/``, a ``*`` matching ``/`` too):
    ``**/holiday/*.jpg`` is ``holiday/*.jpg`` or ``*/holiday/*.jpg``. ``holiday/*.jpg`` alone
    would only match from the folder imported, and ``**/holiday/*.jpg`` took no file at all."""
    pieces = _ANY_FOLDERS.split(pattern)
    variants = [pieces[0]]
    for piece in pieces[1:]:
        variants = [variant + folders + piece for variant in variants for folders in ("", "*/")]
    return tuple(dict.fromkeys(variants))


def _anchored(pattern: Sequence[str], parts: Sequence[str]) -> bool:
    """Whether the names ``parts`` of a path match the names of an anchored ``pattern`` one for
    one, a ``**`` matching any number of them."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        rest = pattern[1:]
        while rest and rest[0] == "**":  # ** ** is **: not tried once per way of splitting the folders
            rest = rest[1:]
        return any(_anchored(rest, parts[skip:]) for skip in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and _anchored(pattern[1:], parts[1:])


def _link_target(path: Path) -> Path | str:
    """Where the symbolic link ``path`` leads, or why it leads nowhere: round in a loop, or to nothing."""
    try:
        return path.resolve(strict=True)
    except RuntimeError:  # Python 3.11 and 3.12 report a loop so
        return SYMLINK_LOOP
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return SYMLINK_LOOP
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return BROKEN_LINK
        return path.resolve()  # a folder on its way not searchable: read later, and counted as unreadable


@dataclass(frozen=True)
class FoundFile:
    """A file to import: where it is, its path relative to the import's root, and that root;
    and where it is read from: the folder ``start``, opened as named, then the ``steps`` below
    it (for a symbolic link, to the file it led to when it was listed), each taken without
    following a link, so that a folder swapped for a link after the listing is not followed."""

    path: Path
    relative: str
    root: str
    start: Path
    steps: str


def _checked_arguments(
    paths: object, include: object, exclude: object
) -> tuple[list[Path], tuple[str, ...], tuple[str, ...]]:
    """``paths`` as a list (one path, a ``str`` or path-like, stands alone: it is not a list of
    characters) and the patterns as tuples (one ``str`` is one pattern); ``ValidationError``
    for anything else."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if isinstance(paths, (bytes, bytearray)) or not isinstance(paths, Iterable):
        raise ValidationError(f"paths must be a path or an iterable of paths, got {type(paths).__name__}")
    listed = list(paths)
    for given in listed:
        if not isinstance(given, (str, os.PathLike)) or not isinstance(os.fspath(given), str):
            raise ValidationError(f"each path must be a str or a path-like object, got {type(given).__name__}")
    return [Path(given) for given in listed], _patterns(include, "include"), _patterns(exclude, "exclude")


def _patterns(patterns: object, name: str) -> tuple[str, ...]:
    if isinstance(patterns, str):
        return (_plain(patterns),)
    if isinstance(patterns, (bytes, bytearray)) or not isinstance(patterns, Iterable):
        raise ValidationError(f"{name} must be a glob pattern or an iterable of them, got {type(patterns).__name__}")
    listed = tuple(patterns)
    if not all(isinstance(pattern, str) for pattern in listed):
        raise ValidationError(f"{name} patterns must be str")
    return tuple(_plain(pattern) for pattern in listed)


def _plain(pattern: str) -> str:
    """A pattern as ``_matches`` reads it: ``./drafts/``, ``**/drafts`` and ``drafts/**`` as ``drafts``."""
    if pattern.startswith("./"):
        pattern = pattern[2:]
    while pattern.endswith("/**") or (pattern.endswith("/") and len(pattern) > 1):
        pattern = pattern[:-3] if pattern.endswith("/**") else pattern[:-1]
    while pattern.startswith("**/") and "/" not in pattern[3:]:  # a name matches in any folder
        pattern = pattern[3:]
    return pattern


def _taken(relative: str, included: Sequence[str], excluded: Sequence[str]) -> bool:
    """Whether the patterns take a file, by its path under the folder imported (``_matches``)."""
    return (not included or _matches(relative, included)) and not _matches(relative, excluded)


def _own_name(given: Path) -> str | None:
    """The name a path named for import is matched by; None for ``.``, ``..`` and ``/``, which
    name no folder of their own."""
    return given.name if given.name not in ("", "..") else None


def _left_out(given: Path, folder: bool, included: Sequence[str], excluded: Sequence[str]) -> bool:
    """Whether the patterns leave out a path named for import, matched by its name as a file or
    a folder inside a folder imported would be: a file by its name, a folder as a folder of its
    files (only ``exclude`` leaves a folder out: its files may be included one by one)."""
    name = _own_name(given)
    if name is None:
        return False
    return _matches(name, excluded) if folder else not _taken(name, included, excluded)


def left_out(
    path: str | os.PathLike[str], folder: bool, include: str | Sequence[str] = (), exclude: str | Sequence[str] = ()
) -> bool:
    """Whether ``include`` and ``exclude`` leave out ``path``, named for import as a file or,
    when ``folder``, a folder: such a path is never opened."""
    return _left_out(Path(path), folder, _patterns(include, "include"), _patterns(exclude, "exclude"))


def _lstat(path: Path) -> os.stat_result | str:
    """The status of ``path`` itself (a link not followed), or why it is skipped."""
    try:
        return path.lstat()
    except OSError as exc:
        reasons = {errno.ENOENT: "missing", errno.ENOTDIR: "missing", errno.ELOOP: SYMLINK_LOOP}
        return reasons.get(exc.errno, "unreadable")


def iter_files(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    include: str | Sequence[str] = (),
    exclude: str | Sequence[str] = (),
    skipped: Counter[str] | None = None,
) -> Iterator[FoundFile]:
    """Regular files under ``paths`` in a stable order, never leaving a given folder's tree.
    A folder is the root of the files under it; a file given alone has its folder as root.
    A path given is matched by its name too, so that ``dir/*`` takes the files ``dir`` would:
    a file the patterns leave out is not read, a folder excluded is not entered, and a folder
    whose name is included has all its files taken.

    Symbolic links are followed only to files inside the tree they were found in; links that
    go round in a loop are counted in ``skipped`` as ``"symlink loop"``, links to nothing as
    ``"broken symlink"``, links to folders as ``"symlink to a folder"`` (not followed).
    """
    skipped = Counter() if skipped is None else skipped
    roots, included, excluded = _checked_arguments(paths, include, exclude)
    for given in roots:
        yield from _named_files(given, included, excluded, skipped)


def _named_files(given: Path, included: Sequence[str], excluded: Sequence[str], skipped: Counter[str]) -> Iterator[FoundFile]:
    """The files of one path named for import, for ``iter_files``."""
    listed = _lstat(given)
    if isinstance(listed, str):
        _skip(skipped, listed, given)
        return
    if stat.S_ISLNK(listed.st_mode) and isinstance(reason := _link_target(given), str):
        _skip(skipped, reason, given)
        return
    folder = os.path.isdir(given)
    if _left_out(given, folder, included, excluded):
        return
    if folder:
        name = _own_name(given)
        whole = name is not None and _matches(name, included)  # a folder included: all its files
        yield from _walk(given, () if whole else included, excluded, skipped)
        return
    read = given.resolve() if stat.S_ISLNK(listed.st_mode) else given  # named by the caller: followed
    yield FoundFile(given, given.name, os.fsdecode(os.path.dirname(os.path.abspath(given))), read.parent, read.name)


def _walk(given: Path, included: Sequence[str], excluded: Sequence[str], skipped: Counter[str]) -> Iterator[FoundFile]:
    """The files the patterns take in the folder ``given``. A folder excluded is not entered,
    so nothing in it is read or counted."""
    root = given.resolve()
    source = os.fsdecode(os.path.abspath(given))  # "notes" and "x/../notes" are one source

    def unlisted(failure: OSError) -> None:  # its files are not known: the folder is counted
        _skip(skipped, REMOVED if failure.errno == errno.ENOENT else UNREADABLE_FOLDER, failure.filename or given)

    for folder, dirs, names in os.walk(given, onerror=unlisted):
        dirs[:] = sorted(name for name in dirs if not _matches(Path(folder, name).relative_to(given).as_posix(), excluded))
        linked = sum(os.path.islink(os.path.join(folder, name)) for name in dirs)  # not walked into
        if linked:
            skipped[LINKED_FOLDER] += linked
        for name in sorted(names):
            path = Path(folder, name)
            relative = path.relative_to(given).as_posix()
            if _taken(relative, included, excluded):
                found = _found(path, relative, given, root, source, skipped)
                if found is not None:
                    yield found


def _found(path: Path, relative: str, given: Path, root: Path, source: str, skipped: Counter[str]) -> FoundFile | None:
    """The file ``path`` listed in the folder ``given`` (``root`` resolved), or None when it is
    a link that leads out of the tree, round in a loop or to nothing (counted in ``skipped``). An entry whose
    status cannot be read (in a folder that may be listed but not searched) is taken for a file:
    reading it, without following a link, counts it as unreadable."""
    if not os.path.islink(path):
        return FoundFile(path, relative, source, given, relative)
    target = _link_target(path)
    if isinstance(target, str):
        _skip(skipped, target, path)
        return None
    if not target.is_relative_to(root):
        skipped[OUT_OF_TREE] += 1
        return None
    return FoundFile(path, relative, source, root, target.relative_to(root).as_posix())


def _read_batch(files: list[FoundFile], max_size: int, skipped: Counter[str]) -> tuple[list[MCard], list[Sighting]]:
    """The cards of ``files`` and a sighting of each (its name, path, size, mtime, root)."""
    cards, sightings = [], []
    for found in files:
        path = found.path
        read = _read_file(found.start, found.steps, max_size)
        if isinstance(read, str):
            _skip(skipped, read, path)
            continue
        data, info = read
        if not data:
            skipped["empty"] += 1
        elif len(data) > max_size:
            _skip(skipped, TOO_LARGE, path)
        else:
            card = card_from_file_bytes(data)
            cards.append(card)
            sightings.append(Sighting.of(
                card.hash, name=as_label(path.name), path=as_label(found.relative), size=len(data),
                mtime=_mtime(info), source=as_label(found.root),
            ))
    return cards, sightings


def _mtime(info: os.stat_result) -> Optional[datetime]:
    """A file's modification time, or None when it lies outside the years 1 to 9999 (a file
    system may hold any time a broken clock or an archive gave it)."""
    try:
        return datetime.fromtimestamp(info.st_mtime, timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None


def _read_file(start: Path, steps: str, max_size: int) -> tuple[bytes, os.stat_result] | str:
    """The bytes of the regular file ``steps`` below the folder ``start`` (at most ``max_size``
    + 1) and its status, or why it is skipped. The tree may change while it is imported: a link
    put in the place of the file or of a folder on its way since it was listed is not followed,
    a pipe put there is not waited on, a file removed since is not called unreadable, and a file
    that grew is read no further than the limit. Only a regular file is opened: opening a pipe
    would end a writer's wait on it, and opening a device may act on it."""
    *folders, name = steps.split("/")
    try:
        folder = _open_folder(start, folders)
    except OSError as exc:
        return _unread(exc, (errno.ELOOP, errno.ENOTDIR))
    try:
        listed = os.stat(name, dir_fd=folder, follow_symlinks=False)
        if stat.S_ISLNK(listed.st_mode):
            return "changed during the import"
        if not stat.S_ISREG(listed.st_mode):
            return NOT_REGULAR
        descriptor = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder)
    except OSError as exc:
        return _unread(exc, (errno.ELOOP,))
    finally:
        os.close(folder)
    try:
        with open(descriptor, "rb", closefd=True) as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                return NOT_REGULAR
            if info.st_size > max_size:
                return TOO_LARGE
            return read_at_most(file, max_size), info
    except OSError:
        return "unreadable"


def _unread(failure: OSError, swapped: tuple[int, ...]) -> str:
    """Why a file listed could not be opened: a link or file put in the place of a folder on its
    way (``swapped``), the file or a folder on its way removed since the listing, or no permission."""
    if failure.errno in swapped:
        return "changed during the import"
    return REMOVED if failure.errno == errno.ENOENT else "unreadable"


def _open_folder(start: Path, folders: Sequence[str]) -> int:
    """A descriptor of the folder ``folders`` below ``start``, each opened without following a link."""
    descriptor = os.open(start, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for name in folders:
            below = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=descriptor)
            os.close(descriptor)
            descriptor = below
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def store_files(store: AsyncPersistenceWrapper) -> set[tuple[int, int]]:
    """The (device, inode) of the store's own files (a SQLite database and its ``-wal``,
    ``-shm`` and ``-journal``), which an import must never read: storing them as cards would
    grow the database by its own size on every run."""
    config = store.config
    if not isinstance(config, SQLiteConfig) or config.in_memory:
        return set()
    found = set()
    for suffix in _SQLITE_COMPANIONS:
        try:
            info = os.stat(f"{config.path}{suffix}")
        except OSError:
            continue
        found.add((info.st_dev, info.st_ino))
    return found


def _listed(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    include: str | Sequence[str],
    exclude: str | Sequence[str],
    skipped: Counter[str],
    own: set[tuple[int, int]],
) -> list[tuple[FoundFile, int]]:
    """The files to import with their sizes, the store's own files left out (and counted)."""
    files = []
    for found in iter_files(paths, include, exclude, skipped):
        try:
            info = found.path.stat()
        except OSError:
            files.append((found, 0))  # read later, and counted as unreadable
            continue
        if (info.st_dev, info.st_ino) in own:
            skipped[OWN_FILE] += 1
        else:
            files.append((found, info.st_size))
    return files


async def import_paths(
    store: AsyncPersistenceWrapper,
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    include: str | Sequence[str] = (),
    exclude: str | Sequence[str] = (),
    batch_files: int = DEFAULT_BATCH_FILES,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    progress: bool | None = None,
    tags: str | Iterable[str] = (),
) -> ImportSummary:
    """Store every readable file under ``paths`` as a card, ``batch_files`` per transaction,
    with a sighting of each file (its name, path under the root, size, mtime, and the root as
    source), also of a file whose content was already stored: copies are found so. ``tags``
    are attached to every card a file gave, new or already stored, right after its batch.

    ``include`` and ``exclude`` take files as ``iter_files`` does, paths named included: those
    left out are not read, nor counted. Files are read on a worker thread, one batch per hop.
    Nothing is fatal: missing paths, and files too large, unreadable (a folder on their way not
    searchable too), removed since they were listed, empty, linked from outside the tree, through
    a symlink loop or by a broken symlink are counted in ``summary.skipped``; so are the store's
    own database files, never imported.
    ``progress=None`` shows a bar only on a terminal or in a notebook.
    """
    check_wrapper(store, "import_paths")
    batch_files, batch_bytes = positive_count("batch_files", batch_files), positive_count("batch_bytes", batch_bytes)
    tags = checked_tags(tags)
    progress = checked_progress(progress)
    summary = ImportSummary()
    max_size = store.config.max_content_size
    files = await asyncio.to_thread(  # iter_files checks the arguments: a ValidationError comes back
        lambda: _listed(paths, include, exclude, summary.skipped, store_files(store))
    )
    with _progress_bar(total=len(files), unit="file", desc="importing files",
                       disable=None if progress is None else not progress) as bar:
        start = 0
        while start < len(files):
            batch, size = [], 0
            while start < len(files) and len(batch) < batch_files and size < batch_bytes:
                path, file_size = files[start]
                batch.append(path)
                size += file_size
                start += 1
            cards, sightings, not_utf8 = await asyncio.to_thread(_read_counted, batch, max_size, summary.skipped)
            summary.not_utf8 += not_utf8
            await summary.save(store, len(cards), cards, sightings, tags)
            bar.update(len(batch))
    return summary


TEXT_SUFFIXES: Final = (".log", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf")
"""Suffixes of text files that ``mimetypes`` may not know."""


def _read_counted(
    files: list[FoundFile], max_size: int, skipped: Counter[str]
) -> tuple[list[MCard], list[Sighting], int]:
    """``_read_batch``, and how many of its files are named as text but stored as bytes whose
    words no search finds (``ImportSummary.not_utf8``), counted on the same thread: telling them
    decodes each such content."""
    cards, sightings = _read_batch(files, max_size, skipped)
    not_utf8 = sum(not card.is_text and card.content_type == OCTET_STREAM and _named_as_text(seen.name)
                   and not _searched_as_text(card.content) for card, seen in zip(cards, sightings))
    return cards, sightings, not_utf8


def _named_as_text(name: Optional[str]) -> bool:
    """Whether a file's name says it holds text (``.txt``, ``.csv``, ``.json``, ``.md``, ``.log``...)."""
    if not name:
        return False
    kind = mimetypes.guess_type(name)[0]
    if kind is not None:
        return kind.startswith("text/") or kind.endswith(("/json", "/xml", "+xml"))
    return name.lower().endswith(TEXT_SUFFIXES)


def _searched_as_text(data: bytes) -> bool:
    """Whether the bytes of a file named as text are UTF-8 that a search reads as text: a NUL
    byte made them a bytes card, but a few NULs leave its words to be found (UTF-16 and UTF-32
    read as UTF-8 hold a NUL or a control byte beside every letter; a zeroed file is nothing but
    NULs)."""
    controls = len(data) - len(data.translate(None, _CONTROL_BYTES))
    if controls * CONTROL_SHARE >= len(data):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def read_at_most(stream: BinaryIO, max_size: int) -> bytes:
    """Everything ``stream`` holds, up to one byte more than ``max_size`` (so a caller can
    tell the stream is too large without reading it all)."""
    parts, left = [], max_size + 1
    while left > 0:
        part = stream.read(min(left, 1024 * 1024))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


async def import_stream(store: AsyncPersistenceWrapper, stream: BinaryIO, *, tags: str | Iterable[str] = ()) -> ImportSummary:
    """Store everything ``stream`` holds (standard input) as one card, like a file: text or
    bytes as ``card_from_file_bytes`` decides; empty or too large, it is counted in ``summary.skipped``.
    A sighting records its source, ``standard input``; ``tags`` are attached to the card."""
    check_wrapper(store, "import_stream")
    tags = checked_tags(tags)
    summary = ImportSummary()
    max_size = store.config.max_content_size
    data = await asyncio.to_thread(read_at_most, stream, max_size)
    if not data:
        summary.skipped["empty"] = 1
    elif len(data) > max_size:
        _skip(summary.skipped, TOO_LARGE, STDIN_NAME)
    else:
        card = card_from_file_bytes(data)
        seen = Sighting.of(card.hash, size=len(data), source=STDIN_NAME)
        await summary.save(store, 1, [card], [seen], tags)
    return summary


async def import_upload(store: AsyncPersistenceWrapper, name: str, data: bytes) -> tuple[MCard, bool]:
    """Store an uploaded file as a file import would (UTF-8 text becomes a text card), with a
    sighting of its name from source ``upload``; the stored card, and whether it is new.
    Empty or too large content, data that is not bytes or a name that is not a str is a
    ``ValidationError`` (nothing is converted)."""
    check_wrapper(store, "import_upload")
    if not isinstance(name, str):
        raise ValidationError(f"an upload's name is a str, not {type(name).__name__}")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValidationError(f"an upload's data is bytes, not {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise ValidationError(f"{as_label(name)!r} is empty: there is nothing to store")
    if len(data) > store.config.max_content_size:
        raise ValidationError(
            f"{as_label(name)!r} is {len(data):,} bytes, more than this store's max_content_size "
            f"({store.config.max_content_size:,})"
        )
    card = card_from_file_bytes(data)
    new = await store.save_many([card], sightings=[Sighting.of(card.hash, name=as_label(name), size=len(data), source=UPLOAD)])
    stored = card if new else await store.get(card.hash)
    return (stored or card), bool(new)


def record_card(record: object) -> MCard:
    """Rebuild a card from an export record that has its content (keeps its ``g_time``).

    Records come from files: every field is checked, and anything wrong is a ``ValidationError``.
    """
    if not isinstance(record, dict):
        raise ValidationError(f"a record is an object of fields, not {type(record).__name__}")
    if "content" not in record:
        raise ValidationError("the record has no content (an export made without content, mcard export --no-content"
                              " or export(..., with_content=False), cannot be imported)")
    content = record["content"]
    if content is None:  # a CSV row cut short, or a null
        raise ValidationError("the record's content is missing (a line cut short?)")
    if content == "" or content == b"":
        raise ValidationError("the record's content is empty (no card is empty)")
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
        raise ValidationError(f"unknown content_encoding {brief(encoding)}")
    elif isinstance(content, str) and record.get("kind") == "bytes" and not record.get("content_encoding"):
        literal = bytes_literal(content)  # a DataFrame's bytes as pandas writes them to CSV
        content = content if literal is None else literal
    card = MCard(content, hash_algorithm=str(record.get("hash_algorithm") or "sha256"), g_time=_g_time(record))  # type: ignore[arg-type]
    _check_stated(record, card)
    if record.get("hash") and card.hash != record["hash"]:
        if isinstance(record["hash"], str) and card.hash == record["hash"].lower():
            raise ValidationError(f"the hash '{shown(record['hash'])}' is not lowercase (a hash is lowercase hex)")
        raise ValidationError(f"the content does not hash to '{shown(record['hash'])}'")
    stated = record.get("content_type")
    if stated is None or stated == "":
        return card
    if not isinstance(stated, str) or not is_mime_type(stated.strip().lower()):
        raise ValidationError(f"the record's content_type {shown(str(stated))!r} is not a MIME type such as 'text/plain'")
    return MCard.restore(card.content, card.hash, card.g_time, card.hash_algorithm, card.size, stated.strip().lower())


def _check_stated(record: dict[str, object], card: MCard) -> None:
    """The size and kind a record states (when it does) must be its content's: a file whose
    fields disagree with its content was changed by hand or cut."""
    size = record.get("size")
    if size is not None and size != "":
        whole = size.__class__ is int or (isinstance(size, str) and size.isascii() and size.isdigit())
        if not whole or int(size) != card.size:  # type: ignore[call-overload]
            raise ValidationError(f"the record's size {shown(str(size))} is not its content's {card.size} bytes")
    kind = record.get("kind")
    if kind is not None and kind != "" and kind != card.kind:
        if kind not in ("text", "bytes"):
            raise ValidationError(f"kind is text or bytes, not {shown(str(kind))!r}")
        raise ValidationError(f"the record's kind is {kind} but its content is {card.kind}")


def _g_time(record: dict[str, object]) -> datetime:
    """A record's ``g_time``: an ISO 8601 text (JSON Lines, CSV) or a timestamp (Parquet)."""
    value = record.get("g_time")
    if value is None or value == "":
        raise ValidationError("the record has no g_time")
    if not isinstance(value, (str, datetime)):
        raise ValidationError(f"g_time is an ISO 8601 text, not {type(value).__name__}")
    return aware_time(value, "g_time")


def records_format(source: str | os.PathLike[str] | BinaryIO, format: Optional[str] = None) -> str:
    """The format of an export's records: given, or from the file's suffix; a stream
    (standard input) is JSON Lines unless ``format`` says otherwise; a DataFrame is ``frame``."""
    if is_frame(source):
        if format is not None:
            raise ValidationError("a DataFrame is read as it is: give no format")
        return "frame"
    stream = not isinstance(source, (str, os.PathLike))
    if stream and not callable(getattr(source, "read", None)):
        raise ValidationError(
            f"records are read from a file, a binary stream or a pandas DataFrame, not a {type(source).__name__}"
        )
    if stream and isinstance(source, io.TextIOBase):
        raise ValidationError("records are read from a binary stream (open(path, 'rb'), sys.stdin.buffer), not a text one")
    if format is not None:
        if format not in RECORD_FORMATS:
            raise ValidationError(f"unknown records format {brief(format)}; choose one of {', '.join(RECORD_FORMATS)}")
        if format == "parquet" and stream:
            raise ValidationError("Parquet records are read from a file, not from a stream")
        return _readable(format)
    if stream:
        return "jsonl"
    found = {".jsonl": "jsonl", ".csv": "csv", ".parquet": "parquet"}.get(Path(source).suffix.lower())
    if found is None:
        raise ValidationError("records are read from .jsonl, .csv or .parquet exports (or give the format)")
    return _readable(found)


def _readable(kind: str) -> str:
    """``kind``, a records format, once what reads it is installed: Parquet needs pyarrow (the
    ``parquet`` extra), and a ``ValidationError`` saying so comes before any store is made or
    record stored, as for a format refused."""
    if kind == "parquet":
        try:
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            raise ValidationError(f"Parquet import needs pyarrow: {install_command('parquet')}") from None
    return kind


def read_records(
    source: str | os.PathLike[str] | BinaryIO, format: Optional[str] = None
) -> Iterator[tuple[str, object]]:
    """The records of an mcard export (JSON Lines, CSV or Parquet; a file, or a binary stream
    such as standard input), each with where it is (``"line 7"``, ``"row 7"``). A line that
    cannot be read is a ``ValidationError`` that names it; a file that cannot be opened is an
    ``OSError``."""
    kind = records_format(source, format)
    if kind == "frame":
        yield from frame_records(source)
    elif kind == "parquet":
        yield from _parquet_records(Path(source))  # type: ignore[arg-type]
    elif isinstance(source, (str, os.PathLike)):
        with Path(source).open("rb") as lines:
            yield from _text_records(lines, kind)
    else:
        yield from _text_records(source, kind)


def _text_records(lines: BinaryIO, kind: str) -> Iterator[tuple[str, object]]:
    if kind == "jsonl":
        for number, line in enumerate(lines, 1):
            text = _decoded(line, number)
            if text.strip():
                try:
                    yield f"line {number}", json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ValidationError(f"line {number}: not JSON: {exc.msg} (column {exc.colno})") from None
                except ValueError as exc:  # a number of more digits than Python converts
                    raise ValidationError(f"line {number}: {str(exc).split(';')[0]}") from None
                except RecursionError:
                    raise ValidationError(f"line {number}: JSON nested too deeply to read") from None
        return
    csv.field_size_limit(2**31 - 1)
    rows = csv.DictReader(_decoded(line, number) for number, line in enumerate(lines, 1))
    end = 1  # the header's line
    try:
        if rows.fieldnames is not None and not {"hash", "content"} & set(rows.fieldnames):
            raise ValidationError("line 1: not the header of an mcard CSV export (no hash or content column)")
        for row in rows:
            start, end = end + 1, rows.line_num
            yield f"line {start}", {key: from_cell(value) if isinstance(value, str) else value for key, value in row.items()}
    except csv.Error as exc:
        raise ValidationError(f"line {rows.line_num}: not CSV: {exc}") from None


PARQUET_BATCH_BYTES: Final = 8 * 1024 * 1024
"""About how much of a Parquet row group's data is read into one batch of rows."""


def _parquet_records(path: Path) -> Iterator[tuple[str, object]]:
    """The rows of a Parquet file, read a row group at a time, in batches of about
    ``PARQUET_BATCH_BYTES``: pyarrow's own batches (65,536 rows, pre-buffered) joined the row
    groups of a whole export, and 40 cards of 8 MB restored at 1.2 GB."""
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(path, pre_buffer=False) as parquet:
            number = 0
            for group in range(parquet.metadata.num_row_groups):
                for batch in parquet.iter_batches(batch_size=_batch_rows(parquet.metadata.row_group(group)), row_groups=[group]):
                    for record in _parquet_rows(batch, number + 1):
                        number += 1
                        yield f"row {number}", record
    except ValidationError:
        raise
    except ValueError as exc:  # pyarrow's ArrowInvalid and ArrowException are ValueErrors
        raise ValidationError(f"not a readable Parquet file: {exc}") from None


def _batch_rows(group: Any) -> int:
    """How many rows of a Parquet row group (its metadata) make a batch of about
    ``PARQUET_BATCH_BYTES``: at least one, at most 1,000."""
    return max(1, min(1000, group.num_rows * PARQUET_BATCH_BYTES // max(1, group.total_byte_size)))


def _parquet_rows(batch: Any, first: int) -> Iterator[dict[str, object]]:
    """The rows of a Parquet batch (the first numbered ``first``) as Python values. A value
    Python cannot hold (a timestamp past the year 9999 or before the year 1, which another
    tool may write) is a ``ValidationError`` naming its row and column, after the rows before it."""
    try:
        yield from batch.to_pylist()
        return
    except (OverflowError, ValueError):
        pass
    for offset in range(batch.num_rows):
        row = batch.slice(offset, 1)
        try:
            [record] = row.to_pylist()
        except (OverflowError, ValueError) as exc:
            for name in row.schema.names:
                try:
                    row.column(name).to_pylist()
                except (OverflowError, ValueError):
                    raise ValidationError(f"row {first + offset}: {name} cannot be read: {exc}") from None
            raise ValidationError(f"row {first + offset}: cannot be read: {exc}") from None
        yield record


def _decoded(line: bytes, number: int) -> str:
    """A line of a records file as text; the byte order mark an editor (Excel, Notepad) may
    have put before the first one taken off."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"line {number}: not UTF-8") from None
    return text[1:] if number == 1 and text.startswith("\ufeff") else text


@dataclass(frozen=True)
class Restored:
    """A card rebuilt from an export record, with the sightings and tags the record carries."""

    card: MCard
    sightings: list[Sighting]
    tags: list[str]
    named: Optional[Sighting]
    """The sighting the record's ``name`` adds (``records.name_sighting``), unless the store
    lists the card under that name already."""


def restored(record: object) -> Restored:
    """``record_card``, and the record's sightings and tags, all checked."""
    card = record_card(record)
    assert isinstance(record, dict)
    sightings = record_sightings(record, card.hash)
    return Restored(card, sightings, record_tags(record), name_sighting(record, sightings, card.hash, card.size))


async def _chunk_sightings(store: AsyncPersistenceWrapper, chunk: list[Restored]) -> list[Sighting]:
    """The sightings a chunk of records adds: a record's name seen again only where the store
    does not list its card under that name (a frame of the store's own cards imported back)."""
    named = [(item.card.hash, item.named) for item in chunk if item.named is not None]
    latest = await store.names_of(hash_str for hash_str, _ in named) if named else {}
    return [
        *(sighting for item in chunk for sighting in item.sightings),
        *(seen for hash_str, seen in named if latest.get(hash_str) != seen.name),
    ]


def _source_name(source: str | os.PathLike[str] | BinaryIO) -> str | os.PathLike[str]:
    """What an error calls ``source``: its path, an open file's name, else standard input."""
    if isinstance(source, (str, os.PathLike)):
        return source
    if is_frame(source):
        return "the DataFrame"
    name = getattr(source, "name", None)
    return name if isinstance(name, str) and not name.startswith("<") else STDIN_NAME


def _cards(source: str | os.PathLike[str] | BinaryIO, format: Optional[str], max_size: int) -> Generator[Restored, None, None]:
    """The cards of an export's records, each within ``max_size`` bytes (the store's limit: a
    card over it would fail the whole batch it is saved in, unnamed); an error names the file
    and the record."""
    name = _source_name(source)
    try:
        for where, record in read_records(source, format):
            try:
                item = restored(record)
                if item.card.size > max_size:
                    raise ValidationError(
                        f"the card is {item.card.size:,} bytes, over this store's max_content_size ({max_size:,});"
                        " a store opened with a larger one takes it (a URL's ?max_content_size=BYTES)"
                    )
                yield item
            except ValidationError as exc:
                raise ValidationError(f"{where}: {exc}") from None
    except ValidationError as exc:
        raise ValidationError(f"{name}: {exc}") from None


def _readable_records(path: str | os.PathLike[str]) -> None:
    """A ``ValidationError`` naming ``path`` when it cannot be read as a file of records."""
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise ValidationError(f"{shown(os.fsdecode(path))}: a folder, not a file of records (import_paths imports a folder's files)")
        if stat.S_ISREG(mode):  # a pipe is left to the reading: opened twice, it would lose what its writer sends
            open(path, "rb").close()
    except OSError as exc:
        raise ValidationError(f"{shown(os.fsdecode(path))}: {exc.strerror or exc}") from None


def check_first_record(source: str | os.PathLike[str], format: Optional[str], max_size: int) -> None:
    """Read the first record of an export file as ``import_records`` would, so that a file that
    is no export of cards (its first line not a record, an export made without content, another
    format) is a ``ValidationError`` before a store is made for it."""
    cards = _cards(source, format, max_size)
    try:
        next(cards, None)
    finally:
        cards.close()


@contextmanager
def _closed_once_idle(cards: Generator[Any, None, None]) -> Iterator[None]:
    """Close ``cards`` (its file) at the end, unless a worker thread still runs it (a second
    interruption cut the wait for it short): it is closed when collected, once that step ends."""
    try:
        yield
    finally:
        if not cards.gi_running:
            cards.close()


def _next_cards(
    cards: Iterator[Restored], count: int, most_bytes: int
) -> tuple[list[Restored], ValidationError | None, bool]:
    """Up to ``count`` cards, fewer once their contents reach ``most_bytes``; the error that
    stopped them short, if any; and whether the records ended."""
    chunk: list[Restored] = []
    size = 0
    try:
        for item in cards:
            chunk.append(item)
            size += item.card.size
            if len(chunk) == count or size >= most_bytes:
                return chunk, None, False
    except ValidationError as exc:
        return chunk, exc, True
    return chunk, None, True


async def import_records(
    store: AsyncPersistenceWrapper,
    source: str | os.PathLike[str] | BinaryIO,
    *,
    format: Optional[str] = None,
    batch_size: int = 1000,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    progress: bool | None = None,
    tags: str | Iterable[str] = (),
) -> ImportSummary:
    """Restore the cards of an export made with content, with their original ``g_time``,
    their sightings (in the same transaction as the cards) and their tags (right after it),
    ``tags`` besides.

    ``source`` is an export file (its suffix tells the format), a binary stream such as
    standard input (JSON Lines unless ``format`` says ``csv``) or a pandas DataFrame of cards
    with their content (``list_df(content=True)``; other columns are left aside). Records are stored in order,
    ``batch_size`` per transaction, fewer once their contents reach ``batch_bytes`` (so memory
    follows the batch, not the file). A record that is not a whole card stops the import with a
    ``ValidationError`` naming its line (or Parquet row): every record before it is stored,
    none from it on, so importing again once it is fixed stores only the rest (cards already
    stored count as ``already_stored``).
    """
    check_wrapper(store, "import_records")
    batch_size, batch_bytes = positive_count("batch_size", batch_size), positive_count("batch_bytes", batch_bytes)
    tags = checked_tags(tags)
    progress = checked_progress(progress)
    summary = ImportSummary()
    records_format(source, format)  # an unknown format fails before anything is read
    if isinstance(source, (str, os.PathLike)):  # a file that cannot be read fails before the bar shows
        await asyncio.to_thread(_readable_records, source)
    disable = None if progress is None else not progress
    cards = _cards(source, format, store.config.max_content_size)
    with _closed_once_idle(cards), _progress_bar(unit="card", desc="restoring cards", disable=disable) as bar:
        while True:
            chunk, error, ended = await run_to_the_end(_next_cards, cards, batch_size, batch_bytes)
            if chunk:
                seen = await _chunk_sightings(store, chunk)
                held = await summary.save(store, len(chunk), [item.card for item in chunk], seen)
                await summary.tag(store, [(item.card.hash, tag) for item in chunk if item.card.hash not in held
                                          for tag in (*item.tags, *tags)])
                bar.update(len(chunk))
            if error is not None:
                if isinstance(error, ValidationError) and summary.files:  # a bad record, after others were stored
                    before = "1 record before it is" if summary.files == 1 else f"{summary.files:,} records before it are"
                    raise ValidationError(f"{error}; the {before} stored: imported again once it is mended,"
                                          " they count as already stored") from error
                raise error
            if ended:
                return summary
