"""Tests for numeric._losses: mpmath oracles from the definitions, edges, properties, bad input.

References are the *definitions* (``-(y log p + (1 - y) log(1 - p))``, ``log Σ e^{z_k} -
z_t``, ``T² Σ q log(q/p)``, ...) evaluated by mpmath with at least 60 digits (more where a
definition cancels: ``dps_for``/``dps_for_row``); gradients are checked against
``mpmath.diff`` of the defining loss.  Budgets: 4 ULP, or relative error 4 eps kappa where
the output is ill-conditioned (``cond_budget``), float32 and float64 separately.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from numeric._losses import (
    _bce_with_logits_value_and_grad,
    _softmax_cross_entropy_value_and_grad,
    binary_cross_entropy,
    binary_cross_entropy_grad,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad,
    distillation_loss,
    distillation_loss_grad,
    mse,
    mse_grad,
    smooth_labels,
    softmax_cross_entropy,
    softmax_cross_entropy_grad,
)
from numeric._validate import normalisation_tolerance
from tests.oracle import (
    DPS,
    assert_ulp,
    cond_budget,
    dps_for,
    dps_for_row,
    mp_partial,
    spanning_floats,
    ulp_error,
)

DTYPES = [np.float32, np.float64]
BUDGET = 4.0  # ULP: the documented budget of every function in the module
mpf = mpmath.mpf


def _f(v) -> mpmath.mpf:
    return mpf(float(v))


# =========================================================================================
# Binary cross-entropy on probabilities
# =========================================================================================


def _mp_bce(p, y):
    """-(y log p + (1 - y) log(1 - p)), each term 0 where its weight is 0 (0 log 0 = 0)."""
    a = y * mpmath.log(p) if y != 0 else mpf(0)
    b = (1 - y) * mpmath.log(1 - p) if y != 1 else mpf(0)
    return -(a + b)


# log(1 - p) at p = 1e-300 must see the 1e-300: 60 digits plus the 330 below 1
BCE_DPS = DPS + 340


def _prob_points(dtype) -> tuple[np.ndarray, np.ndarray]:
    one = dtype(1)
    ps = [0.0, 1e-300, 1e-40, 1e-8, 0.1, 0.25, 0.5, 0.7, 1 - 1e-8, 1.0]
    ps += [float(np.nextafter(one, dtype(0))), float(np.finfo(dtype).tiny)]
    ys = [0.0, 1.0, 0.5, 0.3, 1e-10, 1 - 1e-7, 0.1]
    pp, yy = np.meshgrid(np.array(ps, dtype), np.array(ys, dtype))
    return pp.ravel(), yy.ravel()


class TestBinaryCrossEntropy:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_mpmath(self, dtype):
        p, y = _prob_points(dtype)
        got = binary_cross_entropy(p, y)
        assert got.dtype == dtype
        with mpmath.workdps(BCE_DPS):
            exact = [_mp_bce(_f(a), _f(b)) for a, b in zip(p, y, strict=True)]
        assert_ulp(got, exact, dtype, BUDGET, list(zip(p, y, strict=True)), "bce")

    def test_zero_weight_terms_contribute_zero(self):
        np.testing.assert_array_equal(binary_cross_entropy([0.0, 1.0], [0.0, 1.0]), [0, 0])

    def test_infinite_where_the_label_is_impossible(self):
        got = binary_cross_entropy([0.0, 1.0, 0.0], [1.0, 0.0, 1e-300])
        np.testing.assert_array_equal(got, [np.inf, np.inf, np.inf])

    def test_no_clipping(self):
        # p = 1e-300, y = 1: -log p = 690.8; eps-clipping (sklearn) gives 36.04
        assert float(binary_cross_entropy(1e-300, 1.0)) == pytest.approx(690.7755278982137)

    def test_integer_labels_keep_float32(self):
        assert binary_cross_entropy(np.float32([0.5]), [1]).dtype == np.float32


class TestBinaryCrossEntropyGrad:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_mpmath_diff_of_the_loss(self, dtype):
        p, y = _prob_points(dtype)
        inner = (p > 0) & (p < 1)
        p, y = p[inner], y[inner]
        got = binary_cross_entropy_grad(p, y)
        assert got.dtype == dtype
        with mpmath.workdps(BCE_DPS):
            exact = [
                mp_partial(lambda q, b=b: _mp_bce(q, _f(b)), _f(a))
                for a, b in zip(p, y, strict=True)
            ]
        assert_ulp(got, exact, dtype, BUDGET, list(zip(p, y, strict=True)), "bce grad")

    def test_ends(self):
        got = binary_cross_entropy_grad([0.0, 0.0, 1.0, 1.0], [0.0, 0.5, 1.0, 0.5])
        np.testing.assert_array_equal(got, [1.0, -np.inf, -1.0, np.inf])

    def test_single_fraction_beats_the_difference(self):
        # p = y: the gradient is exactly 0; -y/p + (1-y)/(1-p) leaves rounding noise
        p = np.float64(0.1)
        assert float(binary_cross_entropy_grad(p, p)) == 0.0
        p, y = np.float64(0.3), np.float64(0.3) + 2**-54
        with mpmath.workdps(DPS):
            exact = mp_partial(lambda q: _mp_bce(q, _f(y)), _f(p))
        assert ulp_error(binary_cross_entropy_grad(p, y), exact) <= BUDGET
        assert ulp_error(-y / p + (1 - y) / (1 - p), exact) > 1e3


# =========================================================================================
# Binary cross-entropy on logits
# =========================================================================================


def _mp_sigmoid(z):
    return 1 / (1 + mpmath.exp(-z))


def _mp_bce_logits(z, y):
    """-(y log σ(z) + (1 - y) log(1 - σ(z))), the definition.

    For |z| > 800 no feasible precision resolves 1 - σ(z) (e^-|z| < 1e-347), and there the
    identity 1 - σ(z) = σ(-z) is used; below, the digits of ``dps_for(spread=|z|)`` do.
    """
    s = _mp_sigmoid(z)
    one_minus = 1 - s if abs(z) <= 800 else _mp_sigmoid(-z)
    a = y * mpmath.log(s) if y != 0 else mpf(0)
    b = (1 - y) * mpmath.log(one_minus) if y != 1 else mpf(0)
    return -(a + b)


def _logit_points(dtype, stride: int) -> tuple[np.ndarray, np.ndarray]:
    fi = np.finfo(dtype)
    branch = []
    for c in (0.0, 1e-300, 1.0, 16.6, 36.7, 88.7, 103.9, 709.7, 745.1):
        c = dtype(min(c, float(fi.max)))
        branch += [c, np.nextafter(c, dtype(np.inf)), np.nextafter(c, dtype(0))]
    branch = np.array(branch, dtype)
    zs = np.concatenate([spanning_floats(dtype)[::stride], branch, -branch])
    ys = np.array([0.0, 1.0, 0.5, 1 - 2.0**-20, 1e-7], dtype)
    zz, yy = np.meshgrid(zs, ys)
    return zz.ravel().astype(dtype), yy.ravel()


def _mp_each(fn, z, y):
    out = []
    for a, b in zip(z, y, strict=True):
        with mpmath.workdps(dps_for(spread=abs(float(a)))):
            out.append(fn(_f(a), _f(b)))
    return out


class TestBinaryCrossEntropyWithLogits:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_mpmath(self, dtype):
        z, y = _logit_points(dtype, stride=3)
        got = binary_cross_entropy_with_logits(z, y)
        assert got.dtype == dtype
        exact = _mp_each(_mp_bce_logits, z, y)
        assert_ulp(got, exact, dtype, BUDGET, list(zip(z, y, strict=True)), "bce logits")

    def test_keeps_the_exponential_tail(self):
        # torch returns 0 for y = 0, z <= -36.7 and sklearn caps the loss at 36.04
        got = binary_cross_entropy_with_logits([-40.0, -700.0, 1000.0, 1e300], [0, 0, 0, 0])
        exact = _mp_each(_mp_bce_logits, [-40.0, -700.0, 1000.0, 1e300], [0.0] * 4)
        assert_ulp(got, exact, np.float64, BUDGET, what="tail")
        assert float(got[0]) > 0 and float(got[1]) > 0 and float(got[3]) == 1e300

    def test_soft_label_near_one_beats_optax_form(self):
        z, y = np.float64(123456.789), np.float64(0.9999991)
        exact = _mp_each(_mp_bce_logits, [z], [y])[0]
        assert ulp_error(binary_cross_entropy_with_logits(z, y), exact) <= BUDGET
        naive = max(z, 0.0) - z * y + np.log1p(np.exp(-abs(z)))  # TensorFlow / optax
        assert ulp_error(naive, exact) > 1e3

    def test_value_and_grad_agree_with_separate_calls(self):
        z = np.random.default_rng(0).standard_normal(1000) * 50
        y = np.random.default_rng(1).random(1000)
        loss, grad = _bce_with_logits_value_and_grad(z, y)
        np.testing.assert_array_equal(loss, binary_cross_entropy_with_logits(z, y))
        np.testing.assert_array_equal(grad, binary_cross_entropy_with_logits_grad(z, y))

    def test_rewrite_converts_back_exactly(self):
        sp = pytest.importorskip("sympy")
        y = sp.Symbol("y")
        for sign in (1, -1):
            z = sp.Symbol("z", positive=True) * sign
            sig = 1 / (1 + sp.exp(-z))
            definition = -(y * sp.log(sig) + (1 - y) * sp.log(1 - sig))
            w = 1 - y if sign > 0 else y
            stable = sp.log(1 + sp.exp(-sp.Abs(z))) + w * sp.Abs(z)
            diff = sp.expand_log(sp.simplify(definition - stable), force=True)
            assert sp.simplify(diff) == 0

    @given(
        st.floats(-1e300, 1e300, allow_nan=False),
        st.floats(0.0, 1.0, allow_nan=False),
    )
    @example(-1e300, 0.5)
    @example(36.7, 1.0)
    def test_loss_nonnegative_and_gradient_bounded(self, z, y):
        loss = float(binary_cross_entropy_with_logits(z, y))
        grad = float(binary_cross_entropy_with_logits_grad(z, y))
        assert 0.0 <= loss < np.inf
        assert -1.0 <= grad <= 1.0


class TestBinaryCrossEntropyWithLogitsGrad:
    @given(
        st.floats(-800.0, 800.0, allow_nan=False),
        st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0),
    )
    @example(40.0, 1.0)
    @example(-745.0, 0.0)
    @example(0.0, 0.5)
    def test_equals_mpmath_diff_of_the_loss(self, z, y):
        got = float(binary_cross_entropy_with_logits_grad(z, y))
        with mpmath.workdps(dps_for(spread=abs(z))):
            exact = mp_partial(lambda v: _mp_bce_logits(v, _f(y)), _f(z), relative=True)
            s = _mp_sigmoid(_f(z))
            sens = abs(_f(z)) * s * (1 - s) + _f(y)  # S = Σ |x ∂g/∂x|
            kappa = sens / abs(exact) if exact else mpmath.inf
        budget = cond_budget([exact], [kappa], np.float64, sens=[sens])[0]
        assert ulp_error(got, exact) <= budget


    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_mpmath_diff_of_the_loss(self, dtype):
        z, y = _logit_points(dtype, stride=9)
        got = binary_cross_entropy_with_logits_grad(z, y)
        assert got.dtype == dtype
        exact, kappa, sens = [], [], []
        for a, b in zip(z, y, strict=True):
            with mpmath.workdps(dps_for(spread=abs(float(a)))):
                za, yb = _f(a), _f(b)
                g = mp_partial(lambda v, yb=yb: _mp_bce_logits(v, yb), za, relative=True)
                s = _mp_sigmoid(za)
                # kappa = S / |σ(z) - y|, S = |z| σ(z) σ(-z) + y
                sens.append(abs(za) * s * (1 - s) + yb)
                kappa.append(sens[-1] / abs(g) if g != 0 else mpmath.inf)
                exact.append(g)
        budget = cond_budget(exact, kappa, dtype, BUDGET, sens=sens)
        assert_ulp(got, exact, dtype, budget, list(zip(z, y, strict=True)), "bce logits grad")

    def test_confident_correct_keeps_its_gradient(self):
        # σ(z) - y rounds to 0 beyond z = 36.7 (scipy, numpy, torch); the gradient is -e^-z
        z = np.array([40.0, 700.0])
        got = binary_cross_entropy_with_logits_grad(z, 1.0)
        with mpmath.workdps(400):
            exact = [-1 / (1 + mpmath.exp(_f(v))) for v in z]
        assert_ulp(got, exact, np.float64, BUDGET, what="confident grad")


# =========================================================================================
# Softmax cross-entropy
# =========================================================================================


def _mp_ce_row(row, y, t):
    """Σ_k y_k (log Σ_j e^{z_j / T} - z_k / T) — the definition, 0 · ∞ = 0."""
    t = _f(t)
    z = [_f(v) / t for v in row]
    lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in z))
    return mpmath.fsum(yk * (lse - zk) for yk, zk in zip(y, z, strict=True) if yk != 0)


def _target_vector(k, target, eps, probs=None):
    """The (smoothed) target distribution in mpmath: (1 - eps) y + eps / K."""
    eps = _f(eps)
    if probs is None:
        y = [mpf(1) if j == target else mpf(0) for j in range(k)]
    else:
        y = [_f(v) for v in probs]
    return [(1 - eps) * v + eps / k for v in y] if eps else y


def _mp_softmax_list(row, t):
    t = _f(t)
    z = [_f(v) / t for v in row]
    e = [mpmath.exp(v) for v in z]
    total = mpmath.fsum(e)
    return [v / total for v in e]


def _ce_sens(row, y, t):
    """S = sum_k |z_k / T| |p_k - y_k| (the logits' sensitivity, the numerator of kappa)."""
    p = _mp_softmax_list(row, t)
    return mpmath.fsum(
        abs(_f(v) / _f(t)) * abs(pk - yk)
        for v, pk, yk in zip(row, p, y, strict=True)
        if np.isfinite(v)
    )


def _ce_kappa(row, y, t, loss):
    """S / L (the logits' relative condition number; inf at an exact 0)."""
    num = _ce_sens(row, y, t)
    return num / loss if loss != 0 else mpmath.inf


def _ce_cases(dtype, rng) -> list[tuple[np.ndarray, int]]:
    """(row, target) pairs: magnitudes 1e-300..1e300, offsets, near-ties, masks, confident."""
    big = float(np.finfo(dtype).max) / 8
    cases = []
    for k in (2, 3, 7):
        for scale in (1e-300, 1e-8, 1.0, 30.0, 1e3, 1e300):
            row = rng.standard_normal(k) * min(scale, big)
            cases += [(row, int(np.argmax(row))), (row, int(rng.integers(k)))]
    base = rng.standard_normal(4)
    for offset in (1e8, 1e16, 1e30, 1e300):
        cases.append((base + min(offset, big), 1))
    one = dtype(1)
    cases += [
        (np.array([40.0, 0.0, -3.0]), 0),  # confident correct: loss 4.3e-18
        (np.array([80.0, 0.0]), 0),  # loss 1.8e-35
        (np.array([700.0, 0.0]), 0),  # loss 1e-304
        (np.array([1.0, float(np.nextafter(one, dtype(2))), 1.0]), 1),  # near-ties
        (np.array([-np.inf, 0.0, 1.0]), 2),  # a masked class
        (np.array([big, -big]), 1),
        (np.array([-big, big, 0.0]), 1),
    ]
    return [(np.asarray(r, np.float64).astype(dtype), t) for r, t in cases]


class TestSoftmaxCrossEntropy:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize(("temperature", "eps"), [(1.0, 0.0), (0.37, 0.0), (4.0, 0.1)])
    def test_integer_labels_match_mpmath(self, dtype, temperature, eps):
        cases = _ce_cases(dtype, np.random.default_rng(11))
        got, exact, kappa, sens = [], [], [], []
        for row, target in cases:
            got.append(
                softmax_cross_entropy(
                    row, target, temperature=temperature, label_smoothing=eps
                ).item()
            )
            y = _target_vector(len(row), target, eps)
            with mpmath.workdps(dps_for_row(np.asarray(row, float) / temperature)):
                loss = _mp_ce_row(row, y, temperature)
                exact.append(loss)
                kappa.append(_ce_kappa(row, y, temperature, loss))
                sens.append(_ce_sens(row, y, temperature))
        assert softmax_cross_entropy(cases[0][0], 0).dtype == dtype
        budget = cond_budget(exact, kappa, dtype, BUDGET, sens=sens)
        assert_ulp(got, exact, dtype, budget, cases, f"CE T={temperature} eps={eps}")

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_probability_targets_match_mpmath(self, dtype):
        rng = np.random.default_rng(12)
        got, exact, kappa, inputs, sens = [], [], [], [], []
        for row, target in _ce_cases(dtype, rng):
            probs = rng.dirichlet(np.ones(len(row))).astype(dtype)
            probs[~np.isfinite(row)] = 0  # a masked class gets no target weight
            if target != np.argmax(row):  # keep confident rows confident
                probs /= probs.sum(dtype=np.float64)
            else:
                probs[:] = 0
                probs[target] = 1
            got.append(softmax_cross_entropy(row, probs).item())
            y = _target_vector(len(row), None, 0.0, probs)
            with mpmath.workdps(dps_for_row(row)):
                loss = _mp_ce_row(row, y, 1.0)
                exact.append(loss)
                kappa.append(_ce_kappa(row, y, 1.0, loss))
                sens.append(_ce_sens(row, y, 1.0))
            inputs.append((row, probs))
        budget = cond_budget(exact, kappa, dtype, BUDGET, sens=sens)
        assert_ulp(got, exact, dtype, budget, inputs, "CE probability targets")

    def test_common_offset_gives_log_k_within_budget(self):
        # scipy's log_softmax and optax give 2.0 here.  The loss is log1p(2) computed by
        # NumPy, whose last bit depends on the SIMD level: correctly rounded with AVX-512
        # (1.0986122886681098), one ulp under with AVX2 or baseline x86-64 kernels
        # (1.0986122886681096, 0.8 ulp), so the claim is the documented 4-ulp budget
        got = softmax_cross_entropy(np.zeros((1, 3)) + 1e16, [2])
        assert ulp_error(got.item(), mpmath.log(3)) <= BUDGET

    def test_confident_correct_loss_is_not_zero(self):
        z = np.array([[40.0, 0.0], [80.0, 0.0]])
        got = softmax_cross_entropy(z, [0, 0])
        with mpmath.workdps(DPS):
            exact = [mpmath.log1p(mpmath.exp(-40)), mpmath.log1p(mpmath.exp(-80))]
        assert_ulp(got, exact, np.float64, BUDGET, what="confident")
        # logsumexp(z) - z_t (every peer) returns 0
        lse = z.max(axis=1) + np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1))
        assert np.all(lse - z[:, 0] == 0.0)

    def test_many_classes(self):
        rng = np.random.default_rng(13)
        rows = [rng.standard_normal(10_000) * 4, rng.standard_normal(10_000) + 1e8]
        targets = [int(np.argmax(rows[0])), 17]
        got = softmax_cross_entropy(np.stack(rows), targets)
        exact, kappa, sens = [], [], []
        for row, t in zip(rows, targets, strict=True):
            y = _target_vector(len(row), t, 0.0)
            with mpmath.workdps(dps_for_row(row)):
                loss = _mp_ce_row(row, y, 1.0)
                exact.append(loss)
                kappa.append(_ce_kappa(row, y, 1.0, loss))
                sens.append(_ce_sens(row, y, 1.0))
        budget = cond_budget(exact, kappa, np.float64, BUDGET, sens=sens)
        assert_ulp(got, exact, np.float64, budget, what="CE K=1e4")

    def test_masked_target_is_infinite_masked_other_is_ignored(self):
        z = np.array([[0.0, -np.inf, 1.0], [0.0, -np.inf, 1.0]])
        got = softmax_cross_entropy(z, [1, 2])
        assert got[0] == np.inf
        assert got[1] == pytest.approx(float(softmax_cross_entropy([0.0, 1.0], 1)), rel=1e-15)

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_normalisation_tolerance(self, dtype):
        # targets may be off from 1 by the documented tolerance, not by twice it
        tol = normalisation_tolerance(4, dtype)
        z = np.zeros((1, 4), dtype)
        ok = np.array([[0.25, 0.25, 0.25, 0.25 + tol / 2]], np.float64).astype(dtype)
        softmax_cross_entropy(z, ok)
        bad = np.array([[0.25, 0.25, 0.25, 0.25 + 2 * tol]], np.float64).astype(dtype)
        with pytest.raises(ValueError, match="target: probabilities must sum to 1"):
            softmax_cross_entropy(z, bad)

    def test_one_hot_probabilities_equal_labels(self):
        z = np.random.default_rng(14).standard_normal((6, 5)) * 5
        t = np.arange(6) % 5
        np.testing.assert_allclose(
            softmax_cross_entropy(z, np.eye(5)[t]), softmax_cross_entropy(z, t), rtol=4e-16
        )

    def test_label_smoothing_equals_smoothed_targets(self):
        z = np.random.default_rng(15).standard_normal((6, 5)) * 5
        t = np.arange(6) % 5
        a = softmax_cross_entropy(z, t, label_smoothing=0.2)
        b = softmax_cross_entropy(z, smooth_labels(t, 0.2, num_classes=5))
        np.testing.assert_allclose(a, b, rtol=1e-15)

    def test_axis_and_broadcast(self):
        z = np.random.default_rng(16).standard_normal((4, 3, 5))
        t = np.array([[0, 1, 2, 0, 1]] * 4)
        got = softmax_cross_entropy(z, t, axis=1)
        assert got.shape == (4, 5)
        np.testing.assert_array_equal(got, softmax_cross_entropy(np.moveaxis(z, 1, -1), t))
        # one label for every example
        np.testing.assert_array_equal(
            softmax_cross_entropy(z, 2, axis=1),
            softmax_cross_entropy(z, np.full((4, 5), 2), axis=1),
        )

    def test_integer_labels_keep_float32(self):
        z = np.zeros((2, 3), np.float32)
        assert softmax_cross_entropy(z, [0, 1]).dtype == np.float32
        assert softmax_cross_entropy_grad(z, [0, 1]).dtype == np.float32

    @given(
        st.lists(st.integers(-4000, 4000), min_size=2, max_size=6),
        st.integers(-(2**40), 2**40),
        st.data(),
    )
    @example([0, 0, 0], 2**40, None)
    def test_shift_invariant(self, ints, shift, data):
        # z/64 + c is exact, so shifting must not change a single bit of loss or gradient
        z = np.array(ints, dtype=np.float64) / 64
        t = 0 if data is None else data.draw(st.integers(0, len(ints) - 1))
        a = _softmax_cross_entropy_value_and_grad(z, t)
        b = _softmax_cross_entropy_value_and_grad(z + shift, t)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])

    @given(
        st.lists(
            st.sampled_from([1e300, -1e300, 0.0, 1.0, -2e299]) | st.floats(-1e300, 1e300),
            min_size=2,
            max_size=6,
        ),
        st.data(),
    )
    @example([1e300, -1e300], None)
    @example([-1e300, 1e300, 1e300], None)
    def test_finite_loss_and_gradient_at_huge_logits(self, row, data):
        t = 0 if data is None else data.draw(st.integers(0, len(row) - 1))
        loss, grad = _softmax_cross_entropy_value_and_grad(np.array(row), t)
        assert np.isfinite(loss).all() and loss >= 0
        assert np.isfinite(grad).all()
        assert abs(grad.sum()) <= 4 * np.finfo(float).eps


