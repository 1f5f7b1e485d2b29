"""Every command that writes checks its output path before computing: a folder, a file that is not
a dataset, a path below a file, a folder that cannot be written and a dataset of another
configuration are refused with exit code 2 and one line naming the path and the reason; nothing is
written. Execution settings do not count as another configuration."""

from __future__ import annotations

import os

import pytest

from grokking_workbench.experiments import cli
from grokking_workbench.numerics import io

ODE = ["ode", "--N", "2", "--alpha", "0.5", "--eps", "0.05", "--A0", "0.04,-0.02", "--t-max", "10",
       "--records", "10"]
SIM = ["simulate", "--N", "2", "--D", "20", "--gamma", "2", "--alpha", "0.5", "--eps", "0.05",
       "--A0", "0.04,-0.02", "--seeds", "2", "--t-max", "1", "--dt", "0.1", "--records", "5"]
DMFT = ["dmft", "--N", "2", "--gamma", "inf", "--alpha", "0.5", "--eps", "0.05", "--A0", "0.04,-0.02",
        "--t-max", "2", "--dt", "0.5", "--samples", "50"]
COMMANDS = {"ode": ODE, "simulate": SIM, "dmft": DMFT}


def _unwritable_folder(tmp_path):
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o500)
        return folder
    return "/proc"          # the superuser may write anywhere but on a read-only file system


CASES = {
    "folder": (lambda tmp: tmp / "adir", lambda p: p.mkdir(), "is a folder"),
    "not a dataset": (lambda tmp: tmp / "notes.nc", lambda p: p.write_text("notes"), "not a dataset"),
    "below a file": (lambda tmp: tmp / "afile" / "x.nc", lambda p: p.parent.write_text("x"), "is not a folder"),
    "unwritable": (lambda tmp: __import__("pathlib").Path(_unwritable_folder(tmp)) / "x.nc", lambda p: None,
                   "not writable"),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_output_path_exits_2_before_computing(command, case, tmp_path, capsys, monkeypatch):
    make_path, prepare, reason = CASES[case]
    path = make_path(tmp_path)
    prepare(path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    monkeypatch.setattr(io, "write_dataset", lambda *a, **k: pytest.fail("wrote a dataset"))
    assert cli.main(COMMANDS[command] + ["--out", str(path)]) == io.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert f"error: --out: {path}" in err and reason in err, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_run_refuses_bad_out_dir(tmp_path, capsys):
    (tmp_path / "quick.nc").mkdir()
    assert cli.main(["run", "ntk-spectrum", "--quick", "--out-dir", str(tmp_path)]) == io.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "--out-dir:" in err and "is a folder" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "quick.png").exists()


def test_missing_folders_are_created(tmp_path):
    out = tmp_path / "a" / "b" / "ode.nc"
    assert cli.main(ODE + ["--out", str(out)]) == 0
    assert out.exists()


def test_other_configuration_names_the_differing_fields(tmp_path, capsys):
    out = tmp_path / "o.nc"
    assert cli.main(ODE + ["--out", str(out)]) == 0
    changed = list(ODE)
    changed[changed.index("--alpha") + 1] = "0.7"
    changed[changed.index("--eps") + 1] = "0.1"
    assert cli.main(changed + ["--out", str(out)]) == io.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "another configuration (differs in alpha, eps)" in err and len(err.strip().splitlines()) == 1


def test_execution_settings_are_not_configuration():
    base = {"alpha": 0.5, "records": 10, "threads": None, "max_iter": 50, "chunk": None, "device": "cpu"}
    other = {**base, "records": 99, "threads": 1, "max_iter": 3, "chunk": 8, "device": "cuda"}
    assert io.config_hash(base) == io.config_hash(other)
    assert io.config_differences(base, other) == []
    assert io.config_differences(base, {**base, "alpha": 1.0, "records": 3}) == ["alpha"]
    nested = {"sim": base}
    assert io.config_differences(nested, {"sim": {**base, "alpha": 2.0}}) == ["sim.alpha"]


def test_simulate_with_other_execution_settings_replaces_without_refusal(tmp_path):
    out = tmp_path / "s.nc"
    assert cli.main(SIM + ["--out", str(out)]) == 0
    assert cli.main(SIM[:-2] + ["--records", "4", "--threads", "1", "--chunk", "5", "--out", str(out)]) == 0
    assert io.read_dataset(out).sizes["t"] <= 4
