"""Wall and CPU time of a quick experiment alone and beside CPU-bound competitors.

Runs ``grokking run NAME --quick`` (default ``grokking-curve``) in a subprocess twice, side by
side in one run of this script: alone, then with ``--competitors`` processes (default: one per
core available to this process) that spin in pure Python for as long as it runs. Wall time and
CPU time (user + system of the run's process tree, from ``os.wait4``) are measured for both.

Thread spinning or oversubscription shows as CPU time that grows under contention while the work
stays the same; the goal is ``cpu_ratio`` (CPU time under contention / alone) below 1.5. The last
line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

SPIN = "import time\nend = time.time() + {seconds}\nx = 0\nwhile time.time() < end:\n    x += 1\n"


def run_once(name: str, out_dir: str, env: dict) -> dict:
    """Wall and CPU seconds of one ``grokking run NAME --quick`` (its whole process tree)."""
    cmd = [sys.executable, "-m", "grokking_workbench.experiments.cli", "run", name, "--quick",
           "--out-dir", out_dir, "--overwrite"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {proc.returncode}:\n{err}")
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2)}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--experiment", default="grokking-curve", help="registered experiment (quick)")
    p.add_argument("--competitors", type=int, default=len(os.sched_getaffinity(0)),
                   help="CPU-bound competitor processes (default: one per available core)")
    p.add_argument("--max-seconds", type=float, default=1800,
                   help="competitors stop after this long at the latest")
    args = p.parse_args(argv)

    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        alone = run_once(args.experiment, tmp, env)
        print(f"alone: {alone}", flush=True)
        spinners = [subprocess.Popen([sys.executable, "-c", SPIN.format(seconds=args.max_seconds)])
                    for _ in range(args.competitors)]
        try:
            loaded = run_once(args.experiment, tmp, env)
        finally:
            for s in spinners:
                s.kill()
                s.wait()
        print(f"beside {args.competitors} competitor(s): {loaded}", flush=True)
    result = {"experiment": args.experiment, "cores": len(os.sched_getaffinity(0)),
              "competitors": args.competitors, "alone": alone, "contended": loaded,
              "wall_ratio": round(loaded["wall_s"] / alone["wall_s"], 2),
              "cpu_ratio": round(loaded["cpu_s"] / alone["cpu_s"], 2)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
