"""Finite-gamma DMFT solver of the committee machine (DMFT paper, eqs. 2-9, A.4-A.6).

The grid (:mod:`numerics.dmft.grid`) is non-uniform by default, with steps growing from ``dt``
to ``h_max`` (default :func:`default_h_max`, set by stability); the scheme is second order
(``imex2``) or the first-order ``euler`` of the first milestone. See ``docs/dmft.md``.

Two methods on the same discretisation and the same common random numbers
(:mod:`numerics.dmft.sweep`):

- ``march`` (default): the discretised DMFT is causal, so one sweep that uses at each time step the
  statistics it has just estimated at earlier steps solves it exactly for the frozen random
  numbers; the fixed-point residual |F(x*) - x*| of the result is zero to round-off. A march
  is run as ``replicas`` independent solves (their spread is the Monte-Carlo error) and each
  again on the coarse grid (every other node: the step-halving estimate of the discretisation
  error), see :func:`_march_with_errors`.
- ``iterate``: the paper's scheme (A.6): start from the online limit (gamma = inf), evaluate the
  fixed-point map F (one frozen sweep) and update x <- (1 - damping) x + damping F(x) (at most
  ``max_iter`` evaluations per call; a resumed solve continues from the saved F(x)), or use
  safeguarded Anderson acceleration (scipy.optimize.anderson, falling back to damping when it
  fails). The residual of each iterate, max over the blocks (Cg, Rh, Rhs) of
  RMS(F(x) - x) / (Monte-Carlo standard error of the block), is recorded; the loop stops when it
  falls below ``tol`` (default 0.1: iterating further moves the estimate by less than a tenth of
  its statistical error) or after ``max_iter`` map evaluations. Each iterate is saved through
  ``checkpoint``, so an interrupted solve resumes from its last iterate.

Outputs: train loss (sample mean with control variate), test loss from the generated closed form at
(Cw(t,t), A(t)), the train/test gap of eq. (5) with the quadrature of the scheme, their
Monte-Carlo and discretisation errors, and the two-time functions.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

from grokking_workbench.numerics import model_options
from grokking_workbench.numerics import validate
from grokking_workbench.numerics.dmft import sweep as sw
from grokking_workbench.numerics.dmft import wprocess
from grokking_workbench.numerics.dmft.grid import SCHEMES, Grid, make_grid
from grokking_workbench.numerics.options import Option, check_fields, one_of
from grokking_workbench.numerics.schema import Schema, Var

log = logging.getLogger(__name__)

METHODS = ("march", "iterate")
ANDERSON_BUDGET = 12   # map evaluations Anderson may spend before falling back to damping
GROWTH = 0.05          # default grid: h_n = min(h_max, max(dt, GROWTH t_n))
STABILITY = 0.5        # default h_max = STABILITY / (alpha (1 + gamma^-1/2)^2), see default_h_max
MEMORY = math.inf      # memory window of R^h in time units (inf: the whole history)
DENSE_LIMIT = 4000      # largest (T + 1) N of the dense w-system solved for the two-time outputs
REPLICAS = 4           # independent solves (samples / REPLICAS paths each) for the Monte-Carlo error
PRECISIONS = ("float32", "float64")   # storage of the per-sample histories


def _gamma(name: str, value) -> float:
    """A positive number or inf (gamma, the memory window)."""
    return validate.positive(name, value, allow_inf=True)


def _non_negative(name: str, value) -> float:
    """A finite number >= 0 (the growth of the steps)."""
    if not (math.isfinite(value) and value >= 0):
        raise validate.InputError(name, f"must be a finite number >= 0, got {value}")
    return value


def _fraction(name: str, value) -> float:
    """A number in (0, 1] (the damping of the iteration)."""
    if not 0 < value <= 1:
        raise validate.InputError(name, f"must lie in (0, 1], got {value}")
    return value


@dataclass(frozen=True)
class DMFTConfig:
    """A DMFT solve: model (N from A0), grid (dt, t_max), Monte Carlo (samples, seed) and method."""

    A0: tuple[float, ...] = model_options.A0.field()
    C0: tuple[tuple[float, ...], ...] | None = model_options.C0.field(None)   # None: identity
    alpha: float = model_options.ALPHA.field(0.5, check=validate.finite)
    eps: float = model_options.EPS.field(0.05)
    gamma: float = Option("P / D (a positive number, or inf)", required=True, parse=_gamma,
                          check=_gamma).field(8.0)
    t_max: float = Option("final time", type=float, required=True, check=validate.positive).field(60.0)
    dt: float = Option("first step of the grid (the step of a --uniform grid)", type=float,
                       check=validate.positive).field(0.05)
    growth: float = Option("steps grow as h(t) = min(h-max, max(dt, growth t))", type=float,
                           check=_non_negative).field(GROWTH)
    h_max: float | None = Option(
        "largest step (default: 1 / (2 alpha (1 + gamma^-1/2)^2), half the stability limit, so that "
        "the doubled steps of the step-halving partner stay stable)", type=float,
        check=validate.positive).field(None)
    scheme: str = Option("imex2: second order (trapezoidal rate, Adams-Bashforth memory); euler: first "
                         "order", choices=SCHEMES, check=one_of(*SCHEMES)).field("imex2")
    memory: float = Option("memory window of R^h in time units (default: the whole history)", type=float,
                           check=_gamma).field(MEMORY)
    precision: str = Option("storage of the per-sample histories", choices=PRECISIONS,
                            check=one_of(*PRECISIONS)).field("float32")
    source: str = Option("how the Gaussian source of the weights is sampled (default: empirical for a "
                         "march, cholesky for --method iterate)", default=None, choices=sw.SOURCES,
                         check=one_of(*sw.SOURCES)).field("empirical")
    samples: int = Option("Monte-Carlo paths of the h-process, over all replicas", type=int,
                          check=validate.positive_int).field(8000)
    replicas: int = Option("independent solves averaged; their spread is the Monte-Carlo error",
                           type=int, check=validate.positive_int).field(REPLICAS)
    error_estimate: bool = Option("skip the step-halving solve that estimates the discretisation error",
                                  flag="--no-error-estimate", action="store_false").field(True)
    seed: int = Option("seed of the common random numbers", type=int,
                       check=validate.non_negative_int).field(0)
    estimator: str = Option("response estimator for the memory part of R^h", choices=sw.ESTIMATORS,
                            check=one_of(*sw.ESTIMATORS)).field("probe")
    method: str = Option("march: one causal sweep (exact fixed point); iterate: the damped fixed-point "
                         "iteration of the paper (A.6)", choices=METHODS,
                         check=one_of(*METHODS)).field("march")
    damping: float = Option("iterate: weight of the new estimate", type=float, check=_fraction).field(0.5)
    max_iter: int = Option("iterate: at most this many map evaluations", type=int,
                           check=validate.positive_int).field(50)
    tol: float = Option("iterate: stop when the residual is below tol Monte-Carlo standard errors",
                        type=float, check=validate.positive).field(0.1)
    anderson: bool = Option("iterate: safeguarded Anderson acceleration", action="store_true").field(False)

    @property
    def N(self) -> int:
        return len(self.A0)

    @property
    def T(self) -> int:
        return self.grid().T

    def step_limit(self) -> float:
        """``h_max``, or the default :func:`default_h_max`."""
        return default_h_max(self.alpha, self.gamma) if self.h_max is None else self.h_max

    def grid(self) -> Grid:
        """The time grid (:func:`numerics.dmft.grid.make_grid`); growth 0 gives a uniform grid."""
        if self.growth == 0:
            T = max(1, int(round(self.t_max / self.dt)))
            return Grid(np.arange(T + 1) * self.dt, self.scheme)
        return make_grid(self.t_max, self.dt, growth=self.growth, h_max=self.step_limit(), scheme=self.scheme)

    def problem(self) -> sw.Problem:
        C0 = np.eye(self.N) if self.C0 is None else np.asarray(self.C0, dtype=float)
        return sw.Problem(C0, np.asarray(self.A0, dtype=float), self.alpha, self.eps, self.gamma,
                          self.grid(), self.memory, self.precision)


def default_h_max(alpha: float, gamma: float) -> float:
    """The largest step of the default grid, STABILITY / (alpha (1 + gamma^-1/2)^2).

    The fastest relaxation of gradient flow on P = gamma D points is the top of the
    Marchenko-Pastur spectrum of the data, alpha (1 + gamma^-1/2)^2 for the common mode of the
    linearised network; the memory terms of the scheme are explicit, so steps much longer than
    its inverse are unstable (measured at alpha = 0.5, eps = 0.05: gamma = 4 diverges with
    h = 2 = 2.25 / rate and is stable to t = 2000 with h = 0.89 = 1 / rate; gamma = 8 is stable
    with h = 1 / rate and its step-halving partner with 2 / rate is not). STABILITY = 1/2 keeps
    the partner of the error estimate, whose steps are doubled, at 1 / rate."""
    edge = abs(alpha) * (1 + (0.0 if math.isinf(gamma) else gamma ** -0.5)) ** 2
    return STABILITY / max(edge, 1e-12)


def check_config(cfg: DMFTConfig) -> DMFTConfig:
    """Check every field (its own check, :func:`numerics.options.check_fields`) and the relations
    between fields; InputError naming the first bad parameter; return ``cfg``."""
    check_fields(cfg)
    N = len(cfg.A0)
    validate.overlaps(np.eye(N) if cfg.C0 is None else cfg.C0, cfg.A0, N)
    if cfg.dt > cfg.t_max:
        raise validate.InputError("dt", f"must not exceed t-max ({cfg.t_max}), got {cfg.dt}")
    if cfg.method == "iterate" and cfg.source != "cholesky" and not math.isinf(cfg.gamma):
        raise validate.InputError("source", "the iteration evaluates the map at given C^g: use the cholesky "
                                  "source")
    if cfg.source == "empirical" and cfg.samples // cfg.replicas > sw.MAX_DONORS:
        raise validate.InputError("samples", f"the empirical source allows at most {sw.MAX_DONORS} samples "
                                  "per replica; use more replicas or the cholesky source")
    if cfg.samples < 2:
        raise validate.InputError("samples", "need at least 2 samples for error estimates")
    if cfg.samples < 2 * cfg.replicas:
        raise validate.InputError("replicas", f"need at least 2 samples per replica ({cfg.samples} samples, "
                                  f"{cfg.replicas} replicas)")
    if cfg.error_estimate and cfg.T % 2:
        raise validate.InputError("t_max", "the step-halving error estimate needs an even number of steps; "
                                  f"the grid has {cfg.T} (choose t-max / dt even, or no error estimate)")
    return cfg


@dataclass
class Solution:
    """A DMFT solution with its residual history and timings."""

    config: DMFTConfig
    result: sw.SweepResult
    residuals: list[float] = field(default_factory=list)
    map_evaluations: int = 0
    seconds: float = 0.0
    status: str = "complete"
    errors: dict = field(default_factory=dict)   # Monte-Carlo (*_mc) and discretisation (*_disc) errors
    replica_curves: list = field(default_factory=list)   # train_loss, test_loss, A, C of each replica
    state: sw.Fields | None = None   # iterate: the next iterate, from which a resumed solve continues


def residual(Fx: sw.Fields, x: sw.Fields, noise: dict) -> float:
    """max over blocks of RMS(F(x) - x) / (pooled Monte-Carlo standard error of the block)."""
    out = 0.0
    for name in ("Cg", "Rh", "Rhs"):
        d = getattr(Fx, name) - getattr(x, name)
        scale = max(noise.get(name, 0.0), 1e-12)
        out = max(out, float(np.sqrt(np.mean(d ** 2))) / scale)
    return out


def online_limit(cfg: DMFTConfig, noise: sw.Noise) -> sw.SweepResult:
    """The gamma = inf sweep on the same grid and random numbers: the first iterate (DMFT A.6)."""
    p = cfg.problem()
    p.gamma = math.inf
    return sw.sweep(p, noise, estimator=cfg.estimator)


def solve(cfg: DMFTConfig, *, checkpoint=None, start: sw.Fields | None = None,
          start_residuals: list[float] | None = None, two_time_points: int | None = None,
          workers: int = 1) -> Solution:
    """Solve the DMFT.

    ``workers``: a march runs its replicas and their step-halving partners on this many
    processes (the result does not depend on it; :func:`_march_with_errors`).

    ``two_time_points``: a march whose w-system is too large for the dense two-time outputs
    (:data:`DENSE_LIMIT`) keeps the fields Cg and Rh only between the nodes of
    :func:`two_time_nodes` (about this many; None: every node), so that their memory grows like
    T points^2 instead of T^2 (``SweepResult.nodes``); the one-time results are the same.

    ``iterate``: ``checkpoint(solution)`` is called after every iterate with the solution of the
    last map evaluation and, in ``solution.state``, the next iterate; ``start`` (a saved
    ``state``) and ``start_residuals`` resume the iteration exactly where it stopped (the map is
    deterministic given the iterate: its random numbers come from ``seed``). An interrupt
    (:mod:`numerics.interrupt`) discards the evaluation in progress and returns the last
    solution with status ``interrupted at iteration k``; ``solution.result`` is None if no
    iterate was complete."""
    from grokking_workbench.numerics import interrupt

    check_config(cfg)
    if cfg.method == "march" or math.isinf(cfg.gamma):
        return _march_with_errors(cfg, two_time_points, workers)
    p = cfg.problem()
    noise = sw.Noise.draw(cfg.samples, p, cfg.seed)
    t0 = time.perf_counter()
    residuals = list(start_residuals or [])
    if start is not None:
        x = start.copy()
    else:
        first = online_limit(cfg, noise)
        if interrupt.requested():
            return Solution(cfg, None, residuals, 1, time.perf_counter() - t0,
                            "interrupted in the online-limit sweep before the first iteration")
        x = first.fields
    evals = 0
    sol = Solution(cfg, None, residuals, 0, 0.0)
    if start is None:      # the online limit is the first iterate: saved as the state to resume from
        sol = Solution(cfg, first, [], 1, time.perf_counter() - t0, state=x.copy())

    def F(fields):
        nonlocal evals
        evals += 1
        return sw.sweep(p, noise, frozen=fields, estimator=cfg.estimator)

    if cfg.anderson:
        out = _anderson(cfg, p, F, x, residuals, checkpoint, t0)
        if out is not None:
            out.map_evaluations = evals
            return out
        log.warning("Anderson acceleration failed; continuing with damped iteration")
    status = "not converged"
    done_before = len(residuals)
    while len(residuals) - done_before < cfg.max_iter:
        out = F(x)
        if interrupt.requested():
            status = (f"interrupted at iteration {len(residuals) + 1} (its map evaluation discarded); "
                      "resume with --resume")
            break
        r = residual(out.fields, x, out.noise)
        residuals.append(r)
        log.info("iteration %d: residual %.3g (Monte-Carlo units)", len(residuals), r)
        sol = Solution(cfg, out, list(residuals), evals, time.perf_counter() - t0)
        if r < cfg.tol:
            status = "complete"
            break
        x = sw.Fields(*(cfg.damping * getattr(out.fields, k) + (1 - cfg.damping) * getattr(x, k)
                        for k in ("Cg", "Rh", "Rhs")))
        sol.state = x
        sol.status = (f"running: iteration {len(residuals)} done ({len(residuals) - done_before} of at "
                      f"most {cfg.max_iter} in this run); resume with --resume")
        if checkpoint is not None:
            checkpoint(sol)
    if status == "complete" or status.startswith("interrupted"):
        sol.status = status
    else:
        sol.status = (f"not converged: residual {residuals[-1]:.3g} after {len(residuals)} iterations "
                      f"(tol {cfg.tol}); resume with --resume to iterate further")
    sol.map_evaluations = evals
    return sol


def replica_seeds(cfg: DMFTConfig) -> list[int]:
    """Seeds of the independent replicas (``seed`` itself when there is one)."""
    if cfg.replicas == 1:
        return [cfg.seed]
    return [int(np.random.SeedSequence([cfg.seed, r]).generate_state(1)[0]) for r in range(cfg.replicas)]


def _one_time(cfg: DMFTConfig, res: sw.SweepResult) -> dict[str, np.ndarray]:
    from grokking_workbench.theory.generated import committee as th

    return {"train_loss": res.train_loss, "A": res.A, "C": res.Cw_diag,
            "test_loss": th.test_loss(res.A, res.Cw_diag, cfg.alpha, cfg.eps)}


def output_nodes(cfg: DMFTConfig, T: int, two_time_points: int | None) -> np.ndarray | None:
    """The nodes between which a march keeps its two-time fields (:func:`solve`): None (every
    node) when the dense two-time outputs are computed or every node is asked for, or when the
    fields feed a Cholesky source or exact Jacobians."""
    dense = (T + 1) * cfg.N <= DENSE_LIMIT
    if dense or two_time_points is None or cfg.estimator != "probe" or cfg.source != "empirical":
        return None
    return two_time_nodes(T, two_time_points)


def _replica(cfg: DMFTConfig, seed: int, nodes, coarse: bool = False, noise: sw.Noise | None = None):
    """One replica's march (samples / replicas paths from ``seed``, or the given ``noise`` drawn
    from it) on the grid, or with ``coarse`` on its step-halving partner (every other node, the
    same random numbers at the common nodes), whose one-time curves are returned (with
    ``diverged`` where it diverged)."""
    p = cfg.problem()
    if noise is None:
        noise = sw.Noise.draw(cfg.samples // cfg.replicas, p, seed)
    if not coarse:
        return sw.sweep(p, noise, estimator=cfg.estimator, source=cfg.source, nodes=nodes)
    pc = cfg.problem()
    pc.grid = p.grid.coarse()
    partner = sw.sweep(pc, noise.every_other(), estimator=cfg.estimator, source=cfg.source,
                       nodes=None if nodes is None else np.zeros(1, int))   # its fields are not used
    out = _one_time(cfg, partner)
    if partner.diverged is not None:
        out["diverged"] = partner.diverged
    return out


def _worker_start(stop, threads: int) -> None:
    """A replica process: follows the parent's interrupt (``stop``) and uses ``threads`` BLAS
    threads, so that the pool does not oversubscribe the cores."""
    from threadpoolctl import threadpool_limits

    from grokking_workbench.numerics import interrupt

    interrupt.follow(stop)
    threadpool_limits(threads)


def _replicas_in_parallel(cfg: DMFTConfig, nodes, workers: int):
    """The replicas and their partners as tasks of a pool of ``workers`` forked processes
    (largest first), gathered in replica order; (fine results, coarse curves, status or None).
    The workers inherit the interrupt handling: a signal stops every march at its next node,
    and the replicas' average up to the earliest of those times is kept (the partners, which
    then say nothing about the error, are dropped)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, wait

    from grokking_workbench.numerics import interrupt
    from grokking_workbench.numerics.threads import available_cores

    seeds = replica_seeds(cfg)
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    threads = max(1, available_cores() // workers)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_start,
                             initargs=(stop, threads)) as pool:
        fine = [pool.submit(_replica, cfg, seed, nodes) for seed in seeds]
        coarse = [pool.submit(_replica, cfg, seed, nodes, True) for seed in seeds] if cfg.error_estimate else []
        pending = set(fine + coarse)
        while pending:
            _, pending = wait(pending, timeout=0.2)
            if interrupt.requested():
                stop.set()
        results = [f.result() for f in fine]
        curves = [f.result() for f in coarse]
    stopped = None
    if interrupt.requested():
        results = [r for r in results if r.steps >= 1]
        curves = []
        if results:
            reached = cfg.problem().grid.t[min(r.steps for r in results)]
            stopped = (f"interrupted at t = {reached:g} (the average of the {len(results)} replicas to "
                       "this time is saved)")
        else:
            stopped = "interrupted in the first sweep before its first step"
    return results, curves, stopped


