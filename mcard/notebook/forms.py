"""ipywidgets forms over a :class:`NotebookCards`: add, search, browse, remove, and all four.

Every form keeps its controls as attributes (``text``, ``add_button``, ``status``, ``output``...)
so code and tests can drive it without a browser: set ``.value``, call ``.click()``, read
``status.value`` and ``output.outputs``. Results are written to ``Output.outputs`` directly
(``with output:`` captures nothing outside a kernel). A failed operation shows its message in
the status line, never a traceback. Displaying a form object shows its ``widget``.
"""

from __future__ import annotations

import functools
import html
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, Optional

import ipywidgets as widgets

from mcard.domain.models.card import MCard
from mcard.domain.models.exceptions import MCardError
from mcard.domain.shown import shown

from .arguments import checked_page_size
from .display import HASH_PREFIX, CardList, card_html, cards_html, plain

if TYPE_CHECKING:
    from .cards import NotebookCards

logger = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE: Final = 10
_WIDE: Final = widgets.Layout(width="100%")
_HIDDEN: Final = "none"


def show_html(output: widgets.Output, markup: str, text: str = "") -> None:
    """Replace what ``output`` shows, with or without a kernel."""
    output.outputs = (
        {"output_type": "display_data", "data": {"text/html": markup, "text/plain": text}, "metadata": {}},
    )


def short(hash_str: str) -> str:
    return hash_str[:HASH_PREFIX]


class Form:
    """Common parts: the store, a status line, change listeners and the displayed widget."""

    widget: widgets.Widget

    def __init__(self, cards: NotebookCards) -> None:
        self.cards = cards
        self.status = widgets.HTML(value="", layout=_WIDE)
        self.message = ""
        self.failed = False
        self.on_change: list[Callable[[], None]] = []

    def say(self, message: str, *, error: bool = False) -> None:
        """Show ``message`` in the status line (red for errors), its control, bidirectional and
        zero-width characters as escapes: an uploaded file's name or a typed value in it cannot
        reorder or hide itself (``mcard.domain.shown``)."""
        self.message, self.failed = message, error
        color = "#b00020" if error else "#1b5e20"
        role = "alert" if error else "status"
        self.status.value = (
            f'<span class="mcard-status" role="{role}" style="color:{color}">{html.escape(shown(message))}</span>'
        )

    def _changed(self) -> None:
        for listener in self.on_change:
            listener()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def guarded(method: Callable[..., None]) -> Callable[..., None]:
    """Run a widget callback, turning any failure into a status message."""

    @functools.wraps(method)
    def handler(self: Form, *args: Any) -> None:
        try:
            method(self, *args)
        except MCardError as exc:
            self.say(f"error: {exc}", error=True)
        except Exception as exc:  # a form must never show a traceback
            logger.debug("form action failed", exc_info=True)
            self.say(f"error: {type(exc).__name__}: {exc}", error=True)

    return handler


class CreateForm(Form):
    """Add a text card from ``text`` (``add_button``), or bytes cards from ``upload``."""

    def __init__(self, cards: NotebookCards) -> None:
        super().__init__(cards)
        self.text = widgets.Textarea(
            placeholder="Text of the new card", description="Text", layout=_WIDE, rows=4
        )
        self.add_button = widgets.Button(
            description="Add card", button_style="primary", tooltip="Store the text as a card"
        )
        self.upload = widgets.FileUpload(
            description="Upload file", multiple=True, tooltip="Store each file as a card, under its name"
        )
        self.output = widgets.Output()
        self.add_button.on_click(self._add_text)
        self.upload.observe(self._add_files, names="value")
        self.widget = widgets.VBox(
            [self.text, widgets.HBox([self.add_button, self.upload]), self.status, self.output]
        )

    @guarded
    def _add_text(self, _button: Any = None) -> None:
        card, added = self.cards.add(self.text.value)
        self._report([(card, added)])
        self.text.value = ""

    @guarded
    def _add_files(self, change: dict[str, Any]) -> None:
        files: Sequence[dict[str, Any]] = change["new"]
        if not files:
            return
        try:
            results = [self.cards.upload(str(item.get("name") or "file"), item["content"]) for item in files]
        finally:
            self.upload.value = ()
        names = [item.get("name", "file") for item in files]
        self._report(results, names)

    def _report(self, results: list[tuple[MCard, bool]], names: Optional[list[str]] = None) -> None:
        parts = []
        for index, (card, added) in enumerate(results):
            label = f"{names[index]} " if names else ""
            parts.append(f"{label}{'added' if added else 'already stored'} {short(card.hash)}")
        self.say("; ".join(parts))
        show_html(self.output, "".join(card_html(card) for card, _ in results))
        if any(added for _, added in results):
            self._changed()


