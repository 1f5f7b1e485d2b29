"""numerics.networks: the centred predictor, the alpha scaling of the learning rate, batched
against looped training, the IDX reader, the datasets; weight decay in the wide simulator."""

import numpy as np
import pytest
import torch

from grokking_workbench.numerics.networks import data, models
from grokking_workbench.numerics.networks import train as T


def _mlp(widths, act="tanh", **kw):
    return lambda g: models.MLP(widths, activation=act, generator=g, **kw)


def _trainer(members, cfg=None, split=None, classes=0, make=None):
    split = split or data.teacher_student(40, 20, seed=3, widths=(5, 16, 3))
    d = T.stack_data([split], dtype=torch.float64)
    cfg = cfg or T.TrainConfig(dtype="float64", lr=0.1)
    return T.Trainer(make or _mlp((5, 32, 3)), d, cfg, members, classes=classes)


def test_centred_predictor_is_zero_at_initialisation_and_its_gradient_is_alpha_times():
    tr = _trainer([T.Member(seed=1, alpha=a) for a in (0.1, 1.0, 7.0)])
    for key in ("x_train", "x_test"):
        assert torch.equal(tr.outputs(key), torch.zeros_like(tr.outputs(key)))
    x = tr.d["x_train"]
    names = list(tr.params)
    centred = tr.outputs("x_train").sum()
    raw = tr._raw(tr.params, "x_train")
    g_c = torch.autograd.grad(centred, [tr.params[k] for k in names])
    g_r = torch.autograd.grad(raw.sum(), [tr.params[k] for k in names])
    for gc, gr in zip(g_c, g_r):
        a = tr.alpha.view(-1, *([1] * (gc.dim() - 1)))
        torch.testing.assert_close(gc, a * gr, rtol=1e-12, atol=1e-14)
    assert x.shape[0] == 3


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_lr_over_alpha_squared_makes_the_initial_function_velocity_alpha_independent(loss):
    """d f~/dt at t = 0 under gradient descent with lr = eta_0 / alpha^2: the same for every
    alpha (exactly: f~ = 0 there, so dL/df~ does not depend on alpha)."""
    split = data.modular_addition(7, 0.5, seed=0, one_hot=True, dtype=torch.float64)
    cfg = T.TrainConfig(dtype="float64", lr=0.3, loss=loss)
    alphas = (0.05, 1.0, 20.0)
    tr = _trainer([T.Member(seed=2, alpha=a) for a in alphas], cfg, split, classes=7,
                  make=_mlp((14, 24, 7), act="relu"))
    loss_m, grads = tr.gradients()
    assert torch.allclose(loss_m, loss_m[0].expand_as(loss_m))
    step = {k: -tr.lr["rest"].view(-1, *([1] * (g.dim() - 1))) * g for k, g in grads.items()}
    params = {k: v.detach() for k, v in tr.params.items()}
    _, vel = torch.func.jvp(lambda p: tr.outputs("x_test", p), (params,), (step,))
    for m in range(1, len(alphas)):
        torch.testing.assert_close(vel[m], vel[0], rtol=1e-9, atol=1e-12)
    assert vel[0].abs().max() > 0
    # without the 1 / alpha^2 the velocity scales like alpha^0 * alpha^2 / alpha^2 ... i.e. not
    # constant: with lr = eta_0 it is alpha^2 times larger
    cfg1 = T.TrainConfig(dtype="float64", lr=0.3, loss=loss, lr_alpha_power=0.0)
    tr1 = _trainer([T.Member(seed=2, alpha=a) for a in alphas], cfg1, split, classes=7,
                   make=_mlp((14, 24, 7), act="relu"))
    _, g1 = tr1.gradients()
    step1 = {k: -tr1.lr["rest"].view(-1, *([1] * (g.dim() - 1))) * g for k, g in g1.items()}
    _, vel1 = torch.func.jvp(lambda p: tr1.outputs("x_test", p),
                             ({k: v.detach() for k, v in tr1.params.items()},), (step1,))
    torch.testing.assert_close(vel1[2], alphas[2] ** 2 * vel[2], rtol=1e-9, atol=1e-12)


MEMBERS = [T.Member(seed=0, alpha=1.0), T.Member(seed=1, alpha=0.5, init_scale=2.0),
           T.Member(seed=2, alpha=3.0, weight_decay=0.1, lr_factor=0.5)]


@pytest.mark.parametrize("optimizer,batch", [("gd", None), ("sgd", 16), ("adamw", None),
                                             ("adam", 16)])
