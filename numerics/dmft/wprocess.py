"""The Gaussian w-process of the DMFT, solved exactly as a causal linear system (no sampling).

Discretisation (DESIGN.md section 4; DMFT paper eqs. 3 and 7), grid t_n = n dt, n = 0..T:

    w_{n+1} = w_n + dt (xi_n + sum_{m<=n} Rh[n, m] w_m + Rhs[n] beta),   xi ~ N(0, Cg / gamma),
    (w_0, beta) Gaussian with <w_0 w_0^T> = C0, <w_0 beta> = A0, <beta^2> = 1.

Stacking w = (w_0, ..., w_T) (length (T+1) N), this is L w = b with L block lower-triangular
(identity diagonal blocks; row n+1 holds -I - dt Rh[n, n] at column n and -dt Rh[n, m] at m < n) and
b = (w_0, dt (xi_0 + Rhs[0] beta), ...). Hence

    Cw = L^-1 Cov(b) L^-T,   A = L^-1 <b beta>,   Rw[n, m] = (L^-1)[n, m+1]   (m < n),

exactly; Rw[n, n-1] = I is the equal-time response. All arrays are indexed (time, time, unit,
unit) and are dimensionless: the memory term of the h-process is (dt/gamma) sum_m Rw[n, m] g_m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular


@dataclass
class WSolution:
    """Cw (T+1, T+1, N, N), A (T+1, N), Rw (T+1, T+1, N, N) (Rw[n, m] = 0 for m >= n), and the
    inverse system matrix Linv ((T+1) N, (T+1) N) used to sample the h-process inputs."""

    Cw: np.ndarray
    A: np.ndarray
    Rw: np.ndarray
    Linv: np.ndarray


def system_matrix(Rh: np.ndarray, dt: float) -> np.ndarray:
    """L of the w-recursion from Rh (T, T, N, N) (rows n = 0..T-1 of the memory kernel)."""
    T, _, N, _ = Rh.shape
    L = np.eye((T + 1) * N)
    for n in range(T):
        rows = slice((n + 1) * N, (n + 2) * N)
        # -dt sum_{m<=n} Rh[n, m] w_m, and -w_n
        block = -dt * np.transpose(Rh[n, : n + 1], (1, 0, 2)).reshape(N, (n + 1) * N)
        L[rows, : (n + 1) * N] += block
        L[rows, n * N:(n + 1) * N] -= np.eye(N)
    return L


def source_covariance(C0: np.ndarray, A0: np.ndarray, Rhs: np.ndarray, Cg: np.ndarray | None,
                      gamma: float, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Cov(b) ((T+1)N square) and <b beta> ((T+1)N) of the source vector b.

    b_0 = w_0, b_{n+1} = dt (xi_n + Rhs[n] beta); xi is independent of (w_0, beta).
    """
    T, N = Rhs.shape
    drift = dt * Rhs.reshape(-1)
    Rb = np.concatenate([A0, drift])                             # <b beta>
    # (w_0, beta) part: b = [w_0; dt Rhs beta] -> Cov = [[C0, A0 (dt Rhs)^T], [., dt^2 Rhs Rhs^T]]
    cov = np.zeros(((T + 1) * N, (T + 1) * N))
    cov[:N, :N] = C0
    cov[:N, N:] = np.outer(A0, drift)
    cov[N:, :N] = cov[:N, N:].T
    cov[N:, N:] = np.outer(drift, drift)
    if Cg is not None and np.isfinite(gamma):
        cov[N:, N:] += dt ** 2 / gamma * flat(Cg)
    return cov, Rb


def flat(K: np.ndarray) -> np.ndarray:
    """(T, T, N, N) two-time array as a (T N, T N) matrix with index (n, i) -> n N + i."""
    T1, T2, N, M = K.shape
    return np.transpose(K, (0, 2, 1, 3)).reshape(T1 * N, T2 * M)


def unflat(K: np.ndarray, N: int) -> np.ndarray:
    """Inverse of :func:`flat`."""
    T1, T2 = K.shape[0] // N, K.shape[1] // N
    return np.transpose(K.reshape(T1, N, T2, N), (0, 2, 1, 3))


def solve(C0, A0, Rh, Rhs, Cg, gamma: float, dt: float) -> WSolution:
    """Exact (Cw, A, Rw) of the linear w-process for given (Rh, Rhs, Cg).

    Rh: (T, T, N, N), Rhs: (T, N), Cg: (T, T, N, N) or None (gamma = inf).
    """
    T, _, N, _ = Rh.shape
    L = system_matrix(Rh, dt)
    Linv = solve_triangular(L, np.eye(L.shape[0]), lower=True, unit_diagonal=True)
    cov, Rb = source_covariance(C0, A0, Rhs, Cg, gamma, dt)
    Cw = Linv @ cov @ Linv.T
    Cw = 0.5 * (Cw + Cw.T)
    A = (Linv @ Rb).reshape(T + 1, N)
    Rw = np.zeros((T + 1, T + 1, N, N))
    # Rw[n, m] = Linv[n, m+1] for m < n
    blocks = unflat(Linv, N)                     # (T+1, T+1, N, N): blocks[n, k] = Linv[n, k]
    Rw[:, :T] = blocks[:, 1:]
    for n in range(T + 1):
        Rw[n, n:] = 0.0
    return WSolution(unflat(Cw, N), A, Rw, Linv)
