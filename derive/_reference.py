"""Reference quantities behind :mod:`derive.testing` and :mod:`derive.audit` (private).

For every quantity a user's (or a library's) function can be checked against, this module
holds

* the **definition**, evaluated with mpmath (``value``) — never a derived closed form.  It is
  written with the rearrangements of the definition's own rational expressions that keep
  it exact at extreme arguments (``1 - σ(z) = 1/(1 + e^{z})``,
  ``softmax_k(z) = 1/Σ_j e^{z_j - z_k}``), and ``log1p`` wherever ``log(1 + x)`` appears;
* the **gradient** of the defining loss with respect to one argument, by central
  differences of the definition at the working precision (step ``10^(-dps/3)`` times the
  argument's scale, so both the truncation and the rounding error are ``10^(-2 dps/3)``);
* the **condition number** κ of the value and of the gradient at a point (closed forms of
  the first derivatives — they set a tolerance, not the expected value), taken with
  respect to the perturbations a float computation really makes:

  - labels and targets that are exact by construction (hard labels 0/1, one-hot vectors,
    class indices) and hyper-parameters (T, ε) are *not* perturbed; soft targets are;
  - softmax quantities are invariant under a common shift of the logits, so κ is taken at
    the shifted logits ``z - max z`` (and likewise ``μ1 - μ2`` for the Gaussian KL);
  - probability vectors are perturbed *on the simplex* (perturbations that keep them
    normalised), which removes the ``+1`` of ``∂/∂p (p log p)``;
* the **adversarial points** (the inputs where popular implementations are known to
  fail) plus a seeded random sample.

Values are computed by :func:`evaluate`: at 60 digits, then at twice as many, until two
successive precisions agree to 30 digits (an exact zero is confirmed at >= 480 digits),
so a point whose definition cancels catastrophically still gets a correct reference.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import mpmath
import numpy as np

DPS_LADDER = (60, 120, 240, 480, 960, 1500)
AGREE_DIGITS = 30
ZERO_CONFIRM_DPS = 480
#: below this exponent, e^x only ever meets numbers it cannot change at the precisions used
_EXP_TAIL = -100_000


# ----------------------------------------------------------------- mpmath pieces


def _exp(x):
    """``e^x``; for ``x < -1e5`` a power of two of about that size (fast at any precision).

    Such a value is below 10^-43000: it cannot change a sum of ordinary numbers at the
    precisions used here, and on its own it underflows every float format.
    """
    if x < _EXP_TAIL:  # 2^(x / ln 2) in float arithmetic: the same at every precision
        return mpmath.ldexp(1, int(max(float(x), -1e300) * 1.4426950408889634))
    return mpmath.exp(x)


def _log1pexp(x):
    """``log(1 + e^x)``, exact for any ``x`` (``= x + log(1 + e^{-x})`` when ``x > 0``)."""
    if x > 0:
        return x + mpmath.log1p(_exp(-x))
    return mpmath.log1p(_exp(x))


def _xlogy(x, y):
    """``x log y`` with ``0 log y = 0``."""
    return mpmath.mpf(0) if x == 0 else x * mpmath.log(y)


def _log_sum_exp(d: Sequence):
    """``log Σ_j e^{d_j} = m + log(1 + Σ_{j != a} e^{d_j - m})`` with ``m = d_a = max d``."""
    a = max(range(len(d)), key=lambda j: d[j])
    m = d[a]
    return m + mpmath.log1p(mpmath.fsum(_exp(dj - m) for j, dj in enumerate(d) if j != a))


def _log_softmax_all(z: Sequence, inv_t=1) -> list:
    """``[log softmax_k(z / T)]``: ``softmax_k = e^{(z_k - z_a)/T} / Σ_j e^{(z_j - z_a)/T}``
    with ``a = argmax z``, whose denominator is ``1 + Σ_{j != a} e^{(z_j - z_a)/T}``."""
    a = max(range(len(z)), key=lambda j: z[j])
    d = [(zj - z[a]) * inv_t for zj in z]
    r = mpmath.log1p(mpmath.fsum(_exp(dj) for j, dj in enumerate(d) if j != a))
    return [dk - r for dk in d]


def _softmax(z: Sequence, inv_t=1) -> list:
    return [_exp(v) for v in _log_softmax_all(z, inv_t)]


def _sigmoid(z):
    return 1 / (1 + _exp(-z))


def _mp(x: Any) -> Any:
    """Floats (exactly), ints and (nested) arrays as mpf / lists of mpf."""
    if isinstance(x, np.ndarray):
        x = x.tolist()
    if isinstance(x, list | tuple):
        return [_mp(v) for v in x]
    return mpmath.mpf(float(x)) if not isinstance(x, int) else x


# ------------------------------------------------------------------ definitions


def bce_logits(z, y):
    # L(z, y) = -[y log σ(z) + (1 - y) log(1 - σ(z))],
    # log σ(z) = -log(1 + e^{-z});  1 - σ(z) = 1/(1 + e^{z})
    return y * _log1pexp(-z) + (1 - y) * _log1pexp(z)


def bce_probability(p, y):
    # L(p, y) = -[y log p + (1 - y) log(1 - p)]
    return -(_xlogy(y, p) + (0 if y == 1 else (1 - y) * mpmath.log1p(-p)))


def softmax_ce(z, y, t=1, eps=0):
    # L = -Σ_k ŷ_k log softmax_k(z / T),  ŷ = (1 - ε) y + ε / K
    if isinstance(y, int):  # a class index: one-hot target
        y = [mpmath.mpf(int(k == y)) for k in range(len(z))]
    k_ = len(z)
    yh = [(1 - eps) * yk + mpmath.mpf(eps) / k_ for yk in y] if eps else y
    logp = _log_softmax_all(z, 1 / mpmath.mpf(t))
    return -mpmath.fsum(yk * lk for yk, lk in zip(yh, logp, strict=True) if yk != 0)


def distillation(s, t, temp):
    # L = T² D(softmax(t/T) || softmax(s/T)) = T² Σ_k p_k (log p_k - log q_k)
    inv_t = 1 / mpmath.mpf(temp)
    logp, logq = _log_softmax_all(t, inv_t), _log_softmax_all(s, inv_t)
    terms = [_exp(lp) * (lp - lq) for lp, lq in zip(logp, logq, strict=True)]
    return mpmath.mpf(temp) ** 2 * mpmath.fsum(terms)


def kl(p, q):
    # D(p || q) = Σ_k p_k log(p_k / q_k), 0 log(0/q) = 0, +inf where q_k = 0 < p_k
    terms = []
    for pk, qk in zip(p, q, strict=True):
        if pk == 0:
            continue
        if qk == 0:
            return mpmath.inf
        terms.append(pk * mpmath.log(pk / qk))
    return mpmath.fsum(terms)


def cross_entropy(p, q):
    # H(p, q) = -Σ_k p_k log q_k
    terms = []
    for pk, qk in zip(p, q, strict=True):
        if pk == 0:
            continue
        if qk == 0:
            return mpmath.inf
        terms.append(pk * mpmath.log(qk))
    return -mpmath.fsum(terms)


def entropy(p):
    # H(p) = -Σ_k p_k log p_k, 0 log 0 = 0
    return -mpmath.fsum(_xlogy(pk, pk) for pk in p)


def gaussian_kl(mu1, s1, mu2, s2):
    # D(N(μ1, σ1²) || N(μ2, σ2²)) = E_p[log p(x) - log q(x)]
    #   = log(σ2/σ1) + E_p[(x - μ2)²]/(2σ2²) - E_p[(x - μ1)²]/(2σ1²),
    # with the moments E_p[(x - μ1)²] = σ1², E_p[(x - μ2)²] = σ1² + (μ1 - μ2)²
    return (mpmath.log(s2 / s1) + (s1**2 + (mu1 - mu2) ** 2) / (2 * s2**2)
            - mpmath.mpf(1) / 2)


def gaussian_entropy(s):
    # h = -E[log p(x)] = log σ + ½ log(2π) + ½ E[((x - μ)/σ)²] = ½ log(2π e σ²)
    return mpmath.log(s) + mpmath.log(2 * mpmath.pi) / 2 + mpmath.mpf(1) / 2


def mvn_kl(mu1, c1, mu2, c2):
    # D = ½[tr(Σ2⁻¹Σ1) + (μ2 - μ1)ᵀ Σ2⁻¹ (μ2 - μ1) - k + log det Σ2 - log det Σ1]
    # (the Gaussian expectation of log p - log q), in mpmath matrix arithmetic
    a, b = mpmath.matrix(c1), mpmath.matrix(c2)
    d = mpmath.matrix([m2 - m1 for m1, m2 in zip(mu1, mu2, strict=True)])
    k = len(mu1)
    w = mpmath.lu_solve(b, d)  # Σ2⁻¹ (μ2 - μ1)
    tr = mpmath.fsum(mpmath.lu_solve(b, a.column(i))[i] for i in range(k))  # tr(Σ2⁻¹ Σ1)
    quad = mpmath.fsum(d[i] * w[i] for i in range(k))
    return (tr + quad - k + mpmath.log(mpmath.det(b)) - mpmath.log(mpmath.det(a))) / 2


def log_sigmoid(z):
    # log σ(z) = log(1/(1 + e^{-z}))
    return -_log1pexp(-z)


def logsumexp(z):
    # log Σ_k e^{z_k}
    return _log_sum_exp(z)


def log_softmax(z):
    # log softmax_k(z) = log(e^{z_k} / Σ_j e^{z_j})
    return _log_softmax_all(z)


# ------------------------------------------------------------ precision control


def _agree(a: list, b: list, dps: int) -> bool:
    """Whether two evaluations (the second at ``dps`` digits, twice the first) agree.

    Nonzero values must agree to ``AGREE_DIGITS`` digits.  An exact zero is accepted once
    it persists to ``ZERO_CONFIRM_DPS`` digits; a component that stays below the noise
    floor of central differences (``10^(-2 dps/3)`` of the largest component) at
    ``2 * ZERO_CONFIRM_DPS`` digits is a zero that differences cannot resolve exactly —
    it is far below any float's range relative to the other components.
    """
    tol = mpmath.mpf(10) ** (-AGREE_DIGITS)
    finite = [abs(v) for v in b if mpmath.isfinite(v)]
    scale = max([*finite, mpmath.mpf(1)])
    floor = mpmath.mpf(10) ** (-(dps // 3) + 10) * scale  # 10^(-2 (dps/2)/3) of the scale
    for x, y in zip(a, b, strict=True):
        if mpmath.isnan(x) or mpmath.isnan(y):
            if not (mpmath.isnan(x) and mpmath.isnan(y)):
                return False
        elif mpmath.isinf(x) or mpmath.isinf(y):
            if x != y:
                return False
        elif y == 0 or x == 0:
            if not (x == 0 and y == 0 and dps >= ZERO_CONFIRM_DPS):
                return False
        elif abs(x - y) > tol * abs(y):
            if not (dps >= 2 * ZERO_CONFIRM_DPS and abs(x) < floor and abs(y) < floor):
                return False
    return True


def _snap(a: list, b: list, dps: int) -> list:
    """``b`` with the components at the noise floor (see :func:`_agree`) set to 0."""
    tol = mpmath.mpf(10) ** (-AGREE_DIGITS)
    finite = [abs(v) for v in b if mpmath.isfinite(v)]
    floor = mpmath.mpf(10) ** (-(dps // 3) + 10) * max([*finite, mpmath.mpf(1)])
    out = []
    for x, y in zip(a, b, strict=True):
        noise = (mpmath.isfinite(x) and mpmath.isfinite(y) and x != 0 and y != 0
                 and abs(x - y) > tol * abs(y) and abs(y) < floor)
        out.append(mpmath.mpf(0) if noise else y)
    return out


def evaluate(fn: Callable[..., Any], args: Sequence) -> tuple[list, int]:
    """``fn(*args)`` (a number or a list) at increasing precision until it has converged.

    Returns the components and the precision (digits) of the accepted evaluation.
    """
    prev = None
    for dps in DPS_LADDER:
        with mpmath.workdps(dps):
            out = fn(*_mp(list(args)))
            out = [+v for v in out] if isinstance(out, list) else [+out]
        if prev is not None and _agree(prev, out, dps):
            return _snap(prev, out, dps), dps
        prev = out
    return prev, DPS_LADDER[-1]


def central_gradient(loss: Callable[..., Any], args: list, wrt: int, scale: str) -> list:
    """∂loss/∂args[wrt] (each component) by central differences at the current precision.

    The step is ``h = 10^(-dps/3)`` (``"logit"`` arguments) or ``10^(-dps/3) min(x, 1 - x)``
    (``"prob"`` arguments, so ``x ± h`` stays inside (0, 1)); the loss is evaluated with the
    precision raised by the magnitude of the arguments, so ``x ± h`` is exact even at
    ``x = 1e300``.  Truncation and rounding errors are both ``O(10^(-2 dps/3))``.
    """
    dps = mpmath.mp.dps
    rel = mpmath.mpf(10) ** (-(dps // 3))
    x = args[wrt]
    vector = isinstance(x, list)
    xs = x if vector else [x]
    big = max([abs(v) for v in xs] + [mpmath.mpf(1)])
    extra = int(mpmath.log10(big)) + 5
    out = []
    with mpmath.workdps(dps + extra):
        for i, xi in enumerate(xs):
            h = rel * min(xi, 1 - xi) if scale == "prob" else rel

            def at(v, i=i):
                a = list(args)
                a[wrt] = [*xs[:i], v, *xs[i + 1:]] if vector else v
                return loss(*a)

            out.append((at(xi + h) - at(xi - h)) / (2 * h))
    return [+v for v in out]


# ------------------------------------------------------------- condition numbers
#
# Each function gets the point (mpf / lists of mpf), the exact value(s) of the quantity,
# and returns κ per component: Σ_j |x_j ∂f/∂x_j| / |f| over the perturbed inputs.


def _ratio(num, den) -> float:
    if den == 0 or mpmath.isinf(den):
        return math.inf if num != 0 else 0.0
    return float(num / abs(den))


def _soft(y) -> bool:
    """A target that is not exact by construction (hard label / one-hot / index)."""
    if isinstance(y, int):
        return False
    if isinstance(y, list):
        return not (all(v in (0, 1) for v in y) and sum(y) == 1)
    return y not in (0, 1)


def _cond_bce_value(args, vals):
    z, y = args
    dz = -_sigmoid(-z) if y == 1 else _sigmoid(z) - y  # ∂L/∂z = σ(z) - y
    num = abs(z * dz) + (abs(y * z) if _soft(y) else 0)  # ∂L/∂y = -z
    return [_ratio(num, vals[0])]


def _cond_bce_grad(args, vals):
    z, y = args
    num = abs(z) * _sigmoid(z) * _sigmoid(-z) + (abs(y) if _soft(y) else 0)
    return [_ratio(num, vals[0])]


def _cond_bcep_value(args, vals):
    p, y = args
    dp = -y / p + (1 - y) / (1 - p)
    dy = -mpmath.log(p) + mpmath.log1p(-p)
    return [_ratio(abs(p * dp) + (abs(y * dy) if _soft(y) else 0), vals[0])]


def _cond_bcep_grad(args, vals):
    p, y = args
    dp = y / p**2 + (1 - y) / (1 - p) ** 2
    dy = 1 / p + 1 / (1 - p)
    return [_ratio(abs(p * dp) + (abs(y * dy) if _soft(y) else 0), vals[0])]


def _softmax_parts(z, y, t, eps):
    k_ = len(z)
    if isinstance(y, int):
        y = [mpmath.mpf(int(k == y)) for k in range(k_)]
    soft = _soft(y) or eps != 0
    yh = [(1 - eps) * yk + mpmath.mpf(eps) / k_ for yk in y] if eps else list(y)
    m = max(z)
    u = [(zj - m) / t for zj in z]  # shift-invariant: κ at the shifted, scaled logits
    p = _softmax(u)
    return u, p, yh, soft


def _sum_factor(k: int) -> float:
    """Pairwise summation of k terms: allow log2(k)/4 times the budget beyond 16 terms."""
    return max(1.0, math.log2(k) / 4) if k > 16 else 1.0


def _cond_softmax_value(args, vals, t=1, eps=0):
    z, y = args[0], args[1]
    u, p, yh, soft = _softmax_parts(z, y, t, eps)
    s = mpmath.fsum(yh)
    # ∂L/∂u_j = S p_j - ŷ_j (S = Σ ŷ), ∂L/∂ŷ_j = -log p_j
    du = [s * pj - yj for pj, yj in zip(p, yh, strict=True)]
    num = mpmath.fsum(abs(uj * d) for uj, d in zip(u, du, strict=True))
    if soft:
        num += mpmath.fsum(abs(_xlogy(yj, pj)) for yj, pj in zip(yh, p, strict=True))
    return [_ratio(num, vals[0]) * _sum_factor(len(z))]


def _cond_softmax_grad(args, vals, t=1, eps=0):
    z, y = args[0], args[1]
    u, p, yh, soft = _softmax_parts(z, y, t, eps)
    s = mpmath.fsum(yh)
    sy = mpmath.fsum(abs(v) for v in yh)
    out = []
    for i, g in enumerate(vals):
        num = mpmath.fsum(abs(uj) * s * p[i] * abs(int(i == j) - p[j]) for j, uj in enumerate(u))
        if soft:
            num += sy * p[i] + abs(yh[i])
        out.append(_ratio(num / t, g) * _sum_factor(len(z)))
    return out


def _distill_parts(s, t, temp):
    ms, mt = max(s), max(t)
    u = [(x - ms) / temp for x in s]
    v = [(x - mt) / temp for x in t]
    return u, v, _softmax(u), _softmax(v)


def _cond_distill_value(args, vals):
    s, t, temp = args
    u, v, ps, pt = _distill_parts(s, t, temp)
    kl_ = vals[0] / temp**2
    lu, lv = _log_softmax_all(u), _log_softmax_all(v)
    # ∂KL/∂u_j = p^s_j - p^t_j;  ∂KL/∂v_j = p^t_j (log p^t_j - log p^s_j - KL); and the
    # teacher's probabilities, which must be rounded to be used, are perturbed like soft
    # targets (on the simplex): p^t_j |log p^t_j - log p^s_j|
    num = mpmath.fsum(abs(u[j] * (ps[j] - pt[j])) + abs(v[j]) * pt[j] * abs(lv[j] - lu[j] - kl_)
                      + pt[j] * abs(lv[j] - lu[j]) for j in range(len(s)))
    return [_ratio(num, kl_) * _sum_factor(len(s))]


def _cond_distill_grad(args, vals):
    s, t, temp = args
    u, v, ps, pt = _distill_parts(s, t, temp)
    out = []
    for i, g in enumerate(vals):
        num = mpmath.fsum(abs(u[j]) * ps[i] * abs(int(i == j) - ps[j])
                          + abs(v[j]) * pt[i] * abs(int(i == j) - pt[j]) for j in range(len(s)))
        num += pt[i]  # the teacher's probability, perturbed like a soft target
        out.append(_ratio(num * temp, g) * _sum_factor(len(s)))
    return out


def _cond_kl(args, vals):
    # on the simplex: Σ_j p_j |log(p_j/q_j)| + Σ_j |p_j - q_j|
    p, q = args
    num = mpmath.fsum(abs(pk * mpmath.log(pk / qk)) + abs(pk - qk)
                      for pk, qk in zip(p, q, strict=True) if pk != 0 and qk != 0)
    num += mpmath.fsum(qk for pk, qk in zip(p, q, strict=True) if pk == 0)
    return [_ratio(num, vals[0]) * _sum_factor(len(p))]


def _cond_cross_entropy(args, vals):
    # ∂H/∂p_j = -log q_j (on the simplex: any constant drops), ∂H/∂q_j = -p_j/q_j (+ λ)
    p, q = args
    num = mpmath.fsum(abs(_xlogy(pk, qk)) + abs(pk - qk) for pk, qk in zip(p, q, strict=True))
    return [_ratio(num, vals[0]) * _sum_factor(len(p))]


def _cond_entropy(args, vals):
    # on the simplex ∂H/∂p_j = -log p_j (+ λ): Σ_j |p_j log p_j| / H = 1
    return [1.0 * _sum_factor(len(args[0]))]


def _cond_gaussian_kl(args, vals):
    # shift-invariant in μ: perturb Δμ = μ1 - μ2, σ1 and σ2
    mu1, s1, mu2, s2 = args
    d2 = (mu1 - mu2) ** 2 / s2**2
    r2 = (s1 / s2) ** 2
    num = d2 + abs(r2 - 1) + abs(1 - r2 - d2)
    return [_ratio(num, vals[0])]


def _cond_gaussian_entropy(args, vals):
    return [_ratio(mpmath.mpf(1), vals[0])]


def _cond_mvn_kl(args, vals):
    mu1, c1, mu2, c2 = args
    a, b = mpmath.matrix(c1), mpmath.matrix(c2)
    k = len(mu1)
    d = mpmath.matrix([m2 - m1 for m1, m2 in zip(mu1, mu2, strict=True)])
    ai, bi = mpmath.inverse(a), mpmath.inverse(b)
    w = bi * d
    g1 = (bi - ai) / 2
    g2 = (bi - bi * (a + d * d.T) * bi) / 2
    num = mpmath.fsum(abs(a[i, j] * g1[i, j]) + abs(b[i, j] * g2[i, j])
                      for i in range(k) for j in range(k))
    num += mpmath.fsum(abs(d[i] * w[i]) for i in range(k))
    return [_ratio(num, vals[0])]


def _cond_log_sigmoid(args, vals):
    (z,) = args
    return [_ratio(abs(z) * _sigmoid(-z), vals[0])]


def _cond_logsumexp(args, vals):
    (z,) = args
    m = max(z)
    e = [_exp(zk - m) for zk in z]
    s = mpmath.fsum(e)
    return [_ratio(mpmath.fsum(abs(zk) * ek for zk, ek in zip(z, e, strict=True)) / s, vals[0])
            * _sum_factor(len(z))]


def _cond_log_softmax(args, vals):
    (z,) = args
    m = max(z)
    u = [zj - m for zj in z]
    p = _softmax(u)
    return [_ratio(mpmath.fsum(abs(u[j]) * abs(int(i == j) - p[j]) for j in range(len(z))), v)
            * _sum_factor(len(z)) for i, v in enumerate(vals)]


# ------------------------------------------------------------------ the table


@dataclass(frozen=True)
class Arg:
    """One argument of a reference quantity.

    kind: ``"scalar"`` (elementwise array), ``"vector"`` (``[..., K]``), ``"matrix"``
    (``[..., k, k]``), ``"target"`` (``[..., K]`` probabilities, or integer class indices
    ``[...]`` with ``integer_labels=True``; for elementwise losses: labels in [0, 1], or
    0/1 integers), ``"hyper"`` (a Python float, the same for a whole batch).
    """

    name: str
    kind: str
    doc: str = ""


@dataclass(frozen=True)
class Reference:
    """A checkable quantity: its definition, gradient, condition numbers and points."""

    key: str
    derivation: str
    summary: str
    args: tuple[Arg, ...]
    value_doc: str
    value: Callable[..., Any]
    cond_value: Callable[..., list]
    grad_doc: str | None = None
    wrt: int | None = None
    grad_scale: str = "logit"
    cond_grad: Callable[..., list] | None = None
    points: Callable[..., list] = field(default=lambda rng, dtype, integer_labels: [])
    random: Callable[..., list] = field(default=lambda rng, n, dtype, integer_labels: [])
    vector_value: bool = False
    supports_integer_labels: bool = False

    @property
    def has_grad(self) -> bool:
        return self.wrt is not None

    def grad(self, *args):
        return central_gradient(self.value, list(args), self.wrt, self.grad_scale)

    def signature(self) -> str:
        return f"fn({', '.join(a.name for a in self.args)})"


# ------------------------------------------------------------- adversarial points
#
# A point is a tuple with one entry per argument: a Python float for "scalar" and "hyper",
# a 1-D array for "vector"/"target" (or an int label), a 2-D array for "matrix".


def _in_range(values, dtype) -> list[float]:
    """The values representable (finite) in ``dtype``, rounded to it."""
    out = []
    with np.errstate(over="ignore"):
        for v in values:
            r = np.asarray(v, dtype=dtype)
            if np.isfinite(r):
                out.append(float(r))
    return out


def _logit_pool(dtype) -> list[float]:
    fi = np.finfo(dtype)
    mags = [0.0, float(fi.tiny), 1e-300, 1e-30, 1e-20, 1e-8, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0,
            17.0, 20.0, 30.0, 33.3, 36.0, 36.7, 37.0, 40.0, 50.0, 88.0, 89.0, 100.0, 500.0,
            700.0, 709.0, 710.0, 745.0, 746.0, 800.0, 1e4, 1e10, 1e100, 1e300, float(fi.max)]
    vals = _in_range(mags, dtype)
    return sorted(set(vals + [-v for v in vals]))


def _dyadic_simplex(rng, k: int, dtype, zeros: int = 0) -> np.ndarray:
    """A random probability vector whose float entries sum to exactly 1 (dyadic grid)."""
    bits = 20 if np.dtype(dtype) == np.float32 else 48
    total = 2**bits
    w = rng.dirichlet(np.ones(k))
    if zeros:
        w[rng.choice(k, size=zeros, replace=False)] = 0
        w = w / w.sum()
    n = np.floor(w * total).astype(np.int64)
    n[int(np.argmax(n))] += total - int(n.sum())
    return (n / total).astype(dtype)


def _one_hot(k: int, i: int, dtype) -> np.ndarray:
    y = np.zeros(k, dtype=dtype)
    y[i] = 1
    return y


def _bce_points(rng, dtype, integer_labels):
    pool = _logit_pool(dtype)
    pts = [(z, y) for z in pool for y in (0.0, 1.0)]
    if not integer_labels:
        few = [v for v in pool if abs(v) in (0.0, 1e-8, 1.0, 10.0, 40.0, 700.0, 1e300)
               or abs(v) == float(np.finfo(dtype).max)]
        pts += [(z, y) for z in few for y in _in_range([0.5, 0.25, 1e-8, 1 - 2.0**-20], dtype)]
    return pts


def _bce_random(rng, n, dtype, integer_labels):
    z = np.sign(rng.standard_normal(n)) * 10.0 ** rng.uniform(-3, 2.7, n)
    y = rng.integers(0, 2, n).astype(float)
    if not integer_labels:
        soft = rng.random(n) < 0.5
        y[soft] = rng.random(int(soft.sum()))
    return [(float(a), float(b)) for a, b in zip(_cast(z, dtype), _cast(y, dtype), strict=True)]


def _cast(x, dtype):
    return np.asarray(x, dtype=dtype).astype(float)


def _bcep_points(rng, dtype, integer_labels):
    fi = np.finfo(dtype)
    ps = _in_range([1e-300, float(fi.tiny), 1e-30, 1e-16, 1e-8, 0.05, 0.25, 0.5, 0.75, 0.95,
                    1 - 1e-8, 1 - 2.0**-40, 1 - float(fi.epsneg)], dtype)
    ps = [p for p in ps if 0 < p < 1]
    pts = [(p, y) for p in ps for y in (0.0, 1.0)]
    if not integer_labels:
        pts += [(p, y) for p in ps for y in _in_range([0.3, 0.5], dtype)]
    return pts


def _bcep_random(rng, n, dtype, integer_labels):
    p = np.clip(rng.random(n), 1e-6, 1 - 1e-6)
    y = rng.integers(0, 2, n).astype(float)
    if not integer_labels:
        soft = rng.random(n) < 0.5
        y[soft] = rng.random(int(soft.sum()))
    return [(float(a), float(b)) for a, b in zip(_cast(p, dtype), _cast(y, dtype), strict=True)]


def _logit_vectors(rng, dtype) -> list[tuple[np.ndarray, int]]:
    """Adversarial logits, each with the index of the class to use as the target."""
    big = _in_range([10.0, 20.0, 30.0, 37.0, 40.0, 50.0, 100.0, 700.0, 745.0, 800.0, 1e4],
                    dtype)
    out = []
    for c in big:  # confident and correct (loss < 1e-16 from c = 37) and confident and wrong
        out.append((np.array([c, 0.0, 0.0]), 0))
        out.append((np.array([-c, 0.0, 0.0]), 0))
    for o in _in_range([1e4, 1e8, 1e15, 1e16, 1e17, 1e100, 1e300, -1e16, -1e300], dtype):
        out.append((np.array([o, o, o]), 0))  # common offset: the loss is log 3
        out.append((np.array([o, o, o]) + np.array([1.0, 0.0, -1.0]), 2))
    out.append((np.array([1.0, 1.0 + 1e-12, 1.0 - 1e-12]), 0))  # a near-tie
    out.append((np.array([0.0, 0.0]), 1))
    for hi in _in_range([1e300, float(np.finfo(dtype).max) / 4], dtype):
        out.append((np.array([hi, -hi, 0.0]), 0))
        out.append((np.array([hi, -hi, 0.0]), 1))
    out.append((np.array([60.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]), 0))
    out.append((np.linspace(-5.0, 5.0, 10), 3))
    return [(np.asarray(z, dtype=dtype), i) for z, i in out if np.all(np.isfinite(
        np.asarray(z, dtype=dtype)))]


def _softmax_points(rng, dtype, integer_labels):
    pts = []
    for z, i in _logit_vectors(rng, dtype):
        pts.append((z, i if integer_labels else _one_hot(len(z), i, dtype)))
    if not integer_labels:
        half = np.asarray([0.5, 0.5, 0.0], dtype=dtype)
        mostly = np.asarray([0.75, 0.25, 0.0], dtype=dtype)
        for z in _in_range([0.0, 40.0, 800.0, 1e16], dtype):
            zz = np.asarray([z, 0.0, 0.0], dtype=dtype)
            pts += [(zz, half), (zz, mostly), (zz, _dyadic_simplex(rng, 3, dtype))]
    return pts


def _softmax_random(rng, n, dtype, integer_labels):
    pts = []
    for _ in range(n):
        k = int(rng.choice([2, 3, 5, 10]))
        z = np.asarray(rng.standard_normal(k) * rng.choice([1.0, 10.0, 100.0]), dtype=dtype)
        if integer_labels:
            pts.append((z, int(rng.integers(k))))
        elif rng.random() < 0.5:
            pts.append((z, _one_hot(k, int(rng.integers(k)), dtype)))
        else:
            pts.append((z, _dyadic_simplex(rng, k, dtype, zeros=int(rng.integers(0, k - 1)))))
    return pts


def _with_hyper(base: Callable, values: Sequence[float]) -> Callable:
    def points(rng, dtype, integer_labels):
        return [(*pt, h) for h in values for pt in base(rng, dtype, integer_labels)]

    return points


def _with_hyper_random(base: Callable, values: Sequence[float]) -> Callable:
    def points(rng, n, dtype, integer_labels):
        out = base(rng, n, dtype, integer_labels)
        return [(*pt, float(values[j % len(values)])) for j, pt in enumerate(out)]

    return points


def _distill_points(rng, dtype, integer_labels):
    pts = []
    for z, _ in _logit_vectors(rng, dtype):
        if len(z) != 3 or (abs(z[0]) not in (37.0, 745.0, 1e4) and z[0] != z[1]):
            continue  # the confident logits and the offsets, on both sides
        pts.append((z, np.zeros_like(z)))  # student confident, teacher uniform
        pts.append((np.zeros_like(z), z))
    s = np.asarray([1.0, -2.0, 0.5, 3.0], dtype=dtype)
    for d in _in_range([1e-3, 1e-6, 1e-8, 1e-12], dtype):  # nearly identical logits
        pts.append((s, np.asarray(s + d * np.array([1.0, -1.0, 0.5, 0.0]), dtype=dtype)))
    pts.append((s, s))
    return pts


def _distill_random(rng, n, dtype, integer_labels):
    pts = []
    for _ in range(n):
        k = int(rng.choice([2, 3, 5, 10]))
        s = rng.standard_normal(k) * rng.choice([1.0, 5.0, 20.0])
        t = s + rng.standard_normal(k) * rng.choice([1e-6, 0.1, 3.0])
        pts.append((np.asarray(s, dtype=dtype), np.asarray(t, dtype=dtype)))
    return pts


def _pair_points(rng, dtype, integer_labels):
    """Probability pairs (p, q): nearly identical, zeros, tiny entries, equal."""
    bits = 20 if np.dtype(dtype) == np.float32 else 48
    unit = 2.0**-bits
    pts = []
    for k in (3, 10):
        p = _dyadic_simplex(rng, k, dtype).astype(float)
        for rel in (1e-3, 1e-6, 1e-9, 1e-12):
            d = max(unit, np.floor(rel * p[0] / unit) * unit)
            q = p.copy()
            q[0] += d
            q[1] -= d
            pts.append((p, q))
        pts.append((p, p.copy()))
    half = [0.5, 0.5, 0.0]
    pts.append((half, [0.25, 0.5, 0.25]))
    pts.append((half, [0.25, 0.75, 0.0]))  # p_i = q_i = 0
    pts.append(([0.25, 0.75, 0.0], [0.0, 0.75, 0.25]))  # q = 0 < p: +inf
    tiny = float(np.finfo(dtype).tiny)
    pts.append(([0.5, 0.5], [tiny, 1.0 - tiny]))
    pts.append(([tiny, 1.0 - tiny], [0.5, 0.5]))
    pts.append(([1.0, 0.0], [0.5, 0.5]))
    pts.append(([0.5, 0.5], [1.0 - 2.0**-20, 2.0**-20]))
    return [(np.asarray(p, dtype=dtype), np.asarray(q, dtype=dtype)) for p, q in pts]


def _pair_random(rng, n, dtype, integer_labels):
    pts = []
    for _ in range(n):
        k = int(rng.choice([2, 3, 5, 10]))
        p = _dyadic_simplex(rng, k, dtype, zeros=int(rng.integers(0, k - 1)))
        q = _dyadic_simplex(rng, k, dtype)
        pts.append((p, q))
    return pts


def _dist_points(rng, dtype, integer_labels):
    pts = [(_one_hot(3, 0, dtype),), (np.full(4, 0.25, dtype=dtype),),
           (np.full(1024, 2.0**-10, dtype=dtype),),
           (np.asarray([1 - 2.0**-33, 2.0**-33], dtype=dtype),),
           (np.asarray([0.5, 0.5, 0.0], dtype=dtype),),
           (np.asarray([0.5, 0.25 + 2.0**-40, 0.25 - 2.0**-40], dtype=dtype),)]
    tiny = float(np.finfo(dtype).tiny)
    pts.append((np.asarray([tiny, 0.5, 0.5], dtype=dtype),))
    return pts


def _dist_random(rng, n, dtype, integer_labels):
    out = []
    for _ in range(n):
        k = int(rng.choice([2, 3, 5, 10, 100]))
        out.append((_dyadic_simplex(rng, k, dtype, zeros=int(rng.integers(0, k - 1))),))
    return out


def _gauss_points(rng, dtype, integer_labels):
    pts = []
    for mu in (0.0, 1.0, 1e3):
        for s1 in (1.0, 1e-3, 30.0):
            for dmu in (0.0, 1e-12, 1e-8, 1e-4, 1.0):
                for dr in (0.0, 1e-12, 1e-9, 1e-6, 1e-3):
                    if mu == 1e3 and s1 != 1.0:
                        continue
                    pts.append((mu, s1, mu + dmu * s1, s1 * (1 + dr)))
    pts += [(0.0, 30.0, 0.0, 1.0), (0.0, 1.0, 0.0, 30.0), (0.0, 1e-100, 0.0, 1e100),
            (0.0, 1e100, 0.0, 1e-100), (1e8, 1e-8, 1e8, 1e-8 * (1 + 1e-9)),
            (0.0, 1.0, 1e10, 1.0)]
    out = []
    for p in pts:
        c = _in_range(p, dtype)
        if len(c) == 4 and c[1] > 0 and c[3] > 0:
            out.append(tuple(c))
    return out


def _gauss_random(rng, n, dtype, integer_labels):
    mu1 = rng.standard_normal(n) * 10
    mu2 = mu1 + rng.standard_normal(n) * 10.0 ** rng.uniform(-8, 1, n)
    s1 = 10.0 ** rng.uniform(-2, 2, n)
    s2 = s1 * np.exp(rng.standard_normal(n) * 10.0 ** rng.uniform(-8, 0, n))
    cols = [_cast(c, dtype) for c in (mu1, s1, mu2, s2)]
    return [tuple(float(c[i]) for c in cols) for i in range(n)]


def _sigma_points(rng, dtype, integer_labels):
    fi = np.finfo(dtype)
    s0 = 1 / math.sqrt(2 * math.pi * math.e)  # h(σ0) = 0
    vals = [float(fi.tiny), 1e-300, 1e-30, 1e-3, 0.1, 0.24, s0, s0 * (1 + 1e-9), 0.25, 1.0,
            30.0, 1e30, 1e300, float(fi.max)]
    return [(s,) for s in _in_range(vals, dtype)]


def _sigma_random(rng, n, dtype, integer_labels):
    return [(float(s),) for s in _cast(10.0 ** rng.uniform(-5, 5, n), dtype)]


def _spd(rng, k: int, cond: float) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((k, k)))
    ev = np.geomspace(1.0, 1.0 / cond, k)
    a = (q * ev) @ q.T
    return (a + a.T) / 2


def _mvn_points(rng, dtype, integer_labels):
    pts = []
    for k in (2, 3, 5):
        c1 = _spd(rng, k, 10.0)
        mu = rng.standard_normal(k)
        pts.append((mu, c1, mu.copy(), c1.copy()))  # identical: 0
        for d in (1e-8, 1e-4):
            pts.append((mu, c1, mu + d, c1 * (1 + d)))
        pts.append((mu, _spd(rng, k, 1e6), mu + 1.0, _spd(rng, k, 1e6)))
        pts.append((mu, c1 * 1e-6, mu, c1 * 1e6))
    return [tuple(np.asarray(a, dtype=dtype) for a in p) for p in pts]


def _mvn_random(rng, n, dtype, integer_labels):
    pts = []
    for _ in range(max(1, n // 4)):
        k = int(rng.choice([2, 3, 4]))
        pts.append((rng.standard_normal(k), _spd(rng, k, 100.0), rng.standard_normal(k),
                    _spd(rng, k, 100.0)))
    return [tuple(np.asarray(a, dtype=dtype) for a in p) for p in pts]


def _single_logit_points(rng, dtype, integer_labels):
    return [(z,) for z in _logit_pool(dtype)]


def _single_logit_random(rng, n, dtype, integer_labels):
    z = np.sign(rng.standard_normal(n)) * 10.0 ** rng.uniform(-3, 2.7, n)
    return [(float(v),) for v in _cast(z, dtype)]


def _vector_logit_points(rng, dtype, integer_labels):
    return [(z,) for z, _ in _logit_vectors(rng, dtype)] + [
        (np.asarray([math.log(0.5), math.log(0.5)], dtype=dtype),)]


def _vector_logit_random(rng, n, dtype, integer_labels):
    return [(z,) for z, _ in _softmax_random(rng, n, dtype, True)]


_Z = Arg("z", "scalar", "logits, any real")
_Y01 = Arg("y", "target", "labels in [0, 1] (0/1 integers with integer_labels=True)")
_ZV = Arg("z", "vector", "logits [..., K]")
_YV = Arg("y", "target", "targets [..., K] on the simplex (class indices [...] with "
          "integer_labels=True)")

REFERENCES: dict[str, Reference] = {}


def _add(ref: Reference) -> None:
    REFERENCES[ref.key] = ref


_add(Reference(
    "bce-gradient", "bce-gradient", "binary cross-entropy with logits",
    (_Z, _Y01),
    "L = -[y log σ(z) + (1 - y) log(1 - σ(z))] per element", bce_logits, _cond_bce_value,
    "∂L/∂z = σ(z) - y per element", 0, "logit", _cond_bce_grad, _bce_points, _bce_random,
    supports_integer_labels=True))
_add(Reference(
    "bce-probability-gradient", "bce-probability-gradient",
    "binary cross-entropy of a probability", (Arg("p", "scalar", "predicted probability in "
                                               "(0, 1)"), _Y01),
    "L = -[y log p + (1 - y) log(1 - p)] per element", bce_probability, _cond_bcep_value,
    "∂L/∂p = -y/p + (1 - y)/(1 - p) per element", 0, "prob", _cond_bcep_grad,
    _bcep_points, _bcep_random, supports_integer_labels=True))
_add(Reference(
    "softmax-ce-gradient", "softmax-ce-gradient", "softmax cross-entropy", (_ZV, _YV),
    "L = -Σ_k y_k log softmax(z)_k per example [...]", softmax_ce, _cond_softmax_value,
    "∂L/∂z = softmax(z) - y, [..., K]", 0, "logit", _cond_softmax_grad, _softmax_points,
    _softmax_random, supports_integer_labels=True))
_TEMPS = (0.1, 0.5, 2.0, 10.0)
_add(Reference(
    "temperature-softmax-gradient", "temperature-softmax-gradient",
    "softmax cross-entropy at temperature T", (_ZV, _YV, Arg("T", "hyper", "temperature > 0")),
    "L = -Σ_k y_k log softmax(z/T)_k per example", softmax_ce,
    lambda a, v: _cond_softmax_value(a, v, t=a[2]),
    "∂L/∂z = (softmax(z/T) - y)/T", 0, "logit",
    lambda a, v: _cond_softmax_grad(a, v, t=a[2]),
    _with_hyper(_softmax_points, (0.5, 10.0)), _with_hyper_random(_softmax_random, _TEMPS),
    supports_integer_labels=True))
_EPSILONS = (0.1, 0.01)
_add(Reference(
    "label-smoothing", "label-smoothing", "softmax cross-entropy with label smoothing ε",
    (_ZV, _YV, Arg("eps", "hyper", "smoothing ε in [0, 1]")),
    "L = -Σ_k ((1 - ε) y_k + ε/K) log softmax(z)_k per example",
    lambda z, y, e: softmax_ce(z, y, 1, e),
    lambda a, v: _cond_softmax_value(a, v, eps=a[2]),
    "∂L/∂z = softmax(z) - ((1 - ε) y + ε/K)", 0, "logit",
    lambda a, v: _cond_softmax_grad(a, v, eps=a[2]),
    _with_hyper(_softmax_points, _EPSILONS), _with_hyper_random(_softmax_random, _EPSILONS),
    supports_integer_labels=True))
_add(Reference(
    "distillation-gradient", "distillation-gradient", "distillation loss",
    (Arg("s", "vector", "student logits [..., K]"), Arg("t", "vector", "teacher logits "
                                                        "[..., K]"),
     Arg("T", "hyper", "temperature > 0")),
    "L = T² D(softmax(t/T) ‖ softmax(s/T)) per example", distillation, _cond_distill_value,
    "∂L/∂s = T (softmax(s/T) - softmax(t/T))", 0, "logit", _cond_distill_grad,
    _with_hyper(_distill_points, (1.0, 4.0)),
    _with_hyper_random(_distill_random, (1.0, 2.0, 4.0, 20.0))))
_P = Arg("p", "vector", "true distribution [..., K]")
_Q = Arg("q", "vector", "model distribution [..., K]")
_add(Reference(
    "kl-nonnegative", "kl-nonnegative", "KL divergence D(p ‖ q)", (_P, _Q),
    "D(p ‖ q) = Σ_k p_k log(p_k/q_k) per distribution", kl, _cond_kl,
    points=_pair_points, random=_pair_random))
_add(Reference(
    "ce-equals-entropy-plus-kl", "ce-equals-entropy-plus-kl", "cross-entropy H(p, q)",
    (_P, _Q), "H(p, q) = -Σ_k p_k log q_k per distribution", cross_entropy,
    _cond_cross_entropy, points=_pair_points, random=_pair_random))
_add(Reference(
    "entropy-maximum-uniform", "entropy-maximum-uniform", "entropy H(p)", (_P,),
    "H(p) = -Σ_k p_k log p_k per distribution", entropy, _cond_entropy,
    points=_dist_points, random=_dist_random))
_GAUSS_ARGS = (Arg("mu1", "scalar"), Arg("sigma1", "scalar", "> 0"), Arg("mu2", "scalar"),
               Arg("sigma2", "scalar", "> 0"))
for _name in ("gaussian-kl", "gaussian-kl-stable-form"):
    _add(Reference(
        _name, _name, "KL divergence of two normal distributions", _GAUSS_ARGS,
        "D(N(μ1, σ1²) ‖ N(μ2, σ2²)) per element", gaussian_kl, _cond_gaussian_kl,
        points=_gauss_points, random=_gauss_random))
_add(Reference(
    "gaussian-entropy", "gaussian-entropy", "differential entropy of a normal distribution",
    (Arg("sigma", "scalar", "> 0"),), "h = ½ log(2πeσ²) per element", gaussian_entropy,
    _cond_gaussian_entropy, points=_sigma_points, random=_sigma_random))
_add(Reference(
    "mvn-kl", "mvn-kl", "KL divergence of two multivariate normals",
    (Arg("mu1", "vector", "[..., k]"), Arg("cov1", "matrix", "[..., k, k] SPD"),
     Arg("mu2", "vector", "[..., k]"), Arg("cov2", "matrix", "[..., k, k] SPD")),
    "D(N(μ1, Σ1) ‖ N(μ2, Σ2)) per batch element", mvn_kl, _cond_mvn_kl,
    points=_mvn_points, random=_mvn_random))
_add(Reference(
    "log-sigmoid", "bce-gradient", "log σ(z) (building block)", (_Z,),
    "log σ(z) per element", log_sigmoid, _cond_log_sigmoid,
    points=_single_logit_points, random=_single_logit_random))
_add(Reference(
    "logsumexp", "softmax-shift-invariance", "log Σ_k e^{z_k} (building block)", (_ZV,),
    "log Σ_k e^{z_k} over the last axis", logsumexp, _cond_logsumexp,
    points=_vector_logit_points, random=_vector_logit_random))
_add(Reference(
    "log-softmax", "softmax-ce-gradient", "log softmax(z) (building block)", (_ZV,),
    "log softmax(z)_k, [..., K]", log_softmax, _cond_log_softmax,
    points=_vector_logit_points, random=_vector_logit_random, vector_value=True))
