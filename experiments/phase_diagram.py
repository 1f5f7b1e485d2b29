"""Phase diagrams of Liu et al. 2022 (Sec. 4.1, Fig. 6a-d) on the toy model, as sweeps.

The toy model (``numerics.simulate.toy_addition``, whose defaults are the paper's: 1-D
embeddings, tanh decoder 1-200-200-30, random 30-D targets, mean-squared error, full batch,
embedding Adam, decoder AdamW) on four panels (:data:`FULL_PANELS`):

* 6a: embedding learning rate (1e-5 .. 1e-2) against decoder learning rate, weight decay 0;
* 6b: decoder weight decay (0 .. 10) against decoder learning rate (1e-4 .. 1e-2, as in the
  authors' sweep), embedding lr 1e-3, regression, over 3 (split, initialisation) pairs;
* 6c: the same with classification (one-hot targets, cross-entropy) and weight decay 0 .. 20,
  the paper's range for classification (Sec. 4.1: "[0, 10] (regression) or [0, 20]
  (classification)"; a first full run of 6c used 0 .. 10 and so never sampled the paper's
  bottom right corner);
* 6d: the same axes on the permutation group S_3 (36 ordered pairs, 24 for training, 3 x 3
  matrix embeddings multiplied, N(0, 1) initial entries, as in the authors' permutation script).
  The paper's text fixes the group, the split and the optimisers; the authors' script
  (``run_toy_model_permutations_ng.py``) differs from it in its defaults: S_4 (n = 4) with an
  80 % training fraction, 10-D target vectors, float64, and ``torch.optim.Adam`` with coupled
  (L2) weight decay for the decoder. We follow the text and keep the addition panels' 30-D
  targets and float32.

p = 10 and a 45/10 split for addition; 100,000 steps; 90 % thresholds; grokking needs a delay of
at least 1,000 steps. Every cell (y, decoder lr, pair) is classified from the first steps at
which training and validation accuracy reach 90 % (the paper's Table 1 is not in the text; these
definitions are written into the dataset):

* comprehension: both reached, the validation step trails the train step by < ``delay`` steps;
* grokking: both reached, the validation step trails by >= ``delay`` steps;
* memorisation: only the training accuracy is reached within the budget;
* confusion: the training accuracy is not reached (whether or not validation is).

Each panel is a sweep (``numerics.sweep``): blocks of ``block_size`` cells are trained as one
batch (one task each), in process or on a dask cluster (``grokking run phase-diagram
[--workers N | --scheduler ADDRESS]``), every finished cell is kept on disk and a rerun skips it.
Early exit: a cell stops as soon as both thresholds are reached (its phase is then comprehension
or grokking whatever follows) and leaves its batch; only memorisation and confusion need the
whole budget. The dataset holds per panel the first-reach steps, the stop step, the phase of
every cell, the probability of each phase at each point (share of the pairs), the status of every
cell, and the verdict on each of the paper's statements (``verdict_<panel>_<statement>``
attributes, :func:`verdicts`).

Statements (Sec. 4.1). The four phases, the two corners and grokking "sandwiched between
comprehension and memorisation" are the paper's statements on Fig. 6b-d only ("(b)(c)(d): each
phase diagram contains four phases"); on Fig. 6a it states the competition: "a fast decoder
coupled with slow representation learning (bottom right) lead to memorization", "an extremely
slow decoder coupled with fast representation learning (top left) will generalize in the end,
[but] the generalization time is long", and comprehension "requires representation learning to
be faster, but not too much, than the decoder". Each is tested on the majority map over the
pairs (:func:`verdicts` gives the rules).

Splits. For addition only splits on which 90 % validation accuracy is possible at all are used
(every validation sample whose sum ``i + j`` never occurs in training is lost whatever the
representation; ``numerics.representation.seen_label_fraction``), drawn at random among those
whose best validation accuracy lies in ``[val_best_min, val_best_max]``; the best accuracy of
each split is stored (``val_best_<panel>``). This matters for grokking: on 10 validation samples a
split whose validation sums all occur in training reaches 90 % as soon as the representation is
roughly linear (validation often before training), and in our runs such splits showed only
comprehension, memorisation and confusion; grokking (validation trailing training by more than
``delay``) appeared only on splits with exactly one unseen validation sum (best accuracy 0.9),
where 90 % needs every other validation sample, i.e. a precise linear representation and
decoder, and not for every initialisation of such a split: the region is narrow. The full run
says otherwise: its pair 2 (best accuracy 0.9) memorises or is confused at every point of 6b,
while all 8 grokking cells of 6b are in pair 1, whose validation sums all occur in training (at
weight decay 8-10 and decoder lr <= 6.3e-4). S_3 splits are uniform random 24/12 splits.

Cost. A cell-step (one configuration, one step, width 200) cost 0.41-0.48 ms per core with two
processes on the two cores of the development machine and nothing else running (the full run's
cells, the blocks' tails included), ~1 ms under a load of 6 and ~3.7 ms under a load of 9
(``benchmarks/phase_diagram.py`` times the batched step alone). With early exit the cells of the full run
ran 61 % (6a), 49 % (6b; 22 %, 25 % and 100 % for its pairs 0, 1, 2), 30 % (6c) and 100 % (6d)
of the 1e5-step budget: 726 cells, 8.6 core-hours as run (6a under a heavier load).
``grokking run phase-diagram`` runs it, resumable, on a LocalCluster or with ``--scheduler`` on a
larger cluster; ``benchmarks/fig6b_split.py`` times one 6b pair from scratch on a 2-worker
cluster.

Quick configuration: panel 6b on a 4 x 4 grid with the same dynamics on a 10x shorter clock:
every learning rate x10 and the step budget and delay / 10 (Adam moves each parameter by about
its learning rate per step and AdamW decays it by ``lr * wd`` per step, so multiplying all
learning rates by 10 runs the same trajectory in about a tenth of the steps, up to the fixed
momentum time scales of Adam).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np

from grokking_workbench.experiments.registry import register
from grokking_workbench.numerics.schema import Schema, Var
from grokking_workbench.numerics.validate import InputError

PHASES = ("comprehension", "grokking", "memorisation", "confusion")
COLOURS = ("#2ca02c", "#1f77b4", "#d62728", "#7f7f7f")
LRS = tuple(float(x) for x in np.geomspace(1e-4, 1e-2, 11))
WEIGHT_DECAYS = tuple(float(x) for x in np.linspace(0.0, 10.0, 11))
WEIGHT_DECAYS_CLASSIFICATION = tuple(float(x) for x in np.linspace(0.0, 20.0, 11))
EMBEDDING_LRS = tuple(float(x) for x in np.geomspace(1e-5, 1e-2, 11))
Y_AXES = ("weight_decay", "embedding_lr")
_Y_LONG = {"weight_decay": "decoder weight decay (AdamW)", "embedding_lr": "embedding learning rate (Adam)"}


@dataclass(frozen=True)
class Panel:
    """One phase diagram: decoder learning rate (columns) against ``y`` (rows), on one task.

    ``y``: ``weight_decay`` (at the fixed ``embedding_lr``) or ``embedding_lr`` (at the fixed
    ``weight_decay``); ``task``: regression or classification; ``group``: ``addition`` (p
    symbols, unordered pairs, ``n_train`` of the p(p+1)/2 samples for training) or ``s3`` (36
    ordered pairs of S_3, 3 x 3 matrix embeddings); ``pairs``: (split, initialisation) pairs per
    point, pair k using split k and initialisation seed k; ``val_best_min/max``: addition splits
    are drawn among those whose best possible validation accuracy lies in this range (module
    docstring); ``embed_init``: law of the initial embeddings (``numerics.simulate.toy_addition``).
    """

    name: str
    y: str = "weight_decay"
    ys: tuple = WEIGHT_DECAYS
    lrs: tuple = LRS
    task: str = "regression"
    group: str = "addition"
    n_train: int = 45
    embedding_lr: float = 1e-3
    weight_decay: float = 0.0
    pairs: int = 1
    val_best_min: float = 0.9
    val_best_max: float = 1.0
    embed_init: str = "uniform"

    def dims(self) -> tuple[str, str, str]:
        """The dataset's dimensions of this panel: y, decoder lr, pair."""
        return f"{self.y}_{self.name}", f"lr_{self.name}", f"pair_{self.name}"


