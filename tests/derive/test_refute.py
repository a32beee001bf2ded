"""Planted false steps are rejected with a counterexample; their true twins are accepted.

Each case is a one-step derivation written with the public ``Derivation``/``Step`` API, as an
author would.  The false steps are false only on a small part of their domain (a small
interior region, near a domain edge, off by a relative 1e-12, a narrow bump, a wrong
constant in a sharp inequality): the ~10 sampled points of the plain numeric check miss
most of them, the counterexample search (``derive.refute``) must not.
"""

from __future__ import annotations

import mpmath
import pytest
import sympy as sp
from flint import arb

from derive import intervals, refute
from derive.core import Derivation, DerivationError, Interval, LogUniform, Step, VectorOf
from derive.functions import sigmoid, softplus

z, t, a, b, c, x, y = sp.symbols("z t a b c x y", real=True)
v = sp.IndexedBase("v", real=True)
k = sp.Symbol("k", integer=True)


def _unit(lo, hi):
    return Interval(lo, hi)


def _sum(e):
    return sp.Sum(e, (k, 1, 3))


_D = a * sp.log(a / b) + (1 - a) * sp.log((1 - a) / (1 - b))
_R = sp.Rational
_BUMP = sp.exp(-10**4 * (z - sp.pi) ** 2) / 1000
_SP = sp.log(1 + sp.exp(z))
_LSE = sp.log(_sum(sp.exp(v[k])))
_PROB = {a: _unit(0.01, 0.99), b: _unit(0.01, 0.99)}
_VEC = {v: VectorOf(3, Interval(-1, 1))}


def _ge(lhs, rhs):
    return sp.Ge(lhs, rhs, evaluate=False)


def _le(lhs, rhs):
    return sp.Le(lhs, rhs, evaluate=False)


def _eq(lhs, rhs):
    return sp.Eq(lhs, rhs, evaluate=False)


