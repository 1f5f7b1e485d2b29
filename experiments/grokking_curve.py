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

from grokking_workbench.experiments._wide_curves import (CURVES_SCHEMA, Curves, crossing_time, plot_curves,
                                                          run_curves)
from grokking_workbench.experiments._claims import exceeds, groks
from grokking_workbench.experiments.registry import register
from grokking_workbench.numerics import statistics as st
from grokking_workbench.numerics.simulate.wide import WideConfig


def run(config: Curves):
    return run_curves(config)


def lazy_departure(ds, tolerance: float = 0.1) -> float:
    """First time the mean held-out loss of the network differs from its linearisation's by more
    than ``tolerance`` (relative)."""
    rel = abs(ds.held_out_loss - ds.lazy_test_loss).mean("seed") / ds.lazy_test_loss.mean("seed")
    return crossing_time(ds.t.values, -rel.values, -tolerance)


def statements(ds) -> list[tuple[str, str, str]]:
    """Fig. 1b-c (rules of ``experiments._claims``; paired differences over datasets with the
    Bonferroni limit over the four comparisons of statements 2-5):

    1. "Grokking" (Fig. 1b): the network groks.
    2. the green curve of Fig. 1a-b: the test loss first rises above its initial value (its mean
       peak exceeds the initial value), and up to the peak the network is its linearisation
       (held-out losses within 10 %).
    3. Fig. 1b, horizontal line: the final test loss is below kernel regression's.
    4. Fig. 1c: "parameter weight norm increases": final above initial weight norm.
    5. Fig. 1c: "Features get aligned": final above initial NTK alignment.
    """
    test = ds.test_loss.values
    k = int(np.argmax(test.mean(0)))
    t_peak, t_dep = float(ds.t[k]), lazy_departure(ds)
    v, d, se = exceeds(test[:, k], test[:, 0], 4)
    follows = t_dep >= t_peak
    out = [groks(ds, ""),
           ("Fig. 1a-b: the test loss first rises while the network follows its linearisation", 
            st.verdict(v == st.REPRODUCED and follows, v == st.NOT_REPRODUCED or not follows),
            f"peak above the initial test loss by {d:.3g} +- {se:.2g} at t = {t_peak:.3g}; leaves the "
            f"linearisation (10 %) at t = {t_dep:.3g}")]
    v, d, se = exceeds(ds.kernel_test_loss.values, test[:, -1], 4)
    out.append(("Fig. 1b: the network ends below kernel regression with the initial NTK (horizontal line)", v,
                f"kernel - final test loss {d:.3g} +- {se:.2g}"))
    for name, text in (("weight_norm", "Fig. 1c: \"parameter weight norm increases\""),
                       ("ntk_alignment", "Fig. 1c: \"Features get aligned\" (NTK alignment rises)")):
        x = ds[name].values
        v, d, se = exceeds(x[:, -1], x[:, 0], 4)
        out.append((text, v, f"final - initial {d:.3g} +- {se:.2g}"))
    return out


def plot(ds):
    return plot_curves(ds, panels=("weight_norm", "ntk_alignment"),
                       title=f"Kumar et al. 2024 Fig. 1b-c: one grokking run, alpha = {ds.attrs['alpha']:g}, "
                             f"eps = {ds.attrs['eps']:g}, P = {ds.attrs['P']}")


QUICK = WideConfig(N=100, D=50, P=275, alpha=1.0, eps=0.05, t_max=1000.0, dt=0.5, seeds=4,
                   records=60, held_out=2000, alignment_points=200)
FULL = WideConfig(N=500, D=100, P=550, alpha=1.0, eps=0.05, t_max=4000.0, dt=0.5, seeds=8,
                  records=120, held_out=2000, alignment_points=400)

register(name="grokking-curve", summary="train/test loss, weight norm and NTK alignment of a grokking run",
         claim="Kumar et al. 2024 Fig. 1b-c, Fig. 4 left: the network follows its linearisation "
               "(test loss rises while train falls), then learns features and generalises far "
               "below the initial-NTK kernel regression, with growing weight norm and alignment",
         quick=Curves(QUICK), full=Curves(FULL), run=run, plot=plot, statements=statements,
         schema=CURVES_SCHEMA)
