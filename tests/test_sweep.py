"""The sweep layer (numerics.sweep): failures recorded, restarts skip finished cells, a killed
worker loses nothing, Ctrl-C keeps what finished, in process equals on a cluster.

The grid is the synthetic one of numerics.sweep.demo (pure Python, a few ms per cell). The
cluster tests share one LocalCluster of two worker processes (reached through its address, as
`--scheduler` does); one test starts its own through `workers=2`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from grokking_workbench.numerics import sweep
from grokking_workbench.numerics.sweep import demo, engine
from grokking_workbench.numerics.validate import InputError

XS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
SEEDS = (0, 1)
N = len(XS) * len(SEEDS)


def reference(config, block_size=1):
    """The grid computed in process into a temporary store."""
    return sweep.run(demo.sweep(XS, SEEDS, config, block_size=block_size), workers=1)


def records(folder):
    return [json.loads(p.read_text()) for p in sorted(folder.glob("cell-*.json"))]


def assert_same_values(a, b):
    for name in ("z", "mean", "orbit"):
        np.testing.assert_array_equal(a[name].values, b[name].values)
    np.testing.assert_array_equal(a.cell_status.values, b.cell_status.values)


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as c:
        yield c.scheduler_address


# ------------------------------------------------------------------------------ in process
def test_failing_cells_are_recorded_and_the_rest_go_on(tmp_path):
    config = demo.DemoConfig(iterations=500, fail=(0.2,), diverge=(0.4,))
    ds = sweep.run(demo.sweep(XS, SEEDS, config, block_size=4), store=tmp_path, workers=1)
    status = ds.cell_status.sel(seed=0).values.tolist()
    assert status == ["ok", "failed", "ok", "diverged", "ok", "ok"]
    assert ds.cell_message.sel(x=0.2, seed=1).item() == "ValueError: x = 0.2 fails on purpose"
    assert np.isnan(ds.z.sel(x=0.2)).all() and np.isfinite(ds.z.sel(x=0.3)).all()
    assert ds.attrs["status"].startswith("incomplete") and "2 failed" in ds.attrs["status"]
    # a failing block was rerun cell by cell: its block mates (x = 0.1, 0.3) are ok and on disk
    assert sorted(r["status"] for r in records(tmp_path)) == ["diverged"] * 2 + ["failed"] * 2 + ["ok"] * 8


def test_restart_skips_finished_cells(tmp_path):
    config = demo.DemoConfig(iterations=500)
    grid = demo.sweep(XS, SEEDS, config, block_size=2)
    seen = []

    def interrupt_after_five(record):
        seen.append(record["cell"])
        if len(seen) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep.run(grid, store=tmp_path, workers=1, on_record=interrupt_after_five)
    assert len(records(tmp_path)) == 5
    again = []
    ds = sweep.run(grid, store=tmp_path, workers=1, on_record=lambda r: again.append(r["cell"]))
    # the rerun computes only the 7 missing cells; the interrupted block's last cell is among them
    assert len(again) == N - 5 and not any(c in seen for c in again)
    assert len(records(tmp_path)) == N and ds.attrs["status"] == "complete"
    assert_same_values(ds, reference(config, block_size=2))
    # a third run computes nothing; another configuration computes everything again
    third = []
    sweep.run(grid, store=tmp_path, workers=1, on_record=third.append)
    assert third == []
    other = demo.sweep(XS, SEEDS, demo.DemoConfig(iterations=501), block_size=2)
    fourth = []
    sweep.run(other, store=tmp_path, workers=1, on_record=fourth.append)
    assert len(fourth) == N and len(records(tmp_path)) == 2 * N


def test_settings_give_the_store_and_workers(tmp_path):
    grid = demo.sweep(XS[:2], SEEDS, demo.DemoConfig(iterations=100), name="demo-settings")
    with sweep.settings(store_root=tmp_path, workers=1):
        ds = sweep.run(grid)
    assert len(records(tmp_path / "demo-settings")) == 4
    assert ds.attrs["sweep_store"] == str(tmp_path / "demo-settings")
    assert engine._SETTINGS["store_root"] is None


@pytest.mark.parametrize("workers", [0, -1, "two", 1.5])
def test_bad_worker_counts_name_the_parameter(workers):
    with pytest.raises(InputError, match="^workers:"):
        engine.check_workers(workers)


def test_bad_scheduler_addresses_name_the_parameter():
    with pytest.raises(InputError, match="^scheduler:"):
        engine.check_scheduler("not an address")
    assert engine.check_scheduler("tcp://10.0.0.1:8786") == "tcp://10.0.0.1:8786"


# ------------------------------------------------------------------------------ on a cluster
def test_a_killed_worker_loses_and_duplicates_no_cell(tmp_path, cluster):
    """Cells x = 0.3 and x = 0.5 (both seeds) kill their worker process the first time they run (the nanny
    starts a new one, the scheduler reruns the task); the sweep completes with every cell once."""
    markers = tmp_path / "markers"
    markers.mkdir()
    config = demo.DemoConfig(iterations=20000, kill=(0.3, 0.5), marker_dir=str(markers))
    store = tmp_path / "cells"
    ds = sweep.run(demo.sweep(XS, SEEDS, config, block_size=2), store=store, scheduler=cluster)
    # four deaths, two per task: below distributed's allowed-failures (3) for each
    assert sorted(p.name for p in markers.iterdir()) == [f"killed-{x}-{s}" for x in (0.3, 0.5) for s in SEEDS]
    recs = records(store)
    cells = [(r["cell"]["x"], r["cell"]["seed"]) for r in recs]
    assert len(cells) == N and len(set(cells)) == N
    assert ds.attrs["status"] == "complete"
    assert_same_values(ds, reference(config, block_size=2))


def test_in_process_equals_a_local_cluster(tmp_path):
    config = demo.DemoConfig(iterations=3000, fail=(0.6,))
    try:
        ds = sweep.run(demo.sweep(XS, SEEDS, config, block_size=3), store=tmp_path, workers=2)
        # the cluster stays up for the next sweep of this process
        assert engine.local_cluster(2) is engine._CLUSTERS[2]
    finally:
        engine.close_local_clusters()
    assert_same_values(ds, reference(config, block_size=3))
    assert not engine._CLUSTERS


def test_ctrl_c_on_a_cluster_keeps_finished_cells(tmp_path, cluster):
    config = demo.DemoConfig(iterations=2000, sleep=0.05)
    grid = demo.sweep(XS, SEEDS, config, block_size=1)
    count = []

    def interrupt(record):
        count.append(record)
        if len(count) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep.run(grid, store=tmp_path, scheduler=cluster, on_record=interrupt)
    # the three collected cells and any finished but not yet collected are on disk
    assert 3 <= len(records(tmp_path)) <= N
    before = len(records(tmp_path))
    again = []
    ds = sweep.run(grid, store=tmp_path, scheduler=cluster, on_record=again.append)
    assert len(again) == N - before and len(records(tmp_path)) == N
    assert_same_values(ds, reference(config))
