"""Code generation: the committed files are fresh, the header is complete, staleness is detected."""

import dataclasses
import subprocess
import sys

import sympy as sp

from grokking_workbench.theory import codegen, committee


def test_committed_generated_files_are_up_to_date():
    assert codegen.check() == [], "run `grokking derive` and commit the result"


def test_header_names_generator_sympy_version_and_input_hash():
    text = (codegen.ROOT / codegen.GENERATED / "committee.py").read_text()
    head = text[:400]
    assert "do not edit" in head
    assert "theory.codegen" in head
    assert f"SymPy {sp.__version__}" in head
    assert f"input hash {codegen.input_hash()}" in head


def _copy_derived_files(root, checkout: bool):
    for rel in codegen.outputs():
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text((codegen.ROOT / rel).read_text())
    if checkout:
        (root / "pyproject.toml").write_text((codegen.ROOT / "pyproject.toml").read_text())


def test_staleness_check_detects_a_changed_derivation(monkeypatch, tmp_path):
    # a copy of the committed files in a fresh checkout is up to date ...
    _copy_derived_files(tmp_path, checkout=True)
    assert codegen.check(tmp_path) == []
    # ... until a derivation changes
    original = committee.mean_error()
    changed = dataclasses.replace(original, expr=original.expr + committee.alpha)
    monkeypatch.setattr(committee, "mean_error", lambda: changed)
    stale = {p.relative_to(tmp_path) for p in codegen.check(tmp_path)}
    assert codegen.GENERATED / "committee.py" in stale
    assert codegen.REPORT in stale


def test_installed_package_checks_generated_modules_and_writes_the_report_elsewhere(tmp_path):
    """An installed package (no pyproject.toml beside theory/) has no results/: --check compares
    only the generated modules, and derive writes equations.md into the given folder, nothing
    into the package."""
    package, out = tmp_path / "site-packages" / "grokking_workbench", tmp_path / "out"
    _copy_derived_files(package, checkout=False)
    (package / codegen.REPORT).unlink()
    assert not codegen.source_checkout(package)
    assert codegen.check(package) == []
    generated = package / codegen.GENERATED / "committee.py"
    generated.write_text(generated.read_text() + "# edited\n")
    assert codegen.check(package) == [generated]
    before = sorted(p for p in package.rglob("*"))
    assert codegen.write(package, report_dir=out) == [out / codegen.REPORT.name]
    assert sorted(p for p in package.rglob("*")) == before
    assert generated.read_text().endswith("# edited\n")


def test_report_lists_the_known_misprints():
    text = (codegen.ROOT / codegen.REPORT).read_text()
    section = text.split("## Differences from the printed papers")[1]
    for paper, eq in [("Kumar et al. 2024", "eq. (16)"), ("Kumar et al. 2024", "eq. (17)"),
                      ("Kumar et al. 2024", "eq. (20)"), ("Kumar et al. 2024", "Sec. 5 (main text)"),
                      ("DMFT paper", "eq. (14)"), ("DMFT paper", "(15)")]:
        assert any(paper in line and eq in line for line in section.splitlines()), (paper, eq)


def test_derive_check_command_exit_code():
    out = subprocess.run([sys.executable, "-m", "grokking_workbench.experiments.cli", "derive", "--check"],
                         cwd=codegen.ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
