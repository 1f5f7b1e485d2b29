"""Transformers on modular addition: laziness (Kumar et al. 2024, Fig. 6b) and the embeddings'
structure (Liu et al. 2022, Sec. 4.2, Fig. 1, Fig. 7 left and centre).

``transformer-alpha``. The one-layer transformer of Nanda et al. (2023): tokens (a, b, '='),
learned token and position embeddings, 4 attention heads, a ReLU MLP of width 4 d_model, no layer
norm, logits read at '=' (only the last position is computed in the last layer: exact for the
logits); cross-entropy; full-batch AdamW, lr 1e-3, betas (0.9, 0.98), weight decay 1 (the classic
setting: p = 113, d_model = 128, 30 % of pairs for training). Centred predictor
alpha [f - f0] (App. 8.1). For Adam the update does not scale with the gradient, so the initial
velocity of f~ is alpha-independent at lr = eta_0 / alpha, not eta_0 / alpha^2: we use
eta_0 / alpha (the paper states eta_0 / alpha^2 for gradient descent and does not say what it
did with AdamW). The quick configuration is much smaller (p = 31, d_model = 32, 60 % of pairs:
at 30 % a model that small did not generalise within 3,000 steps in exploration).

The claim (Sec. 6, Fig. 6b): "Continuously controlling grokking on a one-layer Transformer from
Nanda et al. (2023) using the scale parameter alpha. Note how grokking has vanished for
alpha = 0.15"; "changing alpha can continuously make grokking vanish, or more drastic".
t_train, t_test: first steps with train accuracy >= 0.99 and test accuracy >= 0.9.
Statements and criteria (before any full run):

- S1 grokking vanishes at the smallest alpha (0.15): t_test <= 1.5 t_train in every seed;
- S2 grokking at alpha = 1: t_test >= 2 t_train in every seed (inconclusive if the test accuracy
  never reaches 0.9 within the run);
- S3 continuous control: the median delay t_test - t_train rises with alpha (never generalising
  within the run counts as infinite).

``transformer-embeddings``. Liu et al.'s transformer (Sec. 4.2): p = 53 integers embedded in
256 dimensions (``embed``, N(0, 1) as torch's nn.Embedding), a decoder-only transformer on the
two tokens, the last layer's outputs concatenated and mapped linearly to the p classes;
cross-entropy, AdamW (lr 1e-3, weight decay 0 on the embeddings and ``decoder_wd`` on the rest,
one optimiser setting for both, which the paper says "leads to the grokking phenomenon"). The
appendix with the depth, width and training fraction is not in our copy of the paper: we take one
layer, 4 heads, MLP width 4 d, 50 % of pairs (quick: p = 31, d = 32, 60 %). Dropout on the
attention and MLP outputs.

The claims (Fig. 1 caption, Sec. 4.2, Fig. 7): "generalization coincides with the emergence of
structure in the embeddings"; "perfect generalization coincides with the PCA projecting the
embeddings into a circle in 2D"; "the entropy [of the explained variance ratios] increases up to
generalization time then decreases drastically afterwards"; "With a significant dropout rate,
the generalization time can be brought down [...] and the grokking phenomenon vanishes
completely". Statements and criteria (before any full run), t_test as above:

- S1 circle: at the end of training (after generalising), without dropout, the embeddings
  projected on their first two principal components, ordered by angle, step through the
  integers by a constant difference k (mod p) for >= 80 % of neighbouring pairs, in every seed
  that generalised (and at least one did);
- S2 effective dimension exp(S) rises, then falls: in every seed that generalised, its maximum
  up to t_test exceeds its initial value by >= 10 % and its final value is below 0.5 x that
  maximum;
- S3 dropout: at the largest dropout rate the median t_test is smaller than without dropout, and
  t_test <= 1.5 t_train in every seed (grokking vanishes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grokking_workbench.experiments.networks_common import (NETWORKS_SCHEMA, Statement, as_tuples, grok_steps,
                                                            plot_curves, rising, to_dataset, verdict)
from grokking_workbench.experiments.registry import register
from grokking_workbench.numerics.schema import Schema, Var


@dataclass(frozen=True)
class TransformerConfig:
    p: int = 31
    train_fraction: float = 0.6
    d_model: int = 32
    n_heads: int = 4
    layers: int = 1
    alphas: tuple = (1.0,)
    dropouts: tuple = (0.0,)
    seeds: int = 1
    lr: float = 1e-3
    betas: tuple = (0.9, 0.98)
    weight_decay: float = 1.0
    embed_weight_decay: float | None = None
    lr_alpha_power: float = 1.0
    style: str = "nanda"            # nanda: (a, b, '='), logits at '='; liu: (a, b), concatenated
    embed_std: float | None = None
    steps: int = 3000
    records: int = 40
    threads: int | None = 1
    dtype: str = "float32"
    device: str = "cpu"


def task(c: TransformerConfig, seed: int):
    import torch

    from grokking_workbench.numerics.networks import data

    s = data.modular_addition(c.p, c.train_fraction, seed=seed)
    if c.style == "nanda":
        for name in ("x_train", "x_test"):
            x = getattr(s, name)
            setattr(s, name, torch.cat([x, torch.full((x.shape[0], 1), c.p)], 1))
    return s


def make_model(c: TransformerConfig, dropout: float = 0.0):
    from grokking_workbench.numerics.networks import models

    nanda = c.style == "nanda"

    def make(g):
        return models.Transformer(c.p + 1 if nanda else c.p, 3 if nanda else 2, c.p,
                                  d_model=c.d_model, n_heads=c.n_heads, d_mlp=4 * c.d_model,
                                  layers=c.layers, dropout=dropout,
                                  output="last" if nanda else "concat", embed_std=c.embed_std,
                                  generator=g)
    return make


def pca_stats(E):
    """Explained-variance ratios (M, k) of embeddings E (M, p, d) and the first two principal
    coordinates (M, p, 2)."""
    import torch

    X = E - E.mean(1, keepdim=True)
    U, S, _ = torch.linalg.svd(X, full_matrices=False)
    var = S * S
    ratio = var / var.sum(-1, keepdim=True)
    return ratio, U[..., :2] * S[..., None, :2]


# The dataset's variables and coordinates: the training records, one set per dropout rate, and
# the embeddings' principal components
SCHEMA = NETWORKS_SCHEMA | Schema({
    "dropout": Var("dropout rate", "1", ("dropout",)),
    "integer": Var("embedded integer", "1", ("integer",)),
    "component": Var("principal component", "1", ("component",)),
    "effective_dimension": Var("exp(entropy of the PCA explained-variance ratios of the embeddings)",
                               "1", None),
    "embedding_pc": Var("embeddings projected on their first two principal components", "1", None),
}, dims=("embedding_pc_0", "embedding_pc_1"))


def run(c: TransformerConfig):
    import torch
    import xarray as xr

    from grokking_workbench.numerics.networks import train as T

    d = T.stack_data([task(c, s) for s in range(c.seeds)])
    cfg = T.TrainConfig(optimizer="adamw", lr=c.lr, betas=c.betas, weight_decay=c.weight_decay,
                        embed_weight_decay=c.embed_weight_decay, steps=c.steps, records=c.records,
                        loss="ce", lr_alpha_power=c.lr_alpha_power, dtype=c.dtype, device=c.device)
    members = [T.Member(seed=s, alpha=a, data=s) for a in c.alphas for s in range(c.seeds)]

    def record(tr):
        ratio, pcs = pca_stats(tr.params["embed"].detach()[:, :c.p])
        ratio = ratio.clamp_min(1e-30)
        entropy = -(ratio * ratio.log()).sum(-1)
        return {"effective_dimension": entropy.exp(), "embedding_pc": pcs}

    parts = []
    for q in c.dropouts:
        res = T.train(make_model(c, q), d, cfg, members, classes=c.p, record=record,
                      threads=c.threads)
        parts.append(to_dataset(res, {"alpha": list(c.alphas), "seed": list(range(c.seeds))}, schema=SCHEMA))
    ds = xr.concat(parts, dim="dropout", combine_attrs="drop_conflicts")
    ds = ds.rename({"embedding_pc_0": "integer", "embedding_pc_1": "component"})
    ds = ds.assign_coords(dropout=("dropout", list(c.dropouts)), integer=("integer", np.arange(c.p)),
                          component=("component", [1, 2]))
    ds.attrs.update(p=c.p, d_model=c.d_model, style=c.style, train_fraction=c.train_fraction,
                    status="; ".join(x.attrs["status"] for x in parts
                                     if x.attrs["status"] != "complete") or "complete")
    return SCHEMA.apply(ds, c)


# ------------------------------------------------------------------------ transformer-alpha
def statements_alpha(ds) -> list[tuple[str, str, str]]:
    d = ds.isel(dropout=0)
    tr, te, ratio = grok_steps(d)
    alphas = d.alpha.values
    r0 = ratio.isel(alpha=0).values
    s1 = Statement(f"grokking vanishes at alpha = {alphas[0]:g} (t_test <= 1.5 t_train)",
                   verdict(bool(np.all(r0 <= 1.5))),
                   f"t_train {np.round(tr.isel(alpha=0).values).tolist()}, t_test "
                   f"{np.round(te.isel(alpha=0).values).tolist()}")
    r1 = ratio.sel(alpha=1.0).values
    s2 = Statement("grokking at alpha = 1 (t_test >= 2 t_train)",
                   verdict(bool(np.all(r1 >= 2)), inconclusive=bool(np.isnan(r1).any())),
                   f"t_train {np.round(tr.sel(alpha=1.0).values).tolist()}, t_test "
                   f"{np.round(te.sel(alpha=1.0).values).tolist()} (NaN: test accuracy < 0.9 "
                   f"after {int(ds.step[-1])} steps)")
    delay = (te - tr).median("seed", skipna=False)
    s3 = Statement("the delay rises with alpha", rising(delay.values),
                   ", ".join(f"alpha {a:g}: {v:.0f}" for a, v in zip(alphas, delay.values)))
    return as_tuples([s1, s2, s3])


def plot_alpha(ds):
    return plot_curves(ds.isel(dropout=0), "alpha", extra=("param_norm",),
                       title=f"one-layer transformer, addition mod {ds.attrs['p']}, AdamW: alpha sweep")


# ------------------------------------------------------------------------ transformer-embeddings
def circle_order(pcs: np.ndarray, p: int) -> float:
    """Fraction of neighbouring pairs (by angle in the PC1-PC2 plane) whose integers differ by
    the most common difference k (mod p, up to sign)."""
    c = pcs - pcs.mean(0)
    order = np.argsort(np.arctan2(c[:, 1], c[:, 0]))
    diff = (np.roll(order, -1) - order) % p
    diff = np.minimum(diff, p - diff)
    return float(np.bincount(diff).max() / p)


def statements_embeddings(ds) -> list[tuple[str, str, str]]:
    d0 = ds.sel(dropout=0.0).isel(alpha=0)
    tr, te, ratio = grok_steps(d0)
    gen = [s for s in d0.seed.values if np.isfinite(float(te.sel(seed=s)))]
    p = ds.attrs["p"]
    circ = {int(s): circle_order(d0.embedding_pc.sel(seed=s).isel(step=-1).values, p) for s in d0.seed.values}
    s1 = Statement("circle in the first two principal components after generalising",
                   verdict(bool(gen) and all(circ[int(s)] >= 0.8 for s in gen),
                           inconclusive=not gen),
                   f"fraction of neighbours at a constant step per seed {circ}; seeds that "
                   f"generalised {[int(s) for s in gen]}")
    ok2, nums = [], []
    for s in gen:
        e = d0.effective_dimension.sel(seed=s).values
        upto = d0.step.values <= float(te.sel(seed=s))
        peak = float(e[upto].max())
        ok2.append(peak >= 1.1 * e[0] and e[-1] < 0.5 * peak)
        nums.append(f"seed {int(s)}: {e[0]:.2f} -> max {peak:.2f} up to t_test -> {e[-1]:.2f}")
    s2 = Statement("effective dimension rises up to generalisation, then falls below half",
                   verdict(bool(gen) and all(ok2), inconclusive=not gen), "; ".join(nums) or "none generalised")
    tr_all, te_all, ratio_all = grok_steps(ds.isel(alpha=0))
    med = te_all.median("seed", skipna=False)
    big = float(med.isel(dropout=-1))
    none = float(med.sel(dropout=0.0))
    rq = ratio_all.isel(dropout=-1).values
    ok3 = (np.isfinite(big) and (np.isnan(none) or big < none)) and bool(np.all(rq <= 1.5))
    s3 = Statement(f"dropout {float(ds.dropout[-1]):g} speeds up generalisation and grokking vanishes",
                   verdict(ok3),
                   f"median t_test {big:.0f} vs {none:.0f} without dropout; t_test / t_train at "
                   f"dropout {float(ds.dropout[-1]):g}: {np.round(rq, 2).tolist()}")
    return as_tuples([s1, s2, s3])


def plot_embeddings(ds):
    import matplotlib.pyplot as plt

    from grokking_workbench.experiments import figures
    from grokking_workbench.experiments.networks_common import seed_note

    d0 = ds.sel(dropout=0.0).isel(alpha=0, seed=0)
    steps = ds.step.values
    picks = np.unique(np.linspace(1, len(steps) - 1, 4).round().astype(int))
    k = len(picks)
    half = (k + 1) // 2
    mosaic = [[f"pc{n}" for n in range(k)], ["dim"] * half + ["dropout"] * (k - half)]
    fig, ax = plt.subplot_mosaic(mosaic, figsize=(3.4 * k + 1, 7.2), layout="constrained")
    for n, i in enumerate(picks):
        a = ax[f"pc{n}"]
        pc = d0.embedding_pc.isel(step=i).values
        sc = a.scatter(pc[:, 0], pc[:, 1], c=np.arange(ds.attrs["p"]), cmap="twilight", s=14)
        a.set(xlabel="PC 1", ylabel="PC 2")
        a.set_title(f"step {int(steps[i])}, test accuracy {float(d0.test_accuracy.isel(step=i)):.2f}", fontsize=9)
    fig.colorbar(sc, ax=[ax[f"pc{n}"] for n in range(k)], label="integer a (embedding of a)")
    keep = steps > 0
    a = ax["dim"]
    for s in ds.seed.values:
        a.plot(steps[keep], ds.effective_dimension.sel(dropout=0.0, seed=s).isel(alpha=0).values[keep],
               label=f"seed {int(s)}")
    a.set(xscale="log", xlabel="optimiser step", ylabel="exp(entropy of explained variance)")
    a.set_title("effective dimension of the embeddings (no dropout)", fontsize=10)
    a.legend(fontsize=7, title="one line per seed", title_fontsize=7)
    a = ax["dropout"]
    for n, q in enumerate(ds.dropout.values):
        x = ds.sel(dropout=q).isel(alpha=0).mean("seed")
        a.plot(steps[keep], x.test_accuracy.values[keep], color=f"C{n}", **figures.TEST)
        a.plot(steps[keep], x.train_accuracy.values[keep], color=f"C{n}", **figures.TRAIN)
    a.set(xscale="log", xlabel="optimiser step", ylabel="accuracy")
    a.set_title(f"effect of dropout ({seed_note(ds)})", fontsize=10)
    a.legend(handles=figures.style_handles(
        [(f"dropout {q:g}", dict(color=f"C{n}", lw=2)) for n, q in enumerate(ds.dropout.values)]
        + [("test", figures.TEST), ("train", figures.TRAIN)]), fontsize=7)
    fig.suptitle(f"transformer embeddings, addition mod {ds.attrs['p']}, d = {ds.attrs['d_model']}: "
                 "first two principal components of the embeddings (seed 0, no dropout)", fontsize=10)
    return fig


register(name="transformer-alpha",
         summary="one-layer transformer on modular addition (AdamW, cross-entropy) over alpha",
         claim="Kumar et al. 2024 Fig. 6b: alpha continuously controls grokking of Nanda et al.'s "
               "one-layer transformer; grokking vanishes at alpha = 0.15",
         quick=TransformerConfig(alphas=(0.15, 1.0, 3.0), steps=3000, records=30),
         full=TransformerConfig(p=113, train_fraction=0.3, d_model=128, alphas=(0.15, 0.5, 1.0, 2.0),
                                seeds=1, steps=40000, records=60),
         run=run, plot=plot_alpha, statements=statements_alpha, schema=SCHEMA)

register(name="transformer-embeddings",
         summary="embeddings of a transformer learning addition mod 53: PCA circle, effective dimension, dropout",
         claim="Liu et al. 2022 Fig. 1, Fig. 7 left and centre: generalisation coincides with a "
               "circle in the first two principal components of the embeddings; their effective "
               "dimension rises until generalisation then falls; dropout removes grokking",
         quick=TransformerConfig(style="liu", p=31, d_model=32, train_fraction=0.6, weight_decay=1.0,
                                 embed_weight_decay=0.0, embed_std=1.0, dropouts=(0.0, 0.3),
                                 seeds=2, steps=2000, records=25),
         full=TransformerConfig(style="liu", p=53, d_model=256, train_fraction=0.5, weight_decay=1.0,
                                embed_weight_decay=0.0, embed_std=1.0, dropouts=(0.0, 0.1, 0.3),
                                seeds=4, steps=10000, records=50),
         run=run, plot=plot_embeddings, statements=statements_embeddings, schema=SCHEMA)
