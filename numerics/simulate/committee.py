"""Torch simulator of the committee machine at finite D (docs/conventions.md).

Model (DMFT paper eq. (1); Kumar et al. 2024, eq. (3)), x ~ N(0, I/D), |beta|^2 = D:

.. math::  f(x) = \\frac{\\alpha}{N} \\sum_i \\phi(w_i \\cdot x), \\quad
           \\phi(h) = h + \\frac{\\epsilon}{2} h^2, \\quad y(x) = \\frac{(\\beta \\cdot x)^2}{2}

trained by full-batch gradient flow on P = gamma D points (DMFT paper eq. (6)):

.. math::  \\frac{dw_i}{dt} = \\frac{1}{\\gamma} \\sum_\\mu g_i^\\mu x^\\mu, \\quad
           g_i^\\mu = (y_\\mu - f_\\mu)\\, \\phi'(h_i^\\mu).

With L_train = (1/P) sum_mu (y_mu - f_mu)^2 (no factor 1/2), dL_train/dw_i =
-(2 alpha / (N P)) sum_mu g_i^mu x^mu, so the flow is

.. math::  \\frac{dw_i}{dt} = -\\frac{N D}{2 \\alpha} \\nabla_{w_i} L_\\mathrm{train},

(not -(D/2) grad: the factor N/alpha comes from the readout alpha/N), which the tests check against
autograd. It is integrated with explicit Euler steps of size dt; results are reported against
t = n dt. Independent seeds and hyperparameter points (alpha, eps) run as one stacked tensor
computation: data of shape (S, P, D) are shared by the K points, weights have shape (S, K, N, D),
and every matrix product streams the data once for all points. The products run over row chunks
of the data that stay in cache, so each Euler step reads the data matrix from memory once.

Records at log-spaced times: train loss, the exact population test loss and the three terms of
Kumar et al. eq. (6) from the order parameters C_ij = w_i.w_j/D, A_i = w_i.beta/D (generated
code, ``theory.generated.committee``), optionally the loss on a held-out set. ``fresh_data``
draws a new batch of P points at every step (one-pass training), whose expected update is the
online-limit ODE (DMFT paper A.1).
"""

from __future__ import annotations

import functools
import json
import logging
import math
from dataclasses import dataclass, field

import numpy as np

from grokking_workbench.numerics import model, model_options, validate
from grokking_workbench.numerics.options import Option, check_fields, one_of
from grokking_workbench.numerics.schema import Schema, Var
from grokking_workbench.numerics.torch_runtime import check_device, default_chunk, torch_threads
from grokking_workbench.numerics.validate import InputError

log = logging.getLogger(__name__)

_DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class CommitteeConfig:
    """Configuration of a committee-machine simulation (docs/conventions.md).

    ``alpha`` and ``eps`` are numbers or tuples of numbers; tuples become dimensions of the
    results (their outer product is simulated as one batch). Give ``gamma`` or ``P``. Weights are
    built with overlaps (``C0``, ``A0``) exactly when ``A0`` is given (``C0`` None means the
    identity), otherwise drawn at random with scale ``sigma``.
    """

    N: int = model_options.N.field()
    D: int = Option("input dimension", type=int, required=True, check=validate.positive_int).field()
    alpha: float | tuple = model_options.swept(model_options.ALPHA, "a comma-separated list runs a "
                                               "batched sweep", each=validate.positive).field(0.5)
    eps: float | tuple = model_options.swept(model_options.EPS, "a comma-separated list sweeps").field(0.05)
    t_max: float = Option("final time", type=float, required=True, check=validate.positive).field(400.0)
    dt: float = Option("Euler step", type=float, required=True, check=validate.positive).field(0.1)
    dt_late: float | None = None
    t_late: float = 0.0
    gamma: float | None = Option("P / D (give this or --P)", type=float, check=validate.positive).field(None)
    P: int | None = Option("number of training points (instead of --gamma)", type=int,
                           check=validate.positive_int).field(None)
    A0: tuple | None = model_options.A0.field(
        None, required=False, help=f"{model_options.A0.help}; weights are built with exactly these "
        "overlaps (omit for random weights of scale --sigma)")
    C0: tuple | None = model_options.C0.field(None)
    sigma: float = Option("scale of random initial weights w_i ~ N(0, sigma^2 I) (without --A0)",
                          type=float, check=validate.positive).field(1.0)
    seeds: int = Option("independent datasets/initialisations", type=int,
                        check=validate.positive_int).field(10)
    seed0: int = Option("first seed", type=int, check=validate.non_negative_int).field(0)
    records: int = Option("number of log-spaced record times", type=int,
                          check=validate.positive_int).field(200)
    held_out: int = Option("also record the loss on this many fresh points", type=int,
                           check=validate.non_negative_int).field(0)
    fresh_data: bool = Option("one-pass training: a new batch of P points at every Euler step",
                              action="store_true").field(False)
    device: str = Option("torch device (cpu or cuda)",
                         check=lambda name, value: check_device(value)).field("cpu")
    dtype: str = Option("floating-point type of the weights and data", choices=_DTYPES,
                        check=one_of(*_DTYPES)).field("float64")
    max_loss: float = Option("stop as diverged when the train loss exceeds this (or is not finite)",
                             type=float,
                             check=functools.partial(validate.positive, allow_inf=True)).field(1e8)
    chunk: int | None = Option("rows of data per chunk of the matrix products (default: sized to the "
                               "cache)", type=int, check=validate.positive_int).field(None)
    threads: int | None = Option("torch CPU threads (default: the cores available to the process)",
                                 type=int, check=validate.positive_int).field(None)

    # -- derived -----------------------------------------------------------------------------
    @property
    def n_points(self) -> int:
        return int(np.prod([len(v) for v in self.sweep().values()], dtype=int))

    def sweep(self) -> dict[str, tuple]:
        """The swept parameters (those given as tuples), in dimension order."""
        return {name: tuple(getattr(self, name)) for name in ("alpha", "eps")
                if isinstance(getattr(self, name), (tuple, list))}

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """alpha and eps of the K = n_points hyperparameter points (outer product, C order)."""
        a = np.atleast_1d(np.asarray(self.alpha, dtype=float))
        e = np.atleast_1d(np.asarray(self.eps, dtype=float))
        aa, ee = np.meshgrid(a, e, indexing="ij")
        return aa.ravel(), ee.ravel()

    def n_train(self) -> int:
        """P, the number of training points."""
        return int(self.P) if self.P is not None else max(1, int(round(self.gamma * self.D)))

    def gamma_eff(self) -> float:
        """P / D, the ratio in the flow's prefactor 1/gamma."""
        return self.n_train() / self.D

    def seed_list(self) -> list[int]:
        return list(range(self.seed0, self.seed0 + self.seeds))

    def initial_overlaps(self) -> tuple[np.ndarray, np.ndarray] | None:
        if self.A0 is None:
            return None
        C0 = np.eye(self.N) if self.C0 is None else np.asarray(self.C0, dtype=float)
        return C0, np.asarray(self.A0, dtype=float)


