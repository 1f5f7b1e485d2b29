"""Properties of the simulators' initial conditions and record times (Hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from grokking_workbench.numerics.simulate import init
from grokking_workbench.numerics.simulate.committee import record_steps

# the overlaps of a QR frame are exact up to rounding: D x 1e-16 times the largest entry
OVERLAP_ATOL = 1e-11


@st.composite
def psd_overlaps(draw):
    """(C0, A0) with [[C0, A0], [A0^T, 1]] positive semi-definite, possibly singular."""
    N = draw(st.integers(1, 4))
    rank = draw(st.integers(1, N + 1))
    entries = draw(st.lists(st.floats(-2, 2, allow_nan=False), min_size=(N + 1) * rank,
                            max_size=(N + 1) * rank))
    L = np.array(entries).reshape(N + 1, rank)
    Q = L @ L.T
    if Q[N, N] < 1e-3:
        Q[N, N] += 1.0
        L = np.linalg.cholesky(Q + 1e-12 * np.eye(N + 1))
        Q = L @ L.T
    Q = Q / Q[N, N]
    return Q[:N, :N], Q[:N, N]


@settings(max_examples=40, deadline=None)
@given(psd_overlaps(), st.integers(0, 1000), st.integers(6, 40))
def test_weights_have_exactly_the_prescribed_overlaps(overlaps, seed, D):
    C0, A0 = overlaps
    beta = init.target_direction([seed], D)
    W = init.weights_with_overlaps(beta, C0, A0, [seed])
    C, A = init.overlaps_of(W, beta)
    scale = max(1.0, float(np.abs(C0).max()))
    np.testing.assert_allclose(C[0].numpy(), C0, atol=OVERLAP_ATOL * scale, rtol=0)
    np.testing.assert_allclose(A[0].numpy(), A0, atol=OVERLAP_ATOL * scale, rtol=0)


@settings(max_examples=60, deadline=None)
@given(st.floats(0.01, 1e3), st.floats(1e-3, 1.0), st.integers(1, 400))
def test_record_steps_are_increasing_and_end_at_t_max(t_max, dt, records):
    steps = record_steps(t_max, dt, records)
    assert steps[0] == 0
    assert np.all(np.diff(steps) > 0)
    assert len(steps) <= max(records, 2)
    assert steps[-1] == max(1, int(round(t_max / dt)))
