import gzip
import io
import random
import zipfile
from pathlib import Path

import pytest

from mcard import MCard
from mcard.content_types import detect_content_type

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", "x")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(40), "image/jpeg"),
        (b"GIF89a" + bytes(40), "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(40), "image/webp"),
        (b"%PDF-1.7\n%\xe2\xe3\n1 0 obj\n", "application/pdf"),
        (_zip(), "application/zip"),
        (gzip.compress(b"hello", mtime=0), "application/gzip"),
        (b"SQLite format 3\x00" + bytes(100), "application/x-sqlite3"),
        (b"PAR1" + bytes(20) + b"PAR1", "application/vnd.apache.parquet"),
        (random.Random(64).randbytes(64) + b"\x00", "application/octet-stream"),
        ('{"a": [1, 2]}', "application/json"),
        ("[1, 2, 3]", "application/json"),
        ('<?xml version="1.0"?>\n<root><a/></root>', "application/xml"),
        ('<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>', "image/svg+xml"),
        ("name,age,city\nada,36,london\nalan,41,wilmslow\n", "text/csv"),
        ("a\tb\tc\n1\t2\t3\n", "text/tab-separated-values"),
        ("Hello, world.\nHow are you, friend?", "text/plain"),
        ("{not json", "text/plain"),
        ("[" * 100_000 + "]" * 100_000, "text/plain"),  # deeper than Python's json reads
        ("<b>bold</b> and more", "text/plain"),
        ("<p>a paragraph</p>", "text/html"),
        ("<!doctype html><title>t</title>", "text/html"),
        ("just words", "text/plain"),
    ],
)
def test_detects_common_types(content, expected):
    assert detect_content_type(content) == expected


CORPUS = Path(__file__).parent / "data" / "content_types"
EXPECTED = {
    "text/plain": [
        "prose_wrapped.txt", "prose_paragraphs.txt", "prose_letter.txt", "prose_two_lines.txt",
        "one_line_with_commas.txt", "sentences.txt", "dialogue.txt", "poem.txt", "recipe.txt",
        "README.md", "notes.md", "module.py", "app.js", "main.c", "style.css", "settings.ini",
        "config.yaml", "script.sh", "Makefile", "paper.tex", "server_log.txt", "requirements.txt",
    ],
    "text/csv": ["data.csv", "two_columns.csv", "quoted_text.csv", "european.csv", "names.csv", "no_header.csv"],
    "text/tab-separated-values": ["genes.tsv"],
    "text/html": ["page_doctype.html", "page_no_doctype.html", "page_comment_first.html", "fragment.html", "table_fragment.html"],
    "application/xhtml+xml": ["page.xhtml"],
    "image/svg+xml": ["drawing.svg", "icon.svg"],
    "application/xml": ["feed.xml", "pom.xml", "config.xml"],
    "application/json": ["package.json", "list.json"],
}


def test_the_corpus_is_complete():
    listed = sorted(name for names in EXPECTED.values() for name in names)
    assert listed == sorted(path.name for path in CORPUS.iterdir())


@pytest.mark.parametrize(
    ("name", "expected"), [(name, kind) for kind, names in EXPECTED.items() for name in names]
)
def test_a_corpus_of_real_files_is_detected_by_what_it_holds(name, expected):
    """Files as people write them: prose full of commas is not CSV, HTML is not XML."""
    text = (CORPUS / name).read_text(encoding="utf-8")
    assert detect_content_type(text) == expected
    assert MCard(text).content_type == expected


def test_card_detects_once_and_keeps_a_restored_type():
    card = MCard(PNG)
    assert card.content_type == "image/png"
    restored = MCard.restore(card.content, card.hash, card.g_time, card.hash_algorithm, card.size, "image/x-kept")
    assert restored.content_type == "image/x-kept"


async def test_content_type_is_stored_with_the_card(wrapper):
    card = await wrapper.create(PNG)
    assert (await wrapper.get(card.hash)).content_type == "image/png"
    stats = await wrapper.stats()
    assert stats.by_content_type == {"image/png": (1, len(PNG))}
