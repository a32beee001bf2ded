"""Losses with their gradients: BCE, softmax cross-entropy, label smoothing, distillation, MSE.

Argument order follows torch/optax: prediction first, target second.  Each ``*_grad`` is the
closed-form derivative with respect to the first argument.  The kernels compute in float64
and round once to the result dtype (the common float dtype of the inputs; integer labels and
Python scalars do not promote), in cache-sized chunks spread over a small thread pool — see
the notes at the top of :mod:`numeric._activations`.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

from numeric._activations import (
    _CHUNK,
    _check_scalar,
    _check_temperature,
    _exp_rest,
    _explain_logits,
    _from_rows,
    _half_shift,
    _Invalid,
    _map_elementwise,
    _map_rows,
    _scratch,
    _shifted_logits,
    _to_rows,
)
from numeric._distill import _distill_kernel
from numeric._validate import (
    as_float,
    as_labels,
    broadcast,
    check_axis,
    check_finite,
    check_probabilities,
    check_unit_interval,
    common_dtype,
    tolerance_dtype,
)

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "distillation_loss",
    "distillation_loss_grad",
    "mse",
    "mse_grad",
    "smooth_labels",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
]


# ----------------------------------------------------------------------------------------
# Binary cross-entropy on probabilities
# ----------------------------------------------------------------------------------------


def binary_cross_entropy(p_hat: npt.ArrayLike, y: npt.ArrayLike) -> np.ndarray:
    r"""Binary cross-entropy of predicted probabilities, elementwise.

    .. math::

        L(\hat p, y) = -\bigl[y \log \hat p + (1 - y) \log(1 - \hat p)\bigr]

    with the conventions

    .. math::

        0 \cdot \log 0 = 0, \qquad
        L = +\infty \text{ where } \hat p = 0 < y \text{ or } \hat p = 1 > y.

    Parameters
    ----------
    p_hat : array_like
        Predicted probabilities in ``[0, 1]``; no clipping is applied.
    y : array_like
        Labels in ``[0, 1]`` (hard or soft), broadcastable with ``p_hat``.

    Returns
    -------
    numpy.ndarray
        The loss ``>= 0``, broadcast shape, common float dtype (float32 stays float32).

    Raises
    ------
    TypeError
        An argument is complex, boolean, object or string.
    ValueError
        An argument is empty, contains NaN or values outside ``[0, 1]``, or the shapes do
        not broadcast.

    Notes
    -----
    Stable rewrite: :math:`\log(1 - \hat p) = \operatorname{log1p}(-\hat p)` (exact argument
    for :math:`\hat p \ge 1/2`, full relative accuracy for small :math:`\hat p`); each term
    is evaluated only where its weight is positive (scipy's ``xlogy``/``xlog1py`` logic),
    and both terms are non-negative, so they add without cancellation.

    Accuracy: ≤ 4 ULP in float32 and float64 for every input in ``[0, 1]²``.

    Examples
    --------
    >>> binary_cross_entropy([0.0, 1.0, 0.0], [0.0, 1.0, 1.0])
    array([ 0.,  0., inf])
    """
    p, y, dtype = _pair(p_hat, "p_hat", y, "y")
    check_unit_interval(p, "p_hat")
    check_unit_interval(y, "y")
    (out,) = _map_elementwise(_bce_kernel, (p, y), 1, dtype)
    return out


def binary_cross_entropy_grad(p_hat: npt.ArrayLike, y: npt.ArrayLike) -> np.ndarray:
    r"""Derivative of :func:`binary_cross_entropy` with respect to ``p_hat``.

    .. math::

        \frac{\partial L}{\partial \hat p} = -\frac{y}{\hat p} + \frac{1 - y}{1 - \hat p}
        = \frac{\hat p - y}{\hat p (1 - \hat p)},

    and at the ends (one-sided derivatives, with the :math:`0 \log 0 = 0` convention)

    .. math::

        \frac{\partial L}{\partial \hat p} =
        \begin{cases}
            1 & \hat p = 0,\ y = 0 \\
            -\infty & \hat p = 0,\ y > 0 \\
            -1 & \hat p = 1,\ y = 1 \\
            +\infty & \hat p = 1,\ y < 1.
        \end{cases}

    Parameters
    ----------
    p_hat : array_like
        Predicted probabilities in ``[0, 1]``.
    y : array_like
        Labels in ``[0, 1]``, broadcastable with ``p_hat``.

    Returns
    -------
    numpy.ndarray
        The gradient, broadcast shape, common float dtype.

    Raises
    ------
    TypeError
        As :func:`binary_cross_entropy`.
    ValueError
        As :func:`binary_cross_entropy`.

    Notes
    -----
    Stable rewrite: the single fraction :math:`(\hat p - y) / (\hat p (1 - \hat p))`
    replaces the difference of the two terms, which cancels where :math:`\hat p \approx y`;
    :math:`\hat p - y` is exact there (Sterbenz).  A gradient beyond the float range is
    ``±inf``.

    Accuracy: ≤ 4 ULP in float32 and float64 for every input in ``[0, 1]²``.

    Examples
    --------
    >>> binary_cross_entropy_grad([0.25, 0.0, 1.0], [0.5, 0.0, 1.0])
    array([-1.33333333,  1.        , -1.        ])
    """
    p, y, dtype = _pair(p_hat, "p_hat", y, "y")
    check_unit_interval(p, "p_hat")
    check_unit_interval(y, "y")
    (out,) = _map_elementwise(_bce_grad_kernel, (p, y), 1, dtype)
    return out


def _bce_kernel(p: np.ndarray, y: np.ndarray, *, out: tuple[np.ndarray, ...]) -> None:
    (o,) = out
    omy = 1.0 - y
    with np.errstate(divide="ignore", invalid="ignore"):
        # log 0 = −inf is the documented +inf loss; the 0·(−inf) = NaN it gives where the
        # weight is 0 is replaced by 0 just below (0 log 0 = 0)
        a = y * np.log(p)
        # log(1 − p̂) = log1p(−p̂)
        b = omy * np.log1p(-p)
    a = np.where(y > 0.0, a, 0.0)
    b = np.where(omy > 0.0, b, 0.0)
    np.add(a, b, out=o)
    np.subtract(0.0, o, out=o)  # −(a + b), with 0 − (−0) = +0 for a zero loss


def _bce_grad_kernel(p: np.ndarray, y: np.ndarray, *, out: tuple[np.ndarray, ...]) -> None:
    (o,) = out
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # p̂ ∈ {0, 1} gives 0/0 or x/0 here and is overwritten below; a finite gradient
        # beyond the float range rounds to ±inf, its correct value
        # −y/p̂ + (1 − y)/(1 − p̂) = (p̂ − y)/(p̂ (1 − p̂))
        g = (p - y) / (p * (1.0 - p))
    g = np.where(p == 0.0, np.where(y == 0.0, 1.0, -np.inf), g)
    np.copyto(o, np.where(p == 1.0, np.where(y == 1.0, -1.0, np.inf), g))


# ----------------------------------------------------------------------------------------
# Binary cross-entropy on logits
# ----------------------------------------------------------------------------------------


def binary_cross_entropy_with_logits(z: npt.ArrayLike, y: npt.ArrayLike) -> np.ndarray:
    r"""Binary cross-entropy of a logit, elementwise (hard or soft labels).

    .. math::

        L(z, y) = -\bigl[y \log \sigma(z) + (1 - y) \log(1 - \sigma(z))\bigr]
        = (1 - y) \operatorname{softplus}(z) + y \operatorname{softplus}(-z).

    Parameters
    ----------
    z : array_like
        Finite logits.
    y : array_like
        Labels in ``[0, 1]`` (hard or soft), broadcastable with ``z``.

    Returns
    -------
    numpy.ndarray
        The loss ``>= 0``, broadcast shape, common float dtype (float32 stays float32).

    Raises
    ------
    TypeError
        An argument is complex, boolean, object or string.
    ValueError
        An argument is empty; ``z`` contains NaN or ``±inf``; ``y`` contains NaN or values
        outside ``[0, 1]``; the shapes do not broadcast.

    Notes
    -----
    Stable rewrite: :math:`L = \operatorname{log1p}(e^{-|z|}) + w|z|` with :math:`w = 1 - y`
    for :math:`z \ge 0` and :math:`w = y` for :math:`z < 0` — the sum of the two
    non-negative softplus terms, since :math:`\operatorname{softplus}(\pm z) = \max(\pm z, 0)
    + \operatorname{log1p}(e^{-|z|})`.  Unlike ``max(z, 0) − y z + log1p(e^{−|z|})``
    (TensorFlow/optax) it has no cancellation for soft labels near 1, and it keeps the
    :math:`e^{-|z|}` tail that torch rounds to 0 for :math:`|z| > 36.7`.

    Accuracy: ≤ 4 ULP in float32 and float64 for every input.

    Examples
    --------
    >>> print(f"{float(binary_cross_entropy_with_logits(-40.0, 0.0)):.6e}")
    4.248354e-18
    """
    (loss,) = _bce_with_logits(z, y, want_loss=True, want_grad=False)
    return loss


def binary_cross_entropy_with_logits_grad(z: npt.ArrayLike, y: npt.ArrayLike) -> np.ndarray:
    r"""Derivative of :func:`binary_cross_entropy_with_logits` with respect to ``z``.

    .. math::

        \frac{\partial L}{\partial z} = \sigma(z) - y = (1 - y)\,\sigma(z) - y\,\sigma(-z).

    Parameters
    ----------
    z : array_like
        Finite logits.
    y : array_like
        Labels in ``[0, 1]``, broadcastable with ``z``.

    Returns
    -------
    numpy.ndarray
        The gradient in ``[-1, 1]``, broadcast shape, common float dtype.

    Raises
    ------
    TypeError
        As :func:`binary_cross_entropy_with_logits`.
    ValueError
        As :func:`binary_cross_entropy_with_logits`.

    Notes
    -----
    Stable rewrite: with :math:`\sigma(-|z|) = e^{-|z|}/(1 + e^{-|z|})`, the gradient is
    :math:`(1 - y) - \sigma(-|z|)` for :math:`z \ge 0` and :math:`\sigma(-|z|) - y` for
    :math:`z < 0`.  For a hard label the two terms never cancel, so a confident correct
    prediction keeps its gradient :math:`-e^{-z}` (``sigmoid(z) − y`` gives 0 beyond
    :math:`z \approx 36.7`); for a soft label the only cancellation is the inherent one at
    :math:`\sigma(z) \approx y`.

    Accuracy: ≤ 4 ULP where well-conditioned; otherwise relative error ≤ 4 ε κ with
    :math:`\kappa = (|z| \sigma(z)\sigma(-z) + y) / |\sigma(z) - y|`.

    Examples
    --------
    >>> print(f"{float(binary_cross_entropy_with_logits_grad(40.0, 1.0)):.6e}")
    -4.248354e-18
    """
    (grad,) = _bce_with_logits(z, y, want_loss=False, want_grad=True)
    return grad


def _bce_with_logits(
    z: npt.ArrayLike, y: npt.ArrayLike, *, want_loss: bool, want_grad: bool, check: bool = True
) -> tuple[np.ndarray, ...]:
    """Validated loss and/or gradient of BCE with logits in one pass over the data.

    ``check=False`` skips the in-pass value checks (used by the benchmark to price them).
    """
    z, y, dtype = _pair(z, "z", y, "y")
    kernel = functools.partial(
        _bce_logits_kernel, want_loss=want_loss, want_grad=want_grad, check=check
    )
    try:
        return _map_elementwise(kernel, (z, y), int(want_loss) + int(want_grad), dtype)
    except _Invalid:
        check_finite(z, "z")
        check_unit_interval(y, "y")
        raise


def _bce_with_logits_value_and_grad(
    z: npt.ArrayLike, y: npt.ArrayLike, *, check: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Loss and gradient of BCE with logits, sharing ``e^{-|z|}`` (validated unless told)."""
    loss, grad = _bce_with_logits(z, y, want_loss=True, want_grad=True, check=check)
    return loss, grad


def _bce_logits_kernel(
    z: np.ndarray,
    y: np.ndarray,
    *,
    want_loss: bool,
    want_grad: bool,
    check: bool,
    out: tuple[np.ndarray, ...],
) -> None:
    n = out[0].shape[0]
    a, e, u, d, t = _scratch(n, 5)
    np.abs(z, out=a)
    # max |z| is finite iff z has no NaN/inf; y ∈ [0, 1] iff min >= 0 and max <= 1 (NaN fails)
    if check and not (np.isfinite(a.max()) and y.min() >= 0.0 and y.max() <= 1.0):
        raise _Invalid
    np.negative(a, out=e)
    np.exp(e, out=e)  # e = e^{−|z|} ∈ (0, 1]
    # the two branches z >= 0 / z < 0 are selected arithmetically through u = [z >= 0]
    # (np.where would mispredict a branch per element on random signs):
    # d = u − y is 1 − y for z >= 0 and −y (exactly) for z < 0
    np.greater_equal(z, 0.0, out=u, casting="unsafe")
    np.subtract(u, y, out=d)
    outs = iter(out)
    if want_loss:
        loss = next(outs)
        # (1 − y) softplus(z) + y softplus(−z) = log1p(e^{−|z|}) + |d| |z|, both terms >= 0
        np.abs(d, out=t)
        np.multiply(t, a, out=t)
        np.log1p(e, out=loss)
        np.add(loss, t, out=loss)
    if want_grad:
        grad = next(outs)
        # σ(−|z|) = e^{−|z|} / (1 + e^{−|z|})
        np.add(e, 1.0, out=t)
        np.divide(e, t, out=e)
        # (1 − y) σ(z) − y σ(−z) = (1 − y) − σ(−|z|) for z >= 0, σ(−|z|) − y for z < 0:
        # d − (2u − 1) σ(−|z|), one rounding
        np.multiply(u, 2.0, out=t)
        np.subtract(t, 1.0, out=t)
        np.multiply(t, e, out=t)
        np.subtract(d, t, out=grad)


# ----------------------------------------------------------------------------------------
# Softmax cross-entropy and label smoothing
# ----------------------------------------------------------------------------------------


def softmax_cross_entropy(
    logits: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    axis: int = -1,
    temperature: float = 1.0,
    label_smoothing: float = 0.0,
) -> np.ndarray:
    r"""Softmax cross-entropy, one loss per example.

    .. math::

        L(z, y) = -\sum_{k=1}^{K} y_k \log \operatorname{softmax}(z / T)_k
        = \sum_k y_k \frac{m - z_k}{T} + \log \sum_k e^{(z_k - m)/T}, \quad m = \max_k z_k,

    where ``y`` is the one-hot vector of an integer class index or a probability vector,
    replaced by :math:`y^\varepsilon = (1 - \varepsilon) y + \varepsilon / K` when
    ``label_smoothing`` is :math:`\varepsilon > 0` (see :func:`smooth_labels`).  A ``-inf``
    logit masks its class: the loss is ``+inf`` if the target gives that class weight
    (``0 · ∞ = 0`` otherwise).

    Parameters
    ----------
    logits : array_like, shape ``[..., K, ...]``
        Finite or ``-inf``; each example needs a finite logit.
    target : array_like
        Integer class indices in ``[0, K)``, shape ``logits.shape`` without ``axis``
        (broadcastable), or floating probability vectors of the shape of ``logits``
        (broadcastable), each summing to 1 within ``4 max(K, 4) eps``.
    axis : int, default -1
        The class axis of ``logits``.
    temperature : float, default 1
        ``T > 0``, finite; the logits are divided by it.
    label_smoothing : float, default 0
        :math:`\varepsilon \in [0, 1]`.

    Returns
    -------
    numpy.ndarray
        One loss ``>= 0`` per example: ``logits.shape`` without ``axis`` (broadcast with
        the target's); the dtype of ``logits`` (common float dtype for probability targets).

    Raises
    ------
    TypeError
        ``logits`` or ``target`` is complex, boolean, object or string; ``axis``,
        ``temperature`` or ``label_smoothing`` has the wrong type.
    ValueError
        Empty input; ``logits`` with NaN, ``+inf`` or an example of only ``-inf``; class
        indices out of range; probability targets negative, non-finite or not summing to 1;
        shapes that do not broadcast; ``temperature`` not finite and positive;
        ``label_smoothing`` outside ``[0, 1]``; ``axis`` out of range.

    Notes
    -----
    Stable rewrite: with :math:`x_k = (z_k - m)/T \le 0` and
    :math:`s' = \sum_{k \ne k^*} e^{x_k}` (the argmax :math:`k^*` contributes an exact 1),
    :math:`L = \sum_k y_k (-x_k) + \operatorname{log1p}(s')`: a sum of non-negative terms.
    Never forming ``logsumexp(z) − z_t`` avoids its cancellation: a confident correct
    prediction has loss :math:`\approx s' < 10^{-16}` (every peer returns 0), and logits
    ``[0, 0, 0] + 1e16`` give exactly :math:`\log 3`.

    Accuracy: ≤ 4 ULP where well-conditioned; otherwise relative error ≤ 4 ε κ with
    :math:`\kappa = \sum_k |z_k| |\operatorname{softmax}_k - y_k| / (T L)`.

    Examples
    --------
    >>> print(f"{float(softmax_cross_entropy([0.0, 0.0, 0.0] + np.float64(1e16), 2)):.6f}")
    1.098612
    """
    loss, _ = _softmax_cross_entropy(
        logits,
        target,
        axis=axis,
        temperature=temperature,
        label_smoothing=label_smoothing,
        want_loss=True,
        want_grad=False,
    )
    return loss


def softmax_cross_entropy_grad(
    logits: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    axis: int = -1,
    temperature: float = 1.0,
    label_smoothing: float = 0.0,
) -> np.ndarray:
    r"""Gradient of :func:`softmax_cross_entropy` with respect to the logits.

    .. math::

        \frac{\partial L}{\partial z_k} = \frac{\operatorname{softmax}(z / T)_k - y_k}{T}

    (with :math:`y^\varepsilon` in place of :math:`y` under label smoothing).

    Parameters
    ----------
    logits, target, axis, temperature, label_smoothing
        As :func:`softmax_cross_entropy`.

    Returns
    -------
    numpy.ndarray
        The shape of ``logits`` (broadcast with the target's); dtype as
        :func:`softmax_cross_entropy`.

    Raises
    ------
    TypeError
        As :func:`softmax_cross_entropy`.
    ValueError
        As :func:`softmax_cross_entropy`.

    Notes
    -----
    Stable rewrite: :math:`\operatorname{softmax}_k = e^{x_k}/(1 + s')` as in
    :func:`~numeric.softmax`; where the argmax holds more than half the mass the
    argmax entry is :math:`(1 - y^\varepsilon_{k^*}) - s'/(1 + s')` instead of
    :math:`1/(1 + s') - y_{k^*}`, which keeps the gradient :math:`-s'` of a confident
    correct prediction (0 from every peer when :math:`s' < \epsilon`).

    Accuracy: ≤ 4 ULP where well-conditioned; otherwise relative error ≤ 4 ε κ with
    :math:`\kappa_k = \bigl(\sum_j |z_j| \operatorname{softmax}_k |\delta_{jk} -
    \operatorname{softmax}_j| / T + |y_k|\bigr) / |\operatorname{softmax}_k - y_k|`.

    Examples
    --------
    >>> print(softmax_cross_entropy_grad([[40.0, 0.0]], [0]))
    [[-4.24835426e-18  4.24835426e-18]]
    """
    _, grad = _softmax_cross_entropy(
        logits,
        target,
        axis=axis,
        temperature=temperature,
        label_smoothing=label_smoothing,
        want_loss=False,
        want_grad=True,
    )
    return grad


def _softmax_cross_entropy_value_and_grad(
    logits: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    axis: int = -1,
    temperature: float = 1.0,
    label_smoothing: float = 0.0,
    check: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Loss and gradient of softmax cross-entropy in one pass (validated unless told)."""
    loss, grad = _softmax_cross_entropy(
        logits,
        target,
        axis=axis,
        temperature=temperature,
        label_smoothing=label_smoothing,
        want_loss=True,
        want_grad=True,
        check=check,
    )
    return loss, grad


def _softmax_cross_entropy(
    logits: npt.ArrayLike,
    target: npt.ArrayLike,
    *,
    axis: int,
    temperature: float,
    label_smoothing: float,
    want_loss: bool,
    want_grad: bool,
    check: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Validate, bring the class axis last, and run the label or the probability kernel."""
    z = as_float(logits, "logits")
    axis = check_axis(z, axis, "logits")
    t = _check_temperature(temperature)
    eps = _check_label_smoothing(label_smoothing, "label_smoothing")
    k = z.shape[axis]
    if _is_integer(target):
        labels = as_labels(target, k, "target") if check else np.asarray(target, np.intp)
        z_last = np.moveaxis(z, axis, -1)
        batch = _broadcast_shapes(
            ("logits without its class axis", z_last.shape[:-1]), ("target", labels.shape)
        )
        z2, _ = _to_rows(_broadcast_view(z_last, (*batch, k)), -1)
        extra = np.broadcast_to(labels, batch).reshape(-1)
        dtype = z.dtype
        kernel = _ce_labels_kernel
        # the label kernel needs one block-sized array besides the logits (the gradient
        # or a scratch buffer): blocks of 2 chunks still fit a 2 MiB L2 together with
        # the logits, and halve the per-block overhead of its dozen small NumPy calls
        chunk = _CE_LABELS_CHUNK
    else:
        y = as_float(target, "target")
        try:
            shape = _broadcast_shapes(("logits", z.shape), ("target", y.shape))
        except ValueError:
            _explain_float_labels(y, z, axis)
            raise
        ax = axis + len(shape) - z.ndim  # the class axis in the broadcast shape
        if shape[ax] != k:
            raise ValueError(
                f"shape mismatch: target has {shape[ax]} classes along axis {ax}, "
                f"logits has {k}"
            )
        y_in = y
        y = np.broadcast_to(y, shape)
        if check:
            try:
                check_probabilities(y, "target", axis=ax, tol_dtype=tolerance_dtype(target, y))
            except ValueError:
                _explain_float_labels(y_in, z, axis)
                raise
        z2, batch = _to_rows(_broadcast_view(z, shape), ax)
        extra, _ = _to_rows(y, ax)
        dtype = common_dtype(z, y)
        kernel = _ce_probs_kernel
        if tolerance_dtype(target, y) == np.float16:
            kernel = functools.partial(kernel, total=True)
        chunk = _CHUNK
    kernel = functools.partial(
        kernel, temperature=t, eps=eps, want_loss=want_loss, want_grad=want_grad, check=check
    )
    tails = ((),) * want_loss + ((k,),) * want_grad
    try:
        outs = list(_map_rows(kernel, z2, (extra,), tails, dtype, chunk))
    except _Invalid:
        _explain_logits(z, "logits", axis)
        raise
    loss = outs.pop(0).reshape(batch) if want_loss else None
    # the class axis of the gradient: where it was in logits, counted from the end
    grad = _from_rows(outs.pop(0), batch, axis - z.ndim) if want_grad else None
    return loss, grad


_CE_LABELS_CHUNK = 2 * _CHUNK  # elements per block of rows for _ce_labels_kernel


def _ce_labels_kernel(
    zb: np.ndarray,
    tb: np.ndarray,
    *,
    temperature: float,
    eps: float,
    want_loss: bool,
    want_grad: bool,
    check: bool,
    out: tuple[np.ndarray, ...],
) -> None:
    outs = list(out)
    loss = outs.pop(0) if want_loss else None
    x = outs.pop(0) if want_grad else _scratch(zb.shape, 1)[0]
    k = zb.shape[1]
    rows, idx, m = _shifted_logits(zb, temperature, x, check=check)
    xt = x[rows, tb]  # (z_t − m)/T <= 0
    if want_loss:
        # (1 − ε)(z_t − m)/T, redone in halves where (z_t − m)/T overflowed but the
        # weighted term need not
        on_term = _weighted_shift(zb[rows, tb], m, xt, 1.0 - eps, temperature)
    uniform = _uniform_term(x, eps, zb, m, temperature) if want_loss and eps > 0.0 else None
    s = _exp_rest(x, rows, idx, x)
    if want_loss:
        l1 = np.log1p(s)
        # −log softmax_t = (m − z_t)/T + log1p(s'): lse − z_t is never formed
        if eps == 0.0:
            np.subtract(l1, on_term, out=loss)
        else:
            # y^ε = (1 − ε) onehot + ε/K: (1 − ε)(m − z_t)/T + (ε/K) Σ (m − z_k)/T + log1p(s')
            loss[...] = l1 + uniform
            if eps < 1.0:
                loss -= on_term
    if want_grad:
        denom = 1.0 + s
        r = 1.0 / denom
        # softmax_k = e^{x_k} · 1/(1 + s') (a multiplication costs half a division per
        # element for one more rounding), exactly 1/(1 + s') at the argmax
        np.multiply(x, r[:, None], out=x)
        x[rows, idx] = r
        on = (1.0 - eps) + eps / k  # y^ε at the target class
        pt = x[rows, tb]
        if eps > 0.0:
            x -= eps / k
        # at the argmax p_t − y_t = (1 − y_t) − s'/(1 + s'), with 1 − y_t = ε (K − 1)/K
        gt = np.where(tb == idx, eps * (k - 1) / k - s / denom, pt - on)
        x[rows, tb] = gt
        if temperature != 1.0:
            np.divide(x, temperature, out=x)


def _ce_probs_kernel(
    zb: np.ndarray,
    yb: np.ndarray,
    *,
    temperature: float,
    eps: float,
    want_loss: bool,
    want_grad: bool,
    check: bool,
    out: tuple[np.ndarray, ...],
    total: bool = False,
) -> None:
    outs = list(out)
    loss = outs.pop(0) if want_loss else None
    # total: the targets sum to 1 only within float16's tolerance (1e-3), so their sum
    # S = Σ_k y_k (exact in float64) enters: L = Σ y (m − z)/T + S_ε log1p(s'),
    # ∂L/∂z = (S_ε p − y_ε)/T, S_ε = (1 − ε) S + ε; elsewhere S = 1 within a few eps
    s_eps = (1.0 - eps) * yb.sum(axis=1) + eps if total else None
    x, prod = _scratch(zb.shape, 2)
    if want_grad:
        x = outs.pop(0)
    k = zb.shape[1]
    rows, idx, m = _shifted_logits(zb, temperature, x, check=check)
    if want_loss:
        # Σ_k y_k (m − z_k)/T, each term >= 0; a class the target gives no weight adds 0
        # even when its logit is −inf (0 · ∞ = 0)
        prod[...] = 0.0
        np.multiply(yb, x, out=prod, where=yb != 0.0)
        cross = -prod.sum(axis=1)
        _redo_cross(cross, zb, yb, x, m, temperature)
        uniform = _uniform_term(x, eps, zb, m, temperature) if eps > 0.0 else None
    s = _exp_rest(x, rows, idx, x)
    if want_loss:
        l1 = np.log1p(s) if s_eps is None else np.log1p(s) * s_eps
        if eps == 0.0:
            np.add(cross, l1, out=loss)
        else:
            loss[...] = l1 + uniform
            if eps < 1.0:
                loss += (1.0 - eps) * cross
    if want_grad and s_eps is not None:
        _ce_probs_grad_total(x, yb, s, s_eps, rows, idx, eps, temperature)
    elif want_grad:
        denom = 1.0 + s
        np.divide(x, denom[:, None], out=x)
        x[rows, idx] = 1.0 / denom
        y_star = yb[rows, idx]
        if eps > 0.0:
            x -= (1.0 - eps) * yb + eps / k
        else:
            x -= yb
        # where the argmax holds more than half the mass:
        # p* − y*_ε = (1 − y*_ε) − s'/(1 + s'), 1 − y*_ε = (1 − ε)(1 − y*) + ε (K − 1)/K
        confident = s < 1.0
        one_minus = (1.0 - eps) * (1.0 - y_star) + eps * (k - 1) / k
        x[rows, idx] = np.where(confident, one_minus - s / denom, x[rows, idx])
        if temperature != 1.0:
            np.divide(x, temperature, out=x)


def _ce_probs_grad_total(x, yb, s, s_eps, rows, idx, eps, temperature) -> None:
    """``(S_ε p − y_ε)/T`` in place of ``x = e^{(z − m)/T}`` (targets not summing to 1)."""
    k = x.shape[1]
    denom = 1.0 + s
    np.divide(x, denom[:, None], out=x)
    x[rows, idx] = 1.0 / denom
    x *= s_eps[:, None]
    x -= (1.0 - eps) * yb + eps / k
    # at a confident argmax: S_ε p* − y*_ε = (S_ε − y*_ε) − S_ε s'/(1 + s'), with
    # S_ε − y*_ε = (1 − ε)(S − y*) + ε (K − 1)/K
    y_star = yb[rows, idx]
    rest = (1.0 - eps) * (yb.sum(axis=1) - y_star) + eps * (k - 1) / k
    confident = s < 1.0
    x[rows, idx] = np.where(confident, rest - s_eps * (s / denom), x[rows, idx])
    if temperature != 1.0:
        np.divide(x, temperature, out=x)


def _uniform_term(
    x: np.ndarray, eps: float, zb: np.ndarray, m: np.ndarray, temperature: float
) -> np.ndarray:
    """``(ε/K) Σ_k (m − z_k)/T = −(ε/K) Σ_k x_k >= 0`` per row, ``+inf`` for a masked class.

    Where the plain sum overflows although the scaled one need not, the row is summed
    again after scaling; where an ``x_k`` itself overflowed (logits ±1e308 with ``T <= 1``)
    the row is summed in halves, ``2 Σ (ε/K)((z_k − m)/2)/T``.
    """
    w = eps / x.shape[1]
    # a sum beyond the float range is redone below (or is honestly +inf)
    with np.errstate(over="ignore"):
        total = -x.sum(axis=1)
    redo = np.isinf(total) & np.isfinite(x).all(axis=1)
    total *= w
    if redo.any():
        total[redo] = -(x[redo] * w).sum(axis=1)
    halves = np.isinf(total)
    if halves.any():
        halves[halves] = np.isfinite(zb[halves]).all(axis=1)
    if halves.any():
        h = _half_shift(zb[halves], m[halves])
        with np.errstate(over="ignore"):  # beyond the float range even so: honestly +inf
            total[halves] = -2.0 * ((h * w) / temperature).sum(axis=1)
    return total


def _redo_cross(
    cross: np.ndarray, zb: np.ndarray, yb: np.ndarray, x: np.ndarray, m: np.ndarray, t: float
) -> None:
    """``cross = Σ_k y_k (m − z_k)/T`` in halves for rows where a weighted ``x_k`` overflowed.

    ``(z_k − m)/T`` beyond the float range is −inf (its softmax weight 0 is right), but
    ``y_k (m − z_k)/T`` may be finite: ``2 Σ_k (y_k (z_k − m)/2)/T`` (halving is exact).
    """
    suspect = np.isinf(cross)  # an overflowed weighted x_k makes its row's sum +inf
    if not suspect.any():
        return
    over = np.zeros_like(suspect)
    over[suspect] = (
        np.isneginf(x[suspect]) & np.isfinite(zb[suspect]) & (yb[suspect] != 0.0)
    ).any(axis=1)
    if not over.any():
        return
    h = _half_shift(zb[over], m[over])
    y = yb[over]
    with np.errstate(over="ignore", invalid="ignore"):  # honestly +inf beyond the range
        terms = np.where(y != 0.0, (y * h) / t, 0.0)
        cross[over] = -2.0 * terms.sum(axis=1)


def _weighted_shift(
    zt: np.ndarray, m: np.ndarray, xt: np.ndarray, weight: float, temperature: float
) -> np.ndarray:
    """``weight · xt`` with ``xt = (z_t − m)/T``, in halves where ``xt`` overflowed."""
    if weight == 0.0:
        return np.zeros_like(xt)
    out = weight * xt if weight != 1.0 else xt.copy()
    over = np.isneginf(xt) & np.isfinite(zt)
    if over.any():
        with np.errstate(over="ignore"):  # honestly −inf beyond the range
            out[over] = 2.0 * ((weight * (0.5 * zt[over] - 0.5 * m[over])) / temperature)
    return out


def smooth_labels(
    target: npt.ArrayLike,
    epsilon: float,
    *,
    num_classes: int | None = None,
    axis: int = -1,
) -> np.ndarray:
    r"""Label smoothing: mix the target with the uniform distribution.

    .. math::

        y^\varepsilon_k = (1 - \varepsilon)\, y_k + \frac{\varepsilon}{K}.

    Parameters
    ----------
    target : array_like
        Integer class indices in ``[0, num_classes)`` (one-hot encoded along ``axis`` of
        the result), or floating probability vectors along ``axis``.
    epsilon : float
        :math:`\varepsilon \in [0, 1]`.
    num_classes : int, optional
        ``K``; required for class indices, and if given for probability vectors it must
        equal their length along ``axis``.  For class indices ``K`` must exceed the largest
        label; above ``2**20`` classes it may be at most twice the largest label + 1, and
        the result may hold at most ``2**28`` values (2 GiB): larger requests raise
        ``ValueError`` rather than allocate.
    axis : int, default -1
        The class axis of the result.

    Returns
    -------
    numpy.ndarray
        Probability vectors along ``axis``: float64 for class indices, the dtype of
        ``target`` otherwise.

    Raises
    ------
    TypeError
        ``target`` is complex, boolean, object, string or masked, or floating where
        ``num_classes`` asks for class labels; ``epsilon``, ``num_classes`` or ``axis`` has
        the wrong type.
    ValueError
        Empty ``target``; indices out of range; probability vectors negative, non-finite or
        not summing to 1; ``epsilon`` outside ``[0, 1]``; ``num_classes`` missing, below 1,
        inconsistent or too large (see above); ``axis`` out of range.

    Notes
    -----
    Stable rewrite: none needed — both terms are non-negative.  The smoothed on-class
    weight is :math:`(1 - \varepsilon) + \varepsilon/K` rounded once.

    Accuracy: ≤ 4 ULP (each entry is at most three correctly rounded operations).

    Examples
    --------
    >>> smooth_labels([0, 2], 0.3, num_classes=3)
    array([[0.8, 0.1, 0.1],
           [0.1, 0.1, 0.8]])
    """
    eps = _check_label_smoothing(epsilon, "epsilon")
    if _is_integer(target):
        if num_classes is None:
            raise ValueError("num_classes: required when target holds integer class indices")
        k = _check_num_classes(num_classes)
        labels = as_labels(target, k, "target")
        _check_one_hot_size(labels, k)
        ndim = labels.ndim + 1
        if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
            raise TypeError(f"axis: must be an int, got {type(axis).__name__}")
        if not -ndim <= axis < ndim:
            raise ValueError(f"axis: {axis} is out of range for a result with {ndim} dimension(s)")
        out = np.full((*labels.shape, k), eps / k)
        # the on-class weight (1 − ε) + ε/K, rounded once
        np.put_along_axis(out, labels[..., None], (1.0 - eps) + eps / k, axis=-1)
        return np.moveaxis(out, -1, int(axis))
    y = as_float(target, "target")
    axis = check_axis(y, axis, "target")
    k = y.shape[axis]
    if num_classes is not None and _check_num_classes(num_classes) != k:
        if k == 1 or (y.ndim == 1 and np.all(y == np.round(y))):
            raise TypeError(
                f"target: class labels must be integers (got dtype {y.dtype}); floating "
                "targets are probability vectors along axis"
            )
        raise ValueError(
            f"num_classes: {num_classes} does not match target's length {k} along axis {axis}"
        )
    check_probabilities(y, "target", axis=axis, tol_dtype=tolerance_dtype(target, y))
    out = (1.0 - eps) * y.astype(np.float64) + eps / k
    return out.astype(y.dtype, copy=False)


# ----------------------------------------------------------------------------------------
# Knowledge distillation
# ----------------------------------------------------------------------------------------


def distillation_loss(
    student_logits: npt.ArrayLike,
    teacher_logits: npt.ArrayLike,
    *,
    temperature: float,
    axis: int = -1,
) -> np.ndarray:
    r"""Knowledge-distillation loss (Hinton et al.), one loss per example.

    .. math::

        L(s, t) = T^2\, D_{\mathrm{KL}}\bigl(q \,\|\, p\bigr)
        = T^2 \sum_k q_k \log\frac{q_k}{p_k}, \qquad
        q = \operatorname{softmax}(t / T),\quad p = \operatorname{softmax}(s / T),

    with :math:`0 \log(0/p) = 0` (a class the teacher masks with ``-inf``) and
    :math:`L = +\infty` where the student masks a class the teacher does not.

    Parameters
    ----------
    student_logits, teacher_logits : array_like, shape ``[..., K, ...]``
        Finite or ``-inf``, broadcastable; each example needs a finite logit.
    temperature : float
        ``T > 0``, finite (keyword-only, no default).
    axis : int, default -1
        The class axis.

    Returns
    -------
    numpy.ndarray
        One loss ``>= 0`` per example (broadcast shape without ``axis``), common float dtype.

    Raises
    ------
    TypeError
        A logit array is complex, boolean, object or string; ``temperature`` or ``axis``
        has the wrong type.
    ValueError
        Empty input; logits with NaN, ``+inf`` or an example of only ``-inf``; shapes that
        do not broadcast; ``temperature`` not finite and positive; ``axis`` out of range.

    Notes
    -----
    Stable rewrite: with :math:`u_k = \log(q_k/p_k)`,
    :math:`D_{\mathrm{KL}} = \sum_k p_k G(u_k)`, :math:`G(u) = 1 - (1 - u) e^{u} \ge 0`
    (because :math:`\sum_k p_k (e^{u_k} - 1) = 0`): non-negative terms, so a small
    divergence between close distributions is not the difference of two large sums.
    :math:`p G(u)` is evaluated as :math:`p + q(u - 1)` for :math:`u \ge 1`, by its Taylor
    series (positive coefficients) for :math:`0 \le u < 1`, as :math:`q\,(e^{v} - 1 - v)`
    with :math:`v = -u` by its positive series for :math:`0 < v < 2` and as
    :math:`p - q(1 + v)` for :math:`v \ge 2`.  :math:`u_k = \rho_k - D` with
    :math:`\rho = (t - \max t)/T - (s - \max s)/T` and :math:`D = \log\sum_k p_k
    e^{\rho_k}`, computed as :math:`c + \operatorname{log1p}(\sum_k p_k
    \operatorname{expm1}(\rho_k - c))` around the estimate :math:`c` = difference of the two
    logsumexps, so that :math:`u` keeps its digits where :math:`q \approx p`.  Each term is
    formed in units of the loss, :math:`T^2 p G(u)` from :math:`T u`, never as
    :math:`T^2 \cdot \mathrm{KL}` (``T²`` overflows beyond ``T ≈ 1.3e154`` and is subnormal
    below ``1.5e-154``); where ``(s − max s)/T`` overflows (tiny ``T``) ``T u`` is formed
    from the logits.  Where every logit spread is at most :math:`T\,2^{-60}` the
    large-temperature limit :math:`L = \sum_k c_k^2 / (2K)`, :math:`c = r - \bar r`,
    :math:`r = (t - \max t) - (s - \max s)`, holds to a relative :math:`2^{-60}` and is
    used (``(s − max s)/T`` would be subnormal there).

    Accuracy: ≤ 4 ULP where well-conditioned; otherwise relative error ≤ 4 ε κ with
    :math:`\kappa = \sum_k (|s_k| |\partial L/\partial s_k| + |t_k| |\partial L/\partial
    t_k|) / L`, for every finite ``T > 0`` (``5e-324`` to ``1.8e308``).

    Examples
    --------
    >>> print(f"{float(distillation_loss([1e-5, 0.0], [1e-5 + 1e-12, 0.0], temperature=1.0)):.6e}")
    1.250000e-25
    """
    loss, _ = _distillation(student_logits, teacher_logits, temperature, axis, True, False)
    return loss


def distillation_loss_grad(
    student_logits: npt.ArrayLike,
    teacher_logits: npt.ArrayLike,
    *,
    temperature: float,
    axis: int = -1,
) -> np.ndarray:
    r"""Gradient of :func:`distillation_loss` with respect to the student logits.

    .. math::

        \frac{\partial L}{\partial s_k} = T\,\bigl(p_k - q_k\bigr), \qquad
        p = \operatorname{softmax}(s / T),\ q = \operatorname{softmax}(t / T).

    Parameters
    ----------
    student_logits, teacher_logits, temperature, axis
        As :func:`distillation_loss`.

    Returns
    -------
    numpy.ndarray
        Broadcast shape of the logits, common float dtype.

    Raises
    ------
    TypeError
        As :func:`distillation_loss`.
    ValueError
        As :func:`distillation_loss`.

    Notes
    -----
    Stable rewrite: :math:`p_k - q_k = -p_k \operatorname{expm1}(u_k)` with
    :math:`u_k = \log(q_k / p_k)` for :math:`|u_k| < 1`, the plain difference elsewhere
    (no cancellation beyond a factor :math:`e/(e - 1)`); :math:`u` as for the loss.  In the
    large-temperature limit (logit spreads ≤ :math:`T\,2^{-60}`) it is
    :math:`-(r_k - \bar r)/K` with :math:`r` as for the loss.

    Accuracy: ≤ 4 ULP where well-conditioned; otherwise relative error ≤ 4 ε κ with
    :math:`\kappa_k = \sum_j (|s_j| p_k |\delta_{jk} - p_j| + |t_j| q_k |\delta_{jk} - q_j|)
    / (T |p_k - q_k|)`.

    Examples
    --------
    >>> print(distillation_loss_grad([0.0, 0.0], [0.0, 0.0], temperature=2.0))
    [0. 0.]
    """
    _, grad = _distillation(student_logits, teacher_logits, temperature, axis, False, True)
    return grad


def _distillation(
    student_logits: npt.ArrayLike,
    teacher_logits: npt.ArrayLike,
    temperature: float,
    axis: int,
    want_loss: bool,
    want_grad: bool,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Validate, broadcast, bring the class axis last and run the distillation kernel."""
    s = as_float(student_logits, "student_logits")
    t = as_float(teacher_logits, "teacher_logits")
    temperature = _check_temperature(temperature)
    shape = _broadcast_shapes(("student_logits", s.shape), ("teacher_logits", t.shape))
    # only the broadcast shape matters for the axis check: a zero-memory stand-in
    axis = check_axis(np.broadcast_to(np.empty((), np.bool_), shape), axis, "the logits")
    k = shape[axis]
    s2, batch = _to_rows(_broadcast_view(s, shape), axis)
    t2, _ = _to_rows(_broadcast_view(t, shape), axis)
    tails = ((),) * want_loss + ((k,),) * want_grad
    kernel = functools.partial(
        _distill_kernel, temperature=temperature, want_loss=want_loss, want_grad=want_grad
    )
    try:
        outs = list(_map_rows(kernel, s2, (t2,), tails, common_dtype(s, t)))
    except _Invalid:
        _explain_logits(np.broadcast_to(s, shape), "student_logits", axis)
        _explain_logits(np.broadcast_to(t, shape), "teacher_logits", axis)
        raise
    loss = outs.pop(0).reshape(batch) if want_loss else None
    grad = _from_rows(outs.pop(0), batch, axis) if want_grad else None
    return loss, grad


# ----------------------------------------------------------------------------------------
# Mean squared error
# ----------------------------------------------------------------------------------------


def mse(
    prediction: npt.ArrayLike, target: npt.ArrayLike, *, axis: int | None = None
) -> np.ndarray:
    r"""Mean squared error over ``axis`` (all elements by default, like torch's ``mean``).

    .. math::

        \operatorname{MSE}(\hat y, y) = \frac{1}{n} \sum_{i=1}^{n} (\hat y_i - y_i)^2,

    ``n`` being the number of elements averaged: the whole broadcast array for
    ``axis=None``, its length along ``axis`` otherwise.

    Parameters
    ----------
    prediction, target : array_like
        Finite real numbers, broadcastable.
    axis : int or None, default None
        The axis averaged over; ``None`` averages everything (a 0-d result).

    Returns
    -------
    numpy.ndarray
        ``>= 0``; the broadcast shape without ``axis`` (0-d for ``None``); common float dtype.

    Raises
    ------
    TypeError
        An argument is complex, boolean, object or string, or ``axis`` is not an int.
    ValueError
        An argument is empty or not finite, the shapes do not broadcast, or ``axis`` is out
        of range.

    Notes
    -----
    Stable rewrite: none is needed for the sum of squares (non-negative terms, pairwise
    summation along a contiguous axis); if :math:`(\hat y - y)^2` overflows while the mean
    does not, the mean is recomputed as :math:`a \cdot (a \cdot \overline{(d/a)^2})` with
    :math:`a = \max|d|`.

    Accuracy: ≤ 4 ULP where well-conditioned; otherwise relative error ≤ 4 ε κ with
    :math:`\kappa = 2 \sum_i |d_i| (|\hat y_i| + |y_i|) / \sum_i d_i^2`.

    Examples
    --------
    >>> mse([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    array(1.33333333)
    """
    d, n, dtype = _mse_diff(prediction, target, axis)
    with np.errstate(over="ignore"):  # an overflowing square is redone with scaling below
        mean = (d * d).sum(axis=-1) / n
    if not np.isfinite(mean).all():
        # the squares overflowed, perhaps not their mean: mean d² = a (a mean (d/a)²), a = max|d|
        a = np.abs(d).max(axis=-1, keepdims=True)
        a = np.where(a > 0.0, a, 1.0)
        scaled = ((d / a) ** 2).sum(axis=-1) / n
        a = a[..., 0]
        with np.errstate(over="ignore"):  # a mean beyond the float range is +inf, correctly
            mean = a * (a * scaled)
    return _round_to(mean, dtype)


def mse_grad(
    prediction: npt.ArrayLike, target: npt.ArrayLike, *, axis: int | None = None
) -> np.ndarray:
    r"""Gradient of :func:`mse` with respect to ``prediction``.

    .. math::

        \frac{\partial \operatorname{MSE}}{\partial \hat y_i} = \frac{2 (\hat y_i - y_i)}{n}

    with the same ``n`` as :func:`mse` (all elements for ``axis=None``).

    Parameters
    ----------
    prediction, target, axis
        As :func:`mse`.

    Returns
    -------
    numpy.ndarray
        The broadcast shape of the inputs, common float dtype.

    Raises
    ------
    TypeError
        As :func:`mse`.
    ValueError
        As :func:`mse`.

    Notes
    -----
    Stable rewrite: :math:`2 (d / n)` — the doubling is exact, so one rounding (and no
    spurious overflow of :math:`2d`).

    Accuracy: ≤ 4 ULP where well-conditioned; otherwise relative error ≤ 4 ε κ with
    :math:`\kappa = (|\hat y_i| + |y_i|) / |\hat y_i - y_i|`.

    Examples
    --------
    >>> mse_grad([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    array([ 0.        ,  0.        , -1.33333333])
    """
    d, n, dtype = _mse_diff(prediction, target, axis)
    g = d / n
    g *= 2.0  # exact
    shape = _broadcast_shapes(("prediction", np.shape(prediction)), ("target", np.shape(target)))
    if axis is None:
        return _round_to(g.reshape(shape), dtype)
    return _round_to(np.moveaxis(g, -1, axis), dtype)


def _mse_diff(
    prediction: npt.ArrayLike, target: npt.ArrayLike, axis: int | None
) -> tuple[np.ndarray, int, np.dtype]:
    """Validated ``d = prediction − target`` in float64 with the averaged axis last (and
    contiguous, for pairwise summation), the count ``n`` averaged over, and the dtype."""
    p, t, dtype = _pair(prediction, "prediction", target, "target")
    check_finite(p, "prediction")
    check_finite(t, "target")
    d = np.subtract(p, t, dtype=np.float64)
    if axis is None:
        d = d.reshape(-1)
    else:
        d = np.ascontiguousarray(np.moveaxis(d, check_axis(d, axis, "prediction"), -1))
    return d, d.shape[-1], dtype


# ----------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------


def _is_integer(a: npt.ArrayLike) -> bool:
    """True for integer class indices (an integer dtype, Python ints); bool is not."""
    if isinstance(a, np.ma.MaskedArray):
        return False  # as_float refuses it, naming the argument
    try:
        return np.asarray(a).dtype.kind in "iu"
    except (ValueError, TypeError, RuntimeError):  # ragged input, a tensor needing grad:
        return False  # as_float explains it


def _pair(
    a: npt.ArrayLike, a_name: str, b: npt.ArrayLike, b_name: str
) -> tuple[np.ndarray, np.ndarray, np.dtype]:
    """Both arguments as float arrays with broadcastable shapes, and the result dtype.

    Integer labels and Python scalars in ``b`` take ``a``'s dtype rather than promoting
    float32 to float64.
    """
    a = as_float(a, a_name)
    weak = _is_integer(b) or (isinstance(b, int | float) and not isinstance(b, bool))
    b = as_float(b, b_name, dtype=a.dtype if weak else None)
    broadcast(**{a_name: a, b_name: b})
    return a, b, common_dtype(a, b)


def _broadcast_view(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``np.broadcast_to(a, shape)``, but ``a`` itself when it has that shape already.

    A broadcast view is read-only, and ``np.argmax`` copies a read-only array before it
    searches it: the row kernels would copy every block of logits once more.
    """
    return a if a.shape == shape else np.broadcast_to(a, shape)


def _broadcast_shapes(*named: tuple[str, tuple[int, ...]]) -> tuple[int, ...]:
    """The broadcast shape, or a ValueError naming every argument and its shape."""
    try:
        return np.broadcast_shapes(*(shape for _, shape in named))
    except ValueError:
        shapes = ", ".join(f"{name} {shape}" for name, shape in named)
        raise ValueError(f"shape mismatch: cannot broadcast {shapes}") from None


def _explain_float_labels(y: np.ndarray, z: np.ndarray, axis: int) -> None:
    """Raise TypeError where a floating target that failed as probabilities looks like labels.

    It does when it has one entry per example (the logits' shape without the class axis)
    or a single entry along the class axis (stretched over ``K > 1`` classes by
    broadcasting): ``[2.0]`` or ``[0.5]`` for logits ``[1, K]``.
    """
    batch = z.shape[:axis] + z.shape[axis + 1 :]
    stretched = y.ndim >= z.ndim - axis and y.shape[axis - z.ndim] == 1 < z.shape[axis]
    if y.shape == batch or stretched:
        raise TypeError(
            f"target: class labels must be integers (got dtype {y.dtype} with shape "
            f"{y.shape}); floating targets are probability vectors along the class axis"
        )


# smooth_labels' limits on num_classes: beyond _FREE_CLASSES classes, num_classes may be at
# most twice what the largest label needs; the result at most _MAX_ONE_HOT elements (2 GiB)
_FREE_CLASSES = 1 << 20
_MAX_ONE_HOT = 1 << 28


def _check_one_hot_size(labels: np.ndarray, k: int) -> None:
    """ValueError naming ``num_classes`` where the one-hot result would be absurdly large."""
    need = int(labels.max()) + 1
    if k > max(_FREE_CLASSES, 2 * need):
        raise ValueError(
            f"num_classes: {k} is far beyond what the labels need (largest label "
            f"{need - 1}); above {_FREE_CLASSES} classes at most twice the largest label + 1"
        )
    if labels.size * k > _MAX_ONE_HOT:
        raise ValueError(
            f"num_classes: the result would hold {labels.size} x {k} = {labels.size * k} "
            f"values, more than {_MAX_ONE_HOT}; use softmax_cross_entropy(..., "
            "label_smoothing=...), which never forms the one-hot array"
        )


def _check_label_smoothing(value: float, name: str) -> float:
    """A smoothing weight ε ∈ [0, 1] as float."""
    eps = _check_scalar(value, name)
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"{name}: must lie in [0, 1] (got {eps!r})")
    return eps


def _check_num_classes(value: int) -> int:
    """A class count K >= 1 as int."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise TypeError(f"num_classes: must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"num_classes: must be >= 1 (got {value})")
    return int(value)


def _round_to(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Round a float64 result to ``dtype`` once."""
    # a float64 value beyond float32's range rounds to inf, its correct float32 value
    with np.errstate(over="ignore"):
        return np.asarray(x).astype(dtype, copy=False)
