"""The database file as the operating system sees it: explaining failures, spotting truncation.

SQLite reports file problems tersely ("unable to open database file"); these helpers add what
the file system says (a missing or read-only folder, a full disk), so a ``StorageError`` names
the path and the cause.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Final, Optional

HEADER_SIZE: Final = 100
MAGIC: Final = b"SQLite format 3\x00"


def _file_system_read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _existing_folder(path: Path) -> Optional[Path]:
    for folder in path.parents:
        if folder.is_dir():
            return folder
    return None


def _free_bytes(path: Path) -> str:
    folder = _existing_folder(path)
    try:
        return f"{shutil.disk_usage(folder).free} bytes free" if folder else "free space unknown"
    except OSError:
        return "free space unknown"


def _unwritable_companions(path: Path) -> tuple[list[str], list[str]]:
    """The ``-wal`` and ``-shm`` files beside ``path`` this user may not write: those of another
    user (left by their reads), and this user's own, which SQLite made with the permissions of the
    database file (so a read of a read-only file leaves them read-only after it is made writable)."""
    theirs, own = [], []
    for name in (f"{path.name}-wal", f"{path.name}-shm"):
        companion = path.parent / name
        try:
            owner = companion.stat().st_uid
        except OSError:
            continue
        if not os.access(companion, os.W_OK):
            (own if owner == os.geteuid() else theirs).append(name)
    return theirs, own


def explain(exc: BaseException, path: Path) -> str:
    """What the file system says about a failure on the database at ``path`` ("" if nothing)."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF
    os_errno = getattr(exc, "errno", None)
    folder = path.parent
    if primary == sqlite3.SQLITE_FULL or os_errno == errno.ENOSPC:
        return f"the disk is full: {_free_bytes(path)} on the file system of {folder}"
    if primary in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY) or os_errno in (
        errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT,
    ):
        if not folder.is_dir():
            existing = _existing_folder(path)
            if existing is not None and _file_system_read_only(existing):
                return f"the folder {folder} is missing and cannot be created: {existing} is on a read-only file system"
            return f"the folder {folder} is missing and cannot be created"
        if _file_system_read_only(folder):
            return f"{folder} is on a read-only file system; SQLite must write the database and its -wal and -shm files there"
        causes = []
        if not os.access(folder, os.W_OK):  # even a read may need to create the -wal and -shm files there
            causes.append(f"no permission to write in the folder {folder}, where SQLite keeps the -wal and -shm files")
        if path.exists() and not os.access(path, os.R_OK):
            causes.append(f"no permission to read the file {path}")
        elif path.exists() and not os.access(path, os.W_OK):
            causes.append(f"the file {path} is read-only")
        theirs, own = _unwritable_companions(path)
        if theirs:
            causes.append(f"this user may not write {' and '.join(theirs)} beside it, which another user's reads"
                          " made; SQLite must write them: give this user write access, or remove them while no one reads")
        if own:
            them = "it" if len(own) == 1 else "them"
            causes.append(
                f"{' and '.join(own)} beside it {'is' if len(own) == 1 else 'are'} read-only: SQLite made {them} with"
                f" the permissions the database file had when this user read it; make {them} writable"
                f" (chmod u+w), or remove {them} while no one reads"
            )
        if causes:
            return "; ".join(causes)
        if primary == sqlite3.SQLITE_READONLY:
            return f"the file {path} is read-only"
    if primary == sqlite3.SQLITE_NOTADB:
        return "it was left untouched"
    if primary == sqlite3.SQLITE_CORRUPT:
        return "the database file is damaged; verify() and PRAGMA integrity_check tell what is left, restore it from a backup"
    return ""


