"""The checker behind :meth:`derive.core.Derivation.verify`.

Two routes, both deterministic — the same claim gets the same verdict on an idle or a loaded
machine, on any CPU, in any order of checks:

* **symbolic** — :func:`_symbolic_holds` tries a fixed list of SymPy tactics (:data:`TACTICS`),
  cheapest first: the step's own hint, then structural canonicalisations (``expand``,
  ``cancel``, sum factoring, ``expand_log``), then ``simplify`` — the one tactic whose cost
  can run away — only on expressions of at most :data:`SIMPLIFY_MAX_OPS` operations
  (``sympy.count_ops``).  No clock is consulted: a bound on the *input* decides what is
  tried, never how long it happened to take.
* **numeric** — always: both sides evaluated with mpmath at ``dps`` digits at points drawn
  from the declared domains (:func:`_numeric_check`).

``derive.core`` re-exports the private names used elsewhere (``_apply_definitions``,
``_factor_sums``, ``_sample_point``, ...).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cache

import mpmath
import sympy
from sympy import Sum

from derive import _quadrature
from derive.core import (
    Assumption,
    Definition,
    Derivation,
    DerivationError,
    Identity,
    Step,
    StepReport,
)
from derive.functions import FUNCTIONS


def _targets(e: sympy.Basic) -> set:
    """What a definition could replace in ``e``: the functions of its undefined calls and
    the bases of its indexed entries."""
    return ({x.func for x in e.atoms(sympy.core.function.AppliedUndef)}
            | {x.base for x in e.atoms(sympy.Indexed)})


def _defines(d: Definition) -> sympy.Basic:
    """What :meth:`Definition.apply` replaces: a call's function or an entry's base (else
    the symbol itself, which ``apply`` replaces wherever it occurs)."""
    sym = d.symbol
    if isinstance(sym, sympy.Indexed):
        return sym.base
    if isinstance(sym, sympy.core.function.AppliedUndef):
        return sym.func
    return sym


def _apply_definitions(e: sympy.Basic, definitions: Sequence[Definition]) -> sympy.Basic:
    # definitions may refer to each other: apply until nothing changes (bounded).  A
    # definition whose call or indexed base does not occur in e leaves e as it is: skipped
    # (one walk of e for all of them instead of one replace() each).
    for _ in range(len(definitions) + 1):
        new = e
        present = _targets(e)
        for d in definitions:
            target = _defines(d)
            if isinstance(d.symbol, sympy.Indexed | sympy.core.function.AppliedUndef):
                if target not in present:
                    continue
                new = d.apply(new)
                present = _targets(new)
            else:
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


#: ``simplify`` (the only tactic whose cost is not roughly linear in the input) is tried only
#: on expressions of at most this many operations (``sympy.count_ops``).  The largest input on
#: which a built-in derivation needs it has 57 operations (mle-bernoulli step 9; 0.03 s of
#: CPU); the bound leaves room for user derivations of that kind while keeping a runaway
#: ``simplify`` of a large expression out of every check.
SIMPLIFY_MAX_OPS = 200

#: Exceptions a SymPy tactic may raise on an expression it cannot handle: the tactic fails,
#: the next one is tried.  (StopIteration: SymPy 1.14's sum_simplify calls next() on sums it
#: split away.)
_TACTIC_ERRORS = (RecursionError, NotImplementedError, TypeError, ValueError, AttributeError,
                  StopIteration, sympy.PolynomialError)


def _rewrite_elementary(e: sympy.Basic) -> sympy.Basic:
    return e.rewrite(sympy.exp) if e.has(*FUNCTIONS.values()) else e


def _bounded_simplify(e: sympy.Basic) -> sympy.Basic:
    """``sympy.simplify(e)`` if ``e`` is small enough (:data:`SIMPLIFY_MAX_OPS`), else ``e``."""
    if sympy.count_ops(e) > SIMPLIFY_MAX_OPS:
        return e
    return sympy.simplify(e)


#: The tactics of :func:`_is_zero`, in the order tried (after the step's hint and the
#: bounded ``simplify`` of the hint's output): each maps the difference of the two sides to
#: a form in which zero is recognised structurally (``== 0`` or ``is_zero``).
TACTICS: tuple[tuple[str, Callable[[sympy.Basic], sympy.Basic]], ...] = (
    ("as given", lambda x: x),
    ("expand", sympy.expand),
    ("cancel", lambda x: sympy.cancel(sympy.together(x))),
    ("factor sums", lambda x: sympy.expand(_factor_sums(sympy.expand(x)))),
    ("expand log", lambda x: sympy.expand_log(sympy.expand(_factor_sums(x)), force=False)),
    ("simplify exp form", lambda x: _bounded_simplify(_rewrite_elementary(x))),
    ("simplify factored sums",
     lambda x: _bounded_simplify(sympy.expand(_factor_sums(sympy.expand(x))))),
)


def _zero_tactic(d: sympy.Basic, subs, hint) -> str | None:
    """The name of the first tactic that reduces ``d`` to zero, or ``None``.

    ``subs`` (the step's assumptions as substitutions) are applied after each tactic, and
    once more after factoring the sums they produced (which can expose a sum they match).
    """
    tactics: list[tuple[str, Callable[[sympy.Basic], sympy.Basic]]] = []
    if hint is not None:
        tactics += [("hint", hint), ("simplify hint", lambda x: _bounded_simplify(hint(x)))]
    tactics += TACTICS
    for name, transform in tactics:
        try:
            t = transform(d)
            if subs:
                t = sympy.expand(_factor_sums(t.subs(list(subs)))).subs(list(subs))
            if t == 0 or t.is_zero is True:
                return name
        except _TACTIC_ERRORS:
            continue
    return None


def _is_zero(d: sympy.Basic, subs, hint) -> bool:
    return _zero_tactic(d, subs, hint) is not None


def _is_nonnegative(d: sympy.Basic, subs, hint) -> bool:
    """Whether SymPy's assumptions show ``d >= 0`` (after the hint, then a bounded
    ``simplify``)."""
    tries = [d] if hint is None else [hint(d), d]
    for t in tries:
        try:
            if subs:
                t = t.subs(list(subs))
            if t.is_nonnegative is True or _bounded_simplify(t).is_nonnegative is True:
                return True
        except _TACTIC_ERRORS:
            continue
    return False


def _is_matrix(e) -> bool:
    return isinstance(e, sympy.MatrixBase | sympy.MatrixExpr)


def _explicit(e):
    """A matrix expression (``MatMul(c, M)``, ...) as an explicit immutable matrix."""
    return sympy.ImmutableMatrix(e.as_explicit()) if isinstance(e, sympy.MatrixExpr) else e


#: Verdicts of :func:`_symbolic_holds` without a hint: (relation, substitutions) -> bool.  A
#: result or an identity relied on by several derivations is proved once per process.
_HOLDS: dict = {}


def _symbolic_holds(rel, subs, hint) -> bool:
    """Whether SymPy proves ``rel`` (after ``subs``, trying ``hint`` first); deterministic,
    so memoised when there is no hint (a hint is a function: no key says what it does)."""
    if hint is not None:
        return _symbolic_verdict(rel, subs, hint)
    return _memo(_HOLDS, (rel, tuple(subs)), lambda: _symbolic_verdict(rel, subs, None))


def _symbolic_verdict(rel, subs, hint) -> bool:
    if isinstance(rel, sympy.Eq | sympy.Le | sympy.Ge) and rel.lhs == rel.rhs:
        return True  # the same expression (a definition): no need to evaluate its sums
    lhs, rhs = _doit(rel.lhs), _doit(rel.rhs)
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
    # integrals over the real line centred on their Gaussian factor (an exact change of
    # variables) for mpmath.quad too, which otherwise misses a narrow Gaussian far from 0
    by_mpmath = sympy.lambdify(args, _quadrature.centred(e) if e.has(sympy.Integral) else e,
                               modules=[_mp_function_namespace(), "mpmath"])
    try:
        by_arb = _quadrature.compile_arb(e, args)
    except _quadrature.Unsupported:
        return by_mpmath

    def evaluate(*values):
        # integrals: arb and the sinh-sinh rule where they apply, else mpmath.quad (the
        # choice depends on the expression and the point only)
        try:
            return by_arb(*values)
        except _quadrature.Unsupported:
            return by_mpmath(*values)

    return evaluate


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


#: Memoised SymPy work, shared by all claims and derivations (a continuation's left side is
#: the previous step's right side; test variants of a derivation repeat most sides).  Each
#: maps a key to a pure function of that key, so a hit gives what the miss would have
#: computed: the verdicts and reports are those of an empty memo.  Bounded: cleared when full.
#:
#: * ``_APPLIED``: (expression, definitions) -> the expression with the definitions applied;
#: * ``_CLOSED``: (that, at the sizes/indices it uses, definitions) -> sums written out,
#:   derivatives and limits done, matrices explicit;
#: * ``_COMPILED``: (closed form, definitions, argument symbols and vector lengths) -> its
#:   mpmath function;
#: * ``_DOIT``: expression -> ``doit(integrals=False)`` (both sides of every symbolic check).
_APPLIED: dict = {}
_CLOSED: dict = {}
_COMPILED: dict = {}
_DOIT: dict = {}
_MEMO_MAX = 20_000


def _memo(table: dict, key, compute: Callable):
    """``table[key]``, computed by ``compute()`` on a miss (``table`` cleared when full)."""
    try:
        return table[key]
    except KeyError:
        pass
    value = compute()
    if len(table) >= _MEMO_MAX:
        table.clear()
    table[key] = value
    return value


def _doit(e: sympy.Basic) -> sympy.Basic:
    """``e.doit(integrals=False)``, memoised."""
    return _memo(_DOIT, e, lambda: e.doit(integrals=False))


def _closed_form(applied: sympy.Basic, defs: tuple) -> sympy.Basic:
    """``applied`` (definitions applied, sizes substituted) with its sums written out, its
    derivatives and limits done and its matrices explicit: what :func:`_compile` takes."""
    closed = _expand_sums(applied).doit(integrals=False)
    return _matrix_entries(_explicit(_apply_definitions(closed, defs).doit(integrals=False)))


def _numeric_side(e, point, defs, dps):
    """Evaluate ``e`` at ``point`` with mpmath: sizes/indices substituted first, then
    sums and derivatives done symbolically, then the rest lambdified (memoised per size)."""
    ints, rest = _split_point(point)
    defs = tuple(defs)
    applied = _memo(_APPLIED, (e, defs), lambda: _apply_definitions(e, defs))
    # only the sizes/indices the expression mentions make it a different function
    used = {k: v for k, v in ints.items() if applied.has(k)}
    concrete = applied.xreplace(used) if used else applied
    closed = _memo(_CLOSED, (concrete, defs), lambda: _closed_form(concrete, defs))
    shape = tuple((k, len(v)) if isinstance(v, dict) else (k, 0) for k, v in rest.items())
    fn = _memo(_COMPILED, (closed, defs, shape), lambda: _compile(closed, rest))
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
            a = _numeric_side(rel.lhs, point, defs, dps)
            b = a if same else _numeric_side(rel.rhs, point, defs, dps)
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
    checked_by, how = "symbolic", "proved symbolically"
    if not (symbolic or is_definition):
        from derive.refute import settle  # refute, else prove on boxes, else say so

        checked_by, how = settle(rel, deriv.domains, assumptions, defs, dps=dps, seed=seed,
                                 on_fail=fail)
    return StepReport(index, symbolic or checked_by == "symbolic", used, worst,
                      time.perf_counter() - t0, definition=is_definition, checked_by=checked_by,
                      how=how)


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
