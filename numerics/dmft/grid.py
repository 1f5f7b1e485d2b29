"""Time grids and step coefficients of the discretised DMFT (see ``docs/dmft.md``).

A grid is a strictly increasing sequence of times 0 = t_0 < t_1 < ... < t_T = t_max with steps
h_n = t_{n+1} - t_n. The default grid grows its steps with t,

    h_n = min(h_max, max(dt, growth * t_n)),

so that steps are ``dt`` during the first time units (where the network fits its training set on
a time scale of order 1 and alignment escapes), grow geometrically by a factor (1 + growth) per
step, and stop growing at ``h_max`` (set by the stability of the explicit memory terms, see
``docs/dmft.md``). Before its first step of ``dt`` the default grid refines towards t = 0 by
:data:`START_LEVELS` halvings (steps dt/16, dt/16, dt/8, dt/4, dt/2 reach t = dt): the first step
of the multistep scheme is Euler (no history), and its local error, O(h_0^2), would otherwise
dominate the first nodes, where the Monte-Carlo error (of order t^2) is smallest.
``uniform`` keeps h_n = dt. The last step is adjusted so that t_T = t_max, and
the number of steps T is made even, so that :meth:`Grid.coarse` (every other node, steps
doubled) covers the same interval: a solve on the coarse grid is the step-halving partner that
estimates the discretisation error.

Schemes. The w-process dw/dt = xi + Loc(t) w + int Mem(t, s) w(s) ds + R^{h*}(t) beta is advanced
from t_n to t_{n+1} by

- ``imex2`` (default, second order): the local (stiff) rate Loc by the trapezoidal rule with
  Loc(t_{n+1}) linearly extrapolated from t_n and t_{n-1}; the explicit part
  E = xi + memory + R^{h*} beta by the variable-step two-step Adams-Bashforth rule
  h_n [(1 + rho/2) E_n - (rho/2) E_{n-1}], rho = h_n / h_{n-1} (Euler on the first step);
- ``euler`` (first order): w_{n+1} = w_n + h_n (Loc_n w_n + E_n), the scheme of the uniform-grid
  solver of the first milestone, which it reproduces exactly on a uniform grid.

:meth:`Grid.explicit_weights` gives the coefficients c[n, k] of E_k in the step n -> n+1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCHEMES = ("imex2", "euler")
#: halvings of the first step of a non-uniform grid (module docstring)
START_LEVELS = 4
ORDER = {"imex2": 2, "euler": 1}


@dataclass(frozen=True)
class Grid:
    """Grid times ``t`` (T + 1,) and the time-stepping ``scheme``."""

    t: np.ndarray
    scheme: str = "imex2"

    def __post_init__(self):
        t = np.asarray(self.t, dtype=float)
        if t.ndim != 1 or len(t) < 2 or t[0] != 0 or np.any(np.diff(t) <= 0):
            raise ValueError("grid times must start at 0 and increase strictly")
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {self.scheme!r}")
        object.__setattr__(self, "t", t)

    @property
    def T(self) -> int:
        return len(self.t) - 1

    @property
    def h(self) -> np.ndarray:
        """Steps h_n = t_{n+1} - t_n, (T,)."""
        return np.diff(self.t)

    @property
    def order(self) -> int:
        return ORDER[self.scheme]

    def ratio(self) -> np.ndarray:
        """rho_n = h_n / h_{n-1} (rho_0 = 0: the first step has no history), (T,)."""
        h = self.h
        return np.concatenate([[0.0], h[1:] / h[:-1]])

    def explicit_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """(c_now, c_prev), each (T,): the step n -> n+1 adds c_now[n] E_n + c_prev[n] E_{n-1}."""
        h = self.h
        if self.scheme == "euler":
            return h.copy(), np.zeros_like(h)
        rho = self.ratio()
        return h * (1 + rho / 2), -h * rho / 2

    def coarse(self) -> "Grid":
        """Every other node (steps doubled): the step-halving partner of this grid."""
        if self.T % 2:
            raise ValueError("the grid has an odd number of steps; it has no coarse partner")
        return Grid(self.t[::2], self.scheme)

    def describe(self) -> str:
        h = self.h
        return (f"{self.T} steps ({self.scheme}), h from {h.min():.3g} to {h.max():.3g}, "
                f"t_max = {self.t[-1]:g}")


def make_grid(t_max: float, dt: float, *, growth: float = 0.0, h_max: float | None = None,
              scheme: str = "imex2") -> Grid:
    """The grid of the module docstring: h_n = min(h_max, max(dt, growth t_n)) from t = dt on,
    reached by :data:`START_LEVELS` halvings when ``growth > 0``; ``growth = 0`` gives a uniform
    grid. T is made even (the last step is split if needed)."""
    if h_max is None:
        h_max = dt
    h_max = max(h_max, dt)
    times = [0.0]
    if growth > 0 and t_max > dt:
        times += [dt * 2.0 ** (k - START_LEVELS) for k in range(START_LEVELS + 1)]
    while times[-1] < t_max * (1 - 1e-12):
        t = times[-1]
        step = min(h_max, max(dt, growth * t))
        times.append(t + step)
    t = np.asarray(times)
    t[-1] = t_max
    # a last step shorter than half of its predecessor is merged into it
    if len(t) > 2 and (t[-1] - t[-2]) < 0.5 * (t[-2] - t[-3]):
        t = np.delete(t, -2)
    if (len(t) - 1) % 2:
        t = np.insert(t, -1, 0.5 * (t[-2] + t[-1]))
    return Grid(t, scheme)
