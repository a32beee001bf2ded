"""Export of results whose parameters are matrices and vectors (SymPy ``MatrixSymbol``s).

A ``k × k`` parameter takes an array ``[..., k, k]``, a ``k × 1`` one an array ``[..., k]``
(leading axes broadcast, as NumPy's ``linalg`` does), and the size ``k`` is read from the
last axis.  The scalar result is printed for NumPy, jax.numpy, torch and mpmath from these
nodes: ``Trace(B⁻¹ A)``, ``Determinant(M)``, the quadratic form ``vᵀ B⁻¹ v``, sums and
scalar multiples of vectors, ``log``/``logratio`` and the size ``k``.  There is no C export:
the stable form needs a Cholesky factorisation and a symmetric eigensolver.

Stable form (``naive=False``), as ``numeric.mvn_kl``: with ``B = L Lᵀ`` (Cholesky),

* ``tr(B⁻¹ A) − k + log(det B / det A) = −Σ_i log1pmx(β_i)``, ``β_i`` the eigenvalues of
  ``L⁻¹ (A − B) L⁻ᵀ`` (``log1pmx(β) = log(1 + β) − β``, by series near 0): the three terms
  cancel to ``O(δ²)`` when ``A ≈ B``, this sum of non-negative terms does not, and it is
  exactly 0 for ``A = B`` (``A − B`` is exact entrywise for close matrices).  Where some
  ``β_i < −1/2`` (eigenvalues that lost relative accuracy) it is
  ``tr W − 2 Σ log(diag L_A / diag L_B)`` instead, which cannot cancel badly there;
* ``vᵀ B⁻¹ v = |L⁻¹ v|²``: a sum of squares, never negative.

The naive form evaluates each node as written (``solve``, ``det``, ``log``).
"""

from __future__ import annotations

import sympy
from sympy import Determinant, Inverse, MatAdd, MatMul, MatrixSymbol, Trace

from derive import _kernels
from derive.functions import logratio

__all__ = ["generate", "has_matrix_parameters"]


def has_matrix_parameters(derivation) -> bool:
    """Whether any parameter of ``derivation`` is a ``MatrixSymbol``."""
    return any(isinstance(p, MatrixSymbol) for p in derivation.parameters)


class _Spread(sympy.Function):
    """``tr(B⁻¹ A) − k + log(det B / det A)`` of ``(A, B)``, evaluated stably."""

    nargs = 2


class _QuadInv(sympy.Function):
    """``vᵀ B⁻¹ v`` of ``(v, B)``: ``|L⁻¹ v|²``."""

    nargs = 2


def _is_vector(m: MatrixSymbol) -> bool:
    return m.shape[1] == 1


def _inverse_of(e: sympy.Basic) -> sympy.Basic | None:
    if isinstance(e, Inverse):
        return e.arg
    if isinstance(e, sympy.MatPow) and e.exp == -1:
        return e.base
    return None


def _trace_inv(term: sympy.Basic) -> tuple | None:
    """``(B, A)`` if ``term`` is ``Trace(B⁻¹ A)``."""
    if isinstance(term, Trace) and isinstance(term.arg, MatMul):
        factors = [f for f in term.arg.args if not f.is_number]
        if len(factors) == 2 and term.arg.args[0] not in (-1,):
            b = _inverse_of(factors[0])
            if b is not None:
                return b, factors[1]
    return None


def _log_det_ratio(term: sympy.Basic) -> tuple | None:
    """``(B, A)`` if ``term`` is ``log(det B / det A)`` or ``logratio(det B, det A)``."""
    if isinstance(term, logratio):
        num, den = term.args
    elif isinstance(term, sympy.log):
        num, den = sympy.fraction(term.args[0])
    else:
        return None
    if isinstance(num, Determinant) and isinstance(den, Determinant):
        return num.arg, den.arg
    return None