class TestSoftmaxCrossEntropyGrad:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize(
        ("temperature", "eps", "probs"), [(1.0, 0.0, False), (0.37, 0.1, False), (2.0, 0.0, True)]
    )
    def test_matches_mpmath_diff_of_the_loss(self, dtype, temperature, eps, probs):
        rng = np.random.default_rng(21)
        got, exact, kappa, inputs, sens = [], [], [], [], []
        for row, target in _ce_cases(dtype, rng)[::2]:
            k = len(row)
            if eps and not np.isfinite(row).all():
                continue  # smoothing gives a masked class weight: the loss is +inf
            if k > 3 and np.abs(row[np.isfinite(row)]).max() > 1e10:
                continue  # keep mpmath.diff at 1000+ digits to a few small rows
            p_target = None
            if probs:
                p_target = rng.dirichlet(np.ones(k)).astype(dtype)
                p_target[~np.isfinite(row)] = 0
                p_target /= p_target.sum(dtype=np.float64)
            target_arg = target if p_target is None else p_target
            g = softmax_cross_entropy_grad(
                row, target_arg, temperature=temperature, label_smoothing=eps
            )
            y = _target_vector(k, target, eps, p_target)
            with mpmath.workdps(dps_for_row(np.asarray(row, float) / temperature)):
                zs = [_f(v) for v in row]
                p = _mp_softmax_list(row, temperature)
                tt = _f(temperature)
                for j in range(k):
                    if not np.isfinite(row[j]):
                        assert g[j] == pytest.approx(-float(y[j]) / temperature, rel=1e-6)
                        continue

                    def loss_j(v, j=j, zs=zs, tt=tt, y=y):
                        zz = list(zs)
                        zz[j] = v
                        lse = mpmath.log(mpmath.fsum(mpmath.exp(w / tt) for w in zz))
                        return mpmath.fsum(
                            yk * (lse - zk / tt)
                            for yk, zk in zip(y, zz, strict=True)
                            if yk != 0
                        )

                    dj = mp_partial(loss_j, zs[j])
                    # kappa_j = (sum_i |z_i/T| p_j |δ_ij - p_i| + |y_j|) / |p_j - y_j|
                    num = mpmath.fsum(
                        abs(zs[i] / tt) * p[j] * abs((i == j) - p[i])
                        for i in range(k)
                        if np.isfinite(row[i])
                    )
                    diff = abs(p[j] - y[j])
                    sens.append(num + abs(y[j]))
                    kappa.append(sens[-1] / diff if diff != 0 else mpmath.inf)
                    exact.append(dj)
                    got.append(float(g[j]))
                    inputs.append((row, target, j))
        assert g.dtype == dtype
        budget = cond_budget(exact, kappa, dtype, BUDGET, sens=sens)
        assert_ulp(got, exact, dtype, budget, inputs, "CE grad")

    @given(
        st.lists(st.floats(-60.0, 60.0, allow_nan=False), min_size=2, max_size=4),
        st.data(),
    )
    @example([40.0, 0.0], None)
    @example([1e-300, -1e-300, 0.0], None)
    def test_equals_mpmath_diff_of_the_loss(self, row, data):
        t = 0 if data is None else data.draw(st.integers(0, len(row) - 1))
        got = softmax_cross_entropy_grad(np.array(row), t)
        y = _target_vector(len(row), t, 0.0)
        with mpmath.workdps(dps_for_row(row)):
            zs = [_f(v) for v in row]
            p = _mp_softmax_list(row, 1.0)
            for j in range(len(row)):

                def loss_j(v, j=j, zs=zs):
                    zz = list(zs)
                    zz[j] = v
                    return mpmath.log(mpmath.fsum(mpmath.exp(w) for w in zz)) - zz[t]

                exact = mp_partial(loss_j, zs[j])
                num = mpmath.fsum(abs(zs[i]) * p[j] * abs((i == j) - p[i]) for i in range(len(row)))
                diff = abs(p[j] - y[j])
                kappa = (num + y[j]) / diff if diff != 0 else mpmath.inf
                budget = cond_budget([exact], [kappa], np.float64, sens=[num + y[j]])[0]
                assert ulp_error(got[j], exact) <= budget, (j, got[j], exact)

    def test_confident_correct_gradient_is_minus_the_rest(self):
        # p_t - 1 = -e^-40/(1 + e^-40): softmax(z) - onehot gives 0 (every peer)
        g = softmax_cross_entropy_grad([[40.0, 0.0]], [0])
        with mpmath.workdps(DPS):
            r = mpmath.exp(-40) / (1 + mpmath.exp(-40))
        assert_ulp(g.ravel(), [-r, r], np.float64, BUDGET, what="confident grad")

    def test_temperature_factor(self):
        z = np.random.default_rng(22).standard_normal((3, 4))
        a = softmax_cross_entropy_grad(z, [0, 1, 2], temperature=2.0)
        b = softmax_cross_entropy_grad(z / 2, [0, 1, 2]) / 2  # exact scalings
        np.testing.assert_array_equal(a, b)

    def test_shape_and_axis(self):
        z = np.random.default_rng(23).standard_normal((4, 3, 5))
        t = np.zeros((4, 5), int)
        g = softmax_cross_entropy_grad(z, t, axis=1)
        assert g.shape == z.shape
        np.testing.assert_array_equal(
            g, np.moveaxis(softmax_cross_entropy_grad(np.moveaxis(z, 1, -1), t), -1, 1)
        )

    def test_rewrite_converts_back_exactly(self):
        # −log softmax_t = (m − z_t) + log(1 + Σ_{k≠k*} e^{z_k − m}) with m = z_{k*}
        sp = pytest.importorskip("sympy")
        z0, z1, z2 = sp.symbols("z0 z1 z2", real=True)
        definition = sp.log(sp.exp(z0) + sp.exp(z1) + sp.exp(z2)) - z1
        m = z0  # say z0 is the maximum
        stable = (m - z1) + sp.log(1 + sp.exp(z1 - m) + sp.exp(z2 - m))
        assert sp.simplify(sp.expand_log(sp.exp(definition - stable), force=True)) == 1
        for z in (z0, z1, z2):
            assert sp.simplify(sp.diff(definition, z) - sp.diff(stable, z)) == 0


