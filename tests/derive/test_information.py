"""derive.information: every derivation verifies, fails without its key assumption (or with a
wrong factor) at the right step, and its result agrees with the matching ``numeric`` function."""

from __future__ import annotations

import dataclasses

import mpmath
import numpy as np
import pytest
import sympy

import derive
import numeric
from derive import information as info
from derive.core import DerivationError, _mp_function_namespace

# The closed forms are evaluated by mpmath at DPS digits, then compared with the float64
# numeric functions: those are accurate to a few ulp, so 64 eps of relative error is ample
# while any wrong formula is off by far more.
DPS = 50
RTOL = 64 * np.finfo(np.float64).eps
SEED = 20240601


# --------------------------------------------------------------------------- helpers


_REPORTS: dict[str, list] = {}


def reports(name: str) -> list:
    """``verify()`` of a registered derivation, run once per test session."""
    if name not in _REPORTS:
        _REPORTS[name] = derive.get(name).verify()
    return _REPORTS[name]


def without(d, index: int, assumption) -> derive.Derivation:
    """``d`` with ``assumption`` removed from what step ``index`` (1-based) relies on."""
    steps = list(d.steps)
    old = steps[index - 1]
    assert assumption in old.relies_on, "the test must drop an assumption the step declares"
    kept = tuple(r for r in old.relies_on if r is not assumption)
    steps[index - 1] = dataclasses.replace(old, relies_on=kept)
    return dataclasses.replace(d, steps=steps, reports=[])


def replaced(d, index: int, **changes) -> derive.Derivation:
    """``d`` with step ``index`` (1-based) changed (``expr=...``, ``relation=...``)."""
    steps = list(d.steps)
    steps[index - 1] = dataclasses.replace(steps[index - 1], **changes)
    return dataclasses.replace(d, steps=steps, reports=[])


def assumption(d, name: str):
    (found,) = [a for a in d.assumptions() if a.name == name]
    return found


def fails_at(d, index: int) -> DerivationError:
    with pytest.raises(DerivationError) as exc:
        d.verify()
    assert exc.value.step == index, str(exc.value)
    assert exc.value.derivation == d.name
    return exc.value


def evaluate(expr: sympy.Expr, values: dict) -> float:
    """``expr`` at ``values`` (symbol -> int/float; IndexedBase -> 0-based NumPy array),
    lambdified to mpmath at DPS digits: sizes and indices first, sums written out."""
    ints = {s: sympy.Integer(v) for s, v in values.items() if isinstance(v, int | np.integer)}
    e = expr.xreplace(ints).doit()
    args, vals = [], []
    for s, v in values.items():
        if isinstance(s, sympy.IndexedBase):
            arr = np.asarray(v, dtype=float)
            subs = {}
            for idx in np.ndindex(arr.shape):
                one_based = tuple(j + 1 for j in idx)
                entry = s[one_based if len(one_based) > 1 else one_based[0]]
                sym = sympy.Symbol(f"_{s}_{'_'.join(map(str, one_based))}")
                subs[entry] = sym
                args.append(sym)
                vals.append(arr[idx])
            e = e.xreplace(subs)
        elif s not in ints:
            args.append(s)
            vals.append(v)
    assert not e.has(sympy.Indexed), e
    fn = sympy.lambdify(args, e, modules=[_mp_function_namespace(), "mpmath"])
    with mpmath.workdps(DPS):
        return float(fn(*[mpmath.mpf(float(v)) for v in vals]))


def distribution(rng: np.random.Generator, size) -> np.ndarray:
    """A strictly positive probability vector or table (entries down to ~1e-3)."""
    w = np.exp(rng.uniform(np.log(1e-3), 0.0, size=size))
    return w / w.sum()


def close(a: float, b: float) -> None:
    assert a == pytest.approx(b, rel=RTOL, abs=RTOL), (a, b)


def rhs(name: str) -> sympy.Expr:
    return derive.get(name).result.rhs


# ------------------------------------------------------------------ the registry


