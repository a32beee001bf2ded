"""derive.losses: each derivation verifies, fails without its key assumption or factor, and
its result agrees with the hand-written ``numeric`` function.

Tolerances: the results are evaluated with mpmath at 30 digits (exact for float64 purposes),
so the comparison measures the ``numeric`` function's float64 error.  Those functions promise
<= 4 ULP where well conditioned; a gradient p - y (or a difference of softmaxes) of O(1)
terms has condition number (|p| + |y|)/|p - y|, so its absolute error is bounded by a few
eps times the size of the terms, and a softmax entry p_k = softmax_k(z/T) has condition number
sum_j |z_j| |delta_jk - p_j| / T <= 2 max_j |z_j| / T (the error of exp at a large argument).
We allow ``|got - want| <= 16 eps (|want| + scale)`` with ``scale`` the size of the terms being
subtracted times their condition number: a factor 4 above the promise, for the log-sum-exp
and the division by T inside the kernels.
"""

from __future__ import annotations

import dataclasses
import functools

import mpmath
import numpy as np
import pytest
import sympy

import derive
import numeric
from derive import core, losses
from derive.core import DerivationError
from derive.functions import sigmoid

NAMES = (
    "sigmoid-derivative",
    "bce-gradient",
    "bce-probability-gradient",
    "softmax-ce-gradient",
    "softmax-shift-invariance",
    "binary-as-two-class-softmax",
    "temperature-softmax-gradient",
    "label-smoothing",
    "distillation-gradient",
    "mse-vs-bce-gradient",
    "perplexity-of-cross-entropy",
)
GENERAL_K = ("softmax-ce-gradient", "softmax-shift-invariance", "temperature-softmax-gradient",
             "label-smoothing", "distillation-gradient", "perplexity-of-cross-entropy")

EPS = float(np.finfo(np.float64).eps)
K_TOL = 16  # see the module docstring
z, y, T, K, i = losses.z, losses.y, losses.T, losses.K, losses.i


@functools.cache
def reports(name: str) -> tuple[core.StepReport, ...]:
    """The verification of ``name``, done once per test session."""
    return tuple(derive.get(name).verify())


def with_step(name: str, n: int, **changes) -> core.Derivation:
    """``name`` with step ``n`` (1-based) changed."""
    d = derive.get(name)
    steps = list(d.steps)
    steps[n - 1] = dataclasses.replace(steps[n - 1], **changes)
    return dataclasses.replace(d, steps=steps, reports=[])


def fails_at(d: core.Derivation) -> int:
    with pytest.raises(DerivationError) as exc:
        d.verify()
    return exc.value.step


@functools.cache
def _compiled(name: str, size: int | None):
    """The result's right-hand side as an mpmath function of the flattened parameters,
    one output per free index value (sums written out for ``K = size``)."""
    d = derive.get(name)
    rhs = d.result.rhs
    args: list[sympy.Basic] = []
    for p in d.parameters:
        args += [p[n] for n in range(1, size + 1)] if isinstance(p, sympy.IndexedBase) else [p]
    sizes = {K: size} if size is not None else {}
    indices = range(1, size + 1) if rhs.has(i) else [None]
    outs = [rhs.subs({**sizes, **({i: n} if n else {})}).doit() for n in indices]
    plain = [sympy.Symbol(f"a{n}") for n in range(len(args))]
    outs = [e.xreplace(dict(zip(args, plain, strict=True))) for e in outs]
    return sympy.lambdify(plain, outs, modules=[core._mp_function_namespace(), "mpmath"])


def exact(name: str, *values) -> np.ndarray:
    """The derived closed form of ``name`` at one point (vectors as 1-D arrays), to 30
    digits, as float64 — one entry per free index value."""
    vecs = [np.atleast_1d(v) for v in values if np.ndim(v) == 1]
    size = len(vecs[0]) if vecs else None
    flat = [float(x) for v in values for x in np.atleast_1d(v)]
    with mpmath.workdps(30):
        out = _compiled(name, size)(*[mpmath.mpf(x) for x in flat])
    return np.array([float(o) for o in out])


def assert_close(got, want, scale) -> None:
    """``|got - want| <= K_TOL eps (|want| + scale)``, elementwise (``scale`` may be an array)."""
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    bound = K_TOL * EPS * (np.abs(want) + scale)
    err = np.abs(got - want)
    assert np.all(err <= bound), f"worst error {np.max(err / bound):.3g} x the bound at " \
        f"{np.argmax(err / bound)}: got {got}, want {want}"


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def probabilities(g: np.random.Generator, size: int) -> np.ndarray:
    p = g.uniform(0.05, 1.0, size)
    return p / p.sum()


