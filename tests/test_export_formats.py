"""``export()`` from Python: content included by default, every record format restored exactly
by ``import_records`` (times at both ends of the range, NUL in text, raw bytes), Parquet's
``g_time`` a UTC timestamp, and a binary stream as the destination."""

from __future__ import annotations

import asyncio
import io
import threading
from datetime import datetime, timezone

import pytest

from mcard import AsyncPersistenceWrapper, MCard, Sighting, SQLiteConfig
from mcard.domain.models.exceptions import ValidationError
from mcard.exporting import card_record, export, json_line
from mcard.importing import import_paths, import_records

CARDS = [
    MCard("plain text", g_time=datetime(2026, 5, 1, 12, 30, 0, 123456, tzinfo=timezone.utc)),
    MCard("text with a NUL \x00 and \u00e9", g_time=datetime(1, 1, 1, tzinfo=timezone.utc)),
    MCard(bytes(range(256)), g_time=datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)),
    MCard("a,b\n1,2\n3,4\n", g_time=datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)),
]


async def stored(path) -> list[MCard]:
    async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
        return [card async for card in store.iterate()]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet", ".JSONL", ".Csv"])
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


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
async def test_a_stored_content_type_is_restored_not_detected_again(tmp_path, suffix):
    """A content type another tool (or an earlier detection) stored came back as detected
    again from the content, where sync keeps it."""
    card = MCard("# Title")
    marked = MCard.restore(card.content, card.hash, card.g_time, card.hash_algorithm, card.size, "text/markdown")
    out = tmp_path / f"cards{suffix}"
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "source.db")) as source:
        await source.save(marked)
        await export(source, out, progress=False)
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "copy.db")) as copy:
        await import_records(copy, out, progress=False)
        assert (await copy.get(card.hash)).content_type == "text/markdown"


async def test_a_record_whose_content_type_is_not_a_mime_type_is_refused_by_its_line(tmp_path):
    good, bad = (json_line({**card_record(MCard(text), True), "content_type": kind})
                 for text, kind in (("fine", "TEXT/Plain"), ("odd", "not a type")))
    (tmp_path / "cards.jsonl").write_text(good + bad)
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "copy.db")) as copy:
        with pytest.raises(ValidationError, match="line 2: .*content_type 'not a type' is not a MIME type"):
            await import_records(copy, tmp_path / "cards.jsonl", progress=False)


@pytest.mark.parametrize("written, meant", [
    ("2026-01-02T03:04:05.000006z", datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc)),  # RFC 3339 allows z
    ("2026-01-02t03:04:05+01:00", datetime(2026, 1, 2, 2, 4, 5, tzinfo=timezone.utc)),
    ("2026-01-02 03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)),
])
async def test_a_records_time_in_any_rfc_3339_spelling_is_restored(tmp_path, written, meant):
    (tmp_path / "cards.jsonl").write_text(json_line({**card_record(MCard("timed"), True), "g_time": written}))
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "copy.db")) as copy:
        await import_records(copy, tmp_path / "cards.jsonl", progress=False)
        assert [card.g_time for card in await copy.list()] == [meant]


@pytest.mark.parametrize("written", ["2026-01-02X03:04:05Z", "2026-01-02+03:00Z", "2026-01-02\u00e903:04:05Z"])
async def test_a_records_time_that_is_no_date_and_time_is_refused_not_read_as_another(tmp_path, written):
    """Python reads any character between the date and the time as a separator: ``+03:00Z``
    after a date was stored as 03:00 UTC."""
    line = json_line({**card_record(MCard("timed"), True), "g_time": "WRITTEN"}).replace("WRITTEN", written)
    (tmp_path / "cards.jsonl").write_text(line)
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "copy.db")) as copy:
        with pytest.raises(ValidationError, match="line 1: g_time is not an ISO 8601 time"):
            await import_records(copy, tmp_path / "cards.jsonl", progress=False)
        assert await copy.count() == 0


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