def _stabilise(e: sympy.Basic, size: sympy.Symbol) -> sympy.Basic:
    """Replace ``tr(B⁻¹A) − k + log(det B/det A)`` by :class:`_Spread` and each quadratic form
    with an inverse by :class:`_QuadInv`."""
    if isinstance(e, sympy.Add):
        terms = list(e.args)
        traces = [(t, _trace_inv(t)) for t in terms if _trace_inv(t)]
        for t, (b, a) in traces:
            logs = [u for u in terms if _log_det_ratio(u) == (b, a)]
            if logs and -size in terms:
                terms = [u for u in terms if u not in (t, logs[0], -size)] + [_Spread(a, b)]
                break
        return sympy.Add(*[_stabilise(u, size) for u in terms])
    if type(e).__name__ == "QuadForm":
        v, m = e.args
        b = _inverse_of(m)
        if b is not None:
            return _QuadInv(v, b)
    if e.args and not isinstance(e, MatrixSymbol | sympy.MatrixExpr):
        return e.func(*[_stabilise(a, size) for a in e.args])
    return e


# ----------------------------------------------------------------------- printing

_HELPERS = {
    "numpy": '''
def _whiten(low, a):
    # L^-1 A L^-T (symmetrised: rounding leaves it a hair asymmetric)
    x = np.linalg.solve(low, a)
    w = np.linalg.solve(low, np.swapaxes(x, -1, -2))
    return (w + np.swapaxes(w, -1, -2)) / 2


def _spread(a, b):
    # tr(B^-1 A) - k + log(det B/det A) = -sum_i log1pmx(beta_i), beta_i the eigenvalues of
    # W = L^-1 (A - B) L^-T (B = L L^T; A - B exact entrywise for close covariances): no
    # cancellation, and exactly 0 for A = B.  Where some beta_i < -1/2 they lose relative
    # accuracy: tr W - 2 sum log(diag L_A / diag L_B) instead (it cannot cancel badly there)
    low = np.linalg.cholesky(b)
    w = _whiten(low, a - b)
    beta = np.linalg.eigvalsh(w)
    near = -np.sum(_log1pmx(beta), axis=-1)
    diag_a = np.diagonal(np.linalg.cholesky(a), axis1=-2, axis2=-1)
    diag_b = np.diagonal(low, axis1=-2, axis2=-1)
    # log of the ratio (a difference of logs of 1e75 loses 172 eps); of each where it
    # over- or underflows
    ratio = diag_a / diag_b
    ok = np.isfinite(ratio) & (ratio > 0)
    logs = np.where(ok, np.log(np.where(ok, ratio, 1)), np.log(diag_a) - np.log(diag_b))
    far = np.trace(w, axis1=-2, axis2=-1) - 2 * np.sum(logs, axis=-1)
    return np.where(np.min(beta, axis=-1) < -0.5, far, near)


def _quad_inv(v, b):
    # v^T B^-1 v = |L^-1 v|^2
    w = np.linalg.solve(np.linalg.cholesky(b), v[..., None])[..., 0]
    return np.sum(w * w, axis=-1)
''',
    "torch": '''
def _whiten(low, a):
    # L^-1 A L^-T (symmetrised)
    x = torch.linalg.solve_triangular(low, a, upper=False)
    w = torch.linalg.solve_triangular(low, x.transpose(-1, -2), upper=False)
    return (w + w.transpose(-1, -2)) / 2


def _spread(a, b):
    # -sum log1pmx(eig(L^-1 (A - B) L^-T)); tr W - 2 sum log(diag L_A / diag L_B) where
    # some eigenvalue is below -1/2
    low = torch.linalg.cholesky(b)
    w = _whiten(low, a - b)
    beta = torch.linalg.eigvalsh(w)
    near = -torch.sum(_log1pmx(beta), dim=-1)
    diag_a = torch.diagonal(torch.linalg.cholesky(a), dim1=-2, dim2=-1)
    diag_b = torch.diagonal(low, dim1=-2, dim2=-1)
    ratio = diag_a / diag_b
    ok = torch.isfinite(ratio) & (ratio > 0)
    logs = torch.where(ok, torch.log(torch.where(ok, ratio, torch.ones_like(ratio))),
                       torch.log(diag_a) - torch.log(diag_b))
    far = torch.diagonal(w, dim1=-2, dim2=-1).sum(-1) - 2 * torch.sum(logs, dim=-1)
    return torch.where(torch.min(beta, dim=-1).values < -0.5, far, near)


def _quad_inv(v, b):
    # v^T B^-1 v = |L^-1 v|^2
    low = torch.linalg.cholesky(b)
    w = torch.linalg.solve_triangular(low, v.unsqueeze(-1), upper=False).squeeze(-1)
    return torch.sum(w * w, dim=-1)
''',
    "mpmath": '''
def _mat(a):
    return mpmath.matrix([[mpmath.mpf(x) for x in row] for row in np.asarray(a).tolist()])


def _vec(v):
    return mpmath.matrix([mpmath.mpf(x) for x in np.asarray(v).tolist()])


def _spread(a, b):
    # -sum log1pmx(eig(L^-1 (A - B) L^-T)), B = L L^T; sum(lambda - 1 - log lambda) over
    # lambda = eig(L^-1 A L^-T) where some beta < -1/2 (1 + beta would lose digits)
    low_inv = mpmath.inverse(mpmath.cholesky(_mat(b)))
    w = low_inv * (_mat(a) - _mat(b)) * low_inv.T
    beta = mpmath.eigsy((w + w.T) / 2, eigvals_only=True)
    if min(beta) >= -0.5:
        return -mpmath.fsum(_log1pmx_1(x) for x in beta)
    v = low_inv * _mat(a) * low_inv.T
    lam = mpmath.eigsy((v + v.T) / 2, eigvals_only=True)
    return mpmath.fsum(x - 1 - mpmath.log(x) for x in lam)


def _quad_inv(v, b):
    # v^T B^-1 v = |L^-1 v|^2
    w = mpmath.lu_solve(mpmath.cholesky(_mat(b)), _vec(v))
    return mpmath.fsum(x * x for x in w)
''',
}
_HELPERS["jax"] = (
    _HELPERS["numpy"].replace("np.", "jnp.")
    .replace("jnp.linalg.solve(low, a)",
             "jax.scipy.linalg.solve_triangular(low, a, lower=True)")
    .replace("jnp.linalg.solve(low, jnp.swapaxes(x, -1, -2))",
             "jax.scipy.linalg.solve_triangular(low, jnp.swapaxes(x, -1, -2), lower=True)")
    .replace("jnp.linalg.solve(jnp.linalg.cholesky(b), v[..., None])",
             "jax.scipy.linalg.solve_triangular(jnp.linalg.cholesky(b), v[..., None], "
             "lower=True)"))

