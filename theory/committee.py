"""Committee machine derivations (Kumar et al. 2024; DMFT paper): SymPy objects, nothing numeric.

Model (docs/conventions.md): x ~ N(0, I/D), |beta|^2 = D,
f(x) = (alpha/N) sum_i phi(w_i.x), phi(h) = h + (eps/2) h^2, y = sigma(beta.x) = (beta.x)^2/2,
L = <(y - f)^2>. Order parameters C_ij = w_i.w_j/D, A_i = w_i.beta/D.

Every function returns SymPy expressions; :func:`generated` lists what the code generator prints
into ``theory/generated/committee.py``, and :func:`identities` what the report states.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import sympy as sp

from grokking_workbench.theory import gaussian
from grokking_workbench.theory.identity import Identity
from grokking_workbench.theory.indexed import (A, C, Contraction, N, Sum, alpha, contract, delta_ij, eps, h,
                            h_star)

D = sp.Symbol("D", positive=True)
A0 = sp.Symbol("A0", positive=True)
KUMAR = "Kumar et al. 2024"
DMFT = "DMFT paper"


def phi(z):
    """Activation phi(z) = z + (eps/2) z^2 (Kumar et al. eq. 3; DMFT paper eq. 1)."""
    return z + eps / 2 * z ** 2


def sigma(z):
    """Target link sigma(z) = z^2 / 2."""
    return z ** 2 / 2


def dphi(z):
    return sp.diff(phi(sp.Symbol("_z")), sp.Symbol("_z")).subs(sp.Symbol("_z"), z)


def ddphi(z):
    return sp.diff(phi(sp.Symbol("_z")), sp.Symbol("_z"), 2).subs(sp.Symbol("_z"), z)


def error(k: str) -> Sum:
    """Delta = sigma(h_*) - (alpha/N) sum_k phi(h_k), the error on one input (summed index k)."""
    return Sum([(sigma(h_star), ()), (-alpha / N * phi(h(k)), (k,))])


def gradient(i: str, k: str) -> Sum:
    """g_i = phi'(h_i) Delta (DMFT paper, below eq. 6)."""
    return error(k) * dphi(h(i))


@dataclass
class Derived:
    """An index-generic result: expression, its contractions, free indices, and its docstring."""

    name: str
    expr: sp.Expr
    table: dict[sp.Symbol, Contraction]
    free: tuple[str, ...]
    doc: str
    latex_lhs: str
    extra: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- losses
@lru_cache(maxsize=None)
def test_loss() -> Derived:
    """Population loss L = <Delta^2> in order parameters (Wick over (h_k, h_l, h_*))."""
    expr, table = (error("k") * error("l")).mean()
    return Derived("test_loss", expr, table, (),
                   "Population (test) loss <(y - f)^2> in order parameters, from Wick's theorem "
                   "over (h_k, h_l, h_*). Equals variance_error + misalignment_error + "
                   "linear_power (Kumar et al. 2024, eq. 6).", r"\mathcal{L}")


def _matrix_form_loss():
    """Kumar eq. (6) from the matrix form f = alpha wbar.x + (alpha eps/2) x^T M x."""
    g = gaussian
    y = sp.Rational(1, 2) * g.dot("beta", "x") ** 2
    f = alpha * g.dot("wbar", "x") + alpha * eps / 2 * g.quad("x", ("M",), "x")
    return g.as_scalar(g.expect_vector((y - f) ** 2, "x", D))


def _matrix_symbols():
    g = gaussian
    return {
        "trM": g.contraction_symbol("trace", ("M",)),
        "trMM": g.contraction_symbol("trace", ("M", "M")),
        "bMb": g.contraction_symbol("chain", "beta", ("M",), "beta"),
        "bb": g.contraction_symbol("chain", "beta", (), "beta"),
        "ww": g.contraction_symbol("chain", "wbar", (), "wbar"),
    }


