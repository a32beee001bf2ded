"""derive.testing: the reference checks catch broken loss functions and pass correct ones.

The "broken" implementations are the ones found in the wild: the naive sigmoid BCE, a log
loss clipped at 1e-15, a temperature gradient missing its 1/T factor, the textbook
Gaussian KL.  The correct ones are lossproof's own ``numeric`` functions (and a torch
formula built on ``logsigmoid``).
"""

from __future__ import annotations

import math
import sys

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from scipy.special import expit

import numeric
from derive import _reference, strategies, testing
from derive.testing import assert_matches_reference, check_reference

pytest_plugins = ["pytester"]

POINTS = 20  # random points on top of the adversarial ones: the adversarial ones decide


def naive_bce(z, y):
    s = 1 / (1 + np.exp(-z))
    return -(y * np.log(s) + (1 - y) * np.log(1 - s))


def naive_bce_grad(z, y):
    return expit(z) - y  # sigma(z) rounds to 1 from z = 36.7: the gradient becomes 0


def clipped_log_loss(p, y):
    # the scikit-learn < 1.5 recipe: clip the probability to [1e-15, 1 - 1e-15]
    q = np.clip(p, 1e-15, 1 - 1e-15)
    return -(y * np.log(q) + (1 - y) * np.log(1 - q))


