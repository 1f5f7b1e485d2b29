"""Effective theory of representation learning (Liu et al. 2022, Sec. 3.2, eqs. (4)-(9)).

SymPy derivations for the toy addition task: the effective loss, the Hessian of ``l0`` for one
parallelogram (distinct and coinciding indices), ``H = (1/Z0) d^2 l0 / dE dE``, the time
derivatives of the would-be conserved quantities ``C = sum_k E_k`` and ``Z0 = sum_k |E_k|^2``
under the full flow of eq. (4) and under the linearised flow of eq. (9), the normaliser of the
embeddings, the nullity of A(P0) and the grokking rate. Everything is derived on explicit
instances (small ``p``, one or two embedding dimensions, given parallelogram sets) and simplified
to exact expressions; :func:`identities` turns the results into report records.

Findings that differ from the print (see :func:`identities`):

* eq. (6): under eq. (4) with ``l_eff = l0 / Z0`` (homogeneous of degree 0 in E), ``Z0`` is
  exactly conserved, but ``dC/dt = (2 l0 / Z0^2) C``: ``C`` is conserved only when it vanishes,
  as it does for normalised embeddings. Under the linearised flow of eq. (9) (``Z0`` frozen in
  ``H``) ``C`` is conserved and ``dZ0/dt = -4 l0 / Z0 <= 0``.
* eqs. (8)-(9): ``H = 2 A^T A / (|P| Z0)``, so ``lambda_k = 2 s_k^2 / (|P| Z0)`` in terms of the
  singular values ``s_k`` of A(P), not ``lambda_k = s_k^2``.
* Sec. 3.2: ``sigma_t`` printed as the variance must be the standard deviation for the normalised
  embeddings to be scale invariant.
* modular addition: the nullity of A(P0) is 1, not 2 (no scaling mode).

The numeric side is ``numerics/representation.py`` (parallelogram sets, A(P), H, nullity and
lambda_3 in floating point); this module does not repeat it. It takes the parallelogram sets
from there (:func:`full_quadruples`), derives A(P) as the Jacobian of the residuals and H by
differentiating l0, and the tests compare the numeric H, nullity and lambda_3 with these exact
results (``tests/test_representation.py``).
"""

from __future__ import annotations

from typing import Iterable, Sequence

from grokking_workbench.theory.identity import Identity

PAPER = "Liu et al. 2022"


# ----------------------------------------------------------------------------- building blocks
def embedding_symbols(p: int, d: int = 1):
    """A (p, d) SymPy matrix of embedding symbols ``E_{k,a}`` (``E_k`` when d = 1)."""
    import sympy as sp

    if d == 1:
        return sp.Matrix(p, 1, sp.symbols(f"E0:{p}", real=True))
    return sp.Matrix(p, d, lambda k, a: sp.Symbol(f"E{k}_{a}", real=True))


def l0(quads: Sequence[Sequence[int]], E):
    """l0 = (1/|P|) sum_P |E_i + E_j - E_m - E_n|^2 (eq. (5)) for embedding matrix ``E`` (p, d)."""
    import sympy as sp

    quads = [tuple(int(x) for x in q) for q in quads]
    if not quads:
        return sp.Integer(0)
    total = sp.Integer(0)
    for i, j, m, n in quads:
        diff = E.row(i) + E.row(j) - E.row(m) - E.row(n)
        total += sum(c ** 2 for c in diff)
    return total / len(quads)


def z0(E):
    """Z0 = sum_k |E_k|^2 (eq. (5))."""
    return sum(c ** 2 for c in E)


def effective_loss(quads, E):
    """l_eff = l0 / Z0 (eq. (5))."""
    return l0(quads, E) / z0(E)


def hessian_l0(quads, p: int):
    """d^2 l0 / dE_k dE_l for 1-D embeddings (the same block for every embedding dimension)."""
    import sympy as sp

    E = embedding_symbols(p)
    return sp.hessian(l0(quads, E), list(E))


