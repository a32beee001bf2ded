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
        lines = [
            f"{what}: {len(bad)} of {len(got)} points exceed the ULP budget ({np.dtype(dtype)})"
        ]
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


def cond_budget(
    exact: Iterable, kappa: Iterable, dtype, ulps: float = 4.0, *, sens: Iterable | None = None
) -> list[float]:
    """Per-point ULP budgets for "``ulps`` ULP, or relative error ``ulps * eps * kappa``".

    ``kappa`` is the relative condition number of the function at each point (computed by
    the caller, e.g. ``sum |x_i df/dx_i| / |f|``); where ``ulps * eps * kappa`` allows more
    than ``ulps`` ULP, that larger error is the budget.

    Where the exact value is 0 while rounding the inputs would move it, ``kappa`` is
    infinite and the budget is absolute, tied to the inputs' scale: ``|got| <= ulps * eps *
    S`` with ``S = sum |x_i df/dx_i|`` (the numerator of ``kappa``), which the caller passes
    in ``sens`` (one per point; only read where ``kappa`` is infinite).  In ULPs of 0 (the
    smallest subnormal) that budget is capped at the largest float: an error of more than
    about 8.9e-16 at an exact 0 is an infinite number of such ULPs (``ulp_error``) and
    fails.  An infinite or NaN ``kappa`` without ``sens`` raises ``ValueError`` — an
    infinite budget would let any value through — and so does a NaN or infinite ``S``.
    An infinite or NaN exact value gets 0 ULP: it must be matched.
    """
    dtype = np.dtype(dtype)
    eps = mpmath.mpf(float(np.finfo(dtype).eps))
    fmax = float(np.finfo(np.float64).max)
    exact, kappa = list(exact), list(kappa)
    scales = [None] * len(exact) if sens is None else list(sens)
    out = []
    with mpmath.workdps(DPS):
        for e, k, s in zip(exact, kappa, scales, strict=True):
            e, k = mpmath.mpf(e), mpmath.mpf(k)
            if mpmath.isinf(e) or mpmath.isnan(e):
                out.append(0.0)
                continue
            if mpmath.isnan(k) or mpmath.isinf(k):
                if s is None or not mpmath.isfinite(mpmath.mpf(s)):
                    raise ValueError(
                        f"kappa: infinite or NaN at exact value {mpmath.nstr(e, 17)} and no "
                        f"finite sens (S = sum |x df/dx|) for an absolute budget (got {s!r})"
                    )
                rel = ulps * eps * abs(mpmath.mpf(s)) / _ulp_of(e, dtype)
                out.append(max(float(ulps), min(float(rel), fmax)))
                continue
            rel = ulps * eps * k * abs(e) / _ulp_of(e, dtype)
            out.append(max(float(ulps), float(rel)))
    return out


def mp_partial(f: Callable, x, *, relative: bool = False, **options):
    """``df/dx`` by ``mpmath.diff``, with a step on the scale ``f`` varies on, at enough precision.

    Call inside ``mpmath.workdps``.  The step is ``s 2^-(prec+10)`` with ``s = min(|x|, 1)``
    by default — relative below 1, so a probability of 1e-300 is differentiated on its own
    scale, and absolute above, where losses of logits vary on a scale of 1 even at
    ``z ~ 1e300`` — or ``s = |x|`` with ``relative=True`` (for functions that are linear
    or slowly varying at large ``|x|``; cheaper there).  The working precision grows by
    ``|log2 |x||`` bits where needed so that ``x ± h`` and ``f(x ± h) - f(x)`` are resolved.
    (``mpmath.diff``'s own ``relative=True`` scales the step the wrong way for small ``|x|``.)
    """
    x = mpmath.mpf(x)
    if x == 0:
        return mpmath.diff(f, x, h=mpmath.ldexp(1, -(mpmath.mp.prec + 10)), **options)
    mag = int(mpmath.mag(x))
    scale = abs(x) if relative else min(abs(x), mpmath.mpf(1))
    h = scale * mpmath.ldexp(1, -(mpmath.mp.prec + 10))
    options.setdefault("addprec", 10 + (max(0, -mag) if relative else abs(mag)))
    return mpmath.diff(f, x, h=h, **options)


def dps_for(*, magnitude: float = 0.0, spread: float = 0.0, extra: int = 0) -> int:
    """Digits for a reference whose definition cancels: ``DPS`` plus what the data eat.

    ``magnitude``: the largest ``|x|`` that is subtracted from another (``lse - z_t`` with
    ``z ~ 1e300`` needs 300 more digits).  ``spread``: the largest ``d`` in a
    ``1 + e^-d`` that must be resolved (``log(1 + e^-700)``); beyond 800 the ``e^-d`` is
    below every float, so it may be lost and adds nothing.
    """
    digits = DPS + extra + 5
    if magnitude > 1.0 and np.isfinite(magnitude):
        digits += int(np.ceil(np.log10(magnitude)))
    if 0.0 < spread <= 800.0:
        digits += int(spread / np.log(10.0)) + 1
    return digits


def dps_for_row(*rows, extra: int = 0) -> int:
    """:func:`dps_for` a row of logits (several rows: the most demanding).

    Magnitude: the largest finite ``|z_k|`` (``z_k - lse`` cancels to that many digits);
    spread: the largest gap ``max z - z_k`` up to 800 (``e^{-gap}`` next to 1 must be seen).
    """
    digits = DPS + extra + 5
    for row in rows:
        finite = [float(v) for v in np.ravel(row) if np.isfinite(v)]
        if not finite:
            continue
        m = max(finite)
        gaps = [m - v for v in finite if m - v <= 800.0]
        digits = max(
            digits, dps_for(magnitude=max(map(abs, finite)), spread=max(gaps), extra=extra)
        )
    return digits
