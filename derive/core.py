"""Derivations whose every step is checked.

A :class:`Derivation` is a chain of :class:`Step` records.  A step either *continues* the
current line (its expression is claimed to be ``=``, ``<=`` or ``>=`` the previous
right-hand side) or *starts a new line* with a full relation ``lhs = rhs`` (for example
``dL/dz = ...`` after the loss itself was rewritten).  Each step says why it holds and
what it relies on: an :class:`Identity`, an :class:`Assumption` such as
``sum_k y_k = 1``, a :class:`Definition`, or an earlier derivation.

:meth:`Derivation.verify` re-checks every claim:

1. **Symbolically** — definitions are substituted, unevaluated sums/derivatives are
   evaluated, the step's own assumptions are applied as substitutions, and a cascade of
   increasingly expensive canonicalisations (``expand``, ``cancel``, sum factoring,
   rewriting lossproof functions to ``exp``/``log``, ``simplify``) tries to reduce the
   difference to zero (or, for an inequality, to show it is non-negative).  SymPy's
   assumptions on the symbols are honoured; nothing is forced.
2. **Numerically** — always, whether or not step 1 succeeded (SymPy's simplification has
   false negatives *and* a wrong step must never slip through a buggy rewrite).  Both
   sides are evaluated with mpmath at ``dps`` >= 50 digits at >= 8 points drawn from the
   symbols' declared :class:`Domain` objects, edges included.  Only the assumptions a step
   *declares* constrain its points: a step that silently needs ``sum y = 1`` is sampled
   with un-normalised ``y`` and fails.

A failing step raises :class:`DerivationError` naming the derivation, the step number,
both sides and the point where they differ.
"""

from __future__ import annotations

import contextlib
import math
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import mpmath
import sympy
from sympy import Sum
from sympy.core.relational import Relational

from derive._inputs import (
    check_bounds,
    check_code_names,
    check_mapping,
    check_size,
    refuse_str,
    require_callable,
    require_expr,
    require_instance,
    require_sequence,
    require_text,
)
from derive.functions import FUNCTIONS

__all__ = [
    "Assumption",
    "Definition",
    "Derivation",
    "DerivationError",
    "Domain",
    "EarlierResult",
    "Identity",
    "IntegerRange",
    "Interval",
    "LogUniform",
    "Step",
    "StepReport",
    "VectorOf",
    "get",
    "names",
    "register",
]

DEFAULT_DPS = 60
DEFAULT_POINTS = 10
MIN_POINTS = 8


class DerivationError(AssertionError):
    """A step of a derivation does not follow from the previous one."""

    def __init__(self, derivation: str, step: int, lhs: Any, rhs: Any, message: str) -> None:
        self.derivation = derivation
        self.step = step
        self.lhs = lhs
        self.rhs = rhs
        super().__init__(
            f"{derivation}: step {step} does not hold: {message}\n"
            f"  left:  {sympy.sstr(lhs)}\n  right: {sympy.sstr(rhs)}"
        )


# --------------------------------------------------------------------------- domains


class Domain:
    """Where a symbol's values are drawn from for numeric checks."""

    def sample(self, rng: random.Random, point: Mapping) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def edges(self, point: Mapping) -> list:
        """Values at or near the boundary, used for the first points of every check."""
        return []


def _resolve(bound, point: Mapping):
    """A domain bound may be a number or a symbol sampled earlier (``IntegerRange(1, K)``)."""
    if isinstance(bound, sympy.Basic) and not bound.is_number:
        return bound.subs(point)
    return bound


def _check_domain(value, arg: str) -> None:
    require_instance(value, arg, Domain, "a Domain (Interval, LogUniform, ...)")


@dataclass(frozen=True)
class Interval(Domain):
    """Uniform on ``[lo, hi]``; edges are the two ends (and 0 when inside)."""

    lo: float
    hi: float

    def __post_init__(self) -> None:
        check_bounds(self.lo, self.hi)

    def sample(self, rng, point):
        return mpmath.mpf(rng.uniform(float(self.lo), float(self.hi)))

    def edges(self, point):
        out = [mpmath.mpf(self.lo), mpmath.mpf(self.hi)]
        if self.lo < 0 < self.hi:
            out.append(mpmath.mpf(0))
        return out


@dataclass(frozen=True)
class LogUniform(Domain):
    """Log-uniform on ``[lo, hi]`` with ``0 < lo < hi`` (scales, variances, probabilities)."""

    lo: float
    hi: float

    def __post_init__(self) -> None:
        check_bounds(self.lo, self.hi, positive=True)

    def sample(self, rng, point):
        return mpmath.mpf(math.exp(rng.uniform(math.log(self.lo), math.log(self.hi))))

    def edges(self, point):
        return [mpmath.mpf(self.lo), mpmath.mpf(self.hi)]


