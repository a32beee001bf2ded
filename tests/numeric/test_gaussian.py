"""Tests of ``numeric._gaussian`` against mpmath evaluating the *definitions*.

* ``gaussian_kl``: ``mpmath.quad`` of ``∫ p log(p/q) dx`` at 60 digits at a handful of
  points (nearly identical Gaussians among them); the wider sweeps use the moment identity
  ``E_p[log p − log q]`` at 100 digits, which is first checked against the quadrature.
* ``gaussian_entropy``: ``½ log(2πeσ²)``; ``gaussian_nll``: ``−log N(x; μ, σ²)`` from
  ``mpmath.npdf``; ``mvn_kl``: the trace/quadratic-form/log-det definition with
  ``mpmath.matrix`` inverse and determinant at 60 digits.

Budgets (float64): gaussian_kl 4 ulp, gaussian_entropy 2 ulp, gaussian_nll 4 ulp × max(1,
condition number), mvn_kl relative 4 k eps × cond(S2).  float32: 1 ulp (evaluated in
float64, rounded once).
"""

from __future__ import annotations

import math
import warnings

import mpmath
import numpy as np
import pytest
import sympy
from hypothesis import example, given
from hypothesis import strategies as st

from numeric import gaussian_entropy, gaussian_kl, gaussian_nll, mvn_kl
from numeric._gaussian import _EXPM1MX_SERIES, _expm1mx
from tests.oracle import DPS, assert_ulp, rel_error, spanning_floats, ulp_error

EPS64 = float(np.finfo(np.float64).eps)
DTYPES = [np.float64, np.float32]
KL_BUDGET = {np.float64: 4, np.float32: 1}
ENTROPY_BUDGET = {np.float64: 2, np.float32: 1}
NLL_BUDGET = {np.float64: 4, np.float32: 1}

# the moment form cancels by up to ~1e-35 relative at the closest pairs tested
MOMENT_DPS = 100


def _mp(x) -> mpmath.mpf:
    return mpmath.mpf(float(x))


# --------------------------------------------------------------------------- references


def mp_kl_quad(mu1, s1, mu2, s2) -> mpmath.mpf:
    """``∫ p log(p/q) dx`` by quadrature, substituting ``x = μ1 + σ1 t`` (``p dx = φ(t) dt``)."""
    with mpmath.workdps(DPS):
        mu1, s1, mu2, s2 = map(_mp, (mu1, s1, mu2, s2))

        def integrand(t):
            x = mu1 + s1 * t
            return mpmath.npdf(t) * mpmath.log(mpmath.npdf(x, mu1, s1) / mpmath.npdf(x, mu2, s2))

        return mpmath.quad(integrand, [-mpmath.inf, -8, -2, 0, 2, 8, mpmath.inf])


def mp_kl_moments(mu1, s1, mu2, s2) -> mpmath.mpf:
    """``E_p[log p(X) − log q(X)]`` with ``E_p[(X − μ2)²] = σ1² + (μ1 − μ2)²``."""
    with mpmath.workdps(MOMENT_DPS):
        mu1, s1, mu2, s2 = map(_mp, (mu1, s1, mu2, s2))
        e_log_p = -mpmath.log(s1) - mpmath.log(2 * mpmath.pi) / 2 - mpmath.mpf(1) / 2
        e_log_q = (
            -mpmath.log(s2)
            - mpmath.log(2 * mpmath.pi) / 2
            - (s1**2 + (mu1 - mu2) ** 2) / (2 * s2**2)
        )
        return e_log_p - e_log_q


def mp_entropy(s) -> mpmath.mpf:
    with mpmath.workdps(DPS):
        return mpmath.log(2 * mpmath.pi * mpmath.e * _mp(s) ** 2) / 2


def mp_nll(x, mu, s) -> mpmath.mpf:
    with mpmath.workdps(DPS):
        return -mpmath.log(mpmath.npdf(_mp(x), _mp(mu), _mp(s)))


def nll_condition(x, mu, s) -> float:
    """Relative condition number of the NLL w.r.t. relative perturbations of x, μ, σ."""
    with mpmath.workdps(DPS):
        x, mu, s = map(_mp, (x, mu, s))
        z = (x - mu) / s
        f = mpmath.log(s) + mpmath.log(2 * mpmath.pi) / 2 + z**2 / 2
        num = abs(1 - z**2) + abs(z) * (abs(x) + abs(mu)) / s
        return float(num / abs(f)) if f != 0 else math.inf