#: the paper's Fig. 6a-d with the authors' settings (module docstring)
FULL_PANELS = (
    Panel("6a", y="embedding_lr", ys=EMBEDDING_LRS, weight_decay=0.0),
    Panel("6b", pairs=3),
    Panel("6c", task="classification", ys=WEIGHT_DECAYS_CLASSIFICATION),
    Panel("6d", group="s3", n_train=24, val_best_min=0.0, embed_init="normal"),
)


@dataclass(frozen=True)
class Config:
    """Panels and what they share: ``steps`` (budget), ``threshold`` (accuracy), ``delay``
    (grokking: validation trails training by at least this many steps), ``eval_every``
    (resolution of the first-reach steps), the decoder (``width``, ``activation``), the split
    draws (``split_seed``), torch threads per task, ``early_exit`` (a cell stops once both
    thresholds are reached) and ``block_size`` (cells trained as one batch, one task each)."""

    panels: tuple = FULL_PANELS
    p: int = 10
    steps: int = 100000
    threshold: float = 0.9
    delay: int = 1000
    eval_every: int = 20
    width: int = 200
    activation: str = "tanh"
    split_seed: int = 0
    num_threads: int | None = 1
    early_exit: bool = True
    block_size: int = 12


def classify(steps_train: np.ndarray, steps_val: np.ndarray, delay: int) -> np.ndarray:
    """Phase codes (index into :data:`PHASES`) from first-reach steps (-1: not reached)."""
    tr, va = np.asarray(steps_train), np.asarray(steps_val)
    both = (tr >= 0) & (va >= 0)
    code = np.full(tr.shape, 3, dtype=np.int8)                  # confusion
    code[(tr >= 0) & (va < 0)] = 2                               # memorisation
    code[both & (va - tr >= delay)] = 1                          # grokking
    code[both & (va - tr < delay)] = 0                           # comprehension
    return code


