"""SymPy functions for the stable primitives of ML losses.

Each is a :class:`sympy.Function` subclass that knows

* its derivative (``fdiff``), so derivations differentiate through it;
* how to rewrite itself into elementary functions (``_eval_rewrite_as_exp`` /
  ``_eval_rewrite_as_log``), so symbolic checks can compare it with textbook forms;
* how to print as LaTeX (``\\sigma(z)``), NumPy, C99 and mpmath code — the way
  ``sympy.codegen.cfunctions.log1p`` does.  The NumPy and C spellings are the *stable*
  evaluations; the mpmath spelling is the definition (mpmath has no overflow).

==========  ==================================  ===========================================
name        definition                          stable evaluation
==========  ==================================  ===========================================
sigmoid     1 / (1 + e^{-z})                    exp(-softplus(-z))
softplus    log(1 + e^{z})                      max(z, 0) + log1p(e^{-|z|})
expm1mx     e^{u} - 1 - u                       series for |u| < 1, else expm1(u) - u
log1pmx     log(1 + r) - r                      series in t = r/(2 + r) for |t| <= 1/3,
                                                else log1p(r) - r
logsumexp   log sum_k e^{f_k}  (a bound index)  m + log1p(sum_{k != argmax} e^{f_k - m})
xlogy       x log y, with 0 log y = 0           where(x == 0, 0, x log y)
logratio    log(a / b) for a, b > 0             log1p((a - b)/b) near a = b, else log(a/b)
==========  ==================================  ===========================================

``logsumexp(f, (k, 1, K))`` is written like a ``Sum`` (it is one: an ``ExprWithIntLimits``
whose index is bound).  The series coefficients below are shared with the code generators
in :mod:`derive.export`, so the printed NumPy/C code and the exported kernels agree.
"""

from __future__ import annotations

import sympy
from sympy import exp, log
from sympy.concrete.expr_with_intlimits import ExprWithIntLimits

from derive._inputs import refuse_str

__all__ = [
    "EXPM1MX_SERIES",
    "FUNCTIONS",
    "LOG1PMX_SERIES",
    "expm1mx",
    "log1pmx",
    "logratio",
    "logsumexp",
    "sigmoid",
    "softplus",
    "xlogy",
]

#: expm1mx(u) = u**2 * sum_n c_n u**n with c_n = 1/(n + 2)!; truncated for |u| < 1
#: (the first omitted term is below 2**-56 of the result there).
EXPM1MX_SERIES: tuple[sympy.Rational, ...] = tuple(
    sympy.Rational(1, sympy.factorial(n + 2)) for n in range(18)
)
#: log1pmx(r) = -r t + 2 t**3 * sum_j t**(2j) / (2j + 3) with t = r/(2 + r) (from
#: log(1 + r) = 2 atanh(t)); truncated for |t| <= 1/3.
LOG1PMX_SERIES: tuple[sympy.Rational, ...] = tuple(sympy.Rational(1, 2 * j + 3) for j in range(17))


def horner(var: str, coeffs, fmt=lambda c: repr(float(c))) -> str:
    """``c0 + var*(c1 + var*(c2 + ...))`` as source text (shared by the code printers)."""
    text = fmt(coeffs[-1])
    for c in reversed(coeffs[:-1]):
        text = f"{fmt(c)} + {var}*({text})"
    return f"({text})"


class _Primitive(sympy.Function):
    """The base of the primitives: arguments are SymPy objects or numbers, never text
    (``sympy.Function`` would ``sympify`` a string, which evaluates it as Python)."""

    def __new__(cls, *args, **options):
        for a in args:
            refuse_str(a, f"{cls.__name__}: argument")
        return super().__new__(cls, *args, **options)