# =========================================================================================
# Label smoothing
# =========================================================================================


class TestSmoothLabels:
    def test_indices_match_definition(self):
        got = smooth_labels([0, 2], 0.3, num_classes=3)
        with mpmath.workdps(DPS):
            on, off = 1 - _f(0.3) + _f(0.3) / 3, _f(0.3) / 3
        exact = [on, off, off, off, off, on]
        assert_ulp(got.ravel(), exact, np.float64, BUDGET, what="smooth_labels")

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_probabilities_match_definition_and_keep_dtype(self, dtype):
        y = np.random.default_rng(31).dirichlet(np.ones(6), size=5).astype(dtype)
        y /= y.sum(axis=1, keepdims=True)
        got = smooth_labels(y, 0.1)
        assert got.dtype == dtype
        with mpmath.workdps(DPS):
            exact = [(1 - _f(0.1)) * _f(v) + _f(0.1) / 6 for v in y.ravel()]
        assert_ulp(got.ravel(), exact, dtype, BUDGET, what="smooth_labels probs")

    def test_sums_to_one_and_axis(self):
        got = smooth_labels(np.array([[0, 1], [2, 3]]), 0.25, num_classes=4, axis=0)
        assert got.shape == (4, 2, 2)
        np.testing.assert_allclose(got.sum(axis=0), 1.0, rtol=0, atol=4e-16)

    def test_extremes(self):
        np.testing.assert_array_equal(smooth_labels([1], 0.0, num_classes=3), [[0, 1, 0]])
        np.testing.assert_allclose(smooth_labels([1], 1.0, num_classes=4), np.full((1, 4), 0.25))


