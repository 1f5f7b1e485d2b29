"""One causal sweep through the discretised DMFT: sample the h-process, estimate its statistics.

The discretised equations (``docs/dmft.md``; grid and schemes in :mod:`numerics.dmft.grid`) are
causal: the statistics needed at node n (the weight response, Cw(t_n, t_n), A(t_n), the Gaussian
input u_n) depend only on the fields (Cg, Rh, Rhs) at earlier nodes, and the estimates at node n
(Cg[n, m<=n], Rh[n, m<=n], Rhs[n]) depend only on the h-paths up to n. A sweep works in one of
two modes:

- ``march``: each node uses the estimates just made at earlier nodes. The result solves the
  discrete DMFT exactly for the frozen random numbers (common random numbers), in one pass.
- ``frozen``: each node uses given inputs x = (Cg, Rh, Rhs); the outputs are the fixed-point map
  F(x) of the paper's iteration (DMFT paper, A.6). The march's result x* satisfies F(x*) = x*.

The w-process (DMFT paper eq. 3) is linear, L w = b, with L block lower-triangular
(:mod:`numerics.dmft.wprocess` assembles it whole):

    P_{n+1} w_{n+1} = Q_n w_n + c_now[n] E_n + c_prev[n] E_{n-1} + b_{n+1},
    E_k = sum_{m<k} Rh[k, m] (w_m - w_k),   K_k = Rh[k, k] + sum_{m<k} Rh[k, m],
    b_{n+1} = c_now[n] (xi_n + Rhs[n] beta) + c_prev[n] (xi_{n-1} + Rhs[n-1] beta),   b_0 = w_0,

with xi ~ N(0, Cg / gamma), (w_0, beta) Gaussian with <w_0 w_0^T> = C0, <w_0 beta> = A0,
<beta^2> = 1, the explicit weights c of the scheme and, for ``imex2``,
P_{n+1} = I - (h_n/2) K*_{n+1}, Q_n = I + (h_n/2) K_n (K* extrapolated linearly); for ``euler``
P = I, Q_n = I + h_n K_n. A march never forms L^-1: every quantity linear in the source obeys
the same recursion with its own source (:class:`_WeightRecursion`): A and the response X to w_0,
and per sample the Gaussian input u and the memories m = sum_j G[n, j] g_j of g, its probe
tangent and dg/dh_*; Cw(t_n, t_n) = X C0 X^T + X A0 d^T + d A0^T X^T + d d^T + <m m^T> / gamma
(d = A - X A0) exactly, because Cg is the samples' second moment of g. With given fields
(``frozen``) the rows of L^-1 are built instead and Cw(t_n, t_n) = row Cov(b) row^T.

The h-process (DMFT paper eq. 4) is driven by the discrete response of w to its own source,
G[n, j] = d w_n / d xi_j = L^-1[n, j+1] c_now[j] + L^-1[n, j+2] c_prev[j+1]:

    h_n = u_n + (1/gamma) m_n,   m_n = sum_{j<n} G[n, j] g_j,
    g_n = phi'(h_n) Delta_n,  Delta_n = sigma(h_*) - (alpha/N) sum_k phi(h_nk),
    Jg  = d g_n / d h_n = diag(phi''(h_n) Delta_n) - (alpha/N) phi'(h_n) phi'(h_n)^T,

(phi'' = eps; all of them from ``numerics/model.py``)

where u follows the w-recursion with the sampled source b' (eta ~ N(0, Cg / gamma) in place of
xi, and (u_0, h_*) ~ N(0, [[C0, A0], [A0^T, 1]])). The memory term of the h-process therefore uses the same quadrature as the source of the
w-process (the DMFT of a training point's own gradient), and the discrete responses
Rh[n, m] = <d g_n / d u_m> carry the quadrature weights of that rule: the sum
sum_m Rh[n, m] w_m is the discrete form of int R^h(t, s) w(s) ds including the local part.
A march draws eta from the sampled gradient paths themselves (``source="empirical"``, see
:func:`sweep`); with given fields (``frozen``) it uses the causal Cholesky factor of Cg. The
gradient paths are smooth in time, so Cg is nearly singular; a nugget of NUGGET (1e-6) times its
mean diagonal keeps that factor well defined (a relative change of the noise variance of 1e-6,
far below the Monte-Carlo error 1/sqrt(S)).

Responses (DMFT paper, eqs. 9 and 21):

- local part Rh[n, n] = <Jg(h_n)>, R^{h*}_n = <dg_n/dh_*> (forward tangent in h_*), and the
  train loss <Delta_n^2>, each as the exact Gaussian value (generated closed forms at
  (A_n, Cw_nn)) plus the sample mean of the paired deviation f(h) - f(u) (control variates);
- memory part Rh[n, m<n] = <dg_n/du_m>, by one of two estimators:
  ``probe`` (default): a forward tangent driven by independent N(0, 1) probes v per sample,
  E[(Jg (hdot_n - v_n)) v_m^T] = <dg_n/du_m>; cost O(S N^2 T^2) like the forward pass;
  ``jacobian``: the full per-sample Jacobian dh_n/du_m (the recursions of DMFT paper A.4),
  exact per sample, cost O(S N^3 T^3) (small problems, validation).
"""

from __future__ import annotations

import logging
import time
import weakref
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from grokking_workbench.numerics import interrupt, model
from grokking_workbench.numerics.dmft.grid import Grid