class TestRegistry:
    NAMES = (
        "self-information-additivity",
        "ce-equals-entropy-plus-kl",
        "cross-entropy-one-hot",
        "entropy-chain-rule",
        "mutual-information-identities",
        "kl-nonnegative",
        "entropy-maximum-uniform",
        "perplexity-base-invariance",
    )

    def test_issue_names_are_registered_under_information(self):
        for name in self.NAMES:
            assert name in derive.names()
            assert derive.meta(name)["topic"] == "information"
            d = derive.get(name)
            assert d.topic == "information"
            assert d.statement == derive.meta(name)["statement"]

    @pytest.mark.parametrize("name", NAMES)
    def test_at_least_three_checked_steps_and_parameters(self, name):
        d = derive.get(name)
        assert len(d.steps) >= 3
        assert d.parameters
        assert set(d.parameters) <= set(d.domains)

    def test_merge_sums_proves_the_chain_rule_in_one_line(self):
        # Σ_m Σ_n p log p = Σ_m p_X log p_X + Σ_m Σ_n p log(p / p_X), written with other indices
        p, m, n, M, N = info.P, info.m, info.n, info.M, info.N
        a, c = sympy.symbols("a c", integer=True)
        pxm = sympy.Sum(p[m, c], (c, 1, N))
        lhs = sympy.Sum(p[m, n] * sympy.log(p[m, n]), (n, 1, N), (m, 1, M))
        rhs_ = (sympy.Sum(pxm * sympy.log(pxm), (m, 1, M))
                + sympy.Sum(p[a, n] * sympy.log(p[a, n] / sympy.Sum(p[a, c], (c, 1, N))),
                            (n, 1, N), (a, 1, M)))
        assert info.merge_sums(lhs - rhs_) == 0
        assert info.merge_sums(lhs - 2 * rhs_) != 0


# ---------------------------------------------------------- the eight derivations


class TestSelfInformationAdditivity:
    NAME = "self-information-additivity"

    def test_verifies_every_step_symbolically(self):
        r = reports(self.NAME)
        assert len(r) == len(derive.get(self.NAME).steps) + 1
        assert all(x.symbolic or x.definition for x in r)

    def test_fails_without_independence(self):
        d = derive.get(self.NAME)
        err = fails_at(without(d, 2, assumption(d, "independent events")), 2)
        assert "p_xy=" in str(err)

    def test_log_base_slip_is_caught(self):
        # multiplying by ln b instead of dividing: bits and nats confused
        d = derive.get(self.NAME)
        lhs = d.steps[4].expr.lhs
        b = sympy.Symbol("b", positive=True)
        fails_at(replaced(d, 5, expr=sympy.Eq(lhs, info.SelfInfo(d.steps[0].expr.lhs.args[0])
                                              * sympy.log(b))), 5)

    def test_result_matches_numeric_self_information(self):
        rng = np.random.default_rng(SEED)
        px, py, b = derive.get(self.NAME).parameters
        for _ in range(5):
            x, y = rng.uniform(1e-3, 1, size=2)
            base = float(rng.choice([2.0, np.e, 10.0, rng.uniform(1.5, 20)]))
            got = evaluate(rhs(self.NAME), {px: x, py: y, b: base})
            close(got, float(numeric.self_information(x * y, base=base)))
            close(got, float(numeric.self_information(x, base=base)
                             + numeric.self_information(y, base=base)))


class TestCeEqualsEntropyPlusKl:
    NAME = "ce-equals-entropy-plus-kl"

    def test_verifies_every_step_symbolically(self):
        assert all(x.symbolic or x.definition for x in reports(self.NAME))

    def test_inequality_fails_without_normalised_q(self):
        d = derive.get(self.NAME)
        fails_at(without(d, 5, info.SUM_Q), 5)

    def test_reversed_inequality_fails(self):
        fails_at(replaced(derive.get(self.NAME), 5, relation="<="), 5)

    def test_sign_error_in_the_split_fails(self):
        d = derive.get(self.NAME)
        fails_at(replaced(d, 3, expr=info._entropy(info.p) - info._kl(info.p, info.q)), 3)

    def test_result_matches_numeric_cross_entropy(self):
        rng = np.random.default_rng(SEED)
        p, q = derive.get(self.NAME).parameters
        for k in (2, 3, 7):
            pv, qv = distribution(rng, k), distribution(rng, k)
            got = evaluate(rhs(self.NAME), {info.K: k, p: pv, q: qv})
            close(got, float(numeric.cross_entropy(pv, qv)))
            close(got, float(numeric.entropy(pv) + numeric.kl_divergence(pv, qv)))


