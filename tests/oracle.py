"""The one oracle helper of the test suite (in the spirit of scipy's ``assert_mpmath_equal``).

``ulp_error(got, exact, dtype)`` measures the error of a floating-point result against an
mpmath reference in units in the last place of ``dtype`` at the exact value, and
``assert_ulp(got, exact, dtype, budget, ...)`` fails with a table of the worst points.

References are always computed by the caller from the *definition* inside
``mpmath.workdps(...)`` — never from the closed form under test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import mpmath
import numpy as np

DPS = 60


def _ulp_of(exact: mpmath.mpf, dtype: np.dtype) -> mpmath.mpf:
    """Spacing of ``dtype`` at ``exact`` (the subnormal spacing below the normal range)."""
    fi = np.finfo(dtype)
    a = abs(exact)
    tiny = mpmath.mpf(float(fi.tiny))
    mant = fi.nmant
    if a < tiny:
        return mpmath.ldexp(1, int(fi.minexp) - mant)
    e = int(mpmath.floor(mpmath.log(a, 2)))
    # guard against log rounding at exact powers of two
    if mpmath.ldexp(1, e) > a:
        e -= 1
    elif mpmath.ldexp(1, e + 1) <= a:
        e += 1
    return mpmath.ldexp(1, e - mant)


def ulp_error(got: float, exact, dtype=np.float64) -> float:
    """``|got - exact|`` in ULPs of ``dtype`` at ``exact``; inf for a non-finite mismatch."""
    dtype = np.dtype(dtype)
    with mpmath.workdps(DPS):
        exact = mpmath.mpf(exact)
        g = float(got)
        if mpmath.isinf(exact) or mpmath.isnan(exact):
            same = (np.isnan(g) and mpmath.isnan(exact)) or (
                np.isinf(g) and mpmath.isinf(exact) and (g > 0) == (exact > 0)
            )
            return 0.0 if same else float("inf")
        if not np.isfinite(g):
            fmax = mpmath.mpf(float(np.finfo(dtype).max))
            # exact beyond the dtype's range: overflow to inf of the right sign is correct rounding
            if np.isinf(g) and abs(exact) > fmax and (g > 0) == (exact > 0):
                return 0.0
            return float("inf")
        return float(abs(mpmath.mpf(g) - exact) / _ulp_of(exact, dtype))


def rel_error(got: float, exact) -> float:
    with mpmath.workdps(DPS):
        exact = mpmath.mpf(exact)
        g = float(got)
        if exact == 0:
            return 0.0 if g == 0 else float("inf")
        if not np.isfinite(g):
            return 0.0 if (mpmath.isinf(exact) and g == float(exact)) else float("inf")
        return float(abs((mpmath.mpf(g) - exact) / exact))


def assert_ulp(
    got: Iterable[float],
    exact: Iterable,
    dtype,
    budget: float | Sequence[float],
    inputs: Sequence | None = None,
    what: str = "",
) -> float:
    """Assert every ``got[i]`` is within ``budget`` (scalar or per-point) ULPs of ``exact[i]``.

    Returns the worst ULP error seen so tests can report it.
    """
    got = list(np.asarray(got, dtype=np.float64).ravel()) if not isinstance(got, list) else got
    exact = list(exact)
    assert len(got) == len(exact), (len(got), len(exact))
    budgets = [budget] * len(got) if np.isscalar(budget) else list(budget)
    errs = [ulp_error(g, e, dtype) for g, e in zip(got, exact, strict=True)]
    bad = [i for i, (err, b) in enumerate(zip(errs, budgets, strict=True)) if not err <= b]
    if bad:
        bad.sort(key=lambda i: -errs[i])
        lines = [f"{what}: {len(bad)} of {len(got)} points exceed the ULP budget ({np.dtype(dtype)})"]
        for i in bad[:8]:
            inp = "" if inputs is None else f"input={inputs[i]!r} "
            lines.append(
                f"  {inp}expected={mpmath.nstr(mpmath.mpf(exact[i]), 17)} got={got[i]!r} "
                f"ulp={errs[i]:.3g} budget={budgets[i]:.3g}"
            )
        raise AssertionError("\n".join(lines))
    return max(errs) if errs else 0.0


def mp_map(fn: Callable, points: Iterable, dps: int = DPS) -> list:
    """Evaluate the reference ``fn(*point)`` at every point inside ``mpmath.workdps(dps)``."""
    out = []
    with mpmath.workdps(dps):
        for pt in points:
            pt = pt if isinstance(pt, tuple) else (pt,)
            out.append(fn(*[mpmath.mpf(float(v)) if np.isscalar(v) else v for v in pt]))
    return out


def spanning_floats(dtype=np.float64, *, per_decade: int = 1, signed: bool = True) -> np.ndarray:
    """Magnitudes from the smallest normal to the largest finite, both signs, plus +-0."""
    fi = np.finfo(dtype)
    lo, hi = int(np.ceil(np.log10(fi.tiny))), int(np.floor(np.log10(fi.max)))
    mags = np.logspace(lo, hi, (hi - lo) * per_decade + 1).astype(dtype)
    vals = np.concatenate([[0.0], mags, -mags] if signed else [[0.0], mags]).astype(dtype)
    return vals


def cond_budget(exact: Iterable, kappa: Iterable, dtype, ulps: float = 4.0) -> list[float]:
    """Per-point ULP budgets for "``ulps`` ULP, or relative error ``ulps * eps * kappa``".

    ``kappa`` is the relative condition number of the function at each point (computed by
    the caller, e.g. ``sum |x_i df/dx_i| / |f|``); where ``ulps * eps * kappa`` allows more
    than ``ulps`` ULP, that larger error is the budget.  An infinite or NaN ``kappa`` (a
    zero of an ill-conditioned function) gives an infinite budget.
    """
    dtype = np.dtype(dtype)
    eps = mpmath.mpf(float(np.finfo(dtype).eps))
    out = []
    with mpmath.workdps(DPS):
        for e, k in zip(exact, kappa, strict=True):
            e, k = mpmath.mpf(e), mpmath.mpf(k)
            if mpmath.isnan(k) or mpmath.isinf(k):
                out.append(float("inf"))
                continue
            if mpmath.isinf(e) or mpmath.isnan(e):
                out.append(ulps)
                continue
            rel = ulps * eps * k * abs(e) / _ulp_of(e, dtype)
            out.append(max(float(ulps), float(rel)))
    return out


def mp_partial(f: Callable, x, **options):
    """``df/dx`` by ``mpmath.diff`` with a step relative to ``|x|`` (absolute at 0).

    Call inside ``mpmath.workdps``.  The step is ``|x| 2^-(prec+10)`` (``mpmath.diff``'s own
    ``relative=True`` scales it the wrong way for small ``|x|``), so points near 0 or near
    a boundary (a probability of 1e-300) are differentiated on their own scale; ``diff``
    evaluates ``f`` at twice the working precision.
    """
    x = mpmath.mpf(x)
    scale = abs(x) if x != 0 else mpmath.mpf(1)
    h = scale * mpmath.ldexp(1, -(mpmath.mp.prec + 10))
    return mpmath.diff(f, x, h=h, **options)
