"""Benchmark: an 11 x 11 phase-diagram grid (decoder lr x weight decay) with 3 seeds per point,
trained as one batched computation against a loop over the configurations, in the same run.

Both paths train the same 363 configurations of the toy addition model (Liu et al. 2022,
Sec. 4.1: p = 10, 45/10 split, 1-D embeddings, the paper's decoder 1-200-200-30 with tanh; the
defaults of ``numerics.simulate.toy_addition.ModelSpec``) for the same number of steps. The loop uses one
nn.Module and torch.optim Adam/AdamW per configuration, which is what a per-configuration sweep
does. The last line printed is JSON with the wall times and the speed-up.

    python benchmarks/phase_diagram.py [--steps 200] [--loop-configs 363] [--threads 1]

``--loop-configs`` below 363 times the loop on a prefix of the grid and extrapolates linearly in
the number of configurations (marked in the JSON); the default times all of them.

At the paper's decoder width (200) a step is dominated by the 200 x 200 matrix products, which
batching does not make cheaper: on one CPU core the loop spends ~1.0 ms per configuration and
step, of which ~0.25 ms is these products, and the batched path ~0.6 ms (products ~0.25 ms,
elementwise work and the optimisers the rest), so the speed-up is about 1.8x, not the ~5x
measured at width 64 where the loop's per-call overhead dominated. The embedding differences in
the JSON are float32 rounding amplified by 200 Adam steps at learning rates up to 1e-2 (the
float64 agreement is tested in tests/test_toy_addition.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--loop-configs", type=int, default=363)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch default)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import torch

    from grokking_workbench.numerics import representation as rep
    from grokking_workbench.numerics.simulate import toy_addition as ta

    threads = args.threads or None
    t_total = time.perf_counter()
    lrs = np.geomspace(1e-5, 1e-2, 11)
    wds = np.linspace(0.0, 10.0, 11)
    W, L, S = np.meshgrid(wds, lrs, np.arange(3), indexing="ij")
    masks = rep.sample_splits(10, 45, 3, np.random.default_rng(0))[S.ravel()]
    spec = ta.ModelSpec(p=10)
    batch = ta.Batch.make(embedding_lr=1e-3, lr=L.ravel(), weight_decay=W.ravel(), seed=S.ravel(),
                          train_mask=masks)
    B = batch.size

    t0 = time.perf_counter()
    res = ta.train(spec, batch, args.steps, eval_every=args.steps, device=args.device, num_threads=threads)
    t_batched = time.perf_counter() - t0
    logging.info("batched: %d configurations x %d steps in %.2f s", B, args.steps, t_batched)

    n_loop = min(args.loop_configs, B)
    sub = ta.Batch(batch.embedding_lr[:n_loop], batch.lr[:n_loop], batch.weight_decay[:n_loop],
                   batch.seed[:n_loop], batch.train_mask[:n_loop])
    t0 = time.perf_counter()
    ref = ta.train_loop(spec, sub, args.steps, device=args.device, num_threads=threads)
    t_loop_measured = time.perf_counter() - t0
    t_loop = t_loop_measured * B / n_loop
    logging.info("loop: %d configurations x %d steps in %.2f s", n_loop, args.steps, t_loop_measured)

    # same training: final embeddings agree to float32 rounding
    diff = float(np.abs(res.extra["params"]["embedding"][:n_loop] - ref["embeddings"]).max())
    print(json.dumps({
        "benchmark": "phase_diagram", "grid": "11x11", "seeds": 3, "configurations": B,
        "width": spec.width, "depth": spec.depth, "d_target": spec.d_target,
        "steps": args.steps, "device": args.device, "threads": torch.get_num_threads() if threads is None else threads,
        "batched_s": round(t_batched, 3), "loop_s": round(t_loop, 3),
        "loop_extrapolated": n_loop < B, "loop_configs_timed": n_loop,
        "speedup": round(t_loop / t_batched, 2), "max_embedding_difference": diff,
        "total_wall_s": round(time.perf_counter() - t_total, 3)}))


if __name__ == "__main__":
    main()
