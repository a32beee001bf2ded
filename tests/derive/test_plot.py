"""Plots are produced, are not blank, and SVG output is deterministic."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

from derive import plot
from derive.cli import main


class TestPlots:
    @pytest.mark.parametrize("name", sorted(plot.PLOTS))
    def test_png_is_produced_and_not_blank(self, name, tmp_path):
        import matplotlib.image as mpimg

        out = plot.save(name, tmp_path / f"{name}.png")
        img = mpimg.imread(out)
        assert img.shape[0] > 200 and img.shape[1] > 300
        # a blank canvas has one colour; a real plot has many
        assert img[..., :3].reshape(-1, 3).std(axis=0).max() > 0.05

    @pytest.mark.parametrize("name", sorted(plot.PLOTS))
    def test_svg_is_deterministic_and_labelled(self, name):
        a, b = plot.render(name, "svg"), plot.render(name, "svg")
        assert a == b
        text = a.decode()
        assert "nats" in text or "bits" in text or "probability" in text

    def test_cli_writes_the_file(self, tmp_path, capsys):
        out = tmp_path / "bce.svg"
        assert main(["plot", "bce-gradient", "-o", str(out)]) == 0
        assert out.stat().st_size > 1000

    def test_cli_rejects_a_derivation_without_a_plot(self, capsys):
        assert main(["plot", "perplexity-base-invariance"]) == 2
        assert "has no plot" in capsys.readouterr().err

    def test_bad_output_suffix_is_an_error(self, tmp_path):
        with pytest.raises(ValueError, match=r"svg or \.png"):
            plot.save("bce-gradient", tmp_path / "x.pdf")
