"""Export a derivation's result as a numeric function or as source code.

The result's right-hand side is first made stable by the rewrite bundle of
:mod:`derive.rewrite` (``log σ(z) → −softplus(−z)``, ``log Σ e^z → logsumexp``, …),
then *lowered* to array form and printed for a target:

=========  ====================================================================
target     what ``export(name, target)`` returns
=========  ====================================================================
numpy      a function of NumPy arrays; float32 in → float32 out (``dtype=`` to force)
mpmath     a function evaluated at the caller's working precision (``mp.workdps``)
jax        a jitted function of ``jax.numpy`` arrays (float64 only under jax_enable_x64)
torch      a function of tensors (CPU or the inputs' device)
=========  ====================================================================

``export_source(name, "python")`` is a self-contained module (NumPy only) with one function
— exactly the code ``export(name, "numpy")`` executes — and ``export_source(name, "c")`` is
C99 using ``log1p``/``expm1`` (one ``double`` function of scalar arguments; a vector
parameter becomes ``const double *z`` plus its length ``int K``, and a result with a free
index writes ``double *out``).

Array conventions (shared with :mod:`derive.oracle`): the callable takes the derivation's
``parameters`` positionally.  A scalar parameter is an array broadcast elementwise.  A
vector parameter (``IndexedBase``) is an array ``[..., K]`` (a matrix ``[..., K, M]``);
``Sum(f(k), (k, 1, K))`` is a reduction over that axis; a free index ``i`` in the result
makes the output ``[..., K]``.

Every symbol is renamed to a sanitised identifier before printing, so a derivation whose
symbols are named like code cannot inject any.  The stable primitives print as small
kernels emitted into the generated source (series for ``expm1mx``/``log1pmx`` near 0,
``m + log1p(Σ_{k≠argmax} e^{z_k−m})`` for ``logsumexp``, …).  Lowering also gives kernels
to composite patterns SymPy cannot hold in a stable shape: ``e^{a − logsumexp f}``
(shifted by ``max f``; for ``f = w·g`` with a scale ``w`` free of the summation index,
such as ``z/T``, shifted by ``g`` at the argmax *before* scaling, ``e^{w(a' − m)}``), a
softmax entry plus a target (``p_i − y_i`` through the complement of the largest entry),
the difference of two softmax entries over one axis (``q_i expm1(log(p_i/q_i))`` where they
are close), ``x_i − Σ_j x_j/n`` (centred on ``x_1`` first), ``φ(c·log(a/b))``
(``(a/b)^c − 1 − u`` beyond ``|u| = 2``), ``x^n/y^n`` (as ``(x/y)^n``) and the mutual
information of a table, ``Σ_mn p_mn log(p_mn/(Σ_i p_in · Σ_j p_mj))`` (the non-negative KL
terms of ``numeric.mutual_information``, plus the exact correction for a table whose sum is
not 1).  ``naive=True`` exports the textbook form instead (every primitive rewritten to
``exp``/``log``, no rules, no patterns) — the baseline the verification engine compares
against.

A result that is not an equation of its parameters (an inequality, a matrix expression,
an index range other than ``1..K``) raises ValueError/NotImplementedError; see
:func:`exportable`.
"""

from __future__ import annotations

import builtins
import functools
import keyword
import re
import sys
import types
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy
from sympy import Idx, Indexed, IndexedBase, KroneckerDelta, Product, S, Sum
from sympy.printing.c import C99CodePrinter
from sympy.printing.precedence import precedence
from sympy.printing.pycode import PythonCodePrinter

from derive import _export_matrix, _kernels
from derive.core import IntegerRange
from derive.functions import expm1mx, logratio, logsumexp, xlogy
from derive.rewrite import RULES, STABLE_BUNDLE, stabilise, to_elementary

__all__ = [
    "RULES",
    "SOURCE_TARGETS",
    "STABLE_BUNDLE",
    "TARGETS",
    "export",
    "export_derivation",
    "export_source",
    "exportable",
    "source_for",
    "stabilise",
]

TARGETS = ("numpy", "mpmath", "jax", "torch")
SOURCE_TARGETS = ("python", "c")


# ------------------------------------------------------------------------- names

_PY_RESERVED = (set(keyword.kwlist) | set(keyword.softkwlist) | set(dir(builtins))
                | {"np", "jnp", "jax", "torch", "mpmath", "math", "out", "like"})
_C_RESERVED = {
    # C99 keywords
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
    "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef",
    "union", "unsigned", "void", "volatile", "while", "main", "out", "i", "n",
    # names from <math.h>/<float.h> a parameter must not shadow
    "exp", "exp2", "expm1", "log", "log10", "log1p", "log2", "logb", "pow", "sqrt", "cbrt",
    "hypot", "fabs", "fmax", "fmin", "fma", "fmod", "floor", "ceil", "round", "trunc", "sin",
    "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh", "acosh",
    "atanh", "erf", "erfc", "gamma", "lgamma", "tgamma", "j0", "j1", "jn", "y0", "y1", "yn",
    "isfinite", "isinf", "isnan", "signbit", "copysign", "nan", "ldexp", "frexp", "modf",
    "scalbn", "remainder", "nearbyint", "rint", "DBL_MIN", "DBL_MAX", "NAN", "INFINITY",
    "HUGE_VAL", "M_PI", "M_E",
}


def _ascii_name(raw: str) -> str:
    """Transliterate a symbol name to ``[A-Za-z0-9_]`` (σ₁ → sigma1); everything else → ``_``."""
    out = []
    for ch in raw:
        if ch.isascii() and (ch.isalnum() or ch == "_"):
            out.append(ch)
            continue
        try:
            digit = unicodedata.digit(ch)
        except (TypeError, ValueError):
            digit = None
        if digit is not None:
            out.append(str(digit))
            continue
        uname = unicodedata.name(ch, "")
        if uname.startswith("GREEK") and "LETTER" in uname:
            word = uname.split()[-1].lower()
            out.append(word.capitalize() if "CAPITAL" in uname else word)
        else:
            out.append("_")
    name = re.sub(r"_+", "_", "".join(out)).strip("_")
    if not name:
        name = "x"
    if name[0].isdigit():
        name = "x" + name
    return name


class _Names:
    """Allocate unique, sanitised identifiers that cannot collide with generated code."""

    def __init__(self, reserved: set[str]) -> None:
        self.reserved = reserved
        self.used: set[str] = set()

    def new(self, raw: str) -> str:
        name = _ascii_name(raw)
        if name.startswith(("lp_", "lossproof_")):
            name = "p_" + name
        base, n = name, 1
        while name in self.reserved or name in self.used:
            n += 1
            name = f"{base}_{n}"
        self.used.add(name)
        return name


# ---------------------------------------------------------------------- lowering


class _ReductionBase(sympy.Function):
    """``reduce(f, position)`` over one index axis, keepdims (printed per target)."""

    nargs = 2
    kernel = ""


class _ReduceSum(_ReductionBase):
    kernel = "_sum"


class _ReduceProd(_ReductionBase):
    kernel = "_prod"


class _ReduceLSE(_ReductionBase):
    kernel = "_logsumexp"


_REDUCTIONS = {Sum: _ReduceSum, Product: _ReduceProd, logsumexp: _ReduceLSE}


class _ExpMinusLSE(sympy.Function):
    """``e^(w a − logsumexp_k(w f_k))``, ``w = c/d``, args ``(a, f, c, d, axis)``: evaluated
    as ``e^(w (a − m)) / Σ e^(w (f_k − m))`` with ``m = f`` at the argmax of ``w f``, the
    shift taken before the scaling (``c = d = 1``: an unscaled softmax)."""

    nargs = 5


class _SoftmaxPlus(sympy.Function):
    """``softmax_i(w f) + t`` where the softmax entry is as in :class:`_ExpMinusLSE`; args
    ``(a, f, c, d, t, one_t, axis)``, ``one_t`` being ``1 + t`` arranged to be computed
    without cancellation."""

    nargs = 7


class _SoftmaxDiff(sympy.Function):
    """``softmax_i(w f) − softmax_i(w g)`` over one axis, ``w = c/d``; args
    ``(a, f, b, g, c, d, axis)`` with ``a``, ``b`` the entries of ``f``, ``g`` at the free
    index: ``q_i expm1(log(p_i/q_i))`` where the two are close, ``p_i − q_i`` beyond."""

    nargs = 7


class _Centred(sympy.Function):
    """``a − Σ_k f_k / n`` (``a`` = ``f`` at another index, ``n`` the length of the axis);
    args ``(a, f, axis)``: ``(a − f_1) − Σ_k (f_k − f_1)/n``, centred on the first entry."""

    nargs = 3


class _Expm1mxLogratio(sympy.Function):
    """``expm1mx(c·logratio(a, b))``: the series near 0, ``(a/b)^c − 1 − u`` beyond."""

    nargs = 3


class _RatioPow(sympy.Function):
    """``(x / y)**n`` kept as a ratio raised to a power."""

    nargs = 3


