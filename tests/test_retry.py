import asyncio
import sqlite3
import threading

import pytest

from mcard import AsyncPersistenceWrapper, SQLiteConfig, StorageError, ValidationError, retry_operation


async def test_retries_a_locked_database_until_it_is_free(tmp_path):
    path = tmp_path / "c.db"
    async with AsyncPersistenceWrapper(SQLiteConfig(path, timeout=0.05)) as store:
        blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN EXCLUSIVE")
        threading.Timer(0.3, lambda: blocker.execute("ROLLBACK")).start()
        attempts = 0

        @retry_operation(max_retries=8, base_delay=0.05)
        async def save():
            nonlocal attempts
            attempts += 1
            return await store.create("eventually")

        card = await save()
        blocker.close()
        assert attempts > 1 and await store.get(card.hash) == card


async def test_never_retries_validation_errors():
    calls = 0

    @retry_operation(max_retries=5, base_delay=0)
    async def invalid():
        nonlocal calls
        calls += 1
        raise ValidationError("bad input")

    with pytest.raises(ValidationError):
        await invalid()
    assert calls == 1


async def test_does_not_retry_permanent_storage_errors():
    calls = 0

    @retry_operation(max_retries=5, base_delay=0)
    async def broken():
        nonlocal calls
        calls += 1
        raise StorageError("disk is gone")

    with pytest.raises(StorageError):
        await broken()
    assert calls == 1


async def test_reraises_the_last_error_after_max_retries():
    errors = [StorageError(f"busy {i}", transient=True) for i in range(4)]
    calls = 0

    @retry_operation(max_retries=3, base_delay=0.001)
    async def always_busy():
        nonlocal calls
        calls += 1
        raise errors[calls - 1]

    with pytest.raises(StorageError) as raised:
        await always_busy()
    assert calls == 4 and raised.value is errors[-1]


async def test_backoff_grows_exponentially(monkeypatch):
    delays = []

    async def fake_sleep(seconds):
        delays.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)

    @retry_operation(max_retries=4, base_delay=0.1, max_delay=0.5)
    async def busy():
        raise StorageError("busy", transient=True)

    with pytest.raises(StorageError):
        await busy()
    assert len(delays) == 4
    assert 0.05 <= delays[0] <= 0.1 and 0.1 <= delays[1] <= 0.2 and 0.2 <= delays[2] <= 0.4
    assert delays[3] <= 0.5


def test_rejects_sync_functions_and_bad_arguments():
    with pytest.raises(TypeError):
        retry_operation()(lambda: None)
    with pytest.raises(ValueError):
        retry_operation(max_retries=-1)


def test_every_error_pickles_whole_for_a_process_pool():
    """An error with more than a message (a hash, the hashes, a retry flag) failed to unpickle
    (``TypeError: missing 1 required positional argument``): a process pool's worker raising it
    broke the pool's result instead."""
    import pickle

    from mcard import AmbiguousHashError, HeldByDamagedError, NewerStoreError, NotStoredError, StorageError

    errors = [
        AmbiguousHashError("abcd1234", ["abcd1234" + "0" * 56, "abcd1234" + "1" * 56]),
        NotStoredError("cannot tag cards that are not stored: aa (nor 1 more)", ["aa" * 32, "bb" * 32]),
        HeldByDamagedError("cards.db: cc... is stored with other content", "cc" * 32),
        NewerStoreError("cards.db", 9, 8),
        StorageError("database is locked", transient=True),
    ]
    for error in errors:
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error) and vars(again) == vars(error)
        assert again.args == error.args