class PagedForm(Form):
    """A page of cards in ``output`` with ``previous_button`` / ``next_button``."""

    def __init__(self, cards: NotebookCards, page_size: int) -> None:
        super().__init__(cards)
        self.page_size = checked_page_size(page_size)
        self.offset = 0
        self.page: list[MCard] = []
        self.output = widgets.Output()
        self.previous_button = widgets.Button(description="Previous", icon="arrow-left", disabled=True)
        self.next_button = widgets.Button(description="Next", icon="arrow-right", disabled=True)
        self.previous_button.on_click(lambda _: self._turn(-1))
        self.next_button.on_click(lambda _: self._turn(+1))
        self.pager = widgets.HBox([self.previous_button, self.next_button])

    def _fetch(self, limit: int, offset: int) -> list[MCard]:
        raise NotImplementedError

    def _describe(self, first: int, last: int) -> str:
        raise NotImplementedError

    def _load(self, offset: int) -> None:
        rows = self._fetch(self.page_size + 1, offset)
        self.offset, self.page = offset, rows[: self.page_size]
        self.previous_button.disabled = offset == 0
        self.next_button.disabled = len(rows) <= self.page_size
        labels = {"names": rows.names, "tags": rows.tags} if isinstance(rows, CardList) else {}
        show_html(self.output, cards_html(self.page, **labels), f"{len(self.page)} cards")
        self.say(self._describe(offset + 1, offset + len(self.page)))

    @guarded
    def _turn(self, step: int) -> None:
        if (self.previous_button if step < 0 else self.next_button).disabled:
            return  # a disabled button does nothing in the page, nor when clicked from code
        self._load(max(0, self.offset + step * self.page_size))


