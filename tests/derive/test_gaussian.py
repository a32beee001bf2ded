"""derive.gaussian: each derivation verifies, fails without its key assumption or with a wrong
factor at the step that breaks, and agrees with the definitions evaluated by mpmath and with
numeric/.

mpmath references are the *definitions* (``mpmath.quad`` of ∫ p log(p/q), of −∫ p log p, a
cubature that is exact for the quadratic log-ratio of two normal densities), inside
``mpmath.workdps``; quad at 50+ digits is slow, so a handful of points each.
"""

from __future__ import annotations

import dataclasses
import random
from functools import cache

import mpmath
import numpy as np
import pytest
import sympy

import derive
import numeric
from derive import core
from derive import gaussian as g
from derive.core import DerivationError, Step
from derive.export import export
from derive.functions import expm1mx
from tests.oracle import rel_error

EPS = np.finfo(np.float64).eps


@cache
def verified(name: str) -> tuple:
    """verify() once per test session; the reports."""
    return tuple(derive.get(name).verify())


def check_step(d, n: int, step: Step) -> None:
    """Check step ``n`` of ``d`` with ``step`` in its place, in context, as verify() does
    (without re-checking the quad-heavy steps before it).  Only the numeric check can reject
    a step — a failed symbolic attempt merely reports "numeric" — so SymPy is skipped."""
    steps = list(d.steps)
    steps[n - 1] = dataclasses.replace(step, numeric_only=True)
    variant = dataclasses.replace(d, steps=steps)
    _, s, rel = next(c for c in variant.claims() if c[0] == n)
    core._check_claim(variant, n, rel, s, points=core.DEFAULT_POINTS, dps=core.DEFAULT_DPS,
                      seed=7919 * n)


def without(step: Step, *names: str) -> Step:
    """``step`` without the named reliances."""
    return dataclasses.replace(
        step, relies_on=tuple(r for r in step.relies_on if getattr(r, "name", None) not in names))


def to_mpmath(expr, args):
    return sympy.lambdify(args, expr, modules=[core._mp_function_namespace(), "mpmath"])


def kl_quad(m1, s1, m2, s2, dps: int = 50):
    """The definition ∫ p log(p/q) dx by mpmath.quad, split at both means."""
    with mpmath.workdps(dps):
        m1, s1, m2, s2 = (mpmath.mpf(v) for v in (m1, s1, m2, s2))

        def integrand(t):
            pt, qt = mpmath.npdf(t, m1, s1), mpmath.npdf(t, m2, s2)
            return pt * mpmath.log(pt / qt)

        return mpmath.quad(integrand, sorted({-mpmath.inf, m1, m2, mpmath.inf}))


def kl_quad_polynomial(m1, s1, m2, s2, dps: int = 80):
    """∫ p(x) [log(σ2/σ1) − (x − μ1)²/(2σ1²) + (x − μ2)²/(2σ2²)] dx: the same integral with
    log(p/q) written exactly as the polynomial it is (no closed form used)."""
    with mpmath.workdps(dps):
        m1, s1, m2, s2 = (mpmath.mpf(v) for v in (m1, s1, m2, s2))

        def integrand(t):
            log_ratio = (mpmath.log(s2 / s1) - (t - m1) ** 2 / (2 * s1**2)
                         + (t - m2) ** 2 / (2 * s2**2))
            return mpmath.npdf(t, m1, s1) * log_ratio

        return mpmath.quad(integrand, [-mpmath.inf, m1, mpmath.inf])


def near_identical_points() -> list[tuple[float, float, float, float]]:
    """Δμ ~ 1e-8 and σ2/σ1 − 1 ~ 1e-9, at a few scales (float64 inputs)."""
    out = []
    for m1, s1, dmu, ds in [(0.0, 1.0, 1e-8, 1e-9), (2.5, 0.5, -3e-8, 2e-9),
                            (-1.0, 3.0, 2e-8, -1e-9), (0.3, 1.7, 1e-8, 5e-10)]:
        out.append((m1, s1, m1 + dmu * s1, s1 * (1 + ds)))
    return out


def textbook(m1, s1, m2, s2):
    m1, s1, m2, s2 = (np.float64(v) for v in (m1, s1, m2, s2))
    return np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5


# ---------------------------------------------------------------------------------------


