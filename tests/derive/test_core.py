"""derive.core: the checker accepts correct steps and — the point of it — rejects wrong ones at
the right step, with a message that names the derivation, the step, both sides and the point."""

from __future__ import annotations

import re

import mpmath
import pytest
import sympy
from sympy import Eq, Function, IndexedBase, Sum, Symbol, exp, log

import derive
from derive import core
from derive.core import (
    Assumption,
    Definition,
    Derivation,
    DerivationError,
    Identity,
    IntegerRange,
    Interval,
    LogUniform,
    Step,
    VectorOf,
)
from derive.functions import sigmoid

x = Symbol("x", real=True)
a, b = sympy.symbols("a b", real=True)
pr = Symbol("p", positive=True)
K = Symbol("K", integer=True, positive=True)
k = Symbol("k", integer=True)
y = IndexedBase("y", positive=True)
z = Symbol("z", real=True)
f = Function("f")

#: Σ_k y_k = 1, imposed on the points of the steps that declare it.
SUM_Y = Assumption(
    "y sums to 1",
    Eq(Sum(y[k], (k, 1, K)), 1),
    constrain=lambda point, rng: {
        **point,
        y: {i: v / mpmath.fsum(point[y].values()) for i, v in point[y].items()},
    },
)
VECTOR_DOMAINS = {K: IntegerRange(2, 5), z: Interval(-3, 3), y: VectorOf(K, LogUniform(1e-3, 1))}


def chain(name: str, steps: list[Step], result, domains, **kw) -> Derivation:
    return Derivation(name=name, title=name, statement="test", topic="test", steps=steps,
                      result=result, domains=domains, **kw)


def square(expanded: sympy.Expr) -> Derivation:
    """(a + b)² = ``expanded`` = a² + 2ab + b² — correct only for the right expansion."""
    return chain(
        "square",
        [
            Step(Eq(f(a, b), (a + b) ** 2), "definition"),
            Step(expanded, "multiply out"),
            Step(a**2 + 2 * a * b + b**2, "collect"),
        ],
        Eq(f(a, b), (a + b) ** 2),
        {a: Interval(-3, 3), b: Interval(-3, 3)},
        definitions=[Definition(f(a, b), (a + b) ** 2)],
    )


def rejected(d: Derivation, step: int) -> DerivationError:
    with pytest.raises(DerivationError) as exc:
        d.verify()
    err = exc.value
    assert err.step == step, str(err)
    return err


def assert_names_everything(err: DerivationError, derivation: str, step: int) -> None:
    """The message names the derivation, the step, both sides, their values and the point."""
    text = str(err)
    assert text.startswith(f"{derivation}: step {step} does not hold")
    assert "left = " in text and "right = " in text  # the two values at the point
    assert re.search(r"\n  left:  .+\n  right: .+", text)  # the two sides
    assert " at " in text and "=" in text.split(" at ", 1)[1]  # the point, symbol=value


# ------------------------------------------------- wrong derivations are rejected


