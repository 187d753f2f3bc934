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


def count_text(count: int, noun: str, plural: str | None = None) -> str:
    """`1 finding`, `2 findings`, `0 entries`: a count with its noun in the right number. The last word is
    made plural (`more moment` -> `more moments`); give `plural` for the whole phrase when English is irregular."""
    if count == 1:
        return f"{count} {noun}"
    if plural is None:
        head, _, last = noun.rpartition(" ")
        plural = (head + " " if head else "") + _plural(last)
    return f"{count} {plural}"


_HARD_CH = {"epoch", "stomach", "monarch"}  # "ch" said as "k" takes a plain "s"


def _plural(word: str) -> str:
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u"):
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "sh")) or (word.endswith("ch") and word not in _HARD_CH):
        return word + "es"
    return word + "s"


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
