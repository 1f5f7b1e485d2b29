"""Generated committee-machine functions against SymPy and against independent implementations.

Independent implementations: explicit-N Wick expectations over h_1..h_N (no index-generic
contractions), exact matrix-form formulas from explicit weights, and Monte Carlo over inputs.
"""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

from grokking_workbench.theory import committee, gaussian, indexed
from grokking_workbench.theory.generated import committee as gen

REL = 1e-10  # generated vs exact symbolic/explicit: round-off only
Z = 5.0      # Monte Carlo: standard errors

ORDER_FUNCS = ["test_loss", "variance_error", "misalignment_error", "linear_power", "mean_error",
               "response_h", "response_hstar", "online_rhs_A", "online_rhs_C", "gradient_covariance"]


@st.composite
def states(draw, max_n=4):
    n = draw(st.integers(1, max_n))
    seed = draw(st.integers(0, 2 ** 31 - 1))
    rng = np.random.default_rng(seed)
    D = 3 * n + 2
    W = rng.normal(size=(n, D)) * draw(st.floats(0.2, 2.0))
    beta = rng.normal(size=D)
    beta *= np.sqrt(D) / np.linalg.norm(beta)
    alpha = draw(st.floats(0.05, 3.0))
    eps = draw(st.floats(0.01, 2.0))
    return W, beta, alpha, eps


def overlaps(W, beta):
    D = W.shape[1]
    return W @ beta / D, W @ W.T / D


def _derived(name):
    return {"test_loss": committee.test_loss, "mean_error": committee.mean_error,
            "response_h": committee.response_h, "response_hstar": committee.response_hstar,
            "online_rhs_A": committee.online_rhs_A, "online_rhs_C": committee.online_rhs_C,
            "gradient_covariance": committee.gradient_covariance,
            **{d.name: (lambda d=d: d) for d in committee.decomposition_terms()}}[name]()


@settings(max_examples=15, deadline=None)
@given(states(), st.sampled_from(ORDER_FUNCS))
def test_generated_equals_sympy_evaluation(state, name):
    W, beta, alpha, eps = state
    A, C = overlaps(W, beta)
    d = _derived(name)
    n = len(A)
    value = getattr(gen, name)(A, C, alpha, eps)
    idx = [dict(zip(d.free, combo)) for combo in np.ndindex(*([n] * len(d.free)))]
    for where in idx:
        expr = indexed.substitute_unit(d.expr, d.table, where, C, A)
        ref = float(expr.subs({indexed.alpha: alpha, indexed.eps: eps, indexed.N: n}))
        got = value[tuple(where[f] for f in d.free)] if d.free else value
        assert got == pytest.approx(ref, rel=REL, abs=REL)


def explicit(n, C, A, alpha, eps):
    """Explicit-N derivation: Wick over h_1..h_n, h_* with the numeric covariance."""
    hs = sp.symbols(f"h1:{n + 1}")
    hstar = sp.Symbol("hs")
    cov = sp.Matrix(np.block([[C, A[:, None]], [A[None, :], np.ones((1, 1))]]))
    var = list(hs) + [hstar]
    phi = lambda z: z + eps / 2 * z ** 2
    Delta = hstar ** 2 / 2 - alpha / n * sum(phi(z) for z in hs)
    g = [sp.diff(phi(z), z) * Delta for z in hs]
    E = lambda e: float(gaussian.expect(sp.expand(e), var, cov))
    out = {"test_loss": E(Delta ** 2), "mean_error": E(Delta),
           "online_rhs_A": np.array([E(gi * hstar) for gi in g]),
           "online_rhs_C": np.array([[E(g[i] * hs[j] + g[j] * hs[i]) for j in range(n)] for i in range(n)]),
           "response_h": np.array([[E(sp.diff(g[i], hs[j])) for j in range(n)] for i in range(n)]),
           "response_hstar": np.array([E(sp.diff(gi, hstar)) for gi in g]),
           "gradient_covariance": np.array([[E(g[i] * g[j]) for j in range(n)] for i in range(n)])}
    return out


