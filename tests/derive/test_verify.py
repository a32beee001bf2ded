"""Tests of ``derive.verify``: the cross-check engine can pass, and it can fail — a broken
``numeric`` function, a dropped stable-rewrite rule or a wrong oracle each make it fail."""

from __future__ import annotations

import dataclasses
import json
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest

import derive
from derive import oracle, verify
from derive.verify import CASES, Case, ulp_error, verify_one

FAST = {"points": 6, "steps": False}  # the steps are tested elsewhere; keep these quick


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("lossproof-cache")


@pytest.fixture(autouse=True)
def _private_cache(cache_dir, monkeypatch):
    monkeypatch.setenv("LOSSPROOF_CACHE_DIR", str(cache_dir))


@pytest.fixture
def fresh_exports():
    """Exports are cached per name; a test that breaks the exporter must not leak."""
    import derive.export

    derive.export._cached_export.cache_clear()
    yield
    derive.export._cached_export.cache_clear()


class TestUlpError:
    def test_exact_is_zero(self):
        assert ulp_error(0.5, mpmath.mpf(1) / 2) == 0

    def test_one_tenth(self):
        with mpmath.workdps(40):
            assert ulp_error(0.1, mpmath.mpf(1) / 10) == pytest.approx(0.4, abs=1e-5)

    def test_overflow_beyond_the_range_is_correct_rounding(self):
        assert ulp_error(math.inf, mpmath.mpf("1e400")) == 0
        assert ulp_error(-math.inf, mpmath.mpf("1e400")) == math.inf

    def test_nan_where_finite_is_infinitely_wrong(self):
        assert ulp_error(math.nan, mpmath.mpf(1)) == math.inf

    def test_subnormal_spacing_below_the_normal_range(self):
        assert ulp_error(5e-324, mpmath.mpf(0)) == 1


class TestUlpErrorFastPath:
    def test_agrees_with_the_mpmath_route_to_1e5_relative(self):
        """The float64 fast path (exact = e + r) against the 40-digit route, across the
        exponent range, at powers of two (where the ULP halves) and near them."""
        rng = np.random.default_rng(11)
        with mpmath.workdps(60):
            for _ in range(3000):
                x = (mpmath.mpf(float(rng.uniform(-1, 1)))
                     * mpmath.mpf(10) ** int(rng.integers(-300, 300))
                     * (1 + mpmath.mpf(float(rng.random())) * mpmath.mpf(10) ** -30))
                if rng.random() < 0.2:
                    x = mpmath.ldexp(1, int(rng.integers(-950, 1023))) * (
                        1 - mpmath.mpf(10) ** -40 * int(rng.choice([-1, 1])))
                g = float(x) * (1 + float(rng.random()) * 1e-12 * (rng.random() < 0.5))
                fast, slow = ulp_error(g, x), verify._slow_ulp_error(g, x)
                assert fast == slow or abs(fast - slow) <= 1e-5 * max(slow, 1e-3), (g, x)

    def test_a_lower_binade_value_uses_the_lower_spacing(self):
        with mpmath.workdps(40):
            below_one = 1 - mpmath.mpf(10) ** -30  # rounds to 1.0; its ULP is 2^-53
            assert ulp_error(1.0, below_one) == pytest.approx(1e-30 / 2**-53, rel=1e-5)


class TestExactZeroBudget:
    """Where the exact value is 0 the budget is absolute, ``4 ε S`` (S: the inputs' scale),
    never infinite: ∂L/∂z of BCE at z = 0, y = 1/2 is exactly 0, with S = |∂f/∂y| ·
    min(y, 1 − y) = 1/2, so the budget is 4 · 2^-52 · 1/2 ≈ 4.4e-16."""

    @staticmethod
    def _planted(value):
        import numeric

        good = numeric.binary_cross_entropy_with_logits_grad

        def route(z, y):
            out = good(z, y)
            return np.where((np.asarray(z) == 0) & (np.asarray(y) == 0.5), value, out)

        return route

    @pytest.mark.parametrize("value", [0.25, 1e-15, -2e-15, math.inf])
    def test_a_route_far_from_an_exact_zero_fails(self, monkeypatch, value):
        case = dataclasses.replace(CASES["bce-gradient"], numeric=self._planted(value))
        monkeypatch.setitem(CASES, "bce-gradient", case)
        r = verify_one("bce-gradient", **FAST)
        assert not r.numeric.passed and not r.passed
        assert r.numeric.worst["input"] == "(0.0, 0.5)"
        assert r.export.passed

    def test_a_route_within_the_scale_of_the_inputs_passes(self, monkeypatch):
        case = dataclasses.replace(CASES["bce-gradient"], numeric=self._planted(2e-16))
        monkeypatch.setitem(CASES, "bce-gradient", case)
        r = verify_one("bce-gradient", **FAST)
        assert r.numeric.passed, verify._why(r)

    def test_absolute_budget_is_finite_and_tied_to_the_scale(self):
        zero = mpmath.mpf(0)
        for sens in (mpmath.mpf(0), mpmath.mpf("0.5"), mpmath.mpf("1e300")):
            allowed = verify._budget_abs(verify.COND, zero, sens)
            assert mpmath.isfinite(allowed) and allowed > 0
            assert allowed == 4 * (mpmath.ldexp(1, -1074) + verify._EPS * sens)

    def test_an_infinite_sensitivity_forgives_nothing(self):
        for sens in (mpmath.inf, mpmath.nan):
            assert verify._budget_abs(verify.COND, mpmath.mpf(0), sens) == 4 * mpmath.ldexp(
                1, -1074)

    def test_ratio_of_a_planted_error_at_zero(self):
        allowed = verify._budget_abs(verify.COND, mpmath.mpf(0), mpmath.mpf("0.5"))
        assert verify._abs_ratio(0.25, mpmath.mpf(0), allowed, math.inf) > 1e14
        assert verify._abs_ratio(0.0, mpmath.mpf(0), allowed, 0.0) == 0
        assert verify._abs_ratio(math.nan, mpmath.mpf(0), allowed, math.inf) == math.inf


