"""How the report prints a value: the same text in the HTML and the Markdown, so a test can read it back."""

from __future__ import annotations

from typing import Any


def rate_text(cell: dict[str, Any] | None) -> str:
    """`0.35 (0.27–0.44) 35/100`: the rate, its 95% interval and the counts behind it; `– 0/0` for none."""
    if cell is None:
        return "n/a"
    if cell["rate"] is None:
        return f"– {cell['hits']}/{cell['n']}"
    return f"{cell['rate']:.2f} ({cell['low']:.2f}–{cell['high']:.2f}) {cell['hits']}/{cell['n']}"


def value_text(value: Any) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"  # a millisecond time stays readable whether it is 0.05 or 1234
    if isinstance(value, dict) and "mean" in value:  # a mean with its t interval
        if value["mean"] != value["mean"]:  # NaN: no episodes
            return "–"
        return f"{value['mean']:.3f} ({value['low']:.3f}–{value['high']:.3f})"
    return str(value)


def table_rows(table: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """A document table as its header and rows of text."""
    columns = list(table["columns"])
    extra = list(table.get("extra", []))
    header = columns + [name.replace("_", " ") for name in table["rates"]] + [name.replace("_", " ") for name in extra]
    rows = []
    for cell in table["cells"]:
        rows.append(
            [value_text(cell.get(c)) for c in columns]
            + [rate_text(cell.get(r)) for r in table["rates"]]
            + [value_text(cell.get(e)) for e in extra]
        )
    return header, rows
