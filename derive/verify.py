"""The cross-check engine behind ``lossproof verify``.

For each registered derivation:

1. its symbolic :meth:`~derive.core.Derivation.verify` is re-run (every step checked
   symbolically where SymPy can, and numerically with mpmath always) and the steps are
   counted by method;
2. if its result is exportable, points are drawn — ``points`` at random from the declared
   domains (fewer by the number of adversarial points where the case's ``share`` allows:
   never fewer than ``points`` in all, 2,000 by default; every
   assumption imposed, then rounded to float64 and the assumptions re-imposed *exactly* in
   float64, e.g. probabilities made dyadic so they sum to exactly 1) plus the
   derivation's ADVERSARIAL points from :data:`CASES` (±0, tiny and huge
   magnitudes, logits up to ±1e300, branch points of the stable algorithms, near-equal
   parameters, confident-correct predictions, ...);
3. at each point the exported float64 function (``derive.export(name, "numpy")``), the
   matching hand-written ``numeric`` function (an adapter in :data:`CASES`; "—" where there
   is none), and the naive lambdify (``naive=True``: no stable rewrite) are compared with
   the oracle — the *definition*, in ball arithmetic (``derive.oracle_arb``: python-flint's
   ``arb``, from ``dps`` digits' worth of bits up until every ball pins its float64
   rounding, a proven bound) where it has a ball version, else with mpmath
   (``derive.oracle``: at ``dps`` digits, re-evaluated at ``dps + 20`` digits: the two must
   agree to ``dps/2`` digits), so the reference itself is right;
4. every error is measured in float64 ULPs of the exact value and held to the derivation's
   budget.  The default budget is ``4 ULP × (1 + κ)``, where κ is the condition number
   ``Σ_j |x_j ∂f/∂x_j| / |f|`` measured on the oracle (forward differences at 40 digits),
   expressed in ULPs of ``f`` so that it stays meaningful where ``f`` = 0:
   ``|got - f| <= 4 (ulp(f) + ε Σ_j |x_j ∂f/∂x_j|)``.  Since that budget is never below
   4 ULP, κ is only computed at points where some route is off by more.  Inputs are
   perturbed in their natural coordinates (labels exact, probabilities on the simplex,
   logits modulo a common shift, …: ``Case.model``).  A derivation may state a fixed,
   justified budget instead (:class:`Budget`).  The naive lambdify is reported, never
   required to pass: it shows what the stable rewrite buys.

A derivation passes when its steps verify and the export and numeric routes are within
budget at every point.  ``run(...)`` returns a :class:`Report`; ``Report.to_json()`` gives
the versioned JSON document written by ``lossproof verify --json PATH``.

JSON report, ``schema_version`` 1
---------------------------------
Non-finite numbers are written as the strings ``"inf"``, ``"-inf"`` and ``"nan"`` (JSON
has no literal for them); ``null`` means "not applicable".  Top level::

    schema_version   1
    tool             "lossproof verify"
    version          lossproof version string
    settings         {"names": [str], "points": int, "seed": int, "dps": int, "jobs": int}
    seconds          wall-clock time of the run
    passed           true iff every derivation passed
    derivations      [Derivation, ...]  (in the order of ``names``)

Derivation::

    name, title         str
    exportable          bool (false: a relation such as a matrix identity; only the steps
                        are checked)
    passed              bool
    error               str | null (an exception that stopped the cross-check)
    steps               {"total": int, "symbolic": int, "numeric": int, "interval": int,
                         "passed": bool, "error": str | null, "seconds": float,
                         "cached": bool}
                        symbolic = proved by SymPy (and checked numerically);
                        numeric = not proved by SymPy; interval = of those, proved by
                        interval arithmetic on the domain box (the other numeric - interval
                        are not proved: sampled and searched for a counterexample);
                        cached = the outcome of an earlier check of the same sources
                        (see ``derive.stepcache``), seconds = how long that check took
    points              int: points compared (random + adversarial), 0 if not exportable
    adversarial_points  int
    budget              {"kind": "cond" | "fixed", "ulp": float, "why": str}
    max_condition       number | null: the largest condition number κ met where the
                        reference is a nonzero float64 number (κ is computed only where
                        some route is off by more than the base budget; 0 if nowhere)
    numeric_function    str | null: the ``numeric`` function compared, null for "—"
    pairs               {"export_vs_oracle": Pair | null, "numeric_vs_oracle": Pair | null,
                         "naive_vs_oracle": Pair | null, "export_vs_numeric": Pair | null}
                        (numeric_vs_oracle: the worst over ``numeric_twins``; its
                        counts of points over budget and non-finite outputs are summed
                        over them, ``points`` is the largest)
    numeric_twins       {str: Pair}: every ``numeric`` route (the case's ``numeric`` and
                        its twins) against the oracle, by name; a route's ``error`` also
                        reports an invalid input it accepted
    seconds             float

Pair::

    points            int: points evaluated
    max_ulp           number: the largest error in ULPs of the reference
    max_ulp_scaled    number: the largest error in ULPs ÷ (budget / budget.ulp), i.e.
                      ULPs ÷ (1 + κ) for a "cond" budget (plain ULPs where κ was not
                      needed) — what the table prints
    max_rel           number: the largest relative error
    max_budget_ratio  number: the largest (error / budget) — <= 1 means within budget
    over_budget       int: points outside the budget
    nonfinite         int: outputs that are NaN/inf where the reference is a float64 number
    required          bool: whether this pair decides pass/fail (false for the naive
                      lambdify and for export_vs_numeric, which are informative)
    passed            bool: every point within budget (and no error)
    error             str | null: an exception raised by the route
    worst             {"input": str, "got": str, "expected": str, "ulp": number,
                       "budget_ulp": number} | null — the point with the largest ratio
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import re
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import mpmath
import numpy as np

from derive._twins import NotApplicable, Twin, numeric_routes

__all__ = [
    "CASES",
    "COND",
    "DEFAULT_DPS",
    "DEFAULT_POINTS",
    "DEFAULT_SEED",
    "SCHEMA_VERSION",
    "Budget",
    "Case",
    "DerivationResult",
    "NotApplicable",
    "PairStats",
    "Report",
    "Twin",
    "crosscheck_rows",
    "format_table",
    "run",
    "ulp_error",
    "verify_one",
]

SCHEMA_VERSION = 1
DEFAULT_POINTS = 2000
DEFAULT_SEED = 0
DEFAULT_DPS = 60
_EPS = float(np.finfo(np.float64).eps)
_MAX = mpmath.mpf(float(np.finfo(np.float64).max))
_HALF_TINY = mpmath.ldexp(1, -1075)  # below this, everything rounds to 0 in float64
_SENS_DPS = 40  # digits for condition numbers (central differences keep about half)


# ------------------------------------------------------------------------ ULPs


def _ulp(exact: mpmath.mpf) -> mpmath.mpf:
    """Spacing of float64 at ``exact`` (subnormal spacing near 0, 2^971 beyond the range)."""
    a = abs(exact)
    if a < mpmath.ldexp(1, -1022):
        return mpmath.ldexp(1, -1074)
    e = min(int(mpmath.floor(mpmath.log(a, 2))), 1023)
    if mpmath.ldexp(1, e) > a:  # guard log rounding at powers of two
        e -= 1
    elif e < 1023 and mpmath.ldexp(1, e + 1) <= a:
        e += 1
    return mpmath.ldexp(1, e - 52)


_MIN_FAST_EXP = -960  # r (<= half an ULP) is then a normal float64 with 53 bits


_SPLITS: dict[Any, tuple[float, float, float] | None] = {}  # by the mpf's (sign, man, exp)


def _fast_split(exact: Any) -> tuple[float, float, float] | None:
    """``(e, r, u)`` with ``exact = e + r`` (``e`` the float64 nearest it, ``r`` the float
    nearest the rest) and ``u = _ulp(exact)``, for an mpf ``exact`` that is a normal float64
    number; ``None`` otherwise (0, subnormal, beyond the range, non-finite: the slow path).

    Then ``|g - exact| = |(g - e) - r|`` in float64: ``g - e`` is exact where ``g`` is within
    a factor 2 of ``e`` (Sterbenz) and off by ``2^-53`` relative elsewhere, ``r`` by
    ``2^-53`` of at most half an ULP — ULP errors to ~1e-16 ULP, in integer arithmetic and
    floats only (memoised: each reference is compared with several routes).
    """
    if not isinstance(exact, mpmath.mpf):
        return None
    sign, man, exp, _bc = exact._mpf_
    if not man:  # 0, inf, nan
        return None
    key = exact._mpf_
    if key in _SPLITS:
        return _SPLITS[key]
    top = exp + man.bit_length() - 1  # |exact| in [2^top, 2^(top+1))
    out = None
    if _MIN_FAST_EXP <= top <= 1023:
        e = float(exact)
        if math.isfinite(e):
            m, x = math.frexp(abs(e))
            em, ex = int(m * 2**53), x - 53  # |e| = em 2^ex exactly
            low = min(exp, ex)
            diff = (man << (exp - low)) - (em << (ex - low))  # |exact| - |e| in units 2^low
            shift = max(0, diff.bit_length() - 64)  # float(diff) of a 16000-bit mantissa
            r = math.ldexp(float(diff >> shift), low + shift) if diff else 0.0
            out = (e, -r if sign else r, math.ldexp(1.0, top - 52))
    if len(_SPLITS) > 100_000:
        _SPLITS.clear()
    _SPLITS[key] = out
    return out


def ulp_error(got: float, exact: Any) -> float:
    """``|got - exact|`` in float64 ULPs of ``exact``; ``inf`` for a non-finite mismatch.

    Overflow to ``±inf`` of an exact value beyond the float64 range counts as 0 ULP
    (it is the correctly rounded result).

    >>> with mpmath.workdps(30):
    ...     ulp_error(0.1, mpmath.mpf(1) / 10)  # 0.1 is 5.55e-18 above 1/10; its ULP 1.39e-17
    0.4
    """
    g = float(got)
    if math.isfinite(g):
        split = _fast_split(exact)
        if split is not None:
            e, r, u = split
            return float(f"{abs((g - e) - r) / u:.6g}")
    return _slow_ulp_error(g, exact)


def _slow_ulp_error(g: float, exact: Any) -> float:
    with mpmath.workdps(40):
        exact = mpmath.mpf(exact)
        if mpmath.isnan(exact) or mpmath.isinf(exact):
            same = (math.isnan(g) and mpmath.isnan(exact)) or (g == exact)
            return 0.0 if same else math.inf
        if not math.isfinite(g):
            big = abs(exact) > mpmath.mpf(np.finfo(np.float64).max)
            return 0.0 if math.isinf(g) and big and (g > 0) == (exact > 0) else math.inf
        # 6 significant digits, as the fast path; through a float, not mpmath.nstr, whose
        # decimal conversion of a ratio with a huge exponent (an exact value far below
        # float64's range, a route off by 1e300000 ULPs of it) costs milliseconds
        return float(f"{float(abs(mpmath.mpf(g) - exact) / _ulp(exact)):.6g}")


def _rel_error(got: float, exact) -> float:
    g = float(got)
    if math.isfinite(g):
        split = _fast_split(exact)
        if split is not None:
            e, r, _u = split
            return abs((g - e) - r) / abs(e)
    with mpmath.workdps(40):
        if not math.isfinite(g):
            return 0.0 if g == exact else math.inf
        if exact == 0:
            return 0.0 if g == 0 else math.inf
        return float(abs((mpmath.mpf(g) - exact) / exact))


# ------------------------------------------------------------------- budgets, cases


@dataclass(frozen=True)
class Budget:
    """How many ULPs a route may be off at a point.

    ``kind="cond"``: ``ulp × (1 + κ)`` with κ the oracle's condition number in ULPs of the
    result.  ``kind="fixed"``: ``ulp`` everywhere, with the justification in ``why``.
    """

    kind: str = "cond"
    ulp: float = 4.0
    why: str = "4 ULP × (1 + condition number measured on the oracle)"

    def __post_init__(self) -> None:
        if self.kind not in ("cond", "fixed"):
            raise ValueError(f"kind: 'cond' or 'fixed', got {self.kind!r}")


COND = Budget()

Point = tuple  # the exported function's positional arguments: floats and float64 arrays


@dataclass(frozen=True)
class Case:
    """What the engine needs to know about one derivation besides the derivation itself.

    numeric
        ``adapter(*args) -> array``: the hand-written ``numeric`` counterpart, called with
        the exported function's arguments; ``None`` where there is none ("—").
    numeric_name
        How the adapter is shown (``"numeric.gaussian_kl"``).
    edges
        ``() -> [Point, ...]``: the adversarial points.
    fix
        ``(Point) -> Point``: re-impose the derivation's assumptions exactly on a random
        point after rounding to float64 (e.g. make a probability vector sum to exactly 1).
    budget
        The error budget of the export and numeric routes.
    model
        Parameter name -> how rounding may perturb it, for the condition number (inputs
        are exact floats; what matters is the error a stable algorithm cannot avoid):

        ``"rel"`` (default)  each entry by ``ε |x|``;
        ``"exact"``          not at all (labels, counts, indices; integers always);
        ``"prob"``           probabilities: each row (last axis) on the simplex (entries
                             by ``ε p_k``, summing to 0), a lone ``y`` as ``(y, 1 - y)``;
        ``"joint"``          a joint distribution: the whole array on one simplex;
        ``"shift"``          only differences matter (logits under a common offset, a
                             pair of means): by ``ε |x - max x|``;
        ``"scale"``          only ratios matter (a pair of scales): by ``ε |x log(x / max x)|``.

        A ``":group"`` suffix (``"shift:mu"`` on ``mu1`` and ``mu2``) pools parameters.
    share
        The fraction of ``points`` drawn at random for this derivation (rounded up) — but
        never so few that random and adversarial points together number fewer than
        ``points``: every derivation is checked at ``points`` points at least.
    twins
        More ``numeric`` routes (:class:`Twin`), each compared with the oracle like
        ``numeric``: the table shows the worst of them all, the JSON report each one.
    invalid
        ``() -> [Point, ...]``: inputs ``numeric`` must refuse with ``ValueError``.
    """

    numeric: Callable[..., Any] | None = None
    numeric_name: str = "—"
    edges: Callable[[], list[Point]] = lambda: []
    fix: Callable[[Point], Point] | None = None
    budget: Budget = COND
    model: Mapping[str, str] = field(default_factory=dict)
    share: float = 1.0
    twins: tuple[Twin, ...] = ()
    invalid: Callable[[], list[Point]] = lambda: []


#: Derivation name -> its :class:`Case` (filled in by ``derive._cases``).
CASES: dict[str, Case] = {}


# -------------------------------------------------------------------------- results


@dataclass
class PairStats:
    """How one route compares with a reference over all points."""

    points: int = 0
    max_ulp: float = 0.0
    max_ulp_scaled: float = 0.0
    max_rel: float = 0.0
    max_budget_ratio: float = 0.0
    over_budget: int = 0
    nonfinite: int = 0
    required: bool = True
    error: str | None = None
    worst: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and self.over_budget == 0

    def add(self, got: Sequence[float], exact: Sequence, budget_ulp: Sequence[float],
            point: Point, base: float = 4.0, budget_abs: Sequence | None = None) -> None:
        """Record one point: its outputs, references and budgets (one per component);
        ``base`` is the budget at κ = 0.

        ``budget_abs`` (one mpf per component, optional) is the same budget as an absolute
        error, ``|got - exact| <= budget_abs``: the comparison then never goes through ULPs
        of ``exact``, which overflow float64 where ``exact`` is 0 or subnormal (an exact 0
        has the absolute budget ``base · ε · S``, S the inputs' scale — never infinite).
        """
        self.points += 1
        over = False
        for c, (g, e, b) in enumerate(zip(got, exact, budget_ulp, strict=True)):
            g = float(g)
            ulp = ulp_error(g, e)
            rel = _rel_error(g, e)
            if budget_abs is not None:
                ratio = _abs_ratio(g, e, budget_abs[c], ulp)
            else:
                ratio = ulp / b if b > 0 else (0.0 if ulp == 0 else math.inf)
            scaled = ratio * base
            self.max_ulp_scaled = (max(self.max_ulp_scaled, scaled) if scaled == scaled
                                   else math.inf)
            if not math.isfinite(g) and abs(e) <= _MAX:
                self.nonfinite += 1
            over = over or not ratio <= 1
            self.max_ulp = max(self.max_ulp, ulp) if ulp == ulp else math.inf
            self.max_rel = max(self.max_rel, rel) if rel == rel else math.inf
            if self.worst is None or not ratio <= self.max_budget_ratio:
                self.max_budget_ratio = ratio if ratio == ratio else math.inf
                self.worst = {"input": _format_point(point), "got": repr(g),
                              "expected": mpmath.nstr(e, 17), "ulp": ulp, "budget_ulp": b}
                if budget_abs is not None:
                    self.worst["budget_abs"] = mpmath.nstr(budget_abs[c], 6)
        self.over_budget += over


@dataclass
class DerivationResult:
    """Everything ``lossproof verify`` established about one derivation."""

    name: str
    title: str = ""
    exportable: bool = False
    steps_total: int = 0
    steps_symbolic: int = 0
    steps_numeric: int = 0
    steps_interval: int = 0
    steps_passed: bool = False
    steps_error: str | None = None
    steps_seconds: float = 0.0
    steps_cached: bool = False
    points: int = 0
    adversarial_points: int = 0
    budget: Budget = COND
    max_condition: float | None = None
    numeric_name: str = "—"
    export: PairStats | None = None
    numeric: PairStats | None = None
    naive: PairStats | None = None
    export_vs_numeric: PairStats | None = None
    twins: dict[str, PairStats] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        if not self.steps_passed or self.error is not None:
            return False
        return all(p is None or p.passed for p in (self.export, self.numeric))

    def to_dict(self) -> dict[str, Any]:
        def pair(p: PairStats | None) -> dict[str, Any] | None:
            if p is None:
                return None
            out = asdict(p)
            out["passed"] = p.passed
            return out

        return {
            "name": self.name,
            "title": self.title,
            "exportable": self.exportable,
            "passed": self.passed,
            "error": self.error,
            "steps": {"total": self.steps_total, "symbolic": self.steps_symbolic,
                      "numeric": self.steps_numeric, "interval": self.steps_interval,
                      "passed": self.steps_passed,
                      "error": self.steps_error, "seconds": self.steps_seconds,
                      "cached": self.steps_cached},
            "points": self.points,
            "adversarial_points": self.adversarial_points,
            "budget": asdict(self.budget),
            "max_condition": self.max_condition,
            "numeric_function": None if self.numeric_name == "—" else self.numeric_name,
            "pairs": {"export_vs_oracle": pair(self.export),
                      "numeric_vs_oracle": pair(self.numeric),
                      "naive_vs_oracle": pair(self.naive),
                      "export_vs_numeric": pair(self.export_vs_numeric)},
            "numeric_twins": {k: pair(v) for k, v in self.twins.items()},
            "seconds": self.seconds,
        }


@dataclass
class Report:
    """The outcome of :func:`run`."""

    results: list[DerivationResult]
    points: int
    seed: int
    dps: int
    jobs: int
    seconds: float = 0.0
    names: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        from importlib.metadata import PackageNotFoundError, version

        try:
            ver = version("lossproof")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            ver = "unknown"
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": "lossproof verify",
            "version": ver,
            "settings": {"names": list(self.names), "points": self.points, "seed": self.seed,
                         "dps": self.dps, "jobs": self.jobs},
            "seconds": self.seconds,
            "passed": self.passed,
            "derivations": [r.to_dict() for r in self.results],
        }

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(_json_safe(self.to_dict()), indent=indent, allow_nan=False) + "\n"


def _json_safe(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if x != x else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    return x


# ------------------------------------------------------------------------- points


def _format_point(point: Point) -> str:
    def one(v):
        if isinstance(v, np.ndarray):
            return "[" + ", ".join(one(x) for x in v.tolist()) + "]"
        if isinstance(v, list):
            return "[" + ", ".join(one(x) for x in v) + "]"
        return repr(float(v)) if not isinstance(v, int) else str(v)

    return "(" + ", ".join(one(v) for v in point) + ")"


def _to_float_arg(value: Any) -> Any:
    """A sampled value (mpf, sympy number, or dict index -> value) as float / float64 array."""
    if isinstance(value, dict):
        keys = sorted(value)
        shape = tuple(max(k[d] for k in keys) for d in range(len(keys[0])))
        arr = np.array([float(value[k]) for k in keys], dtype=np.float64)
        return arr.reshape(shape)
    return float(value)


def _bound(b: Any, point: Mapping) -> Any:
    """A domain bound that is a symbol sampled earlier, looked up (SymPy's ``subs`` of a
    bare symbol costs ~0.4 ms a point); anything else is left to the domain."""
    import sympy

    if isinstance(b, sympy.Symbol) and b in point:
        return int(point[b])
    return b


def _resolved(dom: Any, point: Mapping) -> Any:
    """``dom`` with its symbolic bounds replaced by their sampled values (same sampling)."""
    from derive.core import IntegerRange, VectorOf
    from derive.gaussian import SPDMatrix

    if isinstance(dom, IntegerRange):
        return replace(dom, lo=_bound(dom.lo, point), hi=_bound(dom.hi, point))
    if isinstance(dom, VectorOf):
        length = (tuple(_bound(n, point) for n in dom.length) if isinstance(dom.length, tuple)
                  else _bound(dom.length, point))
        return replace(dom, length=length, element=_resolved(dom.element, point))
    if isinstance(dom, SPDMatrix):
        return replace(dom, size=_bound(dom.size, point))
    return dom


def _context(dom: Any, point: Mapping) -> Mapping:
    """What ``dom`` must see of the point sampled so far: nothing for a resolved
    ``SPDMatrix`` (its size, an int, is its only dependence, and its ``subs`` of a
    60-digit point costs ~3 ms: 40% of mvn-kl's sampling), else the point."""
    from derive.gaussian import SPDMatrix

    return {} if isinstance(dom, SPDMatrix) and isinstance(dom.size, int) else point


def _sample(domains: Mapping, assumptions: Sequence, rng: random.Random, j: int) -> dict:
    """``derive.core._sample_point`` with bounds looked up: the same points, faster."""
    point: dict = {}
    for sym, dom in domains.items():
        dom = _resolved(dom, point)
        seen = _context(dom, point)
        edges = dom.edges(seen) if j < 2 else []
        point[sym] = edges[j % len(edges)] if edges else dom.sample(rng, seen)
    for a in assumptions:
        if a.constrain is not None:
            point = a.constrain(dict(point), rng)
    return point


_PROBES = 4  # points on which an assumption must leave the parameters alone to be dropped


def _differs(a: Any, b: Any) -> bool:
    """Whether two sampled values (numbers, or dicts index -> number) differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() != b.keys() or any(bool(a[k] != b[k]) for k in a)
    return bool(a != b)


def _random_points(d, case: Case, n: int, seed: int) -> list[Point]:
    """``n`` random points of the exported function's parameters, assumptions imposed.

    An assumption whose ``constrain`` leaves the parameters' values unchanged on the first
    ``_PROBES`` random points (it fixes auxiliary symbols only, e.g. a Lagrange multiplier or a
    stationary (μ, σ) solved by findroot at ~25 ms a point) is dropped for the remaining
    points.
    """
    rng = random.Random(seed)
    out = []
    under = getattr(d, "result_assumptions", None)
    assumptions = [a for a in (d.assumptions() if under is None else list(under))
                   if a.constrain is not None]
    params = list(d.parameters)
    moves = [False] * len(assumptions)
    for j in range(n):
        with mpmath.workdps(DEFAULT_DPS):  # the precision the assumptions' constraints expect
            if j < 2:  # the domains' edges: every assumption, as derive.core does
                point = _sample(d.domains, assumptions, rng, j)
            elif j < 2 + _PROBES:
                point = _sample(d.domains, [], rng, j)
                for i, a in enumerate(assumptions):
                    new = a.constrain(dict(point), rng)
                    moves[i] = moves[i] or any(_differs(new.get(p), point.get(p))
                                               for p in params)
                    point = new
            else:
                active = [a for a, m in zip(assumptions, moves, strict=True) if m]
                point = _sample(d.domains, active, rng, j)
        args = tuple(_to_float_arg(point[p]) for p in d.parameters)
        out.append(case.fix(args) if case.fix is not None else args)
    return out


def _integer_params(d) -> set[int]:
    from derive.core import IntegerRange

    return {i for i, p in enumerate(d.parameters)
            if isinstance(d.domains.get(p), IntegerRange) or getattr(p, "is_integer", False)}


# ---------------------------------------------------------------- the comparisons


def _components(out: Any) -> list:
    return list(out) if isinstance(out, list | tuple) else [out]


def _bits(dps: int) -> int:
    return math.ceil(dps * math.log2(10))


def _reference(oracle, args: Sequence, dps: int) -> list:
    """The oracle at ``dps`` digits: its ball-arithmetic version where there is one
    (``derive.oracle_arb``: balls from ``dps`` digits' worth of bits up, until each pins
    its float64 rounding — a proof, not an estimate), else mpmath's, confirmed at higher
    precision (unless self-checked):

    Each component must agree with its value at ``dps + 20`` digits to ``dps/2`` digits;
    failing that, the precision climbs (``dps + 40``, ``2 dps``, ``4 dps``) until two
    successive values agree (or both round to 0 in float64).  A component that keeps
    shrinking by 10 orders of magnitude or more with every step is rounding noise around
    an exact 0 (a derivative of the definition where it is flat) and is 0.  Anything else
    raises :class:`OracleError`.
    """
    from derive.oracle import OracleError, _mp
    from derive.oracle_arb import reference as arb_reference

    if getattr(oracle, "arb", None) is not None:  # rigorous balls, tightened to pin float64
        return arb_reference(oracle.arb, args, prec=_bits(dps))

    def at(digits: int) -> list:
        with mpmath.workdps(digits):
            return [+v for v in _components(oracle.fn(*[_mp(a) for a in args]))]

    first = at(dps)
    if oracle.self_checked:
        return first
    history = [first]
    settled: list = [None] * len(first)
    for digits in (dps + 20, dps + 40, 2 * dps, 4 * dps):
        history.append(at(digits))
        prev, new = history[-2], history[-1]
        with mpmath.workdps(dps):
            tol = mpmath.mpf(10) ** (-(dps // 2))
            for c, (a, b) in enumerate(zip(prev, new, strict=True)):
                if settled[c] is not None:
                    continue
                if a == b or abs(a - b) <= tol * max(abs(a), abs(b)):
                    settled[c] = +b
                elif abs(a) < _HALF_TINY and abs(b) < _HALF_TINY:
                    settled[c] = mpmath.mpf(0)  # both round to 0 in float64
        if all(v is not None for v in settled):
            return settled
    with mpmath.workdps(dps):
        for c, v in enumerate(settled):
            if v is not None:
                continue
            mags = [abs(h[c]) for h in history[-3:]]
            if all(b == 0 or (a != 0 and b <= a * mpmath.mpf(10) ** -10)
                   for a, b in itertools.pairwise(mags)):
                settled[c] = mpmath.mpf(0)
                continue
            raise OracleError(
                "the reference is not stable: "
                + ", ".join(f"{mpmath.nstr(h[c], 15)}" for h in history)
                + f" at {dps}, {dps + 20}, {dps + 40}, {2 * dps}, {4 * dps} digits"
            )
    return settled


_KINDS = ("rel", "exact", "prob", "joint", "shift", "scale")


def _weights(case: Case, d, base: list, skip: set[int]) -> tuple[dict, list[list]]:
    """Perturbation size (in units of ε) of every scalar input, from the case's model.

    Returns ``{slot: w}`` and the groups of slots whose perturbations must sum to zero
    (probability vectors stay on the simplex).  A slot is ``(argument, index)``.
    """
    groups: dict[str, list] = {}
    for a, p in enumerate(d.parameters):
        spec = case.model.get(str(p), "exact" if a in skip else "rel")
        kind, _, group = spec.partition(":")
        if kind not in _KINDS:
            raise ValueError(f"{d.name}: perturbation model {spec!r} of {p} is not one of "
                             f"{_KINDS}")
        if kind == "exact":
            continue
        v = base[a]
        slots = ([((a, idx), _get(v, idx)) for idx in np.ndindex(*_shape(v))]
                 if isinstance(v, list) else [((a, ()), v)])
        groups.setdefault(group or f"#{a}", []).append((kind, isinstance(v, list), slots))
    weights: dict = {}
    simplex: list[list] = []
    for members in groups.values():
        kinds = {k for k, _, _ in members}
        if len(kinds) != 1:
            raise ValueError(f"{d.name}: a perturbation group mixes {sorted(kinds)}")
        kind = kinds.pop()
        slots = [s for _, _, ss in members for s in ss]
        values = [x for _, x in slots]
        if kind == "rel":
            w = [abs(x) for x in values]
        elif kind in ("prob", "joint"):
            vector = len(slots) > 1 or members[0][1]
            # a lone probability y is the pair (y, 1 - y): the smaller one is perturbed
            w = [abs(x) for x in values] if vector else [min(abs(values[0]), abs(1 - values[0]))]
            if vector and kind == "joint":  # the whole array is one distribution
                simplex.append([s for s, _ in slots])
            elif vector:  # each row (the last axis) is a distribution
                rows: dict = {}
                for (a, idx), _ in slots:
                    rows.setdefault((a, idx[:-1]), []).append((a, idx))
                simplex.extend(rows.values())
        elif kind == "shift":  # only differences matter: perturb them, relatively
            ref = max(values)
            w = [abs(x - ref) for x in values]
        else:  # "scale": only ratios matter: perturb the logs of the ratios, relatively
            ref = max(values)
            w = [abs(x * mpmath.log(x / ref)) if x > 0 else abs(x) for x in values]
        weights.update({s: wi for (s, _), wi in zip(slots, w, strict=True)})
    return weights, simplex


def _shape(v) -> tuple[int, ...]:
    shape = []
    while isinstance(v, list):
        shape.append(len(v))
        v = v[0] if v else None
    return tuple(shape)


def _sensitivities(oracle, case: Case, d, args: Sequence, skip: set[int], n_out: int) -> list:
    """``S_c = Σ_j w_j |∂f_c/∂x_j|`` for each output component ``c``.

    ``w_j`` is the perturbation of input ``j`` allowed by the case's model (see
    :class:`Case`); for a probability vector the perturbations must sum to zero, so its
    contribution is ``min_t Σ_k w_k |∂f/∂x_k - t|`` (a weighted median).  The partial
    derivatives are forward differences of the oracle (its ball version where there is
    one, else mpmath's) at ``_SENS_DPS`` digits with step
    ``2^(-p/2)`` (scaled by ``|x|`` below 1; ``x + h`` exact): about 20 correct digits of
    ``|f|`` — a condition number needs two.  ``n_out`` is the number of components.
    """
    from derive.oracle import _mp
    from derive.oracle_arb import reference as arb_reference

    fn = oracle.sensitivity or oracle.fn
    if getattr(oracle, "arb", None) is not None:  # the same definition in balls, faster
        def fn(*xs: Any) -> list:
            return arb_reference(oracle.arb, xs, prec=mpmath.mp.prec)

    with mpmath.workdps(_SENS_DPS):
        base = [_mp(a) for a in args]
        weights, simplex = _weights(case, d, base, skip)
        grads: dict = {}
        live = [(slot, _get(base[slot[0]], slot[1])) for slot, w in weights.items() if w != 0]
        prec = mpmath.mp.prec
        # one working precision for f(x) and every f(x + h): x + h exact for the largest x
        extra = max([0, *(int(mpmath.mag(x)) for _, x in live if x)])
        with mpmath.workprec(prec + extra + 10):
            f0 = _components(fn(*base)) if live else []
            for (a, idx), x in live:
                # forward difference, step 2^(-p/2) (relative below 1): truncation and
                # rounding both ~2^(-p/2) |f|
                h = mpmath.ldexp(1, -prec // 2) * (min(1, abs(x)) if x else 1)
                plus = _components(fn(*_with(base, a, idx, x + h)))
                grads[(a, idx)] = [(p - b) / h for p, b in zip(plus, f0, strict=True)]
        grads = {k: [+c for c in v] for k, v in grads.items()}
        total = [mpmath.mpf(0)] * n_out
        in_simplex = {s for group in simplex for s in group}
        for slot, g in grads.items():
            if slot not in in_simplex:
                total = [t + weights[slot] * abs(gc) for t, gc in zip(total, g, strict=True)]
        for group in simplex:
            live = [s for s in group if s in grads]
            for c in range(n_out):
                total[c] += _weighted_median_spread([grads[s][c] for s in live],
                                                    [weights[s] for s in live])
        return total


def _weighted_median_spread(g: list, w: list):
    """``min_t Σ_k w_k |g_k - t|`` (attained at a weighted median of ``g``)."""
    if not g:
        return mpmath.mpf(0)
    order = sorted(range(len(g)), key=lambda k: g[k])
    half, acc, t = sum(w) / 2, mpmath.mpf(0), g[order[-1]]
    for k in order:
        acc += w[k]
        if acc >= half:
            t = g[k]
            break
    return mpmath.fsum(wk * abs(gk - t) for gk, wk in zip(g, w, strict=True))


def _get(v, idx):
    for i in idx:
        v = v[i]
    return v


def _with(base: list, a: int, idx: tuple[int, ...], value) -> list:
    """``base`` with entry ``idx`` of argument ``a`` replaced (nested lists copied)."""
    out = list(base)
    if not idx:
        out[a] = value
        return out

    def put(v, rest):
        v = list(v)
        v[rest[0]] = value if len(rest) == 1 else put(v[rest[0]], rest[1:])
        return v

    out[a] = put(base[a], idx)
    return out


def _budget_abs(budget: Budget, exact, sens) -> mpmath.mpf:
    """The budget as an absolute error: ``ulp · (ulp(f) + ε S)`` (``S`` the sensitivity,
    :func:`_sensitivities`), ``ulp · ulp(f)`` for a fixed budget.  Finite always: where
    ``f`` = 0 it is ``ulp · ε S`` (plus the smallest subnormal), an error tied to the
    inputs' scale; a non-finite ``S`` forgives nothing (it is taken as 0)."""
    with mpmath.workdps(30):
        u = _ulp(exact)
        if budget.kind == "fixed" or sens is None or not mpmath.isfinite(sens):
            return budget.ulp * u
        return budget.ulp * (u + _EPS * abs(sens))


def _budget_ulp(budget: Budget, exact, sens) -> float:
    """:func:`_budget_abs` in ULPs of ``exact`` (for reports: ``inf`` where ``exact`` is 0
    and the budget exceeds float64's range of ULPs of 0 — compare with the absolute)."""
    if budget.kind == "fixed" or not sens:
        return budget.ulp
    with mpmath.workdps(30):
        return float(_budget_abs(budget, exact, sens) / _ulp(exact))


def _abs_ratio(g: float, exact, allowed, ulp: float) -> float:
    """``|g - exact| / allowed`` (``ulp`` = :func:`ulp_error` decides non-finite cases)."""
    if not math.isfinite(g):
        return 0.0 if ulp == 0 else math.inf
    with mpmath.workdps(30):
        err = abs(mpmath.mpf(g) - exact)
        if err == 0:
            return 0.0
        return float(err / allowed) if allowed > 0 else math.inf


def _condition(exact, sens) -> float:
    """κ = S/|f| where ``f`` is a nonzero float64 number (else 0: no relative error)."""
    with mpmath.workdps(30):
        if sens == 0 or exact == 0 or not _HALF_TINY <= abs(exact) <= _MAX:
            return 0.0
        return float(sens / abs(exact))


def _call(fn: Callable, args: Point) -> np.ndarray:
    with np.errstate(all="ignore"):  # non-finite outputs are counted, not warned about
        out = fn(*[np.array(a, dtype=np.float64) if isinstance(a, np.ndarray)
                   else np.float64(a) for a in args])
    return np.asarray(out, dtype=np.float64).ravel()


def _exporter(name: str, naive: bool) -> Callable:
    from derive.export import export

    return export(name, "numpy", naive=naive)


def _exportable(name: str) -> bool:
    from derive.export import exportable

    return exportable(name)


def _crosscheck(name: str, res: DerivationResult, *, points: int, seed: int, dps: int) -> None:
    from derive.core import get
    from derive.oracle import ORACLES

    d = get(name)
    case = CASES.get(name, Case())
    oracle = ORACLES.get(name)
    if oracle is None:
        raise LookupError(f"no oracle is registered for {name!r} (add one to derive/oracle.py)")
    params = tuple(str(p) for p in d.parameters)
    if params != oracle.params:
        raise LookupError(
            f"the oracle of {name!r} takes {oracle.params}, the derivation exports {params}"
        )
    res.budget = case.budget
    res.numeric_name = case.numeric_name
    edges = [tuple(e) for e in case.edges()]
    # ``share`` thins the random points, but never below a total of ``points`` per derivation
    n_random = max(math.ceil(points * case.share), points - len(edges), 0)
    pts = _random_points(d, case, n_random, seed) + edges
    res.points, res.adversarial_points = len(pts), len(edges)
    skip = _integer_params(d)
    routes: dict[str, tuple[Callable | None, bool]] = {
        "export": (_exporter(name, naive=False), True),
        "numeric": (case.numeric, True),
        "naive": (_exporter(name, naive=True), False),
    }
    routes.update({f"twin:{t.name}": (t.fn, True) for t in case.twins})
    stats = {k: PairStats(required=req) for k, (fn, req) in routes.items() if fn is not None}
    vs_numeric = PairStats(required=False) if case.numeric is not None else None
    max_cond = 0.0
    for pt in pts:
        exact = _reference(oracle, pt, dps)
        outs: dict[str, np.ndarray] = {}
        for key, st in stats.items():
            if st.error is not None:
                continue
            try:
                got = _call(routes[key][0], pt)
            except NotApplicable:  # a twin outside its scope
                continue
            except Exception as exc:  # a route that raises on a valid input fails
                if st.required:
                    st.error = f"{type(exc).__name__}: {exc} at {_format_point(pt)}"
                    continue
                got = np.full(len(exact), np.nan)  # the naive form: count it as NaN
            if got.size != len(exact):
                st.error = (f"returned {got.size} values, the oracle {len(exact)}, "
                            f"at {_format_point(pt)}")
                continue
            outs[key] = got
        # the budget is base × (1 + κ) >= base: κ (the costly part) is only needed where
        # some output is off by more than the base budget
        sens = None
        if case.budget.kind == "cond" and any(
                ulp_error(float(g), e) > case.budget.ulp
                for got in outs.values() for g, e in zip(got, exact, strict=True)):
            sens = _sensitivities(oracle, case, d, pt, skip, len(exact))
            max_cond = max([max_cond, *(_condition(e, s) for e, s in zip(exact, sens,
                                                                            strict=True))])
        budgets = [_budget_ulp(case.budget, e, sens[c] if sens else 0)
                   for c, e in enumerate(exact)]
        # where κ was needed, compare absolute errors (ULPs of an exact 0 overflow float64)
        absolute = ([_budget_abs(case.budget, e, sens[c]) for c, e in enumerate(exact)]
                    if sens else None)
        for key, got in outs.items():
            stats[key].add(got, exact, budgets, pt, case.budget.ulp, budget_abs=absolute)
        if vs_numeric is not None and "export" in outs and "numeric" in outs:
            vs_numeric.add(outs["export"], [mpmath.mpf(float(n)) for n in outs["numeric"]],
                           [2 * b for b in budgets], pt, 2 * case.budget.ulp,
                           budget_abs=[2 * a for a in absolute] if absolute else None)
    res.max_condition = max_cond if case.budget.kind == "cond" else None
    res.export = stats.get("export")
    numeric_routes(case, res, stats)
    res.naive = stats.get("naive")
    res.export_vs_numeric = vs_numeric


# --------------------------------------------------------------- the steps' cache
#
# The outcome of re-checking the steps is cached on disk by ``derive.stepcache`` (keyed on
# the whole ``derive`` source, the library versions, the name and the settings; entries are
# validated before use); ``cache=False`` re-checks and refreshes the entry.


def _steps_key(name: str, *, dps: int, seed: int) -> str:
    from derive import core, stepcache

    settings = {"dps": dps, "seed": seed, "points": core.DEFAULT_POINTS}
    return stepcache.digest(name, settings,
                            extra=stepcache.extra_sources(core.source_module(name)))


def _check_steps(name: str, res: DerivationResult, *, dps: int, seed: int, cache: bool) -> None:
    from derive import stepcache

    key = _steps_key(name, dps=dps, seed=seed)
    record = stepcache.load(name, key, total=res.steps_total) if cache else None
    res.steps_cached = record is not None
    if record is None:
        record = _steps_record(name, total=res.steps_total, dps=dps, seed=seed)
        stepcache.store(name, key, record)
    res.steps_passed, res.steps_error = record.passed, record.error
    res.steps_symbolic, res.steps_numeric = record.symbolic, record.numeric
    res.steps_interval = record.interval
    res.steps_seconds = record.seconds


def _steps_record(name: str, *, total: int, dps: int, seed: int):
    """Check the steps of ``name`` now: a ``stepcache.StepRecord``."""
    from derive.core import DerivationError, get
    from derive.stepcache import StepRecord

    t1 = time.perf_counter()
    try:
        reports = get(name).verify(dps=dps, seed=seed)
    except DerivationError as exc:
        return StepRecord(total=total, symbolic=0, numeric=0, passed=False,
                          error=str(exc).splitlines()[0], seconds=time.perf_counter() - t1)
    symbolic = sum(1 for r in reports if r.symbolic or r.definition)
    interval = sum(1 for r in reports if r.checked_by == "interval")
    return StepRecord(total=total, symbolic=symbolic, numeric=len(reports) - symbolic,
                      passed=True, error=None, seconds=time.perf_counter() - t1,
                      interval=interval)


def verify_one(name: str, *, points: int = DEFAULT_POINTS, seed: int = DEFAULT_SEED,
               dps: int = DEFAULT_DPS, steps: bool = True,
               cache: bool = True) -> DerivationResult:
    """Steps, then the three-way cross-check, of one derivation (never raises).

    ``steps=False`` skips re-checking the steps; ``cache=False`` re-checks them even when
    the sources are unchanged since they were last checked, and stores the fresh outcome.
    """
    from derive.core import get, meta

    t0 = time.perf_counter()
    res = DerivationResult(name=name, title=meta(name)["title"])
    try:
        d = get(name)
        res.steps_total = len(d.steps) + 1  # the steps and the result
        if steps:
            _check_steps(name, res, dps=dps, seed=seed, cache=cache)
        else:
            res.steps_passed = True
        res.exportable = _exportable(name)
        if res.exportable:
            _crosscheck(name, res, points=points, seed=seed, dps=dps)
    except Exception as exc:  # report, never crash the whole run
        res.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        if os.environ.get("LOSSPROOF_DEBUG"):
            traceback.print_exc()
    res.seconds = time.perf_counter() - t0
    return res


# ---------------------------------------------------------------------------- run


def _prepare(names: Sequence[str], dps: int) -> None:
    """Import what every worker needs, once, before forking (each builds its own
    derivations, in parallel), and compute mpmath's Gauss–Legendre nodes at ``dps`` if a
    quadrature oracle will need them (about a second, which every worker would repeat)."""
    import derive.export  # noqa: F401
    from derive import oracle

    try:
        import numeric  # noqa: F401
    except ImportError:  # pragma: no cover - numeric is part of the package
        pass
    if any(n in oracle.ORACLES and oracle.ORACLES[n].method == "quad" for n in names):
        oracle.warm_quadrature(dps)


def _worker(args: tuple[str, int, int, int, bool]) -> DerivationResult:
    name, points, seed, dps, cache = args
    return verify_one(name, points=points, seed=seed, dps=dps, cache=cache)


def run(
    names: Iterable[str] | None = None,
    *,
    points: int = DEFAULT_POINTS,
    seed: int = DEFAULT_SEED,
    dps: int = DEFAULT_DPS,
    jobs: int | None = None,
    cache: bool = True,
    progress: Callable[[DerivationResult, int, int], None] | None = None,
) -> Report:
    """Verify ``names`` (default: every registered derivation) and cross-check them.

    ``jobs`` worker processes (default: the number of CPUs) share the work, one derivation
    at a time each; ``progress(result, done, total)`` is called as each one finishes.
    ``cache=False`` re-checks every derivation's steps even if its sources are unchanged
    (and refreshes the cache).  Interrupted (``KeyboardInterrupt``, or any exception raised
    by a signal handler or ``progress``), it stops the workers before re-raising.  Unknown
    names raise ``KeyError`` before anything runs.
    """
    from derive import stepcache
    from derive.core import _unknown
    from derive.core import names as registered

    t0 = time.perf_counter()
    all_names = registered()
    todo = list(all_names if names is None else names)
    for n in todo:
        if n not in all_names:
            raise KeyError(_unknown(n))
    if points < 0:
        raise ValueError(f"points: must be >= 0, got {points}")
    if dps < 50:
        raise ValueError(f"dps: at least 50 digits are needed, got {dps}")
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    results: dict[str, DerivationResult] = {}
    if jobs == 1:
        for i, n in enumerate(todo, start=1):
            r = verify_one(n, points=points, seed=seed, dps=dps, cache=cache)
            results[n] = r
            if progress is not None:
                progress(r, i, len(todo))
    else:
        from derive.parallel import WorkerPool

        _prepare(todo, dps)
        order = stepcache.schedule(
            todo, cached=lambda n: cache and stepcache.entry_path(
                n, _steps_key(n, dps=dps, seed=seed)).exists())
        tasks = [(n, points, seed, dps, cache) for n in order]
        with WorkerPool(jobs) as pool:
            for i, (task, r) in enumerate(pool.map_unordered(_worker, tasks), start=1):
                if isinstance(r, BaseException):  # a worker died
                    r = DerivationResult(name=task[0], error=f"{type(r).__name__}: {r}")
                results[task[0]] = r
                if progress is not None:
                    progress(r, i, len(todo))
    stepcache.store_timings({
        r.name: (max(0.0, r.seconds - (0.0 if r.steps_cached else r.steps_seconds)),
                 r.steps_seconds)
        for r in results.values() if r.error is None})
    return Report(results=[results[n] for n in todo], points=points, seed=seed, dps=dps,
                  jobs=jobs, seconds=time.perf_counter() - t0, names=todo)


def crosscheck_rows(name: str, *, seed: int = DEFAULT_SEED, points: int = DEFAULT_POINTS,
                    dps: int = DEFAULT_DPS) -> list[tuple[str, int, float]]:
    """``[(route, points, error), ...]`` for the proof documents.

    One row per ``numeric`` route (the case's ``numeric`` and its twins).  ``error`` is the
    figure ``lossproof verify`` prints: the largest error against the
    oracle in float64 ULPs ÷ (1 + κ), κ the condition number where it matters (the raw
    ULPs of an ill-conditioned point say nothing about the code).  Empty for a derivation
    whose result is not exportable.  The steps are not re-run (the documents report them
    separately).
    """
    res = verify_one(name, points=points, seed=seed, dps=dps, steps=False)
    if res.error is not None:
        raise RuntimeError(f"{name}: cross-check failed: {res.error}")
    rows = []
    numeric = list(res.twins.items()) if res.twins else [(res.numeric_name, res.numeric)]
    for label, pair in (("exported NumPy (stable)", res.export), *numeric,
                        ("naive lambdify", res.naive)):
        if pair is not None:
            rows.append((label, pair.points, pair.max_ulp_scaled))
    return rows


# -------------------------------------------------------------------------- table


def _fmt_ulp(p: PairStats | None) -> str:
    if p is None:
        return "—"
    if p.error is not None:
        return "error"
    u = p.max_ulp_scaled
    if math.isinf(u) or u != u:
        s = "inf" if u == u else "nan"
    elif u < 10:
        s = f"{u:.2g}" if u else "0"
    elif u < 1e5:
        s = f"{u:.0f}"
    else:
        s = f"{u:.1e}"
    if p.over_budget:
        s += f" ({p.over_budget}✗)"
    return s


def format_table(report: Report) -> str:
    """The table printed by ``lossproof verify``."""
    header = ("derivation", "steps sym/box/smp", "points", "export", "numeric", "naive (info)",
              "result")
    rows = []
    for r in report.results:
        failing = re.search(r"step (\d+)", r.steps_error or "")
        steps = (f"{r.steps_symbolic}/{r.steps_interval}/{r.steps_numeric - r.steps_interval}"
                 if r.steps_passed
                 else f"FAIL at {failing.group(1)}" if failing else "FAIL")
        steps += "*" if r.steps_cached else ""
        rows.append((
            r.name,
            steps,
            str(r.points) if r.exportable else "—",
            _fmt_ulp(r.export),
            _fmt_ulp(r.numeric),
            _fmt_ulp(r.naive),
            "pass" if r.passed else "FAIL",
        ))
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    failed = [r for r in report.results if not r.passed]
    lines.append("")
    lines += [  # the legend: what the columns mean, and which of them decide the result
        "steps sym/box/smp: proved by SymPy / by interval arithmetic / not proved (sampled, "
        "searched).",
        "export, numeric, naive: worst error vs the mpmath oracle in float64 ULPs ÷ (1 + κ), "
        "κ the",
        "condition number; (n✗) = points over the budget of 4; — = no counterpart. naive (the "
        "formula",
        "as written, not made stable) is for contrast only: result = steps, export and numeric.",
    ]
    cached = sum(r.steps_cached for r in report.results)
    if cached:
        lines.append(f"* steps of {cached} derivation(s) re-used from the cache: sources "
                     "unchanged since checked (--no-cache re-checks).")
    n = len(report.results)
    lines.append(f"points: {report.points} a derivation at least (random + adversarial); "
                 f"seed {report.seed}; oracle at {report.dps} digits")
    lines.append(f"{n - len(failed)}/{n} passed in {report.seconds:.1f} s "
                 f"({report.jobs} job{'s' if report.jobs != 1 else ''})")
    for r in failed:
        lines.append(f"FAIL {r.name}: {_why(r)}")
    return "\n".join(lines) + "\n"


def _why(r: DerivationResult) -> str:
    if r.error:
        return r.error
    if not r.steps_passed:
        msg = r.steps_error or "steps do not verify"
        return msg[len(r.name) + 2:] if msg.startswith(r.name + ": ") else msg
    parts = []
    numeric = list(r.twins.items()) if r.twins else [(r.numeric_name, r.numeric)]
    for label, p in [("export", r.export), *numeric]:
        if p is None or p.passed:
            continue
        if p.error:
            parts.append(f"{label}: {p.error}")
        elif p.worst is not None:
            w = p.worst
            parts.append(f"{label}: {p.over_budget} point(s) over budget, worst at {w['input']}: "
                         f"got {w['got']}, expected {w['expected']} ({w['ulp']:.3g} ULP, "
                         f"budget {w['budget_ulp']:.3g})")
    return "; ".join(parts)


# =========================================================================== cases
#
# The adversarial points and the numeric counterpart of each exportable derivation.
# Arguments are in the order of the derivation's ``parameters``.


def _numeric(fn_name: str, **kwargs: Any) -> Callable[..., Any]:
    """``numeric.<fn_name>(*args, **kwargs)``, imported when first called."""

    def call(*args: Any, **more: Any) -> Any:
        import numeric

        return getattr(numeric, fn_name)(*args, **kwargs, **more)

    call.__name__ = fn_name
    return call


def _nextafter(x: float, n: int = 1) -> float:
    for _ in range(abs(n)):
        x = math.nextafter(x, math.inf if n > 0 else -math.inf)
    return x


def _gaussian_kl_edges() -> list[Point]:
    one_up = _nextafter(1.0)
    return [
        (0.0, 1.0, 0.0, 1.0),                       # identical: exactly 0
        (3.0, 1.0, 3.0 + 1e-8, 1.0 + 1e-9),         # Δμ ~ 1e-8, σ2/σ1 - 1 ~ 1e-9
        (0.0, 1.0, 1e-8, 1.0),                      # Δμ only
        (0.0, 1.0 + 1e-9, 0.0, 1.0),                # σ ratio only
        (0.0, 1.0, 0.0, one_up),                    # σ one ULP apart
        (-7.0, 2.5, _nextafter(-7.0), 2.5),         # μ one ULP apart
        (1e16, 1.0, 1e16 + 2.0, 1.0),               # common offset 1e16
        (0.0, 30.0, 1.0, 30.0),                     # σ = 30 (SymPy's integrate overflows)
        (0.0, 30.0, 0.0, 31.0),
        (0.0, 1e-300, 0.0, 1e300),                  # extreme scale ratios
        (0.0, 1e300, 0.0, 1e-300),                  # KL beyond float64: inf
        (1e150, 1.0, -1e150, 1.0),                  # (Δμ/σ)² near the top of the range
        (1e-300, 1e-300, 0.0, 1e-300),              # tiny everything: KL = 1/2
        (0.0, 1e-8, 0.0, 1.0),                      # σ1 ≪ σ2
        (0.0, 1.0, 0.0, 1e-8),                      # σ1 ≫ σ2
    ]


def _simplex(*positions: int, joint: bool = False) -> Callable[[Point], Point]:
    """A ``fix``: make each row of the arguments at ``positions`` (the whole array if
    ``joint``) sum to exactly 1 in float64.

    Entries are rounded to multiples of 2^-40 and the largest takes the exact remainder,
    so every entry and the sum are exact (an entry below 2^-41 becomes 0).
    """

    def fix(point: Point) -> Point:
        out = list(point)
        for a in positions:
            v = np.array(point[a], dtype=np.float64)
            # each row (last axis) is a distribution, or the whole array is one
            rows = v.reshape(1, -1) if joint else v.reshape(-1, v.shape[-1])
            for r in rows:
                m = np.rint(r / r.sum() * 2.0**40)
                big = int(np.argmax(m))
                m[big] = 0
                m[big] = 2.0**40 - m.sum()
                r[:] = m / 2.0**40
            out[a] = rows.reshape(v.shape)
        return tuple(out)

    return fix


def _onehot(k: int, i: int) -> np.ndarray:
    v = np.zeros(k)
    v[i] = 1.0
    return v


_LOGIT_EDGES = (0.0, -0.0, 5e-324, 1e-300, -1e-300, 1.0, -1.0, 36.8, -36.8, 40.0, -40.0,
                709.0, -745.0, 800.0, -800.0, 1e3, -1e3, 1e16, 1e300, -1e300)


def _bce_gradient_edges() -> list[Point]:
    pts = [(z, y) for z in _LOGIT_EDGES for y in (0.0, 1.0)]
    pts += [(z, y) for z in (0.0, 1e-300, 2.0, -2.0, 40.0, -40.0, 1e300) for y in (0.5, 0.25)]
    return pts


def _bce_probability_edges() -> list[Point]:
    below_one = _nextafter(1.0, -1)
    pts = [(0.05, 1.0)]  # the seed's case: -20
    pts += [(p, y) for p in (5e-324, 1e-300, 1e-16, 0.5, 0.999, 1 - 1e-10, below_one)
            for y in (0.0, 1.0, 0.5)]
    pts += [(0.3, 0.3), (_nextafter(0.3), 0.3), (0.7, 0.7)]  # p̂ = y: exactly 0, or nearly
    return pts


def _softmax_ce_edges() -> list[Point]:
    return [
        (np.zeros(3), _onehot(3, 0)),                            # uniform prediction
        (np.array([50.0, 0.0, 0.0]), _onehot(3, 0)),             # confident and correct
        (np.array([800.0, 0.0, -800.0]), _onehot(3, 0)),
        (np.array([1e300, -1e300, 0.0]), _onehot(3, 1)),         # huge logits, wrong class
        (np.array([1e300, 1e300, -1e300]), np.array([0.5, 0.5, 0.0])),
        (np.array([1e16, 1e16, 1e16 + 2.0]), _onehot(3, 0)),     # common offset 1e16
        (np.array([1e3, 1e3, -1e3]), np.array([0.5, 0.5, 0.0])),
        (np.array([0.0, 0.0]), np.array([0.5, 0.5])),            # gradient exactly 0
        (np.array([-1e-300, 1e-300, 0.0, 5e-324]), np.array([0.25, 0.25, 0.25, 0.25])),
        (np.array([3.0, -2.0, 0.5, 7.0, -30.0]),
         np.array([0.5, 0.25, 0.125, 0.0625, 0.0625])),
        (np.array([20.0, -20.0, 0.0]), np.array([0.5, 2.0**-54, 0.5 - 2.0**-54])),
    ]


def _softmax_edges() -> list[Point]:
    return [(z,) for z, _ in _softmax_ce_edges()] + [
        (np.array([-1e300, -1e300, -1e300]),),    # all equal and huge: uniform
        (np.array([709.0, 710.0]),),              # exp overflows
        (np.array([-745.0, -746.0, 0.0]),),       # exp underflows
    ]


def _temperature_edges() -> list[Point]:
    pts = [(z, y, t) for z, y in _softmax_ce_edges()[:6] for t in (1.0, 0.01, 100.0)]
    pts += [
        (np.array([1.0, 0.0, -1.0]), _onehot(3, 0), 1e-300),   # z/T = ±1e300
        (np.array([1.0, 0.0, -1.0]), _onehot(3, 2), 1e300),    # z/T tiny: uniform
        (np.array([3.0, 3.0]), np.array([0.5, 0.5]), 0.25),    # gradient exactly 0
    ]
    return pts


def _numeric_mean(fn_name: str) -> Callable[..., Any]:
    """The mean of ``numeric.<fn_name>`` over its last axis (one loss per example)."""
    inner = _numeric(fn_name)

    def call(*args: Any) -> Any:
        return np.mean(inner(*args), axis=-1)

    return call


def _mse_nll_edges() -> list[Point]:
    a = np.array([0.5, -1.5, 2.0])
    return [
        (a, a, 1.0),                                   # no residual: log(2πσ²)/2 only
        (a, a, 0.3989422804014327),                    # 2πσ² ≈ 1: NLL ≈ 0
        (a, a + 1e-8, 1.0),
        (a, a + 1.0, 1e-300),                          # residual²/σ² beyond the range: inf
        (a, a + 1.0, 1e300),
        (np.array([1e300]), np.array([-1e300]), 1.0),  # residual² overflows: inf
        (np.array([1e150]), np.array([-1e150]), 1e150),
        (np.array([1e16, 1e16 + 2.0]), np.array([1e16 + 2.0, 1e16]), 1.0),
    ]


def _nll_ce_edges() -> list[Point]:
    q = np.array([[0.5, 0.25, 0.25], [2.0**-54, 0.5, 0.5 - 2.0**-54]])
    return [
        (q, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])),
        (q, np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])),      # a label with q = 2^-54
        (np.array([[1.0 - 2.0**-53, 2.0**-53]]), np.array([[1.0, 0.0]])),  # confident, right
        (np.array([[2.0**-1000, 1.0 - 2.0**-53, 2.0**-53]]),   # sums to 1 + 2^-1000
         np.array([[1.0, 0.0, 0.0]])),                           # q = 2^-1000 on the label
    ]


