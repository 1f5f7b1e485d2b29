"""Networks as ``torch.nn`` modules, built deterministically from a ``torch.Generator``.

Every weight matrix starts LeCun-normal, N(0, 1 / fan_in), biases at zero; embeddings
N(0, embed_std^2). The training loop (:mod:`numerics.networks.train`) multiplies every parameter
by a member's initial scale (Liu et al. 2022's "large initialisation") after construction.
Parameters whose name starts with ``embed`` are the input embeddings: the training loop can give
them their own optimiser and learning rate (Liu et al. 2022, Sec. 4).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = ("relu", "tanh", "quadratic", "gelu", "linear")


def activation(name: str, x):
    if name == "relu":
        return F.relu(x)
    if name == "tanh":
        return torch.tanh(x)
    if name == "quadratic":
        return x * x
    if name == "gelu":
        return F.gelu(x)
    if name == "linear":
        return x
    raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {name!r}")


def _normal(shape, std, generator):
    return nn.Parameter(torch.randn(*shape, generator=generator) * std)


class Linear(nn.Module):
    """y = x W^T + b with W ~ N(0, 1 / fan_in) (``std`` overrides), b = 0."""

    def __init__(self, fan_in: int, fan_out: int, *, bias: bool = True, generator=None,
                 std: float | None = None):
        super().__init__()
        self.weight = _normal((fan_out, fan_in), std if std is not None else fan_in ** -0.5,
                              generator)
        self.bias = nn.Parameter(torch.zeros(fan_out)) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class MLP(nn.Module):
    """widths[0] -> widths[1] -> ... -> widths[-1], the activation between layers (not after the
    last), dropout after each activation; ``readout_scale`` multiplies the output (e.g. 1 / N for
    a mean-field readout); ``stds`` overrides the standard deviation of each layer's weights."""

    def __init__(self, widths, *, activation: str = "relu", bias: bool = True,
                 dropout: float = 0.0, readout_scale: float = 1.0, stds=None, generator=None):
        super().__init__()
        stds = stds if stds is not None else (None,) * (len(widths) - 1)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}")
        self.act, self.dropout, self.readout_scale = activation, float(dropout), float(readout_scale)
        self.layers = nn.ModuleList(Linear(a, b, bias=bias, generator=generator, std=sd)
                                    for a, b, sd in zip(widths[:-1], widths[1:], stds))

    def forward(self, x):
        for n, layer in enumerate(self.layers):
            x = layer(x)
            if n < len(self.layers) - 1:
                x = activation(self.act, x)
                if self.dropout:
                    x = F.dropout(x, self.dropout, self.training)
        return x * self.readout_scale if self.readout_scale != 1.0 else x


class Block(nn.Module):
    """Pre-activation-free transformer block (Nanda et al. 2023: no layer norm by default):
    x + attention(x), then + MLP; dropout on both residual branches."""

    def __init__(self, d_model, n_heads, d_mlp, *, act="relu", dropout=0.0, layer_norm=False,
                 generator=None):
        super().__init__()
        self.h, self.dk = n_heads, d_model // n_heads
        self.qkv = Linear(d_model, 3 * d_model, bias=False, generator=generator)
        self.out = Linear(d_model, d_model, bias=False, generator=generator)
        self.fc1 = Linear(d_model, d_mlp, generator=generator)
        self.fc2 = Linear(d_mlp, d_model, generator=generator)
        self.act, self.dropout = act, float(dropout)
        self.ln1 = nn.LayerNorm(d_model) if layer_norm else None
        self.ln2 = nn.LayerNorm(d_model) if layer_norm else None

    def forward(self, x, last_only: bool = False):
        """x (n, T, d). With ``last_only`` only the last position is computed (enough for the
        last layer when the output reads the last position): shape (n, 1, d)."""
        n, T, d = x.shape
        xa = self.ln1(x) if self.ln1 is not None else x
        W = self.qkv.weight
        if last_only:
            q = F.linear(xa[:, -1:], W[:d])
            kv = F.linear(xa, W[d:])
            k, v = kv[..., :d], kv[..., d:]
            x = x[:, -1:]
        else:
            q, k, v = F.linear(xa, W).split(d, dim=-1)
        Tq = q.shape[1]
        q = q.reshape(n, Tq, self.h, self.dk).transpose(1, 2)
        k = k.reshape(n, T, self.h, self.dk).transpose(1, 2)
        v = v.reshape(n, T, self.h, self.dk).transpose(1, 2)
        s = q @ k.transpose(-1, -2) / math.sqrt(self.dk)
        if not last_only and T > 1:
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
            s = s.masked_fill(mask, float("-inf"))
        a = (s.softmax(-1) @ v).transpose(1, 2).reshape(n, Tq, d)
        a = self.out(a)
        if self.dropout:
            a = F.dropout(a, self.dropout, self.training)
        x = x + a
        xm = self.ln2(x) if self.ln2 is not None else x
        m = self.fc2(activation(self.act, self.fc1(xm)))
        if self.dropout:
            m = F.dropout(m, self.dropout, self.training)
        return x + m


class Transformer(nn.Module):
    """Decoder-only transformer on token sequences of length ``n_ctx``.

    ``output = 'last'``: logits from the last position (Nanda et al. 2023: tokens a, b, '=');
    ``output = 'concat'``: the last layer's outputs at every position concatenated, then a linear
    layer (Liu et al. 2022, Sec. 4.2). Token embeddings ``embed`` N(0, embed_std^2) (default
    1 / sqrt(d_model)), learned position embeddings ``pos``, causal attention."""

    def __init__(self, vocab: int, n_ctx: int, classes: int, *, d_model=128, n_heads=4, d_mlp=512,
                 layers=1, act="relu", dropout=0.0, layer_norm=False, output="last",
                 embed_std: float | None = None, generator=None):
        super().__init__()
        if output not in ("last", "concat"):
            raise ValueError(f"output must be 'last' or 'concat', got {output!r}")
        std = embed_std if embed_std is not None else d_model ** -0.5
        self.embed = _normal((vocab, d_model), std, generator)
        self.pos = _normal((n_ctx, d_model), d_model ** -0.5, generator)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, d_mlp, act=act, dropout=dropout,
                                          layer_norm=layer_norm, generator=generator)
                                    for _ in range(layers))
        self.output = output
        width = d_model if output == "last" else n_ctx * d_model
        self.unembed = Linear(width, classes, bias=False, generator=generator)

    def forward(self, tokens):
        x = self.embed[tokens] + self.pos[: tokens.shape[-1]]
        for n, block in enumerate(self.blocks):
            x = block(x, last_only=self.output == "last" and n == len(self.blocks) - 1)
        x = x[:, -1] if self.output == "last" else x.flatten(1)
        return self.unembed(x)

    def flops_per_example(self, n_ctx: int) -> int:
        """Multiply-adds x 2 of one forward pass (matrix products only)."""
        b = self.blocks[0]
        d, dm = b.qkv.weight.shape[1], b.fc1.weight.shape[0]
        per_layer_full = n_ctx * (2 * 3 * d * d + 2 * d * d + 4 * d * dm) + 4 * n_ctx * n_ctx * d
        last = 2 * d * d + n_ctx * 4 * d * d + 2 * d * d + 4 * d * dm + 4 * n_ctx * d
        L = len(self.blocks)
        body = (L - 1) * per_layer_full + (last if self.output == "last" else per_layer_full)
        width = self.unembed.weight.shape[1]
        return int(body + 2 * width * self.unembed.weight.shape[0])
