"""Information theory, derived: self-information, entropy, cross-entropy, KL divergence, mutual
information, the maximum-entropy distribution and perplexity.

Every derivation holds for a general number of outcomes (``IndexedBase`` vectors and tables,
``Sum`` over ``k = 1..K``; a joint distribution is a table ``p[m, n]`` with ``m = 1..M``,
``n = 1..N``) and states what each step relies on: ``sum_k p_k = 1``, independence, a
one-hot target, positive probabilities.

================================  ===============================================================
name                              result
================================  ===============================================================
``self-information-additivity``   I(x, y) = I(x) + I(y) for independent events, in any base
``ce-equals-entropy-plus-kl``     H(p, q) = H(p) + D(p ‖ q)
``cross-entropy-one-hot``         with a one-hot p at class y, H(p, q) = −log q_y
``entropy-chain-rule``            H(X, Y) = H(X) + H(Y | X)
``mutual-information-identities`` I(X; Y) = H(X) − H(X | Y) = H(X) + H(Y) − H(X, Y)
                                  = D(P_XY ‖ P_X P_Y) = I(Y; X)
``kl-nonnegative``                D(p ‖ q) ≥ 0 (Gibbs, via log x ≤ x − 1), = 0 iff p = q;
                                  D(p ‖ q) = Σ_k p_k φ(log(q_k/p_k)), φ(u) = e^u − 1 − u ≥ 0
``entropy-maximum-uniform``       the stationary point of H under Σ p = 1 is p_k = 1/K, H = log K;
                                  H(p) = log K − D(p ‖ u) ≤ log K
``perplexity-base-invariance``    b^{H_b(p, q)} = e^{H(p, q)}: perplexity does not depend on b
================================  ===============================================================

Quantities such as ``H(p, q)`` or ``I(X; Y)`` are display-only SymPy functions (they print as
in a textbook and are replaced by their definitions before every check).  Two hints help SymPy
with the sums: :func:`merge_sums` brings a difference of (double) sums to one summand per
range, and :func:`gibbs_upper` / :func:`gibbs_lower` rewrite each logarithm with
``log x = x − 1 − φ(log x)`` or ``log x = 1 − 1/x + φ(−log x)`` so that a Gibbs-type
difference becomes a sum of non-negative terms ``p_k φ(...)`` that SymPy recognises.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import mpmath
import sympy
from sympy import (
    Derivative,
    Eq,
    IndexedBase,
    KroneckerDelta,
    Piecewise,
    Q,
    Rational,
    Sum,
    Symbol,
    exp,
    log,
)
from sympy.core.function import AppliedUndef

from derive.core import (
    Assumption,
    Definition,
    Derivation,
    EarlierResult,
    Identity,
    IntegerRange,
    Interval,
    LogUniform,
    Step,
    VectorOf,
    register,
)
from derive.functions import expm1mx

__all__ = ["gibbs_lower", "gibbs_upper", "merge_sums"]

TOPIC = "information"

# ------------------------------------------------------------------ shared symbols

#: Number of outcomes, a free outcome index and a bound summation index.
K = Symbol("K", integer=True, positive=True)
i = Symbol("i", integer=True, positive=True)
k = Symbol("k", integer=True)

#: Two distributions over K outcomes (the true one first) with positive entries.
p = IndexedBase("p", positive=True)
q = IndexedBase("q", positive=True)

#: Joint tables: X has M outcomes (index m), Y has N outcomes (index n).
M = Symbol("M", integer=True, positive=True)
N = Symbol("N", integer=True, positive=True)
m = Symbol("m", integer=True)
n = Symbol("n", integer=True)
#: Bound indices reserved for the marginals' definitions (never used in the steps).
_a = Symbol("i", integer=True)
_c = Symbol("j", integer=True)
X, Y = sympy.symbols("X Y")

#: Where vectors are drawn from before an assumption (normalisation, ...) is imposed.
_PROB = LogUniform(1e-3, 1)
_VECTORS = {K: IntegerRange(2, 5), p: VectorOf(K, _PROB), q: VectorOf(K, _PROB)}


# ------------------------------------------------------- display-only quantities


class _Quantity(sympy.Function):
    """An information quantity that prints like a textbook and is defined by a Definition."""

    _symbol = "?"
    _sep = ", "
    _latex_sep = ", "

    def _eval_is_real(self):
        return True

    def _latex(self, printer, exp=None):
        args = self._latex_sep.join(printer._print(a) for a in self.args)
        head = self._symbol if exp is None else rf"{self._symbol}^{{{exp}}}"
        return rf"{head}\left({args}\right)"

    def _sympystr(self, printer):
        return f"{self._text}({self._sep.join(printer._print(a) for a in self.args)})"


class H(_Quantity):
    """Entropy ``H(p)``, ``H(X)``; cross-entropy ``H(p, q)``; joint entropy ``H(X, Y)``."""

    _symbol = "H"
    _text = "H"


class _Applied(AppliedUndef):
    """A quantity of one fixed arity whose Definition holds for any arguments
    (``I(u) := −log u`` also defines ``I(p_x)``), printed like a textbook."""

    def _latex(self, printer, exp=None):
        *args, b = self.args
        inner = ", ".join(printer._print(a) for a in args)
        head = rf"{self._symbol}_{{{printer._print(b)}}}"
        if exp is not None:
            head = rf"{head}^{{{exp}}}"
        return rf"{head}\left({inner}\right)"

    def _sympystr(self, printer):
        *args, b = self.args
        return f"{self._symbol}_{printer._print(b)}({', '.join(printer._print(a) for a in args)})"


class Hb(_Applied):
    """Cross-entropy in base ``b``: ``Hb(p, q, b)`` prints ``H_b(p, q)``."""

    nargs = 3
    _symbol = "H"


class SelfInfoB(_Applied):
    """Self-information in base ``b``: ``SelfInfoB(x, b)`` prints ``I_b(x)``."""

    nargs = 2
    _symbol = "I"


class SelfInfo(AppliedUndef):
    """Self-information (surprisal) ``I(u)``; defined for any argument by ``I(u) := −log u``."""

    nargs = 1

    def _latex(self, printer, exp=None):
        head = "I" if exp is None else f"I^{{{exp}}}"
        return rf"{head}\left({printer._print(self.args[0])}\right)"

    def _sympystr(self, printer):
        return f"I({printer._print(self.args[0])})"


class Hcond(_Quantity):
    """Conditional entropy: ``Hcond(Y, X)`` prints ``H(Y | X)``."""

    _symbol = "H"
    _text = "H"
    _sep = " | "
    _latex_sep = r" \mid "


class KL(_Quantity):
    """KL divergence: ``KL(p, q)`` prints ``D(p ‖ q)``."""

    _symbol = r"D_{\mathrm{KL}}"
    _text = "D_KL"
    _sep = " || "
    _latex_sep = r" \,\|\, "


class MI(_Quantity):
    """Mutual information: ``MI(X, Y)`` prints ``I(X; Y)``."""

    _symbol = "I"
    _text = "I"
    _sep = "; "
    _latex_sep = "; "


class Lagrangian(_Quantity):
    r"""The Lagrangian ``Λ(p, λ)`` of the maximum-entropy problem."""

    _symbol = r"\Lambda"
    _text = "Λ"


# ------------------------------------------------------------------------- hints


def _positive_log_expand(e: sympy.Basic) -> sympy.Basic:
    """``expand_log`` in which a ``Sum`` of positive terms over a non-empty range counts as
    positive (it is: ``Σ_{j=1}^{N} p_j > 0`` for ``p_j > 0``, ``N >= 1``) — so
    ``log(p[m, n] / Σ_j p[m, j])`` splits into ``log p[m, n] − log Σ_j p[m, j]``."""

    def expand_one(lg: log) -> sympy.Basic:
        sums = {s for s in lg.args[0].atoms(Sum) if s.is_positive}
        stand_in = {s: sympy.Dummy(positive=True) for s in sums}
        out = sympy.expand_log(lg.xreplace(stand_in), force=False)
        return out.xreplace({v: s for s, v in stand_in.items()})

    return e.replace(lambda x: isinstance(x, log), expand_one)


def _fresh(s: Sum) -> Sum:
    """``s`` with its bound indices renamed to new dummies (so that nothing is captured)."""
    subs = {lim[0]: sympy.Dummy(lim[0].name, integer=True) for lim in s.limits}
    return s.xreplace(subs)


def _push_into_sums(e: sympy.Basic) -> sympy.Basic:
    """Distribute every product over the sums among its factors:
    ``c · Σ_j f_j`` becomes ``Σ_j c f_j``, recursively, so that each term is one (multiple)
    sum around one summand.  (SymPy itself writes ``Σ_m Σ_n f`` as one ``Sum`` with two
    limits, innermost first.)"""
    e = sympy.expand(e)
    if isinstance(e, sympy.Add):
        return sympy.Add(*[_push_into_sums(t) for t in e.args])
    if isinstance(e, Sum):
        return Sum(_push_into_sums(e.function), *e.limits)
    if isinstance(e, sympy.Mul):
        factors = list(e.args)
        for idx, f in enumerate(factors):
            if isinstance(f, Sum):
                s = _fresh(f)
                rest = sympy.Mul(*(factors[:idx] + factors[idx + 1:]))
                return Sum(_push_into_sums(s.function * rest), *s.limits)
    return e


def _constant_limits(s: Sum) -> bool:
    variables = set(s.variables)
    return not any((lo.free_symbols | hi.free_symbols) & variables for _, lo, hi in s.limits)


def _ordered(e: sympy.Basic) -> sympy.Basic:
    """Put the limits of every multiple sum with constant ranges in a canonical order (by
    the upper limit): finite sums commute, so ``Σ_n Σ_m f = Σ_m Σ_n f``."""
    if isinstance(e, sympy.Add):
        return sympy.Add(*[_ordered(t) for t in e.args])
    if not isinstance(e, Sum) or not _constant_limits(e):
        return e
    limits = sorted(e.limits, key=lambda lim: sympy.default_sort_key(lim[1:]))
    return Sum(e.function, *limits)


def _renamed(e: sympy.Basic, depth: int = 0) -> sympy.Basic:
    """Name every bound index after its nesting depth (outermost first), so that sums that
    differ only in the names of their indices become identical expressions."""
    if isinstance(e, Sum):
        r = len(e.limits)
        names = {lim[0]: Symbol(f"ι{depth + r - 1 - j}", integer=True)
                 for j, lim in enumerate(e.limits)}
        limits = [(names[v], _renamed(lo, depth), _renamed(hi, depth)) for v, lo, hi in e.limits]
        return Sum(_renamed(e.function.xreplace(names), depth + r), *limits)
    if not e.args or isinstance(e, sympy.IndexedBase):
        return e
    return e.func(*[_renamed(a, depth) for a in e.args])


def _merged(e: sympy.Basic) -> sympy.Basic:
    """Add the summands of sums over the same range: ``Σ f + Σ g = Σ (f + g)``; the
    innermost summands are brought to a canonical form (logs of positive terms expanded)."""
    groups: dict[tuple, list] = {}
    rest = []
    for t in sympy.Add.make_args(e):
        if isinstance(t, Sum):
            groups.setdefault(t.limits, []).append(t.function)
        else:
            rest.append(t)
    out = [sympy.expand(_positive_log_expand(sympy.Add(*rest)))]
    for limits, bodies in groups.items():
        body = _merged(sympy.expand(sympy.Add(*bodies)))
        out.append(Sum(body, *limits) if body != 0 else sympy.S.Zero)
    return sympy.Add(*out)


def merge_sums(e: sympy.Basic) -> sympy.Basic:
    """Hint: bring ``e`` to one nest of sums per range with a canonical summand.

    Products are distributed over sums (``Σ_m p_X[m] log p_X[m]`` with
    ``p_X[m] = Σ_n p[m, n]`` becomes ``Σ_m Σ_n p[m, n] log p_X[m]``), nested sums are put in
    a canonical order and their indices named by depth, sums over the same range are added
    summand by summand, and logs of positive products are expanded.  A difference of two
    expressions for the same (double) sum becomes 0.

    >>> merge_sums(Sum(p[k] * log(p[k] / q[k]), (k, 1, K)) - Sum(p[k] * log(p[k]), (k, 1, K))
    ...            + Sum(p[k] * log(q[k]), (k, 1, K)))
    0
    """
    # (the checker hands hints expressions whose sums and derivatives are already done)
    e = _positive_log_expand(sympy.expand(e))
    return _merged(_renamed(_ordered(_push_into_sums(_positive_log_expand(e)))))


def _tangent_log(upper: bool) -> Callable[[sympy.Basic], sympy.Basic]:
    def rewrite(lg: log) -> sympy.Basic:
        x = lg.args[0]
        if upper:  # log x = x − 1 − φ(log x): the gap below the tangent x − 1
            return x - 1 - expm1mx(lg)
        return 1 - 1 / x + expm1mx(-lg)  # log x = 1 − 1/x + φ(−log x)

    def hint(d: sympy.Basic) -> sympy.Basic:
        from derive.core import _factor_sums

        logs = {lg for lg in d.atoms(log) if lg.args[0].is_positive}
        d = d.xreplace({lg: rewrite(lg) for lg in logs})
        return sympy.expand(_factor_sums(sympy.expand(d)))

    return hint


#: Hint for ``−Σ w log x ≥ −Σ w (x − 1)``-type steps: every ``log x`` is written as
#: ``x − 1 − φ(log x)``, so the difference is a sum of ``w φ(log x) ≥ 0``.
gibbs_upper = _tangent_log(upper=True)
#: Hint for ``Σ w log x ≥ Σ w (1 − 1/x)``-type steps: ``log x = 1 − 1/x + φ(−log x)``.
gibbs_lower = _tangent_log(upper=False)


def _pick(index: sympy.Symbol, lo: sympy.Basic, hi: sympy.Basic):
    """Hint: evaluate sums of Kronecker deltas for ``lo <= index <= hi`` — SymPy attaches
    ``Piecewise`` range conditions that ``refine`` removes (before anything simplifies)."""
    facts = Q.ge(index, lo) & Q.le(index, hi)

    def hint(d: sympy.Basic) -> sympy.Basic:
        d = d.doit(integrals=False)
        d = d.replace(lambda x: isinstance(x, Piecewise), lambda pw: sympy.refine(pw, facts))
        return sympy.expand(d)

    return hint


# ------------------------------------------------------------------ assumptions


def _normalise(*bases: IndexedBase) -> Callable[[dict, random.Random], dict]:
    """A ``constrain`` that rescales each vector (or table) in ``bases`` to sum to 1."""

    def constrain(point: dict, rng: random.Random) -> dict:
        for b in bases:
            total = mpmath.fsum(point[b].values())
            point[b] = {idx: v / total for idx, v in point[b].items()}
        return point

    return constrain


def _sums_to_one(base: IndexedBase, what: str) -> Assumption:
    return Assumption(f"{what} sums to 1", Eq(Sum(base[k], (k, 1, K)), 1),
                      constrain=_normalise(base))


SUM_P = _sums_to_one(p, "p")
SUM_Q = _sums_to_one(q, "q")
POSITIVE = Assumption(
    "positive probabilities",
    sympy.And(sympy.Gt(p[k], 0, evaluate=False), sympy.Gt(q[k], 0, evaluate=False),
              evaluate=False),
)

#: log x <= x − 1 for x > 0 (the tangent of log at x = 1 lies above it).
LOG_BELOW_TANGENT = Identity(
    "log x ≤ x − 1",
    sympy.Le(log(Symbol("x", positive=True)), Symbol("x", positive=True) - 1, evaluate=False),
    {Symbol("x", positive=True): LogUniform(1e-6, 1e6)},
)
_u = Symbol("u", real=True)
#: φ(u) = e^u − 1 − u >= 0: e^u lies above its tangent 1 + u.
PHI_NONNEGATIVE = Identity(
    "φ(u) = e^u − 1 − u ≥ 0",
    sympy.Ge(expm1mx(_u), 0, evaluate=False),
    {_u: Interval(-20, 20)},
)
_x = Symbol("x", positive=True)
PHI_OF_LOG = Identity(
    "φ(log x) = x − 1 − log x",
    Eq(expm1mx(log(_x)), _x - 1 - log(_x)),
    {_x: LogUniform(1e-6, 1e6)},
)


def _sum(body: sympy.Expr) -> Sum:
    return Sum(body, (k, 1, K))


def _entropy(v: IndexedBase) -> sympy.Expr:
    return -_sum(v[k] * log(v[k]))


def _cross_entropy(v: IndexedBase, w: IndexedBase) -> sympy.Expr:
    return -_sum(v[k] * log(w[k]))


def _kl(v: IndexedBase, w: IndexedBase) -> sympy.Expr:
    return _sum(v[k] * log(v[k] / w[k]))


ENTROPY_P = Definition(H(p), _entropy(p), "entropy H(p) = −Σ p_k log p_k")
CROSS_ENTROPY = Definition(H(p, q), _cross_entropy(p, q), "cross-entropy H(p, q) = −Σ p_k log q_k")
KL_PQ = Definition(KL(p, q), _kl(p, q), "KL divergence D(p ‖ q) = Σ p_k log(p_k/q_k)")


# ------------------------------------------------------ self-information-additivity

_SELF_INFO_STATEMENT = (
    "For independent events x and y, I(x, y) = I(x) + I(y): surprisals add; in base b every "
    "information is the information in nats divided by ln b, so additivity holds in bits too."
)


@register("self-information-additivity", title="Self-information of independent events adds up",
          statement=_SELF_INFO_STATEMENT, topic=TOPIC)
def _self_information_additivity() -> Derivation:
    px, py, pxy = sympy.symbols("p_x p_y p_xy", positive=True)
    b = Symbol("b", positive=True)
    u = Symbol("u", positive=True)
    independent = Assumption(
        "independent events",
        Eq(pxy, px * py),
        constrain=lambda point, rng: {**point, pxy: point[px] * point[py]},
    )
    return Derivation(
        name="self-information-additivity",
        title="Self-information of independent events adds up",
        statement=_SELF_INFO_STATEMENT,
        topic=TOPIC,
        steps=[
            Step(Eq(SelfInfo(pxy), -log(pxy)),
                 "definition: an event of probability p carries I = −log p nats of information "
                 "(its surprisal) — the rarer the event, the larger the surprise"),
            Step(-log(px * py),
                 "x and y are independent, so the probability that both happen is the product "
                 "p(x, y) = p(x) p(y)",
                 relies_on=(independent,)),
            Step(-log(px) - log(py),
                 "the logarithm turns a product into a sum (both probabilities are positive)"),
            Step(SelfInfo(px) + SelfInfo(py),
                 "each term is the self-information of one event: the surprisals add up"),
            Step(Eq(SelfInfoB(pxy, b), SelfInfo(pxy) / log(b)),
                 "change of base: log_b u = ln u / ln b, so information in base b is the "
                 "information in nats divided by ln b"),
            Step((SelfInfo(px) + SelfInfo(py)) / log(b),
                 "use steps (1)–(4) for the information in nats",
                 relies_on=(independent,)),
            Step(SelfInfoB(px, b) + SelfInfoB(py, b),
                 "divide each term by ln b: additivity holds in every base — in bits (b = 2), "
                 "in nats (b = e), in bans (b = 10)"),
            Step(Eq(SelfInfoB(Rational(1, 8), 2), 3),
                 "an example: an event of probability 1/8 carries log₂ 8 = 3 bits ..."),
            Step(Eq(SelfInfo(Rational(1, 8)), 3 * log(2)),
                 "... which is 3 ln 2 ≈ 2.079 nats: 1 bit = ln 2 ≈ 0.693 nats"),
        ],
        result=Eq(SelfInfoB(pxy, b), -log(px) / log(b) - log(py) / log(b)),
        domains={px: LogUniform(1e-3, 1), py: LogUniform(1e-3, 1), pxy: LogUniform(1e-6, 1),
                 b: Interval(2, 10)},
        definitions=[
            Definition(SelfInfo(u), -log(u), "self-information in nats"),
            Definition(SelfInfoB(u, b), -log(u) / log(b), "self-information in base b"),
        ],
        parameters=(px, py, b),
    )


# -------------------------------------------------------- ce-equals-entropy-plus-kl

_CE_STATEMENT = (
    "H(p, q) = H(p) + D(p ‖ q): the cross-entropy is the entropy of p plus the KL divergence "
    "of q from p — so it is never below H(p), and minimising it over q minimises D(p ‖ q)."
)


@register("ce-equals-entropy-plus-kl", title="Cross-entropy = entropy + KL divergence",
          statement=_CE_STATEMENT, topic=TOPIC)
def _ce_equals_entropy_plus_kl() -> Derivation:
    return Derivation(
        name="ce-equals-entropy-plus-kl",
        title="Cross-entropy = entropy + KL divergence",
        statement=_CE_STATEMENT,
        topic=TOPIC,
        steps=[
            Step(Eq(H(p, q), _cross_entropy(p, q)),
                 "definition of the cross-entropy of the model q relative to the true "
                 "distribution p (in nats)"),
            Step(-_sum(p[k] * (log(p[k]) - log(p[k] / q[k]))),
                 "add and subtract log p_k: log q_k = log p_k − log(p_k/q_k)",
                 relies_on=(POSITIVE,)),
            Step(_entropy(p) + _kl(p, q),
                 "multiply out and split the sum in two (a sum of differences is the "
                 "difference of the sums)"),
            Step(H(p) + KL(p, q),
                 "the first sum is the entropy of p, the second the KL divergence of q from p"),
            Step(H(p),
                 "D(p ‖ q) ≥ 0 when p and q are probability distributions (Gibbs' inequality): "
                 "the cross-entropy is never below the entropy, with equality only at q = p",
                 relies_on=(SUM_P, SUM_Q, EarlierResult("kl-nonnegative")),
                 relation=">=", hint=gibbs_lower),
        ],
        result=Eq(H(p, q), _entropy(p) + _kl(p, q)),
        domains=dict(_VECTORS),
        definitions=[CROSS_ENTROPY, ENTROPY_P, KL_PQ],
        parameters=(p, q),
    )


# ------------------------------------------------------------------ kl-nonnegative

_KL_STATEMENT = (
    "Gibbs' inequality: D(p ‖ q) ≥ 0 for probability distributions p, q, with equality exactly "
    "when q = p; indeed D(p ‖ q) = Σ_k p_k φ(log(q_k/p_k)) with φ(u) = e^u − 1 − u ≥ 0."
)

#: q equals p — only for the equality case.
EQUAL = Assumption(
    "q = p (only for the equality case)",
    Eq(q[k], p[k]),
    constrain=lambda point, rng: {**point, q: dict(point[p])},
    subs=((q, p),),
)


def _elementary(d: sympy.Basic) -> sympy.Basic:
    """Hint: rewrite φ into exp and log, split logs of positive quotients, split sums."""
    from derive.core import _factor_sums

    d = sympy.expand(d.rewrite(exp))
    return sympy.expand(_factor_sums(sympy.expand_log(d, force=False)))


@register("kl-nonnegative", title="Gibbs' inequality: the KL divergence is never negative",
          statement=_KL_STATEMENT, topic=TOPIC)
def _kl_nonnegative() -> Derivation:
    ratio = q[k] / p[k]
    return Derivation(
        name="kl-nonnegative",
        title="Gibbs' inequality: the KL divergence is never negative",
        statement=_KL_STATEMENT,
        topic=TOPIC,
        steps=[
            Step(Eq(KL(p, q), _kl(p, q)),
                 "definition of the KL divergence of q from p"),
            Step(-_sum(p[k] * log(ratio)),
                 "log(p_k/q_k) = −log(q_k/p_k): turn the ratio upside down",
                 relies_on=(POSITIVE,)),
            Step(-_sum(p[k] * (ratio - 1)),
                 "log x ≤ x − 1 for every x > 0 (the logarithm lies below its tangent at x = 1, "
                 "touching it only there); use it with x = q_k/p_k and multiply by −p_k < 0, "
                 "which turns ≤ into ≥",
                 relies_on=(LOG_BELOW_TANGENT, POSITIVE), relation=">=", hint=gibbs_upper),
            Step(-_sum(q[k]) + _sum(p[k]),
                 "p_k · q_k/p_k = q_k; split the sum"),
            Step(sympy.S.Zero,
                 "both are probability distributions: Σ q_k = Σ p_k = 1 — so D(p ‖ q) ≥ 0",
                 relies_on=(SUM_P, SUM_Q)),
            Step(Eq(KL(p, q), _sum(p[k] * expm1mx(log(ratio)))),
                 "the equality case: the gap in (3) is all of D, a sum of the terms "
                 "p_k φ(log(q_k/p_k)) with φ(u) = e^u − 1 − u, because φ(log x) = x − 1 − log x "
                 "and Σ (q_k − p_k) = 0",
                 relies_on=(PHI_OF_LOG, SUM_P, SUM_Q), hint=_elementary),
            Step(sympy.S.Zero,
                 "φ(u) ≥ 0 (e^u lies above its tangent 1 + u) and p_k > 0: a sum of "
                 "non-negative terms — zero only if every φ(log(q_k/p_k)) = 0, i.e. q_k = p_k "
                 "for every k",
                 relies_on=(PHI_NONNEGATIVE, POSITIVE), relation=">="),
            Step(Eq(KL(p, q), 0),
                 "conversely, if q = p every log(p_k/q_k) = log 1 = 0, so D(p ‖ p) = 0",
                 relies_on=(EQUAL,)),
        ],
        result=Eq(KL(p, q), _sum(p[k] * expm1mx(log(ratio)))),
        domains=dict(_VECTORS),
        definitions=[KL_PQ],
        parameters=(p, q),
        result_assumptions=(SUM_P, SUM_Q),
        result_hint=_elementary,
    )


# ----------------------------------------------------------- cross-entropy-one-hot

_ONE_HOT_STATEMENT = (
    "If the target p is one-hot at the true class y (p_k = 1 for k = y, else 0), the "
    "cross-entropy H(p, q) = −log q_y: the negative log-likelihood of the true class, ≥ 0 and "
    "zero only for a confident correct prediction q_y = 1."
)


@register("cross-entropy-one-hot", title="Cross-entropy with a one-hot target is −log q_y",
          statement=_ONE_HOT_STATEMENT, topic=TOPIC)
def _cross_entropy_one_hot() -> Derivation:
    y = Symbol("y", integer=True, positive=True)
    t = IndexedBase("p", nonnegative=True)  # a one-hot target has zeros

    def one_hot(point: dict, rng: random.Random) -> dict:
        cls = int(point[y])
        point[t] = {idx: mpmath.mpf(1 if idx[0] == cls else 0) for idx in point[t]}
        return point

    one_hot_target = Assumption(
        "one-hot target", Eq(t[k], KroneckerDelta(k, y)), constrain=one_hot, subs=())

    def insert_one_hot(d: sympy.Basic) -> sympy.Basic:
        """The one-hot assumption, applied to every entry t[j] (a bound index too)."""
        d = d.replace(lambda x: isinstance(x, sympy.Indexed) and x.base == t,
                      lambda x: KroneckerDelta(x.indices[0], y))
        return _pick(y, 1, K)(d)

    return Derivation(
        name="cross-entropy-one-hot",
        title="Cross-entropy with a one-hot target is −log q_y",
        statement=_ONE_HOT_STATEMENT,
        topic=TOPIC,
        steps=[
            Step(Eq(H(t, q), _cross_entropy(t, q)),
                 "definition of the cross-entropy of the prediction q relative to the target p"),
            Step(-_sum(KroneckerDelta(k, y) * log(q[k])),
                 "the target is one-hot at the true class y: p_k = δ_ky (1 if k = y, else 0)",
                 relies_on=(one_hot_target,), hint=insert_one_hot),
            Step(-log(q[y]),
                 "every term with k ≠ y is multiplied by 0; the term k = y (1 ≤ y ≤ K) remains",
                 hint=_pick(y, 1, K)),
            Step(sympy.S.Zero,
                 "q is a probability distribution, so 0 < q_y ≤ 1 and −log q_y ≥ 0; it is 0 "
                 "only when the model puts all its probability on the true class, and grows "
                 "without bound as q_y → 0",
                 relies_on=(SUM_Q,), relation=">="),
        ],
        result=Eq(H(t, q), -log(q[y])),
        # q is drawn up to 4 (unnormalised scores) so that step (4) needs Σ q_k = 1
        domains={K: IntegerRange(2, 5), y: IntegerRange(1, K), t: VectorOf(K, _PROB),
                 q: VectorOf(K, LogUniform(1e-3, 4))},
        definitions=[Definition(H(t, q), _cross_entropy(t, q), "cross-entropy")],
        parameters=(q, y),
        result_hint=insert_one_hot,
    )


# ------------------------------------------------------------- joint distributions

#: The joint distribution of (X, Y) as an M × N table, and its marginals and conditional.
P = IndexedBase("p", positive=True)
P_X = IndexedBase("p_X")
P_Y = IndexedBase("p_Y")
P_Y_GIVEN_X = IndexedBase("p_Y|X")
_TABLE = {M: IntegerRange(2, 3), N: IntegerRange(2, 3), P: VectorOf((M, N), _PROB)}


def _double(body: sympy.Expr) -> Sum:
    """``Σ_m Σ_n body`` (SymPy keeps it as one Sum with the inner limit first)."""
    return Sum(body, (n, 1, N), (m, 1, M))


MARGINAL_X = Definition(P_X[m], Sum(P[m, _c], (_c, 1, N)),
                        "marginal of X: p_X(x_m) = Σ_n p(x_m, y_n)")
MARGINAL_Y = Definition(P_Y[n], Sum(P[_a, n], (_a, 1, M)),
                        "marginal of Y: p_Y(y_n) = Σ_m p(x_m, y_n)")
CONDITIONAL_Y = Definition(P_Y_GIVEN_X[m, n], P[m, n] / P_X[m],
                           "conditional: p(y_n | x_m) = p(x_m, y_n) / p_X(x_m)")
JOINT_ENTROPY = Definition(H(X, Y), -_double(P[m, n] * log(P[m, n])), "joint entropy")
ENTROPY_X = Definition(H(X), -Sum(P_X[m] * log(P_X[m]), (m, 1, M)), "entropy of X")
ENTROPY_Y = Definition(H(Y), -Sum(P_Y[n] * log(P_Y[n]), (n, 1, N)), "entropy of Y")
COND_ENTROPY_Y = Definition(Hcond(Y, X), -_double(P[m, n] * log(P[m, n] / P_X[m])),
                            "conditional entropy of Y given X")
COND_ENTROPY_X = Definition(Hcond(X, Y), -_double(P[m, n] * log(P[m, n] / P_Y[n])),
                            "conditional entropy of X given Y")
POSITIVE_TABLE = Assumption("positive joint probabilities", sympy.Gt(P[m, n], 0, evaluate=False))
SUM_TABLE = Assumption("the joint distribution sums to 1",
                       Eq(_double(P[m, n]), 1), constrain=_normalise(P))


def _marginals_expanded(e: sympy.Expr) -> sympy.Expr:
    """``e`` with the marginals written out as sums over the table (for exported results)."""
    from derive.core import _apply_definitions

    return _apply_definitions(e, [CONDITIONAL_Y, MARGINAL_X, MARGINAL_Y])


# -------------------------------------------------------------- entropy-chain-rule

_CHAIN_STATEMENT = (
    "H(X, Y) = H(X) + H(Y | X): the uncertainty of the pair is the uncertainty of X plus what "
    "remains about Y once X is known (for X with M outcomes, Y with N outcomes)."
)


@register("entropy-chain-rule", title="The chain rule of entropy",
          statement=_CHAIN_STATEMENT, topic=TOPIC)
def _entropy_chain_rule() -> Derivation:
    rhs = ENTROPY_X.expr + COND_ENTROPY_Y.expr
    return Derivation(
        name="entropy-chain-rule",
        title="The chain rule of entropy",
        statement=_CHAIN_STATEMENT,
        topic=TOPIC,
        steps=[
            Step(Eq(H(X, Y), JOINT_ENTROPY.expr),
                 "definition of the joint entropy of X and Y, from their joint distribution "
                 "p(x_m, y_n)"),
            Step(-_double(P[m, n] * log(P_X[m] * P_Y_GIVEN_X[m, n])),
                 "product rule: p(x_m, y_n) = p_X(x_m) · p(y_n | x_m)"),
            Step(-_double(P[m, n] * log(P_X[m])) - _double(P[m, n] * log(P_Y_GIVEN_X[m, n])),
                 "the log of a product is the sum of the logs (all probabilities are positive); "
                 "split the double sum",
                 relies_on=(POSITIVE_TABLE,), hint=merge_sums),
            Step(-Sum(P_X[m] * log(P_X[m]), (m, 1, M))
                 - _double(P[m, n] * log(P_Y_GIVEN_X[m, n])),
                 "log p_X(x_m) does not depend on n, so the sum over n only adds up the joint "
                 "probabilities: Σ_n p(x_m, y_n) = p_X(x_m) (marginalisation)",
                 hint=merge_sums),
            Step(H(X) + Hcond(Y, X),
                 "the first sum is the entropy of X, the second the conditional entropy of Y "
                 "given X: the average over x of the uncertainty left in Y"),
            Step(H(X),
                 "each p(y_n | x_m) ≤ 1, so every −log p(y_n | x_m) ≥ 0 and H(Y | X) ≥ 0: the "
                 "pair is at least as uncertain as X alone",
                 relation=">=", numeric_only=True),
        ],
        result=Eq(H(X, Y), _marginals_expanded(rhs)),
        domains=dict(_TABLE),
        # in the order they unfold, so that one pass substitutes them all
        definitions=[JOINT_ENTROPY, ENTROPY_X, COND_ENTROPY_Y, CONDITIONAL_Y, MARGINAL_X],
        parameters=(P,),
        result_hint=merge_sums,
    )


# ---------------------------------------------------- mutual-information-identities

_MI_STATEMENT = (
    "I(X; Y) = H(X) − H(X | Y) = H(X) + H(Y) − H(X, Y) = D(P_XY ‖ P_X P_Y) = I(Y; X): what Y "
    "tells about X is what X tells about Y; it is ≥ 0, and 0 for independent X and Y."
)
P_XY, P_XP_Y = Symbol("P_XY"), Symbol("P_X") * Symbol("P_Y")


def _independent(point: dict, rng: random.Random) -> dict:
    """Replace the table by the product of its (normalised) marginals."""
    table = point[P]
    total = mpmath.fsum(table.values())
    rows = {a: mpmath.fsum(v for (r, _), v in table.items() if r == a) / total
            for a, _ in table}
    cols = {c: mpmath.fsum(v for (_, s), v in table.items() if s == c) / total
            for _, c in table}
    point[P] = {(a, c): rows[a] * cols[c] for a, c in table}
    return point


INDEPENDENT_XY = Assumption(
    "X and Y independent (only for the example)",
    Eq(P[m, n], P_X[m] * P_Y[n]),
    constrain=_independent,
)


@register("mutual-information-identities", title="Mutual information: four ways to write it",
          statement=_MI_STATEMENT, topic=TOPIC)
def _mutual_information_identities() -> Derivation:
    log_ratio = log(P[m, n] / (P_X[m] * P_Y[n]))
    kl_form = _double(P[m, n] * log_ratio)
    return Derivation(
        name="mutual-information-identities",
        title="Mutual information: four ways to write it",
        statement=_MI_STATEMENT,
        topic=TOPIC,
        steps=[
            Step(Eq(MI(X, Y), H(X) - Hcond(X, Y)),
                 "definition: the information Y carries about X is how much knowing Y "
                 "reduces the uncertainty of X"),
            Step(H(X) + H(Y) - H(X, Y),
                 "the chain rule with the roles of X and Y exchanged, H(X, Y) = H(Y) + H(X | Y), "
                 "gives H(X | Y) = H(X, Y) − H(Y): the two marginal uncertainties minus the "
                 "joint one",
                 relies_on=(EarlierResult("entropy-chain-rule"), POSITIVE_TABLE),
                 hint=merge_sums),
            Step(_double(P[m, n] * log(P[m, n])) - _double(P[m, n] * log(P_X[m]))
                 - _double(P[m, n] * log(P_Y[n])),
                 "write out the entropies; in H(X) replace p_X(x_m) = Σ_n p(x_m, y_n) in front "
                 "of the log, and likewise in H(Y) (marginalisation read backwards)",
                 hint=merge_sums),
            Step(kl_form,
                 "combine the three logs into one (all probabilities are positive)",
                 relies_on=(POSITIVE_TABLE,), hint=merge_sums),
            Step(KL(P_XY, P_XP_Y),
                 "this is the KL divergence of the product of the marginals from the joint "
                 "distribution: how far X and Y are from independent"),
            Step(Eq(MI(X, Y), MI(Y, X)),
                 "the form (4) does not change when X and Y swap roles, so "
                 "H(X) − H(X | Y) = H(Y) − H(Y | X): Y tells as much about X as X about Y",
                 hint=merge_sums),
            Step(sympy.S.Zero,
                 "a KL divergence between two distributions is never negative (Gibbs' "
                 "inequality; the product of the marginals sums to 1 when the joint does)",
                 relies_on=(SUM_TABLE, EarlierResult("kl-nonnegative")), relation=">=",
                 numeric_only=True),
            Step(Eq(MI(X, Y), 0),
                 "an example: for independent X and Y, p(x_m, y_n) = p_X(x_m) p_Y(y_n), every "
                 "log in (4) is log 1 = 0 and the information is zero",
                 relies_on=(SUM_TABLE, INDEPENDENT_XY), numeric_only=True),
        ],
        result=Eq(MI(X, Y), _marginals_expanded(kl_form)),
        domains=dict(_TABLE),
        definitions=[
            Definition(MI(X, Y), H(X) - Hcond(X, Y), "mutual information"),
            Definition(MI(Y, X), H(Y) - Hcond(Y, X), "mutual information, roles swapped"),
            Definition(KL(P_XY, P_XP_Y), kl_form, "KL divergence of P_X P_Y from P_XY"),
            JOINT_ENTROPY, ENTROPY_X, ENTROPY_Y, COND_ENTROPY_X, COND_ENTROPY_Y,
            MARGINAL_X, MARGINAL_Y,
        ],
        parameters=(P,),
        result_assumptions=(SUM_TABLE,),
        result_hint=merge_sums,
    )


# --------------------------------------------------------- entropy-maximum-uniform

_MAX_STATEMENT = (
    "Among distributions on K outcomes the entropy is largest for the uniform one: the "
    "Lagrange conditions give p_k = 1/K and H = log K, and H(p) = log K − D(p ‖ u) ≤ log K."
)


@register("entropy-maximum-uniform", title="The uniform distribution has the largest entropy",
          statement=_MAX_STATEMENT, topic=TOPIC)
def _entropy_maximum_uniform() -> Derivation:
    lam = Symbol("lambda", real=True)
    lagrangian = Lagrangian(p, lam)

    def stationary_point(point: dict, rng: random.Random) -> dict:
        # every p_k equal (their mean, so a normalised p stays normalised), λ = 1 + log p_k
        mean = mpmath.fsum(point[p].values()) / len(point[p])
        point[p] = {idx: mean for idx in point[p]}
        point[lam] = 1 + mpmath.log(mean)
        return point

    stationary = Assumption(
        "p is a stationary point of the Lagrangian",
        Eq(Derivative(lagrangian, p[k]), 0),
        constrain=stationary_point,
        subs=(),
    )

    def at_stationary(d: sympy.Basic) -> sympy.Basic:
        """Stationarity, −log p_j − 1 + λ = 0 for every j: each p_j is e^{λ − 1}."""
        d = d.replace(lambda x: isinstance(x, sympy.Indexed) and x.base == p,
                      lambda x: exp(lam - 1))
        return sympy.expand(d.doit(integrals=False))

    both = (SUM_P, stationary)  # this order: normalise p, then equalise it (keeps the sum)
    uniform_entropy = -_sum(log(1 / K) / K)
    return Derivation(
        name="entropy-maximum-uniform",
        title="The uniform distribution has the largest entropy",
        statement=_MAX_STATEMENT,
        topic=TOPIC,
        steps=[
            Step(Eq(lagrangian, _entropy(p) + lam * (_sum(p[k]) - 1)),
                 "maximise H(p) = −Σ p_k log p_k subject to Σ p_k = 1: the Lagrangian adds the "
                 "constraint times a multiplier λ"),
            Step(Eq(Derivative(lagrangian, p[i]), -log(p[i]) - 1 + lam),
                 "differentiate with respect to one p_i: only the term k = i depends on it, "
                 "d/dp (−p log p) = −log p − 1, and d/dp_i of λ Σ p_k is λ",
                 hint=_pick(i, 1, K)),
            Step(Eq(log(p[i]), lam - 1),
                 "at a maximum (a stationary point) every partial derivative is zero",
                 relies_on=(stationary,), hint=at_stationary),
            Step(Eq(p[i], exp(lam - 1)),
                 "exponentiate: every p_i equals the same number e^{λ − 1}",
                 relies_on=(stationary,), hint=at_stationary),
            Step(Eq(_sum(p[k]), K * exp(lam - 1)),
                 "add up all K of them",
                 relies_on=(stationary,), hint=at_stationary),
            Step(Eq(exp(lam - 1), 1 / K),
                 "the constraint says the sum is 1, so K e^{λ − 1} = 1",
                 relies_on=both, numeric_only=True),
            Step(Eq(p[i], 1 / K),
                 "so p_i = 1/K for every i: the uniform distribution u",
                 relies_on=both, numeric_only=True),
            Step(Eq(H(p), uniform_entropy),
                 "its entropy: each of the K terms is −(1/K) log(1/K)",
                 relies_on=both, numeric_only=True),
            Step(log(K),
                 "K equal terms: −K · (1/K) log(1/K) = log K"),
            Step(Eq(log(K) - H(p), _sum(p[k] * log(K * p[k]))),
                 "it is the largest value, not just a stationary one: for any distribution p, "
                 "log K = Σ p_k log K, so log K − H(p) = Σ p_k log(p_k/(1/K)) = D(p ‖ u)",
                 relies_on=(SUM_P,)),
            Step(sympy.S.Zero,
                 "a KL divergence is never negative (Gibbs' inequality): H(p) ≤ log K, with "
                 "equality only for p = u",
                 relies_on=(SUM_P, EarlierResult("kl-nonnegative")), relation=">=",
                 hint=gibbs_lower),
        ],
        # exported: the defining sum of non-negative terms — log K − D(p ‖ u) of step (10)
        # would cancel catastrophically when H(p) is small (p nearly one-hot)
        result=Eq(H(p), _entropy(p)),
        domains={K: IntegerRange(2, 5), i: IntegerRange(1, K), p: VectorOf(K, _PROB),
                 lam: Interval(-3, 3)},
        definitions=[Definition(lagrangian, _entropy(p) + lam * (_sum(p[k]) - 1), "Lagrangian"),
                     ENTROPY_P],
        parameters=(p,),
        result_assumptions=(SUM_P,),
        notes=(
            "The exported function is the entropy in its defining form −Σ p_k log p_k, a sum "
            "of non-negative terms. The equivalent log K − D(p ‖ u) of step (10) shows the "
            "bound but loses all accuracy when H(p) is tiny (p nearly one-hot): it subtracts "
            "two numbers close to log K."
        ),
    )


# ------------------------------------------------------ perplexity-base-invariance

_PPL_STATEMENT = (
    "Perplexity does not depend on the unit: b^{H_b(p, q)} = e^{H(p, q)} for every base b "
    "(2^{bits} = e^{nats}); a model that spreads its probability evenly over K classes has "
    "perplexity K."
)


@register("perplexity-base-invariance", title="Perplexity is the same in bits and in nats",
          statement=_PPL_STATEMENT, topic=TOPIC)
def _perplexity_base_invariance() -> Derivation:
    b = Symbol("b", positive=True)
    ce_nats = H(p, q)
    uniform_q = Assumption(
        "the model is uniform (only for the example)",
        Eq(q[k], 1 / K),
        constrain=lambda point, rng: {**point, q: {idx: mpmath.mpf(1) / len(point[q])
                                                   for idx in point[q]}},
        subs=(),
    )

    def insert_uniform(d: sympy.Basic) -> sympy.Basic:
        return d.replace(lambda x: isinstance(x, sympy.Indexed) and x.base == q,
                         lambda x: 1 / K)

    def power_as_exp(d: sympy.Basic) -> sympy.Basic:
        return sympy.expand(d.rewrite(exp))

    return Derivation(
        name="perplexity-base-invariance",
        title="Perplexity is the same in bits and in nats",
        statement=_PPL_STATEMENT,
        topic=TOPIC,
        steps=[
            Step(Eq(Hb(p, q, b), -_sum(p[k] * log(q[k], b))),
                 "definition of the cross-entropy in base b (b = 2: bits, b = e: nats)"),
            Step(-_sum(p[k] * log(q[k])) / log(b),
                 "change of base, log_b x = ln x / ln b; the factor 1/ln b is the same for "
                 "every k, so it comes out of the sum"),
            Step(ce_nats / log(b),
                 "the sum is the cross-entropy in nats: H_b = H / ln b"),
            Step(Eq(b ** Hb(p, q, b), sympy.Pow(b, ce_nats / log(b), evaluate=False)),
                 "the perplexity in base b is b raised to the cross-entropy in base b"),
            Step(exp(ce_nats),
                 "b^x = e^{x ln b}, and the ln b cancels: the perplexity is e^{H} whatever the "
                 "base", hint=power_as_exp),
            Step(Eq(2 ** Hb(p, q, 2), exp(ce_nats)),
                 "in particular 2^{cross-entropy in bits} = e^{cross-entropy in nats}",
                 hint=power_as_exp),
            Step(Eq(exp(ce_nats), K),
                 "an example: a model with q_k = 1/K has H(p, q) = −Σ p_k log(1/K) = log K for "
                 "any distribution p, so its perplexity is K — it is as unsure as a fair choice "
                 "among K classes",
                 relies_on=(SUM_P, uniform_q), hint=insert_uniform),
        ],
        result=Eq(b ** Hb(p, q, b), exp(_cross_entropy(p, q))),
        domains={**_VECTORS, b: Interval(2, 10)},
        definitions=[Definition(Hb(p, q, b), -_sum(p[k] * log(q[k], b)),
                                "cross-entropy in base b"), CROSS_ENTROPY],
        parameters=(p, q),
        result_assumptions=(SUM_P, SUM_Q),
        result_hint=power_as_exp,
    )
