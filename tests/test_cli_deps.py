"""Optional dependencies are checked before a long run, not after it (issue 16).

``lossproof proofs --check`` once ran for 6 minutes and only then said matplotlib was
missing.  matplotlib is made unimportable (``sys.modules['matplotlib'] = None``) and the
long work is replaced by a recorder: the command must stop first, in one line naming the
extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

from derive import proofs
from derive.cli import main

INSTALL = "pip install 'lossproof[plot]'"


@pytest.fixture
def no_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)


@pytest.fixture
def ran(monkeypatch) -> list[str]:
    """Which of the long proofs/ runs were started (none may be)."""
    calls: list[str] = []
    monkeypatch.setattr(proofs, "check", lambda out: calls.append("check") or [])
    monkeypatch.setattr(proofs, "write", lambda out: calls.append("write") or [])
    monkeypatch.setattr(proofs, "write_latex", lambda out: calls.append("write_latex") or [])
    return calls


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lossproof: error: "), err
    return err


class TestProofsCommand:
    def test_check_stops_before_the_run_naming_the_extra(self, no_matplotlib, ran, tmp_path,
                                                         capsys):
        assert main(["proofs", "--check", "--out", str(tmp_path)]) == 2
        assert ran == []
        assert INSTALL in _one_line_error(capsys)

    def test_write_stops_before_the_run_naming_the_extra(self, no_matplotlib, ran, tmp_path,
                                                         capsys):
        assert main(["proofs", "--out", str(tmp_path / "out")]) == 2
        assert ran == [] and not (tmp_path / "out").exists()
        assert "matplotlib" in _one_line_error(capsys)

    def test_latex_needs_no_matplotlib(self, no_matplotlib, ran, tmp_path):
        assert main(["proofs", "--latex", str(tmp_path)]) == 0
        assert ran == ["write_latex"]

    def test_with_matplotlib_the_run_starts(self, ran, tmp_path):
        pytest.importorskip("matplotlib")
        assert main(["proofs", "--check", "--out", str(tmp_path)]) == 0
        assert ran == ["check"]


class TestPlotCommand:
    def test_missing_matplotlib_is_one_line_naming_the_extra(self, tmp_path):
        # a real interpreter without matplotlib, end to end
        out = tmp_path / "bce.svg"
        code = ("import sys; sys.modules['matplotlib'] = None\n"
                "from derive.cli import main\n"
                f"sys.exit(main(['plot', 'bce-gradient', '-o', {str(out)!r}]))\n")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and INSTALL in done.stderr, done.stderr
        assert not out.exists()
