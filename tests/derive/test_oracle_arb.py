"""Tests of ``derive.oracle_arb`` (the ball-arithmetic oracle) and ``derive._dual``: the
ball versions agree with the mpmath oracle on every definition, their balls are tight,
and where the two differ the ball version is the one a closed form written independently
confirms."""

from __future__ import annotations

import dataclasses

import mpmath
import numpy as np
import pytest
from flint import arb, ctx

import derive
from derive import oracle_arb, verify
from derive._dual import gradient, hessian
from derive.oracle import ORACLES, OracleError
from derive.oracle_arb import ARB_ORACLES, reference, tight, to_arb

_HALF_TINY = mpmath.ldexp(1, -1075)


def _agree(a, b) -> bool:
    """Equal to 1e-25 relative, or both below half the smallest subnormal (both round to
    0 in float64)."""
    with mpmath.workdps(60):
        if a == b or (abs(a) < _HALF_TINY and abs(b) < _HALF_TINY):
            return True
        return abs(a - b) <= mpmath.mpf(10) ** -25 * max(abs(a), abs(b))


def _mpmath_only(name: str):
    return dataclasses.replace(ORACLES[name], arb=None)


class TestRegistry:
    def test_every_ball_oracle_is_attached_to_its_oracle(self):
        for name, fn in ARB_ORACLES.items():
            assert ORACLES[name].arb is fn

    def test_every_oracle_has_a_ball_version(self):
        missing = [n for n in ORACLES if n not in ARB_ORACLES]
        assert not missing

    def test_unknown_name_raises_key_error(self):
        with pytest.raises(KeyError, match="no ball-arithmetic oracle"):
            reference("no-such-derivation", [1.0])

    def test_global_precision_is_left_alone(self):
        before = ctx.prec
        reference("softmax-ce-gradient", [[1.0, 2.0], [0.5, 0.5]], prec=500)
        assert ctx.prec == before


class TestAgreementWithMpmath:
    """Every definition at random points (two seeds) and at every adversarial point."""

    @pytest.mark.parametrize("name", sorted(ARB_ORACLES))
    def test_ball_and_mpmath_oracles_agree(self, name):
        d = derive.get(name)
        case = verify.CASES.get(name, verify.Case())
        points = (verify._random_points(d, case, 6, 1) + verify._random_points(d, case, 6, 2)
                  + [tuple(e) for e in case.edges()])
        slow = _mpmath_only(name)
        for pt in points:
            balls = reference(name, pt)
            try:
                mp = verify._reference(slow, pt, 60)
            except OracleError:
                continue  # the mpmath fallback gave up where the balls did not
            for a, b in zip(balls, mp, strict=True):
                if b == 0 and abs(a) < 1e-290:
                    # mpmath's central differences call a derivative that shrinks with the
                    # precision 0; see test_tiny_gradient_the_mpmath_fallback_calls_zero
                    continue
                assert _agree(a, b), (verify._format_point(pt), a, b)


class TestIndependentValues:
    def test_tiny_gradient_the_mpmath_fallback_calls_zero(self):
        """∂L/∂z_1 = softmax_1(z) − y_1 at z = (−1e-300, 1e-300, 0, 5e-324), y uniform, is
        −2.5e-301 (a normal float64): the softmax written out at 700 digits agrees."""
        z = [-1e-300, 1e-300, 0.0, 5e-324]
        (g1, *_rest) = reference("softmax-ce-gradient", [z, [0.25] * 4])
        with mpmath.workdps(700):
            e = [mpmath.exp(mpmath.mpf(v)) for v in z]
            exact = e[0] / mpmath.fsum(e) - mpmath.mpf(1) / 4
            assert abs(g1 - exact) <= abs(exact) * mpmath.mpf(10) ** -30
        assert float(g1) == pytest.approx(-2.5e-301, rel=1e-6)

    @pytest.mark.parametrize("args", [(0.0, 1.0, 1.0, 2.0), (3.0, 30.0, -2.0, 0.1),
                                      (0.0, 1.0, 1e-8, 1.0 + 1e-9), (0.0, 1e-300, 0.0, 1e300)])
    def test_gauss_hermite_is_the_integral(self, args):
        """The 3-point rule is exact for the quadratic integrand: the textbook closed form,
        evaluated at 120 digits, agrees to the balls' precision."""
        with mpmath.workdps(120):
            m1, s1, m2, s2 = map(mpmath.mpf, args)
            closed = mpmath.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5
            for name in ("gaussian-kl", "gaussian-kl-stable-form"):
                (got,) = reference(name, list(args))
                assert abs(got - closed) <= abs(closed) * mpmath.mpf(10) ** -24

    def test_identical_gaussians_have_exactly_zero_divergence(self):
        assert reference("gaussian-kl", [0.5, 2.0, 0.5, 2.0]) == [0]

    def test_categorical_maximiser_is_the_frequencies(self):
        got = reference("mle-categorical", [[1.0, 2.0, 3.0, 4.0]])
        assert [float(g) for g in got] == [0.1, 0.2, 0.3, 0.4]

    def test_bernoulli_without_interior_maximum_raises(self):
        with pytest.raises(OracleError, match="did not converge"):
            reference("mle-bernoulli", [[0.0, 0.0, 0.0]])

    def test_constant_sample_raises(self):
        with pytest.raises(OracleError, match="constant sample"):
            reference("mle-gaussian", [[2.0, 2.0]])


