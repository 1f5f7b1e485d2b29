"""Batching of hyperparameter points: an 8-point alpha sweep on shared data, batched against a
Python loop over the points.

Committee machine N = 2, gamma = 8, 10 seeds, float64, eps = 0.05, alpha in geomspace(0.1, 10, 8).
Measured side by side in one run, on the same data tensors:

- ``loop_step_s``: one Euler step for each of the 8 points, one point at a time (8 calls);
- ``batched_step_s``: one Euler step of all 8 points as one stacked computation (weights of shape
  (seeds, 8, N, D): each chunk of data is read once for all points);
- end to end through ``simulate`` for ``--steps`` steps: one sweep configuration against 8 separate
  runs (which also generate their data 8 times).

The goal is a speed-up of 4 or more. Each step costs 4 S P D N K flops whichever way it is
organised; batching removes the repeated reading of the data and the per-call overheads, so the
speed-up is largest where a single point is bound by memory or overheads and shrinks where the
stacked products become bound by arithmetic. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from timing import best_time


def main(argv=None) -> dict:
    import torch

    from grokking_workbench.numerics.simulate import data, init
    from grokking_workbench.numerics.simulate.committee import CommitteeConfig, simulate, velocity
    from grokking_workbench.numerics.torch_runtime import torch_threads

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--N", type=int, default=2)
    p.add_argument("--D", type=int, default=500)
    p.add_argument("--gamma", type=float, default=8)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--points", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=20,
                   help="Euler steps of the end-to-end runs (0: skip them)")
    args = p.parse_args(argv)

    N, D, S, K = args.N, args.D, args.seeds, args.points
    P = int(round(args.gamma * D))
    alphas = tuple(float(a) for a in np.geomspace(0.1, 10, K))
    seeds = list(range(S))
    dtype = torch.float64
    with torch_threads(args.threads), torch.no_grad():
        beta = init.target_direction(seeds, D)
        W0 = init.weights_with_overlaps(beta, np.eye(N), [0.04, -0.02] + [0.0] * (N - 2), seeds)
        X = data.gaussian_inputs(seeds, P, D)
        y = data.target_values(X, beta)
        eps = torch.full((K,), 0.05, dtype=dtype)
        alpha = torch.tensor(alphas, dtype=dtype)
        W_batch = W0.unsqueeze(1).repeat(1, K, 1, 1).contiguous()
        W_loop = [W0.unsqueeze(1).clone() for _ in range(K)]

        def batched():
            dW, _ = velocity(W_batch, X, y, alpha, eps)
            W_batch.add_(dW, alpha=0.01)

        def loop():
            for k in range(K):
                dW, _ = velocity(W_loop[k], X, y, alpha[k:k + 1], eps[k:k + 1])
                W_loop[k].add_(dW, alpha=0.01)

        batched_s = best_time(batched, args.repeats)
        loop_s = best_time(loop, args.repeats)
        # the two agree (same data, same points) up to summation order
        diff = max(float((W_batch[:, k] - W_loop[k][:, 0]).abs().max()) for k in range(K))

        if args.steps == 0:
            return _report(args, N, D, S, K, P, loop_s, batched_s, diff)
        common = dict(N=N, D=D, gamma=args.gamma, eps=0.05, A0=(0.04, -0.02) + (0.0,) * (N - 2),
                      seeds=S, t_max=args.steps * 0.1, dt=0.1, records=2, threads=args.threads)
        # warm-up: imports and first-call costs stay out of both timings
        simulate(CommitteeConfig(**{**common, "D": 10, "seeds": 1}, alpha=1.0), progress=False)
        start = time.perf_counter()
        sweep = simulate(CommitteeConfig(alpha=alphas, **common), progress=False)
        e2e_batched = time.perf_counter() - start
        start = time.perf_counter()
        singles = [simulate(CommitteeConfig(alpha=a, **common), progress=False) for a in alphas]
        e2e_loop = time.perf_counter() - start
        e2e_diff = max(float(np.abs(sweep.test_loss.sel(alpha=a).values - s.test_loss.values).max())
                       for a, s in zip(alphas, singles))
    return _report(args, N, D, S, K, P, loop_s, batched_s, diff, {
        "end_to_end_steps": args.steps,
        "end_to_end_loop_s": round(e2e_loop, 3),
        "end_to_end_batched_s": round(e2e_batched, 3),
        "speedup_end_to_end": round(e2e_loop / e2e_batched, 2),
        "end_to_end_max_test_loss_difference": e2e_diff,
    })


def _report(args, N, D, S, K, P, loop_s, batched_s, diff, extra=None) -> dict:
    result = {
        "benchmark": "simulate_batching",
        "N": N, "D": D, "gamma": args.gamma, "P": P, "seeds": S, "points": K,
        "threads": args.threads, "dtype": "float64",
        "loop_step_s": round(loop_s, 5),
        "batched_step_s": round(batched_s, 5),
        "speedup_step": round(loop_s / batched_s, 2),
        "max_weight_difference": diff,
        **(extra or {}),
        "goal_4x_met": bool(loop_s / batched_s >= 4),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
