"""The one plain-text table printer of the command-line reports (``vidlift transfers``, the
demo): columns padded to their widest cell, two spaces apart, a dashed rule under the header.
Plain text rather than a rich table: the output stays greppable and diffable in logs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def render_table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """``header`` and ``rows`` (cells formatted by the caller, else ``str()``) as aligned text.
    ``align``: one character per column, ``<`` left or ``>`` right; default: the first column
    left, the others right when every cell of theirs is a number, else left."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    n = len(header)
    if any(len(r) != n for r in cells):
        raise ValueError(f"every row needs {n} cells, as the header")
    if align is None:
        align = "<" + "".join(">" if rows and all(isinstance(r[c], (int, float)) for r in rows) else "<"
                              for c in range(1, n))
    if len(align) != n or set(align) - {"<", ">"}:
        raise ValueError(f"align needs one of '<' or '>' per column ({n}), got {align!r}")
    widths = [max(len(r[c]) for r in cells) for c in range(n)]

    def line(r: list[str]) -> str:
        return "  ".join(cell.ljust(w) if a == "<" else cell.rjust(w) for cell, w, a in zip(r, widths, align)).rstrip()

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths), *(line(r) for r in cells[1:])])


__all__ = ["render_table"]