class TestCrossEntropyOneHot:
    NAME = "cross-entropy-one-hot"

    def test_verifies(self):
        r = reports(self.NAME)
        numeric_only = [x.index for x in r if not (x.symbolic or x.definition)]
        assert set(numeric_only) <= {4}  # −log q_y ≥ 0 needs q_y ≤ 1: checked numerically

    def test_fails_without_one_hot_target(self):
        d = derive.get(self.NAME)
        fails_at(without(d, 2, assumption(d, "one-hot target")), 2)

    def test_nonnegativity_fails_without_normalised_q(self):
        d = derive.get(self.NAME)
        fails_at(without(d, 4, info.SUM_Q), 4)

    def test_result_matches_numeric_cross_entropy(self):
        rng = np.random.default_rng(SEED)
        q, y = derive.get(self.NAME).parameters
        for k in (2, 5, 10):
            qv = distribution(rng, k)
            cls = int(rng.integers(0, k))
            got = evaluate(rhs(self.NAME), {info.K: k, y: cls + 1, q: qv})  # y is 1-based
            close(got, float(numeric.cross_entropy(np.eye(k)[cls], qv)))


class TestEntropyChainRule:
    NAME = "entropy-chain-rule"

    def test_verifies(self):
        r = reports(self.NAME)
        numeric_only = [x.index for x in r if not (x.symbolic or x.definition)]
        assert set(numeric_only) <= {6}  # H(Y | X) ≥ 0

    def test_dropped_conditional_term_fails(self):
        d = derive.get(self.NAME)
        wrong = -sympy.Sum(info.P_X[info.m] * sympy.log(info.P_X[info.m]), (info.m, 1, info.M))
        fails_at(replaced(d, 4, expr=wrong), 4)

    def test_marginal_of_the_wrong_variable_fails(self):
        # H(X) + H(X | Y) is not H(X, Y)
        d = derive.get(self.NAME)
        wrong = info.H(info.X) + info.Hcond(info.X, info.Y)
        bad = replaced(d, 5, expr=wrong)
        bad = dataclasses.replace(bad, definitions=[*d.definitions, info.COND_ENTROPY_X,
                                                    info.MARGINAL_Y])
        fails_at(bad, 5)

    def test_result_matches_numeric_joint_and_conditional_entropy(self):
        rng = np.random.default_rng(SEED)
        (p,) = derive.get(self.NAME).parameters
        for shape in ((2, 3), (4, 2), (3, 3)):
            t = distribution(rng, shape)
            got = evaluate(rhs(self.NAME), {info.M: shape[0], info.N: shape[1], p: t})
            close(got, float(numeric.joint_entropy(t)))
            close(got, float(numeric.entropy(t.sum(axis=1)) + numeric.conditional_entropy(t)))


class TestMutualInformationIdentities:
    NAME = "mutual-information-identities"

    def test_verifies(self):
        r = reports(self.NAME)
        numeric_only = [x.index for x in r if not (x.symbolic or x.definition)]
        assert set(numeric_only) <= {7, 8}  # I ≥ 0 and the independent example

    def test_nonnegativity_fails_without_a_normalised_table(self):
        d = derive.get(self.NAME)
        fails_at(without(d, 7, info.SUM_TABLE), 7)

    def test_example_fails_without_independence(self):
        d = derive.get(self.NAME)
        fails_at(without(d, 8, info.INDEPENDENT_XY), 8)

    def test_dropped_marginal_fails(self):
        d = derive.get(self.NAME)
        P, m, n = info.P, info.m, info.n
        wrong = info._double(P[m, n] * sympy.log(P[m, n] / info.P_X[m]))
        fails_at(replaced(d, 4, expr=wrong), 4)

    def test_result_matches_numeric_mutual_information(self):
        rng = np.random.default_rng(SEED)
        (p,) = derive.get(self.NAME).parameters
        for shape in ((2, 2), (3, 2), (2, 4)):
            t = distribution(rng, shape)
            got = evaluate(rhs(self.NAME), {info.M: shape[0], info.N: shape[1], p: t})
            close(got, float(numeric.mutual_information(t)))
            hx = numeric.entropy(t.sum(axis=1))
            close(got, float(hx - numeric.conditional_entropy(t.T)))  # H(X) − H(X | Y)