#: name -> (false claim, its true twin, domains); the false claim fails only where noted
CASES = {
    # a wrong constant in a sharp inequality (false where b ~ 1/2 and a ~ b)
    "pinsker-2.01": (_ge(_D, _R(201, 100) * (a - b) ** 2), _ge(_D, 2 * (a - b) ** 2), _PROB),
    # false on a small interior region (2.9, 3.1)
    "square-interior": (_ge((z - 3) ** 2, _R(1, 100)), _ge((z - 3) ** 2 + _R(1, 100), 0),
                        {z: _unit(0, 100)}),
    # false near t = 1
    "log-below-chord": (_le(sp.log(t), t - 1 - _R(1, 10**4)), _le(sp.log(t), t - 1),
                        {t: _unit(0.01, 100)}),
    # a narrow bump added to one side
    "softplus-bump": (_eq(_SP, _SP + _BUMP), _eq(_SP, z + sp.log(1 + sp.exp(-z))),
                      {z: _unit(-30, 30)}),
    # off by a relative 1e-12
    "softplus-relative": (_eq(_SP, _SP * (1 + _R(1, 10**12))),
                          _eq(softplus(z), sp.log(1 + sp.exp(z))), {z: _unit(-30, 30)}),
    # false just inside the lower edge, on (0.01, 0.02)
    "near-lower-edge": (_ge((x - _R(1, 100)) * (x - _R(2, 100)), 0),
                        _ge((x - _R(1, 100)) * (x - _R(2, 100)), -_R(1, 30000)),
                        {x: _unit(0, 1)}),
    # false for t < 7.5e-5, at the low end of a log-uniform domain
    "log1p-near-edge": (_ge(sp.log(1 + t), t - 10000 * t**2 / 20001),
                        _ge(sp.log(1 + t), t - t**2 / 2), {t: LogUniform(1e-8, 10)}),
    # a slope 1/4.01 instead of 1/4: false for small z > 0
    "sigmoid-tangent": (_le(sigmoid(z), _R(1, 2) + 100 * z / 401),
                        _le(sigmoid(z), _R(1, 2) + z / 4), {z: _unit(0, 10)}),
    # log cosh z <= z^2/2 with 2.01: false near 0
    "logcosh-quadratic": (_le(sp.log(sp.cosh(z)), 100 * z**2 / 201),
                          _le(sp.log(sp.cosh(z)), z**2 / 2), {z: _unit(-3, 3)}),
    # AM-GM short by 1/1000: false near a = b, two variables
    "am-gm": (_le(sp.sqrt(a * b), (a + b) / 2 - _R(1, 1000)), _le(sp.sqrt(a * b), (a + b) / 2),
              {a: LogUniform(0.1, 10), b: LogUniform(0.1, 10)}),
    # three variables, false near a = b = c
    "power-mean-3": (_le((a + b + c) ** 2, 3 * (a**2 + b**2 + c**2) - _R(1, 100)),
                     _le((a + b + c) ** 2, 3 * (a**2 + b**2 + c**2)),
                     {a: _unit(-1, 1), b: _unit(-1, 1), c: _unit(-1, 1)}),
    # a disk of radius 1/100 inside [-1, 1]^2
    "disk-interior": (_ge((x - _R(3, 10)) ** 2 + (y - _R(7, 10)) ** 2, _R(1, 10**4)),
                      _ge((x - _R(3, 10)) ** 2 + (y - _R(7, 10)) ** 2 + _R(1, 10**4), 0),
                      {x: _unit(-1, 1), y: _unit(-1, 1)}),
    # a two-variable narrow bump
    "bump-2d": (_eq(sp.log(1 + sp.exp(x)) + y,
                    sp.log(1 + sp.exp(x)) + y
                    + sp.exp(-10**4 * ((x - 1) ** 2 + (y + 2) ** 2)) / 1000),
                _eq(sp.log(1 + sp.exp(x)) + y, softplus(x) + y),
                {x: _unit(-5, 5), y: _unit(-5, 5)}),
    # a residual 1e-12 b^2 SymPy shows is positive
    "expand-residual": (_eq((a + b) ** 2, a**2 + 2 * a * b + b**2 * (1 + _R(1, 10**12))),
                        _eq((a + b) ** 2, a**2 + 2 * a * b + b**2), _PROB),
    # Taylor remainder short by 1e-5 (strict, > direction): false for z < 0.27
    "exp-taylor-strict": (sp.Gt(sp.exp(z), sum(z**n / sp.factorial(n) for n in range(6))
                                + _R(1, 10**5), evaluate=False),
                          sp.Gt(sp.exp(z), 1 + z + z**2 / 4, evaluate=False), {z: _unit(0.01, 3)}),
    # strict, < direction: z(1 - z) peaks at 1/4
    "parabola-strict": (sp.Lt(z * (1 - z), _R(2499, 10**4), evaluate=False),
                        sp.Lt(z * (1 - z), _R(2501, 10**4), evaluate=False), {z: _unit(0, 1)}),
    # vectors (IndexedBase) at concrete K = 3
    "vector-qm-am": (_ge(_sum(v[k] ** 2), _sum(v[k]) ** 2 / 3 + _R(1, 1000)),
                     _ge(_sum(v[k] ** 2), _sum(v[k]) ** 2 / 3), _VEC),
    "vector-lse-mean": (_ge(_LSE, _sum(v[k]) / 3 + sp.log(3) + _R(1, 10**6)),
                        _ge(_LSE, _sum(v[k]) / 3 + sp.log(3)), _VEC),
    "vector-bump": (_eq(_sum(2 * v[k]), 2 * _sum(v[k])
                        + sp.exp(-10**4 * (v[2] - _R(1, 3)) ** 2) / 1000),
                    _eq(_sum(2 * v[k]), 2 * _sum(v[k])), _VEC),
    "vector-relative": (_eq(_LSE, _LSE * (1 + _R(1, 10**12))),
                        _eq(_LSE, sp.log(sp.exp(v[1]) + sp.exp(v[2]) + sp.exp(v[3]))), _VEC),
    "vector-lse-max": (_le(_LSE, v[1] + sp.log(3) - _R(1, 10**4)),
                       _ge(_LSE, v[1]), _VEC),
}


def _derivation(rel) -> Derivation:
    dom = {}
    for case in CASES.values():
        if case[0] is rel or case[1] is rel:
            dom = case[2]
    return Derivation(name="planted", title="planted", statement="a planted step",
                      topic="test", steps=[Step(expr=rel, reason="planted")], result=rel,
                      domains=dom)


