"""The Gaussian w-process of the DMFT as one dense causal linear system (the reference form).

The sweep (:mod:`numerics.dmft.sweep`) builds the same system one node at a time; this module
assembles it whole, for tests and for the two-time outputs. Discretisation (``docs/dmft.md``;
DMFT paper eqs. 3 and 7) on a grid with steps h_n and the scheme's explicit weights
(c_now, c_prev) and implicit fraction theta (1/2 for ``imex2``, 0 for ``euler``):

    P_{n+1} w_{n+1} - Q_n w_n - c_now[n] E_n - c_prev[n] E_{n-1} = b_{n+1},
    E_k = sum_{m<k} Rh[k, m] (w_m - w_k),   K_k = Rh[k, k] + sum_{m<k} Rh[k, m],
    P_{n+1} = I - theta h_n K*_{n+1},   Q_n = I + (1 - theta) h_n K_n,
    b_{n+1} = c_now[n] (xi_n + Rhs[n] beta) + c_prev[n] (xi_{n-1} + Rhs[n-1] beta),   b_0 = w_0,

with K*_{n+1} = (1 + rho_n) K_n - rho_n K_{n-1} (K_0 on the first step): the total rate K (local
part plus the whole memory acting on the current w) is treated by the trapezoidal rule, the rest
of the memory explicitly. For ``euler`` (theta = 0) this is w_{n+1} = w_n + h_n (sum_{m<=n}
Rh[n, m] w_m + xi_n + Rhs[n] beta), the uniform-grid scheme of the first milestone.
xi ~ N(0, Cg / gamma) and (w_0, beta) Gaussian with <w_0 w_0^T> = C0, <w_0 beta> = A0,
<beta^2> = 1. Stacking w = (w_0, ..., w_T), L w = b with L block lower-triangular, so

    Cw = L^-1 Cov(b) L^-T,   A = L^-1 <b beta>,   Rw(t_n, t_m) = (L^-1)[n, m]   (m <= n),

exactly: Rw(t_n, t_m) is the response of w_n to a unit kick of its source at t_m.
All arrays are indexed (time, time, unit, unit) and are dimensionless.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grokking_workbench.numerics.dmft.grid import Grid


@dataclass
class WSolution:
    """Cw (T+1, T+1, N, N), A (T+1, N), Rw (T+1, T+1, N, N) (zero above the diagonal), and the
    inverse system matrix Linv ((T+1) N square)."""

    Cw: np.ndarray
    A: np.ndarray
    Rw: np.ndarray
    Linv: np.ndarray


def _implicit_fraction(grid: Grid) -> float:
    return 0.5 if grid.scheme == "imex2" else 0.0


def system_matrix(Rh: np.ndarray, grid: Grid) -> np.ndarray:
    """L of the w-recursion from Rh (at least (T, T, N, N): rows n = 0..T-1 are used)."""
    T, N = grid.T, Rh.shape[-1]
    h, rho = grid.h, grid.ratio()
    c_now, c_prev = grid.explicit_weights()
    theta = _implicit_fraction(grid)
    I = np.eye(N)
    L = np.zeros(((T + 1) * N, (T + 1) * N))
    L[:N, :N] = I
    blk = lambda a, b: (slice(a * N, (a + 1) * N), slice(b * N, (b + 1) * N))    # noqa: E731
    from grokking_workbench.numerics.dmft.sweep import rate_memory_part, total_rate

    for k in range(T):
        n = k + 1
        rate = total_rate(Rh, k)
        rate_next = rate if k == 0 else (1 + rho[k]) * rate - rho[k] * total_rate(Rh, k - 1)
        L[blk(n, n)] = I - theta * h[k] * rate_next
        L[blk(n, k)] -= I + (1 - theta) * h[k] * rate
        # explicit parts E_k = sum_{m<k} Rh[k, m] (w_m - w_k) and E_{k-1}
        for j, c in ((k, c_now[k]), (k - 1, c_prev[k])):
            if j < 0:
                continue
            rows = slice(n * N, (n + 1) * N)
            L[rows, :j * N] -= c * np.transpose(Rh[j, :j], (1, 0, 2)).reshape(N, j * N)
            L[blk(n, j)] += c * rate_memory_part(Rh, j)
    return L


def source_matrix(grid: Grid, N: int) -> np.ndarray:
    """B with (b_1, ..., b_T) = B (xi_0, ..., xi_{T-1}) for the xi part of the source, (T N square)."""
    T = grid.T
    c_now, c_prev = grid.explicit_weights()
    B = np.zeros((T, T))
    B[np.arange(T), np.arange(T)] = c_now
    B[np.arange(1, T), np.arange(T - 1)] = c_prev[1:]
    return np.kron(B, np.eye(N))


def source_covariance(C0: np.ndarray, A0: np.ndarray, Rhs: np.ndarray, Cg: np.ndarray | None,
                      gamma: float, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Cov(b) ((T+1)N square) and <b beta> ((T+1)N) of the source vector b.

    Rhs: (at least T, N); Cg: (at least T, T, N, N) or None; xi is independent of (w_0, beta).
    """
    T, N = grid.T, len(A0)
    c_now, c_prev = grid.explicit_weights()
    drift = c_now[:, None] * Rhs[:T]
    drift[1:] += c_prev[1:, None] * Rhs[:T - 1]
    drift = drift.reshape(-1)
    Rb = np.concatenate([A0, drift])                             # <b beta>
    cov = np.zeros(((T + 1) * N, (T + 1) * N))
    cov[:N, :N] = C0
    cov[:N, N:] = np.outer(A0, drift)
    cov[N:, :N] = cov[:N, N:].T
    cov[N:, N:] = np.outer(drift, drift)
    if Cg is not None and np.isfinite(gamma):
        B = source_matrix(grid, N)
        cov[N:, N:] += B @ flat(Cg[:T, :T]) @ B.T / gamma
    return cov, Rb


def flat(K: np.ndarray) -> np.ndarray:
    """(T, T, N, N) two-time array as a (T N, T N) matrix with index (n, i) -> n N + i."""
    T1, T2, N, M = K.shape
    return np.transpose(K, (0, 2, 1, 3)).reshape(T1 * N, T2 * M)


def unflat(K: np.ndarray, N: int) -> np.ndarray:
    """Inverse of :func:`flat`."""
    T1, T2 = K.shape[0] // N, K.shape[1] // N
    return np.transpose(K.reshape(T1, N, T2, N), (0, 2, 1, 3))


def solve(C0, A0, Rh, Rhs, Cg, gamma: float, grid: Grid) -> WSolution:
    """Exact (Cw, A, Rw) of the linear w-process for given (Rh, Rhs, Cg) on ``grid``.

    Rh: (at least T, T, N, N), Rhs: (at least T, N), Cg: (at least T, T, N, N) or None (gamma = inf).
    """
    N = len(A0)
    L = system_matrix(Rh, grid)
    Linv = np.linalg.solve(L, np.eye(L.shape[0]))    # block (not elementwise) lower-triangular
    cov, Rb = source_covariance(C0, A0, Rhs, Cg, gamma, grid)
    Cw = Linv @ cov @ Linv.T
    Cw = 0.5 * (Cw + Cw.T)
    A = (Linv @ Rb).reshape(grid.T + 1, N)
    return WSolution(unflat(Cw, N), A, unflat(Linv, N), Linv)
