"""Effective-theory dynamics (Liu et al. 2022, eqs. (4)-(9)): conserved quantities, order of the
integrator, and agreement with the SymPy flow of theory.effective."""

import numpy as np
import pytest

from grokking_workbench.numerics import effective_dynamics as ed
from grokking_workbench.numerics import representation as rep
from grokking_workbench.theory import effective

P = 10
# RK4 has global error O(dt^4); with dt = 0.25 and the rates of these systems (lambda <= 0.3)
# the per-unit-time error is of order (lambda dt)^4 / 120 ~ 1e-7 per unit time, so a drift of
# Z0 below 1e-6 relative over t = 100 checks conservation (not the integrator's luck).
Z0_DRIFT_TOL = 1e-6
# C is conserved by every RK stage exactly in exact arithmetic (each stage is a combination of
# M R with 1^T M = 0, and of R); rounding adds a few ulps per step.
C_DRIFT_TOL = 1e-12


def _split_quads(seed: int, n_train: int = 45):
    mask = rep.sample_splits(P, n_train, 1, np.random.default_rng(seed))[0]
    return rep.quadruples(P, rep.restrict(rep.parallelogram_pairs(P), mask)), mask


def test_full_flow_conserves_z0_and_zero_mean():
    quads, _ = _split_quads(1)
    R0 = rep.normalise(np.random.default_rng(0).normal(size=(P, 2)))
    traj = ed.integrate(R0, quads, np.linspace(0, 100, 21), flow="full", dt=0.25)
    drift = ed.conservation_drift(traj)
    assert drift["Z0"] < Z0_DRIFT_TOL
    assert drift["C"] < C_DRIFT_TOL
    assert traj.l_eff[-1] < 1e-3 * traj.l_eff[0]         # it does move


def test_full_flow_c_grows_as_derived_when_nonzero():
    # dC/dt = (2 l0 / Z0^2) C (theory.effective): compare a centred finite difference of C with
    # the closed form; the difference error is O(h^2 |C'''|) ~ 1e-8 for h = 0.01.
    quads, _ = _split_quads(2)
    R0 = np.random.default_rng(1).normal(size=(P, 1)) + 0.7
    h = 0.01
    traj = ed.integrate(R0, quads, np.array([1.0 - h, 1.0, 1.0 + h]), flow="full", dt=h / 4)
    fd = (traj.C[2] - traj.C[0]) / (2 * h)
    np.testing.assert_allclose(fd, traj.rate_C[1], rtol=1e-6)
    assert np.all(np.abs(traj.rate_C[1]) > 1e-3)         # a real, nonzero growth rate


def test_linear_flow_conserves_c_but_z0_decays():
    quads, _ = _split_quads(3)
    R0 = np.random.default_rng(2).normal(size=(P, 1)) + 0.3
    traj = ed.integrate(R0, quads, np.linspace(0, 50, 11), flow="linear", dt=0.25)
    assert ed.conservation_drift(traj)["C"] < C_DRIFT_TOL
    assert np.all(np.diff(traj.Z0) < 0)
    # dZ0/dt = -4 l0 / Z0 with Z0 frozen in H at Z0(R0) (theory.effective); centred
    # difference error O(h^2) ~ 1e-5 relative for h = 0.01 and rates of order 0.1
    h = 0.01
    tr = ed.integrate(R0, quads, np.array([0.5 - h, 0.5, 0.5 + h]), flow="linear", dt=h / 4)
    fd = (tr.Z0[2] - tr.Z0[0]) / (2 * h)
    assert fd == pytest.approx(-4 * tr.l0[1] / float((R0 ** 2).sum()), rel=1e-4)


def test_rk4_converges_at_fourth_order_to_exact_linear_solution():
    quads, _ = _split_quads(4)
    R0 = rep.normalise(np.random.default_rng(3).normal(size=(P, 1)))
    times = np.linspace(0, 40, 5)
    exact = ed.linear_exact(R0, quads, times)
    errs = []
    dts = np.array([4.0, 2.0, 1.0])
    for dt in dts:
        errs.append(np.abs(ed.integrate(R0, quads, times, flow="linear", dt=dt).R - exact.R).max())
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert 3.6 < slope < 4.6


def test_velocity_matches_sympy_flow():
    import sympy as sp

    quads = [(0, 3, 1, 2), (0, 2, 1, 1), (1, 3, 2, 2), (0, 4, 1, 3)]
    p, d = 5, 2
    E = effective.embedding_symbols(p, d)
    R = np.random.default_rng(6).normal(size=(p, d))
    subs = {E[k, a]: R[k, a] for k in range(p) for a in range(d)}
    M = ed.loss_matrix(np.array(quads), p)
    for flow in ("full", "linear"):
        F = effective.flow(quads, E, flow).subs(subs).subs(sp.Symbol("Z_0", positive=True), 2.5)
        num = ed.velocity(R, M, flow, z0_frozen=2.5)
        np.testing.assert_allclose(num, np.array(F.tolist(), dtype=float), rtol=1e-12, atol=1e-14)


def test_sympy_conservation_rates():
    quads = [(0, 3, 1, 2), (0, 2, 1, 1), (1, 3, 2, 2)]
    full = effective.conservation_rates(quads, 4, d=1, kind="full")
    lin = effective.conservation_rates(quads, 4, d=1, kind="linear")
    assert full["dZ0"] == 0 and full["dC_residual"] == [0]
    assert full["dC"][0] != 0                            # C is not conserved in general
    assert lin["dC"] == [0] and lin["dZ0_residual"] == 0


def test_converges_to_linear_structure_when_unique():
    quads, mask = _split_quads(5)
    assert rep.theory_over_splits(P, mask[None])["unique"][0]
    R0 = rep.normalise(np.random.default_rng(4).normal(size=(P, 1)))
    traj = ed.integrate(R0, quads, np.array([0.0, 400.0]), flow="full", dt=0.5)
    assert rep.rqi(traj.R[0]) < 0.2
    assert rep.rqi(traj.R[-1], delta=1e-6) == 1.0


def test_rejects_bad_input():
    from grokking_workbench.numerics.validate import InputError

    with pytest.raises(InputError):
        ed.integrate(np.zeros(P), np.zeros((0, 4), int), [0.0, 1.0])
    with pytest.raises(InputError):
        ed.integrate(np.ones(P), np.zeros((0, 4), int), [1.0, 0.5])
    with pytest.raises(InputError):
        ed.integrate(np.ones(P), np.zeros((0, 4), int), [1.0], flow="other")


def test_identities_report_the_differences_from_the_print():
    ids = {i.key: i for i in effective.identities()}
    for key in ("effective.conserved.full", "effective.conserved.linear", "effective.hessian.H",
                "effective.normaliser"):
        assert ids[key].is_misprint and ids[key].note
    assert not ids["effective.hessian.distinct"].is_misprint
    assert r"\frac{3}{35}" in ids["effective.grokking_rate"].latex
    assert all(i.paper == "Liu et al. 2022" for i in ids.values())
