"""A bad-input matrix over every public ``numeric`` function (issue 11, item 6).

Each public function is called with each kind of input (negative, unnormalised, NaN, ±inf,
a shape mismatch, labels out of range or float-valued, empty, 0-d, object / complex / str /
bool dtypes, 1e308, subnormals, float16, strided views, read-only and masked arrays) put
into one argument at a time.  Every call must either

* raise ``ValueError`` / ``TypeError`` whose message names one of the function's
  parameters, or
* return a value within budget of mpmath evaluating the *definition* at the exact inputs
  the function received (float16 values are exact in float32): error at most
  ``4 ulp + 4 eps Σ_i |x_i ∂f/∂x_i|`` in the output dtype — 4 ULP x (1 + kappa) where
  ``f != 0``, and an absolute budget tied to the inputs' scale at an exact 0 (never an
  infinite one).  ``±inf`` only where the definition is infinite (``+inf`` where ``q = 0 <
  p``), NaN only where a docstring documents it (``pointwise_mutual_information`` at
  ``p(x) = 0``) —

and it must neither warn (warnings are errors) nor modify its input.  Masked arrays must
be refused with ``TypeError`` (``np.asarray`` would drop the mask).  The partial
derivatives of the budget are central differences of the same mpmath definition at twice
the working precision.
"""

from __future__ import annotations

import copy
import inspect
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import mpmath
import numpy as np
import pytest

import numeric
from tests.numeric.test_gaussian import mp_mvn_kl
from tests.oracle import _ulp_of

mpf = mpmath.mpf
_exp = np.frompyfunc(lambda v: mpmath.exp(v), 1, 1)
_log = np.frompyfunc(lambda v: mpmath.log(v) if v != 0 else -mpmath.inf, 1, 1)


def _xlogy(x, y):
    """``x log y`` with ``0 log y = 0`` (elementwise on object arrays)."""
    f = np.frompyfunc(lambda a, b: mpf(0) if a == 0 else a * _log(b), 2, 1)
    return f(x, y)


# ----------------------------------------------------------------------- definitions


def _softmax(z, t=1):
    e = _exp(z / t)
    return e / e.sum(axis=-1, keepdims=True)


def _marginals(p):
    return p.sum(axis=-1, keepdims=True), p.sum(axis=-2, keepdims=True)


def _pmi(p):
    px, py = _marginals(p)
    f = np.frompyfunc(
        lambda a, b: mpmath.nan if b == 0 else (-mpmath.inf if a == 0 else mpmath.log(a / b)),
        2,
        1,
    )
    return f(p, px * py)


def _kl(p, q):
    f = np.frompyfunc(
        lambda a, b: mpf(0) if a == 0 else (mpmath.inf if b == 0 else a * mpmath.log(a / b)), 2, 1
    )
    return f(p, q).sum(axis=-1)


def _bce(p, y):
    """-(y log p + (1 - y) log1p(-p)); a term with weight 0 is 0."""
    f = np.frompyfunc(
        lambda a, w: mpf(0) if w == 0 else (w * mpmath.log1p(-a) if a != 1 else -mpmath.inf), 2, 1
    )
    return -(_xlogy(y, p) + f(p, 1 - y))


def _softplus(z):
    return np.frompyfunc(lambda v: mpmath.log1p(mpmath.exp(v)), 1, 1)(z)


def _ce(z, y, labels=False):
    logp = z - _log(_exp(z).sum(axis=-1, keepdims=True))
    if labels:  # integer labels: the one-hot rows
        k = z.shape[-1]
        y = np.broadcast_to(y, z.shape[:-1])
        y = np.array([[mpf(int(j == int(lab))) for j in range(k)] for lab in np.ravel(y)])
        y = y.reshape(*logp.shape)
    return -(_xlogy(y, _exp(logp))).sum(axis=-1)


def _smooth(y, eps, k):
    onehot = np.array([[mpf(int(j == int(lab))) for j in range(k)] for lab in np.ravel(y)])
    return ((1 - mpf(eps)) * onehot + mpf(eps) / k).reshape(*np.shape(y), k)


def _distill(s, t, temp=2.0):
    s, t = np.broadcast_arrays(s, t)
    tt = mpf(temp)
    return tt**2 * _kl(_softmax(t, tt), _softmax(s, tt))