class TestGaussianKl:
    name = "gaussian-kl"

    def test_verifies(self):
        reports = verified(self.name)
        d = derive.get(self.name)
        assert len(reports) == len(d.steps) + 1
        # every step but the two numeric examples is proved symbolically as well
        numeric_only = [r.index for r in reports if not r.symbolic]
        assert numeric_only == [10, 12]

    def test_starts_from_the_integral_definition(self):
        d = derive.get(self.name)
        first = d.steps[0].expr
        assert first.rhs.has(sympy.Integral) and first.rhs.has(sympy.log)

    def test_fails_without_equal_parameters(self):
        d = derive.get(self.name)
        with pytest.raises(DerivationError) as exc:
            check_step(d, 9, without(d.steps[8], g.EQUAL_PARAMETERS.name))
        assert exc.value.step == 9

    def test_fails_with_a_missing_factor_two(self):
        d = derive.get(self.name)
        s1, s2, m1, m2 = g.sigma1, g.sigma2, g.mu1, g.mu2
        wrong = sympy.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / s2**2 - sympy.Rational(1, 2)
        with pytest.raises(DerivationError) as exc:
            check_step(d, 6, dataclasses.replace(d.steps[5], expr=wrong))
        assert exc.value.step == 6

    def test_fails_with_a_wrong_moment(self):
        d = derive.get(self.name)
        a, c = sympy.symbols("a c", real=True)
        wrong = a * g.sigma1 + c  # E[(x − μ1)²] = σ1, not σ1²
        with pytest.raises(DerivationError) as exc:
            check_step(d, 5, dataclasses.replace(d.steps[4], expr=wrong))
        assert exc.value.step == 5

    def test_matches_quad_of_the_definition(self):
        closed = to_mpmath(derive.get(self.name).result.rhs, (g.mu1, g.sigma1, g.mu2, g.sigma2))
        rng = random.Random(5)
        for _ in range(4):
            pt = (rng.uniform(-2, 2), rng.uniform(0.5, 2), rng.uniform(-2, 2), rng.uniform(0.5, 2))
            with mpmath.workdps(50):
                exact = kl_quad(*pt)
                assert abs(closed(*(mpmath.mpf(v) for v in pt)) - exact) <= 1e-45 * abs(exact)

    def test_is_not_symmetric(self):
        closed = derive.get(self.name).result.rhs
        args = (g.mu1, g.sigma1, g.mu2, g.sigma2)
        forward = closed.subs(dict(zip(args, (0, 1, 1, 2), strict=True)))
        backward = closed.subs(dict(zip(args, (1, 2, 0, 1), strict=True)))
        assert sympy.simplify(forward - (sympy.log(2) - sympy.Rational(1, 4))) == 0
        assert sympy.simplify(backward - (2 - sympy.log(2))) == 0
        assert forward < backward

    def test_renders_as_a_handout(self):
        d = derive.get(self.name)
        text = d.to_text()
        assert "∫_{-∞..∞} p(x)·log(p(x)/q(x)) dx" in text
        assert all(f"({i})" in text for i in range(1, len(d.steps) + 1))
        assert r"\int" in d.to_latex() and "$$" in d.to_markdown()