def softmax(z, axis=-1):
    e = np.exp(z - z.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def temperature_grad_without_1_over_t(z, y, t):
    return numeric.softmax(z, temperature=t) - y


def textbook_gaussian_kl(mu1, s1, mu2, s2):
    return np.log(s2 / s1) + (s1**2 + (mu1 - mu2) ** 2) / (2 * s2**2) - 0.5


def _failure(excinfo) -> str:
    return str(excinfo.value)


class TestCatchesBrokenImplementations:
    def test_naive_sigmoid_bce(self):
        with np.errstate(all="ignore"), pytest.raises(AssertionError) as exc:
            assert_matches_reference(naive_bce, "bce-gradient", points=POINTS)
        msg = _failure(exc)
        assert "bce-gradient (value" in msg
        assert "non-finite" in msg
        # the table names reproducible inputs, what was expected and what came back
        assert "input" in msg and "expected" in msg and "ULP" in msg
        assert "z=" in msg and "nan" in msg

    def test_naive_gradient_is_zero_beyond_36_7(self):
        good = numeric.binary_cross_entropy_with_logits
        with pytest.raises(AssertionError) as exc:
            assert_matches_reference(good, "bce-gradient", grad=naive_bce_grad, points=POINTS)
        msg = _failure(exc)
        assert "gradient" in msg
        assert "z=37.0, y=1.0" in msg  # truth -e^{-37}, returned 0

    def test_clipped_log_loss(self):
        with pytest.raises(AssertionError, match="bce-probability-gradient"):
            assert_matches_reference(clipped_log_loss, "bce-probability-gradient",
                                     points=POINTS)
        report = check_reference(clipped_log_loss, "bce-probability-gradient", points=POINTS)
        # p = 1e-300, y = 1: the loss is 690.8, the clipped one 34.5
        bad = {f.input: f.got for f in report.value.failures}
        assert bad["p=1e-300, y=1.0"] == "34.538776394910684"

    def test_temperature_gradient_missing_1_over_t(self):
        grad = temperature_grad_without_1_over_t
        loss = numeric.softmax_cross_entropy
        with pytest.raises(AssertionError) as exc:
            assert_matches_reference(lambda z, y, t: loss(z, y, temperature=t),
                                     "temperature-softmax-gradient", grad=grad, points=POINTS)
        msg = _failure(exc)
        assert "temperature-softmax-gradient (gradient" in msg
        assert "value" not in msg.split("\n")[0]

    def test_textbook_gaussian_kl(self):
        with np.errstate(all="ignore"), pytest.raises(AssertionError, match="gaussian-kl"):
            assert_matches_reference(textbook_gaussian_kl, "gaussian-kl", points=POINTS)
        with np.errstate(all="ignore"):
            report = check_reference(textbook_gaussian_kl, "gaussian-kl", points=POINTS)
        # nearly identical Gaussians (Δμ = 1e-8 σ, σ2/σ1 - 1 = 1e-9): the textbook form
        # cancels to noise
        near = [f for f in report.value.failures
                if f.input == "mu1=0.0, sigma1=1.0, mu2=1e-08, sigma2=1.000000001"]
        assert near and near[0].rel > 1e-3

    def test_softmax_returning_mean_is_a_shape_error(self):
        with pytest.raises(AssertionError, match="reduction='none'"):
            assert_matches_reference(lambda z, y: numeric.softmax_cross_entropy(z, y).mean(),
                                     "softmax-ce-gradient", points=POINTS)

    def test_an_exception_is_a_failure_naming_the_input(self):
        def raises(z, y):
            raise FloatingPointError("boom")

        with pytest.raises(AssertionError, match=r"FloatingPointError: boom.*z="):
            assert_matches_reference(raises, "bce-gradient", points=POINTS)


class TestPassesCorrectImplementations:
    def test_bce_with_logits_and_gradient(self):
        report = assert_matches_reference(
            numeric.binary_cross_entropy_with_logits, "bce-gradient",
            grad=numeric.binary_cross_entropy_with_logits_grad, points=POINTS)
        assert report.passed and report.value.outputs > 200 and report.grad.outputs > 200

    def test_bce_of_probabilities(self):
        assert_matches_reference(numeric.binary_cross_entropy, "bce-probability-gradient",
                                 grad=numeric.binary_cross_entropy_grad, points=POINTS)

    @pytest.mark.parametrize("integer_labels", [False, True])
    def test_softmax_cross_entropy(self, integer_labels):
        assert_matches_reference(numeric.softmax_cross_entropy, "softmax-ce-gradient",
                                 grad=numeric.softmax_cross_entropy_grad, points=POINTS,
                                 integer_labels=integer_labels)

    def test_temperature(self):
        assert_matches_reference(
            lambda z, y, t: numeric.softmax_cross_entropy(z, y, temperature=t),
            "temperature-softmax-gradient",
            grad=lambda z, y, t: numeric.softmax_cross_entropy_grad(z, y, temperature=t),
            points=POINTS)

    def test_label_smoothing(self):
        assert_matches_reference(
            lambda z, y, e: numeric.softmax_cross_entropy(z, y, label_smoothing=e),
            "label-smoothing",
            grad=lambda z, y, e: numeric.softmax_cross_entropy_grad(z, y, label_smoothing=e),
            points=POINTS, integer_labels=True)

    @pytest.mark.parametrize(("fn", "name"), [
        (numeric.gaussian_kl, "gaussian-kl"),
        (numeric.gaussian_kl, "gaussian-kl-stable-form"),
        (numeric.kl_divergence, "kl-nonnegative"),
        (numeric.cross_entropy, "ce-equals-entropy-plus-kl"),
        (numeric.entropy, "entropy-maximum-uniform"),
        (numeric.mvn_kl, "mvn-kl"),
        (numeric.log_sigmoid, "log-sigmoid"),
        (numeric.logsumexp, "logsumexp"),
        (numeric.log_softmax, "log-softmax"),
    ])
    def test_information_and_gaussian_quantities(self, fn, name):
        assert_matches_reference(fn, name, points=POINTS)

    def test_float32(self):
        report = assert_matches_reference(
            numeric.binary_cross_entropy_with_logits, "bce-gradient",
            grad=numeric.binary_cross_entropy_with_logits_grad, dtype=np.float32,
            points=POINTS)
        assert report.dtype == "float32"
        # float32 extremes stay inside float32's range
        assert all(abs(pt[0]) <= np.finfo(np.float32).max
                   for pt in testing.reference_points("bce-gradient", points=0,
                                                      dtype=np.float32))


class TestAdapters:
    def test_torch_autograd(self):
        torch = pytest.importorskip("torch")
        F = torch.nn.functional

        def stable(z, y):
            return -(y * F.logsigmoid(z) + (1 - y) * F.logsigmoid(-z))

        assert_matches_reference(stable, "bce-gradient", grad="autodiff", framework="torch",
                                 points=POINTS)
        with pytest.raises(AssertionError) as exc:
            assert_matches_reference(
                lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction="none"),
                "bce-gradient", grad="autodiff", framework="torch", points=POINTS)
        assert "z=37.0, y=1.0" in _failure(exc)  # the gradient returned as 0

    def test_jax_grad_in_float64(self):
        pytest.importorskip("jax")
        import jax
        import jax.numpy as jnp

        def stable(z, y):
            return -(y * jax.nn.log_sigmoid(z) + (1 - y) * jax.nn.log_sigmoid(-z))

        f = testing.jax_function(stable)
        out = f(np.array([40.0]), np.array([1.0]))
        assert out.dtype == np.float64 and out[0] == pytest.approx(math.exp(-40), rel=1e-15)
        assert not jax.config.jax_enable_x64  # only inside the adapter
        report = check_reference(stable, "bce-gradient", grad="autodiff", framework="jax",
                                 points=POINTS)
        # XLA on CPU flushes subnormal results to zero: e^{-709} comes back as 0
        assert {f.input for f in report.value.failures} <= {
            "z=-709.0, y=0.0", "z=709.0, y=1.0", "z=-710.0, y=0.0", "z=710.0, y=1.0"}
        assert jnp.asarray(1.0).dtype == jnp.float32

    def test_autodiff_needs_a_framework(self):
        with pytest.raises(ValueError, match="framework='torch' or 'jax'"):
            check_reference(numeric.log_sigmoid, "bce-gradient", grad="autodiff")


