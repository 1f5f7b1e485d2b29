"""numerics.ode: the online-limit ODE (DMFT paper A.1) against an independent solution.

The independent solution is a right-hand side written here from the equations of docs/conventions.md
(online limit; not from the generated module), integrated by classical RK4 with a fixed step.
"""

from __future__ import annotations

import numpy as np
import pytest

from grokking_workbench.experiments import cli
from grokking_workbench.numerics import io, ode

# ---- tolerances (one place), each from an error estimate --------------------------------------
# ode.integrate runs DOP853 at rtol 1e-10 and the RK4 reference has global error ~ (h lam)^4 t lam
# ~ 1e-6 for h = 0.05, rates lam <~ 0.5 and t lam <~ 200: both are far inside the 1e-4 promised.
ODE_REL = 1e-4
# a loss that has decayed to ~0 is known only to an absolute error of (state error) x (loss
# gradient): the minimum lies on the boundary of the PSD cone, where dL/d(A, C) = O(1), and the
# state error is ~ rtol |C| ~ 1e-10 x 40 per step, accumulated over ~10^3 steps: ~1e-7.
LOSS_FLOOR = 1e-6
# the same estimate at rtol = 1e-12 bounds the numerical "increase" of a non-increasing loss
MONOTONE_RTOL = 1e-12
MONOTONE_FLOOR = 1e-8
RK4_STEP = 0.05
# early growth at small alpha: R^h differs from eps/2 by the O(alpha) terms
# (alpha/N)(1 + eps^2 C) + alpha eps^2 tr C / (2N), and C moves by O(t alpha) over the fit window;
# the bound below is twice that size.
ALPHA_SMALL = 1e-3


def hand_rhs(A, C, alpha, eps):
    """dA/dt, dC/dt written from docs/conventions.md, online limit (independent of theory.generated)."""
    N = A.size
    mean_delta = 0.5 - alpha * eps / (2 * N) * np.trace(C)
    R = eps * mean_delta * np.eye(N) - (alpha / N) * (1.0 + eps**2 * C)
    return R @ A + eps * A, R @ C + C @ R.T + 2 * eps * np.outer(A, A)


def hand_loss(A, C, alpha, eps):
    """Kumar et al. eq. (6) in order parameters, written out by hand."""
    N = A.size
    variance = 0.25 * (1 - alpha * eps * np.trace(C) / N) ** 2
    misalignment = 0.5 * ((alpha * eps) ** 2 * np.sum(C**2) / N**2
                          - 2 * alpha * eps * np.sum(A**2) / N + 1)
    linear = alpha**2 * np.sum(C) / N**2
    return variance + misalignment + linear


def rk4(A0, C0, alpha, eps, times, h=RK4_STEP):
    """Classical RK4 with fixed step h; ``times`` must be multiples of h."""
    A, C = np.array(A0, float), np.array(C0, float)
    out_A, out_C, t = [], [], 0.0
    n_at = np.round(np.asarray(times) / h).astype(int)
    for n in range(n_at[-1] + 1):
        if n in n_at:
            out_A.append(A.copy())
            out_C.append(C.copy())
        k1 = hand_rhs(A, C, alpha, eps)
        k2 = hand_rhs(A + h / 2 * k1[0], C + h / 2 * k1[1], alpha, eps)
        k3 = hand_rhs(A + h / 2 * k2[0], C + h / 2 * k2[1], alpha, eps)
        k4 = hand_rhs(A + h * k3[0], C + h * k3[1], alpha, eps)
        A = A + h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        C = C + h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
    return np.array(out_A), np.array(out_C)


CASES = [
    # N, alpha, eps, A0, C0, times
    (2, 0.5, 0.05, [0.04, -0.02], np.eye(2), [0, 1, 5, 20, 50, 80, 120, 200, 400]),
    (3, 2.0, 0.3, [0.1, 0.3, -0.2], [[1, 0.2, 0], [0.2, 0.8, 0.1], [0, 0.1, 1.2]],
     [0, 0.5, 2, 5, 10, 20, 40]),
]


