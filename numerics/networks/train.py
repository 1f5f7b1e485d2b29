"""One training loop for every network: seeds x hyperparameter points as one batched computation.

Members. A run trains M networks of the same shape ("members"), each with its own seed (data
split and initialisation), laziness alpha, initial scale, learning rate and weight decay. Their
parameters are stacked (``torch.func.stack_module_state``: every tensor gains a leading axis M)
and the forward pass is ``torch.vmap`` over ``torch.func.functional_call`` of one copy of the
module, so that M small networks cost about as much as one network M times wider; the optimisers
are written elementwise on the stacked tensors with per-member learning rates and weight decays,
which makes member m's trajectory that of a network trained alone (:func:`train` with one member;
the tests compare the two).

Centred predictor (Kumar et al. 2024, App. 8.1, eq. (7)):

.. math::  \\tilde f(x; \\theta) = \\alpha\\,[f(x; \\theta) - f(x; \\theta_0)],

with f(x; theta_0) computed once on every training and test point (evaluation mode, no
dropout) and held fixed; the loss is taken of f~ (mean squared error against one-hot or real
targets, averaged over examples and outputs, or cross-entropy of the logits f~). Gradient
descent uses the learning rate eta_0 / alpha^2 (``lr_alpha_power = 2``), which makes the initial
velocity of f~ independent of alpha. For Adam the update is invariant to the scale of the
gradient, so the same initial function velocity needs eta_0 / alpha (``lr_alpha_power = 1``).

Optimisers (per parameter group: the input embeddings, names starting with ``embed``, and the
rest, each with its own optimiser, learning rate and weight decay if asked):
``gd`` (full batch) and ``sgd`` (mini-batches, heavy-ball momentum as ``torch.optim.SGD``),
L2 weight decay added to the gradient; ``adam`` (weight decay added to the gradient, as
``torch.optim.Adam``) and ``adamw`` (decoupled: theta <- theta (1 - lr wd), as
``torch.optim.AdamW``).

Records at log-spaced steps (0 and up to ``records - 1`` steps to the last): train and test loss
and accuracy (evaluation mode), the parameter norm |theta|, the relative change
|theta - theta_0| / |theta_0|, and whatever a ``record`` callback returns.

First-reach steps (:func:`train_to_thresholds`, the phase diagrams of
``experiments.phase_diagram_networks``): the first evaluation steps at which train and test
accuracy reach a threshold, with early exit: a member whose two steps are known leaves the batch
(:meth:`Trainer.select` keeps the rows of the others in every stacked tensor), so the rest run on
a smaller batch with unchanged trajectories. ``Member.lr`` gives a member its own learning rate
of the non-embedding parameters (a decoder learning-rate axis at a fixed embedding learning
rate).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from grokking_workbench.numerics.validate import InputError

log = logging.getLogger(__name__)

OPTIMIZERS = ("gd", "sgd", "adam", "adamw")
LOSSES = ("mse", "ce")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation of one run (shared by all members; per-member values in :class:`Member`)."""

    optimizer: str = "gd"
    lr: float = 1e-3                     # eta_0
    steps: int = 1000
    records: int = 50
    loss: str = "mse"
    batch_size: int | None = None        # None: full batch
    momentum: float = 0.0
    betas: tuple = (0.9, 0.999)
    adam_eps: float = 1e-8
    weight_decay: float = 0.0
    embed_optimizer: str | None = None   # None: as the rest
    embed_lr: float | None = None
    embed_weight_decay: float | None = None
    lr_alpha_power: float = 2.0          # lr = eta_0 / alpha^power
    centre: bool = True
    accuracy_threshold: float | None = None   # regression: |f~ - y| <= threshold per output
    eval_chunk: int = 8192
    device: str = "cpu"
    dtype: str = "float32"


@dataclass(frozen=True)
class Member:
    """One network of a batched run."""

    seed: int = 0
    alpha: float = 1.0
    init_scale: float = 1.0
    lr_factor: float = 1.0               # multiplies eta_0 (both groups)
    weight_decay: float | None = None    # None: the configuration's (not the embeddings')
    lr: float | None = None              # eta_0 of the non-embedding parameters (None: cfg.lr)
    data: int = 0                        # index of this member's dataset in the stacked data


