"""derive.checker: the verdict on a step depends on the step alone — never on a clock, the
machine's load or the CPU — and the fast integral route gives the numbers mpmath.quad gives."""

from __future__ import annotations

import random
import signal
import threading
import time

import mpmath
import pytest
import sympy
from sympy import Eq, Integral, Rational, Symbol, cos, exp, log, oo, pi, sin, sqrt

import derive
from derive import _quadrature, checker
from derive.core import Derivation, DerivationError, Interval, LogUniform, Step

x = Symbol("x", real=True)
u = Symbol("u", real=True)
m = Symbol("m", real=True)
s = Symbol("s", positive=True)


def normal(mean, scale):
    return exp(-((x - mean) ** 2) / (2 * scale**2)) / (sqrt(2 * pi) * scale)


# ------------------------------------------------------------------ symbolic route


class TestZeroTactic:
    def test_the_hint_is_tried_first(self):
        assert checker._zero_tactic(u - u, (), lambda d: sympy.S.Zero) == "hint"

    def test_cheap_tactics_come_before_simplify(self):
        assert checker._zero_tactic((u + 1) ** 2 - u**2 - 2 * u - 1, (), None) == "expand"

    def test_simplify_proves_a_small_trigonometric_identity(self):
        assert checker._zero_tactic(sin(u) ** 2 + cos(u) ** 2 - 1, (), None) == (
            "simplify exp form")

    def test_simplify_is_not_run_above_the_operation_bound(self, monkeypatch):
        # the same identity times a polynomial that no cheap tactic touches: too large to
        # simplify, so it is left to the numeric check — decided by size, not by a clock
        big = sympy.Add(*[u**k / (k + 1) for k in range(100)])
        d = (sin(u) ** 2 + cos(u) ** 2 - 1) * big
        assert sympy.count_ops(d) > checker.SIMPLIFY_MAX_OPS

        def forbidden(*args, **kwargs):
            raise AssertionError("simplify called above SIMPLIFY_MAX_OPS")

        monkeypatch.setattr(sympy, "simplify", forbidden)
        assert checker._zero_tactic(d, (), None) is None

    def test_a_false_claim_has_no_tactic(self):
        assert checker._zero_tactic(sin(u) ** 2 - cos(u) ** 2, (), None) is None

    def test_assumption_substitutions_apply_after_each_tactic(self):
        a, b = sympy.symbols("a b", real=True)
        assert checker._zero_tactic(2 * a - 2 * b, ((a, b),), None) == "as given"


class TestNoClock:
    """No timer, alarm or clock decides a verdict: with every timer forbidden and with a
    clock that races ahead, the same steps are proved symbolically."""

    NAME = "bce-gradient"  # steps 2 and 3 are proved by simplify (0.2 s of CPU)

    def reference(self) -> list[bool]:
        return [r.symbolic for r in derive.get(self.NAME).verify(points=8, dps=50)]

    def test_verify_sets_no_timer(self, monkeypatch):
        def forbidden(*args, **kwargs):
            raise AssertionError("a timer was set during verify()")

        monkeypatch.setattr(signal, "setitimer", forbidden)
        monkeypatch.setattr(signal, "alarm", forbidden)
        monkeypatch.setattr(signal, "signal", forbidden)
        monkeypatch.setattr(threading, "Timer", forbidden)
        proved = self.reference()
        assert proved == [True] * len(proved)

    def test_a_racing_clock_changes_no_verdict(self, monkeypatch):
        before = self.reference()
        ticks = iter(range(10**9))

        def racing() -> float:  # a day passes between any two readings
            return 86400.0 * next(ticks)

        for clock in ("time", "monotonic", "perf_counter", "process_time"):
            monkeypatch.setattr(time, clock, racing)
        assert self.reference() == before


# ------------------------------------------------------------------- numeric route


def arb_and_mpmath(expr, args, values, dps=60):
    """``expr`` at ``values`` by the arb route and by lambdify + mpmath.quad."""
    by_arb = _quadrature.compile_arb(expr, args)
    by_mpmath = sympy.lambdify(args, expr, modules=[checker._mp_function_namespace(), "mpmath"])
    with mpmath.workdps(dps):
        vals = [mpmath.mpf(v) for v in values]
        return by_arb(*vals), by_mpmath(*vals)


