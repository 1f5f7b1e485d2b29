"""NTK Gram matrices and kernel regression."""

import numpy as np

from grokking_workbench.numerics import kernels


def test_general_ntk_equals_eq18_with_wbar_and_M(rng):
    X, Xp = rng.normal(size=(6, 5)), rng.normal(size=(4, 5))
    W = rng.normal(size=(3, 5))
    eps = 0.4
    wbar, M = W.mean(0), W.T @ W / 3
    G = X @ Xp.T
    eq18 = G + eps * G * ((X @ wbar)[:, None] + (Xp @ wbar)[None, :]) + eps ** 2 * G * (X @ M @ Xp.T)
    np.testing.assert_allclose(kernels.ntk_gram(X, W, eps, Xp), eq18, rtol=1e-12)


def test_feature_maps_reproduce_the_initial_kernels(rng):
    X = rng.normal(size=(7, 4))
    for readouts in (False, True):
        F = kernels.initial_features(X, 0.7, readouts=readouts)
        np.testing.assert_allclose(F @ F.T, kernels.ntk_gram_initial(X, 0.7, readouts=readouts), rtol=1e-12)


def test_kernel_regression_interpolates_training_data(rng):
    X = rng.normal(size=(10, 20))
    y = rng.normal(size=10)
    K = kernels.ntk_gram_initial(X, 0.5)
    np.testing.assert_allclose(kernels.kernel_regression(K, y, K), y, atol=1e-8)
