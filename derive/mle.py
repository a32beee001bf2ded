"""Maximum likelihood: Bernoulli, categorical and Gaussian MLEs, and why NLL is cross-entropy.

==========================  =============================================================
name                        result
==========================  =============================================================
mle-bernoulli               p̂ = n1/n (mean NLL = cross-entropy of the empirical distribution)
mle-categorical             θ̂_i = n_i / Σ_k n_k (Lagrange multiplier for Σ θ = 1)
mle-gaussian                μ̂ = x̄, σ̂² = (1/n) Σ (x_i − x̄)²  (the biased estimator)
nll-equals-cross-entropy    −(1/N) log Π_i q(y_i | x_i) = H(p̂, q) = H(p̂) + D(p̂ ‖ q)
mse-is-gaussian-nll         Gaussian NLL with a fixed σ = MSE/(2σ²) + ½ log(2πσ²)
==========================  =============================================================

Stationary points are *assumptions* whose ``constrain`` finds the maximiser numerically —
``mpmath.findroot`` on the score at the working precision, never the closed form — so the
steps that state the estimator are checked against an independent high-precision
maximisation; symbolically, the stationary equations are solved by SymPy.
"""

from __future__ import annotations

import math

import mpmath
import sympy
from sympy import (
    Derivative,
    Eq,
    Function,
    IndexedBase,
    KroneckerDelta,
    Product,
    Rational,
    Sum,
    Symbol,
    log,
    pi,
)

from derive.core import (
    Assumption,
    Definition,
    Derivation,
    IntegerRange,
    Interval,
    LogUniform,
    Step,
    VectorOf,
    register,
)

__all__: list[str] = []

TOPIC = "likelihood"

ell = Function("ell")
half = Rational(1, 2)
i, j, k = sympy.symbols("i j k", integer=True)


def _log_of_product(d: sympy.Expr) -> sympy.Expr:
    """``log Π f = Σ log f`` and ``log(a^b c) = b log a + log c`` for the positive factors
    of a likelihood (hence ``force=True``), then sums split and factored."""
    d = sympy.expand_log(d, force=True)
    return _count_terms(sympy.expand(_split_sums(sympy.expand(d))))


def _count_terms(e: sympy.Expr) -> sympy.Expr:
    """``Σ_{i=a}^{b} c = (b − a + 1) c`` for a summand free of the index."""
    return sympy.expand(e.replace(
        lambda s: isinstance(s, Sum) and len(s.limits) == 1
        and not s.function.has(s.limits[0][0]),
        lambda s: s.doit()))


def _split_sums(e: sympy.Expr) -> sympy.Expr:
    from sympy.simplify.simplify import factor_sum

    def split(s):
        inner = sympy.expand(sympy.expand_log(s.function, force=True))
        return sympy.Add(*[factor_sum(Sum(t, *s.limits)) for t in sympy.Add.make_args(inner)])

    return e.replace(lambda x: isinstance(x, Sum), split)


def _rename_indices(e: sympy.Expr, to: sympy.Symbol) -> sympy.Expr:
    """Rename the bound index of every single-index sum to ``to`` (a bound variable's name
    does not matter), so that ``Σ_i x_i`` and ``Σ_j x_j`` cancel."""
    return e.replace(
        lambda s: isinstance(s, Sum) and len(s.limits) == 1 and s.limits[0][0] != to
        and not s.function.has(to),
        lambda s: Sum(s.function.subs(s.limits[0][0], to), (to, *s.limits[0][1:])))


def _collapse_deltas(e: sympy.Expr) -> sympy.Expr:
    """``Σ_k δ(a, k) f(k) = f(a)`` for an index ``a`` in the summation range (the terms that
    differentiating a sum by one of its entries leaves)."""

    def is_delta_sum(s):
        if not isinstance(s, Sum) or len(s.limits) != 1:
            return False
        var = s.limits[0][0]
        return any(isinstance(f, KroneckerDelta) and var in f.args
                   for f in sympy.Mul.make_args(s.function))

    def collapse(s):
        var = s.limits[0][0]
        factors = list(sympy.Mul.make_args(s.function))
        delta = next(f for f in factors if isinstance(f, KroneckerDelta) and var in f.args)
        other = delta.args[0] if delta.args[1] == var else delta.args[1]
        factors.remove(delta)
        return sympy.Mul(*factors).subs(var, other)

    previous = None
    while previous != e:
        previous = e
        e = sympy.expand(e).replace(is_delta_sum, collapse)
    return e


