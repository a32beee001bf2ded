"""Every output says at each step how it was checked (issue 17): "proved symbolically", "proved
by interval arithmetic on [box]" or "not proved: no counterexample in N evaluations …" —
text, Markdown, LaTeX (and the notebook's aligned block), the HTML site and the standalone
LaTeX of ``lossproof proofs --latex``.  A derivation rendered without a verification (or
changed since) says nothing about how its steps were checked."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import sympy as sp

from derive import proofs, render, site
from derive.core import Derivation, Interval, Step, get

t = sp.Symbol("t", real=True)
z = sp.Symbol("z", real=True)
#: true, but SymPy does not prove it (numeric_only): the search finds no counterexample
SAMPLED = sp.Le(sp.log(t), t - 1, evaluate=False)
#: true with margin on [0.5, 3]: proved on boxes by interval arithmetic
BOXED = sp.Gt(sp.exp(z), 1 + z + z**2 / 4, evaluate=False)
NOT_PROVED = "not proved: no counterexample in "


def _derivation() -> Derivation:
    return Derivation(
        name="checked", title="Three kinds of step", statement="three kinds of step",
        topic="test",
        steps=[Step(sp.Eq(z + t, t + z, evaluate=False), "commute"),
               Step(SAMPLED, "log t is at most t - 1", numeric_only=True),
               Step(BOXED, "exp dominates its truncated series", numeric_only=True)],
        result=SAMPLED, domains={t: Interval(0.5, 2), z: Interval(0.5, 3)})


@pytest.fixture(scope="module")
def verified() -> Derivation:
    d = _derivation()
    reports = d.verify()
    assert [r.checked_by for r in reports] == ["symbolic", "sampled", "interval", "sampled"]
    return d


def _after(text: str, marker: str, until: str) -> str:
    """The part of ``text`` from ``marker`` to the next ``until`` (one step's block)."""
    start = text.index(marker)
    end = text.find(until, start + len(marker))
    return text[start:] if end < 0 else text[start:end]


class TestStepReports:
    def test_a_verified_derivation_has_one_report_per_claim(self, verified):
        assert sorted(render.step_reports(verified)) == [1, 2, 3, 4]

    def test_an_unverified_derivation_has_none(self):
        assert render.step_reports(_derivation()) == {}

    def test_a_derivation_changed_since_its_verification_has_none(self):
        d = _derivation()
        d.verify()
        d.steps.append(Step(t, "one more", relation=">="))
        assert render.step_reports(d) == {}


class TestToText:
    def test_each_step_says_how_it_was_checked(self, verified):
        text = verified.to_text()
        assert "checked: proved symbolically" in _after(text, "(1) ", "(2) ")
        assert f"checked: {NOT_PROVED}" in _after(text, "(2) ", "(3) ")
        assert "checked: proved by interval arithmetic on [0.5, 3.0]" in _after(
            text, "(3) ", "Result:")
        assert f"checked: {NOT_PROVED}" in _after(text, "Result:", "\n\n")

    def test_without_verification_nothing_is_claimed(self):
        text = _derivation().to_text()
        assert "checked" not in text and "proved" not in text


class TestToMarkdown:
    def test_each_step_says_how_it_was_checked(self, verified):
        md = verified.to_markdown()
        assert "*Checked:* proved symbolically." in _after(md, "**Step 1.**", "**Step 2.**")
        assert f"*Checked:* {NOT_PROVED}" in _after(md, "**Step 2.**", "**Step 3.**")
        assert "*Checked:* proved by interval arithmetic on [0.5, 3.0]" in _after(
            md, "**Step 3.**", "## Result")
        assert f"*Checked:* {NOT_PROVED}" in _after(md, "## Result", "*Checked:* 4 claims")

    def test_without_verification_nothing_is_claimed(self):
        md = _derivation().to_markdown()
        assert "Checked" not in md and "proved" not in md

    def test_per_step_false_leaves_the_steps_to_the_caller(self, verified):
        md = render.to_markdown(verified, per_step=False)
        assert "proved" not in md and "*Checked:* 4 claims checked" in md


class TestToLatex:
    def test_a_proved_step_is_marked_compactly(self, verified):
        tex = verified.to_latex()
        assert r"\intertext{(1) commute \textit{(proved symbolically)}:}" in tex

    def test_a_step_not_proved_symbolically_says_how_on_a_line_of_its_own(self, verified):
        tex = verified.to_latex(standalone=True)
        step2 = _after(tex, r"\intertext{(2)", r"\intertext{(3)")
        assert rf"\newline\textit{{(checked: {NOT_PROVED}" in step2
        step3 = _after(tex, r"\intertext{(3)", r"\end{align*}")
        assert r"\newline\textit{(checked: proved by interval arithmetic on [0.5, 3.0]" in step3
        assert rf"\textbf{{Result.}}\newline\textit{{(checked: {NOT_PROVED}" in tex

    def test_the_notebook_block_says_it_too(self, verified):
        block = verified._repr_latex_()
        assert r"\text{(1) commute (proved symbolically)}" in block
        assert rf"\text{{(2) log t is at most t - 1 ({NOT_PROVED}" in block

    def test_without_verification_nothing_is_claimed(self):
        d = _derivation()
        for tex in (d.to_latex(standalone=True), d._repr_latex_()):
            assert "checked" not in tex and "proved" not in tex

    @pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
    def test_the_standalone_document_compiles_without_overfull_lines(self, verified, tmp_path):
        (tmp_path / "c.tex").write_text(verified.to_latex(standalone=True), encoding="utf-8")
        run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "c.tex"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout[-2000:]
        assert "Overfull \\hbox" not in run.stdout


    @pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
    @pytest.mark.parametrize("name", ["entropy-maximum-uniform", "gaussian-kl"])
    def test_a_verified_builtin_with_sampled_steps_compiles_without_overfull_lines(
            self, name, tmp_path):
        d = get(name)
        d.verify(points=proofs.POINTS, dps=proofs.DPS, seed=proofs.SEED)
        tex = d.to_latex(standalone=True)
        assert r"\newline\textit{(checked: not proved: " in tex  # the lines under test are there
        (tmp_path / "c.tex").write_text(tex, encoding="utf-8")
        run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "c.tex"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout[-2000:]
        assert "Overfull \\hbox" not in run.stdout


class TestWriteLatex:
    def test_each_document_is_verified_and_says_how_its_steps_were_checked(
            self, tmp_path, monkeypatch):
        monkeypatch.setattr(proofs, "names", lambda: ["sigmoid-derivative"])
        (path,) = proofs.write_latex(tmp_path)
        tex = path.read_text(encoding="utf-8")
        assert tex.count(r"\textit{(proved symbolically)}") >= 1
        assert r"\textbf{Result.} \textit{(proved symbolically)}" in tex


class TestSiteHow:
    def test_each_step_says_the_reports_own_words(self, verified):
        page = site.page("checked", proofs.Collected(verified, tuple(verified.reports), None,
                                                     None, (), False), linked=())
        steps = page[page.index('id="step-1"'):]
        assert '<span class="sym">proved symbolically</span>' in _after(
            steps, 'id="step-1"', 'id="step-2"')
        assert f'<span class="num">{NOT_PROVED}' in _after(steps, 'id="step-2"', 'id="step-3"')
        assert '<span class="sym">proved by interval arithmetic on [0.5, 3.0]' in _after(
            steps, 'id="step-3"', "</li>")
        assert f'<span class="num">{NOT_PROVED}' in _after(page, 'id="result"', "</section>")
