"""The CLI fails cleanly (issue 11, item 8; issue 16's ``--version`` and audit output):
every user mistake is one line ``lossproof: error: …`` with exit status 2, output paths are
checked before any work starts, and ``audit`` writes only where it is told."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from derive import audit, cli, plot, proofs, verify
from derive.cli import main

UNWRITABLE = "/sys/kernel/lossproof-test-output"  # EACCES even for root


@pytest.fixture
def no_work(monkeypatch):
    """Every long-running entry point, replaced by one that records being called."""
    calls: list[str] = []

    def recorder(label):
        def called(*args, **kwargs):
            calls.append(label)
            raise AssertionError(f"{label} ran although the command line was wrong")

        return called

    for mod, fn in ((verify, "run"), (audit, "run"), (proofs, "write"), (proofs, "check"),
                    (proofs, "write_latex"), (plot, "save")):
        monkeypatch.setattr(mod, fn, recorder(f"{mod.__name__}.{fn}"))
    return calls


@pytest.fixture
def one_peer(monkeypatch):
    """The audit reduced to one quick row: scipy's ``log_expit`` as log σ."""
    def make():
        from scipy.special import log_expit

        return {"fn": log_expit, "grad": None, "framework": "numpy", "integer_labels": False}

    monkeypatch.setattr(audit, "PEERS", [audit.Peer("scipy", "log_expit", "log-sigmoid", make)])