class TestGaussianKlStableForm:
    name = "gaussian-kl-stable-form"

    def test_verifies_symbolically(self):
        reports = verified(self.name)
        assert all(r.symbolic for r in reports)

    def test_result_equals_the_closed_form(self):
        stable = derive.get(self.name).result.rhs
        closed = derive.get("gaussian-kl").result.rhs
        assert g._to_elementary(stable - closed) == 0

    def test_result_uses_expm1mx_and_logratio(self):
        stable = derive.get(self.name).result.rhs
        assert stable.has(expm1mx) and stable.has(g.logratio)

    def test_fails_without_equal_parameters(self):
        d = derive.get(self.name)
        with pytest.raises(DerivationError) as exc:
            check_step(d, 10, without(d.steps[9], g.EQUAL_PARAMETERS.name))
        assert exc.value.step == 10

    def test_fails_with_u_not_doubled(self):
        d = derive.get(self.name)
        u = d.steps[6].expr.lhs
        with pytest.raises(DerivationError) as exc:
            check_step(d, 7, Step(sympy.Eq(u, g.logratio(g.sigma1, g.sigma2)), "wrong"))
        assert exc.value.step == 7

    def test_stable_form_at_50_digits_near_identical_gaussians(self):
        stable = to_mpmath(derive.get(self.name).result.rhs, (g.mu1, g.sigma1, g.mu2, g.sigma2))
        for pt in near_identical_points():
            exact = kl_quad(*pt, dps=80)
            with mpmath.workdps(50):
                got = stable(*(mpmath.mpf(v) for v in pt))
            assert rel_error(float(got), exact) <= 1e-15
            with mpmath.workdps(80):
                assert abs(got - exact) <= 1e-40 * exact

    def test_quad_references_agree_near_identical_gaussians(self):
        # the definition p log(p/q) and the exact polynomial log-ratio give the same integral
        m1, s1, m2, s2 = near_identical_points()[0]
        with mpmath.workdps(80):
            a, b = kl_quad(m1, s1, m2, s2, dps=80), kl_quad_polynomial(m1, s1, m2, s2)
            assert abs(a - b) <= mpmath.mpf(10) ** -60 * abs(b)

    def test_numeric_float64_near_identical_gaussians(self):
        worst_stable, worst_textbook = 0.0, 0.0
        for pt in near_identical_points():
            exact = kl_quad(*pt, dps=80)
            worst_stable = max(worst_stable, rel_error(numeric.gaussian_kl(*pt), exact))
            worst_textbook = max(worst_textbook, rel_error(textbook(*pt), exact))
        assert worst_stable <= 1e-14
        # the textbook closed form loses (nearly) every digit here: the test can fail
        assert worst_textbook > 1e-4

    def test_numeric_implements_the_derived_form(self):
        from numeric import _gaussian

        stable = to_mpmath(derive.get(self.name).result.rhs, (g.mu1, g.sigma1, g.mu2, g.sigma2))
        rng = np.random.default_rng(3)
        pts = np.column_stack([rng.uniform(-3, 3, 200), np.exp(rng.uniform(-3, 3, 200)),
                               rng.uniform(-3, 3, 200), np.exp(rng.uniform(-3, 3, 200))])
        pts[:50, 3] = pts[:50, 1] * (1 + rng.uniform(-1e-6, 1e-6, 50))
        got = numeric.gaussian_kl(*pts.T)
        with mpmath.workdps(40):
            for row, value in zip(pts, got, strict=True):
                assert rel_error(value, stable(*(mpmath.mpf(float(v)) for v in row))) <= 8 * EPS
        # the kernels: φ(u) = expm1mx(u), and u = 2 log(σ1/σ2) through log1p near σ1 = σ2
        u = np.concatenate([rng.uniform(-5, 5, 100), rng.uniform(-1e-4, 1e-4, 100)])
        with mpmath.workdps(40):
            for ui, phi in zip(u, _gaussian._expm1mx(u), strict=True):
                assert rel_error(phi, mpmath.expm1(ui) - mpmath.mpf(ui)) <= 4 * EPS
            for a, b, lq in zip(pts[:, 1], pts[:, 3], _gaussian._log_quotient(pts[:, 1], pts[:, 3]),
                                strict=True):
                assert rel_error(lq, mpmath.log(mpmath.mpf(a) / mpmath.mpf(b))) <= 4 * EPS

    def test_export_is_accurate_near_identical_gaussians(self):
        f = export(self.name)
        for pt in near_identical_points():
            assert rel_error(f(*pt), kl_quad(*pt, dps=80)) <= 1e-14


class TestGaussianEntropy:
    name = "gaussian-entropy"

    def test_verifies(self):
        reports = verified(self.name)
        # all but the sign remark (an inequality SymPy cannot decide) symbolically
        assert [r.index for r in reports if not r.symbolic] == [6]

    def test_fails_without_the_small_sigma_assumption(self):
        d = derive.get(self.name)
        with pytest.raises(DerivationError) as exc:
            check_step(d, 6, without(d.steps[5], g.SMALL_SIGMA.name))
        assert exc.value.step == 6

    def test_fails_with_a_wrong_variance(self):
        d = derive.get(self.name)
        wrong = sympy.log(2 * sympy.pi * g.sigma**2) / 2 + 1
        with pytest.raises(DerivationError) as exc:
            check_step(d, 4, dataclasses.replace(d.steps[3], expr=wrong))
        assert exc.value.step == 4

    def test_matches_sympy_stats(self):
        from sympy.stats import Normal, entropy

        h = entropy(Normal("X", g.mu, g.sigma))
        assert sympy.simplify(h - derive.get(self.name).result.rhs) == 0

    def test_matches_quad_of_the_definition(self):
        closed = to_mpmath(derive.get(self.name).result.rhs, (g.sigma,))
        def minus_p_log_p(t, s):
            pt = mpmath.npdf(t, 1, s)
            return -pt * mpmath.log(pt)

        for scale in (0.3, 1.0, 2.7):
            with mpmath.workdps(50):
                s = mpmath.mpf(scale)
                line = [-mpmath.inf, 1, mpmath.inf]
                exact = mpmath.quad(lambda t, s=s: minus_p_log_p(t, s), line)
                assert abs(closed(s) - exact) <= 1e-45 * max(1, abs(exact))

    def test_numeric_matches(self):
        closed = to_mpmath(derive.get(self.name).result.rhs, (g.sigma,))
        for s in np.exp(np.random.default_rng(1).uniform(-5, 5, 50)):
            with mpmath.workdps(40):
                exact = closed(mpmath.mpf(float(s)))
                assert rel_error(numeric.gaussian_entropy(s), exact) <= 4 * EPS