@pytest.mark.parametrize("n", [1, 2, 3])
def test_generated_equals_explicit_n_derivation(n, rng):
    W = rng.normal(size=(n, 7))
    beta = rng.normal(size=7)
    beta *= np.sqrt(7) / np.linalg.norm(beta)
    A, C = overlaps(W, beta)
    alpha, eps = 0.7, 0.4
    ref = explicit(n, C, A, alpha, eps)
    for name, value in ref.items():
        np.testing.assert_allclose(getattr(gen, name)(A, C, alpha, eps), value, rtol=REL, atol=REL)


@settings(max_examples=25, deadline=None)
@given(states())
def test_decomposition_equals_matrix_form_and_sums_to_loss(state):
    """Kumar eq. (6) evaluated from explicit weights (wbar, M) equals the generated terms."""
    W, beta, alpha, eps = state
    A, C = overlaps(W, beta)
    N, D = W.shape
    wbar, M = W.mean(0), W.T @ W / N
    var = 0.25 * (beta @ beta / D - alpha * eps * np.trace(M) / D) ** 2
    mis = np.sum((alpha * eps * M - np.outer(beta, beta)) ** 2) / (2 * D ** 2)
    lin = alpha ** 2 * wbar @ wbar / D
    got = [gen.variance_error(A, C, alpha, eps), gen.misalignment_error(A, C, alpha, eps),
           gen.linear_power(A, C, alpha, eps)]
    np.testing.assert_allclose(got, [var, mis, lin], rtol=REL, atol=REL)
    assert gen.test_loss(A, C, alpha, eps) == pytest.approx(sum(got), rel=REL)


def test_loss_and_online_rhs_equal_monte_carlo_population_averages(rng):
    """Test loss <(y-f)^2> and the population gradient flow D <g x> by Monte Carlo at D = 6."""
    N, D, S = 2, 6, 1_000_000
    W = rng.normal(size=(N, D))
    beta = rng.normal(size=D)
    beta *= np.sqrt(D) / np.linalg.norm(beta)
    alpha, eps = 0.8, 0.5
    A, C = overlaps(W, beta)
    x = rng.normal(size=(S, D)) / np.sqrt(D)
    h = x @ W.T
    delta = (x @ beta) ** 2 / 2 - alpha / N * np.sum(h + eps / 2 * h ** 2, axis=1)
    loss = delta ** 2
    assert abs(loss.mean() - gen.test_loss(A, C, alpha, eps)) < Z * loss.std() / np.sqrt(S)
    g = (1 + eps * h) * delta[:, None]                        # (S, N)
    # per-sample contributions to dA_i = D <g_i x>.beta / D and dC_ij = <g_i h_j> + <g_j h_i>
    dA = g * (x @ beta)[:, None]
    dC = g[:, :, None] * h[:, None, :] + g[:, None, :] * h[:, :, None]
    gA, gC = gen.online_rhs(A, C, alpha, eps)
    assert np.all(abs(dA.mean(0) - gA) < Z * dA.std(0) / np.sqrt(S))
    assert np.all(abs(dC.mean(0) - gC) < Z * dC.std(0) / np.sqrt(S))


def test_online_rhs_has_the_stein_form(rng):
    """dA = R^h A + R^{h*}, dC = R^h C + C R^h^T + R^{h*} A^T + A R^{h*}^T (DMFT paper, eqs. 11-12)."""
    W = rng.normal(size=(3, 9))
    A, C = W @ rng.normal(size=9) / 9, W @ W.T / 9
    Rh, Rs = gen.response_h(A, C, 0.6, 0.3), gen.response_hstar(A, C, 0.6, 0.3)
    dA, dC = gen.online_rhs(A, C, 0.6, 0.3)
    np.testing.assert_allclose(dA, Rh @ A + Rs, rtol=REL, atol=1e-14)
    np.testing.assert_allclose(dC, Rh @ C + C @ Rh.T + np.outer(Rs, A) + np.outer(A, Rs), rtol=REL, atol=1e-14)


