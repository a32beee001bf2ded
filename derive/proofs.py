"""Generate the ``proofs/`` documents: one Markdown file per derivation plus an index.

``lossproof proofs [--out DIR] [--check] [--latex DIR]``

Each document holds the statement, the assumptions and definitions, the numbered steps
with their reasons and what they rely on, the result, how every claim was checked
(symbolically and/or numerically, at how many points and digits), the exported stable
Python code, and the cross-check figures against the mpmath oracle.

Output is deterministic — byte-identical across runs and machines: the checks use fixed
seeds, mpmath is exact to its working precision, and floating-point figures that could
differ in the last bit between platforms' libm are reported as ULP *bounds* (``≤ 1``,
``≤ 2``, ``≤ 4`` …) rather than raw values.  ``--check`` regenerates in memory and names
every file that differs from what is on disk.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from derive.core import Derivation, get, meta, names
from derive.render import latex as _latex
from derive.render import to_markdown

__all__ = ["TOPICS", "Collected", "check", "collect", "document", "index", "render_all", "write",
           "write_latex"]

#: Index sections, in order.
TOPICS = (
    ("information", "Information theory"),
    ("losses", "Losses and their gradients"),
    ("gaussian", "Gaussian distributions"),
    ("likelihood", "Maximum likelihood"),
)

POINTS = 10
DPS = 60
SEED = 0


def ulp_bound(ulp: float) -> str:
    """A platform-independent bound for a measured ULP error: ``0``, ``≤ 1``, ``≤ 2``, ``≤ 4``…"""
    if ulp != ulp:  # NaN
        return "NaN"
    if math.isinf(ulp):
        return "∞"
    if ulp == 0:
        return "0"
    return f"≤ {2 ** max(0, math.ceil(math.log2(ulp)))}"


def _domain_text(d: Derivation) -> str:
    from derive.core import IntegerRange, Interval, LogUniform, VectorOf

    def one(dom) -> str:
        if isinstance(dom, Interval):
            return f"uniform on $[{_num(dom.lo)}, {_num(dom.hi)}]$"
        if isinstance(dom, LogUniform):
            return f"log-uniform on $[{_num(dom.lo)}, {_num(dom.hi)}]$"
        if isinstance(dom, IntegerRange):
            return f"an integer in $[{_latex_any(dom.lo)}, {_latex_any(dom.hi)}]$"
        if isinstance(dom, VectorOf):
            n = dom.length if isinstance(dom.length, tuple) else (dom.length,)
            size = " \\times ".join(_latex_any(x) for x in n)
            return f"a ${size}$ array with entries {one(dom.element)}"
        return type(dom).__name__

    return "; ".join(f"${_latex(s)}$: {one(dom)}" for s, dom in d.domains.items())


def _num(x) -> str:
    return f"{float(x):g}".replace("e+", "e").replace("e", r"\times 10^{") + (
        "}" if "e" in f"{float(x):g}" else ""
    )


def _latex_any(x) -> str:
    return _latex(x) if hasattr(x, "free_symbols") else str(x)


def _checked_section(d: Derivation, reports) -> list[str]:
    out = ["## How it was checked", ""]
    out.append(
        f"Every claim below was re-checked by `lossproof`: symbolically with SymPy where it can "
        f"prove it, and always numerically — both sides evaluated with mpmath at {DPS} "
        f"significant digits at {POINTS} points (the first two at the edges of the domains), "
        f"using only the assumptions the step declares.  A step SymPy does not prove is also "
        f"searched for a counterexample over its domains, then proved by interval arithmetic "
        f"on the domain box where that works; otherwise it says it is not proved."
    )
    out += ["", "Sampling domains: " + _domain_text(d) + ".", ""]
    out += ["| claim | method | points | largest relative difference |", "|---|---|---|---|"]
    for r in reports:
        label = f"step {r.index}" if r.index <= len(d.steps) else "result"
        diff = "0" if r.max_rel_diff == 0 else f"< 1e{math.ceil(math.log10(r.max_rel_diff))}"
        # how the step was established, at the step: a sampled step says it is not proved
        method = r.method if r.checked_by == "symbolic" else f"{r.method} — {r.how}"
        out.append(f"| {label} | {method} | {r.points} | {diff} |")
    out.append("")
    return out


def _export_section(name: str, src: str | None) -> list[str]:
    if src is None:
        return [
            "## Stable code",
            "",
            "The result is a relation (an inequality, a limit or an identity between "
            "quantities), not a function of inputs, so nothing is exported.",
            "",
        ]
    return [
        "## Stable code",
        "",
        f"`lossproof export {name} --target python` (NumPy only; self-contained):",
        "",
        "```python",
        src,
        "```",
        "",
    ]


def _crosscheck_section(rows: tuple[tuple[str, int, float], ...]) -> list[str]:
    if not rows:
        return []
    out = [
        "## Cross-check against the mpmath oracle",
        "",
        "The oracle evaluates the *definition* (sums, integrals with `mpmath.quad`, derivatives "
        "with `mpmath.diff`) at 60 digits — never the closed form above — at the random and "
        "adversarial points of `lossproof verify`. Each figure is the largest error in units in "
        "the last place of float64 divided by 1 + κ, κ the condition number of the result at "
        "the point (so an ill-conditioned input is not blamed on the code), given as a "
        "power-of-two bound; a route passes `lossproof verify` at 4 or below. The naive "
        "lambdify of the textbook form is shown for comparison.",
        "",
        "| route | points | max error ÷ (1 + κ) vs oracle |",
        "|---|---|---|",
    ]
    for route, points, ulp in rows:
        out.append(f"| {route} | {points} | {ulp_bound(ulp)} ULP |")
    out.append("")
    return out


@dataclass(frozen=True)
class Collected:
    """Everything a document of one derivation shows, computed once (Markdown and HTML share it).

    ``python``/``c`` are the exported sources (``None`` for a relation, which exports
    nothing; ``c`` also ``None`` when the C target does not support the result);
    ``crosscheck`` the ``(route, points, ULP error)`` rows against the mpmath oracle."""

    derivation: Derivation
    reports: tuple
    python: str | None
    c: str | None
    crosscheck: tuple[tuple[str, int, float], ...]
    has_plot: bool


def collect(name: str) -> Collected:
    """Verify derivation ``name`` (once) and gather its exports, cross-check rows and plot flag."""
    from derive import plot

    d = get(name)
    # verified here, before rendering: the "Checked" line reports the latest verification,
    # which must be this one and not whatever checked the object before
    reports = tuple(d.verify(points=POINTS, dps=DPS, seed=SEED))
    python = c = None
    try:
        from derive.export import export_source, exportable
    except ImportError:  # the export engine is optional for documents of relations
        exportable = None
    if exportable is not None and exportable(name):
        python = export_source(name, "python").rstrip()
        try:
            c = export_source(name, "c").rstrip()
        except (ValueError, NotImplementedError):
            c = None
    try:
        from derive import verify as engine
    except ImportError:
        rows: tuple = ()
    else:
        rows = tuple(engine.crosscheck_rows(name, seed=SEED))
    return Collected(d, reports, python, c, rows, plot.has_plot(name))


def document(name: str, data: Collected | None = None) -> str:
    """The Markdown document of derivation ``name`` (from ``data`` when already collected)."""
    data = collect(name) if data is None else data
    d = data.derivation
    parts = [to_markdown(d, per_step=False).rstrip(), ""]  # "How it was checked" says it
    if data.has_plot:
        parts += ["## Picture", "", f"![{meta(name)['title']}](img/{name}.svg)", ""]
    parts += _checked_section(d, data.reports)
    parts += _export_section(name, data.python)
    parts += _crosscheck_section(data.crosscheck)
    parts += ["---", "", "[All derivations](README.md)", ""]
    return "\n".join(parts)


def index(all_names: Iterable[str]) -> str:
    """``proofs/README.md``: the derivations grouped by topic, each with its statement."""
    by_topic: dict[str, list[str]] = {}
    for n in all_names:
        by_topic.setdefault(meta(n)["topic"], []).append(n)
    out = [
        "# lossproof derivations",
        "",
        "Every document here is generated by `lossproof proofs` and kept current by the test "
        "suite. Each step of each derivation was checked by machine — symbolically where "
        "SymPy can prove it, and numerically with mpmath at 60 digits always.",
        "",
    ]
    known = [t for t, _ in TOPICS]
    for topic, heading in [*TOPICS, *[(t, t.title()) for t in sorted(by_topic) if t not in known]]:
        if topic not in by_topic:
            continue
        out += [f"## {heading}", ""]
        for n in sorted(by_topic[topic]):
            m = meta(n)
            out.append(f"- [{m['title']}]({n}.md) (`{n}`) — {m['statement']}")
        out.append("")
    return "\n".join(out)


def render_all() -> dict[str, str]:
    """Relative path -> content for every file of ``proofs/``."""
    from derive import plot

    files = {f"{n}.md": document(n) for n in names()}
    files["README.md"] = index(names())
    for n in names():
        if plot.has_plot(n):
            files[f"img/{n}.svg"] = plot.render(n, "svg").decode("utf-8")
    return files


def write(out: Path) -> list[Path]:
    """Write every document into ``out``; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for rel, text in render_all().items():
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        written.append(p)
    return written


def check(out: Path) -> list[str]:
    """Names of files in ``out`` that are missing or differ from a fresh generation."""
    stale = []
    for rel, text in render_all().items():
        p = out / rel
        if not p.exists() or p.read_text(encoding="utf-8") != text:
            stale.append(str(p))
    return stale


def write_latex(out: Path) -> list[Path]:
    """A standalone LaTeX document per derivation (compiles with ``pdflatex``), each verified
    first (as the Markdown documents are) so that every step says how it was checked."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for n in names():
        d = get(n)
        d.verify(points=POINTS, dps=DPS, seed=SEED)
        p = out / f"{n}.tex"
        p.write_text(d.to_latex(standalone=True), encoding="utf-8")
        written.append(p)
    return written
