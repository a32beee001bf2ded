"""The oracle of ``mvn-kl``: ``D(p ‖ q) = ∫ p(x) log(p(x)/q(x)) dx`` over ``R^k``.

The integral is taken in the coordinates that whiten ``p``: ``x = μ1 + L1 t`` with
``Σ1 = L1 L1ᵀ`` (Cholesky), so that ``t ~ N(0, I_k)`` and

    D = E_t[ log N(μ1 + L1 t; μ1, Σ1) − log N(μ1 + L1 t; μ2, Σ2) ],

each log-density evaluated from the normal density's definition,
``log N(x; μ, Σ) = −|L⁻¹(x − μ)|²/2 − Σ_i log L_ii − (k/2) log 2π`` (``Σ = L Lᵀ``; the
determinant of a triangular factor is its diagonal's product).  The expectation is a
product Gauss–Hermite rule with 3 nodes per coordinate (``0, ±√3``, weights ``2/3, 1/6,
1/6``): exact for every polynomial of degree ≤ 5 in each coordinate.  The integrand is one
(a difference of two quadratic forms in ``x``, and ``x`` is affine in ``t``: degree 2), so
the rule is exact and the only error is the arithmetic at the working precision; the
engine confirms it at ``dps + 20`` digits.  :func:`_mvn_kl_arb` is the same definition, the
same Cholesky factors, substitutions and rule, in ``arb`` balls (``derive.oracle_arb``:
a proven error bound, no second evaluation to confirm it).  Never the closed form
``½[tr(Σ2⁻¹Σ1) + … + log(det Σ2/det Σ1)]``: no trace, inverse or determinant appears.
"""

from __future__ import annotations

import itertools

import mpmath
from flint import arb

from derive.oracle import OracleError, _oracle
from derive.oracle_arb import _attach, _register

__all__: list[str] = []


def _symmetric(a: list) -> mpmath.matrix:
    """``(A + Aᵀ)/2``: a perturbation of one off-diagonal entry moves both halves."""
    k = len(a)
    return mpmath.matrix([[(a[i][j] + a[j][i]) / 2 for j in range(k)] for i in range(k)])


def _cholesky(a: mpmath.matrix, name: str) -> mpmath.matrix:
    """``L`` with ``A = L Lᵀ`` (mpmath's own refuses pivots below an absolute ε, which
    rejects a covariance of 1e-150)."""
    k = a.rows
    low = mpmath.zeros(k, k)
    for j in range(k):
        d = a[j, j] - mpmath.fsum(low[j, m] ** 2 for m in range(j))
        if not d > 0:
            raise OracleError(f"{name} is not positive definite (pivot {mpmath.nstr(d, 5)})")
        low[j, j] = mpmath.sqrt(d)
        for i in range(j + 1, k):
            low[i, j] = (a[i, j] - mpmath.fsum(low[i, m] * low[j, m] for m in range(j))) / low[j, j]
    return low


def _log_density(x: list, mu: list, low: list, log_det_low, log_2pi) -> mpmath.mpf:
    """``log N(x; μ, L Lᵀ)`` by forward substitution ``L w = x − μ`` (``low`` as nested
    lists: indexing an ``mpmath.matrix`` costs more than the arithmetic; ``log_2pi`` =
    log 2π, computed once per oracle call)."""
    k = len(x)
    w: list = []
    for i in range(k):
        row = low[i]
        w.append((x[i] - mu[i] - mpmath.fsum(row[j] * w[j] for j in range(i))) / row[i])
    return -mpmath.fsum(v * v for v in w) / 2 - log_det_low - k * log_2pi / 2


@_oracle("mvn-kl", ("mu1", "Sigma1", "mu2", "Sigma2"),
         "D(N(μ1, Σ1) ‖ N(μ2, Σ2)) = ∫ p log(p/q) dx over R^k, in the coordinates that "
         "whiten p, by the product 3-point Gauss–Hermite rule (exact: the log-ratio is "
         "quadratic there)", "quad")
