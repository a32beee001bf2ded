"""The committed proofs/ folder is current, deterministic, and its LaTeX compiles."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import derive
from derive import proofs
from derive.cli import main

ROOT = Path(__file__).resolve().parents[2]


class TestProofsFolder:
    def test_committed_proofs_are_current(self):
        stale = proofs.check(ROOT / "proofs")
        assert stale == [], f"stale proofs (run `lossproof proofs`): {stale}"

    def test_generation_is_deterministic(self):
        assert proofs.render_all() == proofs.render_all()

    def test_every_derivation_has_a_document_and_an_index_entry(self):
        files = proofs.render_all()
        index = files["README.md"]
        for name in derive.names():
            assert f"{name}.md" in files
            assert f"({name}.md)" in index

    def test_documents_state_how_they_were_checked(self):
        doc = proofs.document(derive.names()[0])
        assert "## How it was checked" in doc
        assert "$$" in doc

    def test_check_names_a_stale_file(self, tmp_path, capsys):
        proofs.write(tmp_path)
        victim = tmp_path / f"{derive.names()[0]}.md"
        victim.write_text(victim.read_text() + "edited\n")
        assert main(["proofs", "--out", str(tmp_path), "--check"]) == 1
        assert victim.name in capsys.readouterr().err


class TestUlpBound:
    @pytest.mark.parametrize(
        ("ulp", "text"),
        [(0.0, "0"), (0.3, "≤ 1"), (1.0, "≤ 1"), (1.5, "≤ 2"), (3.0, "≤ 4"), (float("inf"), "∞")],
    )
    def test_bounds_are_powers_of_two(self, ulp, text):
        assert proofs.ulp_bound(ulp) == text


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
class TestLatexCompiles:
    @pytest.mark.parametrize("name", derive.names())
    def test_standalone_document_compiles_without_overfull_lines(self, name, tmp_path):
        tex = tmp_path / f"{name}.tex"
        tex.write_text(derive.get(name).to_latex(standalone=True))
        run = subprocess.run(
            ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )
        assert run.returncode == 0, run.stdout[-2000:]
        assert (tmp_path / f"{name}.pdf").stat().st_size > 1000
        # "overfull-box disasters": a line sticking out by more than 30 pt
        over = [ln for ln in run.stdout.splitlines() if ln.startswith("Overfull \\hbox")]
        too_wide = [ln for ln in over if float(ln.split("(")[1].split("pt")[0]) > 30.0]
        assert too_wide == [], too_wide
