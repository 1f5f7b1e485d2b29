"""Offline datasets for the network experiments. Nothing is downloaded.

Every builder returns a :class:`Split` (train and test inputs and targets as torch tensors) and is
deterministic in its seed:

- :func:`modular_addition`: all p^2 pairs (a, b) -> (a + b) mod p, a fraction for training;
  inputs either token ids (a, b) or the concatenated one-hot vectors (D = 2p);
- :func:`permutation_group`: the 36 products g h of S_3 (Liu et al. 2022, App. H), as token ids;
- :func:`teacher_student`: Gaussian inputs labelled by a random tanh MLP teacher;
- :func:`digits`: the 8 x 8 digit images that ship with scikit-learn (1,797 images), or MNIST
  from the standard IDX files in a folder (``data_dir``), read by :func:`read_idx`.
"""

from __future__ import annotations

import gzip
import itertools
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grokking_workbench.numerics.validate import InputError


@dataclass
class Split:
    """Train and test sets. ``x`` are float inputs or integer token ids; ``y`` class indices
    (classification) or float targets (regression); ``classes`` the number of classes (0 for
    regression)."""

    x_train: object
    y_train: object
    x_test: object
    y_test: object
    classes: int = 0
    name: str = ""

    @property
    def sizes(self) -> tuple[int, int]:
        return int(self.x_train.shape[0]), int(self.x_test.shape[0])


def _rng(seed: int, stream: str) -> np.random.Generator:
    """An independent numpy generator for (seed, stream)."""
    return np.random.default_rng([int(seed), int.from_bytes(stream.encode()[:8].ljust(8, b"\0"), "little")])