# ------------------------------------------------------------------------ all of them


class TestRegistry:
    def test_exactly_the_issue_derivations_are_losses(self):
        mine = sorted(n for n in derive.names() if derive.meta(n)["topic"] == "losses")
        assert mine == sorted(NAMES)

    @pytest.mark.parametrize("name", NAMES)
    def test_at_least_three_steps_and_declared_domains(self, name):
        d = derive.get(name)
        assert len(d.steps) >= 3
        assert d.domains and d.parameters
        for p in d.parameters:
            assert p in d.domains

    @pytest.mark.parametrize("name", NAMES)
    def test_every_claim_is_checked_and_proved_symbolically(self, name):
        rs = reports(name)
        assert len(rs) == len(derive.get(name).steps) + 1
        assert all(r.points >= 1 for r in rs)
        assert [r.index for r in rs if not r.symbolic] == []

    @pytest.mark.parametrize("name", GENERAL_K)
    def test_general_k_is_symbolic_in_k(self, name):
        # the claims hold for a symbol K (checked at several concrete K), not a loop over K
        d = derive.get(name)
        assert any(isinstance(s.expr, sympy.Basic) and s.expr.has(K) for s in d.steps)
        assert d.domains[K] == losses.SIZES


class TestRendering:
    @pytest.mark.parametrize("name", NAMES)
    def test_text_markdown_latex(self, name):
        d = derive.get(name)
        text, md, tex = d.to_text(), d.to_markdown(), d.to_latex()
        assert d.title in text and "because:" in text
        assert md.startswith(f"# {d.title}") and "$$" in md
        assert tex.startswith("\\begin{align*}")
        assert r"\operatorname{sigmoid}" not in tex  # σ prints as \sigma

    @pytest.mark.parametrize("name", ["sigmoid-derivative", "bce-gradient", "mse-vs-bce-gradient",
                                      "binary-as-two-class-softmax"])
    def test_sigma_prints_as_sigma(self, name):
        assert r"\sigma\left(z\right)" in derive.get(name).to_latex()
        text = derive.get(name).to_text()
        assert "σ(z)" in text and "sigmoid(" not in text

    @pytest.mark.parametrize("name", GENERAL_K)
    def test_sums_show_their_index_range(self, name):
        d = derive.get(name)
        assert r"\sum_{k=1}^{K}" in d.to_latex() or r"\sum_{j=1}^{K}" in d.to_latex()
        assert "Σ_{k=1..K}" in d.to_text() or "Σ_{j=1..K}" in d.to_text()

    def test_hessian_prints_as_a_matrix(self):
        tex = derive.get("softmax-ce-gradient").to_latex()
        assert r"\nabla^{2} L_{3}" in tex and r"\begin{matrix}" in tex


# --------------------------------------------------------------------------- helpers


class TestPickIndex:
    def test_kronecker_delta_picks_the_index(self):
        k = losses.k
        e = sympy.Sum(sympy.KroneckerDelta(i, k) * sympy.exp(losses.zv[k]), (k, 1, K))
        assert losses.pick_index(e) == sympy.exp(losses.zv[i])

    def test_derivative_of_a_sum_loses_its_piecewise(self):
        e = sympy.diff(losses._log_sum_exp(losses.zv), losses.zv[i]).doit()
        assert e.has(sympy.Piecewise)
        assert losses.pick_index(e) == losses._softmax(losses.zv)

    def test_other_sums_are_left_alone(self):
        s = sympy.Sum(sympy.exp(losses.zv[losses.j]), (losses.j, 1, K))
        assert losses.pick_index(s) == s

    def test_out_of_range_conditions_are_not_forced(self):
        # an index only known to be >= 1 may exceed a different bound M: nothing is assumed
        M = sympy.Symbol("M", integer=True, positive=True)
        pw = sympy.Piecewise((losses.zv[i], M >= i), (0, True))
        assert losses.pick_index(pw) == pw


class TestSameIndex:
    def test_renamed_sums_cancel(self):
        j, k = losses.j, losses.k
        a = sympy.Sum(sympy.exp(losses.zv[j]), (j, 1, K))
        b = sympy.Sum(sympy.exp(losses.zv[k]), (k, 1, K))
        assert losses.same_index(a - b) == 0

    def test_a_sum_that_uses_the_index_keeps_its_own(self):
        j, k = losses.j, losses.k
        inner = sympy.Sum(losses.zv[j] * losses.zv[k], (j, 1, K))
        assert losses.same_index(inner) == inner


