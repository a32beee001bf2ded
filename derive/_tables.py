"""Plain-text tables of bounded width, shared by ``lossproof audit`` and
:func:`derive.testing.assert_matches_reference`.

One long input (a 1000-class logit vector, a 3 × 3 covariance at 17 digits) used to pad
its whole column: audit lines reached 756 characters, failure tables 500.  Here a cell
longer than its column is shortened by :func:`shorten`, which keeps the text readable:

>>> shorten("z=[1e+308, -1e+308, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], y=3", 34)
'z=[1e+308, -1e+308, … (K=8)], y=3'

The tables are for reading; the full values stay in the objects and JSON reports the
tables are printed from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["MAX_CELL", "MAX_WIDTH", "format_table", "sample_kinds", "shorten"]

T = TypeVar("T")

#: widest a table line gets (characters), when its columns can shrink that far
MAX_WIDTH = 120
#: widest a cell gets before it is shortened
MAX_CELL = 40
_MIN_COLUMN = 8  # a column is never shrunk below this (or its header)
_FLOAT = re.compile(r"(?<![\w.])-?\d+\.\d+(?:e[+-]?\d+)?(?![\w.])|(?<![\w.])-?\d+e[+-]?\d+\b")

_Node = str | list  # a list node holds the items of one bracketed list (str or list)


def _parse(text: str) -> list[_Node]:
    """``text`` as segments: plain text (str) and bracketed lists (list of items)."""
    stack: list[list] = [[]]  # the open lists; stack[0] holds the top-level segments
    items: list[list[str]] = [[""]]  # the text of the item being read, per open list
    for ch in text:
        if ch == "[":
            stack.append([])
            items.append([""])
        elif ch == "]" and len(stack) > 1:
            node = stack.pop()
            last = "".join(items.pop()).strip()
            if last or node:
                node.append(last)
            node = [n for n in node if n != ""]
            if len(stack) > 1:
                stack[-1].append(node)
                items[-1] = [""]
            else:
                stack[0] += ["".join(items[0]), node]
                items[0] = [""]
        elif ch == "," and len(stack) > 1:
            text_item = "".join(items[-1]).strip()
            if text_item:
                stack[-1].append(text_item)
            items[-1] = [""]
        else:
            items[-1].append(ch)
    if len(stack) > 1:  # an unclosed bracket: no lists to shorten
        return [text]
    return [s for s in [*stack[0], "".join(items[0])] if s != ""]


def _round(number: str, digits: int) -> str:
    """A float literal to ``digits`` significant digits, still reading as a float."""
    out = f"{float(number):.{digits}g}"
    return out if any(c in out for c in ".ein") else out + ".0"


def _render(node: _Node, keep: int | None, digits: int | None) -> str:
    if isinstance(node, str):
        if digits is None:
            return node
        return _FLOAT.sub(lambda m: _round(m.group(), digits), node)
    shown = node if keep is None or len(node) <= keep + 1 else node[:keep]
    inner = ", ".join(_render(n, keep, digits) for n in shown)
    if len(shown) < len(node):
        inner += f", … (K={len(node)})"
    return f"[{inner}]"


def _cut(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters in the middle (its end often names the output
    component or a hyper-parameter)."""
    if width < 2:
        return text[:width]
    tail = (width - 1) // 3
    return text[: width - 1 - tail] + "…" + (text[-tail:] if tail else "")


def shorten(text: str, width: int = MAX_CELL) -> str:
    """``text`` in at most ``width`` characters.

    Long bracketed lists keep their first items and their length (``[1.5, 2.0, … (K=1000)]``),
    floats are rounded to 4 significant digits (short lists are rounded before they lose
    items), and only then is the text cut in the middle with ``…``.

    Parameters
    ----------
    text : str
        The cell (an input such as ``z=[…], y=0 [2]``, a value, a message).
    width : int
        The most characters the result may have (>= 1).

    Returns
    -------
    str
        ``text`` itself when it fits.
    """
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width: must be an integer >= 1, got {width!r}")
    if len(text) <= width:
        return text
    segments = _parse(text)
    # fewer items before fewer digits, but a short list is rounded before it is elided
    plans = [(None, None), (3, None), (None, 4), (3, 4), (2, None), (2, 4), (1, None), (1, 4)]
    candidates = ["".join(_render(s, keep, digits) for s in segments) for keep, digits in plans]
    for c in candidates:
        if len(c) <= width:
            return c
    return _cut(min(candidates, key=len), width)


def format_table(head: Sequence[str], rows: Sequence[Sequence[str]], *,
                 max_width: int = MAX_WIDTH, max_cell: int = MAX_CELL) -> list[str]:
    """Aligned lines (header, rule, rows) at most ``max_width`` characters wide.

    Every cell is first shortened to ``max_cell`` characters; if the line is still too
    wide, the widest column is narrowed, one character at a time, down to its header's
    width (or 8), and its cells shortened to fit.

    Parameters
    ----------
    head : sequence of str
        Column headers.
    rows : sequence of sequences of str
        The cells, one sequence per row, as many as ``head``.
    max_width, max_cell : int
        Widest line, widest cell (characters).

    Returns
    -------
    list of str
        The lines, trailing spaces removed.
    """
    if any(len(r) != len(head) for r in rows):
        raise ValueError(f"rows: every row needs {len(head)} cells")
    cells = [[shorten(c, max_cell) for c in r] for r in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(head)]
    floor = [max(len(h), _MIN_COLUMN) for h in head]
    while sum(widths) + 2 * (len(widths) - 1) > max_width:
        narrowable = [i for i, w in enumerate(widths) if w > floor[i]]
        if not narrowable:
            break
        widest = max(narrowable, key=lambda i: widths[i])
        widths[widest] -= 1
    cells = [[shorten(c, w) for c, w in zip(r, widths, strict=True)] for r in cells]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
              for r in cells]
    return lines


def sample_kinds(items: Sequence[T], kind: Callable[[T], str], n: int,
                 last: str | None = None) -> list[T]:
    """Up to ``n`` of ``items`` (worst first), taking each kind in turn.

    A table of the ``n`` worst failures shows only one kind when one kind dominates the
    top (every non-finite output outranks every finite one); this takes the worst of each
    kind, then the second worst of each, and so on, keeping the order of ``items`` within
    a round.  Items of kind ``last`` (e.g. outputs within the budget) only fill the places
    the other kinds leave.

    >>> sample_kinds(["inf1", "inf2", "inf3", "f32a", "f32b", "ok"], lambda s: s[:3], 4, "ok")
    ['inf1', 'f32a', 'inf2', 'f32b']
    """
    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(kind(item), []).append(item)
    rest = groups.pop(last, []) if last is not None else []
    out: list[T] = []
    for round_ in range(max((len(g) for g in groups.values()), default=0)):
        out += [g[round_] for g in groups.values() if round_ < len(g)]
    return (out + rest)[:n]
