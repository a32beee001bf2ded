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

``figure(NAME)`` returns a ``matplotlib.figure.Figure`` built without pyplot and without
selecting a backend (a notebook's backend, pyplot's figures and ``rcParams`` are left
alone); Jupyter displays it inline.  All numbers come from ``numeric`` (the verified NumPy
functions).  SVG output is
deterministic (fixed hash salt, no date, text kept as text), so the images committed
under ``proofs/img/`` can be checked for staleness byte by byte.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # matplotlib is optional: imported when a figure is built
    from matplotlib.figure import Figure

__all__ = ["PLOTS", "figure", "has_plot", "render", "save"]


#: matplotlib settings of every picture, applied while it is built and saved (never globally)
_RC = {
    "svg.hashsalt": "lossproof",
    "svg.fonttype": "none",
    "figure.dpi": 100,
    "font.size": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
}


def _mpl():
    """matplotlib, imported without selecting a backend (ImportError naming the extra)."""
    try:
        import matplotlib
        import matplotlib.figure  # the Figure class: no pyplot, no backend
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'lossproof[plot]'") from None
    return matplotlib


@functools.cache
def _figure_class():
    from matplotlib.figure import Figure

    class PlotFigure(Figure):
        """A matplotlib ``Figure`` that Jupyter displays inline (``_repr_png_``) with no
        pyplot state and no backend switch: it draws itself when displayed."""

        def _repr_png_(self) -> bytes:
            buf = io.BytesIO()
            with _mpl().rc_context(_RC):
                self.savefig(buf, format="png", metadata={"Software": None})
            return buf.getvalue()

    return PlotFigure


class _Figures:
    """``plt.subplots`` without pyplot: new figures of the displayable class."""

    def __init__(self) -> None:
        self._cls = _figure_class()

    def subplots(self, nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float]):
        fig = self._cls(figsize=figsize)
        return fig, fig.subplots(nrows, ncols)


def _bce_panels(figs, with_mse: bool):
    import numeric

    z = np.linspace(-8.0, 8.0, 401)
    y = np.ones_like(z)
    fig, (ax1, ax2) = figs.subplots(1, 2, figsize=(9, 3.6))
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


def _plot_mse_vs_bce(figs):
    return _bce_panels(figs, with_mse=True)


def _plot_bce(figs):
    return _bce_panels(figs, with_mse=False)


def _plot_temperature(figs):
    import numeric

    logits = np.array([2.0, 1.0, 0.1, -1.0])
    temps = np.geomspace(0.1, 10.0, 300)
    probs = numeric.softmax(logits[None, :] / temps[:, None], axis=-1)
    fig, ax = figs.subplots(figsize=(6.5, 3.8))
    for k in range(logits.size):
        ax.plot(temps, probs[:, k], label=f"class {k + 1} (z = {logits[k]:g})")
    ax.axhline(1 / logits.size, color="grey", lw=0.8, ls="--", label="uniform 1/K")
    ax.set_xscale("log")
    ax.set(xlabel="temperature T", ylabel="softmax(z / T) (probability)",
           title="Softmax under temperature: T → 0 is arg-max, T → ∞ is uniform")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _plot_ce_decomposition(figs):
    import numeric

    p = np.array([0.6, 0.3, 0.1])
    q = np.array([0.33, 0.33, 0.34])
    with np.errstate(divide="ignore"):
        h_terms = -p * np.log2(p)
        kl_terms = p * np.log2(p / q)
    fig, ax = figs.subplots(figsize=(6.5, 3.8))
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


def _plot_gaussian_kl(figs):
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import LogFormatterSciNotation, LogLocator, NullFormatter

    import numeric

    mu2 = np.linspace(-3.0, 3.0, 121)
    s2 = np.geomspace(0.25, 4.0, 121)
    m, s = np.meshgrid(mu2, s2)
    kl = numeric.gaussian_kl(0.0, 1.0, m, s)
    # the grid passes through μ₂ = 0, σ₂ = 1, where KL = 0 has no place on a log colour
    # scale: values below the lowest level (1e-3) are drawn in the lowest band
    kl = np.maximum(kl, 1e-3)
    fig, ax = figs.subplots(figsize=(6.5, 4.2))
    # three bands per decade, from 10⁻³ to the decade above the largest value: the colour
    # bar's ticks are the decades, labelled 10⁻³ … 10²
    top = math.ceil(math.log10(float(kl.max())))
    cs = ax.contourf(m, s, kl, levels=np.logspace(-3, top, 3 * (top + 3) + 1), cmap="viridis",
                     norm=LogNorm())
    fig.colorbar(cs, ax=ax, label="D(N(0, 1) ‖ N(μ₂, σ₂²)) (nats)",
                 ticks=LogLocator(base=10, numticks=top + 4),
                 format=LogFormatterSciNotation(base=10))
    ax.set_yscale("log")
    ax.set_yticks([0.25, 0.5, 1.0, 2.0, 4.0], labels=["0.25", "0.5", "1", "2", "4"])
    ax.yaxis.set_minor_formatter(NullFormatter())  # no "3×10⁻¹" between them
    ax.plot([0], [1], marker="o", color="white")
    ax.set(xlabel="μ₂", ylabel="σ₂", title="Gaussian KL from N(0, 1): zero only at μ₂ = 0, σ₂ = 1")
    fig.tight_layout()
    return fig


def _plot_distillation(figs):
    import numeric

    s = np.array([1.5, 0.2, -0.7, -1.0])
    t = np.array([2.5, 0.5, -1.0, -2.0])
    s, t = s - s.mean(), t - t.mean()
    temps = np.geomspace(0.5, 50.0, 200)
    grads = np.stack([numeric.distillation_loss_grad(s, t, temperature=float(T)) for T in temps])
    fig, ax = figs.subplots(figsize=(6.5, 3.8))
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


def figure(name: str) -> Figure:
    """The matplotlib figure of derivation ``name`` (``KeyError`` if it has none).

    A ``matplotlib.figure.Figure`` built without pyplot: the current backend, pyplot's
    figures and the global ``rcParams`` are left as they were.  In Jupyter it displays
    inline as a PNG image (``_repr_png_``); elsewhere save it with ``savefig`` or use
    :func:`render` / :func:`save`.
    """
    if name not in PLOTS:
        have = ", ".join(sorted(PLOTS))
        raise KeyError(f"derivation {name!r} has no plot; plots exist for {have}")
    with _mpl().rc_context(_RC):
        return PLOTS[name](_Figures())


def render(name: str, fmt: str = "svg") -> bytes:
    """The picture as bytes (``svg`` or ``png``), deterministically."""
    if fmt not in ("svg", "png"):
        raise ValueError(f"format: must be svg or png, got {fmt!r}")
    fig = figure(name)
    buf = io.BytesIO()
    meta = {"Date": None} if fmt == "svg" else {"Software": None}
    with _mpl().rc_context(_RC):
        fig.savefig(buf, format=fmt, metadata=meta)
    return buf.getvalue()


def save(name: str, path: Path) -> Path:
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("svg", "png"):
        raise ValueError(f"output: the file must end in .svg or .png, got {path.name!r}")
    path.write_bytes(render(name, fmt))
    return path
