"""The data every benchmark uses: small text cards with a marker word in 1%, 100 KB bytes cards."""

from __future__ import annotations

import random
from dataclasses import dataclass

MARKER = "quokkamarker"
WORDS = (
    "alpha beta gamma delta card store index page time hash text note list query value "
    "river stone cloud paper light green orange window table chair music"
).split()


@dataclass(frozen=True)
class Workload:
    """Contents for one benchmark run; the same for mcard and the raw driver."""

    texts: list[str]
    blobs: list[bytes]
    marked: int


def make_workload(n: int, blobs: int, blob_size: int, seed: int = 6) -> Workload:
    """``n`` distinct ~100-byte texts (every 100th carries ``MARKER``) and ``blobs`` random blobs."""
    rng = random.Random(seed)
    texts = []
    for i in range(n):
        words = " ".join(rng.choice(WORDS) for _ in range(12))
        marker = f" {MARKER}" if i % 100 == 0 else ""
        texts.append(f"note {i}:{marker} {words}"[:100])
    return Workload(texts, [rng.randbytes(blob_size) for _ in range(blobs)], (n + 99) // 100)