class TestArguments:
    def test_unknown_name_suggests(self):
        with pytest.raises(KeyError, match="did you mean bce-gradient"):
            check_reference(numeric.log_sigmoid, "bce-gradiant")

    def test_no_gradient_reference(self):
        with pytest.raises(ValueError, match="no gradient reference"):
            check_reference(numeric.gaussian_kl, "gaussian-kl", grad=numeric.gaussian_kl)

    def test_integer_labels_need_labels(self):
        with pytest.raises(ValueError, match="integer_labels"):
            check_reference(numeric.gaussian_kl, "gaussian-kl", integer_labels=True)

    def test_names_cover_the_calling_convention_table(self):
        doc = testing.__doc__
        for name in testing.reference_names():
            assert name in doc

    def test_importing_testing_does_not_import_sympy_or_hypothesis(self, pytester):
        result = pytester.run(sys.executable, "-c",
                              "import sys, derive.testing; "
                              "print(sorted(m for m in ('sympy', 'hypothesis', 'pytest', "
                              "'torch', 'jax') if m in sys.modules))")
        assert result.ret == 0
        assert result.outlines[-1] == "[]"


class TestReferenceValues:
    """The references themselves: definitions at adaptive precision, gradients by
    central differences — checked here against closed forms at 30 digits."""

    @pytest.mark.parametrize("pt", [(37.0, 1.0), (700.0, 1.0), (-745.0, 0.0), (1e300, 0.5),
                                    (-1e300, 1.0), (1e-300, 0.25), (0.0, 0.5)])
    def test_bce_gradient_is_sigmoid_minus_y(self, pt):
        z, y = pt
        g, _ = _reference.evaluate(_reference.REFERENCES["bce-gradient"].grad, pt)
        with mpmath.workdps(60):
            exact = 1 / (1 + mpmath.exp(-mpmath.mpf(z))) - mpmath.mpf(y) if y != 1 else \
                -1 / (1 + mpmath.exp(mpmath.mpf(z)))
            assert abs(g[0] - exact) <= mpmath.mpf(10) ** -30 * abs(exact) or exact == g[0]

    def test_softmax_gradient_is_p_minus_y_at_offsets(self):
        ref = _reference.REFERENCES["softmax-ce-gradient"]
        for z in ([1e16, 1e16, 1e16], [40.0, 0.0, 0.0], [1e300, -1e300, 0.0]):
            y = [1.0, 0.0, 0.0]
            g, _ = _reference.evaluate(ref.grad, (np.array(z), np.array(y)))
            with mpmath.workdps(80):
                zz = [mpmath.mpf(v) for v in z]
                p = _reference._softmax(zz)
                exact = [pi - yi for pi, yi in zip(p, y, strict=True)]
            for a, b in zip(g, exact, strict=True):
                assert float(a) == float(b)

    def test_log3_at_offset_1e16(self):
        v, _ = _reference.evaluate(_reference.softmax_ce, ([1e16] * 3, 0))
        assert float(v[0]) == math.log(3)

    def test_agrees_with_derive_oracle(self):
        oracle = pytest.importorskip("derive.oracle")
        for name in ("bce-gradient", "softmax-ce-gradient"):
            if name not in oracle.ORACLES:
                pytest.skip(f"no oracle registered for {name}")
            ref = _reference.REFERENCES[name]
            for pt in testing.reference_points(name, points=3)[-3:]:
                ours, _ = _reference.evaluate(ref.grad, pt)
                theirs = oracle.reference(name, *pt, dps=60)
                theirs = theirs if isinstance(theirs, list) else [theirs]
                for a, b in zip(ours, theirs, strict=True):
                    assert abs(a - b) <= 1e-25 * max(1, abs(b))


class TestStrategies:
    @settings(max_examples=40)
    @given(strategies.distribution_pairs())
    def test_pairs_are_exact_distributions(self, pq):
        p, q = pq
        assert p.sum() == 1 and q.sum() == 1 and (p >= 0).all() and (q >= 0).all()
        assert numeric.kl_divergence(p, q) >= 0

    @settings(max_examples=40)
    @given(strategies.logits_and_targets())
    def test_numeric_softmax_ce_is_finite(self, zy):
        z, y = zy
        assert np.isfinite(numeric.softmax_cross_entropy(z[None], y[None])).all()
        assert np.isfinite(numeric.softmax_cross_entropy_grad(z[None], y[None])).all()

    @settings(max_examples=40)
    @given(strategies.gaussian_parameters(), strategies.logit_scalars(dtype=np.float32))
    def test_gaussian_and_float32_domains(self, g, z):
        assert g[1] > 0 and g[3] > 0
        assert numeric.gaussian_kl(*g) >= 0
        assert np.isfinite(np.float32(z))


