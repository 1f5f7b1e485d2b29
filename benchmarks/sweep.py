"""Wide-network sweep: an alpha x eps x seed grid stacked into one tensor computation against a
loop over its configurations, and the per-step FLOP rate of one configuration against matmul peak.

1. Sweep (defaults: N = 100, D = 50, P = 275, alpha in (0.5, 1, 2, 4), eps in (0.05, 0.1, 0.2),
   4 seeds, 300 Euler steps of dt = 0.1, float64, quadratic target, fixed readouts). Measured side
   by side in one run, for the same 48 (alpha, eps, seed) points and steps:

   - ``stacked_s``: one ``numerics.simulate.wide.simulate`` call with the grid as tuples and
     ``seeds = 4`` (weights of shape (4, 12, N, D), one stacked computation);
   - ``loop_s``: one ``simulate`` call per point (``seeds = 1``, ``seed0`` = the seed).

   The data and initial weights depend only on the seed, so both paths compute the same
   trajectories up to summation order; the largest train/test loss difference over all records
   is reported. The goal is ``loop_s / stacked_s >= 4``. Stacking removes per-call and per-op
   overheads but not arithmetic (4 N P D flops per point and step either way), so it pays where a
   single point is overhead-bound: the same comparison is made, in the same run, for a small
   network (``--small-N/D/P``, default 20, 20, 50). The minor page faults per step are reported
   because stacked temporaries of many MB would be freshly mapped by malloc at every step (the
   simulator bounds its chunks by the number of stacked hidden units to avoid it).

2. Step throughput at N = 500, D = 100, P = 550 (one point, one seed): the time of one Euler step
   (``velocity`` and the update) and its FLOP rate against a square float64 matmul on the same
   threads. For phi(h) = h + (eps/2) h^2 the step runs in moment form (``moment_velocity``:
   about 4 (N + P) D^2 flops, all in matrix products); ``direct_form_at_square_peak_s`` is the
   time the direct form (4 N P D flops in the products (N, D) @ (D, P) and (N, P) @ (P, D), timed
   alone as the ``matmul pair``, plus 9 N P elementwise) would take even at the square matmul's rate.

The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from timing import best_time


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def sweep_ratio(N, D, P, alphas, epss, S, args) -> dict:
    """Times of the stacked sweep and of the loop over its points, their largest loss difference."""
    import numpy as np

    from grokking_workbench.numerics.simulate.wide import WideConfig, simulate

    common = dict(N=N, D=D, P=P, t_max=args.steps * args.dt, dt=args.dt, records=args.records,
                  threads=args.threads)
    runs, faults = {}, {}

    def stacked():
        f0 = _faults()
        runs["stacked"] = simulate(WideConfig(alpha=alphas, eps=epss, seeds=S, **common),
                                   progress=False)
        faults["stacked"] = _faults() - f0

    def loop():
        f0 = _faults()
        runs["loop"] = {(a, e, s): simulate(WideConfig(alpha=a, eps=e, seeds=1, seed0=s, **common),
                                            progress=False)
                        for a in alphas for e in epss for s in range(S)}
        faults["loop"] = _faults() - f0

    # warm-up: imports and first-call costs stay out of both timings
    simulate(WideConfig(**{**common, "t_max": 2 * args.dt}, alpha=alphas, eps=epss, seeds=S),
             progress=False)
    simulate(WideConfig(**{**common, "t_max": 2 * args.dt}, seeds=1), progress=False)
    stacked_s = best_time(stacked, args.repeats, warmup=False)
    loop_s = best_time(loop, args.repeats, warmup=False)
    sweep = runs["stacked"]
    diff = max(float(np.abs(sweep[name].sel(alpha=a, eps=e, seed=s).values
                            - single[name].isel(seed=0).values).max())
               for (a, e, s), single in runs["loop"].items() for name in ("train_loss", "test_loss"))
    statuses = {sweep.attrs["status"]} | {r.attrs["status"] for r in runs["loop"].values()}
    print(f"sweep {len(alphas)} alpha x {len(epss)} eps x {S} seeds = {len(alphas) * len(epss) * S} "
          f"runs, N = {N}, D = {D}, P = {P}, {args.steps} steps, {args.threads} thread(s): stacked "
          f"{stacked_s:.3f} s, loop {loop_s:.3f} s, speed-up {loop_s / stacked_s:.2f}x (goal 4x), "
          f"max |loss difference| {diff:.2e}; minor page faults per step: stacked "
          f"{faults['stacked'] // args.steps}, loop {faults['loop'] // args.steps}")
    return {"stacked_s": stacked_s, "loop_s": loop_s, "diff": diff, "statuses": statuses,
            "faults_stacked": faults["stacked"], "faults_loop": faults["loop"]}


def main(argv=None) -> dict:
    import numpy as np
    import torch

    from grokking_workbench.numerics.torch_runtime import torch_threads
    from grokking_workbench.numerics.simulate.wide import WideConfig, network, problem, simulate, velocity

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--N", type=int, default=100)
    p.add_argument("--D", type=int, default=50)
    p.add_argument("--P", type=int, default=275)
    p.add_argument("--alpha", type=float, nargs="+", default=[0.5, 1, 2, 4])
    p.add_argument("--eps", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--steps", type=int, default=300, help="Euler steps of each sweep run")
    p.add_argument("--dt", type=float, default=0.1)
    p.add_argument("--records", type=int, default=10)
    p.add_argument("--small-N", type=int, default=20, help="N of the second, small sweep")
    p.add_argument("--small-D", type=int, default=20)
    p.add_argument("--small-P", type=int, default=50)
    p.add_argument("--step-N", type=int, default=500)
    p.add_argument("--step-D", type=int, default=100)
    p.add_argument("--step-P", type=int, default=550)
    p.add_argument("--square", type=int, default=1024, help="size of the square reference matmul")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--repeats", type=int, default=3, help="repeats of each sweep (best is kept)")
    p.add_argument("--step-repeats", type=int, default=20)
    p.add_argument("--quick", action="store_true", help="50 steps, 1 repeat, 5 step repeats")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.repeats, args.step_repeats = 50, 1, 5

    alphas, epss, S = tuple(args.alpha), tuple(args.eps), args.seeds
    K = len(alphas) * len(epss)
    main_sweep = sweep_ratio(args.N, args.D, args.P, alphas, epss, S, args)
    small_sweep = sweep_ratio(args.small_N, args.small_D, args.small_P, alphas, epss, S, args)
    stacked_s, loop_s, diff = main_sweep["stacked_s"], main_sweep["loop_s"], main_sweep["diff"]
    statuses = main_sweep["statuses"] | small_sweep["statuses"]

    # 2. one Euler step of one point at the step size, against matmul throughput
    N, D, P = args.step_N, args.step_D, args.step_P
    dtype = torch.float64
    cfg = WideConfig(N=N, D=D, P=P, seeds=1, dt=args.dt, threads=args.threads)
    with torch_threads(args.threads), torch.no_grad():
        pb = problem(cfg)
        X, y, W, v0, alpha, eps = (pb[k] for k in ("X", "y", "W0", "v0", "alpha", "eps"))
        W = W.clone()
        f0 = network(pb["W0"], v0, X, eps)

        def step():
            dW, _, _ = velocity(W, v0, X, y, f0, alpha, eps)
            W.add_(dW, alpha=args.dt)

        step_s = best_time(step, args.step_repeats)
        f_start = _faults()
        step()
        step_faults = _faults() - f_start
        A, B = torch.randn(N, D, dtype=dtype), torch.randn(D, P, dtype=dtype)
        G = torch.randn(N, P, dtype=dtype)
        forward_s = best_time(lambda: A @ B, args.step_repeats)
        backward_s = best_time(lambda: G @ X[0], args.step_repeats)
        M = args.square
        Q = torch.randn(M, M, dtype=dtype)
        square_s = best_time(lambda: Q @ Q, max(3, args.step_repeats // 4))
    sim_steps = 20 if args.quick else 50
    start = time.perf_counter()
    simulate(WideConfig(N=N, D=D, P=P, seeds=1, dt=args.dt, t_max=sim_steps * args.dt, records=2,
                        threads=args.threads), progress=False)
    sim_step_s = (time.perf_counter() - start) / sim_steps

    # moment form (wide.moment_velocity): M, X M, Q, W Q are 2 N D^2 + 2 P D^2 + 2 P D^2 + 2 N D^2
    step_flops = 4 * (N + P) * D * D + 8 * N * D + 6 * P * D
    direct_flops = 4 * N * P * D + 9 * N * P + 4 * N * D
    step_rate = step_flops / step_s / 1e9
    pair_rate = 4 * N * P * D / (forward_s + backward_s) / 1e9
    square_rate = 2 * M ** 3 / square_s / 1e9
    result = {
        "benchmark": "sweep",
        "torch": torch.__version__, "threads": args.threads, "dtype": "float64",
        "N": args.N, "D": args.D, "P": args.P, "alpha": list(alphas), "eps": list(epss),
        "seeds": S, "points": K, "steps": args.steps, "dt": args.dt, "records": args.records,
        "repeats": args.repeats, "status": sorted(statuses),
        "stacked_s": round(stacked_s, 3),
        "loop_s": round(loop_s, 3),
        "speedup": round(loop_s / stacked_s, 2),
        "goal_4x_met": bool(loop_s / stacked_s >= 4),
        "max_loss_difference": diff,
        "page_faults_per_step_stacked": round(main_sweep["faults_stacked"] / args.steps),
        "page_faults_per_step_loop": round(main_sweep["faults_loop"] / args.steps),
        "small_N": args.small_N, "small_D": args.small_D, "small_P": args.small_P,
        "small_stacked_s": round(small_sweep["stacked_s"], 3),
        "small_loop_s": round(small_sweep["loop_s"], 3),
        "small_speedup": round(small_sweep["loop_s"] / small_sweep["stacked_s"], 2),
        "small_max_loss_difference": small_sweep["diff"],
        "step_N": N, "step_D": D, "step_P": P,
        "step_s": round(step_s, 6),
        "simulate_step_s": round(sim_step_s, 6),
        "step_page_faults": step_faults,
        "step_GFLOP": round(step_flops / 1e9, 4),
        "direct_form_GFLOP": round(direct_flops / 1e9, 4),
        "direct_form_at_square_peak_s": round(direct_flops / (square_rate * 1e9), 6),
        "step_GFLOPs": round(step_rate, 2),
        "matmul_forward_s": round(forward_s, 6),
        "matmul_backward_s": round(backward_s, 6),
        "matmul_pair_GFLOPs": round(pair_rate, 2),
        "square": M,
        "square_s": round(square_s, 5),
        "square_GFLOPs": round(square_rate, 2),
        "step_fraction_of_square_peak": round(step_rate / square_rate, 3),
        "step_fraction_of_matmul_pair": round(step_rate / pair_rate, 3),
        "matmul_pair_fraction_of_square_peak": round(pair_rate / square_rate, 3),
    }
    print(f"step N = {N}, D = {D}, P = {P}: {step_s * 1e3:.2f} ms ({sim_step_s * 1e3:.2f} ms in "
          f"simulate), {step_rate:.2f} GFLOP/s; matmul pair {pair_rate:.2f} GFLOP/s, "
          f"{M}^2 matmul {square_rate:.2f} GFLOP/s; step at {step_rate / square_rate:.1%} of peak")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
