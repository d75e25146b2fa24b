"""Markdown tables of metric rows (shared by ``evaluate`` and ``report``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

HEADERS = {
    "acc": "Acc ↑",
    "bcc": "Bcc ↑",
    "f1": "F1 ↑",
    "prec": "Prec ↑",
    "rec": "Rec ↑",
    "dist": "Dist ↓",
    "consistency": "Constcy ↑",
    "diff": "Diff ↓",
}


def fmt(value, name: str = "") -> str:
    """A metric value for a table: 3 decimals for Dist, 2 otherwise, 'n/a' when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if name == "dist":
        return f"{value:.3f}"
    return f"{value:.2f}"


def markdown_table(
    rows: Mapping[str, Mapping | None], columns: Sequence[str], first: str = "Method"
) -> str:
    """One markdown table: a row per label, a column per metric (``None`` row: all n/a)."""
    lines = [
        "| " + " | ".join([first, *(HEADERS.get(c, c) for c in columns)]) + " |",
        "|" + "---|" * (len(columns) + 1),
    ]
    for label, values in rows.items():
        cells = [fmt((values or {}).get(c), c) for c in columns]
        lines.append("| " + " | ".join([label, *cells]) + " |")
    return "\n".join(lines)
