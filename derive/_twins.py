"""More ``numeric`` routes to the derivations' results, so a green ``lossproof verify``
reaches every public ``numeric`` function and branch (see :class:`derive.verify.Twin`).

Each twin computes the derivation's result from the exported function's arguments through
a different ``numeric`` function (or branch: integer labels, label smoothing, temperature,
``axis``, ``base=2``), by an identity that adds no cancellation of its own:

* integer class indices where the target is one-hot (``NotApplicable`` elsewhere);
* ``-y z + softplus(z) = y softplus(-z) + (1 - y) softplus(z)``: a sum of non-negative
  terms, as are its ``log_sigmoid``, ``logsumexp``, ``log_softmax`` and two-class
  ``softmax_cross_entropy`` forms (the binary loss *is* the two-class softmax loss);
* ``σ(z) - y = (1 - y) σ(z) - y σ(-z)``: the difference ``mse_grad`` takes is formed from
  two accurate terms, never from a rounded ``σ(z)`` near ``y``;
* ``D(p ‖ q)`` as the distillation loss of teacher logits ``log p`` and student logits
  ``log q`` (a rounded ``log q_k`` moves ``q_k`` by ``ε q_k |log q_k| / 2``: the
  information measures' own perturbation model, ``ε q_k``, times ``|log q_k| / 2``);
* a base-2 quantity converted to nats by one correctly rounded product with ``ln 2``.

``invalid`` points are inputs each route must refuse with ``ValueError``.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np

Point = tuple  # the exported function's positional arguments (as in derive.verify)

__all__ = [
    "BINARY_TWINS",
    "CE_TWINS",
    "CHAIN_RULE_TWINS",
    "ENTROPY_TWINS",
    "INVALID",
    "KL_TWINS",
    "LABEL_SMOOTHING_TWINS",
    "MI_TWINS",
    "MSE_GRAD_TWINS",
    "MSE_NLL_TWINS",
    "ONE_HOT_CE_TWINS",
    "PERPLEXITY_TWINS",
    "SIGMOID_TWINS",
    "SOFTMAX_CE_TWINS",
    "SOFTMAX_TWINS",
    "TEMPERATURE_TWINS",
    "NotApplicable",
    "Twin",
    "accepts_invalid",
    "mvn_edges",
    "numeric_routes",
    "onehot_points",
    "smoothable_points",
]


class NotApplicable(Exception):
    """Raised by a :class:`Twin` at a point outside its scope (skipped there, not failed)."""


@dataclass(frozen=True)
class Twin:
    """One more ``numeric`` route to a derivation's result (see ``derive.verify.Case``).

    fn
        ``fn(*args) -> array``, called with the exported function's arguments; it may
        raise :class:`NotApplicable` where it does not apply (an integer-label route at a
        target that is not one-hot); a twin that applies nowhere is a failure.
    name
        How it is shown (``"numeric.softplus: y softplus(-z) + (1 - y) softplus(z)"``).
    invalid
        ``() -> [Point, ...]``: inputs the twin must refuse with ``ValueError`` (a
        negative probability, a distribution not summing to 1, a label out of range, NaN);
        a twin that returns anything there fails.
    """

    fn: Callable[..., Any]
    name: str
    invalid: Callable[[], list[Point]] = lambda: []


def _np() -> Any:
    import numeric

    return numeric


def _label(y: np.ndarray) -> np.intp:
    """The class index of a one-hot ``y``; :class:`NotApplicable` for any other target."""
    y = np.asarray(y)
    k = int(np.argmax(y))
    if y.ndim != 1 or y[k] != 1.0 or np.count_nonzero(y) != 1:
        raise NotApplicable("the target is not one-hot")
    return np.intp(k)


def _to_nats(bits: Any) -> float:
    """``bits × ln 2``, correctly rounded (one rounding on top of the error in ``bits``)."""
    with mpmath.workdps(40):
        return float(mpmath.mpf(float(bits)) * mpmath.log(2))


def onehot_points(seed: int, n: int, extra: Callable[[random.Random], tuple] = lambda _: (),
                  sizes: tuple[int, ...] = (2, 3, 4, 5)) -> list[Point]:
    """``n`` reproducible points ``(z, one-hot y, *extra(rng))``: ``K`` from ``sizes``,
    logits uniform on [-20, 20] (the random domain of the softmax derivations), a random
    class."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.choice(sizes)
        z = np.array([rng.uniform(-20.0, 20.0) for _ in range(k)])
        y = np.zeros(k)
        y[rng.randrange(k)] = 1.0
        out.append((z, y, *extra(rng)))
    return out