@lru_cache(maxsize=None)
def loss_decomposition() -> dict:
    """Kumar et al. eq. (6): L = variance error + misalignment error + power in linear modes.

    Returns the three terms in matrix form (traces of M, chains of beta and wbar), the matrix-form
    loss from Wick's theorem, and the order-parameter forms (|beta|^2 = D, Tr M / D = sum C_kk/N,
    Tr M^2 / D^2 = sum C_kl^2 / N^2, beta^T M beta / D^2 = sum A_k^2 / N, |wbar|^2/D = sum C_kl/N^2).
    """
    s = _matrix_symbols()
    terms = {
        "variance_error": sp.Rational(1, 4) * (s["bb"] / D - alpha * eps * s["trM"] / D) ** 2,
        "misalignment_error": (alpha ** 2 * eps ** 2 * s["trMM"] - 2 * alpha * eps * s["bMb"]
                               + s["bb"] ** 2) / (2 * D ** 2),
        "linear_power": alpha ** 2 * s["ww"] / D,
    }
    matrix_loss = _matrix_form_loss()
    trC, t1 = contract(C("k", "k"), ("k",))
    frob, t2 = contract(C("k", "l") ** 2, ("k", "l"))
    a2, t3 = contract(A("k") ** 2, ("k",))
    sumC, t4 = contract(C("k", "l"), ("k", "l"))
    to_order = {s["bb"]: D, s["trM"]: D * trC / N, s["trMM"]: D ** 2 * frob / N ** 2,
                s["bMb"]: D ** 2 * a2 / N, s["ww"]: D * sumC / N ** 2}
    table = {**t1, **t2, **t3, **t4}
    order = {k: sp.expand(v.subs(to_order)) for k, v in terms.items()}
    return {"matrix": terms, "matrix_loss": matrix_loss, "order": order, "table": table,
            "to_order": to_order}


def decomposition_terms() -> list[Derived]:
    dec = loss_decomposition()
    docs = {
        "variance_error": ("Variance error (1/4)(|beta|^2/D - alpha eps Tr M/D)^2 of Kumar et al. "
                           "2024, eq. (6), in order parameters.", r"\mathcal{L}_{\rm var}"),
        "misalignment_error": ("Misalignment error |alpha eps M - beta beta^T|_F^2/(2 D^2) of Kumar "
                               "et al. 2024, eq. (6), in order parameters.", r"\mathcal{L}_{\rm mis}"),
        "linear_power": ("Power in linear modes alpha^2 |wbar|^2 / D of Kumar et al. 2024, eq. (6), "
                         "in order parameters.", r"\mathcal{L}_{\rm lin}"),
    }
    out = []
    for name, expr in dec["order"].items():
        table = {s: c for s, c in dec["table"].items() if s in expr.free_symbols}
        out.append(Derived(name, expr, table, (), *docs[name]))
    return out


# ----------------------------------------------------------------------------- online limit
@lru_cache(maxsize=None)
def response_h() -> Derived:
    """R^h_ij = <dg_i/dh_j> = delta_ij <phi''(h_i) Delta> - (alpha/N) <phi'(h_i) phi'(h_j)>.

    The chain rule dg_i/dh_j = delta_ij phi''(h_i) Delta + phi'(h_i) dDelta/dh_j with
    dDelta/dh_j = -(alpha/N) phi'(h_j) is written out; the averages are derived.
    """
    local = error("k") * ddphi(h("i"))
    expr1, t1 = local.mean()
    expr2, t2 = Sum.of(-alpha / N * dphi(h("i")) * dphi(h("j"))).mean()
    return Derived("response_h", sp.expand(delta_ij * expr1 + expr2), {**t1, **t2}, ("i", "j"),
                   "Online-limit (gamma = inf) response R^h_ij = <dg_i/dh_j> (DMFT paper, eq. 14, "
                   "for general alpha and N).", r"R^h_{ij}")