def check_file(path: Path, writable: bool = True) -> Optional[str]:
    """Why the existing file at ``path`` cannot be used as a database, or None; never writes.

    Raises the ``OSError`` of opening it (for writing, when ``writable``) when that fails (a
    read-only file or file system), before SQLite could create its ``-wal``/``-shm`` files.
    The header records the database size; a file shorter than that lost its end. Only checked
    when no ``-wal``/``-journal`` file holds pages still to be written back (after a crash
    mid-checkpoint the file may legitimately be shorter until SQLite finishes the checkpoint).
    """
    if open_in_this_process(path):
        return None
    for suffix in ("-wal", "-journal"):
        try:  # one stat: a store closing meanwhile (another, at exit) deletes its -wal
            if path.with_name(path.name + suffix).stat().st_size > 0:
                return None
        except FileNotFoundError:
            pass
    try:
        with open(path, "r+b" if writable else "rb") as file:
            header = file.read(HEADER_SIZE)
            size = os.fstat(file.fileno()).st_size
    except FileNotFoundError:
        return None
    if len(header) < HEADER_SIZE or not header.startswith(MAGIC):
        return None
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if page_size < 512 or page_size & (page_size - 1):
        return None  # not a valid header: SQLite itself reports "file is not a database"
    size_is_valid = pages > 0 and header[24:28] == header[92:96]
    expected = pages * page_size
    if size_is_valid and size < expected:
        return (
            f"the file is truncated: it has {size} bytes but its header records {pages} pages"
            f" of {page_size} bytes ({expected} bytes); it was left untouched"
        )
    return None



FileIdentity = tuple[int, int]
"""(device, inode) of a file."""

_KNOWN_STATES: dict[FileIdentity, tuple[int, int]] = {}
"""(size, mtime) of each database file open in this process, as mcard's own stores last left
it (when opened, and after each checkpoint they run): any other change was made by someone else."""
_USERS: Counter[FileIdentity] = Counter()
_CHECKPOINTING: Counter[FileIdentity] = Counter()
"""Checkpoints a store of this process is running on each file: until it notes the state it
left, the file's change is its own, which another store of the process must not take for an
overwrite (three stores on one file in one process, one checkpointing while another wrote,
found it "overwritten by another program" and refused every call after)."""
_LOCKS: Final = Path("/proc/locks")
_WAL_HEADER: Final = 32
_WAL_INDEX_HEADER: Final = 136


def open_in_this_process(path: Path) -> bool:
    """Whether a store of this process has the database at ``path`` open.

    Then nothing else of this process may open and close the file: closing any descriptor
    of a file drops every POSIX lock the process holds on it, SQLite's included.
    """
    try:
        stat = os.stat(path)
    except OSError:
        return False
    return (stat.st_dev, stat.st_ino) in _USERS


def _other_processes_lock(identity: FileIdentity) -> Optional[bool]:
    """Whether another process holds a POSIX lock on the file (SQLite connections do while
    open); None where the system does not tell (no ``/proc/locks``)."""
    try:
        table = _LOCKS.read_text()
    except OSError:
        return None
    device, inode = identity
    wanted = f"{os.major(device):02x}:{os.minor(device):02x}:{inode}"
    me = str(os.getpid())
    for line in table.splitlines():
        fields = line.split()
        if "->" in fields:
            fields.remove("->")
        if len(fields) > 5 and fields[5] == wanted and fields[4] != me:
            return True
    return False


