"""The knowledge-distillation kernel behind ``numeric.distillation_loss`` and its gradient.

Everything here works on blocks of rows ``[N, K]`` in float64 (see the machinery notes at
the top of :mod:`numeric._activations`).  The loss is accumulated in units of the loss
itself, ``T² p G(u)`` per class, never as ``T² · KL``: ``T²`` overflows for ``T > 1.3e154``
and is subnormal for ``T < 1.5e-154`` although the loss need not be.
"""

from __future__ import annotations

import math

import numpy as np

from numeric._activations import _exp_rest, _shifted_logits

__all__ = ["_distill_kernel"]

# G(u) = 1 − (1 − u) e^u = Σ_{n>=2} (n − 1) uⁿ/n!  (0 <= u < 1: 19 terms, tail < 1e-17 G)
_G_COEF = tuple((n - 1) / math.factorial(n) for n in range(2, 21))
# g(v) = e^v − 1 − v = Σ_{n>=2} vⁿ/n!  (0 < v < 2: 24 terms, tail < 2e-18 g)
_EXPM1MX_COEF = tuple(1.0 / math.factorial(n) for n in range(2, 26))
# a row whose logit spreads are at most T · 2^-60 is in the large-temperature limit
_ASYMPTOTIC = 2.0**-60


def _series(x: np.ndarray, coef: tuple[float, ...]) -> np.ndarray:
    """``Σ_j coef[j] x^j`` by Horner (positive coefficients and ``x >= 0``: no cancellation)."""
    acc = np.full_like(x, coef[-1])
    for c in reversed(coef[:-1]):
        acc *= x
        acc += c
    return acc


def _softmax_pair(sb, tb, temperature):
    """β, α (shifted logits over T), p, q, the argmax rows and both row maxima."""
    beta = np.empty_like(sb)
    alpha = np.empty_like(tb)
    rows, i_s, m_s = _shifted_logits(sb, temperature, beta)  # β = (s − max s)/T
    _, i_t, m_t = _shifted_logits(tb, temperature, alpha)  # α = (t − max t)/T
    p = np.empty_like(beta)
    q = np.empty_like(alpha)
    s_p = _exp_rest(beta, rows, i_s, p)
    s_q = _exp_rest(alpha, rows, i_t, q)
    # softmax = e^{x}/(1 + s'), 1/(1 + s') at the argmax
    np.divide(p, (1.0 + s_p)[:, None], out=p)
    p[rows, i_s] = 1.0 / (1.0 + s_p)
    np.divide(q, (1.0 + s_q)[:, None], out=q)
    q[rows, i_t] = 1.0 / (1.0 + s_q)
    return beta, alpha, p, q, s_p, s_q, m_s, m_t


def _log_ratio(beta, alpha, p, q, s_p, s_q):
    """``u = log(q/p)`` per class and the row offset ``c + x`` it was shifted by.

    ``u = ρ − D`` with ``ρ = α − β`` and ``D = log Σ_j p_j e^{ρ_j}``.  ``c = log1p(s'_q) −
    log1p(s'_p)`` estimates ``D`` to a few eps; the correction ``x = D − c`` comes from
    ``Σ_j p_j expm1(ρ_j − c) = e^{x} − 1``.  A class with ``|ρ_j − c| > 1`` enters that sum
    as ``q_j − p_j`` instead (``p_j e^{ρ_j − c} = q_j e^{x}``): ``ρ_j − c`` carries an
    absolute rounding of ``eps |ρ_j|``, which ``e^{ρ_j − c}`` would turn into a relative
    one (1.4e-14 at ρ = 186).  Dropping their ``q_j (e^x − 1)`` is undone exactly by
    dividing by the teacher mass ``Q_s`` of the other classes: ``e^x − 1 = S / Q_s``.
    """
    q_zero = np.isneginf(alpha)
    with np.errstate(invalid="ignore"):  # −inf − (−inf) where both vanish: set just below
        rho = alpha - beta  # +inf where only the student's probability vanishes
    rho[q_zero] = -np.inf
    c = np.log1p(s_q) - np.log1p(s_p)
    rho -= c[:, None]
    small = np.abs(rho) <= 1.0
    if small.all():  # every class near: Q_s = Σ q = 1
        x = np.log1p((p * np.expm1(rho)).sum(axis=1))
        return rho - x[:, None], c + x
    # p expm1(ρ') where |ρ'| <= 1, q − p elsewhere (whole-array operations: no gathers)
    terms = np.where(small, p * np.expm1(np.clip(rho, -1.0, 1.0)), q - p)
    q_small = np.where(small, q, 0.0).sum(axis=1)
    total = terms.sum(axis=1)
    # with little teacher mass on the classes near p the correction is not determined:
    # c alone is then as good (every other |u| > 1, where eps-sized errors do not matter)
    usable = q_small >= 0.25
    x = np.log1p(np.where(usable, total / np.where(usable, q_small, 1.0), 0.0))
    return rho - x[:, None], c + x


