"""The card: immutable content addressed by its hash, stamped with a UTC time."""

from __future__ import annotations

import functools
import hashlib
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, ClassVar, Final

from ..shown import shown
from .exceptions import StorageError, ValidationError, brief

DEFAULT_HASH_ALGORITHM: Final = "sha256"
HASH_ALGORITHMS: Final = frozenset(
    {"sha256", "sha1", "sha224", "sha384", "sha512", "blake2b", "blake2s", "md5",
     "sha3_224", "sha3_256", "sha3_384", "sha3_512"}
)

# hashlib's constructors by name: ``hashlib.new(name)`` costs ~0.4 us more per card.
_HASHERS: Final = {name: getattr(hashlib, name) for name in HASH_ALGORITHMS}
DIGEST_HEX_LENGTHS: Final = {name: hasher().digest_size * 2 for name, hasher in _HASHERS.items()}
"""Hex digits in a digest of each algorithm: a hash of any other length is not one of ours."""
_LOWER_HEX: Final = re.compile(r"[0-9a-f]+")
_MIME_TYPE: Final = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")

EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MICROSECOND: Final = timedelta(microseconds=1)
MIN_TIME: Final = datetime(1, 1, 1, tzinfo=timezone.utc)
MAX_TIME: Final = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
"""Every time mcard takes or stores lies in this UTC range: ``datetime``'s own, read in UTC."""
MIN_MICROS: Final = (MIN_TIME - EPOCH) // _ONE_MICROSECOND
MAX_MICROS: Final = (MAX_TIME - EPOCH) // _ONE_MICROSECOND
TIME_RANGE: Final = "0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z"


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


def is_digest(hash_str: object, algorithm: str) -> bool:
    """Whether ``hash_str`` has the form of a digest of ``algorithm``: lowercase hex of its length."""
    return (
        isinstance(hash_str, str)
        and len(hash_str) == DIGEST_HEX_LENGTHS.get(algorithm, -1)
        and _LOWER_HEX.fullmatch(hash_str) is not None
    )


def is_mime_type(value: object) -> bool:
    """Whether ``value`` is a lowercase ``type/subtype`` MIME type (no parameters)."""
    return isinstance(value, str) and _MIME_TYPE.fullmatch(value) is not None


def to_utc(moment: object, name: str = "time") -> datetime:
    """Normalize a timezone-aware datetime to UTC; naive, non-datetime and out-of-range values
    (see ``TIME_RANGE``), and time zones that fail, are a ``ValidationError``."""
    if not isinstance(moment, datetime):
        raise ValidationError(f"{name} must be a datetime, not {type(moment).__name__}")
    if moment != moment:  # pandas' NaT: a datetime equal to nothing
        raise ValidationError(f"{name} is NaT, a missing time (the max() of an empty column), not a time")
    try:
        offset = moment.utcoffset()
    except Exception as exc:  # a tzinfo's own code: anything may come out of it
        raise ValidationError(f"{name} has a time zone that fails: {type(exc).__name__}: {exc}") from exc
    if moment.tzinfo is None or offset is None:
        raise ValidationError(
            f"{name} must be timezone-aware (e.g. datetime.now(timezone.utc)), got naive {moment!r}"
        )
    try:
        return moment.astimezone(timezone.utc)
    except (OverflowError, ValueError) as exc:
        raise ValidationError(f"{name} {moment.isoformat()} is outside the range {TIME_RANGE}") from exc


def to_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime, exact."""
    return (moment - EPOCH) // _ONE_MICROSECOND


def from_micros(micros: int, _epoch: datetime = EPOCH, _delta: type[timedelta] = timedelta) -> datetime:
    """The UTC datetime ``micros`` microseconds after the Unix epoch, exact."""
    return _epoch + _delta(0, 0, micros)


def stored_time(moment: object, name: str = "time") -> datetime:
    """``to_utc``, cut to the microsecond a store keeps (a pandas ``Timestamp`` has nanoseconds),
    as a plain ``datetime``."""
    return from_micros(to_micros(to_utc(moment, name)))


@functools.cache
def _content_type_detector() -> Callable[[str | bytes], str]:
    """``detect_content_type``, imported when first needed (it brings ``filetype`` and
    ``csv``); an import statement per card cost more than detecting a short text's type."""
    from mcard.content_types import detect_content_type

    return detect_content_type


