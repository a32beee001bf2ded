"""hypothesis strategies for the domains of ML losses (needs ``hypothesis``).

For property tests of your own loss functions — the inputs lossproof's adversarial
generators use, drawn by hypothesis so it can shrink a failure to a minimal example::

    from hypothesis import given
    from derive import strategies as lst

    @given(lst.logits_and_targets())
    def test_my_loss_is_finite(zy):
        z, y = zy
        assert np.isfinite(my_softmax_ce(z[None], y[None])).all()

=============================  ============================================================
strategy                       draws
=============================  ============================================================
logit_scalars()                floats incl. the branch points ±36.7, ±709, ±745 and ±1e300
logit_vectors(k)               float arrays [K]: ordinary, confident (one logit far ahead),
                               common offsets up to 1e300, near-ties
probability_vectors(k)         arrays [K] that sum to exactly 1 (dyadic), incl. zeros,
                               one-hot, near-ties and entries as small as 2**-48
distribution_pairs(k)          (p, q) incl. nearly identical pairs (relative differences
                               down to 1e-14), zeros in p and/or q, p = q
logits_and_targets()           (z [K], y [K]) with a one-hot or soft target for the same K
gaussian_parameters()          (μ1, σ1, μ2, σ2) incl. nearly identical Gaussians
=============================  ============================================================

Floats are float64 unless ``dtype=np.float32`` is passed; every value is representable in
the requested dtype.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

__all__ = [
    "distribution_pairs",
    "gaussian_parameters",
    "logit_scalars",
    "logit_vectors",
    "logits_and_targets",
    "probability_vectors",
]

_BRANCH = (0.0, 1e-300, 1e-8, 1.0, 17.0, 33.3, 36.7, 37.0, 40.0, 88.7, 100.0, 709.0, 710.0,
           745.0, 746.0, 800.0, 1e4, 1e16, 1e300)


def _fits(v: float, dtype) -> bool:
    with np.errstate(over="ignore", under="ignore"):
        r = np.asarray(v, dtype=dtype)
    return bool(np.isfinite(r)) and (v == 0 or r != 0)


def _cast(v: float, dtype) -> float:
    return float(np.asarray(v, dtype=dtype))


def logit_scalars(*, dtype=np.float64, max_magnitude: float | None = None) -> st.SearchStrategy:
    """Logits: any finite float of ``dtype`` (up to ``max_magnitude``), with the branch points
    of BCE/sigmoid algorithms (±36.7, ±709, ±745, ±1e300) drawn often."""
    fi = np.finfo(dtype)
    top = float(fi.max) if max_magnitude is None else float(max_magnitude)
    special = [s * v for v in _BRANCH if v <= top and _fits(v, dtype) for s in (1.0, -1.0)]
    width = 32 if np.dtype(dtype) == np.float32 else 64
    return st.one_of(
        st.sampled_from(sorted(set(special))),
        st.floats(-top, top, allow_nan=False, allow_infinity=False, width=width),
        st.floats(-50, 50, width=width),
    ).map(lambda v: _cast(v, dtype))


@st.composite
def logit_vectors(draw, k: int | None = None, *, min_k: int = 2, max_k: int = 10,
                  dtype=np.float64) -> np.ndarray:
    """Logit vectors [K]: ordinary ones, confident ones (one logit 20…1e4 ahead — the loss
    is below 1e-16 from 37), a common offset up to 1e300, near-ties (differences ~1e-12)."""
    kk = draw(st.integers(min_k, max_k)) if k is None else k
    kind = draw(st.sampled_from(["plain", "confident", "offset", "tie", "extreme"]))
    base = np.asarray(draw(st.lists(st.floats(-10, 10), min_size=kk, max_size=kk)))
    if kind == "confident":
        base[draw(st.integers(0, kk - 1))] += draw(st.sampled_from([20.0, 37.0, 40.0, 100.0,
                                                                   745.0, 1e4]))
    elif kind == "offset":
        offsets = [o for o in (1e4, 1e8, 1e16, 1e100, 1e300) if _fits(o, dtype)]
        base = draw(st.sampled_from(offsets)) * draw(st.sampled_from([1.0, -1.0])) + base
    elif kind == "tie":
        base = 1.0 + 1e-12 * np.round(base)
    elif kind == "extreme":
        big = float(np.finfo(dtype).max) / 4
        base[draw(st.integers(0, kk - 1))] = draw(st.sampled_from([big, -big]))
    return np.asarray(base, dtype=dtype)


@st.composite
def probability_vectors(draw, k: int | None = None, *, min_k: int = 2, max_k: int = 10,
                        zeros: bool = True, dtype=np.float64) -> np.ndarray:
    """Probability vectors [K] whose float entries sum to exactly 1 (multiples of 2**-48,
    2**-20 for float32): random, one-hot, with zeros, near-ties, near-one-hot."""
    kk = draw(st.integers(min_k, max_k)) if k is None else k
    bits = 20 if np.dtype(dtype) == np.float32 else 48
    total = 2**bits
    kind = draw(st.sampled_from(["random", "one-hot", "tie", "near-one-hot"]))
    if kind == "one-hot":
        n = [0] * kk
        n[draw(st.integers(0, kk - 1))] = total
    elif kind == "tie":
        n = [total // kk] * kk
        n[0] += total - sum(n) + 1
        n[1] -= 1
    elif kind == "near-one-hot":
        n = [draw(st.integers(0, 2**8)) for _ in range(kk)]
        n[0] = total - sum(n[1:])
    else:
        w = draw(st.lists(st.integers(0 if zeros else 1, 2**16), min_size=kk, max_size=kk))
        if sum(w) == 0:
            w[0] = 1
        n = [total * wi // sum(w) for wi in w]
        n[int(np.argmax(n))] += total - sum(n)
    if not zeros and min(n) == 0:
        n = [max(v, 1) for v in n]
        n[int(np.argmax(n))] -= sum(n) - total
    return (np.asarray(n, dtype=np.float64) / total).astype(dtype)


@st.composite
def distribution_pairs(draw, k: int | None = None, *, min_k: int = 2, max_k: int = 10,
                       dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (p, q) of exactly normalised distributions: independent, nearly identical (mass
    2**-48…1e-3 moved between two entries), equal, or with zeros in both."""
    p = draw(probability_vectors(k, min_k=min_k, max_k=max_k, dtype=dtype))
    kind = draw(st.sampled_from(["independent", "near", "equal"]))
    if kind == "equal":
        return p, p.copy()
    if kind == "independent":
        return p, draw(probability_vectors(len(p), zeros=False, dtype=dtype))
    bits = 20 if np.dtype(dtype) == np.float32 else 48
    units = draw(st.sampled_from([1, 2**4, 2**12, 2**24, 2**38]))
    q = p.copy()
    i, j = int(np.argmax(q)), int(np.argmin(q))
    if i == j:
        return p, q
    d = min(units * 2.0**-bits, q[i] / 2)
    q[i] -= d
    q[j] += d
    return p, q