@dataclass(frozen=True)
class IntegerRange(Domain):
    """Uniform integer in ``[lo, hi]``; bounds may be symbols sampled earlier."""

    lo: Any
    hi: Any

    def __post_init__(self) -> None:
        check_size(self.lo, "lo")
        check_size(self.hi, "hi")

    def sample(self, rng, point):
        lo, hi = int(_resolve(self.lo, point)), int(_resolve(self.hi, point))
        return sympy.Integer(rng.randint(lo, hi))

    def edges(self, point):
        lo, hi = int(_resolve(self.lo, point)), int(_resolve(self.hi, point))
        return [sympy.Integer(lo), sympy.Integer(hi)]


@dataclass(frozen=True)
class VectorOf(Domain):
    """A vector for an ``IndexedBase``: ``length`` entries (1-based), each from ``element``.

    ``length`` may be a symbol sampled earlier (``K``).  For a matrix-shaped base give a
    tuple of lengths; entries are keyed by index tuples.
    """

    length: Any
    element: Domain

    def __post_init__(self) -> None:
        lengths = self.length if isinstance(self.length, tuple) else (self.length,)
        if not lengths:
            raise ValueError("length: at least one length is needed")
        for n in lengths:
            check_size(n, "length")
        _check_domain(self.element, "element")

    def _shape(self, point) -> tuple[int, ...]:
        lengths = self.length if isinstance(self.length, tuple) else (self.length,)
        return tuple(int(_resolve(n, point)) for n in lengths)

    def sample(self, rng, point):
        shape = self._shape(point)
        return {idx: self.element.sample(rng, point) for idx in _indices(shape)}

    def edges(self, point):
        shape = self._shape(point)
        out = []
        for e in self.element.edges(point)[:2]:
            out.append({idx: e for idx in _indices(shape)})
        return out


