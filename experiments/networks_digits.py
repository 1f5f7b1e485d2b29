"""Grokking induced by a large initial scale, on digit images and on a teacher-student task, and
removed by the laziness alpha (Liu et al. 2022, Sec. 4.3, Fig. 8 left; Kumar et al. 2024,
Fig. 6a and App. 8.3.1, Fig. 8).

Data. ``digits-*``: the 8 x 8 digit images that ship with scikit-learn (1,797 images, no
download; pixels / 16), 1,000 for training and the other 797 for test; with ``data_dir`` the
standard MNIST IDX files in that folder (1,000 training images, the 10,000 test images).
``teacher-student``: standard Gaussian inputs in 5 dimensions labelled by a random 5-100-100-5
tanh teacher (1,000 training and 1,000 test points; accuracy: the fraction of outputs within
0.001 of the teacher's label).

Networks and training (the appendices of Liu et al. with their exact settings are not in our
copy; these are our choices, fixed before the runs): ReLU MLP 64-200-200-10 (MNIST:
784-200-200-10) with MSE against one-hot labels; the student is a 5-100-100-5 tanh MLP with MSE;
LeCun-normal initial weights multiplied by ``init_scale`` (all parameters); AdamW (lr 1e-3,
mini-batches of 200 for the digits, full batch for the teacher-student task) with weight
decay ``weight_decay``; centred predictor alpha [f - f0] (``digits-alpha``, ``teacher-student``; ``digits-grokking`` trains the plain
network f, as Liu et al. do, with weight decay 0.01) with learning rate eta_0 / alpha (the
alpha-independent initial function velocity for Adam; see ``numerics.networks.train``).
t_train, t_test: first steps where train and test accuracy reach ``train_level`` and
``test_level``.

``digits-grokking`` (Liu et al. Sec. 4.3): "we exhibit grokking on MNIST in Figure 8 and
demonstrate that we can control grokking by varying optimization hyperparameters"; Fig. 8 left:
"Training curves for a run on MNIST, in the setting where we observe grokking" (a large initial
scale). Statements and criteria (before the full run):

Quick exploration (centred, weight decay 0.1, 6,000 steps) at initial scale 8: the train
accuracy rose to 0.83 and fell back to 0.48 (the step is too large for a network that large);
hence the plain network, as in the paper.

- S1 a large initial scale (8) groks: t_test exists and t_test >= 2 t_train in every seed;
- S2 at the standard scale (1) there is no grokking: t_test <= 1.5 t_train in every seed.

``digits-alpha`` (Kumar et al. Fig. 6a): "Continuously controlling grokking on MNIST by only
varying laziness, alpha, including making it vanish by encouraging fast feature learning at
alpha = 0.0001", at the fixed large initial scale. Statements and criteria:

- S1 at alpha = 1 (initial scale 8) the network groks: t_test >= 2 t_train in every seed;
- S2 at the smallest alpha grokking vanishes: t_test <= 1.5 t_train in every seed;
- S3 continuous control: the median delay t_test - t_train rises with alpha.

``teacher-student`` (Kumar et al. App. 8.3.1, Fig. 8): "grokking can be introduced by doubling
the student's weight norm at initialization. Here, we make that grokking both vanish and more
pronounced without touching their weight norm at initialization". Statements and criteria:

- S1 at initial scale 2 and alpha = 1 the student groks in accuracy: t_test >= 2 t_train in
  every seed (levels 0.5);
- S2 at the smallest alpha grokking vanishes: t_test <= 1.5 t_train in every seed;
- S3 at the largest alpha grokking is more pronounced: median t_test / t_train larger than at
  alpha = 1 (never generalising counts as infinitely pronounced).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grokking_workbench.experiments.networks_common import (NETWORKS_SCHEMA, Statement, as_tuples, grok_steps,
                                                            plot_curves, rising, to_dataset, verdict)
from grokking_workbench.experiments.registry import register


@dataclass(frozen=True)
class InitConfig:
    task: str = "digits"               # digits or teacher
    n_train: int = 1000
    n_test: int | None = None
    data_dir: str | None = None
    init_scales: tuple = (1.0, 8.0)
    alphas: tuple = (1.0,)
    seeds: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.1
    batch_size: int | None = 200
    steps: int = 5000
    records: int = 40
    train_level: float = 0.99
    test_level: float = 0.9
    centre: bool = True
    threads: int | None = 1
    dtype: str = "float32"
    device: str = "cpu"


def run(c: InitConfig):
    from grokking_workbench.numerics.networks import data, models
    from grokking_workbench.numerics.networks import train as T

    if c.task == "digits":
        splits = [data.digits(c.n_train, seed=s, data_dir=c.data_dir, n_test=c.n_test)
                  for s in range(c.seeds)]
        D = splits[0].x_train.shape[1]

        def make(g):
            return models.MLP((D, 200, 200, 10), activation="relu", generator=g)
        classes, threshold = 10, None
    else:
        splits = [data.teacher_student(c.n_train, c.n_test or 1000, seed=s) for s in range(c.seeds)]

        def make(g):
            return models.MLP((5, 100, 100, 5), activation="tanh", generator=g)
        classes, threshold = 0, 1e-3
    d = T.stack_data(splits)
    cfg = T.TrainConfig(optimizer="adamw", lr=c.lr, weight_decay=c.weight_decay,
                        batch_size=c.batch_size, steps=c.steps, records=c.records, loss="mse",
                        lr_alpha_power=1.0, accuracy_threshold=threshold, centre=c.centre,
                        dtype=c.dtype,
                        device=c.device)
    members = [T.Member(seed=s, alpha=a, init_scale=k, data=s)
               for k in c.init_scales for a in c.alphas for s in range(c.seeds)]
    res = T.train(make, d, cfg, members, classes=classes, threads=c.threads)
    ds = to_dataset(res, {"init_scale": list(c.init_scales), "alpha": list(c.alphas),
                          "seed": list(range(c.seeds))})
    ds.attrs.update(task=c.task, data=splits[0].name, train_level=c.train_level,
                    test_level=c.test_level, weight_decay=c.weight_decay)
    return NETWORKS_SCHEMA.apply(ds, c)


def _steps(ds):
    return grok_steps(ds, ds.attrs["train_level"], ds.attrs["test_level"])


def _fmt(tr, te):
    return f"t_train {np.round(tr).tolist()}, t_test {np.round(te).tolist()} (NaN: not reached)"


def statements_grokking(ds) -> list[tuple[str, str, str]]:
    tr, te, ratio = _steps(ds.isel(alpha=0))
    big, one = ds.init_scale.values.max(), ds.init_scale.values.min()
    rb, r1 = ratio.sel(init_scale=big).values, ratio.sel(init_scale=one).values
    s1 = Statement(f"initial scale {big:g} groks (t_test >= 2 t_train)",
                   verdict(bool(np.all(rb >= 2))),
                   _fmt(tr.sel(init_scale=big).values, te.sel(init_scale=big).values))
    s2 = Statement(f"initial scale {one:g}: no grokking (t_test <= 1.5 t_train)",
                   verdict(bool(np.all(r1 <= 1.5))),
                   _fmt(tr.sel(init_scale=one).values, te.sel(init_scale=one).values))
    return as_tuples([s1, s2])


def statements_alpha(ds) -> list[tuple[str, str, str]]:
    d = ds.isel(init_scale=-1)
    tr, te, ratio = _steps(d)
    alphas = d.alpha.values
    r1, r0 = ratio.sel(alpha=1.0).values, ratio.isel(alpha=0).values
    s1 = Statement(f"alpha = 1 at initial scale {float(d.init_scale):g} groks (t_test >= 2 t_train)",
                   verdict(bool(np.all(r1 >= 2))), _fmt(tr.sel(alpha=1.0).values, te.sel(alpha=1.0).values))
    s2 = Statement(f"grokking vanishes at alpha = {alphas[0]:g} (t_test <= 1.5 t_train)",
                   verdict(bool(np.all(r0 <= 1.5))), _fmt(tr.isel(alpha=0).values, te.isel(alpha=0).values))
    delay = (te - tr).median("seed", skipna=False)
    s3 = Statement("the delay rises with alpha", rising(delay.values),
                   ", ".join(f"alpha {a:g}: {v:.0f}" for a, v in zip(alphas, delay.values)))
    return as_tuples([s1, s2, s3])


def statements_teacher(ds) -> list[tuple[str, str, str]]:
    d = ds.isel(init_scale=-1)
    tr, te, ratio = _steps(d)
    alphas = d.alpha.values
    r1, r0 = ratio.sel(alpha=1.0).values, ratio.isel(alpha=0).values
    s1 = Statement(f"initial scale {float(d.init_scale):g}, alpha = 1 groks in accuracy "
                   "(t_test >= 2 t_train)", verdict(bool(np.all(r1 >= 2))),
                   _fmt(tr.sel(alpha=1.0).values, te.sel(alpha=1.0).values))
    s2 = Statement(f"grokking vanishes at alpha = {alphas[0]:g} (t_test <= 1.5 t_train)",
                   verdict(bool(np.all(r0 <= 1.5))), _fmt(tr.isel(alpha=0).values, te.isel(alpha=0).values))
    med = ratio.median("seed", skipna=False)
    big = float(med.isel(alpha=-1))
    one = float(med.sel(alpha=1.0))
    s3 = Statement(f"more pronounced at alpha = {alphas[-1]:g}",
                   verdict((np.isnan(big) or big > one) and np.isfinite(one)),
                   f"median t_test / t_train {big:.2f} vs {one:.2f} at alpha = 1; "
                   + _fmt(tr.isel(alpha=-1).values, te.isel(alpha=-1).values))
    return as_tuples([s1, s2, s3])


def plot_grokking(ds):
    return plot_curves(ds.isel(alpha=0), "init_scale", extra=("param_norm",),
                       title=f"{ds.attrs['data']}: initial scale, AdamW wd {ds.attrs['weight_decay']:g}")


def plot_alpha(ds):
    return plot_curves(ds.isel(init_scale=-1), "alpha", extra=("param_norm",),
                       title=f"{ds.attrs['data']}, initial scale {float(ds.init_scale[-1]):g}: alpha sweep")


register(name="digits-grokking",
         summary="MLP on digit images: a large initial scale induces grokking",
         claim="Liu et al. 2022 Sec. 4.3, Fig. 8 left: grokking on (MNIST) digit images with a "
               "large initialisation; none at the standard scale",
         quick=InitConfig(init_scales=(1.0, 8.0), centre=False, weight_decay=0.01, steps=6000, records=30),
         full=InitConfig(init_scales=(1.0, 8.0), centre=False, weight_decay=0.01, seeds=4, steps=50000,
                         records=60),
         run=run, plot=plot_grokking, statements=statements_grokking, schema=NETWORKS_SCHEMA)

register(name="digits-alpha",
         summary="MLP on digit images at a large initial scale over alpha",
         claim="Kumar et al. 2024 Fig. 6a: at a fixed large initial weight norm, alpha "
               "continuously controls grokking on digit images and small alpha removes it",
         quick=InitConfig(init_scales=(8.0,), alphas=(0.01, 0.1, 1.0), steps=6000, records=30),
         full=InitConfig(init_scales=(8.0,), alphas=(0.001, 0.01, 0.1, 1.0, 3.0), seeds=3,
                         steps=50000, records=60),
         run=run, plot=plot_alpha, statements=statements_alpha, schema=NETWORKS_SCHEMA)

register(name="teacher-student",
         summary="5-100-100-5 tanh student of a tanh teacher: doubled initial scale and alpha",
         claim="Kumar et al. 2024 App. 8.3.1, Fig. 8: doubling the student's initial weight norm "
               "induces grokking in accuracy (within 0.001); small alpha removes it, large alpha "
               "makes it more pronounced",
         quick=InitConfig(task="teacher", init_scales=(2.0,), alphas=(0.1, 1.0, 10.0), batch_size=None,
                          weight_decay=1.0, steps=4000, records=30, train_level=0.5, test_level=0.5),
         full=InitConfig(task="teacher", init_scales=(1.0, 2.0), alphas=(0.03, 0.1, 0.3, 1.0, 3.0, 10.0),
                         seeds=3, batch_size=None, weight_decay=1.0, steps=40000, records=60,
                         train_level=0.5, test_level=0.5),
         run=run, plot=plot_alpha, statements=statements_teacher, schema=NETWORKS_SCHEMA)