def validate(config: Config) -> None:
    """InputError naming the first bad field (before anything runs)."""
    from grokking_workbench.numerics.validate import positive_int

    from grokking_workbench.numerics.simulate import toy_addition as ta

    for name in ("steps", "delay", "eval_every", "block_size", "width", "p"):
        positive_int(name, getattr(config, name))
    if not 0 < config.threshold <= 1:
        raise InputError("threshold", f"must lie in (0, 1], got {config.threshold}")
    if not config.panels:
        raise InputError("panels", "at least one panel is needed")
    names = [pn.name for pn in config.panels]
    if len(set(names)) != len(names):
        raise InputError("panels", f"panel names must differ, got {names}")
    for pn in config.panels:
        if pn.y not in Y_AXES:
            raise InputError("y", f"panel {pn.name}: must be one of {Y_AXES}, got {pn.y!r}")
        positive_int("pairs", pn.pairs)
        for field_name in ("ys", "lrs"):
            values = np.asarray(getattr(pn, field_name), float)
            if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values < 0):
                raise InputError(field_name, f"panel {pn.name}: needs finite values >= 0")
        spec = model_spec(config, pn)
        n = len(spec.samples())
        if not 1 <= pn.n_train < n:
            raise InputError("n_train", f"panel {pn.name}: must lie in [1, {n - 1}], got {pn.n_train}")
        ta.Batch.make(embedding_lr=pn.embedding_lr, lr=1e-3, weight_decay=pn.weight_decay, seed=0,
                      train_mask=np.ones((1, n), bool))


def model_spec(config: Config, panel: Panel):
    from grokking_workbench.numerics.simulate import toy_addition as ta

    s3 = panel.group == "s3"
    return ta.ModelSpec(p=6 if s3 else config.p, d_embed=9 if s3 else 1, task=panel.task,
                        group=panel.group, width=config.width, activation=config.activation,
                        embed_init=panel.embed_init)


