"""The notebook layer: a card store you call plainly in Jupyter, DataFrames, forms, rich display.

``cards = mcard.notebook.open("cards.db")`` gives a :class:`NotebookCards`. Importing this
package starts nothing and patches nothing: the private event loop starts with the first call.
In IPython it registers the HTML view of cards with the display formatter (``options`` bounds
every view).
"""

from __future__ import annotations

import builtins
import dataclasses
import importlib
from os import PathLike
from typing import TYPE_CHECKING, Any, Optional

from mcard.domain.models.exceptions import ConfigurationError
from mcard.extras import MissingExtraError, missing_extra
from mcard.infrastructure.persistence.config_url import config_of, default_config
from mcard.infrastructure.persistence.engine_config import EngineConfig, SQLiteConfig

from .cards import FoundCards, NotebookCards
from .display import CardList, card_html, cards_html, register_formatter
from .media import Options, options

if TYPE_CHECKING:
    from .explorer import Explorer
    from .forms import BrowseForm, CreateForm, RemoveForm, SearchForm
    from .frames import to_dataframe

__all__ = [
    "open",
    "NotebookCards",
    "CardList",
    "FoundCards",
    "card_html",
    "cards_html",
    "options",
    "Options",
    "to_dataframe",
    "CreateForm",
    "SearchForm",
    "BrowseForm",
    "RemoveForm",
    "Explorer",
]

_LAZY = {
    "to_dataframe": "frames",
    "CreateForm": "forms",
    "SearchForm": "forms",
    "BrowseForm": "forms",
    "RemoveForm": "forms",
    "Explorer": "explorer",
}


register_formatter()


def open(  # noqa: A001 - the natural name: mcard.notebook.open("cards.db")
    source: Optional[EngineConfig | str | PathLike[str]] = None, **options: Any
) -> NotebookCards:
    """Open a card store: an ``EngineConfig``, a database URL (``postgresql://...``,
    ``sqlite:///cards.db``), or a SQLite path (``options`` go to ``SQLiteConfig``).

    Without arguments: ``$MCARD_DB_URL``, else ``$MCARD_DB_PATH`` (a URL or a path), else ``mcard.db``.
    """
    unknown = sorted(set(options) - {field.name for field in dataclasses.fields(SQLiteConfig)})
    if unknown:
        raise ConfigurationError(f"{', '.join(unknown)}: not an option of SQLiteConfig")
    if source is None:
        config = SQLiteConfig(**options) if options else default_config()
    elif options:
        if isinstance(source, EngineConfig) or "://" in str(source):
            raise ConfigurationError("options apply to a SQLite path; put them in the EngineConfig or URL instead")
        config = SQLiteConfig(source, **options)
    else:
        config = config_of(source)
    return NotebookCards(config).initialize()


def __getattr__(name: str) -> Any:
    """DataFrames, forms and the explorer load when first asked for; without pandas,
    ipywidgets or anywidget the error names the extra to install."""
    if name in _LAZY:
        try:
            module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
        except MissingExtraError:
            raise
        except ModuleNotFoundError as exc:
            raise missing_extra(exc, f"the notebook forms ({name})", "notebook") from exc
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> builtins.list[str]:
    return sorted(set(globals()) | set(_LAZY))