class TestDensity:
    def test_default_sweep_is_dense(self):
        assert verify.DEFAULT_POINTS >= 2000

    def test_the_command_line_default_is_the_engine_default(self):
        from derive.cli import build_parser

        assert build_parser().parse_args(["verify"]).points == verify.DEFAULT_POINTS

    def test_a_thinned_share_still_checks_points_in_all(self, monkeypatch):
        case = dataclasses.replace(CASES["sigmoid-derivative"], share=0.25)
        monkeypatch.setitem(CASES, "sigmoid-derivative", case)
        r = verify_one("sigmoid-derivative", points=60, steps=False)
        assert r.points >= 60 and r.export.points == r.points

    def test_sampler_gives_the_points_of_derive_core(self):
        """The engine's sampler (bounds looked up, not substituted) draws the same points."""
        import random

        from derive.core import _sample_point

        d = derive.get("softmax-ce-gradient")
        for j in range(6):
            a = _sample_point(d.domains, [], random.Random(j), j)
            b = verify._sample(d.domains, [], random.Random(j), j)
            assert {str(k): v for k, v in a.items()} == {str(k): v for k, v in b.items()}


class TestPoints:
    def test_simplex_fix_makes_rows_sum_to_exactly_one(self):
        fix = verify._simplex(0)
        rng = np.random.default_rng(0)
        (p,) = fix((rng.random((3, 5)),))
        assert all(sum(map(Fraction, row.tolist())) == 1 for row in p)

    def test_joint_fix_normalises_the_whole_table(self):
        (p,) = verify._simplex(0, joint=True)((np.ones((2, 3)),))
        assert sum(map(Fraction, p.ravel().tolist())) == 1

    @pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.fix is not None))
    def test_adversarial_distributions_are_normalised(self, name):
        """Edges of derivations that assume Σ p = 1 satisfy it exactly (or to 2^-900)."""
        case = CASES[name]
        params = [str(p) for p in derive.get(name).parameters]
        for point in case.edges():
            for arg, param in zip(point, params, strict=True):
                if case.model.get(param) in ("prob", "joint") and np.ndim(arg) >= 1:
                    rows = [np.ravel(arg)] if case.model[param] == "joint" else np.atleast_2d(arg)
                    for row in rows:
                        assert abs(sum(map(Fraction, row.tolist())) - 1) <= Fraction(2) ** -900

    @pytest.mark.parametrize("name", sorted(CASES))
    def test_every_case_has_adversarial_points(self, name):
        assert len(CASES[name].edges()) >= 3

    def test_every_exportable_derivation_has_a_case(self):
        from derive.export import exportable

        missing = [n for n in derive.names() if exportable(n) and n not in CASES]
        assert not missing, f"add adversarial points for {missing} to derive/verify.py CASES"


