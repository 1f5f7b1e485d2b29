"""Bad input to ``grokking ode`` and ``grokking simulate``: exit code 2, a message naming the
parameter, and no file written. A diverging simulation saves its records and exits 3."""

from __future__ import annotations

import pytest

from grokking_workbench.experiments import cli
from grokking_workbench.numerics import io

ODE = ["ode", "--N", "2", "--alpha", "0.5", "--eps", "0.05", "--A0", "0.04,-0.02",
       "--C0", "identity", "--t-max", "10", "--records", "10"]
SIM = ["simulate", "--N", "2", "--D", "20", "--gamma", "2", "--alpha", "0.5", "--eps", "0.05",
       "--A0", "0.04,-0.02", "--C0", "identity", "--seeds", "2", "--t-max", "1", "--dt", "0.1",
       "--records", "5"]


def _with(base, **changes):
    """``base`` with option values replaced (``t_max`` -> ``--t-max``)."""
    args = list(base)
    for key, value in changes.items():
        flag = "--" + key.replace("_", "-")
        args[args.index(flag) + 1] = value
    return args


def _flag(param: str) -> str:
    """The option as every subcommand's error message names it: ``t_max`` -> ``--t-max``."""
    return "/".join("--" + part.replace("_", "-") for part in param.split("/"))


def _run(argv, tmp_path):
    out = tmp_path / "out.nc"
    return cli.main(argv + ["--out", str(out)]), out


BAD_ODE = [
    ("N", dict(N="0")),
    ("N", dict(N="-3")),
    ("alpha", dict(alpha="nan")),
    ("alpha", dict(alpha="-1")),
    ("eps", dict(eps="nan")),
    ("t_max", dict(t_max="0")),
    ("t_max", dict(t_max="-5")),
    ("t_max", dict(t_max="nan")),
    ("A0", dict(A0="0.1")),
    ("A0", dict(A0="0.1,0.2,0.3")),
    ("A0", dict(A0="nan,0.1")),
    ("A0", dict(A0="0.1,abc")),
    ("C0/A0", dict(A0="1.5,0")),                       # |A_1| > sqrt(C_11): not PSD
    ("C0/A0", dict(C0="1,2;2,1")),                     # C0 itself indefinite
    ("C0", dict(C0="1,0.5;0,1")),                      # not symmetric
    ("C0", dict(C0="1,0,0;0,1,0;0,0,1")),              # wrong shape
    ("C0", dict(C0="1,nan;nan,1")),
]

BAD_SIM = BAD_ODE + [
    ("D", dict(D="0")),
    ("D", dict(D="-10")),
    ("D", dict(D="2")),                                # prescribed overlaps need D >= N + 1
    ("gamma", dict(gamma="0")),
    ("gamma", dict(gamma="-2")),
    ("gamma", dict(gamma="nan")),
    ("dt", dict(dt="0")),
    ("dt", dict(dt="-0.1")),
    ("dt", dict(dt="nan")),
    ("t_max", dict(t_max="0.01")),                      # shorter than one step
    ("seeds", dict(seeds="0")),
    ("records", dict(records="0")),
    ("alpha", dict(alpha="0.5,nan")),
]


@pytest.mark.parametrize("param, change", BAD_ODE)
def test_bad_ode_input_exits_2_naming_parameter(param, change, tmp_path, capsys):
    rc, out = _run(_with(ODE, **change), tmp_path)
    err = capsys.readouterr().err
    assert rc == cli.EXIT_BAD_INPUT
    assert f"{_flag(param)}:" in err, err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("param, change", BAD_SIM)
def test_bad_simulate_input_exits_2_naming_parameter(param, change, tmp_path, capsys):
    rc, out = _run(_with(SIM, **change), tmp_path)
    err = capsys.readouterr().err
    assert rc == cli.EXIT_BAD_INPUT
    assert f"{_flag(param)}:" in err, err
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("extra, param", [
    (["--P", "40"], "gamma"),                          # both gamma and P
    (["--held-out", "-1"], "held_out"),
    (["--sigma", "0"], "sigma"),
    (["--device", "cuda:0"], "device"),
])
def test_bad_simulate_options(extra, param, tmp_path, capsys):
    import torch

    if param == "device" and torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    rc, out = _run(SIM + extra, tmp_path)
    assert rc == cli.EXIT_BAD_INPUT
    assert f"{_flag(param)}:" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_non_integer_dimension_is_refused_by_the_parser(tmp_path):
    with pytest.raises(SystemExit) as info:
        _run(_with(SIM, D="3.5"), tmp_path)
    assert info.value.code == 2
    assert list(tmp_path.iterdir()) == []


def test_good_simulate_writes_dataset(tmp_path):
    rc, out = _run(SIM, tmp_path)
    assert rc == 0
    ds = io.read_dataset(out)
    assert ds.attrs["status"] == "complete"
    assert ds.train_loss.dims == ("seed", "t") and ds.test_loss.dims == ("seed", "t")
    assert ds.A.dims == ("seed", "t", "i") and ds.C.dims == ("seed", "t", "i", "j")
    io.check_schema(ds)


def test_sweep_from_command_line(tmp_path):
    rc, out = _run(_with(SIM, alpha="0.5,1,2"), tmp_path)
    assert rc == 0
    ds = io.read_dataset(out)
    assert ds.test_loss.dims == ("alpha", "seed", "t")
    assert list(ds.alpha.values) == [0.5, 1.0, 2.0]


def test_divergence_saves_records_and_exits_3(tmp_path, capsys):
    argv = _with(SIM, alpha="4", eps="1", A0="0.5,0.5", t_max="60", dt="2", records="30")
    rc, out = _run(argv, tmp_path)
    assert rc == cli.EXIT_DIVERGED
    ds = io.read_dataset(out)
    assert ds.attrs["status"].startswith("diverged")
    assert "at t =" in ds.attrs["status"]
    assert 0 < ds.sizes["t"] < 30


def test_other_configuration_is_not_overwritten(tmp_path, capsys):
    rc, out = _run(ODE, tmp_path)
    assert rc == 0
    before = out.read_bytes()
    rc, _ = _run(_with(ODE, alpha="0.7"), tmp_path)
    assert rc == cli.EXIT_BAD_INPUT
    assert "another configuration" in capsys.readouterr().err
    assert out.read_bytes() == before
    rc, _ = _run(_with(ODE, alpha="0.7") + ["--overwrite"], tmp_path)
    assert rc == 0


def test_dmft_divergence_reports_time_and_last_finite_values(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "div.nc"
    argv = ["dmft", "--N", "2", "--gamma", "8", "--alpha", "0.5", "--eps", "0.05", "--A0", "0.04,-0.02",
            "--t-max", "200", "--dt", "10", "--samples", "100", "--replicas", "2", "--out", str(out)]
    proc = subprocess.run([sys.executable, "-m", "grokking_workbench.experiments.cli", *argv],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == cli.EXIT_DIVERGED
    assert proc.stderr == ""                                       # no raw floating-point warnings
    line = proc.stdout.strip()
    assert len(line.splitlines()) == 1 and "diverged" in line and "t_max" not in line
    numbers = __import__("re").findall(r"[-+]?\d[\d.]*(?:e[-+]?\d+)?", line.split(": ", 1)[1])
    assert "at t = " in line and max(len(n) for n in numbers) < 12        # plain numbers, no 240 digits
    ds = io.read_dataset(out)
    assert ds.attrs["status"].startswith("diverged") and float(ds.t[-1]) < 200
