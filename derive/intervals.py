"""Proofs on boxes: rigorous interval arithmetic (python-flint ``arb`` balls) with
branch and bound.

A step ``lhs >= rhs`` (or ``<=``, ``>``, ``<``) whose symbols all range over ``Interval`` /
``LogUniform`` domains (scalars, or vectors of concrete length) is proved outright when the
ball enclosure of ``lhs - rhs`` over every box of a subdivision of the domain box has the
right sign.  Boxes whose enclosure straddles zero are bisected along their widest side
(geometrically for a ``LogUniform``) up to :data:`MAX_BOXES` boxes in all; a box whose
enclosure has the wrong sign everywhere is a counterexample region.

The enclosure is computed by walking the SymPy expression tree (:func:`enclose`) — no text
is printed or evaluated — so every rational constant is an exact ball and every operation
an arb operation with rigorous rounding.  Integer powers are taken from the ball's end
points (so ``(z - 3)^2`` of a ball containing 3 is ``[0, ...]``, not a symmetric ball).
Functions without an ``arb`` version here raise :class:`Unsupported`: the step is then
not proved this way.  Equalities are never proved by intervals (an enclosure of ``0``
cannot shrink to a point), and a tight inequality (equality somewhere in the domain) is
reported as not proved.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import mpmath
import sympy
from flint import arb, ctx

from derive.core import Interval, LogUniform, VectorOf

#: Boxes a branch and bound may evaluate in all.
MAX_BOXES = 2000
#: arb working precision (bits) for the enclosures.
PREC = 80


class Unsupported(ValueError):
    """The expression has a part with no rigorous enclosure here."""


class TooWide(Unsupported):
    """An enclosure on this box is not usable (a log or a division of a ball that reaches
    0): a smaller box may do."""


@dataclass(frozen=True)
class Verdict:
    """Outcome of :func:`prove`: ``"proved"``, ``"refuted"`` (with a point) or
    ``"undecided"``; ``boxes`` evaluated; ``box`` is the domain box as text."""

    status: str
    boxes: int
    box: str
    point: dict | None = None


def _hull(lo: arb, hi: arb) -> arb:
    return arb.union(lo, hi)


def _ipow(x: arb, n: int) -> arb:
    """``x**n`` for an integer ``n`` from the end points of ``x`` (tight for even ``n``)."""
    if n < 0:
        base = _ipow(x, -n)
        if base.contains(0):
            raise TooWide("division by a ball containing 0")
        return 1 / base
    lo, hi = arb(x.lower()), arb(x.upper())
    if n % 2 == 0 and x.contains(0):
        top = max(abs(x.lower()), abs(x.upper()))
        return _hull(arb(0), arb(top) ** n)
    return _hull(lo ** n, hi ** n)


def _ends(x: arb) -> tuple[arb, arb]:
    return arb(x.lower()), arb(x.upper())


def _monotone(f):
    """An increasing function of a ball, from its end points (arb's midpoint-radius form
    of ``f`` over-estimates a wide ball)."""
    def apply(x: arb) -> arb:
        lo, hi = _ends(x)
        return _hull(f(lo), f(hi))
    return apply


def _mul(x: arb, y: arb) -> arb:
    """``x * y`` from the four end-point products (midpoint-radius multiplication of two
    wide balls over-estimates: ``[0.01, 0.99] * [1.01, 100]`` would reach below 0)."""
    (a, b), (c, d) = _ends(x), _ends(y)
    out = a * c
    for p in (a * d, b * c, b * d):
        out = _hull(out, p)
    return out


def _abs(x: arb) -> arb:
    lo, hi = _ends(x)
    if x.contains(0):
        return _hull(arb(0), _hull(abs(lo), abs(hi)))
    return _hull(abs(lo), abs(hi))


_UNARY = {
    sympy.exp: _monotone(lambda x: x.exp()),
    sympy.log: lambda x: _monotone(lambda y: y.log())(_positive(x)),
    sympy.tanh: _monotone(lambda x: x.tanh()),
    sympy.sinh: _monotone(lambda x: x.sinh()),
    sympy.Abs: _abs,
}


def _positive(x: arb) -> arb:
    if not x > 0:
        raise TooWide("log of a ball not known positive")
    return x


def enclose(e: sympy.Basic, env: Mapping) -> arb:
    """A ball containing every value of ``e`` when each symbol is in its ball in ``env``.

    Raises :class:`Unsupported` for anything without a rigorous enclosure here.
    """
    if e in env:
        return env[e]
    if e.is_Integer:
        return arb(int(e))
    if e.is_Rational:
        return arb(int(e.p)) / int(e.q)
    if e.is_Float:
        return arb(mpmath.mpf(e))
    if e is sympy.pi:
        return arb.pi()
    if e is sympy.E:
        return arb(1).exp()
    if isinstance(e, sympy.Add):
        out = arb(0)
        for t in e.args:
            out += enclose(t, env)
        return out
    if isinstance(e, sympy.Mul):
        out = arb(1)
        for t in e.args:
            out = _mul(out, enclose(t, env))
        return out
    if isinstance(e, sympy.Pow):
        base = enclose(e.base, env)
        if e.exp.is_Integer:
            return _ipow(base, int(e.exp))
        if not base > 0:
            raise TooWide("a non-integer power of a ball not known positive")
        return _UNARY[sympy.exp](_mul(enclose(e.exp, env), _UNARY[sympy.log](base)))
    if isinstance(e, sympy.Function) and e.func in _UNARY and len(e.args) == 1:
        return _UNARY[e.func](enclose(e.args[0], env))
    rewritten = e.rewrite(sympy.exp)
    if rewritten != e and isinstance(e, sympy.Function):
        return enclose(rewritten, env)
    raise Unsupported(f"no interval enclosure of {type(e).__name__}")


@dataclass(frozen=True)
class _Side:
    key: sympy.Basic
    lo: mpmath.mpf
    hi: mpmath.mpf
    log: bool

    def split(self, lo, hi):
        mid = mpmath.sqrt(lo * hi) if self.log else (lo + hi) / 2
        return (lo, mid), (mid, hi)


def _sides(domains: Mapping, e: sympy.Basic) -> tuple[list[_Side], sympy.Basic] | None:
    """The box's sides (one per scalar), and ``e`` with vector entries as symbols."""
    sides, repl = [], {}
    for sym, dom in domains.items():
        if not e.has(sym):
            continue
        if isinstance(dom, Interval | LogUniform):
            sides.append(_Side(sym, mpmath.mpf(dom.lo), mpmath.mpf(dom.hi),
                               isinstance(dom, LogUniform)))
        elif (isinstance(dom, VectorOf) and isinstance(dom.element, Interval | LogUniform)
              and isinstance(dom.length, int)):
            for i in range(1, dom.length + 1):
                s = sympy.Symbol(f"_{sym}_{i}", real=True)
                repl[sym[i]] = s
                sides.append(_Side(s, mpmath.mpf(dom.element.lo), mpmath.mpf(dom.element.hi),
                                   isinstance(dom.element, LogUniform)))
        else:
            return None
    e = e.xreplace(repl) if repl else e
    if e.has(sympy.Indexed) or {s for s in e.free_symbols} - {s.key for s in sides}:
        return None
    return sides, e


