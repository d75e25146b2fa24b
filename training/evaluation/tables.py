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


LOWER_IS_BETTER = frozenset({"dist", "diff"})


def matches_or_beats(value, reference, name: str) -> bool:
    """Whether ``value`` is at least as good as ``reference`` at the table's precision."""
    if value is None or reference is None or math.isnan(value) or math.isnan(reference):
        return False
    digits = 3 if name == "dist" else 2
    value, reference = round(value, digits), round(reference, digits)
    return value <= reference if name in LOWER_IS_BETTER else value >= reference


def markdown_table(
    rows: Mapping[str, Mapping | None],
    columns: Sequence[str],
    first: str = "Method",
    reference: Mapping | None = None,
    marked: Sequence[str] = (),
) -> str:
    """One markdown table: a row per label, a column per metric (``None`` row: all n/a).

    Cells of the ``marked`` rows that match or beat ``reference`` (e.g. the paper's row) at
    the table's precision get a ✓.
    """
    lines = [
        "| " + " | ".join([first, *(HEADERS.get(c, c) for c in columns)]) + " |",
        "|" + "---|" * (len(columns) + 1),
    ]
    for label, values in rows.items():
        cells = []
        for c in columns:
            value = (values or {}).get(c)
            cell = fmt(value, c)
            if label in marked and reference and matches_or_beats(value, reference.get(c), c):
                cell += " ✓"
            cells.append(cell)
        lines.append("| " + " | ".join([label, *cells]) + " |")
    return "\n".join(lines)