class sigmoid(_Primitive):
    r"""The logistic function :math:`\sigma(z) = 1 / (1 + e^{-z})`."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        # sigma'(z) = sigma(z) (1 - sigma(z))
        z = self.args[0]
        return sigmoid(z) * (1 - sigmoid(z))

    @classmethod
    def eval(cls, z):
        if z.is_zero:
            return sympy.S.Half
        if z is sympy.oo:
            return sympy.S.One
        if z is sympy.S.NegativeInfinity:
            return sympy.S.Zero
        return None

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return 1 / (1 + exp(-z))

    def _eval_rewrite_as_softplus(self, z, **kwargs):
        return exp(-softplus(-z))

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_is_positive(self):
        if self.args[0].is_real:
            return True
        return None

    def _eval_evalf(self, prec):
        return self.rewrite(exp)._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        arg = printer._print(self.args[0])
        base = rf"\sigma\left({arg}\right)"
        return base if exp is None else rf"\sigma^{{{exp}}}\left({arg}\right)"

    def _sympystr(self, printer):
        return f"sigmoid({printer._print(self.args[0])})"

    def _numpycode(self, printer):
        # sigma(z) = exp(-softplus(-z)); numpy.logaddexp(0, x) is softplus(x) without overflow
        z = printer._print(self.args[0])
        np_ = printer._module_format(printer._module + ".exp")
        la = printer._module_format(printer._module + ".logaddexp")
        return f"{np_}(-{la}(0, -({z})))"

    def _ccode(self, printer):
        z = printer._print(self.args[0])
        return f"exp(-(fmax(-({z}), 0) + log1p(exp(-fabs({z})))))"

    def _mpmathcode(self, printer):
        z = printer._print(self.args[0])
        e = printer._module_format("mpmath.exp")
        return f"(1/(1 + {e}(-({z}))))"


class softplus(_Primitive):
    r"""The softplus function :math:`\operatorname{softplus}(z) = \log(1 + e^{z})`."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        # d/dz log(1 + e^z) = sigma(z)
        return sigmoid(self.args[0])

    @classmethod
    def eval(cls, z):
        if z.is_zero:
            return log(2)
        if z is sympy.oo:
            return sympy.oo
        if z is sympy.S.NegativeInfinity:
            return sympy.S.Zero
        return None

    def _eval_rewrite_as_log(self, z, **kwargs):
        return log(1 + exp(z))

    _eval_rewrite_as_exp = _eval_rewrite_as_log

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_is_positive(self):
        if self.args[0].is_real:
            return True
        return None

    def _eval_evalf(self, prec):
        return self.rewrite(log)._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        arg = printer._print(self.args[0])
        base = r"\operatorname{softplus}"
        if exp is not None:
            base += f"^{{{exp}}}"
        return rf"{base}\left({arg}\right)"

    def _numpycode(self, printer):
        # softplus(z) = log(e^0 + e^z), evaluated without overflow by numpy.logaddexp
        z = printer._print(self.args[0])
        return f"{printer._module_format(printer._module + '.logaddexp')}(0, {z})"

    def _ccode(self, printer):
        # softplus(z) = max(z, 0) + log1p(e^{-|z|})
        z = printer._print(self.args[0])
        return f"(fmax({z}, 0) + log1p(exp(-fabs({z}))))"

    def _mpmathcode(self, printer):
        z = printer._print(self.args[0])
        log1p, exp_ = printer._module_format("mpmath.log1p"), printer._module_format("mpmath.exp")
        return f"{log1p}({exp_}({z}))"


class expm1mx(_Primitive):
    r""":math:`\varphi(u) = e^{u} - 1 - u`, the cancellation-prone core of the Gaussian KL."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        return sympy.exp(self.args[0]) - 1

    @classmethod
    def eval(cls, u):
        if u.is_zero:
            return sympy.S.Zero
        return None

    def _eval_rewrite_as_exp(self, u, **kwargs):
        return exp(u) - 1 - u

    def _eval_is_nonnegative(self):
        if self.args[0].is_real:
            return True
        return None

    def _eval_evalf(self, prec):
        return self.rewrite(exp)._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        arg = printer._print(self.args[0])
        base = r"\varphi" if exp is None else rf"\varphi^{{{exp}}}"
        return rf"{base}\left({arg}\right)"

    def _numpycode(self, printer):
        # phi(u) = u**2 (1/2! + u/3! + ...) for |u| < 1 (no cancellation); expm1(u) - u beyond
        u = f"({printer._print(self.args[0])})"
        np_ = printer._module
        where = printer._module_format(np_ + ".where")
        expm1 = printer._module_format(np_ + ".expm1")
        return (f"{where}(abs({u}) < 1, {u}**2*{horner(u, EXPM1MX_SERIES)}, "
                f"{expm1}({u}) - {u})")

    def _ccode(self, printer):
        u = f"({printer._print(self.args[0])})"
        return f"(fabs({u}) < 1 ? {u}*{u}*{horner(u, EXPM1MX_SERIES)} : expm1({u}) - {u})"

    def _mpmathcode(self, printer):
        u = printer._print(self.args[0])
        return f"({printer._module_format('mpmath.expm1')}({u}) - ({u}))"


class log1pmx(_Primitive):
    r""":math:`\log(1 + r) - r`, the cancellation-prone core of KL for near-equal inputs."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        r = self.args[0]
        return 1 / (1 + r) - 1

    @classmethod
    def eval(cls, r):
        if r.is_zero:
            return sympy.S.Zero
        return None

    def _eval_rewrite_as_log(self, r, **kwargs):
        return log(1 + r) - r

    _eval_rewrite_as_exp = _eval_rewrite_as_log

    def _eval_evalf(self, prec):
        return self.rewrite(log)._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        arg = printer._print(self.args[0])
        base = r"\operatorname{log1pmx}" if exp is None else rf"\operatorname{{log1pmx}}^{{{exp}}}"
        return rf"{base}\left({arg}\right)"

    def _numpycode(self, printer):
        # log(1 + r) - r = -r t + 2 t**3 (1/3 + t**2/5 + ...), t = r/(2 + r), for |t| <= 1/3
        r = f"({printer._print(self.args[0])})"
        t = f"({r}/(2 + {r}))"
        np_ = printer._module
        where = printer._module_format(np_ + ".where")
        log1p = printer._module_format(np_ + ".log1p")
        series = f"(-{r}*{t} + 2*{t}**3*{horner(f'{t}**2', LOG1PMX_SERIES)})"
        return f"{where}(abs({t}) <= 1/3, {series}, {log1p}({r}) - {r})"

    def _ccode(self, printer):
        r = f"({printer._print(self.args[0])})"
        t = f"({r}/(2 + {r}))"
        series = f"(-{r}*{t} + 2*{t}*{t}*{t}*{horner(f'{t}*{t}', LOG1PMX_SERIES)})"
        return f"(fabs({t}) <= 1.0/3 ? {series} : log1p({r}) - {r})"

    def _mpmathcode(self, printer):
        r = printer._print(self.args[0])
        return f"({printer._module_format('mpmath.log1p')}({r}) - ({r}))"