def test_batched_training_equals_looped(optimizer, batch):
    split = data.teacher_student(40, 20, seed=3, widths=(5, 16, 3))
    d = T.stack_data([split])
    cfg = T.TrainConfig(optimizer=optimizer, lr=0.05 if optimizer in ("gd", "sgd") else 1e-3,
                        steps=25, records=6, batch_size=batch, momentum=0.5 if optimizer == "sgd" else 0,
                        weight_decay=0.01, embed_lr=None)
    make = _mlp((5, 32, 3))
    together = T.train(make, d, cfg, MEMBERS)
    for m, member in enumerate(MEMBERS):
        alone = T.train(make, d, cfg, [member])
        for name in ("train_loss", "test_loss", "param_norm", "relative_change"):
            np.testing.assert_allclose(together[name][m], alone[name][0], rtol=2e-5, atol=1e-7)


def test_batched_transformer_with_embedding_optimiser_equals_looped():
    split = data.modular_addition(11, 0.4, seed=0)
    d = T.stack_data([split])
    cfg = T.TrainConfig(optimizer="adamw", lr=1e-3, steps=8, records=4, loss="ce",
                        weight_decay=1.0, embed_optimizer="adam", embed_lr=3e-3,
                        embed_weight_decay=0.0, lr_alpha_power=1.0)
    make = lambda g: models.Transformer(11, 2, 11, d_model=16, n_heads=2, d_mlp=32,  # noqa: E731
                                        output="concat", generator=g)
    members = [T.Member(seed=0, alpha=1.0), T.Member(seed=4, alpha=0.3)]
    together = T.train(make, d, cfg, members, classes=11)
    for m, member in enumerate(members):
        alone = T.train(make, d, cfg, [member], classes=11)
        np.testing.assert_allclose(together["test_loss"][m], alone["test_loss"][0], rtol=2e-5)


def test_last_position_shortcut_equals_full_transformer():
    g = torch.Generator().manual_seed(0)
    net = models.Transformer(8, 3, 7, d_model=16, n_heads=4, d_mlp=24, layers=2, generator=g)
    tokens = torch.randint(0, 8, (5, 3), generator=g)
    fast = net(tokens)
    x = net.embed[tokens] + net.pos[:3]
    for block in net.blocks:
        x = block(x)
    torch.testing.assert_close(fast, net.unembed(x[:, -1]))


def test_log_steps():
    s = T.log_steps(1000, 20)
    assert s[0] == 0 and s[-1] == 1000 and np.all(np.diff(s) > 0) and len(s) <= 20


def test_idx_reader_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"u8.idx": rng.integers(0, 256, (4, 5, 3)).astype(np.uint8),
              "i4.idx.gz": rng.integers(-9, 9, (7,)).astype(np.int32),
              "f4.idx": rng.normal(size=(2, 3)).astype(np.float32),
              "f8.idx": rng.normal(size=(3, 2, 2)),
              "i2.idx": rng.integers(-300, 300, (6,)).astype(np.int16)}
    for name, a in arrays.items():
        back = data.read_idx(data.write_idx(tmp_path / name, a))
        assert back.dtype == a.dtype and back.shape == a.shape
        np.testing.assert_array_equal(back, a)
    # a small MNIST-like folder: 12 train and 5 test 28 x 28 images
    imgs = rng.integers(0, 256, (12, 28, 28)).astype(np.uint8)
    labs = rng.integers(0, 10, 12).astype(np.uint8)
    data.write_idx(tmp_path / "train-images-idx3-ubyte.gz", imgs)
    data.write_idx(tmp_path / "train-labels-idx1-ubyte", labs)
    data.write_idx(tmp_path / "t10k-images-idx3-ubyte", imgs[:5])
    data.write_idx(tmp_path / "t10k-labels-idx1-ubyte", labs[:5])
    s = data.digits(8, seed=1, data_dir=str(tmp_path))
    assert s.sizes == (8, 5) and s.x_train.shape == (8, 784) and s.classes == 10
    assert float(s.x_train.max()) <= 1.0
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="data_dir"):
        data.read_idx(tmp_path / "bad")


