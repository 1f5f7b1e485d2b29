"""Index-generic order-parameter expressions of the committee machine, for any number of units N.

A quantity such as R^h_ij or dC_ij/dt is derived for *generic* unit indices: free indices
``i``, ``j`` and summed indices ``k``, ``l`` (sums over all N units). The preactivations
h_a = w_a.x (a in i, j, k, l) and h_* = beta.x are jointly Gaussian with
Cov(h_a, h_b) = C_ab, Cov(h_a, h_*) = A_a, Var(h_*) = 1, so Wick's theorem gives polynomials in
these symbols. Wick's theorem is a polynomial identity in the covariance entries, so it stays
valid when two generic indices denote the same unit (C_ij -> C_ii): the generic result covers
every index pattern at once.

After the expectation, each sum over a summed index becomes a *contraction*: the product of
factors that carry the summed index (C_ik C_jk, C_kk, A_k^2, C_kl^2, ...) summed over it, which
the code generator prints as one ``numpy.einsum`` (``'...ik,...jk->...ij'``). A summed index
that no factor carries contributes a factor N.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import sympy as sp

from grokking_workbench.theory import gaussian

FREE = ("i", "j")
SUMMED = ("k", "l", "m")

alpha, eps = sp.symbols("alpha epsilon", positive=True)
N = sp.Symbol("N", positive=True, integer=True)
h_star = sp.Symbol("h_star")
delta_ij = sp.Symbol("delta_ij")  # Kronecker delta of the free indices


def h(a: str) -> sp.Symbol:
    """Preactivation of generic unit ``a``."""
    return sp.Symbol(f"h_{a}")


def C(a: str, b: str) -> sp.Symbol:
    """Overlap C_ab = w_a.w_b / D (symmetric: C(a, b) is C(b, a))."""
    a, b = sorted((a, b))
    return sp.Symbol(f"C_{a}{b}")


def A(a: str) -> sp.Symbol:
    """Alignment A_a = w_a.beta / D."""
    return sp.Symbol(f"A_{a}")


def _indices(sym: sp.Symbol) -> str:
    name = sym.name
    if name.startswith("C_") or name.startswith("A_"):
        return name[2:]
    return ""


def _covariance(u: sp.Symbol, v: sp.Symbol) -> sp.Expr:
    if u == h_star and v == h_star:
        return sp.Integer(1)
    if u == h_star or v == h_star:
        other = v if u == h_star else u
        return A(other.name[2:])
    return C(u.name[2:], v.name[2:])


def expect(expr: sp.Expr) -> sp.Expr:
    """E[expr] over the generic preactivations present in ``expr`` (Wick, symbolic covariance)."""
    variables = sorted((s for s in expr.free_symbols if s.name.startswith("h_")), key=str)
    return gaussian.expect(expr, variables, _covariance)


@dataclass(frozen=True)
class Contraction:
    """sum over ``summed`` of a product of overlap factors; ``free`` are the indices it keeps."""

    factors: tuple[tuple[str, str, int], ...]  # (kind 'C' or 'A', indices, power), sorted
    summed: tuple[str, ...]
    free: tuple[str, ...]

    def einsum(self) -> tuple[str, tuple[str, ...]]:
        """(subscripts, operand names) for numpy.einsum with leading ``...`` batch dimensions."""
        subs, ops = [], []
        for kind, idx, power in self.factors:
            subs += ["..." + idx] * power
            ops += [kind] * power
        return ",".join(subs) + "->..." + "".join(self.free), tuple(ops)

    def latex(self) -> str:
        body = " ".join(
            (f"{kind}_{{{idx}}}" + (f"^{{{p}}}" if p > 1 else "")) for kind, idx, p in self.factors)
        return r"\sum_{" + ",".join(self.summed) + "} " + body

    def __str__(self) -> str:
        body = "*".join(f"{kind}_{idx}" + (f"**{p}" if p > 1 else "") for kind, idx, p in self.factors)
        return f"sum_{''.join(self.summed)}({body})"


def contraction_symbol(c: Contraction) -> sp.Symbol:
    return sp.Symbol(str(c))


def contract(expr: sp.Expr, summed: Sequence[str]) -> tuple[sp.Expr, dict[sp.Symbol, Contraction]]:
    """Sum ``expr`` (a polynomial in overlap symbols) over the ``summed`` generic indices.

    Returns the expression with contraction symbols and the map symbol -> :class:`Contraction`.
    """
    summed = tuple(summed)
    out = sp.Integer(0)
    table: dict[sp.Symbol, Contraction] = {}
    for term in sp.Add.make_args(sp.expand(expr)):
        keep, factors, present = sp.Integer(1), [], set()
        for base, power in term.as_powers_dict().items():
            idx = _indices(base) if isinstance(base, sp.Symbol) else ""
            hit = set(idx) & set(summed)
            if hit:
                if not (isinstance(power, sp.Integer) and power > 0):
                    raise ValueError(f"cannot contract {base}**{power}")
                factors.append((base.name[0], idx, int(power)))
                present |= hit
            else:
                keep *= base ** power
        keep *= N ** (len(set(summed) - present))
        for group in _connected(factors, summed):
            c = _canonical(group, summed)
            sym = contraction_symbol(c)
            table[sym] = c
            keep *= sym
        out += keep
    return out, table


def _connected(factors, summed):
    """Split factors into groups linked by shared summed indices (separable sums factorise)."""
    groups: list[list] = []
    for f in factors:
        linked = [g for g in groups if set(f[1]) & {c for x in g for c in x[1]} & set(summed)]
        merged = [f] + [x for g in linked for x in g]
        groups = [g for g in groups if g not in linked] + [merged]
    return groups


def _canonical(factors, summed) -> Contraction:
    """The contraction with its summed indices renamed canonically (sum_l C_ll is sum_k C_kk)."""
    from itertools import permutations

    present = sorted({c for _, idx, _ in factors for c in idx} & set(summed))
    best = None
    for perm in permutations(SUMMED[:len(present)]):
        ren = dict(zip(present, perm))
        fs = tuple(sorted((k, "".join(sorted(ren.get(c, c) for c in idx)), p)
                          for k, idx, p in factors))
        if best is None or fs < best:
            best = fs
    free = tuple(sorted({c for _, idx, _ in factors for c in idx} - set(summed)))
    return Contraction(best, tuple(SUMMED[:len(present)]), free)


class Sum:
    """A sum of parts (expr, summed indices): lets Delta = sigma(h_*) - (alpha/N) sum_k phi(h_k)
    be multiplied and averaged without expanding the sums by hand."""

    def __init__(self, parts: Iterable[tuple[sp.Expr, tuple[str, ...]]]):
        self.parts = [(sp.sympify(e), tuple(s)) for e, s in parts]

    @staticmethod
    def of(expr) -> "Sum":
        return Sum([(expr, ())])

    def __add__(self, other: "Sum") -> "Sum":
        return Sum(self.parts + _as_sum(other).parts)

    def __sub__(self, other: "Sum") -> "Sum":
        return self + _as_sum(other) * -1

    def __mul__(self, other) -> "Sum":
        other = _as_sum(other)
        out = []
        for e1, s1 in self.parts:
            for e2, s2 in other.parts:
                if set(s1) & set(s2):
                    raise ValueError(f"summed index reused: {s1} and {s2}")
                out.append((e1 * e2, s1 + s2))
        return Sum(out)

    __rmul__ = __mul__

    def mean(self) -> tuple[sp.Expr, dict[sp.Symbol, Contraction]]:
        """E[...] over the Gaussian preactivations, with every sum contracted."""
        total, table = sp.Integer(0), {}
        for e, s in self.parts:
            value, t = contract(expect(e), s)
            total += value
            table.update(t)
        return sp.expand(total), table


def _as_sum(x) -> Sum:
    return x if isinstance(x, Sum) else Sum.of(x)


def free_kind(expr: sp.Expr, table: dict[sp.Symbol, Contraction]) -> tuple[str, ...]:
    """The free indices an expression carries (``()``, ``('i',)`` or ``('i', 'j')``)."""
    found = set()
    for s in expr.free_symbols:
        if s in table:
            found |= set(table[s].free)
        elif s == delta_ij:
            found |= {"i", "j"}
        else:
            found |= set(_indices(s)) & set(FREE)
    return tuple(sorted(found))


def substitute_unit(expr: sp.Expr, table: dict[sp.Symbol, Contraction], values: dict[str, int],
                    Cnum, Anum):
    """Evaluate an index-generic expression at explicit indices (``values = {'i': 0, 'j': 1}``)
    for numeric C (N, N) and A (N,): used by tests to compare with explicit-N derivations."""
    import numpy as np

    subs = {}
    for s in expr.free_symbols:
        if s in table:
            c = table[s]
            sub, ops = c.einsum()
            arr = np.einsum(sub.replace("...", ""), *[Cnum if o == "C" else Anum for o in ops])
            subs[s] = arr[tuple(values[f] for f in c.free)] if c.free else arr
        elif s == delta_ij:
            subs[s] = float(values["i"] == values["j"])
        elif s.name.startswith("C_"):
            a, b = s.name[2], s.name[3]
            subs[s] = Cnum[values[a], values[b]]
        elif s.name.startswith("A_"):
            subs[s] = Anum[values[s.name[2]]]
    return expr.subs(subs)