def check_config(cfg: CommitteeConfig) -> CommitteeConfig:
    """Check every field (its own check, :func:`numerics.options.check_fields`) and the relations
    between fields; raise :class:`InputError` naming the first invalid parameter; return ``cfg``."""
    check_fields(cfg)
    validate.training_size(cfg.gamma, cfg.P)
    if cfg.gamma is not None and round(cfg.gamma * cfg.D) < 1:
        raise InputError("gamma", f"gamma * D = {cfg.gamma * cfg.D:g} gives no training point")
    validate.time_grid(cfg.dt, cfg.t_max)
    if cfg.dt_late is not None:
        validate.positive("dt_late", cfg.dt_late)
        if not 0 <= cfg.t_late <= cfg.t_max:
            raise InputError("t_late", f"must lie in [0, t_max = {cfg.t_max:g}], got {cfg.t_late!r}")
    if cfg.A0 is not None:
        C0 = np.eye(cfg.N) if cfg.C0 is None else cfg.C0
        validate.overlaps(C0, cfg.A0, cfg.N)
        if cfg.D < cfg.N + 1:
            raise InputError("D", f"prescribed overlaps need D >= N + 1 = {cfg.N + 1}, got {cfg.D}")
    elif cfg.C0 is not None:
        raise InputError("A0", "C0 was given without A0")
    return cfg


def record_steps(t_max: float, dt: float, records: int) -> np.ndarray:
    """Euler step indices of the records: 0 and up to ``records - 1`` log-spaced steps to the last.

    The last step is round(t_max / dt), so the final time is t_max to within dt / 2.
    """
    n_total = max(1, int(round(t_max / dt)))
    if records <= 2:
        return np.array([0, n_total])
    steps = np.round(np.geomspace(1, n_total, records - 1)).astype(np.int64)
    return np.unique(np.concatenate([[0], steps, [n_total]]))


def step_times(cfg: CommitteeConfig) -> np.ndarray:
    """Times of the Euler steps: n dt, or, with ``dt_late``, steps of dt up to ``t_late`` and of
    ``dt_late`` after it (longer steps where the dynamics are slow; the experiments that use them
    measure the error against the uniform step)."""
    if cfg.dt_late is None:
        return np.arange(max(1, int(round(cfg.t_max / cfg.dt))) + 1) * cfg.dt
    early = np.arange(int(round(cfg.t_late / cfg.dt)) + 1) * cfg.dt
    late = early[-1] + np.arange(1, max(1, int(round((cfg.t_max - early[-1]) / cfg.dt_late))) + 1) * cfg.dt_late
    return np.concatenate([early, late])


def record_steps_in_time(times: np.ndarray, records: int) -> np.ndarray:
    """Step indices nearest to 0 and ``records - 1`` log-spaced times up to the last."""
    if records <= 2:
        return np.array([0, len(times) - 1])
    targets = np.geomspace(times[1], times[-1], records - 1)
    steps = np.clip(np.searchsorted(times, targets), 0, len(times) - 1)
    return np.unique(np.concatenate([[0], steps, [len(times) - 1]]))


def velocity(W, X, y, alpha, eps, *, chunk: int | None = None, need_grad: bool = True):
    """dW/dt of DMFT paper eq. (6) and the train loss, for stacked seeds and points.

    W: (S, K, N, D) weights; X: (S, P, D) inputs; y: (S, P) labels; alpha, eps: (K,) tensors.
    Returns (dW/dt of shape (S, K, N, D) or None, train loss of shape (S, K)), with
    dW_i/dt = (D/P) sum_mu g_i^mu x^mu = -(N D / (2 alpha)) grad_{w_i} L_train.
    The data are streamed once, in row chunks.
    """
    import torch

    S, K, N, D = W.shape
    P = X.shape[1]
    chunk = chunk or default_chunk(D, P)
    Wf = W.reshape(S, K * N, D)
    a = alpha.reshape(1, K, 1).to(W)
    e = eps.reshape(1, K, 1, 1).to(W)
    grad = torch.zeros_like(Wf) if need_grad else None
    sq = torch.zeros(S, K, dtype=W.dtype, device=W.device)
    for lo in range(0, P, chunk):
        Xc = X[:, lo:lo + chunk]                               # (S, c, D)
        H = torch.bmm(Wf, Xc.transpose(1, 2)).view(S, K, N, -1)  # h_i^mu, (S, K, N, c)
        f = model.output(H, a, e, axis=2)                      # (S, K, c)
        delta = y[:, None, lo:lo + chunk] - f                  # y - f
        sq += (delta * delta).sum(dim=-1)
        if need_grad:
            G = delta.unsqueeze(2) * model.dphi(H, e)          # g_i^mu = (y - f) phi'(h_i)
            grad.baddbmm_(G.reshape(S, K * N, -1), Xc)
    loss = sq / P
    if need_grad:
        grad.mul_(D / P)
        return grad.view(S, K, N, D), loss
    return None, loss