log = logging.getLogger(__name__)

ESTIMATORS = ("probe", "jacobian")


class CovarianceError(RuntimeError):
    """A covariance stopped being positive definite beyond what jitter can repair."""


@dataclass
class Problem:
    """The model and grid: N units, (C0, A0), alpha, eps, gamma (inf allowed), time grid."""

    C0: np.ndarray
    A0: np.ndarray
    alpha: float
    eps: float
    gamma: float
    grid: Grid
    memory: float = np.inf       # memory window of R^h (time units); inf keeps the whole history
    precision: str = "float64"   # storage of the per-sample histories (float32 halves their traffic)

    @property
    def N(self) -> int:
        return len(self.A0)

    @property
    def T(self) -> int:
        return self.grid.T

    @property
    def t(self) -> np.ndarray:
        return self.grid.t

    @property
    def inv_gamma(self) -> float:
        return 0.0 if np.isinf(self.gamma) else 1.0 / self.gamma


@dataclass
class Noise:
    """Common random numbers: base normals for (u_0, h_*) (S, N + 1); for the source eta and the
    probes, stored time-major ((T + 1) N, S), row n N + i for node n and unit i, so that every
    sum over the history of a node is one product with a contiguous block of rows; and the donor
    weights (S, S) of the empirical source (see :func:`sweep`)."""

    z0: np.ndarray
    zeta: np.ndarray
    v: np.ndarray
    donor_seed: int = 0
    _donors: np.ndarray | None = field(default=None, repr=False)

    @staticmethod
    def draw(S: int, problem: Problem, seed: int) -> "Noise":
        rng = np.random.default_rng(seed)
        N, T = problem.N, problem.T
        dtype = np.dtype(problem.precision)
        z0 = rng.standard_normal((S, N + 1))
        time_major = lambda x: np.ascontiguousarray(np.transpose(x, (1, 2, 0)).reshape((T + 1) * N, S))  # noqa: E731
        zeta = time_major(rng.standard_normal((S, T + 1, N))).astype(dtype, copy=False)
        v = time_major(rng.standard_normal((S, T + 1, N))).astype(dtype, copy=False)
        return Noise(z0, zeta, v, int(rng.integers(2 ** 62)))

    @property
    def S(self) -> int:
        return self.z0.shape[0]

    @property
    def donors(self) -> np.ndarray:
        """Donor weights (S, S) of the empirical source: N(0, 1/(S-1)), zero diagonal (no sample is
        driven by its own gradient); drawn when first needed."""
        if self._donors is None:
            S = self.S
            if S > MAX_DONORS:
                raise ValueError(f"the empirical source holds S^2 weights; use at most {MAX_DONORS} samples "
                                 f"per replica (got {S}) or the cholesky source")
            Z = np.random.default_rng(self.donor_seed).standard_normal((S, S))
            np.fill_diagonal(Z, 0.0)
            self._donors = (Z / np.sqrt(max(S - 1, 1))).astype(self.v.dtype, copy=False)
        return self._donors

    def every_other(self) -> "Noise":
        """The same random numbers at the nodes of the coarse grid (common random numbers for the
        step-halving partner)."""
        S, N = self.S, self.z0.shape[1] - 1
        pick = lambda x: np.ascontiguousarray(x.reshape(-1, N, S)[::2].reshape(-1, S))  # noqa: E731
        return Noise(self.z0, pick(self.zeta), pick(self.v), self.donor_seed, self._donors)


MAX_DONORS = 20000
BLOW_UP = 1e6
SOURCES = ("empirical", "cholesky")


@dataclass
class Fields:
    """The discretised DMFT fields on the grid's nodes: the inputs of the w-process.

    The names are the paper's (DMFT paper eqs. 3, 7, 9). Times are the model's gradient-flow
    time t (``docs/conventions.md``); g and w are dimensionless.

    ``Cg`` (T+1, T+1, N, N)
        Cg[n, m] = <g_n g_m^T>, the gradient covariance C^g(t_n, t_m) (dimensionless).
    ``Rh`` (T+1, T+1, N, N), lower block triangle (m <= n)
        the discrete response of the gradient to the Gaussian input, Rh[n, m] = <dg_n / du_m>,
        in two units: on the diagonal Rh[n, n] = <Jg(h_n)> is the local part of R^h, a rate
        (1 / time); below it Rh[n, m < n] is the memory kernel R^h(t_n, t_m) times the
        quadrature weight of node m (about h_m x kernel: dimensionless), so that
        sum_{m <= n} Rh[n, m] w_m is the discrete form of int_0^t R^h(t, s) w(s) ds with its
        local part (``docs/dmft.md``, "The discretised equations").
    ``Rhs`` (T+1, N)
        Rhs[n] = <dg_n / dh_*>, the response R^{h*}(t_n) to the target direction, a rate
        (1 / time).
    """

    Cg: np.ndarray
    Rh: np.ndarray
    Rhs: np.ndarray

    @staticmethod
    def zeros(T: int, N: int, dtype=np.float64) -> "Fields":
        """Zero fields; the two-time ones (Cg, Rh) in ``dtype``."""
        return Fields(np.zeros((T + 1, T + 1, N, N), dtype), np.zeros((T + 1, T + 1, N, N), dtype),
                      np.zeros((T + 1, N)))

    def vector(self) -> np.ndarray:
        return np.concatenate([self.Cg.ravel(), self.Rh.ravel(), self.Rhs.ravel()])

    @staticmethod
    def from_vector(x: np.ndarray, T: int, N: int) -> "Fields":
        a = (T + 1) ** 2 * N * N
        return Fields(x[:a].reshape(T + 1, T + 1, N, N), x[a:2 * a].reshape(T + 1, T + 1, N, N),
                      x[2 * a:].reshape(T + 1, N))

    def copy(self) -> "Fields":
        return Fields(self.Cg.copy(), self.Rh.copy(), self.Rhs.copy())