def _mle_categorical_edges() -> list[Point]:
    return [
        (np.array([1.0, 1.0, 1.0]),),
        (np.array([1.0, 1e6]),),
        (np.array([3.0, 7.0, 1e9, 1.0]),),
        (np.array([2.0**52, 1.0, 1.0]),),
    ]


def _mle_gaussian_edges() -> list[Point]:
    return [
        (np.array([0.0, 1.0]),),
        (np.array([1e8, 1e8 + 1.0, 1e8 + 3.0]),),          # naive E[x²] - E[x]² cancels
        (np.array([1e16, 1e16 + 2.0, 1e16 + 4.0, 1e16]),),
        (np.array([1e300, -1e300]),),                       # σ̂² = 1e600: inf
        (np.array([1e150, -1e150, 0.0]),),
        (np.array([1e-300, 3e-300, 2e-300]),),
        (np.array([3.0, 3.0, _nextafter(3.0)]),),          # nearly constant
    ]


def _dyadic(*values: float) -> np.ndarray:
    """A probability vector whose entries and sum are exact (checked)."""
    from fractions import Fraction

    v = np.array(values, dtype=np.float64)
    if sum(map(Fraction, v.tolist())) != 1:
        raise ValueError(f"{values} does not sum to exactly 1")
    return v


