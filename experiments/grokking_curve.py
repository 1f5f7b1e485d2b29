"""Grokking on the polynomial task (Kumar et al. 2024, Fig. 1b-c and Fig. 4 left).

The wide network f~ = alpha [f(theta) - f(theta_0)] on y = (beta . x)^2 / 2, gradient descent
with learning rate eta_0 / alpha^2, no weight decay. Recorded on a log-time axis: train and
(population) test loss over seeds, the linearised network's curves on the same data (the
alpha -> infinity limit, ``numerics.lazy``) and the test loss of kernel regression with the
initial NTK (horizontal line), the root-mean-square weight norm and the NTK alignment (CKA of the
current NTK with the held-out labels).

The claim tested: the network first follows its linearisation (train loss falls a little, test
loss rises as power goes into linear modes), then leaves it, the train loss falls and the test
loss follows later, far below the kernel regression line, while the weight norm grows (no weight
decay needed) and the NTK aligns with the task.
"""

from __future__ import annotations

import numpy as np

from grokking_workbench.experiments._wide_curves import Curves, crossing_time, plot_curves, run_curves
from grokking_workbench.experiments.registry import register
from grokking_workbench.numerics.simulate.wide import WideConfig


def run(config: Curves):
    return run_curves(config)


def lazy_departure(ds, tolerance: float = 0.1) -> float:
    """First time the mean held-out loss of the network differs from its linearisation's by more
    than ``tolerance`` (relative)."""
    rel = abs(ds.held_out_loss - ds.lazy_test_loss).mean("seed") / ds.lazy_test_loss.mean("seed")
    return crossing_time(ds.t.values, -rel.values, -tolerance)


def check(ds) -> tuple[bool, str]:
    """Train falls before test in every seed; the test loss first rises above its initial value,
    and up to its peak the network is its linearisation (held-out losses within 10 %); the final
    test loss is below half of kernel regression's; weight norm and NTK alignment grow."""
    mean = lambda name: ds[name].mean("seed")                       # noqa: E731
    delay = bool((ds.time_to_grok > 0).all())
    test = mean("test_loss")
    bump = float(test.max() / test.isel(t=0))
    t_peak = float(ds.t[int(np.argmax(test.values))])
    t_dep = lazy_departure(ds)
    final, kernel = float(test.isel(t=-1)), float(mean("kernel_test_loss"))
    norm_up = bool((ds.weight_norm.isel(t=-1) > ds.weight_norm.isel(t=0)).all())
    align = mean("ntk_alignment")
    align_up = bool(align.isel(t=-1) > align.isel(t=0))
    ok = delay and bump > 1 and t_dep >= t_peak and final < 0.5 * kernel and norm_up and align_up
    return ok, (f"time to grok {float(mean('time_to_grok')):.3g} (> 0 in every seed: {delay}); "
                f"test loss peaks at {bump:.3f} x its initial value at t = {t_peak:.3g} and leaves "
                f"the linearisation at t = {t_dep:.3g}; final test {final:.3g} vs kernel "
                f"regression {kernel:.3g}; weight norm grows: {norm_up}; NTK alignment "
                f"{float(align.isel(t=0)):.3f} -> {float(align.isel(t=-1)):.3f}")


def plot(ds):
    return plot_curves(ds, panels=("weight_norm", "ntk_alignment"),
                       title=f"alpha = {ds.attrs['alpha']:g}, eps = {ds.attrs['eps']:g}, "
                             f"P = {ds.attrs['P']}")


QUICK = WideConfig(N=100, D=50, P=275, alpha=1.0, eps=0.05, t_max=1000.0, dt=0.5, seeds=4,
                   records=60, held_out=2000, alignment_points=200)
FULL = WideConfig(N=500, D=100, P=550, alpha=1.0, eps=0.05, t_max=4000.0, dt=0.5, seeds=8,
                  records=120, held_out=2000, alignment_points=400)

register(name="grokking-curve", summary="train/test loss, weight norm and NTK alignment of a grokking run",
         claim="Kumar et al. 2024 Fig. 1b-c, Fig. 4 left: the network follows its linearisation "
               "(test loss rises while train falls), then learns features and generalises far "
               "below the initial-NTK kernel regression, with growing weight norm and alignment",
         quick=Curves(QUICK), full=Curves(FULL), run=run, plot=plot, check=check)