def _gauss_kl(m1, s1, m2, s2):
    f = np.frompyfunc(
        lambda a, b, c, d: mpmath.log(d / b) + (b**2 + (a - c) ** 2) / (2 * d**2) - mpf(1) / 2,
        4,
        1,
    )
    return f(m1, s1, m2, s2)


def _gauss_nll(x, mu, s):
    f = np.frompyfunc(
        lambda a, b, c: mpmath.log(2 * mpmath.pi * c**2) / 2 + (a - b) ** 2 / (2 * c**2), 3, 1
    )
    return f(x, mu, s)


def _mvn(m1, c1, m2, c2):
    return mp_mvn_kl(list(m1), [list(r) for r in c1], list(m2), [list(r) for r in c2])


# ------------------------------------------------------------------------- the table


@dataclass
class Spec:
    """A public function, valid arguments, each argument's role and the definition.

    ``ref(*args)`` takes object arrays of mpf (integer labels stay as they are) and
    returns the output(s); ``grad_of`` names the loss whose derivative with respect to
    the first argument is the function (its reference is then a central difference).
    """

    fn: Callable
    args: tuple
    roles: tuple[str, ...]
    ref: Callable | None = None
    kwargs: dict = field(default_factory=dict)
    grad_of: Callable | None = None


P = np.array([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.5, 0.0]])
Q = np.array([[0.4, 0.3, 0.2, 0.1], [0.5, 0.125, 0.125, 0.25]])
J = np.array([[0.1, 0.2, 0.05], [0.3, 0.15, 0.2]])
Z = np.array([[1.5, -0.5, 2.0, 0.25], [-3.0, 0.0, 1.0, 4.0]])
U = np.array([0.25, 0.5, 0.875, 0.0625])
Y = np.array([0.0, 1.0, 0.5, 0.75])
LAB = np.array([2, 0])
COV1 = np.array([[2.0, 0.5], [0.5, 1.0]])
COV2 = np.array([[1.0, -0.25], [-0.25, 3.0]])

