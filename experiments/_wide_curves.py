"""Learning curves of the wide network (Kumar et al. 2024) with the lazy-limit theory beside them.

Shared by the experiments on the polynomial task: one configuration (:class:`Curves`) is a
``numerics.simulate.wide.WideConfig`` whose swept hyperparameters (alpha, eps, sigma, aligned) run
as one batched simulation, optionally varied in one more field by separate runs (the training set
size P, the Hermite degree k, the number of indices, the momentum, trained readouts).

Beside every simulated curve, per dataset (seed) and hyperparameter point, the same network's
linearisation (``numerics.lazy``): the alpha -> infinity limit of the centred predictor, i.e.
gradient descent with the empirical initial NTK, on the same training and held-out points. Its
t -> infinity test loss is that of kernel regression with the initial NTK (Kumar et al.
Fig. 1b, horizontal line), and y^T K^{-1} y is the task's difficulty (their eq. (8)).

Time to grok (Fig. 3e), defined here as t_test - t_train, where t_train and t_test are the
first times the train and the test loss fall below ``grok_fraction`` of their values at t = 0
(linear interpolation between records; NaN when a loss does not get there within t_max).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from grokking_workbench.numerics.schema import Schema, Var
from grokking_workbench.numerics.simulate.wide import SCHEMA as WIDE_SCHEMA
from grokking_workbench.numerics.simulate.wide import WideConfig
from grokking_workbench.numerics.statistics import crossing_time  # noqa: F401  (used here and by the experiments)


@dataclass(frozen=True)
class Curves:
    net: WideConfig
    vary: str = ""
    values: tuple = ()
    grok_fraction: float = 0.25
    lazy: bool = True


_LONG = {
    "lazy_train_loss": "train loss of the linearised network (alpha -> infinity limit, initial NTK)",
    "lazy_test_loss": "held-out loss of the linearised network (alpha -> infinity limit)",
    "lazy_param_change": "|W - W0|_F / |W0|_F of the linearised network",
    "kernel_test_loss": "held-out loss of kernel regression with the initial NTK (t -> infinity of the linearised network)",
    "difficulty": "y^T K^-1 y of the training labels with the initial NTK of the input weights (Kumar et al. eq. 8)",
    "t_train_fall": "first time the train loss falls below grok_fraction of its initial value",
    "t_test_fall": "first time the test loss falls below grok_fraction of its initial value",
    "time_to_grok": "t_test_fall - t_train_fall",
}
GROK_FRACTION = " (grok_fraction = {grok_fraction:g})"   # the grokking times' long names end with it
VARIED = ("P", "k", "indices", "momentum", "train_readouts", "j", "weight_decay")   # fields a Curves may vary
COORDS = ("t", "seed", "alpha", "eps", "sigma", "aligned") + VARIED  # the coordinates of its dataset

# The dataset's variables and coordinates: the simulator's (numerics.simulate.wide, without A and
# i), the lazy-limit theory, the grokking times and the varied field; dimensions depend on the
# sweep and are not declared
CURVES_SCHEMA = Schema({
    **{name: Var(var.long_name, var.units, None, var.required)
       for name, var in WIDE_SCHEMA.items() if name not in ("A", "i", "test_loss")},
    "test_loss": Var(lambda c: WIDE_SCHEMA["test_loss"].name_for(runs(c)[0]), "1", None),
    **{name: Var(text, "1", None, required=False) for name, text in _LONG.items() if "fall" not in name
       and name != "time_to_grok"},
    **{name: Var(_LONG[name] + GROK_FRACTION, "1", None)
       for name in ("t_train_fall", "t_test_fall", "time_to_grok")},
    **{name: Var(name, "1", (name,), required=False) for name in VARIED},
})


def runs(c: Curves) -> list[WideConfig]:
    """The simulations of ``c``: one, or one per value of ``c.vary``."""
    if not c.vary:
        return [c.net]
    return [dataclasses.replace(c.net, **{c.vary: v}) for v in c.values]


def lazy_theory(cfg: WideConfig, T: int) -> dict:
    """Linearised-network curves for every seed and hyperparameter point of ``cfg`` (first T
    records), shaped like the simulator's variables: swept dims, seed, t."""
    from grokking_workbench.numerics.lazy import linearised_curves
    from grokking_workbench.numerics.simulate import wide
    from grokking_workbench.numerics.simulate.committee import record_steps

    pb = wide.problem(cfg)
    steps = record_steps(cfg.t_max, cfg.dt, cfg.records)[:T]
    S, K = pb["W0"].shape[:2]
    out = {}
    for kk in range(K):
        for s in range(S):
            c = linearised_curves(pb["X"][s], pb["y"][s], pb["W0"][s, kk], pb["v0"][s, kk],
                                  float(pb["eps"][kk]), steps, cfg.dt,
                                  alpha=float(pb["alpha"][kk]), Xh=pb["Xh"][s], yh=pb["yh"][s],
                                  target=cfg.target, k=cfg.k, readouts=cfg.train_readouts)
            for name, key in (("lazy_train_loss", "train_loss"), ("lazy_test_loss", "held_out_loss"),
                              ("lazy_param_change", "param_change"),
                              ("kernel_test_loss", "kernel_held_out_loss"), ("difficulty", "difficulty")):
                value = np.asarray(c[key])
                out.setdefault(name, np.zeros((K, S) + value.shape))[kk, s] = value
    lead = tuple(len(v) for v in cfg.sweep().values())
    return {name: x.reshape(lead + x.shape[1:]) for name, x in out.items()}