@lru_cache(maxsize=None)
def response_hstar() -> Derived:
    """R^{h*}_i = <dg_i/dh_*> = <phi'(h_i) sigma'(h_*)>."""
    z = sp.Symbol("_z")
    dsigma = sp.diff(sigma(z), z).subs(z, h_star)
    expr, table = Sum.of(dphi(h("i")) * dsigma).mean()
    return Derived("response_hstar", expr, table, ("i",),
                   "Online-limit response R^{h*}_i = <dg_i/dh_*> (DMFT paper, eq. 14).",
                   r"R^{h_\star}_i")


@lru_cache(maxsize=None)
def mean_error() -> Derived:
    expr, table = error("k").mean()
    return Derived("mean_error", expr, table, (), "Mean error <Delta> = <y - f> over the population.",
                   r"\langle\Delta\rangle")


@lru_cache(maxsize=None)
def online_rhs_A() -> Derived:
    """dA_i/dt = <g_i h_*>: population gradient flow projected on beta (any D)."""
    expr, table = (gradient("i", "k") * h_star).mean()
    return Derived("online_rhs_A", expr, table, ("i",),
                   "Online-limit ODE dA_i/dt = <g_i h_*> = sum_j R^h_ij A_j + R^{h*}_i (DMFT paper, "
                   "eqs. 11 and 15, general alpha and N).", r"\frac{dA_i}{dt}")


@lru_cache(maxsize=None)
def online_rhs_C() -> Derived:
    """dC_ij/dt = <g_i h_j> + <g_j h_i>: population gradient flow of the overlaps (any D)."""
    e1, t1 = (gradient("i", "k") * h("j")).mean()
    e2, t2 = (gradient("j", "k") * h("i")).mean()
    return Derived("online_rhs_C", sp.expand(e1 + e2), {**t1, **t2}, ("i", "j"),
                   "Online-limit ODE dC_ij/dt = <g_i h_j> + <g_j h_i> = (R^h C + C R^h^T)_ij + "
                   "R^{h*}_i A_j + A_i R^{h*}_j (DMFT paper, eqs. 12 and 15, general alpha and N).",
                   r"\frac{dC_{ij}}{dt}")


@lru_cache(maxsize=None)
def gradient_covariance() -> Derived:
    """<g_i g_j> at equal times: the online-limit C^g(t, t) (DMFT paper, eq. 7)."""
    expr, table = (gradient("i", "k") * gradient("j", "l")).mean()
    return Derived("gradient_covariance", expr, table, ("i", "j"),
                   "Equal-time gradient covariance C^g_ij = <g_i g_j> for Gaussian preactivations "
                   "(the online limit of DMFT paper eq. 7).", r"C^g_{ij}")


def escape() -> dict:
    """Early-time escape (DMFT paper, A.3): linearise dA/dt at alpha -> 0 (DMFT eq. 19-20)."""
    rhs = online_rhs_A().expr
    small = sp.expand(rhs.subs(alpha, 0))
    rate = sp.simplify(small / A("i"))
    t = sp.Symbol("t", positive=True)
    # A(t) = A0 exp(rate t) reaches the output scale 1/alpha at t*
    solved = sp.solve(sp.Eq(A0 * sp.exp(rate * t), 1 / alpha), t)[0]
    t_star = sp.log(1 / (alpha * A0)) / rate
    assert sp.simplify(sp.expand_log(solved - t_star, force=True)) == 0
    return {"rate": rate, "time": t_star, "linearised": small}


