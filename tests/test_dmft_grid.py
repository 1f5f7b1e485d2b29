"""The dmft-grid experiment: a cell of the grid is the solver's own solve of that configuration
(same seed, identical curves), a rerun recomputes nothing, and the trend rule of its statements."""

from __future__ import annotations

import math

import numpy as np
import pytest

from grokking_workbench.experiments import dmft_grid as dg
from grokking_workbench.numerics import statistics as st
from grokking_workbench.numerics import sweep

TINY = dg.GridConfig(gammas=(math.inf, 8.0), alphas=(1.0,), t_max=4.0, alpha_time_scale=4.0, samples=64,
                     online_samples=16, loss_times=(1.0, 3.0), output_points=20)


def test_a_cell_equals_a_direct_solve_and_a_rerun_recomputes_nothing(tmp_path):
    from grokking_workbench.experiments.dmft_grokking import fall_times
    from grokking_workbench.numerics.dmft import solver
    from grokking_workbench.theory.generated import committee as th

    with sweep.settings(store_root=tmp_path, workers=1):
        ds = dg.run(TINY)
        files = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("cell-*.json")}
        again = dg.run(TINY)
    assert len(files) == 2 and {p: p.stat().st_mtime_ns for p in tmp_path.rglob("cell-*.json")} == files
    assert ds.attrs["status"] == "complete" and (ds.cell_status.values == "ok").all()
    dg.SCHEMA.check_dataset(ds)

    # the same configuration solved directly, with the solver's defaults and seed
    sol = solver.solve(solver.DMFTConfig(A0=(0.04, -0.02), alpha=1.0, eps=0.05, gamma=8.0, t_max=4.0, samples=64))
    res = sol.result
    t = res.grid.t
    curves = {"train_loss": res.train_loss, "test_loss": th.test_loss(res.A, res.Cw_diag, 1.0, 0.05)}
    cell = ds.sel(gamma=8.0, alpha=1.0)
    for name, curve in curves.items():
        np.testing.assert_array_equal(cell[name].values, np.interp(ds.t.values, t, curve))
        np.testing.assert_array_equal(cell[name + "_at"].values, np.interp(TINY.loss_times, t, curve))
        for kind in ("mc", "disc"):
            np.testing.assert_array_equal(cell[f"{name}_{kind}"].values,
                                          np.interp(ds.t.values, t, sol.errors[f"{name}_{kind}"]))
    # the crossing times by the dmft-grokking definition: not by t = 4, so +inf
    t_train, t_test = fall_times(t, curves["train_loss"], curves["test_loss"], TINY.grok_fraction)
    assert math.isnan(t_train) and math.isnan(t_test)
    assert np.isinf(cell.t_train) and np.isinf(cell.t_test) and np.isnan(cell.delay_ratio)
    assert float(cell.max_abs_gap) == pytest.approx(np.max(np.abs(curves["test_loss"] - curves["train_loss"])))
    for name in ds.data_vars:
        if not name.startswith("cell_") and name != "solve_seconds":
            np.testing.assert_array_equal(ds[name].values, again[name].values)
    # the online limit has no gap
    assert float(ds.max_abs_gap.sel(gamma=math.inf, alpha=1.0)) < 1e-12
    items = dg.statements(ds)
    assert len(items) == 3 and all(v in st.VERDICTS for _, v, _ in items)


def test_trend_rule_of_the_statements():
    """_rises: replicas that rise beyond their errors are reproduced; a reversed step is not;
    a level without a value, or errors as large as the steps, are inconclusive; a step to
    "never by t_max" (+inf) counts as a rise."""
    x = [0.0, 1 / 32, 1 / 16, 1 / 8]
    central = np.array([1.0, 1.1, 1.25, 1.5])
    reps = central[:, None] + np.array([-0.01, 0.0, 0.01, 0.0])[None, :]
    small = np.full(4, 0.005)
    assert dg._rises(x, central, reps, small, 0.05)["verdict"] == st.REPRODUCED
    assert dg._rises(x, central[::-1], reps[::-1], small, 0.05)["verdict"] == st.NOT_REPRODUCED
    assert dg._rises(x, central, reps, np.full(4, 1.0), 0.05)["verdict"] == st.INCONCLUSIVE
    gap = central.copy()
    gap[2] = np.nan
    assert dg._rises(x, gap, reps, small, 0.05)["verdict"] == st.INCONCLUSIVE
    never = central.copy()
    never[3] = np.inf
    reps_never = reps.copy()
    reps_never[3] = np.inf
    r = dg._rises(x, never, reps_never, np.where(np.isinf(never), np.nan, small), 0.05)
    assert r["steps"][-1] == np.inf and r["verdict"] == st.REPRODUCED