_Z3 = np.array([0.5, -1.0, 2.0])
_NAN3 = np.array([0.5, np.nan, 2.0])


def _prob_target_invalid(*rest: float) -> Callable[[], list[Point]]:
    """Probability targets a softmax loss must refuse: negative, unnormalised, NaN; and
    NaN logits."""
    return lambda: [
        (_Z3, np.array([1.5, -0.5, 0.0]), *rest),
        (_Z3, np.array([0.5, 0.25, 0.0]), *rest),
        (_Z3, np.array([0.5, np.nan, 0.5]), *rest),
        (_NAN3, np.array([0.5, 0.25, 0.25]), *rest),
    ]


def _nan_logits_invalid(*rest: Any) -> Callable[[], list[Point]]:
    return lambda: [(_NAN3, np.array([0.0, 1.0, 0.0]), *rest)]


# ------------------------------------------------------------- softmax gradients

SOFTMAX_CE_TWINS = (
    Twin(lambda z, y: _np().softmax_cross_entropy_grad(z, _label(y)),
         "numeric.softmax_cross_entropy_grad(class index)", _nan_logits_invalid()),
    Twin(lambda z, y: _np().softmax_cross_entropy_grad(z[:, None], y[:, None], axis=0)[:, 0],
         "numeric.softmax_cross_entropy_grad(axis=0)", _prob_target_invalid()),
)

#: The primary route's invalid inputs (probability targets).
SOFTMAX_CE_INVALID = _prob_target_invalid()


def _smoothed_index(z: np.ndarray, y: np.ndarray, e: float) -> np.ndarray:
    return _np().softmax_cross_entropy_grad(z, _label(y), label_smoothing=e)


def _exactly_smoothable(y: np.ndarray, e: float) -> None:
    """:class:`NotApplicable` unless every ``(1 - ε) y_k + ε/K`` is a float64 number.

    Elsewhere a smoothed target, rounded to float64, is off by up to half an ULP of 1 —
    and ``softmax(z) - y^ε`` may be far smaller than that (a confident correct prediction
    with ``ε = 2^-40`` leaves 6e-13): the materialised target cannot carry the gradient.
    """
    from fractions import Fraction

    k, eps = len(y), Fraction(float(e))
    for yk in np.asarray(y, dtype=np.float64).tolist():
        exact = (1 - eps) * Fraction(yk) + eps / k
        if Fraction(float(exact)) != exact:
            raise NotApplicable("the smoothed target is not a float64 vector")


def _smooth_then_grad(z: np.ndarray, y: np.ndarray, e: float) -> np.ndarray:
    smoothed = _np().smooth_labels(y, e)  # validates y and ε
    _exactly_smoothable(y, e)
    return _np().softmax_cross_entropy_grad(z, smoothed)


def _smooth_index_then_grad(z: np.ndarray, y: np.ndarray, e: float) -> np.ndarray:
    smoothed = _np().smooth_labels(_label(y), e, num_classes=len(y))
    _exactly_smoothable(y, e)
    return _np().softmax_cross_entropy_grad(z, smoothed)


def smoothable_points(seed: int, n: int) -> list[Point]:
    """Points whose smoothed targets are exact: ``K`` in {2, 4}, ``ε`` in {1/4, 1/2, 3/4},
    one-hot targets (every other one) or dyadic ones."""
    pts = onehot_points(seed, n, lambda rng: (rng.choice((0.25, 0.5, 0.75)),), sizes=(2, 4))
    for j in range(1, n, 2):  # a dyadic probability target in place of the one-hot one
        z, y, e = pts[j]
        pts[j] = (z, np.full(len(y), 1.0 / len(y)) if len(y) == 4 else np.array([0.75, 0.25]),
                  e)
    return pts


