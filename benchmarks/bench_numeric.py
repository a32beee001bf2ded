"""Time lossproof.numeric against its peers in one run, and print elements/s and ratios.

Tasks (float64):

* BCE with logits, value and value+grad, on 10^7 elements (hard labels);
* softmax cross-entropy with integer labels, value and value+grad, on a (10^5, 1000) array.

Peers: scipy.special, a hand-written NumPy formula, and torch / jax (optax) when installed
(each imported lazily; an absent one is skipped with a note).  Every implementation is timed
in this process, best of ``--repeat`` runs taken round-robin (so that a burst of other load
on the machine hits every implementation alike); ``ours/peer`` is the speed ratio (> 1: ours is
faster).  "validation" is the share of a public call spent on input checks, measured as
(public − kernel without checks) / public.  The edge table shows what each implementation
returns at a few points where the exact answer is known (see tests/numeric for the full
mpmath verification of ours).

Usage::

    python benchmarks/bench_numeric.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import math
import os
import time
import warnings
from collections.abc import Callable

import numpy as np

import numeric
from numeric._activations import _num_threads
from numeric._losses import (
    _bce_with_logits,
    _bce_with_logits_value_and_grad,
    _softmax_cross_entropy,
    _softmax_cross_entropy_value_and_grad,
)

# ------------------------------------------------------------------------------- timing


# ------------------------------------------------------------------------------- peers


def load_torch():
    try:
        import torch
    except ImportError:
        return None, "torch not installed: skipped"
    return torch, f"torch {torch.__version__} ({torch.get_num_threads()} threads)"


def load_jax():
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp  # noqa: F401
    except ImportError:
        return None, "jax not installed: skipped"
    try:
        import optax  # noqa: F401

        note = f"jax {jax.__version__} + optax"
    except ImportError:
        note = f"jax {jax.__version__} (optax not installed: hand-written jnp)"
    return jax, note


def load_scipy():
    try:
        import scipy.special
    except ImportError:
        return None, "scipy not installed: skipped"
    return scipy.special, f"scipy {__import__('scipy').__version__}"


# --------------------------------------------------------------------- implementations


def bce_implementations(z: np.ndarray, y: np.ndarray, torch, jax, sc):
    """name -> (value fn, value+grad fn); each returns arrays (computed, not lazy)."""
    impls: dict[str, tuple[Callable, Callable]] = {}
    impls["ours"] = (
        lambda: numeric.binary_cross_entropy_with_logits(z, y),
        lambda: _bce_with_logits_value_and_grad(z, y),
    )
    impls["ours, two public calls"] = (
        None,
        lambda: (
            numeric.binary_cross_entropy_with_logits(z, y),
            numeric.binary_cross_entropy_with_logits_grad(z, y),
        ),
    )

    def naive_value():
        return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))

    def naive_vg():
        with np.errstate(over="ignore"):
            return naive_value(), 1.0 / (1.0 + np.exp(-z)) - y

    impls["numpy (naive formula)"] = (naive_value, naive_vg)
    if sc is not None:

        def scipy_value():
            return -(y * sc.log_expit(z) + (1 - y) * sc.log_expit(-z))

        impls["scipy.special (log_expit/expit)"] = (
            scipy_value,
            lambda: (scipy_value(), sc.expit(z) - y),
        )
    if torch is not None:
        import torch.nn.functional as F

        tz, ty = torch.from_numpy(z), torch.from_numpy(y)

        def torch_autograd():
            zz = tz.detach().requires_grad_(True)
            loss = F.binary_cross_entropy_with_logits(zz, ty, reduction="none")
            loss.backward(torch.ones_like(loss))
            return loss.detach(), zz.grad

        impls["torch (autograd)"] = (
            lambda: F.binary_cross_entropy_with_logits(tz, ty, reduction="none"),
            torch_autograd,
        )
        impls["torch (closed-form grad)"] = (
            None,
            lambda: (
                F.binary_cross_entropy_with_logits(tz, ty, reduction="none"),
                torch.sigmoid(tz) - ty,
            ),
        )
    if jax is not None:
        import jax.numpy as jnp

        try:
            import optax

            def loss_fn(a, b):
                return optax.sigmoid_binary_cross_entropy(a, b)
        except ImportError:

            def loss_fn(a, b):
                return jnp.maximum(a, 0) - a * b + jnp.log1p(jnp.exp(-jnp.abs(a)))

        jz, jy = jnp.asarray(z), jnp.asarray(y)
        value = jax.jit(loss_fn)
        vg = jax.jit(lambda a, b: jax.vjp(lambda x: loss_fn(x, b), a)[1](jnp.ones_like(a))[0])
        both = jax.jit(lambda a, b: (loss_fn(a, b), vg(a, b)))
        impls["jax (jit, optax)"] = (
            lambda: value(jz, jy).block_until_ready(),
            lambda: jax.block_until_ready(both(jz, jy)),
        )
    return impls


def ce_implementations(logits: np.ndarray, labels: np.ndarray, torch, jax, sc):
    impls: dict[str, tuple[Callable, Callable]] = {}
    rows = np.arange(logits.shape[0])
    impls["ours"] = (
        lambda: numeric.softmax_cross_entropy(logits, labels),
        lambda: _softmax_cross_entropy_value_and_grad(logits, labels),
    )
    impls["ours, two public calls"] = (
        None,
        lambda: (
            numeric.softmax_cross_entropy(logits, labels),
            numeric.softmax_cross_entropy_grad(logits, labels),
        ),
    )

    def naive_value():
        m = logits.max(axis=-1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=-1))
        return lse - logits[rows, labels]

    def naive_vg():
        m = logits.max(axis=-1, keepdims=True)
        e = np.exp(logits - m)
        total = e.sum(axis=-1)
        loss = m[:, 0] + np.log(total) - logits[rows, labels]
        e /= total[:, None]
        e[rows, labels] -= 1.0
        return loss, e

    impls["numpy (naive formula)"] = (naive_value, naive_vg)
    if sc is not None:

        def scipy_value():
            return -sc.log_softmax(logits, axis=-1)[rows, labels]

        def scipy_vg():
            lp = sc.log_softmax(logits, axis=-1)
            loss = -lp[rows, labels]
            g = np.exp(lp, out=lp)
            g[rows, labels] -= 1.0
            return loss, g

        impls["scipy.special (log_softmax)"] = (scipy_value, scipy_vg)
    if torch is not None:
        import torch.nn.functional as F

        tz, tl = torch.from_numpy(logits), torch.from_numpy(labels)

        def torch_autograd():
            zz = tz.detach().requires_grad_(True)
            loss = F.cross_entropy(zz, tl, reduction="none")
            loss.backward(torch.ones_like(loss))
            return loss.detach(), zz.grad

        impls["torch (autograd)"] = (
            lambda: F.cross_entropy(tz, tl, reduction="none"),
            torch_autograd,
        )
    if jax is not None:
        import jax.numpy as jnp

        try:
            import optax

            def loss_fn(a, b):
                return optax.softmax_cross_entropy_with_integer_labels(a, b)
        except ImportError:

            def loss_fn(a, b):
                lse = jax.scipy.special.logsumexp(a, axis=-1)
                return lse - jnp.take_along_axis(a, b[:, None], axis=-1)[:, 0]

        jz, jl = jnp.asarray(logits), jnp.asarray(labels)
        value = jax.jit(loss_fn)

        def vjp_both(a, b):
            loss, pull = jax.vjp(lambda x: loss_fn(x, b), a)
            return loss, pull(jnp.ones_like(loss))[0]

        both = jax.jit(vjp_both)
        impls["jax (jit, optax)"] = (
            lambda: value(jz, jl).block_until_ready(),
            lambda: jax.block_until_ready(both(jz, jl)),
        )
    return impls


# ------------------------------------------------------------------------------- report


def run_task(title: str, impls: dict, which: int, elements: int, repeat: int) -> dict:
    """Time column ``which`` (0 value, 1 value+grad) of every implementation and print."""
    fns = {name: pair[which] for name, pair in impls.items() if pair[which] is not None}
    for fn in fns.values():  # warm-up (jit compilation, thread pools, page cache)
        fn()
    times = dict.fromkeys(fns, math.inf)
    for _ in range(repeat):  # round robin: a burst of load on the machine hits everyone
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name] = min(times[name], time.perf_counter() - t0)
    ours = times["ours"]
    peers = {k: v for k, v in times.items() if not k.startswith("ours")}
    fastest = min(peers, key=peers.get) if peers else None
    print(f"\n{title}  ({elements:.3g} elements, best of {repeat})")
    print(f"  {'implementation':34s} {'time':>10s} {'elements/s':>12s} {'ours/peer':>10s}")
    for name, t in sorted(times.items(), key=lambda kv: kv[1]):
        ratio = "" if name.startswith("ours") else f"{t / ours:9.2f}x"
        mark = "  <- fastest peer" if name == fastest else ""
        print(f"  {name:34s} {t * 1e3:8.1f}ms {elements / t:12.3g} {ratio:>10s}{mark}")
    if fastest is not None:
        print(f"  ours vs fastest peer ({fastest}): {peers[fastest] / ours:.2f}x")
    return times


def validation_cost(label: str, public: Callable, kernel: Callable, repeat: int) -> None:
    public(), kernel()
    tp = tk = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        public()
        t1 = time.perf_counter()
        kernel()
        t2 = time.perf_counter()
        tp, tk = min(tp, t1 - t0), min(tk, t2 - t1)
    share = max(0.0, (tp - tk) / tp)
    print(f"  {label:44s} public {tp * 1e3:7.1f}ms  unchecked {tk * 1e3:7.1f}ms  "
          f"validation {100 * share:4.1f}%")


def edge_table(torch, jax, sc) -> None:
    """What each implementation returns where the exact answer is known."""
    cases = [
        ("BCE z=-40, y=0  (exact 4.248e-18)", math.log1p(math.exp(-40.0))),
        ("BCE z=1000, y=0 (exact 1000)", 1000.0),
        ("BCE grad z=40, y=1 (exact -4.248e-18)", -1.0 / (1.0 + math.exp(40.0))),
        ("CE [0,0,0]+1e16, t=2 (exact log 3)", math.log(3.0)),
        ("CE [40,0], t=0 (exact 4.248e-18)", math.log1p(math.exp(-40.0))),
    ]
    z_bce = np.array([-40.0, 1000.0, 40.0])
    y_bce = np.array([0.0, 0.0, 1.0])
    z_ce = [np.array([[1e16, 1e16, 1e16]]), np.array([[40.0, 0.0]])]
    t_ce = [np.array([2]), np.array([0])]
    results: dict[str, list[float]] = {}

    ours_l = numeric.binary_cross_entropy_with_logits(z_bce, y_bce)
    ours_g = numeric.binary_cross_entropy_with_logits_grad(z_bce, y_bce)
    results["ours"] = [ours_l[0], ours_l[1], ours_g[2]] + [
        float(numeric.softmax_cross_entropy(a, b)[0]) for a, b in zip(z_ce, t_ce, strict=True)
    ]
    with np.errstate(over="ignore"):
        nl = np.maximum(z_bce, 0) - z_bce * y_bce + np.log1p(np.exp(-np.abs(z_bce)))
        ng = 1.0 / (1.0 + np.exp(-z_bce)) - y_bce
    naive_ce = []
    for a, b in zip(z_ce, t_ce, strict=True):
        m = a.max(axis=-1, keepdims=True)
        naive_ce.append(float(m[0, 0] + np.log(np.exp(a - m).sum()) - a[0, b[0]]))
    results["numpy (naive)"] = [nl[0], nl[1], ng[2], *naive_ce]
    if sc is not None:
        sl = -(y_bce * sc.log_expit(z_bce) + (1 - y_bce) * sc.log_expit(-z_bce))
        sg = sc.expit(z_bce) - y_bce
        sce = [float(-sc.log_softmax(a, axis=-1)[0, b[0]]) for a, b in zip(z_ce, t_ce, strict=True)]
        results["scipy.special"] = [sl[0], sl[1], sg[2], *sce]
    if torch is not None:
        import torch.nn.functional as F

        tz, ty = torch.from_numpy(z_bce), torch.from_numpy(y_bce)
        tl = F.binary_cross_entropy_with_logits(tz, ty, reduction="none").numpy()
        tg = (torch.sigmoid(tz) - ty).numpy()
        tce = [
            float(F.cross_entropy(torch.from_numpy(a), torch.from_numpy(b)))
            for a, b in zip(z_ce, t_ce, strict=True)
        ]
        results["torch"] = [tl[0], tl[1], tg[2], *tce]
    if jax is not None:
        try:
            import jax.numpy as jnp
            import optax

            jz, jy = jnp.asarray(z_bce), jnp.asarray(y_bce)
            jl = np.asarray(optax.sigmoid_binary_cross_entropy(jz, jy))
            jg = np.asarray(jax.nn.sigmoid(jz) - jy)
            ce = optax.softmax_cross_entropy_with_integer_labels
            pairs = zip(z_ce, t_ce, strict=True)
            jce = [float(ce(jnp.asarray(a), jnp.asarray(b))[0]) for a, b in pairs]
            results["jax/optax"] = [jl[0], jl[1], jg[2], *jce]
        except ImportError:
            pass
    print("\nEdge values (relative error against the exact value; 0 = exact to the last digit)")
    names = list(results)
    print(f"  {'case':40s}" + "".join(f"{n:>16s}" for n in names))
    for i, (label, exact) in enumerate(cases):
        row = ""
        for n in names:
            got = float(results[n][i])
            rel = abs(got - exact) / abs(exact)
            row += f"{rel:16.1e}"
        print(f"  {label:40s}{row}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller inputs, 3 repeats")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per entry")
    args = parser.parse_args()
    repeat = args.repeat or (3 if args.quick else 5)
    n_bce = 10**6 if args.quick else 10**7
    n_rows, n_classes = (10**4, 1000) if args.quick else (10**5, 1000)

    warnings.simplefilter("ignore")  # peers' overflow warnings on the naive formulas
    torch, torch_note = load_torch()
    jax, jax_note = load_jax()
    sc, sc_note = load_scipy()
    print(f"numpy {np.__version__}; lossproof.numeric with {_num_threads()} thread(s)")
    for note in (sc_note, torch_note, jax_note):
        print(f"  {note}")

    rng = np.random.default_rng(0)
    z = rng.standard_normal(n_bce) * 5.0
    y = (rng.random(n_bce) < 0.5).astype(np.float64)
    logits = rng.standard_normal((n_rows, n_classes)) * 3.0
    labels = rng.integers(0, n_classes, n_rows)

    print(
        "\n'ours' for value + grad is the private fused evaluation the public functions share "
        "(_bce_with_logits_value_and_grad, _softmax_cross_entropy_value_and_grad); 'ours, two "
        "public calls' times the public value and *_grad functions one after the other."
    )
    bce = bce_implementations(z, y, torch, jax, sc)
    run_task("BCE with logits: value", bce, 0, n_bce, repeat)
    run_task("BCE with logits: value + grad", bce, 1, n_bce, repeat)
    ce = ce_implementations(logits, labels, torch, jax, sc)
    run_task("Softmax CE, integer labels: value", ce, 0, logits.size, repeat)
    run_task("Softmax CE, integer labels: value + grad", ce, 1, logits.size, repeat)

    print("\nValidation cost (share of the public call spent on input checks)")
    validation_cost(
        "BCE with logits, value",
        lambda: numeric.binary_cross_entropy_with_logits(z, y),
        lambda: _bce_with_logits(z, y, want_loss=True, want_grad=False, check=False),
        repeat,
    )
    validation_cost(
        "BCE with logits, value + grad",
        lambda: _bce_with_logits_value_and_grad(z, y),
        lambda: _bce_with_logits_value_and_grad(z, y, check=False),
        repeat,
    )
    ce_args = {"axis": -1, "temperature": 1.0, "label_smoothing": 0.0}
    validation_cost(
        "softmax CE, value",
        lambda: numeric.softmax_cross_entropy(logits, labels),
        lambda: _softmax_cross_entropy(
            logits, labels, **ce_args, want_loss=True, want_grad=False, check=False
        ),
        repeat,
    )
    validation_cost(
        "softmax CE, value + grad",
        lambda: _softmax_cross_entropy_value_and_grad(logits, labels),
        lambda: _softmax_cross_entropy_value_and_grad(logits, labels, check=False),
        repeat,
    )
    edge_table(torch, jax, sc)


if __name__ == "__main__":
    main()
