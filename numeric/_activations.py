"""Activations: sigmoid, log_sigmoid, softplus, logsumexp, softmax, log_softmax.

The bottom of this module also holds the evaluation machinery shared with ``_losses``:

* **Working precision.**  Kernels compute in float64 and round once to the result dtype.
  NumPy's float32 ``exp`` and ``log`` are SIMD approximations with errors up to about 2.4 and
  3.6 ULP, which alone would use up a 4-ULP budget; one float64 evaluation rounded to float32
  is within 0.5 ULP plus a hair.  float32 in gives float32 out.
* **Chunks and threads.**  Large inputs are processed in cache-sized chunks (whole rows of
  logits for the softmax family), so a kernel's temporaries never leave the L2 cache, and the
  chunks are shared out over a small thread pool (NumPy ufuncs release the GIL).  Set the
  environment variable ``LOSSPROOF_NUM_THREADS=1`` to keep everything in the calling thread.
* **Checks in the same pass.**  Where speed matters the kernels test their chunk with one or
  two cheap reductions (the row maxima they need anyway double as the NaN / +inf test).  When
  a test fails, the public function re-runs the full check from ``_validate`` on the whole
  input, so the error message is the same as everywhere else.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from numeric._validate import as_float, check_axis, check_not_nan, to_array

__all__ = ["log_sigmoid", "log_softmax", "logsumexp", "sigmoid", "softmax", "softplus"]


# ----------------------------------------------------------------------------------------
# Public functions
# ----------------------------------------------------------------------------------------


def sigmoid(z: npt.ArrayLike) -> np.ndarray:
    r"""Logistic sigmoid, elementwise.

    .. math::

        \sigma(z) = \frac{1}{1 + e^{-z}}, \qquad
        \sigma(+\infty) = 1, \quad \sigma(-\infty) = 0.

    Parameters
    ----------
    z : array_like
        Real numbers, any shape; ``±inf`` allowed.

    Returns
    -------
    numpy.ndarray
        ``σ(z)``, same shape; float32 stays float32, otherwise float64.

    Raises
    ------
    TypeError
        ``z`` is complex, boolean, object or string.
    ValueError
        ``z`` is empty or contains NaN.

    Notes
    -----
    Stable rewrite: with :math:`e = e^{-|z|} \in (0, 1]`,
    :math:`\sigma(z) = 1/(1+e)` for :math:`z \ge 0` and :math:`e/(1+e)` for :math:`z < 0`
    (the branch used by scipy's ``expit``): nothing overflows, and for very negative ``z``
    the result keeps full relative accuracy down to the subnormals, where ``1 - σ(-z)``
    would round to 0.

    Accuracy: ≤ 4 ULP in float32 and float64 for every input (σ is well-conditioned in the
    relative sense wherever its value is representable).

    Examples
    --------
    >>> print(f"{float(sigmoid(-700.0)):.6e}")
    9.859677e-305
    """
    z = as_float(z, "z")
    check_not_nan(z, "z")
    (out,) = _map_elementwise(_sigmoid_kernel, (z,), 1, z.dtype)
    return out


def log_sigmoid(z: npt.ArrayLike) -> np.ndarray:
    r"""Logarithm of the logistic sigmoid, elementwise.

    .. math::

        \log\sigma(z) = -\log\left(1 + e^{-z}\right) = -\operatorname{softplus}(-z),
        \qquad \log\sigma(+\infty) = 0, \quad \log\sigma(-\infty) = -\infty.

    Parameters
    ----------
    z : array_like
        Real numbers, any shape; ``±inf`` allowed.

    Returns
    -------
    numpy.ndarray
        ``log σ(z) <= 0``, same shape and dtype rules as :func:`sigmoid`.

    Raises
    ------
    TypeError
        ``z`` is complex, boolean, object or string.
    ValueError
        ``z`` is empty or contains NaN.

    Notes
    -----
    Stable rewrite: :math:`\log\sigma(z) = \min(z, 0) - \operatorname{log1p}(e^{-|z|})`,
    a sum of two non-positive terms, so there is no cancellation; for large ``z`` the
    result is :math:`-e^{-z}` to full relative accuracy (``log(expit(z))`` returns 0).

    Accuracy: ≤ 4 ULP in float32 and float64 for every input.

    Examples
    --------
    >>> print(f"{float(log_sigmoid(40.0)):.6e}")
    -4.248354e-18
    """
    z = as_float(z, "z")
    check_not_nan(z, "z")
    (out,) = _map_elementwise(_log_sigmoid_kernel, (z,), 1, z.dtype)
    return out


def softplus(z: npt.ArrayLike) -> np.ndarray:
    r"""Softplus, elementwise.

    .. math::

        \operatorname{softplus}(z) = \log\left(1 + e^{z}\right), \qquad
        \operatorname{softplus}(+\infty) = +\infty, \quad \operatorname{softplus}(-\infty) = 0.

    Parameters
    ----------
    z : array_like
        Real numbers, any shape; ``±inf`` allowed.

    Returns
    -------
    numpy.ndarray
        ``softplus(z) >= 0``, same shape and dtype rules as :func:`sigmoid`.

    Raises
    ------
    TypeError
        ``z`` is complex, boolean, object or string.
    ValueError
        ``z`` is empty or contains NaN.

    Notes
    -----
    Stable rewrite: :math:`\operatorname{softplus}(z) = \max(z, 0) +
    \operatorname{log1p}(e^{-|z|})`, two non-negative terms; ``exp`` never overflows and
    for very negative ``z`` the result is :math:`e^{z}` to full relative accuracy.

    Accuracy: ≤ 4 ULP in float32 and float64 for every input.

    Examples
    --------
    >>> print(f"{float(softplus(-50.0)):.6e}")
    1.928750e-22
    """
    z = as_float(z, "z")
    check_not_nan(z, "z")
    (out,) = _map_elementwise(_softplus_kernel, (z,), 1, z.dtype)
    return out


def logsumexp(z: npt.ArrayLike, *, axis: int = -1) -> np.ndarray:
    r"""Log of the sum of exponentials along ``axis``.

    .. math::

        \operatorname{LSE}(z) = \log \sum_{k=1}^{K} e^{z_k},

    with ``-inf`` entries contributing :math:`e^{-\infty} = 0`; a slice of only ``-inf``
    gives ``-inf`` and a slice containing ``+inf`` gives ``+inf``.

    Parameters
    ----------
    z : array_like, shape ``[..., K, ...]``
        Real numbers; ``±inf`` allowed.
    axis : int, default -1
        The axis summed over.

    Returns
    -------
    numpy.ndarray
        ``z.shape`` without ``axis``; same dtype rules as :func:`sigmoid`.

    Raises
    ------
    TypeError
        ``z`` is complex, boolean, object or string, or ``axis`` is not an int.
    ValueError
        ``z`` is empty or 0-dimensional, contains NaN, or ``axis`` is out of range.

    Notes
    -----
    Stable rewrite: :math:`\operatorname{LSE}(z) = m + \operatorname{log1p}\bigl(\sum_{k
    \ne k^*} e^{z_k - m}\bigr)` with :math:`m = z_{k^*} = \max_k z_k`.  Shifting by the
    maximum (``log Σ e^{z} = m + log Σ e^{z−m}``) prevents overflow; leaving the argmax's
    exact 1 out of the sum and adding it back through ``log1p`` keeps the small remainder's
    digits, which ``m + log(1 + s)`` (scipy) loses when :math:`s < \epsilon`.

    Accuracy: ≤ 4 ULP where well-conditioned; otherwise relative error ≤ 4 ε κ with
    :math:`\kappa = \sum_k \operatorname{softmax}(z)_k |z_k| / |\operatorname{LSE}(z)|`.

    Examples
    --------
    >>> print(f"{float(logsumexp([0.0, -40.0]) ):.6e}")
    4.248354e-18
    """
    z = as_float(z, "z")
    axis = check_axis(z, axis, "z")
    z2, batch = _to_rows(z, axis)
    try:
        (out,) = _map_rows(_logsumexp_kernel, z2, (), ((),), z.dtype)
    except _Invalid:
        check_not_nan(z, "z")
        raise
    return out.reshape(batch)


def softmax(z: npt.ArrayLike, *, axis: int = -1, temperature: float = 1.0) -> np.ndarray:
    r"""Softmax along ``axis``, optionally at a temperature.

    .. math::

        \operatorname{softmax}(z; T)_k = \frac{e^{z_k / T}}{\sum_j e^{z_j / T}},

    with ``-inf`` logits masking their class (probability exactly 0).

    Parameters
    ----------
    z : array_like, shape ``[..., K, ...]``
        Logits: finite or ``-inf``; every slice along ``axis`` needs a finite entry.
    axis : int, default -1
        The class axis.
    temperature : float, default 1
        ``T > 0``, finite.

    Returns
    -------
    numpy.ndarray
        Probabilities, shape of ``z``; same dtype rules as :func:`sigmoid`.

    Raises
    ------
    TypeError
        ``z`` is complex, boolean, object or string; ``axis`` or ``temperature`` has the
        wrong type.
    ValueError
        ``z`` is empty or 0-dimensional, contains NaN or ``+inf``, or has a slice of only
        ``-inf``; ``temperature`` is not finite and positive; ``axis`` is out of range.

    Notes
    -----
    Stable rewrite: :math:`\operatorname{softmax}_k = e^{x_k} / (1 + s')` with
    :math:`x = (z - m)/T \le 0`, :math:`m = \max_k z_k` and :math:`s' = \sum_{k \ne k^*}
    e^{x_k}` (shift invariance of softmax; the argmax contributes an exact 1).  Shifting
    before dividing by ``T`` means ``z/T`` is never formed, so a small temperature cannot
    overflow it.

    Accuracy: ≤ 4 ULP where well-conditioned; otherwise relative error ≤ 4 ε κ with
    :math:`\kappa_k = \sum_j |z_j| |\delta_{jk} - \operatorname{softmax}_j| / T`.

    Examples
    --------
    >>> softmax([1000.0, 1000.0, -np.inf])
    array([0.5, 0.5, 0. ])
    """
    z = as_float(z, "z")
    axis = check_axis(z, axis, "z")
    temperature = _check_temperature(temperature)
    z2, batch = _to_rows(z, axis)
    kernel = functools.partial(_softmax_kernel, temperature=temperature)
    try:
        (out,) = _map_rows(kernel, z2, (), ((z2.shape[1],),), z.dtype)
    except _Invalid:
        _explain_logits(z, "z", axis)
        raise
    return _from_rows(out, batch, axis)


def log_softmax(z: npt.ArrayLike, *, axis: int = -1, temperature: float = 1.0) -> np.ndarray:
    r"""Logarithm of the softmax along ``axis``, optionally at a temperature.

    .. math::

        \log\operatorname{softmax}(z; T)_k = \frac{z_k}{T} - \log\sum_j e^{z_j / T},

    ``-inf`` for a class masked by a ``-inf`` logit.

    Parameters
    ----------
    z : array_like, shape ``[..., K, ...]``
        Logits: finite or ``-inf``; every slice along ``axis`` needs a finite entry.
    axis : int, default -1
        The class axis.
    temperature : float, default 1
        ``T > 0``, finite.

    Returns
    -------
    numpy.ndarray
        Log-probabilities ``<= 0``, shape of ``z``; same dtype rules as :func:`sigmoid`.

    Raises
    ------
    TypeError
        As :func:`softmax`.
    ValueError
        As :func:`softmax`.

    Notes
    -----
    Stable rewrite: :math:`\log\operatorname{softmax}_k = x_k - \operatorname{log1p}(s')`
    with :math:`x = (z - m)/T \le 0` and :math:`s' = \sum_{k \ne k^*} e^{x_k}`: two
    non-positive terms, so no cancellation, and the argmax's log-probability
    :math:`-\operatorname{log1p}(s')` is accurate even when it is below ε (confident
    predictions), where ``z - logsumexp(z)`` returns 0.

    Accuracy: ≤ 4 ULP where well-conditioned; otherwise relative error ≤ 4 ε κ with
    :math:`\kappa_k = \sum_j |z_j| |\delta_{jk} - \operatorname{softmax}_j| / (T |\log
    \operatorname{softmax}_k|)`.

    Examples
    --------
    >>> print(f"{float(log_softmax([40.0, 0.0])[0]):.6e}")
    -4.248354e-18
    """
    z = as_float(z, "z")
    axis = check_axis(z, axis, "z")
    temperature = _check_temperature(temperature)
    z2, batch = _to_rows(z, axis)
    kernel = functools.partial(_log_softmax_kernel, temperature=temperature)
    try:
        (out,) = _map_rows(kernel, z2, (), ((z2.shape[1],),), z.dtype)
    except _Invalid:
        _explain_logits(z, "z", axis)
        raise
    return _from_rows(out, batch, axis)


# ----------------------------------------------------------------------------------------
# Elementwise kernels (float64 chunks in, float64 chunk views out)
# ----------------------------------------------------------------------------------------


def _exp_neg_abs(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = e^{-|z|}`` in (0, 1]: it never overflows."""
    np.abs(z, out=out)
    np.negative(out, out=out)
    return np.exp(out, out=out)


def _sigmoid_kernel(z: np.ndarray, *, out: tuple[np.ndarray, ...]) -> None:
    (o,) = out
    e, d, m = _scratch(o.shape, 3)
    _exp_neg_abs(z, e)
    np.add(e, 1.0, out=d)
    # σ(z) = 1/(1 + e^{-|z|}) for z >= 0, e^{-|z|}/(1 + e^{-|z|}) for z < 0; the numerator
    # is selected as m e + (1 − m) with m = [z < 0] (exact: np.where mispredicts branches)
    np.less(z, 0.0, out=m, casting="unsafe")
    np.multiply(e, m, out=e)
    np.subtract(1.0, m, out=m)
    np.add(e, m, out=e)
    np.divide(e, d, out=o)


def _log_sigmoid_kernel(z: np.ndarray, *, out: tuple[np.ndarray, ...]) -> None:
    (o,) = out
    e, r = _scratch(o.shape, 2)
    _exp_neg_abs(z, e)
    # log σ(z) = min(z, 0) − log1p(e^{-|z|}): two non-positive terms
    np.log1p(e, out=e)
    np.minimum(z, 0.0, out=r)
    np.subtract(r, e, out=o)


def _softplus_kernel(z: np.ndarray, *, out: tuple[np.ndarray, ...]) -> None:
    (o,) = out
    e, r = _scratch(o.shape, 2)
    _exp_neg_abs(z, e)
    # softplus(z) = max(z, 0) + log1p(e^{-|z|}): two non-negative terms
    np.log1p(e, out=e)
    np.maximum(z, 0.0, out=r)
    np.add(r, e, out=o)


# ----------------------------------------------------------------------------------------
# Row kernels for the softmax family (float64 blocks of whole rows, shape [B, K])
# ----------------------------------------------------------------------------------------


def _row_argmax(zb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row indices, argmax and maximum of each row (NaN wins the argmax, so it shows in m)."""
    rows = np.arange(zb.shape[0])
    idx = np.argmax(zb, axis=1)
    return rows, idx, zb[rows, idx]


def _shifted_logits(
    zb: np.ndarray, temperature: float, out: np.ndarray, *, check: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``out = (z - m)/T <= 0`` (exactly 0 at the argmax); returns rows, argmax, m.

    Raises ``_Invalid`` when a row has NaN, ``+inf`` or only ``-inf`` entries: the row
    maximum the softmax needs anyway is finite exactly when none of those occurs.
    ``check=False`` skips that test (benchmarks only).
    """
    rows, idx, m = _row_argmax(zb)
    if check and not np.isfinite(m).all():
        raise _Invalid
    # shift invariance: softmax(z/T) = softmax((z − m)/T); z/T itself is never formed.
    # z − m below −max (logits ±1e308) is −inf: the overflow flag (no extra pass over
    # the block) sends the block to the redo in halves below
    try:
        with np.errstate(over="raise"):
            np.subtract(zb, m[:, None], out=out)
        overflowed = False
    except FloatingPointError:
        with np.errstate(over="ignore"):  # −inf where z − m overflows, redone below
            np.subtract(zb, m[:, None], out=out)
        overflowed = True
    if temperature != 1.0:
        # (z − m)/T below −max is −inf, whose e^x = 0 is the correctly rounded probability
        with np.errstate(over="ignore"):
            np.divide(out, temperature, out=out)
    if overflowed and temperature > 1.0:
        _redo_in_halves(zb, m, temperature, out)
    return rows, idx, m


def _redo_in_halves(zb: np.ndarray, m: np.ndarray, temperature: float, out: np.ndarray) -> None:
    """Where ``z − m`` overflowed but ``(z − m)/T`` need not: ``2 ((z/2 − m/2)/T)``.

    Halving a number beyond 1e300 is exact, so this is ``(z − m)/T`` rounded once, as if
    the difference had not overflowed (and −inf only where the quotient itself is).
    """
    redo = np.isneginf(out) & np.isfinite(zb)
    if redo.any():
        r, c = np.nonzero(redo)
        with np.errstate(over="ignore"):
            out[r, c] = 2.0 * ((0.5 * zb[r, c] - 0.5 * m[r]) / temperature)


def _half_shift(zb: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``(z − m)/2`` without overflow (exact halving of each term beyond the normal range)."""
    return 0.5 * zb - 0.5 * m[:, None]


def _exp_rest(x: np.ndarray, rows: np.ndarray, idx: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = e^{x}`` with the argmax entry zeroed; returns ``s' = Σ_{k≠k*} e^{x_k}``.

    The argmax term is an exact 1; keeping it out of the sum lets ``log1p(s')`` and
    ``s'/(1 + s')`` see the digits of a remainder far below ε.
    """
    np.exp(x, out=out)
    out[rows, idx] = 0.0
    return out.sum(axis=1)


def _logsumexp_kernel(zb: np.ndarray, *, out: tuple[np.ndarray, ...]) -> None:
    (o,) = out
    rows, idx, m = _row_argmax(zb)
    if np.isnan(m).any():
        raise _Invalid
    bad = ~np.isfinite(m)  # a +inf entry (LSE = +inf) or only -inf entries (LSE = -inf)
    if bad.any():
        zb = zb.copy()
        zb[bad] = 0.0
        m_safe = np.where(bad, 0.0, m)
    else:
        m_safe = m
    (w,) = _scratch(zb.shape, 1)
    np.subtract(zb, m_safe[:, None], out=w)
    s = _exp_rest(w, rows, idx, w)
    # log Σ e^{z} = m + log1p(Σ_{k≠k*} e^{z_k − m})
    np.add(m_safe, np.log1p(s), out=o)
    if bad.any():
        o[bad] = m[bad]


def _softmax_kernel(zb: np.ndarray, *, temperature: float, out: tuple[np.ndarray, ...]) -> None:
    (o,) = out
    rows, idx, _ = _shifted_logits(zb, temperature, o)
    s = _exp_rest(o, rows, idx, o)
    denom = 1.0 + s
    # softmax_k = e^{x_k} / (1 + s'), and exactly 1/(1 + s') at the argmax
    np.divide(o, denom[:, None], out=o)
    o[rows, idx] = 1.0 / denom


def _log_softmax_kernel(
    zb: np.ndarray, *, temperature: float, out: tuple[np.ndarray, ...]
) -> None:
    (o,) = out
    rows, idx, _ = _shifted_logits(zb, temperature, o)
    s = _exp_rest(o, rows, idx, _scratch(o.shape, 1)[0])
    # log softmax_k = x_k − log1p(s'): both terms <= 0
    np.subtract(o, np.log1p(s)[:, None], out=o)


# ----------------------------------------------------------------------------------------
# Argument checks shared with _losses
# ----------------------------------------------------------------------------------------


class _Invalid(Exception):
    """A kernel's in-pass check failed; the public function re-checks to explain why."""


def _check_scalar(value, name: str) -> float:
    """A real Python/NumPy scalar (not bool) as float, or TypeError naming ``name``."""
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"{name}: must be a real number, got bool")
    arr = to_array(value, name)
    if arr.ndim != 0 or arr.dtype.kind not in "iuf":
        raise TypeError(f"{name}: must be a real scalar, got {type(value).__name__} {arr.dtype}")
    return float(arr)


def _check_temperature(temperature, name: str = "temperature") -> float:
    """A finite ``T > 0`` as float, else ValueError/TypeError naming ``name``."""
    t = _check_scalar(temperature, name)
    if not (math.isfinite(t) and t > 0.0):
        raise ValueError(f"{name}: must be a finite number > 0 (got {t!r})")
    return t


def _explain_logits(z: np.ndarray, name: str, axis: int) -> None:
    """Raise the ValueError that says why logits ``z`` were rejected (NaN, +inf, all -inf)."""
    check_not_nan(z, name)
    if np.isposinf(z).any():
        raise ValueError(
            f"{name}: contains +inf; logits must be finite or -inf (-inf masks a class)"
        )
    if np.isneginf(z).all(axis=axis).any():
        raise ValueError(
            f"{name}: some slice along axis {axis} has every logit -inf, so its softmax is "
            "undefined"
        )


# ----------------------------------------------------------------------------------------
# Evaluation machinery: float64 work precision, cache-sized chunks, a small thread pool
# ----------------------------------------------------------------------------------------

_CHUNK = 1 << 16  # elements per chunk (512 KiB of float64): temporaries stay in L2/L3
_PARALLEL_MIN = 1 << 17  # fewer elements than this run in the calling thread

_tls = threading.local()
_pool_lock = threading.Lock()
_pool = None
_pool_key: tuple[int, int] | None = None


def _num_threads() -> int:
    """Threads to use: ``LOSSPROOF_NUM_THREADS`` if set, else the CPUs available (≤ 16)."""
    env = os.environ.get("LOSSPROOF_NUM_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 1
    elif hasattr(os, "sched_getaffinity"):
        n = len(os.sched_getaffinity(0))
    else:  # pragma: no cover - platforms without sched_getaffinity
        n = os.cpu_count() or 1
    return max(1, min(n, 16))


def _get_pool(workers: int):
    """The shared ThreadPoolExecutor (re-created after a fork or a change of size)."""
    global _pool, _pool_key
    key = (os.getpid(), workers)
    with _pool_lock:
        if _pool_key != key:
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lossproof")
            _pool_key = key
        return _pool


def _parallel_for(task: Callable[[int, int], None], n: int, grain: int, work: int) -> None:
    """Call ``task(start, stop)`` on consecutive ``grain``-sized pieces of ``range(n)``.

    ``work`` (elements touched) decides whether threads are worth starting.  Pieces are
    claimed dynamically by the calling thread and the pool's, so a thread slowed down by
    other load does not hold up the rest, and the caller waits only for pieces actually
    in progress (never for a pool thread that has not been scheduled yet).  The first
    exception raised by any piece is re-raised here.

    Each thread takes its pieces from the front of its own contiguous share of
    ``range(n)`` and, once that is done, from the back of the largest share left: the
    threads then write to different (huge) pages of a fresh output, and do not fault on
    the same page in turn, which made a freshly allocated output cost 1.5x as much to fill
    as with contiguous shares.
    """
    pieces = -(-n // grain)
    threads = min(_num_threads(), pieces) if work >= _PARALLEL_MIN else 1
    if threads <= 1:
        for i in range(pieces):
            task(i * grain, min(n, (i + 1) * grain))
        return
    cond = threading.Condition()
    # the unclaimed pieces [front, back) of each thread's share
    shares = [[j * pieces // threads, (j + 1) * pieces // threads] for j in range(threads)]
    state = {"claimed": 0, "finished": 0, "started": 0}
    failed: list[BaseException] = []

    def claim(me: int) -> int | None:
        own = shares[me]
        if own[0] < own[1]:
            own[0] += 1
            return own[0] - 1
        other = max(shares, key=lambda sh: sh[1] - sh[0])
        if other[0] >= other[1]:
            return None
        other[1] -= 1
        return other[1]

    def worker() -> None:
        with cond:
            me = state["started"]
            state["started"] += 1
        while True:
            with cond:
                i = None if failed else claim(me)
                if i is None:
                    return
                state["claimed"] += 1
            try:
                task(i * grain, min(n, (i + 1) * grain))
            except BaseException as exc:
                with cond:
                    failed.append(exc)
            finally:
                with cond:
                    state["finished"] += 1
                    cond.notify_all()

    pool = _get_pool(threads - 1)
    for _ in range(threads - 1):
        pool.submit(worker)
    worker()
    with cond:
        cond.wait_for(lambda: state["finished"] == state["claimed"])
    if failed:
        raise failed[0]


def _scratch(shape: int | tuple[int, ...], count: int, kind: str = "work", dtype=np.float64):
    """``count`` uninitialised arrays of ``shape``, owned and reused by the calling thread.

    Kernels run on cache-sized chunks, where allocating temporaries afresh costs more than
    the arithmetic: glibc hands the freed pages back to the OS, and every new page faults.
    Each ``kind`` (and dtype) has its own buffers, so a kernel's work arrays never alias the
    chunk buffers of the machinery around it; a kernel must ask once per call.  Arrays
    beyond four chunks are allocated normally.
    """
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    size = math.prod(shape)
    dtype = np.dtype(dtype)
    if size > 4 * _CHUNK:
        return [np.empty(shape, dtype) for _ in range(count)]
    cache = _tls.__dict__.setdefault((kind, dtype.char), [])
    for i in range(count):
        if i == len(cache):
            cache.append(np.empty(max(size, _CHUNK), dtype))
        elif cache[i].size < size:
            cache[i] = np.empty(size, dtype)
    return [buf[:size].reshape(shape) for buf in cache[:count]]


def _flat(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``a`` broadcast to ``shape`` as a 1-D C-ordered array (a view when possible).

    A single value stays 0-d so that it is broadcast by the ufuncs instead of copied.
    """
    if a.size == 1 and math.prod(shape) != 1:
        return a.reshape(())
    if a.shape == shape and a.flags.c_contiguous:
        return a.reshape(-1)
    return np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1)


def _map_elementwise(
    kernel: Callable, arrays: tuple[np.ndarray, ...], n_out: int, dtype: np.dtype
) -> tuple[np.ndarray, ...]:
    """Evaluate an elementwise ``kernel(*chunks, out=...)`` over the broadcast ``arrays``.

    The kernel receives float64 chunks (or 0-d float64 values) and writes float64 results
    into ``out``; they are rounded to ``dtype`` once, in the output arrays.
    """
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    n = math.prod(shape)
    flats = [_flat(a, shape) for a in arrays]
    outs = tuple(np.empty(n, dtype=dtype) for _ in range(n_out))
    narrow = np.dtype(dtype) != np.float64

    def task(start: int, stop: int) -> None:
        args = [f if f.ndim == 0 else f[start:stop] for f in flats]
        for i, a in enumerate(args):
            if a.dtype != np.float64:  # float32 in: exact in float64
                if a.ndim == 0:
                    args[i] = a.astype(np.float64)
                else:
                    (wide,) = _scratch(stop - start, 1, f"in{i}")
                    np.copyto(wide, a)
                    args[i] = wide
        if narrow:
            dst = tuple(_scratch(stop - start, len(outs), "out"))
            kernel(*args, out=dst)
            _store(outs, dst, start, stop)
        else:
            kernel(*args, out=tuple(o[start:stop] for o in outs))

    _parallel_for(task, n, _CHUNK, n)
    return tuple(o.reshape(shape) for o in outs)


def _store(outs, dst, start: int, stop: int) -> None:
    """Round float64 results into the (float32) outputs."""
    # a float64 value beyond float32's range rounds to inf, its correct float32 value
    with np.errstate(over="ignore"):
        for o, d in zip(outs, dst, strict=True):
            o[start:stop] = d


def _to_rows(z: np.ndarray, axis: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """``z`` with ``axis`` moved last, as a C-contiguous ``[N, K]`` array, and the batch shape.

    No copy is made when ``axis`` is already last and ``z`` is C-contiguous.
    """
    moved = np.moveaxis(z, axis, -1)
    return np.ascontiguousarray(moved).reshape(-1, moved.shape[-1]), moved.shape[:-1]


def _from_rows(out: np.ndarray, batch: tuple[int, ...], axis: int) -> np.ndarray:
    """Inverse of :func:`_to_rows` for a ``[N, K]`` result."""
    return np.moveaxis(out.reshape(*batch, out.shape[-1]), -1, axis)


def _map_rows(
    kernel: Callable,
    z2: np.ndarray,
    extras: tuple[np.ndarray | None, ...],
    out_tails: tuple[tuple[int, ...], ...],
    dtype: np.dtype,
    chunk: int = _CHUNK,
) -> tuple[np.ndarray, ...]:
    """Evaluate a row ``kernel(zb, *extra_blocks, out=...)`` over blocks of rows of ``z2``.

    ``extras`` are arrays with one entry (or row) per row of ``z2`` (``None`` passes
    through); float ones reach the kernel as float64.  Output ``i`` has shape
    ``(N,) + out_tails[i]``.  Blocks hold about ``chunk`` elements (at least one row).
    """
    n_rows, k = z2.shape
    outs = tuple(np.empty((n_rows, *tail), dtype=dtype) for tail in out_tails)
    narrow = np.dtype(dtype) != np.float64
    grain = max(1, chunk // max(k, 1))  # whole rows, about a chunk

    def task(start: int, stop: int) -> None:
        blocks = [a if a is None else a[start:stop] for a in (z2, *extras)]
        for i, b in enumerate(blocks):
            if b is not None and b.dtype.kind == "f" and b.dtype != np.float64:
                (wide,) = _scratch(b.shape, 1, f"in{i}")  # float32 in: exact in float64
                np.copyto(wide, b)
                blocks[i] = wide
        if narrow:
            dst = tuple(
                _scratch((stop - start, *o.shape[1:]), 1, f"out{i}")[0] for i, o in enumerate(outs)
            )
            kernel(*blocks, out=dst)
            _store(outs, dst, start, stop)
        else:
            kernel(*blocks, out=tuple(o[start:stop] for o in outs))

    _parallel_for(task, n_rows, grain, z2.size)
    return outs
