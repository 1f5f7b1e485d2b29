"""Gaussian-moment engine: Isserlis/Wick expectations with a symbolic covariance, and Stein's lemma.

Two engines, one principle (Wick's theorem: the moment of a product of centred jointly Gaussian
variables is the sum over perfect matchings of products of covariances):

- :func:`expect` works with scalar Gaussian variables and a symbolic covariance. It applies
  Stein's lemma recursively, E[z_a F(z)] = sum_b Cov(z_a, z_b) E[dF/dz_b], on each monomial,
  with memoisation on the exponent tuple; this is Wick's theorem without enumerating matchings.
- :func:`expect_vector` works with a random vector x ~ N(0, I/D) of symbolic dimension D, in
  products of linear forms u.x (u a fixed or another random vector, possibly multiplied by fixed
  symmetric matrices). A Wick pairing of two legs of x contributes 1/D and joins their edges;
  the paired graph decomposes into open chains u^T W v and closed loops Tr W (Tr I = D).

Everything here is exact for polynomials. sympy.stats is only used by the tests, as an independent
check on small one-dimensional cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Mapping, Sequence

import sympy as sp

Cov = Callable[[sp.Symbol, sp.Symbol], sp.Expr]


# ----------------------------------------------------------------------------- scalar engine
def covariance_function(variables: Sequence[sp.Symbol], cov) -> Cov:
    """Turn a covariance given as a sympy Matrix (in the order of ``variables``), a mapping
    ``{(a, b): value}`` (either order) or a callable ``cov(a, b)`` into a callable."""
    if callable(cov) and not isinstance(cov, sp.MatrixBase):
        return cov
    if isinstance(cov, sp.MatrixBase):
        index = {v: n for n, v in enumerate(variables)}
        return lambda a, b: cov[index[a], index[b]]
    if isinstance(cov, Mapping):
        def lookup(a, b):
            if (a, b) in cov:
                return cov[(a, b)]
            return cov[(b, a)]
        return lookup
    raise TypeError("cov must be a Matrix, a mapping or a callable")


def gaussian_moment(exponents: tuple[int, ...], variables: Sequence[sp.Symbol], cov) -> sp.Expr:
    """E[prod_a z_a^{k_a}] for centred jointly Gaussian z with covariance ``cov`` (Isserlis)."""
    c = covariance_function(variables, cov)
    n = len(variables)
    pair = [[c(variables[a], variables[b]) for b in range(n)] for a in range(n)]

    @lru_cache(maxsize=None)
    def moment(k: tuple[int, ...]) -> sp.Expr:
        total = sum(k)
        if total == 0:
            return sp.Integer(1)
        if total % 2:
            return sp.Integer(0)
        a = next(i for i, e in enumerate(k) if e)
        rest = list(k)
        rest[a] -= 1
        # Stein: E[z_a F] = sum_b Cov(a, b) E[dF/dz_b], F = prod z^rest
        out = sp.Integer(0)
        for b, e in enumerate(rest):
            if e and pair[a][b] != 0:
                down = list(rest)
                down[b] -= 1
                out += pair[a][b] * e * moment(tuple(down))
        return sp.expand(out)

    return moment(tuple(exponents))


def expect(expr: sp.Expr, variables: Sequence[sp.Symbol], cov) -> sp.Expr:
    """E[expr] for a polynomial ``expr`` in the centred jointly Gaussian ``variables``.

    Coefficients may contain any other symbols (parameters, covariance entries).
    """
    variables = list(variables)
    poly = sp.Poly(sp.expand(expr), *variables)
    c = covariance_function(variables, cov)
    cache: dict = {}
    out = sp.Integer(0)
    for exps, coeff in poly.terms():
        if exps not in cache:
            cache[exps] = gaussian_moment(exps, variables, c)
        out += coeff * cache[exps]
    return sp.expand(out)


def stein(F: sp.Expr, z: sp.Symbol, variables: Sequence[sp.Symbol], cov) -> sp.Expr:
    """Stein's lemma: E[F(z) z_k] = sum_l Cov(z_k, z_l) E[dF/dz_l] (for polynomial F)."""
    c = covariance_function(list(variables), cov)
    return sp.expand(sum(c(z, v) * expect(sp.diff(F, v), variables, c) for v in variables))


# ----------------------------------------------------------------------------- vector engine
@dataclass(frozen=True)
class Leg:
    """One end of a linear form: a fixed vector (``random=False``) or a random vector's leg.

    ``name`` identifies the vector (``"beta"``, ``"x"``, ``"xp"``); each random leg carries a
    distinct ``slot`` so that a product of forms has distinguishable legs.
    """

    name: str
    random: bool = False
    slot: int = 0


