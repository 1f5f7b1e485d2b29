"""Kernels of the committee machine: NTK Gram matrices, kernel regression, centred alignment.

The kernels are the derived ones (``theory/committee.py``, results/equations.md):
K(x,x') = (x.x') [1 + eps wbar.(x + x') + eps^2 x^T M x'] (Kumar et al. 2024, eq. 18, printed
normalisation: the parameter-gradient kernel divided by alpha^2/N), which at initialisation of a
wide network (wbar = 0, M = I) is K0 = x.x' + eps^2 (x.x')^2 (eq. 10); with trained readouts,
K0 = 2 x.x' + (3 eps^2/2)(x.x')^2 + (eps^2/4)|x|^2 |x'|^2 (eq. 23).
"""

from __future__ import annotations

import numpy as np

from grokking_workbench.numerics import model


def _transpose(a):
    return a.swapaxes(-1, -2)


def _array(a):
    """A NumPy array or torch tensor as given (the computation stays in its library), anything
    else as a float NumPy array."""
    return a if hasattr(a, "swapaxes") and not isinstance(a, np.ndarray) else np.asarray(a, dtype=float)


def ntk_gram(X, W, eps, Xp=None, *, v=None, k: int | None = None):
    """Gram matrix of the NTK of the input weights at weights W (..., N, D) between the rows of
    X (..., P, D) and Xp (..., Q, D) (default X); leading batch dimensions broadcast, eps a
    number or broadcastable to (..., 1, 1). NumPy arrays give a NumPy array, torch tensors a
    tensor.

    Computed from its definition, K(x, x') = (1/N) sum_i v_i^2 phi'(w_i.x) phi'(w_i.x') x.x'
    (``numerics/model.py``; readouts v (..., N), default 1; with ``k`` the Hermite activation
    of Kumar et al. App. 15.2). With v = 1 and the quadratic phi it is Kumar et al. eq. 18 with
    wbar = mean_i w_i and M = mean_i w_i w_i^T (printed normalisation).
    """
    X = _array(X)
    Xp = X if Xp is None else _array(Xp)
    Wt = _transpose(_array(W))
    _, d1 = model.activation(X @ Wt, eps, k)
    _, d2 = model.activation(Xp @ Wt, eps, k)
    if v is not None:
        v = _array(v)
        d1 = d1 * (v * v)[..., None, :]
    return (d1 @ _transpose(d2)) / Wt.shape[-1] * (X @ _transpose(Xp))


def readout_gram(X, W, eps, Xp=None, *, k: int | None = None):
    """Gram matrix of the NTK of the readouts, K_v(x, x') = (1/N) sum_i phi(w_i.x) phi(w_i.x')
    (Kumar et al. eqs. 21-23), with the shapes and types of :func:`ntk_gram`."""
    X = _array(X)
    Xp = X if Xp is None else _array(Xp)
    Wt = _transpose(_array(W))
    f1, _ = model.activation(X @ Wt, eps, k)
    f2, _ = model.activation(Xp @ Wt, eps, k)
    return f1 @ _transpose(f2) / Wt.shape[-1]


def ntk_gram_initial(X: np.ndarray, eps: float, Xp: np.ndarray | None = None,
                     readouts: bool = False) -> np.ndarray:
    """Infinite-width initial NTK Gram matrix: eq. (10), or eq. (23) with ``readouts``.

    X (..., P, D) and Xp (..., Q, D) may carry leading batch dimensions (NumPy arrays or, without
    ``readouts``, torch tensors)."""
    Xp = X if Xp is None else Xp
    G = X @ _transpose(Xp)
    if not readouts:
        return G + eps ** 2 * G ** 2
    n1, n2 = np.sum(X ** 2, axis=1), np.sum(Xp ** 2, axis=1)
    return 2 * G + 1.5 * eps ** 2 * G ** 2 + 0.25 * eps ** 2 * np.outer(n1, n2)


def initial_features(X: np.ndarray, eps: float, readouts: bool = False) -> np.ndarray:
    """Explicit feature map Phi (P, D + D^2 + readouts) with Phi Phi^T = ntk_gram_initial(X).

    The kernels are polynomials of degree two: x.x' = sum_a x_a x'_a and
    (x.x')^2 = sum_ab (x_a x_b)(x'_a x'_b); |x|^2 |x'|^2 is a product of one feature each.
    """
    P, D = X.shape
    outer = (X[:, :, None] * X[:, None, :]).reshape(P, D * D)
    if not readouts:
        return np.hstack([X, eps * outer])
    norm = np.sum(X ** 2, axis=1, keepdims=True)
    return np.hstack([np.sqrt(2) * X, np.sqrt(1.5) * eps * outer, 0.5 * eps * norm])


def kernel_regression(K_train: np.ndarray, y: np.ndarray, K_test_train: np.ndarray,
                      ridge: float = 0.0) -> np.ndarray:
    """Predictions K(X*, X) (K(X, X) + ridge I)^+ y of (ridge-less by default) kernel regression.

    Uses a least-squares solve, so a rank-deficient Gram matrix gives the minimum-norm
    interpolant, which is what gradient flow from zero reaches in the lazy limit.
    """
    A = K_train + ridge * np.eye(K_train.shape[0])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    return K_test_train @ coef


def cka(K: np.ndarray, y: np.ndarray):
    """Double-centred kernel-task alignment y^T H K H y / (|H K H|_F |H y|^2), H = I - 11^T/P.

    Invariant to scaling K or y and to adding a constant to y; equals 1 for K = y y^T (y
    non-constant). Kumar et al. 2024 print uncentred variants (Sec. 5 and 5.3); see
    results/equations.md. K (..., P, P) and y (..., P) may carry matching leading batch
    dimensions; a float for a single kernel, else an array of the batch shape.
    """
    K = np.asarray(K, dtype=float)
    y = np.asarray(y, dtype=float)
    if K.ndim < 2 or K.shape[-1] != K.shape[-2] or K.shape[:-1] != y.shape:
        raise ValueError(f"K must be (..., P, P) and y (..., P), got {K.shape} and {y.shape}")
    Kc = K - K.mean(axis=-2, keepdims=True)
    Kc = Kc - Kc.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    denom = np.linalg.norm(Kc, axis=(-2, -1)) * np.einsum("...p,...p->...", yc, yc)
    if np.any(denom == 0):
        raise ValueError("CKA is undefined for a constant kernel or constant labels")
    value = np.einsum("...p,...pq,...q->...", yc, Kc, yc) / denom
    return float(value) if K.ndim == 2 else value