# =========================================================================================
# Distillation
# =========================================================================================


def _mp_distill(s, t, temp):
    """T² Σ_k q_k log(q_k / p_k), p = softmax(s/T), q = softmax(t/T); 0 log(0/p) = 0."""
    p = _mp_softmax_list(s, temp)
    q = _mp_softmax_list(t, temp)
    terms = []
    for pk, qk in zip(p, q, strict=True):
        if qk == 0:
            continue
        terms.append(qk * (mpmath.log(qk) - mpmath.log(pk)) if pk != 0 else mpmath.inf)
    return _f(temp) ** 2 * mpmath.fsum(terms)


def _distill_cases(dtype, rng):
    big = float(np.finfo(dtype).max) / 8
    cases = []
    for k in (2, 3, 6):
        for scale in (1e-8, 1.0, 10.0, 1e3, 1e30):
            s = rng.standard_normal(k) * min(scale, big)
            cases.append((s, rng.standard_normal(k) * min(scale, big)))
            # a teacher close to the student
            cases.append((s, s * (1 + 1e-6 * rng.standard_normal(k))))
    cases += [
        (np.array([1e-5, 0.0]), np.array([1e-5 + 1e-12, 0.0])),  # KL 1.25e-25
        (np.array([0.0, 0.0]), np.array([10.0, 0.0])),  # well-conditioned: kappa < 1
        (np.array([3.0, 1.0, -np.inf]), np.array([3.0, 1.0, -np.inf])),  # both mask
        (np.array([3.0, 1.0, 2.0]), np.array([1.0, 2.0, -np.inf])),  # teacher masks
        (np.array([30.0, -30.0, 0.0]), np.array([-30.0, 30.0, 0.0])),
        (np.array([1e3, 0.0]), np.array([0.0, 1e3])),
    ]
    return [
        (np.asarray(s, np.float64).astype(dtype), np.asarray(t, np.float64).astype(dtype))
        for s, t in cases
    ]


