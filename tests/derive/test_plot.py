"""Plots are produced, are not blank, and SVG output is deterministic."""

from __future__ import annotations

import re
import subprocess
import sys

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


class TestFigure:
    def test_leaves_the_backend_pyplot_and_rcparams_alone(self):
        # a notebook's backend (here svg, set before) must survive building a figure
        code = (
            "import sys, matplotlib\n"
            "matplotlib.use('svg')\n"
            "size = matplotlib.rcParams['font.size'] = 13.0\n"
            "from derive import plot\n"
            "plot.figure('bce-gradient')\n"
            "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
            "assert matplotlib.rcParams['font.size'] == 13.0\n"
            "assert 'matplotlib.pyplot' not in sys.modules\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr

    def test_displays_inline_as_a_png(self):
        png = plot.figure("bce-gradient")._repr_png_()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


class TestGaussianKLColourBar:
    def test_ticks_are_labelled_decades(self):
        fig = plot.figure("gaussian-kl")
        fig.canvas.draw()
        bar = fig.axes[1]
        lo, hi = bar.get_ylim()
        labels = [t.get_text() for t, v in zip(bar.yaxis.get_ticklabels(),
                                               bar.yaxis.get_ticklocs(), strict=True)
                  if lo <= v <= hi]
        # 10⁻³ … 10²: one label per decade, each a plain power of ten
        assert len(labels) >= 4, labels
        for text in labels:
            assert re.fullmatch(r"\$\\mathdefault\{10\^\{-?\d+\}\}\$", text), labels
