"""Demo cards for the tutorials (``mcard lab --demo`` stores them).

The cards are the same every time (same content, so same hashes), so filling a database
twice stores them once. Besides sentences, JSON and a few bytes there is one file of each
kind the explorer previews (a PNG drawn with Pillow when it is installed, JSON, CSV and
Markdown), stored with a file name.
"""

from __future__ import annotations

import io
import json
import random
import time
from datetime import datetime, timedelta, timezone
from typing import Optional

from mcard.domain.models.card import MCard
from mcard.domain.models.sighting import Sighting
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper
from mcard.infrastructure.persistence.config_url import config_from_url
from mcard.infrastructure.persistence.engine_config import EngineConfig, SQLiteConfig

SUBJECTS = ["The quick brown fox", "A lazy dog", "The card store", "Every notebook", "A hash"]
VERBS = ["jumps over", "remembers", "indexes", "finds", "ignores"]
OBJECTS = ["the fence", "its first timestamp", "a thousand cards", "the moon", "duplicate content"]
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def demo_cards(count: int = 250, seed: int = 7) -> list[MCard]:
    """``count`` deterministic cards over 2026's first 90 days: sentences, JSON and a few bytes."""
    rng = random.Random(seed)
    cards = []
    for number in range(count):
        moment = START + timedelta(seconds=rng.randrange(90 * 24 * 3600), microseconds=number)
        if number % 25 == 24:
            content: str | bytes = bytes(rng.randrange(256) for _ in range(rng.randrange(16, 512)))
        elif number % 10 == 9:
            content = f'{{"id": {number}, "tags": ["demo", "{rng.choice(VERBS)}"]}}'
        else:
            content = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} (#{number})."
        cards.append(MCard(content, g_time=moment))
    return cards + [card for _, card in demo_files()]


def _png() -> Optional[bytes]:
    """A 640x400 picture: a sky gradient, a sun and hills (None without Pillow)."""
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        return None
    image = Image.new("RGB", (640, 400))
    draw = ImageDraw.Draw(image)
    for y in range(400):
        draw.line([(0, y), (640, y)], fill=(40 + y // 3, 80 + y // 4, 200 - y // 4))
    draw.ellipse([420, 60, 540, 180], fill=(255, 200, 60))
    draw.polygon([(0, 400), (0, 300), (200, 220), (380, 320), (640, 240), (640, 400)], fill=(40, 110, 60))
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False)
    return out.getvalue()


def _pdf(picture: bytes) -> bytes:
    """A one-page PDF: a title above the picture (Pillow writes it)."""
    from PIL import Image, ImageDraw

    page = Image.new("RGB", (700, 560), "white")
    ImageDraw.Draw(page).text((30, 30), "Hills at noon: a demo poster", fill=(20, 20, 20))
    page.paste(Image.open(io.BytesIO(picture)), (30, 100))
    out = io.BytesIO()
    stamp = time.gmtime(START.timestamp())  # a fixed date: the same bytes, so the same card, every time
    page.save(out, "PDF", creationDate=stamp, modDate=stamp)
    return out.getvalue()


def demo_files() -> list[tuple[str, MCard]]:
    """(file name, card) of the demo's files: JSON, CSV and Markdown, and with Pillow a PNG and a PDF."""
    moment = START + timedelta(days=45)
    config = {"store": "cards.db", "engines": ["sqlite", "postgresql"], "page_size": 25, "explorer": {"facets": True}}
    table = "city,country,population,founded\n" + "".join(
        f"{city},{country},{people},{year}\n" for city, country, people, year in [
            ("Lyon", "France", 522250, -43), ("Porto", "Portugal", 231800, 136), ("Ghent", "Belgium", 265086, 630),
            ("Kraków", "Poland", 804237, 1257), ("Bologna", "Italy", 390734, -196), ("Aarhus", "Denmark", 290598, 770),
        ]
    )
    notes = (
        "# Field notes\n\nThe card store keeps **every version** of a file once: its *hash* is its address.\n\n"
        "- search with `words`, `\"a phrase\"` or `type:image/*`\n- click a facet to narrow the query\n"
        "- open a card to see it here\n\nTo keep a folder:\n\n1. `mcard import FOLDER`\n2. `mcard find QUERY`\n\n"
        "> Same content, same hash: stored once.\n\nMore in [the documentation](https://example.org/mcard).\n"
    )
    files = [("config.json", json.dumps(config, indent=2)), ("cities.csv", table), ("field-notes.md", notes)]
    picture = _png()
    if picture is not None:
        files += [("hills.png", picture), ("poster.pdf", _pdf(picture))]
    return [(name, MCard(content, g_time=moment + timedelta(hours=n))) for n, (name, content) in enumerate(files)]


async def fill(target: str | EngineConfig, *, empty_only: bool = False) -> Optional[int]:
    """Store the demo cards in a SQLite file, a database URL or any engine's store; return how
    many were new. With ``empty_only``, a store that holds cards already (the demo's, some of
    them removed since, or one's own) is left as it is: None."""
    if isinstance(target, str):
        config = config_from_url(target) if "://" in target else SQLiteConfig(target)
    else:
        config = target
    async with AsyncPersistenceWrapper(config) as store:
        if empty_only and await store.count():
            return None
        files = demo_files()
        there = await store.get_many([card.hash for _, card in files])
        seen = [
            Sighting.of(card.hash, name=name, size=card.size, source="demo")
            for name, card in files if card.hash not in there
        ]
        return await store.save_many(demo_cards(), sightings=seen)

