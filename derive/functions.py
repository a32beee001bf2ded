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
expm1mx     e^{u} - 1 - u                       series for |u| < 1/2, else expm1(u) - u
log1pmx     log(1 + r) - r                      series for |r| < 1/2, else log1p(r) - r
==========  ==================================  ===========================================
"""

from __future__ import annotations

import sympy
from sympy import exp, log

__all__ = ["FUNCTIONS", "expm1mx", "log1pmx", "sigmoid", "softplus"]


class sigmoid(sympy.Function):
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


class softplus(sympy.Function):
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


class expm1mx(sympy.Function):
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

    def _mpmathcode(self, printer):
        u = printer._print(self.args[0])
        return f"({printer._module_format('mpmath.expm1')}({u}) - ({u}))"


class log1pmx(sympy.Function):
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

    def _mpmathcode(self, printer):
        r = printer._print(self.args[0])
        return f"({printer._module_format('mpmath.log1p')}({r}) - ({r}))"


#: Every lossproof function class, by name (used by printers, parsers and lambdify).
FUNCTIONS: dict[str, type[sympy.Function]] = {
    "sigmoid": sigmoid,
    "softplus": softplus,
    "expm1mx": expm1mx,
    "log1pmx": log1pmx,
}