def _population_terms(A: np.ndarray, C: np.ndarray, alpha: np.ndarray, eps: np.ndarray) -> dict:
    """test_loss and the Kumar et al. eq. (6) terms from (A, C), via the generated code."""
    from grokking_workbench.theory.generated import committee

    return {name: np.asarray(getattr(committee, name)(A, C, alpha, eps), dtype=float)
            for name in ("test_loss", "variance_error", "misalignment_error", "linear_power")}


@dataclass
class _Records:
    steps: np.ndarray
    train: list = field(default_factory=list)
    held: list = field(default_factory=list)
    A: list = field(default_factory=list)
    C: list = field(default_factory=list)


#: wall-clock seconds between checkpoints of a simulation that is given a ``checkpoint`` callback
CHECKPOINT_SECONDS = 300.0


def simulate(cfg: CommitteeConfig, *, progress: bool | None = None, resume=None, checkpoint=None):
    """Run the simulation of ``cfg``; return an xarray Dataset (attrs ``status``).

    Dimensions: the swept parameters (``alpha``, ``eps`` when given as tuples), ``seed``, ``t``,
    ``i``, ``j``. A run whose train loss turns non-finite or exceeds ``max_loss`` stops and returns
    the records up to then, with ``status`` starting with ``diverged``; a run stopped by an
    interrupt (:mod:`numerics.interrupt`) returns them with ``status`` ``interrupted at t = ...``
    and its state (weights and random state, variables ``resume_*``). ``checkpoint(dataset)`` is
    called with such a resumable dataset every :data:`CHECKPOINT_SECONDS`; ``resume``, a dataset
    returned by an interrupted or checkpointed run of the same configuration, continues it (the
    result equals the uninterrupted run's).
    """
    check_config(cfg)
    with torch_threads(cfg.threads):
        return _simulate(cfg, progress, resume, checkpoint)


def _restore(cfg: CommitteeConfig, saved, rec: "_Records", K: int, S: int) -> tuple[int, np.ndarray, list]:
    """Records, step, weights (K, S, N, D) and generator states of a resumable dataset."""
    T = saved.sizes["t"]
    n0 = int(saved.attrs["resume_step"])
    lead = (K, S)
    rec.train = list(np.moveaxis(saved.train_loss.values.reshape(lead + (T,)), -1, 0))
    rec.A = list(np.moveaxis(saved.A.values.reshape(lead + (T, cfg.N)), 2, 0))
    rec.C = list(np.moveaxis(saved.C.values.reshape(lead + (T, cfg.N, cfg.N)), 2, 0))
    if cfg.held_out:
        rec.held = list(np.moveaxis(saved.held_out_loss.values.reshape(lead + (T,)), -1, 0))
    W = saved.resume_weights.values.reshape(K, S, cfg.N, cfg.D)
    states = list(saved.resume_rng_state.values) if "resume_rng_state" in saved else []
    return n0, W, states


