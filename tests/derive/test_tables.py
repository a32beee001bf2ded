"""Tables bounded in width (issue 16): ``derive._tables`` and the two tables built on it,
``lossproof audit``'s and :func:`derive.testing.assert_matches_reference`'s."""

from __future__ import annotations

import json

import numpy as np
import pytest

from derive import _tables, audit, testing
from derive._tables import format_table, sample_kinds, shorten
from derive.testing import Mismatch, QuantityResult

#: a K = 1000 logit vector as ``format_input`` prints it: 20,000 characters
WIDE = testing.format_input(
    "logsumexp", (np.r_[1e308, -1e308, np.random.default_rng(0).normal(size=998)],))


class TestShorten:
    def test_text_that_fits_is_unchanged(self):
        assert shorten("z=[37.0, 0.0, 0.0], y=0", 40) == "z=[37.0, 0.0, 0.0], y=0"

    def test_a_long_array_keeps_its_first_items_and_its_length(self):
        assert len(WIDE) > 20_000
        assert shorten(WIDE, 40) == "z=[1e+308, -1e+308, 0.1257, … (K=1000)]"
        assert shorten(WIDE, 36) == "z=[1e+308, -1e+308, … (K=1000)]"

    def test_a_short_list_is_rounded_before_it_loses_items(self):
        text = "z=[-0.7058554945166199, 0.4266236520512287, 0.746570376424]"
        assert shorten(text, 40) == "z=[-0.7059, 0.4266, 0.7466]"

    def test_rounded_floats_still_read_as_floats(self):
        assert shorten("z=[37.00000000000001, 0.0, 0.0], y=1", 30) == "z=[37.0, 0.0, 0.0], y=1"

    @pytest.mark.parametrize("width", [1, 2, 5, 12, 40, 119])
    def test_never_longer_than_the_width(self, width):
        for text in (WIDE, "error: " + "x" * 300, "a[1, 2", "[[1.5, 2.5], [3.5, 4.5]]" * 9):
            assert len(shorten(text, width)) <= width

    @pytest.mark.parametrize("width", [0, -3, 2.5, True])
    def test_a_bad_width_is_a_value_error(self, width):
        with pytest.raises(ValueError, match="width"):
            shorten("abc", width)


class TestFormatTable:
    def test_one_long_cell_no_longer_pads_the_whole_column(self):
        rows = [["softmax", WIDE, "1.5"], ["sigmoid", "z=0.5", "2"]]
        lines = format_table(["name", "input", "ULP"], rows)
        assert max(map(len, lines)) <= _tables.MAX_CELL + 20
        assert "(K=1000)" in lines[2]

    def test_many_wide_columns_fit_in_120_characters(self):
        head = ["implementation", "input", "expected", "got", "ULP"]
        rows = [["torch.nn.functional.binary_cross_entropy_with_logits", WIDE,
                 "1.7066095251488129e-16", "-2.220446049250313e-16", "8.2e+15"]] * 3
        lines = format_table(head, rows)
        assert max(map(len, lines)) <= 120
        assert all(line.startswith("torch.nn.functional.") for line in lines[2:])

    def test_a_row_of_the_wrong_length_is_a_value_error(self):
        with pytest.raises(ValueError, match="rows"):
            format_table(["a", "b"], [["1"]])


class TestSampleKinds:
    def test_takes_each_kind_in_turn(self):
        items = ["inf1", "inf2", "inf3", "inf4", "f32a", "f32b", "buda"]
        assert sample_kinds(items, lambda s: s[:3], 5) == ["inf1", "f32a", "buda", "inf2",
                                                           "f32b"]

    def test_the_last_kind_only_fills_what_is_left(self):
        items = ["ok1", "inf1", "ok2", "inf2"]
        assert sample_kinds(items, lambda s: s[:-1], 3, last="ok") == ["inf1", "inf2", "ok1"]