# ----------------------------------------------------------------------------- kernels
def ntk_general() -> sp.Expr:
    """K(x,x') = sum_i grad_{w_i} f(x) . grad_{w_i} f(x') for general weights (Kumar eq. 18).

    grad_{w_i} f = (alpha/N) phi'(h_i) x, so K = (alpha/N)^2 (x.x') sum_i phi'(h_i) phi'(h'_i);
    the sum is expressed through wbar.x = (1/N) sum_i h_i and x^T M x' = (1/N) sum_i h_i h'_i.
    """
    hi, hpi = sp.symbols("h_i hp_i")
    xx, wx, wxp, xMxp = sp.symbols("xx' wbar.x wbar.x' xMx'")
    poly = sp.Poly(sp.expand(dphi(hi) * dphi(hpi)), hi, hpi)
    unit_sum = {(0, 0): N, (1, 0): N * wx, (0, 1): N * wxp, (1, 1): N * xMxp}
    total = sum(coeff * unit_sum[m] for m, coeff in poly.terms())
    return sp.expand((alpha / N) ** 2 * xx * total)


def _vectorise(K: sp.Expr):
    """A kernel written in the scalar symbols xx', wbar.x, wbar.x', xMx', |x|^2, |x'|^2 as a
    :class:`gaussian.VectorPolynomial` in the random vectors x and x' (for Wick)."""
    g = gaussian
    xx, wx, wxp, xMxp, r, rp = sp.symbols("xx' wbar.x wbar.x' xMx' |x|^2 |x'|^2")
    forms = {xx: g.dot("x", "xp"), wx: g.dot("wbar", "x"), wxp: g.dot("wbar", "xp"),
             xMxp: g.quad("x", ("M",), "xp"), r: g.dot("x", "x"), rp: g.dot("xp", "xp")}
    return g.substitute_forms(K, forms)


def alignment_numerator() -> sp.Expr:
    """<y(x) K(x,x') y(x')> over independent x, x' (Kumar eq. 20), K the general NTK of eq. 18
    normalised as printed (without the prefactor alpha^2/N)."""
    g = gaussian
    K = _vectorise(sp.expand(ntk_general() * N / alpha ** 2))
    y = sp.Rational(1, 2) * g.dot("beta", "x") ** 2
    yp = sp.Rational(1, 2) * g.dot("beta", "xp") ** 2
    inner = g.expect_vector(y * K * yp, "x", D)
    return g.as_scalar(g.expect_vector(inner, "xp", D))


def readout_kernel() -> sp.Expr:
    """Initial NTK with trained readouts (Kumar eq. 23), infinite width, w ~ N(0, I), E v^2 = 1.

    K/(alpha^2/N) = E_w[phi(h) phi(h')] + E_w[phi'(h) phi'(h')] x.x', with (h, h') Gaussian of
    covariance [[|x|^2, x.x'], [x.x', |x'|^2]].
    """
    hh, hp = sp.symbols("h h'")
    r, rp, xx = sp.symbols("|x|^2 |x'|^2 xx'")
    cov = sp.Matrix([[r, xx], [xx, rp]])
    k = gaussian.expect(phi(hh) * phi(hp) + dphi(hh) * dphi(hp) * xx, [hh, hp], cov)
    return sp.expand(k)


def initial_ntk() -> sp.Expr:
    """K0(x,x') = x.x' + eps^2 (x.x')^2: eq. 18 at wbar = 0, M = I (Kumar eq. 10)."""
    r, rp, xx = sp.symbols("|x|^2 |x'|^2 xx'")
    return xx + eps ** 2 * xx ** 2


_E = {("e1", (), "e1"): 1, ("e2", (), "e2"): 1, ("e1", (), "e2"): 0}


def mercer_apply(K: sp.Expr, eigenfunction) -> sp.Expr:
    """T[psi](x') = E_x[K(x, x') psi(x)] for x ~ N(0, I/D), as an expression in x'
    (``<e1||xp>`` = x'_1, ``<xp||xp>`` = |x'|^2)."""
    g = gaussian
    return g.to_expr(g.expect_vector(_vectorise(K) * eigenfunction, "x", D, _E))