def _simulate(cfg: CommitteeConfig, progress: bool | None, resume=None, checkpoint=None):
    import time

    from grokking_workbench.numerics import interrupt
    import torch
    from tqdm.auto import tqdm

    from grokking_workbench.numerics.simulate import data, init

    device = torch.device(cfg.device)
    dtype = getattr(torch, cfg.dtype)
    seeds = cfg.seed_list()
    S, N, D, P = len(seeds), cfg.N, cfg.D, cfg.n_train()
    alpha_np, eps_np = cfg.points()
    K = alpha_np.size
    alpha = torch.as_tensor(alpha_np, dtype=dtype, device=device)
    eps = torch.as_tensor(eps_np, dtype=dtype, device=device)
    chunk = cfg.chunk or default_chunk(D, P)

    beta = init.target_direction(seeds, D, device=device, dtype=dtype)
    overlaps = cfg.initial_overlaps()
    if overlaps is not None:
        W0 = init.weights_with_overlaps(beta, overlaps[0], overlaps[1], seeds)
    else:
        W0 = init.random_weights(seeds, N, D, cfg.sigma, device=device, dtype=dtype)
    W = W0.unsqueeze(1).repeat(1, K, 1, 1).contiguous()          # (S, K, N, D)

    data_gens = [init.generator(s, "data", device) for s in seeds]
    X = data.gaussian_inputs(seeds, P, D, device=device, dtype=dtype, generators=data_gens)
    y = data.target_values(X, beta)
    if cfg.held_out:
        Xh = data.gaussian_inputs(seeds, cfg.held_out, D, stream="held_out", device=device,
                                  dtype=dtype)
        yh = data.target_values(Xh, beta)

    times = step_times(cfg)
    steps = (record_steps(cfg.t_max, cfg.dt, cfg.records) if cfg.dt_late is None
             else record_steps_in_time(times, cfg.records))
    n_total = int(steps[-1])
    rec = _Records(steps)
    n0 = 0
    if resume is not None:
        n0, W_saved, states = _restore(cfg, resume, rec, K, S)
        W = torch.as_tensor(np.moveaxis(W_saved, 0, 1), dtype=dtype).to(device).contiguous()
        for g, state in zip(data_gens, states):
            g.set_state(torch.as_tensor(state, dtype=torch.uint8))
        # records already taken keep their times; later ones follow this run's schedule
        taken = np.asarray(json.loads(resume.attrs["resume_record_steps"]), dtype=np.int64)
        steps = np.concatenate([taken, steps[steps >= n0]])
        rec.steps = steps
        log.info("resuming at Euler step %d (t = %g)", n0, times[n0])
    is_record = np.zeros(n_total + 1, dtype=bool)
    is_record[steps[steps >= n0]] = True
    check_every = 1 if device.type == "cpu" else 32
    step_size = cfg.dt
    status = "complete"
    log.info("committee simulation: S=%d seeds, K=%d points, N=%d, D=%d, P=%d, %d Euler steps, "
             "%s on %s", S, K, N, D, P, n_total, cfg.dtype, device)
    work = float(n_total - n0) * S * K * P * D
    bar = tqdm(total=n_total, initial=n0, desc="simulate", unit="step", mininterval=1.0,
               disable=(not progress) if progress is not None else (work < 2e10 or None))
    bar.set_postfix_str(f"t = {times[n0]:g} of {times[-1]:g}", refresh=False)

    def resumable(n: int, why: str):
        state = [g.get_state().numpy() for g in data_gens] if cfg.fresh_data else None
        ds = _dataset(cfg, rec, alpha_np, eps_np, why, times)
        return _with_state(ds, cfg, n, W, state, rec)

    last_save = time.monotonic()
    with torch.no_grad(), bar:
        for n in range(n0, n_total + 1):
            if interrupt.requested():
                status = f"interrupted at t = {times[n]:g} (Euler step {n} of {n_total}); resume with --resume"
                log.info("%s", status)
                return resumable(n, status)
            if checkpoint is not None and time.monotonic() - last_save > CHECKPOINT_SECONDS and n > n0:
                checkpoint(resumable(n, f"running: checkpoint at t = {times[n]:g} (Euler step {n} of "
                                        f"{n_total}); resume with --resume"))
                last_save = time.monotonic()
            if cfg.fresh_data and n > 0:
                X = data.gaussian_inputs(seeds, P, D, device=device, dtype=dtype,
                                         generators=data_gens)
                y = data.target_values(X, beta)
            last = n == n_total
            dW, loss = velocity(W, X, y, alpha, eps, chunk=chunk, need_grad=not last)
            if n % check_every == 0 or last or is_record[n]:
                bad = ~torch.isfinite(loss) | (loss > cfg.max_loss)
                if bool(bad.any()):
                    status = _divergence_status(bad, loss, n, cfg, seeds, alpha_np, eps_np)
                    log.warning("%s", status)
                    break
            if is_record[n]:
                C, A = init.overlaps_of(W, beta[:, None, :])
                rec.train.append(loss.T.cpu().numpy())                 # (K, S)
                rec.A.append(A.transpose(0, 1).cpu().numpy())         # (K, S, N)
                rec.C.append(C.transpose(0, 1).cpu().numpy())         # (K, S, N, N)
                if cfg.held_out:
                    _, lh = velocity(W, Xh, yh, alpha, eps, chunk=chunk, need_grad=False)
                    rec.held.append(lh.T.cpu().numpy())
            if last:
                break
            W.add_(dW, alpha=float(times[n + 1] - times[n]) if cfg.dt_late is not None else step_size)
            bar.update(1)
            if n % 64 == 0:
                bar.set_postfix_str(f"t = {times[n + 1]:g} of {times[-1]:g}", refresh=False)
    return _dataset(cfg, rec, alpha_np, eps_np, status, times)