class _RecentRows:
    """Rh held as its last ``depth`` rows (the march reads rows k and k - 1 of the fields while it
    writes row k + 1), with the blocks between the output ``nodes`` copied aside as each row is
    completed: O(T) memory instead of O(T^2). Indexed like the (T+1, T+1, N, N) array it stands
    for, ``rows[n]``, ``rows[n, m]`` and ``rows[n, a:b]``, for the rows it still holds."""

    def __init__(self, T: int, N: int, nodes: np.ndarray, dtype, depth: int = 3):
        self.rows = np.zeros((depth, T + 1, N, N), dtype)
        self.held = np.full(depth, -1)
        self.out = _NodeBlocks(T, N, nodes, dtype)

    def _slot(self, n: int) -> int:
        slot = n % len(self.rows)
        if self.held[slot] != n:
            raise IndexError(f"row {n} of the fields is no longer held (rows held: {sorted(self.held)})")
        return slot

    def __getitem__(self, key):
        n, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        return self.rows[self._slot(int(n))][rest] if rest else self.rows[self._slot(int(n))]

    def __setitem__(self, key, value):
        n, rest = key[0], key[1:]
        n = int(n)
        slot = n % len(self.rows)
        if self.held[slot] != n:                  # a new row replaces the oldest
            self.rows[slot] = 0
            self.held[slot] = n
        self.rows[slot][rest] = value

    def complete(self, n: int) -> None:
        """Row n is final: keep its blocks at the output nodes."""
        self.out.take_row(n, self.rows[self._slot(n)])


class _NodeBlocks:
    """A two-time field stored only between the output ``nodes``: (K, K, N, N)."""

    def __init__(self, T: int, N: int, nodes: np.ndarray, dtype):
        self.nodes = np.asarray(nodes, dtype=int)
        self.index = np.full(T + 1, -1)
        self.index[self.nodes] = np.arange(len(self.nodes))
        self.blocks = np.zeros((len(self.nodes), len(self.nodes), N, N), dtype)

    def take_row(self, n: int, row: np.ndarray) -> None:
        """Row n (blocks (m, N, N) for m = 0 .. at least n) if n is an output node; the upper
        triangle is filled by symmetry where the field is symmetric (see :class:`_SymmetricSink`)."""
        i = self.index[n]
        if i >= 0:
            cols = self.nodes[self.nodes <= n]
            self.blocks[i, :len(cols)] = row[cols]


class _SymmetricSink:
    """Cg, which the march writes (row n and, by symmetry, column n: ``Cg[n, :n+1] = ...`` and
    ``Cg[:n+1, n] = ...``) but never reads when its source is empirical: only the blocks between
    output nodes are kept."""

    def __init__(self, T: int, N: int, nodes: np.ndarray, dtype):
        self.out = _NodeBlocks(T, N, nodes, dtype)

    def __setitem__(self, key, value):
        n, cols = key
        if isinstance(n, (int, np.integer)):      # the row; the column is its transpose
            self.out.take_row(int(n), np.asarray(value))
            i = self.out.index[int(n)]
            if i >= 0:
                k = int((self.out.nodes <= n).sum())
                self.out.blocks[:k, i] = np.transpose(self.out.blocks[i, :k], (0, 2, 1))

    def __getitem__(self, key):
        raise IndexError("Cg is stored only between output nodes in a march with an empirical source")


@dataclass
class SweepResult:
    """Estimates (``fields``), the exact w-process statistics, losses and error estimates."""

    fields: Fields
    A: np.ndarray            # (T+1, N)
    Cw_diag: np.ndarray      # (T+1, N, N)
    train_loss: np.ndarray   # (T+1,)
    train_loss_se: np.ndarray
    noise: dict = field(default_factory=dict)   # Monte-Carlo standard errors (pooled) per field
    steps: int = 0
    seconds: dict = field(default_factory=dict)  # wall time: linear (w-process), sampling, responses
    diverged: int | None = None                  # first node with a non-finite statistic
    grid: Grid | None = None
    gap_sum: np.ndarray | None = None            # sum_ij sum_j G[n, j]_ij Cg[n, j]_ij per node
    nodes: np.ndarray | None = None              # fields stored only between these nodes (None: all)


NUGGET = 1e-6   # relative regularisation of the causal Cholesky factor of C^g (see sweep)


def _cholesky_psd(M: np.ndarray, what: str, scale: float | None = None) -> np.ndarray:
    """Cholesky factor of a symmetric PSD matrix, with jitter growing from 1e-12 of ``scale``
    (default: the largest diagonal entry); CovarianceError if it fails."""
    M = 0.5 * (M + M.T)
    if scale is None:
        scale = float(np.max(np.abs(np.diag(M))))
    scale = max(scale, 1e-300)
    jitter = 0.0
    for _ in range(8):
        try:
            return np.linalg.cholesky(M + jitter * np.eye(len(M)))
        except np.linalg.LinAlgError:
            jitter = scale * (1e-12 if jitter == 0 else 100 * jitter / scale)
    lam = np.linalg.eigvalsh(M).min()
    raise CovarianceError(f"{what} is not positive semi-definite (smallest eigenvalue {lam:.3g})")


