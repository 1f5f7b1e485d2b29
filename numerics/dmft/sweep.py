"""One causal sweep through the discretised DMFT: sample the h-process, estimate its statistics.

The discretised equations (DESIGN.md section 4; :mod:`numerics.dmft.wprocess`) are causal: the
statistics needed at step n (Rw[n, m<n], Cw[n, n], A[n], the Gaussian input u_n) depend only on
(Rh, Rhs, Cg) at earlier steps, and the estimates at step n (Cg[n, m<=n], Rh[n, m<=n], Rhs[n])
depend only on the h-paths up to n. A sweep therefore works in one of two modes:

- ``march``: each step uses the estimates just made at earlier steps. The result solves the
  discrete DMFT exactly for the frozen random numbers (common random numbers), in one pass.
- ``frozen``: each step uses given inputs x = (Cg, Rh, Rhs); the outputs are the fixed-point map
  F(x) of the paper's iteration (DMFT paper, A.6). The march's result x* satisfies F(x*) = x*.

Per step n (all samples s at once; N hidden units):

    u_n   = sum_{j<=n} Linv[n, j] b'_j,   b'_0 = u_0, b'_{j+1} = dt (eta_j + Rhs[j] h_*)
    h_n   = u_n + (dt/gamma) sum_{m<n} Rw[n, m] g_m                      (DMFT paper, eq. 4)
    g_n   = phi'(h_n) Delta_n,  Delta_n = sigma(h_*) - (alpha/N) sum_k phi(h_nk)
    Jg    = d g_n / d h_n = eps Delta_n I - (alpha/N) phi'(h_n) phi'(h_n)^T

with (u_0, h_*) ~ N(0, [[C0, A0], [A0^T, 1]]) and eta ~ N(0, Cg/gamma) sampled causally
(block Cholesky of Cg, extended one time step at a time). The gradient paths are smooth in time,
so Cg is nearly singular; a nugget of NUGGET (1e-6) times its mean diagonal keeps the causal
factor well defined. It changes the noise variance by a relative 1e-6, far below the
Monte-Carlo error 1/sqrt(S).

Responses (DMFT paper, eqs. 9 and 21):

- local part Rh[n, n] = <Jg(h_n)>, R^{h*}_n = <dg_n/dh_*> (forward tangent in h_*), and the
  train loss <Delta_n^2>, each as the exact Gaussian value (generated closed forms at
  (A_n, Cw_nn)) plus the sample mean of the paired deviation f(h) - f(u) (control variates,
  DESIGN.md section 4);
- memory part Rh[n, m<n] = <dg_n/du_m>, by one of two estimators:
  ``probe`` (default): a forward tangent driven by independent N(0, 1) probes v per sample,
  E[(Jg (hdot_n - v_n)) v_m^T] = <dg_n/du_m>; cost O(S N^2 T^2) like the forward pass;
  ``jacobian``: the full per-sample Jacobian dh_n/du_m (the recursions of DMFT paper A.4),
  exact per sample, cost O(S N^3 T^3) (small problems, validation).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)

ESTIMATORS = ("probe", "jacobian")


class CovarianceError(RuntimeError):
    """A covariance stopped being positive definite beyond what jitter can repair."""


@dataclass
class Problem:
    """The model and grid: N units, (C0, A0), alpha, eps, gamma (inf allowed), dt, T steps."""

    C0: np.ndarray
    A0: np.ndarray
    alpha: float
    eps: float
    gamma: float
    dt: float
    T: int

    @property
    def N(self) -> int:
        return len(self.A0)

    @property
    def inv_gamma(self) -> float:
        return 0.0 if np.isinf(self.gamma) else 1.0 / self.gamma


@dataclass
class Noise:
    """Common random numbers: base normals for (u_0, h_*), eta and the probes."""

    z0: np.ndarray     # (S, N + 1)
    zeta: np.ndarray   # (S, T + 1, N)
    v: np.ndarray      # (S, T + 1, N)

    @staticmethod
    def draw(S: int, problem: Problem, seed: int) -> "Noise":
        rng = np.random.default_rng(seed)
        N, T = problem.N, problem.T
        return Noise(rng.standard_normal((S, N + 1)), rng.standard_normal((S, T + 1, N)),
                     rng.standard_normal((S, T + 1, N)))

    @property
    def S(self) -> int:
        return self.z0.shape[0]


@dataclass
class Fields:
    """(Cg, Rh, Rhs): the inputs of the w-process, (T+1, T+1, N, N), same, (T+1, N)."""

    Cg: np.ndarray
    Rh: np.ndarray
    Rhs: np.ndarray

    @staticmethod
    def zeros(T: int, N: int) -> "Fields":
        return Fields(np.zeros((T + 1, T + 1, N, N)), np.zeros((T + 1, T + 1, N, N)),
                      np.zeros((T + 1, N)))

    def vector(self) -> np.ndarray:
        return np.concatenate([self.Cg.ravel(), self.Rh.ravel(), self.Rhs.ravel()])

    @staticmethod
    def from_vector(x: np.ndarray, T: int, N: int) -> "Fields":
        a = (T + 1) ** 2 * N * N
        return Fields(x[:a].reshape(T + 1, T + 1, N, N), x[a:2 * a].reshape(T + 1, T + 1, N, N),
                      x[2 * a:].reshape(T + 1, N))

    def copy(self) -> "Fields":
        return Fields(self.Cg.copy(), self.Rh.copy(), self.Rhs.copy())


@dataclass
class SweepResult:
    """Estimates (``fields``), the exact w-process statistics, losses and error estimates."""

    fields: Fields
    A: np.ndarray            # (T+1, N)
    Cw_diag: np.ndarray      # (T+1, N, N)
    Linv: np.ndarray         # (T+1, T+1, N, N) blocks of L^-1
    train_loss: np.ndarray   # (T+1,)
    train_loss_se: np.ndarray
    noise: dict = field(default_factory=dict)   # Monte-Carlo standard errors (pooled) per field
    steps: int = 0
    seconds: dict = field(default_factory=dict)  # wall time: linear (w-process), sampling, responses
    diverged: int | None = None                  # first step with a non-finite statistic


NUGGET = 1e-6   # relative regularisation of the causal Cholesky factor of C^g (see sweep)


def _cholesky_psd(M: np.ndarray, what: str, scale: float | None = None) -> np.ndarray:
    """Cholesky factor of a symmetric PSD matrix, with jitter growing from 1e-12 of ``scale``
    (default: the largest diagonal entry); CovarianceError if it fails."""
    M = 0.5 * (M + M.T)
    if scale is None:
        scale = float(np.max(np.abs(np.diag(M))))
    scale = max(scale, 1e-300)
    jitter = 0.0
    for _ in range(8):
        try:
            return np.linalg.cholesky(M + jitter * np.eye(len(M)))
        except np.linalg.LinAlgError:
            jitter = scale * (1e-12 if jitter == 0 else 100 * jitter / scale)
    lam = np.linalg.eigvalsh(M).min()
    raise CovarianceError(f"{what} is not positive semi-definite (smallest eigenvalue {lam:.3g})")


@np.errstate(over="ignore", invalid="ignore")   # divergence is detected and reported instead
def sweep(problem: Problem, noise: Noise, *, frozen: Fields | None = None, estimator: str = "probe",
          until: int | None = None) -> SweepResult:
    """One causal sweep (see module docstring).

    ``frozen``: evaluate the fixed-point map F(frozen) instead of marching.
    ``until``: stop after this step (default T).
    """
    from theory.generated import committee as th

    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    p = problem
    N, T, dt, ig = p.N, p.T, p.dt, p.inv_gamma
    S = noise.S
    last = T if until is None else until
    alpha, eps = p.alpha, p.eps
    I = np.eye(N)

    est = Fields.zeros(T, N)
    used = frozen if frozen is not None else est   # the fields driving the w-process

    Lf = np.zeros(((T + 1) * N, (T + 1) * N))    # L^-1 (flat), built row block by row block
    Rw = np.zeros((T + 1, T + 1, N, N)) if estimator == "jacobian" else None
    A = np.zeros((T + 1, N))
    Cw_diag = np.zeros((T + 1, N, N))
    covb = np.zeros(((T + 1) * N, (T + 1) * N))   # Cov(b), filled as fields become known
    Rb = np.zeros((T + 1) * N)                     # <b beta>
    covb[:N, :N] = p.C0
    Rb[:N] = p.A0
    Lc = np.zeros(((T + 1) * N, (T + 1) * N))      # causal Cholesky factor of Cg (flat)

    L0 = _cholesky_psd(np.block([[p.C0, p.A0[:, None]], [p.A0[None, :], np.ones((1, 1))]]),
                       "[[C0, A0], [A0^T, 1]]")
    z = noise.z0 @ L0.T
    u0, hstar = z[:, :N], z[:, N]
    bprime = np.zeros((S, T + 1, N))
    bprime[:, 0] = u0

    g = np.zeros((S, T + 1, N))
    gdot = np.zeros((S, T + 1, N))     # probe tangent of g
    gstar = np.zeros((S, T + 1, N))    # d g / d h_*
    v = noise.v
    JG = np.zeros((S, T + 1, N, T + 1, N)) if estimator == "jacobian" else None
    train = np.zeros(T + 1)
    train_se = np.zeros(T + 1)
    se_acc = {"Cg": [], "Rh": [], "Rhs": []}

    clock = {"linear": 0.0, "sampling": 0.0, "responses": 0.0}
    tick = time.perf_counter()

    def lap(name):
        nonlocal tick
        now = time.perf_counter()
        clock[name] += now - tick
        tick = now

    diverged = None
    for n in range(last + 1):
        # ---- exact w-process statistics at step n (depend on fields at steps < n)
        cur, prev_rows = slice(n * N, (n + 1) * N), slice((n - 1) * N, n * N)
        if n > 0:
            # w_n = w_{n-1} + dt sum_{k<n} Rh[n-1, k] w_k + b_n
            rh_row = np.transpose(used.Rh[n - 1, :n], (1, 0, 2)).reshape(N, n * N)
            Lf[cur, :n * N] = Lf[prev_rows, :n * N] + dt * rh_row @ Lf[:n * N, :n * N]
        Lf[cur, cur] = I
        row = Lf[cur, :(n + 1) * N]
        rw_row = Lf[cur, N:(n + 1) * N]              # Rw[n, m] = L^-1[n, m+1], m < n
        if Rw is not None and n > 0:
            Rw[n, :n] = np.transpose(rw_row.reshape(N, n, N), (1, 0, 2))
        A[n] = row @ Rb[:(n + 1) * N]
        Cw_diag[n] = row @ covb[:(n + 1) * N, :(n + 1) * N] @ row.T
        lap("linear")
        # ---- Gaussian input and the non-Gaussian preactivation
        u = bprime[:, :n + 1].reshape(S, -1) @ row.T
        if n > 0 and ig > 0:
            stacked = np.concatenate([g[:, :n], gdot[:, :n], gstar[:, :n]]).reshape(3 * S, n * N)
            mem = dt * ig * (stacked @ rw_row.T).reshape(3, S, N)
        else:
            mem = np.zeros((3, S, N))
        h = u + mem[0]
        hdot = v[:, n] + mem[1]
        hsdot = mem[2]
        dph_h, dph_u = 1 + eps * h, 1 + eps * u
        delta_h = hstar ** 2 / 2 - alpha / N * np.sum(h + eps / 2 * h ** 2, axis=1)
        delta_u = hstar ** 2 / 2 - alpha / N * np.sum(u + eps / 2 * u ** 2, axis=1)

        def jg(x):   # Jg(h) x for each sample
            return eps * delta_h[:, None] * x - alpha / N * dph_h * np.sum(dph_h * x, axis=1, keepdims=True)

        g[:, n] = dph_h * delta_h[:, None]
        gdot[:, n] = jg(hdot)
        gstar[:, n] = dph_h * hstar[:, None] + jg(hsdot)
        lap("sampling")
        # ---- estimates at step n
        est.Cg[n, :n + 1] = _outer_mean(g[:, n], g[:, :n + 1])
        est.Cg[:n + 1, n] = np.transpose(est.Cg[n, :n + 1], (0, 2, 1))
        dev_local = (eps * (delta_h - delta_u)[:, None, None] * I
                     - alpha / N * (dph_h[:, :, None] * dph_h[:, None, :] - dph_u[:, :, None] * dph_u[:, None, :]))
        est.Rh[n, n] = th.response_h(A[n], Cw_diag[n], alpha, eps) + dev_local.mean(0)
        dev_star = gstar[:, n] - dph_u * hstar[:, None]
        est.Rhs[n] = th.response_hstar(A[n], Cw_diag[n], alpha, eps) + dev_star.mean(0)
        dev_loss = delta_h ** 2 - delta_u ** 2
        train[n] = th.test_loss(A[n], Cw_diag[n], alpha, eps) + dev_loss.mean()
        train_se[n] = dev_loss.std() / np.sqrt(S)
        se_acc["Rhs"].append(dev_star.std(0) / np.sqrt(S))
        se_acc["Rh"].append(dev_local.std(0).ravel() / np.sqrt(S))
        if n > 0 and ig > 0:
            if estimator == "probe":
                contrib = jg(hdot - v[:, n])
                est.Rh[n, :n] = _outer_mean(contrib, v[:, :n])
                se_acc["Rh"].append((np.abs(contrib).std(0)[:, None] * np.abs(v[:, :n]).std(0).mean()).ravel()
                                    / np.sqrt(S))
            else:
                # J_n = dh_n/du_m = I delta_nm + (dt/gamma) sum_{k<n} Rw[n,k] JG_k
                Jn = dt * ig * np.einsum("kac,skcmb->samb", Rw[n, :n], JG[:, :n])
                Jn[:, :, n, :] += I
                JG[:, n] = np.einsum("sac,scmb->samb",
                                     eps * delta_h[:, None, None] * I - alpha / N * dph_h[:, :, None] * dph_h[:, None, :],
                                     Jn)
                est.Rh[n, :n] = np.transpose(JG[:, n, :, :n].mean(0), (1, 0, 2))
        elif estimator == "jacobian":
            Jn = np.zeros((S, N, T + 1, N))
            Jn[:, :, n, :] = I
            JG[:, n] = np.einsum("sac,scmb->samb",
                                 eps * delta_h[:, None, None] * I - alpha / N * dph_h[:, :, None] * dph_h[:, None, :], Jn)
        se_acc["Cg"].append((g[:, n, :, None] * g[:, n, None, :]).std(0).ravel() / np.sqrt(S))
        lap("responses")
        if not (np.isfinite(train[n]) and np.all(np.isfinite(A[n])) and np.all(np.isfinite(est.Rh[n]))):
            diverged = n
            break
        if n == T:
            break
        # ---- extend Cov(b), <b beta> and the Gaussian source b' to step n + 1
        sl = slice((n + 1) * N, (n + 2) * N)
        Rb[sl] = dt * used.Rhs[n]
        drhs = dt * used.Rhs[:n + 1].reshape(-1)
        covb[sl, N:(n + 2) * N] = np.outer(dt * used.Rhs[n], drhs)
        covb[sl, :N] = np.outer(dt * used.Rhs[n], p.A0)
        if ig > 0:
            cg_row = np.transpose(used.Cg[n, :n + 1], (1, 0, 2)).reshape(N, (n + 1) * N)
            covb[sl, N:(n + 2) * N] += dt ** 2 * ig * cg_row
            # causal Cholesky of Cg: new block row
            prev = slice(0, n * N)
            Lrow = np.zeros((N, (n + 1) * N))
            if n > 0:
                Lrow[:, :n * N] = _forward_solve(Lc[prev, prev], cg_row[:, :n * N])
            nugget = NUGGET * max(float(np.trace(used.Cg[0, 0])) / N, float(np.trace(used.Cg[n, n])) / N)
            D = used.Cg[n, n] + nugget * I - Lrow[:, :n * N] @ Lrow[:, :n * N].T
            Lrow[:, n * N:] = _cholesky_psd(D, f"C^g conditional covariance at step {n}",
                                            scale=float(np.trace(used.Cg[n, n])) / N)
            Lc[n * N:(n + 1) * N, :(n + 1) * N] = Lrow
            eta = noise.zeta[:, :n + 1].reshape(S, -1) @ Lrow.T * np.sqrt(ig)
        else:
            eta = 0.0
        covb[N:(n + 2) * N, sl] = covb[sl, N:(n + 2) * N].T
        covb[:N, sl] = covb[sl, :N].T
        bprime[:, n + 1] = dt * (eta + used.Rhs[n][None, :] * hstar[:, None])
        lap("linear")

    noise_level = {k: float(np.sqrt(np.mean(np.concatenate(v_) ** 2))) if v_ else 0.0
                   for k, v_ in se_acc.items()}
    Linv = np.transpose(Lf.reshape(T + 1, N, T + 1, N), (0, 2, 1, 3))
    steps = last if diverged is None else diverged - 1
    return SweepResult(est, A, Cw_diag, Linv, train, train_se, noise_level, steps, clock, diverged)


def _outer_mean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """mean_s a[s, :] b[s, m, :]^T as an (m, N, N) array, through one matrix product."""
    S, M, N = b.shape
    return np.transpose((a.T @ b.reshape(S, M * N)).reshape(a.shape[1], M, N), (1, 0, 2)) / S


def _forward_solve(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    """X with X L^T = B for lower-triangular L (rows of B: right-hand sides)."""
    from scipy.linalg import solve_triangular

    return solve_triangular(L, B.T, lower=True, check_finite=False).T
