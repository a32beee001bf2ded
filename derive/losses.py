"""Loss gradients, derived: BCE and the sigmoid, softmax cross-entropy for any K, temperature,
label smoothing, distillation, MSE versus cross-entropy, perplexity.

"The gradient is prediction minus target" is derived here with every step checked, for a
general number of classes ``K`` (``IndexedBase`` vectors, ``Sum`` over ``k = 1..K``), and
with what each step relies on stated: ``Σ_k y_k = 1`` for softmax, the ``1/T`` of a
temperature, the ``T²`` of distillation.

==================================  ==================================================
name                                result
==================================  ==================================================
``sigmoid-derivative``              σ'(z) = σ(z)(1 − σ(z))
``bce-gradient``                    ∂L/∂z = σ(z) − y; L = softplus(z) − y z; L'' ≥ 0
``bce-probability-gradient``        ∂L/∂p̂ = −y/p̂ + (1 − y)/(1 − p̂); −20 at p̂ = 0.05, y = 1
``softmax-ce-gradient``             ∂L/∂z_i = p_i − y_i (Σ y = 1); Hessian diag(p) − p pᵀ
``softmax-shift-invariance``        softmax(z + c·1) = softmax(z); the log-sum-exp trick
``binary-as-two-class-softmax``     BCE with logits is softmax CE with logits (z, 0)
``temperature-softmax-gradient``    ∂/∂z_i CE(y, softmax(z/T)) = (softmax_i(z/T) − y_i)/T
``label-smoothing``                 H(y^ε, q) = (1 − ε) H(y, q) + ε H(u, q); p − y^ε
``distillation-gradient``           ∂/∂s_i T² KL(p^t ‖ p^s) = T(p^s_i − p^t_i) → (s_i − t_i)/K
``mse-vs-bce-gradient``             ∂/∂z (σ − y)² = 2(σ − y)σ(1 − σ): the vanishing gradient
``perplexity-of-cross-entropy``     PPL = exp(H in nats) = 2^(H in bits)
==================================  ==================================================

Symbolic differentiation of ``Sum(f(z[k]), (k, 1, K))`` with respect to ``z[i]`` gives
``Sum(KroneckerDelta(i, k) f'(z[k]), (k, 1, K))``, which SymPy evaluates to a
``Piecewise`` on ``K >= i``.  :func:`pick_index` evaluates such expressions under
``1 <= i <= K`` (the Kronecker delta picks ``k = i``); it is the core of the ``hint`` the
general-K steps give the symbolic check.  The numeric check always evaluates at concrete
``K`` and ``i``, so every step is checked either way.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import mpmath
import sympy
from sympy import (
    Derivative,
    Eq,
    Function,
    IndexedBase,
    KroneckerDelta,
    Limit,
    Matrix,
    Piecewise,
    Q,
    Rational,
    Subs,
    Sum,
    Symbol,
    UnevaluatedExpr,
    exp,
    log,
    oo,
)

from derive.core import (
    Assumption,
    Definition,
    Derivation,
    EarlierResult,
    Identity,
    IntegerRange,
    Interval,
    LogUniform,
    Step,
    VectorOf,
    register,
)
from derive.functions import sigmoid, softplus

__all__ = ["pick_index", "same_index"]

TOPIC = "losses"

# ------------------------------------------------------------------ shared symbols

#: Number of classes, a free class index, and bound summation indices.
K = Symbol("K", integer=True, positive=True)
i = Symbol("i", integer=True, positive=True)
k = Symbol("k", integer=True)
j = Symbol("j", integer=True)

#: Logits, targets and softmax probabilities: 1-based vectors of length K.
zv = IndexedBase("z", real=True)
yv = IndexedBase("y", real=True)
pv = IndexedBase("p", real=True)

z, y, c = sympy.symbols("z y c", real=True)
T = Symbol("T", positive=True)
eps = Symbol("epsilon", nonnegative=True)

#: Sizes the general-K claims are checked at (numerically; the symbolic check is for any K).
SIZES = IntegerRange(2, 5)
INDEX = IntegerRange(1, K)

_L = Function("L")


# -------------------------------------------------------------------------- helpers


def pick_index(e: sympy.Basic, index: sympy.Symbol = i, lo: sympy.Basic = 1,
               hi: sympy.Basic = K) -> sympy.Basic:
    """``e`` evaluated for an index in range, ``lo <= index <= hi``.

    Sums of a Kronecker delta, ``Sum(KroneckerDelta(index, k) f(k), (k, lo, hi))``, become
    ``f(index)`` (the delta picks ``k = index``), and the ``Piecewise`` index-range
    conditions SymPy attaches to them (``hi >= index``) are resolved with ``refine``
    before anything else simplifies them.

    >>> pick_index(Sum(KroneckerDelta(i, k) * zv[k], (k, 1, K)))
    z[i]
    >>> pick_index(sympy.Piecewise((zv[i], K >= i), (0, True)))
    z[i]
    """
    facts = Q.ge(index, lo) & Q.le(index, hi)
    # evaluate only the Kronecker-delta sums (a full doit() would retry every other sum)
    e = e.replace(lambda x: isinstance(x, Sum) and x.has(KroneckerDelta),
                  lambda s: s.doit(integrals=False))
    return e.replace(lambda x: isinstance(x, Piecewise), lambda pw: sympy.refine(pw, facts))


def same_index(e: sympy.Basic, index: sympy.Symbol = k) -> sympy.Basic:
    """Rename the bound index of every single-index ``Sum`` in ``e`` to ``index``.

    ``Sum(f(j), (j, 1, K))`` and ``Sum(f(k), (k, 1, K))`` are the same number but not the
    same SymPy expression; after renaming they cancel.  A sum whose body already uses
    ``index`` (a nested sum, say) keeps its own index.

    >>> same_index(Sum(zv[j], (j, 1, K))) - Sum(zv[k], (k, 1, K))
    0
    """

    def rename(s: Sum) -> sympy.Basic:
        if len(s.limits) != 1:
            return s
        (var, lo, hi), body = s.limits[0], s.function
        if var == index or index in body.free_symbols:
            return s
        return Sum(body.xreplace({var: index}), (index, lo, hi))

    return e.replace(lambda x: isinstance(x, Sum), rename)


def _canon(e: sympy.Basic) -> sympy.Basic:
    """Expand, split every sum into its terms and pull index-free factors out of it."""
    from sympy.simplify.simplify import factor_sum

    def split(s: Sum) -> sympy.Basic:
        inner = sympy.expand(s.function)
        terms = inner.args if isinstance(inner, sympy.Add) else (inner,)
        return sympy.Add(*[factor_sum(Sum(t, *s.limits)) for t in terms])

    e = sympy.expand(e)
    return sympy.expand(e.replace(lambda x: isinstance(x, Sum), split))


def _sum_hint(e: sympy.Basic) -> sympy.Basic:
    """The symbolic-check hint of the general-K steps: pick ``k = i`` (1 <= i <= K), split
    logs of products and quotients of positive factors, give every sum the same index,
    split the sums and pull out their constants, and evaluate what is left (``Σ_k 1 = K``)."""
    e = pick_index(e)
    e = sympy.expand_log(sympy.expand(e), force=False)
    e = _canon(same_index(_canon(same_index(e))))
    return _canon(e.doit()) if e.has(Sum) else e


def _product_as_exp(e: sympy.Basic) -> sympy.Basic:
    """``Product(f, lims)`` -> ``exp(Sum(log f, lims))`` (for positive ``f``), then every sum
    split and its constant factors pulled out.  Only the sums are canonicalised: ``expand``
    would turn ``exp(Sum)`` back into a ``Product``."""

    def as_exp(pr: sympy.Product) -> sympy.Basic:
        return exp(Sum(sympy.expand_log(log(pr.function), force=False), *pr.limits))

    e = e.replace(lambda x: isinstance(x, sympy.Product), as_exp)
    return e.replace(lambda x: isinstance(x, Sum), _canon)


def _normalise(*bases: IndexedBase) -> Callable[[dict, random.Random], dict]:
    """A ``constrain`` that rescales each vector in ``bases`` so that it sums to 1."""

    def constrain(point: dict, rng: random.Random) -> dict:
        for b in bases:
            total = mpmath.fsum(point[b].values())
            point[b] = {idx: v / total for idx, v in point[b].items()}
        return point

    return constrain


def _zero_mean(*bases: IndexedBase) -> Callable[[dict, random.Random], dict]:
    """A ``constrain`` that shifts each vector in ``bases`` so that it sums to 0."""

    def constrain(point: dict, rng: random.Random) -> dict:
        for b in bases:
            mean = mpmath.fsum(point[b].values()) / len(point[b])
            point[b] = {idx: v - mean for idx, v in point[b].items()}
        return point

    return constrain


def _normalise_symbols(symbols) -> Callable[[dict, random.Random], dict]:
    """A ``constrain`` that rescales the scalar ``symbols`` so that they sum to 1."""

    def constrain(point: dict, rng: random.Random) -> dict:
        total = mpmath.fsum(point[s] for s in symbols)
        return {**point, **{s: point[s] / total for s in symbols}}

    return constrain


def _zero_mean_symbols(*groups) -> Callable[[dict, random.Random], dict]:
    """A ``constrain`` that shifts each group of scalar symbols so that it sums to 0."""

    def constrain(point: dict, rng: random.Random) -> dict:
        point = dict(point)
        for group in groups:
            mean = mpmath.fsum(point[s] for s in group) / len(group)
            point.update({s: point[s] - mean for s in group})
        return point

    return constrain


def _softmax(v: IndexedBase, index: sympy.Basic = i, scale: sympy.Basic = 1) -> sympy.Expr:
    """``exp(v[index]/scale) / Sum(exp(v[j]/scale), (j, 1, K))``."""
    return exp(v[index] / scale) / Sum(exp(v[j] / scale), (j, 1, K))


def _log_sum_exp(v: IndexedBase, scale: sympy.Basic = 1) -> sympy.Expr:
    return log(Sum(exp(v[j] / scale), (j, 1, K)))


def _frac(num: sympy.Expr, den: sympy.Expr) -> sympy.Expr:
    """``num/den`` as written (SymPy would cancel or distribute it): for display."""
    return sympy.Mul(num, sympy.Pow(den, -1, evaluate=False), evaluate=False)


# ----------------------------------------------------------- titles and statements

_TEXT = {
    "sigmoid-derivative": (
        "The derivative of the sigmoid",
        "σ'(z) = σ(z)(1 − σ(z)) for σ(z) = 1/(1 + exp(−z)).",
    ),
    "bce-gradient": (
        "Binary cross-entropy with logits: gradient and convexity",
        "L(z, y) = −[y log σ(z) + (1 − y) log(1 − σ(z))] = softplus(z) − y z has "
        "∂L/∂z = σ(z) − y and ∂²L/∂z² = σ(z)(1 − σ(z)) ≥ 0.",
    ),
    "bce-probability-gradient": (
        "Binary cross-entropy: the gradient in the probability",
        "∂/∂p̂ of −[y log p̂ + (1 − y) log(1 − p̂)] is −y/p̂ + (1 − y)/(1 − p̂) = "
        "(p̂ − y)/(p̂(1 − p̂)); at p̂ = 0.05, y = 1 it is −20.",
    ),
    "softmax-ce-gradient": (
        "Softmax cross-entropy: the gradient is p − y",
        "For K classes, L(z, y) = −Σ_k y_k log softmax_k(z) has ∂L/∂z_i = p_i − y_i when "
        "Σ_k y_k = 1 (p = softmax(z)), and Hessian diag(p) − p pᵀ.",
    ),
    "softmax-shift-invariance": (
        "Softmax is invariant to shifting every logit",
        "softmax(z + c·1) = softmax(z) for every real c; with c = −m, m = max_j z_j, this is "
        "the log-sum-exp trick log Σ_j exp(z_j) = m + log Σ_j exp(z_j − m).",
    ),
    "binary-as-two-class-softmax": (
        "Sigmoid cross-entropy is two-class softmax cross-entropy",
        "With logits (z, 0) and target (y, 1 − y), softmax gives (σ(z), 1 − σ(z)), and the "
        "two-class softmax cross-entropy is the binary cross-entropy softplus(z) − y z, "
        "with the same gradient σ(z) − y.",
    ),
    "temperature-softmax-gradient": (
        "Softmax cross-entropy at temperature T",
        "For K classes and a positive temperature T, ∂/∂z_i of −Σ_k y_k log softmax_k(z/T) is "
        "(softmax_i(z/T) − y_i)/T when Σ_k y_k = 1: the temperature scales the gradient by 1/T.",
    ),
    "label-smoothing": (
        "Label smoothing: a mixture of targets, and its gradient",
        "With y^ε = (1 − ε) y + ε/K: H(y^ε, q) = (1 − ε) H(y, q) + ε H(u, q) for the uniform "
        "u, and ∂H(y^ε, softmax(z))/∂z_i = p_i − y^ε_i when Σ_k y_k = 1.",
    ),
    "distillation-gradient": (
        "Knowledge distillation: the gradient and the T² factor",
        "L = T² D_KL(softmax(t/T) ‖ softmax(s/T)) has ∂L/∂s_i = T (p^s_i − p^t_i); for "
        "zero-mean logits this tends to (s_i − t_i)/K as T → ∞ (Hinton, Vinyals & Dean 2015): "
        "the T² keeps the gradient's scale independent of T.",
    ),
    "mse-vs-bce-gradient": (
        "Why squared error on a sigmoid learns slowly",
        "∂/∂z (σ(z) − y)² = 2(σ(z) − y) σ(z)(1 − σ(z)): the cross-entropy gradient σ(z) − y "
        "times 2σ(z)(1 − σ(z)) = 1/(2 cosh²(z/2)) ≤ 1/2, which vanishes as |z| → ∞, so a "
        "confidently wrong prediction gets almost no gradient.",
    ),
    "perplexity-of-cross-entropy": (
        "Perplexity is the exponential of cross-entropy",
        "PPL(p, q) = exp(H(p, q)) with H in nats equals 2 to the power H₂(p, q), the "
        "cross-entropy in bits, and Π_k q_k^(−p_k); a uniform model over K classes has "
        "perplexity K.",
    ),
}


def _register(name: str):
    title, statement = _TEXT[name]
    return register(name, title=title, statement=statement, topic=TOPIC)


def _derivation(name: str, **fields) -> Derivation:
    title, statement = _TEXT[name]
    return Derivation(name=name, title=title, statement=statement, topic=TOPIC, **fields)


# ------------------------------------------------------- shared reliances and facts

SUM_Y_IS_ONE = Assumption(
    "targets sum to 1",
    Eq(Sum(yv[k], (k, 1, K)), 1),
    constrain=_normalise(yv),
)

_LOGITS = VectorOf(K, Interval(-20, 20))

#: log softmax_i(z) = z_i − log Σ_j exp(z_j).
LOG_SOFTMAX = Identity(
    "log-softmax",
    Eq(log(_softmax(zv)), zv[i] - _log_sum_exp(zv)),
    domains={K: SIZES, i: INDEX, zv: _LOGITS},
)

#: ∂/∂z_i log Σ_j exp(z_j) = softmax_i(z): the gradient of log-sum-exp.
LSE_GRADIENT = Identity(
    "gradient of log-sum-exp",
    Eq(Derivative(_log_sum_exp(zv), zv[i]), _softmax(zv)),
    domains={K: SIZES, i: INDEX, zv: _LOGITS},
)

KRONECKER = "the Kronecker delta picks k = i (1 ≤ i ≤ K)"

_SOFTMAX_DEF = Definition(pv[i], _softmax(zv), "p = softmax(z)")
_BCE = -(y * log(sigmoid(z)) + (1 - y) * log(1 - sigmoid(z)))

_a, _b = IndexedBase("a"), IndexedBase("b")
_H = Function("H")
#: H(a, b) = −Σ_k a_k log b_k: the cross-entropy of b relative to a, in nats.
_CE_DEF = Definition(_H(_a, _b), -Sum(_a[k] * log(_b[k]), (k, 1, K)), "cross-entropy")

qv = IndexedBase("q", positive=True)
uv = IndexedBase("u", positive=True)
_UNIFORM_DEF = Definition(uv[i], 1 / K, "the uniform distribution")


# ------------------------------------------------------------------ sigmoid and BCE


@_register("sigmoid-derivative")
def _sigmoid_derivative() -> Derivation:
    u = 1 + exp(-z)
    return _derivation(
        "sigmoid-derivative",
        steps=[
            Step(Eq(sigmoid(z), 1 / u), "definition of the logistic sigmoid"),
            Step(Eq(Derivative(sigmoid(z), z), exp(-z) / u**2),
                 "chain rule: d/dz (1 + exp(−z))⁻¹ = −(1 + exp(−z))⁻² · (−exp(−z))"),
            Step(1 / u * (exp(-z) / u), "split the square"),
            Step(1 / u * (1 - 1 / u), "exp(−z)/(1 + exp(−z)) = 1 − 1/(1 + exp(−z))"),
            Step(sigmoid(z) * (1 - sigmoid(z)), "definition of σ(z)"),
        ],
        result=Eq(Derivative(sigmoid(z), z), sigmoid(z) * (1 - sigmoid(z))),
        domains={z: Interval(-30, 30)},
        definitions=[Definition(sigmoid(z), 1 / u, "σ(z) = 1/(1 + exp(−z))")],
        parameters=(z,),
    )


@_register("bce-gradient")
def _bce_gradient() -> Derivation:
    L = _L(z, y)
    return _derivation(
        "bce-gradient",
        steps=[
            Step(Eq(L, _BCE), "definition of binary cross-entropy of the logit z"),
            Step(y * softplus(-z) + (1 - y) * softplus(z),
                 "log σ(z) = −log(1 + exp(−z)) = −softplus(−z) and "
                 "log(1 − σ(z)) = log(exp(−z)/(1 + exp(−z))) = −softplus(z)"),
            Step(y * (softplus(z) - z) + (1 - y) * softplus(z),
                 "softplus(−z) = log(exp(−z)(exp(z) + 1)) = softplus(z) − z"),
            Step(softplus(z) - y * z,
                 "collect: the cancellation-free form, with no log of a rounded probability"),
            Step(Eq(Derivative(L, z), sigmoid(z) - y),
                 "differentiate: d softplus(z)/dz = exp(z)/(1 + exp(z)) = σ(z)"),
            Step(Eq(Derivative(L, (z, 2)), Derivative(sigmoid(z), z)),
                 "differentiate once more; y does not depend on z"),
            Step(sigmoid(z) * (1 - sigmoid(z)), "the derivative of the sigmoid",
                 relies_on=(EarlierResult("sigmoid-derivative"),)),
            Step(sympy.S.Zero, "σ(z) ∈ (0, 1), so both factors are positive: L is convex in z",
                 relation=">=", hint=lambda d: sympy.factor(d.rewrite(exp))),
        ],
        result=Eq(Derivative(L, z), sigmoid(z) - y),
        domains={z: Interval(-30, 30), y: Interval(0, 1)},
        definitions=[Definition(L, _BCE, "binary cross-entropy with logits")],
        parameters=(z, y),
    )


@_register("bce-probability-gradient")
def _bce_probability_gradient() -> Derivation:
    ph = Symbol("phat", positive=True)   # printed \hat{p}
    L = _L(ph, y)
    loss = -(y * log(ph) + (1 - y) * log(1 - ph))
    grad = Derivative(L, ph)
    twentieth = Rational(1, 20)
    return _derivation(
        "bce-probability-gradient",
        steps=[
            Step(Eq(L, loss), "definition of binary cross-entropy of a probability p̂"),
            Step(Eq(grad, -y / ph + (1 - y) / (1 - ph)),
                 "d log p̂/dp̂ = 1/p̂ and d log(1 − p̂)/dp̂ = −1/(1 − p̂)"),
            Step((ph - y) / (ph * (1 - ph)), "common denominator p̂(1 − p̂)"),
            Step(Eq(Subs(grad, (ph, y), (twentieth, 1)), -1 / UnevaluatedExpr(twentieth)),
                 "at p̂ = 0.05 = 1/20 and y = 1 the second term of (2) vanishes: −1/p̂"),
            Step(sympy.Integer(-20),
                 "= −20, not ≈ −19: the gradient is −1/p̂ = −20, and 1 − 1/p̂ = −19 is not it"),
        ],
        result=Eq(grad, -y / ph + (1 - y) / (1 - ph)),
        domains={ph: Interval(0.001, 0.999), y: Interval(0, 1)},
        definitions=[Definition(L, loss, "binary cross-entropy of a probability")],
        parameters=(ph, y),
    )


# ------------------------------------------------------------------ softmax, any K


class _Hessian(Function):
    """``_Hessian(f, x_1, ..., x_n)``: the matrix of second derivatives ∂²f/∂x_a∂x_b.

    Printed ``∇² f``; ``doit()`` gives the explicit ``n × n`` matrix, so a step
    ``Eq(_Hessian(f, ...), M, evaluate=False)`` is checked entry by entry.
    """

    def doit(self, **hints):
        f, *xs = self.args
        n = len(xs)
        return sympy.ImmutableMatrix(n, n, lambda a, b: Derivative(f, xs[a], xs[b])).doit(**hints)

    def _latex(self, printer, exp=None):
        return rf"\nabla^{{2}} {printer._print(self.args[0])}"

    def _sympystr(self, printer):
        return f"hessian({printer._print(self.args[0])})"

    def _lossproof_text(self, printer):
        return f"∇²{printer._print(self.args[0])}"


class _L3(Function):
    """The K = 3 softmax cross-entropy as a function of (z_1, z_2, z_3), printed ``L_3``
    (without its arguments) in LaTeX."""

    nargs = 3

    def _latex(self, printer, exp=None):
        return "L_{3}" if exp is None else f"L_{{3}}^{{{exp}}}"

    def _lossproof_text(self, printer):
        return "L₃"


@_register("softmax-ce-gradient")
def _softmax_ce_gradient() -> Derivation:
    L = _L(zv, yv)
    loss = -Sum(yv[k] * log(pv[k]), (k, 1, K))
    lse = _log_sum_exp(zv)
    sum_y = Sum(yv[k], (k, 1, K))
    # K = 3 written out, for the Hessian as a matrix
    z3 = sympy.symbols("z_1:4", real=True)
    y3 = sympy.symbols("y_1:4", real=True)
    p3 = Matrix(sympy.symbols("p_1:4", positive=True))
    L3 = _L3(*z3)
    loss3 = -sum(ya * log(pa) for ya, pa in zip(y3, p3, strict=True))
    sum_y3 = sum(y3)
    diag_minus_outer = sympy.diag(*p3) - p3 * p3.T
    sum_y3_is_one = Assumption("targets sum to 1 (K = 3)", Eq(sum_y3, 1),
                               constrain=_normalise_symbols(y3),
                               subs=((y3[2], 1 - y3[0] - y3[1]),))
    return _derivation(
        "softmax-ce-gradient",
        steps=[
            Step(Eq(L, loss), "definition of cross-entropy, with p = softmax(z)"),
            Step(-Sum(yv[k] * (zv[k] - lse), (k, 1, K)),
                 "log softmax_k(z) = z_k − log Σ_j exp(z_j)", relies_on=(LOG_SOFTMAX,),
                 hint=_sum_hint),
            Step(-Sum(yv[k] * zv[k], (k, 1, K)) + sum_y * lse,
                 "split the sum; log Σ_j exp(z_j) does not depend on k", hint=_sum_hint),
            Step(Eq(Derivative(L, zv[i]), -yv[i] + sum_y * Derivative(lse, zv[i])),
                 "differentiate: ∂z_k/∂z_i = δ_ik, and " + KRONECKER, hint=_sum_hint),
            Step(-yv[i] + sum_y * _softmax(zv),
                 "∂/∂z_i log Σ_j exp(z_j) = exp(z_i)/Σ_j exp(z_j)", relies_on=(LSE_GRADIENT,),
                 hint=_sum_hint),
            Step(-yv[i] + sum_y * pv[i], "definition of p_i = softmax_i(z)"),
            Step(pv[i] - yv[i], "the targets sum to 1", relies_on=(SUM_Y_IS_ONE,)),
            # the Hessian, for K = 3 classes, as a matrix
            Step(Eq(_Hessian(L3, *z3),
                    sympy.MatMul(sum_y3, diag_minus_outer, evaluate=False), evaluate=False),
                 "K = 3: differentiate ∂L/∂z_a = (Σ_k y_k) p_a − y_a of step (6) once more, "
                 "with ∂p_a/∂z_b = p_a (δ_ab − p_b)"),
            Step(diag_minus_outer, "the targets sum to 1: the Hessian is diag(p) − p pᵀ",
                 relies_on=(sum_y3_is_one,)),
        ],
        result=Eq(Derivative(L, zv[i]), _softmax(zv) - yv[i]),
        domains={K: SIZES, i: INDEX, zv: _LOGITS, yv: VectorOf(K, LogUniform(1e-3, 1)),
                 **{s: Interval(-20, 20) for s in z3}, **{s: LogUniform(1e-3, 1) for s in y3}},
        definitions=[Definition(L, loss, "softmax cross-entropy"), _SOFTMAX_DEF,
                     Definition(L3, loss3, "softmax cross-entropy, K = 3"),
                     *[Definition(p3[a], exp(z3[a]) / sum(map(exp, z3)), f"p_{a + 1}, K = 3")
                       for a in range(3)]],
        parameters=(zv, yv),
        result_hint=_sum_hint,
        result_assumptions=(SUM_Y_IS_ONE,),
    )


@_register("softmax-shift-invariance")
def _softmax_shift_invariance() -> Derivation:
    m = Symbol("m", real=True)
    shifted = exp(zv[i] + c) / Sum(exp(zv[j] + c), (j, 1, K))
    return _derivation(
        "softmax-shift-invariance",
        steps=[
            Step(Eq(shifted, exp(c) * exp(zv[i]) / Sum(exp(c) * exp(zv[j]), (j, 1, K))),
                 "softmax_i(z + c·1), by definition; exp(a + b) = exp(a) exp(b)",
                 hint=_sum_hint),
            Step(_frac(exp(c) * exp(zv[i]),
                       sympy.Mul(exp(c), Sum(exp(zv[j]), (j, 1, K)), evaluate=False)),
                 "exp(c) does not depend on j: take it out of the sum", hint=_sum_hint),
            Step(_softmax(zv), "cancel the positive factor exp(c)", hint=_sum_hint),
            Step(Eq(_log_sum_exp(zv), log(exp(m) * Sum(exp(zv[j] - m), (j, 1, K)))),
                 "the same factorisation with c = −m: exp(z_j) = exp(m) exp(z_j − m)",
                 hint=_sum_hint),
            Step(m + log(Sum(exp(zv[j] - m), (j, 1, K))),
                 "log(exp(m) S) = m + log S; with m = max_j z_j every exponent z_j − m is ≤ 0, "
                 "so no exp overflows", hint=_sum_hint),
        ],
        result=Eq(shifted, _softmax(zv)),
        domains={K: SIZES, i: INDEX, zv: _LOGITS, c: Interval(-20, 20), m: Interval(-20, 20)},
        parameters=(zv,),
        result_hint=_sum_hint,
    )


@_register("binary-as-two-class-softmax")
def _binary_as_two_class_softmax() -> Derivation:
    w = IndexedBase("w", real=True)   # the two logits (z, 0)
    t = IndexedBase("t", real=True)   # the two targets (y, 1 − y)
    L2 = Function("L_2")(z, y)

    def softmax2(a: int) -> sympy.Expr:
        return exp(w[a]) / Sum(exp(w[j]), (j, 1, 2))

    ce2 = -Sum(t[k] * log(exp(w[k]) / Sum(exp(w[j]), (j, 1, 2))), (k, 1, 2))
    written = -(y * log(exp(z) / (exp(z) + 1)) + (1 - y) * log(1 / (exp(z) + 1)))
    return _derivation(
        "binary-as-two-class-softmax",
        steps=[
            Step(Eq(softmax2(1), exp(z) / (exp(z) + 1)),
                 "K = 2 logits w = (z, 0): exp(w_1) = exp(z) and exp(w_2) = exp(0) = 1"),
            Step(1 / (1 + exp(-z)), "divide numerator and denominator by exp(z)"),
            Step(sigmoid(z), "definition of σ(z)"),
            Step(Eq(softmax2(2), 1 / (exp(z) + 1)), "the second class: exp(0) = 1"),
            Step(1 - sigmoid(z), "1 − σ(z) = 1 − exp(z)/(exp(z) + 1) = 1/(exp(z) + 1)"),
            Step(Eq(L2, ce2), "two-class softmax cross-entropy with target t = (y, 1 − y)"),
            Step(written, "write out the sum over k = 1, 2"),
            Step(_BCE, "steps (3) and (5): softmax(z, 0) = (σ(z), 1 − σ(z))"),
            Step(softplus(z) - y * z, "the cancellation-free form of binary cross-entropy",
                 relies_on=(EarlierResult("bce-gradient"),)),
            Step(Eq(Derivative(L2, z), sigmoid(z) - y),
                 "differentiate as in bce-gradient; it is p_1 − t_1 of softmax-ce-gradient "
                 "(the targets t sum to 1)",
                 relies_on=(EarlierResult("bce-gradient"), EarlierResult("softmax-ce-gradient"))),
        ],
        result=Eq(L2, softplus(z) - y * z),
        domains={z: Interval(-30, 30), y: Interval(0, 1)},
        definitions=[Definition(L2, ce2, "two-class softmax cross-entropy"),
                     Definition(w[k], z * KroneckerDelta(k, 1), "logits w = (z, 0)"),
                     Definition(t[k], y * KroneckerDelta(k, 1) + (1 - y) * KroneckerDelta(k, 2),
                                "target t = (y, 1 − y)")],
        parameters=(z, y),
    )


@_register("temperature-softmax-gradient")
def _temperature_softmax_gradient() -> Derivation:
    L = _L(zv, yv, T)
    loss = -Sum(yv[k] * log(pv[k]), (k, 1, K))
    lse = _log_sum_exp(zv, T)
    sum_y = Sum(yv[k], (k, 1, K))
    return _derivation(
        "temperature-softmax-gradient",
        steps=[
            Step(Eq(L, loss), "definition: cross-entropy with p = softmax(z/T)"),
            Step(-Sum(yv[k] * (zv[k] / T - lse), (k, 1, K)),
                 "log softmax_k(u) = u_k − log Σ_j exp(u_j) at u = z/T", relies_on=(LOG_SOFTMAX,),
                 hint=_sum_hint),
            Step(-Sum(yv[k] * zv[k], (k, 1, K)) / T + sum_y * lse,
                 "split the sum; log Σ_j exp(z_j/T) does not depend on k", hint=_sum_hint),
            Step(Eq(Derivative(L, zv[i]), -yv[i] / T + sum_y * Derivative(lse, zv[i])),
                 "differentiate: ∂(z_k/T)/∂z_i = δ_ik/T, and " + KRONECKER, hint=_sum_hint),
            Step(-yv[i] / T + sum_y * _softmax(zv, i, T) / T,
                 "chain rule: ∂/∂z_i log Σ_j exp(z_j/T) = softmax_i(z/T) · ∂(z_i/T)/∂z_i, "
                 "the factor 1/T", relies_on=(LSE_GRADIENT,), hint=_sum_hint),
            Step(-yv[i] / T + sum_y * pv[i] / T, "definition of p_i = softmax_i(z/T)"),
            Step((pv[i] - yv[i]) / T, "the targets sum to 1", relies_on=(SUM_Y_IS_ONE,)),
        ],
        result=Eq(Derivative(L, zv[i]), (_softmax(zv, i, T) - yv[i]) / T),
        domains={K: SIZES, i: INDEX, T: LogUniform(0.25, 8), zv: _LOGITS,
                 yv: VectorOf(K, LogUniform(1e-3, 1))},
        definitions=[Definition(L, loss, "softmax cross-entropy at temperature T"),
                     Definition(pv[i], _softmax(zv, i, T), "p = softmax(z/T)")],
        parameters=(zv, yv, T),
        result_hint=_sum_hint,
    )


@_register("label-smoothing")
def _label_smoothing() -> Derivation:
    ys = IndexedBase("y^epsilon", real=True)   # the smoothed target y^ε
    smoothed = (1 - eps) * yv[i] + eps / K
    sum_ys = Sum(ys[k], (k, 1, K))
    return _derivation(
        "label-smoothing",
        steps=[
            Step(Eq(_H(ys, qv), -Sum(ys[k] * log(qv[k]), (k, 1, K))),
                 "definition of cross-entropy, H(a, b) = −Σ_k a_k log b_k"),
            Step(-Sum(((1 - eps) * yv[k] + eps / K) * log(qv[k]), (k, 1, K)),
                 "definition of the smoothed target y^ε_k = (1 − ε) y_k + ε/K"),
            Step(-(1 - eps) * Sum(yv[k] * log(qv[k]), (k, 1, K))
                 - eps * Sum(log(qv[k]) / K, (k, 1, K)),
                 "split the sum; 1 − ε and ε do not depend on k", hint=_sum_hint),
            Step((1 - eps) * _H(yv, qv) + eps * _H(uv, qv),
                 "definitions of H and of the uniform distribution u_k = 1/K", hint=_sum_hint),
            Step(Eq(sum_ys, (1 - eps) * Sum(yv[k], (k, 1, K)) + eps),
                 "the smoothed target's total: Σ_k ε/K = ε", hint=_sum_hint),
            Step(sympy.S.One, "the targets sum to 1, so y^ε does too",
                 relies_on=(SUM_Y_IS_ONE,)),
            Step(Eq(Derivative(_H(ys, pv), zv[i]), sum_ys * pv[i] - ys[i]),
                 "as in softmax-ce-gradient before its last step, for the target y^ε: "
                 "∂/∂z_i of −Σ_k a_k log softmax_k(z) is (Σ_k a_k) p_i − a_i; " + KRONECKER,
                 relies_on=(EarlierResult("softmax-ce-gradient"),), hint=_sum_hint),
            Step(pv[i] - ys[i], "step (6): Σ_k y^ε_k = 1", relies_on=(SUM_Y_IS_ONE,)),
            Step(pv[i] - smoothed, "definition of y^ε_i"),
            Step(pv[i] - yv[i] + eps * (yv[i] - 1 / K),
                 "regroup: the unsmoothed gradient p_i − y_i plus ε (y_i − u_i) — smoothing "
                 "pulls the gradient toward the uniform distribution"),
        ],
        result=Eq(Derivative(_H(ys, pv), zv[i]), _softmax(zv) - yv[i] + eps * (yv[i] - 1 / K)),
        domains={K: SIZES, i: INDEX, eps: Interval(0, 1), zv: _LOGITS,
                 yv: VectorOf(K, LogUniform(1e-3, 1)), qv: VectorOf(K, LogUniform(1e-3, 1))},
        definitions=[_CE_DEF, _SOFTMAX_DEF, _UNIFORM_DEF,
                     Definition(ys[i], smoothed, "the smoothed target y^ε")],
        parameters=(zv, yv, eps),
        result_hint=_sum_hint,
    )


@_register("distillation-gradient")
def _distillation_gradient() -> Derivation:
    sv, tv = IndexedBase("s", real=True), IndexedBase("t", real=True)
    ps, pt = IndexedBase("p^s", positive=True), IndexedBase("p^t", positive=True)
    L = _L(sv, tv, T)
    loss = T**2 * Sum(pt[k] * log(pt[k] / ps[k]), (k, 1, K))
    sum_pt = Sum(pt[k], (k, 1, K))
    ce = Sum(pt[k] * log(ps[k]), (k, 1, K))
    u = Symbol("u", positive=True)

    def g(v: IndexedBase) -> sympy.Expr:   # softmax_i(u v): the probabilities at u = 1/T
        return exp(u * v[i]) / Sum(exp(u * v[j]), (j, 1, K))

    sum_s, sum_t = Sum(sv[k], (k, 1, K)), Sum(tv[k], (k, 1, K))
    zero_mean = Assumption("zero-mean logits", sympy.And(Eq(sum_s, 0), Eq(sum_t, 0)),
                           constrain=_zero_mean(sv, tv), subs=((sum_s, 0), (sum_t, 0)))
    # K = 3 written out, for the limit itself: SymPy's limit needs the sum written out
    s3, t3 = sympy.symbols("s_1:4", real=True), sympy.symbols("t_1:4", real=True)
    gap3 = T * (exp(s3[0] / T) / sum(exp(x / T) for x in s3)
                - exp(t3[0] / T) / sum(exp(x / T) for x in t3))
    zero_mean3 = Assumption("zero-mean logits (K = 3)",
                            sympy.And(Eq(sum(s3), 0), Eq(sum(t3), 0)),
                            constrain=_zero_mean_symbols(s3, t3),
                            subs=((s3[2], -s3[0] - s3[1]), (t3[2], -t3[0] - t3[1])))
    return _derivation(
        "distillation-gradient",
        steps=[
            Step(Eq(L, loss), "definition: T² times the KL divergence of the student's softened "
                              "probabilities p^s = softmax(s/T) from the teacher's p^t"),
            Step(T**2 * Sum(pt[k] * log(pt[k]), (k, 1, K)) - T**2 * ce,
                 "log(a/b) = log a − log b for positive a, b; split the sum", hint=_sum_hint),
            Step(Eq(sum_pt, 1), "the teacher's probabilities sum to 1: "
                                "Σ_k exp(t_k/T) / Σ_j exp(t_j/T) = 1", hint=_sum_hint),
            Step(Eq(Derivative(L, sv[i]), -T**2 * Derivative(ce, sv[i])),
                 "differentiate (2): the teacher's term Σ_k p^t_k log p^t_k does not depend "
                 "on s", hint=_sum_hint),
            Step(sympy.Mul(T**2, _frac(sum_pt * ps[i] - pt[i], T), evaluate=False),
                 "as in temperature-softmax-gradient before its last step, for the target "
                 "p^t: ∂/∂s_i of −Σ_k a_k log softmax_k(s/T) is ((Σ_k a_k) p^s_i − a_i)/T",
                 relies_on=(EarlierResult("temperature-softmax-gradient"),), hint=_sum_hint),
            Step(sympy.Mul(T**2, _frac(ps[i] - pt[i], T), evaluate=False),
                 "step (3): Σ_k p^t_k = 1", hint=_sum_hint),
            Step(T * (ps[i] - pt[i]), "T²/T = T: the T² of the loss leaves one factor T"),
            # the high-temperature limit: the first-order term of the series in u = 1/T
            Step(Eq(Subs(Derivative(g(sv) - g(tv), u), u, 0),
                    (sv[i] - sum_s / K) / K - (tv[i] - sum_t / K) / K),
                 "with u = 1/T, T (p^s_i − p^t_i) = (g_s(u) − g_t(u))/u for g_v(u) = "
                 "softmax_i(u v), and g_s(0) = g_t(0) = 1/K, so as T → ∞ it tends to "
                 "g_s'(0) − g_t'(0), the first-order term of the series exp(u v) = 1 + u v + "
                 "O(u²): g_v'(0) = v_i/K − Σ_k v_k/K²", hint=_sum_hint),
            Step((sv[i] - tv[i]) / K, "zero-mean logits: Σ_k s_k = Σ_k t_k = 0",
                 relies_on=(zero_mean,), hint=_sum_hint),
            Step(Eq(Limit(gap3, T, oo), (s3[0] - t3[0]) / 3),
                 "the limit itself, for K = 3 and i = 1: SymPy's limit needs the sum written "
                 "out, so the general-K value is step (9), from the series",
                 relies_on=(zero_mean3,)),
        ],
        result=Eq(Derivative(L, sv[i]), T * (_softmax(sv, i, T) - _softmax(tv, i, T))),
        domains={K: SIZES, i: INDEX, T: LogUniform(0.25, 8),
                 sv: VectorOf(K, Interval(-10, 10)), tv: VectorOf(K, Interval(-10, 10)),
                 **{x: Interval(-10, 10) for x in (*s3, *t3)}},
        definitions=[Definition(L, loss, "the distillation loss"),
                     Definition(ps[i], _softmax(sv, i, T), "the student's softmax(s/T)"),
                     Definition(pt[i], _softmax(tv, i, T), "the teacher's softmax(t/T)")],
        parameters=(sv, tv, T),
        result_hint=_sum_hint,
        result_assumptions=(),
    )


# ------------------------------------------------------------------ MSE and perplexity


@_register("mse-vs-bce-gradient")
def _mse_vs_bce_gradient() -> Derivation:
    M = Function("L_MSE")(z, y)
    B = Function("L_BCE")(z, y)
    mse = (sigmoid(z) - y) ** 2
    ratio = 2 * sigmoid(z) * (1 - sigmoid(z))
    sech2 = 1 / (2 * sympy.cosh(z / 2) ** 2)
    return _derivation(
        "mse-vs-bce-gradient",
        steps=[
            Step(Eq(M, mse), "definition: squared error of the probability σ(z)"),
            Step(Eq(Derivative(M, z), 2 * (sigmoid(z) - y) * Derivative(sigmoid(z), z)),
                 "chain rule: d(a − y)²/da = 2(a − y)"),
            Step(2 * (sigmoid(z) - y) * sigmoid(z) * (1 - sigmoid(z)),
                 "the derivative of the sigmoid",
                 relies_on=(EarlierResult("sigmoid-derivative"),)),
            Step((sigmoid(z) - y) * ratio,
                 "regroup: the cross-entropy gradient σ(z) − y times a factor"),
            Step(Eq(Derivative(M, z) / Derivative(B, z), ratio),
                 "divide by ∂L_BCE/∂z = σ(z) − y (where σ(z) ≠ y)",
                 relies_on=(EarlierResult("bce-gradient"),)),
            Step(2 * exp(-z) / (1 + exp(-z)) ** 2, "σ(z)(1 − σ(z)) = exp(−z)/(1 + exp(−z))²"),
            Step(sech2, "multiply by exp(z)/exp(z): (exp(z/2) + exp(−z/2))² = 4 cosh²(z/2)",
                 hint=lambda d: sympy.simplify(d.rewrite(exp))),
            Step(Rational(1, 2), "cosh(z/2) ≥ 1, with equality at z = 0", relation="<=",
                 hint=lambda d: sympy.factor(d.rewrite(exp))),
            Step(Eq(Limit(sech2, z, oo), 0), "cosh(z/2) → ∞ as z → ∞"),
            Step(Eq(Limit(sech2, z, -oo), 0),
                 "cosh is even, so the same holds as z → −∞: the squared-error gradient "
                 "vanishes for |z| → ∞ even when the prediction is wrong"),
        ],
        result=Eq(Derivative(M, z), 2 * (sigmoid(z) - y) * sigmoid(z) * (1 - sigmoid(z))),
        domains={z: Interval(-30, 30), y: Interval(0, 1)},
        definitions=[Definition(M, mse, "squared error of the sigmoid probability"),
                     Definition(B, _BCE, "binary cross-entropy with logits")],
        parameters=(z, y),
    )


@_register("perplexity-of-cross-entropy")
def _perplexity_of_cross_entropy() -> Derivation:
    pdist = IndexedBase("p", positive=True)
    H = _H(pdist, qv)
    H2 = Function("H_2")(pdist, qv)
    PPL = Function("PPL")(pdist, qv)
    ce_nats = -Sum(pdist[k] * log(qv[k]), (k, 1, K))
    sum_p = Assumption("p sums to 1", Eq(Sum(pdist[k], (k, 1, K)), 1),
                       constrain=_normalise(pdist))
    return _derivation(
        "perplexity-of-cross-entropy",
        steps=[
            Step(Eq(PPL, exp(H)), "definition: perplexity is exp of the cross-entropy in nats"),
            Step(Eq(H2, ce_nats / log(2)),
                 "the cross-entropy in bits: log₂ x = log x / log 2, and 1/log 2 comes out of "
                 "the sum", hint=_sum_hint),
            Step(H / log(2), "definition of H, in nats"),
            Step(Eq(2**H2, exp(log(2) * H2)), "a^x = exp(x log a)"),
            Step(exp(H), "step (3): log 2 · H₂ = H"),
            Step(PPL, "definition of perplexity, step (1)"),
            Step(Eq(PPL, sympy.Product(qv[k] ** (-pdist[k]), (k, 1, K))),
                 "exp(−Σ_k p_k log q_k) = Π_k exp(−p_k log q_k) = Π_k q_k^(−p_k): the "
                 "geometric mean of 1/q weighted by p", hint=_product_as_exp),
            Step(Eq(PPL.subs(qv, uv), K),
                 "a uniform model u_k = 1/K: exp(Σ_k p_k log K) = K to the power Σ_k p_k = K",
                 relies_on=(sum_p,), hint=_sum_hint),
        ],
        result=Eq(PPL, exp(ce_nats)),
        domains={K: SIZES, pdist: VectorOf(K, LogUniform(1e-3, 1)),
                 qv: VectorOf(K, LogUniform(1e-3, 1))},
        definitions=[_CE_DEF, _UNIFORM_DEF,
                     Definition(H2, -Sum(pdist[k] * log(qv[k]) / log(2), (k, 1, K)),
                                "cross-entropy in bits"),
                     Definition(PPL, exp(H), "perplexity")],
        parameters=(pdist, qv),
        result_hint=_sum_hint,
        result_assumptions=(),
    )
