"""Phase diagrams of Liu et al. 2022 beyond the toy model, as sweeps: the transformer on modular
addition (Fig. 7 right) and an MLP on digit images (Fig. 8 right).

Both are grids of weight decay (rows) by learning rate (columns) over seeds, one cell = one
training run, classified into the four phases exactly as the toy diagrams
(``experiments.phase_diagram``: :func:`~experiments.phase_diagram.classify` on the first
evaluation steps at which train and validation accuracy reach 90 %; comprehension: validation
trails training by less than ``delay`` steps; grokking: by ``delay`` or more; memorisation: only
the training accuracy within the budget; confusion: not even that), with the phase probability of
each point over the seeds (:func:`~experiments.phase_diagram.phase_probability`) and its
majority phase (:func:`~experiments.phase_diagram.majority_map`). The delay is 1,000 steps, the
toy diagrams' and the authors' own (``simple_phase_diagram.ipynb`` of their repository: 1,000
steps on a budget of 10^5): our optimisers run on the paper's clock (the same Adam learning
rates), only the budgets are shorter, so the delay is kept in steps; it is 10 % of the
transformer's budget (10^4 steps) and 5 % of the images' (2 x 10^4), and 40 and 20 evaluation
intervals. A run that would grok after the budget counts as memorisation.

Cells are blocks of the sweep layer (``numerics.sweep``): the cells of a block (one weight-decay
row, all learning rates and seeds) are trained as one batch of networks
(``numerics.networks.train``), in process or on a dask cluster (``grokking run NAME [--workers N
| --scheduler ADDRESS]``); each finished cell is written at once and a rerun skips it. Early exit
(:func:`numerics.networks.train.train_to_thresholds`): a network stops at the first evaluation
where both accuracies have reached 90 % (its phase is then decided) and leaves its batch; only
memorisation, confusion and late grokking run the whole budget.

``phase-diagram-transformer`` (Fig. 7 right: "Phase diagram of the transformer architecture. A
scan is performed over the weight decay and learning rate of the decoder while the learning rate
of the embeddings is kept fixed at 10^-3 (with zero weight decay)"). The model of
``transformer-embeddings`` (Liu et al. Sec. 4.2: p integers embedded N(0, 1), a decoder-only
transformer on the two tokens, the last layer's outputs concatenated and mapped linearly to the p
classes; cross-entropy, full batch), with pre-layer-norm blocks as in the authors' code (without
them the embeddings of norm ~sqrt(d) saturate the attention and nothing generalised within our
budgets: test accuracy 0.15-0.37 after 6,000 steps at weight decay 1-5, p = 23, d = 32); AdamW
on the decoder at the cell's learning rate and weight decay, Adam(W) at 1e-3 without weight decay
on the embeddings, betas (0.9, 0.98). Decoder weight decays 0, 0.3, 1, 2, 3, 4, 6, 10 (0 is the
no-weight-decay reference of T2; the paper's axis is logarithmic, 0.02-20) by decoder learning
rates 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, two seeds (seed k: the k-th split of the pairs and
initialisation), 10,000 steps, evaluations every 25 steps.

What is reduced, and why. The paper (its Sec. 4.2 and the authors' code): p = 53, 256-dimensional
embeddings, 80 % of the pairs for training, 10^5 steps (stopped once the validation accuracy
exceeds 99.9 %), decoder learning rates 3e-7-4e-2 by weight decays 0.02-20 on a fine grid (19
weight decays in the authors' code), 3 seeds. Measured here (``benchmarks/phase_diagram_networks.py``,
CPU time on one core): one step of one network at the paper's size (p = 53, d = 256, one layer,
80 % of the pairs) costs 0.26 s, so one paper-size network for 10^5 steps is ~7 CPU-hours and a
19 x 15 grid over 3 seeds ~0.7 CPU-years. One network-step at p = 23, d = 32 costs 2.4 ms in a
batch of 10 and an evaluation of its train and validation accuracy 1.2 ms (2.3-2.7 ms per step
with the evaluations in the exploration runs), ~100 times less. Hence p = 23, d = 32, 10^4 steps
and an 8 x 5 grid over 2 seeds: 80 cells, at most 8 x 10^5 network-steps (~33 CPU-minutes); the
early exit ends the cells that generalise sooner. Exploration (one seed, 5,000-10,000 steps, on this grid's
range) placed memorisation at weight decay <= 0.3 (grokking at 0.3 only for lr 1e-2), grokking at
weight decay 3 (validation 3,000-5,000 steps after training), the shortest delays (700-1,300
steps) at weight decay 4, training without generalising at 5-6 and confusion from 8 on; the rows
resolve that range. The shorter budget moves the picture: what groks after 10^4 steps counts as
memorisation, so our grokking region is the paper's shifted to larger learning rate x weight
decay (the rate at which AdamW shrinks the weights), and our learning rates are the upper part
of the paper's axis, where its comprehension and confusion phases lie.

Statements (criteria fixed before the full run; t_val: first step with validation accuracy >= 0.9,
infinite when not within the budget):

- T1 Fig. 7 right is "a comparable phase diagram to Figure 6", whose first common phenomenon is
  "(i) they all include four phases": reproduced when each phase is the majority phase of at
  least one point; not reproduced when a phase occurs in no cell at all; inconclusive when every
  phase occurs but one is nowhere the majority.
- T2 "Contrary to the toy model, a certain amount of weight decay proves beneficial to
  generalization and speeds it up significantly": for each weight decay wd > 0, the (lr, seed)
  cells are paired with the same cells at wd = 0 (the smallest weight decay if 0 is not on the
  grid); reproduced when for some wd > 0 t_val is smaller in significantly many pairs (one-sided
  sign test over the pairs that differ, p < 0.05 / K, Bonferroni over the K weight decays) and
  the median t_val over its cells is at most half that at wd = 0 (a finite median against an
  infinite one counts); not reproduced when no wd > 0 has such a median; inconclusive when one
  has but no sign test is significant, or when no cell generalises at all (the budget is then too
  short to tell).
- T3 (abstract) "on transformers the grokking phase stays closer to the memorization phase
  (compared to the comprehension phase)": on the majority map, each grokking point's distance
  (grid steps, Euclidean) to the nearest memorisation point is compared with that to the nearest
  comprehension point; reproduced when more points are closer to memorisation than to
  comprehension and a one-sided sign test over the points that differ gives p < 0.05; not
  reproduced when at least as many are closer to comprehension; inconclusive otherwise and when
  the map lacks grokking, memorisation or comprehension points.

``phase-diagram-images`` (Fig. 8 right: "Phase diagram with the four phases of learning dynamics
on MNIST"). The network, data and training of ``digits-grokking`` (our copy of the paper has no
Appendix J; those are our choices, fixed before these runs): ReLU MLP 64-200-200-10 on
scikit-learn's 8 x 8 digits (1,000 images for training, the other 797 for validation; with
``--data-dir`` the MNIST IDX files, 784 inputs and the 10,000 test images), mean-squared error
against one-hot labels, every parameter multiplied by the initial scale 8 (the large
initialisation with which ``digits-grokking`` memorises), AdamW with mini-batches of 200, the
plain (not centred) network. The axes of Fig. 8 right are not in our copy either; we take the
two optimisation hyperparameters that the paper says control grokking on MNIST ("we can control
grokking by varying optimization hyperparameters", Sec. 4.3) and that Fig. 7 right sweeps:
weight decay 0, 0.01, 0.03, 0.1, 0.3, 1, 3, 10 by learning rate 3e-4, 1e-3, 3e-3, 1e-2, 3e-2 (every
parameter), two seeds (seed k: the k-th split and initialisation), 20,000 steps, evaluations
every 50 steps. Measured (CPU, one core): one network-step (mini-batch of 200, 8 x 8 digits,
width 200) costs 1.05 ms in a batch of 10 and an evaluation (train and validation accuracy on all
1,797 images) 2.6 ms (1.5 ms per step with evaluations every 50 steps in the exploration runs,
under load); MNIST (784 inputs, 10,000 test images) costs several times more per step
and evaluation, and a paper-size diagram (MNIST, 10^5 steps, a fine grid, several seeds) is far
beyond this machine, hence the bundled digits, 2 x 10^4 steps and 8 x 5 points over 2 seeds: at
most 1.6 x 10^6 network-steps (~30 CPU-minutes) before the early exit. Exploration (one seed,
10,000-15,000 steps) found memorisation without weight decay (lr 1e-2), grokking at weight decay
0.03 (validation 1,500-6,600 steps after training), comprehension at 0.3-1 and confusion at
weight decay 10 and at learning rates <= 1e-4 (and 1e-3 without weight decay) within the budget.

Statements (criteria fixed before the full run):

- I1 "Phase diagram with the four phases of learning dynamics on MNIST": as T1.
- I2 Sec. 1, A3: "Grokking is a phase between 'comprehension' and 'memorization' phases and it
  can be remedied with proper hyperparameter tuning" (Sec. 4.3: "we can control grokking by
  varying optimization hyperparameters"): reproduced when a 4-connected grokking region of the
  majority map borders both a comprehension and a memorisation point
  (:func:`~experiments.phase_diagram.sandwiched`); inconclusive when the map lacks grokking,
  comprehension or memorisation points; not reproduced otherwise.

The dataset holds per cell the first-reach steps, the stop step, final losses, accuracies and
parameter norm, the phase and the cell's status; per point the phase probabilities; the verdicts
also as ``verdict_<statement>`` attributes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grokking_workbench.experiments import phase_diagram as pdg
from grokking_workbench.experiments.registry import register
from grokking_workbench.numerics.schema import Schema, Var
from grokking_workbench.numerics.validate import InputError

GRID = ("weight_decay", "lr", "seed")


@dataclass(frozen=True)
class Grid:
    """What both diagrams share: the grid (``weight_decays`` rows, ``lrs`` columns, ``seeds``:
    seed k is the k-th split and initialisation), the budget ``steps``, the phase rule
    (``threshold``, ``delay``), ``eval_every`` (resolution of the first-reach steps),
    ``early_exit``, ``block_size`` (cells trained as one batch, one task each; default: one
    weight-decay row), torch threads per task."""

    lrs: tuple = (1e-3,)
    weight_decays: tuple = (0.0,)
    seeds: int = 1
    steps: int = 1000
    threshold: float = 0.9
    delay: int = 50
    eval_every: int = 10
    early_exit: bool = True
    block_size: int | None = None
    threads: int | None = 1
    dtype: str = "float32"


@dataclass(frozen=True)
class TransformerGrid(Grid):
    """Fig. 7 right: the decoder's AdamW learning rate and weight decay; embeddings at
    ``embed_lr`` without weight decay (module docstring)."""

    p: int = 23
    train_fraction: float = 0.8
    d_model: int = 32
    n_heads: int = 4
    layers: int = 1
    layer_norm: bool = True
    embed_std: float = 1.0
    embed_lr: float = 1e-3
    betas: tuple = (0.9, 0.98)


@dataclass(frozen=True)
class ImageGrid(Grid):
    """Fig. 8 right: AdamW learning rate and weight decay of every parameter of an MLP on digit
    images at a large initial scale (module docstring)."""

    n_train: int = 1000
    data_dir: str | None = None
    width: int = 200
    init_scale: float = 8.0
    batch_size: int | None = 200
    betas: tuple = (0.9, 0.999)


def _kind(config) -> str:
    return "transformer" if isinstance(config, TransformerGrid) else "images"


def validate(config: Grid) -> None:
    """InputError naming the first bad field (before anything runs)."""
    from grokking_workbench.numerics.validate import positive_int

    for name in ("steps", "delay", "eval_every", "seeds"):
        positive_int(name, getattr(config, name))
    if config.block_size is not None:
        positive_int("block_size", config.block_size)
    if not 0 < config.threshold <= 1:
        raise InputError("threshold", f"must lie in (0, 1], got {config.threshold}")
    for name in ("lrs", "weight_decays"):
        values = np.asarray(getattr(config, name), float)
        if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values < 0):
            raise InputError(name, "needs finite values >= 0")
        if len(np.unique(values)) != values.size:
            raise InputError(name, "values must differ")
    if np.any(np.asarray(config.lrs, float) <= 0):
        raise InputError("lrs", "learning rates must be > 0")
    if isinstance(config, TransformerGrid):
        positive_int("p", config.p)
        if config.d_model % config.n_heads:
            raise InputError("n_heads", f"must divide d_model = {config.d_model}")
        if not 0 < config.train_fraction < 1:
            raise InputError("train_fraction", f"must lie in (0, 1), got {config.train_fraction}")


# ------------------------------------------------------------------------------ one block
def _split(config: Grid, seed: int):
    from grokking_workbench.numerics.networks import data

    if isinstance(config, TransformerGrid):
        return data.modular_addition(config.p, config.train_fraction, seed=seed)
    return data.digits(config.n_train, seed=seed, data_dir=config.data_dir)


def _model(config: Grid, inputs: int):
    from grokking_workbench.numerics.networks import models

    if isinstance(config, TransformerGrid):
        c = config
        return lambda g: models.Transformer(c.p, 2, c.p, d_model=c.d_model, n_heads=c.n_heads,
                                            d_mlp=4 * c.d_model, layers=c.layers,
                                            layer_norm=c.layer_norm, output="concat",
                                            embed_std=c.embed_std, generator=g)
    return lambda g: models.MLP((inputs, config.width, config.width, 10), activation="relu", generator=g)


def _train_config(config: Grid):
    from grokking_workbench.numerics.networks import train as T

    common = dict(optimizer="adamw", steps=config.steps, betas=tuple(config.betas), centre=False,
                  lr_alpha_power=1.0, dtype=config.dtype)
    if isinstance(config, TransformerGrid):
        # the decoder's lr and weight decay are the cell's (Member.lr, Member.weight_decay)
        return T.TrainConfig(loss="ce", embed_lr=config.embed_lr, embed_weight_decay=0.0, **common)
    return T.TrainConfig(loss="mse", batch_size=config.batch_size, **common)


_RESULTS = {**pdg.FIRST_REACH_RESULTS, "final_param_norm": "parameter norm |theta| at the stop step"}


def run_block(config: Grid, cells: list[dict]) -> list[dict]:
    """Train the cells of one block as one batch of networks, with early exit; one result dict
    per cell (the sweep layer's block function)."""
    from grokking_workbench.numerics.networks import train as T

    seeds = sorted({int(c["seed"]) for c in cells})
    splits = [_split(config, s) for s in seeds]
    scale = config.init_scale if isinstance(config, ImageGrid) else 1.0
    members = [T.Member(seed=int(c["seed"]), data=seeds.index(int(c["seed"])), lr=float(c["lr"]),
                        weight_decay=float(c["weight_decay"]), init_scale=scale) for c in cells]
    res = T.train_to_thresholds(_model(config, int(splits[0].x_train.shape[-1])), T.stack_data(splits),
                                _train_config(config), members, classes=splits[0].classes,
                                threshold=config.threshold, eval_every=config.eval_every,
                                stop_when_decided=config.early_exit, threads=config.threads)
    final = res["final"]
    out = []
    for k in range(len(cells)):
        first = {key: float(res[f"steps_to_{key}"][k]) if res[f"steps_to_{key}"][k] >= 0 else float("nan")
                 for key in ("train", "test")}
        d = {"steps_to_train": first["train"], "steps_to_val": first["test"],
             "stop_step": int(res["stop_step"][k]),
             "final_train_loss": float(final["train_loss"][k]), "final_val_loss": float(final["test_loss"][k]),
             "final_train_acc": float(final["train_accuracy"][k]),
             "final_val_acc": float(final["test_accuracy"][k]),
             "final_param_norm": float(final["param_norm"][k])}
        if res["diverged"][k]:
            d.update(status="diverged", message=f"train loss {d['final_train_loss']} at step {d['stop_step']}")
        out.append(d)
    return out


# ------------------------------------------------------------------------------ the sweep
_LR_LONG = {"transformer": "decoder learning rate (AdamW)", "images": "learning rate (AdamW, every parameter)"}
_WD_LONG = {"transformer": "decoder weight decay (AdamW; none on the embeddings)",
            "images": "weight decay (AdamW, every parameter)"}
NAMES = {"transformer": "phase-diagram-transformer", "images": "phase-diagram-images"}


def grid_sweep(config: Grid):
    """The sweep (``numerics.sweep``): cells (weight decay, learning rate, seed)."""
    from grokking_workbench.numerics.sweep import Sweep, Variable

    kind = _kind(config)
    return Sweep(
        name=NAMES[kind],
        dims={"weight_decay": list(config.weight_decays), "lr": list(config.lrs),
              "seed": list(range(config.seeds))},
        run_block=run_block, config=config,
        block_size=config.block_size or len(config.lrs) * config.seeds,
        variables={k: Variable(v) for k, v in _RESULTS.items()},
        coords={"weight_decay": Variable(_WD_LONG[kind]), "lr": Variable(_LR_LONG[kind]),
                "seed": Variable("split and initialisation seed")})


def _schema(config: Grid) -> Schema:
    """The dataset's variables and coordinates: the sweep's (results, cells, grid), the phases,
    their probabilities and the phase names."""
    return grid_sweep(config).schema() | Schema({
        "phase": Var("learning phase (-1: no verdict, the cell failed or did not run)", "1", GRID),
        "phase_probability": Var("share of the seeds in each phase", "1", ("weight_decay", "lr", "phase_name")),
        "phase_name": Var("learning phase", "1", ("phase_name",)),
    })


def run(config: Grid):
    from grokking_workbench.numerics import sweep

    validate(config)
    ds = sweep.run(grid_sweep(config))
    ok = ds.cell_status.values == "ok"
    tr = np.nan_to_num(ds.steps_to_train.values, nan=-1)
    va = np.nan_to_num(ds.steps_to_val.values, nan=-1)
    code = np.where(ok, pdg.classify(tr, va, config.delay), -1).astype(np.int8)
    ds["phase"] = (GRID, code, {"flag_values": np.arange(-1, 4, dtype=np.int8),
                                "flag_meanings": "none " + " ".join(pdg.PHASES)})
    ds["phase_probability"] = (("weight_decay", "lr", "phase_name"), pdg.phase_probability(code, ok))
    ds.coords["phase_name"] = ("phase_name", list(pdg.PHASES))
    kind = _kind(config)
    ds.attrs.update({
        "paper": "Liu et al. 2022, " + ("Fig. 7 right" if kind == "transformer" else "Fig. 8 right"),
        "task": kind,
        "phase_definitions": (f"accuracy threshold {config.threshold} for train and validation; "
                              f"comprehension: both reached, validation trails train by < {config.delay} steps; "
                              f"grokking: both reached, trails by >= {config.delay} steps; memorisation: only "
                              f"train reached within {config.steps} steps; confusion: train not reached"),
        "steps": config.steps, "delay": config.delay, "threshold": config.threshold,
        "early_exit": int(config.early_exit),
        **({"p": config.p} if kind == "transformer" else {"data": _split(config, 0).name}),
        "cpu_seconds": round(float(np.nansum(ds.cell_seconds.values)), 1),
        "cell_steps": int(np.nansum(ds.stop_step.values)),
    })
    ds = _schema(config).apply(ds, config)
    for n, (_, v, evidence) in enumerate(STATEMENTS[kind](ds), 1):
        ds.attrs[f"verdict_{kind[0].upper()}{n}"] = f"{v}: {evidence}"
    return ds


# ------------------------------------------------------------------------------ statements
def _majority(ds) -> np.ndarray:
    return pdg.majority_map(ds.phase_probability.values)


def _majority_with_the_phases_around_grokking(ds):
    """(majority map, phase counts, '' or why a statement about where grokking lies cannot be
    tested: the map lacks grokking, memorisation or comprehension)."""
    maj = _majority(ds)
    counts = pdg.phase_counts(maj)
    missing = [k for k in ("grokking", "memorisation", "comprehension") if counts[k] == 0]
    return maj, counts, ("the majority map lacks " + ", ".join(missing)) if missing else ""


def four_phases(ds) -> tuple[str, str]:
    """T1 / I1 (module docstring): (verdict, evidence)."""
    from grokking_workbench.numerics import statistics as st

    maj = _majority(ds)
    counts = pdg.phase_counts(maj)
    cells = {pdg.PHASES[k]: int((ds.phase.values == k).sum()) for k in range(4)}
    ok = all(v > 0 for v in counts.values())
    missing = [k for k, v in cells.items() if v == 0]
    return (st.verdict(ok, bool(missing)),
            "majority points: " + ", ".join(f"{k} {v}" for k, v in counts.items())
            + "; cells: " + ", ".join(f"{k} {v}" for k, v in cells.items()))


def _sign_p(wins: int, losses: int) -> float:
    """One-sided sign test: P(Binomial(wins + losses, 1/2) >= wins)."""
    from scipy.stats import binom

    n = wins + losses
    return float(binom.sf(wins - 1, n, 0.5)) if n else 1.0


def weight_decay_helps(ds) -> tuple[str, str]:
    """T2 (module docstring): (verdict, evidence)."""
    from grokking_workbench.numerics import statistics as st

    wds = ds.weight_decay.values
    t = np.where(np.isnan(ds.steps_to_val.values), np.inf, ds.steps_to_val.values)
    t = np.where(ds.phase.values < 0, np.nan, t)                # cells without a verdict: left out
    ref = int(np.argmin(wds))
    base = t[ref].ravel()
    med0 = float(np.median(base[~np.isnan(base)])) if (~np.isnan(base)).any() else np.nan
    K = len(wds) - 1
    if K < 1 or np.isnan(med0):
        return st.INCONCLUSIVE, "one weight decay only, or no verdict at the smallest"
    if not np.isfinite(t).any():
        return st.INCONCLUSIVE, f"no cell reached the validation threshold within {ds.attrs.get('steps')} steps"
    good, effect, parts = False, False, []
    for i in range(len(wds)):
        if i == ref:
            continue
        x = t[i].ravel()
        keep = ~(np.isnan(x) | np.isnan(base))
        a, b = x[keep], base[keep]
        wins, losses = int((a < b).sum()), int((a > b).sum())
        p = _sign_p(wins, losses)
        med = float(np.median(a)) if a.size else np.nan
        ratio = (0.0 if np.isfinite(med) and np.isinf(med0) else 1.0 if np.isinf(med) and np.isinf(med0)
                 else med / med0)
        big = ratio <= 0.5
        effect |= big
        good |= big and p < st.FAMILY_ERROR / K
        parts.append(f"wd {wds[i]:g}: median t_val {med:.0f}, faster in {wins} of {wins + losses} "
                     f"differing pairs (p = {p:.2g})")
    text = (f"median t_val at wd {wds[ref]:g}: {med0:.0f} (inf: not within {ds.attrs.get('steps')} steps); "
            + "; ".join(parts) + f"; sign-test limit {st.FAMILY_ERROR / K:.2g}")
    return st.verdict(good, not effect), text


def _distance_to(maj: np.ndarray, code: int) -> np.ndarray:
    """Euclidean distance (grid steps) of every point to the nearest point of phase ``code``
    (inf when there is none)."""
    pts = np.argwhere(maj == code)
    if not len(pts):
        return np.full(maj.shape, np.inf)
    grid = np.indices(maj.shape).reshape(2, -1).T
    d = np.sqrt(((grid[:, None, :] - pts[None, :, :]) ** 2).sum(-1)).min(1)
    return d.reshape(maj.shape)


def grokking_near_memorisation(ds) -> tuple[str, str]:
    """T3 (module docstring): (verdict, evidence)."""
    from grokking_workbench.numerics import statistics as st

    maj, counts, lacking = _majority_with_the_phases_around_grokking(ds)
    if lacking:
        return st.INCONCLUSIVE, lacking
    g = maj == 1
    dm, dc = _distance_to(maj, 2)[g], _distance_to(maj, 0)[g]
    closer_m, closer_c = int((dm < dc).sum()), int((dc < dm).sum())
    p = _sign_p(closer_m, closer_c)
    return (st.verdict(closer_m > closer_c and p < st.FAMILY_ERROR, closer_c >= closer_m),
            f"{counts['grokking']} grokking points: closer to memorisation {closer_m}, closer to "
            f"comprehension {closer_c}, equally close {counts['grokking'] - closer_m - closer_c} "
            f"(sign test p = {p:.2g}); mean distance to memorisation {dm.mean():.2f}, to "
            f"comprehension {dc.mean():.2f} grid steps")


def grokking_between(ds) -> tuple[str, str]:
    """I2 (module docstring): (verdict, evidence)."""
    from grokking_workbench.numerics import statistics as st

    maj, counts, lacking = _majority_with_the_phases_around_grokking(ds)
    if lacking:
        return st.INCONCLUSIVE, lacking
    between = pdg.sandwiched(maj)
    return (st.verdict(between > 0, between == 0),
            f"grokking points in regions bordering comprehension and memorisation: {between} of {counts['grokking']}")


def statements_transformer(ds) -> list[tuple[str, str, str]]:
    return [("Fig. 7 right, \"a comparable phase diagram to Figure 6\": the four phases appear", *four_phases(ds)),
            ("Sec. 4.2: \"a certain amount of weight decay proves beneficial to generalization and "
             "speeds it up significantly\"", *weight_decay_helps(ds)),
            ("Abstract: \"on transformers the grokking phase stays closer to the memorization phase "
             "(compared to the comprehension phase)\"", *grokking_near_memorisation(ds))]


def statements_images(ds) -> list[tuple[str, str, str]]:
    return [("Fig. 8 right: \"the four phases of learning dynamics on MNIST\"", *four_phases(ds)),
            ("A3: \"Grokking is a phase between comprehension and memorization phases and it can be "
             "remedied with proper hyperparameter tuning\"", *grokking_between(ds))]


STATEMENTS = {"transformer": statements_transformer, "images": statements_images}


def observations(ds) -> list[str]:
    """Beside the verdicts, never part of them: the points whose majority phase is a tie between
    seeds (the map shows the lower phase code: comprehension, grokking, memorisation, confusion),
    the cells in each phase, and the saving of the early exit."""
    prob = ds.phase_probability.values
    maj = _majority(ds)
    top = np.nan_to_num(prob).max(axis=-1)
    tie = (np.nan_to_num(prob) == top[..., None]).sum(axis=-1) > 1
    only_tie = [pdg.PHASES[k] for k in range(4) if (maj == k).any() and not ((maj == k) & ~tie).any()]
    cells = {pdg.PHASES[k]: int((ds.phase.values == k).sum()) for k in range(4)}
    run = float(np.nansum(ds.stop_step.values))
    budget = ds.stop_step.size * float(ds.attrs.get("steps", np.nan))
    return [f"{int(tie.sum())} of {tie.size} points have a tie between seeds for the majority phase"
            + (f"; majority only through ties: {', '.join(only_tie)}" if only_tie else ""),
            "cells per phase: " + ", ".join(f"{k} {v}" for k, v in cells.items()),
            f"early exit: {run:.3g} of {budget:.3g} network-steps run ({100 * run / budget:.0f} %)"]


# ------------------------------------------------------------------------------ figure
def plot(ds):
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    kind = ds.attrs.get("task", "transformer")
    lrs, wds = ds.lr.values, ds.weight_decay.values
    x, y = np.arange(len(lrs)), np.arange(len(wds))
    xl = [f"{v:.2g}" for v in lrs]
    yl = [f"{v:g}" for v in wds]
    fig, axes = plt.subplots(1, 3, figsize=(16.5, 4.8), layout="constrained")
    fig.get_layout_engine().set(wspace=0.06)
    mesh = pdg.draw_phase_map(axes[0], ds.phase_probability.values, x, y, xticklabels=xl, yticklabels=yl)
    pdg.phase_colourbar(fig, axes[0], mesh, label=f"majority phase ({ds.sizes['seed']} seeds; tie: lower)")
    axes[0].set_title("phase (numbers: majority share < 1)", fontsize=10)
    steps = ds.attrs.get("steps")
    reached = np.concatenate([ds[v].values.ravel() for v in ("steps_to_train", "steps_to_val")])
    reached = reached[np.isfinite(reached)]
    norm = LogNorm(vmin=max(float(reached.min()) if reached.size else 1.0, 1.0), vmax=max(float(steps), 2.0))
    for ax, name, what in ((axes[1], "steps_to_train", "train"), (axes[2], "steps_to_val", "validation")):
        # median over the seeds; a seed that never reached the threshold counts as infinite
        med = ds[name].fillna(np.inf).median("seed").values
        im = ax.pcolormesh(x, y, np.ma.masked_invalid(np.maximum(med, 1.0)), norm=norm, shading="nearest",
                           cmap="viridis")
        for (i, j), v in np.ndenumerate(med):
            if not np.isfinite(v):
                ax.text(x[j], y[i], "never", ha="center", va="center", fontsize=6, color="0.3")
        ax.set_xticks(x, labels=xl)
        ax.set_yticks(y, labels=yl)
        fig.colorbar(im, ax=ax, label=f"steps to {what} accuracy >= {ds.attrs.get('threshold')}")
        ax.set_title(f"median over seeds: steps to {what} accuracy", fontsize=10)
    xlab = "decoder learning rate (AdamW)" if kind == "transformer" else "learning rate (AdamW)"
    ylab = "decoder weight decay" if kind == "transformer" else "weight decay"
    for ax in axes:
        ax.set(xlabel=xlab, ylabel=ylab)
        ax.tick_params(axis="x", labelrotation=45)
    what = (f"transformer, addition mod {ds.attrs.get('p', '?')}, embedding lr fixed" if kind == "transformer"
            else f"MLP on {ds.attrs.get('data', 'digit images')}")
    fig.suptitle(f"{ds.attrs.get('paper', '')}: {what}; budget {steps} steps, grokking: validation "
                 f"trails train by >= {ds.attrs.get('delay')} steps", fontsize=10)
    return fig


# ------------------------------------------------------------------------------ registry
TRANSFORMER_FULL = TransformerGrid(lrs=(3e-4, 1e-3, 3e-3, 1e-2, 3e-2), weight_decays=(0.0, 0.3, 1.0, 2.0, 3.0, 4.0, 6.0, 10.0),
                                   seeds=2, steps=10000, delay=1000, eval_every=25)
IMAGES_FULL = ImageGrid(lrs=(3e-4, 1e-3, 3e-3, 1e-2, 3e-2), weight_decays=(0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0),
                        seeds=2, steps=20000, delay=1000, eval_every=50)

register(name="phase-diagram-transformer",
         summary="four-phase diagram of a transformer on modular addition: decoder lr x decoder weight decay",
         claim="Liu et al. 2022 Fig. 7 right: a phase diagram comparable to Fig. 6 over the decoder's "
               "learning rate and weight decay; weight decay helps generalisation; grokking lies near memorisation",
         quick=TransformerGrid(p=7, train_fraction=0.8, d_model=8, n_heads=2, lrs=(1e-3, 1e-2),
                               weight_decays=(0.0, 1.0), seeds=1, steps=60, delay=20, eval_every=10),
         full=TRANSFORMER_FULL,
         run=run, plot=plot, statements=statements_transformer, observations=observations,
         schema=_schema(TransformerGrid()))

register(name="phase-diagram-images",
         summary="four-phase diagram of an MLP on digit images at a large initial scale: lr x weight decay",
         claim="Liu et al. 2022 Fig. 8 right: the four phases of learning on (MNIST) digit images; "
               "grokking lies between comprehension and memorisation",
         quick=ImageGrid(n_train=200, width=16, lrs=(1e-3, 1e-2), weight_decays=(0.0, 1.0), seeds=1,
                         steps=60, delay=20, eval_every=10, batch_size=50),
         full=IMAGES_FULL,
         run=run, plot=plot, statements=statements_images, observations=observations,
         schema=_schema(ImageGrid()))