class TestKlNonnegative:
    NAME = "kl-nonnegative"

    def test_verifies_every_step_symbolically(self):
        assert all(x.symbolic or x.definition for x in reports(self.NAME))

    def test_fails_without_normalised_q(self):
        d = derive.get(self.NAME)
        fails_at(without(d, 5, info.SUM_Q), 5)

    def test_wrong_direction_of_log_bound_fails(self):
        # log x ≥ x − 1 is false: the inequality step flipped
        fails_at(replaced(derive.get(self.NAME), 3, relation="<="), 3)

    def test_equality_case_fails_for_different_distributions(self):
        d = derive.get(self.NAME)
        fails_at(without(d, 8, info.EQUAL), 8)

    def test_result_matches_numeric_kl_divergence(self):
        rng = np.random.default_rng(SEED)
        p, q = derive.get(self.NAME).parameters
        for k in (2, 4, 9):
            pv, qv = distribution(rng, k), distribution(rng, k)
            got = evaluate(rhs(self.NAME), {info.K: k, p: pv, q: qv})
            close(got, float(numeric.kl_divergence(pv, qv)))
            assert got >= 0


class TestEntropyMaximumUniform:
    NAME = "entropy-maximum-uniform"

    def test_verifies(self):
        r = reports(self.NAME)
        numeric_only = [x.index for x in r if not (x.symbolic or x.definition)]
        assert set(numeric_only) <= {6, 7, 8}  # solving the Lagrange conditions with Σ p = 1

    def test_fails_without_the_stationarity_condition(self):
        d = derive.get(self.NAME)
        fails_at(without(d, 3, assumption(d, "p is a stationary point of the Lagrangian")), 3)

    def test_bound_fails_without_normalisation(self):
        d = derive.get(self.NAME)
        fails_at(without(d, 10, info.SUM_P), 10)

    def test_wrong_derivative_fails(self):
        # d/dp (−p log p) is −log p − 1, not −log p
        d = derive.get(self.NAME)
        lam = sympy.Symbol("lambda", real=True)
        lhs = d.steps[1].expr.lhs
        fails_at(replaced(d, 2, expr=sympy.Eq(lhs, -sympy.log(info.p[info.i]) + lam)), 2)

    def test_result_matches_numeric_entropy(self):
        rng = np.random.default_rng(SEED)
        (p,) = derive.get(self.NAME).parameters
        for k in (2, 3, 8):
            pv = distribution(rng, k)
            got = evaluate(rhs(self.NAME), {info.K: k, p: pv})
            close(got, float(numeric.entropy(pv)))
            assert got <= np.log(k)
        close(evaluate(rhs(self.NAME), {info.K: 4, p: np.full(4, 0.25)}), np.log(4))


class TestPerplexityBaseInvariance:
    NAME = "perplexity-base-invariance"

    def test_verifies_every_step_symbolically(self):
        assert all(x.symbolic or x.definition for x in reports(self.NAME))

    def test_example_fails_without_a_uniform_model(self):
        d = derive.get(self.NAME)
        fails_at(without(d, 7, assumption(d, "the model is uniform (only for the example)")), 7)

    def test_log_base_slip_is_caught(self):
        # H_b = H · ln b (instead of H / ln b)
        d = derive.get(self.NAME)
        b = sympy.Symbol("b", positive=True)
        fails_at(replaced(d, 3, expr=info.H(info.p, info.q) * sympy.log(b)), 3)

    def test_result_matches_numeric_perplexity_in_every_base(self):
        rng = np.random.default_rng(SEED)
        p, q = derive.get(self.NAME).parameters
        for k in (2, 5):
            pv, qv = distribution(rng, k), distribution(rng, k)
            got = evaluate(rhs(self.NAME), {info.K: k, p: pv, q: qv})
            close(got, float(numeric.perplexity(numeric.cross_entropy(pv, qv))))
            for base in (2.0, 10.0):
                ce_b = numeric.cross_entropy(pv, qv, base=base)
                close(got, float(numeric.perplexity(ce_b, base=base)))
