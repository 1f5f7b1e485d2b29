"""Learning curves of the wide network across one knob at a time (Kumar et al. 2024, Figs. 3, 4,
7a, 9-11, 13a-15), each with the linearised network and kernel regression beside it
(``experiments._wide_curves``; time to grok as defined there).

- ``alpha-sweep`` (Fig. 3a, 7a): laziness alpha, batched. Larger alpha delays feature learning,
  ends at a higher test loss, and approaches the linearised network: the largest deviation of the
  held-out loss from the linearisation shrinks as alpha grows (as 1/alpha for alpha -> infinity).
- ``eps-sweep`` (Fig. 3b): alignment eps, batched. Smaller eps delays the fall of the test loss;
  eps sets how far the linearised solution gets (kernel regression's test loss falls with eps).
- ``loss-decomposition`` (Fig. 4 right): the three terms of eq. (6) during training; their sum (the
  exact population loss) matches the loss measured on held-out points within sampling error; the
  power in linear modes rises and falls, the misalignment error falls late.
- ``goldilocks`` (Fig. 9): training set sizes P; too little data fails (power left in linear
  modes), an intermediate P groks, a large P generalises without delay.
- ``aligned-init`` (Fig. 10): a fraction of the analytic solution added to the initial weights;
  the rise of the test loss above its initial value shrinks with it and vanishes.
- ``readouts`` (Fig. 11, eqs. 21-23): fixed against trained readouts; eq. (6) with the
  readout-weighted wbar and M still sums to the test loss, and both grok.
- ``momentum`` (Fig. 13a): heavy-ball momentum 0.95 against plain gradient descent; both grok.
- ``hermite`` (Fig. 15): targets He_k(beta . x) / 2 with phi(z) = z + (eps/2) He_k(z), k = 3
  (quick) and 3, 4 (full). Euler steps must be small (dt = 0.025, 0.005 for k = 4: phi' grows
  like h^(k-1)). He_3 is learned with a short delay at D = 20, P = 400 (at P = 200 one seed in
  four stays on the plateau); He_4 was not learned within t = 200 at P up to 3000 (eps = 0.05),
  so the full configuration may not confirm it.
- ``multi-index`` (Fig. 14): sums of r = 1, 2, 3 quadratic indices.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from grokking_workbench.experiments._wide_curves import Curves, plot_curves, rises, run_curves
from grokking_workbench.experiments.registry import register
from grokking_workbench.numerics.simulate.wide import WideConfig

#: the paper's network (N = 500, D = 100, P = 550) and a small one for quick runs
QUICK = WideConfig(N=100, D=50, P=275, alpha=1.0, eps=0.05, t_max=1000.0, dt=0.5, seeds=3,
                   records=50, held_out=2000)
FULL = WideConfig(N=500, D=100, P=550, alpha=1.0, eps=0.05, t_max=4000.0, dt=0.5, seeds=6,
                  records=100, held_out=4000)


def _curves(net: WideConfig, vary: str = "", values: tuple = (), **net_changes) -> Curves:
    return Curves(dataclasses.replace(net, **net_changes), vary=vary, values=tuple(values))


def _final(ds, name="test_loss"):
    return ds[name].isel(t=-1).mean("seed")


def _grokked(ds) -> bool:
    """Train falls before test in every seed and run, and the test loss gets below the fraction."""
    return bool(np.isfinite(ds.time_to_grok.values).all() and (ds.time_to_grok > 0).all())


def _decomposition_z(ds) -> tuple[float, float]:
    """Largest |sum of the eq. (6) terms - held-out loss| in held-out standard errors (the exact
    population loss of the decomposition against the loss measured on fresh points), and the
    limit it must stay below: a two-sided Bonferroni bound for a 1 % family-wise false alarm over
    all runs, seeds and records."""
    from scipy.stats import norm

    total = ds.variance_error + ds.misalignment_error + ds.linear_power
    z = abs(total - ds.held_out_loss) / ds.held_out_loss_se
    return float(z.max()), float(norm.isf(0.005 / z.size))


def _lazy_gap(ds):
    """Largest |held-out loss - linearised held-out loss| over time, per run (mean over seeds)."""
    return abs(ds.held_out_loss - ds.lazy_test_loss).max("t").mean("seed")


# ------------------------------------------------------------------------------------ checks
def check_alpha(ds):
    ttg = ds.time_to_grok.mean("seed", skipna=False)
    up = rises(ttg.values)
    final = _final(ds)
    worse = bool((final.diff("alpha") > 0).all())
    gap = _lazy_gap(ds)
    closer = bool((gap.diff("alpha") < 0).all())
    top = ds.alpha.values[-2:]
    ratio = float(gap.sel(alpha=top[0]) / gap.sel(alpha=top[1]))
    scaling = float(top[1] / top[0])
    ok = up and worse and closer and 0.5 * scaling < ratio < 2 * scaling
    return ok, (f"time to grok rises with alpha: {up}; final test loss rises with alpha: {worse} "
                f"({', '.join(f'{v:.3g}' for v in final.values)}); deviation from the "
                f"linearisation falls with alpha: {closer}, by {ratio:.3g} from alpha = {top[0]:g} "
                f"to {top[1]:g} (1/alpha: {scaling:g})")


def check_eps(ds):
    ttg = ds.time_to_grok.mean("seed")
    down = bool((ttg.diff("eps") < 0).all())
    kernel = ds.kernel_test_loss.mean("seed")
    better = bool((kernel.diff("eps") < 0).all())
    final = _final(ds)
    return down and better and _grokked(ds), (
        f"time to grok falls with eps: {down} ({', '.join(f'{v:.3g}' for v in ttg.values)}); "
        f"kernel regression's test loss falls with eps: {better}; final test loss "
        f"{', '.join(f'{v:.3g}' for v in final.values)}")


def check_decomposition(ds):
    z, limit = _decomposition_z(ds)
    lin = ds.linear_power.mean("seed")
    i_peak = int(np.argmax(lin.values))
    rises_falls = 0 < i_peak < ds.sizes["t"] - 1 and float(lin.isel(t=-1)) < 0.1 * float(lin.max())
    mis = ds.misalignment_error.mean("seed")
    late = float(mis.isel(t=-1)) < 0.5 * float(mis.isel(t=i_peak))
    return z < limit and rises_falls and late, (
        f"sum of the terms vs held-out loss: max |z| {z:.2f} (limit {limit:.2f}); power in linear modes "
        f"peaks at t = {float(ds.t[i_peak]):.3g} and ends at {float(lin.isel(t=-1) / lin.max()):.2g} "
        f"of its peak; misalignment error {float(mis.isel(t=i_peak)):.3g} at that peak -> "
        f"{float(mis.isel(t=-1)):.3g}")


def check_goldilocks(ds):
    P = ds.P.values
    final = _final(ds)
    small, mid, large = P[0], P[len(P) // 2], P[-1]
    fails = float(final.sel(P=small)) > 0.5 * float(ds.test_loss.isel(t=0).mean())
    lin_left = float(_final(ds, "linear_power").sel(P=small) / final.sel(P=small))
    ratio = (ds.t_test_fall / ds.t_train_fall).mean("seed")
    groks = float(ratio.sel(P=mid)) > 2 and float(final.sel(P=mid)) < 0.1
    prompt = float(ratio.sel(P=large)) < float(ratio.sel(P=mid)) and float(final.sel(P=large)) < 0.1
    return fails and groks and prompt, (
        f"final test loss {', '.join(f'P={p}: {v:.3g}' for p, v in zip(P, final.values))}; "
        f"P = {small} fails: {fails} (linear power {lin_left:.2f} of its final loss); "
        f"t_test / t_train = {', '.join(f'{v:.3g}' for v in ratio.values)}")


def _overshoot(ds):
    test = ds.test_loss.mean("seed")
    return test.max("t") / test.isel(t=0) - 1


def check_aligned(ds):
    over = _overshoot(ds)
    shrinks = bool((over.diff("aligned") < 0).all())
    vanishes = float(over.isel(aligned=-1)) < 0.01
    cka0 = ds.ntk_alignment.isel(t=0).mean("seed")
    more = bool((cka0.diff("aligned") > 0).all())
    return shrinks and vanishes and more, (
        f"test-loss rise above its initial value: "
        f"{', '.join(f'{c:g}: {v:.3g}' for c, v in zip(ds.aligned.values, over.values))}; "
        f"initial NTK alignment rises with the fraction: {more}")


def check_grokked(ds):
    msg = f"time to grok {', '.join(f'{v:.3g}' for v in ds.time_to_grok.mean('seed').values.ravel())}"
    ok = _grokked(ds)
    if "linear_power" in ds:
        z, limit = _decomposition_z(ds)
        ok = ok and z < limit
        msg += f"; eq. (6) terms against the held-out loss: max |z| {z:.2f} (limit {limit:.2f})"
    return ok, msg


# ------------------------------------------------------------------------------------ registry
def _register(name, summary, claim, quick, full, check, panels=()):
    register(name=name, summary=summary, claim=claim, quick=quick, full=full, run=run_curves,
             plot=lambda ds: plot_curves(ds, panels=panels, title=name), check=check)


_register("alpha-sweep", "learning curves across laziness alpha",
          "Kumar et al. 2024 Fig. 3a/7a: larger alpha delays the fall of the test loss, ends at a "
          "higher test loss and approaches the linearised network (kernel regression)",
          _curves(QUICK, alpha=(0.5, 1.0, 2.0, 10.0, 100.0), t_max=400.0),
          _curves(FULL, alpha=(0.5, 1.0, 2.0, 4.0, 10.0, 100.0), t_max=2000.0),
          check_alpha, panels=("param_change",))
_register("eps-sweep", "learning curves across alignment eps",
          "Kumar et al. 2024 Fig. 3b: smaller eps delays the fall of the test loss; eps sets how "
          "much the loss falls with the linearised solution",
          _curves(QUICK, eps=(0.05, 0.1, 0.2, 0.4), t_max=400.0),
          _curves(FULL, eps=(0.025, 0.05, 0.1, 0.2, 0.4), t_max=2000.0),
          check_eps, panels=("linear_power",))
_register("loss-decomposition", "the three terms of eq. (6) during grokking",
          "Kumar et al. 2024 eq. (6), Fig. 4 right: variance + misalignment + linear power = test "
          "loss (measured on held-out points); the early rise of the test loss is power in linear modes, which later vanishes "
          "as the misalignment error falls",
          _curves(QUICK), _curves(FULL), check_decomposition,
          panels=("variance_error", "misalignment_error", "linear_power"))
_register("goldilocks", "too little, enough and plenty of data (P)",
          "Kumar et al. 2024 Fig. 9: small P fails to generalise (power stays in linear modes), "
          "intermediate P groks, large P generalises without delay",
          _curves(QUICK, "P", (50, 120, 500), D=30, t_max=2000.0),
          _curves(FULL, "P", (50, 120, 500), D=30, t_max=4000.0),
          check_goldilocks, panels=("linear_power", "misalignment_error"))
_register("aligned-init", "adding a fraction of the analytic solution to the initial weights",
          "Kumar et al. 2024 Fig. 10: the grokking-like rise of the test loss vanishes as a small "
          "component of the solution is added to the initialisation (initial alignment rises)",
          _curves(QUICK, aligned=(0.0, 0.1, 0.2, 0.5, 1.0), alignment_points=200),
          _curves(FULL, aligned=(0.0, 0.05, 0.1, 0.2, 0.5, 1.0), alignment_points=400),
          check_aligned, panels=("ntk_alignment", "linear_power"))
_register("readouts", "fixed against trained readouts",
          "Kumar et al. 2024 Fig. 11, eqs. 21-23: with trained readouts eq. (6) with the "
          "readout-weighted wbar, M still sums to the test loss and the network still groks",
          _curves(QUICK, "train_readouts", (False, True), dt=0.2),
          _curves(FULL, "train_readouts", (False, True), dt=0.2),
          check_grokked, panels=("linear_power", "mean_readout"))
_register("momentum", "gradient descent with heavy-ball momentum 0.95",
          "Kumar et al. 2024 Fig. 13a: with momentum the curves keep the same shape (linear, then "
          "feature learning), with more bumps",
          _curves(QUICK, "momentum", (0.0, 0.95)), _curves(FULL, "momentum", (0.0, 0.95)),
          check_grokked, panels=("linear_power",))
_register("hermite", "Hermite targets He_3, He_4",
          "Kumar et al. 2024 Fig. 15: grokking persists for y = He_k(beta . x) with "
          "phi(z) = z + (eps/2) He_k(z), k = 3 (quick), 3 and 4 (full), with more data",
          _curves(QUICK, "k", (3,), target="hermite", D=20, P=400, alpha=2.0, t_max=300.0,
                  dt=0.025),
          _curves(FULL, "k", (3, 4), target="hermite", D=20, P=400, alpha=2.0, t_max=300.0,
                  dt=0.005),
          check_grokked)
_register("multi-index", "targets with 1, 2, 3 quadratic indices",
          "Kumar et al. 2024 Fig. 14: grokking persists when the target spans several directions",
          _curves(QUICK, "indices", (1, 2, 3), target="multi-index"),
          _curves(FULL, "indices", (1, 2, 3), target="multi-index"),
          check_grokked, panels=("misalignment_error",))