GAUSSIAN_INTEGRALS = {
    "mass": Integral(normal(m, s), (x, -oo, oo)),
    "second moment": Integral((x - m) ** 2 * normal(m, s), (x, -oo, oo)),
    "odd moment (= 0)": Integral((x - m) * normal(m, s), (x, -oo, oo)),
    "entropy": Integral(-normal(m, s) * log(normal(m, s)), (x, -oo, oo)),
    "KL to N(1, 2²)": Integral(normal(m, s) * log(normal(m, s) / normal(1, 2)), (x, -oo, oo)),
}


class TestArbQuadrature:
    @pytest.mark.parametrize("name", list(GAUSSIAN_INTEGRALS))
    @pytest.mark.parametrize(("mean", "scale"), [("0", "1"), ("-2", "0.5"), ("1.75", "2")])
    def test_agrees_with_mpmath_quad_to_55_digits(self, name, mean, scale):
        got, want = arb_and_mpmath(GAUSSIAN_INTEGRALS[name], [m, s], [mean, scale])
        with mpmath.workdps(60):
            assert abs(got - want) <= mpmath.mpf(10) ** -55 * max(1, abs(want))

    def test_matches_the_closed_form_of_the_gaussian_kl(self):
        # D(N(m, s²) ‖ N(1, 2²)) = log(2/s) + (s² + (m − 1)²)/8 − 1/2, at 60 digits
        got, _ = arb_and_mpmath(GAUSSIAN_INTEGRALS["KL to N(1, 2²)"], [m, s], ["0.3", "0.7"])
        with mpmath.workdps(60):
            mm, ss = mpmath.mpf("0.3"), mpmath.mpf("0.7")
            exact = mpmath.log(2 / ss) + (ss**2 + (mm - 1) ** 2) / 8 - mpmath.mpf(1) / 2
            assert abs(got - exact) <= mpmath.mpf(10) ** -58

    @pytest.mark.parametrize("name", ["mass", "second moment", "entropy"])
    def test_a_narrow_gaussian_far_from_zero_is_integrated_right(self, name):
        # σ = 0.01 at μ = 5: mpmath.quad over (−∞, ∞) misses it; the change of variables to
        # the Gaussian's own centre and width does not.  Mass 1, variance σ², entropy
        # ½ log(2πeσ²).
        got, _ = arb_and_mpmath(GAUSSIAN_INTEGRALS[name], [m, s], ["5", "0.01"])
        with mpmath.workdps(60):
            sd = mpmath.mpf("0.01")
            want = {"mass": 1, "second moment": sd**2,
                    "entropy": mpmath.log(2 * mpmath.pi * mpmath.e * sd**2) / 2}[name]
            assert abs(got - want) <= mpmath.mpf(10) ** -55 * max(1, abs(want))

    def test_the_mpmath_fallback_is_centred_too(self, monkeypatch):
        def unsupported(expr, args):
            raise _quadrature.Unsupported("forced")

        monkeypatch.setattr(_quadrature, "compile_arb", unsupported)
        side = checker._compile(GAUSSIAN_INTEGRALS["second moment"], {m: None, s: None})
        with mpmath.workdps(60):
            got = side(mpmath.mpf(5), mpmath.mpf("0.01"))
            assert abs(got - mpmath.mpf("0.0001")) <= mpmath.mpf(10) ** -55

    def test_a_finite_range_is_left_to_mpmath(self):
        finite = Integral(normal(m, s), (x, -1, 1))
        fn = _quadrature.compile_arb(finite, [m, s])
        with mpmath.workdps(60), pytest.raises(_quadrature.Unsupported):
            fn(mpmath.mpf(0), mpmath.mpf(1))
        # ... and the checker's compiled side falls back to mpmath.quad, same number
        side = checker._compile(finite, {m: None, s: None})
        with mpmath.workdps(60):
            want = mpmath.erf(1 / mpmath.sqrt(2))
            assert abs(side(mpmath.mpf(0), mpmath.mpf(1)) - want) <= mpmath.mpf(10) ** -55

    def test_an_expression_without_integrals_is_not_compiled(self):
        with pytest.raises(_quadrature.Unsupported):
            _quadrature.compile_arb(exp(m) + s, [m, s])

    def test_a_wrong_integral_step_is_still_rejected(self):
        # E[(x − m)²] = s² claimed as s² + 10^-20: only the numeric check can tell
        d = Derivation(
            name="wrong-moment", title="t", statement="t", topic="test",
            steps=[Step(Eq(Integral((x - m) ** 2 * normal(m, s), (x, -oo, oo)),
                           s**2 + Rational(1, 10**20)), "variance", numeric_only=True)],
            result=Eq(s, s), domains={m: Interval(-2, 2), s: LogUniform(0.5, 2)},
        )
        with pytest.raises(DerivationError, match="step 1 does not hold"):
            d.verify()


