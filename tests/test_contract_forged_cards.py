"""Contract: only true cards enter a store, and times outside the supported range are refused.

A card rebuilt with ``MCard.restore`` (read back, unpickled, or made up by an attacker) is
re-checked before it is stored: a forged hash must never shadow the content it names.
"""

import hashlib
import pickle
from datetime import datetime, timedelta, timezone, tzinfo

import pytest

from mcard import AsyncPersistenceWrapper, MCard, ValidationError
from mcard.domain.models.card import MAX_TIME, MIN_TIME

NOW = datetime(2026, 5, 1, tzinfo=timezone.utc)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def forged(content, hash_str, *, g_time=NOW, algorithm="sha256", size=None, content_type=None):
    data = content.encode() if isinstance(content, str) else content
    return MCard.restore(content, hash_str, g_time, algorithm, len(data) if size is None else size, content_type)


async def test_a_card_whose_hash_names_other_content_is_refused(wrapper):
    mallory = forged("pay mallory 1000 EUR", sha256(b"pay alice 10 EUR"))
    with pytest.raises(ValidationError, match="does not hash"):
        await wrapper.save(mallory)
    with pytest.raises(ValidationError):
        await wrapper.save_many([MCard("innocent"), mallory])
    assert await wrapper.count() == 0, "nothing of a refused batch is stored"
    card = await wrapper.create("pay alice 10 EUR")
    assert card.content == "pay alice 10 EUR"
    assert (await wrapper.get(card.hash)).content == "pay alice 10 EUR"


@pytest.mark.parametrize(
    "card, reason",
    [
        (forged("x", "../../x"), "not a sha256 digest"),
        (forged("x", '"><img src=x onerror=alert(1)>'), "not a sha256 digest"),
        (forged("x", sha256(b"x").upper()), "not a sha256 digest"),
        (forged("x", sha256(b"x")[:12]), "not a sha256 digest"),
        (forged("x", sha256(b"x"), algorithm="rot13"), "unsupported hash algorithm"),
        (forged("x", sha256(b"x"), size=-1), "size"),
        (forged("x", sha256(b"x"), size=2), "size"),
        (forged("", sha256(b"")), "empty"),
        (forged(b"", sha256(b"")), "empty"),
        (MCard.restore(None, sha256(b"x"), NOW, "sha256", 1), "str or bytes"),
        (MCard.restore(7, sha256(b"x"), NOW, "sha256", 1), "str or bytes"),
        (forged("x", sha256(b"x"), g_time=datetime(2026, 5, 1)), "timezone-aware"),
        (forged("x", sha256(b"x"), g_time="2026-05-01T00:00:00Z"), "must be a datetime"),
        (forged("x", sha256(b"x"), g_time=2**62), "outside the range"),
        (forged("x", sha256(b"x"), content_type='text/html"><script>'), "not a MIME type"),
    ],
    ids=[
        "path-hash", "markup-hash", "uppercase-hash", "short-hash", "unknown-algorithm", "negative-size",
        "wrong-size", "empty-text", "empty-bytes", "none-content", "int-content", "naive-time",
        "string-time", "time-out-of-range", "markup-content-type",
    ],
)
async def test_a_malformed_card_is_a_validation_error_and_nothing_is_stored(wrapper, card, reason):
    with pytest.raises(ValidationError, match=reason):
        await wrapper.save(card)
    with pytest.raises(ValidationError, match=reason):
        await wrapper.save_many([MCard("first"), card, MCard("last")])
    assert await wrapper.count() == 0


async def test_the_size_limit_holds_whatever_size_a_card_declares(make_config):
    async with AsyncPersistenceWrapper(make_config(max_content_size=1024)) as store:
        big = b"y" * 2048
        with pytest.raises(ValidationError):
            await store.save(forged(big, sha256(big), size=1))
        with pytest.raises(ValidationError, match="over the limit"):
            await store.save(forged(big, sha256(big)))
        assert await store.count() == 0


async def test_true_restored_and_unpickled_cards_are_stored(wrapper):
    original = MCard("kept exactly", g_time=NOW)
    restored = forged("kept exactly", original.hash, content_type="text/plain")
    unpickled = pickle.loads(pickle.dumps(MCard(b"\x00\x01 bytes", g_time=NOW)))
    assert await wrapper.save_many([restored, unpickled]) == 2
    assert await wrapper.get(original.hash) == original


class _Broken(tzinfo):
    def utcoffset(self, dt):
        raise RuntimeError("no offset today")


EDGES = [
    ("far-east-minimum", datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))),
    ("far-west-maximum", datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-14)))),
    ("broken-tzinfo", datetime(2026, 1, 1, tzinfo=_Broken())),
]


@pytest.mark.parametrize("moment", [m for _, m in EDGES], ids=[name for name, _ in EDGES])
async def test_times_outside_the_range_are_validation_errors_everywhere(wrapper, moment):
    with pytest.raises(ValidationError):
        MCard("x", g_time=moment)
    with pytest.raises(ValidationError):
        await wrapper.count(start_time=moment)
    with pytest.raises(ValidationError):
        await wrapper.list(end_time=moment)
    with pytest.raises(ValidationError):
        async for _ in wrapper.iterate(start_time=moment):
            pass


@pytest.mark.parametrize("moment", [MIN_TIME, datetime(999, 12, 31, 23, 59, 59, 1, tzinfo=timezone.utc), MAX_TIME])
async def test_times_inside_the_range_round_trip_with_fixed_width_text(wrapper, moment):
    card = MCard(f"at {moment.isoformat()}", g_time=moment)
    assert len(card.g_time_text) == len("2026-11-26T14:28:00.000000Z")
    assert datetime.fromisoformat(card.g_time_text.replace("Z", "+00:00")) == moment
    await wrapper.save(card)
    assert (await wrapper.get(card.hash)).g_time == moment
    assert await wrapper.count(start_time=moment, end_time=moment) == 1
    assert [c.hash for c in await wrapper.list(start_time=MIN_TIME, end_time=MAX_TIME)] == [card.hash]