class xlogy(_Primitive):
    r""":math:`x \log y` with the convention :math:`0 \log y = 0` (so :math:`0 \log 0 = 0`)."""

    nargs = 2

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        x, y = self.args
        if argindex == 1:
            return log(y)
        if argindex == 2:
            return x / y
        raise sympy.ArgumentIndexError(self, argindex)

    @classmethod
    def eval(cls, x, y):
        if x.is_zero:
            return sympy.S.Zero
        if y == 1:
            return sympy.S.Zero
        return None

    def _eval_rewrite_as_log(self, x, y, **kwargs):
        return x * log(y)

    _eval_rewrite_as_exp = _eval_rewrite_as_log

    def _eval_is_real(self):
        x, y = self.args
        if x.is_real and y.is_positive:
            return True
        return None

    def _eval_evalf(self, prec):
        if self.args[0].is_zero:
            return sympy.S.Zero
        return self.rewrite(log)._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        x, y = (printer._print(a) for a in self.args)
        base = r"\operatorname{xlogy}" if exp is None else rf"\operatorname{{xlogy}}^{{{exp}}}"
        return rf"{base}\left({x}, {y}\right)"

    def _numpycode(self, printer):
        # 0 log y = 0 (also at y = 0): the entropy convention; y is replaced by 1 where x = 0
        x, y = (f"({printer._print(a)})" for a in self.args)
        where = printer._module_format(printer._module + ".where")
        log_ = printer._module_format(printer._module + ".log")
        return f"{where}({x} == 0, 0, {x}*{log_}({where}({x} == 0, 1, {y})))"

    def _ccode(self, printer):
        x, y = (f"({printer._print(a)})" for a in self.args)
        return f"({x} == 0 ? 0.0 : {x}*log({y}))"

    def _mpmathcode(self, printer):
        x, y = (f"({printer._print(a)})" for a in self.args)
        return f"(0 if {x} == 0 else {x}*{printer._module_format('mpmath.log')}({y}))"


class logratio(_Primitive):
    r""":math:`\log(a / b)` for :math:`a, b > 0`, without cancellation near :math:`a = b`."""

    nargs = 2

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        a, b = self.args
        if argindex == 1:
            return 1 / a
        if argindex == 2:
            return -1 / b
        raise sympy.ArgumentIndexError(self, argindex)

    @classmethod
    def eval(cls, a, b):
        if a == b:
            return sympy.S.Zero
        return None

    def _eval_rewrite_as_log(self, a, b, **kwargs):
        return log(a / b)

    _eval_rewrite_as_exp = _eval_rewrite_as_log

    def _eval_is_real(self):
        a, b = self.args
        if a.is_positive and b.is_positive:
            return True
        return None

    def _eval_evalf(self, prec):
        return self.rewrite(log)._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        a, b = (printer._print(x) for x in self.args)
        inner = rf"\log{{\left(\frac{{{a}}}{{{b}}} \right)}}"
        return inner if exp is None else rf"{inner}^{{{exp}}}"

    def _numpycode(self, printer):
        # log(a/b) = log1p((a - b)/b): a - b is exact for b/2 <= a <= 2b (Sterbenz);
        # elsewhere log(a/b) unless a/b over- or underflows, then log(a) - log(b)
        a, b = (f"({printer._print(x)})" for x in self.args)
        m = printer._module
        where, log_, log1p, isfinite = (
            printer._module_format(f"{m}.{f}") for f in ("where", "log", "log1p", "isfinite"))
        ratio_ok = f"{isfinite}({a}/{b}) & ({a}/{b} > 1e-300)"
        return (f"{where}(abs({a} - {b}) <= 0.5*{b}, {log1p}(({a} - {b})/{b}), "
                f"{where}({ratio_ok}, {log_}({a}/{b}), {log_}({a}) - {log_}({b})))")

    def _ccode(self, printer):
        a, b = (f"({printer._print(x)})" for x in self.args)
        return (f"(fabs({a} - {b}) <= 0.5*{b} ? log1p(({a} - {b})/{b}) : "
                f"(isfinite({a}/{b}) && {a}/{b} > DBL_MIN) ? log({a}/{b}) : log({a}) - log({b}))")

    def _mpmathcode(self, printer):
        a, b = (f"({printer._print(x)})" for x in self.args)
        log_ = printer._module_format("mpmath.log")
        return f"({log_}({a}) - {log_}({b}))"