def _mostly_float32(z):
    """log-sum-exp in float64, returned in float32 precision (a downcast), and inf
    wherever some |z_k| > 300 (adversarial inputs): most failures are the downcast."""
    z = np.asarray(z, dtype=np.float64)
    m = z.max(axis=-1)
    with np.errstate(all="ignore"):
        s = m + np.log(np.exp(z - m[..., None]).sum(axis=-1))
        out = s.astype(np.float32).astype(np.float64)
    out[np.abs(z).max(axis=-1) > 300.0] = np.inf
    return out


@pytest.fixture(scope="module")
def report():
    return testing.check_reference(_mostly_float32, "logsumexp", points=60, seed=0)


class TestFailureTable:
    def test_most_failures_are_the_downcast(self, report):
        r = report.value
        assert r.over_budget - r.nonfinite > r.nonfinite > 8  # more inf rows than the table

    def test_shows_each_kind_of_failure(self, report):
        kinds = [m.kind for m in report.value.worst]
        assert {"inf/nan", "float32"} <= set(kinds)
        table = report.message()
        assert "float32 " in table and "inf/nan " in table

    def test_is_at_most_120_characters_wide(self, report):
        assert max(map(len, report.message().splitlines())) <= 120

    def test_kinds_of_single_mismatches(self):
        def m(got, exact, ulp, rel, budget):
            return Mismatch("z=1.0", exact, got, ulp, rel, budget)

        assert m("inf", "1.0", float("inf"), float("inf"), 0.0).kind == "inf/nan"
        assert m("1.0000001192092896", "1.0", 5.4e8, 1.2e-7, 4.0).kind == "float32"
        assert m("1.1", "1.0", 4.5e14, 0.1, 4.0).kind == "budget"
        assert m("1e+300", "1.0", 4.5e14, 1e300, 4.0).kind == "budget"  # beyond float32
        assert m("1.0000000000000002", "1.0", 1.0, 2e-16, 4.0).kind == "ok"

    def test_a_wide_input_is_shortened_in_the_table_only(self):
        res = QuantityResult("value", worst=[Mismatch(WIDE, "710.5", "inf", float("inf"),
                                                      float("inf"), 0.0)])
        table = res.table()
        assert max(map(len, table.splitlines())) <= 120 and "(K=1000)" in table
        assert res.worst[0].input == WIDE
        assert table.splitlines()[-1].startswith("(inputs shortened: check_reference")

    def test_says_nothing_of_shortening_when_nothing_was(self):
        res = QuantityResult("value", worst=[Mismatch("z=1.0", "0.5", "inf", float("inf"),
                                                      float("inf"), 0.0)])
        assert "shortened" not in res.table()


class TestAuditText:
    @staticmethod
    def _report() -> audit.AuditReport:
        worst = {"input": WIDE, "expected": "1.7066095251488129e-16", "got": "-0.0",
                 "ulp": 8.2e15, "rel": 1.0, "budget": 4.0}
        rows = [
            audit.Row("torch", "torch.nn.functional.cross_entropy(z, indices, label_smoothing="
                      "eps) applied to a very long expression", "logsumexp", "value", False,
                      points=54, outputs=54, max_ulp=8.2e15, max_rel=1.0, over_budget=3,
                      passed=False, worst=[worst], failures=[worst]),
            audit.Row("scipy", "broken", "log-sigmoid", "value", False, passed=False,
                      error="RuntimeError: " + "peer broke " * 30),
        ]
        settings = {"points": 60, "seed": 0, "dtype": "float64", "budget_ulp": 4.0,
                    "libraries": ["torch", "scipy"]}
        return audit.AuditReport(settings, {}, [], rows, 1.0)

    def test_lines_are_at_most_120_characters(self):
        text = audit.to_text(self._report())
        assert max(map(len, text.splitlines())) <= 120
        assert "    worst input: z=[1e+308, -1e+308, " in text and "(K=1000)" in text
        assert "    error: RuntimeError: peer broke" in text
        assert "--json writes them in full" in text

    def test_the_json_keeps_the_full_input(self):
        doc = json.loads(self._report().to_json())
        assert doc["rows"][0]["worst"][0]["input"] == WIDE