def _box_text(sides: Sequence[_Side]) -> str:
    return " × ".join(f"[{mpmath.nstr(s.lo, 6)}, {mpmath.nstr(s.hi, 6)}]" for s in sides)


def prove(rel, domains: Mapping, defs: Sequence = (), *, max_boxes: int = MAX_BOXES) -> Verdict:
    """Branch and bound for an inequality over the declared domain box.

    Parameters
    ----------
    rel : sympy.Le, sympy.Lt, sympy.Ge, sympy.Gt or sympy.Eq
        The claim (equalities are ``"undecided"``).
    domains : Mapping
        Symbol -> Domain; only ``Interval``, ``LogUniform`` and ``VectorOf`` of those with
        an integer length can be boxed.
    defs : Sequence of Definition
        Substituted (with ``Sum``s of integer limits written out) before enclosing.
    max_boxes : int
        Boxes evaluated at most.

    Returns
    -------
    Verdict
    """
    from derive.checker import _apply_definitions, _expand_sums

    if isinstance(rel, sympy.Eq) or not isinstance(rel, sympy.Le | sympy.Lt | sympy.Ge | sympy.Gt):
        return Verdict("undecided", 0, "")
    d = _apply_definitions(rel.lhs - rel.rhs, defs)
    d = _expand_sums(d).doit(integrals=False)
    if isinstance(rel, sympy.Le | sympy.Lt):
        d = -d  # prove d > 0 (or >= 0) throughout
    if d.has(sympy.Integral, sympy.Sum, sympy.Derivative, sympy.MatrixSymbol):
        return Verdict("undecided", 0, "")
    shaped = _sides(domains, d)
    if shaped is None:
        return Verdict("undecided", 0, "")
    sides, d = shaped
    strict = isinstance(rel, sympy.Lt | sympy.Gt)
    old = ctx.prec
    ctx.prec = PREC
    try:
        return _branch_and_bound(d, sides, strict, max_boxes)
    finally:
        ctx.prec = old


def _branch_and_bound(d, sides, strict, max_boxes) -> Verdict:
    text = _box_text(sides)
    counter = itertools.count()
    # widest boxes first (a heap on minus the log-volume proxy): a breadth-first refinement
    heap = [(0, next(counter), tuple((s.lo, s.hi) for s in sides))]
    boxes = 0
    while heap:
        if boxes >= max_boxes:
            return Verdict("undecided", boxes, text)
        depth, _, box = heapq.heappop(heap)
        boxes += 1
        env = {s.key: _hull(arb(lo), arb(hi)) for s, (lo, hi) in zip(sides, box,
                                                                               strict=True)}
        try:
            v = enclose(d, env)
        except (TooWide, ZeroDivisionError):
            v = None
        except Unsupported:
            return Verdict("undecided", boxes, text)
        if v is not None and v.is_finite() and (v > 0 or (not strict and v >= 0)):
            continue
        if v is not None and v.is_finite() and v < 0:
            point = {s.key: (lo + hi) / 2 for s, (lo, hi) in zip(sides, box, strict=True)}
            return Verdict("refuted", boxes, text, point)
        # bisect the widest side (relative to its domain side)
        widths = [(hi - lo) / (s.hi - s.lo) for s, (lo, hi) in zip(sides, box, strict=True)]
        k = max(range(len(sides)), key=lambda i: widths[i])
        for half in sides[k].split(*box[k]):
            child = (*box[:k], half, *box[k + 1:])
            heapq.heappush(heap, (depth + 1, next(counter), child))
    return Verdict("proved", boxes, text)
