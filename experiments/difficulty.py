"""Task difficulty y^T K^{-1} y against the relative weight change (Kumar et al. 2024, App. 10).

Labels of increasing difficulty for the initial kernel (the j-th eigenvector of the initial NTK
of the training and held-out points, as in Fig. 5) at several alpha, batched. Near the kernel
limit the weights move by

.. math::  |W - W_0|_F^2 = \\frac{N}{\\alpha^2}\\, z^T K_w^{-1} z \\;\\to\\;
           \\frac{N}{\\alpha^2}\\, y^T K_w^{-1} y \\quad (t \\to \\infty),

with z = [I - (I - dt G)^n] y (``numerics.lazy``; the paper's eq. (9), |w - w0|^2 ~ y^T K^{-1} y,
with its constant and its finite-time form). The claims tested: at large alpha the measured
relative change |W - W0| / |W0| equals the linearised network's (to 2 %) for every label, and it
rises with the difficulty. At small alpha the ratio of the two departs from 1 on difficult labels
(reported): the linearisation no longer describes the network there. In the quick and full
configurations the network then moves *less* than its linearisation would.
"""

from __future__ import annotations

import numpy as np

from grokking_workbench.experiments._wide_curves import COORDS, CURVES_SCHEMA, Curves, run_curves
from grokking_workbench.experiments.registry import register
from grokking_workbench.numerics.schema import Schema, Var
from grokking_workbench.numerics import statistics as st
from grokking_workbench.numerics.simulate.wide import WideConfig


KEEP = ["param_change", "lazy_param_change", "difficulty", "train_loss", "test_loss", "lazy_test_loss",
        "kernel_test_loss", "time_to_grok"]
# The dataset's variables and coordinates: those of the learning curves it keeps, and the ratio
SCHEMA = CURVES_SCHEMA.take(*KEEP, *COORDS) | Schema({
    "change_ratio": Var("|W - W0| / |W0| at t_max: network / linearised network", "1", None),
})


def run(config: Curves):
    ds = run_curves(config)
    ds = ds[KEEP]
    ds["change_ratio"] = ds.param_change.isel(t=-1) / ds.lazy_param_change.isel(t=-1)
    return SCHEMA.apply(ds, config)


def statements(ds) -> list[tuple[str, str, str]]:
    """App. 10 (eq. 9): (1) in the lazy limit (largest alpha) the network's relative weight change
    is the linearised network's (ratio within 2 % of 1 for every label, mean over datasets);
    (2) the weight change rises with the difficulty y^T K^-1 y: Spearman's rho over every
    (dataset, label) pair at the largest alpha with its permutation p-value below 5 %
    (``numerics.statistics.trend_test``)."""
    ratio = ds.change_ratio.mean("seed")
    big = ds.alpha.values[-1]
    lazy_ok = bool((abs(ratio.sel(alpha=big) - 1) < 0.02).all())
    diff = ds.difficulty.sel(alpha=big).values.ravel()
    change = ds.param_change.isel(t=-1).sel(alpha=big).values.ravel()
    tr = st.trend_test(diff, change)
    return [(f"App. 10: in the lazy limit (alpha = {big:g}) the weight change is the linearised network's", 
             st.verdict(lazy_ok, not lazy_ok),
             f"network / linearised change {float(ratio.sel(alpha=big).min()):.4f} to {float(ratio.sel(alpha=big).max()):.4f}"),
            ("App. 10, eq. 9: the weight change rises with the difficulty y^T K^-1 y",
             st.verdict(tr["p"] < st.FAMILY_ERROR, tr["p_opposite"] < st.FAMILY_ERROR),
             f"Spearman rho {tr['rho']:+.2f}, permutation p = {tr['p']:.2g} (n = {tr['n']})")]


def observations(ds) -> list[str]:
    ratio = ds.change_ratio.mean("seed")
    diff = ds.difficulty.sel(alpha=ds.alpha.values[-1]).mean("seed")
    small = ds.alpha.values[0]
    hard = ds.j.values[int(np.argmax(diff.values))]
    return [f"alpha = {small:g}, hardest label (j = {hard}): network / linearised change "
            f"{float(ratio.sel(alpha=small, j=hard)):.3g}"]


def plot(ds):
    import matplotlib.pyplot as plt

    from grokking_workbench.experiments import figures

    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.4), layout="constrained")
    key = figures.ValueColours(ds.alpha.values)
    n_seeds = ds.sizes["seed"]
    for a in ds.alpha.values:
        d = ds.sel(alpha=a)
        c = key.colour(a)
        x = d.difficulty.mean("seed")
        y = d.param_change.isel(t=-1)
        axes[0].errorbar(x, y.mean("seed"), yerr=y.std("seed", ddof=1), marker="o", ls="", ms=4,
                         color=c, capsize=2)
        axes[0].plot(x, d.lazy_param_change.isel(t=-1).mean("seed"), "x", color=c, ms=7)
        axes[1].plot(x, d.change_ratio.mean("seed"), "o-", color=c, ms=4)
    axes[0].set(xscale="log", yscale="log", xlabel="difficulty y^T K^-1 y (mean over datasets)",
                ylabel="|W - W0|_F / |W0|_F at t_max")
    axes[0].set_title("relative weight change (Kumar et al. App. 10, eq. 9)", fontsize=10)
    axes[1].axhline(1, color="k", lw=0.5)
    axes[1].set(xscale="log", xlabel="difficulty y^T K^-1 y (mean over datasets)",
                ylabel="network / linearised network")
    axes[1].set_title("departure from the linearisation (ratio of the weight changes)", fontsize=10)
    figures.style_legend(axes[0], [(f"network: mean +- s.d. over {n_seeds} datasets", dict(marker="o", ms=4)),
                                   ("linearised network (mean)", dict(marker="x", ms=7))], loc="lower right")
    figures.style_legend(axes[1], [(f"mean over {n_seeds} datasets", dict(marker="o", ms=4))])
    key.bar(fig, list(axes), "alpha", shrink=0.9)
    fig.suptitle("labels = j-th eigenvector of the initial NTK; one point per j", fontsize=10)
    return fig


QUICK = WideConfig(N=100, D=50, P=275, held_out=275, alpha=(1.0, 10.0, 100.0), eps=0.2,
                   t_max=500.0, dt=0.5, seeds=3, records=30, target="ntk-eigenvector")
FULL = WideConfig(N=500, D=100, P=550, held_out=550, alpha=(0.5, 1.0, 10.0, 100.0, 1000.0),
                  eps=0.2, t_max=2000.0, dt=0.5, seeds=4, records=60, target="ntk-eigenvector")

register(name="difficulty", summary="difficulty y^T K^-1 y against the relative weight change",
         claim="Kumar et al. 2024 App. 10, eqs. 8-9: in the lazy limit |W - W0|^2 = (N/alpha^2) "
               "y^T K^-1 y (at t -> infinity), rising with the difficulty; at small alpha the "
               "linearisation breaks down on difficult labels",
         quick=Curves(QUICK, vary="j", values=(1, 20, 50, 70, 150)),
         full=Curves(FULL, vary="j", values=(1, 20, 50, 100, 150, 300, 500)),
         run=run, plot=plot, statements=statements, observations=observations, schema=SCHEMA)
