"""The distribution mcard is installed from, and the error that names the extra a feature needs.

The import package is ``mcard``; the distribution is ``mcard-store`` (``mcard`` on the package
index is another project). The core installs what ``import mcard`` and the command line need;
the rest comes with extras: ``notebook``, ``lab``, ``postgres``, ``parquet``, ``all``.
"""

from __future__ import annotations

from typing import Final

DISTRIBUTION: Final = "mcard-store"


def install_command(extra: str) -> str:
    """The shell command that installs ``extra`` (quoted: ``[`` is a pattern in most shells)."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


class MissingExtraError(ModuleNotFoundError):
    """A feature was used whose extra is not installed; the message says how to install it."""


def missing_extra(exc: ModuleNotFoundError, feature: str, extra: str) -> MissingExtraError:
    """The error to raise from ``exc`` when ``feature`` (plural: "DataFrames", "the forms")
    lacks a module that ``extra`` installs."""
    return MissingExtraError(
        f"{feature} need mcard's '{extra}' extra, which is not installed "
        f"(no module named {exc.name!r}): {install_command(extra)}",
        name=exc.name,
    )
