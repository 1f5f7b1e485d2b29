"""torch runtime helpers shared by the simulators and the networks: the device check, the number
of CPU threads, and the row chunk that keeps the streamed data in cache."""

from __future__ import annotations

from contextlib import contextmanager

from grokking_workbench.numerics.validate import InputError


def check_device(device: str) -> str:
    """``device`` if torch can use it, else InputError (e.g. ``cuda`` on a machine without a GPU)."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError("device", f"unknown torch device {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device", "cuda was asked for but torch sees no CUDA device")
    if dev.type not in ("cpu", "cuda"):
        raise InputError("device", f"supported devices are cpu and cuda, got {device!r}")
    return device


@contextmanager
def torch_threads(n: int | None):
    """Run the block with ``n`` torch CPU threads (None: leave the setting alone).

    On a loaded machine, one thread per process avoids OpenMP threads waiting on each other.
    """
    import torch

    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def default_chunk(D: int, P: int, rows: int = 1) -> int:
    """Rows of data per chunk: about 1 MiB of float64 of data, which stays in a core's L2 cache,
    and of each (rows x chunk) temporary for ``rows`` stacked hidden units (seeds x points x N;
    larger temporaries are handed back to the system and faulted in again at every step)."""
    return int(min(P, max(32, min((1 << 20) // (8 * D), (1 << 17) // max(rows, 1)))))