@pytest.mark.parametrize("column", ["g_time", "mtime"])
async def test_a_parquet_time_past_the_year_9999_names_its_row_and_keeps_the_rows_before(tmp_path, column):
    """Another tool's Parquet may hold any timestamp; Python's datetime stops at 9999."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    seconds = [1_767_225_600, 10**12 if column == "g_time" else 1_767_225_600, 1_767_225_600]
    mtimes = [1_767_225_600, 10**12 if column == "mtime" else 1_767_225_600, 1_767_225_600]
    sighting = pa.struct([("name", pa.string()), ("mtime", pa.timestamp("s", tz="UTC")), ("seen_at", pa.timestamp("s", tz="UTC"))])
    pq.write_table(pa.table({
        "content": ["first", "second", "third"],
        "g_time": pa.array(seconds, pa.timestamp("s", tz="UTC")),
        "sightings": pa.array([[{"name": f"{n}.txt", "mtime": m, "seen_at": 1_767_225_600}] for n, m in enumerate(mtimes)],
                              pa.list_(sighting)),
    }), tmp_path / "far.parquet")
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "copy.db")) as copy:
        with pytest.raises(ValidationError, match=f"far.parquet: row 2: {'g_time' if column == 'g_time' else 'sightings'} cannot be read"):
            await import_records(copy, tmp_path / "far.parquet", batch_size=1, progress=False)
        assert [card.content for card in await copy.list()] == ["first"]


async def test_an_empty_parquet_export_has_the_same_columns(tmp_path):
    import pyarrow.parquet as pq

    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "empty.db")) as store:
        await export(store, tmp_path / "full.parquet", progress=False)
        await export(store, tmp_path / "meta.parquet", with_content=False, progress=False)
    full, meta = pq.read_schema(tmp_path / "full.parquet"), pq.read_schema(tmp_path / "meta.parquet")
    assert full.names == ["hash", "g_time", "size", "kind", "content_type", "hash_algorithm", "name", "tags",
                          "sightings", "content", "content_encoding"]
    assert meta.names == full.names[:9] and meta.field("g_time").type == full.field("g_time").type


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


async def test_a_path_of_no_known_format_names_the_argument_of_python_and_of_the_command(tmp_path):
    """Called from Python, the message named only the command line's --format."""
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "source.db")) as source:
        with pytest.raises(ValidationError, match=r"cannot tell the export format from 'out.xyz': .*"
                                                  r"\(format= in Python, --format on the command line\)$"):
            await export(source, tmp_path / "out.xyz")


async def labelled_store(path) -> AsyncPersistenceWrapper:
    """A store whose cards carry sightings (names, paths, times, odd characters) and tags."""
    store = AsyncPersistenceWrapper(SQLiteConfig(path))
    await store.initialize()
    await store.save_many(CARDS, sightings=[
        Sighting.of(CARDS[0].hash, name="a.txt", path="docs/a.txt", size=10, source="/home/me/files",
                    mtime=datetime(2020, 2, 2, tzinfo=timezone.utc), seen_at=datetime(2026, 1, 1, tzinfo=timezone.utc)),
        Sighting.of(CARDS[0].hash, name="copy of a.txt", seen_at=datetime(2026, 1, 2, tzinfo=timezone.utc)),
        Sighting.of(CARDS[2].hash, name='quote " and, comma ‮.bin', source="upload",
                    seen_at=datetime(1, 1, 1, tzinfo=timezone.utc)),
    ])
    await store.tag_many([(CARDS[0].hash, "holiday"), (CARDS[0].hash, "two words"), (CARDS[3].hash, "data")])
    return store


async def labels(store: AsyncPersistenceWrapper) -> dict[str, tuple[list[str], list[Sighting]]]:
    hashes = [card.hash for card in CARDS]
    seen, tags = await store.sightings_of(hashes), await store.tags_of(hashes)
    return {key: (tags.get(key, []), seen.get(key, [])) for key in hashes}


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
async def test_records_carry_sightings_and_tags_back(tmp_path, suffix):
    out = tmp_path / f"cards{suffix}"
    source = await labelled_store(tmp_path / "source.db")
    try:
        await export(source, out, progress=False)
        expected = await labels(source)
    finally:
        await source.close()
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "copy.db")) as copy:
        await import_records(copy, out, progress=False)
        assert await labels(copy) == expected
        await import_records(copy, out, progress=False)  # again: nothing doubles
        assert await labels(copy) == expected
        assert (await copy.names_of([CARDS[0].hash])) == {CARDS[0].hash: "copy of a.txt"}