def _loss_terms(p, q, u, wh, temperature):
    """``T² p G(u)`` per class given ``u = log(q/p)`` and ``wh = T u / 2`` (finite)."""
    t = temperature
    terms = np.zeros_like(p)
    hi = u >= 1.0
    mid = (u >= 0.0) & (u < 1.0)
    low = (u < 0.0) & (u > -2.0)
    far_low = (u <= -2.0) & np.isfinite(u)
    gone = np.isneginf(u)
    # a loss beyond the float range is +inf, its correctly rounded value
    with np.errstate(over="ignore"):
        # T² p G(−∞) = T² p: the student's mass on a class the teacher gives none
        terms[gone] = t * (t * p[gone])
        # T² (p + q (u − 1)) = T (T p + 2 q (T u/2 − T/2)) for u >= 1 (non-negative terms)
        terms[hi] = t * (t * p[hi]) + (2.0 * t) * (q[hi] * (wh[hi] - 0.5 * t))
        # T² p G(u) = p S_G(u) (T u)² by the positive Taylor series for 0 <= u < 1
        w = 2.0 * wh[mid]
        terms[mid] = ((p[mid] * _series(u[mid], _G_COEF)) * w) * w
        # T² q (e^v − 1 − v) = q S(v) (T v)², v = −u: positive series for 0 < v < 2
        w = 2.0 * wh[low]
        terms[low] = ((q[low] * _series(-u[low], _EXPM1MX_COEF)) * w) * w
        # ... and T² (p − q (1 + v)) for v >= 2 (p >= 1.6 q (1 + v): no real cancellation)
        f = far_low
        terms[f] = t * (t * p[f]) - (2.0 * t) * (q[f] * (0.5 * t - wh[f]))
        return terms.sum(axis=1)


def _half_scaled(u, offset, sb, tb, m_s, m_t, temperature):
    """``T u / 2``; where ``T u`` is not finite (``(z − m)/T`` overflowed for a small ``T``)
    it is ``(t − m_t)/2 − (s − m_s)/2 − (T/2)(c + x)``, in logit units (no division by T)."""
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite entries redone below
        wh = temperature * (0.5 * u)
    if temperature >= 1.0:  # (z − m)/T cannot overflow: u is finite or the row infinite
        return wh
    redo = ~np.isfinite(wh) & np.isfinite(sb) & np.isfinite(tb)
    if redo.any():
        r, k = np.nonzero(redo)
        d = (0.5 * tb[r, k] - 0.5 * m_t[r]) - (0.5 * sb[r, k] - 0.5 * m_s[r])
        wh[r, k] = d - (0.5 * temperature) * offset[r]
    return wh


def _asymptotic(sb, tb, beta, alpha, temperature, want_loss, want_grad, loss, grad):
    """Rows whose logits spread at most ``T 2^-60``: the large-temperature limit, exactly.

    With ``r = (t − max t) − (s − max s)`` and ``c = r − mean(r)``,
    ``L = Σ_k c_k² / (2K)`` and ``∂L/∂s_k = −c_k / K``, up to a relative
    ``O(spread/T) <= 2^-60``: ``p = 1/K + O(β)`` and ``T² KL = Var_p(T ρ)/2 (1 + O(ρ))``.
    Formed from the logits, this never meets the subnormal ``(s − m)/T`` and ``T²``.
    """
    # the spread over T is −min β (β = (s − max s)/T, −inf for a masked class); a row
    # whose spreads are <= 2^-60 T cannot have overflowed anything
    spread = np.maximum(-beta.min(axis=1), -alpha.min(axis=1))
    rows = np.nonzero(spread <= _ASYMPTOTIC)[0]
    if rows.size == 0:
        return
    s, t = sb[rows], tb[rows]
    r = (t - t.max(axis=1, keepdims=True)) - (s - s.max(axis=1, keepdims=True))
    c = r - r.mean(axis=1, keepdims=True)
    k = sb.shape[1]
    if want_loss:
        with np.errstate(over="ignore"):  # squares beyond the range are redone scaled
            val = (c * c).sum(axis=1) / (2 * k)
        big = np.isinf(val)
        if big.any():
            a = np.abs(c[big]).max(axis=1)
            with np.errstate(over="ignore"):  # beyond the float range: honestly +inf
                val[big] = a * (a * ((c[big] / a[:, None]) ** 2).sum(axis=1) / (2 * k))
        loss[rows] = val
    if want_grad:
        grad[rows] = -c / k + 0.0  # (+ 0.0: a zero is +0)


def _distill_kernel(
    sb: np.ndarray,
    tb: np.ndarray,
    *,
    temperature: float,
    want_loss: bool,
    want_grad: bool,
    out: tuple[np.ndarray, ...],
) -> None:
    outs = list(out)
    beta, alpha, p, q, s_p, s_q, m_s, m_t = _softmax_pair(sb, tb, temperature)
    # only a genuine −inf logit of the student makes the divergence infinite; a
    # (s − m)/T below −max (tiny T) is a finite, huge log-ratio
    inf_row = (np.isneginf(sb) & ~np.isneginf(tb)).any(axis=1)
    u, offset = _log_ratio(beta, alpha, p, q, s_p, s_q)
    loss = outs.pop(0) if want_loss else None
    grad = outs.pop(0) if want_grad else None
    if want_loss:
        wh = _half_scaled(u, offset, sb, tb, m_s, m_t, temperature)
        loss[...] = _loss_terms(p, q, u, wh, temperature)
        loss[inf_row] = np.inf
    if want_grad:
        np.subtract(p, q, out=grad)
        near = ~inf_row[:, None] & (np.abs(u) < 1.0)
        # p − q = −p expm1(log(q/p)) without cancellation where q ≈ p
        grad[near] = -p[near] * np.expm1(u[near]) + 0.0  # (+ 0.0: a zero is +0)
        if temperature != 1.0:
            grad *= temperature
    _asymptotic(sb, tb, beta, alpha, temperature, want_loss, want_grad, loss, grad)
