"""The ball-arithmetic oracle: each definition of ``derive.oracle``, evaluated with ``arb``.

python-flint's ``arb`` carries a rigorous error bound (a ball ``[m ± r]``) through every
operation, so each reference value comes with a proof of its accuracy; it is also about
ten times faster than mpmath at the same precision.  The definitions are those of
:mod:`derive.oracle` — the same sums, the same rearrangements of the definitions' own
rational expressions (``log σ(z) = -log1p(e^{-z})``, ``log softmax_k`` with the largest
logit factored out), never a derived closed form — evaluated by these methods:

==============  ==========================================================================
method          how
==============  ==========================================================================
``sum``         the defining series in ball arithmetic
``direct``      the defining expression as written
``diff``        forward-mode differentiation of the defining loss (:mod:`derive._dual`):
                the exact partial derivatives of the expression as written, every one a
                ball — no step size, no truncation error, one pass for a whole gradient
``quad``        ``E[g(t)]``, ``t ~ N(0, 1)``, by the 3-point Gauss–Hermite rule, which is
                exact for polynomials of degree <= 5: the integrands here — ``log p(x) -
                log q(x)`` and ``-log p(x)`` of Gaussian densities at ``x = μ + σ t`` —
                are polynomials of degree 2 in ``t`` (a log-density of a Gaussian is a
                quadratic), so the rule is the integral, not an approximation of it
``findroot``    maximises the defining log-likelihood by Newton's method on its exact
                gradient and Hessian (nested duals), at float64-level precision first and
                then at the working precision; the Hessian at the maximiser is checked to
                be negative definite, and the last Newton step (quadratic convergence: its
                square is the error left) widens the result's ball
==============  ==========================================================================

:func:`evaluate` runs a definition at a precision in bits; :func:`reference` raises the
precision (doubling, up to :data:`MAX_PREC` bits) until every component is *tight*: a ball
whose radius is below ``2^-TIGHT_BITS`` of its midpoint, or below ``2^-1100`` (a value that
rounds to 0 or to the smallest subnormals, to within a tiny fraction of their ULP).  The
midpoints are then as good as exact for float64 comparisons; a definition that does not
tighten raises :class:`derive.oracle.OracleError`.  ``derive.oracle`` (mpmath) stays the
fallback for definitions without a ball version, and the test suite checks that the two
agree on every oracle at random points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import mpmath
from flint import arb, ctx

from derive._dual import mid_float, seed

__all__ = ["ARB_ORACLES", "MAX_PREC", "TIGHT_BITS", "evaluate", "reference", "to_arb",
           "to_mpf"]

MAX_PREC = 16384  # bits: a last resort (an exact 0 next to inputs of 1e300 needs ~2100)
TIGHT_BITS = 80  # a tight ball is known to 2^-80 relative: 27 bits beyond float64
_TINY = arb(2) ** -1100  # a ball this narrow pins any float64 rounding (spacing 2^-1074)

#: Derivation name -> ``fn(*args)`` on arb balls (lists of them for vectors).
ARB_ORACLES: dict[str, Callable[..., Any]] = {}


def _register(*names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        for name in names:
            if name in ARB_ORACLES:
                raise ValueError(f"arb oracle {name!r} is registered twice")
            ARB_ORACLES[name] = fn
        return fn

    return deco


# ----------------------------------------------------------------- conversions


def to_arb(value: Any) -> Any:
    """A float, int, mpf, NumPy scalar/array or (nested) sequence as exact arb balls."""
    if isinstance(value, arb):
        return value
    if isinstance(value, mpmath.mpf):
        if not mpmath.isfinite(value):
            raise ValueError(f"value: a finite number is needed, got {value}")
        sign, man, exp, _bc = value._mpf_  # mpf.man_exp drops the sign
        return arb((-int(man) if sign else int(man), int(exp)))
    if hasattr(value, "tolist") and not isinstance(value, int | float):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [to_arb(v) for v in value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"value: a real number is needed, got {type(value).__name__}")
    return arb(value)


def to_mpf(x: arb) -> mpmath.mpf:
    """The midpoint of a ball as an exact mpf."""
    man, exp = x.mid().man_exp()
    man = int(man)
    with mpmath.workprec(max(53, man.bit_length())):  # exact: as many bits as the midpoint
        return +mpmath.mpf((man, int(exp)))


def _components(out: Any) -> list:
    return list(out) if isinstance(out, list | tuple) else [out]


def tight(x: arb) -> bool:
    """Whether the ball pins the float64 rounding of its centre (see the module doc)."""
    if not x.is_finite():
        return False
    r = x.rad()
    return r <= _TINY or r <= abs(x.mid()) * arb(2) ** -TIGHT_BITS


def _fn(oracle: str | Callable[..., Any]) -> Callable[..., Any]:
    if callable(oracle):
        return oracle
    try:
        return ARB_ORACLES[oracle]
    except KeyError:
        raise KeyError(f"no ball-arithmetic oracle is registered for {oracle!r}") from None


def evaluate(oracle: str | Callable[..., Any], args: Sequence[Any], prec: int) -> list:
    """The definition (a registered name, or an arb oracle function) at ``args`` with
    ``prec``-bit balls: a list of arb."""
    fn = _fn(oracle)
    old = ctx.prec
    ctx.prec = prec
    try:
        return _components(fn(*[to_arb(a) for a in args]))
    finally:
        ctx.prec = old


def reference(oracle: str | Callable[..., Any], args: Sequence[Any], *, prec: int = 200) -> list:
    """The components of the definition (a registered name, or an arb oracle function) at
    ``args`` as mpf midpoints of tight balls.

    Raises ``derive.oracle.OracleError`` where no precision up to :data:`MAX_PREC` bits
    gives tight balls.
    """
    from derive.oracle import OracleError

    fn = _fn(oracle)
    name = getattr(fn, "__name__", "the oracle")
    p = max(prec, 64)
    while True:
        try:
            out = evaluate(fn, args, p)
        except (ZeroDivisionError, ValueError) as exc:  # a ball straddling a pole
            if p >= MAX_PREC:
                raise OracleError(f"{name}: {exc} at {p} bits") from None
            out = None
        if out is not None and all(tight(c) for c in out):
            return [to_mpf(c) for c in out]
        if p >= MAX_PREC:
            raise OracleError(f"{name}: the reference balls do not tighten by {p} bits: "
                              + ", ".join(c.str(5) for c in out or []))
        p *= 2


# ------------------------------------------------------------ definitions' pieces


def _is_zero(x: Any) -> bool:
    return isinstance(x, arb) and x.is_zero()


def _log_sigmoid(z):
    # log σ(z) = log(1 / (1 + e^{-z}))
    return -((-z).exp().log1p())


def _log_one_minus_sigmoid(z):
    # 1 - σ(z) = 1 / (1 + e^{z})
    return -(z.exp().log1p())


def _argmax(z: list) -> int:
    return max(range(len(z)), key=lambda j: mid_float(z[j]))


def _log_softmax_all(z: list) -> list:
    # log softmax_k(z) = (z_k - m) - log1p(Σ_{j≠a} e^{z_j - m}), a = argmax z, m = z_a
    a = _argmax(z)
    m = z[a]
    rest = None
    for j, zj in enumerate(z):
        if j != a:
            e = (zj - m).exp()
            rest = e if rest is None else rest + e
    lse = rest.log1p() if rest is not None else 0
    return [(zk - m) - lse for zk in z]


def _softmax(z: list) -> list:
    # softmax_k(z) = e^{z_k - m} / Σ_j e^{z_j - m}, m = max z
    m = z[_argmax(z)]
    e = [(zk - m).exp() for zk in z]
    total = e[0]
    for ek in e[1:]:
        total = total + ek
    return [ek / total for ek in e]


def _sum(terms: Sequence[Any]) -> Any:
    total = arb(0)
    for t in terms:
        total = total + t
    return total


def _xlogy(x, y):
    """``x log y`` with ``0 log 0 = 0``."""
    return arb(0) if _is_zero(x) else x * y.log()


def _cross_entropy(p: list, q: list):
    return -_sum(_xlogy(pk, qk) for pk, qk in zip(p, q, strict=True))


def _entropy(p: list):
    return -_sum(_xlogy(pk, pk) for pk in p)


def _softmax_ce(z: list, y: list):
    # L(z, y) = -Σ_k y_k log softmax_k(z)
    logs = _log_softmax_all(z)
    return -_sum(yk * lk for yk, lk in zip(y, logs, strict=True) if not _is_zero(yk))


def _grad(loss: Callable[[list], Any], z: list) -> list:
    return list(loss(seed(z)).d)


def _deriv(f: Callable[[Any], Any], x) -> Any:
    return f(seed([x])[0]).d[0]


# ====================================================================== the oracles
# --------------------------------------------------------------------- information


@_register("self-information-additivity")
def _self_information_additivity(p_x, p_y, b):
    return -(p_x * p_y).log() / b.log()


@_register("ce-equals-entropy-plus-kl")
def _ce_entropy_kl(p, q):
    return _cross_entropy(p, q)


@_register("cross-entropy-one-hot")
def _cross_entropy_one_hot(q, y):
    label = int(y.unique_fmpz())
    onehot = [arb(1 if k == label else 0) for k in range(1, len(q) + 1)]
    return _cross_entropy(onehot, q)


@_register("entropy-chain-rule")
def _joint_entropy(p):
    return _entropy([v for r in p for v in r])


@_register("mutual-information-identities")
def _mutual_information(p):
    # I(X; Y) = H(X) - H(X | Y), marginals p_m = Σ_n p_mn, p_n = Σ_m p_mn
    px = [_sum(r) for r in p]
    py = [_sum(r[j] for r in p) for j in range(len(p[0]))]
    h_x_given_y = -_sum(_xlogy(v, v / py[j]) for r in p for j, v in enumerate(r))
    return _entropy(px) - h_x_given_y


@_register("kl-nonnegative")
def _kl(p, q):
    # D(p ‖ q) = Σ_k p_k log(p_k / q_k)
    return _sum(arb(0) if _is_zero(pk) else pk * (pk / qk).log()
                for pk, qk in zip(p, q, strict=True))


@_register("entropy-maximum-uniform")
def _entropy_maximum_uniform(p):
    return _entropy(p)


@_register("perplexity-base-invariance")
def _perplexity_base_invariance(p, q):
    # 2^{H_2}, H_2 = -Σ_k p_k log_2 q_k, and 2^x = e^{x log 2}
    log2 = arb(2).log()
    h2 = -_sum(_xlogy(pk, qk) for pk, qk in zip(p, q, strict=True)) / log2
    return (h2 * log2).exp()


@_register("perplexity-of-cross-entropy")
def _perplexity_of_cross_entropy(p, q):
    return _cross_entropy(p, q).exp()


# ---------------------------------------------------------------------- Gaussian


def _normal_expectation(g: Callable[[arb], Any]) -> Any:
    """``E[g(t)]``, ``t ~ N(0, 1)``, by 3-point Gauss–Hermite: exact for degree <= 5."""
    r3 = arb(3).sqrt()
    return (4 * g(arb(0)) + g(r3) + g(-r3)) / 6


def _log_normal_density(x, mu, sigma):
    # log N(x; μ, σ²) = log(e^{-(x - μ)²/(2σ²)} / (σ √(2π)))
    return -((x - mu) / sigma) ** 2 / 2 - sigma.log() - (2 * arb.pi()).log() / 2


@_register("gaussian-kl", "gaussian-kl-stable-form")
def _gaussian_kl(mu1, s1, mu2, s2):
    # D(p ‖ q) = E_p[log p(x) - log q(x)], x = μ1 + σ1 t
    def g(t):
        x = mu1 + s1 * t
        return _log_normal_density(x, mu1, s1) - _log_normal_density(x, mu2, s2)

    return _normal_expectation(g)


@_register("gaussian-entropy")
def _gaussian_entropy(sigma):
    # h = -E[log p(x)], x = μ + σ t (μ = 0: the entropy does not depend on it)
    zero = arb(0)
    return _normal_expectation(lambda t: -_log_normal_density(sigma * t, zero, sigma))


# ------------------------------------------------------------------------ losses


@_register("sigmoid-derivative")
def _sigmoid_derivative(z):
    return _deriv(lambda t: 1 / (1 + (-t).exp()), z)


def _bce(z, y):
    # L(z, y) = -[y log σ(z) + (1 - y) log(1 - σ(z))]
    return -(y * _log_sigmoid(z) + (1 - y) * _log_one_minus_sigmoid(z))


@_register("bce-gradient")
def _bce_gradient(z, y):
    return _deriv(lambda t: _bce(t, y), z)


@_register("bce-probability-gradient")
def _bce_probability_gradient(phat, y):
    # L(p̂, y) = -[y log p̂ + (1 - y) log(1 - p̂)]
    return _deriv(lambda t: -(y * t.log() + (1 - y) * (-t).log1p()), phat)


@_register("binary-as-two-class-softmax")
def _binary_as_two_class_softmax(z, y):
    return _softmax_ce([z, arb(0)], [y, 1 - y])


@_register("softmax-shift-invariance")
def _softmax_shift_invariance(z):
    return _softmax(z)


@_register("temperature-softmax-gradient")
def _temperature_softmax_gradient(z, y, T):
    return _grad(lambda v: _softmax_ce([vk / T for vk in v], y), z)


@_register("mse-vs-bce-gradient")
def _mse_vs_bce_gradient(z, y):
    # d/dz (σ(z) - y)², with 1 - σ(z) = 1/(1 + e^{z}) where z > 0 (neither form cancels)
    positive = mid_float(z) > 0

    def sq(t):
        d = (1 - y) - 1 / (1 + t.exp()) if positive else 1 / (1 + (-t).exp()) - y
        return d * d

    return _deriv(sq, z)


@_register("label-smoothing")
def _label_smoothing(z, y, epsilon):
    smoothed = [(1 - epsilon) * yk + epsilon / len(y) for yk in y]
    return _grad(lambda v: _softmax_ce(v, smoothed), z)


@_register("distillation-gradient")
def _distillation_gradient(s, t, T):
    tt = [tk / T for tk in t]
    pt = _softmax(tt)
    log_pt = _log_softmax_all(tt)

    def loss(v):
        # T² D(p ‖ q) = T² Σ_k p_k (log p_k - log q_k), both logs of softmaxes
        log_q = _log_softmax_all([vk / T for vk in v])
        terms = [pk * (lp - lq) for pk, lp, lq in zip(pt, log_pt, log_q, strict=True)
                 if not _is_zero(pk)]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return T * T * total

    return _grad(loss, s)


@_register("softmax-ce-gradient")
def _softmax_ce_gradient(z, y):
    return _grad(lambda v: _softmax_ce(v, y), z)


@_register("mse-is-gaussian-nll")
def _mse_is_gaussian_nll(yhat, y, sigma):
    return -_sum(_log_normal_density(yi, mi, sigma)
                 for yi, mi in zip(y, yhat, strict=True)) / len(y)


@_register("nll-equals-cross-entropy")
def _nll_equals_cross_entropy(q, t):
    # -(1/N) log Π_i Σ_k t_ik q_ik
    likelihood = arb(1)
    for ti, qi in zip(t, q, strict=True):
        likelihood = likelihood * _sum(tk * qk for tk, qk in zip(ti, qi, strict=True))
    return -likelihood.log() / len(q)


# -------------------------------------------------------------- maximum likelihood

from derive._maximise import maximise  # noqa: E402  (needs the pieces above)


@_register("mle-bernoulli")
def _mle_bernoulli(y):
    # argmax_p Σ_i [y_i log p + (1 - y_i) log(1 - p)], over p = σ(u) (u in R)
    def loglik(u):
        lp, lq = _log_sigmoid(u[0]), _log_one_minus_sigmoid(u[0])
        total = None
        for yi in y:
            term = yi * lp + (1 - yi) * lq
            total = term if total is None else total + term
        return total

    (u,) = maximise(loglik, 1)
    return 1 / (1 + (-u).exp())


@_register("mle-categorical")
def _mle_categorical(n):
    # argmax_θ Σ_k n_k log θ_k over the simplex, θ = softmax(u, 0)
    def loglik(u):
        logs = _log_softmax_all([*u, arb(0)])
        total = None
        for nk, lk in zip(n, logs, strict=True):
            term = nk * lk
            total = term if total is None else total + term
        return total

    u = maximise(loglik, len(n) - 1)
    return _softmax([*u, arb(0)])


@_register("mle-gaussian")
def _mle_gaussian(x):
    # σ̂² of argmax_{μ, σ} Σ_i log N(x_i; μ, σ²), in units u_i = (x_i - x_1)/s (an exact
    # change of variables: σ̂ = s σ̂_u), over (μ, log σ)
    x1 = x[0]
    spread = max((abs(xi - x1) for xi in x), key=mid_float)
    if _is_zero(spread):
        from derive.oracle import OracleError

        raise OracleError("a constant sample has no maximum-likelihood variance")
    u = [(xi - x1) / spread for xi in x]

    def loglik(v):
        mu, sigma = v[0], v[1].exp()
        total = None
        for ui in u:
            term = _log_normal_density(ui, mu, sigma)
            total = term if total is None else total + term
        return total

    _mu, log_sigma = maximise(loglik, 2)
    return (spread * log_sigma.exp()) ** 2



def _attach() -> None:
    """Give each ``derive.oracle.ORACLES`` entry its ball version (``Oracle.arb``)."""
    from dataclasses import replace

    from derive.oracle import ORACLES

    for name, fn in ARB_ORACLES.items():
        if name in ORACLES and ORACLES[name].arb is None:
            ORACLES[name] = replace(ORACLES[name], arb=fn)