def _near(p: np.ndarray, delta: float) -> np.ndarray:
    """``p`` with ``delta`` moved from its first entry to its last: still exactly normalised
    when ``delta`` is a power of two small enough for both entries to hold it exactly."""
    q = p.copy()
    q[0] -= delta
    q[-1] += delta
    return q


_P3 = _dyadic(0.5, 0.25, 0.25)
_P4 = _dyadic(0.125, 0.375, 0.25, 0.25)


def _two_distribution_edges() -> list[Point]:
    return [
        (_P3, _P3),                                        # p = q
        (_P3, _near(_P3, 2.0**-40)),                       # relative difference ~1e-12
        (_P3, _near(_P3, 2.0**-52)),                       # one ULP apart
        (_P4, _near(_P4, 2.0**-20)),
        (_dyadic(0.5, 0.5), _dyadic(2.0**-52, 1 - 2.0**-52)),  # q nearly one-hot, wrong
        (_dyadic(1 - 2.0**-52, 2.0**-52), _dyadic(0.5, 0.5)),  # p nearly one-hot
        (_P4, _dyadic(0.25, 0.25, 0.25, 0.25)),
        (_dyadic(0.25, 0.25, 0.25, 0.25), _dyadic(2.0**-30, 0.5 - 2.0**-30, 0.25, 0.25)),
    ]


