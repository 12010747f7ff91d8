"""Card content is shown escaped in every HTML repr and widget of mcard.

The objects are found, not listed: every class of the ``mcard`` package that has a
``_repr_html_`` or is an ipywidgets widget is built around cards holding markup and rendered.
A class none of the factories below can build fails the test: add a factory for it.
"""

from __future__ import annotations

import html
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import mcard
from mcard import AsyncPersistenceWrapper, MCard, SQLiteConfig

PAYLOAD = "<img src=x onerror=alert(1)><script>alert('x')</script>"
CARDS = [MCard(PAYLOAD), MCard(PAYLOAD.encode() + b"\xff"), MCard(f"</td></tr>{PAYLOAD}")]


def mcard_classes() -> Iterator[type]:
    for info in pkgutil.walk_packages(mcard.__path__, "mcard."):
        if info.name == "mcard.demo":
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__:
                yield cls


def is_widget(cls: type) -> bool:
    try:
        import ipywidgets
    except ImportError:
        return False
    return issubclass(cls, ipywidgets.Widget)


def displayable() -> list[type]:
    return sorted({c for c in mcard_classes() if hasattr(c, "_repr_html_") or is_widget(c)}, key=lambda c: c.__qualname__)


def factories(store: AsyncPersistenceWrapper) -> list[Callable[[type], Any]]:
    return [
        lambda cls: cls(PAYLOAD), lambda cls: cls(CARDS[0]), lambda cls: cls(CARDS),
        lambda cls: cls(cards=CARDS), lambda cls: cls(store), lambda cls: cls(store=store),
    ]


def rendered(obj: Any) -> Iterator[str]:
    """Every piece of HTML the object shows: its ``_repr_html_`` and its widgets' HTML values."""
    import ipywidgets

    if hasattr(obj, "_repr_html_"):
        yield obj._repr_html_() or ""
    if isinstance(obj, ipywidgets.Widget):
        if isinstance(obj, (ipywidgets.HTML, ipywidgets.HTMLMath)):
            yield obj.value
        if isinstance(obj, ipywidgets.Output):
            for output in obj.outputs:
                yield str(output.get("data", {}).get("text/html", ""))
        for child in getattr(obj, "children", ()):
            yield from rendered(child)


def assert_escaped(obj: Any) -> None:
    for piece in rendered(obj):
        assert "<img src=x" not in piece and "<script>" not in piece, piece[:500]


class _Naive:
    def __init__(self, card: MCard) -> None:
        self.card = card

    def _repr_html_(self) -> str:
        return f"<td>{self.card.content}</td>"


class _Escaping(_Naive):
    def _repr_html_(self) -> str:
        return f"<td>{html.escape(str(self.card.content))}</td>"


def test_the_check_catches_unescaped_content():
    import ipywidgets

    with pytest.raises(AssertionError):
        assert_escaped(_Naive(CARDS[0]))
    with pytest.raises(AssertionError):
        assert_escaped(ipywidgets.VBox([ipywidgets.HTML(f"<b>{PAYLOAD}</b>")]))
    assert_escaped(_Escaping(CARDS[0]))
    assert_escaped(ipywidgets.VBox([ipywidgets.HTML(f"<b>{html.escape(PAYLOAD)}</b>")]))


@pytest.mark.parametrize("cls", displayable() or [None], ids=lambda c: getattr(c, "__qualname__", "none"))
async def test_markup_in_content_is_escaped_in_every_html_view(cls, tmp_path):
    if cls is None:
        pytest.skip("mcard has no HTML repr or widget yet; this test covers each one as it is added")
    async with AsyncPersistenceWrapper(SQLiteConfig(tmp_path / "c.db")) as store:
        await store.save_many(CARDS)
        built, errors = None, []
        for factory in factories(store):
            try:
                built = factory(cls)
                break
            except Exception as exc:  # try the next way of building it
                errors.append(f"{type(exc).__name__}: {exc}")
        assert built is not None, f"add a factory for {cls.__qualname__} to this test ({errors})"
        assert_escaped(built)