def mp_mvn_kl(mu1, cov1, mu2, cov2) -> mpmath.mpf:
    """``½[tr(S2⁻¹S1) + Δμᵀ S2⁻¹ Δμ − k + log det S2 − log det S1]`` at 60 digits."""
    k = len(mu1)
    with mpmath.workdps(DPS):
        s1 = mpmath.matrix([[_mp(v) for v in row] for row in cov1])
        s2 = mpmath.matrix([[_mp(v) for v in row] for row in cov2])
        dmu = mpmath.matrix([_mp(b) - _mp(a) for a, b in zip(mu1, mu2, strict=True)])
        s2inv = mpmath.inverse(s2)
        tr = mpmath.fsum((s2inv * s1)[i, i] for i in range(k))
        quad = (dmu.T * s2inv * dmu)[0, 0]
        return (tr + quad - k + mpmath.log(mpmath.det(s2)) - mpmath.log(mpmath.det(s1))) / 2


# --------------------------------------------------------------------------- generators

# (μ1, σ1, μ2, σ2): nearly identical Gaussians (the cancelling regime), moderate and
# far-apart ones, extreme scales
QUAD_POINTS = [
    (0.0, 1.0, 1e-8, 1.0 + 1e-9),
    (1.0, 2.0, 1.0 + 3e-8, 2.0 * (1 - 2e-9)),
    (5.0, 0.3, 5.0, 0.3 * (1 + 1e-12)),
    (-3.0, 7.0, -3.0 + 7e-9, 7.0),
    (0.0, 1.0, 2.0, 3.0),
    (0.5, 4.0, -1.0, 0.25),
    (0.0, 1e-300, 1e-300, 1e-300 * (1 + 1e-9)),
    (1e300, 1e300, 1e300, 3e300),
]

SCALES = [1e-300, 1e-150, 1e-10, 0.3, 1.0, 7.0, 1e10, 1e150, 1e300]


def sweep_points(dtype):
    rng = np.random.default_rng(0)
    tiny, huge = float(np.finfo(dtype).tiny), float(np.finfo(dtype).max)
    scales = [s for s in SCALES if tiny * 1e3 < s < huge / 1e3]
    pts = []
    for s1 in scales:
        for s2 in scales:
            for dmu in (0.0, s2 * 1e-8, s2, s1 * 3, huge / 4):
                pts.append((0.0, s1, dmu, s2))
            pts.append((-huge / 2, s1, huge / 2, s2))  # μ1 − μ2 overflows
    for _ in range(60):
        s1 = 10 ** rng.uniform(-3, 3)
        pts.append((rng.normal(), s1, rng.normal() * 3, s1 * np.exp(rng.normal())))
    return [tuple(dtype(v) for v in p) for p in pts]


def near_identical_points():
    rng = np.random.default_rng(1)
    pts = []
    for rel in (1e-6, 1e-9, 1e-12, 1e-15):
        for _ in range(6):
            s1 = 10 ** rng.uniform(-5, 5)
            mu1 = rng.normal() * s1
            s2 = s1 * (1 + rel * rng.uniform(-1, 1))
            mu2 = mu1 + s1 * rel * rng.uniform(-3, 3)
            pts.append((mu1, s1, mu2, s2))
    pts.append((0.0, 1.0, 0.0, 1.0 + EPS64))
    pts.append((0.0, 1.0, 1e-300, 1.0))
    return pts


def spd(k, rng, cond=10.0):
    q, _ = np.linalg.qr(rng.normal(size=(k, k)))
    s = (q * np.exp(rng.uniform(0, np.log(cond), k))) @ q.T
    return np.tril(s) + np.tril(s, -1).T  # exactly symmetric


def symmetric(a):
    return np.tril(a) + np.tril(a, -1).T