def _zero_p_edges() -> list[Point]:
    """Zeros in p (0 log 0 = 0) and in q where p is 0 too."""
    return [
        (_dyadic(0.5, 0.5, 0.0), _P3),
        (_dyadic(0.75, 0.0, 0.25), _dyadic(0.25, 0.5, 0.25)),
        (_dyadic(1.0, 0.0), _dyadic(0.5, 0.5)),
        (_dyadic(0.5, 0.5, 0.0), _dyadic(0.5, 0.5 - 2.0**-40, 2.0**-40)),
        (_dyadic(0.5, 0.5, 0.0), _dyadic(0.5, 0.5, 0.0)),            # exactly 0
    ]


def _joint_edges() -> list[Point]:
    return [
        (np.array([[0.25, 0.25], [0.25, 0.25]]),),                  # independent: I = 0
        (np.array([[0.5, 0.0], [0.0, 0.5]]),),                      # a zero cell: 0 log 0
        (np.array([[0.25 + 2.0**-40, 0.25 - 2.0**-40],
                   [0.25 - 2.0**-40, 0.25 + 2.0**-40]]),),           # near independence
        (np.array([[1 - 2.0**-52, 2.0**-53], [2.0**-54, 2.0**-54]]),),
        (np.array([[0.125, 0.125, 0.25], [0.0625, 0.1875, 0.25]]),),
    ]


