"""Hypothesis round trip: what write_dataset stores, read_dataset returns."""

import tempfile
from pathlib import Path

import numpy as np
import xarray as xr
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from grokking_workbench.numerics import io

floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 40)), elements=floats),
       st.dictionaries(st.sampled_from(["alpha", "eps", "N", "name"]),
                       st.one_of(st.floats(allow_nan=False), st.integers(), st.text(max_size=8)),
                       max_size=4))
def test_round_trip(values, config):
    ds = xr.Dataset({"v": (("seed", "t"), values, {"long_name": "value", "units": "1"})},
                    coords={"t": ("t", np.arange(values.shape[1]) * 0.5, {"long_name": "time", "units": "1"})})
    with tempfile.TemporaryDirectory() as tmp:
        path = io.write_dataset(ds, Path(tmp) / "r.nc", config, title="round trip")
        back = io.read_dataset(path)
    np.testing.assert_array_equal(back["v"].values, values)
    np.testing.assert_array_equal(back["t"].values, ds["t"].values)
    assert back["v"].attrs["long_name"] == "value"
    assert back.attrs["config_hash"] == io.config_hash(config)