# ------------------------------------------------------------------------------ mvn-kl


def _mp_eval(e, env):
    """Evaluate a SymPy matrix/scalar expression with mpmath matrices bound in ``env``."""
    if e in env:
        return env[e]
    if e.is_Number:
        return mpmath.mpf(sympy.Rational(e).p) / sympy.Rational(e).q
    args = [_mp_eval(a, env) for a in e.args] if not isinstance(e, g.QuadForm) else None
    if isinstance(e, sympy.MatMul | sympy.Mul):
        out = args[0]
        for a in args[1:]:
            out = out * a
        return out
    if isinstance(e, sympy.MatAdd | sympy.Add):
        out = args[0]
        for a in args[1:]:
            out = out + a
        return out
    if isinstance(e, sympy.Inverse):
        return mpmath.inverse(args[0])
    if isinstance(e, sympy.Transpose):
        return args[0].T
    if isinstance(e, sympy.Trace):
        return mpmath.fsum(args[0][r, r] for r in range(args[0].rows))
    if isinstance(e, sympy.Determinant):
        return mpmath.det(args[0])
    if isinstance(e, sympy.log):
        return mpmath.log(args[0])
    if isinstance(e, sympy.Pow):
        return args[0] ** args[1]
    if isinstance(e, g.QuadForm):
        v, A = (_mp_eval(a, env) for a in e.args)
        return (v.T * A * v)[0, 0]
    raise TypeError(f"cannot evaluate {type(e).__name__}")


def random_spd(rng: random.Random, k: int, scale: float = 1.0):
    a = mpmath.matrix([[rng.uniform(-1, 1) for _ in range(k)] for _ in range(k)])
    return scale * (a * a.T / k + mpmath.eye(k) * rng.uniform(0.3, 1.5))


def mvn_kl_definition(m1, c1, m2, c2):
    """E_p[log p(x) − log q(x)] from the normal densities, by the symmetric 2k-point
    cubature x = μ1 ± √k L1 e_i (L1 L1ᵀ = Σ1): exact for polynomials of degree ≤ 3, and the
    log-ratio is a quadratic."""
    k = m1.rows
    low = mpmath.cholesky(c1)

    def log_density(x, m, c):
        d = x - m
        return (-k * mpmath.log(2 * mpmath.pi) / 2 - mpmath.log(mpmath.det(c)) / 2
                - (d.T * mpmath.lu_solve(c, d))[0, 0] / 2)

    total = mpmath.mpf(0)
    for i in range(k):
        col = low[:, i] * mpmath.sqrt(k)
        for x in (m1 + col, m1 - col):
            total += log_density(x, m1, c1) - log_density(x, m2, c2)
    return total / (2 * k)