def _self_information_edges() -> list[Point]:
    return [(px, py, b)
            for px, py in ((0.5, 0.25), (1e-300, 1e-300), (5e-324, 0.5), (1 - 2.0**-53, 0.5),
                           (1 - 2.0**-53, 1 - 2.0**-53), (1.0, 1.0), (1.0, 0.1))
            for b in (2.0, math.e, 10.0, 1 + 2.0**-52)]


def _one_hot_ce_edges() -> list[Point]:
    q = _dyadic(2.0**-54, 0.5, 0.5 - 2.0**-54)
    return [(q, float(y)) for y in (1, 2, 3)] + [
        (_dyadic(1 - 2.0**-53, 2.0**-53), 1.0),      # confident and right: H ~ 1e-16
        (_dyadic(1 - 2.0**-53, 2.0**-53), 2.0),
        (np.array([5e-324, 1.0]), 1.0),              # q = the smallest float (sum 1 + tiny)
    ]


def _distillation_edges() -> list[Point]:
    z3 = np.zeros(3)
    return [
        (z3, z3, 1.0),                                                 # equal: gradient 0
        (np.array([1.0, 0.0, -1.0]), np.array([1.0, 0.0, -1.0]), 4.0),
        (np.array([1.0, 0.0, -1.0]), _nextafter(1.0) * np.array([1.0, 0.0, -1.0]), 2.0),
        (np.array([30.0, 0.0, -30.0]), np.array([-30.0, 0.0, 30.0]), 0.25),
        (np.array([1e3, 0.0, -1e3]), np.array([0.0, 1e3, 0.0]), 1.0),
        (np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0]), 1e6),     # high temperature
        (np.array([1e16, 1e16 + 2.0, 1e16]), np.array([1e16, 1e16, 1e16 + 2.0]), 1.0),
    ]


