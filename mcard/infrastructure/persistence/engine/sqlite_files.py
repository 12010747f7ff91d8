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
        if path.exists() and not os.access(path, os.W_OK):
            return f"the file {path} is read-only"
        if not os.access(folder, os.W_OK):
            return f"no permission to write in the folder {folder}"
        if primary == sqlite3.SQLITE_READONLY:
            return f"the file {path} is read-only"
    if primary == sqlite3.SQLITE_NOTADB:
        return "it was left untouched"
    if primary == sqlite3.SQLITE_CORRUPT:
        return "the database file is damaged; verify() and PRAGMA integrity_check tell what is left, restore it from a backup"
    return ""


def check_file(path: Path) -> Optional[str]:
    """Why the existing file at ``path`` cannot be used as a database, or None; never writes.

    Raises the ``OSError`` of opening it for writing when that fails (a read-only file or file
    system), before SQLite could create its ``-wal``/``-shm`` files beside it.
    The header records the database size; a file shorter than that lost its end. Only checked
    when no ``-wal``/``-journal`` file holds pages still to be written back (after a crash
    mid-checkpoint the file may legitimately be shorter until SQLite finishes the checkpoint).
    """
    for suffix in ("-wal", "-journal"):
        side = path.with_name(path.name + suffix)
        if side.exists() and side.stat().st_size > 0:
            return None
    try:
        with open(path, "r+b") as file:
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
