"""``lossproof audit``: the reference checks of :mod:`derive.testing`, run on the loss
functions people actually use.

Every implementation below that is installed is evaluated in float64 at the adversarial
and random inputs of its reference quantity and compared with the mpmath reference (the
definition at >= 60 digits).  Gradients come from the library's own autodiff
(``torch.autograd``, ``jax.grad``) or from the formula people write (``expit(z) - y``).
lossproof's own ``numeric`` functions are rows too, for comparison.  A row *fails* when
some output is outside ``4 ULP × max(1, κ)`` (κ: the condition number at that input; see
:mod:`derive.testing`) or is NaN/inf where the exact value is finite.

The audit is a report: it exits 0 whether or not peers fail, and non-zero only on its own
errors.  Every finding is reproducible from the printed input (floats print round-trip).

Outputs
-------
* the table on stdout: implementation, quantity, worst error (ULP and relative),
  outputs over budget, non-finite outputs, the worst input with expected and got;
* ``--markdown PATH`` (default ``proofs/audit.md``): the same table plus, for each failing
  row, its worst inputs and the versions of everything that ran — publishable as is;
* ``--json PATH``: the versioned JSON document below.

JSON report, ``schema_version`` 1
---------------------------------
Non-finite numbers are the strings ``"inf"``/``"nan"``; ``null`` means "not applicable"::

    schema_version  1
    tool            "lossproof audit"
    settings        {"points": int, "seed": int, "dtype": "float64", "budget_ulp": float,
                     "libraries": [str]}
    versions        {"python": str, "numpy": str, "lossproof": str, <library>: str, ...}
    skipped         [{"library": str, "reason": str}]   libraries not installed
    seconds         float
    rows            [Row, ...]

Row::

    library         "torch" | "jax" | "optax" | "scipy" | "sklearn" | "lossproof"
    implementation  str: the call that was checked, e.g. "F.cross_entropy(z, y)"
    reference       str: the reference quantity (``derive.testing.reference_names()``)
    quantity        "value" | "gradient"
    integer_labels  bool
    points, outputs int: inputs evaluated, outputs compared
    max_ulp         number: worst error in float64 ULPs of the exact value
    max_rel         number: worst relative error
    over_budget     int: outputs outside the budget
    nonfinite       int: NaN/inf outputs where the exact value is finite
    passed          bool
    error           str | null: the exception the implementation raised
    worst           [{"input", "expected", "got": str, "ulp", "rel", "budget": number}]
                    up to 8 inputs, worst first (failing ones first), one per distinct
                    (expected, got) pair
    failures        the same for up to 50 failing outputs, worst first
"""

from __future__ import annotations

import importlib
import json
import math
import platform
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from derive import testing

__all__ = ["LIBRARIES", "PEERS", "SCHEMA_VERSION", "AuditReport", "Peer", "Row", "run",
           "to_markdown", "to_text"]

SCHEMA_VERSION = 1
DEFAULT_POINTS = 60
DEFAULT_MARKDOWN = "proofs/audit.md"
_MD_FAILURES = 10  # distinct failing inputs shown per row in the Markdown


@dataclass(frozen=True)
class Peer:
    """One implementation to audit.

    ``make()`` imports the library and returns the keyword arguments of
    :func:`derive.testing.check_reference` (``fn``, ``grad``, ``framework``,
    ``integer_labels``); it raises ``ImportError`` when the library is not installed.
    """

    library: str
    implementation: str
    reference: str
    make: Callable[[], dict[str, Any]]


@dataclass
class Row:
    library: str
    implementation: str
    reference: str
    quantity: str
    integer_labels: bool
    points: int = 0
    outputs: int = 0
    max_ulp: float = 0.0
    max_rel: float = 0.0
    over_budget: int = 0
    nonfinite: int = 0
    passed: bool = True
    error: str | None = None
    worst: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class AuditReport:
    settings: dict[str, Any]
    versions: dict[str, str]
    skipped: list[dict[str, str]]
    rows: list[Row]
    seconds: float = 0.0

    def to_json(self) -> str:
        doc = {"schema_version": SCHEMA_VERSION, "tool": "lossproof audit",
               "settings": self.settings, "versions": self.versions, "skipped": self.skipped,
               "seconds": round(self.seconds, 2), "rows": [asdict(r) for r in self.rows]}
        return json.dumps(_json_safe(doc), indent=2, ensure_ascii=False) + "\n"


