"""The DMFT over a grid of gamma x alpha: when the train and the test loss fall (DMFT paper Sec. 2).

Each cell (gamma, alpha) is one finite-gamma DMFT solve (``numerics.dmft.solver``, its defaults:
the non-uniform second-order grid, 8000 paths in 4 replicas, a step-halving partner) in the DMFT
paper's setting of ``dmft-grokking`` (N = 2, eps = 0.05, A0 = (0.04, -0.02), C0 = I; the
online limit gamma = inf, which has no sampling error, with 32 paths as there). The cells run as
tasks of the sweep layer (``numerics.sweep``, one cell per task): ``grokking run dmft-grid
[--workers N | --scheduler ADDRESS]`` runs them in this process, on a LocalCluster or on an
existing dask cluster; every finished cell is written at once under ``cells/`` beside the dataset
(keyed by the configuration without the grid, so a grid extended by more values reuses the cells
it shares), and a rerun skips it.

Each cell runs to t_max(alpha) = min(t_max, alpha_time_scale / alpha) (the dynamics run faster at
larger alpha and the step limit of the default grid shrinks like 1 / alpha, as in ``dmft-grokking``).

Per cell (definitions):

- ``t_train``, ``t_test``: the first times the train and the test loss fall below ``grok_fraction``
  (1/4) of their values at t = 0, by ``dmft_grokking.fall_times`` (the time-to-grok definition of
  ``dmft-grokking``: linear interpolation between nodes). +inf: the solve reached its t_max and the
  loss never fell that far; NaN: the solve stopped (diverged) before the loss fell, so the data
  cannot say.
- ``delay_ratio`` = t_test / t_train and ``time_to_grok`` = t_test - t_train (the quantity
  ``dmft-grokking`` calls the time to grok).
- Errors. ``*_mc``: the Monte-Carlo standard error, the spread (ddof = 1, over sqrt(4)) of the same
  quantity computed from each replica's own curves (stored per replica: ``*_replica``); NaN when a
  replica's value is not finite. ``*_disc``: the discretisation error propagated to the crossing
  time by crossing the curves shifted by their step-halving error estimate (``*_disc`` of the
  solver): max(|t(L + E) - t(L)|, |t(L - E) - t(L)|) (inf when L + E never crosses by t_max, i.e.
  the error cannot be bounded); for the ratio and the difference the worst pairing of the shifted
  times (t_test(L + E) with t_train(L - E) and the reverse), a bound that treats the two errors as
  opposite.
- ``train_loss_at``, ``test_loss_at``: the losses at a few fixed times (``loss_times``, NaN past
  the cell's t_max) with their ``_mc`` and ``_disc`` errors; ``max_abs_gap`` = max_t |L_test -
  L_train| on the solver's nodes and its error (the Monte-Carlo and discretisation errors of both
  losses at that node in quadrature).
- Curves: ``train_loss``, ``test_loss`` and their ``_mc``, ``_disc`` errors, linearly interpolated
  from each cell's own grid (the step limit differs per cell) onto one common time axis, t = 0 and
  ``output_points - 1`` log-spaced times from 0.05 to t_max; NaN past the cell's t_max.
- ``solve_seconds`` (wall time of the solve), ``t_reached`` (where the solve stopped),
  ``disc_unknown_from`` (the first time at which the step-halving partner had diverged, so that the
  discretisation error is unknown (inf) from there; NaN when it did not). A solve that diverges
  is recorded with cell status ``diverged`` and the solver's message; its values up to the
  divergence are kept.

The paper's claims, and the criteria (written before the full configuration was run). Every
trend is tested on the replicas' values by ``numerics.statistics.trend_test`` (Spearman's rho,
permutation p, one-sided in the claimed direction; "never by t_max" = +inf ranks highest) at a
family-wise error of 5 % over the lines of the statement (Bonferroni), and its steps by
z = step / sigma, with sigma the paired Monte-Carlo SE of the step over replicas (the replicas of
different cells share their seeds) and the two cells' discretisation errors in quadrature
(a step from a finite value to +inf counts as a rise; from +inf to +inf as undecided). A line is
reproduced when the trend is significant, the total change (last level against the first)
exceeds the two-sided Bonferroni limit over the line's steps, and no step is reversed beyond that
limit; not reproduced when the trend is significant the other way or a step or the total change
is reversed beyond the limit; otherwise inconclusive (also when a cell has no value because its
solve stopped first). A statement is reproduced when every line is, not reproduced when one is.

1. "grokking happens in a data regime where we don't have too much data ... a gap between test
   and train can emerge as gamma becomes smaller" (Sec. 4; Fig. 2a): at every alpha the delay
   ratio t_test / t_train rises as gamma falls (levels gamma = inf, 32, 16, 8).
2. "this test-train gap (i.e., time to grok) is increasing in alpha" (Fig. 1 caption); "making
   alpha bigger ... causes a gap to emerge between the train and test loss" (Fig. 2b): at every
   finite gamma the time to grok t_test - t_train rises with alpha. The paper does not say that
   the test loss falls later at larger alpha: by its eq. 20 both losses begin to fall at
   t ~ (2 / (3 eps)) ln(1 / (alpha A0)), earlier at larger alpha ("the small alpha experiments
   train more slowly"). How t_test itself moves with alpha is reported as an observation.
3. "grokking cannot happen in the online limit gamma -> inf because train loss tracks test loss"
   (Sec. 4, App. A.1): at every alpha the gamma = inf cell has max_t |L_test - L_train| < 1e-9
   (train loss equal to test loss) and t_test / t_train within 2 errors (Monte-Carlo and
   discretisation in quadrature, or 1e-9) of 1. Reproduced when every alpha's cell meets both;
   not reproduced when one misses either; inconclusive when a cell has no finite crossing.

Choice of t_max and cost. t_max = 250 (125 at alpha = 2) was chosen from ``dmft-grokking``, where
the slowest fall of the test loss at gamma >= 8 is t = 145 (gamma = 8, alpha = 0.5; 73 at
alpha = 2), and from two timed cells: (gamma, alpha) = (8, 2) to t = 125 (942 nodes) took 110
CPU-s and (8, 0.5) to t = 100 (236 nodes) 23 CPU-s on this 2-core machine while it was busy with
other jobs. The default step limit 1/(2 alpha (1 + gamma^-1/2)^2) gives 246 (alpha = 0.25, gamma = 32) to
956 (alpha = 1, gamma = 8) nodes per cell. The full run (16 cells, 7,168 nodes at finite gamma, in
one process: ``--workers 1``) took 237 CPU-s and 645 s wall beside two other jobs (largest cell
110 s wall); the test loss fell in every cell, at most at 0.56 t_max (t = 140, gamma = 8,
alpha = 0.5).

A caveat on the Monte-Carlo error of a crossing time: the replicas' curves (2000 paths each) are
noisier than their average, and the first crossing of a noisy curve comes early, so the replicas'
spread describes the noise of the crossing but their mean sits slightly before the average
curve's crossing; the central values are those of the average curve.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from grokking_workbench.experiments.dmft import INF
from grokking_workbench.experiments.dmft_grokking import GrokkingConfig, fall_times
from grokking_workbench.experiments.registry import register
from grokking_workbench.numerics import statistics as st
from grokking_workbench.numerics.dmft.solver import REPLICAS
from grokking_workbench.numerics.schema import Schema, Var
from grokking_workbench.numerics.sweep.engine import CELLS

GAP_TOLERANCE = 1e-9   # statement 3: |L_test - L_train| and |t_test / t_train - 1| of the online limit

_PAPER = GrokkingConfig()   # the DMFT paper's setting, defined once in dmft-grokking


@dataclass(frozen=True)
class GridConfig:
    """The grid (``gammas`` x ``alphas``) and what every cell shares: the model (``eps``, ``A0``;
    C0 = I), the final time (``t_max``, at most ``alpha_time_scale / alpha``), the solver's
    Monte-Carlo paths (``samples`` over ``replicas``; ``online_samples`` at gamma = inf) and
    ``seed``, the threshold ``grok_fraction``, the fixed times of ``*_loss_at`` and the points of
    the common time axis of the stored curves."""

    gammas: tuple[float, ...] = (INF, 32.0, 16.0, 8.0)
    alphas: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)
    eps: float = _PAPER.eps
    A0: tuple[float, ...] = _PAPER.A0
    t_max: float = 250.0
    alpha_time_scale: float = 250.0
    samples: int = _PAPER.samples
    replicas: int = REPLICAS
    online_samples: int = 32
    seed: int = 0
    grok_fraction: float = _PAPER.grok_fraction
    loss_times: tuple[float, ...] = (10.0, 30.0, 60.0, 120.0)
    output_points: int = 120


def cell_t_max(config: GridConfig, alpha: float) -> float:
    """The final time of the cells at ``alpha``: min(t_max, alpha_time_scale / alpha)."""
    return min(config.t_max, config.alpha_time_scale / alpha)


def dmft_config(config: GridConfig, gamma: float, alpha: float):
    """The solver configuration of cell (gamma, alpha) (the solver's defaults otherwise)."""
    from grokking_workbench.numerics.dmft import solver

    samples = config.samples if math.isfinite(gamma) else config.online_samples
    return solver.DMFTConfig(A0=tuple(config.A0), alpha=alpha, eps=config.eps, gamma=gamma,
                             t_max=cell_t_max(config, alpha), samples=samples, replicas=config.replicas,
                             seed=config.seed)


def common_times(config: GridConfig) -> np.ndarray:
    """The common time axis of the stored curves: 0 and log-spaced times from 0.05 to t_max."""
    return np.concatenate([[0.0], np.geomspace(0.05, config.t_max, config.output_points - 1)])


def solve(config: GridConfig, gamma: float, alpha: float):
    """The DMFT solve of one cell; the two-time fields, which this experiment does not use, are
    kept only at the end nodes and then dropped (the one-time results are the same)."""
    from grokking_workbench.numerics.dmft import solver

    sol = solver.solve(dmft_config(config, gamma, alpha), two_time_points=2)
    if sol.result is not None:
        sol.result.fields = None
    return sol


# ----------------------------------------------------------------------------- one cell
def _censor(value: float, complete: bool) -> float:
    """A crossing time: NaN (never on the curve) becomes +inf when the curve reached t_max."""
    return math.inf if (math.isnan(value) and complete) else float(value)


def _ratio(a: float, b: float) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(a) / np.float64(b))