def check_config(cfg: TrainConfig) -> TrainConfig:
    from grokking_workbench.numerics import validate
    from grokking_workbench.numerics.torch_runtime import check_device

    for name, value in (("optimizer", cfg.optimizer), ("embed_optimizer", cfg.embed_optimizer)):
        if value is not None and value not in OPTIMIZERS:
            raise InputError(name, f"must be one of {', '.join(OPTIMIZERS)}, got {value!r}")
    if cfg.loss not in LOSSES:
        raise InputError("loss", f"must be one of {', '.join(LOSSES)}, got {cfg.loss!r}")
    validate.positive("lr", cfg.lr)
    validate.positive_int("steps", cfg.steps)
    validate.positive_int("records", cfg.records)
    if cfg.batch_size is not None:
        validate.positive_int("batch_size", cfg.batch_size)
    if not 0 <= cfg.momentum < 1:
        raise InputError("momentum", f"must be in [0, 1), got {cfg.momentum}")
    if cfg.weight_decay < 0:
        raise InputError("weight_decay", f"must be >= 0, got {cfg.weight_decay}")
    if cfg.dtype not in ("float32", "float64"):
        raise InputError("dtype", f"must be float32 or float64, got {cfg.dtype!r}")
    check_device(cfg.device)
    return cfg


def log_steps(steps: int, records: int) -> np.ndarray:
    """0 and up to ``records - 1`` log-spaced step counts ending at ``steps``."""
    if records <= 2:
        return np.array([0, steps])
    s = np.round(np.geomspace(1, steps, records - 1)).astype(np.int64)
    return np.unique(np.concatenate([[0], s, [steps]]))


def stack_data(splits, device=None, dtype=None):
    """Stack a list of :class:`numerics.networks.data.Split` of equal sizes: tensors with a
    leading dataset axis; floats cast to ``dtype``."""
    import torch

    def st(name):
        t = torch.stack([getattr(s, name) for s in splits])
        if t.is_floating_point() and dtype is not None:
            t = t.to(dtype)
        return t.to(device) if device is not None else t

    return {name: st(name) for name in ("x_train", "y_train", "x_test", "y_test")}


def generator(seed: int, stream: str = "init"):
    """A CPU torch generator for (seed, stream)."""
    import torch

    from grokking_workbench.numerics.networks.data import _rng

    return torch.Generator().manual_seed(int(_rng(seed, stream).integers(2 ** 62)))