# ----------------------------------------------------------------- the derivations


class TestSigmoidDerivative:
    def test_wrong_factor_fails_at_the_last_step(self):
        d = with_step("sigmoid-derivative", 5, expr=sigmoid(z) * (1 + sigmoid(z)))
        assert fails_at(d) == 5

    def test_matches_numeric_sigmoid(self):
        zs = rng(1).uniform(-30, 30, 40)
        got = numeric.sigmoid(zs) * numeric.sigmoid(-zs)
        want = np.array([exact("sigmoid-derivative", v)[0] for v in zs])
        np.testing.assert_allclose(got, want, rtol=K_TOL * EPS)


class TestBceGradient:
    def test_dropping_y_from_the_stable_form_fails(self):
        assert fails_at(with_step("bce-gradient", 4, expr=losses.softplus(z) - z)) == 4

    def test_concavity_claim_fails(self):
        assert fails_at(with_step("bce-gradient", 8, relation="<=")) == 8

    def test_stable_form_is_derived(self):
        d = derive.get("bce-gradient")
        assert d.steps[3].expr == losses.softplus(z) - y * z

    def test_matches_numeric(self):
        g = rng(2)
        zs, ys = g.uniform(-30, 30, 40), g.uniform(0, 1, 40)
        got = numeric.binary_cross_entropy_with_logits_grad(zs, ys)
        want = np.array([exact("bce-gradient", a, b)[0] for a, b in zip(zs, ys, strict=True)])
        assert_close(got, want, scale=1 + ys)


class TestBceProbabilityGradient:
    def test_the_seed_value_minus_19_fails(self):
        assert fails_at(with_step("bce-probability-gradient", 5, expr=sympy.Integer(-19))) == 5

    def test_seed_case_is_minus_20(self):
        d = derive.get("bce-probability-gradient")
        assert d.steps[4].expr == -20
        assert float(numeric.binary_cross_entropy_grad(0.05, 1.0)) == pytest.approx(-20, rel=EPS)

    def test_matches_numeric(self):
        g = rng(3)
        ps, ys = g.uniform(0.001, 0.999, 40), g.uniform(0, 1, 40)
        got = numeric.binary_cross_entropy_grad(ps, ys)
        want = np.array([exact("bce-probability-gradient", a, b)[0]
                         for a, b in zip(ps, ys, strict=True)])
        assert_close(got, want, scale=ys / ps + (1 - ys) / (1 - ps))


class TestSoftmaxCeGradient:
    def test_undeclared_sum_of_targets_fails(self):
        # p - y needs sum_k y_k = 1: without the assumption the step is sampled with
        # unnormalised targets and fails
        assert fails_at(with_step("softmax-ce-gradient", 7, relies_on=())) == 7

    def test_hessian_needs_the_sum_too(self):
        assert fails_at(with_step("softmax-ce-gradient", 9, relies_on=())) == 9

    def test_hessian_is_a_matrix(self):
        step = derive.get("softmax-ce-gradient").steps[8]
        assert isinstance(step.expr, sympy.MatrixBase) and step.expr.shape == (3, 3)

    @pytest.mark.parametrize("size", [2, 3, 5, 8])
    def test_matches_numeric(self, size):
        g = rng(size)
        for _ in range(5):
            zs, ys = g.uniform(-20, 20, size), probabilities(g, size)
            got = numeric.softmax_cross_entropy_grad(zs, ys)
            assert_close(got, exact("softmax-ce-gradient", zs, ys),
                         scale=1 + 2 * np.abs(zs).max())