@st.composite
def logits_and_targets(draw, *, min_k: int = 2, max_k: int = 10, soft: bool = True,
                       dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """``(z, y)`` with logits [K] from :func:`logit_vectors` and a one-hot (or, with
    ``soft=True``, any exactly normalised) target [K] of the same K."""
    z = draw(logit_vectors(min_k=min_k, max_k=max_k, dtype=dtype))
    if soft and draw(st.booleans()):
        return z, draw(probability_vectors(len(z), dtype=dtype))
    y = np.zeros(len(z), dtype=dtype)
    y[draw(st.integers(0, len(z) - 1))] = 1
    return z, y


@st.composite
def gaussian_parameters(draw, *, near_identical: bool = True,
                        dtype=np.float64) -> tuple[float, float, float, float]:
    """``(μ1, σ1, μ2, σ2)``: independent parameters (σ from 1e-3 to 1e3), or — often —
    nearly identical ones (Δμ/σ down to 1e-12, σ2/σ1 - 1 down to 1e-12)."""
    mu1 = draw(st.floats(-1e3, 1e3))
    s1 = 10.0 ** draw(st.floats(-3, 3))
    if near_identical and draw(st.booleans()):
        mu2 = mu1 + s1 * draw(st.sampled_from([0.0, 1e-12, 1e-8, 1e-4]))
        s2 = s1 * (1 + draw(st.sampled_from([0.0, 1e-12, 1e-9, -1e-9, 1e-6])))
    else:
        mu2 = draw(st.floats(-1e3, 1e3))
        s2 = 10.0 ** draw(st.floats(-3, 3))
    return tuple(_cast(v, dtype) for v in (mu1, s1, mu2, s2))