def _with_state(ds, cfg: CommitteeConfig, n: int, W, rng_states, rec: "_Records"):
    """``ds`` with the state a resumed run needs: weights, generator states, the step, and the
    steps of the records taken."""
    lead = tuple(len(v) for v in cfg.sweep().values())
    S = cfg.seeds
    Wk = np.moveaxis(W.cpu().numpy(), 0, 1)                          # (K, S, N, D)
    dims = tuple(cfg.sweep()) + ("seed", "i", "d")
    ds["resume_weights"] = (dims, Wk.reshape(lead + (S, cfg.N, cfg.D)),
                            SCHEMA.attrs("resume_weights", cfg, step=n))
    if rng_states is not None:
        ds["resume_rng_state"] = (("seed", "rng_byte"), np.stack(rng_states).astype(np.uint8),
                                  SCHEMA.attrs("resume_rng_state", cfg))
    ds.attrs["resume_step"] = int(n)
    ds.attrs["resume_record_steps"] = json.dumps([int(k) for k in rec.steps[:len(rec.train)]])
    return ds


def _divergence_status(bad, loss, n, cfg, seeds, alpha_np, eps_np) -> str:
    s, k = (int(v) for v in bad.nonzero()[0])
    value = float(loss[s, k])
    why = "non-finite" if not math.isfinite(value) else f"{value:.3g} > max_loss = {cfg.max_loss:g}"
    return (f"diverged: train loss {why} at t = {step_times(cfg)[n]:g} (Euler step {n}; seed {seeds[s]}, "
            f"alpha = {alpha_np[k]:g}, eps = {eps_np[k]:g}); records before this time are saved")


