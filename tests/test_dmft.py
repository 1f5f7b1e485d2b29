"""The finite-gamma DMFT solver: exact w-process, fixed point, online limit, estimators, orders."""

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from experiments import cli
from numerics.dmft import solver, sweep as sw, wprocess
from theory.generated import committee as th

A0 = (0.04, -0.02)
Z = 5.0  # Monte-Carlo comparisons, in standard errors


def small(**kw):
    base = dict(A0=A0, alpha=0.5, eps=0.05, gamma=8.0, t_max=6.0, dt=0.5, samples=1000)
    base.update(kw)
    return solver.DMFTConfig(**base)


def test_march_is_the_fixed_point_of_the_iteration_map():
    cfg = small()
    p = cfg.problem()
    noise = sw.Noise.draw(cfg.samples, p, 0)
    x = sw.sweep(p, noise)
    Fx = sw.sweep(p, noise, frozen=x.fields)
    assert solver.residual(Fx.fields, x.fields, Fx.noise) < 1e-9
    np.testing.assert_allclose(Fx.A, x.A, rtol=1e-12, atol=1e-15)


def test_incremental_w_statistics_equal_the_exact_linear_solve():
    cfg = small()
    p = cfg.problem()
    res = sw.sweep(p, sw.Noise.draw(500, p, 1))
    f, T = res.fields, p.T
    w = wprocess.solve(p.C0, p.A0, f.Rh[:T, :T], f.Rhs[:T], f.Cg[:T, :T], p.gamma, p.dt)
    np.testing.assert_allclose(w.A, res.A, atol=1e-14)
    np.testing.assert_allclose(np.einsum("nnab->nab", w.Cw), res.Cw_diag, atol=1e-13)
    np.testing.assert_allclose(w.Rw, solver.response_w(res), atol=1e-14)


def test_w_process_covariance_matches_sampled_recursion(rng):
    """Cw = L^-1 Cov(b) L^-T against Monte Carlo of the recursion with random kernels."""
    T, N, dt, gamma, S = 6, 2, 0.3, 3.0, 200_000
    Rh = rng.normal(size=(T, T, N, N)) * 0.3 * np.tril(np.ones((T, T)))[:, :, None, None]
    Rhs = rng.normal(size=(T, N)) * 0.5
    G = rng.normal(size=(T * N, T * N))
    Cg = wprocess.unflat(G @ G.T / (T * N), N)
    C0, a0 = np.array([[1.0, 0.3], [0.3, 0.8]]), np.array([0.2, -0.1])
    w = wprocess.solve(C0, a0, Rh, Rhs, Cg, gamma, dt)
    Q = np.block([[C0, a0[:, None]], [a0[None, :], np.ones((1, 1))]])
    z = rng.multivariate_normal(np.zeros(N + 1), Q, size=S)
    xi = rng.multivariate_normal(np.zeros(T * N), wprocess.flat(Cg) / gamma, size=S).reshape(S, T, N)
    ws = np.zeros((S, T + 1, N))
    ws[:, 0] = z[:, :N]
    for n in range(T):
        mem = np.einsum("mab,smb->sa", Rh[n, :n + 1], ws[:, :n + 1])
        ws[:, n + 1] = ws[:, n] + dt * (xi[:, n] + mem + Rhs[n] * z[:, N:])
    last = ws[:, T]
    emp = last.T @ last / S
    se = np.sqrt((last[:, :, None] ** 2 * last[:, None, :] ** 2).mean(0) / S)
    assert np.all(abs(emp - w.Cw[T, T]) < Z * se)
    Aemp = (last * z[:, N:]).mean(0)
    assert np.all(abs(Aemp - w.A[T]) < Z * (last * z[:, N:]).std(0) / np.sqrt(S))


def _online_ode(t_max, alpha=0.5, eps=0.05):
    N = len(A0)

    def f(t, y):
        dA, dC = th.online_rhs(y[:N], y[N:].reshape(N, N), alpha, eps)
        return np.concatenate([dA, dC.ravel()])

    y0 = np.concatenate([A0, np.eye(N).ravel()])
    return solve_ivp(f, (0, t_max), y0, rtol=1e-10, atol=1e-12, dense_output=True)


def test_gamma_inf_converges_to_the_online_ode_at_first_order():
    t_max = 20.0
    ode = _online_ode(t_max).sol(t_max)[:2]
    errors = []
    dts = (0.5, 0.25, 0.125)
    for dt in dts:
        sol = solver.solve(small(gamma=math.inf, t_max=t_max, dt=dt, samples=10))
        errors.append(np.max(np.abs(sol.result.A[-1] - ode)))
    slope = np.polyfit(np.log(dts), np.log(errors), 1)[0]
    assert 0.8 < slope < 1.2, (errors, slope)