def _difference(a: float, b: float) -> float:
    return float(a - b) if not (np.isinf(a) and np.isinf(b)) else math.nan


def _se(values) -> float:
    """Standard error over replicas (ddof = 1), NaN unless every value is finite."""
    v = np.asarray(values, dtype=float)
    if v.size < 2 or not np.all(np.isfinite(v)):
        return math.nan
    return float(v.std(ddof=1) / math.sqrt(v.size))


def _spread(central: float, shifted) -> float:
    """max |shifted - central| (inf if a shifted value is not finite); NaN if central is not."""
    if not math.isfinite(central):
        return math.nan
    s = np.asarray(shifted, dtype=float)
    if np.any(np.isnan(s)):
        return math.nan
    return float(np.max(np.abs(s - central)))


def summarise(config: GridConfig, sol) -> dict:
    """The stored values of one cell from its solution (module docstring)."""
    from grokking_workbench.theory.generated import committee as th

    res, cfg = sol.result, sol.config
    f = config.grok_fraction
    n = res.steps + 1
    t = res.grid.t[:n]
    complete = n == res.grid.T + 1
    train = res.train_loss[:n]
    test = th.test_loss(res.A, res.Cw_diag, cfg.alpha, cfg.eps)[:n]
    e = sol.errors
    zeros = np.zeros(n)
    err = {(name, kind): np.asarray(e.get(f"{name}_{kind}", zeros), dtype=float)[:n]
           for name in ("train_loss", "test_loss") for kind in ("mc", "disc")}
    curves = {"train_loss": train, "test_loss": test}

    def crossings(tr_curve, te_curve):
        a, b = fall_times(t, tr_curve, te_curve, f)
        return _censor(a, complete), _censor(b, complete)

    t_train, t_test = crossings(train, test)
    reps = np.array([crossings(r["train_loss"][:n], r["test_loss"][:n]) for r in sol.replica_curves])
    reps = reps.reshape(-1, 2)
    # the curves shifted by their discretisation error: up crosses later, down earlier
    d_tr, d_te = err["train_loss", "disc"], err["test_loss", "disc"]
    up = crossings(train + d_tr, test + d_te)
    down = crossings(train - d_tr, test - d_te)
    out = {"t_max": cell_t_max(config, cfg.alpha), "t_reached": float(t[-1]),
           "t_train": t_train, "t_test": t_test,
           "t_train_replica": reps[:, 0], "t_test_replica": reps[:, 1],
           "t_train_mc": _se(reps[:, 0]), "t_test_mc": _se(reps[:, 1]),
           "t_train_disc": _spread(t_train, [up[0], down[0]]),
           "t_test_disc": _spread(t_test, [up[1], down[1]])}
    for name, op in (("delay_ratio", _ratio), ("time_to_grok", _difference)):
        central = op(t_test, t_train)
        out[name] = central
        out[name + "_mc"] = _se([op(b, a) for a, b in reps])
        out[name + "_disc"] = _spread(central, [op(up[1], down[0]), op(down[1], up[0])])
    # the losses at fixed times and on the common axis (NaN past the solve's end)
    axis = common_times(config)
    for name, curve in curves.items():
        for suffix, values in (("", curve), ("_mc", err[name, "mc"]), ("_disc", err[name, "disc"])):
            out[f"{name}_at{suffix}"] = [float(x) for x in st.on_times(config.loss_times, t, values)]
            out[f"{name}{suffix}"] = st.on_times(axis, t, values)
    gap = np.abs(test - train)
    i = int(np.nanargmax(gap)) if np.isfinite(gap).any() else 0
    out["max_abs_gap"] = float(gap[i])
    out["max_abs_gap_err"] = float(math.sqrt(sum(err[k][i] ** 2 for k in err)))
    broken = np.flatnonzero(~np.isfinite(d_tr) | ~np.isfinite(d_te))
    out["disc_unknown_from"] = float(t[broken[0]]) if broken.size else math.nan
    out["solve_seconds"] = float(sol.seconds)
    if sol.status.startswith("diverged"):
        out.update(status="diverged", message=sol.status)
    elif not sol.status.startswith("complete"):
        out.update(status=sol.status.split(":")[0].split(" ")[0], message=sol.status)
    return {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in out.items()}