SPECS = {
    "self_information": Spec(numeric.self_information, (U,), ("unit",), lambda p: -_log(p)),
    "entropy": Spec(numeric.entropy, (P,), ("prob",), lambda p: -_xlogy(p, p).sum(axis=-1)),
    "joint_entropy": Spec(
        numeric.joint_entropy, (J,), ("joint",), lambda p: -_xlogy(p, p).sum(axis=(-2, -1))
    ),
    "conditional_entropy": Spec(
        numeric.conditional_entropy,
        (J,),
        ("joint",),
        lambda p: (_xlogy(p, _marginals(p)[0]) - _xlogy(p, p)).sum(axis=(-2, -1)),
    ),
    "mutual_information": Spec(
        numeric.mutual_information,
        (J,),
        ("joint",),
        lambda p: np.frompyfunc(lambda a, b: mpf(0) if a == 0 else a * mpmath.log(a / b), 2, 1)(
            p, _marginals(p)[0] * _marginals(p)[1]
        ).sum(axis=(-2, -1)),
    ),
    "pointwise_mutual_information": Spec(
        numeric.pointwise_mutual_information, (J,), ("joint",), _pmi
    ),
    "cross_entropy": Spec(
        numeric.cross_entropy,
        (P, Q),
        ("prob", "prob"),
        lambda p, q: -np.frompyfunc(
            lambda a, b: mpf(0) if a == 0 else (-mpmath.inf if b == 0 else a * mpmath.log(b)),
            2,
            1,
        )(p, q).sum(axis=-1),
    ),
    "kl_divergence": Spec(numeric.kl_divergence, (P, Q), ("prob", "prob"), _kl),
    "perplexity": Spec(numeric.perplexity, (U * 3,), ("nonneg",), _exp),
    "sigmoid": Spec(numeric.sigmoid, (Z,), ("real",), lambda z: 1 / (1 + _exp(-z))),
    "log_sigmoid": Spec(numeric.log_sigmoid, (Z,), ("real",), lambda z: -_log(1 + _exp(-z))),
    "softplus": Spec(numeric.softplus, (Z,), ("real",), lambda z: _log(1 + _exp(z))),
    "logsumexp": Spec(numeric.logsumexp, (Z,), ("real",), lambda z: _log(_exp(z).sum(axis=-1))),
    "softmax": Spec(numeric.softmax, (Z,), ("logit",), _softmax),
    "log_softmax": Spec(numeric.log_softmax, (Z,), ("logit",), lambda z: _log(_softmax(z))),
    "binary_cross_entropy": Spec(numeric.binary_cross_entropy, (U, Y), ("unit", "unit"), _bce),
    "binary_cross_entropy_grad": Spec(
        numeric.binary_cross_entropy_grad, (U, Y), ("unit", "unit"), grad_of=_bce
    ),
    "binary_cross_entropy_with_logits": Spec(
        numeric.binary_cross_entropy_with_logits,
        (Z[0], Y),
        ("real", "unit"),
        lambda z, y: (1 - y) * _softplus(z) + y * _softplus(-z),
    ),
    "binary_cross_entropy_with_logits_grad": Spec(
        numeric.binary_cross_entropy_with_logits_grad,
        (Z[0], Y),
        ("real", "unit"),
        grad_of=lambda z, y: (1 - y) * _softplus(z) + y * _softplus(-z),
    ),
    "softmax_cross_entropy": Spec(numeric.softmax_cross_entropy, (Z, P), ("logit", "prob"), _ce),
    "softmax_cross_entropy_labels": Spec(
        numeric.softmax_cross_entropy, (Z, LAB), ("logit", "label"), lambda z, y: _ce(z, y, True)
    ),
    "softmax_cross_entropy_grad": Spec(
        numeric.softmax_cross_entropy_grad, (Z, P), ("logit", "prob"), grad_of=_ce
    ),
    "softmax_cross_entropy_grad_labels": Spec(
        numeric.softmax_cross_entropy_grad,
        (Z, LAB),
        ("logit", "label"),
        grad_of=lambda z, y: _ce(z, y, True),
    ),
    "smooth_labels": Spec(
        numeric.smooth_labels,
        (LAB,),
        ("label",),
        lambda y: _smooth(y, 0.1, 4),
        {"epsilon": 0.1, "num_classes": 4},
    ),
    "smooth_labels_probs": Spec(
        numeric.smooth_labels, (P,), ("prob",), lambda y: 0.9 * y + mpf(0.1) / 4, {"epsilon": 0.1}
    ),
    "distillation_loss": Spec(
        numeric.distillation_loss, (Z, Z[::-1]), ("logit", "logit"), _distill, {"temperature": 2.0}
    ),
    "distillation_loss_grad": Spec(
        numeric.distillation_loss_grad,
        (Z, Z[::-1]),
        ("logit", "logit"),
        kwargs={"temperature": 2.0},
        grad_of=_distill,
    ),
    "mse": Spec(numeric.mse, (Z, Z[::-1]), ("real", "real"), lambda a, b: ((a - b) ** 2).mean()),
    "mse_grad": Spec(
        numeric.mse_grad, (Z, Z[::-1]), ("real", "real"), grad_of=lambda a, b: ((a - b) ** 2).mean()
    ),
    "gaussian_kl": Spec(
        numeric.gaussian_kl, (Y, U, Y[::-1], U[::-1]), ("real", "pos", "real", "pos"), _gauss_kl
    ),
    "gaussian_entropy": Spec(
        numeric.gaussian_entropy,
        (U,),
        ("pos",),
        np.frompyfunc(lambda s: mpmath.log(2 * mpmath.pi * mpmath.e * s**2) / 2, 1, 1),
    ),
    "gaussian_nll": Spec(
        numeric.gaussian_nll, (Y, Y[::-1], U), ("real", "real", "pos"), _gauss_nll
    ),
    "mvn_kl": Spec(
        numeric.mvn_kl,
        (Y[:2], COV1, Y[2:], COV2),
        ("real", "cov", "real", "cov"),
        _mvn,
    ),
}


def test_the_table_covers_every_public_function():
    covered = {spec.fn.__name__ for spec in SPECS.values()}
    assert covered == set(numeric.__all__)


# ------------------------------------------------------------------------- input kinds


def _masked(a):
    return np.ma.array(a, mask=np.zeros(a.shape, bool) | (np.arange(a.size) == 0).reshape(a.shape))