def mercer_spectrum(K: sp.Expr) -> dict:
    """Eigenfunctions and eigenvalues of a dot-product kernel quadratic in x.x', |x|^2, |x'|^2.

    Candidates: x_1 (linear); x_1 x_2 and x_1^2 - c|x|^2 (traceless quadratics, c solved for);
    |x|^2 - c' (norm). Each is verified: T[psi] - lambda psi = 0 identically in x' and D.
    """
    g = gaussian
    x1, x2, nx = g.dot("e1", "x"), g.dot("e2", "x"), g.dot("x", "x")
    x1p, x2p, nxp = (sp.Symbol("<e1||xp>"), sp.Symbol("<e2||xp>"), sp.Symbol("<xp||xp>"))
    lam, c = sp.symbols("lambda c")
    out = {}

    def solve(psi_vec, psi_expr, unknowns):
        T = mercer_apply(K, psi_vec)
        eqs = sp.Poly(sp.expand(T - lam * psi_expr), x1p, x2p, nxp).coeffs()
        sols = [s for s in sp.solve(eqs, [lam] + unknowns, dict=True) if s.get(lam, 0) != 0]
        return sols, T

    (s_lin,), T = solve(x1, x1p, [])
    out["linear"] = {"eigenfunction": "x_i", "eigenvalue": sp.factor(s_lin[lam]), "multiplicity": D}
    (s_off,), _ = solve(x1 * x2, x1p * x2p, [])
    out["quadratic_offdiagonal"] = {"eigenfunction": "x_i x_j (i != j)",
                                    "eigenvalue": sp.factor(s_off[lam]),
                                    "multiplicity": D * (D - 1) / 2}
    sols, _ = solve(x1 ** 2 - nx * c, x1p ** 2 - c * nxp, [c])
    diag = [s for s in sols if s[c] != 0] or sols
    out["quadratic_diagonal"] = {"eigenfunction": "x_i^2 - c |x|^2", "c": sp.factor(diag[0][c]),
                                 "eigenvalue": sp.factor(diag[0][lam]), "multiplicity": D - 1}
    # |x|^2 - c': T maps constants and |x|^2 into span{|x'|^2, 1}
    cp = sp.Symbol("c'")
    sols, _ = solve(nx - g.VectorPolynomial.const(cp), nxp - cp, [cp])
    out["norm"] = {"eigenfunction": "|x|^2 - c'", "c": sp.factor(sols[0][cp]),
                   "eigenvalue": sp.factor(sols[0][lam]), "multiplicity": 1}
    return out


def target_decomposition() -> dict:
    """y = (1/2)[(beta.x)^2 - |beta|^2 |x|^2 / D] + |beta|^2 |x|^2 / (2D) (Kumar eq. 17), with the
    kernel eigenvalue of each part and its power <part^2>."""
    g = gaussian
    bb = g.contraction_symbol("chain", "beta", (), "beta")
    quad_part = sp.Rational(1, 2) * (g.dot("beta", "x") ** 2 - g.dot("x", "x") * bb / D)
    norm_part = g.dot("x", "x") * bb / (2 * D)
    K0 = initial_ntk()
    T = g.to_expr(g.expect_vector(_vectorise(K0) * quad_part, "x", D))
    bxp, nxp = sp.Symbol("<beta||xp>"), sp.Symbol("<xp||xp>")
    quad_xp = sp.Rational(1, 2) * (bxp ** 2 - nxp * bb / D)
    lam_quad = sp.simplify(T / quad_xp)
    power = {name: g.as_scalar(g.expect_vector(p * p, "x", D)).subs(bb, D)
             for name, p in (("quadratic", quad_part), ("norm", norm_part))}
    return {"eigenvalue_quadratic": sp.factor(lam_quad), "power": power}