def splits(config: Config, panel: Panel | None = None) -> np.ndarray:
    """One training mask per (split, seed) pair (module docstring: addition splits where 90 %
    validation is possible; S_3: uniform random splits, pair k from ``split_seed + k``)."""
    from grokking_workbench.numerics import representation as rep

    panel = panel or config.panels[0]
    if panel.group == "s3":
        from grokking_workbench.numerics.networks.data import split_indices

        masks = np.zeros((panel.pairs, 36), bool)
        for k in range(panel.pairs):
            masks[k, split_indices(36, panel.n_train, config.split_seed + k)[0]] = True
        return masks
    rng = np.random.default_rng(config.split_seed)
    return rep.generalisable_splits(config.p, panel.n_train, panel.pairs, rng,
                                    min_accuracy=panel.val_best_min, max_accuracy=panel.val_best_max)


def val_best(labels: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Best possible validation accuracy of each split: the share of validation samples whose
    label occurs in training."""
    out = []
    for m in masks:
        seen = np.isin(labels[~m], labels[m])
        out.append(seen.mean() if seen.size else 1.0)
    return np.asarray(out)


#: the results of every phase-diagram cell (toy model and networks): first-reach steps and the
#: state where training stopped
FIRST_REACH_RESULTS = {
    "steps_to_train": "first step with train accuracy >= threshold (NaN: not within the budget)",
    "steps_to_val": "first step with validation accuracy >= threshold (NaN: not within the budget)",
    "stop_step": "step at which training stopped (phase decided, or the budget)",
    "final_train_loss": "train loss at the stop step",
    "final_val_loss": "validation loss at the stop step",
    "final_train_acc": "train accuracy at the stop step",
    "final_val_acc": "validation accuracy at the stop step",
}
_RESULTS = {**FIRST_REACH_RESULTS, "final_rqi": "RQI of the embeddings at the stop step (NaN for S_3)"}


def run_block(config: Config, cells: list[dict]) -> list[dict]:
    """Train the cells of one block (one panel: ``config.panels == (panel,)``) as one batch,
    with early exit; one result dict per cell (the sweep layer's block function)."""
    from grokking_workbench.numerics.simulate import toy_addition as ta

    (panel,) = config.panels
    ydim, ldim, pdim = panel.dims()
    masks = splits(config, panel)
    ys = np.array([c[ydim] for c in cells], float)
    pair = np.array([c[pdim] for c in cells], int)
    elr, wd = (panel.embedding_lr, ys) if panel.y == "weight_decay" else (ys, panel.weight_decay)
    batch = ta.Batch.make(embedding_lr=elr, lr=[c[ldim] for c in cells], weight_decay=wd,
                          seed=pair, train_mask=masks[pair])
    res = ta.train(model_spec(config, panel), batch, config.steps, eval_every=config.eval_every,
                   threshold=config.threshold, num_threads=config.num_threads, chunk_size=None,
                   stop_when_decided=config.early_exit)
    final = res.extra["final"]
    out = []
    for k in range(len(cells)):
        d = {"steps_to_train": float(res.steps_to_train[k]) if res.steps_to_train[k] >= 0 else float("nan"),
             "steps_to_val": float(res.steps_to_val[k]) if res.steps_to_val[k] >= 0 else float("nan"),
             "stop_step": int(res.extra["stop_step"][k]),
             **{f"final_{key}": float(final[key][k]) for key in ("train_loss", "val_loss", "train_acc", "val_acc", "rqi")}}
        if not np.isfinite(d["final_train_loss"]):
            d.update(status="diverged", message=f"train loss {d['final_train_loss']} at step {d['stop_step']}")
        out.append(d)
    return out


def panel_sweep(config: Config, panel: Panel):
    """The sweep of one panel (``numerics.sweep``): cells (y, decoder lr, pair)."""
    from grokking_workbench.numerics.sweep import Sweep, Variable

    ydim, ldim, pdim = panel.dims()
    return Sweep(
        name=f"phase-diagram-{panel.name}",
        dims={ydim: list(panel.ys), ldim: list(panel.lrs), pdim: list(range(panel.pairs))},
        run_block=run_block, config=dataclasses.replace(config, panels=(panel,)),
        block_size=config.block_size,
        variables={k: Variable(v) for k, v in _RESULTS.items()},
        coords={ydim: Variable(_Y_LONG[panel.y]), ldim: Variable("decoder learning rate (AdamW)"),
                pdim: Variable("(split, initialisation) pair: split k, initialisation seed k")})


def panel_schema(panel: Panel) -> Schema:
    """The variables of one panel in the dataset: the sweep's (results and cells, renamed
    ``<name>_<panel>``; its coordinates keep their names), the phases and the best validation
    accuracy of each pair's split."""
    ydim, ldim, pdim = panel.dims()
    swept = panel_sweep(Config(panels=(panel,)), panel).schema()
    panel_vars = swept | Schema({
        "phase": Var("learning phase (-1: no verdict, the cell failed or did not run)",
                     "1", (ydim, ldim, pdim)),
        "phase_probability": Var("share of the (split, seed) pairs in each phase",
                                 "1", (ydim, ldim, "phase_name")),
        "val_best": Var("best possible validation accuracy of the pair's split (share of validation labels "
                        "seen in training)", "1", (pdim,)),
    })
    return Schema({name if name in panel.dims() else f"{name}_{panel.name}": var
                   for name, var in panel_vars.items()})


def _schema() -> Schema:
    """The dataset's variables and coordinates: those of every panel (each only when the
    configuration has the panel) and the phase names."""
    schema = Schema({"phase_name": Var("learning phase", "1", ("phase_name",))})
    for panel in FULL_PANELS:
        schema = schema | Schema({name: Var(var.long_name, var.units, var.dims, required=False)
                                  for name, var in panel_schema(panel).items()})
    return schema


def phase_probability(code: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Share of the pairs (last axis) of each point in each phase, among the cells that ran to a
    verdict (NaN where none did); shape (..., 4)."""
    n = ok.sum(axis=-1)
    prob = np.stack([((code == k) & ok).sum(axis=-1) for k in range(4)], axis=-1).astype(float)
    return np.where(n[..., None] > 0, prob / np.maximum(n[..., None], 1), np.nan)


def majority_map(prob: np.ndarray) -> np.ndarray:
    """The majority phase code of each point from its phase probabilities (..., 4) (ties: the
    lower code); -1 where no cell of the point ran to a verdict."""
    return np.where(np.isnan(prob).any(axis=-1), -1, np.nan_to_num(prob, nan=-1).argmax(axis=-1))


def phase_counts(maj: np.ndarray) -> dict[str, int]:
    """Entries of an array of phase codes (a majority map's points, or cells) in each phase,
    by phase name."""
    return {PHASES[k]: int((maj == k).sum()) for k in range(4)}


#: the paper's statements on each kind of panel (Sec. 4.1), by verdict key
STATEMENTS = {
    "weight_decay": {
        "four_phases": "Fig. 6b-d (i): the diagram includes all four phases",
        "memorisation_corner": "Fig. 6b-d (ii): the top right corner (a fast and capable decoder: "
                               "largest lr, least weight decay) is memorisation",
        "confusion_corner": "Fig. 6b-d (iii): the bottom right corner (a fast and simple decoder: "
                            "largest lr, most weight decay) is confusion",
        "grokking_between": "Fig. 6b-d (iv): grokking is sandwiched between comprehension and memorisation",
    },
    "embedding_lr": {
        "memorisation_corner": "Fig. 6a: a fast decoder coupled with slow representation learning "
                               "(largest decoder lr, smallest embedding lr) leads to memorisation",
        "slow_generalisation": "Fig. 6a: an extremely slow decoder with fast representation learning "
                               "(smallest decoder lr, largest embedding lr) generalises in the end, "
                               "but late",
        "competition": "Fig. 6a: the phase is set by the competition between representation and "
                       "decoder: generalisation needs representation learning fast enough against "
                       "the decoder",
    },
}


def verdicts(panel: Panel, prob: np.ndarray, steps_val: np.ndarray) -> dict[str, tuple[str, str]]:
    """Verdict and evidence of each of the paper's statements (:data:`STATEMENTS`) on one panel,
    from the majority map of the phase probabilities ``prob`` (rows: y ascending; columns:
    decoder lr ascending; phases) and the first steps at 90 % validation accuracy ``steps_val``
    (y, lr, pair; NaN or -1 where not reached).

    6b-d: (i) every phase is some point's majority phase; (ii) the point (least weight decay,
    largest lr) is memorisation; (iii) the point (most weight decay, largest lr) is confusion;
    (iv) some grokking region borders both comprehension and memorisation (:func:`sandwiched`).
    6a: the point (smallest embedding lr, largest decoder lr) is memorisation; the point
    (largest embedding lr, smallest decoder lr) generalises (comprehension or grokking) and its
    time to 90 % validation accuracy (median over the pairs) exceeds the median of that time over
    the panel's generalising points; the competition: generalisation is monotone in the two
    rates (a faster embedding never turns a generalising point into a failing one along a
    column, a faster decoder never turns a failing point into a generalising one along a row)
    and both kinds of point occur. A panel with a point without result gives every statement
    ``inconclusive``.
    """
    from grokking_workbench.numerics import statistics as st

    maj = majority_map(prob)
    name = lambda code: PHASES[code] if code >= 0 else "no result"             # noqa: E731
    out = {}
    if panel.y == "embedding_lr":
        gen = (maj == 0) | (maj == 1)
        corner = name(maj[0, -1])
        out["memorisation_corner"] = (corner == "memorisation",
                                      f"largest decoder lr, smallest embedding lr: {corner}")
        val = np.where(np.asarray(steps_val, float) >= 0, steps_val, np.nan)
        with warnings.catch_warnings():                                 # all-NaN points
            warnings.simplefilter("ignore", RuntimeWarning)
            t_point = np.nanmedian(val, axis=-1)
        t_corner = float(t_point[-1, 0]) if gen[-1, 0] else np.nan
        t_typical = float(np.median(t_point[gen])) if gen.any() else np.nan
        out["slow_generalisation"] = (
            bool(gen[-1, 0]) and t_corner > t_typical,
            f"smallest decoder lr, largest embedding lr: {name(maj[-1, 0])}, 90 % validation at step "
            f"{t_corner:.0f} against a median of {t_typical:.0f} over the {int(gen.sum())} "
            f"generalising points")
        # along rows (decoder lr ascending) generalisation may only stop; along columns
        # (embedding lr ascending) it may only start
        against_rows = int((~gen[:, :-1] & gen[:, 1:]).sum())
        against_cols = int((gen[:-1, :] & ~gen[1:, :]).sum())
        out["competition"] = (
            against_rows + against_cols == 0 and gen.any() and (~gen).any(),
            f"generalising points {int(gen.sum())}, failing {int((~gen).sum())}; a faster decoder "
            f"turns failure into generalisation at {against_rows} places, a faster embedding turns "
            f"generalisation into failure at {against_cols}")
    else:
        counts = phase_counts(maj)
        out["four_phases"] = (all(v > 0 for v in counts.values()),
                              ", ".join(f"{k} {v}" for k, v in counts.items()))
        a, b = name(maj[0, -1]), name(maj[-1, -1])
        out["memorisation_corner"] = (a == "memorisation", f"largest lr, least weight decay: {a}")
        out["confusion_corner"] = (b == "confusion", f"largest lr, most weight decay: {b}")
        between = sandwiched(maj)
        out["grokking_between"] = (between > 0, f"grokking points between comprehension and "
                                                f"memorisation: {between}")
    missing = int((maj < 0).sum())
    if missing:
        return {k: (st.INCONCLUSIVE, f"{missing} points without result; {note}")
                for k, (_, note) in out.items()}
    return {k: (st.verdict(ok, not ok), note) for k, (ok, note) in out.items()}


SCHEMA = _schema()


def run(config: Config):
    import xarray as xr

    from grokking_workbench.numerics import sweep

    validate(config)
    parts, attrs, statuses = [], {}, []
    for panel in config.panels:
        ds = sweep.run(panel_sweep(config, panel))
        n = panel.name
        ydim, ldim, pdim = panel.dims()
        ok = ds.cell_status.values == "ok"
        tr = np.nan_to_num(ds.steps_to_train.values, nan=-1)
        va = np.nan_to_num(ds.steps_to_val.values, nan=-1)
        code = np.where(ok, classify(tr, va, config.delay), -1).astype(np.int8)
        prob = phase_probability(code, ok)
        ds["phase"] = ((ydim, ldim, pdim), code, {
            **SCHEMA.attrs(f"phase_{n}"),
            "flag_values": np.arange(-1, 4, dtype=np.int8), "flag_meanings": "none " + " ".join(PHASES)})
        ds["phase_probability"] = ((ydim, ldim, "phase_name"), prob)
        spec = model_spec(config, panel)
        ds["val_best"] = (pdim, val_best(spec.labels(), splits(config, panel)))
        ds = ds.rename({v: f"{v}_{n}" for v in ds.data_vars})
        for key, (verdict, note) in verdicts(panel, prob, va).items():
            attrs[f"verdict_{n}_{key}"] = f"{verdict}: {note}"
        attrs[f"cells_{n}"] = ds.attrs["sweep_cells"]
        attrs[f"cpu_seconds_{n}"] = round(float(np.nansum(ds[f"cell_seconds_{n}"].values)), 1)
        attrs[f"panel_{n}"] = (f"{_Y_LONG[panel.y]} x decoder lr; {panel.group} {panel.task}, "
                               f"{panel.n_train} training samples, {panel.pairs} pair(s); fixed "
                               + (f"embedding lr {panel.embedding_lr}" if panel.y == "weight_decay"
                                  else f"weight decay {panel.weight_decay}"))
        statuses.append(ds.attrs["status"])
        ds.attrs = {}
        parts.append(ds)
    out = xr.merge(parts, combine_attrs="override")
    out.coords["phase_name"] = ("phase_name", list(PHASES))
    out.attrs = {
        "paper": "Liu et al. 2022, Fig. 6a-d",
        "panels": " ".join(pn.name for pn in config.panels),
        "phase_definitions": (f"accuracy threshold {config.threshold} for train and validation; "
                              f"comprehension: both reached, validation trails train by < {config.delay} steps; "
                              f"grokking: both reached, trails by >= {config.delay} steps; memorisation: only train "
                              f"reached within {config.steps} steps; confusion: train not reached"),
        "early_exit": int(config.early_exit), "steps": config.steps, "delay": config.delay, **attrs,
        "status": ("complete" if all(st == "complete" for st in statuses)
                   else "; ".join(f"{pn.name}: {st}" for pn, st in zip(config.panels, statuses)
                                  if st != "complete"))}
    return SCHEMA.apply(out, config)


def _panels(ds) -> list[str]:
    return ds.attrs.get("panels", "").split()


def draw_phase_map(ax, prob: np.ndarray, x, y, *, xticklabels=None, yticklabels=None):
    """The majority phase of each point of ``prob`` (rows y, columns x, phases) as coloured
    cells at positions ``x``, ``y`` (``*ticklabels``: label the positions, for axes that are
    not numeric or hold 0 beside logarithmic values); where the majority phase's share of the
    seeds is below 1 it is written in the cell. Returns the mesh (for :func:`phase_colourbar`)."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    x, y = np.asarray(x, float), np.asarray(y, float)
    maj = majority_map(prob).astype(float)
    maj[maj < 0] = np.nan
    mesh = ax.pcolormesh(x, y, np.ma.masked_invalid(maj), cmap=ListedColormap(COLOURS),
                         vmin=-0.5, vmax=3.5, shading="nearest")
    # how sure: the majority phase's share of the pairs, as a number where it is < 1
    top = np.nan_to_num(prob).max(axis=-1)
    for (i, j), v in np.ndenumerate(top):
        if 0 < v < 1:
            ax.text(x[j], y[i], f"{v:.1g}", ha="center", va="center", fontsize=6)
    if xticklabels is None:
        ax.xaxis.set_major_locator(plt.MaxNLocator(5))
    else:
        ax.set_xticks(x, labels=xticklabels)
    if yticklabels is not None:
        ax.set_yticks(y, labels=yticklabels)
    return mesh


def phase_colourbar(fig, axes, mesh, label: str = "majority phase over the pairs"):
    """The colour bar of :func:`draw_phase_map`: one tick per phase, named."""
    bar = fig.colorbar(mesh, ax=axes, label=label, shrink=0.9)
    bar.set_ticks(range(len(PHASES)), labels=list(PHASES))
    bar.minorticks_off()
    return bar


def plot(ds):
    import matplotlib.pyplot as plt

    names = _panels(ds)
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names) + 1.2, 4.4), squeeze=False,
                             layout="constrained")
    for ax, n in zip(axes[0], names):
        prob = ds[f"phase_probability_{n}"]
        ydim = prob.dims[0]
        y = prob[ydim].values
        ylog = ydim.startswith("embedding_lr")
        mesh = draw_phase_map(ax, prob.values, np.log10(prob[prob.dims[1]].values),
                              np.log10(y) if ylog else y)
        ax.set(xlabel="log10 decoder learning rate",
               ylabel="log10 embedding learning rate" if ylog else "decoder weight decay",
               title=f"Fig. {n} ({ds.sizes[prob.dims[1].replace('lr_', 'pair_')]} pair(s))")
    phase_colourbar(fig, list(axes[0]), mesh)
    fig.suptitle("phase per point (numbers: the majority phase's share where it is below 1)", fontsize=10)
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


