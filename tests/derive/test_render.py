"""derive.render: text, Markdown ($$ blocks, numbered steps with reasons and reliances) and
LaTeX (align* body; a complete document with --standalone), σ printed as \\sigma."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import sympy
from sympy import Eq, Function, Symbol

import derive
from derive import render
from derive.core import (
    Assumption,
    Definition,
    Derivation,
    Identity,
    IntegerRange,
    Interval,
    Step,
    VectorOf,
)
from derive.functions import sigmoid

z = Symbol("z", real=True)
L = Function("L")
SIGMA_PRIME = Identity("derivative of the sigmoid",
                       Eq(sympy.Derivative(sigmoid(z), z), sigmoid(z) * (1 - sigmoid(z))),
                       {z: Interval(-10, 10)})


@pytest.fixture(scope="module")
def small() -> Derivation:
    """log σ(z) differentiated — uses σ, an identity, a continuation and an inequality."""
    d = Derivation(
        name="log-sigmoid-slope",
        title="Slope of log σ",
        statement="d/dz log σ(z) = 1 − σ(z) ∈ (0, 1) & more_than_0",
        topic="test",
        steps=[
            Step(Eq(L(z), sympy.log(sigmoid(z))), "definition"),
            Step(Eq(sympy.Derivative(L(z), z), sigmoid(z) * (1 - sigmoid(z)) / sigmoid(z)),
                 "chain rule: d log u = u′/u", relies_on=(SIGMA_PRIME,)),
            Step(1 - sigmoid(z), "cancel σ(z) > 0"),
            Step(sympy.S.Zero, "σ(z) < 1", relation=">="),
        ],
        result=Eq(sympy.Derivative(L(z), z), 1 - sigmoid(z)),
        domains={z: Interval(-20, 20)},
        definitions=[Definition(L(z), sympy.log(sigmoid(z)))],
        parameters=(z,),
    )
    d.verify()
    return d


class TestText:
    def test_numbered_steps_with_reasons_and_reliances(self, small):
        text = small.to_text()
        assert text.startswith("Slope of log σ\n==============\n")
        for i, step in enumerate(small.steps, start=1):
            assert f"({i}) " in text
            assert f"because: {step.reason}" in text
        assert "relies on: identity derivative of the sigmoid" in text
        assert "    ≥ 0" in text  # the inequality continuation
        assert "Result: ∂L(z)/∂z = 1 - σ(z)" in text

    def test_unicode_one_line_forms(self):
        from derive.render import _text

        zv, x = sympy.IndexedBase("z"), sympy.IndexedBase("x")
        k, j, n, K = sympy.symbols("k j n K", integer=True)
        mu1, sig = sympy.symbols("mu1 sigma", positive=True)
        assert _text(sympy.Sum(zv[k] ** 2, (k, 1, K))) == "Σ_{k=1..K} z_k²"
        # a sum inside a quotient is parenthesised: the division is not under the Σ
        assert _text(sympy.Sum(x[j], (j, 1, n)) / n) == "(Σ_{j=1..n} x_j)/n"
        assert _text(sympy.Derivative(sympy.Function("L")(mu1), mu1, 2)) == "∂²L(μ₁)/∂μ₁²"
        assert _text(sympy.KroneckerDelta(j, k)) == "δ_{j,k}"
        assert _text(sympy.sqrt(2 * sympy.pi) * sig) == "√(2)·√(π)·σ"
        assert _text(sympy.Pow(2 * sympy.pi, k / 2)) == "(2·π)^(k/2)"

    def test_reports_how_it_was_checked(self, small):
        assert "5 claims checked (4 steps and the result)" in small.to_text()

    def test_deterministic(self, small):
        assert small.to_text() == small.to_text()


class TestMarkdown:
    def test_math_in_double_dollar_blocks(self, small):
        md = small.to_markdown()
        blocks = re.findall(r"\n\$\$\n(.+?)\n\$\$\n", md, flags=re.S)
        assert len(blocks) == len(small.steps) + 1  # every step and the result
        assert r"\sigma\left(z\right)" in blocks[0]
        assert blocks[-1].startswith(r"\frac{d}{d z} L{\left(z \right)} = 1 - \sigma")

    def test_numbered_steps_reasons_and_relies_on(self, small):
        md = small.to_markdown()
        assert md.startswith("# Slope of log σ\n")
        for i, step in enumerate(small.steps, start=1):
            assert f"**Step {i}.** {step.reason}" in md
        assert "Relies on: identity *derivative of the sigmoid*: $" in md
        assert "## Derivation" in md and "## Result" in md

    def test_heading_level_and_notebook_repr(self, small):
        assert small.to_markdown() == small._repr_markdown_()
        assert render.to_markdown(small, heading_level=2).startswith("## Slope")

    def test_information_derivation(self):
        md = derive.get("kl-nonnegative").to_markdown()
        assert r"D_{\mathrm{KL}}\left(p \,\|\, q\right)" in md
        assert r"\sum_{k=1}^{K}" in md
        assert r"\ge 0" in md


class TestLatex:
    def test_align_body(self, small):
        tex = small.to_latex()
        assert tex.startswith("\\begin{align*}\n") and tex.endswith("\\end{align*}\n")
        assert tex.count(r"\intertext{") == len(small.steps)
        assert r"\sigma\left(z\right)" in tex
        assert r"&\ge 0" in tex
        assert "documentclass" not in tex

    def test_standalone_is_a_complete_document(self, small):
        tex = small.to_latex(standalone=True)
        assert tex.startswith("\\documentclass")
        assert "\\begin{document}" in tex and tex.rstrip().endswith("\\end{document}")
        assert small.to_latex() in tex
        assert "\\textbf{Result.}" in tex

    def test_text_is_escaped_for_latex(self, small):
        tex = small.to_latex(standalone=True)
        assert r"more\_than\_0" in tex and r"\&" in tex
        # Unicode in reasons and statements becomes LaTeX, so that pdflatex compiles it
        assert not re.search(r"[^\x00-\x7f]", tex), "non-ASCII left in the document"
        assert r"\ensuremath{\sigma}" in tex and r"\ensuremath{-}" in tex

    def test_notebook_display_is_an_aligned_block(self, small):
        out = small._repr_latex_()
        assert out.startswith("$$\\begin{aligned}") and out.endswith("\\end{aligned}$$")
        assert r"\sigma" in out

    def test_long_sums_are_broken_after_whole_terms(self):
        tex = derive.get("mutual-information-identities").to_latex()
        for row in tex.splitlines():
            if row.startswith(("&\\phantom", " &", "I\\left")):
                assert len(row) < 200

    def test_relations_print_unevaluated(self):
        assert render.latex(sympy.Ge(z, z, evaluate=False)) == r"z \ge z"
        assert render.latex(Eq(z, 1)) == "z = 1"


def hostile_names(marker: Path, text: str) -> Derivation:
    r"""A derivation whose symbol, vector and matrix are all named ``\input{marker}`` (and
    whose title, statement, reason and assumption name are ``text``)."""
    name = rf"\input{{{marker}}}"
    u, v, m = Symbol(name, real=True), sympy.IndexedBase(name), sympy.MatrixSymbol(name, 2, 2)
    k, big_k, loss, t = Symbol("k", integer=True), Symbol("K", integer=True), Symbol("L"), \
        Symbol("T")
    expr = u**2 + sympy.Sum(v[k], (k, 1, big_k))
    return Derivation(
        name="hostile-names", title=text, statement=text, topic="test",
        steps=[Step(Eq(loss, expr), text, relies_on=(Assumption(text, sympy.Ge(u, 0)), text)),
               Step(expr + t - t, text)],
        result=Eq(loss, expr),
        domains={big_k: IntegerRange(1, 3), u: Interval(0, 1), v: VectorOf(big_k, Interval(0, 1))},
        definitions=[Definition(loss, expr), Definition(t, sympy.Trace(m))],
    )


class TestHostileNames:
    r"""No name is emitted as markup: ``\input{MARKER}`` is printed as literal text."""

    def test_no_input_command_in_any_output(self, tmp_path):
        d = hostile_names(tmp_path / "marker", "plain text")
        outputs = [d.to_latex(), d.to_latex(standalone=True), d._repr_latex_(), d.to_markdown()]
        for out in outputs:
            assert r"\input" not in out
            assert r"\mathtt{{\backslash}input\{" in out

    def test_text_fields_are_escaped_too(self, tmp_path):
        d = hostile_names(tmp_path / "marker", rf"\input{{{tmp_path / 'marker'}}} $ # % &")
        for out in (d.to_latex(standalone=True), d._repr_latex_()):
            assert r"\input" not in out

    @pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
    def test_pdflatex_compiles_it_without_reading_the_marker(self, tmp_path):
        marker = tmp_path / "marker"
        marker.with_suffix(".tex").write_text("\\typeout{LOSSPROOF-MARKER-READ}\n")
        d = hostile_names(marker, rf"\input{{{marker}}} $ # % & ~ ^ _" + "\n\n\x07 ^^5c")
        (tmp_path / "doc.tex").write_text(d.to_latex(standalone=True))
        run = subprocess.run(
            ["pdflatex", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error",
             "-recorder", "doc.tex"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        log = (tmp_path / "doc.log").read_text(errors="replace")
        assert run.returncode == 0, log[-2000:]
        assert "LOSSPROOF-MARKER-READ" not in log
        assert "marker.tex" not in (tmp_path / "doc.fls").read_text(errors="replace")