def hessian_H(quads, p: int, z0_value=None):
    """H = (1/Z0) d^2 l0 / dE dE (eq. (8)); ``z0_value`` defaults to the symbol ``Z_0``."""
    import sympy as sp

    Z = sp.Symbol("Z_0", positive=True) if z0_value is None else sp.sympify(z0_value)
    return hessian_l0(quads, p) / Z


def residuals(quads, E):
    """The parallelogram residuals E_i + E_j - E_m - E_n (the summands of l0, eq. (5)), one per
    parallelogram, for 1-D embeddings ``E`` (p, 1)."""
    import sympy as sp

    return sp.Matrix([E[i] + E[j] - E[m] - E[n] for i, j, m, n in quads])


def constraint_matrix(quads, p: int):
    """A(P) (eq. (7)), derived: the Jacobian of the residuals with respect to the embeddings,
    an exact integer SymPy matrix (|P|, p). ``numerics/representation.py`` builds the same
    matrix in floating point; ``tests/test_representation.py`` compares them."""
    import sympy as sp

    if len(quads) == 0:
        return sp.zeros(0, p)
    E = embedding_symbols(p)
    return residuals([tuple(int(x) for x in q) for q in quads], E).jacobian(list(E))


def exact_nullity(quads, p: int) -> int:
    """n0 = p - rank A(P) in exact rational arithmetic."""
    if len(quads) == 0:
        return p
    return p - constraint_matrix(quads, p).rank()


def flow(quads, E, kind: str = "full"):
    """dE/dt of the effective theory as a SymPy matrix shaped like ``E``.

    ``kind="full"``: eq. (4), ``dE/dt = -d(l0/Z0)/dE`` with Z0 depending on E.
    ``kind="linear"``: eq. (9), ``dR/dt = -H R`` with ``H = (1/Z0) d^2 l0/dE dE`` and Z0 held
    fixed at its current value (the symbol ``Z_0``), i.e. ``-(1/Z0) dl0/dE``.
    """
    import sympy as sp

    flat = list(E)
    if kind == "full":
        loss = effective_loss(quads, E)
        grad = [sp.diff(loss, x) for x in flat]
    elif kind == "linear":
        Z = sp.Symbol("Z_0", positive=True)
        loss = l0(quads, E)
        grad = [sp.diff(loss, x) / Z for x in flat]
    else:
        raise ValueError(f"kind must be 'full' or 'linear', got {kind!r}")
    return sp.Matrix(E.shape[0], E.shape[1], [-g for g in grad])


def conservation_rates(quads, p: int, d: int = 2, kind: str = "full") -> dict:
    """Exact time derivatives of C (per dimension) and Z0 under a flow, simplified.

    Returns ``dC`` (list of d expressions), ``dZ0``, and the residuals of the closed forms
    ``dC - 2 l0 C / Z0^2`` (full) or ``dC`` (linear) and ``dZ0`` (full) or
    ``dZ0 + 4 l0 / Z0`` (linear), which simplify to 0 exactly when the closed forms hold.
    """
    import sympy as sp

    E = embedding_symbols(p, d)
    F = flow(quads, E, kind)
    Z = z0(E)
    L = l0(quads, E)
    C = [sum(E[k, a] for k in range(p)) for a in range(d)]
    dC = [sp.simplify(sum(F[k, a] for k in range(p))) for a in range(d)]
    dZ = sp.simplify(sum(2 * E[k, a] * F[k, a] for k in range(p) for a in range(d)))
    if kind == "full":
        dC_res = [sp.simplify(dC[a] - 2 * L * C[a] / Z ** 2) for a in range(d)]
        dZ_res = dZ
    else:
        Zs = sp.Symbol("Z_0", positive=True)
        dC_res = dC
        dZ_res = sp.simplify(dZ + 4 * L / Zs)
    return {"dC": dC, "dZ0": dZ, "dC_residual": dC_res, "dZ0_residual": dZ_res}


