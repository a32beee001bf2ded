"""The default error budgets are pinned: a 5-ULP error fails ``assert_matches_reference`` and
``lossproof verify`` at their defaults, and an exact 0 (or an infinite exact value) never
gets an infinite budget.

The 5-ULP implementations are built from the correctly rounded reference (the definition at
60 digits, rounded once) moved 5 ULPs up, so the error is exactly 5 ULP whatever the
accuracy of the function it stands in for.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import numeric
from derive import _reference as _ref
from derive import testing, verify
from derive.testing import assert_matches_reference, check_reference
from derive.verify import verify_one


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSPROOF_CACHE_DIR", str(tmp_path))


def _up(x: float, n: int) -> float:
    for _ in range(n):
        x = math.nextafter(x, math.inf)
    return x


def _rounded_then_up(name: str, n: int):
    """A function of batched arrays returning the correctly rounded reference ``name``,
    moved ``n`` ULPs up (float64)."""
    ref = _ref.REFERENCES[name]

    def fn(*batch: np.ndarray) -> np.ndarray:
        rows = zip(*[list(a) for a in batch], strict=True)
        out = []
        for row in rows:
            val, _ = _ref.evaluate(ref.value, list(row))
            out.append(_up(float(val[0]), n))
        return np.array(out)

    return fn


class TestAssertMatchesReference:
    def test_the_default_budget_is_4_ulp(self):
        assert testing.DEFAULT_BUDGET_ULP == 4.0

    def test_a_correctly_rounded_function_passes(self):
        assert_matches_reference(_rounded_then_up("entropy-maximum-uniform", 0),
                                 "entropy-maximum-uniform", points=20)

    @pytest.mark.parametrize("name", ["entropy-maximum-uniform", "gaussian-entropy"])
    def test_a_5_ulp_error_fails_at_the_defaults(self, name):
        with pytest.raises(AssertionError, match="exceed the budget"):
            assert_matches_reference(_rounded_then_up(name, 5), name, points=20)

    def test_3_ulp_passes_where_5_fails(self):
        # 3 ULPs up from the correctly rounded value: at most 3.5 ULP from the exact one
        name = "entropy-maximum-uniform"
        assert check_reference(_rounded_then_up(name, 3), name, points=20).passed
        assert not check_reference(_rounded_then_up(name, 5), name, points=20).passed

    def test_a_wrong_gradient_at_an_exact_zero_fails(self):
        # σ(0) - 0.5 = 0 exactly; 0.25 there passed every test when κ = ∞ gave an infinite
        # budget.  Now the budget is 4 ULPs of the inputs' scale S = 0.5.
        def grad(z, y):
            g = numeric.binary_cross_entropy_with_logits_grad(z, y)
            return np.where((z == 0) & (y == 0.5), 0.25, g)

        report = check_reference(numeric.binary_cross_entropy_with_logits, "bce-gradient",
                                 grad=grad, points=0)
        assert not report.passed
        assert report.grad.over_budget == 1
        worst = report.grad.worst[0]
        assert (worst.input, worst.got, worst.budget) == ("z=0.0, y=0.5", "0.25", 4.0)

    def test_a_tiny_error_at_an_exact_zero_is_measured_in_ulps_of_the_input_scale(self):
        # 2 ULPs of S = 0.5 at the exact 0 pass, 5 ULPs fail
        def grad(n):
            def g(z, y):
                out = numeric.binary_cross_entropy_with_logits_grad(z, y)
                return np.where((z == 0) & (y == 0.5), n * 2.0**-53, out)
            return g

        fn = numeric.binary_cross_entropy_with_logits
        assert check_reference(fn, "bce-gradient", grad=grad(2), points=0).passed
        assert not check_reference(fn, "bce-gradient", grad=grad(5), points=0).passed

    def test_a_finite_value_where_the_exact_value_is_infinite_fails(self):
        # D(p ‖ q) = +inf where q_k = 0 < p_k: no condition number forgives a finite value
        def kl(p, q):
            out = numeric.kl_divergence(p, q)
            return np.where(np.isinf(out), 1e300, out)

        report = check_reference(kl, "kl-nonnegative", points=0)
        assert not report.passed
        assert report.value.over_budget >= 1
        assert all(m.expected == "+inf" for m in report.value.failures)


def _softmax_rounded_then_up(n: int):
    def fn(z, **_kw):
        z = np.asarray(z, dtype=np.float64)
        with mpmath.workdps(60):
            m = max(mpmath.mpf(float(v)) for v in z)
            e = [mpmath.exp(mpmath.mpf(float(v)) - m) for v in z]
            s = mpmath.fsum(e)
            return np.array([_up(float(v / s), n) for v in e])

    return fn


class TestVerifyBudget:
    def test_the_default_budget_is_4_ulp_times_1_plus_kappa(self):
        assert (verify.COND.kind, verify.COND.ulp) == ("cond", 4.0)

    def test_a_correctly_rounded_numeric_route_passes(self, monkeypatch):
        case = verify.CASES["softmax-shift-invariance"]
        monkeypatch.setitem(verify.CASES, "softmax-shift-invariance",
                            verify.Case(**{**case.__dict__, "twins": (),
                                           "invalid": lambda: [],
                                           "numeric": _softmax_rounded_then_up(0)}))
        res = verify_one("softmax-shift-invariance", steps=False)
        assert res.numeric.passed

    def test_a_5_ulp_error_fails_at_the_defaults(self, monkeypatch):
        case = verify.CASES["softmax-shift-invariance"]
        monkeypatch.setitem(verify.CASES, "softmax-shift-invariance",
                            verify.Case(**{**case.__dict__, "twins": (),
                                           "invalid": lambda: [],
                                           "numeric": _softmax_rounded_then_up(5)}))
        res = verify_one("softmax-shift-invariance", steps=False)
        assert not res.passed and res.numeric.error is None
        # it fails where κ = 0 (the budget is 4 ULP), not only where κ is large
        assert res.numeric.over_budget >= 1
        # (κ there is a rounding-level 1e-15, not exactly 0, with the oracle's duals)
        assert 4.0 <= res.numeric.worst["budget_ulp"] < 4.0 * (1 + 1e-9)
