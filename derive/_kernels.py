"""Source text of the small kernels that generated code calls (see :mod:`derive.export`).

One table per family: NumPy (also jax.numpy, same API; the module alias is a parameter),
torch, mpmath (scalar functions vectorised over object arrays) and C99.  Each kernel
carries a one-line comment with the identity it uses.  Only the kernels an expression
needs are emitted into its source, so every generated module is self-contained.
"""

from __future__ import annotations

import sympy

from derive.functions import EXPM1MX_SERIES, LOG1PMX_SERIES, horner

#: φ(u) = u² Σ u^n/(n + 2)! truncated for |u| < 2 (first omitted term < 2**-56 of the result)
_PHI_WIDE = tuple(sympy.Rational(1, sympy.factorial(n + 2)) for n in range(26))
#: A(x) = Σ xⁿ/(2n + 3), so that atanh(s) = s + s³ A(s²); truncated for x = s² <= 1/4 (the
#: tail is below x^28/59 · 4/3 < 1e-18 of A >= 1/3): the KL terms of mutual information
_ATANH_WIDE = tuple(sympy.Rational(1, 2 * n + 3) for n in range(28))

#: Knuth's error-free sum, shared by the NumPy/jax and torch mutual-information kernels
_DD_TWO_SUM = """def _dd_two_sum(a, b):
    # a + b = s + e exactly (Knuth)
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)
"""

__all__ = ["MP_ELEMENTARY", "NP_AS_FLOAT", "c_kernels", "mp_kernels", "np_kernels",
           "torch_kernels"]