def run_block(config: GridConfig, cells: list[dict]) -> list[dict]:
    """The sweep layer's block function: one DMFT solve per cell. An interrupted solve raises
    KeyboardInterrupt, so that its cell is not recorded as finished and a rerun computes it."""
    out = []
    for cell in cells:
        sol = solve(config, float(cell["gamma"]), float(cell["alpha"]))
        if sol.result is None or sol.status.startswith("interrupted"):
            raise KeyboardInterrupt(sol.status)
        out.append(summarise(config, sol))
    return out


# ----------------------------------------------------------------------------- the dataset
_GRID = ("gamma", "alpha")
_FALL = ("first time the {} loss falls below {{grok_fraction:g}} of its value at t = 0 (inf: not by the "
         "cell's t_max; NaN: the solve stopped first)")
_MC = "Monte-Carlo standard error of {} (replicas' own curves)"
_DISC = "discretisation error of {} (crossings of the curves shifted by their step-halving error)"
_SCALARS = {
    "t_max": "final time of the cell's solve, min(t_max, alpha_time_scale / alpha)",
    "t_reached": "time the solve reached (t_max unless it diverged)",
    "t_train": _FALL.format("train"),
    "t_test": _FALL.format("test"),
    "delay_ratio": "delay ratio t_test / t_train",
    "time_to_grok": "time to grok t_test - t_train",
    "max_abs_gap": "max_t |L_test - L_train| over the solver's nodes",
    "max_abs_gap_err": "error of max_abs_gap (Monte-Carlo and discretisation errors of both losses in quadrature)",
    "disc_unknown_from": "time from which the discretisation error is unknown (the step-halving partner "
                         "diverged; NaN: it did not)",
    "solve_seconds": "wall time of the DMFT solve",
}
for _name in ("t_train", "t_test", "delay_ratio", "time_to_grok"):
    _SCALARS[_name + "_mc"] = _MC.format(_name)
    _SCALARS[_name + "_disc"] = _DISC.format(_name)
