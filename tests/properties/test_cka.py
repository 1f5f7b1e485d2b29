"""Invariances of the double-centred kernel-task alignment."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from grokking_workbench.numerics.kernels import cka


@st.composite
def problems(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 31 - 1)))
    P = draw(st.integers(4, 20))
    F = rng.normal(size=(P, draw(st.integers(1, 6))))
    return F @ F.T, rng.normal(size=P), rng


@settings(max_examples=50, deadline=None)
@given(problems(), st.floats(1e-3, 1e3), st.floats(-1e3, 1e3).filter(lambda c: abs(c) > 1e-3),
       st.floats(-10, 10))
def test_cka_invariances(problem, k_scale, y_scale, shift):
    K, y, rng = problem
    base = cka(K, y)
    assert -1 - 1e-12 <= base <= 1 + 1e-12
    assert cka(k_scale * K, y) == pytest.approx(base, rel=1e-9, abs=1e-12)
    assert cka(K, y_scale * y) == pytest.approx(base, rel=1e-9, abs=1e-12)
    assert cka(K, y + shift) == pytest.approx(base, rel=1e-9, abs=1e-12)
    perm = rng.permutation(len(y))
    assert cka(K[np.ix_(perm, perm)], y[perm]) == pytest.approx(base, rel=1e-9, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(problems())
def test_cka_is_one_for_the_label_kernel(problem):
    _, y, _ = problem
    assert cka(np.outer(y, y), y) == pytest.approx(1.0, rel=1e-12)
