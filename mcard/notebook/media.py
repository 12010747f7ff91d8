"""Small, bounded views of card values: human sizes and times, hex heads, image thumbnails.

Thumbnails are made with Pillow (the ``notebook`` extra) and kept in a small cache by hash, so
a page shown again costs nothing. An image Pillow cannot read is shown as it is only when it
is small; a large one is never inlined, nor is one of more pixels than Pillow decodes.
"""

from __future__ import annotations

import base64
import io
import logging
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Final, Optional

from mcard.content_types import IMAGE_TYPES, SVG
from mcard.domain.models.card import MCard
from mcard.domain.models.exceptions import brief, ValidationError

logger = logging.getLogger(__name__)

RAW_IMAGE_LIMIT: Final = 64 * 1024
"""An image at most this many bytes and no larger than the thumbnail is inlined as it is."""
SVG_LIMIT: Final = 512 * 1024
"""SVG cannot be downscaled: larger ones are only named."""
DECODE_LIMIT: Final = 64 * 1024 * 1024
"""Images above this many bytes are not decoded for a thumbnail."""
DECODE_PIXELS: Final = 16_000_000
"""Images of more pixels than this (a JPEG: once read at the smallest scale that still fills the
thumbnail) get no thumbnail: a PNG of 88 megapixels, 280 KB, held the kernel 1-2 s, and a page
of them a minute. A 5K screenshot (14.7 megapixels) decodes in ~0.3 s here."""
CACHE_SIZE: Final = 512


@dataclass
class Options:
    """Display settings of the notebook layer: ``mcard.notebook.options.display_limit = 50``."""

    display_limit: int = 20
    """Rows a card list shows at most."""
    thumbnail_px: int = 96
    """Longest side of an image thumbnail in a list."""
    card_image_px: int = 320
    """Longest side of an image in one card's view."""
    text_chars: int = 2000
    """Characters of text one card's view shows."""
    hex_bytes: int = 128
    """Bytes of binary content one card's view shows as hex."""

    def __setattr__(self, name: str, value: object) -> None:
        """Only the settings above, each a whole number of 0 or more (``-1`` showed all rows but
        one, ``None`` every row, ``"x"`` failed every display later)."""
        if name not in type(self).__annotations__:
            raise ValidationError(f"mcard.notebook.options has no setting {brief(name)}; they are {', '.join(type(self).__annotations__)}")
        super().__setattr__(name, count_setting(value, f"options.{name}"))


def count_setting(value: object, name: str) -> int:
    """``value``, a display setting that counts something: a whole number of 0 or more."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"{name} is a whole number of 0 or more, got {brief(value)}")
    return value


options = Options()


def human_time(moment: datetime) -> str:
    """``2026-01-05 14:28:03`` in UTC: whole seconds, fixed width."""
    m = moment.astimezone(timezone.utc)
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d} {m.hour:02d}:{m.minute:02d}:{m.second:02d}"


def hex_head(data: bytes, count: int) -> str:
    """The first ``count`` bytes as rows of 16 hex pairs, and how many more there are."""
    rows = [data[i:i + 16].hex(" ") for i in range(0, min(len(data), count), 16)]
    more = len(data) - count
    return "\n".join(rows) + (f"\n… {more:,} more bytes" if more > 0 else "")


@dataclass(frozen=True)
class Thumbnail:
    """An image ready for ``<img src=...>``: its MIME type and base64 data."""

    mime: str
    data: str

    @property
    def url(self) -> str:
        return f"data:{self.mime};base64,{self.data}"


_cache: OrderedDict[tuple[str, int], Optional[Thumbnail]] = OrderedDict()
_cache_lock = threading.Lock()
_decoding = threading.Lock()
"""Held while a thumbnail is made: the warnings filters it sets are the process's own."""


def thumbnail(card: MCard, px: int) -> Optional[Thumbnail]:
    """A downscaled image of an image card (longest side ``px``), or None: not an image of a
    known type, too large to inline, or unreadable and not small."""
    return thumbnail_of(card.hash, card.content_type, card.size, px, lambda: card.content_bytes)