def _distill_kappa(s, t, temp, loss):
    """sum_k (|s_k| |∂L/∂s_k| + |t_k| |∂L/∂t_k|) / L with ∂L/∂s = T(p - q),
    ∂L/∂t_k = T q_k (log(q_k/p_k) - KL)."""
    num = _distill_sens(s, t, temp, loss)
    return num / loss if loss != 0 else mpmath.inf


def _distill_sens(s, t, temp, loss):
    """The numerator of :func:`_distill_kappa` (finite where the loss is 0)."""
    p, q = _mp_softmax_list(s, temp), _mp_softmax_list(t, temp)
    tt = _f(temp)
    kl = loss / tt**2
    num = mpmath.mpf(0)
    for k in range(len(s)):
        if np.isfinite(s[k]):
            num += abs(_f(s[k])) * tt * abs(p[k] - q[k])
        if np.isfinite(t[k]) and q[k] != 0:
            num += abs(_f(t[k])) * tt * q[k] * abs(mpmath.log(q[k] / p[k]) - kl)
    return num


class TestDistillationLoss:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("temperature", [1.0, 2.5, 0.3])
    def test_matches_mpmath(self, dtype, temperature):
        cases = _distill_cases(dtype, np.random.default_rng(41))
        got, exact, kappa, sens = [], [], [], []
        for s, t in cases:
            got.append(distillation_loss(s, t, temperature=temperature).item())
            with mpmath.workdps(dps_for_row(s / temperature, t / temperature, extra=40)):
                loss = _mp_distill(s, t, temperature)
                exact.append(loss)
                kappa.append(_distill_kappa(s, t, temperature, loss))
                sens.append(_distill_sens(s, t, temperature, loss))
        assert distillation_loss(cases[0][0], cases[0][1], temperature=1.0).dtype == dtype
        budget = cond_budget(exact, kappa, dtype, BUDGET, sens=sens)
        assert_ulp(got, exact, dtype, budget, cases, f"distillation T={temperature}")

    def test_close_distributions_beat_the_naive_sum(self):
        s, t = np.array([1e-5, 0.0]), np.array([1e-5 + 1e-12, 0.0])
        with mpmath.workdps(DPS + 40):
            exact = _mp_distill(s, t, 1.0)
            kappa = _distill_kappa(s, t, 1.0, exact)
        got = distillation_loss(s, t, temperature=1.0)
        assert ulp_error(got, exact) <= cond_budget([exact], [kappa], np.float64)[0]
        lq = t - np.log(np.exp(t).sum())
        lp = s - np.log(np.exp(s).sum())
        naive = float((np.exp(lq) * (lq - lp)).sum())
        assert ulp_error(naive, exact) > 1e6

    def test_masks(self):
        # a class the teacher masks adds nothing; one only the student masks is infinite
        a = distillation_loss([3.0, 1.0, 7.0], [2.0, 1.0, -np.inf], temperature=1.0)
        b = distillation_loss([3.0, 1.0], [2.0, 1.0], temperature=1.0)
        assert float(a) > float(b)  # the student wastes mass on class 2
        inf = distillation_loss([3.0, -np.inf], [2.0, 1.0], temperature=1.0)
        assert float(inf) == np.inf

    def test_zero_for_equal_distributions(self):
        # dyadic logits: s + 3 is exact, so the two distributions are exactly equal
        s = np.random.default_rng(42).integers(-500, 500, (4, 5)) / 64
        np.testing.assert_array_equal(distillation_loss(s, s + 3.0, temperature=2.0), 0.0)
        np.testing.assert_array_equal(distillation_loss_grad(s, s + 3.0, temperature=2.0), 0.0)

    @given(
        st.lists(st.floats(-50, 50), min_size=2, max_size=5).flatmap(
            lambda s: st.tuples(
                st.just(s), st.lists(st.floats(-50, 50), min_size=len(s), max_size=len(s))
            )
        ),
        st.sampled_from([0.5, 1.0, 3.0]),
    )
    def test_nonnegative_and_gradient_sums_to_zero(self, pair, temperature):
        s, t = np.array(pair[0]), np.array(pair[1])
        loss = float(distillation_loss(s, t, temperature=temperature))
        grad = distillation_loss_grad(s, t, temperature=temperature)
        assert loss >= 0
        assert abs(grad.sum()) <= 8 * temperature * np.finfo(float).eps


