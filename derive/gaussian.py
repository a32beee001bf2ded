"""Gaussian derivations: KL divergence, its cancellation-free form, entropy, multivariate KL.

=========================  =================================================================
name                       result
=========================  =================================================================
gaussian-kl                D(N(μ1, σ1²) ‖ N(μ2, σ2²)) = log(σ2/σ1) + (σ1² + (μ1 − μ2)²)/(2σ2²) − ½,
                           from the integral definition by integrating moments
gaussian-kl-stable-form    the same, = ½[(Δμ/σ2)² + φ(u)], u = log(σ1²/σ2²), φ(u) = e^u − 1 − u
gaussian-entropy           h(N(μ, σ²)) = ½ log(2πeσ²), from −∫ p log p
mvn-kl                     ½[tr(Σ2⁻¹Σ1) + (μ2 − μ1)ᵀΣ2⁻¹(μ2 − μ1) − k + log(det Σ2/det Σ1)]
=========================  =================================================================

The univariate integrals are checked numerically by ``mpmath.quad`` of the *definition*
(so the parameter domains are moderate: |μ| ≤ 2, σ in [1/2, 2], where quad is accurate to
well beyond the 30-digit comparison) and symbolically by linearity of the integral plus
SymPy's integration of the Gaussian moments — never by integrating ``p log(p/q)`` directly
(SymPy takes seconds for that and returns a form containing ``σ2**(2σ2²)``, which overflows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import mpmath
import sympy
from sympy import Eq, Function, Integral, Rational, Symbol, exp, log, oo, pi, sqrt
from sympy.codegen.cfunctions import log1p

from derive.core import (
    Assumption,
    Definition,
    Derivation,
    Domain,
    EarlierResult,
    Identity,
    IntegerRange,
    Interval,
    LogUniform,
    Step,
    VectorOf,
    register,
)
from derive.functions import expm1mx, logratio

__all__: list[str] = []

TOPIC = "gaussian"

x = Symbol("x", real=True)
mu, mu1, mu2 = sympy.symbols("mu mu1 mu2", real=True)
sigma, sigma1, sigma2 = sympy.symbols("sigma sigma1 sigma2", positive=True)
u = Symbol("u", real=True)

#: The normal density as an undefined function ``N(x, μ, σ)`` (defined below) so that
#: derivations can write ``p(x) := N(x, μ1, σ1)`` and instantiate definitions at numbers.
N = Function("N")
p = Function("p")
q = Function("q")
D_KL = Function("D_KL")
half = Rational(1, 2)


def normal_pdf(t: sympy.Expr, m: sympy.Expr, s: sympy.Expr) -> sympy.Expr:
    """The density of N(m, s²) at t."""
    return exp(-(t - m) ** 2 / (2 * s**2)) / (sqrt(2 * pi) * s)


def _halved(*terms: sympy.Expr) -> sympy.Expr:
    """``½[t1 + t2 + …]`` kept grouped for display (SymPy would distribute the ½)."""
    return sympy.Mul(half, sympy.Add(*terms), evaluate=False)


def _real_line(f: sympy.Expr) -> Integral:
    return Integral(f, (x, -oo, oo))


NORMAL_PDF = Definition(N(x, mu, sigma), normal_pdf(x, mu, sigma), "the normal density")

_PARAM_DOMAINS = {
    mu1: Interval(-2, 2),
    sigma1: LogUniform(0.5, 2),
    mu2: Interval(-2, 2),
    sigma2: LogUniform(0.5, 2),
}
_MOMENT_DOMAINS = {mu: Interval(-2, 2), sigma: LogUniform(0.5, 2)}


def _central_moment(k: int, rhs: sympy.Expr, name: str) -> Identity:
    """``∫ (x − μ)^k N(x; μ, σ²) dx = rhs``, proved by SymPy's integration (no domains: the
    steps that use it evaluate the same integrals with mpmath.quad at every point)."""
    return Identity(name, Eq(_real_line((x - mu) ** k * normal_pdf(x, mu, sigma)), rhs))


MASS = _central_moment(0, sympy.S.One, "normalisation: E[1] = 1")
CENTRED_MEAN = _central_moment(1, sympy.S.Zero, "mean: E[x − μ] = 0")
VARIANCE = _central_moment(2, sigma**2, "variance: E[(x − μ)²] = σ²")
TANGENT_OF_EXP = Identity(
    "exp lies above its tangent at 0: e^u ≥ 1 + u",
    sympy.Ge(exp(u), 1 + u),
    {u: Interval(-5, 5)},
)


# ---------------------------------------------------------------- symbolic helpers


def _by_linearity(d: sympy.Expr) -> sympy.Expr:
    """Linearity of the integral: collect ``Σ c_j ∫ f_j dx`` over the same range into one
    ``∫ Σ c_j f_j dx`` (each ``c_j`` free of ``x``) and bring the integrand to a canonical
    form (``log`` of positive factors expanded, products multiplied out)."""
    d = sympy.expand(d, power_exp=False)
    groups: dict[tuple, sympy.Expr] = {}
    rest = sympy.S.Zero
    for term in sympy.Add.make_args(d):
        integrals = [f for f in sympy.Mul.make_args(term) if isinstance(f, Integral)]
        if len(integrals) != 1:
            rest += term
            continue
        (integral,) = integrals
        coeff = term / integral
        variables = {lim[0] for lim in integral.limits}
        if coeff.free_symbols & variables:
            rest += term
            continue
        groups[integral.limits] = groups.get(integral.limits, 0) + coeff * integral.function
    out = rest
    for limits, integrand in groups.items():
        integrand = sympy.expand_log(sympy.expand(integrand, power_exp=False), force=False)
        integrand = sympy.expand(integrand, power_exp=False)
        out += Integral(integrand, *limits) if integrand != 0 else 0
    return out


def _integrate_moments(d: sympy.Expr) -> sympy.Expr:
    """Evaluate the remaining integrals — in these steps only Gaussian moments
    ``∫ x^k N(x; μ, σ²) dx`` with k ≤ 2, which SymPy integrates in milliseconds."""
    return sympy.expand(d.doit())


def _integrate_by_moments(d: sympy.Expr) -> sympy.Expr:
    """Expand ``log(p/q)`` into a quadratic in x under the integral, then integrate the
    moments: the symbolic route of the whole derivation, in one hint (for the result)."""
    return _integrate_moments(_by_linearity(d))


# --------------------------------------------------------------------- gaussian-kl

_KL_CLOSED = log(sigma2 / sigma1) + (sigma1**2 + (mu1 - mu2) ** 2) / (2 * sigma2**2) - half
_KL_DEFINITION = Definition(
    D_KL(mu1, sigma1, mu2, sigma2),
    _real_line(N(x, mu1, sigma1) * log(N(x, mu1, sigma1) / N(x, mu2, sigma2))),
    "KL divergence of N(μ2, σ2²) from N(μ1, σ1²)",
)
EQUAL_PARAMETERS = Assumption(
    "equal parameters (only for the equality case)",
    sympy.And(Eq(mu2, mu1), Eq(sigma2, sigma1)),
    constrain=lambda point, rng: {**point, mu2: point[mu1], sigma2: point[sigma1]},
    subs=((mu2, mu1), (sigma2, sigma1)),
)


@register(
    "gaussian-kl",
    title="KL divergence between two univariate Gaussians",
    statement="D(N(μ1, σ1²) ‖ N(μ2, σ2²)) = log(σ2/σ1) + (σ1² + (μ1 − μ2)²)/(2σ2²) − 1/2",
    topic=TOPIC,
)
def _gaussian_kl() -> Derivation:
    a, b, c = sympy.symbols("a b c", real=True)
    a_def = 1 / (2 * sigma2**2) - 1 / (2 * sigma1**2)
    b_def = (mu1 - mu2) / sigma2**2
    c_def = log(sigma2 / sigma1) + (mu1 - mu2) ** 2 / (2 * sigma2**2)
    y = x - mu1
    D = D_KL(mu1, sigma1, mu2, sigma2)
    t = sigma1**2 / sigma2**2
    return Derivation(
        name="gaussian-kl",
        title="KL divergence between two univariate Gaussians",
        statement=(
            "For p = N(μ1, σ1²) and q = N(μ2, σ2²): D(p ‖ q) = log(σ2/σ1) "
            "+ (σ1² + (μ1 − μ2)²)/(2σ2²) − 1/2, which is ≥ 0, = 0 exactly when the "
            "parameters are equal, and not symmetric in p and q."
        ),
        topic=TOPIC,
        steps=[
            Step(
                Eq(D, _real_line(p(x) * log(p(x) / q(x)))),
                "definition of the KL divergence of q from p, for densities on the real line",
            ),
            Step(
                Eq(log(p(x) / q(x)),
                   log(sigma2 / sigma1) - (x - mu1) ** 2 / (2 * sigma1**2)
                   + (x - mu2) ** 2 / (2 * sigma2**2)),
                "the normalising constants 1/(√(2π)σ) give log(σ2/σ1); log e^y = y for the "
                "exponents",
            ),
            Step(
                a * y**2 + b * y + c,
                "write x − μ2 = (x − μ1) + (μ1 − μ2) and expand: a quadratic in x − μ1, with "
                "the coefficients a, b, c defined above",
            ),
            Step(
                Eq(D, a * _real_line(y**2 * p(x)) + b * _real_line(y * p(x))
                   + c * _real_line(p(x))),
                "substitute (2)–(3) into the integral (1) and integrate term by term "
                "(linearity; a, b, c do not depend on x)",
                hint=_by_linearity,
            ),
            Step(
                a * sigma1**2 + c,
                "the central moments of p = N(μ1, σ1²): E[(x − μ1)²] = σ1², E[x − μ1] = 0, "
                "E[1] = 1",
                relies_on=(VARIANCE, CENTRED_MEAN, MASS),
                hint=_integrate_moments,
            ),
            Step(
                _KL_CLOSED,
                "substitute a and c: σ1²/(2σ2²) − σ1²/(2σ1²) = σ1²/(2σ2²) − 1/2",
            ),
            Step(
                _halved((mu1 - mu2) ** 2 / sigma2**2, t - 1 - log(t)),
                "regroup with t = σ1²/σ2², using log(σ2/σ1) = −½ log t",
            ),
            Step(
                sympy.S.Zero,
                "(μ1 − μ2)²/σ2² ≥ 0, and t − 1 − log t ≥ 0 because log t ≤ t − 1 "
                "(put u = log t in e^u ≥ 1 + u), with equality only at t = 1",
                relies_on=(TANGENT_OF_EXP,),
                relation=">=",
                # log t = t − 1 − φ(log t) with φ(u) = e^u − 1 − u ≥ 0 for real u
                hint=lambda d: sympy.expand(d.subs(log(t), t - 1 - expm1mx(log(t))),
                                            multinomial=False, log=False),
            ),
            Step(
                Eq(D, 0),
                "equality in (8) needs μ1 = μ2 and t = 1, i.e. σ1 = σ2; conversely, for equal "
                "parameters p = q, so log(p/q) = 0 and the integral vanishes",
                relies_on=(EQUAL_PARAMETERS,),
            ),
            Step(
                Eq(D_KL(0, 1, 1, 2), log(2) - Rational(1, 4)),
                "an example: the result with μ1 = 0, σ1 = 1, μ2 = 1, σ2 = 2 "
                "(≈ 0.443 nats); checked against the integral itself",
                numeric_only=True,  # SymPy's integrate needs ~9 s at numbers; quad needs 0.3 s
            ),
            Step(
                2 - log(2),
                "…which is smaller than the divergence in the other direction, computed next",
                relation="<",
            ),
            Step(
                Eq(D_KL(1, 2, 0, 1), 2 - log(2)),
                "the result with the roles of p and q swapped (≈ 1.307 nats): the KL "
                "divergence is not symmetric",
                numeric_only=True,
            ),
        ],
        result=Eq(D, _KL_CLOSED),
        domains={**_PARAM_DOMAINS, x: Interval(-5, 5)},
        definitions=[
            Definition(p(x), N(x, mu1, sigma1), "p = N(μ1, σ1²)"),
            Definition(q(x), N(x, mu2, sigma2), "q = N(μ2, σ2²)"),
            NORMAL_PDF,
            _KL_DEFINITION,
            Definition(a, a_def),
            Definition(b, b_def),
            Definition(c, c_def),
        ],
        parameters=(mu1, sigma1, mu2, sigma2),
        result_assumptions=(),
        result_hint=_integrate_by_moments,
        notes=(
            "The closed form cancels badly when the two Gaussians are nearly equal "
            "(log(σ2/σ1) against σ1²/(2σ2²) − 1/2); `gaussian-kl-stable-form` rewrites it "
            "without that cancellation."
        ),
    )


# ---------------------------------------------------------- gaussian-kl-stable-form

EXPM1MX_DEFINITION = Identity("φ(u) = e^u − 1 − u (expm1mx)", Eq(expm1mx(u), exp(u) - 1 - u))
LOGRATIO_DEFINITION = Identity(
    "logratio(a, b) = log(a/b) = log1p((a − b)/b)",
    Eq(logratio(sigma1, sigma2), log1p((sigma1 - sigma2) / sigma2)),
    {sigma1: LogUniform(0.01, 100), sigma2: LogUniform(0.01, 100)},
)

_KL_STABLE = _halved(((mu1 - mu2) / sigma2) ** 2, expm1mx(2 * logratio(sigma1, sigma2)))


def _to_elementary(d: sympy.Expr) -> sympy.Expr:
    """φ and logratio back to exp/log, log1p to log, logs of positive products expanded."""
    d = d.rewrite(sympy.exp).replace(lambda e: isinstance(e, log1p), lambda e: log(1 + e.args[0]))
    return sympy.expand(sympy.expand_log(sympy.expand(d), force=False))


@register(
    "gaussian-kl-stable-form",
    title="The Gaussian KL divergence without cancellation",
    statement="D(N(μ1, σ1²) ‖ N(μ2, σ2²)) = ½[((μ1 − μ2)/σ2)² + φ(u)], u = 2 log(σ1/σ2), "
    "φ(u) = e^u − 1 − u",
    topic=TOPIC,
)
def _gaussian_kl_stable_form() -> Derivation:
    r, uu = Symbol("r", positive=True), Symbol("u", real=True)
    D = D_KL(mu1, sigma1, mu2, sigma2)
    z2 = ((mu1 - mu2) / sigma2) ** 2
    return Derivation(
        name="gaussian-kl-stable-form",
        title="The Gaussian KL divergence without cancellation",
        statement=(
            "D(N(μ1, σ1²) ‖ N(μ2, σ2²)) = ½[((μ1 − μ2)/σ2)² + φ(u)] with u = log(σ1²/σ2²) "
            "and φ(u) = e^u − 1 − u: a sum of two non-negative terms, each computable to full "
            "relative accuracy, where the textbook form cancels for nearly equal Gaussians."
        ),
        topic=TOPIC,
        steps=[
            Step(
                Eq(D, _KL_CLOSED),
                "the closed form derived from the integral in gaussian-kl",
                relies_on=(EarlierResult("gaussian-kl"),),
            ),
            Step(
                _halved(z2, sigma1**2 / sigma2**2 - 1 - log(sigma1**2 / sigma2**2)),
                "log(σ2/σ1) = −½ log(σ1²/σ2²); take ½ out of every term",
            ),
            Step(
                _halved(z2, r**2 - 1 - log(r**2)),
                "name the ratio of the standard deviations r = σ1/σ2",
            ),
            Step(
                _halved(z2, exp(uu) - 1 - uu),
                "put u = log r², so r² = e^u",
            ),
            Step(
                _halved(z2, expm1mx(uu)),
                "φ(u) = e^u − 1 − u: the part that cancels for u near 0, where φ(u) = u²/2 + "
                "u³/6 + …; it is evaluated by that series, not by subtracting",
                relies_on=(EXPM1MX_DEFINITION,),
            ),
            Step(
                sympy.S.Zero,
                "both terms are ≥ 0, since φ(u) ≥ 0 for every real u (e^u ≥ 1 + u); φ(u) = 0 "
                "only at u = 0, so D = 0 exactly when μ1 = μ2 and σ1 = σ2",
                relies_on=(TANGENT_OF_EXP,),
                relation=">=",
            ),
            Step(
                Eq(uu, 2 * logratio(sigma1, sigma2)),
                "u = log(σ1/σ2)² = 2 log(σ1/σ2), written as logratio(σ1, σ2): near σ1 = σ2 it "
                "is evaluated as log1p((σ1 − σ2)/σ2), where σ1 − σ2 is exact (Sterbenz), so u "
                "keeps full relative accuracy however close the two scales are",
                hint=_to_elementary,
            ),
            Step(
                2 * log1p((sigma1 - sigma2) / sigma2),
                "σ1/σ2 = 1 + (σ1 − σ2)/σ2",
                relies_on=(LOGRATIO_DEFINITION,),
                hint=_to_elementary,
            ),
            Step(
                Eq(D, _KL_STABLE),
                "substitute u into (5): the form the numeric code evaluates",
                hint=_to_elementary,
            ),
            Step(
                Eq(D, 0),
                "for equal parameters both terms vanish: μ1 − μ2 = 0 and u = 2 log 1 = 0, φ(0) = 0",
                relies_on=(EQUAL_PARAMETERS,),
            ),
        ],
        result=Eq(D, _KL_STABLE),
        domains={**_PARAM_DOMAINS},
        definitions=[
            Definition(D, _KL_CLOSED, "the result of gaussian-kl"),
            Definition(r, sigma1 / sigma2),
            Definition(uu, log(r**2)),
        ],
        parameters=(mu1, sigma1, mu2, sigma2),
        result_assumptions=(),
        result_hint=_to_elementary,
        notes=(
            "Why it is stable: for nearly equal Gaussians (Δμ ~ 1e-8, σ2/σ1 − 1 ~ 1e-9) the "
            "textbook form adds log(σ2/σ1) ≈ −1e-9 to σ1²/(2σ2²) − ½ ≈ 1e-9 and keeps the "
            "~1e-16 difference of two rounded numbers: no correct digit.  Here the two terms "
            "are non-negative and added, ((μ1 − μ2)/σ2)² is a product of exact or correctly "
            "rounded factors, u comes from log1p of an exact difference, and φ(u) from its "
            "Taylor series, so the relative error stays a few ulp."
        ),
    )


# ---------------------------------------------------------------- gaussian-entropy

h = Function("h")
SMALL_SIGMA = Assumption(
    "σ < 1/√(2πe) (only for the sign remark)",
    sympy.Lt(sigma, 1 / sqrt(2 * pi * sympy.E)),
    # scale the sampled σ ∈ [1/2, 2] into (0, 1/√(2πe)) ≈ (0, 0.242)
    constrain=lambda point, rng: {**point, sigma: point[sigma] * sympy.Float("0.12", 60)},
)


@register(
    "gaussian-entropy",
    title="Differential entropy of a Gaussian",
    statement="h(N(μ, σ²)) = −∫ p log p dx = ½ log(2πeσ²)",
    topic=TOPIC,
)
def _gaussian_entropy() -> Derivation:
    H = h(mu, sigma)
    return Derivation(
        name="gaussian-entropy",
        title="Differential entropy of a Gaussian",
        statement=(
            "For p = N(μ, σ²): h(p) = −∫ p(x) log p(x) dx = ½ log(2πeσ²), independent of μ, "
            "and negative when σ < 1/√(2πe)."
        ),
        topic=TOPIC,
        steps=[
            Step(
                Eq(H, -_real_line(p(x) * log(p(x)))),
                "definition of the differential entropy of the density p = N(μ, σ²)",
            ),
            Step(
                Eq(log(p(x)), -half * log(2 * pi * sigma**2) - (x - mu) ** 2 / (2 * sigma**2)),
                "log of the normal density: log(1/(√(2π)σ)) = −½ log(2πσ²), log e^y = y",
                hint=lambda d: sympy.expand(sympy.expand_log(d, force=False)),
            ),
            Step(
                Eq(H, half * log(2 * pi * sigma**2) * _real_line(p(x))
                   + _real_line((x - mu) ** 2 * p(x)) / (2 * sigma**2)),
                "substitute (2) into (1) and integrate term by term (linearity)",
                hint=_by_linearity,
            ),
            Step(
                half * log(2 * pi * sigma**2) + half,
                "E[1] = 1 and E[(x − μ)²] = σ² under p",
                relies_on=(MASS, VARIANCE),
                hint=lambda d: _integrate_moments(sympy.expand_log(d, force=False)),
            ),
            Step(
                half * log(2 * pi * sympy.E * sigma**2),
                "½ = ½ log e",
                hint=lambda d: sympy.expand(sympy.expand_log(d, force=False)),
            ),
            Step(
                sympy.S.Zero,
                "unlike the entropy of a discrete distribution, h can be negative: it is < 0 "
                "exactly when 2πeσ² < 1",
                relies_on=(SMALL_SIGMA,),
                relation="<",
            ),
        ],
        result=Eq(H, half * log(2 * pi * sympy.E * sigma**2)),
        domains={**_MOMENT_DOMAINS, x: Interval(-5, 5)},
        definitions=[
            Definition(p(x), N(x, mu, sigma), "p = N(μ, σ²)"),
            NORMAL_PDF,
            Definition(H, -_real_line(N(x, mu, sigma) * log(N(x, mu, sigma))),
                       "differential entropy of N(μ, σ²)"),
        ],
        parameters=(sigma,),
        result_assumptions=(),
        result_hint=lambda d: _integrate_moments(sympy.expand_log(_by_linearity(d), force=False)),
    )


# -------------------------------------------------------------------------- mvn-kl
#
# Matrices are SymPy MatrixSymbols of symbolic size k, so the derivation is for general k.
# The numeric checks substitute sampled sizes (k = 1…3) and explicit sampled matrices
# (derive.core makes the MatrixSymbols explicit); an expectation of a quadratic polynomial
# is then evaluated exactly from the first two moments (GaussianExpectation below).


class QuadForm(sympy.Function):
    r"""The quadratic form :math:`v^\top A v` of a column vector ``v`` and a square matrix
    ``A`` — a scalar.  Explicit arguments evaluate it; ``rewrite(Trace)`` is the trace trick."""

    nargs = 2

    @classmethod
    def eval(cls, v, A):
        if isinstance(v, sympy.MatrixBase) and isinstance(A, sympy.MatrixBase):
            return (v.T * A * v)[0, 0]
        return None

    def _eval_is_real(self):
        return True  # real vectors and matrices throughout

    def _eval_rewrite_as_Trace(self, v, A, **kwargs):
        return sympy.Trace(A * v * v.T)

    def _vector(self, printer, text: bool) -> str:
        v = self.args[0]
        s = printer._print(v)
        if isinstance(v, sympy.MatAdd | sympy.MatMul):
            return f"({s})" if text else rf"\left({s}\right)"
        return s

    def _latex(self, printer, exp=None):
        v = self._vector(printer, text=False)
        body = rf"{v}^{{T}} {printer._print(self.args[1])} {v}"
        return body if exp is None else rf"\left({body}\right)^{{{exp}}}"

    def _sympystr(self, printer):
        v = self._vector(printer, text=True)
        return f"{v}.T*{printer._print(self.args[1])}*{v}"

    def _lossproof_text(self, printer):
        v = self._vector(printer, text=True)
        return f"{v}ᵀ·{printer._print(self.args[1])}·{v}"


def _degree_bound(e: sympy.Basic, variables: set) -> float:
    """An upper bound on the polynomial degree of ``e`` in ``variables`` (inf when ``e`` is
    not visibly a polynomial in them), without expanding anything."""
    if e in variables:
        return 1
    if not (e.free_symbols & {s for v in variables for s in v.free_symbols}) and not any(
            e.has(v) for v in variables):
        return 0
    if isinstance(e, sympy.Add):
        return max(_degree_bound(a, variables) for a in e.args)
    if isinstance(e, sympy.Mul):
        return sum(_degree_bound(a, variables) for a in e.args)
    if isinstance(e, sympy.Pow) and e.exp.is_Integer and e.exp >= 0:
        return int(e.exp) * _degree_bound(e.base, variables)
    return math.inf


class GaussianExpectation(sympy.Function):
    r""":math:`\mathbb{E}_{x \sim \mathcal{N}(\mu, \Sigma)}[g(x)]` for a scalar ``g`` that is a
    polynomial of degree at most 2 in the entries of the column vector ``x``.

    With explicit ``x``, ``μ``, ``Σ`` it evaluates, exactly, to
    ``g(μ) + ½ Σ_ij Σ_ij ∂²g/∂x_i∂x_j`` (the second-order Taylor expansion of ``g`` about
    ``μ`` is ``g`` itself; ``E[x − μ] = 0`` and ``E[(x − μ)(x − μ)ᵀ] = Σ``).  A ``g`` of
    higher degree is refused rather than evaluated wrongly."""

    nargs = 4

    @classmethod
    def eval(cls, g, xv, m, S):
        if not all(isinstance(a, sympy.MatrixBase) for a in (xv, m, S)):
            return None
        entries = list(xv)
        # log(det^(-1/2) e^(-Q/2)) = −½ log det − Q/2 (det > 0, Q real); nothing expanded
        g = sympy.expand_log(g.doit(), force=True)
        if _degree_bound(g, set(entries)) > 2:
            raise ValueError("GaussianExpectation: g must be a polynomial of degree <= 2 in x")
        at_mean = g.xreplace(dict(zip(entries, m, strict=True)))
        curvature = sum(S[r, c] * sympy.diff(g, entries[r], entries[c])
                        for r in range(S.rows) for c in range(S.cols))
        return at_mean + curvature / 2

    def _eval_is_real(self):
        return self.args[0].is_real

    def _latex(self, printer, exp=None):
        g, xv, m, S = (printer._print(a) for a in self.args)
        body = (rf"\mathbb{{E}}_{{{xv} \sim \mathcal{{N}}\left({m}, {S}\right)}}"
                rf"\left[{g}\right]")
        return body if exp is None else rf"\left({body}\right)^{{{exp}}}"

    def _sympystr(self, printer):
        g, xv, m, S = (printer._print(a) for a in self.args)
        return f"E[{xv} ~ N({m}, {S})]({g})"

    def _lossproof_text(self, printer):
        g, xv, m, S = (printer._print(a) for a in self.args)
        return f"E_{{{xv} ~ N({m}, {S})}}[{g}]"


@dataclass(frozen=True)
class SPDMatrix(Domain):
    """A random symmetric positive definite ``size × size`` matrix ``L Lᵀ`` (``L`` lower
    triangular, diagonal log-uniform so that the eigenvalues stay within about
    ``[lo, hi]``); entries keyed ``(i, j)``, 1-based, as :class:`VectorOf` does.  Edges:
    ``lo·I`` and ``hi·I``."""

    size: Any
    lo: float = 0.5
    hi: float = 2.0

    def _n(self, point) -> int:
        size = self.size  # an int, or a SymPy size symbol given a value by ``point``
        if isinstance(size, int) and not isinstance(size, bool):
            return size
        if not isinstance(size, sympy.Basic):
            raise TypeError(f"size: an int or a SymPy expression, got {type(size).__name__}")
        return int(size.subs(point))

    def sample(self, rng, point):
        n = self._n(point)
        low = [[mpmath.mpf(0)] * n for _ in range(n)]
        for r in range(n):
            low[r][r] = mpmath.sqrt(mpmath.mpf(math.exp(
                rng.uniform(math.log(self.lo), math.log(self.hi)))))
            for c in range(r):
                low[r][c] = mpmath.mpf(rng.uniform(-0.3, 0.3))
        return {(r + 1, c + 1): mpmath.fsum(low[r][t] * low[c][t] for t in range(n))
                for r in range(n) for c in range(n)}

    def edges(self, point):
        n = self._n(point)
        return [{(r + 1, c + 1): mpmath.mpf(v if r == c else 0) for r in range(n)
                 for c in range(n)} for v in (self.lo, self.hi)]


k_dim = Symbol("k", integer=True, positive=True)
xv = sympy.MatrixSymbol("x", k_dim, 1)
vv = sympy.MatrixSymbol("v", k_dim, 1)
mv = sympy.MatrixSymbol("m", k_dim, 1)
Am = sympy.MatrixSymbol("A", k_dim, k_dim)
muv = sympy.MatrixSymbol("mu", k_dim, 1)
Sg = sympy.MatrixSymbol("Sigma", k_dim, k_dim)
mu1v = sympy.MatrixSymbol("mu1", k_dim, 1)
mu2v = sympy.MatrixSymbol("mu2", k_dim, 1)
S1 = sympy.MatrixSymbol("Sigma1", k_dim, k_dim)
S2 = sympy.MatrixSymbol("Sigma2", k_dim, k_dim)
_SPD = (S1, S2, Sg)


def mvn_pdf(at, m, S):
    """The density of N(m, S) at the column vector ``at`` (size k)."""
    return ((2 * pi) ** (-k_dim / 2) * sympy.Determinant(S) ** -half
            * exp(-QuadForm(at - m, S.I) / 2))


def E_normal(g, m, S):
    """E over x ~ N(m, S) of g(x)."""
    return GaussianExpectation(g, xv, m, S)


TRACE_TRICK = Identity(
    "trace trick: vᵀAv = tr(A v vᵀ)",
    Eq(QuadForm(vv, Am), sympy.Trace(Am * vv * vv.T)),
    {k_dim: IntegerRange(1, 3), vv: VectorOf(k_dim, Interval(-2, 2)),
     Am: VectorOf((k_dim, k_dim), Interval(-2, 2))},
)
EXPECTED_QUADRATIC_FORM = Identity(
    "E[(x − m)ᵀA(x − m)] = tr(AΣ) + (μ − m)ᵀA(μ − m) for x ~ N(μ, Σ)",
    Eq(E_normal(QuadForm(xv - mv, Am), muv, Sg), sympy.Trace(Am * Sg) + QuadForm(muv - mv, Am)),
    {k_dim: IntegerRange(1, 3), muv: VectorOf(k_dim, Interval(-2, 2)), Sg: SPDMatrix(k_dim),
     mv: VectorOf(k_dim, Interval(-2, 2)), Am: VectorOf((k_dim, k_dim), Interval(-2, 2))},
)


def _symmetric(e):
    """Σᵀ = Σ and (Σ⁻¹)ᵀ = Σ⁻¹ for the covariance matrices."""
    for S in _SPD:
        e = e.subs({S.T: S, S.I.T: S.I})
    return e


def _expectation_linear(e):
    """E[Σ c_j g_j] = Σ c_j E[g_j] for c_j free of x, and E[c] = c."""

    def split(ex):
        g, var, m, S = ex.args
        out = sympy.S.Zero
        for term in sympy.Add.make_args(sympy.expand(g)):
            c, rest = term.as_independent(var, as_Add=False)
            out += c * (GaussianExpectation(rest, var, m, S) if rest != 1 else 1)
        return out

    return e.replace(lambda a: isinstance(a, GaussianExpectation), split)


def _expected_quadratic_forms(e):
    """Rewrite E[(x − m)ᵀA(x − m)] by :data:`EXPECTED_QUADRATIC_FORM`."""

    def is_qf(ex):
        return (isinstance(ex, GaussianExpectation) and isinstance(ex.args[0], QuadForm)
                and ex.args[0].args[0].has(ex.args[1]))

    def value(ex):
        (v, A), var, m, S = ex.args[0].args, ex.args[1], ex.args[2], ex.args[3]
        offset = var - v  # v = x − offset
        return sympy.Trace(A * S) + QuadForm(m - offset, A)

    return e.replace(is_qf, value)


def _traces_canonical(e):
    """Quadratic forms as traces, traces of sums split, each trace put in the cyclic /
    transposed normal form SymPy defines (``Trace._normalize``), symmetric Σ used."""
    e = e.replace(lambda a: isinstance(a, QuadForm), lambda a: a.rewrite(sympy.Trace)).doit()
    e = e.replace(lambda a: isinstance(a, sympy.Trace),
                  lambda a: sympy.Trace(_symmetric(sympy.expand(a.arg))).doit())
    e = sympy.expand(e)
    e = e.replace(lambda a: isinstance(a, sympy.Trace), lambda a: _symmetric(a._normalize()))
    return sympy.expand(sympy.expand_log(e, force=True))


def _mvn_by_moments(d):
    """The symbolic route of mvn-kl: logs expanded (det Σ > 0), linearity of E, the
    expected quadratic form, then traces in normal form."""
    d = sympy.expand_log(d, force=True)
    return _traces_canonical(_expected_quadratic_forms(_expectation_linear(d)))


EQUAL_MVN = Assumption(
    "equal parameters (only for the equality case)",
    sympy.And(Eq(mu2v, mu1v), Eq(S2, S1)),
    constrain=lambda point, rng: {**point, mu2v: point[mu1v], S2: point[S1]},
    subs=((mu2v, mu1v), (S2, S1)),
)

D_MVN = Function("D_KL")


@register(
    "mvn-kl",
    title="KL divergence between multivariate Gaussians",
    statement="D(N(μ1, Σ1) ‖ N(μ2, Σ2)) = ½[tr(Σ2⁻¹Σ1) + (μ2 − μ1)ᵀΣ2⁻¹(μ2 − μ1) − k "
    "+ log(det Σ2/det Σ1)]",
    topic=TOPIC,
)
def _mvn_kl() -> Derivation:
    D = D_MVN(mu1v, S1, mu2v, S2)
    log_ratio = log(p(xv)) - log(q(xv))
    logdet = log(sympy.Determinant(S2) / sympy.Determinant(S1))
    closed = _halved(sympy.Trace(S2.I * S1), QuadForm(mu2v - mu1v, S2.I), -k_dim, logdet)
    return Derivation(
        name="mvn-kl",
        title="KL divergence between multivariate Gaussians",
        statement=(
            "For p = N(μ1, Σ1) and q = N(μ2, Σ2) on R^k (Σ1, Σ2 symmetric positive definite): "
            "D(p ‖ q) = ½[tr(Σ2⁻¹Σ1) + (μ2 − μ1)ᵀΣ2⁻¹(μ2 − μ1) − k + log(det Σ2 / det Σ1)]."
        ),
        topic=TOPIC,
        steps=[
            Step(
                Eq(D, E_normal(log_ratio, mu1v, S1)),
                "definition: the KL divergence is the expectation under p of log(p/q)",
            ),
            Step(
                Eq(log_ratio, half * logdet - QuadForm(xv - mu1v, S1.I) / 2
                   + QuadForm(xv - mu2v, S2.I) / 2),
                "log of the normal densities: the (2π)^(k/2) cancel, the determinants give "
                "½ log(det Σ2/det Σ1) (both positive), log e^y = y",
                hint=lambda d: sympy.expand(sympy.expand_log(d, force=True)),
            ),
            Step(
                Eq(D, half * logdet - E_normal(QuadForm(xv - mu1v, S1.I), mu1v, S1) / 2
                   + E_normal(QuadForm(xv - mu2v, S2.I), mu1v, S1) / 2),
                "take the expectation of (2) under p: E is linear and E[c] = c",
                hint=lambda d: sympy.expand(_expectation_linear(sympy.expand_log(d, force=True))),
            ),
            Step(
                half * logdet - sympy.Trace(sympy.MatMul(S1.I, S1, evaluate=False)) / 2
                + (sympy.Trace(S2.I * S1) + QuadForm(mu1v - mu2v, S2.I)) / 2,
                "E[(x − m)ᵀA(x − m)] = tr(AΣ1) + (μ1 − m)ᵀA(μ1 − m) under p, with m = μ1, "
                "A = Σ1⁻¹ and with m = μ2, A = Σ2⁻¹ — by the trace trick, E and tr commute, "
                "and E[(x − m)(x − m)ᵀ] = Σ1 + (μ1 − m)(μ1 − m)ᵀ",
                relies_on=(EXPECTED_QUADRATIC_FORM, TRACE_TRICK),
                hint=lambda d: _traces_canonical(_expected_quadratic_forms(d)),
            ),
            Step(
                closed,
                "Σ1⁻¹Σ1 = I_k, whose trace is k; (−v)ᵀA(−v) = vᵀAv",
                hint=_traces_canonical,
            ),
            Step(
                Eq(D, 0),
                "for equal parameters p = q: the log-ratio vanishes (and (5) gives "
                "½[tr I_k + 0 − k + log 1] = 0)",
                relies_on=(EQUAL_MVN,),
                hint=lambda d: sympy.expand(_expectation_linear(sympy.expand_log(d, force=True))),
            ),
        ],
        result=Eq(D, closed),
        domains={
            k_dim: IntegerRange(1, 2),
            xv: VectorOf(k_dim, Interval(-2, 2)),
            mu1v: VectorOf(k_dim, Interval(-1, 1)),
            S1: SPDMatrix(k_dim),
            mu2v: VectorOf(k_dim, Interval(-1, 1)),
            S2: SPDMatrix(k_dim),
        },
        definitions=[
            Definition(p(xv), mvn_pdf(xv, mu1v, S1), "p = N(μ1, Σ1)"),
            Definition(q(xv), mvn_pdf(xv, mu2v, S2), "q = N(μ2, Σ2)"),
            Definition(D, E_normal(log_ratio, mu1v, S1), "KL divergence"),
        ],
        parameters=(mu1v, S1, mu2v, S2),
        result_assumptions=(),
        result_hint=_mvn_by_moments,
        notes=(
            "Checked symbolically for general k (SymPy MatrixSymbols; traces compared in "
            "SymPy's cyclic normal form) and numerically at k = 1, 2, 3 with sampled "
            "symmetric positive definite matrices.  The numeric code (numeric.mvn_kl) "
            "evaluates tr(Σ2⁻¹Σ1) − k − log det(Σ2⁻¹Σ1) as Σ_i φ(log λ_i) over the eigenvalues "
            "λ_i of Σ2⁻¹Σ1, which does not cancel for nearly equal covariances."
        ),
    )