class TestPlantedFalseSteps:
    def test_there_are_at_least_twenty_several_in_more_than_one_variable(self):
        multi = [n for n, (f, _, _) in CASES.items()
                 if len((f.lhs - f.rhs).free_symbols) > 1 or f.has(sp.Indexed)]
        assert len(CASES) >= 20 and len(multi) >= 8

    @pytest.mark.parametrize("name", sorted(CASES))
    def test_false_step_is_rejected_with_a_counterexample(self, name):
        false, _, _ = CASES[name]
        with pytest.raises(DerivationError, match=r"step 1 does not hold: .* at \w+=") as err:
            _derivation(false).verify()
        assert "=" in str(err.value).splitlines()[0].rsplit(" at ", 1)[1]

    @pytest.mark.parametrize("name", sorted(CASES))
    def test_the_search_alone_finds_a_point_where_the_false_step_fails(self, name):
        # not only the ~10 sampled points of the plain check (which miss 8 of these)
        false, _, domains = CASES[name]
        found = refute.search(false, domains, (), (), dps=50, seed=7919)
        assert found.point is not None and found.evaluations <= refute.MAX_EVALUATIONS

    @pytest.mark.parametrize("name", sorted(CASES))
    def test_true_twin_is_accepted_and_says_how(self, name):
        _, true, _ = CASES[name]
        reports = _derivation(true).verify()
        for r in reports:
            assert r.checked_by in {"symbolic", "interval", "sampled"}
            assert r.how.startswith(("proved symbolically", "proved by interval arithmetic on [",
                                     "not proved: no counterexample in "))


class TestSearch:
    def test_finds_the_interior_region_the_sampled_points_miss(self):
        rel = _ge((z - 3) ** 2, _R(1, 100))
        found = refute.search(rel, {z: _unit(0, 100)}, (), (), dps=50, seed=0)
        assert found.point is not None and abs(found.point[z] - 3) < _R(1, 10)

    def test_is_deterministic_and_bounded(self):
        rel = _le(sp.log(t), t - 1)
        runs = [refute.search(rel, {t: _unit(0.01, 100)}, (), (), dps=50, seed=3)
                for _ in range(2)]
        assert runs[0] == runs[1] and runs[0].point is None
        assert runs[0].evaluations <= refute.MAX_EVALUATIONS and runs[0].starts >= 1

    def test_climbs_a_bump_far_below_double_range(self):
        # e^{-10^4 (z - pi)^2} at z = -30 is 10^-(4.8e6): a float is 0 there, mpmath is not
        rel = _eq(_SP, _SP + _BUMP)
        found = refute.search(rel, {z: _unit(-30, 30)}, (), (), dps=50, seed=0)
        assert found.point is not None and abs(found.point[z] - mpmath.pi) < 0.05

    def test_a_planted_bug_in_the_violation_sign_hides_the_counterexample(self, monkeypatch):
        # the check can go red: with the sign of ">=" violations flipped, nothing is found
        monkeypatch.setattr(refute._Search, "_violation",
                            lambda self, d: -abs(d))
        rel = _ge((z - 3) ** 2, _R(1, 100))
        assert refute.search(rel, {z: _unit(0, 100)}, (), (), dps=50, seed=0).point is None


