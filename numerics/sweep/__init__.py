"""Sweeps: grids of configurations as independent tasks, in process or on dask.distributed.

:mod:`~numerics.sweep.engine` runs a :class:`Sweep` (a grid, a block function, the shared
configuration) and gathers one labelled dataset; :mod:`~numerics.sweep.store` keeps one file per
finished cell, so a sweep restarted with the same configuration skips what is done;
:mod:`~numerics.sweep.demo` is a synthetic CPU-bound grid for tests and benchmarks. dask is
imported only when a sweep runs on a cluster.
"""

from grokking_workbench.numerics.sweep.engine import (  # noqa: F401
    Sweep, Variable, configure, execute_block, run, settings, to_dataset,
)
from grokking_workbench.numerics.sweep.store import CellStore  # noqa: F401