def np_kernels(np_: str) -> dict[str, str]:
    """Kernels for NumPy and for jax.numpy (same API), as source text."""
    e_series = horner("v", EXPM1MX_SERIES)
    l_series = horner("t2", LOG1PMX_SERIES)
    return {
        "_sigmoid": f'''
def _sigmoid(x):
    # sigma(x) = 1/(1 + e^-x) for x >= 0 and e^x/(1 + e^x) for x < 0: e^-|x| never overflows
    e = {np_}.exp(-abs(x))
    return {np_}.where(x >= 0, 1 / (1 + e), e / (1 + e))
''',
        "_softplus": f'''
def _softplus(x):
    # softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|)
    return {np_}.maximum(x, 0) + {np_}.log1p({np_}.exp(-abs(x)))
''',
        "_expm1mx": f'''
def _expm1mx(u):
    # phi(u) = e^u - 1 - u = u^2 (1/2! + u/3! + ...) for |u| < 1 (no cancellation);
    # expm1(u) - u beyond, where it loses at most a factor 2.4 in relative accuracy
    small = abs(u) < 1
    v = {np_}.where(small, u, 0)
    return {np_}.where(small, v * v * {e_series}, {np_}.expm1(u) - u)
''',
        "_log1pmx": f'''
def _log1pmx(r):
    # log(1 + r) - r = -r t + 2 t^3 (1/3 + t^2/5 + ...), t = r/(2 + r)  [log(1 + r) = 2 atanh t],
    # for -1/2 <= r <= 1 (|t| <= 1/3); log1p(r) - r beyond
    small = (r >= -0.5) & (r <= 1)
    s = {np_}.where(small, r, 0)
    t = s / (2 + s)
    t2 = t * t
    return {np_}.where(small, -s * t + 2 * t * t2 * {l_series}, {np_}.log1p(r) - r)
''',
        "_expm1mx_logratio": f'''
def _expm1mx_logratio(a, b, c):
    # phi(u), u = c log(a/b): the series u^2 (1/2! + u/3! + ...) for |u| < 2, and
    # (a/b)^c - 1 - u beyond, which needs no exp of a rounded logarithm
    u = c * _logratio(a, b)
    small = abs(u) < 2
    v = {np_}.where(small, u, 0)
    return {np_}.where(small, v * v * {horner("v", _PHI_WIDE)}, (a / b) ** c - 1 - u)
''',
        "_xlogy": f'''
def _xlogy(x, y):
    # x log y with 0 log y = 0 (0 log 0 = 0): y is replaced by 1 where x = 0
    zero = x == 0
    return {np_}.where(zero, 0, x * {np_}.log({np_}.where(zero, 1, y)))
''',
        "_xlogratio": f'''
def _xlogratio(x, a, b):
    # x log(a/b) with 0 log(a/b) = 0; log(a/b) by _logratio (no rounded quotient near 1)
    zero = x == 0
    return {np_}.where(zero, 0, x * _logratio({np_}.where(zero, 1, a), {np_}.where(zero, 1, b)))
''',
        "_xlog1py": f'''
def _xlog1py(x, u):
    # x log(1 + u) with 0 log(1 + u) = 0, through log1p (exact for small u)
    zero = x == 0
    return {np_}.where(zero, 0, x * {np_}.log1p({np_}.where(zero, 0, u)))
''',
        "_logratio": f'''
def _logratio(a, b):
    # log(a/b) = log1p((a - b)/b) for |a - b| <= b/2, where a - b is exact (Sterbenz);
    # log(a/b) elsewhere, and log(a) - log(b) where a/b over- or underflows
    d = a - b
    r = a / b
    near = abs(d) <= 0.5 * b
    ok = {np_}.isfinite(r) & (r >= {np_}.finfo(r.dtype).tiny)
    return {np_}.where(near, {np_}.log1p(d / b),
                       {np_}.where(ok, {np_}.log(r), {np_}.log(a) - {np_}.log(b)))
''',
        "_sum": f'''
def _sum(x, axis):
    return {np_}.sum(x, axis=axis, keepdims=True)
''',
        "_take": _NP_TAKE if np_ == "np" else '''
def _take(a, label):
    # a[..., label - 1]: labels are 1-based class indices (not checked under jit)
    idx = (label - 1).astype(int)
    return jnp.take_along_axis(a, idx[..., None], axis=-1)[..., 0]
''',
        "_prod": f'''
def _prod(x, axis):
    return {np_}.prod(x, axis=axis, keepdims=True)
''',
        "_exp_minus_logsumexp": f'''
def _exp_minus_logsumexp(a, x, axis):
    # e^(a - logsumexp(x)) = e^(a - m) / sum_k e^(x_k - m), m = max_k x_k: a - m is exact or
    # nearly so, where a - logsumexp(x) would carry the rounding of two large numbers
    m = {np_}.max(x, axis=axis, keepdims=True)
    m = {np_}.where({np_}.isfinite(m), m, 0)
    return {np_}.exp(a - m) / {np_}.sum({np_}.exp(x - m), axis=axis, keepdims=True)
''',
        "_softmax_plus": f'''
def _softmax_plus(a, x, axis, t, one_t):
    # p + t for the softmax entry p = e^(a - logsumexp(x)), a = x at the free index (one_t is
    # 1 + t summed without cancellation). An entry
    # above 1/2 is the largest one, and there p + t = (1 + t) - sum_(k != argmax) e^(x_k - m)/S
    # (S = sum_k e^(x_k - m), m = max x): p - y keeps its tiny value when p and y are near 1
    xm = {np_}.moveaxis(x, axis, -1)
    m = {np_}.max(xm, axis=-1, keepdims=True)
    m = {np_}.where({np_}.isfinite(m), m, 0)
    e = {np_}.exp(xm - m)
    first = {np_}.arange(xm.shape[-1]) == {np_}.argmax(xm, axis=-1)[..., None]
    s = {np_}.moveaxis({np_}.sum(e, axis=-1, keepdims=True), -1, axis)
    rest = {np_}.moveaxis({np_}.sum({np_}.where(first, 0, e), axis=-1, keepdims=True), -1, axis)
    m = {np_}.moveaxis(m, -1, axis)
    p = {np_}.exp(a - m) / s
    return {np_}.where(p > 0.5, one_t - rest / s, p + t)
''',
        "_exp_minus_logsumexp_scaled": f'''
def _exp_minus_logsumexp_scaled(a, x, c, d, axis):
    # e^(w a - logsumexp(w x)), w = c/d, = e^(w (a - m)) / sum_k e^(w (x_k - m)) with m = x at
    # the argmax of w x (x -> -x for w < 0): the shift precedes the scaling, so a - m is exact
    # or nearly so where w a and w x would be rounded at their own large magnitude first
    up = (c < 0) == (d < 0)
    a, x, c, d = {np_}.where(up, a, -a), {np_}.where(up, x, -x), abs(c), abs(d)
    m = {np_}.max(x, axis=axis, keepdims=True)
    m = {np_}.where({np_}.isfinite(m), m, 0)
    s = {np_}.sum({np_}.exp((x - m) * c / d), axis=axis, keepdims=True)
    return {np_}.exp((a - m) * c / d) / s
''',
        "_softmax_plus_scaled": f'''
def _softmax_plus_scaled(a, x, c, d, axis, t, one_t):
    # p + t for the softmax entry p = e^(w a - logsumexp(w x)), w = c/d, a = x at the free
    # index: as _softmax_plus, with m = x at the argmax of w x (x -> -x for w < 0) subtracted
    # before the scaling, e^(w (x_k - m)): (1 + t) - sum_(k != argmax) e^(w (x_k - m))/S
    # above 1/2, p + t below
    up = (c < 0) == (d < 0)
    a, x, c, d = {np_}.where(up, a, -a), {np_}.where(up, x, -x), abs(c), abs(d)
    m = {np_}.max(x, axis=axis, keepdims=True)
    m = {np_}.where({np_}.isfinite(m), m, 0)
    e = {np_}.exp((x - m) * c / d)
    xm, em = {np_}.moveaxis(x, axis, -1), {np_}.moveaxis(e, axis, -1)
    first = {np_}.arange(xm.shape[-1]) == {np_}.argmax(xm, axis=-1)[..., None]
    s = {np_}.sum(e, axis=axis, keepdims=True)
    rest = {np_}.moveaxis({np_}.sum({np_}.where(first, 0, em), axis=-1, keepdims=True), -1, axis)
    p = {np_}.exp((a - m) * c / d) / s
    return {np_}.where(p > 0.5, one_t - rest / s, p + t)
''',
        "_softmax_diff": f'''
def _softmax_diff(a, x, b, y, c, d, axis):
    # p - q for the softmax entries p = e^(w a)/sum_k e^(w x_k), q = e^(w b)/sum_k e^(w y_k),
    # w = c/d (a, b: x, y at the free index): q expm1(u), u = log(p/q), where |u| <= 1 (p - q
    # cancels there), p - q beyond. With x', y' = x, y minus their entry at the argmax of w x,
    # w y (shift, then difference, then scale) and S, R the sums of e^(w x'), e^(w y'):
    # u = w (a' - b') - D, D = log(S/R) = c0 + log1p(sum_k q_k expm1(rho_k)), c0 = log S - log R,
    # rho_k = w (x'_k - y'_k) - c0: the correction's terms are as small as p_k - q_k
    up = (c < 0) == (d < 0)
    a, x, b, y = ({np_}.where(up, v, -v) for v in (a, x, b, y))
    c, d = abs(c), abs(d)
    mx = {np_}.max(x, axis=axis, keepdims=True)
    my = {np_}.max(y, axis=axis, keepdims=True)
    mx, my = {np_}.where({np_}.isfinite(mx), mx, 0), {np_}.where({np_}.isfinite(my), my, 0)
    a, x, b, y = a - mx, x - mx, b - my, y - my
    s = {np_}.sum({np_}.exp(x * c / d), axis=axis, keepdims=True)
    r = {np_}.sum({np_}.exp(y * c / d), axis=axis, keepdims=True)
    c0 = {np_}.log(s) - {np_}.log(r)
    q = {np_}.exp(y * c / d) / r
    rho = (x - y) * c / d - c0
    # q_k e^rho_k = e^(w x'_k - c0)/R: from that form where e^rho_k alone could overflow
    terms = {np_}.where(rho > 1, {np_}.exp(x * c / d - c0) / r - q,
                        q * {np_}.expm1({np_}.minimum(rho, 1)))
    terms = {np_}.where({np_}.isnan(rho), 0, terms)  # p_k = q_k = 0 (both logits -inf)
    u = ((a - b) * c / d - c0) - {np_}.log1p({np_}.sum(terms, axis=axis, keepdims=True))
    qi = {np_}.exp(b * c / d) / r
    near = abs(u) <= 1
    return {np_}.where(near, qi * {np_}.expm1({np_}.where(near, u, 0)),
                       {np_}.exp(a * c / d) / s - qi)
''',
        "_centred": f'''
def _centred(a, x, axis):
    # a - sum_k x_k/n = (a - r) - sum_k (x_k - r)/n, r = x_1: the deviations from r are exact
    # where the x are close, where the mean itself would round; a - mean where they overflow
    n = x.shape[axis]
    r = {np_}.take(x, {np_}.arange(1), axis=axis)
    out = (a - r) - {np_}.sum(x - r, axis=axis, keepdims=True) / n
    return {np_}.where({np_}.isfinite(out), out, a - {np_}.sum(x, axis=axis, keepdims=True) / n)
''',
        "_logsumexp": f'''
def _logsumexp(x, axis):
    # log sum_k e^x_k = m + log1p(sum_(k != argmax) e^(x_k - m)), m = max_k x_k: nothing
    # overflows, and terms far below the largest are not lost to the rounding of 1 + tiny
    x = {np_}.moveaxis(x, axis, -1)
    m = {np_}.max(x, axis=-1, keepdims=True)
    finite = {np_}.isfinite(m)
    shift = {np_}.where(finite, m, 0)
    e = {np_}.exp(x - shift)
    first = {np_}.arange(x.shape[-1]) == {np_}.argmax(x, axis=-1)[..., None]
    rest = {np_}.sum({np_}.where(first, 0, e), axis=-1, keepdims=True)
    out = {np_}.where(finite, shift + {np_}.log1p(rest), m)
    return {np_}.moveaxis(out, -1, axis)
''',
        "_mutual_information": f'''
{_DD_TWO_SUM}

def _dd_two_prod(a, b):
    # a b = p + e exactly (Dekker; Veltkamp's split by 2^ceil(t/2) + 1 for t-bit floats)
    split = 2.0 ** (({np_}.finfo(a.dtype).nmant + 2) // 2) + 1
    p = a * b
    ca, cb = split * a, split * b
    ah, bh = ca - (ca - a), cb - (cb - b)
    al, bl = a - ah, b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _dd_sum(x):
    # sum over the last axis as hi + lo: a pairwise tree of two_sums, their errors summed
    lo = {np_}.zeros(x.shape[:-1], dtype=x.dtype)
    if x.shape[-1] == 0:  # an empty sum is 0
        x = {np_}.zeros(x.shape[:-1] + (1,), dtype=x.dtype)
    while x.shape[-1] > 1:
        if x.shape[-1] % 2:
            x = {np_}.concatenate([x, {np_}.zeros_like(x[..., :1])], axis=-1)
        x, err = _dd_two_sum(x[..., 0::2], x[..., 1::2])
        lo = lo + {np_}.sum(err, axis=-1)
    return _dd_two_sum(x[..., 0], lo)


def _mutual_information(p):
    # sum_mn p log(p/q), q = r_m c_n (r, c: row and column sums of the [..., M, N] table),
    # = sum_mn (p log(p/q') - p + q') - S log S, q' = q/S, S = sum p = sum q' (for S <= 0:
    # q' = q and S - S^2); S log S is exactly 0 when S = 1 exactly. Each term
    # t = p log(p/q') - p + q' >= 0 is d s + 2 p s^3 A(s^2), s = d/(p + q'),
    # A(x) = sum x^n/(2n + 3) [log(p/q') = 2 atanh s], for |s| <= 1/2 (no cancellation),
    # p log(p/q') - d beyond; S, r, r' = r/S, c and q' = r' c are double-double, so
    # d = (p - q'_hi) - q'_lo is p - q' to full relative accuracy; the terms summed compensated
    fi = {np_}.finfo(p.dtype)
    sh, sl = _dd_sum(p.reshape(p.shape[:-2] + (-1,)))
    scaled = (sh > 0) & {np_}.isfinite(sh)
    uh, ul = {np_}.where(scaled, sh, 1)[..., None], {np_}.where(scaled, sl, 0)[..., None]
    rh, rl = _dd_sum(p)
    # r' = r/S = (r_hi + r_lo)/(u_hi + u_lo): h = r_hi/u_hi, and r_hi - h u_hi is exact
    h = rh / uh
    ph, pe = _dd_two_prod(h, uh)
    rh, rl = h, (((rh - ph) - pe) + rl - h * ul) / uh
    ch, cl = _dd_sum({np_}.swapaxes(p, -1, -2))
    rh, rl, ch, cl = rh[..., :, None], rl[..., :, None], ch[..., None, :], cl[..., None, :]
    # q' = r' c: no overflow for a non-negative table (r' <= 1, c <= S)
    qh, e = _dd_two_prod(rh, ch)
    ql = e + (rh * cl + rl * ch)
    ql = {np_}.where({np_}.isfinite(ql), ql, 0)  # the split overflowed (beyond 2^996): q'_hi
    d = (p - qh) - ql
    ok = (p > 0) & (rh > 0) & (ch > 0)  # else (a zero or negative entry or marginal) as defined
    ps, qs = {np_}.where(ok, p, 1), {np_}.where(ok & (qh >= fi.tiny), qh, 1)
    ratio = ps / qs
    normal = ok & (qh >= fi.tiny) & (ratio >= fi.tiny) & (ratio <= fi.max)
    # log(p/q') = log(p/q'_hi) - log1p(q'_lo/q'_hi); log p - log r' - log c where p/q'_hi over-
    # or underflows
    lr = {np_}.where(normal, {np_}.log({np_}.where(normal, ratio, 1))
                     - {np_}.log1p({np_}.where(normal, ql, 0) / qs),
                     {np_}.log(ps) - {np_}.log({np_}.where(ok, rh, 1))
                     - {np_}.log({np_}.where(ok, ch, 1)))
    lr = {np_}.where(ok, lr, {np_}.where(p == 0, 0, {np_}.log(p / qh)))
    both = p + qh
    s = d / {np_}.where(both > 0, both, 1)
    near = ok & (abs(s) <= 0.5) & {np_}.isfinite(both)
    sn = {np_}.where(near, s, 0)
    s2 = sn * sn
    t = {np_}.where(near, d * sn + 2 * p * (s2 * sn) * {horner("s2", _ATANH_WIDE)},
                    p * {np_}.where(near, 0, lr) - d)
    t = t.reshape(t.shape[:-2] + (-1,))
    bad = ~{np_}.isfinite(t)  # +-inf or nan terms, summed plainly
    hi, _ = _dd_sum({np_}.where(bad, 0, t))
    total = {np_}.where({np_}.any(bad, axis=-1), {np_}.sum({np_}.where(bad, t, 0), axis=-1), hi)
    # S log S = S_hi log S_hi + S_lo (1 + log S_hi) + O(S_lo^2/S_hi)
    ls = {np_}.log({np_}.where(scaled, sh, 1))
    return total + {np_}.where(scaled, -(sh * ls + sl * (1 + ls)), sh * ((1 - sh) - sl))
''',
    }


