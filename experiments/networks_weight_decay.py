"""Weight decay against laziness on the polynomial task (Kumar et al. 2024, App. 13, Fig. 12).

The wide network of ``numerics.simulate.wide`` (centred predictor alpha [f - f0], gradient descent
at eta_0 / alpha^2, y = (beta . x)^2 / 2, phi(h) = h + (eps/2) h^2) with an L2 penalty: dw/dt
gains -(lambda / alpha^2) w, i.e. weight decay lambda at the same learning rate as the loss
(``WideConfig.weight_decay``). The paper gives neither its network size nor the units of "wd"; we
keep its ratios (wd = 1 and 5, alpha = 0.5 and 1.4) and map wd = 1 to lambda = c with
c = 0.002 per unit t, set as follows. Exploration before this configuration (N = 100, D = 50,
P = 275, eps = 0.05, t_max = 1000, 2 seeds, alpha = 0.5 and 1.4) at lambda = 0, 0.001, 0.003,
0.01, 0.03, 0.3: weight decay never shortened the delay between the falls of train and test loss;
it lengthened it (alpha = 0.5: t_test 66-97 at 0, 78-149 at 0.003) and from 0.01 (alpha = 0.5)
or 0.03 (alpha = 1.4) on the test loss no longer falls to a quarter of its initial value (at 0.3
neither loss falls). c = 0.002 is the largest of these scales at which wd = 1 still groks at
alpha = 0.5, as the paper's panel (a) requires. The decay pulls w to 0, where the centred
predictor is -alpha f(x; theta_0), not 0: a reason it cannot help here.

The claim (App. 13, Fig. 12 caption): "(a) Start with large grokking time delay with alpha = 0.5,
wd = 1. (b) Increasing weight decay to wd = 5 (keep alpha = 0.5) makes grokking vanish by
encouraging immediate movement in the NTK (feature learning). (c) Then commensurately increasing
laziness to alpha = 1.4 (keep wd = 5) recovers grokking by discouraging feature learning."
Grokking times as in ``grokking-curve``: t_train, t_test the first times train and test loss fall
below a quarter of their initial values. Statements and criteria (before the full run):

- S1 (a) alpha = 0.5, wd = 1 groks: t_test >= 2 t_train in every seed (t_test reached);
- S2 (b) alpha = 0.5, wd = 5 makes grokking vanish: the test loss falls (t_test reached) and
  t_test <= 1.5 t_train in every seed;
- S3 (c) alpha = 1.4, wd = 5 recovers it: t_test >= 2 t_train in every seed (t_test reached).

wd = 0 is run beside them for reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grokking_workbench.experiments._wide_curves import CURVES_SCHEMA, Curves, plot_curves, run_curves
from grokking_workbench.experiments.networks_common import Statement, as_tuples, verdict
from grokking_workbench.experiments.registry import register
from grokking_workbench.numerics.schema import Schema, Var
from grokking_workbench.numerics.simulate.wide import WideConfig

WD_UNIT = 0.002


@dataclass(frozen=True)
class WeightDecayConfig:
    net: WideConfig
    wd: tuple = (0.0, 1.0, 5.0)          # in units of wd_unit
    wd_unit: float = WD_UNIT


# The dataset's variables and coordinates: the learning curves' and the two weight-decay scales
SCHEMA = CURVES_SCHEMA | Schema({
    "weight_decay": Var("weight decay lambda: dw/dt gains -(lambda / alpha^2) w", "1", ("weight_decay",)),
    "wd": Var("weight decay in the paper's units (1 = {wd_unit:g})", "1", ("weight_decay",)),
})


def _curves(c: WeightDecayConfig) -> Curves:
    """The learning curves of ``c``: one run per weight decay."""
    return Curves(c.net, vary="weight_decay", values=tuple(w * c.wd_unit for w in c.wd), lazy=False)


def run(c: WeightDecayConfig):
    ds = run_curves(_curves(c))
    ds = ds.assign_coords(wd=("weight_decay", list(c.wd)))
    ds.attrs["wd_unit"] = c.wd_unit
    return SCHEMA.apply(ds, _curves(c), wd_unit=c.wd_unit)


def _point(ds, alpha, wd):
    d = ds.sel(alpha=alpha).swap_dims(weight_decay="wd").sel(wd=wd)
    return d.t_train_fall.values, d.t_test_fall.values


def statements(ds) -> list[tuple[str, str, str]]:
    out = []
    for text, alpha, wd, groks in (("(a) alpha = 0.5, wd = 1 groks", 0.5, 1.0, True),
                                   ("(b) alpha = 0.5, wd = 5: grokking vanishes", 0.5, 5.0, False),
                                   ("(c) alpha = 1.4, wd = 5: grokking recovered", 1.4, 5.0, True)):
        tt, te = _point(ds, alpha, wd)
        ratio = te / tt
        reached = bool(np.all(np.isfinite(te)))
        ok = reached and (bool(np.all(ratio >= 2)) if groks else bool(np.all(ratio <= 1.5)))
        out.append(Statement(text, verdict(ok),
                             f"t_train {np.round(tt, 1).tolist()}, t_test {np.round(te, 1).tolist()}, "
                             f"ratio {np.round(ratio, 2).tolist()} (NaN: test loss never fell to 1/4)"))
    return as_tuples(out)


def observations(ds) -> list[str]:
    t0, e0 = _point(ds, 0.5, 0.0)
    return [f"reference wd = 0, alpha = 0.5: t_test / t_train {np.round(e0 / t0, 2).tolist()}"]


def plot(ds):
    d = ds.swap_dims(weight_decay="wd")
    fig = plot_curves(d, panels=("weight_norm",), lazy=False,
                      title=f"Kumar et al. 2024 Fig. 12: weight decay wd (in units of {ds.attrs['wd_unit']:g}) "
                            "against laziness alpha")
    return fig


QUICK = WideConfig(N=100, D=50, P=275, alpha=(0.5, 1.4), eps=0.05, t_max=1000.0, dt=0.5, seeds=4,
                   records=60, held_out=1000, threads=1)
FULL = WideConfig(N=500, D=100, P=550, alpha=(0.5, 1.4), eps=0.05, t_max=4000.0, dt=0.5, seeds=8,
                  records=120, held_out=2000, threads=1)

register(name="weight-decay",
         summary="weight decay and laziness alpha on the polynomial task (wide network)",
         claim="Kumar et al. 2024 App. 13, Fig. 12: alpha = 0.5, wd = 1 groks; wd = 5 makes "
               "grokking vanish; alpha = 1.4 with wd = 5 recovers it",
         quick=WeightDecayConfig(QUICK), full=WeightDecayConfig(FULL), run=run, plot=plot,
         statements=statements, observations=observations, schema=SCHEMA)
