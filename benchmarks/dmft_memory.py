"""Benchmark: peak memory of the DMFT march, measured and accounted, up to t_max = 10^4 (DMFT
paper setting: N = 2, alpha = 0.5, eps = 0.05, A0 = (0.04, -0.02), C0 = I, gamma = 8, default
grid, 8000 samples in 4 replicas, step-halving partner, 201 two-time output nodes).

A march holds, per replica, the per-sample histories (the w-recursion's 4S columns, the three
gradient paths, the probes and source noise: O(T N S)), its one-time arrays (O(T N^2)) and the
two-time fields Cg and Rh: (T+1)^2 N^2 each when every node is kept, or only their blocks
between the output nodes (``solver.output_nodes``, beyond the dense limit). Replicas and the
partner run one after another, so the peak is one replica's state plus what the solver keeps.

1. Accounting: the bytes of every array of one replica's march state (built for the grid of
   t_max, the arrays allocated but not filled), with the fields on output nodes and with full
   fields.
2. Check of the accounting: the peak resident memory of a real solve at a smaller t_max (run in
   a subprocess, ``resource.getrusage``) against the accounting plus the resident memory of a
   process that only imports the solver.

Prints a final JSON line. Usage: python benchmarks/dmft_memory.py [--quick]
"""

import json
import subprocess
import sys


BASE = dict(A0=(0.04, -0.02), alpha=0.5, eps=0.05, gamma=8.0)
POINTS = 201


def _nbytes(obj, seen=None) -> int:
    """Bytes of the numpy arrays reachable from ``obj`` through attributes, dicts and sequences."""
    import numpy as np

    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return obj.nbytes if obj.base is None else 0
    if isinstance(obj, dict):
        return sum(_nbytes(v, seen) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(v, seen) for v in obj)
    if hasattr(obj, "__dict__") and type(obj).__module__.startswith("grokking_workbench"):
        return sum(_nbytes(v, seen) for v in vars(obj).values())
    return 0


def accounting(t_max: float, samples: int, points: int | None) -> dict:
    """Bytes of one replica's march state and noise (fine grid) for this t_max."""
    from grokking_workbench.numerics.dmft import solver, sweep as sw

    cfg = solver.DMFTConfig(t_max=t_max, samples=samples, **BASE)
    p = cfg.problem()
    noise = sw.Noise.draw(samples // cfg.replicas, p, 0)
    nodes = solver.output_nodes(cfg, p.T, points)
    state = sw._SweepState(p, noise, None, cfg.estimator, nodes)
    fields = _nbytes(state.estimates)
    total = _nbytes(state) + _nbytes(noise)
    return {"T": p.T, "state_bytes": total, "fields_bytes": fields,
            "fields_on_output_nodes": nodes is not None}


def measured_peak(t_max: float, samples: int, points: int | None) -> dict:
    """Peak resident memory (bytes) of a solve in a fresh process, and of one that only imports."""
    code = ("import resource\n"
            "from grokking_workbench.numerics.dmft import solver\n"
            "{solve}\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)")
    solve = (f"solver.solve(solver.DMFTConfig(t_max={t_max}, samples={samples}, **{BASE!r}), "
             f"two_time_points={points!r})")
    out = {}
    for key, body in (("solve", solve), ("imports", "")):
        run = subprocess.run([sys.executable, "-c", code.format(solve=body)],
                             capture_output=True, text=True, check=True)
        out[key] = int(run.stdout.split()[-1])
    return out


def main(quick: bool):
    gib = 2.0 ** 30
    check_t, check_samples = (200.0, 400) if quick else (1500.0, 2000)
    out = {"benchmark": "dmft_memory", "gamma": BASE["gamma"], "two_time_points": POINTS}
    acc = accounting(check_t, check_samples, POINTS)
    peak = measured_peak(check_t, check_samples, POINTS)
    out["check"] = {"t_max": check_t, "samples": check_samples, "T": acc["T"],
                    "measured_peak_gib": peak["solve"] / gib, "imports_gib": peak["imports"] / gib,
                    "accounted_gib": (acc["state_bytes"] + peak["imports"]) / gib}
    out["check"]["measured_over_accounted"] = peak["solve"] / (acc["state_bytes"] + peak["imports"])
    for t_max in ((1000.0,) if quick else (2000.0, 10000.0)):
        for label, points in (("output_nodes", POINTS), ("every_node", None)):
            a = accounting(t_max, 8000, points)
            out[f"t{int(t_max)}_{label}"] = {"T": a["T"], "fields_on_output_nodes": a["fields_on_output_nodes"],
                                              "fields_gib": a["fields_bytes"] / gib,
                                              "peak_gib": (a["state_bytes"] + peak["imports"]) / gib}
    top = out[f"t{1000 if quick else 10000}_output_nodes"]["peak_gib"]
    out["peak_gib_at_largest_t_max"] = top
    out["under_8_gib"] = top < 8.0
    print(json.dumps(out))


if __name__ == "__main__":
    main("--quick" in sys.argv)
