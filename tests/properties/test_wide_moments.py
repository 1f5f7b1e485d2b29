"""The moment form of the wide network's step is the gradient of its loss, for any shapes."""

import numpy as np
import torch
from hypothesis import given, settings, strategies as st

from grokking_workbench.numerics.simulate import wide


@st.composite
def states(draw):
    g = torch.Generator().manual_seed(draw(st.integers(0, 2 ** 31 - 1)))
    S, K, N, D, P = (draw(st.integers(1, hi)) for hi in (2, 3, 6, 7, 9))

    def randn(*shape, scale=1.0):
        return scale * torch.randn(*shape, generator=g, dtype=torch.float64)

    W0 = randn(S, K, N, D)
    return dict(W=W0 + randn(S, K, N, D, scale=0.3), W0=W0, v=1 + randn(S, K, N, scale=0.3),
                X=randn(S, P, D, scale=D ** -0.5), y=randn(S, P),
                alpha=torch.exp(randn(K)), eps=randn(K))


@settings(max_examples=40, deadline=None)
@given(states(), st.booleans())
def test_moment_velocity_is_the_scaled_gradient(state, readouts):
    """dW = -(N D / (2 alpha^2)) grad_W L and dv = -(N / (2 alpha^2)) dL/dv for the centred
    predictor alpha [f - f0], f = (1/N) sum_i v_i (h_i + eps h_i^2 / 2)."""
    W, W0, v, X, y, alpha, eps = (state[k] for k in ("W", "W0", "v", "X", "y", "alpha", "eps"))
    S, K, N, D = W.shape
    v0 = torch.ones_like(v)
    f0 = wide.network(W0, v0, X, eps)
    dW, dv, loss = wide.moment_velocity(W, v, X, y, f0, alpha, eps, train_readouts=readouts)
    Wr, vr = W.clone().requires_grad_(True), v.clone().requires_grad_(True)
    f = wide.network(Wr, vr, X, eps)
    L = ((y[:, None, :] - alpha[None, :, None] * (f - f0)) ** 2).mean(-1)
    L.sum().backward()
    scale = (N / (2 * alpha ** 2))[None, :, None]
    np.testing.assert_allclose(loss.numpy(), L.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dW.numpy(), -(scale * D).unsqueeze(-1).numpy() * Wr.grad.numpy(),
                               rtol=1e-9, atol=1e-10)
    if readouts:
        np.testing.assert_allclose(dv.numpy(), -(scale * vr.grad).numpy(), rtol=1e-9, atol=1e-10)
    else:
        assert dv is None
