"""derive.mle: each derivation verifies, fails without its key assumption or with a wrong
step, and its estimator agrees with an independent high-precision maximisation of the
log-likelihood *definition* (``mpmath.findroot`` on ``mpmath.diff`` of Σ log P(data)), and
the identities with numeric/.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
from functools import cache

import mpmath
import numpy as np
import pytest
import sympy

import derive
import numeric
from derive import core
from derive import mle as m
from derive.core import DerivationError, Step
from derive.export import export
from tests.oracle import rel_error

EPS = np.finfo(np.float64).eps
DPS = 50


@cache
def verified(name: str) -> tuple:
    return tuple(derive.get(name).verify())


def check_step(d, n: int, step: Step) -> None:
    """Check step ``n`` of ``d`` with ``step`` in its place, in context, as verify() does.
    Only the numeric check can reject a step, so SymPy is skipped."""
    steps = list(d.steps)
    steps[n - 1] = dataclasses.replace(step, numeric_only=True)
    variant = dataclasses.replace(d, steps=steps)
    _, s, rel = next(c for c in variant.claims() if c[0] == n)
    core._check_claim(variant, n, rel, s, points=core.DEFAULT_POINTS, dps=core.DEFAULT_DPS,
                      seed=7919 * n)


def without_assumptions(step: Step) -> Step:
    return dataclasses.replace(
        step, relies_on=tuple(r for r in step.relies_on if not isinstance(r, core.Assumption)))


def estimator(name: str, values: dict, index=None):
    """The derived estimator (result rhs) at data ``values`` ({IndexedBase: list}), mpf."""
    d = derive.get(name)
    rhs = d.result.rhs
    sizes = {sym: len(v) for sym, v in values.items()}
    size_symbol = {"mle-bernoulli": m.n, "mle-gaussian": m.n, "mle-categorical": m.K}[name]
    (length,) = set(sizes.values())
    e = rhs.subs(size_symbol, length)
    if index is not None:
        e = e.subs(m.i, index)
    e = e.doit()
    # data are floats or integers: exact rationals, so nothing is rounded before evalf
    subs = {base[j + 1]: sympy.Rational(v) for base, vals in values.items()
            for j, v in enumerate(vals)}
    return mpmath.mpf(str(e.xreplace(subs).evalf(DPS)))


# --------------------------------------------------------------------------- bernoulli


class TestMleBernoulli:
    name = "mle-bernoulli"

    def test_verifies(self):
        reports = verified(self.name)
        assert [r.index for r in reports if not r.symbolic] == [10]  # the "< 0" step

    def test_fails_without_stationarity(self):
        d = derive.get(self.name)
        with pytest.raises(DerivationError) as exc:
            check_step(d, 8, without_assumptions(d.steps[7]))
        assert exc.value.step == 8

    def test_fails_with_a_wrong_score(self):
        d = derive.get(self.name)
        lhs = d.steps[4].expr.lhs
        wrong = sympy.Eq(lhs, m.n1 / m.p + (m.n - m.n1) / (1 - m.p))
        with pytest.raises(DerivationError) as exc:
            check_step(d, 5, Step(wrong, "sign error"))
        assert exc.value.step == 5

    def test_matches_numeric_maximisation(self):
        rng = random.Random(1)
        for n in (3, 10, 40):
            ys = [rng.randint(0, 1) for _ in range(n)]
            ys[0], ys[1] = 0, 1
            with mpmath.workdps(DPS):
                def loglik(p, ys=ys):
                    return mpmath.fsum(y * mpmath.log(p) + (1 - y) * mpmath.log(1 - p)
                                       for y in ys)

                def score(p, loglik=loglik):
                    return mpmath.diff(loglik, p)

                found = mpmath.findroot(score, (mpmath.mpf("0.01"), mpmath.mpf("0.99")),
                                        solver="anderson")
                assert mpmath.diff(loglik, found, 2) < 0
                got = estimator(self.name, {m.y: ys})
                assert abs(got - found) <= mpmath.mpf(10) ** -40

    def test_mean_nll_is_cross_entropy(self):
        rng = np.random.default_rng(2)
        ys = rng.integers(0, 2, 25).astype(float)
        for p in (0.1, 0.5, 0.93):
            nll = -np.mean(ys * np.log(p) + (1 - ys) * np.log1p(-p))
            frac = ys.mean()
            ce = numeric.cross_entropy([1 - frac, frac], [1 - p, p])
            assert abs(nll - ce) <= 8 * EPS * ce


# ------------------------------------------------------------------------- categorical


class TestMleCategorical:
    name = "mle-categorical"

    def test_verifies(self):
        reports = verified(self.name)
        assert all(r.symbolic for r in reports)

    def test_fails_without_the_lagrange_conditions(self):
        d = derive.get(self.name)
        with pytest.raises(DerivationError) as exc:
            check_step(d, 5, without_assumptions(d.steps[4]))
        assert exc.value.step == 5

    def test_fails_with_a_wrong_multiplier(self):
        d = derive.get(self.name)
        with pytest.raises(DerivationError) as exc:
            check_step(d, 9, dataclasses.replace(d.steps[8], expr=sympy.Eq(m.lam, m.N_total - 1)))
        assert exc.value.step == 9

    def test_matches_numeric_maximisation(self):
        # maximise Σ n_k log softmax(z)_k over free logits z (z_K = 0): unconstrained and
        # concave, so Newton on the gradient (by mpmath.diff) finds the maximiser
        rng = random.Random(3)
        for k in (2, 3, 5):
            counts = [rng.randint(1, 20) for _ in range(k)]
            with mpmath.workdps(DPS):
                def loglik(*z, counts=counts):
                    logits = [*z, mpmath.mpf(0)]
                    lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in logits))
                    return mpmath.fsum(c * (v - lse) for c, v in zip(counts, logits, strict=True))

                def gradient(*z, loglik=loglik, k=k):
                    return [mpmath.diff(loglik, z, tuple(int(a == b) for a in range(k - 1)))
                            for b in range(k - 1)]

                z = mpmath.findroot(gradient, [mpmath.mpf(0)] * (k - 1),
                                    tol=mpmath.mpf(10) ** -45, maxsteps=100)
                logits = [*(z[a] for a in range(k - 1)), mpmath.mpf(0)]
                total = mpmath.fsum(mpmath.exp(v) for v in logits)
                for idx in range(1, k + 1):
                    found = mpmath.exp(logits[idx - 1]) / total
                    got = estimator(self.name, {m.counts: counts}, index=idx)
                    assert abs(got - found) <= mpmath.mpf(10) ** -35


# ---------------------------------------------------------------------------- gaussian


class TestMleGaussian:
    name = "mle-gaussian"

    def test_verifies(self):
        reports = verified(self.name)
        assert all(r.symbolic for r in reports if r.index not in (10, 15))  # the "< 0" steps

    def test_fails_without_stationarity(self):
        d = derive.get(self.name)
        with pytest.raises(DerivationError) as exc:
            check_step(d, 6, without_assumptions(d.steps[5]))
        assert exc.value.step == 6

    def test_fails_with_the_unbiased_estimator(self):
        d = derive.get(self.name)
        ss = sympy.Sum((m.xs[m.i] - m.mu) ** 2, (m.i, 1, m.n))
        wrong = sympy.Eq(m.sigma**2, ss / (m.n - 1))  # Bessel's n − 1 is not the MLE
        with pytest.raises(DerivationError) as exc:
            check_step(d, 7, dataclasses.replace(d.steps[6], expr=wrong))
        assert exc.value.step == 7

    def test_matches_numeric_maximisation(self):
        rng = random.Random(4)
        for n in (2, 5, 30):
            xs = [rng.gauss(1, 2) for _ in range(n)]
            with mpmath.workdps(DPS):
                # σ = e^s keeps Newton in the half-plane; start at the median and half-range
                def loglik(mu, s, xs=xs):
                    return mpmath.fsum(mpmath.log(mpmath.npdf(v, mu, mpmath.exp(s))) for v in xs)

                def score(mu, s, loglik=loglik):
                    return [mpmath.diff(loglik, (mu, s), (1, 0)),
                            mpmath.diff(loglik, (mu, s), (0, 1))]

                start = [mpmath.mpf(statistics.median(xs)),
                         mpmath.log(mpmath.mpf(max(xs) - min(xs)) / 2)]
                mu_hat, s_hat = mpmath.findroot(score, start, tol=mpmath.mpf(10) ** -45,
                                                maxsteps=100)
                sigma_hat = mpmath.exp(s_hat)
                got = estimator(self.name, {m.xs: xs})
                assert abs(got - sigma_hat**2) <= mpmath.mpf(10) ** -35 * sigma_hat**2
                # μ̂ is step 6: the sample mean
                assert abs(mpmath.fsum(xs) / n - mu_hat) <= mpmath.mpf(10) ** -35

    @pytest.mark.parametrize("n", [2, 3])
    def test_the_estimator_is_biased(self, n):
        from sympy.stats import E, Normal

        mu, sigma = sympy.Symbol("mu", real=True), sympy.Symbol("sigma", positive=True)
        xs = [Normal(f"X{j}", mu, sigma) for j in range(n)]
        mean = sum(xs) / n
        var_hat = sum((v - mean) ** 2 for v in xs) / n
        assert sympy.simplify(E(sympy.expand(var_hat)) - (n - 1) * sigma**2 / n) == 0


# ----------------------------------------------------------------- nll = cross-entropy


class TestNllEqualsCrossEntropy:
    name = "nll-equals-cross-entropy"

    def test_verifies(self):
        reports = verified(self.name)
        # the hard-label step and the result hold only for one-hot rows: numeric
        assert [r.index for r in reports if not r.symbolic] == [3, 6]

    def test_fails_without_hard_labels(self):
        d = derive.get(self.name)
        with pytest.raises(DerivationError) as exc:
            check_step(d, 3, without_assumptions(d.steps[2]))
        assert exc.value.step == 3

    def test_matches_numeric(self):
        rng = np.random.default_rng(5)
        q = rng.dirichlet(np.ones(4), size=30)
        labels = rng.integers(0, 4, 30)
        hard = np.eye(4)[labels]
        nll = -np.mean(np.log(q[np.arange(30), labels]))
        ce = np.mean(numeric.cross_entropy(hard, q))
        assert abs(nll - ce) <= 8 * EPS * ce
        # soft labels: H(p̂, q) = H(p̂) + D(p̂ ‖ q), averaged over the examples
        soft = rng.dirichlet(np.ones(4), size=30)
        lhs = np.mean(numeric.cross_entropy(soft, q))
        rhs = np.mean(numeric.entropy(soft)) + np.mean(numeric.kl_divergence(soft, q))
        assert abs(lhs - rhs) <= 16 * EPS * lhs

    def test_export_matches_the_mean_nll(self):
        f = export(self.name)
        rng = np.random.default_rng(6)
        q = rng.dirichlet(np.ones(3), size=5)
        labels = rng.integers(0, 3, 5)
        got = f(q, np.eye(3)[labels])
        exact = -mpmath.fsum(mpmath.log(float(q[j, labels[j]])) for j in range(5)) / 5
        assert rel_error(float(got), exact) <= 8 * EPS


# ----------------------------------------------------------------- mse = Gaussian NLL


class TestMseIsGaussianNll:
    name = "mse-is-gaussian-nll"

    def test_verifies_symbolically(self):
        assert all(r.symbolic for r in verified(self.name))

    def test_fails_without_a_shared_sigma(self):
        d = derive.get(self.name)
        with pytest.raises(DerivationError) as exc:
            check_step(d, 3, without_assumptions(d.steps[2]))
        assert exc.value.step == 3

    def test_matches_numeric(self):
        rng = np.random.default_rng(7)
        y, yhat = rng.normal(size=40), rng.normal(size=40)
        f = export(self.name)
        for sigma in (0.1, 1.0, 7.0):
            nll = np.mean(numeric.gaussian_nll(y, yhat, sigma))
            closed = numeric.mse(yhat, y) / (2 * sigma**2) + 0.5 * np.log(2 * np.pi * sigma**2)
            assert abs(nll - closed) <= 16 * EPS * abs(nll)
            assert abs(f(yhat, y, sigma) - nll) <= 16 * EPS * abs(nll)
