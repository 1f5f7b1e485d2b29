"""Thread counts of torch and of the BLAS/OpenMP libraries, chosen for a possibly shared machine.

OpenMP threads that wait at a barrier spin for a while before they sleep (libgomp's default
``OMP_WAIT_POLICY``). On a machine whose cores are busy with other processes, a thread that was
descheduled keeps the others spinning for its whole time slice: the same run then burns many
times its CPU time. :func:`configure`, called by the ``grokking`` command before torch or numpy's
BLAS load, makes waiting threads sleep (``OMP_WAIT_POLICY=PASSIVE``) and sizes every thread pool to
the cores this process may actually use (its CPU affinity and cgroup quota, not the machine's
core count). Settings already present in the environment are kept.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

_POOLS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup v2 CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def configure() -> int:
    """Passive waiting and pools of :func:`available_cores` threads; returns that count.

    Environment variables take effect only for libraries not yet loaded; torch, if already
    imported, is set directly."""
    n = available_cores()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for name in _POOLS:
        os.environ.setdefault(name, str(n))
    if "torch" in sys.modules:
        import torch

        if torch.get_num_threads() > n:
            torch.set_num_threads(n)
    return n
