"""Tests of ``derive.stepcache``: the key covers every source file, versions and settings;
a malformed, mislabelled or forged entry is a miss (re-checked, then overwritten);
``cache=False`` refreshes; a malformed ``timings.json`` is ignored."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

import derive
from derive import core, stepcache
from derive.stepcache import StepRecord
from derive.verify import verify_one

PACKAGE = Path(derive.__file__).parent
SETTINGS = {"dps": 60, "seed": 0, "points": 10}
NAME = "bce-probability-gradient"  # steps check in well under a second
KEY = "a" * 64


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSPROOF_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def package_copy(tmp_path):
    """A copy of the ``derive`` sources (no bytecode) to edit."""
    root = tmp_path / "derive"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _entry(**changes):
    base = {"name": NAME, "digest": KEY, "steps_total": 5, "steps_symbolic": 3,
            "steps_numeric": 2, "steps_interval": 1, "steps_passed": True,
            "steps_error": None, "steps_seconds": 0.25}
    base.update(changes)
    return base


def _the_entry(name: str = NAME) -> Path:
    (path,) = (stepcache.cache_dir() / "steps").glob(f"{name}-*.json")
    return path


class TestDigest:
    def test_same_sources_elsewhere_give_the_same_digest(self, package_copy):
        assert stepcache.digest(NAME, SETTINGS, root=package_copy) == stepcache.digest(
            NAME, SETTINGS)

    @pytest.mark.parametrize("module", ["gaussian.py", "functions.py", "core.py", "cli.py"])
    def test_an_edit_to_any_module_changes_it(self, package_copy, module):
        before = stepcache.digest("mle-gaussian", SETTINGS, root=package_copy)
        f = package_copy / module
        f.write_text(f.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
        assert stepcache.digest("mle-gaussian", SETTINGS, root=package_copy) != before

    def test_a_new_module_in_a_subpackage_changes_it(self, package_copy):
        before = stepcache.digest(NAME, SETTINGS, root=package_copy)
        (package_copy / "sub").mkdir()
        (package_copy / "sub" / "__init__.py").write_text("", encoding="utf-8")
        assert stepcache.digest(NAME, SETTINGS, root=package_copy) != before

    def test_a_renamed_module_changes_it(self, package_copy):
        before = stepcache.digest(NAME, SETTINGS, root=package_copy)
        (package_copy / "mle.py").rename(package_copy / "mle2.py")
        assert stepcache.digest(NAME, SETTINGS, root=package_copy) != before

    def test_an_editors_dangling_lock_link_is_no_error(self, package_copy):
        before = stepcache.digest(NAME, SETTINGS, root=package_copy)
        (package_copy / ".#core.py").symlink_to(package_copy / "no-such-target")
        assert stepcache.digest(NAME, SETTINGS, root=package_copy) != before

    @pytest.mark.parametrize("change", [{"dps": 61}, {"seed": 1}, {"points": 11}])
    def test_each_setting_changes_it(self, change):
        assert stepcache.digest(NAME, {**SETTINGS, **change}) != stepcache.digest(NAME,
                                                                                 SETTINGS)

    def test_the_name_changes_it(self):
        assert stepcache.digest("bce-gradient", SETTINGS) != stepcache.digest(NAME, SETTINGS)

    def test_an_extra_source_changes_it(self, tmp_path):
        user = tmp_path / "user_derivations.py"
        user.write_text("X = 1\n", encoding="utf-8")
        first = stepcache.digest(NAME, SETTINGS, extra=[user])
        assert first != stepcache.digest(NAME, SETTINGS)
        user.write_text("X = 2\n", encoding="utf-8")
        assert stepcache.digest(NAME, SETTINGS, extra=[user]) != first

    @pytest.mark.parametrize("module", ["sympy", "mpmath", "numpy"])
    def test_a_library_version_changes_it(self, monkeypatch, module):
        before = stepcache.digest(NAME, SETTINGS)
        monkeypatch.setattr(sys.modules[module], "__version__", "0.0.0-other")
        assert stepcache.digest(NAME, SETTINGS) != before

    def test_python_flint_present_or_absent_changes_it(self, monkeypatch):
        pytest.importorskip("flint")
        before = stepcache.digest(NAME, SETTINGS)
        monkeypatch.setitem(sys.modules, "flint", None)  # import flint -> ImportError
        assert stepcache.digest(NAME, SETTINGS) != before

    def test_a_non_integer_setting_is_refused_naming_it(self):
        with pytest.raises(TypeError, match="'dps'"):
            stepcache.digest(NAME, {**SETTINGS, "dps": "60"})


class TestExtraSources:
    def test_a_derive_module_needs_none(self):
        assert stepcache.extra_sources(core.source_module("mle-gaussian")) == []

    def test_a_module_outside_the_package_is_its_file(self):
        assert stepcache.extra_sources(__name__) == [Path(__file__).resolve()]

    def test_an_unknown_module_has_none(self):
        assert stepcache.extra_sources("no_such_module_here") == []


class TestValidate:
    def test_a_well_formed_entry_is_its_record(self):
        assert stepcache.validate(_entry(), name=NAME, key=KEY, total=5) == StepRecord(
            total=5, symbolic=3, numeric=2, passed=True, error=None, seconds=0.25, interval=1)

    def test_a_failed_check_is_a_record_too(self):
        entry = _entry(steps_passed=False, steps_error="step 2 does not hold",
                       steps_symbolic=0, steps_numeric=0, steps_interval=0)
        record = stepcache.validate(entry, name=NAME, key=KEY, total=5)
        assert record is not None and not record.passed

    @pytest.mark.parametrize("data", [
        None, [], "entry", 1,
        {k: v for k, v in _entry().items() if k != "digest"},  # the forged entry of issue 11
        {k: v for k, v in _entry().items() if k != "name"},
        _entry(extra=1),
        _entry(digest="b" * 64),  # an entry copied from another key
        _entry(digest=KEY[:24]),  # only the file name's prefix
        _entry(name="bce-gradient"),
        _entry(steps_passed="no"), _entry(steps_passed=1), _entry(steps_passed=None),
        _entry(steps_total=6), _entry(steps_total=5.0), _entry(steps_total=True),
        _entry(steps_symbolic=-1, steps_numeric=6), _entry(steps_numeric="2"),
        _entry(steps_symbolic=4),  # 4 + 2 != 5
        _entry(steps_interval=3), _entry(steps_interval=-1), _entry(steps_interval="1"),
        _entry(steps_seconds=float("nan")), _entry(steps_seconds=float("inf")),
        _entry(steps_seconds=-1.0), _entry(steps_seconds="0.25"), _entry(steps_seconds=1),
        _entry(steps_error="a passed check has no error"),
        _entry(steps_passed=False, steps_error=None, steps_symbolic=0, steps_numeric=0),
        _entry(steps_passed=False, steps_error="stopped"),  # failed, yet all 5 counted
        _entry(steps_error=["not", "a", "string"], steps_passed=False, steps_symbolic=0,
               steps_numeric=0),
    ])
    def test_anything_else_is_a_miss(self, data):
        assert stepcache.validate(data, name=NAME, key=KEY, total=5) is None


class TestLoad:
    def test_reads_back_what_store_wrote(self):
        record = StepRecord(total=5, symbolic=3, numeric=2, passed=True, error=None,
                            seconds=0.5)
        stepcache.store(NAME, KEY, record)
        assert stepcache.load(NAME, KEY, total=5) == record
        assert set(json.loads(stepcache.entry_path(NAME, KEY).read_text())) == (
            stepcache.ENTRY_KEYS)

    @pytest.mark.parametrize("text", ["", "{", '{"steps_passed": true', "[" * 100_000,
                                      "\udcff"])
    def test_unparseable_files_are_a_miss(self, text):
        path = stepcache.entry_path(NAME, KEY)
        path.parent.mkdir(parents=True)
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        assert stepcache.load(NAME, KEY, total=5) is None

    def test_a_missing_file_is_a_miss(self):
        assert stepcache.load(NAME, KEY, total=5) is None


class TestStore:
    def test_an_unwritable_cache_is_no_cache_not_an_error(self, tmp_path, monkeypatch):
        blocker = tmp_path / "file"
        blocker.write_text("", encoding="utf-8")
        monkeypatch.setenv("LOSSPROOF_CACHE_DIR", str(blocker / "cache"))
        stepcache.store(NAME, KEY, StepRecord(5, 3, 2, True, None, 0.1))
        assert stepcache.load(NAME, KEY, total=5) is None


class TestCheckStepsThroughVerifyOne:
    """``verify_one`` re-checks on every miss and overwrites the entry."""

    def test_second_run_is_served_from_the_cache(self):
        assert not verify_one(NAME, points=0).steps_cached
        again = verify_one(NAME, points=0)
        assert again.steps_cached and again.steps_passed

    @pytest.mark.parametrize("bad", [
        '{"steps_passed": true}',
        json.dumps(_entry(steps_passed="no")),
        "[1, 2]",
        "not json",
    ])
    def test_a_malformed_entry_is_rechecked_and_overwritten(self, bad):
        verify_one(NAME, points=0)
        path = _the_entry()
        good = json.loads(path.read_text())
        path.write_text(bad, encoding="utf-8")
        res = verify_one(NAME, points=0)
        assert not res.steps_cached and res.steps_passed
        fixed = json.loads(path.read_text())
        assert fixed["digest"] == good["digest"] and fixed["steps_passed"] is True

    def test_a_forged_pass_at_a_broken_derivations_key_is_not_accepted(self, monkeypatch):
        verify_one(NAME, points=0)
        path = _the_entry()
        key = json.loads(path.read_text())["digest"]

        def broken(*args, **kwargs):
            raise core.DerivationError(NAME, 2, 0, 1, "planted")

        monkeypatch.setattr(core.get(NAME), "verify", broken)
        total = len(core.get(NAME).steps) + 1
        forged = {"name": NAME, "steps_total": total, "steps_symbolic": total,
                  "steps_numeric": 0, "steps_interval": 0, "steps_passed": True,
                  "steps_error": None,
                  "steps_seconds": 0.1}
        for entry in (forged, {**forged, "digest": "0" * 64}, {**forged, "digest": key[:24]}):
            path.write_text(json.dumps(entry), encoding="utf-8")
            res = verify_one(NAME, points=0)
            assert not res.steps_passed and not res.passed and not res.steps_cached
            assert "planted" in res.steps_error
        assert json.loads(path.read_text())["steps_passed"] is False  # overwritten

    def test_no_cache_rechecks_and_refreshes_the_entry(self):
        verify_one(NAME, points=0)
        path = _the_entry()
        entry = json.loads(path.read_text())
        entry["steps_seconds"] = 12345.0  # well-formed: the cache cannot tell it is stale
        path.write_text(json.dumps(entry), encoding="utf-8")
        assert verify_one(NAME, points=0).steps_seconds == 12345.0
        fresh = verify_one(NAME, points=0, cache=False)
        assert not fresh.steps_cached and fresh.steps_seconds != 12345.0
        assert json.loads(path.read_text())["steps_seconds"] == fresh.steps_seconds
        assert verify_one(NAME, points=0).steps_seconds == fresh.steps_seconds


class TestLoadTimings:
    @pytest.mark.parametrize("text", [
        "[1, 2, 3]", '"timings"', "null", '{"a": "b"}', '{"a": {"crosscheck": "1"}}',
        '{"a": {"crosscheck": NaN, "steps": 1.0}}', '{"a": {"crosscheck": 1.0}}',
        '{"a": {"crosscheck": 1.0, "steps": Infinity}}', '{"a": {"crosscheck": -1, "steps": 1}}',
        '{"a": {"crosscheck": true, "steps": 1}}', '{"a": [[[{"b": {}}]]]}',
        "[" * 100_000, "{", "",
    ])
    def test_malformed_content_gives_no_timings(self, text):
        path = stepcache.timings_path()
        path.parent.mkdir(parents=True)
        path.write_text(text, encoding="utf-8")
        assert stepcache.load_timings() == {}

    def test_good_entries_survive_beside_bad_ones(self):
        path = stepcache.timings_path()
        path.parent.mkdir(parents=True)
        path.write_text('{"a": {"crosscheck": 2, "steps": 3.5}, "b": {"crosscheck": NaN, '
                        '"steps": 1}, "c": 7}', encoding="utf-8")
        assert stepcache.load_timings() == {"a": {"crosscheck": 2.0, "steps": 3.5}}


class TestStoreTimings:
    def test_merges_and_replaces_a_malformed_file(self):
        path = stepcache.timings_path()
        path.parent.mkdir(parents=True)
        path.write_text("[junk]", encoding="utf-8")
        stepcache.store_timings({"a": (1.0, 2.0), "b": (float("nan"), 1.0)})
        stepcache.store_timings({"c": (3.0, 0.0)})
        assert stepcache.load_timings() == {"a": {"crosscheck": 1.0, "steps": 2.0},
                                            "c": {"crosscheck": 3.0, "steps": 0.0}}


class TestSchedule:
    def test_longest_first_and_cached_steps_cost_nothing(self):
        stepcache.store_timings({"a": (1.0, 10.0), "b": (5.0, 0.0), "c": (2.0, 1.0)})
        assert stepcache.schedule(["a", "b", "c"], cached=lambda n: False) == ["a", "b", "c"]
        assert stepcache.schedule(["a", "b", "c"], cached=lambda n: True) == ["b", "c", "a"]

    def test_malformed_timings_schedule_by_default_costs(self):
        path = stepcache.timings_path()
        path.parent.mkdir(parents=True)
        path.write_text('{"a": {"crosscheck": "long", "steps": []}}', encoding="utf-8")
        assert stepcache.schedule(["a", "b"], cached=lambda n: n == "b") == ["a", "b"]
