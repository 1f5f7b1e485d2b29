"""Benchmark: the DMFT to t = 2000 on its non-uniform grid against a uniform grid of the same
accuracy (DMFT paper setting: N = 2, alpha = 0.5, eps = 0.05, A0 = (0.04, -0.02), C0 = I,
gamma = 8, 8000 samples).

1. The default solve (non-uniform second-order grid, 4 replicas, step-halving partner) to
   t_max: wall time (measured), its largest discretisation-error estimate of the test loss, and
   peak memory of this process (resource.getrusage).
2. Uniform grids of the same scheme (same replicas and partner) at steps 0.4, 0.2, 0.1 to
   t_calib = 60, where the early fast fit sets the accuracy: the largest step-halving estimate of
   the test-loss error beyond its own Monte-Carlo noise, max(disc - 2 disc_se, 0), fitted to
   c dt^2. The uniform step of the same accuracy as the non-uniform grid (the same measure over
   t <= t_calib) is dt_u = sqrt(E / c).
3. The cost of that uniform grid to t_max, extrapolated (not run: it would take hours) from the
   measured cost of uniform solves at two lengths, fitted to a T^2 + b T^3 in the number of
   steps, times the 1.25 of the replicas' step-halving partner.

Prints a final JSON line with the ratio (goal >= 10). Usage: python benchmarks/dmft_long.py [--quick]
"""

import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(quick: bool):
    import numpy as np

    from grokking_workbench.numerics.dmft import solver

    t_max, samples, t_calib = (300.0, 2000, 30.0) if quick else (2000.0, 8000, 60.0)
    base = dict(A0=(0.04, -0.02), alpha=0.5, eps=0.05, gamma=8.0, samples=samples)
    out = {"benchmark": "dmft_long", "t_max": t_max, "samples": samples, "gamma": 8.0}

    t0 = time.perf_counter()
    sol = solver.solve(solver.DMFTConfig(t_max=t_max, **base))
    out["nonuniform_s"] = time.perf_counter() - t0
    out["nonuniform_steps"] = sol.result.grid.T
    out["nonuniform_grid"] = sol.result.grid.describe()
    out["status"] = sol.status
    disc = sol.errors["test_loss_disc"]
    mc = sol.errors["test_loss_mc"]
    early = sol.result.grid.t <= t_calib
    beyond = lambda s_: np.maximum(s_.errors["test_loss_disc"] - 2 * s_.errors["test_loss_disc_se"], 0.0)  # noqa: E731
    out["nonuniform_max_disc_error"] = float(beyond(sol)[early].max())
    out["nonuniform_max_disc_error_all_t"] = float(disc.max())
    out["disc_below_mc_fraction"] = float(np.mean(disc[1:] < mc[1:]))
    # the step-halving difference carries Monte-Carlo noise of its own (disc_se): beyond 2 of its SE
    corrected = np.maximum(disc - 2 * sol.errors["test_loss_disc_se"], 0.0)
    out["disc_beyond_noise_below_mc_fraction"] = float(np.mean(corrected[1:] < mc[1:]))
    out["peak_memory_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(json.dumps({k: out[k] for k in ("nonuniform_s", "nonuniform_steps", "status", "peak_memory_gb")}),
          flush=True)

    # accuracy of uniform grids in the early phase, which sets the step a uniform grid needs
    steps, errors = (0.4, 0.2, 0.1), []
    for dt in steps:
        u = solver.solve(solver.DMFTConfig(t_max=t_calib, dt=dt, growth=0.0, **base))
        errors.append(float(beyond(u).max()))
    resolved = [(h, e) for h, e in zip(steps, errors) if e > 0]
    c = float(np.exp(np.mean([np.log(e) - 2 * np.log(h) for h, e in resolved]))) if resolved else float("nan")
    dt_u = float(np.sqrt(out["nonuniform_max_disc_error"] / c))
    out["uniform_errors"] = dict(zip(map(str, steps), errors))
    out["uniform_step_same_accuracy"] = dt_u

    # cost of uniform grids: a T^2 + b T^3 fitted to two measured solves (same replicas, no partner)
    lengths, seconds = (40.0, 80.0) if quick else (80.0, 160.0), []
    dt_m = 0.1
    for tm in lengths:
        t0 = time.perf_counter()
        solver.solve(solver.DMFTConfig(t_max=tm, dt=dt_m, growth=0.0, error_estimate=False, **base))
        seconds.append(time.perf_counter() - t0)
    T = np.array(lengths) / dt_m
    a, b = np.linalg.solve(np.array([[T[0] ** 2, T[0] ** 3], [T[1] ** 2, T[1] ** 3]]), np.array(seconds))
    a, b = max(a, 0.0), max(b, 0.0)
    T_u = t_max / dt_u
    out["uniform_steps"] = T_u
    out["uniform_s_extrapolated"] = 1.25 * (a * T_u ** 2 + b * T_u ** 3)
    out["uniform_cost_fit"] = {"T": T.tolist(), "seconds": seconds, "a": a, "b": b}
    out["speedup"] = out["uniform_s_extrapolated"] / out["nonuniform_s"]
    out["goal"] = 10.0
    out["uniform_cost"] = "extrapolated from measured T^2 + T^3 scaling (not run)"
    print(json.dumps(out))


if __name__ == "__main__":
    main("--quick" in sys.argv)
