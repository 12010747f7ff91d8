import hashlib
import pickle
from datetime import datetime, timedelta, timezone

import pytest

from mcard import MCard, ValidationError
from mcard.domain.models.card import HASH_ALGORITHMS, format_time


def test_text_card_hashes_utf8_bytes_with_sha256():
    card = MCard("héllo")
    assert card.hash == hashlib.sha256("héllo".encode()).hexdigest()
    assert card.hash_algorithm == "sha256"
    assert card.content == "héllo" and card.kind == "text" and card.size == 6


def test_bytes_card_keeps_bytes():
    data = b"\x00\xff\xfe binary \x00"
    card = MCard(data)
    assert card.content == data and isinstance(card.content, bytes)
    assert card.kind == "bytes" and card.size == len(data)


@pytest.mark.parametrize("algorithm", sorted(HASH_ALGORITHMS))
def test_every_supported_algorithm(algorithm):
    card = MCard(b"abc", hash_algorithm=algorithm)
    assert card.hash == hashlib.new(algorithm, b"abc").hexdigest()
    assert card.hash_algorithm == algorithm


@pytest.mark.parametrize("bad", [None, "", b"", 42, 1.5, {"a": 1}, ["x"], bytearray(b"x")])
def test_rejects_what_is_not_nonempty_str_or_bytes(bad):
    with pytest.raises(ValidationError):
        MCard(bad)


def test_rejects_lone_surrogates():
    with pytest.raises(ValidationError, match="Unicode"):
        MCard("bad \ud800 text")


def test_rejects_unknown_algorithm():
    with pytest.raises(ValidationError, match="hash algorithm"):
        MCard("x", hash_algorithm="shake_128")


def test_g_time_is_aware_utc_with_microseconds_and_fixed_width_text():
    card = MCard("x")
    assert card.g_time.tzinfo is timezone.utc
    assert abs(datetime.now(timezone.utc) - card.g_time) < timedelta(seconds=5)
    fixed = MCard("y", g_time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    assert fixed.g_time_text == "2026-01-02T03:04:05.000000Z"
    assert len(format_time(card.g_time)) == len(fixed.g_time_text)


def test_g_time_from_another_offset_is_the_same_instant_in_utc():
    plus_two = timezone(timedelta(hours=2))
    card = MCard("x", g_time=datetime(2026, 1, 1, 12, 0, tzinfo=plus_two))
    assert card.g_time == datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)
    assert card.g_time.tzinfo is timezone.utc


def test_naive_g_time_is_rejected():
    with pytest.raises(ValidationError, match="timezone-aware"):
        MCard("x", g_time=datetime(2026, 1, 1))


def test_cards_are_immutable():
    card = MCard("x")
    with pytest.raises(AttributeError):
        card.content = "y"
    with pytest.raises(AttributeError):
        card.hash = "0"


def test_equality_needs_hash_content_and_time():
    moment = datetime(2026, 1, 1, tzinfo=timezone.utc)
    a, b = MCard("x", g_time=moment), MCard("x", g_time=moment)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != MCard("x", g_time=moment + timedelta(microseconds=1))
    assert MCard("x", g_time=moment) != MCard(b"x", g_time=moment)


def test_pickle_round_trip():
    card = MCard(b"\x00data")
    assert pickle.loads(pickle.dumps(card)) == card


def test_repr_names_hash_time_kind_and_preview():
    text = repr(MCard("hello world"))
    assert "hello world" in text and "text" in text and "MCard(hash=" in text
