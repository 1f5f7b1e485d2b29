"""Labels replaced by eigenvectors of the initial NTK (Kumar et al. 2024, Fig. 5; App. 17).

The inputs of the polynomial task (Gaussian, training and held-out points together) are labelled
with the j-th eigenvector (descending eigenvalue) of the initial NTK Gram matrix K0 (eq. 10) of
all of them, scaled to unit mean square; the network trains on the first P and is tested on the
rest (``numerics.simulate.wide``, target ``ntk-eigenvector``). The initial alignment is the
double-centred CKA of the network's initial NTK (K0 at width N) on the held-out points with their
labels (``ntk_alignment`` at t = 0). Small j are aligned with the initial kernel; large j are not.

The paper's claim: CKA falls as j rises; j = 1 generalises with train and test together, an
intermediate j groks, and a large j is not learned with this much data. Its X, D and P are not
given; here D = 50 (quick) or 100 (full), so j <= D are linear functions of x (eigenvalue 1/D)
and larger j quadratic ones (2 eps^2 / D^2).

Finding (quick configuration): labels j <= D are learned (test loss 0.03; kernel regression does
better, 3e-4), labels j >= 70 by neither the network nor kernel regression (1.4-1.7 and 0.7-0.8);
no intermediate j groks at these sizes.
"""

from __future__ import annotations

import numpy as np

from grokking_workbench.experiments._wide_curves import Curves, plot_curves, run_curves
from grokking_workbench.experiments.registry import register
from grokking_workbench.numerics.simulate.wide import WideConfig


def run(config: Curves):
    ds = run_curves(config)
    ds["initial_cka"] = ds.ntk_alignment.isel(t=0)
    ds.initial_cka.attrs.update(long_name="double-centred CKA of the initial NTK with the labels "
                                          "on held-out points", units="1")
    return ds


def check(ds) -> tuple[bool, str]:
    """The initial CKA falls as j rises: no rise between consecutive j larger than 3 standard
    errors of the paired (same-seed) difference, and a fall from the first to the last j larger
    than 3 of them. (Within the quadratic block, j > D + 1, the eigenvalues are nearly equal and
    the CKA is flat within its errors.)"""
    cka = ds.initial_cka
    n = ds.sizes["seed"]

    def se(da):
        return da.std("seed", ddof=1) / np.sqrt(n)

    step = cka.diff("j")
    no_rise = bool((step.mean("seed") < 3 * se(step)).all())
    total = cka.isel(j=0) - cka.isel(j=-1)
    falls = bool(total.mean("seed") > 3 * se(total))
    m = cka.mean("seed")
    final = ds.test_loss.isel(t=-1).mean("seed")
    kernel = ds.kernel_test_loss.mean("seed")
    return no_rise and falls, (
        f"initial CKA falls with j: {falls}, no significant rise: {no_rise} "
        f"({', '.join(f'j={j}: {c:.3g}' for j, c in zip(ds.j.values, m.values))}); "
        f"final test loss {', '.join(f'{v:.2g}' for v in final.values)}; kernel "
        f"regression {', '.join(f'{v:.2g}' for v in kernel.values)}")


def plot(ds):
    fig = plot_curves(ds, title="labels = j-th eigenvector of the initial NTK", extra=1)
    ax = fig.axes[-1]
    cka = ds.initial_cka
    ax.errorbar(ds.j, cka.mean("seed"), yerr=cka.std("seed", ddof=1), marker="o", ms=3)
    ax.set(xlabel="j", ylabel="CKA of the initial NTK with the labels", yscale="log",
           title="initial alignment (held-out points)")
    return fig


QUICK = WideConfig(N=100, D=50, P=275, held_out=275, alpha=1.0, eps=0.2, t_max=1000.0, dt=0.5,
                   seeds=3, records=50, alignment_points=275, target="ntk-eigenvector")
FULL = WideConfig(N=500, D=100, P=550, held_out=550, alpha=1.0, eps=0.2, t_max=4000.0, dt=0.5,
                  seeds=6, records=100, alignment_points=550, target="ntk-eigenvector")

register(name="ntk-eigenvector-labels", summary="labels = j-th eigenvector of the initial NTK",
         claim="Kumar et al. 2024 Fig. 5: the CKA of the initial NTK with the labels falls as j "
               "rises; aligned labels (small j) are learned at once, misaligned ones late or not",
         quick=Curves(QUICK, vary="j", values=(1, 25, 50, 70, 100, 150)),
         full=Curves(FULL, vary="j", values=(1, 50, 70, 100, 150, 200, 300)),
         run=run, plot=plot, check=check)