def _json_safe(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    return x


# ----------------------------------------------------------------------- peers


def _torch() -> tuple[Any, Any]:
    import torch
    import torch.nn.functional as F

    return torch, F


def _jnp() -> Any:
    import jax.numpy as jnp

    return jnp


def _t(fn: Callable, *, grad: bool = False, integer_labels: bool = False) -> Callable:
    def make() -> dict[str, Any]:
        _torch()
        return {"fn": fn, "grad": "autodiff" if grad else None, "framework": "torch",
                "integer_labels": integer_labels}
    return make


def _j(fn_factory: Callable[[], Callable], *, grad: bool = False,
       integer_labels: bool = False) -> Callable:
    def make() -> dict[str, Any]:
        return {"fn": fn_factory(), "grad": "autodiff" if grad else None, "framework": "jax",
                "integer_labels": integer_labels}
    return make


def _np(fn_factory: Callable[[], Callable | None], grad_factory: Callable | None = None,
        *, integer_labels: bool = False) -> Callable:
    def make() -> dict[str, Any]:
        return {"fn": fn_factory(), "grad": grad_factory() if grad_factory else None,
                "framework": "numpy", "integer_labels": integer_labels}
    return make


def _torch_bce(z, y):
    return _torch()[1].binary_cross_entropy_with_logits(z, y.to(z.dtype), reduction="none")


def _torch_ce(z, y):
    return _torch()[1].cross_entropy(z, y, reduction="none")


def _torch_ce_t(z, y, t):
    return _torch()[1].cross_entropy(z / t, y, reduction="none")


def _torch_ce_ls(z, y, eps):
    return _torch()[1].cross_entropy(z, y, reduction="none", label_smoothing=eps)


def _torch_distill(s, t, temp):
    F = _torch()[1]
    return F.kl_div(F.log_softmax(s / temp, -1), F.softmax(t / temp, -1),
                    reduction="none").sum(-1) * temp**2


def _torch_kl_div(p, q):
    torch, F = _torch()
    return F.kl_div(torch.log(q), p, reduction="none").sum(-1)


def _torch_normal_kl(mu1, s1, mu2, s2):
    import torch.distributions as D

    return D.kl_divergence(D.Normal(mu1, s1), D.Normal(mu2, s2))


def _torch_mvn_kl(mu1, c1, mu2, c2):
    import torch.distributions as D

    return D.kl_divergence(D.MultivariateNormal(mu1, covariance_matrix=c1),
                           D.MultivariateNormal(mu2, covariance_matrix=c2))


def _torch_categorical_entropy(p):
    import torch.distributions as D

    return D.Categorical(probs=p).entropy()


def _optax(name: str) -> Callable:
    def factory() -> Callable:
        import optax

        return getattr(optax, name)
    return factory


def _optax_kl() -> Callable:
    import optax

    jnp = _jnp()
    return lambda p, q: optax.kl_divergence(jnp.log(q), p)


def _optax_smoothed() -> Callable:
    import optax

    return lambda z, y, eps: optax.softmax_cross_entropy(z, optax.smooth_labels(y, eps))


def _jax_attr(path: str) -> Callable[[], Callable]:
    def factory() -> Callable:
        mod, _, name = path.rpartition(".")
        return getattr(importlib.import_module(mod), name)
    return factory


def _scipy_special(name: str, **kw: Any) -> Callable[[], Callable]:
    def factory() -> Callable:
        from scipy import special

        f = getattr(special, name)
        return (lambda *a: f(*a, **kw)) if kw else f
    return factory


def _scipy_ce_indices() -> Callable:
    from scipy.special import logsumexp

    return lambda z, y: logsumexp(z, axis=-1) - np.take_along_axis(z, y[:, None], -1)[:, 0]


def _scipy_log_expit_bce() -> Callable:
    from scipy.special import log_expit

    return lambda z, y: -(y * log_expit(z) + (1 - y) * log_expit(-z))


def _scipy_expit_grad() -> Callable:
    from scipy.special import expit

    return lambda z, y: expit(z) - y


def _scipy_sum(name: str) -> Callable[[], Callable]:
    def factory() -> Callable:
        from scipy import special

        f = getattr(special, name)
        return lambda p, q: f(p, q).sum(-1)
    return factory


def _scipy_entropy(two: bool) -> Callable[[], Callable]:
    def factory() -> Callable:
        from scipy.stats import entropy

        if two:
            return lambda p, q: entropy(p, q, axis=-1)
        return lambda p: entropy(p, axis=-1)
    return factory


def _sklearn_log_loss() -> Callable:
    from sklearn.metrics import log_loss

    def per_element(p, y):
        return np.array([log_loss([int(yi)], [float(pi)], labels=[0, 1])
                         for pi, yi in zip(p, y, strict=True)])
    return per_element


def _numeric(name: str, **kw: Any) -> Callable[[], Callable]:
    def factory() -> Callable:
        import numeric

        f = getattr(numeric, name)
        return (lambda *a: f(*a, **kw)) if kw else f
    return factory


def _numeric_hyper(name: str, key: str) -> Callable[[], Callable]:
    """A ``numeric`` function whose hyper-parameter is a keyword (temperature=, ...)."""
    def factory() -> Callable:
        import numeric

        f = getattr(numeric, name)
        return lambda a, b, h: f(a, b, **{key: h})
    return factory


_T = "torch.nn.functional"
PEERS: list[Peer] = [
    Peer("torch", f"{_T}.binary_cross_entropy_with_logits", "bce-gradient",
         _t(_torch_bce, grad=True)),
    Peer("torch", f"{_T}.cross_entropy(z, class indices)", "softmax-ce-gradient",
         _t(_torch_ce, grad=True, integer_labels=True)),
    Peer("torch", f"{_T}.cross_entropy(z, probabilities)", "softmax-ce-gradient",
         _t(_torch_ce, grad=True)),
    Peer("torch", f"{_T}.cross_entropy(z, indices, label_smoothing=eps)", "label-smoothing",
         _t(_torch_ce_ls, grad=True, integer_labels=True)),
    Peer("torch", f"{_T}.cross_entropy(z / T, probabilities)", "temperature-softmax-gradient",
         _t(_torch_ce_t, grad=True)),
    Peer("torch", f"{_T}.kl_div(log_softmax(s/T), softmax(t/T)).sum(-1) * T**2",
         "distillation-gradient", _t(_torch_distill, grad=True)),
    Peer("torch", f"{_T}.kl_div(q.log(), p).sum(-1)", "kl-nonnegative", _t(_torch_kl_div)),
    Peer("torch", "torch.distributions.kl_divergence(Normal, Normal)", "gaussian-kl",
         _t(_torch_normal_kl)),
    Peer("torch", "torch.distributions.kl_divergence(MultivariateNormal, MultivariateNormal)",
         "mvn-kl", _t(_torch_mvn_kl)),
    Peer("torch", "torch.distributions.Categorical(probs=p).entropy()",
         "entropy-maximum-uniform", _t(_torch_categorical_entropy)),
    Peer("torch", f"{_T}.logsigmoid", "log-sigmoid", _t(lambda z: _torch()[1].logsigmoid(z))),
    Peer("torch", "torch.logsumexp", "logsumexp", _t(lambda z: _torch()[0].logsumexp(z, -1))),
    Peer("torch", f"{_T}.log_softmax", "log-softmax",
         _t(lambda z: _torch()[1].log_softmax(z, -1))),
    Peer("optax", "optax.sigmoid_binary_cross_entropy", "bce-gradient",
         _j(_optax("sigmoid_binary_cross_entropy"), grad=True)),
    Peer("optax", "optax.softmax_cross_entropy", "softmax-ce-gradient",
         _j(_optax("softmax_cross_entropy"), grad=True)),
    Peer("optax", "optax.softmax_cross_entropy_with_integer_labels", "softmax-ce-gradient",
         _j(_optax("softmax_cross_entropy_with_integer_labels"), grad=True,
            integer_labels=True)),
    Peer("optax", "optax.softmax_cross_entropy(z, optax.smooth_labels(y, eps))",
         "label-smoothing", _j(_optax_smoothed, grad=True)),
    Peer("optax", "optax.kl_divergence(log q, p)", "kl-nonnegative", _j(_optax_kl)),
    Peer("jax", "jax.nn.log_sigmoid", "log-sigmoid", _j(_jax_attr("jax.nn.log_sigmoid"))),
    Peer("jax", "jax.nn.logsumexp(z, axis=-1)", "logsumexp",
         _j(lambda: lambda z: _jax_attr("jax.nn.logsumexp")()(z, axis=-1))),
    Peer("jax", "jax.nn.log_softmax", "log-softmax", _j(_jax_attr("jax.nn.log_softmax"))),
    Peer("scipy", "-(y*log_expit(z) + (1-y)*log_expit(-z))", "bce-gradient",
         _np(_scipy_log_expit_bce, _scipy_expit_grad)),
    Peer("scipy", "scipy.special.log_expit", "log-sigmoid", _np(_scipy_special("log_expit"))),
    Peer("scipy", "scipy.special.logsumexp", "logsumexp",
         _np(_scipy_special("logsumexp", axis=-1))),
    Peer("scipy", "logsumexp(z) - z[y]", "softmax-ce-gradient",
         _np(_scipy_ce_indices, integer_labels=True)),
    Peer("scipy", "scipy.special.log_softmax", "log-softmax",
         _np(_scipy_special("log_softmax", axis=-1))),
    Peer("scipy", "scipy.special.rel_entr(p, q).sum(-1)", "kl-nonnegative",
         _np(_scipy_sum("rel_entr"))),
    Peer("scipy", "scipy.special.kl_div(p, q).sum(-1)", "kl-nonnegative",
         _np(_scipy_sum("kl_div"))),
    Peer("scipy", "scipy.stats.entropy(p)", "entropy-maximum-uniform",
         _np(_scipy_entropy(False))),
    Peer("scipy", "scipy.stats.entropy(p, q)", "kl-nonnegative", _np(_scipy_entropy(True))),
    Peer("sklearn", "sklearn.metrics.log_loss (per sample)", "bce-probability-gradient",
         _np(_sklearn_log_loss, integer_labels=True)),
    Peer("lossproof", "numeric.binary_cross_entropy_with_logits (+ _grad)", "bce-gradient",
         _np(_numeric("binary_cross_entropy_with_logits"),
             _numeric("binary_cross_entropy_with_logits_grad"))),
    Peer("lossproof", "numeric.binary_cross_entropy (+ _grad)", "bce-probability-gradient",
         _np(_numeric("binary_cross_entropy"), _numeric("binary_cross_entropy_grad"))),
    Peer("lossproof", "numeric.softmax_cross_entropy (+ _grad), class indices",
         "softmax-ce-gradient", _np(_numeric("softmax_cross_entropy"),
                                    _numeric("softmax_cross_entropy_grad"),
                                    integer_labels=True)),
    Peer("lossproof", "numeric.softmax_cross_entropy (+ _grad), probabilities",
         "softmax-ce-gradient", _np(_numeric("softmax_cross_entropy"),
                                    _numeric("softmax_cross_entropy_grad"))),
    Peer("lossproof", "numeric.softmax_cross_entropy(temperature=T) (+ _grad)",
         "temperature-softmax-gradient",
         _np(_numeric_hyper("softmax_cross_entropy", "temperature"),
             _numeric_hyper("softmax_cross_entropy_grad", "temperature"))),
    Peer("lossproof", "numeric.softmax_cross_entropy(label_smoothing=eps) (+ _grad)",
         "label-smoothing",
         _np(_numeric_hyper("softmax_cross_entropy", "label_smoothing"),
             _numeric_hyper("softmax_cross_entropy_grad", "label_smoothing"),
             integer_labels=True)),
    Peer("lossproof", "numeric.distillation_loss (+ _grad)", "distillation-gradient",
         _np(_numeric_hyper("distillation_loss", "temperature"),
             _numeric_hyper("distillation_loss_grad", "temperature"))),
    Peer("lossproof", "numeric.kl_divergence", "kl-nonnegative", _np(_numeric("kl_divergence"))),
    Peer("lossproof", "numeric.entropy", "entropy-maximum-uniform", _np(_numeric("entropy"))),
    Peer("lossproof", "numeric.gaussian_kl", "gaussian-kl", _np(_numeric("gaussian_kl"))),
    Peer("lossproof", "numeric.mvn_kl", "mvn-kl", _np(_numeric("mvn_kl"))),
    Peer("lossproof", "numeric.log_sigmoid", "log-sigmoid", _np(_numeric("log_sigmoid"))),
    Peer("lossproof", "numeric.logsumexp", "logsumexp", _np(_numeric("logsumexp"))),
    Peer("lossproof", "numeric.log_softmax", "log-softmax", _np(_numeric("log_softmax"))),
]

#: library -> the modules whose presence (and version) it needs
LIBRARIES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",), "jax": ("jax",), "optax": ("optax", "jax"), "scipy": ("scipy",),
    "sklearn": ("sklearn", "scipy"), "lossproof": ("numeric",),
}


