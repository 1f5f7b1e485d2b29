"""The documentation: the worked example runs on the committed result, and the README links every
page of docs/."""

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _example():
    spec = importlib.util.spec_from_file_location("docs_example", ROOT / "docs" / "example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_worked_example_reproduces_the_stored_z_scores(tmp_path):
    """docs/example.py reads results/dmft-gamma/full.nc, and its theory-against-simulation
    z-scores are the ones the experiment stored; the figure is written."""
    import xarray as xr

    example = _example()
    table = example.main(tmp_path / "example.png")
    assert (tmp_path / "example.png").stat().st_size > 10_000
    with xr.open_dataset(example.RESULT) as ds:
        stored = ds.z_test.sel(t_sim=table.t_sim).values
    finite = np.isfinite(stored)
    assert finite.sum() > 100
    np.testing.assert_allclose(table.z.values[finite], stored[finite], rtol=1e-9, atol=1e-12)
    assert float(np.nanmax(np.abs(table.z))) < 4


def test_readme_links_every_page_of_docs():
    readme = (ROOT / "README.md").read_text()
    pages = sorted(p.name for p in (ROOT / "docs").iterdir() if p.suffix in (".md", ".py"))
    assert pages
    for name in pages:
        assert f"docs/{name}" in readme, f"README.md does not link docs/{name}"
