"""The phase-diagram experiment through the sweep layer: one dataset of every panel with phases,
probabilities and verdicts; a rerun recomputes nothing; bad input exits 2 before anything runs."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from grokking_workbench.experiments import cli  # noqa: E402
from grokking_workbench.experiments import phase_diagram as pd  # noqa: E402
from grokking_workbench.experiments import registry  # noqa: E402
from grokking_workbench.numerics import sweep  # noqa: E402
from grokking_workbench.numerics.validate import InputError  # noqa: E402

TINY = pd.Config(panels=(pd.Panel("6b", ys=(0.0, 5.0), lrs=(1e-3, 3e-2), embedding_lr=1e-2, pairs=2),
                         pd.Panel("6d", group="s3", n_train=24, ys=(0.0,), lrs=(1e-2,),
                                  embed_init="normal", val_best_min=0.0)),
                 steps=120, delay=20, eval_every=10, width=8, block_size=3)


def test_panels_run_as_sweeps_and_a_rerun_recomputes_nothing(tmp_path):
    with sweep.settings(store_root=tmp_path, workers=1):
        ds = pd.run(TINY)
        files = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("cell-*.json")}
        again = pd.run(TINY)
    assert len(files) == 2 * 2 * 2 + 1
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("cell-*.json")} == files
    for name in ("phase_6b", "stop_step_6b", "phase_probability_6d"):
        np.testing.assert_array_equal(ds[name].values, again[name].values)
    assert ds.phase_6b.dims == ("weight_decay_6b", "lr_6b", "pair_6b")
    assert set(np.unique(ds.phase_6b.values)) <= {0, 1, 2, 3}
    prob = ds.phase_probability_6b.values
    np.testing.assert_allclose(prob.sum(axis=-1), 1.0)
    # the probability is the share of pairs in each phase
    k = ds.phase_6b.values[0, 0]
    assert prob[0, 0, k[0]] >= 0.5
    assert ds.attrs["status"] == "complete"
    assert {a for a in ds.attrs if a.startswith("verdict_6b")} == {
        f"verdict_6b_{key}" for key in pd.STATEMENTS["weight_decay"]}
    items = pd.statements(ds)
    assert len(items) == 2 * len(pd.STATEMENTS["weight_decay"])
    assert [s[:7] for s, _, _ in items] == ["Fig. 6b"] * 4 + ["Fig. 6d"] * 4
    obs = pd.observations(ds)
    counts = [int(x) for x in obs[0].split(": ", 1)[1].split(";")[0].split() if x.isdigit()]
    assert obs[0].startswith("Fig. 6b cells (2 pair(s))") and sum(counts) == ds.phase_6b.size
    ok, note = registry.get("phase-diagram").check(ds)
    assert ok is False and "confusion" in note            # 120 steps decide nothing of the paper's
    # a stopped cell stopped where both thresholds were reached
    stop, tr, va = (ds[v].values for v in ("stop_step_6b", "steps_to_train_6b", "steps_to_val_6b"))
    early = stop < TINY.steps
    np.testing.assert_array_equal(stop[early], np.maximum(tr, va)[early])


def test_bad_configurations_name_the_field():
    bad = pd.Config(panels=(pd.Panel("6b", y="momentum"),))
    with pytest.raises(InputError, match="^y:"):
        pd.validate(bad)
    with pytest.raises(InputError, match="^lrs:"):
        pd.validate(pd.Config(panels=(pd.Panel("6b", lrs=()),)))
    with pytest.raises(InputError, match="^panels:"):
        pd.validate(pd.Config(panels=(pd.Panel("6b"), pd.Panel("6b"))))


@pytest.mark.parametrize("args,param", [(["--workers", "0"], "workers"),
                                        (["--workers", "many"], "workers"),
                                        (["--scheduler", "not an address"], "scheduler"),
                                        (["--scheduler", "tcp://h:8786", "--workers", "2"], "workers")])
def test_bad_sweep_options_exit_2_before_anything_runs(tmp_path, capsys, args, param):
    code = cli.main(["run", "phase-diagram", "--quick", "--out-dir", str(tmp_path)] + args)
    assert code == 2
    assert capsys.readouterr().err.startswith(f"grokking run: error: --{param}:")
    assert list(tmp_path.iterdir()) == []
