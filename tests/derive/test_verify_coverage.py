"""A green ``lossproof verify`` covers all of ``numeric``: a bug planted in any public
function, branch or validation turns the derivation that routes it red.

Each bug is planted alone (``monkeypatch``) and only the affected derivation is
cross-checked, at its default points, without its steps.  A value bug is a relative error of
1e-13 (about 450 ULP): far beyond the 4 ULP × (1 + κ) budget wherever κ is modest, and far
below anything a plot or a loose ``allclose`` would notice.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import numeric
import numeric._gaussian
import numeric._information
import numeric._losses
from derive._twins import accepts_invalid
from derive.verify import CASES, Twin, verify_one

OFF = 1e-13  # relative size of a planted value bug (~450 ULP)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSPROOF_CACHE_DIR", str(tmp_path))


def _off(fn: Callable[..., Any], when: Callable[..., bool] = lambda *a, **k: True):
    """``fn`` whose result is off by a relative ``OFF`` wherever ``when(*args, **kwargs)``."""

    @functools.wraps(fn)
    def planted(*args: Any, **kwargs: Any) -> Any:
        out = fn(*args, **kwargs)
        return out * (1 + OFF) if when(*args, **kwargs) else out

    return planted


def _integer_target(_logits: Any, target: Any, *rest: Any, **kw: Any) -> bool:
    return np.asarray(target).dtype.kind in "iu"


def _probability_target(logits: Any, target: Any, *rest: Any, **kw: Any) -> bool:
    return not _integer_target(logits, target)


def _has(key: str, value: Any = None) -> Callable[..., bool]:
    """``when``: the keyword ``key`` is passed (with ``value`` if given)."""
    return lambda *a, **k: key in k and (value is None or k[key] == value)


def _zero_in_p(p: Any, q: Any, **kw: Any) -> bool:
    return bool((np.asarray(p) == 0).any())


def _no_check(*args: Any, **kwargs: Any) -> None:
    return None


def _labels_unchecked(target: Any, num_classes: int, name: str = "target") -> np.ndarray:
    return np.asarray(target).astype(np.intp)


# (bug id, public function it breaks or None for a validation, derivation that must go
#  red, (module, attribute, replacement factory))
BUGS: list[tuple[str, str, str, tuple[Any, str, Callable[[Callable], Callable]]]] = [
    ("softmax_ce-integer-value", "softmax_cross_entropy", "binary-as-two-class-softmax",
     (numeric, "softmax_cross_entropy", lambda f: _off(f, _integer_target))),
    ("softmax_ce-probability-value", "softmax_cross_entropy", "binary-as-two-class-softmax",
     (numeric, "softmax_cross_entropy", lambda f: _off(f, _probability_target))),
    ("softmax_ce-temperature-value", "softmax_cross_entropy", "binary-as-two-class-softmax",
     (numeric, "softmax_cross_entropy", lambda f: _off(f, _has("temperature")))),
    ("softmax_ce_grad-integer", "softmax_cross_entropy_grad", "softmax-ce-gradient",
     (numeric, "softmax_cross_entropy_grad",
      lambda f: _off(f, lambda z, y, **k: _integer_target(z, y) and not k)),
     ),
    ("softmax_ce_grad-probability", "softmax_cross_entropy_grad", "softmax-ce-gradient",
     (numeric, "softmax_cross_entropy_grad", lambda f: _off(f, _probability_target))),
    ("softmax_ce_grad-axis", "softmax_cross_entropy_grad", "softmax-ce-gradient",
     (numeric, "softmax_cross_entropy_grad", lambda f: _off(f, _has("axis", 0)))),
    ("softmax_ce_grad-integer-label-smoothing", "softmax_cross_entropy_grad",
     "label-smoothing",
     (numeric, "softmax_cross_entropy_grad",
      lambda f: _off(f, lambda z, y, **k: _integer_target(z, y) and "label_smoothing" in k))),
    ("softmax_ce_grad-integer-temperature", "softmax_cross_entropy_grad",
     "temperature-softmax-gradient",
     (numeric, "softmax_cross_entropy_grad",
      lambda f: _off(f, lambda z, y, **k: _integer_target(z, y) and "temperature" in k))),
    ("smooth_labels-probability", "smooth_labels", "label-smoothing",
     (numeric, "smooth_labels", lambda f: _off(f, lambda y, e, **k: _probability_target(0, y)))),
    ("smooth_labels-integer", "smooth_labels", "label-smoothing",
     (numeric, "smooth_labels", lambda f: _off(f, lambda y, e, **k: _integer_target(0, y)))),
    ("distillation_loss-value", "distillation_loss", "kl-nonnegative",
     (numeric, "distillation_loss", _off)),
    ("distillation_loss_grad", "distillation_loss_grad", "distillation-gradient",
     (numeric, "distillation_loss_grad", _off)),
    ("logsumexp", "logsumexp", "binary-as-two-class-softmax", (numeric, "logsumexp", _off)),
    ("logsumexp-axis", "logsumexp", "binary-as-two-class-softmax",
     (numeric, "logsumexp", lambda f: _off(f, _has("axis", 0)))),
    ("softplus", "softplus", "binary-as-two-class-softmax", (numeric, "softplus", _off)),
    ("log_sigmoid", "log_sigmoid", "binary-as-two-class-softmax",
     (numeric, "log_sigmoid", _off)),
    ("log_softmax", "log_softmax", "softmax-shift-invariance", (numeric, "log_softmax", _off)),
    ("softmax", "softmax", "softmax-shift-invariance", (numeric, "softmax", _off)),
    ("softmax-temperature", "softmax", "softmax-shift-invariance",
     (numeric, "softmax", lambda f: _off(f, _has("temperature")))),
    ("sigmoid", "sigmoid", "sigmoid-derivative", (numeric, "sigmoid", _off)),
    ("mse", "mse", "mse-is-gaussian-nll", (numeric, "mse", _off)),
    ("mse_grad", "mse_grad", "mse-vs-bce-gradient", (numeric, "mse_grad", _off)),
    ("gaussian_nll", "gaussian_nll", "mse-is-gaussian-nll", (numeric, "gaussian_nll", _off)),
    ("kl-zero-p", "kl_divergence", "kl-nonnegative",
     (numeric, "kl_divergence", lambda f: _off(f, _zero_in_p))),
    ("kl-base-2", "kl_divergence", "kl-nonnegative",
     (numeric, "kl_divergence", lambda f: _off(f, _has("base", 2)))),
    ("cross_entropy", "cross_entropy", "ce-equals-entropy-plus-kl",
     (numeric, "cross_entropy", _off)),
    ("cross_entropy-base-2", "cross_entropy", "perplexity-base-invariance",
     (numeric, "cross_entropy", lambda f: _off(f, _has("base", 2)))),
    ("perplexity-base-2", "perplexity", "perplexity-base-invariance",
     (numeric, "perplexity", lambda f: _off(f, _has("base", 2)))),
    ("perplexity", "perplexity", "perplexity-of-cross-entropy", (numeric, "perplexity", _off)),
    ("binary_cross_entropy", "binary_cross_entropy", "ce-equals-entropy-plus-kl",
     (numeric, "binary_cross_entropy", _off)),
    ("binary_cross_entropy_grad", "binary_cross_entropy_grad", "bce-probability-gradient",
     (numeric, "binary_cross_entropy_grad", _off)),
    ("bce_with_logits", "binary_cross_entropy_with_logits", "binary-as-two-class-softmax",
     (numeric, "binary_cross_entropy_with_logits", _off)),
    ("bce_with_logits_grad", "binary_cross_entropy_with_logits_grad", "bce-gradient",
     (numeric, "binary_cross_entropy_with_logits_grad", _off)),
    ("entropy", "entropy", "entropy-maximum-uniform", (numeric, "entropy", _off)),
    ("entropy-base-2", "entropy", "entropy-maximum-uniform",
     (numeric, "entropy", lambda f: _off(f, _has("base", 2)))),
    ("joint_entropy", "joint_entropy", "entropy-chain-rule", (numeric, "joint_entropy", _off)),
    ("conditional_entropy", "conditional_entropy", "entropy-chain-rule",
     (numeric, "conditional_entropy", _off)),
    ("mutual_information", "mutual_information", "mutual-information-identities",
     (numeric, "mutual_information", _off)),
    ("pointwise_mutual_information", "pointwise_mutual_information",
     "mutual-information-identities", (numeric, "pointwise_mutual_information", _off)),
    ("self_information", "self_information", "self-information-additivity",
     (numeric, "self_information", _off)),
    ("gaussian_kl", "gaussian_kl", "gaussian-kl", (numeric, "gaussian_kl", _off)),
    ("gaussian_entropy", "gaussian_entropy", "gaussian-entropy",
     (numeric, "gaussian_entropy", _off)),
    ("mvn_kl", "mvn_kl", "mvn-kl", (numeric, "mvn_kl", _off)),
    # validations skipped: an invalid input gets a number instead of a ValueError
    ("sum-to-1-check-information", None, "kl-nonnegative",
     (numeric._information, "check_probabilities", lambda f: _no_check)),
    ("sum-to-1-check-losses", None, "softmax-ce-gradient",
     (numeric._losses, "check_probabilities", lambda f: _no_check)),
    ("label-range-check", None, "cross-entropy-one-hot",
     (numeric._losses, "as_labels", lambda f: _labels_unchecked)),
    ("label-smoothing-range-check", None, "label-smoothing",
     (numeric._losses, "_check_label_smoothing", lambda f: lambda value, name: float(value))),
    ("temperature-check", None, "temperature-softmax-gradient",
     (numeric._losses, "_check_temperature", lambda f: lambda t, name="temperature": float(t))),
    ("positive-sigma-check", None, "gaussian-kl",
     (numeric._gaussian, "check_positive", lambda f: _no_check)),
    ("unit-interval-check", None, "bce-probability-gradient",
     (numeric._losses, "check_unit_interval", lambda f: _no_check)),
    ("joint-table-check", None, "mutual-information-identities",
     (numeric._information, "check_joint", lambda f: _no_check)),
    ("base-check", None, "self-information-additivity",
     (numeric._information, "check_base", lambda f: lambda base: float(base))),
]



def _plant(monkeypatch: pytest.MonkeyPatch, target: tuple) -> None:
    module, attr, factory = target
    monkeypatch.setattr(module, attr, factory(getattr(module, attr)))


class TestVerifyOne:
    @pytest.mark.parametrize(("bug", "name", "target"),
                             [(b, n, t) for b, _, n, t in BUGS], ids=[b[0] for b in BUGS])
    def test_a_planted_numeric_bug_turns_the_derivation_red(self, bug, name, target,
                                                            monkeypatch):
        _plant(monkeypatch, target)
        res = verify_one(name, steps=False)
        assert res.error is None, res.error
        assert not res.passed, f"{bug}: {name} stayed green"
        assert not res.numeric.passed  # the numeric routes, not the export, went red

    @pytest.mark.parametrize("name", sorted({n for _, _, n, _ in BUGS}))
    def test_every_numeric_route_of_a_bug_target_passes_unplanted(self, name):
        res = verify_one(name, steps=False)
        assert res.error is None, res.error
        failing = {k: p.error or p.worst for k, p in res.twins.items() if not p.passed}
        assert not failing

    def test_every_public_numeric_function_has_a_planted_bug(self):
        planted = {fn for _, fn, _, _ in BUGS if fn is not None}
        assert planted == set(numeric.__all__)

    def test_every_numeric_route_declares_inputs_it_must_refuse(self):
        for name, case in CASES.items():
            routes = [Twin(case.numeric, case.numeric_name, case.invalid)] if case.numeric else []
            for route in routes + list(case.twins):
                assert route.invalid(), f"{name}: {route.name} declares no invalid input"
                assert accepts_invalid(route) is None, (name, route.name)

    def test_a_route_that_returns_a_number_for_an_invalid_input_fails(self):
        accepting = Twin(lambda p, q: 0.0, "returns 0", lambda: [(np.array([2.0, -1.0]),
                                                                  np.array([0.5, 0.5]))])
        assert "accepted the invalid input ([2.0, -1.0], [0.5, 0.5])" in accepts_invalid(
            accepting)

    def test_every_twin_is_named_once_per_derivation(self):
        for name, case in CASES.items():
            names = [t.name for t in case.twins] + [case.numeric_name]
            assert len(names) == len(set(names)), name


class TestTwinsInTheEngine:
    def test_the_report_lists_every_numeric_route(self):
        res = verify_one("binary-as-two-class-softmax", steps=False, points=4)
        names = [CASES["binary-as-two-class-softmax"].numeric_name,
                 *(t.name for t in CASES["binary-as-two-class-softmax"].twins)]
        assert list(res.twins) == names
        assert list(res.to_dict()["numeric_twins"]) == names
        assert res.numeric.points == max(p.points for p in res.twins.values())

    def test_the_numeric_column_is_the_worst_twin(self, monkeypatch):
        monkeypatch.setattr(numeric, "softplus", _off(numeric.softplus))
        res = verify_one("binary-as-two-class-softmax", steps=False, points=4)
        bad = res.twins["numeric.softplus: y softplus(-z) + (1 - y) softplus(z)"]
        assert not bad.passed and not res.numeric.passed
        assert res.numeric.max_ulp_scaled == max(p.max_ulp_scaled for p in res.twins.values())
        assert res.numeric.over_budget == sum(p.over_budget for p in res.twins.values())

    def test_a_twin_that_applies_nowhere_fails(self, monkeypatch):
        from derive._twins import NotApplicable

        def never(*args):
            raise NotApplicable("never")

        case = CASES["sigmoid-derivative"]
        monkeypatch.setitem(CASES, "sigmoid-derivative", dataclasses.replace(
            case, twins=(Twin(never, "never applies", lambda: [(float("nan"),)]),)))
        res = verify_one("sigmoid-derivative", steps=False, points=4)
        assert not res.passed
        assert res.twins["never applies"].error == "applies at none of the points"

    def test_an_integer_label_twin_is_skipped_where_the_target_is_not_one_hot(self):
        res = verify_one("softmax-ce-gradient", steps=False, points=8)
        labels = res.twins["numeric.softmax_cross_entropy_grad(class index)"]
        probabilities = res.twins["numeric.softmax_cross_entropy_grad"]
        assert 0 < labels.points < probabilities.points

