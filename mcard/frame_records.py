"""The rows of a pandas DataFrame of cards (``list_df(content=True)``, filtered, merged or
edited) as the records of an export, so that ``import_records`` restores a frame as it
restores a file. pandas is imported only when a frame is read."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from mcard.domain.models.exceptions import ValidationError


def is_frame(source: object) -> bool:
    """Whether ``source`` is a pandas DataFrame, told without importing pandas."""
    kind = type(source)
    return kind.__name__ == "DataFrame" and kind.__module__.split(".")[0] == "pandas"


def frame_records(frame: Any) -> Iterator[tuple[str, object]]:
    """Each row as a record, with where it is (``"row 7 (index 12)"``: counted from 1, and the
    frame's own label, which ``df.loc`` takes and a filtered frame's rows keep): its missing
    values (``<NA>``, ``NaT``, ``NaN``) as None, NumPy's numbers as Python's, a whole float as an
    int (pandas makes a column of sizes float64 once a merge or reindex leaves one missing), and
    a tags tuple or NumPy array (as ``pd.read_parquet`` gives a list column, a sightings
    column's structs included) as a list of such values, as a Parquet export's rows read. A
    named index (``set_index("g_time")``) is read as its columns. A frame with rows and no
    ``content`` column (``list_df()`` without ``content=True``) is a ``ValidationError`` that
    says how to make one that imports."""
    import numpy as np
    import pandas as pd

    def plain(value: object) -> object:
        if isinstance(value, (str, bytes)):
            return value
        if isinstance(value, (list, tuple, np.ndarray)):
            return [plain(item) for item in value]
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if value is pd.NA or value is pd.NaT:
            return None
        if isinstance(value, pd.Timestamp):
            return value.to_pydatetime(warn=False)  # a time of the frame's own: its microseconds
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float):
            return None if math.isnan(value) else int(value) if value.is_integer() else value
        return value

    named = any(name is not None for name in frame.index.names)
    labels = [None] * len(frame) if named else frame.index.tolist()
    if named:
        frame = frame.reset_index()
    columns = [str(column) for column in frame.columns]
    if len(frame) and "content" not in columns:
        raise ValidationError(
            "it has no content column: a frame made with content=True imports, such as"
            " cards.list_df(content=True) or cards.find_df(query, content=True)"
        )
    for number, (label, values) in enumerate(zip(labels, frame.itertuples(index=False, name=None)), 1):
        where = f"row {number}" if named else f"row {number} (index {label!r})"
        yield where, {column: plain(value) for column, value in zip(columns, values)}
