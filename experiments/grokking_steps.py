"""Grokking steps against the effective theory's n_h = 1/(lambda_3 eta) (Liu et al. 2022, Fig. 5b).

For several training fractions and many splits per fraction (each seed its own random split), the
toy model is trained (one batched computation) and the first step with RQI > 0.95 is recorded;
beside it the prediction n_h = 1/(lambda_3 eta) of the same split (eta = embedding learning rate)
in each of the three normalisations of lambda_3 (``numerics.representation.NORMALISATIONS``: eq. (5)
as printed, the print's lambda = sigma^2, and the authors' code). Runs that do not reach the RQI
threshold within the budget are NaN and counted.

Training as in the paper's code for Figs. 4-5 (the toy-model defaults of
``numerics.simulate.toy_addition``; embedding lr 1e-3, decoder lr 1e-4, no weight decay, full
batch; RQI with |residual| <= 0.1 on normalised embeddings, the code's threshold 0.01 on the
squared residual). In our runs a network either reaches the linear representation within ~2e3
steps (Adam moves embeddings by about eta per step, so it is much faster than the gradient-flow
n_h) or stays in a memorising state (RQI frozen below the threshold); the runs that get stuck are
more frequent at small training fractions.

Criteria (fixed before the full run; see :func:`statements`):

1. "grokking steps fall with the training fraction": Spearman trend of the network's steps (never
   = +inf) against the fraction over all runs, one-sided permutation p < 0.05
   (``numerics.statistics.trend_test``); the opposite trend at p < 0.05 is "not reproduced".
2. "grokking time ~ 1/lambda_3", as a rank correlation, in each normalisation: over the runs that
   reach RQI > 0.95 within the budget and have lambda_3 > 0, the network's steps rise with n_h
   (one-sided permutation p < 0.05; the opposite trend at p < 0.05 is "not reproduced"). Where
   n_h is the same for every split (the authors' code) the rank statement cannot be tested:
   inconclusive.
3. "grokking time ~ 1/lambda_3", as reach / no reach, in each normalisation: a run is predicted to
   reach RQI > 0.95 within the budget B when n_h <= B (never when lambda_3 = 0). Reproduced when
   the Wilson 95 % interval of the fraction of runs whose outcome matches the prediction lies
   above 0.8, not reproduced when it lies below 0.8, inconclusive otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grokking_workbench.experiments.registry import register
from grokking_workbench.numerics.schema import Schema, Var


@dataclass(frozen=True)
class Config:
    p: int = 10
    fractions: tuple = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    seeds: int = 24
    steps: int = 10000
    embedding_lr: float = 1e-3
    lr: float = 1e-4
    weight_decay: float = 0.0
    width: int = 200
    activation: str = "tanh"
    rqi_threshold: float = 0.95
    rqi_delta: float = 0.1
    split_seed: int = 0
    num_threads: int | None = 1


# The dataset's variables and coordinates
SCHEMA = Schema({
    "fraction": Var("training data fraction", "1", ("fraction",)),
    "seed": Var("split and initialisation", "1", ("seed",)),
    "steps_network": Var("first step with RQI > {rqi_threshold} (NaN: not within the budget)",
                         "1", ("fraction", "seed")),
    "normalisation": Var("normalisation of lambda_3 (numerics.representation.NORMALISATIONS)", "1",
                         ("normalisation",)),
    "steps_theory": Var("effective theory n_h = 1/(lambda_3 eta) of the same split (inf: lambda_3 = 0)", "1",
                        ("normalisation", "fraction", "seed")),
    "lambda3": Var("grokking rate lambda_3 of the split", "1", ("normalisation", "fraction", "seed")),
    "reached": Var("fraction of seeds reaching the RQI threshold", "1", ("fraction",)),
    "final_rqi": Var("RQI at the end of the budget", "1", ("fraction", "seed")),
    "final_val_acc": Var("validation accuracy at the end of the budget", "1", ("fraction", "seed")),
})


def run(config: Config):
    import xarray as xr

    from grokking_workbench.numerics import representation as rep
    from grokking_workbench.numerics.simulate import toy_addition as ta

    p, S = config.p, config.seeds
    fr = np.asarray(config.fractions, float)
    rng = np.random.default_rng(config.split_seed)
    masks = np.concatenate([rep.sample_splits(p, rep.split_sizes(p, f), S, rng) for f in fr])
    rates = rep.grokking_rates(p, masks)
    norms = list(rep.NORMALISATIONS)
    spec = ta.ModelSpec(p=p, width=config.width, activation=config.activation)
    batch = ta.Batch.make(embedding_lr=config.embedding_lr, lr=config.lr, weight_decay=config.weight_decay,
                          seed=np.arange(len(masks)), train_mask=masks)
    res = ta.train(spec, batch, config.steps, eval_every=20, rqi_threshold=config.rqi_threshold,
                   rqi_delta=config.rqi_delta, num_threads=config.num_threads, progress=True)
    shape = (len(fr), S)
    lam = np.stack([rates[k].reshape(shape) for k in norms])
    n_th = rep.steps_to_grok(lam, config.embedding_lr)
    n_net = np.where(res.steps_to_rqi >= 0, res.steps_to_rqi, np.nan).reshape(shape).astype(float)
    dims = ("fraction", "seed")
    ndims = ("normalisation",) + dims
    ds = xr.Dataset(
        {
            "steps_network": (dims, n_net),
            "steps_theory": (ndims, n_th),
            "lambda3": (ndims, lam),
            "reached": ("fraction", np.isfinite(n_net).mean(axis=1)),
            "final_rqi": (dims, res.rqi[-1].reshape(shape)),
            "final_val_acc": (dims, res.val_acc[-1].reshape(shape)),
        },
        coords={"normalisation": ("normalisation", norms),
                "fraction": ("fraction", fr),
                "seed": ("seed", np.arange(S))},
        attrs={"paper": "Liu et al. 2022, Fig. 5b", "embedding_lr": config.embedding_lr,
               "rqi_delta": config.rqi_delta, "budget_steps": config.steps})
    return SCHEMA.apply(ds, config)


_STYLE = {"eq5": ("C3", "--"), "sigma2": ("C2", "-."), "authors_code": ("C1", ":")}


def _budget(ds) -> float:
    return float(ds.attrs.get("budget_steps", np.nan))


def plot(ds):
    import matplotlib.pyplot as plt

    from grokking_workbench.experiments import figures

    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2), layout="constrained")
    ax = axes[0]
    f = ds.fraction.values
    net = ds.steps_network.values
    for k in range(net.shape[1]):
        ax.plot(f, net[:, k], ".", color="C0", alpha=0.25, ms=3,
                label="network, one split (RQI > 0.95)" if k == 0 else None)
    def median(v):          # over splits, never (NaN or inf) counting as infinite; inf not drawn
        m = np.median(np.where(np.isfinite(v), v, np.inf), axis=1)
        return np.where(np.isfinite(m), m, np.nan)

    ax.plot(f, median(net), "o-", color="C0", label="network median over splits (never reached counts as infinite)")
    for name in ds.normalisation.values:
        c, ls = _STYLE.get(str(name), ("k", "-"))
        ax.plot(f, median(ds.steps_theory.sel(normalisation=name).values), color=c, ls=ls, marker="s", ms=3,
                label=f"theory n_h = 1/(lambda_3 eta), {name} (median; lambda_3 = 0 counts as infinite)")
    ax.axhline(_budget(ds), color="gray", lw=0.8, label="step budget")
    ax.set(yscale="log", xlabel="training fraction", ylabel="steps", title="Fig. 5b: steps to RQI > 0.95")
    figures.legend_below(ax, ncol=1)
    ax = axes[1]
    for name in ds.normalisation.values:
        th = ds.steps_theory.sel(normalisation=name).values
        both = np.isfinite(th) & np.isfinite(net)
        c, _ = _STYLE.get(str(name), ("k", "-"))
        ax.plot(th[both], net[both], "o", color=c, ms=3, alpha=0.6, label=f"{name}")
    ax.set(xscale="log", yscale="log", xlabel="theory n_h (steps)", ylabel="network steps to RQI > 0.95",
           title="runs that reach RQI > 0.95")
    figures.legend_below(ax, title="normalisation of lambda_3 (one point per run)", ncol=3)
    return fig


def _rank(ds, name) -> tuple[str, str]:
    from grokking_workbench.numerics import statistics as st

    th = ds.steps_theory.sel(normalisation=name).values
    net = ds.steps_network.values
    both = np.isfinite(th) & np.isfinite(net)
    if both.sum() >= 3 and np.ptp(th[both]) == 0:
        return st.INCONCLUSIVE, f"n_h = {th[both][0]:.4g} steps for every split: no rank to compare"
    tr = st.trend_test(th[both], net[both], increasing=True)
    return (st.verdict(tr["p"] < st.FAMILY_ERROR, tr["p_opposite"] < st.FAMILY_ERROR),
            f"network steps vs n_h over {tr['n']} runs reaching RQI > 0.95: Spearman rho {tr['rho']:+.2f}, "
            f"permutation p = {tr['p']:.2g}; median network / n_h "
            f"{np.median(net[both] / th[both]) if both.any() else np.nan:.3g}")


def _reach(ds, name) -> tuple[str, str]:
    from grokking_workbench.numerics import statistics as st

    th = ds.steps_theory.sel(normalisation=name).values
    reached = np.isfinite(ds.steps_network.values)
    predicted = th <= _budget(ds)
    match = predicted == reached
    n, k = match.size, int(match.sum())
    lo, hi = st.wilson_interval(k, n)
    return (st.verdict(lo > 0.8, hi < 0.8),
            f"prediction (n_h <= {_budget(ds):.0f} steps) matches the outcome in {k}/{n} runs "
            f"(Wilson 95 % [{lo:.2f}, {hi:.2f}]); predicted reach {int(predicted.sum())}, reached "
            f"{int(reached.sum())}, both {int((predicted & reached).sum())}")


def statements(ds) -> list[tuple[str, str, str]]:
    """Fig. 5b and Sec. 3.2 "grokking time t ~ 1/lambda_3", by the criteria of the module
    docstring: (1) the network's steps to RQI > 0.95 fall with the training fraction; (2) in each
    normalisation of lambda_3, the steps rise with n_h among the runs that reach RQI > 0.95;
    (3) in each normalisation, n_h <= budget predicts which runs reach RQI > 0.95."""
    from grokking_workbench.numerics import statistics as st

    net = np.where(np.isfinite(ds.steps_network.values), ds.steps_network.values, np.inf)
    frac = np.broadcast_to(ds.fraction.values[:, None], net.shape)
    tr = st.trend_test(frac, net, increasing=False)
    reach = ", ".join(f"{f:.2f}: {int(n)}/{net.shape[1]}" for f, n in
                      zip(ds.fraction.values, np.isfinite(net).sum(axis=1)))
    out = [("Fig. 5b: grokking steps fall with the training fraction",
            st.verdict(tr["p"] < st.FAMILY_ERROR, tr["p_opposite"] < st.FAMILY_ERROR),
            f"Spearman rho {tr['rho']:+.2f}, permutation p = {tr['p']:.2g} (n = {tr['n']}); runs reaching "
            f"RQI > 0.95 by fraction: {reach}")]
    for name in ds.normalisation.values:
        out.append((f"Sec. 3.2 / Fig. 5b: grokking steps ~ 1/(lambda_3 eta), rank correlation ({name})",
                    *_rank(ds, str(name))))
    for name in ds.normalisation.values:
        out.append((f"Sec. 3.2 / Fig. 5b: grokking steps ~ 1/(lambda_3 eta), reached within the budget iff "
                    f"n_h <= budget ({name})", *_reach(ds, str(name))))
    return out


register(
    name="grokking-steps",
    summary="steps to RQI > 0.95 in training against 1/(lambda_3 eta)",
    claim="Liu et al. 2022 Fig. 5b: grokking steps fall with training fraction, as 1/(lambda_3 eta) predicts",
    quick=Config(fractions=(0.3, 0.5, 0.7, 0.9, 1.0), seeds=3, steps=3000),
    full=Config(),
    run=run, plot=plot, statements=statements, schema=SCHEMA,
)
