"""Run a grid of configurations as independent tasks, in process or on a dask.distributed cluster.

A :class:`Sweep` is a grid (ordered dimensions with coordinate values; every combination is a
*cell*), a block function ``run_block(config, cells) -> list of result dicts`` that computes
several cells at once (e.g. batched with ``torch.func.vmap``), the configuration shared by all
cells, and the long names and units of the results. :func:`run` cuts the grid into
blocks of ``block_size`` (in grid order; a block is one task), runs them, writes each finished
cell at once to the sweep's :class:`~numerics.sweep.store.CellStore`, and gathers every cell into
one labelled xarray dataset with the grid's coordinates.

Where it runs (``run(..., scheduler=, workers=)`` or :func:`configure`):

- ``workers=1`` (or dask not installed): in this process, block after block (for debugging);
- ``workers=N`` (N > 1) or ``"auto"``: a ``distributed.LocalCluster`` of N single-threaded worker
  processes (``"auto"``: one per core), started by the first sweep that needs it and kept for
  the next ones until the process exits (:func:`local_cluster`);
- ``scheduler="tcp://host:8786"``: an existing cluster (``dask scheduler`` and ``dask worker``
  processes, which must have this package installed). Results come back to this process, which
  writes the cell files, so workers need no shared file system.

What is never lost:

- a block function's exception is recorded per cell (status ``failed`` and the message; a
  failing block of several cells is retried cell by cell, so one bad cell does not take its
  block mates with it); a cell may report its own status (e.g. ``diverged``) and the sweep goes
  on;
- a worker that dies (killed, out of memory) is replaced by its nanny and its task is rerun
  elsewhere by the scheduler; a task the scheduler gives up on (``KilledWorker`` after
  ``distributed.scheduler.allowed-failures`` deaths) is submitted again up to ``RESUBMIT``
  times, then reported as ``lost`` and left pending for the next run;
- Ctrl-C: every cell already computed (including those finished but not yet collected) is
  written before the interrupt propagates; a restart with the same configuration skips every
  cell on disk.

Results of a cell depend only on the configuration and the cell's parameters, and on its block
mates at most through the rounding of batched kernels; the block partition is therefore fixed
by the grid order and ``block_size`` (not by what has finished), and a block's cells are written
together, so a restarted sweep computes every cell in the batch an uninterrupted one would.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import socket
import tempfile
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from grokking_workbench.numerics.io import _jsonable, config_hash
from grokking_workbench.numerics.schema import Schema, Var
from grokking_workbench.numerics.sweep.store import OK, CellStore
from grokking_workbench.numerics.validate import InputError, positive_int

log = logging.getLogger(__name__)

PENDING = "pending"
FAILED = "failed"
LOST = "lost"
#: times a block is submitted again after the scheduler gave up on it (workers died running it)
RESUBMIT = 2


@dataclass(frozen=True)
class Variable:
    """A result of each cell: its long name and units, and the extra dimensions of an array
    value (their coordinates are given in :attr:`Sweep.extra_coords`)."""

    long_name: str
    units: str = "1"
    dims: tuple = ()

    def attrs(self) -> dict[str, str]:
        """``{"long_name": ..., "units": ...}``."""
        return {"long_name": self.long_name, "units": self.units}


# The variables every sweep's dataset has beside its results, on the grid's dimensions
CELLS = Schema({
    "cell_status": Var("status of the cell (ok, failed, diverged, lost: its task killed its workers, "
                       "pending: not run)", "1"),
    "cell_message": Var("why the cell is not ok (empty when ok)", "1"),
    "cell_seconds": Var("compute time of the cell (its block's time / its size)", "s"),
})


@dataclass
class Sweep:
    """A grid of cells and how to compute them (module docstring)."""

    name: str
    dims: dict[str, Sequence]
    run_block: Callable[[Any, list[dict]], list[dict]]
    config: Any
    variables: dict[str, Variable]
    coords: dict[str, Variable] = field(default_factory=dict)
    extra_coords: dict[str, tuple[Sequence, Variable]] = field(default_factory=dict)
    block_size: int = 1

    def schema(self) -> Schema:
        """The schema of the sweep's dataset: the results on the grid (and their extra
        dimensions), the cells' status and the coordinates."""
        grid = tuple(self.dims)

        def var(v: Variable, dims: tuple) -> Var:
            return Var(v.long_name.replace("{", "{{").replace("}", "}}"), v.units, dims)

        entries = {name: var(self.coords.get(name, Variable(name)), (name,)) for name in grid}
        entries.update({name: var(v, (name,)) for name, (_, v) in self.extra_coords.items()})
        entries.update({name: var(v, grid + tuple(v.dims)) for name, v in self.variables.items()})
        entries.update({name: Var(v.long_name, v.units, grid) for name, v in CELLS.items()})
        return Schema(entries)

    def cells(self) -> list[dict]:
        """Every cell, in grid (C) order: one dict {dimension: value} per combination."""
        names = list(self.dims)
        values = [[_jsonable(v) for v in self.dims[n]] for n in names]
        return [dict(zip(names, combo)) for combo in itertools.product(*values)]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.dims.values())

    def store_config(self) -> dict:
        """What the cell files are keyed by: the sweep's name and configuration (not the grid,
        so that a grid extended by more values reuses the cells it shares)."""
        return {"sweep": self.name, "config": self.config}


