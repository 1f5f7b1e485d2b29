"""Throughput of the committee-machine simulator: time per Euler step against memory bandwidth.

Configuration of DMFT paper Fig. 2: N = 2, D = 3500, gamma = 8 (P = 28000), 10 seeds, float64,
so the data matrix (10 x 28000 x 3500 doubles, 7.8 GB) dominates. An Euler step needs the
preactivations W X^T and the gradient G^T X; the simulator streams the data in row chunks that stay
in cache, so a step reads the data once. Measured side by side in one run:

- ``stream_s``: one pass over the data matrix (a sum), the floor for any step;
- ``step_s``: one Euler step of ``numerics.simulate.committee`` (velocity and update);
- ``step_unchunked_s``: the same step as two whole-matrix products (the data read twice);

and their ratios. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import time

from timing import best_time


def main(argv=None) -> dict:
    import torch

    from grokking_workbench.numerics.simulate import data, init
    from grokking_workbench.numerics.simulate.committee import velocity
    from grokking_workbench.numerics.torch_runtime import default_chunk, torch_threads

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--N", type=int, default=2)
    p.add_argument("--D", type=int, default=3500)
    p.add_argument("--gamma", type=float, default=8)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)

    dtype = getattr(torch, args.dtype)
    N, D, S = args.N, args.D, args.seeds
    P = int(round(args.gamma * D))
    seeds = list(range(S))
    with torch_threads(args.threads), torch.no_grad():
        start = time.perf_counter()
        beta = init.target_direction(seeds, D, dtype=dtype)
        W = init.weights_with_overlaps(beta, torch.eye(N).numpy(), [0.04, -0.02][:N] + [0.0] * (N - 2),
                                       seeds).unsqueeze(1).contiguous()
        X = data.gaussian_inputs(seeds, P, D, dtype=dtype)
        y = data.target_values(X, beta)
        setup_s = time.perf_counter() - start
        alpha = torch.tensor([0.5], dtype=dtype)
        eps = torch.tensor([0.05], dtype=dtype)
        dt = 0.1

        def stream():
            return float(X.sum())

        def step():
            dW, _ = velocity(W, X, y, alpha, eps)
            W.add_(dW, alpha=dt)

        def step_unchunked():
            dW, _ = velocity(W, X, y, alpha, eps, chunk=P)
            W.add_(dW, alpha=dt)

        stream_s = best_time(stream, args.repeats)
        step_s = best_time(step, args.repeats)
        unchunked_s = best_time(step_unchunked, args.repeats)
    nbytes = X.element_size() * X.numel()
    result = {
        "benchmark": "simulate_throughput",
        "N": N, "D": D, "gamma": args.gamma, "P": P, "seeds": S, "dtype": args.dtype,
        "threads": args.threads, "chunk_rows": default_chunk(D, P),
        "data_GB": round(nbytes / 1e9, 3),
        "setup_s": round(setup_s, 2),
        "stream_s": round(stream_s, 4),
        "stream_GB_per_s": round(nbytes / 1e9 / stream_s, 2),
        "step_s": round(step_s, 4),
        "step_unchunked_s": round(unchunked_s, 4),
        "step_over_stream": round(step_s / stream_s, 2),
        "unchunked_over_stream": round(unchunked_s / stream_s, 2),
        "unchunked_over_step": round(unchunked_s / step_s, 2),
        "steps_per_unit_time_dt0.1_s": round(step_s / 0.1, 3),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