class DatabaseFile:
    """The file a store opened, watched for what SQLite cannot notice by itself.

    SQLite keeps using the file it opened: deleted, it writes on into a file no one can open
    again; replaced (renamed over, or copied over in place), it overlays the new content with
    its old WAL. ``changed()`` tells when the file at the path is no longer the one opened:
    another inode, none at all, or content rewritten by no checkpoint. In WAL mode only a
    checkpoint writes the database file: mcard's stores note their own; one by another
    process either started the WAL over (its header changes), or that process still has the
    file open (it holds locks on it), or it wrote to the WAL since this store opened (``shared``:
    the WAL grew between two writes of this store, or another process held the file when it
    opened). A process that copied part of the WAL (a reader held an older snapshot) and left
    shows nothing else: the file changed under an unchanged WAL header, with no lock left. So
    overwriting in place is told only where no other process was seen: the store then makes
    its WAL unusable (``forget_stale_log``), which would lose another process's cards that a
    checkpoint has not copied yet.
    The database file and its ``-shm`` are only ever ``stat``-ed, never opened: closing a
    descriptor of a file drops every POSIX lock the process holds on it, SQLite's included
    (SQLite locks neither the WAL nor anything in it, so its header may be read).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.wal = path.with_name(path.name + "-wal")
        self.shm = path.with_name(path.name + "-shm")
        self._identity: Optional[FileIdentity] = None
        self._wal_header: Optional[bytes] = None  # None: to be read after the next write
        self._wal_written: Optional[int] = None  # the WAL's size after this store's last write
        self._wal_before: tuple[int, bytes] = (0, b"")  # the WAL's size and header as a write began
        self.shared = False
        self.appended = False  # whether the WAL may hold frames this store wrote, not checkpointed yet
        self._checkpoints: list[FileIdentity] = []  # the file of each checkpoint running (``_CHECKPOINTING``)

    def opened(self) -> None:
        """Start watching, once the store's connections are open."""
        stat = os.stat(self.path)
        self._identity = (stat.st_dev, stat.st_ino)
        _USERS[self._identity] += 1
        _KNOWN_STATES[self._identity] = (stat.st_size, stat.st_mtime_ns)
        self._wal_header = None
        self._wal_written = self.wal_size()
        self.shared = self.shared or bool(_other_processes_lock(self._identity))

    def writing(self) -> None:
        """Note a write of this store about to start: a WAL grown since its last one was
        written to by another process (or a write of this store not noted: taken alike)."""
        size = self.wal_size()
        if self._wal_written is not None and size != self._wal_written:
            self.shared = True
        self._wal_before = (size, self._read_wal_header())

    def written(self) -> None:
        """Note a write of this store done (or a checkpoint it ran): ``appended`` once the
        write added frames to the WAL (it grew, or started over under a new header)."""
        size = self.wal_size()
        before_size, before_header = self._wal_before
        if size > before_size or (size > 0 and self._read_wal_header() != before_header):
            self.appended = True
        self._wal_written = size

    def closed(self) -> None:
        if self._identity is None:
            return
        _USERS[self._identity] -= 1
        if _USERS[self._identity] <= 0:
            del _USERS[self._identity]
            _KNOWN_STATES.pop(self._identity, None)
        self._identity = None

    def checkpointing(self) -> None:
        """Note a checkpoint this store starts (``checkpointed`` notes its end)."""
        if self._identity is not None:
            _CHECKPOINTING[self._identity] += 1
            self._checkpoints.append(self._identity)

    def checkpointed(self) -> None:
        """Note a checkpoint this store ran: the file changed, by our own hand."""
        if self._checkpoints:
            started_on = self._checkpoints.pop()
            _CHECKPOINTING[started_on] -= 1
            if _CHECKPOINTING[started_on] <= 0:
                del _CHECKPOINTING[started_on]
        if self._identity is None:
            return
        try:
            stat = os.stat(self.path)
        except OSError:
            return
        if (stat.st_dev, stat.st_ino) == self._identity:
            _KNOWN_STATES[self._identity] = (stat.st_size, stat.st_mtime_ns)
        self._wal_header = None
        self.written()
        if self._wal_written == 0:  # emptied: none of this store's frames is left in it
            self.appended = False

    def changed(self) -> Optional[str]:
        """Why the file at the path is no longer the one opened, or None. Called after each
        write of the store."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return "the database file was deleted while the store was open"
        except OSError:  # the folder cannot be read now: nothing can be told
            return None
        identity = (stat.st_dev, stat.st_ino)
        if identity != self._identity:
            return "the database file was replaced by another file while the store was open"
        state = (stat.st_size, stat.st_mtime_ns)
        if _KNOWN_STATES.get(identity) == state:
            if self._wal_header is None:
                self._wal_header = self._read_wal_header()
            return None
        if _CHECKPOINTING[identity]:  # a store of this process is changing it: its own note follows
            return None
        seen, self._wal_header = self._wal_header, self._read_wal_header()
        _KNOWN_STATES[identity] = state
        if seen == self._wal_header and not self.shared and _other_processes_lock(identity) is False:
            return "the database file was overwritten by another program while the store was open"
        return None  # another process's checkpoint (or, not knowing the WAL before, nothing to tell)

    def wal_size(self) -> int:
        try:
            return os.stat(self.wal).st_size
        except OSError:
            return 0

    def _read_wal_header(self) -> bytes:
        try:
            with open(self.wal, "rb") as file:
                return file.read(_WAL_HEADER)
        except OSError:
            return b""

    def forget_stale_log(self) -> None:
        """Make the WAL and wal-index left at the path unusable before the store's connections
        close, so that neither they nor the next store opened there write the old pages into a
        file they do not belong to: SQLite then finds no valid frame to recover or checkpoint.
        (Called only when the store will not use the file again.)"""
        for side, length in ((self.wal, _WAL_HEADER), (self.shm, _WAL_INDEX_HEADER)):
            try:
                with open(side, "r+b") as file:
                    file.write(bytes(length))
            except OSError:
                continue