# ----------------------------------------------------------------------------- settings
_SETTINGS: dict[str, Any] = {"scheduler": None, "workers": 1, "store_root": None, "progress": False}


def configure(**kwargs) -> dict:
    """Set the defaults used by :func:`run` when its arguments are not given (the ``grokking``
    command sets them from ``--scheduler``/``--workers``); returns the previous settings.

    ``scheduler``: address of an existing cluster or None; ``workers``: 1 (in process), N, or
    "auto" (one per core); ``store_root``: folder under which each sweep keeps its cell files
    (``<store_root>/<sweep name>/``; None: a temporary folder, removed after the sweep);
    ``progress``: show a progress bar.
    """
    unknown = set(kwargs) - set(_SETTINGS)
    if unknown:
        raise TypeError(f"unknown sweep settings: {', '.join(sorted(unknown))}")
    old = dict(_SETTINGS)
    _SETTINGS.update(kwargs)
    return old


@contextlib.contextmanager
def settings(**kwargs):
    """:func:`configure` for the duration of a ``with`` block."""
    old = configure(**kwargs)
    try:
        yield
    finally:
        _SETTINGS.clear()
        _SETTINGS.update(old)


def check_workers(workers) -> int | str:
    """``workers`` as a positive int or "auto"; InputError naming ``workers`` otherwise."""
    if workers == "auto":
        return "auto"
    try:
        return positive_int("workers", workers)
    except (TypeError, ValueError):
        raise InputError("workers", f"must be a positive integer or 'auto', got {workers!r}") from None


def check_scheduler(address) -> str | None:
    """A scheduler address (``tcp://host:port``, ``host:port``, ``tls://...``, ``inproc://...``)."""
    if address is None:
        return None
    text = str(address).strip()
    if not text or " " in text or (":" not in text):
        raise InputError("scheduler", f"expected an address such as tcp://host:8786, got {address!r}")
    return text


def worker_count(workers) -> int:
    return (os.cpu_count() or 1) if workers == "auto" else int(workers)


# ----------------------------------------------------------------------------- execution
def _where() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def execute_block(run_block: Callable, config: Any, cells: list[dict]) -> list[dict]:
    """Run one block (on a worker or in process); one record per cell, never an exception.

    A record: ``cell``, ``status``, ``message``, ``values``, ``seconds``, ``worker``. The block
    function returns one dict per cell; its keys ``status`` and ``message`` (optional) are the
    cell's status, the rest its values. An exception fails the block; a block of several cells
    is then run again cell by cell, so that only the cells that raise are recorded as failed.
    """
    start = time.perf_counter()
    try:
        results = run_block(config, cells)
        if len(results) != len(cells):
            raise RuntimeError(f"the block function returned {len(results)} results for {len(cells)} cells")
    except Exception as exc:  # noqa: BLE001 - recorded, the sweep goes on
        if len(cells) > 1:
            return [r for c in cells for r in execute_block(run_block, config, [c])]
        message = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500]
        log.debug("cell %s failed:\n%s", cells[0], traceback.format_exc())
        return [{"cell": cells[0], "status": FAILED, "message": message, "values": {},
                 "seconds": time.perf_counter() - start, "worker": _where()}]
    seconds = (time.perf_counter() - start) / len(cells)
    out = []
    for cell, res in zip(cells, results):
        res = dict(res)
        status = str(res.pop("status", OK))
        message = str(res.pop("message", ""))
        out.append({"cell": cell, "status": status, "message": message, "values": res,
                    "seconds": seconds, "worker": _where()})
    return out


def blocks(n_cells: int, block_size: int, finished) -> list[list[int]]:
    """The blocks still to run: the grid's cells cut into consecutive blocks of ``block_size``
    (fixed by the grid, whatever has finished, so that a cell always shares its batch with the
    same cells), each less its finished cells; blocks with nothing left are dropped."""
    out = []
    for lo in range(0, n_cells, block_size):
        part = [i for i in range(lo, min(lo + block_size, n_cells)) if i not in finished]
        if part:
            out.append(part)
    return out


