"""The lazy (linearised) limit of the wide network: kernel gradient descent with the initial NTK.

As alpha -> infinity the centred predictor f~ = alpha [f(theta) - f(theta_0)] of
``numerics.simulate.wide`` is its linearisation around theta_0 (Chizat et al. 2019; Kumar et al.
2024, Sec. 4.1 and App. 8.1). In the time units of that simulator the residual on the training
set, Delta = y - f~(X), then obeys

.. math::  \\frac{d\\Delta}{dt} = -G \\Delta, \\qquad
           G = \\frac{D}{P} \\Big[K_w(X, X) + \\frac{1}{D} K_v(X, X)\\Big],

with the empirical initial kernels of the input weights, K_w(x, x') = (1/N) sum_i v_i^2
phi'(h_i) phi'(h'_i) x.x', and (trained readouts only) of the readouts,
K_v(x, x') = (1/N) sum_i phi(h_i) phi(h'_i). Euler steps of size dt, as in the simulator, give
after n steps, with z_n = [I - (I - dt G)^n] y and s_n = G^{-1} z_n (= dt sum_{m<n} Delta_m),

.. math::  \\Delta_n = (I - dt\\,G)^n y, \\qquad
           \\tilde f_n(x) = \\frac{D}{P} \\Big[K_w(x, X) + \\frac{1}{D} K_v(x, X)\\Big] s_n, \\qquad
           |W_n - W_0|_F^2 = \\frac{N D^2}{\\alpha^2 P^2}\\, s_n^T K_w(X, X)\\, s_n.

For fixed readouts the last is (N / alpha^2) z_n^T K_w^{-1} z_n, and at n -> infinity
(N / alpha^2) y^T K_w^{-1} y: Kumar et al. eq. (9), |w - w0|^2 ~ y^T K^{-1} y, with its
constant. The t -> infinity predictor is kernel regression with the initial NTK (Fig. 1b,
horizontal line). Everything is evaluated in the eigenbasis of G.
"""

from __future__ import annotations

import numpy as np


def kernels(X, Xp, W, v, eps, *, target="quadratic", k=2, readouts=False):
    """(K_w, K_v) between the rows of X (..., P, D) and Xp (..., Q, D) at weights W (..., N, D)
    and readouts v (..., N): :func:`numerics.kernels.ntk_gram` and (``readouts``)
    :func:`numerics.kernels.readout_gram`, zeros otherwise; NumPy arrays. The products run in
    torch (float64), whose thread count the simulators control."""
    import torch

    from grokking_workbench.numerics import kernels as K

    X, Xp, W, v = (torch.as_tensor(np.asarray(a, dtype=float)) for a in (X, Xp, W, v))
    hermite = k if target == "hermite" else None
    Kw = K.ntk_gram(X, W, eps, Xp, v=v, k=hermite).numpy()
    Kv = K.readout_gram(X, W, eps, Xp, k=hermite).numpy() if readouts else np.zeros_like(Kw)
    return Kw, Kv


def linearised_curves(X, y, W0, v0, eps, steps, dt: float, *, alpha: float = 1.0, Xh=None,
                      yh=None, target="quadratic", k=2, readouts=False) -> dict:
    """Train loss, held-out loss and relative weight change |W - W0|_F / |W0|_F of the
    linearised network after each number of Euler steps in ``steps`` (module docstring).

    One dataset: X (P, D), y (P,), W0 (N, D), v0 (N,); Xh, yh an optional held-out set.
    Returns a dict of arrays over ``steps`` and ``difficulty`` = y^T K_w^{-1} y (Kumar et al.
    eq. (8), with the empirical initial kernel).
    """
    from grokking_workbench.numerics.kernels import kernel_regression

    X, y, W0, v0 = (np.asarray(a, dtype=float) for a in (X, y, W0, v0))
    P, D = X.shape
    N = W0.shape[0]
    Kw, Kv = kernels(X, X, W0, v0, eps, target=target, k=k, readouts=readouts)
    G = D / P * (Kw + Kv / D)
    lam, U = np.linalg.eigh(G)
    lam = np.clip(lam, 0.0, None)
    if dt * lam.max() >= 2:
        raise ValueError(f"Euler steps of dt = {dt} are unstable for the largest kernel eigenvalue "
                         f"{lam.max():.3g} (need dt < 2 / lambda_max)")
    n = np.asarray(steps, dtype=float)[:, None]
    q = 1 - dt * lam                                             # in (-1, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        # 1 - q^n without cancellation where q > 0 (small dt lam), directly where q <= 0
        one_minus = np.where(q > 0, -np.expm1(n * np.log1p(-dt * lam)), 1 - np.power(q, n))
        gain = np.where(lam > 0, one_minus / np.where(lam > 0, lam, 1.0), n * dt)
    decay = 1 - one_minus                                        # (T, P): (1 - dt lam)^n
    yk = U.T @ y
    residual = (decay * yk) @ U.T                                # (T, P)
    s = (gain * yk) @ U.T                                        # (T, P)
    out = {"train_loss": (residual ** 2).mean(-1)}
    change2 = N * D ** 2 / (alpha ** 2 * P ** 2) * np.einsum("tp,pq,tq->t", s, Kw, s)
    out["param_change"] = np.sqrt(np.clip(change2, 0, None)) / np.linalg.norm(W0)
    cond = np.linalg.lstsq(Kw, y, rcond=None)[0]
    out["difficulty"] = float(y @ cond)
    if Xh is not None:
        Kwh, Kvh = kernels(np.asarray(Xh), X, W0, v0, eps, target=target, k=k, readouts=readouts)
        f = s @ (D / P * (Kwh + Kvh / D)).T                      # (T, H)
        out["held_out_loss"] = ((np.asarray(yh)[None] - f) ** 2).mean(-1)
        inf = kernel_regression(G, y, D / P * (Kwh + Kvh / D))
        out["kernel_held_out_loss"] = float(((np.asarray(yh) - inf) ** 2).mean())
    return out