class _MutualInformation(sympy.Function):
    """``Σ_m Σ_n xlogy(p_mn, p_mn / (Σ_i p_in · Σ_j p_mj))`` of a whole table: the argument
    is the (renamed) matrix parameter ``p``, ``[..., M, N]``; the result has no index axes.
    Printed as a kernel: non-negative KL terms ``p log(p/q) − p + q`` against the product of
    the marginals divided by ``S = Σp`` (in double-double), minus ``S log S`` (0 for ``S = 1``)."""

    nargs = 1


class _Delta(sympy.Function):
    """KroneckerDelta of two index values, printed as a comparison ``(a == b)``."""

    nargs = 2


@dataclass
class _Softmax:
    """e^(w a − logsumexp_k(w f_k)) in parts, w = num/den (both 1 when f has no factor free
    of k); ``entry`` is the free index at which a is f (e is that softmax entry), or None."""

    a: sympy.Basic
    f: sympy.Basic
    num: sympy.Basic
    den: sympy.Basic
    axis: sympy.Integer
    entry: sympy.Basic | None


@dataclass
class View:
    """Array parameter ``base`` seen through index axes: dimension ``j`` of ``base`` lies
    on index axis ``dim_positions[j]`` (every other axis has length 1)."""

    name: str
    base: str
    dim_positions: list[int]


@dataclass
class Lowered:
    """A result in array form: every symbol renamed, sums as reductions over index axes.

    The working arrays have ``naxes`` trailing index axes (free indices first, then the
    bound ones); ``free`` are the positions that remain in the output.
    """

    name: str
    title: str
    params: list[tuple[str, str, list[str]]]  # (safe name, "scalar" | "array", its sizes)
    expr: sympy.Basic = S.Zero
    naxes: int = 0
    free: list[int] = field(default_factory=list)
    sizes: dict[str, str] = field(default_factory=dict)        # size name -> Python int
    index_sizes: dict[int, str] = field(default_factory=dict)  # axis -> size name
    views: list[View] = field(default_factory=list)
    index_values: dict[str, int] = field(default_factory=dict)  # name -> axis (value k+1)
    size_values: dict[str, str] = field(default_factory=dict)   # name -> size name
    gathers: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (array, label)

    @property
    def vector(self) -> bool:
        return self.naxes > 0


def _plain_ratio(y: sympy.Basic) -> tuple[sympy.Basic, sympy.Basic] | None:
    """``(a, b)`` when ``y`` is a quotient ``a/b`` of non-numbers not known negative (the
    argument of ``x log(a/b)``: printed as ``x · logratio(a, b)``), else None."""
    from derive.rewrite import _ratio

    parts = _ratio(y)
    if parts is None or parts[0] != 1:
        return None
    return parts[1], parts[2]


def _vector_lengths(domain) -> tuple | None:
    length = getattr(domain, "length", None)
    if length is None:
        return None
    return length if isinstance(length, tuple) else (length,)


def _numbers_to_floats(e: sympy.Basic) -> sympy.Basic:
    """Irrational constants (π, log 2, …) as Floats: printed as Python/C literals, so they
    never upcast float32 arrays the way ``numpy.log(2)`` (a float64 scalar) would."""
    def is_const(x):
        return (x.is_number and not x.is_Rational and not isinstance(x, sympy.Float)
                and x.is_extended_real and x.is_finite)

    return e.replace(is_const, lambda x: sympy.Float(x.evalf(30), 30))