async def test_a_record_with_a_bad_tag_or_sighting_names_its_line(tmp_path):
    good = '{"hash": "%s", "g_time": "2026-01-01T00:00:00Z", "content": "x", "content_encoding": "utf-8"' % MCard("x").hash
    lines = [good + ', "tags": ["fine"]}', good + ', "tags": ["bad\\u0007tag"]}']
    (tmp_path / "bad.jsonl").write_text("\n".join(lines) + "\n")
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "copy.db")) as copy:
        with pytest.raises(ValidationError, match="line 2: a tag"):
            await import_records(copy, tmp_path / "bad.jsonl", progress=False)
        for sightings, says in (('[{"name": "n"}]', "no seen_at"), ('[{"colour": "red", "seen_at": "2026-01-01"}]', "object of"),
                                ('[{"seen_at": "never"}]', "ISO 8601"), ('"not a list"', "list")):
            (tmp_path / "bad.jsonl").write_text(good + f', "sightings": {sightings}}}\n')
            with pytest.raises(ValidationError, match=says):
                await import_records(copy, tmp_path / "bad.jsonl", progress=False)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
async def test_a_records_name_is_restored_when_no_sighting_of_it_says_so(tmp_path, suffix):
    """An export whose ``name`` was edited, and a record of another tool with a ``name`` and no
    sightings: each card is listed under that name, and importing again adds nothing."""
    source = await labelled_store(tmp_path / "source.db")
    try:
        await export(source, tmp_path / f"cards{suffix}", progress=False)
    finally:
        await source.close()
    edited = tmp_path / f"edited{suffix}"
    edited.write_text((tmp_path / f"cards{suffix}").read_text().replace("copy of a.txt", "renamed.txt", 1))
    other = tmp_path / f"other{suffix}"
    other.write_text(json_line({"g_time": "2026-01-01T00:00:00Z", "content": "from elsewhere", "name": "elsewhere.txt"})
                     if suffix == ".jsonl" else "name,g_time,content\nelsewhere.txt,2026-01-01T00:00:00Z,from elsewhere\n")
    elsewhere = MCard("from elsewhere").hash
    hashes = [CARDS[0].hash, CARDS[2].hash, elsewhere]
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "copy.db")) as copy:
        await import_records(copy, edited, progress=False)
        await import_records(copy, other, progress=False)
        assert await copy.names_of(hashes) == {
            CARDS[0].hash: "renamed.txt", CARDS[2].hash: 'quote " and, comma \u202e.bin', elsewhere: "elsewhere.txt"}
        before = await copy.sightings_of(hashes)
        for path in (edited, other):
            assert (await import_records(copy, path, progress=False)).sightings_added == 0
        assert await copy.sightings_of(hashes) == before


async def test_a_records_name_that_is_not_text_names_its_line(tmp_path):
    line = json_line({"g_time": "2026-01-01T00:00:00Z", "content": "x", "name": 7})
    (tmp_path / "bad.jsonl").write_text(line)
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "copy.db")) as copy:
        with pytest.raises(ValidationError, match="line 1: a record's name is a string"):
            await import_records(copy, tmp_path / "bad.jsonl", progress=False)
        assert await copy.count() == 0


async def test_files_are_written_under_their_latest_names(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "taken.txt").write_text("a file of the user's own")
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "source.db")) as store:
        first, second, third = MCard("first"), MCard("second"), MCard("third")
        await store.save_many([first, second, third], sightings=[
            Sighting.of(first.hash, name="same.txt"), Sighting.of(second.hash, name="same.txt"),
            Sighting.of(third.hash, name="taken.txt"),
        ])
        unnamed = await store.create("no name")
        await export(store, folder, format="files", progress=False)
    written = {path.name: path.read_text() for path in folder.iterdir()}
    assert written.pop("taken.txt") == "a file of the user's own"
    assert written.pop(f"taken-{third.hash[:8]}.txt") == "third"
    assert sorted(written.pop(name) for name in [n for n in written if n.startswith("same")]) == ["first", "second"]
    assert written == {f"{unnamed.hash}.txt": "no name"}
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "again.db")) as again:  # the folder round-trips
        await import_paths(again, [folder], progress=False)
        assert {c.content for c in await again.list()} == {"first", "second", "third", "no name", "a file of the user's own"}