class TestDistillationLossGrad:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("temperature", [1.0, 2.5])
    def test_matches_mpmath_diff_of_the_loss(self, dtype, temperature):
        cases = _distill_cases(dtype, np.random.default_rng(43))[::2]
        # a student class e^-2500 below the rest: q_k/p_k beyond e^600 (the overflow branch)
        cases.append((np.array([-1e4, 0.0, 0.0], dtype), np.zeros(3, dtype)))
        got, exact, kappa, inputs, sens = [], [], [], [], []
        tt = _f(temperature)
        for s, t in cases:
            g = distillation_loss_grad(s, t, temperature=temperature)
            with mpmath.workdps(dps_for_row(s / temperature, t / temperature, extra=40)):
                p, q = _mp_softmax_list(s, temperature), _mp_softmax_list(t, temperature)
                for j in range(len(s)):
                    if not np.isfinite(s[j]):
                        continue

                    def loss_j(v, j=j, s=s, q=q):
                        ss = [_f(x) for x in s]
                        ss[j] = v
                        pp = [mpmath.exp(x / tt) for x in ss]
                        tot = mpmath.fsum(pp)
                        return tt**2 * mpmath.fsum(
                            qk * (mpmath.log(qk) - mpmath.log(pk / tot))
                            for pk, qk in zip(pp, q, strict=True)
                            if qk != 0
                        )

                    exact.append(mp_partial(loss_j, _f(s[j])))
                    num = mpmath.fsum(
                        abs(_f(s[i])) * p[j] * abs((i == j) - p[i])
                        + abs(_f(t[i])) * q[j] * abs((i == j) - q[i])
                        for i in range(len(s))
                        if np.isfinite(s[i]) and np.isfinite(t[i])
                    )
                    diff = abs(p[j] - q[j])
                    sens.append(num / tt)
                    kappa.append(num / (tt * diff) if diff != 0 else mpmath.inf)
                    got.append(float(g[j]))
                    inputs.append((s, t, j))
        assert g.dtype == dtype
        budget = cond_budget(exact, kappa, dtype, BUDGET, sens=sens)
        assert_ulp(got, exact, dtype, budget, inputs, f"distillation grad T={temperature}")

    def test_is_temperature_times_probability_gap(self):
        s, t = np.array([[1.0, 2.0, 0.5]]), np.array([[0.0, 1.0, 3.0]])
        from numeric._activations import softmax

        expected = 2.0 * (softmax(s / 2.0) - softmax(t / 2.0))
        got = distillation_loss_grad(s, t, temperature=2.0)
        np.testing.assert_allclose(got, expected, rtol=1e-14)


# =========================================================================================
# Mean squared error
# =========================================================================================


