"""The torch committee-machine simulator: its update, its integrator, its initial conditions, its
batching, and its agreement with an independent implementation and with the online-limit theory."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grokking_workbench.numerics import ode
from grokking_workbench.numerics.simulate import data, init
from grokking_workbench.numerics.simulate.committee import CommitteeConfig, record_steps, simulate, velocity

# ---- tolerances (one place), each from an error estimate --------------------------------------
# float64 sums of ~10^2 terms of size O(1): rounding ~1e-14 relative
GRAD_RTOL = 1e-11
# overlaps from a QR frame of orthonormal columns: rounding ~D * 1e-16
OVERLAP_ATOL = 1e-12
# batched and looped runs differ only in the summation order of the matrix products: 1e-16 per
# step, amplified over <= 10^3 steps of a contracting flow
BATCH_RTOL = 1e-10
# Euler's global error e(dt) = c1 dt + c2 dt^2: over dt in [0.025, 0.2] with |c2/c1| dt <~ 0.1 the
# log-log slope lies within 0.1 of 1; allow 0.15
EULER_SLOPE_TOL = 0.15
# ensemble means against a reference: |mean difference| / (combined standard error) over ~20
# correlated record times, standard errors from 8-16 seeds (Student t, 7-15 dof): a deviation of
# 4.5 standard errors has probability < 1e-2 per time even at 7 dof
Z_MAX = 4.5

THREADS = 1  # one torch thread: the test machine runs other work beside these tests


@pytest.fixture(autouse=True)
def _one_torch_thread():
    from grokking_workbench.numerics.torch_runtime import torch_threads

    with torch_threads(THREADS):
        yield


def _tiny_problem(seed=0, S=2, K=3, N=3, D=7, P=11):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(S, K, N, D, generator=g, dtype=torch.float64)
    X = torch.randn(S, P, D, generator=g, dtype=torch.float64) / math.sqrt(D)
    y = torch.randn(S, P, generator=g, dtype=torch.float64)
    alpha = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)[:K]
    eps = torch.tensor([0.05, 0.3, -0.2], dtype=torch.float64)[:K]
    return W, X, y, alpha, eps


@pytest.mark.parametrize("chunk", [None, 4])
def test_velocity_is_scaled_autograd_gradient(chunk):
    """dw_i/dt = (1/gamma) sum_mu g_i^mu x^mu = -(N D / (2 alpha)) grad_{w_i} L_train."""
    W, X, y, alpha, eps = _tiny_problem()
    S, K, N, D = W.shape
    dW, loss = velocity(W, X, y, alpha, eps, chunk=chunk)
    Wr = W.clone().requires_grad_(True)
    H = torch.einsum("sknd,spd->sknp", Wr, X)
    f = (alpha[None, :, None] / N) * (H + 0.5 * eps[None, :, None, None] * H**2).sum(dim=2)
    L = ((y[:, None, :] - f) ** 2).mean(dim=-1)                       # (S, K), no factor 1/2
    L.sum().backward()
    expected = -(N * D / (2 * alpha))[None, :, None, None] * Wr.grad
    torch.testing.assert_close(dW, expected, rtol=GRAD_RTOL, atol=GRAD_RTOL)
    torch.testing.assert_close(loss, L.detach(), rtol=GRAD_RTOL, atol=0.0)
    # the factor is not -(D/2) (a plausible misreading): it differs whenever N != alpha
    assert not torch.allclose(dW, -(D / 2) * Wr.grad)


OVERLAP_CASES = [
    (np.eye(2), [0.04, -0.02]),
    ([[1.0, 0.3], [0.3, 0.5]], [0.5, 0.1]),
    ([[1.0, 1.0], [1.0, 1.0]], [1.0, 1.0]),               # singular: w_1 = w_2 = beta
    ([[2.0, 0.0, 0.1], [0.0, 1.0, 0.0], [0.1, 0.0, 0.3]], [0.0, 0.0, 0.0]),
]


@pytest.mark.parametrize("C0, A0", OVERLAP_CASES)
def test_prescribed_overlaps_are_exact(C0, A0):
    seeds, D = [0, 1, 2], 25
    beta = init.target_direction(seeds, D)
    W = init.weights_with_overlaps(beta, C0, A0, seeds)
    C, A = init.overlaps_of(W, beta)
    np.testing.assert_allclose(C.numpy(), np.broadcast_to(C0, C.shape), atol=OVERLAP_ATOL, rtol=0)
    np.testing.assert_allclose(A.numpy(), np.broadcast_to(A0, A.shape), atol=OVERLAP_ATOL, rtol=0)
    np.testing.assert_allclose((beta**2).sum(-1).numpy(), D, rtol=1e-14)
    # different seeds give different weights with the same overlaps
    assert not torch.allclose(W[0], W[1])


def test_simulation_starts_at_prescribed_overlaps():
    C0, A0 = [[1.0, 0.3], [0.3, 0.5]], (0.5, 0.1)
    ds = simulate(CommitteeConfig(N=2, D=30, alpha=0.5, eps=0.05, gamma=2, A0=A0, C0=C0,
                                  seeds=3, t_max=1, dt=0.1, records=3, threads=THREADS))
    np.testing.assert_allclose(ds.C.isel(t=0).values, np.broadcast_to(C0, (3, 2, 2)),
                               atol=OVERLAP_ATOL)
    np.testing.assert_allclose(ds.A.isel(t=0).values, np.broadcast_to(A0, (3, 2)),
                               atol=OVERLAP_ATOL)


def test_euler_error_is_first_order_in_dt():
    """Simulated order parameters against the same flow integrated by solve_ivp (rtol 1e-12)."""
    from scipy.integrate import solve_ivp

    N, D, P, alpha, eps, T = 2, 20, 40, 1.0, 0.5, 4.0
    A0, seeds = (0.3, -0.1), [0]
    beta = init.target_direction(seeds, D)
    W0 = init.weights_with_overlaps(beta, np.eye(N), A0, seeds)
    X = data.gaussian_inputs(seeds, P, D)
    y = data.target_values(X, beta)
    a, e = torch.tensor([alpha], dtype=torch.float64), torch.tensor([eps], dtype=torch.float64)

    def fun(t, w):
        W = torch.from_numpy(w).reshape(1, 1, N, D)
        return velocity(W, X, y, a, e)[0].reshape(-1).numpy()

    sol = solve_ivp(fun, (0, T), W0.reshape(-1).numpy(), method="DOP853", rtol=1e-12, atol=1e-12)
    W_ref = torch.from_numpy(sol.y[:, -1]).reshape(1, N, D)
    C_ref, A_ref = init.overlaps_of(W_ref, beta)
    dts = np.array([0.2, 0.1, 0.05, 0.025])
    errs = []
    for dt in dts:
        ds = simulate(CommitteeConfig(N=N, D=D, P=P, alpha=alpha, eps=eps, A0=A0, seeds=1,
                                      t_max=T, dt=dt, records=1, threads=THREADS))
        assert ds.t.values[-1] == pytest.approx(T)
        errs.append(max(np.abs(ds.C.values[0, -1] - C_ref[0].numpy()).max(),
                        np.abs(ds.A.values[0, -1] - A_ref[0].numpy()).max()))
    slopes = np.diff(np.log(errs)) / np.diff(np.log(dts))
    assert np.all(np.abs(slopes - 1) < EULER_SLOPE_TOL), (errs, slopes)


def test_batched_equals_looped():
    common = dict(N=2, D=30, gamma=3, A0=(0.1, -0.05), t_max=8, dt=0.1, records=12,
                  held_out=50, threads=THREADS)
    alphas, epss, seeds = (0.5, 2.0), (0.05, 0.4), 3
    batched = simulate(CommitteeConfig(alpha=alphas, eps=epss, seeds=seeds, **common))
    assert batched.test_loss.dims == ("alpha", "eps", "seed", "t")
    assert batched.C.dims == ("alpha", "eps", "seed", "t", "i", "j")
    for a in alphas:
        for e in epss:
            for s in range(seeds):
                one = simulate(CommitteeConfig(alpha=a, eps=e, seeds=1, seed0=s, **common))
                part = batched.sel(alpha=a, eps=e, seed=s)
                for name in ("train_loss", "test_loss", "held_out_loss", "A", "C",
                             "linear_power"):
                    np.testing.assert_allclose(part[name].values, one[name].values[0],
                                               rtol=BATCH_RTOL, atol=BATCH_RTOL, err_msg=name)


def test_record_times_are_log_spaced_step_multiples():
    steps = record_steps(400, 0.1, 200)
    assert steps[0] == 0 and steps[-1] == 4000
    assert np.all(np.diff(steps) > 0)
    ratios = steps[-20:][1:] / steps[-20:][:-1]
    np.testing.assert_allclose(ratios, ratios.mean(), rtol=0.02)  # geometric at late times


def test_test_loss_decomposition_sums():
    ds = simulate(CommitteeConfig(N=2, D=30, alpha=0.7, eps=0.3, gamma=2, seeds=2, t_max=3,
                                  dt=0.1, records=5, threads=THREADS))
    total = ds.variance_error + ds.misalignment_error + ds.linear_power
    np.testing.assert_allclose(total.values, ds.test_loss.values, rtol=1e-12)


def test_held_out_loss_estimates_population_loss():
    """The loss on fresh points estimates the exact population loss (within its sampling error)."""
    M = 20000
    ds = simulate(CommitteeConfig(N=2, D=40, alpha=0.5, eps=0.3, gamma=2, A0=(0.3, 0.1),
                                  seeds=2, t_max=5, dt=0.1, records=4, held_out=M,
                                  threads=THREADS))
    # (y - f)^2 has standard deviation below 3 x its mean for these Gaussian polynomials
    se = 3 * ds.test_loss / math.sqrt(M)
    z = np.abs(ds.held_out_loss - ds.test_loss) / se
    assert float(z.max()) < Z_MAX


def test_divergence_stops_and_keeps_records():
    ds = simulate(CommitteeConfig(N=2, D=20, alpha=4.0, eps=1.0, gamma=2, A0=(0.5, 0.5),
                                  seeds=2, t_max=50, dt=2.0, records=25, threads=THREADS))
    assert ds.attrs["status"].startswith("diverged")
    assert 0 < ds.sizes["t"] < len(record_steps(50, 2.0, 25))
    assert np.all(np.isfinite(ds.train_loss.values))


# ---------------------------------------------------------------- independent implementation
def _hand_loss(A, C, alpha, eps):
    N = A.shape[-1]
    tr = np.trace(C, axis1=-2, axis2=-1)
    return (0.25 * (1 - alpha * eps * tr / N) ** 2
            + 0.5 * ((alpha * eps) ** 2 * (C**2).sum((-1, -2)) / N**2
                     - 2 * alpha * eps * (A**2).sum(-1) / N + 1)
            + alpha**2 * C.sum((-1, -2)) / N**2)


def _numpy_ensemble(seeds, N, D, P, alpha, eps, A0, dt, steps):
    """Plain NumPy Euler simulation of DMFT paper eq. (6), written independently of the library."""
    losses, trains, As = [], [], []
    for s in seeds:
        rng = np.random.default_rng(10_000 + s)
        beta = rng.standard_normal(D)
        beta *= math.sqrt(D) / np.linalg.norm(beta)
        # Gram-Schmidt: unit vectors orthogonal to beta and to each other
        basis = [beta / math.sqrt(D)]
        for _ in range(N):
            v = rng.standard_normal(D)
            for b in basis:
                v -= (v @ b) * b
            basis.append(v / np.linalg.norm(v))
        U = np.array(basis[1:])
        A0 = np.asarray(A0, float)
        # C0 = identity: w_i = A_i beta + sqrt(D) sum_k L_ik u_k with L L^T = I - A0 A0^T
        L = np.linalg.cholesky(np.eye(N) - np.outer(A0, A0))
        W = A0[:, None] * beta[None, :] + math.sqrt(D) * L @ U
        X = rng.standard_normal((P, D)) / math.sqrt(D)
        y = 0.5 * (X @ beta) ** 2
        rec_L, rec_T, rec_A = [], [], []
        for n in range(steps[-1] + 1):
            H = X @ W.T
            f = alpha / N * (H + 0.5 * eps * H**2).sum(axis=1)
            if n in steps:
                C, A = W @ W.T / D, W @ beta / D
                rec_L.append(_hand_loss(A, C, alpha, eps))
                rec_T.append(np.mean((y - f) ** 2))
                rec_A.append(A)
            G = (y - f)[:, None] * (1 + eps * H)
            W = W + dt * (D / P) * G.T @ X
        losses.append(rec_L)
        trains.append(rec_T)
        As.append(rec_A)
    return np.array(losses), np.array(trains), np.array(As)


def _zscores(a, b):
    """(mean a - mean b) / combined standard error over the first axis (seeds)."""
    se = np.sqrt(a.var(0, ddof=1) / len(a) + b.var(0, ddof=1) / len(b))
    return (a.mean(0) - b.mean(0)) / se


def test_ensemble_agrees_with_independent_numpy_simulation():
    N, D, gamma, alpha, eps, A0, dt, t_max = 2, 40, 4, 0.5, 0.3, (0.2, -0.1), 0.05, 20
    S = 16
    ds = simulate(CommitteeConfig(N=N, D=D, gamma=gamma, alpha=alpha, eps=eps, A0=A0, seeds=S,
                                  t_max=t_max, dt=dt, records=15, threads=THREADS))
    steps = record_steps(t_max, dt, 15)
    L, T, A = _numpy_ensemble(range(S), N, D, gamma * D, alpha, eps, A0, dt, steps)
    # sanity: the dynamics moved well beyond the noise (otherwise the comparison is empty)
    assert abs(ds.test_loss.mean("seed")[-1] - ds.test_loss.mean("seed")[0]) > 0.1
    for name, ours, theirs in (("test_loss", ds.test_loss.values, L),
                               ("train_loss", ds.train_loss.values, T),
                               ("A", ds.A.values, A)):
        z = _zscores(ours[:, 1:], theirs[:, 1:])
        assert np.abs(z).max() < Z_MAX, (name, np.abs(z).max())


# ---------------------------------------------------------------- theory against simulation
@pytest.mark.slow
def test_one_pass_training_agrees_with_expected_euler_theory():
    """Fresh data at every step: the ensemble mean follows the expected Euler map of the online
    theory (numerics.ode.euler_expected) within its standard errors."""
    N, D, gamma, alpha, eps, A0, dt, t_max, S = 2, 50, 32, 0.5, 0.05, (0.04, -0.02), 0.1, 60, 8
    ds = simulate(CommitteeConfig(N=N, D=D, gamma=gamma, alpha=alpha, eps=eps, A0=A0, seeds=S,
                                  t_max=t_max, dt=dt, records=30, fresh_data=True,
                                  threads=THREADS))
    steps = record_steps(t_max, dt, 30)
    A, C = ode.euler_expected(A0, np.eye(N), alpha, eps, dt, steps, gamma=gamma)
    from grokking_workbench.theory.generated import committee

    L = committee.test_loss(A, C, alpha, eps)
    for name, sim, ref in (("test_loss", ds.test_loss.values, L), ("A", ds.A.values, A)):
        se = sim.std(0, ddof=1)[1:] / math.sqrt(S)
        z = (sim.mean(0)[1:] - ref[1:]) / se
        assert np.abs(z).max() < Z_MAX, (name, np.abs(z).max())


@pytest.mark.slow
def test_fixed_data_simulations_converge_to_ode_like_one_over_gamma():
    """DMFT: the finite-gamma correction is O(1/gamma). The deviation from the ODE halves when
    gamma doubles, and the Richardson extrapolation 2 dev(2 gamma) - dev(gamma) is zero within
    its standard error."""
    N, D, alpha, eps, A0, dt, t_max, S = 2, 100, 0.5, 0.05, (0.04, -0.02), 0.1, 60, 8
    gammas = (16, 32, 64)
    runs = {g: simulate(CommitteeConfig(N=N, D=D, gamma=g, alpha=alpha, eps=eps, A0=A0,
                                        seeds=S, t_max=t_max, dt=dt, records=30,
                                        threads=THREADS)) for g in gammas}
    t = runs[gammas[0]].t.values
    theory = ode.integrate(A0, np.eye(N), alpha, eps, t_eval=t).test_loss.values
    dev = {g: runs[g].test_loss.values.mean(0) - theory for g in gammas}
    se = {g: runs[g].test_loss.values.std(0, ddof=1) / math.sqrt(S) for g in gammas}
    late = t > 10
    ratio = np.abs(dev[16][late]).max() / np.abs(dev[64][late]).max()
    assert 2.5 < ratio < 6.5, ratio       # 4 for an O(1/gamma) correction
    for g in (16, 32):
        extrap = 2 * dev[2 * g] - dev[g]
        z = extrap[1:] / np.sqrt(4 * se[2 * g][1:] ** 2 + se[g][1:] ** 2)
        assert np.abs(z).max() < Z_MAX, (g, np.abs(z).max())


# ---------------------------------------------------------------- wide network (Kumar et al.)
@pytest.mark.parametrize("target, k", [("quadratic", 2), ("hermite", 3)])
def test_wide_velocity_is_scaled_autograd_gradient(target, k):
    """dw/dt = -(N D / (2 alpha^2)) grad_w L, dv/dt = -(N / (2 alpha^2)) dL/dv for the centred
    predictor alpha [f(theta) - f(theta_0)] (Kumar et al. App. 8.1)."""
    from grokking_workbench.numerics.simulate import wide

    W, X, y, alpha, eps = _tiny_problem(seed=1)
    S, K, N, D = W.shape
    g = torch.Generator().manual_seed(2)
    v = 1 + 0.3 * torch.randn(S, K, N, generator=g, dtype=torch.float64)
    W0 = W + 0.2 * torch.randn(W.shape, generator=g, dtype=torch.float64)
    v0 = torch.ones(S, K, N, dtype=torch.float64)
    f0 = wide.network(W0, v0, X, eps, target=target, k=k)
    dW, dv, loss = wide.velocity(W, v, X, y, f0, alpha, eps, target=target, k=k,
                                 train_readouts=True, chunk=4)
    Wr, vr = W.clone().requires_grad_(True), v.clone().requires_grad_(True)
    H = torch.einsum("sknd,spd->sknp", Wr, X)
    e = eps[None, :, None, None]
    phi = H + 0.5 * e * (H**2 if target == "quadratic" else data.hermite(H, k))
    f = (vr.unsqueeze(-1) * phi).sum(dim=2) / N
    L = ((y[:, None, :] - alpha[None, :, None] * (f - f0)) ** 2).mean(-1)
    L.sum().backward()
    scale = (N / (2 * alpha**2))[None, :, None]
    torch.testing.assert_close(dW, -(scale * D).unsqueeze(-1) * Wr.grad, rtol=GRAD_RTOL,
                               atol=GRAD_RTOL)
    torch.testing.assert_close(dv, -scale * vr.grad, rtol=GRAD_RTOL, atol=GRAD_RTOL)
    torch.testing.assert_close(loss, L.detach(), rtol=GRAD_RTOL, atol=0.0)


@pytest.mark.parametrize("alpha", [1.0, 2.0])
def test_wide_without_centring_is_the_committee_machine_slowed_by_alpha(alpha):
    """Fixed readouts, no centring: the wide flow is the committee flow (DMFT paper eq. (6))
    divided by alpha, so an Euler step dt of one is a step dt/alpha of the other."""
    from grokking_workbench.numerics.simulate import wide

    common = dict(N=3, D=30, eps=0.2, gamma=3, seeds=2, records=8)
    w = wide.simulate(wide.WideConfig(alpha=alpha, centre=False, t_max=4.0, dt=0.1,
                                      threads=THREADS, **common))
    c = simulate(CommitteeConfig(alpha=alpha, t_max=4.0 / alpha, dt=0.1 / alpha,
                                 threads=THREADS, **common))
    np.testing.assert_allclose(w.t.values, alpha * c.t.values)
    for name in ("train_loss", "test_loss", "linear_power", "A"):
        np.testing.assert_allclose(w[name].values, c[name].values, rtol=BATCH_RTOL,
                                   atol=BATCH_RTOL, err_msg=name)


@pytest.mark.parametrize("options", [dict(), dict(train_readouts=True),
                                     dict(target="hermite", k=2, train_readouts=True)])
def test_wide_exact_test_loss_matches_held_out_estimate(options):
    from grokking_workbench.numerics.simulate import wide

    M = 20000
    ds = wide.simulate(wide.WideConfig(N=40, D=30, alpha=(1.0, 4.0), sigma=(0.5, 1.0), eps=0.3,
                                       gamma=4, t_max=10, dt=0.1, records=6, held_out=M,
                                       seeds=2, threads=THREADS, **options))
    assert ds.attrs["status"] == "complete"
    assert ds.test_loss.dims == ("alpha", "sigma", "seed", "t")
    # centred predictor: at t = 0 the prediction is 0 and the loss is <y^2> (3/4, or 1/2 for He_2)
    expected0 = 0.5 if options.get("target") == "hermite" else 0.75
    np.testing.assert_allclose(ds.test_loss.isel(t=0).values, expected0, rtol=1e-12)
    se = 3 * ds.test_loss / math.sqrt(M)        # sd of (y - f)^2 below 3 x its mean here
    z = np.abs(ds.held_out_loss - ds.test_loss) / se
    assert float(z.max()) < Z_MAX
    total = ds.variance_error + ds.misalignment_error + ds.linear_power
    np.testing.assert_allclose(total.values, ds.test_loss.values, rtol=1e-12)
