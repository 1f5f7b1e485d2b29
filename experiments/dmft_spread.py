"""The spread of grokking times at finite D, and grokking from random initial weights.

Committee machine of the DMFT paper (N = 2, alpha = 0.5, eps = 0.05). The DMFT describes D -> inf,
where every dataset follows one curve; at finite D the datasets grok at very different times (an
ensemble of 8 datasets at gamma = 8, D = 1000 had times to fall of the test loss from 110 to 1390).
Three parts, each a set of independent simulated datasets (Euler steps ``dt_sim`` to ``t_late``,
``dt_late`` after; a dataset first runs to ``t_first`` and only continues to ``t_max`` if its test
loss has not yet fallen):

A. prescribed overlaps A0 = (0.04, -0.02), C0 = I at gamma = 8 for D in ``Ds`` (``seeds_A[k]``
   datasets at ``Ds[k]``), beside the DMFT (D -> inf) from the same overlaps;
B. the same at gamma = 4 for D in ``Ds_B``, each dataset to t_max (the fraction that groks);
C. random initial weights w_i ~ N(0, I) at gamma = 8 for D in ``Ds_C``: A0 = w.beta / D is of order
   D^-1/2, and the DMFT from each dataset's own initial overlaps (A0, C0) is that dataset's
   theory (the DMFT averaged over the law of (A0, C0) at that D, sampled by the datasets' draws).

Times (``experiments._wide_curves.crossing_time``): t_test and t_train, the first times the test
and train loss fall below ``grok_fraction`` of their values at t = 0; the time to grok is
t_test - t_train (the definition of the Kumar et al. experiments); NaN when the loss never falls
before t_max.

Theory of the spread (finite-D fluctuations amplified through the escape). Before the escape the
alignment grows from a small amplitude a(t) = |A(t)| at a rate set by the dynamics; at finite D the
amplitude a_s(t0) of dataset s at an early time t0 (after the fast transient) deviates from the
DMFT's by O(D^-1/2). A dataset that enters the escape with amplitude a_s needs
(log a* - log a_s) / lambda to reach the amplitude a* where the test loss falls, so
t_test,s = const - log a_s(t0) / lambda with lambda = log(a_DMFT(t_test) / a_DMFT(t0)) /
(t_test - t0), the DMFT's mean escape rate; the spread of t_test is then SD(log a(t0)) / lambda,
with SD(log a(t0)) ~ D^-1/2.

Statements and criteria (fixed before the full configuration was run):

1. The spread of the time to grok shrinks with D (part A): the slope of log IQR(t_grok) against
   log D (IQR over datasets; datasets that never grok count as +inf) has a 95 % bootstrap
   interval below 0. Reproduced if so, not reproduced if the interval lies above 0, inconclusive
   otherwise.
2. The spread scales as D^-1/2 (fluctuations of order D^-1/2, amplified by a D-independent
   factor): the 95 % bootstrap interval of the slope of log SD(log t_test) against log D
   (part A) contains -1/2. Reproduced if it does and is narrower than 1; not reproduced if it
   excludes -1/2; inconclusive if it is wider than 1.
3. The spread is the escape's amplification of early fluctuations: regressing t_test,s on
   log a_s(t0) over all datasets of part A gives a slope within 2 standard errors of -1/lambda
   (DMFT) and a correlation with p < 0.01. Reproduced if both hold; not reproduced if the slope is
   more than 3 standard errors away or the correlation is not significant; inconclusive otherwise.
4. gamma = 4 (part B): the fraction of datasets whose test loss falls before t_max, with Wilson
   intervals, and its trend in D (Spearman rank correlation of D with the indicator, exact
   permutation p-value). Reported; the DMFT at gamma = 4 is not solved here (its solve diverges
   near t = 430, see ``dmft-grokking``), so the question "grokking or memorisation as D -> inf"
   is answered only if the fraction trends significantly (p < 0.05): towards 1 (grokking) or 0
   (memorisation); inconclusive otherwise.
5. Random initial weights (part C): (a) the time to fall of the test loss grows with D: Spearman
   correlation of D with t_test over all datasets > 0 with permutation p < 0.01; (b) the DMFT from
   each dataset's own (A0, C0) predicts its t_test: the mean paired difference t_test(sim) -
   t_test(DMFT) at each D lies within 3 standard errors (over datasets) of 0. Reproduced if (a)
   and (b) hold; not reproduced if (a) fails or (b) fails at some D.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grokking_workbench.experiments.dmft import _var
from grokking_workbench.experiments.dmft_grokking import late_step
from grokking_workbench.experiments.registry import register
from grokking_workbench.numerics.schema import Schema, Var


@dataclass(frozen=True)
class SpreadConfig:
    alpha: float = 0.5
    eps: float = 0.05
    A0: tuple[float, ...] = (0.04, -0.02)
    gamma: float = 8.0
    Ds: tuple[int, ...] = (500, 1000, 2000, 4000)
    seeds_A: tuple[int, ...] = (24, 16, 8, 4)
    gamma_B: float = 4.0
    Ds_B: tuple[int, ...] = (500, 1000, 2000)
    seeds_B: int = 8
    Ds_C: tuple[int, ...] = (500, 1000, 2000)
    seeds_C: int = 8
    t_first: float = 400.0
    t_max: float = 2000.0
    dt_sim: float = 0.1
    t_late: float = 20.0
    dt_late: float = 0.5
    records: int = 120
    t0: float = 10.0
    grok_fraction: float = 0.25
    dmft_t_max: float = 600.0
    samples: int = 8000
    samples_C: int = 2000
    output_points: int = 200


def _times(t, train, test, fraction):
    from grokking_workbench.experiments._wide_curves import crossing_time

    return crossing_time(t, train, fraction * train[0]), crossing_time(t, test, fraction * test[0])


def _simulate_dataset(c: SpreadConfig, gamma: float, D: int, seed: int, prescribed: bool, two_pass: bool):
    """One dataset: (t, train, test, A (t, i), C0, status); runs to t_first, then to t_max if its
    test loss has not fallen (two_pass), else straight to t_max."""
    from grokking_workbench.numerics.simulate.committee import CommitteeConfig, simulate

    def go(t_max):
        n_rec = max(8, int(round(c.records * np.log1p(t_max) / np.log1p(c.t_max))))
        return simulate(CommitteeConfig(
            N=len(c.A0), D=D, alpha=c.alpha, eps=c.eps, gamma=gamma, A0=tuple(c.A0) if prescribed else None,
            t_max=t_max, dt=c.dt_sim, dt_late=late_step(c.alpha, gamma, c.dt_late), t_late=min(c.t_late, t_max), seeds=1,
            seed0=seed, records=n_rec, dtype="float32", threads=1), progress=False)

    sim = go(c.t_first if two_pass else c.t_max)
    t, train, test = sim.t.values, sim.train_loss.values[0], sim.test_loss.values[0]
    if two_pass and np.isnan(_times(t, train, test, c.grok_fraction)[1]):
        sim = go(c.t_max)
    return (sim.t.values, sim.train_loss.values[0], sim.test_loss.values[0], sim.A.values[0],
            sim.C.values[0, 0], sim.attrs.get("status", "complete"))


def _dmft(c: SpreadConfig, gamma: float, A0, C0=None, samples=None, error_estimate=True):
    from grokking_workbench.numerics.dmft import solver
    from grokking_workbench.theory.generated import committee as th

    if C0 is not None:                         # float32 records: symmetrise in float64
        C0 = np.asarray(C0, dtype=float)
        C0 = 0.5 * (C0 + C0.T)
    cfg = solver.DMFTConfig(A0=tuple(float(a) for a in A0),
                            C0=None if C0 is None else tuple(tuple(float(v) for v in row) for row in C0),
                            alpha=c.alpha, eps=c.eps, gamma=gamma, t_max=c.dmft_t_max,
                            samples=samples or c.samples, error_estimate=error_estimate)
    sol = solver.solve(cfg)
    r = sol.result
    n = r.steps + 1
    t = r.grid.t[:n]
    test = th.test_loss(r.A, r.Cw_diag, c.alpha, c.eps)[:n]
    reps = [_times(t, rc["train_loss"][:n], rc["test_loss"][:n], c.grok_fraction) for rc in sol.replica_curves]
    return {"t": t, "train": r.train_loss[:n], "test": test, "A": r.A[:n], "status": sol.status,
            "t_rep": np.array(reps)}


def _tasks(c: SpreadConfig):
    """(part, gamma, D, seed, prescribed, two_pass) of every simulated dataset."""
    out = []
    for k, D in enumerate(c.Ds):
        out += [("A", c.gamma, D, 1_000_000 + 100 * D + s, True, True) for s in range(c.seeds_A[k])]
    for D in c.Ds_B:
        out += [("B", c.gamma_B, D, 2_000_000 + 100 * D + s, True, False) for s in range(c.seeds_B)]
    for D in c.Ds_C:
        out += [("C", c.gamma, D, 3_000_000 + 100 * D + s, False, True) for s in range(c.seeds_C)]
    return out


# The dataset's variables and coordinates
SCHEMA = Schema({
    "t": Var("gradient-flow time", "1", ("t",)),
    "dataset": Var("simulated dataset", "1", ("dataset",)),
    "part": Var("A: prescribed gamma = 8; B: prescribed gamma = 4; C: random weights gamma = 8",
                "1", ("dataset",)),
    "gamma": Var("P / D", "1", ("dataset",)),
    "D": Var("input dimension", "1", ("dataset",)),
    "seed": Var("seed of data and weights", "1", ("dataset",)),
    "train_loss": Var("simulated train loss", "1", ("dataset", "t")),
    "test_loss": Var("simulated population test loss", "1", ("dataset", "t")),
    "t_train": Var("time the train loss falls below grok_fraction of its initial value", "1", ("dataset",)),
    "t_test": Var("time the test loss falls below grok_fraction of its initial value", "1", ("dataset",)),
    "time_to_grok": Var("t_test - t_train (NaN: never)", "1", ("dataset",)),
    "log_a_t0": Var("log |A(t0)| at t0 = {t0:g}", "1", ("dataset",)),
    "A_init": Var("initial alignments A_i = w_i.beta / D", "1", ("dataset", "i")),
    "C_init": Var("initial overlaps C_ij = w_i.w_j / D", "1", ("dataset", "i", "j")),
    "own_dmft_t_train": Var("part C: DMFT t_train from the dataset's own (A0, C0)", "1", ("dataset",)),
    "own_dmft_t_test": Var("part C: DMFT t_test from the dataset's own (A0, C0)", "1", ("dataset",)),
    "own_dmft_t_test_se": Var("Monte-Carlo SE of own_dmft_t_test (replicas)", "1", ("dataset",)),
    "own_dmft_test_loss": Var("part C: DMFT test loss from the dataset's own (A0, C0)",
                              "1", ("dataset", "t")),
    "dmft_train_loss": Var("DMFT train loss, prescribed overlaps (part A)", "1", ("t",)),
    "dmft_test_loss": Var("DMFT test loss, prescribed overlaps (part A)", "1", ("t",)),
}, dims=("i", "j"))

def run(c: SpreadConfig):
    import xarray as xr
    from concurrent.futures import ProcessPoolExecutor

    tasks = _tasks(c)
    with ProcessPoolExecutor(max_workers=1) as pool:
        futures = [pool.submit(_simulate_dataset, c, g, D, s, pre, two) for _, g, D, s, pre, two in tasks]
        reference = _dmft(c, c.gamma, c.A0)
        results = [f.result() for f in futures]
    # the DMFT from each random dataset's own initial overlaps
    own = []
    for task, res in zip(tasks, results):
        if task[0] == "C":
            own.append(_dmft(c, c.gamma, res[3][0], res[4], samples=c.samples_C, error_estimate=False))

    t_out = np.concatenate([[0.0], np.geomspace(0.1, c.t_max, c.output_points - 1)])
    n = len(tasks)
    arr = lambda *shape: np.full(shape, np.nan)    # noqa: E731
    train, test = arr(n, len(t_out)), arr(n, len(t_out))
    t_train, t_test, log_a0 = arr(n), arr(n), arr(n)
    A_init, C_init = arr(n, len(c.A0)), arr(n, len(c.A0), len(c.A0))
    statuses = []
    for k, (t, tr, te, A, C0, status) in enumerate(results):
        inside = t_out <= t[-1]
        train[k, inside], test[k, inside] = np.interp(t_out[inside], t, tr), np.interp(t_out[inside], t, te)
        t_train[k], t_test[k] = _times(t, tr, te, c.grok_fraction)
        log_a0[k] = np.log(np.interp(c.t0, t, np.linalg.norm(A, axis=-1)))
        A_init[k], C_init[k] = A[0], C0
        statuses.append(status)
    own_t = arr(n, 2)
    own_se = arr(n)
    own_test = arr(n, len(t_out))
    j = 0
    for k, task in enumerate(tasks):
        if task[0] == "C":
            o = own[j]
            j += 1
            own_t[k] = _times(o["t"], o["train"], o["test"], c.grok_fraction)
            tt = o["t_rep"][:, 1]
            own_se[k] = np.std(tt, ddof=1) / np.sqrt(len(tt)) if np.all(np.isfinite(tt)) else np.nan
            inside = t_out <= o["t"][-1]
            own_test[k, inside] = np.interp(t_out[inside], o["t"], o["test"])
            statuses.append(o["status"])
    ref = reference
    ref_t_train, ref_t_test = _times(ref["t"], ref["train"], ref["test"], c.grok_fraction)
    a_ref = np.linalg.norm(ref["A"], axis=-1)
    rate = (np.log(np.interp(ref_t_test, ref["t"], a_ref) / np.interp(c.t0, ref["t"], a_ref))
            / (ref_t_test - c.t0))
    inside = t_out <= ref["t"][-1]
    ref_train, ref_test = arr(len(t_out)), arr(len(t_out))
    ref_train[inside] = np.interp(t_out[inside], ref["t"], ref["train"])
    ref_test[inside] = np.interp(t_out[inside], ref["t"], ref["test"])
    statuses.append(ref["status"])
    ds = xr.Dataset({
        "train_loss": _var(("dataset", "t"), train),
        "test_loss": _var(("dataset", "t"), test),
        "t_train": _var(("dataset",), t_train),
        "t_test": _var(("dataset",), t_test),
        "time_to_grok": _var(("dataset",), t_test - t_train),
        "log_a_t0": _var(("dataset",), log_a0),
        "A_init": _var(("dataset", "i"), A_init),
        "C_init": _var(("dataset", "i", "j"), C_init),
        "own_dmft_t_train": _var(("dataset",), own_t[:, 0]),
        "own_dmft_t_test": _var(("dataset",), own_t[:, 1]),
        "own_dmft_t_test_se": _var(("dataset",), own_se),
        "own_dmft_test_loss": _var(("dataset", "t"), own_test),
        "dmft_train_loss": _var(("t",), ref_train),
        "dmft_test_loss": _var(("t",), ref_test),
    }, coords={
        "t": ("t", t_out),
        "dataset": ("dataset", np.arange(n)),
        "part": ("dataset", np.array([t[0] for t in tasks])),
        "gamma": ("dataset", np.array([t[1] for t in tasks])),
        "D": ("dataset", np.array([t[2] for t in tasks])),
        "seed": ("dataset", np.array([t[3] for t in tasks])),
    })
    ds.attrs.update(dmft_t_train=ref_t_train, dmft_t_test=ref_t_test, escape_rate=rate, t0=c.t0,
                    dmft_t_max=c.dmft_t_max, t_max=c.t_max,
                    status=next((s for s in statuses if s != "complete"), "complete"))
    return SCHEMA.apply(ds, c)


def _iqr(x):
    """Interquartile range, a dataset that never groks counting as +inf (NaN if a quartile is)."""
    x = np.sort(np.where(np.isnan(x), np.inf, x))
    pos = np.array([0.25, 0.75]) * (len(x) - 1)
    lo, hi = np.floor(pos).astype(int), np.ceil(pos).astype(int)
    if not np.all(np.isfinite(x[hi])):
        return np.nan
    q = x[lo] + (pos - lo) * (x[hi] - x[lo])
    return float(q[1] - q[0])


def _sd_log(x):
    x = x[np.isfinite(x)]
    return float(np.std(np.log(x), ddof=1)) if x.size > 1 else np.nan


def _spearman(x, y):
    """Spearman's rho and its two-sided permutation p-value (``numerics.statistics.trend_test``)."""
    from grokking_workbench.numerics import statistics as st

    tr = st.trend_test(x, y)
    return tr["rho"], tr["p_two_sided"]