def euler_homogeneity(quads, p: int, d: int = 2) -> dict:
    """The two properties of l0 behind eq. (6), as exact residuals that vanish:
    translation invariance ``sum_k dl0/dE_k`` and Euler's relation ``E . dl0/dE - 2 l0``."""
    import sympy as sp

    E = embedding_symbols(p, d)
    L = l0(quads, E)
    trans = [sp.expand(sum(sp.diff(L, E[k, a]) for k in range(p))) for a in range(d)]
    euler = sp.expand(sum(E[k, a] * sp.diff(L, E[k, a]) for k in range(p) for a in range(d)) - 2 * L)
    return {"translation": trans, "euler": euler}


def normaliser_scaling(p: int = 3):
    """How the normalised embedding E~_0 transforms under E -> c E, for both readings of sigma_t.

    Returns ``(ratio_std, ratio_var)``: ``E~_0(cE) / E~_0(E)`` with sigma_t the standard
    deviation (1: invariant) and with sigma_t the variance as printed (1/c).
    """
    import sympy as sp

    c = sp.Symbol("c", positive=True)
    E = sp.symbols(f"e0:{p}", real=True)

    def normalised(vals, use_std: bool):
        mu = sum(vals) / p
        var = sum((v - mu) ** 2 for v in vals) / p
        return (vals[0] - mu) / (sp.sqrt(var) if use_std else var)

    scaled = [c * e for e in E]
    r_std = sp.simplify(normalised(scaled, True) / normalised(list(E), True))
    r_var = sp.simplify(normalised(scaled, False) / normalised(list(E), False))
    return r_std, r_var


def full_quadruples(p: int, modulus: int | None = None) -> list[tuple[int, int, int, int]]:
    """P0(D0) as a list of index quadruples: the parallelogram set of
    :func:`numerics.representation.quadruples` (the one definition of the convention: unordered
    pairs of distinct samples i <= j with equal, or equal modular, sums)."""
    from grokking_workbench.numerics.representation import quadruples

    return [tuple(int(x) for x in q) for q in quadruples(p, modulus=modulus)]


def hessian_spectrum(quads, p: int, z0_value=None):
    """Exact eigenvalues of H (eq. (8)) with multiplicities, as a dict."""
    return hessian_H(quads, p, z0_value).eigenvals()


def grokking_rate_full(p: int):
    """lambda_3 of the full dataset D0 with normalised embeddings (Z0 = p), exactly."""
    import sympy as sp

    quads = full_quadruples(p)
    A = constraint_matrix(quads, p)
    x = sp.Symbol("x")
    roots = sp.Poly((A.T * A).charpoly(x).as_expr(), x).real_roots()  # sorted, exact
    return sp.simplify(2 * roots[2] / (len(quads) * p))