# The dataset's variables and coordinates; the leading dimensions of the records are the swept
# parameters (alpha, eps: those given as lists), so their dimensions are not declared
SCHEMA = Schema({
    "t": Var("gradient-flow time (DMFT paper eq. 6)", "1", ("t",)),
    "seed": Var("seed of dataset, target and initialisation", "1", ("seed",)),
    "i": Var("hidden unit", "1", ("i",)),
    "j": Var("hidden unit", "1", ("j",)),
    "alpha": Var("output scale alpha (laziness)", "1", ("alpha",), required=False),
    "eps": Var("quadratic part eps of phi", "1", ("eps",), required=False),
    "train_loss": Var("train loss (1/P) sum_mu (y_mu - f_mu)^2", "1"),
    "test_loss": Var("population test loss <(y - f)^2>, exact from (A, C)", "1"),
    "variance_error": Var("variance error (1/4)(1 - alpha eps tr C / N)^2 (Kumar et al. eq. 6)", "1"),
    "misalignment_error": Var("misalignment error |alpha eps M - beta beta^T|_F^2 / (2 D^2) "
                              "(Kumar et al. eq. 6)", "1"),
    "linear_power": Var("power in linear modes alpha^2 |wbar|^2 / D (Kumar et al. eq. 6)", "1"),
    "A": Var("alignment A_i = w_i . beta / D", "1"),
    "C": Var("overlap C_ij = w_i . w_j / D", "1"),
    "weight_norm": Var("root-mean-square weight norm sqrt(sum_i |w_i|^2 / (N D))", "1"),
    "held_out_loss": Var("loss on {held_out} held-out points per seed", "1", required=False),
    "resume_weights": Var("weights w_i at the resume step {step}", "1", required=False),
    "resume_rng_state": Var("state of the data generator of each seed", "1", ("seed", "rng_byte"),
                            required=False),
}, dims=("d", "rng_byte"))


def _dataset(cfg: CommitteeConfig, rec: _Records, alpha_np, eps_np, status: str, times: np.ndarray):
    """The labelled dataset of docs/conventions.md, datasets from the records."""
    import xarray as xr

    T = len(rec.train)
    K, S, N = alpha_np.size, cfg.seeds, cfg.N
    t = times[rec.steps[:T]]
    train = np.stack(rec.train, axis=-1) if T else np.zeros((K, S, 0))        # (K, S, T)
    A = np.stack(rec.A, axis=2) if T else np.zeros((K, S, 0, N))              # (K, S, T, N)
    C = np.stack(rec.C, axis=2) if T else np.zeros((K, S, 0, N, N))           # (K, S, T, N, N)
    a_b = np.broadcast_to(alpha_np[:, None, None], (K, S, T))
    e_b = np.broadcast_to(eps_np[:, None, None], (K, S, T))
    terms = _population_terms(A, C, a_b, e_b)
    sweep = cfg.sweep()
    lead = tuple(len(v) for v in sweep.values())
    ldims = tuple(sweep)

    def shaped(x):
        return x.reshape(lead + x.shape[1:])

    dims = ldims + ("seed", "t")
    data_vars = {
        "train_loss": (dims, shaped(train)),
        "test_loss": (dims, shaped(terms["test_loss"])),
        "variance_error": (dims, shaped(terms["variance_error"])),
        "misalignment_error": (dims, shaped(terms["misalignment_error"])),
        "linear_power": (dims, shaped(terms["linear_power"])),
        "A": (dims + ("i",), shaped(A)),
        "C": (dims + ("i", "j"), shaped(C)),
        "weight_norm": (dims, shaped(np.sqrt(np.trace(C, axis1=-2, axis2=-1) / N))),
    }
    if cfg.held_out:
        held = np.stack(rec.held, axis=-1) if T else np.zeros((K, S, 0))
        data_vars["held_out_loss"] = (dims, shaped(held))
    data_vars = {name: xr.Variable(d, v) for name, (d, v) in data_vars.items()}
    coords = {"t": ("t", t), "seed": ("seed", np.asarray(cfg.seed_list())), "i": ("i", np.arange(N)),
              "j": ("j", np.arange(N))}
    for name, values in sweep.items():
        coords[name] = (name, np.asarray(values, dtype=float))
    ds = SCHEMA.apply(xr.Dataset(data_vars, coords=coords), cfg)
    for name in ("alpha", "eps"):
        if name not in sweep:
            ds.attrs[name] = float(getattr(cfg, name))
    ds.attrs["status"] = status
    ds.attrs["P"] = cfg.n_train()
    ds.attrs["gamma"] = cfg.gamma_eff()
    return ds