class TestBalls:
    def test_a_wide_ball_is_not_tight(self):
        assert not tight(arb(1, 2.0**-60))
        assert tight(arb(1, 2.0**-90))
        assert tight(arb(0, 2.0**-1200))
        assert not tight(arb("nan"))

    def test_precision_rises_until_the_balls_are_tight(self):
        """D(p ‖ q) for p = (1/2 + 2^-53, 1/2 − 2^-53), q uniform is 2^-105 (to 2^-160):
        its terms, ±2^-54, cancel to 2^-51 of themselves, so 64 bits cannot pin it."""
        calls = []
        real = oracle_arb.evaluate

        def spy(fn, args, prec):
            calls.append(prec)
            return real(fn, args, prec)

        d = 2.0**-53
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(oracle_arb, "evaluate", spy)
            (got,) = reference("kl-nonnegative", [[0.5 + d, 0.5 - d], [0.5, 0.5]], prec=64)
        assert calls[0] == 64 and len(calls) > 1
        with mpmath.workdps(80):
            a, b = mpmath.mpf(0.5 + d), mpmath.mpf(0.5 - d)
            exact = a * mpmath.log(2 * a) + b * mpmath.log(2 * b)
            assert abs(got - exact) <= mpmath.mpf(10) ** -25 * exact

    def test_a_definition_that_never_tightens_raises(self):
        def noisy(x):
            return x + arb(0, 1e-10)

        with pytest.raises(OracleError, match="do not tighten"):
            reference(noisy, [1.0])


class TestToArb:
    @pytest.mark.parametrize("text", ["-4.5", "3e-300", "-1e300", "0", "-0.1"])
    def test_mpf_keeps_value_and_sign(self, text):
        with mpmath.workdps(50):
            x = mpmath.mpf(text)
            assert oracle_arb.to_mpf(to_arb(x)) == x

    def test_floats_and_arrays_are_exact(self):
        v = to_arb(np.array([0.1, -2.0**-1074]))
        assert [oracle_arb.to_mpf(b) for b in v] == [mpmath.mpf(0.1), -mpmath.ldexp(1, -1074)]

    @pytest.mark.parametrize("bad", [True, "1.0", 1j, None])
    def test_non_numbers_are_refused(self, bad):
        with pytest.raises(TypeError, match="value"):
            to_arb(bad)

    def test_non_finite_mpf_is_refused(self):
        with pytest.raises(ValueError, match="finite"):
            to_arb(mpmath.inf)


class TestDual:
    def test_gradient_of_a_product_of_logs(self):
        # f = x y log(x) + log1p(e^{y}) at (2, -1): ∂x = y (log x + 1), ∂y = x log x + σ(y)
        _value, (dx, dy) = gradient(lambda v: v[0] * v[1] * v[0].log() + v[1].exp().log1p(),
                                   [arb(2), arb(-1)])
        with mpmath.workdps(30):
            assert abs(oracle_arb.to_mpf(dx) - (-(mpmath.log(2) + 1))) < 1e-14
            assert abs(oracle_arb.to_mpf(dy)
                       - (2 * mpmath.log(2) + 1 / (1 + mpmath.e))) < 1e-14

    def test_hessian_is_symmetric_and_right(self):
        # f = x² y / (1 + y): f_xx = 2y/(1 + y), f_xy = 2x/(1 + y)², f_yy = −2x²/(1 + y)³
        _v, _g, h = hessian(lambda v: v[0] * v[0] * v[1] / (1 + v[1]), [arb(3), arb(1)])
        assert h[0][1].overlaps(h[1][0])
        assert h[0][0].overlaps(arb(1)) and h[0][1].overlaps(arb(1.5))
        assert h[1][1].overlaps(arb(-2.25))

    def test_only_squares_are_powers(self):
        (x,) = derive._dual.seed([arb(2)])
        with pytest.raises(ValueError, match="squares"):
            _ = x ** 3
