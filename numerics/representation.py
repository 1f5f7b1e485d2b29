"""Parallelograms, representation quality and the grokking rate of the toy addition task.

Liu et al. 2022, Sec. 3. Symbols ``0 .. p-1``; a *sample* is an unordered pair ``(i, j)`` with
``i <= j`` (``i + j`` and ``j + i`` are the same sample), so the full dataset ``D0`` has
``p (p + 1) / 2`` samples. For modular addition (``modulus=p``) the label is ``(i + j) mod p``.

Conventions (the paper leaves them open; they are fixed here and used everywhere):

* A *parallelogram* ``(i, j, m, n)`` of a dataset ``D`` (eq. (1)) is an unordered pair of
  **distinct** samples ``(i, j) != (m, n)`` of ``D`` with the same label. The printed set of
  eq. (1) also contains the trivial tuples ``(i, j, i, j)`` and both orders ``(i, j, m, n)``,
  ``(m, n, i, j)``. Trivial tuples are satisfied by every representation, so with them a random
  representation would have RQI > 0, contradicting the paper's statement that it has RQI = 0;
  both orders only double every count. Neither changes the linear system A(P) (eq. (7)).
  The normalisation ``1/|P0(D)|`` of ``l0`` (eq. (5)) does depend on the convention; with ours
  the grokking rate is twice what the ordered convention would give.
* Embeddings are normalised as in Sec. 3.2 with ``sigma_t`` the *standard deviation*
  ``sqrt((1/p) sum_k |E_k - mu|^2)``. The paper prints the variance; with it the normalised
  embeddings would not be invariant under a rescaling of ``E`` (see ``theory.effective``).
  With this normalisation ``Z0 = sum_k |E~_k|^2 = p``.
* ``H = (1/Z0) d^2 l0 / dE dE = 2 A^T A / (|P| Z0)`` (eq. (8)), so its eigenvalues are
  ``lambda_k = 2 s_k^2 / (|P| Z0)`` with ``s_k`` the singular values of ``A(P)``; the paper
  writes ``lambda_k = s_k^2``. ``lambda_3`` (the grokking rate) is the third smallest.

Only numpy here; the SymPy counterparts are in :mod:`theory.effective`, and the tests compare
the two.
"""

from __future__ import annotations

import functools

import numpy as np

from grokking_workbench.numerics.validate import InputError, positive_int

#: relative threshold below which an eigenvalue of A^T A counts as zero (integer matrices of
#: size p <= 100 have nonzero eigenvalues far above p * max|M| * 1e-10)
ZERO_EIGENVALUE_RTOL = 1e-9


# ----------------------------------------------------------------------------- datasets
def full_dataset(p: int) -> np.ndarray:
    """All samples ``(i, j)``, ``0 <= i <= j < p``, as an int array of shape (p(p+1)/2, 2)."""
    p = positive_int("p", p)
    i, j = np.triu_indices(p)
    return np.stack([i, j], axis=1)


def labels(samples: np.ndarray, modulus: int | None = None) -> np.ndarray:
    """The label ``i + j`` (or ``(i + j) mod modulus``) of each sample."""
    s = np.asarray(samples).sum(axis=1)
    return s % modulus if modulus else s


def n_labels(p: int, modulus: int | None = None) -> int:
    """Number of distinct labels: ``2p - 1`` for addition, ``modulus`` for modular addition."""
    return modulus if modulus else 2 * p - 1


def split_sizes(p: int, fraction: float) -> int:
    """Training-set size ``round(fraction * |D0|)`` for a training fraction (Sec. 2)."""
    if not 0.0 <= fraction <= 1.0:
        raise InputError("fraction", f"must lie in [0, 1], got {fraction!r}")
    return int(round(fraction * p * (p + 1) / 2))


def sample_splits(p: int, n_train: int, n_splits: int, rng: np.random.Generator) -> np.ndarray:
    """Random training sets of ``n_train`` samples: a bool mask of shape (n_splits, |D0|).

    Each split is a uniformly random subset of ``D0`` (without replacement).
    """
    n0 = p * (p + 1) // 2
    if not 0 <= n_train <= n0:
        raise InputError("n_train", f"must lie in [0, {n0}], got {n_train}")
    keys = rng.random((n_splits, n0))
    order = np.argsort(keys, axis=1)
    mask = np.zeros((n_splits, n0), dtype=bool)
    np.put_along_axis(mask, order[:, :n_train], True, axis=1)
    return mask



