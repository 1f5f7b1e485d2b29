"""Packaging: the workbench installs under one import namespace, ``grokking_workbench``.

The repository's folders ``theory/``, ``numerics/`` and ``experiments/`` are subpackages of the
package whose ``__init__.py`` is the repository root's (``pyproject.toml``: ``package-dir``), so
no generic top-level name is installed. The slow test builds the wheel, installs it into a fresh
virtual environment beside a distribution that installs top-level ``experiments`` and
``numerics`` modules, and runs the command from another directory; it builds with this
environment's setuptools (``dev`` extra), offline, in about 15 s.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "grokking_workbench"
FOLDERS = ("theory", "numerics", "experiments")


def _declared_packages() -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["setuptools"]["packages"]


def test_every_package_folder_is_declared_under_the_namespace():
    found = {NAMESPACE} | {
        ".".join((NAMESPACE,) + init.parent.relative_to(ROOT).parts)
        for folder in FOLDERS for init in (ROOT / folder).rglob("__init__.py")}
    assert sorted(_declared_packages()) == sorted(found)


def test_no_source_file_imports_a_bare_top_level_name():
    offenders = []
    for folder in FOLDERS + ("tests", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                words = line.split()
                if len(words) >= 2 and words[0] in ("import", "from") \
                        and words[1].split(".")[0] in FOLDERS:
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []


def _dummy_wheel(directory: Path) -> Path:
    """A wheel of a distribution that installs top-level ``experiments`` and ``numerics`` packages
    whose import fails loudly (written by hand: no build backend, no network)."""
    name, version = "generic_names", "1.0"
    files = {f"{pkg}/__init__.py": f"raise ImportError('the generic top-level {pkg} package was imported')\n"
             for pkg in ("experiments", "numerics")}
    info = f"{name}-{version}.dist-info"
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    files[f"{info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return wheel


def _source_copy(dest: Path) -> Path:
    """The tracked files of the checkout (or the whole tree without build products) in ``dest``."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if listed.returncode == 0 and listed.stdout:
        for rel in listed.stdout.decode().split("\0"):
            if rel and (ROOT / rel).is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, dest / rel)
        for rel in ("__init__.py", "tests/test_packaging.py"):  # in case they are not committed yet
            shutil.copy2(ROOT / rel, dest / rel)
    else:
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
            ".*", "build", "*.egg-info", "__pycache__", "*.nc", "*.png"), dirs_exist_ok=True)
    return dest


def test_wheel_installs_beside_generic_names_and_runs_from_another_directory(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    src = _source_copy(tmp_path / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(src)],
                   check=True, capture_output=True)
    (wheel,) = wheels.glob("grokking_workbench-*.whl")
    top = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert not top & {"theory", "numerics", "experiments"}, top
    assert NAMESPACE in top

    # a fresh environment whose dependencies (numpy, torch, ...) come from this one: the
    # current site-packages is appended as a plain path, so its .pth files (an editable install
    # of the workbench) are not processed
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    bindir = venv / "bin"
    python = bindir / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "parent-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    str(_dummy_wheel(wheels)), str(wheel)], check=True, capture_output=True)

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"

    def grokking(*args):
        return subprocess.run([bindir / "grokking", *args], cwd=work, env=env, capture_output=True,
                              text=True, timeout=600)

    out = subprocess.run([python, "-c", "import grokking_workbench.experiments.cli as m; print(m.__file__)"],
                         cwd=work, env=env, capture_output=True, text=True, check=True)
    assert Path(out.stdout.strip()).is_relative_to(site), out.stdout
    assert grokking("--help").returncode == 0
    check = grokking("derive", "--check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "installed package" in check.stdout
    derive = grokking("derive", "--out-dir", "eq")
    assert derive.returncode == 0, derive.stdout + derive.stderr
    assert (work / "eq" / "equations.md").is_file()
    assert not (site / NAMESPACE / "results").exists()
    run = grokking("run", "ntk-spectrum", "--quick", "--out-dir", "out")
    assert run.returncode == 0, run.stdout + run.stderr
    assert (work / "out" / "quick.nc").is_file() and (work / "out" / "quick.png").is_file()