def statements(ds) -> list[tuple[str, str, str]]:
    from scipy.stats import linregress

    from grokking_workbench.numerics import statistics as st

    out = []
    A = ds.part.values == "A"
    Ds = np.unique(ds.D.values[A])
    grok = [ds.time_to_grok.values[A & (ds.D.values == D)] for D in Ds]
    b = st.bootstrap_slope(Ds, grok, _iqr)
    out.append(("the spread of the time to grok shrinks with D (gamma = 8)",
                st.verdict(b["high"] < 0, b["low"] > 0),
                "IQR of t_grok by D: " + ", ".join(f"{int(D)}: {v:.1f}" for D, v in zip(Ds, b["statistic"]))
                + f"; slope of log IQR on log D {b['slope']:.2f} [{b['low']:.2f}, {b['high']:.2f}]"))
    tt = [ds.t_test.values[A & (ds.D.values == D)] for D in Ds]
    b2 = st.bootstrap_slope(Ds, tt, _sd_log)
    width = b2["high"] - b2["low"]
    out.append(("the spread scales as D^-1/2",
                st.verdict(b2["low"] <= -0.5 <= b2["high"] and width < 1,
                         not (b2["low"] <= -0.5 <= b2["high"]) and np.isfinite(width)),
                "SD of log t_test by D: " + ", ".join(f"{int(D)}: {v:.3f}" for D, v in zip(Ds, b2["statistic"]))
                + f"; slope {b2['slope']:.2f} [{b2['low']:.2f}, {b2['high']:.2f}]"))
    ok = A & np.isfinite(ds.t_test.values) & np.isfinite(ds.log_a_t0.values)
    lr = linregress(ds.log_a_t0.values[ok], ds.t_test.values[ok])
    pred = -1.0 / float(ds.attrs["escape_rate"])
    dev = abs(lr.slope - pred) / lr.stderr
    sd_pred = [np.std(ds.log_a_t0.values[A & (ds.D.values == D)], ddof=1) / float(ds.attrs["escape_rate"]) for D in Ds]
    sd_meas = [np.std(ds.t_test.values[A & (ds.D.values == D) & np.isfinite(ds.t_test.values)], ddof=1) for D in Ds]
    out.append(("the spread is the escape's amplification of early fluctuations",
                st.verdict(dev < 2 and lr.pvalue < 0.01, dev > 3 or lr.pvalue >= 0.01),
                f"slope of t_test on log|A(t0)| {lr.slope:.1f} +- {lr.stderr:.1f} against -1/lambda = {pred:.1f} "
                f"(DMFT escape rate {float(ds.attrs['escape_rate']):.4f}), r = {lr.rvalue:.2f}, p = {lr.pvalue:.2g}; "
                "SD of t_test predicted / measured by D: "
                + ", ".join(f"{int(D)}: {p:.0f} / {m:.0f}" for D, p, m in zip(Ds, sd_pred, sd_meas))))
    B = ds.part.values == "B"
    if B.any():
        DB = ds.D.values[B]
        fell = np.isfinite(ds.t_test.values[B]).astype(float)
        rho, p = _spearman(DB, fell) if fell.std() > 0 else (np.nan, 1.0)
        fr = []
        for D in np.unique(DB):
            k, m = int(fell[DB == D].sum()), int((DB == D).sum())
            lo, hi = st.wilson_interval(k, m)
            fr.append(f"D = {int(D)}: {k}/{m} [{lo:.2f}, {hi:.2f}]")
        towards = "grokking" if rho > 0 else "memorisation"
        out.append((f"gamma = {float(ds.gamma.values[B][0]):g}: the fraction that groks by t = "
                    f"{float(ds.attrs['t_max']):g} trends with D",
                    "reproduced" if p < 0.05 else "inconclusive",
                    "; ".join(fr) + f"; Spearman rho {rho:.2f}, permutation p = {p:.3f}"
                    + (f" (towards {towards} as D grows)" if p < 0.05 else "")))
    C = ds.part.values == "C"
    if C.any():
        DC, tC = ds.D.values[C], ds.t_test.values[C]
        fin = np.isfinite(tC)
        rho, p = _spearman(DC[fin], tC[fin])
        diffs, parts = [], []
        bad = False
        for D in np.unique(DC):
            m = C & (ds.D.values == D) & np.isfinite(ds.t_test.values) & np.isfinite(ds.own_dmft_t_test.values)
            d = ds.t_test.values[m] - ds.own_dmft_t_test.values[m]
            if d.size > 1:
                mean, se = st.mean_se(d)
                bad |= abs(mean) > 3 * se
                n_all = int((C & (ds.D.values == D)).sum())
                parts.append(f"D = {int(D)} ({int(m.sum())} of {n_all} draws; the DMFT of the others does not "
                             f"fall before t = {float(ds.attrs['dmft_t_max']):g}): all datasets' mean t_test "
                             f"{np.nanmean(ds.t_test.values[C & (ds.D.values == D)]):.0f}; paired: "
                             f"mean t_test sim {ds.t_test.values[m].mean():.0f} (SD "
                             f"{ds.t_test.values[m].std(ddof=1):.0f}), DMFT {ds.own_dmft_t_test.values[m].mean():.0f} "
                             f"(SD {ds.own_dmft_t_test.values[m].std(ddof=1):.0f}), paired difference "
                             f"{mean:+.1f} +- {se:.1f}")
                diffs.append(d)
        grows = rho > 0 and p < 0.01
        out.append(("random weights: t_test grows with D and the DMFT from each draw predicts it",
                    st.verdict(grows and not bad and bool(diffs), not grows or bad),
                    f"Spearman(D, t_test) {rho:.2f}, p = {p:.3g}; " + "; ".join(parts)))
    return out