def rises(values) -> bool:
    """Strictly increasing, where NaN (never got there within t_max) counts as infinite."""
    v = np.where(np.isnan(values), np.inf, values)
    return bool(np.all((v[1:] > v[:-1]) | np.isinf(v[1:]) & np.isinf(v[:-1])))


def grok_times(ds, fraction: float):
    """t_train_fall, t_test_fall and time_to_grok (module docstring) over all but ``t``."""
    import xarray as xr

    def fall(name):
        return xr.apply_ufunc(
            lambda x: crossing_time(ds.t.values, x, fraction * x[0]), ds[name],
            input_core_dims=[["t"]], vectorize=True)

    tt, te = fall("train_loss"), fall("test_loss")
    out = {"t_train_fall": tt, "t_test_fall": te, "time_to_grok": te - tt}
    for name, da in out.items():
        da.attrs.update(CURVES_SCHEMA.attrs(name, grok_fraction=fraction))
    return out


def run_curves(c: Curves):
    """Simulate every run of ``c``, add the lazy-limit theory and the grokking times."""
    import xarray as xr

    from grokking_workbench.numerics.simulate.wide import simulate

    parts, statuses = [], []
    for cfg in runs(c):
        if cfg.held_out < 1:
            raise ValueError("the learning-curve experiments need held-out points (held_out > 0)")
        ds = simulate(cfg).drop_vars(["A", "i"], errors="ignore")
        statuses.append(ds.attrs["status"])
        if c.lazy and not cfg.momentum:
            dims = ds.train_loss.dims
            for name, x in lazy_theory(cfg, ds.sizes["t"]).items():
                d = dims if x.ndim == len(dims) else dims[:-1]
                ds[name] = (d, x)
        parts.append(ds)
    if c.vary:
        values = [int(v) if isinstance(v, bool) else v for v in c.values]
        ds = xr.concat(parts, dim=c.vary, combine_attrs="override", join="outer")
        ds = ds.assign_coords({c.vary: (c.vary, values)})
        ds.attrs.pop(c.vary, None)
    ds.update(grok_times(ds, c.grok_fraction))
    ds.attrs["grok_fraction"] = c.grok_fraction
    bad = [s for s in statuses if s != "complete"]
    ds.attrs["status"] = "; ".join(bad) if bad else "complete"
    return CURVES_SCHEMA.apply(ds, c)


def selections(ds) -> list[tuple[str, dict]]:
    """(label, selection) for every combination of the dimensions other than seed and t."""
    dims = [d for d in ds.train_loss.dims if d not in ("seed", "t")]
    if not dims:
        return [("", {})]
    grids = np.meshgrid(*(ds[d].values for d in dims), indexing="ij")
    out = []
    for values in zip(*(g.ravel() for g in grids)):
        sel = dict(zip(dims, values))
        out.append((", ".join(f"{d} = {v:g}" for d, v in sel.items()), sel))
    return out


def mean_se(da):
    """Mean and standard error over seeds."""
    n = da.sizes["seed"]
    return da.mean("seed"), (da.std("seed", ddof=1) / np.sqrt(n) if n > 1 else 0 * da.mean("seed"))