def _bad_epsilon() -> list[Point]:
    y = np.array([0.0, 1.0, 0.0])
    return [(_Z3, y, 1.5), (_Z3, y, -0.25), (_Z3, y, math.nan)]


LABEL_SMOOTHING_TWINS = (
    Twin(_smoothed_index, "numeric.softmax_cross_entropy_grad(class index, label_smoothing=ε)",
         lambda: _bad_epsilon() + _nan_logits_invalid(0.1)()),
    Twin(_smooth_then_grad, "numeric.smooth_labels(y, ε) → softmax_cross_entropy_grad",
         lambda: _bad_epsilon() + _prob_target_invalid(0.1)()[:3]),
    Twin(_smooth_index_then_grad,
         "numeric.smooth_labels(class index, ε, num_classes=K) → softmax_cross_entropy_grad",
         _bad_epsilon),
)
LABEL_SMOOTHING_INVALID = lambda: _bad_epsilon() + _prob_target_invalid(0.1)()  # noqa: E731


def _bad_temperature() -> list[Point]:
    y = np.array([0.0, 1.0, 0.0])
    return [(_Z3, y, 0.0), (_Z3, y, -1.0), (_Z3, y, math.nan), (_Z3, y, math.inf)]


TEMPERATURE_TWINS = (
    Twin(lambda z, y, t: _np().softmax_cross_entropy_grad(z, _label(y), temperature=t),
         "numeric.softmax_cross_entropy_grad(class index, temperature=T)", _bad_temperature),
)
TEMPERATURE_INVALID = lambda: _bad_temperature() + _prob_target_invalid(2.0)()  # noqa: E731


# --------------------------------------------------- the binary / two-class loss


def _pair(z: float) -> np.ndarray:
    return np.array([z, 0.0])


def _mix(y: float, a: Any, b: Any) -> float:
    """``y a + (1 - y) b`` for two non-negative losses (no cancellation)."""
    return y * float(a) + (1.0 - y) * float(b)


def _two_class_labels(z: float, y: float) -> float:
    losses = _np().softmax_cross_entropy(np.array([[z, 0.0], [z, 0.0]]), np.array([0, 1]))
    return _mix(y, losses[0], losses[1])


def _two_class_log_softmax(z: float, y: float) -> float:
    ls = _np().log_softmax(_pair(z))
    return _mix(y, -ls[0], -ls[1])


def _lse_rows(z: float, y: float) -> float:
    lse = _np().logsumexp(np.array([[0.0, -z], [0.0, z]]))
    return _mix(y, lse[0], lse[1])


def _lse_axis0(z: float, y: float) -> float:
    lse = _np().logsumexp(np.array([[0.0, 0.0], [-z, z]]), axis=0)
    return _mix(y, lse[0], lse[1])


def _bad_binary_target() -> list[Point]:
    return [(0.5, 1.5), (0.5, -0.25), (0.5, math.nan), (math.nan, 0.5)]


def _nan_logit() -> list[Point]:
    return [(math.nan, 0.5)]


BINARY_TWINS = (
    Twin(lambda z, y: _mix(y, _np().softplus(-z), _np().softplus(z)),
         "numeric.softplus: y softplus(-z) + (1 - y) softplus(z)", _nan_logit),
    Twin(lambda z, y: _mix(y, -_np().log_sigmoid(z), -_np().log_sigmoid(-z)),
         "numeric.log_sigmoid: -y log σ(z) - (1 - y) log σ(-z)", _nan_logit),
    Twin(_lse_rows, "numeric.logsumexp([0, ∓z])", _nan_logit),
    Twin(_lse_axis0, "numeric.logsumexp([[0, 0], [-z, z]], axis=0)", _nan_logit),
    Twin(_two_class_log_softmax, "numeric.log_softmax([z, 0])", _nan_logit),
    Twin(lambda z, y: _np().softmax_cross_entropy(_pair(z), np.array([y, 1.0 - y])),
         "numeric.softmax_cross_entropy([z, 0], [y, 1 - y])", _bad_binary_target),
    Twin(lambda z, y: _np().softmax_cross_entropy(_pair(2.0 * z), np.array([y, 1.0 - y]),
                                                  temperature=2.0),
         "numeric.softmax_cross_entropy([2z, 0], [y, 1 - y], temperature=2)",
         _bad_binary_target),
    Twin(_two_class_labels, "numeric.softmax_cross_entropy(class indices 0 and 1)",
         _nan_logit),
)
BINARY_INVALID = _bad_binary_target


