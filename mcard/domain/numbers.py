"""Whole-number arguments, of Python's type or another's (NumPy's ``int64``, which every
integer a pandas DataFrame hands out is: ``frame["size"].max()``, ``frame.index[-1]``)."""

from __future__ import annotations

import operator
from typing import Optional


def whole_number(value: object) -> Optional[int]:
    """``value`` as a Python ``int`` (what the database drivers bind) when its type is an
    integer type (``__index__``), else None; a bool is no number here."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None
