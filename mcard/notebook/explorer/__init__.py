"""The explorer: ``cards.explorer()`` in JupyterLab (an anywidget: an ES module and CSS
shipped inside this package, nothing to build at install)."""

from __future__ import annotations

from mcard.extras import missing_extra

try:
    from .widget import Explorer, explorer
except ModuleNotFoundError as exc:
    if exc.name not in ("anywidget", "traitlets", "ipywidgets", "PIL"):
        raise
    raise missing_extra(exc, "the explorer's widgets", "notebook") from exc

__all__ = ["Explorer", "explorer"]
