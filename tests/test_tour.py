"""The tour notebook executes from top to bottom without errors (so it cannot rot)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

TOUR = Path(__file__).resolve().parents[1] / "examples" / "tour.ipynb"


IMAGES = ("image/png", "image/svg+xml")
#: run after the tour, in the same kernel: the user's own pyplot figure must still show
#: (``derive.plot`` once switched the backend to Agg and every later plot vanished)
LATER_PLOT = "import matplotlib.pyplot as plt\n\nplt.plot([0, 1], [1, 0])\nplt.show()"


def _images(cell) -> list[str]:
    return [k for o in cell.get("outputs", []) for k in o.get("data", {}) if k in IMAGES]


def test_tour_notebook_executes():
    nb = nbformat.read(TOUR, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(LATER_PLOT))
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(TOUR.parent)}}
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # the derivation rendered as math, and the verify table was printed
    assert any("text/latex" in o.get("data", {}) for o in outputs)
    assert any("bce-gradient" in o.get("text", "") for o in outputs)
    # the plot cell shows its figure inline, and a later pyplot figure still shows
    plot_cell = next(c for c in nb.cells if "plot.figure(" in c.source)
    assert _images(plot_cell), plot_cell.get("outputs")
    assert _images(nb.cells[-1]), nb.cells[-1].get("outputs")
