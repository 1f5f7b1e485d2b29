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

Statements (Fig. 5 caption; written 2026-11-30 after the full result, see
``experiments.criteria``; rules of ``experiments._claims``):

1. the initial CKA falls with j (rule "falls with");
2. j = 1: "learning curves move together": t_test <= 1.5 t_train in every dataset;
3. j = 70: "the network groks" (rule "groks");
4. j = 100: "the network cannot generalize": the final test loss exceeds half its initial value
   (paired difference beyond 1.96 SE; the opposite beyond it is "not reproduced").
"""

from __future__ import annotations

import numpy as np

from grokking_workbench.experiments._claims import exceeds, groks, mono, ratio
from grokking_workbench.experiments._wide_curves import CURVES_SCHEMA, Curves, plot_curves, run_curves
from grokking_workbench.experiments.registry import register
from grokking_workbench.numerics.schema import Schema, Var
from grokking_workbench.numerics import statistics as st
from grokking_workbench.numerics.simulate.wide import WideConfig


# The dataset's variables and coordinates: the learning curves' and the initial alignment
SCHEMA = CURVES_SCHEMA | Schema({
    "initial_cka": Var("double-centred CKA of the initial NTK with the labels on held-out points", "1", None),
})


def run(config: Curves):
    ds = run_curves(config)
    ds["initial_cka"] = ds.ntk_alignment.isel(t=0)
    return SCHEMA.apply(ds, config)


J_ALIGNED, J_GROKS, J_NEVER = 1, 70, 100     # the labels of Fig. 5a, b, c


def statements(ds) -> list[tuple[str, str, str]]:
    """The four statements of the module docstring."""
    out = [mono(ds.j.values, ds.initial_cka, "j", False, "Fig. 5: the j-th eigenvector is less aligned with the "
                "initial NTK as j rises (initial CKA falls with j)", "initial CKA")]
    r1 = ratio(ds.sel(j=J_ALIGNED)).values
    out.append((f"Fig. 5a: j = {J_ALIGNED}: \"If the network begins highly aligned as in (a), learning curves move "
                "together\" (t_test <= 1.5 t_train in every dataset)",
                st.verdict(bool(np.all(r1 <= 1.5)), bool(np.any(~(r1 <= 1.5)))),
                f"t_test / t_train {np.round(r1, 2).tolist()}"))
    s, v, e = groks(ds.sel(j=J_GROKS), "")
    out.append((f"Fig. 5b: j = {J_GROKS}: \"In the middle, as in (b), the network groks\"", v, e))
    d = ds.sel(j=J_NEVER)
    v, diff, se = exceeds(d.test_loss.isel(t=-1).values, 0.5 * d.test_loss.isel(t=0).values, 1)
    out.append((f"Fig. 5c: j = {J_NEVER}: \"the network cannot generalize\" (final test loss above half its "
                "initial value)", v, f"final - half the initial test loss {diff:.3g} +- {se:.2g}"))
    return out


def observations(ds) -> list[str]:
    final = ds.test_loss.isel(t=-1).mean("seed")
    kernel = ds.kernel_test_loss.mean("seed")
    return [f"final test loss by j: {', '.join(f'{j}: {v:.2g}' for j, v in zip(ds.j.values, final.values))}; "
            f"kernel regression {', '.join(f'{v:.2g}' for v in kernel.values)}"]


def plot(ds):
    fig = plot_curves(ds, title="labels = j-th eigenvector of the initial NTK (Kumar et al. 2024 Fig. 5)",
                      extra=1)
    ax = fig.axes[1]
    cka = ds.initial_cka
    ax.errorbar(ds.j, cka.mean("seed"), yerr=cka.std("seed", ddof=1), marker="o", ms=3, color="k",
                capsize=2, label=f"mean +- s.d. over {ds.sizes['seed']} datasets")
    ax.set(xlabel="j (index of the NTK eigenvector used as labels)",
           ylabel="CKA of the initial NTK with the labels", yscale="log")
    ax.set_title("initial alignment (held-out points)", fontsize=10)
    ax.legend(fontsize=7)
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
         run=run, plot=plot, statements=statements, observations=observations, schema=SCHEMA)
