"""Phase diagrams of the toy addition model (Liu et al. 2022, Sec. 4.1, Fig. 6a-b).

Two grids, each trained as one batched computation (``numerics.simulate.toy_addition``, whose
defaults are the paper's toy model: 1-D embeddings, tanh decoder 1-200-200-30, random 30-D
targets, mean-squared error, full batch): decoder learning rate against decoder weight decay at
a fixed embedding learning rate (Fig. 6b), and embedding learning rate against decoder learning
rate at a fixed weight decay (Fig. 6a). p = 10, 45/10 train/validation split, one split per
seed. Every point is classified from the first steps at which training and validation accuracy
reach 90 % (the paper's Table 1 is not in the text; these definitions are written into the
dataset):

* comprehension: both reached, the validation step trails the train step by < ``delay`` steps;
* grokking: both reached, the validation step trails by >= ``delay`` steps;
* memorisation: only the training accuracy is reached within the budget;
* confusion: the training accuracy is not reached (whether or not validation is).

Splits. Only splits on which 90 % validation accuracy is possible at all are used (every
validation sample whose sum ``i + j`` never occurs in training is lost whatever the
representation; ``numerics.representation.seen_label_fraction``), drawn at random among those
whose best validation accuracy lies in ``[val_best_min, val_best_max]``; the best accuracy of
each split is stored (``val_best``). This matters for grokking: on 10 validation samples a split
whose validation sums all occur in training reaches 90 % as soon as the representation is
roughly linear (validation often before training), and in our runs such splits showed only
comprehension, memorisation and confusion; grokking (validation trailing training by more than
``delay``) appeared only on splits with exactly one unseen validation sum (best accuracy 0.9),
where 90 % needs every other validation sample, i.e. a precise linear representation and
decoder, and not for every initialisation of such a split: the region is narrow.

Full configuration: the paper's grid (decoder lr 1e-4 .. 1e-2 as in the authors' sweep, weight
decay 0 .. 10, embedding lr 1e-3, 3 seeds, 1e5 steps, delay 1e3). Quick configuration: the same
dynamics on a 10x shorter clock: every learning rate x10 and the step budget and delay / 10
(Adam moves each parameter by about its learning rate per step and AdamW decays it by
``lr * wd`` per step, so multiplying all learning rates by 10 runs the same trajectory in about
a tenth of the steps, up to the fixed momentum time scales of Adam).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grokking_workbench.experiments.registry import register

PHASES = ("comprehension", "grokking", "memorisation", "confusion")
COLOURS = ("#2ca02c", "#1f77b4", "#d62728", "#7f7f7f")


@dataclass(frozen=True)
class Config:
    p: int = 10
    n_train: int = 45
    lrs: tuple = tuple(float(x) for x in np.geomspace(1e-4, 1e-2, 11))
    weight_decays: tuple = tuple(float(x) for x in np.linspace(0.0, 10.0, 11))
    embedding_lr: float = 1e-3
    embedding_lrs: tuple = tuple(float(x) for x in np.geomspace(1e-5, 1e-2, 11))
    weight_decay: float = 0.0
    seeds: int = 3
    steps: int = 100000
    threshold: float = 0.9
    delay: int = 1000
    eval_every: int = 20
    width: int = 200
    activation: str = "tanh"
    task: str = "regression"
    val_best_min: float = 0.9
    val_best_max: float = 1.0
    split_seed: int = 0
    num_threads: int | None = 1


def classify(steps_train: np.ndarray, steps_val: np.ndarray, delay: int) -> np.ndarray:
    """Phase codes (index into :data:`PHASES`) from first-reach steps (-1: not reached)."""
    tr, va = np.asarray(steps_train), np.asarray(steps_val)
    both = (tr >= 0) & (va >= 0)
    code = np.full(tr.shape, 3, dtype=np.int8)                  # confusion
    code[(tr >= 0) & (va < 0)] = 2                               # memorisation
    code[both & (va - tr >= delay)] = 1                          # grokking
    code[both & (va - tr < delay)] = 0                           # comprehension
    return code


def splits(config: Config) -> np.ndarray:
    """One training mask per seed (module docstring: splits where 90 % validation is possible)."""
    from grokking_workbench.numerics import representation as rep

    rng = np.random.default_rng(config.split_seed)
    return rep.generalisable_splits(config.p, config.n_train, config.seeds, rng,
                                    min_accuracy=config.val_best_min, max_accuracy=config.val_best_max)


def _train_grid(config: Config, elr, lr, wd, seeds):
    from grokking_workbench.numerics.simulate import toy_addition as ta

    split = splits(config)
    spec = ta.ModelSpec(p=config.p, width=config.width, activation=config.activation, task=config.task)
    batch = ta.Batch.make(embedding_lr=elr, lr=lr, weight_decay=wd, seed=seeds,
                          train_mask=split[seeds % config.seeds])
    return ta.train(spec, batch, config.steps, eval_every=config.eval_every,
                    threshold=config.threshold, num_threads=config.num_threads, progress=True)


def run(config: Config):
    import xarray as xr

    from grokking_workbench.numerics import representation as rep

    S = config.seeds
    lrs = np.asarray(config.lrs, float)
    out = {}
    for panel, ys, yname in (("wd", np.asarray(config.weight_decays, float), "weight_decay"),
                             ("elr", np.asarray(config.embedding_lrs, float), "embedding_lr")):
        if len(ys) == 0:
            continue
        Y, L, Sd = np.meshgrid(ys, lrs, np.arange(S), indexing="ij")
        if panel == "wd":
            res = _train_grid(config, config.embedding_lr, L.ravel(), Y.ravel(), Sd.ravel())
        else:
            res = _train_grid(config, Y.ravel(), L.ravel(), config.weight_decay, Sd.ravel())
        shape = Y.shape
        tr, va = res.steps_to_train.reshape(shape), res.steps_to_val.reshape(shape)
        out[panel] = (yname, ys, tr, va, classify(tr, va, config.delay),
                      res.train_acc[-1].reshape(shape), res.val_acc[-1].reshape(shape),
                      res.rqi[-1].reshape(shape))
    data = {}
    coords = {"lr": ("lr", lrs, {"long_name": "decoder learning rate (AdamW)", "units": "1"}),
              "seed": ("seed", np.arange(S), {"long_name": "initialisation, targets and split", "units": "1"})}
    flag = {"flag_values": np.arange(4, dtype=np.int8), "flag_meanings": " ".join(PHASES)}
    for panel, (yname, ys, tr, va, code, tacc, vacc, rqi) in out.items():
        sfx = "" if panel == "wd" else "_vs_embedding_lr"
        dims = (yname, "lr", "seed")
        coords[yname] = (yname, ys, {"long_name": {"weight_decay": "decoder weight decay (AdamW)",
                                                    "embedding_lr": "embedding learning rate (Adam)"}[yname],
                                     "units": "1"})
        nan = lambda a: np.where(a >= 0, a, np.nan).astype(float)
        data["steps_to_train" + sfx] = (dims, nan(tr), {"long_name": f"first step with train accuracy >= {config.threshold}", "units": "1"})
        data["steps_to_val" + sfx] = (dims, nan(va), {"long_name": f"first step with validation accuracy >= {config.threshold}", "units": "1"})
        data["phase" + sfx] = (dims, code, {"long_name": "learning phase", "units": "1", **flag})
        frac = np.stack([(code == k).mean(axis=-1) for k in range(4)], axis=-1)
        data["phase_fraction" + sfx] = ((yname, "lr", "phase_name"), frac, {"long_name": "fraction of seeds in each phase", "units": "1"})
        data["final_train_acc" + sfx] = (dims, tacc, {"long_name": "train accuracy at the end of the budget", "units": "1"})
        data["final_val_acc" + sfx] = (dims, vacc, {"long_name": "validation accuracy at the end of the budget", "units": "1"})
        data["final_rqi" + sfx] = (dims, rqi, {"long_name": "RQI of the embeddings at the end of the budget", "units": "1"})
    coords["phase_name"] = ("phase_name", list(PHASES), {"long_name": "learning phase", "units": "1"})
    data["val_best"] = ("seed", rep.seen_label_fraction(config.p, splits(config)),
                        {"long_name": "best possible validation accuracy of the seed's split (share of validation sums seen in training)", "units": "1"})
    ds = xr.Dataset(data, coords=coords, attrs={
        "paper": "Liu et al. 2022, Fig. 6a-b",
        "phase_definitions": (f"accuracy threshold {config.threshold} for train and validation; "
                              f"comprehension: both reached, validation trails train by < {config.delay} steps; "
                              f"grokking: both reached, trails by >= {config.delay} steps; memorisation: only train "
                              f"reached within {config.steps} steps; confusion: train not reached"),
        "embedding_lr_fixed": config.embedding_lr, "weight_decay_fixed": config.weight_decay,
        "steps": config.steps, "delay": config.delay})
    return ds


def majority_phase(codes: np.ndarray) -> np.ndarray:
    """Most frequent phase over the last axis (ties: the lower code)."""
    counts = np.stack([(codes == k).sum(axis=-1) for k in range(4)], axis=-1)
    return counts.argmax(axis=-1)


def plot(ds):
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    panels = [(v, y) for v, y in (("phase_vs_embedding_lr", "embedding_lr"), ("phase", "weight_decay")) if v in ds]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.5), squeeze=False)
    cmap = ListedColormap(COLOURS)
    for ax, (var, yname) in zip(axes[0], panels):
        maj = majority_phase(ds[var].values)
        x, y = np.log10(ds.lr.values), ds[yname].values
        ylog = yname == "embedding_lr"
        ax.pcolormesh(x, np.log10(y) if ylog else y, maj, cmap=cmap, vmin=-0.5, vmax=3.5, shading="nearest")
        ax.set(xlabel="log10 decoder learning rate",
               ylabel="log10 embedding learning rate" if ylog else "decoder weight decay",
               title="Fig. 6a" if ylog else "Fig. 6b (majority over seeds)")
    axes[0][-1].legend(handles=[Patch(color=c, label=n) for c, n in zip(COLOURS, ds.phase_name.values)],
                       fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def sandwiched(maj: np.ndarray) -> int:
    """Grokking points (code 1) in 4-connected grokking regions of a phase map that border
    both a comprehension (0) and a memorisation (2) point: grokking lying between the two."""
    from scipy import ndimage

    lab, n = ndimage.label(maj == 1)
    count = 0
    for k in range(1, n + 1):
        region = lab == k
        border = ndimage.binary_dilation(region) & ~region
        if (maj[border] == 0).any() and (maj[border] == 2).any():
            count += int(region.sum())
    return count


def _check_map(maj: np.ndarray) -> tuple[bool, str]:
    """Fig. 6b claims on one phase map (rows: weight decay ascending; columns: decoder lr
    ascending): (i) all four phases; (ii) largest lr and smallest weight decay (a fast, capable
    decoder) memorise; (iii) largest lr and largest weight decay (fast, simple) are confused;
    (iv) grokking lies between comprehension and memorisation."""
    counts = {PHASES[k]: int((maj == k).sum()) for k in range(4)}
    four = all(v > 0 for v in counts.values())
    top_right, bottom_right = PHASES[maj[0, -1]], PHASES[maj[-1, -1]]
    between = sandwiched(maj)
    ok = four and top_right == "memorisation" and bottom_right == "confusion" and between > 0
    return ok, (", ".join(f"{k} {v}" for k, v in counts.items())
                + f"; max lr/min wd: {top_right}; max lr/max wd: {bottom_right}; "
                f"grokking points between comprehension and memorisation: {between}")


def statements(ds) -> list[tuple[str, str, str]]:
    """Fig. 6: the majority phase map over seeds has the four phases with grokking between
    comprehension and memorisation (``_check_map``)."""
    from grokking_workbench.numerics import statistics as st

    ok, msg = check(ds)
    return [("Fig. 6: four phases; grokking lies between comprehension and memorisation", st.verdict(ok, not ok), msg)]


def check(ds) -> tuple[bool, str]:
    maj = majority_phase(ds.phase.values)
    ok, msg = _check_map(maj)
    parts = [f"majority over {ds.sizes['seed']} seeds: {msg}"]
    if ds.sizes["seed"] > 1:
        for s in range(ds.sizes["seed"]):
            parts.append(f"seed {s} (best val. acc. {float(ds.val_best[s]):.1f}): "
                         f"{_check_map(ds.phase.values[..., s])[1]}")
    return ok, " | ".join(parts)


register(
    name="phase-diagram",
    summary="comprehension / grokking / memorisation / confusion over decoder lr, weight decay and embedding lr",
    claim="Liu et al. 2022 Fig. 6: four phases; grokking lies between comprehension and memorisation",
    # the paper's Fig. 6b on a 10x shorter clock (module docstring), one split whose best
    # validation accuracy is 0.9: decoder lr 1e-3..3e-2 <-> 1e-4..3e-3, embedding lr 1e-2 <-> 1e-3.
    # One split and one initialisation: the grokking region is narrow and depends on both (the
    # same split with initialisation seed 2 memorises where seed 0 groks; splits whose validation
    # sums all occur in training show comprehension, memorisation and confusion only)
    quick=Config(lrs=(1e-3, 3e-3, 1e-2, 3e-2), weight_decays=(0.0, 3.0, 6.0, 9.0), embedding_lr=1e-2,
                 embedding_lrs=(), seeds=1, steps=3000, delay=100, eval_every=10,
                 val_best_min=0.9, val_best_max=0.9),
    full=Config(),
    run=run, plot=plot, statements=statements,
)