def _march_with_errors(cfg: DMFTConfig, two_time_points: int | None = None, workers: int = 1) -> Solution:
    """``replicas`` independent marches of samples / replicas paths each, averaged; their spread
    is the Monte-Carlo error of the average (standard error, ddof = 1). With ``error_estimate``,
    each replica is also solved on the coarse grid (every other node, the same random numbers at
    the common nodes); the discretisation error of the average is estimated by step halving,
    |X(h) - X(2h)| / (2^p - 1) for a scheme of order p, at the coarse nodes and interpolated
    linearly in t between them. In this process (``workers = 1``) only the running sums of the
    replicas' two-time fields are kept; with ``workers > 1`` the replicas and partners run on
    that many processes (:func:`_replicas_in_parallel`) and the results are the same."""
    from grokking_workbench.numerics import interrupt

    grid = cfg.problem().grid
    t0 = time.perf_counter()
    nodes = output_nodes(cfg, grid.T, two_time_points)
    results, curves, coarse = [], [], []
    total = None
    stopped = None

    def add(res):
        nonlocal total
        curves.append(_one_time(cfg, res))
        if total is None:
            total = res.fields
        else:
            for name in ("Cg", "Rh", "Rhs"):
                getattr(total, name).__iadd__(getattr(res.fields, name))
        res.fields = None                     # the sums hold them
        results.append(res)

    if workers > 1 and cfg.replicas > 1:
        done, coarse, stopped = _replicas_in_parallel(cfg, nodes, min(workers, 2 * cfg.replicas))
        for k, res in enumerate(done):
            log.info("replica %d of %d: %s in %.1f s", k + 1, cfg.replicas, grid.describe(),
                     sum(res.seconds.values()))
            add(res)
    else:
        for k, seed in enumerate(replica_seeds(cfg)):
            noise = sw.Noise.draw(cfg.samples // cfg.replicas, cfg.problem(), seed)   # fine and partner
            res = _replica(cfg, seed, nodes, noise=noise)
            if interrupt.requested():
                if res.steps < 1:
                    stopped = (f"interrupted after replica {k} of {cfg.replicas} (the average of the {k} "
                               "complete replicas is saved)")
                    break
                stopped = (f"interrupted at t = {grid.t[res.steps]:g} in replica {k + 1} of {cfg.replicas} "
                           f"(the replicas' average to this time is saved; {k} complete)")
            log.info("replica %d of %d: %s in %.1f s", k + 1, cfg.replicas, grid.describe(),
                     sum(res.seconds.values()))
            add(res)
            if stopped:
                break
            if cfg.error_estimate:
                coarse.append(_replica(cfg, seed, nodes, coarse=True, noise=noise))
                if interrupt.requested():
                    coarse.pop()                  # an interrupted partner says nothing about the error
                    stopped = (f"interrupted after replica {k + 1} of {cfg.replicas} (the average of the "
                               f"{k + 1} complete replicas is saved)")
                    break
            del noise
    if not results:
        return Solution(cfg, None, [], 0, time.perf_counter() - t0,
                        stopped or "interrupted in the first sweep before its first step")
    for name in ("Cg", "Rh", "Rhs"):
        getattr(total, name).__imul__(1.0 / len(results))
    res = _average(results, total)
    sol = Solution(cfg, res, [], len(results) + len(coarse), time.perf_counter() - t0)
    if res.diverged is not None:
        sol.status = f"diverged: non-finite statistics at t = {grid.t[res.diverged]:g}"
    sol.errors = _error_estimates(grid, curves, coarse)
    broke = [c["diverged"] for c in coarse if "diverged" in c]
    if broke and sol.status == "complete":
        sol.status = (f"complete; the step-halving partner diverged at t = {grid.t[2 * min(broke)]:g} "
                      "(the discretisation error is unknown from there: *_disc is inf)")
    sol.replica_curves = curves
    if stopped:
        sol.status = stopped
    if len(results) > 1:
        res.train_loss_se = sol.errors["train_loss_mc"]
    return sol


def _average(results: list[sw.SweepResult], fields: sw.Fields) -> sw.SweepResult:
    """The replica average of every estimate (``fields``: their averaged fields); diverged where
    any replica is."""
    mean = lambda get: np.mean([get(r) for r in results], axis=0)    # noqa: E731
    div = [r.diverged for r in results if r.diverged is not None]
    seconds = {k: float(sum(r.seconds[k] for r in results)) for k in results[0].seconds}
    noise = {k: float(np.mean([r.noise[k] for r in results]) / np.sqrt(len(results))) for k in results[0].noise}
    return sw.SweepResult(fields, mean(lambda r: r.A), mean(lambda r: r.Cw_diag), mean(lambda r: r.train_loss),
                          np.sqrt(mean(lambda r: r.train_loss_se ** 2) / len(results)), noise,
                          min(r.steps for r in results), seconds, min(div) if div else None,
                          results[0].grid, mean(lambda r: r.gap_sum), results[0].nodes)


def _error_estimates(grid: Grid, fine: list[dict], coarse: list[dict]) -> dict:
    """Monte-Carlo standard errors (``*_mc``) over replicas and step-halving discretisation
    errors of train_loss, test_loss, A and C (``fine``, ``coarse``: the curves of
    :func:`_one_time` per replica), on the grid's nodes.

    ``*_disc`` = |mean_r (X_r(h) - X_r(2h))| / (2^p - 1), and ``*_disc_se`` the standard error of
    that mean over replicas, divided likewise: the fine and coarse solves share their random
    numbers only at the common nodes, so Monte-Carlo noise (mostly of the probe estimator) enters
    the difference and ``*_disc`` is an upper estimate where it is not much larger than
    ``*_disc_se``. From a node where the partner diverged on, ``*_disc`` is inf."""
    out = {}
    K = len(fine)
    names = [k for k in fine[0] if k != "diverged"]
    for name in names:
        stack = np.array([v[name] for v in fine])
        out[name + "_mc"] = stack.std(axis=0, ddof=1) / np.sqrt(K) if K > 1 else np.full(stack.shape[1:], np.nan)
    if not coarse:
        return out
    t, tc = grid.t, grid.t[::2]
    factor = 2 ** grid.order - 1
    broke = min([c["diverged"] for c in coarse if "diverged" in c], default=len(tc))
    spread = lambda x: x.reshape(len(tc), -1)    # noqa: E731
    for name in names:
        d = np.array([f[name][::2] - c[name] for f, c in zip(fine, coarse)])
        mean = np.abs(d.mean(0)) / factor
        se = d.std(0, ddof=1) / np.sqrt(K) / factor if K > 1 else np.full(mean.shape, np.nan)
        for key, value in ((name + "_disc", mean), (name + "_disc_se", se)):
            flat = spread(np.array(value, dtype=float))
            flat[broke:] = np.inf
            out[key] = np.stack([np.interp(t, tc, col) for col in flat.T], -1).reshape((len(t),) + mean.shape[1:])
    return out


def _anderson(cfg, p, F, x0, residuals, checkpoint, t0):
    """Anderson-accelerated root of G(y) = (F(x) - x) / noise in scaled variables; None on failure.

    An interrupt returns the best iterate so far (status ``interrupted``); a resumed solve restarts
    the acceleration from it (its history of earlier steps is not kept, so unlike the damped
    iteration the resumed sequence differs from the uninterrupted one)."""
    from scipy.optimize import NoConvergence, anderson

    from grokking_workbench.numerics import interrupt

    T, N = p.T, p.N
    first = F(x0)
    if interrupt.requested():
        return Solution(cfg, None, list(residuals), 0, time.perf_counter() - t0,
                        "interrupted at the first iteration (its map evaluation discarded)", state=x0)
    scale = np.concatenate([np.full(getattr(first.fields, k).size, max(first.noise[k], 1e-12))
                            for k in ("Cg", "Rh", "Rhs")])
    best = {"r": math.inf, "res": None, "x": None}

    class Diverging(RuntimeError):
        pass

    class Stopped(RuntimeError):
        pass

    pending = [first]   # F(x0) is already known: the first call of G reuses it

    def G(y):
        x = sw.Fields.from_vector(y * scale, T, N)
        out = pending.pop() if pending else F(x)
        if interrupt.requested():
            raise Stopped
        r = residual(out.fields, x, out.noise)
        residuals.append(r)
        if r < best["r"]:
            best.update(r=r, res=out, x=x)
        elif r > 10 * best["r"]:          # safeguard: a step that makes things much worse ends it
            raise Diverging
        return (out.fields.vector() - x.vector()) / scale

    try:
        anderson(G, x0.vector() / scale, alpha=1.0, M=5, f_tol=cfg.tol,
                 maxiter=min(cfg.max_iter, ANDERSON_BUDGET),
                 line_search=None)
    except Stopped:
        return Solution(cfg, best["res"], list(residuals), 0, time.perf_counter() - t0,
                        f"interrupted at iteration {len(residuals) + 1} (Anderson; its map evaluation "
                        "discarded); resume with --resume", state=best["x"] if best["x"] is not None else x0)
    except (NoConvergence, ValueError, np.linalg.LinAlgError, FloatingPointError, sw.CovarianceError,
            Diverging):
        pass
    if best["res"] is None or best["r"] >= cfg.tol:
        return None
    return Solution(cfg, best["res"], list(residuals), 0, time.perf_counter() - t0)


# ----------------------------------------------------------------------------- outputs
def w_solution(cfg: DMFTConfig, res: sw.SweepResult) -> wprocess.WSolution:
    """The dense w-process (:func:`numerics.dmft.wprocess.solve`) for the solution's fields: the
    two-time Cw(t, s), Rw(t, s) and L^-1 (cost O((T N)^3): for outputs, not inside the sweep)."""
    p = cfg.problem()
    f = res.fields
    return wprocess.solve(p.C0, p.A0, f.Rh, f.Rhs, None if math.isinf(p.gamma) else f.Cg, p.gamma, res.grid)


def source_response(res: sw.SweepResult, Linv: np.ndarray) -> np.ndarray:
    """G[n, j] = d w_n / d xi_j = L^-1[n, j+1] c_now[j] + L^-1[n, j+2] c_prev[j+1] (j < n): the
    discrete response of w to its source, quadrature weights included (the h-process memory is
    (1/gamma) sum_j G[n, j] g_j). ``Linv``: blocks (T+1, T+1, N, N)."""
    grid = res.grid
    T1 = Linv.shape[0]
    c_now, c_prev = grid.explicit_weights()
    G = np.zeros_like(Linv)
    G[:, :T1 - 1] = Linv[:, 1:] * c_now[None, :, None, None]
    G[:, :T1 - 2] += Linv[:, 2:] * c_prev[None, 1:, None, None]
    mask = np.tril(np.ones((T1, T1), dtype=bool), k=-1)
    return G * mask[:, :, None, None]


def gap_formula(cfg: DMFTConfig, res: sw.SweepResult) -> np.ndarray:
    """(2 alpha / (gamma N)) sum_ij int_0^t R^w_ij(t,s) C^g_ij(t,s) ds (DMFT paper eq. 5 = eq. 18),
    with the quadrature of the h-process memory term: sum_j G[n, j] : Cg[n, j], evaluated during
    the sweep as the sample mean of m_n . g_n (m = sum_j G[n, j] g_j, the memory of the sample)."""
    if math.isinf(cfg.gamma):
        return np.zeros(res.grid.T + 1)
    return 2 * cfg.alpha / (cfg.gamma * cfg.N) * res.gap_sum


def response_w(Linv: np.ndarray) -> np.ndarray:
    """Rw(t_n, t_m) = (L^-1)[n, m] for m <= n (the response of w_n to a unit kick at t_m), zero
    above the diagonal. ``Linv``: blocks (T+1, T+1, N, N)."""
    T1 = Linv.shape[0]
    mask = np.tril(np.ones((T1, T1), dtype=bool))
    return Linv * mask[:, :, None, None]


ERROR_NAMES = {"_mc": "Monte-Carlo standard error of {} (spread of independent replicas)",
               "_disc": "discretisation error estimate of {} (step halving)",
               "_disc_se": "standard error (replicas) of the step-halving estimate of {}"}


def _error_base(name: str) -> tuple[str, str]:
    """('test_loss', '_disc_se') for 'test_loss_disc_se'."""
    for suffix in ("_disc_se", "_disc", "_mc"):
        if name.endswith(suffix):
            return name[:-len(suffix)], suffix
    raise ValueError(f"not an error variable: {name}")


def _schema() -> Schema:
    """The dataset's variables and coordinates (:func:`to_dataset`)."""
    tt = ("t2", "s", "i", "j")
    extra = {"A": ("i",), "C": ("i", "j")}
    errors = {base + suffix: Var(text.format(base), "1", ("t",) + extra.get(base, ()), required=False)
              for base in ("train_loss", "test_loss", "A", "C") for suffix, text in ERROR_NAMES.items()}
    return Schema({
        "t": Var("gradient-flow time (grid node)", "1", ("t",)),
        "t2": Var("first time of two-time functions", "1", ("t2",)),
        "s": Var("second time of two-time functions", "1", ("s",)),
        "i": Var("hidden unit", "1", ("i",)),
        "j": Var("hidden unit", "1", ("j",)),
        "iteration": Var("fixed-point iteration", "1", ("iteration",)),
        "train_loss": Var("train loss <Delta^2> over the DMFT samples", "1", ("t",)),
        "train_loss_se": Var("Monte-Carlo standard error of train_loss", "1", ("t",)),
        "test_loss": Var("test loss from the closed form at (Cw(t,t), A(t))", "1", ("t",)),
        "A": Var("alignment A_i = <w_i beta>", "1", ("t", "i")),
        "C": Var("overlap C_ij(t) = Cw_ij(t,t)", "1", ("t", "i", "j")),
        "Rhstar": Var("response R^{{h*}}_i(t) = <dg_i/dh_*>", "1", ("t", "i")),
        "gap_formula": Var("train/test gap of DMFT paper eq. (5)", "1", ("t",)),
        "step": Var("grid step h_n = t_{{n+1}} - t_n", "1", ("t",)),
        "Cw": Var("weight correlation Cw_ij(t,s)", "1", tt, required=False),
        "Rw": Var("weight response Rw_ij(t,s) (s <= t)", "1", tt, required=False),
        "Cg": Var("gradient correlation Cg_ij(t,s)", "1", tt),
        "Rh": Var("discrete preactivation response <dg_i(t)/du_j(s)>: the local rate at s = t, the "
                  "memory kernel times its quadrature weight at s < t", "1", tt),
        "residual": Var("fixed-point residual |F(x) - x| in units of the Monte-Carlo error",
                        "1", ("iteration",)),
        **errors,
        "iterate_Cg": Var("next iterate of the fixed-point iteration: Cg", "1", tt, required=False),
        "iterate_Rh": Var("next iterate of the fixed-point iteration: Rh", "1", tt, required=False),
        "iterate_Rhstar": Var("next iterate of the fixed-point iteration: R^{{h*}}", "1", ("t", "i"),
                              required=False),
    })


SCHEMA = _schema()


def two_time_nodes(T: int, points: int | None) -> np.ndarray:
    """Node indices of the stored two-time functions: all nodes, or about ``points`` of them
    evenly spaced in index (the grid is fine where the dynamics are fast), ends included."""
    if points is None or points >= T + 1:
        return np.arange(T + 1)
    return np.unique(np.round(np.linspace(0, T, points)).astype(int))


def to_dataset(sol: Solution, two_time_points: int | None = None):
    """The labelled dataset (``docs/datasets.md``). Two-time functions are stored on the nodes of
    :func:`two_time_nodes` (coordinates ``t2`` and ``s``); every node when ``two_time_points`` is
    None (needed to resume an iteration)."""
    import xarray as xr

    from grokking_workbench.theory.generated import committee as th

    cfg, res = sol.config, sol.result
    N = cfg.N
    n = res.steps + 1
    t = res.grid.t
    test = th.test_loss(res.A, res.Cw_diag, cfg.alpha, cfg.eps)
    gap = gap_formula(cfg, res)
    dense = (res.grid.T + 1) * N <= DENSE_LIMIT
    w = w_solution(cfg, res) if dense else None
    if res.nodes is None:
        k = two_time_nodes(n - 1, two_time_points)
        two = lambda arr: arr[np.ix_(k, k)]   # noqa: E731
    else:                                     # the fields are held only between res.nodes
        kept = np.flatnonzero(res.nodes <= n - 1)
        k = res.nodes[kept]
        two = lambda arr: arr[np.ix_(kept, kept)]   # noqa: E731
    tt = ("t2", "s", "i", "j")
    extra = {"A": ("i",), "C": ("i", "j")}
    ds = xr.Dataset(
        {"train_loss": (("t",), res.train_loss[:n]),
         "train_loss_se": (("t",), res.train_loss_se[:n]),
         "test_loss": (("t",), test[:n]),
         "A": (("t", "i"), res.A[:n]),
         "C": (("t", "i", "j"), res.Cw_diag[:n]),
         "Rhstar": (("t", "i"), res.fields.Rhs[:n]),
         "gap_formula": (("t",), gap[:n]),
         "step": (("t",), np.append(np.diff(t), np.nan)[:n]),
         **({"Cw": (tt, two(w.Cw)), "Rw": (tt, two(response_w(w.Rw)))} if dense else {}),
         "Cg": (tt, two(res.fields.Cg)),
         "Rh": (tt, two(res.fields.Rh)),
         "residual": (("iteration",), np.asarray(sol.residuals, dtype=float)),
         **{name: (("t",) + extra.get(_error_base(name)[0], ()), arr[:n])
            for name, arr in sol.errors.items()}},
        coords={"t": ("t", t[:n]), "t2": ("t2", t[k]), "s": ("s", t[k]), "i": ("i", np.arange(N)),
                "j": ("j", np.arange(N)), "iteration": ("iteration", np.arange(1, len(sol.residuals) + 1))})
    ds.attrs.update(status=sol.status, map_evaluations=sol.map_evaluations, grid=res.grid.describe(),
                    phase_seconds=json.dumps({k: round(v, 2) for k, v in res.seconds.items()}),
                    solve_seconds=round(sol.seconds, 3), method=cfg.method, estimator=cfg.estimator)
    if sol.state is not None and sol.status != "complete" and n == res.grid.T + 1:
        # the solver state a resumed iteration continues from (every node, full precision)
        x = sol.state
        ds["iterate_Cg"] = (("t2", "s", "i", "j"), x.Cg)
        ds["iterate_Rh"] = (("t2", "s", "i", "j"), x.Rh)
        ds["iterate_Rhstar"] = (("t", "i"), x.Rhs)
    if not dense:
        ds.attrs["two_time_note"] = (f"Cw(t,s) and Rw(t,s) are not stored: the dense solve of the {(res.grid.T + 1) * N} "
                                     f"x {(res.grid.T + 1) * N} w-system exceeds DENSE_LIMIT = {DENSE_LIMIT}")
    return SCHEMA.apply(ds, cfg)