def lower(derivation, expr: sympy.Basic, reserved: set[str], *, stable: bool = True) -> Lowered:
    """Rename every symbol to a sanitised identifier and turn index notation (``Indexed``,
    ``Sum``/``Product``/``logsumexp`` over an index, ``KroneckerDelta``) into array
    operations over index axes.  Raises ValueError/NotImplementedError when the result is
    not a closed form of the parameters in a shape this exporter handles.

    With ``stable`` (not for the naive exports), composite patterns get kernels:
    ``e^(a − logsumexp f)`` (shifted by max f, not by logsumexp; a scale free of the
    summation index is applied after the shift), a softmax entry plus a target (``p_i − y_i``
    via the complement of the largest entry), the difference of two softmax entries
    (``q_i expm1(log(p_i/q_i))`` where they cancel), ``x_i − Σ_j x_j/n`` (centred on the
    first entry), ``φ(c log(a/b))``, ``x^n/y^n`` (as ``(x/y)^n``) and the mutual information
    ``Σ_mn xlogy(p_mn, p_mn/(Σ_i p_in · Σ_j p_mj))`` of a whole matrix parameter."""
    d = derivation
    params = tuple(d.parameters)
    if not params:
        raise ValueError(f"{d.name}: the derivation declares no parameters to export")
    for bad in (sympy.Derivative, sympy.Integral, sympy.Limit):
        if expr.has(bad):
            raise ValueError(f"{d.name}: the result is not a closed form (has {bad.__name__})")
    if isinstance(expr, sympy.MatrixBase) or expr.atoms(sympy.core.function.AppliedUndef):
        raise ValueError(f"{d.name}: the result is not a scalar closed form")
    names = _Names(reserved)
    safe: dict[sympy.Basic, sympy.Symbol] = {}
    lengths: dict[sympy.Basic, tuple] = {}
    for p in params:
        if isinstance(p, IndexedBase):
            lens = _vector_lengths(d.domains.get(p))
            ndim = len(lens) if lens else max(
                (len(x.indices) for x in expr.atoms(Indexed) if x.base == p), default=1)
            lengths[p] = lens or (None,) * ndim
            safe[p] = sympy.Symbol(names.new(str(p.label)))
        elif isinstance(p, sympy.Symbol):
            safe[p] = sympy.Symbol(names.new(p.name))
        else:
            raise ValueError(f"{d.name}: parameter {p} is neither a Symbol nor an IndexedBase")

    # index symbols: the free ones (output axes) first, then the bound ones, each by name
    free_idx: set = set()
    bound_idx: set = set()
    for ix in expr.atoms(Indexed):
        if ix.base not in safe:
            raise ValueError(f"{d.name}: {ix.base} is not a parameter")
        for j in ix.indices:
            if j in safe and isinstance(j, sympy.Symbol) and len(ix.indices) == 1:
                continue  # q[y] with a class-label parameter y: a gather
            if not isinstance(j, (sympy.Symbol, Idx)) or j in safe:
                raise NotImplementedError(f"{d.name}: index {j} of {ix} is not an index symbol")
            if j in expr.free_symbols:
                free_idx.add(j)
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, tuple(_REDUCTIONS)):
            bound_idx |= {lim[0] for lim in node.limits}
    size_syms = {s for lens in lengths.values() for s in lens if s is not None}
    for s in expr.free_symbols:  # an index used only outside Indexed (KroneckerDelta(i, j))
        dom = d.domains.get(s)
        if (s not in safe and s not in size_syms and isinstance(dom, IntegerRange)
                and dom.lo == 1):
            free_idx.add(s)
    labels = {ix.base.label for ix in expr.atoms(Indexed)}
    for s in expr.free_symbols - labels:
        if not (isinstance(s, Indexed) or s in safe or s in free_idx or s in size_syms):
            raise ValueError(f"{d.name}: symbol {s} in the result is not a parameter")
    order = sorted(free_idx, key=str) + sorted(bound_idx - free_idx, key=str)
    pos = {s: n for n, s in enumerate(order)}
    low = Lowered(d.name, d.title, [], naxes=len(order),
                  free=[pos[s] for s in sorted(free_idx, key=str)])

    size_names: dict[sympy.Basic, str] = {}

    def size(sym, runtime: str | None = None) -> str:
        """The identifier of a length (``K``): an int argument in C, ``z.shape[-1]`` in Python."""
        if sym not in size_names:
            if runtime is None:
                runtime = next((f"{safe[p]}.shape[{j - len(ls)}]" for p, ls in lengths.items()
                                for j, s in enumerate(ls) if s == sym), None)
            if runtime is None and sym in safe:
                runtime = f"int({safe[sym]})"
            if runtime is None:
                raise ValueError(f"{d.name}: cannot tell the length {sym} from the parameters")
            size_names[sym] = names.new(f"n_{sym}" if sym in safe else str(sym))
            low.sizes[size_names[sym]] = runtime
        return size_names[sym]

    for p in params:
        if isinstance(p, IndexedBase):
            sz = [size(s if s is not None else (p, j), f"{safe[p]}.shape[{j - len(lengths[p])}]")
                  for j, s in enumerate(lengths[p])]
            low.params.append((str(safe[p]), "array", sz))
        else:
            low.params.append((str(safe[p]), "scalar", []))
    for ix in expr.atoms(Indexed):  # the length of an index axis: the array it indexes
        for j, s in enumerate(ix.indices):
            if s in pos and pos[s] not in low.index_sizes:
                ln = lengths[ix.base][j]
                low.index_sizes[pos[s]] = size(ln if ln is not None else (ix.base, j))
    for s in free_idx:  # or else the upper end of its declared range
        if pos[s] not in low.index_sizes and isinstance(d.domains.get(s), IntegerRange):
            low.index_sizes[pos[s]] = size(d.domains[s].hi)

    views: dict[tuple, sympy.Symbol] = {}
    index_values: dict[sympy.Basic, sympy.Symbol] = {}
    size_values: dict[sympy.Basic, sympy.Symbol] = {}

    def view(ix: Indexed) -> sympy.Symbol:
        key = (ix.base, ix.indices)
        if key not in views and ix.indices[0] in safe:  # q[y]: the entry at label y (1-based)
            name = names.new(f"{safe[ix.base]}_at_{safe[ix.indices[0]]}")
            low.gathers[name] = (str(safe[ix.base]), str(safe[ix.indices[0]]))
            views[key] = sympy.Symbol(name)
        if key not in views:
            positions = [pos[s] for s in ix.indices]
            if len(set(positions)) != len(positions):
                raise NotImplementedError(f"{d.name}: repeated index in {ix}")
            name = names.new(f"{safe[ix.base]}_" + "".join(_ascii_name(str(s)) for s in ix.indices))
            low.views.append(View(name, str(safe[ix.base]), positions))
            views[key] = sympy.Symbol(name)
        return views[key]

    def index_value(s) -> sympy.Symbol:
        if s not in index_values:
            if pos[s] not in low.index_sizes:
                raise ValueError(f"{d.name}: cannot tell the length of index {s}")
            name = names.new(f"{s}_value")
            low.index_values[name] = pos[s]
            index_values[s] = sympy.Symbol(name)
        return index_values[s]

    def size_value(s) -> sympy.Basic:
        if s in safe:
            return safe[s]
        if s not in size_values:
            name = names.new(f"{s}_value")
            low.size_values[name] = size(s)
            size_values[s] = sympy.Symbol(name)
        return size_values[s]

    def axis(k, lo, hi) -> sympy.Integer:
        """The index axis a reduction over ``(k, lo, hi)`` runs along."""
        if lo != 1:
            raise NotImplementedError(f"{d.name}: the sum over {k} does not start at 1")
        if pos[k] not in low.index_sizes:
            if not isinstance(hi, sympy.Symbol):
                raise NotImplementedError(f"{d.name}: the sum over {k} ends at {hi}")
            low.index_sizes[pos[k]] = size(hi)
        return sympy.Integer(pos[k])

    def one_plus(t):
        """1 + t with its leading part (the number and the terms linear in one symbol, e.g.
        1 − y) summed first: 1 − (1 − ε) y − ε/K becomes (1 − y) + (ε y − ε/K)."""
        terms = sympy.Add.make_args(sympy.expand(1 + t))

        def leading(x):
            c, f = x.as_coeff_Mul()
            return x.is_number or (c.is_number and isinstance(f, (sympy.Symbol, Indexed)))

        lead = [x for x in terms if leading(x)]
        small = [x for x in terms if not leading(x)]
        return sympy.UnevaluatedExpr(sympy.Add(*lead)) + sympy.Add(*small)

    def unscale(a, c):
        """a/c when the factors of c are factors of a (z_i/T over 1/T: z_i), else None."""
        rest = list(sympy.Mul.make_args(a))
        for factor in sympy.Mul.make_args(c):
            if factor not in rest:
                return None
            rest.remove(factor)
        return sympy.Mul(*rest)

    def softmax_parts(e) -> _Softmax | None:
        """The parts of ``e`` when it is e^(a − logsumexp_k f_k), else None; a scale w free
        of k (f_k = w g_k, a = w a') is split off, so the shift can precede the scaling."""
        if not isinstance(e, sympy.exp):
            return None
        terms = sympy.Add.make_args(e.args[0])
        lses = [t for t in terms if isinstance(-t, logsumexp) and len((-t).limits) == 1]
        if len(lses) != 1:
            return None
        lse = -lses[0]
        (k, lo, hi), f = lse.limits[0], lse.function
        if k not in f.free_symbols:
            return None
        a = sympy.Add(*[t for t in terms if t is not lses[0]])
        w, g = f.as_independent(k, as_Add=False) if isinstance(f, sympy.Mul) else (S.One, f)
        a_g = unscale(a, w) if w != 1 else None
        if a_g is not None and not (w.free_symbols & a_g.free_symbols):
            a, f = a_g, g
            num, den = w.as_numer_denom()
        else:
            num = den = S.One
        entry = next((j for j in sorted(free_idx, key=str) if f.xreplace({k: j}) == a), None)
        return _Softmax(a, f, num, den, axis(k, lo, hi), entry)

    def softmax_difference(e):
        """p_i − q_i (+ rest) when the Add ``e`` holds two softmax entries at the same index
        over the same axis with the same scale, as _SoftmaxDiff (+ the rest), else None."""
        signed = []
        for term in e.args:
            sign, body = term.as_coeff_Mul()
            parts = softmax_parts(body) if sign in (1, -1) else None
            if parts is not None and parts.entry is not None:
                signed.append((term, sign, parts))
        for tp, sp, p in signed:
            for tq, sq, q in signed:
                if (sp, sq) == (1, -1) and (p.axis, p.entry, p.num, p.den) == (
                        q.axis, q.entry, q.num, q.den):
                    rest = sympy.Add(*[x for x in e.args if x is not tp and x is not tq])
                    diff = _SoftmaxDiff(walk(p.a), walk(p.f), walk(q.a), walk(q.f),
                                        walk(p.num), walk(p.den), p.axis)
                    return diff + walk(rest)
        return None

    def centred(e):
        """a − Σ_k f_k/n (+ rest) with a = f at another index and n the length of the summed
        axis, as _Centred (+ the rest), else None."""
        for term in e.args:
            sums = [x for x in sympy.Mul.make_args(term)
                    if isinstance(x, Sum) and len(x.limits) == 1]
            if len(sums) != 1:
                continue
            (k, lo, hi), f = sums[0].limits[0], sums[0].function
            if k not in f.free_symbols or term / sums[0] != -1 / hi:
                continue
            for other in e.args:
                if other is term or not any(j != k and j not in f.free_symbols
                                            and f.xreplace({k: j}) == other for j in order):
                    continue
                ax = axis(k, lo, hi)
                if size_names.get(hi) != low.index_sizes[int(ax)]:
                    continue  # n is not the length of the axis the sum runs along
                rest = sympy.Add(*[x for x in e.args if x is not term and x is not other])
                return _Centred(walk(other), walk(f), ax) + walk(rest)
        return None

    def mutual_information_table(e) -> IndexedBase | None:
        """The matrix parameter p when ``e`` is ``Σ_a Σ_b xlogy(p[a, b], p[a, b] / (Σ_i p[i, b]
        · Σ_j p[a, j]))`` over the whole table (either order of the sums and factors; one
        ``Sum`` with two limits or two nested ones), else None."""
        limits, f = [], e
        while isinstance(f, Sum):
            limits, f = [*f.limits, *limits], f.function
        if len(limits) != 2 or not isinstance(f, xlogy):
            return None
        x, y = f.args
        if not (isinstance(x, Indexed) and x.base in safe and len(x.indices) == 2
                and len(lengths[x.base]) == 2):
            return None
        base, (a, b) = x.base, x.indices
        his = {lim[0]: lim[2] for lim in limits if lim[1] == 1}
        if a == b or set(his) != {a, b} or any(s in safe for s in (a, b)):
            return None
        num, den = sympy.fraction(y)
        sums = sympy.Mul.make_args(den)
        if num != x or len(sums) != 2 or not all(isinstance(t, Sum) and len(t.limits) == 1
                                                 for t in sums):
            return None

        def marginal(axis_: int) -> bool:
            """Some factor is Σ_v p[.., v, ..] over axis ``axis_`` of p, the other index kept."""
            for t in sums:
                (v, lo, hi), g = t.limits[0], t.function
                keep = list(x.indices)
                keep[axis_] = v
                if (lo == 1 and v not in (a, b) and v not in safe
                        and isinstance(g, Indexed) and g.base == base
                        and tuple(g.indices) == tuple(keep) and hi == his[x.indices[axis_]]
                        and lengths[base][axis_] in (None, hi)):
                    return True
            return False

        return base if marginal(0) and marginal(1) else None

    def split_input(rest) -> tuple[sympy.Basic, sympy.Basic]:
        """``(±x, others)`` with ``rest = ±x + others`` and ``x`` an input entry (a
        symbol or an indexed entry), when ``rest`` has one and other terms; else
        ``(rest, 0)``."""
        terms = sympy.Add.make_args(rest)
        if len(terms) > 1:
            for t in terms:
                c, x = t.as_coeff_Mul()
                if abs(c) == 1 and isinstance(x, Indexed | sympy.Symbol):
                    return t, sympy.Add(*[u for u in terms if u is not t])
        return rest, S.Zero

    def power_product(e) -> sympy.Basic | None:
        """``Π_k y_k^(c x_k)`` when ``e`` is ``exp(c Σ_k xlogy(x_k, y_k))`` (c a number;
        0 log y = 0 matches y^0 = 1, also at y = 0), else None."""
        c, inner = e.args[0].as_coeff_Mul()
        if not (isinstance(inner, Sum) and isinstance(inner.function, xlogy) and c.is_real
                and c.is_number):
            return None
        x, y = inner.function.args
        return Product(y ** (c * x), *inner.limits)

    def walk(e):
        if isinstance(e, Indexed):
            return view(e)
        if stable and isinstance(e, Sum) and (table := mutual_information_table(e)) is not None:
            # Σ p log(p/(r c)) over the whole table: a kernel with the marginals and their
            # product in double-double and non-negative KL terms (no cancellation near
            # independence, no rounded marginal near a deterministic table)
            return _MutualInformation(safe[table])
        if isinstance(e, tuple(_REDUCTIONS)):
            kind, f = type(e), e.function
            out = None
            for k, lo, hi in e.limits:  # innermost first
                if k not in f.free_symbols:  # a term free of k counts hi times
                    n = walk(hi)
                    out = walk(f) if out is None else out
                    out = {Sum: out * n, Product: out**n, logsumexp: out + sympy.log(n)}[kind]
                else:
                    out = _REDUCTIONS[kind](walk(f) if out is None else out, axis(k, lo, hi))
                f = kind(f, (k, lo, hi))
            return out
        if stable and isinstance(e, sympy.Add):
            # x_i − Σ_k x_k/n: centred on x_1 first, so a mean of close values cannot round
            out = centred(e)
            if out is not None:
                return out
            # p_i − q_i for two softmaxes: q_i expm1(log(p_i/q_i)) where they cancel
            out = softmax_difference(e)
            if out is not None:
                return out
            # softmax_i + t with softmax_i = e^(f_i - logsumexp_k f_k): near 1 it is the
            # largest entry and (1 + t) - sum_(k != argmax) softmax_k keeps p_i - y_i exact
            for term in e.args:
                parts = softmax_parts(term)
                rest = sympy.Add(*[x for x in e.args if x is not term])
                if (parts is not None and parts.entry is not None
                        and not rest.has(logsumexp, sympy.exp)):
                    # an input ±y_i among the rest is added first, the others after:
                    # (p − y_i) + ε(y_i − 1/K) keeps p − y_i exact where p ≈ y_i (Sterbenz),
                    # where p + (ε(y_i − 1/K) − y_i) rounds −ŷ_i to ulp(1/2) first
                    head, tail = split_input(rest)
                    return _SoftmaxPlus(walk(parts.a), walk(parts.f), walk(parts.num),
                                        walk(parts.den), walk(head), walk(one_plus(head)),
                                        parts.axis) + walk(tail)
        if stable and isinstance(e, sympy.exp) and (prod := power_product(e)) is not None:
            # e^(c Σ_k x_k log y_k) = Π_k y_k^(c x_k): no exponential of a rounded sum,
            # whose absolute error |Σ| ε becomes a relative error |Σ| ε of the result
            return walk(prod)
        if stable and isinstance(e, sympy.exp) and (p := softmax_parts(e)) is not None:
            # e^(w a - logsumexp_k w f_k) = e^(w (a - m)) / sum_k e^(w (f_k - m)), w m = max w f
            return _ExpMinusLSE(walk(p.a), walk(p.f), walk(p.num), walk(p.den), p.axis)
        if stable and isinstance(e, expm1mx):
            # φ(c log(a/b)) = (a/b)^c − 1 − u beyond |u| = 2 (no exp of a rounded logarithm)
            c, f = e.args[0].as_coeff_Mul()
            if isinstance(f, logratio) and c.is_Rational:
                return _Expm1mxLogratio(walk(f.args[0]), walk(f.args[1]), c)
        if stable and isinstance(e, sympy.Mul):
            # x^n / y^n as (x/y)^n: neither power over- or underflows on its own
            pows = [t for t in e.args if isinstance(t, sympy.Pow) and t.exp.is_Integer
                    and not t.base.is_number]
            for num in pows:
                den = next((t for t in pows if t.exp == -num.exp and num.exp > 1), None)
                if den is not None:
                    rest = [t for t in e.args if t is not num and t is not den]
                    return sympy.Mul(*[walk(t) for t in rest]) * _RatioPow(
                        walk(num.base), walk(den.base), num.exp)
        if isinstance(e, KroneckerDelta):
            return _Delta(walk(e.args[0]), walk(e.args[1]))
        if isinstance(e, (sympy.Symbol, Idx)):
            if e in safe:
                return safe[e]
            if e in pos:
                return index_value(e)
            return size_value(e)
        if not e.args:
            return e
        return e.func(*[walk(a) for a in e.args])

    low.expr = walk(expr)
    return low


