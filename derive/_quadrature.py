"""Fast evaluation of claim sides that hold integrals: python-flint ``arb`` arithmetic and a
double-exponential (sinh-sinh) rule over the real line.

The numeric check of a step (``derive.checker``) evaluates both sides with mpmath at ``dps``
digits; a side with an ``Integral`` became ``mpmath.quad`` of a lambdified mpmath integrand —
about 2,300 integrand evaluations of ~120 µs each per integral at 60 digits (0.2–0.5 s).
Here the same side is lambdified with ``arb`` functions (ball arithmetic: each integrand
value carries a rigorous bound on its rounding error; ~10 µs per evaluation) and every
integral over ``(−∞, ∞)`` is summed with the sinh-sinh rule

.. math::

    \\int_{-\\infty}^{\\infty} f(x)\\,dx \\approx h \\sum_k w_k f(x_k),\\quad
    x_k = \\sinh(\\tfrac{\\pi}{2} \\sinh kh),\\quad
    w_k = \\tfrac{\\pi}{2} \\cosh kh \\cosh(\\tfrac{\\pi}{2} \\sinh kh),

halving ``h`` until two successive levels agree to ``2^-(prec - 30)`` of the integral's L1
mass, or to within their rounding error (the error of a double-exponential rule roughly
squares from one level to the next, so the accepted level is far more accurate than the
agreement asked for).  The result is the
same number mpmath.quad finds (tests compare the two on every Gaussian integral of the
built-in derivations), about 20× faster.

Anything this backend does not handle — a function it has no ``arb`` version of, an
integral over another range, a rule that does not converge by :data:`MAX_LEVEL`, a result
whose ball is wider than the comparison can afford — raises :class:`Unsupported`, and the
checker evaluates that side with mpmath instead.  Which route a side takes depends only on
the expression and the point, never on time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import cache

import mpmath
import sympy
from flint import arb, ctx
from sympy.printing.pycode import MpmathPrinter

__all__ = ["MAX_LEVEL", "MIN_LEVEL", "Unsupported", "centred", "compile_arb"]

#: The finest level tried: step ``h = 2^-MAX_LEVEL``.  Gaussian integrands at 60 digits
#: converge at level 7 or 8.
MAX_LEVEL = 11

#: No level coarser than ``h = 2^-MIN_LEVEL`` is accepted, even when two agree: an integrand
#: whose mass falls between the coarse nodes looks like 0 at all of them (Gaussian integrands
#: at 60 digits converge at level 6 to 8 anyway).
MIN_LEVEL = 5

#: Nodes beyond ``|t| = T_MAX`` are never used: there ``|x| > 10^30``.
T_MAX = 4.5


class Unsupported(Exception):
    """The ``arb`` backend cannot evaluate this side here; use mpmath."""


def _quad(f: Callable[[arb], arb], *limits: tuple) -> arb:
    """``∫ f`` over ``(−∞, ∞)`` by the sinh-sinh rule (see the module docstring)."""
    if len(limits) != 1:
        raise Unsupported("a multiple integral")
    ((lo, hi),) = limits
    if not (isinstance(lo, float) and isinstance(hi, float) and lo == -math.inf
            and hi == math.inf):
        raise Unsupported("an integral over a range other than the real line")
    prec = ctx.prec
    eps = arb(2) ** -(prec - 30)
    tiny = arb(2) ** -(prec + 20)
    total, mass, previous = arb(0), arb(0), None
    for level in range(MAX_LEVEL + 1):
        # level 0 uses every integer node; level L > 0 adds the odd multiples of 2^-L
        s, m = _level_sum(f, level, tiny)
        total, mass = total + s, mass + m
        estimate = total / 2**level
        if previous is not None and level >= MIN_LEVEL:
            # converged: the levels agree to the target, or to within their rounding error
            # (an integrand that is rounding noise around 0 has no better agreement to give)
            diff = estimate - previous
            if abs(diff.mid()) <= eps * (mass / 2**level) + diff.rad():
                if not estimate.is_finite():
                    raise Unsupported("the integral is not finite")
                return estimate
        previous = estimate
    raise Unsupported(f"the sinh-sinh rule did not converge by level {MAX_LEVEL}")


def _level_sum(f: Callable[[arb], arb], level: int, tiny: arb) -> tuple[arb, arb]:
    """``Σ w_k f(x_k)`` over the nodes new at ``level`` (both signs), and ``Σ w_k |f(x_k)|``."""
    s, m = arb(0), arb(0)
    for x, w in _nodes(level, ctx.prec):
        if x == 0:
            v = w * f(x)
            s, m = s + v, m + abs(v)
            continue
        v1, v2 = w * f(x), w * f(-x)
        s, m = s + v1 + v2, m + abs(v1) + abs(v2)
        # beyond the integrand's support: the terms shrink double-exponentially from here
        if abs(x) > 1 and abs(v1) + abs(v2) <= tiny * m:
            break
    return s, m


@cache
def _nodes(level: int, prec: int) -> tuple[tuple[arb, arb], ...]:
    """The (x_k, w_k) of ``level`` with ``t_k = k 2^-level`` in ``[0, T_MAX]``, at ``prec``
    bits (level 0: every integer ``k``; level L > 0: odd ``k`` only)."""
    old = ctx.prec
    ctx.prec = prec
    try:
        half_pi = arb.pi() / 2
        step = 2 ** -level
        ks = range(0, int(T_MAX / step) + 1) if level == 0 else range(
            1, int(T_MAX / step) + 1, 2)
        out = []
        for k in ks:
            t = arb(k) * step
            u = half_pi * t.sinh()
            out.append((u.sinh(), half_pi * t.cosh() * u.cosh()))
        return tuple(out)
    finally:
        ctx.prec = old


def _definitions() -> dict:
    """``arb`` versions of the functions a lambdified side may call: the elementary ones and
    lossproof's, written as their *definitions* (as the mpmath namespace of the checker)."""

    def xlogy(x, y):
        return arb(0) if x == 0 else x * arb(y).log()

    def logsumexp(*terms):
        return sum((arb(t).exp() for t in terms), arb(0)).log()

    return {
        "mpf": arb,
        "pi": arb.pi(),  # both replaced at the working precision before every call
        "e": arb(1).exp(),
        "inf": math.inf,
        "ninf": -math.inf,
        "exp": lambda v: arb(v).exp(),
        "log": lambda v: arb(v).log(),
        "sqrt": lambda v: arb(v).sqrt(),
        "log1p": lambda v: arb(v).log1p(),
        "expm1": lambda v: arb(v).expm1(),
        "quad": _quad,
        "sigmoid": lambda z: 1 / (1 + (-arb(z)).exp()),
        "softplus": lambda z: (1 + arb(z).exp()).log(),
        "expm1mx": lambda u: arb(u).exp() - 1 - u,
        "log1pmx": lambda r: (1 + arb(r)).log() - r,
        "xlogy": xlogy,
        "logratio": lambda a, b: arb(a).log() - arb(b).log(),
        "logsumexp": logsumexp,
    }


