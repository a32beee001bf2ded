"""The committed proofs/ folder is current, deterministic, and its LaTeX compiles."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import derive
from derive import proofs
from derive.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    """One generation of every proofs/ file (it re-checks every derivation: seconds)."""
    return proofs.render_all()


class TestProofsFolder:
    def test_committed_proofs_are_current(self, files):
        on_disk = ROOT / "proofs"
        stale = [rel for rel, text in files.items()
                 if not (on_disk / rel).exists()
                 or (on_disk / rel).read_text(encoding="utf-8") != text]
        assert stale == [], f"stale proofs (run `lossproof proofs`): {stale}"

    def test_a_document_does_not_depend_on_earlier_checks(self, files):
        name = "sigmoid-derivative"
        derive.get(name).verify(points=9, dps=50, seed=5)  # as another test might
        assert proofs.document(name) == files[f"{name}.md"]

    def test_generation_is_deterministic(self, files):
        # a second generation of a document with a table of checks, an export and a picture;
        # across machines, test_committed_proofs_are_current compares with another machine's
        name = "gaussian-kl"
        assert proofs.document(name) == files[f"{name}.md"]
        assert f"img/{name}.svg" in files
        from derive import plot

        assert plot.render(name, "svg").decode("utf-8") == files[f"img/{name}.svg"]

    def test_documents_are_identical_under_cpu_load(self, files):
        # another process with a cold SymPy cache, beside one busy loop per core: nothing a
        # document says may depend on how long a check took (no clock decides a verdict) nor
        # on what was checked before.  gaussian-kl holds the slowest symbolic proof (its
        # result, by integrating moments: 1.4 s of CPU, which an 8 s alarm cut off under
        # load); binary-as-two-class-softmax has five steps proved by simplify.
        names = ["gaussian-kl", "binary-as-two-class-softmax"]
        script = ("import json, sys\nfrom derive import proofs\n"
                  "print(json.dumps({n: proofs.document(n) for n in sys.argv[1:]}))")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                   for _ in range(os.cpu_count() or 2)]
        try:
            run = subprocess.run([sys.executable, "-c", script, *names], capture_output=True,
                                 text=True, env=env, timeout=900)
        finally:
            for b in burners:
                b.kill()
                b.wait()
        assert run.returncode == 0, run.stderr[-2000:]
        loaded = json.loads(run.stdout)
        for name in names:
            assert loaded[name] == files[f"{name}.md"], name

    def test_every_derivation_has_a_document_and_an_index_entry(self, files):
        index = files["README.md"]
        for name in derive.names():
            assert f"{name}.md" in files
            assert f"({name}.md)" in index

    def test_documents_state_how_they_were_checked(self, files):
        doc = files[f"{derive.names()[0]}.md"]
        assert "## How it was checked" in doc
        assert "$$" in doc

    def test_check_names_a_stale_file(self, files, tmp_path, capsys, monkeypatch):
        monkeypatch.setattr(proofs, "render_all", lambda: files)
        proofs.write(tmp_path)
        assert main(["proofs", "--out", str(tmp_path), "--check"]) == 0
        capsys.readouterr()
        victim = tmp_path / f"{derive.names()[0]}.md"
        victim.write_text(victim.read_text() + "edited\n")
        (tmp_path / "img" / "gaussian-kl.svg").unlink()
        assert main(["proofs", "--out", str(tmp_path), "--check"]) == 1
        err = capsys.readouterr().err
        assert victim.name in err and "gaussian-kl.svg" in err


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
