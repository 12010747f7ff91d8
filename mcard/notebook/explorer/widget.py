"""The explorer widget: a query box, facets, a grid paged by the database and a detail pane.

The browser side (``explorer.js``) only draws what the state traitlets hold and sends actions
(``{"action": "run", "query": ...}``); every action is a method here, so code and tests drive
the explorer exactly as a click does. A failure shows in ``status`` (never a traceback).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Optional

import anywidget
import traitlets

from mcard.domain.models.card import MCard, is_digest
from mcard.domain.models.exceptions import AmbiguousHashError, brief, MCardError, NotStoredError, StorageError, ValidationError
from mcard.domain.query.order import check_order
from mcard.domain.query.syntax import parse_find, symbols_as_text, unsearched_note
from mcard.domain.query.text import SearchSpec
from mcard.domain.shown import QUOTED_CHARS, counted, shown
from mcard.exporting import safe_file_name
from mcard.infrastructure.persistence.engine.base_engine import Found, check_hash
from mcard.infrastructure.persistence.engine.card_rows import Row
from mcard.unmatched import no_match_hint

from ..arguments import checked_page_size
from ..display import CardList, escape
from ..runner import runner
from . import rows
from .queries import (
    FACET_FIELDS, chosen_values, every_time_bucket, facet_term, hash_prefix, leave_out_term, with_term, without_facet_value,
)

if TYPE_CHECKING:
    from ..cards import NotebookCards

logger = logging.getLogger(__name__)

HERE: Final = Path(__file__).parent
DEFAULT_PAGE_SIZE: Final = 25
FACET_VALUES: Final = 12
"""Values shown per facet (time and size buckets are all shown, in order)."""
CLOSED: Final = "the store is closed: run cards.initialize(), then press Enter here"


def _action(method: Callable[..., None]) -> Callable[..., None]:
    """Run an action, turning any failure into the status line."""

    @functools.wraps(method)
    def run(self: Explorer, *args: Any, **kwargs: Any) -> None:
        try:
            method(self, *args, **kwargs)
        except KeyboardInterrupt:  # the kernel's ■: said here, and still an interrupt for a cell
            shown = self.shown_query
            self.say(f"interrupted: still the cards of {'“' + shown + '”' if shown.strip() else 'all cards'}", kind="error")
            raise
        except StorageError as exc:
            if "not open" in str(exc):
                self.say(CLOSED, kind="closed")
            else:
                self.say(f"error: {exc}", kind="error")
        except MCardError as exc:
            self.say(str(exc), kind="error")
        except Exception as exc:  # the explorer must never show a traceback
            logger.debug("explorer action failed", exc_info=True)
            self.say(f"error: {type(exc).__name__}: {exc}", kind="error")

    return run


SHOWN_CANDIDATES: Final = 10
"""The most cards shown when a hash prefix names several (``resolve`` lists up to 11)."""
ON_THE_OPEN_CARD: Final = frozenset({"tag", "untag", "remove", "confirm", "cancel", "download"})
"""Actions of the detail pane: they act on the open card, and the page sends the hash of the
card its pane shows with each, which must still be the open one."""
ORDER_WORDS: Final = {
    "newest": "newest first", "oldest": "oldest first", "largest": "largest first",
    "smallest": "smallest first", "type": "by type", "name": "by name", "name_desc": "by name, Z to A",
}


async def _page(
    wrapper: Any, query: str, limit: int, offset: int, order: Optional[str]
) -> tuple[Found, dict[str, str], dict[str, list[str]]]:
    """A page of the grid: the cards of a query with words (their snippets mark the matches),
    else the stored rows cut to what a row shows (a page of 200 texts of 5 MB, read whole,
    held 1.1 GB)."""
    if parse_find(query).words is None:
        found = await wrapper.store.find_heads(query, limit, offset, order=order, head=rows.HEAD_BYTES)
        hashes = [row[0] for row in found if is_digest(row[0], row[4])]
    else:
        found = await wrapper.find(query, limit, offset, order=order)
        hashes = [card.hash for card in found if is_digest(card.hash, card.hash_algorithm)]  # not a foreign row's
    return found, await wrapper.names_of(hashes), await wrapper.tags_of(hashes)


async def _still_stored(wrapper: Any, hashes: list[str]) -> list[str]:
    """Those of ``hashes`` the store still holds, asked at once: one trip from the kernel."""
    found = await asyncio.gather(*(wrapper.resolve(hash_str) for hash_str in hashes))
    return [hash_str for hash_str, full in zip(hashes, found) if full is not None]


async def _one(wrapper: Any, hash_str: str) -> tuple[Optional[MCard], list[Any], list[str]]:
    card = await wrapper.get(hash_str)
    if card is None:
        return None, [], []
    return card, await wrapper.sightings(hash_str), await wrapper.tags(hash_str)


def _unchecked(gone: int) -> str:
    """What the status line adds when checked cards were removed meanwhile (``""``: none)."""
    return f"; {gone:,} checked card{' was' if gone == 1 else 's were'} removed meanwhile, and unchecked" if gone else ""


def _tag_texts(tags: tuple[object, ...]) -> tuple[str, ...]:
    for tag in tags:
        if not isinstance(tag, str):
            raise ValidationError(f"a tag is a string, not {type(tag).__name__}")
    return tags  # type: ignore[return-value]


class Explorer(anywidget.AnyWidget):
    """Explore a card store: ``cards.explorer()`` (display it as a cell's last expression).

    Type a query in mcard's query syntax and press Enter (``type:image/* tag:x size:>1MB
    after:2026-01-01 -tag:draft words "a phrase" -not``); a hash prefix of 8+ hex digits opens that card.
    Facets count the matching cards by type, tag, time and size; clicking one narrows the
    query. The grid is paged and sorted by the database: newest first, or best first for word
    queries, until a column header (time, type, size, name) or ``sort(order)`` orders it; the
    pager goes to a page number typed (``go_to``) and shows 10 to 200 cards a page
    (``set_page_size``).
    ``selection`` gives the checked cards (or the open one) back as a :class:`CardList`.
    """

    _esm = HERE / "explorer.js"
    _css = HERE / "explorer.css"

    query = traitlets.Unicode("").tag(sync=True)
    total = traitlets.Int(0).tag(sync=True)
    rows = traitlets.List().tag(sync=True)
    page = traitlets.Int(0).tag(sync=True)
    page_size = traitlets.Int(DEFAULT_PAGE_SIZE).tag(sync=True)
    order = traitlets.Unicode("").tag(sync=True)
    """The grid's order (``mcard.domain.query.order``), or "" for the query's own: best first
    for words, else newest first."""
    own_order = traitlets.Unicode("newest").tag(sync=True)
    """The shown query's own order: ``"best"`` for words, else ``"newest"``."""
    facets = traitlets.Dict().tag(sync=True)
    facets_left_out = traitlets.Dict().tag(sync=True)
    """Per facet field, how many of its values ``facets`` leaves out (it shows the most frequent)."""
    facets_chosen = traitlets.Dict().tag(sync=True)
    """The types and tags the facets' query keeps or leaves out (``chosen_values``)."""
    selected = traitlets.Unicode("").tag(sync=True)
    marked = traitlets.List(traitlets.Unicode()).tag(sync=True)
    marked_note = traitlets.Unicode("", read_only=True).tag(sync=True)
    """How many rows are checked and how many of them the grid does not show ("3 checked (2
    not shown here)"), "" for none: checks outlive queries and pages, and ``selection`` holds
    them all."""
    detail = traitlets.Dict().tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    status_kind = traitlets.Unicode("info").tag(sync=True)
    suggestions = traitlets.List(traitlets.Unicode()).tag(sync=True)
    """Queries the status line names as finding cards where the one run found none (``text:ไทย``
    for ``ไทย``): the page shows each as a button that runs it."""
    loads = traitlets.Int(0).tag(sync=True)
    """How many times the grid was filled (the browser tests time Enter to its change)."""
    facet_loads = traitlets.Int(0).tag(sync=True)
    """How many times facets were counted (they may arrive after the grid)."""
    answered = traitlets.Int(0, read_only=True).tag(sync=True)
    """How many of the page's messages were handled: the page says when one goes unanswered
    (a busy kernel, or one that restarted, which leaves this view without its widget)."""
    shown_query = traitlets.Unicode("", read_only=True).tag(sync=True)
    """The query whose cards the grid shows: pages, orders and facet clicks go on from it, and
    while ``query`` holds one that failed the page marks the grid as that query's."""

    def __init__(self, cards: NotebookCards, query: str = "", *, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        if not isinstance(query, str):
            raise ValidationError(f"a query is a str, not {type(query).__name__}")
        super().__init__(page_size=checked_page_size(page_size))
        self.cards = cards
        self._spec: Optional[SearchSpec] = None
        self._names: dict[str, str] = {}
        self._shown_status = ""
        self._shown_suggestions: list[str] = []
        self._quiet = False
        self._facets_call: Optional[Any] = None
        self.on_msg(self._on_message)
        self.observe(self._query_set, names="query")
        self.observe(self._page_set, names="page")
        self.observe(self._page_size_set, names="page_size")
        self.observe(self._order_set, names="order")
        self.observe(self._count_marks, names=["marked", "rows"])
        self.run(query)

    @traitlets.validate("page_size")
    def _page_size_valid(self, proposal: Any) -> int:
        return checked_page_size(proposal["value"])

    @traitlets.validate("order")
    def _order_valid(self, proposal: Any) -> str:
        return check_order(proposal["value"]) if proposal["value"] else ""

    # -- plumbing ----------------------------------------------------------------------------
    def _call(self, coro: Any) -> Any:
        return self.cards._run(coro)

    @property
    def _wrapper(self) -> Any:
        return self.cards._wrapper

    def say(self, message: str, *, kind: str = "info", suggestions: Sequence[str] = ()) -> None:
        """Show ``message`` in the status line (``kind``: info, error or closed), with the
        ``suggestions`` it names."""
        with self.hold_sync():
            self.status, self.status_kind, self.suggestions = message, kind, list(suggestions)

    def _say_shown(self, message: str, suggestions: Sequence[str] = ()) -> None:
        """Say what the grid shows: an error gives way to it once a later action succeeds."""
        self._shown_status, self._shown_suggestions = message, list(suggestions)
        self.say(message, suggestions=suggestions)

    def _settle(self) -> None:
        """After an action that succeeded without a word of its own, an error said before is
        no longer true: the status line says what the grid shows again (a closed store stays
        said until it is open)."""
        if self.status_kind == "error":
            self.say(self._shown_status, suggestions=self._shown_suggestions)

    def _set_quietly(self, **values: Any) -> None:
        self._quiet = True
        try:
            for name, value in values.items():
                setattr(self, name, value)
        finally:
            self._quiet = False

    def _query_set(self, change: dict[str, Any]) -> None:
        if not self._quiet:
            self.run(change["new"])

    def _page_set(self, change: dict[str, Any]) -> None:
        """The page set from code, as ``go`` shows it: back to the old one while it is read, so
        a read that fails leaves the page of the rows still shown."""
        if not self._quiet:
            self._set_quietly(page=change["old"])
            self.go(change["new"])

    def _page_size_set(self, change: dict[str, Any]) -> None:
        """Pages of the size set from code, as ``set_page_size`` shows them: a read that fails
        leaves the size of the rows still shown, and the pager's "of M" true."""
        if not self._quiet:
            self._set_quietly(page_size=change["old"])
            self.set_page_size(change["new"])

    def _order_set(self, change: dict[str, Any]) -> None:
        """The order set from code, as ``sort`` shows it: the rows stayed newest first while
        the column header said they were sorted."""
        if not self._quiet:
            self._set_quietly(order=change["old"])
            self.sort(change["new"])

    def _count_marks(self, _change: dict[str, Any]) -> None:
        """Say how many cards are checked and how many of them the grid does not show: code
        acting on ``selection`` acts on them all."""
        shown = {row["hash"] for row in self.rows}
        hidden = sum(hash_str not in shown for hash_str in self.marked)
        checked = f"{len(self.marked):,} checked" if self.marked else ""
        self.set_trait("marked_note", f"{checked} ({hidden:,} not shown here)" if hidden else checked)

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        handlers: dict[str, Callable[[], None]] = {
            "run": lambda: self.run(str(content.get("query", self.query))),
            "page": lambda: self.go(int(content.get("page", 0))),
            "go_to": lambda: self.go_to(str(content.get("page", ""))),
            "page_size": lambda: self.set_page_size(content.get("size")),
            "sort": lambda: self.sort(str(content.get("order", ""))),
            "facet": lambda: self.add_filter(str(content.get("field")), content.get("value")),
            "leave_out": lambda: self.leave_out(str(content.get("field")), content.get("value")),
            "unfilter": lambda: self.remove_filter(str(content.get("field")), content.get("value"), content.get("left_out") is True),
            "select": lambda: self.select(str(content.get("hash", ""))),
            "mark": lambda: self.toggle_mark(str(content.get("hash", ""))),
            "clear_marks": self.clear_marks,
            "tag_marked": lambda: self.tag_marked(str(content.get("tag", ""))),
            "untag_marked": lambda: self.untag_marked(str(content.get("tag", ""))),
            "refresh": self.refresh,
            "tag": lambda: self._tag_typed(str(content.get("tag", ""))),
            "untag": lambda: self.untag(str(content.get("tag", ""))),
            "remove": self.ask_remove,
            "confirm": self.confirm_remove,
            "cancel": self.cancel_remove,
            "download": self.download,
        }
        action = str(content.get("action"))
        handler = handlers.get(action)
        try:
            if action in ON_THE_OPEN_CARD and not self._still_open(content.get("hash")):
                return
            if handler is not None:
                handler()
        except (TypeError, ValueError) as exc:  # a message the page never sends
            self.say(f"error: {exc}", kind="error")
        finally:
            self.set_trait("answered", self.answered + 1)

    def _still_open(self, shown: object) -> bool:
        """Whether the card the pane was drawn for (``shown``, sent with a click in the pane) is
        the open one. A click on another row is answered first: a tag typed, a tag's ×, or
        Remove… in the pane still drawn for the card before must not act on the newly opened
        one. A message naming no card (code, an older page) acts on the open card."""
        drawn = {self.selected, self.detail.get("hash")} if self.selected else set()  # opened by code as typed
        if shown is None or str(shown) in drawn:
            return True
        now = f"card {self.selected[:12]}… is open now" if self.selected else "no card is open now"
        self.say(f"not done: that was in the pane of card {str(shown)[:12]}…, and {now}; look again, then retry",
                 kind="error")
        return False

    # -- query and pages -----------------------------------------------------------------------
    @_action
    def run(self, query: Optional[str] = None) -> None:
        """Run ``query`` (the current one if None) from its first page; a hash prefix opens
        that card. A malformed query shows its error and keeps the last results. The open card
        stays open, marked for the new query, when its first page shows it, and closes else."""
        text = self.query if query is None else str(query)
        shown_page = self.page
        self._set_quietly(query=text, page=0)
        try:
            if not self._show(text):
                return
        except ValidationError as exc:  # a malformed query: said, with what it may have meant
            self._set_quietly(page=shown_page)
            instead = symbols_as_text(text)
            if instead is None or not self._call(self._wrapper.find(instead, 0)).total:
                raise
            self.say(str(exc), kind="error", suggestions=[instead])
            return
        except BaseException:  # an error, or an interrupt (the kernel's ■) while the page was read
            self._set_quietly(page=shown_page)  # the rows shown are still that page's
            raise
        if self.selected:
            self.select(self.selected if any(row["hash"] == self.selected for row in self.rows) else "")
        self._load_facets()

    def _show(self, text: str) -> bool:
        """Fill the grid with what ``text`` shows, whether it runs or a sort, a page or a refresh
        shows it again: the card a hash prefix names, opened, or the cards it could be; else the
        query's page in the current order. False for a hash prefix's cards (no facets)."""
        prefix = hash_prefix(text)
        try:
            full = self._call(self._wrapper.resolve(prefix)) if prefix is not None else None
        except AmbiguousHashError as exc:
            self._show_candidates(exc)
            self.set_trait("shown_query", text)
            return False
        if full is not None:
            self._open_hash(full)
            self.set_trait("shown_query", text)
            return False
        self._load(text)
        return True

    def _open_hash(self, full: str) -> None:
        card, _, _ = self._call(_one(self._wrapper, full))
        if card is None:
            self.say(f"no card {full}", kind="error")
            return
        names = self._call(self._wrapper.names_of([full]))
        tags = {full: self._call(self._wrapper.tags(full))}
        self._fill([card], 1, names, tags, None)
        self._no_facets()
        # said before the card opens: a status arriving after it would replace what the open
        # card's own buttons say ("copied ...")
        self._say_shown(f"card {full}")
        self.select(full)

    def _show_candidates(self, ambiguous: AmbiguousHashError) -> None:
        """The cards a hash prefix names when it names several (the first ones), to pick from:
        the message listed their hashes as text."""
        most = min(SHOWN_CANDIDATES, self.page_size)
        shown = ambiguous.candidates[:most]
        found = self._call(self._wrapper.get_many(shown))
        cards = [found[key] for key in shown if key in found]
        hashes = [card.hash for card in cards]
        names, tags = self._call(self._wrapper.names_of(hashes)), self._call(self._wrapper.tags_of(hashes))
        self._fill(cards, len(cards), names, tags, None)
        self._no_facets()
        more = len(ambiguous.candidates) > most
        self._say_shown(f"{'more than ' if more else ''}{len(cards)} cards' hashes start with {ambiguous.prefix}:"
                 f" pick one{' (the first shown)' if more else ''}")

    def _load(self, query: str) -> None:
        size = self.page_size
        order = self.order or None
        found, names, tags = self._call(_page(self._wrapper, query, size, self.page * size, order))
        if not found and found.total and self.page > 0:  # the page emptied (cards removed)
            self._set_quietly(page=max(0, (found.total - 1) // size))
            found, names, tags = self._call(_page(self._wrapper, query, size, self.page * size, order))
        self.set_trait("shown_query", query)
        ranked = found.words is not None and found.words.mode == "words"  # a text: search is newest first
        self.own_order = "best" if ranked else "newest"
        self._fill(found, found.total, names, tags, found.words)
        first = self.page * size + 1
        if found.total == 0:
            prefix = " (nor does a hash start with it)" if hash_prefix(query) is not None else ""
            suggested: list[str] = []
            hint = self._call(no_match_hint(self._wrapper, query, open_with=None, suggested=suggested)) if query.strip() else ""
            self._say_shown(f"no cards match{prefix}{hint}" if query.strip() else "no cards stored", suggested)
        else:
            noun = "card" if found.total == 1 else "cards"
            order = ORDER_WORDS.get(self.order) or ("best first" if ranked else "newest first")
            unsearched = unsearched_note(query)
            self._say_shown(f"{first:,}–{first + len(found) - 1:,} of {found.total:,} {noun}, {order}"
                            + (f" ({unsearched})" if unsearched else ""))

    def _fill(
        self, found: Sequence[MCard | Row], total: int, names: dict[str, str], tags: dict[str, list[str]],
        spec: Optional[SearchSpec],
    ) -> None:
        """The grid's rows of a page of cards, or of stored rows (``find_heads``)."""
        self._names, self._spec = names, spec
        self.total = total
        self.rows = [
            rows.row(item, names.get(item.hash), tags.get(item.hash, ()), spec) if isinstance(item, MCard)
            else rows.head_row(item, names.get(item[0]), tags.get(item[0], ()), functools.partial(self._whole_card, item[0]))
            for item in found
        ]
        self.loads += 1

    def _whole_card(self, hash_str: str) -> Optional[MCard]:
        """The card a grid row needs whole (an image's thumbnail), or None: removed, or a row
        another tool stored under no hash ``get`` takes."""
        try:
            return self._call(self._wrapper.get(hash_str))
        except MCardError:
            return None

    def _load_facets(self) -> None:
        """Count the facets of the current query. With a browser attached they are counted in
        the background and arrive after the grid (a newer query cancels them), so the kernel
        is free for the next action; without one (scripts, tests) they are counted at once."""
        self._cancel_facets()
        counting = self._wrapper.facets(self.shown_query, FACET_FIELDS)
        if getattr(self.comm, "kernel", None) is None:
            self._show_facets(self._call(counting))
            self.facet_loads += 1
            return
        call = runner()._submit(counting)
        self._facets_call = call
        call.outcome.add_done_callback(lambda outcome: self._facets_counted(call, outcome))

    def _no_facets(self) -> None:
        """No facets (a card or the cards a hash prefix names are shown): none counted, none chosen."""
        self._cancel_facets()
        with self.hold_sync():
            self.facets_chosen, self.facets = {}, {}

    def _cancel_facets(self) -> None:
        pending, self._facets_call = self._facets_call, None
        if pending is not None:
            pending.cancel()

    def _show_facets(self, counted: dict[str, list[tuple[Any, int]]]) -> None:
        chosen = chosen_values(self.shown_query)
        shown, left_out = _facet_lists(counted, chosen)
        with self.hold_sync():  # one message: the page redraws the facets from all three at once
            self.facets_left_out, self.facets_chosen, self.facets = left_out, chosen, shown

    def _facets_counted(self, call: Any, outcome: concurrent.futures.Future[Any]) -> None:
        if call is not self._facets_call or outcome.cancelled():
            return
        self._facets_call = None
        if outcome.exception() is not None:
            logger.debug("facets failed", exc_info=outcome.exception())
            return
        self._show_facets(outcome.result())
        self.facet_loads += 1

    @_action
    def go(self, page: int) -> None:
        """Show page ``page`` (from 0) of the current query."""
        if isinstance(page, bool) or not isinstance(page, int):
            raise ValidationError(f"a page is a whole number, got {brief(page)}")
        last = max(0, (self.total - 1) // self.page_size)
        self._reload(page=min(max(0, page), last))

    @property
    def pages(self) -> int:
        """How many pages the results shown fill (1 when there are none): the pager's "of M"."""
        return max(1, -(-self.total // self.page_size))

    @_action
    def go_to(self, number: object) -> None:
        """Show page ``number`` counted from 1, as typed in the pager ("800", "1,200"): a number
        past the last page shows the last (before the first, the first) and the status line
        says so; text that is no whole number is refused there, the grid left as it is."""
        text = str(number).strip().replace(",", "")
        if isinstance(number, bool) or not re.fullmatch(r"[+-]?[0-9]+", text):
            raise ValidationError(f"not a page number: {str(number)[:40]!r}; type one from 1 to {self.pages:,}, then Enter")
        digits = text.lstrip("+-")
        wanted = int(text) if len(digits) <= 18 else (-1 if text.startswith("-") else 10**18)
        pages = self.pages
        self.go(min(max(1, wanted), pages) - 1)
        if not 1 <= wanted <= pages and self.status_kind != "error":
            typed = f"{wanted:,}" if len(digits) <= 18 else repr(text if len(text) <= 40 else text[:39] + "…")
            self.say(f"no page {typed} (page 1 to {pages:,}): {self.status}")

    @_action
    def set_page_size(self, size: object) -> None:
        """Show pages of ``size`` cards (1 to 200; the pager offers 10 to 200), from the one
        holding the first card shown: setting ``page_size`` does the same, raising instead
        of saying a size out of range."""
        new = checked_page_size(size)
        self._reload(page_size=new, page=self.page * self.page_size // new)

    def _reload(self, **grid: Any) -> None:
        """Show the results shown with other ``grid`` traits (page, order); on failure the
        traits go back to those of the rows still shown."""
        before = {name: getattr(self, name) for name in grid}
        self._set_quietly(**grid)
        try:
            self._show(self.shown_query)
        except BaseException:  # an interrupt too: the pager and the headers say what the rows are
            self._set_quietly(**before)
            raise

    @_action
    def sort(self, order: str) -> None:
        """Order the grid (``"newest"``, ``"oldest"``, ``"largest"``, ``"smallest"``, ``"type"``,
        ``"name"``, ``"name_desc"``; "" for the query's own order) and show its first page: what a click on a
        column header does. The database sorts; every order ends with the time and the hash. The
        query's own order (newest first, for a query without words) is kept as "": the next query
        comes in its own (best first for words), where "newest" chosen by two clicks stayed."""
        order = check_order(order) if order else ""
        self._reload(order="" if order == self.own_order else order, page=0)

    @_action
    def add_filter(self, field: str, value: object) -> None:
        """Narrow the query of the results shown by one facet value (what a click on a facet
        does)."""
        narrowed = with_term(self.shown_query, facet_term(field, value))
        if field == "time" and narrowed == self.shown_query:  # the one bar of an hour, the finest, clicked
            self.say(f"{self.status} (already within {value})", kind=self.status_kind)
            return
        self.run(narrowed)

    @_action
    def leave_out(self, field: str, value: object) -> None:
        """Leave the cards of one type or tag out of the results shown (what the − beside a
        facet value, or the - key on it, does)."""
        self.run(with_term(self.shown_query, leave_out_term(field, value)))

    @_action
    def remove_filter(self, field: str, value: object, left_out: bool = False) -> None:
        """Take a type or tag the query keeps (or, ``left_out``, leaves out), or the size bucket
        its size bounds are, out of it: what a click on a value the facets mark as chosen, or
        its ×, does."""
        self.run(without_facet_value(self.shown_query, field, value, left_out))

    @_action
    def refresh(self) -> None:
        """Reload the page, the facets and the open card (the **Refresh** button): what other
        processes added, tagged or removed shows, on the same page in the same order."""
        gone = self._drop_removed_marks()
        if self._show(self.shown_query):
            self._load_facets()
        opened = self.selected
        closed = bool(opened) and not self._open(opened)
        if closed or gone:  # said with the page's status, not as an error: nothing the user did failed
            card = f"; card {opened[:12]}… was removed meanwhile, and closed" if closed else ""
            self.say(f"{self.status}{card}{_unchecked(gone)}", kind=self.status_kind, suggestions=self.suggestions)

    # -- one card ------------------------------------------------------------------------------
    @_action
    def select(self, hash_str: str) -> None:
        """Open the card with this hash in the detail pane ("" closes it)."""
        if not hash_str:
            self.selected, self.detail = "", {}
            self._settle()
            return
        if not self._open(hash_str):
            self.say(f"no card is stored under {hash_str!r} (removed, or never stored)", kind="error")

    def _open(self, hash_str: str) -> bool:
        """Show the card with this hash in the pane; False (the pane closed) when none is stored."""
        card, seen, tags = self._call(_one(self._wrapper, hash_str))
        if card is None:
            self.selected, self.detail = "", {}
            return False
        name = self._names.get(hash_str) or next((s.name for s in reversed(seen) if s.name), None)
        self.detail = rows.detail(card, seen, tags, self._spec, name)
        self.selected = hash_str
        self._settle()
        return True

    @_action
    def toggle_mark(self, hash_str: str) -> None:
        """Check or uncheck a card for ``selection``."""
        hash_str = check_hash(hash_str)
        marked = list(self.marked)
        self.marked = [h for h in marked if h != hash_str] if hash_str in marked else [*marked, hash_str]
        self._settle()

    @_action
    def clear_marks(self) -> None:
        """Uncheck every checked card, those of other queries and pages too."""
        self.marked = []
        self._settle()

    @property
    def selection(self) -> CardList:
        """The checked cards, else the open one, as a :class:`CardList` (``.to_dataframe()``).
        Checks outlive queries and pages: ``marked_note`` says how many the grid does not show."""
        hashes = list(self.marked) or ([self.selected] if self.selected else [])
        found = self._call(self._wrapper.get_many(hashes)) if hashes else {}
        cards = [found[h] for h in hashes if h in found]
        keys = [card.hash for card in cards]
        names = self._call(self._wrapper.names_of(keys)) if keys else {}
        tags = self._call(self._wrapper.tags_of(keys)) if keys else {}
        return CardList(cards, names=names, tags=tags)

    def _tags_changed(self) -> None:
        """The pane's tags, and the grid and facets of the query shown: a tag edited may take
        cards out of the query's cards (``tag:x``, untagged) or put them in, so the page and
        its total are read again with the facets, and agree with them. The pane stays open."""
        if self.selected:
            self.detail = {**self.detail, **rows.pane_tags(self._call(self._wrapper.tags(self.selected)))}
        if hash_prefix(self.shown_query) is None:
            self._load(self.shown_query)
            self._load_facets()
            return
        tags = self._call(self._wrapper.tags_of([r["hash"] for r in self.rows]))
        self.rows = [{**r, **rows.row_tags(tags.get(r["hash"], []))} for r in self.rows]

    @_action
    def tag(self, *tags: str) -> None:
        """Attach tags to the open card."""
        wanted = [t.strip() for t in _tag_texts(tags) if t.strip()]
        if not self.selected or not wanted:
            self.say("open a card and type a tag first", kind="error")
            return
        opened = self.selected
        try:
            added = self._call(self._wrapper.tag(opened, *wanted))
        except NotStoredError:  # another process removed it: closed and the page reloaded, as Refresh does
            if self._open(opened):
                raise
            if self._show(self.shown_query):
                self._load_facets()
            self.say(f"not tagged: card {opened[:12]}… was removed meanwhile, and closed", kind="error")
            return
        self._tags_changed()
        self.say(f"tagged {', '.join(wanted)}" if added else f"already tagged {', '.join(wanted)}")

    def _tag_typed(self, tag: str) -> None:
        """A tag typed in the pane: one refused (too long, a control character) is sent back,
        and the page puts it in the box again to be corrected instead of typed anew."""
        self.tag(tag)
        if self.status_kind == "error" and self.selected:
            self.send({"kind": "refused_tag", "tag": tag, "hash": self.selected})

    @_action
    def untag(self, *tags: str) -> None:
        """Detach tags from the open card."""
        if not self.selected:
            self.say("open a card first", kind="error")
            return
        removed = self._call(self._wrapper.untag(self.selected, *_tag_texts(tags)))
        self._tags_changed()
        self.say(f"untagged {', '.join(tags)}" if removed else f"not tagged {', '.join(tags)}")

    def _drop_removed_marks(self) -> int:
        """Uncheck the checked cards no longer stored (another process removed them), and say
        how many: counted as checked, they made a tag of the checked cards fail as a whole."""
        marked = list(self.marked)
        stored = self._call(_still_stored(self._wrapper, marked)) if marked else []
        if len(stored) < len(marked):
            self.marked = stored
        return len(marked) - len(stored)

    def _marked_pairs(self, tags: tuple[object, ...], doing: str) -> tuple[list[str], list[tuple[str, str]], str]:
        wanted = [t.strip() for t in _tag_texts(tags) if t.strip()]
        gone = self._drop_removed_marks() if wanted else 0
        if gone and not self.marked:
            cards = "the checked card was" if gone == 1 else f"the {gone:,} checked cards were"
            raise ValidationError(f"nothing to {doing}: {cards} removed meanwhile, and unchecked")
        if not self.marked or not wanted:
            raise ValidationError("check cards and type a tag first")
        removed = _unchecked(gone)
        return wanted, [(hash_str, tag) for hash_str in self.marked for tag in wanted], removed

    def _checked(self) -> str:
        count = len(self.marked)
        return f"{count:,} checked card{'' if count == 1 else 's'}"

    @_action
    def tag_marked(self, *tags: str) -> None:
        """Attach tags to every checked card (those of other queries and pages too), in one
        transaction: the tag box beside **Uncheck all**."""
        wanted, pairs, removed = self._marked_pairs(tags, "tag")
        added = self._call(self._wrapper.tag_many(pairs))
        self._tags_changed()
        self.say(f"tagged {self._checked()} with {', '.join(wanted)} ({added:,} new){removed}")

    @_action
    def untag_marked(self, *tags: str) -> None:
        """Detach tags from every checked card, in one transaction."""
        wanted, pairs, gone = self._marked_pairs(tags, "untag")
        removed = self._call(self._wrapper.untag_many(pairs))
        self._tags_changed()
        self.say(f"untagged {', '.join(wanted)} from {self._checked()} ({removed:,} removed){gone}")

    @_action
    def ask_remove(self) -> None:
        """First step of removing the open card: ask for confirmation."""
        if not self.selected:
            self.say("open a card first", kind="error")
            return
        self.detail = {**self.detail, "confirm": True}
        self.say(f"remove {self._open_card_named()}? Press “Yes, remove it” to confirm.")

    @_action
    def confirm_remove(self) -> None:
        """Remove the open card, once ``ask_remove`` asked."""
        if not self.detail.get("confirm"):
            self.say("nothing to confirm: press Remove first", kind="error")
            return
        gone, named = self.selected, self._open_card_named()
        removed = self._call(self._wrapper.remove(gone))
        self.marked = [h for h in self.marked if h != gone]
        self.selected, self.detail = "", {}
        if self._show(self.shown_query):
            self._load_facets()
        self.say(f"removed {named}" if removed else f"{named} was already gone")

    @_action
    def cancel_remove(self) -> None:
        if self.detail.get("confirm"):
            self.detail = {**self.detail, "confirm": False}
            self.say(f"kept {self._open_card_named()}")

    def _open_card_named(self) -> str:
        """The open card as the status line names it: by its latest name, if it has one (shown
        with escapes, as in the pane), and by its hash."""
        name = self.detail.get("name", "")
        return f"{name} ({self.selected})" if name else self.selected

    def download_payload(self) -> Optional[tuple[str, str, bytes]]:
        """(file name, MIME type, content) of the open card, or None. The file is named as the
        card was last seen when that name is a plain file name (as an export's folder names
        its files), else by its hash: a name shown with escapes is not a file's name."""
        card = self._call(self._wrapper.get(self.selected)) if self.selected else None
        if card is None:
            return None
        seen = self._call(self._wrapper.names_of([card.hash])).get(card.hash)
        name = safe_file_name(seen) or f"{card.hash[:12]}{_suffix(card.content_type)}"
        return name, card.content_type, card.content_bytes

    @_action
    def download(self) -> None:
        """Send the open card's content to the browser, which saves it as a file."""
        payload = self.download_payload()
        if payload is None:
            self.say("open a card first", kind="error")
            return
        name, mime, data = payload
        self.send({"kind": "download", "name": name, "mime": mime}, [data])
        self.say(f"download of {name} ({len(data):,} bytes) sent to the browser")

    # -- static view -----------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        """The last view as static HTML, for a saved notebook: bounded and escaped."""
        title = escape(self.shown_query) if self.shown_query.strip() else "all cards"
        head = (
            f'<p class="mcard-snapshot">mcard explorer (a snapshot; run the cell for the live view): '
            f"<code>{title}</code> · {self.total:,} card{'' if self.total == 1 else 's'} · {escape(self.status)}</p>"
        )
        return head + rows.snapshot_html(self.rows, self.total)

    def __repr__(self) -> str:
        """The plain-text view (a terminal, a text export): what the explorer shows, in one line."""
        title = _cut(self.shown_query) if self.shown_query.strip() else "all cards"
        return f"<mcard explorer: {title} · {counted(self.total, 'card')} · {_cut(self.status)}>"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if isinstance(data, dict):
            data["text/html"] = self._repr_html_()
        return bundle


_SUFFIXES: Final = {
    "text/plain": ".txt", "application/json": ".json", "text/csv": ".csv", "text/tab-separated-values": ".tsv",
    "image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp", "image/svg+xml": ".svg",
    "application/pdf": ".pdf", "text/html": ".html",
}


def _cut(text: str) -> str:
    """``text`` shown (escaped) on one line, cut at ``QUOTED_CHARS`` characters with "…"."""
    return shown(text[:QUOTED_CHARS]) + ("…" if len(text) > QUOTED_CHARS else "")


def _facet_lists(
    counted: dict[str, list[tuple[Any, int]]], chosen: dict[str, list[list[object]]],
) -> tuple[dict[str, list[list[Any]]], dict[str, int]]:
    """Facets as the browser takes them: the most frequent values and those the query keeps
    (``chosen``: a kept tag past the first ones was listed without its count, and counted among
    those left out), every size bucket, and every time bucket from the first to the last
    (those without cards as 0: the histogram's axis is time); and how many values of each
    field were left out."""
    def first(field: str, values: list[tuple[Any, int]]) -> list[tuple[Any, int]]:
        kept = {value for value, left_out in chosen.get(field, []) if not left_out}
        return values[:FACET_VALUES] + [(value, n) for value, n in values[FACET_VALUES:] if value in kept]

    shown = {
        field: every_time_bucket(values) if field == "time" else values if field == "size" else first(field, values)
        for field, values in counted.items()
    }
    lists = {field: [[str(value), count] for value, count in values] for field, values in shown.items()}
    return lists, {field: max(0, len(counted[field]) - len(shown[field])) for field in counted}


def _suffix(mime: str) -> str:
    return _SUFFIXES.get(mime, ".bin")


def explorer(cards: NotebookCards, query: str = "", *, page_size: int = DEFAULT_PAGE_SIZE) -> Explorer:
    """The explorer over ``cards``, showing ``query``'s results, ``page_size`` cards a page."""
    return Explorer(cards, query, page_size=page_size)


__all__: Sequence[str] = ("Explorer", "explorer")
