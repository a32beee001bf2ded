"""End-to-end tests of ``lossproof verify``: the table, the exit status, the JSON report."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from derive.cli import main

NAMES = ["sigmoid-derivative", "bce-gradient"]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cli-cache")


@pytest.fixture(autouse=True)
def _private_cache(cache_dir, monkeypatch):
    monkeypatch.setenv("LOSSPROOF_CACHE_DIR", str(cache_dir))


def test_prints_the_table_and_exits_0(capsys, tmp_path):
    report = tmp_path / "report.json"
    status = main(["verify", *NAMES, "--points", "4", "-j", "1", "--json", str(report)])
    out, err = capsys.readouterr()
    assert status == 0, out + err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["derivation", "steps", "sym/box/smp"]
    for name in NAMES:
        (row,) = [ln for ln in lines if ln.startswith(name + " ")]
        assert row.split()[-1] == "pass"
    assert "2/2 passed" in out
    doc = json.loads(report.read_text())
    assert doc["schema_version"] == 1 and doc["passed"] is True
    assert [d["name"] for d in doc["derivations"]] == NAMES


def test_progress_goes_to_stderr_one_line_per_derivation(capsys):
    main(["verify", "sigmoid-derivative", "--points", "2", "-j", "1"])
    _, err = capsys.readouterr()
    assert err.strip().startswith("verify [1/1] sigmoid-derivative: pass")


def test_broken_numeric_function_exits_1(capsys, monkeypatch):
    import numeric

    monkeypatch.setattr(numeric, "binary_cross_entropy_with_logits_grad",
                        lambda z, y: 1 / (1 + np.exp(-np.asarray(z))) - y)
    status = main(["verify", "bce-gradient", "--points", "4", "-j", "1"])
    out, _ = capsys.readouterr()
    assert status == 1
    (row,) = [ln for ln in out.splitlines() if ln.startswith("bce-gradient ")]
    assert row.split()[-1] == "FAIL"
    assert "FAIL bce-gradient: numeric.binary_cross_entropy_with_logits_grad" in out


def test_unknown_name_is_one_line_and_exit_2(capsys):
    status = main(["verify", "bce-gradiant"])
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "unknown derivation 'bce-gradiant'" in err
    assert "bce-gradient" in err  # the suggestion


@pytest.mark.parametrize("args", [["--dps", "20"], ["--points", "-1"], ["-j", "0"]])
def test_bad_options_exit_2(capsys, args):
    assert main(["verify", "sigmoid-derivative", *args]) == 2
    assert capsys.readouterr().err.startswith("lossproof: error:")


def test_the_console_script_runs(cache_dir):
    """`python -m derive verify NAME` in a fresh process, with two jobs."""
    proc = subprocess.run(
        [sys.executable, "-m", "derive", "verify", "sigmoid-derivative",
         "bce-probability-gradient", "--points", "2", "-j", "2"],
        capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "LOSSPROOF_CACHE_DIR": str(cache_dir)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2/2 passed" in proc.stdout and "Traceback" not in proc.stderr