def seen_label_fraction(p: int, masks: np.ndarray, modulus: int | None = None) -> np.ndarray:
    """Fraction of each split's validation samples whose label occurs in its training set.

    A decoder maps equal sums to equal outputs, so a validation sample whose label ``i + j``
    has no training representative cannot be answered from any representation: this is the
    best validation accuracy a split allows (reached by the linear representation when the
    split implies it). ``masks``: (n, |D0|) bool. Returns (n,); 1 where there is no
    validation sample.
    """
    masks = np.atleast_2d(np.asarray(masks, dtype=bool))
    lab = labels(full_dataset(p), modulus)
    k = n_labels(p, modulus)
    seen = np.zeros((len(masks), k), dtype=bool)
    rows = np.nonzero(masks)
    seen[rows[0], lab[rows[1]]] = True
    ok = seen[:, lab] & ~masks                                      # validation, label seen
    n_val = (~masks).sum(axis=1)
    return np.where(n_val > 0, ok.sum(axis=1) / np.maximum(n_val, 1), 1.0)


def generalisable_splits(p: int, n_train: int, n_splits: int, rng: np.random.Generator,
                         min_accuracy: float = 0.9, max_accuracy: float = 1.0,
                         modulus: int | None = None, max_draws: int = 100000) -> np.ndarray:
    """Random training sets (as :func:`sample_splits`) whose best possible validation accuracy
    (:func:`seen_label_fraction`) lies in ``[min_accuracy, max_accuracy]``, and which imply the
    unique representation (nullity of A(P0(D)) equal to that of D0, Sec. 3.2).

    The phase diagram (Sec. 4.1) asks whether validation accuracy reaches 90 %; on a split
    where it cannot (validation samples whose sums never occur in training) every run is
    'memorisation' or 'confusion' whatever the dynamics. Splits are drawn one after another
    from ``rng`` and kept in order, so the result is deterministic.
    """
    out, draws = [], 0
    while len(out) < n_splits:
        batch = sample_splits(p, n_train, max(n_splits, 16), rng)
        draws += len(batch)
        best = seen_label_fraction(p, batch, modulus)
        good = (best >= min_accuracy - 1e-12) & (best <= max_accuracy + 1e-12) & \
            theory_over_splits(p, batch, modulus)["unique"]
        out.extend(batch[good][: n_splits - len(out)])
        if draws > max_draws and len(out) < n_splits:
            raise InputError("n_train", f"fewer than {n_splits} of {draws} random splits of size "
                             f"{n_train} have a best validation accuracy in "
                             f"[{min_accuracy}, {max_accuracy}]")
    return np.asarray(out, dtype=bool).reshape(n_splits, -1)

# ----------------------------------------------------------------------------- parallelograms
def parallelogram_pairs(p: int, modulus: int | None = None) -> np.ndarray:
    """P0 = P0(D0) as pairs of sample indices ``(s, t)``, ``s < t``, with equal labels.

    Returns an int array (|P0|, 2) of row indices into :func:`full_dataset`. ``P0(D)`` is the
    subset whose both samples lie in ``D`` (see :func:`restrict`).
    """
    samples = full_dataset(p)
    lab = labels(samples, modulus)
    s, t = np.triu_indices(len(samples), k=1)
    keep = lab[s] == lab[t]
    return np.stack([s[keep], t[keep]], axis=1)


def quadruples(p: int, pairs: np.ndarray | None = None, modulus: int | None = None) -> np.ndarray:
    """Parallelograms as index quadruples ``(i, j, m, n)`` (eq. (1)), shape (|P|, 4)."""
    samples = full_dataset(p)
    if pairs is None:
        pairs = parallelogram_pairs(p, modulus)
    pairs = np.asarray(pairs, dtype=int).reshape(-1, 2)
    return np.concatenate([samples[pairs[:, 0]], samples[pairs[:, 1]]], axis=1)


def restrict(pairs: np.ndarray, train_mask: np.ndarray) -> np.ndarray:
    """``P0(D)`` (eq. (1)): the pairs of ``pairs`` whose both samples are in the training mask."""
    train_mask = np.asarray(train_mask, dtype=bool)
    return pairs[train_mask[pairs[:, 0]] & train_mask[pairs[:, 1]]]