@dataclass(frozen=True)
class Form:
    """The bilinear form ``left^T W right`` with W a product of symmetric matrices (``word``)."""

    left: Leg
    word: tuple[str, ...]
    right: Leg


class VectorPolynomial:
    """A polynomial in random vectors: sum of coeff * prod(Form).

    Build with :func:`dot` and :func:`quad` and the operators + and *; take expectations with
    :func:`expect_vector` (one random vector at a time, with the others held fixed).
    """

    def __init__(self, terms: list[tuple[sp.Expr, tuple[Form, ...]]] | None = None):
        self.terms = terms or []

    @staticmethod
    def const(c) -> "VectorPolynomial":
        return VectorPolynomial([(sp.sympify(c), ())])

    def __add__(self, other):
        other = other if isinstance(other, VectorPolynomial) else VectorPolynomial.const(other)
        return VectorPolynomial(self.terms + other.terms)

    __radd__ = __add__

    def __neg__(self):
        return VectorPolynomial([(-c, f) for c, f in self.terms])

    def __sub__(self, other):
        return self + (-other if isinstance(other, VectorPolynomial) else VectorPolynomial.const(-other))

    def __mul__(self, other):
        if not isinstance(other, VectorPolynomial):
            return VectorPolynomial([(c * sp.sympify(other), f) for c, f in self.terms])
        return VectorPolynomial([(c1 * c2, f1 + f2) for c1, f1 in self.terms for c2, f2 in other.terms])

    __rmul__ = __mul__

    def __truediv__(self, other):
        return self * (1 / sp.sympify(other))

    def __pow__(self, n: int):
        out = VectorPolynomial.const(1)
        for _ in range(n):
            out = out * self
        return out


def substitute_forms(expr: sp.Expr, forms: Mapping[sp.Symbol, VectorPolynomial]) -> VectorPolynomial:
    """A polynomial in scalar symbols as a :class:`VectorPolynomial`: each symbol in ``forms`` is
    replaced by its form (powers by products); every other factor stays in the coefficient."""
    out = VectorPolynomial()
    for term in sp.Add.make_args(sp.expand(expr)):
        coeff, vp = sp.Integer(1), VectorPolynomial.const(1)
        for base, power in term.as_powers_dict().items():
            if base in forms:
                vp = vp * forms[base] ** int(power)
            else:
                coeff *= base ** power
        out = out + vp * coeff
    return out


def _leg(name: str, random_vectors: set[str]) -> Leg:
    return Leg(name, name in random_vectors)


def quad(u: str, word: Sequence[str], v: str, random: Sequence[str] = ("x", "xp")) -> VectorPolynomial:
    """The form u^T W v as a polynomial (W = product of the named symmetric matrices; () = I).

    Vectors named in ``random`` are random (each occurrence a separate Wick leg).
    """
    rv = set(random)
    return VectorPolynomial([(sp.Integer(1), (Form(_leg(u, rv), tuple(word), _leg(v, rv)),))])


def dot(u: str, v: str, random: Sequence[str] = ("x", "xp")) -> VectorPolynomial:
    """The inner product u.v as a polynomial."""
    return quad(u, (), v, random)


def _canonical_chain(left: str, word: tuple[str, ...], right: str) -> tuple:
    a = (left, word, right)
    b = (right, tuple(reversed(word)), left)
    return min(a, b)


def _canonical_trace(word: tuple[str, ...]) -> tuple[str, ...]:
    if not word:
        return ()
    rots = [word[i:] + word[:i] for i in range(len(word))]
    rev = tuple(reversed(word))
    rots += [rev[i:] + rev[:i] for i in range(len(rev))]
    return min(rots)


def contraction_symbol(kind: str, *parts) -> sp.Symbol:
    """The symbol for a chain u^T W v (``kind='chain'``) or a trace Tr W (``kind='trace'``)."""
    if kind == "trace":
        (word,) = parts
        return sp.Symbol("tr(" + "".join(word) + ")")
    left, word, right = parts
    return sp.Symbol(f"<{left}|{''.join(word)}|{right}>")


def expect_vector(poly: VectorPolynomial, x: str, D: sp.Symbol,
                  values: Mapping[tuple, sp.Expr] | None = None) -> VectorPolynomial:
    """E_x[poly] for x ~ N(0, I/D), other random vectors held fixed.

    Returns a polynomial in the remaining random vectors whose coefficients contain chain and
    trace symbols (:func:`contraction_symbol`); a chain between fixed vectors is replaced by
    ``values[(left, word, right)]`` where given (keys in canonical order), and Tr I = D.
    """
    values = dict(values or {})
    out: list[tuple[sp.Expr, tuple[Form, ...]]] = []
    for coeff, forms in poly.terms:
        # relabel every leg of x with its own slot
        slot = 0
        labelled = []
        for f in forms:
            left, right = f.left, f.right
            if left.name == x:
                left, slot = Leg(x, True, slot), slot + 1
            if right.name == x:
                right, slot = Leg(x, True, slot), slot + 1
            labelled.append(Form(left, f.word, right))
        if slot % 2:
            continue
        for weight, rest in _pair_legs(labelled, x, slot, D, values):
            out.append((sp.expand(coeff * weight), rest))
    return _collect(out)