class TestSampling:
    def test_log_uniform_points_do_not_use_the_platform_libm(self, monkeypatch):
        # glibc's exp/log may round differently on another CPU; mpmath's cannot
        import math

        dom = {s: LogUniform(0.5, 2), m: Interval(-2, 2)}
        want = [checker._sample_point(dom, (), random.Random(3), j)[s] for j in range(6)]

        def forbidden(*args):
            raise AssertionError("libm used to sample a point")

        monkeypatch.setattr(math, "exp", forbidden)
        monkeypatch.setattr(math, "log", forbidden)
        got = [checker._sample_point(dom, (), random.Random(3), j)[s] for j in range(6)]
        assert got == want
        assert all(0.5 <= v <= 2 for v in got)


# ------------------------------------------------------------------ memoised SymPy work

#: Step reports (index, proved symbolically, points, definition, largest relative difference)
#: recorded before the checker memoised its SymPy work; any change to them is a change of
#: verdict or of the numbers the proofs print.
RECORDED_REPORTS = {
    "sigmoid-derivative": [
        (1, True, 10, True, 0.0), (2, True, 10, False, 0.0), (3, True, 10, False, 0.0),
        (4, True, 10, False, 7.961879159113569e-62), (5, True, 10, False, 0.0),
        (6, True, 10, False, 7.072400212277204e-62),
    ],
    "bce-probability-gradient": [
        (1, True, 10, True, 0.0), (2, True, 10, False, 0.0),
        (3, True, 10, False, 1.1674522331600006e-61), (4, True, 1, False, 0.0),
        (5, True, 1, False, 0.0), (6, True, 10, False, 0.0),
    ],
    "cross-entropy-one-hot": [
        (1, True, 10, True, 0.0), (2, True, 10, False, 0.0), (3, True, 10, False, 0.0),
        (4, False, 10, False, 0.0), (5, True, 10, False, 0.0),
    ],
}

_MEMOS = ("_APPLIED", "_CLOSED", "_COMPILED", "_DOIT", "_HOLDS")


def _summary(name: str) -> list[tuple]:
    return [(r.index, r.symbolic, r.points, r.definition, r.max_rel_diff)
            for r in derive.get(name).verify()]


def _clear_memos() -> None:
    for table in _MEMOS:
        getattr(checker, table).clear()


class TestMemoisedChecks:
    @pytest.mark.parametrize("name", sorted(RECORDED_REPORTS))
    def test_reports_equal_the_recorded_ones_from_an_empty_memo(self, name):
        _clear_memos()
        assert _summary(name) == RECORDED_REPORTS[name]

    @pytest.mark.parametrize("name", sorted(RECORDED_REPORTS))
    def test_a_warm_memo_gives_the_reports_of_an_empty_one(self, name):
        _clear_memos()
        cold = _summary(name)
        assert any(getattr(checker, table) for table in _MEMOS)
        assert _summary(name) == cold

    def test_a_full_memo_is_cleared_not_grown(self, monkeypatch):
        monkeypatch.setattr(checker, "_MEMO_MAX", 3)
        table: dict = {}
        for k in range(10):
            assert checker._memo(table, k, lambda k=k: k * k) == k * k
        assert len(table) <= 3

    def test_a_hit_does_not_recompute(self):
        table: dict = {}
        calls = []
        for _ in range(3):
            checker._memo(table, "key", lambda: calls.append(1) or 42)
        assert calls == [1]

    def test_a_definition_whose_target_is_absent_leaves_the_expression_alone(self):
        f = sympy.Function("f")
        g = sympy.Function("g")
        d = derive.Definition(f(x), x**2)
        e = g(x) + sin(x)
        assert checker._apply_definitions(e, [d]) is e
        assert checker._apply_definitions(f(u) + e, [d]) == u**2 + e

    def test_a_hinted_claim_is_not_memoised(self):
        _clear_memos()
        rel = Eq(sin(x) ** 2 + cos(x) ** 2, 1)
        assert checker._symbolic_holds(rel, (), lambda d: sympy.trigsimp(d))
        assert not checker._HOLDS
        assert checker._symbolic_holds(rel, (), None)
        assert checker._HOLDS == {(rel, ()): True}