def constraint_matrix(quads: np.ndarray, p: int) -> np.ndarray:
    """A(P) (eq. (7)): one row ``e_i + e_j - e_m - e_n`` per parallelogram, shape (|P|, p)."""
    quads = np.asarray(quads, dtype=int).reshape(-1, 4)
    A = np.zeros((len(quads), p))
    rows = np.arange(len(quads))
    for col, sign in zip(range(4), (1.0, 1.0, -1.0, -1.0)):
        np.add.at(A, (rows, quads[:, col]), sign)
    return A


def gram_matrices(p: int, masks: np.ndarray, modulus: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``A(P0(D))^T A(P0(D))`` for a batch of training masks, and ``|P0(D)|``.

    ``masks``: bool (n, |D0|). Returns (n, p, p) Gram matrices and (n,) parallelogram counts;
    one einsum over the rows of ``A(P0)`` weighted by whether both samples are in ``D``.
    """
    masks = np.atleast_2d(np.asarray(masks, dtype=bool))
    pairs = parallelogram_pairs(p, modulus)
    A = constraint_matrix(quadruples(p, pairs), p)
    w = (masks[:, pairs[:, 0]] & masks[:, pairs[:, 1]]).astype(float)
    return np.einsum("nq,qk,ql->nkl", w, A, A), w.sum(axis=1)


def spectrum(gram: np.ndarray) -> np.ndarray:
    """Eigenvalues (ascending) of symmetric PSD matrices (..., p, p), tiny negatives clipped."""
    lam = np.linalg.eigvalsh(gram)
    return np.clip(lam, 0.0, None)


def _zero_threshold(lam: np.ndarray) -> np.ndarray:
    scale = np.maximum(lam[..., -1:], 1.0)
    return ZERO_EIGENVALUE_RTOL * scale * lam.shape[-1]


def nullity_from_spectrum(lam: np.ndarray) -> np.ndarray:
    """Number of zero eigenvalues (relative threshold :data:`ZERO_EIGENVALUE_RTOL`)."""
    return (lam <= _zero_threshold(lam)).sum(axis=-1)


def nullity(quads: np.ndarray, p: int) -> int:
    """n0 = dim null A(P) (Sec. 3.2): the degrees of freedom of the ground states."""
    A = constraint_matrix(quads, p)
    return int(nullity_from_spectrum(spectrum(A.T @ A)))


def trivial_nullity(p: int, modulus: int | None = None) -> int:
    """Nullity of A(P0) for the full dataset: 2 for addition (translation and scaling, Sec. 3.2),
    1 for modular addition (translation only: an additive map Z_p -> R vanishes)."""
    return nullity(quadruples(p, modulus=modulus), p)


def hessian(quads: np.ndarray, p: int, z0: float | None = None) -> np.ndarray:
    """H = (1/Z0) d^2 l0 / dE dE = 2 A^T A / (|P| Z0) (eq. (8)), per embedding dimension.

    ``z0`` defaults to ``p`` (normalised embeddings). With no parallelograms H = 0.
    """
    quads = np.asarray(quads, dtype=int).reshape(-1, 4)
    z0 = float(p if z0 is None else z0)
    if len(quads) == 0:
        return np.zeros((p, p))
    A = constraint_matrix(quads, p)
    return 2.0 * A.T @ A / (len(quads) * z0)


def hessian_eigenvalues(gram: np.ndarray, count: np.ndarray, z0: float) -> np.ndarray:
    """Eigenvalues of ``2 gram / (count z0)`` (0 where count = 0), ascending."""
    lam = spectrum(gram)
    count = np.asarray(count, dtype=float)
    scale = np.where(count > 0, 2.0 / (np.maximum(count, 1.0) * z0), 0.0)
    return lam * scale[..., None]


def grokking_rate(lam: np.ndarray, n_trivial: int = 2) -> np.ndarray:
    """lambda_3 (Sec. 3.2, 'Time towards the linear structure'): the eigenvalue after the
    ``n_trivial`` always-zero ones (``n_trivial = 2`` for addition gives the third smallest),
    set to exactly 0 where it is numerically zero (no unique representation)."""
    lam = np.asarray(lam)
    lam3 = lam[..., n_trivial].copy()
    zero = lam3 <= _zero_threshold(lam)[..., 0]
    return np.where(zero, 0.0, lam3)


def theory_over_splits(p: int, masks: np.ndarray, modulus: int | None = None,
                       z0: float | None = None) -> dict[str, np.ndarray]:
    """Nullity n0, uniqueness and grokking rate of each training mask (Fig. 4a, Fig. 5a).

    Returns ``nullity`` (n,), ``unique`` (n, bool: n0 equals that of the full dataset),
    ``lambda3`` (n,; eq. (8) with ``z0``, default p), ``rates`` (lambda_3 in each of the
    :data:`NORMALISATIONS`, :func:`grokking_rates`) and ``n_parallelograms`` (n,).
    """
    gram, count = gram_matrices(p, masks, modulus)
    n_triv = trivial_nullity(p, modulus)
    lam_gram = spectrum(gram)
    n0 = nullity_from_spectrum(lam_gram)
    lam3 = grokking_rate(hessian_eigenvalues(gram, count, float(p if z0 is None else z0)), n_triv)
    eq5 = lam3 if z0 is None else grokking_rate(hessian_eigenvalues(gram, count, float(p)), n_triv)
    rates = {"eq5": eq5, "sigma2": grokking_rate(lam_gram, n_triv),
             "authors_code": np.full(len(gram), _authors_code_rate(p, modulus))}
    return {"nullity": n0, "unique": n0 == n_triv, "lambda3": lam3, "rates": rates,
            "n_parallelograms": count}


#: The three normalisations of the grokking rate lambda_3 (and of n_h = 1/(lambda_3 eta)) found
#: for Liu et al.'s toy model. They share the null space of A(P0(D)) (so n0 and the critical
#: fraction), but not the rates:
NORMALISATIONS = {
    "eq5": "eqs. (5), (8) as printed: H = 2 A(P0(D))^T A(P0(D)) / (|P0(D)| Z0), Z0 = p (embeddings "
           "normalised by the standard deviation with ddof 0)",
    "sigma2": "the print's lambda_i = sigma_i^2: the squared singular values of A(P0(D)), with neither "
              "1/|P0(D)| nor 1/Z0",
    "authors_code": "the authors' public code (toy/train_add.py of github.com/ejmichaud/grokking-squared): "
                    "l0 summed, not averaged, over all parallelograms P0(D0) of the full dataset and "
                    "Z0 = p - 1 (torch's unbiased standard deviation), H = 2 A(P0)^T A(P0) / (p - 1); the same "
                    "for every split",
}


def grokking_rates(p: int, masks: np.ndarray, modulus: int | None = None) -> dict[str, np.ndarray]:
    """lambda_3 of each training mask in each of the :data:`NORMALISATIONS` (Sec. 3.2).

    With ``s_k^2`` the eigenvalues of ``A(P0(D))^T A(P0(D))`` (ascending; the first ``n_triv``
    always zero) and ``S_k^2`` those of the full dataset's ``A(P0(D0))^T A(P0(D0))``:

    - ``eq5``: ``lambda_3 = 2 s_3^2 / (|P0(D)| p)`` (:func:`theory_over_splits`);
    - ``sigma2``: ``lambda_3 = s_3^2``;
    - ``authors_code``: ``lambda_3 = 2 S_3^2 / (p - 1)``, the rate of the linearised update
      ``dE = -(2/Z0) A^T A E`` of the authors' effective-theory loop.

    ``eq5`` and ``sigma2`` are 0 where the split implies no unique representation; ``authors_code``
    never is (it ignores the split). Returns arrays of shape (n,).
    """
    return theory_over_splits(p, masks, modulus)["rates"]


@functools.lru_cache(maxsize=None)
def _authors_code_rate(p: int, modulus: int | None = None) -> float:
    """2 S_3^2 / (p - 1) of the full dataset (:func:`grokking_rates`, ``authors_code``)."""
    A = constraint_matrix(quadruples(p, modulus=modulus), p)
    return float(2.0 * spectrum(A.T @ A)[trivial_nullity(p, modulus)] / (p - 1))


def steps_to_grok(lam: np.ndarray, eta: float) -> np.ndarray:
    """n_h = 1/(lambda_3 eta) (Sec. 3.2), the predicted number of steps at step size ``eta``;
    +inf where lambda_3 = 0 (no unique representation)."""
    lam = np.asarray(lam, dtype=float)
    return np.where(lam > 0, 1.0 / np.where(lam > 0, lam, 1.0) / eta, np.inf)


def crossing(x: np.ndarray, y: np.ndarray, level: float = 0.5) -> float:
    """First ``x`` where ``y`` (increasing on average) crosses ``level``, by linear interpolation;
    NaN if it never does."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    above = np.nonzero(y >= level)[0]
    if len(above) == 0:
        return float("nan")
    k = above[0]
    if k == 0:
        return float(x[0])
    x0, x1, y0, y1 = x[k - 1], x[k], y[k - 1], y[k]
    return float(x0 + (level - y0) * (x1 - x0) / (y1 - y0))


# ----------------------------------------------------------------------------- representations
def as_vectors(R: np.ndarray) -> np.ndarray:
    """Embeddings (..., p) -> (..., p, 1); (..., p, d) unchanged."""
    R = np.asarray(R, dtype=float)
    return R if R.ndim >= 2 else R[..., None]


def normalise(R: np.ndarray) -> np.ndarray:
    """E~_k = (E_k - mu) / sigma (Sec. 3.2) for embeddings (..., p, d).

    sigma is the standard deviation, sigma^2 = (1/p) sum_k |E_k - mu|^2 (the paper prints the
    variance as the normaliser; see the module notes), so (1/p) sum_k |E~_k|^2 = 1, Z0 = p.
    """
    R = np.asarray(R, dtype=float)
    centred = R - R.mean(axis=-2, keepdims=True)
    var = (centred ** 2).sum(axis=-1, keepdims=True).mean(axis=-2, keepdims=True)
    return centred / np.sqrt(np.where(var > 0, var, 1.0))


def parallelogram_residuals(R: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """|E_i + E_j - E_m - E_n| for each parallelogram; ``R`` is (..., p, d)."""
    q = np.asarray(quads, dtype=int).reshape(-1, 4)
    diff = R[..., q[:, 0], :] + R[..., q[:, 1], :] - R[..., q[:, 2], :] - R[..., q[:, 3], :]
    return np.sqrt((diff ** 2).sum(axis=-1))


def rqi(R: np.ndarray, delta: float = 0.05, p_quads: np.ndarray | None = None,
        modulus: int | None = None, normalised: bool = True) -> np.ndarray:
    """Representation quality index RQI(R) = |P(R, delta)| / |P0| (eqs. (2)-(3)).

    ``R``: embeddings (..., p, d). With ``normalised`` (default) the threshold ``delta`` applies
    to the normalised embeddings (zero mean, unit standard deviation), so RQI is invariant under
    translations and rescalings of ``R``; the paper leaves the scale of ``delta`` open.
    """
    R = np.asarray(R, dtype=float)
    p = R.shape[-2]
    if p_quads is None:
        p_quads = quadruples(p, modulus=modulus)
    if normalised:
        R = normalise(R)
    res = parallelogram_residuals(R, p_quads)
    return (res <= delta).mean(axis=-1)


def predicted_accuracy(R: np.ndarray, train_mask: np.ndarray, delta: float = 0.05,
                       modulus: int | None = None, normalised: bool = True) -> np.ndarray:
    """Accuracy on D0 predicted from a representation (Sec. 3.1; Appendix D is not in the text).

    Definition used here: a decoder with zero training loss answers every training sample
    correctly; a validation sample (i, j) is answered correctly when some training sample lies
    within ``delta`` of it in the space of sums, ``|E_i + E_j - (E_m + E_n)| <= delta``, and
    every training sample within ``delta`` has its label (then ``Dec(E_i + E_j)`` equals the
    right target). ``R``: (..., p, d); ``train_mask``: (..., |D0|). Returns (...,).
    """
    R = np.asarray(R, dtype=float)
    p = R.shape[-2]
    if normalised:
        R = normalise(R)
    samples = full_dataset(p)
    lab = labels(samples, modulus)
    x = R[..., samples[:, 0], :] + R[..., samples[:, 1], :]          # (..., n0, d)
    dist = np.sqrt(((x[..., :, None, :] - x[..., None, :, :]) ** 2).sum(axis=-1))
    train = np.broadcast_to(np.asarray(train_mask, dtype=bool), x.shape[:-1])
    near = (dist <= delta) & train[..., None, :]                      # near[s, t]: t in D, close to s
    same = lab[:, None] == lab[None, :]
    has_near = near.any(axis=-1)
    all_same = ~(near & ~same).any(axis=-1)
    correct = train | (has_near & all_same)
    return correct.mean(axis=-1)


def linear_representation(p: int, a: np.ndarray | float = 0.0, b: np.ndarray | float = 1.0) -> np.ndarray:
    """E_k = a + k b (Sec. 3.1), shape (p, d)."""
    a = np.atleast_1d(np.asarray(a, float))
    b = np.atleast_1d(np.asarray(b, float))
    return a[None, :] + np.arange(p)[:, None] * b[None, :]