@np.errstate(over="ignore", invalid="ignore")   # divergence is detected and reported instead
def sweep(problem: Problem, noise: Noise, *, frozen: Fields | None = None, estimator: str = "probe",
          until: int | None = None, source: str | None = None, nodes=None) -> SweepResult:
    """One causal sweep (see the module docstring).

    ``frozen``: evaluate the fixed-point map F(frozen) instead of marching.
    ``until``: stop after this node (default T).
    ``source``: how the Gaussian source eta ~ N(0, Cg / gamma) of the per-sample input is drawn.
    ``empirical`` (the default of a march): eta^s_n = gamma^-1/2 sum_{s' != s} Z[s, s'] g^{s'}_n
    with fixed N(0, 1/(S-1)) donor weights Z, exactly Gaussian given the paths, with the samples'
    second moment of g as its covariance at every pair of times, at a cost O(S^2 N) per node;
    ``cholesky`` (the default when ``frozen``, where the covariance is an input): the causal block
    Cholesky factor of Cg, extended one node at a time, O((n N)^2) per node.
    ``nodes``: keep the two-time fields Cg and Rh only between these nodes (the march itself needs
    only the last rows of Rh and, with the empirical source, no Cg): O(T) memory for them instead
    of O(T^2). Only for a march (not ``frozen``) with the ``probe`` estimator and the empirical
    source; the result's fields are then (K, K, N, N) on ``nodes`` (``SweepResult.nodes``).
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    source = source or ("cholesky" if frozen is not None else "empirical")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if nodes is not None and (frozen is not None or estimator != "probe" or source != "empirical"):
        raise ValueError("fields on output nodes only need a march with the probe estimator and the "
                         "empirical source")
    state = _SweepState(problem, noise, frozen, estimator, nodes)
    state.source = source
    last = problem.T if until is None else until
    t = problem.grid.t
    bar = tqdm(total=last + 1, desc="dmft sweep", unit="node", delay=2.0, mininterval=1.0, leave=False,
               disable=False if log.isEnabledFor(logging.INFO) else None)   # -v: also off a terminal
    for n in range(last + 1):
        if n % 16 == 0:
            bar.set_postfix_str(f"t = {t[n]:.4g} of {t[last]:.4g}", refresh=False)
        bar.update(1)
        state.weight_statistics(n)
        state.clock("linear")
        state.sample_paths(n)
        state.clock("sampling")
        state.estimate_fields(n)
        if nodes is not None:
            state.estimates.Rh.complete(n)
        state.clock("responses")
        if not state.finite(n):
            state.diverged = n
            break
        if n < problem.T:
            state.extend_source(n)
            state.clock("linear")
        if n < last and interrupt.requested():   # stop at a node boundary: the result ends at n
            last = n
            break
    bar.close()
    return state.result(last)


def memory_band(t: np.ndarray, window: float) -> np.ndarray:
    """First node of the memory of each node: band[k] = min{i : t_i >= t_k - window}."""
    if not np.isfinite(window):
        return np.zeros(len(t), dtype=int)
    return np.searchsorted(t, t - window * (1 + 1e-12), side="left")


class _WeightRecursion:
    """The w-recursion (module docstring) applied to K columns at once: any quantity that is
    linear in the w-process source (A, the response to w_0, the per-sample Gaussian input u, and
    the per-sample memories m = sum_j G[n, j] g_j) obeys it with its own source. Histories are
    time-major ((T + 1) N, K): rows n N .. (n + 1) N - 1 hold node n."""

    def __init__(self, state: "_SweepState", K: int, dtype=np.float64):
        self.s = weakref.proxy(state)             # no reference cycle: a finished sweep's arrays are freed at once
        N, T = state.N, state.T
        self.history = np.zeros(((T + 1) * N, K), dtype=dtype)
        self.memory_prev = np.zeros((N, K))       # E_{k-1}, the explicit memory of the previous step

    def advance(self, n: int, source: np.ndarray | float) -> np.ndarray:
        """Node n (n >= 1) from nodes < n and the source b_n; returns the new block (N, K)."""
        s, N, history = self.s, self.s.N, self.history
        k = n - 1
        Rh = s.inputs.Rh
        first = s.memory_start[k]
        x_k = history[k * N:n * N]
        # E_k = sum_{m<k} Rh[k, m] (x_m - x_k)
        memory = -rate_memory_part(Rh, k, first) @ x_k
        if k > first and s.p.inv_gamma > 0:            # the memory of R^h vanishes at gamma = inf
            row = np.transpose(Rh[k, first:k], (1, 0, 2)).reshape(N, (k - first) * N).astype(history.dtype)
            memory += row @ history[first * N:k * N]
        rhs = (s.explicit_step(k) @ x_k + s.c_now[k] * memory + s.c_prev[k] * self.memory_prev
               + source)
        self.memory_prev = memory
        history[n * N:(n + 1) * N] = s.implicit_step_inverse(k) @ rhs
        return history[n * N:(n + 1) * N]


class _SweepState:
    """Arrays of one sweep and its four named steps per node (see :func:`sweep`).

    Per-node arrays are indexed by the node n; per-sample arrays are (N, S) (hidden unit, sample)
    at one node, or time-major histories ((T + 1) N, S). Names: ``u`` the Gaussian input,
    ``h`` the non-Gaussian preactivation u + m / gamma, ``delta`` the error Delta, ``g`` the
    gradient phi'(h) Delta (``numerics/model.py``), ``*_probe`` forward tangents driven by the
    probes, ``*_star`` tangents in the direction h_*.
    """

    def __init__(self, p: Problem, noise: Noise, frozen: Fields | None, estimator: str, nodes=None):
        N, T, S = p.N, p.T, noise.S
        self.p, self.noise, self.estimator = p, noise, estimator
        self.N, self.T, self.S = N, T, S
        self.identity = np.eye(N)
        grid = p.grid
        self.step = grid.h                               # h_n = t_{n+1} - t_n
        self.step_ratio = grid.ratio()                   # rho_n = h_n / h_{n-1}
        self.c_now, self.c_prev = grid.explicit_weights()
        self.theta = 0.5 if grid.scheme == "imex2" else 0.0   # trapezoidal weight of the rate
        self.memory_start = memory_band(grid.t, p.memory)     # first node of each node's memory
        self.dtype = np.dtype(p.precision)
        self.nodes = None if nodes is None else np.asarray(nodes, dtype=int)
        if self.nodes is None:
            self.estimates = Fields.zeros(T, N, self.dtype)
        else:
            self.estimates = Fields(_SymmetricSink(T, N, self.nodes, self.dtype),
                                    _RecentRows(T, N, self.nodes, self.dtype), np.zeros((T + 1, N)))
        self.inputs = frozen if frozen is not None else self.estimates   # fields driving the w-process
        self.frozen = frozen is not None
        size = (T + 1) * N
        self._implicit_inverse = {}
        # deterministic columns: A (column 0) and the response X to w_0 (columns 1..N)
        self.deterministic = _WeightRecursion(self, 1 + N)
        self.deterministic.history[:N, 0] = p.A0
        self.deterministic.history[:N, 1:] = self.identity
        # per-sample columns: u (Gaussian input), then m, m_probe, m_star (the memories of g, of
        # its probe tangent and of dg/dh_*), S columns each
        self.per_sample = _WeightRecursion(self, 4 * S, self.dtype)
        joint0 = np.block([[p.C0, p.A0[:, None]], [p.A0[None, :], np.ones((1, 1))]])
        z = noise.z0 @ _cholesky_psd(joint0, "[[C0, A0], [A0^T, 1]]").T
        self.hstar = z[:, N]
        self.per_sample.history[:N, :S] = z[:, :N].T
        self.sample_source = np.zeros((N, 4 * S))        # b_{n+1} of the per-sample recursion
        self.eta_prev = np.zeros((N, S))                 # the sampled source eta at the previous node
        self.source_mean = np.zeros((T + 1, N))          # <b_n beta>, n >= 1
        # g, its probe tangent and dg/dh_*, time-major ((T + 1) N, S) each
        self.gradient_paths = np.zeros((3, size, S), dtype=self.dtype)
        self.source_factor = None                        # causal Cholesky factor of Cg (flat), if used
        # exact rows of L^-1: needed for Cw(t, t) when the fields are not this sweep's own
        # estimates (frozen) and for the per-sample Jacobians of the ``jacobian`` estimator
        self.exact_rows = self.frozen or estimator == "jacobian"
        if self.exact_rows:
            self.weight_response = np.zeros((size, size))     # L^-1, flat ((T+1) N, (T+1) N)
            self.memory_rows = np.zeros((N, size))            # E_{n-1} of the rows of L^-1
            self.source_cov = np.zeros((size, size))          # Cov(b)
            self.source_cov[:N, :N] = p.C0
            self.source_beta = np.zeros(size)                 # <b beta>
            self.source_beta[:N] = p.A0
        # G[n, j] = dw_n / dxi_j, (T+1, T+1, N, N), and the per-sample dg_n/du_m (S, T+1, N, T+1, N)
        self.G = np.zeros((T + 1, T + 1, N, N)) if estimator == "jacobian" else None
        self.dg_du = np.zeros((S, T + 1, N, T + 1, N)) if estimator == "jacobian" else None
        self.A = np.zeros((T + 1, N))
        self.Cw_diag = np.zeros((T + 1, N, N))
        self.gap_sum = np.zeros(T + 1)                   # sum_ij sum_j G[n, j]_ij Cg[n, j]_ij
        self.train = np.zeros(T + 1)
        self.train_se = np.zeros(T + 1)
        self.se = {"Cg": [], "Rh": [], "Rhs": []}
        self.probe_scale = float(np.abs(noise.v[:N]).std()) if S > 1 else 0.0
        self.seconds = {"linear": 0.0, "sampling": 0.0, "responses": 0.0}
        self.tick = time.perf_counter()
        self.diverged = None

    def clock(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] += now - self.tick
        self.tick = now

    # ---- the step matrices of the scheme, from the fields at nodes k and k - 1
    def rate(self, k: int) -> np.ndarray:
        """K_k, the total rate of w at node k (1 / time)."""
        return total_rate(self.inputs.Rh, k, self.memory_start[k])

    def explicit_step(self, k: int) -> np.ndarray:
        """Q_k = I + (1 - theta) h_k K_k."""
        return self.identity + (1 - self.theta) * self.step[k] * self.rate(k)

    def implicit_step_inverse(self, k: int) -> np.ndarray:
        """P_{k+1}^-1 = (I - theta h_k K*_{k+1})^-1, K* = (1 + rho_k) K_k - rho_k K_{k-1}."""
        if k not in self._implicit_inverse:
            rate = self.rate(k)
            if k > 0:
                rate = (1 + self.step_ratio[k]) * rate - self.step_ratio[k] * self.rate(k - 1)
            self._implicit_inverse[k] = np.linalg.inv(self.identity - self.theta * self.step[k] * rate)
        return self._implicit_inverse[k]

    # ---- step 1: exact w-process statistics at node n (fields at nodes < n)
    def weight_statistics(self, n: int) -> None:
        N = self.N
        if n > 0:
            self.deterministic.advance(n, np.concatenate([self.source_mean[n][:, None], np.zeros((N, N))],
                                                         axis=1))
        block = self.deterministic.history[n * N:(n + 1) * N]
        self.A[n] = block[:, 0]
        if self.exact_rows:
            self._exact_row(n)

    def _exact_row(self, n: int) -> None:
        """Row n of L^-1 (all columns), Cw(t_n, t_n) = row Cov(b) row^T and G[n, :n]."""
        N, Lw = self.N, self.weight_response
        cur = slice(n * N, (n + 1) * N)
        if n == 0:
            Lw[cur, cur] = self.identity
        else:
            k = n - 1
            Rh = self.inputs.Rh
            first = self.memory_start[k]
            previous = Lw[k * N:n * N, :n * N]
            memory = -rate_memory_part(Rh, k, first) @ previous            # E_k = sum Rh[k, m] (w_m - w_k)
            if k > first and self.p.inv_gamma > 0:
                memory[:, :k * N] += (np.transpose(Rh[k, first:k], (1, 0, 2)).reshape(N, (k - first) * N)
                                      @ Lw[first * N:k * N, :k * N])
            rhs = (self.explicit_step(k) @ previous + self.c_now[k] * memory
                   + self.c_prev[k] * self.memory_rows[:, :n * N])
            self.memory_rows[:, :n * N] = memory
            Lw[cur, :n * N] = self.implicit_step_inverse(k) @ rhs
            Lw[cur, cur] = self.implicit_step_inverse(k)
        row = Lw[cur, :(n + 1) * N]
        self.Cw_diag[n] = row @ self.source_cov[:(n + 1) * N, :(n + 1) * N] @ row.T
        if self.G is not None and n > 0:
            blocks = Lw[cur, N:(n + 1) * N].reshape(N, n, N)
            G = blocks * self.c_now[:n][None, :, None]
            G[:, :n - 1] += blocks[:, 1:] * self.c_prev[1:n][None, :, None]
            self.G[n, :n] = np.transpose(G, (1, 0, 2))

    # ---- step 2: Gaussian input and the non-Gaussian preactivation paths at node n
    def sample_paths(self, n: int) -> None:
        p, N, S = self.p, self.N, self.S
        cur = slice(n * N, (n + 1) * N)
        if n > 0:
            block = self.per_sample.advance(n, self.sample_source)
        else:
            block = self.per_sample.history[:N]
        block = block.astype(np.float64, copy=False)
        u = block[:, :S]
        memory = block[:, S:].reshape(N, 3, S).transpose(1, 0, 2)      # m, m_probe, m_star: (3, N, S)
        if not self.exact_rows:
            # Cw(t_n, t_n) from the recursion: w_n = X w_0 + d beta + sum_j G[n, j] xi_j, and the
            # xi part G Cg G^T = <m m^T> exactly, since Cg is the sample second moment of g
            X = self.deterministic.history[cur, 1:]
            XA0 = X @ p.A0
            d = self.A[n] - XA0
            self.Cw_diag[n] = (X @ p.C0 @ X.T + np.outer(XA0, d) + np.outer(d, XA0) + np.outer(d, d)
                               + p.inv_gamma * (memory[0] @ memory[0].T) / S)
            self.Cw_diag[n] = 0.5 * (self.Cw_diag[n] + self.Cw_diag[n].T)
        inv_gamma = p.inv_gamma
        h = u + inv_gamma * memory[0]
        alpha, eps = p.alpha, p.eps
        self.h, self.u = h, u
        self.dphi_h, self.dphi_u = model.dphi(h, eps), model.dphi(u, eps)
        self.delta_h = model.error(self.hstar, h, alpha, eps)
        self.delta_u = model.error(self.hstar, u, alpha, eps)
        self.h_probe = self.noise.v[cur] + inv_gamma * memory[1]
        g, g_probe, g_star = self.gradient_paths[:, cur]
        g[:] = self.dphi_h * self.delta_h
        g_probe[:] = self.jacobian_times(self.h_probe)
        g_star[:] = self.dphi_h * self.hstar + self.jacobian_times(inv_gamma * memory[2])
        self.gap_sum[n] = float(np.sum(memory[0] * g)) / S

    def jacobian_times(self, x: np.ndarray) -> np.ndarray:
        """Jg(h_n) x per sample (x: (N, S)): :func:`numerics.model.jacobian_times`."""
        return model.jacobian_times(self.h, self.delta_h, x, self.p.alpha, self.p.eps)

    # ---- step 3: estimates at node n
    def estimate_fields(self, n: int) -> None:
        from grokking_workbench.theory.generated import committee as th

        p, N, S, I, estimates = self.p, self.N, self.S, self.identity, self.estimates
        alpha, eps = p.alpha, p.eps
        A, C = self.A[n], self.Cw_diag[n]
        cur = slice(n * N, (n + 1) * N)
        g_history = self.gradient_paths[0]
        g = g_history[cur].astype(np.float64)
        row = _history_mean(g, g_history[:(n + 1) * N])
        estimates.Cg[n, :n + 1] = row
        estimates.Cg[:n + 1, n] = np.transpose(row, (0, 2, 1))
        dphi_h, dphi_u = self.dphi_h, self.dphi_u
        # control variates: Jg(h) - Jg(u), dg/dh_* and Delta^2 of the path minus their Gaussian input's;
        # the diagonal phi''(h) Delta_h - phi''(u) Delta_u is written as
        # phi''(h) (Delta_h - Delta_u) + (phi''(h) - phi''(u)) Delta_u
        ddphi_h, ddphi_u = model.ddphi(self.h, eps), model.ddphi(self.u, eps)
        local_diagonal = ddphi_h * (self.delta_h - self.delta_u) + (ddphi_h - ddphi_u) * self.delta_u
        local_deviation = (local_diagonal[:, None, :] * I[:, :, None]
                           - alpha / N * (dphi_h[:, None] * dphi_h[None, :] - dphi_u[:, None] * dphi_u[None, :]))
        estimates.Rh[n, n] = th.response_h(A, C, alpha, eps) + local_deviation.mean(-1)
        star_deviation = self.gradient_paths[2, cur].astype(np.float64) - dphi_u * self.hstar
        estimates.Rhs[n] = th.response_hstar(A, C, alpha, eps) + star_deviation.mean(-1)
        loss_deviation = self.delta_h ** 2 - self.delta_u ** 2
        self.train[n] = th.test_loss(A, C, alpha, eps) + loss_deviation.mean()
        self.train_se[n] = loss_deviation.std() / np.sqrt(S)
        self.se["Rhs"].append(star_deviation.std(-1) / np.sqrt(S))
        self.se["Rh"].append(local_deviation.std(-1).ravel() / np.sqrt(S))
        self.se["Cg"].append((g[:, None] * g[None, :]).std(-1).ravel() / np.sqrt(S))
        inv_gamma = p.inv_gamma
        first = self.memory_start[n]
        if self.estimator == "probe":
            if n > first and inv_gamma > 0:
                v = self.noise.v
                memory_tangent = self.jacobian_times(self.h_probe - v[cur])
                estimates.Rh[n, first:n] = _history_mean(memory_tangent, v[first * N:n * N])
                self.se["Rh"].append(np.abs(memory_tangent).std(-1) * self.probe_scale / np.sqrt(S))
            return
        # jacobian: dh_n/du_m = I delta_nm + (1/gamma) sum_{j<n} G[n, j] dg_j/du_m
        T = self.T
        dh_du = np.zeros((S, N, T + 1, N))
        if n > 0 and inv_gamma > 0:
            dh_du = inv_gamma * np.einsum("kac,skcmb->samb", self.G[n, :n], self.dg_du[:, :n])
        dh_du[:, :, n, :] += I
        # Jg[s, a, b] = (Jg e_b)_a: the Jacobian applied to the unit vectors
        Jg = np.transpose(model.jacobian_times(self.h[:, None, :], self.delta_h, I[:, :, None], alpha, eps),
                          (2, 0, 1))
        self.dg_du[:, n] = np.einsum("sac,scmb->samb", Jg, dh_du)
        if n > first and inv_gamma > 0:
            estimates.Rh[n, first:n] = np.transpose(self.dg_du[:, n, :, first:n].mean(0), (1, 0, 2))

    def finite(self, n: int) -> bool:
        """Finite statistics, and a train loss and alignment below BLOW_UP (a run that has left
        every physical scale: the loss of the model is of order 1)."""
        return bool(np.isfinite(self.train[n]) and np.all(np.isfinite(self.A[n]))
                    and np.all(np.isfinite(self.estimates.Rh[n]))
                    and abs(self.train[n]) < BLOW_UP and np.all(np.abs(self.A[n]) < BLOW_UP))

    # ---- step 4: the source b_{n+1}: its mean part, its samples (and its covariance, if exact)
    def extend_source(self, n: int) -> None:
        p, N, S, I = self.p, self.N, self.S, self.identity
        fields = self.inputs
        c_now, c_prev = self.c_now[n], self.c_prev[n]
        mean = c_now * fields.Rhs[n] + (c_prev * fields.Rhs[n - 1] if n > 0 else 0.0)   # <b_{n+1} beta>
        self.source_mean[n + 1] = mean
        inv_gamma = p.inv_gamma
        if inv_gamma > 0 and self.source == "empirical":
            g_now = self.gradient_paths[0, n * N:(n + 1) * N]
            eta = (self.noise.donors @ g_now.T).T.astype(np.float64) * np.sqrt(inv_gamma)
        elif inv_gamma > 0:
            # causal Cholesky factor of Cg: new block row, and the sampled source eta_n
            Cg_row = np.transpose(fields.Cg[n, :n + 1], (1, 0, 2)).reshape(N, (n + 1) * N)
            if self.source_factor is None:
                self.source_factor = np.zeros(((self.T + 1) * N, (self.T + 1) * N))
            factor = self.source_factor
            factor_row = np.zeros((N, (n + 1) * N))
            if n > 0:
                factor_row[:, :n * N] = _forward_solve(factor[:n * N, :n * N], Cg_row[:, :n * N])
            nugget = NUGGET * max(float(np.trace(fields.Cg[0, 0])) / N, float(np.trace(fields.Cg[n, n])) / N)
            conditional = fields.Cg[n, n] + nugget * I - factor_row[:, :n * N] @ factor_row[:, :n * N].T
            factor_row[:, n * N:] = _cholesky_psd(conditional, f"C^g conditional covariance at node {n}",
                                                  scale=float(np.trace(fields.Cg[n, n])) / N)
            factor[n * N:(n + 1) * N, :(n + 1) * N] = factor_row
            eta = ((factor_row.astype(self.dtype) @ self.noise.zeta[:(n + 1) * N]).astype(np.float64)
                   * np.sqrt(inv_gamma))
        else:
            eta = np.zeros((N, S))
        source = self.sample_source
        paths = self.gradient_paths
        source[:, :S] = c_now * (eta + fields.Rhs[n][:, None] * self.hstar)
        source[:, S:] = c_now * paths[:, n * N:(n + 1) * N].transpose(1, 0, 2).reshape(N, 3 * S)
        if n > 0:
            source[:, :S] += c_prev * (self.eta_prev + fields.Rhs[n - 1][:, None] * self.hstar)
            source[:, S:] += c_prev * paths[:, (n - 1) * N:n * N].transpose(1, 0, 2).reshape(N, 3 * S)
        self.eta_prev = eta
        if self.exact_rows:
            self._extend_source_covariance(n, mean)

    def _extend_source_covariance(self, n: int, mean: np.ndarray) -> None:
        """Row n + 1 of Cov(b) and <b beta> (b_m = c_now[m-1] (xi_{m-1} + Rhs beta) + c_prev[m-1] (...))."""
        p, N, fields = self.p, self.N, self.inputs
        new = slice((n + 1) * N, (n + 2) * N)
        width = (n + 2) * N
        self.source_beta[new] = mean
        cov = self.source_cov
        cov[new, :N] = np.outer(mean, p.A0)
        cov[new, N:width] = np.outer(mean, self.source_beta[N:width])
        inv_gamma = p.inv_gamma
        if inv_gamma > 0:
            mixed = self.c_now[n] * np.transpose(fields.Cg[n, :n + 1], (1, 0, 2)).reshape(N, (n + 1) * N)
            if n > 0:
                mixed = mixed + self.c_prev[n] * np.transpose(fields.Cg[n - 1, :n + 1], (1, 0, 2)).reshape(N, (n + 1) * N)
            mixed = mixed.reshape(N, n + 1, N)                     # sum_a c_a Cg[a, l], l = 0..n
            m = np.arange(n + 1)                                   # b_{m+1} for m = 0..n
            xi_cov = mixed * self.c_now[m][None, :, None]
            xi_cov[:, 1:] += mixed[:, :-1] * self.c_prev[m[1:]][None, :, None]
            cov[new, N:width] += inv_gamma * xi_cov.reshape(N, (n + 1) * N)
        cov[N:width, new] = cov[new, N:width].T
        cov[:N, new] = cov[new, :N].T

    def result(self, last: int) -> SweepResult:
        noise_level = {k: float(np.sqrt(np.mean(np.concatenate(v) ** 2))) if v else 0.0
                       for k, v in self.se.items()}
        steps = last if self.diverged is None else self.diverged - 1
        fields = self.estimates
        if self.nodes is not None:
            fields = Fields(fields.Cg.out.blocks, fields.Rh.out.blocks, fields.Rhs)
        return SweepResult(fields, self.A, self.Cw_diag, self.train, self.train_se,
                           noise_level, steps, self.seconds, self.diverged, self.p.grid, self.gap_sum,
                           self.nodes)


def rate_memory_part(Rh: np.ndarray, k: int, lo: int = 0) -> np.ndarray:
    """sum_{lo<=m<k} Rh[k, m]: the memory's total weight at node k (N, N)."""
    return Rh[k, lo:k].sum(axis=0, dtype=np.float64)


def total_rate(Rh: np.ndarray, k: int, lo: int = 0) -> np.ndarray:
    """Loc_k + sum_{lo<=m<k} Rh[k, m]: the rate of w at node k if w were constant over its
    memory; the part of the w-process the ``imex2`` scheme treats implicitly."""
    return Rh[k, k].astype(np.float64) + rate_memory_part(Rh, k, lo)


def _history_mean(a: np.ndarray, history: np.ndarray) -> np.ndarray:
    """mean_s a[:, s] history[m N + :, s]^T as an (m, N, N) array (a: (N, S); history: (m N, S)),
    through one matrix product."""
    N, S = a.shape
    M = history.shape[0] // N
    # history @ a.T streams the long history once (a @ history.T is far slower in OpenBLAS), in
    # the history's precision
    product = (history @ a.astype(history.dtype).T).astype(np.float64)
    return np.transpose(product.reshape(M, N, N), (0, 2, 1)) / S


def _forward_solve(L: np.ndarray, B: np.ndarray) -> np.ndarray:
    """X with X L^T = B for lower-triangular L (rows of B: right-hand sides)."""
    from scipy.linalg import solve_triangular

    return solve_triangular(L, B.T, lower=True, check_finite=False).T