class TestWrongDerivationsAreRejected:
    def test_correct_expansion_passes(self):
        reports = square(a**2 + 2 * a * b + b**2).verify()
        assert [r.index for r in reports] == [1, 2, 3, 4]

    def test_sign_error(self):
        err = rejected(square(a**2 - 2 * a * b + b**2), 2)
        assert_names_everything(err, "square", 2)
        assert "a**2 - 2*a*b + b**2" in str(err)

    def test_dropped_term(self):
        err = rejected(square(a**2 + b**2), 2)
        assert_names_everything(err, "square", 2)

    def test_log_base_slip_bits_for_nats(self):
        # the entropy of a fair coin is log 2 nats = 1 bit; writing log2 where ln is meant
        h = Function("H")
        d = chain(
            "coin-entropy",
            [
                Step(Eq(h(pr), -pr * log(pr) - (1 - pr) * log(1 - pr)), "definition, in nats"),
                Step(-pr * log(pr, 2) - (1 - pr) * log(1 - pr, 2), "the same in bits?"),
            ],
            Eq(h(pr), -pr * log(pr) - (1 - pr) * log(1 - pr)),
            {pr: Interval(0.01, 0.99)},
            definitions=[Definition(h(pr), -pr * log(pr) - (1 - pr) * log(1 - pr))],
        )
        err = rejected(d, 2)
        assert_names_everything(err, "coin-entropy", 2)

    def _softmax_sum(self, *relies_on) -> Derivation:
        # Σ_k y_k (z − log y_k) = z − Σ_k y_k log y_k needs Σ_k y_k = 1
        lhs = Sum(y[k] * (z - log(y[k])), (k, 1, K))
        return chain(
            "needs-normalisation",
            [
                Step(Eq(f(z), lhs), "definition"),
                Step(z * Sum(y[k], (k, 1, K)) - Sum(y[k] * log(y[k]), (k, 1, K)), "split"),
                Step(z - Sum(y[k] * log(y[k]), (k, 1, K)), "Σ y = 1", relies_on=relies_on),
            ],
            Eq(f(z), z - Sum(y[k] * log(y[k]), (k, 1, K))),
            VECTOR_DOMAINS,
            definitions=[Definition(f(z), lhs)],
        )

    def test_undeclared_normalisation(self):
        err = rejected(self._softmax_sum(), 3)
        assert_names_everything(err, "needs-normalisation", 3)
        assert "y=[" in str(err)  # the vector at the point is shown

    def test_declared_normalisation_passes(self):
        reports = self._softmax_sum(SUM_Y).verify()
        assert reports[2].symbolic  # Σ y → 1 substituted symbolically as well

    def test_invalid_inequality(self):
        # log x ≥ x − 1 is the wrong way round (log x ≤ x − 1)
        d = chain(
            "wrong-tangent",
            [
                Step(Eq(f(pr), log(pr)), "definition"),
                Step(pr - 1, "tangent at 1", relation=">="),
            ],
            Eq(f(pr), log(pr)),
            {pr: LogUniform(1e-3, 1e3)},
            definitions=[Definition(f(pr), log(pr))],
        )
        err = rejected(d, 2)
        assert_names_everything(err, "wrong-tangent", 2)
        ok = chain("right-tangent", [d.steps[0], Step(pr - 1, "tangent", relation="<=")],
                   d.result, d.domains, definitions=d.definitions)
        ok.verify()

    def test_false_identity_abs_x_equals_x(self):
        # |x| = x on [-1, 1]: the edge x = -1 is among the first points
        d = chain("abs", [Step(Eq(f(x), sympy.Abs(x)), "definition"), Step(x, "drop |.|")],
                  Eq(f(x), x), {x: Interval(-1, 1)},
                  definitions=[Definition(f(x), sympy.Abs(x))])
        err = rejected(d, 2)
        assert "x=-1.0" in str(err)

    def test_wrong_result_is_rejected_after_correct_steps(self):
        d = square(a**2 + 2 * a * b + b**2)
        bad = chain("square", d.steps, Eq(f(a, b), a**2 + b**2), d.domains,
                    definitions=d.definitions)
        rejected(bad, len(d.steps) + 1)

    def test_false_identity_relied_on_is_rejected_as_step_0(self):
        wrong = Identity("sigma' = sigma", Eq(sympy.Derivative(sigmoid(z), z), sigmoid(z)),
                         {z: Interval(-5, 5)})
        d = chain("uses-wrong-identity",
                  [Step(Eq(f(z), sigmoid(z)), "definition"),
                   Step(sigmoid(z), "by the identity", relies_on=(wrong,))],
                  Eq(f(z), sigmoid(z)), {z: Interval(-5, 5)},
                  definitions=[Definition(f(z), sigmoid(z))])
        err = rejected(d, 0)
        assert "sigma' = sigma" in str(err)

    def test_symbolic_proof_never_overrides_a_failing_numeric_check(self):
        # a hint that "proves" anything must not let a wrong step through
        d = square(a**2 + b**2)
        steps = list(d.steps)
        steps[1] = Step(a**2 + b**2, "multiply out", hint=lambda e: sympy.S.Zero)
        rejected(chain("square", steps, d.result, d.domains, definitions=d.definitions), 2)


