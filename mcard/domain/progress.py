"""The ``progress`` argument of long operations (import, export, sync, verify, a notebook's
``save_many``): whether a progress bar shows."""

from __future__ import annotations

from typing import Optional

from mcard.domain.models.exceptions import brief, ValidationError


def checked_progress(progress: object) -> Optional[bool]:
    """``progress`` when it is True, False or None (a bar only on a terminal or in a notebook);
    anything else is a ``ValidationError``, where ``"no"`` or ``0`` would have been taken for true
    or false."""
    if progress is None or isinstance(progress, bool):
        return progress
    raise ValidationError(f"progress must be True, False or None, got {brief(progress)}")