class TestMse:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_mpmath(self, dtype):
        rng = np.random.default_rng(51)
        cases = [rng.standard_normal((2, 7)) * s for s in (1e-30, 1.0, 1e10, 1e18)]
        cases.append(np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0 + 2**-20]]))
        got, exact, kappa = [], [], []
        for pair in cases:
            pair = pair.astype(dtype)
            got.append(mse(pair[0], pair[1]).item())
            with mpmath.workdps(DPS):
                d = [_f(a) - _f(b) for a, b in zip(pair[0], pair[1], strict=True)]
                val = mpmath.fsum(x * x for x in d) / len(d)
                num = 2 * mpmath.fsum(
                    abs(x) * (abs(_f(a)) + abs(_f(b)))
                    for x, a, b in zip(d, pair[0], pair[1], strict=True)
                )
                exact.append(val)
                kappa.append(num / (len(d) * val))
        assert mse(cases[0][0].astype(dtype), 0).dtype == dtype
        budget = cond_budget(exact, kappa, dtype, BUDGET)
        assert_ulp(got, exact, dtype, budget, what="mse")

    def test_axis(self):
        x = np.random.default_rng(52).standard_normal((3, 4, 5))
        np.testing.assert_allclose(mse(x, 0.0, axis=1), (x**2).mean(axis=1), rtol=1e-15)
        assert mse(x, 0.0).shape == ()

    def test_squares_that_overflow_with_a_mean_that_does_not(self):
        got = float(mse([1.5e154, 0.0], [0.0, 0.0]))
        with mpmath.workdps(DPS):
            exact = _f(1.5e154) ** 2 / 2
        assert ulp_error(got, exact) <= BUDGET
        assert float(mse([1e200], [-1e200])) == np.inf  # honestly beyond the range


class TestMseGrad:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_mpmath_diff_of_the_loss(self, dtype):
        rng = np.random.default_rng(53)
        pred = (rng.standard_normal(5) * 10).astype(dtype)
        targ = (rng.standard_normal(5) * 10).astype(dtype)
        g = mse_grad(pred, targ)
        assert g.dtype == dtype
        exact = []
        with mpmath.workdps(DPS):
            for j in range(5):

                def f(v, j=j):
                    xs = [_f(a) for a in pred]
                    xs[j] = v
                    return mpmath.fsum((x - _f(b)) ** 2 for x, b in zip(xs, targ, strict=True)) / 5

                exact.append(mp_partial(f, _f(pred[j])))
        assert_ulp(g, exact, dtype, BUDGET, what="mse grad")

    def test_axis_uses_the_same_count(self):
        x = np.ones((2, 4))
        np.testing.assert_array_equal(mse_grad(x, 0.0, axis=1), np.full((2, 4), 0.5))
        np.testing.assert_array_equal(mse_grad(x, 0.0), np.full((2, 4), 0.25))


# =========================================================================================
# Bad input: every function x every applicable bad input
# =========================================================================================

_Z = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -3.0]])
_T = np.array([2, 0])
_Y = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
_NAN = np.array([[np.nan, 0.0, 0.0], [0.0, 0.0, 0.0]])
_INF = np.array([[np.inf, 0.0, 0.0], [0.0, 0.0, 0.0]])


def _elementwise_bad(fn, first, second, first_range):
    """Bad input for an elementwise loss (prediction first, labels second)."""
    cases = [
        (fn, (np.nan, 0.5), {}, ValueError, f"{first}: contains NaN"),
        (fn, (0.5, np.nan), {}, ValueError, f"{second}: "),
        (fn, (0.5, -0.1), {}, ValueError, f"{second}: values must lie in"),
        (fn, (0.5, 1.5), {}, ValueError, f"{second}: values must lie in"),
        (fn, ([0.5, 0.5], [1.0, 0.0, 1.0]), {}, ValueError, f"{first}.*{second}"),
        (fn, ([], [1.0]), {}, ValueError, f"{first}: empty"),
        (fn, ([0.5], []), {}, ValueError, f"{second}: empty"),
        (fn, ([0.5j], [1.0]), {}, TypeError, f"{first}: complex"),
        (fn, ([0.5], [1j]), {}, TypeError, f"{second}: complex"),
        (fn, ([True], [1.0]), {}, TypeError, f"{first}: boolean"),
        (fn, ([0.5], [True]), {}, TypeError, f"{second}: boolean"),
        (fn, (np.array([0.5], object), [1.0]), {}, TypeError, f"{first}: expected real"),
        (fn, ([0.5], np.array([1.0], object)), {}, TypeError, f"{second}: expected real"),
        (fn, ([[0.5], [0.5, 0.1]], [1.0]), {}, ValueError, f"{first}: cannot"),
    ]
    if first_range == "prob":
        cases += [
            (fn, (-0.1, 0.5), {}, ValueError, f"{first}: values must lie in"),
            (fn, (1.1, 0.5), {}, ValueError, f"{first}: values must lie in"),
            (fn, (np.inf, 0.5), {}, ValueError, f"{first}: values must lie in"),
        ]
    else:
        cases += [
            (fn, (np.inf, 0.5), {}, ValueError, f"{first}: contains inf"),
            (fn, (-np.inf, 0.5), {}, ValueError, f"{first}: contains inf"),
        ]
    return cases