def _indices(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    if len(shape) == 1:
        return [(i,) for i in range(1, shape[0] + 1)]
    head, *rest = shape
    return [(i, *tail) for i in range(1, head + 1) for tail in _indices(tuple(rest))]


# ------------------------------------------------------------------------ reliances


@dataclass(frozen=True)
class Assumption:
    """A condition a step may rely on, e.g. ``Eq(Sum(y[k], (k, 1, K)), 1)``.

    ``subs`` are substitutions applied in the symbolic check (default: ``lhs -> rhs`` of
    an equality ``statement``).  ``constrain(point, rng)`` returns a point that satisfies
    the assumption, so that numeric checks of the steps that declare it draw valid points
    — and steps that do not declare it do not.
    """

    name: str
    statement: sympy.Basic
    constrain: Callable[[dict, random.Random], dict] | None = None
    subs: tuple[tuple[sympy.Basic, sympy.Basic], ...] | None = None

    def __post_init__(self) -> None:
        require_text(self.name, "name")
        require_expr(self.statement, "statement")
        require_callable(self.constrain, "constrain")
        if self.subs is not None:
            refuse_str(self.subs, "subs")
            pairs = []
            for old_new in self.subs:
                refuse_str(old_new, "subs")
                if len(old_new) != 2:
                    raise ValueError(f"subs: pairs (old, new) are needed, got {old_new!r}")
                pairs.append((require_expr(old_new[0], "subs"),
                              require_expr(old_new[1], "subs", numbers_ok=True)))
            object.__setattr__(self, "subs", tuple(pairs))
        check_code_names([self.statement, *(x for p in self.subs or () for x in p)],
                         "statement")

    def substitutions(self) -> tuple[tuple[sympy.Basic, sympy.Basic], ...]:
        if self.subs is not None:
            return self.subs
        if isinstance(self.statement, sympy.Eq):
            return ((self.statement.lhs, self.statement.rhs),)
        return ()


@dataclass(frozen=True)
class Identity:
    """A named mathematical identity a step uses (``sigma' = sigma (1 - sigma)``).

    Identities are checked too, at points from their own ``domains``.
    """

    name: str
    statement: sympy.Basic
    domains: Mapping[sympy.Basic, Domain] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require_text(self.name, "name")
        require_expr(self.statement, "statement")
        check_mapping(self.domains, "domains", _check_domain)
        check_code_names([self.statement], "statement")


@dataclass(frozen=True)
class Definition:
    """``symbol := expr``.  Substituted before every check.

    ``symbol`` is a plain symbol, an applied undefined function ``L(z, y)``, or an
    ``Indexed`` ``p[i]`` whose index is a placeholder: every ``p[j]`` becomes
    ``expr`` with ``i -> j``.
    """

    symbol: sympy.Basic
    expr: sympy.Basic
    note: str = ""

    def __post_init__(self) -> None:
        require_expr(self.symbol, "symbol")
        require_expr(self.expr, "expr")
        require_text(self.note, "note")
        check_code_names([self.symbol, self.expr], "expr")

    def apply(self, e: sympy.Basic) -> sympy.Basic:
        sym = self.symbol
        if isinstance(sym, sympy.Indexed):
            base, idx = sym.base, sym.indices

            def is_target(x):
                return isinstance(x, sympy.Indexed) and x.base == base

            def replace(x):
                return self.expr.subs(dict(zip(idx, x.indices, strict=True)), simultaneous=True)

            return e.replace(is_target, replace)
        if isinstance(sym, sympy.core.function.AppliedUndef):
            func, params = sym.func, sym.args

            def is_call(x):
                return isinstance(x, sympy.core.function.AppliedUndef) and x.func == func

            def call(x):
                args = dict(zip(params, x.args, strict=True))
                if any(isinstance(a, sympy.IndexedBase) for a in params):
                    # vector parameters H(a, b): simultaneous subs cannot swap an IndexedBase
                    return self.expr.xreplace(args)
                return self.expr.subs(args, simultaneous=True)

            return e.replace(is_call, call)

        # Inside a derivative with respect to another variable, ``subs`` would return
        # ``Subs(Derivative(...), sym, expr)``, holding ``sym`` constant while differentiating;
        # a definition means ``sym`` IS ``expr``, so substitute before differentiating.
        def inside(d):
            return sympy.Derivative(d.expr.subs(sym, self.expr), *d.variable_count)

        e = e.replace(
            lambda x: isinstance(x, sympy.Derivative) and sym not in x.variables
            and x.expr.has(sym),
            inside,
        )
        return e.subs(sym, self.expr)


@dataclass(frozen=True)
class EarlierResult:
    """Reference to another registered derivation whose result a step uses."""

    name: str

    def __post_init__(self) -> None:
        require_text(self.name, "name")


Reliance = Assumption | Identity | Definition | EarlierResult | str


# ----------------------------------------------------------------------------- steps


_RELATIONS = {"=": sympy.Eq, "<=": sympy.Le, ">=": sympy.Ge, "<": sympy.Lt, ">": sympy.Gt}


@dataclass(frozen=True)
class Step:
    """One step: an expression (continuing the line) or a relation (a new line).

    Parameters
    ----------
    expr
        The new right-hand side, claimed to be ``relation`` the previous one; or a
        ``sympy.Eq``/``Le``/``Ge`` that starts a new line and is checked on its own.
        An ``Eq`` between matrices (``Eq(M1, M2, evaluate=False)``) is checked entry by entry.
    reason
        Why it holds, in words (rendered next to the step).
    relies_on
        The identities, assumptions, definitions and earlier results it uses.  Only the
        assumptions listed here constrain the numeric check of this step.
    relation
        ``"="`` (default), ``"<="``, ``">="``, ``"<"`` or ``">"`` for a continuation.
    hint
        Optional extra canonicalisation tried first in the symbolic check
        (e.g. ``lambda d: d.rewrite(sympy.exp)``) — a hint, never a proof by itself.
    numeric_only
        Skip the symbolic attempt (for claims SymPy is known to loop on); the numeric
        check still runs and the report says "numeric".
    """

    expr: sympy.Basic
    reason: str
    relies_on: tuple[Reliance, ...] = ()
    relation: str = "="
    hint: Callable[[sympy.Basic], sympy.Basic] | None = None
    numeric_only: bool = False

    def __post_init__(self) -> None:
        require_expr(self.expr, "expr")
        require_text(self.reason, "reason")
        require_callable(self.hint, "hint")
        check_code_names([self.expr], "expr")
        refuse_str(self.relies_on, "relies_on")
        if self.relation not in _RELATIONS:
            allowed = sorted(_RELATIONS)
            raise ValueError(f"relation: must be one of {allowed}, got {self.relation!r}")
        if not isinstance(self.relies_on, tuple):
            object.__setattr__(self, "relies_on", tuple(self.relies_on))
        for r in self.relies_on:
            if not isinstance(r, Assumption | Identity | Definition | EarlierResult | str):
                raise TypeError(f"relies_on: an Assumption, Identity, Definition, EarlierResult "
                                f"or str (a note in words) is needed, got {type(r).__name__}")

    @property
    def starts_line(self) -> bool:
        return isinstance(self.expr, Relational)

    def assumptions(self) -> list[Assumption]:
        return [r for r in self.relies_on if isinstance(r, Assumption)]

    def identities(self) -> list[Identity]:
        return [r for r in self.relies_on if isinstance(r, Identity)]


@dataclass
class StepReport:
    """What :meth:`Derivation.verify` established about one step."""

    index: int
    symbolic: bool
    points: int
    max_rel_diff: float
    seconds: float
    definition: bool = False

    @property
    def method(self) -> str:
        if self.definition:
            return "definition"
        return "symbolic + numeric" if self.symbolic else "numeric"


# ------------------------------------------------------------------------ derivation


def _check_derivation_fields(d: Derivation) -> None:
    """The constructor's input checks: types, and no text that SymPy would evaluate."""
    for arg in ("name", "title", "statement", "topic", "notes"):
        require_text(getattr(d, arg), arg)
    require_sequence(d.steps, "steps", Step)
    require_expr(d.result, "result")
    check_mapping(d.domains, "domains", _check_domain)
    require_sequence(d.definitions, "definitions", Definition)
    refuse_str(d.parameters, "parameters")
    for p in d.parameters:
        require_expr(p, "parameters")
    if d.result_assumptions is not None:
        require_sequence(d.result_assumptions, "result_assumptions", Assumption)
    require_callable(d.result_hint, "result_hint")
    check_code_names([d.result, *d.parameters], "result")
    for ident in d.identities():  # frozen, but its domains are a dict that may have changed
        check_mapping(ident.domains, "domains", _check_domain)


@dataclass
class Derivation:
    """A named, checked derivation.

    Parameters
    ----------
    name, title, statement
        Stable kebab-case name, a title, and the one-line statement of the result.
    topic
        ``information``, ``losses``, ``gaussian`` or ``likelihood`` (groups the index).
    steps
        The chain; the first step must be a relation (usually a definition).
    result
        The final relation (checked on its own as well).  For an exportable result its
        right-hand side is the closed form and ``parameters`` lists its arguments.
    domains
        Symbol (or ``IndexedBase``) -> :class:`Domain`, in sampling order (a length
        symbol such as ``K`` before the vectors that use it).
    definitions
        :class:`Definition` objects substituted before every check.
    parameters
        Ordered arguments of the exported result.
    result_assumptions
        The assumptions the result is checked under.  ``None`` (default): every
        assumption some step relies on.  Give a narrower tuple when an assumption only
        serves a corollary step (``D = 0`` when the parameters are equal) and the result
        holds without it — otherwise the result would only be checked at the special points.
    result_hint
        Optional canonicalisation tried first in the symbolic check of the result (as
        :attr:`Step.hint` does for a step).
    """

    name: str
    title: str
    statement: str
    topic: str
    steps: list[Step]
    result: sympy.Basic
    domains: dict[sympy.Basic, Domain]
    definitions: list[Definition] = field(default_factory=list)
    parameters: tuple[sympy.Basic, ...] = ()
    notes: str = ""
    result_assumptions: tuple[Assumption, ...] | None = None
    result_hint: Callable[[sympy.Basic], sympy.Basic] | None = None
    reports: list[StepReport] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        _check_derivation_fields(self)
        if not self.steps or not self.steps[0].starts_line:
            raise ValueError(f"{self.name}: the first step must be a relation (lhs = rhs)")

    # -- structure -------------------------------------------------------------------
    def claims(self) -> Iterator[tuple[int, Step, sympy.Basic]]:
        """Yield ``(index, step, relation)`` — the relation each step claims."""
        prev_rhs = None
        for i, step in enumerate(self.steps, start=1):
            if step.starts_line:
                rel = step.expr
            else:
                rel = _RELATIONS[step.relation](prev_rhs, step.expr, evaluate=False)
            prev_rhs = rel.rhs
            yield i, step, rel

    def assumptions(self) -> list[Assumption]:
        """Every assumption some step relies on (in order of first use)."""
        seen: dict[str, Assumption] = {}
        for step in self.steps:
            for a in step.assumptions():
                seen.setdefault(a.name, a)
        return list(seen.values())

    def identities(self) -> list[Identity]:
        seen: dict[str, Identity] = {}
        for step in self.steps:
            for ident in step.identities():
                seen.setdefault(ident.name, ident)
        return list(seen.values())

    def symbols(self) -> list[sympy.Basic]:
        return list(self.domains)

    # -- checking --------------------------------------------------------------------
    def verify(
        self, *, points: int = DEFAULT_POINTS, dps: int = DEFAULT_DPS, seed: int = 0
    ) -> list[StepReport]:
        """Check every step; return one :class:`StepReport` per step (and the result).

        Raises :class:`DerivationError` at the first step that does not hold.
        """
        _check_derivation_fields(self)  # its lists may have been changed since construction
        if points < MIN_POINTS:
            raise ValueError(f"points: at least {MIN_POINTS} are needed, got {points}")
        if dps < 50:
            raise ValueError(f"dps: at least 50 digits are needed, got {dps}")
        reports = []
        for ident in self.identities():
            _check_identity(self.name, ident, points=points, dps=dps, seed=seed)
        for i, step, rel in self.claims():
            reports.append(
                _check_claim(self, i, rel, step, points=points, dps=dps, seed=seed + 7919 * i)
            )
        final = Step(self.result, "result", hint=self.result_hint)
        under = self.assumptions() if self.result_assumptions is None else self.result_assumptions
        reports.append(
            _check_claim(self, len(self.steps) + 1, self.result, final, points=points, dps=dps,
                         seed=seed + 104729, assumptions=under)
        )
        self.reports = reports
        return reports

    # -- rendering (see derive.render) -------------------------------------------------
    def to_text(self) -> str:
        from derive.render import to_text

        return to_text(self)

    def to_markdown(self) -> str:
        from derive.render import to_markdown

        return to_markdown(self)

    def to_latex(self, *, standalone: bool = False) -> str:
        from derive.render import to_latex

        return to_latex(self, standalone=standalone)

    def _repr_latex_(self) -> str:
        from derive.render import to_latex

        return "$$" + to_latex(self, display=True) + "$$"

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


# --------------------------------------------------------------------- the checker


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Abort a runaway ``simplify`` (main thread only; elsewhere no limit is applied)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def _raise(signum, frame):
        raise TimeoutError

    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _apply_definitions(e: sympy.Basic, definitions: Sequence[Definition]) -> sympy.Basic:
    # definitions may refer to each other: apply until nothing changes (bounded)
    for _ in range(len(definitions) + 1):
        new = e
        for d in definitions:
            new = d.apply(new)
        if new == e:
            break
        e = new
    return e


def _factor_sums(e: sympy.Basic) -> sympy.Basic:
    """Split sums of sums and pull index-free factors out of every ``Sum``."""
    from sympy.simplify.simplify import factor_sum

    def split(s):
        inner = sympy.expand(s.function)
        if isinstance(inner, sympy.Add):
            return sympy.Add(*[factor_sum(Sum(t, *s.limits)) for t in inner.args])
        return factor_sum(Sum(inner, *s.limits))

    return e.replace(lambda x: isinstance(x, Sum), split)


def _rewrite_elementary(e: sympy.Basic) -> sympy.Basic:
    return e.rewrite(sympy.exp) if e.has(*FUNCTIONS.values()) else e


def _is_zero(d: sympy.Basic, subs, hint) -> bool:
    def zero(x):
        x = x.subs(list(subs)) if subs else x
        return x == 0 or x.is_zero is True

    candidates: list[Callable[[sympy.Basic], sympy.Basic]] = []
    if hint is not None:
        candidates.append(hint)
        candidates.append(lambda x: sympy.simplify(hint(x)))
    candidates += [
        lambda x: x,
        sympy.expand,
        lambda x: sympy.cancel(sympy.together(x)),
        lambda x: sympy.expand(_factor_sums(sympy.expand(x))),
        lambda x: sympy.expand_log(sympy.expand(_factor_sums(x)), force=False),
        lambda x: sympy.simplify(_rewrite_elementary(x)),
        lambda x: sympy.simplify(sympy.expand(_factor_sums(sympy.expand(x)))),
    ]
    for transform in candidates:
        try:
            with _time_limit(8.0):
                t = transform(d)
                if subs:
                    t = sympy.expand(_factor_sums(t.subs(list(subs))))
                if zero(t):
                    return True
        except (TimeoutError, RecursionError, NotImplementedError, TypeError, ValueError,
                AttributeError, StopIteration, sympy.PolynomialError):
            # StopIteration: SymPy 1.14's sum_simplify calls next() on sums it split away
            continue
    return False


def _is_nonnegative(d: sympy.Basic, subs, hint) -> bool:
    tries = [d]
    if hint is not None:
        tries.insert(0, hint(d))
    for t in tries:
        try:
            with _time_limit(8.0):
                if subs:
                    t = t.subs(list(subs))
                if t.is_nonnegative is True or sympy.simplify(t).is_nonnegative is True:
                    return True
        except (TimeoutError, RecursionError, NotImplementedError, TypeError, ValueError,
                StopIteration):
            continue
    return False


def _is_matrix(e) -> bool:
    return isinstance(e, sympy.MatrixBase | sympy.MatrixExpr)


def _explicit(e):
    """A matrix expression (``MatMul(c, M)``, ...) as an explicit immutable matrix."""
    return sympy.ImmutableMatrix(e.as_explicit()) if isinstance(e, sympy.MatrixExpr) else e


def _symbolic_holds(rel, subs, hint) -> bool:
    if isinstance(rel, sympy.Eq | sympy.Le | sympy.Ge) and rel.lhs == rel.rhs:
        return True  # the same expression (a definition): no need to evaluate its sums
    lhs, rhs = rel.lhs.doit(integrals=False), rel.rhs.doit(integrals=False)
    if _is_matrix(lhs) or _is_matrix(rhs):
        # a matrix equation holds entry by entry
        a, b = _explicit(lhs), _explicit(rhs)
        return (isinstance(rel, sympy.Eq) and _is_matrix(a) and _is_matrix(b)
                and a.shape == b.shape
                and all(_is_zero(x - y, subs, hint) for x, y in zip(a, b, strict=True)))
    if isinstance(rel, sympy.Eq):
        return _is_zero(lhs - rhs, subs, hint)
    if isinstance(rel, sympy.Le | sympy.Lt):
        return _is_nonnegative(rhs - lhs, subs, hint)
    return _is_nonnegative(lhs - rhs, subs, hint)


def _sample_point(domains, assumptions, rng: random.Random, j: int) -> dict:
    """Point ``j``: the first two use domain edges (low, high), the rest are random."""
    point: dict = {}
    for sym, dom in domains.items():
        edges = dom.edges(point) if j < 2 else []
        point[sym] = edges[j % len(edges)] if edges else dom.sample(rng, point)
    for a in assumptions:
        if a.constrain is not None:
            point = a.constrain(dict(point), rng)
    return point


def _split_point(point: Mapping) -> tuple[dict, dict]:
    """Integer-valued symbols (sizes, indices) vs everything else."""
    ints, rest = {}, {}
    for k, v in point.items():
        (ints if isinstance(v, sympy.Integer) else rest)[k] = v
    return ints, rest


@cache
def _mp_function_namespace() -> dict:
    """mpmath implementations of the lossproof functions: their *definitions*."""
    return {
        "sigmoid": lambda z: 1 / (1 + mpmath.exp(-z)),
        "softplus": lambda z: mpmath.log(1 + mpmath.exp(z)),
        "expm1mx": lambda u: mpmath.exp(u) - 1 - u,
        "log1pmx": lambda r: mpmath.log(1 + r) - r,
        "xlogy": lambda x, y: mpmath.mpf(0) if x == 0 else x * mpmath.log(y),
        "logratio": lambda a, b: mpmath.log(a) - mpmath.log(b),
        # logsumexp over the already-expanded terms: log sum_k e^{f_k}
        "logsumexp": lambda *terms: mpmath.log(mpmath.fsum(mpmath.exp(t) for t in terms)),
    }


def _matrix_entries(e: sympy.Basic) -> sympy.Basic:
    """Every ``MatrixSymbol`` of concrete shape as an explicit matrix of the entries
    ``IndexedBase(name)[i, j]`` — 1-based, as :class:`VectorOf` samples them (a vector's
    entry ``i`` is ``[i, 1]``) — then evaluated: traces, determinants, inverses and
    products of explicit matrices become scalars.  So a claim about ``MatrixSymbol``s of
    size ``k`` is checked at the sampled sizes, its matrices drawn from the domains keyed
    by the symbols."""
    if not e.has(sympy.MatrixSymbol):
        return e

    def concrete(m):
        return isinstance(m, sympy.MatrixSymbol) and all(s.is_Integer for s in m.shape)

    def entries(m):
        base, (rows, cols) = sympy.IndexedBase(m.name), m.shape
        return sympy.ImmutableMatrix(rows, cols, lambda r, c: base[r + 1, c + 1])

    return e.replace(concrete, entries).doit(integrals=False)


def _flatten(vals: Mapping) -> tuple[list, list, dict]:
    """Point values as (argument symbols, values, Indexed -> argument replacements).

    Vector entries become plain symbols ``_ix0, _ix1, ...``, not Dummies: one Dummy among
    the arguments makes ``lambdify`` rename every argument, one ``xreplace`` each.
    """
    replacements, args, values = {}, [], []
    for key, val in vals.items():
        if isinstance(key, sympy.IndexedBase | sympy.MatrixSymbol):
            # a MatrixSymbol's entries are those of the IndexedBase of its name, two indices
            matrix = isinstance(key, sympy.MatrixSymbol)
            base = sympy.IndexedBase(key.name) if matrix else key
            for idx, v in val.items():
                idx = (*idx, 1) if matrix and len(idx) == 1 else idx
                d = sympy.Symbol(f"_ix{len(replacements)}")
                replacements[base[idx if len(idx) > 1 else idx[0]]] = d
                args.append(d)
                values.append(v)
        else:
            args.append(key)
            values.append(val)
    return args, values, replacements


def _compile(closed: sympy.Basic, vals: Mapping) -> Callable:
    args, _, replacements = _flatten(vals)
    with sympy.evaluate(False):  # renaming only: nothing to re-simplify
        e = closed.xreplace(replacements) if replacements else closed
    free = e.free_symbols - set(args)
    if any(isinstance(s, sympy.Symbol) for s in free) or e.has(sympy.Indexed):
        raise ValueError(f"unbound symbols {sorted(map(str, free))} (declare their domains)")
    return sympy.lambdify(args, e, modules=[_mp_function_namespace(), "mpmath"])


def _as_mpf(v):
    return mpmath.mpf(str(v.evalf(mpmath.mp.dps))) if isinstance(v, sympy.Basic) else mpmath.mpf(v)


def _expand_sums(e: sympy.Basic) -> sympy.Basic:
    """Write out every ``Sum`` whose limits are integers (innermost first).

    What ``Sum.doit`` does for a few terms, without its symbolic summation attempts.
    """

    def expand(s):
        if not all(lo.is_Integer and hi.is_Integer for _, lo, hi in s.limits):
            return s
        out = s.function
        for var, lo, hi in reversed(s.limits):
            out = sympy.Add(*[out.xreplace({var: sympy.Integer(v)})
                              for v in range(int(lo), int(hi) + 1)])
        return out

    return e.replace(lambda x: isinstance(x, Sum), expand)


#: Compiled sides, shared by all claims and derivations: (expression, definitions, the sizes
#: and indices it uses, vector lengths) -> mpmath function.  A continuation's left side is
#: the previous step's right side, and test variants of a derivation repeat most sides.
_COMPILED: dict = {}
_COMPILED_MAX = 20_000


def _numeric_side(e, point, defs, dps, cache_: dict):
    """Evaluate ``e`` at ``point`` with mpmath: sizes/indices substituted first, then
    sums and derivatives done symbolically, then the rest lambdified (cached per size)."""
    ints, rest = _split_point(point)
    shape = tuple((str(k), len(v)) if isinstance(v, dict) else (str(k), 0) for k, v in rest.items())
    defs = tuple(defs)
    applied = cache_.get((e, defs))
    if applied is None:
        applied = cache_[(e, defs)] = _apply_definitions(e, defs)
    # only the sizes/indices the expression mentions make it a different function
    used = {k: v for k, v in ints.items() if applied.has(k)}
    key = (e, defs, tuple(sorted((str(k), int(v)) for k, v in used.items())), shape)
    fn = _COMPILED.get(key)
    if fn is None:
        closed = _expand_sums(applied.xreplace(used)).doit(integrals=False)
        closed = _matrix_entries(_explicit(_apply_definitions(closed, defs).doit(integrals=False)))
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        fn = _COMPILED[key] = _compile(closed, rest)
    with mpmath.workdps(dps):
        return fn(*[_as_mpf(v) for v in _flatten(rest)[1]])


def _compare(rel, a, b, dps) -> tuple[bool, float]:
    if isinstance(a, mpmath.matrix) or isinstance(b, mpmath.matrix):
        # matrices: entry by entry, same shape required
        if not (isinstance(a, mpmath.matrix) and isinstance(b, mpmath.matrix)
                and (a.rows, a.cols) == (b.rows, b.cols)):
            return False, float("inf")
        pairs = [_compare(rel, a[r, c], b[r, c], dps)
                 for r in range(a.rows) for c in range(a.cols)]
        return all(ok for ok, _ in pairs), max(d for _, d in pairs)
    tol = mpmath.mpf(10) ** (-(dps // 2))
    with mpmath.workdps(dps):
        if isinstance(a, mpmath.mpc) or isinstance(b, mpmath.mpc):
            if abs(mpmath.im(a)) > tol * max(1, abs(a)) or abs(mpmath.im(b)) > tol * max(1, abs(b)):
                return (a == b), float("inf")
            a, b = mpmath.re(a), mpmath.re(b)
        if mpmath.isinf(a) or mpmath.isinf(b) or mpmath.isnan(a) or mpmath.isnan(b):
            return (a == b), (0.0 if a == b else float("inf"))
        scale = max(mpmath.mpf(1), abs(a), abs(b))
        diff = (b - a) / scale
        if isinstance(rel, sympy.Eq):
            return abs(diff) <= tol, float(abs(diff))
        if isinstance(rel, sympy.Le):
            return diff >= -tol, float(max(-diff, 0))
        if isinstance(rel, sympy.Lt):
            return diff > -tol, float(max(-diff, 0))
        if isinstance(rel, sympy.Ge):
            return diff <= tol, float(max(diff, 0))
        return diff < tol, float(max(diff, 0))


def _numeric_check(rel, domains, assumptions, defs, *, points, dps, seed, on_fail):
    """Compare both sides at ``points`` points; return (worst difference, points used)."""
    rng = random.Random(seed)
    cache_: dict = {}
    worst = 0.0
    lhs, rhs = _apply_definitions(rel.lhs, defs), _apply_definitions(rel.rhs, defs)
    # the same expression on both sides once definitions are substituted: evaluate it once
    same = lhs == rhs
    # nothing left that a point could vary (e.g. an integral at given numbers): one point
    if not (lhs.free_symbols | rhs.free_symbols):
        points = 1
    for j in range(points):
        with mpmath.workdps(dps):  # assumption constraints (normalising, ...) at full precision
            point = _sample_point(domains, assumptions, rng, j)
        try:
            a = _numeric_side(rel.lhs, point, defs, dps, cache_)
            b = a if same else _numeric_side(rel.rhs, point, defs, dps, cache_)
        except (ZeroDivisionError, OverflowError, ValueError, TypeError) as exc:
            on_fail(point, f"cannot be evaluated ({type(exc).__name__}: {exc})")
        ok, diff = _compare(rel, a, b, dps)
        if not ok:
            on_fail(point, f"left = {mpmath.nstr(a, 15)}, right = {mpmath.nstr(b, 15)}")
        worst = max(worst, diff)
    return worst, points


def _format_point(point: Mapping) -> str:
    parts = []
    for k, v in point.items():
        if isinstance(v, dict):
            shown = (mpmath.nstr(x, 6) if not isinstance(x, sympy.Basic) else str(x)
                     for x in v.values())
            v = "[" + ", ".join(shown) + "]"
        elif not isinstance(v, sympy.Basic):
            v = mpmath.nstr(v, 8)
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def _check_claim(deriv: Derivation, index: int, rel, step: Step, *, points, dps, seed,
                 assumptions: Sequence[Assumption] | None = None) -> StepReport:
    t0 = time.perf_counter()
    assumptions = step.assumptions() if assumptions is None else list(assumptions)
    defs = list(deriv.definitions) + [r for r in step.relies_on if isinstance(r, Definition)]
    subs = tuple(s for a in assumptions for s in a.substitutions())

    is_definition = (
        index == 1 and isinstance(rel, sympy.Eq) and any(
            _apply_definitions(rel.lhs, defs) == rel.rhs for _ in [0])
        and rel.lhs != rel.rhs
    )
    symbolic = False
    if not step.numeric_only:
        lhs = _apply_definitions(rel.lhs, defs)
        rhs = _apply_definitions(rel.rhs, defs)
        symbolic = _symbolic_holds(rel.func(lhs, rhs, evaluate=False), subs, step.hint)

    def fail(point, message):
        raise DerivationError(
            deriv.name, index, rel.lhs, rel.rhs, f"{message} at {_format_point(point)}"
        )

    worst, used = _numeric_check(rel, deriv.domains, assumptions, defs, points=points, dps=dps,
                                 seed=seed, on_fail=fail)
    return StepReport(index, symbolic, used, worst, time.perf_counter() - t0,
                      definition=is_definition)


def _check_identity(name: str, ident: Identity, *, points, dps, seed) -> None:
    rel = ident.statement
    symbolic_ok = _symbolic_holds(rel, (), None)

    def fail(point, message):
        raise DerivationError(
            name, 0, rel.lhs, rel.rhs,
            f"identity {ident.name!r}: {message} at {_format_point(point)}",
        )

    if ident.domains:
        _numeric_check(rel, ident.domains, (), (), points=points, dps=dps, seed=seed, on_fail=fail)
    elif not symbolic_ok:
        raise DerivationError(
            name, 0, rel.lhs, rel.rhs,
            f"identity {ident.name!r} has no domains and is not proved symbolically",
        )


# ------------------------------------------------------------------------- registry

_REGISTRY: dict[str, Callable[[], Derivation]] = {}
_META: dict[str, dict[str, str]] = {}
_TOPIC_MODULES = ("information", "losses", "gaussian", "mle")


def register(name: str, *, title: str, statement: str, topic: str):
    """Register a derivation factory under a stable kebab-case ``name``."""
    if name != name.lower() or " " in name or "_" in name:
        raise ValueError(f"name: {name!r} is not kebab-case")

    def deco(factory: Callable[[], Derivation]) -> Callable[[], Derivation]:
        if name in _REGISTRY:
            raise ValueError(f"name: {name!r} is registered twice")
        _REGISTRY[name] = cache(factory)
        _META[name] = {"title": title, "statement": statement, "topic": topic}
        return factory

    return deco


def _load_topics() -> None:
    import importlib

    for mod in _TOPIC_MODULES:
        try:
            importlib.import_module(f"derive.{mod}")
        except ModuleNotFoundError as exc:
            # a topic module that does not exist (yet) is skipped; one that exists but
            # fails to import something must say so, not silently drop its derivations
            if exc.name != f"derive.{mod}":
                raise


def names() -> list[str]:
    """The registered derivation names, sorted."""
    _load_topics()
    return sorted(_REGISTRY)


def meta(name: str) -> dict[str, str]:
    """Title, statement and topic of ``name`` without building it."""
    _load_topics()
    if name not in _META:
        raise KeyError(_unknown(name))
    return dict(_META[name])


def _unknown(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.4)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see `lossproof list`"
    return f"unknown derivation {name!r}{hint}"


def source_module(name: str) -> str:
    """The name of the module that registered ``name`` (where its factory is defined)."""
    _load_topics()
    if name not in _REGISTRY:
        raise KeyError(_unknown(name))
    return _REGISTRY[name].__module__


def get(name: str) -> Derivation:
    """The derivation registered as ``name`` (built once, then cached)."""
    _load_topics()
    if name not in _REGISTRY:
        raise KeyError(_unknown(name))
    d = _REGISTRY[name]()
    if d.name != name:
        raise RuntimeError(f"derivation registered as {name!r} calls itself {d.name!r}")
    return d