def _label_smoothing_edges() -> list[Point]:
    pts = [(z, y, e) for z, y in _softmax_ce_edges()[:7] for e in (0.0, 0.1, 2.0**-40)]
    pts += [(np.array([3.0, -1.0]), _onehot(2, 0), 0.5), (np.zeros(4), _onehot(4, 2), 1.0)]
    return (pts + _tw.onehot_points(12, 8, lambda rng: (rng.uniform(0.0, 1.0),))
            + _tw.smoothable_points(13, 8))


def _mle_bernoulli_edges() -> list[Point]:
    return [
        (np.array([0.0, 1.0]),),                         # n1/n = 1/2
        (np.array([1.0, 1.0, 0.0]),),                    # 2/3: rounded division
        (np.r_[1.0, np.zeros(199)],),                    # one success in 200
        (np.r_[np.ones(199), 0.0],),                     # one failure in 200
        (np.tile([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 30),),   # 30/210 = 1/7
    ]


_GAUSS_MODEL = {"mu1": "shift:mu", "mu2": "shift:mu",
                "sigma1": "scale:sigma", "sigma2": "scale:sigma"}

_PQ = {"p": "prob", "q": "prob"}

from derive import _twins as _tw  # noqa: E402

CASES.update({
    "self-information-additivity": Case(
        numeric=lambda px, py, b: (_numeric("self_information")(px, base=b)
                                   + _numeric("self_information")(py, base=b)),
        numeric_name="numeric.self_information(p_x) + (p_y)",
        edges=_self_information_edges, model={"p_x": "prob", "p_y": "prob"},
        invalid=_tw.INVALID["self-information-additivity"],
    ),
    "ce-equals-entropy-plus-kl": Case(
        numeric=_numeric("cross_entropy"), numeric_name="numeric.cross_entropy",
        edges=_two_distribution_edges, fix=_simplex(0, 1), model=_PQ,
        twins=_tw.CE_TWINS, invalid=_tw.PQ_INVALID,
    ),
    "cross-entropy-one-hot": Case(
        numeric=lambda q, y: _numeric("cross_entropy")(_onehot(len(q), int(y) - 1), q),
        numeric_name="numeric.cross_entropy(one-hot, q)",
        edges=_one_hot_ce_edges, fix=_simplex(0), model={"q": "prob", "y": "exact"},
        twins=_tw.ONE_HOT_CE_TWINS, invalid=_tw.INVALID["cross-entropy-one-hot"],
    ),
    "entropy-chain-rule": Case(
        numeric=_numeric("joint_entropy"), numeric_name="numeric.joint_entropy",
        edges=_joint_edges, fix=_simplex(0, joint=True), model={"p": "joint"},
        twins=_tw.CHAIN_RULE_TWINS, invalid=_tw.JOINT_INVALID,
    ),
    "mutual-information-identities": Case(
        numeric=_numeric("mutual_information"), numeric_name="numeric.mutual_information",
        edges=_joint_edges, fix=_simplex(0, joint=True), model={"p": "joint"},
        twins=_tw.MI_TWINS, invalid=_tw.JOINT_INVALID,
    ),
    "kl-nonnegative": Case(
        numeric=_numeric("kl_divergence"), numeric_name="numeric.kl_divergence",
        edges=lambda: _two_distribution_edges() + _zero_p_edges(), fix=_simplex(0, 1),
        model=_PQ, twins=_tw.KL_TWINS, invalid=_tw.PQ_INVALID,
    ),
    "entropy-maximum-uniform": Case(
        numeric=_numeric("entropy"), numeric_name="numeric.entropy",
        edges=lambda: [(p,) for p, _ in _two_distribution_edges()] + [(_dyadic(1.0, 0.0),)],
        fix=_simplex(0), model={"p": "prob"},
        twins=_tw.ENTROPY_TWINS, invalid=_tw.ENTROPY_INVALID,
    ),
    "perplexity-base-invariance": Case(
        numeric=lambda p, q: _numeric("perplexity")(_numeric("cross_entropy")(p, q)),
        numeric_name="numeric.perplexity(numeric.cross_entropy)",
        edges=_two_distribution_edges, fix=_simplex(0, 1), model=_PQ,
        twins=_tw.PERPLEXITY_TWINS, invalid=_tw.INVALID["perplexity"],
    ),
    "perplexity-of-cross-entropy": Case(
        numeric=lambda p, q: _numeric("perplexity")(_numeric("cross_entropy")(p, q)),
        numeric_name="numeric.perplexity(numeric.cross_entropy)",
        edges=_two_distribution_edges, fix=_simplex(0, 1), model=_PQ,
        invalid=_tw.INVALID["perplexity"],
    ),
    "mse-vs-bce-gradient": Case(edges=_bce_gradient_edges, model={"y": "prob"},
                                twins=_tw.MSE_GRAD_TWINS),
    "label-smoothing": Case(
        numeric=lambda z, y, e: _numeric("softmax_cross_entropy_grad")(z, y, label_smoothing=e),
        numeric_name="numeric.softmax_cross_entropy_grad(label_smoothing=ε)",
        edges=_label_smoothing_edges, fix=_simplex(1),
        model={"z": "shift", "y": "prob", "epsilon": "rel"},  # ε enters ε/K: relative
        twins=_tw.LABEL_SMOOTHING_TWINS, invalid=_tw.LABEL_SMOOTHING_INVALID,
    ),
    "distillation-gradient": Case(
        numeric=lambda s, t, T: _numeric("distillation_loss_grad")(s, t, temperature=T),
        numeric_name="numeric.distillation_loss_grad",
        edges=_distillation_edges, model={"s": "shift", "t": "shift"}, share=0.5,
        invalid=_tw.INVALID["distillation-gradient"],
    ),
    "binary-as-two-class-softmax": Case(
        numeric=_numeric("binary_cross_entropy_with_logits"),
        numeric_name="numeric.binary_cross_entropy_with_logits",
        edges=_bce_gradient_edges, model={"y": "prob"},
        twins=_tw.BINARY_TWINS, invalid=_tw.BINARY_INVALID,
    ),
    "softmax-shift-invariance": Case(
        numeric=_numeric("softmax"), numeric_name="numeric.softmax",
        edges=_softmax_edges, model={"z": "shift"},
        twins=_tw.SOFTMAX_TWINS, invalid=_tw.SOFTMAX_INVALID,
    ),
    "temperature-softmax-gradient": Case(
        numeric=lambda z, y, t: _numeric("softmax_cross_entropy_grad")(z, y, temperature=t),
        numeric_name="numeric.softmax_cross_entropy_grad(temperature=T)",
        edges=_temperature_edges, fix=_simplex(1), model={"z": "shift", "y": "prob"},
        twins=_tw.TEMPERATURE_TWINS, invalid=_tw.TEMPERATURE_INVALID,
    ),
    "mle-categorical": Case(edges=_mle_categorical_edges, model={"n": "exact"}, share=0.5),
    "mle-gaussian": Case(edges=_mle_gaussian_edges, model={"x": "shift"}, share=0.5),
    "mse-is-gaussian-nll": Case(
        numeric=lambda yhat, y, sigma: _numeric_mean("gaussian_nll")(y, yhat, sigma),
        numeric_name="mean of numeric.gaussian_nll",
        edges=_mse_nll_edges, twins=_tw.MSE_NLL_TWINS,
        invalid=_tw.INVALID["mse-is-gaussian-nll"],
    ),
    "nll-equals-cross-entropy": Case(
        numeric=lambda q, t: _numeric_mean("cross_entropy")(t, q),
        numeric_name="mean of numeric.cross_entropy",
        edges=_nll_ce_edges, fix=_simplex(0), model={"q": "prob", "t": "exact"},
        invalid=_tw.INVALID["nll-equals-cross-entropy"],
    ),
    "sigmoid-derivative": Case(
        edges=lambda: [(z,) for z in _LOGIT_EDGES], twins=_tw.SIGMOID_TWINS,
    ),
    "bce-gradient": Case(
        numeric=_numeric("binary_cross_entropy_with_logits_grad"),
        numeric_name="numeric.binary_cross_entropy_with_logits_grad",
        edges=_bce_gradient_edges, model={"y": "prob"}, invalid=_tw.INVALID["bce"],
    ),
    "bce-probability-gradient": Case(
        numeric=_numeric("binary_cross_entropy_grad"),
        numeric_name="numeric.binary_cross_entropy_grad",
        edges=_bce_probability_edges, model={"phat": "prob", "y": "prob"},
        invalid=_tw.INVALID["bce-probability"],
    ),
    "softmax-ce-gradient": Case(
        numeric=_numeric("softmax_cross_entropy_grad"),
        numeric_name="numeric.softmax_cross_entropy_grad",
        edges=lambda: _softmax_ce_edges() + _tw.onehot_points(11, 8),
        fix=_simplex(1), model={"z": "shift", "y": "prob"},
        twins=_tw.SOFTMAX_CE_TWINS, invalid=_tw.SOFTMAX_CE_INVALID,
    ),
    "gaussian-kl": Case(
        numeric=_numeric("gaussian_kl"), numeric_name="numeric.gaussian_kl",
        edges=_gaussian_kl_edges, model=_GAUSS_MODEL, share=0.5,
        invalid=_tw.INVALID["gaussian-kl"],
    ),
    "gaussian-kl-stable-form": Case(
        numeric=_numeric("gaussian_kl"), numeric_name="numeric.gaussian_kl",
        edges=_gaussian_kl_edges, model=_GAUSS_MODEL, share=0.5,
        invalid=_tw.INVALID["gaussian-kl"],
    ),
    "gaussian-entropy": Case(
        numeric=_numeric("gaussian_entropy"), numeric_name="numeric.gaussian_entropy",
        edges=lambda: [(s,) for s in (5e-324, 1e-300, 1e-8, 0.24197072451914337,
                                      _nextafter(0.24197072451914337), 1.0, 30.0, 1e8, 1e300,
                                      1.7976931348623157e308)],
        share=0.5, invalid=_tw.INVALID["gaussian-entropy"],
    ),
    "mle-bernoulli": Case(
        edges=_mle_bernoulli_edges, model={"y": "exact"}, share=0.5,
    ),
    "mvn-kl": Case(
        numeric=_numeric("mvn_kl"), numeric_name="numeric.mvn_kl",
        edges=_tw.mvn_edges, model={"mu1": "shift:mu", "mu2": "shift:mu"}, share=0.5,
        invalid=_tw.MVN_INVALID,
    ),
})