_HEADER = {"numpy": "import numpy as np\n",
           "jax": "import jax\nimport jax.numpy as jnp\nimport jax.scipy.linalg\n",
           "torch": "import torch\n", "mpmath": "import mpmath\nimport numpy as np\n"}


class _Printer:
    """Prints a scalar expression of matrix/vector parameters for one array family."""

    def __init__(self, family: str, names: dict, size: sympy.Symbol, like: str) -> None:
        self.family, self.names, self.size, self.like = family, names, size, like
        self.m = {"numpy": "np", "jax": "jnp", "torch": "torch", "mpmath": "mpmath"}[family]

    def vec(self, e: sympy.Basic) -> str:
        """A vector expression (``k × 1``)."""
        if isinstance(e, MatrixSymbol) and e in self.names:
            return self.names[e]
        if isinstance(e, MatAdd):
            return "(" + " + ".join(self.vec(a) for a in e.args) + ")"
        if isinstance(e, MatMul) and len(e.args) == 2 and e.args[0].is_number:
            return f"({self.scalar(e.args[0])} * {self.vec(e.args[1])})"
        raise NotImplementedError(f"matrix export: no vector form for {e}")

    def mat(self, e: sympy.Basic) -> str:
        if isinstance(e, MatrixSymbol) and e in self.names:
            return self.names[e]
        raise NotImplementedError(f"matrix export: no matrix form for {e}")

    def scalar(self, e: sympy.Basic) -> str:
        f, m = self.family, self.m
        if e == self.size:
            return f"{self.like}.shape[-1]"
        if isinstance(e, sympy.Integer | sympy.Rational) and e.is_number:
            return f"({e.p} / {e.q})" if e.q != 1 else str(e.p)
        if isinstance(e, sympy.Add):
            return "(" + " + ".join(self.scalar(a) for a in e.args) + ")"
        if isinstance(e, sympy.Mul):
            return "(" + " * ".join(self.scalar(a) for a in e.args) + ")"
        if isinstance(e, sympy.Pow) and e.exp == -1:
            return f"(1 / {self.scalar(e.base)})"
        if isinstance(e, _Spread):
            return f"_spread({self.mat(e.args[0])}, {self.mat(e.args[1])})"
        if isinstance(e, _QuadInv):
            return f"_quad_inv({self.vec(e.args[0])}, {self.mat(e.args[1])})"
        if isinstance(e, sympy.log):
            return f"{m}.log({self.scalar(e.args[0])})"
        if isinstance(e, logratio):
            return f"({m}.log({self.scalar(e.args[0])}) - {m}.log({self.scalar(e.args[1])}))"
        if isinstance(e, Determinant):
            a = self.mat(e.arg)
            return f"mpmath.det(_mat({a}))" if f == "mpmath" else f"{m}.linalg.det({a})"
        if _trace_inv(e):
            b, a = (self.mat(x) for x in _trace_inv(e))
            if f == "mpmath":
                return (f"mpmath.fsum((mpmath.inverse(_mat({b})) * _mat({a}))[i, i] "
                        f"for i in range({a}.shape[-1]))")
            if f == "torch":
                return f"torch.diagonal(torch.linalg.solve({b}, {a}), dim1=-2, dim2=-1).sum(-1)"
            return f"{m}.trace({m}.linalg.solve({b}, {a}), axis1=-2, axis2=-1)"
        if type(e).__name__ == "QuadForm":  # naive: vᵀ solve(B, v)
            v, inv = e.args
            b = _inverse_of(inv)
            if b is None:
                raise NotImplementedError(f"matrix export: no form for {e}")
            vs, bs = self.vec(v), self.mat(b)
            if f == "mpmath":
                return f"(_vec({vs}).T * mpmath.lu_solve(_mat({bs}), _vec({vs})))[0]"
            if f == "torch":
                return f"torch.sum({vs} * torch.linalg.solve({bs}, {vs}.unsqueeze(-1))" \
                       f".squeeze(-1), dim=-1)"
            return f"{m}.sum({vs} * {m}.linalg.solve({bs}, {vs}[..., None])[..., 0], axis=-1)"
        raise NotImplementedError(f"matrix export: no form for {type(e).__name__} {e}")