_UNITS = {"solve_seconds": "s"}
_REPLICA = {"t_train_replica": _FALL.format("train") + ", per replica",
            "t_test_replica": _FALL.format("test") + ", per replica"}
_LOSSES = {}
for _name, _what in (("train_loss", "DMFT train loss"), ("test_loss", "DMFT test loss (closed form at A, C)")):
    for _suffix, _text in (("", "{}"), ("_mc", "Monte-Carlo standard error of the {}"),
                           ("_disc", "discretisation error (step halving) of the {}")):
        _LOSSES[_name + _suffix] = (_text.format(_what) + ", interpolated onto the common time axis", "t")
        _LOSSES[f"{_name}_at{_suffix}"] = (_text.format(_what) + " at fixed times", "t_at")

SCHEMA = Schema({
    "gamma": Var("P / D (inf: the online limit)", "1", ("gamma",)),
    "alpha": Var("output scale alpha (laziness)", "1", ("alpha",)),
    "replica": Var("independent DMFT replica (Monte-Carlo error)", "1", ("replica",)),
    "t": Var("gradient-flow time (common log-spaced axis; each cell's curves interpolated from its grid)",
             "1", ("t",)),
    "t_at": Var("gradient-flow time of the fixed-time losses", "1", ("t_at",)),
    **{name: Var(text, _UNITS.get(name, "1"), _GRID) for name, text in _SCALARS.items()},
    **{name: Var(text, "1", _GRID + ("replica",)) for name, text in _REPLICA.items()},
    **{name: Var(text, "1", _GRID + (dim,)) for name, (text, dim) in _LOSSES.items()},
    **{name: var.on(*_GRID) for name, var in CELLS.items()},
})


