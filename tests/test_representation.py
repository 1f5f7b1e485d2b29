"""Parallelograms, nullity, RQI and the grokking rate (Liu et al. 2022, Sec. 3) against SymPy."""

import numpy as np
import pytest

from grokking_workbench.numerics import representation as rep
from grokking_workbench.numerics.validate import InputError
from grokking_workbench.theory import effective

# Exact integer inputs: the numeric Hessian is 2 A^T A / (|P| Z0) in floating point, whose
# entries are small rationals; rounding error is a few ulps of entries of order 1.
HESSIAN_ATOL = 1e-13


@pytest.mark.parametrize("p", [3, 5, 10, 13])
def test_full_dataset_has_nullity_two(p):
    assert len(rep.full_dataset(p)) == p * (p + 1) // 2
    assert rep.nullity(rep.quadruples(p), p) == 2


@pytest.mark.parametrize("p", [3, 5, 7, 10])
def test_modular_full_dataset_has_nullity_one(p):
    assert rep.trivial_nullity(p, modulus=p) == 1


def test_parallelogram_count_matches_label_multiplicities():
    p = 10
    lab = rep.labels(rep.full_dataset(p))
    counts = np.bincount(lab)
    assert len(rep.parallelogram_pairs(p)) == int((counts * (counts - 1) // 2).sum()) == 70
    quads = rep.quadruples(p)
    assert np.all(quads[:, 0] + quads[:, 1] == quads[:, 2] + quads[:, 3])
    assert np.all(quads[:, 0] <= quads[:, 1]) and np.all(quads[:, 2] <= quads[:, 3])


def test_nullity_matches_exact_rank_on_random_splits():
    rng = np.random.default_rng(3)
    p = 7
    pairs = rep.parallelogram_pairs(p)
    for n_train in (5, 10, 14, 20, 28):
        for mask in rep.sample_splits(p, n_train, 4, rng):
            quads = rep.quadruples(p, rep.restrict(pairs, mask))
            exact = effective.exact_nullity([tuple(q) for q in quads], p)
            assert rep.nullity(quads, p) == exact
            th = rep.theory_over_splits(p, mask[None])
            assert th["nullity"][0] == exact
            assert th["unique"][0] == (exact == 2)


def test_numeric_hessian_equals_sympy_hessian():
    import sympy as sp

    rng = np.random.default_rng(5)
    p = 6
    pairs = rep.parallelogram_pairs(p)
    cases = [rep.quadruples(p, rep.restrict(pairs, m)) for m in rep.sample_splits(p, 14, 3, rng)]
    cases.append(np.array([[1, 1, 0, 2]]))              # coinciding indices (i, i, m, n)
    cases.append(np.array([[0, 3, 1, 2], [2, 2, 1, 3]]))
    for quads in cases:
        z0 = 7
        Hs = np.array(effective.hessian_H([tuple(q) for q in quads], p, z0).tolist(), dtype=float)
        Hn = rep.hessian(quads, p, z0=z0)
        np.testing.assert_allclose(Hn, Hs, rtol=0, atol=HESSIAN_ATOL)
    # the symbolic Hessian with symbolic Z0 carries 1/Z0
    H = effective.hessian_H([(0, 3, 1, 2)], 4)
    assert sp.simplify(H[0, 0] * sp.Symbol("Z_0", positive=True)) == 2


def test_lambda3_of_full_dataset_matches_exact_value():
    for p in (4, 6, 10):
        exact = float(effective.grokking_rate_full(p))
        th = rep.theory_over_splits(p, np.ones((1, p * (p + 1) // 2), bool))
        assert th["lambda3"][0] == pytest.approx(exact, rel=1e-12)
    assert float(effective.grokking_rate_full(10)) == pytest.approx(3 / 35, rel=1e-15)


def test_lambda3_is_zero_without_unique_representation():
    rng = np.random.default_rng(11)
    p = 10
    masks = rep.sample_splits(p, 12, 200, rng)           # fraction 0.22: never unique
    th = rep.theory_over_splits(p, masks)
    assert np.all(th["nullity"] > 2)
    assert np.all(th["lambda3"] == 0.0)
    masks = rep.sample_splits(p, 22, 200, rng)          # fraction 0.4: about half unique
    th = rep.theory_over_splits(p, masks)
    assert np.all((th["lambda3"] > 0) == th["unique"])
    assert th["unique"].any() and not th["unique"].all()


def test_critical_fraction_near_paper_value():
    # Fig. 4a: p_unique crosses 1/2 near r_c = 0.4 for p = 10. 400 splits per fraction give a
    # binomial standard error of at most 0.025 on p_unique; between neighbouring fractions
    # (0.05 apart) p_unique rises by about 0.35, so the crossing is located to within ~0.01.
    rng = np.random.default_rng(0)
    p = 10
    fractions = np.arange(0.30, 0.56, 0.05)
    pu = [rep.theory_over_splits(p, rep.sample_splits(p, rep.split_sizes(p, f), 400, rng))["unique"].mean()
          for f in fractions]
    assert np.all(np.diff(pu) > 0)
    rc = rep.crossing(fractions, np.array(pu))
    assert 0.37 < rc < 0.45


def test_rqi_linear_is_one_and_random_is_zero():
    rng = np.random.default_rng(2)
    for d in (1, 2, 5):
        R = rep.linear_representation(10, rng.normal(size=d), rng.normal(size=d))
        assert rep.rqi(R) == 1.0
        assert rep.rqi(R, normalised=False, delta=1e-9) == 1.0
    R = rng.normal(size=(100, 10, 2))
    assert np.all(rep.rqi(R, delta=1e-9) == 0.0)
    # with delta = 0.05 a residual of a random normalised 2-D representation (variance ~2 per
    # component) falls within delta with probability ~ delta^2 / 4 ~ 6e-4 per parallelogram
    assert rep.rqi(R).mean() < 5e-3


def test_rqi_counts_broken_parallelograms():
    R = rep.linear_representation(10, 0.0, 1.0)
    R[9, 0] += 5.0                                       # symbol 9 off the line
    quads = rep.quadruples(10)
    involved = np.any(quads == 9, axis=1).mean()
    assert rep.rqi(R, delta=1e-9, normalised=False) == pytest.approx(1 - involved)


def test_predicted_accuracy():
    rng = np.random.default_rng(4)
    p = 10
    mask = rep.sample_splits(p, 45, 1, rng)[0]
    lin = rep.linear_representation(p, [0.2, 1.0], [1.0, -0.5])
    lab = rep.labels(rep.full_dataset(p))
    seen = np.isin(lab, lab[mask])                       # sums with a training representative
    assert seen.mean() < 1.0
    assert rep.predicted_accuracy(lin, mask) == pytest.approx(seen.mean())
    assert rep.predicted_accuracy(lin, np.ones_like(mask)) == 1.0
    rand = rng.normal(size=(p, 2))
    assert rep.predicted_accuracy(rand, mask) == pytest.approx(mask.mean())
    # a training set without the unique structure cannot predict samples of unseen sums
    small = rep.sample_splits(p, 5, 1, rng)[0]
    assert rep.predicted_accuracy(rand, small) == pytest.approx(5 / 55)


def test_split_sampling_is_deterministic_and_exact_size():
    a = rep.sample_splits(10, 20, 5, np.random.default_rng(9))
    b = rep.sample_splits(10, 20, 5, np.random.default_rng(9))
    assert np.array_equal(a, b) and np.all(a.sum(axis=1) == 20)
    with pytest.raises(InputError):
        rep.sample_splits(10, 56, 1, np.random.default_rng(0))
    with pytest.raises(InputError):
        rep.split_sizes(10, 1.5)


def test_normalise_gives_zero_mean_and_z0_equal_p():
    rng = np.random.default_rng(1)
    R = rep.normalise(3.0 * rng.normal(size=(4, 10, 2)) + 7.0)
    np.testing.assert_allclose(R.mean(axis=1), 0.0, atol=1e-14)
    np.testing.assert_allclose((R ** 2).sum(axis=(1, 2)), 10.0, rtol=1e-13)


def test_crossing_interpolates():
    assert rep.crossing([0, 1, 2], [0.0, 0.25, 0.75]) == pytest.approx(1.5)
    assert np.isnan(rep.crossing([0, 1], [0.1, 0.2]))


def test_seen_label_fraction_counts_validation_sums_without_training_representative():
    p = 4
    samples = rep.full_dataset(p)
    lab = rep.labels(samples)
    mask = np.ones(len(samples), bool)
    mask[[np.flatnonzero(lab == 0)[0], np.flatnonzero(lab == 3)[0]]] = False
    # sum 0 has the single sample (0, 0): unseen; sum 3 has (0, 3) and (1, 2): one stays in D
    assert rep.seen_label_fraction(p, mask)[0] == pytest.approx(0.5)
    assert rep.seen_label_fraction(p, np.ones((1, len(samples)), bool))[0] == 1.0
    # a linear representation answers exactly the validation samples with a seen sum
    lin = rep.linear_representation(p, 0.0, 1.0)
    n_val = (~mask).sum()
    assert (rep.predicted_accuracy(lin, mask) * len(samples) - mask.sum()) / n_val == pytest.approx(0.5)


def test_generalisable_splits_respect_bounds_and_are_deterministic():
    a = rep.generalisable_splits(10, 45, 4, np.random.default_rng(3), 0.9, 0.9)
    b = rep.generalisable_splits(10, 45, 4, np.random.default_rng(3), 0.9, 0.9)
    assert np.array_equal(a, b) and np.all(a.sum(axis=1) == 45)
    np.testing.assert_allclose(rep.seen_label_fraction(10, a), 0.9)
    assert rep.theory_over_splits(10, a)["unique"].all()
    c = rep.generalisable_splits(10, 45, 4, np.random.default_rng(3), 1.0, 1.0)
    np.testing.assert_allclose(rep.seen_label_fraction(10, c), 1.0)
    with pytest.raises(InputError):
        rep.generalisable_splits(10, 5, 1, np.random.default_rng(0), 1.0, 1.0, max_draws=200)


def test_grokking_rate_normalisations():
    """eq5 is theory_over_splits' lambda_3; sigma2 = eq5 * |P0(D)| p / 2; authors_code is the
    decay rate of the slowest non-trivial mode under the authors' effective-theory update
    (E <- E + eta dE, dE = 2 l0 E / Z0^2 - (2 / Z0) A^T A E, l0 summed over all of P0(D0),
    Z0 = sum_k E_k^2 of embeddings normalised with the unbiased standard deviation), written here
    from those equations alone."""
    p, rng = 10, np.random.default_rng(3)
    masks = rep.sample_splits(p, 45, 40, rng)
    rates = rep.grokking_rates(p, masks)
    th = rep.theory_over_splits(p, masks)
    np.testing.assert_allclose(rates["eq5"], th["lambda3"], rtol=1e-12)
    scale = th["n_parallelograms"] * p / 2
    np.testing.assert_allclose(rates["sigma2"], rates["eq5"] * scale, rtol=1e-9)
    assert np.all((rates["sigma2"] > 0) == th["unique"])
    assert np.ptp(rates["authors_code"]) == 0 and rates["authors_code"][0] > 0

    A = rep.constraint_matrix(rep.quadruples(p), p)
    assert len(A) == 70
    lam, vec = np.linalg.eigh(A.T @ A)
    linear = np.arange(p, dtype=float)
    linear = (linear - linear.mean()) / linear.std(ddof=1)
    delta, eta, n = 1e-4, 1e-3, 2000
    E = linear + delta * vec[:, 2]
    Z0 = float(np.sum(E ** 2))
    for _ in range(n):
        r = A @ E
        E = E + eta * (2 * float(r @ r) / Z0 ** 2 * E - 2 / Z0 * (A.T @ r))
    decay = float(vec[:, 2] @ E) / delta
    assert Z0 == pytest.approx(p - 1, rel=1e-6)
    # Euler steps: the mode shrinks by (1 - eta lambda_3) per step
    assert -np.log(decay) / n == pytest.approx(-np.log1p(-eta * rates["authors_code"][0]), rel=1e-4)