# ---------------------------------------------------------------------- printers

_FAMILY_MODULE = {"numpy": "np", "jax": "jnp", "torch": "torch", "mpmath": "_mp"}


class _ArrayPrinter(PythonCodePrinter):
    """Print a lowered expression as Python for one array family.

    ``printmethod`` is one no object defines, so the functions' own ``_numpycode`` is not
    used: every lossproof primitive prints as a call to a kernel emitted with the code.
    """

    printmethod = "_lossproof_array_code"

    def __init__(self, family: str, naxes: int) -> None:
        super().__init__({"fully_qualified_modules": False, "strict": True})
        self.family = family
        self.mod = _FAMILY_MODULE[family]
        self.naxes = naxes
        self.kernels: set[str] = set()

    # -- helpers -------------------------------------------------------------------
    def _f(self, name: str) -> str:
        if self.family == "mpmath":
            if name == "where":
                return "np.where"
            self.kernels.add(f"_mp_{name}")
            return f"_mp_{name}"
        if self.family == "torch" and name == "maximum":
            return "torch.maximum"
        return f"{self.mod}.{name}"

    def _call(self, name: str, *args) -> str:
        return f"{self._f(name)}({', '.join(self._print(a) for a in args)})"

    def _kernel(self, name: str, *args) -> str:
        self.kernels.add(name)
        return f"{name}({', '.join(self._print(a) for a in args)})"

    # -- numbers -------------------------------------------------------------------
    def _print_Float(self, expr):
        if self.family == "mpmath":
            return f"mpmath.mpf('{sympy.sstr(expr, full_prec=True)}')"
        return repr(float(expr))

    def _print_Rational(self, expr):
        if self.family == "mpmath":
            return f"(mpmath.mpf({expr.p})/{expr.q})"
        return f"({expr.p}/{expr.q})"

    _print_Half = _print_Rational

    def _print_Integer(self, expr):
        return str(expr.p)

    def _print_Pi(self, expr):
        return "mpmath.pi" if self.family == "mpmath" else repr(float(sympy.pi))

    def _print_Exp1(self, expr):
        return "mpmath.e" if self.family == "mpmath" else repr(float(sympy.E))

    def _print_Infinity(self, expr):
        return "mpmath.inf" if self.family == "mpmath" else "float('inf')"

    def _print_NegativeInfinity(self, expr):
        return "(-mpmath.inf)" if self.family == "mpmath" else "float('-inf')"

    def _print_Symbol(self, expr):
        return expr.name  # already sanitised by lower()

    # -- elementary functions ----------------------------------------------------------
    def _print_exp(self, expr):
        return self._call("exp", expr.args[0])

    def _print_log(self, expr):
        if len(expr.args) != 1:
            raise NotImplementedError("log with a base")
        return self._call("log", expr.args[0])

    def _print_log1p(self, expr):
        return self._call("log1p", expr.args[0])

    def _print_expm1(self, expr):
        return self._call("expm1", expr.args[0])

    def _print_Abs(self, expr):
        return f"abs({self._print(expr.args[0])})"

    def _print_UnevaluatedExpr(self, expr):
        return f"({self._print(expr.args[0])})"  # a term the rewrite wants computed first

    def _print_tanh(self, expr):
        return self._call("tanh", expr.args[0])

    def _print_Pow(self, expr, rational=False):
        b, e = expr.base, expr.exp
        if e == S.Half:
            return self._call("sqrt", b)
        if e == -S.Half:
            return f"(1/{self._call('sqrt', b)})"
        base = self.parenthesize(b, precedence(expr), strict=False)
        if e == -1:
            return f"(1/{base})"
        if e.is_Integer:
            return f"{base}**{e.p}" if e.p >= 0 else f"(1/{base}**{-e.p})"
        return f"{base}**{self.parenthesize(e, precedence(expr), strict=False)}"

    def _minmax(self, expr, name):
        args = [self._print(a) for a in expr.args]
        out = args[0]
        for a in args[1:]:
            out = f"{self._f(name)}({out}, {a})"
        return out

    def _print_Max(self, expr):
        return self._minmax(expr, "maximum")

    def _print_Min(self, expr):
        return self._minmax(expr, "minimum")

    def _print_Piecewise(self, expr):
        if expr.args[-1].cond != True:  # noqa: E712 - sympy true
            raise NotImplementedError("Piecewise without an otherwise branch")
        out = self._print(expr.args[-1].expr)
        for e, c in reversed(expr.args[:-1]):
            out = f"{self._f('where')}({self._print(c)}, {self._print(e)}, {out})"
        return out

    def _print_Relational(self, expr):
        op = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[expr.rel_op]
        return f"({self._print(expr.lhs)} {op} {self._print(expr.rhs)})"

    def _print_And(self, expr):
        return "(" + " & ".join(self._print(a) for a in expr.args) + ")"

    def _print_Or(self, expr):
        return "(" + " | ".join(self._print(a) for a in expr.args) + ")"

    def _print_Not(self, expr):
        return f"(~{self._print(expr.args[0])})"

    def _print_BooleanTrue(self, expr):
        return "True"

    def _print_BooleanFalse(self, expr):
        return "False"

    # -- lossproof primitives --------------------------------------------------------
    def _print_sigmoid(self, expr):
        return self._kernel("_sigmoid", *expr.args)

    def _print_softplus(self, expr):
        return self._kernel("_softplus", *expr.args)

    def _print_expm1mx(self, expr):
        return self._kernel("_expm1mx", *expr.args)

    def _print_log1pmx(self, expr):
        return self._kernel("_log1pmx", *expr.args)

    def _print_xlogy(self, expr):
        x, y = expr.args
        u = y - 1
        if isinstance(y, sympy.Add) and y.as_coeff_Add()[0] == 1:
            return self._kernel("_xlog1py", x, u)  # x log(1 + u) via log1p
        ratio = _plain_ratio(y)
        if ratio is not None:  # x log(a/b): log of a rounded a/b near 1 loses its digits
            self.kernels.add("_logratio")
            return self._kernel("_xlogratio", x, *ratio)
        return self._kernel("_xlogy", x, y)

    def _print_logratio(self, expr):
        return self._kernel("_logratio", *expr.args)

    def _print__Delta(self, expr):
        a, b = (self._print(x) for x in expr.args)
        return f"({a} == {b})"

    def _print__ReductionBase(self, expr):
        f, p = expr.args
        self.kernels.add(expr.kernel)
        return f"{expr.kernel}({self._print(f)}, {int(p) - self.naxes})"

    def _print__SoftmaxPlus(self, expr):
        a, f, c, d, t, one_t, p = expr.args
        if c == 1 and d == 1:
            return self._kernel("_softmax_plus", a, f, int(p) - self.naxes, t, one_t)
        return self._kernel("_softmax_plus_scaled", a, f, c, d, int(p) - self.naxes, t, one_t)

    def _print__SoftmaxDiff(self, expr):
        *args, p = expr.args
        return self._kernel("_softmax_diff", *args, int(p) - self.naxes)

    def _print__Centred(self, expr):
        a, f, p = expr.args
        return self._kernel("_centred", a, f, int(p) - self.naxes)

    def _print__RatioPow(self, expr):
        x, y, n = expr.args
        return f"(({self._print(x)})/({self._print(y)}))**{int(n)}"

    def _print__Expm1mxLogratio(self, expr):
        a, b, c = expr.args
        self.kernels.update({"_expm1mx_logratio", "_logratio"})
        if self.family == "mpmath":
            self.kernels.add("_expm1mx")
        return f"_expm1mx_logratio({self._print(a)}, {self._print(b)}, {self._print(c)})"

    def _print__MutualInformation(self, expr):
        self.kernels.add("_mutual_information")
        slots = ", ".join(["None"] * self.naxes)
        return f"_mutual_information({self._print(expr.args[0])})[..., {slots}]"

    def _print__ExpMinusLSE(self, expr):
        a, f, c, d, p = expr.args
        if c == 1 and d == 1:
            return self._kernel("_exp_minus_logsumexp", a, f, int(p) - self.naxes)
        return self._kernel("_exp_minus_logsumexp_scaled", a, f, c, d, int(p) - self.naxes)

    # -- anything else is not exportable ---------------------------------------------------
    def _print_Function(self, expr):
        raise NotImplementedError(f"no {self.family} code for {type(expr).__name__}")

    def _print_Indexed(self, expr):
        raise NotImplementedError("Indexed survived lowering")

    _print_Sum = _print_Product = _print_logsumexp = _print_Indexed

    def _print_ImaginaryUnit(self, expr):
        raise NotImplementedError("complex result")


