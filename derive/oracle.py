"""The mpmath oracle: each exportable derivation's *definition*, evaluated at >= 50 digits.

Each oracle also carries its ball-arithmetic twin (``Oracle.arb``, from
:mod:`derive.oracle_arb`: the same definition on python-flint ``arb`` balls, rigorous and
10-300x faster), which ``derive.verify`` prefers; this mpmath version is the fallback for
definitions without one and the independent check of the ball versions in the tests.

The oracle is the independent route of the cross-check (see ``derive.verify``): it never
evaluates a derived closed form.  Instead it computes what the derived result is *about*,
from the definition:

==============  ==========================================================================
method          what the oracle does
==============  ==========================================================================
``sum``         sums the defining series term by term (entropies, cross-entropies, KL)
``diff``        ``mpmath.diff`` of the defining loss (every gradient: BCE, softmax CE, ...)
``quad``        ``mpmath.quad`` of the defining integral (Gaussian KL, differential entropy)
``findroot``    maximises the defining log-likelihood by ``mpmath.findroot`` on its
                derivative, and checks that the second derivative is negative (MLE)
``direct``      evaluates the defining expression as written (e.g. ``e^{H}`` for perplexity)
==============  ==========================================================================

Everything runs inside ``mpmath.workdps(dps)`` (never by setting ``mpmath.mp.dps``).  The
definitions are written with the elementary pieces that keep *them* exact at extreme
arguments: ``log σ(z) = -log1p(e^{-z})`` (the log of ``1/(1 + e^{-z})``),
``log(1 - σ(z)) = -log1p(e^{z})`` (since ``1 - σ(z) = 1/(1 + e^{z})``),
``log softmax_k(z) = (z_k - m) - log1p(Σ_{j≠a} e^{z_j - m})`` (``m = z_a = max z``) —
rearrangements of the definition's own rational expressions, not the derived result, with
``log1p`` wherever a ``log(1 + x)`` appears so that a tail such as ``e^{-709}`` next to 1 is
not lost at any precision.  Derivatives take their step at a working precision raised by
the magnitude of the point, so ``x ± h`` is exact even at ``x = 1e300``.  The engine
re-evaluates every reference at ``dps + 20`` digits and rejects a point where the two do
not agree to ``dps/2`` digits (``quad`` references instead hold mpmath's own error estimate
to ``dps/2`` digits; maximisations converge to the working precision).

Registry
--------
``ORACLES``: derivation name -> :class:`Oracle` (its parameter names, in the order of the
exported function, the definition in words, the method and the function).
``reference(name, *args, dps=60)`` takes the same positional arguments as
``derive.export(name)`` — scalars as floats/mpf, vectors as sequences, matrices as nested
sequences — for ONE point, and returns an ``mpf`` (a list of ``mpf`` for a vector-valued
result).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import mpmath

__all__ = ["ORACLES", "Oracle", "OracleError", "derivative", "reference", "warm_quadrature"]

DEFAULT_DPS = 60
MIN_DPS = 50


class OracleError(ArithmeticError):
    """The definition could not be evaluated to the requested precision at a point."""


@dataclass(frozen=True)
class Oracle:
    """The definition behind one derivation's result, evaluated with mpmath.

    Parameters
    ----------
    name
        The derivation's registered name.
    params
        Names of the parameters, in the order of the exported function's arguments
        (checked against the derivation's ``parameters`` by the test suite and the engine).
    definition
        What is evaluated, in words and symbols (printed in reports).
    method
        ``"sum"``, ``"diff"``, ``"quad"``, ``"findroot"`` or ``"direct"``.
    fn
        ``fn(*args)`` with mpf scalars and lists of mpf for vectors; called inside
        ``mpmath.workdps``; returns an mpf or a list of mpf.
    self_checked
        The method checks its own accuracy (``quad`` with its error estimate, Newton's
        method and findroot by converging to the working precision), so the engine does
        not re-evaluate the reference at a higher precision.
    sensitivity
        Optional cheaper evaluation of the *same* definition used only for condition
        numbers (which need a few digits, not fifty); ``None`` means ``fn``.
    arb
        The same definition on python-flint ``arb`` balls (``derive.oracle_arb``: rigorous
        and ~10-100x faster), preferred by ``derive.verify`` where set; ``None``: mpmath only.
    """

    name: str
    params: tuple[str, ...]
    definition: str
    method: str
    fn: Callable[..., Any]
    self_checked: bool = False
    sensitivity: Callable[..., Any] | None = None
    arb: Callable[..., Any] | None = None

    def __call__(self, *args: Any, dps: int = DEFAULT_DPS) -> Any:
        return reference(self.name, *args, dps=dps)


#: Derivation name -> its oracle.
ORACLES: dict[str, Oracle] = {}


def _oracle(name: str, params: Sequence[str], definition: str, method: str, *,
            self_checked: bool = False, sensitivity: Callable[..., Any] | None = None):
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in ORACLES:
            raise ValueError(f"oracle {name!r} is registered twice")
        ORACLES[name] = Oracle(name, tuple(params), definition, method, fn, self_checked,
                               sensitivity)
        return fn

    return deco


def _mp(value: Any) -> Any:
    """A float, int, mpf or (nested) sequence/array as mpf (lists of mpf); floats exactly."""
    if isinstance(value, mpmath.mpf):
        return +value
    if hasattr(value, "tolist") and not isinstance(value, int | float):
        value = value.tolist()  # numpy scalars and arrays
    if isinstance(value, list | tuple):
        return [_mp(v) for v in value]
    if isinstance(value, bool):
        raise TypeError("boolean arguments are not numbers here")
    if isinstance(value, int):
        return mpmath.mpf(value)
    return mpmath.mpf(float(value)) if not isinstance(value, str) else mpmath.mpf(value)


def reference(name: str, *args: Any, dps: int = DEFAULT_DPS) -> Any:
    """The oracle of derivation ``name`` at one point, computed with ``dps`` digits.

    Arguments are those of ``derive.export(name)``, in the same order.  Returns an mpf
    (rounded to ``dps`` digits) or a list of them for a vector-valued result.

    >>> float(reference("sigmoid-derivative", 0.0))
    0.25
    """
    if dps < MIN_DPS:
        raise ValueError(f"dps: at least {MIN_DPS} digits are needed, got {dps}")
    try:
        oracle = ORACLES[name]
    except KeyError:
        raise KeyError(f"no oracle is registered for {name!r}") from None
    if len(args) != len(oracle.params):
        raise TypeError(
            f"{name}: expected {len(oracle.params)} arguments {oracle.params}, got {len(args)}"
        )
    with mpmath.workdps(dps):
        out = oracle.fn(*[_mp(a) for a in args])
        return [+v for v in out] if isinstance(out, list | tuple) else +out


# ------------------------------------------------------------------ numerical tools


_MAX_DIFF_PREC = 16384  # bits: a last resort; the float64 criterion stops far earlier
_HALF_TINY = mpmath.ldexp(1, -1076)  # below half the smallest float64: rounds to 0


def derivative(f: Callable[[mpmath.mpf], Any], x: mpmath.mpf, *, smooth: bool = False,
               escalate: bool = True) -> Any:
    """``f'(x)`` by a central difference at raised precision (``mpmath.diff``'s method).

    The step is ``h = 2^-(p+10)`` (``p`` the working precision in bits) and ``f(x ± h)`` are
    evaluated at about ``2p`` bits, as ``mpmath.diff`` does.  Beyond that:

    * the precision is raised by ``log2 |x|`` for huge ``x``, so that ``x ± h`` is exact;
    * unless ``f`` is ``smooth`` through 0 (a function of logits), the step is scaled by
      ``|x|`` for tiny ``x``, so that ``x ± h`` stays on the same side of 0 (``log p̂`` at
      ``p̂ = 1e-300``), and the precision raised to match;
    * if ``f(x + h) - f(x - h)`` is at the level of the rounding noise of ``f`` — the
      derivative of ``σ(z) = 1/(1 + e^{-z})`` at ``z = 709`` is ``e^{-709}`` relative to
      ``σ ≈ 1`` — the precision is doubled until it is not, or until what the noise
      could hide is below the smallest float64 (it would round to 0); ``escalate=False``
      skips this where a tiny difference can only mean a derivative near 0 (a score near
      its root).

    Correct to the working precision from ``x = 1e-300`` to ``x = 1e300``.
    """
    prec = mpmath.mp.prec
    x = mpmath.mpf(x)
    tiny = bool(x) and abs(x) < 1 and not smooth
    extra = abs(int(mpmath.mag(x))) if x and (abs(x) >= 1 or tiny) else 0
    h = mpmath.ldexp(1, -prec - 10) * (abs(x) if tiny else 1)
    work = 2 * (prec + extra + 40)
    while True:
        with mpmath.workprec(work):
            hi, lo = f(x + h), f(x - h)
            diff = hi - lo
            noise = mpmath.ldexp(max(abs(hi), abs(lo)), 48 - work)
            # stop when the difference stands out of the noise, or when whatever the noise
            # could hide is below half the smallest float64 (it rounds to 0 anyway)
            if (abs(diff) > noise or noise / (2 * h) < _HALF_TINY or work >= _MAX_DIFF_PREC
                    or not escalate):
                d = diff / (2 * h)
                break
        work *= 2
    return +d


def _replace(vec: list, i: int, value) -> list:
    out = list(vec)
    out[i] = value
    return out


def _maximise(loglik: Callable, lo, hi):
    """The maximiser of a concave ``loglik`` on ``(lo, hi)``: the root of its derivative.

    The derivative is :func:`derivative` of the log-likelihood.  Bisection on its sign (at
    20 digits) narrows the bracket to a relative width of ~1e-8, then ``mpmath.findroot``
    (Anderson, else Ridder) converges at the working precision; the second derivative is
    checked to be negative (a maximum, not a minimum or saddle).
    """
    def slope(p):
        return derivative(loglik, p, escalate=False)

    if not slope(lo) > 0 > slope(hi):
        raise OracleError("the log-likelihood has no interior maximum on the bracket")
    with mpmath.workdps(20):  # the signs need few digits
        for _ in range(200):
            if hi - lo <= mpmath.mpf(10) ** -8 * abs(hi):
                break
            mid = (lo + hi) / 2
            if slope(mid) > 0:
                lo = mid
            else:
                hi = mid
    root = None
    for solver in ("anderson", "ridder"):
        try:
            root = mpmath.findroot(slope, (lo, hi), solver=solver)
            break
        except (ValueError, ZeroDivisionError):
            continue
    if root is None or not lo <= root <= hi:
        raise OracleError("findroot did not converge to an interior maximum")
    if derivative(slope, root) >= 0:
        raise OracleError("the stationary point is not a maximum")
    return root


_WARM: dict[Any, list] = {}  # the last maximiser per problem shape: a starting point only


def _maximise_nd(loglik: Callable[[list], Any], start: list, *, warm: Any = None) -> list:
    """The maximiser of ``loglik`` over R^m by Newton's method, from ``start``.

    The gradient is :func:`derivative` of the log-likelihood at the working precision, the
    Hessian its derivative at 20 digits (Newton's iteration then still converges, by ~20
    digits a step, to the root of the exact gradient); far from the maximum each step is
    halved until the log-likelihood rises (a gradient step where the Hessian is not
    negative definite).  Converges to the working precision; the Hessian at the maximiser
    is checked to be negative definite.

    ``warm`` names the problem's shape: Newton's method then starts from the maximiser
    last found for that shape if the log-likelihood is higher there than at ``start`` —
    the condition numbers solve many nearby problems.  It only saves iterations: the
    result is the root of the gradient either way.
    """
    x = list(start)
    m = len(x)
    prev = _WARM.get(warm) if warm is not None else None
    if prev is not None and len(prev) == m:
        with contextlib.suppress(ValueError, ZeroDivisionError, OverflowError):
            if loglik(prev) > loglik(x):
                x = [+v for v in prev]

    def partial(f, v, j):
        return derivative(lambda t: f(_replace(v, j, t)), v[j], smooth=True, escalate=False)

    def grad(v):
        return [partial(loglik, v, j) for j in range(m)]

    def hess(v):
        out = mpmath.matrix(m, m)
        with mpmath.workdps(20):
            for j in range(m):
                for k in range(j, m):  # symmetric
                    out[j, k] = out[k, j] = partial(lambda u, j=j: partial(loglik, u, j), v, k)
        return out

    tol = mpmath.mpf(10) ** (-(mpmath.mp.dps - 5))
    for _ in range(100):
        g, h = grad(x), hess(x)
        try:
            step = list(mpmath.lu_solve(h, mpmath.matrix([-gj for gj in g])))
        except ZeroDivisionError:
            step = list(g)
        if mpmath.fsum(gj * sj for gj, sj in zip(g, step, strict=True)) <= 0:
            step = list(g)  # not an ascent direction: climb the gradient instead
        t = mpmath.mpf(1)
        near = all(abs(sj) <= mpmath.mpf(10) ** (-(mpmath.mp.dps // 4)) * (1 + abs(xj))
                   for sj, xj in zip(step, x, strict=True))
        if not near:  # far from the maximum: halve the step until the likelihood rises
            f0 = loglik(x)
            while t > mpmath.ldexp(1, -200):
                trial = [xj + t * sj for xj, sj in zip(x, step, strict=True)]
                if loglik(trial) >= f0:
                    break
                t /= 2
        # near it (quadratic convergence), differences of ℓ are below its rounding
        x = [xj + t * sj for xj, sj in zip(x, step, strict=True)]
        if all(abs(t * sj) <= tol * (1 + abs(xj)) for sj, xj in zip(step, x, strict=True)):
            break
    else:
        raise OracleError("Newton's method did not converge")
    try:
        mpmath.cholesky(-hess(x))
    except ValueError:
        raise OracleError("the stationary point is not a maximum") from None
    if warm is not None:
        _WARM[warm] = list(x)
    return x


# ------------------------------------------------------------ definitions' pieces


def _exp(x):
    """``e^x``, or 0 where it is negligible twice over.

    For ``x < -max(p + 64, 1100) log 2`` (``p`` the working precision in bits) ``e^x`` is
    below the working precision relative to 1 *and* below half the smallest float64, so
    it cannot change a sum with a term of size 1 nor round to anything but 0 — and
    ``mpmath.exp(-1e300)`` at thousands of bits is slow.
    """
    if x < -max(mpmath.mp.prec + 64, 1100) * mpmath.ln2:
        return mpmath.mpf(0)
    return mpmath.exp(x)


def _log_sigmoid(z):
    # log σ(z) = log(1 / (1 + e^{-z}))
    return -mpmath.log1p(_exp(-z))


def _log_one_minus_sigmoid(z):
    # 1 - σ(z) = 1 / (1 + e^{z})
    return -mpmath.log1p(_exp(z))


def _sigmoid(z):
    return 1 / (1 + mpmath.exp(-z))


def _log_softmax(z: list, k: int):
    # softmax_k(z) = e^{z_k} / Σ_j e^{z_j} = e^{z_k - m} / (1 + Σ_{j≠a} e^{z_j - m}),
    # a = argmax z, m = z_a: every exponent <= 0 (no e^{1e300}), the 1 kept apart (log1p)
    a = max(range(len(z)), key=lambda j: z[j])
    m = z[a]
    rest = mpmath.fsum(_exp(zj - m) for j, zj in enumerate(z) if j != a)
    return (z[k] - m) - mpmath.log1p(rest)


def _softmax(z: list) -> list:
    # softmax_k(z) = e^{z_k} / Σ_j e^{z_j} = e^{z_k - m} / Σ_j e^{z_j - m}, m = max z
    m = max(z)
    e = [_exp(zk - m) for zk in z]
    total = mpmath.fsum(e)
    return [ek / total for ek in e]


def _xlogy(x, y):
    """``x log y`` with the convention ``0 log 0 = 0`` (and ``0 log y = 0``)."""
    return mpmath.mpf(0) if x == 0 else x * mpmath.log(y)


def _cross_entropy(p: list, q: list):
    # H(p, q) = -Σ_k p_k log q_k
    return -mpmath.fsum(_xlogy(pk, qk) for pk, qk in zip(p, q, strict=True))


def _entropy(p: list):
    # H(p) = -Σ_k p_k log p_k
    return -mpmath.fsum(_xlogy(pk, pk) for pk in p)


def _kl(p: list, q: list):
    # D(p || q) = Σ_k p_k log(p_k / q_k)
    return mpmath.fsum(mpmath.mpf(0) if pk == 0 else pk * mpmath.log(pk / qk)
                       for pk, qk in zip(p, q, strict=True))


def _bce(z, y):
    # L(z, y) = -[y log σ(z) + (1 - y) log(1 - σ(z))]
    return -(y * _log_sigmoid(z) + (1 - y) * _log_one_minus_sigmoid(z))


def _softmax_ce(z: list, y: list):
    # L(z, y) = -Σ_k y_k log softmax_k(z)
    return -mpmath.fsum(yk * _log_softmax(z, k) for k, yk in enumerate(y) if yk != 0)


def _gradient(loss: Callable[[list], Any], z: list) -> list:
    """``[∂loss/∂z_i for each i]`` by ``mpmath.diff`` in each (logit) coordinate."""
    return [derivative(lambda t, i=i: loss(_replace(z, i, t)), z[i], smooth=True)
            for i in range(len(z))]


def _gauss_log_ratio(mu1, s1, mu2, s2):
    """``t -> log p(x) - log q(x)`` at ``x = μ1 + σ1 t`` for p = N(μ1, σ1²), q = N(μ2, σ2²)."""
    a, r = (mu1 - mu2) / s2, s1 / s2
    log_ratio = mpmath.log(s2) - mpmath.log(s1)

    def g(t):
        # log N(x; μ, σ²) = -((x - μ)/σ)²/2 - log σ - log(2π)/2, and at x = μ1 + σ1 t
        # (x - μ2)/σ2 = (μ1 - μ2)/σ2 + (σ1/σ2) t  (exact zero for identical Gaussians)
        return -t * t / 2 + (a + r * t) ** 2 / 2 + log_ratio

    return g


def _normal_expectation_quad(g: Callable) -> Any:
    """``E[g(t)]`` for ``t ~ N(0, 1)`` by ``mpmath.quad``, with its error estimate checked."""
    # mpmath's convergence test is absolute: integrate g / s with s ~ |g| near t = 0
    s = max(abs(g(mpmath.mpf(t))) for t in (-1, 0, 1)) or mpmath.mpf(1)
    c = 1 / (s * mpmath.sqrt(2 * mpmath.pi))
    # the Gaussian weight is < 1e-340 beyond |t| = 40; split where the integrand lives
    value, err = mpmath.quad(lambda t: c * mpmath.exp(-t * t / 2) * g(t),
                             [-40, -10, -3, 0, 3, 10, 40], method="gauss-legendre", error=True)
    value, err = value * s, err * s
    # half the working digits are far more than float64 needs; a zero must be exact
    if err > mpmath.mpf(10) ** (-(mpmath.mp.dps // 2)) * abs(value) and err != 0:
        raise OracleError(f"quad error estimate {mpmath.nstr(err, 3)} is too large for "
                          f"the value {mpmath.nstr(value, 5)}")
    return value


def warm_quadrature(dps: int = DEFAULT_DPS) -> None:
    """Compute (and let mpmath cache) the quadrature nodes the ``quad`` oracles use at
    ``dps`` digits — about a second, once per process (or once before forking workers)."""
    with mpmath.workdps(dps):
        _normal_expectation_quad(lambda t: (1 + t * t) / 3)


def _normal_expectation_hermite(g: Callable) -> Any:
    """``E[g(t)]`` for ``t ~ N(0, 1)`` by 3-point Gauss–Hermite (exact for degree <= 5)."""
    r3 = mpmath.sqrt(3)
    return (4 * g(mpmath.mpf(0)) + g(r3) + g(-r3)) / 6


# ====================================================================== the oracles
#
# One per exportable derivation, in the order of ``lossproof list``'s topics.  Each states
# its definition; none evaluates the derived result.

# --------------------------------------------------------------------- information


@_oracle("self-information-additivity", ("p_x", "p_y", "b"),
         "I_b(p_xy) = -log(p_xy) / log b of the joint event, p_xy = p_x p_y (independent)",
         "direct")
def _self_information_additivity(p_x, p_y, b):
    return -mpmath.log(p_x * p_y) / mpmath.log(b)


@_oracle("ce-equals-entropy-plus-kl", ("p", "q"), "H(p, q) = -Σ_k p_k log q_k", "sum")
def _ce_entropy_kl(p, q):
    return _cross_entropy(p, q)


@_oracle("cross-entropy-one-hot", ("q", "y"),
         "H(e_y, q) = -Σ_k [k = y] log q_k, the cross-entropy of the one-hot p = e_y "
         "(y counts from 1)", "sum")
def _cross_entropy_one_hot(q, y):
    onehot = [mpmath.mpf(1 if k == int(y) else 0) for k in range(1, len(q) + 1)]
    return _cross_entropy(onehot, q)


def _marginals(p: list) -> tuple[list, list]:
    rows = [mpmath.fsum(r) for r in p]
    cols = [mpmath.fsum(r[j] for r in p) for j in range(len(p[0]))]
    return rows, cols


@_oracle("entropy-chain-rule", ("p",), "H(X, Y) = -Σ_{m,n} p_mn log p_mn", "sum")
def _joint_entropy(p):
    return _entropy([v for r in p for v in r])


@_oracle("mutual-information-identities", ("p",),
         "I(X; Y) = H(X) - H(X | Y) = -Σ_m p_m log p_m + Σ_{m,n} p_mn log(p_mn / p_n), with the "
         "marginals p_m = Σ_n p_mn, p_n = Σ_m p_mn", "sum")
def _mutual_information(p):
    px, py = _marginals(p)
    h_x_given_y = -mpmath.fsum(_xlogy(v, v / py[j]) for r in p for j, v in enumerate(r))
    return _entropy(px) - h_x_given_y


@_oracle("kl-nonnegative", ("p", "q"), "D(p ‖ q) = Σ_k p_k log(p_k / q_k)", "sum")
def _kl_nonnegative(p, q):
    return _kl(p, q)


@_oracle("entropy-maximum-uniform", ("p",), "H(p) = -Σ_k p_k log p_k", "sum")
def _entropy_maximum_uniform(p):
    return _entropy(p)


@_oracle("perplexity-base-invariance", ("p", "q"),
         "PPL = b^{H_b(p, q)}, H_b = -Σ_k p_k log_b q_k, in base b = 2", "direct")
def _perplexity_base_invariance(p, q):
    return mpmath.power(2, -mpmath.fsum(_xlogy(pk, qk) for pk, qk in zip(p, q, strict=True))
                        / mpmath.log(2))


@_oracle("perplexity-of-cross-entropy", ("p", "q"),
         "PPL(p, q) = e^{H(p, q)}, H(p, q) = -Σ_k p_k log q_k", "direct")
def _perplexity_of_cross_entropy(p, q):
    return mpmath.exp(_cross_entropy(p, q))


# ---------------------------------------------------------------------- Gaussian


def _gaussian_kl_quad(mu1, s1, mu2, s2):
    return _normal_expectation_quad(_gauss_log_ratio(mu1, s1, mu2, s2))


def _gaussian_kl_hermite(mu1, s1, mu2, s2):
    return _normal_expectation_hermite(_gauss_log_ratio(mu1, s1, mu2, s2))


for _name in ("gaussian-kl", "gaussian-kl-stable-form"):
    _oracle(_name, ("mu1", "sigma1", "mu2", "sigma2"),
            "D(N(μ1, σ1²) ‖ N(μ2, σ2²)) = ∫ p(x) log(p(x)/q(x)) dx, by mpmath.quad over "
            "x = μ1 + σ1 t", "quad", self_checked=True,
            sensitivity=_gaussian_kl_hermite)(_gaussian_kl_quad)


def _gauss_neg_log_density(sigma):
    # -log N(x; μ, σ²) at x = μ + σ t: t²/2 + log σ + log(2π)/2  (μ drops out)
    c = mpmath.log(sigma) + mpmath.log(2 * mpmath.pi) / 2
    return lambda t: t * t / 2 + c


@_oracle("gaussian-entropy", ("sigma",),
         "h(N(μ, σ²)) = -∫ p(x) log p(x) dx, by mpmath.quad over x = μ + σ t", "quad",
         self_checked=True,
         sensitivity=lambda sigma: _normal_expectation_hermite(_gauss_neg_log_density(sigma)))
def _gaussian_entropy(sigma):
    return _normal_expectation_quad(_gauss_neg_log_density(sigma))


# ------------------------------------------------------------------------ losses


@_oracle("sigmoid-derivative", ("z",), "d/dz σ(z), σ(z) = 1/(1 + e^{-z}) (mpmath.diff)", "diff")
def _sigmoid_derivative(z):
    return derivative(_sigmoid, z, smooth=True)


@_oracle("bce-gradient", ("z", "y"),
         "d/dz of L(z, y) = -[y log σ(z) + (1 - y) log(1 - σ(z))] (mpmath.diff)", "diff")
def _bce_gradient(z, y):
    return derivative(lambda t: _bce(t, y), z, smooth=True)


def _bce_probability(phat, y):
    # L(p̂, y) = -[y log p̂ + (1 - y) log(1 - p̂)]
    return -(y * mpmath.log(phat) + (1 - y) * mpmath.log1p(-phat))


@_oracle("bce-probability-gradient", ("phat", "y"),
         "d/dp̂ of L(p̂, y) = -[y log p̂ + (1 - y) log(1 - p̂)] (mpmath.diff)", "diff")
def _bce_probability_gradient(phat, y):
    return derivative(lambda t: _bce_probability(t, y), phat)


@_oracle("binary-as-two-class-softmax", ("z", "y"),
         "-Σ_k t_k log softmax_k(w) with logits w = (z, 0) and targets t = (y, 1 - y)", "sum")
def _binary_as_two_class_softmax(z, y):
    return _softmax_ce([z, mpmath.mpf(0)], [y, 1 - y])


@_oracle("softmax-shift-invariance", ("z",), "softmax_i(z) = e^{z_i} / Σ_j e^{z_j}", "direct")
def _softmax_shift_invariance(z):
    return _softmax(z)


@_oracle("temperature-softmax-gradient", ("z", "y", "T"),
         "[∂/∂z_i of -Σ_k y_k log softmax_k(z/T)]_i (mpmath.diff per coordinate)", "diff")
def _temperature_softmax_gradient(z, y, T):
    return _gradient(lambda v: _softmax_ce([vk / T for vk in v], y), z)


def _sigmoid_minus(z, y):
    # σ(z) - y, written so that neither form cancels: 1 - σ(z) = 1/(1 + e^{z})
    if z > 0:
        return (1 - y) - 1 / (1 + mpmath.exp(z))
    return 1 / (1 + mpmath.exp(-z)) - y


@_oracle("mse-vs-bce-gradient", ("z", "y"), "d/dz of (σ(z) - y)² (mpmath.diff)", "diff")
def _mse_vs_bce_gradient(z, y):
    return derivative(lambda t: _sigmoid_minus(t, y) ** 2, z, smooth=True)


@_oracle("label-smoothing", ("z", "y", "epsilon"),
         "[∂/∂z_i of -Σ_k y^ε_k log softmax_k(z)]_i, y^ε = (1 - ε) y + ε/K "
         "(mpmath.diff per coordinate)", "diff")
def _label_smoothing(z, y, epsilon):
    smoothed = [(1 - epsilon) * yk + epsilon / len(y) for yk in y]
    return _gradient(lambda v: _softmax_ce(v, smoothed), z)


@_oracle("distillation-gradient", ("s", "t", "T"),
         "[∂/∂s_i of T² D(softmax(t/T) ‖ softmax(s/T))]_i (mpmath.diff per coordinate)",
         "diff")
def _distillation_gradient(s, t, T):
    tt = [tk / T for tk in t]
    pt = _softmax(tt)

    def loss(v):
        sv = [vk / T for vk in v]
        # D(p ‖ q) = Σ_k p_k (log p_k - log q_k), both logs of softmaxes
        return T**2 * mpmath.fsum(pt[k] * (_log_softmax(tt, k) - _log_softmax(sv, k))
                                  for k in range(len(t)) if pt[k] != 0)

    return _gradient(loss, s)


@_oracle("softmax-ce-gradient", ("z", "y"),
         "[∂/∂z_i of L(z, y) = -Σ_k y_k log softmax_k(z)]_i (mpmath.diff per coordinate)",
         "diff")
def _softmax_ce_gradient(z, y):
    return _gradient(lambda v: _softmax_ce(v, y), z)


# -------------------------------------------------------------- maximum likelihood


@_oracle("mle-bernoulli", ("y",),
         "argmax_p Σ_i [y_i log p + (1 - y_i) log(1 - p)] (mpmath.findroot on the "
         "mpmath.diff of the log-likelihood; second derivative < 0 checked)", "findroot",
         self_checked=True)
def _mle_bernoulli(y):
    def loglik(p):
        lp, lq = mpmath.log(p), mpmath.log1p(-p)
        return mpmath.fsum(yi * lp + (1 - yi) * lq for yi in y)

    tiny = mpmath.ldexp(1, -mpmath.mp.prec)
    return _maximise(loglik, tiny, 1 - tiny)


@_oracle("mle-categorical", ("n",),
         "argmax_θ Σ_k n_k log θ_k over the simplex (θ = softmax(u, 0), Newton's method "
         "with mpmath.diff gradient and Hessian; maximum checked)", "findroot",
         self_checked=True)
def _mle_categorical(n):
    def loglik(u):
        theta = _softmax([*u, mpmath.mpf(0)])
        return mpmath.fsum(nk * mpmath.log(tk) for nk, tk in zip(n, theta, strict=True))

    u = _maximise_nd(loglik, [mpmath.mpf(0)] * (len(n) - 1), warm=("categorical", len(n)))
    return _softmax([*u, mpmath.mpf(0)])


def _log_normal_density(x, mu, sigma):
    # log N(x; μ, σ²) = log(e^{-(x - μ)²/(2σ²)} / (σ √(2π)))
    return -((x - mu) / sigma) ** 2 / 2 - mpmath.log(sigma) - mpmath.log(2 * mpmath.pi) / 2


@_oracle("mle-gaussian", ("x",),
         "σ̂² where (μ̂, σ̂) = argmax Σ_i log N(x_i; μ, σ²) (Newton's method in (μ, log σ) "
         "with mpmath.diff gradient and Hessian; maximum checked)", "findroot",
         self_checked=True)
def _mle_gaussian(x):
    # the likelihood of the sample in units u_i = (x_i - x_1)/s, an exact change of
    # variables (the maximiser maps back: σ̂ = s σ̂_u); it keeps Newton's method scale-free
    spread = max(abs(xi - x[0]) for xi in x)
    if spread == 0:
        raise OracleError("a constant sample has no maximum-likelihood variance")
    u = [(xi - x[0]) / spread for xi in x]

    def loglik(v):
        mu, sigma = v[0], mpmath.exp(v[1])
        return mpmath.fsum(_log_normal_density(ui, mu, sigma) for ui in u)

    _mu, log_sigma = _maximise_nd(loglik, [mpmath.mpf(0), mpmath.mpf(0)],
                                  warm=("gaussian", len(x)))
    return (spread * mpmath.exp(log_sigma)) ** 2


@_oracle("mse-is-gaussian-nll", ("yhat", "y", "sigma"),
         "-(1/n) Σ_i log N(y_i; ŷ_i, σ²), the Gaussian density's log", "sum")
def _mse_is_gaussian_nll(yhat, y, sigma):
    return -mpmath.fsum(_log_normal_density(yi, mi, sigma)
                        for yi, mi in zip(y, yhat, strict=True)) / len(y)


@_oracle("nll-equals-cross-entropy", ("q", "t"),
         "-(1/N) log Π_i Σ_k t_ik q_ik, the likelihood of the labels (a product)", "direct")
def _nll_equals_cross_entropy(q, t):
    likelihood = mpmath.fprod(mpmath.fsum(tk * qk for tk, qk in zip(ti, qi, strict=True))
                              for ti, qi in zip(t, q, strict=True))
    return -mpmath.log(likelihood) / len(q)


# --------------------------------------------------------- oracles in their own modules

from derive import _oracle_mvn  # noqa: E402,F401 - registers mvn-kl
from derive import oracle_arb as _oracle_arb  # noqa: E402  (the ball versions, attached)

_oracle_arb._attach()