def _pair_legs(forms: list[Form], x: str, nlegs: int, D, values):
    """All Wick pairings of the ``nlegs`` legs of ``x`` in ``forms``: (weight, remaining forms)."""
    for matching in _matchings(list(range(nlegs))):
        partner = {}
        for a, b in matching:
            partner[a], partner[b] = b, a
        weight = D ** (-len(matching))
        # adjacency: each form is an edge between its two ends; a pairing glues leg a to leg b.
        edges = list(forms)
        used = [False] * len(edges)
        ends = {}  # leg slot -> (edge index, side)
        for k, f in enumerate(edges):
            if f.left.name == x:
                ends[f.left.slot] = (k, 0)
            if f.right.name == x:
                ends[f.right.slot] = (k, 1)
        remaining: list[Form] = []
        for k, f in enumerate(edges):
            if used[k]:
                continue
            if f.left.name != x or f.right.name != x:
                # walk from a non-x end, if any; else this edge lies on a loop (handled below)
                start_left = f.left.name != x
                word, end = _walk(edges, used, ends, partner, k, start_left, x)
                first = f.left if start_left else f.right
                if end is None:
                    continue
                remaining.append(Form(first, word, end))
        for k, f in enumerate(edges):
            if not used[k]:
                word = _walk_loop(edges, used, ends, partner, k, x)
                weight *= _trace_value(word, D)
        for f in remaining:
            if not f.left.random and not f.right.random:
                key = _canonical_chain(f.left.name, f.word, f.right.name)
                weight *= values.get(key, contraction_symbol("chain", *key))
        yield weight, tuple(f for f in remaining if f.left.random or f.right.random)


def _walk(edges, used, ends, partner, k, start_left, x):
    """Follow a chain from edge k's non-x end through paired legs; return (word, end leg)."""
    word: list[str] = []
    while True:
        used[k] = True
        f = edges[k]
        seg = list(f.word) if start_left else list(reversed(f.word))
        far = f.right if start_left else f.left
        word += seg
        if far.name != x:
            return tuple(word), far
        k, side = ends[partner[far.slot]]
        start_left = side == 0


def _walk_loop(edges, used, ends, partner, k, x):
    word: list[str] = []
    start = k
    start_left = True
    while True:
        used[k] = True
        f = edges[k]
        word += list(f.word) if start_left else list(reversed(f.word))
        far = f.right if start_left else f.left
        k, side = ends[partner[far.slot]]
        start_left = side == 0
        if k == start and start_left:
            return tuple(word)


def _trace_value(word, D):
    return D if not word else contraction_symbol("trace", _canonical_trace(tuple(word)))


def _matchings(items: list[int]):
    if not items:
        yield []
        return
    a = items[0]
    for n in range(1, len(items)):
        b = items[n]
        rest = items[1:n] + items[n + 1:]
        for m in _matchings(rest):
            yield [(a, b)] + m


def _collect(terms):
    acc: dict[tuple, sp.Expr] = {}
    for c, forms in terms:
        key = tuple(sorted(forms, key=repr))
        acc[key] = acc.get(key, 0) + c
    return VectorPolynomial([(sp.expand(c), k) for k, c in acc.items() if sp.expand(c) != 0])


def as_scalar(poly: VectorPolynomial) -> sp.Expr:
    """The value of a polynomial with no random vector left (raises if one remains)."""
    if any(forms for _, forms in poly.terms):
        raise ValueError("random vectors remain in the polynomial")
    return sp.expand(sum((c for c, _ in poly.terms), sp.Integer(0)))


def to_expr(poly: VectorPolynomial, names: Mapping[tuple, sp.Expr] | None = None) -> sp.Expr:
    """A polynomial with random vectors left, as a sympy expression: each remaining form becomes
    ``names[(left, word, right)]`` (canonical key) or its :func:`contraction_symbol`."""
    names = dict(names or {})
    out = sp.Integer(0)
    for c, forms in poly.terms:
        term = c
        for f in forms:
            key = _canonical_chain(f.left.name, f.word, f.right.name)
            term *= names.get(key, contraction_symbol("chain", *key))
        out += term
    return sp.expand(out)