def test_dataset_sizes_and_splits():
    s = data.modular_addition(23, 0.9, seed=0, one_hot=True)
    assert s.sizes == (476, 53) and s.x_train.shape == (476, 46) and s.classes == 23
    assert torch.all(s.x_train.sum(1) == 2)
    a, b = s.x_train[:, :23].argmax(1), s.x_train[:, 23:].argmax(1)
    assert torch.equal((a + b) % 23, s.y_train)
    t = data.modular_addition(113, 0.3, seed=0)
    assert t.sizes == (3831, 12769 - 3831) and t.x_train.shape == (3831, 2)
    both = torch.cat([t.x_train, t.x_test])
    assert len({tuple(r) for r in both.tolist()}) == 113 ** 2           # disjoint, complete
    assert not torch.equal(data.modular_addition(23, 0.9, seed=1).x_test, data.modular_addition(23, 0.9, seed=0).x_test)
    g = data.permutation_group(24, seed=0)
    assert g.sizes == (24, 12) and g.classes == 6
    els = data.s3_elements()
    e = els.index((0, 1, 2))
    x = torch.cat([g.x_train, g.x_test]); y = torch.cat([g.y_train, g.y_test])
    for (i, j), k in zip(x.tolist(), y.tolist()):
        assert data.s3_product(els[i], els[j]) == els[k]
        if i == e:
            assert k == j
    ts = data.teacher_student(100, 50, seed=0)
    assert ts.sizes == (100, 50) and ts.x_train.shape == (100, 5) and ts.y_train.shape == (100, 5)
    assert torch.equal(ts.y_test, data.teacher_student(100, 50, seed=0).y_test)
    dg = data.digits(1000, seed=0)
    assert dg.sizes == (1000, 797) and dg.x_train.shape == (1000, 64)
    assert 0 <= float(dg.x_train.min()) and float(dg.x_train.max()) <= 1


def test_invalid_configuration_names_the_parameter():
    from grokking_workbench.numerics.validate import InputError

    with pytest.raises(InputError, match="optimizer"):
        T.check_config(T.TrainConfig(optimizer="lbfgs"))
    with pytest.raises(InputError, match="train_fraction"):
        data.modular_addition(5, 1.0)


def test_wide_weight_decay_default_is_unchanged_and_decay_shrinks_weights():
    from grokking_workbench.numerics.simulate.wide import WideConfig, simulate

    base = dict(N=20, D=10, P=30, alpha=(0.5, 1.4), t_max=20.0, dt=0.5, seeds=1, records=5)
    a = simulate(WideConfig(**base), progress=False)
    b = simulate(WideConfig(**base, weight_decay=0.0), progress=False)
    np.testing.assert_array_equal(a.test_loss.values, b.test_loss.values)
    c = simulate(WideConfig(**base, weight_decay=0.05), progress=False)
    assert (c.weight_norm.isel(t=-1) < a.weight_norm.isel(t=-1)).all()


def _mnist_folder(folder, n_train=40, n_test=10, seed=0):
    """A small folder of the four standard MNIST IDX files (random 28 x 28 images)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for (img, lab), n in zip(data.MNIST_FILES.values(), (n_train, n_test)):
        data.write_idx(folder / img, rng.integers(0, 256, (n, 28, 28)).astype(np.uint8))
        data.write_idx(folder / lab, rng.integers(0, 10, n).astype(np.uint8))
    return folder


def test_run_data_dir_feeds_mnist_files_to_a_digit_experiment(tmp_path, monkeypatch):
    """`grokking run digits-grokking --data-dir DIR` trains on the IDX files of DIR (784 inputs),
    and the dataset's configuration records the folder."""
    import dataclasses
    import json

    import xarray as xr

    from grokking_workbench.experiments import cli, registry

    folder = _mnist_folder(tmp_path / "mnist")
    exp = registry.get("digits-grokking")
    tiny = dataclasses.replace(exp.quick, n_train=30, seeds=1, steps=20, records=5)
    monkeypatch.setitem(registry._REGISTRY, "digits-grokking", dataclasses.replace(exp, quick=tiny))
    out = tmp_path / "out"
    assert cli.main(["run", "digits-grokking", "--quick", "--out-dir", str(out), "--data-dir", str(folder)]) == 0
    ds = xr.open_dataset(out / "quick.nc")
    config = json.loads(ds.attrs["config"])
    assert config["data_dir"] == str(folder.resolve())
    ds.close()


@pytest.mark.parametrize("case", ["missing", "incomplete", "not-idx", "no-data-experiment"])
def test_run_data_dir_is_checked_before_anything_runs(tmp_path, capsys, case):
    from grokking_workbench.experiments import cli

    folder = tmp_path / "mnist"
    name = "digits-grokking"
    if case == "incomplete":
        _mnist_folder(folder)
        (folder / "t10k-labels-idx1-ubyte").unlink()
    elif case == "not-idx":
        _mnist_folder(folder)
        (folder / "train-images-idx3-ubyte").write_bytes(b"\x01\x02\x03\x04rest")
    elif case == "no-data-experiment":
        _mnist_folder(folder)
        name = "ntk-spectrum"
    out = tmp_path / "out"
    assert cli.main(["run", name, "--quick", "--out-dir", str(out), "--data-dir", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--data-dir" in err[0], err
    assert not out.exists()
