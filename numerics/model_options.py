"""The committee machine's parameters as command-line options, declared once.

``grokking ode``, ``grokking simulate`` and ``grokking dmft`` share the model's parameters: hidden
units ``N``, output scale ``alpha``, NTK alignment ``eps`` and the initial overlaps ``A0``, ``C0``
(docs/conventions.md). Their configuration dataclasses declare these fields with the options
below (:mod:`numerics.options`); :func:`swept` is the variant that also takes a comma-separated
list (a batched sweep of the simulator). The readers of the command line's text are here too.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from grokking_workbench.numerics import validate
from grokking_workbench.numerics.options import Option
from grokking_workbench.numerics.validate import InputError


# ----------------------------------------------------------------------------- reading text
def parse_vector(name: str, text, N: int | None = None) -> np.ndarray:
    """Comma-separated numbers (or a sequence) as a finite float array; InputError names ``name``."""
    if isinstance(text, str):
        try:
            values = [float(v) for v in text.replace(" ", "").split(",") if v != ""]
        except ValueError:
            raise InputError(name, f"expected comma-separated numbers, got {text!r}") from None
    else:
        values = text
    arr = validate.finite_array(name, values)
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(name, f"expected a list of numbers, got {text!r}")
    if N is not None and arr.size != N:
        raise InputError(name, f"needs one value per hidden unit (N = {N}), got {arr.size}")
    return arr


def _rows(name: str, text) -> np.ndarray | None:
    """Rows ';'-separated with entries ','-separated (or a nested sequence) as a finite array;
    None for ``identity``."""
    if isinstance(text, str):
        if text.strip().lower() in ("identity", "eye", "i"):
            return None
        try:
            rows = [[float(v) for v in row.split(",")] for row in text.replace(" ", "").split(";")]
        except ValueError:
            raise InputError(name, "expected 'identity' or rows ';'-separated with entries "
                             f"','-separated, got {text!r}") from None
        if len({len(r) for r in rows}) != 1:
            raise InputError(name, f"rows of different lengths in {text!r}")
    else:
        rows = text
    return validate.finite_array(name, rows)


def parse_matrix(name: str, text, N: int) -> np.ndarray:
    """``identity`` or rows separated by ';' with entries separated by ',' (or a nested sequence)."""
    arr = _rows(name, text)
    if arr is None:
        return np.eye(N)
    if arr.shape != (N, N):
        raise InputError(name, f"must be an N x N matrix with N = {N}, got shape {arr.shape}")
    return arr


def alignments(name: str, text) -> tuple[float, ...]:
    """Comma-separated numbers as a tuple of floats (one per hidden unit; the count is checked
    against N with the overlaps)."""
    return tuple(parse_vector(name, text).tolist())


def overlap_matrix(name: str, text) -> tuple[tuple[float, ...], ...] | None:
    """``identity`` (None: the identity of the configuration's N) or the rows of a matrix."""
    arr = _rows(name, text)
    return None if arr is None else tuple(tuple(row) for row in arr.tolist())


def identity_written_out(cfg):
    """``cfg`` with ``C0`` None (the identity) written out as the N x N identity, as the commands
    store it when ``--C0`` is ``identity``."""
    if cfg.C0 is not None:
        return cfg
    return dataclasses.replace(cfg, C0=tuple(tuple(row) for row in np.eye(cfg.N).tolist()))


def sweep_values(name: str, text):
    """A number, or a comma-separated list of numbers (a sweep) as a tuple."""
    if isinstance(text, str):
        values = parse_vector(name, text)
        return float(values[0]) if values.size == 1 and "," not in text else tuple(values.tolist())
    return text


def numbers(each=None):
    """The check of a number or list of numbers: all finite, and each passing ``each``."""
    def checked(name: str, value):
        values = np.atleast_1d(validate.finite_array(name, value))
        if values.ndim != 1 or values.size == 0:
            raise InputError(name, "expected a number or a list of numbers")
        if each is not None:
            for v in values:
                each(name, v)
        return value
    return checked


# ----------------------------------------------------------------------------- the options
N = Option("hidden units", type=int, required=True, check=validate.positive_int)
ALPHA = Option("output scale (laziness)", type=float, required=True, check=validate.positive)
EPS = Option("quadratic part of phi (NTK alignment)", type=float, required=True, check=validate.finite)
A0 = Option("initial alignments A_i = w_i.beta/D, comma-separated", required=True, parse=alignments)
C0 = Option("initial overlaps C_ij = w_i.w_j/D: 'identity' or rows ';'-separated, entries "
            "','-separated (e.g. '1,0.1;0.1,1')", default="identity", parse=overlap_matrix)


def swept(option: Option, note: str, each=None) -> Option:
    """``option`` taking a number or a comma-separated list of numbers (a sweep); ``note`` is
    added to its help and ``each`` checks every value."""
    return dataclasses.replace(option, help=f"{option.help}; {note}", type=None, parse=sweep_values,
                               check=numbers(each))
