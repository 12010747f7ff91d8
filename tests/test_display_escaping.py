"""Card content is shown escaped in every HTML repr and widget of mcard.

The objects are found, not listed: every class of the ``mcard`` package with a ``_repr_html_``
or ``_repr_mimebundle_``, a ``widget``, or that is an ipywidgets widget, is built around cards
holding markup (base classes through their subclasses), rendered, then driven: every text field gets the markup and every button is
clicked, and each time everything it shows is checked. A class none of the factories below can
build fails the test: add a factory for it.
"""

from __future__ import annotations

import asyncio
import html
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ipywidgets
import pytest

import mcard
from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig

PAYLOAD = "<img src=x onerror=alert(1)><script>alert('x')</script>"
CARDS = [MCard(PAYLOAD), MCard(PAYLOAD.encode() + b"\xff"), MCard(f"</td></tr>{PAYLOAD}"), MCard(f'" onmouseover="x {PAYLOAD}')]


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


def assert_escaped(obj: Any) -> None:
    for piece in rendered(obj):
        assert "<img src=x" not in piece and "<script>" not in piece, piece[:500]


def drive(obj: Any) -> int:
    """Type the markup into every text field and click every button, checking after each click."""
    clicks = 0
    for widget in list(widgets_of(obj)):
        if isinstance(widget, (ipywidgets.Text, ipywidgets.Textarea)):
            widget.value = PAYLOAD
    for button in [w for w in widgets_of(obj) if isinstance(w, ipywidgets.Button)]:
        if not button.disabled:
            button.click()
            clicks += 1
            assert_escaped(obj)
    return clicks


class _Naive:
    def __init__(self, card: MCard) -> None:
        self.card = card

    def _repr_html_(self) -> str:
        return f"<td>{self.card.content}</td>"


class _Escaping(_Naive):
    def _repr_html_(self) -> str:
        return f"<td>{html.escape(str(self.card.content))}</td>"


def test_the_check_catches_unescaped_content():
    with pytest.raises(AssertionError):
        assert_escaped(_Naive(CARDS[0]))
    with pytest.raises(AssertionError):
        assert_escaped(ipywidgets.VBox([ipywidgets.HTML(f"<b>{PAYLOAD}</b>")]))
    assert_escaped(_Escaping(CARDS[0]))
    assert_escaped(ipywidgets.VBox([ipywidgets.HTML(f"<b>{html.escape(PAYLOAD)}</b>")]))


def factories(path: Path) -> Iterator[Callable[[type], Any]]:
    yield lambda cls: cls(CARDS[0])
    yield lambda cls: cls(CARDS)
    yield lambda cls: cls(cards=CARDS)
    try:
        import mcard.notebook as notebook
    except ImportError:
        pass
    else:
        yield lambda cls: cls(notebook.open(path))
    yield lambda cls: cls(PAYLOAD)


@pytest.mark.parametrize("cls", displayable() or [None], ids=lambda c: getattr(c, "__qualname__", "none"))
def test_markup_in_content_is_escaped_in_every_html_view(cls, tmp_path):
    if cls is None:
        pytest.skip("mcard has no HTML repr or widget yet; this test covers each one as it is added")
    path = tmp_path / "c.db"

    async def seed() -> None:
        async with AsyncPersistenceWrapper(SQLiteConfig(path)) as store:
            await store.save_many(CARDS)

    asyncio.run(seed())
    errors = []
    for factory in factories(path):
        try:
            built = factory(cls)
            pieces = list(rendered(built))
        except Exception as exc:  # this factory does not fit the class: try the next
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        assert pieces, f"{cls.__qualname__} showed no HTML"
        assert_escaped(built)
        drive(built)
        if hasattr(built, "cards") and hasattr(built.cards, "close"):
            built.cards.close()
        return
    pytest.fail(f"add a factory for {cls.__qualname__} to this test ({errors})")