def generate(derivation, expr: sympy.Basic, family: str, *, naive: bool, names: dict,
             function_name: str, docstring: str) -> str:
    """Python source (``family``: numpy, jax, torch, mpmath) of the scalar ``expr``.

    ``names`` maps each parameter to its identifier; the size ``k`` is the one symbol the
    parameters' shapes share.
    """
    if family == "c":
        raise NotImplementedError(
            f"{derivation.name}: matrix parameters have no C export (the stable form needs a "
            "Cholesky factorisation and a symmetric eigensolver); use the python target")
    sizes = {d for p in names for d in p.shape if isinstance(d, sympy.Symbol)}
    if len(sizes) != 1:
        raise NotImplementedError(f"{derivation.name}: matrix export needs one size symbol, "
                                  f"got {sorted(map(str, sizes))}")
    (size,) = sizes
    if expr.free_symbols - {size} - set(names):
        raise ValueError(f"{derivation.name}: symbols "
                         f"{sorted(map(str, expr.free_symbols - {size} - set(names)))} in the "
                         "result are not parameters")
    body_expr = expr if naive else _stabilise(expr, size)
    like = next(n for p, n in names.items() if not _is_vector(p))
    body = _Printer(family, names, size, like).scalar(body_expr)
    kernels = ""
    if not naive:
        phi = {"numpy": _kernels.np_kernels("np"), "jax": _kernels.np_kernels("jnp"),
               "torch": _kernels.torch_kernels(), "mpmath": _kernels.mp_kernels()}[family]
        kernels = phi["_log1pmx"] + _HELPERS[family]
    elif family == "mpmath":
        kernels = _HELPERS["mpmath"].split("\n\ndef _spread")[0] + "\n"
    pnames = list(names.values())
    lines = [f"def {function_name}({', '.join(pnames)}):", docstring]
    if family == "mpmath":
        lines.append(f"    with mpmath.workdps(mpmath.mp.dps):\n        return {body}")
    elif family == "numpy":
        lines.append(f"    {', '.join(pnames)} = (np.asarray(x, dtype=float) for x in "
                     f"({', '.join(pnames)},))")
        lines.append(f"    return np.asarray({body})[()]")
    else:
        lines.append(f"    return {body}")
    return _HEADER[family] + kernels + "\n\n" + "\n".join(lines) + "\n"
