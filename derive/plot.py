"""Pictures for the derivations that have one (``[plot]`` extra: matplotlib).

``lossproof plot NAME [-o FILE.png|.svg]``

==============================  ==========================================================
derivation                      picture
==============================  ==========================================================
``mse-vs-bce-gradient``         BCE and MSE loss and gradient against the logit: the
                                vanishing MSE gradient is visible
``bce-gradient``                BCE loss and its gradient σ(z) − y against the logit
``temperature-softmax-gradient`` softmax probabilities against the temperature
``ce-equals-entropy-plus-kl``   H(p, q) = H(p) + D(p‖q) per class, as stacked bars
``gaussian-kl``                 D(N(0, 1) ‖ N(μ₂, σ₂²)) over μ₂ and σ₂
``distillation-gradient``       the distillation gradient against the temperature
==============================  ==========================================================

All numbers come from ``numeric`` (the verified NumPy functions).  SVG output is
deterministic (fixed hash salt, no date, text kept as text), so the images committed
under ``proofs/img/`` can be checked for staleness byte by byte.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["PLOTS", "figure", "has_plot", "render", "save"]


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plots need matplotlib: pip install 'lossproof[plot]'"
        ) from None
    plt.rcParams.update(
        {
            "svg.hashsalt": "lossproof",
            "svg.fonttype": "none",
            "figure.dpi": 100,
            "font.size": 10,
            "axes.grid": True,
            "grid.alpha": 0.3,
        }
    )
    return plt


def _bce_panels(plt, with_mse: bool):
    import numeric

    z = np.linspace(-8.0, 8.0, 401)
    y = np.ones_like(z)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6))
    bce = numeric.binary_cross_entropy_with_logits(z, y)
    grad = numeric.binary_cross_entropy_with_logits_grad(z, y)
    ax1.plot(z, bce, label="BCE: softplus(z) − y z")
    ax2.plot(z, grad, label="BCE: σ(z) − y")
    if with_mse:
        s = numeric.sigmoid(z)
        ax1.plot(z, (s - y) ** 2, label="MSE: (σ(z) − y)²")
        ax2.plot(z, 2 * (s - y) * s * (1 - s), label="MSE: 2(σ − y) σ (1 − σ)")
    ax1.set(xlabel="logit z (target y = 1)", ylabel="loss (nats)", title="Loss")
    ax2.set(xlabel="logit z (target y = 1)", ylabel="∂L/∂z (nats per unit logit)",
            title="Gradient")
    for ax in (ax1, ax2):
        ax.legend(loc="best", fontsize=8)
    if with_mse:
        fig.suptitle("MSE on a sigmoid output: the gradient vanishes where the model is wrong")
    fig.tight_layout()
    return fig


def _plot_mse_vs_bce(plt):
    return _bce_panels(plt, with_mse=True)


def _plot_bce(plt):
    return _bce_panels(plt, with_mse=False)


def _plot_temperature(plt):
    import numeric

    logits = np.array([2.0, 1.0, 0.1, -1.0])
    temps = np.geomspace(0.1, 10.0, 300)
    probs = numeric.softmax(logits[None, :] / temps[:, None], axis=-1)
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for k in range(logits.size):
        ax.plot(temps, probs[:, k], label=f"class {k + 1} (z = {logits[k]:g})")
    ax.axhline(1 / logits.size, color="grey", lw=0.8, ls="--", label="uniform 1/K")
    ax.set_xscale("log")
    ax.set(xlabel="temperature T", ylabel="softmax(z / T) (probability)",
           title="Softmax under temperature: T → 0 is arg-max, T → ∞ is uniform")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _plot_ce_decomposition(plt):
    import numeric

    p = np.array([0.6, 0.3, 0.1])
    q = np.array([0.33, 0.33, 0.34])
    with np.errstate(divide="ignore"):
        h_terms = -p * np.log2(p)
        kl_terms = p * np.log2(p / q)
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    x = np.arange(p.size)
    ax.bar(x, h_terms, label="entropy term −p log₂ p")
    ax.bar(x, kl_terms, bottom=h_terms, label="KL term p log₂(p/q) (stacked)")
    ax.set_xticks(x, [f"class {k + 1}\np = {p[k]:.2f}, q = {q[k]:.2f}" for k in x])
    h = float(numeric.entropy(p, base=2))
    kl = float(numeric.kl_divergence(p, q, base=2))
    ce = float(numeric.cross_entropy(p, q, base=2))
    ax.set(ylabel="contribution (bits)",
           title=f"H(p, q) = {ce:.4f} = H(p) {h:.4f} + D(p‖q) {kl:.4f} bits")
    ax.axhline(0, color="black", lw=0.6)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _plot_gaussian_kl(plt):
    import numeric

    mu2 = np.linspace(-3.0, 3.0, 121)
    s2 = np.geomspace(0.25, 4.0, 121)
    m, s = np.meshgrid(mu2, s2)
    kl = numeric.gaussian_kl(0.0, 1.0, m, s)
    # the grid passes through μ₂ = 0, σ₂ = 1, where KL = 0 has no place on a log colour
    # scale: values below the lowest level (1e-3) are drawn in the lowest band
    kl = np.maximum(kl, 1e-3)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    cs = ax.contourf(m, s, kl, levels=np.geomspace(1e-3, float(kl.max()), 15), cmap="viridis",
                     norm=_lognorm(plt))
    fig.colorbar(cs, ax=ax, label="D(N(0, 1) ‖ N(μ₂, σ₂²)) (nats)")
    ax.set_yscale("log")
    ax.plot([0], [1], marker="o", color="white")
    ax.set(xlabel="μ₂", ylabel="σ₂", title="Gaussian KL from N(0, 1): zero only at μ₂ = 0, σ₂ = 1")
    fig.tight_layout()
    return fig


def _lognorm(plt):
    from matplotlib.colors import LogNorm

    return LogNorm()


def _plot_distillation(plt):
    import numeric

    s = np.array([1.5, 0.2, -0.7, -1.0])
    t = np.array([2.5, 0.5, -1.0, -2.0])
    s, t = s - s.mean(), t - t.mean()
    temps = np.geomspace(0.5, 50.0, 200)
    grads = np.stack([numeric.distillation_loss_grad(s, t, temperature=float(T)) for T in temps])
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for k in range(s.size):
        (line,) = ax.plot(temps, grads[:, k], label=f"∂L/∂s_{k + 1}")
        ax.axhline((s[k] - t[k]) / s.size, color=line.get_color(), ls=":", lw=0.9)
    ax.set_xscale("log")
    ax.set(xlabel="temperature T", ylabel="∂L/∂s_i (nats per unit logit)",
           title="Distillation gradient T(p_s − p_t) → (s − t)/K as T → ∞ (dotted)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


#: derivation name -> figure builder
PLOTS: dict[str, Callable] = {
    "mse-vs-bce-gradient": _plot_mse_vs_bce,
    "bce-gradient": _plot_bce,
    "temperature-softmax-gradient": _plot_temperature,
    "ce-equals-entropy-plus-kl": _plot_ce_decomposition,
    "gaussian-kl": _plot_gaussian_kl,
    "distillation-gradient": _plot_distillation,
}


def has_plot(name: str) -> bool:
    return name in PLOTS


def figure(name: str):
    """The matplotlib figure for derivation ``name`` (``KeyError`` if it has none)."""
    if name not in PLOTS:
        have = ", ".join(sorted(PLOTS))
        raise KeyError(f"derivation {name!r} has no plot; plots exist for {have}")
    return PLOTS[name](_plt())


def render(name: str, fmt: str = "svg") -> bytes:
    """The picture as bytes (``svg`` or ``png``), deterministically."""
    if fmt not in ("svg", "png"):
        raise ValueError(f"format: must be svg or png, got {fmt!r}")
    plt = _plt()
    fig = figure(name)
    buf = io.BytesIO()
    meta = {"Date": None} if fmt == "svg" else {"Software": None}
    fig.savefig(buf, format=fmt, metadata=meta)
    plt.close(fig)
    return buf.getvalue()


def save(name: str, path: Path) -> Path:
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("svg", "png"):
        raise ValueError(f"output: the file must end in .svg or .png, got {path.name!r}")
    path.write_bytes(render(name, fmt))
    return path