# ------------------------------------------------------------- the core itself


class TestVerify:
    def test_one_report_per_step_plus_the_result(self):
        d = square(a**2 + 2 * a * b + b**2)
        reports = d.verify()
        assert len(reports) == len(d.steps) + 1
        assert reports[-1].index == len(d.steps) + 1
        assert d.reports is reports
        assert reports[0].method == "definition"
        assert all(r.symbolic for r in reports[1:])
        assert all(r.points == core.DEFAULT_POINTS for r in reports)

    def test_derivative_through_a_definition(self):
        loss = -(Symbol("t", real=True) * log(sigmoid(z)))
        t = Symbol("t", real=True)
        L = Function("L")
        d = chain(
            "dlog-sigmoid",
            [
                Step(Eq(L(z, t), loss), "definition"),
                Step(Eq(sympy.Derivative(L(z, t), z), -t * (1 - sigmoid(z))), "chain rule"),
                Step(t * sigmoid(z) - t, "expand"),
            ],
            Eq(sympy.Derivative(L(z, t), z), t * (sigmoid(z) - 1)),
            {z: Interval(-20, 20), t: Interval(0, 1)},
            definitions=[Definition(L(z, t), loss)],
        )
        assert len(d.verify()) == 4

    @pytest.mark.parametrize("points", [0, 3, core.MIN_POINTS - 1])
    def test_fewer_than_eight_points_raise(self, points):
        with pytest.raises(ValueError, match="points"):
            square(a**2 + 2 * a * b + b**2).verify(points=points)

    @pytest.mark.parametrize("dps", [15, 49])
    def test_fewer_than_fifty_digits_raise(self, dps):
        with pytest.raises(ValueError, match="dps"):
            square(a**2 + 2 * a * b + b**2).verify(dps=dps)

    def test_more_points_and_digits_are_used(self):
        reports = square(a**2 + 2 * a * b + b**2).verify(points=12, dps=80)
        assert {r.points for r in reports} == {12}

    def test_first_step_must_be_a_relation(self):
        with pytest.raises(ValueError, match="first step"):
            chain("bad", [Step(a, "no lhs")], Eq(a, a), {a: Interval(0, 1)})

    def test_unknown_relation_is_refused(self):
        with pytest.raises(ValueError, match="relation"):
            Step(a, "?", relation="!=")


class TestSampling:
    def test_the_first_two_points_are_the_domain_edges(self):
        import random

        domains = {x: Interval(-2, 5), pr: LogUniform(1e-3, 10), K: IntegerRange(2, 6)}
        rng = random.Random(0)
        lo = core._sample_point(domains, (), rng, 0)
        hi = core._sample_point(domains, (), rng, 1)
        assert (lo[x], lo[pr], lo[K]) == (-2, mpmath.mpf(1e-3), 2)
        assert (hi[x], hi[pr], hi[K]) == (5, 10, 6)

    def test_a_claim_false_only_at_an_edge_is_rejected(self):
        # x ≤ 0.999 holds at (almost) every random point of [0, 1], not at the edge x = 1
        d = chain("edge", [Step(Eq(f(x), x), "definition"),
                           Step(sympy.Rational(999, 1000), "bound", relation="<=")],
                  Eq(f(x), x), {x: Interval(0, 1)}, definitions=[Definition(f(x), x)])
        err = rejected(d, 2)
        assert "x=1.0" in str(err)

    def test_vector_edges_and_assumption_constraints(self):
        import random

        rng = random.Random(1)
        for j in range(4):
            with mpmath.workdps(60):  # constraints work at the current precision
                point = core._sample_point(VECTOR_DOMAINS, (SUM_Y,), rng, j)
                assert abs(mpmath.fsum(point[y].values()) - 1) < mpmath.mpf(10) ** -55
            assert len(point[y]) == int(point[K])
        assert core._sample_point(VECTOR_DOMAINS, (), rng, 0)[K] == 2


