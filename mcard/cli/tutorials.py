"""The tutorial notebooks shipped with mcard, copied to a folder of the user's own.

``mcard lab`` opens JupyterLab on a copy, so the notebooks can be run and edited whether mcard
is installed from a checkout or from a package (whose files may not be writable). A manifest in
the folder records the hash of every tutorial's cells as it was copied: a tutorial that is
missing is copied, one whose cells the user has not changed since is updated to the shipped
version (running and saving it changes only outputs and metadata), and one whose cells the user
has edited is never overwritten (they are told once per new shipped version).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import sys
from dataclasses import dataclass, field
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any, Final, Optional

from mcard.domain.models.exceptions import ValidationError

logger = logging.getLogger(__name__)

MANIFEST: Final = ".mcard-tutorials.json"
SUFFIX: Final = ".ipynb"


def shipped_tutorials() -> Traversable:
    """The folder of tutorials inside the installed package."""
    return resources.files("mcard").joinpath("tutorials")


def user_data_folder() -> Path:
    """The platform's folder for a user's application data, for mcard: ``$XDG_DATA_HOME/mcard``
    (else ``~/.local/share/mcard``) on Linux and other Unixes, ``~/Library/Application
    Support/mcard`` on macOS, ``%LOCALAPPDATA%\\mcard`` on Windows."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = str(Path.home() / "Library" / "Application Support")
    else:
        xdg = os.environ.get("XDG_DATA_HOME", "")
        base = xdg if os.path.isabs(xdg) else str(Path.home() / ".local" / "share")
    return Path(base) / "mcard"


def default_folder() -> Path:
    return user_data_folder() / "tutorials"


@dataclass
class SyncReport:
    """What ``sync`` did in ``folder``: tutorials copied (missing), updated (not edited since
    they were copied) and kept (edited; a newer version exists that was not copied)."""

    folder: Path
    copied: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def summary(self) -> Optional[str]:
        """One line saying what changed, or None when nothing did."""
        parts = []
        if self.copied:
            parts.append(f"{len(self.copied)} copied")
        if self.updated:
            parts.append(f"{len(self.updated)} updated")
        if self.kept:
            names = ", ".join(self.kept)
            parts.append(f"kept your edited {names} (a newer version ships with mcard: rename yours to get it)")
        return f"tutorials in {self.folder}: " + "; ".join(parts) if parts else None


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cells_digest(data: bytes) -> str:
    """The hash of a notebook's cells (their kinds and sources): what a user edits, not the
    outputs, execution counts and metadata that running and saving it change. A file that is
    not a notebook is hashed whole."""
    try:
        cells = json.loads(data)["cells"]
        text = json.dumps([[cell["cell_type"], "".join(cell["source"]) if isinstance(cell["source"], list)
                            else cell["source"]] for cell in cells])
    except (ValueError, KeyError, TypeError):
        return _digest(data)
    return _digest(text.encode("utf-8"))


def _is_shipped_folder(folder: Path, shipped: Traversable) -> bool:
    """Whether ``folder`` is the package's own tutorials folder (a source checkout's
    ``notebooks/``): then there is nothing to copy."""
    try:
        return isinstance(shipped, Path) and os.path.samefile(folder, shipped)
    except OSError:
        return False


def _read_manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """The manifest's entries; an unreadable one counts as empty, so nothing is overwritten."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        entries = data["tutorials"]
        return {str(name): dict(entry) for name, entry in entries.items() if isinstance(entry, dict)}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        logger.warning("%s: unreadable tutorial manifest; no tutorial will be overwritten", folder / MANIFEST)
        return {}


def _write_atomically(path: Path, data: bytes) -> None:
    """Write through a temporary file renamed over ``path``: never a half-written file. The
    file gets the usual permissions (the umask's), as a copy made by hand would."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.part")
    try:
        with temporary.open("xb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def sync(folder: Path, shipped: Optional[Traversable] = None) -> SyncReport:
    """Bring the tutorials in ``folder`` up to date with the shipped ones (see the module's
    docstring); ``folder`` and its parents are created when missing. A file in the way is
    an ``OSError``; the package without its tutorials is a ``ValidationError``."""
    shipped = shipped_tutorials() if shipped is None else shipped
    report = SyncReport(folder)
    if not shipped.is_dir():
        raise ValidationError("this mcard was installed without its tutorials; reinstall it")
    folder.mkdir(parents=True, exist_ok=True)
    if _is_shipped_folder(folder, shipped):
        return report
    manifest = _read_manifest(folder)
    before = json.dumps(manifest, sort_keys=True)
    for source in sorted(shipped.iterdir(), key=lambda item: item.name):
        if not source.name.endswith(SUFFIX) or not source.is_file():
            continue
        name, data = source.name, source.read_bytes()
        new = _cells_digest(data)
        entry = manifest.setdefault(name, {})
        target = folder / name
        try:
            present = target.read_bytes()
        except FileNotFoundError:
            present = None
        current = None if present is None else _cells_digest(present)
        if current == new:
            entry.clear()
            entry.update(cells=new)
            continue
        # "copied": the whole file's hash, which a manifest of an earlier mcard holds instead
        unedited = present is not None and (current == entry.get("cells") or _digest(present) == entry.get("copied"))
        if present is None or unedited:
            _write_atomically(target, data)
            (report.copied if present is None else report.updated).append(name)
            entry.clear()
            entry.update(cells=new)
        elif entry.get("cells") != new and entry.get("copied") != _digest(data) and entry.get("told") != new:
            report.kept.append(name)  # an update is held back
            entry["told"] = new
    if json.dumps(manifest, sort_keys=True) != before:
        text = json.dumps({"format": 2, "tutorials": manifest}, indent=2, sort_keys=True) + "\n"
        _write_atomically(folder / MANIFEST, text.encode("utf-8"))
    return report
