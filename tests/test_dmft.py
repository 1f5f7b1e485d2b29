"""The finite-gamma DMFT solver: exact w-process, fixed point, online limit, estimators, orders."""

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from grokking_workbench.experiments import cli
from grokking_workbench.numerics.dmft import solver, sweep as sw, wprocess
from grokking_workbench.numerics.dmft.grid import Grid, make_grid
from grokking_workbench.theory.generated import committee as th

A0 = (0.04, -0.02)
Z = 5.0  # Monte-Carlo comparisons, in standard errors


def small(**kw):
    """A uniform first-order solve without replicas (the first milestone's configuration)."""
    base = dict(A0=A0, alpha=0.5, eps=0.05, gamma=8.0, t_max=6.0, dt=0.5, growth=0.0, scheme="euler",
                samples=1000, replicas=1, error_estimate=False)
    base.update(kw)
    return solver.DMFTConfig(**base)


def problem(grid, gamma=4.0, memory=math.inf):
    return sw.Problem(np.eye(2), np.array(A0), 0.5, 0.05, gamma, grid, memory)


def test_uniform_euler_reproduces_the_first_milestone_solver():
    """The euler scheme on a uniform grid is the first-order solver of the first milestone: the
    numbers are that solver's output (commit e65605b) for the same random numbers."""
    p = problem(Grid(np.arange(17) * 0.5, "euler"))
    res = sw.sweep(p, sw.Noise.draw(300, p, 3), source="cholesky")
    np.testing.assert_allclose(res.A[-1], [0.04686199971111697, -0.05171237282802296], rtol=1e-11)
    np.testing.assert_allclose(res.train_loss[-1], 0.5271520671784822, rtol=1e-11)
    np.testing.assert_allclose(res.Cw_diag[-1], [[1.6276950426988115, 0.19026145871089584],
                                                 [0.1902614587108957, 1.683934677234293]], rtol=1e-11)
    np.testing.assert_allclose(res.fields.Rh[10, 4], [[0.00432402006983795, 0.00106951861165637],
                                                      [0.00450251636574934, 0.0010689579223689]], rtol=1e-9)


def test_sources_and_precisions_agree_within_monte_carlo_error():
    """The empirical source (the march's default) against the Cholesky source, and float32 against
    float64 histories: A(t_max) and the train loss of independent solves agree within 5 standard
    errors of their difference (gamma = 4, a non-uniform grid to t = 30)."""
    grid = make_grid(30.0, 0.05, growth=0.1, h_max=0.8)
    out = {}
    for key, source, precision in (("empirical", "empirical", "float64"), ("cholesky", "cholesky", "float64"),
                                   ("float32", "empirical", "float32")):
        p = sw.Problem(np.eye(2), np.array(A0), 0.5, 0.05, 4.0, grid, math.inf, precision)
        out[key] = np.array([np.concatenate([r.A[-1], [r.train_loss[-1]]]) for r in
                             (sw.sweep(p, sw.Noise.draw(1000, p, seed), source=source) for seed in range(8))])
    for key in ("cholesky", "float32"):
        a, b = out["empirical"], out[key]
        se = np.sqrt(a.var(0, ddof=1) / len(a) + b.var(0, ddof=1) / len(b))
        assert np.all(np.abs(a.mean(0) - b.mean(0)) < Z * se), (key, a.mean(0), b.mean(0), se)


def test_grid_grows_from_dt_to_h_max_with_an_even_number_of_steps():
    from grokking_workbench.numerics.dmft.grid import START_LEVELS

    g = make_grid(100.0, 0.05, growth=0.05, h_max=1.0)
    h = g.h
    assert g.t[0] == 0 and g.t[-1] == 100.0 and g.T % 2 == 0
    # the start: halvings from dt / 2^levels reach t = dt, then steps of dt grow to h_max
    assert abs(h[0] - 0.05 / 2 ** START_LEVELS) < 1e-15 and abs(g.t[START_LEVELS + 1] - 0.05) < 1e-15
    assert abs(h[START_LEVELS + 1] - 0.05) < 1e-12 and h.max() <= 1.0 + 1e-12
    np.testing.assert_allclose(make_grid(10.0, 0.05).h, 0.05)   # a uniform grid has no start
    assert np.all(h[1:-2] >= h[:-3] - 1e-12)       # non-decreasing except the adjusted last steps
    np.testing.assert_allclose(g.coarse().t, g.t[::2])


