"""A worked example: read a committed result, compare theory with simulation, plot.

``results/dmft-gamma/full.nc`` holds the finite-gamma DMFT's train and test loss (on the
solver's time grid ``t``, with the Monte-Carlo and discretisation errors ``*_se``, ``*_disc``)
beside ensembles of torch simulations at D = 2000 (``sim_*``, on their own record times
``t_sim``, one curve per ``seed``), for gamma = inf, 16, 8, 4 (DMFT paper Fig. 2a). The dataset
schema is in ``docs/datasets.md``.

Run it from the repository root::

    python docs/example.py            # prints the comparison, writes example.png

``tests/test_docs.py`` runs :func:`main` on the committed file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "results" / "dmft-gamma" / "full.nc"


def compare(ds: xr.Dataset) -> xr.Dataset:
    """Theory against simulation at the simulations' record times: the DMFT test loss
    interpolated to ``t_sim``, the simulations' mean and standard error over seeds, and the
    z-score of the difference with all three errors (simulation, Monte Carlo, discretisation),
    for t > 0 (both start from the same prescribed overlaps, where every error vanishes). These
    are the ``z_test`` the experiment stored (``experiments/dmft.py``)."""
    ds = ds.sel(t_sim=ds.t_sim > 0)
    theory = ds.test_loss.interp(t=ds.t_sim)
    theory_err = np.hypot(ds.test_loss_se, ds.test_loss_disc).interp(t=ds.t_sim)
    sim = ds.sim_test_loss.mean("seed")
    sim_se = ds.sim_test_loss.std("seed", ddof=1) / np.sqrt(ds.sizes["seed"])
    z = (sim - theory) / np.hypot(sim_se, theory_err)
    return xr.Dataset({"theory": theory, "simulation": sim, "simulation_se": sim_se, "z": z})


def plot(ds: xr.Dataset, table: xr.Dataset):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for k, gamma in enumerate(ds.gamma.values):
        color = f"C{k}"
        ax.plot(ds.t, ds.test_loss.sel(gamma=gamma), color=color, label=f"DMFT, gamma = {gamma:g}")
        row = table.sel(gamma=gamma)
        ax.errorbar(row.t_sim, row.simulation, yerr=2 * row.simulation_se, fmt="o", ms=3,
                    color=color, capsize=2)
    ax.set(xlabel=ds.t.attrs.get("long_name", "t"), ylabel="test loss", yscale="log",
           title="DMFT (lines) and simulations at D = 2000 (points, 2 SE)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def main(out: Path | None = Path("example.png")) -> xr.Dataset:
    """Print the largest |z| per gamma and the final losses; save the figure to ``out``."""
    with xr.open_dataset(RESULT) as ds:
        ds = ds.load()
    table = compare(ds)
    for gamma in ds.gamma.values:
        row = table.sel(gamma=gamma)
        if not np.isfinite(row.simulation).any():
            print(f"gamma = {gamma:>4g}: no simulation (the online limit is the ODE)")
            continue
        print(f"gamma = {gamma:>4g}: test loss at t = {float(ds.t_sim[-1]):g}: "
              f"DMFT {float(row.theory[-1]):.4f}, simulation {float(row.simulation[-1]):.4f} "
              f"+- {float(row.simulation_se[-1]):.4f}; max |z| = {float(np.abs(row.z).max()):.2f}")
    if out is not None:
        plot(ds, table).savefig(out, dpi=100)
    return table


if __name__ == "__main__":
    main()