class TestCrossCheck:
    def test_passes_on_a_correct_derivation(self):
        r = verify_one("bce-gradient", **FAST)
        assert r.passed, verify._why(r)
        assert r.export.points == r.numeric.points == r.points > r.adversarial_points > 0
        assert r.export.max_budget_ratio <= 1

    def test_naive_lambdify_is_reported_but_not_required(self):
        r = verify_one("bce-gradient", **FAST)
        # σ(z) − y without the rewrite is 0 at z = 36.8, y = 1 (truth −e^{−36.8})
        assert r.naive.over_budget > 0 and not r.naive.required
        assert r.passed

    def test_broken_numeric_function_fails(self, monkeypatch):
        import numeric

        def naive_grad(z, y):  # σ(z) − y: returns 0 for y = 1, z > 36.7 (issue 2)
            return 1 / (1 + np.exp(-np.asarray(z))) - y

        monkeypatch.setattr(numeric, "binary_cross_entropy_with_logits_grad", naive_grad)
        r = verify_one("bce-gradient", **FAST)
        assert not r.numeric.passed and not r.passed
        assert r.export.passed
        assert "36.8" in r.numeric.worst["input"] or "40.0" in r.numeric.worst["input"]

    def test_numeric_function_raising_on_valid_input_fails(self, monkeypatch):
        import numeric

        def refuse(z, y):
            raise ValueError("z: out of range")

        monkeypatch.setattr(numeric, "binary_cross_entropy_with_logits_grad", refuse)
        r = verify_one("bce-gradient", **FAST)
        assert r.numeric.error and "ValueError" in r.numeric.error and not r.passed

    def test_broken_export_rule_fails(self, monkeypatch, fresh_exports):
        """Without the rule σ(z) − y → (1 − y) − σ(−z) the export loses the z > 36.7 tail."""
        import derive.export
        from derive import rewrite

        bundle = [r for r in rewrite.RULES if r.name != "sigmoid-minus-target"]
        assert len(bundle) == len(rewrite.RULES) - 1
        monkeypatch.setattr(derive.export, "stabilise",
                            lambda e, *a, **k: rewrite.stabilise(e, bundle))
        r = verify_one("bce-gradient", **FAST)
        assert not r.export.passed and not r.passed
        assert r.numeric.passed

    def test_wrong_oracle_fails(self, monkeypatch):
        def wrong(z, y):  # the loss without its (1 − y) term
            return oracle.derivative(lambda t: -y * oracle._log_sigmoid(t), z, smooth=True)

        o = oracle.ORACLES["bce-gradient"]
        monkeypatch.setitem(oracle.ORACLES, "bce-gradient",
                            dataclasses.replace(o, fn=wrong, arb=None))
        r = verify_one("bce-gradient", **FAST)
        assert not r.export.passed and not r.numeric.passed and not r.passed

    def test_wrong_ball_oracle_fails(self, monkeypatch):
        from derive import oracle_arb

        def wrong(z, y):  # the loss without its (1 − y) term, in balls
            return oracle_arb._deriv(lambda t: -y * oracle_arb._log_sigmoid(t), z)

        o = oracle.ORACLES["bce-gradient"]
        monkeypatch.setitem(oracle.ORACLES, "bce-gradient", dataclasses.replace(o, arb=wrong))
        r = verify_one("bce-gradient", **FAST)
        assert not r.export.passed and not r.numeric.passed and not r.passed

    def test_missing_oracle_is_a_failure(self, monkeypatch):
        monkeypatch.delitem(oracle.ORACLES, "bce-gradient")
        r = verify_one("bce-gradient", **FAST)
        assert not r.passed and "no oracle" in r.error

    def test_oracle_with_other_parameters_is_a_failure(self, monkeypatch):
        o = oracle.ORACLES["bce-gradient"]
        monkeypatch.setitem(oracle.ORACLES, "bce-gradient",
                            dataclasses.replace(o, params=("y", "z")))
        r = verify_one("bce-gradient", **FAST)
        assert not r.passed and "takes" in r.error

    def test_labels_are_exact_in_the_condition_number(self):
        """A hard label y = 1 is not perturbed, so σ(z) − y at z = 40 is well-conditioned and
        0 is wrong there; a soft y = 0.5 near z = 0 is ill-conditioned in y."""
        d = derive.get("bce-gradient")
        o = oracle.ORACLES["bce-gradient"]
        case = CASES["bce-gradient"]
        (hard,) = verify._sensitivities(o, case, d, (40.0, 1.0), set(), 1)
        (soft,) = verify._sensitivities(o, case, d, (1e-300, 0.5), set(), 1)
        exact_hard = verify._reference(o, (40.0, 1.0), 60)[0]
        assert verify._condition(exact_hard, hard) < 100
        assert soft > 0.4  # |∂f/∂y| · min(y, 1 − y)

    def test_fixed_budget(self, monkeypatch):
        case = dataclasses.replace(CASES["sigmoid-derivative"],
                                   budget=verify.Budget("fixed", 1e-3, "a budget no one meets"))
        monkeypatch.setitem(CASES, "sigmoid-derivative", case)
        r = verify_one("sigmoid-derivative", **FAST)
        assert r.max_condition is None
        assert not r.export.passed  # 1e-3 ULP: only exact results pass


