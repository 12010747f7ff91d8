"""Whole-number arguments, of Python's type or another's (NumPy's ``int64``, which every
integer a pandas DataFrame hands out is: ``frame["size"].max()``, ``frame.index[-1]``)."""

from __future__ import annotations

import operator
from typing import Final, Optional

from mcard.domain.models.exceptions import brief, ValidationError

MAX_SQL_INTEGER: Final = 2**63 - 1
"""The largest whole number either engine stores: the bound of every count an argument gives."""


def whole_number(value: object) -> Optional[int]:
    """``value`` as a Python ``int`` (what the database drivers bind) when its type is an
    integer type (``__index__``), else None; a bool is no number here."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def positive_count(name: str, value: object, meaning: str = "") -> int:
    """``value`` as a count of at least one (a batch's size): a ``ValidationError`` naming
    ``name`` otherwise (``meaning`` says what None or 0 would have meant, where the caller takes
    one); a batch of 0 took no file at a time and never ended."""
    count = whole_number(value)
    if count is None or not 1 <= count <= MAX_SQL_INTEGER:
        raise ValidationError(f"{name} must be a positive integer{meaning}, got {brief(value)}")
    return count
