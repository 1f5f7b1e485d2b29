"""The committee machine's model, defined once: activation, target, error, gradient, Jacobian.

Kumar et al. 2024, eq. (3); DMFT paper eq. (1) and below eq. (6); ``docs/conventions.md``:

    f(x) = (alpha/N) sum_i phi(h_i),   h_i = w_i . x,   phi(h) = h + (eps/2) h^2,
    y = sigma(h_*) = h_*^2 / 2,         Delta = y - f,   g_i = phi'(h_i) Delta,
    Jg_ij = dg_i/dh_j = delta_ij phi''(h_i) Delta - (alpha/N) phi'(h_i) phi'(h_j).

Every numeric consumer takes these from here: the DMFT (``numerics/dmft/sweep.py``), the torch
simulators (``numerics/simulate/committee.py``, ``numerics/simulate/wide.py``) and the NTK Gram
matrices (``numerics/kernels.py``). The functions are written with arithmetic operators and
``.sum`` only, so the same definition serves NumPy arrays and torch tensors (eps and alpha may
be numbers or arrays that broadcast). ``tests/test_model.py`` checks them against the SymPy
definitions of ``theory/committee.py`` (phi, dphi, ddphi, sigma and the Jacobian of g obtained
by differentiating g symbolically), and shows that changing :func:`phi` here changes the DMFT
sweep, the simulator's gradient and the kernel.

The quadratic form of phi is also used in closed form where a polynomial identity is cheaper
than evaluating phi: the moment form of the wide network's velocity
(:func:`numerics.simulate.wide.moment_velocity`), the explicit feature maps of the initial
kernels (:func:`numerics.kernels.initial_features`) and the generated order-parameter formulas.
Tests compare each of them with the functions here.
"""

from __future__ import annotations


def phi(h, eps):
    """phi(h) = h + (eps/2) h^2 (Kumar et al. eq. 3; DMFT paper eq. 1)."""
    return h + eps / 2 * h ** 2


def dphi(h, eps):
    """phi'(h) = 1 + eps h."""
    return 1 + eps * h


def ddphi(h, eps):
    """phi''(h) = eps, as an array shaped like h."""
    return eps * h ** 0


def target(h_star):
    """The target link y = sigma(h_*) = h_*^2 / 2, h_* = beta . x (Kumar et al. eq. 3)."""
    return h_star ** 2 / 2


def output(h, alpha, eps, axis: int = 0):
    """f = (alpha/N) sum_i phi(h_i), the hidden units along ``axis`` (N = h.shape[axis])."""
    return alpha / h.shape[axis] * phi(h, eps).sum(axis)


def error(h_star, h, alpha, eps, axis: int = 0):
    """Delta = sigma(h_*) - (alpha/N) sum_i phi(h_i) (DMFT paper, below eq. 6)."""
    return target(h_star) - output(h, alpha, eps, axis)


def jacobian_times(h, delta, x, alpha, eps, axis: int = 0):
    """Jg x per sample, Jg = dg/dh = diag(phi''(h) Delta) - (alpha/N) phi'(h) phi'(h)^T
    (DMFT paper eq. 21). ``h`` and ``x`` carry the hidden units along ``axis``; ``delta`` (the
    error of each sample) broadcasts against ``h``, e.g. shape (S,) for h of shape (N, S)."""
    d = dphi(h, eps)
    return ddphi(h, eps) * delta * x - alpha / h.shape[axis] * d * (d * x).sum(axis, keepdims=True)


# ----------------------------------------------------------------------------- Hermite variant
def hermite(z, k: int):
    """Probabilists' Hermite polynomial He_k(z) (He_0 = 1, He_1 = z, He_{n+1} = z He_n - n He_{n-1})."""
    if k == 0:
        return z * 0 + 1
    prev, cur = z * 0 + 1, z
    for n in range(1, k):
        prev, cur = cur, z * cur - n * prev
    return cur


def hermite_derivative(z, k: int):
    """He_k'(z) = k He_{k-1}(z)."""
    return k * hermite(z, k - 1) if k > 0 else z * 0


def hermite_activation(h, eps, k: int):
    """(phi, phi') of the Hermite variant phi(h) = h + (eps/2) He_k(h) (Kumar et al. App. 15.2)."""
    return h + 0.5 * eps * hermite(h, k), 1.0 + 0.5 * eps * hermite_derivative(h, k)


def activation(h, eps, k: int | None = None):
    """(phi(h), phi'(h)): :func:`phi` and :func:`dphi`, or with ``k`` the Hermite variant."""
    if k is not None:
        return hermite_activation(h, eps, k)
    return phi(h, eps), dphi(h, eps)
