"""The DMFT through the whole grokking curve (DMFT paper Figs. 1-2, eq. 5), beside simulations.

Train and test loss of the committee machine (N = 2, eps = 0.05, A0 = (0.04, -0.02), C0 = I)
from the finite-gamma DMFT on its non-uniform second-order grid up to t = 2000, for
gamma in {inf, 16, 8, 4} at alpha = 0.5 and for alpha in {0.25, 0.5, 1, 2} at gamma = 8, beside
simulation ensembles at D = 1000 started from the same overlaps (per-dataset curves kept). The
simulations take Euler steps of ``dt_sim`` up to ``t_late`` and of ``dt_late`` after it (the
dynamics are slow there); the error of the long steps is measured by a second ensemble with
uniform steps up to ``step_check_t_max`` (``step_check_*`` variables). The alpha runs stop at
t_max = min(t_max, alpha_time_scale / alpha): the dynamics run faster at larger alpha, and the
explicit step limit of both the DMFT and the simulation shrinks like 1/alpha.

Time to grok (the definition of the Kumar et al. experiments, ``experiments._wide_curves``):
t_test - t_train, the first times the test and the train loss fall below 1/4 of their values at
t = 0 (linear interpolation between nodes; NaN if never before t_max), from the DMFT (per
replica, so that it has a Monte-Carlo error) and from each simulated dataset.

Statements and their criteria (fixed before the full configuration was run):

1. "The gap grows as gamma falls" (DMFT paper Sec. 2, Fig. 2a): the largest DMFT gap
   max_t (L_test - L_train) increases along gamma = inf, 16, 8, 4. With e(t) the error of the
   gap (replica SE and discretisation estimate in quadrature), each gamma's largest gap lies
   between max_t (gap - 2e) and max_t (gap + 2e) over the nodes the solve reached. Reproduced
   when, for every consecutive pair, the lower bound at the smaller gamma exceeds the upper bound
   at the larger; not reproduced when the upper bound at the smaller gamma is below the lower
   bound at the larger; otherwise inconclusive. (Changed after the full run, see
   ``experiments/criteria.py``: the criterion first compared the gaps at their argmax, which
   for a solve whose Monte-Carlo error grows late can be a noise-dominated node.)
2. "Larger alpha delays the fall of the test loss / the time to grok increases in alpha" (Fig. 1
   caption, Sec. 2 "Effect of eps and alpha"): DMFT time to grok at gamma = 8 increases along
   alpha = 0.25, 0.5, 1, 2. Reproduced when every consecutive increase exceeds twice the SE of
   the difference (replicas); not reproduced when one decreases by more than twice its SE, or when
   a larger alpha has a finite time to grok while a smaller one never groks; inconclusive when a
   time is missing for another reason (a run that never groks before its t_max at the small end).
3. "The online limit has no gap" (Sec. 2): the DMFT at gamma = inf has max_t |L_test - L_train|
   below 1e-9 (an identity of the theory), and the simulated gap at the largest finite gamma (16)
   is the smallest of the simulated gaps (max over t of the ensemble-mean gap). Reproduced when
   both hold.
4. Theory meets simulation over the whole curve: every z-score of the ensemble-mean train and test
   loss against the DMFT (simulation SE, DMFT Monte-Carlo SE and discretisation error in
   quadrature), at every record time and every run, lies within the two-sided Bonferroni limit
   for a family-wise error of 5 % over all compared points. Reproduced when all do; otherwise not
   reproduced, with the worst points reported (the mean over datasets is not the typical curve
   when the datasets grok at different times, see the per-dataset spread).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from grokking_workbench.experiments.dmft import INF, _var
from grokking_workbench.experiments.registry import register
from grokking_workbench.numerics.schema import Schema, Var
from grokking_workbench.numerics import statistics as st

FAMILY_ERROR = 0.05


@dataclass(frozen=True)
class GrokkingConfig:
    gammas: tuple[float, ...] = (INF, 16.0, 8.0, 4.0)
    alphas: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)
    alpha: float = 0.5
    alpha_gamma: float = 8.0
    eps: float = 0.05
    A0: tuple[float, ...] = (0.04, -0.02)
    t_max: float = 2000.0
    alpha_time_scale: float = 1000.0
    samples: int = 8000
    D: int = 1000
    seeds: int = 8
    dt_sim: float = 0.1
    t_late: float = 20.0
    dt_late: float = 0.5
    records: int = 60
    step_check_t_max: float = 200.0
    grok_fraction: float = 0.25
    output_points: int = 400


def _alpha_t_max(c: GrokkingConfig, alpha: float) -> float:
    return min(c.t_max, c.alpha_time_scale / alpha)


def _dmft(c: GrokkingConfig, alpha: float, gamma: float, t_max: float):
    """A DMFT solve on its default grid; the two-time fields, which this experiment does not use,
    are dropped to keep memory down."""
    from grokking_workbench.numerics.dmft import solver

    samples = c.samples if np.isfinite(gamma) else 32     # the online limit has no sampling error
    cfg = solver.DMFTConfig(A0=tuple(c.A0), alpha=alpha, eps=c.eps, gamma=gamma, t_max=t_max,
                            samples=samples)
    sol = solver.solve(cfg, two_time_points=2)   # past the dense limit only the end nodes' fields are kept
    sol.result.fields = None
    return sol


def late_step(alpha: float, gamma: float, dt_late: float) -> float:
    """The simulations' late Euler step: ``dt_late``, at most a quarter of the stability limit
    2 / (alpha (1 + gamma^-1/2)^2) of the largest rate of the gradient flow."""
    return min(dt_late, 0.5 / (alpha * (1 + gamma ** -0.5) ** 2))


def _simulate(c: GrokkingConfig, alpha: float, gamma: float, t_max: float, *, uniform: bool = False):
    from grokking_workbench.numerics.simulate.committee import CommitteeConfig, simulate

    dt_late = None if uniform else late_step(alpha, gamma, c.dt_late)
    return simulate(CommitteeConfig(N=len(c.A0), D=c.D, alpha=alpha, eps=c.eps, gamma=gamma, A0=tuple(c.A0),
                                    t_max=t_max, dt=c.dt_sim, dt_late=dt_late, t_late=min(c.t_late, t_max),
                                    seeds=c.seeds, seed0=1000, records=c.records, threads=1),
                    progress=False)


def fall_times(t: np.ndarray, train: np.ndarray, test: np.ndarray, fraction: float) -> tuple[float, float]:
    """(t_train, t_test) of the module docstring: the first times the train and the test loss
    fall below ``fraction`` of their values at t = 0 (linear interpolation between nodes; NaN if
    never before the curve ends)."""
    from grokking_workbench.experiments._wide_curves import crossing_time

    return crossing_time(t, train, fraction * train[0]), crossing_time(t, test, fraction * test[0])


def grok_time(t: np.ndarray, train: np.ndarray, test: np.ndarray, fraction: float) -> float:
    """t_test - t_train (module docstring), NaN if either never falls below ``fraction`` of its
    value at t = 0."""
    t_train, t_test = fall_times(t, train, test, fraction)
    return t_test - t_train


def _runs_over(kind: str) -> Schema:
    """The variables of the runs over ``kind`` (gamma or alpha), prefixed ``<kind>_``."""
    return Schema({kind + "_" + name: Var(text, "1", (kind,) + dims) for name, text, dims in (
        ("train_loss", f"DMFT train loss (runs over {kind})", ("t",)),
        ("test_loss", f"DMFT test loss (runs over {kind})", ("t",)),
        ("train_loss_err", "DMFT error of the train loss (Monte-Carlo SE and step-halving estimate in "
                           "quadrature)", ("t",)),
        ("test_loss_err", "DMFT error of the test loss (Monte-Carlo SE and step-halving estimate in "
                          "quadrature)",
         ("t",)),
        ("sim_t", "simulation record time", ("record",)),
        ("sim_train_loss", "simulated train loss per dataset", ("seed", "record")),
        ("sim_test_loss", "simulated population test loss per dataset", ("seed", "record")),
        ("z_train", "z-score of the ensemble-mean train loss against DMFT", ("record",)),
        ("z_test", "z-score of the ensemble-mean test loss against DMFT", ("record",)),
        ("time_to_grok", "DMFT time to grok t_test - t_train", ()),
        ("time_to_grok_se", "Monte-Carlo SE of the DMFT time to grok (replicas)", ()),
        ("sim_time_to_grok", "simulated time to grok per dataset (NaN: never)", ("seed",)),
        ("max_gap", "DMFT max_t (L_test - L_train)", ()),
        ("max_gap_err", "error of max_gap (Monte-Carlo and discretisation)", ()),
        ("final_test_loss", "DMFT test loss at the run's t_max", ()),
        ("t_max", "final time of the run", ()),
        ("solve_seconds", "wall time of the DMFT solve", ()))})


# The dataset's variables and coordinates
SCHEMA = Schema({
    "gamma": Var("P / D", "1", ("gamma",)),
    "alpha": Var("output scale alpha", "1", ("alpha",)),
    "t": Var("gradient-flow time (DMFT curves interpolated from their grids)", "1", ("t",)),
    "seed": Var("simulated dataset", "1", ("seed",)),
    "record": Var("simulation record", "1", ("record",)),
    **_runs_over("gamma"),
    **_runs_over("alpha"),
    "step_check_difference": Var("max_t |test loss (dt_late steps) - test loss (uniform dt_sim)| for t <= "
                                 "{step_check_t_max:g}, gamma = {alpha_gamma:g}", "1", ("seed",)),
    "step_check_sim_se": Var("largest SE over datasets of the uniform-step test loss", "1", ()),
})

def run(c: GrokkingConfig):
    import xarray as xr

    from grokking_workbench.theory.generated import committee as th

    from concurrent.futures import ProcessPoolExecutor

    t_out = np.concatenate([[0.0], np.geomspace(0.05, c.t_max, c.output_points - 1)])
    # the simulations run in a second process while this one solves the DMFT
    with ProcessPoolExecutor(max_workers=1) as pool:
        sims = {("gamma", g): pool.submit(_simulate, c, c.alpha, g, c.t_max)
                for g in c.gammas if np.isfinite(g) and g != c.alpha_gamma}
        sims.update({("alpha", a): pool.submit(_simulate, c, a, c.alpha_gamma, _alpha_t_max(c, a))
                     for a in c.alphas})
        check_future = pool.submit(_simulate, c, c.alpha, c.alpha_gamma, c.step_check_t_max, uniform=True)
        solutions = {("gamma", g): _dmft(c, c.alpha, g, c.t_max) for g in c.gammas}
        for a in c.alphas:
            solutions["alpha", a] = (solutions["gamma", c.alpha_gamma] if a == c.alpha
                                     else _dmft(c, a, c.alpha_gamma, _alpha_t_max(c, a)))
        sims = {key: future.result() for key, future in sims.items()}
        check = check_future.result()
    sims["gamma", c.alpha_gamma] = sims["alpha", c.alpha]
    runs = {key: (sol, sims.get(key)) for key, sol in solutions.items()}

    data, z_all = {}, []
    for kind, values in (("gamma", c.gammas), ("alpha", c.alphas)):
        K = len(values)
        arr = lambda *shape: np.full(shape, np.nan)    # noqa: E731
        d = {k: arr(K, len(t_out)) for k in ("train", "test", "train_err", "test_err")}
        d.update(sim_train=arr(K, c.seeds, c.records), sim_test=arr(K, c.seeds, c.records),
                 sim_t=arr(K, c.records), z_train=arr(K, c.records), z_test=arr(K, c.records),
                 grok=arr(K), grok_se=arr(K), sim_grok=arr(K, c.seeds), max_gap=arr(K), max_gap_err=arr(K),
                 final_test=arr(K), t_max=arr(K), seconds=arr(K))
        statuses = []
        for k, v in enumerate(values):
            sol, sim = runs[kind, v]
            res, cfg = sol.result, sol.config
            t = res.grid.t[:res.steps + 1]
            n = len(t)
            test = th.test_loss(res.A, res.Cw_diag, cfg.alpha, cfg.eps)[:n]
            train = res.train_loss[:n]
            e = sol.errors
            err = {name: np.sqrt(e[name + "_mc"][:n] ** 2 + e.get(name + "_disc", np.zeros(n))[:n] ** 2)
                   for name in ("train_loss", "test_loss")}
            inside = t_out <= t[-1]
            for name, curve in (("train", train), ("test", test), ("train_err", err["train_loss"]),
                                ("test_err", err["test_loss"])):
                d[name][k, inside] = np.interp(t_out[inside], t, np.nan_to_num(curve, nan=0.0))
            gap = test - train
            i = int(np.argmax(gap))
            d["max_gap"][k] = gap[i]
            d["max_gap_err"][k] = math.hypot(err["train_loss"][i], err["test_loss"][i])
            d["final_test"][k], d["t_max"][k], d["seconds"][k] = test[-1], t[-1], sol.seconds
            d["grok"][k] = grok_time(t, train, test, c.grok_fraction)
            reps = np.array([grok_time(t, r["train_loss"][:n], r["test_loss"][:n], c.grok_fraction)
                             for r in sol.replica_curves])
            d["grok_se"][k] = np.std(reps, ddof=1) / np.sqrt(len(reps)) if len(reps) > 1 and np.all(np.isfinite(reps)) else np.nan
            statuses.append(sol.status)
            if sim is None:
                continue
            st = sim.t.values
            m = len(st)
            d["sim_t"][k, :m] = st
            d["sim_train"][k, :, :m] = sim.train_loss.values
            d["sim_test"][k, :, :m] = sim.test_loss.values
            d["sim_grok"][k] = [grok_time(st, sim.train_loss.values[s], sim.test_loss.values[s], c.grok_fraction)
                                for s in range(c.seeds)]
            for name, curve in (("train", train), ("test", test)):
                y = sim[name + "_loss"].values
                mean, se = y.mean(0), y.std(0, ddof=1) / np.sqrt(c.seeds)
                ok = st <= t[-1]
                theory = np.interp(st, t, curve)
                terr = np.interp(st, t, err[name + "_loss"])
                z = np.where(ok, (mean - theory) / np.maximum(np.hypot(se, terr), 1e-12), np.nan)
                d["z_" + name][k, :m] = z
                z_all.append(z[np.isfinite(z)])
        data[kind] = (d, statuses)

    n_points = int(sum(z.size for z in z_all))
    dims = lambda kind, *rest: (kind,) + rest      # noqa: E731
    ds_vars = {}
    for kind, (d, _) in data.items():
        p = kind + "_"
        ds_vars.update({
            p + "train_loss": _var(dims(kind, "t"), d["train"]),
            p + "test_loss": _var(dims(kind, "t"), d["test"]),
            p + "train_loss_err": _var(dims(kind, "t"), d["train_err"]),
            p + "test_loss_err": _var(dims(kind, "t"), d["test_err"]),
            p + "sim_t": _var(dims(kind, "record"), d["sim_t"]),
            p + "sim_train_loss": _var(dims(kind, "seed", "record"), d["sim_train"]),
            p + "sim_test_loss": _var(dims(kind, "seed", "record"), d["sim_test"]),
            p + "z_train": _var(dims(kind, "record"), d["z_train"]),
            p + "z_test": _var(dims(kind, "record"), d["z_test"]),
            p + "time_to_grok": _var((kind,), d["grok"]),
            p + "time_to_grok_se": _var((kind,), d["grok_se"]),
            p + "sim_time_to_grok": _var(dims(kind, "seed"), d["sim_grok"]),
            p + "max_gap": _var((kind,), d["max_gap"]),
            p + "max_gap_err": _var((kind,), d["max_gap_err"]),
            p + "final_test_loss": _var((kind,), d["final_test"]),
            p + "t_max": _var((kind,), d["t_max"]),
            p + "solve_seconds": _var((kind,), d["seconds"]),
        })
    ds = xr.Dataset(ds_vars, coords={
        "gamma": ("gamma", np.asarray(c.gammas, dtype=float)),
        "alpha": ("alpha", np.asarray(c.alphas, dtype=float)),
        "t": ("t", t_out),
        "seed": ("seed", np.arange(c.seeds)),
        "record": ("record", np.arange(c.records))})
    cs = check.test_loss.values
    t_check = check.t.values
    late = runs["alpha", c.alpha][1]
    common = late.t.values <= t_check[-1]
    late_test = np.stack([np.interp(t_check, late.t.values[common], late.test_loss.values[s][common])
                          for s in range(c.seeds)])
    ds["step_check_difference"] = _var(("seed",), np.max(np.abs(late_test - cs), axis=1))
    ds["step_check_sim_se"] = _var((), float(np.max(cs.std(0, ddof=1) / np.sqrt(c.seeds))))
    ds.attrs.update(alpha_gamma=c.alpha_gamma, z_points=n_points, z_limit=_z_limit(n_points), D=c.D,
                    status=next((s for d, st in data.values() for s in st if s != "complete"), "complete"))
    return SCHEMA.apply(ds, c)


def _z_limit(points: int) -> float:
    """Two-sided Bonferroni limit for a family-wise error FAMILY_ERROR over ``points`` z-scores."""
    from scipy.stats import norm

    return float(norm.isf(FAMILY_ERROR / (2 * max(points, 1))))


def statements(ds) -> list[tuple[str, str, str]]:
    """(statement, verdict, evidence) for the four statements of the module docstring."""
    out = []
    order = np.argsort(-ds.gamma.values)                       # inf, 16, 8, 4
    lo, hi, where = [], [], []
    for g in ds.gamma.values[order]:
        run = ds.sel(gamma=g)
        gap = (run.gamma_test_loss - run.gamma_train_loss).values
        e = np.hypot(run.gamma_train_loss_err.values, run.gamma_test_loss_err.values)
        ok = np.isfinite(gap) & np.isfinite(e) & (ds.t.values <= float(run.gamma_t_max))
        lo.append(np.max((gap - 2 * e)[ok]))
        hi.append(np.max((gap + 2 * e)[ok]))
        where.append(float(ds.t.values[ok][np.argmax((gap - 2 * e)[ok])]))
    lo, hi = np.array(lo), np.array(hi)
    out.append(("the train/test gap grows as gamma falls",
                st.verdict(bool(np.all(lo[1:] > hi[:-1])), bool(np.any(hi[1:] < lo[:-1]))),
                "largest gap between max_t (gap - 2 err) and max_t (gap + 2 err), for gamma = "
                + ", ".join(f"{g:g}: [{a:.3f}, {b:.3f}] (lower bound at t = {w:.0f})"
                            for g, a, b, w in zip(ds.gamma.values[order], lo, hi, where))))
    tg, se = ds.alpha_time_to_grok.values, ds.alpha_time_to_grok_se.values
    finite = np.isfinite(tg)
    step = np.diff(tg)
    sd = np.hypot(np.nan_to_num(se[1:]), np.nan_to_num(se[:-1]))
    ok = bool(finite.all() and np.all(step > 2 * sd))
    bad = bool(np.any(step < -2 * sd) or np.any(~finite[:-1] & finite[1:]))
    out.append(("the time to grok increases with alpha (gamma = %g)" % float(ds.attrs.get("alpha_gamma", 8.0)),
                st.verdict(ok, bad), "DMFT time to grok for alpha = "
                + ", ".join(f"{a:g}: {t:.1f} +- {s:.1f}" for a, t, s in zip(ds.alpha.values, tg, se))
                + "; simulation median " + ", ".join(f"{np.nanmedian(x):.1f}" if np.isfinite(x).any() else "never"
                                                     for x in ds.alpha_sim_time_to_grok.values)))
    inf = ds.gamma.values == np.inf
    online_gap = float(np.nanmax(np.abs(ds.gamma_test_loss.values[inf] - ds.gamma_train_loss.values[inf])))
    sim_gap = (ds.gamma_sim_test_loss - ds.gamma_sim_train_loss).mean("seed").max("record").values
    finite_g = np.isfinite(ds.gamma.values)
    largest = ds.gamma.values == np.max(ds.gamma.values[finite_g])
    smallest_gap = bool(sim_gap[largest][0] <= np.nanmin(sim_gap[finite_g]))
    out.append(("the online limit has no gap", st.verdict(online_gap < 1e-9 and smallest_gap, not smallest_gap),
                f"DMFT gamma = inf: max |L_test - L_train| = {online_gap:.2g}; simulated max gap by gamma "
                + ", ".join(f"{g:g}: {v:.4f}" for g, v in zip(ds.gamma.values[finite_g], sim_gap[finite_g]))))
    z = np.concatenate([ds[f"{k}_z_{n}"].values.ravel() for k in ("gamma", "alpha") for n in ("train", "test")])
    z = z[np.isfinite(z)]
    limit = float(ds.attrs["z_limit"])
    worst = []
    for k in ("gamma", "alpha"):
        for n in ("train", "test"):
            zz = np.abs(ds[f"{k}_z_{n}"])
            if np.isfinite(zz).any():
                idx = np.unravel_index(int(np.nanargmax(zz.values)), zz.shape)
                worst.append(f"{k} = {float(ds[k][idx[0]]):g} {n} |z| {float(zz.values[idx]):.1f} "
                             f"at t = {float(ds[k + '_sim_t'].values[idx]):.3g}")
    out.append(("the DMFT meets the simulations over the whole curve",
                st.verdict(bool(z.size and np.all(np.abs(z) < limit)), bool(z.size and np.any(np.abs(z) >= limit))),
                f"{int(np.sum(np.abs(z) >= limit))} of {z.size} z-scores beyond the Bonferroni limit {limit:.2f}; "
                f"worst: {'; '.join(worst)}"))
    return out


def observations(ds) -> list[str]:
    g4 = ds.gamma_final_test_loss.sel(gamma=min(ds.gamma.values))
    extra = (f"DMFT test loss at t = {float(ds.gamma_t_max.max()):g} by gamma "
             + ", ".join(f"{g:g}: {v:.3f}" for g, v in zip(ds.gamma.values, ds.gamma_final_test_loss.values))
             + f"; simulated datasets grokked (time to grok finite) at gamma = {float(min(ds.gamma.values)):g}: "
             + f"{int(np.isfinite(ds.gamma_sim_time_to_grok.sel(gamma=min(ds.gamma.values))).sum())} of {ds.sizes['seed']}"
             + f"; long-step check max |difference| {float(ds.step_check_difference.max()):.3g} "
             f"(uniform-step SE {float(ds.step_check_sim_se):.3g}); DMFT gamma = {float(min(ds.gamma.values)):g} "
             f"final test loss {float(g4):.3f}")
    return extra.split("; ")


def plot(ds):
    import matplotlib.pyplot as plt

    from grokking_workbench.experiments import figures

    n = ds.sizes["seed"]
    fig, axes = plt.subplots(2, 2, figsize=(14.5, 9), layout="constrained")
    for row, kind in enumerate(("gamma", "alpha")):
        for col, name in enumerate(("test", "train")):
            ax = axes[row, col]
            for k, v in enumerate(ds[kind].values):
                c = f"C{k}"
                curve = ds[f"{kind}_{name}_loss"].isel({kind: k})
                err = ds[f"{kind}_{name}_loss_err"].isel({kind: k})
                ax.plot(ds.t[1:], curve[1:], "-", lw=1.5, color=c)
                ax.fill_between(ds.t[1:], (curve - 2 * err)[1:], (curve + 2 * err)[1:], color=c,
                                alpha=0.2, lw=0)
                st = ds[f"{kind}_sim_t"].isel({kind: k})
                if np.isfinite(st).any():
                    y = ds[f"{kind}_sim_{name}_loss"].isel({kind: k})
                    for s in range(n):
                        ax.plot(st, y.isel(seed=s), "-", color=c, lw=0.4, alpha=0.35)
                    ax.errorbar(st, y.mean("seed"), yerr=y.std("seed", ddof=1) / np.sqrt(n),
                                fmt="o", ms=2.5, color=c)
            sim_max = float(np.nanmax(ds[f"{kind}_sim_{name}_loss"].mean("seed").values))
            ax.set_ylim(-0.03, 1.25 * sim_max)   # a diverged DMFT run leaves the frame instead of squashing it
            ax.set(xscale="log", xlabel="gradient-flow time t", ylabel=f"{name} loss")
            ax.set_title(f"{name} loss over {kind}", fontsize=10)
        values = [(f"{kind} = {v:g}", dict(color=f"C{k}", lw=2)) for k, v in enumerate(ds[kind].values)]
        figures.style_legend(axes[row, 1], values, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                             title=kind, title_fontsize=8, fontsize=8)
    figures.style_legend(fig, [("DMFT (D -> inf)", dict(lw=1.5)), ("DMFT +- 2 s.e. (Monte-Carlo and step halving)", "band"),
                               ("simulation: one line per dataset", dict(lw=0.5, alpha=0.5)),
                               (f"simulation: mean +- s.e. over {n} datasets", dict(marker="o", ms=3))],
                         loc="outside lower center", ncol=4, fontsize=8)
    fig.suptitle(f"DMFT against simulations at D = {ds.attrs['D']}", fontsize=11)
    return fig


register(name="dmft-grokking",
         summary="DMFT train/test loss to t = 2000 across gamma and alpha beside simulations; time to grok",
         claim="DMFT paper Figs. 1-2 and Sec. 2: grokking is an offline effect (the train/test gap grows as "
               "gamma falls, none in the online limit), its delay grows with alpha, and the DMFT predicts the "
               "curves of large-D networks",
         quick=GrokkingConfig(gammas=(INF, 8.0, 4.0), alphas=(0.5, 1.0), t_max=100.0, alpha_time_scale=50.0,
                              samples=1600, D=300, seeds=4, records=25, step_check_t_max=30.0,
                              output_points=120),
         full=GrokkingConfig(), run=run, plot=plot, statements=statements,
         observations=observations, schema=SCHEMA)
