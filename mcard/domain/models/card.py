"""The card: immutable content addressed by its hash, stamped with a UTC time."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from typing import Final

from .exceptions import ValidationError

DEFAULT_HASH_ALGORITHM: Final = "sha256"
HASH_ALGORITHMS: Final = frozenset(
    {"sha256", "sha1", "sha224", "sha384", "sha512", "blake2b", "blake2s", "md5",
     "sha3_224", "sha3_256", "sha3_384", "sha3_512"}
)

# hashlib's constructors by name: ``hashlib.new(name)`` costs ~0.4 us more per card.
_HASHERS: Final = {name: getattr(hashlib, name) for name in HASH_ALGORITHMS}

EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MICROSECOND: Final = timedelta(microseconds=1)


def check_hash_algorithm(name: object) -> str:
    """Return ``name`` if it is a supported fixed-length hashlib algorithm."""
    if not isinstance(name, str) or name not in HASH_ALGORITHMS:
        raise ValidationError(
            f"unsupported hash algorithm {name!r}; choose one of {sorted(HASH_ALGORITHMS)}"
        )
    return name


def content_bytes(content: object) -> bytes:
    """The bytes a card's hash is taken over: UTF-8 for text, the bytes themselves otherwise."""
    if isinstance(content, bytes):
        data = content
    elif isinstance(content, str):
        try:
            data = content.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError(f"text content is not valid Unicode: {exc.reason}") from exc
    else:
        raise ValidationError(
            f"card content must be str or bytes, not {type(content).__name__}"
        )
    if not data:
        raise ValidationError("card content must not be empty")
    return data


def to_utc(moment: object, name: str = "time") -> datetime:
    """Normalize a timezone-aware datetime to UTC; naive or non-datetime values are rejected."""
    if not isinstance(moment, datetime):
        raise ValidationError(f"{name} must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValidationError(
            f"{name} must be timezone-aware (e.g. datetime.now(timezone.utc)), got naive {moment!r}"
        )
    return moment.astimezone(timezone.utc)


