"""Check *your* loss function — and its gradient — against lossproof's references.

One line in a test::

    from derive.testing import assert_matches_reference

    def test_my_bce():
        assert_matches_reference(my_bce, "bce-gradient", grad=my_bce_grad)

``assert_matches_reference`` evaluates ``fn`` (and ``grad``) on the adversarial inputs where
popular implementations are known to fail — logits of ±36.7, ±745 and ±1e300, confident
predictions whose loss is below 1e-16, common offsets of 1e16, zeros in probability
vectors, nearly identical distributions and Gaussians — plus ``points`` seeded random
inputs, and compares every output with the mpmath reference: the quantity's
*definition* evaluated at 60 or more digits (raised until two precisions agree), never a
closed form.  Gradients are compared with central differences of the definition at the
same precision.  On failure it raises :class:`AssertionError` with a table of the worst
inputs — input, expected, got, error in ULPs, budget — so you can see what to fix.  It
runs without pytest; ``torch`` and ``jax`` are used only when you pass their functions.

Reference quantities (calling conventions)
------------------------------------------
Arrays carry a leading batch axis; your function must return one value per batch element
(``reduction="none"`` in torch), as a real array: a complex output (even with a zero
imaginary part), or a bool, object, string, ``None`` or ragged one, is refused with a
``TypeError`` naming it.  ``grad`` returns the gradient of the per-element loss
with respect to the first argument, shaped like it.

============================  ===============================  ===========================
name                          fn(...) returns                  grad(...) returns
============================  ===============================  ===========================
bce-gradient                  fn(z, y): BCE with logits,       ∂L/∂z = σ(z) - y, [N]
                              z [N], y [N] in [0, 1]
bce-probability-gradient      fn(p, y): BCE of probabilities   ∂L/∂p, [N]
                              p [N] in (0, 1), y [N]
softmax-ce-gradient           fn(z, y): -Σ y log softmax(z),   ∂L/∂z = softmax(z) - y,
                              z [N, K], y [N, K]               [N, K]
temperature-softmax-gradient  fn(z, y, T): CE of softmax(z/T)  (softmax(z/T) - y)/T
label-smoothing               fn(z, y, eps): CE with targets   softmax(z) - y_eps
                              y_eps = (1 - eps) y + eps/K
distillation-gradient         fn(s, t, T):                     ∂L/∂s = T (softmax(s/T)
                              T² KL(softmax(t/T) ‖ softmax(s/T))  - softmax(t/T))
kl-nonnegative                fn(p, q): D(p ‖ q), p, q [N, K]  —
ce-equals-entropy-plus-kl     fn(p, q): H(p, q), [N]           —
entropy-maximum-uniform       fn(p): H(p), p [N, K]            —
gaussian-kl                   fn(mu1, sigma1, mu2, sigma2):    —
                              D(N(μ1, σ1²) ‖ N(μ2, σ2²)), [N]
gaussian-kl-stable-form       same as gaussian-kl              —
gaussian-entropy              fn(sigma): ½ log(2πeσ²), [N]     —
mvn-kl                        fn(mu1, cov1, mu2, cov2), mu [N, k], cov [N, k, k]
log-sigmoid                   fn(z): log σ(z), [N]             —
logsumexp                     fn(z): log Σ_k e^{z_k}, [N]      —
log-softmax                   fn(z): log softmax(z), [N, K]    —
============================  ===============================  ===========================

Hyper-parameters (``T``, ``eps``) are Python floats, the same for a whole call.  With
``integer_labels=True`` the targets of the softmax references are class indices ``[N]``
(int64) instead of probability vectors, and those of the BCE references are 0/1 integers.
The last three names are building blocks (they rest on ``bce-gradient``,
``softmax-shift-invariance`` and ``softmax-ce-gradient``); the others are registered
derivations (``lossproof show NAME``).

Budget
------
An output passes when its error is within ``budget_ulp × max(1, κ)`` ULPs of ``dtype`` at
the exact value, where κ is the condition number of the quantity at that input,
``Σ_j |x_j ∂f/∂x_j| / |f|``, over the inputs a float computation really perturbs: labels
and one-hot targets (exact by construction) and hyper-parameters are not perturbed,
softmax quantities are taken at the shifted logits ``z - max z`` (they are
shift-invariant), probability vectors are perturbed on the simplex, the Gaussian KL in
``μ1 - μ2``.  So an ill-conditioned output (a soft-label gradient near its zero) is
allowed what any float algorithm must lose, while a gradient returned as 0 where the
truth is ``-e^{-40}`` is not.  Where the exact value is 0 and rounding the inputs would
move it (κ infinite), the budget is absolute and tied to the inputs' scale: ``|got| <=
budget_ulp`` ULPs of ``S = Σ_j |x_j ∂f/∂x_j|`` (a BCE gradient of 0.25 at ``z = 0,
y = 0.5`` fails; ``S = 0.5`` there).  A NaN or infinity where the exact value is finite
always fails, and so does anything but the same value where it is infinite or NaN.

Adapters
--------
``framework="torch"``/``"jax"`` (or :func:`torch_function`, :func:`jax_function`) let you
pass a torch/JAX function directly: NumPy inputs become tensors of the same dtype (JAX in
64-bit mode for float64), outputs come back as arrays; ``grad="autodiff"`` differentiates
``fn`` with ``torch.autograd`` / ``jax.grad`` (of the sum over the batch).

Property tests: :mod:`derive.strategies` has hypothesis strategies for the same domains;
the pytest plugin adds the ``lossproof_reference`` fixture and ``--lossproof-points``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import mpmath
import numpy as np

from derive import _reference as _ref
from derive import _tables

__all__ = [
    "DEFAULT_BUDGET_ULP",
    "DEFAULT_POINTS",
    "CheckReport",
    "Mismatch",
    "QuantityResult",
    "assert_matches_reference",
    "check_reference",
    "format_exact",
    "format_input",
    "jax_function",
    "jax_gradient",
    "reference_names",
    "reference_points",
    "torch_function",
    "torch_gradient",
    "ulp_error",
]

DEFAULT_POINTS = 100
DEFAULT_BUDGET_ULP = 4.0
_SHOW = 8  # rows of the failure table
_FAILURES = 50  # failing outputs kept in a QuantityResult
_F32_MAX = float(np.finfo(np.float32).max)
_SCAN = 2000  # outputs, worst first, from which the table samples each kind of failure


def reference_names() -> list[str]:
    """The names ``assert_matches_reference`` accepts (see the table above)."""
    return list(_ref.REFERENCES)


def _reference(name: str) -> _ref.Reference:
    try:
        return _ref.REFERENCES[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(_ref.REFERENCES), n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"no reference quantity {name!r}{hint} (see derive.testing."
                       f"reference_names())") from None


# ---------------------------------------------------------------------- errors


def _ulp(exact: mpmath.mpf, dtype: np.dtype) -> mpmath.mpf:
    """Spacing of ``dtype`` at ``exact`` (the subnormal spacing below the normal range)."""
    fi = np.finfo(dtype)
    a = abs(exact)
    if a < mpmath.mpf(float(fi.tiny)):
        return mpmath.ldexp(1, int(fi.minexp) - int(fi.nmant))
    _, e = mpmath.frexp(a)  # a = m 2^e, 1/2 <= m < 1
    return mpmath.ldexp(1, min(int(e) - 1, int(fi.maxexp) - 1) - int(fi.nmant))


def ulp_error(got: float, exact: Any, dtype: Any = np.float64) -> float:
    """``|got - exact|`` in ULPs of ``dtype`` at ``exact``; ``inf`` for a non-finite mismatch.

    Overflow to ``±inf`` of an exact value beyond the range of ``dtype`` is the correctly
    rounded result (0 ULP).

    >>> ulp_error(0.30000000000000004, "0.3")  # 0.1 + 0.2
    0.8
    >>> ulp_error(float("nan"), 1)
    inf
    """
    dtype = np.dtype(dtype)
    with mpmath.workdps(40):
        exact = mpmath.mpf(exact)
        g = float(got)
        if mpmath.isnan(exact) or mpmath.isinf(exact):
            same = (math.isnan(g) and mpmath.isnan(exact)) or g == exact
            return 0.0 if same else math.inf
        if not math.isfinite(g):
            big = abs(exact) > mpmath.mpf(float(np.finfo(dtype).max))
            return 0.0 if math.isinf(g) and big and (g > 0) == (exact > 0) else math.inf
        return float(mpmath.nstr(abs(mpmath.mpf(g) - exact) / _ulp(exact, dtype), 6))


def _rel_error(got: float, exact: mpmath.mpf) -> float:
    with mpmath.workdps(40):
        g = float(got)
        if not math.isfinite(g) or not mpmath.isfinite(exact):
            return 0.0 if g == exact else math.inf
        if exact == 0:
            return 0.0 if g == 0 else math.inf
        return float(abs((mpmath.mpf(g) - exact) / exact))


# ---------------------------------------------------------------------- points


def reference_points(name: str, *, points: int = DEFAULT_POINTS, seed: int = 0,
                     dtype: Any = np.float64, integer_labels: bool = False) -> list[tuple]:
    """The inputs ``assert_matches_reference`` uses: the adversarial ones, then ``points``
    seeded random ones.  Each is a tuple with one entry per argument (a float, an int
    label, or an array without the batch axis)."""
    return list(_points(name, np.dtype(dtype).name, points, seed, integer_labels))


@cache
def _points(name: str, dtype: str, points: int, seed: int, integer_labels: bool) -> tuple:
    ref = _reference(name)
    if integer_labels and not ref.supports_integer_labels:
        labelled = [k for k, r in _ref.REFERENCES.items() if r.supports_integer_labels]
        raise ValueError(f"{name}: integer_labels=True needs a reference with labels "
                         f"(one of {labelled})")
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    pts = ref.points(rng, dt, integer_labels) + ref.random(rng, points, dt, integer_labels)
    if integer_labels:
        pts = [_hard(pt) for pt in pts]
    return tuple(pts)


def _hard(pt: tuple) -> tuple:
    """Integer-label form of a point: 0/1 labels as ints, one-hot targets as indices."""
    z, y, *rest = pt
    if isinstance(y, float):
        return (z, int(y), *rest)
    if isinstance(y, np.ndarray):
        return (z, int(np.argmax(y)), *rest)
    return pt


@dataclass
class _Expected:
    value: list          # mpf components of the quantity
    value_cond: list     # κ per component, or ("zero", S) where the value is exactly 0
    grad: list | None = None
    grad_cond: list | None = None


def _with_zero_scales(cond_fn: Callable, args: list, vals: list, conds: list) -> list:
    """``conds`` with ``("zero", S)`` in place of each infinite κ at an exact 0.

    κ = S / |f| with S = Σ_j |x_j ∂f/∂x_j|, so the condition function at the same point,
    with that component's value taken as 1, gives S.  (The distillation value's κ also uses
    the value itself, through ``log p^t - log p^s - KL``: there S comes out larger by
    ``Σ_j |v_j| p^t_j / T²``, still a multiple of the inputs' scale.)
    """
    out = list(conds)
    for c, (v, k) in enumerate(zip(vals, conds, strict=True)):
        if v == 0 and k == math.inf:
            probe = list(vals)
            probe[c] = mpmath.mpf(1)
            scale = cond_fn(args, probe)[c]
            if not math.isfinite(scale):
                raise ArithmeticError(f"no finite input scale at an exact 0 ({args!r})")
            out[c] = ("zero", float(scale))
    return out


@cache
def _expected(name: str, dtype: str, points: int, seed: int, integer_labels: bool,
              with_grad: bool) -> tuple[_Expected, ...]:
    ref = _reference(name)
    out = []
    for pt in _points(name, dtype, points, seed, integer_labels):
        args = list(pt)
        val, dps = _ref.evaluate(ref.value, args)
        with mpmath.workdps(dps):
            mp_args = _ref._mp(args)
            cond = _with_zero_scales(ref.cond_value, mp_args, val,
                                     ref.cond_value(mp_args, val))
        e = _Expected(val, cond)
        if with_grad:
            g, gdps = _ref.evaluate(ref.grad, args)
            with mpmath.workdps(gdps):
                mp_args = _ref._mp(args)
                e.grad_cond = _with_zero_scales(ref.cond_grad, mp_args, g,
                                                ref.cond_grad(mp_args, g))
            e.grad = g
        out.append(e)
    return tuple(out)


def _batches(ref: _ref.Reference, pts: Sequence[tuple], dtype: np.dtype,
             integer_labels: bool) -> list[tuple[list[int], tuple]]:
    """Group points into batches of equal shapes and hyper-parameters; stack them."""
    groups: dict[tuple, list[int]] = {}
    for i, pt in enumerate(pts):
        key = tuple(("h", v) if a.kind == "hyper" else
                    ("s", np.shape(v), type(v).__name__) for a, v in zip(ref.args, pt,
                                                                         strict=True))
        groups.setdefault(key, []).append(i)
    out = []
    for idx in groups.values():
        args = []
        for j, a in enumerate(ref.args):
            vals = [pts[i][j] for i in idx]
            if a.kind == "hyper":
                args.append(float(vals[0]))
            elif isinstance(vals[0], int):
                args.append(np.asarray(vals, dtype=np.int64))
            else:
                args.append(np.stack([np.asarray(v, dtype=dtype) for v in vals]))
        out.append((idx, tuple(args)))
    return out


# --------------------------------------------------------------------- results


@dataclass
class Mismatch:
    """One compared output: where, what was expected, what came back."""

    input: str
    expected: str
    got: str
    ulp: float
    rel: float
    budget: float

    @property
    def ratio(self) -> float:
        return self.ulp / self.budget if self.budget > 0 else math.inf

    @property
    def kind(self) -> str:
        """``inf/nan`` (non-finite where the exact value is finite), ``float32`` (a
        single-precision number: within 2⁻²² of the exact value relatively, yet more than
        2¹⁶ ULPs of the checked dtype off), ``budget`` (another error over the budget) or
        ``ok`` (within the budget)."""
        got = float(self.got)
        if not math.isfinite(got) and self.budget == 0.0:
            return "inf/nan"
        if self.ulp <= self.budget:
            return "ok"
        single = 0 < abs(got) <= _F32_MAX and float(np.float32(got)) == got
        if single and self.ulp >= 2.0**16 and self.rel <= 2.0**-22:
            return "float32"
        return "budget"


@dataclass
class QuantityResult:
    """How one function (the loss or the gradient) compares with the reference."""

    quantity: str
    points: int = 0
    outputs: int = 0
    max_ulp: float = 0.0
    max_rel: float = 0.0
    over_budget: int = 0
    nonfinite: int = 0
    error: str | None = None
    worst: list[Mismatch] = field(default_factory=list)
    failures: list[Mismatch] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.error is None and self.over_budget == 0

    def table(self) -> str:
        """The worst inputs of each kind as a text table at most 120 characters wide
        (long inputs shortened: the full ones are in :attr:`worst` and :attr:`failures`)."""
        head = ("kind", "input", "expected", "got", "ULP", "budget")
        rows = [(m.kind, m.input, m.expected, m.got, _fmt(m.ulp), _fmt(m.budget))
                for m in self.worst]
        lines = _tables.format_table(head, rows)
        lines.append("kind: inf/nan = non-finite, the exact value finite; float32 = single-"
                     "precision result; budget = over budget")
        if any(m.input not in lines[i] for i, m in enumerate(self.worst, start=2)):
            lines.append("(inputs shortened: check_reference(…).value/.grad .worst has them "
                         "in full)")
        return "\n".join(lines)


@dataclass
class CheckReport:
    """The outcome of :func:`check_reference`: one :class:`QuantityResult` per function."""

    name: str
    dtype: str
    points: int
    seed: int
    value: QuantityResult | None = None
    grad: QuantityResult | None = None

    @property
    def passed(self) -> bool:
        return all(r.passed for r in (self.value, self.grad) if r is not None)

    def message(self) -> str:
        ref = _ref.REFERENCES[self.name]
        out = []
        for r, doc in ((self.value, ref.value_doc), (self.grad, ref.grad_doc)):
            if r is None or r.passed:
                continue
            label = "gradient" if r is self.grad else "value"
            if r.error is not None:
                out.append(f"{self.name} ({label}: {doc}) raised: {r.error}")
                continue
            out.append(f"{self.name} ({label}: {doc}), {self.dtype}:")
            out.append(
                f"{r.over_budget} of {r.outputs} outputs exceed the budget; {r.nonfinite} "
                f"non-finite; worst {_fmt(r.max_ulp)} ULP, relative error {r.max_rel:.3g}")
            out.append(r.table())
        return "\n".join(out)


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf"
    if math.isnan(x):
        return "nan"
    return f"{x:.3g}"


def format_exact(e: mpmath.mpf) -> str:
    """An exact value to 17 digits; values far below every float range as ``< 1e-400``."""
    if mpmath.isfinite(e) and e != 0 and abs(e) < mpmath.mpf("1e-400"):
        return ("-" if e < 0 else "") + "0 (|x| < 1e-400)"
    return mpmath.nstr(e, 17)


def _format_value(v: Any) -> str:
    if isinstance(v, int | np.integer):
        return str(int(v))
    a = np.asarray(v)
    if a.ndim == 0:
        return repr(float(a))
    items = [_format_value(x) for x in a]
    runs: list[tuple[str, int]] = []
    for s in items:
        if runs and runs[-1][0] == s:
            runs[-1] = (s, runs[-1][1] + 1)
        else:
            runs.append((s, 1))
    if len(items) > 12 and len(runs) <= 4:
        return " + ".join(f"[{s}]*{n}" if n > 1 else f"[{s}]" for s, n in runs)
    return "[" + ", ".join(items) + "]"


def format_input(name: str, pt: tuple, component: int | None = None) -> str:
    """A point as ``z=40.0, y=1`` (reproducible: floats are printed round-trip)."""
    ref = _ref.REFERENCES[name]
    text = ", ".join(f"{a.name}={_format_value(v)}" for a, v in zip(ref.args, pt, strict=True))
    return text if component is None else f"{text} [{component}]"


# ----------------------------------------------------------------------- check


def _compare(res: QuantityResult, name: str, pts, idx, got: np.ndarray, exact: list,
             conds: list, dtype: np.dtype, budget_ulp: float, keep: list) -> None:
    res.points += len(idx)
    tiny = mpmath.mpf(float(np.finfo(dtype).tiny))
    for row, i in enumerate(idx):
        values = np.ravel(got[row])
        for c, (g, e, k) in enumerate(zip(values, exact[i], conds[i], strict=True)):
            g = float(g)
            rel = _rel_error(g, e)
            if isinstance(k, tuple):  # an exact 0: ULPs of the inputs' scale S
                ulp = (ulp_error(g, 0, dtype) if k[1] == 0 else
                       float(mpmath.nstr(abs(mpmath.mpf(g)) / _ulp(mpmath.mpf(k[1]), dtype), 6)))
                budget = budget_ulp
            else:
                ulp = ulp_error(g, e, dtype)
                # an infinite or NaN exact value must be matched, never forgiven by κ
                budget = budget_ulp * max(1.0, k) if mpmath.isfinite(e) else 0.0
            finite_exact = mpmath.isfinite(e) and abs(e) <= mpmath.mpf(float(np.finfo(dtype).max))
            if not math.isfinite(g) and finite_exact:
                res.nonfinite += 1
                budget = 0.0  # never forgiven by the condition number
            res.outputs += 1
            res.max_ulp = max(res.max_ulp, ulp) if ulp == ulp else math.inf
            if e == 0 or abs(e) >= tiny:  # relative error means little for subnormals
                res.max_rel = max(res.max_rel, rel) if rel == rel else math.inf
            bad = not ulp <= budget
            res.over_budget += bad
            comp = c if len(exact[i]) > 1 else None
            keep.append((bad, ulp / budget if budget > 0 else (math.inf if ulp else 0.0),
                         lambda i=i, comp=comp, e=e, g=g, ulp=ulp, rel=rel, budget=budget:
                         Mismatch(format_input(name, pts[i], comp), format_exact(e),
                                  repr(g), ulp, rel, budget)))


def _finish(res: QuantityResult, keep: list) -> None:
    keep.sort(key=lambda t: (t[0], t[1] if t[1] == t[1] else math.inf), reverse=True)
    res.failures = [make() for bad, _, make in keep[:_FAILURES] if bad]
    # the table shows distinct findings, one input per (expected, got) pair, taking each
    # kind of failure in turn (the first _SCAN outputs, worst first, are looked at)
    seen: set[tuple[str, str]] = set()
    distinct = []
    for _, _, make in keep[:_SCAN]:
        m = make()
        if (m.expected, m.got) not in seen:
            seen.add((m.expected, m.got))
            distinct.append(m)
    res.worst = _tables.sample_kinds(distinct, lambda m: m.kind, _SHOW, last="ok")


def _adapt(fn: Callable | None, framework: str) -> Callable | None:
    if fn is None:
        return None
    if framework == "numpy":
        return fn
    if framework == "torch":
        return torch_function(fn)
    if framework == "jax":
        return jax_function(fn)
    raise ValueError(f"framework: 'numpy', 'torch' or 'jax', got {framework!r}")


def _gradient_fn(fn: Callable | None, grad: Any, framework: str, wrt: int) -> Callable | None:
    if grad is None:
        return None
    if isinstance(grad, str):
        if grad != "autodiff":
            raise ValueError(f"grad: a callable, 'autodiff' or None, got {grad!r}")
        if fn is None:
            raise ValueError("grad='autodiff' needs fn")
        if framework == "torch":
            return torch_gradient(fn, wrt=wrt)
        if framework == "jax":
            return jax_gradient(fn, wrt=wrt)
        raise ValueError("grad='autodiff' needs framework='torch' or 'jax'")
    if not callable(grad):
        raise TypeError(f"grad: a callable, 'autodiff' or None, got {type(grad).__name__}")
    return _adapt(grad, framework)


#: dtype kinds an output may have: float, signed and unsigned integer.
_REAL_KINDS = frozenset("fiu")
_KIND_NAMES = {"c": "complex", "b": "bool", "O": "object", "U": "str", "S": "bytes",
               "V": "structured", "M": "datetime", "m": "timedelta"}


def _real_output(raw: Any, who: str) -> np.ndarray:
    """The output of ``fn``/``grad`` as a real array, or a ``TypeError`` naming it.

    A complex output is refused even when its imaginary part is 0 (the function computes
    in complex arithmetic, so its real part is not the quantity checked), and so are bool,
    object, string, ``None``, ragged and masked outputs: casting them to float would check
    a number the function never returned.
    """
    if raw is None or isinstance(raw, str | bytes):
        raise TypeError(f"the output of {who}: {type(raw).__name__}; a real floating-point "
                        f"array is needed (one value per batch element)")
    if isinstance(raw, np.ma.MaskedArray) and np.ma.is_masked(raw):
        raise TypeError(f"the output of {who}: a masked array with masked entries; their "
                        f"values are not results")
    try:
        out = np.asarray(raw)
    except ValueError as exc:  # ragged nested sequences
        raise TypeError(f"the output of {who}: not an array ({exc})") from None
    if out.dtype.kind not in _REAL_KINDS:
        kind = _KIND_NAMES.get(out.dtype.kind, str(out.dtype))
        raise TypeError(f"the output of {who}: dtype {out.dtype} ({kind}); a real "
                        f"floating-point array is needed"
                        + (" (a zero imaginary part is still complex)" if kind == "complex"
                           else ""))
    return out


def check_reference(fn: Callable | None, name: str, *, grad: Any = None,
                    dtype: Any = np.float64, points: int = DEFAULT_POINTS, seed: int = 0,
                    budget_ulp: float = DEFAULT_BUDGET_ULP, framework: str = "numpy",
                    integer_labels: bool = False) -> CheckReport:
    """Like :func:`assert_matches_reference`, but return the :class:`CheckReport`.

    An exception raised by ``fn``/``grad`` is recorded in the report (``error``) rather
    than propagated; ``fn=None`` checks a gradient alone.  An output that is not a real
    array (complex, bool, object, ``None`` …) raises ``TypeError`` naming it.
    """
    ref = _reference(name)
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype: float32 or float64, got {dt}")
    if points < 0:
        raise ValueError(f"points: must be >= 0, got {points}")
    if grad is not None and not ref.has_grad:
        have = [k for k, r in _ref.REFERENCES.items() if r.has_grad]
        raise ValueError(f"{name}: there is no gradient reference (gradients: {have})")
    value_fn = _adapt(fn, framework)
    grad_fn = _gradient_fn(fn, grad, framework, ref.wrt or 0)
    pts = _points(name, dt.name, points, seed, integer_labels)
    exp = _expected(name, dt.name, points, seed, integer_labels, grad_fn is not None)
    report = CheckReport(name, dt.name, len(pts), seed)
    jobs = []
    if value_fn is not None:
        report.value = QuantityResult("value")
        jobs.append((report.value, value_fn, [e.value for e in exp],
                     [e.value_cond for e in exp]))
    if grad_fn is not None:
        report.grad = QuantityResult("gradient")
        jobs.append((report.grad, grad_fn, [e.grad for e in exp], [e.grad_cond for e in exp]))
    for res, f, exact, conds in jobs:
        keep: list = []
        for idx, args in _batches(ref, pts, dt, integer_labels):
            if res is report.grad:
                want = args[ref.wrt].shape
            else:
                want = (len(idx), len(exact[idx[0]])) if ref.vector_value else (len(idx),)
            try:
                raw = f(*args)
            except Exception as exc:  # a report: the caller decides what an exception means
                res.error = f"{type(exc).__name__}: {exc} (at {format_input(name, pts[idx[0]])}" \
                            f" and {len(idx) - 1} more inputs of the same shape)"
                break
            out = _real_output(raw, "fn" if res is report.value else "grad")
            if out.shape != want:
                res.error = (f"returned shape {out.shape} for {len(idx)} inputs, expected "
                             f"{want} (one value per batch element: e.g. reduction='none')")
                break
            _compare(res, name, pts, idx, out.astype(np.float64), exact, conds, dt,
                     budget_ulp, keep)
        _finish(res, keep)
    return report


def assert_matches_reference(fn: Callable | None, name: str, *, grad: Any = None,
                             dtype: Any = np.float64, points: int = DEFAULT_POINTS,
                             seed: int = 0, budget_ulp: float = DEFAULT_BUDGET_ULP,
                             framework: str = "numpy",
                             integer_labels: bool = False) -> CheckReport:
    """Assert that ``fn`` (and ``grad``) computes the reference quantity ``name``.

    Parameters
    ----------
    fn
        Your function, called with batched arrays as in the table of this module; it must
        return one value per batch element.  ``None`` checks ``grad`` alone.
    name
        A reference quantity: a derivation such as ``"bce-gradient"`` or a building block
        such as ``"logsumexp"`` (:func:`reference_names`).
    grad
        ``None``; a function with the same arguments returning the gradient of the
        per-element value with respect to the first argument; or ``"autodiff"`` with
        ``framework="torch"``/``"jax"`` to differentiate ``fn`` itself.
    dtype
        ``np.float64`` or ``np.float32``: the inputs' dtype and the ULPs the error is
        counted in.
    points, seed
        How many seeded random inputs are added to the adversarial ones.
    budget_ulp
        Allowed error in ULPs, multiplied by ``max(1, κ)`` at each input (κ: condition
        number; see the module docstring).
    framework
        ``"numpy"`` (default), ``"torch"`` or ``"jax"``: how ``fn``/``grad`` are called.
    integer_labels
        Targets as class indices (softmax) or 0/1 integers (BCE).

    Returns
    -------
    CheckReport
        Worst errors and counts, when everything passed.

    Raises
    ------
    AssertionError
        With a table of the worst inputs, when an output is outside its budget, is NaN or
        infinite where the exact value is finite, has the wrong shape, or ``fn`` raised.
    KeyError
        ``name`` is not a reference quantity.
    TypeError
        ``fn`` or ``grad`` returned something that is not a real array: complex (even with
        a zero imaginary part), bool, object, strings, ``None``, a ragged sequence or a
        masked array with masked entries.

    Examples
    --------
    >>> import numpy as np
    >>> naive = lambda z, y: -(y * np.log(1 / (1 + np.exp(-z)))
    ...                        + (1 - y) * np.log(1 - 1 / (1 + np.exp(-z))))
    >>> with np.errstate(all="ignore"):
    ...     assert_matches_reference(naive, "bce-gradient", points=0)
    Traceback (most recent call last):
    ...
    AssertionError: bce-gradient (value: L = -[y log σ(z) + (1 - y) log(1 - σ(z))] per element)...
    """
    report = check_reference(fn, name, grad=grad, dtype=dtype, points=points, seed=seed,
                             budget_ulp=budget_ulp, framework=framework,
                             integer_labels=integer_labels)
    if not report.passed:
        raise AssertionError(report.message())
    return report


# -------------------------------------------------------------------- adapters


def _torch_args(args: Sequence, torch: Any) -> list:
    out = []
    for a in args:
        if isinstance(a, np.ndarray):
            out.append(torch.from_numpy(np.array(a, copy=True)))
        else:
            out.append(a)
    return out


def torch_function(fn: Callable) -> Callable:
    """``fn`` (tensors in, a tensor out) as a function of NumPy arrays (dtype kept)."""
    import torch

    def call(*args: Any) -> np.ndarray:
        with torch.no_grad():
            return fn(*_torch_args(args, torch)).detach().cpu().numpy()

    return call


def torch_gradient(fn: Callable, wrt: int = 0) -> Callable:
    """The gradient of ``fn(...).sum()`` with respect to argument ``wrt``, by autograd."""
    import torch

    def call(*args: Any) -> np.ndarray:
        targs = _torch_args(args, torch)
        x = targs[wrt].requires_grad_(True)
        (g,) = torch.autograd.grad(fn(*targs).sum(), x)
        return g.detach().cpu().numpy()

    return call


def _jax_args(args: Sequence, jnp: Any) -> list:
    return [jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]


def _x64(args: Sequence) -> bool:
    return any(isinstance(a, np.ndarray) and a.dtype == np.float64 for a in args)


def jax_function(fn: Callable) -> Callable:
    """``fn`` (JAX arrays in and out) as a function of NumPy arrays; float64 inputs are
    evaluated with ``jax.enable_x64`` so they stay float64."""
    import jax
    import jax.numpy as jnp

    def call(*args: Any) -> np.ndarray:
        with jax.enable_x64(_x64(args)):
            return np.asarray(fn(*_jax_args(args, jnp)))

    return call


def jax_gradient(fn: Callable, wrt: int = 0) -> Callable:
    """The gradient of ``jnp.sum(fn(...))`` with respect to argument ``wrt``, by ``jax.grad``."""
    import jax
    import jax.numpy as jnp

    def call(*args: Any) -> np.ndarray:
        with jax.enable_x64(_x64(args)):
            jargs = _jax_args(args, jnp)

            def total(x):
                return jnp.sum(fn(*jargs[:wrt], x, *jargs[wrt + 1:]))

            return np.asarray(jax.grad(total)(jargs[wrt]))

    return call