class TestIntervals:
    def test_proves_a_strict_inequality_with_margin(self):
        rel = sp.Gt(sp.exp(z), 1 + z + z**2 / 4, evaluate=False)
        verdict = intervals.prove(rel, {z: _unit(0.5, 3)})
        assert verdict.status == "proved" and verdict.boxes <= intervals.MAX_BOXES

    def test_refutes_a_box_where_the_sign_is_wrong(self):
        verdict = intervals.prove(_ge((z - 3) ** 2, _R(1, 100)), {z: _unit(0, 100)})
        assert verdict.status == "refuted" and abs(verdict.point[z] - 3) < _R(1, 10)

    def test_a_tight_inequality_is_undecided_within_the_box_budget(self):
        verdict = intervals.prove(_le(sp.log(t), t - 1), {t: _unit(0.5, 2)}, max_boxes=200)
        assert verdict.status == "undecided" and verdict.boxes == 200

    def test_equalities_are_never_proved_by_intervals(self):
        assert intervals.prove(_eq(_SP, softplus(z)), {z: _unit(-1, 1)}).status == "undecided"

    @pytest.mark.parametrize("expr", [
        _D, sp.log(sp.cosh(z)) - z**2 / 2, sigmoid(z) * softplus(z), sp.sqrt(z + 2) ** 3,
        (z - _R(1, 3)) ** 2 * sp.exp(-z), sp.Abs(z - _R(1, 7)),
    ])
    def test_the_enclosure_contains_the_values_at_points_of_the_box(self, expr):
        env_ab = {a: arb.union(arb("0.2"), arb("0.3")), b: arb.union(arb("0.6"), arb("0.7")),
                  z: arb.union(arb("-0.5"), arb("1.25"))}
        ball = intervals.enclose(expr, env_ab)
        for j in range(11):
            pt = {a: _R(2, 10) + _R(j, 100), b: _R(6, 10) + _R(j, 100),
                  z: _R(-1, 2) + _R(7 * j, 40)}
            value = sp.N(expr.rewrite(sp.exp).subs(pt), 30)
            assert ball.contains(arb(str(value))), (expr, pt, ball)

    def test_an_unknown_function_is_unsupported(self):
        with pytest.raises(intervals.Unsupported):
            intervals.enclose(sp.gamma(z), {z: arb(1)})


class TestStepReportHow:
    def test_interval_proof_names_the_box(self):
        rel = sp.Gt(sp.exp(z), 1 + z + z**2 / 4, evaluate=False)
        reports = Derivation(name="p", title="p", statement="p", topic="test",
                             steps=[Step(expr=rel, reason="r", numeric_only=True)], result=rel,
                             domains={z: _unit(0.5, 3)}).verify()
        assert reports[0].checked_by == "interval" and reports[0].method == "interval + numeric"
        assert reports[0].how.startswith("proved by interval arithmetic on [0.5, 3.0]")

    def test_an_unproved_step_says_what_was_searched(self):
        rel = _le(sp.log(t), t - 1)
        reports = Derivation(name="p", title="p", statement="p", topic="test",
                             steps=[Step(expr=rel, reason="r", numeric_only=True)], result=rel,
                             domains={t: _unit(0.5, 2)}).verify()
        assert reports[0].checked_by == "sampled"
        assert reports[0].how.startswith("not proved: no counterexample in ")


class TestCheckedSection:
    def test_a_sampled_step_says_at_the_step_that_it_is_not_proved(self):
        from derive import proofs

        rel = _le(sp.log(t), t - 1)
        d = Derivation(name="p", title="p", statement="p", topic="test",
                       steps=[Step(expr=rel, reason="r", numeric_only=True)], result=rel,
                       domains={t: _unit(0.5, 2)})
        rows = [line for line in proofs._checked_section(d, d.verify())
                if line.startswith("| step 1 |")]
        assert len(rows) == 1 and "numeric — not proved: no counterexample in " in rows[0]


class TestUnivariate:
    def test_finds_the_exact_set_where_a_rational_inequality_fails(self):
        held, bad = refute.univariate(_ge((z - 3) ** 2, _R(1, 100)), {z: _unit(0, 100)}, ())
        assert not held and bad == sp.Interval.open(_R(29, 10), _R(31, 10))

    def test_an_inequality_that_holds_on_the_domain_is_proved(self):
        rel = _le(z * (1 - z), _R(1, 4))  # equality at z = 1/2: tight, yet decided exactly
        assert refute.univariate(rel, {z: _unit(0, 1)}, ()) == (True, sp.S.EmptySet)
        reports = Derivation(name="p", title="p", statement="p", topic="test",
                             steps=[Step(expr=rel, reason="r", numeric_only=True)], result=rel,
                             domains={z: _unit(0, 1)}).verify()
        assert reports[0].how == "proved symbolically (univariate inequality solving on the domain)"

    def test_does_not_apply_beyond_one_variable_or_rational_functions(self):
        assert refute.univariate(_le(sp.log(t), t - 1), {t: _unit(0.5, 2)}, ()) is None
        assert refute.univariate(_le(x * y, 1), {x: _unit(0, 1), y: _unit(0, 1)}, ()) is None
        assert refute.univariate(_eq(z, z), {z: _unit(0, 1)}, ()) is None
