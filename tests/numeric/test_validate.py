"""Tests of ``numeric._validate``: the shared input checks and their error messages."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from numeric._validate import (
    as_float,
    as_labels,
    broadcast,
    check_axis,
    check_base,
    check_finite,
    check_joint,
    check_not_nan,
    check_positive,
    check_probabilities,
    check_unit_interval,
    common_dtype,
    normalisation_tolerance,
)


class TestAsFloat:
    @pytest.mark.parametrize(
        ("value", "dtype"),
        [
            (np.array([1.0], np.float32), np.float32),
            (np.array([1.0], np.float64), np.float64),
            (np.array([1.0], np.float16), np.float32),
            (np.array([1], np.int8), np.float64),
            (np.array([1], np.uint64), np.float64),
            ([1, 2], np.float64),
            (0.5, np.float64),
        ],
    )
    def test_dtype_policy(self, value, dtype):
        assert as_float(value, "x").dtype == dtype

    def test_float32_and_float64_are_not_copied(self):
        a = np.ones(3, np.float32)
        assert as_float(a, "x") is a

    def test_explicit_dtype_converts(self):
        assert as_float([1, 2], "x", dtype=np.float32).dtype == np.float32

    @pytest.mark.parametrize(
        ("value", "match"),
        [
            (np.array([1j]), "x: complex"),
            (np.array([True]), "x: boolean"),
            (np.array([1.0], object), "x: expected real numbers, got dtype object"),
            (["a"], "x: expected real numbers"),
            (np.array([1.0], np.longdouble), "x: dtype .* is not supported"),
        ],
    )
    def test_rejects_non_real_kinds_with_type_error(self, value, match):
        if np.dtype(np.longdouble) == np.float64 and "supported" in match:
            pytest.skip("longdouble is float64 on this platform")
        with pytest.raises(TypeError, match=match):
            as_float(value, "x")

    @pytest.mark.parametrize(
        ("value", "match"),
        [([], "x: empty array"), ([[1.0], [1.0, 2.0]], "x: cannot be converted")],
    )
    def test_rejects_empty_and_ragged_with_value_error(self, value, match):
        with pytest.raises(ValueError, match=match):
            as_float(value, "x")


class TestCommonDtype:
    def test_float64_wins_float32_stays(self):
        f32, f64 = np.ones(1, np.float32), np.ones(1, np.float64)
        assert common_dtype(f32, f32) == np.float32
        assert common_dtype(f32, f64) == np.float64


class TestCheckNotNanAndFinite:
    def test_not_nan_allows_inf(self):
        check_not_nan(np.array([np.inf, -np.inf]), "z")
        with pytest.raises(ValueError, match="z: contains NaN"):
            check_not_nan(np.array([0.0, np.nan]), "z")

    @pytest.mark.parametrize(
        ("value", "match"), [(np.nan, "NaN"), (np.inf, "inf"), (-np.inf, "inf")]
    )
    def test_finite_rejects_nan_and_inf(self, value, match):
        with pytest.raises(ValueError, match=f"x: contains {match}"):
            check_finite(np.array([1.0, value]), "x")

    def test_finite_accepts_extremes(self):
        check_finite(np.array([np.finfo(np.float64).max, 5e-324, 0.0]), "x")


class TestCheckPositive:
    @pytest.mark.parametrize(
        ("value", "match"),
        [(0.0, "must be > 0"), (-1.0, "must be > 0"), (np.nan, "NaN"), (np.inf, "contains inf")],
    )
    def test_rejects_non_positive_nan_and_inf(self, value, match):
        with pytest.raises(ValueError, match=f"sigma: .*{match}|sigma: {match}"):
            check_positive(np.array([1.0, value]), "sigma")

    def test_allow_inf_accepts_inf(self):
        check_positive(np.array([np.inf, 5e-324]), "sigma", allow_inf=True)


class TestCheckUnitInterval:
    @pytest.mark.parametrize("value", [-1e-300, 1 + 1e-15, np.inf, np.nan])
    def test_rejects_outside_zero_one(self, value):
        with pytest.raises(ValueError, match="p: "):
            check_unit_interval(np.array([0.5, value]), "p")

    def test_accepts_the_closed_interval(self):
        check_unit_interval(np.array([0.0, 1.0, 5e-324]), "p")


class TestNormalisationTolerance:
    def test_value(self):
        eps = float(np.finfo(np.float64).eps)
        assert normalisation_tolerance(1, np.float64) == 16 * eps
        assert normalisation_tolerance(1000, np.float64) == 4000 * eps
        assert normalisation_tolerance(10, np.float32) == 40 * float(np.finfo(np.float32).eps)

    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    @pytest.mark.parametrize("k", [1, 2, 10, 1000, 10_000])
    def test_vectors_normalised_in_dtype_pass(self, dtype, k):
        rng = np.random.default_rng(k)
        for w in (rng.uniform(size=(20, k)), rng.exponential(size=(20, k)) ** 8):
            w = w.astype(dtype)
            check_probabilities(w / w.sum(axis=-1, keepdims=True), "p")

    def test_real_deviations_are_rejected(self):
        with pytest.raises(ValueError, match="sum to 1"):
            check_probabilities(np.array([0.5, 0.5 + 1e-6]), "p")
        with pytest.raises(ValueError, match="sum to 1"):
            check_probabilities(np.full(100, 0.01, np.float32) * np.float32(1.001), "p")


class TestCheckAxis:
    @pytest.mark.parametrize(("axis", "expected"), [(0, 0), (-1, 2), (2, 2), (np.int64(-3), 0)])
    def test_normalises(self, axis, expected):
        assert check_axis(np.zeros((2, 3, 4)), axis, "x") == expected

    @pytest.mark.parametrize("axis", [3, -4])
    def test_out_of_range(self, axis):
        with pytest.raises(ValueError, match=f"axis: {axis} is out of range for x"):
            check_axis(np.zeros((2, 3, 4)), axis, "x")

    @pytest.mark.parametrize("axis", [True, 1.0, "1", None])
    def test_non_integer(self, axis):
        with pytest.raises(TypeError, match="axis: must be an int"):
            check_axis(np.zeros(3), axis, "x")


class TestCheckProbabilities:
    @pytest.mark.parametrize(
        ("p", "match"),
        [
            ([0.5, np.nan], "p: contains NaN"),
            ([np.inf, 0.0], "p: contains inf"),
            ([-0.5, 1.5], "p: probabilities must be >= 0"),
            ([0.5, 0.6], r"p: probabilities must sum to 1 along axis 0 \(worst \|sum - 1\| = 0.1"),
        ],
    )
    def test_rejects(self, p, match):
        with pytest.raises(ValueError, match=match):
            check_probabilities(np.array(p), "p")

    def test_scalar_has_no_distribution_axis(self):
        with pytest.raises(ValueError, match="p: a distribution needs at least one dimension"):
            check_probabilities(np.array(1.0), "p")

    def test_axis_none_checks_the_whole_array(self):
        check_probabilities(np.full((2, 2), 0.25), "p", axis=None)
        with pytest.raises(ValueError, match="p: probabilities must sum to 1 in total"):
            check_probabilities(np.full((2, 2), 0.5), "p", axis=None)

    def test_axis_selects_the_distribution_axis(self):
        p = np.array([[0.2, 0.5], [0.8, 0.5]])
        check_probabilities(p, "p", axis=0)
        with pytest.raises(ValueError, match="sum to 1"):
            check_probabilities(p, "p", axis=1)

    @given(st.lists(st.floats(0, 1e6), min_size=1, max_size=50).filter(lambda w: sum(w) > 0))
    @example([1.0, 1e-300, 1e-300])
    def test_anything_normalised_by_its_sum_passes(self, w):
        w = np.array(w)
        check_probabilities(w / w.sum(), "p")


class TestCheckJoint:
    def test_accepts_batched_tables(self):
        check_joint(np.full((3, 2, 2), 0.25), "p_xy")

    @pytest.mark.parametrize(
        ("p", "match"),
        [
            (np.full(4, 0.25), r"p_xy: a joint table needs two axes \[X, Y\]"),
            ([[0.1, 0.2, 0.3], [0.1, 0.2, 0.2]], r"p_xy: each joint table .* sum to 1 .*= 0.1"),
            ([[0.5, np.nan], [0.25, 0.25]], "p_xy: contains NaN"),
            ([[0.5, np.inf], [0.25, 0.25]], "p_xy: contains inf"),
            ([[1.5, -0.5], [0.0, 0.0]], "p_xy: probabilities must be >= 0"),
        ],
    )
    def test_rejects(self, p, match):
        with pytest.raises(ValueError, match=match):
            check_joint(np.array(p), "p_xy")

    def test_each_table_of_a_batch_must_sum_to_one(self):
        p = np.stack([np.full((2, 2), 0.25), np.full((2, 2), 0.3)])
        with pytest.raises(ValueError, match="sum to 1"):
            check_joint(p, "p_xy")


class TestCheckBase:
    @pytest.mark.parametrize("base", [2, 2.0, math.e, 10, 0.5, np.float32(3), np.int64(7)])
    def test_accepts_and_returns_a_float(self, base):
        b = check_base(base)
        assert isinstance(b, float) and b == float(base)

    @pytest.mark.parametrize("base", [0, -2.0, 1, 1.0, np.inf, np.nan, -np.inf])
    def test_rejects_bad_values(self, base):
        with pytest.raises(ValueError, match="base: must be finite, > 0 and != 1"):
            check_base(base)

    @pytest.mark.parametrize("base", [True, np.bool_(False), "2", None, [2.0], 2j])
    def test_rejects_non_numbers(self, base):
        with pytest.raises(TypeError, match="base: must be a real number"):
            check_base(base)


class TestBroadcast:
    def test_broadcasts(self):
        a, b = broadcast(x=np.zeros((3, 1)), y=np.zeros(4))
        assert a.shape == b.shape == (3, 4)

    def test_mismatch_names_every_argument(self):
        with pytest.raises(ValueError, match=r"shape mismatch: .*x \(2,\), y \(3,\)"):
            broadcast(x=np.zeros(2), y=np.zeros(3))


class TestAsLabels:
    def test_returns_intp(self):
        assert as_labels(np.array([0, 2], np.int8), 3).dtype == np.intp

    @pytest.mark.parametrize(
        ("target", "exc", "match"),
        [
            (np.array([0.0, 1.0]), TypeError, "target: class labels must be integers"),
            (np.array([], int), ValueError, "target: empty"),
            (
                np.array([0, 3]),
                ValueError,
                r"target: class index out of range \[0, 3\) \(found 3\)",
            ),
            (np.array([-1, 0]), ValueError, r"out of range \[0, 3\) \(found -1\)"),
        ],
    )
    def test_rejects(self, target, exc, match):
        with pytest.raises(exc, match=match):
            as_labels(target, 3)
