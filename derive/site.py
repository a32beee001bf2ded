"""``lossproof proofs --html DIR``: the proofs as a static site, maths as MathML.

One page per derivation (statement, assumptions, definitions, the numbered steps with their
reasons, what each relies on and how it was checked, the result, the picture, the table of
checks, the exported Python and C source, the cross-check against the mpmath oracle) and an
index by topic.  The data are the Markdown documents' (:func:`derive.proofs.collect`: one
verification per derivation); the maths is MathML Core from
:class:`derive._mathml.SafeMathMLPrinter`, which browsers render natively.  No JavaScript,
nothing fetched from the network: one local stylesheet, and the SVG pictures copied beside
the pages.  Every name and every piece of prose is XML-escaped, so a symbol called
``<script>`` is shown, never run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from html import escape
from pathlib import Path

import sympy

from derive import proofs
from derive._mathml import mathml, mathml_relation
from derive.core import (
    Assumption,
    Definition,
    Derivation,
    EarlierResult,
    Identity,
    IntegerRange,
    Interval,
    LogUniform,
    VectorOf,
    meta,
    names,
)

__all__ = ["CSS", "index_page", "page", "render_site", "write_site"]

CSS = """\
body { font-family: Georgia, "DejaVu Serif", serif; line-height: 1.5; color: #1b1b1b;
       background: #fff; margin: 0; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem 2rem 3rem; }
nav { font-size: 0.9rem; margin-bottom: 1rem; }
h1 { font-size: 1.8rem; margin-bottom: 0.3rem; }
h2 { font-size: 1.3rem; border-bottom: 1px solid #ddd; margin-top: 2rem; }
math { font-size: 1.1em; font-family: "Latin Modern Math", "STIX Two Math", math; }
math[display="block"] { margin: 0.5rem 0; overflow-x: auto; overflow-y: hidden; }
ol.steps { padding-left: 0; list-style: none; }
ol.steps > li { border-left: 3px solid #6a8fbf; padding: 0.2rem 0 0.2rem 1rem;
                margin: 1rem 0; }
.step-no { font-weight: bold; }
.relies, .checked { font-size: 0.9rem; color: #444; margin: 0.2rem 0; }
.checked .sym { color: #1d6b2f; }
.checked .num { color: #8a5a00; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.6rem; text-align: left; }
pre { background: #f6f6f6; padding: 0.8rem; overflow-x: auto; font-size: 0.85rem; }
img { max-width: 100%; height: auto; }
.topic li { margin: 0.4rem 0; }
code { font-family: "DejaVu Sans Mono", monospace; }
"""


def _t(text: str) -> str:
    """Prose (Unicode maths and all) as HTML text: ``& < > " '`` escaped."""
    return escape(text, quote=True)


_CODE = re.compile(r"`([^`\n]+)`")


def _prose(text: str) -> str:
    """Prose as HTML: escaped, with Markdown's `code` spans (derivation names) as ``<code>``."""
    return _CODE.sub(r"<code>\1</code>", _t(text))


def _points(n: int) -> str:
    return "1 point" if n == 1 else f"{n} points"


def _html(title: str, body: list[str]) -> str:
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_t(title)}</title>",
        '<link rel="stylesheet" href="style.css">',
        "</head>",
        "<body>",
        "<main>",
        *body,
        "</main>",
        "</body>",
        "</html>",
        "",
    ])


def _inline(e: sympy.Basic) -> str:
    return mathml(e).replace('<math display="block">', '<math display="inline">', 1)


def _define(df: Definition) -> str:
    block = mathml_relation(df.symbol, ":=", df.expr)
    return block.replace('<math display="block">', '<math display="inline">', 1)


def _reliance(r: object, linked: frozenset[str]) -> str:
    if isinstance(r, Assumption):
        return f"assumption <em>{_t(r.name)}</em>: {_inline(r.statement)}"
    if isinstance(r, Identity):
        return f"identity <em>{_t(r.name)}</em>: {_inline(r.statement)}"
    if isinstance(r, Definition):
        return f"definition {_define(r)}"
    if isinstance(r, EarlierResult):
        if r.name in linked:
            return f'the result of <a href="{_t(r.name)}.html"><code>{_t(r.name)}</code></a>'
        return f"the result of <code>{_t(r.name)}</code>"
    return _t(str(r))


def _bound(x: float) -> str:
    return "0" if x == 0 else f"&lt; 1e{math.ceil(math.log10(x))}"


def _how(report) -> str:
    """How one claim was checked, as a line under its step: the report's own words ("proved
    symbolically", "proved by interval arithmetic on [box]", "not proved: …")."""
    if report is None:
        return ""
    if report.definition:
        what = "a definition (holds by construction)"
    else:
        cls = "num" if report.checked_by == "sampled" else "sym"
        what = (f'<span class="{cls}">{_t(report.how)}</span>; checked numerically '
                f"at {_points(report.points)}")
    return (f'<p class="checked">Checked: {what}; largest relative difference '
            f"{_bound(report.max_rel_diff)}.</p>")


def _steps(d: Derivation, reports, linked: frozenset[str]) -> list[str]:
    by_index = {r.index: r for r in reports}
    out = ["<section>", "<h2>Derivation</h2>", '<ol class="steps">']
    for i, step in enumerate(d.steps, start=1):
        if step.starts_line:
            lhs, rel, rhs = step.expr.lhs, _REL[type(step.expr)], step.expr.rhs
        else:
            lhs, rel, rhs = None, step.relation, step.expr
        out += [f'<li id="step-{i}">',
                f'<p><span class="step-no">Step {i}.</span> {_prose(step.reason)}</p>',
                mathml_relation(lhs, rel, rhs)]
        if step.relies_on:
            out.append('<p class="relies">Relies on: '
                       + "; ".join(_reliance(r, linked) for r in step.relies_on) + ".</p>")
        out += [_how(by_index.get(i)), "</li>"]
    out += ["</ol>", "</section>"]
    return out


_REL = {sympy.Eq: "=", sympy.Le: "<=", sympy.Ge: ">=", sympy.Lt: "<", sympy.Gt: ">"}


def _num(x: object) -> str:
    return _t(f"{float(x):g}")


def _domain(dom: object) -> str:
    if isinstance(dom, Interval):
        return f"uniform on [{_num(dom.lo)}, {_num(dom.hi)}]"
    if isinstance(dom, LogUniform):
        return f"log-uniform on [{_num(dom.lo)}, {_num(dom.hi)}]"
    if isinstance(dom, IntegerRange):
        return f"an integer in [{_any(dom.lo)}, {_any(dom.hi)}]"
    if isinstance(dom, VectorOf):
        n = dom.length if isinstance(dom.length, tuple) else (dom.length,)
        return f"a {' × '.join(_any(x) for x in n)} array with entries {_domain(dom.element)}"
    return _t(type(dom).__name__)


def _any(x: object) -> str:
    return _inline(x) if isinstance(x, sympy.Basic) else _t(str(x))


def _checked(d: Derivation, reports) -> list[str]:
    out = ["<section>", "<h2>How it was checked</h2>",
           f"<p>Every claim was re-checked by <code>lossproof</code>: symbolically with SymPy "
           f"where it can prove it, and always numerically — both sides evaluated with mpmath "
           f"at {proofs.DPS} significant digits at {proofs.POINTS} points (the first two at "
           f"the edges of the domains), using only the assumptions the step declares.</p>",
           "<p>Sampling domains: "
           + "; ".join(f"{_inline(s)}: {_domain(dom)}" for s, dom in d.domains.items())
           + ".</p>",
           "<table>", "<tr><th>claim</th><th>method</th><th>points</th>"
           "<th>largest relative difference</th></tr>"]
    for r in reports:
        label = f'<a href="#step-{r.index}">step {r.index}</a>' if r.index <= len(d.steps) \
            else '<a href="#result">result</a>'
        out.append(f"<tr><td>{label}</td><td>{_t(r.method)}</td><td>{r.points}</td>"
                   f"<td>{_bound(r.max_rel_diff)}</td></tr>")
    out += ["</table>", "</section>"]
    return out


def _code(name: str, data: proofs.Collected) -> list[str]:
    out = ["<section>", "<h2>Stable code</h2>"]
    if data.python is None:
        return [*out, "<p>The result is a relation (an inequality, a limit or an identity "
                "between quantities), not a function of inputs, so nothing is exported.</p>",
                "</section>"]
    out += [f"<p><code>lossproof export {_t(name)} --target python</code> "
            "(NumPy only; self-contained):</p>",
            f'<pre><code class="language-python">{_t(data.python)}</code></pre>']
    if data.c is not None:
        out += [f"<p><code>lossproof export {_t(name)} --target c</code> (C99):</p>",
                f'<pre><code class="language-c">{_t(data.c)}</code></pre>']
    return [*out, "</section>"]


def _crosscheck(rows) -> list[str]:
    if not rows:
        return []
    out = ["<section>", "<h2>Cross-check against the mpmath oracle</h2>",
           "<p>The oracle evaluates the <em>definition</em> (sums, integrals with "
           "<code>mpmath.quad</code>, derivatives with <code>mpmath.diff</code>) at 60 digits — "
           "never the closed form above — at the random and adversarial points of "
           "<code>lossproof verify</code>. Each figure is the largest error in units in the "
           "last place of float64 divided by 1 + κ, κ the condition number of the result at "
           "the point, given as a power-of-two bound; a route passes <code>lossproof "
           "verify</code> at 4 or below. The naive lambdify of the textbook form is shown "
           "for comparison.</p>",
           "<table>", "<tr><th>route</th><th>points</th>"
           "<th>max error ÷ (1 + κ) vs oracle</th></tr>"]
    for route, points, ulp in rows:
        out.append(f"<tr><td>{_t(route)}</td><td>{points}</td>"
                   f"<td>{_t(proofs.ulp_bound(ulp))} ULP</td></tr>")
    return [*out, "</table>", "</section>"]


def page(name: str, data: proofs.Collected, linked: Iterable[str] | None = None) -> str:
    """The HTML page of derivation ``name`` from its collected data.

    ``linked``: the derivations that have pages beside this one (default: all), which an
    earlier result it relies on links to."""
    d = data.derivation
    pages = frozenset(names() if linked is None else linked)
    body = ['<nav><a href="index.html">All derivations</a></nav>',
            f"<h1>{_t(d.title)}</h1>",
            f"<p><strong>Statement.</strong> {_prose(d.statement)}</p>"]
    if d.assumptions():
        body += ["<section>", "<h2>Assumptions</h2>", "<ul>"]
        body += [f"<li>{_reliance(a, pages)}</li>" for a in d.assumptions()]
        body += ["</ul>", "</section>"]
    if d.definitions:
        body += ["<section>", "<h2>Definitions</h2>", "<ul>"]
        body += [f"<li>{_define(df)}"
                 + (f" — {_t(df.note)}" if df.note else "") + "</li>" for df in d.definitions]
        body += ["</ul>", "</section>"]
    body += _steps(d, data.reports, pages)
    result_report = next((r for r in data.reports if r.index > len(d.steps)), None)
    body += ['<section id="result">', "<h2>Result</h2>", mathml(d.result), _how(result_report)]
    if d.notes:
        body.append(f"<p>{_prose(d.notes)}</p>")
    body.append("</section>")
    if data.has_plot:
        body += ["<section>", "<h2>Picture</h2>",
                 f'<img src="img/{_t(name)}.svg" alt="{_t(d.title)}">', "</section>"]
    body += _checked(d, data.reports)
    body += _code(name, data)
    body += _crosscheck(data.crosscheck)
    body.append('<nav><a href="index.html">All derivations</a></nav>')
    return _html(d.title, body)


def index_page(all_names: Iterable[str]) -> str:
    """``index.html``: the derivations grouped by topic, each with its statement."""
    by_topic: dict[str, list[str]] = {}
    for n in all_names:
        by_topic.setdefault(meta(n)["topic"], []).append(n)
    body = ["<h1>lossproof derivations</h1>",
            "<p>Every page here is generated by <code>lossproof proofs --html</code>. Each step "
            "of each derivation was checked by machine — symbolically where SymPy can prove "
            "it, and numerically with mpmath at 60 digits always.</p>"]
    known = [t for t, _ in proofs.TOPICS]
    extra = [(t, t.title()) for t in sorted(by_topic) if t not in known]
    for topic, heading in [*proofs.TOPICS, *extra]:
        if topic not in by_topic:
            continue
        body += ['<section class="topic">', f"<h2>{_t(heading)}</h2>", "<ul>"]
        for n in sorted(by_topic[topic]):
            m = meta(n)
            body.append(f'<li><a href="{_t(n)}.html">{_t(m["title"])}</a> '
                        f"(<code>{_t(n)}</code>) — {_t(m['statement'])}</li>")
        body += ["</ul>", "</section>"]
    return _html("lossproof derivations", body)


def render_site(selected: Iterable[str] | None = None) -> dict[str, str]:
    """Relative path -> content of every file of the site (all derivations by default)."""
    from derive import plot

    chosen = list(names() if selected is None else selected)
    unknown = [n for n in chosen if n not in names()]
    if unknown:
        raise ValueError(f"selected: unknown derivation(s) {', '.join(map(repr, unknown))}")
    files = {"style.css": CSS, "index.html": index_page(chosen)}
    for n in chosen:
        data = proofs.collect(n)
        files[f"{n}.html"] = page(n, data, chosen)
        if data.has_plot:
            files[f"img/{n}.svg"] = plot.render(n, "svg").decode("utf-8")
    return files


def write_site(out: Path, selected: Iterable[str] | None = None) -> list[Path]:
    """Write the site into folder ``out`` (created if missing); return the paths written."""
    if not isinstance(out, Path):
        raise TypeError(f"out: a pathlib.Path is needed, got {type(out).__name__}")
    files = render_site(selected)
    written = []
    for rel, text in files.items():
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        written.append(p)
    return written