# ------------------------------------------------------------ sigmoid, softmax

SIGMOID_TWINS = (
    Twin(lambda z: _np().sigmoid(z) * _np().sigmoid(-z), "numeric.sigmoid: σ(z) σ(-z)",
         lambda: [(math.nan,)]),
)

_BAD_LOGITS = lambda: [(_NAN3,), (np.array([0.0, math.inf]),)]  # noqa: E731

SOFTMAX_TWINS = (
    Twin(lambda z: np.exp(_np().log_softmax(z)), "numeric.log_softmax: exp(log_softmax(z))",
         _BAD_LOGITS),
    Twin(lambda z: _np().softmax(z[:, None], axis=0)[:, 0], "numeric.softmax(axis=0)",
         _BAD_LOGITS),
    Twin(lambda z: _np().softmax(2.0 * z, temperature=2.0),
         "numeric.softmax(2z, temperature=2)", _BAD_LOGITS),
)
SOFTMAX_INVALID = _BAD_LOGITS


# ------------------------------------------------------------ mse

def _mse_grad_chain(z: float, y: float) -> float:
    s, c = float(_np().sigmoid(z)), float(_np().sigmoid(-z))
    # σ(z) - y = (1 - y) σ(z) - y σ(-z): mse_grad forms the difference of exact-ish terms
    return float(_np().mse_grad(np.array([(1.0 - y) * s]), np.array([y * c]))[0]) * s * c


MSE_GRAD_TWINS = (
    Twin(_mse_grad_chain, "numeric.mse_grad((1 - y) σ(z), y σ(-z)) σ(z) σ(-z)",
         lambda: [(math.nan, 0.5)]),
)


def _mse_nll(yhat: np.ndarray, y: np.ndarray, sigma: Any) -> float:
    s = float(np.asarray(sigma).ravel()[0]) if np.ndim(sigma) else float(sigma)
    if np.ndim(sigma) and not np.all(np.asarray(sigma) == s):
        raise NotApplicable("σ differs between observations")
    with np.errstate(over="ignore", divide="ignore"):
        quad = _np().mse(yhat, y) / (2.0 * np.float64(s) * s)
    return float(quad) + (math.log(s) + 0.5 * math.log(2.0 * math.pi))


MSE_NLL_TWINS = (
    Twin(_mse_nll, "numeric.mse: mse / (2σ²) + log σ + log(2π)/2",
         lambda: [(np.array([0.5, np.nan]), np.array([0.5, 1.0]), 1.0),
                  (np.array([0.5, 1.0]), np.array([0.5, np.inf]), 1.0)]),
)


# ------------------------------------------------------------ information

def _bad_pq() -> list[Point]:
    p = np.array([0.5, 0.25, 0.25])
    return [
        (np.array([1.25, -0.25, 0.0]), p),          # a negative probability
        (p, np.array([0.5, 0.25, 0.125])),          # q sums to 0.875
        (np.array([0.5, 0.25, 0.5]), p),            # p sums to 1.25
        (p, np.array([0.5, np.nan, 0.25])),         # NaN
    ]


def _kl_by_distillation(p: np.ndarray, q: np.ndarray, t: float) -> float:
    with np.errstate(divide="ignore"):  # log 0 = -inf: a class the teacher masks
        ls, lt = np.log(q), np.log(p)
    if not np.isfinite(ls).all():
        raise NotApplicable("q has a zero: the student logit would be -inf")
    return float(_np().distillation_loss(t * ls, t * lt, temperature=t)) / (t * t)


