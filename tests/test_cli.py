"""The grokking command: light start-up, listing, clear errors."""

import subprocess
import sys
from pathlib import Path

from grokking_workbench.experiments import cli


def test_help_imports_nothing_heavy():
    code = ("import sys; from grokking_workbench.experiments import cli; "
            "import contextlib, io; f = io.StringIO()\n"
            "with contextlib.redirect_stdout(f):\n"
            "    try: cli.main(['--help'])\n"
            "    except SystemExit: pass\n"
            "heavy = [m for m in ('sympy', 'torch', 'matplotlib', 'xarray', 'scipy') if m in sys.modules]\n"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("[]"), out.stdout


def test_run_list_names_registered_experiments(capsys):
    assert cli.main(["run", "--list"]) == 0
    assert "ntk-spectrum" in capsys.readouterr().out


def test_unknown_experiment_exits_2(capsys):
    assert cli.main(["run", "no-such-experiment", "--quick"]) == 2
    assert "no experiment 'no-such-experiment'" in capsys.readouterr().err


def test_run_writes_dataset_figure_and_refuses_other_config(tmp_path, capsys):
    assert cli.main(["run", "ntk-spectrum", "--quick", "--out-dir", str(tmp_path)]) == 0
    assert (tmp_path / "quick.nc").exists() and (tmp_path / "quick.png").exists()
    # the full configuration into the same file name would be another configuration
    (tmp_path / "quick.nc").rename(tmp_path / "full.nc")
    assert cli.main(["run", "ntk-spectrum", "--out-dir", str(tmp_path)]) == 2
    assert "another configuration" in capsys.readouterr().err


def test_run_redraw_draws_the_figure_of_an_existing_dataset(tmp_path, capsys):
    """`grokking run NAME --redraw` writes only the figure, from the dataset already there; with
    no dataset it exits 2 naming the path, and an unknown name exits 2."""
    import hashlib
    import shutil

    shutil.copy(Path("results/gap-formula/full.nc"), tmp_path / "full.nc")
    digest = hashlib.sha256((tmp_path / "full.nc").read_bytes()).hexdigest()
    assert cli.main(["run", "gap-formula", "--redraw", "--out-dir", str(tmp_path)]) == 0
    assert (tmp_path / "full.png").stat().st_size > 0
    assert hashlib.sha256((tmp_path / "full.nc").read_bytes()).hexdigest() == digest
    assert cli.main(["run", "gap-formula", "--redraw", "--quick", "--out-dir", str(tmp_path)]) == 2
    assert "quick.nc" in capsys.readouterr().err
    assert cli.main(["run", "no-such-experiment", "--redraw"]) == 2
