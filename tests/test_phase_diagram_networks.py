"""The network phase diagrams (transformer, images) through the sweep layer; the early exit of the
network trainer; the statements' rules on made-up phase maps."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from grokking_workbench.experiments import phase_diagram as pdg  # noqa: E402
from grokking_workbench.experiments import phase_diagram_networks as pdn  # noqa: E402
from grokking_workbench.numerics import statistics as st  # noqa: E402
from grokking_workbench.numerics import sweep  # noqa: E402
from grokking_workbench.numerics.networks import data, models  # noqa: E402
from grokking_workbench.numerics.networks import train as T  # noqa: E402
from grokking_workbench.numerics.validate import InputError  # noqa: E402


def _transformer_setup(steps=120):
    split = data.modular_addition(7, 0.8, seed=0)
    d = T.stack_data([split], dtype=torch.float64)
    cfg = T.TrainConfig(optimizer="adamw", steps=steps, loss="ce", embed_lr=1e-2, embed_weight_decay=0.0,
                        lr_alpha_power=1.0, centre=False, dtype="float64")
    make = lambda g: models.Transformer(7, 2, 7, d_model=8, n_heads=2, d_mlp=16, output="concat",  # noqa: E731
                                        layer_norm=True, embed_std=1.0, generator=g)
    members = [T.Member(seed=s, lr=lr, weight_decay=wd) for s, lr, wd in
               ((0, 1e-2, 0.0), (1, 3e-2, 1.0), (2, 1e-3, 0.0), (0, 3e-2, 0.1))]
    return make, d, cfg, members


def test_member_lr_sets_the_decoder_lr_only():
    make, d, cfg, members = _transformer_setup()
    tr = T.Trainer(make, d, cfg, members, classes=7)
    np.testing.assert_allclose(tr.lr["rest"].numpy(), [m.lr for m in members])
    np.testing.assert_allclose(tr.lr["embed"].numpy(), 1e-2)
    np.testing.assert_allclose(tr.wd["rest"].numpy(), [m.weight_decay for m in members])
    np.testing.assert_allclose(tr.wd["embed"].numpy(), 0.0)


def test_early_exit_keeps_the_first_reach_steps_and_stops_where_decided():
    split = data.digits(150, seed=0, n_test=100, dtype=torch.float64)
    d = T.stack_data([split])
    cfg = T.TrainConfig(optimizer="adamw", steps=60, loss="mse", batch_size=50, centre=False,
                        lr_alpha_power=1.0, dtype="float64")
    make = lambda g: models.MLP((64, 16, 10), generator=g)                  # noqa: E731
    members = [T.Member(seed=s, lr=lr, weight_decay=0.1) for s, lr in ((0, 3e-2), (1, 1e-4), (2, 1e-2), (3, 1e-5))]
    full = T.train_to_thresholds(make, d, cfg, members, classes=10, threshold=0.6, eval_every=5,
                                 stop_when_decided=False)
    early = T.train_to_thresholds(make, d, cfg, members, classes=10, threshold=0.6, eval_every=5)
    for key in ("steps_to_train", "steps_to_test"):
        np.testing.assert_array_equal(early[key], full[key])
    decided = (early["steps_to_train"] >= 0) & (early["steps_to_test"] >= 0)
    assert decided.any() and not decided.all()     # the test needs both kinds
    np.testing.assert_array_equal(early["stop_step"][decided],
                                  np.maximum(early["steps_to_train"], early["steps_to_test"])[decided])
    assert np.all(early["stop_step"][~decided] == cfg.steps) and np.all(full["stop_step"] == cfg.steps)
    # a member that runs its budget ends where it would in a batch that never shrank
    for key in ("train_loss", "test_loss", "param_norm"):
        np.testing.assert_allclose(early["final"][key][~decided], full["final"][key][~decided], rtol=1e-9)


def test_select_drops_members_without_changing_the_others():
    make, d, cfg, members = _transformer_setup()
    a = T.Trainer(make, d, cfg, members, classes=7)
    b = T.Trainer(make, d, cfg, [members[1], members[3]], classes=7)
    for _ in range(3):
        a.step()
        b.step()
    # b's members took the same three steps alone; a drops the others and continues
    a.select(np.array([False, True, False, True]))
    for _ in range(3):
        a.step()
        b.step()
    for k in a.params:
        torch.testing.assert_close(a.params[k], b.params[k], rtol=1e-10, atol=1e-12)
    assert [m.seed for m in a.members] == [1, 0]


TINY_T = pdn.TransformerGrid(p=7, d_model=8, n_heads=2, lrs=(3e-3, 3e-2), weight_decays=(0.0, 1.0),
                             seeds=2, steps=150, delay=30, eval_every=10, embed_lr=1e-2)


def test_transformer_grid_runs_as_a_sweep_and_a_rerun_recomputes_nothing(tmp_path):
    with sweep.settings(store_root=tmp_path, workers=1):
        ds = pdn.run(TINY_T)
        files = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("cell-*.json")}
        again = pdn.run(TINY_T)
    assert len(files) == 2 * 2 * 2
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("cell-*.json")} == files
    for name in ("phase", "stop_step", "phase_probability", "steps_to_val"):
        np.testing.assert_array_equal(ds[name].values, again[name].values)
    pdn._schema(TINY_T).check_dataset(ds)
    assert ds.phase.dims == ("weight_decay", "lr", "seed")
    # the phases follow the toy diagrams' rule on the first-reach steps
    tr, va = (np.nan_to_num(ds[v].values, nan=-1) for v in ("steps_to_train", "steps_to_val"))
    np.testing.assert_array_equal(ds.phase.values, pdg.classify(tr, va, TINY_T.delay))
    np.testing.assert_allclose(ds.phase_probability.sum("phase_name").values, 1.0)
    assert ds.attrs["status"] == "complete" and {"verdict_T1", "verdict_T2", "verdict_T3"} <= set(ds.attrs)
    notes = pdn.observations(ds)
    assert len(notes) == 3 and "network-steps run" in notes[2]
    stop = ds.stop_step.values
    early = stop < TINY_T.steps
    np.testing.assert_array_equal(stop[early], np.maximum(tr, va)[early])


def test_image_grid_reads_its_data_and_runs(tmp_path):
    grid = pdn.ImageGrid(n_train=100, width=8, lrs=(1e-2,), weight_decays=(0.0, 0.1), seeds=1, steps=40,
                         delay=10, eval_every=10, batch_size=50, init_scale=1.0)
    with sweep.settings(store_root=tmp_path, workers=1):
        ds = pdn.run(grid)
    pdn._schema(grid).check_dataset(ds)
    assert ds.sizes == {"weight_decay": 2, "lr": 1, "seed": 1, "phase_name": 4}
    assert len(pdn.statements_images(ds)) == 2


def test_bad_grids_name_the_field():
    with pytest.raises(InputError, match="^lrs:"):
        pdn.validate(dataclasses.replace(TINY_T, lrs=()))
    with pytest.raises(InputError, match="^weight_decays:"):
        pdn.validate(dataclasses.replace(TINY_T, weight_decays=(0.0, 0.0)))
    with pytest.raises(InputError, match="^n_heads:"):
        pdn.validate(dataclasses.replace(TINY_T, n_heads=3))


def _fake(codes, t_val=None, wds=None):
    """A dataset with the phase variables of a (weight decay, lr, seed) grid of phase codes."""
    import xarray as xr

    codes = np.asarray(codes)
    ok = codes >= 0
    nw, nl, ns = codes.shape
    t_val = np.full(codes.shape, np.nan) if t_val is None else np.asarray(t_val, float)
    return xr.Dataset({"phase": (pdn.GRID, codes),
                       "phase_probability": (("weight_decay", "lr", "phase_name"), pdg.phase_probability(codes, ok)),
                       "steps_to_val": (pdn.GRID, t_val)},
                      coords={"weight_decay": wds if wds is not None else np.arange(nw, dtype=float),
                              "lr": np.arange(nl, dtype=float), "seed": np.arange(ns)},
                      attrs={"steps": 1000})


def test_four_phases_rule():
    full = _fake([[[0], [1]], [[2], [3]]])
    assert pdn.four_phases(full)[0] == st.REPRODUCED
    missing = _fake([[[0], [1]], [[2], [2]]])
    assert pdn.four_phases(missing)[0] == st.NOT_REPRODUCED
    minority = _fake([[[0, 0], [1, 1]], [[2, 2], [2, 3]]])     # confusion in one seed only
    assert pdn.four_phases(minority)[0] == st.INCONCLUSIVE


def test_weight_decay_rule():
    # 6 lrs x 2 seeds: at wd 0 nothing generalises; at wd 1 everything does, at wd 3 half
    codes = np.array([[[2] * 2] * 6, [[0] * 2] * 6, [[0, 2]] * 6])
    t = np.array([[[np.nan] * 2] * 6, [[300.0] * 2] * 6, [[400.0, np.nan]] * 6])
    verdict, text = pdn.weight_decay_helps(_fake(codes, t, wds=[0.0, 1.0, 3.0]))
    assert verdict == st.REPRODUCED, text
    # weight decay slows generalisation down
    t2 = np.array([[[100.0] * 2] * 6, [[300.0] * 2] * 6, [[400.0, np.nan]] * 6])
    assert pdn.weight_decay_helps(_fake(codes, t2, wds=[0.0, 1.0, 3.0]))[0] == st.NOT_REPRODUCED
    # twice as fast in the median but in two pairs only: not significant
    t3 = np.array([[[100.0] * 2] * 1, [[40.0] * 2] * 1])
    assert pdn.weight_decay_helps(_fake(np.zeros((2, 1, 2), int), t3, wds=[0.0, 1.0]))[0] == st.INCONCLUSIVE


def test_grokking_near_memorisation_rule():
    # rows: weight decay; memorisation on top, grokking below it, comprehension far below
    maj = np.array([[2, 2, 2, 2, 2, 2],
                    [1, 1, 1, 1, 1, 1],
                    [3, 3, 3, 3, 3, 3],
                    [0, 0, 0, 0, 0, 0]])
    verdict, text = pdn.grokking_near_memorisation(_fake(maj[..., None]))
    assert verdict == st.REPRODUCED, text
    flipped = maj[[3, 1, 2, 0]]                                     # comprehension next to grokking
    assert pdn.grokking_near_memorisation(_fake(flipped[..., None]))[0] == st.NOT_REPRODUCED
    assert pdn.grokking_near_memorisation(_fake(np.where(maj == 0, 3, maj)[..., None]))[0] == st.INCONCLUSIVE
