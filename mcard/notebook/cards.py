"""``NotebookCards``: a card store whose methods can be called plainly, or awaited.

Every plain method runs the async wrapper's coroutine on the private loop of
:mod:`mcard.notebook.runner` and blocks until it is done; every ``a``-prefixed method awaits
the same coroutine from the caller's loop (a Jupyter cell's top-level ``await``).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import html
import re
import sys
import warnings
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import datetime
from os import PathLike
from typing import TYPE_CHECKING, Any, Final, Optional, TypeVar, Union

from mcard.domain.models.card import MCard
from mcard.domain.models.exceptions import ValidationError
from mcard.infrastructure.persistence.async_persistence_wrapper import AsyncPersistenceWrapper
from mcard.domain.query import Match, SearchSpec, card_snippet
from mcard.domain.query.syntax import parse_find, unsearched_note
from mcard.infrastructure.persistence.engine.base_engine import DEFAULT_PAGE_SIZE, Found, StoreStats
from mcard.infrastructure.persistence.engine.card_rows import Row
from mcard.infrastructure.persistence.engine.integrity import DamagedCard, VerifyReport
from mcard.infrastructure.persistence.config_url import config_of
from mcard.infrastructure.persistence.engine_config import EngineConfig
from mcard.unmatched import no_match_hint

from .arguments import card_list, listed
from .display import CardList, preview_head_bytes
from .media import options
from .labels import LabelMethods, Labels, digests
from .runner import ARGUMENT_ERRORS, at_the_call, runner

if TYPE_CHECKING:
    import pandas as pd

    from mcard.exporting import ExportResult
    from mcard.importing import ImportSummary
    from mcard.syncing import SyncResult

T = TypeVar("T")
Content = str | bytes
StoreLike = Union["NotebookCards", EngineConfig, str, "PathLike[str]"]
AUTO_PROGRESS: Final = 1000
"""``save_many`` shows a progress bar by default from this many cards on."""
CLOSE_AT_EXIT_WAIT: Final = 2.0
FACETS: Final = ("content_type", "tag", "month", "size")
SNIPPET_CHARS: Final = 160
_FIELD_NAME: Final = re.compile(r"\b([A-Za-z]+:)")

_open_stores: weakref.WeakSet[NotebookCards] = weakref.WeakSet()


def _track(store: NotebookCards) -> None:
    if not _open_stores:
        atexit.unregister(_close_open_stores)
        atexit.register(_close_open_stores)
    _open_stores.add(store)


def _close_dropped(wrapper: AsyncPersistenceWrapper) -> None:
    """Close the store of a ``NotebookCards`` nothing holds any more, its queued writes first,
    without waiting: a cell that opens a store, run again, dropped the last one, whose
    connections kept their threads and files open until the process ran out of them."""
    from .runner import _runner

    if _runner is not None and _runner.started:
        _runner.start_soon(wrapper.close())


def _check_items(items: object) -> None:
    if isinstance(items, (str, bytes, MCard)) or not isinstance(items, Iterable):
        raise ValidationError(f"save_many takes an iterable of cards, got {type(items).__name__}")


def _fields(by: object) -> object:
    """``facets``' ``by`` read whole on the caller's thread; a ``str`` or a non-iterable as it
    is, for the wrapper to name what is wrong with it."""
    return by if isinstance(by, str) or not isinstance(by, Iterable) else tuple(by)


async def _find_note(store: AsyncPersistenceWrapper, query: str, found: Sequence[object], total: Optional[int]) -> str:
    """When ``query`` matched nothing, what it may have meant (``no_match_hint``); else what it
    left unsearched (``unsearched_note``), or ""."""
    if not query:
        return ""
    if found or total:
        said = unsearched_note(query)
    else:
        hint = await no_match_hint(store, query, open_with="cards.resolve('{prefix}')")
        said = hint.removeprefix(" (").removesuffix(")")
    return said if not said or said.endswith(("?", ".")) else f"{said}."


def _noted(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``, warning with its ``note`` (on the caller's thread, pointing at the caller's line)."""
    if frame.attrs.get("note"):
        warnings.warn(frame.attrs["note"], UserWarning, stacklevel=3)
    return frame