class TestPytestPlugin:
    TEST_FILE = """
        import sys

        def test_plain():
            assert 'derive.testing' not in sys.modules
            assert 'sympy' not in sys.modules

        def test_arithmetic():
            assert 1 + 1 == 2
    """

    def test_run_without_the_fixture_is_unchanged(self, pytester):
        pytester.makepyfile(self.TEST_FILE)
        with_plugin = pytester.runpytest_subprocess("-q", "-p", "lossproof")
        without = pytester.runpytest_subprocess("-q", "-p", "no:lossproof")
        assert with_plugin.ret == without.ret == 0
        assert with_plugin.parseoutcomes() == without.parseoutcomes() == {"passed": 2}

        def body(r):  # the output without the timing line
            return [ln for ln in r.outlines if " in " not in ln]

        assert body(with_plugin) == body(without)

    def test_fixture_and_points_option(self, pytester):
        pytester.makepyfile("""
            import numeric

            def test_numeric_bce(lossproof_reference):
                report = lossproof_reference(numeric.binary_cross_entropy_with_logits,
                                             "bce-gradient")
                assert report.points > 200  # adversarial + 7 random

            def test_naive(lossproof_reference):
                import numpy as np
                with np.errstate(all="ignore"):
                    lossproof_reference(lambda z, y: np.log1p(np.exp(z)) - y * z,
                                        "bce-gradient")
        """)
        result = pytester.runpytest_subprocess("-q", "-p", "lossproof",
                                               "--lossproof-points", "7")
        result.assert_outcomes(passed=1, failed=1)
        result.stdout.fnmatch_lines(["*bce-gradient (value*", "*input*expected*got*ULP*"])
        assert "--lossproof-points" in pytester.runpytest_subprocess(
            "--help", "-p", "lossproof").stdout.str()


def bce(z, y):
    return numeric.binary_cross_entropy_with_logits(z, y)


class TestOutputsMustBeRealArrays:
    """A complex, bool, object, text, missing, ragged or masked output is refused with a
    TypeError naming it — casting it to float would check a number fn never returned."""

    @pytest.mark.parametrize("wrap, kind", [
        (lambda v: v + 5j, "complex"),
        (lambda v: v + 0j, r"complex\).*a zero imaginary part is still complex"),
        (lambda v: [complex(x) for x in v], "complex"),
        (lambda v: v > 0, "bool"),
        (lambda v: v.astype(object), "object"),
        (lambda v: v.astype(str), "str"),
        (lambda v: None, "NoneType"),
        (lambda v: "0.5", "str"),
        (lambda v: [list(v), [1.0, 2.0]], "not an array"),
        (lambda v: np.ma.masked_array(v, mask=np.ones(v.shape, bool)), "masked"),
    ], ids=["complex", "complex-zero-imaginary", "complex-list", "bool", "object", "str-array",
            "None", "str", "ragged", "masked"])
    def test_refused_outputs_of_fn(self, wrap, kind):
        with pytest.raises(TypeError, match=f"^the output of fn: .*{kind}"):
            assert_matches_reference(lambda z, y: wrap(bce(z, y)), "bce-gradient", points=0)

    def test_refused_output_of_grad_is_named(self):
        with pytest.raises(TypeError, match=r"^the output of grad: dtype complex128"):
            assert_matches_reference(
                bce, "bce-gradient", points=0,
                grad=lambda z, y: numeric.binary_cross_entropy_with_logits_grad(z, y) + 0j)

    def test_a_complex_torch_tensor_is_refused(self):
        torch = pytest.importorskip("torch")

        def loss(z, y):
            return torch.nn.functional.binary_cross_entropy_with_logits(
                z, y, reduction="none").to(torch.complex128)

        with pytest.raises(TypeError, match=r"^the output of fn: dtype complex128"):
            assert_matches_reference(loss, "bce-gradient", framework="torch", points=0)

    def test_real_arrays_of_any_float_dtype_pass(self):
        assert_matches_reference(lambda z, y: list(bce(z, y)), "bce-gradient", points=0)
        unmasked = np.ma.masked_array  # no entry masked: its values are the results
        assert_matches_reference(lambda z, y: unmasked(bce(z, y)), "bce-gradient", points=0)