def mvn_cases(rng):
    """(μ1, S1, μ2, S2): random, nearly identical, eigenvalues of S2⁻¹S1 far below/above 1."""
    cases = []
    for k in (1, 2, 3, 5, 10):
        s2 = spd(k, rng)
        m1 = rng.normal(size=k)
        cases.append((m1, spd(k, rng), rng.normal(size=k), s2))
        e = symmetric(spd(k, rng) * 1e-9)
        cases.append((m1, s2 + e, m1 + 1e-9 * rng.normal(size=k), s2))  # nearly identical
        c1 = s2.copy()
        c1[0, 0] *= 1 + 2.0**-40  # one exact entry perturbed: D ≈ 1e-25
        cases.append((m1, c1, m1, s2))
        small = s2 * 1e-6
        small[-1, -1] = s2[-1, -1] * 1.3
        cases.append((m1, symmetric(small), m1, s2))  # some λ ≈ 1e-6 (trace/log-det branch)
        cases.append((m1, s2 * 1e6, m1 + 1.0, s2))  # all λ = 1e6
    return cases


# ------------------------------------------------------------------------------- tests


class TestGaussianKl:
    @pytest.mark.parametrize("point", QUAD_POINTS, ids=str)
    def test_matches_quadrature_of_the_definition(self, point):
        exact = mp_kl_quad(*point)
        got = gaussian_kl(*point)
        # required: 1e-14 relative at nearly identical Gaussians; the budget is 4 ulp
        assert rel_error(got, exact) <= 1e-14
        assert ulp_error(got, exact) <= KL_BUDGET[np.float64]

    @pytest.mark.parametrize("point", QUAD_POINTS[:4] + QUAD_POINTS[5:6], ids=str)
    def test_moment_identity_reference_agrees_with_quadrature(self, point):
        # licenses mp_kl_moments as the reference of the sweeps below
        moments, quad = mp_kl_moments(*point), mp_kl_quad(*point)
        with mpmath.workdps(DPS):
            assert abs(moments - quad) <= 1e-30 * abs(quad)

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_mpmath_across_magnitudes(self, dtype):
        pts = sweep_points(dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = [gaussian_kl(*p) for p in pts]
        assert all(g.dtype == dtype for g in got)
        exact = [mp_kl_moments(*p) for p in pts]
        assert_ulp(got, exact, dtype, KL_BUDGET[dtype], pts, "gaussian_kl")

    def test_nearly_identical_gaussians_keep_relative_accuracy(self):
        pts = near_identical_points()
        got = [gaussian_kl(*p) for p in pts]
        exact = [mp_kl_moments(*p) for p in pts]
        assert_ulp(got, exact, np.float64, KL_BUDGET[np.float64], pts, "gaussian_kl≈0")

    def test_textbook_closed_form_is_measurably_worse(self):
        mu1, s1, mu2, s2 = QUAD_POINTS[0]
        exact = mp_kl_quad(mu1, s1, mu2, s2)
        textbook = math.log(s2 / s1) + (s1**2 + (mu1 - mu2) ** 2) / (2 * s2**2) - 0.5
        assert rel_error(textbook, exact) > 1e-3
        assert rel_error(gaussian_kl(mu1, s1, mu2, s2), exact) <= 4 * EPS64

    def test_identical_gaussians_give_exactly_zero(self):
        assert gaussian_kl(0.3, 1e-300, 0.3, 1e-300) == 0.0
        assert gaussian_kl([1.0, -2.0], 5.0, [1.0, -2.0], 5.0).tolist() == [0.0, 0.0]

    def test_beyond_the_float_range_is_inf_without_warnings(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert gaussian_kl(0.0, 1e300, 0.0, 1e-300) == np.inf
            assert gaussian_kl(-1e308, 1e-300, 1e308, 1e-300) == np.inf
            assert np.isfinite(gaussian_kl(-1e308, 1.0, 1e308, 1e300))

    def test_broadcasts_and_keeps_float32(self):
        got = gaussian_kl(np.zeros((3, 1), np.float32), np.float32(1), np.zeros(4, np.float32), 2)
        assert got.shape == (3, 4) and got.dtype == np.float64  # the int 2 promotes
        got = gaussian_kl(*(np.ones(3, np.float32),) * 4)
        assert got.dtype == np.float32

    @given(
        st.floats(-1e6, 1e6),
        st.floats(1e-6, 1e6),
        st.floats(-1e6, 1e6),
        st.floats(1e-6, 1e6),
        st.integers(-500, 500),
    )
    @example(0.0, 1.0, 0.0, 1.0, 0)
    @example(0.0, 1.0, 1e-8, 1.0 + 1e-9, 300)
    def test_non_negative_zero_iff_identical_and_scale_invariant(self, mu1, s1, mu2, s2, e):
        d = gaussian_kl(mu1, s1, mu2, s2)
        assert d >= 0
        assert (d == 0) == (mu1 == mu2 and s1 == s2)
        # multiplying every argument by 2**e is exact, and so is the result
        scale = 2.0**e
        args = (mu1 * scale, s1 * scale, mu2 * scale, s2 * scale)
        if all(1e-290 < abs(a) < 1e290 or a == 0 for a in args):
            assert gaussian_kl(*args) == d


class TestExpm1mx:
    """``φ(u) = eᵘ − 1 − u``: the rewrite behind the Gaussian KL."""

    def test_series_converts_back_to_expm1_minus_u(self):
        u = sympy.Symbol("u")
        coeffs = [sympy.Rational(1, math.factorial(n + 2)) for n in range(len(_EXPM1MX_SERIES))]
        assert [float(c) for c in coeffs] == list(_EXPM1MX_SERIES)
        series = u**2 * sum(c * u**n for n, c in enumerate(coeffs))
        n = len(coeffs) + 2
        assert sympy.expand(sympy.series(sympy.exp(u) - 1 - u, u, 0, n).removeO() - series) == 0

    def test_derivative_unchanged(self):
        u = np.array([-30.0, -1.5, -0.9, -1e-3, 0.5, 1.9, 2.5, 40.0])
        h = 1e-6 * np.maximum(np.abs(u), 1e-2)
        fd = (_expm1mx(u + h) - _expm1mx(u - h)) / (2 * h)
        np.testing.assert_allclose(fd, np.expm1(u), rtol=1e-6)

    def test_matches_mpmath_across_branch_points(self):
        u = np.concatenate(
            [
                np.linspace(-40, 40, 401),
                np.nextafter(-1.0, [-2, 0]),
                np.nextafter(2.0, [0, 4]),
                [-1e300, -745.0, -1e-300, 1e-300, 1e-8, -1e-8, 700.0, 709.7],
            ]
        )
        with mpmath.workdps(DPS):
            exact = [mpmath.expm1(_mp(x)) - _mp(x) for x in u]
        assert_ulp(_expm1mx(u), exact, np.float64, 2, list(u), "expm1mx")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert _expm1mx(np.array([710.0, np.inf, -np.inf])).tolist() == [np.inf] * 3

    def test_naive_form_is_measurably_worse(self):
        u = 1e-6
        with mpmath.workdps(DPS):
            exact = mpmath.expm1(_mp(u)) - _mp(u)
        assert ulp_error(_expm1mx(u), exact) <= 2
        assert ulp_error(np.expm1(u) - u, exact) > 1e3


class TestGaussianEntropy:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_mpmath(self, dtype):
        s = spanning_floats(dtype, per_decade=3, signed=False)[1:]
        s = np.concatenate([s, [0.24197072451914337, 1.0, 2.0]]).astype(dtype)
        got = gaussian_entropy(s)
        assert got.dtype == dtype
        assert_ulp(got, [mp_entropy(x) for x in s], dtype, ENTROPY_BUDGET[dtype], list(s), "h(σ)")

    def test_keeps_relative_accuracy_at_its_zero(self):
        # h(σ) = 0 at σ0 = 1/√(2πe) ≈ 0.2420; around it log σ + 1.4189… cancels
        s0 = float(1 / mpmath.sqrt(2 * mpmath.pi * mpmath.e))
        s = np.array([s0 * (1 + k * 2.0**-45) for k in range(-8, 9)] + [s0])
        s = np.concatenate([s, np.nextafter(s0, [0, 1])])
        exact = [mp_entropy(x) for x in s]
        assert_ulp(
            gaussian_entropy(s), exact, np.float64, ENTROPY_BUDGET[np.float64], list(s), "h≈0"
        )
        naive = np.log(s[0]) + 0.5 * math.log(2 * math.pi * math.e)
        assert ulp_error(naive, exact[0]) > 1e3

    def test_base_two_equals_nats_over_ln2(self):
        s = np.array([1e-300, 0.1, 1.0, 1e300])
        with mpmath.workdps(DPS):
            exact = [mp_entropy(x) / mpmath.log(2) for x in s]
        assert_ulp(gaussian_entropy(s, base=2), exact, np.float64, 2, list(s), "h bits")

    def test_no_overflow_for_huge_sigma(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert np.isfinite(gaussian_entropy(np.finfo(np.float64).max))
            assert np.isfinite(gaussian_entropy(5e-324))


class TestGaussianNll:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_mpmath(self, dtype):
        rng = np.random.default_rng(3)
        tiny, huge = float(np.finfo(dtype).tiny), float(np.finfo(dtype).max)
        pts = [(rng.normal() * 3, rng.normal(), 10 ** rng.uniform(-2, 2)) for _ in range(80)]
        for s in (tiny * 1e3, 1e-5, 1.0, 1e5, huge / 1e3):
            for z in (0.0, 1e-8, 0.5, 3.0, 1e10):
                if z * s < huge:
                    pts.append((z * s, 0.0, s))
        pts += [(huge / 2, -huge / 2, huge / 1e3), (huge / 2, -huge / 2, 1.0)]
        pts = [tuple(dtype(v) for v in p) for p in pts]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = [gaussian_nll(*p) for p in pts]
        assert all(g.dtype == dtype for g in got)
        exact = [mp_nll(*p) for p in pts]
        budgets = [NLL_BUDGET[dtype] * max(1.0, nll_condition(*p)) for p in pts]
        assert_ulp(got, exact, dtype, budgets, pts, "nll")

    def test_well_conditioned_points_are_within_4_ulp(self):
        pts = [(1.0, 1.0, 1.0), (3.0, 1.0, 2.0), (0.0, 0.0, 1e-300), (1e300, 0.0, 1e300)]
        got = [gaussian_nll(*p) for p in pts]
        assert_ulp(got, [mp_nll(*p) for p in pts], np.float64, 4, pts, "nll")

    def test_no_overflow_where_the_naive_squares_overflow(self):
        # (x − μ)² = 4e616 overflows, z = 2e8 does not
        exact = mp_nll(1e308, -1e308, 1e300)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = gaussian_nll(1e308, -1e308, 1e300)
            assert gaussian_nll(1.0, 0.0, 1e-300) == np.inf  # z²/2 = 5e599: beyond the range
        assert ulp_error(got, exact) <= 4

    def test_broadcasts(self):
        assert gaussian_nll(np.zeros((2, 1)), np.zeros(3), 1.0).shape == (2, 3)


class TestMvnKl:
    def test_matches_mpmath_definition(self):
        rng = np.random.default_rng(7)
        worst = 0.0
        for mu1, c1, mu2, c2 in mvn_cases(rng):
            k = len(mu1)
            exact = mp_mvn_kl(mu1, c1, mu2, c2)
            got = mvn_kl(mu1, c1, mu2, c2)
            budget = 4 * k * EPS64 * np.linalg.cond(c2)
            err = rel_error(got, exact)
            worst = max(worst, err / EPS64)
            assert err <= budget, (k, float(exact), float(got), err / EPS64)

    def test_float32_within_one_ulp(self):
        rng = np.random.default_rng(8)
        for mu1, c1, mu2, c2 in mvn_cases(rng)[:10]:
            args = [np.asarray(a, np.float32) for a in (mu1, c1, mu2, c2)]
            got = mvn_kl(*args)
            assert got.dtype == np.float32
            assert ulp_error(got, mp_mvn_kl(*args), np.float32) <= 1

    def test_batched_matches_loop_and_batch_axes_broadcast(self):
        rng = np.random.default_rng(9)
        cov1 = np.stack([spd(3, rng) for _ in range(4)])
        mu1 = rng.normal(size=(4, 3))
        cov2, mu2 = spd(3, rng), rng.normal(size=3)
        got = mvn_kl(mu1, cov1, mu2, cov2)
        assert got.shape == (4,)
        np.testing.assert_array_equal(
            got, [mvn_kl(m, c, mu2, cov2) for m, c in zip(mu1, cov1, strict=True)]
        )
        assert mvn_kl(mu1[:, None], cov1[:, None], mu2, np.stack([cov2] * 2)).shape == (4, 2)

    def test_one_dimension_equals_gaussian_kl(self):
        for m1, v1, m2, v2 in [(0.0, 1.0, 1.0, 2.0), (0.3, 1.0, 0.3, 1.0 + 1e-10)]:
            got = mvn_kl([m1], [[v1]], [m2], [[v2]])
            assert (
                rel_error(got, mp_kl_moments(m1, math.sqrt(v1), m2, math.sqrt(v2))) <= (4 * EPS64)
                or rel_error(got, mp_mvn_kl([m1], [[v1]], [m2], [[v2]])) <= 4 * EPS64
            )

    def test_identical_normals_give_exactly_zero(self):
        c = spd(4, np.random.default_rng(1))
        assert mvn_kl(np.ones(4), c, np.ones(4), c) == 0.0

    def test_naive_trace_logdet_form_is_measurably_worse_when_nearly_identical(self):
        rng = np.random.default_rng(2)
        c2 = spd(5, rng)
        c1 = symmetric(c2 + spd(5, rng) * 1e-9)
        mu = np.zeros(5)
        exact = mp_mvn_kl(mu, c1, mu, c2)
        l1, l2 = np.linalg.cholesky(c1), np.linalg.cholesky(c2)
        m = np.linalg.solve(l2, l1)
        naive = 0.5 * (np.sum(m * m) - 5 + 2 * np.sum(np.log(np.diag(l2)) - np.log(np.diag(l1))))
        assert rel_error(naive, exact) > 1e-4
        assert rel_error(mvn_kl(mu, c1, mu, c2), exact) <= 4 * 5 * EPS64 * np.linalg.cond(c2)

    def test_extreme_scales_do_not_overflow(self):
        c = np.diag([1e-300, 1e300])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = mvn_kl([0.0, 0.0], c, [1e-150, 1e150], c * 4)
        # the definition for diagonal covariances (mpmath's LU calls diag(1e-300, 1e300)
        # numerically singular): ½ Σ_i [v1/v2 + Δμ²/v2 − 1 + log v2 − log v1]
        with mpmath.workdps(DPS):
            v1, v2 = [_mp(1e-300), _mp(1e300)], [4 * _mp(1e-300), 4 * _mp(1e300)]
            dmu = [_mp(1e-150), _mp(1e150)]
            exact = mpmath.fsum(
                (a / b + d * d / b - 1 + mpmath.log(b) - mpmath.log(a)) / 2
                for a, b, d in zip(v1, v2, dmu, strict=True)
            )
        assert ulp_error(got, exact) <= 4


# ------------------------------------------------------------------------ bad input

I2 = np.eye(2)
Z2 = np.zeros(2)


def _bad_cases():
    scalar_fns = {
        "gaussian_kl": (gaussian_kl, ("mu1", "sigma1", "mu2", "sigma2"), (0.0, 1.0, 0.0, 1.0)),
        "gaussian_nll": (gaussian_nll, ("x", "mu", "sigma"), (0.0, 0.0, 1.0)),
        "gaussian_entropy": (gaussian_entropy, ("sigma",), (1.0,)),
    }
    bad_any = [
        ("nan", np.nan, ValueError, "NaN"),
        ("inf", np.inf, ValueError, "inf"),
        ("empty", [], ValueError, "empty"),
        ("complex", 1j, TypeError, "complex"),
        ("bool", True, TypeError, "boolean"),
        ("object", np.array([1.0], object), TypeError, "dtype"),
        ("string", "1", TypeError, "dtype"),
    ]
    bad_sigma = [("zero", 0.0), ("negative", -1.0), ("negative-inf", -np.inf)]
    cases = []
    for fname, (fn, names, good) in scalar_fns.items():
        for i, name in enumerate(names):
            for label, bad, exc, msg in bad_any:
                args = list(good)
                args[i] = bad
                cases.append(
                    pytest.param(
                        fn,
                        args,
                        {},
                        exc,
                        f"{name}: .*{msg}|{name}: {msg}",
                        id=f"{fname}-{name}-{label}",
                    )
                )
            if name.startswith("sigma"):
                for label, bad in bad_sigma:
                    args = list(good)
                    args[i] = bad
                    cases.append(
                        pytest.param(
                            fn,
                            args,
                            {},
                            ValueError,
                            f"{name}: (must be > 0|contains inf)",
                            id=f"{fname}-{name}-{label}",
                        )
                    )
    cases += [
        pytest.param(
            gaussian_kl,
            (Z2, 1.0, np.zeros(3), 1.0),
            {},
            ValueError,
            r"mu1 \(2,\).*mu2 \(3,\)",
            id="gaussian_kl-shape-mismatch",
        ),
        pytest.param(
            gaussian_nll,
            (Z2, np.zeros(3), 1.0),
            {},
            ValueError,
            r"x \(2,\).*mu \(3,\)",
            id="gaussian_nll-shape-mismatch",
        ),
    ]
    for label, b, exc in [
        ("0", 0.0, ValueError),
        ("1", 1.0, ValueError),
        ("negative", -2.0, ValueError),
        ("inf", np.inf, ValueError),
        ("string", "e", TypeError),
    ]:
        cases.append(
            pytest.param(
                gaussian_entropy,
                (1.0,),
                {"base": b},
                exc,
                "base",
                id=f"gaussian_entropy-base-{label}",
            )
        )
    good = {"mu1": Z2, "cov1": I2, "mu2": Z2, "cov2": I2}
    not_spd = np.array([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3, −1
    singular = np.array([[1.0, 1.0], [1.0, 1.0]])
    mvn_bad = [
        ("cov1", not_spd, ValueError, "cov1: not positive definite", "not-spd"),
        ("cov2", not_spd, ValueError, "cov2: not positive definite", "not-spd"),
        ("cov2", singular, ValueError, "cov2: not positive definite", "singular"),
        ("cov2", -I2, ValueError, "cov2: not positive definite", "negative-definite"),
        (
            "cov1",
            np.array([[1.0, 0.5], [0.0, 1.0]]),
            ValueError,
            "cov1: not symmetric",
            "not-symmetric",
        ),
        (
            "cov2",
            np.array([[1.0, 1e-9], [0.0, 1.0]]),
            ValueError,
            "cov2: not symmetric",
            "slightly-not-symmetric",
        ),
        ("cov1", np.ones((2, 3)), ValueError, r"cov1: .*\[\.\.\., k, k\]", "not-square"),
        ("cov2", np.ones(2), ValueError, r"cov2: .*\[\.\.\., k, k\]", "1-d"),
        ("cov1", np.eye(3), ValueError, r"mu1 \(2,\), cov1 \(3, 3\)", "k-mismatch"),
        ("mu2", np.zeros(3), ValueError, r"mu2 \(3,\)", "k-mismatch"),
        ("mu1", 0.0, ValueError, r"mu1: .*\[\.\.\., k\]", "scalar"),
        ("cov2", [[np.nan, 0], [0, 1]], ValueError, "cov2: contains NaN", "nan"),
        ("cov1", [[np.inf, 0], [0, 1]], ValueError, "cov1: contains inf", "inf"),
        ("mu1", [np.nan, 0], ValueError, "mu1: contains NaN", "nan"),
        ("mu2", [np.inf, 0], ValueError, "mu2: contains inf", "inf"),
        ("cov1", I2.astype(complex), TypeError, "cov1: complex", "complex"),
        ("cov2", I2.astype(bool), TypeError, "cov2: boolean", "bool"),
        ("mu1", np.zeros(2, object), TypeError, "mu1: .*dtype", "object"),
        ("cov1", np.zeros((0, 0)), ValueError, "cov1: empty", "empty"),
    ]
    for name, bad, exc, msg, label in mvn_bad:
        kwargs = dict(good, **{name: bad})
        cases.append(pytest.param(mvn_kl, (), kwargs, exc, msg, id=f"mvn_kl-{name}-{label}"))
    cases.append(
        pytest.param(
            mvn_kl,
            (),
            dict(good, mu1=np.zeros((3, 2)), cov1=np.stack([I2] * 3), cov2=np.stack([I2] * 2)),
            ValueError,
            "batch axes",
            id="mvn_kl-batch-axes",
        )
    )
    return cases


class TestBadInput:
    @pytest.mark.parametrize(("fn", "args", "kwargs", "exc", "match"), _bad_cases())
    def test_raises_naming_the_argument(self, fn, args, kwargs, exc, match):
        with pytest.raises(exc, match=match):
            fn(*args, **kwargs)

    def test_nearly_symmetric_covariance_within_tolerance_is_accepted(self):
        c = np.array([[2.0, 0.5], [0.5 + 4e-16, 1.0]])
        assert np.isfinite(mvn_kl(Z2, c, Z2, I2))
