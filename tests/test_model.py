"""The model defined once (numerics/model.py): checked against the SymPy layer, used everywhere."""

import math

import numpy as np
import pytest
import sympy as sp
import torch

from grokking_workbench.numerics import kernels, model
from grokking_workbench.numerics.dmft import sweep as sw
from grokking_workbench.numerics.dmft.grid import make_grid
from grokking_workbench.numerics.simulate import committee as sim
from grokking_workbench.numerics.simulate import wide
from grokking_workbench.theory import committee as th
from grokking_workbench.theory.indexed import alpha as alpha_sym
from grokking_workbench.theory.indexed import eps as eps_sym

EPS = (0.0, 0.05, 0.7, -1.3)


def _points(seed=0, shape=(5, 7)):
    return np.random.default_rng(seed).standard_normal(shape) * 2


@pytest.mark.parametrize("eps", EPS)
def test_activation_and_target_equal_the_sympy_definitions(eps):
    """phi, phi', phi'' and sigma of numerics/model.py against theory/committee.py (NumPy and torch)."""
    z = sp.Symbol("z")
    h = _points()
    for name, numeric in (("phi", model.phi), ("dphi", model.dphi), ("ddphi", model.ddphi)):
        symbolic = sp.lambdify(z, getattr(th, name)(z).subs(eps_sym, eps), "numpy")
        expected = np.broadcast_to(symbolic(h), h.shape)
        np.testing.assert_allclose(numeric(h, eps), expected, rtol=1e-14, atol=1e-14)
        got = numeric(torch.as_tensor(h), torch.tensor(eps, dtype=torch.float64))
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-14, atol=1e-14)
    sigma = sp.lambdify(z, th.sigma(z), "numpy")
    np.testing.assert_allclose(model.target(h), sigma(h), rtol=1e-15)


def test_error_gradient_and_jacobian_equal_sympy_derivatives():
    """Delta, g_i = phi'(h_i) Delta and Jg_ij = dg_i/dh_j for N = 3 units, with g built from the
    SymPy phi and sigma and differentiated symbolically (DMFT paper eq. 21)."""
    N = 3
    hs = sp.symbols("h0:3")
    hstar = sp.Symbol("hstar")
    delta = th.sigma(hstar) - alpha_sym / N * sum(th.phi(x) for x in hs)
    g = [th.dphi(x) * delta for x in hs]
    jac = sp.Matrix([[sp.diff(gi, x) for x in hs] for gi in g])
    args = (*hs, hstar, alpha_sym, eps_sym)
    f_delta = sp.lambdify(args, delta, "numpy")
    f_jac = sp.lambdify(args, jac, "numpy")
    rng = np.random.default_rng(1)
    S = 6
    h = rng.standard_normal((N, S))
    h_star = rng.standard_normal(S)
    alpha, eps = 0.7, 0.3
    d = model.error(h_star, h, alpha, eps)
    np.testing.assert_allclose(d, f_delta(*h, h_star, alpha, eps), rtol=1e-13)
    J = model.jacobian_times(h[:, None, :], d, np.eye(N)[:, :, None], alpha, eps)     # (N, N, S)
    for s in range(S):
        np.testing.assert_allclose(J[:, :, s], f_jac(*h[:, s], h_star[s], alpha, eps), rtol=1e-12,
                                   atol=1e-14)
    x = rng.standard_normal((N, S))
    np.testing.assert_allclose(model.jacobian_times(h, d, x, alpha, eps),
                               np.einsum("abs,bs->as", J, x), rtol=1e-12, atol=1e-14)


def _cubic(monkeypatch, c=0.4):
    """Change the activation in its one place: phi(h) = h + (eps/2) h^2 + c h^3."""
    monkeypatch.setattr(model, "phi", lambda h, eps: h + eps / 2 * h ** 2 + c * h ** 3)
    monkeypatch.setattr(model, "dphi", lambda h, eps: 1 + eps * h + 3 * c * h ** 2)
    monkeypatch.setattr(model, "ddphi", lambda h, eps: eps + 6 * c * h)


def _dmft():
    p = sw.Problem(np.eye(2), np.array((0.04, -0.02)), 0.5, 0.05, 8.0,
                   make_grid(2.0, 0.25, growth=0.0, h_max=0.25), math.inf)
    r = sw.sweep(p, sw.Noise.draw(50, p, 0))
    return np.concatenate([r.A[-1], [r.train_loss[-1]], r.fields.Rh[-1, 2].ravel()])


def _simulator_problem():
    g = torch.Generator().manual_seed(3)
    W = 0.5 * torch.randn(1, 2, 3, 8, generator=g, dtype=torch.float64)
    X = torch.randn(1, 20, 8, generator=g, dtype=torch.float64) / 8 ** 0.5
    y = torch.randn(1, 20, generator=g, dtype=torch.float64)
    return W, X, y, torch.tensor([0.5, 1.0], dtype=torch.float64), torch.tensor([0.2, 0.6], dtype=torch.float64)


def _gradient():
    W, X, y, alpha, eps = _simulator_problem()
    dW, loss = sim.velocity(W, X, y, alpha, eps)
    return dW.numpy().ravel()


def _kernel():
    rng = np.random.default_rng(4)
    X, W = rng.standard_normal((6, 5)), rng.standard_normal((3, 5))
    return kernels.ntk_gram(X, W, 0.3).ravel()


def test_changing_phi_in_numerics_model_changes_every_consumer(monkeypatch):
    """The DMFT sweep, the simulator's gradient and the NTK all follow numerics/model.py; with a
    changed phi the simulator's velocity is still the scaled autograd gradient of the loss."""
    before = [_dmft(), _gradient(), _kernel()]
    _cubic(monkeypatch)
    after = [_dmft(), _gradient(), _kernel()]
    for name, b, a in zip(("DMFT sweep", "simulator gradient", "NTK"), before, after):
        assert np.all(np.isfinite(a)), name
        assert np.max(np.abs(a - b)) > 1e-6, f"{name} does not use numerics/model.py"
    W, X, y, alpha, eps = _simulator_problem()
    S, K, N, D = W.shape
    dW, _ = sim.velocity(W, X, y, alpha, eps)
    Wr = W.clone().requires_grad_(True)
    H = torch.einsum("sknd,spd->sknp", Wr, X)
    e = eps[None, :, None, None]
    f = alpha[None, :, None] / N * (H + e / 2 * H ** 2 + 0.4 * H ** 3).sum(2)
    ((y[:, None] - f) ** 2).mean(-1).sum().backward()
    expected = -(N * D / (2 * alpha))[None, :, None, None] * Wr.grad
    torch.testing.assert_close(dW, expected, rtol=1e-10, atol=1e-12)


def test_moment_velocity_is_the_streamed_velocity_of_the_model():
    """The wide network's moment form assumes phi is quadratic: it must equal the velocity streamed
    through numerics/model.py's phi and phi' (fails if phi there stops being quadratic)."""
    W, X, y, alpha, eps = _simulator_problem()
    g = torch.Generator().manual_seed(5)
    v = 1 + 0.3 * torch.randn(W.shape[:3], generator=g, dtype=torch.float64)
    f0 = torch.randn(1, 2, 20, generator=g, dtype=torch.float64)
    moments = wide.moment_velocity(W, v, X, y, f0, alpha, eps, train_readouts=True)
    streamed = wide.streamed_velocity(W, v, X, y, f0, alpha, eps, train_readouts=True, chunk=7)
    for a, b in zip(moments, streamed):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-13)