class TestSoftmaxShiftInvariance:
    def test_shifting_only_the_numerator_fails(self):
        d = derive.get("softmax-shift-invariance")
        first = d.steps[0].expr
        lhs = sympy.exp(losses.zv[i] + losses.c) / sympy.Sum(sympy.exp(losses.zv[losses.j]),
                                                             (losses.j, 1, K))
        assert fails_at(with_step("softmax-shift-invariance", 1,
                                  expr=sympy.Eq(lhs, first.rhs, evaluate=False))) == 1

    @pytest.mark.parametrize("size", [2, 4, 7])
    def test_matches_numeric_softmax_and_is_shift_invariant(self, size):
        g = rng(10 + size)
        for _ in range(5):
            zs, shift = g.uniform(-20, 20, size), g.uniform(-20, 20)
            want = exact("softmax-shift-invariance", zs)
            assert_close(numeric.softmax(zs), want, scale=want * 2 * np.abs(zs).max())
            # the shifted input is rounded, so compare with the closed form at that input
            shifted = zs + shift
            want = exact("softmax-shift-invariance", shifted)
            assert_close(numeric.softmax(shifted), want, scale=want * 2 * np.abs(shifted).max())

    def test_log_softmax_identity_matches_numeric(self):
        g = rng(20)
        zs = g.uniform(-20, 20, 4)
        rhs = losses.LOG_SOFTMAX.statement.rhs
        with mpmath.workdps(30):
            want = [float(rhs.subs({K: 4, i: n}).doit().subs(
                {losses.zv[m + 1]: sympy.Float(zs[m], 30) for m in range(4)}).evalf(30))
                for n in range(1, 5)]
        assert_close(numeric.log_softmax(zs), want, scale=np.abs(zs).max() + 1)


class TestBinaryAsTwoClassSoftmax:
    def test_swapped_logits_fail(self):
        d = derive.get("binary-as-two-class-softmax")
        w = next(df.symbol.base for df in d.definitions if str(df.symbol) == "w[k]")
        defs = [dataclasses.replace(df, expr=z * sympy.KroneckerDelta(losses.k, 2))
                if df.symbol == w[losses.k] else df for df in d.definitions]
        assert fails_at(dataclasses.replace(d, definitions=defs, reports=[])) == 1

    def test_matches_numeric_bce_and_two_class_softmax_ce(self):
        g = rng(4)
        zs, ys = g.uniform(-30, 30, 40), g.uniform(0, 1, 40)
        want = np.array([exact("binary-as-two-class-softmax", a, b)[0]
                         for a, b in zip(zs, ys, strict=True)])
        scale = np.abs(zs) + 1
        assert_close(numeric.binary_cross_entropy_with_logits(zs, ys), want, scale)
        logits = np.stack([zs, np.zeros_like(zs)], axis=-1)
        targets = np.stack([ys, 1 - ys], axis=-1)
        assert_close(numeric.softmax_cross_entropy(logits, targets), want, scale)


class TestTemperatureSoftmaxGradient:
    def test_dropping_the_one_over_t_fails(self):
        d = derive.get("temperature-softmax-gradient")
        assert fails_at(with_step(d.name, 5, expr=d.steps[4].expr * T)) == 5

    def test_result_without_one_over_t_fails(self):
        d = derive.get("temperature-softmax-gradient")
        wrong = sympy.Eq(d.result.lhs, d.result.rhs * T)
        assert fails_at(dataclasses.replace(d, result=wrong, reports=[])) == len(d.steps) + 1

    @pytest.mark.parametrize("size", [2, 3, 6])
    def test_matches_numeric(self, size):
        g = rng(30 + size)
        for _ in range(5):
            zs, ys, temp = g.uniform(-20, 20, size), probabilities(g, size), g.uniform(0.25, 8)
            got = numeric.softmax_cross_entropy_grad(zs, ys, temperature=temp)
            want = exact("temperature-softmax-gradient", zs, ys, temp)
            assert_close(got, want, scale=(1 + 2 * np.abs(zs).max() / temp) / temp)


class TestLabelSmoothing:
    def test_undeclared_sum_of_targets_fails(self):
        assert fails_at(with_step("label-smoothing", 6, relies_on=())) == 6

    def test_unsmoothed_gradient_fails(self):
        assert fails_at(with_step("label-smoothing", 9, expr=losses.pv[i] - losses.yv[i])) == 9

    @pytest.mark.parametrize("size", [2, 3, 6])
    def test_matches_numeric(self, size):
        g = rng(40 + size)
        for _ in range(5):
            zs, ys, e = g.uniform(-20, 20, size), probabilities(g, size), g.uniform(0, 1)
            got = numeric.softmax_cross_entropy_grad(zs, ys, label_smoothing=e)
            assert_close(got, exact("label-smoothing", zs, ys, e),
                         scale=1 + 2 * np.abs(zs).max())

    def test_smoothed_target_matches_numeric(self):
        g = rng(47)
        ys, e = probabilities(g, 5), 0.3
        d = derive.get("label-smoothing")
        smoothed = next(df.expr for df in d.definitions if str(df.symbol) == "y^epsilon[i]")
        want = [float(smoothed.subs({losses.eps: e, K: 5, losses.yv[i]: ys[n]}))
                for n in range(5)]
        np.testing.assert_allclose(numeric.smooth_labels(ys, e), want, rtol=K_TOL * EPS)