def grid_sweep(config: GridConfig):
    """The grid as a :class:`~numerics.sweep.Sweep` (one cell per task); the cells are keyed by
    the configuration without the grid."""
    from grokking_workbench.numerics.sweep import Sweep, Variable

    def declared(name, dims=()):
        attrs = SCHEMA.attrs(name, config)
        return Variable(attrs["long_name"], attrs["units"], dims)

    variables = {name: declared(name) for name in _SCALARS}
    variables.update({name: declared(name, ("replica",)) for name in _REPLICA})
    variables.update({name: declared(name, (dim,)) for name, (_, dim) in _LOSSES.items()})
    return Sweep(name="dmft-grid", dims={"gamma": list(config.gammas), "alpha": list(config.alphas)},
                 run_block=run_block, config=dataclasses.replace(config, gammas=(), alphas=()),
                 variables=variables, block_size=1,
                 coords={"gamma": declared("gamma"), "alpha": declared("alpha")},
                 extra_coords={"replica": (list(range(config.replicas)), declared("replica")),
                               "t": (common_times(config), declared("t")),
                               "t_at": (list(config.loss_times), declared("t_at"))})


def run(config: GridConfig):
    """Every cell as a task of the sweep layer (module docstring)."""
    from grokking_workbench.numerics import sweep

    ds = sweep.run(grid_sweep(config))
    ds.attrs["grok_fraction"] = config.grok_fraction
    ds.attrs["definition"] = (f"t_train, t_test: first times the train, test loss fall below {config.grok_fraction:g} "
                              "of their values at t = 0 (dmft_grokking.fall_times); delay_ratio = t_test / t_train, "
                              "time_to_grok = t_test - t_train")
    ds.attrs["cpu_seconds"] = round(float(np.nansum(ds.cell_seconds.values)), 1)
    return SCHEMA.apply(ds, config)


# ----------------------------------------------------------------------------- statements
def _rises(x, central, replicas, disc, family_error: float) -> dict:
    """Does ``central`` rise with ``x`` (criteria of the module docstring)? ``replicas``: the
    replicas' values per level (levels, replicas), ``disc``: discretisation error per level."""
    order = np.argsort(np.asarray(x, dtype=float))
    x = np.asarray(x, dtype=float)[order]
    c = np.asarray(central, dtype=float)[order]
    r = np.asarray(replicas, dtype=float)[order]
    d = np.asarray(disc, dtype=float)[order]
    trend = st.trend_test(np.repeat(x, r.shape[1]), r.ravel(), increasing=True)

    def z(a: int, b: int) -> float:
        with np.errstate(invalid="ignore"):
            step, diff = c[b] - c[a], r[b] - r[a]
        if np.isnan(step):
            return math.nan
        if np.isinf(step):
            return float(step)
        se = _se(diff) if np.all(np.isfinite(diff)) else math.nan
        sigma = math.sqrt(se ** 2 + d[a] ** 2 + d[b] ** 2)
        if sigma == 0:
            return math.copysign(math.inf, step) if step else 0.0
        return step / sigma

    steps = [z(k, k + 1) for k in range(len(c) - 1)]
    total = z(0, len(c) - 1)
    limit = st.bonferroni_z(max(len(steps), 1), family_error)
    missing = bool(np.any(np.isnan(c)))
    reversed_ = [k for k, v in enumerate(steps) if v <= -limit]
    ok = (not missing and trend["p"] < family_error and total >= limit and not reversed_)
    bad = trend["p_opposite"] < family_error or bool(reversed_) or total <= -limit
    return {"verdict": st.verdict(ok, bad), "rho": trend["rho"], "p": trend["p"], "steps": steps,
            "total": total, "limit": limit, "missing": missing}


