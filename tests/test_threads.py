"""Thread pools follow the cores available to the process; idle OpenMP threads sleep."""

import os

from grokking_workbench.numerics import threads


def test_pools_follow_the_available_cores(monkeypatch):
    import torch

    for name in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    old = torch.get_num_threads()
    try:
        assert threads.configure() == 1
        assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
        assert os.environ["OMP_NUM_THREADS"] == os.environ["OPENBLAS_NUM_THREADS"] == "1"
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(old)


def test_settings_in_the_environment_are_kept(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    threads.configure()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE" and os.environ["OMP_NUM_THREADS"] == "3"
    assert 1 <= threads.available_cores() <= (os.cpu_count() or 1)