class FoundCards(CardList):
    """Cards a search or a query found: ``total`` (every match, whatever the limit; None when
    not counted) and ``snippet(card)``, the card's text around what matched, «marked». ``note``:
    when a query matched nothing, which of its ``word:`` items were no field and so were
    searched as words (``tpye:image/png``); the table says it too."""

    def __init__(
        self, cards: Iterable[MCard], total: Optional[int] = None, spec: Optional[SearchSpec] = None,
        note: str = "", **shown: Any,
    ) -> None:
        super().__init__(cards, total=total, **shown)
        self.spec = spec
        self.note = note

    def _repr_html_(self) -> str:
        shown = super()._repr_html_()
        if not self.note:
            return shown
        note = _FIELD_NAME.sub(r"<code>\1</code>", html.escape(self.note))  # letters and a colon: nothing to escape
        return shown + f'<p class="mcard-note">{note}</p>'

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        super()._repr_pretty_(printer, cycle)
        if self.note and not cycle:
            printer.text("\n" + self.note)

    def snippet(self, card: MCard, width: int = SNIPPET_CHARS) -> Optional[Match]:
        return card_snippet(self.spec, card.content, width)


class NotebookCards(LabelMethods):
    """A card store for notebooks and scripts. Open it with :func:`mcard.notebook.open`.

    Listings take the wrapper's filters as keywords: ``start_time``, ``end_time``,
    ``content_type`` (``"image/*"``), ``min_size``, ``max_size``, ``tag``, ``name`` (a glob).
    """

    def __init__(self, config: EngineConfig) -> None:
        self._wrapper = AsyncPersistenceWrapper(config)
        self.config = config
        weakref.finalize(self, _close_dropped, self._wrapper).atexit = False  # at exit: _close_open_stores

    def __repr__(self) -> str:
        return f"NotebookCards({self.config!r})"

    # -- plumbing ----------------------------------------------------------------------------
    def _run(self, coro: Any) -> Any:
        return runner().run(coro)

    async def _arun(self, coro: Any) -> Any:
        return await runner().arun(coro)

    def _card(self, item: MCard | Content) -> MCard:
        if isinstance(item, MCard):
            return item
        return MCard(item, hash_algorithm=self.config.hash_algorithm)

    # -- lifecycle ---------------------------------------------------------------------------
    def initialize(self) -> NotebookCards:
        """Open the store (idempotent)."""
        self._run(self._wrapper.initialize())
        _track(self)
        return self

    def close(self) -> None:
        """Finish queued writes and close the store (idempotent)."""
        self._run(self._wrapper.close())
        _open_stores.discard(self)

    async def ainitialize(self) -> NotebookCards:
        await self._arun(self._wrapper.initialize())
        _track(self)
        return self

    async def aclose(self) -> None:
        await self._arun(self._wrapper.close())
        _open_stores.discard(self)

    def __enter__(self) -> NotebookCards:
        return self.initialize()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> NotebookCards:
        return await self.ainitialize()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- plain calls -------------------------------------------------------------------------
    def create(self, content: Content, *, name: Optional[str] = None, source: Optional[str] = None) -> MCard:
        """Store ``content``; the stored card (the first one when it was already there). With a
        ``name`` or ``source``, a sighting of it is recorded too."""
        return self.add(content, name=name, source=source)[0]

    def add(
        self, content: Content, *, name: Optional[str] = None, source: Optional[str] = None
    ) -> tuple[MCard, bool]:
        """Like ``create``, and whether the card is new (False: it was already stored). A small
        card of a SQLite store is written right here when nothing else is being written
        (about half the time of a call through the store's loop)."""
        if name is None and source is None:
            card = MCard(content, hash_algorithm=self.config.hash_algorithm)
            stored = self._wrapper.store.save_now(card)
            if stored:
                return card, True
            first = self.get(card.hash) if stored is False else None
            if first is not None and first.content_bytes == card.content_bytes:
                return first, False  # else the store's add tells what is wrong
        return self._run(self._wrapper.add(content, name=name, source=source))

    def upload(self, name: str, data: bytes) -> tuple[MCard, bool]:
        """Store a file's bytes as ``mcard import`` would (UTF-8 text becomes a text card with
        its content type) and record a sighting of ``name`` from source ``upload``."""
        from mcard.importing import import_upload

        return self._run(import_upload(self._wrapper, name, data))

    def save(self, card: MCard) -> bool:
        return self._run(self._wrapper.save(card))

    def save_many(
        self,
        items: Iterable[MCard | Content],
        *,
        batch_size: Optional[int] = None,
        progress: Optional[bool] = None,
    ) -> int:
        """Store cards (or contents); return how many were new.

        Without ``batch_size`` it is one transaction, all or nothing; the progress bar then
        counts cards prepared (hashed, checked) and the final write shows as one step.
        With ``batch_size`` each batch is its own transaction and the bar counts cards
        committed: an error or an interrupt leaves the batches before it stored.
        """
        from .progress import save_in_batches

        _check_items(items)
        return save_in_batches(self, items, batch_size, progress)

    def get(self, hash_str: str) -> Optional[MCard]:
        """The card with this hash, or None. A small card of a SQLite store is read right here
        when the store's loop connection is free (~10 us instead of two thread hops)."""
        try:
            served = self._wrapper.store.get_now(hash_str)
        except ARGUMENT_ERRORS as exc:
            raise at_the_call(exc)
        if served is not None:
            return next(iter(served.values()), None)
        return self._run(self._wrapper.get(hash_str))

    def get_many(self, hashes: Iterable[str]) -> dict[str, MCard]:
        return self._run(self._wrapper.get_many(listed(hashes, "get_many")))

    def resolve(self, prefix: str) -> Optional[str]:
        """The full hash of the card a typed hash or prefix (at least 8 hex digits, such as the
        12 a table shows) names, or None; ``AmbiguousHashError`` (listing the candidates) when
        several cards start with it."""
        return self._run(self._wrapper.resolve(prefix))

    def list(
        self,
        limit: Optional[int] = None,
        offset: int = 0,
        start_time: Optional[datetime] = None,
        end_time: Optional[datetime] = None,
        **filters: Any,
    ) -> CardList:
        """Cards newest first, or ``order="oldest"``, ``"largest"``, ``"smallest"``, ``"type"``,
        ``"name"`` (displayed as a table in a notebook)."""
        return self._run(self._listed(self._wrapper.list(limit, offset, start_time, end_time, **filters)))

    def count(
        self, start_time: Optional[datetime] = None, end_time: Optional[datetime] = None, **filters: Any
    ) -> int:
        return self._run(self._wrapper.count(start_time, end_time, **filters))

    def search(
        self,
        query: str,
        limit: Optional[int] = None,
        offset: int = 0,
        *,
        mode: str = "substring",
        case_sensitive: bool = True,
        **filters: Any,
    ) -> FoundCards:
        """Cards whose text matches ``query``: ``mode="substring"`` (literal; newest first),
        ``"words"`` (terms, ``"phrases"``, ``prefix*``, ``OR``, ``-excluded``; best first) or
        ``"regex"``; ``case_sensitive=False`` compares casefolded. ``snippet(card)`` marks matches."""
        spec = SearchSpec.of(query, mode, case_sensitive)
        search = self._wrapper.search(query, limit, offset, mode=mode, case_sensitive=case_sensitive, **filters)
        return self._run(self._found(search, spec))

    def find(self, query: str, limit: Optional[int] = None, offset: int = 0, *, order: Optional[str] = None) -> FoundCards:
        """Cards a query names (``type:image/* tag:holiday name:*.png after:2026-01-01
        before:2026-02-01 size:>1MB -tag:draft "exact phrase" words -excluded``); ``.total`` counts every
        match, whatever ``limit`` and ``offset``. ``order`` as ``list`` takes it."""
        return self._run(self._found(self._wrapper.find(query, limit, offset, order=order), query=query))

    def facets(self, query: str = "", by: Iterable[str] = FACETS) -> dict[str, list[tuple[Any, int]]]:
        """Per field of ``by``, (value, count) over the cards ``query`` names: most frequent first;
        time (``year``, ``month``, ``week``, ``day``, ``hour``, ``time``) and size buckets in order."""
        return self._run(self._wrapper.facets(query, _fields(by)))

    def stats(self) -> StoreStats:
        """Card count, total bytes, first and last ``g_time``, (count, bytes) per content type."""
        return self._run(self._wrapper.stats())

    def wait_indexed(self) -> None:
        """Wait until the search indexes cover every stored card (after a bulk load)."""
        self._run(self._wrapper.wait_indexed())

    def remove(self, hash_str: str) -> bool:
        return self._run(self._wrapper.remove(hash_str))

    def remove_many(self, hashes: Iterable[str]) -> int:
        return self._run(self._wrapper.remove_many(listed(hashes, "remove_many")))

    def remove_damaged(self, damaged: Iterable[DamagedCard]) -> int:
        """Delete what ``verify()`` named (``report.damaged``) as stored: damaged cards by their
        hashes (not those whose content is whole: ``repair_damaged``), damaged sightings and
        tags alone."""
        return self._run(self._wrapper.remove_damaged(listed(damaged, "remove_damaged")))

    def repair_damaged(self, damaged: Iterable[DamagedCard]) -> int:
        """Mend the damaged cards ``verify()`` named whose content is whole, and the tags only
        written otherwise (decomposed, spaces around); how many."""
        return self._run(self._wrapper.repair_damaged(listed(damaged, "repair_damaged")))

    def iterate(
        self,
        page_size: int = DEFAULT_PAGE_SIZE,
        start_time: Optional[datetime] = None,
        end_time: Optional[datetime] = None,
        **filters: Any,
    ) -> Iterator[MCard]:
        """Every card newest first (filtered as ``list``); one call to the store per page."""
        pages = self._wrapper.iterate(page_size, start_time, end_time, **filters)
        try:
            while page := self._run(_take(pages, page_size)):
                yield from page
        finally:
            if sys.is_finalizing():  # the loop's thread no longer runs: the process ends the read
                pages.aclose().close()
            else:
                self._run(pages.aclose())

    def verify(self, page_size: int = DEFAULT_PAGE_SIZE, progress: Optional[bool] = None) -> VerifyReport:
        """Re-hash every stored card; ``report.damaged`` lists each card whose content does not
        match its hash, whose hash is not a digest, or whose size or text is wrong."""
        return self._run(self._wrapper.verify(page_size, progress))

    # -- DataFrames --------------------------------------------------------------------------
    def list_df(
        self,
        limit: Optional[int] = None,
        offset: int = 0,
        start_time: Optional[datetime] = None,
        end_time: Optional[datetime] = None,
        *,
        content: bool = False,
        labels: bool = True,
        **filters: Any,
    ) -> pd.DataFrame:
        """``list(...)`` as a DataFrame (schema in :mod:`mcard.notebook.frames`), with each card's
        latest name and its tags (``labels=False`` leaves them out: 0.2-0.7 s less for 100,000 cards).
        Without ``content`` the store reads only the start of each content, for the preview."""
        return self._run(self._list_frame(limit, offset, start_time, end_time, content, labels, filters))

    def search_df(
        self,
        query: str,
        limit: Optional[int] = None,
        offset: int = 0,
        *,
        mode: str = "substring",
        case_sensitive: bool = True,
        content: bool = False,
        snippets: bool = False,
        labels: bool = True,
        **filters: Any,
    ) -> pd.DataFrame:
        """``search(...)`` as a DataFrame; ``snippets=True`` adds the text around the matches."""
        shape = {"content": content, "snippets": snippets, "labels": labels}
        return self._run(self._search_frame(query, limit, offset, mode, case_sensitive, shape, filters))

    def find_df(
        self,
        query: str,
        limit: Optional[int] = None,
        offset: int = 0,
        *,
        content: bool = False,
        snippets: bool = False,
        labels: bool = True,
        order: Optional[str] = None,
    ) -> pd.DataFrame:
        """``find(...)`` as a DataFrame; the match count is in ``frame.attrs["total"]``. When no
        card matches and a ``word:`` item is no field (``tpye:image/png``), ``frame.attrs["note"]``
        says so, and so does a ``UserWarning`` (an empty frame shows nothing else)."""
        shape = {"content": content, "snippets": snippets, "labels": labels}
        return _noted(self._run(self._find_frame(query, limit, offset, order, shape)))

    def frame(
        self, cards: Sequence[MCard], *, content: bool = False, snippets: bool = False, labels: bool = True
    ) -> pd.DataFrame:
        """Cards as a DataFrame with their names and tags (two queries to the store; with
        ``labels=False`` the columns are there, missing and empty); ``snippets`` for cards a
        search found."""
        return self._run(self._frame(card_list(cards, "frame"), content=content, snippets=snippets, labels=labels))

    async def alist_df(
        self,
        limit: Optional[int] = None,
        offset: int = 0,
        start_time: Optional[datetime] = None,
        end_time: Optional[datetime] = None,
        *,
        content: bool = False,
        labels: bool = True,
        **filters: Any,
    ) -> pd.DataFrame:
        return await self._arun(self._list_frame(limit, offset, start_time, end_time, content, labels, filters))

    async def asearch_df(
        self,
        query: str,
        limit: Optional[int] = None,
        offset: int = 0,
        *,
        mode: str = "substring",
        case_sensitive: bool = True,
        content: bool = False,
        snippets: bool = False,
        labels: bool = True,
        **filters: Any,
    ) -> pd.DataFrame:
        shape = {"content": content, "snippets": snippets, "labels": labels}
        return await self._arun(self._search_frame(query, limit, offset, mode, case_sensitive, shape, filters))

    async def afind_df(
        self,
        query: str,
        limit: Optional[int] = None,
        offset: int = 0,
        *,
        content: bool = False,
        snippets: bool = False,
        labels: bool = True,
        order: Optional[str] = None,
    ) -> pd.DataFrame:
        shape = {"content": content, "snippets": snippets, "labels": labels}
        return _noted(await self._arun(self._find_frame(query, limit, offset, order, shape)))

    async def aframe(
        self, cards: Sequence[MCard], *, content: bool = False, snippets: bool = False, labels: bool = True
    ) -> pd.DataFrame:
        return await self._arun(self._frame(card_list(cards, "frame"), content=content, snippets=snippets, labels=labels))

    # -- DataFrames: read on the store's loop, built on a worker thread --------------------
    async def _list_frame(
        self, limit: Optional[int], offset: int, start_time: Optional[datetime], end_time: Optional[datetime],
        content: bool, labels: bool, filters: dict[str, Any],
    ) -> pd.DataFrame:
        if content:
            cards = await self._wrapper.list(limit, offset, start_time, end_time, **filters)
            return await self._frame(cards, content=True, labels=labels)
        from .frames import heads_frame

        rows, found = await self._heads(limit, offset, start_time, end_time, labels, filters)
        return await asyncio.to_thread(heads_frame, rows, found)  # the loop serves other calls meanwhile

    async def _search_frame(
        self, query: str, limit: Optional[int], offset: int, mode: str, case_sensitive: bool,
        shape: dict[str, bool], filters: dict[str, Any],
    ) -> pd.DataFrame:
        spec = SearchSpec.of(query, mode, case_sensitive)
        found = await self._wrapper.search(query, limit, offset, mode=mode, case_sensitive=case_sensitive, **filters)
        return await self._frame(FoundCards(found, spec=spec), **shape)

    async def _find_frame(
        self, query: str, limit: Optional[int], offset: int, order: Optional[str], shape: dict[str, bool]
    ) -> pd.DataFrame:
        if shape["content"] or shape["snippets"] or parse_find(query).words is not None:
            found = await self._wrapper.find(query, limit, offset, order=order)
            frame = await self._frame(FoundCards(found, found.total, found.words), **shape)
        else:  # no snippet and no content: the rows cut to their previews, as list_df reads them
            from .frames import heads_frame

            found = await self._wrapper.store.find_heads(query, limit, offset, order=order, head=preview_head_bytes())
            labels = await self._labels_of(digests((row[0], row[4]) for row in found)) if shape["labels"] else None
            frame = await asyncio.to_thread(heads_frame, found, labels)
        frame.attrs["total"] = found.total
        if note := await _find_note(self._wrapper, query, found, found.total):
            frame.attrs["note"] = note
        return frame

    async def _frame(
        self, cards: Sequence[MCard], *, content: bool = False, snippets: bool = False, labels: bool = True
    ) -> pd.DataFrame:
        from .frames import to_dataframe

        marks = cards.snippet if snippets and isinstance(cards, FoundCards) else None
        found = await self._labels(cards) if labels else None
        return await asyncio.to_thread(to_dataframe, cards, content=content, labels=found, snippet=marks)

    async def _heads(
        self, limit: Optional[int], offset: int, start_time: Optional[datetime], end_time: Optional[datetime],
        labels: bool, filters: dict[str, Any],
    ) -> tuple[list[Row], Optional[Labels]]:
        """On the store's loop: ``list_df``'s rows, and their labels when asked."""
        rows = await self._wrapper.store.list_heads(
            limit, offset, start_time, end_time, head=preview_head_bytes(), **filters
        )
        return rows, (await self._labels_of(digests((row[0], row[4]) for row in rows)) if labels else None)

    # -- awaitable calls ---------------------------------------------------------------------
    async def acreate(self, content: Content, *, name: Optional[str] = None, source: Optional[str] = None) -> MCard:
        return await self._arun(self._wrapper.create(content, name=name, source=source))

    async def aadd(
        self, content: Content, *, name: Optional[str] = None, source: Optional[str] = None
    ) -> tuple[MCard, bool]:
        return await self._arun(self._wrapper.add(content, name=name, source=source))

    async def aupload(self, name: str, data: bytes) -> tuple[MCard, bool]:
        from mcard.importing import import_upload

        return await self._arun(import_upload(self._wrapper, name, data))

    async def asave(self, card: MCard) -> bool:
        return await self._arun(self._wrapper.save(card))

    async def asave_many(
        self, items: Iterable[MCard | Content], *, batch_size: Optional[int] = None, progress: Optional[bool] = None
    ) -> int:
        from .progress import asave_in_batches

        _check_items(items)
        return await asave_in_batches(self, items, batch_size, progress)

    async def aget(self, hash_str: str) -> Optional[MCard]:
        return await self._arun(self._wrapper.get(hash_str))

    async def aget_many(self, hashes: Iterable[str]) -> dict[str, MCard]:
        return await self._arun(self._wrapper.get_many(listed(hashes, "get_many")))

    async def aresolve(self, prefix: str) -> Optional[str]:
        return await self._arun(self._wrapper.resolve(prefix))

    async def alist(
        self,
        limit: Optional[int] = None,
        offset: int = 0,
        start_time: Optional[datetime] = None,
        end_time: Optional[datetime] = None,
        **filters: Any,
    ) -> CardList:
        return await self._arun(self._listed(self._wrapper.list(limit, offset, start_time, end_time, **filters)))

    async def acount(
        self, start_time: Optional[datetime] = None, end_time: Optional[datetime] = None, **filters: Any
    ) -> int:
        return await self._arun(self._wrapper.count(start_time, end_time, **filters))

    async def asearch(
        self,
        query: str,
        limit: Optional[int] = None,
        offset: int = 0,
        *,
        mode: str = "substring",
        case_sensitive: bool = True,
        **filters: Any,
    ) -> FoundCards:
        spec = SearchSpec.of(query, mode, case_sensitive)
        search = self._wrapper.search(query, limit, offset, mode=mode, case_sensitive=case_sensitive, **filters)
        return await self._arun(self._found(search, spec))

    async def afind(
        self, query: str, limit: Optional[int] = None, offset: int = 0, *, order: Optional[str] = None
    ) -> FoundCards:
        return await self._arun(self._found(self._wrapper.find(query, limit, offset, order=order), query=query))

    async def afacets(self, query: str = "", by: Iterable[str] = FACETS) -> dict[str, list[tuple[Any, int]]]:
        return await self._arun(self._wrapper.facets(query, _fields(by)))

    async def astats(self) -> StoreStats:
        return await self._arun(self._wrapper.stats())

    async def averify(self, page_size: int = DEFAULT_PAGE_SIZE, progress: Optional[bool] = None) -> VerifyReport:
        return await self._arun(self._wrapper.verify(page_size, progress))

    async def await_indexed(self) -> None:
        await self._arun(self._wrapper.wait_indexed())

    async def aremove(self, hash_str: str) -> bool:
        return await self._arun(self._wrapper.remove(hash_str))

    async def aremove_many(self, hashes: Iterable[str]) -> int:
        return await self._arun(self._wrapper.remove_many(listed(hashes, "remove_many")))

    async def aremove_damaged(self, damaged: Iterable[DamagedCard]) -> int:
        return await self._arun(self._wrapper.remove_damaged(listed(damaged, "remove_damaged")))

    async def arepair_damaged(self, damaged: Iterable[DamagedCard]) -> int:
        return await self._arun(self._wrapper.repair_damaged(listed(damaged, "repair_damaged")))

    async def aiterate(
        self,
        page_size: int = DEFAULT_PAGE_SIZE,
        start_time: Optional[datetime] = None,
        end_time: Optional[datetime] = None,
        **filters: Any,
    ) -> AsyncIterator[MCard]:
        """``async for card in cards.aiterate()``: one hop to the store per page."""
        pages = self._wrapper.iterate(page_size, start_time, end_time, **filters)
        try:
            while page := await self._arun(_take(pages, page_size)):
                for card in page:
                    yield card
        finally:
            await self._arun(pages.aclose())

    # -- on the store's loop -----------------------------------------------------------------
    async def _listed(self, listing: Awaitable[list[MCard]]) -> CardList:
        cards = await listing
        return CardList(cards, **await self._shown_labels(cards))

    async def _found(
        self, finding: Awaitable[list[MCard]], spec: Optional[SearchSpec] = None, query: str = ""
    ) -> FoundCards:
        """Cards a search (``spec``) or a ``query`` (a ``Found``: its total and words) found."""
        found = await finding
        total = found.total if isinstance(found, Found) else None
        words = found.words if isinstance(found, Found) else spec
        return FoundCards(found, total, words, await _find_note(self._wrapper, query, found, total), **await self._shown_labels(found))

    async def _shown_labels(self, cards: Sequence[MCard]) -> dict[str, Any]:
        """Names and tags of the cards a list's table shows (``options.display_limit``), and
        the lookup its DataFrame reads every card's with."""
        shown = cards[: options.display_limit]
        labels = await self._labels(shown)
        return {"names": labels.names, "tags": labels.tags, "labels_of": self.labels, "labelled_first": len(shown)}

    # -- sync --------------------------------------------------------------------------------
    def sync_to(self, other: StoreLike, **options: Any) -> SyncResult:
        """Copy to ``other`` (a store, an ``EngineConfig``, a URL or a SQLite path) the cards it
        lacks, with their sightings and tags (:func:`mcard.sync`: ``since``, ``dry_run``,
        ``batch_size``, ``progress``); removals are not copied."""
        return self._run(self._sync(self, other, **options))

    def sync_from(self, other: StoreLike, **options: Any) -> SyncResult:
        """Bring into this store what ``other`` has and it lacks (``sync_to`` the other way)."""
        return self._run(self._sync(other, self, **options))

    async def async_to(self, other: StoreLike, **options: Any) -> SyncResult:
        return await self._arun(self._sync(self, other, **options))

    async def async_from(self, other: StoreLike, **options: Any) -> SyncResult:
        return await self._arun(self._sync(other, self, **options))

    @staticmethod
    async def _sync(source: StoreLike, dest: StoreLike, **options: Any) -> SyncResult:
        from mcard.syncing import dry_run_destination, sync

        async def opened(end: StoreLike, read_only: bool, opening: Callable[[EngineConfig], Any]) -> AsyncPersistenceWrapper:
            if isinstance(end, NotebookCards):
                return end._wrapper
            return await stack.enter_async_context(opening(config_of(end, read_only=read_only)))

        dry_run = bool(options.get("dry_run"))
        async with contextlib.AsyncExitStack() as stack:
            reading = await opened(source, True, AsyncPersistenceWrapper)
            # a dry run reads its destination; where none is yet, it counts against an empty one
            writing = await opened(dest, dry_run, dry_run_destination if dry_run else AsyncPersistenceWrapper)
            return await sync(reading, writing, **options)

    # -- import and export -------------------------------------------------------------------
    def import_paths(self, paths: Any, **options: Any) -> ImportSummary:
        """Store every readable file under ``paths`` as a card with a sighting of the file
        (:func:`mcard.importing.import_paths`: ``include``, ``exclude``, ``tags``, ``batch_files``,
        ``batch_bytes``, ``progress``)."""
        return self._run(self._import_paths(paths, options))

    def import_records(self, source: Any, **options: Any) -> ImportSummary:
        """Restore the cards of an export made with content, or of a DataFrame of cards with
        their content, with their times, sightings and tags
        (:func:`mcard.importing.import_records`: ``format``, ``tags``, ``batch_size``, ``progress``)."""
        return self._run(self._import_records(source, options))

    def export(self, destination: Any, **options: Any) -> ExportResult:
        """Write the cards to a file, a folder of files or a binary stream
        (:func:`mcard.exporting.export`: ``format``, ``with_content``, ``start_time``,
        ``end_time``, ``progress``, and the filters of ``list``: ``tag``, ``content_type``, ``name``...)."""
        return self._run(self._export(destination, options))

    async def aimport_paths(self, paths: Any, **options: Any) -> ImportSummary:
        return await self._arun(self._import_paths(paths, options))

    async def aimport_records(self, source: Any, **options: Any) -> ImportSummary:
        return await self._arun(self._import_records(source, options))

    async def aexport(self, destination: Any, **options: Any) -> ExportResult:
        return await self._arun(self._export(destination, options))

    async def _import_paths(self, paths: Any, options: dict[str, Any]) -> ImportSummary:
        from mcard.importing import import_paths

        return await import_paths(self._wrapper, paths, **options)

    async def _import_records(self, source: Any, options: dict[str, Any]) -> ImportSummary:
        from mcard.importing import import_records

        return await import_records(self._wrapper, source, **options)

    async def _export(self, destination: Any, options: dict[str, Any]) -> ExportResult:
        from mcard.exporting import export

        return await export(self._wrapper, destination, **options)

    # -- widgets -----------------------------------------------------------------------------
    def explorer(self, query: str = "", *, page_size: Optional[int] = None) -> Any:
        """The explorer widget over this store, showing ``query``'s results, ``page_size``
        cards a page (25 by default): query box, facets, a grid paged by the database, a
        detail pane (see :class:`mcard.notebook.explorer.Explorer`)."""
        from .explorer import explorer

        return explorer(self, query) if page_size is None else explorer(self, query, page_size=page_size)


async def _take(pages: AsyncIterator[MCard], size: int) -> Sequence[MCard]:
    page: list[MCard] = []
    async for card in pages:
        page.append(card)
        if len(page) == size:
            break
    return page


def _close_open_stores() -> None:
    """Close stores left open when the interpreter exits, each waited for only briefly."""
    from .runner import _runner

    if _runner is None or not _runner.started:
        return
    for store in list(_open_stores):
        call = _runner._submit(store._wrapper.close())
        call.finished.wait(CLOSE_AT_EXIT_WAIT)