def _fmt(v: float, e: float, why: str = "no value") -> str:
    if np.isnan(v):
        return why
    if np.isinf(v):
        return "never"
    return f"{v:.3g}" + (f" +- {e:.2g}" if np.isfinite(e) else " +- ?")


def _why(ds) -> np.ndarray:
    """Why a delay has no value, per cell: neither loss falls by t_max, or the solve stopped."""
    both = np.isinf(ds.t_train.values) & np.isinf(ds.t_test.values)
    return np.where(both, "neither falls by t_max", "no value (the solve stopped first)")


def _line(label: str, values, errors, r: dict, why) -> str:
    text = f"{label}: " + ", ".join(_fmt(v, e, w) for v, e, w in zip(values, errors, why))
    steps = ", ".join(f"{s:+.1f}" for s in r["steps"])
    return (text + f" (rho {r['rho']:+.2f}, p = {r['p']:.2g}; step z {steps}, total z {r['total']:+.1f}, "
            f"limit {r['limit']:.2f}" + ("; a cell has no value: inconclusive" if r["missing"] else "") + ")")


def _total_error(ds, name):
    return np.hypot(ds[name + "_mc"].values, ds[name + "_disc"].values)


def statements(ds) -> list[tuple[str, str, str]]:
    """(statement, verdict, evidence) of the three statements of the module docstring."""
    out = []
    gammas, alphas = ds.gamma.values, ds.alpha.values
    # 1. the delay ratio rises as gamma falls, at every alpha
    inv = np.where(np.isinf(gammas), 0.0, 1.0 / gammas)
    order = np.argsort(inv)
    lines, verdicts = [], []
    for a in alphas:
        one = ds.sel(alpha=a)
        with np.errstate(invalid="ignore", divide="ignore"):
            reps = one.t_test_replica.values / one.t_train_replica.values
        r = _rises(inv, one.delay_ratio.values, reps, one.delay_ratio_disc.values, st.FAMILY_ERROR / len(alphas))
        verdicts.append(r["verdict"])
        err = _total_error(one, "delay_ratio")
        lines.append(_line(f"alpha = {a:g} (gamma = {', '.join(f'{g:g}' for g in gammas[order])})",
                           one.delay_ratio.values[order], err[order], r, _why(one)[order]))
    out.append(("Sec. 4, Fig. 2a: a gap between test and train emerges as gamma becomes smaller: at every alpha "
                "the delay t_test / t_train rises as gamma falls",
                st.verdict(all(v == st.REPRODUCED for v in verdicts), st.NOT_REPRODUCED in verdicts),
                "; ".join(lines)))
    # 2. the time to grok rises with alpha, at every finite gamma
    finite = [g for g in gammas if np.isfinite(g)]
    lines, verdicts = [], []
    for g in finite:
        one = ds.sel(gamma=g)
        with np.errstate(invalid="ignore"):
            reps = one.t_test_replica.values - one.t_train_replica.values
        r = _rises(alphas, one.time_to_grok.values, reps, one.time_to_grok_disc.values,
                   st.FAMILY_ERROR / max(len(finite), 1))
        verdicts.append(r["verdict"])
        by = np.argsort(alphas)
        lines.append(_line(f"gamma = {g:g} (alpha = {', '.join(f'{a:g}' for a in alphas[by])})",
                           one.time_to_grok.values[by], _total_error(one, "time_to_grok")[by], r, _why(one)[by]))
    out.append(("Fig. 1 caption, Fig. 2b: the time to grok t_test - t_train is increasing in alpha, at every finite gamma",
                st.verdict(bool(verdicts) and all(v == st.REPRODUCED for v in verdicts),
                           st.NOT_REPRODUCED in verdicts),
                "; ".join(lines) if lines else "no finite gamma in the grid"))
    # 3. no gap in the online limit
    if not np.isinf(gammas).any():
        out.append(("Sec. 4, App. A.1: no gap in the online limit gamma = inf", st.INCONCLUSIVE,
                    "the grid has no gamma = inf"))
        return out
    online = ds.sel(gamma=np.inf)
    oks, bads, parts = [], [], []
    for a in alphas:
        one = online.sel(alpha=a)
        gap = float(one.max_abs_gap)
        ratio = float(one.delay_ratio)
        err = float(np.hypot(np.nan_to_num(float(one.delay_ratio_mc)), float(one.delay_ratio_disc)))
        same = gap < GAP_TOLERANCE
        if not np.isfinite(ratio):
            within, known = False, False
        else:
            within, known = abs(ratio - 1) <= max(2 * err, GAP_TOLERANCE), True
        oks.append(same and within)
        bads.append((not same) or (known and not within))
        parts.append(f"alpha = {a:g}: max |L_test - L_train| = {gap:.2g}, t_test / t_train = "
                     f"{_fmt(ratio, err, str(_why(one)))}" + (f" (t_test = {float(one.t_test):.4g})" if known else ""))
    out.append(("Sec. 4, App. A.1: \"grokking cannot happen in the online limit gamma -> inf because train loss "
                "tracks test loss\": at every alpha the gamma = inf cell has no gap",
                st.verdict(all(oks), any(bads)), "; ".join(parts)))
    return out