def format_time(moment: datetime) -> str:
    """Fixed-width UTC text, e.g. ``2026-11-26T14:28:00.000000Z`` (years before 1000 too)."""
    m = moment.astimezone(timezone.utc)
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
        f".{m.microsecond:06d}Z"
    )


def check_card(card: object) -> None:
    """Raise ``ValidationError`` unless ``card`` is a whole, true card: its hash is its
    algorithm's digest of its content (lowercase hex of that length), its size the content's
    byte length, its content non-empty ``str``/``bytes``, its ``g_time`` within ``TIME_RANGE``
    and its content type a MIME type.

    A card built by ``MCard(...)`` is true by construction; one rebuilt with ``MCard.restore``
    (read back, unpickled, or made up) is checked field by field and re-hashed.
    """
    if not isinstance(card, MCard):
        raise ValidationError(f"expected an MCard, got {type(card).__name__}")
    if card._made_here:
        return
    data = content_bytes(card._content)
    algorithm = card._hash_algorithm
    if algorithm not in HASH_ALGORITHMS:
        raise ValidationError(f"card has an unsupported hash algorithm {brief(algorithm)}")
    if not is_digest(card._hash, algorithm):
        raise ValidationError(
            f"card hash {card._hash!r} is not a {algorithm} digest ({DIGEST_HEX_LENGTHS[algorithm]} lowercase hex digits)"
        )
    if card._size != len(data) or card._size.__class__ is not int:
        raise ValidationError(f"card {card._hash} records size {card._size!r} but its content has {len(data)} bytes")
    if _HASHERS[algorithm](data).hexdigest() != card._hash:
        raise ValidationError(f"card content does not hash to {card._hash} ({algorithm}): refused")
    moment = card._g_time
    if moment.__class__ is int:
        if not MIN_MICROS <= moment <= MAX_MICROS:  # type: ignore[operator]
            raise ValidationError(f"card {card._hash} has a g_time outside the range {TIME_RANGE}")
    else:
        to_utc(moment, "g_time")
    if card._content_type is not None and not is_mime_type(card._content_type):
        raise ValidationError(f"card {card._hash} has a content type that is not a MIME type: {brief(card._content_type)}")


class _CardFields:
    """The slots a card keeps its fields in, shared by ``MCard`` and ``_Restored``."""

    __slots__ = ("_content", "_hash", "_g_time", "_hash_algorithm", "_size", "_content_type", "_made_here")


class _Restored(_CardFields):
    """``MCard.restore``: a stored card rebuilt without re-hashing (``verify`` is the place to
    re-check; a store re-checks such a card with ``check_card`` before it stores it).

    ``g_time`` may be the stored microseconds since the epoch (an ``int``): the datetime is
    then built when first read, which is half the cost of a row that is never asked for its
    time. Stores rebuild a card per row read, so this is kept to the bare minimum: the slots
    filled as plain attributes (``MCard`` forbids that), then the object made an ``MCard``
    (``__class__`` assignment between two classes of one layout), ~0.25 us a card where
    setting each slot through its descriptor took ~1.2 us. ``MCard()`` fills a card it has
    just hashed the same way, then marks it true: 1.02 us a card in all instead of 1.19 us."""

    __slots__ = ()

    def __init__(
        self, content: str | bytes, hash_str: str, g_time: datetime | int, hash_algorithm: str, size: int,
        content_type: str | None = None,
    ) -> None:
        self._content = content
        self._hash = hash_str
        self._g_time = g_time
        self._hash_algorithm = hash_algorithm
        self._size = size
        self._content_type = content_type
        self._made_here = False
        self.__class__ = MCard  # type: ignore[assignment]


