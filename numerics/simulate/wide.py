"""Torch simulator of the wide two-layer network of Kumar et al. 2024 (docs/conventions.md).

Network and centred predictor (Kumar et al. 2024, eq. (21) and App. 8.1, eq. (7)):

.. math::  f(x; \\theta) = \\frac{1}{N} \\sum_i v_i\\, \\phi(w_i \\cdot x), \\qquad
           \\tilde f(x; \\theta) = \\alpha\\,[f(x; \\theta) - f(x; \\theta_0)]

(``centre=False`` trains alpha f itself), phi(z) = z + (eps/2) z^2 for the quadratic targets
and phi(z) = z + (eps/2) He_k(z) for the Hermite target (App. 15.2). Targets (``target``):

- ``quadratic``: y = (beta . x)^2 / 2 (eq. (3));
- ``hermite``: y = He_k(beta . x) / 2 (App. 15.2);
- ``multi-index``: y = (1 / (2 sqrt(r))) sum_{a=1}^r (beta_a . x)^2 with r = ``indices``
  orthogonal directions, |beta_a|^2 = D (App. 15.1; normalised so that the quadratic form
  B* = sum_a beta_a beta_a^T / sqrt(r) has |B*|_F = D for every r, as for r = 1);
- ``ntk-eigenvector``: the j-th eigenvector (descending eigenvalue) of the initial NTK Gram
  matrix K0 (eq. 10) of the training and held-out points together, scaled to unit mean square
  (Fig. 5); the first P entries label the training set, the rest the held-out set.

Readouts v_i start at 1 and are trained only if ``train_readouts`` (eqs. 21-23); initial
weights w_i ~ N(0, sigma^2 I) (Fig. 7), plus, with ``aligned`` = c > 0, the fraction c of the
analytic solution w_i = s_i beta / sqrt(alpha eps) (s_i = +1, -1 alternating, so wbar = 0 and
M = beta beta^T / (alpha eps), Sec. 5.3; Fig. 10). Loss L = (1/P) sum_mu (y_mu - f~_mu)^2.

Training is gradient descent with learning rate eta = eta_0 / alpha^2 (App. 8.1) on the weights
w~ = w / sqrt(D) and readouts v, for inputs sqrt(D) x with unit-variance coordinates. Here
eta_0 = dt N / 2 and t = n dt, which in the variables (w, v) reads

.. math::  \\frac{dw_i}{dt} = -\\frac{N D}{2 \\alpha^2} \\nabla_{w_i} L, \\qquad
           \\frac{dv_i}{dt} = -\\frac{N}{2 \\alpha^2} \\partial_{v_i} L,

so that with alpha = 1, fixed readouts and no centring this is exactly the committee machine's
gradient flow (DMFT paper eq. (6)); for general alpha without centring it is the committee flow
slowed by 1/alpha. With ``momentum`` mu > 0 the steps are heavy-ball gradient descent in its
averaging form, b <- mu b + (1 - mu) velocity, w <- w + dt b (Fig. 13a), so that t = n dt stays
the gradient-flow time (torch's SGD with momentum mu and learning rate eta is this with
dt = eta / (1 - mu) in the same units). With ``weight_decay`` lambda > 0 (Kumar et al.
App. 13, Fig. 12) an L2 penalty is added at the learning rate of the loss, eta_0 / alpha^2, as
torch's SGD ``weight_decay`` does: dw_i/dt gains -(lambda / alpha^2) w_i (and dv_i/dt, with
trained readouts, -(lambda / alpha^2) v_i), so lambda is the decay rate per unit t at
alpha = 1; the default 0 leaves every earlier result unchanged. The exact population loss of a quadratic
predictor f~ = a.x + x^T B x / 2 + c against y = x^T B* x / 2 (B* = beta beta^T for one index),

.. math::  L = \\Big(\\frac{\\mathrm{tr} K}{2D} + c'\\Big)^2 + \\frac{\\mathrm{tr} K^2}{2 D^2}
           + \\frac{|a|^2}{D}, \\qquad K = B^* - B,

is Kumar et al. eq. (6) (variance error, misalignment error, power in linear modes) with
wbar and M of eq. (22), centred; it is evaluated from Gram matrices of the 2N vectors (w, w_0).
For Hermite targets with k != 2 and eigenvector labels the test loss is estimated on the
held-out set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from grokking_workbench.numerics import model, validate
from grokking_workbench.numerics.schema import Schema, Var
from grokking_workbench.numerics.validate import InputError

log = logging.getLogger(__name__)


_SWEEPS = ("alpha", "eps", "sigma", "aligned")
TARGETS = ("quadratic", "hermite", "multi-index", "ntk-eigenvector")


@dataclass(frozen=True)
class WideConfig:
    """Configuration of a wide-network simulation. ``alpha``, ``eps``, ``sigma`` and ``aligned``
    may be tuples (swept and batched, outer product in that order)."""

    N: int = 100
    D: int = 100
    alpha: float | tuple = 1.0
    eps: float | tuple = 0.05
    sigma: float | tuple = 1.0
    aligned: float | tuple = 0.0
    t_max: float = 100.0
    dt: float = 0.1
    gamma: float | None = None
    P: int | None = None
    centre: bool = True
    train_readouts: bool = False
    momentum: float = 0.0
    weight_decay: float = 0.0
    target: str = "quadratic"
    k: int = 2
    indices: int = 1
    j: int = 1
    seeds: int = 4
    seed0: int = 0
    records: int = 100
    held_out: int = 0
    alignment_points: int = 0
    device: str = "cpu"
    dtype: str = "float64"
    max_loss: float = 1e8
    chunk: int | None = None
    threads: int | None = None

    def sweep(self) -> dict[str, tuple]:
        return {name: tuple(getattr(self, name)) for name in _SWEEPS
                if isinstance(getattr(self, name), (tuple, list))}

    def points(self) -> tuple[np.ndarray, ...]:
        """(alpha, eps, sigma, aligned) of every hyperparameter point, flattened outer product."""
        grids = np.meshgrid(*(np.atleast_1d(np.asarray(getattr(self, n), dtype=float))
                              for n in _SWEEPS), indexing="ij")
        return tuple(g.ravel() for g in grids)

    def n_train(self) -> int:
        return int(self.P) if self.P is not None else max(1, int(round(self.gamma * self.D)))

    def seed_list(self) -> list[int]:
        return list(range(self.seed0, self.seed0 + self.seeds))

    def exact_test_loss(self) -> bool:
        """Whether the population loss has the closed form (quadratic predictor and target)."""
        return self.target in ("quadratic", "multi-index") or (self.target == "hermite"
                                                               and self.k == 2)


def check_config(cfg: WideConfig) -> WideConfig:
    """Raise :class:`InputError` naming the first invalid parameter of ``cfg``; return it."""
    from grokking_workbench.numerics.torch_runtime import check_device

    validate.positive_int("N", cfg.N)
    validate.positive_int("D", cfg.D)
    for name in ("alpha", "sigma"):
        for value in np.atleast_1d(validate.finite_array(name, getattr(cfg, name))):
            validate.positive(name, value)
    eps = validate.finite_array("eps", getattr(cfg, "eps"))
    aligned = validate.finite_array("aligned", getattr(cfg, "aligned"))
    if (aligned < 0).any():
        raise InputError("aligned", f"must be >= 0, got {cfg.aligned}")
    validate.training_size(cfg.gamma, cfg.P)
    validate.time_grid(cfg.dt, cfg.t_max)
    validate.positive_int("seeds", cfg.seeds)
    validate.positive_int("records", cfg.records)
    validate.non_negative_int("held_out", cfg.held_out)
    validate.non_negative_int("alignment_points", cfg.alignment_points)
    if not 0 <= validate.finite_array("weight_decay", cfg.weight_decay):
        raise InputError("weight_decay", f"must be >= 0, got {cfg.weight_decay}")
    if not 0 <= validate.finite_array("momentum", cfg.momentum) < 1:
        raise InputError("momentum", f"must be in [0, 1), got {cfg.momentum}")
    if cfg.target not in TARGETS:
        raise InputError("target", f"must be one of {', '.join(TARGETS)}, got {cfg.target!r}")
    if cfg.target == "hermite":
        validate.positive_int("k", cfg.k)
    if cfg.target == "multi-index":
        validate.positive_int("indices", cfg.indices)
        if cfg.indices > cfg.D:
            raise InputError("indices", f"at most D = {cfg.D} orthogonal directions, got {cfg.indices}")
    if cfg.target == "ntk-eigenvector":
        validate.positive_int("j", cfg.j)
        if cfg.j > cfg.n_train() + cfg.held_out:
            raise InputError("j", f"must be at most P + held_out = {cfg.n_train() + cfg.held_out}")
        if eps.size != 1:
            raise InputError("eps", "eigenvector labels depend on eps: give one value, not a sweep")
    if (aligned > 0).any():
        if cfg.target not in ("quadratic", "hermite"):
            raise InputError("aligned", "the analytic solution is defined for single-index targets")
        if (eps == 0).any():
            raise InputError("aligned", "the analytic solution beta / sqrt(alpha eps) needs eps != 0")
    if not cfg.exact_test_loss() and cfg.held_out < 1:
        raise InputError("held_out", f"target {cfg.target!r} has no closed-form test loss: "
                         "give held_out > 0 points to estimate it")
    if cfg.dtype not in ("float64", "float32"):
        raise InputError("dtype", f"must be float64 or float32, got {cfg.dtype!r}")
    check_device(cfg.device)
    return cfg


def activation(H, eps, target: str, k: int):
    """(phi(h), phi'(h)) of ``numerics/model.py``: h + (eps/2) He_k(h) for the Hermite target
    (Kumar et al. App. 15.2), else h + (eps/2) h^2."""
    return model.activation(H, eps, k if target == "hermite" else None)


def network(W, v, X, eps, *, target="quadratic", k=2, chunk=None):
    """f(x; theta) = (1/N) sum_i v_i phi(w_i . x) for all points: shape (S, K, P)."""
    import torch

    from grokking_workbench.numerics.torch_runtime import default_chunk

    S, K, N, D = W.shape
    P = X.shape[1]
    chunk = chunk or default_chunk(D, P, S * K * N)
    Wf = W.reshape(S, K * N, D)
    e = eps.reshape(1, K, 1, 1).to(W)
    out = torch.empty(S, K, P, dtype=W.dtype, device=W.device)
    for lo in range(0, P, chunk):
        H = torch.bmm(Wf, X[:, lo:lo + chunk].transpose(1, 2)).view(S, K, N, -1)
        phi, _ = activation(H, e, target, k)
        out[:, :, lo:lo + chunk] = (v.unsqueeze(-1) * phi).sum(dim=2) / N
    return out


def velocity(W, v, X, y, f0, alpha, eps, *, target="quadratic", k=2, train_readouts=False,
             chunk=None, need_grad=True):
    """(dW/dt, dv/dt, train loss) of the flow in the module docstring.

    W: (S, K, N, D); v: (S, K, N); X: (S, P, D); y: (S, P); f0: (S, K, P) the initial network
    f(x; theta_0) (zeros without centring); alpha, eps: (K,). With Delta = y - alpha (f - f0):
    dw_i/dt = (D / (alpha P)) sum_mu Delta_mu v_i phi'(h_i^mu) x^mu,
    dv_i/dt = (1 / (alpha P)) sum_mu Delta_mu phi(h_i^mu).
    For phi(h) = h + (eps/2) h^2 (every target but ``hermite``) it is computed through moments
    of the weights (:func:`moment_velocity`), else by streaming the data in row chunks
    (:func:`streamed_velocity`).
    """
    if target != "hermite":
        return moment_velocity(W, v, X, y, f0, alpha, eps, train_readouts=train_readouts,
                               need_grad=need_grad)
    return streamed_velocity(W, v, X, y, f0, alpha, eps, target=target, k=k,
                             train_readouts=train_readouts, chunk=chunk, need_grad=need_grad)


def streamed_velocity(W, v, X, y, f0, alpha, eps, *, target="quadratic", k=2, train_readouts=False,
                      chunk=None, need_grad=True):
    """:func:`velocity` from phi and phi' of ``numerics/model.py`` at every point, streaming the
    data in row chunks (any activation; cost O(N P D) per step)."""
    import torch

    from grokking_workbench.numerics.torch_runtime import default_chunk

    S, K, N, D = W.shape
    P = X.shape[1]
    chunk = chunk or default_chunk(D, P, S * K * N)
    Wf = W.reshape(S, K * N, D)
    a = alpha.reshape(1, K, 1).to(W)
    e = eps.reshape(1, K, 1, 1).to(W)
    dW = torch.zeros_like(Wf) if need_grad else None
    dv = torch.zeros_like(v) if need_grad and train_readouts else None
    sq = torch.zeros(S, K, dtype=W.dtype, device=W.device)
    for lo in range(0, P, chunk):
        Xc = X[:, lo:lo + chunk]
        H = torch.bmm(Wf, Xc.transpose(1, 2)).view(S, K, N, -1)
        phi, dphi = activation(H, e, target, k)
        f = (v.unsqueeze(-1) * phi).sum(dim=2) / N
        delta = y[:, None, lo:lo + chunk] - a * (f - f0[:, :, lo:lo + chunk])
        sq += (delta * delta).sum(dim=-1)
        if need_grad:
            G = delta.unsqueeze(2) * v.unsqueeze(-1) * dphi
            dW.baddbmm_(G.reshape(S, K * N, -1), Xc)
            if dv is not None:
                dv += (delta.unsqueeze(2) * phi).sum(dim=-1)
    loss = sq / P
    if not need_grad:
        return None, None, loss
    inv = 1.0 / (alpha.reshape(1, K, 1).to(W) * P)
    dW = dW.view(S, K, N, D) * (D * inv).unsqueeze(-1)
    if dv is not None:
        dv = dv * inv
    return dW, dv, loss


def moment_velocity(W, v, X, y, f0, alpha, eps, *, train_readouts=False, need_grad=True):
    """:func:`velocity` for phi(h) = h + (eps/2) h^2 through moments of the weights (Kumar et al.
    eqs. (4), (22)): f(x) = wbar . x + (eps/2) x^T M x with wbar = (1/N) sum_i v_i w_i and
    M = (1/N) sum_i v_i w_i w_i^T, and with u = sum_mu Delta_mu x_mu, Q = sum_mu Delta_mu x_mu x_mu^T,

    .. math::  \\frac{dw_i}{dt} = \\frac{D}{\\alpha P}\\, v_i (u + \\epsilon Q w_i), \\qquad
               \\frac{dv_i}{dt} = \\frac{1}{\\alpha P} \\Big(w_i \\cdot u
               + \\frac{\\epsilon}{2} w_i^T Q w_i\\Big).

    Cost per point O((N + P) D^2) in matrix products instead of O(N P D) with O(N P) elementwise
    work: about 2.6 x fewer operations at N = 500, D = 100, P = 550.
    """
    S, K, N, D = W.shape
    P = X.shape[1]
    a = alpha.reshape(1, K, 1).to(W)
    e = eps.reshape(1, K, 1).to(W)
    Wv = W * v.unsqueeze(-1)
    wbar = Wv.sum(2) / N                                          # (S, K, D)
    M = W.transpose(-1, -2) @ Wv / N                              # (S, K, D, D)
    Xk = X.unsqueeze(1)                                           # (S, 1, P, D)
    f = (wbar @ X.transpose(1, 2)) + 0.5 * e * ((Xk @ M) * Xk).sum(-1)   # (S, K, P)
    delta = y.unsqueeze(1) - a * (f - f0)
    loss = (delta * delta).mean(-1)
    if not need_grad:
        return None, None, loss
    u = delta @ X                                                 # (S, K, D)
    Q = (Xk * delta.unsqueeze(-1)).transpose(-1, -2) @ Xk        # (S, K, D, D)
    WQ = W @ Q                                                    # (S, K, N, D)
    inv = 1.0 / (a * P)                                           # (1, K, 1)
    dW = (D * inv * v).unsqueeze(-1) * (u.unsqueeze(2) + e.unsqueeze(-1) * WQ)
    dv = None
    if train_readouts:
        dv = inv * ((W * u.unsqueeze(2)).sum(-1) + 0.5 * e * (WQ * W).sum(-1))
    return dW, dv, loss


def population_terms(W, v, W0, v0, dirs, alpha, eps, *, centre=True, target="quadratic"):
    """Exact population loss and the Kumar et al. eq. (6) terms for a quadratic predictor.

    Shapes: W, W0 (S, K, N, D); v, v0 (S, K, N); dirs (S, r, D) the target directions beta_a
    (orthogonal, |beta_a|^2 = D; B* = sum_a beta_a beta_a^T / sqrt(r)); alpha, eps (K,). Returns
    a dict of (S, K) tensors: test_loss, variance_error, misalignment_error, linear_power, and
    feature_alignment tr(B* B) / (|B*|_F |B|_F), the cosine between the learned quadratic form
    B of f~ and the target's (1 when B is proportional to B*).
    """
    import torch

    S, K, N, D = W.shape
    r = dirs.shape[1]
    a = alpha.reshape(1, K, 1).to(W)
    e = eps.reshape(1, K, 1).to(W)
    if centre:
        U = torch.cat([W, W0], dim=2)                            # (S, K, 2N, D)
        c = torch.cat([v, -v0], dim=2) * a / N                   # coefficients of the linear part
    else:
        U, c = W, v * a / N
    s = c * e                                                    # B = sum_m s_m u_m u_m^T
    G = U @ U.transpose(-1, -2)                                  # Gram (S, K, M, M)
    Ub = U @ dirs[:, None].transpose(-1, -2)                     # u_m . beta_a  (S, K, M, r)
    trB = (s * torch.diagonal(G, dim1=-2, dim2=-1)).sum(-1)
    trBsB = (s.unsqueeze(-1) * Ub * Ub).sum((-1, -2)) / r ** 0.5   # tr(B* B)
    trB2 = torch.einsum("skm,skmn,skn->sk", s, G * G, s)
    a2 = torch.einsum("skm,skmn,skn->sk", c, G, c)
    # c' = (constant of y) - (constant of f~): with He_2(z) = z^2 - 1, y has -1/2 and each
    # (eps/2) He_2(h_i) term of f~ has -(eps/2) times its coefficient, in total -(1/2) sum_m s_m
    const = torch.zeros(S, K, dtype=W.dtype, device=W.device)
    if target == "hermite":
        const = -0.5 + 0.5 * s.sum(-1)
    variance = (0.5 * (r ** 0.5 * D - trB) / D + const) ** 2    # tr B* = sqrt(r) D
    misalignment = (D * D - 2 * trBsB + trB2) / (2 * D * D)      # |B*|_F^2 = D^2
    linear = a2 / D
    return {"test_loss": variance + misalignment + linear, "variance_error": variance,
            "misalignment_error": misalignment, "linear_power": linear,
            "feature_alignment": trBsB / (D * trB2.clamp_min(0).sqrt())}


def target_directions(cfg: WideConfig, *, device="cpu", dtype=None):
    """Directions (S, r, D): beta of the single-index targets, or r = ``indices`` orthogonal
    directions with |beta_a|^2 = D (QR of a Gaussian matrix from each seed's target stream)."""
    import torch

    from grokking_workbench.numerics.simulate import init

    seeds = cfg.seed_list()
    if cfg.target != "multi-index":
        return init.target_direction(seeds, cfg.D, device=device, dtype=dtype).unsqueeze(1)
    G = torch.empty(len(seeds), cfg.D, cfg.indices, device=device, dtype=dtype)
    for s, seed in enumerate(seeds):
        G[s].normal_(generator=init.generator(seed, "target", device))
    Q, _ = torch.linalg.qr(G)
    return Q.transpose(-1, -2) * cfg.D ** 0.5


def labels(cfg: WideConfig, X, dirs, eps: float | None = None):
    """Labels (S, P) of inputs X (S, P, D) for the quadratic, Hermite and multi-index targets;
    for ``ntk-eigenvector`` X holds the training and held-out points together."""
    from grokking_workbench.numerics.simulate import data

    if cfg.target in ("quadratic", "hermite"):
        return data.target_values(X, dirs[:, 0], cfg.target, cfg.k)
    if cfg.target == "multi-index":
        z = X @ dirs.transpose(-1, -2)                                  # (S, P, r)
        return 0.5 * (z * z).sum(-1) / cfg.indices ** 0.5
    return eigenvector_labels(X, float(eps), cfg.j)


def eigenvector_labels(X, eps: float, j: int):
    """The j-th eigenvector (descending eigenvalue) of the infinite-width initial NTK Gram matrix
    K0 = x.x' + eps^2 (x.x')^2 (Kumar et al. eq. 10) of the rows of X (S, P, D), scaled to unit
    mean square, with the sign that makes its largest entry positive; shape (S, P)."""
    import torch

    from grokking_workbench.numerics.kernels import ntk_gram_initial

    _, vecs = torch.linalg.eigh(ntk_gram_initial(X, eps))
    u = vecs[..., -j]                                                  # eigh sorts ascending
    sign = torch.sign(u.gather(-1, u.abs().argmax(-1, keepdim=True)))
    return u * sign * X.shape[1] ** 0.5


def ntk_alignment(W, v, X, y, eps, *, target="quadratic", k=2):
    """Double-centred CKA (numerics.kernels.cka) of the NTK of the input weights at W (S, K, N, D)
    with labels y on the points X (S, P, D): K(x, x') = (1/N) sum_i v_i^2 phi'(h_i) phi'(h'_i) x.x'
    (:func:`numerics.kernels.ntk_gram`); shape (S, K)."""
    import torch

    from grokking_workbench.numerics.kernels import cka, ntk_gram

    S, K = W.shape[:2]
    Xk = X.unsqueeze(1)                                                 # (S, 1, P, D)
    Kt = ntk_gram(Xk, W, eps.reshape(1, K, 1, 1).to(W), v=v, k=k if target == "hermite" else None)
    return torch.as_tensor(cka(Kt.cpu().numpy(), y.unsqueeze(1).expand(S, K, -1).cpu().numpy()))


def simulate(cfg: WideConfig, *, progress: bool | None = None):
    """Run the wide-network simulation of ``cfg``; return an xarray Dataset (attrs ``status``).

    Variables (swept dims, seed, t): train_loss, test_loss (exact for quadratic predictors, else
    the held-out estimate), the three terms of Kumar et al. eq. (6) (quadratic case),
    held_out_loss (and its standard error held_out_loss_se), weight_norm, param_change |w - w0| / |w0| (Fig. 7), mean_readout;
    A (..., t, i) = w_i . beta / D.
    """
    from grokking_workbench.numerics.torch_runtime import torch_threads

    check_config(cfg)
    with torch_threads(cfg.threads):
        return _simulate(cfg, progress)


def problem(cfg: WideConfig) -> dict:
    """The task and initial state of ``cfg`` as tensors (seeds stacked): X (S, P, D), y (S, P),
    Xh, yh (held-out set, if any), dirs (S, r, D), W0 (S, K, N, D), v0 (S, K, N), and the
    hyperparameter points alpha, eps, sigma, aligned (K,). Deterministic in the seeds."""
    import torch

    from grokking_workbench.numerics.simulate import data, init

    device, dtype = torch.device(cfg.device), getattr(torch, cfg.dtype)
    seeds = cfg.seed_list()
    S, N, D, P = len(seeds), cfg.N, cfg.D, cfg.n_train()
    pts = {name: torch.as_tensor(x, dtype=dtype, device=device)
           for name, x in zip(_SWEEPS, cfg.points())}
    K = pts["alpha"].numel()
    dirs = target_directions(cfg, device=device, dtype=dtype)
    base = init.random_weights(seeds, N, D, 1.0, device=device, dtype=dtype)   # (S, N, D)
    W0 = base.unsqueeze(1) * pts["sigma"].reshape(1, K, 1, 1)                  # (S, K, N, D)
    if bool((pts["aligned"] > 0).any()):
        sign = 1.0 - 2.0 * (torch.arange(N, device=device) % 2).to(dtype)       # +1, -1, ...
        scale = pts["aligned"] / (pts["alpha"] * pts["eps"]).abs().sqrt()
        W0 = W0 + (scale.reshape(1, K, 1, 1) * sign.reshape(1, 1, N, 1)
                   * dirs[:, None, :1, :])
    X = data.gaussian_inputs(seeds, P, D, device=device, dtype=dtype)
    out = dict(X=X, dirs=dirs, W0=W0, v0=torch.ones(S, K, N, dtype=dtype, device=device), **pts)
    Xh = None
    if cfg.held_out:
        Xh = data.gaussian_inputs(seeds, cfg.held_out, D, stream="held_out", device=device,
                                  dtype=dtype)
    if cfg.target == "ntk-eigenvector":
        both = labels(cfg, torch.cat([X, Xh], dim=1), dirs, eps=float(np.ravel(cfg.eps)[0]))
        out.update(y=both[:, :P], Xh=Xh, yh=both[:, P:])
    else:
        out["y"] = labels(cfg, X, dirs)
        if Xh is not None:
            out.update(Xh=Xh, yh=labels(cfg, Xh, dirs))
    return out


def _simulate(cfg: WideConfig, progress):
    import torch
    from tqdm.auto import tqdm

    from grokking_workbench.numerics.simulate.committee import record_steps
    from grokking_workbench.numerics.torch_runtime import default_chunk

    device, dtype = torch.device(cfg.device), getattr(torch, cfg.dtype)
    seeds = cfg.seed_list()
    S, N, D, P = len(seeds), cfg.N, cfg.D, cfg.n_train()
    pb = problem(cfg)
    alpha_np, eps_np, sigma_np, aligned_np = cfg.points()
    K = alpha_np.size
    alpha, eps = pb["alpha"], pb["eps"]
    chunk = cfg.chunk or default_chunk(D, P, S * K * N)
    kw = dict(target=cfg.target, k=cfg.k)
    X, y, dirs, W0, v0 = pb["X"], pb["y"], pb["dirs"], pb["W0"], pb["v0"]
    W, v = W0.clone(), v0.clone()
    buf_W = torch.zeros_like(W) if cfg.momentum else None
    buf_v = torch.zeros_like(v) if cfg.momentum and cfg.train_readouts else None

    def f_init(Xs):
        if not cfg.centre:
            return torch.zeros(S, K, Xs.shape[1], dtype=dtype, device=device)
        return network(W0, v0, Xs, eps, chunk=chunk, **kw)

    f0 = f_init(X)
    if cfg.held_out:
        Xh, yh = pb["Xh"], pb["yh"]
        f0h = f_init(Xh)
    if cfg.alignment_points:
        Xa, ya = (Xh, yh) if cfg.held_out else (X, y)
        Xa, ya = Xa[:, :cfg.alignment_points], ya[:, :cfg.alignment_points]

    steps = record_steps(cfg.t_max, cfg.dt, cfg.records)
    n_total = int(steps[-1])
    is_record = np.zeros(n_total + 1, dtype=bool)
    is_record[steps] = True
    rec = {name: [] for name in ("train_loss", "held_out_loss", "held_out_loss_se", "test_loss",
                                 "variance_error",
                                 "misalignment_error", "linear_power", "feature_alignment",
                                 "ntk_alignment", "weight_norm", "param_change", "mean_readout",
                                 "A")}
    status = "complete"
    w0_norm = W0.norm(dim=(-1, -2))
    log.info("wide simulation: S=%d, K=%d, N=%d, D=%d, P=%d, %d steps", S, K, N, D, P, n_total)
    work = float(n_total) * S * K * N * P * D
    bar = tqdm(total=n_total, desc="simulate wide", unit="step", mininterval=1.0,
               disable=(not progress) if progress is not None else (work < 4e10 or None))
    with torch.no_grad(), bar:
        for n in range(n_total + 1):
            last = n == n_total
            dW, dv, loss = velocity(W, v, X, y, f0, alpha, eps, train_readouts=cfg.train_readouts,
                                    chunk=chunk, need_grad=not last, **kw)
            bad = ~torch.isfinite(loss) | (loss > cfg.max_loss)
            if bool(bad.any()):
                s, kk = (int(i) for i in bad.nonzero()[0])
                status = (f"diverged: train loss {float(loss[s, kk]):.3g} at t = {n * cfg.dt:g} "
                          f"(Euler step {n}; seed {seeds[s]}, alpha = {alpha_np[kk]:g}, "
                          f"eps = {eps_np[kk]:g}, sigma = {sigma_np[kk]:g}, "
                          f"aligned = {aligned_np[kk]:g}); earlier records saved")
                log.warning("%s", status)
                break
            if is_record[n]:
                rec["train_loss"].append(loss)
                if cfg.held_out:
                    r2 = (yh[:, None] - alpha[:, None] * (network(W, v, Xh, eps, chunk=chunk, **kw)
                                                           - f0h)) ** 2
                    rec["held_out_loss"].append(r2.mean(-1))
                    rec["held_out_loss_se"].append(r2.std(-1) / cfg.held_out ** 0.5)
                if cfg.exact_test_loss():
                    terms = population_terms(W, v, W0, v0, dirs, alpha, eps, centre=cfg.centre,
                                             target=cfg.target)
                    for name, value in terms.items():
                        rec[name].append(value)
                else:
                    rec["test_loss"].append(rec["held_out_loss"][-1])
                if cfg.alignment_points:
                    rec["ntk_alignment"].append(ntk_alignment(W, v, Xa, ya, eps, **kw))
                rec["weight_norm"].append(W.norm(dim=-1).pow(2).mean(-1).div(D).sqrt())
                rec["param_change"].append((W - W0).norm(dim=(-1, -2)) / w0_norm)
                rec["mean_readout"].append(v.mean(-1))
                rec["A"].append((W @ dirs[:, None, 0, :, None]).squeeze(-1) / D)
            if last:
                break
            if cfg.weight_decay:                        # L2 penalty at the same rate eta_0 / alpha^2
                decay = (cfg.weight_decay / (alpha * alpha)).reshape(1, K, 1)
                dW = dW - decay.unsqueeze(-1) * W
                if dv is not None:
                    dv = dv - decay * v
            if buf_W is not None:                       # heavy ball: b <- mu b + (1 - mu) velocity
                dW = buf_W.mul_(cfg.momentum).add_(dW, alpha=1 - cfg.momentum)
                if dv is not None:
                    dv = buf_v.mul_(cfg.momentum).add_(dv, alpha=1 - cfg.momentum)
            W.add_(dW, alpha=cfg.dt)
            if dv is not None:
                v.add_(dv, alpha=cfg.dt)
            bar.update(1)
    return _dataset(cfg, rec, steps, status)


def _test_loss_name(cfg) -> str:
    """The long name of the test loss: exact, or estimated on the held-out points."""
    name = "population test loss <(y - f~)^2>"
    return name if cfg.exact_test_loss() else name + f" (estimated on {cfg.held_out} held-out points)"


# The dataset's variables and coordinates; the leading dimensions of the records are the swept
# parameters (alpha, eps, sigma, aligned: those given as lists), so their dimensions are not
# declared; each variable is recorded only when the configuration asks for it
SCHEMA = Schema({
    "t": Var("training time t = steps x dt (learning rate eta_0 / alpha^2, eta_0 = dt N / 2)", "1", ("t",)),
    "seed": Var("seed of dataset, target and initialisation", "1", ("seed",)),
    "i": Var("hidden unit", "1", ("i",)),
    "alpha": Var("output scale alpha", "1", ("alpha",), required=False),
    "eps": Var("quadratic part eps of phi", "1", ("eps",), required=False),
    "sigma": Var("initial weight scale sigma", "1", ("sigma",), required=False),
    "aligned": Var("fraction of the analytic solution added to the initial weights", "1", ("aligned",),
                   required=False),
    "train_loss": Var("train loss (1/P) sum_mu (y_mu - f~_mu)^2 of the centred predictor", "1"),
    "held_out_loss": Var("loss on held-out points", "1", required=False),
    "held_out_loss_se": Var("standard error of the held-out loss (sd of the squared residuals / "
                            "sqrt(held_out))", "1", required=False),
    "test_loss": Var(_test_loss_name, "1", required=False),
    "variance_error": Var("variance error (Kumar et al. eq. 6)", "1", required=False),
    "misalignment_error": Var("misalignment error (Kumar et al. eq. 6)", "1", required=False),
    "linear_power": Var("power in linear modes (Kumar et al. eq. 6)", "1", required=False),
    "feature_alignment": Var("cosine tr(B* B) / (|B*|_F |B|_F) of the learned quadratic form B of f~ "
                             "with the target's B*", "1", required=False),
    "ntk_alignment": Var("double-centred CKA of the current NTK with the labels (Kumar et al. Sec. 5)", "1",
                         required=False),
    "weight_norm": Var("root-mean-square weight norm sqrt(sum_i |w_i|^2 / (N D))", "1", required=False),
    "param_change": Var("relative weight change |W - W0|_F / |W0|_F (Kumar et al. Fig. 7)", "1",
                        required=False),
    "mean_readout": Var("mean readout (1/N) sum_i v_i", "1", required=False),
    "A": Var("overlap A_i = w_i . beta / D with the (first) target direction", "1", required=False),
})


def _dataset(cfg: WideConfig, rec: dict, steps, status: str):
    import xarray as xr

    T = len(rec["train_loss"])
    sweep = cfg.sweep()
    lead = tuple(len(v) for v in sweep.values())
    S, N = cfg.seeds, cfg.N

    def arr(values, tail=()):
        if not values:
            return None
        x = np.stack([v.cpu().numpy() for v in values], axis=2)     # (S, K, T, ...)
        x = np.moveaxis(x, 0, 1)                                     # (K, S, T, ...)
        return x.reshape(lead + (S, T) + tail)

    dims = tuple(sweep) + ("seed", "t")
    data_vars = {}
    for name, values in rec.items():
        x = arr(values, (N,) if name == "A" else ())
        if x is not None:
            data_vars[name] = (dims + (("i",) if name == "A" else ()), x)
    coords = {"t": ("t", steps[:T] * cfg.dt), "seed": ("seed", np.asarray(cfg.seed_list())),
              "i": ("i", np.arange(N))}
    for name, values in sweep.items():
        coords[name] = (name, np.asarray(values, float))
    ds = SCHEMA.apply(xr.Dataset(data_vars, coords=coords), cfg)
    for name in _SWEEPS:
        if name not in sweep:
            ds.attrs[name] = float(getattr(cfg, name))
    ds.attrs.update(status=status, P=cfg.n_train(), centre=int(cfg.centre),
                    train_readouts=int(cfg.train_readouts), target=cfg.target, k=cfg.k,
                    momentum=float(cfg.momentum), indices=cfg.indices, j=cfg.j)
    return ds
