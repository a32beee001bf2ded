"""Newton's method on a log-likelihood in ball arithmetic (the ``mle-*`` arb oracles).

The gradient and Hessian are exact derivatives of the log-likelihood as written
(:func:`derive._dual.hessian`), so Newton's method converges to the root of the *exact*
gradient.  Two phases: at 64 bits from the start ``0`` (line search: each step is halved
until the log-likelihood rises; a gradient step where the Hessian is not negative
definite) until the step is below ``2^-40`` relative, then at the working precision
(``flint.ctx.prec``) with the linear systems solved in ball arithmetic until the step is
below ``2^-(prec/2 + 8)`` relative (each step squares the error: ~2 steps; the ball
radius of a step, from the rounding in the gradient, stays above ``2^-prec``).  The maximiser's
Hessian is checked to be negative definite (a maximum, not a saddle), and the result is
returned as balls widened by the last step — with quadratic convergence the error left is
of the order of that step squared, so this bound is generous.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from flint import arb, arb_mat, ctx

from derive._dual import hessian, mid_float

__all__ = ["maximise"]

_COARSE_PREC = 64
_MAX_ITER = 200


def _oracle_error(message: str) -> Exception:
    from derive.oracle import OracleError

    return OracleError(message)


def _mids(values: list) -> np.ndarray:
    return np.array([mid_float(v) for v in values])


def _coarse(loglik: Callable[[list], Any], x: list) -> list:
    """Newton's method with a line search at 64 bits, to a relative step of 2^-40."""
    for _ in range(_MAX_ITER):
        f, g, h = hessian(loglik, x)
        gm = _mids(g)
        hm = np.array([_mids(row) for row in h])
        if not (np.all(np.isfinite(gm)) and np.all(np.isfinite(hm))):
            raise _oracle_error("the log-likelihood is not finite along Newton's path")
        try:
            np.linalg.cholesky(-hm)
            step = np.linalg.solve(-hm, gm)
        except np.linalg.LinAlgError:  # not concave here: climb the gradient
            step = gm / max(1.0, float(np.linalg.norm(gm)))
        xm = _mids(x)
        if np.all(np.abs(step) <= 2.0**-40 * (1 + np.abs(xm))):
            return [arb(float(v)) for v in xm + step]
        f0, t = mid_float(f), 1.0
        while t > 2.0**-60:
            trial = [arb(float(v)) for v in xm + t * step]
            if mid_float(loglik(trial)) >= f0:
                break
            t /= 2
        x = [arb(float(v)) for v in xm + t * step]
    raise _oracle_error("Newton's method did not converge (no interior maximum?)")


def maximise(loglik: Callable[[list], Any], m: int) -> list:
    """The maximiser of ``loglik`` over ``R^m`` as balls, at ``flint.ctx.prec`` bits.

    Raises ``derive.oracle.OracleError`` if Newton's method does not converge or the
    stationary point is not a maximum.
    """
    prec = ctx.prec
    try:
        ctx.prec = _COARSE_PREC
        x = _coarse(loglik, [arb(0)] * m)
    finally:
        ctx.prec = prec
    tol = arb(2) ** -(prec // 2 + 8)
    for _ in range(12):
        _f, g, h = hessian(loglik, x)
        step = arb_mat([[-v for v in row] for row in h]).solve(arb_mat([[v] for v in g]))
        size = max(abs(step[j, 0]).upper() for j in range(m))
        scale = 1 + max(abs(xj.mid()) for xj in x)
        x = [(xj + step[j, 0]).mid() for j, xj in enumerate(x)]
        if size <= tol * scale:
            break
    else:
        raise _oracle_error("Newton's method did not converge at the working precision")
    hm = np.array([_mids(row) for row in h])
    try:
        np.linalg.cholesky(-hm)
    except np.linalg.LinAlgError:
        raise _oracle_error("the stationary point is not a maximum") from None
    return [arb(xj, size) for xj in x]