@dataclass
class Trainer:
    """Stacked state of M members; see the module docstring. ``make_model(generator)`` builds one
    network; ``data`` is :func:`stack_data`'s dict (leading axis: datasets, indexed by
    ``Member.data``); ``classes`` > 0 for classification targets."""

    make_model: Callable
    data: dict
    cfg: TrainConfig
    members: list
    classes: int = 0
    state: dict = field(default_factory=dict)

    def __post_init__(self):
        import torch
        from torch.func import stack_module_state

        cfg = check_config(self.cfg)
        self.device, self.dtype = torch.device(cfg.device), getattr(torch, cfg.dtype)
        M = len(self.members)
        if M < 1:
            raise InputError("members", "need at least one member")
        models = []
        for m in self.members:
            net = self.make_model(generator(m.seed)).to(self.dtype)
            with torch.no_grad():
                for p in net.parameters():
                    p.mul_(m.init_scale)
            models.append(net.to(self.device))
        params, buffers = stack_module_state(models)
        self.params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        self.buffers = buffers
        self.params0 = {k: v.detach().clone() for k, v in params.items()}
        self.base_train = copy.deepcopy(models[0]).to("meta").train()
        self.base_eval = copy.deepcopy(models[0]).to("meta").eval()
        f = lambda x: torch.tensor([getattr(m, x) for m in self.members],      # noqa: E731
                                   dtype=self.dtype, device=self.device)
        self.alpha = f("alpha")
        idx = torch.tensor([m.data for m in self.members], device=self.device)
        self.d = {k: v.to(self.device)[idx] for k, v in self.data.items()}
        for k in self.d:
            if self.d[k].is_floating_point():
                self.d[k] = self.d[k].to(self.dtype)
        self.groups = {k: ("embed" if k.startswith("embed") else "rest") for k in self.params}
        lr = {}
        wd = {}
        for g, base_lr, base_wd in (("rest", cfg.lr, cfg.weight_decay),
                                    ("embed", cfg.embed_lr or cfg.lr,
                                     cfg.embed_weight_decay if cfg.embed_weight_decay is not None
                                     else cfg.weight_decay)):
            lr[g] = torch.tensor([(m.lr if m.lr is not None and g == "rest" else base_lr)
                                  * m.lr_factor / m.alpha ** cfg.lr_alpha_power
                                  for m in self.members], dtype=self.dtype, device=self.device)
            wd[g] = torch.tensor([(m.weight_decay if m.weight_decay is not None and g == "rest"
                                   else base_wd) for m in self.members],
                                 dtype=self.dtype, device=self.device)
        self.lr, self.wd = lr, wd
        self.kind = {"rest": cfg.optimizer, "embed": cfg.embed_optimizer or cfg.optimizer}
        self.opt = {k: {} for k in self.params}
        self.n_updates = 0
        self.batch_gens = [generator(m.seed, "batches") for m in self.members]
        with torch.no_grad():
            self.f0_train = (self._raw(self.params, "x_train") if cfg.centre
                             else None)
            self.f0_test = self._raw(self.params, "x_test") if cfg.centre else None
        self.norm0 = self.param_norm(self.params0)

    # ------------------------------------------------------------------ forward
    def _fwd(self, base):
        from torch.func import functional_call

        return lambda p, b, x: functional_call(base, (p, b), (x,))

    def _raw(self, params, key, idx=None):
        """f(x; theta) of every member on its data ``key`` (rows ``idx`` (M, B) if given), in
        chunks, evaluation mode."""
        import torch

        fwd = torch.vmap(self._fwd(self.base_eval))
        X = self.d[key]
        if idx is not None:
            X = X[torch.arange(X.shape[0], device=X.device)[:, None], idx]
        n = X.shape[1]
        c = self.cfg.eval_chunk
        return torch.cat([fwd(params, self.buffers, X[:, lo:lo + c]) for lo in range(0, n, c)], 1)

    def outputs(self, key: str, params=None):
        """The predictor (centred if ``cfg.centre``: alpha (f - f0)) on every point of ``key``
        (``x_train`` or ``x_test``), evaluation mode: (M, n, outputs)."""
        params = self.params if params is None else params
        f = self._raw(params, key)
        a = self.alpha.view(-1, *([1] * (f.dim() - 1)))
        if self.cfg.centre:
            f0 = self.f0_train if key == "x_train" else self.f0_test
            return a * (f - f0)
        return a * f

    def loss_of(self, out, y):
        """Per-member loss of outputs (M, n, k) against targets y (M, n[, k])."""
        import torch.nn.functional as F

        if self.cfg.loss == "ce":
            M, n, k = out.shape
            return F.cross_entropy(out.reshape(M * n, k), y.reshape(-1),
                                   reduction="none").view(M, n).mean(1)
        if self.classes:
            y = F.one_hot(y, self.classes).to(out.dtype)
        return (out - y).pow(2).flatten(1).mean(1)

    def accuracy_of(self, out, y):
        if self.classes:
            return (out.argmax(-1) == y).to(out.dtype).mean(1)
        if self.cfg.accuracy_threshold is None:
            return None
        return ((out - y).abs() <= self.cfg.accuracy_threshold).to(out.dtype).flatten(1).mean(1)

    def batch_loss(self, params, idx=None):
        """Per-member training loss of the centred predictor in training mode (dropout on) on
        the rows ``idx`` (M, B) of each member's training set (all rows if None)."""
        import torch

        X, Y = self.d["x_train"], self.d["y_train"]
        f0 = self.f0_train
        if idx is not None:
            ar = torch.arange(X.shape[0], device=X.device)[:, None]
            X, Y = X[ar, idx], Y[ar, idx]
            f0 = f0[ar, idx] if f0 is not None else None
        f = torch.vmap(self._fwd(self.base_train), randomness="different")(params, self.buffers, X)
        a = self.alpha.view(-1, *([1] * (f.dim() - 1)))
        out = a * (f - f0) if f0 is not None else a * f
        return self.loss_of(out, Y)

    # ------------------------------------------------------------------ optimisation
    def batch_indices(self):
        import torch

        B, n = self.cfg.batch_size, self.d["x_train"].shape[1]
        if B is None or B >= n:
            return None
        rows = []
        for g in self.batch_gens:
            rows.append(torch.randperm(n, generator=g)[:B])
        return torch.stack(rows).to(self.device)

    def gradients(self):
        """(per-member loss, gradients) at the current parameters for one (mini-)batch."""
        import torch

        for p in self.params.values():
            p.grad = None
        loss = self.batch_loss(self.params, self.batch_indices())
        grads = torch.autograd.grad(loss.sum(), list(self.params.values()))
        return loss.detach(), dict(zip(self.params, grads))

    def step(self):
        """One optimiser step; returns the per-member batch loss before it."""
        import torch

        loss, grads = self.gradients()
        cfg = self.cfg
        self.n_updates += 1
        t = self.n_updates
        with torch.no_grad():
            for k, p in self.params.items():
                g_name = self.groups[k]
                kind, g = self.kind[g_name], grads[k]
                shape = (-1,) + (1,) * (p.dim() - 1)
                lr, wd = self.lr[g_name].view(shape), self.wd[g_name].view(shape)
                st = self.opt[k]
                if kind in ("gd", "sgd"):
                    if bool((wd != 0).any()):
                        g = g + wd * p
                    if cfg.momentum:
                        buf = st.get("buf")
                        st["buf"] = g.clone() if buf is None else buf.mul_(cfg.momentum).add_(g)
                        g = st["buf"]
                    p.sub_(lr * g)
                else:
                    b1, b2 = cfg.betas
                    if kind == "adam" and bool((wd != 0).any()):
                        g = g + wd * p
                    if kind == "adamw":
                        p.mul_(1 - lr * wd)
                    m = st.setdefault("m", torch.zeros_like(p))
                    v = st.setdefault("v", torch.zeros_like(p))
                    m.mul_(b1).add_(g, alpha=1 - b1)
                    v.mul_(b2).addcmul_(g, g, value=1 - b2)
                    denom = (v / (1 - b2 ** t)).sqrt_().add_(cfg.adam_eps)
                    p.sub_((lr / (1 - b1 ** t)) * m / denom)
        return loss

    def select(self, keep) -> None:
        """Keep only the members where ``keep`` (a boolean array of length M) is true: every
        stacked tensor (parameters, optimiser state, data, learning rates, weight decays)
        keeps their rows, so the others leave the batch and the kept ones continue exactly
        as before (early exit: :func:`train_to_thresholds`)."""
        import torch

        keep = np.asarray(keep, bool)
        if keep.shape != (len(self.members),):
            raise ValueError(f"keep needs {len(self.members)} entries, got shape {keep.shape}")
        idx = torch.as_tensor(np.nonzero(keep)[0], device=self.device)
        with torch.no_grad():
            self.params = {k: v.detach()[idx].clone().requires_grad_(True) for k, v in self.params.items()}
            self.buffers = {k: v[idx] for k, v in self.buffers.items()}
            self.params0 = {k: v[idx] for k, v in self.params0.items()}
            self.opt = {k: {n: t[idx].clone() for n, t in st.items()} for k, st in self.opt.items()}
            self.d = {k: v[idx] for k, v in self.d.items()}
            self.lr = {g: v[idx] for g, v in self.lr.items()}
            self.wd = {g: v[idx] for g, v in self.wd.items()}
            self.alpha = self.alpha[idx]
            self.norm0 = self.norm0[idx]
            if self.f0_train is not None:
                self.f0_train, self.f0_test = self.f0_train[idx], self.f0_test[idx]
        rows = np.nonzero(keep)[0].tolist()
        self.members = [self.members[i] for i in rows]
        self.batch_gens = [self.batch_gens[i] for i in rows]

    # ------------------------------------------------------------------ measurements
    def param_norm(self, params=None):
        import torch

        params = self.params if params is None else params
        return torch.sqrt(sum(p.detach().pow(2).flatten(1).sum(1) for p in params.values()))

    def relative_change(self):
        import torch

        diff = torch.sqrt(sum((p.detach() - self.params0[k]).pow(2).flatten(1).sum(1)
                              for k, p in self.params.items()))
        return diff / self.norm0

    def measure(self) -> dict:
        """Train and test loss and accuracy, parameter norm and relative change: (M,) each."""
        import torch

        out = {}
        with torch.no_grad():
            for part, key in (("train", "x_train"), ("test", "x_test")):
                f = self.outputs(key)
                y = self.d["y" + key[1:]]
                out[f"{part}_loss"] = self.loss_of(f, y)
                acc = self.accuracy_of(f, y)
                if acc is not None:
                    out[f"{part}_accuracy"] = acc
            out["param_norm"] = self.param_norm()
            out["relative_change"] = self.relative_change()
        return out