def _progress_bar(total: int, initial: int, name: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=name, unit="cell", mininterval=2.0,
                disable=not enabled)


def run(sweep: Sweep, *, store: str | os.PathLike | None = None, scheduler: str | None = None,
        workers=None, progress: bool | None = None, retry_failed: bool = False,
        on_record: Callable[[dict], None] | None = None):
    """Compute every pending cell of ``sweep``; return the dataset of all cells (module docstring).

    ``store``: the folder of this sweep's cell files (default ``<store_root>/<sweep.name>`` of
    the settings, or a temporary folder); ``scheduler``, ``workers``, ``progress``: as in
    :func:`configure` (the settings apply where these are None); ``retry_failed``: rerun cells
    recorded as failed; ``on_record``: called with each record as it is written.
    """
    scheduler = check_scheduler(scheduler if scheduler is not None else _SETTINGS["scheduler"])
    workers = check_workers(workers if workers is not None else _SETTINGS["workers"])
    progress = _SETTINGS["progress"] if progress is None else progress
    block_size = positive_int("block_size", sweep.block_size)
    tmp = None
    if store is None and _SETTINGS["store_root"] is not None:
        store = Path(_SETTINGS["store_root"]) / sweep.name
    if store is None:
        tmp = tempfile.TemporaryDirectory(prefix="sweep-")
        store = tmp.name
    try:
        cells = sweep.cells()
        cs = CellStore(store, sweep.store_config())
        records = cs.finished(cells, retry_failed=retry_failed)
        if records:
            log.info("%s: %d of %d cells already in %s", sweep.name, len(records), len(cells), store)
        lost: dict[int, str] = {}

        def save(rec: dict, pos: int) -> None:
            cs.write(rec["cell"], rec["status"], rec["values"], rec["message"], rec["seconds"],
                     rec["worker"])
            records[pos] = rec
            if on_record is not None:
                on_record(rec)

        parts = blocks(len(cells), block_size, records)
        if parts:
            bar = _progress_bar(len(cells), len(records), sweep.name, progress)
            try:
                if scheduler is None and (worker_count(workers) == 1 or not _have_distributed()):
                    for part in parts:
                        for pos, rec in zip(part, execute_block(sweep.run_block, sweep.config,
                                                                [cells[i] for i in part])):
                            save(rec, pos)
                        bar.update(len(part))
                else:
                    _run_distributed(sweep, cells, parts, scheduler, worker_count(workers), save,
                                     lost, bar)
            finally:
                bar.close()
        return to_dataset(sweep, cells, records, lost, store=None if tmp else store)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _have_distributed() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        log.warning("dask.distributed is not installed: the sweep runs in this process")
        return False
    return True


_CLUSTERS: dict[int, Any] = {}


def local_cluster(n_workers: int):
    """A LocalCluster of ``n_workers`` single-threaded worker processes, started on first use and
    kept for the later sweeps of this process (the phase diagram's panels, ``grokking run all``);
    closed when the process exits or by :func:`close_local_clusters`."""
    from distributed import LocalCluster

    cluster = _CLUSTERS.get(n_workers)
    if cluster is None or cluster.status.name in ("closing", "closed"):
        quiet = logging.getLogger("distributed")
        level = quiet.level
        quiet.setLevel(max(quiet.getEffectiveLevel(), logging.WARNING))
        try:
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                   dashboard_address=":0", silence_logs=logging.ERROR)
        finally:
            quiet.setLevel(level)
        if not _CLUSTERS:
            atexit.register(close_local_clusters)
        _CLUSTERS[n_workers] = cluster
    return cluster


def close_local_clusters() -> None:
    """Close the local clusters started by :func:`local_cluster`."""
    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)        # at exit the log streams may be closed already
    try:
        while _CLUSTERS:
            _, cluster = _CLUSTERS.popitem()
            with contextlib.suppress(Exception):
                cluster.close()
    finally:
        quiet.setLevel(level)


