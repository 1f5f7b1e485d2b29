"""Figures a reader can use: the plots of committed results of different kinds have labelled axes,
a colour bar on every heat map, a legend wherever several line styles appear, and titles that fit
(``experiments.figures.figure_problems``)."""

from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from grokking_workbench.experiments import figures, registry  # noqa: E402
from grokking_workbench.numerics.io import read_dataset  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "results"

# a loss-curve sweep, a heat map beside error bars, DMFT heat maps and curves, network curves, a
# DMFT grid (crossing times on a log axis with gamma = inf, a heat map, curves), phase maps beside
# heat maps of first-reach steps
KINDS = ["alpha-sweep", "time-to-grok", "dmft-correlations", "dmft-grokking", "digits-alpha", "dmft-grid",
         "phase-diagram-transformer", "phase-diagram-images"]


@pytest.mark.parametrize("name", KINDS)
def test_committed_figure_is_readable(name):
    path = RESULTS / name / "full.nc"
    if not path.exists():
        pytest.skip(f"no committed result {path}")
    fig = registry.get(name).plot(read_dataset(path))
    try:
        assert figures.figure_problems(fig) == []
    finally:
        plt.close(fig)


def test_problems_are_found():
    fig, (a, b) = plt.subplots(1, 2, figsize=(4, 2))
    a.imshow([[0, 1], [1, 0]])
    b.plot([0, 1], [0, 1], "-")
    b.plot([0, 1], [1, 0], "--")
    b.set(xlabel="x", ylabel="y")
    b.set_title("a title far too long for a figure only four inches wide, cut off at both ends")
    try:
        found = " | ".join(figures.figure_problems(fig))
    finally:
        plt.close(fig)
    for problem in ("no x label", "no y label", "without a colour bar", "no legend", "wider than the figure"):
        assert problem in found