def split_indices(n: int, n_train: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A random split of range(n): n_train training indices and the rest (both sorted)."""
    if not 1 <= n_train < n:
        raise InputError("train_fraction", f"the training set must have between 1 and {n - 1} "
                         f"of the {n} examples, got {n_train}")
    perm = _rng(seed, "split").permutation(n)
    return np.sort(perm[:n_train]), np.sort(perm[n_train:])


def n_train_of(n: int, fraction: float) -> int:
    """round(fraction n), checked to leave both sets non-empty."""
    if not 0 < fraction < 1:
        raise InputError("train_fraction", f"must be in (0, 1), got {fraction}")
    return int(round(fraction * n))


def modular_addition(p: int, train_fraction: float, seed: int = 0, *, one_hot: bool = False,
                     dtype=None) -> Split:
    """(a, b) -> (a + b) mod p over all p^2 ordered pairs; ``train_fraction`` of them for training.

    Inputs: token ids (a, b) of shape (n, 2), or with ``one_hot`` the concatenation of the one-hot
    vectors of a and b, shape (n, 2p) (Kumar et al. 2024 App. 8.3). Targets: class ids."""
    import torch

    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    a, b = a.ravel(), b.ravel()
    c = (a + b) % p
    tr, te = split_indices(p * p, n_train_of(p * p, train_fraction), seed)
    ids = torch.as_tensor(np.stack([a, b], 1))
    if one_hot:
        eye = torch.eye(p, dtype=dtype or torch.float32)
        x = torch.cat([eye[ids[:, 0]], eye[ids[:, 1]]], dim=1)
    else:
        x = ids
    y = torch.as_tensor(c)
    return Split(x[tr], y[tr], x[te], y[te], classes=p, name=f"addition mod {p}")


def s3_elements() -> list[tuple[int, ...]]:
    """The six permutations of (0, 1, 2) in lexicographic order."""
    return list(itertools.permutations(range(3)))


def s3_product(g: tuple[int, ...], h: tuple[int, ...]) -> tuple[int, ...]:
    """The composition (g h)(i) = g(h(i))."""
    return tuple(g[h[i]] for i in range(3))


def permutation_group(n_train: int = 24, seed: int = 0) -> Split:
    """The 36 products g h of S_3 as classification (Liu et al. 2022, Sec. 4.1: 24 for training,
    12 for validation): inputs the element ids (g, h), targets the id of g h."""
    import torch

    els = s3_elements()
    index = {g: i for i, g in enumerate(els)}
    pairs = [(i, j) for i in range(6) for j in range(6)]
    x = torch.as_tensor(pairs)
    y = torch.as_tensor([index[s3_product(els[i], els[j])] for i, j in pairs])
    tr, te = split_indices(36, n_train, seed)
    return Split(x[tr], y[tr], x[te], y[te], classes=6, name="S_3 products")


def teacher_student(n_train: int, n_test: int, seed: int = 0, *, widths=(5, 100, 100, 5),
                    dtype=None) -> Split:
    """Standard Gaussian inputs labelled by a tanh MLP teacher of the given widths (Liu et al.
    2022a, Kumar et al. 2024 App. 8.3.1); the teacher has LeCun-normal weights and zero biases
    (:class:`numerics.networks.models.MLP`), seeded by ``seed``."""
    import torch

    from grokking_workbench.numerics.networks.models import MLP

    dtype = dtype or torch.float32
    g = torch.Generator().manual_seed(int(_rng(seed, "teacher").integers(2 ** 62)))
    teacher = MLP(widths, activation="tanh", bias=True, generator=g).to(dtype)
    x = torch.randn(n_train + n_test, widths[0], generator=g, dtype=dtype)
    with torch.no_grad():
        y = teacher(x)
    return Split(x[:n_train], y[:n_train], x[n_train:], y[n_train:], classes=0,
                 name="tanh teacher")


# ---------------------------------------------------------------------------------------- images

_IDX_TYPES = {0x08: (">u1", 1), 0x09: (">i1", 1), 0x0B: (">i2", 2), 0x0C: (">i4", 4),
              0x0D: (">f4", 4), 0x0E: (">f8", 8)}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """An array from an IDX file (the MNIST format; ``.gz`` files are decompressed)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise InputError("data_dir", f"{path} is not an IDX file (bad magic number)")
    kind, ndim = raw[2], raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    fmt, size = _IDX_TYPES[kind]
    n = int(np.prod(dims)) if dims else 1
    body = raw[4 + 4 * ndim:]
    if len(body) != n * size:
        raise InputError("data_dir", f"{path}: header says {n} items of {size} bytes, "
                         f"file has {len(body)} bytes")
    return np.frombuffer(body, dtype=fmt).reshape(dims).astype(np.dtype(fmt).newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (inverse of :func:`read_idx`; for tests and small data)."""
    array = np.asarray(array)
    codes = {np.dtype(fmt).newbyteorder("="): code for code, (fmt, _) in _IDX_TYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX has no type for {array.dtype}")
    path = Path(path)
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(_IDX_TYPES[code][0]).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as fh:
        fh.write(data)
    return path


MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).exists():
            return folder / name
    raise InputError("data_dir", f"{folder} has no {stem}[.gz] (the standard MNIST IDX files)")


def check_mnist_dir(data_dir: str | os.PathLike, param: str = "data_dir") -> Path:
    """The folder, if it holds the four standard MNIST IDX files (checked by name and by each
    file's IDX header, without reading the data); InputError naming ``param`` otherwise."""
    folder = Path(data_dir)
    if not folder.is_dir():
        raise InputError(param, f"{folder} is not a folder")
    for img, lab in MNIST_FILES.values():
        for stem in (img, lab):
            try:
                path = _find(folder, stem)
            except InputError as exc:
                raise InputError(param, exc.detail) from None
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rb") as f:
                magic = f.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_TYPES:
                raise InputError(param, f"{path} is not an IDX file (bad magic number)")
    return folder


def read_mnist(data_dir: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{'train': (images, labels), 'test': (images, labels)} from the MNIST IDX files in a folder;
    images (n, 28, 28) uint8, labels (n,)."""
    folder = Path(data_dir)
    if not folder.is_dir():
        raise InputError("data_dir", f"{folder} is not a folder")
    out = {}
    for part, (img, lab) in MNIST_FILES.items():
        images, labels = read_idx(_find(folder, img)), read_idx(_find(folder, lab))
        if images.shape[0] != labels.shape[0]:
            raise InputError("data_dir", f"{part}: {images.shape[0]} images but {labels.shape[0]} labels")
        out[part] = (images, labels)
    return out


def digits(n_train: int, seed: int = 0, *, data_dir: str | None = None, n_test: int | None = None,
           dtype=None) -> Split:
    """Digit images, flattened and scaled to [0, 1], with class labels 0-9.

    Without ``data_dir``: the 1,797 8 x 8 images of ``sklearn.datasets.load_digits`` (shipped with
    scikit-learn), a random ``n_train`` for training and the rest (or ``n_test`` of them) for test.
    With ``data_dir``: MNIST from its IDX files; ``n_train`` random training images (of 60,000) and
    ``n_test`` random test images (of 10,000; all if None)."""
    import torch

    dtype = dtype or torch.float32
    if data_dir is None:
        from sklearn.datasets import load_digits

        d = load_digits()
        x = d.images.reshape(len(d.images), -1) / 16.0
        y = d.target
        tr, te = split_indices(len(y), n_train, seed)
        if n_test is not None:
            te = te[:n_test]
        name = "8x8 digits (scikit-learn)"
        xtr, ytr, xte, yte = x[tr], y[tr], x[te], y[te]
    else:
        m = read_mnist(data_dir)
        (xi, yi), (xt, yt) = m["train"], m["test"]
        rng = _rng(seed, "mnist")
        if not 1 <= n_train <= len(yi):
            raise InputError("n_train", f"must be between 1 and {len(yi)}, got {n_train}")
        tr = np.sort(rng.permutation(len(yi))[:n_train])
        te = np.sort(rng.permutation(len(yt))[:n_test]) if n_test else np.arange(len(yt))
        xtr, ytr = xi[tr].reshape(len(tr), -1) / 255.0, yi[tr]
        xte, yte = xt[te].reshape(len(te), -1) / 255.0, yt[te]
        name = f"MNIST ({data_dir})"
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype)              # noqa: E731
    l = lambda a: torch.as_tensor(np.asarray(a, dtype=np.int64))            # noqa: E731, E741
    return Split(t(xtr), l(ytr), t(xte), l(yte), classes=10, name=name)