def _one_line_error(capsys, argv, *fragments):
    status = main(argv)
    out, err = capsys.readouterr()
    assert status == 2, (out, err)
    assert out == "" and err.startswith("lossproof: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for f in fragments:
        assert f in err, err
    return err


def _unwritable_dir(tmp_path: Path) -> str:
    """A folder this process cannot create files in (a read-only one when not root)."""
    if os.geteuid() == 0:
        return str(Path(UNWRITABLE).parent)
    ro = tmp_path / "read-only"
    ro.mkdir()
    ro.chmod(0o500)
    return str(ro)


class TestOutputPathsBeforeWork:
    """Each path error: exit 2, one line naming the option, and no derivation work."""

    @pytest.mark.parametrize("command", [["verify", "sigmoid-derivative"], ["audit"]])
    def test_json_in_a_missing_folder(self, capsys, no_work, tmp_path, command):
        _one_line_error(capsys, [*command, "--json", str(tmp_path / "no" / "r.json")],
                        "--json", "does not exist")
        assert no_work == []

    @pytest.mark.parametrize("command", [["verify", "sigmoid-derivative"], ["audit"]])
    @pytest.mark.parametrize("where", ["/", "."])
    def test_json_to_a_folder(self, capsys, no_work, command, where):
        _one_line_error(capsys, [*command, "--json", where], "--json", "is a folder")
        assert no_work == []

    @pytest.mark.parametrize("command", [["verify", "sigmoid-derivative"], ["audit"]])
    def test_json_to_an_unwritable_place(self, capsys, no_work, tmp_path, command):
        target = str(Path(_unwritable_dir(tmp_path)) / "r.json")
        _one_line_error(capsys, [*command, "--json", target], "--json", "cannot write")
        assert no_work == [] and not Path(target).exists()

    def test_json_under_a_file(self, capsys, no_work, tmp_path):
        (tmp_path / "f").write_text("", encoding="utf-8")
        _one_line_error(capsys, ["verify", "--json", str(tmp_path / "f" / "r.json")],
                        "--json", "is not a folder")
        assert no_work == []

    def test_audit_markdown_to_a_folder(self, capsys, no_work, tmp_path):
        _one_line_error(capsys, ["audit", "--markdown", str(tmp_path)], "--markdown")
        assert no_work == []

    @pytest.mark.parametrize("name", ["x.txt", "x", "x.svg.pdf"])
    def test_plot_with_an_unsupported_suffix(self, capsys, no_work, tmp_path, name):
        _one_line_error(capsys, ["plot", "gaussian-kl", "-o", str(tmp_path / name)],
                        "-o/--output", ".svg or .png")
        assert no_work == [] and not (tmp_path / name).exists()

    def test_plot_into_a_missing_folder(self, capsys, no_work, tmp_path):
        _one_line_error(capsys, ["plot", "gaussian-kl", "-o", str(tmp_path / "no" / "p.svg")],
                        "does not exist")
        assert no_work == []

    @pytest.mark.parametrize("extra", [[], ["--check"]])
    def test_proofs_out_is_a_file(self, capsys, no_work, tmp_path, extra):
        f = tmp_path / "proofs.md"
        f.write_text("mine", encoding="utf-8")
        _one_line_error(capsys, ["proofs", "--out", str(f), *extra], "--out", "is a file")
        assert no_work == [] and f.read_text(encoding="utf-8") == "mine"

    def test_proofs_latex_is_a_file(self, capsys, no_work, tmp_path):
        f = tmp_path / "tex"
        f.write_text("", encoding="utf-8")
        _one_line_error(capsys, ["proofs", "--latex", str(f)], "--latex", "is a file")
        assert no_work == []

    def test_proofs_check_with_latex(self, capsys, no_work, tmp_path):
        _one_line_error(capsys, ["proofs", "--latex", str(tmp_path), "--check"], "--check")
        assert no_work == []

    def test_proofs_out_unwritable(self, capsys, no_work, tmp_path):
        _one_line_error(capsys, ["proofs", "--out", str(Path(_unwritable_dir(tmp_path)) / "p")],
                        "--out", "cannot write")
        assert no_work == []

    def test_proofs_check_of_a_missing_folder(self, capsys, no_work, tmp_path):
        _one_line_error(capsys, ["proofs", "--check", "--out", str(tmp_path / "none")],
                        "--out", "does not exist")
        assert no_work == []

    def test_an_existing_file_is_probed_without_being_changed(self, capsys, no_work,
                                                              tmp_path):
        f = tmp_path / "keep.md"
        f.write_text("precious", encoding="utf-8")
        before = f.stat().st_mtime_ns
        # --markdown is probed first, then --json fails
        _one_line_error(capsys, ["audit", "--markdown", str(f), "--json", "/"], "--json")
        assert f.read_text(encoding="utf-8") == "precious" and f.stat().st_mtime_ns == before

    def test_a_probed_new_file_is_removed_again(self, capsys, no_work, tmp_path):
        f = tmp_path / "new.md"
        _one_line_error(capsys, ["audit", "--markdown", str(f), "--json", "/"], "--json")
        assert not f.exists()


class TestWriteFailsAtTheEnd:
    def test_verify_json_to_dev_full(self, capsys, tmp_path, monkeypatch):
        monkeypatch.setenv("LOSSPROOF_CACHE_DIR", str(tmp_path))
        status = main(["verify", "sigmoid-derivative", "--points", "0", "-j", "1",
                       "--json", "/dev/full"])
        out, err = capsys.readouterr()
        assert status == 2 and "1/1 passed" in out
        (line,) = [ln for ln in err.splitlines() if ln.startswith("lossproof:")]
        assert line.startswith("lossproof: error: --json: cannot write /dev/full")
        assert "Traceback" not in err

    def test_audit_json_to_dev_full(self, capsys, one_peer):
        status = main(["audit", "--only", "scipy", "--points", "0", "--json", "/dev/full"])
        err = capsys.readouterr().err
        assert status == 2 and "Traceback" not in err
        assert err.splitlines()[-1].startswith("lossproof: error: --json: cannot write")


class TestBounds:
    @pytest.mark.parametrize(("args", "fragment"), [
        (["verify", "--dps", "49"], "--dps: must be between 50 and 1000"),
        (["verify", "--dps", "100000"], "--dps: must be between 50 and 1000"),
        (["verify", "--points", "1000000000000"], "--points: must be between 0 and 100000"),
        (["verify", "--points", "-1"], "--points"),
        (["verify", "--seed", "-1"], "--seed: must be >= 0"),
        (["verify", "-j", "0"], "-j/--jobs"),
        (["audit", "--points", "10001"], "--points: must be between 0 and 10000"),
        (["audit", "--seed", "-3"], "--seed"),
    ])
    def test_out_of_range_is_refused_before_running(self, capsys, no_work, args, fragment):
        _one_line_error(capsys, args, fragment)
        assert no_work == []

    @pytest.mark.parametrize("value", [str(cli.MAX_DPS), "50"])
    def test_the_bounds_themselves_are_accepted(self, monkeypatch, value):
        seen = {}
        monkeypatch.setattr(verify, "run", lambda *a, **kw: seen.update(kw) or verify.Report(
            results=[], points=kw["points"], seed=0, dps=kw["dps"], jobs=1))
        assert main(["verify", "--dps", value, "--points", str(cli.MAX_POINTS)]) == 0
        assert seen["dps"] == int(value) and seen["points"] == cli.MAX_POINTS

    def test_the_bounds_are_in_the_help(self, capsys):
        assert main(["verify", "--help"]) == 0
        help_text = " ".join(capsys.readouterr().out.split())
        assert f"50 to {cli.MAX_DPS}" in help_text and f"0 to {cli.MAX_POINTS}" in help_text


class TestArgparseErrors:
    @pytest.mark.parametrize("argv", [["verify", "--points", "many"], ["frobnicate"], [],
                                      ["show"], ["export", "bce-gradient", "--target", "f"],
                                      ["verify", "--no-such-option"]])
    def test_usage_errors_are_one_line_and_exit_2(self, capsys, argv):
        _one_line_error(capsys, argv, "--help")

    def test_the_console_script_agrees(self):
        proc = subprocess.run([sys.executable, "-m", "derive", "verify", "--dps", "1e9"],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("lossproof: error:")


class TestVersion:
    def test_prints_the_package_version(self, capsys):
        assert main(["--version"]) == 0
        out = capsys.readouterr().out
        assert out == f"lossproof {importlib.metadata.version('lossproof')}\n"

    def test_the_console_script_prints_it(self):
        proc = subprocess.run([sys.executable, "-m", "derive", "--version"],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and proc.stdout.startswith("lossproof ")
        assert proc.stdout.split()[1] == importlib.metadata.version("lossproof")


class TestAuditWritesOnlyWhereTold:
    @pytest.fixture
    def project(self, tmp_path, monkeypatch):
        """A folder like a checkout, with a tracked proofs/audit.md."""
        (tmp_path / "proofs").mkdir()
        tracked = tmp_path / "proofs" / "audit.md"
        tracked.write_text("tracked", encoding="utf-8")
        monkeypatch.chdir(tmp_path)
        return tmp_path

    def _files(self, root: Path) -> set[str]:
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}

    def test_json_only_leaves_proofs_audit_md_alone(self, capsys, one_peer, project):
        assert main(["audit", "--only", "scipy", "--points", "0", "--json", "a.json"]) == 0
        assert (project / "proofs" / "audit.md").read_text(encoding="utf-8") == "tracked"
        assert self._files(project) == {"proofs/audit.md", "a.json"}
        assert "wrote a.json" in capsys.readouterr().err

    def test_no_options_write_nothing(self, capsys, one_peer, project):
        assert main(["audit", "--only", "scipy", "--points", "0"]) == 0
        assert self._files(project) == {"proofs/audit.md"}
        assert (project / "proofs" / "audit.md").read_text(encoding="utf-8") == "tracked"

    def test_markdown_proofs_audit_md_regenerates_the_published_table(self, capsys, one_peer,
                                                                       project):
        assert main(["audit", "--only", "scipy", "--points", "0", "--markdown",
                     audit.DEFAULT_MARKDOWN]) == 0
        text = (project / "proofs" / "audit.md").read_text(encoding="utf-8")
        assert text.startswith("# lossproof audit") and "log_expit" in text

    def test_the_library_writes_nothing_by_default(self, project):
        report = audit.AuditReport(rows=[], settings={}, versions={}, skipped=[],
                                   seconds=0.0)
        assert audit.write(report) == []
        assert self._files(project) == {"proofs/audit.md"}

    def test_markdown_and_no_markdown_conflict(self, capsys, no_work):
        _one_line_error(capsys, ["audit", "--markdown", "a.md", "--no-markdown"],
                        "not allowed")


class TestStandardOutput:
    def test_a_full_disk_is_one_line_and_exit_2(self):
        with open("/dev/full", "w") as full:
            proc = subprocess.run([sys.executable, "-m", "derive", "list"], stdout=full,
                                  stderr=subprocess.PIPE, text=True, timeout=120)
        assert proc.returncode == 2
        assert proc.stderr == ("lossproof: error: cannot write to standard output: "
                               "No space left on device\n")

    def test_a_closed_pipe_stops_quietly(self):
        proc = subprocess.Popen([sys.executable, "-m", "derive", "show", "gaussian-kl"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.close()  # the reader is gone before anything was written
        assert proc.wait(timeout=120) == 0
        assert proc.stderr.read() == b""
        proc.stderr.close()
