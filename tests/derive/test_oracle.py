"""Tests of ``derive.oracle``: every exportable derivation has a definition-level oracle,
and each oracle computes its definition correctly, at the edges too.

Expected values below are written independently of the oracle, from closed forms or
textbook values evaluated with mpmath (the snippet is the expression itself).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

import derive
from derive import oracle
from derive.export import exportable
from derive.oracle import ORACLES, OracleError, derivative, reference


def _rel(a, b) -> float:
    """Relative difference; ``b`` may be a zero-argument function evaluated at 60 digits."""
    with mpmath.workdps(60):
        a, b = mpmath.mpf(a), mpmath.mpf(b() if callable(b) else b)
        return 0.0 if a == b else float(abs(a - b) / max(abs(a), abs(b)))


class TestRegistry:
    def test_every_exportable_derivation_has_an_oracle(self):
        missing = [n for n in derive.names() if exportable(n) and n not in ORACLES]
        assert not missing, f"derivations without an oracle in derive/oracle.py: {missing}"

    def test_every_oracle_belongs_to_a_registered_derivation(self):
        assert not set(ORACLES) - set(derive.names())

    @pytest.mark.parametrize("name", sorted(ORACLES))
    def test_parameters_match_the_derivation(self, name):
        params = tuple(str(p) for p in derive.get(name).parameters)
        assert ORACLES[name].params == params

    @pytest.mark.parametrize("name", sorted(ORACLES))
    def test_states_its_definition_and_method(self, name):
        o = ORACLES[name]
        assert o.definition and o.method in {"sum", "diff", "quad", "findroot", "direct"}

    def test_unknown_name_raises_key_error(self):
        with pytest.raises(KeyError, match="no oracle"):
            reference("no-such-derivation", 1.0)

    def test_fewer_than_50_digits_is_refused(self):
        with pytest.raises(ValueError, match="50 digits"):
            reference("sigmoid-derivative", 0.0, dps=30)

    def test_wrong_number_of_arguments_raises(self):
        with pytest.raises(TypeError, match="expected 2"):
            reference("bce-gradient", 0.0)

    def test_global_precision_is_left_alone(self):
        before = mpmath.mp.dps
        reference("gaussian-kl", 0.0, 1.0, 1.0, 2.0, dps=80)
        assert mpmath.mp.dps == before


class TestDerivative:
    def test_matches_closed_form_at_ordinary_points(self):
        with mpmath.workdps(60):
            assert _rel(derivative(mpmath.sin, mpmath.mpf(1)), mpmath.cos(1)) < 1e-50

    def test_huge_argument(self):
        # d/dx log x = 1/x at x = 1e300: x ± h must be exact
        with mpmath.workdps(60):
            x = mpmath.mpf(1e300)
            assert _rel(derivative(mpmath.log, x), 1 / x) < 1e-50

    def test_tiny_argument_stays_on_its_side_of_zero(self):
        with mpmath.workdps(60):
            x = mpmath.mpf(1e-300)
            assert _rel(derivative(mpmath.log, x), 1 / x) < 1e-50

    def test_tail_hidden_next_to_one_is_found(self):
        # σ'(709) = e^{-709} / (1 + e^{-709})²: invisible at 60 digits next to σ ≈ 1
        with mpmath.workdps(60):
            got = derivative(lambda z: 1 / (1 + mpmath.exp(-z)), mpmath.mpf(709), smooth=True)
            e = mpmath.exp(-709)
            assert _rel(got, e / (1 + e) ** 2) < 1e-40


class TestLosses:
    def test_sigmoid_derivative(self):
        assert float(reference("sigmoid-derivative", 0.0)) == 0.25
        e = lambda: mpmath.exp(-700) / (1 + mpmath.exp(-700)) ** 2  # noqa: E731
        assert _rel(reference("sigmoid-derivative", 700.0), e) < 1e-30
        e = lambda: mpmath.exp(-800) / (1 + mpmath.exp(-800)) ** 2  # noqa: E731
        assert _rel(reference("sigmoid-derivative", 800.0), e) < 1e-30

    @pytest.mark.parametrize(("z", "y"), [(0.0, 1.0), (40.0, 1.0), (-40.0, 0.0), (2.0, 0.3),
                                          (700.0, 1.0), (1e300, 0.0)])
    def test_bce_gradient_is_sigma_minus_y(self, z, y):
        with mpmath.workdps(60):
            z_, y_ = mpmath.mpf(z), mpmath.mpf(y)
            # σ(z) - y, with 1 - σ(z) = 1/(1 + e^z) so that nothing cancels
            exact = (1 - y_) - 1 / (1 + mpmath.exp(z_)) if z > 0 else 1 / (1 + mpmath.exp(-z_)) - y_
        assert _rel(reference("bce-gradient", z, y), exact) < 1e-30

    def test_bce_probability_gradient_seed_case_is_minus_20(self):
        # p̂ = 0.05 is the float nearest 1/20, so -1/p̂ is -20 to 16 digits
        assert _rel(reference("bce-probability-gradient", 0.05, 1.0),
                    lambda: -1 / mpmath.mpf(0.05)) < 1e-40
        assert float(reference("bce-probability-gradient", 0.05, 1.0)) == -20.0

    def test_softmax_ce_gradient_uniform_one_hot(self):
        got = reference("softmax-ce-gradient", np.zeros(3), np.array([1.0, 0.0, 0.0]))
        assert [float(g) for g in got] == pytest.approx([-2 / 3, 1 / 3, 1 / 3], rel=1e-15)

    def test_softmax_ce_gradient_confident_correct(self):
        # p_1 - 1 = -2e^{-50} / (1 + 2e^{-50})
        got = reference("softmax-ce-gradient", np.array([50.0, 0.0, 0.0]),
                        np.array([1.0, 0.0, 0.0]))
        with mpmath.workdps(60):
            e = mpmath.exp(-50)
            assert _rel(got[0], -2 * e / (1 + 2 * e)) < 1e-30

    def test_temperature_gradient_carries_one_over_t(self):
        got = reference("temperature-softmax-gradient", np.zeros(2), np.array([1.0, 0.0]), 4.0)
        assert [float(g) for g in got] == pytest.approx([-0.125, 0.125], rel=1e-15)

    def test_distillation_gradient_is_zero_for_equal_logits(self):
        z = np.array([1.0, -2.0, 0.5])
        got = reference("distillation-gradient", z, z, 2.0)
        assert all(abs(float(g)) < 1e-40 for g in got)

    def test_binary_as_two_class_softmax_keeps_the_tail(self):
        # y = 1, z = 709: log1p(e^{-709}) ≈ 1.2e-308, lost by log(1 + e^{-709})
        assert _rel(reference("binary-as-two-class-softmax", 709.0, 1.0),
                    lambda: mpmath.log1p(mpmath.exp(-709))) < 1e-30


class TestInformation:
    def test_cross_entropy(self):
        assert _rel(reference("ce-equals-entropy-plus-kl", [0.5, 0.5], [0.25, 0.75]),
                    lambda: -(mpmath.log(0.25) + mpmath.log(0.75)) / 2) < 1e-50

    def test_one_hot_counts_from_one(self):
        assert _rel(reference("cross-entropy-one-hot", [0.25, 0.75], 2.0),
                    lambda: -mpmath.log(0.75)) < 1e-50

    def test_kl_of_identical_distributions_is_zero(self):
        assert reference("kl-nonnegative", [0.5, 0.25, 0.25], [0.5, 0.25, 0.25]) == 0

    def test_mutual_information_of_independent_table_is_zero(self):
        assert abs(reference("mutual-information-identities", [[0.25, 0.25], [0.25, 0.25]])) \
            < mpmath.mpf(10) ** -50

    def test_mutual_information_of_copy_is_entropy(self):
        assert _rel(reference("mutual-information-identities", [[0.5, 0.0], [0.0, 0.5]]),
                    lambda: mpmath.log(2)) < 1e-50

    def test_joint_entropy(self):
        assert _rel(reference("entropy-chain-rule", [[0.25, 0.25], [0.25, 0.25]]),
                    lambda: mpmath.log(4)) < 1e-50

    def test_perplexity_of_uniform_is_k(self):
        assert _rel(reference("perplexity-of-cross-entropy", [0.25] * 4, [0.25] * 4), 4) < 1e-50
        assert _rel(reference("perplexity-base-invariance", [0.5, 0.5], [0.5, 0.5]), 2) < 1e-50

    def test_self_information_in_bits(self):
        assert _rel(reference("self-information-additivity", 0.5, 0.25, 2.0), 3) < 1e-50


class TestGaussian:
    @pytest.mark.parametrize("args", [(0.0, 1.0, 1.0, 2.0), (3.0, 30.0, -2.0, 0.1),
                                      (0.0, 1.0, 1e-8, 1.0 + 1e-9), (0.0, 1e-300, 0.0, 1e300)])
    def test_kl_quad_matches_textbook_closed_form(self, args):
        with mpmath.workdps(80):  # the closed form at 80 digits: it cancels, the quad does not
            m1, s1, m2, s2 = map(mpmath.mpf, args)
            half = mpmath.mpf(1) / 2
            closed = mpmath.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - half
        for name in ("gaussian-kl", "gaussian-kl-stable-form"):
            assert _rel(reference(name, *args), closed) < 1e-35

    def test_kl_of_identical_gaussians_is_exactly_zero(self):
        assert reference("gaussian-kl", 0.5, 2.0, 0.5, 2.0) == 0

    def test_entropy(self):
        with mpmath.workdps(60):
            assert _rel(reference("gaussian-entropy", 3.0),
                        mpmath.log(2 * mpmath.pi * mpmath.e * 9) / 2) < 1e-40

    def test_mse_is_gaussian_nll(self):
        with mpmath.workdps(60):
            exact = mpmath.log(2 * mpmath.pi) / 2 + mpmath.mpf(1) / 2  # σ = 1, residual 1
        assert _rel(reference("mse-is-gaussian-nll", [0.0, 0.0], [1.0, -1.0], 1.0), exact) < 1e-50


class TestLikelihood:
    def test_bernoulli(self):
        assert _rel(reference("mle-bernoulli", [1.0, 1.0, 0.0]), lambda: mpmath.mpf(2) / 3) \
            < 1e-50

    def test_categorical(self):
        got = reference("mle-categorical", [1.0, 2.0, 3.0, 4.0])
        assert [float(g) for g in got] == [0.1, 0.2, 0.3, 0.4]

    def test_gaussian_variance_is_the_biased_estimator(self):
        x = [1.0, 2.0, 4.0]
        assert _rel(reference("mle-gaussian", x), np.var(x)) < 1e-15

    def test_gaussian_of_a_constant_sample_has_no_maximum(self):
        with pytest.raises(OracleError):
            reference("mle-gaussian", [2.0, 2.0])

    def test_nll_is_the_likelihood_of_the_labels(self):
        got = reference("nll-equals-cross-entropy", [[0.5, 0.5], [0.25, 0.75]],
                        [[1.0, 0.0], [0.0, 1.0]])
        assert _rel(got, lambda: -(mpmath.log(0.5) + mpmath.log(0.75)) / 2) < 1e-50


def test_oracles_never_call_the_exporter(monkeypatch):
    """The oracle is independent of the closed form: it works with export disabled."""
    import derive.export

    def boom(*args, **kwargs):
        raise AssertionError("the oracle used the exported closed form")

    monkeypatch.setattr(derive.export, "export", boom)
    assert math.isfinite(float(reference("bce-gradient", 1.0, 0.0)))
    assert oracle.ORACLES["bce-gradient"].method == "diff"
