"""Initial conditions of the simulators: random streams per seed, the target direction, weights.

Every seed owns independent random streams (dataset, target, initialisation, held-out set), so a
seed's dataset does not depend on how many seeds or hyperparameter points run beside it: a batched
run and a loop over single runs see the same numbers.

Weights are either random (w_i ~ N(0, sigma^2 I), docs/conventions.md: C0 ~ sigma^2 I,
A0 ~ N(0, sigma^2 / D)) or built with prescribed overlaps C_ij = w_i.w_j / D and A_i = w_i.beta / D
exactly (up to rounding): with beta/sqrt(D) and an orthonormal frame u_1..u_N orthogonal to it,

.. math::  w_i = A_i \\beta + \\sqrt{D} \\sum_k F_{ik} u_k, \\qquad F F^T = C_0 - A_0 A_0^T,

which exists exactly when [[C0, A0], [A0^T, 1]] is positive semi-definite (its Schur complement
C0 - A0 A0^T is then PSD) and D >= N + 1.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

#: independent random streams of one seed
STREAMS = {"data": 0, "target": 1, "init": 2, "held_out": 3}


def stream_seed(seed: int, stream: str) -> int:
    """A 63-bit integer seed for ``stream`` of ``seed`` (numpy SeedSequence spawning)."""
    state = np.random.SeedSequence([int(seed), STREAMS[stream]]).generate_state(2, dtype=np.uint32)
    return ((int(state[0]) << 32) | int(state[1])) & ((1 << 63) - 1)


def generator(seed: int, stream: str, device="cpu"):
    """A torch.Generator on ``device`` for ``stream`` of ``seed``."""
    import torch

    g = torch.Generator(device=torch.device(device))
    g.manual_seed(stream_seed(seed, stream))
    return g


def target_direction(seeds: Sequence[int], D: int, *, device="cpu", dtype=None):
    """Target directions beta, shape (S, D), uniform on the sphere |beta|^2 = D (docs/conventions.md)."""
    import torch

    dtype = dtype or torch.float64
    beta = torch.empty(len(seeds), D, device=device, dtype=dtype)
    for s, seed in enumerate(seeds):
        beta[s].normal_(generator=generator(seed, "target", device))
    return beta * (math.sqrt(D) / beta.norm(dim=-1, keepdim=True))


def random_weights(seeds: Sequence[int], N: int, D: int, sigma: float = 1.0, *, device="cpu",
                   dtype=None):
    """Random weights w_i ~ N(0, sigma^2 I_D), shape (S, N, D)."""
    import torch

    dtype = dtype or torch.float64
    W = torch.empty(len(seeds), N, D, device=device, dtype=dtype)
    for s, seed in enumerate(seeds):
        W[s].normal_(generator=generator(seed, "init", device))
    return W.mul_(sigma)


def schur_factor(C0, A0, *, tol: float = 1e-10) -> np.ndarray:
    """F with F F^T = C0 - A0 A0^T (symmetric square root; eigenvalues above -tol clipped to 0).

    Raises ValueError if the Schur complement has an eigenvalue below -tol, i.e. if
    [[C0, A0], [A0^T, 1]] is not positive semi-definite.
    """
    C0 = np.asarray(C0, dtype=float)
    A0 = np.asarray(A0, dtype=float)
    S = C0 - np.outer(A0, A0)
    S = (S + S.T) / 2
    lam, U = np.linalg.eigh(S)
    if lam.min(initial=0.0) < -tol * max(1.0, np.abs(S).max(initial=0.0)):
        raise ValueError(f"C0 - A0 A0^T has eigenvalue {lam.min():.3g} < 0")
    return (U * np.sqrt(np.clip(lam, 0.0, None))) @ U.T


def weights_with_overlaps(beta, C0, A0, seeds: Sequence[int]):
    """Weights of shape (S, N, D) with W W^T / D = C0 and W beta / D = A0 exactly, for each seed.

    ``beta`` has shape (S, D) with |beta|^2 = D. The directions orthogonal to beta come from each
    seed's ``init`` stream (a Gaussian frame, orthonormalised together with beta by QR).
    """
    import torch

    S, D = beta.shape
    A0 = np.asarray(A0, dtype=float)
    N = A0.shape[0]
    if D < N + 1:
        raise ValueError(f"prescribed overlaps need D >= N + 1 = {N + 1}, got D = {D}")
    F = torch.as_tensor(schur_factor(C0, A0), dtype=beta.dtype, device=beta.device)
    A = torch.as_tensor(A0, dtype=beta.dtype, device=beta.device)
    W = torch.empty(S, N, D, dtype=beta.dtype, device=beta.device)
    for s, seed in enumerate(seeds):
        G = torch.empty(D, N + 1, dtype=beta.dtype, device=beta.device)
        G[:, 1:].normal_(generator=generator(seed, "init", beta.device))
        G[:, 0] = beta[s]
        Q, _ = torch.linalg.qr(G)  # Q[:, 0] = +-beta / sqrt(D); Q[:, 1:] orthonormal, orthogonal to beta
        U = Q[:, 1:]
        # remove the rounding-level overlap with beta once more (Gram-Schmidt reorthogonalisation)
        b = beta[s] / beta[s].norm()
        U = U - b[:, None] * (b @ U)[None, :]
        U, _ = torch.linalg.qr(U)
        W[s] = A[:, None] * beta[s][None, :] + math.sqrt(D) * (F @ U.T)
    return W


def overlaps_of(W, beta):
    """Order parameters of weights (..., N, D) and targets (..., D): C = W W^T / D, A = W beta / D."""
    D = W.shape[-1]
    C = W @ W.transpose(-1, -2) / D
    A = (W @ beta.unsqueeze(-1)).squeeze(-1) / D
    return C, A
