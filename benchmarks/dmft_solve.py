"""Benchmark: the DMFT solve of the Fig. 2 configuration (N = 2, alpha = 0.5, eps = 0.05,
A0 = (0.04, -0.02), C0 = I, gamma = 8, 8000 samples, t <= 60, dt = 0.25), three ways in one run:

- march (default): one causal sweep, the exact fixed point for its random numbers;
- the paper's scheme (DMFT paper A.6): start from the online limit, damping 1/2, iterate until the
  residual is below 0.1 Monte-Carlo standard errors (the paper fixes 20-50 iterations);
- safeguarded Anderson acceleration of the same iteration.

Reports wall time, fixed-point map evaluations, the final residual (the march's measured by one
extra map evaluation), the per-evaluation cost split into sampling, response estimation and the
linear (w-process) part, and the ratio of the DMFT solve to the simulation ensemble it replaces
(10 datasets at D = 1000, gamma = 8, dt = 0.1, t <= 60), measured on the same machine.
Prints a final line of JSON. Usage: python benchmarks/dmft_solve.py [--quick]
"""

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(quick: bool):
    import numpy as np

    from grokking_workbench.numerics.dmft import solver, sweep as sw

    t_max, samples, D = (20.0, 2000, 500) if quick else (60.0, 8000, 1000)
    base = dict(A0=(0.04, -0.02), alpha=0.5, eps=0.05, gamma=8.0, t_max=t_max, dt=0.25, samples=samples)
    out = {"benchmark": "dmft_solve", "t_max": t_max, "samples": samples, "dt": 0.25, "gamma": 8.0}

    t0 = time.perf_counter()
    march = solver.solve(solver.DMFTConfig(**base))
    out["march_s"] = time.perf_counter() - t0
    cfg = march.config
    p = cfg.problem()
    noise = sw.Noise.draw(cfg.samples, p, cfg.seed)
    check = sw.sweep(p, noise, frozen=march.result.fields)
    out["march_residual"] = solver.residual(check.fields, march.result.fields, check.noise)
    out["march_map_evaluations"] = 1
    out["per_evaluation_split_s"] = {k: round(v, 3) for k, v in march.result.seconds.items()}

    t0 = time.perf_counter()
    paper = solver.solve(solver.DMFTConfig(**base, method="iterate", damping=0.5, tol=0.1, max_iter=60))
    out["paper_s"] = time.perf_counter() - t0
    out["paper_map_evaluations"] = paper.map_evaluations + 1   # + the online-limit first iterate
    out["paper_residuals"] = [round(r, 4) for r in paper.residuals]
    out["paper_status"] = paper.status

    t0 = time.perf_counter()
    anders = solver.solve(solver.DMFTConfig(**base, method="iterate", anderson=True, tol=0.1, max_iter=60))
    out["anderson_s"] = time.perf_counter() - t0
    out["anderson_map_evaluations"] = anders.map_evaluations + 1
    out["anderson_status"] = anders.status

    out["evaluations_ratio_paper_over_march"] = out["paper_map_evaluations"] / 1
    out["time_ratio_paper_over_march"] = out["paper_s"] / out["march_s"]
    out["max_abs_A_difference_paper_vs_march"] = float(np.max(np.abs(paper.result.A - march.result.A)))

    from grokking_workbench.numerics.simulate.committee import CommitteeConfig, simulate

    t0 = time.perf_counter()
    simulate(CommitteeConfig(N=2, D=D, alpha=0.5, eps=0.05, gamma=8.0, A0=(0.04, -0.02), t_max=t_max,
                             dt=0.1, seeds=10, records=40), progress=False)
    out["simulation_ensemble_s"] = time.perf_counter() - t0
    out["simulation_D"] = D
    out["dmft_over_simulation_time"] = out["march_s"] / out["simulation_ensemble_s"]
    for k, v in list(out.items()):
        if isinstance(v, float):
            out[k] = round(v, 4)
    print(f"march: {out['march_s']:.1f} s, 1 map evaluation, residual {out['march_residual']:.2e}")
    print(f"paper scheme: {out['paper_s']:.1f} s, {out['paper_map_evaluations']} evaluations ({paper.status})")
    print(f"Anderson: {out['anderson_s']:.1f} s, {out['anderson_map_evaluations']} evaluations ({anders.status})")
    print(f"simulation ensemble (10 x D = {D}): {out['simulation_ensemble_s']:.1f} s")
    print(json.dumps(out))


if __name__ == "__main__":
    main("--quick" in sys.argv)