def test_batched_evaluation_equals_loop(rng):
    B, N = 5, 3
    W = rng.normal(size=(B, N, 8))
    A = W @ rng.normal(size=8) / 8
    C = W @ np.swapaxes(W, 1, 2) / 8
    alpha = rng.uniform(0.1, 2, size=B)
    eps = rng.uniform(0.1, 1, size=B)
    for name in ORDER_FUNCS:
        batched = getattr(gen, name)(A, C, alpha, eps)
        for b in range(B):
            np.testing.assert_allclose(batched[b], getattr(gen, name)(A[b], C[b], alpha[b], eps[b]), rtol=1e-13)


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match="A must have shape"):
        gen.test_loss(np.zeros(3), np.eye(2), 1.0, 0.1)
    with pytest.raises(ValueError, match="C must have shape"):
        gen.test_loss(np.zeros(2), np.zeros((2, 3)), 1.0, 0.1)


def test_escape_rate_is_the_small_alpha_growth_rate():
    A, C = np.array([1e-3, -2e-3]), np.eye(2)
    for eps in (0.05, 0.3):
        dA = gen.online_rhs_A(A, C, 1e-9, eps)
        np.testing.assert_allclose(dA / A, gen.escape_rate(eps), rtol=1e-6)
        assert gen.escape_rate(eps) == pytest.approx(1.5 * eps)
    assert gen.escape_time(0.5, 0.05, 0.04) == pytest.approx(2 / (3 * 0.05) * np.log(1 / 0.02))


@pytest.mark.parametrize("readouts", [False, True])
def test_mercer_eigenfunctions_satisfy_the_integral_equation(readouts, rng):
    """E_x[K(x,x') psi(x)] = lambda psi(x') at D = 4 by Monte Carlo, for each eigenfunction."""
    from grokking_workbench.numerics.kernels import ntk_gram_initial

    D, eps, S = 4, 0.8, 1_000_000
    kern = "readout" if readouts else "ntk"
    lam = {"linear": gen.__dict__[f"{kern}_eigenvalue_linear"](D),
           "quadratic": gen.__dict__[f"{kern}_eigenvalue_quadratic"](eps, D),
           "norm": gen.__dict__[f"{kern}_eigenvalue_norm"](eps, D)}
    psis = {"linear": lambda x: x[:, 0], "quadratic": lambda x: x[:, 0] * x[:, 1],
            "diagonal": lambda x: x[:, 0] ** 2 - np.sum(x ** 2, 1) / D,
            "norm": lambda x: np.sum(x ** 2, 1)}
    x = rng.normal(size=(S, D)) / np.sqrt(D)
    xp = rng.normal(size=(3, D)) / np.sqrt(D)
    K = ntk_gram_initial(x, eps, xp, readouts=readouts)       # (S, 3)
    for name, psi in psis.items():
        f = K * psi(x)[:, None]
        expected = lam["quadratic" if name == "diagonal" else name] * psi(xp)
        assert np.all(abs(f.mean(0) - expected) < Z * f.std(0) / np.sqrt(S)), name


def test_alignment_numerator_equals_monte_carlo(rng):
    N, D, S = 3, 5, 2_000_000
    W = rng.normal(size=(N, D)) * 0.7
    beta = rng.normal(size=D)
    beta *= np.sqrt(D) / np.linalg.norm(beta)
    A, C = overlaps(W, beta)
    eps = 0.6
    from grokking_workbench.numerics.kernels import ntk_gram

    x = rng.normal(size=(S, D)) / np.sqrt(D)
    xp = rng.normal(size=(S, D)) / np.sqrt(D)
    d1, d2 = 1 + eps * (x @ W.T), 1 + eps * (xp @ W.T)
    K = np.sum(d1 * d2, 1) / N * np.sum(x * xp, 1)   # diagonal of ntk_gram(x, W, eps, xp)
    np.testing.assert_allclose(K[:5], np.diag(ntk_gram(x[:5], W, eps, xp[:5])), rtol=1e-12)
    f = (x @ beta) ** 2 / 2 * K * (xp @ beta) ** 2 / 2
    assert abs(f.mean() - gen.alignment_numerator(A, C, eps, D)) < Z * f.std() / np.sqrt(S)