@pytest.mark.parametrize("scheme", ["imex2", "euler"])
@pytest.mark.parametrize("estimator", ["probe", "jacobian"])
def test_march_is_the_fixed_point_of_the_iteration_map(scheme, estimator):
    p = problem(make_grid(4.0, 0.25, growth=0.2, h_max=0.6, scheme=scheme), gamma=8.0)
    noise = sw.Noise.draw(400, p, 0)
    x = sw.sweep(p, noise, estimator=estimator, source="cholesky")
    Fx = sw.sweep(p, noise, frozen=x.fields, estimator=estimator)
    assert solver.residual(Fx.fields, x.fields, Fx.noise) < 1e-9
    np.testing.assert_allclose(Fx.A, x.A, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(Fx.Cw_diag, x.Cw_diag, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("scheme", ["imex2", "euler"])
@pytest.mark.parametrize("memory", [math.inf, 1.5])
def test_incremental_w_statistics_equal_the_exact_linear_solve(scheme, memory):
    """The sweep's recursions (A, the response to w_0, Cw(t,t) from the samples' memories, the
    gap sum) against the dense system L w = b of :mod:`numerics.dmft.wprocess`."""
    grid = make_grid(6.0, 0.3, growth=0.1, h_max=0.8, scheme=scheme)
    p = problem(grid, memory=memory)
    res = sw.sweep(p, sw.Noise.draw(500, p, 1))
    f = res.fields
    w = wprocess.solve(p.C0, p.A0, f.Rh, f.Rhs, f.Cg, p.gamma, grid)
    np.testing.assert_allclose(w.A, res.A, atol=1e-14)
    np.testing.assert_allclose(np.einsum("nnab->nab", w.Cw), res.Cw_diag, atol=1e-12)
    G = solver.source_response(res, w.Rw)
    np.testing.assert_allclose(np.einsum("nmij,nmij->n", G, f.Cg), res.gap_sum, atol=1e-12)
    if memory < math.inf:
        lag = grid.t[:, None] - grid.t[None, :]
        assert np.all(f.Rh[(lag > memory + 1e-9)] == 0)


@pytest.mark.parametrize("scheme", ["imex2", "euler"])
def test_w_process_covariance_matches_sampled_recursion(rng, scheme):
    """Cw = L^-1 Cov(b) L^-T against Monte Carlo of the scheme's recursion written out per sample
    (random kernels, a non-uniform grid)."""
    S, N, gamma = 200_000, 2, 3.0
    grid = Grid(np.array([0.0, 0.2, 0.5, 0.9, 1.5, 2.2, 3.0]), scheme)
    T, h, rho = grid.T, grid.h, grid.ratio()
    c_now, c_prev = grid.explicit_weights()
    theta = 0.5 if scheme == "imex2" else 0.0
    Rh = rng.normal(size=(T + 1, T + 1, N, N)) * 0.3 * np.tril(np.ones((T + 1, T + 1)))[:, :, None, None]
    Rhs = rng.normal(size=(T + 1, N)) * 0.5
    G = rng.normal(size=((T + 1) * N, (T + 1) * N))
    Cg = wprocess.unflat(G @ G.T / (T * N), N)
    C0, a0 = np.array([[1.0, 0.3], [0.3, 0.8]]), np.array([0.2, -0.1])
    w = wprocess.solve(C0, a0, Rh, Rhs, Cg, gamma, grid)
    Q = np.block([[C0, a0[:, None]], [a0[None, :], np.ones((1, 1))]])
    z = rng.multivariate_normal(np.zeros(N + 1), Q, size=S)
    xi = rng.multivariate_normal(np.zeros(T * N), wprocess.flat(Cg[:T, :T]) / gamma, size=S).reshape(S, T, N)
    beta = z[:, N:]
    ws = np.zeros((S, T + 1, N))
    ws[:, 0] = z[:, :N]
    K = lambda k: Rh[k, k] + Rh[k, :k].sum(0)                                       # noqa: E731
    E = lambda k: (np.einsum("mab,smb->sa", Rh[k, :k], ws[:, :k]) - ws[:, k] @ Rh[k, :k].sum(0).T
                   + xi[:, k] + Rhs[k] * beta)                                        # noqa: E731
    for k in range(T):
        rate_next = K(k) if k == 0 else (1 + rho[k]) * K(k) - rho[k] * K(k - 1)
        rhs = ws[:, k] + (1 - theta) * h[k] * ws[:, k] @ K(k).T + c_now[k] * E(k)
        if k > 0:
            rhs += c_prev[k] * E(k - 1)
        ws[:, k + 1] = rhs @ np.linalg.inv(np.eye(N) - theta * h[k] * rate_next).T
    last = ws[:, T]
    emp = last.T @ last / S
    se = np.sqrt((last[:, :, None] ** 2 * last[:, None, :] ** 2).mean(0) / S)
    assert np.all(abs(emp - w.Cw[T, T]) < Z * se)
    Aemp = (last * beta).mean(0)
    assert np.all(abs(Aemp - w.A[T]) < Z * (last * beta).std(0) / np.sqrt(S))


def _online_ode(t_max, alpha=0.5, eps=0.05):
    N = len(A0)

    def f(t, y):
        dA, dC = th.online_rhs(y[:N], y[N:].reshape(N, N), alpha, eps)
        return np.concatenate([dA, dC.ravel()])

    y0 = np.concatenate([A0, np.eye(N).ravel()])
    return solve_ivp(f, (0, t_max), y0, rtol=1e-10, atol=1e-12, dense_output=True)


def _order(errors, steps):
    return np.polyfit(np.log(steps), np.log(errors), 1)[0]


@pytest.mark.parametrize("scheme,order", [("imex2", 2), ("euler", 1)])
def test_gamma_inf_converges_to_the_online_ode_at_the_scheme_order(scheme, order):
    """On a family of non-uniform grids (first step, step limit and 1 / growth all scaled by s)
    the error of A(t) against the exact online ODE falls like s^order."""
    t_max = 100.0
    ode = _online_ode(t_max)
    errors, scales = [], (1.0, 0.5, 0.25, 0.125)
    for s in scales:
        cfg = small(gamma=math.inf, t_max=t_max, dt=0.2 * s, growth=0.1 / s, h_max=2.0 * s, scheme=scheme,
                    samples=4)
        res = solver.solve(cfg).result
        errors.append(np.max(np.abs(res.A - ode.sol(res.grid.t)[:2].T)))
    slope = _order(errors, scales)
    assert order - 0.25 < slope < order + 0.35, (errors, slope)


def test_large_gamma_matches_the_online_ode():
    """gamma = 1e6 equals gamma = inf on the same grid to O(1/gamma), and both match the online
    ODE within the step-halving estimate of the discretisation error (second order: |A(h) -
    A(2h)| / 3, with a factor 2 of margin for the estimate itself). Compared as the largest
    component at each time: one component's error changes sign where the other's does not,
    and near such a crossing its own estimate says nothing about its size."""
    t_max = 60.0
    big = solver.solve(small(gamma=1e6, t_max=t_max, dt=0.05, growth=0.05, h_max=1.0, scheme="imex2",
                             samples=200)).result
    inf = solver.solve(small(gamma=math.inf, t_max=t_max, dt=0.05, growth=0.05, h_max=1.0, scheme="imex2",
                             samples=8, error_estimate=True))
    ode = _online_ode(t_max).sol(big.grid.t)[:2].T
    scale = np.max(np.abs(ode))
    assert np.max(np.abs(big.A - inf.result.A)) / scale < 1e-4
    # at the coarse nodes, where step halving defines the estimate (odd nodes interpolate it)
    error = np.abs(big.A - ode)[::2].max(axis=1)
    estimate = inf.errors["A_disc"][::2].max(axis=1)
    assert np.all(error <= 2 * estimate + 1e-9 * scale), np.max(error / np.maximum(estimate, 1e-300))
    assert np.max(error) / scale < 5e-3


@pytest.mark.parametrize("scheme,order", [("imex2", 2), ("euler", 1)])
def test_finite_gamma_discretisation_converges_at_the_scheme_order(scheme, order):
    """gamma = 4, a non-uniform grid to t = 6 (dt = 0.04, growth 0.08, h_max = 0.3) and its
    coarsenings by 2 and 4, with exact per-sample responses (jacobian) and the empirical source,
    so that the random numbers at the common nodes are shared exactly: the ratio of successive
    differences of the train loss, C_11, A_1 and the gap sum at t = 3 and t = 6 is 2^order
    (measured 4.0-4.4 for imex2, 1.9-2.2 for euler)."""
    g = make_grid(6.0, 0.04, growth=0.08, h_max=0.3, scheme=scheme)
    t = g.t
    while (len(t) - 1) % 4:
        t = np.insert(t, -1, 0.5 * (t[-2] + t[-1]))
    fine = problem(Grid(t, scheme))
    noise = sw.Noise.draw(200, fine, 11)
    values = []
    for level in range(3):                       # steps h, 2h, 4h
        p = problem(Grid(t[::2 ** level], scheme))
        nz = noise
        for _ in range(level):
            nz = nz.every_other()
        res = sw.sweep(p, nz, estimator="jacobian", source="empirical")
        idx = np.arange(0, p.T + 1, 2 ** (2 - level))
        values.append(np.stack([res.train_loss[idx], res.Cw_diag[idx, 0, 0], res.A[idx, 0], res.gap_sum[idx]], 1))
    values = np.array(values)
    tc = t[::4]
    at = [np.searchsorted(tc, 3.0 - 1e-9), len(tc) - 1]
    ratio = (values[2, at] - values[1, at]) / (values[1, at] - values[0, at])
    assert np.all((0.7 * 2 ** order < ratio) & (ratio < 1.3 * 2 ** order)), ratio


def test_step_halving_estimate_bounds_the_error_of_the_solver():
    """At gamma = inf the exact answer is the online ODE: the reported discretisation error of the
    default grid (second order) is within a factor 3 of the true error where that is resolved."""
    t_max = 200.0
    sol = solver.solve(solver.DMFTConfig(A0=A0, gamma=math.inf, t_max=t_max, samples=8, replicas=2))
    res = sol.result
    true = np.abs(res.A - _online_ode(t_max).sol(res.grid.t)[:2].T)
    est = sol.errors["A_disc"]
    resolved = true > 1e-8
    ratio = est[resolved] / true[resolved]
    assert np.median(ratio) > 1 / 3 and np.median(ratio) < 3, np.median(ratio)


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


def test_replica_error_matches_the_spread_of_independent_solves():
    """The Monte-Carlo SE that a solve reports (spread of its replicas) against the spread of the
    answers of independent solves: their ratio lies within the chi-square range of the estimates."""
    cfg = lambda seed: small(samples=2000, replicas=4, seed=seed, t_max=4.0, growth=0.1, dt=0.1,  # noqa: E731
                             h_max=0.5, scheme="imex2")
    sols = [solver.solve(cfg(seed)) for seed in range(10)]
    finals = np.array([s.result.train_loss[-1] for s in sols])
    reported = np.sqrt(np.mean([s.errors["train_loss_mc"][-1] ** 2 for s in sols]))
    ratio = reported / np.std(finals, ddof=1)
    assert 0.5 < ratio < 2.0, ratio


def test_replicas_on_two_processes_equal_the_in_process_solve():
    """Replicas and their step-halving partners run on a pool of processes give the same
    estimates, errors and fields as one after another in this process."""
    cfg = small(samples=400, replicas=3, t_max=3.0, growth=0.1, dt=0.1, h_max=0.5, scheme="imex2",
                error_estimate=True)
    one, two = solver.solve(cfg), solver.solve(cfg, workers=2)
    assert one.status == two.status == "complete"
    for name in ("A", "Cw_diag", "train_loss", "gap_sum"):
        np.testing.assert_array_equal(getattr(one.result, name), getattr(two.result, name))
    for name in ("Cg", "Rh", "Rhs"):
        np.testing.assert_array_equal(getattr(one.result.fields, name), getattr(two.result.fields, name))
    assert one.errors.keys() == two.errors.keys()
    for key in one.errors:
        np.testing.assert_array_equal(one.errors[key], two.errors[key])


def test_iteration_converges_to_the_march_and_records_residuals():
    cfg = small(method="iterate", tol=0.1, replicas=1, source="cholesky")
    sol = solver.solve(cfg)
    march = solver.solve(small(source="cholesky"))
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
        flag = "/".join("--" + part for part in param.split("/"))
        assert f"error: {flag}:" in capsys.readouterr().err
        assert not out.exists()
    assert cli.main(base + ["--gamma", "inf"]) == 0
    assert out.exists()


@pytest.mark.slow
def test_dmft_matches_simulation_ensembles_at_two_gammas():
    """Done criterion: at gamma = 8 and 4 (alpha 0.5, eps 0.05, A0 = (0.04, -0.02), C0 = I,
    t <= 60) train and test loss within the error bars of D = 1000 simulation ensembles."""
    from grokking_workbench.experiments import dmft

    cfg = dmft.GammaConfig(gammas=(8.0, 4.0), t_max=60.0, samples=8000, D=1000, seeds=10,
                           dt_sim=0.1, records=40)
    ds = dmft.run_gamma(cfg)
    z = np.concatenate([ds.z_train.values.ravel(), ds.z_test.values.ravel()])
    assert np.nanmax(np.abs(z)) < 4.0


@pytest.mark.parametrize("memory", [math.inf, 2.0])
def test_fields_on_output_nodes_leave_the_march_unchanged(memory):
    """A march that keeps Cg and Rh only between output nodes (O(T) memory for them) computes
    exactly what the march with the full (T+1)^2 fields does, and its stored blocks are the full
    fields at those nodes."""
    p = problem(make_grid(8.0, 0.1, growth=0.05, h_max=0.4), memory=memory)
    noise = sw.Noise.draw(200, p, 5)
    full = sw.sweep(p, noise)
    nodes = solver.two_time_nodes(p.T, 9)
    lean = sw.sweep(p, noise, nodes=nodes)
    for name in ("A", "Cw_diag", "train_loss", "gap_sum"):
        np.testing.assert_array_equal(getattr(lean, name), getattr(full, name))
    np.testing.assert_array_equal(lean.fields.Rhs, full.fields.Rhs)
    np.testing.assert_array_equal(lean.fields.Rh, full.fields.Rh[np.ix_(nodes, nodes)])
    np.testing.assert_array_equal(lean.fields.Cg, full.fields.Cg[np.ix_(nodes, nodes)])
    assert lean.fields.Rh.shape == (len(nodes), len(nodes), 2, 2)
    with pytest.raises(ValueError, match="output nodes"):
        sw.sweep(p, noise, nodes=nodes, source="cholesky")


def test_solver_keeps_two_time_fields_on_output_nodes_beyond_the_dense_limit(monkeypatch):
    """Past DENSE_LIMIT a march stores its fields only on the two-time output nodes; its dataset
    equals the one from full fields (two-time functions on the same nodes)."""
    cfg = small(t_max=4.0, samples=100, replicas=2, error_estimate=True, scheme="imex2")
    monkeypatch.setattr(solver, "DENSE_LIMIT", 4)
    full = solver.to_dataset(solver.solve(cfg), 5)
    sol = solver.solve(cfg, two_time_points=5)
    assert sol.result.nodes is not None and len(sol.result.nodes) == 5
    lean = solver.to_dataset(sol, 5)
    for name in ("train_loss", "test_loss", "A", "C", "Cg", "Rh", "test_loss_mc", "test_loss_disc"):
        np.testing.assert_array_equal(lean[name].values, full[name].values)
    np.testing.assert_array_equal(lean.t2.values, full.t2.values)