class _CPrinter(C99CodePrinter):
    """C99 for a lowered result.

    Scalars print as expressions.  A view ``z_k`` prints as ``z[k]`` with a loop variable
    per index axis; a reduction prints as a temporary computed by a loop emitted before
    the statement that uses it (hoisted out of the output loop when it does not depend on
    the output's indices).
    """

    printmethod = "_lossproof_c_code"

    def __init__(self, low: Lowered) -> None:
        super().__init__({"strict": True})
        self.low = low
        self.kernels: set[str] = set()
        self.views = {v.name: v for v in low.views}
        self.sizes_of = {p[0]: p[2] for p in low.params}
        self.pending: list[str] = []   # statements for the current loop body
        self.hoisted: list[str] = []   # statements before the output loops
        self.depth = 0                 # reductions being printed (0: the output expression)
        self.ntemp = 0

    @staticmethod
    def loop_var(position: int) -> str:
        return f"lp_i{position}"

    def _kernel(self, name, *args):
        self.kernels.add(name)
        return f"{name}({', '.join(self._print(a) for a in args)})"

    def _print_Symbol(self, expr):
        name = expr.name
        if name in self.views:
            v = self.views[name]
            sizes = self.sizes_of[v.base]
            offset = self.loop_var(v.dim_positions[0])
            for p, n in zip(v.dim_positions[1:], sizes[1:], strict=True):
                offset = f"({offset})*{n} + {self.loop_var(p)}"
            return f"{v.base}[{offset}]"
        if name in self.low.gathers:
            base, label = self.low.gathers[name]
            self.kernels.add("lp_take")
            return f"lp_take({base}, {self.sizes_of[base][0]}, {label})"
        if name in self.low.index_values:
            return f"((double)({self.loop_var(self.low.index_values[name])} + 1))"
        if name in self.low.size_values:
            return f"((double){self.low.size_values[name]})"
        return name

    def _print_sigmoid(self, expr):
        return self._kernel("lp_sigmoid", *expr.args)

    def _print_softplus(self, expr):
        return self._kernel("lp_softplus", *expr.args)

    def _print_expm1mx(self, expr):
        return self._kernel("lp_expm1mx", *expr.args)

    def _print_log1pmx(self, expr):
        return self._kernel("lp_log1pmx", *expr.args)

    def _print_xlogy(self, expr):
        x, y = expr.args
        if isinstance(y, sympy.Add) and y.as_coeff_Add()[0] == 1:
            return self._kernel("lp_xlog1py", x, y - 1)
        ratio = _plain_ratio(y)
        if ratio is not None:
            self.kernels.add("lp_logratio")
            return self._kernel("lp_xlogratio", x, *ratio)
        return self._kernel("lp_xlogy", x, y)

    def _print_logratio(self, expr):
        return self._kernel("lp_logratio", *expr.args)

    def _print__Delta(self, expr):
        a, b = (self._print(x) for x in expr.args)
        return f"({a} == {b})"

    def _print_UnevaluatedExpr(self, expr):
        return f"({self._print(expr.args[0])})"  # a term the rewrite wants computed first

    def _print__RatioPow(self, expr):
        x, y, n = expr.args
        return f"pow(({self._print(x)})/({self._print(y)}), {int(n)})"

    def _print__MutualInformation(self, expr):
        name = expr.args[0].name
        self.kernels.add("lp_mutual_information")
        return f"lp_mutual_information({name}, {', '.join(self.sizes_of[name])})"

    def _print__Expm1mxLogratio(self, expr):
        a, b, c = expr.args
        self.kernels.update({"lp_expm1mx_logratio", "lp_logratio"})
        return (f"lp_expm1mx_logratio({self._print(a)}, {self._print(b)}, "
                f"{self._print(sympy.Float(c))})")

    def _print_Piecewise(self, expr):
        if expr.args[-1].cond != True:  # noqa: E712 - sympy true
            raise NotImplementedError("Piecewise without an otherwise branch")
        out = self._print(expr.args[-1].expr)
        for e, c in reversed(expr.args[:-1]):
            out = f"(({self._print(c)}) ? ({self._print(e)}) : ({out}))"
        return out

    def _positions(self, e) -> set[int]:
        out: set[int] = set()
        for s in e.atoms(sympy.Symbol):
            if s.name in self.views:
                out |= set(self.views[s.name].dim_positions)
            elif s.name in self.low.index_values:
                out.add(self.low.index_values[s.name])
        for r in e.atoms(_ReductionBase, _ExpMinusLSE, _SoftmaxPlus, _SoftmaxDiff, _Centred):
            out.discard(int(r.args[-1]))  # the axis a construct reduces over: always last
        return out

    def _hoisted(self, p: int, *exprs) -> list[str]:
        """Where the statements of a reduction over axis ``p`` of ``exprs`` go: before the
        output loops when they depend on none of the output's indices."""
        used = set().union(*(self._positions(x) for x in exprs)) - {p}
        return self.hoisted if self.depth == 0 and not used & set(self.low.free) else self.pending

    def _softmax_loops(self, f, c, d, p: int, code: list[str], *, rest: bool = False):
        """Append to ``code`` the loops of a softmax over axis ``p`` of ``w f``, ``w = c/d``:
        ``tn_m`` = f at the argmax of w f (f → −f for w < 0, so it is the max), ``tn_s`` =
        Σ e^(w (f_k − m)) and with ``rest`` ``tn_r``, the same sum without the argmax (at
        ``tn_a``).  The shift comes before the scaling.  Returns ``(tn, shift, scale)``:
        C text of ``±x − m`` and of ``w x`` (``x`` itself when c = d = 1)."""
        self.ntemp += 1
        tn = f"lp_t{self.ntemp}"
        i, n = self.loop_var(p), self.low.index_sizes[p]
        body, pre = self._loop_body(f)
        loop = f"for (int {i} = 0; {i} < {n}; ++{i}) {{\n"
        if c == 1 and d == 1:
            def sign(x):
                return x

            def scale(x):
                return x
        else:
            cp, dp = (self._print(sympy.Float(x) if x.is_number else x) for x in (c, d))
            code += [f"const int {tn}_up = ({cp} < 0) == ({dp} < 0);",
                     f"const double {tn}_c = fabs({cp}), {tn}_d = fabs({dp});"]

            def sign(x):
                return f"({tn}_up ? ({x}) : -({x}))"

            def scale(x):
                return f"({x})*{tn}_c/{tn}_d"

        def shift(x):
            return f"{sign(x)} - {tn}_m"

        track = f" {tn}_a = {i};" if rest else ""
        code += [
            f"double {tn}_m = -INFINITY, {tn}_s = 0.0{f', {tn}_r = 0.0' if rest else ''};",
            *([f"int {tn}_a = 0;"] if rest else []),
            f"{loop}{pre}        double lp_v = {sign(body)};\n"
            f"        if (!(lp_v <= {tn}_m)) {{ {tn}_m = lp_v;{track} }}\n    }}",
            f"if (!isfinite({tn}_m)) {{ {tn}_m = 0.0; }}",
            f"{loop}{pre}        double lp_e = exp({scale(shift(body))});\n"
            f"        {tn}_s += lp_e;\n        if ({i} != {tn}_a) {{ {tn}_r += lp_e; }}\n    }}"
            if rest
            else f"{loop}{pre}        {tn}_s += exp({scale(shift(body))});\n    }}",
        ]
        return tn, shift, scale

    def _print__SoftmaxPlus(self, expr):
        # softmax_i + t; for the entry above 1/2 (the largest), (1 + t) - rest/S with
        # rest = sum over the other entries of e^(w (f_k - m))
        a, f, c, d, t, one_t, p = expr.args
        code: list[str] = []
        tn, shift, scale = self._softmax_loops(f, c, d, int(p), code, rest=True)
        self._hoisted(int(p), f, c, d).extend(code)
        prob = f"(exp({scale(shift(self._print(a)))})/{tn}_s)"
        rest, one_rest = self._print(t), self._print(one_t)
        return f"({prob} > 0.5 ? ({one_rest}) - {tn}_r/{tn}_s : {prob} + ({rest}))"

    def _loop_body(self, f):
        """Print ``f`` inside a loop: its own reductions go into the loop body."""
        saved, self.pending = self.pending, []
        self.depth += 1
        text = self._print(f)
        self.depth -= 1
        inner, self.pending = self.pending, saved
        return text, "".join(f"        {line}\n" for line in inner)

    def _print__ExpMinusLSE(self, expr):
        # e^(w a - logsumexp_k w f_k) = e^(w (a - m)) / sum_k e^(w (f_k - m)), w m = max_k w f_k
        a, f, c, d, p = expr.args
        code: list[str] = []
        tn, shift, scale = self._softmax_loops(f, c, d, int(p), code)
        self._hoisted(int(p), f, c, d).extend(code)
        return f"(exp({scale(shift(self._print(a)))})/{tn}_s)"

    def _print__SoftmaxDiff(self, expr):
        # p_i - q_i = q_i expm1(u_i), u = log(p/q), where |u| <= 1; the log-ratio of the sums
        # is c0 = log S - log R corrected by log1p(sum_k q_k expm1(w (x'_k - y'_k) - c0))
        a, f, b, g, c, d, p = expr.args
        p = int(p)
        code: list[str] = []
        tp, shift_p, _ = self._softmax_loops(f, c, d, p, code)
        tq, shift_q, _ = self._softmax_loops(g, c, d, p, code)
        w = ("1.0", "1.0") if c == 1 and d == 1 else (f"{tp}_c", f"{tp}_d")

        def scale(x):
            return f"({x})*{w[0]}/{w[1]}"

        self.ntemp += 1
        tn = f"lp_t{self.ntemp}"
        i, n = self.loop_var(p), self.low.index_sizes[p]
        body_f, pre_f = self._loop_body(f)
        body_g, pre_g = self._loop_body(g)
        code += [
            f"double {tn}_c0 = log({tp}_s) - log({tq}_s), {tn}_k = 0.0;",
            f"for (int {i} = 0; {i} < {n}; ++{i}) {{\n{pre_f}{pre_g}"
            f"        double lp_x = {shift_p(body_f)}, lp_y = {shift_q(body_g)};\n"
            f"        double lp_rho = {scale('lp_x - lp_y')} - {tn}_c0;\n"
            f"        double lp_q = exp({scale('lp_y')})/{tq}_s;\n"
            f"        if (!isnan(lp_rho)) {{  /* NaN: both logits -inf, p_k = q_k = 0 */\n"
            f"            {tn}_k += lp_rho > 1 ? exp({scale('lp_x')} - {tn}_c0)/{tq}_s - lp_q"
            f" : lp_q*expm1(lp_rho);\n        }}\n    }}",
            f"{tn}_k = log1p({tn}_k);",
        ]
        self._hoisted(p, f, g, c, d).extend(code)
        self.kernels.add("lp_softmax_diff")
        return (f"lp_softmax_diff({shift_p(self._print(a))}, {shift_q(self._print(b))}, "
                f"{w[0]}, {w[1]}, {tp}_s, {tq}_s, {tn}_c0, {tn}_k)")

    def _print__Centred(self, expr):
        # a - sum_k f_k/n = (a - r) - sum_k (f_k - r)/n, r = f_1
        a, f, p = expr.args
        p = int(p)
        self.ntemp += 1
        tn = f"lp_t{self.ntemp}"
        i, n = self.loop_var(p), self.low.index_sizes[p]
        body, pre = self._loop_body(f)
        self._hoisted(p, f).extend([
            f"double {tn}_r = 0.0, {tn}_s = 0.0, {tn}_p = 0.0;",
            f"for (int {i} = 0; {i} < {n}; ++{i}) {{\n{pre}        double lp_v = {body};\n"
            f"        if ({i} == 0) {{ {tn}_r = lp_v; }}\n"
            f"        {tn}_s += lp_v - {tn}_r;\n        {tn}_p += lp_v;\n    }}",
        ])
        self.kernels.add("lp_centred")
        return f"lp_centred({self._print(a)}, {tn}_r, {tn}_s, {tn}_p, (double){n})"

    def _print__ReductionBase(self, expr):
        f, p = expr.args
        p = int(p)
        self.ntemp += 1
        t = f"lp_t{self.ntemp}"
        i, n = self.loop_var(p), self.low.index_sizes[p]
        body, pre = self._loop_body(f)
        loop = f"for (int {i} = 0; {i} < {n}; ++{i}) {{\n"
        if isinstance(expr, _ReduceLSE):
            # log sum e^f = m + log1p(sum_(k != argmax) e^(f_k - m)), m = max f
            code = [
                f"double {t}_m = -INFINITY, {t};",
                f"int {t}_a = 0, {t}_nan = 0;",
                f"{loop}{pre}        double lp_v = {body};\n"
                f"        if (isnan(lp_v)) {{ {t}_nan = 1; }}\n"
                f"        else if (lp_v > {t}_m) {{ {t}_m = lp_v; {t}_a = {i}; }}\n    }}",
                f"if ({t}_nan) {{ {t} = NAN; }}",
                f"else if (!isfinite({t}_m)) {{ {t} = {t}_m; }}",
                f"else {{\n        double lp_s = 0.0;\n        {loop}{pre}"
                f"            if ({i} != {t}_a) {{ lp_s += exp({body} - {t}_m); }}\n        }}\n"
                f"        {t} = {t}_m + log1p(lp_s);\n    }}",
            ]
        else:
            op, init = ("+=", "0.0") if isinstance(expr, _ReduceSum) else ("*=", "1.0")
            code = [f"double {t} = {init};", f"{loop}{pre}        {t} {op} {body};\n    }}"]
        self._hoisted(p, f).extend(code)
        return t

    def _print_Function(self, expr):
        raise NotImplementedError(f"no C code for {type(expr).__name__}")

    def _print_Indexed(self, expr):
        raise NotImplementedError("Indexed survived lowering")

    _print_Sum = _print_Product = _print_logsumexp = _print_Indexed