_NP_TAKE = '''
def _take(a, label):
    # a[..., label - 1]: labels are 1-based class indices
    idx = np.asarray(label, dtype=float) - 1
    if np.any(idx != np.floor(idx)) or np.any(idx < 0) or np.any(idx >= a.shape[-1]):
        raise ValueError(f"class labels must be integers in 1..{a.shape[-1]}")
    shape = np.broadcast_shapes(a.shape[:-1], idx.shape)
    a = np.broadcast_to(a, shape + a.shape[-1:])
    idx = np.broadcast_to(idx.astype(np.intp), shape)
    return np.take_along_axis(a, idx[..., None], axis=-1)[..., 0]
'''

NP_AS_FLOAT = '''
def _as_float(*args):
    # common floating dtype of the arguments (float32 stays float32; integers become float64)
    args = [a if isinstance(a, (np.ndarray, np.generic, float, int)) else np.asarray(a)
            for a in args]
    dt = np.result_type(*args)
    if dt.kind not in "fiub":
        raise TypeError(f"expected real numbers, got dtype {dt}")
    if dt.kind != "f":
        dt = np.dtype(np.float64)
    return [np.asarray(a, dtype=dt) for a in args]
'''

_TORCH = {
    "_sigmoid": '''
def _sigmoid(x):
    # sigma(x) = 1/(1 + e^-x) for x >= 0 and e^x/(1 + e^x) for x < 0: e^-|x| never overflows
    e = torch.exp(-torch.abs(x))
    return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))
''',
    "_softplus": '''
def _softplus(x):
    # softplus(x) = max(x, 0) + log1p(e^-|x|)  (torch's own softplus returns x above 20)
    return torch.clamp(x, min=0) + torch.log1p(torch.exp(-torch.abs(x)))
''',
    "_expm1mx": f'''
def _expm1mx(u):
    # phi(u) = e^u - 1 - u = u^2 (1/2! + u/3! + ...) for |u| < 1; expm1(u) - u beyond
    small = torch.abs(u) < 1
    v = torch.where(small, u, torch.zeros_like(u))
    return torch.where(small, v * v * {horner("v", EXPM1MX_SERIES)}, torch.expm1(u) - u)
''',
    "_log1pmx": f'''
def _log1pmx(r):
    # log(1 + r) - r = -r t + 2 t^3 (1/3 + t^2/5 + ...), t = r/(2 + r), for -1/2 <= r <= 1
    small = (r >= -0.5) & (r <= 1)
    s = torch.where(small, r, torch.zeros_like(r))
    t = s / (2 + s)
    t2 = t * t
    return torch.where(small, -s * t + 2 * t * t2 * {horner("t2", LOG1PMX_SERIES)},
                       torch.log1p(r) - r)
''',
    "_expm1mx_logratio": f'''
def _expm1mx_logratio(a, b, c):
    # phi(u), u = c log(a/b): the series for |u| < 2, (a/b)^c - 1 - u beyond
    u = c * _logratio(a, b)
    small = torch.abs(u) < 2
    v = torch.where(small, u, torch.zeros_like(u))
    return torch.where(small, v * v * {horner("v", _PHI_WIDE)}, (a / b) ** c - 1 - u)
''',
    "_xlogy": '''
def _xlogy(x, y):
    # x log y with 0 log y = 0 (torch.xlogy implements exactly this convention)
    return torch.xlogy(x, y)
''',
    "_xlogratio": '''
def _xlogratio(x, a, b):
    # x log(a/b) with 0 log(a/b) = 0; log(a/b) by _logratio (no rounded quotient near 1)
    zero = x == 0
    one = torch.ones_like(a)
    return torch.where(zero, torch.zeros_like(x),
                       x * _logratio(torch.where(zero, one, a), torch.where(zero, one, b)))
''',
    "_xlog1py": '''
def _xlog1py(x, u):
    # x log(1 + u) with 0 log(1 + u) = 0, through log1p
    return torch.special.xlog1py(x, u)
''',
    "_logratio": '''
def _logratio(a, b):
    # log(a/b) = log1p((a - b)/b) for |a - b| <= b/2 (a - b exact); log(a/b) elsewhere,
    # log(a) - log(b) where a/b over- or underflows
    d = a - b
    r = a / b
    near = torch.abs(d) <= 0.5 * b
    ok = torch.isfinite(r) & (r >= torch.finfo(r.dtype).tiny)
    return torch.where(near, torch.log1p(d / b),
                       torch.where(ok, torch.log(r), torch.log(a) - torch.log(b)))
''',
    "_sum": '''
def _sum(x, axis):
    return torch.sum(x, dim=axis, keepdim=True)
''',
    "_take": '''
def _take(a, label):
    # a[..., label - 1]: labels are 1-based class indices
    idx = label - 1
    if bool(torch.any((idx != torch.floor(idx)) | (idx < 0) | (idx >= a.shape[-1]))):
        raise ValueError(f"class labels must be integers in 1..{a.shape[-1]}")
    return torch.take_along_dim(a, idx.long().unsqueeze(-1), dim=-1).squeeze(-1)
''',
    "_prod": '''
def _prod(x, axis):
    return torch.prod(x, dim=axis, keepdim=True)
''',
    "_exp_minus_logsumexp": '''
def _exp_minus_logsumexp(a, x, axis):
    # e^(a - logsumexp(x)) = e^(a - m) / sum_k e^(x_k - m), m = max_k x_k
    m = torch.amax(x, dim=axis, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return torch.exp(a - m) / torch.sum(torch.exp(x - m), dim=axis, keepdim=True)
''',
    "_softmax_plus": '''
def _softmax_plus(a, x, axis, t, one_t):
    # p + t for the softmax entry p = e^(a - logsumexp(x)); above 1/2 (the largest entry)
    # p + t = (1 + t) - sum_(k != argmax) e^(x_k - m) / S, which keeps p - y exact near 1
    xm = torch.movedim(x, axis, -1)
    m = torch.amax(xm, dim=-1, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    e = torch.exp(xm - m)
    first = torch.arange(xm.shape[-1], device=xm.device) == torch.argmax(xm, dim=-1, keepdim=True)
    s = torch.movedim(torch.sum(e, dim=-1, keepdim=True), -1, axis)
    rest = torch.movedim(torch.sum(torch.where(first, torch.zeros_like(e), e), dim=-1,
                                   keepdim=True), -1, axis)
    m = torch.movedim(m, -1, axis)
    p = torch.exp(a - m) / s
    return torch.where(p > 0.5, one_t - rest / s, p + t)
''',
    "_exp_minus_logsumexp_scaled": '''
def _exp_minus_logsumexp_scaled(a, x, c, d, axis):
    # e^(w a - logsumexp(w x)), w = c/d, = e^(w (a - m)) / sum_k e^(w (x_k - m)), m = x at the
    # argmax of w x (x -> -x for w < 0): the shift precedes the scaling
    up = torch.as_tensor((c < 0) == (d < 0), device=x.device)
    a, x, c, d = torch.where(up, a, -a), torch.where(up, x, -x), abs(c), abs(d)
    m = torch.amax(x, dim=axis, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return torch.exp((a - m) * c / d) / torch.sum(torch.exp((x - m) * c / d), dim=axis,
                                                  keepdim=True)
''',
    "_softmax_plus_scaled": '''
def _softmax_plus_scaled(a, x, c, d, axis, t, one_t):
    # p + t for p = e^(w a - logsumexp(w x)), w = c/d: as _softmax_plus, with m = x at the
    # argmax of w x (x -> -x for w < 0) subtracted before the scaling, e^(w (x_k - m))
    up = torch.as_tensor((c < 0) == (d < 0), device=x.device)
    a, x, c, d = torch.where(up, a, -a), torch.where(up, x, -x), abs(c), abs(d)
    m = torch.amax(x, dim=axis, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    e = torch.exp((x - m) * c / d)
    xm, em = torch.movedim(x, axis, -1), torch.movedim(e, axis, -1)
    first = torch.arange(xm.shape[-1], device=xm.device) == torch.argmax(xm, dim=-1, keepdim=True)
    s = torch.sum(e, dim=axis, keepdim=True)
    rest = torch.movedim(torch.sum(torch.where(first, torch.zeros_like(em), em), dim=-1,
                                   keepdim=True), -1, axis)
    p = torch.exp((a - m) * c / d) / s
    return torch.where(p > 0.5, one_t - rest / s, p + t)
''',
    "_softmax_diff": '''
def _softmax_diff(a, x, b, y, c, d, axis):
    # p - q for softmax entries p = e^(w a)/sum e^(w x), q = e^(w b)/sum e^(w y), w = c/d:
    # q expm1(u), u = log(p/q) = w (a' - b') - c0 - log1p(sum_k q_k expm1(rho_k)) for |u| <= 1
    # (x', y': shifted by the entry at the argmax, c0 = log S - log R, rho = w (x' - y') - c0),
    # p - q beyond
    up = torch.as_tensor((c < 0) == (d < 0), device=x.device)
    a, x, b, y = (torch.where(up, v, -v) for v in (a, x, b, y))
    c, d = abs(c), abs(d)
    mx = torch.amax(x, dim=axis, keepdim=True)
    my = torch.amax(y, dim=axis, keepdim=True)
    mx = torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))
    my = torch.where(torch.isfinite(my), my, torch.zeros_like(my))
    a, x, b, y = a - mx, x - mx, b - my, y - my
    s = torch.sum(torch.exp(x * c / d), dim=axis, keepdim=True)
    r = torch.sum(torch.exp(y * c / d), dim=axis, keepdim=True)
    c0 = torch.log(s) - torch.log(r)
    q = torch.exp(y * c / d) / r
    rho = (x - y) * c / d - c0
    # q_k e^rho_k = e^(w x'_k - c0)/R: from that form where e^rho_k alone could overflow
    terms = torch.where(rho > 1, torch.exp(x * c / d - c0) / r - q,
                        q * torch.expm1(torch.clamp(rho, max=1)))
    terms = torch.where(torch.isnan(rho), torch.zeros_like(terms), terms)
    u = ((a - b) * c / d - c0) - torch.log1p(torch.sum(terms, dim=axis, keepdim=True))
    qi = torch.exp(b * c / d) / r
    near = torch.abs(u) <= 1
    return torch.where(near, qi * torch.expm1(torch.where(near, u, torch.zeros_like(u))),
                       torch.exp(a * c / d) / s - qi)
''',
    "_centred": '''
def _centred(a, x, axis):
    # a - sum_k x_k/n = (a - r) - sum_k (x_k - r)/n, r = x_1: exact deviations where the x are
    # close (where the mean rounds); a - mean where they overflow
    n = x.shape[axis]
    r = torch.narrow(x, axis, 0, 1)
    out = (a - r) - torch.sum(x - r, dim=axis, keepdim=True) / n
    return torch.where(torch.isfinite(out), out, a - torch.sum(x, dim=axis, keepdim=True) / n)
''',
    "_logsumexp": '''
def _logsumexp(x, axis):
    # m + log1p(sum_(k != argmax) e^(x_k - m)), m = max x: no overflow, small terms kept
    x = torch.movedim(x, axis, -1)
    m = torch.amax(x, dim=-1, keepdim=True)
    finite = torch.isfinite(m)
    shift = torch.where(finite, m, torch.zeros_like(m))
    e = torch.exp(x - shift)
    first = torch.arange(x.shape[-1], device=x.device) == torch.argmax(x, dim=-1, keepdim=True)
    rest = torch.sum(torch.where(first, torch.zeros_like(e), e), dim=-1, keepdim=True)
    out = torch.where(finite, shift + torch.log1p(rest), m)
    return torch.movedim(out, -1, axis)
''',
    "_mutual_information": f'''
{_DD_TWO_SUM}

def _dd_two_prod(a, b):
    # a b = p + e exactly (Dekker; Veltkamp's split by 2^ceil(t/2) + 1 for t-bit floats)
    split = 2.0 ** ((int(1 / torch.finfo(a.dtype).eps).bit_length() + 1) // 2) + 1
    p = a * b
    ca, cb = split * a, split * b
    ah, bh = ca - (ca - a), cb - (cb - b)
    al, bl = a - ah, b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _dd_sum(x):
    # sum over the last axis as hi + lo: a pairwise tree of two_sums, their errors summed
    lo = torch.zeros(x.shape[:-1], dtype=x.dtype, device=x.device)
    if x.shape[-1] == 0:  # an empty sum is 0
        x = torch.zeros((*x.shape[:-1], 1), dtype=x.dtype, device=x.device)
    while x.shape[-1] > 1:
        if x.shape[-1] % 2:
            x = torch.cat([x, torch.zeros_like(x[..., :1])], dim=-1)
        x, err = _dd_two_sum(x[..., 0::2], x[..., 1::2])
        lo = lo + torch.sum(err, dim=-1)
    return _dd_two_sum(x[..., 0], lo)


def _mutual_information(p):
    # sum_mn p log(p/q), q = r_m c_n (r, c: row and column sums of the [..., M, N] table),
    # = sum_mn (p log(p/q') - p + q') - S log S, q' = q/S, S = sum p = sum q' (for S <= 0:
    # q' = q and S - S^2); S log S is exactly 0 when S = 1 exactly. Each term
    # t = p log(p/q') - p + q' >= 0 is d s + 2 p s^3 A(s^2), s = d/(p + q'),
    # A(x) = sum x^n/(2n + 3) [log(p/q') = 2 atanh s], for |s| <= 1/2 (no cancellation),
    # p log(p/q') - d beyond; S, r, r' = r/S, c and q' = r' c are double-double, so
    # d = (p - q'_hi) - q'_lo is p - q' to full relative accuracy; the terms summed compensated
    fi = torch.finfo(p.dtype)
    sh, sl = _dd_sum(p.reshape(*p.shape[:-2], -1))
    scaled = (sh > 0) & torch.isfinite(sh)
    uh, ul = torch.where(scaled, sh, 1)[..., None], torch.where(scaled, sl, 0)[..., None]
    rh, rl = _dd_sum(p)
    # r' = r/S = (r_hi + r_lo)/(u_hi + u_lo): h = r_hi/u_hi, and r_hi - h u_hi is exact
    h = rh / uh
    ph, pe = _dd_two_prod(h, uh)
    rh, rl = h, (((rh - ph) - pe) + rl - h * ul) / uh
    ch, cl = _dd_sum(torch.transpose(p, -1, -2))
    rh, rl, ch, cl = rh[..., :, None], rl[..., :, None], ch[..., None, :], cl[..., None, :]
    # q' = r' c: no overflow for a non-negative table (r' <= 1, c <= S)
    qh, e = _dd_two_prod(rh, ch)
    ql = e + (rh * cl + rl * ch)
    ql = torch.where(torch.isfinite(ql), ql, 0)  # the split overflowed (beyond 2^996): q'_hi
    d = (p - qh) - ql
    ok = (p > 0) & (rh > 0) & (ch > 0)  # else (a zero or negative entry or marginal) as defined
    ps, qs = torch.where(ok, p, 1), torch.where(ok & (qh >= fi.tiny), qh, 1)
    ratio = ps / qs
    normal = ok & (qh >= fi.tiny) & (ratio >= fi.tiny) & (ratio <= fi.max)
    # log(p/q') = log(p/q'_hi) - log1p(q'_lo/q'_hi); log p - log r' - log c where p/q'_hi over-
    # or underflows
    lr = torch.where(normal, torch.log(torch.where(normal, ratio, 1))
                     - torch.log1p(torch.where(normal, ql, 0) / qs),
                     torch.log(ps) - torch.log(torch.where(ok, rh, 1))
                     - torch.log(torch.where(ok, ch, 1)))
    lr = torch.where(ok, lr, torch.where(p == 0, 0, torch.log(p / qh)))
    both = p + qh
    s = d / torch.where(both > 0, both, 1)
    near = ok & (torch.abs(s) <= 0.5) & torch.isfinite(both)
    sn = torch.where(near, s, 0)
    s2 = sn * sn
    t = torch.where(near, d * sn + 2 * p * (s2 * sn) * {horner("s2", _ATANH_WIDE)},
                    p * torch.where(near, 0, lr) - d)
    t = t.reshape(*t.shape[:-2], -1)
    bad = ~torch.isfinite(t)  # +-inf or nan terms, summed plainly
    hi, _ = _dd_sum(torch.where(bad, 0, t))
    total = torch.where(torch.any(bad, dim=-1), torch.sum(torch.where(bad, t, 0), dim=-1), hi)
    # S log S = S_hi log S_hi + S_lo (1 + log S_hi) + O(S_lo^2/S_hi)
    ls = torch.log(torch.where(scaled, sh, 1))
    return total + torch.where(scaled, -(sh * ls + sl * (1 + ls)), sh * ((1 - sh) - sl))
''',
}