def train(make_model: Callable, data: dict, cfg: TrainConfig, members: list, *, classes: int = 0,
          record: Callable | None = None, progress: bool | None = None, threads: int | None = None):
    """Train every member for ``cfg.steps`` steps; return a dict of numpy arrays: ``steps`` (T,),
    and per record (M, T, ...): train_loss, test_loss, train_accuracy, test_accuracy (when
    defined), param_norm, relative_change, and ``record(trainer)``'s entries; ``status``
    (``complete``, or which members diverged and when)."""
    import torch
    from tqdm.auto import tqdm

    from grokking_workbench.numerics.torch_runtime import torch_threads

    with torch_threads(threads):
        tr = Trainer(make_model, data, cfg, members, classes=classes)
        steps = log_steps(cfg.steps, cfg.records)
        rec: dict[str, list] = {}
        diverged = {}
        bar = tqdm(total=cfg.steps, desc="train", unit="step", mininterval=2.0,
                   disable=(not progress) if progress is not None else True)
        with bar:
            is_record = set(steps.tolist())
            for n in range(cfg.steps + 1):
                if n in is_record:
                    values = tr.measure()
                    if record is not None:
                        with torch.no_grad():
                            values.update(record(tr))
                    for k, v in values.items():
                        rec.setdefault(k, []).append(v.detach().cpu().numpy())
                    bad = ~np.isfinite(values["train_loss"].cpu().numpy())
                    for i in np.nonzero(bad)[0]:
                        diverged.setdefault(int(i), n)
                if n == cfg.steps:
                    break
                tr.step()
                bar.update(1)
    out = {k: np.stack(v, axis=1) for k, v in rec.items()}
    out["steps"] = steps
    out["status"] = "complete" if not diverged else "diverged: " + "; ".join(
        f"member {i} ({members[i]}) non-finite train loss from step {s}" for i, s in diverged.items())
    out["trainer"] = tr
    return out