class logsumexp(ExprWithIntLimits):
    r""":math:`\log \sum_{k} e^{f_k}` over a bound index, written like ``Sum``.

    ``logsumexp(z[k], (k, 1, K))`` is :math:`\log \sum_{k=1}^{K} e^{z_k}`.  Its derivative
    is the softmax-weighted sum :math:`\sum_k e^{f_k - \operatorname{logsumexp}(f)} f_k'`;
    ``doit()`` with numeric limits expands it into ``log`` of the expanded sum.
    """

    __slots__ = ()

    def __new__(cls, function, *symbols, **assumptions):
        refuse_str(function, "logsumexp: function")
        for lim in symbols:
            refuse_str(lim, "logsumexp: limits")
            for x in lim if isinstance(lim, tuple | list) else ():
                refuse_str(x, "logsumexp: limits")
        return super().__new__(cls, function, *symbols, **assumptions)

    @property
    def function(self):
        return self._args[0]

    def _eval_rewrite_as_exp(self, function, *limits, **kwargs):
        return log(sympy.Sum(exp(function), *limits))

    _eval_rewrite_as_log = _eval_rewrite_as_exp
    _eval_rewrite_as_Sum = _eval_rewrite_as_exp

    def _eval_derivative(self, x):
        # d/dx log sum_k e^{f_k} = sum_k e^{f_k - logsumexp(f)} df_k/dx
        if isinstance(x, sympy.Symbol) and x not in self.free_symbols:
            return sympy.S.Zero
        for _, lo, hi in self.limits:
            if x in lo.free_symbols or x in hi.free_symbols:
                return None
        f = self.function
        return sympy.Sum(exp(f - self) * sympy.Derivative(f, x, evaluate=True), *self.limits)

    def doit(self, **hints):
        f = self.function.doit(**hints) if hints.get("deep", True) else self.function
        s = sympy.Sum(exp(f), *self.limits).doit(**hints)
        if isinstance(s, sympy.Sum):
            return self.func(f, *self.limits)
        return log(s)

    def _eval_is_extended_real(self):
        return self.function.is_extended_real

    def _eval_evalf(self, prec):
        return self.rewrite(exp)._eval_evalf(prec)

    def _latex(self, printer, exp=None):
        (k, lo, hi), *more = self.limits
        if more:
            sub = ", ".join(printer._print(lim[0]) for lim in self.limits)
            head = rf"\operatorname{{logsumexp}}_{{{sub}}}"
        else:
            k, lo, hi = (printer._print(a) for a in (k, lo, hi))
            head = rf"\operatorname{{logsumexp}}_{{{k}={lo}}}^{{{hi}}}"
        body = rf"{head}\left({printer._print(self.function)}\right)"
        return body if exp is None else rf"\left({body}\right)^{{{exp}}}"

    def _mpmathcode(self, printer):
        # the definition, for lambdify with numeric limits: log(fsum(exp(f) for k in range))
        log_, exp_ = printer._module_format("mpmath.log"), printer._module_format("mpmath.exp")
        fsum = printer._module_format("mpmath.fsum")
        loops = " ".join(
            f"for {printer._print(k)} in range({printer._print(lo)}, {printer._print(hi)} + 1)"
            for k, lo, hi in self.limits
        )
        return f"{log_}({fsum}({exp_}({printer._print(self.function)}) {loops}))"


#: Every lossproof function class, by name (used by printers, parsers and lambdify).
FUNCTIONS: dict[str, type[sympy.Basic]] = {
    "sigmoid": sigmoid,
    "softplus": softplus,
    "expm1mx": expm1mx,
    "log1pmx": log1pmx,
    "xlogy": xlogy,
    "logratio": logratio,
    "logsumexp": logsumexp,
}
