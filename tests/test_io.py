"""Results I/O: provenance, schema, atomic writes, refusal to overwrite another configuration."""

import json
from dataclasses import dataclass

import numpy as np
import pytest
import xarray as xr

from grokking_workbench.numerics import io


@dataclass(frozen=True)
class Cfg:
    alpha: float = 0.5
    seeds: int = 3
    gamma: float = float("inf")


def dataset():
    return xr.Dataset({"test_loss": (("t",), np.linspace(1, 0, 5), {"long_name": "test loss", "units": "1"})},
                      coords={"t": ("t", np.arange(5.0), {"long_name": "time", "units": "1"})})


def test_provenance_attributes(tmp_path):
    path = io.write_dataset(dataset(), tmp_path / "a.nc", Cfg(), title="demo", command="grokking demo")
    ds = io.read_dataset(path)
    for key in ("title", "Conventions", "source", "history", "created", "config", "config_hash",
                "versions", "status"):
        assert key in ds.attrs
    assert ds.attrs["history"] == "grokking demo"
    assert io.read_config(ds) == {"alpha": 0.5, "seeds": 3, "gamma": "inf"}
    assert "numpy" in json.loads(ds.attrs["versions"])
    assert ds.attrs["status"] == "complete"


def test_written_file_has_normal_permissions(tmp_path):
    import os
    import stat

    path = io.write_dataset(dataset(), tmp_path / "p.nc", Cfg(), title="demo")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_refuses_other_configuration_unless_asked(tmp_path):
    path = tmp_path / "a.nc"
    io.write_dataset(dataset(), path, Cfg(), title="demo")
    io.write_dataset(dataset() * 2, path, Cfg(), title="demo")          # same configuration: fine
    with pytest.raises(io.ConfigMismatchError, match="another configuration"):
        io.write_dataset(dataset(), path, Cfg(alpha=1.0), title="demo")
    assert io.read_config(io.read_dataset(path))["alpha"] == 0.5       # untouched
    io.write_dataset(dataset(), path, Cfg(alpha=1.0), title="demo", overwrite=True)
    assert io.read_config(io.read_dataset(path))["alpha"] == 1.0


def test_schema_is_enforced_and_nothing_written(tmp_path):
    bad = dataset()
    del bad["test_loss"].attrs["units"]
    with pytest.raises(io.SchemaError, match="test_loss: units"):
        io.write_dataset(bad, tmp_path / "b.nc", Cfg(), title="demo")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(RuntimeError):
        io.write_dataset(dataset(), tmp_path / "c.nc", Cfg(), title="demo")
    assert list(tmp_path.iterdir()) == []