_MP = {
    "_sigmoid": '''
def _sigmoid_1(x):
    return 1 / (1 + mpmath.exp(-x))


_sigmoid = np.frompyfunc(_sigmoid_1, 1, 1)
''',
    "_softplus": '''
def _softplus_1(x):
    return mpmath.log1p(mpmath.exp(x))


_softplus = np.frompyfunc(_softplus_1, 1, 1)
''',
    "_expm1mx": '''
def _expm1mx_1(u):
    # e^u - 1 - u loses about -log2|u| bits to cancellation: carry them as extra precision
    if mpmath.isnan(u) or mpmath.isinf(u) or u == 0:
        return mpmath.inf if mpmath.isinf(u) else mpmath.mpf(u)
    with mpmath.extraprec(max(0, -int(mpmath.mag(u))) + 10):
        v = mpmath.expm1(u) - u
    return +v


_expm1mx = np.frompyfunc(_expm1mx_1, 1, 1)
''',
    "_log1pmx": '''
def _log1pmx_1(r):
    # log(1 + r) - r loses about -log2|r| bits to cancellation: carry them as extra precision
    if mpmath.isnan(r) or r < -1:
        return mpmath.nan
    if r == -1 or mpmath.isinf(r):
        return -mpmath.inf
    if r == 0:
        return mpmath.mpf(0)
    with mpmath.extraprec(max(0, -int(mpmath.mag(r))) + 10):
        v = mpmath.log1p(r) - r
    return +v


_log1pmx = np.frompyfunc(_log1pmx_1, 1, 1)
''',
    "_expm1mx_logratio": '''
def _expm1mx_logratio_1(a, b, c):
    # phi(u), u = c log(a/b); beyond |u| = 2 as (a/b)^c - 1 - u (no exp of a rounded log)
    u = c * _logratio_1(a, b)
    if abs(u) < 2:
        return _expm1mx_1(u)
    return (a / b) ** c - 1 - u


_expm1mx_logratio = np.frompyfunc(_expm1mx_logratio_1, 3, 1)
''',
    "_xlogy": '''
def _xlogy_1(x, y):
    return mpmath.mpf(0) if x == 0 else x * mpmath.log(y)


_xlogy = np.frompyfunc(_xlogy_1, 2, 1)
''',
    "_xlogratio": '''
def _xlogratio_1(x, a, b):
    return mpmath.mpf(0) if x == 0 else x * _logratio_1(a, b)


_xlogratio = np.frompyfunc(_xlogratio_1, 3, 1)
''',
    "_xlog1py": '''
def _xlog1py_1(x, u):
    return mpmath.mpf(0) if x == 0 else x * mpmath.log1p(u)


_xlog1py = np.frompyfunc(_xlog1py_1, 2, 1)
''',
    "_logratio": '''
def _logratio_1(a, b):
    # log(a/b); near a = b through log1p((a - b)/b), a - b being exact there
    if b == 0:
        return mpmath.nan if a == 0 else mpmath.inf
    if abs(a - b) <= b / 2:
        return mpmath.log1p((a - b) / b)
    return mpmath.log(a / b)


_logratio = np.frompyfunc(_logratio_1, 2, 1)
''',
    "_sum": '''
def _sum(x, axis):
    return np.expand_dims(np.apply_along_axis(mpmath.fsum, axis, x), axis)
''',
    "_take": _NP_TAKE.replace("np.asarray(label, dtype=float)",
                              "np.asarray(label, dtype=object).astype(float)"),
    "_prod": '''
def _prod(x, axis):
    return np.expand_dims(np.apply_along_axis(mpmath.fprod, axis, x), axis)
''',
    "_exp_minus_logsumexp": '''
def _exp_minus_logsumexp(a, x, axis):
    # e^(a - logsumexp(x)) = e^(a - m) / sum_k e^(x_k - m), m = max_k x_k
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.frompyfunc(mpmath.isfinite, 1, 1)(m).astype(bool), m, 0)
    e = np.frompyfunc(mpmath.exp, 1, 1)
    den = np.expand_dims(np.apply_along_axis(mpmath.fsum, axis, e(x - m)), axis)
    return e(a - m) / den
''',
    "_softmax_plus": '''
def _softmax_plus(a, x, axis, t, one_t):
    # p + t for the softmax entry p = e^(a - logsumexp(x)); above 1/2 (the largest entry)
    # p + t = (1 + t) - sum_(k != argmax) e^(x_k - m) / S, which keeps p - y exact near 1
    e_ = np.frompyfunc(mpmath.exp, 1, 1)
    xm = np.moveaxis(x, axis, -1)
    m = np.max(xm, axis=-1, keepdims=True)
    m = np.where(np.frompyfunc(mpmath.isfinite, 1, 1)(m).astype(bool), m, 0)
    e = e_(xm - m)
    first = np.arange(xm.shape[-1]) == np.argmax(xm, axis=-1)[..., None]
    s = np.moveaxis(np.apply_along_axis(mpmath.fsum, -1, e)[..., None], -1, axis)
    rest = np.moveaxis(np.apply_along_axis(mpmath.fsum, -1, np.where(first, 0, e))[..., None],
                       -1, axis)
    m = np.moveaxis(m, -1, axis)
    p = e_(a - m) / s
    return np.where(p > 0.5, one_t - rest / s, p + t)
''',
    "_exp_minus_logsumexp_scaled": '''
def _exp_minus_logsumexp_scaled(a, x, c, d, axis):
    # e^(w a - logsumexp(w x)), w = c/d, = e^(w (a - m)) / sum_k e^(w (x_k - m)), m = x at the
    # argmax of w x (x -> -x for w < 0): the shift precedes the scaling
    up = (c < 0) == (d < 0)
    a, x, c, d = np.where(up, a, -a), np.where(up, x, -x), abs(c), abs(d)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.frompyfunc(mpmath.isfinite, 1, 1)(m).astype(bool), m, 0)
    e = np.frompyfunc(mpmath.exp, 1, 1)
    den = np.expand_dims(np.apply_along_axis(mpmath.fsum, axis, e((x - m) * c / d)), axis)
    return e((a - m) * c / d) / den
''',
    "_softmax_plus_scaled": '''
def _softmax_plus_scaled(a, x, c, d, axis, t, one_t):
    # p + t for p = e^(w a - logsumexp(w x)), w = c/d: as _softmax_plus, with m = x at the
    # argmax of w x (x -> -x for w < 0) subtracted before the scaling, e^(w (x_k - m))
    e_ = np.frompyfunc(mpmath.exp, 1, 1)
    up = (c < 0) == (d < 0)
    a, x, c, d = np.where(up, a, -a), np.where(up, x, -x), abs(c), abs(d)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.frompyfunc(mpmath.isfinite, 1, 1)(m).astype(bool), m, 0)
    e = e_((x - m) * c / d)
    xm, em = np.moveaxis(x, axis, -1), np.moveaxis(e, axis, -1)
    first = np.arange(xm.shape[-1]) == np.argmax(xm, axis=-1)[..., None]
    s = np.expand_dims(np.apply_along_axis(mpmath.fsum, axis, e), axis)
    rest = np.moveaxis(np.apply_along_axis(mpmath.fsum, -1, np.where(first, 0, em))[..., None],
                       -1, axis)
    p = e_((a - m) * c / d) / s
    return np.where(p > 0.5, one_t - rest / s, p + t)
''',
    "_softmax_diff": '''
def _softmax_diff(a, x, b, y, c, d, axis):
    # p - q for softmax entries p = e^(w a)/sum e^(w x), q = e^(w b)/sum e^(w y), w = c/d:
    # q expm1(u), u = log(p/q) = w (a' - b') - c0 - log1p(sum_k q_k expm1(rho_k)) for |u| <= 1
    # (x', y': shifted by the entry at the argmax, c0 = log S - log R, rho = w (x' - y') - c0),
    # p - q beyond
    f = {n: np.frompyfunc(getattr(mpmath, n), 1, 1) for n in ("exp", "expm1", "log", "log1p")}
    finite = np.frompyfunc(mpmath.isfinite, 1, 1)
    up = (c < 0) == (d < 0)
    a, x, b, y = (np.where(up, v, -v) for v in (a, x, b, y))
    c, d = abs(c), abs(d)
    mx = np.max(x, axis=axis, keepdims=True)
    my = np.max(y, axis=axis, keepdims=True)
    mx = np.where(finite(mx).astype(bool), mx, 0)
    my = np.where(finite(my).astype(bool), my, 0)
    a, x, b, y = a - mx, x - mx, b - my, y - my

    def total(v):
        return np.expand_dims(np.apply_along_axis(mpmath.fsum, axis, v), axis)

    s, r = total(f["exp"](x * c / d)), total(f["exp"](y * c / d))
    c0 = f["log"](s) - f["log"](r)
    q = f["exp"](y * c / d) / r
    rho = (x - y) * c / d - c0
    big = (rho > 1).astype(bool)
    # q_k e^rho_k = e^(w x'_k - c0)/R: from that form where e^rho_k alone could overflow
    terms = np.where(big, f["exp"](x * c / d - c0) / r - q, q * f["expm1"](np.where(big, 0, rho)))
    terms = np.where(np.frompyfunc(mpmath.isnan, 1, 1)(rho).astype(bool), 0, terms)
    u = ((a - b) * c / d - c0) - f["log1p"](total(terms))
    qi = f["exp"](b * c / d) / r
    near = (abs(u) <= 1).astype(bool)
    return np.where(near, qi * f["expm1"](np.where(near, u, 0)), f["exp"](a * c / d) / s - qi)
''',
    "_centred": '''
def _centred(a, x, axis):
    # a - sum_k x_k/n = (a - r) - sum_k (x_k - r)/n, r = x_1 (at the working precision the
    # deviations from r are exact where the x are close)
    n = x.shape[axis]
    r = np.take(x, np.arange(1), axis=axis)
    return (a - r) - np.expand_dims(np.apply_along_axis(mpmath.fsum, axis, x - r), axis) / n
''',
    "_logsumexp": '''
def _logsumexp_1(v):
    v = list(v)
    m = max(v)
    if mpmath.isinf(m) or mpmath.isnan(m):
        return m
    i = v.index(m)
    return m + mpmath.log1p(mpmath.fsum(mpmath.exp(t - m) for j, t in enumerate(v) if j != i))


def _logsumexp(x, axis):
    return np.expand_dims(np.apply_along_axis(_logsumexp_1, axis, x), axis)
''',
    "_mutual_information": '''
def _mp_exact_sum(xs):
    # a sum of binary floats, exactly (no rounding)
    s = mpmath.mpf(0)
    for x in xs:
        s = mpmath.fadd(s, x, exact=True)
    return s


def _mutual_information_1(p):
    # as the NumPy kernel: sum_mn (p log(p/q') - p + q') - S log S, q' = r_m c_n/S (S = sum p > 0;
    # else q' = q and S - S^2), with r, c, S, q = r c and D = p S - q = S (p - q') exact; each
    # term p log(p S/q) - D/S carries the bits it cancels (about log2|q/D|) as extra
    # precision, log1p(D/q) for |D| <= q/2; one rounding at the end
    rows = [_mp_exact_sum(p[m, :]) for m in range(p.shape[0])]
    cols = [_mp_exact_sum(p[:, n]) for n in range(p.shape[1])]
    total = _mp_exact_sum(rows)
    if total > 0 and mpmath.isfinite(total):
        scale = total
        with mpmath.extraprec(10):
            terms = [-total * mpmath.log(total)]
    else:
        scale = mpmath.mpf(1)
        terms = [mpmath.fsub(total, mpmath.fmul(total, total, exact=True), exact=True)]
    for m, r in enumerate(rows):
        for n, c in enumerate(cols):
            x = p[m, n]
            q = mpmath.fmul(r, c, exact=True)
            dd = mpmath.fsub(mpmath.fmul(x, scale, exact=True), q, exact=True)
            if x == 0 or dd == 0:
                with mpmath.extraprec(10):
                    terms.append(-dd / scale)
            elif x > 0 and r > 0 and c > 0 and mpmath.isfinite(dd):
                with mpmath.extraprec(max(0, int(mpmath.mag(q)) - int(mpmath.mag(dd))) + 10):
                    lr = mpmath.log1p(dd / q) if abs(dd) <= q / 2 else mpmath.log(x * scale / q)
                    terms.append(x * lr - dd / scale)
            else:  # a negative entry or marginal: as defined
                ratio = x * scale / q if q != 0 else mpmath.inf * mpmath.sign(x)
                terms.append(x * mpmath.log(ratio) - dd / scale)
    return mpmath.fsum(terms)


def _mutual_information(p):
    flat = p.reshape((int(np.prod(p.shape[:-2])),) + p.shape[-2:])
    out = np.empty(len(flat), dtype=object)
    for j, table in enumerate(flat):
        out[j] = _mutual_information_1(table)
    return out.reshape(p.shape[:-2])
''',
}
MP_ELEMENTARY = ("exp", "log", "log1p", "expm1", "sqrt", "tanh", "maximum", "minimum")


