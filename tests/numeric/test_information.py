"""Tests of ``numeric._information`` against mpmath evaluating the *definitions* at 60 digits.

Budgets (ULPs of the tested dtype at the exact value), justified in each function's
docstring: float64 — self_information 1 (3 for bases other than e, 2, 10), perplexity 2;
entropy, joint/conditional entropy, cross-entropy, PMI, KL and MI 4 (terms <= 4 ulp,
compensated sums).  float32 — 1
everywhere (evaluated in float64, rounded once).  KL and MI are compared with the
definition itself, also for inputs normalised only within the tolerance (they correct
for the totals: ``P log(P/Q)`` resp. ``−S log S``); no allowance anywhere.
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

from numeric import (
    conditional_entropy,
    cross_entropy,
    entropy,
    joint_entropy,
    kl_divergence,
    mutual_information,
    perplexity,
    pointwise_mutual_information,
    self_information,
)
from numeric._information import _ATANH_TAIL, _kl_terms_pq, _log1pmx
from tests.oracle import DPS, assert_ulp, rel_error, spanning_floats, ulp_error

EPS = {np.float32: float(np.finfo(np.float32).eps), np.float64: float(np.finfo(np.float64).eps)}
BUDGET = {  # ULPs; see the module docstring
    "self_information": {np.float64: 1, np.float32: 1},  # base e, 2, 10; 3 for other bases
    "entropy": {np.float64: 4, np.float32: 1},
    "cross_entropy": {np.float64: 4, np.float32: 1},
    "pmi": {np.float64: 4, np.float32: 1},
    "kl": {np.float64: 4, np.float32: 1},
    "perplexity": {np.float64: 2, np.float32: 1},
}
DTYPES = [np.float64, np.float32]


# --------------------------------------------------------------------------- references
# Every reference is the definition, evaluated on the exact float inputs inside
# mpmath.workdps(DPS); never the stable form under test.


# Sums of floats spanning 1e-300 … 1 are exact only with ~650 digits: marginals, the
# normalisation deviations and sums that cancel are evaluated at up to EXACT_DPS digits.
EXACT_DPS = 700


def _mp(x) -> mpmath.mpf:
    return mpmath.mpf(float(x))


def mp_entropy(p) -> mpmath.mpf:
    with mpmath.workdps(DPS):
        return -mpmath.fsum(_mp(x) * mpmath.log(_mp(x)) for x in np.ravel(p) if x > 0)


def mp_cross_entropy(p, q) -> mpmath.mpf:
    with mpmath.workdps(DPS):
        if any(a > 0 and b == 0 for a, b in zip(p, q, strict=True)):
            return mpmath.inf
        return -mpmath.fsum(_mp(a) * mpmath.log(_mp(b)) for a, b in zip(p, q, strict=True) if a)


def mp_cancelling_sum(terms) -> mpmath.mpf:
    """``Σ terms()`` evaluated at a precision high enough for the cancellation it suffers.

    ``terms`` is evaluated at DPS first; when the sum is far below its largest term the
    evaluation is repeated with the digits lost added (up to EXACT_DPS).
    """
    dps = DPS
    while True:
        with mpmath.workdps(dps):
            ts = list(terms())
            if any(mpmath.isinf(x) for x in ts):
                return mpmath.inf
            s = mpmath.fsum(ts)
            big = max((abs(x) for x in ts), default=mpmath.mpf(0))
            if big == 0 or dps >= EXACT_DPS:
                return s
            lost = DPS if s == 0 else int(mpmath.log10(big / abs(s))) + 1
            if lost <= dps - DPS:
                return s
            dps = min(EXACT_DPS, DPS + lost + 10)


def mp_kl(p, q) -> mpmath.mpf:
    def terms():
        for a, b in zip(p, q, strict=True):
            if a > 0:
                yield mpmath.inf if b == 0 else _mp(a) * mpmath.log(_mp(a) / _mp(b))

    return mp_cancelling_sum(terms)


def mp_sum(x) -> mpmath.mpf:
    with mpmath.workdps(EXACT_DPS):
        return mpmath.fsum(_mp(v) for v in np.ravel(x))


def mp_marginals(t):
    with mpmath.workdps(EXACT_DPS):
        px = [mpmath.fsum(_mp(v) for v in row) for row in t]
        py = [mpmath.fsum(_mp(v) for v in col) for col in np.asarray(t).T]
    return px, py


def mp_mutual_information(t) -> mpmath.mpf:
    px, py = mp_marginals(t)
    with mpmath.workdps(EXACT_DPS):
        return mpmath.fsum(
            _mp(v) * mpmath.log(_mp(v) / (px[i] * py[j]))
            for (i, j), v in np.ndenumerate(t)
            if v > 0
        )


def mp_conditional_entropy(t) -> mpmath.mpf:
    px, _ = mp_marginals(t)
    with mpmath.workdps(EXACT_DPS):
        return -mpmath.fsum(
            _mp(v) * mpmath.log(_mp(v) / px[i]) for (i, _j), v in np.ndenumerate(t) if v > 0
        )


def mp_pmi(t) -> list:
    px, py = mp_marginals(t)
    out = []
    with mpmath.workdps(EXACT_DPS):
        for (i, j), v in np.ndenumerate(t):
            if px[i] == 0 or py[j] == 0:
                out.append(mpmath.nan)
            elif v == 0:
                out.append(-mpmath.inf)
            else:
                out.append(mpmath.log(_mp(v) / (px[i] * py[j])))
    return out


def in_base(x, base) -> mpmath.mpf:
    with mpmath.workdps(DPS):
        return x / mpmath.log(_mp(base)) if base != math.e else x


# --------------------------------------------------------------------------- generators


def normalise(w, dtype):
    w = np.asarray(w, dtype=np.float64)
    return (w / w.sum(axis=-1, keepdims=True)).astype(dtype)


def adversarial_distributions(dtype, seed=0) -> list[np.ndarray]:
    """Uniform, near-ties, one dominant outcome, zeros, magnitudes 1e-300 (1e-38) … 1."""
    rng = np.random.default_rng(seed)
    lo = int(np.log10(np.finfo(dtype).tiny)) + 3
    out = [np.ones(k, dtype) / dtype(k) for k in (1, 2, 3, 7, 1000)]
    for k in (2, 5, 50):
        out.append(normalise(10.0 ** rng.uniform(lo, 0, k), dtype))  # huge dynamic range
        out.append(normalise(1 + 1e-12 * rng.normal(size=k), dtype))  # near ties
        w = rng.uniform(0, 1, k)
        w[rng.uniform(size=k) < 0.4] = 0.0
        w[0] = 1.0
        out.append(normalise(w, dtype))  # zeros
        out.append(normalise(np.r_[1.0, np.full(k - 1, 10.0**lo)], dtype))  # one dominant
    out.append(normalise(rng.uniform(0, 1, 10_000), dtype))
    return out


def adversarial_pairs(dtype, seed=1) -> list[tuple[np.ndarray, np.ndarray]]:
    """(p, q): unrelated, nearly identical, zeros in p and/or q, disjoint supports."""
    rng = np.random.default_rng(seed)
    ps = adversarial_distributions(dtype, seed)
    pairs = []
    for p in ps:
        k = p.size
        pairs.append((p, normalise(rng.uniform(0.01, 1, k), dtype)))
        pairs.append((p, normalise(p * (1 + 1e-9 * rng.normal(size=k)), dtype)))
        pairs.append((normalise(rng.uniform(0.01, 1, k), dtype), p))
    pairs.append((np.array([0.5, 0.5, 0], dtype), np.array([0.25, 0.25, 0.5], dtype)))
    pairs.append((np.array([0.5, 0.5, 0], dtype), np.array([0.0, 0.5, 0.5], dtype)))  # inf
    pairs.append((np.array([1.0, 0.0], dtype), np.array([0.0, 1.0], dtype)))  # disjoint
    pairs.append((np.array([0.0, 1.0], dtype), np.array([0.0, 1.0], dtype)))  # p = q = 0 entries
    return pairs


def exact_pair(k, rel, rng, *, bits=53, zeros=False):
    """p = n/2^bits, q = m/2^bits with Σn = Σm = 2^bits: both sum to exactly 1 in floats.

    ``m = n + d`` with ``|d_i| ≈ rel n_i`` and ``Σd = 0``; the KL of these floats is
    exactly the definition, so the reference needs no allowance.
    """
    total = 2**bits
    w = rng.uniform(0.5, 1.5, k)
    n = np.floor(w / w.sum() * total).astype(np.int64)
    if zeros and k > 2:
        n[1] = 0
    n[0] += total - n.sum()
    d = np.round(n * rel * rng.uniform(-1, 1, k)).astype(np.int64)
    if not d.any():
        d[0], d[-1] = 1, -1
    if zeros and k > 2:
        d[1] = 3  # p_1 = 0 < q_1: the term is q_1
    d[0] -= d.sum()
    m = n + d
    assert m.sum() == total and (m >= 0).all()
    dtype = np.float64 if bits > 24 else np.float32
    scale = 2.0**-bits
    return (n * scale).astype(dtype), (m * scale).astype(dtype)


def near_independent_table(x, y, rel, rng):
    """p(x, y) = a_x b_y + e u_x v_y / 2^52 exactly, with exact marginals a, b (Σ = 1).

    a = n/2^26, b = m/2^26 (so a_x b_y is exact), u, v integer vectors summing to 0 (so
    the perturbation leaves every row and column sum unchanged).
    """

    def part(k):
        w = rng.uniform(0.5, 1.5, k)
        n = np.floor(w / w.sum() * 2**26).astype(np.int64)
        n[0] += 2**26 - n.sum()
        return n

    n, m = part(x), part(y)
    u = rng.integers(-8, 9, x)
    u[0] -= u.sum()
    v = rng.integers(-8, 9, y)
    v[0] -= v.sum()
    e = max(int(rel * 2**52 / 64), 1)
    counts = np.outer(n, m) + e * np.outer(u, v)
    assert counts.sum() == 2**52 and (counts > 0).all() and counts.max() < 2**53
    return counts.astype(np.float64) * 2.0**-52


def nearly_normalised_tables(dtype, seed=23) -> list[np.ndarray]:
    """Joint tables that sum to 1 only up to rounding, as users make them (accepted as valid).

    [[.1, .2], [.3, .4]] (exact total S = 1 + 2.8e-17), [[1, 2⁻⁶¹], [2⁻⁶², 2⁻⁶²]]
    (S = 1 + 2⁻⁶⁰, I ≈ 8e-18), one row/column of .1 … .4 (I = −S log S < 0), random tables
    divided by their sum in ``dtype``, nearly independent tables (product tables perturbed
    by a relative ``rel``) divided by their sum (these avoid ``rel ≈ 1e-8``, where
    I ≈ −(S − 1) and the correction −S log S cancels the terms: see
    ``test_bound_where_the_correction_cancels``), and random tables scaled to S − 1 =
    ±3/4 of the tolerance.
    """
    rng = np.random.default_rng(seed)
    out = [
        np.array([[0.1, 0.2], [0.3, 0.4]], dtype),
        np.array([[1.0, 2.0**-61], [2.0**-62, 2.0**-62]], dtype),
        np.array([[0.1, 0.2, 0.3, 0.4]], dtype),
        np.array([[0.1], [0.2], [0.3], [0.4]], dtype),
    ]
    for x, y in [(2, 2), (3, 5), (8, 8), (30, 30)]:
        for _ in range(3):
            w = rng.uniform(size=(x, y)).astype(dtype)
            out.append(w / w.sum())
    for rel in (1e-3, 1e-6, 1e-10, 1e-13):
        for x, y in [(2, 2), (3, 4), (8, 8)]:
            w = np.outer(rng.uniform(0.5, 1.5, x), rng.uniform(0.5, 1.5, y))
            w = (w * (1 + rel * rng.normal(size=(x, y)))).astype(dtype)
            out.append(w / w.sum())
    eps = float(np.finfo(dtype).eps)
    for x, y in [(3, 3), (30, 30)]:  # S − 1 = ±3 X Y eps, up to 3/4 of the tolerance
        for sign in (1, -1):
            w = rng.uniform(size=(x, y)).astype(dtype)
            out.append(w / w.sum() * dtype(1 + sign * 3 * x * y * eps))
    return out


def nearly_normalised_pairs(dtype, seed=31) -> list[tuple[np.ndarray, np.ndarray]]:
    """(p, q) that sum to 1 only up to rounding, as users make them (accepted as valid).

    .1 … .4 against uniform and reversed; .1 … .4 against itself with one ulp more in the
    last entry (P < Q, D = Σ p log(p/q) < 0); random pairs and nearly identical pairs
    (relative differences ``rel``) divided by their sums in ``dtype`` (these avoid
    ``rel ≈ 1e-8``, where D(p/P ‖ q/Q) ≈ −log(P/Q) and the correction cancels the terms:
    see ``test_bound_where_the_correction_cancels``), and pairs scaled to P − 1 = 1 − Q =
    3/4 of the tolerance.
    """
    rng = np.random.default_rng(seed)
    a = np.array([0.1, 0.2, 0.3, 0.4], dtype)
    out = [(a, np.full(4, 0.25, dtype)), (a, a[::-1].copy())]
    b = a.copy()
    b[-1] = np.nextafter(b[-1], dtype(1))
    out.append((a, b))
    for k in (2, 5, 64, 1000):
        for _ in range(2):
            p, q = rng.uniform(size=(2, k)).astype(dtype)
            out.append((p / p.sum(), q / q.sum()))
    for rel in (1e-3, 1e-6, 1e-10, 1e-13):
        for k in (2, 7, 100):
            p = rng.uniform(0.1, 1, k)
            q = (p * (1 + rel * rng.normal(size=k))).astype(dtype)
            p = p.astype(dtype)
            out.append((p / p.sum(), q / q.sum()))
    eps = float(np.finfo(dtype).eps)
    for k in (10, 1000):  # P − 1 = 3 K eps, Q − 1 = −3 K eps: 3/4 of the tolerance
        for rel in (1e-3, 1.0):
            p = rng.uniform(0.1, 1, k)
            q = (p * (1 + rel * rng.uniform(-0.9, 0.9, k))).astype(dtype)
            p = p.astype(dtype)
            out.append((p / p.sum() * dtype(1 + 3 * k * eps), q / q.sum() * dtype(1 - 3 * k * eps)))
    return out


# --------------------------------------------------------------------------- strategies


@st.composite
def distributions(draw, k=None, max_k=12):
    k = draw(st.integers(1, max_k)) if k is None else k
    w = draw(
        st.lists(st.one_of(st.just(0.0), st.floats(1e-6, 1e3)), min_size=k, max_size=k).filter(
            lambda w: sum(w) > 0
        )
    )
    return normalise(w, np.float64)


@st.composite
def distribution_pairs(draw, max_k=12):
    k = draw(st.integers(1, max_k))
    return draw(distributions(k=k)), draw(distributions(k=k))


@st.composite
def joint_tables(draw, max_side=6):
    x, y = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    return draw(distributions(k=x * y)).reshape(x, y)


# ------------------------------------------------------------------------------- tests


class TestSelfInformation:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("base", [math.e, 2.0, 10.0, 0.5, 3.0])
    def test_matches_mpmath(self, dtype, base):
        p = spanning_floats(dtype, per_decade=2, signed=False)
        p = np.concatenate([p[p <= 1], [1.0, 1 - np.finfo(dtype).epsneg, 0.5, 0.3]]).astype(dtype)
        got = self_information(p, base=base)
        assert got.dtype == dtype
        with mpmath.workdps(DPS):
            exact = [in_base(mpmath.inf if x == 0 else -mpmath.log(_mp(x)), base) for x in p]
        budget = BUDGET["self_information"][dtype]
        if dtype == np.float64 and base not in (math.e, 2.0, 10.0):
            budget = 3  # one more rounding: ln b
        assert_ulp(got, exact, dtype, budget, list(p), "I(p)")

    def test_zero_probability_is_inf_and_one_is_positive_zero(self):
        got = self_information([0.0, 1.0])
        assert got[0] == np.inf
        assert got[1] == 0.0 and not np.signbit(got[1])

    @given(st.floats(1e-300, 1.0))
    @example(1e-300)
    @example(1.0 - 2**-53)
    def test_bits_equal_nats_over_ln2(self, p):
        assert (
            rel_error(self_information(p, base=2), self_information(p) / mpmath.log(2))
            <= (2 * EPS[np.float64])
            or self_information(p) == 0
        )


class TestEntropy:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_mpmath(self, dtype):
        ps = adversarial_distributions(dtype)
        got = [entropy(p) for p in ps]
        assert all(g.dtype == dtype for g in got)
        exact = [mp_entropy(p) for p in ps]
        assert_ulp(got, exact, dtype, BUDGET["entropy"][dtype], [p.size for p in ps], "H(p)")

    @pytest.mark.parametrize("base", [2.0, 10.0])
    def test_matches_mpmath_in_base(self, base):
        ps = adversarial_distributions(np.float64, seed=3)[:12]
        got = [entropy(p, base=base) for p in ps]
        exact = [in_base(mp_entropy(p), base) for p in ps]
        assert_ulp(got, exact, np.float64, BUDGET["entropy"][np.float64] + 1, None, "H_b(p)")

    def test_zero_probabilities_contribute_zero(self):
        assert entropy([0.5, 0.0, 0.5], base=2) == 1.0
        assert entropy([1.0, 0.0]) == 0.0

    def test_axis_selects_the_outcome_axis_and_batches(self):
        rng = np.random.default_rng(5)
        p = normalise(rng.uniform(size=(4, 3)), np.float64)
        np.testing.assert_array_equal(entropy(p.T, axis=0), entropy(p))
        np.testing.assert_array_equal(entropy(p), [entropy(row) for row in p])

    @given(distributions(max_k=40))
    @example(np.ones(40) / 40)
    def test_at_most_log_k(self, p):
        assert 0.0 <= entropy(p) <= math.log(p.size) * (1 + 4 * EPS[np.float64])

    @given(distributions())
    @example(np.array([0.25, 0.75]))
    def test_base_change_bits_equal_nats_over_ln2(self, p):
        h, h2 = entropy(p), entropy(p, base=2)
        assert abs(h2 - h / math.log(2)) <= 4 * EPS[np.float64] * h2


class TestJointEntropy:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_mpmath(self, dtype):
        tables = [
            p.reshape(-1, 1) if p.size < 4 else p[: (p.size // 2) * 2].reshape(2, -1)
            for p in adversarial_distributions(dtype, seed=7)
        ]
        tables = [t for t in tables if abs(float(mp_sum(t)) - 1) < 1e-6]
        got = [joint_entropy(t) for t in tables]
        exact = [mp_entropy(t) for t in tables]
        assert_ulp(got, exact, dtype, BUDGET["entropy"][dtype], [t.shape for t in tables], "H(X,Y)")

    def test_batched_matches_loop(self):
        rng = np.random.default_rng(2)
        t = normalise(rng.uniform(size=(5, 12)), np.float64).reshape(5, 3, 4)
        np.testing.assert_array_equal(joint_entropy(t), [joint_entropy(x) for x in t])

    @given(joint_tables())
    @example(np.array([[0.5, 0.0], [0.0, 0.5]]))
    def test_chain_rule_joint_equals_marginal_plus_conditional(self, t):
        hx = entropy(normalise(t.sum(axis=1), np.float64))
        hxy = joint_entropy(t)
        assert abs(hxy - (hx + conditional_entropy(t))) <= 16 * EPS[np.float64] * (1 + hxy)


class TestConditionalEntropy:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_mpmath(self, dtype):
        rng = np.random.default_rng(11)
        shapes = [(1, 1), (2, 3), (5, 5)]
        tables = [normalise(rng.uniform(size=x * y), dtype).reshape(x, y) for x, y in shapes]
        lo = int(np.log10(np.finfo(dtype).tiny)) + 3
        tables.append(normalise(10.0 ** rng.uniform(lo, 0, 12), dtype).reshape(3, 4))
        tables.append(normalise([1.0, 1e-10, 1.0, 0.0, 2e-9, 3.0], dtype).reshape(3, 2))
        got = [conditional_entropy(t) for t in tables]
        exact = [mp_conditional_entropy(t) for t in tables]
        assert_ulp(got, exact, dtype, BUDGET["entropy"][dtype], [t.shape for t in tables], "H(Y|X)")

    def test_nearly_deterministic_rows_keep_full_accuracy(self):
        # rows (1 − 2^-40, 2^-40) / 2: H(Y|X) ≈ 2.8e-11 from terms that the difference
        # H(X, Y) − H(X) cancels to ~1e-16 absolute
        t = np.array([[1 - 2.0**-40, 2.0**-40], [2.0**-41, 1 - 2.0**-41]]) / 2
        exact = mp_conditional_entropy(t)
        assert ulp_error(conditional_entropy(t), exact) <= 4
        naive = joint_entropy(t) - entropy(t.sum(axis=1))
        assert ulp_error(naive, exact) > 1e3  # the cancelling form is measurably worse

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_nearly_normalised_tables_match_the_definition(self, dtype):
        # Σ p log(p(x)/p) never uses Σ p = 1: the same budget as for normalised tables
        tables = nearly_normalised_tables(dtype)
        got = [conditional_entropy(t) for t in tables]
        exact = [mp_conditional_entropy(t) for t in tables]
        assert_ulp(got, exact, dtype, BUDGET["entropy"][dtype], None, "H(Y|X), S ≠ 1")

    def test_deterministic_table_has_zero_conditional_entropy(self):
        assert conditional_entropy(np.diag([0.25, 0.25, 0.5])) == 0.0


class TestMutualInformation:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_mpmath_definition(self, dtype):
        rng = np.random.default_rng(13)
        lo = int(np.log10(np.finfo(dtype).tiny)) + 3
        tables = [
            normalise(rng.uniform(size=x * y), dtype).reshape(x, y)
            for x, y in [(1, 1), (2, 2), (3, 5), (30, 30)]
        ]
        tables.append(normalise(10.0 ** rng.uniform(lo, 0, 12), dtype).reshape(4, 3))
        tables.append(np.array([[0.5, 0.0], [0.0, 0.5]], dtype))
        tables.append(np.array([[0.25, 0.25], [0.0, 0.5]], dtype))
        got = [mutual_information(t) for t in tables]
        exact = [mp_mutual_information(t) for t in tables]
        assert_ulp(got, exact, dtype, BUDGET["kl"][dtype], [t.shape for t in tables], "I(X;Y)")

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_nearly_normalised_tables_match_the_definition(self, dtype):
        # The definition at the exact binary inputs, whose total S is not exactly 1.  Budget
        # 4 ULP (float64): the terms p log(p/q') − p + q' (q' = p(x) p(y)/S) are the KL
        # kernel's, <= 4 ulp each and non-negative (nothing cancels between them), summed
        # compensated together with −S log S (double-double) and rounded once; −S log S < 0
        # (S > 1) cancels nothing here, as either I >> S − 1 or the terms << S − 1.  float32:
        # 1 (float64 work, one rounding).  The form without −S log S was off by S² − S:
        # 32 ULP at [[.1, .2], [.3, .4]], 5.6e14 ULP at the 2⁻⁶¹ table.
        tables = nearly_normalised_tables(dtype)
        sums = [mp_sum(t) for t in tables]
        assert sums[0] != 1 and sums[1] != 1 and sum(s != 1 for s in sums) >= len(sums) // 2
        got = [mutual_information(t) for t in tables]
        exact = [mp_mutual_information(t) for t in tables]
        assert_ulp(got, exact, dtype, BUDGET["kl"][dtype], [t.shape for t in tables], "I(X;Y)")

    def test_nearly_normalised_batch_matches_single_tables(self):
        tables = [t for t in nearly_normalised_tables(np.float64) if t.shape == (8, 8)]
        batch = mutual_information(np.stack(tables)[None])[0]
        assert batch.tolist() == [mutual_information(t) for t in tables]

    def test_bound_where_the_correction_cancels(self):
        # S > 1 and I ≈ −(S − 1): the terms (≈ I + S log S, each <= 4 ulp) and −S log S
        # cancel, so the documented bound is 4 eps (|I| + S log S), not 4 ulp of I
        rng = np.random.default_rng(29)
        seen = 0
        for _ in range(40):
            w = np.outer(rng.uniform(0.5, 1.5, 3), rng.uniform(0.5, 1.5, 3))
            t = w * (1 + 2e-8 * rng.normal(size=(3, 3)))
            t = t / t.sum()
            with mpmath.workdps(DPS):
                s = mp_sum(t)
                if s <= 1:
                    continue
                seen += 1
                exact = mp_mutual_information(t)
                bound = 4 * EPS[np.float64] * (abs(exact) + s * mpmath.log(s))
                assert abs(mpmath.mpf(float(mutual_information(t))) - exact) <= bound, t
        assert seen >= 10

    @pytest.mark.parametrize("rel", [1e-3, 1e-6, 1e-9, 1e-12])
    def test_nearly_independent_exact_tables_keep_relative_accuracy(self, rel):
        rng = np.random.default_rng(int(-math.log10(rel)))
        for x, y in [(2, 2), (4, 7)]:
            t = near_independent_table(x, y, rel, rng)
            exact = mp_mutual_information(t)
            assert exact > 0
            assert ulp_error(mutual_information(t), exact) <= BUDGET["kl"][np.float64]
            naive = entropy(t.sum(axis=1)) + entropy(t.sum(axis=0)) - joint_entropy(t)
            if rel <= 1e-6:
                assert rel_error(naive, exact) > 1e-8  # the entropy identity cancels

    def test_independent_exact_table_has_zero_mutual_information(self):
        a, b = np.array([0.25, 0.75]), np.array([0.5, 0.125, 0.375])
        assert mutual_information(np.outer(a, b)) == 0.0

    @given(joint_tables())
    @example(np.full((3, 3), 1 / 9))
    @example(np.array([[0.2, 0.8]]))  # S = 1 + 2⁻⁵⁴: I = −S log S < 0
    def test_non_negative_up_to_the_total_and_symmetric(self, t):
        # I = S I(p/S) − S log S >= −S log S >= −S (S − 1), and >= 0 where S <= 1
        i = mutual_information(t)
        excess = math.fsum([*t.ravel(), -1.0])  # S − 1, exactly
        assert i >= -1.01 * max(excess, 0.0)
        bound = 8 * EPS[np.float64] * (abs(i) + max(excess, 0.0)) + 1e-300
        assert abs(i - mutual_information(t.T)) <= bound

    @given(joint_tables())
    def test_equals_entropy_identity_within_its_cancellation(self, t):
        hx, hy = entropy(normalise(t.sum(1), np.float64)), entropy(normalise(t.sum(0), np.float64))
        hxy = joint_entropy(t)
        assert abs(mutual_information(t) - (hx + hy - hxy)) <= 32 * EPS[np.float64] * (1 + hxy)


class TestPointwiseMutualInformation:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_mpmath(self, dtype):
        rng = np.random.default_rng(17)
        tables = [normalise(rng.uniform(size=12), dtype).reshape(3, 4)]
        tables.append(np.array([[0.5, 0.0], [0.25, 0.25]], dtype))
        tables.append(np.array([[0.5, 0.0], [0.5, 0.0]], dtype))  # p(y=1) = 0: NaN column
        lo = int(np.log10(np.finfo(dtype).tiny)) + 3
        tables.append(normalise(10.0 ** rng.uniform(lo, 0, 9), dtype).reshape(3, 3))
        got = np.concatenate([pointwise_mutual_information(t).ravel() for t in tables])
        exact = [e for t in tables for e in mp_pmi(t)]
        assert_ulp(got, exact, dtype, BUDGET["pmi"][dtype], None, "pmi")

    def test_nearly_independent_cells_keep_relative_accuracy(self):
        t = near_independent_table(3, 4, 1e-10, np.random.default_rng(3))
        got = pointwise_mutual_information(t).ravel()
        assert_ulp(got, mp_pmi(t), np.float64, BUDGET["pmi"][np.float64], None, "pmi≈0")

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_nearly_normalised_tables_match_the_definition(self, dtype):
        # log(p/(p(x) p(y))) never uses Σ p = 1: the same budget as for normalised tables
        tables = nearly_normalised_tables(dtype)
        got = np.concatenate([pointwise_mutual_information(t).ravel() for t in tables])
        exact = [e for t in tables for e in mp_pmi(t)]
        assert_ulp(got, exact, dtype, BUDGET["pmi"][dtype], None, "pmi, S ≠ 1")

    def test_conventions_minus_inf_and_nan_without_warnings(self):
        t = np.array([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = pointwise_mutual_information(t)
        assert got[0, 1] == -np.inf and got[1, 0] == -np.inf
        assert np.isnan(got[:, 2]).all()  # p(y) = 0: 0/0, undefined
        assert got[0, 0] == pytest.approx(math.log(2), rel=4 * EPS[np.float64])

    @given(joint_tables())
    def test_expectation_is_mutual_information(self, t):
        pmi = pointwise_mutual_information(t)
        mean = np.sum(np.where(t > 0, t * np.where(t > 0, pmi, 0.0), 0.0))
        assert abs(mean - mutual_information(t)) <= 1e-13


class TestCrossEntropy:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_mpmath(self, dtype):
        pairs = adversarial_pairs(dtype)
        got = [cross_entropy(p, q) for p, q in pairs]
        assert all(g.dtype == dtype for g in got)
        exact = [mp_cross_entropy(p, q) for p, q in pairs]
        assert_ulp(got, exact, dtype, BUDGET["cross_entropy"][dtype], None, "H(p,q)")

    def test_infinite_where_q_is_zero_below_positive_p(self):
        assert cross_entropy([0.5, 0.5], [1.0, 0.0]) == np.inf
        assert cross_entropy([1.0, 0.0], [1.0, 0.0]) == 0.0  # 0 log 0 = 0

    def test_distribution_axis_fixed_other_axes_broadcast(self):
        rng = np.random.default_rng(4)
        p = normalise(rng.uniform(size=(6, 5)), np.float64)
        q = normalise(rng.uniform(size=5), np.float64)
        np.testing.assert_array_equal(cross_entropy(p, q), [cross_entropy(row, q) for row in p])
        np.testing.assert_array_equal(cross_entropy(p.T, q[:, None], axis=0), cross_entropy(p, q))

    @given(distribution_pairs())
    @example((np.array([1.0]), np.array([1.0])))
    @example((np.array([0.5, 0.5]), np.array([0.5, 0.5])))
    def test_equals_entropy_plus_kl(self, pq):
        p, q = pq
        ce, h, kl = cross_entropy(p, q), entropy(p), kl_divergence(p, q)
        if np.isinf(ce):
            assert np.isinf(kl)
            return
        dev = abs(math.fsum(p) - math.fsum(q))  # KL's documented normalisation deviation
        assert abs(ce - (h + kl)) <= 8 * EPS[np.float64] * ce + dev + 1e-300


class TestKlDivergence:
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_matches_mpmath_definition(self, dtype):
        pairs = adversarial_pairs(dtype)
        got = [kl_divergence(p, q) for p, q in pairs]
        assert all(g.dtype == dtype for g in got)
        exact = [mp_kl(p, q) for p, q in pairs]
        assert_ulp(got, exact, dtype, BUDGET["kl"][dtype], [p.size for p, _ in pairs], "D(p||q)")

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_nearly_normalised_pairs_match_the_definition(self, dtype):
        # The definition at the exact binary inputs, whose totals P, Q are not exactly 1.
        # Budget 4 ULP (float64): the terms p log(p/q') − p + q' (q' = q (1 + κ), κ ≈ P/Q − 1)
        # are <= 4 ulp each and non-negative, summed compensated together with the
        # correction for the totals (built from P − Q in double-double) and rounded once; a
        # negative correction (P < Q) cancels nothing here, as either D >> |P − Q| or the
        # terms << |P − Q|.  float32: 1 (float64 work, one rounding).  The form without the
        # correction was off by Q − P: up to 3.7e13 ULP for nearly identical pairs.
        pairs = nearly_normalised_pairs(dtype)
        assert sum(mp_sum(p) != mp_sum(q) for p, q in pairs) >= len(pairs) // 2
        got = [kl_divergence(p, q) for p, q in pairs]
        exact = [mp_kl(p, q) for p, q in pairs]
        assert exact[2] < 0  # P < Q and p ≈ q: the definition is negative
        assert_ulp(got, exact, dtype, BUDGET["kl"][dtype], [p.size for p, _ in pairs], "D, P ≠ Q")

    def test_nearly_normalised_batch_matches_single_pairs(self):
        pairs = [(p, q) for p, q in nearly_normalised_pairs(np.float64) if p.size == 100]
        p, q = (np.stack(v) for v in zip(*pairs, strict=True))
        assert kl_divergence(p.T, q.T, axis=0).tolist() == [kl_divergence(*pq) for pq in pairs]

    def test_bound_where_the_correction_cancels(self):
        # P < Q and D ≈ 0: the terms (≈ D − P log(P/Q), each <= 4 ulp) and the correction
        # cancel, so the documented bound is 4 eps (|D| + |P log(P/Q)|), not 4 ulp of D
        rng = np.random.default_rng(37)
        seen = 0
        for _ in range(40):
            p = rng.uniform(0.5, 1.5, 4)
            q = p * (1 + 2e-8 * rng.normal(size=4))
            p, q = p / p.sum(), q / q.sum()
            with mpmath.workdps(DPS):
                sp, sq = mp_sum(p), mp_sum(q)
                if sp >= sq:
                    continue
                seen += 1
                exact = mp_kl(p, q)
                bound = 4 * EPS[np.float64] * (abs(exact) + abs(sp * mpmath.log(sp / sq)))
                assert abs(mpmath.mpf(float(kl_divergence(p, q))) - exact) <= bound, (p, q)
        assert seen >= 10

    @pytest.mark.parametrize("rel", [1e-6, 1e-9, 1e-12, 1e-15])
    @pytest.mark.parametrize("k", [2, 3, 10, 100])
    def test_nearly_identical_exact_distributions_float64(self, k, rel):
        rng = np.random.default_rng(k)
        p, q = exact_pair(k, rel, rng, zeros=(k == 10))
        assert math.fsum(p) == 1.0 and math.fsum(q) == 1.0
        exact = mp_kl(p, q)
        assert ulp_error(kl_divergence(p, q), exact) <= BUDGET["kl"][np.float64]

    @pytest.mark.parametrize("rel", [1e-6, 1e-9, 1e-12])
    def test_nearly_identical_exact_distributions_large_k(self, rel):
        p, q = exact_pair(10_000, rel, np.random.default_rng(99))
        assert ulp_error(kl_divergence(p, q), mp_kl(p, q)) <= BUDGET["kl"][np.float64]

    @pytest.mark.parametrize("rel", [1e-3, 1e-5, 1e-7])
    def test_nearly_identical_exact_distributions_float32(self, rel):
        p, q = exact_pair(8, rel, np.random.default_rng(8), bits=24)
        got = kl_divergence(p, q)
        assert got.dtype == np.float32
        assert ulp_error(got, mp_kl(p, q), np.float32) <= BUDGET["kl"][np.float32]

    def test_beats_the_literal_sum_where_it_cancels(self):
        from scipy.special import rel_entr

        p, q = exact_pair(10, 1e-12, np.random.default_rng(1))
        exact = mp_kl(p, q)
        assert rel_error(kl_divergence(p, q), exact) <= 2 * EPS[np.float64]
        assert rel_error(np.sum(rel_entr(p, q)), exact) > 1e-8  # scipy: noise

    def test_zero_where_p_is_zero_even_if_q_is_zero_no_nan(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert kl_divergence([0.0, 1.0], [0.0, 1.0]) == 0.0
            assert kl_divergence([0.0, 1.0], [0.5, 0.5]) == pytest.approx(math.log(2), rel=1e-15)

    def test_infinite_where_q_is_zero_below_positive_p(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert kl_divergence([0.5, 0.5], [1.0, 0.0]) == np.inf

    def test_extreme_ratios_do_not_overflow(self):
        p = np.array([1 - 2.0**-30, 2.0**-30])
        q = np.array([1 - 5e-324, 5e-324])
        exact = mp_kl(p, q)
        assert ulp_error(kl_divergence(p, q), exact) <= BUDGET["kl"][np.float64]

    @given(distribution_pairs())
    @example((np.array([0.5, 0.5]), np.array([0.5, 0.5])))
    @example((np.array([0.5, 0.5]), np.array([0.5 + 2**-53, 0.5 - 2**-53])))
    @example((np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.1, 0.2, 0.3, 0.4 + 2**-54])))
    def test_non_negative_up_to_the_totals_and_zero_iff_equal(self, pq):
        # D = P D(p/P ‖ q/Q) + P log(P/Q) >= P log(P/Q) >= P − Q, and >= 0 where P >= Q
        p, q = pq
        d = kl_divergence(p, q)
        excess = math.fsum([*q, *(-p)])  # Q − P, exactly
        assert d >= -1.01 * max(excess, 0.0)
        assert (d == 0) == np.array_equal(p, q)

    @given(distribution_pairs())
    @example((np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.1, 0.2, 0.3, 0.4 + 2**-54])))  # D < 0
    def test_base_change_bits_equal_nats_over_ln2(self, pq):
        d, d2 = kl_divergence(*pq), kl_divergence(*pq, base=2)
        assert d2 == d == np.inf or abs(d2 - d / math.log(2)) <= 4 * EPS[np.float64] * abs(d2)


class TestPerplexity:
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("base", [math.e, 2.0, 10.0])
    def test_matches_mpmath(self, dtype, base):
        hmax = math.log(float(np.finfo(dtype).max)) / math.log(base)
        h = np.concatenate([[0.0, 1e-300, 1e-8, 0.5, 1.0, 3.0], np.linspace(0, hmax * 1.01, 50)])
        h = h.astype(dtype)
        got = perplexity(h, base=base)
        assert got.dtype == dtype
        with mpmath.workdps(DPS):
            b = mpmath.e if base == math.e else _mp(base)
            exact = [mpmath.power(b, _mp(x)) for x in h]
        assert_ulp(got, exact, dtype, BUDGET["perplexity"][dtype], list(h), "b**H")

    def test_infinite_cross_entropy_gives_infinite_perplexity(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert perplexity([np.inf, 1e6]).tolist() == [np.inf, np.inf]

    def test_inverts_entropy_of_uniform(self):
        pp = perplexity(entropy(np.full(8, 0.125), base=2), base=2)
        assert pp == pytest.approx(8.0, rel=8 * EPS[np.float64])


class TestLog1pmx:
    """``log1pmx(r) = log1p(r) − r``: the rewrite behind the KL kernel."""

    def test_series_converts_back_to_log1p_minus_r(self):
        # log1p(r) − r = −r s + 2 s³ A(s²), s = r/(2 + r), A(t) = Σ tⁿ/(2n + 3): exact identity
        # (atanh's series) up to the truncation order of the coefficients used
        s, r = sympy.symbols("s r")
        a = sum(sympy.Rational(1, 2 * n + 3) * s ** (2 * n) for n in range(len(_ATANH_TAIL)))
        assert [float(sympy.Rational(1, 2 * n + 3)) for n in range(len(_ATANH_TAIL))] == list(
            _ATANH_TAIL
        )
        claim = 2 * s + 2 * s**3 * a  # = log((1+s)/(1-s)) up to O(s^59)
        diff = sympy.series(sympy.log((1 + s) / (1 - s)) - claim, s, 0, 59).removeO()
        assert sympy.simplify(diff) == 0
        rs = r / (2 + r)
        assert sympy.simplify(r - 2 * rs - r * rs) == 0  # r − 2s = r s

    def test_derivative_unchanged(self):
        r = np.array([-0.6, -0.1, 1e-3, 0.4, 1.9, 3.0])
        h = 1e-6 * np.maximum(np.abs(r), 1e-3)
        fd = (_log1pmx(r + h) - _log1pmx(r - h)) / (2 * h)
        np.testing.assert_allclose(fd, 1 / (1 + r) - 1, rtol=1e-6)

    def test_matches_mpmath_across_branch_points(self):
        r = np.concatenate(
            [
                np.linspace(-0.999, 5, 301),
                np.nextafter(-2 / 3, [-1, 1]),
                np.nextafter(2.0, [0, 4]),
                [1e-300, -1e-300, 1e-16, -1e-8, 1e-3, 1e10, 1e300],
            ]
        )
        with mpmath.workdps(DPS):
            exact = [mpmath.log1p(_mp(x)) - _mp(x) for x in r]
        assert_ulp(_log1pmx(r), exact, np.float64, 2.5, list(r), "log1pmx")
        assert _log1pmx(-1.0) == -np.inf

    def test_naive_form_is_measurably_worse(self):
        r = 1e-6
        with mpmath.workdps(DPS):
            exact = mpmath.log1p(_mp(r)) - _mp(r)
        assert ulp_error(_log1pmx(r), exact) <= 2.5
        assert ulp_error(np.log1p(r) - r, exact) > 1e3


class TestKlTerms:
    """``p log(p/q) − p + q`` term by term: the non-negative form of the KL sum."""

    def test_matches_mpmath_termwise_over_all_ratios(self):
        rng = np.random.default_rng(21)
        q = rng.uniform(0.1, 1, 400)
        p = q * np.exp(rng.uniform(-4, 4, 400))
        p = np.concatenate([p, [0.0, 0.5, 1e-300, 1.0], q[:10] * (1 + 2.0**-52)])
        q = np.concatenate([q, [0.5, 0.0, 1.0, 1e-300], q[:10]])
        with mpmath.workdps(DPS):
            exact = [
                (
                    _mp(b)
                    if a == 0
                    else mpmath.inf
                    if b == 0
                    else _mp(a) * mpmath.log(_mp(a) / _mp(b)) - _mp(a) + _mp(b)
                )
                for a, b in zip(p, q, strict=True)
            ]
        assert_ulp(_kl_terms_pq(p, q), exact, np.float64, 4, None, "KL terms")

    def test_series_form_converts_back_to_the_term(self):
        # s = (p − q)/(p + q) gives p/q = (1 + s)/(1 − s); with log(p/q) = 2s + 2s³A (the
        # atanh series of TestLog1pmx, A its tail as a symbol), p log(p/q) − p + q equals
        # (p − q) s + 2 p s³ A identically
        p, q, a = sympy.symbols("p q A", positive=True)
        s = (p - q) / (p + q)
        assert sympy.simplify((1 + s) / (1 - s) - p / q) == 0
        log_ratio = 2 * s + 2 * s**3 * a
        term = p * log_ratio - p + q
        assert sympy.simplify(term - ((p - q) * s + 2 * p * s**3 * a)) == 0

    def test_derivatives_unchanged(self):
        # ∂t/∂p = log(p/q), ∂t/∂q = 1 − p/q for t = p log(p/q) − p + q
        p = np.array([0.3, 0.3, 0.5, 0.9, 0.05])
        q = np.array([0.3 * (1 + 1e-3), 0.2, 0.45, 0.1, 0.5])
        h = 1e-7 * p
        dp = (_kl_terms_pq(p + h, q) - _kl_terms_pq(p - h, q)) / (2 * h)
        dq = (_kl_terms_pq(p, q + h) - _kl_terms_pq(p, q - h)) / (2 * h)
        np.testing.assert_allclose(dp, np.log(p / q), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(dq, 1 - p / q, rtol=1e-6, atol=1e-9)

    def test_naive_terms_are_measurably_worse(self):
        p, q = 0.3 * (1 + 2.0**-30), 0.3
        with mpmath.workdps(DPS):
            exact = _mp(p) * mpmath.log(_mp(p) / _mp(q)) - _mp(p) + _mp(q)
        assert ulp_error(_kl_terms_pq(np.array(p), np.array(q)), exact) <= 4
        assert ulp_error(p * math.log(p / q) - p + q, exact) > 1e3


# ------------------------------------------------------------------------ bad input

D2L_JOINT = [[0.1, 0.2, 0.3], [0.1, 0.2, 0.2]]  # sums to 1.1
RAW_NORMAL = np.random.default_rng(0).normal(size=(4, 3))
GOOD = [0.25, 0.75]
GOOD_TABLE = [[0.25, 0.25], [0.25, 0.25]]

_DIST_BAD = [
    ("negative", [-0.5, 1.5], ValueError, ">= 0"),
    ("not normalised", [0.5, 0.6], ValueError, "sum to 1"),
    ("raw normal samples", RAW_NORMAL[0], ValueError, ">= 0|sum to 1"),
    ("nan", [np.nan, 1.0], ValueError, "NaN"),
    ("inf", [np.inf, 0.0], ValueError, "inf"),
    ("empty", [], ValueError, "empty"),
    ("scalar", 1.0, ValueError, "dimension"),
    ("complex", np.array([0.5, 0.5], complex), TypeError, "complex"),
    ("object", np.array([0.5, 0.5], object), TypeError, "dtype"),
    ("bool", np.array([True, False]), TypeError, "boolean"),
    ("string", ["a", "b"], TypeError, "dtype"),
]
_TABLE_BAD = [
    ("D2L joint summing to 1.1", D2L_JOINT, ValueError, "sum to 1"),
    ("raw normal samples", RAW_NORMAL, ValueError, ">= 0|sum to 1"),
    ("negative", [[-0.25, 0.75], [0.25, 0.25]], ValueError, ">= 0"),
    ("nan", [[np.nan, 0.5], [0.25, 0.25]], ValueError, "NaN"),
    ("inf", [[np.inf, 0.5], [0.25, 0.25]], ValueError, "inf"),
    ("1-d", GOOD, ValueError, "two axes"),
    ("empty", np.zeros((0, 2)), ValueError, "empty"),
    ("complex", np.array(GOOD_TABLE, complex), TypeError, "complex"),
    ("object", np.array(GOOD_TABLE, object), TypeError, "dtype"),
    ("bool", np.eye(2, dtype=bool), TypeError, "boolean"),
]
_BASE_BAD = [
    ("base 0", 0.0, ValueError, "base"),
    ("base negative", -2.0, ValueError, "base"),
    ("base 1", 1.0, ValueError, "base"),
    ("base inf", np.inf, ValueError, "base"),
    ("base nan", np.nan, ValueError, "base"),
    ("base string", "2", TypeError, "base"),
    ("base bool", True, TypeError, "base"),
]


def _bad_cases():
    cases = []
    for label, bad, exc, msg in _DIST_BAD:
        cases.append(
            pytest.param(entropy, (bad,), {}, exc, f"p: .*(?:{msg})", id=f"entropy-{label}")
        )
        for fn in (cross_entropy, kl_divergence):
            cases.append(
                pytest.param(
                    fn, (bad, GOOD), {}, exc, f"p: .*(?:{msg})", id=f"{fn.__name__}-p-{label}"
                )
            )
            cases.append(
                pytest.param(
                    fn, (GOOD, bad), {}, exc, f"q: .*(?:{msg})", id=f"{fn.__name__}-q-{label}"
                )
            )
    for label, bad, exc, msg in _TABLE_BAD:
        for fn in (
            joint_entropy,
            conditional_entropy,
            mutual_information,
            pointwise_mutual_information,
        ):
            cases.append(
                pytest.param(fn, (bad,), {}, exc, f"p_xy: .*(?:{msg})", id=f"{fn.__name__}-{label}")
            )
    for label, b, exc, msg in _BASE_BAD:
        for fn, args in [
            (self_information, (0.5,)),
            (entropy, (GOOD,)),
            (joint_entropy, (GOOD_TABLE,)),
            (conditional_entropy, (GOOD_TABLE,)),
            (mutual_information, (GOOD_TABLE,)),
            (pointwise_mutual_information, (GOOD_TABLE,)),
            (cross_entropy, (GOOD, GOOD)),
            (kl_divergence, (GOOD, GOOD)),
            (perplexity, (1.0,)),
        ]:
            cases.append(pytest.param(fn, args, {"base": b}, exc, msg, id=f"{fn.__name__}-{label}"))
    for fn in (cross_entropy, kl_divergence):
        cases += [
            pytest.param(
                fn,
                ([0.5, 0.5], [0.2, 0.3, 0.5]),
                {},
                ValueError,
                r"p .*q|p has .*q has",
                id=f"{fn.__name__}-different-K",
            ),
            pytest.param(
                fn,
                (np.full((2, 2), 0.5), np.full((3, 2), 0.5)),
                {},
                ValueError,
                r"p \(2, 2\).*q \(3, 2\)",
                id=f"{fn.__name__}-batch-mismatch",
            ),
            pytest.param(
                fn,
                (GOOD, GOOD),
                {"axis": 2},
                ValueError,
                "axis",
                id=f"{fn.__name__}-axis-out-of-range",
            ),
            pytest.param(
                fn, (GOOD, GOOD), {"axis": 0.5}, TypeError, "axis", id=f"{fn.__name__}-axis-float"
            ),
        ]
    cases += [
        pytest.param(self_information, (-0.1,), {}, ValueError, r"p: .*\[0, 1\]", id="I-negative"),
        pytest.param(self_information, (1.5,), {}, ValueError, r"p: .*\[0, 1\]", id="I-above-one"),
        pytest.param(self_information, (np.nan,), {}, ValueError, "p: .*NaN", id="I-nan"),
        pytest.param(self_information, ([],), {}, ValueError, "p: empty", id="I-empty"),
        pytest.param(self_information, (0.5j,), {}, TypeError, "p: complex", id="I-complex"),
        pytest.param(self_information, (True,), {}, TypeError, "p: boolean", id="I-bool"),
        pytest.param(
            perplexity,
            (-1.0,),
            {},
            ValueError,
            "cross_entropy: must be >= 0",
            id="perplexity-negative",
        ),
        pytest.param(
            perplexity, (np.nan,), {}, ValueError, "cross_entropy: .*NaN", id="perplexity-nan"
        ),
        pytest.param(perplexity, (-np.inf,), {}, ValueError, "cross_entropy", id="perplexity-minf"),
        pytest.param(
            perplexity, ([],), {}, ValueError, "cross_entropy: empty", id="perplexity-empty"
        ),
        pytest.param(
            perplexity, (1j,), {}, TypeError, "cross_entropy: complex", id="perplexity-complex"
        ),
        pytest.param(
            perplexity,
            (np.array([1], object),),
            {},
            TypeError,
            "cross_entropy",
            id="perplexity-object",
        ),
        pytest.param(entropy, (GOOD,), {"axis": 1}, ValueError, "axis", id="entropy-axis"),
    ]
    return cases


class TestBadInput:
    @pytest.mark.parametrize(("fn", "args", "kwargs", "exc", "match"), _bad_cases())
    def test_raises_naming_the_argument(self, fn, args, kwargs, exc, match):
        with pytest.raises(exc, match=match):
            fn(*args, **kwargs)

    def test_slightly_off_normalisation_within_tolerance_is_accepted(self):
        p = np.full(10, 0.1)  # sums to 0.9999999999999999
        assert np.isfinite(entropy(p)) and kl_divergence(p, p) == 0.0

    def test_inputs_are_not_normalised_silently(self):
        with pytest.raises(ValueError, match="sum to 1"):
            kl_divergence([0.5, 0.5 + 1e-6], [0.5, 0.5])
