"""Torch toy model of Liu et al. 2022 (Sec. 2, Sec. 4.1), many configurations in one computation.

``(a, b) -> Dec(E_a + E_b)``: trainable embeddings ``E_k`` (``d_embed`` dimensions) of the
symbols ``k = 0 .. p-1``, summed and decoded by an MLP. For the permutation group S_3
(``group="s3"``, Liu et al. Sec. 4.1; the authors' ``run_toy_model_permutations_ng.py``) the
embeddings of the six elements are 3 x 3 matrices, combined by their product
``Dec(E_g E_h)`` over the 36 ordered pairs, with the index of ``g h`` as label. Targets: fixed random vectors ``Y_c``
(regression, mean-squared error; a prediction is correct when the nearest target vector is the
right one) or one-hot vectors (classification, cross-entropy), with ``c = a + b`` (``2p - 1``
labels) or ``c = (a + b) mod modulus``. Samples are unordered pairs (``numerics.representation``).

Optimisers (Sec. 4.1): Adam for the embeddings (learning rate ``embedding_lr``, no weight decay)
and AdamW for the decoder (``lr``, ``weight_decay``). Training is full batch.

The model (defaults of :class:`ModelSpec`). The paper's text leaves the decoder open; the
defaults are those of the authors' code for Figs. 3-6 (github.com/ejmichaud/grokking-squared,
``toy/train_add.py`` and ``phase_diagram_plot/phase_diagram.ipynb``): 1-D embeddings drawn from
U(-1/2, 1/2); a decoder 1 -> 200 -> 200 -> 30 with tanh activations and torch.nn.Linear's
default initialisation; regression targets Y_c ~ N(0, I_30); the loss is the mean of the squared
error over samples and target components. Why these and not a narrower decoder (width 64,
16-D targets, N(0, 1) embeddings, used before): with that model the phase-diagram sweeps showed
only memorisation and confusion. With this one (our runs, p = 10, 45/10 split, embedding lr
1e-3): a slow decoder (lr 1e-4 .. 1e-3, weight decay up to ~6) forms the linear representation
and generalises (comprehension), a fast decoder with little weight decay fits the training set
first and its embeddings then stay frozen (memorisation, unchanged up to 6e4 steps), a large
weight decay with a fast decoder prevents fitting (confusion), and lowering the embedding lr
against the decoder lr moves comprehension into memorisation (Fig. 6a's competition). Grokking,
validation trailing training by > 1e3 steps, appears at a slow decoder with weight decay (e.g. lr
1e-4, wd 3-6: 1.7e3-9.7e3 steps) on splits where 90 % validation accuracy needs every
validation sample whose sum occurs in training (``experiments.phase_diagram``).

Batching: a batch of ``B`` configurations (seeds, splits, learning rates, weight decays) shares
one set of stacked parameters (leading dimension ``B``); the forward pass is
``torch.func.vmap`` over ``torch.func.functional_call`` of one template module, and the
optimisers are written out for stacked tensors with a learning rate and weight decay per
configuration (the update rules are those of ``torch.optim.Adam``/``AdamW``, checked against
them by :func:`train_loop`, the reference loop over configurations). Each configuration is
initialised from its own seed exactly as the loop initialises it, so the two agree to rounding.

Recorded: losses and accuracies (train and validation) and the embeddings at the record steps,
the RQI (eq. (3)) of the embeddings, and the first steps at which train accuracy, validation
accuracy and RQI reach their thresholds (checked every ``eval_every`` steps).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from grokking_workbench.numerics import representation as rep
from grokking_workbench.numerics.validate import InputError, positive_int

log = logging.getLogger(__name__)

TASKS = ("regression", "classification")
GROUPS = ("addition", "s3")
ACTIVATIONS = ("tanh", "relu", "silu")
EMBED_INITS = ("uniform", "normal")
BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


@dataclass(frozen=True)
class ModelSpec:
    """Architecture and task shared by every configuration of a batch.

    ``width``, ``depth``: hidden width and number of hidden layers of the decoder MLP;
    ``d_target``: dimension of the random target vectors (regression); ``embed_init``,
    ``embed_scale``: initial embeddings ``U(-embed_scale/2, embed_scale/2)`` ("uniform") or
    ``N(0, embed_scale^2)`` ("normal"); ``target_scale``: standard deviation of the target entries.
    The defaults are the setting of the module docstring (Liu et al.'s toy model).
    """

    p: int = 10
    d_embed: int = 1
    task: str = "regression"
    modulus: int | None = None
    group: str = "addition"
    width: int = 200
    depth: int = 2
    activation: str = "tanh"
    d_target: int = 30
    embed_scale: float = 1.0
    embed_init: str = "uniform"
    target_scale: float = 1.0

    def __post_init__(self):
        positive_int("p", self.p)
        positive_int("d_embed", self.d_embed)
        positive_int("width", self.width)
        positive_int("depth", self.depth)
        positive_int("d_target", self.d_target)
        if self.task not in TASKS:
            raise InputError("task", f"must be one of {TASKS}, got {self.task!r}")
        if self.activation not in ACTIVATIONS:
            raise InputError("activation", f"must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.embed_init not in EMBED_INITS:
            raise InputError("embed_init", f"must be one of {EMBED_INITS}, got {self.embed_init!r}")
        if self.modulus is not None:
            positive_int("modulus", self.modulus)
        if self.group not in GROUPS:
            raise InputError("group", f"must be one of {GROUPS}, got {self.group!r}")
        if self.group == "s3" and (self.p != 6 or self.d_embed != 9 or self.modulus is not None):
            raise InputError("group", "s3 needs p = 6 (the elements), d_embed = 9 (3 x 3 matrices) "
                             "and no modulus")

    @property
    def n_labels(self) -> int:
        return 6 if self.group == "s3" else rep.n_labels(self.p, self.modulus)

    def samples(self) -> np.ndarray:
        """The full dataset as symbol pairs (n, 2): unordered pairs ``i <= j`` for addition, the
        36 ordered pairs (g, h) for S_3 (elements in the order of
        ``numerics.networks.data.s3_elements``)."""
        if self.group == "s3":
            return np.array([(i, j) for i in range(6) for j in range(6)])
        return rep.full_dataset(self.p)

    def labels(self) -> np.ndarray:
        """The label of each sample: ``i + j`` (mod ``modulus``), or the index of the product g h."""
        samples = self.samples()
        if self.group == "s3":
            from grokking_workbench.numerics.networks.data import s3_elements, s3_product

            els = s3_elements()
            index = {g: k for k, g in enumerate(els)}
            return np.array([index[s3_product(els[i], els[j])] for i, j in samples])
        return rep.labels(samples, self.modulus)

    def quadruples(self) -> np.ndarray:
        """Parallelograms for the RQI (none for S_3, whose RQI is then NaN)."""
        if self.group == "s3":
            return np.zeros((0, 4), dtype=np.int64)
        return rep.quadruples(self.p, modulus=self.modulus)

    @property
    def d_out(self) -> int:
        return self.n_labels if self.task == "classification" else self.d_target


@dataclass
class TrainResult:
    """Outputs of :func:`train` (numpy arrays; ``B`` configurations, ``R`` record steps).

    ``embeddings`` (R, B, p, d); ``train_loss``, ``val_loss``, ``train_acc``, ``val_acc``,
    ``rqi`` (R, B); ``steps_to_train``, ``steps_to_val``, ``steps_to_rqi`` (B,) with -1 where
    the threshold was not reached; ``final_*`` at the last step.
    """

    record_steps: np.ndarray
    embeddings: np.ndarray
    train_loss: np.ndarray
    val_loss: np.ndarray
    train_acc: np.ndarray
    val_acc: np.ndarray
    rqi: np.ndarray
    steps_to_train: np.ndarray
    steps_to_val: np.ndarray
    steps_to_rqi: np.ndarray
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- model
def _activation(name: str):
    import torch

    return {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU, "silu": torch.nn.SiLU}[name]()


def build_module(spec: ModelSpec, dtype=None):
    """The template ``torch.nn.Module``: ``forward(a, b) = Dec(E[a] + E[b])``."""
    import torch
    from torch import nn

    class ToyAddition(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Parameter(torch.zeros(spec.p, spec.d_embed, dtype=dtype))
            layers, d = [], spec.d_embed
            self.s3 = spec.group == "s3"
            for _ in range(spec.depth):
                layers += [nn.Linear(d, spec.width, dtype=dtype), _activation(spec.activation)]
                d = spec.width
            layers.append(nn.Linear(d, spec.d_out, dtype=dtype))
            self.decoder = nn.Sequential(*layers)

        def forward(self, a, b):
            if self.s3:
                # S_3 (the authors' permutation-group model): 3 x 3 matrix embeddings, multiplied
                ea = self.embedding[a].unflatten(-1, (3, 3))
                eb = self.embedding[b].unflatten(-1, (3, 3))
                return self.decoder((ea @ eb).flatten(-2))
            return self.decoder(self.embedding[a] + self.embedding[b])

    return ToyAddition()


def init_parameters(spec: ModelSpec, seed: int, dtype=None) -> dict:
    """Parameters of one configuration from its seed: embeddings ~ N(0, embed_scale^2), decoder
    weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (the torch.nn.Linear default law)."""
    import torch

    dtype = dtype or torch.float64
    g = torch.Generator().manual_seed(int(seed))
    module = build_module(spec, dtype)
    params = {}
    for name, t in module.named_parameters():
        if name == "embedding" and spec.embed_init == "uniform":
            params[name] = spec.embed_scale * (torch.rand(t.shape, generator=g, dtype=dtype) - 0.5)
        elif name == "embedding":
            params[name] = spec.embed_scale * torch.randn(t.shape, generator=g, dtype=dtype)
        else:
            layer = dict(module.named_modules())[name.rsplit(".", 1)[0]]
            bound = 1.0 / math.sqrt(layer.in_features)
            params[name] = (2 * torch.rand(t.shape, generator=g, dtype=dtype) - 1) * bound
    return params


def targets(spec: ModelSpec, seed: int, dtype=None):
    """Target vectors (n_labels, d_out): random N(0, target_scale^2) entries (regression, drawn
    from ``seed + 7919`` so they do not reuse the initialisation stream) or one-hot."""
    import torch

    dtype = dtype or torch.float64
    if spec.task == "classification":
        return torch.eye(spec.n_labels, dtype=dtype)
    g = torch.Generator().manual_seed(int(seed) + 7919)
    return spec.target_scale * torch.randn(spec.n_labels, spec.d_target, generator=g, dtype=dtype)


# ----------------------------------------------------------------------------- hyperparameters
@dataclass(frozen=True)
class Batch:
    """Per-configuration settings (length B each) and training masks (B, |D0|)."""

    embedding_lr: np.ndarray
    lr: np.ndarray
    weight_decay: np.ndarray
    seed: np.ndarray
    train_mask: np.ndarray

    @property
    def size(self) -> int:
        return len(self.seed)

    @staticmethod
    def make(*, embedding_lr, lr, weight_decay, seed, train_mask) -> "Batch":
        """Broadcast scalars/arrays to a common length B; validate."""
        arrays = [np.atleast_1d(np.asarray(x, dtype=float)) for x in (embedding_lr, lr, weight_decay)]
        seeds = np.atleast_1d(np.asarray(seed, dtype=np.int64))
        mask = np.atleast_2d(np.asarray(train_mask, dtype=bool))
        B = max(len(a) for a in arrays + [seeds, mask])
        out = []
        for name, a in zip(("embedding_lr", "lr", "weight_decay"), arrays):
            if len(a) not in (1, B):
                raise InputError(name, f"length {len(a)} does not broadcast to {B}")
            if np.any(a < 0) or not np.all(np.isfinite(a)):
                raise InputError(name, "must be finite and >= 0")
            out.append(np.broadcast_to(a, (B,)).copy())
        if len(seeds) not in (1, B) or len(mask) not in (1, B):
            raise InputError("seed/train_mask", f"lengths do not broadcast to {B}")
        return Batch(*out, seed=np.broadcast_to(seeds, (B,)).copy(),
                     train_mask=np.broadcast_to(mask, (B, mask.shape[1])).copy())

    def select(self, k: int) -> "Batch":
        return Batch(self.embedding_lr[k:k + 1], self.lr[k:k + 1], self.weight_decay[k:k + 1],
                     self.seed[k:k + 1], self.train_mask[k:k + 1])


# ----------------------------------------------------------------------------- metrics
def _errors(spec, out, Y, labels):
    """Per-sample loss (B, n0) from outputs (B, n0, d_out): squared error averaged over the
    target dimensions (regression) or cross-entropy (classification)."""
    import torch

    if spec.task == "regression":
        return ((out - Y[:, labels, :]) ** 2).mean(dim=-1)
    return torch.nn.functional.cross_entropy(out.transpose(1, 2),
                                             labels.expand(out.shape[0], -1), reduction="none")


def _correct(spec, out, Y, labels):
    """Whether each prediction is right (B, n0): nearest target vector or largest logit."""
    import torch

    pred = torch.cdist(out, Y).argmin(dim=-1) if spec.task == "regression" else out.argmax(dim=-1)
    return (pred == labels).to(out.dtype)


def _masked_mean(x, w):
    return (x * w).sum(1) / w.sum(1).clamp_min(1.0)


def rqi_torch(E, quads, delta: float):
    """RQI (eq. (3)) of stacked embeddings E (B, p, d), as in :func:`numerics.representation.rqi`."""
    import torch

    c = E - E.mean(dim=1, keepdim=True)
    var = (c ** 2).sum(dim=-1).mean(dim=1)
    c = c / torch.sqrt(torch.where(var > 0, var, torch.ones_like(var)))[:, None, None]
    diff = c[:, quads[:, 0]] + c[:, quads[:, 1]] - c[:, quads[:, 2]] - c[:, quads[:, 3]]
    return (torch.linalg.vector_norm(diff, dim=-1) <= delta).to(E.dtype).mean(dim=1)


# ----------------------------------------------------------------------------- training
class _threads:
    """Use ``n`` intra-op threads inside the block (None: leave torch's setting), then restore.

    Many tiny kernels per step make thread synchronisation dominate on a busy machine; one
    thread is often several times faster for small batches.
    """

    def __init__(self, n: int | None):
        self.n, self.old = n, None

    def __enter__(self):
        import torch

        if self.n is not None:
            self.old = torch.get_num_threads()
            torch.set_num_threads(int(self.n))

    def __exit__(self, *exc):
        import torch

        if self.old is not None:
            torch.set_num_threads(self.old)


def _adam_update(param, grad, m, v, step, lr, wd, betas=BETAS, eps=ADAM_EPS):
    """One Adam (wd = None) or AdamW step on stacked tensors, in place; lr, wd: (B,) tensors.

    The operations follow torch.optim.Adam/AdamW (single-tensor path): decoupled decay
    ``param *= 1 - lr wd``, ``m <- lerp(m, g, 1 - b1)``, ``v <- b2 v + (1 - b2) g^2``,
    ``param -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.
    """
    shape = (-1,) + (1,) * (param.dim() - 1)
    lr_ = lr.view(shape)
    if wd is not None:
        param.mul_(1 - lr_ * wd.view(shape))
    b1, b2 = betas
    m.lerp_(grad, 1 - b1)
    v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
    bc1 = 1 - b1 ** step
    bc2 = 1 - b2 ** step
    # denom = (sqrt(v) / sqrt(bc2) + eps) * bc1 / lr, built in place on one temporary, so the
    # step is param -= m / denom (the same expression up to rounding, one pass less)
    denom = v.sqrt().div_(math.sqrt(bc2)).add_(eps).mul_(bc1 / lr_)
    param.addcdiv_(m, denom, value=-1.0)


def train(spec: ModelSpec, batch: Batch, steps: int, record_steps=None, *, eval_every: int = 10,
          threshold: float = 0.9, rqi_threshold: float = 0.95, rqi_delta: float = 0.05,
          dtype: str = "float32", device: str = "cpu", progress: bool = False,
          num_threads: int | None = None, chunk_size: int | None = 64,
          stop_when_decided: bool = False) -> TrainResult:
    """Train ``batch.size`` configurations of the toy model as one batched computation.

    ``record_steps``: steps at which to store embeddings and metrics (default: 0 and
    ``steps``); ``eval_every``: resolution of the first-reach steps (``steps_to_*``);
    ``num_threads``: torch intra-op threads during the call (None: unchanged);
    ``chunk_size``: configurations per batched computation (None: all at once). Chunks run
    one after another; the configurations are independent, so the result does not depend on
    it, to rounding: a batch of two or more configurations gives each the same bits whatever the
    others (checked in the tests), a batch of one takes another kernel path (it differs in the
    last bits, and so does a configuration left alone in its batch by the early exit). On one
    CPU core the time per configuration and step is flat from 16 to ~128 configurations and
    grows beyond (the stacked activations leave the cache).

    ``stop_when_decided``: early exit. A configuration stops at the first evaluation step at
    which both train and validation accuracy have reached ``threshold`` (its phase, in the sense
    of ``experiments.phase_diagram``, is then decided), and is dropped from the batch, so the
    remaining ones run on a smaller batch; the computation ends when none is left. Its records
    after that step are NaN. ``extra["stop_step"]`` is the step at which each configuration
    stopped (``steps`` if it ran its budget) and ``extra["final"]`` its losses, accuracies and
    RQI there; ``extra["params"]`` are its parameters there.
    """
    chunk = batch.size if chunk_size is None else positive_int("chunk_size", chunk_size)
    parts = []
    with _threads(num_threads):
        for lo in range(0, batch.size, chunk):
            sub = Batch(*(getattr(batch, k)[lo:lo + chunk] for k in
                          ("embedding_lr", "lr", "weight_decay", "seed", "train_mask")))
            parts.append(_train(spec, sub, steps, record_steps, eval_every=eval_every,
                                threshold=threshold, rqi_threshold=rqi_threshold,
                                rqi_delta=rqi_delta, dtype=dtype, device=device, progress=progress,
                                stop_when_decided=stop_when_decided))
    return parts[0] if len(parts) == 1 else _concatenate(parts)


def _concatenate(parts: list[TrainResult]) -> TrainResult:
    """Join the results of consecutive chunks of one batch along the configuration axis."""
    per_step = ("embeddings", "train_loss", "val_loss", "train_acc", "val_acc", "rqi")
    per_config = ("steps_to_train", "steps_to_val", "steps_to_rqi")
    return TrainResult(
        record_steps=parts[0].record_steps,
        **{k: np.concatenate([getattr(r, k) for r in parts], axis=1) for k in per_step},
        **{k: np.concatenate([getattr(r, k) for r in parts], axis=0) for k in per_config},
        seconds=sum(r.seconds for r in parts),
        extra={"params": {k: np.concatenate([r.extra["params"][k] for r in parts], axis=0)
                          for k in parts[0].extra["params"]},
               "stop_step": np.concatenate([r.extra["stop_step"] for r in parts]),
               "final": {k: np.concatenate([r.extra["final"][k] for r in parts])
                         for k in parts[0].extra["final"]}})


def _train(spec, batch, steps, record_steps, *, eval_every, threshold, rqi_threshold, rqi_delta,
           dtype, device, progress, stop_when_decided=False) -> TrainResult:
    import time

    import torch
    from torch.func import functional_call, vmap

    steps = int(steps)
    if steps < 0:
        raise InputError("steps", f"must be >= 0, got {steps}")
    eval_every = positive_int("eval_every", eval_every)
    tdtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    record_steps = np.unique(np.asarray([0, steps] if record_steps is None else record_steps, int))
    if record_steps.min() < 0 or record_steps.max() > steps:
        raise InputError("record_steps", f"must lie in [0, {steps}]")
    start = time.perf_counter()
    B = batch.size
    samples = spec.samples()
    if batch.train_mask.shape[1] != len(samples):
        raise InputError("train_mask", f"needs {len(samples)} columns (|D0| for p = {spec.p}, {spec.group})")
    dev = torch.device(device)
    a = torch.as_tensor(samples[:, 0], device=dev)
    b = torch.as_tensor(samples[:, 1], device=dev)
    labels = torch.as_tensor(spec.labels(), device=dev)
    train_w = torch.as_tensor(batch.train_mask, dtype=tdtype, device=dev)
    val_w = 1.0 - train_w
    quads = torch.as_tensor(spec.quadruples(), device=dev)

    # one flat (B, n) leaf per optimiser (embeddings; decoder), viewed as the module's tensors,
    # so that each optimiser step is a handful of kernels whatever the depth of the decoder
    per_config = [init_parameters(spec, s) for s in batch.seed]
    names = list(per_config[0])
    shapes = {k: per_config[0][k].shape for k in names}
    emb = torch.stack([pc["embedding"] for pc in per_config]).to(dev, tdtype).requires_grad_(True)
    dec = torch.stack([torch.cat([pc[k].flatten() for k in names[1:]]) for pc in per_config]
                      ).to(dev, tdtype).requires_grad_(True)

    def views():
        out, off = {"embedding": emb}, 0
        for k in names[1:]:
            n = math.prod(shapes[k])
            out[k] = dec[:, off:off + n].view((B,) + tuple(shapes[k]))
            off += n
        return out

    params = views()
    g_dec = torch.empty_like(dec, requires_grad=False)
    Y = torch.stack([targets(spec, s) for s in batch.seed]).to(dev, tdtype)
    state = {"embedding": (torch.zeros_like(emb), torch.zeros_like(emb)),
             "decoder": (torch.zeros_like(dec), torch.zeros_like(dec))}
    hyper = {k: torch.as_tensor(getattr(batch, k), dtype=tdtype, device=dev)
             for k in ("embedding_lr", "lr", "weight_decay")}
    module = build_module(spec, tdtype).to(dev)
    forward = vmap(lambda prm: functional_call(module, prm, (a, b)))

    n_rec = len(record_steps)
    metrics = ("train_loss", "val_loss", "train_acc", "val_acc", "rqi")
    rec = {k: np.full((n_rec, B), np.nan) for k in metrics}
    rec_E = np.full((n_rec, B, spec.p, spec.d_embed), np.nan)
    first = {k: np.full(B, -1, dtype=np.int64) for k in ("train", "val", "rqi")}
    # early exit: ``active`` holds the original index of each row of the stacked tensors
    active = np.arange(B)
    stop_step = np.full(B, steps, dtype=np.int64)
    final = {k: np.full(B, np.nan) for k in metrics}
    final_params = {k: np.zeros((B,) + tuple(v.shape[1:])) for k, v in params.items()}
    r_i = 0
    it = range(steps + 1)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="toy addition", mininterval=2.0)
    for step in it:
        params = views()
        out = forward(params)
        err = _errors(spec, out, Y, labels)
        tl = _masked_mean(err, train_w)
        recording = r_i < n_rec and record_steps[r_i] == step
        done = None
        if recording or step % eval_every == 0 or step == steps:
            with torch.no_grad():
                corr = _correct(spec, out, Y, labels)
                ta, va = _masked_mean(corr, train_w), _masked_mean(corr, val_w)
                vl = _masked_mean(err, val_w)
                q = rqi_torch(params["embedding"], quads, rqi_delta)
                for key, val in (("train", ta), ("val", va), ("rqi", q)):
                    thr = rqi_threshold if key == "rqi" else threshold
                    hit = (val >= thr - 1e-12).cpu().numpy() & (first[key][active] < 0)
                    first[key][active[hit]] = step
                values = dict(zip(metrics, (tl, vl, ta, va, q)))
                if recording:
                    for key, val in values.items():
                        rec[key][r_i, active] = val.detach().cpu().numpy()
                    rec_E[r_i, active] = params["embedding"].detach().cpu().numpy()
                    r_i += 1
                if step == steps:
                    done = np.ones(len(active), bool)
                elif stop_when_decided:
                    done = (first["train"][active] >= 0) & (first["val"][active] >= 0)
                if done is not None and done.any():
                    for key, val in values.items():
                        final[key][active[done]] = val.detach().cpu().numpy()[done]
                    for key, val in params.items():
                        final_params[key][active[done]] = val.detach().cpu().numpy()[done]
                    stop_step[active[done]] = step
        if step == steps:
            break
        if done is not None and done.any():
            # drop the decided configurations: every stacked tensor keeps the other rows
            keep = torch.as_tensor(~done, device=dev)
            active = active[~done]
            if len(active) == 0:
                break
            B = len(active)
            with torch.no_grad():
                emb = emb[keep].detach().requires_grad_(True)
                dec = dec[keep].detach().requires_grad_(True)
                state = {k: (m[keep].clone(), v[keep].clone()) for k, (m, v) in state.items()}
                hyper = {k: v[keep] for k, v in hyper.items()}
                Y, train_w, val_w = Y[keep], train_w[keep], val_w[keep]
            g_dec = torch.empty_like(dec, requires_grad=False)
            params = views()
            tl = _masked_mean(_errors(spec, forward(params), Y, labels), train_w)
        # gradients with respect to the decoder's views, written into one flat buffer: asking
        # for the gradient of ``dec`` itself would run one zero-filled (B, n) slice backward per
        # view and sum them, several full passes over the decoder per step
        dec_views = [params[k] for k in names[1:]]
        grads = torch.autograd.grad(tl.sum(), [emb] + dec_views)
        g_emb = grads[0]
        off = 0
        for g in grads[1:]:
            n = g[0].numel()
            g_dec[:, off:off + n].copy_(g.reshape(B, n))
            off += n
        with torch.no_grad():
            _adam_update(emb, g_emb, *state["embedding"], step + 1, hyper["embedding_lr"], None)
            _adam_update(dec, g_dec, *state["decoder"], step + 1, hyper["lr"], hyper["weight_decay"])
    return TrainResult(record_steps=record_steps, embeddings=rec_E, steps_to_train=first["train"],
                       steps_to_val=first["val"], steps_to_rqi=first["rqi"],
                       seconds=time.perf_counter() - start,
                       extra={"params": final_params, "stop_step": stop_step, "final": final},
                       **rec)


def train_loop(spec: ModelSpec, batch: Batch, steps: int, *, dtype: str = "float32",
               device: str = "cpu", num_threads: int | None = None) -> dict[str, np.ndarray]:
    """Reference: the same training, one configuration at a time with ``torch.optim``.

    Returns the final embeddings (B, p, d), the final decoder parameters (flattened, (B, n))
    and the final train loss (B,). Used to test :func:`train` and as the benchmark baseline.
    """
    with _threads(num_threads):
        return _train_loop(spec, batch, steps, dtype=dtype, device=device)


def _train_loop(spec, batch, steps, *, dtype, device):
    import torch

    tdtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    samples = spec.samples()
    dev = torch.device(device)
    a = torch.as_tensor(samples[:, 0], device=dev)
    b = torch.as_tensor(samples[:, 1], device=dev)
    labels = torch.as_tensor(spec.labels(), device=dev)
    E_out, dec_out, loss_out = [], [], []
    for k in range(batch.size):
        module = build_module(spec, tdtype).to(dev)
        with torch.no_grad():
            for name, t in init_parameters(spec, batch.seed[k]).items():
                module.get_parameter(name).copy_(t.to(tdtype))
        Y = targets(spec, batch.seed[k]).to(dev, tdtype)[None]
        tw = torch.as_tensor(batch.train_mask[k:k + 1], dtype=tdtype, device=dev)
        opt_e = torch.optim.Adam([module.embedding], lr=float(batch.embedding_lr[k]),
                                 betas=BETAS, eps=ADAM_EPS, foreach=False)
        opt_d = torch.optim.AdamW(module.decoder.parameters(), lr=float(batch.lr[k]),
                                  weight_decay=float(batch.weight_decay[k]), betas=BETAS,
                                  eps=ADAM_EPS, foreach=False)
        for _ in range(steps):
            out = module(a, b)[None]
            loss = _masked_mean(_errors(spec, out, Y, labels), tw).sum()
            opt_e.zero_grad()
            opt_d.zero_grad()
            loss.backward()
            opt_e.step()
            opt_d.step()
        with torch.no_grad():
            out = module(a, b)[None]
            loss_out.append(float(_masked_mean(_errors(spec, out, Y, labels), tw)))
            E_out.append(module.embedding.detach().cpu().numpy().copy())
            dec_out.append(torch.cat([t.detach().flatten() for t in module.decoder.parameters()]).cpu().numpy())
    return {"embeddings": np.stack(E_out), "decoder": np.stack(dec_out), "train_loss": np.array(loss_out)}


def decoder_vector(spec: ModelSpec, result_params: dict) -> np.ndarray:
    """Flatten stacked decoder parameters (B, ...) in module order (for comparisons)."""
    module = build_module(spec)
    names = [n for n, _ in module.named_parameters() if n != "embedding"]
    return np.concatenate([np.asarray(result_params[n]).reshape(len(result_params[n]), -1) for n in names], axis=1)