def c_kernels() -> dict[str, str]:
    """Kernels for C99, in an order where each is defined before its first use."""
    e_series = horner("u", EXPM1MX_SERIES)
    l_series = horner("t2", LOG1PMX_SERIES)
    return _c_ordered({
        "lp_sigmoid": '''
static double lp_sigmoid(double x)
{
    /* sigma(x) = 1/(1 + e^-x) for x >= 0 and e^x/(1 + e^x) for x < 0 */
    double e = exp(-fabs(x));
    return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}
''',
        "lp_softplus": '''
static double lp_softplus(double x)
{
    /* softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|) */
    return fmax(x, 0.0) + log1p(exp(-fabs(x)));
}
''',
        "lp_expm1mx": f'''
static double lp_expm1mx(double u)
{{
    /* phi(u) = e^u - 1 - u = u^2 (1/2! + u/3! + ...) for |u| < 1; expm1(u) - u beyond */
    if (fabs(u) < 1) {{
        return u * u * {e_series};
    }}
    return expm1(u) - u;
}}
''',
        "lp_log1pmx": f'''
static double lp_log1pmx(double r)
{{
    /* log(1 + r) - r = -r t + 2 t^3 (1/3 + t^2/5 + ...), t = r/(2 + r), for -1/2 <= r <= 1 */
    if (r >= -0.5 && r <= 1) {{
        double t = r / (2 + r);
        double t2 = t * t;
        return -r * t + 2 * t * t2 * {l_series};
    }}
    return log1p(r) - r;
}}
''',
        "lp_take": '''
static double lp_take(const double *a, int n, double label)
{
    /* a[label - 1]: labels are 1-based class indices; NaN for a label outside 1..n */
    int i = (int)label;
    return (label == i && i >= 1 && i <= n) ? a[i - 1] : NAN;
}
''',
        "lp_expm1mx_logratio": f'''
static double lp_expm1mx_logratio(double a, double b, double c)
{{
    /* phi(u), u = c log(a/b): the series for |u| < 2, (a/b)^c - 1 - u beyond */
    double u = c * lp_logratio(a, b);
    if (fabs(u) < 2) {{
        return u * u * {horner("u", _PHI_WIDE)};
    }}
    return pow(a / b, c) - 1 - u;
}}
''',
        "lp_xlogy": '''
static double lp_xlogy(double x, double y)
{
    /* x log y with 0 log y = 0 (0 log 0 = 0) */
    return x == 0 ? 0.0 : x * log(y);
}
''',
        "lp_xlogratio": '''
static double lp_xlogratio(double x, double a, double b)
{
    /* x log(a/b) with 0 log(a/b) = 0; log(a/b) by lp_logratio (no rounded quotient) */
    return x == 0 ? 0.0 : x * lp_logratio(a, b);
}
''',
        "lp_xlog1py": '''
static double lp_xlog1py(double x, double u)
{
    /* x log(1 + u) with 0 log(1 + u) = 0, through log1p */
    return x == 0 ? 0.0 : x * log1p(u);
}
''',
        "lp_softmax_diff": '''
static double lp_softmax_diff(double x, double y, double c, double d, double s, double r,
                              double c0, double corr)
{
    /* p - q for p = e^(w x)/s, q = e^(w y)/r (w = c/d; x, y: logits minus the entry at the
       argmax): q expm1(u), u = log(p/q) = (w (x - y) - c0) - corr, where |u| <= 1 (there
       p - q would cancel), p - q beyond */
    double q = exp(y * c / d) / r;
    double u = ((x - y) * c / d - c0) - corr;
    return fabs(u) <= 1 ? q * expm1(u) : exp(x * c / d) / s - q;
}
''',
        "lp_centred": '''
static double lp_centred(double a, double r, double s, double p, double n)
{
    /* a - p/n (p = sum_k x_k) = (a - r) - s/n with s = sum_k (x_k - r), r = x_1: the
       deviations from r are exact where the x are close (where p/n rounds); a - p/n where
       they overflow */
    double out = (a - r) - s / n;
    return isfinite(out) ? out : a - p / n;
}
''',
        "lp_logratio": '''
static double lp_logratio(double a, double b)
{
    /* log(a/b): log1p((a - b)/b) for |a - b| <= b/2 (a - b exact); log(a/b) elsewhere;
       log(a) - log(b) where a/b over- or underflows */
    double d = a - b, r = a / b;
    if (fabs(d) <= 0.5 * b) {
        return log1p(d / b);
    }
    if (isfinite(r) && r >= DBL_MIN) {
        return log(r);
    }
    return log(a) - log(b);
}
''',
        "lp_mutual_information": f'''
static double lp_two_sum(double a, double b, double *e)
{{
    /* a + b = s + e exactly (Knuth); returns s */
    double s = a + b, bb = s - a;
    *e = (a - (s - bb)) + (b - bb);
    return s;
}}

static double lp_mutual_information(const double *p, int M, int N)
{{
    /* sum_mn p log(p/q), q = r_m c_n (r, c: row and column sums of the M x N table p)
       = sum_mn (p log(p/q') - p + q') - S log S, q' = q/S, S = sum p = sum q' (for S <= 0:
       q' = q and S - S^2); S log S is exactly 0 when S = 1 exactly. Each term
       t = p log(p/q') - p + q' >= 0 is d s + 2 p s^3 A(s^2), s = d/(p + q'),
       A(x) = sum x^k/(2k + 3) [log(p/q') = 2 atanh s], for |s| <= 1/2, p log(p/q') - d
       beyond; S, r, r' = r/S, c, q' = r' c (fma) and the sum of the terms are double-double
       (compensated), so d = (p - q'_hi) - q'_lo is p - q' to full relative accuracy */
    double th = 0.0, tl = 0.0, sh = 0.0, sl = 0.0, uh = 1.0, ul = 0.0, special = 0.0, e;
    int any_special = 0;
    for (int k = 0; k < M * N; ++k) {{
        sh = lp_two_sum(sh, p[k], &e);
        sl += e;
    }}
    sh = lp_two_sum(sh, sl, &sl);
    int scaled = sh > 0 && isfinite(sh);
    if (scaled) {{
        uh = sh;
        ul = sl;
    }}
    for (int m = 0; m < M; ++m) {{
        double rh = 0.0, rl = 0.0;
        for (int k = 0; k < N; ++k) {{
            rh = lp_two_sum(rh, p[m * N + k], &e);
            rl += e;
        }}
        rh = lp_two_sum(rh, rl, &rl);
        /* r' = r/S = (r_hi + r_lo)/(u_hi + u_lo): h = r_hi/u_hi, and r_hi - h u_hi is exact */
        double h = rh / uh;
        rl = (fma(-h, uh, rh) + rl - h * ul) / uh;
        rh = h;
        for (int c = 0; c < N; ++c) {{
            double ch = 0.0, cl = 0.0, x = p[m * N + c], t;
            for (int k = 0; k < M; ++k) {{
                ch = lp_two_sum(ch, p[k * N + c], &e);
                cl += e;
            }}
            ch = lp_two_sum(ch, cl, &cl);
            /* q' = r' c: no overflow for a non-negative table (r' <= 1, c <= S) */
            double qh = rh * ch;
            double ql = fma(rh, ch, -qh) + (rh * cl + rl * ch);
            if (!isfinite(ql)) {{
                ql = 0.0;  /* out of range: q'_hi alone */
            }}
            double d = (x - qh) - ql, both = x + qh;
            double s = both > 0 ? d / both : 0.0;
            if (x == 0) {{
                t = -d;  /* 0 log 0 = 0: the term is q' */
            }} else if (!(x > 0 && rh > 0 && ch > 0)) {{
                t = x * log(x / qh) - d;  /* a negative entry or marginal: as defined */
            }} else if (fabs(s) <= 0.5 && isfinite(both)) {{
                double s2 = s * s;
                t = d * s + 2 * x * (s2 * s) * {horner("s2", _ATANH_WIDE)};
            }} else {{
                /* log(p/q') = log(p/q'_hi) - log1p(q'_lo/q'_hi); log p - log r' - log c where
                   p/q'_hi over- or underflows */
                double ratio = x / qh, lr;
                if (qh >= DBL_MIN && ratio >= DBL_MIN && ratio <= DBL_MAX) {{
                    lr = log(ratio) - log1p(ql / qh);
                }} else {{
                    lr = log(x) - log(rh) - log(ch);
                }}
                t = x * lr - d;
            }}
            if (isfinite(t)) {{
                th = lp_two_sum(th, t, &e);
                tl += e;
            }} else {{
                special += t;  /* +-inf or nan terms, summed plainly */
                any_special = 1;
            }}
        }}
    }}
    th = lp_two_sum(th, tl, &tl);
    if (scaled) {{
        /* S log S = S_hi log S_hi + S_lo (1 + log S_hi) + O(S_lo^2/S_hi) */
        double ls = log(sh);
        return (any_special ? special : th) - (sh * ls + sl * (1 + ls));
    }}
    return (any_special ? special : th) + sh * ((1 - sh) - sl);
}}
''',
    })




def _c_ordered(table: dict[str, str]) -> dict[str, str]:
    """C needs a static function defined before its first use: lp_logratio goes first."""
    first = {k: table[k] for k in ("lp_logratio",) if k in table}
    return {**first, **{k: v for k, v in table.items() if k not in first}}


def torch_kernels() -> dict[str, str]:
    """Kernels for PyTorch tensors."""
    return dict(_TORCH)


def mp_kernels() -> dict[str, str]:
    """Kernels for mpmath (object arrays of mpf; the working precision is the caller's)."""
    return dict(_MP)