def _findroot(f, x0, **kw):
    return mpmath.findroot(f, x0, tol=mpmath.mpf(10) ** (-(mpmath.mp.dps - 8)), **kw)


def _bracketed_root(f, lo, hi, *, geometric: bool = False):
    """The root of ``f`` in ``[lo, hi]`` (``f(lo)``, ``f(hi)`` of opposite signs): bisection
    (in log scale when ``geometric``) until the bracket is narrow, then mpmath.findroot's
    secant iteration to the working precision."""
    lo, hi = mpmath.mpf(lo), mpmath.mpf(hi)
    f_lo = f(lo)
    if f_lo * f(hi) > 0:
        raise ValueError("no sign change in the bracket")
    for _ in range(80):
        mid = mpmath.sqrt(lo * hi) if geometric else (lo + hi) / 2
        f_mid = f(mid)
        if f_mid == 0:
            return mid
        if (f_mid > 0) == (f_lo > 0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return _findroot(f, (lo, hi), solver="secant")


# -------------------------------------------------------------------- mle-bernoulli

n = Symbol("n", integer=True, positive=True)
y = IndexedBase("y", real=True)
p = Symbol("p", positive=True)
n1 = Symbol("n1", nonnegative=True)


def _binary_sample_and_maximiser(point: dict, rng) -> dict:
    """Round y to {0, 1} with both outcomes present, and put p at the root of the score
    dℓ/dp = Σ y_i/p − (1 − y_i)/(1 − p), found by bisection and mpmath.findroot (secant)."""
    keys = sorted(point[y])
    bits = [1 if point[y][key] > 0.5 else 0 for key in keys]
    if all(bits):
        bits[0] = 0
    if not any(bits):
        bits[0] = 1
    ys = {key: mpmath.mpf(b) for key, b in zip(keys, bits, strict=True)}
    # the score with its equal terms collected (k1 ones, k0 zeros): the same function
    k1 = sum(bits)
    k0 = len(bits) - k1

    def score(q):
        return k1 / q - k0 / (1 - q)

    # bisection in float64 (the score falls from +inf to -inf on (0, 1): its sign decides)
    # down to a bracket a few ULPs wide, then mpmath.findroot's secant iteration from it
    # to the working precision (the 80 bisections at 60 digits cost ~1 ms a point)
    lo, hi = 1e-12, 1 - 1e-12
    while hi - lo > 4 * math.ulp(hi):
        mid = (lo + hi) / 2
        if score(mid) > 0:
            lo = mid
        else:
            hi = mid
    root = _findroot(score, (mpmath.mpf(lo), mpmath.mpf(hi)), solver="secant")
    if not 0 < root < 1:
        raise ValueError(f"the score's root {root} left (0, 1)")
    return {**point, y: ys, p: root}


@register(
    "mle-bernoulli",
    title="Maximum likelihood for Bernoulli trials",
    statement="n trials with n1 successes: p̂ = n1/n; the mean NLL is the cross-entropy",
    topic=TOPIC,
)
def _mle_bernoulli() -> Derivation:
    n1_def = Sum(y[i], (i, 1, n))
    score = n1 / p - (n - n1) / (1 - p)
    (root,) = sympy.solve(sympy.numer(sympy.together(score)), p)
    stationary = Assumption(
        "p is a stationary point of ℓ (both outcomes occur: 0 < n1 < n)",
        Eq(Derivative(ell(p), p), 0),
        constrain=_binary_sample_and_maximiser,
        # the root of the score, solved by SymPy from (7)
        subs=((p, root.subs(n1, n1_def)),),
    )
    pmf = p ** y[i] * (1 - p) ** (1 - y[i])
    L = ell(p)
    return Derivation(
        name="mle-bernoulli",
        title="Maximum likelihood for Bernoulli trials",
        statement=(
            "For independent trials y_1, …, y_n ∈ {0, 1} with n1 = Σ y_i successes, the "
            "log-likelihood n1 log p + (n − n1) log(1 − p) is maximised by p̂ = n1/n, and the "
            "mean negative log-likelihood is the cross-entropy between the empirical "
            "distribution (1 − n1/n, n1/n) and Bernoulli(p)."
        ),
        topic=TOPIC,
        steps=[
            Step(
                Eq(L, log(Product(pmf, (i, 1, n)))),
                "the log-likelihood of independent trials, P(y_i) = p^{y_i} (1 − p)^{1 − y_i}",
                hint=_log_of_product,
            ),
            Step(
                Sum(y[i] * log(p) + (1 - y[i]) * log(1 - p), (i, 1, n)),
                "the log of a product is the sum of the logs",
                hint=_log_of_product,
            ),
            Step(
                n1 * log(p) + (n - n1) * log(1 - p),
                "Σ y_i = n1 successes and Σ (1 − y_i) = n − n1 failures",
            ),
            Step(
                Eq(-L / n, -((n1 / n) * log(p) + (1 - n1 / n) * log(1 - p))),
                "divide by −n: the mean NLL is the cross-entropy H(p̂, q) = −Σ p̂ log q between "
                "the empirical distribution p̂ = (1 − n1/n, n1/n) and q = (1 − p, p)",
                hint=_log_of_product,
            ),
            Step(
                Eq(Derivative(L, p), n1 / p - (n - n1) / (1 - p)),
                "differentiate (3): d log p/dp = 1/p, d log(1 − p)/dp = −1/(1 − p)",
            ),
            Step(
                (n1 - n * p) / (p * (1 - p)),
                "common denominator p(1 − p)",
            ),
            Step(
                n * (n1 / n - p) / (p * (1 - p)),
                "the score is positive for p < n1/n and negative for p > n1/n: ℓ rises, then "
                "falls, so its only stationary point is its maximum",
            ),
            Step(
                Eq(p, n1 / n),
                "at the stationary point the numerator of (7) vanishes",
                relies_on=(stationary,),
            ),
            Step(
                Eq(Derivative(L, p, 2), -n1 / p**2 - (n - n1) / (1 - p) ** 2),
                "differentiate (5) again",
                hint=_log_of_product,
            ),
            Step(
                sympy.S.Zero,
                "n1 ≥ 0, n − n1 ≥ 0 and they are not both 0: ℓ is strictly concave on (0, 1), "
                "so p̂ is the unique maximiser",
                relation="<",
            ),
        ],
        result=Eq(p, n1_def / n),
        domains={n: IntegerRange(2, 8), y: VectorOf(n, Interval(0, 1)), p: Interval(0.05, 0.95)},
        definitions=[
            Definition(L, Sum(log(pmf), (i, 1, n)), "log-likelihood: Σ_i log P(y_i)"),
            Definition(n1, n1_def, "the number of successes"),
        ],
        parameters=(y,),
    )


# ------------------------------------------------------------------ mle-categorical

K = Symbol("K", integer=True, positive=True)
counts = IndexedBase("n", positive=True)
theta = IndexedBase("theta", positive=True)
lam = Symbol("lambda", real=True)
N_total = Symbol("N", positive=True)
Lagrangian = Function("Lambda")


def _lagrange_point(point: dict, rng) -> dict:
    """Solve the Lagrange system n_k/θ_k − λ = 0 (k = 1…K), Σ θ_k = 1 with mpmath's
    multidimensional Newton (findroot), starting from the sampled θ normalised.  The
    equations are multiplied by θ_k > 0 (n_k − λθ_k = 0), which Newton handles better."""
    keys = sorted(point[counts])
    c = [mpmath.mpf(point[counts][key]) for key in keys]
    t0 = [mpmath.mpf(point[theta][key]) for key in keys]
    total = mpmath.fsum(t0)
    start = [t / total for t in t0]
    start.append(mpmath.fsum(ck / tk for ck, tk in zip(c, start, strict=True)) / len(c))

    def equations(*v):
        *th, lm = v
        return [ck - lm * tk for ck, tk in zip(c, th, strict=True)] + [mpmath.fsum(th) - 1]

    sol = _findroot(equations, start, maxsteps=100)
    *th, lm = (sol[m] for m in range(len(keys) + 1))
    return {**point, theta: dict(zip(keys, th, strict=True)), lam: lm}


@register(
    "mle-categorical",
    title="Maximum likelihood for a categorical distribution",
    statement="counts n_1…n_K: θ̂_i = n_i / Σ_k n_k, by a Lagrange multiplier for Σ θ = 1",
    topic=TOPIC,
)
def _mle_categorical() -> Derivation:
    total = Sum(counts[k], (k, 1, K))
    loglik = Sum(counts[k] * log(theta[k]), (k, 1, K))
    constraint = Sum(theta[k], (k, 1, K)) - 1
    # the Lagrange conditions, solved by SymPy: θ_k = n_k/λ, then Σ n_k/λ = 1 gives λ
    (theta_k,) = sympy.solve(counts[k] / theta[k] - lam, theta[k])
    summed = sympy.factor_terms(Sum(theta_k, (k, 1, K)))
    (lam_hat,) = sympy.solve(summed - 1, lam)

    def at_stationary(d):
        d = d.replace(lambda e: isinstance(e, sympy.Indexed) and e.base == theta,
                      lambda e: theta_k.subs(k, e.indices[0]))
        return sympy.expand(d.subs(lam, lam_hat))

    lagrange = Assumption(
        "Lagrange conditions: ∂Λ/∂θ_k = 0 for every k, and Σ_k θ_k = 1",
        sympy.And(Eq(Derivative(Lagrangian(theta, lam), theta[k]), 0), Eq(constraint, 0)),
        constrain=_lagrange_point,
        subs=(),  # applied by the steps' hints: θ_k → n_k/λ (k bound in sums), λ → Σ n_k
    )
    ell_theta = ell(theta)
    return Derivation(
        name="mle-categorical",
        title="Maximum likelihood for a categorical distribution",
        statement=(
            "For a sample with n_k observations of class k (k = 1…K), the log-likelihood "
            "Σ_k n_k log θ_k on the simplex Σ θ_k = 1 is maximised by θ̂_i = n_i / Σ_k n_k."
        ),
        topic=TOPIC,
        steps=[
            Step(
                Eq(ell_theta, log(Product(theta[k] ** counts[k], (k, 1, K)))),
                "the log-likelihood of a sample with n_k observations of class k (the "
                "multinomial coefficient does not depend on θ and is dropped)",
                hint=_log_of_product,
            ),
            Step(loglik, "the log of a product is the sum of the logs", hint=_log_of_product),
            Step(
                Eq(Lagrangian(theta, lam), loglik - lam * constraint),
                "maximise ℓ subject to Σ_k θ_k = 1: the Lagrangian with multiplier λ",
            ),
            Step(
                Eq(Derivative(Lagrangian(theta, lam), theta[i]), counts[i] / theta[i] - lam),
                "differentiate by θ_i: only the k = i terms of the sums depend on θ_i",
                hint=_collapse_deltas,
            ),
            Step(
                Eq(theta[i], counts[i] / lam),
                "at a stationary point (4) vanishes",
                relies_on=(lagrange,),
                hint=at_stationary,
            ),
            Step(
                Eq(1, Sum(theta[k], (k, 1, K))),
                "the constraint",
                relies_on=(lagrange,),
                hint=at_stationary,
            ),
            Step(
                Sum(counts[k] / lam, (k, 1, K)),
                "insert (5) for every k",
                relies_on=(lagrange,),
                hint=at_stationary,
            ),
            Step(N_total / lam, "N = Σ_k n_k, the sample size", relies_on=(lagrange,),
                 hint=at_stationary),
            Step(Eq(lam, N_total), "solve (6)–(8) for λ", relies_on=(lagrange,),
                 hint=at_stationary),
            Step(
                Eq(theta[i], counts[i] / N_total),
                "insert λ = N into (5): the MLE is the empirical frequency",
                relies_on=(lagrange,),
                hint=at_stationary,
            ),
            Step(
                Eq(Derivative(ell_theta, theta[i], theta[j]),
                   -KroneckerDelta(i, j) * counts[i] / theta[i] ** 2),
                "the Hessian of ℓ is diagonal…",
                hint=_collapse_deltas,
            ),
            Step(
                Eq(Derivative(ell_theta, theta[i], 2), -counts[i] / theta[i] ** 2),
                "…with entries",
                hint=_collapse_deltas,
            ),
            Step(
                sympy.S.Zero,
                "negative: ℓ is strictly concave and the simplex is convex, so the stationary "
                "point is the unique maximiser",
                relation="<",
            ),
        ],
        result=Eq(theta[i], counts[i] / total),
        result_hint=at_stationary,
        domains={
            K: IntegerRange(2, 5),
            i: IntegerRange(1, K),
            j: IntegerRange(1, K),
            counts: VectorOf(K, IntegerRange(1, 30)),
            theta: VectorOf(K, LogUniform(1e-3, 1)),
            lam: LogUniform(0.1, 100),
        },
        definitions=[
            Definition(ell_theta, loglik, "log-likelihood"),
            Definition(Lagrangian(theta, lam), loglik - lam * constraint, "Lagrangian"),
            Definition(N_total, total, "sample size"),
        ],
        parameters=(counts,),
    )


# --------------------------------------------------------------------- mle-gaussian

xs = IndexedBase("x", real=True)
mu = Symbol("mu", real=True)
sigma = Symbol("sigma", positive=True)


def _gaussian_maximiser(point: dict, rng) -> dict:
    """A non-constant sample, and (μ, σ) at the root of the score, by mpmath.findroot:
    ∂ℓ/∂μ = Σ (x_i − μ)/σ² = 0 first (any σ), then ∂ℓ/∂σ = −n/σ + Σ (x_i − μ)²/σ³ = 0
    (bracketed on σ ∈ [1e-6, 1e6])."""
    keys = sorted(point[xs])
    data = [mpmath.mpf(point[xs][key]) for key in keys]
    if all(v == data[0] for v in data):
        data[0] += 1  # a constant sample has no maximiser (σ → 0)
    s0 = mpmath.mpf(point[sigma])
    m = _findroot(lambda m_: mpmath.fsum(v - m_ for v in data) / s0**2, mpmath.mpf(point[mu]))
    ss = mpmath.fsum((v - m) ** 2 for v in data)

    def score_sigma(s_):
        return -len(data) / s_ + ss / s_**3

    s = _bracketed_root(score_sigma, mpmath.mpf(10) ** -6, mpmath.mpf(10) ** 6, geometric=True)
    return {**point, xs: dict(zip(keys, data, strict=True)), mu: m, sigma: s}


@register(
    "mle-gaussian",
    title="Maximum likelihood for a Gaussian",
    statement="samples x_1…x_n: μ̂ = mean, σ̂² = (1/n) Σ (x_i − μ̂)² (the biased estimator)",
    topic=TOPIC,
)
def _mle_gaussian() -> Derivation:
    from derive.gaussian import NORMAL_PDF, N

    L = ell(mu, sigma)
    loglik = Sum(log(N(xs[i], mu, sigma)), (i, 1, n))
    ss = Sum((xs[i] - mu) ** 2, (i, 1, n))
    mean = Sum(xs[j], (j, 1, n)) / n
    stationary = Assumption(
        "(μ, σ) is a stationary point of ℓ (the sample is not constant)",
        sympy.And(Eq(Derivative(L, mu), 0), Eq(Derivative(L, sigma), 0)),
        constrain=_gaussian_maximiser,
        subs=(),  # applied by the steps' hints (below)
    )

    # the roots of (4) and (5), solved by SymPy: μ̂, then σ̂ = √((1/n) Σ (x_i − μ)²) > 0
    (mu_hat,) = sympy.solve(sympy.expand(Sum(xs[i], (i, 1, n)) - n * mu), mu)
    (s_hat,) = sympy.solve(-n / sigma + ss / sigma**3, sigma)

    def at_stationary(d):
        d = d.subs(sigma, s_hat).subs(mu, mu_hat)
        d = _rename_indices(sympy.expand(_split_sums(sympy.expand(d))), i)
        return _count_terms(sympy.expand(_split_sums(d)))

    return Derivation(
        name="mle-gaussian",
        title="Maximum likelihood for a Gaussian",
        statement=(
            "For independent samples x_1, …, x_n from N(μ, σ²) (not all equal), the "
            "log-likelihood is maximised by μ̂ = (1/n) Σ x_i and σ̂² = (1/n) Σ (x_i − μ̂)² — "
            "the biased variance estimator: E[σ̂²] = (n − 1)σ²/n."
        ),
        topic=TOPIC,
        steps=[
            Step(
                Eq(L, log(Product(N(xs[i], mu, sigma), (i, 1, n)))),
                "the log-likelihood of independent samples",
                hint=_log_of_product,
            ),
            Step(
                -n / 2 * log(2 * pi * sigma**2) - ss / (2 * sigma**2),
                "log of the normal density: −½ log(2πσ²) − (x_i − μ)²/(2σ²), summed",
                hint=_log_of_product,
            ),
            Step(
                Eq(Derivative(L, mu), Sum(xs[i] - mu, (i, 1, n)) / sigma**2),
                "differentiate (2) by μ",
                hint=_log_of_product,
            ),
            Step((Sum(xs[i], (i, 1, n)) - n * mu) / sigma**2, "Σ_i μ = nμ",
                 hint=_log_of_product),
            Step(
                Eq(Derivative(L, sigma), -n / sigma + ss / sigma**3),
                "differentiate (2) by σ",
                hint=_log_of_product,
            ),
            Step(
                Eq(mu, Sum(xs[i], (i, 1, n)) / n),
                "(4) vanishes: μ̂ is the sample mean",
                relies_on=(stationary,),
                hint=at_stationary,
            ),
            Step(
                Eq(sigma**2, ss / n),
                "(5) vanishes: nσ² = Σ (x_i − μ)²",
                relies_on=(stationary,),
                hint=at_stationary,
            ),
            Step(
                Sum((xs[i] - mean) ** 2, (i, 1, n)) / n,
                "insert μ̂ from (6). This divides by n, not n − 1: σ̂² is biased, "
                "E[σ̂²] = (n − 1)σ²/n (Bessel's correction n/(n − 1) removes the bias; the MLE "
                "does not)",
                relies_on=(stationary,),
                hint=at_stationary,
            ),
            Step(
                Eq(Derivative(L, mu, 2), -n / sigma**2),
                "second derivatives: differentiate (4) by μ…",
                hint=_log_of_product,
            ),
            Step(sympy.S.Zero, "…negative", relation="<"),
            Step(
                Eq(Derivative(L, mu, sigma), -2 * Sum(xs[i] - mu, (i, 1, n)) / sigma**3),
                "…differentiate (4) by σ…",
                hint=_log_of_product,
            ),
            Step(sympy.S.Zero, "…which vanishes at the stationary point, by (4)",
                 relies_on=(stationary,), hint=at_stationary),
            Step(
                Eq(Derivative(L, sigma, 2), n / sigma**2 - 3 * ss / sigma**4),
                "…differentiate (5) by σ…",
                hint=_log_of_product,
            ),
            Step(
                -2 * n / sigma**2,
                "…at the stationary point Σ (x_i − μ)² = nσ²",
                relies_on=(stationary,),
                hint=at_stationary,
            ),
            Step(
                sympy.S.Zero,
                "negative: the Hessian diag(−n/σ², −2n/σ²) is negative definite, so the only "
                "stationary point is a maximum (ℓ → −∞ as σ → 0 or ∞ or |μ| → ∞: it is the "
                "global maximum)",
                relation="<",
            ),
        ],
        result=Eq(sigma**2, Sum((xs[i] - mean) ** 2, (i, 1, n)) / n),
        domains={
            n: IntegerRange(2, 6),
            xs: VectorOf(n, Interval(-3, 3)),
            mu: Interval(-3, 3),
            sigma: LogUniform(0.3, 3),
        },
        definitions=[Definition(L, loglik, "log-likelihood: Σ_i log N(x_i; μ, σ²)"), NORMAL_PDF],
        parameters=(xs,),
        result_hint=at_stationary,
        notes=(
            "The result states σ̂²; μ̂ = (1/n) Σ x_i is step 6.  The MLE of the variance is "
            "biased low by the factor (n − 1)/n."
        ),
    )


# --------------------------------------------------------- nll-equals-cross-entropy

N_examples = Symbol("N", integer=True, positive=True)
targets = IndexedBase("t", nonnegative=True)
model = IndexedBase("q", positive=True)
p_hat = IndexedBase("phat", nonnegative=True)
NLL = Symbol("NLL")


def _one_hot(point: dict, rng) -> dict:
    """Each row of t becomes the indicator of a random class."""
    rows: dict = {}
    for (row, col) in point[targets]:
        rows.setdefault(row, []).append(col)
    hot = {row: rng.choice(cols) for row, cols in rows.items()}
    t = {(row, col): mpmath.mpf(1 if col == hot[row] else 0) for (row, col) in point[targets]}
    return {**point, targets: t}


@register(
    "nll-equals-cross-entropy",
    title="The negative log-likelihood is a cross-entropy",
    statement="−(1/N) log Π_i q(y_i | x_i) = H(p̂, q) = H(p̂) + D(p̂ ‖ q)",
    topic=TOPIC,
)
def _nll_equals_cross_entropy() -> Derivation:
    N = N_examples
    picked = Sum(targets[i, k] * model[i, k], (k, 1, K))
    ce = -Sum(Sum(targets[i, k] * log(model[i, k]), (k, 1, K)), (i, 1, N)) / N
    one_hot = Assumption(
        "hard labels: t_ik = 1 if y_i = k, else 0",
        Eq(targets[i, k], KroneckerDelta(Symbol("y_i", integer=True), k)),
        constrain=_one_hot,
        subs=(),
    )
    nll_def = -log(Product(picked, (i, 1, N))) / N
    return Derivation(
        name="nll-equals-cross-entropy",
        title="The negative log-likelihood is a cross-entropy",
        statement=(
            "For N labelled examples (x_i, y_i) and a model q(k | x_i) = q_ik, the mean "
            "negative log-likelihood equals the cross-entropy H(p̂, q) between the empirical "
            "distribution and the model, which is H(p̂) + D(p̂ ‖ q): H(p̂) does not depend on "
            "the model, so minimising the NLL, the cross-entropy and the KL divergence to the "
            "empirical distribution are the same problem."
        ),
        topic=TOPIC,
        steps=[
            Step(
                Eq(NLL, nll_def),
                "the mean negative log-likelihood of the labels; with one-hot targets t_ik "
                "(t_ik = 1 for k = y_i), Σ_k t_ik q_ik = q(y_i | x_i)",
            ),
            Step(
                -Sum(log(picked), (i, 1, N)) / N,
                "the log of a product is the sum of the logs",
                hint=lambda d: sympy.expand(sympy.expand_log(d, force=True)),
            ),
            Step(
                ce,
                "exactly one t_ik is 1 in each row, so log Σ_k t_ik q_ik = Σ_k t_ik log q_ik",
                relies_on=(one_hot,),
                numeric_only=True,  # true only for one-hot rows: nothing for SymPy to simplify
            ),
            Step(
                -Sum(Sum(p_hat[i, k] * log(model[i, k]), (k, 1, K)), (i, 1, N)),
                "the empirical distribution p̂_ik = t_ik/N puts mass 1/N on each example, spread "
                "over the classes as its target; this is the cross-entropy H(p̂, q)",
                hint=lambda d: sympy.expand(_split_sums(sympy.expand(d))),
            ),
            Step(
                -Sum(Sum(targets[i, k] * log(targets[i, k]), (k, 1, K)), (i, 1, N)) / N
                + Sum(Sum(targets[i, k] * log(targets[i, k] / model[i, k]), (k, 1, K)),
                      (i, 1, N)) / N,
                "add and subtract Σ t_ik log t_ik: H(p̂) + D(p̂ ‖ q), the entropy of the "
                "empirical labels given the inputs (0 for hard labels, 0 log 0 = 0) plus the "
                "mean KL divergence of the model from them",
                hint=lambda d: sympy.expand(_split_sums(sympy.expand(d))),
            ),
        ],
        result=Eq(NLL, ce),
        domains={
            N: IntegerRange(1, 4),
            K: IntegerRange(2, 4),
            targets: VectorOf((N, K), LogUniform(1e-3, 1)),
            model: VectorOf((N, K), LogUniform(1e-3, 1)),
        },
        definitions=[
            Definition(NLL, nll_def, "mean negative log-likelihood"),
            Definition(p_hat[i, k], targets[i, k] / N, "empirical distribution"),
        ],
        parameters=(model, targets),
    )


# -------------------------------------------------------------- mse-is-gaussian-nll

truth = IndexedBase("y", real=True)
prediction = IndexedBase("yhat", real=True)
scales = IndexedBase("sigma", positive=True)
MSE = Symbol("MSE")


def _shared_scale(point: dict, rng) -> dict:
    return {**point, scales: {key: point[sigma] for key in point[scales]}}


def _homoscedastic(d: sympy.Expr) -> sympy.Expr:
    return d.replace(lambda e: isinstance(e, sympy.Indexed) and e.base == scales, lambda e: sigma)


@register(
    "mse-is-gaussian-nll",
    title="Mean squared error is a Gaussian negative log-likelihood",
    statement="Gaussian NLL with a fixed σ = MSE/(2σ²) + ½ log(2πσ²)",
    topic=TOPIC,
)
def _mse_is_gaussian_nll() -> Derivation:
    from derive.gaussian import NORMAL_PDF, N

    mse = Sum((truth[i] - prediction[i]) ** 2, (i, 1, n)) / n
    nll_def = -Sum(log(N(truth[i], prediction[i], scales[i])), (i, 1, n)) / n
    shared = Assumption(
        "one fixed noise scale: σ_i = σ for every i",
        Eq(scales[i], sigma),
        constrain=_shared_scale,
        subs=(),  # applied by the hint (i is bound inside the sums)
    )

    def shared_hint(d):
        return _log_of_product(_homoscedastic(d))

    return Derivation(
        name="mse-is-gaussian-nll",
        title="Mean squared error is a Gaussian negative log-likelihood",
        statement=(
            "If y_i ~ N(ŷ_i, σ²) independently with one fixed σ, the mean negative "
            "log-likelihood is MSE/(2σ²) + ½ log(2πσ²): minimising the MSE is maximum "
            "likelihood under Gaussian noise."
        ),
        topic=TOPIC,
        steps=[
            Step(
                Eq(NLL, -log(Product(N(truth[i], prediction[i], scales[i]), (i, 1, n))) / n),
                "the mean NLL of targets y_i, independent with y_i ~ N(ŷ_i, σ_i²)",
                hint=_log_of_product,
            ),
            Step(
                Sum((truth[i] - prediction[i]) ** 2 / (2 * scales[i] ** 2)
                    + half * log(2 * pi * scales[i] ** 2), (i, 1, n)) / n,
                "log of a product = sum of logs; −log N(y; ŷ, σ²) = (y − ŷ)²/(2σ²) + "
                "½ log(2πσ²)",
                hint=_log_of_product,
            ),
            Step(
                Sum((truth[i] - prediction[i]) ** 2, (i, 1, n)) / (2 * sigma**2 * n)
                + half * log(2 * pi * sigma**2),
                "with one σ for all examples, 1/(2σ²) leaves the sum and the log term is "
                "the same n times",
                relies_on=(shared,),
                hint=shared_hint,
            ),
            Step(
                MSE / (2 * sigma**2) + half * log(2 * pi * sigma**2),
                "MSE = (1/n) Σ (y_i − ŷ_i)²; the second term does not depend on the predictions",
            ),
            Step(
                Eq(Derivative(NLL, prediction[j]), (prediction[j] - truth[j]) / (n * sigma**2)),
                "the gradient with respect to one prediction ŷ_j…",
                relies_on=(shared,),
                hint=lambda d: _collapse_deltas(shared_hint(d)),
            ),
            Step(
                Derivative(MSE, prediction[j]) / (2 * sigma**2),
                "…is that of the MSE scaled by 1/(2σ²) > 0: the same minimiser",
                hint=_collapse_deltas,
            ),
        ],
        result=Eq(NLL, mse / (2 * sigma**2) + half * log(2 * pi * sigma**2)),
        domains={
            n: IntegerRange(1, 5),
            j: IntegerRange(1, n),
            truth: VectorOf(n, Interval(-3, 3)),
            prediction: VectorOf(n, Interval(-3, 3)),
            sigma: LogUniform(0.2, 5),
            scales: VectorOf(n, LogUniform(0.2, 5)),
        },
        definitions=[
            Definition(NLL, nll_def, "mean NLL: −(1/n) Σ_i log N(y_i; ŷ_i, σ_i²)"),
            Definition(MSE, mse, "mean squared error"),
            NORMAL_PDF,
        ],
        parameters=(prediction, truth, sigma),
        result_hint=shared_hint,
    )
