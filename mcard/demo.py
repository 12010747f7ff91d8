"""Demo cards for the tutorials (``mcard lab --demo`` stores them).

The cards are the same every time (same content, so same hashes), so filling a database
twice stores them once.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from mcard.domain.models.card import MCard
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
    return cards


async def fill(target: str | EngineConfig) -> int:
    """Store the demo cards in a SQLite file, a database URL or any engine's store; return how
    many were new."""
    if isinstance(target, str):
        config = config_from_url(target) if "://" in target else SQLiteConfig(target)
    else:
        config = target
    async with AsyncPersistenceWrapper(config) as store:
        return await store.save_many(demo_cards())