def thumbnail_of(
    hash_str: object, mime: object, size: object, px: int, read: Callable[[], Optional[bytes]]
) -> Optional[Thumbnail]:
    """``thumbnail`` of the card ``hash_str`` from what a row of it tells: ``read`` gives its
    content, and is called only when a thumbnail can be made and none is cached (a list of
    large images need not hold them all); it gives None for a card no longer stored."""
    if mime not in IMAGE_TYPES or not isinstance(size, int) or size > (SVG_LIMIT if mime == SVG else DECODE_LIMIT):
        return None
    key = (str(hash_str), px)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    data = read()
    if data is None:
        return None
    made = _make(str(mime), data, px)
    with _cache_lock:
        _cache[key] = made
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return made


def pixel_size(head: bytes, mime: object) -> Optional[tuple[int, int]]:
    """An image's width and height from its first bytes (its header: no pixel is decoded), or
    None: no raster image of a known type, or a header longer than ``head`` (a JPEG after a
    large EXIF block)."""
    if mime not in IMAGE_TYPES or mime == SVG:
        return None
    try:
        if mime == "image/webp":
            return _webp_size(head)
        from PIL import Image

        with _decoding, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a DecompressionBomb warning of a huge image: nothing on the cell's stderr
            with Image.open(io.BytesIO(head)) as image:
                return image.size
    except Exception:
        return None


def _webp_size(head: bytes) -> Optional[tuple[int, int]]:
    """A WebP's size from its first chunk's header (Pillow decodes a WebP whole to open it)."""
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return None
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        return int.from_bytes(head[26:28], "little") & 0x3FFF, int.from_bytes(head[28:30], "little") & 0x3FFF
    if chunk == b"VP8L" and head[20:21] == b"\x2f":
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


def _raw(mime: str, data: bytes) -> Thumbnail:
    return Thumbnail(mime, base64.b64encode(data).decode("ascii"))


def _make(mime: str, data: bytes, px: int) -> Optional[Thumbnail]:
    if mime == SVG:  # vector: the browser scales it; inside <img> it runs no script
        return _raw(mime, data) if len(data) <= SVG_LIMIT else None
    if len(data) > DECODE_LIMIT:
        return None
    try:
        from PIL import Image
    except ImportError:
        return _raw(mime, data) if len(data) <= RAW_IMAGE_LIMIT else None
    try:
        with _decoding, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nothing on the cell's stderr
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _scaled(mime, data, px)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        return None  # a few KB may hold a bitmap of gigabytes: never decoded here, nor inlined for a browser to
    except Exception:  # not a readable image: only a small one is inlined
        logger.debug("no thumbnail for a %s card", mime, exc_info=True)
        return _raw(mime, data) if len(data) <= RAW_IMAGE_LIMIT else None


def _scaled(mime: str, data: bytes, px: int) -> Thumbnail:
    """The image as it is when small in bytes and pixels, else downscaled to ``px``; more pixels
    than ``DECODE_PIXELS`` are refused as Pillow refuses more than its ``MAX_IMAGE_PIXELS``
    (a ``DecompressionBomb`` warning or error)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        if max(image.size) <= px and len(data) <= RAW_IMAGE_LIMIT:
            return _raw(mime, data)
        image.draft("RGB", (px, px))
        if image.size[0] * image.size[1] > DECODE_PIXELS:
            raise Image.DecompressionBombError(f"{image.size} is more pixels than a thumbnail decodes")
        image.thumbnail((px, px))
        alpha = image.mode in ("RGBA", "LA", "P")
        small = image.convert("RGBA" if alpha else "RGB")
        out = io.BytesIO()
        small.save(out, "PNG" if alpha else "JPEG", **({} if alpha else {"quality": 80}))
        return _raw("image/png" if alpha else "image/jpeg", out.getvalue())