def observations(ds) -> list[str]:
    out = []
    status = ds.cell_status.values
    bad = [(g, a, str(ds.cell_message.values[i, j])) for (i, j), s in np.ndenumerate(status) if s != "ok"
           for g, a in [(ds.gamma.values[i], ds.alpha.values[j])]]
    out.append(f"cells not ok: {len(bad)} of {status.size}" + "".join(f"; gamma = {g:g}, alpha = {a:g}: {m}"
                                                                     for g, a, m in bad))
    for g in ds.gamma.values:
        one = ds.sel(gamma=g)
        out.append(f"t_test by alpha at gamma = {g:g}: " + ", ".join(
            f"{a:g}: {_fmt(v, e)}" for a, v, e in zip(ds.alpha.values, one.t_test.values,
                                                       _total_error(one, "t_test"))))
    frac = ds.t_test / ds.t_max
    if np.isfinite(frac).any():
        out.append(f"largest t_test / t_max: {float(frac.where(np.isfinite(frac)).max()):.2f}; "
                   f"cells whose test loss did not fall by t_max: {int(np.isinf(ds.t_test.values).sum())}")
    if "cpu_seconds" in ds.attrs:
        out.append(f"solve time {float(np.nansum(ds.solve_seconds.values)):.0f} s in all, "
                   f"largest cell {float(np.nanmax(ds.solve_seconds.values)):.0f} s")
    return out