# ------------------------------------------------------------------------- run


def _available(library: str) -> str | None:
    """``None`` when the library can be imported, else the reason it cannot."""
    for mod in LIBRARIES[library]:
        try:
            importlib.import_module(mod)
        except Exception as exc:  # ImportError, or a broken installation
            return f"{mod}: {type(exc).__name__}: {exc}".splitlines()[0][:200]
    return None


def _versions(libraries: Sequence[str]) -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version(), "numpy": np.__version__,
           "platform": platform.platform()}
    try:
        out["lossproof"] = metadata.version("lossproof")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        out["lossproof"] = "unknown"
    dists = {"torch": "torch", "jax": "jax", "optax": "optax", "scipy": "scipy",
             "sklearn": "scikit-learn"}
    for lib in libraries:
        if lib in dists:
            try:
                out[dists[lib]] = metadata.version(dists[lib])
            except metadata.PackageNotFoundError:
                out[dists[lib]] = "unknown"
    return out


def _rows_of(peer: Peer, report: testing.CheckReport | None, kwargs: dict,
             error: str | None) -> list[Row]:
    labels = bool(kwargs.get("integer_labels"))
    if report is None:
        return [Row(peer.library, peer.implementation, peer.reference, "value", labels,
                    passed=False, error=error)]
    rows = []
    for res in (report.value, report.grad):
        if res is None:
            continue
        rows.append(Row(
            peer.library, peer.implementation, peer.reference, res.quantity, labels,
            points=res.points, outputs=res.outputs, max_ulp=res.max_ulp,
            max_rel=res.max_rel, over_budget=res.over_budget, nonfinite=res.nonfinite,
            passed=res.passed, error=res.error,
            worst=[asdict(m) for m in res.worst],
            failures=[asdict(m) for m in res.failures]))
    return rows