def _binary_ce(p: np.ndarray, q: np.ndarray) -> Any:
    if len(p) != 2:
        raise NotApplicable("not two classes")
    return _np().binary_cross_entropy(q[0], p[0])


def _nan_distribution() -> list[Point]:
    """NaN in p: a NaN teacher logit (the logits need no normalisation to refuse)."""
    return [(np.array([0.5, np.nan, 0.25]), np.array([0.5, 0.25, 0.25]))]


KL_TWINS = (
    Twin(lambda p, q: _kl_by_distillation(p, q, 1.0),
         "numeric.distillation_loss(log q, log p, temperature=1)", _nan_distribution),
    Twin(lambda p, q: _kl_by_distillation(p, q, 2.0),
         "numeric.distillation_loss(2 log q, 2 log p, temperature=2) / 4", _nan_distribution),
    Twin(lambda p, q: _to_nats(_np().kl_divergence(p, q, base=2)),
         "numeric.kl_divergence(base=2) × ln 2", _bad_pq),
    Twin(lambda p, q: _np().kl_divergence(p[:, None], q[:, None], axis=0)[0],
         "numeric.kl_divergence(axis=0)", _bad_pq),
)
PQ_INVALID = _bad_pq

CE_TWINS = (
    Twin(lambda p, q: float(_np().entropy(p)) + float(_np().kl_divergence(p, q)),
         "numeric.entropy(p) + numeric.kl_divergence(p, q)", _bad_pq),
    Twin(_binary_ce, "numeric.binary_cross_entropy(q_1, p_1) (two classes)",
         lambda: [(np.array([1.25, -0.25]), np.array([0.5, 0.5])),
                  (np.array([0.5, 0.5]), np.array([1.25, -0.25]))]),
    Twin(lambda p, q: _np().cross_entropy(p[:, None], q[:, None], axis=0)[0],
         "numeric.cross_entropy(axis=0)", _bad_pq),
)

PERPLEXITY_TWINS = (
    Twin(lambda p, q: _np().perplexity(_np().cross_entropy(p, q, base=2), base=2),
         "numeric.perplexity(numeric.cross_entropy(base=2), base=2)", _bad_pq),
)

ENTROPY_TWINS = (
    Twin(lambda p: _to_nats(_np().entropy(p, base=2)), "numeric.entropy(base=2) × ln 2",
         lambda: [(np.array([0.5, 0.25]),), (np.array([1.5, -0.5]),)]),
)
ENTROPY_INVALID = lambda: [(np.array([0.5, 0.25]),), (np.array([0.5, np.nan]),)]  # noqa: E731


def _bad_joint() -> list[Point]:
    return [(np.array([[0.25, 0.25], [0.25, 0.125]]),),
            (np.array([[0.5, -0.25], [0.5, 0.25]]),),
            (np.array([[0.25, 0.25], [np.nan, 0.25]]),)]


CHAIN_RULE_TWINS = (
    Twin(lambda p: float(_np().entropy(p.sum(axis=1))) + float(_np().conditional_entropy(p)),
         "numeric.entropy(p_X) + numeric.conditional_entropy(p)", _bad_joint),
)


def _mi_from_pmi(p: np.ndarray) -> float:
    pmi = _np().pointwise_mutual_information(p)
    return math.fsum(float(a) * float(b) for a, b in zip(p.ravel(), pmi.ravel(), strict=True)
                     if a > 0)


MI_TWINS = (
    Twin(_mi_from_pmi, "numeric.pointwise_mutual_information: Σ p pmi", _bad_joint),
)
JOINT_INVALID = _bad_joint


# ------------------------------------------------------------ one-hot cross-entropy

def _ce_index(q: np.ndarray, y: float) -> Any:
    return _np().softmax_cross_entropy(np.log(q), np.intp(int(y) - 1))


