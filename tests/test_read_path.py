"""The read path's shortcuts keep every card exact: times built on first use, text decoded by
SQLite, unlimited searches sorted outside SQL, damaged text reported without its content."""

import copy
import pickle
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig, UnreadableCardError
from mcard.domain.models.card import to_micros


def test_a_card_restored_from_stored_microseconds_equals_the_original():
    original = MCard("text", g_time=datetime(1969, 7, 20, 20, 17, 40, 123456, tzinfo=timezone.utc))
    restored = MCard.restore(
        original.content, original.hash, to_micros(original.g_time), "sha256", original.size
    )
    assert restored == original and original == restored
    assert pickle.loads(pickle.dumps(restored)) == original
    assert copy.copy(restored) == original
    assert restored.g_time == original.g_time and restored.g_time.tzinfo is timezone.utc
    assert restored.g_time is restored.g_time  # built once
    assert restored.g_time_text == original.g_time_text


async def test_cards_read_back_are_exact(tmp_path):
    texts = ["plain", "with\x00nul\x00inside", "é 😀 ünïcode", "%_'\"\\"]
    times = [datetime(1, 1, 1, tzinfo=timezone.utc), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)]
    cards = [MCard(text, g_time=times[i % 2] + timedelta(microseconds=i if i % 2 == 0 else -i)) for i, text in enumerate(texts)]
    cards.append(MCard(b"\x00\xff bytes"))
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "cards.db")) as store:
        await store.save_many(cards)
        for card in cards:
            got = await store.get(card.hash)
            assert got == card and type(got.content) is type(card.content) and got.g_time == card.g_time
        assert await store.get_many([c.hash for c in cards]) == {c.hash: c for c in cards}
        newest_first = sorted(cards, key=lambda c: (c.g_time, c.hash), reverse=True)
        assert await store.list() == newest_first
        assert [c async for c in store.iterate(page_size=2)] == newest_first


async def test_unlimited_and_limited_searches_agree(tmp_path):
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    # equal times: the order falls back to the hash, descending
    cards = [MCard(f"needle {i}", g_time=base + timedelta(seconds=i // 3)) for i in range(30)]
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "cards.db")) as store:
        await store.save_many(cards)
        await store.store.wait_indexed()
        expected = sorted(cards, key=lambda c: (c.g_time, c.hash), reverse=True)
        assert await store.search("needle") == expected
        assert await store.search("needle", offset=7) == expected[7:]
        assert await store.search("needle", limit=5, offset=7) == expected[7:12]
        assert await store.search("needle", limit=100) == expected


@pytest.mark.parametrize("read", ["get", "list", "iterate", "search", "search regex", "search regex, a page",
                                  "list by type", "iterate by type"])
@pytest.mark.parametrize("repeat", [50, 5000], ids=["small", "read as a blob"])
async def test_damaged_text_is_a_storage_error_that_does_not_quote_it(tmp_path, read, repeat):
    path = tmp_path / "cards.db"
    secret = "secret-" * repeat
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        card = await store.create(secret)
        db = sqlite3.connect(path)
        db.execute("UPDATE card SET content = x'ff' || content")
        db.commit()
        db.close()
        with pytest.raises(UnreadableCardError, match="not valid UTF-8") as caught:
            if read == "get":
                await store.get(card.hash)
            elif read == "list":
                await store.list()
            elif read == "iterate":
                [c async for c in store.iterate()]
            elif read == "list by type":
                await store.list(content_type="text/plain")
            elif read == "iterate by type":
                [c async for c in store.iterate(content_type="text/plain")]
            elif read == "search regex":
                await store.search("secret-(secret)+", mode="regex")
            elif read == "search regex, a page":
                await store.search(r"\w+-", 5, mode="regex")
            else:
                await store.search("secret-secret")
        assert "secret" not in str(caught.value)
