"""Ctrl-C and SIGTERM on real subprocesses: what was computed is saved, marked ``interrupted``, and
the command exits 130; ``--resume`` continues the DMFT iteration and the simulator to the result of
an uninterrupted run; execution settings may change between the runs.

Each subprocess runs the ``grokking`` command with its inner step slowed by a short sleep (so the
signal arrives mid-run whatever the machine's speed) and prints a marker when the loop has begun.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from grokking_workbench.experiments import cli
from grokking_workbench.numerics import io

# slow down one function of a module, print READY at its first call, then run the command
SLOW = textwrap.dedent("""
    import sys, time, importlib
    module, name, delay, ready_after = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    mod = importlib.import_module(module)
    inner, calls = getattr(mod, name), [0]
    def slow(*a, **k):
        calls[0] += 1
        if calls[0] == ready_after:
            print("READY", flush=True)
        time.sleep(delay)
        return inner(*a, **k)
    setattr(mod, name, slow)
    from grokking_workbench.experiments.cli import main
    sys.exit(main(sys.argv[5:]))
""")


def interrupted(module: str, name: str, argv: list[str], *, delay: float = 0.02, ready_after: int = 3,
                sig: int = signal.SIGINT, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``grokking ARGV`` with ``module.name`` slowed; send ``sig`` once it has been called
    ``ready_after`` times; return the finished process."""
    proc = subprocess.Popen([sys.executable, "-c", SLOW, module, name, str(delay), str(ready_after), *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    line = proc.stdout.readline()
    assert line.strip() == "READY", (line, proc.stderr.read() if proc.poll() is not None else "")
    assert time.monotonic() < deadline
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


SIM = ["simulate", "--N", "2", "--D", "30", "--gamma", "2", "--alpha", "0.5,1", "--eps", "0.05",
       "--A0", "0.04,-0.02", "--seeds", "2", "--t-max", "20", "--dt", "0.1", "--records", "20",
       "--held-out", "50", "--fresh-data"]


def test_simulate_sigint_saves_state_and_resume_equals_uninterrupted(tmp_path, capsys):
    out, ref = tmp_path / "sim.nc", tmp_path / "ref.nc"
    proc = interrupted("grokking_workbench.numerics.simulate.committee", "velocity",
                       SIM + ["--out", str(out)], ready_after=40)
    assert proc.returncode == io.EXIT_INTERRUPTED, proc.stderr
    assert proc.stderr == ""
    assert len(proc.stdout.strip().splitlines()) == 1 and "interrupted" in proc.stdout   # one line
    saved = io.read_dataset(out)
    assert saved.attrs["status"].startswith("interrupted at t = ")
    assert 0 < saved.attrs["resume_step"] < 200
    assert "resume_weights" in saved and "resume_rng_state" in saved
    assert saved.sizes["t"] < 20
    # resume with other execution settings (records, threads, chunk): no refusal, same result
    assert cli.main(SIM + ["--out", str(out), "--resume", "--threads", "1", "--chunk", "7"]) == 0
    assert cli.main(SIM + ["--out", str(ref)]) == 0
    a, b = io.read_dataset(out), io.read_dataset(ref)
    assert a.attrs["status"] == "complete" and "resume_weights" not in a
    np.testing.assert_array_equal(a.t, b.t)
    for name in ("train_loss", "held_out_loss", "A", "C"):
        np.testing.assert_allclose(a[name], b[name], rtol=1e-10, atol=1e-13, err_msg=name)
    assert len(a.attrs["history"].splitlines()) == 2 and "--resume" in a.attrs["history"]
    capsys.readouterr()
    assert cli.main(SIM + ["--out", str(out), "--resume"]) == 0           # complete: nothing to do
    assert "nothing to resume" in capsys.readouterr().out
    np.testing.assert_array_equal(io.read_dataset(out).A, a.A)


DMFT = ["dmft", "--N", "2", "--gamma", "8", "--alpha", "0.5", "--eps", "0.05", "--A0", "0.04,-0.02",
        "--t-max", "4", "--dt", "0.5", "--uniform", "--samples", "200", "--replicas", "1",
        "--no-error-estimate", "--method", "iterate", "--tol", "1e-9"]


def test_dmft_iterate_sigint_and_exact_resume(tmp_path, capsys):
    out, ref = tmp_path / "it.nc", tmp_path / "ref.nc"
    total = 5
    proc = interrupted("grokking_workbench.numerics.dmft.sweep", "sweep",
                       DMFT + ["--max-iter", "50", "--out", str(out)], delay=0.3, ready_after=2)
    assert proc.returncode == io.EXIT_INTERRUPTED, proc.stderr
    assert "Traceback" not in proc.stderr and "interrupted" in proc.stdout
    saved = io.read_dataset(out)
    assert saved.attrs["status"].startswith("interrupted")
    assert "iterate_Cg" in saved
    done = saved.sizes["iteration"]
    assert done < total
    # the remaining iterations (--max-iter is an execution setting: no refusal)
    assert cli.main(DMFT + ["--max-iter", str(total - done), "--out", str(out), "--resume"]) == 3
    assert cli.main(DMFT + ["--max-iter", str(total), "--out", str(ref)]) == 3
    a, b = io.read_dataset(out), io.read_dataset(ref)
    assert a.sizes["iteration"] == b.sizes["iteration"] == total
    for name in ("residual", "A", "train_loss", "test_loss", "Cg", "Rh", "iterate_Cg"):
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert len(a.attrs["history"].splitlines()) == 2


def test_dmft_resume_of_complete_run_does_nothing(tmp_path, capsys):
    out = tmp_path / "c.nc"
    argv = DMFT[:-2] + ["--tol", "1e3", "--out", str(out)]
    assert cli.main(argv) == 0
    before = out.read_bytes()
    capsys.readouterr()
    assert cli.main(argv + ["--resume", "--max-iter", "1"]) == 0
    assert "nothing to resume" in capsys.readouterr().out
    assert out.read_bytes() == before


def test_dmft_march_sigterm_saves_partial_average(tmp_path):
    out = tmp_path / "m.nc"
    argv = ["dmft", "--N", "2", "--gamma", "8", "--alpha", "0.5", "--eps", "0.05", "--A0", "0.04,-0.02",
            "--t-max", "20", "--dt", "0.1", "--uniform", "--samples", "64", "--replicas", "2",
            "--no-error-estimate", "--out", str(out)]
    proc = interrupted("grokking_workbench.numerics.dmft.sweep", "total_rate", argv, delay=0.01,
                       ready_after=20, sig=signal.SIGTERM)
    assert proc.returncode == io.EXIT_INTERRUPTED, proc.stderr
    ds = io.read_dataset(out)
    assert ds.attrs["status"].startswith("interrupted at t = ")
    assert 1 < ds.sizes["t"] < 201
    assert np.isfinite(ds.A.values).all() and np.isfinite(ds.train_loss.values).all()


def test_ode_sigint_saves_records(tmp_path):
    out = tmp_path / "o.nc"
    argv = ["ode", "--N", "2", "--alpha", "0.5", "--eps", "0.05", "--A0", "0.04,-0.02",
            "--t-max", "400", "--records", "50", "--out", str(out)]
    proc = interrupted("grokking_workbench.numerics.ode", "rhs", argv, delay=0.01, ready_after=30)
    assert proc.returncode == io.EXIT_INTERRUPTED, proc.stderr
    ds = io.read_dataset(out)
    assert ds.attrs["status"].startswith("interrupted at t = ")
    assert 0 < ds.sizes["t"] < 50


SLOW_EXPERIMENT = textwrap.dedent("""
    import sys, time
    from dataclasses import dataclass
    import numpy as np, xarray as xr
    from grokking_workbench.experiments import registry

    @dataclass(frozen=True)
    class Cfg:
        steps: int = 1000

    def run(config, checkpoint):
        values = []
        for k in range(config.steps):
            values.append(float(k))
            ds = xr.Dataset({"x": ("k", np.array(values), {"long_name": "x", "units": "1"})})
            checkpoint(ds, f"partial: {k + 1} of {config.steps}")
            if k == 2:
                print("READY", flush=True)
            time.sleep(0.05)
        return ds

    registry.experiments()
    registry.register(name="slow-demo", summary="s", claim="c", quick=Cfg(), full=Cfg(), run=run,
                      plot=lambda ds: None)
    from grokking_workbench.experiments.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_run_sigint_keeps_checkpoint(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", SLOW_EXPERIMENT, "run", "slow-demo", "--quick",
                             "--out-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "READY"
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == io.EXIT_INTERRUPTED, err
    assert "Traceback" not in err
    ds = io.read_dataset(tmp_path / "quick.nc")
    assert ds.attrs["status"].startswith("interrupted after")
    assert "partial:" in ds.attrs["status"] and ds.sizes["k"] >= 3


def test_run_all_stops_at_an_interrupt_and_writes_the_index(tmp_path, monkeypatch):
    from grokking_workbench.experiments import registry, runner

    calls = []

    def fake_run_one(name, label, out_dir, **kw):
        calls.append(name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return runner.Outcome(name, label, "complete", 0.1)

    monkeypatch.setattr(runner, "run_one", fake_run_one)
    lines = []
    outcomes, index = runner.run_all("quick", tmp_path, report=lines.append)
    assert len(calls) == 2 < len(registry.experiments())
    assert outcomes[-1].status == "interrupted"
    assert index.exists() and "interrupted" in index.read_text()
    assert lines[0].startswith("[1/") and "complete" in lines[1] and lines[2].startswith("[2/")
