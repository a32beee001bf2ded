"""The table ``lossproof verify`` prints explains itself (issue 16: a legend)."""

from __future__ import annotations

import math

from derive import verify
from derive.verify import DerivationResult, PairStats, Report


def _report() -> Report:
    """A passing derivation whose naive lambdify overflows at 17 points: the case that read
    as a contradiction (``inf (17✗) … pass``) without a legend."""
    ok = PairStats(points=78, max_ulp=1.0, max_ulp_scaled=0.86)
    naive = PairStats(points=78, max_ulp=math.inf, max_ulp_scaled=math.inf, over_budget=17,
                      nonfinite=17, required=False)
    result = DerivationResult("binary-as-two-class-softmax", exportable=True, steps_total=11,
                              steps_symbolic=9, steps_numeric=2, steps_interval=1,
                              steps_passed=True, points=78,
                              export=ok, numeric=ok, naive=naive)
    return Report([result], points=24, seed=0, dps=60, jobs=1)


class TestFormatTable:
    def test_row_shows_the_naive_failure_and_the_pass(self):
        row = verify.format_table(_report()).splitlines()[2]
        assert "9/1/1" in row and "inf (17✗)" in row and row.endswith("pass")

    def test_legend_explains_steps_sym_box_smp(self):
        table = verify.format_table(_report())
        assert "steps sym/box/smp: proved by SymPy / by interval arithmetic / not proved" in table

    def test_legend_says_naive_does_not_decide_the_result(self):
        table = verify.format_table(_report())
        assert "naive (info)" in table.splitlines()[0]
        assert "for contrast only: result = steps, export and numeric" in table

    def test_legend_is_at_most_four_lines_of_at_most_100_characters(self):
        lines = verify.format_table(_report()).splitlines()
        start = lines.index("") + 1
        end = next(i for i, line in enumerate(lines) if line.startswith("points:"))
        legend = lines[start:end]
        assert legend[0].startswith("steps sym/box/smp:") and len(legend) <= 4, legend
        assert max(map(len, lines)) <= 100, lines