def train_to_thresholds(make_model: Callable, data: dict, cfg: TrainConfig, members: list, *,
                        classes: int = 0, threshold: float = 0.9, eval_every: int = 10,
                        stop_when_decided: bool = True, threads: int | None = None) -> dict:
    """Train every member for at most ``cfg.steps`` steps and find the first evaluation steps
    (0, ``eval_every``, 2 ``eval_every``, ... and ``cfg.steps``) at which its train and its
    test accuracy reach ``threshold`` (the phase diagrams' first-reach steps).

    ``stop_when_decided``: early exit; a member stops at the first evaluation at which both
    accuracies have reached the threshold and leaves the batch (:meth:`Trainer.select`), so the
    rest run on a smaller batch; a member whose train loss is not finite stops there too. Returns
    numpy arrays over the members: ``steps_to_train``, ``steps_to_test`` (-1: not reached),
    ``stop_step``, ``diverged`` (bool), and ``final``, a dict of :meth:`Trainer.measure`'s values
    at the stop step; ``seconds``: the wall time."""
    import time

    import torch

    from grokking_workbench.numerics.torch_runtime import torch_threads
    from grokking_workbench.numerics.validate import positive_int

    positive_int("eval_every", eval_every)
    if not 0 < threshold <= 1:
        raise InputError("threshold", f"must lie in (0, 1], got {threshold}")
    start = time.perf_counter()
    M = len(members)
    first = {k: np.full(M, -1, dtype=np.int64) for k in ("train", "test")}
    stop = np.full(M, cfg.steps, dtype=np.int64)
    diverged = np.zeros(M, bool)
    final: dict[str, np.ndarray] = {}
    with torch_threads(threads):
        tr = Trainer(make_model, data, cfg, members, classes=classes)
        active = np.arange(M)               # original index of each row of the stacked state
        for n in range(cfg.steps + 1):
            if n % eval_every == 0 or n == cfg.steps:
                values = {k: v.detach().cpu().numpy() for k, v in tr.measure().items()}
                if "train_accuracy" not in values:
                    raise InputError("threshold", "needs an accuracy (classes, or cfg.accuracy_threshold)")
                for key in ("train", "test"):
                    hit = (values[f"{key}_accuracy"] >= threshold - 1e-12) & (first[key][active] < 0)
                    first[key][active[hit]] = n
                bad = ~np.isfinite(values["train_loss"])
                done = bad | (n == cfg.steps)
                if stop_when_decided:
                    done |= (first["train"][active] >= 0) & (first["test"][active] >= 0)
                if done.any():
                    for k, v in values.items():
                        final.setdefault(k, np.full(M, np.nan))[active[done]] = v[done]
                    stop[active[done]] = n
                    diverged[active[bad]] = True
                    if done.all():
                        break
                    tr.select(~done)
                    active = active[~done]
            tr.step()
    return {"steps_to_train": first["train"], "steps_to_test": first["test"], "stop_step": stop,
            "diverged": diverged, "final": final, "seconds": time.perf_counter() - start}
