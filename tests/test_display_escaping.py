"""Every value a card carries is shown escaped in every HTML repr and widget of mcard.

The objects are found, not listed: every class of the ``mcard`` package with a ``_repr_html_``
or ``_repr_mimebundle_``, a ``widget``, or that is an ipywidgets widget, is built around cards
holding markup (base classes through their subclasses), rendered, then driven: every text field gets the markup and every button is
clicked, and each time everything it shows is checked. A class none of the factories below can
build fails the test: add a factory for it.

The cards are those of a store into which rows were also written with plain ``sqlite3``, as
another tool could: markup in the hash, the content type, the hash algorithm, the size and the
time, content that is neither text nor bytes. Each piece of HTML is parsed (``html.parser``):
only the elements the display makes, no ``on*`` attribute, and every attribute value is the one
meant (a card's hash as title, an image data URI only for a known image type, fixed styles).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import html
import importlib
import inspect
import json
import pkgutil
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import ipywidgets
import pytest

import mcard
from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig
from mcard.content_types import IMAGE_TYPES
from mcard.domain.models.card import is_digest

PAYLOAD = "<img src=x onerror=alert(1)><script>alert('x')</script>"
ATTRIBUTE_PAYLOAD = f'" onmouseover="alert(2)" x="><em onclick=alert(3)>{PAYLOAD}'
CARDS = [MCard(PAYLOAD), MCard(PAYLOAD.encode() + b"\xff"), MCard(f"</td></tr>{PAYLOAD}"), MCard(f'" onmouseover="x {PAYLOAD}')]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
SVG = f'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(4)"><title>{PAYLOAD}</title></svg>'
MICROS = 1_700_000_000_000_000
COLUMNS = "hash, content, is_text, g_time, hash_algorithm, size, content_type"


def _row(key: str, content: bytes | int, *, is_text: int = 1, g_time: object = MICROS,
         algorithm: object = "sha256", size: object = None, content_type: object = "text/plain") -> tuple[Any, ...]:
    length = len(content) if isinstance(content, bytes) else 1
    return (key, content, is_text, g_time, algorithm, length if size is None else size, content_type)


HOSTILE_HASH = ATTRIBUTE_PAYLOAD
FOREIGN_ROWS = {
    "markup-hash": _row(HOSTILE_HASH, b"a row whose hash is markup"),
    "markup-image-type": _row("a" * 64, PNG, is_text=0, g_time=MICROS + 1, content_type='image/png" onerror="alert(5)'),
    "uppercase-image-type": _row("b" * 64, PNG, is_text=0, g_time=MICROS + 2, content_type="IMAGE/PNG"),
    "png-as-html": _row("c" * 64, PNG, is_text=0, g_time=MICROS + 3, content_type="text/html"),
    "markup-algorithm-and-type": _row(
        "d" * 64, b"markup as algorithm and type", g_time=MICROS + 4, algorithm=ATTRIBUTE_PAYLOAD, content_type=ATTRIBUTE_PAYLOAD
    ),
    "markup-size": _row("e" * 64, b"markup as size", g_time=MICROS + 5, size=ATTRIBUTE_PAYLOAD),
    "markup-time": _row("f" * 64, b"markup as time", g_time=ATTRIBUTE_PAYLOAD),
    "time-out-of-range": _row("1" * 64, b"a time out of range", g_time=2**62),
    "number-as-content": _row("2" * 64, 42, is_text=0, g_time=MICROS + 6, content_type="image/png"),
    "blob-hash": _row(ATTRIBUTE_PAYLOAD.encode(), b"a hash stored as a blob", g_time=MICROS + 7),
    "svg-with-script": _row("3" * 64, SVG.encode(), g_time=MICROS + 8, content_type="image/svg+xml"),
}
"""Rows another tool could write: every column but ``is_text`` holds something mcard never writes."""

ELEMENTS = frozenset({"div", "p", "span", "code", "pre", "em", "img", "table", "thead", "tbody", "tr", "th", "td"})
ATTRIBUTES = frozenset({"class", "style", "title", "src", "alt", "role"})
CLASSES = frozenset({"mcard-card", "mcard-cards", "mcard-more", "mcard-status", "mcard-snapshot"})
ROLES = frozenset({"status", "alert"})
_STYLE_VALUE = r"(?:[#a-z0-9 .%-]|var\(--[a-z0-9-]+\))+"
STYLE = re.compile(rf"[a-z-]+:{_STYLE_VALUE}(;[a-z-]+:{_STYLE_VALUE})*")
DATA_URI = re.compile(r"data:([a-z+/]+);base64,([A-Za-z0-9+/=]*)")


class Parsed(HTMLParser):
    """Elements (tag, attribute list), text and anything else (comments, declarations) of a piece."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.other: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))

    handle_startendtag = handle_starttag

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.other.append(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self.other.append(f"<!{decl}>")

    def handle_pi(self, data: str) -> None:
        self.other.append(f"<?{data}>")

    def unknown_decl(self, data: str) -> None:
        self.other.append(f"<![{data}]>")


def parse(piece: str) -> Parsed:
    parsed = Parsed()
    parsed.feed(piece)
    parsed.close()
    return parsed


def known_hash(value: str, hashes: set[str]) -> bool:
    """A title is meant to be a card's full hash: one of the stored ones, or a digest mcard made."""
    return value in hashes or is_digest(value, "sha256")


def check_markup(piece: str, cards: Iterable[MCard] = ()) -> Parsed:
    """Assert that ``piece`` holds only mcard's own elements, with the attribute values meant."""
    cards = list(cards)
    hashes = {str(card.hash) for card in cards}
    contents = {(card.content_type, card.content_bytes) for card in cards if isinstance(card.content, (str, bytes))}
    parsed = parse(piece)
    assert parsed.other == [], piece[:500]
    for tag, attrs in parsed.elements:
        names = [name for name, _ in attrs]
        assert tag in ELEMENTS, (tag, piece[:500])
        assert not any(name.startswith("on") for name in names), (tag, attrs)
        assert set(names) <= ATTRIBUTES and len(names) == len(set(names)), (tag, attrs)
        values = {name: value or "" for name, value in attrs}
        if "title" in values:
            assert known_hash(values["title"], hashes), values
        if "class" in values:
            assert values["class"] in CLASSES, values
        if "role" in values:
            assert values["role"] in ROLES, values
        if "style" in values:
            assert STYLE.fullmatch(values["style"]), values
        if tag == "img":
            assert set(values) == {"src", "alt", "style"}, values
            match = DATA_URI.fullmatch(values["src"])
            assert match and match[1] in IMAGE_TYPES, values["src"][:100]
            try:
                data = base64.b64decode(match[2], validate=True)
            except binascii.Error:
                pytest.fail(f"not base64: {values['src'][:100]}")
            if contents:
                assert (match[1], data) in contents, "an image of a type or content no card has"
            alt = re.fullmatch(r"(\S+) card (.*)", values["alt"], re.S)
            assert alt and alt[1] == match[1], values["alt"]
            assert alt[2] in {h[:12] for h in hashes} or re.fullmatch("[0-9a-f]{12}", alt[2]), values["alt"]
        else:
            assert "src" not in values and "alt" not in values, (tag, values)
    return parsed


def mcard_classes() -> Iterator[type]:
    for info in pkgutil.walk_packages(mcard.__path__, "mcard."):
        if info.name == "mcard.demo" or info.name.endswith(".__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__:
                yield cls


def shows_html(cls: type) -> bool:
    return (
        hasattr(cls, "_repr_html_") or hasattr(cls, "_repr_mimebundle_")
        or "widget" in getattr(cls, "__annotations__", {}) or issubclass(cls, ipywidgets.Widget)
    )


def displayable() -> list[type]:
    found = {c for c in mcard_classes() if shows_html(c) and not inspect.isabstract(c)}
    leaves = {c for c in found if not any(other is not c and issubclass(other, c) for other in found)}
    return sorted(leaves, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def rendered(obj: Any) -> Iterator[str]:
    """Every piece of HTML the object shows: its reprs, its widgets' HTML values and outputs."""
    if hasattr(obj, "_repr_html_") and not isinstance(obj, type):
        yield obj._repr_html_() or ""
    if hasattr(obj, "_repr_mimebundle_") and not isinstance(obj, ipywidgets.Widget):
        bundle = obj._repr_mimebundle_()
        bundle = bundle[0] if isinstance(bundle, tuple) else bundle
        yield str((bundle or {}).get("text/html", ""))
    for widget in widgets_of(obj):
        if isinstance(widget, (ipywidgets.HTML, ipywidgets.HTMLMath)):
            yield widget.value
        if isinstance(widget, ipywidgets.Output):
            for output in widget.outputs:
                yield str(output.get("data", {}).get("text/html", ""))


def widgets_of(obj: Any) -> Iterator[ipywidgets.Widget]:
    root = obj if isinstance(obj, ipywidgets.Widget) else getattr(obj, "widget", None)
    stack = [root] if isinstance(root, ipywidgets.Widget) else []
    while stack:
        widget = stack.pop()
        yield widget
        stack.extend(child for child in getattr(widget, "children", ()) if isinstance(child, ipywidgets.Widget))


def assert_escaped(obj: Any, cards: Iterable[MCard] = ()) -> None:
    cards = list(cards)
    for piece in rendered(obj):
        assert "<img src=x" not in piece and "<script>" not in piece, piece[:500]
        check_markup(piece, cards)


def messages(obj: Any) -> Iterator[str]:
    """The status messages of a form and of the forms it holds."""
    for one in (obj, *vars(obj).values()):
        if isinstance(getattr(one, "message", None), str):
            yield one.message


UNEXPECTED = re.compile(r"error: (AttributeError|TypeError|ValueError|OverflowError|KeyError|IndexError)")


def drive(obj: Any, typed: Iterable[str], cards: list[MCard]) -> int:
    """Type each value into every text field and click every button, checking after each click
    what is shown, and that no form failed on a stored value (only mcard's own errors show)."""
    clicks = 0
    for value in typed:
        for widget in list(widgets_of(obj)):
            if isinstance(widget, (ipywidgets.Text, ipywidgets.Textarea)):
                widget.value = value
        for button in [w for w in widgets_of(obj) if isinstance(w, ipywidgets.Button)]:
            if not button.disabled:
                button.click()
                clicks += 1
                assert_escaped(obj, cards)
                assert not any(UNEXPECTED.match(message) for message in messages(obj)), list(messages(obj))
    return clicks


class _Naive:
    def __init__(self, card: MCard) -> None:
        self.card = card

    def _repr_html_(self) -> str:
        return f"<td>{self.card.content}</td>"


class _Escaping(_Naive):
    def _repr_html_(self) -> str:
        return f"<td>{html.escape(str(self.card.content))}</td>"


class _NaiveTitle(_Naive):
    def _repr_html_(self) -> str:
        return f'<code title="{self.card.hash}">{html.escape(self.card.hash[:12])}</code>'


def test_the_check_catches_unescaped_content():
    with pytest.raises(AssertionError):
        assert_escaped(_Naive(CARDS[0]))
    with pytest.raises(AssertionError):
        assert_escaped(ipywidgets.VBox([ipywidgets.HTML(f"<b>{PAYLOAD}</b>")]))
    assert_escaped(_Escaping(CARDS[0]))
    assert_escaped(ipywidgets.VBox([ipywidgets.HTML(f"<em>{html.escape(PAYLOAD)}</em>")]))


def test_the_check_catches_markup_in_attributes():
    foreign = MCard.restore("x", '" onmouseover="alert(1)', 0, "sha256", 1, "text/plain")
    with pytest.raises(AssertionError, match="onmouseover"):
        check_markup(_NaiveTitle(foreign)._repr_html_(), [foreign])
    with pytest.raises(AssertionError):
        check_markup('<code title="not a hash">x</code>')
    with pytest.raises(AssertionError):
        check_markup('<img src="data:text/html;base64,PHNjcmlwdD4=" alt="text/html card x" style="max-width:1px">')
    with pytest.raises(AssertionError):
        check_markup("<em>a</em><!-- hidden --><b>bold</b>")
    check_markup(_NaiveTitle(CARDS[0])._repr_html_(), CARDS)


def write_foreign_rows(path: Path, rows: Iterable[tuple[Any, ...]] = FOREIGN_ROWS.values()) -> None:
    """Rows written with plain ``sqlite3`` into a store's file, bypassing every check of mcard."""
    with sqlite3.connect(path) as db:
        db.executemany(f"INSERT INTO card ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", list(rows))
    db.close()


def seeded_store(path: Path) -> list[MCard]:
    """A store holding ``CARDS``, an image, and ``FOREIGN_ROWS``; every card it lists."""

    async def seed() -> list[MCard]:
        async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
            await store.save_many([*CARDS, MCard(PNG)])
        write_foreign_rows(path)
        async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
            return await store.list()

    return asyncio.run(seed())


def factories(path: Path, stored: list[MCard]) -> Iterator[Callable[[type], list[Any]]]:
    """Ways to build a class over the stored cards, the store itself first; each gives the objects to check."""

    def each_stored(cls: type) -> list[Any]:
        found = [card for card in stored if isinstance(card, cls)]
        if not found:
            raise TypeError("no stored card is one")
        return found

    try:
        import mcard.notebook as notebook
    except ImportError:
        pass
    else:
        yield lambda cls: [cls(notebook.open(path))]
    yield each_stored
    yield lambda cls: [cls(stored)]
    yield lambda cls: [cls(cards=stored)]
    yield lambda cls: [cls(stored, len(stored), None)]  # found cards: the cards, their total, the search
    yield lambda cls: [cls(PAYLOAD)]


@pytest.mark.parametrize("cls", displayable() or [None], ids=lambda c: getattr(c, "__qualname__", "none"))
def test_markup_in_any_stored_value_is_escaped_in_every_html_view(cls, tmp_path):
    if cls is None:
        pytest.skip("mcard has no HTML repr or widget yet; this test covers each one as it is added")
    path = tmp_path / "c.db"
    stored = seeded_store(path)
    assert len(stored) == len(CARDS) + 1 + len(FOREIGN_ROWS)
    errors = []
    for factory in factories(path, stored):
        try:
            built = factory(cls)
        except Exception as exc:  # this factory does not fit the class: try the next
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        pieces = [piece for one in built for piece in rendered(one)]
        assert pieces, f"{cls.__qualname__} showed no HTML"
        for one in built:
            assert_escaped(one, stored)
            drive(one, [PAYLOAD, *(str(card.hash) for card in stored)], stored)
            if hasattr(one, "cards") and hasattr(one.cards, "close"):
                one.cards.close()
        return
    pytest.fail(f"add a factory for {cls.__qualname__} to this test ({errors})")


SPOOF = "abc \u202edcba \x1b[31m red \x00 nul \u2066x\x9b"
"""Text that would reorder itself (bidi overrides) or drive a terminal, were it shown raw."""


def test_control_and_bidi_characters_show_as_escapes_in_every_html_view():
    """The grid escaped them already; the card view, the list's names and tags and the detail
    pane's previews (text, Markdown, JSON, CSV) showed them raw."""
    import mcard.notebook  # noqa: F401  (registers the display formatters)
    from mcard.domain.shown import holds_unsafe_in_lines
    from mcard.notebook.display import CardList, card_html
    from mcard.notebook.explorer import rows
    from mcard.notebook.explorer.previews import preview

    cards = [MCard(SPOOF + "\nsecond line"), MCard(json.dumps({SPOOF: [SPOOF]}, ensure_ascii=False)),
             MCard(f"a,b\n{SPOOF},2\n"), MCard(f"# {SPOOF}\n\n- {SPOOF}\n")]
    names = {card.hash: f"{SPOOF}.txt" for card in cards}
    tags = {card.hash: [SPOOF] for card in cards}
    pieces = [CardList(cards, names=names, tags=tags)._repr_html_()]
    for card, name in zip(cards, (None, None, None, "notes.md")):
        pieces.append(card_html(card, name=names[card.hash], tags=tags[card.hash]))
        pieces.append(preview(card, None, name)["html"])
        pieces.append(json.dumps(rows.detail(card, [], [], None, names[card.hash]), ensure_ascii=False))
    for piece in pieces:
        assert not holds_unsafe_in_lines(piece), piece
    assert "\\u202e" in pieces[1] and "\\x1b[31m" in pieces[1] and "second line" in pieces[1]


def test_characters_of_no_width_show_as_escapes_on_every_screen_alike():
    """Two tags that differ by a zero-width space looked the same (in the explorer, one found
    nothing when typed); joiners that scripts and emoji need stay as they are. The explorer's
    page escapes exactly what Python does."""
    from pathlib import Path

    from mcard.domain.shown import UNSAFE, shown

    assert shown("zw\u200btag \u2060x \ufeffy") == "zw\\u200btag \\u2060x \\ufeffy"
    assert shown("caf\udce9") == "caf\\xe9"  # a path's byte that was not UTF-8, as a name shows it
    family, persian = "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    assert shown(family) == family and shown(persian) == persian
    assert shown("admin\U000e0020\U000e0041 soft\xadhy \u3164 \ufff9x") == "admin\\U000e0020\\U000e0041 soft\\xadhy \\u3164 \\ufff9x"
    england = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
    assert shown(england) == england and shown("\U000e0067\U000e007f") == "\\U000e0067\\U000e007f"
    page = (Path(__file__).parents[1] / "mcard" / "notebook" / "explorer" / "explorer.js").read_text()
    in_javascript = re.sub(r"\\U0*([0-9a-f]+)", r"\\u{\1}", UNSAFE.pattern)
    assert f"const UNSAFE = /{in_javascript}/gu;" in page
