"""Gaussian inputs and single-index targets of the simulators (docs/conventions.md).

Inputs x ~ N(0, I/D), so that beta . x ~ N(0, 1) for |beta|^2 = D. Targets:

- ``quadratic``: y = sigma(beta . x) = (beta . x)^2 / 2 (DMFT paper eq. (1); Kumar et al. 2024, eq. (3));
- ``hermite``: y = He_k(beta . x) / 2 with the probabilists' Hermite polynomial He_k
  (Kumar et al. 2024, App. 15.2; the activation is then phi(z) = z + (eps/2) He_k(z)). For k = 2
  this is the quadratic target minus its mean 1/2.
"""

from __future__ import annotations

import math
from typing import Sequence

from grokking_workbench.numerics import model
from grokking_workbench.numerics.model import hermite, hermite_derivative  # noqa: F401 (re-exported)
from grokking_workbench.numerics.simulate.init import generator


def gaussian_inputs(seeds: Sequence[int], P: int, D: int, *, stream: str = "data", device="cpu",
                    dtype=None, generators=None):
    """Inputs of shape (S, P, D), rows x ~ N(0, I/D), each seed from its own ``stream``.

    ``generators`` (one per seed) continue existing streams (fresh data at every step of one-pass
    training) instead of starting them anew.
    """
    import torch

    dtype = dtype or torch.float64
    X = torch.empty(len(seeds), P, D, device=device, dtype=dtype)
    for s, seed in enumerate(seeds):
        g = generators[s] if generators is not None else generator(seed, stream, device)
        X[s].normal_(generator=g)
    return X.mul_(1.0 / math.sqrt(D))


def target_values(X, beta, target: str = "quadratic", k: int = 2):
    """Labels y(x) of shape (S, P) for inputs (S, P, D) and directions (S, D)."""
    z = (X @ beta.unsqueeze(-1)).squeeze(-1)
    if target == "quadratic":
        return model.target(z)
    if target == "hermite":
        return 0.5 * hermite(z, k)
    raise ValueError(f"unknown target {target!r} (quadratic or hermite)")