def _strided(a):
    wide = np.repeat(a, 2, axis=-1)
    return wide[..., ::2]


def _readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def _first(a, v):
    a = a.astype(np.float64).copy()
    a.flat[0] = v
    return a


def _subnormal(a, role):
    if role in ("prob", "joint"):
        a = a.astype(np.float64).copy()
        a.flat[0] += 5e-324 if a.flat[0] == 0 else 0.0
        a.flat[-1] = 5e-324 * 7
        return a
    if role == "cov":
        return a * 1e-310
    return a * 2.0**-1060 if role != "label" else a


def _big(a, role):
    if role == "label":
        return a + 10**18
    return a / np.max(np.abs(a)) * 1e308


KINDS: dict[str, Callable] = {
    "negative": lambda a, r: -a if r != "label" else a - 5,
    "unnormalised": lambda a, r: a * 2,
    "nan": lambda a, r: _first(a, np.nan),
    "posinf": lambda a, r: _first(a, np.inf),
    "neginf": lambda a, r: _first(a, -np.inf),
    "shape_mismatch": lambda a, r: np.concatenate([a, a[..., :1]], axis=-1),
    "label_out_of_range": lambda a, r: a + 4 if r == "label" else a,
    "label_float": lambda a, r: a.astype(np.float64) + (0.5 if r == "label" else 0.0),
    "empty": lambda a, r: a[..., :0],
    "zero_d": lambda a, r: np.asarray(a.flat[0]),
    "object": lambda a, r: a.astype(object),
    "complex": lambda a, r: a.astype(np.complex128),
    "str": lambda a, r: a.astype(str),
    "bool": lambda a, r: a > a.flat[0],
    "big": _big,
    "subnormal": _subnormal,
    "float16": lambda a, r: a.astype(np.float16) if r != "label" else a.astype(np.int16),
    "strided": lambda a, r: _strided(a),
    "readonly": lambda a, r: _readonly(a),
    "masked": lambda a, r: _masked(a),
}


# --------------------------------------------------------------------------- checking


def _names(fn) -> list[str]:
    return list(inspect.signature(fn).parameters)


def _to_mp(a):
    a = np.asarray(a)
    if a.dtype.kind in "iu":
        return a
    out = np.empty(a.shape, dtype=object)
    for idx in np.ndindex(a.shape):
        out[idx] = mpf(float(a[idx]))
    return out


def _evaluate(spec: Spec, args, dps: int):
    with mpmath.workdps(dps):
        mp_args = [_to_mp(a) for a in args]
        if spec.grad_of is None:
            return np.asarray(spec.ref(*mp_args), dtype=object)
        return _central_gradient(spec.grad_of, mp_args, 0, dps)


def _central_gradient(loss, mp_args, which, dps):
    """``∂(Σ loss)/∂x_i`` for every element of argument ``which`` (central differences)."""
    x = mp_args[which].copy()
    if x.dtype == object:  # ±inf: the limit, through a stand-in far beyond every other logit
        for idx in np.ndindex(x.shape):
            if mpmath.isinf(x[idx]):
                x[idx] = mpmath.sign(x[idx]) * mpf(10) ** 6
    grad = np.empty(x.shape, dtype=object)
    with mpmath.workdps(2 * dps):
        for idx in np.ndindex(x.shape):
            h = _step(x[idx], mp_args, dps)
            up, down = x.copy(), x.copy()
            up[idx] += h
            down[idx] -= h
            plus = np.sum(loss(*[up if i == which else a for i, a in enumerate(mp_args)]))
            minus = np.sum(loss(*[down if i == which else a for i, a in enumerate(mp_args)]))
            grad[idx] = (plus - minus) / (2 * h)
    return grad


