"""``lossproof verify`` and its step cache, end to end (issue 11, item 5).

The stale-cache test runs ``verify mle-gaussian`` from a *copy* of the sources in a fresh
process: primed by the unbroken copy, then with ``normal_pdf`` broken in the copy's
``derive/gaussian.py`` — a module ``mle-gaussian`` imports only inside a function, which
the old key (the topic module and what it imports at module level) did not cover.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import derive
from derive import stepcache
from derive.cli import main

ROOT = Path(derive.__file__).parent.parent
PDF = "return exp(-(t - m) ** 2 / (2 * s**2)) / (sqrt(2 * pi) * s)"
BROKEN_PDF = "return exp(-(t - m) ** 2 / (2 * s**2)) / (sqrt(pi) * s)"  # not normalised


def _env(copy: Path, cache: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(copy), "LOSSPROOF_CACHE_DIR": str(cache)}


def _verify(copy: Path, cache: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "derive", "verify", "mle-gaussian",
                           "--points", "0", "-j", "1", "--json", str(copy / "r.json")],
                          capture_output=True, text=True, timeout=900, env=_env(copy, cache),
                          cwd=copy)


def _steps(copy: Path) -> dict:
    return json.loads((copy / "r.json").read_text())["derivations"][0]["steps"]


@pytest.fixture(scope="module")
def primed(tmp_path_factory):
    """A copy of the sources, and a cache primed by ``verify mle-gaussian`` on it."""
    base = tmp_path_factory.mktemp("stale")
    copy, cache = base / "copy", base / "cache"
    for pkg in ("derive", "numeric"):
        shutil.copytree(ROOT / pkg, copy / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    where = subprocess.run([sys.executable, "-c", "import derive.gaussian as g; print(g.__file__)"],
                           capture_output=True, text=True, timeout=300, env=_env(copy, cache),
                           cwd=copy)
    assert Path(where.stdout.strip()) == copy / "derive" / "gaussian.py"  # the copy runs
    first = _verify(copy, cache)
    assert first.returncode == 0, first.stdout + first.stderr
    assert not _steps(copy)["cached"] and _steps(copy)["passed"]
    (entry,) = (cache / "steps").glob("mle-gaussian-*.json")
    return copy, cache, entry


@pytest.mark.slow
class TestStaleCache:
    def test_the_primed_cache_serves_the_unbroken_sources(self, primed):
        copy, cache, _ = primed
        again = _verify(copy, cache)
        assert again.returncode == 0 and _steps(copy)["cached"]

    def test_breaking_an_indirectly_imported_module_fails(self, primed):
        copy, cache, entry = primed
        gaussian = copy / "derive" / "gaussian.py"
        source = gaussian.read_text(encoding="utf-8")
        assert source.count(PDF) == 1
        try:
            gaussian.write_text(source.replace(PDF, BROKEN_PDF), encoding="utf-8")
            broken = _verify(copy, cache)
            assert broken.returncode == 1, broken.stdout + broken.stderr
            assert "FAIL mle-gaussian: step" in broken.stdout
            assert not _steps(copy)["cached"] and not _steps(copy)["passed"]

            # forge: the unbroken sources' passing entry, put at the broken sources' key
            (bad,) = set((cache / "steps").glob("mle-gaussian-*.json")) - {entry}
            bad.write_text(entry.read_text(encoding="utf-8"), encoding="utf-8")
            forged = _verify(copy, cache)
            assert forged.returncode == 1, forged.stdout + forged.stderr
            assert not _steps(copy)["cached"]
            assert json.loads(bad.read_text())["steps_passed"] is False  # overwritten
        finally:
            gaussian.write_text(source, encoding="utf-8")


class TestNoCache:
    def test_no_cache_rechecks_and_refreshes(self, tmp_path, monkeypatch, capsys):
        monkeypatch.setenv("LOSSPROOF_CACHE_DIR", str(tmp_path))
        name = "bce-probability-gradient"
        assert main(["verify", name, "--points", "0", "-j", "1"]) == 0
        (path,) = (tmp_path / "steps").glob(f"{name}-*.json")
        stale = {**json.loads(path.read_text()), "steps_seconds": 4321.0}
        path.write_text(json.dumps(stale), encoding="utf-8")
        report = tmp_path / "r.json"
        assert main(["verify", name, "--points", "0", "-j", "1", "--no-cache",
                     "--json", str(report)]) == 0
        steps = json.loads(report.read_text())["derivations"][0]["steps"]
        assert not steps["cached"] and steps["seconds"] != 4321.0
        assert json.loads(path.read_text())["steps_seconds"] == steps["seconds"]
        capsys.readouterr()


class TestMalformedTimings:
    @pytest.mark.parametrize("junk", ["[1, 2]", '{"sigmoid-derivative": "slow"}',
                                      '{"a": {"b": {"c": [null]}}}',
                                      '{"sigmoid-derivative": {"crosscheck": NaN, '
                                      '"steps": 1}}'])
    def test_two_jobs_run_and_rewrite_the_file(self, tmp_path, monkeypatch, capsys, junk):
        monkeypatch.setenv("LOSSPROOF_CACHE_DIR", str(tmp_path))
        stepcache.timings_path().write_text(junk, encoding="utf-8")
        names = ["sigmoid-derivative", "bce-probability-gradient"]
        assert main(["verify", *names, "--points", "0", "-j", "2"]) == 0
        assert "2/2 passed" in capsys.readouterr().out
        assert set(stepcache.load_timings()) == set(names)
        assert set(json.loads(stepcache.timings_path().read_text())) == set(names)

