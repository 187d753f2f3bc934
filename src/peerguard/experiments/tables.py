"""Result tables as CSV text: rows of plain values, intervals split into `_low`/`_high` columns."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any


def rate_text(value: float | None, interval: Sequence[float], digits: int = 2) -> str:
    """A rate with its interval, as the tables print it: `0.35 (0.27-0.44)`; `-` when nothing was counted."""
    if value is None:
        return "-"
    return f"{value:.{digits}f} ({interval[0]:.{digits}f}-{interval[1]:.{digits}f})"


def flatten(row: dict[str, Any]) -> dict[str, Any]:
    """A row for CSV: each (low, high) interval becomes two columns."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, tuple):
            flat[f"{key}_low"], flat[f"{key}_high"] = value
        else:
            flat[key] = value
    return flat


def csv_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