class MCard(_CardFields):
    """Immutable content (``str`` or ``bytes``) addressed by the hex digest of its bytes.

    ``MCard("hello")`` hashes the UTF-8 bytes with SHA-256 and stamps the current UTC time.
    A card read back from a store carries the hash and ``g_time`` it was first stored with.
    """

    __slots__ = ()

    _content: str | bytes
    _hash: str
    _g_time: datetime | int  # an int: microseconds since the epoch, not yet turned into a datetime
    _hash_algorithm: str
    _size: int
    _content_type: str | None
    _made_here: bool  # hashed by MCard(), so true by construction (see check_card)

    def __new__(
        cls,
        content: str | bytes,
        *,
        hash_algorithm: str = DEFAULT_HASH_ALGORITHM,
        g_time: datetime | None = None,
    ) -> MCard:
        data = content_bytes(content)
        algorithm = check_hash_algorithm(hash_algorithm)
        # As stored microseconds (a finer time cut to its microsecond, as a store keeps it): the
        # datetime is built when ``g_time`` is first read.
        moment = time.time_ns() // 1000 if g_time is None else to_micros(to_utc(g_time, "g_time"))
        card = _Restored(content, _HASHERS[algorithm](data).hexdigest(), moment, algorithm, len(data))
        _SET_MADE_HERE(card, True)
        return card

    restore: ClassVar[Callable[..., MCard]] = staticmethod(_Restored)  # type: ignore[assignment]
    """``MCard.restore(content, hash_str, g_time, hash_algorithm, size, content_type=None)``:
    a stored card rebuilt without re-hashing (see ``_Restored``)."""

    @property
    def content(self) -> str | bytes:
        return self._content

    @property
    def hash(self) -> str:
        return self._hash

    @property
    def g_time(self) -> datetime:
        """When the content was first stored (UTC). A stored time no card can have (a row
        another tool wrote) is a ``StorageError``."""
        moment = self._g_time
        if moment.__class__ is int:
            try:
                moment = from_micros(moment)  # type: ignore[arg-type]
            except OverflowError:
                raise self._damaged_time() from None
            _SET_G_TIME(self, moment)
        elif not isinstance(moment, datetime):
            raise self._damaged_time()
        return moment  # type: ignore[return-value]

    def _damaged_time(self) -> StorageError:
        return StorageError(
            f"card {shown(self._hash)}: its stored time {shown(repr(self._g_time))[:40]} is not a time"
            " (damaged: verify() names it)"
        )

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
        kind = self._content_type
        if kind is None:
            kind = _content_type_detector()(self._content)
            _SET_CONTENT_TYPE(self, kind)
        return kind

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

    def __repr__(self) -> str:
        try:
            preview = self._content[:40]
            more = "…" if len(self._content) > 40 else ""
            return (
                f"MCard(hash={self._hash[:12]}…, g_time={self.g_time_text}, "
                f"{self.kind}, {self._size} B, {preview!r}{more})"
            )
        except Exception:  # a row another tool wrote: its fields may not be what a card holds
            return f"MCard(hash={self._hash!r}, fields that are not a card's: verify() reports it)"


def time_order(card: MCard) -> tuple[int, Any]:
    """Where ``card`` falls in time order as SQLite sorts the stored column: numbers by value
    (also one no time can be: reading ``g_time`` of such a card raises), then text, then bytes
    (a row another tool wrote)."""
    return stored_time_order(card._g_time)


def stored_time_order(moment: object) -> tuple[int, Any]:
    """``time_order`` of a card's ``g_time`` as stored (microseconds, or what another tool wrote)."""
    if isinstance(moment, datetime):
        return 1, to_micros(moment)
    if isinstance(moment, (int, float)):
        return 1, moment
    return (2, moment) if isinstance(moment, str) else (3, moment) if isinstance(moment, bytes) else (0, 0)


# The slots' own setters: they bypass ``MCard.__setattr__`` (which forbids changes) and are
# several times faster than ``object.__setattr__`` by name.
_SET_G_TIME = _CardFields._g_time.__set__  # type: ignore[attr-defined]
_SET_CONTENT_TYPE = _CardFields._content_type.__set__  # type: ignore[attr-defined]
_SET_MADE_HERE = _CardFields._made_here.__set__  # type: ignore[attr-defined]