def statements(ds) -> list[tuple[str, str, str]]:
    """Fig. 6: each panel's statements (:data:`STATEMENTS`) with the verdicts :func:`run` wrote
    into the dataset (``verdict_<panel>_<key>`` attributes)."""
    from grokking_workbench.numerics import statistics as st

    items = []
    for n in _panels(ds):
        kind = "embedding_lr" if any(d.startswith("embedding_lr") for d in
                                     ds[f"phase_{n}"].dims) else "weight_decay"
        for key, text in STATEMENTS[kind].items():
            verdict, _, note = ds.attrs[f"verdict_{n}_{key}"].partition(": ")
            if verdict not in st.VERDICTS:
                raise ValueError(f"verdict_{n}_{key}: unknown verdict {verdict!r}")
            items.append((text.replace("Fig. 6b-d", f"Fig. {n}").replace("Fig. 6a", f"Fig. {n}"),
                          verdict, note))
    return items



def observations(ds) -> list[str]:
    """Beside the verdicts: each panel's cells by phase (every pair, not the majority), and where
    its grokking cells lie."""
    out = []
    for n in _panels(ds):
        code = ds[f"phase_{n}"]
        counts = ", ".join(f"{k} {v}" for k, v in phase_counts(code.values).items())
        line = f"Fig. {n} cells ({ds.sizes[code.dims[2]]} pair(s)): {counts}"
        grok = code.where(code == 1).to_dataframe(name="phase").dropna()
        if len(grok):
            where = grok.reset_index()
            line += (f"; grokking cells in pair(s) {sorted(set(where[code.dims[2]].astype(int)))}, "
                     f"{code.dims[0].rsplit('_', 1)[0].replace('_', ' ')} "
                     f"{where[code.dims[0]].min():g} .. {where[code.dims[0]].max():g}, decoder lr "
                     f"{where[code.dims[1]].min():.2g} .. {where[code.dims[1]].max():.2g}")
        out.append(line)
    return out