# ------------------------------------------------------------------- generation


def _text(text: str) -> str:
    """Free text (a title) made safe for a docstring: no quotes, backslashes or controls."""
    return "".join(ch if ch.isprintable() and ch not in "\\\"'" else " " for ch in text)


def _docstring(low: Lowered) -> str:
    params = ", ".join(f"{n} [..., {', '.join(sz)}]" if kind == "array" else n
                       for n, kind, sz in low.params)
    out = " [..., " + ", ".join(low.index_sizes[p] for p in low.free) + "]" if low.free else ""
    return (f'    """{_text(low.title)}\n\n'
            f"    Arguments: {params}; result{out}.\n"
            f"    Generated by lossproof (derive.export) from the derivation "
            f'{_text(low.name)}.\n    """')


def _slots(present: list[int], naxes: int) -> str:
    return ", ".join(":" if p in present else "None" for p in range(naxes))


def _function_name(low: Lowered) -> str:
    name = _ascii_name(low.name)
    return name + "_" if name in _PY_RESERVED else name


def _python_source(low: Lowered, family: str, *, naive: bool) -> str:
    printer = _ArrayPrinter(family, low.naxes)
    expr = low.expr if family == "mpmath" else _numbers_to_floats(low.expr)
    body = printer.doprint(expr)
    mod = {"mpmath": "np"}.get(family, _FAMILY_MODULE[family])
    pnames = [p[0] for p in low.params]
    like = pnames[0]

    header = {"numpy": "import numpy as np\n", "jax": "import jax.numpy as jnp\n",
              "torch": "import torch\n", "mpmath": "import mpmath\nimport numpy as np\n"}[family]
    kernels: list[str] = []
    if family == "numpy":
        kernels.append(_kernels.NP_AS_FLOAT)
    table = {"numpy": lambda: _kernels.np_kernels("np"), "jax": lambda: _kernels.np_kernels("jnp"),
             "torch": _kernels.torch_kernels, "mpmath": _kernels.mp_kernels}[family]()
    if family == "mpmath":
        for name in _kernels.MP_ELEMENTARY:
            if f"_mp_{name}" in printer.kernels:
                fn = {"maximum": "max", "minimum": "min"}.get(name)
                target = f"lambda a, b: {fn}(a, b)" if fn else f"mpmath.{name}"
                kernels.append(f"\n_mp_{name} = np.frompyfunc({target}, {2 if fn else 1}, 1)\n")

    lines = [f"def {_function_name(low)}({', '.join(pnames)}):", _docstring(low)]
    if family == "numpy":
        lines.append(f"    {', '.join(pnames)}{',' if len(pnames) == 1 else ''} = "
                     f"_as_float({', '.join(pnames)})")
    for name, (base, label) in low.gathers.items():
        printer.kernels.add("_take")
        lines.append(f"    {name} = _take({base}, {label})")
    if low.vector:
        for name, kind, _ in low.params:
            if kind == "scalar":
                lines.append(f"    {name} = {name}[..., {', '.join(['None'] * low.naxes)}]")
        for name in low.gathers:
            lines.append(f"    {name} = {name}[..., {', '.join(['None'] * low.naxes)}]")
        used_sizes = set(low.size_values.values()) | set(low.index_sizes.values())
        for name, runtime in low.sizes.items():
            if name in used_sizes:
                lines.append(f"    _n_{name} = {runtime}")
        for name, sz in low.size_values.items():
            conv = {"numpy": f"np.asarray(_n_{sz}, dtype={like}.dtype)",
                    "jax": f"jnp.asarray(_n_{sz}, dtype={like}.dtype)",
                    "torch": f"torch.tensor(_n_{sz}, dtype={like}.dtype, device={like}.device)",
                    "mpmath": f"mpmath.mpf(_n_{sz})"}[family]
            lines.append(f"    {name} = {conv}")
        for v in low.views:
            m = len(v.dim_positions)
            order = sorted(range(m), key=lambda j: v.dim_positions[j])
            arr = v.base
            if order != list(range(m)):  # bring the dimensions into axis order
                src, dst = tuple(j - m for j in order), tuple(range(-m, 0))
                arr = f"{mod}.moveaxis({v.base}, {src}, {dst})"
            lines.append(f"    {v.name} = {arr}[..., {_slots(v.dim_positions, low.naxes)}]")
        for name, p in low.index_values.items():
            dev = f", device={like}.device" if family == "torch" else ""
            n = f"_n_{low.index_sizes[p]}"
            lines.append(f"    {name} = {mod}.arange(1, {n} + 1, dtype={like}.dtype{dev})"
                         f"[{_slots([p], low.naxes)}]")
    if family == "numpy":
        if naive:
            lines.append("    # the textbook form as written; its overflows are the point")
            lines.append('    with np.errstate(all="ignore"):')
        else:
            lines.append("    # log 0 = -inf, x/0 = inf, overflow to inf: this form's limits;")
            lines.append("    # np.where evaluates both branches: the one not taken may be invalid")
            lines.append('    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):')
        lines.append(f"        out = {body}")
    else:
        lines.append(f"    out = {body}")
    scalar = "[()]" if family == "numpy" else ""  # a 0-d result as a NumPy scalar
    if low.vector:
        sel = ", ".join(":" if p in low.free else "0" for p in range(low.naxes))
        lines.append(f"    return out[..., {sel}]{scalar}")
    elif family == "numpy" and ({sympy.Symbol(p) for p in pnames} - expr.free_symbols
                                or low.gathers):
        # the result does not depend on every argument: still broadcast against all of them
        shapes = ", ".join(f"np.shape({n})[:-{len(sz)}]" if kind == "array" else f"np.shape({n})"
                           for n, kind, sz in low.params)
        lines.append(f"    shape = np.broadcast_shapes({shapes})")
        lines.append(f"    return (out + np.zeros(shape, {like}.dtype))[()]")
    else:
        lines.append(f"    return out{scalar}")
    kernels += [src for k, src in table.items() if k in printer.kernels]
    return header + "".join(kernels) + "\n\n" + "\n".join(lines) + "\n"