def _softmax_ce_bad(fn):
    return [
        (fn, (_NAN, _T), {}, ValueError, "logits: contains NaN"),
        (fn, (_INF, _T), {}, ValueError, r"logits: contains \+inf"),
        (fn, ([[-np.inf, -np.inf, -np.inf], [0, 0, 0]], _T), {}, ValueError, "logits: some slice"),
        (fn, (_Z, [3, 0]), {}, ValueError, "target: class index out of range"),
        (fn, (_Z, [-1, 0]), {}, ValueError, "target: class index out of range"),
        (fn, (_Z, [0.0, 2.0]), {}, TypeError, "target: class labels must be integers"),
        (fn, (_Z[:1], [2.0]), {}, TypeError, "target: class labels must be integers"),
        (fn, (_Z[:1], [0.5]), {}, TypeError, "target: class labels must be integers"),
        (fn, (_Z, [True, False]), {}, TypeError, "target: boolean"),
        (fn, (_Z, [1j, 0]), {}, TypeError, "target: complex"),
        (fn, (_Z, np.array([0, 1], object)), {}, TypeError, "target: expected real"),
        (fn, (_Z, [0, 1, 2]), {}, ValueError, "logits.*target"),
        (fn, (_Z, _Y[:, :2]), {}, ValueError, "logits.*target"),
        (fn, (_Z, -_Y), {}, ValueError, "target: probabilities must be >= 0"),
        (fn, (_Z, _Y * 1.01), {}, ValueError, "target: probabilities must sum to 1"),
        (fn, (_Z, np.where(_NAN == 0, _Y, np.nan)), {}, ValueError, "target: contains NaN"),
        (fn, (_Z, np.where(_NAN == 0, _Y, np.inf)), {}, ValueError, "target: contains inf"),
        (fn, ([], []), {}, ValueError, "logits: empty"),
        (fn, (_Z, np.array([], int)), {}, ValueError, "target: empty"),
        (fn, (_Z.astype(complex), _T), {}, TypeError, "logits: complex"),
        (fn, (_Z > 0, _T), {}, TypeError, "logits: boolean"),
        (fn, (_Z, _T), {"label_smoothing": 1.5}, ValueError, "label_smoothing: must lie"),
        (fn, (_Z, _T), {"label_smoothing": -0.1}, ValueError, "label_smoothing: must lie"),
        (fn, (_Z, _T), {"label_smoothing": np.nan}, ValueError, "label_smoothing: must lie"),
        (fn, (_Z, _T), {"label_smoothing": True}, TypeError, "label_smoothing"),
        (fn, (_Z, _T), {"temperature": 0.0}, ValueError, "temperature: must be"),
        (fn, (_Z, _T), {"temperature": -2.0}, ValueError, "temperature: must be"),
        (fn, (_Z, _T), {"temperature": np.nan}, ValueError, "temperature: must be"),
        (fn, (_Z, _T), {"temperature": np.inf}, ValueError, "temperature: must be"),
        (fn, (_Z, _T), {"temperature": "2"}, TypeError, "temperature"),
        (fn, (_Z, _T), {"axis": 2}, ValueError, "axis"),
        (fn, (_Z, _T), {"axis": 1.0}, TypeError, "axis"),
    ]


def _distill_bad(fn):
    ok = {"temperature": 2.0}
    return [
        (fn, (_NAN, _Z), ok, ValueError, "student_logits: contains NaN"),
        (fn, (_Z, _NAN), ok, ValueError, "teacher_logits: contains NaN"),
        (fn, (_INF, _Z), ok, ValueError, r"student_logits: contains \+inf"),
        (fn, (_Z, _INF), ok, ValueError, r"teacher_logits: contains \+inf"),
        (fn, ([[-np.inf] * 3, [0, 0, 0]], _Z), ok, ValueError, "student_logits: some slice"),
        (fn, (_Z, [[-np.inf] * 3, [0, 0, 0]]), ok, ValueError, "teacher_logits: some slice"),
        (fn, (_Z, _Z[:, :2]), ok, ValueError, "student_logits.*teacher_logits"),
        (fn, ([], []), ok, ValueError, "student_logits: empty"),
        (fn, (_Z, _Z.astype(complex)), ok, TypeError, "teacher_logits: complex"),
        (fn, (_Z > 0, _Z), ok, TypeError, "student_logits: boolean"),
        (fn, (_Z, _Z), {"temperature": 0.0}, ValueError, "temperature: must be"),
        (fn, (_Z, _Z), {"temperature": np.nan}, ValueError, "temperature: must be"),
        (fn, (_Z, _Z), {"temperature": None}, TypeError, "temperature"),
        (fn, (_Z, _Z), {"temperature": 1.0, "axis": 5}, ValueError, "axis"),
    ]


def _mse_bad(fn):
    return [
        (fn, ([np.nan], [1.0]), {}, ValueError, "prediction: contains NaN"),
        (fn, ([1.0], [np.nan]), {}, ValueError, "target: contains NaN"),
        (fn, ([np.inf], [1.0]), {}, ValueError, "prediction: contains inf"),
        (fn, ([1.0], [-np.inf]), {}, ValueError, "target: contains inf"),
        (fn, ([1.0, 2.0], [1.0, 2.0, 3.0]), {}, ValueError, "prediction.*target"),
        (fn, ([], []), {}, ValueError, "prediction: empty"),
        (fn, ([1j], [1.0]), {}, TypeError, "prediction: complex"),
        (fn, ([1.0], [True]), {}, TypeError, "target: boolean"),
        (fn, (["a"], [1.0]), {}, TypeError, "prediction: expected real"),
        (fn, ([1.0], [1.0]), {"axis": 1}, ValueError, "axis"),
        (fn, ([1.0], [1.0]), {"axis": "0"}, TypeError, "axis"),
    ]


def _smooth_bad():
    fn = smooth_labels
    return [
        (fn, ([0, 1], 0.1), {}, ValueError, "num_classes: required"),
        (fn, ([0, 3], 0.1), {"num_classes": 3}, ValueError, "target: class index out of range"),
        (fn, ([0, 1], 1.5), {"num_classes": 3}, ValueError, "epsilon: must lie"),
        (fn, ([0, 1], np.nan), {"num_classes": 3}, ValueError, "epsilon: must lie"),
        (fn, ([0, 1], "0.1"), {"num_classes": 3}, TypeError, "epsilon"),
        (fn, ([0, 1], 0.1), {"num_classes": 0}, ValueError, "num_classes: must be >= 1"),
        (fn, ([0, 1], 0.1), {"num_classes": True}, TypeError, "num_classes"),
        (fn, ([0, 1], 0.1), {"num_classes": 3, "axis": 2}, ValueError, "axis"),
        (fn, (_Y, 0.1), {"num_classes": 4}, ValueError, "num_classes: 4 does not match"),
        (fn, (_Y * 2, 0.1), {}, ValueError, "target: probabilities must sum to 1"),
        (fn, (-_Y, 0.1), {}, ValueError, "target: probabilities must be >= 0"),
        (fn, ([True, False], 0.1), {}, TypeError, "target: boolean"),
        (fn, ([1j], 0.1), {}, TypeError, "target: complex"),
        (fn, ([], 0.1), {"num_classes": 2}, ValueError, "target: empty"),
    ]


_BAD = (
    _elementwise_bad(binary_cross_entropy, "p_hat", "y", "prob")
    + _elementwise_bad(binary_cross_entropy_grad, "p_hat", "y", "prob")
    + _elementwise_bad(binary_cross_entropy_with_logits, "z", "y", "logit")
    + _elementwise_bad(binary_cross_entropy_with_logits_grad, "z", "y", "logit")
    + _softmax_ce_bad(softmax_cross_entropy)
    + _softmax_ce_bad(softmax_cross_entropy_grad)
    + _distill_bad(distillation_loss)
    + _distill_bad(distillation_loss_grad)
    + _mse_bad(mse)
    + _mse_bad(mse_grad)
    + _smooth_bad()
)


@pytest.mark.parametrize(
    ("fn", "args", "kwargs", "exc", "match"),
    _BAD,
    ids=[f"{case[0].__name__}-{i}" for i, case in enumerate(_BAD)],
)
def test_bad_input_raises_naming_the_argument(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


def test_distillation_requires_temperature():
    with pytest.raises(TypeError, match="temperature"):
        distillation_loss(_Z, _Z)