class TestDistillationGradient:
    def test_dropping_the_t_squared_factor_fails(self):
        # L = T KL instead of T² KL: the claimed gradient T (p^s - p^t) no longer follows
        d = derive.get("distillation-gradient")
        one_t = {T**2: T}
        v = dataclasses.replace(
            d,
            steps=[dataclasses.replace(s, expr=s.expr.xreplace(one_t)) for s in d.steps],
            definitions=[dataclasses.replace(df, expr=df.expr.xreplace(one_t))
                         for df in d.definitions],
            reports=[],
        )
        assert fails_at(v) == 7

    def test_high_temperature_limit_needs_zero_mean_logits(self):
        assert fails_at(with_step("distillation-gradient", 9, relies_on=())) == 9

    def test_high_temperature_limit_numerically(self):
        # T (p^s - p^t) -> (s - t)/K for zero-mean logits
        s, t = np.array([1.0, -3.0, 2.0]), np.array([0.5, 0.5, -1.0])
        got = numeric.distillation_loss_grad(s, t, temperature=1e4)
        np.testing.assert_allclose(got, (s - t) / 3, atol=1e-3)

    @pytest.mark.parametrize("size", [2, 3, 6])
    def test_matches_numeric(self, size):
        g = rng(50 + size)
        for _ in range(5):
            s, t, temp = g.uniform(-10, 10, size), g.uniform(-10, 10, size), g.uniform(0.5, 4)
            got = numeric.distillation_loss_grad(s, t, temperature=temp)
            assert_close(got, exact("distillation-gradient", s, t, temp),
                         scale=temp + 2 * (np.abs(s).max() + np.abs(t).max()))


class TestMseVsBceGradient:
    def test_dropping_the_two_fails(self):
        d = derive.get("mse-vs-bce-gradient")
        assert fails_at(with_step(d.name, 3, expr=d.steps[2].expr / 2)) == 3

    def test_gradient_ratio_vanishes(self):
        d = derive.get("mse-vs-bce-gradient")
        limits = [s.expr for s in d.steps if isinstance(s.expr, sympy.Eq)
                  and isinstance(s.expr.lhs, sympy.Limit)]
        assert {lim.lhs.args[2] for lim in limits} == {sympy.oo, -sympy.oo}
        assert all(lim.lhs.doit() == 0 for lim in limits)

    def test_matches_numeric_mse_grad_through_the_sigmoid(self):
        g = rng(5)
        zs, ys = g.uniform(-30, 30, 40), g.uniform(0, 1, 40)
        s = numeric.sigmoid(zs)
        # one element per row: mse_grad is 2 (prediction - target)/n with n = 1
        got = numeric.mse_grad(s[:, None], ys[:, None], axis=-1)[:, 0] * s * numeric.sigmoid(-zs)
        want = np.array([exact("mse-vs-bce-gradient", a, b)[0]
                         for a, b in zip(zs, ys, strict=True)])
        assert_close(got, want, scale=2 * (s + ys) * s * numeric.sigmoid(-zs))


class TestPerplexityOfCrossEntropy:
    def test_uniform_model_needs_p_to_sum_to_one(self):
        assert fails_at(with_step("perplexity-of-cross-entropy", 8, relies_on=())) == 8

    def test_bits_with_the_wrong_log_fails(self):
        d = derive.get("perplexity-of-cross-entropy")
        rel = d.steps[1].expr
        wrong = sympy.Eq(rel.lhs, rel.rhs * sympy.log(2) / sympy.log(10), evaluate=False)
        assert fails_at(with_step(d.name, 2, expr=wrong)) == 2

    @pytest.mark.parametrize("size", [2, 4, 9])
    def test_matches_numeric_in_nats_and_bits(self, size):
        g = rng(60 + size)
        for _ in range(5):
            p, q = probabilities(g, size), probabilities(g, size)
            want = exact("perplexity-of-cross-entropy", p, q)
            nats = numeric.perplexity(numeric.cross_entropy(p, q))
            bits = numeric.perplexity(numeric.cross_entropy(p, q, base=2), base=2)
            np.testing.assert_allclose(nats, want[0], rtol=K_TOL * EPS)
            np.testing.assert_allclose(bits, want[0], rtol=K_TOL * EPS)