def run(*, libraries: Sequence[str] | None = None, points: int = DEFAULT_POINTS,
        seed: int = 0, budget_ulp: float = testing.DEFAULT_BUDGET_ULP,
        progress: Callable[[str], None] | None = None) -> AuditReport:
    """Audit every installed implementation in :data:`PEERS` (of ``libraries``, if given)."""
    start = time.perf_counter()
    wanted = list(LIBRARIES) if libraries is None else list(libraries)
    unknown = [lib for lib in wanted if lib not in LIBRARIES]
    if unknown:
        raise ValueError(f"libraries: unknown {unknown}; choose from {list(LIBRARIES)}")
    skipped, present = [], []
    for lib in wanted:
        why = _available(lib)
        if why is None:
            present.append(lib)
        else:
            skipped.append({"library": lib, "reason": why})
    rows: list[Row] = []
    peers = [p for p in PEERS if p.library in present]
    for n, peer in enumerate(peers, start=1):
        if progress is not None:
            progress(f"[{n}/{len(peers)}] {peer.implementation}")
        kwargs: dict[str, Any] = {}
        try:
            kwargs = peer.make()
        except Exception as exc:  # e.g. a numeric function that does not exist (yet)
            rows += _rows_of(peer, None, kwargs, f"{type(exc).__name__}: {exc}")
            continue
        # the peers' floating-point warnings (overflow in exp, log of 0) are part of what
        # is being measured, not something to print
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            report = testing.check_reference(
                kwargs.pop("fn"), peer.reference, points=points, seed=seed,
                budget_ulp=budget_ulp, dtype=np.float64, **kwargs)
        rows += _rows_of(peer, report, kwargs, None)
    settings = {"points": points, "seed": seed, "dtype": "float64", "budget_ulp": budget_ulp,
                "libraries": present}
    return AuditReport(settings, _versions(present), skipped, rows,
                       time.perf_counter() - start)


