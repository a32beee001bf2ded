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

import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import mpmath
import sympy
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
        # exp and log by mpmath at float64's precision, not the platform's libm (whose last
        # bit may differ between CPUs): the same points, so the same documents, everywhere
        with mpmath.workprec(53):
            lo, hi = float(mpmath.log(self.lo)), float(mpmath.log(self.hi))
            return +mpmath.exp(rng.uniform(lo, hi))

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
    #: how the step was established: "symbolic" (SymPy), "interval" (arb branch and bound
    #: on the domain box) or "sampled" (no proof: a counterexample search found nothing)
    checked_by: str = "symbolic"
    #: the same in words, e.g. "not proved: no counterexample in 412 evaluations and a
    #: search of 9 starts"
    how: str = "proved symbolically"

    @property
    def method(self) -> str:
        if self.definition:
            return "definition"
        if self.checked_by == "interval":
            return "interval + numeric"
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
        from derive.checker import _check_claim, _check_identity

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

#: Private names of the checker (derive.checker) that other modules and tests import from
#: here; loaded on first use (PEP 562), since derive.checker itself imports this module.
_CHECKER_NAMES = frozenset({
    "SIMPLIFY_MAX_OPS", "TACTICS", "_apply_definitions", "_check_claim", "_check_identity",
    "_compare", "_expand_sums", "_factor_sums", "_is_nonnegative", "_is_zero",
    "_mp_function_namespace", "_numeric_check", "_numeric_side", "_sample_point",
    "_split_point", "_symbolic_holds", "_zero_tactic",
})


def __getattr__(name: str) -> Any:
    if name in _CHECKER_NAMES:
        from derive import checker

        return getattr(checker, name)
    raise AttributeError(f"module 'derive.core' has no attribute {name!r}")


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
