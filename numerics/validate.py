"""Input validation shared by every command: fail fast, name the parameter, write nothing.

Every check raises :class:`InputError` (a ``ValueError``) whose message starts with the
parameter's name; the ``grokking`` command turns it into a one-line message and exit code 2.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


class InputError(ValueError):
    """An invalid parameter; ``param`` names it."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param, self.detail = param, message


def finite(name: str, value: float) -> float:
    """``value`` as a float, or InputError if it is not a finite number."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(name, f"expected a number, got {value!r}") from None
    if not math.isfinite(x):
        raise InputError(name, f"must be finite, got {value!r}")
    return x


def positive(name: str, value: float, *, allow_inf: bool = False) -> float:
    """``value`` as a float > 0 (``inf`` only if ``allow_inf``), or InputError."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(name, f"expected a positive number, got {value!r}") from None
    if math.isnan(x) or x <= 0 or (math.isinf(x) and not allow_inf):
        kind = "a positive number" + (" or inf" if allow_inf else "")
        raise InputError(name, f"must be {kind}, got {value!r}")
    return x


def positive_int(name: str, value: int) -> int:
    """``value`` as an int >= 1, or InputError."""
    if isinstance(value, bool) or not float(value).is_integer() or int(value) < 1:
        raise InputError(name, f"must be a positive integer, got {value!r}")
    return int(value)


def non_negative_int(name: str, value) -> int:
    """``value`` as an int >= 0, or InputError."""
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise InputError(name, f"must be a non-negative integer, got {value!r}")
    return int(value)


def time_grid(dt: float, t_max: float) -> tuple[float, float]:
    """A time step and horizon: both positive and t_max >= dt, or InputError."""
    dt, t_max = positive("dt", dt), positive("t_max", t_max)
    if t_max < dt:
        raise InputError("t_max", f"must be at least dt = {dt:g}, got {t_max:g}")
    return dt, t_max


def training_size(gamma, P) -> None:
    """Exactly one of gamma (> 0) and P (>= 1) is given, or InputError."""
    if (gamma is None) == (P is None):
        raise InputError("gamma", "give exactly one of gamma and P")
    if gamma is not None:
        positive("gamma", gamma)
    else:
        positive_int("P", P)


def finite_array(name: str, values: Sequence[float], shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``values`` as a float64 array of the given shape with finite entries, or InputError."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(name, f"expected numbers, got {values!r}") from None
    if shape is not None and arr.shape != tuple(shape):
        raise InputError(name, f"expected shape {tuple(shape)}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(name, "entries must be finite (no NaN or inf)")
    return arr


def overlaps(C0, A0, N: int, *, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Validate initial overlaps: C0 (N, N) symmetric, A0 (N,), [[C0, A0], [A0^T, 1]] PSD.

    The block matrix is the covariance of (w_i . x, beta . x) / its scale; it must be positive
    semi-definite for weights with these overlaps to exist.
    """
    A0 = finite_array("A0", A0)
    if A0.shape != (N,):
        raise InputError("A0", f"needs one value per hidden unit (N = {N}), got {A0.size}")
    C0 = finite_array("C0", C0)
    if C0.shape != (N, N):
        raise InputError("C0", f"must be an N x N matrix with N = {N}, got shape {C0.shape}")
    if not np.allclose(C0, C0.T, atol=tol, rtol=0):
        raise InputError("C0", "must be symmetric")
    Q = np.block([[C0, A0[:, None]], [A0[None, :], np.ones((1, 1))]])
    lam = np.linalg.eigvalsh(Q).min()
    if lam < -tol * max(1.0, np.abs(Q).max()):
        raise InputError("C0/A0", "[[C0, A0], [A0^T, 1]] is not positive semi-definite "
                         f"(smallest eigenvalue {lam:.3g}): no weights have these overlaps")
    return C0, A0