class TestMvnKl:
    name = "mvn-kl"

    def test_verifies_symbolically_for_general_k(self):
        reports = verified(self.name)
        assert all(r.symbolic for r in reports)
        assert derive.get(self.name).result.rhs.has(g.k_dim)

    def test_fails_without_equal_parameters(self):
        d = derive.get(self.name)
        with pytest.raises(DerivationError) as exc:
            check_step(d, 6, without(d.steps[5], g.EQUAL_MVN.name))
        assert exc.value.step == 6

    def test_fails_with_the_trace_in_the_wrong_order(self):
        d = derive.get(self.name)
        # tr(Σ2 Σ1⁻¹) for tr(Σ2⁻¹ Σ1): a different number (tr(Σ1 Σ2⁻¹) would be the same)
        wrong = d.steps[3].expr.subs(sympy.Trace(g.S2.I * g.S1), sympy.Trace(g.S2 * g.S1.I))
        assert wrong != d.steps[3].expr
        with pytest.raises(DerivationError) as exc:
            check_step(d, 4, dataclasses.replace(d.steps[3], expr=wrong))
        assert exc.value.step == 4

    def test_k1_is_the_univariate_result(self):
        rhs = derive.get(self.name).result.rhs.subs(g.k_dim, 1)
        s1, s2 = sympy.ImmutableMatrix([[g.sigma1**2]]), sympy.ImmutableMatrix([[g.sigma2**2]])
        m1, m2 = sympy.ImmutableMatrix([[g.mu1]]), sympy.ImmutableMatrix([[g.mu2]])
        names = {"mu1": m1, "mu2": m2, "Sigma1": s1, "Sigma2": s2}
        scalar = rhs.replace(lambda e: isinstance(e, sympy.MatrixSymbol),
                             lambda e: names[e.name]).doit()
        uni = derive.get("gaussian-kl").result.rhs
        assert sympy.simplify(sympy.expand_log(scalar - uni, force=True)) == 0

    def test_k2_by_moment_integration_with_a_full_covariance(self):
        # x = μ1 + L z, z ~ N(0, I): Σ1 = L Lᵀ is a full symbolic 2×2 covariance, and every
        # moment of z is a product of one-dimensional integrals
        z1, z2 = sympy.symbols("z1 z2", real=True)
        l11, l22, s11, s22 = sympy.symbols("l11 l22 s11 s22", positive=True)
        l21, s12, a1, a2, b1, b2 = sympy.symbols("l21 s12 a1 a2 b1 b2", real=True)
        low = sympy.Matrix([[l11, 0], [l21, l22]])
        c1, c2 = low * low.T, sympy.Matrix([[s11, s12], [s12, s22]])
        m1, m2 = sympy.Matrix([a1, a2]), sympy.Matrix([b1, b2])
        xs = m1 + low * sympy.Matrix([z1, z2])

        def log_density(m, c):
            d = xs - m
            return (-sympy.log(2 * sympy.pi) - sympy.log(c.det()) / 2
                    - (d.T * c.inv() * d)[0, 0] / 2)

        integrand = sympy.Poly(sympy.expand(log_density(m1, c1) - log_density(m2, c2)), z1, z2)
        phi = sympy.exp(-z1**2 / 2) / sympy.sqrt(2 * sympy.pi)

        @cache
        def moment(n):
            return sympy.integrate(z1**n * phi, (z1, -sympy.oo, sympy.oo))

        by_moments = sum(coeff * moment(e1) * moment(e2)
                         for (e1, e2), coeff in integrand.terms())
        names = {"mu1": sympy.ImmutableMatrix(m1), "mu2": sympy.ImmutableMatrix(m2),
                 "Sigma1": sympy.ImmutableMatrix(c1), "Sigma2": sympy.ImmutableMatrix(c2)}
        derived = derive.get(self.name).result.rhs.subs(g.k_dim, 2).replace(
            lambda e: isinstance(e, sympy.MatrixSymbol), lambda e: names[e.name]).doit()
        diff = sympy.expand_log(sympy.expand(by_moments - derived), force=True)
        assert sympy.simplify(sympy.together(sympy.expand(diff))) == 0

    def test_derived_formula_matches_the_definition_up_to_k10(self):
        rhs = derive.get(self.name).result.rhs
        rng = random.Random(11)
        with mpmath.workdps(50):
            for k in (1, 2, 3, 5, 10):
                m1 = mpmath.matrix([rng.uniform(-1, 1) for _ in range(k)])
                m2 = mpmath.matrix([rng.uniform(-1, 1) for _ in range(k)])
                c1, c2 = random_spd(rng, k), random_spd(rng, k)
                env = {g.mu1v: m1, g.mu2v: m2, g.S1: c1, g.S2: c2, g.k_dim: mpmath.mpf(k)}
                exact = mvn_kl_definition(m1, c1, m2, c2)
                assert abs(_mp_eval(rhs, env) - exact) <= 1e-40 * abs(exact)

    def test_numeric_mvn_kl_matches_the_definition_up_to_k10(self):
        rng = random.Random(12)
        for k in range(1, 11):
            for near in (False, True):
                m1 = [rng.uniform(-1, 1) for _ in range(k)]
                with mpmath.workdps(50):
                    c1 = random_spd(rng, k)
                    c1f = np.array(c1.tolist(), dtype=float)
                    if near:  # nearly identical Gaussians: the stable form's case
                        m2 = [v + 1e-8 for v in m1]
                        c2f = c1f * (1 + 1e-9)
                    else:
                        m2 = [rng.uniform(-1, 1) for _ in range(k)]
                        c2f = np.array(random_spd(rng, k).tolist(), dtype=float)
                    c1f = (c1f + c1f.T) / 2
                    c2f = (c2f + c2f.T) / 2
                    exact = mvn_kl_definition(
                        mpmath.matrix(m1), mpmath.matrix(c1f.tolist()),
                        mpmath.matrix(m2), mpmath.matrix(c2f.tolist()))
                got = numeric.mvn_kl(np.array(m1), c1f, np.array(m2), c2f)
                # cond(Σ2) ≤ ~10 here; the documented bound is 4 k eps cond(Σ2)
                assert rel_error(got, exact) <= 40 * k * EPS, (k, near)
