"""Online-limit (gamma -> infinity) ODEs of the committee machine, integrated with solve_ivp.

DMFT paper, App. A.1 (eqs. 10-15, derived for general alpha and N; docs/conventions.md, online limit):

.. math::
    \\frac{dA}{dt} = R^h A + \\epsilon A, \\qquad
    \\frac{dC}{dt} = R^h C + C R^{h\\,T} + 2 \\epsilon A A^T,

    R^h_{ij} = \\delta_{ij}\\,\\epsilon \\langle\\Delta\\rangle - \\frac{\\alpha}{N}(1 + \\epsilon^2 C_{ij}),
    \\qquad \\langle\\Delta\\rangle = \\frac12 - \\frac{\\alpha\\epsilon}{2N} \\sum_k C_{kk}.

The right-hand side, the population test loss and the loss decomposition (Kumar et al. 2024,
eq. (6)) come from the generated module ``theory.generated.committee``. This flow is gradient flow
on the population loss, dw_i/dt = -(N D / (2 alpha)) grad_{w_i} L_test, so the test loss never
increases: the solver reports the largest increase between records (``max_loss_increase``) and the
disagreement of the right-hand side with its response-function form (``rhs_residual``) as its
invariants.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

import numpy as np

from grokking_workbench.numerics import model_options, options, validate
from grokking_workbench.numerics.model_options import parse_matrix, parse_vector  # noqa: F401
from grokking_workbench.numerics.options import Option, check_fields
from grokking_workbench.numerics.schema import Schema, Var
from grokking_workbench.numerics.validate import InputError

log = logging.getLogger(__name__)

from grokking_workbench.numerics.io import EXIT_DIVERGED, EXIT_INTERRUPTED  # noqa: F401 (exit codes)
TITLE = "online-limit (gamma = inf) ODE of the committee machine"


# ----------------------------------------------------------------------------- configuration
@dataclass(frozen=True, kw_only=True)
class ODEConfig:
    """An online-limit integration (``grokking ode``): the model, the horizon and the records.

    ``C0`` None is the identity; :func:`check_config` returns the configuration with ``C0`` filled
    in, which is what the dataset stores.
    """

    N: int = model_options.N.field()
    alpha: float = model_options.ALPHA.field()
    eps: float = model_options.EPS.field()
    A0: tuple = model_options.A0.field()
    C0: tuple | None = model_options.C0.field(None)
    t_max: float = Option("final time", type=float, required=True, check=validate.positive).field()
    records: int = Option("number of log-spaced record times", type=int,
                          check=validate.positive_int).field(400)
    model: str = "committee-online-ode"
    method: str = "DOP853"
    rtol: float = 1e-10
    atol: float = 1e-12


def check_config(cfg: ODEConfig) -> ODEConfig:
    """Check every parameter (InputError naming the first bad one); ``cfg`` with ``C0`` filled in."""
    check_fields(cfg)
    C0, A0 = validate.overlaps(np.eye(cfg.N) if cfg.C0 is None else cfg.C0, cfg.A0, cfg.N)
    return dataclasses.replace(cfg, A0=tuple(A0.tolist()), C0=tuple(map(tuple, C0.tolist())))


def log_times(t_max: float, records: int, t_first: float | None = None) -> np.ndarray:
    """0 and ``records - 1`` log-spaced times from ``t_first`` (default t_max / 10^4) to t_max."""
    if records <= 1:
        return np.array([0.0, t_max])
    t_first = t_first if t_first is not None else t_max * 1e-4
    return np.concatenate([[0.0], np.geomspace(t_first, t_max, records - 1)])


# ----------------------------------------------------------------------------- integration
def _pack(A: np.ndarray, C: np.ndarray) -> np.ndarray:
    return np.concatenate([A, C.ravel()])


def _unpack(y: np.ndarray, N: int) -> tuple[np.ndarray, np.ndarray]:
    return y[:N], y[N:].reshape(N, N)


def rhs(t: float, y: np.ndarray, N: int, alpha: float, eps: float) -> np.ndarray:
    """The packed right-hand side d(A, C)/dt from the generated ``online_rhs`` (DMFT paper A.1)."""
    from grokking_workbench.theory.generated import committee

    A, C = _unpack(y, N)
    dA, dC = committee.online_rhs(A, C, alpha, eps)
    return _pack(np.asarray(dA), np.asarray(dC))


def integrate(A0, C0, alpha: float, eps: float, t_max: float | None = None, *,
              t_eval=None, records: int = 400, method: str = "DOP853", rtol: float = 1e-10,
              atol: float = 1e-12, max_loss: float = 1e8, progress: bool | None = None):
    """Integrate the online-limit ODE from (A0, C0); return an xarray Dataset.

    Variables ``A(t, i)``, ``C(t, i, j)``, ``test_loss(t)``, ``variance_error(t)``,
    ``misalignment_error(t)``, ``linear_power(t)`` (Kumar et al. 2024, eq. (6)); attrs ``status``
    (``complete`` or ``diverged: ...``/``failed: ...``), ``max_loss_increase``, ``rhs_residual``.
    Records at ``t_eval`` if given, else at 0 and ``records - 1`` log-spaced times to ``t_max``.
    """
    A0 = np.asarray(A0, dtype=float)
    N = A0.size
    C0, A0 = validate.overlaps(C0, A0, N)
    alpha = validate.positive("alpha", alpha)
    eps = validate.finite("eps", eps)
    if t_eval is None:
        t_max = validate.positive("t_max", t_max)
        t_eval = log_times(t_max, validate.positive_int("records", records))
    t_eval = np.asarray(t_eval, dtype=float)
    if t_eval.ndim != 1 or t_eval.size < 1 or np.any(np.diff(t_eval) <= 0) or t_eval[0] < 0:
        raise InputError("t_eval", "must be increasing non-negative times")

    t_end = float(t_eval[-1])
    log.info("online ODE: N=%d alpha=%g eps=%g to t=%g (%s, rtol=%g)", N, alpha, eps, t_end,
             method, rtol)
    t, y, status, nfev = _step(N, alpha, eps, _pack(A0, C0), t_eval, method, rtol, atol, max_loss,
                               progress)
    if status != "complete":
        log.warning("%s", status)
    T = t.size
    A = y[:N].T.reshape(T, N)
    C = y[N:].T.reshape(T, N, N)
    return _dataset(t, A, C, alpha, eps, status, method, rtol, atol, nfev)


def _step(N, alpha, eps, y0, t_eval, method, rtol, atol, max_loss, progress):
    """The steps of solve_ivp's loop (the same solver, steps and dense output at ``t_eval``),
    written out so that an interrupt (:mod:`numerics.interrupt`) stops it with the records so far
    and a progress bar can follow it. Stops as diverged where the test loss first exceeds
    ``max_loss`` or turns non-finite (located on the dense output)."""
    from scipy import integrate
    from scipy.optimize import brentq
    from tqdm.auto import tqdm

    from grokking_workbench.numerics import interrupt
    from grokking_workbench.theory.generated import committee

    def loss(y):
        A, C = _unpack(y, N)
        with np.errstate(all="ignore"):
            value = float(committee.test_loss(A, C, alpha, eps))
        return value if math.isfinite(value) else math.inf

    solver = getattr(integrate, method)(lambda t, y: rhs(t, y, N, alpha, eps), 0.0, y0,
                                        float(t_eval[-1]), rtol=rtol, atol=atol)
    ts, ys = [], []
    k = int(np.searchsorted(t_eval, 0.0, side="right"))
    if k:
        ts.append(t_eval[:k])
        ys.append(np.repeat(y0[:, None], k, axis=1))
    status = "complete"
    bar = tqdm(total=float(t_eval[-1]), desc="ode", unit="time", delay=2.0, mininterval=1.0,
               disable=(not progress) if progress is not None else None,
               bar_format="{l_bar}{bar}| t = {n:.4g} of {total:.4g} [{elapsed}<{remaining}]")
    with bar, np.errstate(over="ignore", invalid="ignore"):
        while solver.status == "running":
            if interrupt.requested():
                status = f"interrupted at t = {solver.t:g}; records before this time are saved"
                break
            t_old = solver.t
            message = solver.step()
            if solver.status == "failed":
                status = f"failed: the solver stopped at t = {t_old:g}: {message}"
                break
            bar.update(solver.t - bar.n)
            dense = None
            if loss(solver.y) > max_loss:
                dense = solver.dense_output()
                f = lambda t: max_loss - loss(dense(t))    # noqa: E731
                t_stop = brentq(f, t_old, solver.t, xtol=1e-12 * max(1.0, solver.t)) \
                    if f(t_old) > 0 else t_old
                status = (f"diverged: test loss exceeded max_loss = {max_loss:g} at t = {t_stop:g}; "
                          "records before this time are saved")
            else:
                t_stop = solver.t
            new = int(np.searchsorted(t_eval, t_stop, side="right"))
            if new > k:
                dense = dense or solver.dense_output()
                ts.append(t_eval[k:new])
                ys.append(np.asarray(dense(t_eval[k:new])).reshape(len(y0), -1))
                k = new
            if status != "complete":
                break
    t = np.concatenate(ts) if ts else np.zeros(0)
    y = np.concatenate(ys, axis=1) if ys else np.zeros((len(y0), 0))
    return t, y, status, solver.nfev


# The dataset's variables and coordinates
SCHEMA = Schema({
    "t": Var("gradient-flow time (DMFT paper eq. 6)", "1", ("t",)),
    "i": Var("hidden unit", "1", ("i",)),
    "j": Var("hidden unit", "1", ("j",)),
    "test_loss": Var("population test loss <(y - f)^2> from (A, C)", "1", ("t",)),
    "variance_error": Var("variance error (1/4)(1 - alpha eps tr C / N)^2 (Kumar et al. eq. 6)", "1", ("t",)),
    "misalignment_error": Var("misalignment error |alpha eps M - beta beta^T|_F^2 / (2 D^2) "
                              "(Kumar et al. eq. 6)", "1", ("t",)),
    "linear_power": Var("power in linear modes alpha^2 |wbar|^2 / D (Kumar et al. eq. 6)", "1", ("t",)),
    "A": Var("alignment A_i = w_i . beta / D", "1", ("t", "i")),
    "C": Var("overlap C_ij = w_i . w_j / D", "1", ("t", "i", "j")),
})


def _dataset(t, A, C, alpha, eps, status, method, rtol, atol, nfev):
    import xarray as xr
    from grokking_workbench.theory.generated import committee

    terms = {name: np.asarray(getattr(committee, name)(A, C, alpha, eps), dtype=float)
             for name in ("test_loss", "variance_error", "misalignment_error", "linear_power")}
    N = A.shape[-1]
    data_vars = {name: ("t", values) for name, values in terms.items()}
    data_vars["A"] = (("t", "i"), A)
    data_vars["C"] = (("t", "i", "j"), C)
    coords = {"t": ("t", np.asarray(t, dtype=float)), "i": ("i", np.arange(N)), "j": ("j", np.arange(N))}
    ds = SCHEMA.apply(xr.Dataset(data_vars, coords=coords))
    loss = terms["test_loss"]
    ds.attrs.update(
        status=status, alpha=float(alpha), eps=float(eps), method=method, rtol=rtol, atol=atol,
        nfev=int(nfev),
        max_loss_increase=float(np.max(np.diff(loss), initial=0.0)) if loss.size > 1 else 0.0,
        rhs_residual=rhs_residual(A, C, alpha, eps))
    return ds


def euler_expected(A0, C0, alpha: float, eps: float, dt: float, steps, *,
                   gamma: float = math.inf) -> tuple[np.ndarray, np.ndarray]:
    """Order parameters of Euler steps of the weights under the population gradient, in expectation.

    Euler steps of the weights, W' = W + dt V with V_i = sum_j R^h_ij w_j + R^{h*}_i beta (the
    population velocity, DMFT paper eq. (10)), move the order parameters by

    .. math::
        A' = A + dt\\,(R^h A + R^{h*}), \\qquad
        C' = C + dt\\,\\dot C + dt^2 \\Big(\\frac{V V^T}{D} + \\frac{C^g}{\\gamma}\\Big),

    with V V^T / D = R^h C R^h^T + R^h A R^{h*T} + R^{h*} A^T R^h^T + R^{h*} R^{h*T}. The last term
    is the variance of an unbiased gradient estimated on a fresh batch of P = gamma D points at
    every step (one-pass training), to leading order in 1/D (C^g = <g g^T>, generated
    ``gradient_covariance``); gamma = inf gives full-batch steps on the population loss. So this is
    the reference of one-pass simulations with step dt, accurate to O(dt t / (gamma D)) from
    fluctuations, while the ODE is its dt -> 0 limit.

    ``steps``: the increasing step indices to return. Returns A (T, N) and C (T, N, N).
    """
    from grokking_workbench.theory.generated import committee

    A = np.asarray(A0, dtype=float).copy()
    C = np.asarray(C0, dtype=float).copy()
    steps = np.asarray(steps, dtype=np.int64)
    out_A, out_C = [], []
    noise = 0.0 if math.isinf(gamma) else 1.0 / gamma
    want = set(steps.tolist())
    for n in range(int(steps[-1]) + 1):
        if n in want:
            out_A.append(A.copy())
            out_C.append(C.copy())
        R = committee.response_h(A, C, alpha, eps)
        Rs = committee.response_hstar(A, C, alpha, eps)
        dA = R @ A + Rs
        RC = R @ C
        RA = R @ A
        dC = RC + RC.T + np.outer(Rs, A) + np.outer(A, Rs)
        VV = RC @ R.T + np.outer(RA, Rs) + np.outer(Rs, RA) + np.outer(Rs, Rs)
        if noise:
            VV = VV + noise * committee.gradient_covariance(A, C, alpha, eps)
        A = A + dt * dA
        C = C + dt * dC + dt * dt * VV
    return np.array(out_A), np.array(out_C)


def rhs_residual(A, C, alpha, eps) -> float:
    """Largest relative difference between ``online_rhs`` and its response-function form.

    dA = R^h A + R^{h*}, dC = R^h C + C R^h^T + R^{h*} A^T + A R^{h*}^T (DMFT paper eqs. 11-12)
    with the generated responses R^h (``response_h``) and R^{h*} (``response_hstar``).
    """
    from grokking_workbench.theory.generated import committee

    A = np.asarray(A, dtype=float)
    C = np.asarray(C, dtype=float)
    if A.size == 0:
        return 0.0
    dA, dC = committee.online_rhs(A, C, alpha, eps)
    R = committee.response_h(A, C, alpha, eps)
    Rs = committee.response_hstar(A, C, alpha, eps)
    dA2 = np.einsum("...ij,...j->...i", R, A) + Rs
    RC = R @ C
    dC2 = RC + np.swapaxes(RC, -1, -2) + Rs[..., :, None] * A[..., None, :] \
        + A[..., :, None] * Rs[..., None, :]
    scale = max(np.abs(dA).max(), np.abs(dC).max(), 1e-300)
    return float(max(np.abs(dA - dA2).max(), np.abs(dC - dC2).max()) / scale)


# ----------------------------------------------------------------------------- command
def config_from_args(args) -> ODEConfig:
    """Checked configuration of ``grokking ode`` (InputError names the bad parameter)."""
    return check_config(options.from_args(ODEConfig, args))


def main(args) -> int:
    """``grokking ode``: integrate, write the dataset, exit 0 (EXIT_DIVERGED, EXIT_INTERRUPTED)."""
    from grokking_workbench.numerics import interrupt, io

    cfg = config_from_args(args)
    overwrite = getattr(args, "overwrite", False)
    io.check_output(args.out, cfg, overwrite=overwrite)
    with interrupt.polling():
        ds = integrate(cfg.A0, cfg.C0, cfg.alpha, cfg.eps, cfg.t_max, records=cfg.records,
                       method=cfg.method, rtol=cfg.rtol, atol=cfg.atol,
                       progress=True if getattr(args, "verbose", False) else None)
    status = ds.attrs["status"]
    path = io.write_dataset(ds, args.out, cfg, title=TITLE, command=args.command_line,
                            status=status, overwrite=overwrite)
    if status.startswith("interrupted"):
        print(f"interrupted: wrote {path} ({status})")
        return EXIT_INTERRUPTED
    last = (f"final test loss {float(ds.test_loss[-1]):.6g} at t = {float(ds.t[-1]):g}"
            if ds.sizes["t"] else "no records")
    print(f"wrote {path} ({status}; {last})")
    return 0 if status == "complete" else EXIT_DIVERGED
