"""Tests for numeric._activations: mpmath oracles from the definitions, edges, bad input.

Every reference is the *definition* evaluated with mpmath inside ``workdps(60)``
(``tests/oracle.py``); budgets are 4 ULP, or relative error 4 eps kappa where the output
is ill-conditioned (``cond_budget``), tested separately for float32 and float64.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from numeric._activations import (
    log_sigmoid,
    log_softmax,
    logsumexp,
    sigmoid,
    softmax,
    softplus,
)
from tests.oracle import (
    DPS,
    assert_ulp,
    cond_budget,
    dps_for_row,
    spanning_floats,
    ulp_error,
)

DTYPES = [np.float32, np.float64]
BUDGET = 4.0  # ULP: the documented budget of every function in the module


def _branch_points(dtype) -> np.ndarray:
    """Where the elementwise kernels switch behaviour: 0, e^-|z| < eps, exp underflow."""
    fi = np.finfo(dtype)
    centres = [
        0.0,
        1e-300,
        1.0,
        16.6,  # float32: e^-z < eps/2
        36.7,  # float64: e^-z < eps/2
        88.7,  # float32 exp overflow
        103.9,  # float32 exp underflow to 0
        709.7,  # float64 exp overflow
        745.1,  # float64 exp underflow to 0
    ]
    pts = []
    for c in centres:
        c = dtype(min(c, float(fi.max)))
        pts += [c, np.nextafter(c, dtype(np.inf)), np.nextafter(c, dtype(0))]
    pts = np.array(pts, dtype=dtype)
    return np.concatenate([pts, -pts, np.array([-0.0], dtype)])


def _elementwise_points(dtype) -> np.ndarray:
    return np.concatenate([spanning_floats(dtype), _branch_points(dtype)]).astype(dtype)


def _dps(*values) -> int:
    """Digits that resolve ``log(1 + e^-|v|)`` for every ``|v|`` whose result is representable.

    60 digits see ``1 + 1e-60`` and no further, while ``e^-745`` is still a (subnormal)
    float64; the reference adds digits up to that point.
    """
    # beyond 800, e^-|v| < 1e-347 is below every float: 60 digits give the right 0
    spread = max((abs(float(v)) for v in values if abs(float(v)) <= 800.0), default=0.0)
    return DPS + int(spread / math.log(10)) + 5


def _mp_each(fn, points) -> list:
    """``fn(point)`` for every point, each at the digits :func:`_dps` asks for."""
    out = []
    for v in points:
        with mpmath.workdps(_dps(v)):
            out.append(fn(mpmath.mpf(float(v))))
    return out


# --- definitions (mpmath) ------------------------------------------------------------


def _mp_sigmoid(z):
    return 1 / (1 + mpmath.exp(-z))


def _mp_softplus(z):
    return mpmath.log(1 + mpmath.exp(z))


def _row_dps(row) -> int:
    return dps_for_row(row)


def _mp_lse(row):
    # Σ e^z is 1 + (something as small as the logits) when they are tiny: resolve it
    # (a logit of 3.5e-301 needs 301 more digits, or the reference is 0)
    tiny = [abs(float(v)) for v in row if np.isfinite(v) and 0 < abs(float(v)) < 1]
    extra = int(-np.floor(np.log10(min(tiny)))) if tiny else 0
    with mpmath.workdps(_row_dps(row) + extra):
        return mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(float(v))) for v in row))


def _mp_softmax(row, t):
    with mpmath.workdps(_row_dps(np.asarray(row, dtype=float) / float(t))):
        t = mpmath.mpf(float(t))
        e = [mpmath.exp(mpmath.mpf(float(v)) / t) for v in row]
        total = mpmath.fsum(e)
        return [x / total for x in e]


def _rows(dtype, rng) -> list[np.ndarray]:
    """Adversarial rows of logits: scales 1e-300..1e300, offsets, ties, masks, confident."""
    fi = np.finfo(dtype)
    big = float(fi.max) / 8
    rows = []
    for k in (1, 2, 3, 5, 12):
        for scale in (1e-300, 1e-8, 1.0, 30.0, 1e3, 1e300):
            rows.append(rng.standard_normal(k) * min(scale, big))
    base = rng.standard_normal(4)
    for offset in (1e8, 1e16, -1e16, 1e30, 1e300):
        rows.append(base + min(offset, big))
    one = dtype(1.0)
    rows += [
        np.array([0.0, 0.0, 0.0]) + 1e16,  # common offset: exactly log 3 above it
        [1.0, float(np.nextafter(one, dtype(2))), 1.0],  # near-ties
        [40.0, 0.0, -3.0],  # confident: lse - max below eps
        [800.0, -800.0],
        [-800.0, -800.0],
        [-np.inf, 0.0, 1.0],  # a masked class
        [5.0, -np.inf],
        [big, -big],
        [-big, -big],
    ]
    return [np.asarray(r, dtype=np.float64).astype(dtype) for r in rows]


def _lse_sens(row) -> mpmath.mpf:
    """sum_k softmax_k |z_k|: the sensitivity of logsumexp (the numerator of kappa)."""
    with mpmath.workdps(DPS):
        fin = [mpmath.mpf(float(v)) for v in row if np.isfinite(v)]
        lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in fin))
        return mpmath.fsum(mpmath.exp(v - lse) * abs(v) for v in fin)


def _lse_kappa(row) -> mpmath.mpf:
    """sum_k softmax_k |z_k| / |lse|: relative condition number of logsumexp."""
    with mpmath.workdps(DPS):
        fin = [mpmath.mpf(float(v)) for v in row if np.isfinite(v)]
        lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in fin))
        return _lse_sens(row) / abs(lse) if lse != 0 else mpmath.inf


# --- elementwise ----------------------------------------------------------------------


class TestSigmoid:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_mpmath(self, dtype):
        z = _elementwise_points(dtype)
        got = sigmoid(z)
        assert got.dtype == dtype
        assert_ulp(got, _mp_each(_mp_sigmoid, z), dtype, BUDGET, z, "sigmoid")

    def test_infinities_are_limits(self):
        np.testing.assert_array_equal(sigmoid([-np.inf, np.inf]), [0.0, 1.0])

    def test_subnormal_tail_keeps_relative_accuracy(self):
        # the naive 1/(1 + exp(-z)) overflows exp for z < -709.8 and returns 0
        z = np.array([-720.0, -740.0])
        exact = _mp_each(_mp_sigmoid, z)
        assert_ulp(sigmoid(z), exact, np.float64, BUDGET, z, "sigmoid tail")
        with np.errstate(over="ignore"):
            naive = 1.0 / (1.0 + np.exp(-z))
        assert max(ulp_error(g, e) for g, e in zip(naive, exact, strict=True)) > 1e3

    def test_scalar_gives_0d(self):
        assert sigmoid(0.0).shape == ()


class TestLogSigmoid:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_mpmath(self, dtype):
        z = _elementwise_points(dtype)
        got = log_sigmoid(z)
        assert got.dtype == dtype
        ref = _mp_each(lambda v: mpmath.log(_mp_sigmoid(v)), z)
        assert_ulp(got, ref, dtype, BUDGET, z, "log_sigmoid")

    def test_naive_form_is_measurably_worse(self):
        z = np.array([40.0, 100.0])  # log σ(z) = -e^{-z}; log(expit) rounds to 0
        exact = _mp_each(lambda v: mpmath.log(_mp_sigmoid(v)), z)
        assert_ulp(log_sigmoid(z), exact, np.float64, BUDGET, z, "log_sigmoid")
        naive = np.log(1.0 / (1.0 + np.exp(-z)))
        assert all(ulp_error(g, e) > 1e3 for g, e in zip(naive, exact, strict=True))

    def test_infinities_are_limits(self):
        np.testing.assert_array_equal(log_sigmoid([-np.inf, np.inf]), [-np.inf, 0.0])


class TestSoftplus:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_mpmath(self, dtype):
        z = _elementwise_points(dtype)
        got = softplus(z)
        assert got.dtype == dtype
        assert_ulp(got, _mp_each(_mp_softplus, z), dtype, BUDGET, z, "softplus")

    def test_naive_form_is_measurably_worse(self):
        z = np.array([-40.0, 800.0])  # log(1 + e^z) loses e^-40 and overflows at 800
        exact = _mp_each(_mp_softplus, z)
        assert_ulp(softplus(z), exact, np.float64, BUDGET, z, "softplus")
        with np.errstate(over="ignore"):
            naive = np.log(1.0 + np.exp(z))
        assert all(ulp_error(g, e) > 1e3 for g, e in zip(naive, exact, strict=True))

    def test_is_log_sigmoid_reflected(self):
        z = np.linspace(-50, 50, 101)
        np.testing.assert_array_equal(softplus(z), -log_sigmoid(-z))

    def test_infinities_are_limits(self):
        np.testing.assert_array_equal(softplus([-np.inf, np.inf]), [0.0, np.inf])

    def test_rewrite_converts_back_exactly(self):
        sp = pytest.importorskip("sympy")
        for sign in (1, -1):
            z = sp.Symbol("z", positive=True) * sign
            stable = sp.Max(z, 0) + sp.log(1 + sp.exp(-sp.Abs(z)))
            assert sp.simplify(sp.expand_log(stable - sp.log(1 + sp.exp(z)), force=True)) == 0


# --- row functions --------------------------------------------------------------------


class TestLogsumexp:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_mpmath(self, dtype):
        rows = _rows(dtype, np.random.default_rng(1))
        got = [logsumexp(r) for r in rows]
        assert all(g.dtype == dtype for g in got)
        with mpmath.workdps(DPS):
            exact = [_mp_lse(r) for r in rows]
        budget = cond_budget(exact, [_lse_kappa(r) for r in rows], dtype, BUDGET,
                             sens=[_lse_sens(r) for r in rows])
        assert_ulp(got, exact, dtype, budget, rows, "logsumexp")

    def test_confident_row_keeps_remainder(self):
        # log(e^40 + 1) - 40 = 4.25e-18 < eps: m + log(1 + s) (scipy) returns exactly 40
        row = np.array([40.0, 0.0])
        got = logsumexp(row - 40.0)
        with mpmath.workdps(DPS):
            exact = _mp_lse(row - 40.0)
        assert_ulp([got], [exact], np.float64, BUDGET, what="confident lse")
        assert ulp_error(0.0, exact) > 1e3  # what m + log(1 + s) gives

    def test_many_classes(self):
        rng = np.random.default_rng(7)
        rows = [rng.standard_normal(10_000) * 3, np.full(10_000, 1e16) + rng.random(10_000)]
        with mpmath.workdps(DPS):
            exact = [_mp_lse(r) for r in rows]
        got = [logsumexp(r) for r in rows]
        budget = cond_budget(exact, [_lse_kappa(r) for r in rows], np.float64, BUDGET,
                             sens=[_lse_sens(r) for r in rows])
        assert_ulp(got, exact, np.float64, budget, what="logsumexp K=1e4")

    def test_infinities(self):
        z = np.array([[-np.inf, -np.inf], [np.inf, 1.0], [np.inf, np.inf], [-np.inf, 0.0]])
        np.testing.assert_array_equal(logsumexp(z), [-np.inf, np.inf, np.inf, 0.0])

    def test_axis(self):
        z = np.random.default_rng(2).standard_normal((3, 4, 5))
        for axis in (0, 1, 2, -1, -3):
            np.testing.assert_array_equal(
                logsumexp(z, axis=axis), logsumexp(np.moveaxis(z, axis, -1))
            )

    @given(
        st.lists(st.integers(-2000, 2000), min_size=1, max_size=8),
        st.integers(-(2**40), 2**40),
    )
    @example([0, 0, 0], 2**40)
    def test_shift_equivariant(self, ints, shift):
        # z/64 and the shift are exact in float64, so z + c is exact: lse(z + c) = lse(z) + c
        z = np.array(ints, dtype=np.float64) / 64
        got = float(logsumexp(z + shift))
        with mpmath.workdps(DPS):
            exact = _mp_lse(z) + shift
        kappa = _lse_kappa(z + shift)
        if mpmath.isfinite(kappa):
            budget = max(BUDGET, 4 * float(kappa))
        else:  # lse = 0 exactly: an absolute budget on the scale of the logits
            sens = [_lse_sens(z + shift)]
            budget = cond_budget([exact], [kappa], np.float64, BUDGET, sens=sens)[0]
        assert ulp_error(got, exact) <= budget


class TestSoftmax:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("temperature", [1.0, 0.37, 4.0])
    def test_matches_mpmath(self, dtype, temperature):
        rows = _rows(dtype, np.random.default_rng(3))
        got, exact, kappa = [], [], []
        for r in rows:
            p = _mp_softmax(r, temperature)
            got += list(softmax(r, temperature=temperature).astype(np.float64))
            exact += p
            kappa += _softmax_kappa(r, p, temperature)
        budget = cond_budget(exact, kappa, dtype, BUDGET)
        assert_ulp(got, exact, dtype, budget, what=f"softmax T={temperature}")

    def test_dtype_preserved(self):
        assert softmax(np.zeros(3, np.float32)).dtype == np.float32

    def test_masked_class_is_exactly_zero(self):
        np.testing.assert_array_equal(softmax([0.0, -np.inf, 0.0]), [0.5, 0.0, 0.5])

    def test_small_temperature_does_not_overflow(self):
        # z / T would overflow; (z - m) / T does not
        got = softmax([1e300, 1e300, 0.0], temperature=1e-10)
        np.testing.assert_array_equal(got, [0.5, 0.5, 0.0])

    def test_axis_and_sum(self):
        z = np.random.default_rng(4).standard_normal((3, 4, 5)) * 10
        p = softmax(z, axis=1)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=4 * np.finfo(float).eps)
        np.testing.assert_array_equal(p, np.moveaxis(softmax(np.moveaxis(z, 1, -1)), -1, 1))


def _softmax_kappa(row, p, t):
    """kappa_k = sum_j |z_j / T| |delta_jk - p_j| + |z_k / T - E_p[z / T]| (the T term)."""
    with mpmath.workdps(DPS):
        z = [mpmath.mpf(float(v)) / mpmath.mpf(float(t)) for v in row]
        fin = [j for j in range(len(z)) if mpmath.isfinite(z[j])]
        mean = mpmath.fsum(p[j] * z[j] for j in fin)
        out = []
        for k in range(len(z)):
            if k not in fin or p[k] == 0:
                out.append(mpmath.mpf(0))
                continue
            kz = mpmath.fsum(abs(z[j]) * abs((j == k) - p[j]) for j in fin)
            out.append(kz + abs(z[k] - mean))
        return out


class TestLogSoftmax:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("temperature", [1.0, 0.37])
    def test_matches_mpmath(self, dtype, temperature):
        rows = _rows(dtype, np.random.default_rng(5))
        got, exact, kappa, sens = [], [], [], []
        for r in rows:
            p = _mp_softmax(r, temperature)
            with mpmath.workdps(_row_dps(np.asarray(r, dtype=float) / temperature)):
                lp = [mpmath.log(v) if v > 0 else -mpmath.inf for v in p]
                num = _softmax_kappa(r, p, temperature)
                kap = [k / abs(v) if v != 0 else mpmath.inf for k, v in zip(num, lp, strict=True)]
            got += list(log_softmax(r, temperature=temperature).astype(np.float64))
            exact += lp
            kappa += kap
            sens += num
        budget = cond_budget(exact, kappa, dtype, BUDGET, sens=sens)
        assert_ulp(got, exact, dtype, budget, what=f"log_softmax T={temperature}")

    def test_confident_class_is_not_zero(self):
        # log softmax_0 = -log1p(e^-40) = -4.25e-18; z - logsumexp(z) gives 0
        got = log_softmax([40.0, 0.0])[0]
        with mpmath.workdps(DPS):
            exact = -mpmath.log1p(mpmath.exp(-40))
        assert ulp_error(got, exact) <= BUDGET

    def test_is_log_of_softmax(self):
        z = np.random.default_rng(6).standard_normal((5, 7))
        np.testing.assert_allclose(np.exp(log_softmax(z)), softmax(z), rtol=1e-15)


# --- bad input --------------------------------------------------------------------------

_ELEMENTWISE = [sigmoid, log_sigmoid, softplus]
_ROWS = [logsumexp, softmax, log_softmax]
_SOFTMAXES = [softmax, log_softmax]

_BAD = (
    [
        (f, {"z": [1.0, np.nan]}, ValueError, "z: contains NaN")
        for f in _ELEMENTWISE + _ROWS
    ]
    + [(f, {"z": []}, ValueError, "z: empty") for f in _ELEMENTWISE + _ROWS]
    + [(f, {"z": [1 + 2j]}, TypeError, "z: complex") for f in _ELEMENTWISE + _ROWS]
    + [(f, {"z": [True, False]}, TypeError, "z: boolean") for f in _ELEMENTWISE + _ROWS]
    + [
        (f, {"z": np.array([1.0], dtype=object)}, TypeError, "z: expected real")
        for f in _ELEMENTWISE + _ROWS
    ]
    + [(f, {"z": ["a", "b"]}, TypeError, "z: expected real") for f in _ELEMENTWISE + _ROWS]
    + [(f, {"z": [[1.0], [1.0, 2.0]]}, ValueError, "z: cannot") for f in _ELEMENTWISE + _ROWS]
    + [(f, {"z": [0.0, np.inf]}, ValueError, r"z: contains \+inf") for f in _SOFTMAXES]
    + [
        (f, {"z": [[0.0, 1.0], [-np.inf, -np.inf]]}, ValueError, "z: some slice")
        for f in _SOFTMAXES
    ]
    + [(f, {"z": 1.0}, ValueError, "axis") for f in _ROWS]
    + [(f, {"z": [1.0], "axis": 1}, ValueError, "axis") for f in _ROWS]
    + [(f, {"z": [1.0], "axis": 0.0}, TypeError, "axis") for f in _ROWS]
    + [(f, {"z": [1.0], "axis": True}, TypeError, "axis") for f in _ROWS]
    + [
        (f, {"z": [1.0], "temperature": t}, ValueError, "temperature")
        for f in _SOFTMAXES
        for t in (0.0, -1.0, np.nan, np.inf)
    ]
    + [
        (f, {"z": [1.0], "temperature": t}, TypeError, "temperature")
        for f in _SOFTMAXES
        for t in (True, "1", 1j, [1.0])
    ]
)


@pytest.mark.parametrize(
    ("fn", "kwargs", "exc", "match"),
    _BAD,
    ids=[f"{f.__name__}-{i}" for i, (f, *_rest) in enumerate(_BAD)],
)
def test_bad_input_raises_naming_the_argument(fn, kwargs, exc, match):
    kwargs = dict(kwargs)
    z = kwargs.pop("z")
    with pytest.raises(exc, match=match):
        fn(z, **kwargs)


def test_import_numeric_stays_light():
    import subprocess
    import sys

    code = (
        "import sys, numeric; "
        "heavy = [m for m in ('scipy', 'sympy', 'mpmath') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_threads_agree_with_single_thread(monkeypatch):
    import numeric._activations as act

    z = np.random.default_rng(8).standard_normal(3 * act._PARALLEL_MIN) * 20
    threaded = softplus(z), logsumexp(z.reshape(-1, 128))
    monkeypatch.setenv("LOSSPROOF_NUM_THREADS", "1")
    single = softplus(z), logsumexp(z.reshape(-1, 128))
    for a, b in zip(threaded, single, strict=True):
        np.testing.assert_array_equal(a, b)
    assert math.isfinite(float(threaded[1].sum()))
