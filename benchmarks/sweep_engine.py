"""Benchmark of the sweep layer (numerics.sweep), measured side by side in one run.

1. Parallel speed-up: a CPU-bound grid (``numerics.sweep.demo``: pure-Python cells of about
   ``--cell-seconds`` each, ``--cells`` of them, one per task) on a LocalCluster of ``--workers``
   worker processes against the same grid in this process. ``speedup`` = in-process wall time /
   cluster wall time (the cluster's start-up included; ``speedup_without_startup`` excludes it).
   Goal: >= 1.7 on 2 cores. On a machine busy with other work the ratio measures the share of
   the cores the sweep gets, not the layer.
2. Per-task overhead: ``--tiny`` cells that do nothing, one per task, on the running cluster:
   (wall time) / (number of tasks), including the cell files written. Goal: < 50 ms.
3. Early exit on the Fig. 6b grid (``experiments.phase_diagram``): the panel's cells (decoder lr
   x weight decay, ``--pd-grid`` points per axis) trained for ``--pd-steps`` steps in blocks,
   once with early exit and once without, in process; ``early_exit_saving`` = 1 - (time with)
   / (time without), and the share of cell-steps saved. The default runs the quick
   configuration's 10x clock (learning rates x10, 3,000 steps), whose phases match the full
   budget's; ``--pd-grid 11 --pd-steps 100000 --pd-clock 1`` is the paper's grid.

    python benchmarks/sweep_engine.py [--workers 2] [--cells 16] [--cell-seconds 0.5]
        [--tiny 200] [--pd-grid 4] [--pd-steps 3000] [--pd-clock 10] [--skip-pd]

The last line printed is JSON.

Measured on the 2-core development machine with the other long runs paused (load average 2.3-3.6,
still falling from the runs before): with the defaults (cells of 0.5 s), in process 8.0 s,
2-worker cluster 5.1 s (start-up 0.46 s): speed-up 1.58 (1.74 without start-up), identical
results; per-task overhead 3.2 ms; early exit on the 4 x 4 quick Fig. 6b grid (blocks of 8,
3,000 steps): 22 % of the cell-steps saved but only 6.9 % of the wall time, because a block runs
until its last cell is decided and a smaller batch costs more per configuration and step (0.41
ms per cell-step without early exit, 0.49 with). With ``--cells 32 --cell-seconds 1``: in
process 33.7 s, cluster 19.9 s, speed-up 1.69 (1.72 without start-up), overhead 2.5 ms.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import tempfile
import time


def calibrate(seconds: float) -> int:
    """Iterations of a demo cell that take about ``seconds`` here."""
    from grokking_workbench.numerics.sweep import demo

    n = 20000
    start = time.perf_counter()
    demo.cell(demo.DemoConfig(iterations=n), 0.5, 0)
    per = (time.perf_counter() - start) / n
    return max(1, int(seconds / per))


def parallel(args) -> dict:
    from distributed import Client, LocalCluster

    from grokking_workbench.numerics import sweep
    from grokking_workbench.numerics.sweep import demo

    iterations = calibrate(args.cell_seconds)
    grid = demo.sweep([0.01 * k for k in range(args.cells)], [0], demo.DemoConfig(iterations=iterations))
    with tempfile.TemporaryDirectory() as d1:
        t0 = time.perf_counter()
        local = sweep.run(grid, store=f"{d1}/a", workers=1)
        t_in = time.perf_counter() - t0
        t0 = time.perf_counter()
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=":0") as cluster, Client(cluster) as client:
            t_start = time.perf_counter() - t0
            client.run(lambda: None)
            t1 = time.perf_counter()
            remote = sweep.run(grid, store=f"{d1}/b", scheduler=cluster.scheduler_address)
            t_run = time.perf_counter() - t1
            t_cluster = time.perf_counter() - t0
            tiny = demo.sweep(list(range(args.tiny)), [0], demo.DemoConfig(iterations=0), name="tiny")
            t1 = time.perf_counter()
            sweep.run(tiny, store=f"{d1}/c", scheduler=cluster.scheduler_address)
            overhead = (time.perf_counter() - t1) / args.tiny
    same = bool((local.z.values == remote.z.values).all())
    return {"cells": args.cells, "cell_seconds": round(t_in / args.cells, 3), "workers": args.workers,
            "in_process_s": round(t_in, 2), "cluster_s": round(t_cluster, 2),
            "cluster_startup_s": round(t_start, 2), "speedup": round(t_in / t_cluster, 2),
            "speedup_without_startup": round(t_in / t_run, 2), "same_results": same,
            "tiny_tasks": args.tiny, "per_task_overhead_ms": round(1000 * overhead, 1)}


def early_exit(args) -> dict:
    import numpy as np

    from grokking_workbench.experiments import phase_diagram as pd
    from grokking_workbench.numerics import sweep

    g, c = args.pd_grid, args.pd_clock
    panel = pd.Panel("6b", ys=tuple(float(x) for x in np.linspace(0, 10, g)),
                     lrs=tuple(float(x) * c for x in np.geomspace(1e-4, 1e-2, g)),
                     embedding_lr=1e-3 * c, pairs=1, val_best_min=0.9, val_best_max=0.9)
    base = pd.Config(panels=(panel,), steps=args.pd_steps, delay=max(1, 1000 * args.pd_steps // 100000),
                     eval_every=max(1, 20 // c) if c > 1 else 20, block_size=args.pd_block)
    out = {}
    for mode in (True, False):
        config = dataclasses.replace(base, early_exit=mode)
        with tempfile.TemporaryDirectory() as d, sweep.settings(store_root=d, workers=1):
            t0 = time.perf_counter()
            ds = pd.run(config)
            out[mode] = (time.perf_counter() - t0, ds)
    (t_on, on), (t_off, off) = out[True], out[False]
    steps_on = float(on.stop_step_6b.sum())
    steps_off = float(off.stop_step_6b.sum())
    same = bool((on.phase_6b.values == off.phase_6b.values).all())
    n = int(on.phase_6b.size)
    return {"pd_cells": n, "pd_steps": args.pd_steps, "pd_clock": c, "pd_block": args.pd_block,
            "with_early_exit_s": round(t_on, 1), "without_s": round(t_off, 1),
            "early_exit_saving": round(1 - t_on / t_off, 3),
            "cell_steps_saved": round(1 - steps_on / steps_off, 3), "same_phases": same,
            "ms_per_cell_step_without": round(1000 * t_off / steps_off, 3),
            "ms_per_cell_step_with": round(1000 * t_on / steps_on, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cells", type=int, default=16)
    ap.add_argument("--cell-seconds", type=float, default=0.5)
    ap.add_argument("--tiny", type=int, default=200)
    ap.add_argument("--pd-grid", type=int, default=4)
    ap.add_argument("--pd-steps", type=int, default=3000)
    ap.add_argument("--pd-clock", type=int, default=10, help="learning rates x this (steps / this)")
    ap.add_argument("--pd-block", type=int, default=8)
    ap.add_argument("--skip-pd", action="store_true", help="skip part 3 (the toy-model grid)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()
    result = {"benchmark": "sweep_engine", **parallel(args)}
    if not args.skip_pd:
        result.update(early_exit(args))
    import os

    result.update(total_wall_s=round(time.perf_counter() - t0, 1),
                  load_average=[round(x, 1) for x in os.getloadavg()], cores=os.cpu_count())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