ONE_HOT_CE_TWINS = (
    Twin(_ce_index, "numeric.softmax_cross_entropy(log q, class index)",
         lambda: [(np.array([0.5, 0.25, 0.25]), 0.0), (np.array([0.5, 0.25, 0.25]), 4.0),
                  (np.array([0.5, np.nan, 0.25]), 1.0)]),
)


# ------------------------------------------------------------ multivariate normal KL

def _spd(rng: random.Random, k: int, eigenvalues: tuple[float, ...] | None = None,
         ) -> np.ndarray:
    """A symmetric positive definite ``k × k`` matrix ``Q diag(λ) Qᵀ`` (exactly symmetric)."""
    q, _ = np.linalg.qr(np.array([[rng.gauss(0.0, 1.0) for _ in range(k)] for _ in range(k)]))
    lam = eigenvalues or tuple(rng.uniform(0.5, 2.0) for _ in range(k))
    a = (q * np.array(lam)) @ q.T
    return (a + a.T) / 2


def mvn_edges() -> list[Point]:
    """Adversarial points of ``mvn-kl``: random SPD covariances at k = 3 (the random domain
    stops at 2), identical and nearly equal distributions, ill-conditioned covariances
    (condition numbers 1e8 and 1e12), scales 1e-150 and 1e150 and a ratio of 1e12."""
    rng = random.Random(21)
    pts: list[Point] = []
    for _ in range(6):
        mu1 = np.array([rng.uniform(-1, 1) for _ in range(3)])
        mu2 = np.array([rng.uniform(-1, 1) for _ in range(3)])
        pts.append((mu1, _spd(rng, 3), mu2, _spd(rng, 3)))
    for k in (1, 2, 3):
        mu, s = np.array([0.25, -0.5, 1.0][:k]), _spd(rng, k)
        pts.append((mu, s, mu, s))                                       # exactly 0
        pts.append((mu, s, mu + 2.0**-30, s))                            # Δμ only
        pts.append((mu, s, mu, s * (1 + 2.0**-30)))                      # Σ ratio 1 + 1e-9
        pts.append((mu, s, mu + 1e-8, s + 1e-9 * np.eye(k)))
    for cond in (1e8, 1e12):
        s = _spd(rng, 2, (1.0, 1.0 / cond))
        pts.append((np.zeros(2), s, np.array([1e-7, 0.0]), s))
        pts.append((np.zeros(2), s, np.zeros(2), _spd(rng, 2)))
        pts.append((np.zeros(2), _spd(rng, 2), np.array([0.5, -0.5]), s))
    for scale in (1e-150, 1e150):
        s1, s2 = _spd(rng, 2) * scale, _spd(rng, 2) * scale
        pts.append((np.zeros(2), s1, np.full(2, 0.5 * scale**0.5), s2))
    pts.append((np.zeros(2), 1e-6 * np.eye(2), np.zeros(2), 1e6 * np.eye(2)))
    pts.append((np.zeros(2), 1e6 * np.eye(2), np.zeros(2), 1e-6 * np.eye(2)))
    return pts


def _bad_mvn() -> list[Point]:
    eye, mu = np.eye(2), np.zeros(2)
    return [(mu, np.array([[1.0, 2.0], [2.0, 1.0]]), mu, eye),      # not positive definite
            (mu, eye, mu, np.array([[1.0, 0.5], [0.0, 1.0]])),      # not symmetric
            (np.array([0.0, np.nan]), eye, mu, eye),                # NaN
            (mu, eye, np.zeros(3), eye)]                            # shapes differ


MVN_INVALID = _bad_mvn


# ------------------------------------------------ invalid inputs of the other routes