class SearchForm(PagedForm):
    """Find text cards containing ``query`` (``search_button``), a page at a time."""

    def __init__(self, cards: NotebookCards, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        super().__init__(cards, page_size)
        self.query = widgets.Text(
            placeholder="Text to find (case-sensitive)", description="Find", layout=widgets.Layout(width="60%")
        )
        self.search_button = widgets.Button(description="Search", button_style="primary", icon="search")
        self.search_button.on_click(self._search)
        self.searched = ""
        self.widget = widgets.VBox(
            [widgets.HBox([self.query, self.search_button]), self.status, self.output, self.pager]
        )

    @guarded
    def _search(self, _button: Any = None) -> None:
        self.searched = self.query.value
        self._load(0)

    def _fetch(self, limit: int, offset: int) -> list[MCard]:
        return self.cards.search(self.searched, limit, offset)

    def _describe(self, first: int, last: int) -> str:
        if last < first:
            return f"no cards contain {self.searched!r}" if first == 1 else "no more matches"
        return f"matches {first}–{last} for {self.searched!r}"


class BrowseForm(PagedForm):
    """The most recent cards, newest first (``refresh_button`` reloads the first page)."""

    def __init__(self, cards: NotebookCards, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        super().__init__(cards, page_size)
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.total = 0
        self.widget = widgets.VBox(
            [widgets.HBox([self.refresh_button, self.previous_button, self.next_button]),
             self.status, self.output]
        )
        self.refresh()

    @guarded
    def refresh(self) -> None:
        """Reload the first page."""
        self._load(0)

    def _fetch(self, limit: int, offset: int) -> list[MCard]:
        self.total = self.cards.count()
        return self.cards.list(limit, offset)

    def _describe(self, first: int, last: int) -> str:
        if last < first:
            return "no cards stored" if self.total == 0 else "no more cards"
        return f"cards {first}–{last} of {self.total}, newest first"


class RemoveForm(Form):
    """Remove the card whose hash is in ``hash_text`` (the whole hash, or a unique prefix of at
    least 8 hex digits, such as the 12 the tables show): ``remove_button``, then
    ``confirm_button``."""

    def __init__(self, cards: NotebookCards) -> None:
        super().__init__(cards)
        self.hash_text = widgets.Text(
            placeholder="Hash of the card to remove (or its first 8+ hex digits)", description="Hash", layout=widgets.Layout(width="80%")
        )
        self.remove_button = widgets.Button(description="Remove", button_style="warning", icon="trash")
        self.confirm_button = widgets.Button(description="Yes, remove it", button_style="danger")
        self.cancel_button = widgets.Button(description="Cancel")
        self.output = widgets.Output()
        self.pending: Optional[str] = None
        self.remove_button.on_click(self._ask)
        self.confirm_button.on_click(self._confirm)
        self.cancel_button.on_click(self._cancel)
        self.hash_text.observe(lambda _: self._forget(), names="value")
        self.confirmation = widgets.HBox([self.confirm_button, self.cancel_button])
        self.confirmation.layout.display = _HIDDEN
        self.widget = widgets.VBox(
            [widgets.HBox([self.hash_text, self.remove_button]), self.status, self.output, self.confirmation]
        )

    def _forget(self) -> None:
        self.pending = None
        self.confirmation.layout.display = _HIDDEN

    @guarded
    def _ask(self, _button: Any = None) -> None:
        self._forget()
        show_html(self.output, "")
        wanted = self.hash_text.value.strip()
        full = self.cards.resolve(wanted)
        card = self.cards.get(full) if full else None
        if card is None:
            self.say(f"no card with hash {wanted}", error=True)
            return
        self.pending = card.hash
        show_html(self.output, card_html(card), plain(card))
        self.confirmation.layout.display = "flex"
        self.say(f"remove {short(card.hash)}? Press “Yes, remove it” to confirm.")

    @guarded
    def _confirm(self, _button: Any = None) -> None:
        pending = self.pending
        if pending is None:
            self.say("nothing to confirm: press Remove first", error=True)
            return
        self._forget()
        removed = self.cards.remove(pending)
        show_html(self.output, "")
        self.say(f"removed {short(pending)}" if removed else f"{short(pending)} was already gone")
        if removed:
            self._changed()

    @guarded
    def _cancel(self, _button: Any = None) -> None:
        pending = self.pending
        self._forget()
        show_html(self.output, "")
        self.say(f"kept {short(pending)}" if pending else "nothing to cancel")


class Explorer(Form):
    """Browse, search, add and remove in one set of tabs; adding or removing refreshes Browse."""

    TITLES: Final = ("Browse", "Search", "Add", "Remove")

    def __init__(self, cards: NotebookCards, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        super().__init__(cards)
        self.browse = BrowseForm(cards, page_size)
        self.search = SearchForm(cards, page_size)
        self.create = CreateForm(cards)
        self.remove = RemoveForm(cards)
        for form in (self.create, self.remove):
            form.on_change.append(self.browse.refresh)
        self.tabs = widgets.Tab(
            children=[self.browse.widget, self.search.widget, self.create.widget, self.remove.widget],
            titles=self.TITLES,
        )
        self.widget = self.tabs
        self.status = self.browse.status


def explorer(cards: NotebookCards, page_size: int = DEFAULT_PAGE_SIZE) -> Explorer:
    """The combined form; display it (last expression of a cell) to use it."""
    return Explorer(cards, page_size)