def _gaussian_frame(integrand: sympy.Expr, x: sympy.Symbol) -> tuple | None:
    """``(c, s)`` with ``integrand`` = ``g(x) exp(-(x − c)²/(2s²) + ...)``: the centre and
    width of the Gaussian factor(s) among its multiplicative factors, or ``None``."""
    a = b = sympy.S.Zero
    for factor in sympy.Mul.make_args(integrand):
        base, power = factor.as_base_exp()
        if base is sympy.E:
            exponent = power
        elif isinstance(factor, sympy.exp):
            exponent = factor.args[0]
        else:
            continue
        poly = sympy.Poly(sympy.expand(exponent), x) if exponent.is_polynomial(x) else None
        if poly is None or poly.degree() > 2:
            continue
        coeffs = [0] * (2 - poly.degree()) + poly.all_coeffs()
        a, b = a + coeffs[0], b + coeffs[1]
    if a == 0:
        return None
    # exponent a x² + b x + ...: centre −b/(2a), width 1/√(−2a) (not real if a > 0: then the
    # arb evaluation is not finite and the side falls back to mpmath)
    return -b / (2 * a), 1 / sympy.sqrt(-2 * a)


def centred(expr: sympy.Basic) -> sympy.Basic:
    """Every integral over the real line with a Gaussian factor, rewritten by the change of
    variables x = c + s·y to the centre and width of that factor (exact: the integral is
    the same), so that the sinh-sinh nodes fall where the mass is — a narrow Gaussian far
    from 0 (σ = 0.01 at μ = 5) is otherwise missed between nodes."""

    def centre(integral):
        if len(integral.limits) != 1 or len(integral.limits[0]) != 3:
            return integral
        var, lo, hi = integral.limits[0]
        frame = _gaussian_frame(integral.function, var) if (lo, hi) == (-sympy.oo, sympy.oo) \
            else None
        if frame is None:
            return integral
        c, s = frame
        y = sympy.Dummy("y", real=True)
        return sympy.Integral(s * integral.function.xreplace({var: c + s * y}), (y, lo, hi))

    return expr.replace(lambda e: isinstance(e, sympy.Integral), centre)


def compile_arb(expr: sympy.Basic, args: Sequence[sympy.Basic]) -> Callable[..., mpmath.mpf]:
    """``expr`` as a function of mpmath numbers ``args`` evaluated in ``arb`` at the current
    mpmath precision plus 30 guard bits, returning an ``mpf``.

    Raises :class:`Unsupported` when a value cannot be had this way (see the module
    docstring); the caller then evaluates with mpmath.
    """
    if not expr.has(sympy.Integral) or isinstance(expr, sympy.MatrixBase):
        raise Unsupported("nothing to integrate")
    # every name lambdify may print must be ours: a missing one is a NameError at call time
    fn = sympy.lambdify(list(args), centred(expr), modules=[_definitions()],
                        printer=MpmathPrinter(
                            {"fully_qualified_modules": False, "inline": True,
                             "allow_unknown_functions": True}))

    def evaluate(*values):
        old = ctx.prec
        ctx.prec = mpmath.mp.prec + 30
        try:
            # the constants at this precision (a namespace value is fixed at lambdify time)
            fn.__globals__.update(pi=arb.pi(), e=arb(1).exp())
            try:
                out = fn(*[arb(v) for v in values])
            except (NameError, TypeError, ValueError, ZeroDivisionError, AttributeError) as exc:
                raise Unsupported(f"{type(exc).__name__}: {exc}") from exc
            out = arb(out) if isinstance(out, int) else out
            if not isinstance(out, arb) or not out.is_finite():
                raise Unsupported("not a finite real ball")
            # the ball must pin the value to well beyond the comparison's dps/2 digits
            if out.rad() > abs(out.mid()) * arb(2) ** -(mpmath.mp.prec - 20) + arb(
                    2) ** -(mpmath.mp.prec + 20):
                raise Unsupported("the ball is too wide")
            return mpmath.mpf(out.mid()._mpf_)
        finally:
            ctx.prec = old

    return evaluate
