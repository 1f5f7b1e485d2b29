"""Training throughput of numerics.networks: the transformer at the paper's size, the modular MLP,
batched (vmap over seeds x alpha) against a loop, and the step's FLOP rate against matmul peak.

1. Transformer step (Nanda et al. 2023 size: p = 113, d_model = 128, 4 heads, MLP 512, one layer,
   30 % of the 12,769 pairs = 3,831 examples, full batch, AdamW, one member): steps per second,
   and the FLOP rate of the step, counted as 3 x the forward pass's matrix-product flops
   (``Transformer.flops_per_example``; the backward pass is two products per forward product),
   against a square float32 matmul (``--square``) measured in the same run on the same threads.
   Goal: >= 50 % of that peak.
2. Modular MLP step (p = 23, N = 100, 476 examples, full-batch GD, one member): steps per second.
3. Batched against looped: ``--seeds`` x ``--alphas`` members of the modular MLP (and of a small
   transformer) trained ``--steps`` steps as one vmapped run, and one run per member; the time of
   each and the largest difference of the recorded losses.

The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import time

from timing import best_time


def modular_mlp(p=23):
    from grokking_workbench.numerics.networks import data, models
    from grokking_workbench.numerics.networks import train as T

    d = T.stack_data([data.modular_addition(p, 0.9, seed=0, one_hot=True)])

    def make(g):
        return models.MLP((2 * p, 100, p), activation="relu", bias=False, stds=(1.0, 1.0),
                          readout_scale=0.01, generator=g)
    return d, make, T.TrainConfig(optimizer="gd", lr=100.0, loss="mse"), p


def transformer(p=113, frac=0.3, d_model=128):
    import torch

    from grokking_workbench.numerics.networks import data, models
    from grokking_workbench.numerics.networks import train as T

    s = data.modular_addition(p, frac, seed=0)
    for name in ("x_train", "x_test"):
        x = getattr(s, name)
        setattr(s, name, torch.cat([x, torch.full((x.shape[0], 1), p)], 1))
    d = T.stack_data([s])

    def make(g):
        return models.Transformer(p + 1, 3, p, d_model=d_model, n_heads=4, d_mlp=4 * d_model,
                                  generator=g)
    cfg = T.TrainConfig(optimizer="adamw", lr=1e-3, betas=(0.9, 0.98), weight_decay=1.0,
                        loss="ce", lr_alpha_power=1.0)
    return d, make, cfg, p


def step_time(d, make, cfg, p, repeats, members=None):
    from grokking_workbench.numerics.networks import train as T

    tr = T.Trainer(make, d, cfg, members or [T.Member()], classes=p)
    return best_time(tr.step, repeats), tr


def batched_vs_loop(d, make, cfg, p, seeds, alphas, steps):
    import dataclasses

    import numpy as np

    from grokking_workbench.numerics.networks import train as T

    cfg = dataclasses.replace(cfg, steps=steps, records=5)
    members = [T.Member(seed=s, alpha=a) for a in alphas for s in range(seeds)]
    out = {}
    start = time.perf_counter()
    out["batched"] = T.train(make, d, cfg, members, classes=p)
    batched_s = time.perf_counter() - start
    start = time.perf_counter()
    loop = [T.train(make, d, cfg, [m], classes=p) for m in members]
    loop_s = time.perf_counter() - start
    diff = max(float(np.nanmax(np.abs(out["batched"][k][i] - r[k][0]) / np.abs(r[k][0]).clip(1e-12)))
               for i, r in enumerate(loop) for k in ("train_loss", "test_loss"))
    return batched_s, loop_s, diff


def main(argv=None) -> dict:
    import torch

    p_ = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p_.add_argument("--threads", type=int, default=1)
    p_.add_argument("--square", type=int, default=1024)
    p_.add_argument("--repeats", type=int, default=5)
    p_.add_argument("--seeds", type=int, default=4)
    p_.add_argument("--alphas", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    p_.add_argument("--steps", type=int, default=200)
    p_.add_argument("--device", default="cpu")
    p_.add_argument("--quick", action="store_true", help="2 repeats, 50 steps")
    args = p_.parse_args(argv)
    if args.quick:
        args.repeats, args.steps = 2, 50
    torch.set_num_threads(args.threads)

    d, make, cfg, p = transformer()
    cfg = cfg.__class__(**{**cfg.__dict__, "device": args.device})
    t_step, tr = step_time(d, make, cfg, p, args.repeats)
    n = d["x_train"].shape[1]
    net = make(torch.Generator().manual_seed(0))
    flops = 3 * net.flops_per_example(3) * n
    rate = flops / t_step / 1e9
    M = args.square
    A = torch.randn(M, M, device=args.device)
    peak = 2 * M ** 3 / best_time(lambda: A @ A, max(3, args.repeats)) / 1e9
    print(f"transformer p = 113, d = 128, {n} examples: {t_step * 1e3:.1f} ms/step "
          f"({1 / t_step:.2f} steps/s), {rate:.1f} GFLOP/s = {rate / peak:.1%} of the "
          f"{M}^3 float32 matmul ({peak:.1f} GFLOP/s)")

    dm, makem, cfgm, pm = modular_mlp()
    t_mlp, _ = step_time(dm, makem, cfgm, pm, args.repeats * 20)
    print(f"modular MLP p = 23, N = 100: {t_mlp * 1e3:.3f} ms/step ({1 / t_mlp:.0f} steps/s)")

    b_s, l_s, diff = batched_vs_loop(dm, makem, cfgm, pm, args.seeds, tuple(args.alphas), args.steps)
    K = args.seeds * len(args.alphas)
    print(f"modular MLP, {K} members x {args.steps} steps: batched {b_s:.2f} s, loop {l_s:.2f} s, "
          f"speed-up {l_s / b_s:.2f}x, max relative loss difference {diff:.1e}")
    dt, maket, cfgt, pt = transformer(p=31, frac=0.6, d_model=32)
    tb_s, tl_s, tdiff = batched_vs_loop(dt, maket, cfgt, pt, args.seeds, tuple(args.alphas),
                                        max(10, args.steps // 4))
    print(f"small transformer (p = 31, d = 32), {K} members: batched {tb_s:.2f} s, loop "
          f"{tl_s:.2f} s, speed-up {tl_s / tb_s:.2f}x, max relative loss difference {tdiff:.1e}")
    result = {
        "benchmark": "networks", "torch": torch.__version__, "threads": args.threads,
        "device": args.device, "dtype": "float32",
        "transformer_examples": n, "transformer_step_s": round(t_step, 5),
        "transformer_steps_per_s": round(1 / t_step, 2),
        "transformer_step_GFLOP": round(flops / 1e9, 3),
        "transformer_GFLOPs": round(rate, 2), "square": M, "square_GFLOPs": round(peak, 2),
        "transformer_fraction_of_peak": round(rate / peak, 3),
        "goal_50pct_met": bool(rate / peak >= 0.5),
        "mlp_step_s": round(t_mlp, 6), "mlp_steps_per_s": round(1 / t_mlp, 1),
        "members": K, "steps": args.steps,
        "mlp_batched_s": round(b_s, 3), "mlp_loop_s": round(l_s, 3),
        "mlp_speedup": round(l_s / b_s, 2), "mlp_max_rel_loss_difference": diff,
        "small_transformer_batched_s": round(tb_s, 3), "small_transformer_loop_s": round(tl_s, 3),
        "small_transformer_speedup": round(tl_s / tb_s, 2),
        "small_transformer_max_rel_loss_difference": tdiff,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
