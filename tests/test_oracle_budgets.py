"""The test suite's own budgets (``tests/oracle.py``) are never infinite: an exact 0 gets an
absolute budget tied to the inputs' scale, and a planted bug there fails the tests that
used to let it through."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

import numeric
from tests.numeric import test_losses
from tests.oracle import cond_budget, ulp_error


def _bce_grad_wrong_at_zero(z, y):
    """The BCE gradient, but 0.25 where σ(z) - y is exactly 0 (z = 0, y = 0.5)."""
    g = numeric.binary_cross_entropy_with_logits_grad(z, y)
    return np.where((np.asarray(z) == 0) & (np.asarray(y) == 0.5), 0.25, g)


class TestCondBudget:
    def test_an_infinite_kappa_without_sens_is_refused(self):
        with pytest.raises(ValueError, match="kappa: infinite"):
            cond_budget([0], [mpmath.inf], np.float64)

    def test_a_nan_kappa_without_sens_is_refused(self):
        with pytest.raises(ValueError, match="kappa: infinite or NaN"):
            cond_budget([0], [mpmath.nan], np.float64)

    def test_an_exact_zero_gets_ulps_times_eps_times_the_input_scale(self):
        (b,) = cond_budget([0], [mpmath.inf], np.float64, sens=[0.5])
        tiny = 2.0**-1074  # one ULP of 0
        assert b == pytest.approx(4 * 2.0**-52 * 0.5 / tiny, rel=1e-12)
        assert ulp_error(4 * 2.0**-53 * 0.5 / 2, 0) <= b  # |got| = ε S: within
        assert not ulp_error(0.25, 0) <= b  # the planted bug: outside

    def test_an_exact_zero_budget_is_finite_even_for_a_large_scale(self):
        (b,) = cond_budget([0], [mpmath.inf], np.float64, sens=[1e300])
        assert np.isfinite(b)
        assert not ulp_error(1.0, 0) <= b

    def test_an_infinite_exact_value_must_be_matched(self):
        assert cond_budget([mpmath.inf], [1.0], np.float64) == [0.0]
        assert not ulp_error(1e308, mpmath.inf) <= 0.0

    def test_finite_kappa_is_unchanged(self):
        # 4 ULP, or 4 ε κ relative where that is more
        assert cond_budget([1], [0.5], np.float64) == [4.0]
        assert cond_budget([1], [10], np.float64)[0] == pytest.approx(40.0)


class TestPlantedBceGradientBug:
    """0.25 at z = 0, y = 0.5 (exact 0) passed all 269 tests of test_losses.py while the
    exact 0 had an infinite budget; now the tests that check that point go red."""

    def test_the_array_check_goes_red(self, monkeypatch):
        monkeypatch.setattr(test_losses, "binary_cross_entropy_with_logits_grad",
                            _bce_grad_wrong_at_zero)
        with pytest.raises(AssertionError, match="bce logits grad"):
            test_losses.TestBinaryCrossEntropyWithLogitsGrad().test_matches_mpmath_diff_of_the_loss(
                np.float64)

    def test_the_property_check_goes_red_at_its_example(self, monkeypatch):
        monkeypatch.setattr(test_losses, "binary_cross_entropy_with_logits_grad",
                            _bce_grad_wrong_at_zero)
        with pytest.raises(AssertionError):
            _property_check(0.0, 0.5)

    def test_both_checks_pass_unplanted(self):
        test_losses.TestBinaryCrossEntropyWithLogitsGrad().test_matches_mpmath_diff_of_the_loss(
            np.float64)
        _property_check(0.0, 0.5)


def _property_check(z: float, y: float) -> None:
    """The body of the hypothesis test at one point (without hypothesis' runner)."""
    cls = test_losses.TestBinaryCrossEntropyWithLogitsGrad
    cls.test_equals_mpmath_diff_of_the_loss.hypothesis.inner_test(cls(), z, y)