def to_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime, exact."""
    return (moment - EPOCH) // _ONE_MICROSECOND


def from_micros(micros: int, _epoch: datetime = EPOCH, _delta: type[timedelta] = timedelta) -> datetime:
    """The UTC datetime ``micros`` microseconds after the Unix epoch, exact."""
    return _epoch + _delta(0, 0, micros)


def format_time(moment: datetime) -> str:
    """Fixed-width UTC text, e.g. ``2026-11-26T14:28:00.000000Z``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class MCard:
    """Immutable content (``str`` or ``bytes``) addressed by the hex digest of its bytes.

    ``MCard("hello")`` hashes the UTF-8 bytes with SHA-256 and stamps the current UTC time.
    A card read back from a store carries the hash and ``g_time`` it was first stored with.
    """

    __slots__ = ("_content", "_hash", "_g_time", "_hash_algorithm", "_size", "_content_type")

    _content: str | bytes
    _hash: str
    _g_time: datetime | int  # an int: microseconds since the epoch, not yet turned into a datetime
    _hash_algorithm: str
    _size: int
    _content_type: str | None

    def __init__(
        self,
        content: str | bytes,
        *,
        hash_algorithm: str = DEFAULT_HASH_ALGORITHM,
        g_time: datetime | None = None,
    ) -> None:
        data = content_bytes(content)
        algorithm = check_hash_algorithm(hash_algorithm)
        moment = datetime.now(timezone.utc) if g_time is None else to_utc(g_time, "g_time")
        self._init(content, _HASHERS[algorithm](data).hexdigest(), moment, algorithm, len(data))

    def _init(
        self,
        content: str | bytes,
        hash_str: str,
        g_time: datetime,
        algorithm: str,
        size: int,
        content_type: str | None = None,
    ) -> None:
        _SET_CONTENT(self, content)
        _SET_HASH(self, hash_str)
        _SET_G_TIME(self, g_time)
        _SET_ALGORITHM(self, algorithm)
        _SET_SIZE(self, size)
        _SET_CONTENT_TYPE(self, content_type)

    @classmethod
    def restore(
        cls,
        content: str | bytes,
        hash_str: str,
        g_time: datetime | int,
        hash_algorithm: str,
        size: int,
        content_type: str | None = None,
    ) -> MCard:
        """Rebuild a stored card without re-hashing (``verify`` is the place to re-check).

        Stores call this once per row read, so it is kept to the bare slot assignments.
        ``g_time`` may be the stored microseconds since the epoch (an ``int``): the datetime
        is then built when first read, which is half the cost of a row that is never asked
        for its time.
        """
        card = _NEW(cls)
        _SET_CONTENT(card, content)
        _SET_HASH(card, hash_str)
        _SET_G_TIME(card, g_time)
        _SET_ALGORITHM(card, hash_algorithm)
        _SET_SIZE(card, size)
        _SET_CONTENT_TYPE(card, content_type)
        return card

    @property
    def content(self) -> str | bytes:
        return self._content

    @property
    def hash(self) -> str:
        return self._hash

    @property
    def g_time(self) -> datetime:
        moment = self._g_time
        if moment.__class__ is int:
            moment = from_micros(moment)  # type: ignore[arg-type]
            _SET_G_TIME(self, moment)
        return moment  # type: ignore[return-value]

    @property
    def hash_algorithm(self) -> str:
        return self._hash_algorithm

    @property
    def size(self) -> int:
        """Size of the content in bytes (UTF-8 for text)."""
        return self._size

    @property
    def content_type(self) -> str:
        """The MIME type of the content, detected once (stores keep it with the card)."""
        if self._content_type is None:
            from mcard.content_types import detect_content_type

            object.__setattr__(self, "_content_type", detect_content_type(self._content))
        return self._content_type  # type: ignore[return-value]

    @property
    def is_text(self) -> bool:
        return isinstance(self._content, str)

    @property
    def kind(self) -> str:
        """``"text"`` or ``"bytes"``."""
        return "text" if self.is_text else "bytes"

    @property
    def content_bytes(self) -> bytes:
        content = self._content
        return content.encode("utf-8") if isinstance(content, str) else content

    @property
    def g_time_text(self) -> str:
        return format_time(self.g_time)

    def hash_matches(self) -> bool:
        """Whether the content still hashes to the recorded hash."""
        return _HASHERS[self._hash_algorithm](self.content_bytes).hexdigest() == self._hash

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("MCard is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("MCard is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MCard):
            return NotImplemented
        return (
            self._hash == other._hash
            and self.g_time == other.g_time
            and type(self._content) is type(other._content)
            and self._content == other._content
        )

    def __hash__(self) -> int:
        return hash(self._hash)

    def __reduce__(self) -> tuple[object, ...]:
        return (
            MCard.restore,
            (
                self._content, self._hash, self.g_time,
                self._hash_algorithm, self._size, self._content_type,
            ),
        )

    def _repr_html_(self) -> str:
        """Jupyter's rich view; the notebook layer renders it (imported only when displayed)."""
        from mcard.notebook.display import card_html

        return card_html(self)

    def __repr__(self) -> str:
        preview = self._content[:40]
        more = "…" if len(self._content) > 40 else ""
        return (
            f"MCard(hash={self._hash[:12]}…, g_time={self.g_time_text}, "
            f"{self.kind}, {self._size} B, {preview!r}{more})"
        )


# The slots' own setters: they bypass ``MCard.__setattr__`` (which forbids changes) and are
# several times faster than ``object.__setattr__`` by name.
_NEW = object.__new__
_SET_CONTENT = MCard._content.__set__  # type: ignore[attr-defined]
_SET_HASH = MCard._hash.__set__  # type: ignore[attr-defined]
_SET_G_TIME = MCard._g_time.__set__  # type: ignore[attr-defined]
_SET_ALGORITHM = MCard._hash_algorithm.__set__  # type: ignore[attr-defined]
_SET_SIZE = MCard._size.__set__  # type: ignore[attr-defined]
_SET_CONTENT_TYPE = MCard._content_type.__set__  # type: ignore[attr-defined]