def _c_comment(text: str) -> str:
    keep = re.sub(r"[^A-Za-z0-9 .,:;()=+\-<>\[\]']", " ", text)
    return re.sub(r" +", " ", keep).strip()


def _c_source(low: Lowered) -> str:
    printer = _CPrinter(low)
    body = printer.doprint(_numbers_to_floats(low.expr))
    fname = "lossproof_" + _ascii_name(low.name)
    args = [f"const double *{n}" if kind == "array" else f"double {n}" for n, kind, _ in low.params]
    used = {s for p in low.params for s in p[2]} | set(low.index_sizes.values())
    args += [f"int {n}" for n in low.sizes if n in used]
    lines: list[str] = []
    if low.free:
        args.append("double *out")
        sig = f"void {fname}({', '.join(args)})"
        lines += [f"    {line}" for line in printer.hoisted]
        indent = "    "
        for p in low.free:
            i = printer.loop_var(p)
            lines.append(f"{indent}for (int {i} = 0; {i} < {low.index_sizes[p]}; ++{i}) {{")
            indent += "    "
        offset = printer.loop_var(low.free[0])
        for p in low.free[1:]:
            offset = f"({offset})*{low.index_sizes[p]} + {printer.loop_var(p)}"
        lines += [f"{indent}{line}" for line in printer.pending]
        lines.append(f"{indent}out[{offset}] = {body};")
        for _ in low.free:
            indent = indent[:-4]
            lines.append(f"{indent}}}")
    else:
        sig = f"double {fname}({', '.join(args)})"
        lines += [f"    {line}" for line in printer.hoisted + printer.pending]
        lines.append(f"    return {body};")
    unused = [n for n in low.sizes if n in used and not re.search(rf"\b{n}\b", "\n".join(lines))]
    lines[:0] = [f"    (void){n};  /* the length of an argument this result does not loop over */"
                 for n in unused]
    kernels = _kernels.c_kernels()
    doc = "" if not low.free else (
        " * Writes the result for every value of the free index to out (row-major).\n")
    return (
        f"/* {_c_comment(low.title)}\n"
        f" * Generated by lossproof (derive.export) from the derivation {_c_comment(low.name)}.\n"
        f"{doc}"
        " * C99: cc -std=c99 -O2 -c file.c, link with -lm. */\n"
        "#include <float.h>\n#include <math.h>\n"
        + "".join(src for k, src in kernels.items() if k in printer.kernels)
        + f"\n{sig};\n\n{sig}\n{{\n" + "\n".join(lines) + "\n}\n"
    )


