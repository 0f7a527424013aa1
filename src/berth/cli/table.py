"""Column alignment like Go's text/tabwriter as the docker CLI configures it
(minwidth 10, padding 3, cells split on tabs, last cell unpadded).

Owns only layout of already-rendered lines. Pure.
"""

from __future__ import annotations

__all__ = ["tabulate"]

_MIN_WIDTH = 10
_PADDING = 3


def tabulate(lines: list[str]) -> str:
    """Align tab-separated ``lines``; returns the text with a trailing newline per line."""
    rows = [line.split("\t") for line in lines]
    widths: dict[int, int] = {}
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths.get(i, 0), max(len(cell) + _PADDING, _MIN_WIDTH))
    out: list[str] = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        cells.append(row[-1])
        out.append("".join(cells).rstrip(" ") if len(row) == 1 else "".join(cells))
    return "".join(line + "\n" for line in out)
