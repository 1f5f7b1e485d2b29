"""Effective-theory dynamics of the normalised embeddings (Liu et al. 2022, eqs. (4)-(9)).

Two flows of the embeddings ``R`` (shape (p, d)) for a parallelogram set ``P``, with
``M = A(P)^T A(P) / |P|`` so that ``l0 = tr(R^T M R)`` (eq. (5)):

* ``"full"`` (eq. (4)): gradient flow on ``l_eff = l0 / Z0`` with ``Z0 = |R|^2`` varying,
  ``dR/dt = -2 M R / Z0 + (2 l0 / Z0^2) R``;
* ``"linear"`` (eq. (9)): ``dR/dt = -H R`` with ``H = 2 M / Z0`` and Z0 frozen at its initial
  value (eq. (8)).

Every trajectory reports ``C = sum_k E_k`` (per dimension), ``Z0``, ``l0`` and ``l_eff`` at each
record time. Derived in :mod:`theory.effective`: under ``"full"`` Z0 is exactly conserved and
``dC/dt = (2 l0/Z0^2) C`` (so C is conserved when it is zero, as for normalised embeddings);
under ``"linear"`` C is exactly conserved and ``dZ0/dt = -4 l0/Z0``. The paper (eq. (6)) states
that both are conserved. The integrator is classical RK4 with a fixed step; the linear flow also
has the exact solution :func:`linear_exact` (``R(t) = exp(-H t) R(0)``), used to measure the
integrator's order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from grokking_workbench.numerics import representation as rep
from grokking_workbench.numerics.validate import InputError, positive

log = logging.getLogger(__name__)

FLOWS = ("full", "linear")


@dataclass(frozen=True)
class Trajectory:
    """A solution of the effective dynamics at the record times.

    ``R`` (n_t, p, d); ``C`` (n_t, d); ``Z0``, ``l0``, ``l_eff`` (n_t,). ``rate_C`` is the
    analytic ``dC/dt`` at each record time (``2 l0 C / Z0^2`` for the full flow, 0 for the
    linear one), for comparing with finite differences of ``C``.
    """

    times: np.ndarray
    R: np.ndarray
    C: np.ndarray
    Z0: np.ndarray
    l0: np.ndarray
    l_eff: np.ndarray
    rate_C: np.ndarray
    flow: str
    dt: float


def loss_matrix(quads: np.ndarray, p: int) -> np.ndarray:
    """M = A(P)^T A(P) / |P| so that l0 = tr(R^T M R) (eq. (5)); zero for an empty P."""
    quads = np.asarray(quads, dtype=int).reshape(-1, 4)
    if len(quads) == 0:
        return np.zeros((p, p))
    A = rep.constraint_matrix(quads, p)
    return A.T @ A / len(quads)


def l0_value(R: np.ndarray, M: np.ndarray) -> float:
    """l0 = tr(R^T M R)."""
    return float(np.einsum("kd,kl,ld->", R, M, R))


def velocity(R: np.ndarray, M: np.ndarray, flow: str = "full", z0_frozen: float | None = None) -> np.ndarray:
    """dR/dt of eq. (4) (``flow="full"``) or eq. (9) (``flow="linear"``, Z0 = ``z0_frozen``)."""
    MR = M @ R
    if flow == "full":
        z = float((R * R).sum())
        l0 = float((R * MR).sum())
        return -2.0 * MR / z + (2.0 * l0 / z ** 2) * R
    if flow == "linear":
        return -2.0 * MR / float(z0_frozen)
    raise InputError("flow", f"must be one of {FLOWS}, got {flow!r}")


def _rk4(R, M, flow, z0f, h):
    k1 = velocity(R, M, flow, z0f)
    k2 = velocity(R + 0.5 * h * k1, M, flow, z0f)
    k3 = velocity(R + 0.5 * h * k2, M, flow, z0f)
    k4 = velocity(R + h * k3, M, flow, z0f)
    return R + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)


def integrate(R0: np.ndarray, quads: np.ndarray, times: np.ndarray, *, flow: str = "full",
              dt: float = 0.5, z0_frozen: float | None = None) -> Trajectory:
    """Integrate the effective dynamics from ``R0`` and record at ``times`` (ascending, >= 0).

    ``R0``: (p,) or (p, d) embeddings (not normalised here: pass :func:`rep.normalise` output to
    follow the paper). Between record times the step is the largest <= ``dt`` that divides the
    interval. ``z0_frozen`` (linear flow) defaults to Z0(R0).
    """
    if flow not in FLOWS:
        raise InputError("flow", f"must be one of {FLOWS}, got {flow!r}")
    dt = positive("dt", dt)
    R = rep.as_vectors(R0).copy()
    if not np.all(np.isfinite(R)):
        raise InputError("R0", "entries must be finite")
    p = R.shape[0]
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or np.any(times < 0) or np.any(np.diff(times) < 0):
        raise InputError("times", "must be a non-decreasing 1-D array of times >= 0")
    M = loss_matrix(quads, p)
    z0f = float((R * R).sum()) if z0_frozen is None else positive("z0_frozen", z0_frozen)
    if float((R * R).sum()) == 0.0:
        raise InputError("R0", "all embeddings are zero: l_eff = l0/Z0 is undefined")
    out = np.empty((len(times),) + R.shape)
    t = 0.0
    for n, t_rec in enumerate(times):
        span = t_rec - t
        if span > 0:
            steps = int(np.ceil(span / dt - 1e-12))
            h = span / steps
            for _ in range(steps):
                R = _rk4(R, M, flow, z0f, h)
            t = t_rec
        out[n] = R
    return _trajectory(times, out, M, flow, dt)


def linear_exact(R0: np.ndarray, quads: np.ndarray, times: np.ndarray,
                 z0_frozen: float | None = None) -> Trajectory:
    """Exact solution of eq. (9): R(t) = V exp(-Lambda t) V^T R(0) (Sec. 3.2)."""
    R = rep.as_vectors(R0)
    p = R.shape[0]
    M = loss_matrix(quads, p)
    z0f = float((R * R).sum()) if z0_frozen is None else float(z0_frozen)
    lam, V = np.linalg.eigh(2.0 * M / z0f)
    a = V.T @ R
    times = np.asarray(times, dtype=float)
    out = np.einsum("kj,tj,jd->tkd", V, np.exp(-np.outer(times, lam)), a)
    return _trajectory(times, out, M, "linear", 0.0)


def _trajectory(times, Rs, M, flow, dt) -> Trajectory:
    C = Rs.sum(axis=1)
    Z0 = (Rs ** 2).sum(axis=(1, 2))
    l0 = np.einsum("tkd,kl,tld->t", Rs, M, Rs)
    rate = 2.0 * l0[:, None] * C / Z0[:, None] ** 2 if flow == "full" else np.zeros_like(C)
    return Trajectory(times=times, R=Rs, C=C, Z0=Z0, l0=l0, l_eff=l0 / Z0, rate_C=rate,
                      flow=flow, dt=dt)


def conservation_drift(traj: Trajectory) -> dict[str, float]:
    """Largest deviation of the conserved quantities from their initial values along ``traj``:
    ``Z0`` (relative) for the full flow, ``C`` (absolute, scaled by sqrt(Z0(0))) for both."""
    z = traj.Z0[0]
    return {"Z0": float(np.max(np.abs(traj.Z0 - z)) / z),
            "C": float(np.max(np.abs(traj.C - traj.C[0])) / np.sqrt(z))}