def claim_statements(ds) -> list[tuple[str, str, str]]:
    """The statements that make the verdict (statement 4, at gamma = 4, is an observation)."""
    return [item for item in statements(ds) if not item[0].startswith("gamma =")]


def observations(ds) -> list[str]:
    return [f"{s}: {v} ({e})" for s, v, e in statements(ds) if s.startswith("gamma =")]


def plot(ds):
    import matplotlib.pyplot as plt

    from grokking_workbench.experiments import figures

    fig, axes = plt.subplots(2, 2, figsize=(14.5, 9.5), layout="constrained")
    key = figures.ValueColours(np.unique(ds.D.values))
    for ax, part, title in ((axes[0, 0], "A", "prescribed overlaps, gamma = 8"),
                            (axes[0, 1], "B", "prescribed overlaps, gamma = 4"),
                            (axes[1, 0], "C", "random initial weights, gamma = 8")):
        sel = ds.part.values == part
        for D in np.unique(ds.D.values[sel]):
            colour = key.colour(D)
            for k in np.nonzero(sel & (ds.D.values == D))[0]:
                ax.plot(ds.t[1:], ds.test_loss.values[k, 1:], "-", color=colour, lw=0.7, alpha=0.6)
                if part == "C" and np.isfinite(ds.own_dmft_test_loss.values[k]).any():
                    ax.plot(ds.t[1:], ds.own_dmft_test_loss.values[k, 1:], ":", color=colour, lw=0.9)
        entries = [("simulation (one line per dataset)", dict(lw=0.7))]
        if part == "A":
            ax.plot(ds.t[1:], ds.dmft_test_loss[1:], "k-", lw=2)
            entries.append(("DMFT (D -> inf)", dict(lw=2)))
        if part == "C":
            entries.append(("DMFT from the dataset's own (A0, C0)", dict(ls=":", lw=0.9)))
        ax.set(xscale="log", xlabel="gradient-flow time t", ylabel="test loss")
        ax.set_title(f"test loss per dataset: {title}", fontsize=10)
        figures.style_legend(ax, entries, loc="lower left" if part == "A" else "upper left", fontsize=8)
    ax = axes[1, 1]
    A = ds.part.values == "A"
    ax.scatter(ds.log_a_t0.values[A], ds.t_test.values[A], c=[key.colour(D) for D in ds.D.values[A]], s=18)
    key.bar(fig, list(axes.ravel()), "D (colour of every panel)", shrink=0.6)
    x = np.linspace(np.nanmin(ds.log_a_t0.values[A]), np.nanmax(ds.log_a_t0.values[A]), 20)
    ok = A & np.isfinite(ds.t_test.values)
    a_ref = np.nanmean(ds.log_a_t0.values[ok])
    ax.plot(x, np.nanmean(ds.t_test.values[ok]) - (x - a_ref) / float(ds.attrs["escape_rate"]), "k--")
    ax.set(xlabel=f"log |A(t0)|, t0 = {float(ds.attrs['t0']):g}",
           ylabel="t_test (first fall of the test loss)")
    figures.wrapped_title(ax, "gamma = 8, prescribed overlaps: fall of the test loss against the early amplitude",
                          fontsize=10)
    figures.style_legend(ax, [("simulation (one point per dataset)", dict(marker="o", ms=4)),
                              ("escape theory: slope -1/lambda (DMFT)", dict(ls="--"))], fontsize=8)
    return fig


register(name="dmft-spread",
         summary="spread of grokking times over D (500-4000) and grokking from random weights, against the DMFT",
         claim="DMFT paper Figs. 1-2: large-D networks follow the DMFT; at finite D the datasets grok at different "
               "times (spread ~ D^-1/2 by the escape's amplification of finite-D fluctuations), and from random "
               "weights the escape is a finite-D effect whose time grows with D",
         quick=SpreadConfig(Ds=(150, 300), seeds_A=(4, 4), Ds_B=(150,), seeds_B=2, Ds_C=(150, 300), seeds_C=2,
                            t_first=100.0, t_max=150.0, records=30, dmft_t_max=120.0, samples=800, samples_C=400,
                            output_points=50),
         full=SpreadConfig(), run=run, plot=plot, statements=claim_statements,
         observations=observations, schema=SCHEMA)
