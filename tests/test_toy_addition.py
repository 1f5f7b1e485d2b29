"""Torch toy model (Liu et al. 2022, Sec. 2 and 4.1): batched training equals per-configuration
training with torch.optim, metrics agree with numerics.representation, phases are classified."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from grokking_workbench.experiments import phase_diagram as pd  # noqa: E402
from grokking_workbench.experiments.phase_diagram import classify, sandwiched  # noqa: E402
from grokking_workbench.numerics import representation as rep  # noqa: E402
from grokking_workbench.numerics.simulate import toy_addition as ta  # noqa: E402
from grokking_workbench.numerics.validate import InputError  # noqa: E402

# float64, identical operations in a different batching: the two computations differ only by
# the summation order inside batched matrix products (~1e-16 relative per step); over 40 Adam
# steps with lr <= 1e-2 the parameters move by <= 0.4, so 1e-10 bounds the difference with
# a wide margin while catching any difference in the update rule (which would be >= 1e-6).
BATCH_ATOL = 1e-10


def _batch(spec, B=4, seed=0):
    masks = rep.sample_splits(spec.p, rep.split_sizes(spec.p, 0.8), B, np.random.default_rng(seed))
    return ta.Batch.make(embedding_lr=np.geomspace(1e-3, 1e-2, B), lr=np.geomspace(1e-4, 1e-2, B),
                         weight_decay=np.linspace(0.0, 3.0, B), seed=np.arange(B) + 10, train_mask=masks)


@pytest.mark.parametrize("task,modulus,d_embed", [("regression", None, 1), ("classification", None, 2),
                                                  ("classification", 7, 2)])
def test_batched_training_equals_per_configuration_training(task, modulus, d_embed):
    spec = ta.ModelSpec(p=7, d_embed=d_embed, task=task, modulus=modulus, width=16, depth=2)
    batch = _batch(spec)
    res = ta.train(spec, batch, 40, dtype="float64", num_threads=1)
    ref = ta.train_loop(spec, batch, 40, dtype="float64", num_threads=1)
    np.testing.assert_allclose(res.extra["params"]["embedding"], ref["embeddings"], rtol=0, atol=BATCH_ATOL)
    np.testing.assert_allclose(ta.decoder_vector(spec, res.extra["params"]), ref["decoder"], rtol=0, atol=BATCH_ATOL)
    np.testing.assert_allclose(res.train_loss[-1], ref["train_loss"], rtol=1e-10)
    # and the configurations really differ (so the comparison is not of one repeated run)
    assert np.ptp(ref["train_loss"]) > 1e-3


def test_batch_of_one_equals_member_of_batch():
    spec = ta.ModelSpec(p=6, width=8)
    batch = _batch(spec, B=3)
    full = ta.train(spec, batch, 20, dtype="float64", num_threads=1)
    one = ta.train(spec, batch.select(1), 20, dtype="float64", num_threads=1)
    np.testing.assert_allclose(one.extra["params"]["embedding"][0], full.extra["params"]["embedding"][1],
                               rtol=0, atol=BATCH_ATOL)


def test_a_member_gets_the_same_bits_in_any_batch_of_two_or_more():
    """The cells of a phase-diagram block (float32) do not depend on their block-mates."""
    spec = ta.ModelSpec(p=6, width=8)
    batch = _batch(spec, B=5)
    full = ta.train(spec, batch, 30, num_threads=1, chunk_size=None)
    pair = ta.train(spec, ta.Batch(*(getattr(batch, k)[[1, 4]] for k in
                                     ("embedding_lr", "lr", "weight_decay", "seed", "train_mask"))),
                    30, num_threads=1, chunk_size=None)
    for key, value in full.extra["params"].items():
        np.testing.assert_array_equal(pair.extra["params"][key], value[[1, 4]])


def test_chunked_training_equals_one_batch():
    spec = ta.ModelSpec(p=6, width=8)
    batch = _batch(spec, B=5)
    one = ta.train(spec, batch, 20, record_steps=[0, 10, 20], eval_every=5, dtype="float64",
                   num_threads=1, chunk_size=None)
    chunked = ta.train(spec, batch, 20, record_steps=[0, 10, 20], eval_every=5, dtype="float64",
                       num_threads=1, chunk_size=2)
    for key in ("embeddings", "train_loss", "val_acc", "rqi", "steps_to_train", "steps_to_val"):
        np.testing.assert_allclose(getattr(chunked, key), getattr(one, key), rtol=0, atol=BATCH_ATOL)
    np.testing.assert_allclose(ta.decoder_vector(spec, chunked.extra["params"]),
                               ta.decoder_vector(spec, one.extra["params"]), rtol=0, atol=BATCH_ATOL)


def test_rqi_torch_matches_numpy():
    rng = np.random.default_rng(0)
    E = rng.normal(size=(5, 10, 2))
    E[0] = rep.linear_representation(10, [1.0, 2.0], [0.3, -0.2])
    E[1] = E[0] + 0.01 * rng.normal(size=(10, 2))
    quads = rep.quadruples(10)
    for delta in (0.05, 0.1):
        t = ta.rqi_torch(torch.as_tensor(E), torch.as_tensor(quads), delta).numpy()
        np.testing.assert_allclose(t, rep.rqi(E, delta=delta), atol=1e-15)
    assert rep.rqi(E[0]) == 1.0


def test_records_and_accuracy_definitions():
    spec = ta.ModelSpec(p=6, width=16)
    batch = _batch(spec, B=2)
    res = ta.train(spec, batch, 30, record_steps=[0, 10, 30], eval_every=5, num_threads=1)
    assert res.embeddings.shape == (3, 2, 6, 1)
    assert np.all((res.train_acc >= 0) & (res.train_acc <= 1))
    # accuracies are multiples of 1/|D| and 1/|D'|
    n_tr = batch.train_mask.sum(axis=1)
    np.testing.assert_allclose(res.train_acc * n_tr, np.round(res.train_acc * n_tr), atol=1e-5)
    # step 0: untrained regression outputs are near 0, the nearest target is random: low accuracy
    assert res.train_acc[0].mean() < 0.5


@pytest.mark.slow
def test_full_data_is_learned():
    # the full dataset of p = 6 (21 samples, 11 labels) is fitted within 2000 steps
    spec = ta.ModelSpec(p=6, width=32, activation="tanh")
    batch = ta.Batch.make(embedding_lr=1e-2, lr=3e-3, weight_decay=0.0, seed=[0, 1],
                          train_mask=np.ones((1, 21), bool))
    res = ta.train(spec, batch, 2000, eval_every=50, num_threads=1)
    assert np.all(res.steps_to_train >= 0)
    assert np.all(res.train_acc[-1] == 1.0)


def test_training_reduces_the_loss():
    spec = ta.ModelSpec(p=5, width=16, activation="tanh")
    batch = ta.Batch.make(embedding_lr=1e-2, lr=1e-2, weight_decay=0.0, seed=[0, 1],
                          train_mask=np.ones((1, 15), bool))
    res = ta.train(spec, batch, 150, record_steps=[0, 150], num_threads=1)
    assert np.all(res.train_loss[-1] < 0.5 * res.train_loss[0])


def test_phase_classification():
    tr = np.array([100, 100, 100, -1, -1, 5000])
    va = np.array([300, 5000, -1, -1, 200, 4000])
    assert classify(tr, va, 1000).tolist() == [0, 1, 2, 3, 3, 0]


def test_default_model_is_the_papers_toy_model():
    # Liu et al.'s toy model: 1-D embeddings U(-1/2, 1/2), decoder 1-200-200-30 (tanh), 30-D targets
    spec = ta.ModelSpec()
    shapes = {k: tuple(v.shape) for k, v in ta.init_parameters(spec, 0).items()}
    assert shapes["embedding"] == (10, 1)
    assert [s for k, s in shapes.items() if k.endswith("weight")] == [(200, 1), (200, 200), (30, 200)]
    assert tuple(ta.targets(spec, 0).shape) == (19, 30)
    E = torch.stack([ta.init_parameters(spec, s)["embedding"] for s in range(200)])
    assert float(E.abs().max()) <= 0.5
    # uniform on [-1/2, 1/2]: variance 1/12; 2000 draws give a standard error of ~0.0017
    assert float(E.var()) == pytest.approx(1 / 12, abs=0.01)
    En = ta.init_parameters(ta.ModelSpec(embed_init="normal", embed_scale=2.0), 0)["embedding"]
    assert float(En.abs().max()) > 1.0


def _prob(maj: np.ndarray) -> np.ndarray:
    """Phase probabilities of one pair per point with the given phases."""
    return np.eye(4)[maj]


def test_phase_map_checks():
    C, G, M, X = 0, 1, 2, 3
    panel = pd.Panel("6b")
    none = np.full((2, 3, 1), np.nan)
    # rows: weight decay ascending; columns: decoder lr ascending
    good = np.array([[G, C, C, M],
                     [G, G, M, X],
                     [M, M, X, X]])
    assert sandwiched(good) == 3
    out = pd.verdicts(panel, _prob(good), np.full(good.shape + (1,), np.nan))
    assert {v for v, _ in out.values()} == {"reproduced"}, out
    # grokking touching comprehension only is not "between comprehension and memorisation"
    apart = np.array([[G, C, M, M],
                      [C, C, X, X]])
    assert sandwiched(apart) == 0
    out = pd.verdicts(panel, _prob(apart), np.full(apart.shape + (1,), np.nan))
    assert out["grokking_between"][0] == "not reproduced" and out["confusion_corner"][0] == "reproduced"
    # wrong corners
    out = pd.verdicts(panel, _prob(np.array([[G, C, X], [M, C, M]])), none)
    assert out["memorisation_corner"][0] == out["confusion_corner"][0] == "not reproduced"
    # a point without result leaves every statement open
    prob = _prob(good)
    prob[1, 1] = np.nan
    out = pd.verdicts(panel, prob, np.full(good.shape + (1,), np.nan))
    assert {v for v, _ in out.values()} == {"inconclusive"}


def test_embedding_lr_panel_checks():
    """Fig. 6a: rows embedding lr ascending, columns decoder lr ascending."""
    C, G, M = 0, 1, 2
    panel = pd.Panel("6a", y="embedding_lr")
    maj = np.array([[M, M, M],
                    [C, M, M],
                    [G, C, C]])
    val = np.array([[-1, -1, -1], [900, -1, -1], [3000, 200, 100]], float)[..., None]
    out = pd.verdicts(panel, _prob(maj), val)
    assert {v for v, _ in out.values()} == {"reproduced"}, out
    # the slow-decoder corner generalises no later than the typical point
    fast = val.copy()
    fast[2, 0] = 150
    assert pd.verdicts(panel, _prob(maj), fast)["slow_generalisation"][0] == "not reproduced"
    # a faster decoder that generalises where a slower one failed breaks the competition
    odd = np.array([[M, M, M], [C, M, C], [G, C, C]])
    out = pd.verdicts(panel, _prob(odd), val)
    assert out["competition"][0] == "not reproduced" and "at 1 places" in out["competition"][1]


def test_rejects_bad_configuration():
    with pytest.raises(InputError):
        ta.ModelSpec(task="ranking")
    with pytest.raises(InputError):
        ta.ModelSpec(embed_init="orthogonal")
    with pytest.raises(InputError):
        ta.Batch.make(embedding_lr=[1e-3, 1e-3, 1e-3], lr=[1e-3, 1e-3], weight_decay=0, seed=0,
                      train_mask=np.ones((1, 55), bool))
    spec = ta.ModelSpec(p=5)
    with pytest.raises(InputError):
        ta.train(spec, ta.Batch.make(embedding_lr=1e-3, lr=1e-3, weight_decay=0, seed=0,
                                     train_mask=np.ones((1, 55), bool)), 5)


def test_early_exit_stops_decided_configurations_and_leaves_the_others_unchanged():
    """A configuration whose train and validation accuracy have both reached the threshold stops
    there and leaves the batch; the others train exactly as without early exit (float64)."""
    spec = ta.ModelSpec(p=6, width=16)
    masks = rep.generalisable_splits(6, 17, 4, np.random.default_rng(1), min_accuracy=1.0)
    batch = ta.Batch.make(embedding_lr=3e-2, lr=[3e-2, 1e-2, 1e-4, 3e-3], weight_decay=0.0,
                          seed=[0, 1, 2, 3], train_mask=masks)
    kw = dict(eval_every=5, num_threads=1, dtype="float64")
    full = ta.train(spec, batch, 200, **kw)
    early = ta.train(spec, batch, 200, stop_when_decided=True, **kw)
    decided = (full.steps_to_train >= 0) & (full.steps_to_val >= 0)
    assert decided.tolist() == [True, False, False, False]
    np.testing.assert_array_equal(early.steps_to_train, full.steps_to_train)
    np.testing.assert_array_equal(early.steps_to_val, full.steps_to_val)
    stop = early.extra["stop_step"]
    assert stop[0] == max(full.steps_to_train[0], full.steps_to_val[0]) < 200
    assert stop[1:].tolist() == [200, 200, 200]
    assert early.extra["final"]["train_acc"][0] >= 0.9 and early.extra["final"]["val_acc"][0] >= 0.9
    # the stopped configuration's parameters are those of its stop step, not of step 200
    assert np.abs(early.extra["params"]["embedding"][0] - full.extra["params"]["embedding"][0]).max() > 1e-3
    for k in range(1, 4):
        np.testing.assert_array_equal(early.extra["params"]["embedding"][k], full.extra["params"]["embedding"][k])
    np.testing.assert_array_equal(early.extra["final"]["train_loss"][1:], full.train_loss[-1][1:])
    # records after the stop are NaN
    assert np.isnan(early.train_loss[-1][0]) and np.isfinite(early.train_loss[-1][1:]).all()


def test_s3_model_multiplies_matrix_embeddings():
    spec = ta.ModelSpec(p=6, d_embed=9, group="s3", width=16)
    labels = spec.labels()
    # element 0 is the identity: e h = h and g e = g; the table is a Latin square
    assert labels[:6].tolist() == list(range(6)) and labels[::6].tolist() == list(range(6))
    assert all(sorted(labels[6 * g:6 * g + 6]) == list(range(6)) for g in range(6))
    assert np.isnan(ta.train(spec, ta.Batch.make(embedding_lr=1e-2, lr=1e-2, weight_decay=0, seed=0,
                                                 train_mask=np.ones((1, 36), bool)), 1).rqi).all()
    mask = np.zeros((2, 36), bool)
    mask[:, :24] = True
    batch = ta.Batch.make(embedding_lr=1e-2, lr=[1e-3, 1e-2], weight_decay=[0.0, 1.0], seed=[0, 1],
                          train_mask=mask)
    res = ta.train(spec, batch, 30, dtype="float64", num_threads=1)
    ref = ta.train_loop(spec, batch, 30, dtype="float64", num_threads=1)
    np.testing.assert_allclose(res.extra["params"]["embedding"], ref["embeddings"], rtol=0, atol=BATCH_ATOL)
    with pytest.raises(InputError, match="^group"):
        ta.ModelSpec(p=6, group="s3")