@pytest.mark.parametrize("N, alpha, eps, A0, C0, times", CASES)
def test_ode_matches_independent_rk4(N, alpha, eps, A0, C0, times):
    ds = ode.integrate(A0, C0, alpha, eps, t_eval=np.asarray(times, float))
    assert ds.attrs["status"] == "complete"
    A_ref, C_ref = rk4(A0, C0, alpha, eps, times)
    state = np.concatenate([ds.A.values, ds.C.values.reshape(len(times), -1)], axis=1)
    ref = np.concatenate([A_ref, C_ref.reshape(len(times), -1)], axis=1)
    rel = np.linalg.norm(state - ref, axis=1) / np.linalg.norm(ref, axis=1)
    assert rel.max() < ODE_REL, rel
    L_ref = np.array([hand_loss(a, c, alpha, eps) for a, c in zip(A_ref, C_ref)])
    err = np.abs(ds.test_loss.values - L_ref)
    assert np.all(err <= ODE_REL * np.abs(L_ref) + LOSS_FLOOR), err
    terms = ds.variance_error + ds.misalignment_error + ds.linear_power
    np.testing.assert_allclose(terms.values, ds.test_loss.values, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("N, alpha, eps, A0, C0, times", CASES)
def test_ode_invariants(N, alpha, eps, A0, C0, times):
    """Gradient flow on the population loss: the loss never increases; the rhs equals its
    response-function form; C stays symmetric."""
    ds = ode.integrate(A0, C0, alpha, eps, times[-1], records=200, rtol=MONOTONE_RTOL,
                       atol=MONOTONE_RTOL * 1e-2)
    assert ds.attrs["max_loss_increase"] < MONOTONE_FLOOR
    assert ds.attrs["rhs_residual"] < 1e-12
    np.testing.assert_allclose(ds.C.values, np.swapaxes(ds.C.values, 1, 2), atol=1e-12)


def test_early_growth_rate_is_three_halves_eps():
    """DMFT paper A.3, eq. (19): at small alpha, dA/dt = (3 eps / 2) A."""
    eps, N = 0.05, 2
    A0 = np.array([0.04, -0.02])
    C0 = np.eye(N)
    times = np.linspace(0, 10, 11)
    ds = ode.integrate(A0, C0, ALPHA_SMALL, eps, t_eval=times)
    norm = np.linalg.norm(ds.A.values, axis=1)
    rate = np.polyfit(times, np.log(norm), 1)[0]
    c_max = np.abs(ds.C.values).max()
    bound = 2 * (ALPHA_SMALL * (1 + eps**2 * c_max) + ALPHA_SMALL * eps**2 * c_max * N / (2 * N))
    assert abs(rate - 1.5 * eps) < bound, (rate, 1.5 * eps, bound)
    # and it is not the rate of a neighbouring guess (eps or 2 eps)
    assert abs(rate - eps) > 10 * bound and abs(rate - 2 * eps) > 10 * bound


def test_euler_expected_converges_to_ode_at_first_order():
    """The Euler map of the order parameters tends to the ODE with error O(dt)."""
    A0, C0, alpha, eps, T = [0.04, -0.02], np.eye(2), 0.5, 0.05, 60.0
    ref = ode.integrate(A0, C0, alpha, eps, t_eval=[0.0, T])
    errs = []
    dts = [0.4, 0.2, 0.1]
    for dt in dts:
        n = int(round(T / dt))
        A, C = ode.euler_expected(A0, C0, alpha, eps, dt, [n])
        errs.append(np.abs(C[-1] - ref.C.values[-1]).max())
    slopes = np.diff(np.log(errs)) / np.diff(np.log(dts))
    assert np.all(np.abs(slopes - 1) < 0.15), slopes


def test_grokking_ode_command_writes_labelled_dataset(tmp_path):
    out = tmp_path / "F.nc"
    rc = cli.main(["ode", "--N", "2", "--alpha", "0.5", "--eps", "0.05", "--A0", "0.04,-0.02",
                   "--C0", "identity", "--t-max", "400", "--records", "50", "--out", str(out)])
    assert rc == 0
    ds = io.read_dataset(out)
    assert ds.attrs["status"] == "complete"
    for name in ("A", "C", "test_loss", "variance_error", "misalignment_error", "linear_power"):
        assert name in ds
    assert ds.A.dims == ("t", "i") and ds.C.dims == ("t", "i", "j")
    assert ds.t.values[0] == 0 and ds.t.values[-1] == pytest.approx(400)
    assert np.all(np.diff(np.log(ds.t.values[1:])) > 0)
    io.check_schema(ds)
    direct = ode.integrate([0.04, -0.02], np.eye(2), 0.5, 0.05, t_eval=ds.t.values)
    np.testing.assert_allclose(ds.A.values, direct.A.values, rtol=1e-12)


def test_exit_code_constant_matches_cli():
    assert ode.EXIT_DIVERGED == cli.EXIT_DIVERGED