#: Derivation name -> inputs its ``numeric`` route must refuse with ``ValueError``.
INVALID: dict[str, Callable[[], list[Point]]] = {
    "self-information-additivity": lambda: [(1.5, 0.5, 2.0), (0.5, -0.1, 2.0),
                                            (0.5, 0.5, 1.0), (math.nan, 0.5, 2.0)],
    "cross-entropy-one-hot": lambda: [(np.array([0.5, 0.25, 0.125]), 1.0),
                                      (np.array([1.25, -0.25, 0.0]), 1.0)],
    "perplexity": _bad_pq,
    "distillation-gradient": lambda: [(np.zeros(3), np.ones(3), 0.0),
                                      (np.zeros(3), np.ones(3), -2.0),
                                      (_NAN3, np.ones(3), 1.0), (np.zeros(3), _NAN3, 1.0)],
    "bce": _bad_binary_target,
    "bce-probability": lambda: [(1.5, 0.5), (0.5, -0.1), (math.nan, 0.5)],
    "gaussian-kl": lambda: [(0.0, 0.0, 0.0, 1.0), (0.0, 1.0, 0.0, -1.0),
                            (math.nan, 1.0, 0.0, 1.0)],
    "gaussian-entropy": lambda: [(-1.0,), (0.0,), (math.nan,)],
    "nll-equals-cross-entropy": lambda: [
        (np.array([[0.5, 0.25, 0.125]]), np.array([[1.0, 0.0, 0.0]])),
        (np.array([[0.5, 0.5, 0.0]]), np.array([[1.25, -0.25, 0.0]]))],
    "mse-is-gaussian-nll": lambda: [(np.ones(2), np.zeros(2), 0.0),
                                    (np.ones(2), np.array([0.0, np.nan]), 1.0)],
}


# ------------------------------------------------- the engine's view of the routes


def numeric_routes(case: Any, res: Any, stats: dict[str, Any]) -> None:
    """Called by ``derive.verify`` after the comparisons: every ``numeric`` route of
    ``case`` (its ``numeric`` adapter, then its twins) by name in ``res.twins`` — failed
    where it applied at no point or accepted one of its invalid inputs — and their worst as
    ``res.numeric``.  ``stats`` holds the routes' pairs under ``"numeric"`` and
    ``"twin:<name>"``."""
    routes = ([Twin(case.numeric, case.numeric_name, case.invalid)] if case.numeric else [])
    routes += list(case.twins)
    for t in routes:
        st = stats["numeric" if t.fn is case.numeric else f"twin:{t.name}"]
        if st.error is None and st.points == 0 and res.points:
            st.error = "applies at none of the points"
        if st.error is None:
            st.error = accepts_invalid(t)
        res.twins[t.name] = st
    res.numeric = _worst(res.twins) if res.twins else None
    if case.numeric is None and case.twins:
        res.numeric_name = case.twins[0].name


def accepts_invalid(twin: Twin) -> str | None:
    """``None`` if ``twin`` refuses each of its invalid inputs with ``ValueError``; else
    what it did instead."""
    from derive.verify import _format_point

    for pt in twin.invalid():
        try:
            with np.errstate(all="ignore"):
                got = twin.fn(*pt)
        except ValueError:
            continue
        except Exception as exc:  # NotApplicable or another exception: not a refusal
            return (f"invalid input {_format_point(pt)} raised {type(exc).__name__}: {exc}, "
                    f"not ValueError")
        return f"accepted the invalid input {_format_point(pt)} (returned {got!r})"
    return None


def _worst(named: dict[str, Any]) -> Any:
    """One pair (``derive.verify.PairStats``) summarising several routes: the worst
    figures, its over-budget and non-finite counts summed, failing if any route fails."""
    pairs = list(named.values())
    if len(pairs) == 1:
        return pairs[0]
    worst = max(pairs, key=lambda p: (p.error is not None, p.max_budget_ratio
                                      if p.max_budget_ratio == p.max_budget_ratio else math.inf))
    out = dataclasses.replace(worst)
    out.points = max(p.points for p in pairs)  # the points (each route's are a subset)
    out.over_budget = sum(p.over_budget for p in pairs)
    out.nonfinite = sum(p.nonfinite for p in pairs)
    for attr in ("max_ulp", "max_ulp_scaled", "max_rel"):
        vals = [getattr(p, attr) for p in pairs]
        setattr(out, attr, math.inf if any(v != v for v in vals) else max(vals))
    out.error = next((f"{n}: {p.error}" for n, p in named.items() if p.error is not None),
                     None)
    return out
