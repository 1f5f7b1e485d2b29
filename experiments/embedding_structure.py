"""Principal components of the learned embeddings over training (Liu et al. 2022, Figs. 1-2, and
the effective dimension of Fig. 7 left).

The toy model with 2-D (or higher) embeddings on addition (p = 11, Fig. 2a-b) and modular
addition (Fig. 2c-d), classification (cross-entropy), several seeds as one batched computation
per task. At each record step: the embeddings projected on the principal axes of the final
embeddings, the explained-variance ratios, the effective dimension exp(-sum_i r_i log r_i) of the
ratios, the RQI (eq. (3)) and the accuracies. Expected: addition becomes a line-like
(parallelogram) arrangement with RQI -> 1; modular addition a ring (the paper's circle), which
is not a parallelogram structure in the Euclidean sense (theory.effective: no nonzero ground
state for modular addition).

Training as the paper's code for Figs. 4-5 (toy-model defaults of
``numerics.simulate.toy_addition``: decoder 200-200 tanh; embedding lr 1e-3, decoder lr 1e-4, no
weight decay). The paper's settings for Figs. 1-2 are in its appendix, not in the text. In our
runs with 2-D embeddings (p = 11, fraction 0.8, 4e3 steps; classification and regression;
embedding lr 1e-3..1e-2, decoder lr 1e-4..1e-3, weight decay 0 or 5) the decoder fitted the
training set (accuracy 1) while validation stayed at <= 0.62 and RQI <= 0.5: the embeddings
spread along an ordered arc rather than a line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grokking_workbench.experiments.registry import register
from grokking_workbench.numerics.schema import Schema, Var

TASKS = ("addition", "modular_addition")


@dataclass(frozen=True)
class Config:
    p: int = 11
    d_embed: int = 2
    fraction: float = 0.8
    seeds: int = 4
    steps: int = 20000
    records: int = 41
    embedding_lr: float = 1e-3
    lr: float = 1e-4
    weight_decay: float = 0.0
    width: int = 200
    activation: str = "tanh"
    task: str = "classification"
    rqi_delta: float = 0.1
    split_seed: int = 0
    num_threads: int | None = 1


def pca(E: np.ndarray, axes_from: np.ndarray | None = None):
    """Projections of embeddings (..., p, d) on the principal axes of ``axes_from`` (p, d)
    (default: each array's own), and the explained-variance ratios of each array."""
    c = E - E.mean(axis=-2, keepdims=True)
    s = np.linalg.svd(c, compute_uv=False)
    ratio = s ** 2 / np.maximum((s ** 2).sum(axis=-1, keepdims=True), 1e-300)
    ref = c if axes_from is None else (axes_from - axes_from.mean(axis=0))
    _, _, vt = np.linalg.svd(ref, full_matrices=False)
    return c @ np.swapaxes(vt, -1, -2), ratio


# The dataset's variables and coordinates
SCHEMA = Schema({
    "task": Var("binary operation", "1", ("task",)),
    "step": Var("training step", "1", ("step",)),
    "seed": Var("split and initialisation", "1", ("seed",)),
    "symbol": Var("symbol k", "1", ("symbol",)),
    "component": Var("principal component", "1", ("component",)),
    "embedding_pc": Var("embedding projected on the principal axes of the final embeddings",
                        "1", ("task", "step", "seed", "symbol", "component")),
    "explained_variance_ratio": Var("explained-variance ratio of each principal component",
                                    "1", ("task", "step", "seed", "component")),
    "effective_dimension": Var("exp(entropy of the explained-variance ratios) (Fig. 7 left)",
                               "1", ("task", "step", "seed")),
    "radius_spread": Var("std/mean of the radius in the top-2 principal plane (0 for a circle)",
                         "1", ("task", "step", "seed")),
    "rqi": Var("RQI (delta = {rqi_delta}; modular parallelograms for modular addition)",
               "1", ("task", "step", "seed")),
    "train_acc": Var("train accuracy", "1", ("task", "step", "seed")),
    "val_acc": Var("validation accuracy", "1", ("task", "step", "seed")),
})


def run(config: Config):
    import xarray as xr

    from grokking_workbench.numerics import representation as rep
    from grokking_workbench.numerics.simulate import toy_addition as ta

    p, S, d = config.p, config.seeds, config.d_embed
    rng = np.random.default_rng(config.split_seed)
    masks = rep.sample_splits(p, rep.split_sizes(p, config.fraction), S, rng)
    steps_rec = np.unique(np.round(np.geomspace(1, config.steps + 1, config.records) - 1).astype(int))
    R = len(steps_rec)
    out = {k: np.zeros((len(TASKS), R, S) + sh) for k, sh in
           (("proj", (p, d)), ("ratio", (d,)), ("rqi", ()), ("val", ()), ("train", ()))}
    for ti, task in enumerate(TASKS):
        modulus = p if task == "modular_addition" else None
        spec = ta.ModelSpec(p=p, d_embed=d, task=config.task, modulus=modulus, width=config.width,
                            activation=config.activation)
        batch = ta.Batch.make(embedding_lr=config.embedding_lr, lr=config.lr,
                              weight_decay=config.weight_decay, seed=np.arange(S), train_mask=masks)
        res = ta.train(spec, batch, config.steps, record_steps=steps_rec, eval_every=50,
                       rqi_delta=config.rqi_delta, num_threads=config.num_threads, progress=True)
        for s in range(S):
            proj, ratio = pca(res.embeddings[:, s], axes_from=res.embeddings[-1, s])
            out["proj"][ti, :, s] = proj
            out["ratio"][ti, :, s] = ratio
        out["rqi"][ti] = rep.rqi(res.embeddings, delta=config.rqi_delta, modulus=modulus)
        out["val"][ti], out["train"][ti] = res.val_acc, res.train_acc
    ratio = out["ratio"]
    ent = -(np.where(ratio > 0, ratio * np.log(np.where(ratio > 0, ratio, 1)), 0)).sum(axis=-1)
    # ring test for modular addition: spread of the radius in the top-2 plane
    radius = np.linalg.norm(out["proj"][..., :2], axis=-1)
    ring = radius.std(axis=-1) / np.maximum(radius.mean(axis=-1), 1e-300)
    dims = ("task", "step", "seed")
    ds = xr.Dataset(
        {
            "embedding_pc": (dims + ("symbol", "component"), out["proj"]),
            "explained_variance_ratio": (dims + ("component",), ratio),
            "effective_dimension": (dims, np.exp(ent)),
            "radius_spread": (dims, ring),
            "rqi": (dims, out["rqi"]),
            "train_acc": (dims, out["train"]),
            "val_acc": (dims, out["val"]),
        },
        coords={"task": ("task", list(TASKS)),
                "step": ("step", steps_rec),
                "seed": ("seed", np.arange(S)),
                "symbol": ("symbol", np.arange(p)),
                "component": ("component", np.arange(d))},
        attrs={"paper": "Liu et al. 2022, Figs. 1-2, Fig. 7 left"})
    return SCHEMA.apply(ds, config)


def plot(ds):
    import matplotlib.pyplot as plt

    steps = ds.step.values
    picks = [0, len(steps) // 2, len(steps) - 1]
    fig, axes = plt.subplots(len(ds.task), len(picks) + 1, figsize=(4 * (len(picks) + 1) + 1, 3.8 * len(ds.task)),
                             squeeze=False, layout="constrained")
    n_seeds = ds.sizes["seed"]
    for ti, task in enumerate(ds.task.values):
        for j, k in enumerate(picks):
            ax = axes[ti][j]
            P = ds.embedding_pc.isel(task=ti, step=k, seed=0).values
            sc = ax.scatter(P[:, 0], P[:, 1] if P.shape[1] > 1 else np.zeros(len(P)), c=np.arange(len(P)),
                            cmap="viridis")
            for s, (x, y) in enumerate(P[:, :2] if P.shape[1] > 1 else np.c_[P[:, 0], np.zeros(len(P))]):
                ax.annotate(str(s), (x, y), fontsize=7)
            ax.set(title=f"{task}, step {int(steps[k])} (seed 0)", xlabel="PC 1", ylabel="PC 2")
        fig.colorbar(sc, ax=list(axes[ti][:len(picks)]), label="integer")
        ax = axes[ti][-1]
        for var in ("rqi", "val_acc", "effective_dimension"):
            v = ds[var].isel(task=ti).values
            ax.errorbar(np.maximum(steps, 1), v.mean(1), yerr=v.std(1) / np.sqrt(v.shape[1]), label=var, lw=1)
        ax.set(xscale="log", xlabel="step", ylabel="RQI, accuracy; effective dimension")
        ax.set_title(f"{task}:\nmean +- s.e. over {n_seeds} seeds", fontsize=10)
        ax.legend(fontsize=7)
    return fig


def statements(ds) -> list[tuple[str, str, str]]:
    """Figs. 1-2: (1) addition: final RQI > 0.9 (parallelograms); (2) modular addition: the seeds
    that generalise lie on a ring (radius spread < 0.25), inconclusive when none generalises."""
    from grokking_workbench.numerics import statistics as st

    add = ds.sel(task="addition").isel(step=-1)
    mod = ds.sel(task="modular_addition").isel(step=-1)
    rq = float(add.rqi.mean())
    gen = mod.val_acc.values >= 0.9
    spread = mod.radius_spread.values
    ring = bool(gen.any() and np.all(spread[gen] < 0.25))
    return [("Fig. 2: generalisation on addition comes with parallelogram structure (RQI > 0.9)",
             st.verdict(rq > 0.9, rq <= 0.9), f"final RQI {rq:.2f}, val. acc {float(add.val_acc.mean()):.2f}"),
            ("Fig. 1: on modular addition the generalising embeddings lie on a circle",
             st.verdict(ring, bool(gen.any()) and not ring),
             f"val. acc {', '.join(f'{v:.2f}' for v in mod.val_acc.values)}, radius spread "
             f"{', '.join(f'{v:.2f}' for v in spread)} (ring: < 0.25 on the generalising seeds)")]


def check(ds) -> tuple[bool, str]:
    """Addition: final RQI > 0.9 (parallelograms); modular addition: the seeds that generalise
    (validation accuracy >= 0.9) lie on a ring in their top-2 principal plane (radius spread
    < 0.25). Fails when no modular seed generalises (the claim cannot be evaluated)."""
    add = ds.sel(task="addition").isel(step=-1)
    mod = ds.sel(task="modular_addition").isel(step=-1)
    rq = float(add.rqi.mean())
    va = float(add.val_acc.mean())
    gen = mod.val_acc.values >= 0.9
    spread = mod.radius_spread.values
    ring_ok = bool(gen.any() and np.all(spread[gen] < 0.25))
    return rq > 0.9 and ring_ok, (
        f"addition: final RQI {rq:.2f}, val. acc {va:.2f}; modular addition: val. acc "
        f"{', '.join(f'{v:.2f}' for v in mod.val_acc.values)}, radius spread "
        f"{', '.join(f'{v:.2f}' for v in spread)} (ring: < 0.25 on the generalising seeds)")


register(
    name="embedding-structure",
    summary="principal components of the learned embeddings over training (addition, modular addition)",
    claim="Liu et al. 2022 Figs. 1-2: generalisation coincides with structured embeddings (parallelograms for addition, a circle for modular addition)",
    quick=Config(seeds=2, steps=4000, records=12),
    full=Config(),
    run=run, plot=plot, statements=statements, schema=SCHEMA,
)
