"""Result tables as CSV text: rows of plain values, intervals split into `_low`/`_high` columns."""

from __future__ import annotations

import csv
import io
from typing import Any


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