# ----------------------------------------------------------------------------- report
def identities() -> list[Identity]:
    """Derived identities of the effective theory for ``results/equations.md``."""
    import sympy as sp

    out: list[Identity] = []
    Zs, P = sp.Symbol("Z_0", positive=True), sp.Symbol("|P|", positive=True)

    # effective loss for one parallelogram of 1-D embeddings, as derived
    E4 = embedding_symbols(4)
    one = l0([(0, 3, 1, 2)], E4)
    out.append(Identity(
        key="effective.loss", title="Effective loss of the normalised embeddings",
        paper=PAPER, equation="eq. (5)",
        latex=(r"\ell_{\rm eff} = \frac{\ell_0}{Z_0},\quad \ell_0 = \frac{1}{|P_0(D)|}"
               r"\sum_{(i,j,m,n)\in P_0(D)} |E_i+E_j-E_m-E_n|^2,\quad Z_0=\sum_k |E_k|^2;"
               r"\quad \text{e.g. } P=\{(0,3,1,2)\}:\ \ell_0 = " + sp.latex(sp.factor(one)) + "."),
        note=("P0(D) is taken as unordered pairs of distinct samples; the printed set (ordered, "
              "with trivial tuples) rescales l0 by a constant and hence every rate.")))

    # Hessian of one parallelogram, distinct and coinciding indices
    for key, quad, title in (("effective.hessian.distinct", (0, 3, 1, 2), "distinct indices (0,3,1,2)"),
                             ("effective.hessian.coinciding", (1, 1, 0, 2), "coinciding indices (1,1,0,2)")):
        Hq = hessian_l0([quad], 4)
        a = sp.Matrix(constraint_matrix([quad], 4)).T
        assert sp.simplify(Hq - 2 * a * a.T) == sp.zeros(4, 4)
        out.append(Identity(
            key=key, title=f"Hessian of l0 for one parallelogram, {title}",
            paper=PAPER, equation="eq. (8)",
            latex=(r"\frac{\partial^2 \ell_0}{\partial E_k\partial E_l} = 2\,a_k a_l,\ "
                   r"a = e_i+e_j-e_m-e_n = " + sp.latex(a.T) + r":\ " + sp.latex(Hq)),
            note=("With i = j the coefficient of E_i is 2, so the diagonal entry is 8."
                  if quad[0] == quad[1] else "")))

    # H and its spectrum: the Hessian of a parallelogram set is 2 A^T A / |P|
    quads = [(0, 3, 1, 2), (0, 2, 1, 1), (1, 3, 2, 2), (0, 4, 1, 3)]
    A = constraint_matrix(quads[:4], 5)
    assert sp.simplify(hessian_l0(quads[:4], 5) - 2 * A.T * A / 4) == sp.zeros(5, 5)
    out.append(Identity(
        key="effective.hessian.H", title="H = (1/Z0) d^2 l0/dE dE and the linear flow",
        paper=PAPER, equation="eqs. (8)-(9)",
        latex=(r"H = \frac{2}{|P|\,Z_0} A(P)^{T} A(P),\quad \ell_{\rm eff} = \tfrac12 R^T H R,\quad"
               r"\lambda_k = \frac{2\,s_k^2}{|P|\,Z_0}"),
        printed=r"\lambda_i = \sigma_i^2",
        note=("The eigenvalues of H are 2 s_k^2 / (|P| Z0) in terms of the singular values s_k "
              "of A(P); the print identifies them with s_k^2. The null spaces agree, so n0 and "
              "the critical fraction are unaffected; rates and the predicted number of steps "
              "1/(lambda_3 eta) are not.")))

    # conserved quantities
    quads = quads[:4]
    full = conservation_rates(quads, 5, d=2, kind="full")
    lin = conservation_rates(quads, 5, d=2, kind="linear")
    assert all(r == 0 for r in full["dC_residual"]) and full["dZ0_residual"] == 0
    assert all(r == 0 for r in lin["dC_residual"]) and lin["dZ0_residual"] == 0
    hom = euler_homogeneity(quads, 5, d=2)
    assert all(t == 0 for t in hom["translation"]) and hom["euler"] == 0
    out.append(Identity(
        key="effective.conserved.full", title="Conserved quantities under the full flow (eq. 4)",
        paper=PAPER, equation="eq. (6)",
        latex=(r"\frac{dZ_0}{dt} = 0,\qquad \frac{d\mathbf C}{dt} = \frac{2\,\ell_0}{Z_0^2}\,\mathbf C"
               r"\qquad(\textstyle\sum_k \partial_{E_k}\ell_0 = 0,\ \ E\cdot\partial_E \ell_0 = 2\ell_0)"),
        printed=r"\mathbf C = \sum_k \mathbf E_k,\ Z_0 = \sum_k |\mathbf E_k|^2 \text{ both conserved}",
        note=("Under eq. (4) with l_eff = l0/Z0 (homogeneous of degree 0), Z0 is exactly conserved "
              "but C grows as dC/dt = (2 l0/Z0^2) C: it is conserved only when C = 0, which holds "
              "for normalised (zero-mean) embeddings and is then preserved. Derived exactly for "
              "p = 5, d = 2 and a four-parallelogram set.")))
    out.append(Identity(
        key="effective.conserved.linear", title="Conserved quantities under the linearised flow (eq. 9)",
        paper=PAPER, equation="eqs. (6), (9)",
        latex=r"\frac{d\mathbf C}{dt} = 0,\qquad \frac{dZ_0}{dt} = -\frac{4\,\ell_0}{Z_0} \le 0",
        printed=r"\mathbf C,\ Z_0 \text{ both conserved}",
        note=("With Z0 frozen in H (eq. (9)), C is exactly conserved (A(P) 1 = 0) but Z0 decays "
              "until l0 = 0: the embeddings shrink onto the null space of H.")))

    # normaliser
    r_std, r_var = normaliser_scaling()
    out.append(Identity(
        key="effective.normaliser", title="Normaliser of the embeddings",
        paper=PAPER, equation="Sec. 3.2",
        latex=(r"\tilde E_k = \frac{E_k-\mu}{\sigma},\ \sigma^2 = \frac1p\sum_k|E_k-\mu|^2:\quad"
               r"\tilde E_k(cE)/\tilde E_k(E) = " + sp.latex(r_std) + r",\quad Z_0 = p"),
        printed=r"\sigma_t = \frac1p\sum_k |E_k-\mu_t|^2",
        note=("Dividing by the printed sigma_t (a variance) gives E~(cE) = E~(E) * "
              f"{sp.sstr(r_var)}: not a normalisation. The standard deviation is meant; then "
              "sum_k |E~_k|^2 = p and the paper's statement that the 1-D network embeddings are "
              "normalised to zero mean and unit variance (Fig. 4d) is consistent.")))

    # nullity of the full dataset
    n_add = [exact_nullity(full_quadruples(p), p) for p in range(3, 9)]
    n_mod = [exact_nullity(full_quadruples(p, modulus=p), p) for p in range(3, 9)]
    assert set(n_add) == {2}
    out.append(Identity(
        key="effective.nullity.full", title="Nullity of A(P0) for the full dataset",
        paper=PAPER, equation="eq. (7), Sec. 3.2",
        latex=(r"\mathrm{Nullity}\,A(P_0) = " + str(n_add[0]) + r"\ \text{(addition, } p=3..8),\qquad "
               r"\mathrm{Nullity}\,A(P_0^{\bmod p}) = " + str(n_mod[0]) + r"\ \text{(modular addition)}"),
        note=("Addition: translation and scaling, E_k = a + k b. Modular addition (not treated in "
              "the paper's Sec. 3): an additive map Z_p -> R vanishes, so only translations "
              "remain and no normalised (zero-mean, Z0 = p) ground state exists; the modular "
              f"nullities found for p = 3..8 are {n_mod}.")))

    # grokking rate
    lam = {p: grokking_rate_full(p) for p in (4, 6, 10)}
    out.append(Identity(
        key="effective.grokking_rate", title="Grokking rate lambda_3 and the number of steps",
        paper=PAPER, equation="Sec. 3.2, 'Time towards the linear structure'",
        latex=(r"R(t) = \sum_i a_i \bar v_i e^{-\lambda_i t},\quad t_h = 1/\lambda_3,\quad "
               r"n_h = \frac{1}{\lambda_3\eta};\quad \lambda_3(D_0) = "
               + r",\ ".join(f"{sp.latex(v)}\\ (p={p})" for p, v in lam.items())
               + r"\ \text{at } Z_0 = p"),
        note="lambda_3 = 0 exactly when n0 > 2 (no unique linear representation)."))
    return out