# ---------------------------------------------------------------------- output


def _g(x: float) -> str:
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    if x == 0:
        return "0"
    return f"{x:.2g}" if x < 1e4 else f"{x:.1e}"


def _cells(r: Row) -> list[str]:
    if r.error is not None and r.outputs == 0:
        worst = f"error: {r.error}"
        return [r.implementation, f"{r.reference} {r.quantity}", "—", "—", "—", "—", "ERROR",
                worst[:120]]
    w = r.worst[0] if r.worst else None
    worst = f"{w['input']} → {w['got']} (exact {w['expected']})" if w else ""
    return [r.implementation, f"{r.reference} {r.quantity}", _g(r.max_ulp), _g(r.max_rel),
            f"{r.over_budget}/{r.outputs}", str(r.nonfinite), "ok" if r.passed else "FAIL",
            worst]


_HEAD = ["implementation", "quantity", "worst ULP", "worst rel.", "over budget", "non-finite",
         "verdict", "worst input → got (exact)"]


def to_text(report: AuditReport) -> str:
    """The table as printed by ``lossproof audit``."""
    rows = [_cells(r) for r in report.rows]
    widths = [max([len(h), *(len(c[i]) for c in rows)]) for i, h in enumerate(_HEAD)]
    widths[-1] = len(_HEAD[-1])  # the last column is not padded
    fmt = "  ".join([f"{{:<{w}}}" for w in widths[:-1]] + ["{}"])
    out = [fmt.format(*_HEAD), fmt.format(*["-" * w for w in widths])]
    out += [fmt.format(*c) for c in rows]
    failed = sum(not r.passed for r in report.rows)
    out.append("")
    out.append(f"{len(report.rows)} rows, {failed} failing; float64, {report.settings['points']} "
               f"random + adversarial points (seed {report.settings['seed']}); budget "
               f"{report.settings['budget_ulp']:g} ULP × max(1, condition number); "
               f"{report.seconds:.1f} s")
    for s in report.skipped:
        out.append(f"skipped {s['library']}: {s['reason']}")
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(report: AuditReport) -> str:
    """The publishable Markdown document (``proofs/audit.md``)."""
    s = report.settings
    out = ["# lossproof audit: loss functions in common libraries against the definition", "",
           "Generated by `lossproof audit`. Each implementation is evaluated in float64 at "
           "lossproof's adversarial inputs for its quantity plus "
           f"{s['points']} seeded random inputs (seed {s['seed']}), and compared with the "
           "quantity's definition evaluated by mpmath at 60 or more digits. An output fails "
           f"when its error exceeds {s['budget_ulp']:g} ULP × max(1, κ), κ being the "
           "condition number at that input (labels, one-hot targets and hyper-parameters "
           "are exact; softmax quantities are taken at shifted logits; probability vectors "
           "are perturbed on the simplex), or when it is NaN/inf where the exact value is "
           "finite. Gradients come from the library's autodiff. Inputs are printed "
           "round-trip, so every finding can be reproduced by calling the implementation on "
           "the printed input.", "",
           "Versions: " + ", ".join(f"{k} {v}" for k, v in report.versions.items()), "",
           "| " + " | ".join(_HEAD) + " |", "|" + "---|" * len(_HEAD)]
    for r in report.rows:
        cells = _cells(r)
        cells[-1] = f"`{cells[-1]}`" if cells[-1] else ""
        out.append("| " + " | ".join(_md(c) for c in cells) + " |")
    for sk in report.skipped:
        out.append("")
        out.append(f"Skipped {sk['library']} ({_md(sk['reason'])}).")
    failing = [r for r in report.rows if not r.passed and r.worst]
    if failing:
        out += ["", "## Failing inputs", "",
                "The worst inputs of each failing row (expected: the exact value to 17 "
                "digits; budget in ULPs)."]
        for r in failing:
            out += ["", f"### {_md(r.implementation)} — {r.reference} {r.quantity}", "",
                    "| input | expected | got | ULP | budget |", "|---|---|---|---|---|"]
            seen: set[tuple[str, str]] = set()
            for w in r.failures:
                if (w["expected"], w["got"]) in seen or len(seen) == _MD_FAILURES:
                    continue  # one input per distinct (expected, got) pair
                seen.add((w["expected"], w["got"]))
                out.append(f"| `{_md(w['input'])}` | {w['expected']} | {w['got']} | "
                           f"{_g(w['ulp'])} | {_g(w['budget'])} |")
            if r.over_budget > len(seen):
                out.append(f"\n({r.over_budget} failing outputs in all; `--json` lists up "
                           f"to 50.)")
    return "\n".join(out) + "\n"


def write(report: AuditReport, *, markdown: str | Path | None = DEFAULT_MARKDOWN,
          json_path: str | Path | None = None) -> list[Path]:
    """Write the Markdown and JSON documents; return the paths written."""
    written = []
    if markdown:
        p = Path(markdown)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(to_markdown(report), encoding="utf-8")
        written.append(p)
    if json_path:
        p = Path(json_path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(report.to_json(), encoding="utf-8")
        written.append(p)
    return written
