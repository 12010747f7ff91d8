"""The errors mcard raises: one base class, one subclass per kind of failure."""

from __future__ import annotations


def _restored(kind: type[BaseException], args: tuple[object, ...], state: dict[str, object]) -> BaseException:
    """An mcard error unpickled: its message and attributes as they were, without calling its
    ``__init__`` (whose arguments are not its message alone)."""
    error = kind.__new__(kind, *args)
    error.args = args
    error.__dict__.update(state)
    return error


BRIEF_CHARACTERS = 100
"""The most characters of a value an error message repeats."""


def brief(value: object) -> str:
    """``repr(value)`` for an error message, cut to ``BRIEF_CHARACTERS`` with how long the whole
    was: a message repeats what it was given, not a megabyte of it."""
    shown = repr(value)
    if len(shown) <= BRIEF_CHARACTERS:
        return shown
    size = f"{len(value):,} characters" if isinstance(value, str) else f"{len(shown):,} characters as written"
    return f"{shown[:BRIEF_CHARACTERS - 1]}… ({size})"


class MCardError(Exception):
    """Base class of every error raised by mcard. It pickles whole (to and from a process pool),
    its own attributes (``hash``, ``hashes``, ``transient``...) included."""

    def __reduce__(self) -> tuple[object, ...]:
        return _restored, (type(self), self.args, self.__dict__)


class ValidationError(MCardError, ValueError):
    """Input was rejected before anything was stored (wrong type, empty, too large, bad bound)."""


class AmbiguousHashError(ValidationError):
    """A hash prefix that more than one stored card starts with; ``candidates`` lists some."""

    def __init__(self, prefix: str, candidates: list[str]) -> None:
        shown = ", ".join(candidates[:10]) + (", ..." if len(candidates) > 10 else "")
        super().__init__(f"hash prefix {prefix} matches more than one card: {shown}")
        self.prefix = prefix
        self.candidates = candidates


class NotStoredError(ValidationError):
    """Labels of cards that are not stored (``add_sightings``, ``tag``, ``tag_many``): nothing
    was written. ``hashes`` names every such card."""

    def __init__(self, message: str, hashes: list[str]) -> None:
        super().__init__(message)
        self.hashes = hashes


class ConfigurationError(MCardError, ValueError):
    """An engine configuration has an invalid value; raised when the configuration is built."""


class StorageError(MCardError):
    """The database failed. The driver's exception is chained as ``__cause__``.

    ``transient`` is true for failures that may succeed when tried again (a busy or locked
    database, a dropped connection); ``retry_operation`` retries only those.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class NoCardStoreError(StorageError):
    """A store opened read-only where none is yet: no such file or table, an empty database."""


class OlderStoreError(StorageError):
    """A store an older mcard wrote, opened read-only: one open for writing upgrades it
    (``mcard upgrade``); read-only, nothing is changed."""


class NewerStoreError(StorageError):
    """A store a newer mcard wrote (a schema version this one does not know), refused whether
    opened to read or to write and left as it was: only a newer mcard can open it, so the
    message says to install one."""

    def __init__(self, where: str, version: int, readable: int) -> None:
        super().__init__(
            f"{where}: card schema version {version} is not supported: a newer mcard wrote it (this one"
            f" reads up to {readable}); install a newer mcard-store to open it (pip install --upgrade mcard-store)"
        )
        self.version = version


class UnreadableCardError(StorageError):
    """A stored row no card can be built from: a text another tool stored that is not UTF-8.
    The store is sound, that row is not (``verify()`` names it, ``remove()`` takes it away)."""


class HeldByDamagedError(StorageError):
    """A write of content, or of a sighting or tag of it, whose hash a stored row holds with other
    content or another size (a row another tool changed): nothing of the write is stored. ``hash`` names the card;
    ``remove_damaged`` of ``verify()``'s report frees it (``mcard verify --remove``)."""

    def __init__(self, message: str, hash_str: str) -> None:
        super().__init__(message)
        self.hash = hash_str
