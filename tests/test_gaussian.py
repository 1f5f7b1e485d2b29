"""The Gaussian-moment engines against sympy.stats (1-D) and Monte Carlo (several dimensions)."""

import numpy as np
import pytest
import sympy as sp

from grokking_workbench.theory import gaussian as g

# Monte-Carlo comparisons: |estimate - exact| < Z standard errors
Z = 5.0


@pytest.mark.parametrize("poly", ["z**4", "z**6", "(1 + 2*z)**3", "z**2*(3 - z)**2"])
def test_scalar_engine_matches_sympy_stats(poly):
    from sympy.stats import E, Normal

    z, s = sp.Symbol("z"), sp.Symbol("s", positive=True)
    expr = sp.sympify(poly, locals={"z": z})
    mine = g.expect(expr, [z], sp.Matrix([[s ** 2]]))
    ref = E(expr.subs(z, Normal("Z", 0, s)))
    assert sp.simplify(mine - ref) == 0


def test_scalar_engine_against_monte_carlo(rng):
    zs = sp.symbols("z0:4")
    L = rng.normal(size=(4, 4))
    cov = L @ L.T / 4 + np.eye(4) * 0.2
    expr = zs[0] ** 2 * zs[1] * zs[2] + 3 * zs[3] ** 4 - zs[0] * zs[1] ** 3 + zs[2] ** 2 * zs[3] ** 2
    exact = float(g.expect(expr, zs, sp.Matrix(cov)))
    samples = rng.multivariate_normal(np.zeros(4), cov, size=400_000)
    f = sp.lambdify(zs, expr, "numpy")(*samples.T)
    assert abs(f.mean() - exact) < Z * f.std() / np.sqrt(len(f))


def test_stein_lemma_is_an_identity():
    a, b, c = sp.symbols("a b c")
    s = sp.symbols("s0:6")
    cov = sp.Matrix([[s[0], s[1], s[2]], [s[1], s[3], s[4]], [s[2], s[4], s[5]]])
    F = a ** 2 * b + 3 * b * c ** 3 - a
    for z in (a, b, c):
        assert sp.expand(g.expect(F * z, [a, b, c], cov) - g.stein(F, z, [a, b, c], cov)) == 0


def test_vector_engine_against_monte_carlo(rng):
    """E_x[(beta.x)^2 x^T M x (wbar.x)^2] and a two-vector expectation at D = 5."""
    D = 5
    beta, wbar = rng.normal(size=D), rng.normal(size=D)
    B = rng.normal(size=(D, D))
    M = (B + B.T) / 2
    Dsym = sp.Symbol("D", positive=True)
    poly = g.dot("beta", "x") ** 2 * g.quad("x", ("M",), "x") * g.dot("wbar", "x") ** 2
    expr = g.as_scalar(g.expect_vector(poly, "x", Dsym))
    num = {"<beta||beta>": beta @ beta, "<wbar||wbar>": wbar @ wbar, "<beta||wbar>": beta @ wbar,
           "<beta|M|beta>": beta @ M @ beta, "<wbar|M|wbar>": wbar @ M @ wbar,
           "<beta|M|wbar>": beta @ M @ wbar, "tr(M)": np.trace(M), "D": D}
    exact = float(expr.subs({s: num[s.name] for s in expr.free_symbols}))
    x = rng.normal(size=(400_000, D)) / np.sqrt(D)
    f = (x @ beta) ** 2 * np.einsum("pa,ab,pb->p", x, M, x) * (x @ wbar) ** 2
    assert abs(f.mean() - exact) < Z * f.std() / np.sqrt(len(f))


def test_vector_engine_two_random_vectors(rng):
    """E_{x,x'}[(x.x')^2 (beta.x)^2] = (|beta|^2 D + 2|beta|^2) / D^3 ... checked by Monte Carlo."""
    D = 4
    beta = rng.normal(size=D)
    Dsym = sp.Symbol("D", positive=True)
    poly = g.dot("x", "xp") ** 2 * g.dot("beta", "x") ** 2
    inner = g.expect_vector(poly, "x", Dsym)
    expr = g.as_scalar(g.expect_vector(inner, "xp", Dsym))
    exact = float(expr.subs({Dsym: D, sp.Symbol("<beta||beta>"): beta @ beta}))
    x = rng.normal(size=(400_000, D)) / np.sqrt(D)
    xp = rng.normal(size=(400_000, D)) / np.sqrt(D)
    f = np.sum(x * xp, axis=1) ** 2 * (x @ beta) ** 2
    assert abs(f.mean() - exact) < Z * f.std() / np.sqrt(len(f))


def test_odd_moments_vanish():
    D = sp.Symbol("D", positive=True)
    assert not g.expect_vector(g.dot("beta", "x") ** 3, "x", D).terms
    z = sp.Symbol("z")
    assert g.expect(z ** 5, [z], sp.Matrix([[2]])) == 0
