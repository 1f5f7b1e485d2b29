"""Grokking of a two-layer MLP on modular addition with vanilla gradient descent (Kumar et al.
2024, Sec. 3, Fig. 2a-c, App. 8.3 and App. 16, Fig. 16).

Task and network (App. 8.3): a + b mod p with p = 23, input the concatenated one-hot vectors of
a and b (D = 2p), output p numbers against the one-hot vector of c, mean squared error (averaged
over examples and outputs), N = 100 hidden units, 90 % of the p^2 pairs for training, full-batch
gradient descent with eta = 100, no weight decay. The paper names neither the activation nor
the parameterisation. Ours is the mean-field form of its wide network,
f(x) = (1/N) sum_i v_i phi(w_i . x), all weights N(0, 1), no biases, for which eta = 100 is a
stable step; phi is ReLU or the quadratic phi(h) = h^2 of Gromov (2023), whose analytic solution
the paper says its results agree with. Training uses the centred predictor
alpha [f(theta) - f(theta_0)] with learning rate eta / alpha^2 (App. 8.1); alpha = 1 in
``modular-mlp``. Each seed draws its own split and initialisation.

Grokking steps: t_train = first step where train accuracy >= 0.99, t_test = first step where
test accuracy >= 0.9 (NaN when not reached within the run).

``modular-mlp`` -- the claim (Sec. 3 and App. 16): "Weight norm of parameters *increases* during
training [...] so grokking cannot in general be explained by theories of weight decay" (Fig. 2a:
delayed test accuracy while the weight norm rises); Fig. 16: "Accuracy and loss plots for the same
network run": "Test accuracy is flat early in training, but test loss moves", and "the test loss
only dips below this amount around 3-4k epochs, precisely when the network generalizes in
accuracy". Atomic statements and criteria (written before the full run), for each activation:

- S1 delayed generalisation: in every seed t_test exists and t_test >= 2 t_train.
- S2 the weight norm rises: in every seed |theta| at t_test > |theta| at t_train > |theta_0|.
- S3 accuracy and loss of the same run: while the test accuracy is flat (below 0.1, up to
  t_train) the test loss moves up, max test loss up to t_train > 1.05 x its initial value, and
  at the end it is below its initial value (it fell when the accuracy rose).

Found in the quick exploration (25,000 steps, one seed): ReLU groks (t_train ~ 5,000,
t_test ~ 19,000); with the quadratic activation train accuracy is perfect at ~1,000 steps but
test accuracy reaches only ~0.7 by 30,000 steps while the test loss stays above its initial
value. The full configuration (100,000 steps, 4 seeds) says which of the two groks as in Fig. 2.
Full result (2026-11-30): ReLU groks in every seed (t_train 3,600-4,300, t_test 15,100-19,400,
|theta| 82-84 -> 118-127 -> 182-189, test loss 1.21-1.25 x its initial value at t_train and
0.24-0.32 x at the end, final test accuracy 0.98-1.00); the quadratic activation does not:
train accuracy 0.99 by 320-430 steps, test accuracy 0.72-0.83 after 100,000 steps and a test
loss 2.0-2.5 x its initial value. ReLU groks as in Fig. 2, the quadratic network does not.

``modular-alpha`` -- the claim (Fig. 2c): "a sweep over the laziness parameter alpha [...]
showcasing how it can continuously control grokking"; "we see it can make grokking more
dramatic, or vanish entirely". ReLU network (the one that groks above). Statements and criteria:

- S1 continuous control: the median (over seeds) delay t_test - t_train rises strictly with
  alpha (a delay that never ends within the run counts as infinite);
- S2 vanishes: at the smallest alpha, t_test <= 1.5 t_train in every seed;
- S3 more dramatic: the median ratio t_test / t_train at the largest alpha exceeds that at
  alpha = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grokking_workbench.experiments.networks_common import (NETWORKS_SCHEMA, Statement, as_tuples,
                                                            first_at_least, grok_steps, plot_curves, rising,
                                                            to_dataset, verdict)
from grokking_workbench.experiments.registry import register
from grokking_workbench.numerics.schema import Schema, Var


@dataclass(frozen=True)
class ModularConfig:
    p: int = 23
    train_fraction: float = 0.9
    width: int = 100
    activations: tuple = ("relu", "quadratic")
    alphas: tuple = (1.0,)
    seeds: int = 1
    lr: float = 100.0
    steps: int = 25000
    records: int = 60
    threads: int | None = 1
    dtype: str = "float32"
    device: str = "cpu"


# The dataset's variables and coordinates: the training records, one set per activation
SCHEMA = NETWORKS_SCHEMA | Schema({"activation": Var("hidden activation phi", "1", ("activation",))})


def run(c: ModularConfig):
    import xarray as xr

    from grokking_workbench.numerics.networks import data, models
    from grokking_workbench.numerics.networks import train as T

    splits = [data.modular_addition(c.p, c.train_fraction, seed=s, one_hot=True)
              for s in range(c.seeds)]
    d = T.stack_data(splits)
    cfg = T.TrainConfig(optimizer="gd", lr=c.lr, steps=c.steps, records=c.records, loss="mse",
                        dtype=c.dtype, device=c.device)
    members = [T.Member(seed=s, alpha=a, data=s) for a in c.alphas for s in range(c.seeds)]
    parts = []
    for act in c.activations:
        def make(g, act=act):
            return models.MLP((2 * c.p, c.width, c.p), activation=act, bias=False,
                              stds=(1.0, 1.0), readout_scale=1.0 / c.width, generator=g)
        res = T.train(make, d, cfg, members, classes=c.p, threads=c.threads)
        parts.append(to_dataset(res, {"alpha": list(c.alphas), "seed": list(range(c.seeds))}))
    ds = xr.concat(parts, dim="activation", combine_attrs="drop_conflicts")
    ds = ds.assign_coords(activation=("activation", list(c.activations)))
    ds.attrs.update(p=c.p, width=c.width, lr=c.lr, train_fraction=c.train_fraction,
                    status="; ".join(p.attrs["status"] for p in parts
                                     if p.attrs["status"] != "complete") or "complete")
    return SCHEMA.apply(ds, c)


def _at(steps, curve, step):
    return float(np.interp(step, steps, curve)) if np.isfinite(step) else np.nan


def mlp_statements(ds, act: str) -> list[Statement]:
    d = ds.sel(activation=act, alpha=1.0) if "alpha" in ds.dims else ds.sel(activation=act)
    steps = ds.step.values
    tr, te, ratio = grok_steps(d)
    r = ratio.values
    s1 = Statement(f"{act}: delayed test accuracy (t_test >= 2 t_train in every seed)",
                   verdict(bool(np.all(np.isfinite(r)) and np.all(r >= 2))),
                   f"t_train {np.round(tr.values).tolist()}, t_test {np.round(te.values).tolist()} "
                   f"(NaN: test accuracy < 0.9 after {int(steps[-1])} steps)")
    norms, rises = [], []
    for s in d.seed.values:
        n = d.param_norm.sel(seed=s).values
        a, b = _at(steps, n, float(tr.sel(seed=s))), _at(steps, n, float(te.sel(seed=s)))
        norms.append((round(float(n[0]), 1), round(a, 1), round(b, 1)))
        rises.append(bool(np.isfinite(b) and b > a > n[0]))
    s2 = Statement(f"{act}: weight norm rises (|theta| at t_test > at t_train > at 0)",
                   verdict(all(rises)), f"|theta| (0, t_train, t_test) per seed {norms}")
    ok3, nums = [], []
    for s in d.seed.values:
        x = d.sel(seed=s)
        t_tr = float(tr.sel(seed=s))
        early = steps <= (t_tr if np.isfinite(t_tr) else steps[-1])
        flat = float(x.test_accuracy.values[early].max())
        bump = float(x.test_loss.values[early].max() / x.test_loss.values[0])
        final = float(x.test_loss.values[-1] / x.test_loss.values[0])
        ok3.append(flat < 0.1 and bump > 1.05 and final < 1)
        nums.append(f"max test acc {flat:.2f}, max test loss {bump:.3f} x initial up to t_train, "
                    f"final {final:.3f} x initial")
    s3 = Statement(f"{act}: test loss moves while test accuracy is flat, then falls below its "
                   "initial value", verdict(all(ok3)), "; ".join(nums))
    return [s1, s2, s3]


def statements_mlp(ds) -> list[tuple[str, str, str]]:
    return as_tuples([s for act in ds.activation.values for s in mlp_statements(ds, str(act))])


def observations_mlp(ds) -> list[str]:
    groks = [str(a) for a in ds.activation.values
             if all(s.verdict == "reproduced" for s in mlp_statements(ds, str(a)))]
    return [f"groks as in Fig. 2: {', '.join(groks) or 'neither'}"]


def statements_alpha(ds) -> list[tuple[str, str, str]]:
    d = ds.sel(activation="relu") if "activation" in ds.dims else ds
    tr, te, ratio = grok_steps(d)
    delay = (te - tr).median("seed", skipna=False)
    alphas = d.alpha.values
    s1 = Statement("delay t_test - t_train rises with alpha", rising(delay.values),
                   ", ".join(f"alpha {a:g}: {v:.0f}" for a, v in zip(alphas, delay.values)))
    r0 = ratio.isel(alpha=0).values
    s2 = Statement(f"grokking vanishes at alpha = {alphas[0]:g} (t_test <= 1.5 t_train in every "
                   "seed)", verdict(bool(np.all(r0 <= 1.5))),
                   f"t_test / t_train {np.round(r0, 2).tolist()}")
    med = ratio.median("seed", skipna=False)
    r_big = float(med.isel(alpha=-1))
    r_one = float(med.sel(alpha=1.0)) if 1.0 in alphas else np.nan
    big = np.inf if np.isnan(r_big) else r_big
    s3 = Statement(f"more dramatic at alpha = {alphas[-1]:g} than at alpha = 1",
                   verdict(big > r_one, inconclusive=np.isnan(r_one)),
                   f"median t_test / t_train {r_big:.2f} (NaN: never generalised) vs {r_one:.2f}")
    return as_tuples([s1, s2, s3])


def plot_mlp(ds):
    import matplotlib.pyplot as plt

    from grokking_workbench.experiments import figures

    acts = list(ds.activation.values)
    fig, axes = plt.subplots(len(acts), 3, figsize=(14, 3.6 * len(acts) + 0.6), squeeze=False,
                             layout="constrained")
    steps = ds.step.values
    keep = steps > 0
    seeds = ds.seed.values
    for row, act in zip(axes, acts):
        d = ds.sel(activation=act)
        if "alpha" in d.dims:
            d = d.isel(alpha=0)
        for s in seeds:
            x = d.sel(seed=s)
            c = f"C{int(s) % 10}"
            for ax, m in zip(row, ("accuracy", "loss")):
                ax.plot(steps[keep], x[f"train_{m}"].values[keep], color=c, **figures.TRAIN)
                ax.plot(steps[keep], x[f"test_{m}"].values[keep], color=c, **figures.TEST)
            row[2].plot(steps[keep], x.param_norm.values[keep], color=c, **figures.TEST)
        row[0].set(xscale="log", xlabel="GD step", ylabel="accuracy", title=f"{act}: accuracy")
        row[1].set(xscale="log", yscale="log", xlabel="GD step", ylabel="MSE loss",
                   title=f"{act}: loss (same runs)")
        row[2].set(xscale="log", xlabel="GD step", ylabel="parameter norm |theta|", title=f"{act}: weight norm")
    figures.style_legend(fig, [("test", figures.TEST), ("train", figures.TRAIN)],
                         loc="outside lower center", ncol=2)
    figures.value_legend(fig, [(f"seed {int(s)}", f"C{int(s) % 10}") for s in seeds],
                         loc="outside right upper", title="one line per seed")
    fig.suptitle(f"addition mod {ds.attrs['p']}, two-layer MLP, N = {ds.attrs['width']}, "
                 f"GD eta = {ds.attrs['lr']:g}, no weight decay", fontsize=10)
    return fig


def plot_alpha(ds):
    d = ds.sel(activation="relu") if "activation" in ds.dims else ds
    return plot_curves(d, "alpha", extra=("param_norm",),
                       title="addition mod p, ReLU MLP, GD eta_0 / alpha^2: alpha sweep")


register(name="modular-mlp",
         summary="two-layer MLP on addition mod 23 with vanilla GD: delayed test accuracy as the weight norm rises",
         claim="Kumar et al. 2024 Fig. 2a-b, App. 8.3, Fig. 16: without weight decay the test "
               "accuracy rises long after the train accuracy while the weight norm increases; "
               "the test loss moves while test accuracy is flat (ReLU and quadratic activations)",
         quick=ModularConfig(), full=ModularConfig(seeds=4, steps=100000, records=80),
         run=run, plot=plot_mlp, statements=statements_mlp, observations=observations_mlp,
         schema=SCHEMA)

register(name="modular-alpha",
         summary="the same MLP over the laziness alpha: the grokking delay is set by alpha",
         claim="Kumar et al. 2024 Fig. 2c: alpha continuously controls grokking, making it more "
               "dramatic (large alpha) or vanish (small alpha)",
         quick=ModularConfig(activations=("relu",), alphas=(0.05, 1.0, 2.0), steps=25000, records=50),
         full=ModularConfig(activations=("relu",), alphas=(0.05, 0.1, 0.2, 0.5, 1.0, 2.0), seeds=3,
                            steps=100000, records=80),
         run=run, plot=plot_alpha, statements=statements_alpha, schema=SCHEMA)
