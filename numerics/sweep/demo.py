"""A synthetic grid for tests and benchmarks of the sweep layer: CPU-bound, seeded, with faults
on demand.

Each cell ``{"x": ..., "seed": ...}`` iterates the logistic map ``z <- r z (1 - z)`` (``r`` from
``x``, ``z0`` from the seed) for ``config.iterations`` steps in pure Python (one core, no
threads, no imports), and returns the final ``z`` and the mean of the orbit: the result depends
only on the configuration and the cell. Faults, by cell:

- ``fail``: cells whose ``x`` is listed raise ``ValueError`` (recorded, the sweep goes on);
- ``diverge``: cells whose ``x`` is listed report the status ``diverged`` themselves;
- ``kill``: cells whose ``x`` is listed kill their own worker process (SIGKILL) the first
  time they run, leaving a marker file in ``marker_dir`` so that the rerun completes. Only on a
  cluster: in process it would kill the caller.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DemoConfig:
    iterations: int = 10000
    sleep: float = 0.0
    fail: tuple = ()
    diverge: tuple = ()
    kill: tuple = ()
    marker_dir: str = ""


def cell(config: DemoConfig, x: float, seed: int) -> dict:
    if x in config.fail:
        raise ValueError(f"x = {x} fails on purpose")
    if x in config.kill:
        marker = Path(config.marker_dir) / f"killed-{x}-{seed}"
        if not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
    if config.sleep:
        time.sleep(config.sleep)
    r = 3.6 + 0.39 * (x % 1.0)
    z = 0.1 + 0.8 * ((seed * 0.6180339887) % 1.0)
    total = 0.0
    for _ in range(config.iterations):
        z = r * z * (1.0 - z)
        total += z
    out = {"z": z, "mean": total / max(config.iterations, 1), "orbit": [z, r * z * (1.0 - z)]}
    if x in config.diverge:
        out.update(status="diverged", message=f"x = {x} diverges on purpose")
    return out


def run_block(config: DemoConfig, cells: list[dict]) -> list[dict]:
    return [cell(config, c["x"], c["seed"]) for c in cells]


def sweep(xs, seeds, config: DemoConfig = DemoConfig(), block_size: int = 1, name: str = "demo"):
    """The demo grid x by seed as a :class:`~numerics.sweep.engine.Sweep`."""
    from grokking_workbench.numerics.sweep.engine import Sweep, Variable

    return Sweep(name=name, dims={"x": list(xs), "seed": list(seeds)}, run_block=run_block,
                 config=config, block_size=block_size,
                 variables={"z": Variable("final value of the logistic map"),
                            "mean": Variable("mean of the orbit"),
                            "orbit": Variable("last two values of the orbit", dims=("step",))},
                 coords={"x": Variable("cell parameter"), "seed": Variable("seed")},
                 extra_coords={"step": ([0, 1], Variable("step after the last iteration"))})