def _step(x, mp_args, dps):
    """A difference step relative to ``x`` (a subnormal probability varies on its own
    scale; at 1e308 the losses here are piecewise linear on the scale of ``x``), or the
    smallest nonzero argument's scale at ``x = 0``."""
    if x != 0:
        scale = abs(x)
    else:
        nonzero = [abs(v) for a in mp_args if a.dtype == object for v in a.flat if v != 0]
        scale = min([mpf(1), *[v for v in nonzero if mpmath.isfinite(v)]])
    return scale * mpf(10) ** (-(dps // 2))


def _sensitivity(spec: Spec, args, exact, dps: int):
    """``Σ_i |x_i ∂f_j/∂x_i|`` for every output ``j`` (float arguments only)."""
    total = np.zeros(np.shape(exact), dtype=object)
    total[...] = mpf(0)
    with mpmath.workdps(2 * dps):
        base = [_to_mp(v) for v in args]
        for which, a in enumerate(args):
            a = np.asarray(a)
            if a.dtype.kind != "f":
                continue
            for idx in np.ndindex(a.shape):
                if a[idx] == 0 or not np.isfinite(a[idx]):
                    continue
                x = mpf(float(a[idx]))
                h = _step(x, base, dps)
                up = [m.copy() for m in base]
                down = [m.copy() for m in base]
                up[which][idx] = x + h
                down[which][idx] = x - h
                fu = np.broadcast_to(_evaluate_mp(spec, up, 2 * dps), total.shape)
                fd = np.broadcast_to(_evaluate_mp(spec, down, 2 * dps), total.shape)
                for j in np.ndindex(total.shape):
                    if mpmath.isfinite(fu[j]) and mpmath.isfinite(fd[j]):
                        total[j] += abs(x * (fu[j] - fd[j]) / (2 * h))
    return total


def _evaluate_mp(spec: Spec, mp_args, dps):
    if spec.grad_of is None:
        return np.asarray(spec.ref(*mp_args), dtype=object)
    return _central_gradient(spec.grad_of, mp_args, 0, dps)


def _digits(args) -> int:
    """Working digits: outputs are compared at their own scale, and no definition here
    cancels more than a few digits at these inputs; differences use twice as many."""
    return 40


def _check_value(spec: Spec, args, got) -> None:
    got = np.asarray(got)
    assert got.dtype in (np.float32, np.float64), got.dtype
    if spec.grad_of is not None and np.shape(args[0]) != got.shape:
        # a broadcast first argument: each output is the derivative of its own loss
        args = [np.broadcast_to(args[0], got.shape).copy(), *args[1:]]
    dps = _digits(args)
    exact = np.broadcast_to(_evaluate(spec, args, dps), got.shape)
    sens = np.broadcast_to(_sensitivity(spec, args, exact, dps), got.shape)
    eps = mpf(float(np.finfo(got.dtype).eps))
    for g, e, s in zip(got.ravel(), exact.ravel(), sens.ravel(), strict=True):
        g = float(g)
        if mpmath.isnan(e):  # a documented NaN (pmi where p(x) = 0)
            assert np.isnan(g), (g, e)
            continue
        assert not np.isnan(g), f"NaN where the definition is {e}"
        fmax = mpf(float(np.finfo(got.dtype).max))
        if mpmath.isinf(e) or abs(e) > fmax:
            assert np.isinf(g) and (g > 0) == (e > 0), (g, e)
            continue
        assert np.isfinite(g), (g, e)
        with mpmath.workdps(dps):
            budget = 4 * _ulp_of(e, got.dtype) + 4 * eps * s
            err = abs(mpf(g) - e)
        assert err <= budget, f"got {g!r}, exact {mpmath.nstr(e, 17)}, error {err} > {budget}"


def _call(spec: Spec, args):
    snapshot = copy.deepcopy(args)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            out = spec.fn(*args, **spec.kwargs)
            err = None
        except (ValueError, TypeError) as exc:
            out, err = None, exc
    for before, after in zip(snapshot, args, strict=True):
        assert type(before) is type(after)
        if isinstance(before, np.ma.MaskedArray):
            assert np.array_equal(before.mask, after.mask)
        b, a = np.asarray(before), np.asarray(after)
        assert b.dtype == a.dtype and b.shape == a.shape
        assert np.array_equal(b, a, equal_nan=b.dtype.kind in "fc"), "the input was modified"
    return out, err


# A gradient's reference here is a central difference of the loss, which at 1e308 or at
# subnormal logits needs ~700 digits to resolve (minutes of mpmath); those two kinds are
# checked for the gradients by test_losses (logits spanning 1e-300 ... 1e300 against
# mpmath.diff) and test_edges (±1e308 logits, extreme temperatures) instead.
_SLOW_FOR_GRADIENTS = {"big", "subnormal"}

CASES = [
    (name, kind, i)
    for name, spec in SPECS.items()
    for kind in KINDS
    for i in range(len(spec.args))
    if not (spec.grad_of is not None and kind in _SLOW_FOR_GRADIENTS)
]


@pytest.mark.parametrize(
    ("name", "kind", "which"), CASES, ids=[f"{n}-{k}-{i}" for n, k, i in CASES]
)
def test_bad_input_raises_naming_an_argument_or_matches_the_definition(name, kind, which):
    spec = SPECS[name]
    role = spec.roles[which]
    args = list(spec.args)
    args[which] = KINDS[kind](np.asarray(args[which]), role)
    out, err = _call(spec, args)
    if kind == "masked":
        assert isinstance(err, TypeError) and "masked" in str(err), err
    if err is not None:
        pattern = r"\b(" + "|".join(map(re.escape, _names(spec.fn))) + r")\b"
        assert re.search(pattern, str(err)), f"the message names no argument: {err}"
        return
    _check_value(spec, args, out)


class TestConventions:
    """The edge conventions the matrix relies on, asserted where the docstrings state them."""

    def test_zero_log_zero_is_zero(self):
        assert float(numeric.entropy([1.0, 0.0])) == 0.0

    def test_q_zero_where_p_positive_is_plus_inf(self):
        assert float(numeric.kl_divergence([0.5, 0.5], [1.0, 0.0])) == math.inf
        assert float(numeric.cross_entropy([0.5, 0.5], [1.0, 0.0])) == math.inf

    def test_pmi_of_a_never_occurring_outcome_is_nan(self):
        assert np.isnan(numeric.pointwise_mutual_information([[0.5, 0.5], [0.0, 0.0]])[1, 0])

    def test_axis_none_is_refused_naming_axis(self):
        for fn, args in [
            (numeric.entropy, (P,)),
            (numeric.softmax, (Z,)),
            (numeric.softmax_cross_entropy, (Z, LAB)),
            (numeric.distillation_loss, (Z, Z)),
        ]:
            kw = {"temperature": 1.0} if fn is numeric.distillation_loss else {}
            with pytest.raises(TypeError, match="axis"):
                fn(*args, axis=None, **kw)

    def test_float16_probabilities_use_float16_tolerance(self):
        # [0.1, 0.2, 0.7] in float16 sums to 1 - 1.2e-4: within float16's tolerance
        p = np.array([0.1, 0.2, 0.7], np.float16)
        got = numeric.entropy(p)
        assert got.dtype == np.float32
        with mpmath.workdps(50):
            exact = -mpmath.fsum(mpf(float(v)) * mpmath.log(mpf(float(v))) for v in p)
        assert abs(float(got) - float(exact)) <= 4 * np.finfo(np.float32).eps * float(exact)

    def test_grad_tracking_tensor_is_refused_with_a_hint(self):
        torch = pytest.importorskip("torch")
        with pytest.raises(TypeError, match=r"z: .*detach\(\)\.numpy\(\)"):
            numeric.softmax(torch.zeros(3, requires_grad=True))
        with pytest.raises(TypeError, match=r"target: .*detach\(\)"):
            numeric.softmax_cross_entropy(np.zeros((1, 3)), torch.zeros(1, requires_grad=True))

    def test_float_labels_say_labels_must_be_integers(self):
        for target in ([2.0], [0.5]):
            with pytest.raises(TypeError, match="target: class labels must be integers"):
                numeric.softmax_cross_entropy(np.zeros((1, 3)), target)

    def test_num_classes_is_bounded_by_what_the_labels_need(self):
        with pytest.raises(ValueError, match="num_classes: 100000000 is far beyond"):
            numeric.smooth_labels([0, 1, 2], 0.1, num_classes=10**8)
        with pytest.raises(ValueError, match="num_classes: the result would hold"):
            numeric.smooth_labels(np.arange(600), 0.1, num_classes=2**20)
        assert numeric.smooth_labels([0, 1, 2], 0.1, num_classes=2**20).shape == (3, 2**20)

    def test_numeric_imports_no_torch_or_sympy(self):
        import subprocess
        import sys

        code = (
            "import sys, numeric; bad = {'torch', 'sympy', 'mpmath', 'scipy'} & set(sys.modules);"
            "sys.exit(1 if bad else 0)"
        )
        assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
