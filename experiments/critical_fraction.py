"""Critical training fraction of toy addition (Liu et al. 2022, Fig. 4a-b and Fig. 5a).

Theory: for many random training sets D at each training fraction, the nullity n0 of A(P0(D))
(eq. (7)); the probability ``p_unique`` that the training set implies a unique linear
representation (n0 = 2) and the grokking rate ``lambda3`` (Sec. 3.2; 0 when n0 > 2). The
critical fraction is where ``p_unique`` crosses 1/2 (the paper: r_c = 0.4 for p = 10). The same
for modular addition (n0 = 1 is unique there).

Simulation beside it (Fig. 4b): the toy model trained on random splits at a few fractions, one
batched computation; the final RQI (eq. (3)) and validation accuracy per split, with the theory's
verdict for the same split.

lambda_3 is computed in each of the three normalisations of ``numerics.representation.
NORMALISATIONS`` (eq. (5) as printed, the print's lambda = sigma^2, the authors' code); they share
the null space, so p_unique and r_c do not depend on the choice, but the growth of lambda_3 with
the training fraction does.

Criteria (statements 2-3 fixed before the full run; see :func:`statements`):

1. Fig. 4a: "p_unique jumps near r_c = 0.4": the fraction where p_unique = 1/2 lies within 0.05
   of 0.4 (binomial error of p_unique over the splits is below 0.04 at the full 1000 splits).
2. Sec. 3.2 (i): "When the data fraction is below some threshold (around 0.4), lambda_3 is zero
   with high probability": at every fraction <= 0.3 the Wilson 95 % interval of P(lambda_3 = 0)
   lies above 1/2 (reproduced); one lying below 1/2 is "not reproduced".
3. Sec. 3.2 (ii) / Fig. 5a: "When data size is above the threshold, lambda_3 (on average) is an
   increasing function of data size", in each normalisation: over the splits at fractions >= 0.4,
   Spearman trend of lambda_3 against the fraction, one-sided permutation p < 0.05 (the opposite
   trend at p < 0.05: not reproduced); the mean of lambda_3 over splits must also rise from the
   lowest to the highest such fraction by more than twice its standard error. A lambda_3 that is
   the same for every split (the authors' code) does not depend on data size: not reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grokking_workbench.experiments.registry import register
from grokking_workbench.numerics.schema import Schema, Var


@dataclass(frozen=True)
class Config:
    p: int = 10
    fractions: tuple = tuple(round(0.05 * k, 2) for k in range(1, 21))
    n_splits: int = 1000
    seed: int = 0
    # simulation (toy model, regression)
    sim_fractions: tuple = (0.2, 0.3, 0.4, 0.5, 0.6, 0.8)
    sim_seeds: int = 8
    steps: int = 4000
    embedding_lr: float = 1e-3
    lr: float = 1e-4
    weight_decay: float = 0.0
    width: int = 200
    activation: str = "tanh"
    rqi_delta: float = 0.1
    num_threads: int | None = 1


def _theory(config: Config) -> dict:
    from grokking_workbench.numerics import representation as rep

    rng = np.random.default_rng(config.seed)
    p = config.p
    out = {k: [] for k in ("unique", "lambda3", "nullity", "unique_mod", "n_train")}
    norms = list(rep.NORMALISATIONS)
    for f in config.fractions:
        n_train = rep.split_sizes(p, f)
        masks = rep.sample_splits(p, n_train, config.n_splits, rng)
        th = rep.theory_over_splits(p, masks)
        thm = rep.theory_over_splits(p, masks, modulus=p)
        out["unique"].append(th["unique"])
        out["lambda3"].append(np.stack([th["rates"][k] for k in norms]))
        out["nullity"].append(th["nullity"])
        out["unique_mod"].append(thm["unique"])
        out["n_train"].append(n_train)
    out = {k: np.asarray(v) for k, v in out.items()}
    out["lambda3"] = np.moveaxis(out["lambda3"], 1, 0)          # (normalisation, fraction, split)
    out["normalisations"] = norms
    return out


def _simulation(config: Config) -> dict:
    from grokking_workbench.numerics import representation as rep
    from grokking_workbench.numerics.simulate import toy_addition as ta

    p = config.p
    fr = np.asarray(config.sim_fractions, float)
    S = config.sim_seeds
    rng = np.random.default_rng(config.seed + 1)
    masks = np.concatenate([rep.sample_splits(p, rep.split_sizes(p, f), S, rng) for f in fr])
    spec = ta.ModelSpec(p=p, width=config.width, activation=config.activation)
    batch = ta.Batch.make(embedding_lr=config.embedding_lr, lr=config.lr,
                          weight_decay=config.weight_decay,
                          seed=np.arange(len(masks)) + 1000 * config.seed, train_mask=masks)
    res = ta.train(spec, batch, config.steps, eval_every=20, rqi_delta=config.rqi_delta,
                   num_threads=config.num_threads, progress=True)
    th = rep.theory_over_splits(p, masks)
    shape = (len(fr), S)
    return {"rqi": res.rqi[-1].reshape(shape), "val_acc": res.val_acc[-1].reshape(shape),
            "train_acc": res.train_acc[-1].reshape(shape),
            "unique": th["unique"].reshape(shape),
            "pred_acc": rep.predicted_accuracy(res.embeddings[-1], masks,
                                               delta=config.rqi_delta).reshape(shape)}


# The dataset's variables (the simulated splits only with sim_seeds > 0)
SCHEMA = Schema({
    "fraction": Var("training data fraction |D|/|D0|", "1", ("fraction",)),
    "split": Var("random training split", "1", ("split",)),
    "sim_fraction": Var("training data fraction of the simulated splits",
                        "1", ("sim_fraction",), required=False),
    "seed": Var("random split and initialisation", "1", ("seed",), required=False),
    "p_unique": Var("probability that D implies a unique linear representation (n0 = 2)", "1", ("fraction",)),
    "p_unique_stderr": Var("binomial standard error of p_unique", "1", ("fraction",)),
    "normalisation": Var("normalisation of lambda_3 (numerics.representation.NORMALISATIONS)", "1",
                         ("normalisation",)),
    "lambda3": Var("grokking rate lambda_3 (third eigenvalue of H; 0 without a unique representation)", "1",
                   ("normalisation", "fraction", "split")),
    "lambda3_mean": Var("mean of lambda_3 over splits", "1", ("normalisation", "fraction")),
    "lambda3_std": Var("standard deviation of lambda_3 over splits", "1", ("normalisation", "fraction")),
    "lambda3_median": Var("median of lambda_3 over splits", "1", ("normalisation", "fraction")),
    "nullity": Var("nullity n0 of A(P0(D))", "1", ("fraction", "split")),
    "p_unique_modular": Var("modular addition: probability that n0 = 1 (translations only)",
                            "1", ("fraction",)),
    "n_train": Var("training samples |D|", "1", ("fraction",)),
    "critical_fraction": Var("training fraction where p_unique crosses 1/2 (linear interpolation)", "1", ()),
    "critical_fraction_modular": Var("modular addition: fraction where p_unique_modular crosses 1/2",
                                     "1", ()),
    "sim_rqi": Var("RQI of the trained embeddings after {steps} steps (delta = {rqi_delta})",
                   "1", ("sim_fraction", "seed"), required=False),
    "sim_val_acc": Var("validation accuracy of the trained network",
                       "1", ("sim_fraction", "seed"), required=False),
    "sim_train_acc": Var("training accuracy of the trained network",
                         "1", ("sim_fraction", "seed"), required=False),
    "sim_predicted_acc": Var("accuracy on D0 predicted from the trained embeddings' parallelograms",
                             "1", ("sim_fraction", "seed"), required=False),
    "sim_unique": Var("theory: the simulated split implies a unique representation (1) or not (0)",
                      "1", ("sim_fraction", "seed"), required=False),
})


def run(config: Config):
    import xarray as xr

    from grokking_workbench.numerics import representation as rep

    th = _theory(config)
    fr = np.asarray(config.fractions, float)
    pu = th["unique"].mean(axis=1)
    n = config.n_splits
    pum = th["unique_mod"].mean(axis=1)
    lam = th["lambda3"]
    rc = rep.crossing(fr, pu)
    rcm = rep.crossing(fr, pum)
    ndims = ("normalisation", "fraction", "split")
    ds = xr.Dataset(
        {
            "p_unique": ("fraction", pu),
            "p_unique_stderr": ("fraction", np.sqrt(pu * (1 - pu) / n)),
            "lambda3": (ndims, lam),
            "lambda3_mean": (ndims[:2], lam.mean(axis=2)),
            "lambda3_std": (ndims[:2], lam.std(axis=2, ddof=1)),
            "lambda3_median": (ndims[:2], np.median(lam, axis=2)),
            "nullity": (("fraction", "split"), th["nullity"]),
            "p_unique_modular": ("fraction", pum),
            "n_train": ("fraction", th["n_train"]),
            "critical_fraction": ((), rc),
            "critical_fraction_modular": ((), rcm),
        },
        coords={"fraction": ("fraction", fr),
                "split": ("split", np.arange(n)),
                "normalisation": ("normalisation", th["normalisations"])},
        attrs={"paper": "Liu et al. 2022, Fig. 4a, Fig. 5a", "p": config.p,
               "paper_critical_fraction": 0.4},
    )
    if config.sim_seeds > 0 and len(config.sim_fractions) > 0:
        sim = _simulation(config)
        dims = ("sim_fraction", "seed")
        ds = ds.assign_coords(
            sim_fraction=("sim_fraction", np.asarray(config.sim_fractions, float)),
            seed=("seed", np.arange(config.sim_seeds)))
        ds["sim_rqi"] = (dims, sim["rqi"])
        ds["sim_val_acc"] = (dims, sim["val_acc"])
        ds["sim_train_acc"] = (dims, sim["train_acc"])
        ds["sim_predicted_acc"] = (dims, sim["pred_acc"])
        ds["sim_unique"] = (dims, sim["unique"].astype(np.int8))
    return SCHEMA.apply(ds, config)


def plot(ds):
    import matplotlib.pyplot as plt

    from grokking_workbench.experiments import figures

    fig, axes = plt.subplots(1, 3 if "sim_rqi" in ds else 2, figsize=(14, 4.6), layout="constrained")
    f = ds.fraction.values
    ax = axes[0]
    ax.errorbar(f, ds.p_unique, yerr=ds.p_unique_stderr, marker="o", ms=3, label="addition (n0 = 2)")
    ax.plot(f, ds.p_unique_modular, "s--", ms=3, label="modular addition (n0 = 1)")
    ax.axhline(0.5, color="gray", lw=0.5)
    ax.axvline(float(ds.critical_fraction), color="C0", lw=0.8, ls=":",
               label=f"r_c = {float(ds.critical_fraction):.3f}")
    ax.axvline(0.4, color="k", lw=0.8, ls="--", label="paper r_c = 0.4")
    ax.set(xlabel="training fraction", ylabel="P(unique linear representation)",
           title="Fig. 4a: unique linear representation")
    ax.legend(fontsize=7)
    ax = axes[1]
    for k, name in enumerate(ds.normalisation.values):
        mean = ds.lambda3_mean.sel(normalisation=name).values
        scale = float(np.max(mean)) or 1.0
        ax.errorbar(f, mean / scale, yerr=ds.lambda3_std.sel(normalisation=name).values / scale,
                    color=f"C{k + 2}", marker="os^"[k % 3], ms=3, capsize=2,
                    label=f"{name} (divided by {scale:.3g})")
    ax.set(xlabel="training fraction", ylabel="lambda_3 / its largest mean",
           title="Fig. 5a: grokking rate in three normalisations")
    figures.legend_below(ax, title=f"mean +- s.d. over {ds.sizes['split']} splits", ncol=2)
    if "sim_rqi" in ds:
        ax = axes[2]
        sf = ds.sim_fraction.values
        for name, lab in (("sim_rqi", "RQI"), ("sim_val_acc", "validation accuracy")):
            v = ds[name].values
            ax.errorbar(sf, v.mean(1), yerr=v.std(1, ddof=1) / np.sqrt(v.shape[1]), marker="o", ms=3,
                        label=f"{lab}: mean +- s.e. over {v.shape[1]} runs")
        ax.plot(f, ds.p_unique, "k--", lw=0.8, label="theory p_unique")
        ax.set(xlabel="training fraction", ylabel="RQI, validation accuracy after training",
               title="Fig. 4b: toy model")
        ax.legend(fontsize=7)
    return fig


def statements(ds) -> list[tuple[str, str, str]]:
    """Fig. 4a / 5a and Sec. 3.2, by the criteria of the module docstring: (1) p_unique = 1/2
    within 0.05 of r_c = 0.4; (2) lambda_3 = 0 with high probability at fractions <= 0.3; (3) in
    each normalisation, lambda_3 rises with the fraction above the threshold."""
    from grokking_workbench.numerics import statistics as st

    ok, msg = check(ds)
    out = [("Fig. 4a: the probability of a unique linear representation jumps near r_c = 0.4",
            st.verdict(ok, not ok), msg)]
    if "normalisation" not in ds.dims:          # datasets written before the three normalisations
        return out
    lam = ds.lambda3.sel(normalisation="eq5").values
    f = ds.fraction.values
    below = f <= 0.3 + 1e-9
    ivs = [st.wilson_interval(int((row == 0).sum()), row.size) for row in lam[below]]
    out.append(("Sec. 3.2 (i): below the threshold (around 0.4) lambda_3 is zero with high probability",
                st.verdict(bool(ivs) and all(lo > 0.5 for lo, _ in ivs), any(hi < 0.5 for _, hi in ivs)),
                "P(lambda_3 = 0) by fraction: " + ", ".join(
                    f"{x:.2f}: {float((row == 0).mean()):.3f} [{lo:.3f}, {hi:.3f}]"
                    for x, row, (lo, hi) in zip(f[below], lam[below], ivs))))
    above = f >= 0.4 - 1e-9
    for name in ds.normalisation.values:
        lam = ds.lambda3.sel(normalisation=name).values[above]
        x = np.broadcast_to(f[above][:, None], lam.shape)
        mean, se = st.mean_se(lam, axis=1)
        rise = mean[-1] - mean[0]
        err = float(np.hypot(se[-1], se[0]))
        if np.ptp(lam) == 0:
            verdict, text = st.NOT_REPRODUCED, f"lambda_3 = {lam.flat[0]:.4g} for every split and fraction"
        else:
            tr = st.trend_test(x, lam, increasing=True, n_perm=2000)
            verdict = st.verdict(tr["p"] < st.FAMILY_ERROR and rise > 2 * err,
                                 tr["p_opposite"] < st.FAMILY_ERROR or rise < -2 * err)
            text = (f"Spearman rho {tr['rho']:+.2f}, permutation p = {tr['p']:.2g} (n = {tr['n']}); mean "
                    f"lambda_3 {mean[0]:.4g} +- {se[0]:.2g} at {f[above][0]:.2f} to {mean[-1]:.4g} +- {se[-1]:.2g} "
                    f"at {f[above][-1]:.2f}")
        out.append((f"Sec. 3.2 (ii) / Fig. 5a: above the threshold lambda_3 rises with the data size ({name})",
                    verdict, text))
    return out


def check(ds) -> tuple[bool, str]:
    rc = float(ds.critical_fraction)
    ok = abs(rc - 0.4) < 0.05
    msg = f"p_unique = 1/2 at fraction {rc:.3f} (paper 0.4)"
    if "sim_rqi" in ds:
        u = ds.sim_unique.values.astype(bool)
        v = ds.sim_val_acc.values
        if u.any() and (~u).any():
            msg += (f"; trained val. accuracy {v[u].mean():.2f} on splits with a unique "
                    f"representation vs {v[~u].mean():.2f} without")
    return ok, msg


register(
    name="critical-fraction",
    summary="probability of a unique linear representation and lambda_3 against training fraction",
    claim="Liu et al. 2022 Fig. 4a/5a: p_unique jumps near r_c = 0.4 (p = 10); lambda_3 = 0 below it and grows above",
    quick=Config(n_splits=200, sim_fractions=(0.3, 0.5, 0.8), sim_seeds=4, steps=3000),
    full=Config(),
    run=run, plot=plot, statements=statements, schema=SCHEMA,
)
