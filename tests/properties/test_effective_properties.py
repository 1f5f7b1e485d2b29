"""Properties of parallelogram sets, the effective loss and its Hessian (Liu et al. 2022, Sec. 3)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from grokking_workbench.numerics import effective_dynamics as ed
from grokking_workbench.numerics import representation as rep

# eigen-decompositions of small integer-derived matrices: rounding ~ p * eps * max|H|
EIG_ATOL = 1e-10


def _split(p, n_train, seed):
    mask = rep.sample_splits(p, n_train, 1, np.random.default_rng(seed))[0]
    return mask, rep.quadruples(p, rep.restrict(rep.parallelogram_pairs(p), mask))


splits = st.integers(3, 11).flatmap(
    lambda p: st.tuples(st.just(p), st.integers(0, p * (p + 1) // 2), st.integers(0, 2 ** 31 - 1)))


@settings(max_examples=40, deadline=None)
@given(splits)
def test_nullity_at_least_two_and_linear_modes_in_null_space(args):
    p, n_train, seed = args
    mask, quads = _split(p, n_train, seed)
    assert rep.nullity(quads, p) >= 2
    H = rep.hessian(quads, p)
    np.testing.assert_allclose(H @ np.ones(p), 0.0, atol=EIG_ATOL)          # translation
    np.testing.assert_allclose(H @ np.arange(p), 0.0, atol=EIG_ATOL)        # scaling of k b
    assert np.linalg.eigvalsh(H).min() > -EIG_ATOL                           # PSD
    # adding training samples can only remove degrees of freedom
    full = rep.quadruples(p)
    assert rep.nullity(full, p) <= rep.nullity(quads, p)


@settings(max_examples=40, deadline=None)
@given(splits)
def test_lambda3_positive_iff_unique(args):
    p, n_train, seed = args
    mask, _ = _split(p, n_train, seed)
    th = rep.theory_over_splits(p, mask[None])
    assert (th["lambda3"][0] > 0) == bool(th["unique"][0])


@settings(max_examples=30, deadline=None)
@given(st.integers(4, 10), st.integers(1, 3), st.floats(0.1, 10), st.floats(-5, 5), st.integers(0, 2 ** 31 - 1))
def test_rqi_and_effective_loss_invariant_under_affine_maps(p, d, scale, shift, seed):
    rng = np.random.default_rng(seed)
    R = rng.normal(size=(p, d))
    R2 = scale * R + shift
    assert rep.rqi(R, delta=0.3) == rep.rqi(R2, delta=0.3)
    Rn, Rn2 = rep.normalise(R), rep.normalise(R2)
    np.testing.assert_allclose(Rn, Rn2, atol=1e-9)
    # l_eff = l0/Z0 is homogeneous of degree 0
    quads = rep.quadruples(p)
    M = ed.loss_matrix(quads, p)
    l = ed.l0_value(Rn, M) / (Rn ** 2).sum()
    l2 = ed.l0_value(scale * Rn, M) / ((scale * Rn) ** 2).sum()
    np.testing.assert_allclose(l, l2, rtol=1e-10)
    assert 0.0 <= rep.rqi(R) <= 1.0


@settings(max_examples=25, deadline=None)
@given(st.integers(4, 9), st.integers(0, 2 ** 31 - 1))
def test_full_flow_velocity_is_tangent(p, seed):
    # dZ0/dt = 2 R . dR/dt = 0 and, for zero-mean R, sum_k dE_k/dt = 0 (theory.effective)
    rng = np.random.default_rng(seed)
    mask, quads = _split(p, rng.integers(1, p * (p + 1) // 2 + 1), seed)
    M = ed.loss_matrix(quads, p)
    R = rep.normalise(rng.normal(size=(p, 2)))
    V = ed.velocity(R, M, "full")
    assert abs((R * V).sum()) < 1e-12 * max(1.0, np.abs(V).max())
    np.testing.assert_allclose(V.sum(axis=0), 0.0, atol=1e-12)