def cka_population_initial() -> dict:
    """Terms of the population alignment (Kumar eq. 19) at initialisation (wbar = 0, M = I)."""
    g = gaussian
    K = _vectorise(initial_ntk())
    KK = g.as_scalar(g.expect_vector(g.expect_vector(K * K, "x", D), "xp", D))
    yy = g.as_scalar(g.expect_vector((sp.Rational(1, 2) * g.dot("beta", "x") ** 2) ** 2, "x", D))
    bb = g.contraction_symbol("chain", "beta", (), "beta")
    return {"K2": sp.factor(KK), "y2": sp.factor(yy.subs(bb, D))}


# ----------------------------------------------------------------------------- report
_LATEX_NAMES = {
    "<beta||beta>": r"|\beta|^2", "<beta|M|beta>": r"\beta^\top M \beta", "tr(M)": r"\mathrm{Tr}\,M",
    "tr(MM)": r"\mathrm{Tr}\,M^2", "<wbar||wbar>": r"|\bar w|^2", "xx'": r"(x\cdot x')",
    "wbar.x": r"\bar w\cdot x", "wbar.x'": r"\bar w\cdot x'", "xMx'": r"x^\top M x'",
    "|x|^2": r"|x|^2", "|x'|^2": r"|x'|^2",
}


def _latex(expr) -> str:
    """LaTeX with the engine's chain/trace symbols written as vectors and traces."""
    names = {s: _LATEX_NAMES[s.name] for s in expr.free_symbols if s.name in _LATEX_NAMES}
    return sp.latex(expr, symbol_names=names)