class _HeldStream(io.RawIOBase):
    """Export records that stop, in the middle of a read on the import's worker thread, until
    ``release`` is set (a slow disk or pipe): ``reading`` tells the read has started."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.data, self.reading, self.release = io.BytesIO(data), threading.Event(), threading.Event()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        if self.data.tell() > 0:
            self.reading.set()
            assert self.release.wait(10), "the test never released the read"
        return self.data.readinto(buffer)


async def test_an_import_cancelled_while_its_worker_thread_reads_ends_as_cancelled(tmp_path):
    """Ctrl-C (a notebook interrupt, SIGINT) while a batch of records is read on the worker
    thread: the import ends as cancelled, with the batches before stored, instead of failing
    with ``ValueError: generator already executing`` (its file was closed under the read)."""
    lines = b"".join(
        json_line(card_record(MCard(f"record {number}"), with_content=True)).encode() for number in range(300)
    )
    stream = io.BufferedReader(_HeldStream(lines), buffer_size=4096)
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "copy.db")) as copy:
        task = asyncio.ensure_future(import_records(copy, stream, batch_size=10, progress=False))
        assert await asyncio.to_thread(stream.raw.reading.wait, 10), "the import never read"
        task.cancel()
        await asyncio.sleep(0.05)  # the cancellation reaches the import while the read is held
        stream.raw.release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        kept = await copy.count()
        assert kept % 10 == 0 and kept < 300  # whole batches only
        assert (await import_records(copy, io.BytesIO(lines), progress=False)).new == 300 - kept  # a rerun stores the rest
        assert await copy.count() == 300


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
async def test_restoring_large_cards_holds_one_batch_of_contents_at_a_time(wrapper, tmp_path, suffix):
    """``mcard import --records`` of an export of 100 cards of 10 MB peaked at 1.1 GB, the whole
    file: a batch was 1000 records whatever their size (and went to PostgreSQL as one COPY). A
    batch now ends once its contents reach ``batch_bytes`` (64 MiB by default). A Parquet file
    was still read whole, pyarrow's batches of 65,536 rows joining its row groups (40 cards of
    8 MB restored at 1.2 GB, now 430 MB): it is read a row group at a time, about 8 MiB a batch."""
    import random
    import tracemalloc

    if suffix == ".parquet":
        pytest.importorskip("pyarrow")

    rng = random.Random(3)
    cards = [MCard(rng.randbytes(500_000).hex()) for _ in range(48)]
    out = tmp_path / f"large{suffix}"
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "source.db")) as source:
        await source.save_many(cards)
        await export(source, out)
    tracemalloc.start()
    try:
        summary = await import_records(wrapper, out, batch_bytes=2_000_000, progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert summary.new == len(cards) and await wrapper.count() == len(cards)
    assert {card.hash for card in await wrapper.list()} == {card.hash for card in cards}
    assert peak < 30_000_000, peak  # the contents are 48 MB, held all at once before (24 MB: 27-116 MB)


async def test_a_batch_of_records_needs_a_positive_number_of_bytes(tmp_path):
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "copy.db")) as copy:
        for wrong in (0, -1, True, 1.5):
            with pytest.raises(ValidationError, match="batch_bytes must be a positive integer"):
                await import_records(copy, io.BytesIO(b""), batch_bytes=wrong, progress=False)


async def test_a_file_of_records_that_cannot_be_read_is_a_validation_error_before_any_progress(tmp_path, capsys):
    """It was a bare ``FileNotFoundError`` from deep in the reading thread, under a progress
    bar already drawn ("restoring cards: 0card")."""
    (tmp_path / "folder.jsonl").mkdir()
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "copy.db")) as copy:
        for source, said in ((tmp_path / "missing.jsonl", "missing.jsonl: No such file or directory"),
                             (tmp_path / "folder.jsonl", "folder.jsonl: a folder, not a file of records")):
            with pytest.raises(ValidationError, match=said):
                await import_records(copy, source, progress=True)
        assert await copy.count() == 0
    assert "restoring cards" not in capsys.readouterr().err
