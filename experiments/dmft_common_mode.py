"""The common-mode offset of sum_i A_i at gamma = 4: chance, a finite-size effect, or a missing term?

Setting of the DMFT paper's Fig. 3 (N = 2, alpha = 0.5, eps = 0.05, A0 = (0.04, -0.02), C0 = I,
gamma = 4, t <= 60). An earlier comparison at D = 2000 with 10 datasets put the simulated
common mode S(t) = sum_i A_i(t) 2-3 standard errors below the DMFT. Here S is simulated with 40
independent datasets at each of D = 400, 800, 1600, 3200 (weights built with exactly the
prescribed overlaps; Euler steps ``dt_sim`` to ``t_late``, ``dt_late`` after), and the DMFT is
solved with its Monte-Carlo (replicas) and discretisation (step halving) errors. The simulation's
own step error is measured by repeating D = ``step_check_D`` with both steps halved (same seeds:
a paired difference).

At each comparison time t_c, the ensemble means m_D(t_c) are fitted by m_D = S_inf + b / D
(weighted least squares, :func:`numerics.statistics.weighted_line` in x = 1 / D).

Statements and criteria (fixed before the full configuration was run; Bonferroni limits
z_m = :func:`numerics.statistics.bonferroni_z` over the m compared quantities, family-wise 5 %):

1. "No offset at any D" (chance): every z = (m_D - S_DMFT) / sqrt(SE_D^2 + err_DMFT^2 + step^2)
   over D and t_c lies within z_m (m = number of D times number of t_c). Reproduced (the offset is
   chance) when all do; not reproduced otherwise.
2. "A finite-size effect": some slope b differs from 0 by more than z_m (m = number of t_c)
   standard errors while the 1/D line describes the means (chi^2 p-value > 0.01 at every t_c).
   Reproduced (a finite-size effect is detected) when both hold; not reproduced when no slope is
   significant; inconclusive when a slope is significant but the line does not fit.
3. "A missing term": the extrapolated S_inf differs from the DMFT by more than z_m (m = number of
   t_c) combined errors (fit SE, DMFT error, simulation step error). Reproduced (a term is
   missing) when it does at some t_c; not reproduced when S_inf agrees at every t_c.

The claim under test is statement 1 (DMFT paper Fig. 3: the DMFT gives the large-D alignment);
statements 2 and 3 diagnose an offset and are reported as observations beside the verdict. The
observation line names the explanation the data support: "chance" (1 reproduced), "finite size"
(1 not, 2 reproduced, 3 not), "missing term" (3 reproduced), or "unresolved".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grokking_workbench.experiments.dmft import _var
from grokking_workbench.experiments.registry import register
from grokking_workbench.numerics.schema import Schema, Var


@dataclass(frozen=True)
class CommonModeConfig:
    gamma: float = 4.0
    alpha: float = 0.5
    eps: float = 0.05
    A0: tuple[float, ...] = (0.04, -0.02)
    t_max: float = 60.0
    Ds: tuple[int, ...] = (400, 800, 1600, 3200)
    seeds: int = 40
    dt_sim: float = 0.05
    t_late: float = 20.0
    dt_late: float = 0.25
    records: int = 40
    compare_times: tuple[float, ...] = (5.0, 10.0, 20.0, 40.0, 60.0)
    step_check_D: int = 800
    samples: int = 8000
    dtype: str = "float32"


def _simulate(c: CommonModeConfig, D: int, step_factor: float = 1.0):
    from grokking_workbench.numerics.simulate.committee import CommitteeConfig, simulate

    return simulate(CommitteeConfig(N=len(c.A0), D=D, alpha=c.alpha, eps=c.eps, gamma=c.gamma, A0=tuple(c.A0),
                                    t_max=c.t_max, dt=c.dt_sim * step_factor, dt_late=c.dt_late * step_factor,
                                    t_late=c.t_late, seeds=c.seeds, seed0=5000 + D, records=c.records,
                                    dtype=c.dtype, threads=1), progress=False)


def _common_mode_at(sim, times):
    """S = sum_i A_i of every dataset at ``times`` (linear interpolation between records)."""
    S = sim.A.sum("i").values                               # (seed, t)
    return np.stack([np.interp(times, sim.t.values, s) for s in S])


# The dataset's variables and coordinates
SCHEMA = Schema({
    "D": Var("input dimension", "1", ("D",)),
    "seed": Var("dataset", "1", ("seed",)),
    "t_c": Var("comparison time", "1", ("t_c",)),
    "common_mode": Var("simulated sum_i A_i per dataset at the comparison times", "1", ("D", "seed", "t_c")),
    "common_mode_curves": Var("simulated sum_i A_i per dataset", "1", ("D", "seed", "record")),
    "record_t": Var("simulation record time", "1", ("record",)),
    "dmft_common_mode": Var("DMFT sum_i A_i", "1", ("t_c",)),
    "dmft_common_mode_err": Var("DMFT error of sum_i A_i (replica SE and step-halving estimate in "
                                "quadrature)",
                                "1", ("t_c",)),
    "dmft_t": Var("DMFT grid time", "1", ("t_dmft",)),
    "dmft_curve": Var("DMFT sum_i A_i on its grid", "1", ("t_dmft",)),
    "dmft_curve_err": Var("DMFT error of sum_i A_i on its grid", "1", ("t_dmft",)),
    "step_error": Var("|mean paired difference| of sum_i A_i between steps (dt_sim, dt_late) and half of "
                      "them, D = {step_check_D}", "1", ("t_c",)),
    "step_error_se": Var("SE of the paired step difference", "1", ("t_c",)),
}, dims=("record", "t_dmft"))

def run(c: CommonModeConfig):
    import xarray as xr
    from concurrent.futures import ProcessPoolExecutor

    from grokking_workbench.numerics.dmft import solver

    times = np.asarray(c.compare_times, dtype=float)
    with ProcessPoolExecutor(max_workers=1) as pool:
        futures = {D: pool.submit(_simulate, c, D) for D in c.Ds}
        half = pool.submit(_simulate, c, c.step_check_D, 0.5)
        sol = solver.solve(solver.DMFTConfig(A0=tuple(c.A0), alpha=c.alpha, eps=c.eps, gamma=c.gamma,
                                             t_max=c.t_max, samples=c.samples))
        sims = {D: f.result() for D, f in futures.items()}
        sim_half = half.result()
    res = sol.result
    n = res.steps + 1
    t_dmft = res.grid.t[:n]
    S_dmft = res.A[:n].sum(-1)
    reps = np.stack([r["A"][:n].sum(-1) for r in sol.replica_curves])
    S_mc = reps.std(0, ddof=1) / np.sqrt(len(reps))
    S_disc = np.abs(sol.errors["A_disc"][:n].sum(-1)) if "A_disc" in sol.errors else np.zeros(n)
    dmft_at = np.interp(times, t_dmft, S_dmft)
    dmft_err = np.hypot(np.interp(times, t_dmft, S_mc), np.interp(times, t_dmft, S_disc))

    S = np.stack([_common_mode_at(sims[D], times) for D in c.Ds])          # (D, seed, t_c)
    paired = _common_mode_at(sims[c.step_check_D], times) - _common_mode_at(sim_half, times)
    step_err = np.abs(paired.mean(0))                                        # Euler bias estimate at dt
    t_rec = sims[c.Ds[0]].t.values
    S_rec = np.stack([sims[D].A.sum("i").values for D in c.Ds])             # (D, seed, record)
    ds = xr.Dataset({
        "common_mode": _var(("D", "seed", "t_c"), S),
        "common_mode_curves": _var(("D", "seed", "record"), S_rec),
        "record_t": _var(("record",), t_rec),
        "dmft_common_mode": _var(("t_c",), dmft_at),
        "dmft_common_mode_err": _var(("t_c",), dmft_err),
        "dmft_t": _var(("t_dmft",), t_dmft),
        "dmft_curve": _var(("t_dmft",), S_dmft),
        "dmft_curve_err": _var(("t_dmft",), np.hypot(S_mc, S_disc)),
        "step_error": _var(("t_c",), step_err),
        "step_error_se": _var(("t_c",), paired.std(0, ddof=1) / np.sqrt(c.seeds)),
    }, coords={"D": ("D", np.asarray(c.Ds)),
               "seed": ("seed", np.arange(c.seeds)),
               "t_c": ("t_c", times)})
    ds.attrs.update(gamma=c.gamma, status=sol.status if all(s.attrs.get("status", "complete") == "complete"
                                                            for s in [*sims.values(), sim_half])
                    else "simulation " + next(s.attrs["status"] for s in [*sims.values(), sim_half]
                                               if s.attrs.get("status", "complete") != "complete"))
    return SCHEMA.apply(ds, c)


def analysis(ds) -> dict:
    """Offsets, their z-scores, the 1/D fits and the three verdicts (module docstring)."""
    from grokking_workbench.numerics import statistics as st

    D = ds.D.values.astype(float)
    mean, se = st.mean_se(ds.common_mode.values, axis=1)                    # (D, t_c)
    dmft, derr = ds.dmft_common_mode.values, ds.dmft_common_mode_err.values
    step = ds.step_error.values
    z = (mean - dmft) / np.sqrt(se ** 2 + derr ** 2 + step ** 2)
    n_t = len(ds.t_c)
    z_all, z_t = st.bonferroni_z(z.size), st.bonferroni_z(n_t)
    fits = [st.weighted_line(1.0 / D, mean[:, k], se[:, k]) for k in range(n_t)]
    slope_z = np.array([f["b"] / f["b_se"] for f in fits])
    fit_p = np.array([f["p"] for f in fits])
    inf_z = np.array([(f["a"] - dmft[k]) / np.sqrt(f["a_se"] ** 2 + derr[k] ** 2 + step[k] ** 2)
                      for k, f in enumerate(fits)])
    chance = bool(np.all(np.abs(z) < z_all))
    slope_sig = bool(np.any(np.abs(slope_z) > z_t))
    fits_ok = bool(np.all(~(fit_p <= 0.01)))      # NaN: two sizes, a line always fits
    missing = bool(np.any(np.abs(inf_z) > z_t))
    verdicts = {"no offset at any D (chance)": "reproduced" if chance else "not reproduced",
                "a finite-size effect": ("reproduced" if slope_sig and fits_ok else
                                         "inconclusive" if slope_sig else "not reproduced"),
                "a missing term": "reproduced" if missing else "not reproduced"}
    explanation = ("chance" if chance else "missing term" if missing else
                   "finite size" if slope_sig and fits_ok else "unresolved")
    return {"mean": mean, "se": se, "z": z, "z_limit_all": z_all, "z_limit_t": z_t, "fits": fits,
            "slope_z": slope_z, "fit_p": fit_p, "inf_z": inf_z, "verdicts": verdicts,
            "explanation": explanation}


def statements(ds) -> list[tuple[str, str, str]]:
    """Statement 1 of the module docstring: the claim; 2 and 3 are in :func:`observations`."""
    a = analysis(ds)
    worst = np.unravel_index(int(np.argmax(np.abs(a["z"]))), a["z"].shape)
    name = "no offset at any D (chance)"
    return [("the DMFT gives the simulated common mode sum_i A_i at every D (no offset beyond chance)",
             a["verdicts"][name],
             f"max |z| {abs(a['z'][worst]):.2f} (D = {int(ds.D[worst[0]])}, t = {ds.t_c.values[worst[1]]:g}); "
             f"Bonferroni limit {a['z_limit_all']:.2f} over {a['z'].size} points")]


def observations(ds) -> list[str]:
    ok, note = _report(ds)
    return note.split(" | ")


def _report(ds) -> tuple[bool, str]:
    a = analysis(ds)
    t = ds.t_c.values
    worst = np.unravel_index(int(np.argmax(np.abs(a["z"]))), a["z"].shape)
    spread = ds.common_mode.std("seed", ddof=1)
    notes = [f"{s}: {v.upper()}" for s, v in a["verdicts"].items()]
    notes.append(f"max |z| {abs(a['z'][worst]):.2f} (D = {int(ds.D[worst[0]])}, t = {t[worst[1]]:g}; "
                 f"Bonferroni limit {a['z_limit_all']:.2f} over {a['z'].size})")
    notes.append("1/D slope z by t: " + ", ".join(f"{tt:g}: {z:.2f}" for tt, z in zip(t, a["slope_z"]))
                 + f" (limit {a['z_limit_t']:.2f}); chi^2 p: " + ", ".join(f"{p:.2f}" for p in a["fit_p"]))
    notes.append("D -> inf intercept minus DMFT (z): " + ", ".join(
        f"{tt:g}: {f['a'] - d:+.4f} ({z:.2f})" for tt, f, d, z in
        zip(t, a["fits"], ds.dmft_common_mode.values, a["inf_z"])))
    notes.append("spread of sum_i A_i across datasets at t = %g: " % t[-1] + ", ".join(
        f"D = {int(d)}: {s:.4f}" for d, s in zip(ds.D.values, spread.values[:, -1])))
    notes.append(f"simulation step error max {float(ds.step_error.max()):.2g}")
    return a["explanation"] != "unresolved", f"explanation: {a['explanation']} | " + " | ".join(notes)


def plot(ds):
    import matplotlib.pyplot as plt

    from grokking_workbench.experiments import figures

    a = analysis(ds)
    n = ds.sizes["seed"]
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.4), layout="constrained")
    ax = axes[0]
    ax.plot(ds.dmft_t, ds.dmft_curve, "k-", lw=1.5, label="DMFT (D -> inf)")
    ax.fill_between(ds.dmft_t, ds.dmft_curve - 2 * ds.dmft_curve_err, ds.dmft_curve + 2 * ds.dmft_curve_err,
                    color="k", alpha=0.2, lw=0, label="DMFT +- 2 Monte-Carlo s.e.")
    for k, D in enumerate(ds.D.values):
        y = ds.common_mode_curves.isel(D=k)
        ax.errorbar(ds.record_t, y.mean("seed"), yerr=y.std("seed", ddof=1) / np.sqrt(n),
                    fmt="o", ms=2.5, label=f"simulation D = {int(D)}")
    ax.set(xlabel="gradient-flow time t", ylabel="sum_i A_i")
    ax.set_title(f"common mode, gamma = {ds.attrs['gamma']:g} (simulations: mean +- s.e. over {n} datasets)",
                 fontsize=9)
    figures.legend_below(ax)
    ax = axes[1]
    x = 1.0 / ds.D.values
    xx = np.linspace(0, x.max() * 1.05, 50)
    key = figures.ValueColours(ds.t_c.values, "plasma")
    for k, t in enumerate(ds.t_c.values):
        c = key.colour(t)
        ax.errorbar(x, a["mean"][:, k] - ds.dmft_common_mode.values[k], yerr=a["se"][:, k], fmt="o", color=c)
        f = a["fits"][k]
        ax.plot(xx, f["a"] + f["b"] * xx - ds.dmft_common_mode.values[k], "--", color=c, lw=1)
    ax.axhline(0, color="k", lw=0.8)
    ax.set(xlabel="1 / D", ylabel="offset of sum_i A_i from the DMFT")
    ax.set_title("offset against 1 / D", fontsize=10)
    key.bar(fig, ax, "comparison time t_c")
    figures.legend_below(ax, figures.style_handles(
        [(f"simulation - DMFT: mean +- s.e. over {n} datasets", dict(marker="o")),
         ("fit S_inf + b / D", dict(ls="--", lw=1))]), ncol=1)
    ax = axes[2]
    im = ax.pcolormesh(np.arange(len(ds.t_c) + 1), np.arange(len(ds.D) + 1), a["z"], cmap="RdBu_r",
                       vmin=-a["z_limit_all"], vmax=a["z_limit_all"])
    ax.set_xticks(np.arange(len(ds.t_c)) + 0.5, [f"{t:g}" for t in ds.t_c.values])
    ax.set_yticks(np.arange(len(ds.D)) + 0.5, [str(int(d)) for d in ds.D.values])
    ax.set(xlabel="comparison time t_c", ylabel="D")
    figures.wrapped_title(ax, "z of the offset from the DMFT (colour range: the Bonferroni limit)", fontsize=10)
    fig.colorbar(im, ax=ax, label="z-score")
    return fig


register(name="dmft-common-mode",
         summary="common-mode offset of sum_i A_i at gamma = 4 against D: chance, finite size, or a missing term",
         claim="DMFT paper Fig. 3: the order parameters A_i(t) of large-D networks follow the DMFT (an "
               "earlier comparison left sum_i A_i 2-3 standard errors below the DMFT at D = 2000)",
         quick=CommonModeConfig(Ds=(200, 400), seeds=6, t_max=20.0, t_late=10.0, records=15,
                                compare_times=(5.0, 10.0, 20.0), step_check_D=200, samples=1600),
         full=CommonModeConfig(), run=run, plot=plot, statements=statements,
         observations=observations, schema=SCHEMA)