class TestRegistry:
    def test_names_are_sorted_unique_kebab_case(self):
        names = derive.names()
        assert names == sorted(set(names))
        for n in names:
            assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", n), n

    def test_every_name_builds_a_derivation_of_that_name(self):
        for n in derive.names():
            d = derive.get(n)
            assert d.name == n
            assert d.title == derive.meta(n)["title"]
            assert len(d.steps) >= 3, n

    def test_get_is_cached(self):
        n = derive.names()[0]
        assert derive.get(n) is derive.get(n)

    def test_unknown_name_suggests_close_names(self):
        with pytest.raises(KeyError) as exc:
            derive.get("kl-nonnegativ")
        assert "kl-nonnegative" in exc.value.args[0]
        assert "unknown derivation" in exc.value.args[0]
        with pytest.raises(KeyError, match="lossproof list"):
            derive.meta("zzzzzzzz")

    @pytest.mark.parametrize("name", ["Not-Kebab", "has space", "snake_case"])
    def test_register_refuses_names_that_are_not_kebab_case(self, name):
        with pytest.raises(ValueError, match="kebab-case"):
            core.register(name, title="t", statement="s", topic="test")

    def test_register_refuses_a_name_twice(self):
        with pytest.raises(ValueError, match="twice"):
            core.register(derive.names()[0], title="t", statement="s", topic="test")(
                lambda: None)

    def test_registered_factory_must_use_its_name(self):
        name = "test-misnamed-derivation"
        core.register(name, title="t", statement="s", topic="test")(
            lambda: square(a**2 + 2 * a * b + b**2))
        try:
            with pytest.raises(RuntimeError, match="calls itself 'square'"):
                derive.get(name)
        finally:
            core._REGISTRY.pop(name)
            core._META.pop(name)
        assert name not in derive.names()


class TestLoadTopics:
    def test_a_missing_topic_module_is_skipped(self, monkeypatch):
        monkeypatch.setattr(core, "_TOPIC_MODULES", (*core._TOPIC_MODULES, "no_such_topic"))
        assert "kl-nonnegative" in derive.names()

    def test_an_import_error_inside_a_topic_module_is_raised(self, monkeypatch):
        import importlib

        real = importlib.import_module

        def broken(name, *args):
            if name == "derive.information":
                raise ModuleNotFoundError("No module named 'torch'", name="torch")
            return real(name, *args)

        monkeypatch.setattr(importlib, "import_module", broken)
        with pytest.raises(ModuleNotFoundError, match="torch"):
            derive.names()


class TestAssumption:
    def test_default_substitution_is_lhs_to_rhs(self):
        assert SUM_Y.substitutions() == ((Sum(y[k], (k, 1, K)), 1),)

    def test_explicit_substitutions_win(self):
        s = Assumption("n", Eq(a, b), subs=())
        assert s.substitutions() == ()

    def test_an_inequality_has_no_substitution(self):
        assert Assumption("pos", sympy.Gt(a, 0)).substitutions() == ()


class TestDefinition:
    def test_indexed_definition_applies_to_every_index(self):
        m = Symbol("m", integer=True)
        px = IndexedBase("p_X")
        d = Definition(px[m], exp(m))
        assert d.apply(px[k] + px[3]) == exp(k) + exp(3)

    def test_function_definition_applies_at_any_arguments(self):
        d = Definition(f(a, b), a - b)
        assert d.apply(f(b, 2)) == b - 2