def test_large_gamma_matches_the_online_ode():
    """Done criterion: at gamma = 1e6, A(t) matches the online ODE to a few percent. The
    difference is the Euler discretisation error: gamma = 1e6 equals gamma = inf on the same grid
    to O(1/gamma), and the error to the ODE is within 1.5x its Richardson estimate 2|A(dt) - A(dt/2)|."""
    t_max, dt = 60.0, 0.25
    big = solver.solve(small(gamma=1e6, t_max=t_max, dt=dt, samples=200)).result.A
    inf = solver.solve(small(gamma=math.inf, t_max=t_max, dt=dt, samples=10)).result.A
    half = solver.solve(small(gamma=math.inf, t_max=t_max, dt=dt / 2, samples=10)).result.A[::2]
    ode = _online_ode(t_max).sol(np.arange(big.shape[0]) * dt)[:2].T
    scale = np.max(np.abs(ode))
    assert np.max(np.abs(big - inf)) / scale < 1e-4
    error = np.max(np.abs(big - ode)) / scale
    richardson = 2 * np.max(np.abs(inf - half)) / scale
    assert error < 0.05 and error < 1.5 * richardson, (error, richardson)


def test_probe_and_jacobian_estimators_agree():
    """Memory part of R^h from random probes and from exact per-sample Jacobians, over seeds."""
    runs = {e: [] for e in sw.ESTIMATORS}
    for seed in range(6):
        for est in sw.ESTIMATORS:
            cfg = small(t_max=3.0, dt=0.5, gamma=2.0, samples=1500, seed=seed, estimator=est, alpha=1.0, eps=0.5)
            Rh = solver.solve(cfg).result.fields.Rh
            T = cfg.T
            mask = np.tril(np.ones((T + 1, T + 1), dtype=bool), k=-1)
            runs[est].append(Rh[mask])
    p, j = np.array(runs["probe"]), np.array(runs["jacobian"])
    se = np.sqrt(p.var(0, ddof=1) / len(p) + j.var(0, ddof=1) / len(j))
    zscores = np.abs(p.mean(0) - j.mean(0)) / np.maximum(se, 1e-12)
    assert np.max(zscores) < Z, np.max(zscores)
    assert np.abs(j.mean(0)).max() > 10 * se.mean()   # the memory kernel is resolved, not zero


def test_monte_carlo_error_falls_like_inverse_square_root_of_samples():
    spread = []
    sizes = (250, 1000, 4000)
    for S in sizes:
        finals = [solver.solve(small(samples=S, seed=s, t_max=4.0)).result.train_loss[-1] for s in range(8)]
        spread.append(np.std(finals, ddof=1))
    slope = np.polyfit(np.log(sizes), np.log(spread), 1)[0]
    assert -0.75 < slope < -0.25, (spread, slope)


def test_iteration_converges_to_the_march_and_records_residuals():
    cfg = small(method="iterate", tol=0.1)
    sol = solver.solve(cfg)
    march = solver.solve(small())
    assert sol.status == "complete"
    assert sol.residuals[-1] < 0.1 and sol.residuals[0] > sol.residuals[-1]
    assert np.all(np.diff(sol.residuals) < 0)
    # both are the same fixed point up to the stopping tolerance
    np.testing.assert_allclose(sol.result.A, march.result.A, atol=1e-3)


def test_dmft_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "d.nc"
    base = ["dmft", "--N", "2", "--alpha", "0.5", "--eps", "0.05", "--A0", "0.04,-0.02",
            "--t-max", "2", "--dt", "0.5", "--samples", "50", "--out", str(out)]
    for bad, param in [(["--gamma", "0"], "gamma"), (["--gamma", "nan"], "gamma"),
                       (["--gamma", "8", "--dt", "-1"], "dt"), (["--gamma", "8", "--samples", "0"], "samples"),
                       (["--gamma", "8", "--A0", "0.04"], "A0"), (["--gamma", "8", "--A0", "2,0"], "C0/A0")]:
        args = base + bad
        if "--A0" in bad:
            i = args.index("--A0")
            args = args[:i] + args[i + 2:] if args.count("--A0") > 1 else args
        assert cli.main(args) == 2
        assert param in capsys.readouterr().err
        assert not out.exists()
    assert cli.main(base + ["--gamma", "inf"]) == 0
    assert out.exists()


@pytest.mark.slow
def test_dmft_matches_simulation_ensembles_at_two_gammas():
    """Done criterion: at gamma = 8 and 4 (alpha 0.5, eps 0.05, A0 = (0.04, -0.02), C0 = I,
    t <= 60) train and test loss within the error bars of D = 1000 simulation ensembles."""
    from experiments import dmft

    cfg = dmft.GammaConfig(gammas=(8.0, 4.0), t_max=60.0, dt=0.25, samples=8000, D=1000, seeds=10,
                           dt_sim=0.1, records=40)
    ds = dmft.run_gamma(cfg)
    z = np.concatenate([ds.z_train.values.ravel(), ds.z_test.values.ravel()])
    assert np.nanmax(np.abs(z)) < 4.0


def test_finite_gamma_discretisation_converges_at_first_order():
    """gamma = 4, train loss at t = 1 (the fast early fit, where the step matters most): the
    differences between successive halvings of dt shrink by about 2 (first order; second order
    would give 4). Monte-Carlo noise of each difference is ~1e-3 at 3 x 20000 samples."""
    def train_at_1(dt):
        return np.mean([solver.solve(small(gamma=4.0, t_max=1.0, dt=dt, samples=20000, seed=s)).result.train_loss[-1]
                        for s in range(3)])

    L = [train_at_1(dt) for dt in (0.5, 0.25, 0.125)]
    ratio = (L[1] - L[0]) / (L[2] - L[1])
    assert 1.4 < ratio < 3.2, (L, ratio)
