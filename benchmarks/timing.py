"""Timing helper shared by the benchmark scripts (imported from the scripts' own folder)."""

import time


def best_time(fn, repeats: int, warmup: bool = True) -> float:
    """Smallest wall time of ``repeats`` calls of ``fn`` (after one warm-up call if ``warmup``)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