register(
    name="phase-diagram",
    summary="comprehension / grokking / memorisation / confusion over decoder lr, weight decay and embedding lr",
    claim=("Liu et al. 2022 Fig. 6: (a) a fast decoder with slow representation learning memorises, "
           "a slow decoder with fast representation learning generalises late; (b-d) four phases, "
           "memorisation and confusion in the fast-decoder corners, grokking between comprehension "
           "and memorisation"),
    # the paper's Fig. 6b on a 10x shorter clock (module docstring), one split whose best
    # validation accuracy is 0.9: decoder lr 1e-3..3e-2 <-> 1e-4..3e-3, embedding lr 1e-2 <-> 1e-3.
    # One split and one initialisation: the grokking region is narrow and depends on both (the
    # same split with initialisation seed 2 memorises where seed 0 groks; splits whose validation
    # sums all occur in training show comprehension, memorisation and confusion only)
    quick=Config(panels=(Panel("6b", ys=(0.0, 3.0, 6.0, 9.0), lrs=(1e-3, 3e-3, 1e-2, 3e-2),
                               embedding_lr=1e-2, val_best_min=0.9, val_best_max=0.9),),
                 steps=3000, delay=100, eval_every=10, block_size=8),
    full=Config(),
    run=run, plot=plot, statements=statements, observations=observations, schema=SCHEMA,
)
