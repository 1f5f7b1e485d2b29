"""Finite-gamma DMFT solver of the committee machine (DMFT paper, eqs. 2-9, A.4-A.6).

Two methods on the same discretisation and the same common random numbers
(:mod:`numerics.dmft.sweep`):

- ``march`` (default): the discretised DMFT is causal, so one sweep that uses at each time step the
  statistics it has just estimated at earlier steps solves it exactly for the frozen random
  numbers; the fixed-point residual |F(x*) - x*| of the result is zero to round-off.
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
(Cw(t,t), A(t)), the train/test gap of eq. (5) evaluated from Rw and Cg, and the two-time
functions.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from numerics.dmft import sweep as sw
from numerics.dmft import wprocess

log = logging.getLogger(__name__)

METHODS = ("march", "iterate")
ANDERSON_BUDGET = 12   # map evaluations Anderson may spend before falling back to damping


@dataclass(frozen=True)
class DMFTConfig:
    """A DMFT solve: model (N from A0), grid (dt, t_max), Monte Carlo (samples, seed) and method."""

    A0: tuple[float, ...]
    C0: tuple[tuple[float, ...], ...] | None = None   # None: identity
    alpha: float = 0.5
    eps: float = 0.05
    gamma: float = 8.0
    t_max: float = 60.0
    dt: float = 0.25
    samples: int = 8000
    seed: int = 0
    estimator: str = "probe"
    method: str = "march"
    damping: float = 0.5
    max_iter: int = 50
    tol: float = 0.1
    anderson: bool = False

    @property
    def N(self) -> int:
        return len(self.A0)

    @property
    def T(self) -> int:
        return int(round(self.t_max / self.dt))

    def problem(self) -> sw.Problem:
        C0 = np.eye(self.N) if self.C0 is None else np.asarray(self.C0, dtype=float)
        return sw.Problem(C0, np.asarray(self.A0, dtype=float), self.alpha, self.eps, self.gamma,
                          self.dt, self.T)


def check_config(cfg: DMFTConfig) -> DMFTConfig:
    """Validate every parameter (InputError naming it)."""
    from numerics import validate as v

    N = v.positive_int("N", len(cfg.A0))
    v.overlaps(np.eye(N) if cfg.C0 is None else cfg.C0, cfg.A0, N)
    v.finite("alpha", cfg.alpha)
    v.finite("eps", cfg.eps)
    v.positive("gamma", cfg.gamma, allow_inf=True)
    v.positive("t-max", cfg.t_max)
    v.positive("dt", cfg.dt)
    if cfg.dt > cfg.t_max:
        raise v.InputError("dt", f"must not exceed t-max ({cfg.t_max}), got {cfg.dt}")
    v.positive_int("samples", cfg.samples)
    if cfg.samples < 2:
        raise v.InputError("samples", "need at least 2 samples for error estimates")
    if cfg.estimator not in sw.ESTIMATORS:
        raise v.InputError("estimator", f"must be one of {', '.join(sw.ESTIMATORS)}, got {cfg.estimator!r}")
    if cfg.method not in METHODS:
        raise v.InputError("method", f"must be one of {', '.join(METHODS)}, got {cfg.method!r}")
    if not 0 < cfg.damping <= 1:
        raise v.InputError("damping", f"must lie in (0, 1], got {cfg.damping}")
    v.positive_int("max-iter", cfg.max_iter)
    v.positive("tol", cfg.tol)
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
          start_residuals: list[float] | None = None) -> Solution:
    """Solve the DMFT. ``checkpoint(solution)`` is called after every iterate (``iterate``);
    ``start`` resumes the iteration from a saved iterate."""
    check_config(cfg)
    p = cfg.problem()
    noise = sw.Noise.draw(cfg.samples, p, cfg.seed)
    t0 = time.perf_counter()
    if cfg.method == "march" or math.isinf(cfg.gamma):
        res = sw.sweep(p, noise, estimator=cfg.estimator)
        sol = Solution(cfg, res, [], 1, time.perf_counter() - t0)
        if res.diverged is not None:
            sol.status = f"diverged: non-finite statistics at t = {res.diverged * cfg.dt:g}"
        return sol
    residuals = list(start_residuals or [])
    x = start.copy() if start is not None else online_limit(cfg, noise).fields
    evals = 0
    sol = None

    def F(fields):
        nonlocal evals
        evals += 1
        return sw.sweep(p, noise, frozen=fields, estimator=cfg.estimator)

    if cfg.anderson:
        sol = _anderson(cfg, p, F, x, residuals, checkpoint, t0)
        if sol is not None:
            sol.map_evaluations = evals
            return sol
        log.warning("Anderson acceleration failed; continuing with damped iteration")
    status = "not converged"
    done_before = len(residuals)
    while len(residuals) - done_before < cfg.max_iter:
        out = F(x)
        r = residual(out.fields, x, out.noise)
        residuals.append(r)
        log.info("iteration %d: residual %.3g (Monte-Carlo units)", len(residuals), r)
        sol = Solution(cfg, out, list(residuals), evals, time.perf_counter() - t0)
        if r < cfg.tol:
            status = "complete"
            break
        new = sw.Fields(*(cfg.damping * getattr(out.fields, k) + (1 - cfg.damping) * getattr(x, k)
                          for k in ("Cg", "Rh", "Rhs")))
        x = new
        sol.status = f"iterating ({len(residuals) - done_before} of at most {cfg.max_iter} in this run)"
        if checkpoint is not None:
            checkpoint(sol, x)
    sol.status = status if status == "complete" else \
        f"not converged: residual {residuals[-1]:.3g} after {len(residuals)} iterations (tol {cfg.tol})"
    sol.map_evaluations = evals
    return sol


def _anderson(cfg, p, F, x0, residuals, checkpoint, t0):
    """Anderson-accelerated root of G(y) = (F(x) - x) / noise in scaled variables; None on failure."""
    from scipy.optimize import NoConvergence, anderson

    T, N = p.T, p.N
    first = F(x0)
    scale = np.concatenate([np.full(getattr(first.fields, k).size, max(first.noise[k], 1e-12))
                            for k in ("Cg", "Rh", "Rhs")])
    best = {"r": math.inf, "res": None}

    class Diverging(RuntimeError):
        pass

    pending = [first]   # F(x0) is already known: the first call of G reuses it

    def G(y):
        x = sw.Fields.from_vector(y * scale, T, N)
        out = pending.pop() if pending else F(x)
        r = residual(out.fields, x, out.noise)
        residuals.append(r)
        if r < best["r"]:
            best.update(r=r, res=out)
        elif r > 10 * best["r"]:          # safeguard: a step that makes things much worse ends it
            raise Diverging
        return (out.fields.vector() - x.vector()) / scale

    try:
        anderson(G, x0.vector() / scale, alpha=1.0, M=5, f_tol=cfg.tol,
                 maxiter=min(cfg.max_iter, ANDERSON_BUDGET),
                 line_search=None)
    except (NoConvergence, ValueError, np.linalg.LinAlgError, FloatingPointError, sw.CovarianceError,
            Diverging):
        pass
    if best["res"] is None or best["r"] >= cfg.tol:
        return None
    return Solution(cfg, best["res"], list(residuals), 0, time.perf_counter() - t0)


# ----------------------------------------------------------------------------- outputs
def gap_formula(cfg: DMFTConfig, res: sw.SweepResult) -> np.ndarray:
    """(2 alpha / (gamma N)) sum_ij int_0^t R^w_ij(t,s) C^g_ij(t,s) ds (DMFT paper eq. 5 = eq. 18),
    on the grid with the left Riemann sum of the h-process memory term."""
    if math.isinf(cfg.gamma):
        return np.zeros(cfg.T + 1)
    Rw = response_w(res)
    return 2 * cfg.alpha / (cfg.gamma * cfg.N) * cfg.dt * np.einsum("nmij,nmij->n", Rw, res.fields.Cg)


def response_w(res: sw.SweepResult) -> np.ndarray:
    """Rw[n, m] = (L^-1)[n, m+1] for m < n, zero otherwise."""
    L = res.Linv
    T1 = L.shape[0]
    Rw = np.zeros_like(L)
    Rw[:, :T1 - 1] = L[:, 1:]
    mask = np.tril(np.ones((T1, T1), dtype=bool), k=-1)
    return Rw * mask[:, :, None, None]


def weight_covariance(cfg: DMFTConfig, res: sw.SweepResult) -> np.ndarray:
    """Two-time Cw(t, s) = L^-1 Cov(b) L^-T (exact for the final fields)."""
    p = cfg.problem()
    f = res.fields
    T = p.T
    cov, _ = wprocess.source_covariance(p.C0, p.A0, f.Rhs[:T], None if math.isinf(p.gamma) else f.Cg[:T, :T],
                                        p.gamma, p.dt)
    Lf = wprocess.flat(res.Linv)
    return wprocess.unflat(Lf @ cov @ Lf.T, p.N)


def to_dataset(sol: Solution):
    """The labelled dataset of DESIGN.md section 6."""
    import xarray as xr

    from theory.generated import committee as th

    cfg, res = sol.config, sol.result
    T, N = cfg.T, cfg.N
    n = res.steps + 1
    t = np.arange(T + 1) * cfg.dt
    test = th.test_loss(res.A, res.Cw_diag, cfg.alpha, cfg.eps)
    gap = gap_formula(cfg, res)
    k = slice(0, n)
    one = {"units": "1"}
    V = lambda dims, arr, name: (dims, arr, {"long_name": name, **one})
    tt = ("t", "s", "i", "j")
    ds = xr.Dataset(
        {"train_loss": V(("t",), res.train_loss[:n], "train loss <Delta^2> over the DMFT samples"),
         "train_loss_se": V(("t",), res.train_loss_se[:n], "Monte-Carlo standard error of train_loss"),
         "test_loss": V(("t",), test[:n], "test loss from the closed form at (Cw(t,t), A(t))"),
         "A": V(("t", "i"), res.A[:n], "alignment A_i = <w_i beta>"),
         "C": V(("t", "i", "j"), res.Cw_diag[:n], "overlap C_ij(t) = Cw_ij(t,t)"),
         "Rhstar": V(("t", "i"), res.fields.Rhs[:n], "response R^{h*}_i(t) = <dg_i/dh_*>"),
         "gap_formula": V(("t",), gap[:n], "train/test gap of DMFT paper eq. (5)"),
         "Cw": V(tt, weight_covariance(cfg, res)[k, k], "weight correlation Cw_ij(t,s)"),
         "Cg": V(tt, res.fields.Cg[k, k], "gradient correlation Cg_ij(t,s)"),
         "Rw": V(tt, response_w(res)[k, k], "weight response Rw_ij(t,s) (s < t)"),
         "Rh": V(tt, res.fields.Rh[k, k], "preactivation response: <dg_i(t)/dh_j(t)> at s = t "
                                         "(local part, rate), dt x memory kernel at s < t"),
         "residual": V(("iteration",), np.asarray(sol.residuals, dtype=float),
                       "fixed-point residual |F(x) - x| in units of the Monte-Carlo error")},
        coords={"t": ("t", t[:n], {"long_name": "gradient-flow time", **one}),
                "s": ("s", t[k], {"long_name": "second time", **one}),
                "i": ("i", np.arange(N), {"long_name": "hidden unit", **one}),
                "j": ("j", np.arange(N), {"long_name": "hidden unit", **one}),
                "iteration": ("iteration", np.arange(1, len(sol.residuals) + 1),
                              {"long_name": "fixed-point iteration", **one})})
    ds.attrs.update(status=sol.status, map_evaluations=sol.map_evaluations,
                    solve_seconds=round(sol.seconds, 3), method=cfg.method, estimator=cfg.estimator)
    return ds