# ----------------------------------------------------------------------------- figure
def plot(ds):
    import matplotlib.pyplot as plt
    from matplotlib import colors, ticker

    from grokking_workbench.experiments import figures

    gammas, alphas = ds.gamma.values, ds.alpha.values
    finite = gammas[np.isfinite(gammas)]
    x_inf = 2.0 * float(finite.max()) if finite.size else 1.0
    xpos = np.where(np.isinf(gammas), x_inf, gammas)
    shades = figures.ValueColours(alphas)
    fig, axes = plt.subplots(1, 3, figsize=(16.5, 5.0), layout="constrained")
    never = False

    # (a) t_train and t_test against gamma, one colour per alpha
    ax = axes[0]
    order = np.argsort(xpos)
    for a in alphas:
        one = ds.sel(alpha=a)
        colour = shades.colour(a)
        for name, style in (("t_test", dict(ls="-", marker="o")), ("t_train", dict(ls="--", marker="s", mfc="white"))):
            y = one[name].values[order]
            err = _total_error(one, name)[order]
            ok = np.isfinite(y)
            ax.errorbar(xpos[order][ok], y[ok], yerr=np.where(np.isfinite(err[ok]), err[ok], 0.0),
                        color=colour, ms=4, capsize=2, lw=1.2, **style)
            if np.isinf(y).any():
                never = True
                ax.plot(xpos[order][np.isinf(y)], one.t_max.values[order][np.isinf(y)], "^", color=colour, ms=6)
    ax.set(xscale="log", yscale="log", xlabel="gamma = P / D (rightmost: inf, the online limit)",
           ylabel=f"time t at which the loss falls below {ds.attrs.get('grok_fraction', 0.25):g} of its initial value")
    ax.set_xticks(xpos[order], [("inf" if np.isinf(g) else f"{g:g}") for g in gammas[order]])
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    figures.wrapped_title(ax, "when the train and the test loss fall (DMFT, error bars: Monte-Carlo and "
                              "discretisation errors in quadrature)")
    entries = [("test loss: t_test", dict(ls="-", marker="o", ms=4)),
               ("train loss: t_train", dict(ls="--", marker="s", ms=4, mfc="white"))]
    if never:
        entries.append(("does not fall by t_max (drawn at t_max)", dict(marker="^", ms=6)))
    figures.style_legend(ax, entries, loc="best")

    # (b) heat map of the delay ratio
    ax = axes[1]
    rows = np.argsort(-xpos)            # inf on top
    ratio = ds.delay_ratio.values[rows]
    shown = np.ma.masked_invalid(np.where(np.isfinite(ratio) & (ratio > 0), ratio, np.nan))
    lo = float(shown.min()) if shown.count() else 1.0
    hi = float(shown.max()) if shown.count() else 2.0
    im = ax.imshow(shown, cmap="viridis", aspect="auto",
                   norm=colors.LogNorm(max(min(lo, 1.0), 1e-3), max(hi, 1.01 * max(lo, 1.0))))
    status = ds.cell_status.values[rows]
    why = _why(ds)[rows]
    for (i, j), v in np.ndenumerate(ratio):
        text = (f"{v:.3g}" if np.isfinite(v) else "test loss does\nnot fall by t_max" if np.isinf(v)
                else str(status[i, j]) if status[i, j] != "ok" else figures.wrapped(str(why[i, j]), 16))
        dark = np.isfinite(v) and v > 0 and im.norm(v) < 0.6     # light text on the dark end of viridis
        ax.text(j, i, text, ha="center", va="center", fontsize=8, color="w" if dark else "k")
    ax.set(xticks=range(len(alphas)), xticklabels=[f"{a:g}" for a in alphas], yticks=range(len(gammas)),
           yticklabels=[("inf" if np.isinf(g) else f"{g:g}") for g in gammas[rows]],
           xlabel="alpha (laziness)", ylabel="gamma = P / D")
    bar = fig.colorbar(im, ax=ax, label="delay ratio t_test / t_train")
    bar.locator = ticker.LogLocator(subs=(1.0, 2.0, 5.0))
    bar.formatter = ticker.FormatStrFormatter("%g")
    bar.ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    bar.update_ticks()
    figures.wrapped_title(ax, "delay ratio t_test / t_train (1: no gap)")

    # (c) the curves at the smallest gamma, relative to their initial values
    ax = axes[2]
    g = float(finite.min()) if finite.size else float(gammas[0])
    one = ds.sel(gamma=g)
    t = ds.t.values
    for a in alphas:
        colour = shades.colour(a)
        for name, style in (("test_loss", figures.TEST), ("train_loss", figures.TRAIN)):
            y = one[name].sel(alpha=a).values
            ax.plot(t[1:], (y / y[0])[1:], color=colour, **style)
    ax.axhline(ds.attrs.get("grok_fraction", 0.25), color="0.4", lw=0.8, ls=":")
    ax.set(xscale="log", yscale="log", xlabel="gradient-flow time t", ylabel="loss / its value at t = 0")
    figures.wrapped_title(ax, f"DMFT curves at gamma = {g:g}")
    figures.style_legend(ax, [("test loss", figures.TEST), ("train loss", figures.TRAIN),
                              (f"threshold {ds.attrs.get('grok_fraction', 0.25):g}", dict(ls=":", lw=0.8, color="0.4"))],
                         loc="lower left")
    shades.bar(fig, [axes[0], axes[2]], "alpha (colour of the lines and points)", shrink=0.5, location="bottom",
               aspect=40)
    fig.suptitle("DMFT over gamma x alpha (N = 2, eps = 0.05): when the train and the test loss fall", fontsize=11)
    return fig


register(name="dmft-grid",
         summary="DMFT over a gamma x alpha grid as sweep tasks: when train and test loss fall, their delay",
         claim="DMFT paper Sec. 4, Figs. 1-2: the train/test delay grows as gamma falls, the time to grok "
               "grows with alpha, and the online limit has no gap",
         quick=GridConfig(gammas=(INF, 8.0), alphas=(1.0, 2.0), t_max=90.0, alpha_time_scale=180.0,
                          samples=400, loss_times=(5.0, 20.0, 80.0), output_points=40),
         full=GridConfig(), run=run, plot=plot, statements=statements, observations=observations,
         schema=SCHEMA)
