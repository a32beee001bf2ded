"""Shared input checks for ``numeric``.

Every public function validates through these helpers so that bad input raises the
same kind of error with the same wording everywhere:

* ``TypeError`` for a wrong *kind* of input (complex, object, string, boolean dtypes);
* ``ValueError`` for a wrong *value* or *shape* (NaN, inf where not meaningful, negative
  or non-normalised probabilities, empty arrays, shape mismatches, labels out of range).

Each message names the argument and the problem, e.g. ``ValueError: p: probabilities must
sum to 1 along axis -1 (worst |sum - 1| = 0.1, tolerance 8.9e-16)``.

Dtype policy: float32 stays float32, float64 stays float64; integer inputs are promoted
to float64 and float16 to float32.  ``longdouble`` is rejected rather than silently
truncated.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "as_float",
    "as_labels",
    "broadcast",
    "check_axis",
    "check_finite",
    "check_not_nan",
    "check_positive",
    "check_probabilities",
    "check_unit_interval",
    "common_dtype",
    "normalisation_tolerance",
]

_SUPPORTED = (np.float32, np.float64)


def as_float(x: npt.ArrayLike, name: str, *, dtype: np.dtype | None = None) -> np.ndarray:
    """Convert ``x`` to a float32/float64 array, rejecting what is not a real number.

    Raises ``TypeError`` for complex, object, string, boolean or longdouble input and
    ``ValueError`` for an empty array.
    """
    arr = to_array(x, name)
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError(f"{name}: complex input is not supported (dtype {arr.dtype})")
    if kind == "b":
        raise TypeError(f"{name}: boolean input is not supported; pass numbers")
    if kind not in "iuf":
        raise TypeError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"{name}: empty array (shape {arr.shape})")
    if dtype is not None:
        return arr.astype(dtype, copy=False)
    if kind in "iu":
        return arr.astype(np.float64)
    if arr.dtype == np.float16:
        return arr.astype(np.float32)
    if arr.dtype.type not in _SUPPORTED:
        raise TypeError(f"{name}: dtype {arr.dtype} is not supported; use float32 or float64")
    return arr


def to_array(x: object, name: str) -> np.ndarray:
    """``np.asarray(x)``, refusing what it would read wrongly, with errors naming ``name``.

    * A masked array (``numpy.ma``) is refused with ``TypeError``: ``np.asarray`` drops the
      mask, so masked entries would silently count.  Pass ``x.filled(value)`` or
      ``x.compressed()``.
    * An object that cannot be read without a copy of its autograd state (a torch tensor
      that requires grad) is refused with ``TypeError`` asking for ``.detach().numpy()``;
      ``numeric`` never imports torch.
    * Ragged nested sequences give ``ValueError``.
    """
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            f"{name}: masked arrays are not supported (the mask would be ignored); "
            "pass x.filled(value) or x.compressed()"
        )
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ValueError(f"{name}: cannot be converted to an array ({exc})") from None
    except RuntimeError as exc:  # e.g. a torch tensor that requires grad
        hint = "; pass x.detach().numpy()" if hasattr(x, "detach") else ""
        raise TypeError(
            f"{name}: cannot be read as a NumPy array ({type(x).__name__}: {exc}){hint}"
        ) from None


def tolerance_dtype(original: object, arr: np.ndarray) -> np.dtype:
    """The dtype whose ``eps`` sets the sum-to-1 tolerance of ``arr`` (from ``as_float``).

    float16 input is computed in float32 but was normalised in float16, so it gets
    float16's tolerance; everything else its own dtype's.
    """
    if getattr(original, "dtype", None) == np.float16:
        return np.dtype(np.float16)
    return arr.dtype


def common_dtype(*arrays: np.ndarray) -> np.dtype:
    """float64 if any argument is float64, else float32 (all inputs already via ``as_float``)."""
    return np.result_type(*arrays)


def check_not_nan(x: np.ndarray, name: str) -> None:
    """Reject NaN (infinities allowed: e.g. a logit of -inf masks a class)."""
    if np.isnan(x).any():
        raise ValueError(f"{name}: contains NaN")


def check_finite(x: np.ndarray, name: str) -> None:
    """Reject NaN and +-inf."""
    if not np.isfinite(x).all():
        check_not_nan(x, name)
        raise ValueError(f"{name}: contains inf; finite values are required")


def check_positive(x: np.ndarray, name: str, *, allow_inf: bool = False) -> None:
    """Reject NaN, non-positive values and (unless ``allow_inf``) infinities."""
    check_not_nan(x, name)
    if not allow_inf and np.isinf(x).any():
        raise ValueError(f"{name}: contains inf; finite positive values are required")
    if (x <= 0).any():
        raise ValueError(f"{name}: must be > 0 (minimum is {np.min(x)!r})")


def check_unit_interval(x: np.ndarray, name: str) -> None:
    """Reject values outside [0, 1] and NaN (elementwise probabilities / soft labels)."""
    check_not_nan(x, name)
    if (x < 0).any() or (x > 1).any():
        raise ValueError(
            f"{name}: values must lie in [0, 1] (range found [{np.min(x)!r}, {np.max(x)!r}])"
        )


def normalisation_tolerance(k: int, dtype: np.dtype) -> float:
    """Tolerance on ``|sum(p) - 1|`` for a distribution of ``k`` outcomes.

    ``4 * max(k, 4) * eps``: the rounding error of normalising ``k`` numbers by their
    sum and re-summing them is at most about ``k * eps`` (naive summation bound; NumPy's
    pairwise summation is usually far below it), so any vector a user normalised in
    ``dtype`` passes, while a vector that is off by a real amount (1e-6 in float64,
    1e-3 in float32 for ``k`` up to 100) is rejected.
    """
    return 4.0 * max(int(k), 4) * float(np.finfo(dtype).eps)


def check_axis(x: np.ndarray, axis: int, name: str) -> int:
    """Normalise ``axis`` for ``x`` or raise ``ValueError``/``TypeError``."""
    if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
        raise TypeError(f"axis: must be an int, got {type(axis).__name__}")
    if not -x.ndim <= axis < max(x.ndim, 1):
        raise ValueError(f"axis: {axis} is out of range for {name} with {x.ndim} dimension(s)")
    return int(axis) % max(x.ndim, 1)


def check_probabilities(
    p: np.ndarray, name: str, *, axis: int | None = -1, tol_dtype: np.dtype | None = None
) -> None:
    """Check that ``p`` holds distributions along ``axis`` (``None``: the whole array).

    Entries must be finite and >= 0, and each distribution must sum to 1 within
    :func:`normalisation_tolerance` of ``tol_dtype`` (default ``p.dtype``; see
    :func:`tolerance_dtype`).  Nothing is normalised silently.
    """
    check_not_nan(p, name)
    if np.isinf(p).any():
        raise ValueError(f"{name}: contains inf; probabilities must be finite")
    if (p < 0).any():
        raise ValueError(f"{name}: probabilities must be >= 0 (minimum is {np.min(p)!r})")
    # a sum beyond the float range is +inf, which fails the test below as it should
    with np.errstate(over="ignore"):
        if axis is None:
            k = p.size
            total = np.sum(p, dtype=np.float64)
        else:
            if p.ndim == 0:
                raise ValueError(f"{name}: a distribution needs at least one dimension")
            axis = check_axis(p, axis, name)
            k = p.shape[axis]
            total = np.sum(p, axis=axis, dtype=np.float64)
    tol = normalisation_tolerance(k, p.dtype if tol_dtype is None else tol_dtype)
    worst = float(np.max(np.abs(total - 1.0)))
    if not worst <= tol:
        where = "in total" if axis is None else f"along axis {axis}"
        raise ValueError(
            f"{name}: probabilities must sum to 1 {where} "
            f"(worst |sum - 1| = {worst:.3g}, tolerance {tol:.3g})"
        )


def broadcast(**arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Broadcast the named arrays together, naming them in the error on mismatch."""
    try:
        return tuple(np.broadcast_arrays(*arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {np.shape(v)}" for k, v in arrays.items())
        raise ValueError(f"shape mismatch: cannot broadcast {shapes}") from None


def as_labels(target: npt.ArrayLike, num_classes: int, name: str = "target") -> np.ndarray:
    """Validate integer class indices in ``[0, num_classes)`` and return them as intp."""
    arr = to_array(target, name)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: class labels must be integers (got dtype {arr.dtype})")
    if arr.size == 0:
        raise ValueError(f"{name}: empty array (shape {arr.shape})")
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi >= num_classes:
        raise ValueError(
            f"{name}: class index out of range [0, {num_classes}) (found {lo if lo < 0 else hi})"
        )
    return arr.astype(np.intp, copy=False)


# --- helpers added for the information and Gaussian modules -------------------------------


def check_base(base: object) -> float:
    """Validate a logarithm base (``base=`` of the information measures) and return it.

    The base must be a real number, finite, ``> 0`` and ``!= 1``.  Raises ``TypeError``
    for a non-number (booleans included) and ``ValueError`` for a bad value.
    """
    real = int | float | np.integer | np.floating
    if isinstance(base, bool | np.bool_) or not isinstance(base, real):
        raise TypeError(f"base: must be a real number, got {type(base).__name__}")
    b = float(base)
    if not (np.isfinite(b) and b > 0.0 and b != 1.0):
        raise ValueError(f"base: must be finite, > 0 and != 1 (got {base!r})")
    return b


def check_joint(p: np.ndarray, name: str, tol_dtype: np.dtype | None = None) -> None:
    """Check that ``p`` holds joint tables ``[..., X, Y]`` (each table sums to 1).

    Entries must be finite and >= 0; each table (the last two axes) must sum to 1 within
    :func:`normalisation_tolerance` for ``X * Y`` outcomes.  Nothing is normalised.
    """
    if p.ndim < 2:
        raise ValueError(f"{name}: a joint table needs two axes [X, Y] (got shape {p.shape})")
    check_not_nan(p, name)
    if np.isinf(p).any():
        raise ValueError(f"{name}: contains inf; probabilities must be finite")
    if (p < 0).any():
        raise ValueError(f"{name}: probabilities must be >= 0 (minimum is {np.min(p)!r})")
    with np.errstate(over="ignore"):  # an infinite sum fails the test below
        total = np.sum(p, axis=(-2, -1), dtype=np.float64)
    tol = normalisation_tolerance(p.shape[-2] * p.shape[-1], tol_dtype or p.dtype)
    worst = float(np.max(np.abs(total - 1.0)))
    if not worst <= tol:
        raise ValueError(
            f"{name}: each joint table (last two axes) must sum to 1 "
            f"(worst |sum - 1| = {worst:.3g}, tolerance {tol:.3g})"
        )


__all__ += ["check_base", "check_joint", "to_array", "tolerance_dtype"]