def _run_distributed(sweep, cells, parts, scheduler, n_workers, save, lost, bar) -> None:
    from distributed import Client, as_completed

    with contextlib.ExitStack() as stack:
        # the scheduler of a local cluster lives in this process: keep its INFO lines out
        quiet = logging.getLogger("distributed")
        stack.callback(quiet.setLevel, quiet.level)
        quiet.setLevel(max(quiet.getEffectiveLevel(), logging.WARNING))
        if scheduler is None:
            scheduler = local_cluster(n_workers).scheduler_address
        client = stack.enter_context(Client(scheduler))
        # one key per block and run (a task of an earlier run may still be known to the scheduler)
        prefix = f"{sweep.name}-{config_hash(sweep.store_config())}-{uuid.uuid4().hex[:8]}"
        futures = {}

        def submit(part, attempt=0):
            key = f"{prefix}-{part[0]}-{part[-1]}" + (f"-retry{attempt}" if attempt else "")
            fut = client.submit(execute_block, sweep.run_block, sweep.config,
                                [cells[i] for i in part], key=key, pure=False)
            futures[fut] = (part, attempt)
            return fut

        for part in parts:
            submit(part)
        done = set()
        try:
            queue = as_completed(list(futures))
            for fut in queue:
                part, attempt = futures[fut]
                done.add(fut)
                try:
                    # a result whose worker died after it finished is recomputed by the
                    # scheduler; result() waits for that
                    results = fut.result()
                except Exception as exc:  # noqa: BLE001
                    fut.release()
                    if attempt < RESUBMIT:
                        # the scheduler gives up on a task after ``allowed-failures`` worker
                        # deaths, counting those of every task queued on a dying worker, so an
                        # innocent block may be blamed for its neighbour: submit it again
                        log.warning("%s: cells %s: %s; submitting again", sweep.name, part,
                                    type(exc).__name__)
                        queue.add(submit(part, attempt + 1))
                        continue
                    # the task killed its workers again and again (or the cluster went away):
                    # leave its cells pending on disk, so that the next run computes them
                    for pos in part:
                        lost[pos] = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]
                    log.error("%s: cells %s lost: %s", sweep.name, part, lost[part[0]])
                else:
                    for pos, rec in zip(part, results):
                        save(rec, pos)
                    fut.release()
                bar.update(len(part))
        except BaseException:
            # Ctrl-C (or an error here): keep every block that has finished, then stop the rest
            for fut, (part, _) in futures.items():
                if fut not in done and fut.status == "finished":
                    with contextlib.suppress(Exception):
                        for pos, rec in zip(part, fut.result(timeout=10)):
                            save(rec, pos)
            client.cancel([f for f in futures if f not in done])
            raise


# ----------------------------------------------------------------------------- dataset
def to_dataset(sweep: Sweep, cells: list[dict], records: dict[int, dict],
               lost: dict[int, str] | None = None, store: str | os.PathLike | None = None):
    """One dataset of all cells: each variable on the grid's dimensions (then its own), NaN where
    a cell has no value; ``cell_status``, ``cell_message``, ``cell_seconds`` per cell; ``status``
    ``complete`` when every cell is ``ok``."""
    import xarray as xr

    lost = lost or {}
    shape = sweep.shape
    grid_dims = tuple(sweep.dims)
    extra = {name: len(values) for name, (values, _) in sweep.extra_coords.items()}
    data = {}
    for name, var in sweep.variables.items():
        arr = np.full((len(cells),) + tuple(extra[d] for d in var.dims), np.nan)
        for pos, rec in records.items():
            if name in rec["values"]:
                value = rec["values"][name]
                arr[pos] = np.nan if value is None else np.asarray(value, dtype=float)
        data[name] = (grid_dims + tuple(var.dims), arr.reshape(shape + arr.shape[1:]), var.attrs())
    status = np.full(len(cells), PENDING, dtype=object)
    message = np.full(len(cells), "", dtype=object)
    seconds = np.full(len(cells), np.nan)
    for pos, rec in records.items():
        status[pos], message[pos], seconds[pos] = rec["status"], rec["message"], rec["seconds"]
    for pos, why in lost.items():
        status[pos], message[pos] = LOST, why
    data["cell_status"] = (grid_dims, status.reshape(shape).astype(str), CELLS.attrs("cell_status"))
    data["cell_message"] = (grid_dims, message.reshape(shape).astype(str), CELLS.attrs("cell_message"))
    data["cell_seconds"] = (grid_dims, seconds.reshape(shape), CELLS.attrs("cell_seconds"))
    coords = {}
    for name, values in sweep.dims.items():
        var = sweep.coords.get(name, Variable(name))
        coords[name] = (name, np.asarray(values), var.attrs())
    for name, (values, var) in sweep.extra_coords.items():
        coords[name] = (name, np.asarray(values), var.attrs())
    counts = {s: int((status == s).sum()) for s in np.unique(status.astype(str))}
    not_ok = {s: n for s, n in counts.items() if s != OK}
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    attrs = {"sweep": sweep.name, "sweep_cells": summary,
             "status": "complete" if not not_ok else f"incomplete: {summary} of {len(cells)} cells"}
    if store is not None:
        attrs["sweep_store"] = str(store)
    return xr.Dataset(data, coords=coords, attrs=attrs)