# the second stands in for a relation-only derivation (none is registered)
REPORT_NAMES = ("sigmoid-derivative", "bce-probability-gradient")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    real = verify._exportable
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOSSPROOF_CACHE_DIR", str(tmp_path_factory.mktemp("report-cache")))
        mp.setattr(verify, "_exportable", lambda n: n != REPORT_NAMES[1] and real(n))
        return verify.run(REPORT_NAMES, points=4, jobs=1)


class TestReport:
    NAMES = REPORT_NAMES

    def test_versioned_json_matches_the_documented_schema(self, report):
        doc = json.loads(report.to_json())
        assert doc["schema_version"] == verify.SCHEMA_VERSION == 1
        assert set(doc) == {"schema_version", "tool", "version", "settings", "seconds",
                            "passed", "derivations"}
        assert set(doc["settings"]) == {"names", "points", "seed", "dps", "jobs"}
        assert [d["name"] for d in doc["derivations"]] == list(self.NAMES)
        for d in doc["derivations"]:
            assert set(d) == {"name", "title", "exportable", "passed", "error", "steps",
                              "points", "adversarial_points", "budget", "max_condition",
                              "numeric_function", "pairs", "numeric_twins", "seconds"}
            assert set(d["steps"]) == {"total", "symbolic", "numeric", "interval", "passed",
                                       "error", "seconds", "cached"}
            assert set(d["budget"]) == {"kind", "ulp", "why"}
            assert set(d["pairs"]) == {"export_vs_oracle", "numeric_vs_oracle",
                                       "naive_vs_oracle", "export_vs_numeric"}
            for pair in d["pairs"].values():
                if pair is None:
                    continue
                assert set(pair) == {"points", "max_ulp", "max_ulp_scaled", "max_rel",
                                     "max_budget_ratio", "over_budget", "nonfinite",
                                     "required", "passed", "error", "worst"}
                for key in ("max_ulp", "max_rel", "max_budget_ratio"):
                    assert isinstance(pair[key], int | float) or pair[key] in ("inf", "nan")

    def test_relation_only_derivation_has_no_pairs(self, report):
        doc = json.loads(report.to_json())
        relation = doc["derivations"][1]
        assert not relation["exportable"] and relation["points"] == 0
        assert all(p is None for p in relation["pairs"].values())
        assert relation["passed"] and relation["steps"]["passed"]

    def test_table_lists_each_derivation_with_its_verdict(self, report):
        table = verify.format_table(report)
        for n in self.NAMES:
            assert n in table
        assert "passed" in table.splitlines()[-1] or "FAIL" in table

    def test_non_finite_numbers_are_strings(self):
        assert verify._json_safe([math.inf, -math.inf, math.nan, 1.5]) == ["inf", "-inf",
                                                                          "nan", 1.5]

    def test_unknown_name_raises_before_anything_runs(self):
        with pytest.raises(KeyError, match="unknown derivation"):
            verify.run(["sigmoid-derivative", "no-such-thing"])

    def test_two_jobs_give_the_same_figures_as_one(self, report):
        again = verify.run(["sigmoid-derivative"], points=4, jobs=2)
        assert again.results[0].export.max_ulp == report.results[0].export.max_ulp


class TestStepsCache:
    def test_second_run_reuses_the_steps(self, tmp_path, monkeypatch):
        monkeypatch.setenv("LOSSPROOF_CACHE_DIR", str(tmp_path))
        first = verify_one("bce-probability-gradient", points=0)
        second = verify_one("bce-probability-gradient", points=0)
        assert not first.steps_cached and second.steps_cached
        assert (first.steps_symbolic, first.steps_numeric) == (second.steps_symbolic,
                                                               second.steps_numeric)
        assert not verify_one("bce-probability-gradient", points=0, cache=False).steps_cached
        assert not verify_one("bce-probability-gradient", points=0, dps=70).steps_cached

    def test_crosscheck_rows_for_the_proof_documents(self, monkeypatch):
        rows = verify.crosscheck_rows("sigmoid-derivative", points=4)
        assert [r[0] for r in rows] == ["exported NumPy (stable)", "numeric.sigmoid: σ(z) σ(-z)",
                                        "naive lambdify"]
        rows = verify.crosscheck_rows("mvn-kl", points=4)
        assert [r[0] for r in rows] == ["exported NumPy (stable)", "numeric.mvn_kl",
                                        "naive lambdify"]
        # every registered result is exportable now: a relation-only one has no rows
        monkeypatch.setattr(verify, "_exportable", lambda n: False)
        assert verify.crosscheck_rows("mvn-kl", points=4) == []


def test_a_case_without_numeric_shows_a_dash():
    assert Case().numeric_name == "—"