_PANEL_LABELS = {
    "weight_norm": "RMS weight norm",
    "ntk_alignment": "CKA of the NTK with the labels",
    "param_change": "|W - W0|_F / |W0|_F",
    "linear_power": "power in linear modes",
    "variance_error": "variance error",
    "misalignment_error": "misalignment error",
    "mean_readout": "mean readout (1/N) sum_i v_i",
}
_LOG_PANELS = ("param_change", "variance_error", "misalignment_error", "linear_power")
TIME_LABEL = "training time t (steps x dt)"


def curve_colours(ds, fig, axes):
    """One colour per selection (``selections``) and its key: a colour bar for one numeric swept
    dimension with 4 or more values, otherwise a legend naming each selection."""
    from grokking_workbench.experiments import figures

    chosen = selections(ds)
    dims = [d for d in ds.train_loss.dims if d not in ("seed", "t")]
    if len(dims) == 1 and len(chosen) >= 4 and np.issubdtype(ds[dims[0]].dtype, np.number):
        key = figures.ValueColours(ds[dims[0]].values)
        key.bar(fig, list(axes), dims[0], shrink=0.9)
        return [key.colour(v) for v in ds[dims[0]].values]
    colours = [f"C{n % 10}" for n in range(len(chosen))]
    if dims:
        figures.value_legend(fig, [(label, c) for (label, _), c in zip(chosen, colours)],
                             loc="outside right upper")
    return colours


def plot_curves(ds, panels: tuple = (), title: str = "", lazy: bool = True, extra: int = 0):
    """Train (dashed) and test (solid) loss, mean +- standard error over seeds, on a log-time
    axis; the linearised network's test loss (dotted) and kernel regression (thin horizontal);
    then one panel per variable in ``panels``, then ``extra`` empty panels for the caller.
    ``title`` (the claim) goes above the panels; line styles are named in a legend below them."""
    import matplotlib.pyplot as plt

    from grokking_workbench.experiments import figures

    n = 1 + len(panels) + extra
    fig, axes = plt.subplots(1, n, figsize=(4.6 * n + 1.2, 4.2), squeeze=False, layout="constrained")
    every = list(axes[0])
    axes = every[:n - extra]
    colours = curve_colours(ds, fig, every)
    t = ds.t.values
    keep = t > 0
    lazy = lazy and "lazy_test_loss" in ds
    for (label, sel), color in zip(selections(ds), colours):
        d = ds.sel(sel)
        for name, style in (("test_loss", figures.TEST), ("train_loss", figures.TRAIN)):
            m, se = mean_se(d[name])
            axes[0].plot(t[keep], m[keep], color=color, **style)
            axes[0].fill_between(t[keep], (m - se)[keep], (m + se)[keep], color=color, alpha=0.2, lw=0)
        if lazy:
            axes[0].plot(t[keep], d.lazy_test_loss.mean("seed")[keep], color=color, **figures.LINEARISED)
            axes[0].axhline(float(d.kernel_test_loss.mean()), color=color, **figures.KERNEL)
        for ax, name in zip(axes[1:], panels):
            m, se = mean_se(d[name])
            ax.plot(t[keep], m[keep], color=color, **figures.TEST)
            ax.fill_between(t[keep], (m - se)[keep], (m + se)[keep], color=color, alpha=0.2, lw=0)
    axes[0].set(xscale="log", yscale="log", xlabel=TIME_LABEL, ylabel="loss (mean squared error)")
    axes[0].set_title("train and test loss", fontsize=10)
    for ax, name in zip(axes[1:], panels):
        ax.set(xscale="log", xlabel=TIME_LABEL, ylabel=_PANEL_LABELS.get(name, name))
        figures.wrapped_title(ax, ds[name].attrs.get("long_name", name))
        if name in _LOG_PANELS:
            ax.set_yscale("log")
    styles = [("test (population) loss", figures.TEST), ("train loss", figures.TRAIN)]
    if lazy:
        styles += [("linearised network, test loss", figures.LINEARISED),
                   ("kernel regression with the initial NTK (t -> inf)", figures.KERNEL)]
    styles.append((figures.band_label(ds.sizes["seed"]), "band"))
    figures.style_legend(fig, styles, loc="outside lower center", ncol=len(styles))
    if title:
        fig.suptitle(figures.wrapped(title, int(fig.get_figwidth() * 72 / 5.5)), fontsize=10)
    return fig