# ------------------------------------------------------------------------ public


def _result_rhs(derivation) -> sympy.Basic:
    res = derivation.result
    if not isinstance(res, sympy.Eq):
        raise ValueError(f"{derivation.name}: the result is not an equation "
                         f"(it is {type(res).__name__}); nothing to export")
    return res.rhs


def _prepare(derivation, naive: bool) -> sympy.Basic:
    rhs = _result_rhs(derivation)
    return to_elementary(rhs) if naive else stabilise(rhs)


def _generate(derivation, family: str, naive: bool) -> tuple[str, Lowered]:
    expr = _prepare(derivation, naive)
    if _export_matrix.has_matrix_parameters(derivation):  # vectors [..., k], matrices [..., k, k]
        return _matrix_source(derivation, expr, family, naive)
    if family == "c":
        low = lower(derivation, expr, _C_RESERVED, stable=not naive)
        return _c_source(low), low
    low = lower(derivation, expr, _PY_RESERVED, stable=not naive)
    return _python_source(low, family, naive=naive), low


def _matrix_source(derivation, expr: sympy.Basic, family: str,
                   naive: bool) -> tuple[str, Lowered]:
    names = _Names(_PY_RESERVED)
    params = {p: names.new(str(p.name if hasattr(p, "name") else p))
              for p in derivation.parameters}
    low = Lowered(derivation.name, derivation.title,
                  [(n, "array", ["k"] if p.shape[1] == 1 else ["k", "k"])
                   for p, n in params.items()], expr=expr)
    source = _export_matrix.generate(derivation, expr, family, naive=naive, names=params,
                                     function_name=_function_name(low),
                                     docstring=_docstring(low))
    return source, low


def source_for(derivation, target: str = "python", *, naive: bool = False) -> str:
    """Source code of ``derivation``'s result (registered or not) for ``target``: ``python``
    or ``c``; also ``numpy``, ``jax``, ``torch`` and ``mpmath``, the code the callables run."""
    family = {"python": "numpy"}.get(target, target)
    if family not in ("numpy", "jax", "torch", "mpmath", "c"):
        raise ValueError(f"target: expected one of {', '.join(SOURCE_TARGETS)}, got {target!r}")
    return _generate(derivation, family, naive)[0]


def _common_dtype(args) -> np.dtype:
    probes = []
    for a in args:
        dt = getattr(a, "dtype", None)
        if dt is not None and not isinstance(a, (np.ndarray, np.generic)):
            name = str(dt).removeprefix("torch.")
            try:
                a = np.empty(0, dtype=name)
            except TypeError:
                a = np.asarray(a)
        elif not isinstance(a, (np.ndarray, np.generic, float, int)):
            a = np.asarray(a)
        probes.append(a)
    dt = np.result_type(*probes)
    if dt.kind not in "fiub":
        raise TypeError(f"expected real numbers, got dtype {dt}")
    return dt if dt.kind == "f" else np.dtype(np.float64)


def _wrap(fn: Callable, derivation, target: str, dtype, *, vector: bool) -> Callable[..., Any]:
    nparams = len(derivation.parameters)
    pnames = ", ".join(map(str, derivation.parameters))

    def check(args):
        if len(args) != nparams:
            raise TypeError(f"{derivation.name} takes {nparams} arguments ({pnames}), "
                            f"got {len(args)}")

    if target == "numpy":
        def call(*args):
            check(args)
            if dtype is not None:
                args = [np.asarray(a, dtype=dtype) for a in args]
            return fn(*args)
    elif target == "mpmath":
        import mpmath

        to_mpf = np.frompyfunc(mpmath.mpf, 1, 1)

        def conv(a):
            if isinstance(a, (list, tuple, np.ndarray)):
                return to_mpf(np.asarray(a, dtype=object))
            a = mpmath.mpf(float(a) if isinstance(a, np.generic) else a)
            return np.asarray(a, dtype=object) if vector else a

        def call(*args):
            check(args)
            out = fn(*[conv(a) for a in args])
            if isinstance(out, np.ndarray) and out.ndim == 0:
                return out[()]
            return out
    elif target == "torch":
        import torch

        def call(*args):
            check(args)
            dt = np.dtype(dtype) if dtype is not None else _common_dtype(args)
            tdt = getattr(torch, dt.name)
            dev = next((a.device for a in args if isinstance(a, torch.Tensor)), None)
            with np.errstate(over="ignore"):  # a value beyond the dtype's range casts to +-inf
                conv = [a.to(tdt) if isinstance(a, torch.Tensor)
                        else torch.as_tensor(np.asarray(a, dtype=dt), device=dev) for a in args]
            return fn(*conv)
    elif target == "jax":
        import jax
        import jax.numpy as jnp

        jitted = jax.jit(fn)

        def call(*args):
            check(args)
            dt = np.dtype(dtype) if dtype is not None else _common_dtype(args)
            if dt == np.float64 and not jax.config.jax_enable_x64:
                dt = np.dtype(np.float32)  # JAX computes in float32 unless x64 is enabled
            with np.errstate(over="ignore"):  # a value beyond float32's range casts to +-inf
                conv = [jnp.asarray(np.asarray(a, dtype=dt)) if not isinstance(a, jax.Array)
                        else a.astype(dt) for a in args]
            return jitted(*conv)
    else:
        raise ValueError(f"target: expected one of {', '.join(TARGETS)}, got {target!r}")
    call.__name__ = _ascii_name(derivation.name)
    call.__doc__ = f"{derivation.title} (exported for {target} by lossproof)."
    return call


def _require(target: str) -> None:
    module = {"torch": "torch", "jax": "jax"}.get(target)
    if module is None:
        return
    try:
        __import__(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"target {target!r} needs {module}: pip install {module}") from exc


def export_derivation(derivation, target: str = "numpy", *, dtype=None,
                      naive: bool = False) -> Callable[..., Any]:
    """The stable (or with ``naive=True``, textbook) result of ``derivation`` as a callable.

    Works for any :class:`~derive.core.Derivation`, registered or not (no caching).  The
    generated source is kept on the callable as ``.source``.
    """
    if target not in TARGETS:
        raise ValueError(f"target: expected one of {', '.join(TARGETS)}, got {target!r}")
    _require(target)
    source, low = _generate(derivation, target, naive)
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<lossproof export {_function_name(low)}>", "exec"), namespace)
    fn = namespace[_function_name(low)]
    call = _wrap(fn, derivation, target, dtype, vector=low.vector)
    call.source = source
    return call


@functools.cache
def _cached_export(name: str, target: str, dtype: str | None, naive: bool):
    from derive.core import get

    return export_derivation(get(name), target, dtype=dtype, naive=naive)


def export(name: str, target: str = "numpy", *, dtype=None,
           naive: bool = False) -> Callable[..., Any]:
    """The result of registered derivation ``name`` as a function for ``target``.

    ``dtype`` (numpy, jax, torch) forces the working precision, otherwise it follows the
    inputs.  Exports are cached per (name, target, dtype, naive).

    >>> import numpy as np
    >>> f = export("sigmoid-derivative")
    >>> f(np.array([0.0, -800.0], dtype=np.float32))
    array([0.25, 0.  ], dtype=float32)
    """
    if target not in TARGETS:
        raise ValueError(f"target: expected one of {', '.join(TARGETS)}, got {target!r}")
    key = None if dtype is None else np.dtype(dtype).name
    return _cached_export(name, target, key, bool(naive))


@functools.cache
def export_source(name: str, target: str = "python") -> str:
    """Self-contained source for registered derivation ``name``: ``python`` (NumPy only) or
    ``c`` (C99 with log1p/expm1)."""
    from derive.core import get

    if target not in SOURCE_TARGETS:
        raise ValueError(f"target: expected one of {', '.join(SOURCE_TARGETS)}, got {target!r}")
    return source_for(get(name), target)


@functools.cache
def exportable(name: str) -> bool:
    """Whether ``name``'s result is an equation with parameters that :func:`export` handles."""
    from derive.core import get

    d = get(name)
    if not isinstance(d.result, sympy.Eq) or not d.parameters:
        return False
    try:
        source_for(d, "numpy")
    except (ValueError, NotImplementedError):
        return False
    return True



class _CallableModule(types.ModuleType):
    """``derive.export`` is both this module and the function :func:`export`.

    Importing ``derive.export`` makes the package attribute ``derive.export`` the module
    (Python sets it after the import), shadowing the function of the same name defined in
    ``derive/__init__.py``; calling the module calls the function, so ``derive.export(name)``
    works either way.
    """

    def __call__(self, name: str, target: str = "numpy", **options: Any) -> Callable[..., Any]:
        return export(name, target, **options)


sys.modules[__name__].__class__ = _CallableModule