def _mvn_kl(mu1, sigma1, mu2, sigma2):
    k = len(mu1)
    if not (len(mu2) == k and len(sigma1) == k and len(sigma2) == k):
        raise OracleError(f"mvn-kl: dimensions {len(mu1)}, {len(sigma1)}, {len(mu2)}, "
                          f"{len(sigma2)} differ")
    l1 = _cholesky(_symmetric(sigma1), "Sigma1").tolist()
    l2 = _cholesky(_symmetric(sigma2), "Sigma2").tolist()
    ld1 = mpmath.fsum(mpmath.log(l1[i][i]) for i in range(k))
    ld2 = mpmath.fsum(mpmath.log(l2[i][i]) for i in range(k))
    log_2pi = mpmath.log(2 * mpmath.pi)
    r3 = mpmath.sqrt(3)
    rule = ((mpmath.mpf(0), mpmath.mpf(2) / 3), (r3, mpmath.mpf(1) / 6),
            (-r3, mpmath.mpf(1) / 6))
    terms = []
    for nodes in itertools.product(rule, repeat=k):
        t = [n for n, _ in nodes]
        weight = mpmath.fprod(w for _, w in nodes)
        x = [mu1[i] + mpmath.fsum(l1[i][j] * t[j] for j in range(i + 1)) for i in range(k)]
        terms.append(weight * (_log_density(x, mu1, l1, ld1, log_2pi)
                               - _log_density(x, mu2, l2, ld2, log_2pi)))
    return mpmath.fsum(terms)


# ------------------------------------------------------------- the same in arb balls


def _cholesky_arb(a: list, name: str) -> list:
    """``L`` with ``A = L Lᵀ`` in balls (``A`` symmetrised as in :func:`_symmetric`); a
    pivot whose ball is not positive raises ``ValueError`` (``oracle_arb.reference`` then
    raises the precision, and reports an ``OracleError`` at its limit)."""
    k = len(a)
    sym = [[(a[i][j] + a[j][i]) / 2 for j in range(k)] for i in range(k)]
    low = [[arb(0)] * k for _ in range(k)]
    for j in range(k):
        d = sym[j][j] - sum((low[j][m] ** 2 for m in range(j)), arb(0))
        if not d > 0:
            raise ValueError(f"{name}: the pivot {d.str(5)} is not positive")
        low[j][j] = d.sqrt()
        for i in range(j + 1, k):
            low[i][j] = (sym[i][j] - sum((low[i][m] * low[j][m] for m in range(j)), arb(0))
                         ) / low[j][j]
    return low


def _log_density_arb(x: list, mu: list, low: list, log_det_low: arb, log_2pi: arb) -> arb:
    """:func:`_log_density` in balls."""
    k = len(x)
    w: list = []
    for i in range(k):
        w.append((x[i] - mu[i] - sum((low[i][j] * w[j] for j in range(i)), arb(0)))
                 / low[i][i])
    return -sum((v * v for v in w), arb(0)) / 2 - log_det_low - k * log_2pi / 2


@_register("mvn-kl")
def _mvn_kl_arb(mu1, sigma1, mu2, sigma2):
    k = len(mu1)
    if not (len(mu2) == k and len(sigma1) == k and len(sigma2) == k):
        raise OracleError(f"mvn-kl: dimensions {len(mu1)}, {len(sigma1)}, {len(mu2)}, "
                          f"{len(sigma2)} differ")
    l1 = _cholesky_arb(sigma1, "Sigma1")
    l2 = _cholesky_arb(sigma2, "Sigma2")
    ld1 = sum((l1[i][i].log() for i in range(k)), arb(0))
    ld2 = sum((l2[i][i].log() for i in range(k)), arb(0))
    log_2pi = (2 * arb.pi()).log()
    r3 = arb(3).sqrt()
    rule = ((arb(0), arb(2) / 3), (r3, arb(1) / 6), (-r3, arb(1) / 6))
    total = arb(0)
    for nodes in itertools.product(rule, repeat=k):
        t = [n for n, _ in nodes]
        weight = arb(1)
        for _, wt in nodes:
            weight *= wt
        x = [mu1[i] + sum((l1[i][j] * t[j] for j in range(i + 1)), arb(0)) for i in range(k)]
        total += weight * (_log_density_arb(x, mu1, l1, ld1, log_2pi)
                           - _log_density_arb(x, mu2, l2, ld2, log_2pi))
    return total


# this module may be imported before derive.oracle finished (which attaches ball versions
# when it ends): attach again now that both versions of mvn-kl are registered
_attach()
