"""Counterexample search for the steps SymPy does not prove.

A step that is not proved symbolically is searched for a counterexample before it is
accepted: over the declared domains, its *violation* — ``|lhs - rhs|`` for an equality,
``lhs - rhs`` for ``<=``, ``rhs - lhs`` for ``>=`` — is evaluated with mpmath at the step's
precision at

* adversarial points: every corner of the domain box (up to :data:`MAX_CORNERS`), its
  centre, and points a relative ``1e-6`` inside each face;
* stratified points: a Latin hypercube of :data:`LATIN_POINTS` points (seeded);
* then, from the :data:`STARTS` best of those by each of two measures, a compass
  (coordinate) search in the unit cube — log-space for a ``LogUniform`` — halving its step
  to ``2^-40``.

The violation is evaluated from the *difference* ``lhs - rhs`` as one SymPy expression, so
terms common to both sides cancel before any rounding: a bump ``e^{-10^4 (z - pi)^2}/1000``
added to one side is seen far from ``pi`` (mpmath's exponent range has no underflow), and
the search climbs it.  Local searches start from the best points by the scale-free ratio
``violation / (|lhs| + |rhs|)`` (which finds a wrong constant in a sharp inequality, where
both sides vanish together) and from the best by the violation itself (the ratio is flat
where one side is 0), each climbing its own measure with an equal share of the evaluations
left; the search stops at the first point where the step's own numeric comparison
fails — the violation exceeds ``10^-(dps/2) * max(1, |lhs|, |rhs|)``, the tolerance of
:func:`derive.checker._compare`.  Everything is
counted in evaluations, never in time, and seeded: the same step gets the same verdict on
any machine.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import mpmath
import sympy

from derive.core import IntegerRange, Interval, LogUniform, VectorOf

_WORST = (mpmath.mpf("-inf"), mpmath.mpf("-inf"))

#: Latin-hypercube points per integer configuration.
LATIN_POINTS = 32
#: Local searches started from the best points found by sampling.
STARTS = 2
#: Evaluations of a step's sides a search may spend in all (every configuration together).
MAX_EVALUATIONS = 200
#: The budget for a step whose sides hold an ``Integral`` (each evaluation a quadrature:
#: ~100 times the cost of an elementary side).
INTEGRAL_EVALUATIONS = 24
#: Corners of the domain box tried (the first ones in a fixed order).
MAX_CORNERS = 16
#: A compass search stops when its step (in the unit cube) is below this.
MIN_STEP = mpmath.mpf(2) ** -40


@dataclass(frozen=True)
class SearchResult:
    """What :func:`search` found: a failing point (or ``None``), and what it spent."""

    point: dict | None
    message: str
    evaluations: int  # the evaluations that gave a number (not those a side could not)
    starts: int


@dataclass(frozen=True)
class _Coordinate:
    symbol: sympy.Basic
    index: tuple | None
    lo: mpmath.mpf
    hi: mpmath.mpf
    log: bool

    def value(self, u):
        if self.log:
            return mpmath.exp(mpmath.log(self.lo) + u * (mpmath.log(self.hi) - mpmath.log(self.lo)))
        return self.lo + u * (self.hi - self.lo)


def _coordinates(domains: Mapping, base: Mapping, exprs: Sequence[sympy.Basic]) -> list:
    """The continuous coordinates of the domain box that the expressions use."""
    out = []
    for sym, dom in domains.items():
        if not any(e.has(sym) for e in exprs):
            continue
        if isinstance(dom, Interval | LogUniform):
            out.append(_Coordinate(sym, None, mpmath.mpf(dom.lo), mpmath.mpf(dom.hi),
                                   isinstance(dom, LogUniform)))
        elif isinstance(dom, VectorOf) and isinstance(dom.element, Interval | LogUniform):
            el = dom.element
            for idx in base[sym]:
                out.append(_Coordinate(sym, idx, mpmath.mpf(el.lo), mpmath.mpf(el.hi),
                                       isinstance(el, LogUniform)))
    return out


class _Search:
    """One search: the step's pieces, the evaluation budget, and the first failure."""

    def __init__(self, rel, domains, assumptions, defs, dps, seed, budget):
        from derive.checker import _apply_definitions

        self.rel, self.domains, self.assumptions, self.defs = rel, domains, assumptions, defs
        self.dps, self.seed, self.budget = dps, seed, budget
        self.exprs = (_apply_definitions(rel.lhs, defs), _apply_definitions(rel.rhs, defs))
        # the difference as one expression cancels common terms before rounding; with
        # integrals (quadratures) it would cost a third evaluation: lhs - rhs is used
        self.integral = any(e.has(sympy.Integral) for e in self.exprs)
        self.diff = None if self.integral else _apply_definitions(rel.lhs - rel.rhs, defs)
        if self.integral:
            self.budget = min(budget, INTEGRAL_EVALUATIONS)
        self.evaluations = 0
        self.unevaluable = 0  # attempts where a side could not be evaluated
        self.failure: tuple[dict, str] | None = None
        self.tiny = mpmath.mpf(10) ** (-2 * dps)

    def point(self, base: Mapping, coords: Sequence[_Coordinate], u: Sequence) -> dict:
        point = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
        for c, x in zip(coords, u, strict=True):
            if c.index is None:
                point[c.symbol] = c.value(x)
            else:
                point[c.symbol][c.index] = c.value(x)
        rng = random.Random(self.seed)
        with mpmath.workdps(self.dps):  # constraints (normalising, ...) at full precision
            for a in self.assumptions:
                if a.constrain is not None:
                    point = a.constrain(dict(point), rng)
        return point

    def score(self, point: dict):
        """The scale-free violation at ``point`` (higher is worse); records a failure."""
        from derive.checker import _numeric_side

        if self.failure is not None or self.evaluations >= self.budget:
            return None
        self.evaluations += 1
        with mpmath.workdps(self.dps):
            try:
                a = _numeric_side(self.rel.lhs, point, self.defs, self.dps)
                if self.diff is None:
                    b = _numeric_side(self.rel.rhs, point, self.defs, self.dps)
                    d = a - b
                else:  # two evaluations, not three: the right side from the difference
                    d = _numeric_side(self.diff, point, self.defs, self.dps)
                    b = a - d
            except (ZeroDivisionError, OverflowError, ValueError, TypeError):
                self.unevaluable += 1
                return _WORST
            if not all(isinstance(x, mpmath.mpf | int | float) for x in (a, b, d)):
                return _WORST  # matrices, complex values: the sampled check only
            a, b, d = mpmath.mpf(a), mpmath.mpf(b), mpmath.mpf(d)  # a side may be int 0
            if self._violation(d) > mpmath.mpf(10) ** (-(self.dps // 2)) * max(
                    1, abs(a), abs(b)):
                self._fail(point, a, d)
            v = self._violation(d)
            return v, v / (abs(a) + abs(b) + self.tiny)

    def _fail(self, point: dict, a, d) -> None:
        """Record the failure at ``point``, the right side evaluated on its own."""
        from derive.checker import _numeric_side

        try:
            b = mpmath.mpf(_numeric_side(self.rel.rhs, point, self.defs, self.dps))
        except (ZeroDivisionError, OverflowError, ValueError, TypeError):
            b = a - d
        self.failure = (point, f"left = {mpmath.nstr(a, 15)}, right = {mpmath.nstr(b, 15)} "
                        f"(difference {mpmath.nstr(d, 6)})")

    def _violation(self, d):
        if isinstance(self.rel, sympy.Eq):
            return abs(d)
        if isinstance(self.rel, sympy.Le | sympy.Lt):
            return d
        return -d

    def compass(self, base, coords, u, f, key: int, limit: int) -> None:
        """Coordinate search from ``u`` (score ``f``): step halves when no move improves."""
        step = mpmath.mpf(1) / 8
        u = list(u)
        while step > MIN_STEP and f is not None and self.evaluations < limit:
            moved = False
            for i in range(len(u)):
                for sign in (1, -1):
                    x = min(max(u[i] + sign * step, mpmath.mpf(0)), mpmath.mpf(1))
                    if x == u[i]:
                        continue
                    trial = [*u[:i], x, *u[i + 1:]]
                    g = self.score(self.point(base, coords, trial))
                    if g is None:
                        return
                    if g[key] > f[key]:
                        u, f, moved = trial, g, True
                        break
            if not moved:
                step /= 2


def _starts(n: int, rng: random.Random) -> list[list]:
    """Adversarial points (corners, centre, just inside each face), then a Latin hypercube."""
    half, eps = mpmath.mpf(1) / 2, mpmath.mpf(10) ** -6
    pts = [list(c) for c in itertools.islice(itertools.product((0, 1), repeat=n), MAX_CORNERS)]
    pts.append([half] * n)
    for i in range(n):
        for x in (eps, 1 - eps):
            pts.append([half] * i + [x] + [half] * (n - i - 1))
    columns = []
    for _ in range(n):
        cells = list(range(LATIN_POINTS))
        rng.shuffle(cells)
        columns.append([(c + mpmath.mpf(rng.random())) / LATIN_POINTS for c in cells])
    pts += [[col[j] for col in columns] for j in range(LATIN_POINTS)]
    return [[mpmath.mpf(x) for x in p] for p in pts]


def search(rel, domains: Mapping, assumptions: Sequence, defs: Sequence, *, dps: int,
           seed: int, budget: int = MAX_EVALUATIONS) -> SearchResult:
    """Search the declared domains for a point where ``rel`` fails (deterministic).

    Parameters
    ----------
    rel : sympy.Eq, sympy.Le, sympy.Lt, sympy.Ge or sympy.Gt
        The claim, sides as the author wrote them (definitions applied here).
    domains : Mapping
        Symbol -> :class:`~derive.core.Domain`, as declared by the derivation.
    assumptions : Sequence of Assumption
        The step's assumptions; their ``constrain`` is applied to every point.
    defs : Sequence of Definition
        Definitions substituted before evaluation.
    dps : int
        mpmath digits; the tolerance is relative ``10^-(dps//2)``, as the sampled check's.
    seed : int
        Seeds the Latin hypercube and the sampled sizes.
    budget : int
        Evaluations allowed in all.

    Returns
    -------
    SearchResult
        ``point`` is a counterexample or ``None``; ``evaluations`` and ``starts`` say
        what was spent.
    """
    from derive.checker import _sample_point

    s = _Search(rel, domains, assumptions, defs, dps, seed, budget)
    rng = random.Random(seed)
    starts = 0
    # integer sizes and indices: their low edges, high edges, then a random draw
    configs = 3 if any(isinstance(v, IntegerRange) for v in domains.values()) else 1
    for j in range(configs):
        with mpmath.workdps(dps):
            base = _sample_point(domains, (), random.Random(seed + j), j)
        coords = _coordinates(domains, base, s.exprs)
        scored = []
        for u in _starts(len(coords), rng) if coords else [[]]:
            f = s.score(s.point(base, coords, u))
            if f is None:
                break
            scored.append((f, u))
        # the best starts by the scale-free ratio, then by the violation itself (the ratio is
        # flat, +-1, where one side is 0)
        chosen = []
        for key in (1, 0):
            ranked = sorted(scored, key=lambda t, key=key: t[0][key], reverse=True)
            chosen += [(f, u, key) for f, u in ranked[:STARTS]]
        # this configuration's share of the budget, split evenly between its starts
        share = (s.budget * (j + 1) // configs - s.evaluations) // max(1, len(chosen))
        for f, u, key in chosen if coords else []:
            if s.failure is not None or s.evaluations >= s.budget:
                break
            starts += 1
            s.compass(base, coords, u, f, key, s.evaluations + max(share, 1))
        if s.failure is not None or s.evaluations >= s.budget:
            break
    if s.failure is not None:
        return SearchResult(s.failure[0], s.failure[1], s.evaluations - s.unevaluable, starts)
    return SearchResult(None, "", s.evaluations - s.unevaluable, starts)


def _free(rel, defs) -> set:
    from derive.checker import _apply_definitions

    return _apply_definitions(rel.lhs - rel.rhs, defs).free_symbols


def _provably_wrong(rel, diff: sympy.Basic) -> str | None:
    """Whether SymPy's assumptions show the difference ``lhs - rhs`` has the wrong sign."""
    try:
        pos, neg = diff.is_positive, diff.is_negative
    except (RecursionError, NotImplementedError, TypeError, ValueError, AttributeError):
        return None
    if isinstance(rel, sympy.Eq) and (pos or neg):
        return "positive" if pos else "negative"
    if isinstance(rel, sympy.Le | sympy.Lt) and pos:
        return "positive"
    if isinstance(rel, sympy.Ge | sympy.Gt) and neg:
        return "negative"
    return None


_VIOLATED = {sympy.Le: sympy.StrictGreaterThan, sympy.Lt: sympy.GreaterThan,
             sympy.Ge: sympy.StrictLessThan, sympy.Gt: sympy.LessThan}


def univariate(rel, domains: Mapping, defs: Sequence) -> tuple[bool, sympy.Set] | None:
    """An inequality in one variable whose ``lhs - rhs`` is a rational function, decided by
    SymPy's univariate inequality solver on the declared interval.

    Returns
    -------
    tuple of (bool, sympy.Set) or None
        ``(True, EmptySet)`` when the claim holds on the whole interval, ``(False, S)``
        with ``S`` the set where it fails, ``None`` when this does not apply.
    """
    from derive.checker import _apply_definitions

    if type(rel) not in _VIOLATED:
        return None
    d = _apply_definitions(rel.lhs - rel.rhs, defs)
    if len(d.free_symbols) != 1 or d.has(sympy.Sum, sympy.Integral, sympy.Indexed):
        return None
    (sym,) = d.free_symbols
    dom = domains.get(sym)
    if not isinstance(dom, Interval | LogUniform) or not d.is_rational_function(sym):
        return None
    region = sympy.Interval(sympy.Rational(dom.lo), sympy.Rational(dom.hi))
    try:
        bad = sympy.solve_univariate_inequality(_VIOLATED[type(rel)](d, 0), sym,
                                                relational=False, domain=region)
    except (NotImplementedError, ValueError, TypeError):
        return None
    return bad is sympy.S.EmptySet, bad


def _inside(bad: sympy.Set):
    """A number in the non-empty set ``bad`` (an interval's midpoint, a point of a union)."""
    while isinstance(bad, sympy.Union):
        bad = bad.args[0]
    if isinstance(bad, sympy.FiniteSet):
        return bad.args[0]
    return (bad.inf + bad.sup) / 2


def settle(rel, domains: Mapping, assumptions: Sequence, defs: Sequence, *, dps: int, seed: int,
           on_fail) -> tuple[str, str]:
    """Refute, else prove on boxes, else say what was searched: for a step SymPy did not prove.

    ``on_fail(point, message)`` is called (and must raise) with a counterexample.

    Returns
    -------
    tuple of str
        ``("interval", "proved by interval arithmetic on [box] ...")`` or
        ``("sampled", "not proved: no counterexample in N evaluations and a search of M
        starts")``.
    """
    from derive import intervals

    # a point constraint narrows the domain: a box proof still holds, a box refutation not
    constrained = any(a.constrain is not None for a in assumptions)
    decided = None if constrained else univariate(rel, domains, defs)
    if decided is not None and decided[0]:
        return "symbolic", "proved symbolically (univariate inequality solving on the domain)"
    if decided is not None:
        (sym,) = _free(rel, defs)
        with mpmath.workdps(dps):
            point = {sym: mpmath.mpf(sympy.N(_inside(decided[1]), dps))}
        on_fail(point, f"the claim fails on {decided[1]} (univariate inequality solving)")
    found = search(rel, domains, assumptions, defs, dps=dps, seed=seed)
    if found.point is not None:
        on_fail(found.point, f"counterexample found by search: {found.message}")
    from derive.checker import _apply_definitions

    wrong = _provably_wrong(rel, _apply_definitions(rel.lhs - rel.rhs, defs))
    verdict = intervals.prove(rel, domains, defs)
    if verdict.status == "refuted" and not constrained:
        on_fail(verdict.point, "the difference has the wrong sign on a whole box "
                "(interval arithmetic)")
    if wrong is not None:
        with mpmath.workdps(dps):
            from derive.checker import _sample_point

            point = _sample_point(domains, assumptions, random.Random(seed), 0)
        on_fail(point, f"the difference lhs - rhs is provably {wrong} (SymPy assumptions), "
                "though below the numeric tolerance wherever it was searched")
    if verdict.status == "proved":
        return "interval", (f"proved by interval arithmetic on {verdict.box} "
                            f"({verdict.boxes} boxes)")
    return "sampled", (f"not proved: no counterexample in {found.evaluations} evaluations "
                       f"and a search of {found.starts} starts")
