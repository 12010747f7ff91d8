"""``export()`` from Python: content included by default, every record format restored exactly
by ``import_records`` (times at both ends of the range, NUL in text, raw bytes), Parquet's
``g_time`` a UTC timestamp, and a binary stream as the destination."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest

from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig
from mcard.domain.models.exceptions import ValidationError
from mcard.exporting import export
from mcard.importing import import_records

CARDS = [
    MCard("plain text", g_time=datetime(2026, 5, 1, 12, 30, 0, 123456, tzinfo=timezone.utc)),
    MCard("text with a NUL \x00 and \u00e9", g_time=datetime(1, 1, 1, tzinfo=timezone.utc)),
    MCard(bytes(range(256)), g_time=datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)),
    MCard("a,b\n1,2\n3,4\n", g_time=datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)),
]


async def stored(path) -> list[MCard]:
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        return [card async for card in store.iterate()]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
async def test_every_record_format_restores_the_cards_exactly(tmp_path, suffix):
    out = tmp_path / f"cards{suffix}"
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "source.db")) as source:
        await source.save_many(CARDS)
        assert (await export(source, out, progress=False)).exported == len(CARDS)
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "copy.db")) as copy:
        assert (await import_records(copy, out, batch_size=3, progress=False)).new == len(CARDS)
    restored = await stored(tmp_path / "copy.db")
    assert restored == await stored(tmp_path / "source.db")
    assert {(card.content, card.g_time, card.content_type) for card in restored} == {
        (card.content, card.g_time, card.content_type) for card in CARDS
    }


async def test_parquet_g_time_is_a_timestamp_at_both_ends_of_the_range(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = tmp_path / "cards.parquet"
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "source.db")) as source:
        await source.save_many(CARDS)
        await export(source, out, progress=False)
    table = pq.read_table(out)
    assert table.schema.field("g_time").type == pa.timestamp("us", tz="UTC")
    assert sorted(table.column("g_time").to_pylist()) == sorted(card.g_time for card in CARDS)


async def test_an_empty_parquet_export_has_the_same_columns(tmp_path):
    import pyarrow.parquet as pq

    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "empty.db")) as store:
        await export(store, tmp_path / "full.parquet", progress=False)
        await export(store, tmp_path / "meta.parquet", with_content=False, progress=False)
    full, meta = pq.read_schema(tmp_path / "full.parquet"), pq.read_schema(tmp_path / "meta.parquet")
    assert full.names == ["hash", "g_time", "size", "kind", "content_type", "hash_algorithm", "content", "content_encoding"]
    assert meta.names == full.names[:6] and meta.field("g_time").type == full.field("g_time").type


@pytest.mark.parametrize("format", ["jsonl", "csv", "parquet"])
async def test_export_to_a_binary_stream_leaves_it_open(tmp_path, format):
    stream = io.BytesIO()
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "source.db")) as source:
        await source.save_many(CARDS)
        assert (await export(source, stream, format=format, progress=False)).exported == len(CARDS)
    assert not stream.closed and stream.getvalue()
    path = tmp_path / f"copy.{format}"
    path.write_bytes(stream.getvalue())
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "copy.db")) as copy:
        assert (await import_records(copy, path, progress=False)).new == len(CARDS)
    stream.seek(0)
    if format != "parquet":
        async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / f"from-stream-{format}.db")) as copy:
            assert (await import_records(copy, stream, format=format, progress=False)).new == len(CARDS)


async def test_a_folder_of_files_needs_a_folder(tmp_path):
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "source.db")) as source:
        with pytest.raises(ValidationError, match="cannot be written to a stream"):
            await export(source, io.BytesIO(), format="files")
