"""Stable rewriting: named rules, collected in a bundle, applied by one driver.

Every rule replaces a textbook form that loses accuracy in floating point by an
*identical* expression built from the stable primitives of :mod:`derive.functions` (or
``log1p``/``expm1``).  The rules are data, as in ``sympy.codegen.rewriting``: a
:class:`RewriteRule` has a name, the identity it uses, a ``query`` and a ``value`` for
:meth:`sympy.Basic.replace`; :data:`STABLE_BUNDLE` orders them; :func:`stabilise` applies
the bundle until nothing changes.  :func:`to_elementary` is the inverse direction (every
primitive back to ``exp``/``log``), used by the tests ("the rule rewrites back to the
original") and for the *naive* exports.

>>> import sympy
>>> from derive.functions import sigmoid
>>> z, y = sympy.symbols("z y", real=True)
>>> stabilise(-(y*sympy.log(sigmoid(z)) + (1 - y)*sympy.log(1 - sigmoid(z))))
y*softplus(-z) + (1 - y)*softplus(z)

=========================  ==============================================================
rule                       identity
=========================  ==============================================================
log-sigmoid                log σ(z) = −softplus(−z)
log-one-minus-sigmoid      log(1 − σ(z)) = −softplus(z)
softplus                   log(1 + e^x) = softplus(x)
one-minus-sigmoid          1 − σ(z) = σ(−z)
sigmoid-minus-target       σ(z) − y = (1 − y) − σ(−z)   (the branch used for z > 0)
softplus-minus-linear      softplus(z) − y z = softplus(−z) + (1 − y) z   (used for z > 0)
logsumexp                  log Σ_k e^{f_k} = logsumexp_k(f_k)
softmax                    1 / Σ_k e^{f_k} = e^{−logsumexp_k(f_k)}
merge-exp                  e^a e^b = e^{a+b}
log-exp                    log e^x = x   (x real)
gaussian-kl                log(σ2/σ1) + σ1²/(2σ2²) − ½ = ½ φ(2 log(σ1/σ2)),  φ(u) = e^u − 1 − u
expm1mx                    e^u − 1 − u = expm1mx(u)
log1pmx                    log(1 + r) − r = log1pmx(r)
xphi-at-zero               x φ(log(y/x)) = y at x = 0   (the limit; KL terms with p_k = 0)
expm1                      e^x − 1 = expm1(x)
log1p                      log(1 + x) = log1p(x)
scale-into-sum             Σ_i f_i^n / s^n = Σ_i f_i^n s^−n   (the powers pair up in export)
xlogy                      x log y = xlogy(x, y)   (0 log 0 = 0)
logratio                   log(a/b) = logratio(a, b)   (a, b > 0)
log-of-powers              log(c x^n) = log c + n log x   (c, x > 0; x^n may overflow)
=========================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sympy
from sympy import Add, Mul, Pow, S, Sum, exp, log
from sympy.codegen.cfunctions import expm1, log1p

from derive._inputs import require_expr
from derive.functions import (
    expm1mx,
    log1pmx,
    logratio,
    logsumexp,
    sigmoid,
    softplus,
    xlogy,
)

__all__ = ["RULES", "STABLE_BUNDLE", "RewriteRule", "rule", "stabilise", "to_elementary"]


@dataclass(frozen=True)
class RewriteRule:
    """One named rewrite: ``expr.replace(query, value)``.

    ``identity`` states the (exact) identity the rule uses; ``value`` may return its
    argument unchanged when a closer look shows the rule does not apply.  A rule whose
    value is a ``Piecewise`` of branches that still match (``σ(z) − y`` becomes
    ``(1 − y) − σ(−z)`` for ``z > 0``, else ``σ(z) − y``) sets ``skip_piecewise`` so
    that it never rewrites inside a ``Piecewise``.
    """

    name: str
    identity: str
    query: Callable[[sympy.Basic], bool]
    value: Callable[[sympy.Basic], sympy.Basic]
    skip_piecewise: bool = False

    def __call__(self, expr: sympy.Basic) -> sympy.Basic:
        if not self.skip_piecewise:
            return expr.replace(self.query, self.value)

        def walk(e):
            if isinstance(e, sympy.Piecewise) or not e.args:
                return e
            args = [walk(a) for a in e.args]
            if any(n is not o for n, o in zip(args, e.args, strict=True)):
                e = e.func(*args)
            return self.value(e) if self.query(e) else e

        return walk(expr)

    def __repr__(self) -> str:
        return f"RewriteRule({self.name!r}: {self.identity})"


# ------------------------------------------------------------------------ matchers


def _sigmoid_arg(x: sympy.Basic) -> sympy.Basic | None:
    """``z`` when ``x`` is σ(z) or 1/(1 + e^{−z}), else None."""
    if isinstance(x, sigmoid):
        return x.args[0]
    if isinstance(x, Pow) and x.exp == -1 and isinstance(x.base, Add):
        terms = x.base.args
        if len(terms) == 2 and S.One in terms:
            (other,) = (t for t in terms if t != S.One)
            if isinstance(other, exp):
                return -other.args[0]
    return None


def _exp_exponent(f: sympy.Basic) -> sympy.Basic | None:
    """``g`` when ``f`` is e^g or a product of exponentials, else None."""
    if isinstance(f, exp):
        return f.args[0]
    if isinstance(f, Mul) and all(isinstance(a, exp) for a in f.args):
        return Add(*[a.args[0] for a in f.args])
    return None


def _is_log_of(pred: Callable[[sympy.Basic], bool]) -> Callable[[sympy.Basic], bool]:
    return lambda e: isinstance(e, log) and pred(e.args[0])


def _one_plus(x: sympy.Basic) -> sympy.Basic | None:
    """``u`` when ``x`` is ``1 + u`` (an Add with the number term exactly 1), else None."""
    if isinstance(x, Add):
        coeff, rest = x.as_coeff_Add()
        if coeff == 1 and rest != 0:
            return rest
    return None


# -------------------------------------------------------------------------- rules


def _log_sigmoid(e):
    return -softplus(-_sigmoid_arg(e.args[0]))


def _log_one_minus_sigmoid(e):
    return -softplus(_sigmoid_arg(1 - e.args[0]))


def _is_one_plus_exp(x) -> bool:
    u = _one_plus(x)
    return u is not None and isinstance(u, exp)


def _softplus(e):
    return softplus(_one_plus(e.args[0]).args[0])


def _one_minus_sigmoid_terms(e):
    """(c, z, the σ term) when the Add ``e`` is c − c·σ(z) (two terms: a factor 1 − σ)."""
    c = e.as_coeff_Add()[0]
    if c == 0 or len(e.args) != 2:
        return None
    for t in e.args:
        k, f = t.as_coeff_Mul()
        if isinstance(f, sigmoid) and k == -c:
            return c, f.args[0], t
    return None


def _one_minus_sigmoid(e):
    c, z, t = _one_minus_sigmoid_terms(e)
    return c * sigmoid(-z) + Add(*[a for a in e.args if a is not t and not a.is_Number])


def _sigmoid_plus_rest(e):
    """(c, z, rest) when the Add ``e`` is c·σ(z) + rest (c a number, rest free of σ(z))."""
    if not isinstance(e, Add):
        return None
    for t in e.args:
        c, f = t.as_coeff_Mul()
        if isinstance(f, sigmoid):
            rest = Add(*[a for a in e.args if a is not t])
            if rest != 0 and not rest.has(f):
                return c, f.args[0], rest
    return None


def _sigmoid_minus_target(e):
    c, z, rest = _sigmoid_plus_rest(e)
    # for z > 0, σ(z) is close to 1: σ(z) + r = (1 + r) − σ(−z), and 1 − y is exact for y
    # near 1, so the small difference σ(z) − y survives; (1 + r) is kept as one term
    # (UnevaluatedExpr) so that it is computed first
    one_plus_rest = sympy.UnevaluatedExpr(sympy.factor_terms(1 + rest / c))
    return sympy.Piecewise((c * (one_plus_rest - sigmoid(-z)), z > 0), (e, True))


def _softplus_minus_linear(e):
    """softplus(z) + rest, rest linear in z with the slope −y → for z > 0 use
    softplus(−z) + (z + rest), since softplus(z) = z + softplus(−z)."""
    if not isinstance(e, Add):
        return None
    for t in e.args:
        if isinstance(t, softplus):
            z = t.args[0]
            rest = Add(*[a for a in e.args if a is not t])
            if rest.has(z) and not rest.has(softplus) and sympy.diff(rest, z, 2) == 0:
                return z, rest
    return None


def _softplus_shift(e):
    z, rest = _softplus_minus_linear(e)
    return sympy.Piecewise((softplus(-z) + sympy.factor_terms(sympy.expand(z + rest)), z > 0),
                           (e, True))


def _xphi_parts(e):
    """(x, y) when the Mul ``e`` is x·expm1mx(log(y/x)) (or with logratio(y, x)), else None."""
    if not isinstance(e, Mul):
        return None
    for f in e.args:
        if isinstance(f, expm1mx):
            u = f.args[0]
            if isinstance(u, logratio):
                y, x = u.args
            elif isinstance(u, log) and _ratio(u.args[0]) is not None and _ratio(u.args[0])[0] == 1:
                _, y, x = _ratio(u.args[0])
            else:
                continue
            if Mul(*[a for a in e.args if a is not f]) == x:
                return x, y
    return None


def _xphi_at_zero(e):
    x, y = _xphi_parts(e)
    # x φ(log(y/x)) = y − x − x log(y/x) → y as x → 0 (the KL term of an impossible event)
    # (x wrapped: a probability declared positive may still be 0 where the result is used)
    return sympy.Piecewise((y, sympy.Eq(sympy.UnevaluatedExpr(x), 0)), (e, True))


def _scale_into_sum_parts(e):
    """(the Sum, the factor s**-n) when the Mul ``e`` holds Sum(... g**n ...) and s**-n
    (n >= 2, s free of the summation index), else None."""
    if not isinstance(e, Mul):
        return None
    sums = [a for a in e.args if isinstance(a, Sum)]
    if len(sums) != 1:
        return None
    (sm,) = sums
    bound = {lim[0] for lim in sm.limits}
    for a in e.args:
        if (isinstance(a, Pow) and a.exp.is_Integer and a.exp <= -2
                and not (a.free_symbols & bound) and not a.base.is_number
                and any(isinstance(t, Pow) and t.exp == -a.exp
                        for t in sympy.preorder_traversal(sm.function))):
            return sm, a
    return None


def _scale_into_sum(e):
    sm, scale = _scale_into_sum_parts(e)
    rest = Mul(*[a for a in e.args if a is not sm and a is not scale])
    # Σ f^n / s^n = Σ (f/s)^n: the powers then cancel pairwise instead of over/underflowing
    return rest * Sum(sympy.expand(sm.function * scale, deep=False, mul=True, power_base=False,
                                   power_exp=False, log=False, multinomial=False),
                      *sm.limits)


def _log_power_factors(x) -> bool:
    """A product c·x1^n1·… (c > 0, n_i positive integers, x_i positive) with some n_i > 1."""
    if not isinstance(x, Mul):
        return False
    powers = [a for a in x.args if not a.is_number]
    numbers = [a for a in x.args if a.is_number]
    return (all(n.is_positive for n in numbers) and all(
        (isinstance(a, Pow) and a.exp.is_Integer and a.exp > 0 and a.base.is_positive)
        or (a.is_Symbol and a.is_positive) for a in powers)
        and any(isinstance(a, Pow) for a in powers))


def _expand_log(e):
    return Add(*[sympy.expand_log(log(a)) for a in e.args[0].args])


def _is_sum_of_exp(x) -> bool:
    return isinstance(x, Sum) and _exp_exponent(x.function) is not None


def _logsumexp(e):
    s = e.args[0]
    return logsumexp(_exp_exponent(s.function), *s.limits)


def _is_inverse_sum_of_exp(e) -> bool:
    return (isinstance(e, Pow) and _is_sum_of_exp(e.base) and e.exp.is_integer
            and e.exp.is_negative)


def _softmax(e):
    s = e.base
    return exp(e.exp * logsumexp(_exp_exponent(s.function), *s.limits))


def _merge_exp(e):
    exps = [a for a in e.args if isinstance(a, exp)]
    rest = [a for a in e.args if not isinstance(a, exp)]
    return Mul(*rest, exp(Add(*[a.args[0] for a in exps])))


def _has_two_exps(e) -> bool:
    return isinstance(e, Mul) and sum(isinstance(a, exp) for a in e.args) >= 2


def _gaussian_kl(e):
    """log(s2/s1)·c + (c/p)·(s1/s2)^p − c/p + rest  →  (c/p)·φ(p·logratio(s1, s2)) + rest."""
    expanded = sympy.expand(sympy.expand_log(e, force=True))
    logs = {}
    for t in Add.make_args(expanded):
        coeff, f = t.as_coeff_Mul()
        if isinstance(f, log) and f.args[0].is_Symbol:
            logs[f.args[0]] = logs.get(f.args[0], 0) + coeff
    for s2, c in logs.items():
        if not c.is_positive:
            continue
        for s1, c1 in logs.items():
            if c1 != -c or s1 == s2:
                continue
            for p in (2, 1):
                q = c / p
                core = q * s1**p * s2**-p - q + c * (log(s2) - log(s1))
                rest = sympy.expand(expanded - core)
                if rest.has(log) or s1 in rest.free_symbols:
                    continue
                return q * expm1mx(p * logratio(s1, s2)) + sympy.factor(rest)
    return e


def _looks_like_gaussian_kl(e) -> bool:
    return isinstance(e, Add) and e.has(log) and any(t.is_Rational for t in e.args)


def _exp_arg(f):
    return f.args[0] if isinstance(f, exp) else None


def _log1p_arg(f):
    """``u`` when ``f`` is log1p(u) or log(1 + u), else None."""
    if isinstance(f, log1p):
        return f.args[0]
    if isinstance(f, log):
        return _one_plus(f.args[0])
    return None


def _minus_one_minus_arg(arg_of, stable) -> Callable[[sympy.Basic], sympy.Basic]:
    """Build ``value`` for ``c·(f(u) − 1 − u) → c·stable(u)`` (f = exp) or
    ``c·(f(u) − u) → c·stable(u)`` (f(u) = log(1 + u)) inside an Add."""
    func = exp if arg_of is _exp_arg else log1p

    def value(e):
        for t in e.args:
            coeff, f = t.as_coeff_Mul()
            u = arg_of(f)
            if u is None:
                continue
            # e^u − 1 − u: the other terms must hold −c and −c·u;
            # log1p(u) − u: they must hold −c·u
            wanted = sympy.expand(coeff * u + (coeff if func is exp else 0))
            others = sympy.expand(Add(*[a for a in e.args if a is not t]))
            leftover = sympy.expand(others + wanted)
            n = len(Add.make_args(others)) if others != 0 else 0
            n_left = len(Add.make_args(leftover)) if leftover != 0 else 0
            if n_left == n - len(Add.make_args(wanted)):
                return coeff * stable(u) + leftover
        return e

    return value


def _expm1(e):
    coeff, rest = e.as_coeff_Add()
    if coeff == 0:
        return e
    for t in Add.make_args(rest):
        c, f = t.as_coeff_Mul()
        if isinstance(f, exp) and c == -coeff:
            others = Add(*[a for a in Add.make_args(rest) if a is not t])
            return c * expm1(f.args[0]) + others
    return e


def _has_exp_and_number(e) -> bool:
    return isinstance(e, Add) and e.as_coeff_Add()[0] != 0 and any(
        isinstance(t.as_coeff_Mul()[1], exp) for t in e.args)


def _log_factor(f):
    """``y`` when ``f`` is log(y) or log1p(y − 1) (y not a number), else None."""
    if f.is_number:
        return None
    if isinstance(f, log):
        return f.args[0]
    if isinstance(f, log1p):
        return 1 + f.args[0]
    return None


def _never_zero(f) -> bool:
    """A factor that cannot vanish: a reciprocal or an exponential."""
    return (isinstance(f, Pow) and f.exp.is_negative) or isinstance(f, exp)


def _is_x_log_y(e) -> bool:
    if not isinstance(e, Mul):
        return False
    logs = [a for a in e.args if _log_factor(a) is not None]
    others = [a for a in e.args if _log_factor(a) is None and not a.is_number]
    return len(logs) == 1 and bool(others) and not all(_never_zero(f) for f in others)


def _xlogy(e):
    (lf,) = (a for a in e.args if _log_factor(a) is not None)
    coeff = Mul(*[a for a in e.args if a.is_number])
    x = Mul(*[a for a in e.args if a is not lf and not a.is_number])
    return coeff * xlogy(x, _log_factor(lf))


def _ratio(x) -> tuple[sympy.Basic, sympy.Basic, sympy.Basic] | None:
    """``(n, a, b)`` with ``x = (a/b)**n``, a and b not numbers and not known negative."""
    num, den = sympy.fraction(x)
    if den == 1 or num.is_number or den.is_number:
        return None
    n = S.One
    if isinstance(num, Pow) and isinstance(den, Pow) and num.exp == den.exp:
        n, num, den = num.exp, num.base, den.base
    if num.is_negative or den.is_negative or (num.is_positive is False):
        return None
    return n, num, den


def _logratio(e):
    n, a, b = _ratio(e.args[0])
    return n * logratio(a, b)


#: Every rule, in the order the stable bundle applies them (earlier rules see the
#: textbook forms first: ``log(1 − σ)`` must be matched before ``log(1 + x)``).
RULES: tuple[RewriteRule, ...] = (
    RewriteRule("log-sigmoid", "log σ(z) = −softplus(−z)",
                _is_log_of(lambda a: _sigmoid_arg(a) is not None), _log_sigmoid),
    RewriteRule("log-one-minus-sigmoid", "log(1 − σ(z)) = −softplus(z)",
                _is_log_of(lambda a: isinstance(a, Add) and _sigmoid_arg(1 - a) is not None),
                _log_one_minus_sigmoid),
    RewriteRule("softplus", "log(1 + e^x) = softplus(x)", _is_log_of(_is_one_plus_exp), _softplus),
    RewriteRule("one-minus-sigmoid", "1 − σ(z) = σ(−z)",
                lambda e: isinstance(e, Add) and _one_minus_sigmoid_terms(e) is not None,
                _one_minus_sigmoid),
    RewriteRule("sigmoid-minus-target", "σ(z) − y = (1 − y) − σ(−z), used for z > 0",
                lambda e: _sigmoid_plus_rest(e) is not None, _sigmoid_minus_target,
                skip_piecewise=True),
    RewriteRule("softplus-minus-linear", "softplus(z) − y z = softplus(−z) + (1 − y) z, for z > 0",
                lambda e: _softplus_minus_linear(e) is not None, _softplus_shift,
                skip_piecewise=True),
    RewriteRule("logsumexp", "log Σ_k e^{f_k} = logsumexp_k(f_k)",
                _is_log_of(_is_sum_of_exp), _logsumexp),
    RewriteRule("softmax", "1 / Σ_k e^{f_k} = e^{−logsumexp_k(f_k)}",
                _is_inverse_sum_of_exp, _softmax),
    RewriteRule("merge-exp", "e^a e^b = e^{a+b}", _has_two_exps, _merge_exp),
    RewriteRule("log-exp", "log e^x = x (x real)", _is_log_of(lambda a: isinstance(a, exp)),
                lambda e: e.args[0].args[0]),
    RewriteRule("gaussian-kl", "log(σ2/σ1) + σ1²/(2σ2²) − ½ = ½ φ(2 log(σ1/σ2))",
                _looks_like_gaussian_kl, _gaussian_kl),
    RewriteRule("xphi-at-zero", "x φ(log(y/x)) = y at x = 0 (its limit)",
                lambda e: _xphi_parts(e) is not None, _xphi_at_zero, skip_piecewise=True),
    RewriteRule("expm1mx", "e^u − 1 − u = expm1mx(u)",
                lambda e: isinstance(e, Add) and e.has(exp),
                _minus_one_minus_arg(_exp_arg, expm1mx)),
    RewriteRule("log1pmx", "log(1 + r) − r = log1pmx(r)",
                lambda e: isinstance(e, Add) and e.has(log1p, log),
                _minus_one_minus_arg(_log1p_arg, log1pmx)),
    RewriteRule("expm1", "e^x − 1 = expm1(x)", _has_exp_and_number, _expm1),
    RewriteRule("log1p", "log(1 + x) = log1p(x)", _is_log_of(lambda a: _one_plus(a) is not None),
                lambda e: log1p(_one_plus(e.args[0]))),
    RewriteRule("scale-into-sum", "Σ_i f_i^n / s^n = Σ_i f_i^n s^−n (s free of i; powers pair up)",
                lambda e: _scale_into_sum_parts(e) is not None, _scale_into_sum),
    RewriteRule("xlogy", "x log y = xlogy(x, y), with 0 log y = 0", _is_x_log_y, _xlogy),
    RewriteRule("logratio", "log(a/b) = logratio(a, b) for a, b > 0",
                _is_log_of(lambda a: _ratio(a) is not None), _logratio),
    RewriteRule("log-of-powers", "log(c x^n) = log c + n log x for c, x > 0 (x^n may overflow)",
                _is_log_of(_log_power_factors), _expand_log),
)

#: The bundle :func:`stabilise` applies by default (like ``optims_c99``: a tuple of rules).
STABLE_BUNDLE: tuple[RewriteRule, ...] = RULES


def rule(name: str) -> RewriteRule:
    """The rule called ``name``."""
    for r in RULES:
        if r.name == name:
            return r
    raise KeyError(f"no rewrite rule {name!r}; rules: {', '.join(r.name for r in RULES)}")


def stabilise(expr: sympy.Basic, bundle: Iterable[RewriteRule] = STABLE_BUNDLE,
              *, max_passes: int = 4) -> sympy.Basic:
    """Apply every rule of ``bundle`` in order, repeating until nothing changes.

    ``expr`` is a SymPy expression (or a Python number); a string is refused with a
    ``TypeError`` — parse text with :func:`derive.parse`, which never evaluates it.
    """
    bundle = tuple(bundle)
    expr = require_expr(expr, "expr", numbers_ok=True)
    for _ in range(max_passes):
        new = expr
        for r in bundle:
            new = r(new)
        if new == expr:
            break
        expr = new
    return expr


_ELEMENTARY = {
    log1p: lambda e: log(1 + e.args[0]),
    expm1: lambda e: exp(e.args[0]) - 1,
}


def to_elementary(expr: sympy.Basic) -> sympy.Basic:
    """Every stable primitive back to its definition in ``exp``/``log`` (the textbook form)."""
    from derive.functions import FUNCTIONS

    classes = (*FUNCTIONS.values(), log1p, expm1)

    def back(e):
        if type(e) in _ELEMENTARY:
            return _ELEMENTARY[type(e)](e)
        return e.rewrite(exp)

    expr = expr.replace(lambda e: isinstance(e, sympy.UnevaluatedExpr), lambda e: e.args[0])
    for _ in range(4):
        new = expr.replace(lambda e: isinstance(e, classes), back)
        if new == expr:
            break
        expr = new
    return expr
