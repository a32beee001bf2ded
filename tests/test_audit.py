"""``lossproof audit``: runs on the installed libraries, exits 0, and reports the failures
measured before the work began (issue 8):

* torch BCE with logits: loss 0 for y = 0, z <= -36.7; gradient 0 for y = 1, z > 36.7;
* softmax cross-entropy: loss 0 where the truth is below 1e-16;
* ``logsumexp(z) - z_t`` (scipy) and optax with integer labels: 2.0 instead of log 3 at a
  common offset of 1e16;
* torch ``kl_divergence(Normal, Normal)`` for nearly identical Gaussians.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import pytest

from derive import audit, cli

POINTS = "10"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One real ``lossproof audit`` (all installed libraries), shared by the tests."""
    out = tmp_path_factory.mktemp("audit")
    js, md = out / "audit.json", out / "audit.md"
    proc = subprocess.run(
        [sys.executable, "-m", "derive", "audit", "--points", POINTS, "--json", str(js),
         "--markdown", str(md)], capture_output=True, text=True, timeout=600)
    doc = json.loads(js.read_text(encoding="utf-8")) if js.exists() else None
    return proc, doc, md


def _rows(doc, implementation, quantity="value"):
    rows = [r for r in doc["rows"] if r["implementation"] == implementation
            and r["quantity"] == quantity]
    assert rows, f"no row {implementation!r} {quantity}"
    return rows[0]


def _inputs(row):
    """(parsed input dict, expected float, got float) of every failing output."""
    out = []
    for f in row["failures"]:
        text = re.sub(r" \[\d+\]$", "", f["input"])
        args = dict(kv.split("=", 1) for kv in re.split(r", (?=\w+=)", text))
        out.append(({k: eval(v) for k, v in args.items()}, float(f["expected"].split()[0]),
                    float(f["got"])))
    return out


def _needs(*mods):
    for m in mods:
        pytest.importorskip(m)


class TestCommand:
    def test_exits_0_although_peers_fail(self, run):
        proc, doc, _ = run
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert doc["schema_version"] == audit.SCHEMA_VERSION
        assert any(not r["passed"] for r in doc["rows"])

    def test_prints_the_table(self, run):
        proc, _, _ = run
        head = proc.stdout.splitlines()[0]
        for col in ("implementation", "quantity", "worst ULP", "worst rel.", "over budget",
                    "non-finite", "verdict"):
            assert col in head
        assert "rows," in proc.stdout and "failing" in proc.stdout
        assert "    worst input: " in proc.stdout  # under each failing row
        assert max(map(len, proc.stdout.splitlines())) <= 120

    def test_writes_markdown(self, run):
        _, doc, md = run
        text = md.read_text(encoding="utf-8")
        assert text.startswith("# lossproof audit")
        assert "| implementation | quantity |" in text
        assert "## Failing inputs" in text
        assert sum(1 for ln in text.splitlines() if ln.startswith("| ")) > len(doc["rows"])

    def test_lossproof_rows_for_comparison(self, run):
        _, doc, _ = run
        ours = [r for r in doc["rows"] if r["library"] == "lossproof"]
        assert len(ours) >= 15
        assert _rows(doc, "numeric.binary_cross_entropy_with_logits (+ _grad)",
                     "gradient")["passed"]

    def test_own_errors_are_user_errors(self, capsys):
        assert cli.main(["audit", "--only", "tensorflow", "--no-markdown"]) == 2
        assert "unknown ['tensorflow']" in capsys.readouterr().err

    def test_a_peer_that_raises_is_a_row_not_a_crash(self, monkeypatch, tmp_path, capsys):
        def boom(z):
            raise RuntimeError("peer broke")

        peers = [audit.Peer("scipy", "broken_log_sigmoid", "log-sigmoid",
                            lambda: {"fn": boom, "grad": None, "framework": "numpy",
                                     "integer_labels": False})]
        monkeypatch.setattr(audit, "PEERS", peers)
        md = tmp_path / "a.md"
        assert cli.main(["audit", "--only", "scipy", "--points", "0", "--markdown",
                         str(md)]) == 0
        out = capsys.readouterr().out
        assert "broken_log_sigmoid" in out and "ERROR" in out and "peer broke" in out
        assert md.exists()


class TestKnownFailures:
    def test_torch_bce_loss_zero_for_y0_below_minus_36_7(self, run):
        _needs("torch")
        row = _rows(run[1], "torch.nn.functional.binary_cross_entropy_with_logits")
        hits = [(a, e, g) for a, e, g in _inputs(row)
                if a["y"] == 0 and a["z"] <= -36.7 and g == 0 and e > 0]
        assert hits

    def test_torch_bce_gradient_zero_for_y1_above_36_7(self, run):
        _needs("torch")
        row = _rows(run[1], "torch.nn.functional.binary_cross_entropy_with_logits",
                    "gradient")
        hits = [(a, e, g) for a, e, g in _inputs(row)
                if a["y"] == 1 and a["z"] > 36.7 and g == 0 and e < 0]
        assert hits

    @pytest.mark.parametrize(("lib", "implementation"), [
        ("torch", "torch.nn.functional.cross_entropy(z, class indices)"),
        ("optax", "optax.softmax_cross_entropy"),
        ("scipy", "logsumexp(z) - z[y]"),
    ])
    def test_softmax_loss_zero_below_1e_16(self, run, lib, implementation):
        _needs(lib)
        row = _rows(run[1], implementation)
        hits = [(a, e, g) for a, e, g in _inputs(row) if 0 < e < 1e-16 and g == 0]
        assert hits

    @pytest.mark.parametrize(("lib", "implementation"), [
        ("scipy", "logsumexp(z) - z[y]"),
        ("optax", "optax.softmax_cross_entropy_with_integer_labels"),
    ])
    def test_log3_at_offset_1e16_comes_back_as_2(self, run, lib, implementation):
        _needs(lib)
        row = _rows(run[1], implementation)
        hits = [(a, e, g) for a, e, g in _inputs(row)
                if a["z"] == [1e16, 1e16, 1e16] and g == 2.0]
        assert hits and math.isclose(hits[0][1], math.log(3), rel_tol=1e-15)

    def test_torch_normal_kl_nearly_identical(self, run):
        _needs("torch")
        row = _rows(run[1], "torch.distributions.kl_divergence(Normal, Normal)")
        hits = [(a, e, g) for a, e, g in _inputs(row)
                if 0 < abs(a["mu1"] - a["mu2"]) <= 1e-8 * a["sigma1"]
                and abs(a["sigma2"] / a["sigma1"] - 1) <= 1e-9
                and abs(g - e) > 1e-2 * e]
        assert hits

    def test_findings_reproduce_from_the_printed_input(self, run):
        """The printed input, fed back to torch, gives the printed output."""
        _needs("torch")
        import torch
        import torch.nn.functional as F

        row = _rows(run[1], "torch.nn.functional.binary_cross_entropy_with_logits")
        args, _, got = _inputs(row)[0]
        z = torch.tensor([args["z"]], dtype=torch.float64)
        y = torch.tensor([args["y"]], dtype=torch.float64)
        again = F.binary_cross_entropy_with_logits(z, y, reduction="none").item()
        assert again == got