def identities() -> list[Identity]:
    """Derived identities of the committee machine, with the printed forms where they differ."""
    L = _latex
    K0, KR = initial_ntk(), readout_kernel()
    s0, sr = mercer_spectrum(K0), mercer_spectrum(KR)
    lam_q, lam_n = s0["quadratic_offdiagonal"]["eigenvalue"], s0["norm"]["eigenvalue"]
    td = target_decomposition()
    dec = loss_decomposition()
    num = alignment_numerator()
    esc = escape()
    cka0 = cka_population_initial()
    rh, rhA, rhC = response_h(), online_rhs_A(), online_rhs_C()
    out = [
        Identity("committee.mercer.linear", "Initial NTK: linear eigenfunctions", KUMAR,
                 "App. 11.1, eq. (12)", rf"\langle K_0(x,x')\,x_i\rangle_x = {L(s0['linear']['eigenvalue'])}\, x'_i"),
        Identity("committee.mercer.quadratic", "Initial NTK: traceless quadratic eigenvalue", KUMAR,
                 "Sec. 5 (main text) and eq. (17)",
                 rf"\lambda_{{\rm quadr}} = {L(lam_q)} \quad (x_i x_j,\ i\neq j;\ x_i^2 - |x|^2/D)",
                 printed=r"\lambda_{\rm quadr} = 2\epsilon D^{-2}",
                 note="The eigenvalue is quadratic in eps (the eps^2 (x.x')^2 part of K0 carries the "
                      "quadratics); the main text and the sentence after eq. (17) print 2 eps / D^2. "
                      "App. 11.1 eqs. (13)-(15) have the correct 2 eps^2 / D^2. The sample size of kernel "
                      "regression P ~ 1/lambda_quadr is therefore D^2 / (2 eps^2), not D^2 / (2 eps)."),
        Identity("committee.mercer.diagonal", "Initial NTK: x_i^2 - c|x|^2 is an eigenfunction", KUMAR,
                 "App. 11.1, eq. (14)", rf"c = {L(s0['quadratic_diagonal']['c'])},\ \lambda = {L(s0['quadratic_diagonal']['eigenvalue'])}"),
        Identity("committee.mercer.norm", "Initial NTK: |x|^2 eigenvalue", KUMAR, "App. 11.1, eq. (16)",
                 rf"\langle K_0(x,x')\,|x|^2\rangle_x = {L(lam_n)}\,|x'|^2",
                 printed=r"\langle K(x,x')|x|^2\rangle = \frac{1}{D}\left(1+\frac{2}{D}\right)|x'|^2",
                 note="The printed form drops the factor eps^2: the linear part x.x' of K0 is odd and "
                      "does not contribute; only eps^2 (x.x')^2 does (eq. 13, second identity, has it)."),
        Identity("committee.target", "Target decomposition into kernel eigenspaces", KUMAR, "eq. (17)",
                 r"y = \tfrac12\left[(\beta\cdot x)^2 - \tfrac{|\beta|^2}{D}|x|^2\right] + \tfrac{|\beta|^2}{2D}|x|^2"
                 rf";\ \lambda_1 = {L(td['eigenvalue_quadratic'])},\ "
                 rf"\lambda_2 = {L(lam_n)};\ \text{{powers}}\ {L(td['power']['quadratic'])},\ {L(td['power']['norm'])}",
                 printed=r"\text{first term: } \frac{2\epsilon}{D^2};\quad \text{second term: } \frac1D\left(1+\frac2D\right)",
                 note="Both eigenvalues lack eps^2 in the print (same slips as the main text and eq. 16). "
                      "The powers of the two parts (their mean squares) sum to <y^2> = 3/4."),
        Identity("committee.decomposition", "Loss decomposition", KUMAR, "eq. (6)",
                 r"\mathcal L = " + " + ".join(L(v) for v in dec["matrix"].values())
                 + r" \quad\text{(exact for Gaussian } x\text{, any } D)"),
        Identity("committee.ntk", "NTK for general weights", KUMAR, "eq. (5), eq. (18)",
                 rf"K(x,x') = \sum_i \nabla_{{w_i}}f(x)\cdot\nabla_{{w_i}}f(x') = {L(ntk_general())}",
                 printed=r"K = x\cdot x' + \epsilon (x\cdot x')\,\bar w\cdot(x+x') + \epsilon^2 (x\cdot x')\, x^\top M x'",
                 note="Normalisation only: the printed kernel is the parameter-gradient kernel divided "
                      "by alpha^2/N (a constant that rescales time). The workbench's alignment uses the "
                      "printed normalisation; CKA is invariant to it."),
        Identity("committee.alignment", "Kernel-task alignment numerator", KUMAR, "eq. (20)",
                 rf"\langle y(x) K(x,x') y(x')\rangle = {L(sp.factor(num))}",
                 printed=r"\frac{\epsilon^2}{D^4}|\beta|^4 \mathrm{Tr} M + \frac{8\epsilon^2}{D^4}\beta^\top M\beta\,|\beta|^2",
                 note="y(x) y(x') = (beta.x)^2 (beta.x')^2 / 4: the printed form lacks the overall 1/4 "
                      "(the bracket of the first line of eq. 20 is right up to this factor)."),
        Identity("committee.alignment.init", "Population alignment terms at initialisation", KUMAR,
                 "eq. (19)", rf"\langle K_0^2\rangle = {L(cka0['K2'])},\ \langle y^2\rangle = {L(cka0['y2'])}"),
        Identity("committee.readout", "Initial NTK with trained readouts", KUMAR, "eq. (23)",
                 rf"K/(\alpha^2/N) = {L(KR)};\ \lambda_{{\rm lin}} = {L(sr['linear']['eigenvalue'])},\ "
                 rf"\lambda_{{\rm quadr}} = {L(sr['quadratic_offdiagonal']['eigenvalue'])},\ "
                 rf"\lambda_{{|x|^2}} = {L(sr['norm']['eigenvalue'])}",
                 printed=r"\text{quadratic eigenvalues } \mathcal O(\epsilon D^{-2})",
                 note="The kernel of eq. (23) is confirmed. Its traceless quadratic eigenvalue is "
                      "3 eps^2 / D^2 (order eps^2, not eps), and |x|^2 has eigenvalue "
                      "eps^2 (D+2)(D+6)/(4 D^2) = O(eps^2), not O(D^-2): the |x|^2|x'|^2 term puts "
                      "order-one power on the norm direction."),
        Identity("committee.online.Rh", "Online-limit responses", DMFT, "eq. (14)",
                 rf"R^h_{{ij}} = {_latex_indexed(rh)},\quad R^{{h_\star}}_i = {_latex_indexed(response_hstar())}",
                 printed=r"R^h_{ij} = \frac{\epsilon}{2}\delta_{ij}\Big[1 - \frac{\epsilon}{N}\sum_k C^w_{kk}\Big] - \frac1N\big[1 + \epsilon^2 C_{ij}\big]",
                 note="The print sets alpha = 1 (Delta is written without alpha, as in A.2 and A.4); "
                      "for general alpha both the mean error and the cross term carry alpha/N."),
        Identity("committee.online.ode", "Online-limit ODEs", DMFT, "eqs. (11)-(12), (15)",
                 rf"\frac{{dA_i}}{{dt}} = {_latex_indexed(rhA)},\qquad \frac{{dC_{{ij}}}}{{dt}} = {_latex_indexed(rhC)}",
                 printed=r"\frac{dA_i}{dt} = \frac{\epsilon}{2}\Big[1-\frac1N\sum_k C_{kk}\Big]A_i - \frac1N\sum_j[1+\epsilon^2C_{ij}]A_j + \epsilon A_i;\ "
                         r"\frac{dC_{ij}}{dt} = \epsilon\Big[1-\frac1N\sum_kC_{kk}\Big]C_{ij} - \frac1N\sum_k C_{ik}C_{kj}\big[2+\epsilon^2C_{ik}+\epsilon^2C_{kj}\big] + 2\epsilon A_iA_j",
                 note="Besides alpha = 1: the bracket [1 - (1/N) sum C_kk] lacks the eps of eq. (14) "
                      "(it is [1 - (alpha eps/N) sum C_kk]); and the cross term of dC/dt is "
                      "-(alpha/N) sum_k [C_ik + C_kj + 2 eps^2 C_ik C_kj], not "
                      "-(1/N) sum_k C_ik C_kj [2 + eps^2 C_ik + eps^2 C_kj] (the printed term is cubic "
                      "where R^h C is quadratic). Eq. (12) also writes C^h for C^w. The derived ODE equals "
                      "population gradient flow for any D (tested against Monte Carlo)."),
        Identity("committee.escape", "Early-time escape", DMFT, "A.3, eqs. (19)-(20)",
                 rf"\left.\frac{{dA_i}}{{dt}}\right|_{{\alpha\to0}} = {L(esc['linearised'])},\qquad t^\star = {L(esc['time'])}"),
        Identity("committee.cka", "Centred kernel alignment", KUMAR, "Sec. 5, Sec. 6.1",
                 r"\mathrm{CKA}(K, y) = \frac{y^\top H K H y}{\|H K H\|_F\, \|H y\|^2},\quad H = I - \tfrac1P \mathbf 1\mathbf 1^\top",
                 printed=r"\frac{y^\top K_0 y}{\|K\|_F\|y\|^2}\ \text{(Sec. 5)};\quad \frac{y^\top K_0 y}{\|K_0\|_F\|y\|}\ \text{(Sec. 5.3)}",
                 note="The two printed forms differ in the power of |y| and neither centres. The "
                      "workbench uses the double-centred (H K H) form, normalised so that it is "
                      "invariant to scaling K and y and lies in [-1, 1]."),
    ]
    return out


def _latex_indexed(d: Derived) -> str:
    names = {s: rf"\Big({c.latex()}\Big)" for s, c in d.table.items()}
    for s in d.expr.free_symbols:
        n = s.name
        if n.startswith("C_") or n.startswith("A_"):
            names[s] = f"{n[0]}_{{{n[2:]}}}"
        elif n == "delta_ij":
            names[s] = r"\delta_{ij}"
    return sp.latex(d.expr, symbol_names=names)
