"""Time to grok over an (alpha, eps) grid (Kumar et al. 2024, Fig. 3e).

The wide network on the quadratic target, all (alpha, eps, seed) points in one batched
simulation. Time to grok is ``t_test_fall - t_train_fall``: the first times (gradient-flow time t)
at which the test and the train loss fall below ``grok_fraction`` (default 1/4) of their values at
t = 0 (see ``experiments._wide_curves``); NaN where the test loss does not get there within t_max.
The paper's claim: lazier (larger alpha) and less aligned (smaller eps) networks grok later.

The grids stay where every network generalises: at N = 500, D = 100, P = 550 and t_max = 2000,
the points (alpha, eps) = (2, 0.4), (4, 0.2), (4, 0.4) never reach 1/4 of the initial test loss
(final test loss 0.21 to 0.33): with large alpha eps the kernel fits the training set before
features grow, and the network ends near kernel regression, without grokking.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from grokking_workbench.experiments._wide_curves import _LONG, GROK_FRACTION, Curves, mean_se, run_curves
from grokking_workbench.experiments.registry import register
from grokking_workbench.numerics.schema import Schema, Var
from grokking_workbench.numerics.sweep.engine import CELLS
from grokking_workbench.numerics import statistics as st
from grokking_workbench.numerics.simulate.wide import WideConfig

_PER_SEED = ("time_to_grok", "t_train_fall", "t_test_fall", "kernel_test_loss")
_CURVES = ("train_loss", "test_loss")


def record_times(net: WideConfig) -> np.ndarray:
    from grokking_workbench.numerics.simulate.committee import record_steps

    return record_steps(net.t_max, net.dt, net.records) * net.dt


def run_block(config: Curves, cells: list[dict]) -> list[dict]:
    """The sweep layer's block function: the block's cells of each alpha as one batched
    simulation over their eps values and the seeds; one result dict per cell."""
    T = len(record_times(config.net))
    results = {}
    for alpha in dict.fromkeys(c["alpha"] for c in cells):
        eps = tuple(c["eps"] for c in cells if c["alpha"] == alpha)
        net = dataclasses.replace(config.net, alpha=(alpha,), eps=eps)
        ds = run_curves(dataclasses.replace(config, net=net)).isel(alpha=0)
        for k, e in enumerate(eps):
            one = ds.isel(eps=k)
            d = {name: one[name].values for name in _PER_SEED}
            for name in _CURVES:
                x = one[name].values
                d[name] = np.pad(x, ((0, 0), (0, T - x.shape[-1])), constant_values=np.nan)
            if ds.attrs["status"] != "complete":
                d.update(status="diverged", message=ds.attrs["status"])
            results[(alpha, e)] = d
    return [results[(c["alpha"], c["eps"])] for c in cells]


# The dataset's variables and coordinates: the sweep's results on the (alpha, eps) grid and its cells
_GRID = ("alpha", "eps")
SCHEMA = Schema({
    "alpha": Var("output scale alpha (laziness)", "1", ("alpha",)),
    "eps": Var("quadratic part eps of the activation (NTK alignment)", "1", ("eps",)),
    "seed": Var("dataset and initialisation", "1", ("seed",)),
    "t": Var("training time t = steps x dt", "1", ("t",)),
    **{name: Var(_LONG[name] + ("" if name == "kernel_test_loss" else GROK_FRACTION), "1", _GRID + ("seed",))
       for name in _PER_SEED},
    "train_loss": Var("train loss", "1", _GRID + ("seed", "t")),
    "test_loss": Var("held-out loss", "1", _GRID + ("seed", "t")),
    **{name: var.on(*_GRID) for name, var in CELLS.items()},
})


def run(config: Curves):
    """The (alpha, eps) grid as a sweep (``numerics.sweep``): one task per alpha, its eps values
    and seeds batched; in process or on a dask cluster (``grokking run time-to-grok --workers N``)."""
    from grokking_workbench.numerics import sweep
    from grokking_workbench.numerics.sweep import Sweep, Variable

    net = config.net
    f = config.grok_fraction

    def declared(name, dims=()):
        return Variable(SCHEMA.attrs(name, config)["long_name"], dims=dims)

    variables = {name: declared(name, ("seed",)) for name in _PER_SEED}
    variables.update({name: declared(name, ("seed", "t")) for name in _CURVES})
    grid = Sweep(name="time-to-grok", dims={"alpha": list(net.alpha), "eps": list(net.eps)},
                 run_block=run_block, config=config, variables=variables, block_size=len(net.eps),
                 coords={"alpha": declared("alpha"), "eps": declared("eps")},
                 extra_coords={"seed": (list(range(net.seeds)), declared("seed")),
                               "t": (record_times(net), declared("t"))})
    ds = sweep.run(grid)
    ds.attrs["grok_fraction"] = f
    ds.attrs["definition"] = ("time_to_grok = t_test_fall - t_train_fall, the first times the "
                              "test and train loss fall below grok_fraction of their t = 0 values")
    return SCHEMA.apply(ds, config)


def statements(ds) -> list[tuple[str, str, str]]:
    """Fig. 3e, "lazy, misaligned networks grok the most intensely": (1) time to grok rises with
    alpha at every eps, (2) falls with eps at every alpha. Each line is tested by
    ``numerics.statistics.monotone`` (never-grokked datasets infinite) at a family-wise error of
    5 % over the lines of the statement (Bonferroni); reproduced when every line is, not
    reproduced when one is."""
    out = []
    for dim, other, up, text in (("alpha", "eps", True, "rises with alpha at every eps"),
                                 ("eps", "alpha", False, "falls with eps at every alpha")):
        lines, verdicts = [], []
        for v in ds[other].values:
            d = ds.time_to_grok.sel({other: v})
            vals = [np.where(np.isnan(x), np.inf, x) for x in (d.sel({dim: w}).values for w in ds[dim].values)]
            r = st.monotone(ds[dim].values, vals, increasing=up, paired=True,
                            family_error=st.FAMILY_ERROR / ds.sizes[other])
            verdicts.append(r["verdict"])
            lines.append(f"{other} = {v:g}: {r['verdict']} (rho {r['rho']:+.2f}, p = {r['p']:.2g})")
        out.append((f"Fig. 3e: \"lazy, misaligned networks grok the most intensely\": time to grok {text}",
                    st.verdict(all(x == st.REPRODUCED for x in verdicts), st.NOT_REPRODUCED in verdicts),
                    "; ".join(lines)))
    return out


def observations(ds) -> list[str]:
    m = ds.time_to_grok.mean("seed", skipna=False)
    return [f"runs that did not grok: {int(np.isnan(ds.time_to_grok.values).sum())} of {ds.time_to_grok.size}; "
            f"mean time to grok {float(m.min()):.3g} to {float(m.max()):.3g}"]


def plot(ds):
    import matplotlib.pyplot as plt

    from grokking_workbench.experiments import figures

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    m, se = mean_se(ds.time_to_grok)
    n_seeds = ds.sizes["seed"]
    im = axes[0].imshow(m.values.T, origin="lower", aspect="auto", cmap="viridis")
    axes[0].set(xticks=range(ds.sizes["alpha"]), xticklabels=[f"{a:g}" for a in ds.alpha.values],
                yticks=range(ds.sizes["eps"]), yticklabels=[f"{e:g}" for e in ds.eps.values],
                xlabel="alpha", ylabel="eps")
    axes[0].set_title(f"time to grok (mean over {n_seeds} datasets)", fontsize=10)
    fig.colorbar(im, ax=axes[0], label="time to grok t_test - t_train")
    for e in ds.eps.values:
        axes[1].errorbar(ds.alpha, m.sel(eps=e), yerr=se.sel(eps=e), marker="o", ms=3,
                         capsize=2, label=f"eps = {e:g}")
    axes[1].set(xscale="log", yscale="log", xlabel="alpha", ylabel="time to grok t_test - t_train")
    figures.log_ticks_as_values(axes[1], "x", ds.alpha.values)
    axes[1].set_title(f"Fig. 3e: mean +- s.e. over {n_seeds} datasets", fontsize=10)
    axes[1].legend(fontsize=7)
    fig.suptitle(f"t_train, t_test: first times the train, test loss fall below "
                 f"{ds.attrs['grok_fraction']:g} of their initial value", fontsize=10)
    return fig


QUICK = WideConfig(N=100, D=50, P=275, alpha=(0.5, 1.0, 2.0), eps=(0.05, 0.1, 0.2), t_max=800.0,
                   dt=0.5, seeds=3, records=50, held_out=500)
FULL = WideConfig(N=500, D=100, P=550, alpha=(0.25, 0.5, 1.0, 2.0), eps=(0.025, 0.05, 0.1, 0.2),
                  t_max=2000.0, dt=0.5, seeds=4, records=100, held_out=2000)

register(name="time-to-grok", summary="time to grok over an (alpha, eps) grid",
         claim="Kumar et al. 2024 Fig. 3e: the time between the fall of the train loss and that of "
               "the test loss rises with laziness alpha and falls with alignment eps",
         quick=Curves(QUICK), full=Curves(FULL), run=run, plot=plot, statements=statements,
         observations=observations, schema=SCHEMA)
